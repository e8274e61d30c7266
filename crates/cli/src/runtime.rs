//! The process's one tokio runtime, built on first use and alive until the process ends.
//!
//! Every command runs its async work here. Clients made on a runtime keep worker tasks on it
//! (kube-rs' request buffer, hyper's connection pools), so a provider that caches a client
//! across `plan`'s refresh and `apply`'s walk needs both to run on the same runtime: with one per
//! process, no client outlives the runtime it was made on. It is multi-threaded so that blocking
//! code called from inside it (a state store answering a synchronous trait method) can step
//! aside with `tokio::task::block_in_place`.

use std::future::Future;
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use tokio::runtime::{Handle, Runtime};

/// The runtime, or why it could not be started (kept as text: `std::io::Error` is not `Clone`,
/// and every later caller reports the same failure).
static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|reason| {
            anyhow!(
                "cannot start the async runtime: {reason}\n  help: meshctl needs a few worker threads; check the limits on threads and open files (`ulimit -u`, `ulimit -n`) and free memory, then run the command again"
            )
        })
}

/// A handle to the runtime, for spawning on it or entering it from synchronous code.
pub fn handle() -> Result<Handle> {
    runtime().map(|runtime| runtime.handle().clone())
}

/// Runs `future` to completion on the runtime, blocking this thread until it is done.
///
/// Called from a task already on the runtime, it first moves that worker's other tasks
/// elsewhere (`block_in_place`), since a worker must not block on its own runtime.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let runtime = runtime()?;
    if Handle::try_current().is_ok() {
        Ok(tokio::task::block_in_place(|| runtime.block_on(future)))
    } else {
        Ok(runtime.block_on(future))
    }
}
