//! The `meshctl` binary: the command line with the providers built into this release.

use meshctl::{Providers, StackSettings};
use meshctl_provider_aws::AwsProvider;
use meshctl_provider_kube::KubeProvider;
use std::sync::Arc;

fn main() -> std::process::ExitCode {
    meshctl::run(&|settings: &StackSettings| {
        let aws = Arc::new(AwsProvider::new(settings.clone()));
        let mut providers = Providers::new();
        providers.register(aws.clone());
        // The Kubernetes provider asks the AWS provider for the balancers the Load Balancer
        // Controller makes, so only provider-aws calls AWS APIs.
        providers.register(Arc::new(KubeProvider::new(settings.clone(), aws)));
        providers
    })
}
