//! Environments from one stack, with the local backend, through the real `meshctl` against moto:
//! `stack: web-${var.env}` and `backend: { local: "state/${var.env}" }` make `--var-file
//! staging.yaml` and `--var-file prod.yaml` two states (each plans no changes after its apply,
//! and moto holds both zones); and where the state is shared, a plan with another var file than
//! the state's last apply is refused naming the var and `--allow-var-change`, which lets it
//! through. Zones are read back with the AWS SDK.

mod support;

use meshctl_sandbox::Moto;
use std::path::Path;
use std::process::{Command, Output};
use support::aws_world::zones;
use support::{runtime, sdk_config, text};

/// One hosted zone per environment; its domain and the state's place come from the var file.
const ENVIRONMENTS: &str = "\
stack: web-${var.env}
region: ap-northeast-2
vars:
  env: dev
backend: { local: \"state/${var.env}\" }
resources:
  - kind: route53_zone
    name: public
    domain: ${var.env}.example.com
    existing: false
";

/// The same, but every environment shares one state: the mistake the var-set check catches.
const SHARED: &str = "\
stack: web
region: ap-northeast-2
vars:
  env: dev
resources:
  - kind: route53_zone
    name: public
    domain: ${var.env}.example.com
    existing: false
";

fn meshctl(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap()
}

fn report(output: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

fn setup(stack: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), stack).unwrap();
    std::fs::write(dir.path().join("staging.yaml"), "env: staging\n").unwrap();
    std::fs::write(dir.path().join("prod.yaml"), "env: prod\n").unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[test]
fn two_var_files_keep_two_states() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(&rt, &moto.url());
    let (_keep, dir) = setup(ENVIRONMENTS);
    let url = moto.url();
    let run = |args: &[&str]| meshctl(&dir, &url, args);

    for env in ["staging", "prod"] {
        let var_file = format!("{env}.yaml");
        let applied = run(&[
            "apply",
            "-f",
            "stack.yaml",
            "--var-file",
            &var_file,
            "--auto-approve",
        ]);
        assert_eq!(
            applied.status.code(),
            Some(0),
            "{env}: {}",
            report(&applied)
        );
        assert!(
            dir.join("state").join(env).is_dir(),
            "{env}: no state in state/{env}"
        );
    }
    // The second apply created its own zone beside the first instead of replacing it.
    assert_eq!(
        zones(&rt, &config),
        ["prod.example.com.", "staging.example.com."]
    );
    for env in ["staging", "prod"] {
        let var_file = format!("{env}.yaml");
        let planned = run(&["plan", "-f", "stack.yaml", "--var-file", &var_file]);
        assert_eq!(
            planned.status.code(),
            Some(0),
            "{env}: {}",
            report(&planned)
        );
        assert!(
            text(&planned.stdout).contains("No changes."),
            "{env}: {}",
            report(&planned)
        );
        let pulled = run(&["state", "pull", "-f", "stack.yaml", "--var-file", &var_file]);
        assert_eq!(pulled.status.code(), Some(0), "{env}: {}", report(&pulled));
        let state: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
        assert_eq!(state["meta"]["stack"], format!("web-{env}"));
        // The var set is recorded as digests: the value itself is nowhere in the state.
        let var_set = state["meta"]["var_set"].as_str().unwrap_or_default();
        assert!(var_set.starts_with("env="), "{state}");
        assert!(
            !text(&pulled.stdout).contains(&format!("\"{env}\"")),
            "{state}"
        );
    }
}

#[test]
fn a_plan_with_another_environments_vars_is_refused_on_a_shared_state() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(&rt, &moto.url());
    let (_keep, dir) = setup(SHARED);
    let url = moto.url();
    let run = |args: &[&str]| meshctl(&dir, &url, args);

    let applied = run(&[
        "apply",
        "-f",
        "stack.yaml",
        "--var-file",
        "staging.yaml",
        "--auto-approve",
    ]);
    assert_eq!(applied.status.code(), Some(0), "{}", report(&applied));
    let before = zones(&rt, &config);
    assert_eq!(before, ["staging.example.com."]);

    // prod's var file against staging's state: refused, naming the var and the way through.
    for command in [
        vec!["plan", "-f", "stack.yaml", "--var-file", "prod.yaml"],
        vec![
            "apply",
            "-f",
            "stack.yaml",
            "--var-file",
            "prod.yaml",
            "--auto-approve",
        ],
        vec!["destroy", "-f", "stack.yaml", "--auto-approve"],
    ] {
        let refused = run(&command);
        let stderr = text(&refused.stderr);
        assert_eq!(
            refused.status.code(),
            Some(1),
            "{command:?}: {}",
            report(&refused)
        );
        assert!(
            stderr.contains("`env` has another value"),
            "{command:?}: {stderr}"
        );
        assert!(
            stderr.contains("--allow-var-change"),
            "{command:?}: {stderr}"
        );
        assert!(
            !stderr.contains("prod.example") && !text(&refused.stdout).contains("prod.example"),
            "{command:?}: a refused plan is not shown: {}",
            report(&refused)
        );
        assert_eq!(zones(&rt, &config), before, "{command:?} changed moto");
    }
    // The same vars as the last apply plan quietly, in any order of giving them.
    let same = run(&["plan", "-f", "stack.yaml", "--var", "env=staging"]);
    assert_eq!(same.status.code(), Some(0), "{}", report(&same));
    assert!(
        text(&same.stdout).contains("No changes."),
        "{}",
        report(&same)
    );

    // Meaning it: the plan goes through, with a warning naming the var.
    let allowed = run(&[
        "plan",
        "-f",
        "stack.yaml",
        "--var-file",
        "prod.yaml",
        "--allow-var-change",
    ]);
    assert_eq!(allowed.status.code(), Some(0), "{}", report(&allowed));
    assert!(
        text(&allowed.stderr).contains("warning:") && text(&allowed.stderr).contains("`env`"),
        "{}",
        report(&allowed)
    );
    assert!(
        text(&allowed.stdout).contains("prod.example.com"),
        "{}",
        report(&allowed)
    );
}
