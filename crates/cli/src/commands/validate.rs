//! `meshctl validate`: load a stack, check it, and print every diagnostic (text or JSON).

use crate::input::{stderr_color, StackArgs};
use anyhow::Result;
use clap::ValueEnum;
use meshctl_model::diagnostic::render_text;
use meshctl_model::{Diagnostic, SourceFile};
use std::process::ExitCode;

/// Version of the `--format json` document; bumped on any incompatible change.
pub const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let source = args.stack.source()?;
    let (source, diagnostics, resources) = match args.stack.overrides() {
        Err(problem) => (problem.file, vec![problem.diagnostic], 0),
        Ok(vars) => {
            let (checked, diagnostics) = meshctl_graph::validate(&source, &vars);
            let resources = checked.map(|(stack, _)| stack.resources.len()).unwrap_or(0);
            (source, diagnostics, resources)
        }
    };
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    match args.format {
        Format::Json => {
            crate::output::print(&(json_report(&source, &diagnostics, errors) + "\n"))?;
        }
        Format::Text => {
            crate::output::err!("{}", render_text(&diagnostics, &source, stderr_color()));
            if errors == 0 {
                crate::output::print(&format!("{}: valid ({resources} resources)\n", source.name))?;
            } else {
                crate::output::errln!(
                    "{}: {errors} error{}",
                    source.name,
                    if errors == 1 { "" } else { "s" }
                );
            }
        }
    }
    Ok(ExitCode::from(u8::from(errors > 0)))
}

fn json_report(source: &SourceFile, diagnostics: &[Diagnostic], errors: usize) -> String {
    let mut report = serde_json::json!({
        "version": JSON_SCHEMA_VERSION,
        "file": source.name,
        "valid": errors == 0,
        "summary": {
            "errors": errors,
            "warnings": diagnostics.len() - errors,
        },
        "diagnostics": diagnostics,
    });
    // Messages and field paths may quote a stack's values: credentials among them are not shown.
    meshctl_model::redact::redact_value(&mut report);
    serde_json::to_string_pretty(&report).unwrap_or_default()
}
