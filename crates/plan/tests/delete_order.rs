//! Deletions come dependents first, and records whose dependencies form a cycle (a state edited by
//! hand) are still each deleted once, after the others, in state order; `--exclude` follows the
//! dependencies of records leaving the stack. Pins the order the planner's linear passes keep.

use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::{Address, Kind, SourceFile, VarOverrides};
use meshctl_plan::{Action, PlanInput, PlanOptions};

const STACK: &str = "stack: order\nregion: us-east-1\nresources:\n  - { kind: vpc, name: kept, cidr: 10.0.0.0/16 }\n";

fn vpc(name: &str) -> Address {
    Address::new(Kind::Vpc, name)
}

fn record(name: &str, dependencies: &[&str]) -> NodeRecord {
    NodeRecord {
        accepted: Vec::new(),
        address: vpc(name),
        status: Status::Ok,
        desired: serde_json::json!({ "cidr": "10.0.0.0/16" }),
        live: None,
        outputs: Default::default(),
        objects: vec![],
        dependencies: dependencies.iter().map(|d| vpc(d)).collect(),
        prevent_destroy: false,
    }
}

/// The planned deletions, in plan order, with the given options.
fn deletions(prior: &[NodeRecord], options: &PlanOptions) -> Vec<String> {
    let (checked, diagnostics) = meshctl_graph::validate(
        &SourceFile::new("order.yaml", STACK),
        &VarOverrides::default(),
    );
    let (stack, graph) = checked.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior,
        interrupted: &[],
        live: None,
        lookups: None,
        imports: None,
        lineage: "test",
        serial: 1,
        options,
    };
    let plan = meshctl_plan::plan(&input).expect("plans");
    plan.changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.to_string())
        .collect()
}

#[test]
fn a_cycle_of_records_is_deleted_once_each_after_what_depends_on_it() {
    // c depends on a; a and b depend on each other.
    let prior = [
        record("a", &["b"]),
        record("b", &["a"]),
        record("c", &["a"]),
    ];
    let options = PlanOptions {
        destroy: true,
        ..PlanOptions::default()
    };
    assert_eq!(deletions(&prior, &options), ["vpc.c", "vpc.a", "vpc.b"]);
}

#[test]
fn dependents_are_deleted_first_and_exclude_follows_records_leaving_the_stack() {
    let prior = [
        record("kept", &[]),
        record("base", &[]),
        record("middle", &["base"]),
        record("top", &["middle"]),
        record("other", &[]),
    ];
    assert_eq!(
        deletions(&prior, &PlanOptions::default()),
        ["vpc.other", "vpc.top", "vpc.middle", "vpc.base"]
    );
    let options = PlanOptions {
        exclude: vec![vpc("middle")],
        ..PlanOptions::default()
    };
    assert_eq!(deletions(&prior, &options), ["vpc.base", "vpc.other"]);
}
