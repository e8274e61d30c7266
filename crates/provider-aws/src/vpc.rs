//! `vpc`: a VPC with one public and one private subnet per availability zone (tagged for the load
//! balancer controller), an internet gateway, NAT gateways and route tables; or an existing VPC,
//! only read. Every object is tagged with the stack and address at creation, so a killed run's
//! leftovers are found by tag.

use crate::{optional, sdk_error, Cx, Record, Result, TAG_ADDRESS, TAG_STACK};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, ResourceType, Subnet, Tag, TagSpecification,
};
use meshctl_model::kinds::aws::{Azs, NatMode, Vpc};
use meshctl_model::record::OwnedObject;
use meshctl_provider::{Applied, ErrorClass, Lookup, LookupMissing, Progress, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub(crate) const VPC: &str = "ec2:vpc";
const SUBNET: &str = "ec2:subnet";
const INTERNET_GATEWAY: &str = "ec2:internet-gateway";
const ROUTE_TABLE: &str = "ec2:route-table";
const ELASTIC_IP: &str = "ec2:elastic-ip";
const NAT_GATEWAY: &str = "ec2:nat-gateway";

/// Subnet tags the AWS Load Balancer Controller uses to pick subnets for balancers.
const ELB_ROLE: &str = "kubernetes.io/role/elb";
const INTERNAL_ELB_ROLE: &str = "kubernetes.io/role/internal-elb";

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tags_for(
    cx: &Cx<'_>,
    kind: ResourceType,
    name: &str,
    extra: &[(&str, &str)],
    user: &BTreeMap<String, String>,
) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    for (k, v) in cx.tags() {
        spec = spec.tags(tag(&k, &v));
    }
    spec = spec.tags(tag("Name", name));
    for (k, v) in extra {
        spec = spec.tags(tag(k, v));
    }
    for (k, v) in user {
        spec = spec.tags(tag(k, v));
    }
    spec.build()
}

fn ours_filters(cx: &Cx<'_>) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_ADDRESS}"))
            .values(cx.address.to_string())
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_STACK}"))
            .values(&cx.settings.stack)
            .build(),
    ]
}

/// The n-th block of `prefix` bits inside `base`/`base_prefix`.
fn carve(base: Ipv4Addr, prefix: u8, index: usize) -> String {
    let size = 1u64 << (32 - u32::from(prefix));
    let start = u64::from(u32::from(base)) + size * index as u64;
    format!("{}/{prefix}", Ipv4Addr::from(start as u32))
}

async fn zones(cx: &Cx<'_>, azs: Option<&Azs>) -> Result<Vec<String>> {
    if let Some(Azs::Names(names)) = azs {
        return Ok(names.clone());
    }
    let count = match azs {
        Some(Azs::Count(n)) => usize::from(*n),
        _ => 3,
    };
    let found = cx
        .aws
        .ec2
        .describe_availability_zones()
        .filters(Filter::builder().name("state").values("available").build())
        .send()
        .await
        .map_err(cx.sdk("create", "DescribeAvailabilityZones"))?;
    let mut names: Vec<String> = found
        .availability_zones()
        .iter()
        .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    names.sort();
    if names.len() < count {
        return Err(cx
            .error(
                ErrorClass::Permanent,
                "create",
                format!(
                    "region {} has {} availability zones, the stack asks for {count}",
                    cx.settings.region,
                    names.len()
                ),
            )
            .with_help(format!("set `azs:` to {} or fewer", names.len())));
    }
    names.truncate(count);
    Ok(names)
}

pub(crate) async fn create(
    cx: &Cx<'_>,
    request: &Request<'_>,
    record: Record<'_>,
    progress: &dyn Progress,
) -> Result<Applied> {
    let spec: Vpc = cx.spec(request.desired, "create")?;
    if spec.existing.is_some() {
        return read(cx, request, &[]).await?.ok_or_else(|| {
            cx.error(
                ErrorClass::Permanent,
                "create",
                "the existing VPC was not found",
            )
        });
    }
    let cidr = spec
        .cidr
        .as_ref()
        .map(|c| c.as_str().to_string())
        .unwrap_or_default();
    let (base, _) = meshctl_model::values::parse_cidr(&cidr).ok_or_else(|| {
        cx.error(
            ErrorClass::Permanent,
            "create",
            format!("`{cidr}` is not a CIDR block"),
        )
    })?;
    let zones = zones(cx, spec.azs.as_ref()).await?;
    let name = cx.name("", 255);
    let ec2 = &cx.aws.ec2;
    let mut objects = Vec::new();
    let keep = |object: OwnedObject, objects: &mut Vec<OwnedObject>| {
        record(object.clone());
        objects.push(object);
    };

    progress.update(cx.address, &format!("creating VPC {cidr}"));
    let vpc = ec2
        .create_vpc()
        .cidr_block(&cidr)
        .tag_specifications(tags_for(cx, ResourceType::Vpc, &name, &[], &spec.tags))
        .send()
        .await
        .map_err(cx.sdk("create", "CreateVpc"))?;
    let vpc_id = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap_or_default()
        .to_string();
    keep(
        OwnedObject {
            kind: VPC.into(),
            id: vpc_id.clone(),
        },
        &mut objects,
    );
    // EKS nodes need DNS names inside the VPC.
    for attribute in ["support", "hostnames"] {
        let call = ec2.modify_vpc_attribute().vpc_id(&vpc_id);
        let call = if attribute == "support" {
            call.enable_dns_support(AttributeBooleanValue::builder().value(true).build())
        } else {
            call.enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        };
        call.send()
            .await
            .map_err(cx.sdk("create", "ModifyVpcAttribute"))?;
    }

    let prefix = spec.subnets.prefix_length;
    let mut public = Vec::new();
    let mut private = Vec::new();
    let mut index = 0;
    for (tier, enabled, role) in [
        ("public", spec.subnets.public, ELB_ROLE),
        ("private", spec.subnets.private, INTERNAL_ELB_ROLE),
    ] {
        if !enabled {
            continue;
        }
        for zone in &zones {
            let block = carve(base, prefix, index);
            index += 1;
            progress.update(
                cx.address,
                &format!("creating {tier} subnet {block} in {zone}"),
            );
            let subnet = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(&block)
                .availability_zone(zone)
                .tag_specifications(tags_for(
                    cx,
                    ResourceType::Subnet,
                    &format!("{name}-{tier}-{zone}"),
                    &[(role, "1")],
                    &spec.tags,
                ))
                .send()
                .await
                .map_err(cx.sdk("create", "CreateSubnet"))?;
            let id = subnet
                .subnet()
                .and_then(|s| s.subnet_id())
                .unwrap_or_default()
                .to_string();
            keep(
                OwnedObject {
                    kind: SUBNET.into(),
                    id: id.clone(),
                },
                &mut objects,
            );
            if tier == "public" {
                ec2.modify_subnet_attribute()
                    .subnet_id(&id)
                    .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                    .send()
                    .await
                    .map_err(cx.sdk("create", "ModifySubnetAttribute"))?;
                public.push(id);
            } else {
                private.push(id);
            }
        }
    }

    if !public.is_empty() {
        progress.update(
            cx.address,
            "creating the internet gateway and public routes",
        );
        let igw = ec2
            .create_internet_gateway()
            .tag_specifications(tags_for(
                cx,
                ResourceType::InternetGateway,
                &name,
                &[],
                &spec.tags,
            ))
            .send()
            .await
            .map_err(cx.sdk("create", "CreateInternetGateway"))?;
        let igw_id = igw
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_string();
        keep(
            OwnedObject {
                kind: INTERNET_GATEWAY.into(),
                id: igw_id.clone(),
            },
            &mut objects,
        );
        ec2.attach_internet_gateway()
            .internet_gateway_id(&igw_id)
            .vpc_id(&vpc_id)
            .send()
            .await
            .map_err(cx.sdk("create", "AttachInternetGateway"))?;
        let table = route_table(cx, &vpc_id, &format!("{name}-public"), &spec.tags).await?;
        keep(
            OwnedObject {
                kind: ROUTE_TABLE.into(),
                id: table.clone(),
            },
            &mut objects,
        );
        ec2.create_route()
            .route_table_id(&table)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&igw_id)
            .send()
            .await
            .map_err(cx.sdk("create", "CreateRoute"))?;
        for subnet in &public {
            ec2.associate_route_table()
                .route_table_id(&table)
                .subnet_id(subnet)
                .send()
                .await
                .map_err(cx.sdk("create", "AssociateRouteTable"))?;
        }
    }

    if !private.is_empty() {
        let nats = match (spec.nat, public.is_empty()) {
            (NatMode::None, _) | (_, true) => 0,
            (NatMode::Single, false) => 1,
            (NatMode::PerAz, false) => public.len(),
        };
        let mut nat_ids = Vec::new();
        for (i, subnet) in public.iter().take(nats).enumerate() {
            progress.update(
                cx.address,
                &format!("creating NAT gateway {} of {nats}", i + 1),
            );
            let eip = ec2
                .allocate_address()
                .domain(aws_sdk_ec2::types::DomainType::Vpc)
                .tag_specifications(tags_for(
                    cx,
                    ResourceType::ElasticIp,
                    &format!("{name}-nat-{i}"),
                    &[],
                    &spec.tags,
                ))
                .send()
                .await
                .map_err(cx.sdk("create", "AllocateAddress"))?;
            let allocation = eip.allocation_id().unwrap_or_default().to_string();
            keep(
                OwnedObject {
                    kind: ELASTIC_IP.into(),
                    id: allocation.clone(),
                },
                &mut objects,
            );
            let nat = ec2
                .create_nat_gateway()
                .subnet_id(subnet)
                .allocation_id(&allocation)
                .tag_specifications(tags_for(
                    cx,
                    ResourceType::Natgateway,
                    &format!("{name}-nat-{i}"),
                    &[],
                    &spec.tags,
                ))
                .send()
                .await
                .map_err(cx.sdk("create", "CreateNatGateway"))?;
            let nat_id = nat
                .nat_gateway()
                .and_then(|n| n.nat_gateway_id())
                .unwrap_or_default()
                .to_string();
            keep(
                OwnedObject {
                    kind: NAT_GATEWAY.into(),
                    id: nat_id.clone(),
                },
                &mut objects,
            );
            nat_ids.push(nat_id);
        }
        for nat in &nat_ids {
            wait_nat(cx, nat, "available", progress).await?;
        }
        // One private route table per NAT gateway (per AZ), or one shared.
        let tables = nat_ids.len().max(1);
        for t in 0..tables {
            let table =
                route_table(cx, &vpc_id, &format!("{name}-private-{t}"), &spec.tags).await?;
            keep(
                OwnedObject {
                    kind: ROUTE_TABLE.into(),
                    id: table.clone(),
                },
                &mut objects,
            );
            if let Some(nat) = nat_ids.get(t) {
                ec2.create_route()
                    .route_table_id(&table)
                    .destination_cidr_block("0.0.0.0/0")
                    .nat_gateway_id(nat)
                    .send()
                    .await
                    .map_err(cx.sdk("create", "CreateRoute"))?;
            }
            for (i, subnet) in private.iter().enumerate() {
                if i % tables == t {
                    ec2.associate_route_table()
                        .route_table_id(&table)
                        .subnet_id(subnet)
                        .send()
                        .await
                        .map_err(cx.sdk("create", "AssociateRouteTable"))?;
                }
            }
        }
    }

    read(cx, request, &objects).await?.ok_or_else(|| {
        cx.error(
            ErrorClass::Retryable,
            "create",
            format!("VPC {vpc_id} is not visible yet"),
        )
    })
}

async fn route_table(
    cx: &Cx<'_>,
    vpc_id: &str,
    name: &str,
    user: &BTreeMap<String, String>,
) -> Result<String> {
    let table = cx
        .aws
        .ec2
        .create_route_table()
        .vpc_id(vpc_id)
        .tag_specifications(tags_for(cx, ResourceType::RouteTable, name, &[], user))
        .send()
        .await
        .map_err(cx.sdk("create", "CreateRouteTable"))?;
    Ok(table
        .route_table()
        .and_then(|t| t.route_table_id())
        .unwrap_or_default()
        .to_string())
}

async fn wait_nat(cx: &Cx<'_>, id: &str, state: &str, progress: &dyn Progress) -> Result<()> {
    let operation = if state == "deleted" {
        "delete"
    } else {
        "create"
    };
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let found = cx
            .aws
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(id)
            .send()
            .await;
        let current = match found {
            Ok(out) => out
                .nat_gateways()
                .first()
                .and_then(|n| n.state())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "deleted".to_string()),
            Err(e) => {
                let error = sdk_error(cx.address, operation, "DescribeNatGateways", e);
                if error.class == ErrorClass::NotFound {
                    "deleted".to_string()
                } else {
                    return Err(error);
                }
            }
        };
        if current == state {
            return Ok(());
        }
        if current == "failed" && state != "deleted" {
            return Err(cx.error(
                ErrorClass::Permanent,
                operation,
                format!("NAT gateway {id} failed to start"),
            ));
        }
        if Instant::now() > deadline {
            return Err(cx.error(
                ErrorClass::Retryable,
                operation,
                format!("NAT gateway {id} is still {current}"),
            ));
        }
        progress.update(cx.address, &format!("NAT gateway {id} is {current}"));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

fn subnet_tier(subnet: &Subnet) -> Option<bool> {
    let has = |key: &str| subnet.tags().iter().any(|t| t.key() == Some(key));
    if has(ELB_ROLE) {
        Some(true)
    } else if has(INTERNAL_ELB_ROLE) {
        Some(false)
    } else {
        subnet.map_public_ip_on_launch()
    }
}

pub(crate) async fn read(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Option<Applied>> {
    let spec: Vpc = cx.spec(request.desired, "read")?;
    let vpc_id = match (&spec.existing, objects.iter().find(|o| o.kind == VPC)) {
        (Some(existing), _) => existing.vpc_id.clone(),
        (None, Some(object)) => object.id.clone(),
        (None, None) => return Ok(None),
    };
    let ec2 = &cx.aws.ec2;
    let found = ec2
        .describe_vpcs()
        .vpc_ids(&vpc_id)
        .send()
        .await
        .map_err(cx.sdk("read", "DescribeVpcs"));
    let Some(vpcs) = optional(found)? else {
        return Ok(None);
    };
    let Some(vpc) = vpcs.vpcs().first() else {
        return Ok(None);
    };
    let subnets = ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(&vpc_id).build())
        .send()
        .await
        .map_err(cx.sdk("read", "DescribeSubnets"))?;
    let mut subnets: Vec<&Subnet> = subnets.subnets().iter().collect();
    subnets.sort_by_key(|s| {
        (
            s.availability_zone().unwrap_or_default().to_string(),
            s.cidr_block().unwrap_or_default().to_string(),
        )
    });
    let (public, private): (Vec<String>, Vec<String>) = match &spec.existing {
        Some(existing)
            if !existing.public_subnet_ids.is_empty()
                || !existing.private_subnet_ids.is_empty() =>
        {
            (
                existing.public_subnet_ids.clone(),
                existing.private_subnet_ids.clone(),
            )
        }
        _ => {
            let recorded: Vec<&str> = objects
                .iter()
                .filter(|o| o.kind == SUBNET)
                .map(|o| o.id.as_str())
                .collect();
            let mut public = Vec::new();
            let mut private = Vec::new();
            for subnet in &subnets {
                let id = subnet.subnet_id().unwrap_or_default();
                if spec.existing.is_none() && !recorded.contains(&id) {
                    continue;
                }
                match subnet_tier(subnet) {
                    Some(true) => public.push(id.to_string()),
                    Some(false) => private.push(id.to_string()),
                    None => {}
                }
            }
            (public, private)
        }
    };
    let outputs = BTreeMap::from([
        ("vpc_id".to_string(), json!(vpc_id)),
        ("public_subnet_ids".to_string(), json!(public)),
        ("private_subnet_ids".to_string(), json!(private)),
    ]);
    let live = if spec.existing.is_some() {
        request.desired.clone()
    } else {
        let user_tags: BTreeMap<&str, &str> = vpc
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value()?)))
            .filter(|(k, _)| !k.starts_with("meshctl:") && *k != "Name")
            .collect();
        let nats = ec2
            .describe_nat_gateways()
            .filter(Filter::builder().name("vpc-id").values(&vpc_id).build())
            .filter(
                Filter::builder()
                    .name("state")
                    .values("pending")
                    .values("available")
                    .build(),
            )
            .send()
            .await
            .map_err(cx.sdk("read", "DescribeNatGateways"))?
            .nat_gateways()
            .len();
        // Without both tiers there is nothing to NAT: the stack's value stands.
        let nat = match nats {
            _ if public.is_empty() || private.is_empty() => {
                serde_json::to_value(spec.nat).unwrap_or_default()
            }
            0 => json!("none"),
            1 => json!("single"),
            _ => json!("per_az"),
        };
        let mut live = json!({
            "cidr": vpc.cidr_block(),
            "subnets": {
                "public": !public.is_empty(),
                "private": !private.is_empty(),
                "prefix_length": spec.subnets.prefix_length,
            },
            "nat": nat,
        });
        if let Some(azs) = &spec.azs {
            let mut zones: Vec<&str> = subnets
                .iter()
                .filter_map(|s| s.availability_zone())
                .collect();
            zones.sort();
            zones.dedup();
            live["azs"] = match azs {
                Azs::Count(_) => json!(zones.len()),
                Azs::Names(_) => json!(zones),
            };
        }
        if !user_tags.is_empty() || !spec.tags.is_empty() {
            live["tags"] = json!(user_tags);
        }
        live
    };
    Ok(Some(Applied {
        drifts: Vec::new(),
        objects: objects.to_vec(),
        outputs,
        live,
    }))
}

/// Finds the VPC an `existing` names, and checks that the subnets it lists are that VPC's, while
/// planning: a missing one stops the plan at the field naming it.
pub(crate) async fn lookup(cx: &Cx<'_>, request: &Request<'_>) -> Result<Lookup> {
    let spec: Vpc = cx.spec(request.desired, "lookup")?;
    let region = &cx.settings.region;
    let found = read(cx, request, &[]).await?;
    let (Some(existing), Some(applied)) = (&spec.existing, found) else {
        let vpc_id = spec
            .existing
            .as_ref()
            .map(|e| e.vpc_id.as_str())
            .unwrap_or_default();
        return Ok(Lookup::Missing(LookupMissing {
            field: "existing.vpc_id".to_string(),
            message: format!("no VPC {vpc_id} exists in {region} in this AWS account"),
            help: format!("check `existing.vpc_id`: it must be the id of a VPC in {region} (`aws ec2 describe-vpcs --region {region}`), or replace `existing` with `cidr` and `azs` to let meshctl create a VPC"),
        }));
    };
    let subnets = cx
        .aws
        .ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("vpc-id")
                .values(&existing.vpc_id)
                .build(),
        )
        .send()
        .await
        .map_err(cx.sdk("lookup", "DescribeSubnets"))?;
    let in_vpc: Vec<&str> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id())
        .collect();
    for (field, ids) in [
        ("public_subnet_ids", &existing.public_subnet_ids),
        ("private_subnet_ids", &existing.private_subnet_ids),
    ] {
        if let Some((index, id)) = ids
            .iter()
            .enumerate()
            .find(|(_, id)| !in_vpc.contains(&id.as_str()))
        {
            return Ok(Lookup::Missing(LookupMissing {
                field: format!("existing.{field}[{index}]"),
                message: format!("subnet {id} is not a subnet of VPC {} in {region}", existing.vpc_id),
                help: format!("list subnets of that VPC (`aws ec2 describe-subnets --region {region} --filters Name=vpc-id,Values={}`)", existing.vpc_id),
            }));
        }
    }
    Ok(Lookup::Found(applied))
}

/// Tags are the only field of a created VPC that changes in place.
pub(crate) async fn update(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Applied> {
    let spec: Vpc = cx.spec(request.desired, "update")?;
    let current = read(cx, request, objects)
        .await?
        .ok_or_else(|| cx.error(ErrorClass::NotFound, "update", "the VPC is gone"))?;
    if spec.existing.is_some() {
        return Ok(current);
    }
    let live_nat = current.live["nat"].as_str().unwrap_or_default();
    let want_nat = serde_json::to_value(spec.nat).unwrap_or_default();
    if want_nat.as_str() != Some(live_nat) {
        return Err(cx.error(
            ErrorClass::Permanent,
            "update",
            format!("changing `nat` from {live_nat} to {} needs new route tables and NAT gateways, which meshctl does not do in place", want_nat.as_str().unwrap_or_default()),
        )
        .with_help(format!("replace the VPC with `meshctl apply --replace {}` when nothing runs in it, or keep nat as {live_nat}", cx.address)));
    }
    let ids: Vec<String> = objects.iter().map(|o| o.id.clone()).collect();
    let old: BTreeMap<String, String> =
        serde_json::from_value(current.live["tags"].clone()).unwrap_or_default();
    let removed: Vec<Tag> = old
        .keys()
        .filter(|k| !spec.tags.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !removed.is_empty() {
        cx.aws
            .ec2
            .delete_tags()
            .set_resources(Some(ids.clone()))
            .set_tags(Some(removed))
            .send()
            .await
            .map_err(cx.sdk("update", "DeleteTags"))?;
    }
    if !spec.tags.is_empty() {
        let tags = spec.tags.iter().map(|(k, v)| tag(k, v)).collect();
        cx.aws
            .ec2
            .create_tags()
            .set_resources(Some(ids))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(cx.sdk("update", "CreateTags"))?;
    }
    read(cx, request, objects)
        .await?
        .ok_or_else(|| cx.error(ErrorClass::NotFound, "update", "the VPC is gone"))
}

pub(crate) async fn delete_object(
    cx: &Cx<'_>,
    object: &OwnedObject,
    progress: &dyn Progress,
) -> Result<()> {
    let ec2 = &cx.aws.ec2;
    match object.kind.as_str() {
        VPC => {
            ec2.delete_vpc()
                .vpc_id(&object.id)
                .send()
                .await
                .map_err(cx.sdk("delete", "DeleteVpc"))?;
        }
        SUBNET => {
            ec2.delete_subnet()
                .subnet_id(&object.id)
                .send()
                .await
                .map_err(cx.sdk("delete", "DeleteSubnet"))?;
        }
        INTERNET_GATEWAY => {
            let found = ec2
                .describe_internet_gateways()
                .internet_gateway_ids(&object.id)
                .send()
                .await
                .map_err(cx.sdk("delete", "DescribeInternetGateways"))?;
            for attachment in found
                .internet_gateways()
                .iter()
                .flat_map(|g| g.attachments())
            {
                if let Some(vpc) = attachment.vpc_id() {
                    ec2.detach_internet_gateway()
                        .internet_gateway_id(&object.id)
                        .vpc_id(vpc)
                        .send()
                        .await
                        .map_err(cx.sdk("delete", "DetachInternetGateway"))?;
                }
            }
            ec2.delete_internet_gateway()
                .internet_gateway_id(&object.id)
                .send()
                .await
                .map_err(cx.sdk("delete", "DeleteInternetGateway"))?;
        }
        ROUTE_TABLE => {
            let found = ec2
                .describe_route_tables()
                .route_table_ids(&object.id)
                .send()
                .await
                .map_err(cx.sdk("delete", "DescribeRouteTables"))?;
            for association in found.route_tables().iter().flat_map(|t| t.associations()) {
                if association.main() == Some(true) {
                    continue;
                }
                if let Some(id) = association.route_table_association_id() {
                    ec2.disassociate_route_table()
                        .association_id(id)
                        .send()
                        .await
                        .map_err(cx.sdk("delete", "DisassociateRouteTable"))?;
                }
            }
            ec2.delete_route_table()
                .route_table_id(&object.id)
                .send()
                .await
                .map_err(cx.sdk("delete", "DeleteRouteTable"))?;
        }
        NAT_GATEWAY => {
            ec2.delete_nat_gateway()
                .nat_gateway_id(&object.id)
                .send()
                .await
                .map_err(cx.sdk("delete", "DeleteNatGateway"))?;
            wait_nat(cx, &object.id, "deleted", progress).await?;
        }
        ELASTIC_IP => {
            ec2.release_address()
                .allocation_id(&object.id)
                .send()
                .await
                .map_err(cx.sdk("delete", "ReleaseAddress"))?;
        }
        other => {
            return Err(cx.error(
                ErrorClass::Permanent,
                "delete",
                format!("unknown EC2 object kind `{other}` in state"),
            ));
        }
    }
    Ok(())
}

/// The object of `kind` with this id, when AWS gave one.
fn owned(kind: &str, id: Option<&str>) -> Option<OwnedObject> {
    id.map(|id| OwnedObject {
        kind: kind.into(),
        id: id.into(),
    })
}

/// Whether a NAT gateway is still there (AWS lists deleted ones for a while).
fn nat_is_live(nat: &aws_sdk_ec2::types::NatGateway) -> bool {
    nat.state()
        .is_none_or(|s| s.as_str() != "deleted" && s.as_str() != "deleting")
}

/// Every EC2 object tagged with this address, in creation order.
pub(crate) async fn find_tagged(cx: &Cx<'_>) -> Result<Vec<OwnedObject>> {
    let ec2 = &cx.aws.ec2;
    let filters = Some(ours_filters(cx));
    let mut found = Vec::new();
    let vpcs = ec2
        .describe_vpcs()
        .set_filters(filters.clone())
        .send()
        .await
        .map_err(cx.sdk("sweep", "DescribeVpcs"))?;
    found.extend(vpcs.vpcs().iter().filter_map(|v| owned(VPC, v.vpc_id())));
    let subnets = ec2
        .describe_subnets()
        .set_filters(filters.clone())
        .send()
        .await
        .map_err(cx.sdk("sweep", "DescribeSubnets"))?;
    found.extend(
        subnets
            .subnets()
            .iter()
            .filter_map(|s| owned(SUBNET, s.subnet_id())),
    );
    let igws = ec2
        .describe_internet_gateways()
        .set_filters(filters.clone())
        .send()
        .await
        .map_err(cx.sdk("sweep", "DescribeInternetGateways"))?;
    found.extend(
        igws.internet_gateways()
            .iter()
            .filter_map(|g| owned(INTERNET_GATEWAY, g.internet_gateway_id())),
    );
    let addresses = ec2
        .describe_addresses()
        .set_filters(filters.clone())
        .send()
        .await
        .map_err(cx.sdk("sweep", "DescribeAddresses"))?;
    found.extend(
        addresses
            .addresses()
            .iter()
            .filter_map(|a| owned(ELASTIC_IP, a.allocation_id())),
    );
    let nats = ec2
        .describe_nat_gateways()
        .set_filter(filters.clone())
        .send()
        .await
        .map_err(cx.sdk("sweep", "DescribeNatGateways"))?;
    found.extend(
        nats.nat_gateways()
            .iter()
            .filter(|n| nat_is_live(n))
            .filter_map(|n| owned(NAT_GATEWAY, n.nat_gateway_id())),
    );
    let tables = ec2
        .describe_route_tables()
        .set_filters(filters)
        .send()
        .await
        .map_err(cx.sdk("sweep", "DescribeRouteTables"))?;
    found.extend(
        tables
            .route_tables()
            .iter()
            .filter_map(|t| owned(ROUTE_TABLE, t.route_table_id())),
    );
    Ok(found)
}

/// Whom the VPC `vpc_id` belongs to by its tags, or `None` if it is gone.
pub(crate) async fn owner(cx: &Cx<'_>, vpc_id: &str) -> Result<Option<crate::Owner>> {
    let found = cx
        .aws
        .ec2
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .send()
        .await
        .map_err(cx.sdk("import", "DescribeVpcs"));
    Ok(optional(found)?.and_then(|found| {
        found.vpcs().first().map(|vpc| {
            crate::Owner::of(
                cx,
                vpc.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value()?))),
            )
        })
    }))
}

/// `meshctl import` of a VPC by its id. A stack VPC with `existing:` (or no stack fields) adopts
/// it as `existing`: read, never deleted. A VPC the stack manages records what a create would
/// have: the VPC, its subnets, internet gateway, NAT gateways with their Elastic IPs and its own
/// route tables (not the main one, which goes with the VPC), so destroy removes them all.
pub(crate) async fn import(
    cx: &Cx<'_>,
    request: &Request<'_>,
    vpc_id: &str,
) -> Result<(Value, Applied)> {
    let found = cx
        .aws
        .ec2
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .send()
        .await
        .map_err(cx.sdk("import", "DescribeVpcs"));
    let missing = || cx.error(ErrorClass::NotFound, "import", format!("no VPC {vpc_id}"));
    if optional(found)?.is_none_or(|found| found.vpcs().is_empty()) {
        return Err(missing());
    }
    let managed =
        request.desired.is_object() && request.desired.get("existing").is_none_or(Value::is_null);
    if managed {
        let objects = objects_of_vpc(cx, vpc_id).await?;
        let applied = read(cx, request, &objects).await?.ok_or_else(missing)?;
        return Ok((applied.live.clone(), applied));
    }
    // Adopted as `existing`: meshctl reads it and never deletes it.
    let desired = json!({ "existing": { "vpc_id": vpc_id } });
    let request_desired = desired.clone();
    let inputs = BTreeMap::new();
    let request = Request {
        address: cx.address,
        desired: &request_desired,
        inputs: &inputs,
    };
    let applied = read(cx, &request, &[]).await?.ok_or_else(missing)?;
    Ok((desired, applied))
}

/// Every object of the VPC `vpc_id` that a create of it would have made, in creation order.
async fn objects_of_vpc(cx: &Cx<'_>, vpc_id: &str) -> Result<Vec<OwnedObject>> {
    let ec2 = &cx.aws.ec2;
    let in_vpc = || Filter::builder().name("vpc-id").values(vpc_id).build();
    let mut found = vec![OwnedObject {
        kind: VPC.into(),
        id: vpc_id.into(),
    }];
    let subnets = ec2
        .describe_subnets()
        .filters(in_vpc())
        .send()
        .await
        .map_err(cx.sdk("import", "DescribeSubnets"))?;
    found.extend(
        subnets
            .subnets()
            .iter()
            .filter_map(|s| owned(SUBNET, s.subnet_id())),
    );
    let igws = ec2
        .describe_internet_gateways()
        .filters(
            Filter::builder()
                .name("attachment.vpc-id")
                .values(vpc_id)
                .build(),
        )
        .send()
        .await
        .map_err(cx.sdk("import", "DescribeInternetGateways"))?;
    found.extend(
        igws.internet_gateways()
            .iter()
            .filter_map(|g| owned(INTERNET_GATEWAY, g.internet_gateway_id())),
    );
    let nats = ec2
        .describe_nat_gateways()
        .filter(in_vpc())
        .send()
        .await
        .map_err(cx.sdk("import", "DescribeNatGateways"))?;
    let live_nats: Vec<_> = nats
        .nat_gateways()
        .iter()
        .filter(|n| nat_is_live(n))
        .collect();
    for nat in &live_nats {
        found.extend(
            nat.nat_gateway_addresses()
                .iter()
                .filter_map(|a| owned(ELASTIC_IP, a.allocation_id())),
        );
    }
    found.extend(
        live_nats
            .iter()
            .filter_map(|n| owned(NAT_GATEWAY, n.nat_gateway_id())),
    );
    let tables = ec2
        .describe_route_tables()
        .filters(in_vpc())
        .send()
        .await
        .map_err(cx.sdk("import", "DescribeRouteTables"))?;
    found.extend(
        tables
            .route_tables()
            .iter()
            .filter(|t| !t.associations().iter().any(|a| a.main() == Some(true)))
            .filter_map(|t| owned(ROUTE_TABLE, t.route_table_id())),
    );
    Ok(found)
}
