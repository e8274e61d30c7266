//! A closed standard output (`meshctl show p.plan --format json | head -1`) ends every command
//! quietly with exit code 141, as a shell reports for `cat` ended by SIGPIPE: no panic, no
//! backtrace, no error message. (During an apply a closed stdout must not stop the executor:
//! crates/testkit/tests/cli_apply_output.rs.) A closed standard error loses the messages and
//! nothing else: the command keeps its own exit code.

mod support;

use support::{meshctl_in as meshctl, text};

use meshctl_model::record::NodeRecord;
use meshctl_state::{Change, SledStore, StateStore};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const STDOUT_CLOSED: i32 = 141;

const STACK: &str = "stack: demo
region: us-east-1
kube: { kubeconfig: kubeconfig.yaml }
resources:
  - { kind: namespace, name: app, labels: { team: web } }
  - { kind: namespace, name: api, depends_on: [namespace.app] }
";

/// A pipe whose reader is already gone: whatever meshctl writes to it fails with a broken pipe,
/// however soon it writes (closing the reader after the spawn would race a fast command).
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// Runs meshctl with a standard output whose reader is gone before meshctl writes anything.
fn with_stdout_closed(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn assert_quiet_exit(args: &[&str], out: &Output) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(STDOUT_CLOSED),
        "{args:?} exited {:?}: {stderr}",
        out.status
    );
    for noise in ["panicked", "Broken pipe", "backtrace", "error"] {
        assert!(
            !stderr.contains(noise),
            "{args:?} said {noise:?} on stderr: {stderr}"
        );
    }
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), STACK).unwrap();
    let planned = meshctl(
        dir.path(),
        &[
            "plan",
            "-f",
            "stack.yaml",
            "--refresh=false",
            "--out",
            "p.plan",
        ],
    );
    assert!(planned.status.success(), "{}", text(&planned.stderr));
    dir
}

#[test]
fn every_command_that_prints_ends_quietly_on_a_closed_stdout() {
    let dir = setup();
    let commands: &[&[&str]] = &[
        &["show", "p.plan", "--format", "json"],
        &["show", "p.plan", "-f", "stack.yaml"],
        &["show", "p.plan", "--format", "markdown"],
        &["plan", "-f", "stack.yaml", "--refresh=false"],
        &[
            "plan",
            "-f",
            "stack.yaml",
            "--refresh=false",
            "--format",
            "json",
        ],
        &["validate", "-f", "stack.yaml"],
        &["validate", "-f", "stack.yaml", "--format", "json"],
        &["graph", "-f", "stack.yaml"],
        &["graph", "-f", "stack.yaml", "--format", "mermaid"],
        &["completions", "bash"],
    ];
    for args in commands {
        assert_quiet_exit(args, &with_stdout_closed(dir.path(), args));
    }
}

#[test]
fn state_commands_end_quietly_on_a_closed_stdout() {
    let dir = setup();
    {
        let store = SledStore::open(&dir.path().join("state/demo"), "demo").unwrap();
        let record: NodeRecord = serde_json::from_value(serde_json::json!({
            "address": "namespace.app", "status": "ok", "desired": {"labels": {"team": "web"}}
        }))
        .unwrap();
        store
            .commit(Change {
                put: vec![record],
                ..Change::default()
            })
            .unwrap();
        store.finish("test", &[]).unwrap();
    }
    for args in [
        &["state", "list", "-f", "stack.yaml"][..],
        &["state", "show", "namespace.app", "-f", "stack.yaml"][..],
        &["state", "history", "-f", "stack.yaml"][..],
    ] {
        assert_quiet_exit(args, &with_stdout_closed(dir.path(), args));
    }
}

#[test]
fn a_reader_that_stops_after_the_first_line_ends_meshctl_quietly() {
    // Big enough that the rest of the plan cannot sit in the pipe's buffer when `head` exits.
    let dir = tempfile::tempdir().unwrap();
    let mut stack = String::from(
        "stack: big\nregion: us-east-1\nkube: { kubeconfig: kubeconfig.yaml }\nresources:\n",
    );
    for i in 0..400 {
        stack.push_str(&format!(
            "  - {{ kind: namespace, name: ns-{i}, labels: {{ team: team-{i}, tier: tier-{i} }} }}\n"
        ));
    }
    std::fs::write(dir.path().join("stack.yaml"), stack).unwrap();
    let args = [
        "plan",
        "-f",
        "stack.yaml",
        "--refresh=false",
        "--format",
        "json",
        "--out",
        "p.plan",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "{\n");
    let out = child.wait_with_output().unwrap();
    assert_quiet_exit(&args, &out);
    // The plan file is written before the plan is printed, so it is whole.
    let saved = meshctl(dir.path(), &["show", "p.plan", "--format", "json"]);
    assert!(saved.status.success(), "{}", text(&saved.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&saved.stdout).unwrap();
    assert_eq!(plan["summary"]["create"], 400);
}

/// Runs meshctl with a standard error whose reader is gone before meshctl writes anything, and
/// standard output kept: messages are lost, but nothing panics and the exit code is the command's.
fn with_stderr_closed(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stderr_changes_nothing_but_the_messages() {
    let dir = tempfile::tempdir().unwrap();
    // Errors, warnings and notes all go to standard error.
    std::fs::write(
        dir.path().join("broken.yaml"),
        "stack: demo\nregion: us-east-1\nresources:\n  - { kind: namespace, name: app, lables: {} }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("stack.yaml"), STACK).unwrap();
    for (args, code) in [
        (vec!["validate", "-f", "broken.yaml"], 1),
        (vec!["graph", "-f", "broken.yaml"], 1),
        (vec!["validate", "-f", "stack.yaml", "--var", "unused=1"], 0),
        (vec!["state", "list", "-f", "stack.yaml"], 0),
        (vec!["force-unlock", "no-such-lock", "-f", "stack.yaml"], 1),
    ] {
        let out = with_stderr_closed(dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?} exited {:?} (101 is a panic)",
            out.status
        );
    }
}
