//! Imports while planning: reads the live object each `import:` block names through its
//! provider (`Provider::import`, which writes nothing), in creation order, so that an import
//! that depends on another (a nodegroup on its cluster) is read with the outputs the first one
//! found. The planner compares what was read with the stack (`meshctl_plan::Imports`).

use crate::events::{EventSink, NoEvents};
use crate::{ApplyOptions, EngineError, Providers};
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::Address;
use meshctl_plan::{ImportRequest, Imported, Imports, Lookup, Lookups};
use meshctl_provider::{ErrorClass, Request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Reads each request's object, with the executor's rate limits, timeouts and retries. Outputs
/// of what a request depends on come from the state's records, the plan's lookups and the
/// imports read before it. A refusal (not there, another stack's, not of the kind, a dependency
/// not known yet) is the planner's to report; an error the retries could not get past (the
/// cloud unreachable) stops the plan. Requests whose kind has no provider are left out.
pub async fn read_imports(
    requests: &[ImportRequest],
    prior: &[NodeRecord],
    lookups: Option<&Lookups>,
    providers: &Providers,
    options: &ApplyOptions,
) -> Result<Imports, EngineError> {
    let limiters = Arc::new(options.rate_limits.limiters());
    let mut known: BTreeMap<Address, BTreeMap<String, Value>> = prior
        .iter()
        .map(|r| (r.address.clone(), r.outputs.clone()))
        .collect();
    for (address, lookup) in lookups.into_iter().flatten() {
        if let Lookup::Found { outputs } = lookup {
            known.insert(address.clone(), outputs.clone());
        }
    }
    let mut imports = Imports::new();
    for request in requests {
        let Some(provider) = providers.get(request.address.kind).cloned() else {
            continue;
        };
        let mut desired = request.desired.clone();
        meshctl_plan::resolve_outputs(&mut desired, &|a, output| {
            known.get(a).and_then(|o| o.get(output)).cloned()
        });
        let missing: Vec<String> = request
            .depends_on
            .iter()
            .filter(|a| !known.contains_key(*a))
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() || meshctl_plan::is_unknown(&desired) {
            let what = if missing.is_empty() {
                "outputs of what it refers to".to_string()
            } else {
                missing.join(", ")
            };
            imports.insert(
                request.address.clone(),
                Imported::Refused {
                    message: format!("it depends on {what}, which neither the state nor this plan's imports know yet, so the object cannot be read as the stack describes it"),
                    help: "import those too (an `import:` on each), or apply them first".to_string(),
                },
            );
            continue;
        }
        let inputs: meshctl_provider::Inputs = request
            .depends_on
            .iter()
            .filter_map(|a| known.get(a).map(|o| (a.clone(), o.clone())))
            .collect();
        let call = Request {
            address: &request.address,
            desired: &desired,
            inputs: &inputs,
        };
        let read = crate::call::call(
            options,
            &limiters,
            None,
            &NoEvents as &dyn EventSink,
            &request.address,
            None,
            || provider.import(&call, &request.id),
        )
        .await;
        // The object read again as a refresh reads it, so the planner finds where it differs
        // from the stack exactly as it finds drift (cluster kinds report it as their drifts).
        let read = match read {
            Ok((fields, applied)) => {
                let call = Request {
                    address: &request.address,
                    desired: &desired,
                    inputs: &inputs,
                };
                let objects = applied.objects.clone();
                crate::call::call(
                    options,
                    &limiters,
                    None,
                    &NoEvents as &dyn EventSink,
                    &request.address,
                    None,
                    || provider.read(&call, &objects),
                )
                .await
                .map(|refreshed| (fields, applied, refreshed))
            }
            Err(error) => Err(error),
        };
        let imported = match read {
            Ok((fields, applied, refreshed)) => {
                let live = refreshed.unwrap_or_else(|| applied.clone());
                known.insert(request.address.clone(), applied.outputs.clone());
                Imported::Found {
                    record: Box::new(NodeRecord {
                        address: request.address.clone(),
                        status: Status::Imported,
                        desired: meshctl_plan::recorded::recorded_form(&fields),
                        live: Some(applied.live.clone()),
                        outputs: applied.outputs,
                        objects: applied.objects,
                        dependencies: request.depends_on.clone(),
                        prevent_destroy: false,
                        accepted: Vec::new(),
                    }),
                    live: Some(meshctl_plan::Live {
                        fields: live.live,
                        drifts: live.drifts,
                    }),
                }
            }
            Err(error) if matches!(error.class, ErrorClass::NotFound | ErrorClass::Permanent) => {
                let message = if error.class == ErrorClass::NotFound {
                    format!(
                        "there is no {} with this id: {}",
                        request.address.kind, error.message
                    )
                } else {
                    error.message.clone()
                };
                Imported::Refused {
                    message,
                    help: error.help.clone().unwrap_or_else(|| {
                        "check the id against docs/adoption.md's table for this kind".to_string()
                    }),
                }
            }
            Err(error) => return Err(EngineError::Provider(error)),
        };
        imports.insert(request.address.clone(), imported);
    }
    Ok(imports)
}
