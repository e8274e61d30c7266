//! Saved plans made with var overrides: `show PLANFILE -f STACK` takes the same `--var` and
//! `--var-file` as `plan` had and accepts the plan with them; other var values are refused naming
//! the var, and an edited stack file is refused as changed. (`apply PLANFILE` makes the same check;
//! crates/testkit/tests/cli_saved_plan_vars.rs applies such a plan.)

mod support;

use support::{meshctl_in as meshctl, text};

use std::path::Path;
use std::process::Output;

const STACK: &str = "stack: demo
region: us-east-1
vars: { ns: default-ns, tier: web }
kube: { kubeconfig: kubeconfig.yaml }
resources:
  - kind: namespace
    name: app
    labels: { team: \"${var.ns}\", tier: \"${var.tier}\" }
";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), STACK).unwrap();
    std::fs::write(dir.path().join("prod.yaml"), "tier: prod\n").unwrap();
    std::fs::write(dir.path().join("stage.yaml"), "tier: stage\n").unwrap();
    dir
}

fn plan(dir: &Path, vars: &[&str]) -> String {
    let mut args = vec![
        "plan",
        "-f",
        "stack.yaml",
        "--refresh=false",
        "--out",
        "p.plan",
    ];
    args.extend_from_slice(vars);
    let out = meshctl(dir, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn show(dir: &Path, vars: &[&str]) -> Output {
    let mut args = vec!["show", "p.plan", "-f", "stack.yaml"];
    args.extend_from_slice(vars);
    meshctl(dir, &args)
}

#[test]
fn a_plan_made_with_vars_is_shown_with_the_same_vars() {
    let dir = setup();
    let vars = ["--var", "ns=x", "--var-file", "prod.yaml"];
    let planned = plan(dir.path(), &vars);
    assert!(planned.contains("labels.team = \"x\""), "{planned}");
    assert!(planned.contains("labels.tier = \"prod\""), "{planned}");
    let shown = show(dir.path(), &vars);
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    assert_eq!(text(&shown.stdout), planned);
    // The same values reached another way are the same plan: ns=x from a var file.
    std::fs::write(dir.path().join("x.yaml"), "ns: x\n").unwrap();
    let same = show(dir.path(), &["--var-file", "x.yaml", "--var", "tier=prod"]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stderr));
}

#[test]
fn other_var_values_are_refused_naming_the_var() {
    let dir = setup();
    plan(dir.path(), &["--var", "ns=x", "--var-file", "prod.yaml"]);
    for (vars, named) in [
        (vec!["--var", "ns=y", "--var-file", "prod.yaml"], "var `ns`"),
        (
            vec!["--var", "ns=x", "--var-file", "stage.yaml"],
            "var `tier`",
        ),
        (vec!["--var", "ns=x"], "var `tier`"),
        (vec![], "vars `ns`, `tier`"),
    ] {
        let out = show(dir.path(), &vars);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{vars:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{vars:?}: a refused plan was shown");
        assert!(
            stderr.contains(&format!("{named} ")) && stderr.contains("another value"),
            "{vars:?}: {stderr}"
        );
        assert!(!stderr.contains("stack file changed"), "{vars:?}: {stderr}");
    }
}

#[test]
fn an_edited_stack_file_is_refused_even_with_the_same_vars() {
    let dir = setup();
    let vars = ["--var", "ns=x"];
    plan(dir.path(), &vars);
    std::fs::write(
        dir.path().join("stack.yaml"),
        STACK.replace("tier: web", "tier: api"),
    )
    .unwrap();
    let out = show(dir.path(), &vars);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the stack file changed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn vars_without_the_stack_file_are_a_usage_error() {
    let dir = setup();
    plan(dir.path(), &[]);
    let out = meshctl(dir.path(), &["show", "p.plan", "--var", "ns=x"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn vars_in_the_header_resolve_alike_for_every_command_and_var() {
    // `stack` names the state: plan (which loads the whole stack) and the commands that read only
    // the header must find the same one.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stack.yaml"),
        "stack: demo-${var.env}\nregion: ${var.region}\nvars: { env: dev, region: eu-west-1 }\nkube: { kubeconfig: kubeconfig.yaml }\nresources:\n  - { kind: namespace, name: app }\n",
    )
    .unwrap();
    let planned = plan(dir.path(), &[]);
    assert!(planned.contains("+ namespace.app (create)"), "{planned}");
    assert!(dir.path().join("state/demo-dev").is_dir());
    {
        let store =
            meshctl_state::SledStore::open(&dir.path().join("state/demo-dev"), "demo-dev").unwrap();
        let record: meshctl_model::record::NodeRecord = serde_json::from_value(
            serde_json::json!({"address": "namespace.app", "status": "ok", "desired": {}}),
        )
        .unwrap();
        meshctl_state::StateStore::commit(
            &store,
            meshctl_state::Change {
                put: vec![record],
                ..meshctl_state::Change::default()
            },
        )
        .unwrap();
    }
    let listed = meshctl(dir.path(), &["state", "list", "-f", "stack.yaml"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        text(&listed.stdout).contains("namespace.app"),
        "{}",
        text(&listed.stdout)
    );
    let shown = show(dir.path(), &[]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    // With --var, the header-only commands find the state that `plan --var` used.
    let listed = meshctl(
        dir.path(),
        &["state", "list", "-f", "stack.yaml", "--var", "env=prod"],
    );
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        !text(&listed.stdout).contains("namespace.app"),
        "state/demo-prod was never written, yet: {}",
        text(&listed.stdout)
    );
    let gone = meshctl(
        dir.path(),
        &[
            "state",
            "rm",
            "namespace.app",
            "-f",
            "stack.yaml",
            "--var",
            "env=dev",
        ],
    );
    assert!(gone.status.success(), "{}", text(&gone.stderr));
    let listed = meshctl(dir.path(), &["state", "list", "-f", "stack.yaml"]);
    assert!(
        !text(&listed.stdout).contains("namespace.app"),
        "{}",
        text(&listed.stdout)
    );
}
