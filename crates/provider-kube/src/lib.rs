//! The Kubernetes provider. Every kube-rs call, and every helm and istioctl process, lives in this
//! crate and nowhere else: `render` turns a resource into what to install (pure), `access`
//! reaches the cluster, `objects` applies and deletes objects, `owner` reads which stack owns a
//! live object, `tools` runs helm and istioctl, and `provider` puts them together behind the
//! engine's `Provider` trait.

pub mod access;
pub mod drift;
pub mod objects;
pub mod owner;
mod provider;
pub mod render;
pub mod tools;

pub use provider::KubeProvider;
