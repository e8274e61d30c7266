//! Refresh: read the live state of every recorded resource through its provider, concurrently,
//! for the planner to compare (drift becomes an update, a vanished object a create). Several
//! records of one kind are first offered to the provider's batch read (`Provider::read_batch`:
//! Route53 record sets by the page of their zone), one call within the kind's rate limit; what
//! it leaves is read one resource at a time.

use crate::events::{EventSink, NoEvents};
use crate::{ApplyOptions, EngineError, Providers};
use meshctl_model::record::{NodeRecord, OwnedObject};
use meshctl_model::{Address, Kind};
use meshctl_plan::{Live, LiveWorld};
use meshctl_provider::{Applied, ErrorClass, ProviderError, Request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Outputs of every recorded resource, by address.
type Outputs = BTreeMap<Address, BTreeMap<String, Value>>;

/// What one refresh task reads: one resource, or every record of a kind in one batch.
enum Work {
    One(Box<NodeRecord>),
    Batch(Vec<NodeRecord>),
}

/// What a task found: one resource's read, or a batch's answers with the records it covered.
enum Done {
    One(Address, Result<Option<Applied>, ProviderError>),
    Batch(
        Vec<NodeRecord>,
        Result<BTreeMap<Address, Option<Applied>>, ProviderError>,
    ),
}

/// What each recorded resource looks like live: `None` when its objects are gone. Records whose
/// kind has no provider, and records not in a settled state, are left out (the plan uses what
/// state says).
pub async fn refresh(
    records: &[NodeRecord],
    providers: &Providers,
    options: &ApplyOptions,
) -> Result<LiveWorld, EngineError> {
    let limiters = Arc::new(options.rate_limits.limiters());
    // A read sees the recorded outputs of what the resource depended on, as its apply did (a
    // record aliasing a balancer compares the live target with that balancer's DNS name).
    let outputs: Arc<Outputs> = Arc::new(
        records
            .iter()
            .map(|r| (r.address.clone(), r.outputs.clone()))
            .collect(),
    );
    let limit = if options.parallelism == 0 {
        usize::MAX
    } else {
        options.parallelism
    };
    let mut by_kind: BTreeMap<Kind, Vec<NodeRecord>> = BTreeMap::new();
    for record in records
        .iter()
        .filter(|r| r.status.is_settled() && providers.get(r.address.kind).is_some())
    {
        by_kind
            .entry(record.address.kind)
            .or_default()
            .push(record.clone());
    }
    // Batches first (popped last-in first-out): what they leave joins the single reads.
    let mut pending: Vec<Work> = Vec::new();
    for (_, group) in by_kind {
        if group.len() > 1 {
            pending.push(Work::Batch(group));
        } else {
            pending.extend(group.into_iter().map(|r| Work::One(Box::new(r))));
        }
    }
    pending.sort_by_key(|work| matches!(work, Work::Batch(_)));
    let mut running = JoinSet::new();
    let mut live = BTreeMap::new();
    loop {
        while running.len() < limit {
            let Some(work) = pending.pop() else { break };
            let kind = match &work {
                Work::One(record) => record.address.kind,
                Work::Batch(group) => match group.first() {
                    Some(first) => first.address.kind,
                    None => continue,
                },
            };
            let Some(provider) = providers.get(kind).cloned() else {
                continue;
            };
            let (options, limiters, outputs) = (options.clone(), limiters.clone(), outputs.clone());
            running.spawn(async move {
                match work {
                    Work::One(record) => {
                        let inputs = inputs_of(&record, &outputs);
                        let request = Request {
                            address: &record.address,
                            desired: &record.desired,
                            inputs: &inputs,
                        };
                        let read = crate::call::call(
                            &options,
                            &limiters,
                            None,
                            &NoEvents as &dyn EventSink,
                            &record.address,
                            None,
                            || provider.read(&request, &record.objects),
                        )
                        .await;
                        Done::One(record.address.clone(), read)
                    }
                    Work::Batch(group) => {
                        let inputs: Vec<_> = group.iter().map(|r| inputs_of(r, &outputs)).collect();
                        let reads: Vec<(Request<'_>, &[OwnedObject])> = group
                            .iter()
                            .zip(&inputs)
                            .map(|(record, inputs)| {
                                let request = Request {
                                    address: &record.address,
                                    desired: &record.desired,
                                    inputs,
                                };
                                (request, record.objects.as_slice())
                            })
                            .collect();
                        // The batch waits its turn once, under the first record's address (its
                        // kind's limiter and timeout); the SDK's own retries absorb throttling of
                        // any further page.
                        let answers = match reads.first() {
                            Some((first, _)) => {
                                crate::call::call(
                                    &options,
                                    &limiters,
                                    None,
                                    &NoEvents as &dyn EventSink,
                                    first.address,
                                    None,
                                    || provider.read_batch(&reads),
                                )
                                .await
                            }
                            None => Ok(BTreeMap::new()),
                        };
                        drop(reads);
                        Done::Batch(group, answers)
                    }
                }
            });
        }
        match running.join_next().await {
            Some(Ok(Done::One(address, read))) => {
                let read = match read {
                    Err(e) if e.class == ErrorClass::NotFound => None,
                    other => other.map_err(EngineError::Provider)?,
                };
                live.insert(address, read.map(live_of));
            }
            Some(Ok(Done::Batch(group, answers))) => {
                let mut answers = answers.map_err(EngineError::Provider)?;
                for record in group {
                    match answers.remove(&record.address) {
                        Some(found) => {
                            live.insert(record.address, found.map(live_of));
                        }
                        None => pending.push(Work::One(Box::new(record))),
                    }
                }
            }
            Some(Err(e)) => return Err(EngineError::Task(e.to_string())),
            None => break,
        }
    }
    Ok(live)
}

/// The recorded outputs of what `record` depended on.
fn inputs_of(record: &NodeRecord, outputs: &Outputs) -> Outputs {
    record
        .dependencies
        .iter()
        .filter_map(|a| outputs.get(a).map(|o| (a.clone(), o.clone())))
        .collect()
}

fn live_of(applied: Applied) -> Live {
    Live {
        fields: applied.live,
        drifts: applied.drifts,
    }
}
