//! The `meshctl` command line: parses arguments and hands each command to its module. A library so
//! that the binary (with the providers this build has) and test harnesses (with a fake cloud)
//! run the very same commands.

mod commands;
mod errored_state;
mod input;
mod output;
mod progress;
mod runtime;
mod signals;
mod state_access;
mod var_set_store;

pub use commands::eks_token::token_command;
pub use meshctl_engine::Providers;
pub use meshctl_provider::StackSettings;

/// Builds this build's providers for a stack, once its name and region are known.
pub type ProviderFactory = dyn Fn(&StackSettings) -> Providers;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Plan and apply an EKS + Istio + ALB/NLB + ACM + Route53 topology from one stack file.
#[derive(Parser)]
#[command(name = "meshctl", version, about, propagate_version = true)]
struct Cli {
    /// Run as if meshctl was started in DIR: every path given (stack file, var files, state
    /// directory, plan files) is read from there, as `git -C` and `terraform -chdir`.
    #[arg(short = 'C', long = "chdir", value_name = "DIR", global = true)]
    chdir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a stack file and report every problem with its location.
    Validate(commands::validate::Args),
    /// Show what apply would change: field diffs, unknowns and risks.
    Plan(commands::plan::Args),
    /// Make the stack real: plan, approve, apply in dependency order, roll back on failure.
    Apply(commands::apply::Args),
    /// Delete everything the stack's state records, dependents first.
    Destroy(commands::apply::DestroyArgs),
    /// Report where the live world has moved from the last apply (exit 0 none, 2 drift, 1 error).
    Drift(commands::drift::Args),
    /// Accept the live world into state, after showing what moved.
    Refresh(commands::drift::RefreshArgs),
    /// Render a saved plan, refusing one that no longer matches its state.
    Show(commands::show::Args),
    /// Print the dependency graph of a stack (Graphviz dot or Mermaid).
    Graph(commands::graph::Args),
    /// Adopt an object made outside meshctl as a resource of the stack, by its id (docs/adoption.md).
    Import(commands::import::Args),
    /// Write a stack file from a live account and cluster built by hand, every resource with
    /// `import:` (docs/generate.md).
    Generate(commands::generate::Args),
    /// Inspect and edit recorded state.
    State(commands::state::Args),
    /// Break a state lock meshctl cannot judge (another host's); a dead holder's on this host is
    /// taken over without it.
    ForceUnlock(commands::state::ForceUnlockArgs),
    /// Print a shell completion script.
    Completions(commands::completions::Args),
    /// Rewrite stack files in canonical order and indentation, keeping comments (--check for CI).
    Fmt(commands::fmt::Args),
    /// The credential plugin of the kubeconfig meshctl gives helm and istioctl (an EKS token).
    #[command(name = commands::eks_token::NAME, hide = true)]
    EksToken(commands::eks_token::Args),
    /// The addresses of the stack a command line names, for the completion scripts.
    #[command(name = commands::completions::ADDRESSES_COMMAND, hide = true)]
    CompleteAddresses(commands::completions::AddressesArgs),
    /// Print what a pipeline needs next (DNS names, ARNs, endpoints) from state, without AWS.
    Output(commands::output::Args),
    /// Print meshctl's version, commit and the state and plan format versions it reads.
    Version(commands::version::Args),
    /// Check every host's live traffic path, link by link (exit 0 all good, 2 broken, 1 error).
    Verify(commands::verify::Args),
}

/// Runs meshctl on the process's arguments, with the providers `providers` builds.
pub fn run(providers: &ProviderFactory) -> ExitCode {
    let cli = Cli::parse();
    signals::install();
    if let Some(dir) = &cli.chdir {
        // Before anything reads a path: every relative path is then taken from DIR.
        if let Err(error) = std::env::set_current_dir(dir) {
            output::note(&format!(
                "error: cannot change to directory {} (-C): {error}",
                dir.display()
            ));
            return ExitCode::from(1);
        }
    }
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(&args),
        Command::Plan(args) => commands::plan::run(&args, providers),
        Command::Apply(args) => commands::apply::apply(&args, providers),
        Command::Destroy(args) => commands::apply::destroy(&args, providers),
        Command::Drift(args) => commands::drift::run(&args, providers),
        Command::Refresh(args) => commands::drift::refresh(&args, providers),
        Command::Show(args) => commands::show::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
        Command::Import(args) => commands::import::run(&args, providers),
        Command::Generate(args) => commands::generate::run(&args),
        Command::State(args) => commands::state::run(&args),
        Command::ForceUnlock(args) => commands::state::force_unlock(&args),
        Command::Completions(args) => commands::completions::run::<Cli>(&args),
        Command::Fmt(args) => commands::fmt::run(&args),
        Command::EksToken(args) => commands::eks_token::run(&args),
        Command::CompleteAddresses(args) => commands::completions::addresses(&args),
        Command::Output(args) => commands::output::run(&args),
        Command::Version(args) => commands::version::run(&args),
        Command::Verify(args) => commands::verify::run(&args),
    };
    match result {
        Ok(code) => code,
        // The reader of our output went away (`| head`): end as quietly as other Unix tools.
        Err(error) if output::is_stdout_closed(&error) => {
            ExitCode::from(output::STDOUT_CLOSED_EXIT)
        }
        Err(error) => {
            output::note(&format!("error: {error:#}"));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks the definitions only when a command is parsed in a debug build; this checks
    /// every subcommand at once (two arguments of one name, a `requires` naming nothing).
    #[test]
    fn every_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
