//! `meshctl completions SHELL`: print a completion script for bash, zsh, fish, elvish or PowerShell.

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete for.
    shell: Shell,
}

pub fn run<C: CommandFactory>(args: &Args) -> Result<ExitCode> {
    let mut command = C::command();
    // Generated into memory: clap_complete panics when it cannot write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "meshctl", &mut script);
    crate::output::print(&String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}
