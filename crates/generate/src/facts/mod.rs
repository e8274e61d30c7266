//! What discovery found, as plain data: the AWS side (`aws`) and the cluster side (`kube`).

pub mod aws;
pub mod kube;

use serde::{Deserialize, Serialize};

/// Everything `meshctl generate` discovered, handed to `compose`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// The stack's name (`--stack`, else the cluster's name).
    pub stack: String,
    pub region: String,
    pub aws: aws::AwsFacts,
    pub kube: kube::KubeFacts,
}
