//! Recovery without a person, through the meshctl binary: the lock of a killed meshctl is taken
//! over with a warning while a live holder's (or another host's) is refused with a command that
//! works as printed; `state list|show` read while another meshctl holds the state; a damaged
//! database makes every command stop with the backup's path and the restore command, and that
//! command brings the state back.

use meshctl_state::{Change, JournalEntry, Operation, SledStore, StateLock, StateStore};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const STACK: &str = "stack: demo
region: us-east-1
resources:
  - kind: route53_zone
    name: public
    domain: example.com
    existing: false # created, never looked up: only the apply below talks to AWS
  - kind: dns_record
    name: www
    zone: public
    record: www.example.com
    type: CNAME
    values: [origin.example.net]
    ttl: 60
";

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        // Nothing here may reach a real AWS: a port where nothing listens refuses at once.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .stdin(Stdio::null());
    command
}

fn meshctl(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), STACK).unwrap();
    dir
}

fn state_dir(dir: &Path) -> PathBuf {
    dir.join("state/demo")
}

fn record(address: &str) -> meshctl_model::record::NodeRecord {
    serde_json::from_value(serde_json::json!({
        "address": address, "status": "ok", "desired": {"zone": "public"},
        "objects": [{"kind": "route53_record", "id": format!("Z1/{address}")}]
    }))
    .unwrap()
}

fn address(text: &str) -> meshctl_model::Address {
    meshctl_model::Address::parse(text).unwrap()
}

/// A state at serial 1 with two records, as an apply leaves it.
fn seed(dir: &Path) {
    let store = SledStore::open(&state_dir(dir), "demo").unwrap();
    store
        .commit(Change {
            put: vec![record("dns_record.www"), record("dns_record.api")],
            ..Change::default()
        })
        .unwrap();
    store
        .finish(
            "apply",
            &[address("dns_record.www"), address("dns_record.api")],
        )
        .unwrap();
}

/// The command a lock or damage message tells a person to run, as arguments.
fn printed_command(stderr: &str, verb: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("meshctl {verb}")))
        .unwrap_or_else(|| panic!("no `meshctl {verb}` line in:\n{stderr}"));
    let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    assert!(
        args.iter().all(|a| !a.contains('\'')),
        "quoting needs a shell: {line}"
    );
    args[1..].to_vec()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown-host".into()))
}

/// Field 22 of /proc/<pid>/stat: when the process started, in ticks since boot.
#[cfg(target_os = "linux")]
fn start_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit_once(')').unwrap().1;
    after_name
        .split_whitespace()
        .nth(22 - 3)
        .unwrap()
        .parse()
        .unwrap()
}

/// Writes the lock file the way meshctl does, for a holder with `pid`.
fn write_lock(dir: &Path, id: &str, host: &str, pid: u32, process_start: Option<u64>) {
    let mut lock = serde_json::json!({
        "id": id, "holder": "ci", "host": host, "pid": pid, "operation": "apply",
        "since": "2026-01-01T00:00:00Z",
    });
    if let Some(start) = process_start {
        lock["process_start"] = start.into();
        lock["boot_id"] = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .unwrap()
            .trim()
            .into();
    }
    std::fs::create_dir_all(state_dir(dir)).unwrap();
    std::fs::write(
        state_dir(dir).join("meshctl.lock"),
        serde_json::to_vec_pretty(&lock).unwrap(),
    )
    .unwrap();
}

/// An endpoint that accepts connections and never answers: a meshctl applying through it holds
/// the state lock until it is killed.
fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

fn wait_for_lock(dir: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !state_dir(dir).join("meshctl.lock").exists() {
        assert!(child.try_wait().unwrap().is_none(), "meshctl ended early");
        assert!(Instant::now() < deadline, "meshctl never took the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Well inside the apply, past opening the database.
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn the_lock_of_a_meshctl_killed_with_sigkill_is_taken_over_with_a_warning() {
    let dir = setup();
    // Its first create waits on an endpoint that never answers.
    let mut held = command(dir.path(), &["apply", "-f", "stack.yaml", "--auto-approve"])
        .env("AWS_ENDPOINT_URL", black_hole())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_lock(dir.path(), &mut held);
    let pid = held.id();
    assert!(held.try_wait().unwrap().is_none(), "the apply ended early");
    held.kill().unwrap(); // SIGKILL
    held.wait().unwrap();
    assert!(state_dir(dir.path()).join("meshctl.lock").exists());

    let next = meshctl(dir.path(), &["plan", "-f", "stack.yaml", "--refresh=false"]);
    let stderr = text(&next.stderr);
    assert_eq!(next.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.starts_with("warning: took over the lock of the state in state/demo from")
            && stderr.contains(&format!("(pid {pid}, `apply` since"))
            && stderr.contains(&format!("pid {pid} is no longer running")),
        "{stderr}"
    );
    assert!(
        text(&next.stdout).starts_with("Plan: "),
        "{}",
        text(&next.stdout)
    );
    assert!(!state_dir(dir.path()).join("meshctl.lock").exists());
}

#[test]
fn a_live_holder_is_refused_with_a_command_that_works_as_printed() {
    let dir = setup();
    seed(dir.path());
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = sleeper.id();
    #[cfg(target_os = "linux")]
    let started = Some(start_ticks(pid));
    #[cfg(not(target_os = "linux"))]
    let started = None;
    write_lock(dir.path(), "live-holder", &hostname(), pid, started);

    let refused = meshctl(
        dir.path(),
        &[
            "state",
            "rm",
            "-f",
            "stack.yaml",
            "dns_record.api",
            "--lock-timeout",
            "1",
        ],
    );
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the state in state/demo is locked by ci@{} (pid {pid}) running `apply`",
            hostname()
        )) && stderr.contains("it is still running on this host"),
        "{stderr}"
    );
    assert!(!stderr.contains("state state"), "{stderr}");
    let unlock = printed_command(&stderr, "force-unlock");
    assert_eq!(unlock, ["force-unlock", "live-holder", "-f", "stack.yaml"]);
    let unlocked = meshctl(
        dir.path(),
        &unlock.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(unlocked.status.success(), "{}", text(&unlocked.stderr));

    // With --state, the printed command names the state the same way.
    write_lock(dir.path(), "live-holder", &hostname(), pid, started);
    let refused = meshctl(
        dir.path(),
        &[
            "state",
            "rm",
            "-f",
            "stack.yaml",
            "--state",
            "state/demo",
            "dns_record.api",
        ],
    );
    let unlock = printed_command(&text(&refused.stderr), "force-unlock");
    assert_eq!(
        unlock,
        [
            "force-unlock",
            "live-holder",
            "-f",
            "stack.yaml",
            "--state",
            "state/demo"
        ]
    );
    assert!(meshctl(
        dir.path(),
        &unlock.iter().map(String::as_str).collect::<Vec<_>>()
    )
    .status
    .success());

    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn a_pid_reused_by_a_later_process_frees_the_lock_and_another_hosts_lock_never_does() {
    let dir = setup();
    seed(dir.path());
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = sleeper.id();
    let started = start_ticks(pid);

    // The recorded holder started before the process that has its pid now: another process.
    write_lock(
        dir.path(),
        "reused-pid",
        &hostname(),
        pid,
        Some(started - 1),
    );
    let taken = meshctl(
        dir.path(),
        &["state", "rm", "-f", "stack.yaml", "dns_record.api"],
    );
    let stderr = text(&taken.stderr);
    assert_eq!(taken.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "pid {pid} now belongs to a process started after the lock was taken"
        )),
        "{stderr}"
    );

    // A holder that started later than (or with) the live process is that process: refused.
    write_lock(
        dir.path(),
        "same-process",
        &hostname(),
        pid,
        Some(started + 1),
    );
    let refused = meshctl(
        dir.path(),
        &["state", "rm", "-f", "stack.yaml", "dns_record.www"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    std::fs::remove_file(state_dir(dir.path()).join("meshctl.lock")).unwrap();

    // Another host's lock, even with a pid that runs nowhere here, is left to a person.
    write_lock(dir.path(), "elsewhere", "build-host-7", u32::MAX, None);
    let refused = meshctl(
        dir.path(),
        &["state", "rm", "-f", "stack.yaml", "dns_record.www"],
    );
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("it runs on host build-host-7, which meshctl cannot check from here"),
        "{stderr}"
    );
    assert_eq!(
        printed_command(&stderr, "force-unlock"),
        ["force-unlock", "elsewhere", "-f", "stack.yaml"]
    );

    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn lock_timeout_takes_plain_seconds_and_units() {
    let dir = setup();
    for timeout in ["5", "5s", "1m"] {
        let planned = meshctl(
            dir.path(),
            &[
                "plan",
                "-f",
                "stack.yaml",
                "--refresh=false",
                "--lock-timeout",
                timeout,
            ],
        );
        assert!(
            planned.status.success(),
            "{timeout}: {}",
            text(&planned.stderr)
        );
    }
    let bad = meshctl(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--lock-timeout", "soon"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("give seconds (300) or a duration with its unit"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn state_list_and_show_read_while_another_meshctl_holds_the_state() {
    let dir = setup();
    seed(dir.path());
    // This process holds the lock and the database, as an apply in progress does, and has
    // committed one more record since the last finished serial.
    let lock = StateLock::acquire(&state_dir(dir.path()), "apply", Duration::ZERO).unwrap();
    let store = SledStore::open(&state_dir(dir.path()), "demo").unwrap();
    store
        .commit(Change {
            put: vec![record("dns_record.new")],
            ..Change::default()
        })
        .unwrap();

    let started = Instant::now();
    let listed = meshctl(dir.path(), &["state", "list", "-f", "stack.yaml"]);
    assert!(started.elapsed() < Duration::from_secs(5), "must not wait");
    let stderr = text(&listed.stderr);
    assert_eq!(listed.status.code(), Some(0), "{stderr}");
    let names: Vec<String> = text(&listed.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert_eq!(
        names,
        ["dns_record.api", "dns_record.new", "dns_record.www"]
    );
    assert!(
        stderr.contains(&format!("is locked by {}", lock.info.describe()))
            && stderr.contains("serial 1 and the 1 change(s) committed since"),
        "{stderr}"
    );

    let shown = meshctl(
        dir.path(),
        &["state", "show", "-f", "stack.yaml", "dns_record.new"],
    );
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    let record: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(record["address"], "dns_record.new");
    let history = meshctl(dir.path(), &["state", "history", "-f", "stack.yaml"]);
    assert!(
        text(&history.stdout).contains("serial 1"),
        "{}",
        text(&history.stdout)
    );

    // Writers still wait for the lock.
    let rm = meshctl(
        dir.path(),
        &["state", "rm", "-f", "stack.yaml", "dns_record.new"],
    );
    assert_eq!(rm.status.code(), Some(1));
    drop(store);
    drop(lock);
    // Without a holder, list reads the database itself.
    let listed = meshctl(dir.path(), &["state", "list", "-f", "stack.yaml"]);
    assert!(text(&listed.stderr).is_empty(), "{}", text(&listed.stderr));
    assert_eq!(text(&listed.stdout).lines().count(), 3);
}

/// Damage kinds a disk or a careless copy inflicts on the database file.
fn damage(dir: &Path, how: &str) {
    let file = state_dir(dir).join("db/db");
    let mut bytes = std::fs::read(&file).unwrap();
    match how {
        "truncated" => bytes.truncate(1000),
        "flipped" => {
            for i in (100..bytes.len()).step_by(997) {
                bytes[i] ^= 0xff;
            }
        }
        _ => unreachable!(),
    }
    std::fs::write(&file, bytes).unwrap();
}

#[test]
fn a_damaged_database_stops_every_command_and_restore_backup_brings_the_state_back() {
    for how in ["truncated", "flipped"] {
        let dir = setup();
        seed(dir.path());
        // A later edit through the binary (serial 2) and a run that did not finish: one more
        // record and an operation in flight, committed but never finished.
        let removed = meshctl(
            dir.path(),
            &["state", "rm", "-f", "stack.yaml", "dns_record.api"],
        );
        assert!(removed.status.success(), "{}", text(&removed.stderr));
        {
            let store = SledStore::open(&state_dir(dir.path()), "demo").unwrap();
            let id = store.next_journal_id().unwrap();
            store
                .commit(Change {
                    put: vec![record("dns_record.late")],
                    open: vec![JournalEntry {
                        id,
                        address: address("route53_zone.public"),
                        operation: Operation::Create,
                        started: meshctl_state::now_rfc3339(),
                        objects: vec![],
                    }],
                    ..Change::default()
                })
                .unwrap();
        }
        damage(dir.path(), how);

        let commands: [&[&str]; 10] = [
            &["plan", "-f", "stack.yaml"],
            &["apply", "-f", "stack.yaml", "--auto-approve"],
            &["destroy", "-f", "stack.yaml", "--auto-approve"],
            &["drift", "-f", "stack.yaml"],
            &["refresh", "-f", "stack.yaml", "--auto-approve"],
            &["state", "list", "-f", "stack.yaml"],
            &["state", "show", "-f", "stack.yaml", "dns_record.www"],
            &["state", "rm", "-f", "stack.yaml", "dns_record.www"],
            &[
                "state",
                "mv",
                "-f",
                "stack.yaml",
                "dns_record.www",
                "dns_record.web",
            ],
            &["state", "history", "-f", "stack.yaml"],
        ];
        for args in commands {
            let out = meshctl(dir.path(), args);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{how} {args:?}: {stderr}");
            assert!(
                stderr.contains("the state database state/demo/db is damaged: its files fail sled's consistency checks")
                    && stderr.contains("The backup state/demo/backup.json holds serial 2 (written ")
                    && stderr.contains("and state/demo/backup.log 1 change(s) committed after it by a run that did not finish: 2 record(s) in all.")
                    && stderr.contains("It has 1 operation(s) in flight"),
                "{how} {args:?}: {stderr}"
            );
            assert!(
                !stderr.contains("panicked") && !stderr.contains("backtrace"),
                "{how} {args:?}: {stderr}"
            );
            assert_eq!(
                printed_command(&stderr, "state restore-backup"),
                ["state", "restore-backup", "-f", "stack.yaml"],
                "{how} {args:?}"
            );
        }

        let restored = meshctl(dir.path(), &["state", "restore-backup", "-f", "stack.yaml"]);
        let stdout = text(&restored.stdout);
        assert_eq!(
            restored.status.code(),
            Some(0),
            "{how}: {}",
            text(&restored.stderr)
        );
        assert!(
            stdout.contains("serial 2")
                && stdout.contains("with the 1 change(s) an unfinished run committed after it")
                && stdout.contains("1 operation(s) were in flight"),
            "{how}: {stdout}"
        );
        let kept = std::fs::read_dir(state_dir(dir.path()))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("db.damaged-"))
            .count();
        assert_eq!(kept, 1, "{how}: the damaged database is kept");

        let listed = meshctl(dir.path(), &["state", "list", "-f", "stack.yaml"]);
        assert_eq!(
            listed.status.code(),
            Some(0),
            "{how}: {}",
            text(&listed.stderr)
        );
        let names: Vec<String> = text(&listed.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        assert_eq!(names, ["dns_record.late", "dns_record.www"], "{how}");
        let history = text(&meshctl(dir.path(), &["state", "history", "-f", "stack.yaml"]).stdout);
        assert!(
            history.contains("serial 1") && history.contains("serial 2"),
            "{how}: {history}"
        );
        // The journal came back: new ids do not collide with the restored entry.
        let store = SledStore::open(&state_dir(dir.path()), "demo").unwrap();
        let open = store.journal().unwrap();
        assert_eq!(open.len(), 1, "{how}");
        assert!(store.next_journal_id().unwrap() > open[0].id, "{how}");
        drop(store);

        // A healthy database is never replaced by its backup.
        let again = meshctl(
            dir.path(),
            &["state", "restore-backup", "--state", "state/demo"],
        );
        assert_eq!(again.status.code(), Some(1));
        assert!(
            text(&again.stderr).contains("reads fine (serial 2, 2 record(s))"),
            "{}",
            text(&again.stderr)
        );
    }
}

#[test]
fn a_deleted_database_is_not_silently_replaced_by_an_empty_state() {
    let dir = setup();
    seed(dir.path());
    std::fs::remove_dir_all(state_dir(dir.path()).join("db")).unwrap();
    let planned = meshctl(dir.path(), &["plan", "-f", "stack.yaml", "--refresh=false"]);
    let stderr = text(&planned.stderr);
    assert_eq!(planned.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("its directory is missing"), "{stderr}");
    let restored = meshctl(dir.path(), &["state", "restore-backup", "-f", "stack.yaml"]);
    assert!(restored.status.success(), "{}", text(&restored.stderr));
    let listed = meshctl(dir.path(), &["state", "list", "-f", "stack.yaml"]);
    assert_eq!(text(&listed.stdout).lines().count(), 2);
}
