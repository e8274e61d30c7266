//! `meshctl-testbed`: the meshctl command line with the fake cloud as its only provider, for tests
//! that run whole applies in a separate process (and kill them). The cloud lives in the file named
//! by `MESHCTL_FAKE_CLOUD` (in memory without it); `MESHCTL_FAKE_LATENCY_MS` slows every call
//! (`40`), or every call and some kinds' creates, updates and deletes by their own latency
//! (`40,eks_cluster=11000,nodegroup=4000`: how long each takes in AWS, for a run at scale);
//! `MESHCTL_FAKE_FAIL=kind.name:op,...` makes those calls fail permanently (op: create, read,
//! update, delete).

use meshctl_model::{Address, Kind};
use meshctl_testkit::{FakeCloud, FakeProvider, Op};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    let cloud = match std::env::var_os("MESHCTL_FAKE_CLOUD") {
        Some(path) => match FakeCloud::persistent(std::path::Path::new(&path)) {
            Ok(cloud) => cloud,
            Err(e) => {
                eprintln!("error: cannot open the fake cloud: {e}");
                return ExitCode::from(1);
            }
        },
        None => FakeCloud::new(),
    };
    if let Ok(latencies) = std::env::var("MESHCTL_FAKE_LATENCY_MS") {
        if let Err(bad) = set_latencies(&cloud, &latencies) {
            eprintln!("error: MESHCTL_FAKE_LATENCY_MS entry `{bad}` is not MS or KIND=MS");
            return ExitCode::from(1);
        }
    }
    for spec in std::env::var("MESHCTL_FAKE_FAIL")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let parsed = spec.rsplit_once(':').and_then(|(address, op)| {
            let op = match op {
                "create" => Op::Create,
                "read" => Op::Read,
                "update" => Op::Update,
                "delete" => Op::Delete,
                _ => return None,
            };
            Address::parse(address).map(|a| (a, op))
        });
        match parsed {
            Some((address, op)) => cloud.fail_permanently(&address, op),
            None => {
                eprintln!("error: MESHCTL_FAKE_FAIL entry `{spec}` is not kind.name:op");
                return ExitCode::from(1);
            }
        }
    }
    let mut providers = meshctl::Providers::new();
    providers.register(Arc::new(FakeProvider::new(cloud)));
    meshctl::run(&move |_: &meshctl::StackSettings| providers.clone())
}

/// Applies `MESHCTL_FAKE_LATENCY_MS`: `MS` for every call, `KIND=MS` for that kind's changes.
/// Returns the entry it cannot read.
fn set_latencies(cloud: &FakeCloud, spec: &str) -> Result<(), String> {
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (kind, ms) = match entry.split_once('=') {
            Some((kind, ms)) => (Some(kind), ms),
            None => (None, entry),
        };
        let latency = ms
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| entry.to_string())?;
        match kind {
            None => cloud.set_latency(latency),
            Some(name) => {
                let kind = Kind::parse(name).ok_or_else(|| entry.to_string())?;
                for op in [Op::Create, Op::Update, Op::Delete] {
                    cloud.set_kind_latency(kind, op, latency);
                }
            }
        }
    }
    Ok(())
}
