//! Rendering: each cluster kind's typed spec, plus the outputs of what it references, turned into
//! the Kubernetes objects a server-side apply sends, the IstioOperator istioctl installs, or the
//! Helm chart and values helm installs. Pure: no IO, no async, no kube client, so plans can show
//! exactly what apply will send and golden files can hold it.
//!
//! Every Kubernetes object (and every IstioOperator) carries its owner: the labels
//! `app.kubernetes.io/managed-by: meshctl` and `meshctl.io/stack: <stack>`, and the annotation
//! `meshctl.io/address: kind.name` (an annotation because an address may hold characters a label
//! value may not), so a live object can be traced back to the stack resource that owns it and
//! another stack on the same cluster can tell it is not its own.
//!
//! Inputs come as the engine hands them to providers: the outputs of the resources this one
//! depends on, by address. An output that is not there yet is an error naming the
//! `${kind.name.output}` it waited for, never a guess and never a panic.
//!
//! Istio is split per graph node: the `istio` node renders an IstioOperator for the control plane
//! only (its profile's default gateway disabled), and each `ingress_gateway` renders its own
//! IstioOperator with profile `empty` holding one gateway component — istioctl's documented way
//! of adding gateways. One combined operator would make every gateway change an update of the
//! `istio` node and let deleting one gateway prune the others; separate operators keep each
//! node owning exactly its own objects, and istioctl prunes per operator name.

mod addons;
mod certs;
mod ingress;
mod istio;
mod mesh;

use meshctl_model::{Address, Kind};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub use addons::{CERT_MANAGER_REPOSITORY, EKS_CHARTS_REPOSITORY};
pub use istio::DEFAULT_REVISION;

/// Outputs of referenced resources, by address (the engine's `Request::inputs`).
pub type Inputs = BTreeMap<Address, BTreeMap<String, Value>>;

/// The label every rendered object carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "meshctl";
/// The label naming the stack that owns an object.
pub const STACK_LABEL: &str = "meshctl.io/stack";
/// The annotation naming the stack resource that owns an object.
pub const ADDRESS_ANNOTATION: &str = "meshctl.io/address";
/// The label on a Helm release (on its storage Secret, through `helm --labels`) naming the kind of
/// the resource that owns it; with the release name, which is the resource's, it makes the
/// address. An address can be longer than a label value may be, a kind cannot.
pub const KIND_LABEL: &str = "meshctl.io/kind";
/// The annotation that binds a ServiceAccount to an IAM role (IRSA).
pub const IRSA_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// What rendering needs besides the resource itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The stack's name, which every rendered object carries as its owner.
    pub stack: &'a str,
    /// The stack's AWS region (the LB controller's and Route53 solver's region).
    pub region: &'a str,
    /// The `eks_cluster` behind `kube.from_cluster`, whose `name` output the LB controller needs.
    pub cluster: Option<&'a Address>,
    pub inputs: &'a Inputs,
}

/// A Helm chart to install or upgrade, with its values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HelmChart {
    pub release: String,
    pub namespace: String,
    pub create_namespace: bool,
    pub chart: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    pub version: String,
    pub values: Value,
    /// The release's own labels (`helm --labels`): its owner, stack and kind.
    pub labels: BTreeMap<String, String>,
}

/// What one stack resource renders to.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    /// Objects to server-side apply, in order.
    Objects(Vec<Value>),
    /// An IstioOperator for `istioctl install -f`. `version` is the istioctl to run, when the
    /// node knows it.
    IstioOperator { version: String, operator: Value },
    /// A Helm release.
    Helm(HelmChart),
    /// Something already on the cluster that the resource only looks up (an `existing` Istio
    /// control plane): nothing to install, nothing to delete.
    Existing,
}

impl Rendered {
    /// The rendered documents as they would be written to a file: the objects, the operator, or
    /// the chart coordinates with their values.
    pub fn documents(&self) -> Vec<Value> {
        match self {
            Rendered::Objects(objects) => objects.clone(),
            Rendered::IstioOperator { operator, .. } => vec![operator.clone()],
            Rendered::Helm(chart) => vec![serde_json::to_value(chart).unwrap_or(Value::Null)],
            Rendered::Existing => Vec::new(),
        }
    }

    /// Multi-document YAML, keys in the order they were rendered.
    pub fn to_yaml(&self) -> Result<String, RenderError> {
        let mut text = String::new();
        for document in self.documents() {
            let yaml = serde_yaml::to_string(&document).map_err(|e| RenderError::Yaml {
                message: e.to_string(),
            })?;
            text.push_str("---\n");
            text.push_str(&yaml);
        }
        Ok(text)
    }
}

/// The result of rendering: what to install, and the outputs the spec alone determines (names,
/// namespaces, labels) so dependents can be rendered before the cluster has answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Render {
    pub rendered: Rendered,
    pub outputs: BTreeMap<String, Value>,
}

/// Why a resource could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A referenced output is not known yet (its producer has not run, or did not record it).
    #[error("`{reference}` is not known yet")]
    UnknownOutput { reference: String },
    /// A referenced output has the wrong shape.
    #[error("`{reference}` is not {expected}")]
    BadOutput { reference: String, expected: String },
    /// The desired JSON is not a valid spec of the kind.
    #[error("{address}: not a valid spec: {message}")]
    BadSpec { address: Address, message: String },
    /// The kind is not a cluster kind.
    #[error("{address} is not a Kubernetes resource")]
    NotClusterKind { address: Address },
    /// The spec and a referenced output disagree (the seeds' traps, caught at apply time).
    #[error("{address}: {message}")]
    Conflict { address: Address, message: String },
    /// The LB controller needs the EKS cluster, and the stack does not reach it through
    /// `kube.from_cluster`.
    #[error("{address} needs the EKS cluster's name: reach the cluster with `kube.from_cluster`")]
    NoCluster { address: Address },
    #[error("cannot write YAML: {message}")]
    Yaml { message: String },
}

/// Renders the resource at `address` from its desired JSON (`serde_json::to_value` of the typed
/// spec, every `${...}` resolved).
pub fn render(address: &Address, desired: &Value, cx: &Context<'_>) -> Result<Render, RenderError> {
    let r = Renderer { address, cx };
    match address.kind {
        Kind::Namespace => addons::namespace(&r, &r.spec(desired)?),
        Kind::LbController => addons::lb_controller(&r, &r.spec(desired)?),
        Kind::CertManager => addons::cert_manager(&r, &r.spec(desired)?),
        Kind::HelmRelease => addons::helm_release(&r, &r.spec(desired)?),
        Kind::Manifest => addons::manifest(&r, &r.spec(desired)?),
        Kind::Istio => istio::control_plane(&r, &r.spec(desired)?),
        Kind::IngressGateway => istio::ingress_gateway(&r, &r.spec(desired)?),
        Kind::Alb => ingress::alb(&r, &r.spec(desired)?),
        Kind::Issuer => certs::issuer(&r, &r.spec(desired)?),
        Kind::Certificate => certs::certificate(&r, &r.spec(desired)?),
        Kind::Gateway => mesh::gateway(&r, &r.spec(desired)?),
        Kind::VirtualService => mesh::virtual_service(&r, &r.spec(desired)?),
        Kind::DestinationRule => mesh::destination_rule(&r, &r.spec(desired)?),
        Kind::PeerAuthentication => mesh::peer_authentication(&r, &r.spec(desired)?),
        Kind::RequestAuthentication => mesh::request_authentication(&r, &r.spec(desired)?),
        Kind::AuthorizationPolicy => mesh::authorization_policy(&r, &r.spec(desired)?),
        Kind::Vpc
        | Kind::EksCluster
        | Kind::Nodegroup
        | Kind::IamServiceAccount
        | Kind::Route53Zone
        | Kind::AcmCertificate
        | Kind::DnsRecord => Err(RenderError::NotClusterKind {
            address: address.clone(),
        }),
    }
}

/// What `meshctl import` finds a cluster resource by, and the id the user gives for it
/// (docs/adoption.md): the object, release or install the resource renders, so an import can
/// only ever adopt what the stack's resource would itself make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportTarget {
    /// A Kubernetes object: `namespace/name`, or `name` when cluster-scoped.
    Object {
        api_version: String,
        kind: String,
        namespace: Option<String>,
        name: String,
    },
    /// A Helm release: `namespace/release`.
    HelmRelease { namespace: String, release: String },
    /// An istioctl install, by its IstioOperator: `namespace/name`.
    IstioOperator { namespace: String, name: String },
}

impl ImportTarget {
    /// The id `meshctl import` takes for it.
    pub fn id(&self) -> String {
        match self {
            ImportTarget::Object {
                namespace: Some(namespace),
                name,
                ..
            } => format!("{namespace}/{name}"),
            ImportTarget::Object { name, .. } => name.clone(),
            ImportTarget::HelmRelease { namespace, release } => format!("{namespace}/{release}"),
            ImportTarget::IstioOperator { namespace, name } => format!("{namespace}/{name}"),
        }
    }

    /// What it is, in words: `Gateway shop/web`, `Helm release kube-system/aws-load-balancer-controller`.
    pub fn describe(&self) -> String {
        match self {
            ImportTarget::Object { kind, .. } => format!("{kind} {}", self.id()),
            ImportTarget::HelmRelease { .. } => format!("Helm release {}", self.id()),
            ImportTarget::IstioOperator { .. } => {
                format!("the istioctl install (IstioOperator) {}", self.id())
            }
        }
    }

    /// The first object a render applies, which names the resource (a manifest's first object).
    pub(crate) fn first_object(render: &Render) -> Option<ImportTarget> {
        let Rendered::Objects(objects) = &render.rendered else {
            return None;
        };
        let object = objects.first()?;
        Some(ImportTarget::Object {
            api_version: object["apiVersion"].as_str()?.to_string(),
            kind: object["kind"].as_str()?.to_string(),
            namespace: object["metadata"]["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            name: object["metadata"]["name"].as_str()?.to_string(),
        })
    }

    /// The release a Helm render installs.
    pub(crate) fn release(render: &Render) -> Option<ImportTarget> {
        let Rendered::Helm(chart) = &render.rendered else {
            return None;
        };
        Some(ImportTarget::HelmRelease {
            namespace: chart.namespace.clone(),
            release: chart.release.clone(),
        })
    }
}

/// What `meshctl import` finds the resource at `address` by, from its render; `None` for a
/// resource that installs nothing (an `existing` control plane, only looked up).
pub fn import_target(address: &Address, render: &Render) -> Option<ImportTarget> {
    match address.kind {
        Kind::Namespace
        | Kind::Manifest
        | Kind::Alb
        | Kind::Issuer
        | Kind::Certificate
        | Kind::Gateway
        | Kind::VirtualService
        | Kind::DestinationRule
        | Kind::PeerAuthentication
        | Kind::RequestAuthentication
        | Kind::AuthorizationPolicy => ImportTarget::first_object(render),
        Kind::LbController | Kind::CertManager | Kind::HelmRelease => ImportTarget::release(render),
        Kind::Istio => istio::control_plane_import_target(render),
        Kind::IngressGateway => istio::gateway_import_target(render),
        Kind::Vpc
        | Kind::EksCluster
        | Kind::Nodegroup
        | Kind::IamServiceAccount
        | Kind::Route53Zone
        | Kind::AcmCertificate
        | Kind::DnsRecord => None,
    }
}

/// The resource being rendered and its context; the helpers every kind module shares.
pub(crate) struct Renderer<'a> {
    pub address: &'a Address,
    pub cx: &'a Context<'a>,
}

impl Renderer<'_> {
    fn spec<T: serde::de::DeserializeOwned>(&self, desired: &Value) -> Result<T, RenderError> {
        serde_json::from_value(desired.clone()).map_err(|e| RenderError::BadSpec {
            address: self.address.clone(),
            message: e.to_string(),
        })
    }

    /// The labels a Helm release carries: the stack and kind that own it.
    pub fn release_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (STACK_LABEL.to_string(), self.cx.stack.to_string()),
            (KIND_LABEL.to_string(), self.address.kind.to_string()),
        ])
    }

    /// The resource's own name, which names its Kubernetes objects.
    pub fn name(&self) -> &str {
        &self.address.name
    }

    pub fn conflict(&self, message: impl Into<String>) -> RenderError {
        RenderError::Conflict {
            address: self.address.clone(),
            message: message.into(),
        }
    }

    /// An output of a referenced resource; an error naming `${kind.name.output}` when absent.
    pub fn output(&self, kind: Kind, name: &str, output: &str) -> Result<&Value, RenderError> {
        self.optional_output(kind, name, output)
            .ok_or_else(|| RenderError::UnknownOutput {
                reference: reference(kind, name, output),
            })
    }

    /// An output that may legitimately be absent (older records, optional wiring).
    pub fn optional_output(&self, kind: Kind, name: &str, output: &str) -> Option<&Value> {
        self.cx
            .inputs
            .get(&Address::new(kind, name))
            .and_then(|outputs| outputs.get(output))
            .filter(|v| !v.is_null())
    }

    pub fn string_output(
        &self,
        kind: Kind,
        name: &str,
        output: &str,
    ) -> Result<String, RenderError> {
        as_string(self.output(kind, name, output)?).ok_or_else(|| RenderError::BadOutput {
            reference: reference(kind, name, output),
            expected: "a string".to_string(),
        })
    }

    pub fn optional_string_output(&self, kind: Kind, name: &str, output: &str) -> Option<String> {
        self.optional_output(kind, name, output).and_then(as_string)
    }

    pub fn port_output(&self, kind: Kind, name: &str, output: &str) -> Result<u16, RenderError> {
        let value = self.output(kind, name, output)?;
        let port = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        port.and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| RenderError::BadOutput {
                reference: reference(kind, name, output),
                expected: "a port number".to_string(),
            })
    }

    /// `metadata` with the given name, namespace, labels and annotations plus meshctl's own.
    pub fn metadata(
        &self,
        name: &str,
        namespace: Option<&str>,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Value {
        let mut metadata = Map::new();
        metadata.insert("name".into(), name.into());
        if let Some(namespace) = namespace {
            metadata.insert("namespace".into(), namespace.into());
        }
        metadata.insert("labels".into(), self.labels(labels));
        metadata.insert("annotations".into(), self.annotations(annotations));
        Value::Object(metadata)
    }

    fn labels(&self, labels: &BTreeMap<String, String>) -> Value {
        let mut all: Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        all.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        all.insert(STACK_LABEL.into(), self.cx.stack.into());
        Value::Object(all)
    }

    fn annotations(&self, annotations: &BTreeMap<String, String>) -> Value {
        let mut all: Map<String, Value> = annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        all.insert(ADDRESS_ANNOTATION.into(), self.address.to_string().into());
        Value::Object(all)
    }

    /// Adds meshctl's owner labels and annotation to an object given as is (a manifest's), keeping
    /// everything else the author wrote.
    pub fn stamp(&self, mut object: Value) -> Value {
        if let Value::Object(map) = &mut object {
            let metadata = map
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if !metadata.is_object() {
                *metadata = Value::Object(Map::new());
            }
            if let Value::Object(metadata) = metadata {
                for (key, name, value) in [
                    ("labels", MANAGED_BY_LABEL, MANAGED_BY.to_string()),
                    ("labels", STACK_LABEL, self.cx.stack.to_string()),
                    ("annotations", ADDRESS_ANNOTATION, self.address.to_string()),
                ] {
                    let entry = metadata
                        .entry(key)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    if let Value::Object(entry) = entry {
                        entry.insert(name.into(), value.into());
                    }
                }
            }
        }
        object
    }
}

fn as_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `${kind.name.output}`, as a stack would write the reference.
pub fn reference(kind: Kind, name: &str, output: &str) -> String {
    format!("${{{kind}.{name}.{output}}}")
}

/// A JSON object from pairs, leaving out nulls, so optional fields stay absent rather than
/// becoming `null` in applied objects.
pub(crate) fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// `Some(v)` as JSON, `None` as null (dropped by `object`).
pub(crate) fn opt<T: Serialize>(value: Option<T>) -> Value {
    value
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(Value::Null)
}

/// A list as JSON, or null when empty (dropped by `object`).
pub(crate) fn list<T: Serialize>(items: &[T]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        serde_json::to_value(items).unwrap_or(Value::Null)
    }
}

/// Deep-merges `overlay` over `base`: objects key by key, everything else replaced. Used for
/// user Helm values "merged over the ones meshctl sets".
pub(crate) fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) if !overlay.is_null() => *base = overlay.clone(),
        _ => {}
    }
}

/// `matchLabels` selector from optional labels.
pub(crate) fn match_labels(labels: Option<&meshctl_model::values::Labels>) -> Value {
    match labels {
        Some(labels) => serde_json::json!({ "matchLabels": labels.0 }),
        None => Value::Null,
    }
}
