//! Plan files: `plan --out FILE` saves the plan with the state lineage and serial it was made
//! against; reading it back refuses a stale, foreign or damaged plan, saying what changed.

use crate::{Plan, PLAN_FORMAT_VERSION};
use serde::{Deserialize, Serialize};

/// Marks a JSON document as a meshctl plan file.
const MAGIC: &str = "meshctl-plan";

#[derive(Serialize, Deserialize)]
struct PlanFile {
    kind: String,
    plan: Plan,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PlanFileError {
    NotAPlan(String),
    NewerFormat(u32),
    Foreign {
        plan_stack: String,
        plan_lineage: String,
        state_stack: String,
        state_lineage: String,
    },
    Stale {
        plan_serial: u64,
        state_serial: u64,
    },
    StackChanged,
}

impl std::fmt::Display for PlanFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanFileError::NotAPlan(detail) => write!(f, "this is not a meshctl plan file ({detail})"),
            PlanFileError::NewerFormat(v) => write!(f, "the plan file was written by a newer meshctl (plan format {v}, this build reads up to {PLAN_FORMAT_VERSION}); upgrade meshctl"),
            PlanFileError::Foreign { plan_stack, plan_lineage, state_stack, state_lineage } => write!(
                f,
                "the plan was made for stack `{plan_stack}` (state lineage {plan_lineage}), but this state is stack `{state_stack}` (lineage {state_lineage}); apply it against the state it was made for, or run `meshctl plan` again"
            ),
            PlanFileError::Stale { plan_serial, state_serial } => write!(
                f,
                "the plan is stale: it was made at state serial {plan_serial}, and the state is now at serial {state_serial} (another apply ran since); run `meshctl plan` again and review the new plan"
            ),
            PlanFileError::StackChanged => write!(f, "the stack file changed since the plan was made; run `meshctl plan` again and review the new plan"),
        }
    }
}

pub fn encode(plan: &Plan) -> Vec<u8> {
    let file = PlanFile {
        kind: MAGIC.to_string(),
        plan: plan.clone(),
    };
    serde_json::to_vec_pretty(&file).unwrap_or_default()
}

pub fn decode(bytes: &[u8]) -> Result<Plan, PlanFileError> {
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
    Ok(file.plan)
}

/// Refuses a plan made against another state, an older serial, or (when the stack is given) a
/// different stack.
pub fn check_current(
    plan: &Plan,
    state_stack: &str,
    state_lineage: &str,
    state_serial: u64,
    stack_digest: Option<&str>,
) -> Result<(), PlanFileError> {
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
    if stack_digest.is_some_and(|d| d != plan.stack_digest) {
        return Err(PlanFileError::StackChanged);
    }
    Ok(())
}
