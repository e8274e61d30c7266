//! Benchmark: the cost of one state commit (one record written, as the executor records an
//! object) on sled and on S3 (moto on loopback), for states of 10, 1,000 and 10,000 records. An
//! S3 commit writes the whole state object, so its cost grows with the state; a sled commit is
//! one transaction plus one line of the backup's log.

#[path = "support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use meshctl_state::{Backend, Change, LocalBackend, StateStore};

const SIZES: [usize; 3] = [10, 1_000, 10_000];

/// A store holding `size` records, filled in one commit.
fn filled(store: &dyn StateStore, size: usize) {
    store
        .commit(Change {
            put: (0..size).map(support::record).collect(),
            ..Change::default()
        })
        .expect("fills");
}

fn commit_one(store: &dyn StateStore, n: usize) {
    store
        .commit(Change {
            put: vec![support::record(n)],
            ..Change::default()
        })
        .expect("commits");
}

fn bench(c: &mut Criterion) {
    let sandbox = support::Sandbox::start();
    let mut group = c.benchmark_group("state_commit");
    group.sample_size(10);
    for size in SIZES {
        let dir = tempfile::tempdir().expect("tempdir");
        let sled = LocalBackend::new(dir.path()).open("bench").expect("opens");
        filled(sled.as_ref(), size);
        group.bench_with_input(BenchmarkId::new("sled", size), &size, |b, _| {
            let mut n = 0;
            b.iter(|| {
                n += 1;
                commit_one(sled.as_ref(), n % size);
            })
        });
        let s3 = sandbox
            .backend(&format!("commit-{size}.json"))
            .open_store("bench")
            .expect("opens");
        filled(&s3, size);
        eprintln!(
            "S3 state object of {size} records: {} bytes",
            s3.write_stats().last_size
        );
        group.bench_with_input(BenchmarkId::new("s3", size), &size, |b, _| {
            let mut n = 0;
            b.iter(|| {
                n += 1;
                commit_one(&s3, n % size);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
