//! The Ingress half of the AWS Load Balancer Controller: every `alb` Ingress (or IngressGroup,
//! `alb.ingress.kubernetes.io/group.name`) becomes one ALB in moto with a target group per
//! backend Service port, listeners from `listen-ports`, certificates from `certificate-arn`, rules
//! from the Ingress rules and `actions.*`, and the ALB's DNS name in the Ingress status. Bad
//! annotations give a `FailedBuildModel` Warning Event, AWS failures (a missing certificate, no
//! tagged subnets) a `FailedDeployModel` one, and no balancer. Deleting an Ingress removes its
//! part (or, for the last member, the whole ALB and its target groups) after the deletion delay,
//! then releases the `ingress.k8s.aws/resources` finalizer.
//!
//! Annotations are read as the real controller (v2) reads them; target group settings
//! (`target-type`, `backend-protocol`, `healthcheck-*`, `success-codes`) on the backend Service
//! win over the Ingress's. Targets are registered and judged in `targets`. Not simulated:
//! security groups, auth actions,
//! certificate discovery by host (an HTTPS listener needs `certificate-arn`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::aws::AwsClients;
use super::events::{record, EventKind};
use super::model::{
    check_annotations, k8s_group_name, k8s_name, source_cidrs, ActionModel, HealthCheck,
    IngressRule, LbModel, LbType, ListenerModel, RuleModel, SecurityGroups, Subnets,
    TargetGroupModel, INGRESS_TAGS,
};
use super::queue::{spawn_queue, Fut2, Next};
use super::targets::Backend;
use super::{
    addon_deployment, annotation, deployment_arg, is_deleting, set_finalizer, ControllerOptions,
    INGRESS_FINALIZER, LOAD_BALANCER_CONTROLLER_DEPLOYMENT,
};
use crate::kube::{Change, Gvr, Store};
use meshctl_controller_facts::annotations::parse_string_map;

const MANAGER: &str = "aws-load-balancer-controller";
const COMPONENT: &str = "ingress";
const PREFIX: &str = "alb.ingress.kubernetes.io/";
const RETRY: Duration = Duration::from_secs(3);

fn ingresses() -> Gvr {
    Gvr::new("networking.k8s.io", "v1", "ingresses")
}

fn services() -> Gvr {
    Gvr::new("", "v1", "services")
}

/// True when the Ingress belongs to this controller: the `kubernetes.io/ingress.class: alb`
/// annotation, or an `ingressClassName` whose IngressClass names the `ingress.k8s.aws/alb`
/// controller (or, with no such IngressClass object, is literally `alb`).
pub(crate) fn is_alb_ingress(store: &Store, ingress: &Value) -> bool {
    if let Some(class) = annotation(ingress, "kubernetes.io/ingress.class") {
        return class == "alb";
    }
    let Some(class) = ingress["spec"]["ingressClassName"].as_str() else {
        return false;
    };
    match store.get(
        &Gvr::new("networking.k8s.io", "v1", "ingressclasses"),
        None,
        class,
    ) {
        Ok(ic) => ic["spec"]["controller"] == "ingress.k8s.aws/alb",
        Err(_) => class == "alb",
    }
}

/// The IngressGroup an Ingress is in: its explicit group name, or `namespace/name`.
pub(crate) fn stack_id(ingress: &Value) -> String {
    match annotation(ingress, &format!("{PREFIX}group.name")).map(str::trim) {
        Some(group) if !group.is_empty() => group.to_string(),
        _ => format!(
            "{}/{}",
            ingress["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default"),
            ingress["metadata"]["name"].as_str().unwrap_or_default()
        ),
    }
}

struct Controller {
    clients: Arc<AwsClients>,
    options: ControllerOptions,
    /// When each deleted Ingress (by uid) was first seen deleting.
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
        move |stack| {
            let controller = controller.clone();
            let store = reconcile_store.clone();
            async move { controller.reconcile(&store, &stack).await }
        },
    )
}

impl Controller {
    fn cluster(&self, deployment: &Value) -> String {
        deployment_arg(deployment, "--cluster-name")
            .unwrap_or_else(|| self.options.cluster_name.clone())
    }

    /// The stacks a change concerns; all of them (including stacks only AWS still knows) when
    /// `change` is None.
    async fn keys(&self, store: &Store, change: Option<Change>) -> Vec<String> {
        let all_ingress_stacks = || -> Vec<String> {
            store
                .list(&ingresses(), None)
                .unwrap_or_default()
                .iter()
                .filter(|i| is_alb_ingress(store, i))
                .map(stack_id)
                .collect()
        };
        match change {
            Some(change) => match (
                change.resource.group.as_str(),
                change.resource.resource.as_str(),
            ) {
                ("networking.k8s.io", "ingresses") => {
                    if is_alb_ingress(store, &change.object) {
                        vec![stack_id(&change.object)]
                    } else {
                        Vec::new()
                    }
                }
                ("", "services") => store
                    .list(&ingresses(), change.namespace.as_deref())
                    .unwrap_or_default()
                    .iter()
                    .filter(|i| is_alb_ingress(store, i))
                    .map(stack_id)
                    .collect(),
                ("networking.k8s.io", "ingressclasses") => all_ingress_stacks(),
                ("apps", "deployments")
                    if super::is_addon_deployment(
                        &change.object,
                        LOAD_BALANCER_CONTROLLER_DEPLOYMENT,
                    ) =>
                {
                    all_ingress_stacks()
                }
                _ => Vec::new(),
            },
            None => {
                let mut keys = all_ingress_stacks();
                if let Some(deployment) =
                    addon_deployment(store, LOAD_BALANCER_CONTROLLER_DEPLOYMENT)
                {
                    match self
                        .clients
                        .stack_ids(&self.cluster(&deployment), INGRESS_TAGS)
                        .await
                    {
                        Ok(ids) => keys.extend(ids),
                        Err(e) => eprintln!("[{COMPONENT}] listing the cluster's ALBs: {e}"),
                    }
                }
                keys
            }
        }
    }

    async fn reconcile(&self, store: &Store, stack: &str) -> Next {
        let Some(deployment) = addon_deployment(store, LOAD_BALANCER_CONTROLLER_DEPLOYMENT) else {
            return Next::Idle;
        };
        let cluster = self.cluster(&deployment);
        let vpc = deployment_arg(&deployment, "--aws-vpc-id");
        let mut members: Vec<Value> = store
            .list(&ingresses(), None)
            .unwrap_or_default()
            .into_iter()
            .filter(|i| is_alb_ingress(store, i) && stack_id(i) == stack)
            .collect();
        members.sort_by_key(|i| {
            (
                annotation(i, &format!("{PREFIX}group.order"))
                    .and_then(|o| o.trim().parse::<i64>().ok())
                    .unwrap_or(0),
                i["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                i["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        });
        let (leaving, live): (Vec<Value>, Vec<Value>) = members.into_iter().partition(is_deleting);
        let leaving: Vec<Value> = leaving
            .into_iter()
            .filter(|i| super::has_finalizer(i, INGRESS_FINALIZER))
            .collect();

        // A deleted Ingress keeps its balancer for the deletion delay, as the real one does for
        // the time a reconcile takes.
        if let Some(wait) = self.remaining_delay(&leaving) {
            return Next::After(wait);
        }

        for ingress in &live {
            let (ns, name) = ns_name(ingress);
            if let Err(e) = set_finalizer(
                store,
                &ingresses(),
                Some(&ns),
                &name,
                INGRESS_FINALIZER,
                true,
                MANAGER,
            ) {
                eprintln!("[{COMPONENT}] {e}");
                return Next::After(RETRY);
            }
        }

        if live.is_empty() {
            if let Err(e) = self
                .clients
                .delete_stack(&cluster, INGRESS_TAGS, stack)
                .await
            {
                for ingress in &leaving {
                    record(
                        store,
                        ingress,
                        EventKind::Warning,
                        "FailedDeployModel",
                        &format!("Failed deploy model due to {e}"),
                        COMPONENT,
                    );
                }
                return Next::After(RETRY);
            }
            return self.release(store, &leaving);
        }

        let lookup = |ns: &str, name: &str| store.get(&services(), Some(ns), name).ok();
        let model = match build_model(stack, &live, &lookup) {
            Ok(model) => model,
            Err(e) => {
                for ingress in &live {
                    record(
                        store,
                        ingress,
                        EventKind::Warning,
                        "FailedBuildModel",
                        &format!("Failed build model due to {e}"),
                        COMPONENT,
                    );
                }
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
                for ingress in &live {
                    record(
                        store,
                        ingress,
                        EventKind::Warning,
                        "FailedDeployModel",
                        &format!("Failed deploy model due to {e}"),
                        COMPONENT,
                    );
                }
                return Next::After(RETRY);
            }
        };
        let status = json!({"loadBalancer": {"ingress": [{"hostname": dns}]}});
        for ingress in &live {
            if ingress["status"] != status {
                let (ns, name) = ns_name(ingress);
                match store.apply_status(&ingresses(), Some(&ns), &name, status.clone(), MANAGER) {
                    Ok(updated) => record(
                        store,
                        &updated,
                        EventKind::Normal,
                        "SuccessfullyReconciled",
                        "Successfully reconciled",
                        COMPONENT,
                    ),
                    Err(e) => {
                        eprintln!("[{COMPONENT}] writing the status of {ns}/{name}: {e}");
                        return Next::After(RETRY);
                    }
                }
            }
        }
        self.release(store, &leaving)
    }

    fn remaining_delay(&self, leaving: &[Value]) -> Option<Duration> {
        let mut since = self
            .deleting_since
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut longest = None;
        for ingress in leaving {
            let uid = ingress["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let first = *since.entry(uid).or_insert_with(Instant::now);
            let elapsed = first.elapsed();
            if elapsed < self.options.deletion_delay {
                let left = self.options.deletion_delay - elapsed;
                longest = Some(longest.map_or(left, |l: Duration| l.max(left)));
            }
        }
        longest
    }

    /// Removes the finalizer from Ingresses whose part of the balancer is gone.
    fn release(&self, store: &Store, leaving: &[Value]) -> Next {
        let mut next = Next::Idle;
        for ingress in leaving {
            let (ns, name) = ns_name(ingress);
            if let Err(e) = set_finalizer(
                store,
                &ingresses(),
                Some(&ns),
                &name,
                INGRESS_FINALIZER,
                false,
                MANAGER,
            ) {
                eprintln!("[{COMPONENT}] {e}");
                next = Next::After(RETRY);
            } else if let Some(uid) = ingress["metadata"]["uid"].as_str() {
                self.deleting_since
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(uid);
            }
        }
        next
    }
}

pub(crate) fn ns_name(object: &Value) -> (String, String) {
    (
        object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string(),
        object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// An annotation of the Service if set there, else of the Ingress (the real controller's order
/// for target group settings).
fn tg_annotation<'a>(service: &'a Value, ingress: &'a Value, key: &str) -> Option<&'a str> {
    let key = format!("{PREFIX}{key}");
    annotation(service, &key)
        .or_else(|| annotation(ingress, &key))
        .map(str::trim)
}

fn int_annotation(
    service: &Value,
    ingress: &Value,
    key: &str,
    default: i32,
) -> Result<i32, String> {
    match tg_annotation(service, ingress, key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            format!(
                "failed to parse integer annotation, {PREFIX}{key}: {v}: it must be a whole number"
            )
        }),
    }
}

/// A desired listener while the model is built.
struct ListenerDraft {
    protocol: String,
    certificates: Vec<String>,
    ssl_policy: Option<String>,
    redirect_to: Option<i32>,
    default_action: Option<ActionModel>,
    rules: Vec<RuleModel>,
}

/// Builds the desired balancer for the live members of an IngressGroup (ordered). `service`
/// finds a Service by namespace and name.
pub(crate) fn build_model(
    stack: &str,
    members: &[Value],
    service: &dyn Fn(&str, &str) -> Option<Value>,
) -> Result<LbModel, String> {
    let first = members.first().ok_or("the IngressGroup has no Ingress")?;
    let explicit_group = annotation(first, &format!("{PREFIX}group.name"))
        .map(str::trim)
        .is_some_and(|g| !g.is_empty());
    let mut scheme: Option<String> = None;
    let mut name: Option<String> = None;
    let mut subnets = Subnets::Discover;
    let mut tags = BTreeMap::new();
    let mut listeners: BTreeMap<i32, ListenerDraft> = BTreeMap::new();
    let mut target_groups: Vec<TargetGroupModel> = Vec::new();
    let mut attributes: BTreeMap<String, String> = BTreeMap::new();
    let mut named_security_groups: Option<Vec<String>> = None;
    // (listen port, inbound CIDRs) of every member, for the managed security group.
    let mut inbound: Vec<(i32, Vec<String>)> = Vec::new();

    for ingress in members {
        let (ns, ing_name) = ns_name(ingress);
        let ann = |key: &str| annotation(ingress, &format!("{PREFIX}{key}")).map(str::trim);
        let where_ = format!("ingress {ns}/{ing_name}");
        check_annotations(ingress, &where_)?;
        if let Some(raw) = ann("load-balancer-attributes") {
            for (key, value) in parse_string_map(raw).map_err(|e| format!("{where_}: {e}"))? {
                attributes.insert(key.to_string(), value.to_string());
            }
        }
        if let Some(named) = ann("security-groups").filter(|s| !s.is_empty()) {
            named_security_groups = Some(split_list(named));
        }
        let inbound_cidrs = source_cidrs(
            ann("inbound-cidrs").map(split_list).unwrap_or_default(),
            &where_,
        )?;

        let this_scheme = ann("scheme").unwrap_or("internal");
        if !matches!(this_scheme, "internal" | "internet-facing") {
            return Err(format!(
                "{where_}: unknown scheme: {this_scheme}; {PREFIX}scheme must be internal or internet-facing"
            ));
        }
        match &scheme {
            Some(s) if s != this_scheme => {
                return Err(format!(
                    "conflicting scheme: [{s} {this_scheme}]; every Ingress of group {stack} must use the same {PREFIX}scheme"
                ))
            }
            _ => scheme = Some(this_scheme.to_string()),
        }
        if name.is_none() {
            name = ann("load-balancer-name")
                .filter(|n| !n.is_empty())
                .map(str::to_string);
        }
        if let Some(list) = ann("subnets").filter(|s| !s.is_empty()) {
            subnets = Subnets::Named(split_list(list));
        }
        if let Some(raw) = ann("tags").filter(|s| !s.is_empty()) {
            for pair in split_list(raw) {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    format!("{where_}: failed to parse stringMap annotation, {PREFIX}tags: {raw}: expected key=value pairs separated by commas")
                })?;
                tags.insert(k.trim().to_string(), v.trim().to_string());
            }
        }

        let certificates = ann("certificate-arn").map(split_list).unwrap_or_default();
        let ports = listen_ports(ann("listen-ports"), !certificates.is_empty())
            .map_err(|e| format!("{where_}: {e}"))?;
        for (_, port) in &ports {
            inbound.push((*port, inbound_cidrs.clone()));
        }
        let ssl_redirect = match ann("ssl-redirect") {
            None => None,
            Some(v) => {
                let port: i32 = v.parse().map_err(|_| {
                    format!(
                        "{where_}: failed to parse integer annotation, {PREFIX}ssl-redirect: {v}"
                    )
                })?;
                if !ports.iter().any(|(p, n)| p == "HTTPS" && *n == port) {
                    return Err(format!(
                        "{where_}: ssl-redirect port {port} is not an HTTPS listen port; add {{\"HTTPS\": {port}}} to {PREFIX}listen-ports"
                    ));
                }
                Some(port)
            }
        };
        let ssl_policy = ann("ssl-policy")
            .unwrap_or("ELBSecurityPolicy-2016-08")
            .to_string();

        let mut backend_action = |backend: &Value| -> Result<ActionModel, String> {
            let svc = backend["service"]["name"].as_str().unwrap_or_default();
            let port = &backend["service"]["port"];
            if svc.is_empty() {
                return Err(format!(
                    "{where_}: a backend names no service (resource backends are not supported)"
                ));
            }
            if port["name"] == "use-annotation" {
                return annotation_action(ingress, svc).map_err(|e| format!("{where_}: {e}"));
            }
            let tg = target_group(stack, ingress, svc, port, service)?;
            let name = tg.name.clone();
            if !target_groups.iter().any(|t| t.name == name) {
                target_groups.push(tg);
            }
            Ok(ActionModel::Forward(name))
        };

        let default_action = match ingress["spec"]["defaultBackend"].as_object() {
            Some(_) => Some(backend_action(&ingress["spec"]["defaultBackend"])?),
            None => None,
        };
        let mut rules = Vec::new();
        for rule in ingress["spec"]["rules"].as_array().into_iter().flatten() {
            let hosts: Vec<String> = rule["host"]
                .as_str()
                .filter(|h| !h.is_empty())
                .map(|h| vec![h.to_string()])
                .unwrap_or_default();
            for path in rule["http"]["paths"].as_array().into_iter().flatten() {
                let action = backend_action(&path["backend"])?;
                let mut paths = path_patterns(
                    path["path"].as_str().unwrap_or_default(),
                    path["pathType"].as_str(),
                );
                if hosts.is_empty() && paths.is_empty() {
                    paths = vec!["/*".to_string()];
                }
                rules.push(RuleModel {
                    hosts: hosts.clone(),
                    paths,
                    action,
                });
            }
        }

        for (protocol, port) in ports {
            let draft = listeners.entry(port).or_insert_with(|| ListenerDraft {
                protocol: protocol.clone(),
                certificates: Vec::new(),
                ssl_policy: None,
                redirect_to: None,
                default_action: None,
                rules: Vec::new(),
            });
            if draft.protocol != protocol {
                return Err(format!(
                    "conflicting protocol for port {port}: {} and {protocol} in group {stack}",
                    draft.protocol
                ));
            }
            if protocol == "HTTPS" {
                for c in &certificates {
                    if !draft.certificates.contains(c) {
                        draft.certificates.push(c.clone());
                    }
                }
                if draft.certificates.is_empty() {
                    return Err(format!(
                        "{where_}: no certificate for the HTTPS listener on port {port}; set {PREFIX}certificate-arn to an ACM certificate ARN"
                    ));
                }
                draft.ssl_policy.get_or_insert(ssl_policy.clone());
            }
            if protocol == "HTTP" {
                if let Some(to) = ssl_redirect {
                    draft.redirect_to = Some(to);
                }
            }
            if draft.default_action.is_none() {
                draft.default_action = default_action.clone();
            }
            for rule in &rules {
                if !redirects_to_itself(&rule.action, &protocol, port) {
                    draft.rules.push(rule.clone());
                }
            }
        }
    }

    let scheme = scheme.unwrap_or_else(|| "internal".to_string());
    let (first_ns, first_name) = ns_name(first);
    let name = name.unwrap_or_else(|| {
        if explicit_group {
            k8s_group_name(stack, &format!("{stack}|{scheme}"))
        } else {
            k8s_name(&first_ns, &first_name, &format!("{stack}|{scheme}"))
        }
    });
    let listeners = listeners
        .into_iter()
        .map(|(port, draft)| {
            let (default_action, rules) = match draft.redirect_to {
                // ssl-redirect: the HTTP listener only redirects, with no other rules.
                Some(to) => (
                    ActionModel::Redirect {
                        protocol: Some("HTTPS".into()),
                        port: Some(to.to_string()),
                        host: None,
                        path: None,
                        query: None,
                        status_code: "HTTP_301".into(),
                    },
                    Vec::new(),
                ),
                None => (
                    draft.default_action.unwrap_or(ActionModel::FixedResponse {
                        status_code: "404".into(),
                        content_type: Some("text/plain".into()),
                        body: None,
                    }),
                    draft.rules,
                ),
            };
            ListenerModel {
                port,
                protocol: draft.protocol,
                certificates: draft.certificates,
                ssl_policy: draft.ssl_policy,
                default_action,
                rules,
            }
        })
        .collect();
    let security_groups = match named_security_groups {
        Some(named) => SecurityGroups::Named(named),
        None => {
            let mut rules: Vec<IngressRule> = inbound
                .iter()
                .flat_map(|(port, cidrs)| {
                    cidrs.iter().map(|cidr| IngressRule {
                        protocol: "tcp".to_string(),
                        port: *port,
                        cidr: cidr.clone(),
                    })
                })
                .collect();
            rules.sort();
            rules.dedup();
            SecurityGroups::Managed {
                name: k8s_name(&first_ns, &first_name, &format!("{stack}|security-group")),
                rules,
            }
        }
    };
    Ok(LbModel {
        tags_kind: INGRESS_TAGS,
        stack_id: stack.to_string(),
        name,
        lb_type: LbType::Application,
        scheme,
        subnets,
        tags,
        target_groups,
        listeners,
        attributes,
        security_groups,
    })
}

pub(crate) fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `[{"HTTP": 80}, {"HTTPS": 443}]` → (protocol, port) pairs; the default is HTTP 80, or
/// HTTPS 443 when a certificate is given.
fn listen_ports(raw: Option<&str>, has_certificate: bool) -> Result<Vec<(String, i32)>, String> {
    let Some(raw) = raw else {
        return Ok(vec![if has_certificate {
            ("HTTPS".to_string(), 443)
        } else {
            ("HTTP".to_string(), 80)
        }]);
    };
    let parsed: Vec<BTreeMap<String, Value>> = serde_json::from_str(raw).map_err(|e| {
        format!("failed to parse json annotation, {PREFIX}listen-ports: {raw}: {e}; write it like '[{{\"HTTP\": 80}}, {{\"HTTPS\": 443}}]'")
    })?;
    let mut out = Vec::new();
    for entry in parsed {
        for (protocol, port) in entry {
            if protocol != "HTTP" && protocol != "HTTPS" {
                return Err(format!(
                    "listen port protocol must be within [HTTP, HTTPS]: {protocol} (in {PREFIX}listen-ports)"
                ));
            }
            let port = port
                .as_i64()
                .filter(|p| (1..=65535).contains(p))
                .ok_or_else(|| {
                    format!(
                        "listen port must be within [1, 65535]: {port} (in {PREFIX}listen-ports)"
                    )
                })?;
            out.push((protocol, port as i32));
        }
    }
    if out.is_empty() {
        return Err(format!("{PREFIX}listen-ports names no port"));
    }
    Ok(out)
}

/// ALB path patterns for an Ingress path.
fn path_patterns(path: &str, path_type: Option<&str>) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    match path_type {
        Some("Exact") => vec![path.to_string()],
        Some("Prefix") => {
            let trimmed = path.trim_end_matches('/');
            if trimmed.is_empty() {
                vec!["/*".to_string()]
            } else {
                vec![trimmed.to_string(), format!("{trimmed}/*")]
            }
        }
        _ => vec![path.to_string()],
    }
}

/// A redirect to the listener's own protocol and port would loop (and ELB rejects it): such a
/// rule, like seed 001's ssl-redirect action on the HTTPS listener, is left out there.
fn redirects_to_itself(action: &ActionModel, protocol: &str, port: i32) -> bool {
    match action {
        ActionModel::Redirect {
            protocol: p,
            port: to,
            host: None,
            path: None,
            query: None,
            ..
        } => {
            p.as_deref()
                .is_none_or(|p| p == protocol || p == "#{protocol}")
                && to
                    .as_deref()
                    .is_none_or(|to| to == port.to_string() || to == "#{port}")
        }
        _ => false,
    }
}

/// The action of an `alb.ingress.kubernetes.io/actions.NAME` annotation.
fn annotation_action(ingress: &Value, name: &str) -> Result<ActionModel, String> {
    let key = format!("{PREFIX}actions.{name}");
    let raw = annotation(ingress, &key).ok_or_else(|| {
        format!("backend with `use-annotation` port expects annotation {key}, which is missing")
    })?;
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| format!("failed to parse json annotation, {key}: {e}"))?;
    let text = |v: &Value| v.as_str().map(str::to_string);
    match v["Type"].as_str() {
        Some("redirect") => {
            let r = &v["RedirectConfig"];
            Ok(ActionModel::Redirect {
                protocol: text(&r["Protocol"]),
                port: text(&r["Port"]),
                host: text(&r["Host"]),
                path: text(&r["Path"]),
                query: text(&r["Query"]),
                status_code: text(&r["StatusCode"]).ok_or_else(|| {
                    format!("{key}: RedirectConfig.StatusCode is required (HTTP_301 or HTTP_302)")
                })?,
            })
        }
        Some("fixed-response") => {
            let f = &v["FixedResponseConfig"];
            Ok(ActionModel::FixedResponse {
                status_code: text(&f["StatusCode"])
                    .ok_or_else(|| format!("{key}: FixedResponseConfig.StatusCode is required"))?,
                content_type: text(&f["ContentType"]),
                body: text(&f["MessageBody"]),
            })
        }
        Some("forward") => {
            let arn = text(&v["TargetGroupArn"])
                .or_else(|| text(&v["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"]))
                .ok_or_else(|| {
                    format!("{key}: only forward actions to a TargetGroupArn are simulated")
                })?;
            Ok(ActionModel::ForwardArn(arn))
        }
        other => Err(format!(
            "{key}: unknown action type {}; use redirect, fixed-response or forward",
            other.unwrap_or("(none)")
        )),
    }
}

/// The target group for one Ingress backend.
fn target_group(
    stack: &str,
    ingress: &Value,
    svc_name: &str,
    port_ref: &Value,
    service: &dyn Fn(&str, &str) -> Option<Value>,
) -> Result<TargetGroupModel, String> {
    let (ns, ing_name) = ns_name(ingress);
    let where_ = format!("ingress: {ns}/{ing_name}");
    let svc = service(&ns, svc_name)
        .ok_or_else(|| format!("{where_}: services \"{svc_name}\" not found"))?;
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let svc_port = ports
        .iter()
        .find(|p| match port_ref["number"].as_i64() {
            Some(n) => p["port"].as_i64() == Some(n),
            None => port_ref["name"].is_string() && p["name"] == port_ref["name"],
        })
        .ok_or_else(|| {
            format!(
                "{where_}: unable to find port {} on service {ns}/{svc_name}",
                port_ref["number"]
                    .as_i64()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| port_ref["name"].as_str().unwrap_or("?").to_string())
            )
        })?;
    let target_type = tg_annotation(&svc, ingress, "target-type").unwrap_or("instance");
    let port_for = |p: &Value| -> Result<i64, String> {
        match target_type {
            "instance" => {
                let svc_type = svc["spec"]["type"].as_str().unwrap_or("ClusterIP");
                if svc_type != "NodePort" && svc_type != "LoadBalancer" {
                    return Err(format!(
                        "{where_}: service {ns}/{svc_name} is of type {svc_type}; target type instance needs a NodePort or LoadBalancer service (or set {PREFIX}target-type: ip)"
                    ));
                }
                p["nodePort"].as_i64().ok_or_else(|| {
                    format!(
                        "{where_}: service {ns}/{svc_name} port {} has no nodePort yet",
                        p["port"]
                    )
                })
            }
            "ip" => Ok(p["targetPort"]
                .as_i64()
                .or_else(|| p["port"].as_i64())
                .unwrap_or(0)),
            other => Err(format!(
                "{where_}: unknown target type: {other}; {PREFIX}target-type must be instance or ip"
            )),
        }
    };
    let port = port_for(svc_port)?;
    let protocol = tg_annotation(&svc, ingress, "backend-protocol")
        .unwrap_or("HTTP")
        .to_uppercase();
    if protocol != "HTTP" && protocol != "HTTPS" {
        return Err(format!(
            "{where_}: backend protocol must be within [HTTP, HTTPS]: {protocol} ({PREFIX}backend-protocol)"
        ));
    }
    let hc_protocol = tg_annotation(&svc, ingress, "healthcheck-protocol")
        .unwrap_or("HTTP")
        .to_uppercase();
    if hc_protocol != "HTTP" && hc_protocol != "HTTPS" {
        return Err(format!(
            "{where_}: healthcheck protocol must be within [HTTP, HTTPS]: {hc_protocol} ({PREFIX}healthcheck-protocol)"
        ));
    }
    let hc_port = match tg_annotation(&svc, ingress, "healthcheck-port").unwrap_or("traffic-port") {
        "traffic-port" => "traffic-port".to_string(),
        number if number.parse::<u16>().is_ok_and(|n| n > 0) => number.to_string(),
        named => {
            // A port name of the Service: its nodePort (instance) or target port (ip).
            let named_port = ports.iter().find(|p| p["name"] == named).ok_or_else(|| {
                format!(
                    "{where_}: healthcheck port \"{named}\" is neither traffic-port, a port number, nor a port name of service {ns}/{svc_name} ({PREFIX}healthcheck-port)"
                )
            })?;
            port_for(named_port)?.to_string()
        }
    };
    let health = HealthCheck {
        protocol: hc_protocol,
        port: hc_port,
        path: Some(
            tg_annotation(&svc, ingress, "healthcheck-path")
                .unwrap_or("/")
                .to_string(),
        ),
        interval_seconds: int_annotation(&svc, ingress, "healthcheck-interval-seconds", 15)
            .map_err(|e| format!("{where_}: {e}"))?,
        timeout_seconds: int_annotation(&svc, ingress, "healthcheck-timeout-seconds", 5)
            .map_err(|e| format!("{where_}: {e}"))?,
        healthy_threshold: int_annotation(&svc, ingress, "healthy-threshold-count", 2)
            .map_err(|e| format!("{where_}: {e}"))?,
        unhealthy_threshold: int_annotation(&svc, ingress, "unhealthy-threshold-count", 2)
            .map_err(|e| format!("{where_}: {e}"))?,
        success_codes: Some(
            tg_annotation(&svc, ingress, "success-codes")
                .unwrap_or("200")
                .to_string(),
        ),
    };
    let svc_port_id = svc_port["port"].as_i64().unwrap_or(0);
    let name = k8s_name(
        &ns,
        svc_name,
        &format!("{stack}|{ns}|{svc_name}|{svc_port_id}|{target_type}|{protocol}|{port}"),
    );
    Ok(TargetGroupModel {
        name,
        resource_id: format!("{ns}/{ing_name}-{svc_name}:{svc_port_id}"),
        protocol,
        port: port as i32,
        target_type: target_type.to_string(),
        health,
        backend: Backend {
            namespace: ns.clone(),
            service: svc_name.to_string(),
            port: svc_port_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_001_ingress(cert: &str) -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "istio-ingressgateway-alb", "namespace": "istio-system", "uid": "u1", "annotations": {
                "kubernetes.io/ingress.class": "alb",
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "alb.ingress.kubernetes.io/target-type": "instance",
                "alb.ingress.kubernetes.io/backend-protocol": "HTTPS",
                "alb.ingress.kubernetes.io/healthcheck-path": "/healthz/ready",
                "alb.ingress.kubernetes.io/healthcheck-port": "status-port",
                "alb.ingress.kubernetes.io/healthcheck-protocol": "HTTP",
                "alb.ingress.kubernetes.io/listen-ports": "[{\"HTTP\": 80}, {\"HTTPS\":443}]",
                "alb.ingress.kubernetes.io/actions.ssl-redirect": "{\n  \"Type\": \"redirect\",\n  \"RedirectConfig\": {\n  \"Protocol\": \"HTTPS\",\n  \"Port\": \"443\",\n  \"StatusCode\": \"HTTP_301\"\n  }\n}\n",
                "alb.ingress.kubernetes.io/certificate-arn": format!("{cert}\n"),
            }},
            "spec": {"rules": [{"http": {"paths": [
                {"backend": {"service": {"name": "ssl-redirect", "port": {"name": "use-annotation"}}}, "path": "/", "pathType": "Prefix"},
                {"backend": {"service": {"name": "istio-ingressgateway", "port": {"number": 443}}}, "path": "/", "pathType": "Prefix"},
            ]}}]},
        })
    }

    fn gateway_service() -> Value {
        json!({"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
               "spec": {"type": "NodePort", "ports": [
                   {"name": "status-port", "port": 15021, "targetPort": 15021, "nodePort": 30621},
                   {"name": "http2", "port": 80, "targetPort": 8080, "nodePort": 30080},
                   {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 30443}]}})
    }

    fn lookup(ns: &str, name: &str) -> Option<Value> {
        (ns == "istio-system" && name == "istio-ingressgateway").then(gateway_service)
    }

    #[test]
    fn seed_001_ingress_builds_the_documented_balancer() {
        let ing = seed_001_ingress("arn:aws:acm:ap-northeast-2:123456789012:certificate/abc");
        let model = build_model(&stack_id(&ing), &[ing], &lookup).unwrap();
        assert_eq!(model.scheme, "internet-facing");
        assert_eq!(model.target_groups.len(), 1);
        let tg = &model.target_groups[0];
        assert_eq!((tg.port, tg.protocol.as_str()), (30443, "HTTPS"));
        assert_eq!(tg.health.port, "30621");
        assert_eq!(tg.health.path.as_deref(), Some("/healthz/ready"));
        assert_eq!(model.listeners.len(), 2);
        let http = &model.listeners[0];
        assert_eq!((http.port, http.rules.len()), (80, 2));
        let https = &model.listeners[1];
        assert_eq!(
            https.certificates,
            vec!["arn:aws:acm:ap-northeast-2:123456789012:certificate/abc"]
        );
        // The redirect to HTTPS 443 is left out of the HTTPS 443 listener itself.
        assert_eq!(https.rules.len(), 1);
        assert_eq!(https.rules[0].action, ActionModel::Forward(tg.name.clone()));
        assert_eq!(https.rules[0].paths, vec!["/*"]);
    }

    #[test]
    fn bad_annotations_are_reported_with_the_annotation_name() {
        let mut ing = seed_001_ingress("arn:aws:acm:ap-northeast-2:123456789012:certificate/abc");
        ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/listen-ports"] =
            json!("[{\"HTTP\": 80}");
        let e = build_model("s", &[ing.clone()], &lookup).unwrap_err();
        assert!(e.contains("listen-ports"), "{e}");

        ing = seed_001_ingress("arn:aws:acm:ap-northeast-2:123456789012:certificate/abc");
        ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] = json!("public");
        let e = build_model("s", &[ing.clone()], &lookup).unwrap_err();
        assert!(
            e.contains("scheme: \"public\" is not one of internal, internet-facing"),
            "{e}"
        );

        ing = seed_001_ingress("arn:aws:acm:ap-northeast-2:123456789012:certificate/abc");
        ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-port"] =
            json!("nope");
        let e = build_model("s", &[ing], &lookup).unwrap_err();
        assert!(e.contains("healthcheck port \"nope\""), "{e}");
    }

    #[test]
    fn ssl_redirect_makes_http_listeners_redirect_only() {
        let ing = json!({
            "metadata": {"name": "web", "namespace": "istio-system", "annotations": {
                "alb.ingress.kubernetes.io/listen-ports": "[{\"HTTP\": 80}, {\"HTTPS\":443}]",
                "alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:ap-northeast-2:123456789012:certificate/abc,arn:aws:acm:ap-northeast-2:123456789012:certificate/def",
                "alb.ingress.kubernetes.io/ssl-redirect": "443",
            }},
            "spec": {"ingressClassName": "alb", "rules": [{"host": "a.example.com", "http": {"paths": [
                {"backend": {"service": {"name": "istio-ingressgateway", "port": {"name": "https"}}}, "path": "/api", "pathType": "Prefix"}]}}]},
        });
        let model = build_model("istio-system/web", &[ing], &lookup).unwrap();
        let http = &model.listeners[0];
        assert!(http.rules.is_empty());
        assert!(
            matches!(&http.default_action, ActionModel::Redirect { port: Some(p), .. } if p == "443")
        );
        let https = &model.listeners[1];
        assert_eq!(https.certificates.len(), 2);
        assert_eq!(https.rules[0].paths, vec!["/api", "/api/*"]);
        assert_eq!(https.rules[0].hosts, vec!["a.example.com"]);
    }
}
