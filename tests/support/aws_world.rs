//! What moto holds of every AWS type the stacks make, read with the AWS SDK (not through
//! meshctl), and what a run added to it: the end-to-end tests' independent check of the world.

use aws_config::SdkConfig;
use std::collections::{BTreeMap, BTreeSet};

/// Everything in moto of every type the stack touches, by type, as sorted ids (plus the
/// details that matter: record values, certificate status).
pub fn world(
    rt: &tokio::runtime::Runtime,
    config: &SdkConfig,
) -> BTreeMap<&'static str, BTreeSet<String>> {
    rt.block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(config);
        let eks = aws_sdk_eks::Client::new(config);
        let iam = aws_sdk_iam::Client::new(config);
        let route53 = aws_sdk_route53::Client::new(config);
        let acm = aws_sdk_acm::Client::new(config);
        let mut world: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        let vpcs = ec2.describe_vpcs().send().await.unwrap();
        world.insert(
            "vpc",
            vpcs.vpcs()
                .iter()
                .filter_map(|v| v.vpc_id().map(String::from))
                .collect(),
        );
        let subnets = ec2.describe_subnets().send().await.unwrap();
        world.insert(
            "subnet",
            subnets
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_id().map(String::from))
                .collect(),
        );
        let igws = ec2.describe_internet_gateways().send().await.unwrap();
        world.insert(
            "internet_gateway",
            igws.internet_gateways()
                .iter()
                .filter_map(|g| g.internet_gateway_id().map(String::from))
                .collect(),
        );
        let nats = ec2.describe_nat_gateways().send().await.unwrap();
        world.insert(
            "nat_gateway",
            nats.nat_gateways()
                .iter()
                .filter(|n| n.state().is_none_or(|s| s.as_str() != "deleted"))
                .filter_map(|n| n.nat_gateway_id().map(String::from))
                .collect(),
        );
        let addresses = ec2.describe_addresses().send().await.unwrap();
        world.insert(
            "elastic_ip",
            addresses
                .addresses()
                .iter()
                .filter_map(|a| a.allocation_id().map(String::from))
                .collect(),
        );
        let tables = ec2.describe_route_tables().send().await.unwrap();
        world.insert(
            "route_table",
            tables
                .route_tables()
                .iter()
                // A VPC's main route table comes and goes with the VPC.
                .filter(|t| !t.associations().iter().any(|a| a.main() == Some(true)))
                .filter_map(|t| t.route_table_id().map(String::from))
                .collect(),
        );
        let clusters = eks.list_clusters().send().await.unwrap();
        let mut nodegroups = BTreeSet::new();
        for cluster in clusters.clusters() {
            let groups = eks
                .list_nodegroups()
                .cluster_name(cluster)
                .send()
                .await
                .unwrap();
            nodegroups.extend(groups.nodegroups().iter().map(|g| format!("{cluster}/{g}")));
        }
        world.insert("eks_cluster", clusters.clusters().iter().cloned().collect());
        world.insert("nodegroup", nodegroups);
        // moto lists AWS managed policies too; roles are what an account holds.
        let roles = iam.list_roles().send().await.unwrap();
        world.insert(
            "iam_role",
            roles
                .roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .collect(),
        );
        // The account's own (customer-managed) policies, which moto lists apart from AWS's.
        let policies = iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .send()
            .await
            .unwrap();
        world.insert(
            "iam_policy",
            policies
                .policies()
                .iter()
                .filter_map(|p| p.policy_name().map(String::from))
                .collect(),
        );
        let providers = iam.list_open_id_connect_providers().send().await.unwrap();
        world.insert(
            "oidc_provider",
            providers
                .open_id_connect_provider_list()
                .iter()
                .filter_map(|p| p.arn().map(String::from))
                .collect(),
        );
        let certificates = acm.list_certificates().send().await.unwrap();
        world.insert(
            "acm_certificate",
            certificates
                .certificate_summary_list()
                .iter()
                .filter_map(|c| c.certificate_arn().map(String::from))
                .collect(),
        );
        let zones = route53.list_hosted_zones().send().await.unwrap();
        let mut records = BTreeSet::new();
        for zone in zones.hosted_zones() {
            let sets = route53
                .list_resource_record_sets()
                .hosted_zone_id(zone.id())
                .send()
                .await
                .unwrap();
            for set in sets.resource_record_sets() {
                let values: Vec<&str> = set.resource_records().iter().map(|r| r.value()).collect();
                records.insert(format!(
                    "{} {} {}",
                    set.name(),
                    set.r#type().as_str(),
                    values.join(",")
                ));
            }
        }
        world.insert(
            "hosted_zone",
            zones
                .hosted_zones()
                .iter()
                .map(|z| z.name().to_string())
                .collect(),
        );
        world.insert("record", records);
        world
    })
}

/// Objects minus those present before: what the run left.
pub fn added(
    before: &BTreeMap<&'static str, BTreeSet<String>>,
    after: &BTreeMap<&'static str, BTreeSet<String>>,
) -> BTreeMap<&'static str, Vec<String>> {
    after
        .iter()
        .map(|(kind, ids)| {
            (
                *kind,
                ids.difference(&before[kind]).cloned().collect::<Vec<_>>(),
            )
        })
        .filter(|(_, ids)| !ids.is_empty())
        .collect()
}

/// The names of the hosted zones in moto, sorted.
pub fn zones(rt: &tokio::runtime::Runtime, config: &SdkConfig) -> Vec<String> {
    rt.block_on(async {
        let listed = aws_sdk_route53::Client::new(config)
            .list_hosted_zones()
            .send()
            .await
            .unwrap();
        let mut names: Vec<String> = listed
            .hosted_zones()
            .iter()
            .map(|z| z.name().to_string())
            .collect();
        names.sort();
        names
    })
}
