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
    let normal: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    CREDENTIAL_KEYS.contains(&normal.as_str())
}

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
    walk(root, &FieldPath::root(), diags);
}

fn walk(node: &mut Node, path: &FieldPath, diags: &mut Vec<Diagnostic>) {
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
                let child = path.key(&entry.key);
                if is_credential_key(&entry.key) {
                    diags.push(
                        Diagnostic::error(
                            "static-aws-key",
                            format!("static AWS credentials (`{}`) in a stack", entry.key),
                        )
                        .at(child)
                        .with_span(entry.key_span)
                        .help(HELP)
                        .concealed(Conceal::AfterSpan),
                    );
                    entry.value.kind = NodeKind::Removed;
                } else {
                    walk(&mut entry.value, &child, diags);
                }
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &path.index(i), diags);
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
        assert!(looks_like_access_key_id("AKIAZ72NSUCESVG47F6A"));
        assert!(looks_like_access_key_id("key=ASIAZ72NSUCESVG47F6A;"));
        assert!(!looks_like_access_key_id("AKIA-not-a-key"));
    }
}
