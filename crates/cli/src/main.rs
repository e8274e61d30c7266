//! The `meshctl` binary: the command line with the providers built into this release.

use meshctl::{Providers, StackSettings};
use meshctl_provider::Provider;
use meshctl_provider_aws::AwsProvider;
use meshctl_provider_kube::KubeProvider;
use std::sync::Arc;

/// mimalloc: planning a large stack allocates and frees millions of small values, where glibc's
/// malloc spent a third of the time (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    meshctl::run(&|settings: &StackSettings| {
        let mut providers = Providers::new();
        for provider in built_in(settings) {
            providers.register(provider);
        }
        providers
    })
}

/// The providers of this release. Together they handle every kind exactly once (the test
/// below): each handles the kinds of its layer (`meshctl_model::kinds::Layer`).
fn built_in(settings: &StackSettings) -> Vec<Arc<dyn Provider>> {
    let aws = Arc::new(AwsProvider::new(settings.clone()));
    // The Kubernetes provider asks the AWS provider for the balancers the Load Balancer
    // Controller makes, so only provider-aws calls AWS APIs.
    // helm and istioctl get their EKS tokens from this program (`meshctl __eks-token`).
    let mut kube = KubeProvider::new(settings.clone(), aws.clone());
    if let Some(command) = meshctl::token_command() {
        kube = kube.with_token_command(command);
    }
    let kube = Arc::new(kube);
    vec![aws, kube]
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshctl_model::Kind;

    #[test]
    fn the_built_in_providers_handle_every_kind_exactly_once() {
        let settings = StackSettings {
            stack: "coverage".to_string(),
            region: "us-east-1".to_string(),
            kube: None,
        };
        let providers = built_in(&settings);
        let wrong: Vec<String> = Kind::ALL
            .iter()
            .filter_map(|kind| {
                let handlers = providers
                    .iter()
                    .flat_map(|p| p.kinds())
                    .filter(|k| *k == kind)
                    .count();
                (handlers != 1).then(|| format!("{kind}: {handlers} providers"))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "every kind needs exactly one provider: {wrong:?}"
        );
    }
}
