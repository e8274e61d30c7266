//! The planner: diffs desired resources against prior state and live reads into a `Plan`.
//!
//! Pure: no IO, no async runtime. Filled in by the planner issue; today it only names its place
//! in the dependency graph (model → graph → plan).
