//! A YAML document as a tree of nodes that remember where they were written.
//!
//! serde_yaml forgets positions once a value is parsed; diagnostics need them for every field, so
//! the stack file is read with yaml-rust2's event parser into this tree, and typed structures are
//! then deserialized from it (see `de`).

use crate::diagnostic::Diagnostic;
use crate::limits;
use crate::path::{FieldPath, Segment};
use crate::span::{SourceFile, Span};
use std::collections::{HashMap, HashSet};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// How a scalar was written: a plain scalar may be a number, boolean or null; a quoted or block
/// scalar is always a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    Quoted,
    Block,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// An empty value, `~` or `null`.
    Null,
    Scalar(String, ScalarStyle),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
    /// A value the loader set aside after reporting it, so that later problems still surface.
    Removed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    pub fn new(kind: NodeKind, span: Span) -> Self {
        Node { kind, span }
    }

    pub fn is_removed(&self) -> bool {
        matches!(self.kind, NodeKind::Removed)
    }

    /// True when some value at or below this node was set aside after being reported.
    pub fn has_removed(&self) -> bool {
        match &self.kind {
            NodeKind::Removed => true,
            NodeKind::Map(entries) => entries.iter().any(|e| e.value.has_removed()),
            NodeKind::Seq(items) => items.iter().any(Node::has_removed),
            _ => false,
        }
    }

    /// A short name of what the node holds, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "nothing",
            NodeKind::Scalar(..) => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Removed => "a removed value",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.kind {
            NodeKind::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            NodeKind::Seq(items) => items,
            _ => &[],
        }
    }

    /// The value under mapping key `key`, unless removed.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
            .filter(|n| !n.is_removed())
    }

    /// The node at `path` below this one, and the span best describing it: for a mapping key, the
    /// span of the value (or of the key, when the value is empty).
    pub fn find(&self, path: &FieldPath) -> Option<&Node> {
        let mut node = self;
        for segment in path.segments() {
            node = match (segment, &node.kind) {
                (Segment::Key(k), NodeKind::Map(entries)) => {
                    &entries.iter().find(|e| &e.key == k)?.value
                }
                (Segment::Index(i), NodeKind::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    pub fn find_mut(&mut self, path: &FieldPath) -> Option<&mut Node> {
        let mut node = self;
        for segment in path.segments() {
            node = match (segment, &mut node.kind) {
                (Segment::Key(k), NodeKind::Map(entries)) => {
                    &mut entries.iter_mut().find(|e| &e.key == k)?.value
                }
                (Segment::Index(i), NodeKind::Seq(items)) => items.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The span of the key that introduced `path` (for "unknown field" and "missing field").
    pub fn key_span(&self, path: &FieldPath) -> Option<Span> {
        let parent = self.find(&path.parent()?)?;
        let key = path.last_key()?;
        parent
            .entries()
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.key_span)
    }

    /// The best span for a diagnostic at `path`: the value if it has one, else its key, else the
    /// nearest ancestor that exists (a missing field points at the mapping that lacks it).
    pub fn locate(&self, path: &FieldPath) -> Span {
        let mut current = path.clone();
        loop {
            if let Some(node) = self.find(&current) {
                let empty = matches!(node.kind, NodeKind::Null | NodeKind::Removed);
                if empty || matches!(node.kind, NodeKind::Map(_) | NodeKind::Seq(_)) {
                    if let Some(span) = self.key_span(&current) {
                        return span;
                    }
                }
                return node.span;
            }
            match current.parent() {
                Some(parent) => current = parent,
                None => return self.span,
            }
        }
    }
}

/// Parses one YAML document. A syntax error is one diagnostic at the place the parser stopped; so
/// is a document over one of the [`limits`](crate::limits), which stops reading at once. A leading
/// byte-order mark is skipped (spans still count it in byte offsets).
#[allow(clippy::result_large_err)] // once per file; the diagnostic is the whole answer
pub fn parse(text: &str) -> Result<Node, Diagnostic> {
    if text.len() > limits::MAX_FILE_BYTES {
        return Err(limits::file_too_large(text));
    }
    let bom = if text.starts_with(BYTE_ORDER_MARK) {
        BYTE_ORDER_MARK.len_utf8()
    } else {
        0
    };
    if let Some(problem) = forbidden_character(&text[bom..], bom) {
        return Err(problem);
    }
    build(&text[bom..], bom, true)
}

/// Whether YAML 1.2 allows `c` in a stream (its `c-printable`): tab, line breaks, printable
/// ASCII, NEL and Unicode from U+00A0 on, but no other C0 or C1 control, DEL, U+FFFE or U+FFFF.
fn is_yaml_printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// The first character YAML forbids in `body` (which starts `base` bytes into the file), as a
/// located error counting the others. Checked before parsing because yaml-rust2 takes a NUL for
/// the end of the input: everything after one would vanish without a word.
fn forbidden_character(body: &str, base: usize) -> Option<Diagnostic> {
    let (at, found) = body.char_indices().find(|(_, c)| !is_yaml_printable(*c))?;
    let before = &body[..at];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    let others = body[at + found.len_utf8()..]
        .chars()
        .filter(|c| !is_yaml_printable(*c))
        .count();
    let name = match found {
        '\0' => " (NUL)",
        '\u{7}' => " (BEL)",
        '\u{8}' => " (backspace)",
        '\u{1b}' => " (ESC)",
        '\u{7f}' => " (DEL)",
        '\u{fffe}' | '\u{ffff}' => " (a noncharacter)",
        _ => " (a control character)",
    };
    let more = match others {
        0 => String::new(),
        1 => ", and 1 more after it".to_string(),
        n => format!(", and {n} more after it"),
    };
    Some(
        Diagnostic::error(
            "forbidden-character",
            format!(
                "the file holds U+{:04X}{name} at byte {} (line {line}, column {col}), a character YAML does not allow{more}",
                u32::from(found),
                base + at
            ),
        )
        .with_span(Span::new(
            base + at,
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col).unwrap_or(u32::MAX),
            1,
        ))
        .help("remove it: a file holding control characters may be binary or not saved as UTF-8 (UTF-16 has NULs); write one a value needs as a double-quoted escape, e.g. \"\\e\"")
    )
}

/// Builds the tree of `body`, which starts `base` bytes into the file.
#[allow(clippy::result_large_err)] // once per file; the diagnostic is the whole answer
fn build(body: &str, base: usize, may_retry: bool) -> Result<Node, Diagnostic> {
    let mut builder = TreeBuilder::new(body, base);
    // Events are pulled one at a time rather than through `Parser::load`, which recurses once per
    // nesting level: the builder can then stop at the first limit before the stack runs out.
    let mut parser = Parser::new_from_str(body);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, marker)) => builder.on_event(event, &marker)?,
            Err(error) => {
                let problem = builder.syntax_error(&error);
                if problem.code == "nesting-too-deep" && may_retry {
                    // The scanner reads ahead and gives up at 255 brackets, before the builder
                    // saw the first level past `MAX_DEPTH`; the text up to there, read again,
                    // shows where that level opens.
                    let end = problem.span.map_or(0, |s| s.offset - base);
                    if let Some(prefix) = body.get(..end) {
                        if let Err(exact) = build(prefix, base, false) {
                            if exact.code == "nesting-too-deep" {
                                return Err(exact);
                            }
                        }
                    }
                }
                return Err(problem);
            }
        }
    }
    if let Some(problem) = builder.problem {
        return Err(problem);
    }
    Ok(builder
        .root
        .unwrap_or_else(|| Node::new(NodeKind::Null, Span::new(base, 1, 1, 1))))
}

/// Parses a file: reports bytes that are not UTF-8 (after the size limit, so a truncated read of
/// a huge file is reported as too large), else parses its text.
#[allow(clippy::result_large_err)] // once per file; the diagnostic is the whole answer
pub fn parse_file(source: &SourceFile) -> Result<Node, Diagnostic> {
    if source.text.len() > limits::MAX_FILE_BYTES {
        return Err(limits::file_too_large(&source.text));
    }
    if let Some(offset) = source.invalid_utf8 {
        return Err(limits::invalid_utf8(&source.text, offset));
    }
    parse(&source.text)
}

/// U+FEFF at the start of a file: some editors save UTF-8 with it; it is not part of the YAML.
const BYTE_ORDER_MARK: char = '\u{feff}';

/// Applies YAML merge keys (`<<: *base` or `<<: [*a, *b]`): the merged mappings' entries are
/// added unless the mapping sets the key itself; earlier merged mappings win over later ones. A
/// value that is not a mapping (or a list of them) is reported at that value, not ignored.
fn merge_keys(entries: Vec<Entry>) -> (Vec<Entry>, Option<Diagnostic>) {
    if !entries.iter().any(|e| e.key == "<<") {
        return (entries, None);
    }
    let (merges, mut own): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.key == "<<");
    let mut problem = None;
    // Hashed, so merging stays linear in the entries merged.
    let mut present: HashSet<String> = own.iter().map(|e| e.key.clone()).collect();
    for merge in merges {
        let sources = match merge.value.kind {
            NodeKind::Map(_) => vec![merge.value],
            NodeKind::Seq(items) => items,
            _ => {
                problem.get_or_insert_with(|| bad_merge(&merge.value, None));
                Vec::new()
            }
        };
        for (index, source) in sources.into_iter().enumerate() {
            match source.kind {
                NodeKind::Map(merged) => {
                    for entry in merged {
                        if present.insert(entry.key.clone()) {
                            own.push(entry);
                        }
                    }
                }
                _ => {
                    problem.get_or_insert_with(|| bad_merge(&source, Some(index)));
                }
            }
        }
    }
    (own, problem)
}

/// A merge key's value, or item `index` of its list, that is not a mapping.
fn bad_merge(value: &Node, index: Option<usize>) -> Diagnostic {
    let what = match index {
        Some(i) => format!("item {} of the `<<` list is {}", i + 1, value.describe()),
        None => format!("the value of `<<` is {}", value.describe()),
    };
    Diagnostic::error(
        "bad-merge",
        format!("{what}: a merge key takes a mapping or a list of mappings"),
    )
    .with_span(value.span)
    .help("merge an anchored mapping (`<<: *base` or `<<: [*a, *b]`), or rename the key if it is not meant as a merge")
}

/// A mapping grows a hash of its keys past this many entries; smaller ones are searched in place.
const KEY_INDEX_FROM: usize = 16;

/// Collects parser events into a `Node` tree, resolving anchors, flagging duplicate keys and
/// enforcing the depth and node limits.
struct TreeBuilder<'a> {
    /// The document without its byte-order mark.
    text: &'a str,
    /// Bytes before `text` in the file (the byte-order mark), added to every span's offset.
    base: usize,
    /// Byte offset at the start of every line, to turn character markers into spans.
    line_starts: Vec<usize>,
    /// The last position converted: markers mostly move forward, so each conversion scans only
    /// the characters since the previous one.
    cursor: Cursor,
    stack: Vec<Open>,
    /// Each anchor's value and how many nodes a copy of it adds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes built into the tree so far, alias copies included.
    nodes: usize,
    /// Nodes in the copies anchors keep; with `nodes`, bounded by `max_nodes`.
    kept: usize,
    /// The most nodes this document may hold (`limits::max_nodes` of its length).
    max_nodes: usize,
    root: Option<Node>,
    problem: Option<Diagnostic>,
    /// A block mapping opened past `MAX_DEPTH`, reported at the key that follows.
    too_deep_at: Option<Span>,
    documents: usize,
}

#[derive(Clone, Copy)]
struct Cursor {
    line: usize,
    col: usize,
    byte: usize,
}

/// A list or mapping whose end has not been read yet.
struct Open {
    kind: OpenKind,
    span: Span,
    anchor: usize,
    /// `nodes` when it started: the difference at its end is what a copy of it costs.
    nodes_before: usize,
}

enum OpenKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        /// The key read, waiting for its value.
        pending: Option<(String, Span)>,
        /// Keys seen, once the mapping is large enough for a linear search to matter.
        index: Option<HashSet<String>>,
    },
}

impl<'a> TreeBuilder<'a> {
    fn new(text: &'a str, base: usize) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        TreeBuilder {
            text,
            base,
            line_starts,
            cursor: Cursor {
                line: 1,
                col: 0,
                byte: 0,
            },
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            kept: 0,
            max_nodes: limits::max_nodes(base + text.len()),
            root: None,
            problem: None,
            too_deep_at: None,
            documents: 0,
        }
    }

    /// yaml-rust2 markers count characters; spans keep a byte offset too for slicing.
    fn span_at(&mut self, marker: &Marker, len: u32) -> Span {
        let line = marker.line().max(1);
        let col = marker.col();
        let offset = self.byte_offset(line, col);
        Span::new(
            self.base + offset,
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col + 1).unwrap_or(u32::MAX),
            len,
        )
    }

    /// The byte offset of 0-based character `col` of 1-based `line`, scanning from the previous
    /// position when on the same line (in either direction), else from the line's start.
    fn byte_offset(&mut self, line: usize, col: usize) -> usize {
        let Some(&line_start) = self.line_starts.get(line - 1) else {
            return self.text.len();
        };
        let line_end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        let from = if self.cursor.line == line {
            self.cursor
        } else {
            Cursor {
                line,
                col: 0,
                byte: line_start,
            }
        };
        let byte = if col >= from.col {
            self.text[from.byte..line_end]
                .char_indices()
                .nth(col - from.col)
                .map_or(line_end, |(i, _)| from.byte + i)
        } else {
            self.text[line_start..from.byte]
                .char_indices()
                .rev()
                .nth(from.col - col - 1)
                .map_or(line_start, |(i, _)| line_start + i)
        };
        self.cursor = Cursor { line, col, byte };
        byte
    }

    /// Characters a scalar takes on its first line, counting its quotes; never past the line end.
    fn scalar_len(&self, value: &str, style: TScalarStyle, span: Span) -> u32 {
        let written = match style {
            TScalarStyle::Plain => value.chars().count(),
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => value.chars().count() + 2,
            _ => 1,
        };
        // Only as far as the scalar itself, so long lines are not rescanned per scalar.
        let rest_of_line = self.text[(span.offset - self.base).min(self.text.len())..]
            .chars()
            .take_while(|c| *c != '\n')
            .take(written)
            .count();
        u32::try_from(written.clamp(1, rest_of_line.max(1))).unwrap_or(1)
    }

    /// The diagnostic for a parser error, at the place the parser stopped.
    fn syntax_error(&mut self, error: &ScanError) -> Diagnostic {
        let marker = error.marker();
        let mut span = self.span_at(marker, 1);
        // The scanner reports a tab at the start of the value it was reading; point at the tab.
        if error.info().contains("tab") {
            let from = (span.offset - self.base).min(self.text.len());
            if let Some(at) = self.text[from..].find('\t').map(|i| i + from) {
                let line = self.text[..at].matches('\n').count() + 1;
                let col = self.text[..at]
                    .rsplit('\n')
                    .next()
                    .map_or(0, |l| l.chars().count())
                    + 1;
                span = Span::new(
                    self.base + at,
                    u32::try_from(line).unwrap_or(u32::MAX),
                    u32::try_from(col).unwrap_or(u32::MAX),
                    1,
                );
            }
        }
        // yaml-rust2 counts flow nesting in a byte and gives up at 255 levels, reading ahead of
        // the events the builder's own limit sees: past that limit too, so reported as it is
        // (`build` then finds where the builder's limit is passed).
        if error.info().contains("recursion limit") {
            return limits::nesting_too_deep(span);
        }
        Diagnostic::error("yaml-syntax", format!("YAML syntax error: {}", error.info()))
            .with_span(span)
            .help("fix the YAML syntax at this place; indentation and unclosed quotes or brackets are the usual causes")
    }

    /// Counts `added` more nodes into the tree, failing once the document holds more than
    /// `max_nodes` (with the copies anchors keep).
    #[allow(clippy::result_large_err)] // the diagnostic ends the parse
    fn count(&mut self, added: usize, span: Span, alias: bool) -> Result<(), Diagnostic> {
        self.nodes = self.nodes.saturating_add(added);
        self.check_budget(span, added, alias)
    }

    #[allow(clippy::result_large_err)] // the diagnostic ends the parse
    fn check_budget(&self, span: Span, added: usize, alias: bool) -> Result<(), Diagnostic> {
        if self.nodes.saturating_add(self.kept) > self.max_nodes {
            return Err(if alias {
                limits::alias_expansion_too_large(span, added, self.max_nodes)
            } else {
                limits::too_many_nodes(span, self.max_nodes)
            });
        }
        Ok(())
    }

    #[allow(clippy::result_large_err)] // the diagnostic ends the parse
    fn open(&mut self, kind: OpenKind, marker: &Marker, anchor: usize) -> Result<(), Diagnostic> {
        let span = self.span_at(marker, 1);
        if self.stack.len() >= limits::MAX_DEPTH {
            let at = (span.offset - self.base).min(self.text.len());
            let block_map =
                matches!(kind, OpenKind::Map { .. }) && !self.text[at..].starts_with('{');
            if block_map {
                // Marked at its first `:`; its first key, the next event, is where it starts.
                self.too_deep_at = Some(span);
                return Ok(());
            }
            return Err(limits::nesting_too_deep(span));
        }
        self.count(1, span, false)?;
        self.stack.push(Open {
            kind,
            span,
            anchor,
            nodes_before: self.nodes - 1,
        });
        Ok(())
    }

    /// Adds a finished value to the list or mapping being read (or makes it the root). `cost` is
    /// how many nodes it holds, for anchors.
    #[allow(clippy::result_large_err)] // the diagnostic ends the parse
    fn push_value(&mut self, node: Node, anchor: usize, cost: usize) -> Result<(), Diagnostic> {
        if anchor > 0 {
            // The anchor keeps its own copy: that copy counts too, so nested anchors cannot
            // multiply what is kept.
            self.kept = self.kept.saturating_add(cost);
            self.check_budget(node.span, cost, true)?;
            self.anchors.insert(anchor, (node.clone(), cost));
        }
        let Some(open) = self.stack.last_mut() else {
            if self.root.is_none() {
                self.root = Some(node);
            }
            return Ok(());
        };
        let OpenKind::Map {
            entries,
            pending,
            index,
        } = &mut open.kind
        else {
            if let OpenKind::Seq(items) = &mut open.kind {
                items.push(node);
            }
            return Ok(());
        };
        let Some((key, key_span)) = pending.take() else {
            // A key: keys must be scalars; other keys are reported and skipped.
            match &node.kind {
                NodeKind::Scalar(text, _) => *pending = Some((text.clone(), node.span)),
                NodeKind::Null => *pending = Some((String::new(), node.span)),
                _ => {
                    if self.problem.is_none() {
                        self.problem = Some(
                            Diagnostic::error(
                                "yaml-complex-key",
                                "mapping keys must be plain text",
                            )
                            .with_span(node.span)
                            .help("write the key as a plain string"),
                        );
                    }
                    *pending = Some((String::new(), node.span));
                }
            }
            return Ok(());
        };
        let seen = match index {
            Some(keys) => !keys.insert(key.clone()),
            None => {
                let seen = entries.iter().any(|e| e.key == key);
                if entries.len() >= KEY_INDEX_FROM {
                    let mut keys: HashSet<String> = entries.iter().map(|e| e.key.clone()).collect();
                    keys.insert(key.clone());
                    *index = Some(keys);
                }
                seen
            }
        };
        if seen && self.problem.is_none() {
            let first_line = entries
                .iter()
                .find(|e| e.key == key)
                .map_or(key_span.line, |e| e.key_span.line);
            self.problem = Some(
                Diagnostic::error(
                    "duplicate-key",
                    format!("key `{key}` appears twice in this mapping"),
                )
                .with_span(key_span)
                .help(format!(
                    "`{key}` is first set on line {first_line}; keep one of them"
                )),
            );
        }
        entries.push(Entry {
            key,
            key_span,
            value: node,
        });
        Ok(())
    }

    #[allow(clippy::result_large_err)] // the diagnostic ends the parse
    fn on_event(&mut self, event: Event, marker: &Marker) -> Result<(), Diagnostic> {
        if let Some(mapping) = self.too_deep_at.take() {
            let span = match event {
                Event::Scalar(..) => self.span_at(marker, 1),
                _ => mapping,
            };
            return Err(limits::nesting_too_deep(span));
        }
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 && self.problem.is_none() {
                    self.problem = Some(
                        Diagnostic::error("yaml-multiple-documents", "a stack file holds one YAML document")
                            .with_span(self.span_at(marker, 3))
                            .help("remove the `---` separator and merge the documents, or split them into separate stacks"),
                    );
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let span = self.span_at(marker, 1);
                self.count(1, span, false)?;
                let span = Span {
                    len: self.scalar_len(&value, style, span),
                    ..span
                };
                let forced_string = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let kind = match style {
                    TScalarStyle::Plain if !forced_string => {
                        if value.is_empty()
                            || value == "~"
                            || value == "null"
                            || value == "Null"
                            || value == "NULL"
                        {
                            NodeKind::Null
                        } else {
                            NodeKind::Scalar(value, ScalarStyle::Plain)
                        }
                    }
                    TScalarStyle::Plain
                    | TScalarStyle::SingleQuoted
                    | TScalarStyle::DoubleQuoted => NodeKind::Scalar(value, ScalarStyle::Quoted),
                    _ => NodeKind::Scalar(value, ScalarStyle::Block),
                };
                self.push_value(Node::new(kind, span), anchor, 1)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.open(OpenKind::Seq(Vec::new()), marker, anchor)?;
            }
            Event::MappingStart(anchor, _) => {
                let map = OpenKind::Map {
                    entries: Vec::new(),
                    pending: None,
                    index: None,
                };
                self.open(map, marker, anchor)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return Ok(());
                };
                let cost = self.nodes - open.nodes_before;
                let node = match open.kind {
                    OpenKind::Seq(items) => Node::new(NodeKind::Seq(items), open.span),
                    OpenKind::Map { entries, .. } => {
                        // yaml-rust2 marks a block mapping at its first `:`; its first key is
                        // where a reader sees the mapping start.
                        let at = (open.span.offset - self.base).min(self.text.len());
                        let flow = self.text[at..].starts_with('{');
                        let span = match entries.first() {
                            Some(first) if !flow => first.key_span,
                            _ => open.span,
                        };
                        let (entries, bad_merge) = merge_keys(entries);
                        if self.problem.is_none() {
                            self.problem = bad_merge;
                        }
                        Node::new(NodeKind::Map(entries), span)
                    }
                };
                self.push_value(node, open.anchor, cost)?;
            }
            Event::Alias(id) => {
                let span = self.span_at(marker, 1);
                let node = match self.anchors.get(&id) {
                    Some((node, cost)) => {
                        let (kind, cost) = (node.kind.clone(), *cost);
                        // Counted before the copy is kept: a billion laughs stops here.
                        self.count(cost, span, true)?;
                        Node::new(kind, span)
                    }
                    None => {
                        self.count(1, span, false)?;
                        Node::new(NodeKind::Null, span)
                    }
                };
                self.push_value(node, 0, 0)?;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_one_based_lines_and_columns() {
        let root = parse("a: 1\nbé:\n  - x: \"q\"\n").unwrap();
        let x = root.find(&FieldPath::parse("bé[0].x").unwrap()).unwrap();
        assert_eq!((x.span.line, x.span.col, x.span.len), (3, 8, 3));
        assert_eq!(
            root.key_span(&FieldPath::parse("bé").unwrap()).unwrap().col,
            1
        );
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_are_located() {
        let dup = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(dup.code, "duplicate-key");
        assert_eq!(dup.span.unwrap().line, 3);
        let bad = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(bad.code, "yaml-syntax");
    }

    #[test]
    fn merge_keys_fill_in_what_the_mapping_does_not_set() {
        let root = parse("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\n").unwrap();
        let x = root.get("x").unwrap();
        assert_eq!(x.get("a").unwrap().as_str(), Some("1"));
        assert_eq!(x.get("b").unwrap().as_str(), Some("3"));
        assert!(x.get("<<").is_none());
    }

    #[test]
    fn a_character_yaml_forbids_is_located_and_never_ends_the_file() {
        // yaml-rust2 alone reads `a: 1` and stops at the NUL, dropping `b`.
        let nul = parse("a: 1\nb: x\u{0}y\n\u{1b}\n").unwrap_err();
        assert_eq!(nul.code, "forbidden-character");
        let span = nul.span.unwrap();
        assert_eq!((span.offset, span.line, span.col), (9, 2, 5));
        assert!(nul.message.contains("U+0000 (NUL)"), "{}", nul.message);
        assert!(nul.message.contains("1 more"), "{}", nul.message);
        // Offsets count a byte-order mark; columns count characters.
        let c1 = parse("\u{feff}k: é\u{85}\u{9b}\n").unwrap_err();
        let span = c1.span.unwrap();
        assert_eq!((span.offset, span.line, span.col), (3 + 7, 1, 6));
        for allowed in [
            "a: \"\t\u{85}\u{a0}\u{feff}\u{fffd}\u{10ffff}\"\r\n",
            "a: \"\\0\\e\"\n",
        ] {
            assert!(parse(allowed).is_ok(), "{allowed:?}");
        }
    }

    #[test]
    fn merge_keys_that_are_not_mappings_are_reported_at_the_value() {
        let scalar = parse("x:\n  <<: 5\n  a: 1\n").unwrap_err();
        assert_eq!(scalar.code, "bad-merge");
        assert_eq!(scalar.span.map(|s| (s.line, s.col)), Some((2, 7)));
        let item = parse("b: &b {k: v}\nx: {<<: [*b, 7], a: 1}\n").unwrap_err();
        assert_eq!(item.code, "bad-merge");
        assert_eq!(item.span.map(|s| (s.line, s.col)), Some((2, 14)));
        assert!(item.message.contains("item 2"), "{}", item.message);
        assert_eq!(parse("x:\n  <<:\n").unwrap_err().code, "bad-merge");
    }

    #[test]
    fn anchors_are_copied_to_their_aliases() {
        let root = parse("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(root.get("b").unwrap().get("k").unwrap().as_str(), Some("v"));
    }
}
