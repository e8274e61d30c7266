//! Input is never silently cut (issue 21, item 2), through the binary: a NUL byte is a located
//! error rather than the end of the file (so `plan` never deletes what follows it), terminal
//! control characters in names are shown escaped, and a stack written as one line of JSON is
//! reported in a page, cut around the problem.

mod support;

use support::{meshctl_in as meshctl, text};

#[path = "../crates/model/tests/support/hostile.rs"]
#[allow(dead_code)] // the generators of other tests
mod hostile;

use serde_json::Value;
use std::path::Path;

/// Two resources; `{cut}` is where a test puts the character under test, before the second.
const STACK: &str = "stack: demo
region: us-east-1
resources:
  - kind: route53_zone
    name: public
    domain: example.com
    existing: false # created, not looked up: these tests plan without AWS
{cut}
  - kind: dns_record
    name: www
    zone: public
    record: www.example.com
    type: CNAME
    values: [origin.example.net]
    ttl: 60
";

fn stack_with(dir: &Path, cut: &str) {
    std::fs::write(dir.join("stack.yaml"), STACK.replace("{cut}", cut)).unwrap();
}

/// Code, line and column of every diagnostic `validate --format json` reports.
fn located(dir: &Path) -> (Option<i32>, Vec<(String, u64, u64)>) {
    let out = meshctl(dir, &["validate", "-f", "stack.yaml", "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("JSON, got {}", text(&out.stdout)));
    let found = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap_or(0),
                d["col"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    (out.status.code(), found)
}

#[test]
fn a_nul_byte_in_the_middle_of_a_stack_is_a_located_error_not_the_end_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    stack_with(dir.path(), "  # pasted: \0\0");
    let (code, found) = located(dir.path());
    assert_eq!(code, Some(1));
    assert_eq!(found, [("forbidden-character".to_string(), 8, 13)]);
    let out = meshctl(dir.path(), &["validate", "-f", "stack.yaml"]);
    let err = text(&out.stderr);
    assert!(!err.contains('\0'), "{err:?}");
    let byte = STACK.find("{cut}").unwrap() + "  # pasted: ".len();
    assert!(
        err.contains(&format!("U+0000 (NUL) at byte {byte} (line 8, column 13)"))
            && err.contains("1 more"),
        "{err}"
    );
}

#[test]
fn plan_against_recorded_state_never_deletes_what_follows_a_nul() {
    let dir = tempfile::tempdir().unwrap();
    stack_with(dir.path(), "");
    {
        // Both resources recorded as applied: a plan of the file cut at the NUL would delete `www`.
        let store = meshctl_state::SledStore::open(&dir.path().join("state/demo"), "demo").unwrap();
        let records = ["route53_zone.public", "dns_record.www"].map(|address| {
            serde_json::from_value::<meshctl_model::record::NodeRecord>(serde_json::json!({
                "address": address, "status": "ok", "desired": {}
            }))
            .unwrap()
        });
        meshctl_state::StateStore::commit(
            &store,
            meshctl_state::Change {
                put: records.to_vec(),
                ..Default::default()
            },
        )
        .unwrap();
    }
    stack_with(dir.path(), "\0");
    let out = meshctl(dir.path(), &["plan", "-f", "stack.yaml", "--refresh=false"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("delete"), "{stdout}");
    assert!(stderr.contains("forbidden-character"), "{stderr}");
}

#[test]
fn terminal_controls_in_names_are_shown_escaped_in_validate_text_output() {
    let dir = tempfile::tempdir().unwrap();
    // ESC and BEL through YAML escapes (allowed), a right-to-left override written as it is.
    stack_with(
        dir.path(),
        "  - { kind: route53_zone, name: \"x\\e]0;owned\\a\", domain: a.example.com }\n  - { kind: route53_zone, name: \"y\u{202e}z\", domain: b.example.com }",
    );
    let out = meshctl(dir.path(), &["validate", "-f", "stack.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    for raw in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!err.contains(raw), "raw {raw:?} in {err}");
    }
    assert!(err.contains("`x\\u{1b}]0;owned\\u{7}`"), "{err}");
    assert!(err.contains("`y\\u{202e}z`"), "{err}");
}

#[test]
fn a_one_line_json_stack_is_reported_in_a_page_cut_around_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (json, at) = hostile::one_line_json_bad_label(10_000);
    std::fs::write(dir.path().join("stack.yaml"), &json).unwrap();
    let (code, found) = located(dir.path());
    assert_eq!(code, Some(1));
    assert_eq!(found, [("bad-label".to_string(), 1, at as u64 + 1)]);
    let out = meshctl(dir.path(), &["validate", "-f", "stack.yaml"]);
    let err = text(&out.stderr);
    // The 1.2 MB line is shown as a window around the value, not whole.
    assert!(err.len() < 2_000, "{} bytes", err.len());
    let snippet = err
        .lines()
        .find(|l| l.starts_with("1 |"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(snippet.contains("…\"en abled\"") || snippet.contains("\"en abled\""));
    assert!(
        snippet.starts_with("1 | …") && snippet.ends_with('…'),
        "{snippet}"
    );
}

#[test]
fn terminal_controls_in_values_are_shown_escaped_in_plan_text_output() {
    let dir = tempfile::tempdir().unwrap();
    // JSON escapes the ESC already; the right-to-left override is not a JSON escape.
    let stack = "stack: demo\nregion: us-east-1\nkube: { kubeconfig: kc }\nresources:\n  - kind: manifest\n    name: cm\n    objects:\n      - { apiVersion: v1, kind: ConfigMap, metadata: { name: cm, namespace: default }, data: { greeting: \"hi\\e[2J \u{202e} end\" } }\n";
    std::fs::write(dir.path().join("stack.yaml"), stack).unwrap();
    let out = meshctl(dir.path(), &["plan", "-f", "stack.yaml", "--refresh=false"]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}\n{}", text(&out.stderr));
    assert!(
        shown.contains(r#"objects[0].data.greeting = "hi\u001b[2J \u{202e} end""#),
        "{shown}"
    );
    assert!(
        !shown.contains('\u{202e}') && !shown.contains('\u{1b}'),
        "{shown}"
    );
}
