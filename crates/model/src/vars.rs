//! Vars: the values `${var.x}` takes (the stack's `vars`, var files, `--var`) and their
//! substitution into the document before anything is read from it, bounded like YAML aliases.

use crate::de::{closest, NodeDeserializer, Sink};
use crate::diagnostic::Diagnostic;
use crate::interpolate::{interpolations, unclosed, Expr};
use crate::load::list_or_none;
use crate::path::FieldPath;
use crate::span::{SourceFile, Span};
use crate::yaml::{self, Node, NodeKind, ScalarStyle};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Values for `vars` given on the command line (`--var k=v`) or in var files (`--var-file`).
#[derive(Debug, Clone, Default)]
pub struct VarOverrides {
    values: Vec<(String, Node)>,
}

impl VarOverrides {
    /// `--var name=value`: the value is read as YAML scalar text (numbers stay numbers).
    pub fn set(&mut self, name: &str, value: &str) {
        let kind = if value.is_empty() {
            NodeKind::Null
        } else {
            NodeKind::Scalar(value.to_string(), ScalarStyle::Plain)
        };
        self.values
            .push((name.to_string(), Node::new(kind, Span::default())));
    }

    /// `--var-file FILE`: a YAML mapping of var names to values.
    #[allow(clippy::result_large_err)] // once per file; the diagnostic is the whole answer
    pub fn add_file(&mut self, file: &SourceFile) -> Result<(), Diagnostic> {
        let locate = |d: Diagnostic| Diagnostic {
            file: Some(file.name.clone()),
            ..d
        };
        let root = yaml::parse_file(file).map_err(locate)?;
        match &root.kind {
            NodeKind::Map(entries) => {
                for entry in entries {
                    self.values.push((entry.key.clone(), entry.value.clone()));
                }
                Ok(())
            }
            NodeKind::Null => Ok(()),
            _ => Err(locate(
                Diagnostic::error(
                    "type-mismatch",
                    "a var file must be a mapping of var names to values",
                )
                .with_span(root.span)
                .help("write one `name: value` per line"),
            )),
        }
    }
}

/// Var values: the stack's `vars`, then var files and `--var` in the order given.
pub(crate) fn collect_vars(
    root: &Node,
    overrides: &VarOverrides,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Node> {
    let mut vars = BTreeMap::new();
    let path = FieldPath::root().key("vars");
    match root.get("vars").map(|n| &n.kind) {
        None | Some(NodeKind::Null) => {}
        Some(NodeKind::Map(entries)) => {
            for entry in entries {
                if !entry
                    .key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    || entry.key.is_empty()
                {
                    diags.push(
                        Diagnostic::error(
                            "bad-name",
                            format!("`{}` is not a valid var name", entry.key),
                        )
                        .at(path.key(&entry.key))
                        .with_span(entry.key_span)
                        .help("var names are letters, digits, '_' and '-'"),
                    );
                }
                vars.insert(entry.key.clone(), entry.value.clone());
            }
        }
        Some(_) => diags.push(
            Diagnostic::error(
                "type-mismatch",
                "`vars` must be a mapping of names to values",
            )
            .at(path.clone())
            .help("write `vars: { domain: example.com }`"),
        ),
    }
    for (name, value) in &overrides.values {
        let span = match vars.get(name) {
            Some(declared) => declared.span,
            None => {
                // Usually a typo on the command line: the value would otherwise go unused silently.
                let declared: Vec<&str> = vars.keys().map(String::as_str).collect();
                let help = match closest(name, declared.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!(
                        "declare it under `vars:` to use it; declared: {}",
                        list_or_none(&declared)
                    ),
                };
                diags.push(
                    Diagnostic::warning(
                        "undeclared-var",
                        format!("var `{name}` is given a value but the stack does not declare it"),
                    )
                    .at(path.clone())
                    .with_span(root.get("vars").map_or(root.span, |v| v.span))
                    .help(help),
                );
                value.span
            }
        };
        vars.insert(name.clone(), Node::new(value.kind.clone(), span));
    }
    vars
}

/// The resolved value of every var (the stack's `vars`, then var files and `--var` in the order
/// given) as JSON: what a saved plan records it was made with (`Stack::vars`).
pub(crate) fn as_json(vars: &BTreeMap<String, Node>) -> BTreeMap<String, serde_json::Value> {
    vars.iter()
        .map(|(name, node)| {
            let sink = Sink::default();
            let path = FieldPath::root().key("vars").key(name);
            let value = serde_json::Value::deserialize(&NodeDeserializer::new(node, path, &sink))
                .unwrap_or(serde_json::Value::Null);
            (name.clone(), value)
        })
        .collect()
}

/// Substitutes vars in the values of the top-level keys `selected` picks (never in `vars` itself).
/// Returns false when the substitution would pass the document's limits (reported once): what
/// follows would be read from a document only partly substituted.
pub(crate) fn substitute_entries(
    root: &mut Node,
    vars: &BTreeMap<String, Node>,
    selected: impl Fn(&str) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let mut budget = Expansion::for_document(root);
    if let NodeKind::Map(entries) = &mut root.kind {
        for entry in entries
            .iter_mut()
            .filter(|e| e.key != "vars" && selected(&e.key))
        {
            let mut path = FieldPath::root().key(&entry.key);
            substitute_vars(&mut entry.value, &mut path, vars, diags, &mut budget);
        }
    }
    !budget.exceeded
}

/// What substituting vars may add to the document, bounded like aliases: a var holding a list,
/// used a hundred thousand times, is a billion laughs too.
struct Expansion {
    /// Nodes the document may still gain (its `max_nodes` minus what it holds).
    nodes: usize,
    /// The document's `max_nodes`, for the message.
    max_nodes: usize,
    /// Bytes spliced text may still add (`MAX_FILE_BYTES` in all).
    bytes: usize,
    /// Reported once; substitution stops there.
    exceeded: bool,
}

impl Expansion {
    fn for_document(root: &Node) -> Self {
        // The parser bounded the document by its length; the last value written stands for it.
        let max_nodes = crate::limits::max_nodes(text_end(root));
        Expansion {
            nodes: max_nodes.saturating_sub(measure(root).0),
            max_nodes,
            bytes: crate::limits::MAX_FILE_BYTES,
            exceeded: false,
        }
    }

    /// Takes `nodes` and `bytes` from the budget, or reports at `at` that they do not fit.
    fn take(
        &mut self,
        nodes: usize,
        bytes: usize,
        at: Span,
        path: &FieldPath,
        diags: &mut Vec<Diagnostic>,
    ) -> bool {
        if self.exceeded {
            return false;
        }
        if nodes <= self.nodes && bytes <= self.bytes {
            self.nodes -= nodes;
            self.bytes -= bytes;
            return true;
        }
        self.exceeded = true;
        diags.push(
            Diagnostic::error(
                "var-expansion-too-large",
                format!(
                    "with this var substituted the stack would pass {} values or {} MiB of text",
                    self.max_nodes,
                    crate::limits::MAX_FILE_BYTES >> 20
                ),
            )
            .at(path.clone())
            .with_span(at)
            .help("give the var a smaller value, or use it in fewer places"),
        );
        false
    }
}

/// Where the last value below `node` starts, in bytes from the start of the file.
fn text_end(node: &Node) -> usize {
    let below = match &node.kind {
        NodeKind::Map(entries) => entries.last().map(|e| text_end(&e.value)),
        NodeKind::Seq(items) => items.last().map(text_end),
        _ => None,
    };
    below.unwrap_or(0).max(node.span.offset)
}

/// Nodes in `node` and how deep it nests (a scalar is 1 deep).
fn measure(node: &Node) -> (usize, usize) {
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().fold((1, 1), |(n, d), e| {
            let (en, ed) = measure(&e.value);
            (n + 1 + en, d.max(ed + 1))
        }),
        NodeKind::Seq(items) => items.iter().fold((1, 1), |(n, d), item| {
            let (en, ed) = measure(item);
            (n + en, d.max(ed + 1))
        }),
        _ => (1, 1),
    }
}

/// Replaces `${var.x}` in every scalar below `node`. A scalar that is exactly `${var.x}` takes the
/// var's value with its type (a number stays a number); inside text, the value's text is spliced.
///
/// `path` is where `node` is, pushed and popped on the way down: copied only into diagnostics.
fn substitute_vars(
    node: &mut Node,
    path: &mut FieldPath,
    vars: &BTreeMap<String, Node>,
    diags: &mut Vec<Diagnostic>,
    budget: &mut Expansion,
) {
    match &mut node.kind {
        NodeKind::Map(entries) => {
            for entry in entries {
                path.push_key(&entry.key);
                substitute_vars(&mut entry.value, path, vars, diags, budget);
                path.pop();
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push_index(i);
                substitute_vars(item, path, vars, diags, budget);
                path.pop();
            }
        }
        // Most scalars hold no `${`: nothing to replace or report.
        NodeKind::Scalar(text, _) if !text.contains("${") => {}
        NodeKind::Scalar(text, style) => {
            let quoted = u32::from(*style == ScalarStyle::Quoted);
            if let Some(at) = unclosed(text) {
                diags.push(
                    Diagnostic::error("bad-interpolation", "`${` is never closed")
                        .at(path.clone())
                        .with_span(node.span.shifted(
                            at + quoted as usize,
                            char_offset(text, at) + quoted,
                            2,
                        ))
                        .help("close it with `}`, e.g. ${var.domain}"),
                );
                return;
            }
            let mut out = String::new();
            let mut last = 0;
            let mut whole = None;
            let mut columns = CharColumns::default();
            let mut any = false;
            // Read one at a time: a string of millions of `${...}` is never held as a list.
            for item in interpolations(text).map_while(Result::ok) {
                any = true;
                out.push_str(&text[last..item.start]);
                last = item.end;
                let at = node.span.shifted(
                    item.start + quoted as usize,
                    columns.at(text, item.start) + quoted,
                    u32::try_from(text[item.start..item.end].chars().count()).unwrap_or(1),
                );
                match &item.expr {
                    Expr::Var(name) => match vars.get(name) {
                        Some(value) => {
                            // Spanning the whole text, it is the only one.
                            if item.start == 0 && item.end == text.len() {
                                // The value's nodes are copied here: they count, and so does
                                // how deep they reach from this place.
                                let (nodes, depth) = measure(value);
                                if budget.exceeded {
                                    return;
                                }
                                if path.segments().len() + depth > crate::limits::MAX_DEPTH {
                                    diags
                                        .push(crate::limits::nesting_too_deep(at).at(path.clone()));
                                    budget.exceeded = true;
                                    return;
                                }
                                if !budget.take(nodes, 0, at, path, diags) {
                                    return;
                                }
                                whole = Some(value.kind.clone());
                            }
                            match &value.kind {
                                NodeKind::Scalar(v, _) => out.push_str(v),
                                NodeKind::Null => {}
                                _ if whole.is_some() => {}
                                _ => diags.push(
                                    Diagnostic::error("bad-interpolation", format!("var `{name}` is a list or mapping and cannot be spliced into text"))
                                        .at(path.clone())
                                        .with_span(at)
                                        .help("use the var as the whole value, or give it a scalar value"),
                                ),
                            }
                        }
                        None => {
                            let help = match closest(name, vars.keys().map(String::as_str)) {
                                Some(close) => format!("did you mean `{close}`?"),
                                None if vars.is_empty() => {
                                    "declare it under `vars:` or pass --var NAME=VALUE".to_string()
                                }
                                None => format!(
                                    "declared vars: {}; or pass --var {name}=VALUE",
                                    list_or_none(
                                        &vars.keys().map(String::as_str).collect::<Vec<_>>()
                                    )
                                ),
                            };
                            diags.push(
                                Diagnostic::error(
                                    "undefined-var",
                                    format!("var `{name}` is not defined"),
                                )
                                .at(path.clone())
                                .with_span(at)
                                .help(help),
                            );
                            out.push_str(&text[item.start..item.end]);
                        }
                    },
                    Expr::Output(_) => out.push_str(&text[item.start..item.end]),
                    Expr::Invalid(body) => {
                        diags.push(
                            Diagnostic::error("bad-interpolation", format!("`${{{body}}}` is not an interpolation meshctl knows"))
                                .at(path.clone())
                                .with_span(at)
                                .help("write ${var.NAME} or ${KIND.NAME.OUTPUT}, e.g. ${acm_certificate.wildcard.arn}"),
                        );
                        out.push_str(&text[item.start..item.end]);
                    }
                }
                crate::limits::bound(diags);
            }
            if !any {
                return;
            }
            out.push_str(&text[last..]);
            let grown = out.len().saturating_sub(text.len());
            if whole.is_none() && !budget.take(0, grown, node.span, path, diags) {
                return;
            }
            node.kind = match whole {
                Some(kind) => kind,
                None => NodeKind::Scalar(out, *style),
            };
        }
        NodeKind::Null | NodeKind::Removed => {}
    }
}

fn char_offset(text: &str, byte: usize) -> u32 {
    u32::try_from(text[..byte.min(text.len())].chars().count()).unwrap_or(0)
}

/// Character offsets of increasing byte offsets in one text, each counted from the previous one
/// so that a long scalar with many `${...}` is scanned once.
#[derive(Default)]
pub(crate) struct CharColumns {
    byte: usize,
    chars: u32,
}

impl CharColumns {
    pub(crate) fn at(&mut self, text: &str, byte: usize) -> u32 {
        if byte < self.byte {
            *self = CharColumns::default();
        }
        let end = byte.min(text.len());
        self.chars += char_offset(&text[self.byte.min(end)..], end - self.byte.min(end));
        self.byte = end;
        self.chars
    }
}
