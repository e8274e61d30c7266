//! `meshctl drift` (cron's question: has anyone changed the world by hand?) and `meshctl refresh`
//! (accept what moved into state). Both need only the stack's header: a stack whose resources do
//! not validate is still checked against what was applied (without its
//! `lifecycle.ignore_changes`, which only a stack that loads gives).

use crate::commands::apply::confirm;
use crate::commands::plan::read_live;
use crate::input::{use_color, StackArgs};
use crate::output::write_atomically;
use crate::state_access::{OpenState, StateArgs};
use crate::ProviderFactory;
use anyhow::{Context, Result};
use clap::ValueEnum;
use meshctl_model::record::NodeRecord;
use meshctl_model::stack::Header;
use meshctl_plan::drift::{self, render, CheckedAt, DriftReport, IgnoreChanges};
use meshctl_provider::StackSettings;
use meshctl_state::{Change, StateStore};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// The text format of node_exporter's textfile collector.
    Prometheus,
}

#[derive(clap::Args)]
pub struct Args {
    /// The stack (its header: name, region, cluster access, backend; and, when it loads, each
    /// resource's lifecycle.ignore_changes; with the same --var/--var-file as apply had when the
    /// header uses vars).
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the report to FILE (through a temporary file and a rename, as the textfile
    /// collector needs) instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RefreshArgs {
    /// The stack (its header, and each resource's lifecycle.ignore_changes when it loads).
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Accept without asking (CI). Without it, meshctl asks on a terminal and refuses otherwise.
    #[arg(long)]
    auto_approve: bool,
}

/// Exit codes of `meshctl drift`.
const NO_DRIFT: u8 = 0;
const FAILED: u8 = 1;
const DRIFTED: u8 = 2;

pub fn run(args: &Args, providers: &ProviderFactory) -> Result<ExitCode> {
    let checked_at = now();
    // The stack's name labels the metrics of a failed check too, once the header gave it.
    let (stack, result) = match args.stack.header() {
        Ok(header) => {
            let result = check(
                &header,
                &args.stack,
                &args.state,
                "drift",
                providers,
                &checked_at,
            );
            (header.stack, result)
        }
        Err(error) => (String::new(), Err(error)),
    };
    match result {
        Ok((report, _state)) => {
            let text = match args.format {
                Format::Text => render::text(
                    &report,
                    args.output.is_none() && use_color(std::io::stdout().is_terminal()),
                ),
                Format::Json => render::json(&report) + "\n",
                Format::Markdown => render::markdown(&report),
                Format::Prometheus => render::prometheus(&report),
            };
            emit(args.output.as_deref(), &text)?;
            Ok(ExitCode::from(if report.has_drift() {
                DRIFTED
            } else {
                NO_DRIFT
            }))
        }
        Err(error) => {
            // The textfile collector still learns that the check ran and failed.
            if args.format == Format::Prometheus {
                let metrics = render::run_metrics(&stack, checked_at.unix, false);
                match emit(args.output.as_deref(), &metrics) {
                    Err(e) if !crate::output::is_stdout_closed(&e) => {
                        crate::output::errln!("error: {e:#}")
                    }
                    _ => {}
                }
            }
            crate::output::errln!("error: {error:#}");
            Ok(ExitCode::from(FAILED))
        }
    }
}

pub fn refresh(args: &RefreshArgs, providers: &ProviderFactory) -> Result<ExitCode> {
    let header = args.stack.header()?;
    let (report, state) = check(
        &header,
        &args.stack,
        &args.state,
        "refresh",
        providers,
        &now(),
    )?;
    crate::output::print(&render::text(
        &report,
        use_color(std::io::stdout().is_terminal()),
    ))?;
    if !report.has_drift() {
        crate::output::print("Nothing to accept into state.\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.auto_approve && !confirm("refresh", "Accept these live values into state?")? {
        crate::output::errln!("refresh cancelled; state was not changed.");
        return Ok(ExitCode::from(1));
    }
    let records = state.store.records()?;
    let acceptance = drift::accept_report(&records, &report);
    for (address, users) in &acceptance.kept {
        let users: Vec<String> = users.iter().map(ToString::to_string).collect();
        crate::output::errln!(
            "note: {address} stays in state although it was deleted: it is used by {}. Apply recreates it; or remove them all from the stack and apply.",
            users.join(", ")
        );
    }
    let changed = acceptance.changed();
    if changed.is_empty() {
        crate::output::print("Nothing could be accepted into state.\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let (kept, removed) = (acceptance.put.len(), acceptance.remove.len());
    state.store.commit(Change {
        // Accepted live values may hold secrets: state keeps them as digests.
        put: acceptance
            .put
            .into_iter()
            .map(meshctl_plan::recorded::recorded_record)
            .collect(),
        remove: acceptance.remove,
        ..Change::default()
    })?;
    let serial = state.store.finish("refresh", &changed)?;
    crate::output::errln!("refresh complete (state serial {serial}): accepted live values of {kept} resource(s), forgot {removed} deleted outside meshctl.");
    crate::output::errln!("`meshctl plan` shows what applying the stack would change back.");
    Ok(ExitCode::SUCCESS)
}

/// Opens the stack's state, reads the live world and compares the two.
fn check(
    header: &Header,
    stack: &StackArgs,
    state_args: &StateArgs,
    operation: &str,
    make_providers: &ProviderFactory,
    checked_at: &CheckedAt,
) -> Result<(DriftReport, OpenState)> {
    let stack_file = stack.file.as_path();
    let backend = header.backend.as_ref();
    let place = state_args.backend_for(&header.stack, backend, Some(stack_file))?;
    if !place.exists()? {
        // Checking creates no state: a missing one is the wrong directory, as an empty one is.
        anyhow::bail!(
            "state {} records no resources (it does not exist), so there is nothing to compare: apply the stack first, or point --state (or the stack's backend) at its state",
            place.describe()
        );
    }
    let state = state_args.open(&header.stack, backend, Some(stack_file), operation)?;
    let records: Vec<NodeRecord> = state.store.records()?;
    if records.is_empty() {
        // Most likely the wrong state directory (cron's working directory): saying "no drift"
        // there would be a silent false all-clear.
        anyhow::bail!(
            "state {} records no resources, so there is nothing to compare: apply the stack first, or point --state (or the stack's backend) at its state",
            state.location()
        );
    }
    let providers = make_providers(&StackSettings {
        stack: header.stack.clone(),
        region: header.region.clone(),
        kube: header.kube.clone(),
    });
    let live = read_live(&records, &providers)?.unwrap_or_default();
    let ignore = ignore_rules(stack);
    let report =
        drift::report_ignoring(&header.stack, &records, &live, &ignore, checked_at.clone());
    Ok((report, state))
}

/// The stack's `lifecycle.ignore_changes` by address. Only a stack that loads has them: one
/// with errors is compared field by field, and stderr says so.
fn ignore_rules(stack: &StackArgs) -> IgnoreChanges {
    let loaded = match (stack.source(), stack.overrides()) {
        (Ok(source), Ok(vars)) => meshctl_model::load(&source, &vars).stack,
        _ => None,
    };
    let Some(loaded) = loaded else {
        crate::output::errln!(
            "warning: {} does not load, so its lifecycle.ignore_changes are not applied and every field is compared (`meshctl validate` shows why)",
            stack.file.display()
        );
        return IgnoreChanges::new();
    };
    loaded
        .resources
        .into_iter()
        .filter(|r| !r.lifecycle.ignore_changes.is_empty())
        .map(|r| (r.address, r.lifecycle.ignore_changes))
        .collect()
}

fn now() -> CheckedAt {
    CheckedAt {
        rfc3339: meshctl_state::now_rfc3339(),
        unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    }
}

/// Prints the report, or writes it to `output` with `write_atomically`.
fn emit(output: Option<&Path>, text: &str) -> Result<()> {
    match output {
        None => crate::output::print(text),
        Some(path) => write_atomically(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display())),
    }
}
