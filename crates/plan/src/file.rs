//! Plan files: `plan --out FILE` saves the plan with the state lineage and serial it was made
//! against, and what it was made from (the stack file and each var's value, as digests); reading
//! it back refuses a stale, foreign or damaged plan, saying what changed.

use crate::{Plan, PLAN_FORMAT_VERSION};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Marks a JSON document as a meshctl plan file.
const MAGIC: &str = "meshctl-plan";

#[derive(Serialize, Deserialize)]
struct PlanFile {
    kind: String,
    plan: Plan,
    /// Absent in plan files written before it existed; those are checked by `stack_digest` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    made_from: Option<MadeFrom>,
}

/// What a plan was made from besides the state: the stack file's text and the resolved value of
/// every var (the stack's `vars`, then `--var-file`, then `--var`), each as a SHA-256, so that
/// `apply PLANFILE -f STACK --var ...` can say which of them differs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MadeFrom {
    pub stack_file: String,
    /// Var name → SHA-256 of its resolved value as JSON.
    pub vars: BTreeMap<String, String>,
}

impl MadeFrom {
    pub fn new(stack_text: &str, vars: &BTreeMap<String, serde_json::Value>) -> Self {
        MadeFrom {
            stack_file: sha256_hex(stack_text.as_bytes()),
            vars: vars
                .iter()
                .map(|(name, value)| {
                    let json = serde_json::to_vec(value).unwrap_or_default();
                    (name.clone(), sha256_hex(&json))
                })
                .collect(),
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A plan read back from its file.
#[derive(Debug, Clone)]
pub struct SavedPlan {
    pub plan: Plan,
    pub made_from: Option<MadeFrom>,
}

/// Why a plan file cannot be shown or applied: each says what to do instead.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanFileError {
    #[error("this is not a meshctl plan file ({0})")]
    NotAPlan(String),
    #[error("the plan file was written by a newer meshctl (plan format {0}, this build reads up to {PLAN_FORMAT_VERSION}); upgrade meshctl")]
    NewerFormat(u32),
    #[error("the plan was made for stack `{plan_stack}` (state lineage {plan_lineage}), but this state is stack `{state_stack}` (lineage {state_lineage}); apply it against the state it was made for, or run `meshctl plan` again")]
    Foreign {
        plan_stack: String,
        plan_lineage: String,
        state_stack: String,
        state_lineage: String,
    },
    #[error("the plan is stale: it was made at state serial {plan_serial}, and the state is now at serial {state_serial} (another apply ran since); run `meshctl plan` again and review the new plan")]
    Stale { plan_serial: u64, state_serial: u64 },
    #[error("the stack file changed since the plan was made; run `meshctl plan` again and review the new plan")]
    StackChanged,
    /// The stack file is the same, but these vars resolve to other values.
    #[error("{} another value than when the plan was made (from --var, --var-file or the stack's `vars`); pass the same --var and --var-file as `meshctl plan` had, or run `meshctl plan` again and review the new plan", vars_have(.0))]
    VarsChanged(Vec<String>),
}

/// `var `a` has` or `vars `a`, `b` have`.
fn vars_have(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let (noun, verb) = if names.len() == 1 {
        ("var", "has")
    } else {
        ("vars", "have")
    };
    format!("{noun} {} {verb}", quoted.join(", "))
}

pub fn encode(plan: &Plan, made_from: &MadeFrom) -> Vec<u8> {
    let file = PlanFile {
        kind: MAGIC.to_string(),
        plan: plan.clone(),
        made_from: Some(made_from.clone()),
    };
    serde_json::to_vec_pretty(&file).unwrap_or_default()
}

pub fn decode(bytes: &[u8]) -> Result<SavedPlan, PlanFileError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| PlanFileError::NotAPlan(e.to_string()))?;
    if value.get("kind").and_then(|k| k.as_str()) != Some(MAGIC) {
        return Err(PlanFileError::NotAPlan(
            "no `kind: meshctl-plan`".to_string(),
        ));
    }
    let version = value
        .pointer("/plan/format_version")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    if version > u64::from(PLAN_FORMAT_VERSION) {
        return Err(PlanFileError::NewerFormat(
            u32::try_from(version).unwrap_or(u32::MAX),
        ));
    }
    let file: PlanFile =
        serde_json::from_value(value).map_err(|e| PlanFileError::NotAPlan(e.to_string()))?;
    Ok(SavedPlan {
        plan: file.plan,
        made_from: file.made_from,
    })
}

/// The stack as it is now, to compare a saved plan with: its resolved resources
/// (`stack_digest`) and what they were made from.
pub struct StackNow<'a> {
    pub stack_digest: &'a str,
    pub made_from: &'a MadeFrom,
}

/// Refuses a plan made against another state, an older serial, or (when the stack is given) a
/// different stack file or other var values.
pub fn check_current(
    saved: &SavedPlan,
    state_stack: &str,
    state_lineage: &str,
    state_serial: u64,
    stack: Option<&StackNow<'_>>,
) -> Result<(), PlanFileError> {
    let plan = &saved.plan;
    if plan.lineage != state_lineage || plan.stack != state_stack {
        return Err(PlanFileError::Foreign {
            plan_stack: plan.stack.clone(),
            plan_lineage: plan.lineage.clone(),
            state_stack: state_stack.to_string(),
            state_lineage: state_lineage.to_string(),
        });
    }
    if plan.serial != state_serial {
        return Err(PlanFileError::Stale {
            plan_serial: plan.serial,
            state_serial,
        });
    }
    let Some(now) = stack else {
        return Ok(());
    };
    if let Some(then) = &saved.made_from {
        if then.stack_file != now.made_from.stack_file {
            return Err(PlanFileError::StackChanged);
        }
        let names: std::collections::BTreeSet<&String> =
            then.vars.keys().chain(now.made_from.vars.keys()).collect();
        let changed: Vec<String> = names
            .into_iter()
            .filter(|name| then.vars.get(*name) != now.made_from.vars.get(*name))
            .cloned()
            .collect();
        if !changed.is_empty() {
            return Err(PlanFileError::VarsChanged(changed));
        }
    }
    if now.stack_digest != plan.stack_digest {
        return Err(PlanFileError::StackChanged);
    }
    Ok(())
}
