//! The S3 state backend (`backend: { s3: { bucket, key, region, kms_key_id? } }`): the state as
//! one JSON object written by compare-and-swap, its lock an object created with
//! `If-None-Match: *`, each finished serial kept as an immutable history object, all written with
//! server-side encryption. Built as OpenTofu builds its remote state: a dumb client (`remote`:
//! get, conditional put, delete, list) under a locker (`lock`) and the state logic (`store`).
//! With provider-aws, the only crate that calls AWS (ARCHITECTURE.md).

mod lock;
mod remote;
mod store;

pub use lock::S3Lock;
pub use remote::{S3Location, ATTEMPTS_PER_CALL};
pub use store::{S3Store, WriteStats};

use meshctl_state::{Backend, HeldLock, LockInfo, ReadOnly, StateError, StateStore};
use remote::Remote;
use std::sync::Arc;
use std::time::Duration;

/// A stack's state in S3.
pub struct S3Backend {
    remote: Arc<Remote>,
}

impl S3Backend {
    /// The backend at `location`, with a client from the standard aws-config chain
    /// (credentials, `AWS_ENDPOINT_URL`, retry mode), whose calls run on `handle`'s runtime.
    pub fn new(location: S3Location, handle: tokio::runtime::Handle) -> S3Backend {
        S3Backend {
            remote: Arc::new(Remote::new(location, handle)),
        }
    }

    /// The backend at `location` with a client from `config` as it is, its retries included (a
    /// program that already holds one, a test pointing at its own endpoint).
    pub fn with_config(
        location: S3Location,
        config: &aws_config::SdkConfig,
        handle: tokio::runtime::Handle,
    ) -> S3Backend {
        S3Backend {
            remote: Arc::new(Remote::with_config(location, config, handle)),
        }
    }

    pub fn location(&self) -> &S3Location {
        &self.remote.location
    }

    /// The S3 client the backend uses.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.remote.client
    }

    /// Opens the state of `stack` as the concrete store (for its `write_stats`). Callers hold
    /// the lock.
    pub fn open_store(&self, stack: &str) -> Result<S3Store, StateError> {
        S3Store::open(Arc::clone(&self.remote), stack)
    }
}

impl Backend for S3Backend {
    fn describe(&self) -> String {
        self.remote.location.url()
    }

    fn exists(&self) -> Result<bool, StateError> {
        let remote = &self.remote;
        remote.block(remote.exists(&remote.location.key))
    }

    fn lock(&self, operation: &str, timeout: Duration) -> Result<Box<dyn HeldLock>, StateError> {
        Ok(Box::new(S3Lock::acquire(&self.remote, operation, timeout)?))
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        lock::force_unlock(&self.remote, id)
    }

    fn open(&self, stack: &str) -> Result<Box<dyn StateStore>, StateError> {
        Ok(Box::new(self.open_store(stack)?))
    }

    /// The state as last written: every write replaces the object whole, so it is consistent
    /// without the lock (a run in progress has written each commit it made).
    fn read_only(&self, stack: &str, _operation: &str) -> Result<Option<ReadOnly>, StateError> {
        Ok(
            S3Store::load(Arc::clone(&self.remote), stack)?.map(|store| ReadOnly {
                store: Box::new(store),
                lock: None,
                note: None,
            }),
        )
    }
}
