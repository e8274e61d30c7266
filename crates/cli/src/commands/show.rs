//! `meshctl show PLANFILE`: render a saved plan, after checking it still matches the state (and,
//! with -f, the stack file and var values) it was made for — the same check `apply PLANFILE` makes.

use crate::commands::plan::{open_saved_plan, print_plan, Format};
use crate::input::OptionalStackArgs;
use crate::state_access::StateArgs;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A plan saved with `meshctl plan --out FILE`.
    plan: PathBuf,
    #[command(flatten)]
    stack: OptionalStackArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Output format (JSON: docs/plan-json.md).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let Some(planned) = open_saved_plan(
        &args.plan,
        args.stack.stack().as_ref(),
        &args.state,
        "show",
        &|_| meshctl_engine::Providers::new(),
    )?
    else {
        return Ok(ExitCode::from(1));
    };
    print_plan(&planned.plan, args.format)?;
    Ok(ExitCode::SUCCESS)
}
