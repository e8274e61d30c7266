//! `meshctl generate`'s AWS half: reads (only reads) the cluster a team built by hand, its VPC,
//! nodegroups, IRSA roles, the load balancers in its VPC, the certificates their listeners use
//! and the records of `--zone` that alias them, into `meshctl_generate::facts::aws`.

use crate::iam::url_decode;
use meshctl_generate::facts::aws::{
    AwsFacts, BalancerFacts, CertificateFacts, ClusterFacts, ListenerFacts, NodegroupFacts,
    RecordFacts, RoleFacts, VpcFacts, ZoneFacts,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Why discovery stopped.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("no EKS cluster named `{name}` in {region}")]
    NoCluster { name: String, region: String },
    #[error("no hosted zone for `{0}` in this account")]
    NoZone(String),
    #[error("{call} failed: {detail}")]
    Call { call: &'static str, detail: String },
}

impl DiscoverError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            DiscoverError::NoCluster { .. } => "check --cluster and --region (`aws eks list-clusters --region R`)",
            DiscoverError::NoZone(_) => "check --zone: the domain of a public hosted zone, e.g. example.com",
            DiscoverError::Call { .. } => "check the credentials (the standard AWS chain) and that they may read EKS, EC2, IAM, ELB, ACM and Route53",
        }
    }
}

fn call<E: std::error::Error>(call: &'static str) -> impl FnOnce(E) -> DiscoverError {
    move |e| DiscoverError::Call {
        call,
        detail: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
    }
}

/// Reads the topology around cluster `name`.
pub async fn discover(
    config: &aws_config::SdkConfig,
    region: &str,
    name: &str,
    zone: Option<&str>,
) -> Result<AwsFacts, DiscoverError> {
    let eks = aws_sdk_eks::Client::new(config);
    let ec2 = aws_sdk_ec2::Client::new(config);
    let iam = aws_sdk_iam::Client::new(config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
    let acm = aws_sdk_acm::Client::new(config);
    let route53 = aws_sdk_route53::Client::new(config);

    let described = match eks.describe_cluster().name(name).send().await {
        Ok(described) => described,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Err(DiscoverError::NoCluster {
                name: name.to_string(),
                region: region.to_string(),
            })
        }
        Err(e) => return Err(call("DescribeCluster")(e)),
    };
    let Some(live) = described.cluster() else {
        return Err(DiscoverError::NoCluster {
            name: name.to_string(),
            region: region.to_string(),
        });
    };
    let network = live.resources_vpc_config();
    let issuer = live
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .map(str::to_string);
    let providers = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(call("ListOpenIDConnectProviders"))?;
    let issuer_host = issuer
        .as_deref()
        .map(|i| i.trim_start_matches("https://").to_string());
    let provider_arn = issuer_host.as_deref().and_then(|host| {
        providers
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .find(|arn| arn.ends_with(&format!("oidc-provider/{host}")))
            .map(str::to_string)
    });
    let mut logging: Vec<String> = live
        .logging()
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
        .iter()
        .filter(|setup| setup.enabled() == Some(true))
        .flat_map(|setup| setup.types().iter().map(|t| t.as_str().to_string()))
        .collect();
    logging.sort();
    logging.dedup();
    let cluster = ClusterFacts {
        name: live.name().unwrap_or(name).to_string(),
        arn: live.arn().unwrap_or_default().to_string(),
        endpoint: live.endpoint().unwrap_or_default().to_string(),
        certificate_authority: live
            .certificate_authority()
            .and_then(|c| c.data())
            .unwrap_or_default()
            .to_string(),
        version: live.version().unwrap_or_default().to_string(),
        endpoint_private: network.is_some_and(|n| n.endpoint_private_access()),
        endpoint_public: network.is_none_or(|n| n.endpoint_public_access()),
        public_access_cidrs: network
            .map(|n| n.public_access_cidrs().to_vec())
            .unwrap_or_default(),
        logging,
        oidc_issuer: issuer.clone(),
        oidc_provider: provider_arn.is_some(),
        role_arn: live.role_arn().unwrap_or_default().to_string(),
        vpc_id: network
            .and_then(|n| n.vpc_id())
            .unwrap_or_default()
            .to_string(),
        tags: live
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    };

    let mut cluster = cluster;
    if cluster.vpc_id.is_empty() {
        // Some EKS answers omit the VPC; its subnets name it.
        let subnet_ids = network.map(|n| n.subnet_ids().to_vec()).unwrap_or_default();
        if !subnet_ids.is_empty() {
            let subnets = ec2
                .describe_subnets()
                .set_subnet_ids(Some(subnet_ids))
                .send()
                .await
                .map_err(call("DescribeSubnets"))?;
            if let Some(vpc) = subnets.subnets().iter().find_map(|s| s.vpc_id()) {
                cluster.vpc_id = vpc.to_string();
            }
        }
    }
    let (vpc, public_subnets) = if cluster.vpc_id.is_empty() {
        (None, BTreeSet::new())
    } else {
        read_vpc(&ec2, &cluster.vpc_id).await?
    };
    let nodegroups = read_nodegroups(&eks, &cluster.name, &public_subnets).await?;
    let roles = match (&provider_arn, &issuer_host) {
        (Some(arn), Some(host)) => read_roles(&iam, arn, host).await?,
        _ => Vec::new(),
    };
    let balancers = read_balancers(&elb, &cluster.vpc_id).await?;
    let arns: BTreeSet<&str> = balancers
        .iter()
        .flat_map(|b| b.listeners.iter().flat_map(|l| l.certificates.iter()))
        .map(String::as_str)
        .collect();
    let mut certificates = Vec::new();
    for arn in arns {
        let described = acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(call("DescribeCertificate"))?;
        if let Some(detail) = described.certificate() {
            let domain = detail.domain_name().unwrap_or_default().to_string();
            certificates.push(CertificateFacts {
                arn: arn.to_string(),
                sans: detail
                    .subject_alternative_names()
                    .iter()
                    .filter(|san| **san != domain)
                    .cloned()
                    .collect(),
                domain,
            });
        }
    }
    let zone = match zone {
        Some(domain) => Some(read_zone(&route53, domain, &balancers).await?),
        None => None,
    };
    Ok(AwsFacts {
        cluster,
        vpc,
        nodegroups,
        roles,
        balancers,
        certificates,
        zone,
    })
}

/// The VPC and the ids of its public subnets (those whose route table sends 0.0.0.0/0 to an
/// internet gateway).
async fn read_vpc(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
) -> Result<(Option<VpcFacts>, BTreeSet<String>), DiscoverError> {
    use aws_sdk_ec2::types::Filter;
    let by_vpc = || Filter::builder().name("vpc-id").values(vpc_id).build();
    let vpcs = ec2
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .send()
        .await
        .map_err(call("DescribeVpcs"))?;
    let Some(vpc) = vpcs.vpcs().first() else {
        return Ok((None, BTreeSet::new()));
    };
    let subnets = ec2
        .describe_subnets()
        .filters(by_vpc())
        .send()
        .await
        .map_err(call("DescribeSubnets"))?;
    let tables = ec2
        .describe_route_tables()
        .filters(by_vpc())
        .send()
        .await
        .map_err(call("DescribeRouteTables"))?;
    let to_internet = |table: &aws_sdk_ec2::types::RouteTable| {
        table
            .routes()
            .iter()
            .any(|r| r.gateway_id().is_some_and(|g| g.starts_with("igw-")))
    };
    let main_is_public = tables
        .route_tables()
        .iter()
        .any(|t| t.associations().iter().any(|a| a.main() == Some(true)) && to_internet(t));
    let mut public = BTreeSet::new();
    let mut azs = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    let mut private_count = 0;
    for subnet in subnets.subnets() {
        let id = subnet.subnet_id().unwrap_or_default().to_string();
        let table = tables.route_tables().iter().find(|t| {
            t.associations()
                .iter()
                .any(|a| a.subnet_id() == Some(id.as_str()))
        });
        let is_public = match table {
            Some(table) => to_internet(table),
            None => main_is_public,
        };
        if let Some(az) = subnet.availability_zone() {
            azs.insert(az.to_string());
        }
        if let Some(prefix) = subnet
            .cidr_block()
            .and_then(|c| c.split('/').nth(1))
            .and_then(|p| p.parse::<u8>().ok())
        {
            prefixes.insert(prefix);
        }
        if is_public {
            public.insert(id);
        } else {
            private_count += 1;
        }
    }
    let nats = ec2
        .describe_nat_gateways()
        .filter(by_vpc())
        .send()
        .await
        .map_err(call("DescribeNatGateways"))?;
    let nat_gateways = nats
        .nat_gateways()
        .iter()
        .filter(|n| {
            n.state()
                .is_some_and(|s| matches!(s.as_str(), "available" | "pending"))
        })
        .count();
    let tags = vpc
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .filter(|(k, _)| !k.starts_with("aws:"))
        .collect();
    Ok((
        Some(VpcFacts {
            id: vpc_id.to_string(),
            cidr: vpc.cidr_block().unwrap_or_default().to_string(),
            azs: azs.into_iter().collect(),
            public_subnets: public.len(),
            private_subnets: private_count,
            prefix_length: (prefixes.len() == 1)
                .then(|| prefixes.into_iter().next())
                .flatten(),
            nat_gateways,
            tags,
        }),
        public,
    ))
}

async fn read_nodegroups(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    public_subnets: &BTreeSet<String>,
) -> Result<Vec<NodegroupFacts>, DiscoverError> {
    let listed = eks
        .list_nodegroups()
        .cluster_name(cluster)
        .send()
        .await
        .map_err(call("ListNodegroups"))?;
    let mut nodegroups = Vec::new();
    for name in listed.nodegroups() {
        let described = eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
            .map_err(call("DescribeNodegroup"))?;
        let Some(group) = described.nodegroup() else {
            continue;
        };
        let scaling = group.scaling_config();
        nodegroups.push(NodegroupFacts {
            name: name.clone(),
            instance_types: group.instance_types().to_vec(),
            min: scaling.and_then(|s| s.min_size()).unwrap_or(0),
            desired: scaling.and_then(|s| s.desired_size()).unwrap_or(0),
            max: scaling.and_then(|s| s.max_size()).unwrap_or(1),
            public_subnets: !group.subnets().is_empty()
                && group.subnets().iter().all(|s| public_subnets.contains(s)),
            disk_size: group.disk_size(),
            labels: group
                .labels()
                .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            spot: group.capacity_type().is_some_and(|c| c.as_str() == "SPOT"),
            ssh_key: group
                .remote_access()
                .and_then(|r| r.ec2_ssh_key())
                .map(str::to_string),
        });
    }
    Ok(nodegroups)
}

/// Roles whose trust policy lets one ServiceAccount of the cluster assume them through its OIDC
/// provider (`<issuer>:sub` = `system:serviceaccount:NS:NAME`).
async fn read_roles(
    iam: &aws_sdk_iam::Client,
    provider_arn: &str,
    issuer_host: &str,
) -> Result<Vec<RoleFacts>, DiscoverError> {
    let mut roles = Vec::new();
    let mut pages = iam.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(call("ListRoles"))?;
        for role in page.roles() {
            let Some(document) = role.assume_role_policy_document() else {
                continue;
            };
            let document: Value =
                serde_json::from_str(&url_decode(document)).unwrap_or(Value::Null);
            let Some((namespace, account)) = trusted_account(&document, provider_arn, issuer_host)
            else {
                continue;
            };
            let name = role.role_name().to_string();
            let attached = iam
                .list_attached_role_policies()
                .role_name(&name)
                .send()
                .await
                .map_err(call("ListAttachedRolePolicies"))?;
            let inline_names = iam
                .list_role_policies()
                .role_name(&name)
                .send()
                .await
                .map_err(call("ListRolePolicies"))?;
            let mut inline_policies = BTreeMap::new();
            for policy in inline_names.policy_names() {
                let got = iam
                    .get_role_policy()
                    .role_name(&name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(call("GetRolePolicy"))?;
                let document: Value =
                    serde_json::from_str(&url_decode(got.policy_document())).unwrap_or(Value::Null);
                inline_policies.insert(policy.clone(), document);
            }
            roles.push(RoleFacts {
                arn: role.arn().to_string(),
                name,
                namespace,
                service_account: account,
                policy_arns: attached
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_string))
                    .collect(),
                inline_policies,
            });
        }
    }
    roles.sort_by(|a, b| {
        (&a.namespace, &a.service_account).cmp(&(&b.namespace, &b.service_account))
    });
    Ok(roles)
}

/// The ServiceAccount (namespace, name) a trust policy lets assume the role through the
/// provider, when exactly one.
fn trusted_account(
    document: &Value,
    provider_arn: &str,
    issuer_host: &str,
) -> Option<(String, String)> {
    let statements = match &document["Statement"] {
        Value::Array(items) => items.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => return None,
    };
    let key = format!("{issuer_host}:sub");
    statements.iter().find_map(|statement| {
        let federated = &statement["Principal"]["Federated"];
        let trusts = federated.as_str() == Some(provider_arn)
            || federated
                .as_array()
                .is_some_and(|a| a.iter().any(|f| f.as_str() == Some(provider_arn)));
        if !trusts {
            return None;
        }
        let condition = &statement["Condition"];
        let subject = ["StringEquals", "StringLike"]
            .iter()
            .find_map(|op| condition[op][&key].as_str())?;
        let rest = subject.strip_prefix("system:serviceaccount:")?;
        let (namespace, account) = rest.split_once(':')?;
        Some((namespace.to_string(), account.to_string()))
    })
}

async fn read_balancers(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    vpc_id: &str,
) -> Result<Vec<BalancerFacts>, DiscoverError> {
    let mut balancers = Vec::new();
    let mut pages = elb.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(call("DescribeLoadBalancers"))?;
        for balancer in page.load_balancers() {
            if balancer.vpc_id() != Some(vpc_id) {
                continue;
            }
            let arn = balancer.load_balancer_arn().unwrap_or_default().to_string();
            let listeners = elb
                .describe_listeners()
                .load_balancer_arn(&arn)
                .send()
                .await
                .map_err(call("DescribeListeners"))?;
            balancers.push(BalancerFacts {
                name: balancer
                    .load_balancer_name()
                    .unwrap_or_default()
                    .to_string(),
                dns_name: balancer.dns_name().unwrap_or_default().to_string(),
                kind: balancer
                    .r#type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                scheme: balancer
                    .scheme()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                listeners: listeners
                    .listeners()
                    .iter()
                    .map(|l| ListenerFacts {
                        port: l.port().unwrap_or_default(),
                        protocol: l
                            .protocol()
                            .map(|p| p.as_str().to_string())
                            .unwrap_or_default(),
                        certificates: l
                            .certificates()
                            .iter()
                            .filter_map(|c| c.certificate_arn().map(str::to_string))
                            .collect(),
                    })
                    .collect(),
                arn,
            });
        }
    }
    balancers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(balancers)
}

/// The zone of `domain` and its records that alias one of `balancers`.
async fn read_zone(
    route53: &aws_sdk_route53::Client,
    domain: &str,
    balancers: &[BalancerFacts],
) -> Result<ZoneFacts, DiscoverError> {
    let wanted = format!("{}.", domain.trim_end_matches('.'));
    let zones = route53
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .send()
        .await
        .map_err(call("ListHostedZonesByName"))?;
    let Some(zone) = zones
        .hosted_zones()
        .iter()
        .find(|z| z.name() == wanted && !z.config().is_some_and(|c| c.private_zone()))
    else {
        return Err(DiscoverError::NoZone(domain.to_string()));
    };
    let id = zone.id().trim_start_matches("/hostedzone/").to_string();
    let ours: BTreeSet<String> = balancers
        .iter()
        .map(|b| meshctl_generate::compose::dns_key(&b.dns_name))
        .collect();
    let mut records = Vec::new();
    let mut start: Option<(String, aws_sdk_route53::types::RrType)> = None;
    loop {
        let mut request = route53.list_resource_record_sets().hosted_zone_id(&id);
        if let Some((name, kind)) = &start {
            request = request
                .start_record_name(name)
                .start_record_type(kind.clone());
        }
        let page = request
            .send()
            .await
            .map_err(call("ListResourceRecordSets"))?;
        for set in page.resource_record_sets() {
            let Some(alias) = set.alias_target() else {
                continue;
            };
            let key = meshctl_generate::compose::dns_key(alias.dns_name());
            if ours.contains(&key) {
                records.push(RecordFacts {
                    name: set.name().trim_end_matches('.').to_string(),
                    record_type: set.r#type().as_str().to_string(),
                    alias_dns: key,
                });
            }
        }
        match (
            page.is_truncated(),
            page.next_record_name(),
            page.next_record_type(),
        ) {
            (true, Some(name), Some(kind)) => start = Some((name.to_string(), kind.clone())),
            _ => break,
        }
    }
    Ok(ZoneFacts {
        id,
        domain: domain.trim_end_matches('.').to_string(),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_service_account_a_trust_policy_names_is_found() {
        let provider =
            "arn:aws:iam::123456789012:oidc-provider/oidc.eks.ap-northeast-2.amazonaws.com/id/ABC";
        let host = "oidc.eks.ap-northeast-2.amazonaws.com/id/ABC";
        let document = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": provider},
            "Condition": {"StringEquals": {
                format!("{host}:aud"): "sts.amazonaws.com",
                format!("{host}:sub"): "system:serviceaccount:kube-system:aws-load-balancer-controller"
            }}
        }]});
        assert_eq!(
            trusted_account(&document, provider, host),
            Some((
                "kube-system".to_string(),
                "aws-load-balancer-controller".to_string()
            ))
        );
        assert_eq!(trusted_account(&document, "arn:other", host), None);
    }
}
