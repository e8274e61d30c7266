//! Sends each provider call to the module of the resource's kind.

use crate::{acm, eks, iam, route53, vpc, Cx, Owner, Record, Result};
use meshctl_model::record::OwnedObject;
use meshctl_model::{Address, Kind};
use meshctl_provider::{Applied, ErrorClass, Lookup, Progress, Request};
use serde_json::Value;
use std::collections::BTreeMap;

/// The kinds the Kubernetes provider handles, spelled out so that every dispatch here matches
/// `Kind` exhaustively: a new kind does not compile until it is placed in this provider or
/// listed here (`Schema::layer` says which, and a test checks the two agree).
macro_rules! cluster_kinds {
    () => {
        Kind::Namespace
            | Kind::LbController
            | Kind::CertManager
            | Kind::Istio
            | Kind::IngressGateway
            | Kind::Alb
            | Kind::Issuer
            | Kind::Certificate
            | Kind::HelmRelease
            | Kind::Manifest
            | Kind::Gateway
            | Kind::VirtualService
            | Kind::DestinationRule
            | Kind::PeerAuthentication
            | Kind::RequestAuthentication
            | Kind::AuthorizationPolicy
    };
}
pub(crate) use cluster_kinds;

pub(crate) async fn create(
    cx: &Cx<'_>,
    request: &Request<'_>,
    record: Record<'_>,
    progress: &dyn Progress,
) -> Result<Applied> {
    match cx.address.kind {
        Kind::Vpc => vpc::create(cx, request, record, progress).await,
        Kind::EksCluster => eks::create_cluster(cx, request, record, progress).await,
        Kind::Nodegroup => eks::create_nodegroup(cx, request, record, progress).await,
        Kind::IamServiceAccount => iam::create(cx, request, record).await,
        Kind::Route53Zone => route53::create_zone(cx, request, record).await,
        Kind::AcmCertificate => acm::create(cx, request, record, progress).await,
        Kind::DnsRecord => route53::create_record(cx, request, record).await,
        other @ cluster_kinds!() => Err(not_ours(cx, "create", other)),
    }
}

pub(crate) async fn read(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Option<Applied>> {
    match cx.address.kind {
        Kind::Vpc => vpc::read(cx, request, objects).await,
        Kind::EksCluster => eks::read_cluster(cx, request, objects).await,
        Kind::Nodegroup => eks::read_nodegroup(cx, request, objects).await,
        Kind::IamServiceAccount => iam::read(cx, request, objects).await,
        Kind::Route53Zone => route53::read_zone(cx, request, objects).await,
        Kind::AcmCertificate => acm::read(cx, request, objects).await,
        Kind::DnsRecord => route53::read_record(cx, request, objects).await,
        other @ cluster_kinds!() => Err(not_ours(cx, "read", other)),
    }
}

/// Reads several resources of one kind at once where AWS lists them in batches: records by the
/// page of their zone. Other kinds answer none and are read one by one (their describes are by
/// id, few per stack, and not rate-limited).
pub(crate) async fn read_batch(
    cx: &Cx<'_>,
    reads: &[(Request<'_>, &[OwnedObject])],
) -> Result<BTreeMap<Address, Option<Applied>>> {
    match cx.address.kind {
        Kind::DnsRecord => route53::read_records(cx, reads).await,
        Kind::Vpc
        | Kind::EksCluster
        | Kind::Nodegroup
        | Kind::IamServiceAccount
        | Kind::Route53Zone
        | Kind::AcmCertificate
        | cluster_kinds!() => Ok(BTreeMap::new()),
    }
}

/// Finds a resource the stack uses but does not manage: an existing zone or VPC.
pub(crate) async fn lookup(cx: &Cx<'_>, request: &Request<'_>) -> Result<Lookup> {
    match cx.address.kind {
        Kind::Route53Zone => route53::lookup_zone(cx, request).await,
        Kind::Vpc => vpc::lookup(cx, request).await,
        other => Err(not_ours(cx, "lookup", other)),
    }
}

pub(crate) async fn update(
    cx: &Cx<'_>,
    request: &Request<'_>,
    prior: &Value,
    objects: &[OwnedObject],
    record: Record<'_>,
    progress: &dyn Progress,
) -> Result<Applied> {
    match cx.address.kind {
        Kind::Vpc => vpc::update(cx, request, objects).await,
        Kind::EksCluster => {
            eks::update_cluster(cx, request, prior, objects, record, progress).await
        }
        Kind::Nodegroup => eks::update_nodegroup(cx, request, objects, progress).await,
        Kind::IamServiceAccount => iam::update(cx, request, objects).await,
        Kind::Route53Zone => route53::read_zone(cx, request, objects)
            .await?
            .ok_or_else(|| cx.error(ErrorClass::NotFound, "update", "the hosted zone is gone")),
        Kind::AcmCertificate => acm::update(cx, request, objects).await,
        Kind::DnsRecord => route53::update_record(cx, request, objects, record).await,
        other @ cluster_kinds!() => Err(not_ours(cx, "update", other)),
    }
}

pub(crate) async fn delete(
    cx: &Cx<'_>,
    objects: &[OwnedObject],
    progress: &dyn Progress,
) -> Result<()> {
    if cx.address.kind == Kind::AcmCertificate {
        return acm::delete(cx, objects, progress).await;
    }
    // Objects are deleted newest first: what was created last depends on what came before.
    for object in objects.iter().rev() {
        if let Some(owner) = foreign_owner(cx, object).await? {
            progress.update(
                cx.address,
                &format!(
                    "leaving {} {} alone: it belongs to {}",
                    object.kind,
                    object.id,
                    owner.describe()
                ),
            );
            continue;
        }
        progress.update(
            cx.address,
            &format!("deleting {} {}", object.kind, object.id),
        );
        let deleted = match object.kind.as_str() {
            k if k.starts_with("ec2:") => vpc::delete_object(cx, object, progress).await,
            k if k.starts_with("eks:") => eks::delete_object(cx, object, progress).await,
            k if k.starts_with("iam:") => iam::delete_object(cx, object).await,
            "route53:hosted-zone" => route53::delete_zone(cx, object).await,
            "route53:record" => route53::delete_record_object(cx, object).await,
            other => Err(cx
                .error(
                    ErrorClass::Permanent,
                    "delete",
                    format!("unknown object kind `{other}` in state"),
                )
                .with_help("the state was probably written by a newer meshctl: run that version")),
        };
        match deleted {
            Err(e) if e.class == ErrorClass::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// The owner of a recorded object whose tags name another stack or resource. Objects named by
/// the stack (roles, clusters, nodegroups) are recorded before they are made, so a record can
/// hold a name someone else took meanwhile; deleting never reaches past those tags. Untagged
/// objects stay deletable: an import records hand-made objects as they are. Objects
/// AWS names (VPC parts, zones, certificates) cannot collide and are not looked up.
async fn foreign_owner(cx: &Cx<'_>, object: &OwnedObject) -> Result<Option<Owner>> {
    let owner = match object.kind.as_str() {
        k if k.starts_with("eks:") => eks::owner(cx, object).await?,
        k if k.starts_with("iam:") => iam::owner(cx, object).await?,
        _ => None,
    };
    Ok(owner.filter(|o| matches!(o, Owner::Other { .. })))
}

pub(crate) async fn sweep(
    cx: &Cx<'_>,
    keep: &[OwnedObject],
    progress: &dyn Progress,
) -> Result<()> {
    let found = match cx.address.kind {
        Kind::Vpc => vpc::find_tagged(cx).await?,
        Kind::EksCluster => eks::find_cluster_objects(cx).await?,
        Kind::Nodegroup => eks::find_nodegroup_objects(cx).await?,
        Kind::IamServiceAccount => iam::find_role_objects(cx, &iam::irsa_role_name(cx)).await?,
        Kind::Route53Zone => route53::find_zone_objects(cx).await?,
        Kind::AcmCertificate => acm::find_tagged(cx).await?,
        // Records are named by the stack: recorded before they are written.
        Kind::DnsRecord | cluster_kinds!() => Vec::new(),
    };
    let orphans: Vec<OwnedObject> = found.into_iter().filter(|o| !keep.contains(o)).collect();
    if orphans.is_empty() {
        return Ok(());
    }
    progress.update(
        cx.address,
        &format!(
            "removing {} object(s) an interrupted run left behind",
            orphans.len()
        ),
    );
    delete(cx, &orphans, progress).await
}

/// `meshctl import`: the object `id` names and what it owns (each kind's module finds them),
/// refused when its tags give it to another stack or resource, then read as the stack's resource
/// describes it, so that the record holds the stack's fields with the live values in their place
/// and the next plan shows exactly where they differ. Nothing is written to AWS: the tags come
/// with the first apply's update.
pub(crate) async fn import(
    cx: &Cx<'_>,
    request: &Request<'_>,
    id: &str,
) -> Result<(Value, Applied)> {
    let (found, imported) = match cx.address.kind {
        Kind::Vpc => vpc::import(cx, request, id).await?,
        Kind::EksCluster => eks::import_cluster(cx, request, id).await?,
        Kind::Nodegroup => eks::import_nodegroup(cx, id).await?,
        Kind::IamServiceAccount => iam::import(cx, id).await?,
        Kind::Route53Zone => route53::import_zone(cx, id).await?,
        Kind::AcmCertificate => acm::import(cx, id).await?,
        Kind::DnsRecord => route53::import_record(cx, id).await?,
        other @ cluster_kinds!() => return Err(not_ours(cx, "import", other)),
    };
    for object in &imported.objects {
        if let Some(owner) = import_owner(cx, object).await? {
            return Err(owned_elsewhere(cx, object, &owner));
        }
    }
    // Without the stack's fields (a bare provider call) the object is recorded as it is.
    let Some(stack_fields) = request.desired.as_object().filter(|f| !f.is_empty()) else {
        return Ok((found, imported));
    };
    let applied = read(cx, request, &imported.objects).await?.ok_or_else(|| {
        cx.error(
            ErrorClass::NotFound,
            "import",
            format!("{id} disappeared while it was being read"),
        )
    })?;
    let mut recorded = Value::Object(stack_fields.clone());
    overlay(&mut recorded, &applied.live);
    Ok((recorded, applied))
}

/// `base` with every field of `live` in its place, recursively: the fields the read does not
/// report (timeouts, references) keep the stack's values.
fn overlay(base: &mut Value, live: &Value) {
    match (base, live) {
        (Value::Object(base), Value::Object(live)) => {
            for (key, value) in live {
                match base.get_mut(key) {
                    Some(existing) => overlay(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, live) => *base = live.clone(),
    }
}

/// The owner of an object being imported whose tags give it to another stack, or to another
/// resource of this one; `None` for objects made by hand (no tags) or tagged with this very
/// resource (a state that lost its record).
async fn import_owner(cx: &Cx<'_>, object: &OwnedObject) -> Result<Option<Owner>> {
    let owner = match object.kind.as_str() {
        k if k.starts_with("eks:") => eks::owner(cx, object).await?,
        k if k.starts_with("iam:") => iam::owner(cx, object).await?,
        vpc::VPC => vpc::owner(cx, &object.id).await?,
        acm::CERTIFICATE => acm::owner(cx, &object.id).await?,
        route53::ZONE => Some(route53::zone_owner(cx, &object.id).await?),
        _ => None,
    };
    Ok(owner.filter(|o| matches!(o, Owner::Other { .. })))
}

/// The refusal to import what another stack (or another resource) owns.
fn owned_elsewhere(
    cx: &Cx<'_>,
    object: &OwnedObject,
    owner: &Owner,
) -> meshctl_provider::ProviderError {
    let (stack, address) = match owner {
        Owner::Other { stack, address } => (
            stack.as_deref().unwrap_or("?").to_string(),
            address.as_deref().unwrap_or("its resource").to_string(),
        ),
        _ => ("?".to_string(), "its resource".to_string()),
    };
    cx.error(
        ErrorClass::Permanent,
        "import",
        format!(
            "{} {} belongs to {} (its meshctl:stack and meshctl:address tags); one stack manages each object",
            object.kind,
            object.id,
            owner.describe()
        ),
    )
    .with_help(format!(
        "to move it here, first forget it in stack `{stack}` (`meshctl state rm {address} -f ITS_STACK`, which leaves the object) and then import it again; nothing was recorded"
    ))
}

fn not_ours(cx: &Cx<'_>, operation: &'static str, kind: Kind) -> meshctl_provider::ProviderError {
    cx.error(
        ErrorClass::Permanent,
        operation,
        format!("the AWS provider does not handle {kind}"),
    )
}
