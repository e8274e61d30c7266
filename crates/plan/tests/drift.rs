//! Live reads in the plan: a managed field that moved is drift (an update back to the stack's
//! value), a server-filled field is not, and a vanished object is a create.

use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::{Address, Kind, SourceFile, VarOverrides};
use meshctl_plan::{Action, PlanInput, PlanOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const STACK: &str = "stack: t\nregion: us-east-1\nresources:\n  - { kind: route53_zone, name: public, domain: example.com }\n  - { kind: dns_record, name: www, zone: public, record: www.example.com, type: CNAME, values: [origin.example.net], ttl: 60 }\n";

fn plan_with_live(live_www: Option<Value>) -> meshctl_plan::Plan {
    let (checked, diagnostics) =
        meshctl_graph::validate(&SourceFile::new("t.yaml", STACK), &VarOverrides::default());
    let (stack, graph) = checked.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let www = Address::new(Kind::DnsRecord, "www");
    let desired = serde_json::to_value(&stack.get(&www).unwrap().spec).unwrap();
    let prior = vec![
        NodeRecord {
            address: Address::new(Kind::Route53Zone, "public"),
            status: Status::Ok,
            desired: json!({"domain": "example.com", "existing": true}),
            live: None,
            outputs: BTreeMap::new(),
            objects: vec![],
            dependencies: vec![],
            prevent_destroy: false,
        },
        NodeRecord {
            address: www.clone(),
            status: Status::Ok,
            desired,
            live: None,
            outputs: BTreeMap::new(),
            objects: vec![],
            dependencies: vec![],
            prevent_destroy: false,
        },
    ];
    let live: BTreeMap<Address, Option<Value>> = [(www, live_www)].into();
    let options = PlanOptions::default();
    let input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior: &prior,
        interrupted: &[],
        live: Some(&live),
        lineage: "l",
        serial: 1,
        options: &options,
    };
    meshctl_plan::plan(&input).unwrap()
}

fn www(plan: &meshctl_plan::Plan) -> &meshctl_plan::ResourceChange {
    plan.changes
        .iter()
        .find(|c| c.address.name == "www")
        .unwrap()
}

#[test]
fn a_managed_field_changed_outside_is_drift_back_to_the_stack() {
    let live = json!({"zone": "public", "record": "www.example.com", "type": "CNAME", "values": ["origin.example.net"], "ttl": 300});
    let plan = plan_with_live(Some(live));
    let change = www(&plan);
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.reasons, ["ttl changed outside meshctl"]);
    assert_eq!(
        (change.fields[0].old.clone(), change.fields[0].new.clone()),
        (Some(json!(300)), Some(json!(60)))
    );
}

#[test]
fn server_filled_fields_are_not_drift() {
    let live = json!({"zone": "public", "record": "www.example.com", "type": "CNAME", "values": ["origin.example.net"], "ttl": 60, "set_identifier": "auto", "health_check_id": null});
    assert_eq!(www(&plan_with_live(Some(live))).action, Action::NoOp);
}

#[test]
fn a_vanished_object_is_created_again() {
    let plan = plan_with_live(None);
    assert_eq!(www(&plan).action, Action::Create);
    assert_eq!(www(&plan).reasons, ["deleted outside meshctl"]);
}
