//! The `Provider` trait that the AWS and Kubernetes backends implement, and the error classes the
//! engine's retry rules read. Kind schemas (outputs, force-new, sensitive, create-before-destroy,
//! layer) are declared next to the kinds in `meshctl-model` (`KindSpec`), so the pure planner can
//! read them.

use async_trait::async_trait;
use meshctl_model::record::{FieldDrift, OwnedObject};
use meshctl_model::stack::KubeAccess;
use meshctl_model::{Address, Kind};
use serde_json::Value;
use std::collections::BTreeMap;

/// What providers learn from the stack before any call: names and tags carry the stack's name,
/// and the stack says which region it lives in.
#[derive(Debug, Clone, PartialEq)]
pub struct StackSettings {
    pub stack: String,
    pub region: String,
    /// How cluster resources reach the cluster (`kube:` in the stack).
    pub kube: Option<KubeAccess>,
}

/// How the engine should treat a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, "operation in progress" conflicts: retry with backoff.
    Retryable,
    /// Bad input, missing permission, quota: stop and roll back.
    Permanent,
    /// The object does not exist (a read finds it gone; a delete is already done).
    NotFound,
}

/// A provider call that failed: on which resource and in which operation (where), what happened,
/// what the user can do about it, and how the engine should treat it. Displayed as
/// `OPERATION ADDRESS: MESSAGE`, with the help on its own `  help:` line below, as diagnostics
/// show theirs.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {address}: {}", self.explained())]
pub struct ProviderError {
    pub class: ErrorClass,
    pub address: Address,
    /// `create`, `read`, ...
    pub operation: &'static str,
    /// What happened, worded for people; the help is not part of it.
    pub message: String,
    /// What the user can do about it.
    pub help: Option<String>,
    /// The error underneath (the AWS SDK's, kube-rs's), when there is one.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ProviderError {
    pub fn new(
        class: ErrorClass,
        address: &Address,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ProviderError {
            class,
            address: address.clone(),
            operation,
            message: message.into(),
            help: None,
            source: None,
        }
    }

    /// Adds what the user can do about it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Keeps the underlying error as this one's source.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The message with the help on its own `  help:` line, for callers that name the resource
    /// and operation themselves (the engine's step failures).
    pub fn explained(&self) -> String {
        match &self.help {
            Some(help) => format!("{}\n  help: {help}", self.message),
            None => self.message.clone(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
}

/// What a provider reports after creating, updating or reading a resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Every object the resource now owns (all of them, not only new ones).
    pub objects: Vec<OwnedObject>,
    /// The kind's outputs, e.g. `arn`, `dns_name`.
    pub outputs: BTreeMap<String, Value>,
    /// The managed fields as read back, shaped like the resource's desired fields: the planner
    /// compares them with what was applied.
    pub live: Value,
    /// Differences a `read` found itself, where the live world is not shaped like the desired
    /// fields (a cluster resource's objects): paths name the object and the field in it.
    pub drifts: Vec<FieldDrift>,
}

/// What a lookup of a resource the stack uses but does not manage (an existing zone or VPC)
/// found while planning.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(Applied),
    /// Nothing matches: the plan stops here, before anything changes.
    Missing(LookupMissing),
}

/// Why a lookup found nothing, worded by the provider that searched.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupMissing {
    /// The field the lookup searched by, relative to the resource (`domain`,
    /// `existing.vpc_id`), where the plan's error points.
    pub field: String,
    /// What was searched for, and where (the domain or id, the region).
    pub message: String,
    /// What to do about it.
    pub help: String,
}

/// An object in the live world that carries this stack's ownership mark (an AWS tag, a
/// Kubernetes label), found by `Provider::census`.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub object: OwnedObject,
    /// The address its mark names (`meshctl:address`), when it has one.
    pub address: Option<String>,
}

/// Outputs of other resources, by address.
pub type Inputs = BTreeMap<Address, BTreeMap<String, Value>>;

/// One resource as a provider call sees it: desired fields with every `${...}` already resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    pub address: &'a Address,
    pub desired: &'a Value,
    /// Outputs of the resources this one references, by address, for typed references
    /// (`alias: alb.public` needs the ALB's DNS name and hosted zone).
    pub inputs: &'a Inputs,
}

/// Reports progress of long waits (certificate issuance, load balancer provisioning).
pub trait Progress: Send + Sync {
    fn update(&self, address: &Address, message: &str);
}

/// A backend for a set of kinds. Calls are idempotent where the cloud allows: the engine may
/// retry any call that failed with a retryable error.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The kinds this provider handles.
    fn kinds(&self) -> &'static [Kind];

    /// Reads the live state of a recorded resource; `Ok(None)` when it no longer exists.
    async fn read(
        &self,
        request: &Request<'_>,
        objects: &[OwnedObject],
    ) -> Result<Option<Applied>, ProviderError>;

    /// Reads several recorded resources of one kind at once where the cloud lists them in
    /// batches (Route53 record sets by the page of their zone), for refresh: the engine calls it
    /// once per kind, within that kind's rate limit, instead of one `read` per resource. Each
    /// answer, by address, is what `read` would return for it; a resource left out is read by
    /// `read` afterwards (so one the batch cannot place gets `read`'s own error). Nothing may be
    /// kept between calls: each call lists afresh, so no read ever sees an older listing. The
    /// default answers none.
    async fn read_batch(
        &self,
        reads: &[(Request<'_>, &[OwnedObject])],
    ) -> Result<BTreeMap<Address, Option<Applied>>, ProviderError> {
        let _ = reads;
        Ok(BTreeMap::new())
    }

    /// Looks up a resource the stack uses but does not manage, while planning, so that a missing
    /// one stops the plan before anything changes. The default reads it with no recorded
    /// objects; providers override it to say what they searched for.
    async fn lookup(&self, request: &Request<'_>) -> Result<Lookup, ProviderError> {
        Ok(match self.read(request, &[]).await? {
            Some(applied) => Lookup::Found(applied),
            None => Lookup::Missing(LookupMissing {
                field: String::new(),
                message: format!("{} was not found", request.address),
                help: "check the fields it is looked up by".to_string(),
            }),
        })
    }

    /// Creates the resource. `record` is called with each object as soon as it exists, so the
    /// engine can make it durable before the next step (a crash never orphans it).
    async fn create(
        &self,
        request: &Request<'_>,
        record: &(dyn Fn(OwnedObject) + Send + Sync),
        progress: &dyn Progress,
    ) -> Result<Applied, ProviderError>;

    /// Changes a resource in place from `prior` (the fields last applied) to the request.
    /// `objects` are every object the resource owns, including any an interrupted earlier update
    /// recorded: the update takes those over rather than making them again. `record` follows
    /// `create`'s contract: it is called with each object the update creates (a manifest object
    /// added to a stack, a cluster's new OIDC provider) as soon as it exists, before the update
    /// goes on, so a crash never orphans it. Objects that already existed are not reported.
    async fn update(
        &self,
        request: &Request<'_>,
        prior: &Value,
        objects: &[OwnedObject],
        record: &(dyn Fn(OwnedObject) + Send + Sync),
        progress: &dyn Progress,
    ) -> Result<Applied, ProviderError>;

    /// Deletes the listed objects, waiting until they are gone. Objects already gone are not an
    /// error. `inputs` are the recorded outputs of what the resource depended on (a cluster
    /// resource reaches its cluster through them).
    async fn delete(
        &self,
        address: &Address,
        objects: &[OwnedObject],
        inputs: &Inputs,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError>;

    /// Whether `sweep` finds every object a create or update of `kind` makes (by the tags,
    /// labels or names that carry its address), recorded or not. Then the engine does not wait
    /// for each object's record to be durable before the provider goes on: a killed run's
    /// objects are found by the sweep its open journal entry calls for. The default, `false`,
    /// makes every `record` call durable before it returns, which objects recorded before they
    /// are made (a DNS record, named by the stack and untaggable) always need.
    fn sweep_finds_everything(&self, kind: Kind) -> bool {
        let _ = kind;
        false
    }

    /// Deletes objects the provider finds tagged with (or named after) this address that are not
    /// in `keep`: what a create killed before recording them left behind. The executor calls it
    /// only when the journal shows such an interrupted run. Providers whose objects cannot be
    /// found that way keep the default, which does nothing.
    async fn sweep(
        &self,
        _address: &Address,
        _keep: &[OwnedObject],
        _inputs: &Inputs,
        _progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Lists the objects of the kind `address` would create that carry this stack's ownership
    /// mark, whatever address they name: before creating anything, the engine compares them
    /// with what the state knows, so that a missing or wrong state is not read as an empty
    /// world. Providers whose objects cannot be found by a mark keep the default, which finds
    /// nothing.
    async fn census(&self, _address: &Address) -> Result<Vec<Found>, ProviderError> {
        Ok(Vec::new())
    }

    /// Reads the existing object `id` names (a VPC id, a cluster name, `namespace/name`; each
    /// kind's id in docs/adoption.md) for `meshctl import`, as the stack's resource `request`
    /// describes it, with everything it owns. Returns the fields to record as applied (the
    /// request's, with what the live object has in their place, so a plan shows where the stack
    /// and the object differ) and what a create would have recorded. Writes nothing to the live
    /// world: meshctl's owner marks come with the first apply. Refuses (a permanent error) an
    /// object another stack owns; `NotFound` when no object of the kind has that id.
    async fn import(
        &self,
        request: &Request<'_>,
        id: &str,
    ) -> Result<(Value, Applied), ProviderError>;

    /// Places this stack's ownership marks (what a create puts on its objects: tags, labels,
    /// annotations) on `objects`, which an import recorded without marking them: the first
    /// apply after an import calls it once the update has put the fields right
    /// (docs/adoption.md). Marks already there stay; objects that take no marks are skipped.
    async fn mark(
        &self,
        request: &Request<'_>,
        objects: &[OwnedObject],
    ) -> Result<(), ProviderError>;
}

/// A load balancer as the Kubernetes provider needs it: the AWS Load Balancer Controller makes
/// ALBs and NLBs from Ingresses and Services, and the `alb` and NLB `ingress_gateway` kinds read
/// them back for their outputs (a Route53 alias needs the canonical hosted zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancer {
    pub arn: String,
    pub dns_name: String,
    pub canonical_hosted_zone_id: String,
}

/// The AWS lookups the Kubernetes provider needs, answered by the AWS provider, so that only
/// `provider-aws` calls AWS APIs.
#[async_trait]
pub trait LoadBalancers: Send + Sync {
    /// The load balancer with this DNS name (what an Ingress or Service status reports), if any.
    /// Errors are worded for people and carry their class.
    async fn by_dns_name(
        &self,
        address: &Address,
        dns_name: &str,
    ) -> Result<Option<LoadBalancer>, ProviderError>;

    /// Whether the load balancer with this ARN still exists.
    async fn exists(&self, address: &Address, arn: &str) -> Result<bool, ProviderError>;
}
