//! Lookups while planning: which looked-up resources a plan asks for, a lookup that found nothing
//! as an error located at the field searched by, and found outputs resolved in the resources that
//! use them (where they used to be known only after apply).

use meshctl_graph::StackGraph;
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::{Address, Diagnostic, Kind, SourceFile, Stack, VarOverrides};
use meshctl_plan::{
    lookups_to_make, Action, Lookup, Lookups, Plan, PlanInput, PlanOptions, ResourceChange,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const STACK: &str = "stack: t
region: eu-west-1
resources:
  - kind: route53_zone
    name: public
    domain: example.com
  - kind: route53_zone
    name: owned
    domain: owned.example.com
    existing: false
  - kind: vpc
    name: shared
    existing:
      vpc_id: vpc-0abc
      private_subnet_ids: [subnet-1, subnet-2]
  - kind: dns_record
    name: marker
    zone: public
    record: marker.example.com
    type: TXT
    values: [\"zone ${route53_zone.public.zone_id}\"]
    ttl: 60
";

fn checked() -> (Stack, StackGraph) {
    let (checked, diagnostics) =
        meshctl_graph::validate(&SourceFile::new("t.yaml", STACK), &VarOverrides::default());
    checked.unwrap_or_else(|| panic!("{diagnostics:?}"))
}

fn zone() -> Address {
    Address::new(Kind::Route53Zone, "public")
}

fn found(zone_id: &str) -> Lookup {
    Lookup::Found {
        outputs: BTreeMap::from([
            ("zone_id".to_string(), json!(zone_id)),
            ("name_servers".to_string(), json!(["ns-1.example.net"])),
        ]),
    }
}

fn vpc_found() -> (Address, Lookup) {
    (
        Address::new(Kind::Vpc, "shared"),
        Lookup::Found {
            outputs: BTreeMap::from([("vpc_id".to_string(), json!("vpc-0abc"))]),
        },
    )
}

fn plan(
    prior: &[NodeRecord],
    lookups: Option<&Lookups>,
    options: &PlanOptions,
) -> Result<Plan, Vec<Diagnostic>> {
    let (stack, graph) = checked();
    let input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior,
        interrupted: &[],
        live: None,
        lookups,
        imports: None,
        lineage: "l",
        serial: 1,
        options,
    };
    meshctl_plan::plan(&input)
}

fn change<'a>(plan: &'a Plan, address: &str) -> &'a ResourceChange {
    plan.changes
        .iter()
        .find(|c| c.address.to_string() == address)
        .unwrap_or_else(|| panic!("no change for {address}"))
}

fn marker_value(plan: &Plan) -> Value {
    change(plan, "dns_record.marker").desired.as_ref().unwrap()["values"][0].clone()
}

#[test]
fn the_plan_asks_for_every_looked_up_resource_and_nothing_for_destroy() {
    let (stack, graph) = checked();
    let options = PlanOptions::default();
    let mut input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior: &[],
        interrupted: &[],
        live: None,
        lookups: None,
        imports: None,
        lineage: "l",
        serial: 1,
        options: &options,
    };
    let asked: Vec<String> = lookups_to_make(&input)
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    // The zone with `existing: false` is created, not looked up.
    assert_eq!(asked, ["route53_zone.public", "vpc.shared"]);

    let targeted = PlanOptions {
        targets: vec![Address::new(Kind::DnsRecord, "marker")],
        ..PlanOptions::default()
    };
    input.options = &targeted;
    let asked: Vec<String> = lookups_to_make(&input)
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(asked, ["route53_zone.public"], "only what the target needs");

    let destroy = PlanOptions {
        destroy: true,
        ..PlanOptions::default()
    };
    input.options = &destroy;
    assert!(
        lookups_to_make(&input).is_empty(),
        "destroy looks nothing up"
    );
}

#[test]
fn a_zone_that_is_not_there_is_a_plan_error_at_its_domain() {
    let lookups: Lookups = [
        (
            zone(),
            Lookup::Missing {
                field: "domain".to_string(),
                message: "no public hosted zone for example.com exists".to_string(),
                help: "set `existing: false` to let meshctl create the zone".to_string(),
            },
        ),
        vpc_found(),
    ]
    .into();
    let errors = plan(&[], Some(&lookups), &PlanOptions::default()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    assert_eq!(error.code, "lookup-not-found");
    assert!(
        error.message.contains("route53_zone.public") && error.message.contains("example.com"),
        "{}",
        error.message
    );
    assert_eq!(
        error.path.as_ref().unwrap().to_string(),
        "resources[0].domain"
    );
    let span = error.span.expect("located in the stack");
    assert_eq!((span.line, span.col), (6, 13));
    assert!(error.help.as_deref().unwrap().contains("existing: false"));
}

#[test]
fn a_missing_subnet_points_at_its_place_in_the_list() {
    let lookups: Lookups = [
        (zone(), found("Z1")),
        (
            Address::new(Kind::Vpc, "shared"),
            Lookup::Missing {
                field: "existing.private_subnet_ids[1]".to_string(),
                message: "subnet subnet-2 is not a subnet of VPC vpc-0abc".to_string(),
                help: "list subnets of that VPC".to_string(),
            },
        ),
    ]
    .into();
    let errors = plan(&[], Some(&lookups), &PlanOptions::default()).unwrap_err();
    assert_eq!(
        errors[0].path.as_ref().unwrap().to_string(),
        "resources[2].existing.private_subnet_ids[1]"
    );
    assert_eq!(errors[0].span.unwrap().line, 15);
}

#[test]
fn a_found_zone_id_is_known_in_the_plan() {
    // Without a lookup (`--refresh=false`), the new zone's id is known only after apply.
    let unlooked = plan(&[], None, &PlanOptions::default()).unwrap();
    assert_eq!(
        change(&unlooked, "route53_zone.public").action,
        Action::Read
    );
    assert_eq!(
        marker_value(&unlooked),
        json!("zone ${route53_zone.public.zone_id}")
    );

    let lookups: Lookups = [(zone(), found("Z0123")), vpc_found()].into();
    let looked = plan(&[], Some(&lookups), &PlanOptions::default()).unwrap();
    assert_eq!(change(&looked, "route53_zone.public").action, Action::Read);
    assert_eq!(marker_value(&looked), json!("zone Z0123"));
}

fn zone_record(zone_id: &str) -> NodeRecord {
    NodeRecord {
        accepted: Vec::new(),
        address: zone(),
        status: Status::Ok,
        desired: json!({"domain": "example.com", "existing": true}),
        live: None,
        outputs: BTreeMap::from([
            ("zone_id".to_string(), json!(zone_id)),
            ("name_servers".to_string(), json!(["ns-1.example.net"])),
        ]),
        objects: vec![],
        dependencies: vec![],
        prevent_destroy: false,
    }
}

#[test]
fn a_recorded_zone_is_read_again_only_when_what_it_finds_moved() {
    let same: Lookups = [(zone(), found("Z1")), vpc_found()].into();
    let unchanged = plan(&[zone_record("Z1")], Some(&same), &PlanOptions::default()).unwrap();
    assert_eq!(
        change(&unchanged, "route53_zone.public").action,
        Action::NoOp
    );
    assert_eq!(marker_value(&unchanged), json!("zone Z1"));

    // The zone was deleted and created again outside meshctl: a new id.
    let moved: Lookups = [(zone(), found("Z2")), vpc_found()].into();
    let plan = plan(&[zone_record("Z1")], Some(&moved), &PlanOptions::default()).unwrap();
    let read = change(&plan, "route53_zone.public");
    assert_eq!(read.action, Action::Read);
    assert_eq!(
        read.reasons,
        ["zone_id changed since it was last looked up"]
    );
    assert_eq!(marker_value(&plan), json!("zone Z2"));
}
