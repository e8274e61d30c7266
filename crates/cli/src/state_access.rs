//! Opening a stack's state for a command: the backend from the stack's `backend` (or --state):
//! a sled directory, or an S3 object; its lock (failing fast or waiting --lock-timeout, taking
//! over the lock of a holder that is provably gone), then the store. Read-only commands do not
//! wait for the lock: while another meshctl holds a sled state they read its backup, and an S3
//! state is read as last written.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use meshctl_model::stack::Backend as StackBackend;
use meshctl_model::SourceFile;
use meshctl_state::{
    shell_quote, Backend, HeldLock, LocalBackend, MemoryStore, StateError, StateStore,
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

/// An open, locked state. The store is dropped (a sled database closed) before the lock is
/// released, as the fields drop in this order.
pub struct OpenState {
    pub store: Box<dyn StateStore>,
    pub backend: Box<dyn Backend>,
    _lock: Box<dyn HeldLock>,
}

impl OpenState {
    /// Where the state is, for messages: its directory or `s3://bucket/key`.
    pub fn location(&self) -> String {
        self.backend.describe()
    }
}

/// A state opened for reading only: the store when the lock was free, else what can be read
/// without it (a sled state's backup, an S3 state as last written).
pub struct ReadState {
    pub store: Box<dyn StateStore>,
    pub backend: Box<dyn Backend>,
    _lock: Option<Box<dyn HeldLock>>,
}

impl ReadState {
    /// Where the state is, for messages: its directory or `s3://bucket/key`.
    pub fn location(&self) -> String {
        self.backend.describe()
    }
}

impl StateArgs {
    /// The state directory: `--state` as given, else the stack's `backend.local`, else
    /// `state/<stack>`; the last two relative to the stack file's directory (`stack_file`), so the
    /// state is found wherever meshctl runs from. Without a stack file (a saved plan applied
    /// alone) they are relative to the working directory. An S3 backend has no directory: use
    /// `backend_for`.
    pub fn dir_for(
        &self,
        stack: &str,
        backend: Option<&StackBackend>,
        stack_file: Option<&Path>,
    ) -> Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        let relative = match backend {
            Some(StackBackend::Local(dir)) => PathBuf::from(dir),
            Some(StackBackend::S3(s3)) => bail!(
                "the state of stack `{stack}` is in S3 (s3://{}/{}), not in a directory; give --state DIR for a local one",
                s3.bucket,
                s3.key
            ),
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

    /// Where the state of `stack` lives: `--state DIR` as given, else the stack's backend (a
    /// sled directory found as `dir_for` says, or an S3 object, whose calls run on the process's
    /// runtime).
    pub fn backend_for(
        &self,
        stack: &str,
        backend: Option<&StackBackend>,
        stack_file: Option<&Path>,
    ) -> Result<Box<dyn Backend>> {
        match backend {
            Some(StackBackend::S3(s3)) if self.dir.is_none() => {
                Ok(Box::new(meshctl_state_s3::S3Backend::new(
                    meshctl_state_s3::S3Location {
                        bucket: s3.bucket.clone(),
                        key: s3.key.clone(),
                        region: s3.region.clone(),
                        kms_key_id: s3.kms_key_id.clone(),
                    },
                    crate::runtime::handle()?,
                )))
            }
            _ => Ok(Box::new(LocalBackend::new(
                self.dir_for(stack, backend, stack_file)?,
            ))),
        }
    }

    /// Whether the state exists: commands that only read state do not create it, and read a
    /// missing one as no state.
    pub fn exists(
        &self,
        stack: &str,
        backend: Option<&StackBackend>,
        stack_file: Option<&Path>,
    ) -> Result<bool> {
        let backend = self.backend_for(stack, backend, stack_file)?;
        backend
            .exists()
            .map_err(|e| explain_for(e, backend.as_ref()))
    }

    pub fn open(
        &self,
        stack: &str,
        backend: Option<&StackBackend>,
        stack_file: Option<&Path>,
        operation: &str,
    ) -> Result<OpenState> {
        let backend = self.backend_for(stack, backend, stack_file)?;
        let lock = self.lock_backend(backend.as_ref(), operation, self.lock_timeout)?;
        let store = backend
            .open(stack)
            .map_err(|e| explain_for(e, backend.as_ref()))?;
        Ok(OpenState {
            store,
            backend,
            _lock: lock,
        })
    }

    /// Takes the lock of the sled state in `dir` (`lock_backend`).
    pub fn lock(
        &self,
        dir: &Path,
        operation: &str,
        timeout: Duration,
    ) -> Result<Box<dyn HeldLock>> {
        self.lock_backend(&LocalBackend::new(dir), operation, timeout)
    }

    /// Takes the lock of `backend`, saying so on stderr when it took over a dead holder's lock.
    pub fn lock_backend(
        &self,
        backend: &dyn Backend,
        operation: &str,
        timeout: Duration,
    ) -> Result<Box<dyn HeldLock>> {
        let lock = backend
            .lock(operation, timeout)
            .map_err(|e| explain_for(e, backend))?;
        if let Some((dead, reason)) = lock.took_over() {
            crate::output::errln!(
                "warning: took over the lock of the state in {} from {}: {reason}. What that run left in flight is in the state's journal; plan shows it and apply repairs it.",
                backend.describe(),
                dead.describe()
            );
        }
        Ok(lock)
    }

    /// Opens the state for a command that only reads it, without waiting for the lock (see
    /// `Backend::read_only`); what it shows instead of the locked state is said on stderr.
    pub fn open_read_only(
        &self,
        stack: &str,
        backend: Option<&StackBackend>,
        stack_file: Option<&Path>,
        operation: &str,
    ) -> Result<ReadState> {
        let backend = self.backend_for(stack, backend, stack_file)?;
        match backend.read_only(stack, operation) {
            // Reading creates nothing: a missing state is no state (not a new, empty one).
            Ok(None) => Ok(ReadState {
                store: Box::new(MemoryStore::new(stack)),
                backend,
                _lock: None,
            }),
            Ok(Some(read)) => {
                if let Some(lock) = &read.lock {
                    if let Some((dead, reason)) = lock.took_over() {
                        crate::output::errln!(
                            "warning: took over the lock of the state in {} from {}: {reason}.",
                            backend.describe(),
                            dead.describe()
                        );
                    }
                }
                if let Some(note) = &read.note {
                    crate::output::errln!("note: {note}");
                }
                Ok(ReadState {
                    store: read.store,
                    backend,
                    _lock: read.lock,
                })
            }
            Err(StateError::Locked(locked)) => bail!(
                "{}\n  (it has no backup to read meanwhile: one is written when meshctl opens the state)",
                locked.message(&target_args(backend.as_ref()))
            ),
            Err(other) => Err(explain_for(other, backend.as_ref())),
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
pub fn explain_for(error: StateError, backend: &dyn Backend) -> anyhow::Error {
    match error {
        StateError::Locked(locked) => anyhow!(locked.message(&target_args(backend))),
        StateError::Damaged(damaged) => anyhow!(damaged.message(&target_args(backend))),
        other => {
            anyhow::Error::new(other).context(format!("cannot open state {}", backend.describe()))
        }
    }
}

/// `explain_for` the sled state in `dir`.
pub fn explain(error: StateError, dir: &Path) -> anyhow::Error {
    explain_for(error, &LocalBackend::new(dir))
}

/// The arguments that name the state of `backend` as this command was given them: its `-f`
/// stack file and vars (with `--state` if that was given too), else `--state DIR`.
fn target_args(backend: &dyn Backend) -> String {
    // The stack file with its vars (an S3 key may hold `${var.x}`) and --state, as given.
    let given = crate::commands::state::target_args();
    if given.starts_with("-f ") || given.contains("--state ") {
        return given;
    }
    format!("--state {}", shell_quote(&backend.describe()))
}

/// The backend and stack name a command names with `-f STACK` and/or `--state DIR` (for
/// commands that work on a state whose stack file may be gone or broken, as force-unlock).
pub fn resolve_backend(
    file: Option<&Path>,
    state: &StateArgs,
) -> Result<(Box<dyn Backend>, Option<String>)> {
    match file {
        Some(file) => {
            let source = crate::input::StackArgs {
                file: file.to_path_buf(),
                vars: Vec::new(),
                var_files: Vec::new(),
            }
            .source()?;
            let header = read_header(&source)?;
            let backend = state.backend_for(&header.stack, header.backend.as_ref(), Some(file))?;
            Ok::<_, anyhow::Error>((backend, Some(header.stack)))
        }
        None => match &state.dir {
            Some(dir) => Ok((Box::new(LocalBackend::new(dir)) as Box<dyn Backend>, None)),
            None => bail!("name the state: give the stack file (-f STACK) or the state directory (--state DIR)"),
        },
    }
    .context("cannot find the state")
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
    use meshctl_model::stack::Backend;

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
