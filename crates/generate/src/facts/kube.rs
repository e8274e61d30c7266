//! What discovery found in the cluster: Helm releases, the Istio install and its gateways,
//! Ingresses, issuers, certificates and the mesh's objects.

use serde::{Deserialize, Serialize};

/// The cluster side of the topology.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KubeFacts {}
