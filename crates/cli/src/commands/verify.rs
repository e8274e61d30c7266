//! `meshctl verify -f STACK`: every host the stack serves, its live traffic path checked link by
//! link (meshctl-verify does the work). Exit 0 all good, 2 some path broken, 1 could not check.
//! Ids it needs (balancer ARNs, zone ids, the cluster's endpoint) come from state read without
//! the lock, as `drift` reads it. The report is kept beside the state (`last_report_path`) for
//! `graph --format svg` (docs/verify.md).

use crate::input::{use_color, StackArgs};
use crate::state_access::StateArgs;
use anyhow::{anyhow, bail, Result};
use clap::ValueEnum;
use meshctl_graph::traffic::TrafficModel;
use meshctl_model::record::NodeRecord;
use meshctl_model::stack::{Backend as StackBackend, Header};
use meshctl_model::{Address, Stack};
use meshctl_provider::StackSettings;
use meshctl_verify::read::{Clients, ReadInput};
use meshctl_verify::{last, render, Report, Status};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Exit codes of `meshctl verify`.
const ALL_GOOD: u8 = 0;
const COULD_NOT_CHECK: u8 = 1;
const BROKEN: u8 = 2;

/// How long `apply --verify` waits for targets, pods and endpoints still settling (an ALB marks
/// a new target healthy after its healthy-threshold of checks: 5 × 15 s by default).
const SETTLE_FOR: std::time::Duration = std::time::Duration::from_secs(120);
const SETTLE_POLL: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    /// The document of docs/verify.md.
    Json,
    Markdown,
    /// The traffic picture (as `graph --format svg`), each link coloured by this run.
    Svg,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    match verify(&args.stack, &args.state) {
        Ok((report, model)) => {
            let text = match args.format {
                Format::Text => render::text(&report, use_color(std::io::stdout().is_terminal())),
                Format::Json => render::json(&report) + "\n",
                Format::Markdown => render::markdown(&report),
                Format::Svg => meshctl_graph::picture::render_svg(
                    &model,
                    &crate::commands::graph::picture_statuses(&report.links),
                ),
            };
            crate::output::print(&text)?;
            Ok(ExitCode::from(if report.broken() {
                BROKEN
            } else {
                ALL_GOOD
            }))
        }
        Err(error) => {
            crate::output::errln!("error: {error:#}");
            Ok(ExitCode::from(COULD_NOT_CHECK))
        }
    }
}

/// `apply --verify`: verifies after a successful apply. `Ok(true)` when every path works; a
/// broken path is printed (text) and is `Ok(false)`.
pub fn after_apply(stack: &StackArgs, state: &StateArgs) -> Result<bool> {
    // Right after an apply, new targets are still in their first health checks and new pods
    // starting: what looks like a rollout in progress is looked at again for a while.
    let started = Instant::now();
    let (mut report, _) = verify(stack, state)?;
    while report.broken() && report.only_settling() && started.elapsed() < SETTLE_FOR {
        std::thread::sleep(SETTLE_POLL);
        report = verify(stack, state)?.0;
    }
    let text = render::text(&report, use_color(std::io::stdout().is_terminal()));
    crate::output::print(&format!("\nVerifying the traffic paths:\n{text}"))?;
    Ok(!report.broken())
}

/// Reads the world, checks every path, and keeps the report for the picture; with the traffic
/// model it checked.
fn verify(stack_args: &StackArgs, state_args: &StateArgs) -> Result<(Report, TrafficModel)> {
    let stack = load(stack_args)?;
    let header = &stack.header;
    let state = state_args.open_read_only(
        &header.stack,
        header.backend.as_ref(),
        Some(&stack_args.file),
        "verify",
    )?;
    let records: Vec<NodeRecord> = state.store.records()?;
    if records.is_empty() {
        bail!(
            "state {} records no resources, so there is no traffic path to check: apply the stack first, or point --state (or the stack's backend) at its state",
            state.location()
        );
    }
    let outputs: BTreeMap<Address, BTreeMap<String, Value>> = records
        .into_iter()
        .map(|r| (r.address, r.outputs))
        .collect();
    drop(state);
    let model = meshctl_graph::traffic::traffic(&stack);
    if model.hosts.is_empty() {
        crate::output::errln!(
            "note: {} serves no host (no dns_record aliases a balancer): nothing to check",
            stack_args.file.display()
        );
    }
    let settings = StackSettings {
        stack: header.stack.clone(),
        region: header.region.clone(),
        kube: header.kube.clone(),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let input = ReadInput {
        model: &model,
        outputs: &outputs,
        zone_domains: meshctl_verify::read::zone_domains(&stack),
        now_unix: now,
    };
    let started = Instant::now();
    let snapshot = crate::runtime::block_on(async {
        let clients = Clients::connect(&settings, &outputs).await?;
        meshctl_verify::read::read(&input, &clients).await
    })??;
    let read_ms = started.elapsed().as_millis() as u64;
    let report = meshctl_verify::check(
        &model,
        &snapshot,
        &header.stack,
        &meshctl_state::now_rfc3339(),
        read_ms,
    );
    let kept = last_report_path(header, stack_args, state_args)
        .and_then(|path| last::save(&path, &report).map_err(anyhow::Error::from));
    if let Err(error) = kept {
        // The check itself worked: its result still counts.
        crate::output::errln!("warning: {error:#}");
    }
    Ok((report, model))
}

fn load(args: &StackArgs) -> Result<Stack> {
    let source = args.source()?;
    let overrides = args
        .overrides()
        .map_err(|problem| anyhow!("{}", problem.diagnostic.message))?;
    meshctl_model::load(&source, &overrides)
        .stack
        .ok_or_else(|| {
            anyhow!(
                "{} has errors; run `meshctl validate -f {}` (with the same vars)",
                args.file.display(),
                args.file.display()
            )
        })
}

/// Where the last verify report of a stack is kept: `last-verify.json` in its local state
/// directory; with an S3 backend, in `.meshctl/<stack>/` beside the stack file.
pub fn last_report_path(header: &Header, stack: &StackArgs, state: &StateArgs) -> Result<PathBuf> {
    let dir = match &header.backend {
        Some(StackBackend::S3(_)) if state.dir.is_none() => stack
            .file
            .parent()
            .unwrap_or(Path::new(""))
            .join(".meshctl")
            .join(&header.stack),
        backend => state.dir_for(&header.stack, backend.as_ref(), Some(&stack.file))?,
    };
    Ok(dir.join(last::FILE_NAME))
}

/// Each traffic-model link's status in the stack's last verify report (link id → status), or
/// `None` when verify has not run for it: what `graph --format svg` colours by.
pub fn last_link_status(
    stack: &StackArgs,
    state: &StateArgs,
) -> Result<Option<BTreeMap<String, Status>>> {
    let header = stack.header()?;
    let path = last_report_path(&header, stack, state)?;
    Ok(last::link_status(&path)?)
}
