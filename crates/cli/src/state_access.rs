//! Opening a stack's state for a command: the directory from the stack's backend (or --state),
//! the lock (failing fast or waiting --lock-timeout, taking over the lock of a holder that is
//! provably gone), then the sled store. Read-only commands do not wait for the lock: while
//! another meshctl holds it they read the state's backup.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use meshctl_model::stack::Backend;
use meshctl_model::SourceFile;
use meshctl_state::{
    shell_quote, Backup, MemoryStore, SledStore, StateError, StateLock, StateStore,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Clone)]
pub struct StateArgs {
    /// State directory (default: the stack's `backend.local`, else state/<stack>, both relative
    /// to the stack file's directory).
    #[arg(long = "state", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Wait this long for another meshctl to release the state lock: seconds (300) or a duration
    /// (30s, 5m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_lock_timeout)]
    pub lock_timeout: Duration,
}

/// `--lock-timeout`: a bare number is seconds, as in most CLIs; humantime units still work.
fn parse_lock_timeout(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.trim().parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e}; give seconds (300) or a duration with its unit (30s, 5m, 1h)"))
}

/// An open, locked state. The lock is released when this is dropped.
pub struct OpenState {
    pub store: SledStore,
    pub dir: PathBuf,
    _lock: StateLock,
}

/// A state opened for reading only: the database when the lock was free, else the backup.
pub struct ReadState {
    pub store: Box<dyn StateStore>,
    pub dir: PathBuf,
    _lock: Option<StateLock>,
}

impl StateArgs {
    /// The state directory: `--state` as given, else the stack's `backend.local`, else
    /// `state/<stack>`; the last two relative to the stack file's directory (`stack_file`), so the
    /// state is found wherever meshctl runs from. Without a stack file (a saved plan applied
    /// alone) they are relative to the working directory.
    pub fn dir_for(
        &self,
        stack: &str,
        backend: Option<&Backend>,
        stack_file: Option<&Path>,
    ) -> Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        let relative = match backend {
            Some(Backend::Local(dir)) => PathBuf::from(dir),
            Some(Backend::S3(_)) => bail!("the s3 backend is not available yet; use `backend: {{ local: DIR }}` or --state DIR"),
            None => PathBuf::from("state").join(stack),
        };
        let base = stack_file
            .and_then(Path::parent)
            .filter(|parent| !parent.as_os_str().is_empty());
        Ok(match base {
            Some(base) if relative.is_relative() => base.join(relative),
            _ => relative,
        })
    }

    /// Whether the state directory exists: commands that only read state do not create it, and
    /// read a missing one as no state.
    pub fn exists(
        &self,
        stack: &str,
        backend: Option<&Backend>,
        stack_file: Option<&Path>,
    ) -> Result<bool> {
        Ok(self.dir_for(stack, backend, stack_file)?.exists())
    }

    pub fn open(
        &self,
        stack: &str,
        backend: Option<&Backend>,
        stack_file: Option<&Path>,
        operation: &str,
    ) -> Result<OpenState> {
        let dir = self.dir_for(stack, backend, stack_file)?;
        let lock = self.lock(&dir, operation, self.lock_timeout)?;
        let store = SledStore::open(&dir, stack).map_err(|e| explain(e, &dir))?;
        Ok(OpenState {
            store,
            dir,
            _lock: lock,
        })
    }

    /// Takes the lock of `dir`, saying so on stderr when it took over a dead holder's lock.
    pub fn lock(&self, dir: &Path, operation: &str, timeout: Duration) -> Result<StateLock> {
        let lock = StateLock::acquire(dir, operation, timeout).map_err(|e| explain(e, dir))?;
        if let Some((dead, reason)) = &lock.took_over {
            crate::output::errln!(
                "warning: took over the lock of the state in {} from {}: {reason}. What that run left in flight is in the state's journal; plan shows it and apply repairs it.",
                dir.display(),
                dead.describe()
            );
        }
        Ok(lock)
    }

    /// Opens the state for a command that only reads it. It does not wait for the lock: while a
    /// live meshctl holds it (and the database with it), this reads the backup — the last
    /// finished serial plus the commits of the run in progress — and says so on stderr.
    pub fn open_read_only(
        &self,
        stack: &str,
        backend: Option<&Backend>,
        stack_file: Option<&Path>,
        operation: &str,
    ) -> Result<ReadState> {
        let dir = self.dir_for(stack, backend, stack_file)?;
        if !dir.exists() {
            // Reading creates nothing: a missing state is no state (not a new, empty one).
            return Ok(ReadState {
                store: Box::new(MemoryStore::new(stack)),
                dir,
                _lock: None,
            });
        }
        match StateLock::acquire(&dir, operation, Duration::ZERO) {
            Ok(lock) => {
                if let Some((dead, reason)) = &lock.took_over {
                    crate::output::errln!(
                        "warning: took over the lock of the state in {} from {}: {reason}.",
                        dir.display(),
                        dead.describe()
                    );
                }
                let store = SledStore::open(&dir, stack).map_err(|e| explain(e, &dir))?;
                Ok(ReadState {
                    store: Box::new(store),
                    dir,
                    _lock: Some(lock),
                })
            }
            Err(StateError::Locked(locked)) => {
                let holder = locked
                    .holder
                    .as_ref()
                    .map_or_else(|| "another meshctl".to_string(), |h| h.describe());
                let Some(loaded) = Backup::load(&dir).map_err(|e| explain(e, &dir))? else {
                    bail!(
                        "{}\n  (it has no backup to read meanwhile: one is written when meshctl opens the state)",
                        locked.message(&target_args(&dir))
                    );
                };
                if loaded.state.meta.stack != stack {
                    bail!(
                        "the backup in {} belongs to stack `{}`, not `{stack}`",
                        dir.display(),
                        loaded.state.meta.stack
                    );
                }
                crate::output::errln!(
                    "note: the state in {} is locked by {holder}; showing its backup: serial {}{}.",
                    dir.display(),
                    loaded.state.meta.serial,
                    if loaded.changes > 0 {
                        format!(
                            " and the {} change(s) committed since by the run in progress",
                            loaded.changes
                        )
                    } else {
                        String::new()
                    }
                );
                Ok(ReadState {
                    store: Box::new(MemoryStore::from_snapshot(loaded.state)),
                    dir,
                    _lock: None,
                })
            }
            Err(other) => Err(explain(other, &dir)),
        }
    }

    /// Opens the state of `stack`, reading only its header (with its var overrides).
    pub fn open_for(&self, stack: &crate::input::StackArgs, operation: &str) -> Result<OpenState> {
        let header = stack.header()?;
        self.open(
            &header.stack,
            header.backend.as_ref(),
            Some(&stack.file),
            operation,
        )
    }

    /// `open_read_only` for `stack`.
    pub fn open_read_only_for(
        &self,
        stack: &crate::input::StackArgs,
        operation: &str,
    ) -> Result<ReadState> {
        let header = stack.header()?;
        self.open_read_only(
            &header.stack,
            header.backend.as_ref(),
            Some(&stack.file),
            operation,
        )
    }
}

pub fn read_header(source: &SourceFile) -> Result<meshctl_model::stack::Header> {
    meshctl_model::read_header(source).map_err(|diagnostics| {
        let text = meshctl_model::diagnostic::render_text(
            &diagnostics,
            source,
            crate::input::stderr_color(),
        );
        anyhow!("the stack header has errors:\n{text}")
    })
}

/// A state error for a person: a locked or damaged state names the command that deals with it,
/// with the arguments this command was given, so it works as printed.
pub fn explain(error: StateError, dir: &Path) -> anyhow::Error {
    match error {
        StateError::Locked(locked) => anyhow!(locked.message(&target_args(dir))),
        StateError::Damaged(damaged) => anyhow!(damaged.message(&target_args(dir))),
        other => anyhow::Error::new(other).context(format!("cannot open state {}", dir.display())),
    }
}

/// The arguments that name the state in `dir` as this command was given them: its `-f` stack
/// file (with `--state` if that was given too), else `--state DIR`.
fn target_args(dir: &Path) -> String {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let value_of = |short: Option<&str>, long: &str| -> Option<String> {
        args.iter().enumerate().find_map(|(i, arg)| {
            if Some(arg.as_str()) == short || arg == long {
                args.get(i + 1).cloned()
            } else if let Some(value) = arg.strip_prefix(&format!("{long}=")) {
                Some(value.to_string())
            } else {
                short
                    .and_then(|s| arg.strip_prefix(s))
                    .filter(|v| !v.is_empty() && !arg.starts_with("--"))
                    .map(str::to_string)
            }
        })
    };
    let state = format!("--state {}", shell_quote(&dir.display().to_string()));
    match value_of(Some("-f"), "--file") {
        Some(file) if value_of(None, "--state").is_some() => {
            format!("-f {} {state}", shell_quote(&file))
        }
        Some(file) => format!("-f {}", shell_quote(&file)),
        None => state,
    }
}

/// The state directory and stack name a command names with `-f STACK` and/or `--state DIR`
/// (for commands that work on a state whose stack file may be gone or broken).
pub fn resolve_target(file: Option<&Path>, state: &StateArgs) -> Result<(PathBuf, Option<String>)> {
    match file {
        Some(file) => {
            let source = crate::input::StackArgs {
                file: file.to_path_buf(),
                vars: Vec::new(),
                var_files: Vec::new(),
            }
            .source()?;
            let header = read_header(&source)?;
            let dir = state.dir_for(&header.stack, header.backend.as_ref(), Some(file))?;
            Ok::<_, anyhow::Error>((dir, Some(header.stack)))
        }
        None => match &state.dir {
            Some(dir) => Ok((dir.clone(), None)),
            None => bail!("name the state: give the stack file (-f STACK) or the state directory (--state DIR)"),
        },
    }
    .context("cannot find the state")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: Option<&str>) -> StateArgs {
        StateArgs {
            dir: dir.map(PathBuf::from),
            lock_timeout: Duration::ZERO,
        }
    }

    #[test]
    fn the_default_state_is_beside_the_stack_file_not_in_the_working_directory() {
        let stack = Path::new("infra/stacks/prod.yaml");
        assert_eq!(
            args(None).dir_for("prod", None, Some(stack)).unwrap(),
            PathBuf::from("infra/stacks/state/prod")
        );
        let local = Backend::Local("../state/prod".into());
        assert_eq!(
            args(None)
                .dir_for("prod", Some(&local), Some(stack))
                .unwrap(),
            PathBuf::from("infra/stacks/../state/prod")
        );
        // A stack file named without a directory is in the working directory.
        assert_eq!(
            args(None)
                .dir_for("prod", None, Some(Path::new("prod.yaml")))
                .unwrap(),
            PathBuf::from("state/prod")
        );
    }

    #[test]
    fn an_absolute_backend_and_state_flag_are_taken_as_given() {
        let stack = Path::new("infra/prod.yaml");
        let absolute = Backend::Local("/srv/state/prod".into());
        assert_eq!(
            args(None)
                .dir_for("prod", Some(&absolute), Some(stack))
                .unwrap(),
            PathBuf::from("/srv/state/prod")
        );
        assert_eq!(
            args(Some("here"))
                .dir_for("prod", Some(&absolute), Some(stack))
                .unwrap(),
            PathBuf::from("here")
        );
    }
}
