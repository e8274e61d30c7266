//! AWS kinds: network, cluster, IAM wiring, certificates and DNS.

use super::{
    field, Kind, KindSpec, Layer, Namespaces, RateLimit, References, ReplaceOrder, Schema, Service,
    SharedRequests,
};
use crate::path::FieldPath;
use crate::validate::LocalChecks;
use crate::values::{
    Arn, Cidr, DomainName, DomainPattern, Duration, KubeVersion, Labels, NamespaceName, RecordName,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Azs {
    /// The first N availability zones of the region.
    Count(u8),
    Names(Vec<String>),
}

impl<'de> Deserialize<'de> for Azs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AzsVisitor;
        impl<'de> serde::de::Visitor<'de> for AzsVisitor {
            type Value = Azs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of zones or a list of zone names")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Azs, E> {
                u8::try_from(n).map(Azs::Count).map_err(|_| {
                    crate::de::invalid(
                        "bad-value",
                        format!("{n} availability zones is more than a region has"),
                        "use 2 or 3",
                    )
                })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Azs, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(Azs::Names(names))
            }
        }
        deserializer.deserialize_any(AzsVisitor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatMode {
    #[default]
    Single,
    PerAz,
    None,
}

/// Subnet layout carved from the VPC block, one subnet per tier per AZ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetLayout {
    #[serde(default = "yes")]
    pub public: bool,
    #[serde(default = "yes")]
    pub private: bool,
    /// Prefix length of each subnet (default 20: 4096 addresses).
    #[serde(default = "default_subnet_prefix")]
    pub prefix_length: u8,
}

impl Default for SubnetLayout {
    fn default() -> Self {
        SubnetLayout {
            public: true,
            private: true,
            prefix_length: default_subnet_prefix(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_subnet_prefix() -> u8 {
    20
}

/// An existing VPC, read but never changed or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExistingVpc {
    pub vpc_id: String,
    #[serde(default)]
    pub public_subnet_ids: Vec<String>,
    #[serde(default)]
    pub private_subnet_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azs: Option<Azs>,
    #[serde(default)]
    pub subnets: SubnetLayout,
    #[serde(default)]
    pub nat: NatMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<ExistingVpc>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl KindSpec for Vpc {
    const SCHEMA: Schema = Schema {
        layer: Layer::Aws,
        outputs: &["vpc_id", "public_subnet_ids", "private_subnet_ids"],
        force_new: &["cidr", "azs", "existing", "subnets"],
        replace_order: ReplaceOrder::DeleteFirst {
            why: "meshctl finds its VPC by the resource's address tag, so a second VPC of the same address would be taken for the first",
        },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 15,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::ALWAYS,
    };

    fn looked_up(desired: &serde_json::Value) -> bool {
        desired.get("existing").is_some_and(|e| !e.is_null())
    }

    fn check(&self, cx: &mut LocalChecks) {
        match (&self.existing, &self.cidr) {
            (Some(_), Some(_)) => cx.error("conflicting-fields", field("cidr"), "`cidr` and `existing` cannot both be set", "an existing VPC is only read: remove `cidr` (and `azs`), or remove `existing` to create a VPC"),
            (None, None) => cx.error("missing-field", FieldPath::root(), "a vpc needs `cidr` (to create one) or `existing` (to use one)", "add `cidr: 10.0.0.0/16` and `azs: 3`, or `existing: { vpc_id: vpc-... }`"),
            _ => {}
        }
        let Some(cidr) = self
            .cidr
            .as_ref()
            .and_then(|c| crate::values::parse_cidr(c.as_str()))
        else {
            return;
        };
        let azs = match &self.azs {
            Some(Azs::Count(n)) => usize::from(*n),
            Some(Azs::Names(names)) => names.len(),
            None => 3,
        };
        if azs == 0 {
            cx.error(
                "bad-value",
                field("azs"),
                "a VPC needs at least one availability zone",
                "EKS needs subnets in at least two zones: use `azs: 2` or more",
            );
        }
        let tiers = usize::from(self.subnets.public) + usize::from(self.subnets.private);
        let prefix = self.subnets.prefix_length;
        if prefix < cidr.1 || prefix > 28 {
            cx.error(
                "bad-value",
                field("subnets").key("prefix_length"),
                format!(
                    "subnet prefix /{prefix} does not fit in the VPC's /{}",
                    cidr.1
                ),
                "choose a prefix length between the VPC's and 28",
            );
        } else {
            let room = 1usize << u32::from(prefix - cidr.1).min(31);
            if azs * tiers > room {
                cx.error(
                    "bad-value",
                    field("subnets").key("prefix_length"),
                    format!(
                        "{} subnets of /{prefix} do not fit in a /{} block",
                        azs * tiers,
                        cidr.1
                    ),
                    format!("use a longer prefix_length (at most {room} subnets fit)"),
                );
            }
        }
    }

    fn references(&self, _refs: &mut References) {}

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointAccess {
    #[serde(default)]
    pub private: bool,
    #[serde(default = "yes")]
    pub public: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_cidrs: Vec<Cidr>,
}

impl Default for EndpointAccess {
    fn default() -> Self {
        EndpointAccess {
            private: false,
            public: true,
            public_cidrs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LogType {
    Api,
    Audit,
    Authenticator,
    ControllerManager,
    Scheduler,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EksCluster {
    /// The EKS cluster name; defaults to `<stack>-<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    pub version: KubeVersion,
    pub vpc: String,
    #[serde(default)]
    pub endpoint: EndpointAccess,
    /// Create the IAM OIDC provider that IRSA roles trust.
    #[serde(default = "yes")]
    pub oidc: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logging: Vec<LogType>,
    /// An existing cluster role; created when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<Arn>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl KindSpec for EksCluster {
    const SCHEMA: Schema = Schema {
        layer: Layer::Aws,
        outputs: &[
            "name",
            "arn",
            "endpoint",
            "ca_data",
            "oidc_issuer",
            "oidc_provider_arn",
        ],
        force_new: &["cluster_name", "vpc", "role_arn"],
        replace_order: ReplaceOrder::DeleteFirst {
            why: "EKS cluster names are unique per region and the name (`cluster_name`, else `<stack>-<name>`) stays the same",
        },
        follows_in_place: &[],
        // Turning OIDC on creates the issuer and its IAM provider.
        outputs_changed_by: &[("oidc", &["oidc_issuer", "oidc_provider_arn"])],
        sensitive: &[],
        timeout_minutes: 40,
        rate_limit: None,
        public_names: &["endpoint", "oidc_issuer"],
        interrupts: super::Interrupts::ALWAYS,
    };

    fn references(&self, refs: &mut References) {
        refs.one(field("vpc"), &[Kind::Vpc], &self.vpc);
    }

    fn check(&self, cx: &mut LocalChecks) {
        let endpoint = field("endpoint");
        if !self.endpoint.private && !self.endpoint.public {
            cx.error(
                "bad-value",
                endpoint.clone(),
                "the cluster endpoint is neither private nor public",
                "enable `private: true`, `public: true`, or both",
            );
        }
        if !self.endpoint.public && !self.endpoint.public_cidrs.is_empty() {
            cx.error(
                "conflicting-fields",
                endpoint.key("public_cidrs"),
                "`public_cidrs` restricts public access, which is disabled",
                "set `public: true`, or remove `public_cidrs`",
            );
        }
    }

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubnetTier {
    #[default]
    Private,
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityType {
    #[default]
    OnDemand,
    Spot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    pub min: u32,
    pub desired: u32,
    pub max: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nodegroup {
    pub cluster: String,
    pub instance_types: Vec<String>,
    pub scaling: Scaling,
    #[serde(default)]
    pub subnets: SubnetTier,
    /// EC2 key pair allowed to SSH to the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<String>,
    /// Root volume size in GiB.
    #[serde(default = "default_disk_size")]
    pub disk_size: u32,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    #[serde(default)]
    pub capacity_type: CapacityType,
}

fn default_disk_size() -> u32 {
    20
}

impl KindSpec for Nodegroup {
    const SCHEMA: Schema = Schema {
        layer: Layer::Aws,
        outputs: &["arn", "node_role_arn"],
        force_new: &[
            "cluster",
            "instance_types",
            "subnets",
            "ssh_key",
            "disk_size",
            "capacity_type",
        ],
        replace_order: ReplaceOrder::DeleteFirst {
            why: "nodegroup names are unique within their cluster and the name stays the same",
        },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 30,
        rate_limit: None,
        // Its replacement removes the nodes first; a deletion drains onto the other nodegroups.
        public_names: &[],
        interrupts: super::Interrupts {
            replaced: true,
            deleted: false,
        },
    };

    fn references(&self, refs: &mut References) {
        refs.one(field("cluster"), &[Kind::EksCluster], &self.cluster);
    }

    fn check(&self, cx: &mut LocalChecks) {
        let s = &self.scaling;
        if s.min > s.desired || s.desired > s.max {
            cx.error(
                "bad-scaling",
                field("scaling"),
                format!(
                    "scaling needs min <= desired <= max, got min {} desired {} max {}",
                    s.min, s.desired, s.max
                ),
                "adjust the three numbers so that min <= desired <= max",
            );
        }
        if s.max == 0 {
            cx.error(
                "bad-scaling",
                field("scaling").key("max"),
                "a nodegroup with max 0 can never run a node",
                "set max to at least 1",
            );
        }
        if self.instance_types.is_empty() {
            cx.error(
                "bad-value",
                field("instance_types"),
                "no instance type given",
                "name at least one, e.g. [t3.medium]",
            );
        }
        if !(1..=16384).contains(&self.disk_size) {
            cx.error(
                "bad-value",
                field("disk_size"),
                format!("disk size {} GiB is out of range", self.disk_size),
                "use 1 to 16384 GiB",
            );
        }
    }

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}

/// IAM policies AWS documents for the add-ons meshctl installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WellKnownPolicy {
    AwsLoadBalancerController,
    CertManagerRoute53,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamServiceAccount {
    pub cluster: String,
    pub namespace: NamespaceName,
    pub service_account: NamespaceName,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<Arn>,
    /// An inline IAM policy document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_policy: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub well_known_policy: Option<WellKnownPolicy>,
}

impl KindSpec for IamServiceAccount {
    const SCHEMA: Schema = Schema {
        layer: Layer::Aws,
        outputs: &["role_arn", "role_name"],
        force_new: &["cluster", "namespace", "service_account"],
        replace_order: ReplaceOrder::DeleteFirst {
            why: "its IAM role and Kubernetes service account are named after the resource, and a second copy would take the same names",
        },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 10,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::NEVER,
    };

    fn references(&self, refs: &mut References) {
        refs.one(field("cluster"), &[Kind::EksCluster], &self.cluster);
    }

    fn check(&self, cx: &mut LocalChecks) {
        if self.policy_arns.is_empty()
            && self.inline_policy.is_none()
            && self.well_known_policy.is_none()
        {
            cx.error(
                "missing-field",
                FieldPath::root(),
                "the role grants nothing",
                "add `well_known_policy`, `policy_arns` or `inline_policy`",
            );
        }
    }

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Zone {
    pub domain: DomainName,
    /// Look the zone up instead of creating it; an existing zone is never deleted.
    #[serde(default = "yes")]
    pub existing: bool,
}

impl KindSpec for Route53Zone {
    const SCHEMA: Schema = Schema {
        layer: Layer::Aws,
        outputs: &["zone_id", "name_servers"],
        force_new: &["domain", "existing"],
        replace_order: ReplaceOrder::DeleteFirst {
            why: "a second hosted zone for the domain would get other name servers, so the registrar's delegation would not follow it",
        },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 10,
        rate_limit: Some(RateLimit::calls(Service::Route53)),
        public_names: &["zone_id", "name_servers"],
        interrupts: super::Interrupts::ALWAYS,
    };

    fn looked_up(desired: &serde_json::Value) -> bool {
        // `existing` defaults to true: a zone is looked up unless the stack says to create it.
        desired
            .get("existing")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true)
    }

    fn references(&self, _refs: &mut References) {}

    fn check(&self, _cx: &mut LocalChecks) {}

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmCertificate {
    pub domain: DomainPattern,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<DomainPattern>,
    pub validation_zone: String,
    /// How long apply waits for ISSUED.
    #[serde(default = "default_issue_timeout")]
    pub timeout: Duration,
}

fn default_issue_timeout() -> Duration {
    Duration("30m".to_string())
}

impl KindSpec for AcmCertificate {
    const SCHEMA: Schema = Schema {
        layer: Layer::Aws,
        outputs: &["arn"],
        force_new: &["domain", "sans", "validation_zone"],
        replace_order: ReplaceOrder::CreateFirst,
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 45,
        rate_limit: None,
        // Replaced new-first (listeners move over); deleted, the listeners using it fail.
        public_names: &["arn"],
        interrupts: super::Interrupts {
            replaced: false,
            deleted: true,
        },
    };

    fn references(&self, refs: &mut References) {
        refs.one(
            field("validation_zone"),
            &[Kind::Route53Zone],
            &self.validation_zone,
        );
    }

    fn check(&self, _cx: &mut LocalChecks) {}

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RecordType {
    #[default]
    A,
    AAAA,
    CNAME,
    TXT,
    MX,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecord {
    pub zone: String,
    pub record: RecordName,
    #[serde(default, rename = "type")]
    pub record_type: RecordType,
    /// A load balancer to alias: `alb.NAME` or `ingress_gateway.NAME` (an NLB gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
}

impl KindSpec for DnsRecord {
    const SCHEMA: Schema = Schema {
        layer: Layer::Aws,
        outputs: &["fqdn"],
        force_new: &["zone", "record", "type"],
        replace_order: ReplaceOrder::Either { fixed_names: &[] },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 10,
        // One ChangeResourceRecordSets carries up to 1,000 changes of one zone (the provider
        // splits a group further by Route53's element and character limits).
        rate_limit: Some(RateLimit {
            service: Service::Route53,
            shared: Some(SharedRequests {
                by_field: "zone",
                at_most: 1000,
            }),
        }),
        // Its name is what the stack writes (fqdn), not one AWS assigns.
        public_names: &[],
        interrupts: super::Interrupts::ALWAYS,
    };

    fn references(&self, refs: &mut References) {
        refs.one(field("zone"), &[Kind::Route53Zone], &self.zone);
        refs.maybe(
            field("alias"),
            &[Kind::Alb, Kind::IngressGateway],
            self.alias.as_deref(),
        );
    }

    fn check(&self, cx: &mut LocalChecks) {
        match (&self.alias, self.values.is_empty()) {
            (Some(_), false) => cx.error("conflicting-fields", field("values"), "a record is either an alias or has values, not both", "remove `values` (and `ttl`) to alias the load balancer, or remove `alias`"),
            (None, true) => cx.error("missing-field", FieldPath::root(), "the record has neither `alias` nor `values`", "add `alias: alb.NAME` to point at a load balancer, or `values: [...]` with a `ttl`"),
            (Some(_), true) if self.ttl.is_some() => cx.error("conflicting-fields", field("ttl"), "alias records take no TTL", "remove `ttl`: Route53 uses the target's TTL for aliases"),
            (Some(_), true) if !matches!(self.record_type, RecordType::A | RecordType::AAAA) => cx.error("bad-value", field("type"), "a load balancer alias must be an A or AAAA record", "set `type: A` (the default)"),
            _ => {}
        }
    }

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}
