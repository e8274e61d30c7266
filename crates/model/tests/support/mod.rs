//! Test support shared by the model crate's integration tests and benchmarks.

// Each test binary (and the plan crate's benchmark, which includes `hostile` by path) uses a
// different part.
#[allow(dead_code)]
pub mod hostile;
