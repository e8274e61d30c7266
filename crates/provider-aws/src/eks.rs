//! `eks_cluster` (cluster role, cluster, endpoint access, logging, OIDC provider, in-place version
//! upgrades one minor at a time) and `nodegroup` (node role, managed nodegroup in the cluster's
//! private or public subnets, scaling, labels and taints in place).

use crate::iam::{self, service_trust};
use crate::{optional, sdk_error, Cx, Owner, Record, Result};
use aws_sdk_eks::types::{
    CapacityTypes, ClusterStatus, LogSetup, LogType as EksLogType, Logging, NodegroupScalingConfig,
    NodegroupStatus, RemoteAccessConfig, Taint as EksTaint, TaintEffect as EksTaintEffect,
    UpdateLabelsPayload, UpdateTaintsPayload, VpcConfigRequest,
};
use meshctl_model::kinds::aws::{
    CapacityType, EksCluster, LogType, Nodegroup, SubnetTier, TaintEffect,
};
use meshctl_model::record::OwnedObject;
use meshctl_model::Kind;
use meshctl_provider::{Applied, ErrorClass, Progress, Request};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub(crate) const CLUSTER: &str = "eks:cluster";
const NODEGROUP: &str = "eks:nodegroup";

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

fn cluster_name(cx: &Cx<'_>, spec: &EksCluster) -> String {
    spec.cluster_name
        .clone()
        .unwrap_or_else(|| cx.name("", 100))
}

fn log_type(kind: LogType) -> EksLogType {
    match kind {
        LogType::Api => EksLogType::Api,
        LogType::Audit => EksLogType::Audit,
        LogType::Authenticator => EksLogType::Authenticator,
        LogType::ControllerManager => EksLogType::ControllerManager,
        LogType::Scheduler => EksLogType::Scheduler,
    }
}

fn logging(spec: &EksCluster) -> Logging {
    let enabled: BTreeSet<LogType> = spec.logging.iter().copied().collect();
    let all = [
        LogType::Api,
        LogType::Audit,
        LogType::Authenticator,
        LogType::ControllerManager,
        LogType::Scheduler,
    ];
    let (on, off): (Vec<LogType>, Vec<LogType>) =
        all.into_iter().partition(|t| enabled.contains(t));
    let mut setups = Vec::new();
    for (types, state) in [(on, true), (off, false)] {
        if !types.is_empty() {
            setups.push(
                LogSetup::builder()
                    .set_types(Some(types.into_iter().map(log_type).collect()))
                    .enabled(state)
                    .build(),
            );
        }
    }
    Logging::builder().set_cluster_logging(Some(setups)).build()
}

fn vpc_config(spec: &EksCluster, subnets: Option<Vec<String>>) -> VpcConfigRequest {
    VpcConfigRequest::builder()
        .set_subnet_ids(subnets)
        .endpoint_private_access(spec.endpoint.private)
        .endpoint_public_access(spec.endpoint.public)
        .set_public_access_cidrs((!spec.endpoint.public_cidrs.is_empty()).then(|| {
            spec.endpoint
                .public_cidrs
                .iter()
                .map(|c| c.as_str().to_string())
                .collect()
        }))
        .build()
}

fn string_list(value: Value) -> Vec<String> {
    serde_json::from_value(value).unwrap_or_default()
}

pub(crate) async fn create_cluster(
    cx: &Cx<'_>,
    request: &Request<'_>,
    record: Record<'_>,
    progress: &dyn Progress,
) -> Result<Applied> {
    let spec: EksCluster = cx.spec(request.desired, "create")?;
    let public =
        string_list(cx.input(request, Kind::Vpc, &spec.vpc, "public_subnet_ids", "create")?);
    let private = string_list(cx.input(
        request,
        Kind::Vpc,
        &spec.vpc,
        "private_subnet_ids",
        "create",
    )?);
    let subnets: Vec<String> = private.into_iter().chain(public).collect();
    let name = cluster_name(cx, &spec);
    // Before anything is made or recorded: a cluster of this name that is not this resource's
    // is refused untouched (recording its name would let a rollback delete it).
    let adopted = match describe_cluster(cx, &name, "create").await? {
        Some(existing) => {
            ensure_cluster_ours(cx, &existing, &name)?;
            true
        }
        None => false,
    };
    let mut objects = Vec::new();
    let role_arn = match &spec.role_arn {
        Some(arn) => arn.as_str().to_string(),
        None => {
            progress.update(cx.address, "creating the cluster role");
            let name = cx.name("cluster", 64);
            let arn = iam::ensure_role(
                cx,
                &name,
                &service_trust("eks.amazonaws.com"),
                &policies(CLUSTER_POLICIES),
                None,
                record,
            )
            .await?;
            objects.push(OwnedObject {
                kind: iam::ROLE.into(),
                id: name,
            });
            arn
        }
    };
    let object = OwnedObject {
        kind: CLUSTER.into(),
        id: name.clone(),
    };
    record(object.clone());
    objects.push(object);
    let mut tags: BTreeMap<String, String> = spec.tags.clone();
    tags.extend(cx.tags());
    progress.update(
        cx.address,
        &format!("creating EKS cluster {name} (Kubernetes {})", spec.version),
    );
    if !adopted {
        send_create_cluster(cx, &name, &spec, &role_arn, &subnets, &tags, progress).await?;
    }
    wait_cluster_active(cx, &name, progress).await?;
    if spec.oidc {
        let issuer = describe_cluster(cx, &name, "create")
            .await?
            .and_then(|c| {
                c.identity()
                    .and_then(|i| i.oidc())
                    .and_then(|o| o.issuer())
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                cx.error(
                    ErrorClass::Retryable,
                    "create",
                    format!("cluster {name} has no OIDC issuer yet"),
                )
            })?;
        progress.update(cx.address, "creating the IAM OIDC provider for IRSA");
        let arn = iam::create_oidc_provider(cx, &issuer, record).await?;
        objects.push(OwnedObject {
            kind: iam::OIDC_PROVIDER.into(),
            id: arn,
        });
    }
    read_cluster(cx, request, &objects).await?.ok_or_else(|| {
        cx.error(
            ErrorClass::Retryable,
            "create",
            format!("cluster {name} is not visible yet"),
        )
    })
}

/// CreateCluster, waiting out a new role IAM has not propagated yet; a cluster of that name made
/// meanwhile is taken as this create only if its tags say it is this resource's.
async fn send_create_cluster(
    cx: &Cx<'_>,
    name: &str,
    spec: &EksCluster,
    role_arn: &str,
    subnets: &[String],
    tags: &BTreeMap<String, String>,
    progress: &dyn Progress,
) -> Result<()> {
    let started = Instant::now();
    loop {
        let created = cx
            .aws
            .eks
            .create_cluster()
            .name(name)
            .version(spec.version.as_str())
            .role_arn(role_arn)
            .resources_vpc_config(vpc_config(spec, Some(subnets.to_vec())))
            .logging(logging(spec))
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send()
            .await;
        match created {
            Ok(_) => break,
            // Made between the look and the create: the same rule decides.
            Err(e) if crate::errors::code_of(&e) == Some("ResourceInUseException") => {
                match describe_cluster(cx, name, "create").await? {
                    Some(existing) => ensure_cluster_ours(cx, &existing, name)?,
                    None => {
                        return Err(cx.error(
                            ErrorClass::Retryable,
                            "create",
                            format!("EKS cluster {name} is in use but not visible yet"),
                        ))
                    }
                }
                break;
            }
            // A role IAM has not propagated yet cannot be assumed for a few seconds.
            Err(e)
                if crate::errors::code_of(&e) == Some("InvalidParameterException")
                    && format!("{e:?}").contains("assume")
                    && started.elapsed() < Duration::from_secs(120) =>
            {
                progress.update(cx.address, "waiting for the new cluster role to propagate");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => return Err(sdk_error(cx.address, "create", "CreateCluster", e)),
        }
    }
    Ok(())
}

/// Whom a cluster belongs to, by its tags.
fn cluster_owner(cx: &Cx<'_>, cluster: &aws_sdk_eks::types::Cluster) -> Owner {
    Owner::of(
        cx,
        cluster
            .tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// An existing cluster named like this resource's is an earlier attempt of it only if its tags
/// say so; anyone else's is refused.
fn ensure_cluster_ours(
    cx: &Cx<'_>,
    cluster: &aws_sdk_eks::types::Cluster,
    name: &str,
) -> Result<()> {
    match cluster_owner(cx, cluster) {
        Owner::ThisResource => Ok(()),
        owner => Err(cx.taken(
            "create",
            &format!("EKS cluster {name}"),
            &owner,
            "give this cluster another name (`cluster_name:`, or rename the resource)",
        )),
    }
}

async fn describe_cluster(
    cx: &Cx<'_>,
    name: &str,
    operation: &'static str,
) -> Result<Option<aws_sdk_eks::types::Cluster>> {
    let found = cx
        .aws
        .eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(cx.sdk(operation, "DescribeCluster"));
    Ok(optional(found)?.and_then(|out| out.cluster().cloned()))
}

async fn wait_cluster_active(cx: &Cx<'_>, name: &str, progress: &dyn Progress) -> Result<()> {
    let started = Instant::now();
    loop {
        let status = describe_cluster(cx, name, "create")
            .await?
            .and_then(|c| c.status().cloned());
        match status {
            Some(ClusterStatus::Active) => return Ok(()),
            Some(ClusterStatus::Failed) => {
                return Err(cx.error(ErrorClass::Permanent, "create", format!("EKS cluster {name} FAILED to create"))
                    .with_help("see the cluster's health issues in the EKS console or `aws eks describe-cluster`"))
            }
            _ => {}
        }
        if started.elapsed() > CLUSTER_TIMEOUT {
            return Err(cx.error(
                ErrorClass::Permanent,
                "create",
                format!(
                    "EKS cluster {name} is not ACTIVE after {} minutes",
                    CLUSTER_TIMEOUT.as_secs() / 60
                ),
            ));
        }
        progress.update(
            cx.address,
            &format!(
                "cluster {name} is {} ({}s)",
                status
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "not visible".into()),
                started.elapsed().as_secs()
            ),
        );
        tokio::time::sleep(POLL).await;
    }
}

pub(crate) async fn read_cluster(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Option<Applied>> {
    let spec: EksCluster = cx.spec(request.desired, "read")?;
    let Some(object) = objects.iter().find(|o| o.kind == CLUSTER) else {
        return Ok(None);
    };
    let Some(cluster) = describe_cluster(cx, &object.id, "read").await? else {
        return Ok(None);
    };
    let issuer = cluster
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .unwrap_or_default()
        .to_string();
    let provider = objects
        .iter()
        .find(|o| o.kind == iam::OIDC_PROVIDER)
        .map(|o| o.id.clone());
    let provider_live = match &provider {
        Some(arn) => iam::find_oidc_providers(cx, false).await?.contains(arn),
        None => false,
    };
    let vpc = cluster.resources_vpc_config();
    let mut cidrs: Vec<String> = vpc
        .map(|v| v.public_access_cidrs().to_vec())
        .unwrap_or_default();
    // AWS fills in 0.0.0.0/0 when no CIDRs were given.
    if spec.endpoint.public_cidrs.is_empty() && cidrs == ["0.0.0.0/0"] {
        cidrs.clear();
    }
    let mut endpoint = json!({
        "private": vpc.map(|v| v.endpoint_private_access()).unwrap_or(false),
        "public": vpc.map(|v| v.endpoint_public_access()).unwrap_or(true),
    });
    if !cidrs.is_empty() {
        endpoint["public_cidrs"] = json!(cidrs);
    }
    let mut logging: Vec<Value> = cluster
        .logging()
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
        .iter()
        .filter(|s| s.enabled() == Some(true))
        .flat_map(|s| s.types())
        .filter_map(|t| serde_json::to_value(model_log_type(t)?).ok())
        .collect();
    logging.sort_by_key(|v| v.to_string());
    let mut live = json!({
        "version": cluster.version(),
        "vpc": spec.vpc,
        "endpoint": endpoint,
        "oidc": provider_live,
    });
    if spec.cluster_name.is_some() {
        live["cluster_name"] = json!(cluster.name());
    }
    if !logging.is_empty() || !spec.logging.is_empty() {
        let mut wanted: Vec<Value> = spec
            .logging
            .iter()
            .filter_map(|t| serde_json::to_value(t).ok())
            .collect();
        wanted.sort_by_key(|v| v.to_string());
        // Same set in the stack's order, so reordering is not drift.
        live["logging"] = if wanted == logging {
            json!(spec.logging)
        } else {
            json!(logging)
        };
    }
    if spec.role_arn.is_some() {
        live["role_arn"] = json!(cluster.role_arn());
    }
    let user_tags: BTreeMap<&String, &String> = cluster
        .tags()
        .map(|t| {
            t.iter()
                .filter(|(k, _)| !k.starts_with("meshctl:"))
                .collect()
        })
        .unwrap_or_default();
    if !user_tags.is_empty() || !spec.tags.is_empty() {
        live["tags"] = json!(user_tags);
    }
    Ok(Some(Applied {
        drifts: Vec::new(),
        objects: objects.to_vec(),
        outputs: BTreeMap::from([
            ("name".to_string(), json!(cluster.name())),
            ("arn".to_string(), json!(cluster.arn())),
            ("endpoint".to_string(), json!(cluster.endpoint())),
            (
                "ca_data".to_string(),
                json!(cluster.certificate_authority().and_then(|c| c.data())),
            ),
            ("oidc_issuer".to_string(), json!(issuer)),
            (
                "oidc_provider_arn".to_string(),
                json!(if provider_live { provider } else { None }),
            ),
        ]),
        live,
    }))
}

fn model_log_type(kind: &EksLogType) -> Option<LogType> {
    Some(match kind {
        EksLogType::Api => LogType::Api,
        EksLogType::Audit => LogType::Audit,
        EksLogType::Authenticator => LogType::Authenticator,
        EksLogType::ControllerManager => LogType::ControllerManager,
        EksLogType::Scheduler => LogType::Scheduler,
        _ => return None,
    })
}

/// `(major, minor)` of a `1.29`-style version.
fn minor(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.split('.').next()?.parse().ok()?))
}

pub(crate) async fn update_cluster(
    cx: &Cx<'_>,
    request: &Request<'_>,
    prior: &Value,
    objects: &[OwnedObject],
    progress: &dyn Progress,
) -> Result<Applied> {
    let spec: EksCluster = cx.spec(request.desired, "update")?;
    let name = objects
        .iter()
        .find(|o| o.kind == CLUSTER)
        .map(|o| o.id.clone())
        .unwrap_or_else(|| cluster_name(cx, &spec));
    let before: Option<EksCluster> = serde_json::from_value(prior.clone()).ok();
    let live = describe_cluster(cx, &name, "update")
        .await?
        .ok_or_else(|| {
            cx.error(
                ErrorClass::NotFound,
                "update",
                format!("cluster {name} is gone"),
            )
        })?;
    let eks = &cx.aws.eks;

    // Version: one minor step at a time, as EKS allows (the planner refuses bigger jumps).
    let current = live.version().unwrap_or_default().to_string();
    if current != spec.version.as_str() {
        match (minor(&current), minor(spec.version.as_str())) {
            (Some((a, b)), Some((c, d))) if a == c && d == b + 1 => {}
            _ => {
                return Err(cx.error(
                    ErrorClass::Permanent,
                    "update",
                    format!("cannot upgrade cluster {name} from {current} to {}: EKS upgrades one minor version at a time and never downgrades", spec.version),
                ))
            }
        }
        progress.update(
            cx.address,
            &format!("upgrading Kubernetes {current} → {}", spec.version),
        );
        eks.update_cluster_version()
            .name(&name)
            .version(spec.version.as_str())
            .send()
            .await
            .map_err(cx.sdk("update", "UpdateClusterVersion"))?;
        wait_cluster_active(cx, &name, progress).await?;
    }

    let endpoint_changed = before.as_ref().is_none_or(|b| b.endpoint != spec.endpoint);
    let logging_changed = before.as_ref().is_none_or(|b| b.logging != spec.logging);
    if endpoint_changed || logging_changed {
        progress.update(cx.address, "updating endpoint access and logging");
        eks.update_cluster_config()
            .name(&name)
            .set_resources_vpc_config(endpoint_changed.then(|| vpc_config(&spec, None)))
            .set_logging(logging_changed.then(|| logging(&spec)))
            .send()
            .await
            .map_err(cx.sdk("update", "UpdateClusterConfig"))?;
        wait_cluster_active(cx, &name, progress).await?;
    }

    if let Some(arn) = live.arn() {
        let old: BTreeMap<String, String> =
            before.as_ref().map(|b| b.tags.clone()).unwrap_or_default();
        let removed: Vec<String> = old
            .keys()
            .filter(|k| !spec.tags.contains_key(*k))
            .cloned()
            .collect();
        if !removed.is_empty() {
            eks.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(cx.sdk("update", "UntagResource"))?;
        }
        if !spec.tags.is_empty() {
            eks.tag_resource()
                .resource_arn(arn)
                .set_tags(Some(spec.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(cx.sdk("update", "TagResource"))?;
        }
    }

    let mut objects = objects.to_vec();
    let provider = objects.iter().position(|o| o.kind == iam::OIDC_PROVIDER);
    match (spec.oidc, provider) {
        (true, None) => {
            let issuer = live
                .identity()
                .and_then(|i| i.oidc())
                .and_then(|o| o.issuer())
                .unwrap_or_default();
            // An update has no recording callback: the provider is returned in the objects, and
            // its tags let a sweep find it if meshctl dies before that.
            let arn = iam::create_oidc_provider(cx, issuer, &|_| {}).await?;
            objects.push(OwnedObject {
                kind: iam::OIDC_PROVIDER.into(),
                id: arn,
            });
        }
        (false, Some(index)) => {
            let object = objects.remove(index);
            iam::delete_object(cx, &object).await?;
        }
        _ => {}
    }
    read_cluster(cx, request, &objects).await?.ok_or_else(|| {
        cx.error(
            ErrorClass::NotFound,
            "update",
            format!("cluster {name} is gone"),
        )
    })
}

pub(crate) async fn delete_object(
    cx: &Cx<'_>,
    object: &OwnedObject,
    progress: &dyn Progress,
) -> Result<()> {
    let eks = &cx.aws.eks;
    let started = Instant::now();
    match object.kind.as_str() {
        CLUSTER => {
            loop {
                match eks.delete_cluster().name(&object.id).send().await {
                    Ok(_) => break,
                    // Nodegroups still being deleted keep the cluster busy.
                    Err(e)
                        if crate::errors::code_of(&e) == Some("ResourceInUseException")
                            && started.elapsed() < CLUSTER_TIMEOUT =>
                    {
                        progress.update(
                            cx.address,
                            &format!("cluster {} is still in use; waiting", object.id),
                        );
                        tokio::time::sleep(POLL).await;
                    }
                    Err(e) => return Err(sdk_error(cx.address, "delete", "DeleteCluster", e)),
                }
            }
            while describe_cluster(cx, &object.id, "delete").await?.is_some() {
                if started.elapsed() > CLUSTER_TIMEOUT {
                    return Err(cx.error(
                        ErrorClass::Retryable,
                        "delete",
                        format!("cluster {} is still being deleted", object.id),
                    ));
                }
                progress.update(
                    cx.address,
                    &format!("waiting for cluster {} to be deleted", object.id),
                );
                tokio::time::sleep(POLL).await;
            }
            Ok(())
        }
        NODEGROUP => {
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
        other => Err(cx.error(
            ErrorClass::Permanent,
            "delete",
            format!("unknown EKS object kind `{other}` in state"),
        )),
    }
}

/// What a killed cluster create may have left: its role and cluster are named (and recorded)
/// before they exist; the OIDC provider is found by its tags.
pub(crate) async fn find_cluster_objects(cx: &Cx<'_>) -> Result<Vec<OwnedObject>> {
    let mut found = iam::find_role_objects(cx, &cx.name("cluster", 64)).await?;
    found.extend(
        iam::find_oidc_providers(cx, true)
            .await?
            .into_iter()
            .map(|arn| OwnedObject {
                kind: iam::OIDC_PROVIDER.into(),
                id: arn,
            }),
    );
    Ok(found)
}

pub(crate) async fn find_nodegroup_objects(cx: &Cx<'_>) -> Result<Vec<OwnedObject>> {
    iam::find_role_objects(cx, &cx.name("node", 64)).await
}

pub(crate) async fn import_cluster(cx: &Cx<'_>, name: &str) -> Result<(Value, Applied)> {
    let cluster = describe_cluster(cx, name, "import").await?.ok_or_else(|| {
        cx.error(
            ErrorClass::NotFound,
            "import",
            format!("no EKS cluster {name}"),
        )
    })?;
    let vpc = cluster.resources_vpc_config();
    let desired = json!({
        "cluster_name": name,
        "version": cluster.version(),
        "vpc": "",
        "endpoint": {
            "private": vpc.map(|v| v.endpoint_private_access()).unwrap_or(false),
            "public": vpc.map(|v| v.endpoint_public_access()).unwrap_or(true),
        },
        "oidc": false,
        "role_arn": cluster.role_arn(),
    });
    let inputs = BTreeMap::new();
    let request = Request {
        address: cx.address,
        desired: &desired,
        inputs: &inputs,
    };
    let applied = read_cluster(
        cx,
        &request,
        &[OwnedObject {
            kind: CLUSTER.into(),
            id: name.to_string(),
        }],
    )
    .await?
    .ok_or_else(|| {
        cx.error(
            ErrorClass::NotFound,
            "import",
            format!("no EKS cluster {name}"),
        )
    })?;
    Ok((desired, applied))
}

// ---- nodegroups ----------------------------------------------------------------------------

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
    Owner::of(
        cx,
        group
            .tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

fn ensure_nodegroup_ours(
    cx: &Cx<'_>,
    group: &aws_sdk_eks::types::Nodegroup,
    cluster: &str,
    name: &str,
) -> Result<()> {
    match nodegroup_owner(cx, group) {
        Owner::ThisResource => Ok(()),
        owner => Err(cx.taken(
            "create",
            &format!("nodegroup {name} of EKS cluster {cluster}"),
            &owner,
            "rename this resource (its name is the nodegroup's name)",
        )),
    }
}

/// Whom the cluster or nodegroup `object` belongs to, or `None` if it is gone.
pub(crate) async fn owner(cx: &Cx<'_>, object: &OwnedObject) -> Result<Option<Owner>> {
    match object.kind.as_str() {
        CLUSTER => Ok(describe_cluster(cx, &object.id, "delete")
            .await?
            .map(|c| cluster_owner(cx, &c))),
        NODEGROUP => {
            let (cluster, name) = object.id.split_once('/').unwrap_or(("", &object.id));
            Ok(describe_nodegroup(cx, cluster, name, "delete")
                .await?
                .map(|g| nodegroup_owner(cx, &g)))
        }
        _ => Ok(None),
    }
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
        return Err(cx.error(
            ErrorClass::Permanent,
            "import",
            format!("`{id}` is not CLUSTER/NODEGROUP"),
        ));
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
    let applied = read_nodegroup(
        cx,
        &request,
        &[OwnedObject {
            kind: NODEGROUP.into(),
            id: id.to_string(),
        }],
    )
    .await?
    .ok_or_else(|| cx.error(ErrorClass::NotFound, "import", format!("no nodegroup {id}")))?;
    Ok((desired, applied))
}
