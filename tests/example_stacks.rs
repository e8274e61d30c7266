//! The example stacks under stacks/ are documentation and end-to-end inputs: each must validate
//! clean, and `meshctl graph` must order it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn stacks() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn there_is_one_stack_per_seed() {
    let names: Vec<String> = stacks()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    for seed in ["seed-000", "seed-001", "seed-002", "seed-003", "seed-004"] {
        assert!(
            names.iter().any(|n| n.starts_with(seed)),
            "no stack for {seed} in {names:?}"
        );
    }
}

#[test]
fn every_example_stack_validates_clean() {
    for stack in stacks() {
        let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
            .args(["validate", "-f", stack.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} does not validate:\n{}",
            stack.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{} has warnings:\n{}",
            stack.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn graph_orders_every_example_stack() {
    for stack in stacks() {
        let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
            .args([
                "graph",
                "-f",
                stack.to_str().unwrap(),
                "--format",
                "mermaid",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stack.display());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("graph BT"));
    }
}
