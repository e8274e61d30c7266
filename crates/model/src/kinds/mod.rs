//! The resource kinds (docs/stack-language.md): one typed structure per kind, and the one place
//! where each kind says everything the rest of meshctl needs to know about it (`KindSpec`).
//!
//! Adding a kind: write its structure, give it an `impl KindSpec` (every item is required, so
//! the compiler lists each fact still missing), add a line to `kinds!` below, and implement it
//! in the provider of its `Schema::layer`, whose list of kinds follows from that layer.

pub mod aws;
pub mod cluster;
pub mod mesh;

use crate::path::FieldPath;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which provider owns a kind's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Aws,
    Cluster,
}

impl Layer {
    /// The kinds whose `Schema::layer` is this one, in `Kind::ALL` order: what its provider
    /// handles.
    pub fn kinds(self) -> &'static [Kind] {
        static AWS: [Kind; Layer::Aws.count()] = Layer::Aws.collect();
        static CLUSTER: [Kind; Layer::Cluster.count()] = Layer::Cluster.collect();
        match self {
            Layer::Aws => &AWS,
            Layer::Cluster => &CLUSTER,
        }
    }

    // `PartialEq` is not usable in a const fn; a fieldless enum compares by discriminant.
    const fn has(self, kind: Kind) -> bool {
        kind.schema().layer as u8 == self as u8
    }

    const fn count(self) -> usize {
        let (mut count, mut i) = (0, 0);
        while i < Kind::ALL.len() {
            if self.has(Kind::ALL[i]) {
                count += 1;
            }
            i += 1;
        }
        count
    }

    /// `N` is `self.count()`.
    const fn collect<const N: usize>(self) -> [Kind; N] {
        let mut kinds = [Kind::ALL[0]; N];
        let (mut next, mut i) = (0, 0);
        while i < Kind::ALL.len() {
            if self.has(Kind::ALL[i]) {
                kinds[next] = Kind::ALL[i];
                next += 1;
            }
            i += 1;
        }
        kinds
    }
}

/// An AWS service whose API meshctl paces (`RateLimits` in the engine): every resource of the
/// kinds that name it shares one limiter per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// 5 requests per second per account, across all its hosted zones.
    Route53,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Route53 => "route53",
        }
    }
}

/// How a kind's provider calls count against its service's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub service: Service,
    /// Changes the provider sends together in one request when they are made at once, and the
    /// field whose equal values (after `${…}`) let them: Route53 takes up to 1,000 record changes
    /// of one hosted zone in one `ChangeResourceRecordSets`. `None`: one request per call.
    pub shared: Option<SharedRequests>,
}

/// Calls that one request can carry (`RateLimit::shared`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedRequests {
    /// The top-level field whose value must be equal (a record's `zone`).
    pub by_field: &'static str,
    /// How many calls one request carries at most.
    pub at_most: usize,
}

impl RateLimit {
    /// One request per call.
    pub const fn calls(service: Service) -> RateLimit {
        RateLimit {
            service,
            shared: None,
        }
    }

    /// Which request group a call for a resource with these desired fields joins: calls with
    /// the same key may wait for one rate-limit slot together. `None` when the kind shares no
    /// requests or the field is missing.
    pub fn shared_key(&self, desired: &serde_json::Value) -> Option<String> {
        let shared = self.shared?;
        let value = desired.get(shared.by_field)?;
        Some(match value.as_str() {
            Some(text) => text.to_string(),
            None => value.to_string(),
        })
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a resource's Kubernetes objects live, for the edges to the namespace they need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces<'a> {
    /// In no namespace: AWS objects, cluster-scoped objects, a namespace itself, or objects
    /// placed where the cluster's defaults put them.
    NoNamespace,
    /// All in this one (the resource's `namespace` field).
    One(&'a str),
    /// All in this one, which installing the resource creates when it does not exist (istioctl,
    /// a chart with `create_namespace`): a stack without a `namespace` resource for it orders
    /// the resources living there after the install.
    Created(&'a str),
    /// Each object names its own (a manifest's objects): these, sorted, without repeats.
    PerObject(Vec<&'a str>),
}

/// What the planner and the engine need to know about a kind, independent of any stack. Every
/// field is required, so a new kind states each of them.
#[derive(Debug)]
pub struct Schema {
    /// Which provider handles the kind.
    pub layer: Layer,
    /// Values the kind produces, usable as `${kind.name.output}`.
    pub outputs: &'static [&'static str],
    /// Top-level fields whose change replaces the resource instead of updating it in place.
    pub force_new: &'static [&'static str],
    /// In which order a replacement makes the new object and removes the old, and whether
    /// `lifecycle.create_before_destroy` may ask for the new one first.
    pub replace_order: ReplaceOrder,
    /// Reference fields in `force_new` whose target's replacement this kind follows with an
    /// in-place update: pointing the field at another resource replaces this one, but a new
    /// object behind the same resource only changes values it can take in place (an ALB follows
    /// its replaced gateway's new nodePorts without being replaced).
    pub follows_in_place: &'static [&'static str],
    /// Outputs an in-place update can change, by the top-level field whose change does it
    /// (`*`: any update). Readers of those outputs are updated in the same apply.
    pub outputs_changed_by: &'static [(&'static str, &'static [&'static str])],
    /// Fields never shown in plans, state, logs or events.
    pub sensitive: &'static [&'static str],
    /// How long one provider call for this kind may take before the engine gives up on it
    /// (creating an EKS cluster takes ~15 minutes; ACM validation can take half an hour).
    pub timeout_minutes: u64,
    /// The service whose rate limit the kind's provider calls count against, if it has one, and
    /// which of its calls can share one request.
    pub rate_limit: Option<RateLimit>,
    /// Outputs by which the world outside the stack finds the object (a balancer's DNS name, a
    /// certificate's ARN, a zone's name servers): a new object gets new ones, so replacing it
    /// changes them for every client, registrar or account holding them (the plan's blast radius).
    pub public_names: &'static [&'static str],
    /// Whether replacing or deleting the resource cuts traffic that passes through it.
    pub interrupts: Interrupts,
}

/// Whether a change cuts the traffic passing through a resource's objects, for the plan's blast
/// radius: requests go DNS → balancer → gateway (configured by the Istio control plane) → nodes,
/// and losing any of these drops them; add-ons, policies and routes do not carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupts {
    /// A replacement that removes the old object before the new one serves cuts traffic (one
    /// that creates the new object first, `ReplaceOrder`, does not).
    pub replaced: bool,
    pub deleted: bool,
}

impl Interrupts {
    /// Carries no traffic: replacing or deleting it is hitless.
    pub const NEVER: Interrupts = Interrupts {
        replaced: false,
        deleted: false,
    };
    /// On the request path: replacing (old object first) or deleting it drops requests.
    pub const ALWAYS: Interrupts = Interrupts {
        replaced: true,
        deleted: true,
    };
}

/// In which order a replacement makes the new object and removes the old one: a fact of the
/// kind, since whether two copies can exist side by side depends on how its objects are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceOrder {
    /// Always the new object first (an ACM certificate a listener uses cannot be deleted first).
    CreateFirst,
    /// The old object first, unless the resource's `lifecycle.create_before_destroy` asks for
    /// the new one first; asking is refused while one of `fixed_names` is written, since both
    /// copies would then carry that name.
    Either {
        fixed_names: &'static [&'static str],
    },
    /// Always the old object first: a second copy cannot exist beside the first, for this
    /// reason (shown when `lifecycle.create_before_destroy` asks for it).
    DeleteFirst { why: &'static str },
}

impl ReplaceOrder {
    /// Whether a replacement of a resource with this `lifecycle.create_before_destroy` makes
    /// the new object first.
    pub fn creates_first(self, asked: bool) -> bool {
        match self {
            ReplaceOrder::CreateFirst => true,
            ReplaceOrder::Either { .. } => asked,
            ReplaceOrder::DeleteFirst { .. } => false,
        }
    }
}

/// Why a cluster kind's replacement deletes first: what it renders is named after the resource.
pub(crate) const NAMED_OBJECTS: &str =
    "its Kubernetes objects are named after the resource, and a second copy would take the same names";

/// A typed reference from a field of one resource to another resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Path of the referring field, relative to the resource.
    pub field: FieldPath,
    /// Kinds the field may name.
    pub kinds: &'static [Kind],
    /// The referenced name, or `kind.name` when the field takes several kinds.
    pub target: String,
}

/// Collects the references a resource makes; kinds call `one`/`maybe`/`each` for every typed
/// reference field.
#[derive(Default)]
pub struct References(pub Vec<Reference>);

impl References {
    pub fn one(&mut self, field: FieldPath, kind: &'static [Kind], target: &str) {
        self.0.push(Reference {
            field,
            kinds: kind,
            target: target.to_string(),
        });
    }

    pub fn maybe(&mut self, field: FieldPath, kind: &'static [Kind], target: Option<&str>) {
        if let Some(target) = target {
            self.one(field, kind, target);
        }
    }
}

/// Everything meshctl knows about a kind, in one place. No item has a default: a new kind that
/// leaves one out does not compile, instead of silently losing an edge or a timeout.
pub trait KindSpec {
    /// The planner's and engine's facts: provider layer, outputs, force-new and sensitive
    /// fields, timeout, rate-limited service.
    const SCHEMA: Schema;
    /// Every typed reference the resource makes (none: an empty body).
    fn references(&self, refs: &mut References);
    /// Checks that need only this resource (ranges across fields, exclusive options).
    fn check(&self, cx: &mut crate::validate::LocalChecks);
    /// Whether a resource with this desired JSON is looked up (an `existing` zone, VPC or
    /// control plane): read, never created, changed or deleted.
    fn looked_up(desired: &serde_json::Value) -> bool;
    /// The add-on kind whose CRDs and controller this resource's objects need (cert-manager for
    /// a Certificate, Istio for a VirtualService), so it waits for that add-on.
    fn controller(&self) -> Option<Kind>;
    /// The Kubernetes namespaces this resource's objects live in, so it waits for them.
    fn namespaces(&self) -> Namespaces<'_>;
}

macro_rules! kinds {
    ($($variant:ident => $name:literal, $ty:ty;)*) => {
        /// A resource kind, as written in `kind:`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind { $($variant,)* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$variant => $name,)* }
            }

            pub fn parse(text: &str) -> Option<Kind> {
                match text { $($name => Some(Kind::$variant),)* _ => None }
            }

            pub const fn schema(self) -> &'static Schema {
                match self { $(Kind::$variant => &<$ty as KindSpec>::SCHEMA,)* }
            }

            /// Whether a resource of this kind with this desired JSON is only looked up.
            pub fn is_looked_up(self, desired: &serde_json::Value) -> bool {
                match self { $(Kind::$variant => <$ty as KindSpec>::looked_up(desired),)* }
            }

            pub fn names() -> impl Iterator<Item = &'static str> {
                [$($name,)*].into_iter()
            }

            /// The kind's fields in the order its structure declares them (`fmt` writes them so).
            pub fn fields(self) -> &'static [&'static str] {
                match self { $(Kind::$variant => crate::fmt::struct_fields::<$ty>(),)* }
            }
        }

        /// The kind-specific body of a resource.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Spec { $($variant($ty),)* }

        impl Spec {
            pub fn kind(&self) -> Kind {
                match self { $(Spec::$variant(_) => Kind::$variant,)* }
            }

            pub fn references(&self) -> References {
                let mut refs = References::default();
                match self { $(Spec::$variant(s) => s.references(&mut refs),)* }
                refs
            }

            pub fn check(&self, cx: &mut crate::validate::LocalChecks) {
                match self { $(Spec::$variant(s) => s.check(cx),)* }
            }

            /// The add-on kind this resource's objects need (`KindSpec::controller`).
            pub fn controller(&self) -> Option<Kind> {
                match self { $(Spec::$variant(s) => s.controller(),)* }
            }

            /// Where this resource's Kubernetes objects live (`KindSpec::namespaces`).
            pub fn namespaces(&self) -> Namespaces<'_> {
                match self { $(Spec::$variant(s) => s.namespaces(),)* }
            }

            /// Reads the body of a resource of `kind`.
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(kind: Kind, de: D) -> Result<Spec, D::Error> {
                match kind { $(Kind::$variant => <$ty>::deserialize(de).map(Spec::$variant),)* }
            }
        }
    };
}

kinds! {
    Vpc => "vpc", aws::Vpc;
    EksCluster => "eks_cluster", aws::EksCluster;
    Nodegroup => "nodegroup", aws::Nodegroup;
    IamServiceAccount => "iam_service_account", aws::IamServiceAccount;
    Route53Zone => "route53_zone", aws::Route53Zone;
    AcmCertificate => "acm_certificate", aws::AcmCertificate;
    DnsRecord => "dns_record", aws::DnsRecord;
    Namespace => "namespace", cluster::Namespace;
    LbController => "lb_controller", cluster::LbController;
    CertManager => "cert_manager", cluster::CertManager;
    Istio => "istio", cluster::Istio;
    IngressGateway => "ingress_gateway", cluster::IngressGateway;
    Alb => "alb", cluster::Alb;
    Issuer => "issuer", cluster::Issuer;
    Certificate => "certificate", cluster::Certificate;
    HelmRelease => "helm_release", cluster::HelmRelease;
    Manifest => "manifest", cluster::Manifest;
    Gateway => "gateway", mesh::Gateway;
    VirtualService => "virtual_service", mesh::VirtualService;
    DestinationRule => "destination_rule", mesh::DestinationRule;
    PeerAuthentication => "peer_authentication", mesh::PeerAuthentication;
    RequestAuthentication => "request_authentication", mesh::RequestAuthentication;
    AuthorizationPolicy => "authorization_policy", mesh::AuthorizationPolicy;
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shorthand for building relative field paths inside kind implementations.
pub(crate) fn field(name: &str) -> FieldPath {
    FieldPath::root().key(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_layer_lists_exactly_the_kinds_whose_schema_names_it() {
        for layer in [Layer::Aws, Layer::Cluster] {
            let expected: Vec<Kind> = Kind::ALL
                .iter()
                .copied()
                .filter(|kind| kind.schema().layer == layer)
                .collect();
            assert_eq!(layer.kinds(), expected, "{layer:?}");
        }
        assert_eq!(
            Layer::Aws.kinds().len() + Layer::Cluster.kinds().len(),
            Kind::ALL.len()
        );
    }

    #[test]
    fn every_public_name_is_an_output_of_its_kind() {
        for kind in Kind::ALL {
            for name in kind.schema().public_names {
                assert!(
                    kind.schema().outputs.contains(name),
                    "{kind}: public name {name} is not an output"
                );
            }
        }
    }
}
