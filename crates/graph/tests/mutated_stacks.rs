//! Property test: the example stacks, mutated at random the way hands and editors damage YAML,
//! never make `validate` panic, and every rejection carries at least one located diagnostic.

use meshctl_model::{SourceFile, VarOverrides};
use proptest::prelude::*;
use std::path::Path;

fn examples() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks");
    let mut stacks: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    stacks.sort();
    stacks
}

/// Fragments that break YAML structure, types, references or interpolation.
const TOKENS: &[&str] = &[
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "\t",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "|",
    ">",
    ",",
    "? ",
    "${",
    "}",
    "${var.nope}",
    "${alb.nope.dns_name}",
    "${vpc.main.nope}",
    "${eks_cluster.main.arn}",
    "0",
    "-1",
    "70000",
    "99999999999999999999999",
    "1e999",
    "true",
    "null",
    "~",
    "[]",
    "{}",
    "é",
    "\u{feff}",
    "\u{0}",
    "AKIAZ72NSUCESVG47F6A",
    "*.",
    "..",
    "10.0.0.1/33",
    "kind: vpc",
    "name: main",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Indent(usize, usize),
    Dedent(usize),
    Insert(usize, usize, usize),
    ReplaceValue(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = 0..10_000usize;
    prop_oneof![
        n.clone().prop_map(Mutation::DeleteLine),
        n.clone().prop_map(Mutation::DuplicateLine),
        (n.clone(), n.clone()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (n.clone(), 1..4usize).prop_map(|(a, b)| Mutation::Indent(a, b)),
        n.clone().prop_map(Mutation::Dedent),
        (n.clone(), 0..200usize, 0..TOKENS.len()).prop_map(|(l, c, t)| Mutation::Insert(l, c, t)),
        (n.clone(), 0..TOKENS.len()).prop_map(|(l, t)| Mutation::ReplaceValue(l, t)),
        (0..100_000usize).prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return String::new();
    }
    let len = lines.len();
    match *m {
        Mutation::DeleteLine(i) => {
            lines.remove(i % len);
        }
        Mutation::DuplicateLine(i) => {
            let line = lines[i % len].clone();
            lines.insert(i % len, line);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % len, b % len),
        Mutation::Indent(i, by) => lines[i % len].insert_str(0, &" ".repeat(by)),
        Mutation::Dedent(i) => {
            let line = &mut lines[i % len];
            if line.starts_with(' ') {
                line.remove(0);
            }
        }
        Mutation::Insert(i, col, t) => {
            let line = &mut lines[i % len];
            let at = line
                .char_indices()
                .nth(col % (line.chars().count() + 1))
                .map_or(line.len(), |(b, _)| b);
            line.insert_str(at, TOKENS[t]);
        }
        Mutation::ReplaceValue(i, t) => {
            let line = &mut lines[i % len];
            if let Some(colon) = line.find(": ") {
                line.truncate(colon + 2);
                line.push_str(TOKENS[t]);
            }
        }
        Mutation::Truncate(at) => {
            let joined = lines.join("\n");
            let cut = joined
                .char_indices()
                .nth(at % (joined.chars().count() + 1))
                .map_or(joined.len(), |(b, _)| b);
            return joined[..cut].to_string();
        }
    }
    lines.join("\n") + "\n"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_stacks_never_panic_and_rejections_are_located(
        which in 0..64usize,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let stacks = examples();
        let (name, original) = &stacks[which % stacks.len()];
        let mut text = original.clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        let source = SourceFile::new(name.clone(), text);
        let (checked, diagnostics) = meshctl_graph::validate(&source, &VarOverrides::default());
        let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
        prop_assert_eq!(checked.is_none(), !errors.is_empty(), "a stack is rejected exactly when there are errors");
        let last_line = source.line_count() + 1;
        for d in &diagnostics {
            let span = d.span.ok_or_else(|| TestCaseError::fail(format!("unlocated diagnostic {d:?}")))?;
            prop_assert!(span.line >= 1 && span.line <= last_line, "{d:?} points outside the file");
            prop_assert!(!d.message.is_empty());
            prop_assert!(d.help.is_some(), "every diagnostic says what to do: {:?}", d);
        }
        // Rendering never panics either.
        let _ = meshctl_model::diagnostic::render_text(&diagnostics, &source, true);
    }
}
