//! Refresh: read the live state of every recorded resource through its provider, concurrently,
//! for the planner to compare (drift becomes an update, a vanished object a create).

use crate::events::{EventSink, NoEvents};
use crate::{ApplyOptions, EngineError, Providers};
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::Address;
use meshctl_plan::{Live, LiveWorld};
use meshctl_provider::{ErrorClass, Request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::task::JoinSet;

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
    let outputs: BTreeMap<Address, BTreeMap<String, Value>> = records
        .iter()
        .map(|r| (r.address.clone(), r.outputs.clone()))
        .collect();
    let limit = if options.parallelism == 0 {
        usize::MAX
    } else {
        options.parallelism
    };
    let mut pending: Vec<NodeRecord> = records
        .iter()
        .filter(|r| r.status == Status::Ok && providers.get(r.address.kind).is_some())
        .cloned()
        .collect();
    let mut running = JoinSet::new();
    let mut live = BTreeMap::new();
    loop {
        while running.len() < limit {
            let Some(record) = pending.pop() else { break };
            let Some(provider) = providers.get(record.address.kind).cloned() else {
                continue;
            };
            let (options, limiters) = (options.clone(), limiters.clone());
            let inputs: BTreeMap<Address, BTreeMap<String, Value>> = record
                .dependencies
                .iter()
                .filter_map(|a| outputs.get(a).map(|o| (a.clone(), o.clone())))
                .collect();
            running.spawn(async move {
                let request = Request {
                    address: &record.address,
                    desired: &record.desired,
                    inputs: &inputs,
                };
                let read = crate::call::call(
                    &options,
                    &limiters,
                    &NoEvents as &dyn EventSink,
                    &record.address,
                    || provider.read(&request, &record.objects),
                )
                .await;
                let read = match read {
                    Err(e) if e.class == ErrorClass::NotFound => Ok(None),
                    other => other,
                };
                (
                    record.address.clone(),
                    read.map(|found| {
                        found.map(|applied| Live {
                            fields: applied.live,
                            drifts: applied.drifts,
                        })
                    }),
                )
            });
        }
        match running.join_next().await {
            Some(Ok((address, result))) => {
                live.insert(address, result.map_err(EngineError::Provider)?);
            }
            Some(Err(e)) => return Err(EngineError::Task(e.to_string())),
            None => break,
        }
    }
    Ok(live)
}
