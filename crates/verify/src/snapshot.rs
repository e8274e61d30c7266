//! What verify read of the live world, as plain data: Route53 records, balancers with their
//! listeners, target groups and target health, ACM certificates, and the Kubernetes objects of
//! the namespaces on the paths. `read` fills it; `check` judges it without IO, so every link check
//! is unit-tested on snapshots written by hand.

use std::collections::BTreeMap;

/// Everything one verify run read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Per `route53_zone` address (`route53_zone.public`): the zone read, or why not.
    pub zones: BTreeMap<String, ZoneRead>,
    /// Every load balancer of the account and region (one paginated list).
    pub balancers: Vec<Balancer>,
    /// Which balancer each balancer node of the traffic model is (node id → DNS name), from
    /// state's recorded outputs or, failing those, the Ingress or Service status in the cluster.
    pub expected_balancers: BTreeMap<String, ExpectedBalancer>,
    /// ACM certificates by ARN (those the listeners on the paths serve).
    pub certificates: BTreeMap<String, AcmCertificate>,
    /// Kubernetes objects by namespace.
    pub namespaces: BTreeMap<String, NamespaceObjects>,
    /// Seconds since the Unix epoch when the snapshot was taken (certificate expiry is judged
    /// against it).
    pub now_unix: i64,
}

/// A zone's records, or why they could not be read.
#[derive(Debug, Clone)]
pub enum ZoneRead {
    Read {
        zone_id: String,
        records: Vec<RecordSet>,
    },
    /// The zone does not exist (or state records no id for it and none was found by name).
    Missing { detail: String },
}

/// One Route53 record set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSet {
    /// Lower case, without the trailing dot.
    pub name: String,
    pub record_type: String,
    /// The alias target's DNS name (lower case, without the trailing dot and `dualstack.`).
    pub alias_dns_name: Option<String>,
}

/// Where state (or the cluster) says a balancer node's balancer is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedBalancer {
    pub arn: Option<String>,
    pub dns_name: Option<String>,
    /// Where the expectation came from, for messages ("state", "Ingress istio-system/public").
    pub source: String,
}

/// One load balancer as ELBv2 describes it, with what hangs off it.
#[derive(Debug, Clone, Default)]
pub struct Balancer {
    pub arn: String,
    pub name: String,
    /// Lower case, without the trailing dot.
    pub dns_name: String,
    /// `active`, `provisioning`, `failed`…
    pub state: String,
    pub listeners: Vec<Listener>,
    pub target_groups: Vec<TargetGroup>,
}

/// A listener, with the target groups its default actions and rules forward to.
#[derive(Debug, Clone, Default)]
pub struct Listener {
    pub arn: String,
    pub port: u16,
    pub protocol: String,
    pub certificate_arns: Vec<String>,
    pub forwards_to: Vec<String>,
}

/// A target group and the health of its targets.
#[derive(Debug, Clone, Default)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub port: Option<u16>,
    /// `instance` or `ip`.
    pub target_type: String,
    /// A port number, or `traffic-port`.
    pub health_check_port: String,
    pub targets: Vec<TargetHealth>,
}

/// One target's health as DescribeTargetHealth says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub id: String,
    pub port: Option<u16>,
    /// `healthy`, `unhealthy`, `initial`, `draining`, `unused`…
    pub state: String,
    pub reason: Option<String>,
}

/// An ACM certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmCertificate {
    pub arn: String,
    /// `ISSUED`, `PENDING_VALIDATION`, `EXPIRED`…
    pub status: String,
    /// Seconds since the epoch; `None` until issued.
    pub not_after_unix: Option<i64>,
    /// Its domain name and subject alternative names.
    pub names: Vec<String>,
}

/// The Kubernetes objects of one namespace that verify reads.
#[derive(Debug, Clone, Default)]
pub struct NamespaceObjects {
    pub services: BTreeMap<String, Service>,
    pub endpoints: BTreeMap<String, Endpoints>,
    pub pods: Vec<Pod>,
    pub deployments: BTreeMap<String, Deployment>,
    pub gateways: BTreeMap<String, IstioGateway>,
    pub virtual_services: BTreeMap<String, IstioVirtualService>,
    pub secrets: BTreeMap<String, TlsSecret>,
    /// The hostname the Load Balancer Controller wrote to an Ingress's or Service's status, by
    /// `Ingress/<name>` or `Service/<name>`.
    pub load_balancer_hostnames: BTreeMap<String, String>,
}

/// A Service's ports and selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    pub service_type: String,
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePort {
    pub name: String,
    pub port: u16,
    pub node_port: Option<u16>,
}

/// A Service's Endpoints: how many addresses are ready and not ready.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub ready: usize,
    pub not_ready: usize,
}

/// A pod's labels and readiness (its `Ready` condition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ready: bool,
}

/// A Deployment's replica counts and pod template labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    pub replicas: u32,
    pub ready_replicas: u32,
    pub template_labels: BTreeMap<String, String>,
}

/// An Istio Gateway as the cluster holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IstioGateway {
    pub selector: BTreeMap<String, String>,
    pub servers: Vec<GatewayServer>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayServer {
    pub port: u16,
    pub protocol: String,
    pub hosts: Vec<String>,
    /// `SIMPLE`, `MUTUAL`, `PASSTHROUGH`…, when the server has `tls`.
    pub tls_mode: Option<String>,
    pub credential_name: Option<String>,
}

/// An Istio VirtualService as the cluster holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IstioVirtualService {
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
}

/// A Secret as a TLS credential: its type and its certificate (the first of `tls.crt`, DER).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSecret {
    pub secret_type: String,
    pub certificate_der: Option<Vec<u8>>,
    pub has_key: bool,
}

impl Snapshot {
    /// The balancer with this ARN or DNS name.
    pub fn balancer(&self, expected: &ExpectedBalancer) -> Option<&Balancer> {
        self.balancers.iter().find(|b| {
            expected.arn.as_deref() == Some(b.arn.as_str())
                || expected
                    .dns_name
                    .as_deref()
                    .is_some_and(|d| normalize_dns(d) == b.dns_name)
        })
    }

    pub fn balancer_by_dns(&self, dns_name: &str) -> Option<&Balancer> {
        let wanted = normalize_dns(dns_name);
        self.balancers.iter().find(|b| b.dns_name == wanted)
    }

    pub fn namespace(&self, namespace: &str) -> Option<&NamespaceObjects> {
        self.namespaces.get(namespace)
    }
}

/// A DNS name as compared: lower case, no trailing dot, no `dualstack.` (Route53 alias targets
/// for ELB carry it).
pub fn normalize_dns(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.strip_prefix("dualstack.").unwrap_or(&name).to_string()
}
