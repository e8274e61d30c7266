//! The Service half of the AWS Load Balancer Controller: a `type: LoadBalancer` Service with
//! `service.beta.kubernetes.io/aws-load-balancer-type: external` (or `nlb-ip`, or
//! `spec.loadBalancerClass: service.k8s.aws/nlb`) becomes an NLB in moto with a TCP (TLS for
//! `ssl-ports` with `ssl-cert`) listener per Service port, forwarding to a target group on the
//! port's nodePort (`nlb-target-type: instance`, the default) or target port (`ip`). Its DNS name
//! goes to the Service status; deletion (or the Service no longer qualifying) removes the NLB after
//! the deletion delay and releases the `service.k8s.aws/resources` finalizer.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::alb::{ns_name, split_list};
use super::aws::AwsClients;
use super::events::{record, EventKind};
use super::model::{
    check_annotations, k8s_name, source_cidrs, ActionModel, HealthCheck, IngressRule, LbModel,
    LbType, ListenerModel, SecurityGroups, Subnets, TargetGroupModel, SERVICE_TAGS,
};
use super::queue::{spawn_queue, Fut2, Next};
use super::targets::Backend;
use super::{
    addon_deployment, annotation, deployment_arg, has_finalizer, is_deleting, set_finalizer,
    ControllerOptions, LOAD_BALANCER_CONTROLLER_DEPLOYMENT, SERVICE_FINALIZER,
};
use crate::kube::{Change, Gvr, Store};
use meshctl_controller_facts::annotations::parse_string_map;

const MANAGER: &str = "aws-load-balancer-controller";
const COMPONENT: &str = "service";
const PREFIX: &str = "service.beta.kubernetes.io/aws-load-balancer-";
/// The one Service annotation of the controller outside [`PREFIX`].
const SOURCE_RANGES: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";
const RETRY: Duration = Duration::from_secs(3);

fn services() -> Gvr {
    Gvr::new("", "v1", "services")
}

/// True when the Service is this controller's to serve with an NLB.
pub(crate) fn is_nlb_service(service: &Value) -> bool {
    if service["spec"]["type"] != "LoadBalancer" || is_deleting(service) {
        return false;
    }
    service["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb"
        || matches!(
            annotation(service, &format!("{PREFIX}type")).map(str::trim),
            Some("external" | "nlb-ip")
        )
}

struct Controller {
    clients: Arc<AwsClients>,
    options: ControllerOptions,
    deleting_since: Mutex<HashMap<String, Instant>>,
}

pub(crate) fn spawn(
    store: Arc<Store>,
    clients: Arc<AwsClients>,
    options: ControllerOptions,
) -> JoinHandle<()> {
    let controller = Arc::new(Controller {
        clients,
        options: options.clone(),
        deleting_since: Mutex::new(HashMap::new()),
    });
    let keys_controller = controller.clone();
    let reconcile_store = store.clone();
    spawn_queue(
        store,
        options.resync,
        move |store, change| -> Fut2<String> {
            let controller = keys_controller.clone();
            Box::pin(async move { controller.keys(&store, change).await })
        },
        move |key| {
            let controller = controller.clone();
            let store = reconcile_store.clone();
            async move { controller.reconcile(&store, &key).await }
        },
    )
}

fn key_of(service: &Value) -> String {
    let (ns, name) = ns_name(service);
    format!("{ns}/{name}")
}

impl Controller {
    fn cluster(&self, deployment: &Value) -> String {
        deployment_arg(deployment, "--cluster-name")
            .unwrap_or_else(|| self.options.cluster_name.clone())
    }

    async fn keys(&self, store: &Store, change: Option<Change>) -> Vec<String> {
        let ours = |s: &Value| is_nlb_service(s) || has_finalizer(s, SERVICE_FINALIZER);
        let all = || -> Vec<String> {
            store
                .list(&services(), None)
                .unwrap_or_default()
                .iter()
                .filter(|s| ours(s))
                .map(key_of)
                .collect()
        };
        match change {
            Some(change) => match (
                change.resource.group.as_str(),
                change.resource.resource.as_str(),
            ) {
                ("", "services") if ours(&change.object) => vec![key_of(&change.object)],
                ("apps", "deployments")
                    if super::is_addon_deployment(
                        &change.object,
                        LOAD_BALANCER_CONTROLLER_DEPLOYMENT,
                    ) =>
                {
                    all()
                }
                _ => Vec::new(),
            },
            None => {
                let mut keys = all();
                if let Some(deployment) =
                    addon_deployment(store, LOAD_BALANCER_CONTROLLER_DEPLOYMENT)
                {
                    match self
                        .clients
                        .stack_ids(&self.cluster(&deployment), SERVICE_TAGS)
                        .await
                    {
                        Ok(ids) => keys.extend(ids),
                        Err(e) => eprintln!("[{COMPONENT}] listing the cluster's NLBs: {e}"),
                    }
                }
                keys
            }
        }
    }

    async fn reconcile(&self, store: &Store, key: &str) -> Next {
        let Some(deployment) = addon_deployment(store, LOAD_BALANCER_CONTROLLER_DEPLOYMENT) else {
            return Next::Idle;
        };
        let cluster = self.cluster(&deployment);
        let vpc = deployment_arg(&deployment, "--aws-vpc-id");
        let (ns, name) = key.split_once('/').unwrap_or(("default", key));
        let service = store.get(&services(), Some(ns), name).ok();
        let wanted = service.as_ref().is_some_and(is_nlb_service);
        if !wanted {
            // Deleted, or no longer an NLB Service: remove its balancer after the delay.
            if let Some(service) = &service {
                if !has_finalizer(service, SERVICE_FINALIZER) {
                    return Next::Idle;
                }
                let uid = service["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let first = *self
                    .deleting_since
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(uid.clone())
                    .or_insert_with(Instant::now);
                if first.elapsed() < self.options.deletion_delay {
                    return Next::After(self.options.deletion_delay - first.elapsed());
                }
            }
            if let Err(e) = self.clients.delete_stack(&cluster, SERVICE_TAGS, key).await {
                if let Some(service) = &service {
                    record(
                        store,
                        service,
                        EventKind::Warning,
                        "FailedCleanupModel",
                        &format!("Failed cleanup due to {e}"),
                        COMPONENT,
                    );
                }
                return Next::After(RETRY);
            }
            if let Some(service) = &service {
                if !is_deleting(service) && !service["status"]["loadBalancer"].is_null() {
                    let mut status = service["status"].clone();
                    status["loadBalancer"] = json!({});
                    let _ = store.apply_status(&services(), Some(ns), name, status, MANAGER);
                }
                if let Err(e) = set_finalizer(
                    store,
                    &services(),
                    Some(ns),
                    name,
                    SERVICE_FINALIZER,
                    false,
                    MANAGER,
                ) {
                    eprintln!("[{COMPONENT}] {e}");
                    return Next::After(RETRY);
                }
                if let Some(uid) = service["metadata"]["uid"].as_str() {
                    self.deleting_since
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(uid);
                }
            }
            return Next::Idle;
        }
        let Some(service) = service else {
            return Next::Idle;
        };
        if let Err(e) = set_finalizer(
            store,
            &services(),
            Some(ns),
            name,
            SERVICE_FINALIZER,
            true,
            MANAGER,
        ) {
            eprintln!("[{COMPONENT}] {e}");
            return Next::After(RETRY);
        }
        let model = match build_model(&service) {
            Ok(model) => model,
            Err(e) => {
                record(
                    store,
                    &service,
                    EventKind::Warning,
                    "FailedBuildModel",
                    &format!("Failed build model due to {e}"),
                    COMPONENT,
                );
                return Next::After(RETRY);
            }
        };
        let dns = match self
            .clients
            .deploy(
                &cluster,
                vpc.as_deref(),
                &model,
                &self.options.target_health,
            )
            .await
        {
            Ok(dns) => dns,
            Err(e) => {
                record(
                    store,
                    &service,
                    EventKind::Warning,
                    "FailedDeployModel",
                    &format!("Failed deploy model due to {e}"),
                    COMPONENT,
                );
                return Next::After(RETRY);
            }
        };
        let hostname = json!({"ingress": [{"hostname": dns}]});
        if service["status"]["loadBalancer"] != hostname {
            let mut status = service["status"].clone();
            if !status.is_object() {
                status = json!({});
            }
            status["loadBalancer"] = hostname;
            match store.apply_status(&services(), Some(ns), name, status, MANAGER) {
                Ok(updated) => record(
                    store,
                    &updated,
                    EventKind::Normal,
                    "SuccessfullyReconciled",
                    "Successfully reconciled",
                    COMPONENT,
                ),
                Err(e) => {
                    eprintln!("[{COMPONENT}] writing the status of {key}: {e}");
                    return Next::After(RETRY);
                }
            }
        }
        Next::Idle
    }
}

/// Builds the desired NLB for a Service.
pub(crate) fn build_model(service: &Value) -> Result<LbModel, String> {
    let (ns, name) = ns_name(service);
    let stack = format!("{ns}/{name}");
    let ann = |key: &str| annotation(service, &format!("{PREFIX}{key}")).map(str::trim);
    let where_ = format!("service {stack}");
    check_annotations(service, &where_)?;
    let scheme = match (ann("scheme"), ann("internal")) {
        (Some(s), _) => s.to_string(),
        (None, Some("true")) => "internal".to_string(),
        (None, Some("false")) => "internet-facing".to_string(),
        (None, _) => "internal".to_string(),
    };
    if scheme != "internal" && scheme != "internet-facing" {
        return Err(format!(
            "{where_}: unknown scheme: {scheme}; {PREFIX}scheme must be internal or internet-facing"
        ));
    }
    let default_target = if ann("type") == Some("nlb-ip") {
        "ip"
    } else {
        "instance"
    };
    let target_type = ann("nlb-target-type").unwrap_or(default_target);
    if target_type != "instance" && target_type != "ip" {
        return Err(format!(
            "{where_}: unknown target type: {target_type}; {PREFIX}nlb-target-type must be instance or ip"
        ));
    }
    let certificates = ann("ssl-cert").map(split_list).unwrap_or_default();
    let ssl_ports = ann("ssl-ports").map(split_list);
    let mut tags = BTreeMap::new();
    if let Some(raw) = ann("additional-resource-tags").filter(|s| !s.is_empty()) {
        for pair in split_list(raw) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                format!("{where_}: failed to parse stringMap annotation, {PREFIX}additional-resource-tags: {raw}: expected key=value pairs separated by commas")
            })?;
            tags.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    let int = |key: &str, default: i32| -> Result<i32, String> {
        match ann(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                format!("{where_}: failed to parse integer annotation, {PREFIX}{key}: {v}")
            }),
        }
    };
    let hc_protocol = ann("healthcheck-protocol").unwrap_or("TCP").to_uppercase();
    if !matches!(hc_protocol.as_str(), "TCP" | "HTTP" | "HTTPS") {
        return Err(format!(
            "{where_}: healthcheck protocol must be within [TCP, HTTP, HTTPS]: {hc_protocol}"
        ));
    }
    let hc_port = match ann("healthcheck-port").unwrap_or("traffic-port") {
        "traffic-port" => "traffic-port".to_string(),
        n if n.parse::<u16>().is_ok_and(|n| n > 0) => n.to_string(),
        other => {
            return Err(format!(
                "{where_}: healthcheck port \"{other}\" must be traffic-port or a port number ({PREFIX}healthcheck-port)"
            ))
        }
    };
    let http_check = hc_protocol != "TCP";
    let health = HealthCheck {
        protocol: hc_protocol,
        port: hc_port,
        path: http_check.then(|| ann("healthcheck-path").unwrap_or("/").to_string()),
        interval_seconds: int("healthcheck-interval", 10)?,
        timeout_seconds: int("healthcheck-timeout", 10)?,
        healthy_threshold: int("healthcheck-healthy-threshold", 3)?,
        unhealthy_threshold: int("healthcheck-unhealthy-threshold", 3)?,
        success_codes: http_check.then(|| {
            ann("healthcheck-success-codes")
                .unwrap_or("200-399")
                .to_string()
        }),
    };

    let mut target_groups = Vec::new();
    let mut listeners = Vec::new();
    for port in service["spec"]["ports"].as_array().into_iter().flatten() {
        let number = port["port"].as_i64().unwrap_or(0) as i32;
        let port_name = port["name"].as_str().unwrap_or_default();
        let l4 = port["protocol"].as_str().unwrap_or("TCP").to_uppercase();
        let tls = l4 == "TCP"
            && !certificates.is_empty()
            && ssl_ports.as_ref().is_none_or(|ports| {
                ports
                    .iter()
                    // `*` matches no port (controller v2.2+), so it is not looked for.
                    .any(|p| p == port_name || *p == number.to_string())
            });
        let tg_port = if target_type == "instance" {
            port["nodePort"].as_i64().ok_or_else(|| {
                format!("{where_}: port {number} has no nodePort yet (target type instance)")
            })?
        } else {
            port["targetPort"].as_i64().unwrap_or(i64::from(number))
        } as i32;
        let tg_name = k8s_name(
            &ns,
            &name,
            &format!("{stack}|{number}|{target_type}|{l4}|{tg_port}"),
        );
        target_groups.push(TargetGroupModel {
            name: tg_name.clone(),
            resource_id: format!("{stack}:{number}"),
            backend: Backend {
                namespace: ns.clone(),
                service: name.clone(),
                port: i64::from(number),
            },
            protocol: l4.clone(),
            port: tg_port,
            target_type: target_type.to_string(),
            health: health.clone(),
        });
        listeners.push(ListenerModel {
            port: number,
            protocol: if tls { "TLS".to_string() } else { l4 },
            certificates: if tls {
                certificates.clone()
            } else {
                Vec::new()
            },
            ssl_policy: tls.then(|| {
                ann("ssl-negotiation-policy")
                    .unwrap_or("ELBSecurityPolicy-2016-08")
                    .to_string()
            }),
            default_action: ActionModel::Forward(tg_name),
            rules: Vec::new(),
        });
    }
    if listeners.is_empty() {
        return Err(format!("{where_}: the service has no ports to listen on"));
    }
    // Attributes: the annotation's pairs; the deprecated cross-zone annotation loses to them.
    let mut attributes = BTreeMap::new();
    if let Some(enabled) = ann("cross-zone-load-balancing-enabled") {
        attributes.insert(
            "load_balancing.cross_zone.enabled".to_string(),
            enabled.to_string(),
        );
    }
    if let Some(raw) = ann("attributes") {
        for (key, value) in parse_string_map(raw).map_err(|e| format!("{where_}: {e}"))? {
            attributes.insert(key.to_string(), value.to_string());
        }
    }
    // Security groups (controller v2.6+): the annotation's, else a managed one open to
    // spec.loadBalancerSourceRanges, else the source-ranges annotation, on every Service port.
    let security_groups = match ann("security-groups").filter(|s| !s.is_empty()) {
        Some(named) => SecurityGroups::Named(split_list(named)),
        None => {
            let mut ranges: Vec<String> = service["spec"]["loadBalancerSourceRanges"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            if ranges.is_empty() {
                if let Some(raw) = annotation(service, SOURCE_RANGES) {
                    ranges = split_list(raw);
                }
            }
            let cidrs = source_cidrs(ranges, &where_)?;
            let mut rules = Vec::new();
            for port in service["spec"]["ports"].as_array().into_iter().flatten() {
                let protocol = port["protocol"].as_str().unwrap_or("TCP").to_lowercase();
                let number = port["port"].as_i64().unwrap_or(0) as i32;
                for cidr in &cidrs {
                    rules.push(IngressRule {
                        protocol: protocol.clone(),
                        port: number,
                        cidr: cidr.clone(),
                    });
                }
            }
            SecurityGroups::Managed {
                name: k8s_name(&ns, &name, &format!("{stack}|security-group")),
                rules,
            }
        }
    };
    Ok(LbModel {
        tags_kind: SERVICE_TAGS,
        stack_id: stack.clone(),
        name: ann("name")
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| k8s_name(&ns, &name, &format!("{stack}|{scheme}"))),
        lb_type: LbType::Network,
        scheme,
        subnets: ann("subnets")
            .filter(|s| !s.is_empty())
            .map(|s| Subnets::Named(split_list(s)))
            .unwrap_or(Subnets::Discover),
        tags,
        target_groups,
        listeners,
        attributes,
        security_groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_004_service_builds_an_internal_nlb_with_tls_on_443() {
        let svc = json!({"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system", "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-name": "istio-ingress-nlb",
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
            "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": "arn:aws:acm:ap-northeast-2:123456789012:certificate/abc",
            "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/healthz/ready",
            "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port": "15021",
        }}, "spec": {"type": "LoadBalancer", "ports": [
            {"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP", "nodePort": 31000},
            {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP", "nodePort": 31443}]}});
        assert!(is_nlb_service(&svc));
        let model = build_model(&svc).unwrap();
        assert_eq!(
            (model.name.as_str(), model.scheme.as_str()),
            ("istio-ingress-nlb", "internal")
        );
        assert_eq!(model.listeners[0].protocol, "TCP");
        assert_eq!(model.listeners[1].protocol, "TLS");
        assert_eq!(
            model.listeners[1].certificates,
            vec!["arn:aws:acm:ap-northeast-2:123456789012:certificate/abc"]
        );
        assert_eq!(model.target_groups[1].port, 8443);
        assert_eq!(model.target_groups[1].health.port, "15021");
        // A TCP health check has no path.
        assert_eq!(model.target_groups[1].health.path, None);
        // No source ranges: the managed security group is open to everyone on every port.
        let SecurityGroups::Managed { rules, .. } = &model.security_groups else {
            panic!("{:?}", model.security_groups)
        };
        assert_eq!(rules.len(), 2);
        assert!(rules.iter().all(|r| r.cidr == "0.0.0.0/0"));
    }

    #[test]
    fn source_ranges_and_attributes_become_the_security_group_and_nlb_attributes() {
        let mut svc = json!({"metadata": {"name": "gw", "namespace": "istio-system", "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/16,172.16.0.0/12",
            "service.beta.kubernetes.io/aws-load-balancer-attributes": "load_balancing.cross_zone.enabled=true",
        }}, "spec": {"type": "LoadBalancer", "ports": [
            {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}});
        let model = build_model(&svc).unwrap();
        assert_eq!(
            model
                .attributes
                .get("load_balancing.cross_zone.enabled")
                .map(String::as_str),
            Some("true")
        );
        let SecurityGroups::Managed { rules, .. } = &model.security_groups else {
            panic!("{:?}", model.security_groups)
        };
        let cidrs: Vec<(&str, i32, &str)> = rules
            .iter()
            .map(|r| (r.protocol.as_str(), r.port, r.cidr.as_str()))
            .collect();
        assert_eq!(
            cidrs,
            [("tcp", 443, "10.0.0.0/16"), ("tcp", 443, "172.16.0.0/12")]
        );
        // spec.loadBalancerSourceRanges wins over the annotation.
        svc["spec"]["loadBalancerSourceRanges"] = json!(["192.168.0.0/24"]);
        let model = build_model(&svc).unwrap();
        let SecurityGroups::Managed { rules, .. } = &model.security_groups else {
            panic!()
        };
        assert_eq!(rules[0].cidr, "192.168.0.0/24");
        // Named groups replace the managed one.
        svc["metadata"]["annotations"]
            ["service.beta.kubernetes.io/aws-load-balancer-security-groups"] =
            json!("sg-0123, office");
        let model = build_model(&svc).unwrap();
        assert_eq!(
            model.security_groups,
            SecurityGroups::Named(vec!["sg-0123".into(), "office".into()])
        );
    }

    #[test]
    fn annotations_out_of_the_documented_format_fail_the_build() {
        let svc = |key: &str, value: &str| {
            json!({"metadata": {"name": "gw", "namespace": "ns", "annotations": {
                "service.beta.kubernetes.io/aws-load-balancer-type": "external",
                key: value,
            }}, "spec": {"type": "LoadBalancer", "ports": [{"name": "tls", "port": 443, "nodePort": 30443}]}})
        };
        let e = build_model(&svc(
            "service.beta.kubernetes.io/aws-load-balancer-attributes",
            "cross_zone=true",
        ))
        .unwrap_err();
        assert!(
            e.contains("aws-load-balancer-attributes") && e.contains("`cross_zone` is not one"),
            "{e}"
        );
        let e = build_model(&svc(
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports",
            "*",
        ))
        .unwrap_err();
        assert!(e.contains("`*` matches no port"), "{e}");
        let e = build_model(&svc(
            "service.beta.kubernetes.io/aws-load-balancer-nlb-targettype",
            "ip",
        ))
        .unwrap_err();
        assert!(
            e.contains("did you mean service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"),
            "{e}"
        );
        let e = build_model(&svc(
            "service.beta.kubernetes.io/load-balancer-source-ranges",
            "::/0",
        ))
        .unwrap_err();
        assert!(e.contains("unsupported v6 cidr ::/0"), "{e}");
    }
}
