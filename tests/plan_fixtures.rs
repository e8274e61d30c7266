//! Data-driven plan fixtures: each `tests/plan/*.yaml` holds a stack, the prior state records,
//! the command-line arguments, and the expected exit code and plan text, written by hand. The
//! harness seeds a real sled state with the records, runs the `meshctl plan` binary against it
//! offline (`--refresh=false`), and compares.
//!
//! ```yaml
//! why: what the case shows
//! args: [--target, alb.public]     # optional, added after `plan -f STACK --state DIR --refresh=false`
//! stack: |                         # the stack file
//!   ...
//! prior:                           # NodeRecords (address, status, desired, outputs, objects, ...)
//!   - { address: vpc.main, status: ok, desired: {...} }
//! exit: 0                          # expected exit code
//! stdout: |                        # expected standard output, exactly
//!   ...
//! stderr_contains: [...]           # optional fragments expected on standard error
//! ```

use meshctl_model::record::NodeRecord;
use meshctl_state::{Change, SledStore, StateStore};
use serde::Deserialize;
use std::path::Path;
use std::process::Command;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[allow(dead_code)]
    why: String,
    #[serde(default)]
    args: Vec<String>,
    stack: String,
    #[serde(default)]
    prior: Vec<NodeRecord>,
    exit: i32,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr_contains: Vec<String>,
}

fn stack_name(stack: &str) -> String {
    stack
        .lines()
        .find_map(|l| l.strip_prefix("stack: "))
        .map(|s| s.trim().to_string())
        .expect("the stack names itself")
}

#[test]
fn plan_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/plan");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no plan fixtures in {}", dir.display());
    let mut failures = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let case: Case = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let work = tempfile::tempdir().unwrap();
        let stack_file = work.path().join("stack.yaml");
        std::fs::write(&stack_file, &case.stack).unwrap();
        let state_dir = work.path().join("state");
        {
            let store = SledStore::open(&state_dir, &stack_name(&case.stack)).unwrap();
            store
                .commit(Change {
                    put: case.prior.clone(),
                    ..Change::default()
                })
                .unwrap();
        }
        let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
            .args([
                "plan",
                "-f",
                "stack.yaml",
                "--state",
                state_dir.to_str().unwrap(),
                "--refresh=false",
            ])
            .args(&case.args)
            .current_dir(work.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(case.exit) {
            failures.push(format!(
                "{name}: exit {:?}, expected {}\nstderr:\n{stderr}",
                out.status.code(),
                case.exit
            ));
            continue;
        }
        if let Some(expected) = &case.stdout {
            if stdout != *expected {
                failures.push(format!(
                    "{name}: plan differs\n--- expected\n{expected}--- actual\n{stdout}"
                ));
            }
        }
        for fragment in &case.stderr_contains {
            if !stderr.contains(fragment.as_str()) {
                failures.push(format!(
                    "{name}: stderr lacks {fragment:?}\nstderr:\n{stderr}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
