//! `meshctl state list | show | rm | mv | history` and `meshctl force-unlock`.

use crate::commands::plan::parse_address;
use crate::input::StackArgs;
use crate::state_access::StateArgs;
use anyhow::Result;
use clap::Subcommand;
use meshctl_model::Address;
use meshctl_state::StateStore;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: StateCommand,
}

#[derive(Subcommand)]
enum StateCommand {
    /// One line per recorded resource: address, status, owned objects.
    List(Common),
    /// Everything recorded for one resource.
    Show(WithAddress),
    /// Forget a resource: its objects stay in the world, no longer managed.
    Rm(WithAddress),
    /// Rename a record, after renaming the resource in the stack.
    Mv(Move),
    /// What each serial changed.
    History(Common),
}

#[derive(clap::Args)]
struct Common {
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(clap::Args)]
struct WithAddress {
    #[command(flatten)]
    common: Common,
    #[arg(value_parser = parse_address)]
    address: Address,
}

#[derive(clap::Args)]
struct Move {
    #[command(flatten)]
    common: Common,
    #[arg(value_parser = parse_address)]
    from: Address,
    #[arg(value_parser = parse_address)]
    to: Address,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    match &args.command {
        StateCommand::List(c) => {
            let state = c.state.open_for(&c.stack.source()?, "state list")?;
            for r in state.store.records()? {
                println!(
                    "{:<48} {:<9} {} object(s)",
                    r.address.to_string(),
                    format!("{:?}", r.status).to_lowercase(),
                    r.objects.len()
                );
            }
        }
        StateCommand::Show(w) => {
            let state = w
                .common
                .state
                .open_for(&w.common.stack.source()?, "state show")?;
            match state.store.record(&w.address)? {
                Some(record) => println!("{}", serde_json::to_string_pretty(&record)?),
                None => {
                    eprintln!("error: no record for {} in state {}; `meshctl state list` shows what is recorded", w.address, state.dir.display());
                    return Ok(ExitCode::from(1));
                }
            }
        }
        StateCommand::Rm(w) => {
            let state = w
                .common
                .state
                .open_for(&w.common.stack.source()?, "state rm")?;
            let record = state.store.remove(&w.address)?;
            println!(
                "Removed {} from state; its {} object(s) still exist and are no longer managed.",
                w.address,
                record.objects.len()
            );
        }
        StateCommand::Mv(m) => {
            let state = m
                .common
                .state
                .open_for(&m.common.stack.source()?, "state mv")?;
            state.store.rename(&m.from, &m.to)?;
            println!("Moved {} to {}.", m.from, m.to);
        }
        StateCommand::History(c) => {
            let state = c.state.open_for(&c.stack.source()?, "state history")?;
            for entry in state.store.history()? {
                let changed: Vec<String> = entry
                    .changed
                    .iter()
                    .map(|(a, r)| {
                        if r.is_some() {
                            a.to_string()
                        } else {
                            format!("{a} (removed)")
                        }
                    })
                    .collect();
                println!(
                    "serial {:<5} {}  {:<14} {}",
                    entry.serial,
                    entry.at,
                    entry.operation,
                    changed.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ForceUnlockArgs {
    /// The lock ID printed by the command that found the state locked.
    id: String,
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
}

pub fn force_unlock(args: &ForceUnlockArgs) -> Result<ExitCode> {
    let header = meshctl_model::read_header(&args.stack.source()?)
        .map_err(|_| anyhow::anyhow!("the stack header has errors; run `meshctl validate`"))?;
    let dir = args.state.dir_for(&header.stack, header.backend.as_ref())?;
    let broken = meshctl_state::force_unlock(&dir, &args.id)?;
    println!(
        "Broke the lock of {}@{} (pid {}, `{}` since {}).",
        broken.holder, broken.host, broken.pid, broken.operation, broken.since
    );
    Ok(ExitCode::SUCCESS)
}
