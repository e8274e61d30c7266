//! The state lock: a file in the state directory, created whole and exclusively, naming its
//! holder. A second meshctl fails fast with the holder's name, or waits with `--lock-timeout`. A
//! lock whose holder is provably gone (same host, and its pid no longer runs or now belongs to a
//! process started later) is taken over, and the taker is told so; `force-unlock ID` breaks any
//! other lock a person knows to be dead.

use crate::{now_rfc3339, StateError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const LOCK_FILE: &str = "meshctl.lock";
/// Held for the few microseconds of a takeover, so two takers cannot both remove a dead lock and
/// one of them the other's fresh lock.
const TAKEOVER_FILE: &str = "meshctl.lock.takeover";
/// A takeover guard older than this was left by a taker that died mid-takeover.
const TAKEOVER_STALE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(200);

/// Releases one held lock if it is still its holder's; returns whether it did.
pub type Release = Box<dyn FnOnce() -> bool + Send>;

/// Locks this process holds (lock ID, how to release it): what a signal handler releases before
/// exiting. Every backend's lock registers here.
static HELD: std::sync::Mutex<Vec<(String, Release)>> = std::sync::Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(String, Release)>> {
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers a lock this process now holds, for `release_held_locks`.
pub fn register_held_lock(id: &str, release: Release) {
    held().push((id.to_string(), release));
}

/// Forgets a lock released (or dropped) the ordinary way.
pub fn forget_held_lock(id: &str) {
    held().retain(|(held, _)| held != id);
}

/// Releases every lock this process holds. For a signal handler about to end the process, where
/// destructors do not run; a lock is removed only while it is still this process's.
pub fn release_held_locks() -> usize {
    let releases: Vec<(String, Release)> = held().drain(..).collect();
    releases
        .into_iter()
        .map(|(_, release)| release())
        .filter(|released| *released)
        .count()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub holder: String,
    pub host: String,
    pub pid: u32,
    /// `plan`, `apply`, `state rm`, …
    pub operation: String,
    /// RFC 3339.
    pub since: String,
    /// Which boot of `host` the holder ran in (Linux: /proc/sys/kernel/random/boot_id); a lock
    /// from an earlier boot is dead whatever its pid. Absent where the OS does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// When the holder process started, in clock ticks since boot (Linux: field 22 of
    /// /proc/<pid>/stat): a live pid that started later is another process that reused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<u64>,
}

impl LockInfo {
    /// A new lock ID held by this process (user, host, pid, boot, start) for `operation`.
    pub fn of_this_process(operation: &str) -> LockInfo {
        let pid = std::process::id();
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            holder: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            host: hostname(),
            pid,
            operation: operation.to_string(),
            since: now_rfc3339(),
            boot_id: boot_id(),
            process_start: process_start(pid),
        }
    }

    /// Why the holder is certainly gone, or `None` while it may still run. Only a holder on this
    /// host can be judged; elsewhere only a person can tell.
    pub fn gone_because(&self) -> Option<String> {
        if self.host != hostname() {
            return None;
        }
        if let (Some(recorded), Some(current)) = (&self.boot_id, boot_id()) {
            if *recorded != current {
                return Some("this host has rebooted since".into());
            }
        }
        if !process_running(self.pid)? {
            return Some(format!("pid {} is no longer running", self.pid));
        }
        let reused = match self.process_start {
            Some(recorded) => process_start(self.pid).is_some_and(|current| current > recorded),
            // A lock without the start (an older meshctl's): compare with when it was taken,
            // allowing for `since` being rounded to the second.
            None => match (
                humantime::parse_rfc3339_weak(&self.since).ok(),
                process_started_at(self.pid),
            ) {
                (Some(since), Some(started)) => started > since + Duration::from_secs(1),
                _ => false,
            },
        };
        reused.then(|| {
            format!(
                "pid {} now belongs to a process started after the lock was taken",
                self.pid
            )
        })
    }

    /// `user@host (pid N, `operation` since T, lock ID X)`.
    pub fn describe(&self) -> String {
        format!(
            "{}@{} (pid {}, `{}` since {}, lock ID {})",
            self.holder, self.host, self.pid, self.operation, self.since, self.id
        )
    }
}

/// The state lock was held by a process that may still be running.
#[derive(Debug)]
pub struct LockedState {
    /// Where the state is: its directory, or `s3://bucket/key`.
    pub location: String,
    /// The lock itself: the lock file, or the lock object's `s3://` URL.
    pub lock_object: String,
    /// `None` when the lock could not be read.
    pub holder: Option<LockInfo>,
    /// The arguments that name this state on a command line when the caller knows no better
    /// (`--state DIR`).
    pub target: String,
}

impl LockedState {
    /// The message, with `target` the arguments that name this state on a command line
    /// (`-f stack.yaml`, `--state DIR`), so that the printed command works as it is.
    pub fn message(&self, target: &str) -> String {
        match &self.holder {
            Some(h) => {
                let where_ = if h.host == hostname() {
                    "it is still running on this host".to_string()
                } else {
                    format!("it runs on host {}, which meshctl cannot check from here", h.host)
                };
                format!(
                    "the state in {} is locked by {}@{} (pid {}) running `{}` since {}, lock ID {}; {where_}.\n  Wait for it with --lock-timeout (e.g. --lock-timeout 5m or 300); if that process is gone, run\n    meshctl force-unlock {} {target}",
                    self.location,
                    h.holder,
                    h.host,
                    h.pid,
                    h.operation,
                    h.since,
                    h.id,
                    h.id
                )
            }
            None => format!(
                "the state in {} is locked, and its lock {} is unreadable; if no meshctl is running on this state, delete it",
                self.location, self.lock_object
            ),
        }
    }
}

impl std::fmt::Display for LockedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(&self.target))
    }
}

/// Held while a command uses the state; released on drop.
#[derive(Debug)]
pub struct StateLock {
    file: PathBuf,
    pub info: LockInfo,
    /// The dead holder whose lock this one replaced, and why it counts as dead.
    pub took_over: Option<(LockInfo, String)>,
}

impl StateLock {
    /// Takes the lock of `dir`, waiting up to `timeout` for another holder to release it. The
    /// lock of a holder that is provably gone is taken over at once (see `took_over`).
    pub fn acquire(
        dir: &Path,
        operation: &str,
        timeout: Duration,
    ) -> Result<StateLock, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let file = dir.join(LOCK_FILE);
        let info = LockInfo::of_this_process(operation);
        let body =
            serde_json::to_vec_pretty(&info).map_err(|e| StateError::Invalid(e.to_string()))?;
        let deadline = Instant::now() + timeout;
        let mut took_over = None;
        loop {
            match create_whole(&file, &body) {
                Ok(()) => {
                    let (held_file, held_id) = (file.clone(), info.id.clone());
                    register_held_lock(
                        &info.id,
                        Box::new(move || {
                            read_lock(&held_file).is_some_and(|lock| lock.id == held_id)
                                && std::fs::remove_file(&held_file).is_ok()
                        }),
                    );
                    return Ok(StateLock {
                        file,
                        info,
                        took_over,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = read_lock(&file);
                    if let Some(dead) = holder.as_ref() {
                        if let Some(reason) = dead.gone_because() {
                            if remove_dead_lock(dir, &dead.id)? {
                                took_over = Some((dead.clone(), reason));
                            }
                            continue;
                        }
                    }
                    if Instant::now() >= deadline {
                        return Err(StateError::Locked(Box::new(LockedState {
                            location: dir.display().to_string(),
                            lock_object: file.display().to_string(),
                            holder,
                            target: format!(
                                "--state {}",
                                crate::shell_quote(&dir.display().to_string())
                            ),
                        })));
                    }
                    std::thread::sleep(
                        POLL.min(deadline.saturating_duration_since(Instant::now())),
                    );
                }
                Err(source) => {
                    return Err(StateError::Io {
                        path: file.display().to_string(),
                        source,
                    })
                }
            }
        }
    }
}

impl crate::HeldLock for StateLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn took_over(&self) -> Option<&(LockInfo, String)> {
        self.took_over.as_ref()
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        forget_held_lock(&self.info.id);
        // Remove the file only if it is still ours (force-unlock may have broken it meanwhile).
        if read_lock(&self.file).is_some_and(|held| held.id == self.info.id) {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

/// Creates `file` with `body` only if it does not exist, so that no reader ever sees it empty or
/// half written (a holder killed mid-write would leave a lock nobody can judge): written to a
/// private file first, then hard-linked into place, which fails if the name exists.
fn create_whole(file: &Path, body: &[u8]) -> std::io::Result<()> {
    let private = file.with_extension(format!("lock.{}", uuid::Uuid::new_v4()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&private)?;
        f.write_all(body)?;
        f.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&private, file));
    let _ = std::fs::remove_file(&private);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            // A file system without hard links: exclusive create, then write.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(file)?;
            f.write_all(body)?;
            f.sync_all()
        }
        other => other,
    }
}

/// Removes the lock of `dir` if it still has ID `dead_id`, under the takeover guard. Returns
/// whether this call removed it (another taker may have been first).
fn remove_dead_lock(dir: &Path, dead_id: &str) -> Result<bool, StateError> {
    let guard = dir.join(TAKEOVER_FILE);
    let io = |source| StateError::Io {
        path: guard.display().to_string(),
        source,
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&guard)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let abandoned = std::fs::metadata(&guard)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| SystemTime::now().duration_since(at).ok())
                .is_some_and(|age| age > TAKEOVER_STALE);
            if abandoned {
                let _ = std::fs::remove_file(&guard);
            } else {
                std::thread::sleep(Duration::from_millis(10));
            }
            return Ok(false);
        }
        Err(e) => return Err(io(e)),
    }
    let file = dir.join(LOCK_FILE);
    let removed = match read_lock(&file) {
        Some(lock) if lock.id == dead_id => std::fs::remove_file(&file).map(|()| true),
        _ => Ok(false),
    };
    let _ = std::fs::remove_file(&guard);
    removed.map_err(io)
}

fn read_lock(file: &Path) -> Option<LockInfo> {
    serde_json::from_slice(&std::fs::read(file).ok()?).ok()
}

/// Breaks the lock of `dir` if its ID is `id`; returns the holder it broke.
pub fn force_unlock(dir: &Path, id: &str) -> Result<LockInfo, StateError> {
    let file = dir.join(LOCK_FILE);
    let path = dir.display().to_string();
    match read_lock(&file) {
        Some(held) if held.id == id => {
            std::fs::remove_file(&file).map_err(|source| StateError::Io { path, source })?;
            Ok(held)
        }
        Some(held) => Err(StateError::NoSuchLock {
            path,
            id: id.to_string(),
            current: format!("{} held by {}@{}", held.id, held.holder, held.host),
        }),
        None => Err(StateError::NoSuchLock {
            path,
            id: id.to_string(),
            current: "not locked".to_string(),
        }),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Whether `pid` runs; `None` where this OS gives no cheap answer (then a lock is never judged
/// dead by its pid).
fn process_running(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self/stat").exists() {
        return None;
    }
    // A zombie (killed, not yet reaped by its parent) holds its pid but runs no more.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => Some(stat_fields(&stat).and_then(|f| f.first().copied()) != Some("Z")),
        Err(_) => Some(false),
    }
}

/// The fields of /proc/<pid>/stat after the command name (which may hold spaces and parens):
/// field 3 (state) first.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().collect())
}

/// Start of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), where the OS says.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat)?.get(22 - 3)?.parse().ok()
}

/// When `pid` started, from its start in ticks and the boot time (/proc/stat `btime`). Ticks are
/// USER_HZ, 100 on every Linux architecture still in use (the ABI fixes it; only Alpha and IA-64
/// differed), which spares a libc dependency for sysconf(_SC_CLK_TCK).
fn process_started_at(pid: u32) -> Option<SystemTime> {
    const TICKS_PER_SECOND: u64 = 100;
    let ticks = process_start(pid)?;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let boot: u64 = stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let since_boot = Duration::from_millis(ticks.checked_mul(1000)? / TICKS_PER_SECOND);
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(boot) + since_boot)
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_fails_fast_naming_the_first_then_waits() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap();
        let started = Instant::now();
        let err = StateLock::acquire(dir.path(), "plan", Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            err.contains(&first.info.id) && err.contains("running `apply`"),
            "{err}"
        );
        let id = first.info.id.clone();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let second = StateLock::acquire(dir.path(), "plan", Duration::from_secs(10)).unwrap();
        releaser.join().unwrap();
        assert_ne!(second.info.id, id);
        assert!(second.took_over.is_none());
    }

    #[test]
    fn force_unlock_needs_the_right_id() {
        let dir = tempfile::tempdir().unwrap();
        let held = StateLock::acquire(dir.path(), "apply", Duration::ZERO).unwrap();
        assert!(force_unlock(dir.path(), "wrong").is_err());
        assert_eq!(
            force_unlock(dir.path(), &held.info.id).unwrap().id,
            held.info.id
        );
        let again = StateLock::acquire(dir.path(), "plan", Duration::ZERO).unwrap();
        drop(held); // must not remove the new holder's lock
        assert!(StateLock::acquire(dir.path(), "plan", Duration::ZERO).is_err());
        drop(again);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_lock_is_judged_by_host_boot_pid_and_start_time() {
        let me = LockInfo::of_this_process("apply");
        assert!(me.process_start.is_some() && me.boot_id.is_some());
        assert_eq!(me.gone_because(), None, "this process runs");
        let earlier_boot = LockInfo {
            boot_id: Some("another-boot".into()),
            ..me.clone()
        };
        assert!(earlier_boot.gone_because().unwrap().contains("rebooted"));
        let reused = LockInfo {
            process_start: me.process_start.map(|t| t - 1),
            ..me.clone()
        };
        assert!(reused.gone_because().unwrap().contains("started after"));
        // An older meshctl's lock, without the start: judged by when it was taken.
        let taken_before_start = LockInfo {
            process_start: None,
            since: "2000-01-01T00:00:00Z".into(),
            ..me.clone()
        };
        assert!(taken_before_start
            .gone_because()
            .unwrap()
            .contains("started after"));
        let taken_since = LockInfo {
            process_start: None,
            ..me.clone()
        };
        assert_eq!(taken_since.gone_because(), None);
        let elsewhere = LockInfo {
            host: "another-host".into(),
            pid: u32::MAX,
            ..me.clone()
        };
        assert_eq!(elsewhere.gone_because(), None, "never judged from here");
        let dead = LockInfo {
            pid: u32::MAX,
            ..me
        };
        assert!(dead.gone_because().unwrap().contains("no longer running"));
    }
}
