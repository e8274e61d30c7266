//! Benchmark: plan a generated 10,000-resource stack without refresh — parse, validate, build the
//! graph and plan — from empty state (all creates) and against a state holding all of it (no
//! changes). Targets (issue 3): at most 1 s and 300 MB peak on a 2-core machine. The peak heap of
//! one full plan is measured by a counting allocator and printed before the timings.

#[path = "support/peak_heap.rs"]
mod peak_heap;

use criterion::{criterion_group, criterion_main, Criterion};
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::{SourceFile, VarOverrides};
use meshctl_plan::{plan, PlanInput, PlanOptions};

/// 4 shared resources plus 5 per unit (namespace, destination rule, virtual service with a
/// canary split, DNS record, manifest): 2,000 units make 10,004 resources.
const HEADER: &str = r#"stack: big
region: us-east-1
kube: { from_cluster: main }
resources:
  - { kind: vpc, name: main, cidr: 10.0.0.0/16, azs: 3 }
  - { kind: eks_cluster, name: main, version: "1.29", vpc: main }
  - { kind: nodegroup, name: workers, cluster: main, instance_types: [m5.large], scaling: { min: 3, desired: 3, max: 30 } }
  - { kind: route53_zone, name: public, domain: example.com }
"#;

/// One unit of five resources; `#` is replaced by the unit number.
const UNIT: &str = r#"  - { kind: namespace, name: app-#, labels: { istio-injection: enabled } }
  - kind: destination_rule
    name: svc-#
    namespace: app-#
    host: svc-#
    subsets:
      - { name: v1, labels: { version: v1 } }
      - { name: v2, labels: { version: v2 } }
  - kind: virtual_service
    name: svc-#
    namespace: app-#
    hosts: [svc-#]
    gateways: [mesh]
    http:
      - match: [{ uri: { prefix: /api } }]
        timeout: 5s
        route:
          - { destination: { host: svc-#, subset: v1 }, weight: 90 }
          - { destination: { host: svc-#, subset: v2 }, weight: 10 }
  - { kind: dns_record, name: svc-#, zone: public, record: svc-#.example.com, type: CNAME, values: [lb.example.net], ttl: 300 }
  - kind: manifest
    name: svc-#
    objects:
      - { apiVersion: v1, kind: ConfigMap, metadata: { name: svc-#, namespace: app-# }, data: { greeting: hello } }
"#;

fn generated_stack(units: usize) -> String {
    let mut s = HEADER.to_string();
    for i in 0..units {
        s.push_str(&UNIT.replace('#', &i.to_string()));
    }
    s
}

fn plan_once(source: &SourceFile, prior: &[NodeRecord]) -> meshctl_plan::Plan {
    let (checked, diagnostics) = meshctl_graph::validate(source, &VarOverrides::default());
    let (stack, graph) =
        checked.unwrap_or_else(|| panic!("generated stack is invalid: {:?}", diagnostics.first()));
    let options = PlanOptions::default();
    let input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior,
        interrupted: &[],
        live: None,
        lookups: None,
        lineage: "bench",
        serial: 1,
        options: &options,
    };
    plan(&input).expect("plans")
}

fn bench(c: &mut Criterion) {
    let source = SourceFile::new("big.yaml", generated_stack(2000));
    let first = plan_once(&source, &[]);
    assert_eq!(first.changes.len(), 10_004);
    // State holding exactly what the first plan would create: the second plan has no changes.
    let prior: Vec<NodeRecord> = first
        .changes
        .iter()
        .map(|c| NodeRecord {
            accepted: Vec::new(),
            address: c.address.clone(),
            status: Status::Ok,
            desired: c.desired.clone().unwrap_or_default(),
            live: None,
            outputs: Default::default(),
            objects: vec![],
            dependencies: c.depends_on.clone(),
            prevent_destroy: false,
        })
        .collect();
    assert!(!plan_once(&source, &prior).has_changes());

    let base = peak_heap::current();
    peak_heap::reset_peak();
    drop(plan_once(&source, &prior));
    let peak = peak_heap::peak() - base;
    eprintln!(
        "peak heap of one 10,000-resource plan (against full state): {:.1} MB",
        peak as f64 / 1e6
    );

    let mut group = c.benchmark_group("plan_10k");
    group.sample_size(10);
    group.bench_function("empty_state", |b| b.iter(|| plan_once(&source, &[])));
    group.bench_function("full_state_no_changes", |b| {
        b.iter(|| plan_once(&source, &prior))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
