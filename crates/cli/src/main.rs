//! The `meshctl` binary: parses the command line and hands each command to its module.

mod commands;
mod input;

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
    /// Print the dependency graph of a stack (Graphviz dot or Mermaid).
    Graph(commands::graph::Args),
    /// Print a shell completion script.
    Completions(commands::completions::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
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
