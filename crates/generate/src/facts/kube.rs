//! What discovery found in the cluster: Helm releases, the Istio installs and their gateways,
//! Ingresses, issuers, certificates and the mesh's objects, and the rest of the workload objects
//! no kind expresses.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The cluster side of the topology.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KubeFacts {
    pub releases: Vec<ReleaseFacts>,
    /// istioctl's installed states (`installed-state-NAME`), one per `istioctl install -f`.
    pub istio: Vec<IstioFacts>,
    /// Istio ingress gateway workloads, each with its Service.
    pub gateways: Vec<GatewayFacts>,
    /// Ingresses of class `alb`.
    pub ingresses: Vec<Value>,
    /// Live objects of the kinds meshctl renders as they are (ClusterIssuers, Certificates,
    /// Gateways, VirtualServices, DestinationRules and the security policies).
    pub objects: Vec<Value>,
    /// ServiceAccounts annotated with an IRSA role: (namespace, name, role ARN).
    pub service_accounts: Vec<(String, String, String)>,
    /// Namespaces outside the system ones, with their labels.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// Workload objects no kind expresses (`Kind namespace/name`), listed for a `manifest`.
    pub unexpressed: Vec<String>,
}

/// A Helm release (`helm list -A`, `helm get values`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseFacts {
    pub name: String,
    pub namespace: String,
    /// The chart's name (`aws-load-balancer-controller`).
    pub chart: String,
    pub version: String,
    /// The user-supplied values.
    pub values: Value,
}

/// An istioctl install, from its installed state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IstioFacts {
    /// The IstioOperator's name (`installed-state-NAME`).
    pub name: String,
    pub namespace: String,
    pub spec: Value,
}

/// An ingress gateway workload: its IstioOperator component and its Service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayFacts {
    pub name: String,
    pub namespace: String,
    /// The IstioOperator that installed it.
    pub operator: String,
    pub labels: BTreeMap<String, String>,
    /// The Service as the cluster has it.
    pub service: Value,
}
