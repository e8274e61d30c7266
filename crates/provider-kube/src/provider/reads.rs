//! Refresh of many cluster resources of one kind at once (`Provider::read_batch`): the objects
//! they render are fetched together, one list per type and namespace (`Objects::get_many`),
//! instead of one GET per object, then compared and observed as `read` does one resource.

use super::{drifts_of, rendered_references, Call, KubeProvider, NoProgress};
use crate::objects::ObjectRef;
use crate::render::{Render, Rendered};
use meshctl_model::record::OwnedObject;
use meshctl_model::Address;
use meshctl_provider::{Applied, ProviderError, Request};
use std::collections::BTreeMap;

/// One resource of the batch: its request, recorded objects and rendering.
struct Rendering<'r> {
    request: &'r Request<'r>,
    objects: &'r [OwnedObject],
    render: Render,
}

impl KubeProvider {
    /// Reads the resources that render plain objects; installs (Helm, istioctl), looked-up ones
    /// and those that cannot be rendered are left to `read`, which says what is wrong with them.
    pub(super) async fn read_rendered_objects(
        &self,
        reads: &[(Request<'_>, &[OwnedObject])],
    ) -> Result<BTreeMap<Address, Option<Applied>>, ProviderError> {
        let mut answers = BTreeMap::new();
        let renderings: Vec<Rendering<'_>> = reads
            .iter()
            .filter_map(|(request, objects)| {
                let render = self
                    .try_render(request.address, request.desired, request.inputs)
                    .ok()?;
                matches!(render.rendered, Rendered::Objects(_)).then_some(Rendering {
                    request,
                    objects,
                    render,
                })
            })
            .collect();
        let Some(first) = renderings.first() else {
            return Ok(answers);
        };
        // One cluster serves them all; a failure is the first resource's, as its read's would be.
        let address = first.request.address;
        let connected = self.connect(address, first.request.inputs, "read").await?;
        let progress = NoProgress;
        let call = |address| Call {
            provider: self,
            connected: &connected,
            address,
            operation: "read",
            progress: &progress,
        };
        let references: Vec<Vec<(ObjectRef, &serde_json::Value)>> = renderings
            .iter()
            .map(|r| match &r.render.rendered {
                Rendered::Objects(rendered) => rendered_references(rendered),
                _ => Vec::new(),
            })
            .collect();
        let wanted: Vec<ObjectRef> = references
            .iter()
            .flatten()
            .map(|(reference, _)| reference.clone())
            .collect();
        let mut live = connected
            .objects
            .get_many(&wanted)
            .await
            .map_err(|e| call(address).object_error(e))?
            .into_iter();
        for (rendering, references) in renderings.iter().zip(&references) {
            let found: Vec<_> = live.by_ref().take(references.len()).collect();
            let address = rendering.request.address;
            let Some(drifts) = drifts_of(references, &found) else {
                answers.insert(address.clone(), None);
                continue;
            };
            let mut outputs = rendering.render.outputs.clone();
            call(address)
                .observe(&rendering.render, &mut outputs, false)
                .await?;
            answers.insert(
                address.clone(),
                Some(Applied {
                    objects: rendering.objects.to_vec(),
                    outputs,
                    live: rendering.request.desired.clone(),
                    drifts,
                }),
            );
        }
        Ok(answers)
    }
}
