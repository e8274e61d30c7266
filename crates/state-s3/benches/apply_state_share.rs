//! Benchmark: the share of an apply's makespan spent writing state to S3. A generated DAG of
//! 1,000 resources (each depending on up to three earlier ones) is applied by the engine with
//! the fake cloud's injected latencies into an S3 state on moto, and into an in-memory state:
//! 5–40 ms per resource (testkit's apply_makespan), and ten times that (50–400 ms, still far
//! below real EKS, IAM or ACM calls). Printed per profile: both makespans, the S3 store's writes
//! and the time they were in flight, and the state-write share, (S3 makespan − in-memory
//! makespan) / S3 makespan: the time the apply waited for state. Target (issue 14): ≤ 10%.

#[path = "support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use meshctl_engine::{
    ApplyOptions, Cancel, NoEvents, Outcome, Providers, RateLimits, RetryPolicy, Timeouts,
};
use meshctl_model::{Address, Kind};
use meshctl_plan::{Action, Plan, ResourceChange};
use meshctl_state::{MemoryStore, StateStore};
use meshctl_testkit::{FakeCloud, FakeProvider};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: usize = 1_000;

/// The plan and each resource's latency, `scale` times 5–40 ms.
fn generate(seed: u64, scale: u64) -> (Plan, Vec<Duration>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut changes = Vec::with_capacity(NODES);
    let mut latency = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let mut deps: Vec<usize> = if i == 0 {
            Vec::new()
        } else {
            (0..rng.usize(0..=3)).map(|_| rng.usize(0..i)).collect()
        };
        deps.sort_unstable();
        deps.dedup();
        latency.push(Duration::from_millis(rng.u64(5..=40) * scale));
        changes.push(ResourceChange {
            address: Address::new(Kind::Namespace, format!("n-{i}")),
            kind: Kind::Namespace,
            action: Action::Create,
            reasons: Vec::new(),
            create_before_destroy: false,
            fields: Vec::new(),
            risks: Vec::new(),
            desired: Some(serde_json::json!({"labels": {"istio-injection": "enabled"}})),
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
    (plan, latency)
}

/// The makespan of one apply of `plan` into `state`.
fn apply_once(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    latency: &[Duration],
    state: Arc<dyn StateStore>,
) -> Duration {
    let cloud = FakeCloud::new();
    for (change, latency) in plan.changes.iter().zip(latency) {
        cloud.set_address_latency(&change.address, *latency);
    }
    let mut providers = Providers::new();
    providers.register(Arc::new(FakeProvider::new(cloud)));
    let options = ApplyOptions {
        retry: RetryPolicy::default(),
        timeouts: Timeouts::uniform(Duration::from_secs(60)),
        rate_limits: RateLimits::none(),
        ..ApplyOptions::default()
    };
    let started = Instant::now();
    let outcome = runtime
        .block_on(meshctl_engine::apply(
            plan,
            state,
            &providers,
            &options,
            Arc::new(NoEvents),
            Cancel::new(),
        ))
        .expect("applies");
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    started.elapsed()
}

/// The S3 state of a fresh key, for one apply.
fn s3_store(sandbox: &support::Sandbox, keys: &AtomicUsize) -> Arc<meshctl_state_s3::S3Store> {
    let key = format!("apply-{}.json", keys.fetch_add(1, Ordering::SeqCst));
    Arc::new(sandbox.backend(&key).open_store("bench").expect("opens"))
}

/// Applies `plan` into memory and into S3 (`runs` times each, the median kept) and prints the
/// state-write share.
fn measure(
    sandbox: &support::Sandbox,
    keys: &AtomicUsize,
    label: &str,
    plan: &Plan,
    latency: &[Duration],
    runs: usize,
) {
    let mut memory: Vec<Duration> = (0..runs)
        .map(|_| {
            let state = Arc::new(MemoryStore::new("bench"));
            apply_once(&sandbox.runtime, plan, latency, state)
        })
        .collect();
    memory.sort();
    let memory = memory[runs / 2];
    let mut s3_runs: Vec<(Duration, meshctl_state_s3::WriteStats)> = (0..runs)
        .map(|_| {
            let store = s3_store(sandbox, keys);
            let before = store.write_stats();
            let makespan = apply_once(&sandbox.runtime, plan, latency, store.clone());
            let after = store.write_stats();
            let stats = meshctl_state_s3::WriteStats {
                writes: after.writes - before.writes,
                changes: after.changes - before.changes,
                busy: after.busy - before.busy,
                last_size: after.last_size,
            };
            (makespan, stats)
        })
        .collect();
    s3_runs.sort_by_key(|(makespan, _)| *makespan);
    let (s3, stats) = s3_runs[runs / 2];
    let waited = s3.saturating_sub(memory);
    eprintln!(
        "{label}, {NODES} resources: makespan {memory:.2?} with in-memory state, {s3:.2?} with S3 state; \
         {} S3 writes carried {} commits ({} bytes at the end), in flight {:.2?} ({:.1}% of the makespan); \
         state-write share (S3 − in-memory) / S3 makespan = {:.1}% (target ≤ 10%)",
        stats.writes,
        stats.changes,
        stats.last_size,
        stats.busy,
        100.0 * stats.busy.as_secs_f64() / s3.as_secs_f64(),
        100.0 * waited.as_secs_f64() / s3.as_secs_f64(),
    );
}

fn bench(c: &mut Criterion) {
    let sandbox = support::Sandbox::start();
    let keys = AtomicUsize::new(0);
    let (plan, latency) = generate(42, 1);
    measure(&sandbox, &keys, "5–40 ms per resource", &plan, &latency, 3);
    let (slow_plan, slow_latency) = generate(42, 10);
    measure(
        &sandbox,
        &keys,
        "50–400 ms per resource",
        &slow_plan,
        &slow_latency,
        1,
    );
    let mut group = c.benchmark_group("apply_state_share");
    group.sample_size(10);
    group.bench_function("memory_1000", |b| {
        b.iter(|| {
            let state = Arc::new(MemoryStore::new("bench"));
            apply_once(&sandbox.runtime, &plan, &latency, state)
        })
    });
    group.bench_function("s3_1000", |b| {
        b.iter(|| apply_once(&sandbox.runtime, &plan, &latency, s3_store(&sandbox, &keys)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
