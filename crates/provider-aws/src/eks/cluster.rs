//! `eks_cluster`: the cluster role, the cluster, endpoint access, logging, the IAM OIDC provider
//! for IRSA, and in-place version upgrades one minor at a time.

use super::{policies, CLUSTER, CLUSTER_POLICIES, CLUSTER_TIMEOUT, POLL};
use crate::iam::{self, service_trust};
use crate::{optional, sdk_error, Cx, Owner, Record, Result};
use aws_sdk_eks::types::{
    ClusterStatus, LogSetup, LogType as EksLogType, Logging, VpcConfigRequest,
};
use meshctl_model::kinds::aws::{EksCluster, LogType};
use meshctl_model::record::OwnedObject;
use meshctl_model::Kind;
use meshctl_provider::{Applied, ErrorClass, Progress, Request};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

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
        let cluster = describe_cluster(cx, &name, "create").await?;
        let issuer = cluster.as_ref().and_then(issuer_of).ok_or_else(|| {
            cx.error(
                ErrorClass::Retryable,
                "create",
                format!("cluster {name} has no OIDC issuer yet"),
            )
        })?;
        let expected = cluster
            .as_ref()
            .and_then(|c| c.arn())
            .and_then(|arn| iam::oidc_provider_arn(arn, &issuer));
        progress.update(cx.address, "creating the IAM OIDC provider for IRSA");
        let arn =
            iam::create_oidc_provider(cx, &issuer, expected.as_deref(), "create", record).await?;
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

/// The cluster's OIDC issuer URL, once EKS has made it.
fn issuer_of(cluster: &aws_sdk_eks::types::Cluster) -> Option<String> {
    cluster
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .map(str::to_string)
}

/// Whom a cluster belongs to, by its tags.
fn cluster_owner(cx: &Cx<'_>, cluster: &aws_sdk_eks::types::Cluster) -> Owner {
    super::owner_by_tags(cx, cluster.tags())
}

fn ensure_cluster_ours(
    cx: &Cx<'_>,
    cluster: &aws_sdk_eks::types::Cluster,
    name: &str,
) -> Result<()> {
    super::ensure_ours(
        cx,
        cluster_owner(cx, cluster),
        &format!("EKS cluster {name}"),
        "give this cluster another name (`cluster_name:`, or rename the resource)",
        name,
    )
}
pub(super) async fn describe_cluster(
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
    record: Record<'_>,
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
                return Err(cx
                    .error(
                        ErrorClass::Permanent,
                        "update",
                        format!("cannot upgrade cluster {name} from {current} to {}: EKS upgrades one minor version at a time and never downgrades", spec.version),
                    )
                    .with_help(format!("set `version:` to the next minor version after {current} and apply, then the one after, up to {}", spec.version)))
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
        (true, provider) => {
            // A recorded provider may never have been made: an earlier run recorded it and was
            // killed before creating it.
            let made = match provider {
                Some(index) => iam::find_oidc_providers(cx, false)
                    .await?
                    .contains(&objects[index].id),
                None => false,
            };
            if !made {
                let issuer = issuer_of(&live).unwrap_or_default();
                let expected = live
                    .arn()
                    .and_then(|arn| iam::oidc_provider_arn(arn, &issuer));
                progress.update(cx.address, "creating the IAM OIDC provider for IRSA");
                let arn =
                    iam::create_oidc_provider(cx, &issuer, expected.as_deref(), "update", record)
                        .await?;
                let object = OwnedObject {
                    kind: iam::OIDC_PROVIDER.into(),
                    id: arn,
                };
                match provider {
                    Some(index) => objects[index] = object,
                    None => objects.push(object),
                }
            }
        }
        (false, Some(index)) => {
            let object = objects.remove(index);
            iam::delete_object(cx, &object).await?;
        }
        (false, None) => {}
    }
    read_cluster(cx, request, &objects).await?.ok_or_else(|| {
        cx.error(
            ErrorClass::NotFound,
            "update",
            format!("cluster {name} is gone"),
        )
    })
}
/// Deletes the cluster `object` names, waiting until it is gone.
pub(super) async fn delete(
    cx: &Cx<'_>,
    object: &OwnedObject,
    progress: &dyn Progress,
) -> Result<()> {
    let eks = &cx.aws.eks;
    let started = Instant::now();
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

/// Whom the cluster `object` names belongs to, or `None` if it is gone.
pub(super) async fn owner(cx: &Cx<'_>, object: &OwnedObject) -> Result<Option<Owner>> {
    Ok(describe_cluster(cx, &object.id, "delete")
        .await?
        .map(|c| cluster_owner(cx, &c)))
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

/// `meshctl import` of a cluster by its name: the cluster, the IAM OIDC provider of its issuer
/// when one exists, and its role when the stack's resource does not name one (`role_arn`), as a
/// create records them.
pub(crate) async fn import_cluster(
    cx: &Cx<'_>,
    stack: &Request<'_>,
    name: &str,
) -> Result<(Value, Applied)> {
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
    let mut objects = Vec::new();
    let names_role = stack.desired.get("role_arn").is_some_and(|r| !r.is_null());
    if let Some(role) = cluster.role_arn().and_then(|arn| arn.rsplit('/').next()) {
        if stack.desired.is_object() && !names_role {
            objects.push(OwnedObject {
                kind: iam::ROLE.into(),
                id: role.to_string(),
            });
        }
    }
    objects.push(OwnedObject {
        kind: CLUSTER.into(),
        id: name.to_string(),
    });
    let issuer = cluster
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .map(|issuer| issuer.trim_start_matches("https://").to_string());
    if let Some(issuer) = issuer.filter(|i| !i.is_empty()) {
        let suffix = format!("oidc-provider/{issuer}");
        objects.extend(
            iam::find_oidc_providers(cx, false)
                .await?
                .into_iter()
                .filter(|arn| arn.ends_with(&suffix))
                .map(|arn| OwnedObject {
                    kind: iam::OIDC_PROVIDER.into(),
                    id: arn,
                }),
        );
    }
    let applied = read_cluster(cx, &request, &objects).await?.ok_or_else(|| {
        cx.error(
            ErrorClass::NotFound,
            "import",
            format!("no EKS cluster {name}"),
        )
    })?;
    Ok((desired, applied))
}
