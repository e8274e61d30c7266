//! `meshctl fmt`: a stack file rewritten in canonical order and indentation, keeping every comment
//! (docs/fmt.md).
//!
//! yaml-rust2's events (the `yaml` module) drop comments, so the formatter reads the text itself,
//! line by line, into a small tree of the block-style YAML stack files are written in: mappings,
//! sequences, one-line scalars and flow collections (kept verbatim), and block scalars (`|`,
//! `>`). Each comment and blank line travels with the node it precedes; a comment on a node's
//! line stays on that line. The output indents by two spaces, sequences under their key, and
//! orders keys: the header as `HEADER_ORDER`, each resource `kind`, `name`, then its kind's fields
//! in the order of the kind's structure (`Kind::fields`), then `ENVELOPE_LAST`, then any other
//! key in its original order; other mappings keep their order.
//!
//! What it cannot rewrite safely it refuses, with the line and column: anchors, aliases, tags,
//! multi-line flow collections and multi-line plain or quoted scalars, explicit `?` keys,
//! several documents, block scalars with indentation or keep (`+`) indicators, tabs in
//! indentation. `same_meaning` compares the trees yaml-rust2 reads from the input and the output,
//! so the caller can prove that nothing but layout changed.

use crate::kinds::Kind;
use crate::yaml::{Node as YamlNode, NodeKind};
use std::fmt;

/// The stack header's keys, in the order `fmt` writes them.
pub const HEADER_ORDER: &[&str] = &[
    "stack",
    "region",
    "vars",
    "kube",
    "backend",
    "resources",
    "outputs",
];
/// A resource's keys written after its kind's own fields.
pub const ENVELOPE_LAST: &[&str] = &["import", "depends_on", "lifecycle", "prevent_destroy"];

/// Why a file was not formatted: where (1-based line and column) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FmtError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for FmtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for FmtError {}

/// `text` in canonical form, or why it cannot be formatted safely. Formatting its own output
/// changes nothing.
pub fn format(text: &str) -> Result<String, FmtError> {
    let mut parser = Parser::new(text)?;
    let document = parser.document()?;
    let mut out = Emitter::default();
    if document.start_marker {
        out.line(String::from("---"));
    }
    out.trivia(&document.header, 0);
    if let Some(root) = &document.root {
        match root {
            Value::Map(entries) => out.map(entries, 0, Context::Root),
            Value::Seq(items) => out.seq(items, 0, Context::Other),
            other => out.scalar_document(other),
        }
    }
    out.trivia(&document.trailing, 0);
    let mut text = out.lines.join("\n");
    text.push('\n');
    Ok(text)
}

/// Whether two trees read by yaml-rust2 say the same: the same scalars (with the same style, so
/// a number stays a number), sequences in the same order, mappings with the same keys and values
/// in any order. Spans are not compared.
pub fn same_meaning(a: &YamlNode, b: &YamlNode) -> bool {
    match (&a.kind, &b.kind) {
        (NodeKind::Null, NodeKind::Null) | (NodeKind::Removed, NodeKind::Removed) => true,
        (NodeKind::Scalar(x, sx), NodeKind::Scalar(y, sy)) => x == y && sx == sy,
        (NodeKind::Seq(x), NodeKind::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_meaning(p, q))
        }
        (NodeKind::Map(x), NodeKind::Map(y)) => {
            // Keys in order of appearance per key, so that duplicates pair up as written.
            fn sorted(entries: &[crate::yaml::Entry]) -> Vec<&crate::yaml::Entry> {
                let mut refs: Vec<_> = entries.iter().collect();
                refs.sort_by(|p, q| p.key.cmp(&q.key));
                refs
            }
            let (x, y) = (sorted(x), sorted(y));
            x.len() == y.len()
                && x.iter()
                    .zip(&y)
                    .all(|(p, q)| p.key == q.key && same_meaning(&p.value, &q.value))
        }
        _ => false,
    }
}

/// The fields of a struct in declaration order, as its derived `Deserialize` names them (empty
/// when the type is not deserialized as a struct): what `Kind::fields` is made of.
pub fn struct_fields<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldCatcher(&mut fields));
    fields
}

/// A deserializer that only records the field list a struct's `Deserialize` asks for.
struct FieldCatcher<'a>(&'a mut &'static [&'static str]);

/// The end of a `FieldCatcher` run (never shown to anyone).
#[derive(Debug)]
struct Caught;

impl fmt::Display for Caught {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field list caught")
    }
}

impl std::error::Error for Caught {}

impl serde::de::Error for Caught {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Caught
    }
}

impl<'de> serde::Deserializer<'de> for FieldCatcher<'_> {
    type Error = Caught;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Caught> {
        Err(Caught)
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Caught> {
        *self.0 = fields;
        Err(Caught)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A blank line or a comment line before a node.
#[derive(Debug, Clone, PartialEq)]
enum Trivia {
    Blank,
    /// The comment, from `#` on, without trailing spaces.
    Comment(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// Nothing after the key or dash, and no block below.
    Null,
    /// A one-line scalar or flow collection, as written.
    Inline(String),
    /// A block scalar: its header (`|`, `>-`) and its lines with the block's indentation
    /// removed (empty for blank lines).
    Block {
        header: String,
        lines: Vec<String>,
    },
    Map(Vec<Entry>),
    Seq(Vec<Item>),
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    leading: Vec<Trivia>,
    key: String,
    /// A comment on the key's line, with the spaces before it.
    comment: Option<String>,
    value: Value,
    /// Position in the file, for a stable order among keys no rule places.
    index: usize,
}

#[derive(Debug, Clone, PartialEq)]
struct Item {
    leading: Vec<Trivia>,
    /// A comment on the dash's line when nothing else is there.
    comment: Option<String>,
    value: Value,
}

struct Document {
    start_marker: bool,
    /// Comments before the first node and a blank line: the file's own, kept at the top
    /// whatever key comes first.
    header: Vec<Trivia>,
    root: Option<Value>,
    trailing: Vec<Trivia>,
}

/// Reads lines into `Value`s; comments and blank lines wait in `pending` for the next node.
struct Parser {
    lines: Vec<String>,
    pos: usize,
    pending: Vec<Trivia>,
    next_index: usize,
    /// How many blocks the current line is nested in, bounded like the loader's.
    depth: usize,
}

fn refuse(line: usize, col: usize, message: impl Into<String>) -> FmtError {
    FmtError {
        line: line + 1,
        col: col + 1,
        message: message.into(),
    }
}

/// The number of leading spaces.
fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `---` or `...` (a document's start or end).
fn is_document_marker(content: &str) -> bool {
    content == "---" || content == "..." || content.starts_with("--- ")
}

/// A dash that starts a sequence item: `-` alone or followed by a space.
fn is_dash(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

impl Parser {
    fn new(text: &str) -> Result<Self, FmtError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines: Vec<String> = text
            .lines()
            .map(|l| l.trim_end_matches([' ', '\r']).to_string())
            .collect();
        for (number, line) in lines.iter().enumerate() {
            let indent = indent_of(line);
            if line[indent..].starts_with('\t') {
                return Err(refuse(
                    number,
                    indent,
                    "a tab in the indentation; YAML indents with spaces",
                ));
            }
        }
        Ok(Self {
            lines,
            pos: 0,
            pending: Vec::new(),
            next_index: 0,
            depth: 0,
        })
    }

    fn document(&mut self) -> Result<Document, FmtError> {
        self.skip_trivia();
        let mut start_marker = false;
        if let Some(line) = self.lines.get(self.pos) {
            if line == "---" || line.starts_with("--- ") {
                if line.len() > 3 && !line[3..].trim_start().starts_with('#') {
                    return Err(refuse(
                        self.pos,
                        4,
                        "a value on the `---` line; put it below",
                    ));
                }
                start_marker = true;
                self.pos += 1;
            } else if line.starts_with('%') {
                return Err(refuse(
                    self.pos,
                    0,
                    "YAML directives (`%`) are not formatted",
                ));
            }
        }
        let mut root = match self.next_content() {
            None => None,
            Some((indent, _)) => Some(self.block(indent)?),
        };
        let mut header = Vec::new();
        if let Some(Value::Map(entries)) = &mut root {
            if let Some(first) = entries.first_mut() {
                if let Some(last_blank) = first.leading.iter().rposition(|t| *t == Trivia::Blank) {
                    header = first.leading.drain(..=last_blank).collect();
                }
            }
        }
        self.skip_trivia();
        if let Some(line) = self.lines.get(self.pos) {
            let message = if is_document_marker(line) {
                "more than one YAML document; a stack file is one"
            } else {
                "a line that belongs to no node at this indentation"
            };
            return Err(refuse(self.pos, indent_of(line), message));
        }
        Ok(Document {
            start_marker,
            header,
            root,
            trailing: std::mem::take(&mut self.pending),
        })
    }

    /// Moves blank and comment lines into `pending`.
    fn skip_trivia(&mut self) {
        while let Some(line) = self.lines.get(self.pos) {
            let content = line.trim_start();
            if content.is_empty() {
                self.pending.push(Trivia::Blank);
            } else if content.starts_with('#') {
                self.pending.push(Trivia::Comment(content.to_string()));
            } else {
                return;
            }
            self.pos += 1;
        }
    }

    /// The indentation and content of the next line with content (after trivia).
    fn next_content(&mut self) -> Option<(usize, String)> {
        self.skip_trivia();
        let line = self.lines.get(self.pos)?;
        let indent = indent_of(line);
        Some((indent, line[indent..].to_string()))
    }

    /// The block whose first line is the next content line, at `indent`.
    fn block(&mut self, indent: usize) -> Result<Value, FmtError> {
        if self.depth >= crate::limits::MAX_DEPTH {
            return Err(refuse(
                self.pos,
                indent,
                format!(
                    "nested deeper than {} levels, as no stack is",
                    crate::limits::MAX_DEPTH
                ),
            ));
        }
        self.depth += 1;
        let block = self.block_within(indent);
        self.depth -= 1;
        block
    }

    fn block_within(&mut self, indent: usize) -> Result<Value, FmtError> {
        let Some((_, content)) = self.next_content() else {
            return Ok(Value::Null);
        };
        if is_dash(&content) {
            self.seq(indent)
        } else if split_key(&content).is_some() {
            self.map(indent)
        } else {
            Err(refuse(
                self.pos,
                indent,
                "a value on its own line (a plain or quoted scalar over several lines); write it on one line or as a block scalar (`|`)",
            ))
        }
    }

    fn map(&mut self, indent: usize) -> Result<Value, FmtError> {
        let mut entries = Vec::new();
        while let Some((at, content)) = self.next_content() {
            if at < indent || (at == indent && is_dash(&content)) || is_document_marker(&content) {
                break;
            }
            let line = self.pos;
            if at > indent {
                return Err(refuse(
                    line,
                    at,
                    "more indented than the keys before it: a value continued over lines is not formatted; write it on one line or as a block scalar (`|`)",
                ));
            }
            let Some((key, rest_col)) = split_key(&content) else {
                return Err(refuse(line, at, "expected `key: value` here"));
            };
            check_key(&key, line, at)?;
            let leading = std::mem::take(&mut self.pending);
            self.pos += 1;
            let rest = &content[rest_col..];
            let rest_at = at + rest_col + (rest.len() - rest.trim_start().len());
            let (value, comment) = self.value(rest.trim_start(), line, rest_at, indent, true)?;
            let index = self.next_index;
            self.next_index += 1;
            entries.push(Entry {
                leading,
                key,
                comment,
                value,
                index,
            });
        }
        Ok(Value::Map(entries))
    }

    fn seq(&mut self, indent: usize) -> Result<Value, FmtError> {
        let mut items = Vec::new();
        while let Some((at, content)) = self.next_content() {
            if at < indent || !(at == indent && is_dash(&content)) || is_document_marker(&content) {
                if at > indent {
                    return Err(refuse(
                        self.pos,
                        at,
                        "more indented than the items before it: a value continued over lines is not formatted",
                    ));
                }
                break;
            }
            let line = self.pos;
            let leading = std::mem::take(&mut self.pending);
            let rest = &content[1..];
            let rest_at = at + 1 + (rest.len() - rest.trim_start().len());
            let rest = rest.trim_start();
            if is_dash(rest) || (!rest.starts_with('#') && split_key(rest).is_some()) {
                // `- key: value` or `- - x`: the item is a block starting at `rest_at`, on this
                // very line; blank the dash so that the line reads as that block's first line.
                self.lines[line].replace_range(at..at + 1, " ");
                let value = self.block(rest_at)?;
                items.push(Item {
                    leading,
                    comment: None,
                    value,
                });
                continue;
            }
            self.pos += 1;
            let (value, comment) = self.value(rest, line, rest_at, indent, false)?;
            items.push(Item {
                leading,
                comment,
                value,
            });
        }
        Ok(Value::Seq(items))
    }

    /// The value after a key or a dash (`rest`, at column `col` of `line`) and the lines it
    /// owns below; `parent` is the indentation of the key or dash.
    fn value(
        &mut self,
        rest: &str,
        line: usize,
        col: usize,
        parent: usize,
        after_key: bool,
    ) -> Result<(Value, Option<String>), FmtError> {
        let (head, comment) = inline(rest, line, col)?;
        match head {
            Head::Empty => {
                let below = match self.next_content() {
                    Some((at, _)) if at > parent => Some(at),
                    // A sequence may sit at its key's own indentation.
                    Some((at, content)) if after_key && at == parent && is_dash(&content) => {
                        Some(at)
                    }
                    _ => None,
                };
                let value = match below {
                    Some(at) => self.block(at)?,
                    None => Value::Null,
                };
                Ok((value, comment))
            }
            Head::Inline(text) => {
                if let Some((at, _)) = self.next_content() {
                    if at > parent {
                        return Err(refuse(
                            self.pos,
                            at,
                            "a value continued over lines is not formatted; write it on one line or as a block scalar (`|`)",
                        ));
                    }
                }
                Ok((Value::Inline(text), comment))
            }
            Head::Block(header) => {
                // Block scalar lines are content whatever they hold, `#` included: taken before
                // any trivia is read.
                let mut raw = Vec::new();
                while let Some(next) = self.lines.get(self.pos) {
                    if !next.is_empty() && indent_of(next) <= parent {
                        break;
                    }
                    raw.push((self.pos, next.clone()));
                    self.pos += 1;
                }
                // Trailing blank lines are not part of a clipped or stripped scalar.
                let mut trailing_blanks = 0;
                while raw.last().is_some_and(|(_, l)| l.is_empty()) {
                    raw.pop();
                    trailing_blanks += 1;
                }
                let block_indent = raw
                    .iter()
                    .find(|(_, l)| !l.is_empty())
                    .map(|(_, l)| indent_of(l));
                let mut lines = Vec::new();
                for (number, text) in &raw {
                    match block_indent {
                        Some(b) if text.len() > b => {
                            if indent_of(text) < b {
                                return Err(refuse(
                                    *number,
                                    indent_of(text),
                                    "a block scalar line less indented than its first line",
                                ));
                            }
                            lines.push(text[b..].to_string());
                        }
                        _ => lines.push(String::new()),
                    }
                }
                self.pending
                    .extend(std::iter::repeat_n(Trivia::Blank, trailing_blanks));
                Ok((Value::Block { header, lines }, comment))
            }
        }
    }
}

/// What a key's or dash's line holds after it.
enum Head {
    Empty,
    Inline(String),
    Block(String),
}

/// The value text and trailing comment of `rest` (at `col` of `line`), refusing what is not
/// formatted safely.
fn inline(rest: &str, line: usize, col: usize) -> Result<(Head, Option<String>), FmtError> {
    if rest.is_empty() {
        return Ok((Head::Empty, None));
    }
    if rest.starts_with('#') {
        return Ok((Head::Empty, Some(format!(" {rest}"))));
    }
    let first = rest.as_bytes()[0];
    match first {
        b'&' => {
            return Err(refuse(
                line,
                col,
                "an anchor (`&`); fmt does not rewrite anchors and aliases, write the value out",
            ))
        }
        b'*' => {
            return Err(refuse(
                line,
                col,
                "an alias (`*`); fmt does not rewrite anchors and aliases, write the value out",
            ))
        }
        b'!' => return Err(refuse(line, col, "a tag (`!`); stack files need none")),
        b'?' if rest.len() == 1 || rest.as_bytes()[1] == b' ' => {
            return Err(refuse(
                line,
                col,
                "an explicit key (`?`); write `key: value`",
            ))
        }
        b'@' | b'`' => {
            return Err(refuse(
                line,
                col,
                "`@` and `` ` `` cannot start a plain scalar; quote the value",
            ))
        }
        _ => {}
    }
    let end = match first {
        b'|' | b'>' => {
            let header_end = rest.find(' ').unwrap_or(rest.len());
            let header = &rest[..header_end];
            let after = rest[header_end..].trim_start();
            if !after.is_empty() && !after.starts_with('#') {
                return Err(refuse(line, col, "text after a block scalar header"));
            }
            if header[1..].bytes().any(|b| b.is_ascii_digit()) || header.contains('+') {
                return Err(refuse(
                    line,
                    col,
                    "a block scalar with an indentation or keep (`+`) indicator; fmt handles `|`, `|-`, `>`, `>-`",
                ));
            }
            if !matches!(&header[1..], "" | "-") {
                return Err(refuse(line, col, format!("block scalar header {header:?}")));
            }
            let comment = (!after.is_empty()).then(|| rest[header_end..].to_string());
            return Ok((Head::Block(header.to_string()), comment));
        }
        b'"' => closing_double_quote(rest).ok_or_else(|| {
            refuse(
                line,
                col,
                "a double-quoted value continued over lines; write it on one line",
            )
        })?,
        b'\'' => closing_single_quote(rest).ok_or_else(|| {
            refuse(
                line,
                col,
                "a single-quoted value continued over lines; write it on one line",
            )
        })?,
        b'[' | b'{' => flow_end(rest, line, col)?,
        _ => plain_end(rest),
    };
    let value = rest[..end].trim_end();
    // The comment keeps the spaces before it (aligned comments stay aligned).
    let after = &rest[value.len()..];
    let after_trimmed = after.trim_start();
    if !after_trimmed.is_empty() && !after_trimmed.starts_with('#') {
        return Err(refuse(
            line,
            col + end,
            "text after the value; is a quote or bracket misplaced?",
        ));
    }
    if after_trimmed.starts_with('#') && after.len() == after_trimmed.len() {
        return Err(refuse(
            line,
            col + end,
            "a comment needs a space before `#`",
        ));
    }
    let comment = (!after_trimmed.is_empty()).then(|| after.to_string());
    Ok((Head::Inline(value.to_string()), comment))
}

/// Where a plain scalar ends: before ` #` or at the end of the line.
fn plain_end(rest: &str) -> usize {
    rest.find(" #").unwrap_or(rest.len())
}

/// The index just past the closing `"`, escapes honoured.
fn closing_double_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// The index just past the closing `'` (`''` is a quote inside).
fn closing_single_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The index just past a flow collection closed on this line; refuses one continued below, and
/// anchors, aliases and tags inside.
fn flow_end(text: &str, line: usize, col: usize) -> Result<usize, FmtError> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let mut token_start = true;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' => {
                let close = if b == b'"' {
                    closing_double_quote(&text[i..])
                } else {
                    closing_single_quote(&text[i..])
                };
                i += close.ok_or_else(|| {
                    refuse(
                        line,
                        col + i,
                        "a quoted value continued over lines; write it on one line",
                    )
                })?;
                token_start = false;
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                token_start = true;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(i + 1);
                }
                token_start = false;
            }
            b',' => token_start = true,
            b'#' if i > 0 && bytes[i - 1] == b' ' => break,
            b' ' => {}
            b':' => token_start = true,
            b'&' | b'*' | b'!' if token_start => {
                return Err(refuse(
                    line,
                    col + i,
                    "an anchor, alias or tag inside a flow collection; write the value out",
                ))
            }
            _ => token_start = false,
        }
        i += 1;
    }
    Err(refuse(
        line,
        col,
        "a flow collection (`[...]`, `{...}`) continued over lines; fmt formats one-line flow collections only",
    ))
}

/// A mapping line's key and where its value starts (just past the `:`), or `None` when the line
/// is no `key: value`.
fn split_key(content: &str) -> Option<(String, usize)> {
    let bytes = content.as_bytes();
    let key_end = match bytes.first()? {
        b'"' => closing_double_quote(content)?,
        b'\'' => closing_single_quote(content)?,
        // A comment, or a flow collection (`{ a: 1 }` is a value, not the key `{ a`).
        b'#' | b'[' | b'{' => return None,
        _ => {
            let mut i = 0;
            loop {
                let colon = content[i..].find(':')? + i;
                let next = bytes.get(colon + 1);
                if next.is_none() || next == Some(&b' ') {
                    if content[..colon].contains(" #") {
                        return None;
                    }
                    break colon;
                }
                i = colon + 1;
            }
        }
    };
    let after_key = &content[key_end..];
    let spaces = after_key.len() - after_key.trim_start().len();
    let colon = key_end + spaces;
    if bytes.get(colon) != Some(&b':') {
        return None;
    }
    if !matches!(bytes.get(colon + 1), None | Some(b' ')) {
        return None;
    }
    Some((content[..key_end].trim_end().to_string(), colon + 1))
}

/// Refuses keys fmt does not rewrite safely.
fn check_key(key: &str, line: usize, col: usize) -> Result<(), FmtError> {
    match key.as_bytes().first() {
        Some(b'&' | b'*' | b'!') => Err(refuse(
            line,
            col,
            "an anchor, alias or tag on a key; write the key out",
        )),
        Some(b'[' | b'{') => Err(refuse(line, col, "a flow collection as a key")),
        Some(b'?') => Err(refuse(
            line,
            col,
            "an explicit key (`?`); write `key: value`",
        )),
        _ => Ok(()),
    }
}

/// Which ordering rule a mapping follows.
#[derive(Clone, Copy)]
enum Context {
    Root,
    Resource,
    Other,
}

/// The key of an entry as a plain string (quotes removed), for ordering.
fn key_text(key: &str) -> &str {
    key.trim_matches(|c| c == '"' || c == '\'')
}

/// The entries of a mapping in the order `context` gives.
fn ordered(entries: &[Entry], context: Context) -> Vec<&Entry> {
    let order: Vec<&str> = match context {
        Context::Root => HEADER_ORDER.to_vec(),
        Context::Resource => {
            let kind = entries
                .iter()
                .find(|e| key_text(&e.key) == "kind")
                .and_then(|e| match &e.value {
                    Value::Inline(text) => Kind::parse(key_text(text)),
                    _ => None,
                });
            let mut order = vec!["kind", "name"];
            let fields = kind.map(Kind::fields).unwrap_or_default();
            for field in fields.iter().chain(ENVELOPE_LAST) {
                if !order.contains(field) {
                    order.push(field);
                }
            }
            order
        }
        Context::Other => Vec::new(),
    };
    let rank = |entry: &Entry| {
        order
            .iter()
            .position(|k| *k == key_text(&entry.key))
            .map_or((1, entry.index), |p| (0, p))
    };
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| rank(e));
    sorted
}

/// Writes the canonical text.
#[derive(Default)]
struct Emitter {
    lines: Vec<String>,
}

fn pad(indent: usize) -> String {
    " ".repeat(indent)
}

impl Emitter {
    fn line(&mut self, text: String) {
        self.lines.push(text);
    }

    /// Comments at `indent`; a run of blank lines becomes one, and none opens the file.
    fn trivia(&mut self, trivia: &[Trivia], indent: usize) {
        for t in trivia {
            match t {
                Trivia::Blank => {
                    if self.lines.last().is_some_and(|l| !l.is_empty()) {
                        self.lines.push(String::new());
                    }
                }
                Trivia::Comment(text) => self.lines.push(format!("{}{text}", pad(indent))),
            }
        }
    }

    fn scalar_document(&mut self, value: &Value) {
        match value {
            Value::Inline(text) => self.line(text.clone()),
            Value::Block { header, lines } => {
                self.line(header.clone());
                self.block_lines(lines, 2);
            }
            _ => {}
        }
    }

    fn block_lines(&mut self, lines: &[String], indent: usize) {
        for l in lines {
            if l.is_empty() {
                self.lines.push(String::new());
            } else {
                self.lines.push(format!("{}{l}", pad(indent)));
            }
        }
    }

    /// `head` (a key with its colon, or a dash) and what follows it on its line and below.
    fn node(
        &mut self,
        head: String,
        comment: Option<&str>,
        value: &Value,
        indent: usize,
        context: Context,
    ) {
        let comment = comment.unwrap_or_default();
        match value {
            Value::Null => self.line(format!("{head}{comment}")),
            Value::Inline(text) => self.line(format!("{head} {text}{comment}")),
            Value::Block { header, lines } => {
                self.line(format!("{head} {header}{comment}"));
                self.block_lines(lines, indent + 2);
            }
            Value::Map(entries) => {
                self.line(format!("{head}{comment}"));
                self.map(entries, indent + 2, context);
            }
            Value::Seq(items) => {
                self.line(format!("{head}{comment}"));
                self.seq(items, indent + 2, context);
            }
        }
    }

    fn map(&mut self, entries: &[Entry], indent: usize, context: Context) {
        for entry in ordered(entries, context) {
            self.trivia(&entry.leading, indent);
            let child = match context {
                Context::Root if key_text(&entry.key) == "resources" => Context::Resource,
                _ => Context::Other,
            };
            self.node(
                format!("{}{}:", pad(indent), entry.key),
                entry.comment.as_deref(),
                &entry.value,
                indent,
                child,
            );
        }
    }

    /// Items of a sequence; `context` is that of the mappings they hold.
    fn seq(&mut self, items: &[Item], indent: usize, context: Context) {
        for item in items {
            self.trivia(&item.leading, indent);
            match &item.value {
                Value::Map(entries) if item.comment.is_none() && !entries.is_empty() => {
                    // `- key: value`: the first key on the dash's line, its comments above it.
                    let sorted = ordered(entries, context);
                    self.trivia(&sorted[0].leading, indent);
                    let start = self.lines.len();
                    let mut first = sorted[0].clone();
                    first.leading.clear();
                    let mut rest: Vec<Entry> = sorted[1..].iter().map(|e| (*e).clone()).collect();
                    // Already in order: keep it by renumbering.
                    for (i, e) in std::iter::once(&mut first)
                        .chain(rest.iter_mut())
                        .enumerate()
                    {
                        e.index = i;
                    }
                    let mut all = vec![first];
                    all.append(&mut rest);
                    self.map(&all, indent + 2, Context::Other);
                    let first_line = &mut self.lines[start];
                    first_line.replace_range(indent..indent + 2, "- ");
                }
                value => {
                    let nested = match value {
                        Value::Seq(_) => Context::Other,
                        _ => context,
                    };
                    self.node(
                        format!("{}-", pad(indent)),
                        item.comment.as_deref(),
                        value,
                        indent,
                        nested,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt_ok(text: &str) -> String {
        format(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn reindents_and_keeps_comments() {
        let text = "# head\nstack: s   # the name\nregion: r\nresources:\n- kind: vpc # a vpc\n  # before name\n  name: main\n  cidr: 10.0.0.0/16\n";
        let out = fmt_ok(text);
        assert_eq!(
            out,
            "# head\nstack: s   # the name\nregion: r\nresources:\n  - kind: vpc # a vpc\n    # before name\n    name: main\n    cidr: 10.0.0.0/16\n"
        );
        assert_eq!(fmt_ok(&out), out);
    }

    #[test]
    fn orders_header_and_resource_keys() {
        let text = "resources:\n  - name: main\n    cidr: 10.0.0.0/16\n    # the kind\n    kind: vpc\nregion: r\nstack: s\n";
        let out = fmt_ok(text);
        assert_eq!(
            out,
            "stack: s\nregion: r\nresources:\n  # the kind\n  - kind: vpc\n    name: main\n    cidr: 10.0.0.0/16\n"
        );
    }

    #[test]
    fn block_scalars_move_with_their_key() {
        let text = "a:\n      b: |\n          line 1\n            # not a comment\n\n          line 3\n      c: >-\n        folded\n";
        let out = fmt_ok(text);
        assert_eq!(
            out,
            "a:\n  b: |\n    line 1\n      # not a comment\n\n    line 3\n  c: >-\n    folded\n"
        );
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        for (text, line, col, words) in [
            ("a: &x 1\nb: *x\n", 1, 4, "anchor"),
            ("a: [1,\n  2]\n", 1, 4, "flow collection"),
            ("a: \"x\n  y\"\n", 1, 4, "double-quoted"),
            ("a: plain\n  continued\n", 2, 3, "continued"),
            ("a: !tag x\n", 1, 4, "tag"),
            ("a: 1\n---\nb: 2\n", 2, 1, "document"),
            ("a: |2\n   x\n", 1, 4, "indicator"),
            ("a:\n\t- x\n", 2, 1, "tab"),
            ("a: [*x]\n", 1, 5, "alias"),
        ] {
            let err = format(text).expect_err(text);
            assert_eq!((err.line, err.col), (line, col), "{text:?}: {err}");
            assert!(err.message.contains(words), "{text:?}: {err}");
        }
    }

    #[test]
    fn flow_mappings_in_sequences_stay_values() {
        let text = "a:\n- { name: tmp, emptyDir: {} }\n- [1, 2]\n";
        assert_eq!(
            fmt_ok(text),
            "a:\n  - { name: tmp, emptyDir: {} }\n  - [1, 2]\n"
        );
    }

    #[test]
    fn same_meaning_ignores_order_not_values() {
        let a = crate::yaml::parse("x: 1\ny: [a, b]\n").unwrap();
        let b = crate::yaml::parse("y:\n  - a\n  - b\nx: 1\n").unwrap();
        let c = crate::yaml::parse("y: [b, a]\nx: 1\n").unwrap();
        let d = crate::yaml::parse("y: [a, b]\nx: \"1\"\n").unwrap();
        assert!(same_meaning(&a, &b));
        assert!(!same_meaning(&a, &c));
        assert!(!same_meaning(&a, &d));
    }

    #[test]
    fn kinds_name_their_fields_in_order() {
        let fields = Kind::Vpc.fields();
        assert!(fields.contains(&"cidr"), "{fields:?}");
    }
}
