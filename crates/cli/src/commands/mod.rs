//! One module per `meshctl` command; each parses its arguments and calls the library crates.

pub mod completions;
pub mod graph;
pub mod validate;
