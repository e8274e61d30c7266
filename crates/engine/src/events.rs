//! Progress events of a walk: shown as progress on a terminal, or printed as JSON lines with
//! `--events json` for pipelines.

use meshctl_model::Address;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        address: Address,
        action: String,
    },
    Progress {
        address: Address,
        message: String,
    },
    Retrying {
        address: Address,
        attempt: u32,
        wait_ms: u64,
        error: String,
    },
    Finished {
        address: Address,
        action: String,
        elapsed_ms: u64,
    },
    Failed {
        address: Address,
        error: String,
    },
    RollbackStarted {
        steps: usize,
    },
    RolledBack {
        address: Address,
    },
    RollbackFailed {
        address: Address,
        error: String,
    },
    Stopping {
        reason: String,
    },
}

/// Receives events; must be cheap (it is called from the walk).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

/// Discards events.
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) {}
}
