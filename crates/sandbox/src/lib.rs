//! The sandbox: moto for AWS and a local Kubernetes API server with the controllers a cluster
//! runs, so that the real code paths run end to end on loopback (ARCHITECTURE.md). Test and demo
//! support only; product crates never depend on it.

pub mod controllers;
pub mod fault_proxy;
pub mod front;
pub mod kube;
pub mod moto;
pub mod moto_patches;

pub use controllers::ControllerOptions;
pub use fault_proxy::{Counts, FailRule, FaultProxy, Faults};
pub use moto::{aws_env, Moto, SandboxError};

/// The kubectl that checks the sandbox as a real client would: `MESHCTL_KUBECTL`, else
/// /usr/bin/kubectl (Debian's `kubernetes-client`, which `scripts/sandbox-deps.sh` installs).
///
/// # Panics
/// When it does not exist, saying how to get one: the tests that call it cannot run without it.
pub fn kubectl_path() -> std::path::PathBuf {
    let path = std::env::var_os("MESHCTL_KUBECTL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/usr/bin/kubectl"));
    assert!(
        path.exists(),
        "{} not found: these tests run the real kubectl; install the Debian package \
         `kubernetes-client` (apt-get install kubernetes-client) or set MESHCTL_KUBECTL",
        path.display()
    );
    path
}
