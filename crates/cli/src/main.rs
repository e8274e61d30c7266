//! The `meshctl` binary: the command line with the providers built into this release.

use meshctl::{Providers, StackSettings};
use meshctl_provider_aws::AwsProvider;
use std::sync::Arc;

fn main() -> std::process::ExitCode {
    // The Kubernetes provider registers here when it lands; until then `apply` reports which
    // kinds have no provider.
    meshctl::run(&|settings: &StackSettings| {
        let mut providers = Providers::new();
        providers.register(Arc::new(AwsProvider::new(settings.clone())));
        providers
    })
}
