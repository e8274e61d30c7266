//! `meshctl show PLANFILE`: render a saved plan, after checking it still matches the state (and,
//! with -f, the stack) it was made for — the same check `apply PLANFILE` makes.

use crate::commands::plan::{open_saved_plan, print_plan, Format};
use crate::state_access::StateArgs;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A plan saved with `meshctl plan --out FILE`.
    plan: PathBuf,
    /// The stack the plan was made from; checks the plan still matches it.
    #[arg(short = 'f', long = "file", value_name = "STACK")]
    stack: Option<PathBuf>,
    #[command(flatten)]
    state: StateArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let Some(planned) = open_saved_plan(
        &args.plan,
        args.stack.as_deref(),
        &args.state,
        "show",
        &|_| meshctl_engine::Providers::new(),
    )?
    else {
        return Ok(ExitCode::from(1));
    };
    print_plan(&planned.plan, args.format);
    Ok(ExitCode::SUCCESS)
}
