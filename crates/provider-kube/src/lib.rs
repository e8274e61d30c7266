//! The Kubernetes provider. Every kube-rs call, and every helm and istioctl process, lives in this
//! crate and nowhere else. Filled in by the Kubernetes provider issue.

pub mod access;

pub mod render;
