//! Test support for the executor: `FakeCloud`, an in-memory cloud (optionally kept in a file, so a
//! killed process leaves it behind) with latency and failure injection and a log of calls, and
//! `FakeProvider`, a `Provider` for every kind over it. Product crates never depend on this.

mod cloud;
mod provider;

pub use cloud::{Call, FakeCloud, FakeObject, Op};
pub use provider::FakeProvider;
