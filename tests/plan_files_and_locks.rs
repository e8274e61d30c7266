//! Plan files round-trip and are refused when stale, foreign or made from another stack; two
//! meshctl processes on one state: the second fails fast naming the first, or waits.

mod support;

use support::{meshctl_in as meshctl, text};

use meshctl_state::StateLock;
use std::time::{Duration, Instant};

const STACK: &str = "stack: demo
region: us-east-1
resources:
  - kind: route53_zone
    name: public
    domain: example.com
    existing: false # created, not looked up: these tests plan without AWS
  - kind: dns_record
    name: www
    zone: public
    record: www.example.com
    type: CNAME
    values: [origin.example.net]
    ttl: 60
";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), STACK).unwrap();
    dir
}

#[test]
fn a_saved_plan_renders_the_same_when_read_back() {
    let dir = setup();
    let planned = meshctl(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--out", "plan.json"],
    );
    assert!(planned.status.success(), "{}", text(&planned.stderr));
    assert!(
        text(&planned.stdout).starts_with("Plan: 2 to create"),
        "{}",
        text(&planned.stdout)
    );
    let shown = meshctl(dir.path(), &["show", "plan.json", "-f", "stack.yaml"]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert_eq!(text(&shown.stdout), text(&planned.stdout));
    let planned_json = meshctl(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--format", "json"],
    );
    let shown_json = meshctl(dir.path(), &["show", "plan.json", "--format", "json"]);
    let a: serde_json::Value = serde_json::from_slice(&planned_json.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&shown_json.stdout).unwrap();
    assert_eq!(a, b);
    assert_eq!(a["format_version"], 1);
    assert_eq!(a["summary"]["create"], 2);
}

#[test]
fn a_plan_made_before_another_change_of_state_is_refused_as_stale() {
    let dir = setup();
    // Give the state a record, so that `state rm` can change it after the plan is saved.
    {
        let store = meshctl_state::SledStore::open(&dir.path().join("state/demo"), "demo").unwrap();
        let record: meshctl_model::record::NodeRecord = serde_json::from_value(serde_json::json!({
            "address": "dns_record.old", "status": "ok", "desired": {"zone": "public"}
        }))
        .unwrap();
        meshctl_state::StateStore::commit(
            &store,
            meshctl_state::Change {
                put: vec![record],
                ..Default::default()
            },
        )
        .unwrap();
    }
    assert!(meshctl(
        dir.path(),
        &[
            "plan",
            "-f",
            "stack.yaml",
            "--out",
            "plan.json",
            "--refresh=false"
        ]
    )
    .status
    .success());
    let removed = meshctl(
        dir.path(),
        &["state", "rm", "-f", "stack.yaml", "dns_record.old"],
    );
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    let shown = meshctl(dir.path(), &["show", "plan.json"]);
    assert_eq!(shown.status.code(), Some(1));
    let err = text(&shown.stderr);
    assert!(
        err.contains(
            "the plan is stale: it was made at state serial 0, and the state is now at serial 1"
        ),
        "{err}"
    );
}

#[test]
fn a_plan_for_another_state_or_an_edited_stack_is_refused() {
    let dir = setup();
    assert!(meshctl(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--out", "plan.json"]
    )
    .status
    .success());
    // Same stack name, fresh state elsewhere: another lineage.
    let other = meshctl(dir.path(), &["show", "plan.json", "--state", "elsewhere"]);
    assert_eq!(other.status.code(), Some(1));
    assert!(
        text(&other.stderr).contains("the plan was made for stack `demo` (state lineage"),
        "{}",
        text(&other.stderr)
    );
    std::fs::write(
        dir.path().join("stack.yaml"),
        STACK.replace("ttl: 60", "ttl: 120"),
    )
    .unwrap();
    let edited = meshctl(dir.path(), &["show", "plan.json", "-f", "stack.yaml"]);
    assert_eq!(edited.status.code(), Some(1));
    assert!(
        text(&edited.stderr).contains("the stack file changed since the plan was made"),
        "{}",
        text(&edited.stderr)
    );
    std::fs::write(dir.path().join("garbage.json"), b"{\"hello\": 1}").unwrap();
    let garbage = meshctl(dir.path(), &["show", "garbage.json"]);
    assert_eq!(garbage.status.code(), Some(1));
    assert!(
        text(&garbage.stderr).contains("not a meshctl plan file"),
        "{}",
        text(&garbage.stderr)
    );
}

#[test]
fn a_second_meshctl_fails_fast_naming_the_holder_and_waits_with_lock_timeout() {
    let dir = setup();
    let state_dir = dir.path().join("state/demo");
    // This test process is the first holder; the meshctl binary is the second process.
    let held = StateLock::acquire(&state_dir, "apply", Duration::ZERO).unwrap();
    let started = Instant::now();
    let blocked = meshctl(dir.path(), &["plan", "-f", "stack.yaml"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failing must be fast"
    );
    assert_eq!(blocked.status.code(), Some(1));
    let err = text(&blocked.stderr);
    assert!(
        err.contains(&format!("pid {}", std::process::id()))
            && err.contains("running `apply`")
            && err.contains(&held.info.id),
        "{err}"
    );
    assert!(
        err.contains(&format!("meshctl force-unlock {}", held.info.id)),
        "{err}"
    );

    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        drop(held);
    });
    let waited = meshctl(
        dir.path(),
        &["plan", "-f", "stack.yaml", "--lock-timeout", "20s"],
    );
    release.join().unwrap();
    assert!(waited.status.success(), "{}", text(&waited.stderr));
}

#[test]
fn force_unlock_breaks_a_dead_holders_lock() {
    let dir = setup();
    let state_dir = dir.path().join("state/demo");
    let held = StateLock::acquire(&state_dir, "apply", Duration::ZERO).unwrap();
    let id = held.info.id.clone();
    std::mem::forget(held); // a holder that died without releasing
    let wrong = meshctl(
        dir.path(),
        &["force-unlock", "not-the-id", "-f", "stack.yaml"],
    );
    assert_eq!(wrong.status.code(), Some(1));
    let broken = meshctl(dir.path(), &["force-unlock", &id, "-f", "stack.yaml"]);
    assert!(broken.status.success(), "{}", text(&broken.stderr));
    assert!(meshctl(dir.path(), &["plan", "-f", "stack.yaml"])
        .status
        .success());
}
