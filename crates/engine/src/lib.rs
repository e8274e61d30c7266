//! The executor: walks a plan's DAG on tokio — a resource starts as soon as what it
//! depends on is done, within a parallelism limit and per-service rate limits — calling providers
//! through the `Provider` trait and recording every step through `StateStore`: the intent is in
//! the journal before a provider creates anything, and each object is recorded as soon as it
//! exists. On the first permanent failure it stops scheduling, lets running work finish and, unless
//! told not to, undoes this run's completed steps in reverse order.

mod call;
mod census;
mod events;
mod import;
mod limits;
mod lookup;
mod recording;
mod refresh;
mod walk;

pub use census::unknown_objects;
pub use events::{Event, EventSink, NoEvents};
pub use import::read_imports;
pub use limits::{RateLimits, RetryPolicy, Timeouts};
pub use lookup::lookup;
pub use refresh::refresh;
pub use walk::apply;

use meshctl_model::{Address, Kind};
use meshctl_provider::Provider;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// The provider for each kind.
#[derive(Default, Clone)]
pub struct Providers {
    by_kind: HashMap<Kind, Arc<dyn Provider>>,
}

impl Providers {
    pub fn new() -> Self {
        Providers::default()
    }

    /// Registers a provider for every kind it declares.
    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        for kind in provider.kinds() {
            self.by_kind.insert(*kind, provider.clone());
        }
    }

    pub fn get(&self, kind: Kind) -> Option<&Arc<dyn Provider>> {
        self.by_kind.get(&kind)
    }

    /// Kinds the plan changes that no registered provider handles.
    pub fn missing(&self, plan: &meshctl_plan::Plan) -> Vec<Kind> {
        let mut kinds: Vec<Kind> = plan
            .changes
            .iter()
            .filter(|c| {
                c.action != meshctl_plan::Action::NoOp && !self.by_kind.contains_key(&c.kind)
            })
            .map(|c| c.kind)
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Resources worked on at once; 0 means no limit.
    pub parallelism: usize,
    /// Undo this run's completed steps after a permanent failure.
    pub rollback: bool,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    pub rate_limits: RateLimits,
    /// Recorded in state history: `apply`, `destroy`.
    pub operation: String,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            rollback: true,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            rate_limits: RateLimits::aws_defaults(),
            operation: "apply".to_string(),
        }
    }
}

/// Ctrl-C handling shared with the walk: the first interrupt stops scheduling and lets running
/// steps finish with state saved; the second aborts running steps (state keeps what was recorded).
#[derive(Clone, Default)]
pub struct Cancel {
    level: Arc<AtomicU8>,
    changed: Arc<tokio::sync::Notify>,
}

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    /// Escalates: running → stopping → aborting.
    pub fn interrupt(&self) {
        let _ = self
            .level
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| Some((l + 1).min(2)));
        // notify_one keeps a permit when the walk is not waiting yet, so no interrupt is lost.
        self.changed.notify_one();
    }

    pub fn stopping(&self) -> bool {
        self.level.load(Ordering::SeqCst) >= 1
    }

    pub fn aborting(&self) -> bool {
        self.level.load(Ordering::SeqCst) >= 2
    }

    pub(crate) async fn changed(&self) {
        self.changed.notified().await
    }
}

/// The step failure that ended an apply, for people: which resource, what went wrong and, where
/// the provider said, what to do; with the provider's class of the error, when a provider call
/// failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub address: Address,
    /// `None` when no provider call failed (state, an unknown input).
    pub class: Option<meshctl_provider::ErrorClass>,
    /// What went wrong, with the provider's help on its own `  help:` line.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.address, self.message)
    }
}

/// How an apply ended. `exit_code` is what `meshctl apply` exits with (documented in the README).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Everything in the plan was done.
    Applied { serial: u64 },
    /// A step failed permanently and every completed step was undone.
    RolledBack { failure: Failure, serial: u64 },
    /// A step failed permanently; with `--no-rollback`, completed steps were kept.
    Failed { failure: Failure, serial: u64 },
    /// A step failed and undoing some completed steps failed too: those are tainted.
    RollbackIncomplete {
        failure: Failure,
        tainted: Vec<(Address, String)>,
        serial: u64,
    },
    /// Ctrl-C: running steps finished, the rest was not started.
    Interrupted { serial: u64 },
    /// The state store did not take a write (after its own retries): no step was started after
    /// that, steps already running finished, and nothing was undone, since undoing without a
    /// writable state would lose track of the world. Everything the run recorded is in the
    /// store's memory (`StateStore::snapshot`), for the errored-state file.
    StateNotSaved {
        /// The step whose record the state did not take, with the store's error.
        failure: Failure,
        /// A step that had failed otherwise, whose failure would have started a rollback.
        also_failed: Option<Failure>,
    },
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Applied { .. } => 0,
            Outcome::RolledBack { .. } | Outcome::Failed { .. } => 3,
            Outcome::RollbackIncomplete { .. } => 4,
            Outcome::Interrupted { .. } => 5,
            Outcome::StateNotSaved { .. } => 6,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no provider handles {0} resources in this build of meshctl")]
    NoProvider(Kind),
    #[error(transparent)]
    State(#[from] meshctl_state::StateError),
    #[error("reading the live world: {0}")]
    Provider(meshctl_provider::ProviderError),
    #[error("a background task failed: {0}")]
    Task(String),
}
