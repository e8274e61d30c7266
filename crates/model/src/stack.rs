//! A loaded stack: header (name, region, cluster access, state backend) and typed resources, each
//! with its address, references and dependency edges.

use crate::interpolate::OutputRef;
use crate::kinds::{Kind, Spec};
use crate::path::FieldPath;
use crate::span::SourceFile;
use crate::values::Url;
use crate::yaml::Node;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `kind.name`: a resource's identity within its stack.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub kind: Kind,
    pub name: String,
}

impl Address {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        Address {
            kind,
            name: name.into(),
        }
    }

    /// Parses `kind.name`; `None` when the kind is unknown or the shape is wrong.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, name) = text.split_once('.')?;
        let kind = Kind::parse(kind)?;
        is_resource_name(name).then(|| Address::new(kind, name))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::parse(&text).ok_or_else(|| {
            crate::de::invalid(
                "bad-address",
                format!("`{text}` is not a resource address"),
                "write kind.name, e.g. eks_cluster.main",
            )
        })
    }
}

/// Resource names are DNS labels, so that they can also name the Kubernetes objects they render.
pub fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Why one resource must come after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// A typed reference field (`cluster: main`).
    Reference,
    /// `${kind.name.output}` in a string.
    Interpolation,
    /// `depends_on`.
    Explicit,
    /// Cluster resources reach the cluster of `kube.from_cluster` through its outputs (endpoint,
    /// CA): a new cluster holds none of their objects.
    Cluster,
    /// Cluster resources wait for that cluster's nodegroups (pods need nodes); ordering only.
    Nodes,
    /// A Kubernetes object in a namespace the stack declares.
    Namespace,
    /// A custom resource needs the add-on whose CRDs and controller serve it (a Certificate needs
    /// cert-manager, an ALB Ingress the Load Balancer Controller, a VirtualService Istio).
    Controller,
}

impl EdgeKind {
    /// Whether the dependent reads the target's outputs through this edge, so that new outputs
    /// (the target created or replaced, or an update changing them) must reach it in the same
    /// apply. The other edges only order the steps.
    pub fn reads_outputs(self) -> bool {
        match self {
            EdgeKind::Reference | EdgeKind::Interpolation | EdgeKind::Cluster => true,
            EdgeKind::Explicit | EdgeKind::Nodes | EdgeKind::Namespace | EdgeKind::Controller => {
                false
            }
        }
    }
}

/// "This resource needs `target` first", with the field that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub target: Address,
    /// The field of the dependent resource that created the edge (absolute path).
    pub path: FieldPath,
    pub kind: EdgeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub address: Address,
    /// Position in `resources:`; `FieldPath::resource(index)` is its path.
    pub index: usize,
    pub spec: Spec,
    pub depends_on: Vec<Address>,
    pub prevent_destroy: bool,
    /// Output references found in the resource's strings, with their field paths.
    pub outputs_used: Vec<(FieldPath, OutputRef)>,
    /// Every edge to another resource (filled once all resources are known).
    pub dependencies: Vec<Dependency>,
}

impl Resource {
    /// The add-on kind whose CRDs and controller this resource's objects need, if any.
    pub fn controller(&self) -> Option<Kind> {
        use Kind::*;
        match self.address.kind {
            Issuer | Certificate => Some(CertManager),
            Alb => Some(LbController),
            IngressGateway if matches!(&self.spec, Spec::IngressGateway(g) if g.nlb.is_some()) => {
                Some(LbController)
            }
            Gateway
            | VirtualService
            | DestinationRule
            | PeerAuthentication
            | RequestAuthentication
            | AuthorizationPolicy => Some(Istio),
            _ => None,
        }
    }

    pub fn path(&self) -> FieldPath {
        FieldPath::resource(self.index)
    }

    /// Every Kubernetes namespace this resource's objects live in: its own, or for a manifest
    /// the namespaces its objects name.
    pub fn namespaces(&self) -> Vec<&str> {
        match &self.spec {
            Spec::Manifest(m) => {
                let mut namespaces: Vec<&str> = m
                    .objects
                    .iter()
                    .filter_map(|o| o["metadata"]["namespace"].as_str())
                    .collect();
                namespaces.sort_unstable();
                namespaces.dedup();
                namespaces
            }
            _ => self.namespace().into_iter().collect(),
        }
    }

    /// The Kubernetes namespace this resource's objects live in, when it has one.
    pub fn namespace(&self) -> Option<&str> {
        use Spec::*;
        Some(match &self.spec {
            CertManager(s) => s.namespace.as_str(),
            Istio(s) => s.namespace.as_str(),
            IngressGateway(s) => s.namespace.as_str(),
            Certificate(s) => s.namespace.as_str(),
            HelmRelease(s) => s.namespace.as_str(),
            VirtualService(s) => s.namespace.as_str(),
            DestinationRule(s) => s.namespace.as_str(),
            PeerAuthentication(s) => s.namespace.as_str(),
            RequestAuthentication(s) => s.namespace.as_str(),
            AuthorizationPolicy(s) => s.namespace.as_str(),
            Gateway(s) => s.namespace.as_ref()?.as_str(),
            LbController(_) => "kube-system",
            _ => return None,
        })
    }
}

/// How meshctl reaches the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeAccess {
    /// The `eks_cluster` whose outputs (endpoint, CA, token) give access within the same apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_cluster: Option<String>,
    /// A kubeconfig file, instead of `from_cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Send API requests to this URL instead (a bastion tunnel to a private endpoint).
    /// `MESHCTL_KUBE_ENDPOINT` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_override: Option<Url>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Backend {
    pub bucket: String,
    pub key: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_table: Option<String>,
}

/// Where state lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Backend {
    /// A sled database in this directory.
    Local(String),
    S3(S3Backend),
}

/// The header fields of a stack file (everything but `vars` and `resources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub stack: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube: Option<KubeAccess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
}

/// A stack that loaded without errors.
#[derive(Debug, Clone)]
pub struct Stack {
    pub header: Header,
    pub resources: Vec<Resource>,
    /// The document after `${var.x}` substitution, for locating diagnostics.
    pub document: Node,
    pub source: SourceFile,
}

impl Stack {
    pub fn name(&self) -> &str {
        &self.header.stack
    }

    pub fn get(&self, address: &Address) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.address == address)
    }

    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        self.resources
            .iter()
            .filter(move |r| r.address.kind == kind)
    }

    /// The state directory: `backend.local`, or `state/<stack>`.
    pub fn local_state_dir(&self) -> String {
        match &self.header.backend {
            Some(Backend::Local(dir)) => dir.clone(),
            _ => format!("state/{}", self.header.stack),
        }
    }
}
