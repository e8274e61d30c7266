//! Opening a stack's state for a command: the directory from the stack's backend (or --state),
//! the lock (failing fast or waiting --lock-timeout), then the sled store.

use anyhow::{bail, Context, Result};
use clap::Args;
use meshctl_model::stack::Backend;
use meshctl_model::SourceFile;
use meshctl_state::{SledStore, StateLock};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Clone)]
pub struct StateArgs {
    /// State directory (default: the stack's `backend.local`, else state/<stack>).
    #[arg(long = "state", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Wait this long for another meshctl to release the state lock (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub lock_timeout: Duration,
}

/// An open, locked state. The lock is released when this is dropped.
pub struct OpenState {
    pub store: SledStore,
    pub dir: PathBuf,
    _lock: StateLock,
}

impl StateArgs {
    pub fn dir_for(&self, stack: &str, backend: Option<&Backend>) -> Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        match backend {
            Some(Backend::Local(dir)) => Ok(PathBuf::from(dir)),
            Some(Backend::S3(_)) => bail!("the s3 backend is not available yet; use `backend: {{ local: DIR }}` or --state DIR"),
            None => Ok(PathBuf::from("state").join(stack)),
        }
    }

    pub fn open(
        &self,
        stack: &str,
        backend: Option<&Backend>,
        operation: &str,
    ) -> Result<OpenState> {
        let dir = self.dir_for(stack, backend)?;
        let lock = StateLock::acquire(&dir, operation, self.lock_timeout)?;
        let store = SledStore::open(&dir, stack)
            .with_context(|| format!("cannot open state {}", dir.display()))?;
        Ok(OpenState {
            store,
            dir,
            _lock: lock,
        })
    }

    /// Opens the state of the stack in `source`, reading only its header.
    pub fn open_for(&self, source: &SourceFile, operation: &str) -> Result<OpenState> {
        let header = meshctl_model::read_header(source).map_err(|diagnostics| {
            let text = meshctl_model::diagnostic::render_text(
                &diagnostics,
                source,
                crate::input::stderr_color(),
            );
            anyhow::anyhow!("the stack header has errors:\n{text}")
        })?;
        self.open(&header.stack, header.backend.as_ref(), operation)
    }
}
