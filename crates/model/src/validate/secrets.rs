//! Refuses static AWS credentials anywhere in a stack (seed 001 put an access key ID in a
//! ClusterIssuer). Keys are found by field name and by the shape of access key IDs; the offending
//! value is set aside so no other check repeats it, and diagnostics never print it.

use crate::diagnostic::{Conceal, Diagnostic};
use crate::path::FieldPath;
use crate::yaml::{Node, NodeKind};

const HELP: &str = "never put AWS keys in a stack: declare an `iam_service_account` (e.g. `well_known_policy: cert_manager_route53`) and reference it (an issuer's `dns01.service_account`, a controller's `service_account`); the pod then gets short-lived credentials through IRSA";

/// Field names that hold static credentials, compared without case, `_` or `-`.
const CREDENTIAL_KEYS: &[&str] = &[
    "accesskeyid",
    "awsaccesskeyid",
    "secretaccesskey",
    "awssecretaccesskey",
    "secretaccesskeysecretref",
    "awssecretkey",
    "awsaccesskey",
    "sessiontoken",
    "awssessiontoken",
];

fn is_credential_key(key: &str) -> bool {
    // Every key of the document passes here: ASCII keys are compared without allocating.
    if key.is_ascii() {
        let mut normal = [0u8; LONGEST_CREDENTIAL_KEY];
        let mut len = 0;
        for b in key.bytes().filter(|b| *b != b'_' && *b != b'-') {
            let Some(slot) = normal.get_mut(len) else {
                return false;
            };
            *slot = b.to_ascii_lowercase();
            len += 1;
        }
        return CREDENTIAL_KEYS
            .iter()
            .any(|k| k.as_bytes() == &normal[..len]);
    }
    // Some non-ASCII letters lower-case to ASCII ones (KELVIN SIGN to `k`).
    let normal: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    CREDENTIAL_KEYS.contains(&normal.as_str())
}

/// The length of the longest of `CREDENTIAL_KEYS`.
const LONGEST_CREDENTIAL_KEY: usize = 24;

/// An AWS access key ID: AKIA (long-term) or ASIA (temporary) and 16 upper-case letters/digits.
fn looks_like_access_key_id(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| {
            word.len() == 20
                && (word.starts_with("AKIA") || word.starts_with("ASIA"))
                && word
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

pub fn refuse_static_keys(root: &mut Node, diags: &mut Vec<Diagnostic>) {
    walk(root, &mut FieldPath::root(), diags);
}

/// Walks the document with one path, pushed and popped as it goes: a path is copied only for a
/// diagnostic.
fn walk(node: &mut Node, path: &mut FieldPath, diags: &mut Vec<Diagnostic>) {
    match &mut node.kind {
        NodeKind::Map(entries) => {
            // Environment variables: `{name: AWS_SECRET_ACCESS_KEY, value: ...}`.
            let env_secret = entries
                .iter()
                .any(|e| e.key == "name" && e.value.as_str().is_some_and(is_credential_key));
            if env_secret {
                if let Some(value) = entries
                    .iter_mut()
                    .find(|e| e.key == "value" && !e.value.is_removed())
                {
                    diags.push(
                        Diagnostic::error(
                            "static-aws-key",
                            "static AWS credentials in an environment variable",
                        )
                        .at(path.key("value"))
                        .with_span(value.value.span)
                        .help(HELP)
                        .concealed(Conceal::FromSpan),
                    );
                    value.value.kind = NodeKind::Removed;
                }
            }
            for entry in entries {
                if is_credential_key(&entry.key) {
                    diags.push(
                        Diagnostic::error(
                            "static-aws-key",
                            format!("static AWS credentials (`{}`) in a stack", entry.key),
                        )
                        .at(path.key(&entry.key))
                        .with_span(entry.key_span)
                        .help(HELP)
                        .concealed(Conceal::AfterSpan),
                    );
                    entry.value.kind = NodeKind::Removed;
                } else {
                    path.push_key(&entry.key);
                    walk(&mut entry.value, path, diags);
                    path.pop();
                }
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push_index(i);
                walk(item, path, diags);
                path.pop();
            }
        }
        NodeKind::Scalar(text, _) if looks_like_access_key_id(text) => {
            diags.push(
                Diagnostic::error("static-aws-key", "an AWS access key ID in a stack")
                    .at(path.clone())
                    .with_span(node.span)
                    .help(HELP)
                    .concealed(Conceal::FromSpan),
            );
            node.kind = NodeKind::Removed;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_keys_by_name_and_shape() {
        assert!(is_credential_key("accessKeyID"));
        assert!(is_credential_key("secret_access_key"));
        assert!(is_credential_key("AWS_SECRET_ACCESS_KEY"));
        assert!(!is_credential_key("access_log_file"));
        assert!(is_credential_key("Secret-Access-Key-Secret-Ref"));
        assert!(!is_credential_key("secret_access_key_secret_ref_x"));
        // KELVIN SIGN lower-cases to `k`, so this is `sessiontoken` once normalized.
        assert!(is_credential_key("session_to\u{212a}en"));
        assert!(looks_like_access_key_id("AKIAZ72NSUCESVG47F6A"));
        assert!(looks_like_access_key_id("key=ASIAZ72NSUCESVG47F6A;"));
        assert!(!looks_like_access_key_id("AKIA-not-a-key"));
    }
}
