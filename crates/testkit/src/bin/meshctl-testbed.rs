//! `meshctl-testbed`: the meshctl command line with the fake cloud as its only provider, for tests
//! that run whole applies in a separate process (and kill them). The cloud lives in the file named
//! by `MESHCTL_FAKE_CLOUD` (in memory without it); `MESHCTL_FAKE_LATENCY_MS` slows every call.

use meshctl_testkit::{FakeCloud, FakeProvider};
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
    let mut providers = meshctl::Providers::new();
    providers.register(Arc::new(FakeProvider::new(cloud)));
    meshctl::run(providers)
}
