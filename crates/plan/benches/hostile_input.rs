//! Benchmark: `meshctl validate`'s work (load and graph) on the hostile files of issue 19 item 5 —
//! alias and merge-key bombs, 10,000-deep nesting in block and flow style, a 50 MB file, 100,000
//! unknown fields, 10,000 duplicate names; a 10,000-resource stack on one line of JSON (issue 21
//! item 2); and beyond them var bombs, 450,000 unknown fields and
//! 3 million bad interpolations. Goal: each under 2 s and 200 MB peak heap. The peak
//! heap of one run of each is measured by a counting allocator (as in `plan_scale`) and printed
//! before the timings.

#[path = "support/peak_heap.rs"]
mod peak_heap;

#[path = "../../model/tests/support/hostile.rs"]
mod hostile;

use criterion::{criterion_group, criterion_main, Criterion};
use meshctl_model::{SourceFile, VarOverrides};

/// What `meshctl validate` does with a file once read; the error codes, for the check below.
fn validate(source: &SourceFile) -> Vec<String> {
    let (_, diagnostics) = meshctl_graph::validate(source, &VarOverrides::default());
    diagnostics.into_iter().map(|d| d.code).collect()
}

fn bench(c: &mut Criterion) {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "billion_laughs",
            hostile::billion_laughs(9),
            "alias-expansion-too-large",
        ),
        (
            "merge_key_bomb",
            hostile::merge_key_bomb(9),
            "alias-expansion-too-large",
        ),
        (
            "block_nesting_10k",
            hostile::deep_block_sequences(10_000),
            "nesting-too-deep",
        ),
        (
            "block_mapping_nesting_5k",
            hostile::deep_block_mappings(5_000),
            "nesting-too-deep",
        ),
        (
            "flow_nesting_10k",
            hostile::deep_flow_sequences(10_000),
            "nesting-too-deep",
        ),
        (
            "flow_mapping_nesting_10k",
            hostile::deep_flow_mappings(10_000),
            "nesting-too-deep",
        ),
        (
            "var_list_bomb",
            hostile::var_list_bomb(2_000),
            "var-expansion-too-large",
        ),
        (
            "var_text_bomb",
            hostile::var_text_bomb(100),
            "var-expansion-too-large",
        ),
        (
            "interpolation_flood_3m",
            hostile::interpolation_flood(3_000_000),
            "bad-interpolation",
        ),
        (
            "tags_50mb",
            hostile::file_of_tags(50_000_000),
            "file-too-large",
        ),
        (
            "tags_15mb",
            hostile::file_of_tags(15_000_000),
            "unknown-field",
        ),
        (
            "unknown_fields_100k",
            hostile::unknown_fields(100_000),
            "unknown-field",
        ),
        (
            "unknown_fields_450k",
            hostile::unknown_fields_dense(450_000),
            "unknown-field",
        ),
        (
            "duplicate_names_10k",
            hostile::duplicate_names(10_000),
            "duplicate-address",
        ),
        (
            "duplicate_keys_10k",
            hostile::duplicate_keys(10_000),
            "duplicate-key",
        ),
        (
            // 10,000 resources as one line of JSON (1.2 MB), one bad label near its end.
            "one_line_json_10k",
            hostile::one_line_json_bad_label(10_000).0,
            "bad-label",
        ),
        (
            "duplicate_subsets_10k",
            hostile::duplicate_subsets(10_000),
            "duplicate-subset",
        ),
    ];
    let sources: Vec<(&str, SourceFile)> = cases
        .into_iter()
        .map(|(name, text, code)| {
            let source = SourceFile::new(format!("{name}.yaml"), text);
            let codes = validate(&source);
            assert!(
                codes.iter().any(|c| c == code),
                "{name}: expected {code}, got {codes:?}"
            );
            (name, source)
        })
        .collect();

    for (name, source) in &sources {
        let start = std::time::Instant::now();
        let ((), peak) = peak_heap::measure(|| drop(validate(source)));
        let elapsed = start.elapsed();
        eprintln!(
            "{name}: {:.1} MB file, one validate {:.0} ms, peak heap {:.1} MB (file not counted)",
            source.text.len() as f64 / 1e6,
            elapsed.as_secs_f64() * 1e3,
            peak as f64 / 1e6
        );
    }

    let mut group = c.benchmark_group("hostile_input");
    group.sample_size(10);
    for (name, source) in &sources {
        group.bench_function(*name, |b| b.iter(|| validate(source)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
