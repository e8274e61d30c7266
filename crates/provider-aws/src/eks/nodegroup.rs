//! `nodegroup`: the node role and a managed nodegroup in the cluster's private or public subnets,
//! with scaling, labels and taints changed in place.

use super::cluster::describe_cluster;
use super::{policies, CLUSTER_TIMEOUT, NODEGROUP, NODE_POLICIES, POLL};
use crate::iam::{self, service_trust};
use crate::{optional, sdk_error, Cx, Owner, Record, Result};
use aws_sdk_eks::types::{
    CapacityTypes, NodegroupScalingConfig, NodegroupStatus, RemoteAccessConfig, Taint as EksTaint,
    TaintEffect as EksTaintEffect, UpdateLabelsPayload, UpdateTaintsPayload,
};
use meshctl_model::kinds::aws::{CapacityType, Nodegroup, SubnetTier, TaintEffect};
use meshctl_model::record::OwnedObject;
use meshctl_model::Kind;
use meshctl_provider::{Applied, ErrorClass, Progress, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Instant;

pub(crate) async fn find_nodegroup_objects(cx: &Cx<'_>) -> Result<Vec<OwnedObject>> {
    iam::find_role_objects(cx, &cx.name("node", 64)).await
}

fn taint(t: &meshctl_model::kinds::aws::Taint) -> EksTaint {
    EksTaint::builder()
        .key(&t.key)
        .set_value(t.value.clone())
        .effect(match t.effect {
            TaintEffect::NoSchedule => EksTaintEffect::NoSchedule,
            TaintEffect::PreferNoSchedule => EksTaintEffect::PreferNoSchedule,
            TaintEffect::NoExecute => EksTaintEffect::NoExecute,
        })
        .build()
}

fn scaling(spec: &Nodegroup) -> NodegroupScalingConfig {
    NodegroupScalingConfig::builder()
        .min_size(spec.scaling.min as i32)
        .desired_size(spec.scaling.desired as i32)
        .max_size(spec.scaling.max as i32)
        .build()
}

/// The cluster's subnets of the tier the nodegroup asks for (by the load balancer role tags
/// the VPC gave them, else by whether they map public IPs).
async fn tier_subnets(cx: &Cx<'_>, cluster: &str, tier: SubnetTier) -> Result<Vec<String>> {
    let described = describe_cluster(cx, cluster, "create")
        .await?
        .ok_or_else(|| {
            cx.error(
                ErrorClass::Permanent,
                "create",
                format!("cluster {cluster} does not exist"),
            )
        })?;
    let ids: Vec<String> = described
        .resources_vpc_config()
        .map(|v| v.subnet_ids().to_vec())
        .unwrap_or_default();
    if ids.is_empty() {
        return Ok(ids);
    }
    let subnets = cx
        .aws
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(ids))
        .send()
        .await
        .map_err(cx.sdk("create", "DescribeSubnets"))?;
    let want_public = tier == SubnetTier::Public;
    let chosen: Vec<String> = subnets
        .subnets()
        .iter()
        .filter(|s| {
            let has = |key: &str| s.tags().iter().any(|t| t.key() == Some(key));
            let public = if has("kubernetes.io/role/elb") {
                true
            } else if has("kubernetes.io/role/internal-elb") {
                false
            } else {
                s.map_public_ip_on_launch().unwrap_or(false)
            };
            public == want_public
        })
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    if chosen.is_empty() {
        return Err(cx
            .error(
                ErrorClass::Permanent,
                "create",
                format!(
                    "cluster {cluster} has no {} subnets for the nodegroup",
                    if want_public { "public" } else { "private" }
                ),
            )
            .with_help("set `subnets:` to the tier the cluster's VPC has"));
    }
    Ok(chosen)
}

/// Whom a nodegroup belongs to, by its tags.
fn nodegroup_owner(cx: &Cx<'_>, group: &aws_sdk_eks::types::Nodegroup) -> Owner {
    super::owner_by_tags(cx, group.tags())
}

fn ensure_nodegroup_ours(
    cx: &Cx<'_>,
    group: &aws_sdk_eks::types::Nodegroup,
    cluster: &str,
    name: &str,
) -> Result<()> {
    super::ensure_ours(
        cx,
        nodegroup_owner(cx, group),
        &format!("nodegroup {name} of EKS cluster {cluster}"),
        "rename this resource (its name is the nodegroup's name)",
        &format!("{cluster}/{name}"),
    )
}

/// Whom the nodegroup `object` names belongs to, or `None` if it is gone.
pub(super) async fn owner(cx: &Cx<'_>, object: &OwnedObject) -> Result<Option<Owner>> {
    let (cluster, name) = object.id.split_once('/').unwrap_or(("", &object.id));
    Ok(describe_nodegroup(cx, cluster, name, "delete")
        .await?
        .map(|g| nodegroup_owner(cx, &g)))
}

/// Deletes the nodegroup `object` names (`CLUSTER/NODEGROUP`), waiting until it is gone.
pub(super) async fn delete(
    cx: &Cx<'_>,
    object: &OwnedObject,
    progress: &dyn Progress,
) -> Result<()> {
    let eks = &cx.aws.eks;
    let started = Instant::now();
    let (cluster, nodegroup) = object.id.split_once('/').unwrap_or(("", &object.id));
    eks.delete_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(nodegroup)
        .send()
        .await
        .map_err(cx.sdk("delete", "DeleteNodegroup"))?;
    while describe_nodegroup(cx, cluster, nodegroup, "delete")
        .await?
        .is_some()
    {
        if started.elapsed() > CLUSTER_TIMEOUT {
            return Err(cx.error(
                ErrorClass::Retryable,
                "delete",
                format!("nodegroup {} is still being deleted", object.id),
            ));
        }
        progress.update(
            cx.address,
            &format!("waiting for nodegroup {nodegroup} to be deleted"),
        );
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

async fn describe_nodegroup(
    cx: &Cx<'_>,
    cluster: &str,
    name: &str,
    operation: &'static str,
) -> Result<Option<aws_sdk_eks::types::Nodegroup>> {
    let found = cx
        .aws
        .eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
        .map_err(cx.sdk(operation, "DescribeNodegroup"));
    Ok(optional(found)?.and_then(|out| out.nodegroup().cloned()))
}

async fn wait_nodegroup_active(
    cx: &Cx<'_>,
    cluster: &str,
    name: &str,
    operation: &'static str,
    progress: &dyn Progress,
) -> Result<()> {
    let started = Instant::now();
    loop {
        let status = describe_nodegroup(cx, cluster, name, operation)
            .await?
            .and_then(|n| n.status().cloned());
        match status {
            Some(NodegroupStatus::Active) => return Ok(()),
            Some(NodegroupStatus::CreateFailed) | Some(NodegroupStatus::Degraded) => {
                return Err(cx
                    .error(
                        ErrorClass::Permanent,
                        operation,
                        format!(
                            "nodegroup {name} is {}",
                            status.map(|s| s.as_str().to_string()).unwrap_or_default()
                        ),
                    )
                    .with_help("see the nodegroup's health issues: `aws eks describe-nodegroup`"))
            }
            _ => {}
        }
        if started.elapsed() > CLUSTER_TIMEOUT {
            return Err(cx.error(
                ErrorClass::Permanent,
                operation,
                format!("nodegroup {name} is not ACTIVE after 30 minutes"),
            ));
        }
        progress.update(
            cx.address,
            &format!(
                "nodegroup {name} is {}",
                status
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "not visible".into())
            ),
        );
        tokio::time::sleep(POLL).await;
    }
}

fn cluster_of(
    cx: &Cx<'_>,
    request: &Request<'_>,
    spec: &Nodegroup,
    operation: &'static str,
) -> Result<String> {
    cx.input(request, Kind::EksCluster, &spec.cluster, "name", operation)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            cx.error(
                ErrorClass::Permanent,
                operation,
                format!("eks_cluster.{} has no name", spec.cluster),
            )
        })
}

pub(crate) async fn create_nodegroup(
    cx: &Cx<'_>,
    request: &Request<'_>,
    record: Record<'_>,
    progress: &dyn Progress,
) -> Result<Applied> {
    let spec: Nodegroup = cx.spec(request.desired, "create")?;
    let cluster = cluster_of(cx, request, &spec, "create")?;
    let subnets = tier_subnets(cx, &cluster, spec.subnets).await?;
    let name = cx.address.name.clone();
    // Before anything is made or recorded, as for clusters.
    let adopted = match describe_nodegroup(cx, &cluster, &name, "create").await? {
        Some(existing) => {
            ensure_nodegroup_ours(cx, &existing, &cluster, &name)?;
            true
        }
        None => false,
    };
    progress.update(cx.address, "creating the node role");
    let role_name = cx.name("node", 64);
    let role_arn = iam::ensure_role(
        cx,
        &role_name,
        &service_trust("ec2.amazonaws.com"),
        &policies(NODE_POLICIES),
        None,
        record,
    )
    .await?;
    let object = OwnedObject {
        kind: NODEGROUP.into(),
        id: format!("{cluster}/{name}"),
    };
    record(object.clone());
    let mut call = cx
        .aws
        .eks
        .create_nodegroup()
        .cluster_name(&cluster)
        .nodegroup_name(&name)
        .scaling_config(scaling(&spec))
        .disk_size(spec.disk_size as i32)
        .set_subnets(Some(subnets))
        .set_instance_types(Some(spec.instance_types.clone()))
        .node_role(&role_arn)
        .set_labels(Some(spec.labels.0.clone().into_iter().collect()))
        .set_taints(Some(spec.taints.iter().map(taint).collect()))
        .capacity_type(match spec.capacity_type {
            CapacityType::OnDemand => CapacityTypes::OnDemand,
            CapacityType::Spot => CapacityTypes::Spot,
        })
        .set_tags(Some(cx.tags().into_iter().collect()));
    if let Some(key) = &spec.ssh_key {
        call = call.remote_access(RemoteAccessConfig::builder().ec2_ssh_key(key).build());
    }
    progress.update(
        cx.address,
        &format!("creating nodegroup {name} in {cluster}"),
    );
    match if adopted {
        None
    } else {
        Some(call.send().await)
    } {
        None | Some(Ok(_)) => {}
        // Made between the look and the create: the same rule decides.
        Some(Err(e)) if crate::errors::code_of(&e) == Some("ResourceInUseException") => {
            match describe_nodegroup(cx, &cluster, &name, "create").await? {
                Some(existing) => ensure_nodegroup_ours(cx, &existing, &cluster, &name)?,
                None => {
                    return Err(cx.error(
                        ErrorClass::Retryable,
                        "create",
                        format!("nodegroup {name} is in use but not visible yet"),
                    ))
                }
            }
        }
        Some(Err(e)) => return Err(sdk_error(cx.address, "create", "CreateNodegroup", e)),
    }
    wait_nodegroup_active(cx, &cluster, &name, "create", progress).await?;
    let objects = vec![
        OwnedObject {
            kind: iam::ROLE.into(),
            id: role_name,
        },
        object,
    ];
    read_nodegroup(cx, request, &objects).await?.ok_or_else(|| {
        cx.error(
            ErrorClass::Retryable,
            "create",
            format!("nodegroup {name} is not visible yet"),
        )
    })
}

pub(crate) async fn read_nodegroup(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Option<Applied>> {
    let spec: Nodegroup = cx.spec(request.desired, "read")?;
    let Some(object) = objects.iter().find(|o| o.kind == NODEGROUP) else {
        return Ok(None);
    };
    let (cluster, name) = object.id.split_once('/').unwrap_or(("", &object.id));
    let Some(group) = describe_nodegroup(cx, cluster, name, "read").await? else {
        return Ok(None);
    };
    let scaling = group.scaling_config();
    let mut live = json!({
        "cluster": spec.cluster,
        "instance_types": group.instance_types(),
        "scaling": {
            "min": scaling.and_then(|s| s.min_size()),
            "desired": scaling.and_then(|s| s.desired_size()),
            "max": scaling.and_then(|s| s.max_size()),
        },
        "subnets": spec.subnets,
        "capacity_type": match group.capacity_type() {
            Some(CapacityTypes::Spot) => "spot",
            _ => "on_demand",
        },
    });
    if let Some(size) = group.disk_size() {
        live["disk_size"] = json!(size);
    }
    if let Some(key) = group.remote_access().and_then(|r| r.ec2_ssh_key()) {
        live["ssh_key"] = json!(key);
    }
    let labels: BTreeMap<&String, &String> = group
        .labels()
        .map(|l| l.iter().collect())
        .unwrap_or_default();
    if !labels.is_empty() || !spec.labels.is_empty() {
        live["labels"] = json!(labels);
    }
    let taints: Vec<Value> = group
        .taints()
        .iter()
        .map(|t| {
            let mut taint = json!({
                "key": t.key(),
                "effect": match t.effect() {
                    Some(EksTaintEffect::NoExecute) => "NoExecute",
                    Some(EksTaintEffect::PreferNoSchedule) => "PreferNoSchedule",
                    _ => "NoSchedule",
                },
            });
            if let Some(value) = t.value() {
                taint["value"] = json!(value);
            }
            taint
        })
        .collect();
    if !taints.is_empty() || !spec.taints.is_empty() {
        live["taints"] = json!(taints);
    }
    let role = objects
        .iter()
        .find(|o| o.kind == iam::ROLE)
        .map(|o| o.id.clone());
    Ok(Some(Applied {
        drifts: Vec::new(),
        objects: objects.to_vec(),
        outputs: BTreeMap::from([
            ("arn".to_string(), json!(group.nodegroup_arn())),
            (
                "node_role_arn".to_string(),
                json!(group.node_role().or(role.as_deref())),
            ),
        ]),
        live,
    }))
}

pub(crate) async fn update_nodegroup(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
    progress: &dyn Progress,
) -> Result<Applied> {
    let spec: Nodegroup = cx.spec(request.desired, "update")?;
    let object = objects
        .iter()
        .find(|o| o.kind == NODEGROUP)
        .ok_or_else(|| cx.error(ErrorClass::NotFound, "update", "no nodegroup in state"))?;
    let (cluster, name) = object.id.split_once('/').unwrap_or(("", &object.id));
    let live = describe_nodegroup(cx, cluster, name, "update")
        .await?
        .ok_or_else(|| {
            cx.error(
                ErrorClass::NotFound,
                "update",
                format!("nodegroup {name} is gone"),
            )
        })?;
    // Labels and taints are changed relative to what is live, so hand edits are put back too.
    let live_labels: BTreeMap<String, String> = live
        .labels()
        .map(|l| l.clone().into_iter().collect())
        .unwrap_or_default();
    let removed: Vec<String> = live_labels
        .keys()
        .filter(|k| !spec.labels.0.contains_key(*k))
        .cloned()
        .collect();
    let labels = UpdateLabelsPayload::builder()
        .set_add_or_update_labels(Some(spec.labels.0.clone().into_iter().collect()))
        .set_remove_labels((!removed.is_empty()).then_some(removed))
        .build();
    let wanted: Vec<EksTaint> = spec.taints.iter().map(taint).collect();
    let stale: Vec<EksTaint> = live
        .taints()
        .iter()
        .filter(|t| {
            !wanted
                .iter()
                .any(|w| w.key() == t.key() && w.effect() == t.effect())
        })
        .cloned()
        .collect();
    let taints = UpdateTaintsPayload::builder()
        .set_add_or_update_taints((!wanted.is_empty()).then_some(wanted))
        .set_remove_taints((!stale.is_empty()).then_some(stale))
        .build();
    progress.update(cx.address, &format!("updating nodegroup {name}"));
    cx.aws
        .eks
        .update_nodegroup_config()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .scaling_config(scaling(&spec))
        .labels(labels)
        .taints(taints)
        .send()
        .await
        .map_err(cx.sdk("update", "UpdateNodegroupConfig"))?;
    wait_nodegroup_active(cx, cluster, name, "update", progress).await?;
    read_nodegroup(cx, request, objects).await?.ok_or_else(|| {
        cx.error(
            ErrorClass::NotFound,
            "update",
            format!("nodegroup {name} is gone"),
        )
    })
}

pub(crate) async fn import_nodegroup(cx: &Cx<'_>, id: &str) -> Result<(Value, Applied)> {
    let Some((cluster, name)) = id.split_once('/') else {
        return Err(cx
            .error(
                ErrorClass::Permanent,
                "import",
                format!("`{id}` is not a nodegroup id"),
            )
            .with_help("give it as CLUSTER/NODEGROUP, e.g. demo-main/workers"));
    };
    let group = describe_nodegroup(cx, cluster, name, "import")
        .await?
        .ok_or_else(|| cx.error(ErrorClass::NotFound, "import", format!("no nodegroup {id}")))?;
    let scaling = group.scaling_config();
    let desired = json!({
        "cluster": "",
        "instance_types": group.instance_types(),
        "scaling": {
            "min": scaling.and_then(|s| s.min_size()).unwrap_or(0),
            "desired": scaling.and_then(|s| s.desired_size()).unwrap_or(0),
            "max": scaling.and_then(|s| s.max_size()).unwrap_or(1),
        },
    });
    let mut desired: Value = desired;
    if let Some(size) = group.disk_size() {
        desired["disk_size"] = json!(size);
    }
    let inputs = BTreeMap::new();
    let request = Request {
        address: cx.address,
        desired: &desired,
        inputs: &inputs,
    };
    // The node role goes with the nodegroup, as a create records it (eksctl makes one per
    // nodegroup); recorded first, so a delete removes it after the nodegroup.
    let mut objects: Vec<OwnedObject> = group
        .node_role()
        .and_then(|arn| arn.rsplit('/').next())
        .map(|role| OwnedObject {
            kind: iam::ROLE.into(),
            id: role.to_string(),
        })
        .into_iter()
        .collect();
    objects.push(OwnedObject {
        kind: NODEGROUP.into(),
        id: id.to_string(),
    });
    let applied = read_nodegroup(cx, &request, &objects)
        .await?
        .ok_or_else(|| cx.error(ErrorClass::NotFound, "import", format!("no nodegroup {id}")))?;
    Ok((desired, applied))
}
