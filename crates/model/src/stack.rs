//! A loaded stack: header (name, region, cluster access, state backend) and typed resources, each
//! with its address, references and dependency edges.

use crate::interpolate::OutputRef;
use crate::kinds::{Kind, Namespaces, Spec};
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
    /// `import: ID`: the live object (made by hand, eksctl, helm...) this resource adopts when
    /// the state does not record it yet (docs/adoption.md); ignored once it is recorded.
    pub import: Option<String>,
    pub depends_on: Vec<Address>,
    /// `lifecycle:` (ignore_changes, prevent_destroy, create_before_destroy).
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// Output references found in the resource's strings, with their field paths.
    pub outputs_used: Vec<(FieldPath, OutputRef)>,
    /// Every edge to another resource (filled once all resources are known).
    pub dependencies: Vec<Dependency>,
}

impl Resource {
    /// The add-on kind whose CRDs and controller this resource's objects need, if any (the
    /// kind's `KindSpec::controller`).
    pub fn controller(&self) -> Option<Kind> {
        self.spec.controller()
    }

    pub fn path(&self) -> FieldPath {
        FieldPath::resource(self.index)
    }

    /// Every Kubernetes namespace this resource's objects live in: its own, or for a manifest
    /// the namespaces its objects name (the kind's `KindSpec::namespaces`).
    pub fn namespaces(&self) -> Vec<&str> {
        match self.spec.namespaces() {
            Namespaces::NoNamespace => Vec::new(),
            Namespaces::One(namespace) | Namespaces::Created(namespace) => vec![namespace],
            Namespaces::PerObject(namespaces) => namespaces,
        }
    }

    /// The one Kubernetes namespace this resource's objects live in, when it has one.
    pub fn namespace(&self) -> Option<&str> {
        match self.spec.namespaces() {
            Namespaces::One(namespace) | Namespaces::Created(namespace) => Some(namespace),
            Namespaces::NoNamespace | Namespaces::PerObject(_) => None,
        }
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

/// `backend: { s3: { bucket, key, region, kms_key_id? } }`: the state as one object in S3, locked
/// with a lock object created by a conditional write (no DynamoDB table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "S3BackendFields")]
pub struct S3Backend {
    pub bucket: String,
    /// The state object's key; `${var.x}` in it gives each environment its own state.
    pub key: String,
    pub region: String,
    /// Encrypt the state objects with this KMS key (SSE-KMS); without it, S3-managed keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// `backend.s3` as written, with the fields the language no longer has, so that they are refused
/// with what to do instead of as unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct S3BackendFields {
    #[serde(deserialize_with = "s3_bucket")]
    bucket: String,
    #[serde(deserialize_with = "s3_key")]
    key: String,
    #[serde(deserialize_with = "aws_region")]
    region: String,
    #[serde(default, deserialize_with = "kms_key_id")]
    kms_key_id: Option<String>,
    /// Only ever read to be refused (its `Deserialize` fails).
    #[serde(default, rename = "lock_table")]
    _lock_table: Option<RemovedLockTable>,
}

impl From<S3BackendFields> for S3Backend {
    fn from(fields: S3BackendFields) -> Self {
        let S3BackendFields {
            bucket,
            key,
            region,
            kms_key_id,
            _lock_table: _,
        } = fields;
        S3Backend {
            bucket,
            key,
            region,
            kms_key_id,
        }
    }
}

/// `lock_table`, which named a DynamoDB table for locking: never accepted, always explained.
struct RemovedLockTable;

impl<'de> Deserialize<'de> for RemovedLockTable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(crate::de::invalid(
            "removed-field",
            "S3 conditional writes lock the state now; `lock_table` is no longer used",
            "remove lock_table (no DynamoDB table is needed)",
        ))
    }
}

/// An S3 bucket name as S3 accepts it for new buckets: 3–63 lowercase letters, digits, `.` and
/// `-`, starting and ending with a letter or digit, no `..`, not an IP address, none of the
/// reserved prefixes and suffixes.
fn s3_bucket<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    let problem = if !(3..=63).contains(&name.len()) {
        Some(format!("is {} characters long", name.len()))
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        Some("has characters other than lowercase letters, digits, `.` and `-`".to_string())
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("does not start and end with a letter or digit".to_string())
    } else if name.contains("..") {
        Some("has two periods in a row".to_string())
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        Some("is an IP address".to_string())
    } else if let Some(prefix) = ["xn--", "sthree-", "amzn-s3-demo-"]
        .into_iter()
        .find(|p| name.starts_with(p))
    {
        Some(format!("starts with the reserved prefix `{prefix}`"))
    } else {
        ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .into_iter()
            .find(|s| name.ends_with(s))
            .map(|suffix| format!("ends with the reserved suffix `{suffix}`"))
    };
    match problem {
        None => Ok(name),
        Some(problem) => Err(crate::de::invalid(
            "bad-s3-bucket",
            format!("`{name}` is not an S3 bucket name: it {problem}"),
            "bucket names are 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit, e.g. acme-meshctl-state",
        )),
    }
}

/// The state object's key: not empty, at most 1024 bytes, and naming an object, not a folder
/// (no `/` at either end, no empty segment).
fn s3_key<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let key = String::deserialize(deserializer)?;
    let problem = if key.trim().is_empty() {
        Some("is empty")
    } else if key.len() > 1024 {
        Some("is longer than the 1024 bytes S3 allows")
    } else if key.ends_with('/') {
        Some("ends with `/`, which names a folder, not an object")
    } else if key.starts_with('/') {
        Some("starts with `/`")
    } else if key.contains("//") {
        Some("has an empty segment (`//`)")
    } else {
        None
    };
    match problem {
        None => Ok(key),
        Some(problem) => Err(crate::de::invalid(
            "bad-s3-key",
            format!("the state key `{key}` {problem}"),
            "name the state object, e.g. key: meshctl/prod.json or key: meshctl/${var.env}.json",
        )),
    }
}

/// The bucket's region, as the stack's `region` is checked.
fn aws_region<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let region = String::deserialize(deserializer)?;
    if is_aws_region(&region) {
        Ok(region)
    } else {
        Err(crate::de::invalid(
            "bad-region",
            format!("`{region}` is not an AWS region"),
            "write the bucket's region code, such as ap-northeast-2 or us-east-1",
        ))
    }
}

/// A KMS key as SSE-KMS takes it: a key id, an alias (`alias/NAME`) or either's ARN.
fn kms_key_id<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let key = String::deserialize(deserializer)?;
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err(crate::de::invalid(
            "bad-kms-key",
            format!("`{key}` is not a KMS key id, alias or ARN"),
            "write the key's id, `alias/NAME`, or its ARN, or remove kms_key_id to use S3-managed keys",
        ));
    }
    Ok(Some(key))
}

/// An AWS region code: lowercase words and digits joined by `-`, ending in a number
/// (`us-east-1`, `ap-northeast-2`, `us-gov-west-1`).
pub fn is_aws_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
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

/// One entry of the stack's `outputs:`, what `meshctl output NAME` prints (docs/outputs.md).
#[derive(Debug, Clone, PartialEq)]
pub struct StackOutput {
    /// Letters, digits, `_` and `-`: never a `.`, so it cannot be taken for `kind.name.output`.
    pub name: String,
    /// As written, `${var.x}` substituted; each `${kind.name.output}` in it is read from state
    /// when printed.
    pub value: String,
    pub description: Option<String>,
    /// Where it is declared, `outputs.NAME`.
    pub path: FieldPath,
}

impl StackOutput {
    /// Whether `name` can name an output: `[A-Za-z0-9_-]`, 1 to 128 characters.
    pub fn is_name(name: &str) -> bool {
        (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

/// A stack that loaded without errors.
#[derive(Debug, Clone)]
pub struct Stack {
    pub header: Header,
    pub resources: Vec<Resource>,
    /// The stack's declared `outputs:`, in file order (none: every recorded output is shown).
    pub outputs: Vec<StackOutput>,
    /// The resolved value of every var (`vars:`, then var files and `--var`), as a saved plan
    /// records what it was made with.
    pub vars: std::collections::BTreeMap<String, serde_json::Value>,
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
}
