//! Blast radius: what a plan's changes do beyond the resources they name, for a reviewer to read
//! before the diff — which replacements give a public name (a balancer's DNS name, a
//! certificate's ARN) a new value, how many changing dependents each replacement drags along,
//! and which changes interrupt traffic and which are hitless. Derived from the plan and the
//! kinds' `Schema` facts (`public_names`, `interrupts`) when rendered, so a saved plan of any
//! age shows it too (docs/plan-json.md#blast-radius).

use crate::{Action, Plan, ResourceChange};
use meshctl_model::Address;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The blast radius of one plan; every list in apply order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlastRadius {
    /// Changes after which the world finds a resource under a new public name.
    pub public_names: Vec<PublicNames>,
    /// Every replacement, with the changing resources that follow it.
    pub replacements: Vec<Replacement>,
    /// Changes that cut traffic passing through the resource.
    pub interrupting: Vec<Interruption>,
    /// Every other change (create, update, read excluded): nothing it serves goes away.
    pub hitless: Vec<Address>,
}

/// A replacement (or an in-place update that changes outputs) giving public names new values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicNames {
    pub address: Address,
    pub action: Action,
    /// The outputs whose values change, e.g. `dns_name`.
    pub outputs: Vec<String>,
}

/// A replacement and the resources it drags along.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    pub address: Address,
    /// Resources depending on it, directly or through other changing resources, that this plan
    /// updates or replaces, in apply order.
    pub dependents: Vec<Address>,
}

/// A change that interrupts traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interruption {
    pub address: Address,
    pub action: Action,
}

impl BlastRadius {
    pub fn of(plan: &Plan) -> BlastRadius {
        let changing: Vec<&ResourceChange> = plan
            .changes
            .iter()
            .filter(|c| !matches!(c.action, Action::NoOp | Action::Read))
            .collect();
        let mut radius = BlastRadius::default();
        let dependents = Dependents::of(&changing);
        for change in &changing {
            let schema = change.kind.schema();
            let outputs = public_names_changed(change);
            if !outputs.is_empty() {
                radius.public_names.push(PublicNames {
                    address: change.address.clone(),
                    action: change.action,
                    outputs,
                });
            }
            if change.action == Action::Replace {
                radius.replacements.push(Replacement {
                    address: change.address.clone(),
                    dependents: dependents.dragged_by(&change.address),
                });
            }
            let interrupts = match change.action {
                Action::Replace => schema.interrupts.replaced && !change.create_before_destroy,
                // A looked-up resource (or a create that made nothing) owns no object: deleting
                // its record only forgets it.
                Action::Delete => schema.interrupts.deleted && !change.prior_objects.is_empty(),
                _ => false,
            };
            if interrupts {
                radius.interrupting.push(Interruption {
                    address: change.address.clone(),
                    action: change.action,
                });
            } else {
                radius.hitless.push(change.address.clone());
            }
        }
        radius
    }

    /// Nothing is replaced, renamed or interrupted: every change is hitless.
    pub fn is_hitless(&self) -> bool {
        self.public_names.is_empty() && self.replacements.is_empty() && self.interrupting.is_empty()
    }
}

/// The kind's public names a change gives new values: all of them when replaced, those its
/// update changes (`Schema::outputs_changed_by`, by top-level field) when updated in place.
fn public_names_changed(change: &ResourceChange) -> Vec<String> {
    let schema = change.kind.schema();
    let changed: BTreeSet<&str> = match change.action {
        Action::Replace => schema.public_names.iter().copied().collect(),
        Action::Update | Action::Import => schema
            .outputs_changed_by
            .iter()
            .filter(|(field, _)| {
                *field == "*"
                    || change
                        .fields
                        .iter()
                        .any(|f| crate::diff::top_field(&f.path) == *field)
            })
            .flat_map(|(_, outputs)| outputs.iter().copied())
            .filter(|output| schema.public_names.contains(output))
            .collect(),
        _ => BTreeSet::new(),
    };
    // In the kind's order of outputs, as its docs list them.
    schema
        .public_names
        .iter()
        .filter(|name| changed.contains(*name))
        .map(|name| name.to_string())
        .collect()
}

/// Who depends on whom among the changing resources (`ResourceChange::depends_on` reversed).
struct Dependents<'p> {
    of: HashMap<&'p Address, Vec<&'p ResourceChange>>,
    /// Each changing resource's place in apply order.
    position: HashMap<&'p Address, usize>,
}

impl<'p> Dependents<'p> {
    fn of(changing: &[&'p ResourceChange]) -> Self {
        let mut of: HashMap<&Address, Vec<&ResourceChange>> = HashMap::new();
        let mut position = HashMap::new();
        for (at, change) in changing.iter().enumerate() {
            position.insert(&change.address, at);
            for target in &change.depends_on {
                of.entry(target).or_default().push(change);
            }
        }
        Dependents { of, position }
    }

    /// The updated or replaced resources reached from `address` through updated or replaced
    /// dependents, in apply order: a resource the plan leaves alone passes nothing on, and a
    /// deleted or new one is not dragged by anything.
    fn dragged_by(&self, address: &Address) -> Vec<Address> {
        let mut found: HashSet<&Address> = HashSet::new();
        let mut pending = vec![address];
        while let Some(next) = pending.pop() {
            for dependent in self.of.get(next).into_iter().flatten() {
                if matches!(
                    dependent.action,
                    Action::Update | Action::Replace | Action::Import
                ) && &dependent.address != address
                    && found.insert(&dependent.address)
                {
                    pending.push(&dependent.address);
                }
            }
        }
        let mut found: Vec<&Address> = found.into_iter().collect();
        found.sort_by_key(|a| self.position.get(a));
        found.into_iter().cloned().collect()
    }
}
