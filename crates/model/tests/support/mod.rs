//! Test support shared by the model crate's integration tests and benchmarks.
pub mod hostile;
