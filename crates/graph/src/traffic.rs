//! The traffic path a stack builds, derived from the stack alone: the hosts it serves and, for
//! each, the chain a request follows (DNS record → balancer → gateway workload → Istio Gateway →
//! VirtualService → destination Service), as nodes and links with stable ids.
//!
//! `meshctl verify` checks each link in the live world, keyed by `Link::id`; `graph --format svg`
//! draws `TrafficModel::nodes` and `TrafficModel::links` in `Band`s and colours each link by the
//! last verify result for its id. Ids are part of that contract: a node's id is its resource
//! address (`alb.public`), or `nlb:<ingress_gateway address>` for an NLB, `service:<ns>/<name>`
//! for a destination Service and `client` for the client; a link's id is `<from>→<to>`.

use meshctl_model::kinds::cluster::{
    Alb, IngressGateway, ListenProtocol, ServiceType, TargetType, STATUS_PORT_NAME,
};
use meshctl_model::kinds::mesh::{Gateway, GatewaySelector, ServerProtocol, VirtualService};
use meshctl_model::stack::{Address, Resource, Stack};
use meshctl_model::{Kind, Spec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The id of the one client node every path starts from.
pub const CLIENT: &str = "client";

/// The pod port of Istio's readiness endpoint, which ip targets are health-checked on.
pub const STATUS_PORT: u16 = 15021;

/// Which layer a node belongs to; the picture draws each band as a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Whoever resolves the names: the start of every path.
    Client,
    /// Route53 records.
    Dns,
    /// Load balancers (ALB, NLB) with their listeners and target groups.
    Aws,
    /// Kubernetes and Istio objects.
    Cluster,
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Client,
    /// A `dns_record` aliasing a balancer.
    Record,
    /// An `alb` (an Ingress the AWS Load Balancer Controller makes into an ALB).
    Alb,
    /// The NLB the AWS Load Balancer Controller makes for an `ingress_gateway`'s Service.
    Nlb,
    /// An `ingress_gateway`: the gateway Deployment and its Service.
    Workload,
    /// An Istio `gateway`.
    Gateway,
    /// A `virtual_service`.
    VirtualService,
    /// A destination Service, shipped with the app (usually not a resource of the stack).
    Service,
}

/// One box of the picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Stable id (see the module documentation).
    pub id: String,
    pub band: Band,
    pub role: Role,
    /// What to print in the box: the resource address, a record's name, `name.namespace` for a
    /// Service.
    pub label: String,
    /// Extra lines for the box (scheme, listeners, nodePorts…).
    pub details: Vec<String>,
    /// The stack resource behind the node, if any (an NLB's is its `ingress_gateway`).
    pub address: Option<Address>,
}

/// What verify checks on a link, in the order a request meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkCheck {
    /// client → record: the record exists in its Route53 zone.
    Resolves,
    /// record → balancer: the record aliases this balancer, which exists and is active.
    Aliases,
    /// balancer → workload: a listener on the client's port (its certificate ISSUED, not
    /// expiring within 14 days, covering the host); the target group's health-check port is the
    /// gateway's status port (its nodePort for instance targets, 15021 for ip targets); the
    /// targets are healthy.
    Forwards,
    /// workload → Gateway: the gateway Deployment has ready pods matching the Gateway's
    /// selector, and a Gateway server accepts the host on the port (its TLS Secret present and
    /// valid for the host when the Gateway terminates TLS).
    Serves,
    /// Gateway → VirtualService: a VirtualService bound to the Gateway routes the host.
    Routes,
    /// VirtualService → Service: the destination Service exists, has the port and ready
    /// endpoints (for a subset, pods with the DestinationRule's labels).
    Reaches,
}

/// One arrow of the picture, shared by every host whose path crosses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// `<from>→<to>`.
    pub id: String,
    pub from: String,
    pub to: String,
    pub check: LinkCheck,
}

/// Where a request for a host enters the balancer and leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The `alb` or the NLB's `ingress_gateway`.
    pub balancer: Address,
    /// The balancer node's id (`alb.x` or `nlb:ingress_gateway.x`).
    pub balancer_node: String,
    pub role: Role,
    /// The listener port the client connects to (HTTPS/TLS when `tls` is set).
    pub port: u16,
    /// The balancer ends TLS on `port` with this `acm_certificate`.
    pub certificate: Option<Address>,
    /// The gateway Service port the balancer forwards to (the Gateway servers' port).
    pub service_port: u16,
    pub target_type: TargetType,
    /// The health-check port the stack asked for, if it named one.
    pub health_check_port: Option<u16>,
}

/// The gateway workload a balancer forwards to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadHop {
    pub address: Address,
    pub namespace: String,
    /// Its Service and Deployment (Istio names both after the component).
    pub service: String,
    pub labels: BTreeMap<String, String>,
    pub service_type: String,
    /// The status port's pinned nodePort, if the stack pins it.
    pub status_node_port: Option<u16>,
}

/// A Gateway server that accepts the host on the entry's service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayHop {
    pub address: Address,
    pub namespace: String,
    /// The link workload → Gateway.
    pub link: String,
    /// The Gateway's pod selector (the workload's labels when it names the workload).
    pub selector: BTreeMap<String, String>,
    /// Index of the matching server in `servers`.
    pub server: usize,
    pub port: u16,
    /// The server ends TLS with this credential: the `certificate` resource and its Secret name.
    pub tls_credential: Option<TlsCredential>,
}

/// A Gateway's TLS credential: a cert-manager `certificate` writing a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsCredential {
    /// The `certificate` resource, when the stack declares it.
    pub certificate: Option<Address>,
    /// The Secret Istio reads (`credentialName`), in the gateway workload's namespace.
    pub secret: String,
}

/// A VirtualService bound to a Gateway of the path that routes the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteHop {
    pub address: Address,
    pub namespace: String,
    /// The Gateway it is bound to.
    pub gateway: Address,
    /// The link Gateway → VirtualService.
    pub link: String,
}

/// A destination of a VirtualService of the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationHop {
    /// The VirtualService routing here.
    pub virtual_service: Address,
    /// Its index in `http` and in that route's `route`, for the field at fault.
    pub http: usize,
    pub route: usize,
    pub namespace: String,
    pub service: String,
    pub port: Option<u16>,
    /// The subset named, with the labels the stack's `destination_rule` gives it (`None` when no
    /// destination_rule of the stack defines it).
    pub subset: Option<Subset>,
    /// The Service node's id.
    pub node: String,
    /// The link VirtualService → Service.
    pub link: String,
}

/// A subset of a destination and where its labels come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subset {
    pub name: String,
    pub destination_rule: Option<Address>,
    pub labels: BTreeMap<String, String>,
}

/// Everything on one host's path, in the order a request meets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPath {
    /// The name clients resolve (the record's name, without a trailing dot).
    pub host: String,
    /// The `dns_record` of the host.
    pub record: Address,
    /// The `route53_zone` the record is in.
    pub zone: Address,
    pub entry: Option<Entry>,
    pub workload: Option<WorkloadHop>,
    pub gateways: Vec<GatewayHop>,
    pub routes: Vec<RouteHop>,
    pub destinations: Vec<DestinationHop>,
    /// The ids of the links on this path, in path order.
    pub links: Vec<String>,
    /// Where the stack itself gives the path no next hop (the record aliases nothing the stack
    /// declares, no Gateway server accepts the host, no VirtualService routes it…): the link
    /// that has nothing after it, and why.
    pub gap: Option<Gap>,
}

/// The place a path ends short of a Service, as the stack is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The check that cannot pass.
    pub check: LinkCheck,
    /// The node the path stops at.
    pub after: String,
    pub message: String,
}

/// The whole picture: every node and link once, and each host's path through them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrafficModel {
    /// In the order first met (client, then host by host along its path).
    pub nodes: Vec<Node>,
    /// In the order first met.
    pub links: Vec<Link>,
    /// One per `dns_record` with an `alias`, in file order.
    pub hosts: Vec<HostPath>,
}

impl TrafficModel {
    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The link with this id.
    pub fn link(&self, id: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.id == id)
    }
}

/// A link's id: `<from>→<to>`.
pub fn link_id(from: &str, to: &str) -> String {
    format!("{from}→{to}")
}

/// The node id of an NLB made for an `ingress_gateway`.
pub fn nlb_node_id(gateway: &Address) -> String {
    format!("nlb:{gateway}")
}

/// The node id of a destination Service.
pub fn service_node_id(namespace: &str, name: &str) -> String {
    format!("service:{namespace}/{name}")
}

/// Derives the traffic model of a loaded stack (pure: from the stack as written; `${…}` left in
/// a value stays as written).
pub fn traffic(stack: &Stack) -> TrafficModel {
    let mut builder = Builder {
        stack,
        model: TrafficModel::default(),
    };
    builder.node(Node {
        id: CLIENT.to_string(),
        band: Band::Client,
        role: Role::Client,
        label: "client".to_string(),
        details: Vec::new(),
        address: None,
    });
    for resource in stack.of_kind(Kind::DnsRecord) {
        let Spec::DnsRecord(record) = &resource.spec else {
            continue;
        };
        let Some(alias) = record.alias.as_deref() else {
            continue;
        };
        let host = record.record.as_str().trim_end_matches('.').to_string();
        let path = builder.host_path(resource, host, &record.zone, alias);
        builder.model.hosts.push(path);
    }
    builder.model
}

struct Builder<'a> {
    stack: &'a Stack,
    model: TrafficModel,
}

impl<'a> Builder<'a> {
    fn node(&mut self, node: Node) {
        if self.model.node(&node.id).is_none() {
            self.model.nodes.push(node);
        }
    }

    /// Adds the link once and returns its id.
    fn link(&mut self, from: &str, to: &str, check: LinkCheck) -> String {
        let id = link_id(from, to);
        if self.model.link(&id).is_none() {
            self.model.links.push(Link {
                id: id.clone(),
                from: from.to_string(),
                to: to.to_string(),
                check,
            });
        }
        id
    }

    fn resource(&self, kind: Kind, name: &str) -> Option<&'a Resource> {
        self.stack.get(&Address::new(kind, name))
    }

    fn host_path(&mut self, record: &Resource, host: String, zone: &str, alias: &str) -> HostPath {
        let record_id = record.address.to_string();
        self.node(Node {
            id: record_id.clone(),
            band: Band::Dns,
            role: Role::Record,
            label: host.clone(),
            details: vec![record.address.to_string()],
            address: Some(record.address.clone()),
        });
        let mut path = HostPath {
            host: host.clone(),
            record: record.address.clone(),
            zone: Address::new(Kind::Route53Zone, zone),
            entry: None,
            workload: None,
            gateways: Vec::new(),
            routes: Vec::new(),
            destinations: Vec::new(),
            links: vec![self.link(CLIENT, &record_id, LinkCheck::Resolves)],
            gap: None,
        };
        let balancer = Address::parse(alias)
            .and_then(|a| self.stack.get(&a))
            .and_then(|r| match &r.spec {
                Spec::Alb(alb) => Some(self.alb_entry(r, alb)),
                Spec::IngressGateway(gw) if gw.nlb.is_some() => Some(self.nlb_entry(r, gw)),
                _ => None,
            });
        let Some((entry, workload_name)) = balancer else {
            path.gap = Some(Gap {
                check: LinkCheck::Aliases,
                after: record_id,
                message: format!(
                    "`alias: {alias}` names no alb or NLB ingress_gateway of the stack"
                ),
            });
            return path;
        };
        path.links
            .push(self.link(&record_id, &entry.balancer_node, LinkCheck::Aliases));
        let balancer_node = entry.balancer_node.clone();
        let service_port = entry.service_port;
        path.entry = Some(entry);
        let Some((workload_resource, workload)) = self
            .resource(Kind::IngressGateway, &workload_name)
            .and_then(|r| match &r.spec {
                Spec::IngressGateway(gw) => Some((r, gw)),
                _ => None,
            })
        else {
            path.gap = Some(Gap {
                check: LinkCheck::Forwards,
                after: balancer_node,
                message: format!("ingress_gateway.{workload_name} is not in the stack"),
            });
            return path;
        };
        let workload_id = workload_resource.address.to_string();
        self.node(workload_node(workload_resource, workload));
        path.links
            .push(self.link(&balancer_node, &workload_id, LinkCheck::Forwards));
        path.workload = Some(WorkloadHop {
            address: workload_resource.address.clone(),
            namespace: workload.namespace.as_str().to_string(),
            service: workload_resource.address.name.clone(),
            labels: workload.labels.0.clone(),
            service_type: format!("{:?}", workload.service_type()),
            status_node_port: workload
                .status_port()
                .and_then(|p| p.node_port)
                .map(|p| p.0),
        });
        self.gateways_of(&mut path, workload_resource, workload, service_port);
        if path.gateways.is_empty() {
            path.gap = Some(Gap {
                check: LinkCheck::Serves,
                after: workload_id,
                message: format!(
                    "no gateway of the stack selects {} with a server for `{host}` on port {service_port}",
                    workload_resource.address
                ),
            });
            return path;
        }
        self.routes_of(&mut path);
        if path.routes.is_empty() {
            let gateways: Vec<String> = path
                .gateways
                .iter()
                .map(|g| g.address.to_string())
                .collect();
            path.gap = Some(Gap {
                check: LinkCheck::Routes,
                after: gateways.join(", "),
                message: format!(
                    "no virtual_service of the stack bound to {} routes `{host}`",
                    gateways.join(" or ")
                ),
            });
            return path;
        }
        self.destinations_of(&mut path);
        path
    }

    /// An ALB's entry and the workload it forwards to.
    fn alb_entry(&mut self, resource: &Resource, alb: &Alb) -> (Entry, String) {
        let listeners = alb.listeners();
        let https = listeners
            .iter()
            .find(|l| l.protocol == ListenProtocol::HTTPS);
        let (port, certificate) = match https {
            Some(l) => (
                l.port.0,
                alb.certificate
                    .as_deref()
                    .map(|c| Address::new(Kind::AcmCertificate, c)),
            ),
            None => (listeners.first().map_or(80, |l| l.port.0), None),
        };
        let id = resource.address.to_string();
        let listed: Vec<String> = listeners
            .iter()
            .map(|l| format!("{:?} {}", l.protocol, l.port.0))
            .collect();
        self.node(Node {
            id: id.clone(),
            band: Band::Aws,
            role: Role::Alb,
            label: id.clone(),
            details: vec![
                format!("ALB, {}", scheme_name(alb.scheme)),
                listed.join(", "),
                format!("{} targets", target_name(alb.target_type)),
            ],
            address: Some(resource.address.clone()),
        });
        let entry = Entry {
            balancer: resource.address.clone(),
            balancer_node: id,
            role: Role::Alb,
            port,
            certificate,
            service_port: alb.backend.effective_port(),
            target_type: alb.target_type,
            health_check_port: alb.health_check.port.map(|p| p.0),
        };
        (entry, alb.gateway.clone())
    }

    /// An NLB's entry: the client's port is the first TLS port, else 80 when the Service has it,
    /// else its first port other than the status port; the NLB forwards it to the same Service
    /// port.
    fn nlb_entry(&mut self, resource: &Resource, gateway: &IngressGateway) -> (Entry, String) {
        let nlb = gateway.nlb.as_ref();
        let ports = &gateway.service.ports;
        let tls_port = nlb.and_then(|n| n.tls_ports.first()).map(|p| p.0);
        let port = tls_port
            .or_else(|| ports.iter().find(|p| p.port.0 == 80).map(|p| p.port.0))
            .or_else(|| {
                ports
                    .iter()
                    .find(|p| p.name != STATUS_PORT_NAME)
                    .map(|p| p.port.0)
            })
            .unwrap_or(80);
        let id = nlb_node_id(&resource.address);
        let scheme = nlb.map(|n| n.scheme).unwrap_or_default();
        let target_type = nlb.map_or(TargetType::Ip, |n| n.target_type);
        self.node(Node {
            id: id.clone(),
            band: Band::Aws,
            role: Role::Nlb,
            label: nlb
                .and_then(|n| n.name.clone())
                .unwrap_or_else(|| format!("NLB of {}", resource.address)),
            details: vec![
                format!("NLB, {}", scheme_name(scheme)),
                ports
                    .iter()
                    .map(|p| {
                        let tls = nlb.is_some_and(|n| n.tls_ports.contains(&p.port));
                        format!("{} {}", if tls { "TLS" } else { "TCP" }, p.port.0)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                format!("{} targets", target_name(target_type)),
            ],
            address: Some(resource.address.clone()),
        });
        let entry = Entry {
            balancer: resource.address.clone(),
            balancer_node: id,
            role: Role::Nlb,
            port,
            certificate: tls_port
                .and(nlb.and_then(|n| n.certificate.as_deref()))
                .map(|c| Address::new(Kind::AcmCertificate, c)),
            service_port: port,
            target_type,
            health_check_port: nlb.and_then(|n| n.health_check.port).map(|p| p.0),
        };
        (entry, resource.address.name.clone())
    }

    /// The stack's Gateways selecting the workload with a server for the host on `port`.
    fn gateways_of(
        &mut self,
        path: &mut HostPath,
        workload_resource: &Resource,
        workload: &IngressGateway,
        port: u16,
    ) {
        let workload_id = workload_resource.address.to_string();
        for resource in self.stack.of_kind(Kind::Gateway) {
            let Spec::Gateway(gateway) = &resource.spec else {
                continue;
            };
            let Some(selector) = selector_labels(self.stack, gateway) else {
                continue;
            };
            let selects = selector
                .iter()
                .all(|(k, v)| workload.labels.0.get(k) == Some(v));
            if !selects {
                continue;
            }
            let server = gateway.servers.iter().position(|s| {
                s.port.number.0 == port
                    && s.hosts
                        .iter()
                        .any(|h| istio_host_matches(h.as_str(), &path.host))
            });
            let Some(server_index) = server else {
                continue;
            };
            let server = &gateway.servers[server_index];
            let terminates = matches!(
                server.port.protocol,
                ServerProtocol::HTTPS | ServerProtocol::TLS
            );
            let tls_credential = server
                .tls
                .as_ref()
                .and_then(|t| t.credential.as_deref())
                .filter(|_| terminates)
                .map(|name| self.credential(name));
            let id = resource.address.to_string();
            let namespace = gateway
                .namespace
                .as_ref()
                .map_or(workload.namespace.as_str(), |n| n.as_str())
                .to_string();
            self.node(Node {
                id: id.clone(),
                band: Band::Cluster,
                role: Role::Gateway,
                label: id.clone(),
                details: gateway
                    .servers
                    .iter()
                    .map(|s| format!("{:?} {}", s.port.protocol, s.port.number.0))
                    .collect(),
                address: Some(resource.address.clone()),
            });
            let link = self.link(&workload_id, &id, LinkCheck::Serves);
            path.links.push(link.clone());
            path.gateways.push(GatewayHop {
                address: resource.address.clone(),
                namespace,
                link,
                selector,
                server: server_index,
                port,
                tls_credential,
            });
        }
    }

    /// A `credential:` names a `certificate`; its Secret is `secret_name`, else the name.
    fn credential(&self, name: &str) -> TlsCredential {
        match self.resource(Kind::Certificate, name).map(|r| (r, &r.spec)) {
            Some((r, Spec::Certificate(c))) => TlsCredential {
                certificate: Some(r.address.clone()),
                secret: c
                    .secret_name
                    .as_ref()
                    .map_or(name.to_string(), |s| s.to_string()),
            },
            _ => TlsCredential {
                certificate: None,
                secret: name.to_string(),
            },
        }
    }

    /// The stack's VirtualServices bound to a Gateway of the path that route the host.
    fn routes_of(&mut self, path: &mut HostPath) {
        let gateways: Vec<(Address, String)> = path
            .gateways
            .iter()
            .map(|g| (g.address.clone(), g.address.to_string()))
            .collect();
        for resource in self.stack.of_kind(Kind::VirtualService) {
            let Spec::VirtualService(vs) = &resource.spec else {
                continue;
            };
            if !vs
                .hosts
                .iter()
                .any(|h| istio_host_matches(h.as_str(), &path.host))
            {
                continue;
            }
            for (gateway, gateway_id) in &gateways {
                if !vs.gateways.iter().any(|g| g == &gateway.name) {
                    continue;
                }
                let id = resource.address.to_string();
                self.node(Node {
                    id: id.clone(),
                    band: Band::Cluster,
                    role: Role::VirtualService,
                    label: id.clone(),
                    details: vec![format!("namespace {}", vs.namespace)],
                    address: Some(resource.address.clone()),
                });
                let link = self.link(gateway_id, &id, LinkCheck::Routes);
                path.links.push(link.clone());
                path.routes.push(RouteHop {
                    address: resource.address.clone(),
                    namespace: vs.namespace.as_str().to_string(),
                    gateway: gateway.clone(),
                    link,
                });
            }
        }
    }

    /// Every destination of the path's VirtualServices (each VirtualService once).
    fn destinations_of(&mut self, path: &mut HostPath) {
        let mut seen = Vec::new();
        for route in path.routes.clone() {
            if seen.contains(&route.address) {
                continue;
            }
            seen.push(route.address.clone());
            let Some(Spec::VirtualService(vs)) = self.stack.get(&route.address).map(|r| &r.spec)
            else {
                continue;
            };
            self.destinations_of_vs(path, &route.address, vs);
        }
    }

    fn destinations_of_vs(&mut self, path: &mut HostPath, address: &Address, vs: &VirtualService) {
        let vs_id = address.to_string();
        for (h, http) in vs.http.iter().enumerate() {
            for (d, destination) in http.route.iter().enumerate() {
                let destination = &destination.destination;
                let (name, namespace) = service_of(&destination.host, vs.namespace.as_str());
                let node = service_node_id(&namespace, &name);
                self.node(Node {
                    id: node.clone(),
                    band: Band::Cluster,
                    role: Role::Service,
                    label: format!("{name}.{namespace}"),
                    details: destination
                        .port
                        .map(|p| vec![format!("port {}", p.0)])
                        .unwrap_or_default(),
                    address: None,
                });
                let link = self.link(&vs_id, &node, LinkCheck::Reaches);
                if !path.links.contains(&link) {
                    path.links.push(link.clone());
                }
                let subset = destination
                    .subset
                    .as_ref()
                    .map(|s| self.subset(&name, &namespace, s));
                path.destinations.push(DestinationHop {
                    virtual_service: address.clone(),
                    http: h,
                    route: d,
                    namespace,
                    service: name,
                    port: destination.port.map(|p| p.0),
                    subset,
                    node,
                    link,
                });
            }
        }
    }

    /// The labels of a subset, from the stack's destination_rule for the same Service.
    fn subset(&self, service: &str, namespace: &str, name: &str) -> Subset {
        for resource in self.stack.of_kind(Kind::DestinationRule) {
            let Spec::DestinationRule(rule) = &resource.spec else {
                continue;
            };
            if service_of(&rule.host, rule.namespace.as_str())
                != (service.to_string(), namespace.to_string())
            {
                continue;
            }
            if let Some(s) = rule.subsets.iter().find(|s| s.name == name) {
                return Subset {
                    name: name.to_string(),
                    destination_rule: Some(resource.address.clone()),
                    labels: s.labels.0.clone(),
                };
            }
        }
        Subset {
            name: name.to_string(),
            destination_rule: None,
            labels: BTreeMap::new(),
        }
    }
}

fn workload_node(resource: &Resource, workload: &IngressGateway) -> Node {
    let service_type = workload.service_type();
    let mut details = vec![format!(
        "{} Service, namespace {}",
        match service_type {
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ClusterIP => "ClusterIP",
        },
        workload.namespace
    )];
    let node_ports: Vec<String> = workload
        .service
        .ports
        .iter()
        .filter_map(|p| p.node_port.map(|n| format!("{} → {}", p.port.0, n.0)))
        .collect();
    if !node_ports.is_empty() {
        details.push(format!("nodePorts {}", node_ports.join(", ")));
    }
    Node {
        id: resource.address.to_string(),
        band: Band::Cluster,
        role: Role::Workload,
        label: resource.address.to_string(),
        details,
        address: Some(resource.address.clone()),
    }
}

fn scheme_name(scheme: meshctl_model::kinds::cluster::Scheme) -> &'static str {
    match scheme {
        meshctl_model::kinds::cluster::Scheme::InternetFacing => "internet-facing",
        meshctl_model::kinds::cluster::Scheme::Internal => "internal",
    }
}

fn target_name(target: TargetType) -> &'static str {
    match target {
        TargetType::Instance => "instance",
        TargetType::Ip => "ip",
    }
}

/// The pod labels a Gateway selects: its own, or those of the `ingress_gateway` it names.
pub fn selector_labels(stack: &Stack, gateway: &Gateway) -> Option<BTreeMap<String, String>> {
    match &gateway.selector {
        GatewaySelector::Labels(labels) => Some(labels.0.clone()),
        GatewaySelector::Workload(name) => {
            match stack
                .get(&Address::new(Kind::IngressGateway, name.as_str()))
                .map(|r| &r.spec)
            {
                Some(Spec::IngressGateway(workload)) => Some(workload.labels.0.clone()),
                _ => None,
            }
        }
    }
}

/// Whether an Istio host (`*`, `*.example.com`, `example.com`, optionally `namespace/` in front)
/// matches a request host. A wildcard matches any number of labels in front, as Istio's does.
pub fn istio_host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.rsplit('/').next().unwrap_or(pattern);
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if pattern == "*" || pattern == host {
        return true;
    }
    match pattern.strip_prefix('*') {
        Some(suffix) if suffix.starts_with('.') => {
            host.ends_with(suffix) && host.len() > suffix.len()
        }
        _ => false,
    }
}

/// A destination host as (Service name, namespace): a short name is in the namespace of the
/// route naming it, as Istio resolves it; `name.ns` and `name.ns.svc.cluster.local` name the
/// same Service.
pub fn service_of(host: &str, namespace: &str) -> (String, String) {
    let mut labels = host.split('.');
    let name = labels.next().unwrap_or(host).to_string();
    let ns = labels.next().unwrap_or(namespace).to_string();
    (name, ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: &str) -> Stack {
        let file = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let source = meshctl_model::SourceFile::new(file, text);
        let loaded = meshctl_model::load(&source, &meshctl_model::VarOverrides::default());
        loaded
            .stack
            .unwrap_or_else(|| panic!("{path} does not load"))
    }

    #[test]
    fn seed_001_paths_go_through_the_alb_and_the_https_server() {
        let model = traffic(&load("stacks/seed-001-https.yaml"));
        let hosts: Vec<&str> = model.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(hosts, ["moamoa-news.com", "www.moamoa-news.com"]);
        let www = &model.hosts[1];
        assert_eq!(www.gap, None);
        assert_eq!(
            www.links,
            [
                "client→dns_record.www",
                "dns_record.www→alb.public",
                "alb.public→ingress_gateway.istio-ingressgateway",
                "ingress_gateway.istio-ingressgateway→gateway.monitor-gateway",
                "gateway.monitor-gateway→virtual_service.gateway-server",
                "virtual_service.gateway-server→service:default/gatewayserver-service",
            ]
        );
        let entry = www.entry.as_ref().unwrap();
        assert_eq!((entry.port, entry.service_port), (443, 443));
        assert_eq!(
            entry.certificate,
            Some(Address::new(Kind::AcmCertificate, "wildcard"))
        );
        let gateway = &www.gateways[0];
        assert_eq!(gateway.server, 1);
        assert_eq!(
            gateway.tls_credential.as_ref().map(|c| c.secret.as_str()),
            Some("moamoa-cert")
        );
        assert_eq!(www.destinations[0].port, Some(8072));
        // Both hosts share every link after their records: two client links, two aliases, four
        // shared.
        assert_eq!(model.links.len(), 8);
    }

    #[test]
    fn seed_004_paths_take_each_balancer_to_its_own_gateway() {
        let model = traffic(&load("stacks/seed-004-multi-gateway.yaml"));
        let by_host = |host: &str| model.hosts.iter().find(|h| h.host == host).unwrap();
        let api = by_host("api.example.com");
        let entry = api.entry.as_ref().unwrap();
        assert_eq!(
            entry.balancer_node,
            "nlb:ingress_gateway.istio-ingressgateway"
        );
        assert_eq!((entry.port, entry.service_port), (443, 443));
        assert_eq!(entry.target_type, TargetType::Ip);
        assert_eq!(api.gateways[0].address.name, "nlb-gateway");
        assert_eq!(api.gateways[0].tls_credential, None);
        assert_eq!(api.destinations[0].node, "service:shop/api");
        let admin = by_host("admin.example.com");
        assert_eq!(admin.entry.as_ref().unwrap().service_port, 80);
        assert_eq!(
            admin.workload.as_ref().unwrap().status_node_port,
            Some(30621)
        );
        assert_eq!(admin.routes[0].address.name, "admin");
        let apex = by_host("example.com");
        assert_eq!(apex.gateways[0].address.name, "external-alb-gateway");
        assert!(model.hosts.iter().all(|h| h.gap.is_none()));
        // Link ids are unique.
        let mut ids: Vec<&str> = model.links.iter().map(|l| l.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), model.links.len());
    }

    #[test]
    fn a_path_without_a_route_ends_in_a_gap_at_the_gateway() {
        let mut stack = load("stacks/seed-004-multi-gateway.yaml");
        stack
            .resources
            .retain(|r| r.address != Address::new(Kind::VirtualService, "admin"));
        let model = traffic(&stack);
        let admin = model
            .hosts
            .iter()
            .find(|h| h.host == "admin.example.com")
            .unwrap();
        let gap = admin.gap.as_ref().unwrap();
        assert_eq!(gap.check, LinkCheck::Routes);
        assert_eq!(gap.after, "gateway.internal-alb-gateway");
    }

    #[test]
    fn istio_hosts_match_as_istio_matches_them() {
        assert!(istio_host_matches("*", "a.example.com"));
        assert!(istio_host_matches("shop/*.example.com", "a.b.example.com"));
        assert!(!istio_host_matches("*.example.com", "example.com"));
        assert!(istio_host_matches("Example.com.", "example.com"));
        assert!(!istio_host_matches("api.example.com", "www.example.com"));
        assert_eq!(
            service_of("api.shop.svc.cluster.local", "default"),
            ("api".to_string(), "shop".to_string())
        );
        assert_eq!(
            service_of("web", "default"),
            ("web".to_string(), "default".to_string())
        );
    }
}
