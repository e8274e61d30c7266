//! New outputs reach their readers in the same plan: for every resource of every example stack,
//! a forced replacement puts every resource that reads its outputs (a typed reference, a
//! `${kind.name.output}`, the cluster it lives in) in the plan, transitively; and the examples
//! from the field: an ALB replaced updates the aliases to it, a gateway replaced updates the ALB's
//! health check in place, an update that changes nodePorts updates the ALB too. `--replace` of
//! any resource replaces it; `--exclude` of any resource leaves out exactly it and everything that
//! depends on it.

use meshctl_graph::StackGraph;
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::stack::EdgeKind;
use meshctl_model::{Address, Kind, SourceFile, Stack, VarOverrides};
use meshctl_plan::{Action, Plan, PlanInput, PlanOptions};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

fn example_stacks() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "the five example stacks");
    files
}

fn load(name: &str, text: &str) -> (Stack, StackGraph) {
    let (checked, diagnostics) =
        meshctl_graph::validate(&SourceFile::new(name, text), &VarOverrides::default());
    checked.unwrap_or_else(|| panic!("{name} does not validate: {diagnostics:?}"))
}

/// The records a successful apply of `stack` leaves: every output recorded (a made-up value per
/// address and output), every `${...}` in the applied fields resolved with them.
fn applied(stack: &Stack) -> Vec<NodeRecord> {
    let output = |address: &Address, name: &str| Value::String(format!("{address}/{name}"));
    stack
        .resources
        .iter()
        .map(|r| {
            let mut desired = serde_json::to_value(&r.spec).unwrap();
            meshctl_plan::resolve_outputs(&mut desired, &|address, name| {
                Some(output(address, name))
            });
            let outputs: BTreeMap<String, Value> = r
                .address
                .kind
                .schema()
                .outputs
                .iter()
                .map(|name| (name.to_string(), output(&r.address, name)))
                .collect();
            NodeRecord {
                accepted: Vec::new(),
                address: r.address.clone(),
                status: Status::Ok,
                desired,
                live: None,
                outputs,
                objects: Vec::new(),
                dependencies: r.dependencies.iter().map(|d| d.target.clone()).collect(),
                prevent_destroy: false,
            }
        })
        .collect()
}

fn plan(stack: &Stack, graph: &StackGraph, prior: &[NodeRecord]) -> Plan {
    plan_with(stack, graph, prior, &PlanOptions::default())
}

fn plan_with(
    stack: &Stack,
    graph: &StackGraph,
    prior: &[NodeRecord],
    options: &PlanOptions,
) -> Plan {
    meshctl_plan::plan(&PlanInput {
        stack,
        graph,
        prior,
        interrupted: &[],
        live: None,
        lookups: None,
        imports: None,
        lineage: "l",
        serial: 1,
        options,
    })
    .unwrap_or_else(|d| panic!("plan failed: {d:?}"))
}

/// Who reads `producer`'s outputs, straight from the stack's edges: typed references,
/// interpolations, and the cluster every cluster resource is reached through.
fn readers<'s>(stack: &'s Stack, producer: &Address) -> Vec<&'s Address> {
    stack
        .resources
        .iter()
        .filter(|r| {
            r.dependencies.iter().any(|d| {
                &d.target == producer
                    && matches!(
                        d.kind,
                        EdgeKind::Reference | EdgeKind::Interpolation | EdgeKind::Cluster
                    )
            })
        })
        .map(|r| &r.address)
        .collect()
}

fn action(plan: &Plan, address: &Address) -> Action {
    plan.changes
        .iter()
        .find(|c| &c.address == address)
        .map(|c| c.action)
        .unwrap_or(Action::NoOp)
}

#[test]
fn a_replaced_resource_brings_every_reader_into_the_plan() {
    let mut replaced_kinds: HashSet<Kind> = HashSet::new();
    let mut checked_readers = 0;
    for file in example_stacks() {
        let text = std::fs::read_to_string(&file).unwrap();
        let (stack, graph) = load(&file.to_string_lossy(), &text);
        let prior = applied(&stack);
        let unchanged = plan(&stack, &graph, &prior);
        for change in &unchanged.changes {
            assert_eq!(
                change.action,
                Action::NoOp,
                "{}: {} should be unchanged after apply: {:?}",
                file.display(),
                change.address,
                change.fields
            );
        }
        for producer in &stack.resources {
            if meshctl_plan::is_read_only(
                &serde_json::to_value(&producer.spec).unwrap(),
                producer.address.kind,
            ) {
                continue; // looked up, never replaced
            }
            replaced_kinds.insert(producer.address.kind);
            let mut tainted = prior.clone();
            for record in &mut tainted {
                if record.address == producer.address {
                    record.status = Status::Tainted;
                }
            }
            let plan = plan(&stack, &graph, &tainted);
            assert_eq!(action(&plan, &producer.address), Action::Replace);
            // Every resource with new outputs has every reader in the plan, transitively.
            for change in &plan.changes {
                if !matches!(change.action, Action::Replace | Action::Create) {
                    continue;
                }
                for reader in readers(&stack, &change.address) {
                    checked_readers += 1;
                    let followed = action(&plan, reader);
                    assert!(
                        matches!(followed, Action::Update | Action::Replace),
                        "{}: {} is replaced (because {} is), but {reader}, which reads its outputs, is {followed:?}",
                        file.display(),
                        change.address,
                        producer.address
                    );
                }
            }
        }
    }
    // Every kind the examples use was replaced at least once.
    let used: HashSet<Kind> = example_stacks()
        .iter()
        .flat_map(|f| {
            let (stack, _) = load(&f.to_string_lossy(), &std::fs::read_to_string(f).unwrap());
            stack
                .resources
                .iter()
                .filter(|r| {
                    !meshctl_plan::is_read_only(
                        &serde_json::to_value(&r.spec).unwrap(),
                        r.address.kind,
                    )
                })
                .map(|r| r.address.kind)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(replaced_kinds, used);
    assert!(
        checked_readers > 100,
        "only {checked_readers} readers checked"
    );
}

fn seed_001() -> (Stack, StackGraph, Vec<NodeRecord>) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks/seed-001-https.yaml");
    let (stack, graph) = load(
        "seed-001-https.yaml",
        &std::fs::read_to_string(file).unwrap(),
    );
    let prior = applied(&stack);
    (stack, graph, prior)
}

fn addr(text: &str) -> Address {
    Address::parse(text).unwrap()
}

fn taint(prior: &mut [NodeRecord], address: &str) {
    let address = addr(address);
    prior
        .iter_mut()
        .find(|r| r.address == address)
        .unwrap()
        .status = Status::Tainted;
}

fn change<'p>(plan: &'p Plan, address: &str) -> &'p meshctl_plan::ResourceChange {
    let address = addr(address);
    plan.changes
        .iter()
        .find(|c| c.address == address)
        .unwrap_or_else(|| panic!("{address} is not in the plan"))
}

#[test]
fn a_replaced_alb_updates_the_aliases_to_it_in_place() {
    let (stack, graph, mut prior) = seed_001();
    taint(&mut prior, "alb.public");
    let plan = plan(&stack, &graph, &prior);
    for record in ["dns_record.apex", "dns_record.www"] {
        let c = change(&plan, record);
        assert_eq!(c.action, Action::Update, "{record}");
        let alias = c.fields.iter().find(|f| f.path == "alias").unwrap();
        assert!(alias.unknown && !alias.forces_replacement);
        assert_eq!(alias.new, Some(Value::String("alb.public".into())));
        assert_eq!(
            c.reasons,
            vec!["alb.public is replaced or created".to_string()]
        );
    }
}

#[test]
fn a_replaced_gateway_updates_the_alb_health_check_in_place() {
    let (stack, graph, mut prior) = seed_001();
    taint(&mut prior, "ingress_gateway.istio-ingressgateway");
    let plan = plan(&stack, &graph, &prior);
    let alb = change(&plan, "alb.public");
    assert_eq!(alb.action, Action::Update, "{:?}", alb.reasons);
    // The aliases read the ALB, which keeps its outputs on an in-place update.
    assert_eq!(action(&plan, &addr("dns_record.apex")), Action::NoOp);
}

#[test]
fn a_replaced_cluster_replaces_what_lives_in_it() {
    let (stack, graph, mut prior) = seed_001();
    taint(&mut prior, "vpc.main");
    let plan = plan(&stack, &graph, &prior);
    assert_eq!(change(&plan, "eks_cluster.main").action, Action::Replace);
    for r in &stack.resources {
        if r.address.kind.schema().layer == meshctl_model::kinds::Layer::Cluster {
            let c = change(&plan, &r.address.to_string());
            assert_eq!(c.action, Action::Replace, "{}", r.address);
            assert!(
                c.reasons.iter().any(|why| why.contains("eks_cluster.main")),
                "{}: {:?}",
                r.address,
                c.reasons
            );
        }
    }
    // The aliases follow the new ALB in place; the zone, looked up, is untouched.
    assert_eq!(change(&plan, "dns_record.www").action, Action::Update);
    assert_eq!(action(&plan, &addr("route53_zone.public")), Action::NoOp);
}

#[test]
fn an_update_that_changes_node_ports_updates_their_readers() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks/seed-001-https.yaml");
    let text = std::fs::read_to_string(file).unwrap();
    let (stack, _) = load("seed-001-https.yaml", &text);
    let prior = applied(&stack);
    // The same stack with the gateway's Service changed in place: its nodePorts may move.
    let moved = text.replacen(
        "service: { type: NodePort }",
        "service: { type: NodePort, external_traffic_policy: Local }",
        1,
    );
    assert_ne!(moved, text, "seed 001's gateway Service");
    let (stack, graph) = load("seed-001-https.yaml", &moved);
    let plan = plan(&stack, &graph, &prior);
    assert_eq!(
        change(&plan, "ingress_gateway.istio-ingressgateway").action,
        Action::Update
    );
    let alb = change(&plan, "alb.public");
    assert_eq!(alb.action, Action::Update);
    assert_eq!(
        alb.reasons,
        vec![
            "ingress_gateway.istio-ingressgateway has new node_ports, status_node_port".to_string()
        ]
    );
}

#[test]
fn a_looked_up_zone_under_a_new_id_replaces_the_records_in_it() {
    let (stack, graph, prior) = seed_001();
    let zone = addr("route53_zone.public");
    let recorded = prior.iter().find(|r| r.address == zone).unwrap();
    let mut outputs = recorded.outputs.clone();
    outputs.insert("zone_id".into(), Value::String("Z0NEW".into()));
    let lookups: meshctl_plan::Lookups =
        [(zone.clone(), meshctl_plan::Lookup::Found { outputs })].into();
    let options = PlanOptions::default();
    let plan = meshctl_plan::plan(&PlanInput {
        stack: &stack,
        graph: &graph,
        prior: &prior,
        interrupted: &[],
        live: None,
        lookups: Some(&lookups),
        imports: None,
        lineage: "l",
        serial: 1,
        options: &options,
    })
    .unwrap();
    assert_eq!(change(&plan, "route53_zone.public").action, Action::Read);
    for record in ["dns_record.apex", "dns_record.www"] {
        let c = change(&plan, record);
        // Another zone by now: the record is made again in it (`zone` forces replacement).
        assert_eq!(c.action, Action::Replace, "{record}");
        assert!(
            c.reasons
                .contains(&"route53_zone.public was found with a new zone_id".to_string()),
            "{record}: {:?}",
            c.reasons
        );
    }
}

/// Every resource that depends on `excluded`, directly or through others, by any edge: found by
/// iterating to a fixed point over the stack's edges.
fn dependents_and_itself(stack: &Stack, excluded: &Address) -> HashSet<Address> {
    let mut found: HashSet<Address> = HashSet::from([excluded.clone()]);
    loop {
        let before = found.len();
        for r in &stack.resources {
            if r.dependencies.iter().any(|d| found.contains(&d.target)) {
                found.insert(r.address.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

#[test]
fn exclude_leaves_out_exactly_the_resource_and_what_depends_on_it() {
    let mut excluded_with_dependents = 0;
    for file in example_stacks() {
        let text = std::fs::read_to_string(&file).unwrap();
        let (stack, graph) = load(&file.to_string_lossy(), &text);
        let prior = applied(&stack);
        for resource in &stack.resources {
            let left_out = dependents_and_itself(&stack, &resource.address);
            excluded_with_dependents += usize::from(left_out.len() > 1);
            let options = PlanOptions {
                exclude: vec![resource.address.clone()],
                ..PlanOptions::default()
            };
            let plan = plan_with(&stack, &graph, &prior, &options);
            let planned: HashSet<Address> =
                plan.changes.iter().map(|c| c.address.clone()).collect();
            let expected: HashSet<Address> = stack
                .resources
                .iter()
                .map(|r| r.address.clone())
                .filter(|a| !left_out.contains(a))
                .collect();
            assert_eq!(
                planned,
                expected,
                "{}: --exclude {}",
                file.display(),
                resource.address
            );
            assert_eq!(
                plan.excluded.iter().cloned().collect::<HashSet<_>>(),
                left_out,
                "{}: --exclude {} lists what it leaves out",
                file.display(),
                resource.address
            );
        }
    }
    assert!(
        excluded_with_dependents > 20,
        "the examples exclude dependents too"
    );
}

#[test]
fn replace_replaces_the_resource_even_though_nothing_changed() {
    for file in example_stacks() {
        let text = std::fs::read_to_string(&file).unwrap();
        let (stack, graph) = load(&file.to_string_lossy(), &text);
        let prior = applied(&stack);
        for resource in &stack.resources {
            let options = PlanOptions {
                replace: vec![resource.address.clone()],
                ..PlanOptions::default()
            };
            let input = PlanInput {
                stack: &stack,
                graph: &graph,
                prior: &prior,
                interrupted: &[],
                live: None,
                lookups: None,
                imports: None,
                lineage: "l",
                serial: 1,
                options: &options,
            };
            let desired = serde_json::to_value(&resource.spec).unwrap();
            match meshctl_plan::plan(&input) {
                Ok(plan) => {
                    assert!(!meshctl_plan::is_read_only(&desired, resource.address.kind));
                    let change = change(&plan, &resource.address.to_string());
                    assert_eq!(change.action, Action::Replace, "{}", resource.address);
                    assert!(change
                        .reasons
                        .contains(&"replacement asked for with --replace".to_string()));
                }
                Err(errors) => {
                    // Only a looked-up resource cannot be replaced.
                    assert!(meshctl_plan::is_read_only(&desired, resource.address.kind));
                    let codes: Vec<&str> = errors.iter().map(|d| d.code.as_str()).collect();
                    assert_eq!(codes, ["replace-looked-up"], "{}", resource.address);
                }
            }
        }
    }
}
