//! The renderer held against schemas nobody here wrote: every Kubernetes object meshctl renders
//! for every example stack (the golden files, which `render_golden.rs` keeps equal to the
//! renders) passes the API server's strict field validation against upstream schemas
//! (Kubernetes 1.29 from PyPI `kubernetes-validate`, Istio's and cert-manager's CRDs from npm
//! `@kubernetes-models`), and IstioOperators name only fields istioctl's operator API has.
//!
//! Run: `cargo test -p meshctl-provider-kube --test conformance` (needs the schemas that
//! `scripts/sandbox-deps.sh` installs).

use std::path::{Path, PathBuf};

use meshctl_sandbox::kube::schema::check_strict;
use serde::Deserialize;
use serde_json::Value;

fn golden_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files = Vec::new();
    for stack in std::fs::read_dir(&root)
        .expect("tests/golden exists")
        .flatten()
    {
        for file in std::fs::read_dir(stack.path())
            .expect("a stack's golden dir")
            .flatten()
        {
            files.push(file.path());
        }
    }
    files.sort();
    files
}

/// The Kubernetes objects of a golden file (Helm releases, which are values for a chart, are not
/// objects and have their own checks).
fn objects(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("golden file readable");
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .filter(|o| o["apiVersion"].is_string() && o["kind"].is_string())
        .collect()
}

/// Every problem found, as `file: kind ns/name: the server's message`.
fn problems(objects: &[(PathBuf, Value)]) -> Vec<String> {
    objects
        .iter()
        .filter_map(|(path, object)| {
            check_strict(object)
                .err()
                .map(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

fn rendered() -> Vec<(PathBuf, Value)> {
    golden_files()
        .into_iter()
        .flat_map(|path| objects(&path).into_iter().map(move |o| (path.clone(), o)))
        .collect()
}

#[test]
fn every_rendered_object_passes_strict_upstream_validation() {
    let all = rendered();
    let stacks: std::collections::BTreeSet<_> = all
        .iter()
        .filter_map(|(p, _)| p.parent().and_then(Path::file_name))
        .collect();
    assert_eq!(stacks.len(), 5, "every example stack has golden renders");
    let kinds: std::collections::BTreeSet<&str> =
        all.iter().filter_map(|(_, o)| o["kind"].as_str()).collect();
    for kind in [
        "Deployment",
        "VirtualService",
        "Certificate",
        "IstioOperator",
        "Ingress",
    ] {
        assert!(
            kinds.contains(kind),
            "no {kind} among the renders: {kinds:?}"
        );
    }
    let found = problems(&all);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn a_misspelled_field_in_a_render_fails() {
    let mut all = rendered();
    let (_, virtual_service) = all
        .iter_mut()
        .find(|(_, o)| o["kind"] == "VirtualService")
        .expect("a rendered VirtualService");
    let route = &mut virtual_service["spec"]["http"][0]["route"][0];
    let weight = route["weight"].take();
    route["wieght"] = if weight.is_null() { 100.into() } else { weight };
    let (_, operator) = all
        .iter_mut()
        .find(|(_, o)| o["kind"] == "IstioOperator")
        .expect("a rendered IstioOperator");
    operator["spec"]["components"]["pilot"]["k8s"]["replicaCuont"] = 2.into();
    let found = problems(&all);
    println!("{}", found.join("\n"));
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].contains("strict decoding error: unknown field \"spec.http[0].route[0].wieght\"")
            || found[1]
                .contains("strict decoding error: unknown field \"spec.http[0].route[0].wieght\""),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("unknown field \"spec.components.pilot.k8s.replicaCuont\"")),
        "{found:#?}"
    );
}
