//! `meshctl output [NAME] -f STACK [--format text|json]`: what a pipeline needs next (balancer DNS
//! names, certificate ARNs, the cluster endpoint, zone ids) read from state alone, never from
//! AWS. The stack's declared `outputs:` when it has them, else every recorded output of every
//! resource as `kind.name.output`; a `kind.name.output` is also accepted as NAME either way.
//! The JSON document is described in docs/outputs.md.

use crate::input::{stderr_color, StackArgs};
use crate::output::outln;
use crate::state_access::StateArgs;
use anyhow::{anyhow, Result};
use clap::ValueEnum;
use meshctl_model::interpolate::{interpolations, Expr};
use meshctl_model::record::NodeRecord;
use meshctl_model::stack::StackOutput;
use meshctl_model::{Address, Stack};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Version of the `--format json` document (docs/outputs.md); bumped on incompatible change.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// `NAME = VALUE` lines; with NAME, the value alone (a string without quotes).
    Text,
    /// The document of docs/outputs.md; with NAME, the value alone as JSON.
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// One output: a name from the stack's `outputs:`, or a recorded `kind.name.output`
    /// (e.g. alb.public.dns_name). Without it, every output.
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    state: StateArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// One output as shown: its value from state, or the references state has no value for.
struct Shown {
    name: String,
    description: Option<String>,
    /// The `kind.name.output` it reads.
    from: Vec<String>,
    /// `None` while one of `from` is not recorded (not applied yet, or deleted).
    value: Option<Value>,
    missing: Vec<String>,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let stack = load_stack(&args.stack)?;
    let state = args.state.open_read_only(
        &stack.header.stack,
        stack.header.backend.as_ref(),
        Some(&args.stack.file),
        "output",
    )?;
    let meta = state.store.meta()?;
    let records: BTreeMap<Address, NodeRecord> = state
        .store
        .records()?
        .into_iter()
        .map(|r| (r.address.clone(), r))
        .collect();
    let all = if stack.outputs.is_empty() {
        recorded_outputs(&records)
    } else {
        stack
            .outputs
            .iter()
            .map(|o| declared(o, &records))
            .collect()
    };
    let Some(name) = &args.name else {
        if records.is_empty() {
            crate::output::errln!(
                "note: the state in {} records nothing yet: apply the stack first",
                state.location()
            );
        }
        match args.format {
            Format::Json => outln!("{}", document(&stack, meta.serial, &all)),
            Format::Text => {
                for shown in &all {
                    outln!("{} = {}", shown.name, text_of(shown));
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let one = match all.into_iter().find(|s| &s.name == name) {
        Some(found) => found,
        None => match record_output(name, &records) {
            Some(found) => found,
            None => {
                crate::output::errln!("error: {}", unknown_name(name, &stack, &records));
                return Ok(ExitCode::from(1));
            }
        },
    };
    let Some(value) = &one.value else {
        crate::output::errln!(
            "error: output `{}` has no value yet: the state in {} records no {}; apply the stack first",
            one.name,
            state.location(),
            one.missing.join(", ")
        );
        return Ok(ExitCode::from(1));
    };
    let mut value = value.clone();
    meshctl_model::redact::redact_value(&mut value);
    match (args.format, &value) {
        (Format::Json, _) => outln!("{}", serde_json::to_string(&value)?),
        (Format::Text, Value::String(text)) => outln!("{text}"),
        (Format::Text, _) => outln!("{}", serde_json::to_string(&value)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// The stack, loaded and checked (its `outputs:` are checked as resources are): problems are
/// printed as `validate` prints them.
fn load_stack(args: &StackArgs) -> Result<Stack> {
    let source = args.source()?;
    let overrides = args.overrides().map_err(|problem| {
        let text = meshctl_model::diagnostic::render_text(
            &[problem.diagnostic],
            &problem.file,
            stderr_color(),
        );
        anyhow!("{}", text.trim_end())
    })?;
    let loaded = meshctl_model::load(&source, &overrides);
    match loaded.stack {
        Some(stack) => Ok(stack),
        None => {
            let errors: Vec<_> = loaded
                .diagnostics
                .into_iter()
                .filter(|d| d.is_error())
                .collect();
            crate::output::err!(
                "{}",
                meshctl_model::diagnostic::render_text(&errors, &source, stderr_color())
            );
            Err(anyhow!(
                "{} has errors; fix them (`meshctl validate -f {}`) to read its outputs",
                args.file.display(),
                args.file.display()
            ))
        }
    }
}

/// A declared output with its `${kind.name.output}` read from the records.
fn declared(output: &StackOutput, records: &BTreeMap<Address, NodeRecord>) -> Shown {
    let mut from = Vec::new();
    let mut missing = Vec::new();
    for item in interpolations(&output.value).map_while(Result::ok) {
        if let Expr::Output(reference) = item.expr {
            let address = Address::new(reference.kind, reference.name.clone());
            let name = format!("{address}.{}", reference.output);
            if recorded(records, &address, &reference.output).is_none() {
                missing.push(name.clone());
            }
            from.push(name);
        }
    }
    let mut value = Value::String(output.value.clone());
    meshctl_plan::resolve_outputs(&mut value, &|address, output| {
        recorded(records, address, output).cloned()
    });
    Shown {
        name: output.name.clone(),
        description: output.description.clone(),
        from,
        value: missing.is_empty().then_some(value),
        missing,
    }
}

fn recorded<'r>(
    records: &'r BTreeMap<Address, NodeRecord>,
    address: &Address,
    output: &str,
) -> Option<&'r Value> {
    records.get(address)?.outputs.get(output)
}

/// Without declared outputs: every recorded output, as `kind.name.output`, in address order.
fn recorded_outputs(records: &BTreeMap<Address, NodeRecord>) -> Vec<Shown> {
    records
        .values()
        .flat_map(|record| {
            record.outputs.iter().map(move |(output, value)| {
                let name = format!("{}.{output}", record.address);
                Shown {
                    name: name.clone(),
                    description: None,
                    from: vec![name],
                    value: Some(value.clone()),
                    missing: Vec::new(),
                }
            })
        })
        .collect()
}

/// `kind.name.output` read straight from its record.
fn record_output(name: &str, records: &BTreeMap<Address, NodeRecord>) -> Option<Shown> {
    let (address, output) = name.rsplit_once('.')?;
    let address = Address::parse(address)?;
    if !address.kind.schema().outputs.contains(&output) {
        return None;
    }
    let value = recorded(records, &address, output).cloned();
    Some(Shown {
        name: name.to_string(),
        description: None,
        from: vec![name.to_string()],
        missing: if value.is_none() {
            vec![name.to_string()]
        } else {
            Vec::new()
        },
        value,
    })
}

/// What to say of a NAME that names no output: the closest one, and what there is.
fn unknown_name(name: &str, stack: &Stack, records: &BTreeMap<Address, NodeRecord>) -> String {
    let declared: Vec<&str> = stack.outputs.iter().map(|o| o.name.as_str()).collect();
    let recorded: Vec<String> = records
        .values()
        .flat_map(|r| r.outputs.keys().map(move |o| format!("{}.{o}", r.address)))
        .collect();
    let candidates: Vec<&str> = if declared.is_empty() {
        recorded.iter().map(String::as_str).collect()
    } else {
        declared.clone()
    };
    let what = if declared.is_empty() {
        format!("the stack declares no outputs, and the state records no `{name}`")
    } else {
        format!("the stack declares no output `{name}`")
    };
    let help = match meshctl_model::de::closest(name, candidates.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None if candidates.is_empty() => {
            "there are no outputs yet: apply the stack first, or declare `outputs:`".to_string()
        }
        None => format!(
            "outputs: {}",
            candidates
                .iter()
                .take(20)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("{what}\n  help: {help} (`meshctl output -f STACK` lists them; kind.name.output reads any recorded output)")
}

/// The `--format json` document (docs/outputs.md).
fn document(stack: &Stack, serial: u64, all: &[Shown]) -> String {
    let mut outputs = Map::new();
    for shown in all {
        let mut entry = Map::new();
        entry.insert(
            "value".to_string(),
            shown.value.clone().unwrap_or(Value::Null),
        );
        entry.insert("known".to_string(), Value::Bool(shown.value.is_some()));
        if let Some(description) = &shown.description {
            entry.insert("description".to_string(), json!(description));
        }
        entry.insert("from".to_string(), json!(shown.from));
        if !shown.missing.is_empty() {
            entry.insert("missing".to_string(), json!(shown.missing));
        }
        outputs.insert(shown.name.clone(), Value::Object(entry));
    }
    let mut document = json!({
        "format_version": FORMAT_VERSION,
        "stack": stack.header.stack,
        "serial": serial,
        "declared": !stack.outputs.is_empty(),
        "outputs": outputs,
    });
    meshctl_model::redact::redact_value(&mut document);
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// A value for a `NAME = VALUE` line: strings as they are, anything else as JSON.
fn text_of(shown: &Shown) -> String {
    let text = match &shown.value {
        Some(Value::String(text)) => text.clone(),
        Some(value) => value.to_string(),
        None => format!("(not known: no {} in state)", shown.missing.join(", ")),
    };
    meshctl_model::diagnostic::escape_terminal(&text).into_owned()
}
