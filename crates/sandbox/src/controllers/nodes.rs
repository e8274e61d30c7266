//! The cluster's Nodes, as EKS managed nodegroups make them: for each nodegroup of the cluster in
//! moto, `desiredSize` EC2 instances run in the nodegroup's subnets (tagged as EKS tags them:
//! `eks:cluster-name`, `eks:nodegroup-name`, `kubernetes.io/cluster/NAME: owned`) and each joins
//! the cluster as a Ready Node named after its private DNS name, with `spec.providerID
//! aws:///ZONE/i-…` and the nodegroup labels. When a nodegroup goes, its instances are
//! terminated and its Nodes deleted, so a destroy leaves moto as it was (terminated instances
//! stay listed, as in EC2). Polls moto every second: moto's EKS has no events.
//!
//! EKS drains and removes a nodegroup's Nodes before `DeleteNodegroup` is done, while moto deletes
//! the nodegroup at once; so the front's [`NodegroupDeletion`] removes the Nodes as the deletion
//! is answered, and the poll then terminates the instances.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::{
    Filter, InstanceStateName, InstanceType, ResourceType, Tag, TagSpecification,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::aws::AwsClients;
use super::ControllerOptions;
use crate::kube::{Gvr, Store, WriteOptions};

const MANAGER: &str = "sandbox-eks-nodes";
const NODEGROUP_TAG: &str = "eks:nodegroup-name";
const CLUSTER_TAG: &str = "eks:cluster-name";
const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";
/// At most this many nodes per nodegroup, whatever its desired size (the sandbox is small).
const MAX_NODES: i64 = 5;

/// The front's correction that removes a nodegroup's Nodes as moto answers its deletion.
pub struct NodegroupDeletion(pub Arc<Store>);

impl crate::front::Correction for NodegroupDeletion {
    fn correct(
        &self,
        call: &crate::front::Call,
        reply: crate::front::Reply,
    ) -> crate::front::Reply {
        if call.service != "eks"
            || call.method != hyper::Method::DELETE
            || !reply.status.is_success()
        {
            return reply;
        }
        let parts: Vec<&str> = call.uri.path().trim_matches('/').split('/').collect();
        if let ["clusters", _, "node-groups", nodegroup] = parts.as_slice() {
            for node in self.0.list(&nodes(), None).unwrap_or_default() {
                if node["metadata"]["labels"][NODEGROUP_LABEL] == *nodegroup {
                    if let Some(name) = node["metadata"]["name"].as_str() {
                        let _ =
                            self.0
                                .delete(&nodes(), None, name, &WriteOptions::manager(MANAGER));
                    }
                }
            }
        }
        reply
    }
}

fn nodes() -> Gvr {
    Gvr::new("", "v1", "nodes")
}

/// A nodegroup as EKS describes it: what the node controller needs.
#[derive(Debug, Clone)]
struct Nodegroup {
    name: String,
    subnets: Vec<String>,
    desired: i64,
    instance_type: Option<String>,
}

pub(crate) fn spawn(
    store: Arc<Store>,
    clients: Arc<AwsClients>,
    options: ControllerOptions,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(endpoint) = options.aws_endpoint.clone() else {
            return;
        };
        let http: hyper_util::client::legacy::Client<_, Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            ticker.tick().await;
            let cluster = &options.cluster_name;
            let groups = match nodegroups(&http, &endpoint, &options.region, cluster).await {
                Ok(groups) => groups,
                Err(e) => {
                    eprintln!("[nodes] listing the nodegroups of {cluster}: {e}");
                    continue;
                }
            };
            if let Err(e) = reconcile(&store, &clients, &options, &groups).await {
                eprintln!("[nodes] {e}");
            }
        }
    })
}

/// GETs an EKS REST path from moto (which dispatches on the signing service; it checks no
/// signature).
async fn eks_get<C>(
    http: &hyper_util::client::legacy::Client<C, Full<Bytes>>,
    endpoint: &str,
    region: &str,
    path: &str,
) -> Result<Option<Value>, String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let request = hyper::Request::get(format!("{}{path}", endpoint.trim_end_matches('/')))
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/eks/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = http
        .request(request)
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?
        .to_bytes();
    if status == hyper::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(format!(
            "GET {path}: {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| format!("GET {path}: {e}"))
}

async fn nodegroups<C>(
    http: &hyper_util::client::legacy::Client<C, Full<Bytes>>,
    endpoint: &str,
    region: &str,
    cluster: &str,
) -> Result<Vec<Nodegroup>, String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let Some(list) = eks_get(
        http,
        endpoint,
        region,
        &format!("/clusters/{cluster}/node-groups"),
    )
    .await?
    else {
        return Ok(Vec::new());
    };
    let mut groups = Vec::new();
    for name in list["nodegroups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let Some(described) = eks_get(
            http,
            endpoint,
            region,
            &format!("/clusters/{cluster}/node-groups/{name}"),
        )
        .await?
        else {
            continue;
        };
        let group = &described["nodegroup"];
        if group["status"] == "DELETING" {
            continue;
        }
        groups.push(Nodegroup {
            name: name.to_string(),
            subnets: group["subnets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            desired: group["scalingConfig"]["desiredSize"]
                .as_i64()
                .unwrap_or(1)
                .clamp(0, MAX_NODES),
            instance_type: group["instanceTypes"][0].as_str().map(str::to_string),
        });
    }
    Ok(groups)
}

/// A running (or starting) instance of the cluster's nodegroups.
struct Instance {
    id: String,
    nodegroup: String,
    zone: String,
    private_ip: String,
    private_dns: String,
    instance_type: String,
}

async fn cluster_instances(clients: &AwsClients, cluster: &str) -> Result<Vec<Instance>, String> {
    let out = clients
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name(format!("tag:{CLUSTER_TAG}"))
                .values(cluster)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        )
        .send()
        .await
        .map_err(|e| super::aws::aws_error("DescribeInstances", &e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            i.state().and_then(|s| s.name()).is_some_and(|n| {
                matches!(n, InstanceStateName::Pending | InstanceStateName::Running)
            })
        })
        .map(|i| Instance {
            id: i.instance_id().unwrap_or_default().to_string(),
            nodegroup: i
                .tags()
                .iter()
                .find(|t| t.key() == Some(NODEGROUP_TAG))
                .and_then(|t| t.value())
                .unwrap_or_default()
                .to_string(),
            zone: i
                .placement()
                .and_then(|p| p.availability_zone())
                .unwrap_or_default()
                .to_string(),
            private_ip: i.private_ip_address().unwrap_or_default().to_string(),
            private_dns: i.private_dns_name().unwrap_or_default().to_string(),
            instance_type: i
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
        })
        .collect())
}

async fn reconcile(
    store: &Store,
    clients: &AwsClients,
    options: &ControllerOptions,
    groups: &[Nodegroup],
) -> Result<(), String> {
    let cluster = &options.cluster_name;
    let mut instances = cluster_instances(clients, cluster).await?;
    // Instances of nodegroups that are gone, and the surplus of those that shrank.
    let mut surplus = Vec::new();
    let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
    for instance in &instances {
        let count = per_group.entry(instance.nodegroup.clone()).or_default();
        *count += 1;
        let wanted = groups
            .iter()
            .find(|g| g.name == instance.nodegroup)
            .map_or(0, |g| g.desired as usize);
        if *count > wanted {
            surplus.push(instance.id.clone());
        }
    }
    if !surplus.is_empty() {
        clients
            .ec2
            .terminate_instances()
            .set_instance_ids(Some(surplus.clone()))
            .send()
            .await
            .map_err(|e| super::aws::aws_error("TerminateInstances", &e))?;
        instances.retain(|i| !surplus.contains(&i.id));
    }
    for group in groups {
        let have = instances
            .iter()
            .filter(|i| i.nodegroup == group.name)
            .count() as i64;
        for index in have..group.desired {
            let Some(subnet) = group
                .subnets
                .get(index as usize % group.subnets.len().max(1))
            else {
                break;
            };
            let tags = TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key(CLUSTER_TAG).value(cluster).build())
                .tags(Tag::builder().key(NODEGROUP_TAG).value(&group.name).build())
                .tags(
                    Tag::builder()
                        .key(format!("kubernetes.io/cluster/{cluster}"))
                        .value("owned")
                        .build(),
                )
                .tags(
                    Tag::builder()
                        .key("Name")
                        .value(format!("{cluster}-{}-node", group.name))
                        .build(),
                )
                .build();
            let run = clients
                .ec2
                .run_instances()
                .image_id("ami-0eks0sandbox0node")
                .min_count(1)
                .max_count(1)
                .subnet_id(subnet)
                .instance_type(InstanceType::from(
                    group.instance_type.as_deref().unwrap_or("t3.medium"),
                ))
                .tag_specifications(tags)
                .send()
                .await
                .map_err(|e| super::aws::aws_error("RunInstances", &e))?;
            for i in run.instances() {
                instances.push(Instance {
                    id: i.instance_id().unwrap_or_default().to_string(),
                    nodegroup: group.name.clone(),
                    zone: i
                        .placement()
                        .and_then(|p| p.availability_zone())
                        .unwrap_or_default()
                        .to_string(),
                    private_ip: i.private_ip_address().unwrap_or_default().to_string(),
                    private_dns: i.private_dns_name().unwrap_or_default().to_string(),
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                });
            }
        }
    }
    sync_nodes(store, options, &instances);
    Ok(())
}

/// Makes the Node objects match the instances: one Ready Node per instance, none for others.
fn sync_nodes(store: &Store, options: &ControllerOptions, instances: &[Instance]) {
    let opts = WriteOptions::manager(MANAGER);
    let mut wanted = BTreeSet::new();
    for instance in instances {
        let name = if instance.private_dns.is_empty() {
            format!(
                "ip-{}.{}.compute.internal",
                instance.private_ip.replace('.', "-"),
                options.region
            )
        } else {
            instance.private_dns.clone()
        };
        wanted.insert(name.clone());
        if store.get(&nodes(), None, &name).is_ok() {
            continue;
        }
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": instance.instance_type,
                    "topology.kubernetes.io/region": options.region,
                    "topology.kubernetes.io/zone": instance.zone,
                    NODEGROUP_LABEL: instance.nodegroup,
                    "eks.amazonaws.com/capacityType": "ON_DEMAND",
                },
            },
            "spec": {"providerID": format!("aws:///{}/{}", instance.zone, instance.id)},
        });
        if store.create(&nodes(), None, node, &opts).is_ok() {
            let now = crate::kube::clock::now_rfc3339();
            let status = json!({
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now, "lastTransitionTime": now,
                }],
                "addresses": [
                    {"type": "InternalIP", "address": instance.private_ip},
                    {"type": "Hostname", "address": name},
                    {"type": "InternalDNS", "address": name},
                ],
            });
            let _ = store.apply_status(&nodes(), None, &name, status, MANAGER);
        }
    }
    for node in store.list(&nodes(), None).unwrap_or_default() {
        let managed = node["metadata"]["labels"][NODEGROUP_LABEL].is_string();
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        if managed && !wanted.contains(name) {
            let _ = store.delete(&nodes(), None, name, &opts);
        }
    }
}
