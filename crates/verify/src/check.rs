//! The link checks, pure over a `Snapshot`: for each host of the traffic model, every check of
//! its path in the order a request meets them (record, alias, listener and certificate, target
//! group health check and targets, gateway pods, Gateway server and TLS Secret, VirtualService,
//! destination Services), each naming the live object and field at fault when it fails.

use crate::report::{HostReport, Report, Status, Step, FORMAT_VERSION};
use crate::snapshot::{
    AcmCertificate, Balancer, GatewayServer, Listener, NamespaceObjects, Pod, RecordSet, Snapshot,
    TargetGroup, ZoneRead,
};
use meshctl_graph::traffic::{
    istio_host_matches, link_id, DestinationHop, Entry, GatewayHop, HostPath, LinkCheck, RouteHop,
    TrafficModel, WorkloadHop, STATUS_PORT,
};
use meshctl_model::kinds::cluster::{TargetType, STATUS_PORT_NAME};
use meshctl_model::values::domain_covers;
use std::collections::BTreeMap;

/// A certificate expiring sooner than this is a broken link: renewals that have not happened two
/// weeks before expiry need a person.
pub const EXPIRY_MARGIN_SECONDS: i64 = 14 * 24 * 3600;

/// Checks every host of `model` against `snapshot`.
pub fn check(
    model: &TrafficModel,
    snapshot: &Snapshot,
    stack: &str,
    checked_at: &str,
    read_ms: u64,
) -> Report {
    let hosts: Vec<HostReport> = model.hosts.iter().map(|p| host(p, snapshot)).collect();
    let mut links: BTreeMap<String, Status> = model
        .links
        .iter()
        .map(|l| (l.id.clone(), Status::Unchecked))
        .collect();
    let mut seen: BTreeMap<String, Status> = BTreeMap::new();
    for step in hosts.iter().flat_map(|h| &h.steps) {
        let worst = seen.entry(step.link.clone()).or_insert(Status::Ok);
        *worst = (*worst).max(step.status);
    }
    for (link, status) in seen {
        links.insert(link, status);
    }
    Report {
        format_version: FORMAT_VERSION,
        stack: stack.to_string(),
        checked_at: checked_at.to_string(),
        read_ms,
        hosts,
        links,
    }
}

/// The steps of one link as they are added.
struct Steps {
    link: String,
    check: LinkCheck,
    steps: Vec<Step>,
}

impl Steps {
    fn on(&mut self, link: &str, check: LinkCheck) {
        self.link = link.to_string();
        self.check = check;
    }

    fn push(&mut self, what: &str, status: Status, message: String) -> &mut Step {
        self.steps.push(Step {
            link: self.link.clone(),
            check: self.check,
            what: what.to_string(),
            status,
            object: None,
            field: None,
            resource: None,
            message,
            help: None,
            settling: false,
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    fn ok(&mut self, what: &str, message: String) -> &mut Step {
        self.push(what, Status::Ok, message)
    }

    fn broken(&mut self, what: &str, message: String) -> &mut Step {
        self.push(what, Status::Broken, message)
    }

    fn unchecked(&mut self, what: &str, message: String) -> &mut Step {
        self.push(what, Status::Unchecked, message)
    }
}

impl Step {
    fn object(&mut self, object: impl Into<String>) -> &mut Self {
        self.object = Some(object.into());
        self
    }

    fn field(&mut self, field: impl Into<String>) -> &mut Self {
        self.field = Some(field.into());
        self
    }

    fn resource(&mut self, resource: impl ToString) -> &mut Self {
        self.resource = Some(resource.to_string());
        self
    }

    fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }

    /// Broken as a rollout in progress looks (`Step::settling`).
    fn settling(&mut self, settling: bool) -> &mut Self {
        self.settling = settling;
        self
    }
}

fn host(path: &HostPath, snapshot: &Snapshot) -> HostReport {
    let mut steps = Steps {
        link: String::new(),
        check: LinkCheck::Resolves,
        steps: Vec::new(),
    };
    let record = resolves(path, snapshot, &mut steps);
    let balancer = match &path.entry {
        Some(entry) => aliases(path, entry, record, snapshot, &mut steps),
        None => None,
    };
    if let (Some(entry), Some(workload)) = (&path.entry, &path.workload) {
        forwards(path, entry, workload, balancer, snapshot, &mut steps);
        for gateway in &path.gateways {
            serves(path, workload, gateway, snapshot, &mut steps);
        }
        for route in &path.routes {
            routes(path, route, snapshot, &mut steps);
        }
        for destination in &path.destinations {
            reaches(destination, snapshot, &mut steps);
        }
    }
    if let Some(gap) = &path.gap {
        let link = path.links.last().cloned().unwrap_or_default();
        steps.on(&link, gap.check);
        steps
            .broken("the stack's path", gap.message.clone())
            .resource(&gap.after)
            .help("`meshctl validate` explains the stack's wiring; fix the stack and apply");
    }
    let first_broken = steps.steps.iter().position(|s| s.status == Status::Broken);
    HostReport {
        host: path.host.clone(),
        record: path.record.to_string(),
        status: if first_broken.is_some() {
            Status::Broken
        } else if steps.steps.iter().any(|s| s.status == Status::Unchecked) {
            Status::Unchecked
        } else {
            Status::Ok
        },
        first_broken,
        steps: steps.steps,
    }
}

/// client → record: the record exists in its zone.
fn resolves<'s>(
    path: &HostPath,
    snapshot: &'s Snapshot,
    steps: &mut Steps,
) -> Option<&'s RecordSet> {
    steps.on(&path.links[0], LinkCheck::Resolves);
    let what = "Route53 record";
    match snapshot.zones.get(&path.zone.to_string()) {
        None => {
            steps.unchecked(what, format!("{} was not read", path.zone));
            None
        }
        Some(ZoneRead::Missing { detail }) => {
            steps
                .broken(what, detail.clone())
                .object(format!("Route53 zone of {}", path.zone))
                .resource(&path.zone)
                .help("apply the stack, or point --state at the state that created the zone");
            None
        }
        Some(ZoneRead::Read { zone_id, records }) => {
            let host = path.host.to_ascii_lowercase();
            let found = records
                .iter()
                .find(|r| r.name == host && matches!(r.record_type.as_str(), "A" | "AAAA"));
            match found {
                Some(record) => {
                    steps
                        .ok(
                            what,
                            format!("{} {} in zone {zone_id}", record.name, record.record_type),
                        )
                        .object(format!(
                            "Route53 record {} {}",
                            record.name, record.record_type
                        ))
                        .resource(&path.record);
                    Some(record)
                }
                None => {
                    steps
                        .broken(what, format!("zone {zone_id} has no A record `{host}`"))
                        .object(format!("Route53 record {host} A"))
                        .resource(&path.record)
                        .help(format!("`meshctl apply` creates {} again", path.record));
                    None
                }
            }
        }
    }
}

/// record → balancer: the record aliases the stack's balancer, which exists and is active.
fn aliases<'s>(
    path: &HostPath,
    entry: &Entry,
    record: Option<&RecordSet>,
    snapshot: &'s Snapshot,
    steps: &mut Steps,
) -> Option<&'s Balancer> {
    steps.on(
        &link_id(&path.record.to_string(), &entry.balancer_node),
        LinkCheck::Aliases,
    );
    let expected = snapshot.expected_balancers.get(&entry.balancer_node);
    let balancer = expected.and_then(|e| snapshot.balancer(e));
    match (expected, balancer) {
        (None, _) => {
            steps
                .broken("balancer exists", format!("neither state nor the cluster names a load balancer for {}", entry.balancer))
                .resource(&entry.balancer)
                .help(format!("apply the stack: {} records its balancer once the Load Balancer Controller made it", entry.balancer));
        }
        (Some(expected), None) => {
            let named = expected
                .dns_name
                .clone()
                .or_else(|| expected.arn.clone())
                .unwrap_or_default();
            steps
                .broken("balancer exists", format!("the load balancer of {} ({named}, from {}) does not exist", entry.balancer, expected.source))
                .object(format!("load balancer {named}"))
                .resource(&entry.balancer)
                .help("`meshctl apply` has the Load Balancer Controller make it again (it makes balancers from the Ingress or Service)");
        }
        (Some(_), Some(balancer)) if balancer.state != "active" => {
            steps
                .broken("balancer active", format!("load balancer {} is `{}`, not active", balancer.name, balancer.state))
                .object(format!("load balancer {}", balancer.name))
                .field("State.Code")
                .resource(&entry.balancer)
                .help("wait until it is active; a failed balancer's reason is in the Load Balancer Controller's events");
        }
        (Some(_), Some(balancer)) => {
            steps
                .ok(
                    "balancer active",
                    format!(
                        "load balancer {} ({}) is active",
                        balancer.name, balancer.dns_name
                    ),
                )
                .object(format!("load balancer {}", balancer.name))
                .resource(&entry.balancer);
        }
    }
    let Some(record) = record else {
        steps.unchecked(
            "record aliases the balancer",
            "the record was not found".into(),
        );
        return balancer;
    };
    let object = format!("Route53 record {} {}", record.name, record.record_type);
    match (&record.alias_dns_name, balancer) {
        (None, _) => {
            steps
                .broken(
                    "record aliases the balancer",
                    format!("`{}` is not an alias record", record.name),
                )
                .object(object)
                .field("AliasTarget")
                .resource(&path.record)
                .help(format!(
                    "`meshctl apply` makes {} an alias of {} again",
                    path.record, entry.balancer
                ));
        }
        (Some(alias), Some(balancer)) if *alias != balancer.dns_name => {
            let other = snapshot.balancer_by_dns(alias).map_or(
                "no load balancer of this account and region".to_string(),
                |b| format!("load balancer {}", b.name),
            );
            steps
                .broken(
                    "record aliases the balancer",
                    format!(
                        "`{}` aliases {alias} ({other}), not {}'s {}",
                        record.name, entry.balancer, balancer.dns_name
                    ),
                )
                .object(object)
                .field("AliasTarget.DNSName")
                .resource(&path.record)
                .help(format!(
                    "`meshctl apply` points {} back at {}",
                    path.record, entry.balancer
                ));
        }
        (Some(alias), Some(_)) => {
            steps
                .ok(
                    "record aliases the balancer",
                    format!("`{}` aliases {alias}", record.name),
                )
                .object(object)
                .resource(&path.record);
        }
        (Some(alias), None) => {
            steps.unchecked(
                "record aliases the balancer",
                format!(
                    "`{}` aliases {alias}; the stack's balancer was not found to compare",
                    record.name
                ),
            );
        }
    }
    balancer
}

/// balancer → workload: listener, certificate, target group health check, healthy targets.
fn forwards(
    path: &HostPath,
    entry: &Entry,
    workload: &WorkloadHop,
    balancer: Option<&Balancer>,
    snapshot: &Snapshot,
    steps: &mut Steps,
) {
    steps.on(
        &link_id(&entry.balancer_node, &workload.address.to_string()),
        LinkCheck::Forwards,
    );
    let listener_what = format!("listener on port {}", entry.port);
    let Some(balancer) = balancer else {
        steps.unchecked(&listener_what, "the balancer was not found".into());
        return;
    };
    let Some(listener) = balancer.listeners.iter().find(|l| l.port == entry.port) else {
        let ports: Vec<String> = balancer
            .listeners
            .iter()
            .map(|l| format!("{} {}", l.protocol, l.port))
            .collect();
        steps
            .broken(&listener_what, format!("load balancer {} has no listener on port {} (listeners: {})", balancer.name, entry.port, if ports.is_empty() { "none".to_string() } else { ports.join(", ") }))
            .object(format!("load balancer {}", balancer.name))
            .field("Listeners")
            .resource(&entry.balancer)
            .help(format!("`meshctl apply` restores {}'s ports; the Load Balancer Controller makes the listeners from them", entry.balancer));
        return;
    };
    let listener_object = format!(
        "listener {} {} of load balancer {}",
        listener.protocol, listener.port, balancer.name
    );
    steps
        .ok(
            &listener_what,
            format!("{} {}", listener.protocol, listener.port),
        )
        .object(listener_object.clone())
        .resource(&entry.balancer);
    if let Some(certificate) = &entry.certificate {
        listener_certificate(
            path,
            listener,
            &listener_object,
            certificate,
            snapshot,
            steps,
        );
    }
    let groups: Vec<&TargetGroup> = balancer
        .target_groups
        .iter()
        .filter(|g| listener.forwards_to.contains(&g.arn))
        .collect();
    let Some(group) = groups.first() else {
        steps
            .broken(
                "target group",
                format!(
                    "the listener forwards to no target group of {}",
                    balancer.name
                ),
            )
            .object(listener_object)
            .field("DefaultActions")
            .resource(&entry.balancer)
            .help(
                "`meshctl apply`; the Load Balancer Controller writes the listener's forward rules",
            );
        return;
    };
    health_check_port(entry, workload, group, snapshot, steps);
    targets_healthy(entry, group, steps);
}

fn listener_certificate(
    path: &HostPath,
    listener: &Listener,
    listener_object: &str,
    certificate: &meshctl_model::Address,
    snapshot: &Snapshot,
    steps: &mut Steps,
) {
    let what = "certificate";
    if listener.certificate_arns.is_empty() {
        steps
            .broken(what, "the listener serves no certificate".into())
            .object(listener_object)
            .field("Certificates")
            .resource(certificate)
            .help(format!("`meshctl apply` sets {certificate} on it again"));
        return;
    }
    let mut problems = Vec::new();
    for arn in &listener.certificate_arns {
        match snapshot.certificates.get(arn) {
            None => problems.push((
                arn.clone(),
                "Status",
                "the certificate does not exist".to_string(),
            )),
            Some(acm) => match acm_problem(acm, &path.host, snapshot.now_unix) {
                None => {
                    steps
                        .ok(
                            what,
                            format!(
                                "{} is ISSUED, covers `{}`, valid until {}",
                                arn,
                                path.host,
                                acm.not_after_unix.map_or("-".into(), rfc3339)
                            ),
                        )
                        .object(format!("ACM certificate {arn}"))
                        .resource(certificate);
                    return;
                }
                Some((field, message)) => problems.push((arn.clone(), field, message)),
            },
        }
    }
    let (arn, field, message) = problems.remove(0);
    steps
        .broken(what, message)
        .object(format!("ACM certificate {arn}"))
        .field(field)
        .resource(certificate)
        .help(format!("give {certificate} a name covering `{}` (domain or sans) and apply; an expiring or pending certificate needs its DNS validation record", path.host));
}

/// Why an ACM certificate does not serve `host` now, as (field, message).
fn acm_problem(acm: &AcmCertificate, host: &str, now: i64) -> Option<(&'static str, String)> {
    if acm.status != "ISSUED" {
        return Some((
            "Status",
            format!("the certificate is {}, not ISSUED", acm.status),
        ));
    }
    if let Some(not_after) = acm.not_after_unix {
        if not_after - now < EXPIRY_MARGIN_SECONDS {
            let days = (not_after - now) / 86_400;
            return Some((
                "NotAfter",
                format!(
                    "the certificate expires at {} (in {days} days, less than 14)",
                    rfc3339(not_after)
                ),
            ));
        }
    }
    if !acm.names.iter().any(|n| domain_covers(n, host)) {
        return Some((
            "SubjectAlternativeNames",
            format!(
                "the certificate covers {}, not `{host}`",
                acm.names.join(", ")
            ),
        ));
    }
    None
}

/// The target group's health-check port is the gateway's status port: its nodePort for instance
/// targets (read from the gateway Service), 15021 for ip targets.
fn health_check_port(
    entry: &Entry,
    workload: &WorkloadHop,
    group: &TargetGroup,
    snapshot: &Snapshot,
    steps: &mut Steps,
) {
    let what = "health-check port";
    let object = format!("ELBv2 target group {}", group.name);
    let service_name = format!("Service {}/{}", workload.namespace, workload.service);
    let instance = match group.target_type.as_str() {
        "instance" => true,
        "ip" => false,
        _ => entry.target_type == TargetType::Instance,
    };
    let (expected, why) = if instance {
        let service = snapshot
            .namespace(&workload.namespace)
            .and_then(|n| n.services.get(&workload.service));
        let Some(service) = service else {
            steps
                .broken(what, format!("the gateway's {service_name} does not exist, so nothing answers on its status nodePort"))
                .object(service_name)
                .resource(&workload.address)
                .help(format!("`meshctl apply` reinstalls {}", workload.address));
            return;
        };
        match service
            .ports
            .iter()
            .find(|p| p.name == STATUS_PORT_NAME)
            .and_then(|p| p.node_port)
        {
            Some(port) => (port, format!("the status-port nodePort of {service_name}")),
            None => {
                steps
                    .broken(what, format!("{service_name} has no `{STATUS_PORT_NAME}` nodePort for instance targets to be checked on"))
                    .object(service_name)
                    .field("spec.ports")
                    .resource(&workload.address)
                    .help(format!("`meshctl apply` restores {}'s Service ports", workload.address));
                return;
            }
        }
    } else {
        (
            STATUS_PORT,
            "Istio's status port, for ip targets".to_string(),
        )
    };
    let actual = match group.health_check_port.as_str() {
        "traffic-port" => group.port,
        port => port.parse::<u16>().ok(),
    };
    if actual == Some(expected) {
        steps
            .ok(what, format!("{expected} ({why})"))
            .object(object)
            .resource(&entry.balancer);
    } else {
        steps
            .broken(what, format!("health checks go to port {}, but the gateway answers on {expected} ({why}): every target fails them", group.health_check_port))
            .object(object)
            .field("HealthCheckPort")
            .resource(&entry.balancer)
            .help(format!("`meshctl apply` sets {}'s health-check port back (the Load Balancer Controller copies it to the target group)", entry.balancer));
    }
}

fn targets_healthy(entry: &Entry, group: &TargetGroup, steps: &mut Steps) {
    let what = "targets healthy";
    let object = format!("ELBv2 target group {}", group.name);
    if group.targets.is_empty() {
        steps
            .broken(what, "no targets are registered".into())
            .object(object)
            .field("Targets")
            .resource(&entry.balancer)
            .help("the Load Balancer Controller registers the nodes (instance targets) or the gateway pods (ip targets): check that they exist and the controller runs");
        return;
    }
    let healthy = group
        .targets
        .iter()
        .filter(|t| t.state == "healthy")
        .count();
    if healthy > 0 {
        steps
            .ok(
                what,
                format!("{healthy} of {} targets healthy", group.targets.len()),
            )
            .object(object)
            .resource(&entry.balancer);
        return;
    }
    let states: Vec<String> = group
        .targets
        .iter()
        .take(5)
        .map(|t| {
            let port = t.port.map(|p| format!(":{p}")).unwrap_or_default();
            match &t.reason {
                Some(reason) => format!("{}{port} {} ({reason})", t.id, t.state),
                None => format!("{}{port} {}", t.id, t.state),
            }
        })
        .collect();
    steps
        .broken(what, format!("none of {} targets is healthy: {}", group.targets.len(), states.join(", ")))
        .object(object)
        .field("TargetHealth")
        .resource(&entry.balancer)
        .settling(true)
        .help("the gateway pods are not ready, or the health check is on the wrong port: see the checks below");
}

/// workload → Gateway: ready gateway pods the Gateway selects; a server accepting the host on
/// the port; its TLS Secret valid for the host.
fn serves(
    path: &HostPath,
    workload: &WorkloadHop,
    hop: &GatewayHop,
    snapshot: &Snapshot,
    steps: &mut Steps,
) {
    steps.on(&hop.link, LinkCheck::Serves);
    let empty = NamespaceObjects::default();
    let workload_ns = snapshot.namespace(&workload.namespace).unwrap_or(&empty);
    let deployment_name = format!("Deployment {}/{}", workload.namespace, workload.service);
    match workload_ns.deployments.get(&workload.service) {
        None => {
            steps
                .broken(
                    "gateway pods ready",
                    format!("{deployment_name} does not exist"),
                )
                .object(deployment_name)
                .resource(&workload.address)
                .help(format!("`meshctl apply` reinstalls {}", workload.address));
        }
        Some(deployment) if deployment.ready_replicas == 0 => {
            steps
                .broken(
                    "gateway pods ready",
                    format!("0 of {} replicas ready", deployment.replicas),
                )
                .settling(deployment.replicas > 0)
                .object(deployment_name)
                .field(if deployment.replicas == 0 {
                    "spec.replicas"
                } else {
                    "status.readyReplicas"
                })
                .resource(&workload.address)
                .help(if deployment.replicas == 0 {
                    format!(
                        "it is scaled to zero: `meshctl apply` restores {}'s replicas",
                        workload.address
                    )
                } else {
                    format!(
                        "see why its pods are not ready: kubectl -n {} describe pods -l {}",
                        workload.namespace,
                        selector_text(&workload.labels)
                    )
                });
        }
        Some(deployment) => {
            steps
                .ok(
                    "gateway pods ready",
                    format!(
                        "{} of {} replicas ready",
                        deployment.ready_replicas, deployment.replicas
                    ),
                )
                .object(deployment_name)
                .resource(&workload.address);
        }
    }
    let gateway_object = format!("Gateway {}/{}", hop.namespace, hop.address.name);
    let Some(gateway) = snapshot
        .namespace(&hop.namespace)
        .and_then(|n| n.gateways.get(&hop.address.name))
    else {
        steps
            .broken("Gateway exists", format!("{gateway_object} does not exist"))
            .object(gateway_object)
            .resource(&hop.address)
            .help(format!("`meshctl apply` creates {} again", hop.address));
        return;
    };
    let selected = ready_pods(&workload_ns.pods, &gateway.selector);
    if selected == 0 {
        let any_ready = workload_ns
            .pods
            .iter()
            .any(|p| p.ready && matches_labels(&p.labels, &workload.labels));
        let message = if any_ready {
            format!(
                "selector {} matches no ready pod in {}; the gateway's pods are labelled {}",
                selector_text(&gateway.selector),
                workload.namespace,
                selector_text(&workload.labels)
            )
        } else {
            format!(
                "selector {} matches no ready pod in {}",
                selector_text(&gateway.selector),
                workload.namespace
            )
        };
        let step = steps.broken("Gateway selects ready pods", message);
        step.object(gateway_object.clone()).resource(&hop.address);
        if any_ready {
            step.field("spec.selector").help(format!(
                "`meshctl apply` sets {}'s selector back",
                hop.address
            ));
        } else {
            step.help(format!(
                "the gateway pods of {} are not ready; see the pods step above",
                workload.address
            ));
        }
    } else {
        steps
            .ok(
                "Gateway selects ready pods",
                format!(
                    "selector {} matches {selected} ready pod(s)",
                    selector_text(&gateway.selector)
                ),
            )
            .object(gateway_object.clone())
            .resource(&hop.address);
    }
    let server = gateway
        .servers
        .iter()
        .find(|s| s.port == hop.port && s.hosts.iter().any(|h| istio_host_matches(h, &path.host)));
    let Some(server) = server else {
        let servers: Vec<String> = gateway
            .servers
            .iter()
            .map(|s| format!("{} [{}]", s.port, s.hosts.join(", ")))
            .collect();
        steps
            .broken(
                "Gateway server accepts the host",
                format!(
                    "no server accepts `{}` on port {} (servers: {})",
                    path.host,
                    hop.port,
                    if servers.is_empty() {
                        "none".into()
                    } else {
                        servers.join("; ")
                    }
                ),
            )
            .object(gateway_object)
            .field("spec.servers")
            .resource(&hop.address)
            .help(format!(
                "`meshctl apply` restores {}'s servers",
                hop.address
            ));
        return;
    };
    steps
        .ok(
            "Gateway server accepts the host",
            format!(
                "{} {} [{}]",
                server.protocol,
                server.port,
                server.hosts.join(", ")
            ),
        )
        .object(gateway_object)
        .resource(&hop.address);
    tls_secret(path, workload, hop, server, workload_ns, steps);
}

fn tls_secret(
    path: &HostPath,
    workload: &WorkloadHop,
    hop: &GatewayHop,
    server: &GatewayServer,
    workload_ns: &NamespaceObjects,
    steps: &mut Steps,
) {
    let terminates = matches!(server.tls_mode.as_deref(), Some("SIMPLE" | "MUTUAL"));
    let Some(credential) = server.credential_name.as_deref().filter(|_| terminates) else {
        return;
    };
    let what = "TLS Secret";
    let object = format!("Secret {}/{credential}", workload.namespace);
    let resource = hop
        .tls_credential
        .as_ref()
        .and_then(|c| c.certificate.as_ref())
        .map_or(hop.address.to_string(), ToString::to_string);
    let Some(secret) = workload_ns.secrets.get(credential) else {
        steps
            .broken(what, format!("{object} does not exist: the gateway cannot serve TLS"))
            .object(object)
            .resource(&resource)
            .help(format!("cert-manager writes it from {resource}: check the Certificate's status (kubectl -n {} describe certificate); `meshctl apply` creates the Certificate again if it is gone", workload.namespace));
        return;
    };
    let Some(der) = &secret.certificate_der else {
        steps
            .broken(what, format!("{object} holds no certificate in tls.crt"))
            .object(object)
            .field("data.tls.crt")
            .resource(&resource)
            .help(format!(
                "delete the Secret so cert-manager issues it again from {resource}"
            ));
        return;
    };
    match certificate_covers(der, &path.host) {
        Ok(()) => {
            steps
                .ok(
                    what,
                    format!("{object} holds a certificate valid for `{}`", path.host),
                )
                .object(object)
                .resource(&resource);
        }
        Err(problem) => {
            steps
                .broken(what, format!("the certificate in {object} {problem}"))
                .object(object)
                .field("data.tls.crt")
                .resource(&resource)
                .help(format!("add `{}` to {resource}'s dns_names and apply; cert-manager issues a new Secret", path.host));
        }
    }
}

/// Whether the certificate (DER) is valid for `host`, by its subject alternative names.
fn certificate_covers(der: &[u8], host: &str) -> Result<(), String> {
    let der = rustls_pki_types::CertificateDer::from(der);
    let cert =
        webpki::EndEntityCert::try_from(&der).map_err(|e| format!("cannot be read ({e})"))?;
    let name = rustls_pki_types::ServerName::try_from(host)
        .map_err(|_| format!("cannot be checked: `{host}` is not a DNS name"))?;
    cert.verify_is_valid_for_subject_name(&name)
        .map_err(|_| format!("is not valid for `{host}`"))
}

/// Gateway → VirtualService: bound to the Gateway and routing the host.
fn routes(path: &HostPath, hop: &RouteHop, snapshot: &Snapshot, steps: &mut Steps) {
    steps.on(&hop.link, LinkCheck::Routes);
    let what = "VirtualService routes the host";
    let object = format!("VirtualService {}/{}", hop.namespace, hop.address.name);
    let Some(vs) = snapshot
        .namespace(&hop.namespace)
        .and_then(|n| n.virtual_services.get(&hop.address.name))
    else {
        steps
            .broken(what, format!("{object} does not exist"))
            .object(object)
            .resource(&hop.address)
            .help(format!("`meshctl apply` creates {} again", hop.address));
        return;
    };
    let gateway_namespace = path
        .gateways
        .iter()
        .find(|g| g.address == hop.gateway)
        .map_or("", |g| g.namespace.as_str());
    let bound = vs.gateways.iter().any(|g| {
        // A bare name is a Gateway in the VirtualService's own namespace, as Istio reads it.
        (g == &hop.gateway.name && hop.namespace == gateway_namespace)
            || g.split_once('/') == Some((gateway_namespace, hop.gateway.name.as_str()))
    });
    if !bound {
        steps
            .broken(
                what,
                format!(
                    "{object} is bound to [{}], not to {}",
                    vs.gateways.join(", "),
                    hop.gateway
                ),
            )
            .object(object)
            .field("spec.gateways")
            .resource(&hop.address)
            .help(format!(
                "`meshctl apply` binds {} to {} again",
                hop.address, hop.gateway
            ));
        return;
    }
    if !vs.hosts.iter().any(|h| istio_host_matches(h, &path.host)) {
        steps
            .broken(
                what,
                format!(
                    "{object} routes [{}], not `{}`",
                    vs.hosts.join(", "),
                    path.host
                ),
            )
            .object(object)
            .field("spec.hosts")
            .resource(&hop.address)
            .help(format!("`meshctl apply` restores {}'s hosts", hop.address));
        return;
    }
    steps
        .ok(
            what,
            format!("bound to {}, routes `{}`", hop.gateway, path.host),
        )
        .object(object)
        .resource(&hop.address);
}

/// VirtualService → Service: the Service, its port, ready endpoints, and a subset's pods.
fn reaches(hop: &DestinationHop, snapshot: &Snapshot, steps: &mut Steps) {
    steps.on(&hop.link, LinkCheck::Reaches);
    let object = format!("Service {}/{}", hop.namespace, hop.service);
    let field = format!("http[{}].route[{}].destination", hop.http, hop.route);
    let empty = NamespaceObjects::default();
    let namespace = snapshot.namespace(&hop.namespace).unwrap_or(&empty);
    let Some(service) = namespace.services.get(&hop.service) else {
        steps
            .broken("destination Service", format!("{object} does not exist ({} routes to it)", hop.virtual_service))
            .object(object)
            .resource(format!("{}.{field}", hop.virtual_service))
            .help("the app ships this Service (meshctl does not manage it): deploy the app, or fix the destination host");
        return;
    };
    if let Some(port) = hop.port {
        if !service.ports.iter().any(|p| p.port == port) {
            let ports: Vec<String> = service.ports.iter().map(|p| p.port.to_string()).collect();
            steps
                .broken(
                    "destination Service",
                    format!("{object} has no port {port} (ports: {})", ports.join(", ")),
                )
                .object(object)
                .field("spec.ports")
                .resource(format!("{}.{field}.port", hop.virtual_service))
                .help("route to a port the Service has, or add the port to the app's Service");
            return;
        }
    }
    steps
        .ok(
            "destination Service",
            format!(
                "{object}{}",
                hop.port.map(|p| format!(" port {p}")).unwrap_or_default()
            ),
        )
        .object(object.clone())
        .resource(&hop.virtual_service);
    let endpoints_object = format!("Endpoints {}/{}", hop.namespace, hop.service);
    match namespace.endpoints.get(&hop.service) {
        Some(e) if e.ready > 0 => {
            steps
                .ok(
                    "ready endpoints",
                    format!("{} ready, {} not ready", e.ready, e.not_ready),
                )
                .object(endpoints_object);
        }
        found => {
            let not_ready = found.map_or(0, |e| e.not_ready);
            steps
                .broken("ready endpoints", format!("{object} has no ready endpoints ({not_ready} not ready)"))
                .object(endpoints_object)
                .field("subsets[].addresses")
                .settling(not_ready > 0)
                .help(format!("the app's pods are not ready, or {object}'s selector matches none: kubectl -n {} get pods -l {}", hop.namespace, selector_text(&service.selector)));
        }
    }
    if let Some(subset) = &hop.subset {
        let what = format!("subset `{}` has ready pods", subset.name);
        let Some(rule) = &subset.destination_rule else {
            steps
                .broken(
                    &what,
                    format!(
                        "no destination_rule of the stack defines subset `{}` for {object}",
                        subset.name
                    ),
                )
                .resource(format!("{}.{field}.subset", hop.virtual_service))
                .help("declare the subset in a destination_rule for this host");
            return;
        };
        let mut labels = service.selector.clone();
        labels.extend(subset.labels.clone());
        let ready = ready_pods(&namespace.pods, &labels);
        if ready == 0 {
            steps
                .broken(
                    &what,
                    format!(
                        "no ready pod in {} has the labels {}",
                        hop.namespace,
                        selector_text(&labels)
                    ),
                )
                .object(format!("pods in {}", hop.namespace))
                .resource(rule)
                .help(format!(
                    "deploy the subset's version, or fix the labels of subset `{}` in {rule}",
                    subset.name
                ));
        } else {
            steps
                .ok(
                    &what,
                    format!("{ready} ready pod(s) with {}", selector_text(&labels)),
                )
                .resource(rule);
        }
    }
}

fn matches_labels(labels: &BTreeMap<String, String>, selector: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Ready pods matching a selector; an empty selector matches none (Istio and Services alike
/// select nothing by it here).
fn ready_pods(pods: &[Pod], selector: &BTreeMap<String, String>) -> usize {
    if selector.is_empty() {
        return 0;
    }
    pods.iter()
        .filter(|p| p.ready && matches_labels(&p.labels, selector))
        .count()
}

fn selector_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "{}".to_string();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Seconds since the epoch as RFC 3339 (UTC, seconds), without a date library.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::*;
    use meshctl_graph::traffic::traffic;

    const NOW: i64 = 1_800_000_000;
    const LB_DNS: &str = "k8s-public-1.ap-northeast-2.elb.amazonaws.com";

    fn seed_001() -> TrafficModel {
        let file = format!(
            "{}/../../stacks/seed-001-https.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let source = meshctl_model::SourceFile::new(file, text);
        let loaded = meshctl_model::load(&source, &meshctl_model::VarOverrides::default());
        traffic(&loaded.stack.expect("seed 001 loads"))
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn certificate_der(names: &[&str]) -> Vec<u8> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        rcgen::generate_simple_self_signed(names)
            .expect("rcgen makes a certificate")
            .cert
            .der()
            .to_vec()
    }

    /// Seed 001's world with every link working.
    fn working() -> Snapshot {
        let record = |name: &str| RecordSet {
            name: name.to_string(),
            record_type: "A".into(),
            alias_dns_name: Some(LB_DNS.into()),
        };
        let mut istio_system = NamespaceObjects::default();
        istio_system.services.insert(
            "istio-ingressgateway".into(),
            Service {
                service_type: "NodePort".into(),
                selector: labels(&[("istio", "ingressgateway")]),
                ports: vec![
                    ServicePort {
                        name: "status-port".into(),
                        port: 15021,
                        node_port: Some(30021),
                    },
                    ServicePort {
                        name: "https".into(),
                        port: 443,
                        node_port: Some(30443),
                    },
                ],
            },
        );
        istio_system.deployments.insert(
            "istio-ingressgateway".into(),
            Deployment {
                replicas: 1,
                ready_replicas: 1,
                template_labels: labels(&[("istio", "ingressgateway")]),
            },
        );
        istio_system.pods.push(Pod {
            name: "istio-ingressgateway-1".into(),
            labels: labels(&[("istio", "ingressgateway")]),
            ready: true,
        });
        istio_system.gateways.insert(
            "monitor-gateway".into(),
            IstioGateway {
                selector: labels(&[("istio", "ingressgateway")]),
                servers: vec![
                    GatewayServer {
                        port: 80,
                        protocol: "HTTP".into(),
                        hosts: vec!["*".into()],
                        tls_mode: None,
                        credential_name: None,
                    },
                    GatewayServer {
                        port: 443,
                        protocol: "HTTPS".into(),
                        hosts: vec!["*".into()],
                        tls_mode: Some("SIMPLE".into()),
                        credential_name: Some("moamoa-cert".into()),
                    },
                ],
            },
        );
        istio_system.secrets.insert(
            "moamoa-cert".into(),
            TlsSecret {
                secret_type: "kubernetes.io/tls".into(),
                certificate_der: Some(certificate_der(&["*.moamoa-news.com", "moamoa-news.com"])),
                has_key: true,
            },
        );
        let mut default = NamespaceObjects::default();
        default.virtual_services.insert(
            "gateway-server".into(),
            IstioVirtualService {
                hosts: vec!["moamoa-news.com".into(), "www.moamoa-news.com".into()],
                gateways: vec!["istio-system/monitor-gateway".into()],
            },
        );
        default.services.insert(
            "gatewayserver-service".into(),
            Service {
                service_type: "ClusterIP".into(),
                selector: labels(&[("app", "gatewayserver")]),
                ports: vec![ServicePort {
                    name: "http".into(),
                    port: 8072,
                    node_port: None,
                }],
            },
        );
        default.endpoints.insert(
            "gatewayserver-service".into(),
            Endpoints {
                ready: 2,
                not_ready: 0,
            },
        );
        Snapshot {
            zones: BTreeMap::from([(
                "route53_zone.public".to_string(),
                ZoneRead::Read {
                    zone_id: "Z1".into(),
                    records: vec![record("moamoa-news.com"), record("www.moamoa-news.com")],
                },
            )]),
            balancers: vec![Balancer {
                arn: "arn:lb/public".into(),
                name: "k8s-public".into(),
                dns_name: LB_DNS.into(),
                state: "active".into(),
                listeners: vec![
                    Listener {
                        arn: "arn:listener/80".into(),
                        port: 80,
                        protocol: "HTTP".into(),
                        certificate_arns: vec![],
                        forwards_to: vec![],
                    },
                    Listener {
                        arn: "arn:listener/443".into(),
                        port: 443,
                        protocol: "HTTPS".into(),
                        certificate_arns: vec!["arn:cert/wildcard".into()],
                        forwards_to: vec!["arn:tg/https".into()],
                    },
                ],
                target_groups: vec![TargetGroup {
                    arn: "arn:tg/https".into(),
                    name: "k8s-istiosys-https".into(),
                    port: Some(30443),
                    target_type: "instance".into(),
                    health_check_port: "30021".into(),
                    targets: vec![TargetHealth {
                        id: "i-1".into(),
                        port: Some(30443),
                        state: "healthy".into(),
                        reason: None,
                    }],
                }],
            }],
            expected_balancers: BTreeMap::from([(
                "alb.public".to_string(),
                ExpectedBalancer {
                    arn: Some("arn:lb/public".into()),
                    dns_name: Some(LB_DNS.into()),
                    source: "state".into(),
                },
            )]),
            certificates: BTreeMap::from([(
                "arn:cert/wildcard".to_string(),
                AcmCertificate {
                    arn: "arn:cert/wildcard".into(),
                    status: "ISSUED".into(),
                    not_after_unix: Some(NOW + 90 * 86_400),
                    names: vec!["*.moamoa-news.com".into(), "moamoa-news.com".into()],
                },
            )]),
            namespaces: BTreeMap::from([
                ("istio-system".to_string(), istio_system),
                ("default".to_string(), default),
            ]),
            now_unix: NOW,
        }
    }

    fn run(snapshot: &Snapshot) -> Report {
        check(&seed_001(), snapshot, "moamoa", "2027-01-15T08:00:00Z", 5)
    }

    /// The first broken step of `host`, which must exist.
    fn first_broken<'r>(report: &'r Report, host: &str) -> &'r Step {
        let host = report.hosts.iter().find(|h| h.host == host).unwrap();
        assert_eq!(host.status, Status::Broken, "{host:#?}");
        host.first_broken_step().unwrap()
    }

    #[test]
    fn a_working_world_passes_every_link() {
        let report = run(&working());
        assert!(!report.broken(), "{}", crate::render::text(&report, false));
        assert!(report.hosts.iter().all(|h| h.status == Status::Ok));
        assert_eq!(report.links.len(), 8);
        assert!(
            report.links.values().all(|s| *s == Status::Ok),
            "{:?}",
            report.links
        );
    }

    #[test]
    fn a_missing_record_breaks_the_client_link() {
        let mut world = working();
        if let Some(ZoneRead::Read { records, .. }) = world.zones.get_mut("route53_zone.public") {
            records.retain(|r| r.name != "www.moamoa-news.com");
        }
        let report = run(&world);
        let step = first_broken(&report, "www.moamoa-news.com");
        assert_eq!(step.link, "client→dns_record.www");
        assert_eq!(step.resource.as_deref(), Some("dns_record.www"));
        // The other host still works; the shared links keep their colour from it.
        assert_eq!(report.hosts[0].status, Status::Ok);
        assert_eq!(report.links["client→dns_record.www"], Status::Broken);
    }

    #[test]
    fn a_record_aliasing_another_balancer_names_the_record_and_its_target() {
        let mut world = working();
        world.balancers.push(Balancer {
            arn: "arn:lb/other".into(),
            name: "someone-elses".into(),
            dns_name: "other.elb.amazonaws.com".into(),
            state: "active".into(),
            ..Balancer::default()
        });
        if let Some(ZoneRead::Read { records, .. }) = world.zones.get_mut("route53_zone.public") {
            records[1].alias_dns_name = Some("other.elb.amazonaws.com".into());
        }
        let step = first_broken(&run(&world), "www.moamoa-news.com").clone();
        assert_eq!(step.link, "dns_record.www→alb.public");
        assert_eq!(step.field.as_deref(), Some("AliasTarget.DNSName"));
        assert!(step.message.contains("someone-elses"), "{}", step.message);
    }

    #[test]
    fn a_deleted_balancer_is_named_with_where_it_was_expected_from() {
        let mut world = working();
        world.balancers.clear();
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(step.check, LinkCheck::Aliases);
        assert!(step.message.contains("does not exist"), "{}", step.message);
        assert!(step.message.contains("state"), "{}", step.message);
    }

    #[test]
    fn a_missing_listener_breaks_the_balancer_link() {
        let mut world = working();
        world.balancers[0].listeners.retain(|l| l.port != 443);
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(step.link, "alb.public→ingress_gateway.istio-ingressgateway");
        assert_eq!(step.field.as_deref(), Some("Listeners"));
        assert!(step.message.contains("HTTP 80"), "{}", step.message);
    }

    #[test]
    fn certificates_must_be_issued_lasting_and_covering_the_host() {
        type Change = fn(&mut AcmCertificate);
        let cases: [(&str, Change); 3] = [
            ("Status", |c| c.status = "PENDING_VALIDATION".into()),
            ("NotAfter", |c| c.not_after_unix = Some(NOW + 10 * 86_400)),
            ("SubjectAlternativeNames", |c| {
                c.names = vec!["other.example.com".into()]
            }),
        ];
        for (field, change) in cases {
            let mut world = working();
            change(world.certificates.get_mut("arn:cert/wildcard").unwrap());
            let report = run(&world);
            let step = first_broken(&report, "www.moamoa-news.com");
            assert_eq!(step.what, "certificate");
            assert_eq!(step.field.as_deref(), Some(field));
            assert_eq!(
                step.object.as_deref(),
                Some("ACM certificate arn:cert/wildcard")
            );
            assert_eq!(step.resource.as_deref(), Some("acm_certificate.wildcard"));
        }
    }

    #[test]
    fn a_health_check_on_the_wrong_port_names_the_target_group_field() {
        let mut world = working();
        world.balancers[0].target_groups[0].health_check_port = "30999".into();
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(
            step.object.as_deref(),
            Some("ELBv2 target group k8s-istiosys-https")
        );
        assert_eq!(step.field.as_deref(), Some("HealthCheckPort"));
        assert!(step.message.contains("30021"), "{}", step.message);
    }

    #[test]
    fn unhealthy_targets_break_the_balancer_link_with_their_reasons() {
        let mut world = working();
        let target = &mut world.balancers[0].target_groups[0].targets[0];
        target.state = "unhealthy".into();
        target.reason = Some("Target.FailedHealthChecks".into());
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(step.what, "targets healthy");
        assert!(
            step.message.contains("Target.FailedHealthChecks"),
            "{}",
            step.message
        );
    }

    #[test]
    fn a_gateway_scaled_to_zero_is_named_by_its_deployment() {
        let mut world = working();
        let ns = world.namespaces.get_mut("istio-system").unwrap();
        let deployment = ns.deployments.get_mut("istio-ingressgateway").unwrap();
        deployment.replicas = 0;
        deployment.ready_replicas = 0;
        ns.pods.clear();
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(
            step.link,
            "ingress_gateway.istio-ingressgateway→gateway.monitor-gateway"
        );
        assert_eq!(
            step.object.as_deref(),
            Some("Deployment istio-system/istio-ingressgateway")
        );
        assert_eq!(step.field.as_deref(), Some("spec.replicas"));
    }

    #[test]
    fn a_gateway_selecting_other_labels_names_its_selector() {
        let mut world = working();
        let ns = world.namespaces.get_mut("istio-system").unwrap();
        ns.gateways.get_mut("monitor-gateway").unwrap().selector = labels(&[("istio", "nothing")]);
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(step.field.as_deref(), Some("spec.selector"));
        assert_eq!(
            step.object.as_deref(),
            Some("Gateway istio-system/monitor-gateway")
        );
    }

    #[test]
    fn a_gateway_without_the_host_names_its_servers() {
        let mut world = working();
        let ns = world.namespaces.get_mut("istio-system").unwrap();
        for server in &mut ns.gateways.get_mut("monitor-gateway").unwrap().servers {
            server.hosts = vec!["moamoa-news.com".into()];
        }
        let report = run(&world);
        assert_eq!(report.hosts[0].status, Status::Ok);
        let step = first_broken(&report, "www.moamoa-news.com");
        assert_eq!(step.field.as_deref(), Some("spec.servers"));
    }

    #[test]
    fn a_tls_secret_missing_or_for_other_hosts_breaks_the_gateway_link() {
        let mut world = working();
        world
            .namespaces
            .get_mut("istio-system")
            .unwrap()
            .secrets
            .clear();
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(
            step.object.as_deref(),
            Some("Secret istio-system/moamoa-cert")
        );
        assert_eq!(step.resource.as_deref(), Some("certificate.moamoa-cert"));

        let mut world = working();
        world
            .namespaces
            .get_mut("istio-system")
            .unwrap()
            .secrets
            .get_mut("moamoa-cert")
            .unwrap()
            .certificate_der = Some(certificate_der(&["other.example.com"]));
        let step = first_broken(&run(&world), "www.moamoa-news.com").clone();
        assert_eq!(step.field.as_deref(), Some("data.tls.crt"));
        assert!(
            step.message.contains("not valid for `www.moamoa-news.com`"),
            "{}",
            step.message
        );
    }

    #[test]
    fn a_deleted_or_unbound_virtual_service_breaks_the_route_link() {
        let mut world = working();
        world
            .namespaces
            .get_mut("default")
            .unwrap()
            .virtual_services
            .clear();
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(
            step.link,
            "gateway.monitor-gateway→virtual_service.gateway-server"
        );
        assert!(step.message.contains("does not exist"), "{}", step.message);

        let mut world = working();
        let vs = world.namespaces.get_mut("default").unwrap();
        // A bare name is a Gateway in the VirtualService's own namespace: not this one.
        vs.virtual_services
            .get_mut("gateway-server")
            .unwrap()
            .gateways = vec!["monitor-gateway".into()];
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(step.field.as_deref(), Some("spec.gateways"));
    }

    #[test]
    fn a_missing_service_port_or_endpoints_breaks_the_destination_link() {
        let mut world = working();
        world
            .namespaces
            .get_mut("default")
            .unwrap()
            .services
            .clear();
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(
            step.link,
            "virtual_service.gateway-server→service:default/gatewayserver-service"
        );
        assert_eq!(
            step.object.as_deref(),
            Some("Service default/gatewayserver-service")
        );

        let mut world = working();
        let ns = world.namespaces.get_mut("default").unwrap();
        ns.services.get_mut("gatewayserver-service").unwrap().ports[0].port = 80;
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(step.field.as_deref(), Some("spec.ports"));

        let mut world = working();
        let ns = world.namespaces.get_mut("default").unwrap();
        ns.endpoints.insert(
            "gatewayserver-service".into(),
            Endpoints {
                ready: 0,
                not_ready: 2,
            },
        );
        let step = first_broken(&run(&world), "moamoa-news.com").clone();
        assert_eq!(step.what, "ready endpoints");
        assert!(step.message.contains("2 not ready"), "{}", step.message);
    }

    #[test]
    fn reports_render_and_read_back() {
        let mut world = working();
        world.balancers[0].target_groups[0].health_check_port = "30999".into();
        let report = run(&world);
        let text = crate::render::text(&report, false);
        assert!(text.contains("✗ moamoa-news.com"), "{text}");
        assert!(text.contains("field: HealthCheckPort"), "{text}");
        assert!(text.contains("2 host(s): 0 reachable, 2 broken"), "{text}");
        let markdown = crate::render::markdown(&report);
        assert!(
            markdown.contains("| ✗ | `www.moamoa-news.com` |"),
            "{markdown}"
        );
        let back: Report = serde_json::from_str(&crate::render::json(&report)).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
    }
}
