//! Crash safety: an apply killed with SIGKILL at a random point leaves a state that opens, and
//! every object the (file-backed) fake cloud holds is known to it — recorded on its resource or
//! named by an open journal entry. The next apply, with no manual step (it takes over the dead
//! run's lock), repairs everything: afterwards the cloud holds exactly the objects state records,
//! and the journal is empty. The same holds for updates that create objects (manifests given new
//! entries), killed mid-way: the next apply or destroy leaves no orphan.

mod crash_checks;

use meshctl_state::{Operation, SledStore, StateStore};
use meshctl_testkit::FakeCloud;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: usize = 20;

fn stack() -> String {
    let mut s = String::from("stack: t\nregion: us-east-1\nkube: { kubeconfig: kubeconfig.yaml }\nresources:\n  - { kind: route53_zone, name: public, domain: example.com, existing: false }\n  - { kind: acm_certificate, name: web, domain: \"*.example.com\", validation_zone: public }\n");
    for i in 0..8 {
        s.push_str(&format!(
            "  - {{ kind: namespace, name: ns-{i} }}\n  - {{ kind: dns_record, name: rec-{i}, zone: public, record: r{i}.example.com, type: TXT, values: [\"${{namespace.ns-{i}.name}}\", \"${{acm_certificate.web.arn}}\"], ttl: 300 }}\n"
        ));
    }
    s
}

fn testbed(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl-testbed"));
    command
        .args(args)
        .current_dir(dir)
        .env("MESHCTL_FAKE_CLOUD", dir.join("cloud.json"))
        .env("MESHCTL_FAKE_LATENCY_MS", "15")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

fn apply(dir: &Path) -> std::process::Output {
    testbed(
        dir,
        &[
            "apply",
            "-f",
            "stack.yaml",
            "--auto-approve",
            "--events",
            "json",
        ],
    )
    .output()
    .unwrap()
}

/// Returns the open store: sled releases its file lock from a background thread after the last
/// handle is dropped, so opening the database again at once can fail.
fn check_accounted(dir: &Path, trial: usize) -> SledStore {
    let store = SledStore::open(&dir.join("state/t"), "t")
        .unwrap_or_else(|e| panic!("trial {trial}: state does not open after SIGKILL: {e}"));
    crash_checks::check_accounted(
        &dir.join("cloud.json"),
        &store.records().unwrap(),
        &store.journal().unwrap(),
        trial,
    );
    store
}

fn check_converged(dir: &Path, trial: usize, resources: usize) {
    let store = SledStore::open(&dir.join("state/t"), "t").unwrap();
    crash_checks::check_converged(
        &dir.join("cloud.json"),
        &store.records().unwrap(),
        &store.journal().unwrap(),
        trial,
        resources,
    );
}

#[test]
fn applies_killed_at_random_points_never_orphan_objects() {
    // One undisturbed apply, to know how long a whole apply takes here.
    let baseline = tempfile::tempdir().unwrap();
    std::fs::write(baseline.path().join("stack.yaml"), stack()).unwrap();
    let started = Instant::now();
    let out = apply(baseline.path());
    let full = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_converged(baseline.path(), 0, 18);

    let mut killed_mid_way = 0;
    for trial in 1..=TRIALS {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack.yaml"), stack()).unwrap();
        let mut child = testbed(
            dir.path(),
            &[
                "apply",
                "-f",
                "stack.yaml",
                "--auto-approve",
                "--events",
                "json",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        // Anywhere from process start (loading, locking) to the end of the walk.
        let delay = full.mul_f64(fastrand::f64() * 1.1);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            killed_mid_way += 1;
        }
        child.kill().ok(); // SIGKILL on Unix
        child.wait().unwrap();

        drop(check_accounted(dir.path(), trial));
        // No person breaks the lock the killed run left: the next run takes it over.
        let left_locked = dir.path().join("state/t/meshctl.lock").exists();
        let out = apply(dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "trial {trial}: the repairing apply failed:\n{stderr}"
        );
        assert_eq!(
            stderr.contains("warning: took over the lock"),
            left_locked,
            "trial {trial}: {stderr}"
        );
        check_converged(dir.path(), trial, 18);
    }
    assert!(
        killed_mid_way >= TRIALS / 2,
        "only {killed_mid_way} of {TRIALS} kills landed during an apply (full apply took {full:?})"
    );
}

/// Namespaces, each with a manifest of `entries` ConfigMaps: applied after a version with fewer
/// entries, each manifest's update creates objects.
fn manifest_stack(entries: usize) -> String {
    let mut s = String::from(
        "stack: t\nregion: us-east-1\nkube: { kubeconfig: kubeconfig.yaml }\nresources:\n",
    );
    for i in 0..MANIFESTS {
        let objects: Vec<String> = (0..entries)
            .map(|j| {
                format!("{{ apiVersion: v1, kind: ConfigMap, metadata: {{ name: c{j}, namespace: ns-{i} }}, data: {{ n: \"{j}\" }} }}")
            })
            .collect();
        s.push_str(&format!(
            "  - {{ kind: namespace, name: ns-{i} }}\n  - {{ kind: manifest, name: settings-{i}, objects: [{}] }}\n",
            objects.join(", ")
        ));
    }
    s
}

const MANIFESTS: usize = 6;
/// Entries of each manifest before and after the update: the update makes four objects each.
const ENTRIES_BEFORE: usize = 1;
const ENTRIES_AFTER: usize = 5;
/// The fake cloud's latency of a whole update call, which the objects it makes share.
const UPDATE_LATENCY_MS: u64 = 100;

fn run(dir: &Path, args: &[&str]) {
    let out = testbed(dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "meshctl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the apply of the stack file and kills it `delay` after its first update started (without
/// a delay, or if no update starts, lets it end). Returns whether an update started.
fn apply_killed_after_first_update(dir: &Path, delay: Option<Duration>) -> bool {
    let mut child = testbed(
        dir,
        &[
            "apply",
            "-f",
            "stack.yaml",
            "--auto-approve",
            "--events",
            "json",
        ],
    )
    // Slower calls than the other trials: a wider window between the objects an update makes.
    .env("MESHCTL_FAKE_LATENCY_MS", UPDATE_LATENCY_MS.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut started = false;
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let action = event["action"].as_str().unwrap_or_default();
        if event["event"] == "started" && action.starts_with("update") {
            started = true;
            break;
        }
    }
    match delay {
        Some(delay) if started => {
            std::thread::sleep(delay);
            child.kill().ok(); // SIGKILL on Unix
        }
        _ => lines.for_each(drop),
    }
    child.wait().unwrap();
    started
}

/// Every manifest holds its main object and one object per entry, all recorded.
fn check_manifests(dir: &Path, trial: usize, entries: usize) {
    let cloud = FakeCloud::persistent(&dir.join("cloud.json")).unwrap();
    for i in 0..MANIFESTS {
        let address = format!("manifest.settings-{i}");
        let held = cloud
            .objects()
            .iter()
            .filter(|o| o.address == address)
            .count();
        assert_eq!(held, entries + 1, "trial {trial}: objects of {address}");
    }
}

fn check_empty(dir: &Path, trial: usize) {
    let held: Vec<String> = FakeCloud::persistent(&dir.join("cloud.json"))
        .unwrap()
        .objects()
        .into_iter()
        .map(|o| format!("{} ({}) of {}", o.id, o.kind, o.address))
        .collect();
    assert!(
        held.is_empty(),
        "trial {trial}: destroy left objects behind: {held:?}"
    );
    let store = SledStore::open(&dir.join("state/t"), "t").unwrap();
    assert!(store.records().unwrap().is_empty(), "trial {trial}");
    assert!(store.journal().unwrap().is_empty(), "trial {trial}");
}

#[test]
fn updates_that_create_objects_killed_at_random_points_never_orphan_objects() {
    let destroy = ["destroy", "-f", "stack.yaml", "--auto-approve"];
    let apply = ["apply", "-f", "stack.yaml", "--auto-approve"];
    // One undisturbed update first: the trials' check that it converges.
    let baseline = tempfile::tempdir().unwrap();
    std::fs::write(
        baseline.path().join("stack.yaml"),
        manifest_stack(ENTRIES_BEFORE),
    )
    .unwrap();
    run(baseline.path(), &apply);
    std::fs::write(
        baseline.path().join("stack.yaml"),
        manifest_stack(ENTRIES_AFTER),
    )
    .unwrap();
    assert!(
        apply_killed_after_first_update(baseline.path(), None),
        "the second apply updates the manifests"
    );
    check_converged(baseline.path(), 0, 2 * MANIFESTS);
    check_manifests(baseline.path(), 0, ENTRIES_AFTER);
    // The updates run at once (fewer than the parallelism), each taking about the latency.
    let updating = Duration::from_millis(UPDATE_LATENCY_MS);

    let mut killed_with_objects_made = 0;
    for trial in 1..=TRIALS {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("stack.yaml"),
            manifest_stack(ENTRIES_BEFORE),
        )
        .unwrap();
        run(dir.path(), &apply);
        std::fs::write(dir.path().join("stack.yaml"), manifest_stack(ENTRIES_AFTER)).unwrap();
        // Mostly while the updates make their objects, some before and after.
        let delay = updating.mul_f64(0.2 + fastrand::f64());
        apply_killed_after_first_update(dir.path(), Some(delay));

        let store = check_accounted(dir.path(), trial);
        if store
            .journal()
            .unwrap()
            .iter()
            .any(|j| j.operation == Operation::Update && !j.objects.is_empty())
        {
            killed_with_objects_made += 1;
        }
        drop(store);
        if trial % 2 == 1 {
            // Repaired by the next apply, then destroyed.
            run(dir.path(), &apply);
            check_converged(dir.path(), trial, 2 * MANIFESTS);
            check_manifests(dir.path(), trial, ENTRIES_AFTER);
        }
        // Destroy removes everything, whether an apply repaired the state first or not.
        run(dir.path(), &destroy);
        check_empty(dir.path(), trial);
    }
    assert!(
        killed_with_objects_made >= TRIALS / 4,
        "only {killed_with_objects_made} of {TRIALS} kills landed after an update made an object \
         and before it finished (an update takes about {updating:?})"
    );
}
