//! The Kubernetes provider: renders each cluster resource (`render`), reaches the cluster
//! (`access`, through the cached client of `connection`), and makes it so: server-side apply of objects, `helm upgrade --install` of charts,
//! `istioctl install` of IstioOperators; then waits until the result works (Deployments
//! available, an Ingress's load balancer provisioned, a Certificate Ready) and reads back the
//! outputs dependents need (nodePorts, the balancer's DNS name, ARN and hosted zone).
//!
//! What each resource owns, as state records it:
//! - `k8s:<apiVersion>/<Kind>` `namespace/name`: an object meshctl applied;
//! - `helm:release` `namespace/release`; `istio:operator` `namespace/name` (istioctl keeps the
//!   installed spec as IstioOperator `installed-state-<name>`, which is how it is found again;
//!   an install killed before istioctl wrote that record by istioctl's labels, see `installs`);
//! - `elbv2:load-balancer` ARN: a balancer the Load Balancer Controller made for an Ingress or
//!   Service of this resource. meshctl never deletes it; deleting the resource waits until the
//!   controller has, so the VPC and cluster are never deleted under it.
//!
//! Names are chosen by the stack, so every object is recorded before the call that creates it,
//! by an update as by a create; a killed run leaves nothing state does not know about. Should
//! something be made without a record all the same, the next run's `sweep` finds it by its owner
//! marks and removes it.
//!
//! Several stacks may share a cluster. What meshctl makes carries its owner (`crate::owner`): the
//! stack label and address annotation on objects, IstioOperators and the namespaces installs
//! create, release labels on Helm releases. Apply refuses to take over what another stack owns
//! (objects with no owner mark, made by hand, are adopted as server-side apply does); delete and
//! rollback leave what another stack owns alone; Istio is uninstalled per operator and
//! revision, never with `--purge`, so the shared CRDs and other stacks' control planes stay.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use meshctl_model::kinds::Layer;
use meshctl_model::record::{FieldDrift, OwnedObject};
use meshctl_model::{Address, Kind};
use meshctl_provider::{
    Applied, ErrorClass, Inputs, LoadBalancers, Lookup, LookupMissing, Progress, Provider,
    ProviderError, Request, StackSettings,
};
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

mod census;
mod connection;
mod discover;
mod imports;
mod installs;
mod reads;
mod sweep;
mod waits;

use connection::{CachedConnection, Connected};

use crate::access::TokenCommand;
use crate::drift;
use crate::objects::{ObjectError, ObjectRef};
use crate::owner::{self, Owner};
use crate::render::{self, Context, Render, RenderError, Rendered};
use crate::tools::{ToolError, Tools};

type Result<T, E = ProviderError> = std::result::Result<T, E>;
type Record<'a> = &'a (dyn Fn(OwnedObject) + Send + Sync);

const HELM_RELEASE: &str = "helm:release";
const ISTIO_OPERATOR: &str = "istio:operator";
const LOAD_BALANCER: &str = "elbv2:load-balancer";
/// How often waits look again.
const POLL: Duration = Duration::from_millis(500);

/// The Kubernetes provider for the cluster kinds.
pub struct KubeProvider {
    settings: StackSettings,
    balancers: Arc<dyn LoadBalancers>,
    tools: Tools,
    aws: OnceCell<aws_types::SdkConfig>,
    connection: Mutex<Option<CachedConnection>>,
    /// What helm and istioctl run for EKS tokens (`access::TokenCommand`).
    token_command: TokenCommand,
}

impl KubeProvider {
    /// A provider for the stack's cluster; `balancers` answers the AWS lookups (the AWS
    /// provider). helm, istioctl and their timeout come from the environment (`Tools`).
    pub fn new(settings: StackSettings, balancers: Arc<dyn LoadBalancers>) -> Self {
        Self::with_tools(settings, balancers, Tools::from_env())
    }

    pub fn with_tools(
        settings: StackSettings,
        balancers: Arc<dyn LoadBalancers>,
        tools: Tools,
    ) -> Self {
        KubeProvider {
            settings,
            balancers,
            tools,
            aws: OnceCell::new(),
            connection: Mutex::new(None),
            token_command: TokenCommand::default(),
        }
    }

    /// The same provider, with helm and istioctl getting EKS tokens from `command` (meshctl
    /// names its own `__eks-token`; the default is `aws eks get-token`).
    pub fn with_token_command(mut self, command: TokenCommand) -> Self {
        self.token_command = command;
        self
    }

    fn render(
        &self,
        address: &Address,
        desired: &Value,
        inputs: &Inputs,
        operation: &'static str,
    ) -> Result<Render> {
        self.try_render(address, desired, inputs)
            .map_err(|e| render_error(address, operation, e))
    }

    /// Renders the resource for this stack's region and cluster, keeping the render error's kind.
    fn try_render(
        &self,
        address: &Address,
        desired: &Value,
        inputs: &Inputs,
    ) -> std::result::Result<Render, RenderError> {
        let cluster = self.cluster_address();
        let cx = Context {
            stack: &self.settings.stack,
            region: &self.settings.region,
            cluster: cluster.as_ref(),
            inputs,
        };
        render::render(address, desired, &cx)
    }

    /// Create and update: both make the cluster match the rendered resource.
    async fn apply(
        &self,
        request: &Request<'_>,
        record: Record<'_>,
        prior: &[OwnedObject],
        progress: &dyn Progress,
        operation: &'static str,
    ) -> Result<Applied> {
        let address = request.address;
        let render = self.render(address, request.desired, request.inputs, operation)?;
        let connected = self.connect(address, request.inputs, operation).await?;
        // Each object is recorded before it is made; one the resource already holds (an update's
        // `prior`) is known, so only what this call adds is reported.
        let record_added = |object: OwnedObject| {
            if !prior.contains(&object) {
                record(object)
            }
        };
        let record: Record<'_> = &record_added;
        let cx = Call {
            provider: self,
            connected: &connected,
            address,
            operation,
            progress,
        };
        // Namespaces helm or istioctl create for this resource are its own, so destroy leaves
        // nothing behind; ones that existed before stay someone else's.
        let mut owned = Vec::new();
        let mut adopted = Vec::new();
        for namespace in created_namespaces(&render) {
            if let Some(object) = cx.adopt_namespace(&namespace, prior, record).await? {
                owned.push(object);
                adopted.push(namespace);
            }
        }
        match &render.rendered {
            Rendered::Objects(objects) => owned.extend(cx.apply_objects(objects, record).await?),
            Rendered::Helm(chart) => owned.push(cx.helm_install(chart, record).await?),
            Rendered::IstioOperator { operator, .. } => {
                owned.push(cx.istio_install(operator, record).await?)
            }
            // Looked up by `observe` below; nothing of it is this resource's.
            Rendered::Existing => {}
        }
        for namespace in &adopted {
            cx.mark_namespace(namespace).await?;
        }
        // cert-manager keeps a Certificate's Secret when the Certificate goes; meshctl asked for
        // it, so it is this resource's to delete. It goes first in the list, so that deleting
        // (last listed first) removes the Certificate before the Secret it would issue again.
        for secret in issued_secrets(&render) {
            let object = secret.owned();
            if !owned.contains(&object) {
                record(object.clone());
                owned.insert(0, object);
            }
        }
        // Objects the resource no longer renders (a manifest lost one) go away.
        let stale: Vec<OwnedObject> = prior
            .iter()
            .filter(|o| o.kind != LOAD_BALANCER && !owned.contains(o))
            .cloned()
            .collect();
        if !stale.is_empty() {
            cx.delete_all(&stale).await?;
        }
        let mut outputs = render.outputs.clone();
        let balancer = cx.observe(&render, &mut outputs, true).await?;
        if let Some(arn) = balancer {
            let object = OwnedObject {
                kind: LOAD_BALANCER.to_string(),
                id: arn,
            };
            record(object.clone());
            owned.push(object);
        }
        Ok(Applied {
            drifts: Vec::new(),
            objects: owned,
            outputs,
            live: request.desired.clone(),
        })
    }
}

/// A render failure as a provider error, with what to do about an output not recorded yet.
fn render_error(address: &Address, operation: &'static str, e: RenderError) -> ProviderError {
    let help = match &e {
        RenderError::UnknownOutput { reference } => Some(format!(
            "{reference} is recorded when its resource is applied; apply it first"
        )),
        _ => None,
    };
    let error = ProviderError::new(ErrorClass::Permanent, address, operation, e.to_string());
    match help {
        Some(help) => error.with_help(help),
        None => error,
    }
    .with_source(e)
}

/// The namespaces an install may create: a Helm chart's with `create_namespace`, and the ones
/// an IstioOperator installs into.
fn created_namespaces(render: &Render) -> Vec<String> {
    let mut namespaces = Vec::new();
    match &render.rendered {
        Rendered::Helm(chart) if chart.create_namespace => namespaces.push(chart.namespace.clone()),
        Rendered::IstioOperator { operator, .. } => {
            let own = operator["metadata"]["namespace"].as_str();
            let workload = render.outputs.get("namespace").and_then(Value::as_str);
            for namespace in [own, workload].into_iter().flatten() {
                if !namespaces.iter().any(|n| n == namespace) {
                    namespaces.push(namespace.to_string());
                }
            }
        }
        _ => {}
    }
    namespaces
}

/// The Secrets cert-manager issues for the Certificates among the rendered objects.
fn issued_secrets(render: &Render) -> Vec<ObjectRef> {
    let Rendered::Objects(objects) = &render.rendered else {
        return Vec::new();
    };
    objects
        .iter()
        .filter(|o| {
            o["kind"] == "Certificate"
                && o["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("cert-manager.io/"))
        })
        .filter_map(|o| {
            Some(ObjectRef {
                api_version: "v1".into(),
                kind: "Secret".into(),
                namespace: o["metadata"]["namespace"].as_str().map(str::to_string),
                name: o["spec"]["secretName"].as_str()?.to_string(),
            })
        })
        .collect()
}

/// One provider call: the connection and the resource it is about.
struct Call<'a> {
    provider: &'a KubeProvider,
    connected: &'a Connected,
    address: &'a Address,
    operation: &'static str,
    progress: &'a dyn Progress,
}

impl Call<'_> {
    fn error(&self, class: ErrorClass, message: impl Into<String>) -> ProviderError {
        ProviderError::new(class, self.address, self.operation, message)
    }

    fn object_error(&self, e: ObjectError) -> ProviderError {
        match e {
            ObjectError::UnknownType { object, detail } => self
                .error(
                    ErrorClass::Retryable,
                    format!("the cluster does not serve {object}: {detail}"),
                )
                .with_help("its CRD comes with an add-on (Istio, cert-manager, the Load Balancer Controller); check that the stack installs it"),
            ObjectError::Api { object, error } => {
                let class = match &error {
                    kube::Error::Api(status) => match status.code {
                        404 => ErrorClass::NotFound,
                        409 | 429 | 500..=599 => ErrorClass::Retryable,
                        _ => ErrorClass::Permanent,
                    },
                    _ => ErrorClass::Retryable,
                };
                let detail = match &error {
                    kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
                    other => other.to_string(),
                };
                self.error(class, format!("{object}: {detail}"))
                    .with_source(error)
            }
        }
    }

    fn tool_error(&self, e: ToolError) -> ProviderError {
        let error = self.error(ErrorClass::Permanent, e.to_string());
        match e.help() {
            Some(help) => error.with_help(help),
            None => error,
        }
        .with_source(e)
    }

    async fn apply_objects(
        &self,
        objects: &[Value],
        record: Record<'_>,
    ) -> Result<Vec<OwnedObject>> {
        let mut owned = Vec::with_capacity(objects.len());
        for object in objects {
            let reference = ObjectRef::of(object).ok_or_else(|| {
                self.error(
                    ErrorClass::Permanent,
                    "an object has no apiVersion, kind or metadata.name",
                )
            })?;
            // Checked before recording: a refused object must never become this resource's to
            // delete on rollback.
            self.refuse_if_owned_elsewhere(&reference).await?;
            record(reference.owned());
            self.progress
                .update(self.address, &format!("applying {reference}"));
            self.connected
                .objects
                .apply(object)
                .await
                .map_err(|e| self.object_error(e))?;
            owned.push(reference.owned());
        }
        Ok(owned)
    }

    /// The stack this provider applies.
    fn stack(&self) -> &str {
        &self.provider.settings.stack
    }

    /// A permanent error when the live object carries another stack's owner mark: applying would
    /// take it over from that stack (whose next apply would take it back, and whose destroy
    /// would delete it under this one).
    async fn refuse_if_owned_elsewhere(&self, reference: &ObjectRef) -> Result<()> {
        let live = self
            .connected
            .objects
            .get(reference)
            .await
            .map_err(|e| self.object_error(e))?;
        match live.and_then(|live| owner::other_stack(&live, self.stack())) {
            Some(owner) => Err(self.owned_elsewhere(&reference.to_string(), &owner)),
            None => Ok(()),
        }
    }

    /// The refusal to touch what another stack owns, naming it, its owner and what to do.
    fn owned_elsewhere(&self, what: &str, owner: &Owner) -> ProviderError {
        self.error(
            ErrorClass::Permanent,
            format!(
                "{what} belongs to {owner}; {} will not take it over",
                self.address
            ),
        )
        .with_help(format!(
            "one stack owns each object: remove {} from this stack (or give it another name or namespace), or delete it from stack `{}` first",
            self.address, owner.stack
        ))
    }

    /// Marks a namespace this resource's install created with its owner, so another stack can
    /// tell it is not its own and a delete can tell it is.
    async fn mark_namespace(&self, name: &str) -> Result<()> {
        let mut labels = serde_json::Map::new();
        labels.insert(render::MANAGED_BY_LABEL.into(), render::MANAGED_BY.into());
        labels.insert(render::STACK_LABEL.into(), self.stack().into());
        let namespace = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": { render::ADDRESS_ANNOTATION: self.address.to_string() },
            },
        });
        self.connected
            .objects
            .apply(&namespace)
            .await
            .map(|_| ())
            .map_err(|e| self.object_error(e))
    }

    /// Records `namespace` as this resource's when it does not exist yet (or was already
    /// recorded as such), before the install that creates it.
    async fn adopt_namespace(
        &self,
        namespace: &str,
        prior: &[OwnedObject],
        record: Record<'_>,
    ) -> Result<Option<OwnedObject>> {
        let reference = ObjectRef {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: namespace.to_string(),
        };
        let object = reference.owned();
        if prior.contains(&object) {
            return Ok(Some(object));
        }
        let exists = self
            .connected
            .objects
            .get(&reference)
            .await
            .map_err(|e| self.object_error(e))?
            .is_some();
        if exists {
            return Ok(None);
        }
        record(object.clone());
        Ok(Some(object))
    }

    /// How the live objects differ from the rendered ones, on the fields meshctl renders; an
    /// object gone is a drift of its own. `None` when every one of them is gone.
    async fn object_drifts(&self, rendered: &[Value]) -> Result<Option<Vec<FieldDrift>>> {
        let references = rendered_references(rendered);
        let wanted: Vec<ObjectRef> = references.iter().map(|(r, _)| r.clone()).collect();
        let live = self
            .connected
            .objects
            .get_many(&wanted)
            .await
            .map_err(|e| self.object_error(e))?;
        Ok(drifts_of(&references, &live))
    }

    /// Whether each recorded object still exists; `false` for the first that does not.
    async fn all_exist(&self, objects: &[OwnedObject]) -> Result<bool> {
        for object in objects {
            let exists = match object.kind.as_str() {
                HELM_RELEASE => {
                    let (namespace, release) = split_id(&object.id);
                    self.helm_status(namespace, release).await?.is_some()
                }
                ISTIO_OPERATOR => self.installed_state(object).await?.is_some(),
                // The controller's, not ours: it comes back by itself while the Ingress exists.
                LOAD_BALANCER => true,
                _ => match ObjectRef::from_owned(object) {
                    Some(reference) => self
                        .connected
                        .objects
                        .get(&reference)
                        .await
                        .map_err(|e| self.object_error(e))?
                        .is_some(),
                    None => true,
                },
            };
            if !exists {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Deletes objects last-made first, then waits for the balancers the controller removes.
    async fn delete_all(&self, objects: &[OwnedObject]) -> Result<()> {
        for object in objects.iter().rev().filter(|o| o.kind != LOAD_BALANCER) {
            match object.kind.as_str() {
                HELM_RELEASE => self.helm_uninstall(object).await?,
                ISTIO_OPERATOR => self.istio_uninstall(object).await?,
                _ => {
                    if let Some(reference) = ObjectRef::from_owned(object) {
                        self.delete_object(&reference).await?;
                    }
                }
            }
        }
        for balancer in objects.iter().filter(|o| o.kind == LOAD_BALANCER) {
            let what = format!("the Load Balancer Controller to delete {}", balancer.id);
            self.wait_for(&what, true, || async {
                if self
                    .provider
                    .balancers
                    .exists(self.address, &balancer.id)
                    .await?
                {
                    Err(self.error(
                        ErrorClass::Retryable,
                        format!("{} still exists", balancer.id),
                    ))
                } else {
                    Ok(Some(()))
                }
            })
            .await?;
        }
        Ok(())
    }

    /// Deletes an object and waits until it is gone (its finalizers done: for an Ingress, the
    /// controller has deleted its ALB).
    /// An object another stack has marked as its own since (it took over a name this resource
    /// once had) is left alone.
    async fn delete_object(&self, reference: &ObjectRef) -> Result<()> {
        let live = self
            .connected
            .objects
            .get(reference)
            .await
            .map_err(|e| self.object_error(e))?;
        let Some(live) = live else {
            return Ok(());
        };
        if let Some(owner) = owner::other_stack(&live, self.stack()) {
            self.progress.update(
                self.address,
                &format!("leaving {reference}: it belongs to {owner}"),
            );
            return Ok(());
        }
        self.progress
            .update(self.address, &format!("deleting {reference}"));
        if !self
            .connected
            .objects
            .delete(reference)
            .await
            .map_err(|e| self.object_error(e))?
        {
            return Ok(());
        }
        let what = format!("{reference} to be deleted");
        self.wait_for(&what, true, || async {
            match self
                .connected
                .objects
                .get(reference)
                .await
                .map_err(|e| self.object_error(e))?
            {
                None => Ok(Some(())),
                Some(_) => {
                    Err(self.error(ErrorClass::Retryable, format!("{reference} still exists")))
                }
            }
        })
        .await
        .map(|_| ())
    }
}

/// The rendered objects that name themselves, with their references.
fn rendered_references(rendered: &[Value]) -> Vec<(ObjectRef, &Value)> {
    rendered
        .iter()
        .filter_map(|o| Some((ObjectRef::of(o)?, o)))
        .collect()
}

/// How the live objects (`live[i]` for `references[i]`) differ from the rendered ones; an object
/// gone is a drift of its own. `None` when every one of them is gone.
fn drifts_of(
    references: &[(ObjectRef, &Value)],
    live: &[Option<Value>],
) -> Option<Vec<FieldDrift>> {
    let mut drifts = Vec::new();
    let mut found = 0;
    for ((reference, object), live) in references.iter().zip(live) {
        match live {
            Some(live) => {
                found += 1;
                drifts.extend(drift::object_drifts(reference, object, live));
            }
            None => drifts.push(drift::missing_object(reference)),
        }
    }
    (found > 0 || references.is_empty()).then_some(drifts)
}

fn split_id(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or(("default", id))
}

/// A file holding `text`, removed when the returned path is dropped.
fn temp_file(name: &str, text: &str) -> std::io::Result<tempfile::TempPath> {
    use std::io::Write as _;
    let mut file = tempfile::Builder::new()
        .prefix("meshctl-")
        .suffix(&format!("-{name}"))
        .tempfile()?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    Ok(file.into_temp_path())
}

#[async_trait]
impl Provider for KubeProvider {
    fn kinds(&self) -> &'static [Kind] {
        // Every kind whose schema names the cluster layer (`KindSpec`), never a list of its own.
        Layer::Cluster.kinds()
    }

    async fn read(
        &self,
        request: &Request<'_>,
        objects: &[OwnedObject],
    ) -> Result<Option<Applied>> {
        let address = request.address;
        let connected = self.connect(address, request.inputs, "read").await?;
        let progress = NoProgress;
        let cx = Call {
            provider: self,
            connected: &connected,
            address,
            operation: "read",
            progress: &progress,
        };
        let render = match self.try_render(address, request.desired, request.inputs) {
            Ok(render) => render,
            // A dependency's record is gone (forgotten with `state rm`): what to compare with
            // cannot be rendered, but whether the objects exist can still be told.
            Err(RenderError::UnknownOutput { .. }) => {
                return Ok(cx.all_exist(objects).await?.then(|| Applied {
                    objects: objects.to_vec(),
                    outputs: Default::default(),
                    live: request.desired.clone(),
                    drifts: Vec::new(),
                }))
            }
            Err(e) => return Err(render_error(address, "read", e)),
        };
        let drifts = match &render.rendered {
            Rendered::Objects(rendered) => match cx.object_drifts(rendered).await? {
                Some(drifts) => drifts,
                None => return Ok(None),
            },
            // Looked up by `observe`, which says when it is gone.
            Rendered::Existing => Vec::new(),
            // An install is checked for its release or installed state: the chart and istioctl
            // render its objects, not meshctl. What meshctl asked for (chart version and values,
            // the operator's spec) is compared with what the tool recorded.
            Rendered::Helm(chart) => {
                if !cx.all_exist(objects).await? {
                    return Ok(None);
                }
                match cx.helm_status(&chart.namespace, &chart.release).await? {
                    Some(status) => drift::release_drifts(
                        &format!("{}/{}", chart.namespace, chart.release),
                        &chart.version,
                        &chart.values,
                        &status,
                    ),
                    None => return Ok(None),
                }
            }
            Rendered::IstioOperator { operator, .. } => {
                if !cx.all_exist(objects).await? {
                    return Ok(None);
                }
                let mut drifts = Vec::new();
                for object in objects.iter().filter(|o| o.kind == ISTIO_OPERATOR) {
                    if let Some(installed) = cx.installed_state(object).await? {
                        drifts.extend(drift::operator_drifts(&object.id, operator, &installed));
                    }
                }
                drifts
            }
        };
        let mut outputs = render.outputs.clone();
        cx.observe(&render, &mut outputs, false).await?;
        Ok(Some(Applied {
            objects: objects.to_vec(),
            outputs,
            live: request.desired.clone(),
            drifts,
        }))
    }

    async fn read_batch(
        &self,
        reads: &[(Request<'_>, &[OwnedObject])],
    ) -> Result<std::collections::BTreeMap<Address, Option<Applied>>> {
        self.read_rendered_objects(reads).await
    }

    /// A looked-up resource (an `existing` control plane) is read; one that is not there is
    /// `Missing`, so the plan stops before anything changes.
    async fn lookup(&self, request: &Request<'_>) -> Result<Lookup> {
        match self.read(request, &[]).await {
            Ok(Some(applied)) => Ok(Lookup::Found(applied)),
            Ok(None) => Ok(Lookup::Missing(LookupMissing {
                field: "existing".into(),
                message: format!("{} is not on the cluster", request.address),
                help: "install it first, or remove `existing` to install it from this stack".into(),
            })),
            Err(e) if e.class == ErrorClass::NotFound => {
                // The read's message says what was searched for and its help what to do; the
                // plan shows them at the field.
                Ok(Lookup::Missing(LookupMissing {
                    field: "existing".into(),
                    message: e.message,
                    help: e.help.unwrap_or_default(),
                }))
            }
            Err(e) => Err(e),
        }
    }

    async fn create(
        &self,
        request: &Request<'_>,
        record: Record<'_>,
        progress: &dyn Progress,
    ) -> Result<Applied> {
        self.apply(request, record, &[], progress, "create").await
    }

    async fn update(
        &self,
        request: &Request<'_>,
        _prior: &Value,
        objects: &[OwnedObject],
        record: &(dyn Fn(OwnedObject) + Send + Sync),
        progress: &dyn Progress,
    ) -> Result<Applied> {
        self.apply(request, record, objects, progress, "update")
            .await
    }

    async fn delete(
        &self,
        address: &Address,
        objects: &[OwnedObject],
        inputs: &Inputs,
        progress: &dyn Progress,
    ) -> Result<()> {
        let connected = self.connect(address, inputs, "delete").await?;
        let cx = Call {
            provider: self,
            connected: &connected,
            address,
            operation: "delete",
            progress,
        };
        cx.delete_all(objects).await
    }

    async fn sweep(
        &self,
        address: &Address,
        keep: &[OwnedObject],
        inputs: &Inputs,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.sweep_unrecorded(address, keep, inputs, progress).await
    }

    async fn census(&self, address: &Address) -> Result<Vec<meshctl_provider::Found>> {
        self.census_namespaces(address).await
    }

    async fn import(&self, request: &Request<'_>, id: &str) -> Result<(Value, Applied)> {
        self.import_rendered(request, id).await
    }

    /// Nothing more to do: the update the engine runs first applies every rendered object,
    /// Helm release and IstioOperator with the stack's label and address annotation, which are
    /// the marks.
    async fn mark(&self, _request: &Request<'_>, _objects: &[OwnedObject]) -> Result<()> {
        Ok(())
    }
}

struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _address: &Address, _message: &str) {}
}
