//! The result of a verify run: per host, every check on its path in order with the object and
//! field at fault, the first broken one named; and per link of the traffic model, its status
//! (what the picture colours). Serialized as the `--format json` document (docs/verify.md).

use meshctl_graph::traffic::LinkCheck;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the JSON document (docs/verify.md); bumped on incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// How one check, link or host came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Not checked: an earlier link of the path is broken, or what it needs was not read.
    Unchecked,
    Broken,
}

/// One check of one link of a host's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The traffic model's link id (`alb.public→ingress_gateway.istio-ingressgateway`).
    pub link: String,
    pub check: LinkCheck,
    /// What was checked, in a few words ("listener HTTPS 443", "targets healthy").
    pub what: String,
    pub status: Status,
    /// The live object looked at (`Deployment istio-system/istio-ingressgateway`, `ELBv2 target
    /// group k8s-…`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The field of that object at fault (`spec.selector`, `HealthCheckPort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The stack resource behind the object, when there is one (`alb.public`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// What was found (for a broken step: what is wrong).
    pub message: String,
    /// What to do, for a broken step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Broken in a way a rollout in progress looks (targets not yet healthy, replicas or
    /// endpoints not yet ready): `apply --verify` looks again for a while before reporting it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settling: bool,
}

/// One host's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    pub host: String,
    /// The `dns_record` serving it.
    pub record: String,
    pub status: Status,
    /// Index in `steps` of the first broken step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<usize>,
    pub steps: Vec<Step>,
}

impl HostReport {
    pub fn first_broken_step(&self) -> Option<&Step> {
        self.first_broken.and_then(|i| self.steps.get(i))
    }
}

/// A whole verify run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub stack: String,
    /// RFC 3339, UTC.
    pub checked_at: String,
    /// How long the live reads took, in milliseconds.
    pub read_ms: u64,
    pub hosts: Vec<HostReport>,
    /// Every link of the traffic model: the worst status of its steps over every host.
    pub links: BTreeMap<String, Status>,
}

impl Report {
    /// Whether some host's path is broken (exit 2).
    pub fn broken(&self) -> bool {
        self.hosts.iter().any(|h| h.status == Status::Broken)
    }

    /// Whether every broken step may still be settling (see `Step::settling`).
    pub fn only_settling(&self) -> bool {
        self.hosts
            .iter()
            .flat_map(|h| &h.steps)
            .filter(|s| s.status == Status::Broken)
            .all(|s| s.settling)
    }

    /// The status of each link of the traffic model (`graph --format svg` colours by it).
    pub fn link_status(&self) -> &BTreeMap<String, Status> {
        &self.links
    }
}
