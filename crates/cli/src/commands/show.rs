//! `meshctl show PLANFILE`: render a saved plan, after checking it still matches the state (and,
//! with -f, the stack) it was made for — the same check `apply PLANFILE` makes.

use crate::commands::plan::Format;
use crate::input::use_color;
use crate::state_access::StateArgs;
use anyhow::{Context, Result};
use meshctl_plan::render;
use meshctl_state::StateStore;
use std::io::IsTerminal;
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
    let bytes = std::fs::read(&args.plan)
        .with_context(|| format!("cannot read plan file {}", args.plan.display()))?;
    let plan = meshctl_plan::decode(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.plan.display()))?;
    let (digest, backend) = match &args.stack {
        Some(path) => {
            let source = crate::input::StackArgs::for_file(path).source()?;
            let header = meshctl_model::read_header(&source).map_err(|_| {
                anyhow::anyhow!(
                    "{} has errors; run `meshctl validate -f {}`",
                    path.display(),
                    path.display()
                )
            })?;
            (Some(crate::input::stack_digest(path)?), header.backend)
        }
        None => (None, None),
    };
    let state = args.state.open(&plan.stack, backend.as_ref(), "show")?;
    let meta = state.store.meta()?;
    if let Err(e) = meshctl_plan::check_current(
        &plan,
        &meta.stack,
        &meta.lineage,
        meta.serial,
        digest.as_deref(),
    ) {
        eprintln!("error: {}: {e}", args.plan.display());
        return Ok(ExitCode::from(1));
    }
    match args.format {
        Format::Text => print!(
            "{}",
            render::text(&plan, use_color(std::io::stdout().is_terminal()))
        ),
        Format::Json => println!("{}", render::json(&plan)),
        Format::Markdown => print!("{}", render::markdown(&plan)),
    }
    Ok(ExitCode::SUCCESS)
}
