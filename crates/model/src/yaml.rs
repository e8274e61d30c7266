//! A YAML document as a tree of nodes that remember where they were written.
//!
//! serde_yaml forgets positions once a value is parsed; diagnostics need them for every field, so
//! the stack file is read with yaml-rust2's event parser into this tree, and typed structures are
//! then deserialized from it (see `de`).

use crate::diagnostic::Diagnostic;
use crate::path::{FieldPath, Segment};
use crate::span::Span;
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

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

/// Parses one YAML document. A syntax error is one diagnostic at the place the parser stopped.
#[allow(clippy::result_large_err)] // once per file; the diagnostic is the whole answer
pub fn parse(text: &str) -> Result<Node, Diagnostic> {
    let mut builder = TreeBuilder::new(text);
    let mut parser = Parser::new_from_str(text);
    if let Err(error) = parser.load(&mut builder, true) {
        let marker = error.marker();
        let mut span = builder.span_at(marker, 1);
        // The scanner reports a tab at the start of the value it was reading; point at the tab.
        if error.info().contains("tab") {
            if let Some(at) = text[span.offset.min(text.len())..]
                .find('\t')
                .map(|i| i + span.offset)
            {
                let line = text[..at].matches('\n').count() + 1;
                let col = text[..at]
                    .rsplit('\n')
                    .next()
                    .map_or(0, |l| l.chars().count())
                    + 1;
                span = Span::new(
                    at,
                    u32::try_from(line).unwrap_or(u32::MAX),
                    u32::try_from(col).unwrap_or(u32::MAX),
                    1,
                );
            }
        }
        return Err(Diagnostic::error("yaml-syntax", format!("YAML syntax error: {}", error.info()))
            .with_span(span)
            .help("fix the YAML syntax at this place; indentation and unclosed quotes or brackets are the usual causes"));
    }
    if let Some(problem) = builder.problem {
        return Err(problem);
    }
    Ok(builder
        .root
        .unwrap_or_else(|| Node::new(NodeKind::Null, Span::new(0, 1, 1, 1))))
}

/// Applies YAML merge keys (`<<: *base` or `<<: [*a, *b]`): the merged mappings' entries are
/// added unless the mapping sets the key itself; earlier merged mappings win over later ones.
fn merge_keys(entries: Vec<Entry>) -> Vec<Entry> {
    if !entries.iter().any(|e| e.key == "<<") {
        return entries;
    }
    let (merges, mut own): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.key == "<<");
    for merge in merges {
        let sources = match merge.value.kind {
            NodeKind::Map(_) => vec![merge.value],
            NodeKind::Seq(items) => items,
            _ => Vec::new(),
        };
        for source in sources {
            if let NodeKind::Map(merged) = source.kind {
                for entry in merged {
                    if !own.iter().any(|e| e.key == entry.key) {
                        own.push(entry);
                    }
                }
            }
        }
    }
    own
}

/// Collects parser events into a `Node` tree, resolving anchors and flagging duplicate keys.
struct TreeBuilder<'a> {
    text: &'a str,
    /// Byte offset at the start of every line, to turn character markers into spans.
    line_starts: Vec<usize>,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    problem: Option<Diagnostic>,
    documents: usize,
}

enum Open {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<Entry>, Option<(String, Span)>, Span, usize),
}

impl<'a> TreeBuilder<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        TreeBuilder {
            text,
            line_starts,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            problem: None,
            documents: 0,
        }
    }

    /// yaml-rust2 markers count characters; spans keep a byte offset too for slicing.
    fn span_at(&self, marker: &Marker, len: u32) -> Span {
        let line = marker.line().max(1);
        let col = marker.col() + 1;
        let offset = self
            .line_starts
            .get(line - 1)
            .map(|start| {
                let rest = &self.text[*start..];
                start
                    + rest
                        .char_indices()
                        .nth(col - 1)
                        .map(|(i, _)| i)
                        .unwrap_or(rest.len())
            })
            .unwrap_or(self.text.len());
        Span::new(
            offset,
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col).unwrap_or(u32::MAX),
            len,
        )
    }

    fn scalar_len(&self, value: &str, style: TScalarStyle, span: Span) -> u32 {
        let rest_of_line = self.text[span.offset.min(self.text.len())..]
            .split('\n')
            .next()
            .unwrap_or("")
            .chars()
            .count();
        let written = match style {
            TScalarStyle::Plain => value.chars().count(),
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => value.chars().count() + 2,
            _ => 1,
        };
        u32::try_from(written.clamp(1, rest_of_line.max(1))).unwrap_or(1)
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Open::Seq(items, ..)) => items.push(node),
            Some(Open::Map(entries, pending, ..)) => match pending.take() {
                None => {
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
                }
                Some((key, key_span)) => {
                    if let Some(first) = entries.iter().find(|e| e.key == key) {
                        if self.problem.is_none() {
                            let first_line = first.key_span.line;
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
                    }
                    entries.push(Entry {
                        key,
                        key_span,
                        value: node,
                    });
                }
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder<'_> {
    fn on_event(&mut self, event: Event, marker: Marker) {
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 && self.problem.is_none() {
                    self.problem = Some(
                        Diagnostic::error("yaml-multiple-documents", "a stack file holds one YAML document")
                            .with_span(self.span_at(&marker, 3))
                            .help("remove the `---` separator and merge the documents, or split them into separate stacks"),
                    );
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let span = self.span_at(&marker, 1);
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
                self.push_value(Node::new(kind, span), anchor);
            }
            Event::SequenceStart(anchor, _) => {
                let span = self.span_at(&marker, 1);
                self.stack.push(Open::Seq(Vec::new(), span, anchor));
            }
            Event::MappingStart(anchor, _) => {
                let span = self.span_at(&marker, 1);
                self.stack.push(Open::Map(Vec::new(), None, span, anchor));
            }
            Event::SequenceEnd => {
                if let Some(Open::Seq(items, span, anchor)) = self.stack.pop() {
                    self.push_value(Node::new(NodeKind::Seq(items), span), anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Open::Map(entries, _, span, anchor)) = self.stack.pop() {
                    // yaml-rust2 marks a block mapping at its first `:`; its first key is where a
                    // reader sees the mapping start.
                    let flow = self.text[span.offset.min(self.text.len())..].starts_with('{');
                    let span = match entries.first() {
                        Some(first) if !flow => first.key_span,
                        _ => span,
                    };
                    self.push_value(Node::new(NodeKind::Map(merge_keys(entries)), span), anchor);
                }
            }
            Event::Alias(id) => {
                let span = self.span_at(&marker, 1);
                let node = match self.anchors.get(&id) {
                    Some(node) => Node::new(node.kind.clone(), span),
                    None => Node::new(NodeKind::Null, span),
                };
                self.push_value(node, 0);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
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
    fn anchors_are_copied_to_their_aliases() {
        let root = parse("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(root.get("b").unwrap().get("k").unwrap().as_str(), Some("v"));
    }
}
