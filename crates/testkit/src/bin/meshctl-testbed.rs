//! `meshctl-testbed`: the meshctl command line with the fake cloud as its only provider, for tests
//! that run whole applies in a separate process (and kill them). The cloud lives in the file named
//! by `MESHCTL_FAKE_CLOUD` (in memory without it); `MESHCTL_FAKE_LATENCY_MS` slows every call;
//! `MESHCTL_FAKE_FAIL=kind.name:op,...` makes those calls fail permanently (op: create, read,
//! update, delete).

use meshctl_model::Address;
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
    if let Some(ms) = std::env::var("MESHCTL_FAKE_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cloud.set_latency(Duration::from_millis(ms));
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
