//! The apply walk: `apply` runs a plan's steps, each as soon as `schedule` says it may start,
//! running it through `step` (journal, provider call with retries, timeouts and rate limits,
//! records), and after a permanent failure `rollback` undoes this run's completed steps, newest
//! first.

mod rollback;
mod schedule;
mod step;

use crate::events::{Event, EventSink};
use crate::limits::{Limiters, RateWaits};
use crate::{ApplyOptions, Cancel, EngineError, Failure, Outcome, Providers};
use meshctl_model::record::{NodeRecord, OwnedObject};
use meshctl_model::Address;
use meshctl_plan::{Action, Plan, ResourceChange};
use meshctl_state::{Change, JournalEntry, Operation, StateError, StateStore};
use rollback::{roll_back, undo_failed};
use schedule::{nodes, order, remaining_path, Phase};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use step::{run_step, StepError};
use tokio::task::JoinSet;

type Outputs = BTreeMap<String, Value>;

/// Journal entry ids and the objects they recorded, of one address.
type Leftovers = (Vec<u64>, Vec<OwnedObject>);

/// Steps done, and whether the state write that was to hold their records did.
type Synced = (Vec<Done>, Result<(), StateError>);

/// Everything a running step needs; shared by all steps of one walk.
struct Walk {
    steps: Vec<ResourceChange>,
    state: Arc<dyn StateStore>,
    providers: Providers,
    options: ApplyOptions,
    events: Arc<dyn EventSink>,
    limiters: Limiters,
    /// The records as they were before this run: what rollback restores.
    prior: HashMap<Address, NodeRecord>,
    /// Outputs of every resource known so far: prior ones, then those of finished steps.
    outputs: Mutex<HashMap<Address, Outputs>>,
    /// Open journal entries of earlier runs that were killed: their ids and the objects they
    /// recorded, by address. The step of that address cleans up before it creates anything.
    leftovers: Mutex<HashMap<Address, Leftovers>>,
    /// Journal entries this walk opened before its first step (`open_intents`) that no step
    /// has taken yet, by address.
    intents: Mutex<HashMap<Address, JournalEntry>>,
    /// Steps waiting on a rate limiter, which hold no parallel slot meanwhile.
    rate_waits: RateWaits,
    /// When the walk began: events say when each step started and finished after it.
    began: tokio::time::Instant,
}

impl Walk {
    /// Milliseconds since the walk began.
    fn at_ms(&self) -> u64 {
        u64::try_from(self.began.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// How to undo one completed step.
#[derive(Debug, Clone)]
enum Undo {
    /// Created: delete these objects and forget the record.
    Created(Vec<OwnedObject>),
    /// Updated, read or replaced: bring back the prior record (recreating or reverting the world).
    Restore {
        prior: NodeRecord,
        current: Vec<OwnedObject>,
        recreate: bool,
    },
    /// Deleted: recreate from the prior record.
    Recreate(NodeRecord),
    /// Read something not recorded before: forget it.
    Forget,
}

struct Done {
    step: usize,
    node: usize,
    undo: Undo,
}

struct StepFailure {
    step: usize,
    /// The scheduled node (index into the walk's nodes) and its phase.
    node: usize,
    phase: Phase,
    /// Why, with the objects the failed step made, which the rollback removes.
    error: StepError,
}

/// Applies `plan`. The caller has checked that the plan is current and holds the state lock.
pub async fn apply(
    plan: &Plan,
    state: Arc<dyn StateStore>,
    providers: &Providers,
    options: &ApplyOptions,
    events: Arc<dyn EventSink>,
    cancel: Cancel,
) -> Result<Outcome, EngineError> {
    let steps: Vec<ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .cloned()
        .collect();
    for step in &steps {
        if providers.get(step.kind).is_none() {
            return Err(EngineError::NoProvider(step.kind));
        }
    }
    let prior: HashMap<Address, NodeRecord> = state
        .records()?
        .into_iter()
        .map(|r| (r.address.clone(), r))
        .collect();
    let outputs = prior
        .iter()
        .map(|(a, r)| (a.clone(), r.outputs.clone()))
        .collect();
    let mut leftovers: HashMap<Address, Leftovers> = HashMap::new();
    for entry in state.journal()? {
        let slot = leftovers.entry(entry.address.clone()).or_default();
        slot.0.push(entry.id);
        slot.1.extend(entry.objects);
    }
    if steps.is_empty() {
        let serial = state.meta()?.serial;
        return Ok(Outcome::Applied { serial });
    }
    let intents = match open_intents(&steps, &prior, state.as_ref()) {
        Ok(intents) => intents,
        // Nothing was made: the first step to make something stops here, as it would have at
        // its own journal entry.
        Err((address, error)) => {
            let message = StepError::state("journal what this run will make", error).to_string();
            events.emit(Event::Failed {
                address: address.clone(),
                error: message.clone(),
            });
            return Ok(Outcome::StateNotSaved {
                failure: Failure {
                    address,
                    class: None,
                    message,
                },
                also_failed: None,
            });
        }
    };
    let walk = Arc::new(Walk {
        limiters: options.rate_limits.limiters(),
        steps,
        state: Arc::new(crate::recording::RecordingStore(state.clone())),
        providers: providers.clone(),
        options: options.clone(),
        events: events.clone(),
        prior,
        outputs: Mutex::new(outputs),
        leftovers: Mutex::new(leftovers),
        intents: Mutex::new(intents),
        rate_waits: RateWaits::default(),
        began: tokio::time::Instant::now(),
    });

    let nodes = nodes(&walk.steps, &walk.prior);
    let (mut waiting_on, dependents) = order(&walk.steps, &nodes);
    // Ready nodes, longest remaining path first (then in plan order).
    let remaining = remaining_path(&waiting_on, &dependents);
    let mut ready: BinaryHeap<(usize, Reverse<usize>)> = (0..nodes.len())
        .filter(|i| waiting_on[*i] == 0)
        .map(|i| (remaining[i], Reverse(i)))
        .collect();
    let mut running: JoinSet<Result<Done, StepFailure>> = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut completed: Vec<Done> = Vec::new();
    // Steps done whose records may not be durable yet, and the sync under way for a batch of
    // them: a step's dependents start once its record is durable, so the world never holds
    // something built on a resource the state could lose.
    let mut unsynced: Vec<Done> = Vec::new();
    let mut syncing: Option<tokio::task::JoinHandle<Synced>> = None;
    let mut failure: Option<StepFailure> = None;
    // The first step whose record the state did not take: nothing starts after it, and nothing
    // is undone.
    let mut not_saved: Option<StepFailure> = None;
    let mut aborted = false;
    let limit = if options.parallelism == 0 {
        usize::MAX
    } else {
        options.parallelism
    };
    loop {
        if cancel.aborting() && !aborted {
            aborted = true;
            running.abort_all();
        }
        let stopping = failure.is_some() || not_saved.is_some() || cancel.stopping();
        // A step waiting on a rate limiter holds no slot.
        while !stopping && running.len().saturating_sub(walk.rate_waits.waiting()) < limit {
            let Some((_, Reverse(index))) = ready.pop() else {
                break;
            };
            let node = nodes[index];
            let change = &walk.steps[node.step];
            if node.phase != Phase::Create {
                events.emit(Event::Started {
                    address: change.address.clone(),
                    action: change.action.verb().to_string(),
                    at_ms: walk.at_ms(),
                });
            }
            let handle = running.spawn(run_step(walk.clone(), node, index));
            in_flight.insert(handle.id(), index);
        }
        if syncing.is_none() && !unsynced.is_empty() {
            let batch = std::mem::take(&mut unsynced);
            let store = walk.state.clone();
            syncing = Some(tokio::task::spawn_blocking(move || {
                let synced = store.sync();
                (batch, synced)
            }));
        }
        if running.is_empty() && syncing.is_none() {
            break;
        }
        tokio::select! {
            synced = async {
                match syncing.as_mut() {
                    Some(handle) => handle.await,
                    None => std::future::pending().await,
                }
            }, if syncing.is_some() => {
                syncing = None;
                let (batch, synced) = match synced {
                    Ok(synced) => synced,
                    Err(error) => (Vec::new(), Err(StateError::Invalid(format!("waiting for the state write stopped: {error}")))),
                };
                match synced {
                    Ok(()) => {
                        for done in batch {
                            for &next in &dependents[done.node] {
                                waiting_on[next] -= 1;
                                if waiting_on[next] == 0 {
                                    ready.push((remaining[next], Reverse(next)));
                                }
                            }
                            completed.push(done);
                        }
                    }
                    Err(error) => {
                        let node = batch.first().map_or(0, |done| done.node);
                        let address = walk.steps[nodes[node].step].address.clone();
                        if not_saved.is_none() {
                            events.emit(Event::Stopping { reason: format!("the state did not take the record of {address}") });
                            not_saved = Some(StepFailure { step: nodes[node].step, node, phase: nodes[node].phase, error: StepError::state("make the step's record durable", error) });
                        }
                        completed.extend(batch);
                    }
                }
            }
            joined = running.join_next_with_id(), if !running.is_empty() => {
                let result = match joined {
                    Some(Ok((id, result))) => {
                        in_flight.remove(&id);
                        result
                    }
                    Some(Err(error)) => {
                        let index = in_flight.remove(&error.id()).unwrap_or(0);
                        if error.is_cancelled() {
                            // Aborted by a second Ctrl-C: state keeps what the step recorded.
                            continue;
                        }
                        let node = nodes[index];
                        Err(StepFailure { step: node.step, node: index, phase: node.phase, error: StepError::Panicked(error.to_string()) })
                    }
                    None => continue,
                };
                match result {
                    Ok(done) => unsynced.push(done),
                    Err(failed) => {
                        events.emit(Event::Failed { address: walk.steps[failed.step].address.clone(), error: failed.error.to_string() });
                        if not_saved.is_none() && failed.error.state_not_saved().is_some() {
                            events.emit(Event::Stopping { reason: format!("the state did not take the record of {}", walk.steps[failed.step].address) });
                            not_saved = Some(failed);
                        } else if failure.is_none() {
                            events.emit(Event::Stopping { reason: format!("{} failed", walk.steps[failed.step].address) });
                            failure = Some(failed);
                        } else {
                            // Another step that was already running failed too: undo it as well.
                            completed.push(undo_failed(&walk, failed));
                        }
                    }
                }
            }
            // A step began waiting on a rate limiter: its slot may go to a ready step.
            _ = walk.rate_waits.started_waiting() => {}
            _ = cancel.changed() => {
                if !cancel.aborting() {
                    events.emit(Event::Stopping { reason: "interrupted: finishing running steps".to_string() });
                }
            }
        }
    }

    let changed: Vec<Address> = walk.steps.iter().map(|s| s.address.clone()).collect();
    if let Some(unsaved) = not_saved {
        // No finish either: it writes, and the store has stopped taking writes.
        return Ok(Outcome::StateNotSaved {
            failure: failure_of(&walk, &unsaved),
            also_failed: failure.map(|failed| failure_of(&walk, &failed)),
        });
    }
    close_unused_intents(&walk)?;
    let Some(failed) = failure else {
        let serial = state.finish(&options.operation, &changed)?;
        // An interrupt that came when every step had finished (or was finishing) stopped nothing.
        return Ok(if cancel.stopping() && completed.len() < walk.steps.len() {
            Outcome::Interrupted { serial }
        } else {
            Outcome::Applied { serial }
        });
    };
    let failure = failure_of(&walk, &failed);
    if !options.rollback {
        let serial = state.finish(&options.operation, &changed)?;
        return Ok(Outcome::Failed { failure, serial });
    }
    // Undo the failed step's leftovers first, then completed steps, newest first.
    completed.push(undo_failed(&walk, failed));
    let tainted = match roll_back(&walk, completed).await {
        Ok(tainted) => tainted,
        // The state stopped taking writes while undoing: undoing more would lose track.
        Err(unsaved) => {
            return Ok(Outcome::StateNotSaved {
                failure: unsaved,
                also_failed: Some(failure),
            })
        }
    };
    let serial = state.finish(&format!("{} (rolled back)", options.operation), &changed)?;
    Ok(if tainted.is_empty() {
        Outcome::RolledBack { failure, serial }
    } else {
        Outcome::RollbackIncomplete {
            failure,
            tainted,
            serial,
        }
    })
}

/// Opens, in one durable write, the journal entry of every create of an unrecorded resource and
/// of every update in `steps`, so that no step waits for a write of its own before the provider
/// makes anything (`Walk::open_journal` hands them out). An entry whose step never runs is
/// closed when the walk ends; one a kill leaves open makes the next run sweep an address where
/// it may find nothing, which costs a read.
/// A failure names the first step that has an entry.
fn open_intents(
    steps: &[ResourceChange],
    prior: &HashMap<Address, NodeRecord>,
    state: &dyn StateStore,
) -> Result<HashMap<Address, JournalEntry>, (Address, StateError)> {
    let mut intents = HashMap::new();
    let mut first = None;
    for change in steps {
        let operation = match change.action {
            Action::Create if !prior.contains_key(&change.address) => Operation::Create,
            // An import's writes are its update.
            Action::Update | Action::Import => Operation::Update,
            _ => continue,
        };
        let first = first.get_or_insert_with(|| change.address.clone());
        let id = state
            .next_journal_id()
            .map_err(|error| (first.clone(), error))?;
        let entry = JournalEntry {
            id,
            address: change.address.clone(),
            operation,
            started: meshctl_state::now_rfc3339(),
            objects: Vec::new(),
        };
        intents.insert(change.address.clone(), entry);
    }
    if let Some(first) = first {
        state
            .commit(Change {
                open: intents.values().cloned().collect(),
                ..Change::default()
            })
            .map_err(|error| (first, error))?;
    }
    Ok(intents)
}

/// Closes the entries `open_intents` opened for steps that never ran (the walk stopped first).
fn close_unused_intents(walk: &Walk) -> Result<(), StateError> {
    let unused: Vec<u64> = walk
        .intents
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .map(|(_, entry)| entry.id)
        .collect();
    if unused.is_empty() {
        return Ok(());
    }
    walk.state.commit_behind(Change {
        close: unused,
        ..Change::default()
    })
}

/// The failure of a step, for the outcome.
fn failure_of(walk: &Walk, failed: &StepFailure) -> Failure {
    Failure {
        address: walk.steps[failed.step].address.clone(),
        class: failed.error.class(),
        message: failed.error.to_string(),
    }
}
