//! Benchmark: apply a generated DAG of 300 resources with injected provider latencies (5–40 ms
//! each) and compare the makespan with the DAG's critical path (the longest chain of latencies),
//! the least any executor could take. Target (issue 4): at most 1.05 with unbounded parallelism.
//! Two critical paths are printed: from the nominal latencies, and from the latencies the calls
//! really took (tokio's timer rounds each sleep up to its next millisecond tick, ~1 ms per hop);
//! the second isolates the executor's own scheduling overhead. Criterion times both settings.

use criterion::{criterion_group, criterion_main, Criterion};
use meshctl_engine::{
    ApplyOptions, Cancel, NoEvents, Outcome, Providers, RateLimits, RetryPolicy, Timeouts,
};
use meshctl_model::{Address, Kind};
use meshctl_plan::{Action, Plan, ResourceChange};
use meshctl_state::MemoryStore;
use meshctl_testkit::{FakeCloud, FakeProvider};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: usize = 300;

struct Dag {
    plan: Plan,
    latency: Vec<Duration>,
    critical_path: Duration,
}

/// Each node depends on up to three random earlier nodes; latencies are random.
fn generate(seed: u64) -> Dag {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut changes = Vec::with_capacity(NODES);
    let mut latency = Vec::with_capacity(NODES);
    let mut finish = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let mut deps: Vec<usize> = if i == 0 {
            Vec::new()
        } else {
            (0..rng.usize(0..=3)).map(|_| rng.usize(0..i)).collect()
        };
        deps.sort_unstable();
        deps.dedup();
        let own = Duration::from_millis(rng.u64(5..=40));
        let start = deps
            .iter()
            .map(|d| finish[*d])
            .max()
            .unwrap_or(Duration::ZERO);
        finish.push(start + own);
        latency.push(own);
        changes.push(ResourceChange {
            address: Address::new(Kind::Namespace, format!("n-{i}")),
            kind: Kind::Namespace,
            action: Action::Create,
            reasons: Vec::new(),
            create_before_destroy: false,
            fields: Vec::new(),
            risks: Vec::new(),
            desired: Some(serde_json::json!({})),
            prior_objects: Vec::new(),
            depends_on: deps
                .iter()
                .map(|d| Address::new(Kind::Namespace, format!("n-{d}")))
                .collect(),
            prevent_destroy: false,
            ignore_changes: Vec::new(),
            ignored: Vec::new(),
            importing: None,
        });
    }
    let critical_path = finish.iter().copied().max().unwrap_or_default();
    let plan = Plan {
        format_version: 1,
        stack: "bench".into(),
        region: "us-east-1".into(),
        kube: None,
        lineage: "bench".into(),
        serial: 0,
        stack_digest: String::new(),
        destroy: false,
        targets: Vec::new(),
        replace: Vec::new(),
        excluded: Vec::new(),
        changes,
        warnings: Vec::new(),
    };
    Dag {
        plan,
        latency,
        critical_path,
    }
}

/// The longest chain of `durations` through the DAG.
fn critical_path(plan: &Plan, durations: &[Duration]) -> Duration {
    let mut finish: Vec<Duration> = Vec::with_capacity(plan.changes.len());
    for (i, change) in plan.changes.iter().enumerate() {
        let start = change
            .depends_on
            .iter()
            .filter_map(|d| {
                d.name
                    .strip_prefix("n-")
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .map(|d| finish[d])
            .max()
            .unwrap_or(Duration::ZERO);
        finish.push(start + durations[i]);
    }
    finish.into_iter().max().unwrap_or_default()
}

/// Makespan of one apply, and the critical path of the latencies the calls really took.
fn apply_once(
    runtime: &tokio::runtime::Runtime,
    dag: &Dag,
    parallelism: usize,
) -> (Duration, Duration) {
    let cloud = FakeCloud::new();
    for (change, latency) in dag.plan.changes.iter().zip(&dag.latency) {
        cloud.set_address_latency(&change.address, *latency);
    }
    let mut providers = Providers::new();
    providers.register(Arc::new(FakeProvider::new(cloud.clone())));
    let options = ApplyOptions {
        parallelism,
        retry: RetryPolicy::default(),
        timeouts: Timeouts::uniform(Duration::from_secs(60)),
        rate_limits: RateLimits::none(),
        ..ApplyOptions::default()
    };
    let state = Arc::new(MemoryStore::new("bench"));
    let started = Instant::now();
    let outcome = runtime
        .block_on(meshctl_engine::apply(
            &dag.plan,
            state,
            &providers,
            &options,
            Arc::new(NoEvents),
            Cancel::new(),
        ))
        .expect("applies");
    let elapsed = started.elapsed();
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    let calls = cloud.calls();
    let realized: Vec<Duration> = dag
        .plan
        .changes
        .iter()
        .map(|c| {
            calls
                .iter()
                .find(|call| call.address == c.address)
                .map(|call| call.ended - call.started)
                .unwrap_or_default()
        })
        .collect();
    (elapsed, critical_path(&dag.plan, &realized))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dag = generate(42);
    // The engine's own cost: the same DAG with no provider latency at all.
    let zero = Dag {
        latency: vec![Duration::ZERO; NODES],
        ..generate(42)
    };
    let mut bare: Vec<Duration> = (0..5).map(|_| apply_once(&runtime, &zero, 0).0).collect();
    bare.sort();
    eprintln!(
        "executor overhead: {:?} for {NODES} resources with no provider latency",
        bare[2]
    );
    for (label, parallelism) in [("unbounded", 0), ("parallelism 10", 10)] {
        let mut runs: Vec<(Duration, Duration)> = (0..5)
            .map(|_| apply_once(&runtime, &dag, parallelism))
            .collect();
        runs.sort();
        let (makespan, realized) = runs[runs.len() / 2];
        eprintln!(
            "{label}: makespan {makespan:?}; / nominal critical path {:?} = {:.3}; / realized critical path {realized:?} = {:.3}",
            dag.critical_path,
            makespan.as_secs_f64() / dag.critical_path.as_secs_f64(),
            makespan.as_secs_f64() / realized.as_secs_f64(),
        );
    }
    let mut group = c.benchmark_group("apply_makespan");
    group.sample_size(10);
    group.bench_function("unbounded", |b| b.iter(|| apply_once(&runtime, &dag, 0).0));
    group.bench_function("parallelism_10", |b| {
        b.iter(|| apply_once(&runtime, &dag, 10).0)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
