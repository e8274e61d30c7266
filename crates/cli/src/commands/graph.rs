//! `meshctl graph`: print the dependency DAG of a stack as Graphviz dot or Mermaid.

use crate::input::{stderr_color, StackArgs};
use anyhow::Result;
use clap::ValueEnum;
use meshctl_model::diagnostic::render_text;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// Output format: Graphviz dot or Mermaid.
    #[arg(long, value_enum, default_value = "dot")]
    format: Format,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let source = args.stack.source()?;
    let vars = match args.stack.overrides() {
        Ok(vars) => vars,
        Err(problem) => {
            crate::output::err!(
                "{}",
                render_text(&[problem.diagnostic], &problem.file, stderr_color())
            );
            return Ok(ExitCode::from(1));
        }
    };
    let (checked, diagnostics) = meshctl_graph::validate(&source, &vars);
    crate::output::err!("{}", render_text(&diagnostics, &source, stderr_color()));
    let Some((stack, graph)) = checked else {
        return Ok(ExitCode::from(1));
    };
    crate::output::print(&meshctl_graph::render(
        &stack,
        &graph,
        matches!(args.format, Format::Mermaid),
    ))?;
    Ok(ExitCode::SUCCESS)
}
