//! Live reads in the plan and in drift reports: a managed field that moved is drift (an update back
//! to the stack's value), a server-filled field is not, a vanished object is a create, and what
//! `meshctl refresh` accepted is no longer drift but still differs from the stack.

use meshctl_model::record::{FieldDrift, NodeRecord, Status};
use meshctl_model::{Address, Kind, SourceFile, VarOverrides};
use meshctl_plan::drift::{accept, report, CheckedAt, DriftKind, DriftedField};
use meshctl_plan::{Action, Live, LiveWorld, PlanInput, PlanOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const STACK: &str = "stack: t\nregion: us-east-1\nresources:\n  - { kind: route53_zone, name: public, domain: example.com }\n  - { kind: dns_record, name: www, zone: public, record: www.example.com, type: CNAME, values: [origin.example.net], ttl: 60 }\n";

/// The example stack's records as its apply left them.
fn records() -> Vec<NodeRecord> {
    let (checked, diagnostics) =
        meshctl_graph::validate(&SourceFile::new("t.yaml", STACK), &VarOverrides::default());
    let (stack, _) = checked.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let www = www_address();
    let desired = serde_json::to_value(&stack.get(&www).unwrap().spec).unwrap();
    let prior = vec![
        NodeRecord {
            accepted: Vec::new(),
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
            accepted: Vec::new(),
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
    prior
}

fn plan_with_live(live_www: Option<Live>) -> meshctl_plan::Plan {
    plan_records_with_live(&records(), live_www)
}

fn plan_records_with_live(prior: &[NodeRecord], live_www: Option<Live>) -> meshctl_plan::Plan {
    let (checked, _) =
        meshctl_graph::validate(&SourceFile::new("t.yaml", STACK), &VarOverrides::default());
    let (stack, graph) = checked.unwrap();
    let live: LiveWorld = [(www_address(), live_www)].into();
    let options = PlanOptions::default();
    let input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior,
        interrupted: &[],
        live: Some(&live),
        lookups: None,
        imports: None,
        lineage: "l",
        serial: 1,
        options: &options,
    };
    meshctl_plan::plan(&input).unwrap()
}

fn www_address() -> Address {
    Address::new(Kind::DnsRecord, "www")
}

/// A live read of the www record with these fields.
fn fields(fields: Value) -> Option<Live> {
    Some(Live {
        fields,
        drifts: Vec::new(),
    })
}

fn checked_at() -> CheckedAt {
    CheckedAt {
        rfc3339: "2026-11-30T02:00:00Z".into(),
        unix: 1_795_999_200,
    }
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
    let plan = plan_with_live(fields(live));
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
    assert_eq!(www(&plan_with_live(fields(live))).action, Action::NoOp);
}

#[test]
fn a_vanished_object_is_created_again() {
    let plan = plan_with_live(None);
    assert_eq!(www(&plan).action, Action::Create);
    assert_eq!(www(&plan).reasons, ["deleted outside meshctl"]);
}

/// What a cluster provider reports about its own objects: a hand-edited annotation.
fn annotation_drift() -> FieldDrift {
    FieldDrift {
        path: r#"Ingress istio-system/public metadata.annotations["alb.ingress.kubernetes.io/healthcheck-path"]"#.into(),
        applied: Some(json!("/healthz/ready")),
        live: Some(json!("/changed")),
    }
}

fn applied_fields() -> Value {
    json!({"zone": "public", "record": "www.example.com", "type": "CNAME", "values": ["origin.example.net"], "ttl": 60})
}

#[test]
fn drift_a_provider_reports_in_its_objects_is_an_update_back_to_what_was_applied() {
    let live = Live {
        fields: applied_fields(),
        drifts: vec![annotation_drift()],
    };
    let plan = plan_with_live(Some(live));
    let change = www(&plan);
    assert_eq!(change.action, Action::Update);
    assert_eq!(
        change.reasons,
        [format!(
            "{} changed outside meshctl",
            annotation_drift().path
        )]
    );
    assert_eq!(change.fields[0].path, annotation_drift().path);
    assert_eq!(
        (change.fields[0].old.clone(), change.fields[0].new.clone()),
        (Some(json!("/changed")), Some(json!("/healthz/ready")))
    );
}

#[test]
fn the_report_names_each_moved_field_and_each_deleted_resource() {
    let prior = records();
    let mut live: LiveWorld = BTreeMap::new();
    live.insert(
        www_address(),
        fields(json!({"zone": "public", "record": "www.example.com", "type": "CNAME", "values": ["elsewhere.example.net"], "ttl": 60, "set_identifier": "auto"})),
    );
    live.insert(Address::new(Kind::Route53Zone, "public"), None);
    let report = report("t", &prior, &live, checked_at());
    assert_eq!(report.resources_checked, 2);
    assert_eq!(report.drifted, 2);
    let zone = &report.resources[0];
    assert_eq!(
        (zone.address.name.as_str(), zone.drift),
        ("public", DriftKind::Deleted)
    );
    let record = &report.resources[1];
    assert_eq!(record.drift, DriftKind::Changed);
    assert_eq!(
        record.fields,
        [DriftedField {
            path: "values[0]".into(),
            recorded: Some(json!("origin.example.net")),
            live: Some(json!("elsewhere.example.net")),
        }]
    );
}

#[test]
fn tainted_records_are_reported_and_unread_kinds_are_listed_not_guessed() {
    let mut prior = records();
    prior[0].status = Status::Tainted;
    let report = report("t", &prior, &BTreeMap::new(), checked_at());
    assert_eq!(report.resources.len(), 1);
    assert_eq!(report.resources[0].drift, DriftKind::Tainted);
    assert_eq!(report.not_read, [www_address()]);
    assert_eq!(report.resources_checked, 1);
}

#[test]
fn an_unchanged_world_reports_nothing() {
    let live: LiveWorld = [(www_address(), fields(applied_fields()))].into();
    let report = report("t", &records()[1..], &live, checked_at());
    assert!(!report.has_drift(), "{report:?}");
    assert_eq!(report.resources_checked, 1);
}

#[test]
fn accepted_drift_is_clean_in_the_report_and_an_update_in_the_plan() {
    let live = Live {
        fields: json!({"zone": "public", "record": "www.example.com", "type": "CNAME", "values": ["origin.example.net"], "ttl": 300}),
        drifts: vec![annotation_drift()],
    };
    let world: LiveWorld = [(www_address(), Some(live.clone()))].into();
    let prior = records();
    let before = report("t", &prior[1..], &world, checked_at());
    assert_eq!(before.resources[0].fields.len(), 2);

    let accepted = accept(&prior[1], &before.resources[0]).expect("a changed record stays");
    assert_eq!(accepted.accepted.len(), 2);
    let after = report("t", std::slice::from_ref(&accepted), &world, checked_at());
    assert!(!after.has_drift(), "{after:?}");

    // The stack still says ttl 60, and the object its annotation: the plan puts both back,
    // saying why, and names each in its field lines.
    let plan = plan_records_with_live(&[prior[0].clone(), accepted.clone()], Some(live));
    let change = www(&plan);
    assert_eq!(change.action, Action::Update);
    assert_eq!(
        change.reasons,
        ["2 fields differ from the stack (accepted into state by `meshctl refresh`)"]
    );
    let paths: Vec<&str> = change.fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["ttl", annotation_drift().path.as_str()]);

    // The world returns to what was applied by itself: that is drift from the accepted value.
    let back: LiveWorld = [(www_address(), fields(applied_fields()))].into();
    let returned = report("t", std::slice::from_ref(&accepted), &back, checked_at());
    let ttl = returned.resources[0]
        .fields
        .iter()
        .find(|f| f.path == "ttl")
        .unwrap();
    assert_eq!(
        (ttl.recorded.clone(), ttl.live.clone()),
        (Some(json!(300)), Some(json!(60)))
    );
    // Accepting that drops the accepted values again.
    let again = accept(&accepted, &returned.resources[0]).unwrap();
    assert!(again.accepted.is_empty(), "{:?}", again.accepted);
}

#[test]
fn accepting_a_deletion_removes_the_record() {
    let prior = records();
    let live: LiveWorld = [(www_address(), None)].into();
    let report = report("t", &prior[1..], &live, checked_at());
    assert_eq!(accept(&prior[1], &report.resources[0]), None);
}

#[test]
fn an_update_sees_moved_fields_at_their_live_values() {
    let recorded = json!({"endpoint": {"private": true, "public": true}, "logging": ["api"]});
    let moved = meshctl_plan::FieldChange {
        path: "endpoint.public".into(),
        old: Some(json!(false)),
        new: Some(json!(true)),
        unknown: false,
        forces_replacement: false,
        sensitive: false,
        text_diff: None,
    };
    let object = meshctl_plan::FieldChange {
        path: annotation_drift().path,
        ..moved.clone()
    };
    let world = meshctl_plan::drift::world_before(&recorded, &[moved, object]);
    assert_eq!(
        world,
        json!({"endpoint": {"private": true, "public": false}, "logging": ["api"]})
    );
}

#[test]
fn values_added_or_removed_inside_a_recorded_field_are_drift_and_an_update_sees_them() {
    let mut record = records()[1].clone();
    record.desired = json!({"tags": {"team": "web"}, "logging": ["api"], "scaling": {"min": 1}});
    let live = Live {
        fields: json!({"tags": {"team": "web", "owner": "someone"}, "logging": [], "scaling": {"min": 1}, "set_identifier": "auto", "endpoint": {"public_cidrs": ["0.0.0.0/0"]}}),
        drifts: vec![],
    };
    let drifts = meshctl_plan::drift::applied_drifts(&record, &live);
    let found: Vec<(&str, Option<&Value>, Option<&Value>)> = drifts
        .iter()
        .map(|d| (d.path.as_str(), d.applied.as_ref(), d.live.as_ref()))
        .collect();
    // Not the server's `set_identifier` nor `endpoint`, which the record does not have.
    assert_eq!(
        found,
        [
            ("logging[0]", Some(&json!("api")), None),
            ("tags.owner", None, Some(&json!("someone"))),
        ]
    );

    let changes: Vec<meshctl_plan::FieldChange> = drifts
        .iter()
        .map(|d| meshctl_plan::FieldChange {
            path: d.path.clone(),
            old: d.live.clone(),
            new: d.applied.clone(),
            unknown: false,
            forces_replacement: false,
            sensitive: false,
            text_diff: None,
        })
        .collect();
    let world = meshctl_plan::drift::world_before(&record.desired, &changes);
    assert_eq!(
        world,
        json!({"tags": {"team": "web", "owner": "someone"}, "logging": [], "scaling": {"min": 1}})
    );
}

#[test]
fn refresh_forgets_a_deleted_resource_only_when_nothing_left_in_state_uses_it() {
    let mut prior = records();
    prior[1].dependencies = vec![Address::new(Kind::Route53Zone, "public")];
    let zone = prior[0].address.clone();

    // The zone is gone, its record still there and in use: it stays.
    let world: LiveWorld = [
        (zone.clone(), None),
        (www_address(), fields(applied_fields())),
    ]
    .into();
    let report_zone_gone = report("t", &prior, &world, checked_at());
    let acceptance = meshctl_plan::drift::accept_report(&prior, &report_zone_gone);
    assert_eq!(acceptance.kept, [(zone.clone(), vec![www_address()])]);
    assert!(acceptance.remove.is_empty() && acceptance.put.is_empty());
    assert!(acceptance.changed().is_empty());

    // Both gone: both are forgotten.
    let world: LiveWorld = [(zone.clone(), None), (www_address(), None)].into();
    let both_gone = report("t", &prior, &world, checked_at());
    let acceptance = meshctl_plan::drift::accept_report(&prior, &both_gone);
    assert_eq!(acceptance.remove, [zone, www_address()]);
    assert!(acceptance.kept.is_empty());
}
