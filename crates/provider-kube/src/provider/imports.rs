//! `meshctl import` of a cluster resource: the object, Helm release or istioctl install the
//! stack's resource renders (`render::import_target`, per kind) is found by the id the user gave,
//! refused when another stack's marks are on it, and recorded with everything the resource owns
//! that exists (its rendered objects, a Certificate's Secret, the balancer the controller made).
//! Nothing is written to the cluster: meshctl's owner marks come with the first apply.

use meshctl_model::record::OwnedObject;
use meshctl_provider::{Applied, ErrorClass, ProviderError, Request};
use serde_json::Value;

use super::installs::installed_suffix;
use super::{issued_secrets, Call, KubeProvider, NoProgress, Result};
use super::{HELM_RELEASE, ISTIO_OPERATOR, LOAD_BALANCER};
use crate::objects::ObjectRef;
use crate::owner::{self, Owner};
use crate::render::{self, ImportTarget, RenderError, Rendered};

impl KubeProvider {
    pub(super) async fn import_rendered(
        &self,
        request: &Request<'_>,
        id: &str,
    ) -> Result<(Value, Applied)> {
        let address = request.address;
        let render = match self.try_render(address, request.desired, request.inputs) {
            Ok(render) => render,
            Err(RenderError::UnknownOutput { reference }) => {
                return Err(ProviderError::new(
                    ErrorClass::Permanent,
                    address,
                    "import",
                    format!("{address} needs `{reference}`, which the state does not record yet"),
                )
                .with_help("import (or apply) the resource it names first, then import this one"))
            }
            Err(e) => return Err(super::render_error(address, "import", e)),
        };
        let target = render::import_target(address, &render).ok_or_else(|| {
            ProviderError::new(
                ErrorClass::Permanent,
                address,
                "import",
                format!("{address} installs nothing (it only looks up an existing install), so there is nothing to import"),
            )
            .with_help("leave it as it is: an `existing` resource is read, never changed")
        })?;
        if target.id() != id {
            return Err(ProviderError::new(
                ErrorClass::Permanent,
                address,
                "import",
                format!(
                    "{address} stands for {} in the stack, not `{id}`",
                    target.describe()
                ),
            )
            .with_help(format!(
                "give the id of the object the resource names (`meshctl import {address} {}`), or change the resource so that it names `{id}` (its name, and `namespace:`) and import again",
                target.id()
            )));
        }
        let connected = self.connect(address, request.inputs, "import").await?;
        let progress = NoProgress;
        let cx = Call {
            provider: self,
            connected: &connected,
            address,
            operation: "import",
            progress: &progress,
        };
        let mut objects = cx.find_target(&target, &render.rendered).await?;
        if let Rendered::Objects(rendered) = &render.rendered {
            objects = cx.existing_objects(rendered, &render).await?;
        }
        // The namespace a release was installed into with --create-namespace, or a control
        // plane's, is the install's (as a create records it): adopted with it, listed first so
        // that destroy removes it last. A gateway's is its control plane's.
        let owns_namespaces = match &render.rendered {
            Rendered::Helm(chart) => chart.create_namespace,
            Rendered::IstioOperator { operator, .. } => {
                super::installs::installs_pilot(&operator["spec"])
            }
            _ => false,
        };
        if owns_namespaces && !objects.is_empty() {
            for namespace in super::created_namespaces(&render).into_iter().rev() {
                let reference = ObjectRef {
                    api_version: "v1".into(),
                    kind: "Namespace".into(),
                    namespace: None,
                    name: namespace,
                };
                if let Some(live) = cx
                    .connected
                    .objects
                    .get(&reference)
                    .await
                    .map_err(|e| cx.object_error(e))?
                {
                    cx.refuse_other_stack(
                        &reference.to_string(),
                        owner::other_stack(&live, cx.stack()),
                    )?;
                    objects.insert(0, reference.owned());
                }
            }
        }
        let mut outputs = render.outputs.clone();
        if let Some(arn) = cx.observe(&render, &mut outputs, false).await? {
            objects.push(OwnedObject {
                kind: LOAD_BALANCER.into(),
                id: arn,
            });
        }
        // The stack's fields are recorded as applied: a read compares the rendered objects with
        // the live ones, so the next plan shows each difference as drift to put right.
        Ok((
            request.desired.clone(),
            Applied {
                objects,
                outputs,
                live: request.desired.clone(),
                drifts: Vec::new(),
            },
        ))
    }
}

impl Call<'_> {
    /// Finds what `target` names, refusing another stack's; returns what an install records
    /// (the release or the istioctl install; objects are listed by `existing_objects`).
    async fn find_target(
        &self,
        target: &ImportTarget,
        rendered: &Rendered,
    ) -> Result<Vec<OwnedObject>> {
        match target {
            ImportTarget::Object {
                api_version,
                kind,
                namespace,
                name,
            } => {
                let reference = ObjectRef {
                    api_version: api_version.clone(),
                    kind: kind.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                };
                let live = self
                    .connected
                    .objects
                    .get(&reference)
                    .await
                    .map_err(|e| self.not_there(target, e))?
                    .ok_or_else(|| self.missing(target))?;
                self.refuse_other_stack(
                    &target.describe(),
                    owner::other_stack(&live, self.stack()),
                )?;
                // A gateway's Service is istioctl's; what the resource owns is the install. A
                // gateway installed by another IstioOperator (one install of a control plane and
                // its gateways, as `istioctl install -f` of a whole profile makes it) has none of
                // its own yet: it is adopted with nothing recorded, and the first apply installs
                // it from its own IstioOperator, which takes over its Deployment and Service.
                match rendered {
                    Rendered::IstioOperator { operator, .. } => {
                        match self.find_install(operator).await {
                            Err(e) if e.class == ErrorClass::NotFound => Ok(Vec::new()),
                            found => found,
                        }
                    }
                    _ => Ok(Vec::new()),
                }
            }
            ImportTarget::HelmRelease { namespace, release } => {
                if self.helm_status(namespace, release).await?.is_none() {
                    return Err(self.missing(target));
                }
                let owner = self
                    .release_owner(namespace, release)
                    .await?
                    .filter(|o| o.is_other_than(self.stack()));
                self.refuse_other_stack(&target.describe(), owner)?;
                Ok(vec![OwnedObject {
                    kind: HELM_RELEASE.into(),
                    id: target.id(),
                }])
            }
            ImportTarget::IstioOperator { .. } => match rendered {
                Rendered::IstioOperator { operator, .. } => self.find_install(operator).await,
                _ => Err(self.missing(target)),
            },
        }
    }

    /// The istioctl install of `operator` as state records it, when istioctl's record of it
    /// (`installed-state-…`) exists and no other stack's marks are on it.
    async fn find_install(&self, operator: &Value) -> Result<Vec<OwnedObject>> {
        let namespace = operator["metadata"]["namespace"]
            .as_str()
            .unwrap_or("istio-system");
        let name = operator["metadata"]["name"].as_str().unwrap_or_default();
        let revision = operator["spec"]["revision"]
            .as_str()
            .filter(|r| !r.is_empty());
        let object = OwnedObject {
            kind: ISTIO_OPERATOR.into(),
            id: format!("{namespace}/{}", installed_suffix(name, revision)),
        };
        let what = format!(
            "the istioctl install of IstioOperator {namespace}/{name}{}",
            revision
                .map(|r| format!(" (revision {r})"))
                .unwrap_or_default()
        );
        let Some(state) = self.installed_state(&object).await? else {
            return Err(self
                .error(
                    ErrorClass::NotFound,
                    format!("{what} is not on the cluster (istioctl keeps no installed-state record of it)"),
                )
                .with_help("an install is imported by the metadata.name and namespace of the IstioOperator it was installed from (`istioctl install -f`): name the stack's resource after it"));
        };
        self.refuse_other_stack(&what, owner::other_stack(&state, self.stack()))?;
        Ok(vec![object])
    }

    /// The rendered objects that exist on the cluster, and the Secrets cert-manager issued for
    /// its Certificates, each refused when another stack's marks are on it. Objects the stack
    /// renders but the cluster lacks are left to the first apply, which records them as it makes
    /// them.
    async fn existing_objects(
        &self,
        rendered: &[Value],
        render: &render::Render,
    ) -> Result<Vec<OwnedObject>> {
        let mut wanted: Vec<ObjectRef> = rendered.iter().filter_map(ObjectRef::of).collect();
        let secrets = issued_secrets(render);
        wanted.splice(0..0, secrets);
        let live = self
            .connected
            .objects
            .get_many(&wanted)
            .await
            .map_err(|e| self.object_error(e))?;
        let mut found = Vec::new();
        for (reference, live) in wanted.iter().zip(live) {
            let Some(live) = live else { continue };
            self.refuse_other_stack(
                &reference.to_string(),
                owner::other_stack(&live, self.stack()),
            )?;
            found.push(reference.owned());
        }
        Ok(found)
    }

    fn refuse_other_stack(&self, what: &str, owner: Option<Owner>) -> Result<()> {
        match owner {
            None => Ok(()),
            Some(owner) => Err(self
                .error(
                    ErrorClass::Permanent,
                    format!(
                        "{what} belongs to {owner} (its meshctl.io/stack label); one stack manages each object"
                    ),
                )
                .with_help(format!(
                    "to move it here, first forget it in stack `{}` (`meshctl state rm {} -f ITS_STACK`, which leaves the object) and then import it again; nothing was recorded",
                    owner.stack,
                    owner.address.as_deref().unwrap_or("ITS_ADDRESS"),
                ))),
        }
    }

    fn missing(&self, target: &ImportTarget) -> ProviderError {
        self.error(
            ErrorClass::NotFound,
            format!("there is no {} on the cluster", target.describe()),
        )
        .with_help(format!(
            "check the id and the resource's kind: {} is imported by {}",
            self.address,
            match target {
                ImportTarget::Object {
                    kind,
                    namespace: Some(_),
                    ..
                } => format!("its {kind}'s namespace/name"),
                ImportTarget::Object { kind, .. } => format!("its {kind}'s name"),
                ImportTarget::HelmRelease { .. } =>
                    "its Helm release's namespace/release (`helm list -A`)".to_string(),
                ImportTarget::IstioOperator { .. } =>
                    "its IstioOperator's namespace/name".to_string(),
            }
        ))
    }

    /// A failed lookup of the target: a type the cluster does not serve means there is no such
    /// object, said as such.
    fn not_there(&self, target: &ImportTarget, e: crate::objects::ObjectError) -> ProviderError {
        match e {
            crate::objects::ObjectError::UnknownType { .. } => self.missing(target),
            other => self.object_error(other),
        }
    }
}
