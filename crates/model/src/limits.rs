//! Bounds on what reading one stack file may cost. A hostile or broken file (a "billion laughs"
//! of aliases, a 10,000-deep nesting, a 50 MB file) gets one located diagnostic instead of
//! exhausting the memory, time or stack of the CI runner that validates it.

use crate::diagnostic::Diagnostic;
use crate::span::Span;
use std::collections::HashMap;

/// Largest stack or var file read: 16 MiB, about nine times a 10,000-resource stack (1.8 MB).
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Deepest nesting of lists and mappings. A stack nests about 10 deep, a Kubernetes manifest in it
/// about 20; every recursive pass over the document (deserializing, vars, checks) stays within it,
/// and so do plan and state files, which serde_json reads back to 128 levels at most.
pub const MAX_DEPTH: usize = 64;

/// Most YAML nodes (scalars, lists, mappings) a document of up to 6 MB may hold, counting every copy
/// an alias makes and the copy each anchor keeps; a longer file may hold one per `BYTES_PER_NODE`
/// bytes of it (`max_nodes`). A 10,000-resource stack (2 MB) holds about 250,000, a
/// 50,000-resource one (10 MB) about 1,250,000.
pub const MAX_NODES: usize = 1_000_000;

/// Bytes of text a node takes at the least, as `max_nodes` counts them: a node written out takes
/// two bytes or more (`[1,1,…]`), about eight in a real stack. So the nodes, and the memory they
/// take, stay in proportion to the file, while an alias bomb, which writes few nodes and copies
/// many, stops at `MAX_NODES`.
pub const BYTES_PER_NODE: usize = 6;

/// Most YAML nodes a document of `text_bytes` bytes may hold, alias copies and var substitutions
/// included: `MAX_NODES`, or one per `BYTES_PER_NODE` bytes of a longer file.
pub fn max_nodes(text_bytes: usize) -> usize {
    MAX_NODES.max(text_bytes / BYTES_PER_NODE)
}

/// Most diagnostics of one code reported for one file; the rest are counted in one last
/// diagnostic of that code, so a file of 100,000 unknown fields is reported in a page.
pub const MAX_REPORTS_PER_CODE: usize = 50;

/// Longest word a "did you mean" is looked for: edit distance is quadratic in the length, and no
/// field, kind or resource name is longer.
pub const MAX_SUGGESTION_LEN: usize = 128;

/// Most candidates a "did you mean" compares a word with (the first ones, in the order given).
pub const MAX_SUGGESTION_CANDIDATES: usize = 1000;

/// The file is longer than `MAX_FILE_BYTES`: reported where the limit falls.
pub fn file_too_large(text: &str) -> Diagnostic {
    let mut at = MAX_FILE_BYTES.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    Diagnostic::error(
        "file-too-large",
        format!(
            "the file is larger than {} MiB, the most meshctl reads",
            MAX_FILE_BYTES >> 20
        ),
    )
    .with_span(Span::new(
        at,
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
        1,
    ))
    .help("split the stack into several smaller stacks")
}

/// A list or mapping opens deeper than `MAX_DEPTH`.
pub fn nesting_too_deep(span: Span) -> Diagnostic {
    Diagnostic::error(
        "nesting-too-deep",
        format!("lists and mappings nest more than {MAX_DEPTH} deep here"),
    )
    .with_span(span)
    .help("flatten the structure; no stack field nests this deep")
}

/// The document holds more than `limit` nodes (its `max_nodes`), written out.
pub fn too_many_nodes(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "too-many-nodes",
        format!("the document holds more than {limit} values; this one is past the limit"),
    )
    .with_span(span)
    .help("split the stack into several smaller stacks")
}

/// An alias (or the anchor's own copy) takes the document past `limit` nodes (its `max_nodes`).
pub fn alias_expansion_too_large(span: Span, added: usize, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "alias-expansion-too-large",
        format!("this alias copies {added} values, taking the document past {limit} values"),
    )
    .with_span(span)
    .help("aliases that repeat aliases multiply; write the values out or reuse them less")
}

/// The file is not UTF-8: reported at its first bad byte, `offset` bytes in. `text` is the file
/// decoded with replacement characters, identical to the file before `offset`.
pub fn invalid_utf8(text: &str, offset: usize) -> Diagnostic {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    Diagnostic::error(
        "invalid-utf8",
        format!("the file is not UTF-8: byte {offset} (line {line}, column {col}) is not part of a UTF-8 character"),
    )
    .with_span(Span::new(
        offset,
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
        1,
    ))
    .help("save the file as UTF-8 (it may be Latin-1 or UTF-16, or hold a binary fragment)")
}

/// Diagnostics held before `bound` folds them: a file of three million `${x}` would otherwise
/// hold three million diagnostics (2 GB) until the end of the run.
const FOLD_AT: usize = 10_000;

/// Called as diagnostics accumulate: once there are `FOLD_AT`, keeps only what `cap_per_code`
/// would show in the end, counting the rest, so memory stays bounded whatever the file.
pub fn bound(diagnostics: &mut Vec<Diagnostic>) {
    if diagnostics.len() >= FOLD_AT {
        crate::diagnostic::sort_and_dedup(diagnostics);
        cap_per_code(diagnostics);
    }
}

/// Keeps at most `MAX_REPORTS_PER_CODE` diagnostics of each code (the first in file order) and
/// folds the rest of each code into one diagnostic saying how many more there are, placed where
/// the first left out is. Sorted input expected; folding again keeps the counts.
pub fn cap_per_code(diagnostics: &mut Vec<Diagnostic>) {
    let mut totals: HashMap<String, usize> = HashMap::new();
    for d in diagnostics.iter() {
        // A summary stands for `more` diagnostics, itself included.
        match totals.get_mut(d.code.as_str()) {
            Some(total) => *total += d.more.max(1),
            None => {
                totals.insert(d.code.clone(), d.more.max(1));
            }
        }
    }
    let folded_before = diagnostics.iter().any(|d| d.more > 0);
    if !folded_before && totals.values().all(|n| *n <= MAX_REPORTS_PER_CODE) {
        return;
    }
    let mut shown: HashMap<String, usize> = HashMap::new();
    // Where each code's summary is in `kept`.
    let mut summary: HashMap<String, usize> = HashMap::new();
    let mut kept = Vec::with_capacity(
        diagnostics
            .len()
            .min(totals.len() * (MAX_REPORTS_PER_CODE + 1)),
    );
    for d in diagnostics.drain(..) {
        if !shown.contains_key(d.code.as_str()) {
            shown.insert(d.code.clone(), 0);
        }
        let Some(count) = shown.get_mut(d.code.as_str()) else {
            continue;
        };
        if d.more == 0 && *count < MAX_REPORTS_PER_CODE {
            *count += 1;
            kept.push(d);
        } else if !summary.contains_key(&d.code) {
            // The first left out (or an earlier summary) becomes the summary.
            summary.insert(d.code.clone(), kept.len());
            kept.push(d);
        }
    }
    for (code, index) in summary {
        let more = totals[&code] - shown.get(&code).copied().unwrap_or(0);
        let d = &mut kept[index];
        d.more = more;
        d.message = format!("… and {more} more `{code}` problems from here on");
        d.help = Some(format!(
            "only the first {MAX_REPORTS_PER_CODE} of each kind are shown; fix them and validate again"
        ));
        d.labels.clear();
    }
    *diagnostics = kept;
}
