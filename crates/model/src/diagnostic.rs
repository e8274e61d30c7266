//! Diagnostics: a located problem in a stack (where, what, what to do) and its text rendering.

use crate::path::FieldPath;
use crate::redact::{redact, secret_spans};
use crate::span::{SourceFile, Span};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A secondary place that explains a diagnostic (the other end of a cycle edge, a first definition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<FieldPath>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    pub message: String,
}

/// Where a snippet of a line holding a secret is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conceal {
    /// The span is the key: show it, hide what follows.
    AfterSpan,
    /// The span is the secret itself: hide it and what follows.
    FromSpan,
}

/// One problem: a stable code, a message, where it is (file, span, field path) and a help line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable kebab-case identifier, e.g. `dangling-reference`; documented in docs/diagnostics.md.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<FieldPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    /// The source line holds a secret: snippets cut it at the span.
    #[serde(skip)]
    pub conceal: Option<Conceal>,
    /// For the diagnostic that ends a code's capped report: how many diagnostics of that code, from
    /// its place on, it stands for (see `limits::cap_per_code`); 0 for an ordinary diagnostic.
    #[serde(skip)]
    pub more: usize,
}

impl Diagnostic {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code: code.to_string(),
            message: message.into(),
            file: None,
            span: None,
            path: None,
            help: None,
            labels: Vec::new(),
            conceal: None,
            more: 0,
        }
    }

    pub fn warning(code: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, path: FieldPath) -> Self {
        self.path = Some(path);
        self
    }

    pub fn with_span(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn label(mut self, path: FieldPath, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            path: Some(path),
            span: None,
            message: message.into(),
        });
        self
    }

    /// Marks the source line as holding a secret, so snippets cut it at the span.
    pub fn concealed(mut self, conceal: Conceal) -> Self {
        self.conceal = Some(conceal);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sort key: file order, then code, so output is stable whatever order checks ran in.
    fn sort_key(&self) -> (u32, u32, String, String, String) {
        let (line, col) = self.span.map(|s| (s.line, s.col)).unwrap_or((0, 0));
        let path = self
            .path
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        (line, col, self.code.clone(), path, self.message.clone())
    }
}

/// Puts diagnostics in source order and drops exact repeats (a check may run more than once while
/// the loader recovers from earlier errors).
pub fn sort_and_dedup(diagnostics: &mut Vec<Diagnostic>) {
    // Position and code decide almost every comparison; the full key allocates, so it is built
    // only for ties (folding sorts often, see `limits::bound`). Same order as the full key alone.
    diagnostics.sort_by(|a, b| {
        let position = |d: &Diagnostic| d.span.map(|s| (s.line, s.col)).unwrap_or((0, 0));
        (position(a), &a.code)
            .cmp(&(position(b), &b.code))
            .then_with(|| a.sort_key().cmp(&b.sort_key()))
    });
    diagnostics.dedup_by(|a, b| {
        a.code == b.code && a.path == b.path && a.span == b.span && a.message == b.message
    });
}

/// Renders diagnostics as a compiler would: header, location, the source line with a caret
/// underline, labels, and the help line. Anything that looks like a secret (`redact`) is shown as
/// `<redacted>`: in messages, paths and help, and in source lines, where secrets are found in the
/// whole file (a private key spans lines) and cut out of each line shown.
pub fn render_text(diagnostics: &[Diagnostic], source: &SourceFile, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    // Split once: looking each line up in the text again would be quadratic in a long report.
    let lines = Source {
        base: source.text.as_ptr() as usize,
        secrets: secret_spans(&source.text),
        lines: source.lines(),
    };
    for d in diagnostics {
        let (word, tint) = match d.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        let _ = writeln!(
            out,
            "{}{} {}",
            paint(tint, &format!("{word}[{}]", d.code)),
            paint("1", ":"),
            paint("1", &escape_terminal(&redact(&d.message)))
        );
        let file = redact(d.file.as_deref().unwrap_or(&source.name)).into_owned();
        let file = escape_terminal(&file);
        let file = file.as_ref();
        let path = d
            .path
            .as_ref()
            .map(|p| escape_terminal(&redact(&p.to_string())).into_owned());
        let shown = Shown {
            span: d.span,
            path: path.as_deref(),
            marker: "^",
            note: None,
            conceal: d.conceal,
        };
        snippet(&mut out, &lines, file, &shown, &paint);
        for label in &d.labels {
            let path = label
                .path
                .as_ref()
                .map(|p| escape_terminal(&redact(&p.to_string())).into_owned());
            let note = escape_terminal(&redact(&label.message)).into_owned();
            let shown = Shown {
                span: label.span,
                path: path.as_deref(),
                marker: "-",
                note: Some(&note),
                conceal: d.conceal,
            };
            snippet(&mut out, &lines, file, &shown, &paint);
        }
        if let Some(help) = &d.help {
            let help = redact(help);
            let help = escape_terminal(&help);
            let _ = writeln!(out, "  {} {help}", paint("1;36", "= help:"));
        }
        out.push('\n');
    }
    out
}

/// The file diagnostics point into: its lines, and where secrets sit in it (byte ranges of the
/// whole text, which the lines are slices of).
struct Source<'a> {
    base: usize,
    secrets: Vec<Range<usize>>,
    lines: Vec<&'a str>,
}

impl Source<'_> {
    /// The first `keep` bytes of `line` (one of `lines`) with the secrets in them replaced by
    /// `<redacted>`.
    fn shown_line(&self, line: &str, keep: usize) -> String {
        let start = (line.as_ptr() as usize).saturating_sub(self.base);
        let end = start + keep;
        let first = self.secrets.partition_point(|s| s.end <= start);
        let mut out = String::new();
        let mut at = start;
        for hit in self.secrets[first..].iter().take_while(|s| s.start < end) {
            if hit.start > at {
                out.push_str(&line[at - start..hit.start - start]);
            }
            out.push_str(crate::redact::MARKER);
            at = at.max(hit.end.min(end));
        }
        out.push_str(&line[at - start..keep]);
        out
    }

    /// The column (in characters, from 0) that byte `byte` of `line` has once its secrets are
    /// replaced: a byte inside a secret falls at the start of its `<redacted>`, or at its end
    /// when `inside_to_end` (the end of an underline).
    fn shown_column(&self, line: &str, byte: usize, inside_to_end: bool) -> usize {
        let start = (line.as_ptr() as usize).saturating_sub(self.base);
        let (target, line_end) = (start + byte.min(line.len()), start + line.len());
        let first = self.secrets.partition_point(|s| s.end <= start);
        let mut column = 0;
        let mut at = start;
        for hit in self.secrets[first..]
            .iter()
            .take_while(|s| s.start < target)
        {
            if hit.start > at {
                column += line[at - start..hit.start - start].chars().count();
            }
            if target < hit.end {
                return column
                    + if inside_to_end {
                        crate::redact::MARKER.len()
                    } else {
                        0
                    };
            }
            column += crate::redact::MARKER.len();
            at = at.max(hit.end.min(line_end));
        }
        column + line[at.min(target) - start..target - start].chars().count()
    }
}

/// One place to show under a diagnostic.
struct Shown<'a> {
    span: Option<Span>,
    path: Option<&'a str>,
    marker: &'a str,
    note: Option<&'a str>,
    conceal: Option<Conceal>,
}

fn snippet(
    out: &mut String,
    source: &Source<'_>,
    file: &str,
    shown: &Shown<'_>,
    paint: &dyn Fn(&str, &str) -> String,
) {
    let Shown {
        span,
        path,
        marker,
        note,
        conceal,
    } = *shown;
    let Some(span) = span else {
        let _ = write!(out, "  {} {file}", paint("1;34", "-->"));
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            let _ = write!(out, " ({path})");
        }
        if let Some(note) = note {
            let _ = write!(out, ": {note}");
        }
        out.push('\n');
        return;
    };
    let gutter = span.line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = write!(
        out,
        "{pad}{} {file}:{}:{}",
        paint("1;34", "-->"),
        span.line,
        span.col
    );
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        let _ = write!(out, " ({path})");
    }
    out.push('\n');
    let Some(&full_line) = usize::try_from(span.line)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| source.lines.get(i))
    else {
        return;
    };
    // Cut (by the columns of the source) before secrets are replaced, which moves columns.
    let concealed = match conceal {
        Some(how) => {
            let end = match how {
                Conceal::AfterSpan => span.col + span.len,
                Conceal::FromSpan => span.col,
            };
            let keep = full_line
                .char_indices()
                .nth(end.saturating_sub(1) as usize)
                .map_or(full_line.len(), |(i, _)| i);
            format!(
                "{} <redacted>",
                source.shown_line(full_line, keep).trim_end()
            )
        }
        None => source.shown_line(full_line, full_line.len()),
    };
    let line = concealed.as_str();
    let bar = paint("1;34", "|");
    // The span in the line as shown: a secret before it or in it is `<redacted>` now.
    let byte_of = |col: usize| {
        full_line
            .char_indices()
            .nth(col)
            .map_or(full_line.len(), |(i, _)| i)
    };
    let first = span.col.saturating_sub(1) as usize;
    let shown_start = source.shown_column(full_line, byte_of(first), false);
    let shown_end = source.shown_column(full_line, byte_of(first + span.len as usize), true);
    let (line, start, width) = snippet_window(
        line,
        shown_start,
        shown_end.saturating_sub(shown_start).max(1),
    );
    let _ = writeln!(out, "{pad} {bar}");
    let _ = writeln!(
        out,
        "{} {bar} {line}",
        paint("1;34", &span.line.to_string())
    );
    let underline = marker.repeat(width);
    let tint = if marker == "^" { "1;31" } else { "1;34" };
    let _ = write!(
        out,
        "{pad} {bar} {}{}",
        " ".repeat(start),
        paint(tint, &underline)
    );
    if let Some(note) = note {
        let _ = write!(out, " {}", paint(tint, note));
    }
    out.push('\n');
}

/// Most characters of a source line a snippet shows: a longer line (a stack written as one line
/// of JSON) is cut around the span, with `…` where it is cut, so a report stays a page.
const SNIPPET_WIDTH: usize = 100;

/// Characters shown before the span when a long line is cut.
const SNIPPET_LEAD: usize = 40;

/// The part of `line` a snippet shows, escaped, and where the underline of the span starting at
/// character `start`, `len` characters long, goes in it (start and width, in characters shown).
/// Reads only up to the end of what is shown, so every snippet of a long line is cheap.
fn snippet_window(line: &str, start: usize, len: usize) -> (String, usize, usize) {
    let from = if start + len <= SNIPPET_WIDTH {
        0
    } else {
        start.saturating_sub(SNIPPET_LEAD)
    };
    let end = (start + len.min(SNIPPET_WIDTH)).max(from + SNIPPET_WIDTH);
    let mut shown = String::new();
    if from > 0 {
        shown.push('…');
    }
    let mut width = usize::from(from > 0);
    let (mut underline_start, mut underline_end) = (None, None);
    for (i, c) in (from..).zip(line.chars().skip(from)) {
        if i == start {
            underline_start = Some(width);
        }
        if i == start + len {
            underline_end = Some(width);
        }
        if i == end {
            shown.push('…');
            break;
        }
        let before = shown.len();
        push_escaped(&mut shown, c);
        width += shown[before..].chars().count();
    }
    let underline_start = underline_start.unwrap_or(width);
    let underline_end = underline_end.unwrap_or(width).max(underline_start + 1);
    (shown, underline_start, underline_end - underline_start)
}

/// Whether a character would act on a terminal rather than show: C0 and C1 controls (ESC, BEL,
/// backspace, …) except tab and newline, DEL, and the bidirectional controls that reorder what
/// follows them (U+202A–U+202E, U+2066–U+2069, marks).
fn acts_on_terminal(c: char) -> bool {
    (c.is_control() && c != '\t' && c != '\n')
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    if acts_on_terminal(c) {
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    } else {
        out.push(c);
    }
}

/// `text` with every character that would act on a terminal written as an escape (`\u{1b}`),
/// so a name or value from a stack file can be printed without moving the cursor, ringing,
/// recolouring or reordering what follows. Used by every text renderer (diagnostics, plans).
pub fn escape_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_on_terminal) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut escaped, c);
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: &[&str] = &[
        "AKIAIOSFODNN7EXAMPLE",
        "AKIAI44QH8DHBEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "MIIEplantedPrivateKeyBody",
    ];

    /// Each diagnostic points at one place; the report must not show any secret of the file, on
    /// its line or another, in a message, path, label or help.
    #[test]
    fn reports_show_no_secret_whatever_they_point_at() {
        let text = "a: { x: AKIAIOSFODNN7EXAMPLE, y: AKIAI44QH8DHBEXAMPLE } # wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nkey: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MIIEplantedPrivateKeyBody\n  -----END RSA PRIVATE KEY-----\n";
        let source = SourceFile::new("s.yaml", text);
        let at = |line: u32, col: u32, len: u32| Span::new(0, line, col, len);
        let diagnostics = vec![
            // The second key, cut at itself: the first one is before it on the line.
            Diagnostic::error("static-aws-key", "an AWS access key ID")
                .with_span(at(1, 34, 20))
                .concealed(Conceal::FromSpan),
            // Another error on the line, quoting a key in its message, path and label.
            Diagnostic::error("unknown-field", "unknown field `AKIAIOSFODNN7EXAMPLE`")
                .at(FieldPath::root().key("AKIAIOSFODNN7EXAMPLE"))
                .with_span(at(1, 1, 1))
                .label(
                    FieldPath::root().key("a"),
                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                )
                .help("did you mean AKIAI44QH8DHBEXAMPLE?"),
            // Lines inside a private key.
            Diagnostic::warning("bad-value", "a key").with_span(at(3, 3, 5)),
            Diagnostic::warning("bad-value", "a key").with_span(at(4, 3, 5)),
        ];
        let report = render_text(&diagnostics, &source, false);
        for secret in SECRETS {
            assert!(!report.contains(secret), "{secret} in:\n{report}");
        }
        assert!(
            report.contains("1 | a: { x: <redacted>, y: <redacted>"),
            "{report}"
        );
        assert!(report.contains("4 | <redacted>\n"), "{report}");
        // The second key's caret is under its `<redacted>`, not where the key was.
        assert!(
            report.contains(
                "1 | a: { x: <redacted>, y: <redacted>\n  |                        ^^^^^^^^^^\n"
            ),
            "{report}"
        );
    }
}

#[cfg(test)]
mod terminal_tests {
    use super::*;

    #[test]
    fn characters_that_act_on_a_terminal_are_escaped_and_others_kept() {
        assert_eq!(
            escape_terminal("a\u{1b}[2Jb\u{7}\u{202e}c\u{9b}\td é"),
            "a\\u{1b}[2Jb\\u{7}\\u{202e}c\\u{9b}\td é"
        );
        assert!(matches!(escape_terminal("plain é\t"), Cow::Borrowed(_)));
    }

    #[test]
    fn snippets_underline_the_escaped_span_and_cut_long_lines_around_it() {
        // Short: the whole line, the underline under the escape of the one character.
        assert_eq!(
            snippet_window("k: a\u{0}b", 4, 1),
            ("k: a\\u{0}b".to_string(), 4, 5)
        );
        // A span past the end of the line (a missing value) is marked just after it.
        assert_eq!(snippet_window("k:", 5, 1), ("k:".to_string(), 2, 1));
        // Long: 40 characters before the span, 100 in all, `…` at both cuts.
        let line = format!("{}BAD{}", "x".repeat(1000), "y".repeat(1000));
        let (shown, start, width) = snippet_window(&line, 1000, 3);
        assert_eq!(shown, format!("…{}BAD{}…", "x".repeat(40), "y".repeat(57)));
        assert_eq!((start, width), (41, 3));
        // A span longer than the window is underlined to the cut.
        let (shown, start, width) = snippet_window(&"z".repeat(5000), 200, 3000);
        assert_eq!(shown.chars().count(), 1 + 40 + 100 + 1);
        assert_eq!((start, width), (41, 100));
    }
}
