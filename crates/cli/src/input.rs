//! Reading the inputs every stack command shares: the stack file and its var overrides.

use anyhow::{Context, Result};
use clap::Args;
use meshctl_model::{SourceFile, VarOverrides};
use std::io::IsTerminal;
use std::path::PathBuf;

/// A problem with an input other than the stack (a var file, a `--var`), and the file it is in.
pub struct InputProblem {
    pub file: SourceFile,
    pub diagnostic: meshctl_model::Diagnostic,
}

#[derive(Args)]
pub struct StackArgs {
    /// The stack file.
    #[arg(short = 'f', long = "file", value_name = "STACK")]
    pub file: PathBuf,
    /// Override a var: --var domain=example.com (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read var overrides from a YAML file (repeatable; later files win).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

impl StackArgs {
    /// The stack file. Bytes that are not UTF-8 and a file over the size limit are not refused
    /// here: loading reports them with their place in the file.
    pub fn source(&self) -> Result<SourceFile> {
        let bytes = read_bounded(&self.file)
            .with_context(|| format!("cannot read stack file {}", self.file.display()))?;
        Ok(SourceFile::from_bytes(
            self.file.display().to_string(),
            bytes,
        ))
    }

    /// Only the stack's header, its `${var.x}` resolved with these overrides: what the commands
    /// that work from state alone (drift, refresh, state) need, even while a resource has errors.
    pub fn header(&self) -> Result<meshctl_model::stack::Header> {
        let source = self.source()?;
        let overrides = self.overrides().map_err(|problem| {
            let text = meshctl_model::diagnostic::render_text(
                &[problem.diagnostic],
                &problem.file,
                stderr_color(),
            );
            anyhow::anyhow!("{}", text.trim_end())
        })?;
        meshctl_model::read_header_with(&source, &overrides).map_err(|diagnostics| {
            let text =
                meshctl_model::diagnostic::render_text(&diagnostics, &source, stderr_color());
            anyhow::anyhow!("the stack header has errors:\n{text}")
        })
    }

    /// Var overrides: var files first, then `--var`, so the command line has the last word.
    pub fn overrides(&self) -> Result<VarOverrides, Box<InputProblem>> {
        let mut overrides = VarOverrides::default();
        for path in &self.var_files {
            let bytes = match read_bounded(path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    let file = SourceFile::new(path.display().to_string(), "");
                    let d = meshctl_model::Diagnostic::error(
                        "var-file",
                        format!("cannot read var file: {e}"),
                    )
                    .help("check the --var-file path");
                    return Err(Box::new(InputProblem {
                        file,
                        diagnostic: d,
                    }));
                }
            };
            let file = SourceFile::from_bytes(path.display().to_string(), bytes);
            if let Err(d) = overrides.add_file(&file) {
                return Err(Box::new(InputProblem {
                    file,
                    diagnostic: d,
                }));
            }
        }
        for pair in &self.vars {
            match pair.split_once('=') {
                Some((name, value)) if !name.is_empty() => overrides.set(name, value),
                _ => {
                    let file = SourceFile::new("--var", "");
                    let d = meshctl_model::Diagnostic::error(
                        "bad-var",
                        format!("`--var {pair}` is not NAME=VALUE"),
                    )
                    .help("write --var domain=example.com");
                    return Err(Box::new(InputProblem {
                        file,
                        diagnostic: d,
                    }));
                }
            }
        }
        Ok(overrides)
    }
}

/// A file's bytes, at most one past the model's size limit: enough for it to report a file too
/// large without reading (or holding) all of it.
fn read_bounded(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let limit = meshctl_model::limits::MAX_FILE_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
pub fn use_color(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn stderr_color() -> bool {
    use_color(std::io::stderr().is_terminal())
}

/// The stack now, for checking a saved plan against it: loaded with the same var overrides as
/// the plan was, its header (vars substituted), resolved resources and what it is made from.
pub struct StackNow {
    pub header: meshctl_model::stack::Header,
    pub stack_digest: String,
    pub made_from: meshctl_plan::MadeFrom,
}

impl StackNow {
    pub fn load(args: &StackArgs) -> Result<StackNow> {
        let source = args.source()?;
        let overrides = args.overrides().map_err(|problem| {
            let text = meshctl_model::diagnostic::render_text(
                &[problem.diagnostic],
                &problem.file,
                stderr_color(),
            );
            anyhow::anyhow!("{}", text.trim_end())
        })?;
        let loaded = meshctl_model::load(&source, &overrides);
        let stack = loaded.stack.ok_or_else(|| {
            anyhow::anyhow!(
                "{} has errors; run `meshctl validate -f {}` with the same vars",
                args.file.display(),
                args.file.display()
            )
        })?;
        Ok(StackNow {
            stack_digest: meshctl_plan::stack_digest(&stack),
            made_from: meshctl_plan::MadeFrom::new(&source.text, &stack.vars),
            header: stack.header,
        })
    }
}

/// The stack a saved plan is checked against (`show PLANFILE`, `apply PLANFILE`), or planned from
/// (`apply -f STACK`), with the var overrides `meshctl plan` was given.
#[derive(Args)]
pub struct OptionalStackArgs {
    /// The stack file. With a saved plan: the stack it was made from, checked to be unchanged.
    #[arg(short = 'f', long = "file", value_name = "STACK")]
    pub file: Option<PathBuf>,
    /// Override a var: --var domain=example.com (repeatable; needs -f). With a saved plan, give
    /// the same ones as `meshctl plan` had.
    #[arg(long = "var", value_name = "NAME=VALUE", requires = "file")]
    pub vars: Vec<String>,
    /// Read var overrides from a YAML file (repeatable; later files win; needs -f).
    #[arg(long = "var-file", value_name = "FILE", requires = "file")]
    pub var_files: Vec<PathBuf>,
}

impl OptionalStackArgs {
    /// The stack and its overrides, when a stack file was given.
    pub fn stack(&self) -> Option<StackArgs> {
        self.file.as_ref().map(|file| StackArgs {
            file: file.clone(),
            vars: self.vars.clone(),
            var_files: self.var_files.clone(),
        })
    }
}
