//! The sandbox: moto for AWS and a local Kubernetes API server with the controllers a cluster
//! runs, so that the real code paths run end to end on loopback (DESIGN.md §9). Test and demo
//! support only; product crates never depend on it.

pub mod controllers;
pub mod fault_proxy;
pub mod kube;
pub mod moto;

pub use controllers::ControllerOptions;
pub use fault_proxy::{Counts, FailRule, FaultProxy, Faults};
pub use moto::{aws_env, Moto, SandboxError};
