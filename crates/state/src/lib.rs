//! State storage: the `StateStore` trait with sled (default) and in-memory backends.
//!
//! Filled in by the planner and state issue: lineage, serial, per-node records, journal, history
//! and the lock of DESIGN.md §6.
