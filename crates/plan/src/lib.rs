//! The planner: diffs the stack's desired resources against prior state (and live reads, once
//! providers refresh) into a `Plan` — per resource an action, field diffs, unknowns and risks —
//! and renders it as text, JSON or Markdown. Pure: no IO, no async runtime.

pub mod blast;
mod diff;
pub mod drift;
mod file;
mod import;
mod lookup;
mod planner;
pub mod recorded;
pub mod render;
mod risks;
mod var_set;

pub use diff::is_unknown;
pub use diff::{flatten, FieldChange};
pub use drift::{DriftReport, Live, LiveWorld};
pub use file::{check_current, decode, encode, MadeFrom, PlanFileError, SavedPlan, StackNow};
pub use import::{imports_to_make, ImportRequest, Imported, Imports};
pub use lookup::{lookups_to_make, missing_lookups, plan_lookups, Lookup, LookupRequest, Lookups};
pub use planner::{is_read_only, plan, resolve_outputs, stack_digest, PlanInput, PlanOptions};
pub use var_set::{check_var_set, VarDifference, VarSet, VarSetChanged};

use meshctl_model::record::OwnedObject;
use meshctl_model::{Address, Kind};
use serde::{Deserialize, Serialize};

/// Version of the plan document (`--format json` and plan files); bumped on incompatible change.
pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
    /// Look up something the stack uses but does not manage (an existing zone or VPC).
    Read,
    /// Adopt an object that exists outside meshctl (`import: ID`): record it, put right the
    /// fields where the stack differs (listed as for an update) and place meshctl's marks.
    Import,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::NoOp => "unchanged",
            Action::Create => "create",
            Action::Update => "update in place",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Read => "read",
            Action::Import => "import",
        }
    }
}

/// What the plan does to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: Address,
    pub kind: Kind,
    pub action: Action,
    /// Why this action: "cidr forces replacement", "tainted by a failed apply", ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// For replace: the new object is created before the old one is deleted.
    #[serde(default)]
    pub create_before_destroy: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risks: Vec<String>,
    /// The full desired fields apply will send (absent for delete). Strings may still hold
    /// `${kind.name.output}` that apply resolves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<serde_json::Value>,
    /// Objects the prior record owns (what delete and replace remove).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prior_objects: Vec<OwnedObject>,
    /// Resources this one must follow (for delete: that must follow it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
    /// Recorded with the resource, so a later plan refuses to delete it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prevent_destroy: bool,
    /// The resource's `lifecycle.ignore_changes` (docs/lifecycle.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_changes: Vec<String>,
    /// Differences those rules leave alone: `old` is what the world has (state, or the live
    /// read), `new` what the stack says. Neither planned nor applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<FieldChange>,
    /// For import: the id of the live object adopted (the resource's `import:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importing: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub read: usize,
    pub unchanged: usize,
    #[serde(default)]
    pub import: usize,
}

/// A reviewed, replayable description of one apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    /// The stack's region, so that applying a saved plan talks to the region it was made for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    /// How the stack reaches its cluster, so that applying a saved plan reaches the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube: Option<meshctl_model::stack::KubeAccess>,
    /// The state the plan was made against: `apply PLANFILE` refuses any other.
    pub lineage: String,
    pub serial: u64,
    /// SHA-256 of the resolved desired resources.
    pub stack_digest: String,
    #[serde(default)]
    pub destroy: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Address>,
    /// `--replace`: resources replaced although nothing forces it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<Address>,
    /// Left out of the plan: `--exclude`'s resources and every resource that depends on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Address>,
    /// In apply order; unchanged resources included.
    pub changes: Vec<ResourceChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::NoOp => s.unchanged += 1,
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::Read => s.read += 1,
                Action::Import => s.import += 1,
            }
        }
        s
    }

    /// True when applying would change anything (reads alone change nothing).
    pub fn has_changes(&self) -> bool {
        self.changes
            .iter()
            .any(|c| !matches!(c.action, Action::NoOp | Action::Read))
    }
}
