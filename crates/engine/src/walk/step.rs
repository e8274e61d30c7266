//! Running one step: the journal entry before the provider call, the call through the service's
//! rate limit, the kind's timeout and retries, each object recorded as the provider reports it,
//! and the record complete before the step counts as done.

use super::schedule::{Node, Phase};
use super::{Done, Outputs, StepFailure, Undo, Walk};
use crate::events::{Event, EventSink};
use meshctl_model::record::{NodeRecord, OwnedObject, Status};
use meshctl_model::{Address, Kind};
use meshctl_plan::{Action, ResourceChange};
use meshctl_provider::{Applied, ErrorClass, Progress, Provider, ProviderError, Request};
use meshctl_state::{Change, JournalEntry, Operation, StateError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub(super) struct EventProgress(pub(super) Arc<dyn EventSink>);

impl Progress for EventProgress {
    fn update(&self, address: &Address, message: &str) {
        self.0.emit(Event::Progress {
            address: address.clone(),
            message: message.to_string(),
        });
    }
}

pub(super) async fn run_step(
    walk: Arc<Walk>,
    node: Node,
    index: usize,
) -> Result<Done, StepFailure> {
    let started = Instant::now();
    let step = node.step;
    let change = walk.steps[step].clone();
    let fail = |error: StepError| StepFailure {
        step,
        node: index,
        phase: node.phase,
        error,
    };
    let prior = walk.prior.get(&change.address).cloned();
    match (node.phase, &prior) {
        (Phase::Destroy, Some(prior)) => {
            let result = match walk.provider(&change) {
                Ok(provider) => walk.delete_and_forget(provider, &change, prior).await,
                Err(e) => Err(e),
            };
            return match result {
                Ok(()) => Ok(Done {
                    step,
                    node: index,
                    undo: Undo::Recreate(prior.clone()),
                }),
                Err(error) => Err(fail(error)),
            };
        }
        (Phase::Create, _) => {
            let desired = change.desired.clone().map(|d| walk.resolve(d));
            if desired.as_ref().is_some_and(contains_unknown) {
                return Err(fail(StepError::UnknownInput));
            }
            return match walk.create(&change, desired.as_ref()).await {
                Ok(objects) => {
                    walk.finished(&change, started);
                    Ok(Done {
                        step,
                        node: index,
                        undo: Undo::Created(objects),
                    })
                }
                Err(error) => Err(fail(StepError::OldObjectDeleted(Box::new(error)))),
            };
        }
        _ => {}
    }
    let desired = change.desired.clone().map(|d| walk.resolve(d));
    if let Some(d) = &desired {
        if meshctl_plan::is_unknown(d) || contains_unknown(d) {
            return Err(fail(StepError::UnknownInput));
        }
    }
    let result = match change.action {
        Action::Create => walk
            .create(&change, desired.as_ref())
            .await
            .map(Undo::Created),
        Action::Update | Action::Read => {
            walk.update_or_read(&change, desired.as_ref(), prior.as_ref())
                .await
        }
        Action::Delete => walk.delete(&change, prior.as_ref()).await,
        Action::Import => walk.import(&change, desired.as_ref()).await,
        Action::Replace => {
            walk.replace(&change, desired.as_ref(), prior.as_ref())
                .await
        }
        Action::NoOp => Ok(Undo::Forget),
    };
    match result {
        Ok(undo) => {
            walk.finished(&change, started);
            Ok(Done {
                step,
                node: index,
                undo,
            })
        }
        Err(error) => Err(fail(error)),
    }
}

fn contains_unknown(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("${"),
        Value::Array(items) => items.iter().any(contains_unknown),
        Value::Object(map) => map.values().any(contains_unknown),
        _ => false,
    }
}

/// Why one step failed, worded for the apply's report, which puts the resource's address before
/// it: what went wrong and, where the provider said, what to do. The provider's and the state's
/// errors stay attached as sources, the provider's with its class.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    /// A provider call failed, after the engine's retries.
    #[error("{}", provider_said(.source))]
    Provider {
        #[source]
        source: Box<ProviderError>,
        /// Objects the failed step made, which the record keeps and the rollback removes.
        made: Vec<OwnedObject>,
    },
    /// Removing what a killed earlier run left behind failed.
    #[error("cannot clean up after an interrupted run: {}", provider_said(.source))]
    CleanUp {
        #[source]
        source: Box<ProviderError>,
    },
    /// The state store did not take what the step recorded: the apply stops starting steps and
    /// undoes nothing, since undoing without a writable state would lose track of the world.
    #[error("cannot {doing}: {source}")]
    State {
        /// What was being written, e.g. `record a created object in state`.
        doing: &'static str,
        #[source]
        source: Box<StateError>,
        /// Objects the step made (the store keeps them in memory, for the errored-state file).
        made: Vec<OwnedObject>,
    },
    #[error("a value it needs from another resource is still unknown")]
    UnknownInput,
    #[error("{0} was not found")]
    NotFound(Address),
    #[error("no provider handles {0} resources")]
    NoProvider(Kind),
    /// Creating the new objects of a replacement failed after the old ones were deleted.
    #[error("{0} (the old object was already deleted)")]
    OldObjectDeleted(#[source] Box<StepError>),
    #[error("the step panicked: {0}")]
    Panicked(String),
    /// A plan file whose import step names no id (written by hand, or damaged).
    #[error("the plan imports it but names no id to import; make the plan again")]
    NoImportId,
    /// Rollback only: the prior record holds secrets as digests.
    #[error("its recorded values hold secrets, which state keeps only as digests, so they cannot be written back; apply the stack again to put it right")]
    SecretsNotRestorable,
}

/// What a provider said, with its help on its own line.
fn provider_said(error: &ProviderError) -> String {
    error.explained()
}

impl StepError {
    /// A failed provider call that made `made` before failing.
    pub(super) fn provider(source: ProviderError, made: Vec<OwnedObject>) -> Self {
        StepError::Provider {
            source: Box::new(source),
            made,
        }
    }

    /// A state write that failed while `doing` (e.g. `record the step in state`).
    pub(super) fn state(doing: &'static str, source: StateError) -> Self {
        StepError::State {
            doing,
            source: Box::new(source),
            made: Vec::new(),
        }
    }

    /// The same error, naming `made` as the objects the step made.
    pub(super) fn with_made(self, objects: Vec<OwnedObject>) -> Self {
        match self {
            StepError::Provider { source, .. } => StepError::Provider {
                source,
                made: objects,
            },
            StepError::State { doing, source, .. } => StepError::State {
                doing,
                source,
                made: objects,
            },
            other => other,
        }
    }

    /// Objects the failed step made, which the record keeps and the rollback removes.
    pub(super) fn made(&self) -> &[OwnedObject] {
        match self {
            StepError::Provider { made, .. } | StepError::State { made, .. } => made,
            StepError::OldObjectDeleted(inner) => inner.made(),
            _ => &[],
        }
    }

    /// How the provider classed the failure; `None` when no provider call failed.
    pub(crate) fn class(&self) -> Option<ErrorClass> {
        match self {
            StepError::Provider { source, .. } | StepError::CleanUp { source } => {
                Some(source.class)
            }
            StepError::OldObjectDeleted(inner) => inner.class(),
            _ => None,
        }
    }

    /// The state error, when the state store did not take a write: the walk must stop without
    /// undoing anything.
    pub(crate) fn state_not_saved(&self) -> Option<&StateError> {
        match self {
            StepError::State { source, .. } => Some(&**source),
            StepError::OldObjectDeleted(inner) => inner.state_not_saved(),
            _ => None,
        }
    }
}

/// `first`, then those of `more` it does not hold already.
pub(super) fn joined(first: &[OwnedObject], more: &[OwnedObject]) -> Vec<OwnedObject> {
    let mut all = first.to_vec();
    for object in more {
        if !all.contains(object) {
            all.push(object.clone());
        }
    }
    all
}

impl Walk {
    /// Tells that the step of `change`, begun at `started`, is done and recorded.
    fn finished(&self, change: &ResourceChange, started: Instant) {
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.events.emit(Event::Finished {
            address: change.address.clone(),
            action: change.action.verb().to_string(),
            elapsed_ms: millis(started.elapsed()),
            rate_wait_ms: millis(self.rate_waits.take_waited(&change.address)),
            at_ms: self.at_ms(),
        });
    }

    fn resolve(&self, mut desired: Value) -> Value {
        let outputs = self.outputs.lock().unwrap_or_else(|p| p.into_inner());
        meshctl_plan::resolve_outputs(&mut desired, &|address, output| {
            outputs.get(address).and_then(|o| o.get(output)).cloned()
        });
        desired
    }

    fn provider(&self, change: &ResourceChange) -> Result<&Arc<dyn Provider>, StepError> {
        self.providers
            .get(change.kind)
            .ok_or(StepError::NoProvider(change.kind))
    }

    /// Outputs of what the step depends on, for typed references (`alias: alb.public`).
    pub(super) fn inputs(&self, change: &ResourceChange) -> BTreeMap<Address, Outputs> {
        let outputs = self.outputs.lock().unwrap_or_else(|p| p.into_inner());
        change
            .depends_on
            .iter()
            .filter_map(|a| outputs.get(a).map(|o| (a.clone(), o.clone())))
            .collect()
    }

    fn commit(&self, change: Change) -> Result<(), StepError> {
        self.state
            .commit(change)
            .map_err(|e| StepError::state("record the step in state", e))
    }

    /// Commits what an open journal entry still covers: the walk makes it durable before the
    /// step's dependents start (`Walk::apply`'s sync).
    fn commit_behind(&self, change: Change) -> Result<(), StepError> {
        self.state
            .commit_behind(change)
            .map_err(|e| StepError::state("record the step in state", e))
    }

    /// Commits the record of an object the provider reported: behind when the provider's sweep
    /// finds such objects without it, else durable before the provider goes on.
    fn commit_object(
        &self,
        provider: &Arc<dyn Provider>,
        change: &ResourceChange,
        recorded: Change,
    ) -> Result<(), StateError> {
        if provider.sweep_finds_everything(change.kind) {
            self.state.commit_behind(recorded)
        } else {
            self.state.commit(recorded)
        }
    }

    /// The journal entry of `operation` on `address`: the one the walk opened before it started
    /// (`Walk::open_intents`), else a new one, durable before this returns.
    fn open_journal(
        &self,
        address: &Address,
        operation: Operation,
    ) -> Result<JournalEntry, StepError> {
        {
            let mut intents = self.intents.lock().unwrap_or_else(|p| p.into_inner());
            if intents
                .get(address)
                .is_some_and(|entry| entry.operation == operation)
            {
                if let Some(entry) = intents.remove(address) {
                    return Ok(entry);
                }
            }
        }
        let id = self
            .state
            .next_journal_id()
            .map_err(|e| StepError::state("write the journal", e))?;
        let entry = JournalEntry {
            id,
            address: address.clone(),
            operation,
            started: meshctl_state::now_rfc3339(),
            objects: Vec::new(),
        };
        self.commit(Change {
            open: vec![entry.clone()],
            ..Change::default()
        })?;
        Ok(entry)
    }

    fn record(
        &self,
        change: &ResourceChange,
        desired: &Value,
        applied: &Applied,
        status: Status,
    ) -> NodeRecord {
        NodeRecord {
            accepted: Vec::new(),
            address: change.address.clone(),
            status,
            desired: desired.clone(),
            live: Some(applied.live.clone()),
            outputs: applied.outputs.clone(),
            objects: applied.objects.clone(),
            dependencies: change.depends_on.clone(),
            prevent_destroy: change.prevent_destroy,
        }
    }

    pub(super) fn publish_outputs(&self, address: &Address, outputs: &Outputs) {
        self.outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(address.clone(), outputs.clone());
    }

    /// One provider call for this step, with the shared timeout, rate-limit and retry rules.
    pub(super) async fn call<T, F, Fut>(
        &self,
        change: &ResourceChange,
        attempt_call: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        self.call_sharing(change, None, attempt_call).await
    }

    /// A create, update or delete call for a resource with these `fields`: where the kind's
    /// provider sends such calls made at once in one request (`RateLimit::shared`), they wait
    /// for one rate-limit slot together.
    pub(super) async fn change_call<T, F, Fut>(
        &self,
        change: &ResourceChange,
        fields: &Value,
        attempt_call: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let shared = change
            .kind
            .schema()
            .rate_limit
            .and_then(|limit| limit.shared_key(fields));
        self.call_sharing(change, shared.as_deref(), attempt_call)
            .await
    }

    async fn call_sharing<T, F, Fut>(
        &self,
        change: &ResourceChange,
        shared: Option<&str>,
        attempt_call: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        crate::call::call(
            &self.options,
            &self.limiters,
            Some(&self.rate_waits),
            self.events.as_ref(),
            &change.address,
            shared,
            attempt_call,
        )
        .await
    }

    /// Creates the resource: the intent is in the journal first, each object is recorded as soon
    /// as the provider reports it, and the record is complete before the step counts as done.
    async fn create(
        &self,
        change: &ResourceChange,
        desired: Option<&Value>,
    ) -> Result<Vec<OwnedObject>, StepError> {
        let provider = self.provider(change)?;
        // Objects still recorded for this address (the old ones of a create-before-destroy) stay.
        let in_use = self
            .state
            .record(&change.address)
            .ok()
            .flatten()
            .map(|r| r.objects)
            .unwrap_or_default();
        self.clean_leftovers(provider, change, &in_use).await?;
        let desired = desired.cloned().unwrap_or(Value::Null);
        let entry = self.open_journal(&change.address, Operation::Create)?;
        let made: Mutex<Vec<OwnedObject>> = Mutex::new(Vec::new());
        let state_error: Mutex<Option<StateError>> = Mutex::new(None);
        let record_object = |object: OwnedObject| {
            let mut made = made.lock().unwrap_or_else(|p| p.into_inner());
            made.push(object);
            let record = NodeRecord {
                accepted: Vec::new(),
                address: change.address.clone(),
                status: Status::Creating,
                desired: desired.clone(),
                live: None,
                outputs: BTreeMap::new(),
                objects: made.clone(),
                dependencies: change.depends_on.clone(),
                prevent_destroy: change.prevent_destroy,
            };
            let journal = JournalEntry {
                objects: made.clone(),
                ..entry.clone()
            };
            let recorded = Change {
                put: vec![record],
                open: vec![journal],
                ..Change::default()
            };
            if let Err(e) = self.commit_object(provider, change, recorded) {
                state_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
        };
        let inputs = self.inputs(change);
        let request = Request {
            address: &change.address,
            desired: &desired,
            inputs: &inputs,
        };
        let progress = EventProgress(self.events.clone());
        let result = self
            .change_call(change, &desired, || {
                retry_create(provider, &request, &made, &record_object, &progress)
            })
            .await;
        let made = made.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = state_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(StepError::state("record a created object in state", e).with_made(made));
        }
        let applied = match result {
            Ok(applied) => applied,
            Err(error) => {
                // The record (status creating) keeps what exists; the journal entry is closed
                // because this run knows the outcome.
                let _ = self.commit(Change {
                    close: vec![entry.id],
                    ..Change::default()
                });
                return Err(StepError::provider(error, made));
            }
        };
        let record = self.record(change, &desired, &applied, Status::Ok);
        self.commit_behind(Change {
            put: vec![record],
            close: vec![entry.id],
            ..Change::default()
        })
        .map_err(|e| e.with_made(applied.objects.clone()))?;
        self.publish_outputs(&change.address, &applied.outputs);
        Ok(applied.objects)
    }

    async fn update_or_read(
        &self,
        change: &ResourceChange,
        desired: Option<&Value>,
        prior: Option<&NodeRecord>,
    ) -> Result<Undo, StepError> {
        let provider = self.provider(change)?;
        let desired = desired.cloned().unwrap_or(Value::Null);
        let inputs = self.inputs(change);
        let request = Request {
            address: &change.address,
            desired: &desired,
            inputs: &inputs,
        };
        let (applied, closing) = if change.action == Action::Read {
            let objects = prior.map(|p| p.objects.clone()).unwrap_or_default();
            let applied = self
                .call(change, || provider.read(&request, &objects))
                .await
                .map_err(|e| StepError::provider(e, Vec::new()))?
                .ok_or_else(|| StepError::NotFound(change.address.clone()))?;
            // Whatever a killed run left open for a looked-up resource made nothing.
            let superseded = self
                .leftovers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&change.address)
                .map(|(ids, _)| ids)
                .unwrap_or_default();
            (applied, superseded)
        } else {
            let before = match prior {
                Some(prior) => prior.clone(),
                None => self.record(change, &desired, &Applied::default(), Status::Ok),
            };
            let before = self.adopt_leftovers(provider, change, before).await?;
            // What moved outside meshctl counts as the prior, so the update puts it back.
            let prior_desired = prior
                .map(|p| meshctl_plan::drift::world_before(&p.desired, &change.fields))
                .unwrap_or(Value::Null);
            let (applied, entry) = self
                .update_recorded(provider, change, &before, &request, &prior_desired)
                .await?;
            if prior.is_some_and(|p| p.status == Status::Imported) {
                // `meshctl import` recorded it unmarked; this update is its first apply.
                self.call(change, || provider.mark(&request, &applied.objects))
                    .await
                    .map_err(|e| StepError::provider(e, applied.objects.clone()))?;
            }
            (applied, vec![entry])
        };
        let record = self.record(change, &desired, &applied, Status::Ok);
        self.commit_behind(Change {
            put: vec![record],
            close: closing,
            ..Change::default()
        })
        .map_err(|e| e.with_made(applied.objects.clone()))?;
        self.publish_outputs(&change.address, &applied.outputs);
        Ok(match prior {
            Some(prior) => Undo::Restore {
                prior: prior.clone(),
                current: applied.objects,
                recreate: false,
            },
            None => Undo::Forget,
        })
    }

    /// Adopts the live object the change imports: reads it (as the plan did; the world may have
    /// moved since), records it `imported` before anything is written to it, puts right the
    /// fields where the stack differs through the provider's update, places meshctl's marks,
    /// and records it `ok`. Undoing it restores the object's fields and keeps it recorded as
    /// imported: a rollback never deletes what existed before meshctl.
    async fn import(
        &self,
        change: &ResourceChange,
        desired: Option<&Value>,
    ) -> Result<Undo, StepError> {
        let provider = self.provider(change)?;
        let id = change.importing.as_deref().ok_or(StepError::NoImportId)?;
        let desired = desired.cloned().unwrap_or(Value::Null);
        let inputs = self.inputs(change);
        let request = Request {
            address: &change.address,
            desired: &desired,
            inputs: &inputs,
        };
        let (fields, found) = self
            .call(change, || provider.import(&request, id))
            .await
            .map_err(|e| StepError::provider(e, Vec::new()))?;
        let imported = self.record(change, &fields, &found, Status::Imported);
        self.commit(Change {
            put: vec![imported.clone()],
            ..Change::default()
        })?;
        // A failure names as made only what this run made: the rollback removes those, never
        // the objects adopted (which existed before).
        let only_new = |e: StepError| {
            let made: Vec<OwnedObject> = e
                .made()
                .iter()
                .filter(|o| !imported.objects.contains(o))
                .cloned()
                .collect();
            e.with_made(made)
        };
        let before = self
            .adopt_leftovers(provider, change, imported.clone())
            .await
            .map_err(only_new)?;
        let (applied, entry) = self
            .update_recorded(provider, change, &before, &request, &fields)
            .await
            .map_err(only_new)?;
        self.call(change, || provider.mark(&request, &applied.objects))
            .await
            .map_err(|e| only_new(StepError::provider(e, applied.objects.clone())))?;
        let record = self.record(change, &desired, &applied, Status::Ok);
        self.commit_behind(Change {
            put: vec![record],
            close: vec![entry],
            ..Change::default()
        })
        .map_err(|e| only_new(e.with_made(applied.objects.clone())))?;
        self.publish_outputs(&change.address, &applied.outputs);
        Ok(Undo::Restore {
            prior: imported,
            current: applied.objects,
            recreate: false,
        })
    }

    /// Takes over what an update killed earlier left for this address before updating it again,
    /// as a create cleans up after a killed create: objects made but never recorded are swept
    /// (the provider finds them by their address), objects its journal entry recorded join the
    /// record, which the new update is handed, so it takes them over instead of making them
    /// twice. Returns the record as it now stands.
    async fn adopt_leftovers(
        &self,
        provider: &Arc<dyn Provider>,
        change: &ResourceChange,
        before: NodeRecord,
    ) -> Result<NodeRecord, StepError> {
        let found = self
            .leftovers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&change.address);
        let Some((ids, objects)) = found else {
            return Ok(before);
        };
        self.events.emit(Event::Progress {
            address: change.address.clone(),
            message: "taking over what an interrupted run made".to_string(),
        });
        let adopted = NodeRecord {
            objects: joined(&before.objects, &objects),
            ..before
        };
        let progress = EventProgress(self.events.clone());
        let inputs = self.inputs(change);
        self.call(change, || {
            provider.sweep(&change.address, &adopted.objects, &inputs, &progress)
        })
        .await
        .map_err(|source| StepError::CleanUp {
            source: Box::new(source),
        })?;
        self.commit(Change {
            put: vec![adopted.clone()],
            close: ids,
            ..Change::default()
        })?;
        Ok(adopted)
    }

    /// Updates a resource in place from `before` (its record as it stands) under an open journal
    /// entry, which the caller closes with the record of the result. Each object the provider
    /// makes is recorded at once on the record and in the journal entry, so a kill leaves it
    /// known; a retried attempt is handed the objects the failed one made, so it takes them over
    /// instead of making them again. On failure the error carries every object the resource now
    /// holds, for the rollback.
    pub(super) async fn update_recorded(
        &self,
        provider: &Arc<dyn Provider>,
        change: &ResourceChange,
        before: &NodeRecord,
        request: &Request<'_>,
        prior_desired: &Value,
    ) -> Result<(Applied, u64), StepError> {
        let entry = self.open_journal(&change.address, Operation::Update)?;
        let made: Mutex<Vec<OwnedObject>> = Mutex::new(Vec::new());
        let state_error: Mutex<Option<StateError>> = Mutex::new(None);
        let record_object = |object: OwnedObject| {
            let mut made = made.lock().unwrap_or_else(|p| p.into_inner());
            made.push(object);
            let record = NodeRecord {
                objects: joined(&before.objects, &made),
                ..before.clone()
            };
            let journal = JournalEntry {
                objects: made.clone(),
                ..entry.clone()
            };
            let recorded = Change {
                put: vec![record],
                open: vec![journal],
                ..Change::default()
            };
            if let Err(e) = self.commit_object(provider, change, recorded) {
                state_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
        };
        let progress = EventProgress(self.events.clone());
        let (record_object, progress) = (&record_object, &progress);
        let result = self
            .change_call(change, request.desired, || {
                let objects = joined(
                    &before.objects,
                    &made.lock().unwrap_or_else(|p| p.into_inner()),
                );
                async move {
                    provider
                        .update(request, prior_desired, &objects, record_object, progress)
                        .await
                }
            })
            .await;
        let made = made.into_inner().unwrap_or_else(|p| p.into_inner());
        let holds = joined(&before.objects, &made);
        if let Some(e) = state_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(
                StepError::state("record an object the update made in state", e).with_made(holds),
            );
        }
        match result {
            Ok(applied) => Ok((applied, entry.id)),
            Err(error) => {
                // The record keeps what exists; the journal entry is closed because this run
                // knows the outcome.
                let _ = self.commit(Change {
                    close: vec![entry.id],
                    ..Change::default()
                });
                Err(StepError::provider(error, holds))
            }
        }
    }

    /// Deletes every object the record owns; the record says `deleting` until they are gone.
    async fn delete(
        &self,
        change: &ResourceChange,
        prior: Option<&NodeRecord>,
    ) -> Result<Undo, StepError> {
        let provider = self.provider(change)?;
        let Some(prior) = prior else {
            // Never recorded: only what an interrupted create left behind.
            self.clean_leftovers(provider, change, &[]).await?;
            return Ok(Undo::Forget);
        };
        if meshctl_plan::is_read_only(&prior.desired, prior.address.kind) {
            // Looked up, never owned: only forgotten.
            self.forget(&change.address)?;
            return Ok(Undo::Restore {
                prior: prior.clone(),
                current: Vec::new(),
                recreate: false,
            });
        }
        self.delete_and_forget(provider, change, prior).await?;
        Ok(Undo::Recreate(prior.clone()))
    }

    /// Removes a resource's record (its objects are gone, or were never owned).
    fn forget(&self, address: &Address) -> Result<(), StepError> {
        self.commit(Change {
            remove: vec![address.clone()],
            ..Change::default()
        })
    }

    /// Deletes every object of the prior record, then the record.
    async fn delete_and_forget(
        &self,
        provider: &Arc<dyn Provider>,
        change: &ResourceChange,
        prior: &NodeRecord,
    ) -> Result<(), StepError> {
        self.delete_objects(provider, change, prior, &prior.objects, &[])
            .await?;
        self.forget(&change.address)
    }

    /// Deletes what a killed earlier run may have created for this address (providers find
    /// unrecorded objects by the address they are tagged with) and what it recorded, then closes
    /// its journal entries.
    async fn clean_leftovers(
        &self,
        provider: &Arc<dyn Provider>,
        change: &ResourceChange,
        keep: &[OwnedObject],
    ) -> Result<(), StepError> {
        let found = self
            .leftovers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&change.address);
        let Some((ids, objects)) = found else {
            return Ok(());
        };
        self.events.emit(Event::Progress {
            address: change.address.clone(),
            message: "cleaning up after an interrupted run".to_string(),
        });
        let progress = EventProgress(self.events.clone());
        let recorded: Vec<OwnedObject> =
            objects.into_iter().filter(|o| !keep.contains(o)).collect();
        let failed = |source: ProviderError| StepError::CleanUp {
            source: Box::new(source),
        };
        let inputs = self.inputs(change);
        // Unrecorded objects first: they may depend on recorded ones (a subnet whose id was not
        // recorded yet keeps the recorded VPC from being deleted). The sweep finds the recorded
        // ones too where the provider can; what it cannot find goes next.
        self.call(change, || {
            provider.sweep(&change.address, keep, &inputs, &progress)
        })
        .await
        .map_err(failed)?;
        if !recorded.is_empty() {
            self.call(change, || {
                provider.delete(&change.address, &recorded, &inputs, &progress)
            })
            .await
            .map_err(failed)?;
        }
        self.commit(Change {
            close: ids,
            ..Change::default()
        })
    }

    /// Deletes what a killed earlier run left under this address, except `keep` (the new objects
    /// of a create-before-destroy), then `objects` of the record (status `deleting` meanwhile).
    /// Leftovers go first: they may depend on recorded objects (a subnet created but not yet
    /// recorded keeps its recorded VPC from being deleted).
    async fn delete_objects(
        &self,
        provider: &Arc<dyn Provider>,
        change: &ResourceChange,
        record: &NodeRecord,
        objects: &[OwnedObject],
        keep: &[OwnedObject],
    ) -> Result<(), StepError> {
        self.clean_leftovers(provider, change, keep).await?;
        let entry = self.open_journal(&change.address, Operation::Delete)?;
        let deleting = NodeRecord {
            status: Status::Deleting,
            ..record.clone()
        };
        self.commit(Change {
            put: vec![deleting],
            ..Change::default()
        })?;
        let progress = EventProgress(self.events.clone());
        let inputs = self.inputs(change);
        let result = self
            .change_call(change, &record.desired, || {
                provider.delete(&change.address, objects, &inputs, &progress)
            })
            .await;
        let _ = self.commit(Change {
            close: vec![entry.id],
            ..Change::default()
        });
        result.map_err(|e| StepError::provider(e, Vec::new()))
    }

    /// Replaces: delete then create, or create then delete for kinds that must never be absent
    /// (an ACM certificate a listener uses).
    async fn replace(
        &self,
        change: &ResourceChange,
        desired: Option<&Value>,
        prior: Option<&NodeRecord>,
    ) -> Result<Undo, StepError> {
        let provider = self.provider(change)?;
        let Some(prior) = prior else {
            return self.create(change, desired).await.map(Undo::Created);
        };
        if change.create_before_destroy {
            let created = self.create(change, desired).await?;
            let current = self
                .state
                .record(&change.address)
                .ok()
                .flatten()
                .unwrap_or_else(|| prior.clone());
            self.delete_objects(provider, change, &current, &prior.objects, &created)
                .await
                .map_err(|e| e.with_made(created.clone()))?;
            // The record written by create holds the new objects only.
            self.commit(Change {
                put: vec![current],
                ..Change::default()
            })?;
            return Ok(Undo::Restore {
                prior: prior.clone(),
                current: created,
                recreate: true,
            });
        }
        self.delete_and_forget(provider, change, prior).await?;
        let created = self
            .create(change, desired)
            .await
            .map_err(|e| StepError::OldObjectDeleted(Box::new(e)))?;
        Ok(Undo::Restore {
            prior: prior.clone(),
            current: created,
            recreate: true,
        })
    }
}

/// One attempt of a create. Throttling and 5xx are retried by the provider on the call that met
/// them; an error that still arrives here as retryable restarts the create only when the failed
/// attempt made nothing. Once objects exist, starting over would make them twice (a second VPC,
/// since AWS names VPCs itself), so the step fails instead, keeping them in `made` for the
/// record and the apply's rollback.
pub(super) async fn retry_create(
    provider: &Arc<dyn Provider>,
    request: &Request<'_>,
    made: &Mutex<Vec<OwnedObject>>,
    record_object: &(dyn Fn(OwnedObject) + Send + Sync),
    progress: &EventProgress,
) -> Result<Applied, ProviderError> {
    let result = provider.create(request, record_object, progress).await;
    match result {
        Err(mut error) if error.is_retryable() => {
            let count = made.lock().unwrap_or_else(|p| p.into_inner()).len();
            if count > 0 {
                // Not retried from here: what it made stays recorded, for the rollback.
                error.class = ErrorClass::Permanent;
                error.message = format!(
                    "{} (not started over: this attempt already made {count} object(s), which a new attempt would make again)",
                    error.message
                );
            }
            Err(error)
        }
        other => other,
    }
}
