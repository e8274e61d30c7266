//! One module per `meshctl` command; each parses its arguments and calls the library crates.

pub mod apply;
pub mod completions;
pub mod drift;
pub mod eks_token;
pub mod fmt;
pub mod generate;
pub mod graph;
pub mod import;
pub mod output;
pub mod plan;
pub mod show;
pub mod state;
pub mod state_transfer;
pub mod validate;
pub mod verify;
pub mod version;
