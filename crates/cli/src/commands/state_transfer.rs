//! Whole states moved as one: `meshctl state pull` (the state as JSON on stdout), `state push
//! FILE` (a pulled or errored-state file put back) and `state migrate --to-backend` (a state moved
//! from a directory or an S3 object to the stack's backend, as `terraform init -migrate-state`).
//! Whether a state may replace another is the state crate's rule (`check_replace`): these
//! commands read, lock and report.

use crate::input::StackArgs;
use crate::output::outln;
use crate::state_access::{explain_for, StateArgs};
use anyhow::{bail, Context, Result};
use meshctl_model::stack::{Backend as StackBackend, S3Backend};
use meshctl_state::{Backend, Snapshot, StateStore};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PullArgs {
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// A state as `meshctl state pull` printed it, or the errored-state file a run wrote when it
    /// could not save its state.
    #[arg(value_name = "FILE")]
    state_file: PathBuf,
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Replace the state even if the file is of another lineage or stack, or older than what the
    /// backend holds (that state's records are then lost from it).
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Move the state to the stack's backend (`backend:` in the stack file, or --state DIR): the
    /// direction, spelled out.
    #[arg(long, required = true)]
    to_backend: bool,
    /// Where the state is now: a directory, or s3://BUCKET/KEY. Default: the directory the stack
    /// used before it had a backend, state/<stack> beside the stack file.
    #[arg(long, value_name = "DIR|s3://BUCKET/KEY")]
    from: Option<String>,
    /// The region of the --from bucket (default: the stack's backend's region if it is S3, else
    /// the stack's region).
    #[arg(long, value_name = "REGION", requires = "from")]
    from_region: Option<String>,
}

/// `meshctl state pull`: the whole state — meta (lineage, serial, var set), records, open
/// journal, history — as JSON on stdout, in the form `state push` reads. Needs no lock.
pub fn pull(args: &PullArgs) -> Result<ExitCode> {
    let header = args.stack.header()?;
    if !args.state.exists(
        &header.stack,
        header.backend.as_ref(),
        Some(&args.stack.file),
    )? {
        let backend = args.state.backend_for(
            &header.stack,
            header.backend.as_ref(),
            Some(&args.stack.file),
        )?;
        bail!(
            "there is no state in {} (nothing was applied there yet, or the stack's backend or vars name another place)",
            backend.describe()
        );
    }
    let state = args.state.open_read_only_for(&args.stack, "state pull")?;
    let snapshot = state
        .store
        .snapshot()
        .map_err(|e| explain_for(e, state.backend.as_ref()))?;
    outln!("{}", serde_json::to_string_pretty(&snapshot)?);
    Ok(ExitCode::SUCCESS)
}

/// Reads a state file as `state pull` writes it.
fn read_state_file(file: &std::path::Path) -> Result<Snapshot> {
    let bytes = std::fs::read(file)
        .with_context(|| format!("cannot read state file {}", file.display()))?;
    let snapshot: Snapshot = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a meshctl state (as `meshctl state pull` prints it, or an errored-state file)",
            file.display()
        )
    })?;
    if snapshot.meta.format_version > meshctl_state::FORMAT_VERSION {
        bail!(
            "{} was written by a newer meshctl (state format {}, this build reads up to {}); upgrade meshctl",
            file.display(),
            snapshot.meta.format_version,
            meshctl_state::FORMAT_VERSION
        );
    }
    Ok(snapshot)
}

/// `meshctl state push FILE`: replaces the stack's state with the file's, under its lock; refused
/// for another stack or lineage, or an older serial, unless --force.
pub fn push(args: &PushArgs) -> Result<ExitCode> {
    let snapshot = read_state_file(&args.state_file)?;
    let header = args.stack.header()?;
    if snapshot.meta.stack != header.stack && !args.force {
        bail!(
            "{} holds the state of stack `{}`, not `{}` ({}); push it with that stack's file, or replace this one anyway with --force",
            args.state_file.display(),
            snapshot.meta.stack,
            header.stack,
            args.stack.file.display()
        );
    }
    let (lineage, records) = (snapshot.meta.lineage.clone(), snapshot.records.len());
    let journal = snapshot.journal.len();
    let state = args.state.open_for(&args.stack, "state push")?;
    let serial = state
        .store
        .replace(snapshot, args.force)
        .map_err(|e| explain_for(e, state.backend.as_ref()))?;
    outln!(
        "Pushed {} to {}: lineage {lineage}, serial {serial}, {records} record(s).",
        args.state_file.display(),
        state.location()
    );
    if journal > 0 {
        outln!("{journal} operation(s) were in flight in it: `meshctl plan` shows what they left, and apply repairs it.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `meshctl state migrate --to-backend`: copies the state from `--from` to the stack's backend
/// under both locks, reads the copy back to verify it, and only then retires the source (a
/// directory is renamed aside; an S3 object is left for the user to delete). Refused when the
/// target holds a state of another lineage, or a newer serial of this one.
pub fn migrate(args: &MigrateArgs) -> Result<ExitCode> {
    let header = args.stack.header()?;
    let stack = header.stack.as_str();
    let stack_file = Some(args.stack.file.as_path());
    let target = args
        .state
        .backend_for(stack, header.backend.as_ref(), stack_file)?;
    let (source, source_dir) = source_backend(args, &header)?;
    if source.describe() == target.describe() {
        bail!(
            "the state is already in {}, the stack's backend; name where it is now with --from DIR or --from s3://BUCKET/KEY",
            target.describe()
        );
    }
    if !source
        .exists()
        .map_err(|e| explain_for(e, source.as_ref()))?
    {
        bail!(
            "there is no state in {} to migrate; name where it is with --from DIR or --from s3://BUCKET/KEY",
            source.describe()
        );
    }
    let source_lock =
        args.state
            .lock_backend(source.as_ref(), "state migrate", args.state.lock_timeout)?;
    let target_lock =
        args.state
            .lock_backend(target.as_ref(), "state migrate", args.state.lock_timeout)?;
    let source_store = source
        .open(stack)
        .map_err(|e| explain_for(e, source.as_ref()))?;
    let moving = source_store
        .snapshot()
        .map_err(|e| explain_for(e, source.as_ref()))?;
    let target_store = target
        .open(stack)
        .map_err(|e| explain_for(e, target.as_ref()))?;
    let before = target_store
        .snapshot()
        .map_err(|e| explain_for(e, target.as_ref()))?;
    let already_there = before.meta.lineage == moving.meta.lineage
        && before.meta.serial == moving.meta.serial
        && before.records == moving.records
        && before.journal == moving.journal;
    if !already_there {
        if !meshctl_state::is_empty(&before) && before.meta.lineage != moving.meta.lineage {
            bail!(
                "{} already holds a state of another lineage ({}, serial {}, {} record(s)) than {} ({}): they record different objects, and migrate never replaces one. Nothing was changed.\n  \
                 help: if the target's state is obsolete, `meshctl state pull` it to keep a copy and remove it; then migrate again",
                target.describe(),
                before.meta.lineage,
                before.meta.serial,
                before.records.len(),
                source.describe(),
                moving.meta.lineage
            );
        }
        target_store
            .replace(moving.clone(), false)
            .map_err(|e| explain_for(e, target.as_ref()))
            .with_context(|| format!("nothing was changed in {}", source.describe()))?;
    }
    drop(target_store);
    verify(target.as_ref(), stack, &moving)?;
    drop(source_store);
    outln!(
        "Migrated the state of `{stack}` from {} to {}: lineage {}, serial {}, {} record(s){}.",
        source.describe(),
        target.describe(),
        moving.meta.lineage,
        moving.meta.serial,
        moving.records.len(),
        if already_there {
            " (it was already there)"
        } else {
            ""
        }
    );
    drop(target_lock);
    drop(source_lock);
    retire(source.as_ref(), source_dir)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the target back through a fresh store and compares it with what was moved.
fn verify(target: &dyn Backend, stack: &str, moved: &Snapshot) -> Result<()> {
    let written = target
        .open(stack)
        .and_then(|store| store.snapshot())
        .map_err(|e| explain_for(e, target))?;
    let same = written.meta.lineage == moved.meta.lineage
        && written.meta.serial >= moved.meta.serial
        && written.records == moved.records
        && written.journal == moved.journal;
    if !same {
        bail!(
            "the state written to {} does not read back as it was sent (lineage {}, serial {}, {} record(s) read; lineage {}, serial {}, {} record(s) sent); the source is kept as it was",
            target.describe(),
            written.meta.lineage,
            written.meta.serial,
            written.records.len(),
            moved.meta.lineage,
            moved.meta.serial,
            moved.records.len()
        );
    }
    Ok(())
}

/// Where `--from` says the state is now, and its directory when it is a local one.
fn source_backend(
    args: &MigrateArgs,
    header: &meshctl_model::stack::Header,
) -> Result<(Box<dyn Backend>, Option<PathBuf>)> {
    let stack_file = Some(args.stack.file.as_path());
    let place = |dir: Option<PathBuf>| StateArgs {
        dir,
        lock_timeout: args.state.lock_timeout,
    };
    let local = |dir: PathBuf| -> Result<(Box<dyn Backend>, Option<PathBuf>)> {
        let backend = place(Some(dir.clone())).backend_for(&header.stack, None, stack_file)?;
        Ok((backend, Some(dir)))
    };
    match args.from.as_deref() {
        None => local(place(None).dir_for(&header.stack, None, stack_file)?),
        Some(url) if url.starts_with("s3://") => {
            let Some((bucket, key)) = url["s3://".len()..].split_once('/') else {
                bail!("--from {url}: write s3://BUCKET/KEY, e.g. s3://acme-meshctl-state/meshctl/prod.json");
            };
            if bucket.is_empty() || key.is_empty() {
                bail!("--from {url}: write s3://BUCKET/KEY, e.g. s3://acme-meshctl-state/meshctl/prod.json");
            }
            let region = args
                .from_region
                .clone()
                .unwrap_or_else(|| match &header.backend {
                    Some(StackBackend::S3(s3)) => s3.region.clone(),
                    _ => header.region.clone(),
                });
            let s3 = StackBackend::S3(S3Backend {
                bucket: bucket.to_string(),
                key: key.to_string(),
                region,
                kms_key_id: None,
            });
            Ok((
                place(None).backend_for(&header.stack, Some(&s3), stack_file)?,
                None,
            ))
        }
        Some(dir) => local(PathBuf::from(dir)),
    }
}

/// After a verified move the source must not be taken for the state any more: a directory is
/// renamed aside (kept, not deleted); an S3 object cannot be renamed, so the user is told to
/// remove it once every checkout of the stack points at the new backend.
fn retire(source: &dyn Backend, source_dir: Option<PathBuf>) -> Result<()> {
    let Some(dir) = source_dir else {
        crate::output::errln!(
            "note: {} still holds the old copy, now out of date. Delete it (`aws s3 rm {}`) once no checkout of the stack points there any more.",
            source.describe(),
            source.describe()
        );
        return Ok(());
    };
    let stamp = meshctl_state::now_rfc3339().replace(':', "");
    let mut aside = dir.clone().into_os_string();
    aside.push(format!(".migrated-{stamp}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(&dir, &aside).with_context(|| {
        format!(
            "the state was migrated, but its old directory {} could not be renamed aside; remove it by hand",
            dir.display()
        )
    })?;
    outln!(
        "The old state directory is kept as {}; delete it once you no longer need it.",
        aside.display()
    );
    Ok(())
}
