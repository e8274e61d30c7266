//! The `Provider` trait that the AWS and Kubernetes backends implement, and their error classes.
//!
//! Kind schemas (outputs, force-new fields) are declared next to the kinds in `meshctl-model` so
//! that the pure planner can read them; this crate adds what only a provider needs.
