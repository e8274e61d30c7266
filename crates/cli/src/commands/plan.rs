//! `meshctl plan`: what apply would change, for review (text, JSON, Markdown) or to save.

use crate::input::{stderr_color, use_color, StackArgs, StackNow};
use crate::output::write_atomically;
use crate::state_access::{OpenState, StateArgs};
use crate::ProviderFactory;
use anyhow::{Context, Result};
use clap::ValueEnum;
use meshctl_engine::Providers;
use meshctl_model::diagnostic::render_text;
use meshctl_model::Address;
use meshctl_plan::{render, PlanInput, PlanOptions};
use meshctl_provider::StackSettings;
use meshctl_state::StateStore;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Read the live world before planning: changes made outside meshctl show as updates, deleted
    /// objects as creates. Kinds this build has no provider for keep their recorded state. Also
    /// looks up existing zones and VPCs (a missing one is an error); without it, their outputs
    /// are known after apply, which looks them up before changing anything.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    refresh: bool,
    /// Plan only this resource and what it depends on (repeatable), e.g. --target alb.public.
    #[arg(long = "target", value_name = "KIND.NAME", value_parser = parse_address)]
    targets: Vec<Address>,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Plan deleting everything in state.
    #[arg(long)]
    destroy: bool,
    /// Save the plan for `meshctl apply PLANFILE`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Output format: text, json (docs/plan-json.md) or markdown (a pull-request comment).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 0 with no changes, 2 with changes, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
    #[command(flatten)]
    var_change: VarChangeArgs,
}

/// Whether a plan may use other vars than the state was last applied with.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct VarChangeArgs {
    /// Plan even though the vars (their names or resolved values) differ from those of the
    /// state's last apply: you mean to change them. Without it such a plan is refused, since
    /// another environment's var file would turn this environment's state into that one.
    #[arg(long)]
    pub allow_var_change: bool,
}

/// `--replace` and `--exclude`, shared by plan and apply (docs/targeting.md).
#[derive(clap::Args, Clone, Default)]
pub struct SelectionArgs {
    /// Replace this resource although nothing forces it (repeatable), e.g. a wedged gateway:
    /// --replace ingress_gateway.public. What reads its outputs follows, as in any replacement.
    #[arg(long = "replace", value_name = "KIND.NAME", value_parser = parse_address)]
    pub replace: Vec<Address>,
    /// Plan everything but this resource and every resource that depends on it (repeatable),
    /// as OpenTofu's -exclude.
    #[arg(long = "exclude", value_name = "KIND.NAME", value_parser = parse_address, conflicts_with = "targets")]
    pub exclude: Vec<Address>,
}

pub fn parse_address(text: &str) -> Result<Address, String> {
    Address::parse(text).ok_or_else(|| format!("`{text}` is not kind.name, e.g. alb.public"))
}

pub fn run(args: &Args, providers: &ProviderFactory) -> Result<ExitCode> {
    let options = PlanOptions {
        targets: args.targets.clone(),
        replace: args.selection.replace.clone(),
        exclude: args.selection.exclude.clone(),
        destroy: args.destroy,
    };
    let Some(planned) = make_plan(
        &args.stack,
        &args.state,
        &options,
        args.refresh,
        providers,
        "plan",
        args.out.is_some(),
        args.var_change,
    )?
    else {
        return Ok(ExitCode::from(1));
    };
    let plan = planned.plan;
    // Saved before printing, so a reader that stops early (`| head`) still gets the file.
    if let (Some(out), Some(made_from)) = (&args.out, &planned.made_from) {
        write_atomically(out, &meshctl_plan::encode(&plan, made_from))
            .with_context(|| format!("cannot write plan file {}", out.display()))?;
        crate::output::errln!(
            "Saved the plan to {} (state serial {}).",
            out.display(),
            plan.serial
        );
    }
    print_plan(&plan, args.format)?;
    Ok(ExitCode::from(
        if args.detailed_exitcode && plan.has_changes() {
            2
        } else {
            0
        },
    ))
}

/// Prints a plan to stdout in the chosen format.
pub fn print_plan(plan: &meshctl_plan::Plan, format: Format) -> Result<()> {
    crate::output::print(&match format {
        Format::Text => render::text(plan, use_color(std::io::stdout().is_terminal())),
        Format::Json => render::json(plan) + "\n",
        Format::Markdown => render::markdown(plan),
    })
}

/// Reads a saved plan and opens (locks) the state it was made for; `None` (reported on stderr)
/// when the plan is stale, foreign, or made from another version of `stack` or other var values.
pub fn open_saved_plan(
    file: &std::path::Path,
    stack: Option<&StackArgs>,
    state_args: &StateArgs,
    operation: &str,
    make_providers: &ProviderFactory,
) -> Result<Option<Planned>> {
    let bytes =
        std::fs::read(file).with_context(|| format!("cannot read plan file {}", file.display()))?;
    let saved =
        meshctl_plan::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let now = stack.map(StackNow::load).transpose()?;
    let backend = now.as_ref().and_then(|now| now.header.backend.as_ref());
    let stack_file = stack.map(|s| s.file.as_path());
    let place = state_args.backend_for(&saved.plan.stack, backend, stack_file)?;
    if !place.exists()? {
        // The plan was made against a state (`plan --out` creates it); a missing one is the wrong
        // place, and opening it would create an empty one there. It is refused as any other
        // state would be, compared as the fresh state it would be.
        let fresh = meshctl_state::MemoryStore::new(&saved.plan.stack).meta()?;
        let refusal =
            meshctl_plan::check_current(&saved, &fresh.stack, &fresh.lineage, fresh.serial, None)
                .err()
                .map_or_else(String::new, |e| format!("{e}\n  "));
        crate::output::errln!(
            "error: {}: {refusal}there is no state in {}: give the stack file (-f STACK) or the state's directory (--state DIR)",
            file.display(),
            place.describe()
        );
        return Ok(None);
    }
    let state = state_args.open(&saved.plan.stack, backend, stack_file, operation)?;
    let meta = state.store.meta()?;
    let compared = now.as_ref().map(|now| meshctl_plan::StackNow {
        stack_digest: &now.stack_digest,
        made_from: &now.made_from,
    });
    if let Err(e) = meshctl_plan::check_current(
        &saved,
        &meta.stack,
        &meta.lineage,
        meta.serial,
        compared.as_ref(),
    ) {
        crate::output::errln!("error: {}: {e}", file.display());
        return Ok(None);
    }
    let meshctl_plan::SavedPlan { plan, made_from } = saved;
    let providers = make_providers(&StackSettings {
        stack: plan.stack.clone(),
        region: plan.region.clone(),
        kube: plan.kube.clone(),
    });
    // What the plan reads must still be there, or applying it would fail half-way.
    let requests = meshctl_plan::plan_lookups(&plan, &state.store.records()?);
    if let Some(lookups) = look_up(&requests, &providers)? {
        let missing = meshctl_plan::missing_lookups(&lookups);
        if !missing.is_empty() {
            let source = meshctl_model::SourceFile::new(file.display().to_string(), String::new());
            crate::output::err!("{}", render_text(&missing, &source, stderr_color()));
            return Ok(None);
        }
    }
    Ok(Some(Planned {
        plan,
        state: Some(state),
        providers,
        made_from,
    }))
}

/// Reads the live world for every recorded resource a provider of this build handles.
pub fn read_live(
    prior: &[meshctl_model::record::NodeRecord],
    providers: &Providers,
) -> Result<Option<meshctl_plan::LiveWorld>> {
    if prior.is_empty() {
        return Ok(None);
    }
    let unread = prior
        .iter()
        .filter(|r| providers.get(r.address.kind).is_none())
        .count();
    if unread > 0 {
        crate::output::errln!("note: {unread} recorded resource(s) were not read from the live world: this build has no provider for their kinds; the plan uses their recorded state");
    }
    if unread == prior.len() {
        return Ok(None);
    }
    let live = crate::runtime::block_on(meshctl_engine::refresh(
        prior,
        providers,
        &meshctl_engine::ApplyOptions::default(),
    ))??;
    Ok(Some(live))
}

/// Looks up the resources the stack uses but does not manage; `None` when there are none.
fn look_up(
    requests: &[meshctl_plan::LookupRequest],
    providers: &Providers,
) -> Result<Option<meshctl_plan::Lookups>> {
    if requests.is_empty() {
        return Ok(None);
    }
    let lookups = crate::runtime::block_on(meshctl_engine::lookup(
        requests,
        providers,
        &meshctl_engine::ApplyOptions::default(),
    ))??;
    Ok(Some(lookups))
}

/// Reads the live objects the stack's `import:` blocks name; `None` when there are none.
fn read_imports(
    requests: &[meshctl_plan::ImportRequest],
    prior: &[meshctl_model::record::NodeRecord],
    lookups: Option<&meshctl_plan::Lookups>,
    providers: &Providers,
) -> Result<Option<meshctl_plan::Imports>> {
    if requests.is_empty() {
        return Ok(None);
    }
    let imports = crate::runtime::block_on(meshctl_engine::read_imports(
        requests,
        prior,
        lookups,
        providers,
        &meshctl_engine::ApplyOptions::default(),
    ))??;
    Ok(Some(imports))
}

/// A plan and the locked state it was made against.
pub struct Planned {
    pub plan: meshctl_plan::Plan,
    /// `None` when a `plan` that saves nothing found no state directory: it created none.
    pub state: Option<OpenState>,
    /// The providers, configured for the plan's stack and region.
    pub providers: Providers,
    /// The stack file and var values the plan was made from (absent in old plan files).
    pub made_from: Option<meshctl_plan::MadeFrom>,
}

/// Loads and checks the stack, opens and locks its state, and plans. `None` when problems were
/// reported (to stderr) and the command should exit 1. `writes_state`: the command writes the
/// state (or a plan bound to it), so a missing state directory is created; otherwise a missing
/// one is planned against as empty and left missing. A var set other than the state's last
/// apply's is refused unless `var_change` allows it.
#[allow(clippy::too_many_arguments)] // each is one command-line choice, named at every call
pub fn make_plan(
    stack: &StackArgs,
    state_args: &StateArgs,
    options: &PlanOptions,
    refresh: bool,
    make_providers: &ProviderFactory,
    operation: &str,
    writes_state: bool,
    var_change: VarChangeArgs,
) -> Result<Option<Planned>> {
    let stack_file = stack.file.clone();
    let source = stack.source()?;
    let vars = match stack.overrides() {
        Ok(vars) => vars,
        Err(problem) => {
            crate::output::err!(
                "{}",
                render_text(&[problem.diagnostic], &problem.file, stderr_color())
            );
            return Ok(None);
        }
    };
    let (checked, diagnostics) = meshctl_graph::validate(&source, &vars);
    crate::output::err!("{}", render_text(&diagnostics, &source, stderr_color()));
    let Some((stack, graph)) = checked else {
        return Ok(None);
    };
    let made_from = meshctl_plan::MadeFrom::new(&source.text, &stack.vars);

    let providers = make_providers(&StackSettings {
        stack: stack.name().to_string(),
        region: stack.header.region.clone(),
        kube: stack.header.kube.clone(),
    });
    let backend = stack.header.backend.as_ref();
    let state = if writes_state || state_args.exists(stack.name(), backend, Some(&stack_file))? {
        Some(state_args.open(stack.name(), backend, Some(&stack_file), operation)?)
    } else {
        None
    };
    let store: &dyn StateStore = match &state {
        Some(state) => &state.store,
        None => &meshctl_state::MemoryStore::new(stack.name()),
    };
    let meta = store.meta()?;
    if let Err(changed) = meshctl_plan::check_var_set(
        meta.var_set.as_deref(),
        meta.serial,
        &meshctl_plan::VarSet::of(&made_from),
    ) {
        let location = state.as_ref().map_or_else(String::new, |s| s.location());
        if !var_change.allow_var_change {
            crate::output::errln!(
                "error: the state in {location}: {changed}\n  Nothing was changed."
            );
            return Ok(None);
        }
        crate::output::errln!(
            "warning: the state in {location} was last applied with other vars ({}); planning with these, as --allow-var-change says.",
            changed.differences.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        );
    }
    let prior = store.records()?;
    let journal = store.journal()?;
    let interrupted: Vec<(Address, meshctl_state::Operation)> = journal
        .iter()
        .map(|j| (j.address.clone(), j.operation))
        .collect();
    // What the state knows of the live world: the census leaves these objects alone.
    let known: Vec<meshctl_model::record::OwnedObject> = prior
        .iter()
        .flat_map(|r| r.objects.iter().cloned())
        .chain(journal.iter().flat_map(|j| j.objects.iter().cloned()))
        .collect();
    let live = if refresh {
        read_live(&prior, &providers)?
    } else {
        None
    };
    let mut input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior: &prior,
        interrupted: &interrupted,
        live: live.as_ref(),
        lookups: None,
        imports: None,
        lineage: &meta.lineage,
        serial: meta.serial,
        options,
    };
    // Looked-up resources are found now, so a missing one stops the plan (as refresh, skipped
    // with --refresh=false: apply always plans with both).
    let lookups = if refresh {
        look_up(&meshctl_plan::lookups_to_make(&input), &providers)?
    } else {
        None
    };
    input.lookups = lookups.as_ref();
    // `import:` blocks are read whatever --refresh says: the plan cannot know an object it has
    // not read.
    let imports = read_imports(
        &meshctl_plan::imports_to_make(&input),
        &prior,
        lookups.as_ref(),
        &providers,
    )?;
    input.imports = imports.as_ref();
    let plan = match meshctl_plan::plan(&input) {
        Ok(plan) => plan,
        Err(errors) => {
            crate::output::err!("{}", render_text(&errors, &source, stderr_color()));
            return Ok(None);
        }
    };
    // Before creating anything, the world is searched for this stack's objects the state does
    // not know (a missing or wrong state). `plan --refresh=false` reads nothing live; apply
    // always looks, since it is about to create in that world.
    if refresh || operation != "plan" {
        let state_dir = state_args
            .backend_for(stack.name(), backend, Some(&stack_file))?
            .describe();
        let in_flight: Vec<Address> = interrupted.iter().map(|(a, _)| a.clone()).collect();
        let required = operation != "plan";
        if !census_is_clear(&plan, &known, &in_flight, &providers, &state_dir, required)? {
            return Ok(None);
        }
    }
    Ok(Some(Planned {
        plan,
        state,
        providers,
        made_from: Some(made_from),
    }))
}

/// Whether the plan may create what it creates: no object carrying this stack's mark is unknown
/// to the state. Otherwise the objects are listed on stderr with the ways out.
fn census_is_clear(
    plan: &meshctl_plan::Plan,
    known: &[meshctl_model::record::OwnedObject],
    in_flight: &[Address],
    providers: &Providers,
    state_dir: &str,
    required: bool,
) -> Result<bool> {
    if !plan.changes.iter().any(|c| {
        matches!(
            c.action,
            meshctl_plan::Action::Create | meshctl_plan::Action::Replace
        )
    }) {
        return Ok(true);
    }
    let mut options = meshctl_engine::ApplyOptions::default();
    if !required {
        // Best effort: one attempt, so a plan without credentials is not held up by backoff.
        options.retry.max_attempts = 1;
    }
    let unknown = match crate::runtime::block_on(meshctl_engine::unknown_objects(
        plan,
        known,
        in_flight,
        providers,
        &options,
    ))? {
        Ok(unknown) => unknown,
        // A plan is still worth reading where the world cannot be reached (no credentials);
        // apply, which is about to create there, cannot go on without the census.
        Err(error) if !required => {
            crate::output::errln!("warning: could not look for objects of this stack that the state does not know: {error}\n  apply looks again before creating anything.");
            return Ok(true);
        }
        Err(error) => {
            return Err(anyhow::Error::new(error).context(
                "cannot look for objects of this stack that the state does not know; nothing was changed",
            ))
        }
    };
    if unknown.is_empty() {
        return Ok(true);
    }
    let list: Vec<String> = unknown
        .iter()
        .map(|found| {
            format!(
                "  {} {} ({})",
                found.object.kind,
                found.object.id,
                found.address.as_deref().unwrap_or("no meshctl:address tag")
            )
        })
        .collect();
    crate::output::errln!(
        "error: these objects carry the tag of stack `{stack}` but the state in {dir} does not know them:\n{list}\n  \
         Creating now would build a second copy beside them. The state is missing or not this one:\n  \
         help: point --state (or the stack's `backend`) at the stack's real state; if its database was lost, \
         `meshctl state restore-backup --state DIR` brings back its backup; or, if they are leftovers \
         of a state that is gone for good, delete them. Nothing was changed.",
        stack = plan.stack,
        dir = state_dir,
        list = list.join("\n"),
    );
    Ok(false)
}
