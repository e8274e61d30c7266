//! Hostile and broken input is bounded (issue 19, item 5): alias and merge-key bombs, 10,000-deep
//! nesting in block and flow style, a 50 MB file, 100,000 unknown fields, 10,000 duplicates, a
//! byte-order mark, invalid UTF-8; and the same class through vars and through millions of
//! diagnostics. Each gets one located diagnostic (or a capped report) quickly;
//! `crates/plan/benches/hostile_input.rs` times the same files and measures their peak heap.

mod support;

use meshctl_model::diagnostic::render_text;
use meshctl_model::limits::{MAX_DEPTH, MAX_FILE_BYTES, MAX_REPORTS_PER_CODE};
use meshctl_model::{load, Diagnostic, SourceFile, VarOverrides};
use support::hostile;

fn diagnostics(text: &str) -> Vec<Diagnostic> {
    load(&SourceFile::new("h.yaml", text), &VarOverrides::default()).diagnostics
}

/// Code, line and column of every diagnostic.
fn located(found: &[Diagnostic]) -> Vec<(&str, u32, u32)> {
    found
        .iter()
        .map(|d| {
            let span = d
                .span
                .unwrap_or_else(|| panic!("{} has no location", d.code));
            (d.code.as_str(), span.line, span.col)
        })
        .collect()
}

#[test]
fn a_billion_laughs_stops_at_the_alias_that_passes_the_node_limit() {
    // Line 9 repeats line 8's 111,111 values; its fourth alias passes a million.
    let found = diagnostics(&hostile::billion_laughs(9));
    assert_eq!(located(&found), [("alias-expansion-too-large", 9, 40)]);
}

#[test]
fn a_merge_key_bomb_stops_the_same_way() {
    let found = diagnostics(&hostile::merge_key_bomb(9));
    assert_eq!(located(&found), [("alias-expansion-too-large", 8, 30)]);
}

#[test]
fn merge_keys_with_mapping_values_still_merge() {
    // `vars` is a mapping the loader keeps as written: a handy anchor for the test.
    let text = "stack: s\nregion: us-east-1\nkube: { kubeconfig: kc }\nvars: &common { team: web }\nresources:\n  - kind: namespace\n    name: app\n    labels:\n      <<: *common\n      tier: front\n";
    let document = load(&SourceFile::new("m.yaml", text), &VarOverrides::default());
    assert!(
        document.diagnostics.is_empty(),
        "{:?}",
        document.diagnostics
    );
    let stack = document.stack.expect("a valid stack");
    let labels = stack
        .document
        .find(&meshctl_model::FieldPath::parse("resources[0].labels").unwrap())
        .unwrap();
    assert_eq!(labels.get("team").and_then(|n| n.as_str()), Some("web"));
    assert_eq!(labels.get("tier").and_then(|n| n.as_str()), Some("front"));
}

#[test]
fn nesting_past_the_limit_is_reported_where_the_first_level_too_deep_opens_block_and_flow() {
    // The document's mapping is level 1 and `deep:`'s value level 2, so the n-th nested list or
    // mapping is level n + 1: the first one past the limit is number MAX_DEPTH.
    let too_deep = u32::try_from(MAX_DEPTH).unwrap();
    let block = diagnostics(&hostile::deep_block_sequences(10_000));
    assert_eq!(
        located(&block),
        [("nesting-too-deep", 5, 2 * (too_deep - 1) + 1)]
    );
    // One space of indentation per level (5,000 levels keep the file under the size limit);
    // reported at the key of the mapping too deep, on line 4 + MAX_DEPTH.
    let mappings = diagnostics(&hostile::deep_block_mappings(5_000));
    assert_eq!(
        located(&mappings),
        [("nesting-too-deep", 4 + too_deep, too_deep + 1)]
    );
    // `deep: ` is 6 characters: the n-th `[` is at column 6 + n. yaml-rust2 itself gives up at
    // 255 levels of brackets, reading ahead; the place reported is still the first too deep.
    let flow = diagnostics(&hostile::deep_flow_sequences(10_000));
    assert_eq!(located(&flow), [("nesting-too-deep", 4, 6 + too_deep)]);
    let flow_maps = diagnostics(&hostile::deep_flow_mappings(10_000));
    assert_eq!(
        located(&flow_maps),
        [("nesting-too-deep", 4, 7 + (too_deep - 1) * 4)]
    );
}

#[test]
fn nesting_up_to_the_limit_is_read_and_checked_without_overflowing_the_stack() {
    // A manifest's objects are free-form: nested to the limit, they reach the typed reader and
    // every check (the document, resources, the resource, objects and the object take 5 levels).
    let manifest = |levels: usize| {
        let mut text = "stack: s\nregion: us-east-1\nkube: { kubeconfig: kc }\nresources:\n  - kind: manifest\n    name: deep\n    objects:\n      - { apiVersion: example.com/v1, kind: Widget, metadata: { name: deep, namespace: default }, spec: ".to_string();
        text.push_str(&"{a: ".repeat(levels));
        text.push('1');
        text.push_str(&"}".repeat(levels));
        text.push_str(" }\n");
        text
    };
    let text = manifest(MAX_DEPTH - 5);
    let loaded = load(
        &SourceFile::new("deep.yaml", text),
        &VarOverrides::default(),
    );
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert!(loaded.stack.is_some());
    // One more level is one too many.
    assert_eq!(
        located(&diagnostics(&manifest(MAX_DEPTH - 4)))[0].0,
        "nesting-too-deep"
    );
}

#[test]
fn a_50_mb_file_is_refused_where_the_16_mib_limit_falls() {
    let text = hostile::file_of_tags(50_000_000);
    let found = diagnostics(&text);
    // Line and column of byte 16 MiB, counted independently of the loader.
    let before = &text[..MAX_FILE_BYTES];
    let line = before.matches('\n').count() as u32 + 1;
    let col = (before.len() - before.rfind('\n').unwrap()) as u32;
    assert_eq!(located(&found), [("file-too-large", line, col)]);
    assert_eq!(found[0].span.unwrap().offset, MAX_FILE_BYTES);
}

#[test]
fn a_file_of_tags_under_the_size_limit_is_read() {
    let found = diagnostics(&hostile::file_of_tags(12_000_000));
    assert_eq!(located(&found), [("unknown-field", 4, 1)]);
}

#[test]
fn a_hundred_thousand_unknown_fields_are_reported_fifty_and_then_how_many_more() {
    let found = diagnostics(&hostile::unknown_fields(100_000));
    assert_eq!(found.len(), MAX_REPORTS_PER_CODE + 1);
    // field0 is on line 7; the first not shown, field50, on line 57.
    let expected: Vec<(&str, u32, u32)> = (0..=MAX_REPORTS_PER_CODE as u32)
        .map(|i| ("unknown-field", 7 + i, 5))
        .collect();
    assert_eq!(located(&found), expected);
    let last = found.last().unwrap();
    assert!(last.message.contains("99950 more"), "{}", last.message);
}

#[test]
fn ten_thousand_duplicate_names_are_reported_fifty_and_then_how_many_more() {
    let found = diagnostics(&hostile::duplicate_names(10_000));
    // The first `app` is on line 5; every later one (line 6 on) is a duplicate, at column 30.
    let expected: Vec<(&str, u32, u32)> = (0..=MAX_REPORTS_PER_CODE as u32)
        .map(|i| ("duplicate-address", 6 + i, 30))
        .collect();
    assert_eq!(located(&found), expected);
    assert!(found.last().unwrap().message.contains("9949 more"));

    let subsets = diagnostics(&hostile::duplicate_subsets(10_000));
    assert_eq!(subsets.len(), MAX_REPORTS_PER_CODE + 1);
    assert_eq!(located(&subsets)[0], ("duplicate-subset", 11, 17));

    let keys = diagnostics(&hostile::duplicate_keys(10_000));
    assert_eq!(located(&keys), [("duplicate-key", 6, 3)]);
}

#[test]
fn a_byte_order_mark_is_skipped_and_offsets_still_count_it() {
    let text = "\u{feff}# a stack saved by an editor that writes a BOM\nstack: s\nregion: us-east-1\nresources:\n  - { kind: vpc, name: main, cidr: 10.0.0.0/16, azs: 2 }\n";
    let loaded = load(&SourceFile::new("bom.yaml", text), &VarOverrides::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert!(loaded.stack.is_some());

    let bad = "\u{feff}stack: s\nregion: us-east-1\nresources: []\nextra: 1\n";
    let found = diagnostics(bad);
    assert_eq!(located(&found), [("unknown-field", 4, 1)]);
    assert_eq!(found[0].span.unwrap().offset, bad.find("extra").unwrap());
    let first_line = diagnostics("\u{feff}stack: s\nregion: us-east-1\nresources: []\nstack: t\n");
    assert_eq!(located(&first_line), [("duplicate-key", 4, 1)]);
    let on_line_one = diagnostics("\u{feff}bogus: 1\nstack: s\nregion: us-east-1\nresources: []\n");
    assert_eq!(located(&on_line_one), [("unknown-field", 1, 1)]);
    assert_eq!(on_line_one[0].span.unwrap().offset, 3);
}

#[test]
fn invalid_utf8_is_reported_at_its_line_column_and_byte_offset() {
    let mut bytes = b"stack: s\nregion: us-east-1\nresources: []\n# caf".to_vec();
    bytes.push(0xe9); // Latin-1 é
    bytes.extend_from_slice(b"\n");
    let offset = bytes.len() - 2;
    let source = SourceFile::from_bytes("latin1.yaml", bytes);
    let found = load(&source, &VarOverrides::default()).diagnostics;
    assert_eq!(located(&found), [("invalid-utf8", 4, 6)]);
    assert_eq!(found[0].span.unwrap().offset, offset);
    assert!(found[0].message.contains(&format!("byte {offset}")));
}

#[test]
fn a_typo_in_a_required_field_is_reported_once_as_the_typo() {
    let text = "stack: s\nregion: us-east-1\nresources:\n  - kind: vpc\n    name: main\n    cidr: 10.0.0.0/16\n    azs: 2\n  - kind: eks_cluster\n    name: main\n    version: \"1.29\"\n    vpc: main\n  - kind: nodegroup\n    name: workers\n    cluster: main\n    instance_type: [t3.large]\n    scaling: { min: 1, desired: 1, max: 2 }\n";
    let found = diagnostics(text);
    assert_eq!(located(&found), [("unknown-field", 15, 5)]);
    assert_eq!(
        found[0].help.as_deref(),
        Some("did you mean `instance_types`?")
    );
    // A field missing without a look-alike is still reported as missing.
    let missing = diagnostics(&text.replace("    instance_type: [t3.large]\n", ""));
    assert_eq!(located(&missing), [("missing-field", 12, 5)]);
}

#[test]
fn a_typo_of_resources_is_reported_once_as_the_typo() {
    let found = diagnostics("stack: s\nregion: us-east-1\nresource: []\n");
    assert_eq!(located(&found), [("unknown-field", 3, 1)]);
    let missing = diagnostics("stack: s\nregion: us-east-1\n");
    assert_eq!(located(&missing), [("missing-field", 1, 1)]);
}

#[test]
fn vars_copied_whole_or_spliced_into_text_are_bounded_like_aliases() {
    // The document holds 3,013 values and each use copies 1,001 (uses start on line 7): 995
    // copies fit in a million, the 996th does not.
    let found = diagnostics(&hostile::var_list_bomb(2_000));
    assert_eq!(located(&found), [("var-expansion-too-large", 7 + 995, 5)]);
    // Each use grows by 999,890 bytes of text: 16 fit in 16 MiB, the 17th does not.
    let found = diagnostics(&hostile::var_text_bomb(100));
    assert_eq!(located(&found), [("var-expansion-too-large", 7 + 16, 5)]);
}

#[test]
fn a_var_used_whole_counts_toward_the_nesting_limit_where_it_is_used() {
    let levels = MAX_DEPTH - 3;
    let value = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    // `vars.deep` holds it within the limit; at `resources[0].labels.x` it would reach past it.
    let text = format!("stack: s\nregion: us-east-1\nvars:\n  deep: {value}\nresources:\n  - kind: namespace\n    name: app\n    labels:\n      x: ${{var.deep}}\n");
    let found = diagnostics(&text);
    assert_eq!(located(&found), [("nesting-too-deep", 9, 10)]);
}

#[test]
fn three_million_diagnostics_are_counted_not_kept() {
    let mut found = diagnostics(&hostile::interpolation_flood(3_000_000));
    // `note` itself is not a stack field.
    assert_eq!(located(&found[..1]), [("unknown-field", 4, 1)]);
    found.remove(0);
    assert_eq!(found.len(), MAX_REPORTS_PER_CODE + 1);
    assert!(found.iter().all(|d| d.code == "bad-interpolation"));
    // Each `${x}` is 4 characters from column 8 on line 4 (`note: "`).
    let shown = u32::try_from(MAX_REPORTS_PER_CODE).unwrap();
    assert_eq!(located(&found)[50], ("bad-interpolation", 4, 8 + 4 * shown));
    assert!(
        found[50]
            .message
            .contains(&format!("{} more", 3_000_000 - MAX_REPORTS_PER_CODE)),
        "{}",
        found[50].message
    );
}

#[test]
fn a_stack_written_as_one_line_of_json_is_read_and_located_and_its_snippet_cut() {
    // The case: 10,000 resources on one line (1.2 MB); one bad value near its end.
    let valid = load(
        &SourceFile::new("one.json", hostile::one_line_json(10_000)),
        &VarOverrides::default(),
    );
    assert!(valid.diagnostics.is_empty(), "{:?}", valid.diagnostics);
    assert_eq!(valid.stack.map(|s| s.resources.len()), Some(10_000));
    let (text, at) = hostile::one_line_json_bad_label(10_000);
    let source = SourceFile::new("one.json", text);
    let found = load(&source, &VarOverrides::default()).diagnostics;
    // All ASCII: the column is the byte offset plus one.
    let col = u32::try_from(at).unwrap() + 1;
    assert_eq!(located(&found), [("bad-label", 1, col)]);
    assert_eq!(found[0].span.unwrap().offset, at);
    // The snippet shows 40 characters before the value, the value underlined, and is cut.
    let rendered = render_text(&found, &source, false);
    let lines: Vec<&str> = rendered.lines().collect();
    let before = &source.text[at - 40..at];
    let shown = format!("1 | …{before}\"en abled\"");
    assert!(lines[3].starts_with(&shown), "{rendered}");
    assert!(lines[3].ends_with('…'), "{rendered}");
    assert_eq!(
        lines[3].chars().count(),
        "1 | ".len() + 1 + 100 + 1,
        "{rendered}"
    );
    // Under the value: `…` and the 40 characters before it, then its 10 (quotes included).
    assert_eq!(
        lines[4],
        format!("  | {}{}", " ".repeat(41), "^".repeat(10))
    );
    assert!(rendered.len() < 1_000, "{rendered}");
}

/// A list of `items` numbers under one key, each written on its own line in `width` bytes.
fn long_list(items: usize, width: usize) -> String {
    let mut text = String::with_capacity(items * width + 16);
    text.push_str("numbers:\n");
    for i in 0..items {
        text.push_str(&format!("- {:0w$}\n", i, w = width - 3));
    }
    text
}

#[test]
fn a_long_file_may_hold_nodes_in_proportion_to_its_length() {
    use meshctl_model::limits::{max_nodes, BYTES_PER_NODE, MAX_NODES};
    // A 50,000-resource stack is 10 MB of about 1,250,000 nodes, eight bytes each: past
    // `MAX_NODES`, and read because its file is long enough to hold them.
    let items = MAX_NODES + MAX_NODES / 10;
    let spread = long_list(items, BYTES_PER_NODE + 2);
    assert!(max_nodes(spread.len()) > items);
    assert!(meshctl_model::yaml::parse(&spread).is_ok());
    // As many nodes written densely still pass the limit of their shorter file.
    let dense = format!("numbers: [{}]\n", vec!["1"; items].join(","));
    let problem = meshctl_model::yaml::parse(&dense).expect_err("too many nodes");
    assert_eq!(problem.code, "too-many-nodes");
    assert!(
        problem.message.contains(&MAX_NODES.to_string()),
        "{}",
        problem.message
    );
}
