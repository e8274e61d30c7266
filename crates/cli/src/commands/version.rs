//! `meshctl version [--format json]`: the release, the commit it was built from, and the format
//! versions of the files it reads and writes, for a pipeline to check before it uses them.

use crate::output::outln;
use anyhow::Result;
use clap::ValueEnum;
use serde_json::json;
use std::process::ExitCode;

/// The commit this binary was built from (build.rs): `git rev-parse HEAD`, or "unknown".
pub const COMMIT: &str = env!("MESHCTL_COMMIT");

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    /// One JSON object: version, commit, state_format_version, plan_format_version,
    /// output_format_version.
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    let state = meshctl_state::FORMAT_VERSION;
    let plan = meshctl_plan::PLAN_FORMAT_VERSION;
    let output = crate::commands::output::FORMAT_VERSION;
    match args.format {
        Format::Text => {
            outln!("meshctl {version} (commit {COMMIT})");
            outln!("state format {state}, plan format {plan}, output format {output}");
        }
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "version": version,
                "commit": COMMIT,
                "state_format_version": state,
                "plan_format_version": plan,
                "output_format_version": output,
            }))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}
