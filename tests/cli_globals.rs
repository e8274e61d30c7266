//! What the command line does before any command: `meshctl version` (text and JSON: release,
//! commit, and the format versions of state, plans and outputs; the commit "unknown" when built
//! from a tarball) and `-C DIR`/`--chdir DIR`,
//! which makes every path given (stack file, var files, state directory, plan files) relative to
//! DIR, as `git -C` does. Through the real binary; no cloud is needed.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::text;

/// `meshctl ARGS` run in `dir`.
fn meshctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn version_json_names_the_release_commit_and_formats() {
    let here = tempfile::tempdir().unwrap();
    let out = meshctl(here.path(), &["version", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(version["state_format_version"], 1);
    assert_eq!(version["plan_format_version"], 1);
    assert_eq!(version["output_format_version"], 1);
    // The commit the binary was built from: git's own answer when this is a checkout (and no
    // packager set MESHCTL_COMMIT), else "unknown".
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string());
    let commit = version["commit"].as_str().unwrap();
    match (option_env!("MESHCTL_COMMIT"), head) {
        (Some(set), _) if !set.trim().is_empty() => assert_eq!(commit, set.trim()),
        // Another commit may have landed since the build; the embedded one is a full hash.
        (_, Some(head)) => {
            assert_eq!(commit.len(), head.len(), "{commit} vs {head}");
            assert!(commit.bytes().all(|b| b.is_ascii_hexdigit()), "{commit}");
        }
        (_, None) => assert_eq!(commit, "unknown"),
    }
    let plain = meshctl(here.path(), &["version"]);
    assert!(plain.status.success());
    assert_eq!(
        text(&plain.stdout),
        format!(
            "meshctl {} (commit {commit})\nstate format 1, plan format 1, output format 1\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

/// build.rs, compiled on its own and run where a source tarball would be: outside any git
/// checkout, and unpacked inside another repository that does not track it.
#[test]
fn the_build_script_says_unknown_without_a_checkout_of_meshctl() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("build.rs");
    std::fs::copy(&script, dir.path().join("build.rs")).unwrap();
    let binary = dir.path().join("build-script");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let compiled = Command::new(rustc)
        .args(["--edition", "2021", "-o"])
        .arg(&binary)
        .arg(dir.path().join("build.rs"))
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{}", text(&compiled.stderr));
    let run = |commit: Option<&str>| {
        let mut command = Command::new(&binary);
        command
            .env("CARGO_MANIFEST_DIR", dir.path())
            .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
            .env_remove("GIT_DIR")
            .env_remove("MESHCTL_COMMIT");
        if let Some(commit) = commit {
            command.env("MESHCTL_COMMIT", commit);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert!(
        run(None).contains("cargo:rustc-env=MESHCTL_COMMIT=unknown\n"),
        "{}",
        run(None)
    );
    assert!(run(Some("0123abc")).contains("cargo:rustc-env=MESHCTL_COMMIT=0123abc\n"));
    // Inside a repository that does not track build.rs (a vendored, unpacked tarball).
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
            .output()
    };
    if git(&["init", "-q"]).is_ok_and(|o| o.status.success()) {
        std::fs::write(dir.path().join("other"), "x").unwrap();
        let committed = git(&["add", "other"]).unwrap().status.success()
            && git(&[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                "x",
            ])
            .unwrap()
            .status
            .success();
        assert!(committed);
        assert!(
            run(None).contains("cargo:rustc-env=MESHCTL_COMMIT=unknown\n"),
            "{}",
            run(None)
        );
    }
}

const STACK: &str = "stack: demo
region: us-east-1
vars:
  domain: example.org # prod.yaml says otherwise
resources:
  - kind: route53_zone
    name: public
    domain: ${var.domain}
    existing: false # created, not looked up: planned without AWS
";

#[test]
fn chdir_resolves_every_path_from_the_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("infra")).unwrap();
    let infra = project.path().join("infra");
    std::fs::write(infra.join("stack.yaml"), STACK).unwrap();
    std::fs::write(infra.join("prod.yaml"), "domain: example.com\n").unwrap();
    let dir = infra.to_str().unwrap();

    // Stack file and var file, read from DIR although meshctl runs elsewhere.
    let valid = meshctl(
        elsewhere.path(),
        &[
            "-C",
            dir,
            "validate",
            "-f",
            "stack.yaml",
            "--var-file",
            "prod.yaml",
        ],
    );
    assert!(valid.status.success(), "{}", text(&valid.stderr));
    // The plan file and the state directory land in DIR too; `--chdir` after the command works.
    let planned = meshctl(
        elsewhere.path(),
        &[
            "plan",
            "-f",
            "stack.yaml",
            "--var-file",
            "prod.yaml",
            "--state",
            "st",
            "--out",
            "plan.json",
            "--chdir",
            dir,
        ],
    );
    assert!(planned.status.success(), "{}", text(&planned.stderr));
    assert!(infra.join("plan.json").is_file());
    assert!(!elsewhere.path().join("plan.json").exists());
    let shown = meshctl(
        project.path(),
        &[
            "-C",
            "infra",
            "show",
            "plan.json",
            "--state",
            "st",
            "-f",
            "stack.yaml",
            "--var-file",
            "prod.yaml",
        ],
    );
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert_eq!(text(&shown.stdout), text(&planned.stdout));

    // A directory that is not there: said, exit 1, nothing run.
    let missing = meshctl(
        elsewhere.path(),
        &["-C", "no-such-dir", "validate", "-f", "stack.yaml"],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).starts_with("error: cannot change to directory no-such-dir (-C): "),
        "{}",
        text(&missing.stderr)
    );
}
