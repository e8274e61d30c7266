//! `import:` blocks in the planner: which reads a plan asks for, an imported record planned as an
//! `import` with exactly the fields where stack and object differ, its outputs known to what
//! reads them, and the refusals (not found, would replace) as errors at the `import:` value.

use meshctl_graph::StackGraph;
use meshctl_model::record::{NodeRecord, OwnedObject, Status};
use meshctl_model::{Address, Diagnostic, Kind, SourceFile, Stack, VarOverrides};
use meshctl_plan::{
    imports_to_make, Action, Imported, Imports, Live, Plan, PlanInput, PlanOptions, ResourceChange,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const STACK: &str = "stack: t
region: eu-west-1
resources:
  - kind: route53_zone
    name: public
    import: Z0123
    domain: example.com
    existing: false
  - kind: dns_record
    name: www
    import: Z0123/www.example.com/TXT
    zone: public
    record: www.example.com
    type: TXT
    values: [\"hello\"]
    ttl: 60
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

fn www() -> Address {
    Address::new(Kind::DnsRecord, "www")
}

fn plan_with(
    prior: &[NodeRecord],
    imports: Option<&Imports>,
    options: &PlanOptions,
) -> Result<Plan, Vec<Diagnostic>> {
    let (stack, graph) = checked();
    let input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior,
        interrupted: &[],
        live: None,
        lookups: None,
        imports,
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

/// The record an import of `address` reads: `fields` as the provider reads them.
fn found(address: Address, fields: Value, outputs: Value, object: &str) -> Imported {
    let outputs: BTreeMap<String, Value> = serde_json::from_value(outputs).unwrap();
    Imported::Found {
        record: Box::new(NodeRecord {
            address: address.clone(),
            status: Status::Imported,
            desired: fields.clone(),
            live: Some(fields.clone()),
            outputs,
            objects: vec![OwnedObject {
                kind: object.to_string(),
                id: format!("{address}-object"),
            }],
            dependencies: Vec::new(),
            prevent_destroy: false,
            accepted: Vec::new(),
        }),
        live: Some(Live {
            fields,
            drifts: Vec::new(),
        }),
    }
}

fn zone_as_live() -> Imported {
    found(
        zone(),
        json!({"domain": "example.com", "existing": false}),
        json!({"zone_id": "Z0123", "name_servers": ["ns-1.example.net"]}),
        "route53:hosted-zone",
    )
}

/// The record as the console made it: the stack's, with a TTL of 300.
fn www_as_live() -> Imported {
    found(
        www(),
        json!({"zone": "public", "record": "www.example.com", "type": "TXT", "values": ["hello"], "ttl": 300}),
        json!({"fqdn": "www.example.com"}),
        "route53:record",
    )
}

#[test]
fn the_plan_asks_to_read_each_unrecorded_import_in_creation_order() {
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
    let asked: Vec<(String, String)> = imports_to_make(&input)
        .into_iter()
        .map(|r| (r.address.to_string(), r.id))
        .collect();
    assert_eq!(
        asked,
        [
            ("route53_zone.public".to_string(), "Z0123".to_string()),
            (
                "dns_record.www".to_string(),
                "Z0123/www.example.com/TXT".to_string()
            ),
        ]
    );

    // A recorded resource's import: is done.
    let Imported::Found { record, .. } = zone_as_live() else {
        unreachable!()
    };
    let prior = [NodeRecord {
        status: Status::Ok,
        ..*record
    }];
    input.prior = &prior;
    let asked: Vec<String> = imports_to_make(&input)
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(asked, ["dns_record.www"]);

    let destroy = PlanOptions {
        destroy: true,
        ..PlanOptions::default()
    };
    input.options = &destroy;
    assert!(
        imports_to_make(&input).is_empty(),
        "destroy imports nothing"
    );
}

#[test]
fn an_import_is_planned_with_the_fields_that_differ_and_lends_its_outputs() {
    let imports: Imports = [(zone(), zone_as_live()), (www(), www_as_live())].into();
    let plan = plan_with(&[], Some(&imports), &PlanOptions::default()).unwrap();

    let zone = change(&plan, "route53_zone.public");
    assert_eq!(zone.action, Action::Import);
    assert_eq!(zone.importing.as_deref(), Some("Z0123"));
    assert!(zone.fields.is_empty(), "{:?}", zone.fields);
    assert_eq!(zone.reasons[0], "imported from `Z0123`");

    let www = change(&plan, "dns_record.www");
    assert_eq!(www.action, Action::Import);
    let fields: Vec<(&str, Option<&Value>, Option<&Value>)> = www
        .fields
        .iter()
        .map(|f| (f.path.as_str(), f.old.as_ref(), f.new.as_ref()))
        .collect();
    assert_eq!(fields, [("ttl", Some(&json!(300)), Some(&json!(60)))]);

    // The record without an import is created, with the imported zone's id already known.
    let marker = change(&plan, "dns_record.marker");
    assert_eq!(marker.action, Action::Create);
    assert_eq!(
        marker.desired.as_ref().unwrap()["values"][0],
        "zone Z0123",
        "known from the import"
    );

    let summary = plan.summary();
    assert_eq!((summary.import, summary.create), (2, 1));
    let text = meshctl_plan::render::text(&plan, false);
    assert!(
        text.starts_with("Plan: 2 to import, 1 to create, 0 to update"),
        "{text}"
    );
    assert!(
        text.contains("adopts route53:record dns_record.www-object"),
        "{text}"
    );
}

#[test]
fn refused_and_unread_imports_are_errors_at_the_import_value() {
    let refused: Imports = [
        (
            zone(),
            Imported::Refused {
                message: "no hosted zone Z0123".to_string(),
                help: "check the id".to_string(),
            },
        ),
        (www(), www_as_live()),
    ]
    .into();
    let errors = plan_with(&[], Some(&refused), &PlanOptions::default()).unwrap_err();
    let codes: Vec<(&str, String)> = errors
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                d.path.as_ref().map(ToString::to_string).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [("import-refused", "resources[0].import".to_string())],
        "{errors:?}"
    );
    assert!(errors[0].message.contains("no hosted zone Z0123"));

    let errors = plan_with(&[], None, &PlanOptions::default()).unwrap_err();
    assert!(
        errors.iter().all(|d| d.code == "import-not-read"),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 2);
}

#[test]
fn an_import_that_would_replace_the_object_is_refused() {
    let other_domain = found(
        zone(),
        json!({"domain": "example.org", "existing": false}),
        json!({"zone_id": "Z0123"}),
        "route53:hosted-zone",
    );
    let imports: Imports = [(zone(), other_domain), (www(), www_as_live())].into();
    let errors = plan_with(&[], Some(&imports), &PlanOptions::default()).unwrap_err();
    let would_replace: Vec<&Diagnostic> = errors
        .iter()
        .filter(|d| d.code == "import-would-replace")
        .collect();
    assert_eq!(would_replace.len(), 1, "{errors:?}");
    assert!(
        would_replace[0].message.contains("domain"),
        "{}",
        would_replace[0].message
    );
}

#[test]
fn a_record_meshctl_import_wrote_is_updated_to_place_the_marks() {
    let (Imported::Found { record: zone, .. }, Imported::Found { record: www, .. }) =
        (zone_as_live(), www_as_live())
    else {
        unreachable!()
    };
    let www = NodeRecord {
        desired: json!({"zone": "public", "record": "www.example.com", "type": "TXT", "values": ["hello"], "ttl": 60}),
        ..*www
    };
    let plan = plan_with(&[*zone, www], None, &PlanOptions::default()).unwrap();
    for address in ["route53_zone.public", "dns_record.www"] {
        let change = change(&plan, address);
        assert_eq!(change.action, Action::Update, "{address}");
        assert!(change.fields.is_empty(), "{address}: {:?}", change.fields);
        assert!(
            change.reasons.iter().any(|r| r.contains("ownership marks")),
            "{address}: {:?}",
            change.reasons
        );
    }
}
