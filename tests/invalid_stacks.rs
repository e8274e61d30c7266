//! The invalid-stack corpus: every `tests/invalid/*.yaml` must fail `meshctl validate` with
//! exactly the diagnostics its author wrote down in it, and render as its `.out` snapshot.
//!
//! Expectations are hand-written comment lines under the offending line, as in rustc's UI tests:
//!
//! ```yaml
//!     zone: pubic
//! #         ^ dangling-reference resources[3].zone
//! ```
//!
//! The caret's column is the expected column, the line is the nearest line above that is not an
//! expectation; the code is required, the field path optional. For a problem at column 1, write
//! `# expect: CODE @ LINE:COL [PATH]`. Run with `UPDATE_SNAPSHOTS=1` to rewrite the `.out` files
//! after checking the change by eye.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    line: u64,
    col: u64,
    code: String,
    path: Option<String>,
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/invalid exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn expectations(text: &str) -> Vec<Expected> {
    let mut found = Vec::new();
    let mut target_line = 0u64;
    for (i, line) in text.lines().enumerate() {
        let number = i as u64 + 1;
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("# expect:") {
            // `# expect: CODE @ LINE:COL [PATH]`
            let (code, rest) = rest.trim().split_once('@').expect("`# expect: CODE @ L:C`");
            let mut parts = rest.split_whitespace();
            let (l, c) = parts.next().and_then(|p| p.split_once(':')).expect("L:C");
            found.push(Expected {
                line: l.parse().expect("line number"),
                col: c.parse().expect("column number"),
                code: code.trim().to_string(),
                path: parts.next().map(str::to_string),
            });
            continue;
        }
        if trimmed.starts_with('#') && trimmed[1..].trim_start().starts_with('^') {
            let col = line.find('^').expect("caret") as u64 + 1;
            let after = line[col as usize - 1..].trim_start_matches('^');
            let mut parts = after.split_whitespace();
            found.push(Expected {
                line: target_line,
                col,
                code: parts
                    .next()
                    .expect("a diagnostic code after the caret")
                    .to_string(),
                path: parts.next().map(str::to_string),
            });
            continue;
        }
        target_line = number;
    }
    found
}

fn meshctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("meshctl runs")
}

#[test]
fn corpus_is_large_enough() {
    assert!(
        corpus().len() >= 60,
        "the corpus has {} stacks; the issue asks for at least 60",
        corpus().len()
    );
}

#[test]
fn every_invalid_stack_reports_exactly_its_expected_diagnostics() {
    let mut failures = Vec::new();
    for file in corpus() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        // Lossy: a corpus file may hold bytes that are not UTF-8 on purpose (its expectations do not).
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        let expected: BTreeSet<Expected> = expectations(&text).into_iter().collect();
        if expected.is_empty() {
            failures.push(format!("{name}: no expectations written"));
            continue;
        }
        let out = meshctl(&["validate", "-f", file.to_str().unwrap(), "--format", "json"]);
        if out.status.code() != Some(1) {
            failures.push(format!(
                "{name}: exit code {:?}, expected 1\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let report: Value =
            serde_json::from_slice(&out.stdout).expect("validate --format json prints JSON");
        let mut actual = BTreeSet::new();
        for d in report["diagnostics"].as_array().unwrap() {
            let (Some(line), Some(col)) = (d["line"].as_u64(), d["col"].as_u64()) else {
                failures.push(format!("{name}: diagnostic without a location: {d}"));
                continue;
            };
            actual.insert(Expected {
                line,
                col,
                code: d["code"].as_str().unwrap().to_string(),
                path: d["path"].as_str().map(str::to_string),
            });
        }
        // A path in an expectation must match; without one, any path matches.
        let matches = |e: &Expected, a: &Expected| {
            e.line == a.line
                && e.col == a.col
                && e.code == a.code
                && e.path.as_ref().is_none_or(|p| Some(p) == a.path.as_ref())
        };
        let missing: Vec<_> = expected
            .iter()
            .filter(|e| !actual.iter().any(|a| matches(e, a)))
            .collect();
        let unexpected: Vec<_> = actual
            .iter()
            .filter(|a| !expected.iter().any(|e| matches(e, a)))
            .collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            failures.push(format!(
                "{name}:\n  missing:    {missing:?}\n  unexpected: {unexpected:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus files disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_invalid_stack_renders_as_its_snapshot() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut failures = Vec::new();
    for file in corpus() {
        let rel = format!(
            "tests/invalid/{}",
            file.file_name().unwrap().to_string_lossy()
        );
        // Run from the repository root so the rendered file names are stable.
        let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
            .args(["validate", "-f", &rel])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let rendered = String::from_utf8_lossy(&out.stderr).to_string();
        let snapshot = file.with_extension("out");
        if update {
            std::fs::write(&snapshot, &rendered).unwrap();
            continue;
        }
        match std::fs::read_to_string(&snapshot) {
            Ok(expected) if expected == rendered => {}
            Ok(expected) => failures.push(format!(
                "{rel}: rendering changed\n--- expected\n{expected}\n--- actual\n{rendered}"
            )),
            Err(_) => failures.push(format!(
                "{rel}: no snapshot {}; run with UPDATE_SNAPSHOTS=1 and review it",
                snapshot.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_stack_file_over_the_size_limit_is_refused_where_the_limit_falls_without_reading_it_all() {
    // Generated, not committed: 40 MB of one list under an otherwise valid header.
    let dir = std::env::temp_dir().join(format!("meshctl-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("large.yaml");
    let line = "  - a value that takes up room\n";
    let mut text = String::from("stack: demo\nregion: ap-northeast-2\nresources: []\nroom:\n");
    text.push_str(&line.repeat(40_000_000 / line.len()));
    std::fs::write(&path, &text).unwrap();
    let out = meshctl(&["validate", "-f", path.to_str().unwrap(), "--format", "json"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["diagnostics"][0];
    let limit = meshctl_model::limits::MAX_FILE_BYTES;
    let before = &text[..limit];
    let line_number = before.matches('\n').count() + 1;
    let col = limit - before.rfind('\n').unwrap();
    assert_eq!(
        (
            d["code"].as_str(),
            d["line"].as_u64(),
            d["col"].as_u64(),
            d["offset"].as_u64()
        ),
        (
            Some("file-too-large"),
            Some(line_number as u64),
            Some(col as u64),
            Some(limit as u64)
        ),
        "{report}"
    );
    assert_eq!(report["diagnostics"].as_array().unwrap().len(), 1);
}
