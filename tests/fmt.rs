//! `meshctl fmt`: a commented stack formats to its golden file with every comment kept; formatting
//! is idempotent and never changes meaning (every stack in `stacks/` and every YAML fixture under
//! `tests/` loads to the same resources, header and diagnostics before and after); what it cannot
//! format safely it refuses with file:line:col and leaves alone; `--check` and `--diff` through
//! the binary, with their exit codes.

use meshctl_model::{fmt, load, SourceFile, VarOverrides};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn meshctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every `.yaml` file in `stacks/` and under `tests/` with its text (the few that are not UTF-8
/// on purpose are left out: fmt reports them before formatting).
fn yaml_files() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut pending = vec![repo().join("stacks"), repo().join("tests")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 100, "found only {files:?}");
    files
        .into_iter()
        .filter_map(|path| {
            let text = String::from_utf8(std::fs::read(&path).unwrap()).ok()?;
            Some((path, text))
        })
        .collect()
}

/// What a file loads to, comparable across layouts: the header, each resource's address, typed
/// spec, dependencies and lifecycle, or the diagnostics' codes and field paths.
fn loaded(name: &str, text: &str) -> String {
    let result = load(&SourceFile::new(name, text), &VarOverrides::default());
    let mut summary = Vec::new();
    if let Some(stack) = &result.stack {
        summary.push(serde_json::to_string(&stack.header).unwrap());
        for resource in &stack.resources {
            summary.push(format!(
                "{} {} depends_on={:?} lifecycle={:?}",
                resource.address,
                serde_json::to_string(&resource.spec).unwrap(),
                resource.depends_on,
                resource.lifecycle
            ));
        }
        summary.push(format!("{} outputs", stack.outputs.len()));
    }
    let mut diagnostics: Vec<String> = result
        .diagnostics
        .iter()
        .map(|d| format!("{:?} {} {:?}", d.severity, d.code, d.path))
        .collect();
    diagnostics.sort();
    summary.extend(diagnostics);
    summary.join("\n")
}

#[test]
fn a_commented_stack_formats_to_its_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.yaml");
    std::fs::copy(repo().join("tests/fmt/commented.yaml"), &file).unwrap();
    let output = meshctl(dir.path(), &["fmt", "stack.yaml"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("stack.yaml: formatted"),
        "{}",
        text(&output.stderr)
    );
    let formatted = std::fs::read_to_string(&file).unwrap();
    let golden =
        std::fs::read_to_string(repo().join("tests/fmt/commented.formatted.yaml")).unwrap();
    assert_eq!(formatted, golden);
    // Every comment of the original is in the result.
    let original = std::fs::read_to_string(repo().join("tests/fmt/commented.yaml")).unwrap();
    for comment in original
        .lines()
        .filter_map(|l| l.find('#').map(|i| &l[i..]))
    {
        assert!(
            formatted.contains(comment),
            "{comment:?} lost:\n{formatted}"
        );
    }
    // Formatting the result again changes nothing.
    let again = meshctl(dir.path(), &["fmt", "--check", "stack.yaml"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
}

#[test]
fn every_example_stack_formats_and_stays_put_when_formatted_again() {
    for (path, original) in yaml_files() {
        let in_stacks = path.starts_with(repo().join("stacks"));
        let once = match fmt::format(&original) {
            Ok(once) => once,
            Err(e) => {
                assert!(!in_stacks, "{}: {e}", path.display());
                continue;
            }
        };
        let twice =
            fmt::format(&once).unwrap_or_else(|e| panic!("{}: {e}\n{once}", path.display()));
        assert_eq!(twice, once, "{}: not idempotent", path.display());
    }
}

#[test]
fn formatting_never_changes_what_a_stack_loads_to() {
    let mut formatted = 0;
    for (path, original) in yaml_files() {
        let Ok(result) = fmt::format(&original) else {
            continue;
        };
        formatted += 1;
        let name = path.display().to_string();
        assert_eq!(
            loaded(&name, &result),
            loaded(&name, &original),
            "{name}: loads differently once formatted:\n{result}"
        );
        if let Ok(before) = meshctl_model::yaml::parse(&original) {
            let after = meshctl_model::yaml::parse(&result).unwrap();
            assert!(fmt::same_meaning(&before, &after), "{name}:\n{result}");
        }
    }
    assert!(formatted > 100, "only {formatted} files formatted");
}

#[test]
fn check_names_unformatted_files_and_exits_1_without_changing_them() {
    let dir = tempfile::tempdir().unwrap();
    let golden = repo().join("tests/fmt/commented.formatted.yaml");
    std::fs::copy(&golden, dir.path().join("tidy.yaml")).unwrap();
    std::fs::copy(
        repo().join("tests/fmt/commented.yaml"),
        dir.path().join("messy.yaml"),
    )
    .unwrap();

    let tidy = meshctl(dir.path(), &["fmt", "--check", "tidy.yaml"]);
    assert_eq!(tidy.status.code(), Some(0), "{}", text(&tidy.stderr));
    assert_eq!(text(&tidy.stdout), "");

    let messy = meshctl(dir.path(), &["fmt", "--check", "tidy.yaml", "messy.yaml"]);
    assert_eq!(messy.status.code(), Some(1));
    let stderr = text(&messy.stderr);
    assert!(stderr.contains("messy.yaml: not formatted"), "{stderr}");
    assert!(!stderr.contains("tidy.yaml"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("messy.yaml")).unwrap(),
        std::fs::read(repo().join("tests/fmt/commented.yaml")).unwrap(),
        "--check changed the file"
    );

    let diff = meshctl(dir.path(), &["fmt", "--check", "--diff", "messy.yaml"]);
    assert_eq!(diff.status.code(), Some(1));
    let stdout = text(&diff.stdout);
    assert!(stdout.contains("--- messy.yaml (original)"), "{stdout}");
    assert!(stdout.contains("+  domain: example.org"), "{stdout}");

    let fixed = meshctl(dir.path(), &["fmt", "messy.yaml"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", text(&fixed.stderr));
    let now = meshctl(dir.path(), &["fmt", "--check", "messy.yaml"]);
    assert_eq!(now.status.code(), Some(0), "{}", text(&now.stderr));

    // Standard input to standard output.
    let piped = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .arg("fmt")
        .stdin(std::fs::File::open(repo().join("tests/fmt/commented.yaml")).unwrap())
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(0));
    assert_eq!(
        text(&piped.stdout),
        std::fs::read_to_string(&golden).unwrap()
    );
}

#[test]
fn what_fmt_cannot_keep_is_refused_with_its_place_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let anchored =
        "stack: s\nregion: r\nvars:\n  base: &base 10.0.0.0/16\n  copy: *base\nresources: []\n";
    std::fs::write(dir.path().join("anchored.yaml"), anchored).unwrap();
    let multi_line_flow = "stack: s\nregion: r\nresources: [\n  ]\n";
    std::fs::write(dir.path().join("flow.yaml"), multi_line_flow).unwrap();
    for (file, place, words, original) in [
        ("anchored.yaml", "anchored.yaml:4:9:", "anchor", anchored),
        (
            "flow.yaml",
            "flow.yaml:3:12:",
            "flow collection",
            multi_line_flow,
        ),
    ] {
        for args in [vec!["fmt", file], vec!["fmt", "--check", file]] {
            let output = meshctl(dir.path(), &args);
            assert_eq!(output.status.code(), Some(1), "{args:?}");
            let stderr = text(&output.stderr);
            assert!(stderr.contains(place), "{args:?}: {stderr}");
            assert!(stderr.contains(words), "{args:?}: {stderr}");
            assert_eq!(
                std::fs::read_to_string(dir.path().join(file)).unwrap(),
                original
            );
        }
    }
    // Not YAML at all: the parser's diagnostic, and the file is left alone.
    std::fs::write(dir.path().join("broken.yaml"), "stack: [\n").unwrap();
    let broken = meshctl(dir.path(), &["fmt", "broken.yaml"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        text(&broken.stderr).contains("broken.yaml"),
        "{}",
        text(&broken.stderr)
    );
}

#[test]
fn the_example_stacks_are_formatted() {
    let stacks = repo().join("stacks");
    let mut names: Vec<String> = std::fs::read_dir(&stacks)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    let mut args = vec!["fmt", "--check"];
    args.extend(names.iter().map(String::as_str));
    let out = meshctl(&stacks, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "run `meshctl fmt stacks/*.yaml`:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
