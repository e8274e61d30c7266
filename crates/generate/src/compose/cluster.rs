//! The cluster resources of a generated stack: add-ons, Istio and its gateways, balancers made
//! from Ingresses and Services, issuers, certificates and the mesh's objects. What no kind
//! expresses is written as comments, never dropped.

use super::{Names, Resource};
use crate::facts::kube::GatewayFacts;
use crate::Facts;
use serde_json::{json, Map, Value};

const LB_CONTROLLER_CHART: &str = "aws-load-balancer-controller";
const CERT_MANAGER_CHART: &str = "cert-manager";
/// Values meshctl sets itself for the add-ons it knows; the rest are written as `values`.
const LB_CONTROLLER_OWN: &[&str] = &[
    "clusterName",
    "serviceAccount",
    "region",
    "vpcId",
    "replicaCount",
    "image",
];
const CERT_MANAGER_OWN: &[&str] = &["installCRDs", "crds", "serviceAccount"];

/// The cluster resources `facts` hold, in dependency order.
pub fn compose(facts: &Facts, names: &Names, out: &mut Vec<Resource>) {
    let kube = &facts.kube;
    for release in &kube.releases {
        let id = format!("{}/{}", release.namespace, release.name);
        let version = release.version.trim_start_matches('v').to_string();
        let role_of = |namespace: &str, account: &str| {
            names
                .roles
                .get(&(namespace.to_string(), account.to_string()))
                .cloned()
        };
        match release.chart.as_str() {
            LB_CONTROLLER_CHART => {
                let mut r = Resource::new("lb_controller", &release.name, Some(id));
                r.set("chart_version", version);
                let account = release.values["serviceAccount"]["name"]
                    .as_str()
                    .unwrap_or(LB_CONTROLLER_CHART);
                match role_of(&release.namespace, account) {
                    Some(role) => {
                        r.set("service_account", role);
                    }
                    None => {
                        r.comments.push(format!("No IRSA role trusts {}/{account}: add an iam_service_account with well_known_policy: aws_load_balancer_controller.", release.namespace));
                        r.set("service_account", super::resource_name(account));
                    }
                }
                if let Some(replicas) = release.values["replicaCount"].as_u64() {
                    r.set("replicas", replicas);
                }
                set_other_values(&mut r, &release.values, LB_CONTROLLER_OWN);
                out.push(r);
            }
            CERT_MANAGER_CHART => {
                let mut r = Resource::new("cert_manager", &release.name, Some(id));
                r.set("chart_version", version);
                if release.namespace != "cert-manager" {
                    r.set("namespace", release.namespace.clone());
                }
                let account = release.values["serviceAccount"]["name"]
                    .as_str()
                    .unwrap_or(CERT_MANAGER_CHART);
                if let Some(role) = role_of(&release.namespace, account) {
                    r.set("service_account", role);
                }
                let crds = release.values["installCRDs"]
                    .as_bool()
                    .or(release.values["crds"]["enabled"].as_bool());
                if crds == Some(false) {
                    r.set("install_crds", false);
                }
                set_other_values(&mut r, &release.values, CERT_MANAGER_OWN);
                out.push(r);
            }
            chart => {
                let mut r = Resource::new("helm_release", &release.name, Some(id));
                r.comments.push(
                    "helm does not record the chart's repository: add `repository:` (the URL you installed it from)."
                        .to_string(),
                );
                r.set("chart", chart.to_string());
                r.set("version", version);
                r.set("namespace", release.namespace.clone());
                if release.values.as_object().is_some_and(|v| !v.is_empty()) {
                    r.set("values", release.values.clone());
                }
                out.push(r);
            }
        }
    }

    for install in &kube.istio {
        let spec = &install.spec;
        let gateways_only = spec["components"]["pilot"]["enabled"] == json!(false)
            || spec["profile"] == json!("empty");
        if gateways_only {
            continue;
        }
        let mut r = Resource::new(
            "istio",
            &super::resource_name(&install.name),
            Some(format!("{}/{}", install.namespace, install.name)),
        );
        let version = spec["tag"].as_str().unwrap_or_default().to_string();
        if version.is_empty() {
            r.comments
                .push("The install names no `tag`: write the Istio version it runs.".to_string());
        }
        r.set("version", version);
        if let Some(profile) = spec["profile"].as_str().filter(|p| *p != "default") {
            r.set("profile", profile);
        }
        if install.namespace != "istio-system" {
            r.set("namespace", install.namespace.clone());
        }
        if let Some(revision) = spec["revision"].as_str().filter(|r| !r.is_empty()) {
            r.set("revision", revision);
        }
        let pilot = &spec["values"]["pilot"];
        if pilot["autoscaleMin"].is_u64() || pilot["autoscaleMax"].is_u64() {
            r.set(
                "pilot",
                json!({"min": pilot["autoscaleMin"].as_u64().unwrap_or(1), "max": pilot["autoscaleMax"].as_u64().unwrap_or(5)}),
            );
        }
        let mesh = &spec["meshConfig"];
        let mut mesh_config = Map::new();
        if let Some(mode) = mesh["outboundTrafficPolicy"]["mode"].as_str() {
            mesh_config.insert("outbound_traffic_policy".into(), json!(mode));
        }
        if let Some(file) = mesh["accessLogFile"].as_str() {
            mesh_config.insert("access_log_file".into(), json!(file));
        }
        if let Some(tracing) = mesh["enableTracing"].as_bool() {
            mesh_config.insert("enable_tracing".into(), json!(tracing));
        }
        if let Some(hold) = mesh["defaultConfig"]["holdApplicationUntilProxyStarts"].as_bool() {
            mesh_config.insert("hold_application_until_proxy_starts".into(), json!(hold));
        }
        if !mesh_config.is_empty() {
            r.set("mesh_config", Value::Object(mesh_config));
        }
        let resources = &spec["values"]["global"]["proxy"]["resources"];
        if resources.is_object() {
            r.set("proxy_resources", resources.clone());
        }
        let gateways: Vec<&str> = kube
            .gateways
            .iter()
            .filter(|g| g.operator == install.name)
            .map(|g| g.name.as_str())
            .collect();
        if !gateways.is_empty() {
            r.comments.push(format!(
                "This IstioOperator also installed the gateway(s) {}: meshctl installs each gateway\n\
                 from an IstioOperator of its own, so the first apply re-installs them that way.",
                gateways.join(", ")
            ));
        }
        out.push(r);
    }

    for gateway in &kube.gateways {
        out.push(ingress_gateway(facts, names, gateway));
    }

    for ingress in &kube.ingresses {
        if let Some(r) = alb(names, ingress) {
            out.push(r);
        }
    }

    for object in &kube.objects {
        match object["kind"].as_str().unwrap_or_default() {
            "ClusterIssuer" => out.push(issuer(names, object)),
            "Certificate" => out.push(certificate(names, object)),
            "Gateway" => out.push(istio_gateway(facts, names, object)),
            "VirtualService" => out.push(virtual_service(names, object)),
            "DestinationRule"
            | "PeerAuthentication"
            | "RequestAuthentication"
            | "AuthorizationPolicy" => out.push(policy(object)),
            _ => {}
        }
    }

    let mut rest: Vec<String> = kube
        .objects
        .iter()
        .filter(|o| {
            !matches!(
                o["kind"].as_str().unwrap_or_default(),
                "ClusterIssuer"
                    | "Certificate"
                    | "Gateway"
                    | "VirtualService"
                    | "DestinationRule"
                    | "PeerAuthentication"
                    | "RequestAuthentication"
                    | "AuthorizationPolicy"
            )
        })
        .map(describe)
        .collect();
    rest.extend(kube.unexpressed.iter().cloned());
    if !rest.is_empty() {
        let mut comments = vec![
            "Not written as resources: these objects belong to the topology, but no kind expresses them.".to_string(),
            "Copy each into a `manifest` (its `objects`, as `kubectl get -o yaml` shows it without".to_string(),
            "status and server fields) with `import: NAMESPACE/NAME` of the first, or leave it out:".to_string(),
        ];
        comments.extend(rest.into_iter().map(|object| format!("- {object}")));
        out.push(Resource::comment(comments));
    }
}

/// `Kind namespace/name` of a live object.
fn describe(object: &Value) -> String {
    let metadata = &object["metadata"];
    let name = metadata["name"].as_str().unwrap_or_default();
    match metadata["namespace"].as_str() {
        Some(namespace) => format!(
            "{} {namespace}/{name}",
            object["kind"].as_str().unwrap_or_default()
        ),
        None => format!("{} {name}", object["kind"].as_str().unwrap_or_default()),
    }
}

/// The values of a known add-on meshctl does not set itself, as `values`.
fn set_other_values(r: &mut Resource, values: &Value, own: &[&str]) {
    let Some(values) = values.as_object() else {
        return;
    };
    let other: Map<String, Value> = values
        .iter()
        .filter(|(k, _)| !own.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !other.is_empty() {
        r.set("values", Value::Object(other));
    }
}

fn ingress_gateway(facts: &Facts, names: &Names, gateway: &GatewayFacts) -> Resource {
    let id = format!("{}/{}", gateway.namespace, gateway.name);
    let name = names
        .gateways
        .get(&id)
        .cloned()
        .unwrap_or_else(|| super::resource_name(&gateway.name));
    let mut r = Resource::new("ingress_gateway", &name, Some(id));
    let istio = facts
        .kube
        .istio
        .iter()
        .find(|i| {
            i.name == gateway.operator && i.spec["components"]["pilot"]["enabled"] != json!(false)
        })
        .or_else(|| {
            facts
                .kube
                .istio
                .iter()
                .find(|i| i.spec["profile"] != json!("empty"))
        })
        .map(|i| super::resource_name(&i.name))
        .unwrap_or_else(|| "mesh".to_string());
    r.set("istio", istio);
    if gateway.namespace != "istio-system" {
        r.set("namespace", gateway.namespace.clone());
    }
    r.set("labels", json!(gateway.labels));
    let spec = &gateway.service["spec"];
    let service_type = spec["type"].as_str().unwrap_or("ClusterIP");
    let annotations = gateway.service["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let nlb = service_type == "LoadBalancer"
        && annotations
            .get("service.beta.kubernetes.io/aws-load-balancer-type")
            .and_then(Value::as_str)
            .is_some_and(|t| t == "external");
    let mut service = Map::new();
    if !(nlb || service_type == "NodePort") {
        service.insert("type".into(), json!(service_type));
    } else if service_type == "NodePort" {
        service.insert("type".into(), json!("NodePort"));
    }
    let ports: Vec<Value> = spec["ports"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let mut port = Map::new();
            port.insert("name".into(), p["name"].clone());
            port.insert("port".into(), p["port"].clone());
            if let Some(target) = p["targetPort"].as_u64() {
                port.insert("target_port".into(), json!(target));
            }
            if service_type != "ClusterIP" {
                if let Some(node_port) = p["nodePort"].as_u64() {
                    port.insert("node_port".into(), json!(node_port));
                }
            }
            if p["protocol"].as_str().is_some_and(|p| p != "TCP") {
                port.insert("protocol".into(), p["protocol"].clone());
            }
            Value::Object(port)
        })
        .collect();
    if !ports.is_empty() {
        service.insert("ports".into(), Value::Array(ports));
    }
    if spec["externalTrafficPolicy"] == json!("Local") {
        service.insert("external_traffic_policy".into(), json!("Local"));
    }
    let mut kept = Map::new();
    let mut nlb_fields = Map::new();
    for (key, value) in &annotations {
        let text = value.as_str().unwrap_or_default();
        let short = key.strip_prefix("service.beta.kubernetes.io/");
        match short {
            Some("aws-load-balancer-type") if nlb => {}
            Some("aws-load-balancer-internal") if nlb => {
                if text == "true" {
                    nlb_fields.insert("scheme".into(), json!("internal"));
                }
            }
            Some("aws-load-balancer-scheme") if nlb => {
                nlb_fields.insert("scheme".into(), json!(text));
            }
            Some("aws-load-balancer-nlb-target-type") if nlb => {
                nlb_fields.insert("target_type".into(), json!(text));
            }
            Some("aws-load-balancer-name") if nlb => {
                nlb_fields.insert("name".into(), json!(text));
            }
            Some("aws-load-balancer-ssl-ports") if nlb => {
                let ports: Vec<u64> = text.split(',').filter_map(|p| p.trim().parse().ok()).collect();
                nlb_fields.insert("tls_ports".into(), json!(ports));
            }
            Some("aws-load-balancer-ssl-cert") if nlb => match names.certificates.get(text) {
                Some(certificate) => {
                    nlb_fields.insert("certificate".into(), json!(certificate));
                }
                None => r
                    .comments
                    .push(format!("Its TLS certificate {text} was not found in ACM: add it as an acm_certificate.")),
            },
            Some("aws-load-balancer-ssl-negotiation-policy") if nlb => {
                nlb_fields.insert("ssl_negotiation_policy".into(), json!(text));
            }
            Some("load-balancer-source-ranges") if nlb => {
                let ranges: Vec<&str> = text.split(',').map(str::trim).filter(|r| !r.is_empty()).collect();
                nlb_fields.insert("source_ranges".into(), json!(ranges));
            }
            Some("aws-load-balancer-attributes") if nlb && text.contains("load_balancing.cross_zone.enabled=true") => {
                nlb_fields.insert("cross_zone".into(), json!(true));
            }
            Some("aws-load-balancer-healthcheck-path") if nlb => {
                nlb_fields
                    .entry("health_check")
                    .or_insert_with(|| json!({}))["path"] = json!(text);
            }
            Some("aws-load-balancer-healthcheck-port") if nlb => {
                r.comments.push(format!(
                    "Its NLB health check port {text} is the status port, which meshctl wires itself."
                ));
            }
            _ => {
                kept.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(ranges) = spec["loadBalancerSourceRanges"]
        .as_array()
        .filter(|r| !r.is_empty())
    {
        nlb_fields.insert("source_ranges".into(), Value::Array(ranges.clone()));
    }
    if !kept.is_empty() {
        service.insert("annotations".into(), Value::Object(kept));
    }
    if !service.is_empty() {
        r.set("service", Value::Object(service));
    }
    if nlb {
        r.set("nlb", Value::Object(nlb_fields));
    } else if service_type == "LoadBalancer" {
        r.comments.push("A LoadBalancer Service without `aws-load-balancer-type: external` is the in-tree controller's (a Classic LB): meshctl makes NLBs through the AWS Load Balancer Controller only.".to_string());
    }
    r
}

fn alb(names: &Names, ingress: &Value) -> Option<Resource> {
    let metadata = &ingress["metadata"];
    let namespace = metadata["namespace"].as_str().unwrap_or("default");
    let ingress_name = metadata["name"].as_str()?;
    let id = format!("{namespace}/{ingress_name}");
    let name = names.albs.get(&id)?.clone();
    let mut r = Resource::new("alb", &name, Some(id));
    let annotation = |key: &str| {
        metadata["annotations"][format!("alb.ingress.kubernetes.io/{key}")]
            .as_str()
            .map(str::trim)
    };
    // The backend: the path that is not the ssl-redirect action.
    let paths: Vec<Value> = ingress["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| {
            rule["http"]["paths"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let backend = paths
        .iter()
        .map(|p| &p["backend"]["service"])
        .find(|s| s["port"]["name"] != json!("use-annotation"));
    let service = backend.and_then(|b| b["name"].as_str()).unwrap_or_default();
    let gateway = names.gateways.get(&format!("{namespace}/{service}"));
    match gateway {
        Some(gateway) => {
            r.set("gateway", gateway.clone());
        }
        None => {
            r.comments.push(format!(
                "Its backend Service {namespace}/{service} is not an Istio ingress gateway: an alb fronts a gateway."
            ));
            r.set("gateway", super::resource_name(service));
        }
    }
    if let Some(scheme) = annotation("scheme").filter(|s| *s != "internet-facing") {
        r.set("scheme", scheme);
    }
    if let Some(target) = annotation("target-type").filter(|t| *t != "instance") {
        r.set("target_type", target);
    }
    if let Some(arns) = annotation("certificate-arn") {
        let arn = arns.split(',').next().unwrap_or_default().trim();
        match names.certificates.get(arn) {
            Some(certificate) => {
                r.set("certificate", certificate.clone());
            }
            None => r.comments.push(format!(
                "Its certificate {arn} was not found among the balancers' certificates in ACM."
            )),
        }
    }
    if let Some(ports) =
        annotation("listen-ports").and_then(|p| serde_json::from_str::<Value>(p).ok())
    {
        let listed: Vec<Value> = ports
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_object())
            .flat_map(|p| {
                p.iter()
                    .map(|(protocol, port)| json!({"protocol": protocol, "port": port}))
            })
            .collect();
        let default_ports = if r.fields.contains_key("certificate") {
            vec![
                json!({"protocol": "HTTP", "port": 80}),
                json!({"protocol": "HTTPS", "port": 443}),
            ]
        } else {
            vec![json!({"protocol": "HTTP", "port": 80})]
        };
        if listed != default_ports {
            r.set("listen_ports", Value::Array(listed));
        }
    }
    if annotation("actions.ssl-redirect").is_some() || annotation("ssl-redirect").is_some() {
        r.set("ssl_redirect", true);
    }
    let mut backend_fields = Map::new();
    if let Some(protocol) = annotation("backend-protocol").filter(|p| *p != "HTTP") {
        backend_fields.insert("protocol".into(), json!(protocol));
    }
    if let Some(port) = backend.and_then(|b| b["port"]["number"].as_u64()) {
        backend_fields.insert("port".into(), json!(port));
    }
    if !backend_fields.is_empty() {
        r.set("backend", Value::Object(backend_fields));
    }
    let mut health = Map::new();
    if let Some(path) = annotation("healthcheck-path") {
        health.insert("path".into(), json!(path));
    }
    if let Some(protocol) = annotation("healthcheck-protocol") {
        health.insert("protocol".into(), json!(protocol));
    }
    if let Some(port) = annotation("healthcheck-port") {
        r.comments.push(format!(
            "Its health check port `{port}` is the gateway's status port: meshctl wires it (the status nodePort for instance targets)."
        ));
    }
    if !health.is_empty() {
        r.set("health_check", Value::Object(health));
    }
    if let Some(group) = annotation("group.name") {
        r.set("group", group);
    }
    if let Some(acl) = annotation("wafv2-acl-arn") {
        r.set("waf_acl_arn", acl);
    }
    Some(r)
}

fn issuer(names: &Names, object: &Value) -> Resource {
    let object_name = object["metadata"]["name"].as_str().unwrap_or_default();
    let name = names
        .issuers
        .get(object_name)
        .cloned()
        .unwrap_or_else(|| super::resource_name(object_name));
    let mut r = Resource::new("issuer", &name, Some(object_name.to_string()));
    let acme = &object["spec"]["acme"];
    let mut acme_fields = Map::new();
    if let Some(server) = acme["server"].as_str() {
        if server != "https://acme-v02.api.letsencrypt.org/directory" {
            acme_fields.insert("server".into(), json!(server));
        }
    }
    acme_fields.insert("email".into(), acme["email"].clone());
    if let Some(secret) = acme["privateKeySecretRef"]["name"].as_str() {
        if secret != format!("{name}-account-key") {
            acme_fields.insert("private_key_secret".into(), json!(secret));
        }
    }
    r.set("acme", Value::Object(acme_fields));
    let role = names
        .roles
        .iter()
        .find(|((_, account), _)| account == "cert-manager")
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| "cert-manager".to_string());
    r.set(
        "dns01",
        json!({"zone": names.zone, "service_account": role}),
    );
    if acme["solvers"].to_string().contains("accessKeyID") {
        r.comments.push("The live issuer uses a static access key: meshctl uses the IRSA role instead; apply removes the key from the ClusterIssuer.".to_string());
    }
    r
}

fn certificate(names: &Names, object: &Value) -> Resource {
    let metadata = &object["metadata"];
    let namespace = metadata["namespace"].as_str().unwrap_or("default");
    let object_name = metadata["name"].as_str().unwrap_or_default();
    let spec = &object["spec"];
    let secret = spec["secretName"].as_str().unwrap_or(object_name);
    let name = names
        .secrets
        .get(&format!("{namespace}/{secret}"))
        .cloned()
        .unwrap_or_else(|| super::resource_name(object_name));
    let mut r = Resource::new(
        "certificate",
        &name,
        Some(format!("{namespace}/{object_name}")),
    );
    r.set("namespace", namespace);
    if secret != name {
        r.set("secret_name", secret);
    }
    let issuer = spec["issuerRef"]["name"].as_str().unwrap_or_default();
    r.set(
        "issuer",
        names
            .issuers
            .get(issuer)
            .cloned()
            .unwrap_or_else(|| super::resource_name(issuer)),
    );
    r.set("dns_names", spec["dnsNames"].clone());
    if let Some(duration) = spec["duration"].as_str() {
        r.set("duration", duration);
    }
    if let Some(renew) = spec["renewBefore"].as_str() {
        r.set("renew_before", renew);
    }
    r
}

fn istio_gateway(facts: &Facts, names: &Names, object: &Value) -> Resource {
    let metadata = &object["metadata"];
    let namespace = metadata["namespace"].as_str().unwrap_or("default");
    let object_name = metadata["name"].as_str().unwrap_or_default();
    let name = names
        .istio_gateways
        .get(&format!("{namespace}/{object_name}"))
        .cloned()
        .unwrap_or_else(|| super::resource_name(object_name));
    let mut r = Resource::new("gateway", &name, Some(format!("{namespace}/{object_name}")));
    r.set("namespace", namespace);
    let selector = &object["spec"]["selector"];
    let by_labels = facts
        .kube
        .gateways
        .iter()
        .find(|g| json!(g.labels) == *selector);
    match by_labels.and_then(|g| names.gateways.get(&format!("{}/{}", g.namespace, g.name))) {
        Some(gateway) => r.set("selector", gateway.clone()),
        None => r.set("selector", selector.clone()),
    };
    let servers: Vec<Value> = object["spec"]["servers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|server| {
            let mut out = Map::new();
            out.insert(
                "port".into(),
                json!({"number": server["port"]["number"], "name": server["port"]["name"], "protocol": server["port"]["protocol"]}),
            );
            out.insert("hosts".into(), server["hosts"].clone());
            let tls = &server["tls"];
            let mut tls_out = Map::new();
            if tls["httpsRedirect"] == json!(true) {
                tls_out.insert("https_redirect".into(), json!(true));
            }
            if let Some(mode) = tls["mode"].as_str() {
                tls_out.insert("mode".into(), json!(mode));
            }
            if let Some(credential) = tls["credentialName"].as_str() {
                let certificate = names
                    .secrets
                    .get(&format!("{namespace}/{credential}"))
                    .cloned()
                    .unwrap_or_else(|| super::resource_name(credential));
                tls_out.insert("credential".into(), json!(certificate));
            }
            if !tls_out.is_empty() {
                out.insert("tls".into(), Value::Object(tls_out));
            }
            Value::Object(out)
        })
        .collect();
    r.set("servers", Value::Array(servers));
    r
}

fn virtual_service(names: &Names, object: &Value) -> Resource {
    let metadata = &object["metadata"];
    let namespace = metadata["namespace"].as_str().unwrap_or("default");
    let object_name = metadata["name"].as_str().unwrap_or_default();
    let mut r = Resource::new(
        "virtual_service",
        &super::resource_name(object_name),
        Some(format!("{namespace}/{object_name}")),
    );
    if namespace != "default" {
        r.set("namespace", namespace);
    }
    let spec = &object["spec"];
    r.set("hosts", spec["hosts"].clone());
    let gateways: Vec<Value> = spec["gateways"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(|g| {
            let key = if g.contains('/') {
                g.to_string()
            } else {
                format!("{namespace}/{g}")
            };
            match names.istio_gateways.get(&key) {
                Some(name) => json!(name),
                None => json!(g),
            }
        })
        .collect();
    if !gateways.is_empty() {
        r.set("gateways", Value::Array(gateways));
    }
    let http: Vec<Value> = spec["http"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|route| {
            let mut out = Map::new();
            if let Some(name) = route["name"].as_str() {
                out.insert("name".into(), json!(name));
            }
            if let Some(matches) = route["match"].as_array() {
                out.insert("match".into(), Value::Array(matches.clone()));
            }
            if let Some(destinations) = route["route"].as_array() {
                let routes: Vec<Value> = destinations
                    .iter()
                    .map(|d| {
                        let destination = &d["destination"];
                        let mut to = Map::new();
                        to.insert("host".into(), destination["host"].clone());
                        if let Some(subset) = destination["subset"].as_str() {
                            to.insert("subset".into(), json!(subset));
                        }
                        if let Some(port) = destination["port"]["number"].as_u64() {
                            to.insert("port".into(), json!(port));
                        }
                        let mut entry = Map::new();
                        entry.insert("destination".into(), Value::Object(to));
                        if let Some(weight) = d["weight"].as_u64() {
                            entry.insert("weight".into(), json!(weight));
                        }
                        Value::Object(entry)
                    })
                    .collect();
                out.insert("route".into(), Value::Array(routes));
            }
            if let Some(timeout) = route["timeout"].as_str() {
                out.insert("timeout".into(), json!(timeout));
            }
            Value::Object(out)
        })
        .collect();
    r.set("http", Value::Array(http));
    r
}

/// A DestinationRule or a security policy: the kind's fields are Istio's spec with snake_case
/// names, and a workload selector's `matchLabels` as `selector`.
fn policy(object: &Value) -> Resource {
    let kind = match object["kind"].as_str().unwrap_or_default() {
        "DestinationRule" => "destination_rule",
        "PeerAuthentication" => "peer_authentication",
        "RequestAuthentication" => "request_authentication",
        _ => "authorization_policy",
    };
    let metadata = &object["metadata"];
    let namespace = metadata["namespace"].as_str().unwrap_or("default");
    let object_name = metadata["name"].as_str().unwrap_or_default();
    let mut r = Resource::new(
        kind,
        &super::resource_name(object_name),
        Some(format!("{namespace}/{object_name}")),
    );
    r.set("namespace", namespace);
    let Some(spec) = object["spec"].as_object() else {
        return r;
    };
    for (key, value) in spec {
        match key.as_str() {
            "selector" => {
                if let Some(labels) = value["matchLabels"].as_object() {
                    r.set("selector", Value::Object(labels.clone()));
                }
            }
            _ => {
                r.set(&snake_case(key), snake_keys(value));
            }
        }
    }
    r
}

/// Istio's camelCase field names as the stack language's snake_case ones, all the way down (map
/// keys that are data, such as labels, keep their names).
fn snake_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    if k == "labels" || k == "matchLabels" {
                        (snake_case(k), v.clone())
                    } else {
                        (snake_case(k), snake_keys(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(snake_keys).collect()),
        other => other.clone(),
    }
}

fn snake_case(name: &str) -> String {
    if name == "consecutive5xxErrors" {
        return "consecutive_5xx_errors".to_string();
    }
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn istio_names_become_the_stack_languages() {
        assert_eq!(snake_case("trafficPolicy"), "traffic_policy");
        assert_eq!(
            snake_case("http1MaxPendingRequests"),
            "http1_max_pending_requests"
        );
        assert_eq!(snake_case("consecutive5xxErrors"), "consecutive_5xx_errors");
        assert_eq!(snake_case("jwksUri"), "jwks_uri");
        assert_eq!(snake_case("notValues"), "not_values");
    }
}
