//! The form values take in state: whatever looks like a credential (`meshctl_model::redact`) is
//! replaced by a digest marker, `<redacted sha256:…>`, so state files, `state show` and
//! `state pull` never hold a secret, while a changed secret still differs from the recorded one
//! and plans as an update. The planner compares what the stack wants in this form with what state
//! records; the plan itself keeps the real values, which are what gets applied.

use meshctl_model::record::{FieldDrift, NodeRecord};
use meshctl_model::redact::redact_value_with;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// How every digest marker starts: what `holds_redacted` looks for.
const MARKER_START: &str = "<redacted sha256:";

/// The marker of one secret: the first 16 hex digits of its SHA-256. Values matched by
/// `redact` are long random strings, so the digest does not reveal them.
fn digest_marker(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut marker = String::from(MARKER_START);
    for byte in &digest[..8] {
        let _ = write!(marker, "{byte:02x}");
    }
    marker.push('>');
    marker
}

/// `value` as state records it.
pub fn recorded_form(value: &Value) -> Value {
    let mut value = value.clone();
    redact_value_with(&mut value, &mut digest_marker);
    value
}

/// `record` as state stores it: its desired and live values, and the values refresh accepted, in
/// `recorded_form`. Outputs are kept: dependents read them, and providers return identifiers,
/// not credentials.
pub fn recorded_record(mut record: NodeRecord) -> NodeRecord {
    record.desired = recorded_form(&record.desired);
    record.live = record.live.as_ref().map(recorded_form);
    record.accepted = record
        .accepted
        .into_iter()
        .map(|drift| FieldDrift {
            applied: drift.applied.as_ref().map(recorded_form),
            live: drift.live.as_ref().map(recorded_form),
            path: drift.path,
        })
        .collect();
    record
}

/// True when `value` holds a secret state replaced by its digest: it cannot be written back to
/// the world (a rollback to it cannot restore the secret).
pub fn holds_redacted(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains(MARKER_START),
        Value::Array(items) => items.iter().any(holds_redacted),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains(MARKER_START) || holds_redacted(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_become_digests_that_tell_changes_apart() {
        let one = json!({ "data": { "token": "ghp_0123456789abcdefghijABCDEFGHIJ012345" } });
        let other = json!({ "data": { "token": "ghp_9999999999abcdefghijABCDEFGHIJ012345" } });
        let (a, b) = (recorded_form(&one), recorded_form(&other));
        assert!(!a.to_string().contains("ghp_"), "{a}");
        assert!(holds_redacted(&a) && !holds_redacted(&one));
        assert_ne!(a, b);
        assert_eq!(a, recorded_form(&one));
        // Recording twice changes nothing: a marker is not a secret.
        assert_eq!(recorded_form(&a), a);
        let plain = json!({ "labels": { "team": "web" } });
        assert_eq!(recorded_form(&plain), plain);
    }
}
