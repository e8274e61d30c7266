//! Field-level diffs: desired and prior values flattened to leaf paths, compared, with unified
//! text diffs (via `similar`) for long and multi-line strings such as embedded YAML.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Strings longer than this, or spanning lines, get a unified diff instead of old → new.
const LONG_STRING: usize = 72;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Path below the resource, e.g. `servers[1].tls.credential`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// The new value is known only during apply (it holds another resource's output).
    #[serde(default)]
    pub unknown: bool,
    #[serde(default)]
    pub forces_replacement: bool,
    /// Values are hidden: the field is sensitive.
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_diff: Option<String>,
}

/// Leaf values by path. Empty objects and arrays are leaves, so `{}` → `{a: 1}` shows as a change.
pub fn flatten(value: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    walk(value, &mut String::new(), &mut out);
    out
}

/// Adds the leaves below `value` to `out`; `path` is where `value` is, extended and cut back on
/// the way down, so only the leaves' paths are allocated.
fn walk(value: &Value, path: &mut String, out: &mut BTreeMap<String, Value>) {
    let len = path.len();
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                meshctl_model::record::push_child_path(path, k);
                walk(v, path, out);
                path.truncate(len);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                let _ = write!(path, "[{i}]");
                walk(v, path, out);
                path.truncate(len);
            }
        }
        _ => {
            out.insert(path.clone(), value.clone());
        }
    }
}

/// True when a value still holds `${...}` to be resolved during apply.
pub fn is_unknown(value: &Value) -> bool {
    matches!(value, Value::String(s) if s.contains("${"))
}

/// The first path segment (`servers` of `servers[1].tls`): what force-new and sensitive name.
pub fn top_field(path: &str) -> &str {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    &path[..end]
}

/// Changes from `old` to `new`, marking force-new, sensitive and unknown fields.
pub fn diff(
    old: Option<&Value>,
    new: Option<&Value>,
    force_new: &[&str],
    sensitive: &[&str],
) -> Vec<FieldChange> {
    // Equal values have no leaf that differs: a plan against a full state compares mostly these.
    if old == new {
        return Vec::new();
    }
    let old = old.map(flatten).unwrap_or_default();
    let new = new.map(flatten).unwrap_or_default();
    // Both are sorted by path: one merge walk pairs their leaves, moving values into the changes.
    let mut changes = Vec::new();
    let mut old = old.into_iter().peekable();
    let mut new = new.into_iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        let (path, before, after) = match (order, &mut old, &mut new) {
            (Ordering::Less, leaves, _) | (Ordering::Greater, _, leaves) => {
                let Some((path, value)) = leaves.next() else {
                    break;
                };
                let gone = order == Ordering::Less;
                if gone {
                    (path, Some(value), None)
                } else {
                    (path, None, Some(value))
                }
            }
            (Ordering::Equal, old, new) => match (old.next(), new.next()) {
                (Some((path, before)), Some((_, after))) if before != after => {
                    (path, Some(before), Some(after))
                }
                (Some(_), Some(_)) => continue,
                _ => break,
            },
        };
        changes.push(change_of(path, before, after, force_new, sensitive));
    }
    changes
}

/// The change of one field from `old` to `new`.
pub fn field_change(
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    force_new: &[&str],
    sensitive: &[&str],
) -> FieldChange {
    change_of(
        path.to_string(),
        old.cloned(),
        new.cloned(),
        force_new,
        sensitive,
    )
}

/// `field_change` of values already owned.
fn change_of(
    path: String,
    old: Option<Value>,
    new: Option<Value>,
    force_new: &[&str],
    sensitive: &[&str],
) -> FieldChange {
    let top = top_field(&path);
    let is_sensitive = sensitive.contains(&top);
    let text_diff = match (&old, &new) {
        (Some(Value::String(a)), Some(Value::String(b)))
            if !is_sensitive
                && (a.len() > LONG_STRING
                    || b.len() > LONG_STRING
                    || a.contains('\n')
                    || b.contains('\n')) =>
        {
            Some(unified(a, b))
        }
        _ => None,
    };
    let forces_replacement = force_new.contains(&top);
    FieldChange {
        unknown: new.as_ref().is_some_and(is_unknown),
        path,
        old,
        new,
        forces_replacement,
        sensitive: is_sensitive,
        text_diff,
    }
}

/// The parts of a field path: `servers[1].tls` → `servers`, `1`, `tls`; a quoted key
/// (`annotations["a.b/c"]`) is one part.
pub(crate) fn segments(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix("[\"") {
            // A JSON string up to the `"]` that closes it (escaped quotes inside are skipped).
            let Some(end) = meshctl_model::record::quoted_key_end(quoted) else {
                parts.push(rest.to_string());
                break;
            };
            let raw = &quoted[..end];
            parts.push(
                serde_json::from_str(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_string()),
            );
            rest = quoted[end + 1..].trim_start_matches(']');
        } else if let Some(index) = rest.strip_prefix('[') {
            let end = index.find(']').unwrap_or(index.len());
            parts.push(index[..end].to_string());
            rest = index.get(end + 1..).unwrap_or("");
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            parts.push(rest_trimmed[..end].to_string());
            rest = &rest_trimmed[end..];
        }
    }
    parts
}

/// The JSON pointer of a field path (`servers[1].tls` → `/servers/1/tls`).
pub(crate) fn pointer(path: &str) -> String {
    pointer_of(&segments(path))
}

/// The JSON pointer of path parts, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`).
pub(crate) fn pointer_of(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn unified(old: &str, new: &str) -> String {
    // Long single lines diff better word by word, so split them into one word per line first.
    let (a, b) = if old.contains('\n') || new.contains('\n') {
        (old.to_string(), new.to_string())
    } else {
        (
            old.split(' ').collect::<Vec<_>>().join("\n"),
            new.split(' ').collect::<Vec<_>>().join("\n"),
        )
    };
    let a = if a.ends_with('\n') { a } else { a + "\n" };
    let b = if b.ends_with('\n') { b } else { b + "\n" };
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(2)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattens_to_leaf_paths() {
        let flat = flatten(&json!({"a": {"b": [1, {"c": 2}]}, "e": {}, "x.y": 1}));
        let keys: Vec<&str> = flat.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a.b[0]", "a.b[1].c", "e", "x.y"]);
    }

    #[test]
    fn paths_split_into_parts_and_pointers() {
        let path = r#"metadata.annotations["alb.ingress.kubernetes.io/x"].items[2]"#;
        assert_eq!(
            segments(path),
            [
                "metadata",
                "annotations",
                "alb.ingress.kubernetes.io/x",
                "items",
                "2"
            ]
        );
        assert_eq!(
            pointer(path),
            "/metadata/annotations/alb.ingress.kubernetes.io~1x/items/2"
        );
        // Every path flatten makes leads back to its value.
        let value = json!({"a": {"b.c/d": [1, {"e~f": true}]}, "g": "h"});
        for (path, leaf) in flatten(&value) {
            assert_eq!(value.pointer(&pointer(&path)), Some(&leaf), "{path}");
        }
    }

    #[test]
    fn marks_force_new_unknown_and_sensitive() {
        let old = json!({"cidr": "10.0.0.0/16", "tags": {"a": "1"}, "token": "s1"});
        let new = json!({"cidr": "10.1.0.0/16", "tags": {"a": "${vpc.x.vpc_id}"}, "token": "s2"});
        let changes = diff(Some(&old), Some(&new), &["cidr"], &["token"]);
        assert_eq!(changes.len(), 3);
        assert!(changes[0].forces_replacement && changes[0].path == "cidr");
        assert!(changes[1].unknown && !changes[1].forces_replacement);
        assert!(changes[2].sensitive);
    }

    #[test]
    fn long_and_multiline_strings_get_unified_diffs() {
        let old = json!({"values": "a: 1\nb: 2\nc: 3\n"});
        let new = json!({"values": "a: 1\nb: 5\nc: 3\n"});
        let changes = diff(Some(&old), Some(&new), &[], &[]);
        let text = changes[0].text_diff.as_deref().unwrap();
        assert!(text.contains("-b: 2") && text.contains("+b: 5"), "{text}");
    }

    /// The comparison `diff` made before its merge walk: every path of either side, sorted.
    fn diff_by_lookup(old: Option<&Value>, new: Option<&Value>) -> Vec<FieldChange> {
        let old = old.map(flatten).unwrap_or_default();
        let new = new.map(flatten).unwrap_or_default();
        let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
        paths.sort();
        paths.dedup();
        paths
            .into_iter()
            .filter(|path| old.get(*path) != new.get(*path))
            .map(|path| field_change(path, old.get(path), new.get(path), &["cidr"], &["token"]))
            .collect()
    }

    #[test]
    fn the_merge_walk_finds_what_comparing_every_path_finds() {
        let values = [
            json!({"a": 1, "b": [1, 2, 3], "c": {"d": "x", "e": {}}, "token": "s"}),
            json!({"a": 2, "b": [1, 2], "c": {"d": "x", "f": []}, "cidr": "10.0.0.0/16"}),
            json!({"b": [1, 2, 3, 4], "c": {"d": "${vpc.main.id}"}, "z": {"x.y": null}}),
            json!({"a": 1, "b": [1, 2, 3], "c": {"d": "x", "e": {}}, "token": "s"}),
            json!({}),
            json!([]),
            json!("scalar"),
        ];
        let sides = values.iter().map(Some).chain([None]).collect::<Vec<_>>();
        for old in &sides {
            for new in &sides {
                assert_eq!(
                    diff(*old, *new, &["cidr"], &["token"]),
                    diff_by_lookup(*old, *new),
                    "{old:?} → {new:?}"
                );
            }
        }
    }
}
