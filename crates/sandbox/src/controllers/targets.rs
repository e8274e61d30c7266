//! Target registration and target health, as the AWS Load Balancer Controller and ELBv2 keep them.
//!
//! **Registration** (the controller's TargetGroupBinding part): every target group the ALB and
//! NLB controllers deploy is bound to its backend Service port ([`TargetHealthBoard::bind`]).
//! Target type `instance` registers every Ready Node (its EC2 instance, from `spec.providerID`)
//! at the Service port's nodePort; `ip` registers the ready Pods the Service selects, at the port
//! the Service port reaches on each Pod. The registration loop keeps moto's registrations in step
//! as Pods, Nodes and Services change, deregistering what went away.
//!
//! **Health** (what ELBv2's health checker would see): moto reports every target healthy, so the
//! sandbox's front answers `DescribeTargetHealth` from this board ([`TargetHealthCorrection`]),
//! judging each target at the moment of the call:
//!
//! - the health check reaches the target on the health-check port (`traffic-port`: the target's
//!   own port). Instance targets: the node's nodePort, which kube-proxy forwards to a *ready*
//!   endpoint of whichever Service owns that nodePort (no such Service, or no ready endpoint:
//!   connection refused). Ip targets: the Pod itself (no Pod with that IP any more: timeout; no
//!   container port there: refused).
//! - what answers: the Istio gateway's status port (container port 15021) answers `200` on
//!   `/healthz/ready` when the Pod is ready and `503` when not; any other path there, and any
//!   other open port, answers `404`. A TCP health check passes on any open port; an HTTPS one
//!   fails its handshake on the plain-HTTP status port.
//! - the answer against the matcher (default `200`; ALB `success-codes` / `Matcher.HttpCode`).
//!
//! Reasons are AWS's: ALBs report `Target.ResponseCodeMismatch` ("Health checks failed with
//! these codes: [404]"), `Target.Timeout` ("Request timed out") and `Target.FailedHealthChecks`
//! (connection refused: "Health checks failed"); NLBs report every failure as
//! `Target.FailedHealthChecks`. A target asked about but not registered is `unused`,
//! `Target.NotRegistered`; an instance whose Node is gone is `unused`, `Target.InvalidState`;
//! during [`TargetHealthBoard::set_initial_checks`] after registration a target is `initial`,
//! `Elb.InitialHealthChecking`. Changes through the front (`ModifyTargetGroup`,
//! `RegisterTargets`, `DeregisterTargets`, `DeleteTargetGroup`) take effect at once.
//!
//! Not simulated: health-check intervals and thresholds (a change shows at the next call), the
//! `draining` state after deregistration (targets leave at once), `Target.NotInUse` (every
//! target group the controller makes is in use), per-zone routing, `externalTrafficPolicy:
//! Local` (every node forwards), target groups no controller made (moto answers for those).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types::TargetDescription;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::aws::{aws_error, AwsClients};
use super::model::{LbType, TargetGroupModel};
use crate::front::{xml_escape, Call, Correction, Reply};
use crate::kube::endpoints::resolve_target_port;
use crate::kube::pods::is_ready;
use crate::kube::{Gvr, Store};

/// The Istio gateway's status port, which serves the readiness path.
pub const STATUS_PORT: i64 = 15021;
/// Istio's readiness path on the status port.
pub const READINESS_PATH: &str = "/healthz/ready";

/// The Service port a target group sends traffic to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub namespace: String,
    pub service: String,
    /// The Service port's number (`spec.ports[].port`).
    pub port: i64,
}

/// A target group's health check as ELBv2 holds it.
#[derive(Debug, Clone, PartialEq)]
struct HealthSettings {
    protocol: String,
    /// `traffic-port` or a number.
    port: String,
    path: Option<String>,
    /// `200`, `200-399`, `200,202`.
    matcher: String,
}

#[derive(Debug, Clone)]
struct Group {
    lb_type: LbType,
    target_type: String,
    /// None for target groups the board learnt of through the front only.
    backend: Option<Backend>,
    health: HealthSettings,
    /// Registered targets (id, port) and when they were registered.
    targets: BTreeMap<(String, i64), Instant>,
}

#[derive(Default)]
struct BoardState {
    groups: HashMap<String, Group>,
    initial_checks: Duration,
}

/// What the Load Balancer Controller registered and how each target group checks health; shared
/// (clones share one board) by the controller and the front's [`TargetHealthCorrection`].
#[derive(Clone, Default)]
pub struct TargetHealthBoard {
    state: Arc<Mutex<BoardState>>,
    store: Arc<OnceLock<Arc<Store>>>,
    /// Wakes the registration loop when a target group is bound, so its targets are registered
    /// at once rather than at the next tick.
    bound: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for TargetHealthBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetHealthBoard")
            .field("groups", &self.lock().groups.len())
            .finish()
    }
}

/// One line of a `DescribeTargetHealth` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealthLine {
    pub id: String,
    pub port: i64,
    pub health_check_port: String,
    /// `healthy`, `unhealthy`, `initial`, `unused`, `draining`, `unavailable`.
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
}

impl TargetHealthBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cluster whose Pods, Nodes and Services decide health (set once, by the controller).
    pub fn attach(&self, store: Arc<Store>) {
        let _ = self.store.set(store);
    }

    /// How long a newly registered target stays `initial` (ELBv2: until its first checks
    /// pass; the sandbox's default is none, so an apply is healthy at once).
    pub fn set_initial_checks(&self, period: Duration) {
        self.lock().initial_checks = period;
    }

    /// A target group the controller deployed for `backend`: its health check now, keeping the
    /// targets registered so far.
    pub(crate) fn bind(&self, arn: &str, lb_type: LbType, tg: &TargetGroupModel) {
        let health = HealthSettings {
            protocol: tg.health.protocol.clone(),
            port: tg.health.port.clone(),
            path: tg.health.path.clone(),
            matcher: tg
                .health
                .success_codes
                .clone()
                .unwrap_or_else(|| default_matcher(lb_type).to_string()),
        };
        let mut state = self.lock();
        let group = state
            .groups
            .entry(arn.to_string())
            .or_insert_with(|| Group {
                lb_type,
                target_type: tg.target_type.clone(),
                backend: None,
                health: health.clone(),
                targets: BTreeMap::new(),
            });
        group.lb_type = lb_type;
        group.target_type = tg.target_type.clone();
        group.backend = Some(tg.backend.clone());
        group.health = health;
        drop(state);
        self.bound.notify_one();
    }

    fn forget(&self, arn: &str) {
        self.lock().groups.remove(arn);
    }

    fn bindings(&self) -> Vec<(String, String, Backend)> {
        self.lock()
            .groups
            .iter()
            .filter_map(|(arn, g)| {
                g.backend
                    .clone()
                    .map(|b| (arn.clone(), g.target_type.clone(), b))
            })
            .collect()
    }

    fn set_targets(&self, arn: &str, targets: &BTreeSet<(String, i64)>) {
        let mut state = self.lock();
        if let Some(group) = state.groups.get_mut(arn) {
            group.targets.retain(|t, _| targets.contains(t));
            for target in targets {
                group
                    .targets
                    .entry(target.clone())
                    .or_insert_with(Instant::now);
            }
        }
    }

    /// The health of the targets of `arn` (all registered ones, or those asked about), or None
    /// when the board does not know the target group.
    pub fn describe(
        &self,
        arn: &str,
        asked: &[(String, Option<i64>)],
    ) -> Option<Vec<TargetHealthLine>> {
        let (group, initial_checks) = {
            let state = self.lock();
            (state.groups.get(arn)?.clone(), state.initial_checks)
        };
        let store = self.store.get().cloned();
        let targets: Vec<(String, i64, Option<Instant>)> = if asked.is_empty() {
            group
                .targets
                .iter()
                .map(|((id, port), at)| (id.clone(), *port, Some(*at)))
                .collect()
        } else {
            asked
                .iter()
                .map(|(id, port)| {
                    let registered = group
                        .targets
                        .iter()
                        .find(|((i, p), _)| i == id && port.is_none_or(|port| port == *p));
                    match registered {
                        Some(((_, p), at)) => (id.clone(), *p, Some(*at)),
                        None => (id.clone(), port.unwrap_or(0), None),
                    }
                })
                .collect()
        };
        Some(
            targets
                .into_iter()
                .map(|(id, port, registered)| {
                    let health_check_port = if group.health.port == "traffic-port" {
                        port.to_string()
                    } else {
                        group.health.port.clone()
                    };
                    let (state, reason, description) = match registered {
                        None => verdict(
                            "unused",
                            "Target.NotRegistered",
                            "Target is not registered to the target group",
                        ),
                        Some(at) if at.elapsed() < initial_checks => verdict(
                            "initial",
                            "Elb.InitialHealthChecking",
                            "Initial health checks in progress",
                        ),
                        Some(_) => match &store {
                            Some(store) => judge(store, &group, &id, port),
                            None => (String::from("healthy"), None, None),
                        },
                    };
                    TargetHealthLine {
                        id,
                        port,
                        health_check_port,
                        state,
                        reason,
                        description,
                    }
                })
                .collect(),
        )
    }
}

fn verdict(
    state: &str,
    reason: &str,
    description: &str,
) -> (String, Option<String>, Option<String>) {
    (
        state.to_string(),
        Some(reason.to_string()),
        Some(description.to_string()),
    )
}

fn default_matcher(lb_type: LbType) -> &'static str {
    match lb_type {
        LbType::Application => "200",
        LbType::Network => "200-399",
    }
}

/// What a health check meets at the target.
enum Probe {
    /// An HTTP answer with this code (or, for TCP checks, an open port).
    Answer(u16),
    Refused,
    Timeout,
    HandshakeFailed,
}

/// Judges one registered target now (see the module doc for the model).
fn judge(
    store: &Store,
    group: &Group,
    id: &str,
    port: i64,
) -> (String, Option<String>, Option<String>) {
    let check_port = if group.health.port == "traffic-port" {
        Some(port)
    } else {
        group.health.port.parse::<i64>().ok()
    };
    let probe = match (group.target_type.as_str(), check_port) {
        (_, None) => Probe::Refused,
        ("instance", Some(check_port)) => {
            let node_gone = !store
                .list(&Gvr::new("", "v1", "nodes"), None)
                .unwrap_or_default()
                .iter()
                .any(|n| instance_id(n).as_deref() == Some(id));
            if node_gone {
                return verdict(
                    "unused",
                    "Target.InvalidState",
                    "Target is in the terminated state",
                );
            }
            probe_node_port(store, check_port, &group.health)
        }
        (_, Some(check_port)) => {
            let pod = store
                .list(&Gvr::new("", "v1", "pods"), None)
                .unwrap_or_default()
                .into_iter()
                .find(|p| {
                    p["status"]["podIP"] == id && !p["metadata"]["deletionTimestamp"].is_string()
                });
            match pod {
                None => Probe::Timeout,
                Some(pod) => probe_pod(&pod, check_port, &group.health),
            }
        }
    };
    let failed = |reason: &str, description: String| {
        let reason = match group.lb_type {
            LbType::Network => "Target.FailedHealthChecks",
            LbType::Application => reason,
        };
        let description = match group.lb_type {
            LbType::Network => "Health checks failed".to_string(),
            LbType::Application => description,
        };
        (
            String::from("unhealthy"),
            Some(reason.to_string()),
            Some(description),
        )
    };
    match probe {
        Probe::Answer(code)
            if group.health.protocol == "TCP" || matches(&group.health.matcher, code) =>
        {
            (String::from("healthy"), None, None)
        }
        Probe::Answer(code) => failed(
            "Target.ResponseCodeMismatch",
            format!("Health checks failed with these codes: [{code}]"),
        ),
        Probe::Timeout => failed("Target.Timeout", "Request timed out".to_string()),
        Probe::Refused | Probe::HandshakeFailed => failed(
            "Target.FailedHealthChecks",
            "Health checks failed".to_string(),
        ),
    }
}

/// What answers on a node's port: kube-proxy forwards a nodePort to a ready endpoint of its
/// Service.
fn probe_node_port(store: &Store, node_port: i64, health: &HealthSettings) -> Probe {
    for service in store
        .list(&Gvr::new("", "v1", "services"), None)
        .unwrap_or_default()
    {
        let Some(service_port) = service["spec"]["ports"]
            .as_array()
            .and_then(|ports| {
                ports
                    .iter()
                    .find(|p| p["nodePort"].as_i64() == Some(node_port))
            })
            .cloned()
        else {
            continue;
        };
        let Some(selector) = service["spec"]["selector"].as_object() else {
            return Probe::Refused;
        };
        let namespace = service["metadata"]["namespace"].as_str();
        let ready_pod = store
            .list(&Gvr::new("", "v1", "pods"), namespace)
            .unwrap_or_default()
            .into_iter()
            .find(|pod| {
                is_ready(pod)
                    && !selector.is_empty()
                    && selector
                        .iter()
                        .all(|(k, v)| &pod["metadata"]["labels"][k] == v)
                    && resolve_target_port(&service_port, pod).is_some()
            });
        return match ready_pod {
            Some(pod) => {
                let port = resolve_target_port(&service_port, &pod).unwrap_or(0);
                probe_pod(&pod, port, health)
            }
            None => Probe::Refused,
        };
    }
    Probe::Refused
}

/// What answers on a Pod's port (see the module doc).
fn probe_pod(pod: &Value, port: i64, health: &HealthSettings) -> Probe {
    let open = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .any(|p| p["containerPort"].as_i64() == Some(port));
    if !open {
        return Probe::Refused;
    }
    match health.protocol.as_str() {
        "TCP" => Probe::Answer(200),
        "HTTPS" if port == STATUS_PORT => Probe::HandshakeFailed,
        _ if port == STATUS_PORT && health.path.as_deref() == Some(READINESS_PATH) => {
            Probe::Answer(if is_ready(pod) { 200 } else { 503 })
        }
        _ => Probe::Answer(404),
    }
}

/// True when `code` is among the matcher's codes (`200`, `200-399`, `200,202`).
fn matches(matcher: &str, code: u16) -> bool {
    matcher
        .split(',')
        .map(str::trim)
        .any(|part| match part.split_once('-') {
            Some((low, high)) => {
                low.parse::<u16>().is_ok_and(|l| l <= code)
                    && high.parse::<u16>().is_ok_and(|h| code <= h)
            }
            None => part.parse::<u16>() == Ok(code),
        })
}

/// The EC2 instance of a Node: the last part of `spec.providerID` (`aws:///ZONE/i-…`).
pub(crate) fn instance_id(node: &Value) -> Option<String> {
    node["spec"]["providerID"]
        .as_str()
        .and_then(|p| p.rsplit('/').next())
        .filter(|id| id.starts_with("i-"))
        .map(str::to_string)
}

/// The targets a binding wants now.
fn wanted_targets(store: &Store, target_type: &str, backend: &Backend) -> BTreeSet<(String, i64)> {
    let Ok(service) = store.get(
        &Gvr::new("", "v1", "services"),
        Some(&backend.namespace),
        &backend.service,
    ) else {
        return BTreeSet::new();
    };
    let Some(service_port) = service["spec"]["ports"]
        .as_array()
        .and_then(|ports| {
            ports
                .iter()
                .find(|p| p["port"].as_i64() == Some(backend.port))
        })
        .cloned()
    else {
        return BTreeSet::new();
    };
    if target_type == "instance" {
        let Some(node_port) = service_port["nodePort"].as_i64() else {
            return BTreeSet::new();
        };
        return store
            .list(&Gvr::new("", "v1", "nodes"), None)
            .unwrap_or_default()
            .iter()
            .filter(|n| {
                !n["metadata"]["deletionTimestamp"].is_string()
                    && n["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
            .filter_map(instance_id)
            .map(|id| (id, node_port))
            .collect();
    }
    let Some(selector) = service["spec"]["selector"]
        .as_object()
        .filter(|s| !s.is_empty())
    else {
        return BTreeSet::new();
    };
    store
        .list(&Gvr::new("", "v1", "pods"), Some(&backend.namespace))
        .unwrap_or_default()
        .iter()
        .filter(|pod| {
            is_ready(pod)
                && selector
                    .iter()
                    .all(|(k, v)| &pod["metadata"]["labels"][k] == v)
        })
        .filter_map(|pod| {
            let ip = pod["status"]["podIP"].as_str()?.to_string();
            Some((ip, resolve_target_port(&service_port, pod)?))
        })
        .collect()
}

/// Starts the registration loop: after cluster changes (Pods, Nodes, Services) and every
/// `resync`, every bound target group's registrations are brought in step in moto.
pub(crate) fn spawn(
    store: Arc<Store>,
    clients: Arc<AwsClients>,
    board: TargetHealthBoard,
    resync: Duration,
) -> JoinHandle<()> {
    board.attach(store.clone());
    tokio::spawn(async move {
        let mut changes = store.subscribe();
        let mut ticker = tokio::time::interval(resync.min(Duration::from_secs(2)));
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) => {
                        let relevant = change.resource.group.is_empty()
                            && matches!(change.resource.resource.as_str(), "pods" | "nodes" | "services");
                        if !relevant {
                            continue;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    Err(_) => {}
                },
                _ = ticker.tick() => {}
                _ = board.bound.notified() => {}
            }
            // Let a burst of changes (a rollout) settle into one pass.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while changes.try_recv().is_ok() {}
            for (arn, target_type, backend) in board.bindings() {
                let wanted = wanted_targets(&store, &target_type, &backend);
                match sync(&clients, &arn, &wanted).await {
                    Ok(true) => board.set_targets(&arn, &wanted),
                    Ok(false) => board.forget(&arn),
                    Err(e) => eprintln!("[targets] {arn}: {e}"),
                }
            }
        }
    })
}

/// Makes moto's registrations of `arn` equal `wanted`; false when the target group is gone.
async fn sync(
    clients: &AwsClients,
    arn: &str,
    wanted: &BTreeSet<(String, i64)>,
) -> Result<bool, String> {
    let current = match clients
        .elb
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let message = aws_error("DescribeTargetHealth", &e);
            if message.contains("TargetGroupNotFound") {
                return Ok(false);
            }
            return Err(message);
        }
    };
    let registered: BTreeSet<(String, i64)> = current
        .target_health_descriptions()
        .iter()
        .filter_map(|d| {
            let target = d.target()?;
            Some((
                target.id()?.to_string(),
                i64::from(target.port().unwrap_or(0)),
            ))
        })
        .collect();
    let description = |(id, port): &(String, i64)| {
        TargetDescription::builder()
            .id(id)
            .port(*port as i32)
            .build()
    };
    let add: Vec<TargetDescription> = wanted.difference(&registered).map(description).collect();
    let remove: Vec<TargetDescription> = registered.difference(wanted).map(description).collect();
    if !remove.is_empty() {
        clients
            .elb
            .deregister_targets()
            .target_group_arn(arn)
            .set_targets(Some(remove))
            .send()
            .await
            .map_err(|e| aws_error("DeregisterTargets", &e))?;
    }
    if !add.is_empty() {
        clients
            .elb
            .register_targets()
            .target_group_arn(arn)
            .set_targets(Some(add))
            .send()
            .await
            .map_err(|e| aws_error("RegisterTargets", &e))?;
    }
    Ok(true)
}

/// The front's correction that answers `DescribeTargetHealth` from the board, and keeps the
/// board in step with target group changes made through the front.
pub struct TargetHealthCorrection(pub TargetHealthBoard);

/// The targets of a query call: `Targets.member.N.Id` / `.Port`.
fn call_targets(call: &Call) -> Vec<(String, Option<i64>)> {
    let params = call.params();
    let mut targets: BTreeMap<u32, (String, Option<i64>)> = BTreeMap::new();
    for (key, value) in &params {
        let Some(rest) = key.strip_prefix("Targets.member.") else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<u32>() else {
            continue;
        };
        let entry = targets.entry(index).or_insert((String::new(), None));
        match field {
            "Id" => entry.0 = value.clone(),
            "Port" => entry.1 = value.parse().ok(),
            _ => {}
        }
    }
    targets
        .into_values()
        .filter(|(id, _)| !id.is_empty())
        .collect()
}

impl Correction for TargetHealthCorrection {
    fn answer(&self, call: &Call) -> Option<Reply> {
        if call.service != "elasticloadbalancing" || call.operation != "DescribeTargetHealth" {
            return None;
        }
        let arn = call.param("TargetGroupArn")?;
        let lines = self.0.describe(&arn, &call_targets(call))?;
        Some(Reply::xml(describe_target_health_xml(&lines)))
    }

    fn correct(&self, call: &Call, reply: Reply) -> Reply {
        if call.service != "elasticloadbalancing" || !reply.status.is_success() {
            return reply;
        }
        let Some(arn) = call.param("TargetGroupArn") else {
            return reply;
        };
        let board = &self.0;
        match call.operation {
            "ModifyTargetGroup" => {
                let mut state = board.lock();
                if let Some(group) = state.groups.get_mut(&arn) {
                    for (key, value) in call.params() {
                        match key.as_str() {
                            "HealthCheckPort" => group.health.port = value,
                            "HealthCheckProtocol" => group.health.protocol = value,
                            "HealthCheckPath" => group.health.path = Some(value),
                            "Matcher.HttpCode" => group.health.matcher = value,
                            _ => {}
                        }
                    }
                }
            }
            "RegisterTargets" | "DeregisterTargets" => {
                let mut state = board.lock();
                if let Some(group) = state.groups.get_mut(&arn) {
                    for (id, port) in call_targets(call) {
                        if call.operation == "RegisterTargets" {
                            let port = port.unwrap_or(0);
                            group.targets.entry((id, port)).or_insert_with(Instant::now);
                        } else {
                            group.targets.retain(|(i, p), _| {
                                !(*i == id && port.is_none_or(|port| port == *p))
                            });
                        }
                    }
                }
            }
            "DeleteTargetGroup" => board.forget(&arn),
            _ => {}
        }
        reply
    }
}

/// The `DescribeTargetHealth` answer as ELBv2 writes it (awsQuery XML).
fn describe_target_health_xml(lines: &[TargetHealthLine]) -> String {
    let mut members = String::new();
    for line in lines {
        let mut health = format!("<State>{}</State>", xml_escape(&line.state));
        if let Some(reason) = &line.reason {
            health.push_str(&format!("<Reason>{}</Reason>", xml_escape(reason)));
        }
        if let Some(description) = &line.description {
            health.push_str(&format!(
                "<Description>{}</Description>",
                xml_escape(description)
            ));
        }
        members.push_str(&format!(
            "<member><HealthCheckPort>{}</HealthCheckPort><TargetHealth>{health}</TargetHealth><Target><Id>{}</Id><Port>{}</Port></Target></member>",
            xml_escape(&line.health_check_port),
            xml_escape(&line.id),
            line.port
        ));
    }
    format!(
        "<DescribeTargetHealthResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><DescribeTargetHealthResult><TargetHealthDescriptions>{members}</TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>sandbox-front</RequestId></ResponseMetadata></DescribeTargetHealthResponse>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_take_codes_ranges_and_lists() {
        assert!(matches("200", 200));
        assert!(!matches("200", 404));
        assert!(matches("200-399", 302));
        assert!(matches("200,202", 202));
        assert!(!matches("200-299", 503));
    }

    #[test]
    fn an_unknown_target_group_is_left_to_moto() {
        assert!(TargetHealthBoard::default()
            .describe("arn:x", &[])
            .is_none());
    }
}
