//! Progress events of a walk: shown as progress on a terminal, or printed as JSON lines with
//! `--events json` for pipelines.

use meshctl_model::redact::redact;
use meshctl_model::Address;
use serde::Serialize;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        address: Address,
        action: String,
        /// Milliseconds since the walk began.
        at_ms: u64,
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
        /// Of `elapsed_ms`, how long the step waited on its service's rate limit.
        rate_wait_ms: u64,
        /// Milliseconds since the walk began.
        at_ms: u64,
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

impl Event {
    /// The event with whatever looks like a credential in its messages and errors (a provider
    /// error may quote a value sent) replaced by `<redacted>`: what every sink shows.
    pub fn redacted(self) -> Event {
        let clean = |text: String| match redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(redacted) => redacted,
        };
        match self {
            Event::Progress { address, message } => Event::Progress {
                address,
                message: clean(message),
            },
            Event::Retrying {
                address,
                attempt,
                wait_ms,
                error,
            } => Event::Retrying {
                address,
                attempt,
                wait_ms,
                error: clean(error),
            },
            Event::Failed { address, error } => Event::Failed {
                address,
                error: clean(error),
            },
            Event::RollbackFailed { address, error } => Event::RollbackFailed {
                address,
                error: clean(error),
            },
            Event::Stopping { reason } => Event::Stopping {
                reason: clean(reason),
            },
            other => other,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_events_hide_credentials_in_messages() {
        let address = Address::parse("namespace.app").unwrap();
        let event = Event::Failed {
            address: address.clone(),
            error: "rejected token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl".into(),
        };
        assert_eq!(
            event.redacted(),
            Event::Failed {
                address,
                error: "rejected token <redacted>".into()
            }
        );
    }
}
