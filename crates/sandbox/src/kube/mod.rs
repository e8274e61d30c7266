//! A Kubernetes API server on loopback: discovery, generic storage, server-side apply, and the
//! controllers a real cluster runs.
