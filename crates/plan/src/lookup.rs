//! Lookups while planning: resources the stack uses but does not manage (an existing zone or VPC,
//! see `is_read_only`) are found through their providers before the planner runs, so a missing
//! one is a plan error located at the resource and their outputs are known in the plan. The
//! planner stays pure: the caller makes the lookups this module asks for and hands the results in
//! `PlanInput::lookups`.

use crate::planner::{exclude_closure, is_read_only, target_closure};
use crate::{Action, Plan, PlanInput, ResourceChange};
use meshctl_model::path::FieldPath;
use meshctl_model::record::NodeRecord;
use meshctl_model::{Address, Diagnostic, Resource};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One lookup to make: the resource's fields and the recorded outputs of what it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupRequest {
    pub address: Address,
    pub desired: Value,
    pub inputs: BTreeMap<Address, BTreeMap<String, Value>>,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The object exists; its outputs (`zone_id`, `vpc_id`, subnets...).
    Found { outputs: BTreeMap<String, Value> },
    /// Nothing matches. `field` is the field searched by, relative to the resource
    /// (`existing.vpc_id`); `message` and `help` are the provider's words.
    Missing {
        field: String,
        message: String,
        help: String,
    },
}

/// Lookup results by address.
pub type Lookups = BTreeMap<Address, Lookup>;

/// The lookups a plan of `input` needs: every looked-up resource of the stack within `--target`.
/// A destroy plan looks nothing up (looked-up resources are only forgotten). A resource whose
/// fields use another resource's outputs, or that depends on something not yet recorded (an
/// existing control plane in a cluster this apply creates), is looked up by apply, once what it
/// needs exists.
pub fn lookups_to_make(input: &PlanInput<'_>) -> Vec<LookupRequest> {
    if input.options.destroy {
        return Vec::new();
    }
    let targets = target_closure(input, &mut Vec::new());
    let excluded = exclude_closure(input, &mut Vec::new());
    let recorded = |address: &Address| {
        input
            .prior
            .iter()
            .any(|r| &r.address == address && r.status.is_settled())
    };
    input
        .stack
        .resources
        .iter()
        .filter(|r| targets.as_ref().is_none_or(|t| t.contains(&r.address)))
        .filter(|r| !excluded.contains(&r.address))
        .filter(|r| r.outputs_used.is_empty())
        .filter(|r| r.dependencies.iter().all(|d| recorded(&d.target)))
        .filter_map(|r| {
            let desired = serde_json::to_value(&r.spec).ok()?;
            is_read_only(&desired, r.address.kind).then(|| LookupRequest {
                address: r.address.clone(),
                inputs: recorded_inputs(r.dependencies.iter().map(|d| &d.target), input.prior),
                desired,
            })
        })
        .collect()
}

/// The lookups a saved plan's read steps need, so that applying it stops before changing
/// anything when a looked-up object has gone since the plan was made.
pub fn plan_lookups(plan: &Plan, prior: &[NodeRecord]) -> Vec<LookupRequest> {
    plan.changes
        .iter()
        .filter(|c| c.action == Action::Read)
        .filter_map(|c| {
            let desired = c.desired.clone()?;
            (!refers_to_outputs(&desired)).then(|| LookupRequest {
                address: c.address.clone(),
                inputs: recorded_inputs(c.depends_on.iter(), prior),
                desired,
            })
        })
        .collect()
}

/// Applies a lookup's result to the resource's planned change: a missing object is an error at
/// the field searched by; a found one lends its outputs to the resources planned after it, and a
/// recorded lookup whose outputs moved is read again so that state follows.
pub(crate) fn apply_lookup(
    change: &mut ResourceChange,
    resource: &Resource,
    record: Option<&NodeRecord>,
    lookup: &Lookup,
    looked_up: &mut HashMap<Address, BTreeMap<String, Value>>,
    errors: &mut Vec<Diagnostic>,
) {
    match lookup {
        Lookup::Missing {
            field,
            message,
            help,
        } => {
            let at = FieldPath::parse(field)
                .map(|f| resource.path().join(&f))
                .unwrap_or_else(|| resource.path());
            errors.push(not_found(&resource.address, message, help).at(at));
        }
        Lookup::Found { outputs } => {
            if let Some(record) = record {
                let moved: Vec<&str> = outputs
                    .iter()
                    .filter(|(name, value)| record.outputs.get(*name) != Some(value))
                    .map(|(name, _)| name.as_str())
                    .collect();
                if change.action == Action::NoOp && !moved.is_empty() {
                    change.action = Action::Read;
                    change.reasons.push(format!(
                        "{} changed since it was last looked up",
                        moved.join(", ")
                    ));
                }
            }
            looked_up.insert(resource.address.clone(), outputs.clone());
        }
    }
}

/// The errors of the lookups that found nothing, by address (a saved plan has no stack to
/// point into).
pub fn missing_lookups(lookups: &Lookups) -> Vec<Diagnostic> {
    lookups
        .iter()
        .filter_map(|(address, lookup)| match lookup {
            Lookup::Missing { message, help, .. } => Some(not_found(address, message, help)),
            Lookup::Found { .. } => None,
        })
        .collect()
}

fn not_found(address: &Address, message: &str, help: &str) -> Diagnostic {
    Diagnostic::error(
        "lookup-not-found",
        format!("cannot look up {address}: {message}"),
    )
    .help(help)
}

fn recorded_inputs<'a>(
    dependencies: impl Iterator<Item = &'a Address>,
    prior: &[NodeRecord],
) -> BTreeMap<Address, BTreeMap<String, Value>> {
    dependencies
        .filter_map(|a| {
            prior
                .iter()
                .find(|r| &r.address == a)
                .map(|r| (a.clone(), r.outputs.clone()))
        })
        .collect()
}

/// Whether a value still holds a `${kind.name.output}` (apply resolves it).
fn refers_to_outputs(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("${"),
        Value::Array(items) => items.iter().any(refers_to_outputs),
        Value::Object(map) => map.values().any(refers_to_outputs),
        _ => false,
    }
}
