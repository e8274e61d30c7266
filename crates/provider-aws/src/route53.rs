//! `route53_zone` (looked up by default, or created and tagged) and `dns_record` (an alias to a
//! load balancer, or values with a TTL). Record changes wait until Route53 reports them INSYNC.

use crate::record_batches::{Checked, Decision, Wanted};
use crate::{optional, Cx, Owner, Record, Result};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeInfo, ChangeStatus, ResourceRecord, ResourceRecordSet,
    RrType, Tag, TagResourceType,
};
use meshctl_model::kinds::aws::{DnsRecord, RecordType, Route53Zone};
use meshctl_model::record::OwnedObject;
use meshctl_model::{Address, Kind};
use meshctl_provider::{Applied, ErrorClass, Lookup, LookupMissing, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(crate) const ZONE: &str = "route53:hosted-zone";
pub(crate) const RECORD: &str = "route53:record";

/// How long a change may take to reach every Route53 name server.
const INSYNC_TIMEOUT: Duration = Duration::from_secs(300);

/// `example.com.` and `Example.com` name the same zone.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Route53 escapes `*` as `\052` in the names it returns.
pub(crate) fn unescape(name: &str) -> String {
    name.replace("\\052", "*")
}

pub(crate) fn zone_id(raw: &str) -> String {
    raw.trim_start_matches("/hostedzone/").to_string()
}

fn build<T>(
    cx: &Cx<'_>,
    operation: &'static str,
    built: Result<T, aws_sdk_route53::error::BuildError>,
) -> Result<T> {
    built.map_err(|e| {
        cx.error(
            ErrorClass::Permanent,
            operation,
            format!("cannot build the Route53 request: {e}"),
        )
    })
}

// ---- zones ---------------------------------------------------------------------------------

/// The zone id and name servers of the public zone named `domain`, if there is one.
pub(crate) async fn find_zone(
    cx: &Cx<'_>,
    domain: &str,
    operation: &'static str,
) -> Result<Option<(String, Vec<String>)>> {
    let found = cx
        .aws
        .route53
        .list_hosted_zones_by_name()
        .dns_name(domain)
        .max_items(10)
        .send()
        .await
        .map_err(cx.sdk(operation, "ListHostedZonesByName"))?;
    let Some(zone) = found
        .hosted_zones()
        .iter()
        .find(|z| same_name(z.name(), domain) && !z.config().is_some_and(|c| c.private_zone()))
    else {
        return Ok(None);
    };
    let id = zone_id(zone.id());
    let servers = name_servers(cx, &id, operation).await?.unwrap_or_default();
    Ok(Some((id, servers)))
}

async fn name_servers(
    cx: &Cx<'_>,
    id: &str,
    operation: &'static str,
) -> Result<Option<Vec<String>>> {
    let found = cx
        .aws
        .route53
        .get_hosted_zone()
        .id(id)
        .send()
        .await
        .map_err(cx.sdk(operation, "GetHostedZone"));
    Ok(optional(found)?.map(|zone| {
        zone.delegation_set()
            .map(|d| d.name_servers().to_vec())
            .unwrap_or_default()
    }))
}

fn zone_applied(
    spec: &Route53Zone,
    id: &str,
    servers: Vec<String>,
    objects: Vec<OwnedObject>,
) -> Applied {
    Applied {
        drifts: Vec::new(),
        objects,
        outputs: BTreeMap::from([
            ("zone_id".to_string(), json!(id)),
            ("name_servers".to_string(), json!(servers)),
        ]),
        live: json!({ "domain": spec.domain.as_str(), "existing": spec.existing }),
    }
}

pub(crate) async fn create_zone(
    cx: &Cx<'_>,
    request: &Request<'_>,
    record: Record<'_>,
) -> Result<Applied> {
    let spec: Route53Zone = cx.spec(request.desired, "create")?;
    let domain = spec.domain.as_str();
    if spec.existing {
        return match find_zone(cx, domain, "create").await? {
            Some((id, servers)) => Ok(zone_applied(&spec, &id, servers, Vec::new())),
            None => Err(missing_zone(cx, domain, "create")),
        };
    }
    if let Some((id, _)) = find_zone(cx, domain, "create").await? {
        // Never taken over, not even one tagged for this resource: a killed create's zone is
        // swept before this create runs, so any zone here is someone else's or a second one.
        let owner = zone_owner(cx, &id).await?;
        return Err(cx
            .error(
                ErrorClass::Permanent,
                "create",
                format!(
                    "a public hosted zone for {domain} already exists ({id}, belonging to {})",
                    owner.describe()
                ),
            )
            .with_help(format!(
                "use it with `existing: true` (looked up, never changed or deleted), or manage it with this stack: meshctl import {} {id} -f STACK; or delete it, or choose another domain",
                cx.address
            )));
    }
    let reference = format!("meshctl-{}-{}", cx.address, unique_suffix());
    let created = cx
        .aws
        .route53
        .create_hosted_zone()
        .name(domain)
        .caller_reference(reference)
        .send()
        .await
        .map_err(cx.sdk("create", "CreateHostedZone"))?;
    let zone = created.hosted_zone().ok_or_else(|| {
        cx.error(
            ErrorClass::Retryable,
            "create",
            "CreateHostedZone returned no zone",
        )
    })?;
    let id = zone_id(zone.id());
    let object = OwnedObject {
        kind: ZONE.into(),
        id: id.clone(),
    };
    record(object.clone());
    tag_zone(cx, &id).await?;
    let servers = created
        .delegation_set()
        .map(|d| d.name_servers().to_vec())
        .unwrap_or_default();
    Ok(zone_applied(&spec, &id, servers, vec![object]))
}

/// Whom a hosted zone belongs to, by its tags.
pub(crate) async fn zone_owner(cx: &Cx<'_>, id: &str) -> Result<Owner> {
    let tags = cx
        .aws
        .route53
        .list_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(id)
        .send()
        .await
        .map_err(cx.sdk("create", "ListTagsForResource"))?;
    Ok(Owner::of(
        cx,
        tags.resource_tag_set()
            .map(|set| set.tags())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value()?))),
    ))
}

pub(crate) async fn tag_zone(cx: &Cx<'_>, id: &str) -> Result<()> {
    let tags: Vec<Tag> = cx
        .tags()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    cx.aws
        .route53
        .change_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(id)
        .set_add_tags(Some(tags))
        .send()
        .await
        .map_err(cx.sdk("create", "ChangeTagsForResource"))?;
    Ok(())
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}")
}

fn missing_zone(
    cx: &Cx<'_>,
    domain: &str,
    operation: &'static str,
) -> meshctl_provider::ProviderError {
    cx.error(
        ErrorClass::Permanent,
        operation,
        format!("no public hosted zone for {domain} exists in this account"),
    )
    .with_help("create it (registrars create one with the domain), or set `existing: false` to let meshctl create it")
}

/// Finds the zone a `route53_zone` with `existing` (the default) names, while planning: a
/// missing zone stops the plan at `domain`.
pub(crate) async fn lookup_zone(cx: &Cx<'_>, request: &Request<'_>) -> Result<Lookup> {
    let spec: Route53Zone = cx.spec(request.desired, "lookup")?;
    let domain = spec.domain.as_str();
    Ok(match find_zone(cx, domain, "lookup").await? {
        Some((id, servers)) => Lookup::Found(zone_applied(&spec, &id, servers, Vec::new())),
        None => Lookup::Missing(LookupMissing {
            field: "domain".to_string(),
            message: format!(
                "no public hosted zone for {domain} exists in this AWS account (Route53 zones are global; the stack's region is {})",
                cx.settings.region
            ),
            help: format!(
                "set `existing: false` to let meshctl create the zone for {domain} (then delegate the domain to its name servers), or create it first, or correct `domain`"
            ),
        }),
    })
}

pub(crate) async fn read_zone(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Option<Applied>> {
    let spec: Route53Zone = cx.spec(request.desired, "read")?;
    match objects.iter().find(|o| o.kind == ZONE) {
        Some(object) => Ok(name_servers(cx, &object.id, "read")
            .await?
            .map(|servers| zone_applied(&spec, &object.id, servers, objects.to_vec()))),
        None => Ok(find_zone(cx, spec.domain.as_str(), "read")
            .await?
            .map(|(id, servers)| zone_applied(&spec, &id, servers, Vec::new()))),
    }
}

pub(crate) async fn delete_zone(cx: &Cx<'_>, object: &OwnedObject) -> Result<()> {
    // Route53 refuses to delete a zone with records; name the ones left instead of deleting
    // records meshctl does not own.
    let sets = list_sets(cx, &object.id, None, "delete").await?;
    let left: Vec<String> = sets
        .iter()
        .filter(|s| !matches!(s.r#type(), RrType::Soa | RrType::Ns))
        .map(|s| format!("{} {}", unescape(s.name()), s.r#type().as_str()))
        .collect();
    if !left.is_empty() {
        return Err(cx
            .error(
                ErrorClass::Permanent,
                "delete",
                format!(
                    "hosted zone {} still holds records meshctl does not manage: {}",
                    object.id,
                    left.join(", ")
                ),
            )
            .with_help(
                "delete them, or remove the zone from state (meshctl state rm) to keep it",
            ));
    }
    cx.aws
        .route53
        .delete_hosted_zone()
        .id(&object.id)
        .send()
        .await
        .map_err(cx.sdk("delete", "DeleteHostedZone"))?;
    Ok(())
}

/// Every hosted zone of the account with its tags; one deleted meanwhile is left out.
pub(crate) async fn zones_with_tags(
    cx: &Cx<'_>,
    operation: &'static str,
) -> Result<Vec<(String, Vec<(String, String)>)>> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = cx
            .aws
            .route53
            .list_hosted_zones()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(cx.sdk(operation, "ListHostedZones"))?;
        for zone in page.hosted_zones() {
            let id = zone_id(zone.id());
            let tags = match cx
                .aws
                .route53
                .list_tags_for_resource()
                .resource_type(TagResourceType::Hostedzone)
                .resource_id(&id)
                .send()
                .await
            {
                Ok(tags) => tags,
                Err(e) => {
                    let error = crate::sdk_error(cx.address, operation, "ListTagsForResource", e);
                    if error.class == ErrorClass::NotFound {
                        continue;
                    }
                    return Err(error);
                }
            };
            let pairs = tags
                .resource_tag_set()
                .map(|set| set.tags())
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            found.push((id, pairs));
        }
        match page.next_marker() {
            Some(next) if page.is_truncated() => marker = Some(next.to_string()),
            _ => return Ok(found),
        }
    }
}

/// Zones tagged with this address (what a killed create left unrecorded).
pub(crate) async fn find_zone_objects(cx: &Cx<'_>) -> Result<Vec<OwnedObject>> {
    Ok(zones_with_tags(cx, "sweep")
        .await?
        .into_iter()
        .filter(|(_, tags)| {
            matches!(
                crate::Owner::of(cx, tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                crate::Owner::ThisResource
            )
        })
        .map(|(id, _)| OwnedObject {
            kind: ZONE.into(),
            id,
        })
        .collect())
}

pub(crate) async fn import_zone(cx: &Cx<'_>, id: &str) -> Result<(Value, Applied)> {
    let zone = cx
        .aws
        .route53
        .get_hosted_zone()
        .id(id)
        .send()
        .await
        .map_err(cx.sdk("import", "GetHostedZone"))?;
    let name = zone
        .hosted_zone()
        .map(|z| z.name().trim_end_matches('.').to_string())
        .unwrap_or_default();
    let spec = Route53Zone {
        domain: meshctl_model::values::DomainName(name),
        existing: false,
    };
    let servers = zone
        .delegation_set()
        .map(|d| d.name_servers().to_vec())
        .unwrap_or_default();
    let id = zone_id(id);
    let applied = zone_applied(
        &spec,
        &id,
        servers,
        vec![OwnedObject {
            kind: ZONE.into(),
            id: id.clone(),
        }],
    );
    Ok((applied.live.clone(), applied))
}

// ---- records -------------------------------------------------------------------------------

/// A record's object id: `ZONEID/name/TYPE`, all that is needed to find it again.
fn record_id(zone: &str, name: &str, kind: &str) -> String {
    format!("{zone}/{}/{kind}", name.trim_end_matches('.'))
}

fn parse_record_id(id: &str) -> Option<(&str, &str, &str)> {
    let (zone, rest) = id.split_once('/')?;
    let (name, kind) = rest.rsplit_once('/')?;
    Some((zone, name, kind))
}

fn rr_type(kind: RecordType) -> RrType {
    match kind {
        RecordType::A => RrType::A,
        RecordType::AAAA => RrType::Aaaa,
        RecordType::CNAME => RrType::Cname,
        RecordType::TXT => RrType::Txt,
        RecordType::MX => RrType::Mx,
    }
}

/// The load balancer an alias points at: its DNS name and canonical hosted zone, from the
/// outputs of `alb.NAME` or `ingress_gateway.NAME`.
fn alias_target(
    cx: &Cx<'_>,
    request: &Request<'_>,
    alias: &str,
    operation: &'static str,
) -> Result<(String, String)> {
    let address = Address::parse(alias).ok_or_else(|| {
        cx.error(
            ErrorClass::Permanent,
            operation,
            format!("alias `{alias}` is not kind.name"),
        )
        .with_help("name the load balancer as `alb.NAME` or `ingress_gateway.NAME`")
    })?;
    let dns_output = if address.kind == Kind::IngressGateway {
        "load_balancer_hostname"
    } else {
        "dns_name"
    };
    let dns = cx.input(request, address.kind, &address.name, dns_output, operation)?;
    let zone = cx.input(
        request,
        address.kind,
        &address.name,
        "canonical_hosted_zone_id",
        operation,
    )?;
    match (dns.as_str(), zone.as_str()) {
        (Some(dns), Some(zone)) if !dns.is_empty() && !zone.is_empty() => {
            Ok((dns.to_string(), zone.to_string()))
        }
        _ => Err(cx.error(
            ErrorClass::Permanent,
            operation,
            format!("{alias} has no load balancer DNS name and hosted zone yet"),
        )),
    }
}

fn zone_of_record(
    cx: &Cx<'_>,
    request: &Request<'_>,
    spec: &DnsRecord,
    operation: &'static str,
) -> Result<String> {
    let zone = cx.input(request, Kind::Route53Zone, &spec.zone, "zone_id", operation)?;
    zone.as_str().map(str::to_string).ok_or_else(|| {
        cx.error(
            ErrorClass::Permanent,
            operation,
            format!("route53_zone.{} has no zone id", spec.zone),
        )
    })
}

/// The record set the spec asks for.
fn desired_set(
    cx: &Cx<'_>,
    request: &Request<'_>,
    spec: &DnsRecord,
    operation: &'static str,
) -> Result<ResourceRecordSet> {
    let mut set = ResourceRecordSet::builder()
        .name(spec.record.as_str())
        .r#type(rr_type(spec.record_type));
    if let Some(alias) = &spec.alias {
        let (dns, zone) = alias_target(cx, request, alias, operation)?;
        set = set.alias_target(build(
            cx,
            operation,
            AliasTarget::builder()
                .dns_name(dns)
                .hosted_zone_id(zone)
                .evaluate_target_health(true)
                .build(),
        )?);
    } else {
        set = set.ttl(i64::from(spec.ttl.unwrap_or(300)));
        for value in &spec.values {
            set = set.resource_records(build(
                cx,
                operation,
                ResourceRecord::builder().value(value).build(),
            )?);
        }
    }
    build(cx, operation, set.build())
}

/// Record sets of a zone, from `start` (name, type) on, or all of them.
pub(crate) async fn list_sets(
    cx: &Cx<'_>,
    zone: &str,
    start: Option<(&str, RrType)>,
    operation: &'static str,
) -> Result<Vec<ResourceRecordSet>> {
    let mut sets = Vec::new();
    let one_page = start.is_some();
    let mut next: Option<(String, RrType)> = start.map(|(n, t)| (n.to_string(), t));
    loop {
        let mut call = cx
            .aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone);
        if let Some((name, kind)) = &next {
            call = call.start_record_name(name).start_record_type(kind.clone());
        }
        let page = call
            .send()
            .await
            .map_err(cx.sdk(operation, "ListResourceRecordSets"))?;
        sets.extend(page.resource_record_sets().iter().cloned());
        if one_page || !page.is_truncated() {
            return Ok(sets);
        }
        match (page.next_record_name(), page.next_record_type()) {
            (Some(name), Some(kind)) => next = Some((name.to_string(), kind.clone())),
            _ => return Ok(sets),
        }
    }
}

/// The live record set `name`/`kind` in `zone`, if it exists.
pub(crate) async fn find_set(
    cx: &Cx<'_>,
    zone: &str,
    name: &str,
    kind: &RrType,
    operation: &'static str,
) -> Result<Option<ResourceRecordSet>> {
    let sets = match list_sets(cx, zone, Some((name, kind.clone())), operation).await {
        Err(e) if e.class == ErrorClass::NotFound => return Ok(None),
        other => other?,
    };
    Ok(sets
        .into_iter()
        .find(|s| same_name(&unescape(s.name()), name) && s.r#type() == kind))
}

/// One change of a record set, for a change batch.
fn set_change(
    cx: &Cx<'_>,
    action: ChangeAction,
    set: ResourceRecordSet,
    operation: &'static str,
) -> Result<Change> {
    build(
        cx,
        operation,
        Change::builder()
            .action(action)
            .resource_record_set(set)
            .build(),
    )
}

/// Writes `set` in `zone` whatever is there (an UPSERT), in the zone's next change batch.
pub(crate) async fn upsert(
    cx: &Cx<'_>,
    zone: &str,
    set: ResourceRecordSet,
    operation: &'static str,
) -> Result<()> {
    let upsert = set_change(cx, ChangeAction::Upsert, set.clone(), operation)?;
    cx.aws
        .record_batches
        .change(cx, zone, Wanted::Upsert(set), operation, |_| {
            Ok((Decision::Send(Box::new(upsert)), ()))
        })
        .await
}

/// Waits until the change Route53 answered with (`info`) has reached every name server.
pub(crate) async fn wait_insync(
    cx: &Cx<'_>,
    info: &ChangeInfo,
    operation: &'static str,
) -> Result<()> {
    let (id, mut status) = (info.id().to_string(), info.status().clone());
    let deadline = Instant::now() + INSYNC_TIMEOUT;
    while status != ChangeStatus::Insync {
        if Instant::now() > deadline {
            return Err(cx.error(
                ErrorClass::Retryable,
                operation,
                format!(
                    "Route53 change {id} is still {} after {}s",
                    status.as_str(),
                    INSYNC_TIMEOUT.as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        status = cx
            .aws
            .route53
            .get_change()
            .id(&id)
            .send()
            .await
            .map_err(cx.sdk(operation, "GetChange"))?
            .change_info()
            .map(|c| c.status().clone())
            .unwrap_or(ChangeStatus::Insync);
    }
    Ok(())
}

/// Whether a live set already says what the desired one says (an earlier attempt wrote it).
fn same_set(live: &ResourceRecordSet, want: &ResourceRecordSet) -> bool {
    let targets = |s: &ResourceRecordSet| {
        s.alias_target()
            .map(|a| (normal_dns(a.dns_name()), a.hosted_zone_id().to_string()))
    };
    let values = |s: &ResourceRecordSet| -> Vec<String> {
        s.resource_records()
            .iter()
            .map(|r| r.value().to_string())
            .collect()
    };
    // Aliases have no TTL of their own (some APIs report 0).
    let ttl = |s: &ResourceRecordSet| s.alias_target().map_or(s.ttl(), |_| None);
    targets(live) == targets(want) && values(live) == values(want) && ttl(live) == ttl(want)
}

/// A record set's answer in words: `alias to X` or its values.
fn describe_set(set: &ResourceRecordSet) -> String {
    match set.alias_target() {
        Some(target) => format!("alias to {}", normal_dns(target.dns_name())),
        None => set
            .resource_records()
            .iter()
            .map(|r| r.value())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// ELB DNS names come back lower-cased, with a trailing dot and sometimes `dualstack.`.
fn normal_dns(name: &str) -> String {
    name.trim_end_matches('.')
        .trim_start_matches("dualstack.")
        .to_ascii_lowercase()
}

fn record_live(
    spec: &DnsRecord,
    set: &ResourceRecordSet,
    request: &Request<'_>,
    cx: &Cx<'_>,
) -> Value {
    let mut live = json!({
        "zone": spec.zone,
        "record": unescape(set.name()).trim_end_matches('.'),
        "type": set.r#type().as_str(),
    });
    if let Some(target) = set.alias_target() {
        // The alias names a load balancer by address; it still holds when the live target is
        // that balancer's DNS name, and otherwise the live DNS name shows where it points now.
        let expected = spec
            .alias
            .as_deref()
            .and_then(|alias| alias_target(cx, request, alias, "read").ok());
        let points_there =
            expected.is_some_and(|(dns, _)| normal_dns(&dns) == normal_dns(target.dns_name()));
        live["alias"] = match (&spec.alias, points_there) {
            (Some(alias), true) => json!(alias),
            _ => json!(normal_dns(target.dns_name())),
        };
    } else {
        let values: Vec<&str> = set.resource_records().iter().map(|r| r.value()).collect();
        live["values"] = json!(values);
        live["ttl"] = json!(set.ttl());
    }
    live
}

fn record_applied(
    spec: &DnsRecord,
    set: &ResourceRecordSet,
    object: OwnedObject,
    request: &Request<'_>,
    cx: &Cx<'_>,
) -> Applied {
    Applied {
        drifts: Vec::new(),
        objects: vec![object],
        outputs: BTreeMap::from([(
            "fqdn".to_string(),
            json!(spec.record.as_str().trim_end_matches('.')),
        )]),
        live: record_live(spec, set, request, cx),
    }
}

pub(crate) async fn create_record(
    cx: &Cx<'_>,
    request: &Request<'_>,
    record: Record<'_>,
) -> Result<Applied> {
    let spec: DnsRecord = cx.spec(request.desired, "create")?;
    let zone = zone_of_record(cx, request, &spec, "create")?;
    let want = desired_set(cx, request, &spec, "create")?;
    let object = OwnedObject {
        kind: RECORD.into(),
        id: record_id(&zone, spec.record.as_str(), want.r#type().as_str()),
    };
    let decide = |live: Checked| {
        match live {
        // Route53 records carry no tags, so nothing says who wrote one. A record that already
        // says exactly what this resource wants (an earlier attempt of this call, or the same
        // answer written elsewhere) is adopted: DNS does not change. Any other value is someone
        // else's answer, and overwriting it (an UPSERT) would take it over: refused, as
        // Route53's own CREATE and Terraform's aws_route53_record without allow_overwrite do.
        Some(live) if same_set(&live, &want) => {
            record(object.clone());
            Ok((Decision::Nothing, ()))
        }
        Some(live) => Err(cx
            .error(
                ErrorClass::Permanent,
                "create",
                format!(
                    "{} {} already exists in zone {zone} with other values ({}); meshctl does not overwrite a record it did not write",
                    spec.record,
                    want.r#type().as_str(),
                    describe_set(&live),
                ),
            )
            .with_help(format!(
                "choose another record name for {}, or delete the existing record; to manage it with this stack instead: meshctl import {} {} -f STACK",
                cx.address,
                cx.address,
                record_id(&zone, spec.record.as_str(), want.r#type().as_str()),
            ))),
        None => {
            // Recorded before it is written: the name is ours to find and delete if we are killed.
            record(object.clone());
            Ok((
                Decision::Send(Box::new(set_change(
                    cx,
                    ChangeAction::Create,
                    want.clone(),
                    "create",
                )?)),
                (),
            ))
        }
    }
    };
    cx.aws
        .record_batches
        .change(cx, &zone, Wanted::Create(want.clone()), "create", decide)
        .await?;
    Ok(record_applied(&spec, &want, object, request, cx))
}

pub(crate) async fn update_record(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
    record: Record<'_>,
) -> Result<Applied> {
    let spec: DnsRecord = cx.spec(request.desired, "update")?;
    let zone = match objects.iter().find_map(|o| parse_record_id(&o.id)) {
        Some((zone, _, _)) => zone.to_string(),
        None => zone_of_record(cx, request, &spec, "update")?,
    };
    let want = desired_set(cx, request, &spec, "update")?;
    let object = OwnedObject {
        kind: RECORD.into(),
        id: record_id(&zone, spec.record.as_str(), want.r#type().as_str()),
    };
    // The UPSERT writes the record set if it is missing: one state does not know yet is
    // recorded before it is written, as a create does.
    if !objects.contains(&object) {
        record(object.clone());
    }
    upsert(cx, &zone, want.clone(), "update").await?;
    Ok(record_applied(&spec, &want, object, request, cx))
}

pub(crate) async fn read_record(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Option<Applied>> {
    let spec: DnsRecord = cx.spec(request.desired, "read")?;
    let Some(object) = objects.iter().find(|o| o.kind == RECORD) else {
        return Ok(None);
    };
    let Some((zone, name, kind)) = parse_record_id(&object.id) else {
        return Err(cx
            .error(
                ErrorClass::Permanent,
                "read",
                format!(
                    "bad record id `{}` in state: it is not ZONEID/NAME/TYPE",
                    object.id
                ),
            )
            .with_help("the state was probably written by a newer meshctl: run that version"));
    };
    let kind = RrType::from(kind);
    Ok(find_set(cx, zone, name, &kind, "read")
        .await?
        .map(|set| record_applied(&spec, &set, object.clone(), request, cx)))
}

/// Reads many `dns_record`s with one paged listing of each zone they live in
/// (`ListResourceRecordSets`, 300 record sets a page) instead of one call each, matching the
/// record sets locally as `find_set` does. A read whose fields or record id cannot be used is
/// left out, for `read_record` to say what is wrong with it; a zone that is gone answers `None`
/// for every record in it. Nothing is kept: every call lists afresh.
pub(crate) async fn read_records(
    cx: &Cx<'_>,
    reads: &[(Request<'_>, &[OwnedObject])],
) -> Result<BTreeMap<Address, Option<Applied>>> {
    struct Wanted<'r> {
        request: &'r Request<'r>,
        spec: DnsRecord,
        object: &'r OwnedObject,
        key: (String, String),
    }
    let mut answers = BTreeMap::new();
    let mut by_zone: BTreeMap<&str, Vec<Wanted<'_>>> = BTreeMap::new();
    for (request, objects) in reads {
        if request.address.kind != Kind::DnsRecord {
            continue;
        }
        let record_cx = Cx {
            address: request.address,
            ..*cx
        };
        let Ok(spec) = record_cx.spec::<DnsRecord>(request.desired, "read") else {
            continue;
        };
        let Some(object) = objects.iter().find(|o| o.kind == RECORD) else {
            answers.insert(request.address.clone(), None);
            continue;
        };
        let Some((zone, name, kind)) = parse_record_id(&object.id) else {
            continue;
        };
        by_zone.entry(zone).or_default().push(Wanted {
            request,
            spec,
            object,
            key: set_key(name, kind),
        });
    }
    for (zone, wanted) in by_zone {
        let Some(first) = wanted.first() else {
            continue;
        };
        // A listing that fails is this zone's first record's error, as its own read's would be.
        let listing_cx = Cx {
            address: first.request.address,
            ..*cx
        };
        let sets = match list_sets(&listing_cx, zone, None, "read").await {
            Err(e) if e.class == ErrorClass::NotFound => Vec::new(),
            other => other?,
        };
        // The first set of a name and type, as `find_set` takes it.
        let mut live: BTreeMap<(String, String), &ResourceRecordSet> = BTreeMap::new();
        for set in &sets {
            live.entry(set_key(&unescape(set.name()), set.r#type().as_str()))
                .or_insert(set);
        }
        for want in &wanted {
            let record_cx = Cx {
                address: want.request.address,
                ..*cx
            };
            let found = live.get(&want.key).map(|set| {
                record_applied(
                    &want.spec,
                    set,
                    want.object.clone(),
                    want.request,
                    &record_cx,
                )
            });
            answers.insert(want.request.address.clone(), found);
        }
    }
    Ok(answers)
}

/// What identifies a record set in a zone, spelled as `same_name` compares names: no trailing
/// dot, any case.
pub(crate) fn set_key(name: &str, kind: &str) -> (String, String) {
    (
        name.trim_end_matches('.').to_ascii_lowercase(),
        kind.to_string(),
    )
}

pub(crate) async fn delete_record_object(cx: &Cx<'_>, object: &OwnedObject) -> Result<()> {
    let Some((zone, name, kind)) = parse_record_id(&object.id) else {
        return Err(cx
            .error(
                ErrorClass::Permanent,
                "delete",
                format!(
                    "bad record id `{}` in state: it is not ZONEID/NAME/TYPE",
                    object.id
                ),
            )
            .with_help("the state was probably written by a newer meshctl: run that version"));
    };
    // DELETE must repeat the record exactly as it is now.
    let wanted = Wanted::Delete {
        name: name.to_string(),
        kind: RrType::from(kind),
    };
    cx.aws
        .record_batches
        .change(cx, zone, wanted, "delete", |live| match live {
            Some(live) => Ok((
                Decision::Send(Box::new(set_change(
                    cx,
                    ChangeAction::Delete,
                    live,
                    "delete",
                )?)),
                (),
            )),
            None => Ok((Decision::Nothing, ())),
        })
        .await
}

pub(crate) async fn import_record(cx: &Cx<'_>, id: &str) -> Result<(Value, Applied)> {
    let Some((zone, name, kind)) = parse_record_id(id) else {
        return Err(cx
            .error(
                ErrorClass::Permanent,
                "import",
                format!("`{id}` is not a record id"),
            )
            .with_help("give it as ZONEID/NAME/TYPE, e.g. Z123/www.example.com/A"));
    };
    let set = find_set(cx, zone, name, &RrType::from(kind), "import")
        .await?
        .ok_or_else(|| {
            cx.error(
                ErrorClass::NotFound,
                "import",
                format!("no {kind} record {name} in zone {zone}"),
            )
        })?;
    let values: Vec<String> = set
        .resource_records()
        .iter()
        .map(|r| r.value().to_string())
        .collect();
    let desired = json!({
        "zone": "",
        "record": name,
        "type": kind,
        "values": values,
        "ttl": set.ttl(),
    });
    let object = OwnedObject {
        kind: RECORD.into(),
        id: record_id(zone, name, kind),
    };
    Ok((
        desired.clone(),
        Applied {
            drifts: Vec::new(),
            objects: vec![object],
            outputs: BTreeMap::from([("fqdn".to_string(), json!(name))]),
            live: desired,
        },
    ))
}
