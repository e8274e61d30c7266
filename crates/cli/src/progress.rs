//! Showing an apply as it happens: JSON lines for pipelines (`--events json`), spinners on a
//! terminal (indicatif), plain lines otherwise. None of them can stop the apply: output that
//! cannot be written is dropped (`output::print_while_applying`, `output::note`).

use crate::output::{note, print_while_applying};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use meshctl_engine::{Cancel, Event, EventSink};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// One JSON object per line on stdout, flushed per event.
pub struct JsonLines;

impl EventSink for JsonLines {
    fn emit(&self, event: Event) {
        let event = event.redacted();
        if let Ok(line) = serde_json::to_string(&event) {
            print_while_applying(&(line + "\n"));
        }
    }
}

/// Human-readable lines on stderr.
pub struct PlainLines {
    cancel: Cancel,
}

impl PlainLines {
    /// `cancel` is the apply's: once interrupted, the interrupt handler has said so already.
    pub fn new(cancel: Cancel) -> Self {
        PlainLines { cancel }
    }
}

impl EventSink for PlainLines {
    fn emit(&self, event: Event) {
        let event = event.redacted();
        if let Some(line) = describe(&event, &self.cancel) {
            note(&line);
        }
    }
}

/// A spinner per running resource; finished ones leave a line.
pub struct Spinners {
    bars: MultiProgress,
    running: Mutex<HashMap<String, ProgressBar>>,
    cancel: Cancel,
}

impl Spinners {
    /// `cancel` is the apply's: once interrupted, the interrupt handler has said so already.
    pub fn new(cancel: Cancel) -> Self {
        Spinners {
            bars: MultiProgress::new(),
            running: Mutex::new(HashMap::new()),
            cancel,
        }
    }
}

impl EventSink for Spinners {
    fn emit(&self, event: Event) {
        let event = event.redacted();
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match &event {
            Event::Started {
                address, action, ..
            } => {
                let bar = self.bars.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(format!("{address}: {action}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                running.insert(address.to_string(), bar);
            }
            Event::Progress { address, message }
            | Event::Retrying {
                address,
                error: message,
                ..
            } => {
                if let Some(bar) = running.get(&address.to_string()) {
                    bar.set_message(format!("{address}: {message}"));
                }
            }
            Event::Finished { address, .. } | Event::Failed { address, .. } => {
                if let Some(bar) = running.remove(&address.to_string()) {
                    bar.finish_and_clear();
                }
                if let Some(line) = describe(&event, &self.cancel) {
                    let _ = self.bars.println(line);
                }
            }
            _ => {
                if let Some(line) = describe(&event, &self.cancel) {
                    let _ = self.bars.println(line);
                }
            }
        }
    }
}

/// The line an event shows as; `None` for a `stopping` event after an interrupt, which the
/// interrupt handler has already announced (with how to abort).
fn describe(event: &Event, cancel: &Cancel) -> Option<String> {
    Some(match event {
        Event::Started {
            address, action, ..
        } => format!("{address}: {action}…"),
        Event::Progress { address, message } => format!("{address}: {message}"),
        Event::Retrying {
            address,
            attempt,
            wait_ms,
            error,
        } => format!(
            "{address}: retrying in {:.1}s (attempt {}): {error}",
            *wait_ms as f64 / 1000.0,
            attempt + 1
        ),
        Event::Finished {
            address,
            action,
            elapsed_ms,
            ..
        } => format!(
            "✓ {address}: {action} done in {:.1}s",
            *elapsed_ms as f64 / 1000.0
        ),
        Event::Failed { address, error } => format!("✗ {address}: {error}"),
        Event::RollbackStarted { steps } => format!("Rolling back {steps} step(s) of this run…"),
        Event::RolledBack { address } => format!("↺ {address}: rolled back"),
        Event::RollbackFailed { address, error } => {
            format!("✗ {address}: rollback failed: {error}")
        }
        Event::Stopping { .. } if cancel.stopping() => return None,
        Event::Stopping { reason } => format!("Stopping: {reason}"),
    })
}
