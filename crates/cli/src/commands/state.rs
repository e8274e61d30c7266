//! `meshctl state list | show | rm | mv | history | restore-backup | pull | push | migrate` and
//! `meshctl force-unlock`.

use crate::commands::plan::parse_address;
use crate::commands::state_transfer;
use crate::input::StackArgs;
use crate::output::outln;
use crate::state_access::{resolve_target, StateArgs};
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
    /// One line per recorded resource: address, status, owned objects. Needs no lock: while
    /// another meshctl runs, shows the state's backup.
    List(Common),
    /// Everything recorded for one resource. Needs no lock, like `list`.
    Show(WithAddress),
    /// Forget a resource: its objects stay in the world, no longer managed.
    Rm(WithAddress),
    /// Rename a record, after renaming the resource in the stack.
    Mv(Move),
    /// What each serial changed. Needs no lock, like `list`.
    History(Common),
    /// Rebuild a damaged state database from the backup beside it (backup.json, then the
    /// changes logged after it); the damaged database is kept, renamed.
    RestoreBackup(Target),
    /// Print the whole state as JSON (meta with lineage and serial, records, journal, history).
    /// Needs no lock, like `list`.
    Pull(state_transfer::PullArgs),
    /// Replace the state with a pulled or errored-state file; refused for another lineage or an
    /// older serial unless --force.
    Push(state_transfer::PushArgs),
    /// Move the state to the stack's backend (e.g. from its local directory to S3, or back).
    Migrate(state_transfer::MigrateArgs),
}

/// A state named by its stack file or its directory (the stack file may be what is broken).
#[derive(clap::Args)]
struct Target {
    /// The stack file.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "STACK",
        required_unless_present = "dir"
    )]
    file: Option<std::path::PathBuf>,
    /// Override a var: --var env=prod (repeatable; needs -f): the state's place may depend on it.
    #[arg(long = "var", value_name = "NAME=VALUE", requires = "file")]
    vars: Vec<String>,
    /// Read var overrides from a YAML file (repeatable; later files win; needs -f).
    #[arg(long = "var-file", value_name = "FILE", requires = "file")]
    var_files: Vec<std::path::PathBuf>,
    #[command(flatten)]
    state: StateArgs,
}

impl Target {
    /// The state's backend and, with a stack file, the stack's name: from the stack's header with
    /// its vars resolved (an S3 key may hold `${var.env}`), or `--state DIR` alone.
    fn backend(&self) -> Result<(Box<dyn meshctl_state::Backend>, Option<String>)> {
        let Some(file) = &self.file else {
            return crate::state_access::resolve_backend(None, &self.state);
        };
        let stack = StackArgs {
            file: file.clone(),
            vars: self.vars.clone(),
            var_files: self.var_files.clone(),
        };
        let header = stack.header()?;
        let backend = self
            .state
            .backend_for(&header.stack, header.backend.as_ref(), Some(file))?;
        Ok((backend, Some(header.stack)))
    }
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
    /// The resource's address, KIND.NAME as `meshctl state list` prints it (e.g. dns_record.www).
    #[arg(value_name = "ADDRESS", value_parser = parse_address)]
    address: Address,
}

#[derive(clap::Args)]
struct Move {
    #[command(flatten)]
    common: Common,
    /// The address the record has now, KIND.NAME (e.g. alb.public).
    #[arg(value_name = "FROM", value_parser = parse_address)]
    from: Address,
    /// The address the stack gives the resource now, of the same kind (e.g. alb.web).
    #[arg(value_name = "TO", value_parser = parse_address)]
    to: Address,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    match &args.command {
        StateCommand::List(c) => {
            let state = c.state.open_read_only_for(&c.stack, "state list")?;
            for r in state.store.records()? {
                outln!(
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
                .open_read_only_for(&w.common.stack, "state show")?;
            match state.store.record(&w.address)? {
                Some(record) => outln!("{}", serde_json::to_string_pretty(&record)?),
                None => {
                    crate::output::errln!("error: no record for {} in state {}; `meshctl state list` shows what is recorded", w.address, state.location());
                    return Ok(ExitCode::from(1));
                }
            }
        }
        StateCommand::Rm(w) => {
            let state = w.common.state.open_for(&w.common.stack, "state rm")?;
            let record = state.store.remove(&w.address)?;
            outln!(
                "Removed {} from state; its {} object(s) still exist and are no longer managed.",
                w.address,
                record.objects.len()
            );
        }
        StateCommand::Mv(m) => {
            let state = m.common.state.open_for(&m.common.stack, "state mv")?;
            state.store.rename(&m.from, &m.to)?;
            outln!("Moved {} to {}.", m.from, m.to);
        }
        StateCommand::History(c) => {
            let state = c.state.open_read_only_for(&c.stack, "state history")?;
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
                outln!(
                    "serial {:<5} {}  {:<14} {}",
                    entry.serial,
                    entry.at,
                    entry.operation,
                    changed.join(", ")
                );
            }
        }
        StateCommand::RestoreBackup(target) => return restore_backup(target),
        StateCommand::Pull(args) => return state_transfer::pull(args),
        StateCommand::Push(args) => return state_transfer::push(args),
        StateCommand::Migrate(args) => return state_transfer::migrate(args),
    }
    Ok(ExitCode::SUCCESS)
}

/// `meshctl state restore-backup`: only a database that fails to open or read is replaced, so a
/// healthy state is never rolled back to its backup by mistake.
fn restore_backup(target: &Target) -> Result<ExitCode> {
    let (dir, stack) = resolve_target(target.file.as_deref(), &target.state)?;
    let _lock = target
        .state
        .lock(&dir, "state restore-backup", target.state.lock_timeout)?;
    let stack = match stack {
        Some(stack) => stack,
        None => match meshctl_state::Backup::load(&dir)? {
            Some(loaded) => loaded.state.meta.stack,
            None => anyhow::bail!("there is no backup in {} to restore from", dir.display()),
        },
    };
    let health = meshctl_state::SledStore::open(&dir, &stack).and_then(|store| store.snapshot());
    match health {
        Ok(state) => anyhow::bail!(
            "the state in {} reads fine (serial {}, {} record(s)); restore-backup only replaces a damaged database",
            dir.display(),
            state.meta.serial,
            state.records.len()
        ),
        Err(meshctl_state::StateError::Damaged(_)) => {}
        Err(other) => return Err(crate::state_access::explain(other, &dir)),
    }
    let restored = meshctl_state::SledStore::restore(&dir, &stack)
        .map_err(|e| crate::state_access::explain(e, &dir))?;
    outln!(
        "Restored the state in {} from its backup: serial {} (written {}), {} record(s){}.",
        dir.display(),
        restored.serial,
        restored.written,
        restored.records,
        if restored.changes > 0 {
            format!(
                ", with the {} change(s) an unfinished run committed after it",
                restored.changes
            )
        } else {
            String::new()
        }
    );
    if let Some(kept) = &restored.damaged_kept {
        outln!(
            "The damaged database is kept in {}; delete it once you no longer need it.",
            kept.display()
        );
    }
    if restored.open_journal > 0 {
        outln!(
            "{} operation(s) were in flight when it was saved: `meshctl plan` shows what they left, and apply repairs it.",
            restored.open_journal
        );
    }
    if let Some(problem) = &restored.log_problem {
        crate::output::errln!("warning: not everything could be restored: {problem}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ForceUnlockArgs {
    /// The lock ID printed by the command that found the state locked.
    id: String,
    #[command(flatten)]
    target: Target,
}

pub fn force_unlock(args: &ForceUnlockArgs) -> Result<ExitCode> {
    let (backend, _) = args.target.backend()?;
    let broken = backend.force_unlock(&args.id)?;
    outln!(
        "Broke the lock of {}@{} (pid {}, `{}` since {}).",
        broken.holder,
        broken.host,
        broken.pid,
        broken.operation,
        broken.since
    );
    Ok(ExitCode::SUCCESS)
}

/// The arguments that name this command's state for another command (`state push`,
/// `force-unlock`): the stack file, its vars (an S3 key may hold `${var.x}`) and `--state`, as
/// this command was given them, each quoted for a shell; empty when it was given none of them.
pub fn target_args() -> String {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // In this order whatever the order given: the file, its vars, the state's place.
    let order = ["-f", "--var-file", "--var", "--state"];
    let mut kept: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => match arg
                .strip_prefix("-f")
                .filter(|v| !v.is_empty() && !arg.starts_with("--"))
            {
                Some(file) => ("-f", Some(file.to_string())),
                None => (arg.as_str(), None),
            },
        };
        let flag = if flag == "--file" { "-f" } else { flag };
        let Some(rank) = order.iter().position(|o| *o == flag) else {
            i += 1;
            continue;
        };
        let value = match inline {
            Some(value) => value,
            None => {
                i += 1;
                match args.get(i) {
                    Some(value) => value.clone(),
                    None => break,
                }
            }
        };
        kept.push((
            rank,
            format!("{flag} {}", meshctl_state::shell_quote(&value)),
        ));
        i += 1;
    }
    kept.sort_by_key(|(rank, _)| *rank);
    kept.into_iter()
        .map(|(_, words)| words)
        .collect::<Vec<_>>()
        .join(" ")
}
