//! A serde `Deserializer` over the spanned YAML tree: typed stack structures are read from it, and
//! every error it produces carries the field path and source span of the value that caused it.
//!
//! Unknown mapping keys are not fatal here: they are reported into a sink (with a "did you mean")
//! and skipped, so one run reports all of them. Value checks in newtypes (CIDRs, ports, names…)
//! raise errors through [`invalid`], which keeps their code and help line.

use crate::diagnostic::Diagnostic;
use crate::limits;
use crate::path::FieldPath;
use crate::span::Span;
use crate::yaml::{Entry, Node, NodeKind, ScalarStyle};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// Separates code, message and help inside a custom serde error message (see [`invalid`]).
const FIELD_SEPARATOR: char = '\u{1f}';

/// A deserialization failure at one place in the document. Boxed: every `deserialize_*` call
/// returns it, and a small `Result` keeps the successful path cheap. Displayed as its message;
/// `into_diagnostic` adds where it is and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.0.message)]
pub struct DeError(Box<DeErrorData>);

#[derive(Debug, Clone, PartialEq)]
pub struct DeErrorData {
    pub code: String,
    pub message: String,
    pub help: Option<String>,
    pub path: Option<FieldPath>,
    pub span: Option<Span>,
    /// Set for "missing field" errors: the name of the field that is absent.
    pub missing_field: Option<String>,
}

impl std::ops::Deref for DeError {
    type Target = DeErrorData;
    fn deref(&self) -> &DeErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for DeError {
    fn deref_mut(&mut self) -> &mut DeErrorData {
        &mut self.0
    }
}

impl DeError {
    fn new(code: &str, message: String, help: Option<String>) -> Self {
        DeError(Box::new(DeErrorData {
            code: code.to_string(),
            message,
            help,
            path: None,
            span: None,
            missing_field: None,
        }))
    }

    /// Attaches the innermost location only: errors bubble up through every enclosing value.
    fn locate(mut self, path: &FieldPath, span: Span) -> Self {
        if self.path.is_none() {
            self.path = Some(path.clone());
            self.span = Some(span);
        }
        self
    }

    pub fn into_diagnostic(self) -> Diagnostic {
        let data = *self.0;
        let mut d = Diagnostic::error(&data.code, data.message);
        if let Some(path) = data.path {
            d = d.at(path);
        }
        if let Some(span) = data.span {
            d = d.with_span(span);
        }
        let help = data.help.unwrap_or_else(|| {
            match data.code.as_str() {
                "type-mismatch" => "write a value of the expected type here",
                "invalid-value" => "use a value in the expected range",
                _ => "see docs/stack-language.md for what this field takes",
            }
            .to_string()
        });
        d.help(help)
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let text = msg.to_string();
        let mut parts = text.split(FIELD_SEPARATOR);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(code), Some(message), help) => DeError::new(
                code,
                message.to_string(),
                help.filter(|h| !h.is_empty()).map(str::to_string),
            ),
            _ => DeError::new("invalid-value", text, None),
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(
            "type-mismatch",
            format!("expected {exp}, found {}", describe_unexpected(&unexp)),
            None,
        )
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(
            "invalid-value",
            format!(
                "invalid value {}: expected {exp}",
                describe_unexpected(&unexp)
            ),
            None,
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut help = format!("expected one of: {}", expected.join(", "));
        if let Some(close) = closest(variant, expected.iter().copied()) {
            help = format!("did you mean `{close}`? ({help})");
        }
        DeError::new(
            "unknown-value",
            format!("unknown value `{variant}`"),
            Some(help),
        )
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = DeError::new(
            "missing-field",
            format!("missing required field `{field}`"),
            Some(format!("add `{field}:` to this mapping")),
        );
        e.missing_field = Some(field.to_string());
        e
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::new(
            "duplicate-key",
            format!("field `{field}` is set twice"),
            None,
        )
    }
}

fn describe_unexpected(unexp: &de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Str(s) => format!("`{s}`"),
        de::Unexpected::Unsigned(n) => format!("the number {n}"),
        de::Unexpected::Signed(n) => format!("the number {n}"),
        de::Unexpected::Float(n) => format!("the number {n}"),
        de::Unexpected::Bool(b) => format!("`{b}`"),
        de::Unexpected::Unit => "nothing".to_string(),
        de::Unexpected::Seq => "a list".to_string(),
        de::Unexpected::Map => "a mapping".to_string(),
        other => other.to_string(),
    }
}

/// Builds the error a value check raises: a diagnostic code, a message and a help line. Works with
/// any serde deserializer; ours turns it back into a located diagnostic.
pub fn invalid<E: de::Error>(code: &str, message: impl fmt::Display, help: impl fmt::Display) -> E {
    E::custom(format!(
        "{code}{FIELD_SEPARATOR}{message}{FIELD_SEPARATOR}{help}"
    ))
}

/// The closest candidate by edit distance, when it is close enough to be a likely typo. Words and
/// candidates longer than any real name are not compared (the distance is quadratic in length),
/// nor candidates past the first `MAX_SUGGESTION_CANDIDATES`: a stack of 10,000 dangling
/// references to 10,000 names would otherwise cost a hundred million comparisons.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > limits::MAX_SUGGESTION_LEN {
        return None;
    }
    let counts = CharCounts::of(word);
    candidates
        .into_iter()
        .take(limits::MAX_SUGGESTION_CANDIDATES)
        .filter(|c| c.len() <= limits::MAX_SUGGESTION_LEN && counts.may_be_close(c))
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// How often each ASCII character occurs in a word: a bound on Jaro-Winkler that needs no
/// allocation, so a file of 100,000 unknown keys is not slowed by computing the real thing.
struct CharCounts {
    /// None for a word that is empty or not ASCII: every candidate is then compared.
    counts: Option<[u8; 128]>,
    len: usize,
}

impl CharCounts {
    fn of(word: &str) -> Self {
        let mut counts = [0u8; 128];
        let ascii = !word.is_empty() && word.is_ascii();
        if ascii {
            for b in word.bytes() {
                counts[usize::from(b)] = counts[usize::from(b)].saturating_add(1);
            }
        }
        CharCounts {
            counts: ascii.then_some(counts),
            len: word.len(),
        }
    }

    /// False only when `candidate` cannot score over 0.8: at most the characters the two have
    /// in common match, so Jaro is at most (c/|a| + c/|b| + 1) / 3, and under 0.7 Jaro-Winkler
    /// adds no prefix bonus.
    fn may_be_close(&self, candidate: &str) -> bool {
        let Some(mut left) = self.counts else {
            return true;
        };
        if candidate.is_empty() || !candidate.is_ascii() {
            return true;
        }
        let mut common = 0usize;
        for b in candidate.bytes() {
            let slot = &mut left[usize::from(b)];
            if *slot > 0 {
                *slot -= 1;
                common += 1;
            }
        }
        let common = common as f64;
        let bound = (common / self.len as f64 + common / candidate.len() as f64 + 1.0) / 3.0;
        bound > 0.7 - 1e-9
    }
}

/// Where non-fatal findings (unknown fields) go while a value is deserialized. One sink serves
/// every recovery round of a value, so each unknown key is reported (and matched) once.
#[derive(Default)]
pub struct Sink {
    pub diagnostics: RefCell<Vec<Diagnostic>>,
    /// Keys already reported as unknown, by where they are written.
    reported: RefCell<HashSet<Span>>,
    /// `mapping.field` for every field an unknown key was taken for a typo of: when that field
    /// is then missing, the unknown-field diagnostic already explains it.
    suggested: RefCell<HashSet<FieldPath>>,
    /// What each mapping read was: a structure with these fields, or a map of any keys. The
    /// fields a value may have, for checking paths that name them (`lifecycle.ignore_changes`).
    shapes: RefCell<BTreeMap<FieldPath, Shape>>,
    /// Whether `shapes` are recorded: only a value that has paths to check needs them, and
    /// recording costs a path per mapping.
    record_shapes: bool,
}

/// What a mapping read as a typed value takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A structure with these fields.
    Struct(&'static [&'static str]),
    /// A map: any key.
    Map,
}

impl Sink {
    /// A sink that also records what each mapping read as (`take_shapes`).
    pub fn recording_shapes() -> Self {
        Sink {
            record_shapes: true,
            ..Sink::default()
        }
    }

    /// True when an unknown key of the mapping at `path` was reported as a likely typo of `field`.
    pub fn suggested(&self, path: &FieldPath, field: &str) -> bool {
        self.suggested.borrow().contains(&path.key(field))
    }

    /// Every `mapping.field` an unknown key was taken for a typo of.
    pub fn take_suggested(&self) -> HashSet<FieldPath> {
        self.suggested.take()
    }

    /// What each mapping read was, by its path.
    pub fn take_shapes(&self) -> BTreeMap<FieldPath, Shape> {
        self.shapes.take()
    }
}

/// Deserializes one node. `skip_keys` names mapping keys handled elsewhere (a resource's `kind`,
/// `name`, `depends_on`, `prevent_destroy`) at this node only.
pub struct NodeDeserializer<'a> {
    node: &'a Node,
    path: FieldPath,
    sink: &'a Sink,
    skip_keys: &'a [&'a str],
    /// The key that introduced this value: where an empty value is reported.
    key_span: Option<Span>,
}

impl<'a> NodeDeserializer<'a> {
    pub fn new(node: &'a Node, path: FieldPath, sink: &'a Sink) -> Self {
        NodeDeserializer {
            node,
            path,
            sink,
            skip_keys: &[],
            key_span: None,
        }
    }

    pub fn skipping(mut self, keys: &'a [&'a str]) -> Self {
        self.skip_keys = keys;
        self
    }

    fn child(&self, node: &'a Node, path: FieldPath, key_span: Option<Span>) -> Self {
        NodeDeserializer {
            node,
            path,
            sink: self.sink,
            skip_keys: &[],
            key_span,
        }
    }

    /// Where problems with this value are shown: the value, or its key when the value is empty.
    fn span(&self) -> Span {
        match (&self.node.kind, self.key_span) {
            (NodeKind::Null | NodeKind::Removed, Some(key)) => key,
            _ => self.node.span,
        }
    }

    fn fail(&self, error: DeError) -> DeError {
        error.locate(&self.path, self.span())
    }

    fn unexpected(&self) -> de::Unexpected<'a> {
        match &self.node.kind {
            NodeKind::Null | NodeKind::Removed => de::Unexpected::Unit,
            NodeKind::Scalar(s, _) => de::Unexpected::Str(s),
            NodeKind::Seq(_) => de::Unexpected::Seq,
            NodeKind::Map(_) => de::Unexpected::Map,
        }
    }

    fn plain(&self) -> Option<&'a str> {
        match &self.node.kind {
            NodeKind::Scalar(s, ScalarStyle::Plain) => Some(s),
            _ => None,
        }
    }

    fn type_error<V: Visitor<'a>>(&self, visitor: &V) -> DeError {
        self.fail(de::Error::invalid_type(self.unexpected(), visitor))
    }

    fn entries(&self) -> impl Iterator<Item = &'a Entry> + 'a {
        let skip = self
            .skip_keys
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>();
        self.node
            .entries()
            .iter()
            .filter(move |e| !e.value.is_removed() && !skip.contains(&e.key))
    }

    fn visit_entries<V: Visitor<'a>>(
        &self,
        visitor: V,
        allowed: Option<&'static [&'static str]>,
    ) -> Result<V::Value, DeError> {
        let mut entries = Vec::new();
        for entry in self.entries() {
            if let Some(fields) = allowed {
                if !fields.contains(&entry.key.as_str()) {
                    self.report_unknown(entry, fields);
                    continue;
                }
            }
            entries.push(entry);
        }
        let access = MapAccess {
            de: self,
            entries: entries.into_iter(),
            current: None,
        };
        visitor.visit_map(access).map_err(|e| self.fail(e))
    }

    fn report_unknown(&self, entry: &Entry, fields: &[&'static str]) {
        if !self.sink.reported.borrow_mut().insert(entry.key_span) {
            return;
        }
        let path = self.path.key(&entry.key);
        // Keys read elsewhere (a resource's `kind`, the stack's `resources`) are valid here too.
        let known: Vec<&str> = fields
            .iter()
            .chain(self.skip_keys.iter())
            .copied()
            .collect();
        let fields_here = known.as_slice();
        let help = match closest(&entry.key, fields_here.iter().copied()) {
            Some(close) => {
                self.sink
                    .suggested
                    .borrow_mut()
                    .insert(self.path.key(close));
                format!("did you mean `{close}`?")
            }
            None if fields_here.is_empty() => "this mapping takes no fields".to_string(),
            None => format!("fields allowed here: {}", fields_here.join(", ")),
        };
        let mut found = self.sink.diagnostics.borrow_mut();
        found.push(
            Diagnostic::error("unknown-field", format!("unknown field `{}`", entry.key))
                .at(path)
                .with_span(entry.key_span)
                .help(help),
        );
        limits::bound(&mut found);
    }
}

/// YAML 1.2 core schema for plain scalars read without a target type.
fn resolve_plain<'de, V: Visitor<'de>>(text: &str, visitor: V) -> Result<V::Value, DeError> {
    match text {
        "true" | "True" | "TRUE" => return visitor.visit_bool(true),
        "false" | "False" | "FALSE" => return visitor.visit_bool(false),
        _ => {}
    }
    if let Ok(n) = text.parse::<u64>() {
        return visitor.visit_u64(n);
    }
    if let Ok(n) = text.parse::<i64>() {
        return visitor.visit_i64(n);
    }
    let looks_numeric = text
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric {
        if let Ok(f) = text.parse::<f64>() {
            if f.is_finite() {
                return visitor.visit_f64(f);
            }
        }
    }
    visitor.visit_str(text)
}

macro_rules! integer {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            match self.plain() {
                Some(text) => match text.parse::<$ty>() {
                    Ok(n) => visitor.$visit(n).map_err(|e| self.fail(e)),
                    Err(_) => match text.parse::<i128>() {
                        Ok(_) => Err(self.fail(de::Error::custom(format!(
                            "invalid-value{FIELD_SEPARATOR}the number {text} is out of range{FIELD_SEPARATOR}expected {}",
                            stringify!($ty)
                        )))),
                        Err(_) => Err(self.fail(DeError::new(
                            "type-mismatch",
                            format!("expected a whole number, found `{text}`"),
                            None,
                        ))),
                    },
                },
                None => Err(self.fail(DeError::new(
                    "type-mismatch",
                    format!("expected a whole number, found {}", describe_node(self.node)),
                    quoted_number_help(self.node),
                ))),
            }
        }
    };
}

fn describe_node(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar(s, ScalarStyle::Quoted) => format!("the quoted string \"{s}\""),
        NodeKind::Scalar(s, _) => format!("`{s}`"),
        _ => node.describe().to_string(),
    }
}

fn quoted_number_help(node: &Node) -> Option<String> {
    match &node.kind {
        NodeKind::Scalar(s, ScalarStyle::Quoted) if s.parse::<f64>().is_ok() => {
            Some("remove the quotes: quoted values are strings".to_string())
        }
        _ => None,
    }
}

impl<'a> de::Deserializer<'a> for &NodeDeserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            NodeKind::Null | NodeKind::Removed => visitor.visit_unit(),
            NodeKind::Scalar(text, ScalarStyle::Plain) => resolve_plain(text, visitor),
            NodeKind::Scalar(text, _) => visitor.visit_str(text),
            NodeKind::Seq(_) => return self.deserialize_seq(visitor),
            NodeKind::Map(_) => return self.visit_entries(visitor, None),
        };
        result.map_err(|e| self.fail(e))
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.plain() {
            Some("true" | "True" | "TRUE") => visitor.visit_bool(true),
            Some("false" | "False" | "FALSE") => visitor.visit_bool(false),
            _ => Err(DeError::new(
                "type-mismatch",
                format!("expected true or false, found {}", describe_node(self.node)),
                None,
            )),
        }
        .map_err(|e| self.fail(e))
    }

    integer!(deserialize_i8, visit_i8, i8);
    integer!(deserialize_i16, visit_i16, i16);
    integer!(deserialize_i32, visit_i32, i32);
    integer!(deserialize_i64, visit_i64, i64);
    integer!(deserialize_u8, visit_u8, u8);
    integer!(deserialize_u16, visit_u16, u16);
    integer!(deserialize_u32, visit_u32, u32);
    integer!(deserialize_u64, visit_u64, u64);

    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.plain().and_then(|t| t.parse::<f64>().ok()) {
            Some(f) if f.is_finite() => visitor.visit_f64(f).map_err(|e| self.fail(e)),
            _ => Err(self.fail(DeError::new(
                "type-mismatch",
                format!("expected a number, found {}", describe_node(self.node)),
                quoted_number_help(self.node),
            ))),
        }
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Plain scalars keep their written text: `version: 1.30` stays "1.30", not 1.3.
        match &self.node.kind {
            NodeKind::Scalar(text, _) => visitor.visit_str(text).map_err(|e| self.fail(e)),
            _ => Err(self.fail(DeError::new(
                "type-mismatch",
                format!("expected a string, found {}", self.node.describe()),
                None,
            ))),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            NodeKind::Null | NodeKind::Removed => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| self.fail(e))
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            NodeKind::Null => visitor.visit_unit().map_err(|e| self.fail(e)),
            _ => Err(self.type_error(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self).map_err(|e| self.fail(e))
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Seq(items) => {
                let access = SeqAccess {
                    de: self,
                    items: items.iter().enumerate(),
                };
                visitor.visit_seq(access).map_err(|e| self.fail(e))
            }
            _ => Err(self.fail(DeError::new(
                "type-mismatch",
                format!("expected a list, found {}", describe_node(self.node)),
                Some("write a YAML list: one `- item` per line, or [a, b]".to_string()),
            ))),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(_) => {
                if self.sink.record_shapes {
                    self.sink
                        .shapes
                        .borrow_mut()
                        .insert(self.path.clone(), Shape::Map);
                }
                self.visit_entries(visitor, None)
            }
            _ => Err(self.fail(DeError::new(
                "type-mismatch",
                format!("expected a mapping, found {}", describe_node(self.node)),
                Some("write `key: value` pairs, one per line".to_string()),
            ))),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(_) => {
                if self.sink.record_shapes {
                    self.sink
                        .shapes
                        .borrow_mut()
                        .insert(self.path.clone(), Shape::Struct(fields));
                }
                self.visit_entries(visitor, Some(fields))
            }
            _ => Err(self.fail(DeError::new(
                "type-mismatch",
                format!("expected a mapping, found {}", describe_node(self.node)),
                Some(format!("this takes the fields: {}", fields.join(", "))),
            ))),
        }
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar(text, _) => visitor
                .visit_enum(text.as_str().into_deserializer())
                .map_err(|e: DeError| self.fail(e)),
            // `{variant: value}`, e.g. `backend: { local: state/prod }`.
            NodeKind::Map(entries)
                if entries.iter().filter(|e| !e.value.is_removed()).count() == 1 =>
            {
                let entry = entries
                    .iter()
                    .find(|e| !e.value.is_removed())
                    .ok_or_else(|| {
                        self.fail(DeError::new("internal", "empty enum mapping".into(), None))
                    })?;
                let child = self.child(
                    &entry.value,
                    self.path.key(&entry.key),
                    Some(entry.key_span),
                );
                visitor
                    .visit_enum(EnumAccess {
                        key: &entry.key,
                        key_span: entry.key_span,
                        path: self.path.clone(),
                        value: child,
                    })
                    .map_err(|e| self.fail(e))
            }
            // Its only entry was set aside for a problem already reported (`s3: {bucket: Bad}`):
            // a consequence, like a required field set aside, so the mapping goes next quietly.
            NodeKind::Map(entries)
                if !entries.is_empty() && entries.iter().all(|e| e.value.is_removed()) =>
            {
                let mut e = DeError::new("missing-field", "its value was set aside".into(), None);
                e.missing_field = Some(entries[0].key.clone());
                Err(self.fail(e))
            }
            _ => Err(self.fail(DeError::new(
                "type-mismatch",
                format!(
                    "expected one of {}, found {}",
                    variants.join(", "),
                    describe_node(self.node)
                ),
                Some(format!("write one of: {}", variants.join(", "))),
            ))),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

/// An externally tagged enum written as a one-entry mapping.
struct EnumAccess<'a> {
    key: &'a str,
    key_span: Span,
    /// The enum's own path: an unknown tag is a problem of the whole value.
    path: FieldPath,
    value: NodeDeserializer<'a>,
}

impl<'a> de::EnumAccess<'a> for EnumAccess<'a> {
    type Error = DeError;
    type Variant = NodeDeserializer<'a>;

    fn variant_seed<V: DeserializeSeed<'a>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let key: de::value::StrDeserializer<'_, DeError> = self.key.into_deserializer();
        let variant = seed
            .deserialize(key)
            .map_err(|e| e.locate(&self.path, self.key_span))?;
        Ok((variant, self.value))
    }
}

impl<'a> de::VariantAccess<'a> for NodeDeserializer<'a> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.node.kind {
            NodeKind::Null => Ok(()),
            _ => Err(self.fail(DeError::new(
                "type-mismatch",
                format!(
                    "`{}` takes no value",
                    self.path.last_key().unwrap_or("this")
                ),
                Some("write the value alone, without a mapping".to_string()),
            ))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(&self)
            .map_err(|e| e.locate(&self.path, self.span()))
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(&self, visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(&self, "", fields, visitor)
    }
}

struct SeqAccess<'a, 'd> {
    de: &'d NodeDeserializer<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'a> de::SeqAccess<'a> for SeqAccess<'a, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        // Removed items keep their index so that later paths still match the file.
        for (index, item) in self.items.by_ref() {
            if item.is_removed() {
                continue;
            }
            let child = self.de.child(item, self.de.path.index(index), None);
            return seed
                .deserialize(&child)
                .map(Some)
                .map_err(|e| e.locate(&child.path, child.span()));
        }
        Ok(None)
    }
}

struct MapAccess<'a, 'd> {
    de: &'d NodeDeserializer<'a>,
    entries: std::vec::IntoIter<&'a Entry>,
    current: Option<&'a Entry>,
}

impl<'a> de::MapAccess<'a> for MapAccess<'a, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some(entry) => {
                self.current = Some(entry);
                let key: de::value::StrDeserializer<'_, DeError> =
                    entry.key.as_str().into_deserializer();
                seed.deserialize(key)
                    .map(Some)
                    .map_err(|e| e.locate(&self.de.path.key(&entry.key), entry.key_span))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let entry = self.current.take().ok_or_else(|| {
            DeError::new(
                "internal",
                "value requested before its key".to_string(),
                None,
            )
        })?;
        let child = self.de.child(
            &entry.value,
            self.de.path.key(&entry.key),
            Some(entry.key_span),
        );
        // Checks in newtypes fail after our deserializer returned; locate them here.
        seed.deserialize(&child)
            .map_err(|e| e.locate(&child.path, child.span()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Server {
        port: u16,
        #[serde(default)]
        hosts: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        version: String,
        servers: Vec<Server>,
    }

    fn load(text: &str) -> (Result<Doc, DeError>, Vec<Diagnostic>) {
        let root = parse(text).unwrap();
        let sink = Sink::default();
        let result = Doc::deserialize(&NodeDeserializer::new(&root, FieldPath::root(), &sink));
        (result, sink.diagnostics.into_inner())
    }

    #[test]
    fn plain_numbers_keep_their_text_as_strings() {
        let (doc, _) = load("version: 1.30\nservers: []\n");
        let doc = doc.unwrap();
        assert_eq!(doc.version, "1.30");
        assert!(doc.servers.is_empty());
    }

    #[test]
    fn type_errors_name_the_innermost_path_and_span() {
        let (doc, _) = load("version: '1'\nservers:\n  - port: 80\n  - port: http\n");
        let err = doc.unwrap_err();
        assert_eq!(err.path.as_ref().unwrap().to_string(), "servers[1].port");
        let span = err.span.unwrap();
        assert_eq!((span.line, span.col), (4, 11));
        assert_eq!(err.code, "type-mismatch");
    }

    #[test]
    fn out_of_range_and_quoted_numbers_are_explained() {
        let (doc, _) = load("version: '1'\nservers: [{port: 70000}]\n");
        assert_eq!(doc.unwrap_err().code, "invalid-value");
        let (doc, _) = load("version: '1'\nservers: [{port: \"80\"}]\n");
        let err = doc.unwrap_err();
        assert_eq!(
            err.help.as_deref(),
            Some("remove the quotes: quoted values are strings")
        );
    }

    #[test]
    fn every_unknown_field_is_reported_with_a_suggestion() {
        let (doc, found) =
            load("version: '1'\nsrevers: []\nservers:\n  - port: 80\n    hots: [a]\n");
        let server = &doc.unwrap().servers[0];
        assert_eq!((server.port, server.hosts.len()), (80, 0));
        let paths: Vec<_> = found
            .iter()
            .map(|d| d.path.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(paths, ["srevers", "servers[0].hots"]);
        assert_eq!(found[1].help.as_deref(), Some("did you mean `hosts`?"));
    }

    #[test]
    fn the_character_bound_never_skips_a_candidate_that_would_be_suggested() {
        // Every pair of words of up to 4 characters from a small alphabet, and some real names.
        let mut words: Vec<String> = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = words
                .iter()
                .flat_map(|w| ["a", "b", "c", "_"].map(|c| format!("{w}{c}")))
                .collect();
            words.extend(longer);
        }
        words.sort();
        words.dedup();
        words.extend(
            [
                "hosts",
                "hots",
                "instance_types",
                "instance_type",
                "name",
                "6ddd0",
            ]
            .map(String::from),
        );
        for a in &words {
            let counts = CharCounts::of(a);
            for b in &words {
                if strsim::jaro_winkler(a, b) > 0.8 {
                    assert!(counts.may_be_close(b), "{a:?} ~ {b:?}");
                }
            }
        }
    }

    #[test]
    fn missing_fields_point_at_the_mapping() {
        let (doc, _) = load("version: '1'\nservers:\n  - hosts: [a]\n");
        let err = doc.unwrap_err();
        assert_eq!(err.missing_field.as_deref(), Some("port"));
        assert_eq!(err.path.as_ref().unwrap().to_string(), "servers[0]");
    }
}
