//! `eks_cluster` and `nodegroup`: `cluster` (cluster role, cluster, endpoint access, logging, OIDC
//! provider, in-place version upgrades one minor at a time) and `nodegroup` (node role, managed
//! nodegroup in the cluster's private or public subnets, scaling, labels and taints in place).
//! This module holds what both share: object kinds, timeouts, and the dispatch of deletes and
//! ownership by object kind.

mod cluster;
mod nodegroup;

pub(crate) use cluster::{
    create_cluster, find_cluster_objects, import_cluster, read_cluster, update_cluster,
};
pub(crate) use nodegroup::{
    create_nodegroup, find_nodegroup_objects, import_nodegroup, read_nodegroup, update_nodegroup,
};

use crate::{Cx, Owner, Result};
use meshctl_model::record::OwnedObject;
use meshctl_provider::{ErrorClass, Progress};
use std::time::Duration;

pub(crate) const CLUSTER: &str = "eks:cluster";
pub(crate) const NODEGROUP: &str = "eks:nodegroup";

const CLUSTER_POLICIES: &[&str] = &["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"];
const NODE_POLICIES: &[&str] = &[
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
];

/// Creating a cluster takes 10-15 minutes on AWS; deleting one about as long.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const POLL: Duration = Duration::from_secs(3);

fn policies(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub(crate) async fn delete_object(
    cx: &Cx<'_>,
    object: &OwnedObject,
    progress: &dyn Progress,
) -> Result<()> {
    match object.kind.as_str() {
        CLUSTER => cluster::delete(cx, object, progress).await,
        NODEGROUP => nodegroup::delete(cx, object, progress).await,
        other => Err(cx
            .error(
                ErrorClass::Permanent,
                "delete",
                format!("unknown EKS object kind `{other}` in state"),
            )
            .with_help("the state was probably written by a newer meshctl: run that version")),
    }
}

/// Whom the cluster or nodegroup `object` belongs to, or `None` if it is gone.
pub(crate) async fn owner(cx: &Cx<'_>, object: &OwnedObject) -> Result<Option<Owner>> {
    match object.kind.as_str() {
        CLUSTER => cluster::owner(cx, object).await,
        NODEGROUP => nodegroup::owner(cx, object).await,
        _ => Ok(None),
    }
}

/// Whom an EKS object (cluster, nodegroup) belongs to, by its tags.
fn owner_by_tags(cx: &Cx<'_>, tags: Option<&std::collections::HashMap<String, String>>) -> Owner {
    Owner::of(
        cx,
        tags.into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// An existing EKS object named like this resource's is an earlier attempt of it only if its
/// tags say so (`owner`); anyone else's is refused, with `rename` as the way out.
fn ensure_ours(cx: &Cx<'_>, owner: Owner, what: &str, rename: &str, import_id: &str) -> Result<()> {
    match owner {
        Owner::ThisResource => Ok(()),
        owner => Err(cx.taken("create", what, &owner, rename, Some(import_id))),
    }
}
