//! Facts to stack text: each resource written with `import:` and typed references, what no kind
//! expresses listed as YAML comments. `Names` gives every discovered object its resource name
//! first, so one layer's resources can refer to the other's (a record aliases `alb.public`, an
//! `alb` names its `acm_certificate`).

pub mod aws;
pub mod cluster;

use crate::Facts;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The stack file for what `facts` hold.
pub fn compose(facts: &Facts) -> String {
    let names = Names::of(facts);
    let mut resources = Vec::new();
    aws::compose(facts, &names, &mut resources);
    cluster::compose(facts, &names, &mut resources);
    let mut out = format!(
        "# Written by `meshctl generate` from the live account and cluster ({region}, cluster {cluster}).\n\
         # Every resource carries `import:` with the id of the object it adopts: `meshctl plan`\n\
         # shows each as an import, with the fields where this file and the object differ.\n\
         stack: {stack}\nregion: {region}\nkube: {{ from_cluster: {cluster_resource} }}\n\nresources:\n",
        region = facts.region,
        cluster = facts.aws.cluster.name,
        stack = facts.stack,
        cluster_resource = names.cluster,
    );
    for resource in &resources {
        resource.write(&mut out);
    }
    out
}

/// One resource of the generated stack.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub kind: &'static str,
    pub name: String,
    /// The id `import:` names; `None` for a looked-up resource.
    pub import: Option<String>,
    pub fields: Map<String, Value>,
    /// Lines written as YAML comments above the resource: what differs from the live object or
    /// what the kind cannot express.
    pub comments: Vec<String>,
}

impl Resource {
    pub fn new(kind: &'static str, name: &str, import: Option<String>) -> Resource {
        Resource {
            kind,
            name: name.to_string(),
            import,
            fields: Map::new(),
            comments: Vec::new(),
        }
    }

    /// Comment lines alone, between resources.
    pub fn comment(lines: Vec<String>) -> Resource {
        Resource {
            kind: "",
            name: String::new(),
            import: None,
            fields: Map::new(),
            comments: lines,
        }
    }

    pub fn set(&mut self, field: &str, value: impl Into<Value>) -> &mut Self {
        self.fields.insert(field.to_string(), value.into());
        self
    }

    fn write(&self, out: &mut String) {
        out.push('\n');
        for comment in &self.comments {
            for line in comment.lines() {
                out.push_str(&format!("  # {line}\n"));
            }
        }
        if self.kind.is_empty() {
            return;
        }
        let mut map = Map::new();
        map.insert("kind".into(), Value::from(self.kind));
        map.insert("name".into(), Value::from(self.name.clone()));
        if let Some(id) = &self.import {
            map.insert("import".into(), Value::from(id.clone()));
        }
        map.extend(self.fields.clone());
        let text = serde_yaml::to_string(&Value::Object(map)).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            out.push_str(if i == 0 { "  - " } else { "    " });
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// The resource name of every discovered object, chosen before anything is written.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub vpc: String,
    pub cluster: String,
    pub zone: String,
    /// IRSA roles by (namespace, ServiceAccount) → `iam_service_account` name.
    pub roles: BTreeMap<(String, String), String>,
    /// Certificate ARN → `acm_certificate` name.
    pub certificates: BTreeMap<String, String>,
    /// Balancer DNS name (lowercase, no trailing dot) → the address that makes it
    /// (`alb.public`, `ingress_gateway.internal`).
    pub balancers: BTreeMap<String, String>,
    /// Ingress `namespace/name` → `alb` name.
    pub albs: BTreeMap<String, String>,
    /// Gateway Service `namespace/name` → `ingress_gateway` name.
    pub gateways: BTreeMap<String, String>,
    /// cert-manager Certificate `namespace/secretName` → `certificate` name.
    pub secrets: BTreeMap<String, String>,
    /// Istio Gateway `namespace/name` → `gateway` name.
    pub istio_gateways: BTreeMap<String, String>,
    /// ClusterIssuer name → `issuer` name.
    pub issuers: BTreeMap<String, String>,
}

impl Names {
    pub fn of(facts: &Facts) -> Names {
        let mut names = Names {
            vpc: "main".into(),
            cluster: "main".into(),
            zone: "public".into(),
            ..Names::default()
        };
        let mut taken: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        let mut pick = |kind: &'static str, wanted: &str| {
            let used = taken.entry(kind).or_default();
            let base = resource_name(wanted);
            let mut name = base.clone();
            let mut n = 2;
            while used.contains(&name) {
                name = format!("{base}-{n}");
                n += 1;
            }
            used.insert(name.clone());
            name
        };
        for role in &facts.aws.roles {
            let name = pick("iam_service_account", &role.service_account);
            names
                .roles
                .insert((role.namespace.clone(), role.service_account.clone()), name);
        }
        for certificate in &facts.aws.certificates {
            let wanted = certificate.domain.replace("*.", "wildcard.");
            let name = pick("acm_certificate", &wanted);
            names.certificates.insert(certificate.arn.clone(), name);
        }
        for gateway in &facts.kube.gateways {
            let name = pick("ingress_gateway", &gateway.name);
            let service = &gateway.service;
            names.gateways.insert(
                format!("{}/{}", gateway.namespace, gateway.name),
                name.clone(),
            );
            if let Some(host) = service["status"]["loadBalancer"]["ingress"][0]["hostname"].as_str()
            {
                names
                    .balancers
                    .insert(dns_key(host), format!("ingress_gateway.{name}"));
            }
        }
        for ingress in &facts.kube.ingresses {
            let metadata = &ingress["metadata"];
            let (namespace, ingress_name) = (
                metadata["namespace"].as_str().unwrap_or("default"),
                metadata["name"].as_str().unwrap_or("alb"),
            );
            let name = pick("alb", ingress_name);
            names
                .albs
                .insert(format!("{namespace}/{ingress_name}"), name.clone());
            if let Some(host) = ingress["status"]["loadBalancer"]["ingress"][0]["hostname"].as_str()
            {
                names.balancers.insert(dns_key(host), format!("alb.{name}"));
            }
        }
        for object in &facts.kube.objects {
            let kind = object["kind"].as_str().unwrap_or_default();
            let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
            let object_name = object["metadata"]["name"].as_str().unwrap_or_default();
            match kind {
                "Certificate" => {
                    let name = pick("certificate", object_name);
                    let secret = object["spec"]["secretName"].as_str().unwrap_or(object_name);
                    names.secrets.insert(format!("{namespace}/{secret}"), name);
                }
                "Gateway" => {
                    let name = pick("gateway", object_name);
                    names
                        .istio_gateways
                        .insert(format!("{namespace}/{object_name}"), name);
                }
                "ClusterIssuer" => {
                    let name = pick("issuer", object_name);
                    names.issuers.insert(object_name.to_string(), name);
                }
                _ => {}
            }
        }
        names
    }
}

/// A balancer DNS name as a lookup key: lowercase, no trailing dot, no `dualstack.`.
pub fn dns_key(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.strip_prefix("dualstack.").unwrap_or(&name).to_string()
}

/// A resource name from a live one: a DNS label (lowercase letters, digits, `-`, at most 63).
pub fn resource_name(live: &str) -> String {
    let mut name: String = live
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-');
    let name: String = name.chars().take(63).collect();
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "unnamed".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_names_become_dns_labels() {
        assert_eq!(
            resource_name("istio-ingressgateway"),
            "istio-ingressgateway"
        );
        assert_eq!(resource_name("Moamoa_Cert.v2"), "moamoa-cert-v2");
        assert_eq!(
            resource_name("wildcard.moamoa-news.com"),
            "wildcard-moamoa-news-com"
        );
        assert_eq!(resource_name("--"), "unnamed");
        assert_eq!(resource_name(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn balancer_names_are_compared_without_case_dot_or_dualstack() {
        assert_eq!(
            dns_key("dualstack.K8s-Public-1.ap-northeast-2.elb.amazonaws.com."),
            "k8s-public-1.ap-northeast-2.elb.amazonaws.com"
        );
    }
}
