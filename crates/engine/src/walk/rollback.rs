//! Rollback: after a permanent failure, this run's completed steps (and the failed step's
//! leftovers) are undone newest first; a step whose undoing fails is left `tainted`.

use super::schedule::Phase;
use super::step::{joined, retry_create, EventProgress, StepError};
use super::{Done, StepFailure, Undo, Walk};
use crate::events::Event;
use crate::Failure;
use meshctl_model::record::{NodeRecord, OwnedObject, Status};
use meshctl_model::Address;
use meshctl_plan::{Action, ResourceChange};
use meshctl_provider::{Provider, Request};
use meshctl_state::Change;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// How to undo a failed step: what it left behind, and the prior record if it had one. A failed
/// replace may already have deleted the old object, so that one is brought back by creating.
pub(super) fn undo_failed(walk: &Walk, failed: StepFailure) -> Done {
    let step = &walk.steps[failed.step];
    let partial = failed.error.made().to_vec();
    // An import that failed after recording what it adopted: its fields go back and the record
    // stays `imported` (the object existed before this run, and may already carry the marks);
    // only what the step made is removed.
    let adopted = (step.action == Action::Import)
        .then(|| walk.state.record(&step.address).ok().flatten())
        .flatten();
    let undo = match (walk.prior.get(&step.address), adopted) {
        // The old objects are already gone, and the completed destroy phase brings them back.
        (Some(_), _) if failed.phase == Phase::Create => Undo::Created(partial),
        (Some(prior), _) => Undo::Restore {
            prior: prior.clone(),
            current: partial,
            recreate: step.action == Action::Replace,
        },
        (None, Some(imported)) => Undo::Restore {
            prior: NodeRecord {
                status: Status::Imported,
                ..imported
            },
            current: partial,
            recreate: false,
        },
        (None, None) => Undo::Created(partial),
    };
    Done {
        step: failed.step,
        node: failed.node,
        undo,
    }
}

/// Undoes completed steps, newest first; returns those whose undoing failed (now tainted). Stops
/// at the first undoing the state store did not take, returning that failure: undoing more
/// without a writable state would lose track of the world.
pub(super) async fn roll_back(
    walk: &Walk,
    completed: Vec<Done>,
) -> Result<Vec<(Address, String)>, Failure> {
    walk.events.emit(Event::RollbackStarted {
        steps: completed.len(),
    });
    let mut tainted = Vec::new();
    for done in completed.into_iter().rev() {
        let address = walk.steps[done.step].address.clone();
        match undo(walk, done.step, done.undo).await {
            Ok(()) => walk.events.emit(Event::RolledBack { address }),
            Err(error) => {
                let unsaved = error.state_not_saved().is_some();
                let class = error.class();
                let error = error.to_string();
                walk.events.emit(Event::RollbackFailed {
                    address: address.clone(),
                    error: error.clone(),
                });
                if unsaved {
                    return Err(Failure {
                        address,
                        class,
                        message: error,
                    });
                }
                tainted.push((address, error));
            }
        }
    }
    Ok(tainted)
}

/// Undoes one step; on failure the record is left tainted and the error returned.
async fn undo(walk: &Walk, step: usize, undo: Undo) -> Result<(), StepError> {
    let change = &walk.steps[step];
    let Some(provider) = walk.providers.get(change.kind) else {
        return Err(StepError::NoProvider(change.kind));
    };
    let progress = EventProgress(walk.events.clone());
    let recorded = |e| StepError::state("record the undoing in state", e);
    let result: Result<(), StepError> = async {
        match undo {
            Undo::Forget => walk
                .state
                .commit(Change {
                    remove: vec![change.address.clone()],
                    ..Change::default()
                })
                .map_err(recorded),
            Undo::Created(objects) => {
                if !objects.is_empty() {
                    let inputs = walk.inputs(change);
                    walk.call(change, || {
                        provider.delete(&change.address, &objects, &inputs, &progress)
                    })
                    .await
                    .map_err(|e| StepError::provider(e, Vec::new()))?;
                }
                walk.state
                    .commit(Change {
                        remove: vec![change.address.clone()],
                        ..Change::default()
                    })
                    .map_err(recorded)
            }
            Undo::Restore {
                prior,
                current,
                recreate,
            } => {
                let mut journal_entry = None;
                if meshctl_plan::recorded::holds_redacted(&prior.desired) {
                    return Err(StepError::SecretsNotRestorable);
                }
                let restored = if recreate {
                    if !current.is_empty() {
                        let inputs = walk.inputs(change);
                        walk.call(change, || {
                            provider.delete(&change.address, &current, &inputs, &progress)
                        })
                        .await
                        .map_err(|e| StepError::provider(e, Vec::new()))?;
                    }
                    recreate_record(walk, change, provider, &prior).await?
                } else if prior.objects.is_empty() && current.is_empty() {
                    prior.clone()
                } else {
                    let inputs = walk.inputs(change);
                    let request = Request {
                        address: &change.address,
                        desired: &prior.desired,
                        inputs: &inputs,
                    };
                    let current_desired = change.desired.clone().unwrap_or(Value::Null);
                    // The update being undone may have made objects (and removed some): the
                    // provider is handed all of them, so it removes the new ones, and what the
                    // undoing update makes is recorded as it is made.
                    let holding = walk
                        .state
                        .record(&change.address)
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| prior.clone());
                    let before = NodeRecord {
                        objects: joined(&prior.objects, &current),
                        ..holding
                    };
                    let (applied, entry) = walk
                        .update_recorded(provider, change, &before, &request, &current_desired)
                        .await?;
                    journal_entry = Some(entry);
                    NodeRecord {
                        objects: applied.objects,
                        outputs: applied.outputs,
                        live: Some(applied.live),
                        ..prior.clone()
                    }
                };
                walk.state
                    .commit(Change {
                        put: vec![restored],
                        close: journal_entry.into_iter().collect(),
                        ..Change::default()
                    })
                    .map_err(recorded)
            }
            Undo::Recreate(prior) => {
                let restored = recreate_record(walk, change, provider, &prior).await?;
                walk.state
                    .commit(Change {
                        put: vec![restored],
                        ..Change::default()
                    })
                    .map_err(recorded)
            }
        }
    }
    .await;
    if result.is_ok() {
        // Steps undone after this one (older ones) see the outputs as they are again: a
        // dependent recreated in its old form needs its producer's old outputs, not the new ones.
        let current = walk.state.record(&change.address).ok().flatten();
        if let Some(outputs) = current
            .map(|r| r.outputs)
            .or_else(|| walk.prior.get(&change.address).map(|p| p.outputs.clone()))
        {
            walk.publish_outputs(&change.address, &outputs);
        }
    }
    if result.is_err() {
        let current = walk.state.record(&change.address).ok().flatten();
        let tainted = match current {
            // A tainted record is replaced by the next apply; an adopted object must never be:
            // it stays recorded as imported, and the next apply puts its fields right.
            Some(record) if change.action == Action::Import => NodeRecord {
                status: Status::Imported,
                ..record
            },
            Some(record) => NodeRecord {
                status: Status::Tainted,
                ..record
            },
            None => match walk.prior.get(&change.address) {
                Some(prior) => NodeRecord {
                    status: Status::Tainted,
                    ..prior.clone()
                },
                None => return result,
            },
        };
        let _ = walk.state.commit(Change {
            put: vec![tainted],
            ..Change::default()
        });
    }
    result
}

/// Creates the resource again from its prior record (rollback of a delete or replace).
async fn recreate_record(
    walk: &Walk,
    change: &ResourceChange,
    provider: &Arc<dyn Provider>,
    prior: &NodeRecord,
) -> Result<NodeRecord, StepError> {
    let inputs = walk.inputs(change);
    let request = Request {
        address: &change.address,
        desired: &prior.desired,
        inputs: &inputs,
    };
    let made: Mutex<Vec<OwnedObject>> = Mutex::new(Vec::new());
    let record_object = |object: OwnedObject| {
        let mut made = made.lock().unwrap_or_else(|p| p.into_inner());
        made.push(object);
        let partial = NodeRecord {
            status: Status::Creating,
            objects: made.clone(),
            ..prior.clone()
        };
        let _ = walk.state.commit(Change {
            put: vec![partial],
            ..Change::default()
        });
    };
    let progress = EventProgress(walk.events.clone());
    let applied = walk
        .call(change, || {
            retry_create(provider, &request, &made, &record_object, &progress)
        })
        .await
        .map_err(|e| StepError::provider(e, Vec::new()))?;
    Ok(NodeRecord {
        status: Status::Ok,
        objects: applied.objects,
        outputs: applied.outputs,
        live: Some(applied.live),
        ..prior.clone()
    })
}
