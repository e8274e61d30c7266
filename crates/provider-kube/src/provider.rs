//! The Kubernetes provider: renders each cluster resource (`render`), reaches the cluster
//! (`access`), and makes it so: server-side apply of objects, `helm upgrade --install` of charts,
//! `istioctl install` of IstioOperators; then waits until the result works (Deployments
//! available, an Ingress's load balancer provisioned, a Certificate Ready) and reads back the
//! outputs dependents need (nodePorts, the balancer's DNS name, ARN and hosted zone).
//!
//! What each resource owns, as state records it:
//! - `k8s:<apiVersion>/<Kind>` `namespace/name`: an object meshctl applied;
//! - `helm:release` `namespace/release`; `istio:operator` `namespace/name` (istioctl keeps the
//!   installed spec as IstioOperator `installed-state-<name>`, which is how it is found again);
//! - `elbv2:load-balancer` ARN: a balancer the Load Balancer Controller made for an Ingress or
//!   Service of this resource. meshctl never deletes it; deleting the resource waits until the
//!   controller has, so the VPC and cluster are never deleted under it.
//!
//! Names are chosen by the stack, so every object is recorded before the call that creates it;
//! a killed run leaves nothing state does not know about, and nothing needs sweeping.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use meshctl_model::record::OwnedObject;
use meshctl_model::{Address, Kind};
use meshctl_provider::{
    Applied, ErrorClass, Inputs, LoadBalancers, Progress, Provider, ProviderError, Request,
    StackSettings,
};
use serde_json::{json, Value};
use tokio::sync::{Mutex, OnceCell};

use crate::access::{self, AccessError, ClusterAccess};
use crate::objects::{ObjectError, ObjectRef, Objects};
use crate::render::{self, Context, HelmChart, Render, RenderError, Rendered};
use crate::tools::{self, ToolError, Tools};

type Result<T, E = ProviderError> = std::result::Result<T, E>;
type Record<'a> = &'a (dyn Fn(OwnedObject) + Send + Sync);

const HELM_RELEASE: &str = "helm:release";
const ISTIO_OPERATOR: &str = "istio:operator";
const LOAD_BALANCER: &str = "elbv2:load-balancer";
/// How often waits look again.
const POLL: Duration = Duration::from_millis(500);

/// The cluster kinds of DESIGN.md §4.
const KINDS: &[Kind] = &[
    Kind::Namespace,
    Kind::LbController,
    Kind::CertManager,
    Kind::Istio,
    Kind::IngressGateway,
    Kind::Alb,
    Kind::Issuer,
    Kind::Certificate,
    Kind::Gateway,
    Kind::VirtualService,
    Kind::DestinationRule,
    Kind::PeerAuthentication,
    Kind::RequestAuthentication,
    Kind::AuthorizationPolicy,
    Kind::HelmRelease,
    Kind::Manifest,
];

/// A connection to the cluster, with the kubeconfig helm and istioctl are given.
struct Connected {
    objects: Objects,
    /// `--kubeconfig` (and context) arguments for helm and istioctl.
    kubeconfig: KubeconfigArgs,
}

/// Where the tools find the cluster: a file meshctl wrote (EKS access) or the user's own.
struct KubeconfigArgs {
    path: std::path::PathBuf,
    context: Option<String>,
    /// Keeps a written kubeconfig (it holds a token) alive while in use, removed after.
    _written: Option<tempfile::TempPath>,
}

impl KubeconfigArgs {
    fn helm(&self) -> Vec<String> {
        let mut args = vec!["--kubeconfig".to_string(), self.path.display().to_string()];
        if let Some(context) = &self.context {
            args.extend(["--kube-context".to_string(), context.clone()]);
        }
        args
    }

    fn istioctl(&self) -> Vec<String> {
        let mut args = vec!["--kubeconfig".to_string(), self.path.display().to_string()];
        if let Some(context) = &self.context {
            args.extend(["--context".to_string(), context.clone()]);
        }
        args
    }
}

struct CachedConnection {
    key: String,
    made: Instant,
    connected: Arc<Connected>,
    /// A task on the runtime the client was made on. kube-rs clients run a worker task on that
    /// runtime; the CLI plans and applies on separate runtimes, and once the first is gone this
    /// task is finished too, and the client with it.
    runtime_alive: tokio::task::JoinHandle<()>,
}

impl CachedConnection {
    fn usable(&self, key: &str) -> bool {
        self.key == key && !self.runtime_alive.is_finished()
    }
}

impl Drop for CachedConnection {
    fn drop(&mut self) {
        self.runtime_alive.abort();
    }
}

/// The Kubernetes provider for the cluster kinds.
pub struct KubeProvider {
    settings: StackSettings,
    balancers: Arc<dyn LoadBalancers>,
    tools: Tools,
    aws: OnceCell<aws_types::SdkConfig>,
    connection: Mutex<Option<CachedConnection>>,
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
        }
    }

    async fn sdk_config(&self) -> &aws_types::SdkConfig {
        self.aws
            .get_or_init(|| async {
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(self.settings.region.clone()))
                    .load()
                    .await
            })
            .await
    }

    /// The `eks_cluster` behind `kube.from_cluster`, if that is how the stack reaches it.
    fn cluster_address(&self) -> Option<Address> {
        self.settings
            .kube
            .as_ref()
            .and_then(|k| k.from_cluster.as_ref())
            .map(|name| Address::new(Kind::EksCluster, name.clone()))
    }

    /// A connection to the cluster, reused while its credentials are fresh.
    async fn connect(
        &self,
        address: &Address,
        inputs: &Inputs,
        operation: &'static str,
    ) -> Result<Arc<Connected>> {
        let fail = |class, message: String| ProviderError::new(class, address, operation, message);
        let Some(kube) = &self.settings.kube else {
            return Err(fail(
                ErrorClass::Permanent,
                "the stack does not say how to reach the cluster".into(),
            )
            .with_help(
                "add `kube: { from_cluster: <eks_cluster name> }` or `kube: { kubeconfig: PATH }`",
            ));
        };
        let endpoint_override = access::resolve_endpoint_override(
            kube.endpoint_override.as_ref().map(|u| u.as_str()),
            access::endpoint_override_from_env().as_deref(),
        );
        let (key, eks) = match (&self.cluster_address(), &kube.kubeconfig) {
            (Some(cluster), _) => {
                let outputs = inputs.get(cluster).ok_or_else(|| {
                    fail(
                        ErrorClass::Permanent,
                        format!("the outputs of {cluster} (endpoint, CA, name) are not known"),
                    )
                    .with_help(format!("apply {cluster} first; it reaches the cluster"))
                })?;
                let output = |name: &str| {
                    outputs
                        .get(name)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            fail(
                                ErrorClass::Permanent,
                                format!("{cluster} has no `{name}` output recorded"),
                            )
                            .with_help(format!(
                                "run `meshctl apply` so that {cluster} is read again"
                            ))
                        })
                };
                let (name, endpoint, ca) =
                    (output("name")?, output("endpoint")?, output("ca_data")?);
                let key = format!("eks {name} {endpoint} {endpoint_override:?}");
                (key, Some((name, endpoint, ca)))
            }
            (None, Some(path)) => (
                format!("kubeconfig {path} {:?} {endpoint_override:?}", kube.context),
                None,
            ),
            (None, None) => {
                return Err(fail(
                    ErrorClass::Permanent,
                    "`kube` names neither `from_cluster` nor `kubeconfig`".into(),
                ))
            }
        };
        let mut cached = self.connection.lock().await;
        if let Some(connection) = cached.as_ref() {
            let fresh = eks.is_none() || connection.made.elapsed() < access::EKS_TOKEN_REUSE;
            if connection.usable(&key) && fresh {
                return Ok(connection.connected.clone());
            }
        }
        let access_error = |e: AccessError| {
            let class = match e {
                AccessError::Unreachable { .. } | AccessError::Api { .. } => ErrorClass::Retryable,
                _ => ErrorClass::Permanent,
            };
            ProviderError::new(class, address, operation, e.to_string())
        };
        let (access, kubeconfig) = match (eks, &kube.kubeconfig) {
            (Some((name, endpoint, ca)), _) => {
                let token = access::eks_token(self.sdk_config().await, &name)
                    .await
                    .map_err(access_error)?;
                let access = ClusterAccess::eks(name, endpoint, ca.clone(), token)
                    .with_endpoint_override(endpoint_override);
                let kubeconfig = write_kubeconfig(&access).map_err(|e| {
                    fail(
                        ErrorClass::Permanent,
                        format!("cannot write a kubeconfig for helm and istioctl: {e}"),
                    )
                })?;
                (access, kubeconfig)
            }
            (None, Some(path)) => {
                let access = ClusterAccess::kubeconfig(path, kube.context.clone())
                    .with_endpoint_override(endpoint_override.clone());
                let kubeconfig = if endpoint_override.is_some() {
                    write_kubeconfig(&access).map_err(|e| {
                        fail(
                            ErrorClass::Permanent,
                            format!("cannot write a kubeconfig for helm and istioctl: {e}"),
                        )
                    })?
                } else {
                    KubeconfigArgs {
                        path: path.into(),
                        context: kube.context.clone(),
                        _written: None,
                    }
                };
                (access, kubeconfig)
            }
            (None, None) => unreachable_access(address, operation)?,
        };
        let cluster = access.connect().await.map_err(access_error)?;
        let connected = Arc::new(Connected {
            objects: Objects::new(cluster.client.clone()),
            kubeconfig,
        });
        *cached = Some(CachedConnection {
            key,
            made: Instant::now(),
            connected: connected.clone(),
            runtime_alive: tokio::spawn(std::future::pending()),
        });
        Ok(connected)
    }

    fn render(
        &self,
        address: &Address,
        desired: &Value,
        inputs: &Inputs,
        operation: &'static str,
    ) -> Result<Render> {
        let cluster = self.cluster_address();
        let cx = Context {
            region: &self.settings.region,
            cluster: cluster.as_ref(),
            inputs,
        };
        render::render(address, desired, &cx).map_err(|e| {
            let help = match &e {
                RenderError::UnknownOutput { reference } => Some(format!(
                    "{reference} is recorded when its resource is applied; apply it first"
                )),
                _ => None,
            };
            let error =
                ProviderError::new(ErrorClass::Permanent, address, operation, e.to_string());
            match help {
                Some(help) => error.with_help(help),
                None => error,
            }
        })
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
        for namespace in created_namespaces(&render) {
            if let Some(object) = cx.adopt_namespace(&namespace, prior, record).await? {
                owned.push(object);
            }
        }
        match &render.rendered {
            Rendered::Objects(objects) => owned.extend(cx.apply_objects(objects, record).await?),
            Rendered::Helm(chart) => owned.push(cx.helm_install(chart, record).await?),
            Rendered::IstioOperator { operator, .. } => {
                owned.push(cx.istio_install(operator, record).await?)
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
        if let Some(arn) = balancer {
            let object = OwnedObject {
                kind: LOAD_BALANCER.to_string(),
                id: arn,
            };
            record(object.clone());
            owned.push(object);
        }
        Ok(Applied {
            objects: owned,
            outputs,
            live: request.desired.clone(),
        })
    }
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

fn unreachable_access<T>(address: &Address, operation: &'static str) -> Result<T> {
    Err(ProviderError::new(
        ErrorClass::Permanent,
        address,
        operation,
        "`kube` names neither `from_cluster` nor `kubeconfig`",
    ))
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
            }
        }
    }

    fn tool_error(&self, e: ToolError) -> ProviderError {
        self.error(ErrorClass::Permanent, e.to_string())
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

    async fn helm_install(&self, chart: &HelmChart, record: Record<'_>) -> Result<OwnedObject> {
        let object = OwnedObject {
            kind: HELM_RELEASE.to_string(),
            id: format!("{}/{}", chart.namespace, chart.release),
        };
        record(object.clone());
        let values = temp_file(
            "values.yaml",
            &serde_yaml::to_string(&chart.values).unwrap_or_default(),
        )
        .map_err(|e| {
            self.error(
                ErrorClass::Permanent,
                format!("cannot write the Helm values: {e}"),
            )
        })?;
        let timeout = self.provider.tools.timeout;
        let mut args = vec![
            "upgrade".to_string(),
            "--install".to_string(),
            chart.release.clone(),
            chart.chart.clone(),
        ];
        if let Some(repository) = &chart.repository {
            args.extend(["--repo".to_string(), repository.clone()]);
        }
        args.extend([
            "--version".to_string(),
            chart.version.clone(),
            "--namespace".to_string(),
            chart.namespace.clone(),
            "--values".to_string(),
            values.display().to_string(),
            "--wait".to_string(),
            "--timeout".to_string(),
            format!("{}s", timeout.as_secs()),
        ]);
        if chart.create_namespace {
            args.push("--create-namespace".to_string());
        }
        args.extend(self.connected.kubeconfig.helm());
        self.progress.update(
            self.address,
            &format!(
                "helm upgrade --install {} {} {}",
                chart.release, chart.chart, chart.version
            ),
        );
        tools::run(
            &self.provider.tools.helm,
            tools::HELM_ENV,
            &args,
            timeout + Duration::from_secs(60),
        )
        .await
        .map_err(|e| self.tool_error(e))?;
        Ok(object)
    }

    async fn istio_install(&self, operator: &Value, record: Record<'_>) -> Result<OwnedObject> {
        let reference = ObjectRef::of(operator)
            .ok_or_else(|| self.error(ErrorClass::Permanent, "the IstioOperator has no name"))?;
        let object = OwnedObject {
            kind: ISTIO_OPERATOR.to_string(),
            id: format!(
                "{}/{}",
                reference.namespace.as_deref().unwrap_or("istio-system"),
                reference.name
            ),
        };
        record(object.clone());
        let file = temp_file(
            "istio-operator.yaml",
            &serde_yaml::to_string(operator).unwrap_or_default(),
        )
        .map_err(|e| {
            self.error(
                ErrorClass::Permanent,
                format!("cannot write the IstioOperator: {e}"),
            )
        })?;
        let timeout = self.provider.tools.timeout;
        let mut args = vec![
            "install".to_string(),
            "-y".to_string(),
            "-f".to_string(),
            file.display().to_string(),
            "--readiness-timeout".to_string(),
            format!("{}s", timeout.as_secs()),
        ];
        args.extend(self.connected.kubeconfig.istioctl());
        self.progress.update(
            self.address,
            &format!("istioctl install {}", reference.name),
        );
        tools::run(
            &self.provider.tools.istioctl,
            tools::ISTIOCTL_ENV,
            &args,
            timeout + Duration::from_secs(60),
        )
        .await
        .map_err(|e| self.tool_error(e))?;
        Ok(object)
    }

    /// Reads back what the resource's dependents need, waiting (when `wait`) until it works:
    /// the gateway's nodePorts and balancer, the ALB, a Ready Certificate, available
    /// Deployments. Returns the ARN of a balancer the controller made for it.
    async fn observe(
        &self,
        render: &Render,
        outputs: &mut BTreeMap<String, Value>,
        wait: bool,
    ) -> Result<Option<String>> {
        match self.address.kind {
            Kind::IngressGateway => self.observe_gateway(outputs, wait).await,
            Kind::Alb => {
                let Rendered::Objects(objects) = &render.rendered else {
                    return Ok(None);
                };
                let Some(ingress) = objects.iter().find_map(ObjectRef::of) else {
                    return Ok(None);
                };
                let Some(hostname) = self.balancer_hostname(&ingress, wait).await? else {
                    return Ok(None);
                };
                let balancer = self.balancer(&hostname, wait).await?;
                outputs.insert("dns_name".into(), hostname.into());
                Ok(balancer.map(|b| {
                    outputs.insert("arn".into(), b.arn.clone().into());
                    outputs.insert(
                        "canonical_hosted_zone_id".into(),
                        b.canonical_hosted_zone_id.into(),
                    );
                    b.arn
                }))
            }
            Kind::Certificate if wait => {
                if let Rendered::Objects(objects) = &render.rendered {
                    for certificate in objects.iter().filter_map(ObjectRef::of) {
                        self.wait_certificate_ready(&certificate).await?;
                    }
                }
                Ok(None)
            }
            Kind::Manifest if wait => {
                if let Rendered::Objects(objects) = &render.rendered {
                    for deployment in objects
                        .iter()
                        .filter_map(ObjectRef::of)
                        .filter(|o| o.kind == "Deployment" && o.api_version == "apps/v1")
                    {
                        self.wait_deployment_available(&deployment).await?;
                    }
                }
                Ok(None)
            }
            Kind::HelmRelease => {
                if let Rendered::Helm(chart) = &render.rendered {
                    if let Some(revision) = self.helm_revision(chart).await? {
                        outputs.insert("revision".into(), revision.into());
                    }
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// The gateway Service's nodePorts, and for a LoadBalancer Service its balancer.
    async fn observe_gateway(
        &self,
        outputs: &mut BTreeMap<String, Value>,
        wait: bool,
    ) -> Result<Option<String>> {
        let name = outputs
            .get("service_name")
            .and_then(Value::as_str)
            .unwrap_or(&self.address.name)
            .to_string();
        let namespace = outputs
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("istio-system")
            .to_string();
        let service = ObjectRef {
            api_version: "v1".into(),
            kind: "Service".into(),
            namespace: Some(namespace),
            name,
        };
        let Some(live) = self
            .connected
            .objects
            .get(&service)
            .await
            .map_err(|e| self.object_error(e))?
        else {
            return Err(self.error(
                ErrorClass::Permanent,
                format!("istioctl reported success, but {service} does not exist"),
            ));
        };
        let mut node_ports = serde_json::Map::new();
        for port in live["spec"]["ports"].as_array().into_iter().flatten() {
            if let (Some(port_name), Some(node_port)) =
                (port["name"].as_str(), port["nodePort"].as_u64())
            {
                node_ports.insert(port_name.to_string(), node_port.into());
                if port_name == "status-port" {
                    outputs.insert("status_node_port".into(), node_port.into());
                }
            }
        }
        outputs.insert("node_ports".into(), Value::Object(node_ports));
        if live["spec"]["type"] != "LoadBalancer" {
            return Ok(None);
        }
        let Some(hostname) = self.balancer_hostname(&service, wait).await? else {
            return Ok(None);
        };
        outputs.insert("load_balancer_hostname".into(), hostname.clone().into());
        let balancer = self.balancer(&hostname, wait).await?;
        Ok(balancer.map(|b| {
            outputs.insert(
                "canonical_hosted_zone_id".into(),
                b.canonical_hosted_zone_id.into(),
            );
            b.arn
        }))
    }

    /// `status.loadBalancer.ingress[0].hostname` of an Ingress or Service, waiting for the
    /// controller to write it when `wait`.
    async fn balancer_hostname(&self, object: &ObjectRef, wait: bool) -> Result<Option<String>> {
        let what = format!("{object} to get a load balancer hostname");
        self.wait_for(&what, wait, || async {
            let live = self
                .connected
                .objects
                .get(object)
                .await
                .map_err(|e| self.object_error(e))?;
            let Some(live) = live else {
                return Err(self.error(ErrorClass::NotFound, format!("{object} does not exist")));
            };
            if let Some(hostname) =
                live["status"]["loadBalancer"]["ingress"][0]["hostname"].as_str()
            {
                return Ok(Some(hostname.to_string()));
            }
            Err(self.error(
                ErrorClass::Retryable,
                format!(
                    "{object} has no load balancer yet{}",
                    self.warning_events(object).await
                ),
            ))
        })
        .await
    }

    /// The balancer with this DNS name, from ELBv2.
    async fn balancer(
        &self,
        hostname: &str,
        wait: bool,
    ) -> Result<Option<meshctl_provider::LoadBalancer>> {
        let what = format!("the load balancer {hostname} to appear in ELBv2");
        self.wait_for(&what, wait, || async {
            match self
                .provider
                .balancers
                .by_dns_name(self.address, hostname)
                .await?
            {
                Some(found) => Ok(Some(found)),
                None => Err(self.error(
                    ErrorClass::Retryable,
                    format!("no load balancer named {hostname} in ELBv2"),
                )),
            }
        })
        .await
    }

    async fn wait_certificate_ready(&self, certificate: &ObjectRef) -> Result<()> {
        let what = format!("{certificate} to be Ready");
        self.wait_for(&what, true, || async {
            let live = self
                .connected
                .objects
                .get(certificate)
                .await
                .map_err(|e| self.object_error(e))?
                .ok_or_else(|| {
                    self.error(
                        ErrorClass::NotFound,
                        format!("{certificate} does not exist"),
                    )
                })?;
            let ready = live["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            match ready {
                Some(c) if c["status"] == "True" => Ok(Some(())),
                Some(c) => Err(self.error(
                    ErrorClass::Retryable,
                    format!(
                        "{certificate} is not Ready: {}",
                        c["message"].as_str().unwrap_or("no message")
                    ),
                )),
                None => Err(self.error(
                    ErrorClass::Retryable,
                    format!("{certificate} has no Ready condition yet"),
                )),
            }
        })
        .await
        .map(|_| ())
    }

    async fn wait_deployment_available(&self, deployment: &ObjectRef) -> Result<()> {
        let what = format!("{deployment} to be available");
        self.wait_for(&what, true, || async {
            let live = self
                .connected
                .objects
                .get(deployment)
                .await
                .map_err(|e| self.object_error(e))?
                .ok_or_else(|| {
                    self.error(ErrorClass::NotFound, format!("{deployment} does not exist"))
                })?;
            let wanted = live["spec"]["replicas"].as_u64().unwrap_or(1);
            let available = live["status"]["availableReplicas"].as_u64().unwrap_or(0);
            if available >= wanted {
                Ok(Some(()))
            } else {
                Err(self.error(
                    ErrorClass::Retryable,
                    format!("{deployment} has {available} of {wanted} replicas available"),
                ))
            }
        })
        .await
        .map(|_| ())
    }

    /// Polls `check` until it returns a value, a non-retryable error, or the tools' timeout
    /// passes (then the last retryable error, made permanent). Without `wait`, one look: a
    /// retryable answer means "not there yet" (`None`).
    async fn wait_for<T, F, Fut>(&self, what: &str, wait: bool, check: F) -> Result<Option<T>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let started = Instant::now();
        let timeout = self.provider.tools.timeout;
        loop {
            match check().await {
                Ok(found) => return Ok(found),
                Err(e) if e.class == ErrorClass::Retryable && !wait => {
                    let _ = e;
                    return Ok(None);
                }
                Err(e) if e.class == ErrorClass::Retryable => {
                    if started.elapsed() >= timeout {
                        return Err(self
                            .error(
                                ErrorClass::Permanent,
                                format!(
                                    "gave up waiting for {what} after {} s: {}",
                                    timeout.as_secs(),
                                    e.message
                                ),
                            )
                            .with_help(format!(
                                "set {} (seconds) to wait longer",
                                tools::TIMEOUT_ENV
                            )));
                    }
                    self.progress.update(
                        self.address,
                        &format!("waiting for {what} ({} s)", started.elapsed().as_secs()),
                    );
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// ": <reason>: <message>" of the newest Warning Event about `object`, or "".
    async fn warning_events(&self, object: &ObjectRef) -> String {
        let Some(namespace) = &object.namespace else {
            return String::new();
        };
        let api: kube::Api<k8s_openapi::api::core::v1::Event> =
            kube::Api::namespaced(self.connected.objects.client().clone(), namespace);
        let selector = format!(
            "involvedObject.kind={},involvedObject.name={}",
            object.kind, object.name
        );
        let Ok(events) = api
            .list(&kube::api::ListParams::default().fields(&selector))
            .await
        else {
            return String::new();
        };
        events
            .items
            .iter()
            .rfind(|e| e.type_.as_deref() == Some("Warning"))
            .map(|e| {
                format!(
                    ": {}: {}",
                    e.reason.as_deref().unwrap_or("Warning"),
                    e.message.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default()
    }

    async fn helm_revision(&self, chart: &HelmChart) -> Result<Option<u64>> {
        let status = self.helm_status(&chart.namespace, &chart.release).await?;
        Ok(status.and_then(|s| s["version"].as_u64()))
    }

    /// `helm status -o json` of a release, or `None` when there is no such release.
    async fn helm_status(&self, namespace: &str, release: &str) -> Result<Option<Value>> {
        let mut args = vec![
            "status".to_string(),
            release.to_string(),
            "--namespace".to_string(),
            namespace.to_string(),
            "-o".to_string(),
            "json".to_string(),
        ];
        args.extend(self.connected.kubeconfig.helm());
        match tools::run(
            &self.provider.tools.helm,
            tools::HELM_ENV,
            &args,
            Duration::from_secs(120),
        )
        .await
        {
            Ok(output) => Ok(Some(
                serde_json::from_str(&output.stdout).unwrap_or(Value::Null),
            )),
            Err(ToolError::Failed { output, .. }) if output.contains("not found") => Ok(None),
            Err(e) => Err(self.tool_error(e)),
        }
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

    /// istioctl's record of an install: IstioOperator `installed-state-<name>`.
    async fn installed_state(&self, object: &OwnedObject) -> Result<Option<Value>> {
        let (namespace, name) = split_id(&object.id);
        let reference = ObjectRef {
            api_version: "install.istio.io/v1alpha1".into(),
            kind: "IstioOperator".into(),
            namespace: Some(namespace.to_string()),
            name: format!("installed-state-{name}"),
        };
        self.connected
            .objects
            .get(&reference)
            .await
            .map_err(|e| self.object_error(e))
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
    async fn delete_object(&self, reference: &ObjectRef) -> Result<()> {
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

    async fn helm_uninstall(&self, object: &OwnedObject) -> Result<()> {
        let (namespace, release) = split_id(&object.id);
        let timeout = self.provider.tools.timeout;
        let mut args = vec![
            "uninstall".to_string(),
            release.to_string(),
            "--namespace".to_string(),
            namespace.to_string(),
            "--wait".to_string(),
            "--timeout".to_string(),
            format!("{}s", timeout.as_secs()),
        ];
        args.extend(self.connected.kubeconfig.helm());
        self.progress
            .update(self.address, &format!("helm uninstall {release}"));
        match tools::run(
            &self.provider.tools.helm,
            tools::HELM_ENV,
            &args,
            timeout + Duration::from_secs(60),
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(ToolError::Failed { output, .. }) if output.contains("not found") => Ok(()),
            Err(e) => Err(self.tool_error(e)),
        }
    }

    /// `istioctl uninstall -f` with the spec istioctl recorded at install: removes exactly what
    /// that operator installed (other operators' gateways stay).
    async fn istio_uninstall(&self, object: &OwnedObject) -> Result<()> {
        let Some(state) = self.installed_state(object).await? else {
            return Ok(());
        };
        let (namespace, name) = split_id(&object.id);
        let operator = json!({
            "apiVersion": "install.istio.io/v1alpha1",
            "kind": "IstioOperator",
            "metadata": { "name": name, "namespace": namespace },
            "spec": state["spec"],
        });
        let file = temp_file(
            "istio-operator.yaml",
            &serde_yaml::to_string(&operator).unwrap_or_default(),
        )
        .map_err(|e| {
            self.error(
                ErrorClass::Permanent,
                format!("cannot write the IstioOperator: {e}"),
            )
        })?;
        // The control plane goes with everything Istio installed (its CRDs too): its gateways
        // and mesh objects depend on it and are gone by now. A gateway removes only its own.
        let mut args = vec!["uninstall".to_string(), "-y".to_string()];
        if self.address.kind == Kind::Istio {
            args.push("--purge".to_string());
        } else {
            args.extend(["-f".to_string(), file.display().to_string()]);
        }
        args.extend(self.connected.kubeconfig.istioctl());
        self.progress
            .update(self.address, &format!("istioctl uninstall {name}"));
        tools::run(
            &self.provider.tools.istioctl,
            tools::ISTIOCTL_ENV,
            &args,
            self.provider.tools.timeout,
        )
        .await
        .map_err(|e| self.tool_error(e))?;
        Ok(())
    }
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

/// A kubeconfig for helm and istioctl with what meshctl itself uses: the URL requests go to,
/// the CA, the TLS server name when an override tunnels to the cluster, and the token. Private to
/// this user (0600): it holds a bearer token.
fn write_kubeconfig(access: &ClusterAccess) -> std::result::Result<KubeconfigArgs, String> {
    let text = access.kubeconfig_yaml().map_err(|e| e.to_string())?;
    let path = temp_file("kubeconfig", &text).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
    }
    Ok(KubeconfigArgs {
        path: path.to_path_buf(),
        context: None,
        _written: Some(path),
    })
}

#[async_trait]
impl Provider for KubeProvider {
    fn kinds(&self) -> &'static [Kind] {
        KINDS
    }

    async fn read(
        &self,
        request: &Request<'_>,
        objects: &[OwnedObject],
    ) -> Result<Option<Applied>> {
        let address = request.address;
        let render = self.render(address, request.desired, request.inputs, "read")?;
        let connected = self.connect(address, request.inputs, "read").await?;
        let progress = NoProgress;
        let cx = Call {
            provider: self,
            connected: &connected,
            address,
            operation: "read",
            progress: &progress,
        };
        if !cx.all_exist(objects).await? {
            return Ok(None);
        }
        let mut outputs = render.outputs.clone();
        cx.observe(&render, &mut outputs, false).await?;
        Ok(Some(Applied {
            objects: objects.to_vec(),
            outputs,
            live: request.desired.clone(),
        }))
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
        progress: &dyn Progress,
    ) -> Result<Applied> {
        self.apply(request, &|_| {}, objects, progress, "update")
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

    async fn import(&self, address: &Address, _id: &str) -> Result<(Value, Applied)> {
        Err(ProviderError::new(
            ErrorClass::Permanent,
            address,
            "import",
            "cluster resources are not imported by id",
        )
        .with_help("add the resource to the stack and run `meshctl apply`: server-side apply takes over the existing objects"))
    }
}

struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _address: &Address, _message: &str) {}
}
