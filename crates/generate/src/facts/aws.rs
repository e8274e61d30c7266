//! What discovery found in the AWS account: the cluster, its VPC and nodegroups, IRSA roles,
//! balancers, certificates and the records that alias the balancers.

use serde::{Deserialize, Serialize};

/// The AWS side of the topology.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AwsFacts {}
