//! The state lock: a file created exclusively in the state directory, naming its holder. A second
//! meshctl fails fast with the holder's name, or waits with `--lock-timeout`; `force-unlock ID`
//! breaks a lock whose process is gone.

use crate::{now_rfc3339, StateError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOCK_FILE: &str = "meshctl.lock";

/// Locks this process holds (file, id): what a signal handler releases before exiting.
static HELD: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(PathBuf, String)>> {
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

/// Releases every lock this process holds. For a signal handler about to end the process, where
/// destructors do not run; a lock is removed only while it is still this process's.
pub fn release_held_locks() -> usize {
    let mut released = 0;
    for (file, id) in held().drain(..) {
        if read_lock(&file).is_some_and(|lock| lock.id == id) && std::fs::remove_file(&file).is_ok()
        {
            released += 1;
        }
    }
    released
}
const POLL: Duration = Duration::from_millis(200);

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
}

impl LockInfo {
    fn describe(&self, path: &Path) -> String {
        let gone = if self.host == hostname() && !process_alive(self.pid) {
            " — that process is no longer running"
        } else {
            ""
        };
        format!(
            "state {} is locked by {}@{} (pid {}{gone}) running `{}` since {}, lock ID {}.\n  Wait for it with --lock-timeout DURATION; if that process is gone, run `meshctl force-unlock {}`",
            path.display(),
            self.holder,
            self.host,
            self.pid,
            self.operation,
            self.since,
            self.id,
            self.id
        )
    }
}

/// Held while a command uses the state; released on drop.
#[derive(Debug)]
pub struct StateLock {
    file: PathBuf,
    pub info: LockInfo,
}

impl StateLock {
    /// Takes the lock of `dir`, waiting up to `timeout` for another holder to release it.
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
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            holder: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            host: hostname(),
            pid: std::process::id(),
            operation: operation.to_string(),
            since: now_rfc3339(),
        };
        let body =
            serde_json::to_vec_pretty(&info).map_err(|e| StateError::Invalid(e.to_string()))?;
        let deadline = Instant::now() + timeout;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
            {
                Ok(mut f) => {
                    f.write_all(&body)
                        .and_then(|_| f.sync_all())
                        .map_err(|source| StateError::Io {
                            path: file.display().to_string(),
                            source,
                        })?;
                    held().push((file.clone(), info.id.clone()));
                    return Ok(StateLock { file, info });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() >= deadline {
                        let holder = read_lock(&file);
                        return Err(StateError::Locked(match holder {
                            Some(h) => h.describe(dir),
                            None => format!("state {} is locked (lock file {} is unreadable); if no meshctl is running on it, delete that file", dir.display(), file.display()),
                        }));
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

impl Drop for StateLock {
    fn drop(&mut self) {
        held().retain(|(_, id)| id != &self.info.id);
        // Remove the file only if it is still ours (force-unlock may have broken it meanwhile).
        if read_lock(&self.file).is_some_and(|held| held.id == self.info.id) {
            let _ = std::fs::remove_file(&self.file);
        }
    }
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

fn process_alive(pid: u32) -> bool {
    // Where /proc is absent we cannot tell, and assume it runs.
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
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
}
