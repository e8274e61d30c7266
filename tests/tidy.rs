//! Tidy: the repository keeps the promises its documents make, in the spirit of rust-analyzer's
//! `tidy.rs`. Every `.rs` file opens with a `//!` line; every kind has its section in
//! docs/stack-language.md; every diagnostic code is in docs/diagnostics.md; ARCHITECTURE.md's code
//! map names every crate, module and edge rule that exists. Each failure says what is missing and
//! where to add it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_root().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// `path` relative to the repository root, with `/` separators, for messages.
fn relative(path: &Path) -> String {
    let root = repo_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every file under `dir` whose name ends with `extension`, skipping build output and hidden
/// directories, sorted so that messages are stable.
fn files_under(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    pending.push(path);
                }
            } else if name.ends_with(extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The text from `heading` (a whole line) to the next heading of the same or a higher level,
/// outside fenced code blocks (where `# comment` is no heading).
fn section<'a>(text: &'a str, heading: &str) -> Option<&'a str> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut start = None;
    let mut in_code = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code {
            let hashes = trimmed.chars().take_while(|c| *c == '#').count();
            let is_heading = hashes > 0 && trimmed[hashes..].starts_with(' ');
            match start {
                None if trimmed == heading => start = Some(offset),
                Some(from) if is_heading && hashes <= level => return text.get(from..offset),
                _ => {}
            }
        }
        offset += line.len();
    }
    start.and_then(|from| text.get(from..))
}

fn report(problems: &[String], what: &str) {
    assert!(
        problems.is_empty(),
        "{} {what}:\n  {}\n",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn every_rust_file_opens_with_a_doc_line() {
    let mut problems = Vec::new();
    for file in files_under(&repo_root(), ".rs") {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let first = text.lines().next().unwrap_or("");
        if !first.starts_with("//!") {
            let found = match first.trim() {
                "" => "empty".to_string(),
                text => format!("`{}`", text.chars().take(60).collect::<String>()),
            };
            problems.push(format!(
                "{}: line 1 is {found}; make line 1 a `//!` line saying what the file is for",
                relative(&file)
            ));
        }
    }
    report(
        &problems,
        ".rs files do not open with a `//!` line (ARCHITECTURE.md, invariant 5)",
    );
}

#[test]
fn every_kind_has_its_section_in_the_language_reference() {
    let doc = read("docs/stack-language.md");
    let kinds_section = section(&doc, "## Kinds")
        .expect("docs/stack-language.md has a `## Kinds` section holding one `### KIND` per kind");
    let mut in_code = false;
    let documented: Vec<&str> = kinds_section
        .lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            !in_code
        })
        .filter_map(|l| l.strip_prefix("### "))
        .map(str::trim)
        .collect();
    let mut problems = Vec::new();
    for kind in meshctl_model::Kind::names() {
        if !documented.contains(&kind) {
            problems.push(format!(
                "kind `{kind}` has no section: add `### {kind}` under `## Kinds` in \
                 docs/stack-language.md (its fields, defaults, outputs and an example)"
            ));
        }
    }
    for title in &documented {
        if !meshctl_model::Kind::names().any(|k| k == *title) {
            problems.push(format!(
                "`### {title}` under `## Kinds` in docs/stack-language.md is no kind \
                 (meshctl_model::Kind::names()): rename it to the kind it documents, or remove it"
            ));
        }
    }
    report(
        &problems,
        "gaps between the kinds and docs/stack-language.md",
    );
}

/// The calls that take a diagnostic code as their first argument. Codes are string literals at
/// the place that reports them (there is no list of codes in the code), so they are collected by
/// scanning the source of every crate that makes `Diagnostic`s for these calls.
const CODE_CALLS: &[&str] = &[
    "Diagnostic::error(",
    "Diagnostic::warning(",
    // `de::invalid(code, message, help)`: a value check failing inside serde.
    "invalid(",
    "DeError::new(",
    // `values::fail(code, …)` and `LocalChecks::error(code, …)`.
    "fail(",
    ".error(",
];
const DIAGNOSTIC_CRATES: &[&str] = &["model", "graph", "plan", "cli"];

/// A diagnostic code: kebab-case, lowercase.
fn is_code(text: &str) -> bool {
    !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.ends_with('-')
        && !text.contains("--")
}

/// Every code literal in `source` (up to its unit tests, which may make codes up), with the line
/// it is on.
fn codes_in(source: &str) -> Vec<(String, usize)> {
    let body = source.split("#[cfg(test)]").next().unwrap_or(source);
    let mut found = Vec::new();
    for call in CODE_CALLS {
        for (at, _) in body.match_indices(call) {
            // `invalid(` and `fail(` must be whole names (not `is_invalid(`).
            let before = body[..at].chars().next_back();
            if !call.starts_with(['.', 'D'])
                && before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let rest = body[at + call.len()..].trim_start();
            let Some(literal) = rest.strip_prefix('"') else {
                continue;
            };
            let Some(code) = literal.split('"').next().filter(|c| is_code(c)) else {
                continue;
            };
            found.push((code.to_string(), body[..at].lines().count().max(1)));
        }
    }
    found
}

#[test]
fn every_diagnostic_code_is_documented() {
    let doc = read("docs/diagnostics.md");
    let documented = |code: &str| {
        doc.contains(&format!("| `{code}` |")) || doc.contains(&format!("| `{code}` (warning) |"))
    };
    // Code → the first place that reports it.
    let mut missing: BTreeMap<String, String> = BTreeMap::new();
    let mut emitted = std::collections::BTreeSet::new();
    let mut seen = 0;
    for krate in DIAGNOSTIC_CRATES {
        for file in files_under(&repo_root().join("crates").join(krate).join("src"), ".rs") {
            let source = std::fs::read_to_string(&file).unwrap_or_default();
            for (code, line) in codes_in(&source) {
                seen += 1;
                emitted.insert(code.clone());
                if !documented(&code) {
                    missing
                        .entry(code)
                        .or_insert_with(|| format!("{}:{line}", relative(&file)));
                }
            }
        }
    }
    assert!(
        seen > 50,
        "found only {seen} diagnostic codes in crates/{{{}}}/src: has the way codes are written \
         changed? Update CODE_CALLS in tests/tidy.rs",
        DIAGNOSTIC_CRATES.join(",")
    );
    let mut problems: Vec<String> = missing
        .into_iter()
        .map(|(code, at)| {
            format!(
                "`{code}` (reported at {at}) is not in docs/diagnostics.md: add a row \
                 `| `{code}` | Reported when … | Typical fix |` to the table of its section"
            )
        })
        .collect();
    for code in documented_codes(&doc) {
        if !emitted.contains(code) {
            problems.push(format!(
                "docs/diagnostics.md documents `{code}`, which nothing in crates/{{{}}}/src \
                 reports: remove its row, or correct the code",
                DIAGNOSTIC_CRATES.join(",")
            ));
        }
    }
    report(
        &problems,
        "differences between the diagnostic codes and docs/diagnostics.md",
    );
}

/// The codes in the first column of docs/diagnostics.md's `| Code | Reported when |` tables.
fn documented_codes(doc: &str) -> Vec<&str> {
    let mut codes = Vec::new();
    let mut in_code_table = false;
    for line in doc.lines() {
        if !line.starts_with('|') {
            in_code_table = false;
        } else if line.starts_with("| Code | Reported when |") {
            in_code_table = true;
        } else if in_code_table {
            let first = line.split('|').nth(1).unwrap_or("").trim();
            if let Some(code) = first.strip_prefix('`').and_then(|c| c.split('`').next()) {
                codes.push(code);
            }
        }
    }
    codes
}

/// The `- **crates/NAME**` bullets of ARCHITECTURE.md's code map, by crate directory.
fn code_map_bullets(architecture: &str) -> BTreeMap<String, String> {
    let code_map =
        section(architecture, "## Code map").expect("ARCHITECTURE.md has a `## Code map` section");
    let mut bullets = BTreeMap::new();
    for bullet in code_map.split("\n- **").skip(1) {
        if let Some(name) = bullet
            .strip_prefix("crates/")
            .and_then(|rest| rest.split("**").next())
        {
            bullets.insert(name.trim_end_matches('/').to_string(), bullet.to_string());
        }
    }
    bullets
}

/// Whether `bullet` names `module`: `` `module` ``, `` `module::…` `` or `` `src/module/` ``.
fn names_module(bullet: &str, module: &str) -> bool {
    bullet.split('`').skip(1).step_by(2).any(|quoted| {
        quoted == module
            || quoted.starts_with(&format!("{module}::"))
            || quoted == format!("src/{module}/")
            || quoted == format!("src/{module}.rs")
    })
}

/// The modules of a crate that the code map must name: every `src/*.rs` but the crate roots and
/// every `src/*/` directory; under `src/bin/`, each binary and module the binaries share.
fn modules_of(crate_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut modules = Vec::new();
    let Ok(entries) = std::fs::read_dir(crate_dir.join("src")) else {
        return modules;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() && name == "bin" {
            modules.extend(modules_of_bin(&path));
        } else if path.is_dir() {
            modules.push((name, path));
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if !["lib", "main", "mod"].contains(&stem) {
                modules.push((stem.to_string(), path));
            }
        }
    }
    modules
}

fn modules_of_bin(bin: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(bin)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            let name = name
                .strip_suffix(".rs")
                .map_or(name.clone(), str::to_string);
            Some((name, path))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn the_code_map_names_every_crate_and_module() {
    let architecture = read("ARCHITECTURE.md");
    let bullets = code_map_bullets(&architecture);
    let mut crate_dirs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("crates"))
        .expect("crates/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    crate_dirs.sort();
    let mut problems = Vec::new();
    for dir in &crate_dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(bullet) = bullets.get(&name) else {
            problems.push(format!(
                "crate crates/{name} has no bullet: add `- **crates/{name}** (`meshctl-…`) — what \
                 it is for, then each module` under `## Code map` in ARCHITECTURE.md"
            ));
            continue;
        };
        for (module, path) in modules_of(dir) {
            if !names_module(bullet, &module) {
                problems.push(format!(
                    "{} is not named: add `{module}` and what it does to the \
                     `- **crates/{name}**` bullet of ARCHITECTURE.md's code map",
                    relative(&path)
                ));
            }
        }
    }
    for name in bullets.keys() {
        if !crate_dirs.iter().any(|d| d.ends_with(name)) {
            problems.push(format!(
                "the `- **crates/{name}**` bullet of ARCHITECTURE.md's code map names a crate \
                 that does not exist: remove it or correct its name"
            ));
        }
    }
    // The model's edge rules are the one place dependencies come from: the map says which exist.
    if let Some(model) = bullets.get("model") {
        for rule in meshctl_model::link::rule_names() {
            if !names_module(model, rule) {
                problems.push(format!(
                    "edge rule `{rule}` (crates/model/src/link) is not named: add `{rule}` and \
                     the edges it makes to the description of `link` in the \
                     `- **crates/model**` bullet of ARCHITECTURE.md's code map"
                ));
            }
        }
    }
    report(&problems, "gaps in ARCHITECTURE.md's code map");
}
