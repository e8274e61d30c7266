//! Benchmark: `meshctl validate`, `meshctl plan --refresh=false` (from empty state and against a
//! state holding everything) and `meshctl graph --format dot` on generated mixed stacks of 1,000,
//! 10,000 and 50,000 resources (`support/mixed_stack.rs`). Goals (issue 22): a 10,000-resource
//! plan from empty state in at most 0.3 s and 150 MB, a 50,000-resource one in at most 2 s, every
//! pass linear in the input. The peak heap of one plan of each size is measured by a counting
//! allocator and printed before the timings. `-- 10000` runs one size.

#[path = "support/peak_heap.rs"]
mod peak_heap;

#[path = "support/mixed_stack.rs"]
mod mixed_stack;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::{SourceFile, VarOverrides};
use meshctl_plan::{plan, PlanInput, PlanOptions};

const SIZES: [usize; 3] = [1_000, 10_000, 50_000];

/// What `meshctl validate` does with a file once read, and `meshctl graph` before rendering.
fn validated(source: &SourceFile) -> (meshctl_model::Stack, meshctl_graph::StackGraph) {
    let (checked, diagnostics) = meshctl_graph::validate(source, &VarOverrides::default());
    checked.unwrap_or_else(|| panic!("generated stack is invalid: {:?}", diagnostics.first()))
}

/// What `meshctl plan --refresh=false` computes from the file and the prior records.
fn plan_once(source: &SourceFile, prior: &[NodeRecord]) -> meshctl_plan::Plan {
    let (stack, graph) = validated(source);
    let options = PlanOptions::default();
    let input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior,
        interrupted: &[],
        live: None,
        lookups: None,
        imports: None,
        lineage: "bench",
        serial: 1,
        options: &options,
    };
    plan(&input).expect("plans")
}

/// The state an apply of `plan` would leave: a record of every resource it creates.
fn state_after(plan: &meshctl_plan::Plan) -> Vec<NodeRecord> {
    plan.changes
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
        .collect()
}

/// One size's stack, with the state a plan of it leaves made on first use: criterion skips the
/// benchmarks a filter leaves out, and so is spared their setup.
struct Fixture {
    size: usize,
    source: SourceFile,
    prior: std::cell::OnceCell<Vec<NodeRecord>>,
}

impl Fixture {
    fn new(size: usize) -> Self {
        Fixture {
            size,
            source: SourceFile::new("scale.yaml", mixed_stack::mixed_stack(size, 0)),
            prior: std::cell::OnceCell::new(),
        }
    }

    /// The full state; making it checks the plans and prints the time and peak heap of the first
    /// (a first look at sizes too slow to sample, with `--profile-time 1`).
    fn prior(&self) -> &[NodeRecord] {
        self.prior.get_or_init(|| {
            let started = std::time::Instant::now();
            let (first, peak) = peak_heap::measure(|| plan_once(&self.source, &[]));
            let took = started.elapsed();
            assert_eq!(first.changes.len(), self.size);
            eprintln!(
                "one {}-resource plan from empty state: {:.2} s, peak heap {:.1} MB",
                self.size,
                took.as_secs_f64(),
                peak as f64 / 1e6
            );
            let prior = state_after(&first);
            assert!(!plan_once(&self.source, &prior).has_changes());
            prior
        })
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_scale");
    group.sample_size(10);
    for size in SIZES {
        let fixture = Fixture::new(size);
        group.bench_with_input(BenchmarkId::new("validate", size), &fixture, |b, f| {
            f.prior();
            b.iter(|| validated(&f.source))
        });
        group.bench_with_input(
            BenchmarkId::new("plan_empty_state", size),
            &fixture,
            |b, f| {
                f.prior();
                b.iter(|| plan_once(&f.source, &[]))
            },
        );
        group.bench_with_input(
            BenchmarkId::new("plan_full_state", size),
            &fixture,
            |b, f| {
                let prior = f.prior();
                b.iter(|| plan_once(&f.source, prior))
            },
        );
        group.bench_with_input(BenchmarkId::new("graph_dot", size), &fixture, |b, f| {
            f.prior();
            b.iter(|| {
                let (stack, graph) = validated(&f.source);
                meshctl_graph::render(&stack, &graph, false)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
