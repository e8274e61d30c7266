//! Istio kinds: Gateways, VirtualServices and the traffic and security policies of seed 003.

use super::{
    field, Kind, KindSpec, Layer, Namespaces, References, ReplaceOrder, Schema, NAMED_OBJECTS,
};
use crate::path::FieldPath;
use crate::validate::LocalChecks;
use crate::values::{
    Cidr, DomainName, Duration, IstioHost, Labels, NamespaceName, Percent, Port, Re2Regex, Url,
};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

fn default_namespace() -> NamespaceName {
    NamespaceName("default".to_string())
}

/// Which gateway workload a Gateway binds to: an `ingress_gateway` by name, or its pod labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum GatewaySelector {
    Workload(String),
    Labels(Labels),
}

impl<'de> Deserialize<'de> for GatewaySelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SelectorVisitor;
        impl<'de> Visitor<'de> for SelectorVisitor {
            type Value = GatewaySelector;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an ingress_gateway name or a mapping of labels")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(GatewaySelector::Workload(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Labels::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(GatewaySelector::Labels)
            }
        }
        deserializer.deserialize_any(SelectorVisitor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerProtocol {
    HTTP,
    HTTPS,
    HTTP2,
    GRPC,
    TCP,
    TLS,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerPort {
    pub number: Port,
    pub name: String,
    pub protocol: ServerProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerTlsMode {
    Simple,
    Mutual,
    Passthrough,
    IstioMutual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    #[serde(default)]
    pub https_redirect: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ServerTlsMode>,
    /// A `certificate` whose Secret the gateway serves (Istio's credentialName).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub port: ServerPort,
    pub hosts: Vec<IstioHost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Defaults to the namespace of the selected ingress_gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceName>,
    pub selector: GatewaySelector,
    pub servers: Vec<Server>,
}

impl KindSpec for Gateway {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["name"],
        force_new: &["namespace"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 10,
        rate_limit: None,
        // The Istio Gateway is the listener of its hosts on the ingress gateway.
        public_names: &[],
        interrupts: super::Interrupts::ALWAYS,
    };

    fn references(&self, refs: &mut References) {
        if let GatewaySelector::Workload(name) = &self.selector {
            refs.one(field("selector"), &[Kind::IngressGateway], name);
        }
        for (i, server) in self.servers.iter().enumerate() {
            let credential = server.tls.as_ref().and_then(|t| t.credential.as_deref());
            refs.maybe(
                field("servers").index(i).key("tls").key("credential"),
                &[Kind::Certificate],
                credential,
            );
        }
    }

    fn check(&self, cx: &mut LocalChecks) {
        if self.servers.is_empty() {
            cx.error(
                "bad-value",
                field("servers"),
                "a Gateway needs at least one server",
                "add a server with a port and hosts",
            );
        }
        // Hashed: a list of 100,000 servers must not take 10^10 comparisons.
        let mut port_names = std::collections::HashSet::new();
        for (i, server) in self.servers.iter().enumerate() {
            let at = field("servers").index(i);
            if !port_names.insert(server.port.name.as_str()) {
                cx.error(
                    "duplicate-port",
                    at.key("port").key("name"),
                    format!("server port name `{}` is used twice", server.port.name),
                    "give every server port a distinct name",
                );
            }
            if server.hosts.is_empty() {
                cx.error(
                    "bad-value",
                    at.key("hosts"),
                    "a server needs at least one host",
                    "list the hosts it serves, or \"*\"",
                );
            }
            let tls = server.tls.as_ref();
            let terminates = matches!(
                server.port.protocol,
                ServerProtocol::HTTPS | ServerProtocol::TLS
            );
            if terminates && tls.and_then(|t| t.mode).is_none() {
                cx.error(
                    "missing-field",
                    at.key("tls"),
                    format!("a {:?} server needs `tls.mode`", server.port.protocol),
                    "set `tls: { mode: SIMPLE, credential: <certificate> }`",
                );
            }
            if let Some(tls) = tls {
                if tls.https_redirect && terminates {
                    cx.error(
                        "conflicting-fields",
                        at.key("tls").key("https_redirect"),
                        "https_redirect belongs on a plain HTTP server",
                        "move `https_redirect: true` to the port 80 server",
                    );
                }
                if matches!(
                    tls.mode,
                    Some(ServerTlsMode::Simple | ServerTlsMode::Mutual)
                ) && tls.credential.is_none()
                {
                    cx.error(
                        "missing-field",
                        at.key("tls"),
                        "SIMPLE and MUTUAL TLS need a credential",
                        "add `credential: <certificate name>`",
                    );
                }
            }
        }
    }

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        Some(Kind::Istio)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        match &self.namespace {
            Some(namespace) => Namespaces::One(namespace.as_str()),
            None => Namespaces::NoNamespace,
        }
    }
}

/// One string match; exactly one of the three is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<Re2Regex>,
}

fn check_string_match(cx: &mut LocalChecks, at: FieldPath, m: &StringMatch) {
    let set = usize::from(m.exact.is_some())
        + usize::from(m.prefix.is_some())
        + usize::from(m.regex.is_some());
    if set != 1 {
        cx.error(
            "bad-match",
            at,
            "a match takes exactly one of exact, prefix or regex",
            "keep one of them; use separate match entries to OR several",
        );
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDestination {
    pub destination: Destination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_code: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Envoy retry conditions, e.g. `5xx,connect-failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultDelay {
    pub percentage: Percent,
    pub fixed_delay: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultAbort {
    pub percentage: Percent,
    pub http_status: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbort>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRoute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Destination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percent>,
}

/// The reserved gateway name that applies a VirtualService to sidecars instead of a Gateway.
pub const MESH_GATEWAY: &str = "mesh";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualService {
    #[serde(default = "default_namespace")]
    pub namespace: NamespaceName,
    pub hosts: Vec<IstioHost>,
    /// `gateway` resources of this stack, or `mesh` for sidecars.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    pub http: Vec<HttpRoute>,
    /// DNS zones this stack does not manage (another stack's, account's or DNS provider's) that
    /// hold some of `hosts`: hosts within them need no `route53_zone` here. Validation only;
    /// nothing of it reaches the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_zones: Vec<DomainName>,
}

impl KindSpec for VirtualService {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["name"],
        force_new: &["namespace"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 10,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::NEVER,
    };

    fn references(&self, refs: &mut References) {
        for (i, gateway) in self.gateways.iter().enumerate() {
            if gateway != MESH_GATEWAY {
                refs.one(field("gateways").index(i), &[Kind::Gateway], gateway);
            }
        }
    }

    fn check(&self, cx: &mut LocalChecks) {
        if self.hosts.is_empty() {
            cx.error(
                "bad-value",
                field("hosts"),
                "a VirtualService needs at least one host",
                "list the hosts it routes",
            );
        }
        if self.http.is_empty() {
            cx.error(
                "bad-value",
                field("http"),
                "a VirtualService needs at least one http route",
                "add a route",
            );
        }
        for (i, route) in self.http.iter().enumerate() {
            let at = field("http").index(i);
            for (j, m) in route.matches.iter().enumerate() {
                let mat = at.key("match").index(j);
                for (name, sm) in [
                    ("uri", &m.uri),
                    ("method", &m.method),
                    ("authority", &m.authority),
                ] {
                    if let Some(sm) = sm {
                        check_string_match(cx, mat.key(name), sm);
                    }
                }
                for (header, sm) in &m.headers {
                    check_string_match(cx, mat.key("headers").key(header), sm);
                }
            }
            match (route.route.is_empty(), route.redirect.is_some()) {
                (true, false) => cx.error(
                    "missing-field",
                    at.clone(),
                    "a route needs `route` destinations or a `redirect`",
                    "add `route: [{destination: {host: ...}}]`",
                ),
                (false, true) => cx.error(
                    "conflicting-fields",
                    at.key("redirect"),
                    "a route cannot both redirect and route",
                    "keep `route` or `redirect`",
                ),
                _ => {}
            }
            let weighted = route.route.iter().filter(|d| d.weight.is_some()).count();
            if route.route.len() > 1 || weighted > 0 {
                let total: u64 = route
                    .route
                    .iter()
                    .map(|d| u64::from(d.weight.unwrap_or(0)))
                    .sum();
                let unweighted: Vec<String> = route
                    .route
                    .iter()
                    .filter(|d| d.weight.is_none())
                    .map(|d| match &d.destination.subset {
                        Some(subset) => format!("`{}` (subset `{subset}`)", d.destination.host),
                        None => format!("`{}`", d.destination.host),
                    })
                    .collect();
                if !unweighted.is_empty() {
                    let verb = if unweighted.len() == 1 { "has" } else { "have" };
                    let others = if weighted > 0 {
                        format!(" (the weights given sum to {total})")
                    } else {
                        String::new()
                    };
                    cx.error(
                        "bad-weights",
                        at.key("route"),
                        format!(
                            "every destination of a split route needs a weight: {} {verb} none{others}",
                            unweighted.join(", ")
                        ),
                        "give every destination a weight, and make them add up to 100",
                    );
                } else if total != 100 {
                    let detail = route
                        .route
                        .iter()
                        .map(|d| d.weight.unwrap_or(0).to_string())
                        .collect::<Vec<_>>()
                        .join(" + ");
                    cx.error(
                        "bad-weights",
                        at.key("route"),
                        format!("route weights must sum to 100, got {detail} = {total}"),
                        "give every destination a weight, and make them add up to 100",
                    );
                }
            }
            if let Some(abort) = route.fault.as_ref().and_then(|f| f.abort.as_ref()) {
                if !(400..=599).contains(&abort.http_status) {
                    cx.error(
                        "bad-value",
                        at.key("fault").key("abort").key("http_status"),
                        format!("{} is not an HTTP error status", abort.http_status),
                        "use an error status from 400 to 599, e.g. 503",
                    );
                }
            }
            if let Some(redirect) = &route.redirect {
                if let Some(code) = redirect.redirect_code {
                    if !(300..=399).contains(&code) {
                        cx.error(
                            "bad-value",
                            at.key("redirect").key("redirect_code"),
                            format!("{code} is not a redirect status"),
                            "use 301, 302, 307 or 308",
                        );
                    }
                }
            }
            if route.mirror_percentage.is_some() && route.mirror.is_none() {
                cx.error(
                    "conflicting-fields",
                    at.key("mirror_percentage"),
                    "mirror_percentage without a mirror",
                    "add `mirror: {host: ...}`, or remove mirror_percentage",
                );
            }
        }
    }

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        Some(Kind::Istio)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::One(self.namespace.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoadBalancerAlgorithm {
    RoundRobin,
    LeastRequest,
    Random,
    Passthrough,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerSettings {
    pub simple: LoadBalancerAlgorithm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http1_max_pending_requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2_max_requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpPool>,
}

/// Circuit breaking: eject hosts that keep failing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierDetection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx_errors: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<Percent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsMode {
    Disable,
    Simple,
    Mutual,
    IstioMutual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    pub mode: ClientTlsMode,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subset {
    pub name: String,
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationRule {
    #[serde(default = "default_namespace")]
    pub namespace: NamespaceName,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
}

impl KindSpec for DestinationRule {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["name"],
        force_new: &["namespace"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 10,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::NEVER,
    };

    fn check(&self, cx: &mut LocalChecks) {
        // Hashed: a list of 100,000 subsets must not take 10^10 comparisons.
        let mut names = std::collections::HashSet::new();
        for (i, subset) in self.subsets.iter().enumerate() {
            if !names.insert(subset.name.as_str()) {
                cx.error(
                    "duplicate-subset",
                    field("subsets").index(i).key("name"),
                    format!("subset `{}` is defined twice", subset.name),
                    "give every subset a distinct name",
                );
            }
        }
    }

    fn references(&self, _refs: &mut References) {}

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        Some(Kind::Istio)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::One(self.namespace.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    Strict,
    Permissive,
    Disable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mtls {
    pub mode: MtlsMode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerAuthentication {
    pub namespace: NamespaceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Labels>,
    pub mtls: Mtls,
}

impl KindSpec for PeerAuthentication {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["name"],
        force_new: &["namespace"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 10,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::NEVER,
    };

    fn references(&self, _refs: &mut References) {}

    fn check(&self, _cx: &mut LocalChecks) {}

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        Some(Kind::Istio)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::One(self.namespace.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtRule {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<Url>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub forward_original_token: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestAuthentication {
    pub namespace: NamespaceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Labels>,
    pub jwt_rules: Vec<JwtRule>,
}

impl KindSpec for RequestAuthentication {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["name"],
        force_new: &["namespace"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 10,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::NEVER,
    };

    fn check(&self, cx: &mut LocalChecks) {
        if self.jwt_rules.is_empty() {
            cx.error(
                "bad-value",
                field("jwt_rules"),
                "no JWT rule given",
                "add a rule with `issuer` and `jwks_uri`",
            );
        }
    }

    fn references(&self, _refs: &mut References) {}

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        Some(Kind::Istio)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::One(self.namespace.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationAction {
    #[default]
    Allow,
    Deny,
    Audit,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_principals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<Cidr>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFrom {
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTo {
    pub operation: Operation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub key: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<RuleFrom>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<RuleTo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationPolicy {
    pub namespace: NamespaceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Labels>,
    #[serde(default)]
    pub action: AuthorizationAction,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
}

impl KindSpec for AuthorizationPolicy {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["name"],
        force_new: &["namespace"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 10,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::NEVER,
    };

    fn check(&self, cx: &mut LocalChecks) {
        for (i, rule) in self.rules.iter().enumerate() {
            for (j, condition) in rule.when.iter().enumerate() {
                if condition.values.is_empty() && condition.not_values.is_empty() {
                    cx.error(
                        "bad-value",
                        field("rules").index(i).key("when").index(j),
                        format!("condition `{}` has no values", condition.key),
                        "add `values` or `not_values`",
                    );
                }
            }
        }
    }

    fn references(&self, _refs: &mut References) {}

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        Some(Kind::Istio)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::One(self.namespace.as_str())
    }
}
