//! The AWS resources of a generated stack: vpc, eks_cluster, nodegroup, iam_service_account,
//! route53_zone, acm_certificate, dns_record.

use super::{dns_key, resource_name, Names, Resource};
use crate::Facts;
use serde_json::{json, Value};

/// The AWS resources `facts` hold, in dependency order.
pub fn compose(facts: &Facts, names: &Names, out: &mut Vec<Resource>) {
    let aws = &facts.aws;
    if let Some(vpc) = &aws.vpc {
        let mut r = Resource::new("vpc", &names.vpc, Some(vpc.id.clone()));
        r.set("cidr", vpc.cidr.clone());
        r.set("azs", vpc.azs.len().max(1));
        let nat = match vpc.nat_gateways {
            0 => "none",
            1 => "single",
            _ => "per_az",
        };
        if vpc.nat_gateways > 1 && vpc.nat_gateways != vpc.azs.len() {
            r.comments.push(format!(
                "{} NAT gateways for {} AZs: meshctl makes one (single) or one per AZ (per_az).",
                vpc.nat_gateways,
                vpc.azs.len()
            ));
        }
        r.set("nat", nat);
        let mut subnets = serde_json::Map::new();
        if vpc.public_subnets == 0 {
            subnets.insert("public".into(), json!(false));
        }
        if vpc.private_subnets == 0 {
            subnets.insert("private".into(), json!(false));
        }
        if let Some(prefix) = vpc.prefix_length.filter(|p| *p != 20) {
            subnets.insert("prefix_length".into(), json!(prefix));
        }
        if !subnets.is_empty() {
            r.set("subnets", Value::Object(subnets));
        }
        if !vpc.tags.is_empty() {
            r.set("tags", json!(vpc.tags));
        }
        out.push(r);
    }

    let cluster = &aws.cluster;
    let mut r = Resource::new("eks_cluster", &names.cluster, Some(cluster.name.clone()));
    if cluster.name != format!("{}-{}", facts.stack, names.cluster) {
        r.set("cluster_name", cluster.name.clone());
    }
    r.set("version", cluster.version.clone());
    r.set("vpc", names.vpc.clone());
    let mut endpoint = serde_json::Map::new();
    endpoint.insert("private".into(), json!(cluster.endpoint_private));
    endpoint.insert("public".into(), json!(cluster.endpoint_public));
    let cidrs: Vec<&String> = cluster
        .public_access_cidrs
        .iter()
        .filter(|c| c.as_str() != "0.0.0.0/0")
        .collect();
    if cluster.endpoint_public && !cidrs.is_empty() {
        endpoint.insert("public_cidrs".into(), json!(cidrs));
    }
    r.set("endpoint", Value::Object(endpoint));
    if !cluster.oidc_provider {
        r.set("oidc", false);
    }
    if !cluster.logging.is_empty() {
        r.set("logging", json!(cluster.logging));
    }
    if !cluster.tags.is_empty() {
        r.set("tags", json!(cluster.tags));
    }
    if aws.vpc.is_none() {
        r.comments.push(format!(
            "Its VPC {} was not found: write it as a `vpc` with `existing: {{ vpc_id: ... }}`.",
            cluster.vpc_id
        ));
    }
    out.push(r);

    for nodegroup in &aws.nodegroups {
        let mut r = Resource::new(
            "nodegroup",
            &resource_name(&nodegroup.name),
            Some(format!("{}/{}", cluster.name, nodegroup.name)),
        );
        if resource_name(&nodegroup.name) != nodegroup.name {
            r.comments.push(format!(
                "The nodegroup is named `{}`, which is not a resource name.",
                nodegroup.name
            ));
        }
        r.set("cluster", names.cluster.clone());
        r.set("instance_types", json!(nodegroup.instance_types));
        r.set(
            "scaling",
            json!({"min": nodegroup.min, "desired": nodegroup.desired, "max": nodegroup.max}),
        );
        r.set(
            "subnets",
            if nodegroup.public_subnets {
                "public"
            } else {
                "private"
            },
        );
        if let Some(key) = &nodegroup.ssh_key {
            r.set("ssh_key", key.clone());
        }
        if let Some(size) = nodegroup.disk_size.filter(|s| *s != 20) {
            r.set("disk_size", size);
        }
        if !nodegroup.labels.is_empty() {
            r.set("labels", json!(nodegroup.labels));
        }
        if nodegroup.spot {
            r.set("capacity_type", "spot");
        }
        out.push(r);
    }

    for role in &aws.roles {
        let key = (role.namespace.clone(), role.service_account.clone());
        let Some(name) = names.roles.get(&key) else {
            continue;
        };
        let mut r = Resource::new("iam_service_account", name, Some(role.name.clone()));
        r.set("cluster", names.cluster.clone());
        r.set("namespace", role.namespace.clone());
        r.set("service_account", role.service_account.clone());
        if !role.policy_arns.is_empty() {
            r.comments.push(
                "Its managed policies are referenced, not adopted: destroy detaches them and leaves them in the account."
                    .to_string(),
            );
            r.set("policy_arns", json!(role.policy_arns));
        }
        let mut inline = role.inline_policies.iter();
        if let Some((_, document)) = inline.next() {
            r.set("inline_policy", document.clone());
        }
        for (policy, _) in inline {
            r.comments.push(format!(
                "The role has another inline policy, `{policy}`: meshctl keeps one; merge it into inline_policy."
            ));
        }
        if role.policy_arns.is_empty() && role.inline_policies.is_empty() {
            r.comments.push(
                "The role has no policy: give it `policy_arns` or `inline_policy` (validation needs one)."
                    .to_string(),
            );
            r.set("policy_arns", json!([]));
        }
        out.push(r);
    }

    if let Some(zone) = &aws.zone {
        // The zone came before the topology (the registrar's or another team's): looked up, as
        // meshctl treats a zone by default, never imported or deleted.
        let mut r = Resource::new("route53_zone", &names.zone, None);
        r.comments.push(format!(
            "Hosted zone {} is looked up, not adopted: destroying the stack leaves it.",
            zone.id
        ));
        r.set("domain", zone.domain.trim_end_matches('.').to_string());
        out.push(r);
    }

    for certificate in &aws.certificates {
        let Some(name) = names.certificates.get(&certificate.arn) else {
            continue;
        };
        let mut r = Resource::new("acm_certificate", name, Some(certificate.arn.clone()));
        r.set("domain", certificate.domain.clone());
        if !certificate.sans.is_empty() {
            r.set("sans", json!(certificate.sans));
        }
        if aws.zone.is_some() {
            r.set("validation_zone", names.zone.clone());
        } else {
            r.comments.push(
                "Its validation zone was not given (--zone): set validation_zone.".to_string(),
            );
        }
        out.push(r);
    }

    if let Some(zone) = &aws.zone {
        let mut taken = std::collections::BTreeSet::new();
        for record in &zone.records {
            let Some(target) = names.balancers.get(&dns_key(&record.alias_dns)) else {
                continue;
            };
            let fqdn = record.name.trim_end_matches('.');
            let domain = zone.domain.trim_end_matches('.');
            let short = fqdn
                .strip_suffix(domain)
                .map(|s| s.trim_end_matches('.'))
                .filter(|s| !s.is_empty())
                .unwrap_or("apex");
            let mut name = resource_name(&format!("{short}-{}", record.record_type.to_lowercase()));
            if record.record_type == "A" {
                name = resource_name(short);
            }
            while !taken.insert(name.clone()) {
                name.push_str("-2");
            }
            let mut r = Resource::new(
                "dns_record",
                &name,
                Some(format!(
                    "{}/{fqdn}/{}",
                    zone.id.trim_start_matches("/hostedzone/"),
                    record.record_type
                )),
            );
            r.set("zone", names.zone.clone());
            r.set("record", fqdn.to_string());
            if record.record_type != "A" {
                r.set("type", record.record_type.clone());
            }
            r.set("alias", target.clone());
            out.push(r);
        }
    }
}
