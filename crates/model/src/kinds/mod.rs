//! The resource kinds (docs/stack-language.md): one typed structure per kind, and each
//! kind's schema (outputs, fields that force replacement, sensitive fields) for the planner.

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

/// What the planner needs to know about a kind, independent of any stack.
#[derive(Debug)]
pub struct Schema {
    pub layer: Layer,
    /// Values the kind produces, usable as `${kind.name.output}`.
    pub outputs: &'static [&'static str],
    /// Top-level fields whose change replaces the resource instead of updating it in place.
    pub force_new: &'static [&'static str],
    /// Replacement creates the new object before deleting the old (an ACM certificate in use).
    pub create_before_destroy: bool,
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
}

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

/// Behaviour every kind's structure provides.
pub trait KindSpec {
    const SCHEMA: Schema;
    /// Every typed reference the resource makes.
    fn references(&self, _refs: &mut References) {}
    /// Checks that need only this resource (ranges across fields, exclusive options).
    fn check(&self, _cx: &mut crate::validate::LocalChecks) {}
    /// Whether a resource with this desired JSON is looked up (an `existing` zone, VPC or
    /// control plane): read, never created, changed or deleted.
    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }
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

            pub fn schema(self) -> &'static Schema {
                match self { $(Kind::$variant => &<$ty as KindSpec>::SCHEMA,)* }
            }

            /// Whether a resource of this kind with this desired JSON is only looked up.
            pub fn is_looked_up(self, desired: &serde_json::Value) -> bool {
                match self { $(Kind::$variant => <$ty as KindSpec>::looked_up(desired),)* }
            }

            pub fn names() -> impl Iterator<Item = &'static str> {
                [$($name,)*].into_iter()
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
