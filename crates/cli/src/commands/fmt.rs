//! `meshctl fmt [FILE]... [--check] [--diff]`: rewrite stack files in canonical order and
//! indentation, keeping their comments (the rules are `meshctl_model::fmt`'s; docs/fmt.md).
//! With no FILE, standard input is formatted to standard output.

use crate::input::stderr_color;
use anyhow::Result;
use meshctl_model::diagnostic::render_text;
use meshctl_model::{fmt, yaml, SourceFile};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Stack files to format in place (none: standard input to standard output).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Change nothing; list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    check: bool,
    /// Print a unified diff of each change.
    #[arg(long)]
    diff: bool,
}

/// What formatting one file came to.
enum Outcome {
    Unchanged,
    /// The canonical text, different from the file's.
    Changed(String),
    /// Not formatted; the reason was reported.
    Refused,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    if args.files.is_empty() {
        return stdin(args);
    }
    let mut failed = false;
    for path in &args.files {
        let name = path.display().to_string();
        let text = match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    crate::output::errln!(
                        "error: {name}: not UTF-8 (byte {}); fmt left it as it is",
                        e.utf8_error().valid_up_to()
                    );
                    failed = true;
                    continue;
                }
            },
            Err(e) => {
                crate::output::errln!("error: cannot read {name}: {e}");
                failed = true;
                continue;
            }
        };
        match format_one(&name, &text) {
            Outcome::Unchanged => {}
            Outcome::Refused => failed = true,
            Outcome::Changed(formatted) => {
                if args.diff {
                    crate::output::print(&unified_diff(&name, &text, &formatted))?;
                }
                if args.check {
                    crate::output::errln!("{name}: not formatted (run `meshctl fmt {name}`)");
                    failed = true;
                } else {
                    crate::output::write_atomically(path, formatted.as_bytes()).map_err(|e| {
                        anyhow::anyhow!("cannot write {name}: {e}; the file is as it was")
                    })?;
                    crate::output::errln!("{name}: formatted");
                }
            }
        }
    }
    Ok(ExitCode::from(u8::from(failed)))
}

/// Standard input to standard output (`--check`: nothing printed but the verdict).
fn stdin(args: &Args) -> Result<ExitCode> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
        .map_err(|e| anyhow::anyhow!("cannot read standard input as UTF-8 text: {e}"))?;
    let name = "<stdin>";
    let (formatted, changed) = match format_one(name, &text) {
        Outcome::Refused => return Ok(ExitCode::from(1)),
        Outcome::Unchanged => (text.clone(), false),
        Outcome::Changed(formatted) => (formatted, true),
    };
    if args.diff && changed {
        crate::output::print(&unified_diff(name, &text, &formatted))?;
    }
    if args.check {
        if changed {
            crate::output::errln!("{name}: not formatted");
        }
        return Ok(ExitCode::from(u8::from(changed)));
    }
    if !args.diff {
        crate::output::print(&formatted)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The canonical text of `text`, reporting on standard error why not when it cannot be had
/// safely: YAML that does not parse, what the formatter refuses, or (never expected) output that
/// would read differently.
fn format_one(name: &str, text: &str) -> Outcome {
    let source = SourceFile::new(name, text);
    let before = match yaml::parse_file(&source) {
        Ok(tree) => tree,
        Err(diagnostic) => {
            crate::output::err!("{}", render_text(&[diagnostic], &source, stderr_color()));
            crate::output::errln!("error: {name}: not YAML; fmt left it as it is");
            return Outcome::Refused;
        }
    };
    let formatted = match fmt::format(text) {
        Ok(formatted) => formatted,
        Err(e) => {
            crate::output::errln!(
                "error: {name}:{e}\n  = help: fmt left the file as it is; write that part in block style (docs/fmt.md)"
            );
            return Outcome::Refused;
        }
    };
    let same = yaml::parse(&formatted).is_ok_and(|after| fmt::same_meaning(&before, &after));
    if !same {
        crate::output::errln!(
            "error: {name}: formatting would change what the file says, so fmt left it as it is; this is a bug in meshctl fmt, please report it with the file"
        );
        return Outcome::Refused;
    }
    if formatted == text {
        Outcome::Unchanged
    } else {
        Outcome::Changed(formatted)
    }
}

fn unified_diff(name: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{name} (original)"),
            &format!("{name} (formatted)"),
        )
        .to_string()
}
