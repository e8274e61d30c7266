//! `meshctl import ADDR ID -f STACK`: adopts an object made outside meshctl (by eksctl, helm,
//! istioctl, kubectl or the console) as the stack's resource ADDR, recording it in state with
//! everything it owns, so that the next `plan` shows where the stack and the object differ
//! (docs/adoption.md). Nothing is written to the live world; meshctl's tags and labels come with
//! the first apply.

use crate::input::StackArgs;
use crate::output::{errln, outln};
use crate::state_access::StateArgs;
use crate::ProviderFactory;
use anyhow::Result;
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::Address;
use meshctl_plan::ResourceChange;
use meshctl_plan::{Action, PlanOptions};
use meshctl_provider::{ErrorClass, Request};
use meshctl_state::Change;
use std::collections::BTreeMap;
use std::process::ExitCode;

use super::plan::{make_plan, parse_address, VarChangeArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The stack's resource to adopt the object as, KIND.NAME (e.g. vpc.main); it must be in the
    /// stack file and not yet in state.
    #[arg(value_name = "ADDRESS", value_parser = parse_address)]
    address: Address,
    /// The object's id, per kind: a VPC id, a cluster name, CLUSTER/NODEGROUP, a role name, a
    /// zone id, ZONEID/NAME/TYPE of a record, a certificate ARN, or NAMESPACE/NAME of the
    /// Kubernetes object, Helm release or IstioOperator (docs/adoption.md has the table).
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
    #[command(flatten)]
    var_change: VarChangeArgs,
}

pub fn run(args: &Args, providers: &ProviderFactory) -> Result<ExitCode> {
    let address = &args.address;
    // The resource is planned alone (with what it depends on), as a create: that gives its
    // fields with every reference the state can resolve, under the state's lock.
    let options = PlanOptions {
        targets: vec![address.clone()],
        ..PlanOptions::default()
    };
    // A stack with no state yet gets one only when the import succeeds: a refused import
    // changes nothing, on disk or in a bucket.
    let header = args.stack.header()?;
    let stack_file_path = args.stack.file.as_path();
    let existed = args.state.exists(
        &header.stack,
        header.backend.as_ref(),
        Some(stack_file_path),
    )?;
    let Some(planned) = make_plan(
        &args.stack,
        &args.state,
        &options,
        true,
        providers,
        "import",
        existed,
        args.var_change,
    )?
    else {
        return Ok(ExitCode::from(1));
    };
    let stack_file = args.stack.file.display();
    let recorded = match &planned.state {
        Some(state) => state.store.record(address)?.is_some(),
        None => false,
    };
    if recorded {
        let location = planned
            .state
            .as_ref()
            .map(|s| s.location())
            .unwrap_or_default();
        errln!(
            "error: {address} is already in the state in {location}: an import would replace what meshctl manages\n  \
             help: `meshctl state show {address} -f {stack_file}` shows its record; to adopt another object as it, \
             `meshctl state rm {address} -f {stack_file}` first (the object it records stays). Nothing was changed."
        );
        return Ok(ExitCode::from(1));
    }
    let Some(change) = planned.plan.changes.iter().find(|c| &c.address == address) else {
        errln!("error: {address} is not a resource of {stack_file}\n  help: add it to the stack file, as the object is, then import it. Nothing was changed.");
        return Ok(ExitCode::from(1));
    };
    if change.action == Action::Read {
        errln!("error: {address} is looked up (`existing`), not managed: there is nothing to import\n  help: remove `existing` to manage it with this stack, then import it. Nothing was changed.");
        return Ok(ExitCode::from(1));
    }
    let records = match &planned.state {
        Some(state) => state.store.records()?,
        None => Vec::new(),
    };
    let mut inputs: meshctl_provider::Inputs = records
        .iter()
        .filter(|r| change.depends_on.contains(&r.address))
        .map(|r| (r.address.clone(), r.outputs.clone()))
        .collect();
    // What the resource only looks up (an `existing` zone or control plane) is read now, as
    // apply reads it before its dependents.
    let looked_up: Vec<&ResourceChange> = planned
        .plan
        .changes
        .iter()
        .filter(|c| {
            c.action == Action::Read
                && change.depends_on.contains(&c.address)
                && !inputs.contains_key(&c.address)
        })
        .collect();
    for looked_up in looked_up {
        if let Some(outputs) = read_looked_up(looked_up, &planned.providers)? {
            inputs.insert(looked_up.address.clone(), outputs);
        }
    }
    let missing: Vec<String> = change
        .depends_on
        .iter()
        .filter(|a| !inputs.contains_key(a))
        .map(ToString::to_string)
        .collect();
    let mut desired = change.desired.clone().unwrap_or(serde_json::Value::Null);
    meshctl_plan::resolve_outputs(&mut desired, &|a, output| {
        inputs.get(a).and_then(|o| o.get(output)).cloned()
    });
    if !missing.is_empty() || meshctl_plan::is_unknown(&desired) {
        errln!(
            "error: {address} depends on {}, which the state does not record yet, so its fields are not known\n  \
             help: import (or apply) those first, then import {address}. Nothing was changed.",
            if missing.is_empty() { "outputs".to_string() } else { missing.join(", ") }
        );
        return Ok(ExitCode::from(1));
    }
    let Some(provider) = planned.providers.get(address.kind) else {
        anyhow::bail!("this build has no provider for {}", address.kind);
    };
    let request = Request {
        address,
        desired: &desired,
        inputs: &inputs,
    };
    let imported = crate::runtime::block_on(provider.import(&request, &args.id))?;
    let (fields, applied) = match imported {
        Ok(imported) => imported,
        Err(error) => {
            let what = if error.class == ErrorClass::NotFound {
                format!("there is no {} with the id `{}`", address.kind, args.id)
            } else {
                "the import was refused".to_string()
            };
            errln!(
                "error: import {address} {}: {what}: {}\n  Nothing was changed.",
                args.id,
                error.explained()
            );
            return Ok(ExitCode::from(1));
        }
    };
    let record = NodeRecord {
        address: address.clone(),
        // Unmarked until the first apply, which the next plan shows as an update.
        status: Status::Imported,
        desired: fields,
        live: Some(applied.live),
        outputs: applied.outputs,
        objects: applied.objects,
        dependencies: change.depends_on.clone(),
        prevent_destroy: change.prevent_destroy,
        accepted: Vec::new(),
    };
    let count = record.objects.len();
    // The state is made now, for a stack that had none; under its lock, the address must still
    // be free.
    let opened;
    let state = match &planned.state {
        Some(state) => state,
        None => {
            opened = args.state.open(
                &header.stack,
                header.backend.as_ref(),
                Some(stack_file_path),
                "import",
            )?;
            if opened.store.record(address)?.is_some() {
                errln!(
                    "error: {address} was recorded by another run meanwhile. Nothing was changed."
                );
                return Ok(ExitCode::from(1));
            }
            &opened
        }
    };
    state.store.commit(Change {
        put: vec![meshctl_plan::recorded::recorded_record(record)],
        ..Change::default()
    })?;
    let serial = state
        .store
        .finish("import", std::slice::from_ref(address))?;
    outln!(
        "Imported {} as {address} with {count} object(s) (state serial {serial}); nothing was changed in the live world.\n\
         Run `meshctl plan -f {stack_file}` to see where the stack and the object differ: the first apply puts them right and tags them.",
        args.id
    );
    Ok(ExitCode::SUCCESS)
}

/// The outputs of a looked-up resource the imported one depends on; `None` when it is not there
/// (the plan has already said so).
fn read_looked_up(
    change: &ResourceChange,
    providers: &meshctl_engine::Providers,
) -> Result<Option<BTreeMap<String, serde_json::Value>>> {
    let Some(provider) = providers.get(change.kind) else {
        return Ok(None);
    };
    let desired = change.desired.clone().unwrap_or(serde_json::Value::Null);
    let inputs = meshctl_provider::Inputs::new();
    let request = Request {
        address: &change.address,
        desired: &desired,
        inputs: &inputs,
    };
    let read = crate::runtime::block_on(provider.read(&request, &[]))?;
    Ok(read.ok().flatten().map(|applied| applied.outputs))
}
