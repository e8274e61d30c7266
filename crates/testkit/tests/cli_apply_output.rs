//! What `meshctl apply` says and how it ends, through the real command line with the fake cloud
//! (`meshctl-testbed`): a saved plan made with vars applied with the same vars (refused with
//! others), a closed stdout that does not stop an apply, one line per Ctrl-C, and an interrupt
//! that stopped nothing exiting 0; `drift` on a closed stdout ends quietly.

use meshctl_model::record::Status;
use meshctl_state::{SledStore, StateStore};
use meshctl_testkit::FakeCloud;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Three namespaces: `chain` makes each wait for the previous one, else all start at once.
fn stack(chain: bool, label: &str) -> String {
    let mut text = format!(
        "stack: t\nregion: us-east-1\nvars: {{ team: web }}\nkube: {{ kubeconfig: kubeconfig.yaml }}\nresources:\n  - {{ kind: namespace, name: ns-0, labels: {{ team: \"{label}\" }} }}\n"
    );
    for i in 1..3 {
        let after = if chain {
            format!(", depends_on: [namespace.ns-{}]", i - 1)
        } else {
            String::new()
        };
        text.push_str(&format!("  - {{ kind: namespace, name: ns-{i}{after} }}\n"));
    }
    text
}

fn setup(stack_text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), stack_text).unwrap();
    dir
}

fn testbed(dir: &Path, args: &[&str], latency_ms: u64) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl-testbed"));
    command
        .args(args)
        .current_dir(dir)
        .env("MESHCTL_FAKE_CLOUD", dir.join("cloud.json"))
        .env("MESHCTL_FAKE_LATENCY_MS", latency_ms.to_string())
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null());
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    testbed(dir, args, 0).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Every record in state, with its status.
fn recorded(dir: &Path) -> Vec<(String, Status)> {
    let store = SledStore::open(&dir.join("state/t"), "t").unwrap();
    store
        .records()
        .unwrap()
        .into_iter()
        .map(|r| (r.address.to_string(), r.status))
        .collect()
}

fn cloud_objects(dir: &Path) -> usize {
    if !dir.join("cloud.json").exists() {
        return 0;
    }
    FakeCloud::persistent(&dir.join("cloud.json"))
        .unwrap()
        .objects()
        .len()
}

/// Reads JSON events from the apply's stdout until `count` steps have started.
fn wait_for_started(child: &mut Child, count: usize) -> BufReader<std::process::ChildStdout> {
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut started = 0;
    let mut line = String::new();
    while started < count {
        line.clear();
        assert!(
            lines.read_line(&mut line).unwrap() > 0,
            "the apply ended early"
        );
        if line.contains("\"event\":\"started\"") {
            started += 1;
        }
    }
    lines
}

fn interrupt(child: &Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn a_plan_made_with_vars_applies_with_the_same_vars_only() {
    let dir = setup(&stack(false, "${var.team}"));
    let vars = ["--var", "team=payments"];
    let planned = run(
        dir.path(),
        &[&["plan", "-f", "stack.yaml", "--out", "p.plan"][..], &vars].concat(),
    );
    assert!(planned.status.success(), "{}", text(&planned.stderr));
    let refused = run(
        dir.path(),
        &["apply", "p.plan", "-f", "stack.yaml", "--var", "team=web"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("var `team` has another value"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        cloud_objects(dir.path()),
        0,
        "a refused plan changed the cloud"
    );
    let applied = run(
        dir.path(),
        &[&["apply", "p.plan", "-f", "stack.yaml"][..], &vars].concat(),
    );
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    let store = SledStore::open(&dir.path().join("state/t"), "t").unwrap();
    let ns0 = store
        .records()
        .unwrap()
        .into_iter()
        .find(|r| r.address.to_string() == "namespace.ns-0")
        .expect("namespace.ns-0 is recorded");
    assert_eq!(ns0.desired["labels"]["team"], "payments");
}

#[test]
fn a_closed_stdout_does_not_stop_an_apply() {
    // `meshctl apply --events json | head -n 1`: the rest of the events have no reader.
    let dir = setup(&stack(true, "web"));
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
        200,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"event\":\"started\""), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("apply complete"), "{stderr}");
    assert_eq!(
        recorded(dir.path()),
        ["namespace.ns-0", "namespace.ns-1", "namespace.ns-2"]
            .map(|a| (a.to_string(), Status::Ok))
            .to_vec()
    );
    assert_eq!(cloud_objects(dir.path()), 3);
}

#[test]
fn ctrl_c_says_interrupted_once_and_exits_5_with_steps_left() {
    // Human progress (lines on stderr), where the walk's `stopping` event used to repeat it.
    let dir = setup(&stack(true, "web"));
    let mut child = testbed(
        dir.path(),
        &["apply", "-f", "stack.yaml", "--auto-approve"],
        1000,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("namespace.ns-0: create") {
        assert!(
            stderr.read_line(&mut seen).unwrap() > 0,
            "the apply ended early: {seen}"
        );
    }
    interrupt(&child);
    std::io::Read::read_to_string(&mut stderr, &mut seen).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5), "{seen}");
    let mentions: Vec<&str> = seen
        .lines()
        .filter(|l| l.to_lowercase().contains("interrupt"))
        .collect();
    assert_eq!(mentions.len(), 1, "{seen}");
    assert!(mentions[0].starts_with("Interrupted"), "{seen}");
    // The running step finished and is recorded; the others never started.
    assert_eq!(
        recorded(dir.path()),
        vec![("namespace.ns-0".to_string(), Status::Ok)]
    );
}

#[test]
fn ctrl_c_after_every_step_started_lets_them_finish_and_exits_0() {
    let dir = setup(&stack(false, "web"));
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
        1500,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let rest = wait_for_started(&mut child, 3);
    interrupt(&child);
    drop(rest);
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("apply complete"), "{stderr}");
    assert_eq!(
        recorded(dir.path()),
        ["namespace.ns-0", "namespace.ns-1", "namespace.ns-2"]
            .map(|a| (a.to_string(), Status::Ok))
            .to_vec()
    );
}

#[test]
fn drift_ends_quietly_on_a_closed_stdout() {
    let dir = setup(&stack(false, "web"));
    let applied = run(dir.path(), &["apply", "-f", "stack.yaml", "--auto-approve"]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    for format in ["text", "json", "markdown", "prometheus"] {
        let out = testbed(
            dir.path(),
            &["drift", "-f", "stack.yaml", "--format", format],
            0,
        )
        // The reader is gone before the spawn, so a fast drift cannot write first.
        .stdout({
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            Stdio::from(writer)
        })
        .stderr(Stdio::piped())
        .output()
        .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{format}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("error"),
            "{format}: {stderr}"
        );
    }
}
