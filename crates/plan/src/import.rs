//! Imports while planning: a resource with `import: ID` that the state does not record yet is
//! read by its provider (`Provider::import`) before the planner runs, as lookups are; the
//! planner then treats what was read as the resource's record, so the plan shows the import and
//! exactly where the stack and the live object differ (docs/adoption.md). The planner stays
//! pure: the caller makes the reads `imports_to_make` lists, in order, and hands the results in
//! `PlanInput::imports`.

use crate::planner::{exclude_closure, is_read_only, target_closure};
use crate::PlanInput;
use meshctl_model::record::NodeRecord;
use meshctl_model::Address;
use serde_json::Value;
use std::collections::BTreeMap;

/// One import to read: the resource, the id of the live object, its fields as the stack writes
/// them (`${…}` of other resources unresolved) and what it depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRequest {
    pub address: Address,
    pub id: String,
    pub desired: Value,
    pub depends_on: Vec<Address>,
}

/// What reading an import found.
#[derive(Debug, Clone, PartialEq)]
pub enum Imported {
    /// The object, read as the stack's resource describes it, with everything it owns: the
    /// record an import writes (status `imported`), and the live read the planner compares
    /// with the stack as it compares a refresh.
    Found {
        record: Box<NodeRecord>,
        live: Option<crate::Live>,
    },
    /// Not imported: the object is not there, is not of the kind, belongs to another stack, or
    /// what it depends on is not known yet. The provider's (or the reader's) words.
    Refused { message: String, help: String },
}

/// Import results by address.
pub type Imports = BTreeMap<Address, Imported>;

/// The imports a plan of `input` needs, in creation order (so each one's dependencies come
/// first, and their imported outputs can resolve its fields): every resource within
/// `--target`/`--exclude` with `import:` that the state does not record and that is managed
/// (a looked-up resource has nothing to import; the planner says so). None for destroy.
pub fn imports_to_make(input: &PlanInput<'_>) -> Vec<ImportRequest> {
    if input.options.destroy {
        return Vec::new();
    }
    let targets = target_closure(input, &mut Vec::new());
    let excluded = exclude_closure(input, &mut Vec::new());
    let recorded = |address: &Address| input.prior.iter().any(|r| &r.address == address);
    input
        .graph
        .creation_order()
        .into_iter()
        .map(|index| &input.stack.resources[index])
        .filter(|r| targets.as_ref().is_none_or(|t| t.contains(&r.address)))
        .filter(|r| !excluded.contains(&r.address))
        .filter(|r| !recorded(&r.address))
        .filter_map(|r| {
            let id = r.import.clone()?;
            let desired = serde_json::to_value(&r.spec).ok()?;
            (!is_read_only(&desired, r.address.kind)).then(|| ImportRequest {
                address: r.address.clone(),
                id,
                desired,
                depends_on: r.dependencies.iter().map(|d| d.target.clone()).collect(),
            })
        })
        .collect()
}
