//! What state remembers of one resource: the fields last applied, what was last read, its outputs
//! and every cloud or cluster object it owns. Pure data, shared by the planner and state stores.

use crate::stack::Address;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Applied and read back.
    Ok,
    /// A create started and did not finish: objects may exist that the record lists so far.
    Creating,
    /// A delete started and did not finish.
    Deleting,
    /// A failed apply or rollback left it in an unknown shape: the next apply replaces it.
    Tainted,
    /// Adopted by an import (`meshctl import` or an `import:` block): the object is as read,
    /// but meshctl's ownership marks (tags, labels) are not on it yet; the next apply places
    /// them, which makes it `ok`.
    Imported,
}

impl Status {
    /// Whether the record's object stands as recorded (applied, or imported and not yet
    /// marked), so it is read, compared and used as any applied one.
    pub fn is_settled(self) -> bool {
        matches!(self, Status::Ok | Status::Imported)
    }
}

/// What a run was doing to a resource: the journal's entry for an operation in flight, which the
/// planner reads back to repair what a killed run left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        })
    }
}

/// One real object a resource owns (an ACM certificate, its validation record, an IAM role…).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OwnedObject {
    /// What it is, e.g. `acm:certificate`, `route53:record`, `k8s:networking.k8s.io/v1/Ingress`.
    pub kind: String,
    /// How to find it again: an ARN, an id, or `namespace/name`.
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub address: Address,
    pub status: Status,
    /// The resource's fields as last applied.
    pub desired: serde_json::Value,
    /// The managed fields as last read from the live world.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<OwnedObject>,
    /// What it depended on when applied: orders its deletion once it leaves the stack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Address>,
    #[serde(default)]
    pub prevent_destroy: bool,
    /// Live values `meshctl refresh` accepted: drift checks compare with these instead of what
    /// was applied, and the next apply that writes this record clears them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<FieldDrift>,
}

/// One field whose live value differs from what was applied, e.g. `scaling.desired` of a
/// nodegroup, or `Ingress istio-system/public metadata.annotations["..."]` of a cluster object.
/// `None` is a value that is absent on that side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDrift {
    pub path: String,
    #[serde(default)]
    pub applied: Option<serde_json::Value>,
    #[serde(default)]
    pub live: Option<serde_json::Value>,
}

/// The path of `key` below `parent`: `parent.key` when the key is a plain word, else
/// `parent["key"]`, so that a path reads unambiguously and as the stack or object spells it.
pub fn child_path(parent: &str, key: &str) -> String {
    let mut path = parent.to_string();
    push_child_path(&mut path, key);
    path
}

/// Where the key `child_path` quoted as `["…"]` ends, given the text after its opening quote:
/// the index of the first quote not escaped by a backslash (`None`: the key is not closed).
pub fn quoted_key_end(quoted: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// `child_path` in place: `path` becomes the path of `key` below it (for walks that extend one
/// path and cut it back, allocating only for what they keep).
pub fn push_child_path(path: &mut String, key: &str) {
    use std::fmt::Write as _;
    if path.is_empty() {
        path.push_str(key);
    } else if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        path.push('.');
        path.push_str(key);
    } else {
        let _ = write!(path, "[{key:?}]");
    }
}
