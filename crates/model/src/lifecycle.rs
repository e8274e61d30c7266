//! A resource's `lifecycle:` rules (docs/lifecycle.md): fields whose changes meshctl leaves to
//! someone else (`ignore_changes`), refusing to delete it (`prevent_destroy`), and making a
//! replacement's new object before removing the old (`create_before_destroy`). Read from the
//! resource entry and checked against the kind: every ignored path must name a field of the
//! kind, and create-before-destroy must be one the kind's `ReplaceOrder` allows.

use crate::de::{closest, Shape};
use crate::diagnostic::Diagnostic;
use crate::kinds::{Kind, ReplaceOrder};
use crate::path::{FieldPath, Segment};
use crate::record::{child_path, quoted_key_end};
use crate::yaml::Node;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The rules of one resource, as loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// Fields whose differences are neither drift nor planned updates, in the form plans and
    /// drift reports name fields (`scaling.desired`, `labels["app.kubernetes.io/name"]`).
    pub ignore_changes: Vec<String>,
    /// Refuse any plan that would delete or replace the resource.
    pub prevent_destroy: bool,
    /// Make the new object before deleting the old one when the resource is replaced.
    pub create_before_destroy: bool,
    /// `prevent_destroy` was written at the top of the resource, the spelling before
    /// `lifecycle` (accepted with a `deprecated-field` warning).
    pub prevent_destroy_at_top: bool,
}

impl Lifecycle {
    /// Whether a change of the field at `path` (a plan's or drift report's field path) is
    /// ignored.
    pub fn ignores(&self, path: &str) -> bool {
        self.ignore_changes.iter().any(|rule| covers(rule, path))
    }

    /// Where `prevent_destroy` is written, below the resource.
    pub fn prevent_destroy_path(&self) -> FieldPath {
        if self.prevent_destroy_at_top {
            FieldPath::root().key("prevent_destroy")
        } else {
            FieldPath::root().key("lifecycle").key("prevent_destroy")
        }
    }
}

/// Whether the ignore rule `rule` covers the field at `path`: the field itself or anything
/// inside it (`labels` covers `labels.team`; `scaling.desired` does not cover `scaling.max`).
pub fn covers(rule: &str, path: &str) -> bool {
    match path.strip_prefix(rule) {
        Some("") => !rule.is_empty(),
        Some(rest) => !rule.is_empty() && (rest.starts_with('.') || rest.starts_with('[')),
        None => false,
    }
}

/// `lifecycle:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LifecycleFields {
    #[serde(default)]
    ignore_changes: Vec<String>,
    #[serde(default)]
    prevent_destroy: bool,
    #[serde(default)]
    create_before_destroy: bool,
}

/// One resource entry's lifecycle: `lifecycle:` and the old top-level `prevent_destroy`.
pub(crate) struct Written {
    pub lifecycle: Option<LifecycleFields>,
    pub prevent_destroy_at_top: Option<bool>,
}

/// Builds the resource's `Lifecycle` from what was written, reporting at `resource` (its path):
/// the deprecated spelling, unknown or malformed ignored paths (checked against `shapes`, what
/// each mapping of the resource read as, by path below the resource), and a
/// create-before-destroy the kind refuses.
pub(crate) fn check(
    kind: Kind,
    item: &Node,
    resource: &FieldPath,
    written: Written,
    shapes: &BTreeMap<FieldPath, Shape>,
    diags: &mut Vec<Diagnostic>,
) -> Lifecycle {
    let at = resource.key("lifecycle");
    let fields = written.lifecycle.unwrap_or_default();
    let mut lifecycle = Lifecycle {
        prevent_destroy: fields.prevent_destroy,
        create_before_destroy: fields.create_before_destroy,
        ..Lifecycle::default()
    };
    if let Some(top) = written.prevent_destroy_at_top {
        let d = if item.get("lifecycle").is_some() {
            Diagnostic::error(
                "conflicting-fields",
                "`prevent_destroy` is written both at the top of the resource and in `lifecycle`",
            )
            .help("keep the one in `lifecycle` and remove the top-level `prevent_destroy`")
        } else {
            lifecycle.prevent_destroy = top;
            lifecycle.prevent_destroy_at_top = true;
            Diagnostic::warning(
                "deprecated-field",
                "`prevent_destroy` at the top of a resource is deprecated; it belongs in `lifecycle`",
            )
            .help(format!(
                "write `lifecycle: {{ prevent_destroy: {top} }}` instead (the old spelling still works)"
            ))
        };
        diags.push(d.at(resource.key("prevent_destroy")));
    }
    for (index, written) in fields.ignore_changes.iter().enumerate() {
        let path = at.key("ignore_changes").index(index);
        match parse(written) {
            None => diags.push(
                Diagnostic::error(
                    "bad-field-path",
                    format!("`{written}` is not a field path"),
                )
                .at(path)
                .help("write the field as plans name it: `scaling.desired`, `taints[0]`, `labels[\"app.kubernetes.io/name\"]`"),
            ),
            Some(segments) => match unknown_field(&segments, shapes) {
                Some(problem) => diags.push(
                    Diagnostic::error(
                        "unknown-field",
                        format!(
                            "`{written}` in ignore_changes names no field of {kind}: {}",
                            problem.message
                        ),
                    )
                    .at(path)
                    .help(problem.help),
                ),
                None => lifecycle.ignore_changes.push(render(&segments)),
            },
        }
    }
    if lifecycle.create_before_destroy {
        let refusal = match kind.schema().replace_order {
            ReplaceOrder::CreateFirst => None,
            ReplaceOrder::DeleteFirst { why } => Some((
                why.to_string(),
                format!("remove `create_before_destroy`: a replacement of this {kind} deletes the old one first"),
            )),
            ReplaceOrder::Either { fixed_names } => fixed_names
                .iter()
                .find(|name| item.get(name).is_some())
                .map(|name| {
                    (
                        format!("`{name}` gives the new copy the old one's name"),
                        format!("remove `{name}` so that each copy gets its own name, or remove `create_before_destroy`"),
                    )
                }),
        };
        if let Some((why, help)) = refusal {
            diags.push(
                Diagnostic::error(
                    "create-before-destroy",
                    format!(
                        "{kind} cannot make its replacement before destroying the old copy: {why}"
                    ),
                )
                .at(at.key("create_before_destroy"))
                .help(help),
            );
        }
    }
    lifecycle
}

/// Why a path names no field, for people.
struct Unknown {
    message: String,
    help: String,
}

/// Walks `segments` through the shapes the resource read; `None` when every step names a field
/// (or goes where nothing is written to check against: the rest of the path is then taken as
/// written).
fn unknown_field(segments: &[Segment], shapes: &BTreeMap<FieldPath, Shape>) -> Option<Unknown> {
    let mut at = FieldPath::root();
    for (done, segment) in segments.iter().enumerate() {
        match segment {
            // Items of a list share their shape: the first one's stands for all.
            Segment::Index(_) => at = at.index(0),
            Segment::Key(key) => match shapes.get(&at) {
                Some(Shape::Struct(fields)) if !fields.contains(&key.as_str()) => {
                    let parent = render(&segments[..done]);
                    let message = if parent.is_empty() {
                        format!("it has no field `{key}`")
                    } else {
                        format!("`{parent}` has no field `{key}`")
                    };
                    let help = match closest(key, fields.iter().copied()) {
                        Some(close) => {
                            let mut fixed = segments.to_vec();
                            fixed[done] = Segment::Key(close.to_string());
                            format!("did you mean `{}`?", render(&fixed))
                        }
                        None => format!("fields here: {}", fields.join(", ")),
                    };
                    return Some(Unknown { message, help });
                }
                Some(_) => at = at.key(key),
                None => return None,
            },
        }
    }
    None
}

/// Parses a field path as plans write it: keys joined by `.`, `[N]` for list items, `["key"]`
/// for keys with other characters. `None` when it is not one.
fn parse(text: &str) -> Option<Vec<Segment>> {
    let mut segments = Vec::new();
    let mut rest = text;
    let mut expect_key = true;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            if let Some(quoted) = inner.strip_prefix('"') {
                let end = quoted_key_end(quoted)?;
                let key: String = serde_json::from_str(&format!("\"{}\"", &quoted[..end])).ok()?;
                rest = quoted[end + 1..].strip_prefix(']')?;
                segments.push(Segment::Key(key));
            } else {
                let end = inner.find(']')?;
                segments.push(Segment::Index(inner[..end].parse().ok()?));
                rest = &inner[end + 1..];
            }
            expect_key = false;
        } else {
            if !expect_key {
                rest = rest.strip_prefix('.')?;
            }
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.is_empty() || key.contains(']') || key.contains('"') {
                return None;
            }
            segments.push(Segment::Key(key.to_string()));
            rest = &rest[end..];
            expect_key = false;
        }
    }
    (!segments.is_empty()).then_some(segments)
}

/// The form plans and drift reports name fields in (`diff::flatten`'s paths).
fn render(segments: &[Segment]) -> String {
    let mut path = String::new();
    for segment in segments {
        path = match segment {
            Segment::Key(key) => child_path(&path, key),
            Segment::Index(index) => format!("{path}[{index}]"),
        };
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_plans_write_them() {
        for text in [
            "scaling.desired",
            "taints[0].key",
            "labels[\"app.kubernetes.io/name\"]",
            "labels.team",
            "taints",
        ] {
            let segments = parse(text).unwrap_or_else(|| panic!("{text} parses"));
            assert_eq!(render(&segments), text);
        }
        for text in ["", ".a", "a..b", "a[", "a[x]", "a]", "a[\"b\"", "a.[0]"] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn a_rule_covers_its_field_and_what_is_inside_it_only() {
        assert!(covers("scaling.desired", "scaling.desired"));
        assert!(!covers("scaling.desired", "scaling.max"));
        assert!(!covers("scaling.desired", "scaling.desired_size"));
        assert!(covers("labels", "labels.team"));
        assert!(covers("taints", "taints[1].key"));
        assert!(!covers("", "labels"));
    }
}
