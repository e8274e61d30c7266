//! `meshctl graph --format svg`: the traffic picture of a stack, each link coloured by the last
//! verify result kept beside the state (`last-verify.json`), every link unchecked when there is
//! none or it cannot be read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn graph_svg(state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .current_dir(repo())
        .args([
            "graph",
            "--format",
            "svg",
            "-f",
            "stacks/seed-004-multi-gateway.yaml",
        ])
        .arg("--state")
        .arg(state)
        .output()
        .expect("meshctl runs")
}

/// Each link path of the picture: (data-id, status class).
fn links(svg: &str) -> Vec<(String, String)> {
    svg.lines()
        .filter(|l| l.starts_with("<path class=\"link "))
        .map(|l| {
            let attribute = |name: &str| {
                let start = l.find(&format!("{name}=\"")).expect("attribute") + name.len() + 2;
                let end = start + l[start..].find('"').expect("closing quote");
                l[start..end].to_string()
            };
            let class = attribute("class");
            (
                attribute("data-id"),
                class.trim_start_matches("link ").to_string(),
            )
        })
        .collect()
}

const RECORD_TO_NLB: &str = "dns_record.api→nlb:ingress_gateway.istio-ingressgateway";
const CLIENT_TO_RECORD: &str = "client→dns_record.api";

#[test]
fn without_a_verify_result_every_link_is_unchecked() {
    let state = tempfile::tempdir().expect("temp dir");
    let out = graph_svg(state.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8(out.stdout).expect("utf-8");
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    let links = links(&svg);
    assert!(
        links.len() >= 10,
        "seed 004 has 4 hosts of 6 links: {links:?}"
    );
    assert!(links.iter().any(|(id, _)| id == RECORD_TO_NLB), "{links:?}");
    assert!(
        links.iter().all(|(_, status)| status == "unchecked"),
        "{links:?}"
    );
    // The dependency DAG is not what svg draws: no box per resource such as the VPC.
    assert!(!svg.contains("vpc.main"));
    assert!(
        std::fs::read_dir(state.path())
            .expect("state dir")
            .next()
            .is_none(),
        "graph writes nothing"
    );
}

#[test]
fn links_take_the_colour_of_the_last_verify_result() {
    let state = tempfile::tempdir().expect("temp dir");
    // What `meshctl verify` keeps (docs/verify.md): per link of the traffic model, its status.
    let report = serde_json::json!({
        "format_version": 1,
        "stack": "multi-gateway",
        "checked_at": "2026-12-02T17:00:00Z",
        "read_ms": 12,
        "hosts": [],
        "links": { CLIENT_TO_RECORD: "ok", RECORD_TO_NLB: "broken" },
    });
    std::fs::write(
        state.path().join("last-verify.json"),
        serde_json::to_string(&report).expect("json"),
    )
    .expect("report written");
    let out = graph_svg(state.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links = links(&String::from_utf8(out.stdout).expect("utf-8"));
    for (id, status) in &links {
        let expected = match id.as_str() {
            CLIENT_TO_RECORD => "ok",
            RECORD_TO_NLB => "broken",
            _ => "unchecked",
        };
        assert_eq!(status, expected, "{id}");
    }
}

#[test]
fn an_unreadable_verify_result_is_a_warning_and_draws_unchecked() {
    let state = tempfile::tempdir().expect("temp dir");
    std::fs::write(state.path().join("last-verify.json"), "{ cut off").expect("written");
    let out = graph_svg(state.path());
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: every link is drawn unchecked")
            && stderr.contains("last-verify.json"),
        "{stderr}"
    );
    let links = links(&String::from_utf8(out.stdout).expect("utf-8"));
    assert!(
        links.iter().all(|(_, status)| status == "unchecked"),
        "{links:?}"
    );
}
