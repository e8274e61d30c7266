//! ARCHITECTURE.md's first invariant: the pure core (`model`, `graph`, `plan`) depends on no tokio,
//! sled, aws-sdk-*, kube or hyper, directly or through anything else. Normal dependencies only;
//! dev-dependencies may use anything.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::process::Command;

const PURE_CRATES: &[&str] = &["meshctl-model", "meshctl-graph", "meshctl-plan"];

fn forbidden(name: &str) -> bool {
    name == "tokio"
        || name == "sled"
        || name == "hyper"
        || name.starts_with("aws-sdk-")
        || name == "kube"
        || name.starts_with("kube-")
}

/// For every pure crate, the chain of package names leading to a forbidden package, if any.
fn violations(metadata: &Value) -> BTreeMap<String, Vec<String>> {
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    // Package id → ids of its normal (non-dev, non-build) dependencies.
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in metadata["resolve"]["nodes"].as_array().unwrap() {
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap())
            .collect();
        edges.insert(node["id"].as_str().unwrap(), deps);
    }
    let mut found = BTreeMap::new();
    for (id, name) in &names {
        if !PURE_CRATES.contains(name) {
            continue;
        }
        // Depth-first search remembering the path, to name the chain that pulls the crate in.
        let mut stack = vec![(*id, vec![name.to_string()])];
        let mut seen = std::collections::HashSet::new();
        while let Some((current, path)) = stack.pop() {
            if !seen.insert(current) {
                continue;
            }
            for dep in edges.get(current).into_iter().flatten() {
                let dep_name = names[dep];
                let mut next = path.clone();
                next.push(dep_name.to_string());
                if forbidden(dep_name) {
                    found.entry(name.to_string()).or_insert(next);
                } else {
                    stack.push((dep, next));
                }
            }
        }
    }
    found
}

#[test]
fn pure_crates_have_no_io_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found_pure: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .filter(|n| PURE_CRATES.contains(n))
        .collect();
    assert_eq!(
        found_pure.len(),
        PURE_CRATES.len(),
        "pure crates missing from the workspace: {found_pure:?}"
    );
    let bad = violations(&metadata);
    assert!(bad.is_empty(), "pure crates pull in IO crates: {bad:#?}");
}

#[test]
fn a_transitive_io_dependency_is_caught_and_its_chain_named() {
    // model → helper → tokio, as a hand-written metadata document.
    let metadata = serde_json::json!({
        "packages": [
            {"id": "m", "name": "meshctl-model"},
            {"id": "h", "name": "some-helper"},
            {"id": "t", "name": "tokio"},
            {"id": "d", "name": "dev-only"},
            {"id": "s", "name": "sled"}
        ],
        "resolve": {"nodes": [
            {"id": "m", "deps": [
                {"pkg": "h", "dep_kinds": [{"kind": null}]},
                {"pkg": "d", "dep_kinds": [{"kind": "dev"}]}
            ]},
            {"id": "h", "deps": [{"pkg": "t", "dep_kinds": [{"kind": null}]}]},
            {"id": "d", "deps": [{"pkg": "s", "dep_kinds": [{"kind": null}]}]},
            {"id": "t", "deps": []},
            {"id": "s", "deps": []}
        ]}
    });
    let bad = violations(&metadata);
    assert_eq!(
        bad.get("meshctl-model"),
        Some(&vec![
            "meshctl-model".to_string(),
            "some-helper".to_string(),
            "tokio".to_string()
        ])
    );
    assert_eq!(bad.len(), 1, "dev-dependencies do not count: {bad:?}");
}
