//! Crash safety: an apply killed with SIGKILL at a random point leaves a state that opens, and
//! every object the (file-backed) fake cloud holds is known to it — recorded on its resource or
//! named by an open journal entry. The next apply, with no manual step (it takes over the dead
//! run's lock), repairs everything: afterwards the cloud holds exactly the objects state records,
//! and the journal is empty.

use meshctl_state::{SledStore, StateStore};
use meshctl_testkit::FakeCloud;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

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

fn check_accounted(dir: &Path, trial: usize) {
    let store = SledStore::open(&dir.join("state/t"), "t")
        .unwrap_or_else(|e| panic!("trial {trial}: state does not open after SIGKILL: {e}"));
    let records = store.records().unwrap();
    let journal = store.journal().unwrap();
    let cloud = FakeCloud::persistent(&dir.join("cloud.json")).expect("the cloud file is whole");
    for object in cloud.objects() {
        let recorded = records.iter().any(|r| {
            r.address.to_string() == object.address && r.objects.iter().any(|o| o.id == object.id)
        });
        let intended = journal
            .iter()
            .any(|j| j.address.to_string() == object.address);
        assert!(
            recorded || intended,
            "trial {trial}: {} ({}) of {} is unknown to state",
            object.id,
            object.kind,
            object.address
        );
    }
}

fn check_converged(dir: &Path, trial: usize) {
    let store = SledStore::open(&dir.join("state/t"), "t").unwrap();
    let recorded: BTreeSet<String> = store
        .records()
        .unwrap()
        .iter()
        .flat_map(|r| r.objects.iter().map(|o| o.id.clone()))
        .collect();
    let held: BTreeSet<String> = FakeCloud::persistent(&dir.join("cloud.json"))
        .unwrap()
        .objects()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        held, recorded,
        "trial {trial}: after repair the cloud and state disagree"
    );
    assert!(
        store.journal().unwrap().is_empty(),
        "trial {trial}: journal entries left open"
    );
    assert_eq!(store.records().unwrap().len(), 18);
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
    check_converged(baseline.path(), 0);

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

        check_accounted(dir.path(), trial);
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
        check_converged(dir.path(), trial);
    }
    assert!(
        killed_mid_way >= TRIALS / 2,
        "only {killed_mid_way} of {TRIALS} kills landed during an apply (full apply took {full:?})"
    );
}
