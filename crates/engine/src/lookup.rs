//! Lookups while planning: finds the resources the stack uses but does not manage (the planner's
//! `lookups_to_make`) through their providers, concurrently, so the planner can stop on a missing
//! one before anything changes and show the found outputs in the plan.

use crate::events::{EventSink, NoEvents};
use crate::{ApplyOptions, EngineError, Providers};
use meshctl_plan::{Lookup, LookupRequest, Lookups};
use meshctl_provider::Request;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Looks up each request through the provider of its kind, with the executor's rate limits,
/// timeouts and retries. Requests whose kind has no provider in this build are left out: they
/// stay `read` in the plan, and apply needs that provider anyway.
pub async fn lookup(
    requests: &[LookupRequest],
    providers: &Providers,
    options: &ApplyOptions,
) -> Result<Lookups, EngineError> {
    let limiters = Arc::new(options.rate_limits.limiters());
    let mut running = JoinSet::new();
    for request in requests {
        let Some(provider) = providers.get(request.address.kind).cloned() else {
            continue;
        };
        let (request, options, limiters) = (request.clone(), options.clone(), limiters.clone());
        running.spawn(async move {
            let call = Request {
                address: &request.address,
                desired: &request.desired,
                inputs: &request.inputs,
            };
            let found = crate::call::call(
                &options,
                &limiters,
                None,
                &NoEvents as &dyn EventSink,
                &request.address,
                None,
                || provider.lookup(&call),
            )
            .await;
            (request.address.clone(), found)
        });
    }
    let mut lookups = Lookups::new();
    while let Some(joined) = running.join_next().await {
        let (address, found) = joined.map_err(|e| EngineError::Task(e.to_string()))?;
        let lookup = match found.map_err(EngineError::Provider)? {
            meshctl_provider::Lookup::Found(applied) => Lookup::Found {
                outputs: applied.outputs,
            },
            meshctl_provider::Lookup::Missing(missing) => Lookup::Missing {
                field: missing.field,
                message: missing.message,
                help: missing.help,
            },
        };
        lookups.insert(address, lookup);
    }
    Ok(lookups)
}
