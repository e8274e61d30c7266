//! Cross-resource checks that run before anything touches AWS: the traps the seeds' authors hit by
//! hand. Each check reads typed resources and reports at the field to change.

use crate::diagnostic::Diagnostic;
use crate::kinds::aws::{AcmCertificate, IamServiceAccount, WellKnownPolicy};
use crate::kinds::cluster::{
    Alb, Certificate, IngressGateway, ServiceType, TargetType, STATUS_PORT_NAME,
};
use crate::kinds::mesh::{
    DestinationRule, Gateway, GatewaySelector, ServerProtocol, VirtualService, MESH_GATEWAY,
};
use crate::kinds::{Kind, Spec};
use crate::path::FieldPath;
use crate::stack::{Address, Resource, Stack};
use crate::values::{domain_covers, domain_within, is_deferred};
use std::collections::{HashMap, HashSet};

/// The annotation seed 004 put on gateway Services by hand for the ALB health check.
const ALB_HEALTHCHECK_PORT_ANNOTATION: &str = "alb.ingress.kubernetes.io/healthcheck-port";

/// Typed views of the stack's resources, built once so that every check looks up what it needs
/// instead of scanning the stack: a stack of 10,000 gateway-bound virtual services is checked in
/// time linear in its size.
struct Index<'a> {
    /// Each address's resource; of a duplicated address (reported by `link`), the last one.
    by_address: HashMap<(Kind, &'a str), &'a Resource>,
    /// Destination rules by `service.namespace` of their host.
    rules_by_host: HashMap<String, Vec<&'a DestinationRule>>,
    /// Every ingress gateway, in file order.
    ingress_gateways: Vec<(&'a Resource, &'a IngressGateway)>,
    /// The ingress gateways each `gateway` resource's selector matches, by the resource's
    /// position in the file.
    selected: HashMap<usize, Vec<(&'a Resource, &'a IngressGateway)>>,
    /// ALBs by the gateway workload they front, in file order.
    albs_by_gateway: HashMap<&'a str, Vec<(&'a Resource, &'a Alb)>>,
    /// The namespace cert-manager runs in: the first `cert_manager`'s, else its default.
    cert_manager_namespace: &'a str,
    zones: Zones<'a>,
}

impl<'a> Index<'a> {
    fn new(stack: &'a Stack) -> Self {
        let mut by_address = HashMap::with_capacity(stack.resources.len());
        let mut rules_by_host: HashMap<String, Vec<&DestinationRule>> = HashMap::new();
        let mut ingress_gateways = Vec::new();
        let mut albs_by_gateway: HashMap<&str, Vec<(&Resource, &Alb)>> = HashMap::new();
        let mut cert_manager_namespace = None;
        let mut zone_domains = Vec::new();
        for r in &stack.resources {
            by_address.insert((r.address.kind, r.address.name.as_str()), r);
            match &r.spec {
                Spec::DestinationRule(dr) => rules_by_host
                    .entry(service_key(&dr.host, dr.namespace.as_str()))
                    .or_default()
                    .push(dr),
                Spec::IngressGateway(g) => ingress_gateways.push((r, g)),
                Spec::Alb(alb) => albs_by_gateway
                    .entry(alb.gateway.as_str())
                    .or_default()
                    .push((r, alb)),
                Spec::CertManager(cm) => {
                    cert_manager_namespace.get_or_insert(cm.namespace.as_str());
                }
                Spec::Route53Zone(z) if !is_deferred(z.domain.as_str()) => {
                    zone_domains.push(z.domain.as_str())
                }
                _ => {}
            }
        }
        let mut index = Index {
            by_address,
            rules_by_host,
            ingress_gateways,
            selected: HashMap::new(),
            albs_by_gateway,
            cert_manager_namespace: cert_manager_namespace.unwrap_or("cert-manager"),
            zones: Zones::new(zone_domains),
        };
        let selected = stack
            .resources
            .iter()
            .filter_map(|r| match &r.spec {
                Spec::Gateway(gateway) => Some((r.index, index.selector_matches(gateway))),
                _ => None,
            })
            .collect();
        index.selected = selected;
        index
    }

    fn get(&self, kind: Kind, name: &str) -> Option<&'a Resource> {
        self.by_address.get(&(kind, name)).copied()
    }

    fn gateway_workload(&self, name: &str) -> Option<(&'a Resource, &'a IngressGateway)> {
        self.get(Kind::IngressGateway, name)
            .and_then(|r| match &r.spec {
                Spec::IngressGateway(g) => Some((r, g)),
                _ => None,
            })
    }

    fn ingress_gateways(&self) -> impl Iterator<Item = (&'a Resource, &'a IngressGateway)> + '_ {
        self.ingress_gateways.iter().copied()
    }

    fn certificate(&self, name: &str) -> Option<&'a Certificate> {
        self.get(Kind::Certificate, name)
            .and_then(|r| match &r.spec {
                Spec::Certificate(c) => Some(c),
                _ => None,
            })
    }

    fn acm(&self, name: &str) -> Option<&'a AcmCertificate> {
        self.get(Kind::AcmCertificate, name)
            .and_then(|r| match &r.spec {
                Spec::AcmCertificate(c) => Some(c),
                _ => None,
            })
    }

    fn irsa(&self, name: &str) -> Option<&'a IamServiceAccount> {
        self.get(Kind::IamServiceAccount, name)
            .and_then(|r| match &r.spec {
                Spec::IamServiceAccount(s) => Some(s),
                _ => None,
            })
    }

    /// A zone's domain, when known now (not still holding an unresolved `${...}`).
    fn zone_domain(&self, name: &str) -> Option<&'a str> {
        self.get(Kind::Route53Zone, name)
            .and_then(|r| match &r.spec {
                Spec::Route53Zone(z) if !is_deferred(z.domain.as_str()) => Some(z.domain.as_str()),
                _ => None,
            })
    }

    /// The one ingress_gateway the `gateway` resource binds to, when exactly one matches.
    fn gateway_target(&self, gateway: &Resource) -> Option<(&'a Resource, &'a IngressGateway)> {
        match self.selected(gateway) {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// The ingress gateways the `gateway` resource's selector matches.
    fn selected(&self, gateway: &Resource) -> &[(&'a Resource, &'a IngressGateway)] {
        self.selected.get(&gateway.index).map_or(&[], Vec::as_slice)
    }

    fn selector_matches(&self, gateway: &Gateway) -> Vec<(&'a Resource, &'a IngressGateway)> {
        let labels = match &gateway.selector {
            GatewaySelector::Labels(labels) => labels,
            GatewaySelector::Workload(name) => match self.gateway_workload(name) {
                Some((_, g)) => &g.labels,
                None => return Vec::new(),
            },
        };
        self.ingress_gateways()
            .filter(|(_, g)| labels.is_subset_of(&g.labels))
            .collect()
    }

    /// The ALBs in front of the gateway workload `name`.
    fn albs_of(&self, name: &str) -> &[(&'a Resource, &'a Alb)] {
        self.albs_by_gateway.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The domains of the stack's zones known now, for telling whether a host is in one of them
/// without comparing it with every zone.
struct Zones<'a> {
    /// As written, in file order (for messages).
    domains: Vec<&'a str>,
    /// Lowercase without trailing dots, as `domain_within` compares them.
    normalized: HashSet<String>,
}

impl<'a> Zones<'a> {
    fn new(domains: Vec<&'a str>) -> Self {
        let normalized = domains
            .iter()
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        Zones {
            domains,
            normalized,
        }
    }

    /// Whether `domain_within(host, zone)` holds for some zone: the host (without a leading
    /// `*.`) is a zone, or what follows one of its dots is.
    fn contain(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let name = host.strip_prefix("*.").unwrap_or(&host);
        self.normalized.contains(name)
            || name
                .match_indices('.')
                .any(|(dot, _)| self.normalized.contains(&name[dot + 1..]))
    }
}

pub fn check(stack: &Stack, recovered: &HashSet<usize>, diags: &mut Vec<Diagnostic>) {
    let index = Index::new(stack);
    for r in stack
        .resources
        .iter()
        .filter(|r| !recovered.contains(&r.index))
    {
        let at = r.path();
        match &r.spec {
            Spec::Alb(alb) => check_alb(&index, &at, alb, diags),
            Spec::Gateway(gateway) => check_gateway(&index, &at, r, gateway, diags),
            Spec::VirtualService(vs) => check_virtual_service(&index, &at, vs, diags),
            Spec::IngressGateway(g) => check_gateway_annotations(&at, g, diags),
            Spec::AcmCertificate(cert) => {
                if let Some(zone) = index.zone_domain(&cert.validation_zone) {
                    let names = std::iter::once(&cert.domain).chain(&cert.sans).enumerate();
                    for (i, name) in names {
                        if !is_deferred(name.as_str()) && !domain_within(name.as_str(), zone) {
                            let field = if i == 0 {
                                at.key("domain")
                            } else {
                                at.key("sans").index(i - 1)
                            };
                            diags.push(
                                Diagnostic::error("outside-zone", format!("`{name}` is not in the validation zone `{zone}`"))
                                    .at(field)
                                    .help("ACM validates a name through a CNAME in its own zone: use a name under the zone, or validate through the zone that holds it"),
                            );
                        }
                    }
                }
            }
            Spec::DnsRecord(record) => {
                if let Some(zone) = index.zone_domain(&record.zone) {
                    if !is_deferred(record.record.as_str())
                        && !domain_within(record.record.as_str(), zone)
                    {
                        diags.push(
                            Diagnostic::error("outside-zone", format!("record `{}` is not in zone `{zone}`", record.record))
                                .at(at.key("record"))
                                .help(format!("use a name ending in .{zone}, or point `zone` at the zone that holds it")),
                        );
                    }
                }
                // An alias needs a load balancer: a gateway gets one only as a LoadBalancer Service.
                let aliased = record
                    .alias
                    .as_deref()
                    .and_then(Address::parse)
                    .filter(|a| a.kind == Kind::IngressGateway);
                if let Some((_, gw)) = aliased.and_then(|a| index.gateway_workload(&a.name)) {
                    if gw.service_type() != ServiceType::LoadBalancer {
                        diags.push(
                            Diagnostic::error("alias-without-balancer", format!("{} has a {:?} Service, which gets no load balancer to alias", record.alias.as_deref().unwrap_or_default(), gw.service_type()))
                                .at(at.key("alias"))
                                .help("alias the `alb` in front of this gateway (alias: alb.NAME), or give the gateway `nlb:` settings"),
                        );
                    }
                }
            }
            Spec::LbController(lbc) => {
                if let Some(sa) = index.irsa(&lbc.service_account) {
                    check_irsa_use(
                        sa,
                        WellKnownPolicy::AwsLoadBalancerController,
                        "kube-system",
                        &at.key("service_account"),
                        diags,
                    );
                }
            }
            Spec::CertManager(cm) => {
                if let Some(sa) = cm.service_account.as_deref().and_then(|n| index.irsa(n)) {
                    check_irsa_use(
                        sa,
                        WellKnownPolicy::CertManagerRoute53,
                        cm.namespace.as_str(),
                        &at.key("service_account"),
                        diags,
                    );
                }
            }
            Spec::Issuer(issuer) => {
                if let Some(sa) = index.irsa(&issuer.dns01.service_account) {
                    check_irsa_use(
                        sa,
                        WellKnownPolicy::CertManagerRoute53,
                        index.cert_manager_namespace,
                        &at.key("dns01").key("service_account"),
                        diags,
                    );
                }
            }
            Spec::IamServiceAccount(sa) => {
                let oidc_off = index
                    .get(Kind::EksCluster, &sa.cluster)
                    .is_some_and(|c| matches!(&c.spec, Spec::EksCluster(c) if !c.oidc));
                if oidc_off {
                    diags.push(
                        Diagnostic::error("oidc-disabled", format!("IRSA needs the cluster's OIDC provider, but eks_cluster.{} has `oidc: false`", sa.cluster))
                            .at(at.key("cluster"))
                            .help("set `oidc: true` on the cluster (the default)"),
                    );
                }
            }
            _ => {}
        }
    }
    check_unique_node_ports(&index, diags);
    check_unique_gateway_labels(&index, diags);
}

fn check_irsa_use(
    sa: &IamServiceAccount,
    policy: WellKnownPolicy,
    namespace: &str,
    at: &FieldPath,
    diags: &mut Vec<Diagnostic>,
) {
    let policy_name = match policy {
        WellKnownPolicy::AwsLoadBalancerController => "aws_load_balancer_controller",
        WellKnownPolicy::CertManagerRoute53 => "cert_manager_route53",
    };
    if sa.well_known_policy.is_some_and(|p| p != policy) {
        diags.push(
            Diagnostic::error(
                "irsa-policy-mismatch",
                format!("this role carries another well-known policy than `{policy_name}`"),
            )
            .at(at.clone())
            .help(format!(
                "use an iam_service_account with `well_known_policy: {policy_name}`"
            )),
        );
    }
    if sa.namespace.as_str() != namespace {
        diags.push(
            Diagnostic::error("irsa-namespace-mismatch", format!("the role trusts ServiceAccounts in `{}`, but the add-on runs in `{namespace}`", sa.namespace))
                .at(at.clone())
                .help(format!("set the iam_service_account's `namespace: {namespace}`: the trust policy names one namespace and ServiceAccount")),
        );
    }
}

fn check_alb(index: &Index<'_>, at: &FieldPath, alb: &Alb, diags: &mut Vec<Diagnostic>) {
    let Some((gw_resource, gw)) = index.gateway_workload(&alb.gateway) else {
        return;
    };
    let gw_name = &gw_resource.address.name;
    let service_type = gw.service_type();
    if alb.target_type == TargetType::Instance && service_type == ServiceType::ClusterIP {
        diags.push(
            Diagnostic::error("alb-target-mismatch", format!("instance targets need nodePorts, but ingress_gateway.{gw_name} has a ClusterIP Service"))
                .at(at.key("target_type"))
                .label(gw_resource.path().key("service").key("type"), "the gateway Service type")
                .help("use `target_type: ip`, or give the gateway a NodePort Service (the default)"),
        );
    }
    // Backend: the Ingress must name the gateway Service and one of its ports exactly (seed 004).
    if let Some(service) = &alb.backend.service {
        if service.as_str() != gw_name {
            diags.push(
                Diagnostic::error(
                    "backend-mismatch",
                    format!("backend service `{service}` is not the gateway's Service `{gw_name}`"),
                )
                .at(at.key("backend").key("service"))
                .help("remove `backend.service`: meshctl uses the gateway's Service name"),
            );
        }
    }
    let backend_port = alb.backend.effective_port();
    if !gw.service.ports.iter().any(|p| p.port.0 == backend_port) {
        let ports = gw
            .service
            .ports
            .iter()
            .map(|p| format!("{} ({})", p.port.0, p.name))
            .collect::<Vec<_>>()
            .join(", ");
        diags.push(
            Diagnostic::error(
                "backend-mismatch",
                format!("backend port {backend_port} is not a port of ingress_gateway.{gw_name}"),
            )
            .at(if alb.backend.port.is_some() {
                at.key("backend").key("port")
            } else {
                at.key("backend")
            })
            .label(gw_resource.path().key("service"), "the gateway Service")
            .help(format!("use one of the gateway's ports: {ports}")),
        );
    }
    // Health check: the status port, as the balancer reaches it (seeds 000, 001, 004).
    let Some(status) = gw.status_port() else {
        diags.push(
            Diagnostic::error("health-check-port", format!("ingress_gateway.{gw_name} has no `{STATUS_PORT_NAME}` port for the ALB health check"))
                .at(at.key("health_check"))
                .label(gw_resource.path().key("service").key("ports"), "the gateway's ports")
                .help("add the status-port (15021 → 15021) to the gateway Service ports"),
        );
        return;
    };
    let Some(port) = alb.health_check.port else {
        return;
    };
    let status_index = gw
        .service
        .ports
        .iter()
        .position(|p| p.name == STATUS_PORT_NAME)
        .unwrap_or(0);
    let status_path = gw_resource
        .path()
        .key("service")
        .key("ports")
        .index(status_index)
        .key("node_port");
    match (alb.target_type, status.node_port) {
        (TargetType::Instance, Some(node_port)) if node_port.0 != port.0 => diags.push(
            Diagnostic::error("health-check-port", format!("health check port {} is not the status-port nodePort {} of ingress_gateway.{gw_name}", port.0, node_port.0))
                .at(at.key("health_check").key("port"))
                .label(status_path, "status-port nodePort pinned here")
                .help("remove `health_check.port`: meshctl uses the status-port nodePort for instance targets"),
        ),
        (TargetType::Instance, None) => diags.push(
            Diagnostic::error("health-check-port", format!("health check port {} cannot be checked: the status-port nodePort of ingress_gateway.{gw_name} is allocated by Kubernetes", port.0))
                .at(at.key("health_check").key("port"))
                .help("remove `health_check.port` and meshctl wires the allocated nodePort in, or pin `node_port` on the gateway's status-port"),
        ),
        (TargetType::Ip, _) => {
            let target = status.target_port.unwrap_or(status.port);
            if target.0 != port.0 {
                diags.push(
                    Diagnostic::error("health-check-port", format!("with ip targets the ALB reaches pods directly, so the health check port must be the status port {}, not {}", target.0, port.0))
                        .at(at.key("health_check").key("port"))
                        .help("remove `health_check.port`: meshctl uses the pod's status port for ip targets"),
                );
            }
        }
        _ => {}
    }
}

/// Seed 004 wrote the ALB health-check port into the gateway Service annotations by hand.
fn check_gateway_annotations(at: &FieldPath, g: &IngressGateway, diags: &mut Vec<Diagnostic>) {
    let Some(value) = g.service.annotations.get(ALB_HEALTHCHECK_PORT_ANNOTATION) else {
        return;
    };
    let node_port = g.status_port().and_then(|p| p.node_port);
    let ok = value == "traffic-port" || node_port.is_some_and(|n| n.0.to_string() == value);
    if !ok {
        let detail = match node_port {
            Some(n) => format!("the status-port nodePort is {}", n.0),
            None => "the status-port nodePort is allocated by Kubernetes".to_string(),
        };
        diags.push(
            Diagnostic::error("health-check-port", format!("annotation {ALB_HEALTHCHECK_PORT_ANNOTATION}: \"{value}\" does not match: {detail}"))
                .at(at.key("service").key("annotations").key(ALB_HEALTHCHECK_PORT_ANNOTATION))
                .help("remove the annotation: an `alb` resource in front of this gateway sets its health check port itself"),
        );
    }
}

fn check_gateway(
    index: &Index<'_>,
    at: &FieldPath,
    resource: &Resource,
    gateway: &Gateway,
    diags: &mut Vec<Diagnostic>,
) {
    let matching = index.selected(resource);
    let selector_path = at.key("selector");
    match (&gateway.selector, matching.len()) {
        (GatewaySelector::Labels(labels), 0) => {
            let known = index
                .ingress_gateways()
                .map(|(r, g)| format!("{} {:?}", r.address.name, g.labels.0))
                .collect::<Vec<_>>()
                .join("; ");
            diags.push(
                Diagnostic::error(
                    "selector-matches-none",
                    format!("selector {:?} matches no ingress_gateway", labels.0),
                )
                .at(selector_path.clone())
                .help(if known.is_empty() {
                    "declare an ingress_gateway with these labels".to_string()
                } else {
                    format!("ingress gateways and their labels: {known}")
                }),
            );
        }
        (_, n) if n > 1 => {
            let names = matching
                .iter()
                .map(|(r, _)| r.address.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let mut d = Diagnostic::error("selector-ambiguous", format!("selector matches {n} ingress gateways ({names}); the Gateway would configure all of them"))
                .at(selector_path.clone())
                .help("give each ingress_gateway distinct labels (seed 004: istio: ingressgateway-alb / ingressgateway-ext-alb) and select one");
            for (r, _) in matching {
                d = d.label(
                    r.path().key("labels"),
                    format!("labels of ingress_gateway.{}", r.address.name),
                );
            }
            diags.push(d);
        }
        _ => {}
    }
    let Some((workload, gw)) = index.gateway_target(resource) else {
        return;
    };
    for (i, server) in gateway.servers.iter().enumerate() {
        let Some(name) = server.tls.as_ref().and_then(|t| t.credential.as_deref()) else {
            continue;
        };
        let Some(cert) = index.certificate(name) else {
            continue;
        };
        if cert.namespace.as_str() != gw.namespace.as_str() {
            diags.push(
                Diagnostic::error("credential-namespace", format!("certificate.{name} writes its Secret to `{}`, but the gateway workload ingress_gateway.{} runs in `{}`", cert.namespace, workload.address.name, gw.namespace))
                    .at(at.key("servers").index(i).key("tls").key("credential"))
                    .label(index.get(Kind::Certificate, name).map(|r| r.path().key("namespace")).unwrap_or_default(), "the certificate's namespace")
                    .help(format!("Istio reads credentialName Secrets from the gateway's own namespace: set the certificate's `namespace: {}` (no Secret copying needed)", gw.namespace)),
            );
        }
    }
}

fn check_virtual_service(
    index: &Index<'_>,
    at: &FieldPath,
    vs: &VirtualService,
    diags: &mut Vec<Diagnostic>,
) {
    let gateways: Vec<(&Resource, &Gateway)> = vs
        .gateways
        .iter()
        .filter(|g| g.as_str() != MESH_GATEWAY)
        .filter_map(|g| {
            let r = index.get(Kind::Gateway, g)?;
            match &r.spec {
                Spec::Gateway(gateway) => Some((r, gateway)),
                _ => None,
            }
        })
        .collect();
    if !gateways.is_empty() {
        let zones = &index.zones;
        // Bound to sidecars too, a VirtualService may list short in-mesh names (`reviews`):
        // those are not public names and need no zone or certificate.
        let also_mesh = vs.gateways.iter().any(|g| g == MESH_GATEWAY);
        for (i, host) in vs.hosts.iter().enumerate() {
            let host = host.as_str().rsplit('/').next().unwrap_or(host.as_str());
            if host == "*" || is_deferred(host) || (also_mesh && !host.contains('.')) {
                continue;
            }
            let host_path = at.key("hosts").index(i);
            let external = vs
                .external_zones
                .iter()
                .any(|z| domain_within(host, z.as_str()));
            if !external && !zones.contain(host) {
                let managed = if zones.domains.is_empty() {
                    String::new()
                } else {
                    format!("managed zones: {}; ", zones.domains.join(", "))
                };
                diags.push(
                    Diagnostic::error("host-outside-zones", format!("host `{host}` is in no route53_zone of this stack"))
                        .at(host_path.clone())
                        .help(format!("{managed}fix the host, or declare its zone: a `route53_zone` (`existing: true` uses one in this account without managing it), or `external_zones: [ZONE]` on this virtual_service if its DNS is managed outside this stack")),
                );
            }
            for (gw_resource, gateway) in &gateways {
                check_host_on_gateway(index, &host_path, host, gw_resource, gateway, diags);
            }
        }
    }
    check_subsets(index, at, vs, diags);
}

/// A host must be served by the Gateway, and covered by every certificate on its way in: the
/// Gateway's TLS credential and the ACM certificate of an ALB in front of the gateway workload.
fn check_host_on_gateway(
    index: &Index<'_>,
    host_path: &FieldPath,
    host: &str,
    gw_resource: &Resource,
    gateway: &Gateway,
    diags: &mut Vec<Diagnostic>,
) {
    let gw_name = gw_resource.address.name.as_str();
    let gateway_path = gw_resource.path();
    let served = gateway.servers.iter().any(|s| {
        s.hosts.iter().any(|h| {
            let h = h.as_str().rsplit('/').next().unwrap_or(h.as_str());
            h == "*" || domain_covers(h, host)
        })
    });
    if !served {
        diags.push(
            Diagnostic::error(
                "host-not-on-gateway",
                format!("host `{host}` is not among the hosts of gateway.{gw_name}"),
            )
            .at(host_path.clone())
            .label(gateway_path.key("servers"), "the gateway's servers")
            .help("add the host (or a wildcard covering it) to the gateway's server hosts"),
        );
    }
    for (i, server) in gateway.servers.iter().enumerate() {
        if !matches!(
            server.port.protocol,
            ServerProtocol::HTTPS | ServerProtocol::TLS
        ) {
            continue;
        }
        let Some(name) = server.tls.as_ref().and_then(|t| t.credential.as_deref()) else {
            continue;
        };
        let Some(cert) = index.certificate(name) else {
            continue;
        };
        if !cert
            .dns_names
            .iter()
            .any(|n| domain_covers(n.as_str(), host))
        {
            diags.push(
                Diagnostic::error("host-not-covered", format!("host `{host}` is not covered by certificate.{name} served by gateway.{gw_name}"))
                    .at(host_path.clone())
                    .label(gateway_path.key("servers").index(i).key("tls").key("credential"), "the certificate on this path")
                    .help(format!("add `{host}` (or a wildcard covering it) to certificate.{name}'s dns_names")),
            );
        }
    }
    let Some((workload, workload_spec)) = index.gateway_target(gw_resource) else {
        return;
    };
    // An NLB terminating TLS in front of the workload serves its ACM certificate.
    if let Some(nlb) = workload_spec
        .nlb
        .as_ref()
        .filter(|n| !n.tls_ports.is_empty())
    {
        if let Some(acm) = nlb.certificate.as_deref().and_then(|name| index.acm(name)) {
            let covered = std::iter::once(&acm.domain)
                .chain(&acm.sans)
                .any(|n| domain_covers(n.as_str(), host));
            if !covered {
                diags.push(
                    Diagnostic::error("host-not-covered", format!("host `{host}` is not covered by acm_certificate.{} on the NLB of ingress_gateway.{}", nlb.certificate.as_deref().unwrap_or_default(), workload.address.name))
                        .at(host_path.clone())
                        .label(workload.path().key("nlb").key("certificate"), "the NLB's certificate")
                        .help(format!("add `{host}` (or a wildcard covering it) to that certificate's domain or sans")),
                );
            }
        }
    }
    for (r, alb) in index.albs_of(&workload.address.name) {
        let Some(acm_name) = &alb.certificate else {
            continue;
        };
        let Some(acm) = index.acm(acm_name) else {
            continue;
        };
        let covered = std::iter::once(&acm.domain)
            .chain(&acm.sans)
            .any(|n| domain_covers(n.as_str(), host));
        if !covered {
            diags.push(
                Diagnostic::error("host-not-covered", format!("host `{host}` is not covered by acm_certificate.{acm_name} on alb.{}", r.address.name))
                    .at(host_path.clone())
                    .label(r.path().key("certificate"), "the ALB's certificate")
                    .help(format!("add `{host}` (or a wildcard covering it) to acm_certificate.{acm_name}'s domain or sans")),
            );
        }
    }
}

/// Route destinations naming a subset need a destination_rule for that host defining it.
fn check_subsets(
    index: &Index<'_>,
    at: &FieldPath,
    vs: &VirtualService,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, route) in vs.http.iter().enumerate() {
        let route_path = at.key("http").index(i);
        let destinations = route.route.iter().enumerate().map(|(j, d)| {
            (
                route_path.key("route").index(j).key("destination"),
                &d.destination,
            )
        });
        let mirror = route.mirror.iter().map(|m| (route_path.key("mirror"), m));
        for (path, destination) in destinations.chain(mirror) {
            let Some(subset) = &destination.subset else {
                continue;
            };
            let defined = index
                .rules_by_host
                .get(&service_key(&destination.host, vs.namespace.as_str()))
                .is_some_and(|rules| {
                    rules
                        .iter()
                        .any(|dr| dr.subsets.iter().any(|s| &s.name == subset))
                });
            if !defined {
                diags.push(
                    Diagnostic::error(
                        "unknown-subset",
                        format!(
                            "subset `{subset}` of host `{}` is defined by no destination_rule",
                            destination.host
                        ),
                    )
                    .at(path.key("subset"))
                    .help(format!(
                        "declare a destination_rule for host `{}` with a subset named `{subset}`",
                        destination.host
                    )),
                );
            }
        }
    }
}

/// A service host as `name.namespace`: a short name (`reviews`) is in the namespace of the rule or
/// route that names it, as Istio resolves it; `reviews.prod` and
/// `reviews.prod.svc.cluster.local` name the same service.
fn service_key(host: &str, namespace: &str) -> String {
    let mut labels = host.split('.');
    let name = labels.next().unwrap_or(host);
    let ns = labels.next().unwrap_or(namespace);
    format!("{name}.{ns}")
}

fn check_unique_node_ports(index: &Index<'_>, diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<u16, FieldPath> = HashMap::new();
    for (r, g) in index.ingress_gateways() {
        for (i, port) in g.service.ports.iter().enumerate() {
            let Some(node_port) = port.node_port else {
                continue;
            };
            let path = r
                .path()
                .key("service")
                .key("ports")
                .index(i)
                .key("node_port");
            if let Some(first) = seen.get(&node_port.0) {
                diags.push(
                    Diagnostic::error(
                        "duplicate-node-port",
                        format!("nodePort {} is pinned twice", node_port.0),
                    )
                    .at(path)
                    .label(first.clone(), "first pinned here")
                    .help("a nodePort is open on every node for one Service: pin a different port"),
                );
            } else {
                seen.insert(node_port.0, path);
            }
        }
    }
}

/// Two gateway workloads with labels one of which contains the other cannot be told apart by a
/// Gateway selector (seed 004 gives each its own `istio:` label).
fn check_unique_gateway_labels(index: &Index<'_>, diags: &mut Vec<Diagnostic>) {
    let gateways: Vec<_> = index
        .ingress_gateways()
        .filter(|(_, g)| !g.labels.is_empty())
        .collect();
    for (i, (r, g)) in gateways.iter().enumerate() {
        for (other, og) in &gateways[..i] {
            // Reported on the later gateway, whichever of the two holds the other's labels.
            let (wider, narrower) = if og.labels.is_subset_of(&g.labels) {
                (r, other)
            } else if g.labels.is_subset_of(&og.labels) {
                (other, r)
            } else {
                continue;
            };
            diags.push(
                Diagnostic::error(
                    "duplicate-gateway-labels",
                    format!(
                        "ingress_gateway.{} has all the labels of ingress_gateway.{}, so a Gateway cannot select only the latter",
                        wider.address.name, narrower.address.name
                    ),
                )
                .at(r.path().key("labels"))
                .label(other.path().key("labels"), "the other gateway's labels")
                .help("give every ingress_gateway a distinct label value, e.g. istio: ingressgateway-alb"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_contain_what_domain_within_finds_in_some_zone() {
        let zones = ["example.com", "Apps.Example.NET.", "svc.internal"];
        let index = Zones::new(zones.to_vec());
        let hosts = [
            "example.com",
            "www.example.com",
            "*.example.com",
            "WWW.EXAMPLE.COM.",
            "example.com.evil.org",
            "notexample.com",
            "a.b.apps.example.net",
            "example.net",
            "internal",
            "x.svc.internal",
            "*.svc.internal",
            "",
            ".",
            "..example.com",
        ];
        for host in hosts {
            let expected = zones.iter().any(|z| domain_within(host, z));
            assert_eq!(index.contain(host), expected, "host `{host}`");
        }
    }
}
