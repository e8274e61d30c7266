//! What discovery found in the AWS account: the cluster, its VPC and nodegroups, IRSA roles,
//! balancers, certificates and the records that alias the balancers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The AWS side of the topology.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AwsFacts {
    pub cluster: ClusterFacts,
    pub vpc: Option<VpcFacts>,
    pub nodegroups: Vec<NodegroupFacts>,
    /// IAM roles trusted through the cluster's OIDC provider by one ServiceAccount (IRSA).
    pub roles: Vec<RoleFacts>,
    /// Load balancers in the cluster's VPC.
    pub balancers: Vec<BalancerFacts>,
    /// Certificates the balancers' listeners use.
    pub certificates: Vec<CertificateFacts>,
    /// The hosted zone `--zone` names, with the records that alias a balancer.
    pub zone: Option<ZoneFacts>,
}

/// An EKS cluster as `DescribeCluster` gives it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterFacts {
    pub name: String,
    pub arn: String,
    pub endpoint: String,
    /// The cluster CA, base64 as EKS gives it.
    pub certificate_authority: String,
    pub version: String,
    pub endpoint_private: bool,
    pub endpoint_public: bool,
    pub public_access_cidrs: Vec<String>,
    /// Control-plane log types enabled.
    pub logging: Vec<String>,
    pub oidc_issuer: Option<String>,
    /// Whether the IAM OIDC provider of the issuer exists (IRSA works).
    pub oidc_provider: bool,
    pub role_arn: String,
    pub vpc_id: String,
    pub tags: BTreeMap<String, String>,
}

/// The cluster's VPC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VpcFacts {
    pub id: String,
    pub cidr: String,
    /// Availability zones with a subnet, sorted.
    pub azs: Vec<String>,
    pub public_subnets: usize,
    pub private_subnets: usize,
    /// The prefix length the subnets share, when they all have one.
    pub prefix_length: Option<u8>,
    pub nat_gateways: usize,
    pub tags: BTreeMap<String, String>,
}

/// A managed nodegroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodegroupFacts {
    pub name: String,
    pub instance_types: Vec<String>,
    pub min: i32,
    pub desired: i32,
    pub max: i32,
    /// Whether its subnets are the VPC's public ones.
    pub public_subnets: bool,
    pub disk_size: Option<i32>,
    pub labels: BTreeMap<String, String>,
    pub spot: bool,
    pub ssh_key: Option<String>,
}

/// An IRSA role: trusted by one ServiceAccount through the cluster's OIDC provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleFacts {
    pub name: String,
    pub arn: String,
    pub namespace: String,
    pub service_account: String,
    pub policy_arns: Vec<String>,
    /// Inline policies by name.
    pub inline_policies: BTreeMap<String, Value>,
}

/// An ELBv2 load balancer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BalancerFacts {
    pub name: String,
    pub arn: String,
    pub dns_name: String,
    /// `application` or `network`.
    pub kind: String,
    pub scheme: String,
    pub listeners: Vec<ListenerFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListenerFacts {
    pub port: i32,
    pub protocol: String,
    pub certificates: Vec<String>,
}

/// An ACM certificate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CertificateFacts {
    pub arn: String,
    pub domain: String,
    pub sans: Vec<String>,
}

/// A hosted zone and its records that alias a discovered balancer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneFacts {
    pub id: String,
    pub domain: String,
    pub records: Vec<RecordFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordFacts {
    pub name: String,
    pub record_type: String,
    /// The balancer DNS name the alias targets (without a trailing dot or `dualstack.`).
    pub alias_dns: String,
}
