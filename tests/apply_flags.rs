//! The flags of `meshctl apply` as the README documents them: `--refresh=false` is accepted (and
//! plans from state alone), and every flag of `apply` and `destroy` explains itself in `--help`.

use meshctl_model::record::NodeRecord;
use meshctl_state::{Change, SledStore, StateStore};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const STACK: &str = "stack: demo
region: us-east-1
kube: { kubeconfig: kubeconfig.yaml }
resources:
  - { kind: namespace, name: app, labels: { team: web } }
";

fn meshctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[test]
fn apply_takes_refresh_false_and_plans_from_state_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), STACK).unwrap();
    // A recorded namespace whose labels differ: refreshing would have to reach the cluster
    // (kubeconfig.yaml does not exist); without refresh the plan is an update from state.
    {
        let store = SledStore::open(&dir.path().join("state/demo"), "demo").unwrap();
        let record: NodeRecord = serde_json::from_value(serde_json::json!({
            "address": "namespace.app", "status": "ok", "desired": {"labels": {"team": "api"}}
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
    let out = meshctl(
        dir.path(),
        &["apply", "-f", "stack.yaml", "--refresh=false"],
    );
    let stderr = text(&out.stderr);
    // Planned, shown, then refused for want of approval (no terminal): nothing was changed.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refusing to apply without approval"),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("labels.team: \"api\" → \"web\""),
        "{}",
        text(&out.stdout)
    );
    let destroy = meshctl(
        dir.path(),
        &["destroy", "-f", "stack.yaml", "--refresh=false"],
    );
    assert_eq!(destroy.status.code(), Some(1), "{}", text(&destroy.stderr));
    assert!(
        text(&destroy.stderr).contains("refusing to destroy without approval"),
        "{}",
        text(&destroy.stderr)
    );
    // A saved plan was refreshed (or not) when it was made.
    let saved = meshctl(dir.path(), &["apply", "p.plan", "--refresh=false"]);
    assert_eq!(saved.status.code(), Some(2), "{}", text(&saved.stderr));
    assert!(text(&saved.stderr).contains("cannot be used with"));
}

#[test]
fn every_flag_of_apply_and_destroy_has_help_text() {
    for command in ["apply", "destroy"] {
        let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let help = text(&out.stdout);
        let lines: Vec<&str> = help.lines().collect();
        let mut flags = 0;
        for (i, line) in lines.iter().enumerate() {
            // clap's long help: flags at two (`-f, --file`) or six (`--var`) spaces, their
            // text on the next line at ten.
            let trimmed = line.trim_start();
            if !(line.starts_with("  -") || line.starts_with("      --")) {
                continue;
            }
            flags += 1;
            let explained = lines.get(i + 1).is_some_and(|next| !next.trim().is_empty());
            assert!(
                explained,
                "`meshctl {command}`: {trimmed} has no help text:\n{help}"
            );
        }
        assert!(
            flags >= 10,
            "`meshctl {command} --help` lists {flags} flags:\n{help}"
        );
    }
}
