//! The var set a state was applied with: each var's name and the SHA-256 of its resolved value
//! (the digests a saved plan records, so no value is kept in clear), recorded in the state when
//! an apply or destroy finishes. A plan made with another var set is refused, naming the vars
//! that differ: another environment's var file on this state would plan to turn this
//! environment into that one.

use crate::MadeFrom;
use std::collections::BTreeMap;
use std::fmt;

/// Var name → SHA-256 (hex) of its resolved value as JSON. Order-independent: kept sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VarSet(BTreeMap<String, String>);

/// How one var differs from the var set the state was applied with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarDifference {
    Changed(String),
    /// Set now, absent then.
    Added(String),
    /// Set then, absent now.
    Removed(String),
}

impl fmt::Display for VarDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarDifference::Changed(name) => write!(f, "`{name}` has another value"),
            VarDifference::Added(name) => write!(f, "`{name}` is new"),
            VarDifference::Removed(name) => write!(f, "`{name}` is no longer set"),
        }
    }
}

impl VarSet {
    /// The var set of what a plan was made from.
    pub fn of(made_from: &MadeFrom) -> VarSet {
        VarSet(made_from.vars.clone())
    }

    /// The form the state keeps (`Meta::var_set`): `name=digest` pairs, sorted by name and
    /// joined by `;` (var names hold only letters, digits, `_` and `-`). Equal sets encode
    /// equally, whatever the order the vars were given in.
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(name, digest)| format!("{name}={digest}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Reads `encode`'s form; `None` when it is not that form (written by something else).
    pub fn decode(text: &str) -> Option<VarSet> {
        let mut vars = BTreeMap::new();
        for pair in text.split(';').filter(|p| !p.is_empty()) {
            let (name, digest) = pair.split_once('=')?;
            if name.is_empty() || digest.is_empty() {
                return None;
            }
            vars.insert(name.to_string(), digest.to_string());
        }
        Some(VarSet(vars))
    }

    /// How `self` (now) differs from `recorded` (what the state was applied with), by var name.
    pub fn differences(&self, recorded: &VarSet) -> Vec<VarDifference> {
        let mut found = Vec::new();
        for (name, digest) in &self.0 {
            match recorded.0.get(name) {
                Some(then) if then == digest => {}
                Some(_) => found.push(VarDifference::Changed(name.clone())),
                None => found.push(VarDifference::Added(name.clone())),
            }
        }
        for name in recorded.0.keys() {
            if !self.0.contains_key(name) {
                found.push(VarDifference::Removed(name.clone()));
            }
        }
        found.sort_by(|a, b| var_name(a).cmp(var_name(b)));
        found
    }
}

fn var_name(difference: &VarDifference) -> &str {
    match difference {
        VarDifference::Changed(n) | VarDifference::Added(n) | VarDifference::Removed(n) => n,
    }
}

/// A plan refused because its var set is not the one the state was applied with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarSetChanged {
    /// Empty when the recorded set could not be read (then the whole set differs).
    pub differences: Vec<VarDifference>,
    /// The serial whose apply recorded the set.
    pub serial: u64,
}

impl fmt::Display for VarSetChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.differences.is_empty() {
            "other var values".to_string()
        } else {
            self.differences
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "this state was last applied (serial {}) with other vars: {what}. Planning another \
             environment's vars against this state would turn that environment into this one.\n  \
             help: give the same --var/--var-file as that apply; give each environment its own \
             state (e.g. `backend: {{ s3: {{ key: meshctl/${{var.env}}.json, ... }} }}`); or, to \
             change these values on purpose, add --allow-var-change",
            self.serial
        )
    }
}

/// Refuses `now` when the state recorded another var set (`recorded`, as `Meta::var_set` holds
/// it). A state with none recorded (never applied, or applied before var sets were recorded)
/// accepts any.
pub fn check_var_set(
    recorded: Option<&str>,
    serial: u64,
    now: &VarSet,
) -> Result<(), VarSetChanged> {
    let Some(recorded) = recorded else {
        return Ok(());
    };
    match VarSet::decode(recorded) {
        Some(then) => {
            let differences = now.differences(&then);
            if differences.is_empty() {
                Ok(())
            } else {
                Err(VarSetChanged {
                    differences,
                    serial,
                })
            }
        }
        None if recorded == now.encode() => Ok(()),
        None => Err(VarSetChanged {
            differences: Vec::new(),
            serial,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(vars: &[(&str, serde_json::Value)]) -> VarSet {
        let vars: BTreeMap<String, serde_json::Value> = vars
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        VarSet::of(&MadeFrom::new("stack text", &vars))
    }

    #[test]
    fn the_encoding_is_order_independent_and_reads_back() {
        let a = set(&[("env", json!("prod")), ("replicas", json!(3))]);
        let b = set(&[("replicas", json!(3)), ("env", json!("prod"))]);
        assert_eq!(a.encode(), b.encode());
        assert_eq!(VarSet::decode(&a.encode()), Some(a.clone()));
        assert!(
            !a.encode().contains("prod"),
            "values are digests, never in clear"
        );
        assert_eq!(VarSet::decode(""), Some(VarSet::default()));
        assert_eq!(VarSet::decode("no pairs here"), None);
    }

    #[test]
    fn a_plan_with_other_vars_is_refused_naming_them() {
        let staging = set(&[
            ("env", json!("staging")),
            ("replicas", json!(3)),
            ("old", json!(1)),
        ]);
        let prod = set(&[
            ("env", json!("prod")),
            ("replicas", json!(3)),
            ("new", json!(2)),
        ]);
        let refused = check_var_set(Some(&staging.encode()), 7, &prod).unwrap_err();
        assert_eq!(
            refused.differences,
            [
                VarDifference::Changed("env".into()),
                VarDifference::Added("new".into()),
                VarDifference::Removed("old".into()),
            ]
        );
        let message = refused.to_string();
        assert!(message.contains("serial 7"), "{message}");
        assert!(message.contains("`env` has another value"), "{message}");
        assert!(message.contains("--allow-var-change"), "{message}");
        assert!(
            !message.contains("staging") && !message.contains("prod\""),
            "{message}"
        );
    }

    #[test]
    fn the_same_vars_or_no_recorded_set_pass() {
        let prod = set(&[("env", json!("prod"))]);
        assert_eq!(check_var_set(Some(&prod.encode()), 1, &prod), Ok(()));
        assert_eq!(check_var_set(None, 1, &prod), Ok(()));
    }
}
