//! `meshctl apply`, `destroy` and saved plans end to end: the real command line (as the
//! `meshctl-testbed` binary, with the fake cloud as provider), checked against the cloud file and
//! the state database directly.

use meshctl_state::{SledStore, StateStore};
use meshctl_testkit::FakeCloud;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const STACK: &str = "stack: t
region: us-east-1
kube: { kubeconfig: kubeconfig.yaml }
resources:
  - { kind: route53_zone, name: public, domain: example.com, existing: false }
  - { kind: namespace, name: ns-0 }
  - { kind: namespace, name: ns-1 }
  - { kind: dns_record, name: rec-0, zone: public, record: r0.example.com, type: TXT, values: [\"${namespace.ns-0.name}\"], ttl: 300 }
";

fn run(dir: &Path, args: &[&str], fail: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl-testbed"))
        .args(args)
        .current_dir(dir)
        .env("MESHCTL_FAKE_CLOUD", dir.join("cloud.json"))
        .env("MESHCTL_FAKE_FAIL", fail)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), STACK).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn cloud_ids(dir: &Path) -> BTreeSet<String> {
    FakeCloud::persistent(&dir.join("cloud.json"))
        .unwrap()
        .objects()
        .into_iter()
        .map(|o| o.id)
        .collect()
}

fn state_ids(dir: &Path) -> BTreeSet<String> {
    let store = SledStore::open(&dir.join("state/t"), "t").unwrap();
    store
        .records()
        .unwrap()
        .iter()
        .flat_map(|r| r.objects.iter().map(|o| o.id.clone()))
        .collect()
}

#[test]
fn without_a_terminal_apply_needs_explicit_approval() {
    let dir = setup();
    let out = run(dir.path(), &["apply", "-f", "stack.yaml"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refusing to apply without approval"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        cloud_ids(dir.path()).is_empty(),
        "something was created without approval"
    );
}

#[test]
fn apply_reports_json_events_and_a_second_plan_has_no_changes() {
    let dir = setup();
    let out = run(
        dir.path(),
        &[
            "apply",
            "-f",
            "stack.yaml",
            "--auto-approve",
            "--events",
            "json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let finished: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["event"] == "finished")
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        finished,
        BTreeSet::from([
            "route53_zone.public",
            "namespace.ns-0",
            "namespace.ns-1",
            "dns_record.rec-0"
        ])
    );
    assert!(events.iter().all(|e| e["event"] != "failed"));
    let ids = cloud_ids(dir.path());
    assert_eq!(ids.len(), 4);
    assert_eq!(ids, state_ids(dir.path()));
    let again = run(
        dir.path(),
        &[
            "plan",
            "-f",
            "stack.yaml",
            "--detailed-exitcode",
            "--refresh=false",
        ],
        "",
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));
    assert!(text(&again.stdout).starts_with("No changes."));

    let destroyed = run(
        dir.path(),
        &["destroy", "-f", "stack.yaml", "--auto-approve"],
        "",
    );
    assert!(destroyed.status.success(), "{}", text(&destroyed.stderr));
    assert!(cloud_ids(dir.path()).is_empty());
    assert!(state_ids(dir.path()).is_empty());
}

#[test]
fn a_failed_apply_is_undone_and_exits_3() {
    let dir = setup();
    let out = run(
        dir.path(),
        &["apply", "-f", "stack.yaml", "--auto-approve"],
        "dns_record.rec-0:create",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Everything this run did was undone"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        cloud_ids(dir.path()).is_empty(),
        "rollback left objects behind"
    );
    assert!(state_ids(dir.path()).is_empty());
}

#[test]
fn a_failed_rollback_names_the_tainted_resources_and_exits_4() {
    let dir = setup();
    let out = run(
        dir.path(),
        &["apply", "-f", "stack.yaml", "--auto-approve"],
        "dns_record.rec-0:create,route53_zone.public:delete",
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("now marked tainted") && err.contains("route53_zone.public"),
        "{err}"
    );
    let list = run(dir.path(), &["state", "list", "-f", "stack.yaml"], "");
    assert!(
        text(&list.stdout)
            .lines()
            .any(|l| l.starts_with("route53_zone.public") && l.contains("tainted")),
        "{}",
        text(&list.stdout)
    );
}

#[test]
fn a_saved_plan_applies_without_asking_and_a_stale_one_is_refused() {
    let dir = setup();
    assert!(run(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--out", "first.json"],
        ""
    )
    .status
    .success());
    assert!(run(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--out", "second.json"],
        ""
    )
    .status
    .success());
    let applied = run(dir.path(), &["apply", "first.json", "-f", "stack.yaml"], "");
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    assert_eq!(cloud_ids(dir.path()), state_ids(dir.path()));
    let stale = run(dir.path(), &["apply", "second.json"], "");
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        text(&stale.stderr).contains("the plan is stale"),
        "{}",
        text(&stale.stderr)
    );
}

#[test]
fn plan_reads_the_live_world_and_apply_puts_it_back() {
    let dir = setup();
    assert!(run(
        dir.path(),
        &["apply", "-f", "stack.yaml", "--auto-approve"],
        ""
    )
    .status
    .success());
    // Someone changes a record's TTL and deletes a namespace behind meshctl's back.
    {
        let cloud = FakeCloud::persistent(&dir.path().join("cloud.json")).unwrap();
        let record = cloud
            .objects()
            .into_iter()
            .find(|o| o.address == "dns_record.rec-0")
            .unwrap();
        let mut fields = record.fields.clone();
        fields["ttl"] = serde_json::json!(60);
        assert!(cloud.change_out_of_band(&record.id, fields).unwrap());
        let namespace = cloud
            .objects()
            .into_iter()
            .find(|o| o.address == "namespace.ns-1")
            .unwrap();
        cloud.delete_out_of_band(&namespace.id).unwrap();
    }
    let plan = run(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--detailed-exitcode"],
        "",
    );
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan.stderr));
    let out = text(&plan.stdout);
    assert!(
        out.contains("+ namespace.ns-1 (create): deleted outside meshctl"),
        "{out}"
    );
    assert!(
        out.contains("~ dns_record.rec-0 (update in place): ttl changed outside meshctl"),
        "{out}"
    );
    assert!(out.contains("ttl: 60 → 300"), "{out}");
    // Without refresh, meshctl trusts its records and sees nothing.
    let offline = run(
        dir.path(),
        &[
            "plan",
            "-f",
            "stack.yaml",
            "--detailed-exitcode",
            "--refresh=false",
        ],
        "",
    );
    assert_eq!(offline.status.code(), Some(0));

    assert!(run(
        dir.path(),
        &["apply", "-f", "stack.yaml", "--auto-approve"],
        ""
    )
    .status
    .success());
    let cloud = FakeCloud::persistent(&dir.path().join("cloud.json")).unwrap();
    let record = cloud
        .objects()
        .into_iter()
        .find(|o| o.address == "dns_record.rec-0")
        .unwrap();
    assert_eq!(record.fields["ttl"], 300);
    assert_eq!(
        cloud
            .objects()
            .iter()
            .filter(|o| o.address == "namespace.ns-1")
            .count(),
        1
    );
    assert_eq!(cloud_ids(dir.path()), state_ids(dir.path()));
    let settled = run(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--detailed-exitcode"],
        "",
    );
    assert_eq!(settled.status.code(), Some(0), "{}", text(&settled.stdout));
}

#[test]
fn an_interrupt_while_planning_releases_the_state_lock() {
    let dir = setup();
    assert!(run(
        dir.path(),
        &["apply", "-f", "stack.yaml", "--auto-approve"],
        ""
    )
    .status
    .success());
    // A slow refresh keeps the plan busy while it holds the lock.
    let child = Command::new(env!("CARGO_BIN_EXE_meshctl-testbed"))
        .args(["plan", "-f", "stack.yaml"])
        .current_dir(dir.path())
        .env("MESHCTL_FAKE_CLOUD", dir.path().join("cloud.json"))
        .env("MESHCTL_FAKE_LATENCY_MS", "10000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = dir.path().join("state/t/meshctl.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !lock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the plan never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the state lock was released"),
        "{}",
        text(&out.stderr)
    );
    assert!(!lock.exists(), "the lock outlived the interrupted plan");
    assert!(run(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--refresh=false"],
        ""
    )
    .status
    .success());
}
