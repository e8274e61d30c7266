//! `meshctl apply` and `meshctl destroy`: show the plan, get approval, run the executor, report.

use crate::commands::plan::{
    make_plan, open_saved_plan, parse_address, Planned, SelectionArgs, VarChangeArgs,
};
use crate::input::{stderr_color, use_color, OptionalStackArgs, StackArgs};
use crate::output::{note, print_while_applying};
use crate::progress::{JsonLines, PlainLines, Spinners};
use crate::state_access::StateArgs;
use crate::var_set_store::VarSetRecordingStore;
use crate::ProviderFactory;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use meshctl_engine::{ApplyOptions, Cancel, EngineError, EventSink, Outcome};
use meshctl_model::Address;
use meshctl_plan::{render, PlanOptions};
use meshctl_state::StateStore;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Clone, Copy, ValueEnum)]
pub enum Events {
    /// Spinners on a terminal, lines otherwise.
    Human,
    /// One JSON object per line on stdout.
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// A plan saved with `meshctl plan --out FILE`: applied exactly, if still current (with -f,
    /// also if made from this stack file and the same var values).
    plan: Option<PathBuf>,
    #[command(flatten)]
    stack: OptionalStackArgs,
    #[command(flatten)]
    state: StateArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Apply only this resource and what it depends on (repeatable), e.g. --target alb.public.
    #[arg(long = "target", value_name = "KIND.NAME", value_parser = parse_address, conflicts_with = "plan")]
    targets: Vec<Address>,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Read the live world before planning, so that changes made outside meshctl are put back
    /// (--refresh=false plans from state alone). A saved plan was refreshed when it was made.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", conflicts_with = "plan")]
    refresh: bool,
    #[command(flatten)]
    var_change: VarChangeArgs,
    /// After a successful apply, check every host's live traffic path as `meshctl verify` does;
    /// a broken path fails the apply (exit 7; nothing is undone), one that cannot be checked
    /// exits 8.
    #[arg(long)]
    verify: bool,
}

/// Exit codes of `apply --verify` when the apply succeeded but the check did not.
const VERIFY_BROKEN_EXIT: u8 = 7;
const VERIFY_FAILED_EXIT: u8 = 8;

#[derive(clap::Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Read the live world before planning the deletions (--refresh=false plans from state
    /// alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    refresh: bool,
    #[command(flatten)]
    var_change: VarChangeArgs,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Apply without asking (CI). Without it, meshctl asks on a terminal and refuses otherwise.
    #[arg(long)]
    auto_approve: bool,
    /// Resources worked on at once (0: no limit).
    #[arg(long, default_value_t = 10)]
    parallelism: usize,
    /// Keep what was done when a step fails, instead of undoing it.
    #[arg(long)]
    no_rollback: bool,
    /// How progress is shown: spinners or lines on standard error (human), or one JSON object per
    /// line on standard output (json, docs/events.md; the plan then goes to standard error).
    #[arg(long, value_enum, default_value = "human")]
    events: Events,
}

pub fn apply(args: &Args, providers: &ProviderFactory) -> Result<ExitCode> {
    let stack = args.stack.stack();
    if args.plan.is_some()
        && !(args.selection.replace.is_empty() && args.selection.exclude.is_empty())
    {
        bail!("a saved plan is applied exactly as it was made: give --replace and --exclude to `meshctl plan --out`")
    }
    let planned = match &args.plan {
        Some(file) => open_saved_plan(file, stack.as_ref(), &args.state, "apply", providers)?,
        None => {
            let Some(stack) = &stack else {
                bail!("give a stack (-f STACK) or a saved plan (meshctl apply PLANFILE)")
            };
            let options = PlanOptions {
                targets: args.targets.clone(),
                replace: args.selection.replace.clone(),
                exclude: args.selection.exclude.clone(),
                destroy: false,
            };
            make_plan(
                stack,
                &args.state,
                &options,
                args.refresh,
                providers,
                "apply",
                true,
                args.var_change,
            )?
        }
    };
    if args.verify && stack.is_none() {
        bail!(
            "--verify needs the stack (-f STACK) to know which paths to check; nothing was changed"
        )
    }
    let Some(planned) = planned else {
        return Ok(ExitCode::from(1));
    };
    let code = execute(planned, &args.run, "apply", args.plan.is_some())?;
    match &stack {
        Some(stack) if args.verify && code == ExitCode::SUCCESS => {
            // The world is as planned; a broken path is reported, never rolled back.
            match crate::commands::verify::after_apply(stack, &args.state) {
                Ok(true) => Ok(code),
                Ok(false) => {
                    note(
                        "apply finished, but a traffic path is broken (above); nothing was undone.",
                    );
                    Ok(ExitCode::from(VERIFY_BROKEN_EXIT))
                }
                Err(error) => {
                    note(&format!(
                        "apply finished, but its traffic paths could not be checked: {error:#}"
                    ));
                    Ok(ExitCode::from(VERIFY_FAILED_EXIT))
                }
            }
        }
        _ => Ok(code),
    }
}

pub fn destroy(args: &DestroyArgs, providers: &ProviderFactory) -> Result<ExitCode> {
    let options = PlanOptions {
        destroy: true,
        ..PlanOptions::default()
    };
    let Some(planned) = make_plan(
        &args.stack,
        &args.state,
        &options,
        args.refresh,
        providers,
        "destroy",
        true,
        args.var_change,
    )?
    else {
        return Ok(ExitCode::from(1));
    };
    execute(planned, &args.run, "destroy", false)
}

fn execute(planned: Planned, run: &RunArgs, operation: &str, saved_plan: bool) -> Result<ExitCode> {
    let Planned {
        plan,
        state,
        providers,
        made_from,
    } = planned;
    let Some(state) = state else {
        bail!("{operation} needs the stack's state, and none was opened; nothing was changed");
    };
    let providers = &providers;
    let json = matches!(run.events, Events::Json);
    let asks = plan.has_changes() && !run.auto_approve && !saved_plan;
    if json {
        note(render::text(&plan, stderr_color()).trim_end());
    } else {
        let rendered = render::text(&plan, use_color(std::io::stdout().is_terminal()));
        if asks {
            // Nobody approves a plan they could not read: a closed stdout ends here, unchanged.
            crate::output::print(&rendered)?;
        } else {
            print_while_applying(&rendered);
        }
    }
    if !plan.has_changes() {
        return Ok(ExitCode::SUCCESS);
    }
    let missing = providers.missing(&plan);
    if !missing.is_empty() {
        let kinds: Vec<&str> = missing.iter().map(|k| k.as_str()).collect();
        bail!(
            "this build of meshctl has no provider for: {}; nothing was changed",
            kinds.join(", ")
        );
    }
    // A saved plan was reviewed when it was made; applying it is the approval.
    if asks
        && !confirm(
            operation,
            &format!("Do you want to {operation} these changes?"),
        )?
    {
        note(&format!("{operation} cancelled; nothing was changed."));
        return Ok(ExitCode::from(1));
    }
    let cancel = Cancel::new();
    let events: Arc<dyn EventSink> = if json {
        Arc::new(JsonLines)
    } else if std::io::stderr().is_terminal() {
        Arc::new(Spinners::new(cancel.clone()))
    } else {
        Arc::new(PlainLines::new(cancel.clone()))
    };
    let options = ApplyOptions {
        parallelism: run.parallelism,
        rollback: !run.no_rollback,
        operation: operation.to_string(),
        ..ApplyOptions::default()
    };
    let location = state.location();
    let store: Arc<dyn StateStore> = Arc::new(state.store);
    let recording: Arc<dyn StateStore> = Arc::new(VarSetRecordingStore {
        store: store.clone(),
        var_set: made_from
            .as_ref()
            .map(|made_from| meshctl_plan::VarSet::of(made_from).encode()),
    });
    let applying = crate::signals::Applying::begin();
    let outcome = crate::runtime::block_on(async {
        let on_interrupt = cancel.clone();
        // The runtime outlives the apply: the listener is aborted with it, so a later signal
        // goes to `signals::install`'s handler alone.
        let listener = tokio::spawn(async move {
            loop {
                crate::signals::next_signal().await;
                // The one line an interrupt prints; the progress sinks leave the walk's
                // `stopping` event to it.
                if on_interrupt.stopping() {
                    note("\nSecond interrupt: aborting running steps; state keeps what they recorded.");
                } else {
                    note("\nInterrupted: finishing running steps (interrupt again to abort them).");
                }
                on_interrupt.interrupt();
            }
        });
        let outcome = meshctl_engine::apply(
            &plan,
            recording,
            providers,
            &options,
            events,
            cancel.clone(),
        )
        .await;
        listener.abort();
        outcome
    })?;
    drop(applying);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        // The store could not save what the run recorded: it is all in the store's memory, and
        // nowhere else once this process ends.
        Err(EngineError::State(error)) if error.unsaved() => {
            return save_errored_state(store.as_ref(), &location, &error.to_string(), operation);
        }
        Err(error) => return Err(error.into()),
    };
    if let Outcome::StateNotSaved {
        failure,
        also_failed,
    } = &outcome
    {
        let mut why = failure.to_string();
        if let Some(other) = also_failed {
            why.push_str(&format!("\n  (before that, a step failed: {other})"));
        }
        return save_errored_state(store.as_ref(), &location, &why, operation);
    }
    note(&describe(&outcome, operation));
    Ok(ExitCode::from(outcome.exit_code()))
}

/// Exit code of a run that ended because its state could not be saved (its records are in the
/// errored-state file, or were lost if even that could not be written).
const STATE_NOT_SAVED_EXIT: u8 = 6;

/// Writes what the run recorded (`store`'s snapshot, held in memory) to the errored-state file in
/// the working directory and says how to push it; exits `STATE_NOT_SAVED_EXIT`.
fn save_errored_state(
    store: &dyn StateStore,
    location: &str,
    failure: &str,
    operation: &str,
) -> Result<ExitCode> {
    let written = store
        .snapshot()
        .map_err(anyhow::Error::new)
        .and_then(|snapshot| {
            let dir = std::env::current_dir().context("cannot find the working directory")?;
            crate::errored_state::save(&snapshot, &dir)
        });
    match written {
        Ok(path) => {
            let path = path.display().to_string();
            note(&format!(
                "{operation} stopped: {failure}\n\
                 No new step was started after the failure; nothing was undone. Everything this run \
                 recorded is saved in {path}.\n\
                 Once {location} can be written again, put it there, then apply again:\n  \
                 meshctl state push {} {}",
                meshctl_state::shell_quote(&path),
                crate::commands::state::target_args(),
            ));
        }
        Err(error) => note(&format!(
            "{operation} stopped: {failure}\n\
             Writing what this run recorded to an errored-state file failed too: {error:#}.\n\
             The objects it created carry this stack's tags: after fixing {location}, `meshctl plan` \
             lists those the state does not know."
        )),
    }
    Ok(ExitCode::from(STATE_NOT_SAVED_EXIT))
}

/// Asks `question` on the terminal; without one, refuses to `operation` (an error).
pub fn confirm(operation: &str, question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to {operation} without approval: there is no terminal to ask on. Review what it shows and pass --auto-approve (as a CI pipeline does){}", if operation == "refresh" { "" } else { ", or apply a saved plan file" });
    }
    crate::output::err!("\n{question} Only 'yes' is accepted: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

fn describe(outcome: &Outcome, operation: &str) -> String {
    match outcome {
        Outcome::Applied { serial } => format!("{operation} complete (state serial {serial})."),
        Outcome::RolledBack { failure, serial } => format!("{operation} failed: {failure}\nEverything this run did was undone (state serial {serial}). Fix the cause and apply again."),
        Outcome::Failed { failure, serial } => format!("{operation} failed: {failure}\nCompleted steps were kept (--no-rollback; state serial {serial}). `meshctl plan` shows what is left."),
        Outcome::RollbackIncomplete { failure, tainted, serial } => {
            let list: Vec<String> = tainted.iter().map(|(a, e)| format!("  {a}: {e}")).collect();
            format!(
                "{operation} failed: {failure}\nUndoing it failed for these resources, now marked tainted (state serial {serial}):\n{}\nCheck them by hand; the next apply replaces tainted resources.",
                list.join("\n")
            )
        }
        Outcome::StateNotSaved { failure, .. } => {
            format!("{operation} stopped: the state could not be saved: {failure}")
        }
        Outcome::Interrupted { serial } => format!("{operation} stopped before every step ran; the steps that finished are recorded (state serial {serial}). `meshctl plan` shows what is left."),
    }
}
