//! The renderer against the controllers' upstream facts (`meshctl-controller-facts`): every AWS
//! Load Balancer Controller annotation and every Helm chart value in the rendered example stacks
//! must be one the pinned controller and chart versions document, in the documented format.
//!
//! It reads the golden files (tests/golden/<stack>/*.yaml), which `render_golden` keeps equal to
//! what the renderer makes of every stack in stacks/, so it covers every example stack's render.

use meshctl_controller_facts::annotations::{check_annotation, is_controller_annotation};
use meshctl_controller_facts::chart_values;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Every document of every golden file, with the file it came from.
fn golden_documents() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut stacks: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    stacks.sort();
    for stack in stacks {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&stack)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let name = file
                .strip_prefix(golden_dir())
                .unwrap()
                .display()
                .to_string();
            for document in serde_yaml::Deserializer::from_str(&text) {
                let value: Value = serde::Deserialize::deserialize(document).unwrap();
                if !value.is_null() {
                    out.push((name.clone(), value));
                }
            }
        }
    }
    out
}

/// The annotations of an object: its own, and for an IstioOperator those of each gateway's
/// Service (`k8s.serviceAnnotations`), which is where an NLB's annotations go.
fn annotations(object: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut add = |place: String, map: &Value| {
        for (k, v) in map.as_object().into_iter().flatten() {
            out.push((
                place.clone(),
                k.clone(),
                v.as_str().unwrap_or("").to_string(),
            ));
        }
    };
    add(
        "metadata.annotations".into(),
        &object["metadata"]["annotations"],
    );
    for (i, gateway) in object["spec"]["components"]["ingressGateways"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        add(
            format!("spec.components.ingressGateways[{i}].k8s.serviceAnnotations"),
            &gateway["k8s"]["serviceAnnotations"],
        );
    }
    out
}

/// Problems with the controller annotations of some documents.
fn annotation_problems(documents: &[(String, Value)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (file, object) in documents {
        for (place, name, value) in annotations(object) {
            if is_controller_annotation(&name) {
                if let Err(e) = check_annotation(&name, &value) {
                    problems.push(format!("{file} {place}: {e}"));
                }
            }
        }
    }
    problems
}

#[test]
fn every_rendered_controller_annotation_is_documented_with_its_format() {
    let documents = golden_documents();
    let checked = documents
        .iter()
        .flat_map(|(_, o)| annotations(o))
        .filter(|(_, name, _)| is_controller_annotation(name))
        .count();
    // Seeds 000, 001 and 004 carry ALB Ingresses, seed 004 an NLB: far more than a handful.
    assert!(checked > 40, "only {checked} controller annotations found");
    let problems = annotation_problems(&documents);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_misspelled_or_misformatted_annotation_fails_the_check() {
    let mut documents = golden_documents();
    let (_, nlb) = documents
        .iter_mut()
        .find(|(file, _)| {
            file.ends_with("seed-004-multi-gateway/ingress_gateway.istio-ingressgateway.yaml")
        })
        .unwrap();
    let annotations =
        &mut nlb["spec"]["components"]["ingressGateways"][0]["k8s"]["serviceAnnotations"];
    annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-targettype"] = "ip".into();
    annotations["service.beta.kubernetes.io/aws-load-balancer-attributes"] =
        "cross_zone.enabled=true".into();
    let problems = annotation_problems(&documents);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].contains("`cross_zone.enabled` is not one"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1]
            .contains("did you mean service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"),
        "{}",
        problems[1]
    );
}

/// Problems with the values of the Helm charts the table knows; a chart meshctl installs itself
/// (lb_controller, cert_manager) must be in the table.
fn values_problems(documents: &[(String, Value)]) -> (usize, Vec<String>) {
    let mut judged = 0;
    let mut problems = Vec::new();
    for (file, document) in documents {
        let (Some(chart), Some(version)) =
            (document["chart"].as_str(), document["version"].as_str())
        else {
            continue;
        };
        let ours = file.contains("/lb_controller.") || file.contains("/cert_manager.");
        match chart_values(chart, version) {
            Some(table) => {
                judged += 1;
                for path in table.unknown_values(&document["values"]) {
                    problems.push(format!(
                        "{file}: value `{path}` is not in {chart} {version}'s values.yaml ({}); known near it: {:?}",
                        table.source,
                        table.suggestions(&path)
                    ));
                }
            }
            None if ours => problems.push(format!(
                "{file}: chart {chart} {version} is not in meshctl-controller-facts' values table; add it from the chart's values.yaml"
            )),
            None => {}
        }
    }
    (judged, problems)
}

#[test]
fn every_rendered_chart_value_is_one_the_pinned_chart_accepts() {
    let documents = golden_documents();
    let (judged, problems) = values_problems(&documents);
    // Five stacks install the Load Balancer Controller, two cert-manager.
    assert!(judged >= 7, "only {judged} charts judged");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_value_the_chart_does_not_know_fails_the_check() {
    let mut documents = golden_documents();
    let (_, cert_manager) = documents
        .iter_mut()
        .find(|(file, _)| file.ends_with("seed-001-https/cert_manager.cert-manager.yaml"))
        .unwrap();
    // cert-manager 1.14 knows only installCRDs; crds.enabled arrived in 1.15.
    cert_manager["values"]["crds"] = serde_json::json!({ "enabled": true });
    let (_, problems) = values_problems(&documents);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("value `crds` is not in cert-manager v1.14.4"),
        "{}",
        problems[0]
    );
}
