//! The census before creating: the objects carrying this stack's ownership mark (AWS tags,
//! Kubernetes labels) that the state does not know. A plan that creates something while such
//! objects exist was made against a missing or wrong state, and applying it would build a second
//! copy of the stack beside the first; the plan stops instead (the CLI words the refusal).

use crate::events::{EventSink, NoEvents};
use crate::{ApplyOptions, EngineError, Providers};
use meshctl_model::record::OwnedObject;
use meshctl_model::{Address, Kind};
use meshctl_plan::{Action, Plan};
use meshctl_provider::Found;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::task::JoinSet;

/// The objects marked with the plan's stack, of the kinds the plan creates, whose ids are not
/// in `known` (the state's recorded objects and the journal's) and whose address is not one of
/// `in_flight` (the journal's: a create killed before recording its object left it to the
/// executor's sweep, which the journal entry calls). Empty when the plan creates
/// nothing: a plan that only updates or deletes works on objects the state knows. Kinds this
/// build has no provider for are skipped (apply needs that provider anyway). Calls go through
/// `options`' rate limits, timeouts and retries.
pub async fn unknown_objects(
    plan: &Plan,
    known: &[OwnedObject],
    in_flight: &[Address],
    providers: &Providers,
    options: &ApplyOptions,
) -> Result<Vec<Found>, EngineError> {
    // One census per kind, asked through the first resource of that kind the plan creates (its
    // address only attributes the provider's errors).
    let mut creating = BTreeMap::<Kind, _>::new();
    for change in &plan.changes {
        if matches!(change.action, Action::Create | Action::Replace) {
            creating
                .entry(change.kind)
                .or_insert_with(|| change.address.clone());
        }
    }
    let limiters = Arc::new(options.rate_limits.limiters());
    let mut running = JoinSet::new();
    for address in creating.into_values() {
        let Some(provider) = providers.get(address.kind).cloned() else {
            continue;
        };
        let (options, limiters) = (options.clone(), limiters.clone());
        running.spawn(async move {
            crate::call::call(
                &options,
                &limiters,
                None,
                &NoEvents as &dyn EventSink,
                &address,
                None,
                || provider.census(&address),
            )
            .await
        });
    }
    let known: BTreeSet<&str> = known.iter().map(|o| o.id.as_str()).collect();
    let in_flight: BTreeSet<String> = in_flight.iter().map(Address::to_string).collect();
    let mut unknown = BTreeMap::new();
    while let Some(joined) = running.join_next().await {
        let found = joined
            .map_err(|e| EngineError::Task(e.to_string()))?
            .map_err(EngineError::Provider)?;
        for object in found {
            let swept = object
                .address
                .as_ref()
                .is_some_and(|address| in_flight.contains(address));
            if !known.contains(object.object.id.as_str()) && !swept {
                unknown.insert(
                    (object.object.kind.clone(), object.object.id.clone()),
                    object,
                );
            }
        }
    }
    Ok(unknown.into_values().collect())
}
