//! The `meshctl` binary: parses the command line and hands each command to its module.

mod commands;
mod input;
mod state_access;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Plan and apply an EKS + Istio + ALB/NLB + ACM + Route53 topology from one stack file.
#[derive(Parser)]
#[command(name = "meshctl", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a stack file and report every problem with its location.
    Validate(commands::validate::Args),
    /// Show what apply would change: field diffs, unknowns and risks.
    Plan(commands::plan::Args),
    /// Render a saved plan, refusing one that no longer matches its state.
    Show(commands::show::Args),
    /// Print the dependency graph of a stack (Graphviz dot or Mermaid).
    Graph(commands::graph::Args),
    /// Inspect and edit recorded state.
    State(commands::state::Args),
    /// Break a state lock left by a meshctl that is no longer running.
    ForceUnlock(commands::state::ForceUnlockArgs),
    /// Print a shell completion script.
    Completions(commands::completions::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(&args),
        Command::Plan(args) => commands::plan::run(&args),
        Command::Show(args) => commands::show::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
        Command::State(args) => commands::state::run(&args),
        Command::ForceUnlock(args) => commands::state::force_unlock(&args),
        Command::Completions(args) => commands::completions::run::<Cli>(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
