//! Cluster kinds: namespaces, add-ons (LB controller, cert-manager, Istio), gateway workloads,
//! ALBs, cert-manager issuers and certificates, Helm releases and raw manifests.

use super::{
    field, Kind, KindSpec, Layer, Namespaces, References, ReplaceOrder, Schema, NAMED_OBJECTS,
};
use crate::path::FieldPath;
use crate::validate::LocalChecks;
use crate::values::{
    Annotations, Arn, Cidr, DomainPattern, Duration, Email, IstioRevision, K8sName, Labels,
    NamespaceName, NodePort, PinnedVersion, Port, Quantity, Url,
};
use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

fn istio_system() -> NamespaceName {
    NamespaceName("istio-system".to_string())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "annotations_empty")]
    pub annotations: Annotations,
}

fn annotations_empty(a: &Annotations) -> bool {
    a.0.is_empty()
}

impl KindSpec for Namespace {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["name"],
        force_new: &[],
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
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbController {
    pub chart_version: PinnedVersion,
    /// The IRSA role and ServiceAccount the controller runs as (an `iam_service_account` with
    /// `well_known_policy: aws_load_balancer_controller`).
    pub service_account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    #[serde(default = "two")]
    pub replicas: u32,
    /// Extra Helm values, merged over the ones meshctl sets.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub values: serde_json::Value,
}

fn two() -> u32 {
    2
}

impl KindSpec for LbController {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["release"],
        force_new: &[],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        // helm runs with a 10-minute timeout of its own (plus the waits after): its
        // message should arrive before the engine gives up.
        timeout_minutes: 15,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::NEVER,
    };

    fn references(&self, refs: &mut References) {
        refs.one(
            field("service_account"),
            &[Kind::IamServiceAccount],
            &self.service_account,
        );
    }

    fn check(&self, _cx: &mut LocalChecks) {}

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        // The chart installs into kube-system, where the controller has its ServiceAccount.
        Namespaces::One("kube-system")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertManager {
    pub chart_version: PinnedVersion,
    #[serde(default = "cert_manager_namespace")]
    pub namespace: NamespaceName,
    /// IRSA role for Route53 DNS-01 challenges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(default = "yes")]
    pub install_crds: bool,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub values: serde_json::Value,
}

fn cert_manager_namespace() -> NamespaceName {
    NamespaceName("cert-manager".to_string())
}

impl KindSpec for CertManager {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["release"],
        force_new: &["namespace"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        // helm runs with a 10-minute timeout of its own (plus the waits after): its
        // message should arrive before the engine gives up.
        timeout_minutes: 15,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::NEVER,
    };

    fn references(&self, refs: &mut References) {
        refs.maybe(
            field("service_account"),
            &[Kind::IamServiceAccount],
            self.service_account.as_deref(),
        );
    }

    fn check(&self, _cx: &mut LocalChecks) {}

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        // Its chart is installed with --create-namespace.
        Namespaces::Created(self.namespace.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autoscale {
    #[serde(default = "one")]
    pub min: u32,
    #[serde(default = "five")]
    pub max: u32,
}

fn one() -> u32 {
    1
}

fn five() -> u32 {
    5
}

impl Default for Autoscale {
    fn default() -> Self {
        Autoscale { min: 1, max: 5 }
    }
}

fn check_autoscale(cx: &mut LocalChecks, at: FieldPath, a: &Autoscale) {
    if a.min == 0 || a.min > a.max {
        cx.error(
            "bad-scaling",
            at,
            format!(
                "replicas need 1 <= min <= max, got min {} max {}",
                a.min, a.max
            ),
            "adjust min and max",
        );
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceAmounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceAmounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceAmounts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboundTrafficPolicy {
    #[default]
    AllowAny,
    RegistryOnly,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshConfig {
    #[serde(default)]
    pub outbound_traffic_policy: OutboundTrafficPolicy,
    /// e.g. /dev/stdout
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_file: Option<String>,
    #[serde(default)]
    pub enable_tracing: bool,
    #[serde(default)]
    pub hold_application_until_proxy_starts: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressGateway {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub replicas: Autoscale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IstioProfile {
    #[default]
    Default,
    Minimal,
    Demo,
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Istio {
    /// Exact: the control plane, istioctl and gateways must run one version. Required unless
    /// `existing`; there it is the version the control plane found must run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<PinnedVersion>,
    /// The control plane revision (`istiod-<revision>`); a second control plane on a cluster
    /// needs its own. Absent: Istio's default revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<IstioRevision>,
    /// Use the control plane of this `namespace` and `revision` that is already on the cluster
    /// (installed by another stack, or by hand): looked up, never installed or uninstalled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub existing: bool,
    #[serde(default)]
    pub profile: IstioProfile,
    #[serde(default = "istio_system")]
    pub namespace: NamespaceName,
    #[serde(default)]
    pub pilot: Autoscale,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_gateway: Option<EgressGateway>,
    #[serde(default)]
    pub mesh_config: MeshConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_resources: Option<Resources>,
}

impl KindSpec for Istio {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["version", "namespace", "revision"],
        force_new: &["namespace", "revision", "existing"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        outputs_changed_by: &[],
        sensitive: &[],
        // istioctl runs with a 10-minute timeout of its own (plus the waits after): its
        // message should arrive before the engine gives up.
        timeout_minutes: 15,
        rate_limit: None,
        public_names: &[],
        interrupts: super::Interrupts::ALWAYS,
    };

    fn looked_up(desired: &serde_json::Value) -> bool {
        desired
            .get("existing")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }

    fn check(&self, cx: &mut LocalChecks) {
        if self.existing {
            self.check_existing(cx);
        } else if self.version.is_none() {
            cx.error(
                "missing-field",
                FieldPath::root(),
                "missing required field `version`",
                "add `version:` to this mapping, or `existing: true` to use the Istio already on the cluster",
            );
        }
        check_autoscale(cx, field("pilot"), &self.pilot);
        if let Some(egress) = &self.egress_gateway {
            check_autoscale(
                cx,
                field("egress_gateway").key("replicas"),
                &egress.replicas,
            );
        }
    }

    fn references(&self, _refs: &mut References) {}

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        // istioctl creates the namespace it installs into.
        Namespaces::Created(self.namespace.as_str())
    }
}

impl Istio {
    /// An existing control plane is only read: fields that configure an install mean nothing.
    fn check_existing(&self, cx: &mut LocalChecks) {
        let installs = [
            ("profile", self.profile != IstioProfile::default()),
            ("pilot", self.pilot != Autoscale::default()),
            ("egress_gateway", self.egress_gateway.is_some()),
            ("mesh_config", self.mesh_config != MeshConfig::default()),
            ("proxy_resources", self.proxy_resources.is_some()),
        ];
        for (name, set) in installs {
            if set {
                cx.error(
                    "conflicting-fields",
                    field(name),
                    format!(
                        "`{name}` configures an install, and an `existing` Istio is only looked up"
                    ),
                    format!(
                        "remove `{name}`, or remove `existing` to install Istio from this stack"
                    ),
                );
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceType {
    NodePort,
    LoadBalancer,
    ClusterIP,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PortProtocol {
    #[default]
    TCP,
    UDP,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    pub name: String,
    pub port: Port,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<Port>,
    /// Pinned nodePort; allocated by Kubernetes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<NodePort>,
    #[serde(default)]
    pub protocol: PortProtocol,
}

/// Name of the port the ALB and NLB health checks use (Istio's readiness endpoint).
pub const STATUS_PORT_NAME: &str = "status-port";

/// The ports every Istio ingress gateway Service has unless the stack says otherwise.
pub fn default_gateway_ports() -> Vec<ServicePort> {
    let port = |name: &str, port: u16, target: u16| ServicePort {
        name: name.to_string(),
        port: Port(port),
        target_port: Some(Port(target)),
        node_port: None,
        protocol: PortProtocol::TCP,
    };
    vec![
        port(STATUS_PORT_NAME, 15021, 15021),
        port("http2", 80, 8080),
        port("https", 443, 8443),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ExternalTrafficPolicy {
    #[default]
    Cluster,
    Local,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayService {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<ServiceType>,
    #[serde(default = "default_gateway_ports")]
    pub ports: Vec<ServicePort>,
    #[serde(default, skip_serializing_if = "annotations_empty")]
    pub annotations: Annotations,
    #[serde(default)]
    pub external_traffic_policy: ExternalTrafficPolicy,
}

impl Default for GatewayService {
    fn default() -> Self {
        GatewayService {
            service_type: None,
            ports: default_gateway_ports(),
            annotations: Annotations::default(),
            external_traffic_policy: ExternalTrafficPolicy::Cluster,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    #[default]
    InternetFacing,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    Instance,
    Ip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum HealthProtocol {
    #[default]
    HTTP,
    HTTPS,
    TCP,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default = "ready_path")]
    pub path: String,
    /// Defaults to the gateway's status port (its nodePort for instance targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    #[serde(default)]
    pub protocol: HealthProtocol,
}

fn ready_path() -> String {
    "/healthz/ready".to_string()
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: ready_path(),
            port: None,
            protocol: HealthProtocol::HTTP,
        }
    }
}

/// A Network Load Balancer made by the AWS Load Balancer Controller for a LoadBalancer Service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NlbSettings {
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default = "ip_targets")]
    pub target_type: TargetType,
    /// The load balancer's AWS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Service ports the NLB terminates TLS on, with `certificate`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_negotiation_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ranges: Vec<Cidr>,
    #[serde(default)]
    pub health_check: HealthCheck,
    #[serde(default)]
    pub cross_zone: bool,
}

fn ip_targets() -> TargetType {
    TargetType::Ip
}

/// The annotation that hands a LoadBalancer Service to the AWS Load Balancer Controller.
pub const LB_TYPE_ANNOTATION: &str = "service.beta.kubernetes.io/aws-load-balancer-type";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressGateway {
    pub istio: String,
    #[serde(default = "istio_system")]
    pub namespace: NamespaceName,
    /// Pod labels; Gateways select the workload by them, so they must be unique per gateway.
    pub labels: Labels,
    #[serde(default)]
    pub replicas: Autoscale,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default)]
    pub service: GatewayService,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nlb: Option<NlbSettings>,
}

impl IngressGateway {
    /// The Service type: LoadBalancer with NLB settings, NodePort otherwise, unless given.
    pub fn service_type(&self) -> ServiceType {
        self.service.service_type.unwrap_or(if self.nlb.is_some() {
            ServiceType::LoadBalancer
        } else {
            ServiceType::NodePort
        })
    }

    pub fn port(&self, name: &str) -> Option<&ServicePort> {
        self.service.ports.iter().find(|p| p.name == name)
    }

    pub fn status_port(&self) -> Option<&ServicePort> {
        self.port(STATUS_PORT_NAME)
    }
}

impl KindSpec for IngressGateway {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &[
            "service_name",
            "node_ports",
            "status_node_port",
            "load_balancer_hostname",
            "canonical_hosted_zone_id",
        ],
        force_new: &["namespace", "istio"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        // Ports given without a nodePort are reassigned when the list changes; another NLB
        // setting can make the controller build a new balancer.
        outputs_changed_by: &[
            ("service", &["node_ports", "status_node_port"]),
            (
                "nlb",
                &["load_balancer_hostname", "canonical_hosted_zone_id"],
            ),
        ],
        sensitive: &[],
        // istioctl installs it with a 10-minute timeout of its own (plus the waits after):
        // its message should arrive before the engine gives up.
        timeout_minutes: 15,
        rate_limit: None,
        public_names: &["load_balancer_hostname"],
        interrupts: super::Interrupts::ALWAYS,
    };

    fn references(&self, refs: &mut References) {
        refs.one(field("istio"), &[Kind::Istio], &self.istio);
        if let Some(nlb) = &self.nlb {
            refs.maybe(
                field("nlb").key("certificate"),
                &[Kind::AcmCertificate],
                nlb.certificate.as_deref(),
            );
        }
    }

    fn check(&self, cx: &mut LocalChecks) {
        check_autoscale(cx, field("replicas"), &self.replicas);
        if self.labels.is_empty() {
            cx.error(
                "bad-value",
                field("labels"),
                "an ingress gateway needs labels for Gateways to select it",
                "add e.g. `labels: { istio: ingressgateway }`",
            );
        }
        let ports = field("service").key("ports");
        // Hashed: a list of 100,000 ports must not take 10^10 comparisons.
        let mut names = std::collections::HashSet::new();
        let mut numbers = std::collections::HashSet::new();
        for (i, port) in self.service.ports.iter().enumerate() {
            if !names.insert(port.name.as_str()) {
                cx.error(
                    "duplicate-port",
                    ports.index(i).key("name"),
                    format!("port name `{}` is used twice", port.name),
                    "give every Service port a distinct name",
                );
            }
            if !numbers.insert(port.port.0) {
                cx.error(
                    "duplicate-port",
                    ports.index(i).key("port"),
                    format!("port {} is used twice", port.port.0),
                    "give every Service port a distinct number",
                );
            }
            if port.node_port.is_some() && self.service_type() == ServiceType::ClusterIP {
                cx.error(
                    "conflicting-fields",
                    ports.index(i).key("node_port"),
                    "a ClusterIP Service has no nodePorts",
                    "remove `node_port`, or use type NodePort",
                );
            }
        }
        let service_type = self.service_type();
        let lb_type = self.service.annotations.get(LB_TYPE_ANNOTATION);
        let annotation_path = field("service").key("annotations").key(LB_TYPE_ANNOTATION);
        match &self.nlb {
            Some(nlb) => {
                if service_type != ServiceType::LoadBalancer {
                    cx.error("conflicting-fields", field("service").key("type"), "NLB settings need a LoadBalancer Service", "remove `service.type` (meshctl uses LoadBalancer with `nlb`), or remove `nlb`");
                }
                if lb_type.is_some_and(|t| t != "external") {
                    cx.error("nlb-not-external", annotation_path, format!("`{LB_TYPE_ANNOTATION}` must be `external` for the AWS Load Balancer Controller to make the NLB"), "remove the annotation: meshctl sets it from `nlb`");
                }
                let tls = field("nlb").key("tls_ports");
                if !nlb.tls_ports.is_empty() && nlb.certificate.is_none() {
                    cx.error(
                        "missing-field",
                        tls.clone(),
                        "TLS ports need a certificate",
                        "add `certificate: <acm_certificate name>` to `nlb`",
                    );
                }
                for (i, tls_port) in nlb.tls_ports.iter().enumerate() {
                    if !self.service.ports.iter().any(|p| p.port == *tls_port) {
                        cx.error(
                            "unknown-port",
                            tls.index(i),
                            format!(
                                "TLS port {} is not a port of the gateway Service",
                                tls_port.0
                            ),
                            "list a port from `service.ports`",
                        );
                    }
                }
            }
            None if service_type == ServiceType::LoadBalancer && lb_type != Some("external") => {
                let at = if lb_type.is_some() {
                    annotation_path
                } else {
                    field("service").key("type")
                };
                cx.error("nlb-not-external", at, "a LoadBalancer gateway Service without the `external` LB type gets a Classic Load Balancer from the in-tree controller", "add `nlb: {...}` settings (meshctl renders the AWS Load Balancer Controller annotations), or set the annotation to \"external\"");
            }
            None => {}
        }
    }

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        // An NLB is made by the Load Balancer Controller from the Service.
        self.nlb.is_some().then_some(Kind::LbController)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        // istioctl creates the namespace it installs into.
        Namespaces::Created(self.namespace.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListenProtocol {
    HTTP,
    HTTPS,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenPort {
    pub protocol: ListenProtocol,
    pub port: Port,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlbBackend {
    #[serde(default)]
    pub protocol: HealthProtocol,
    /// A port of the gateway Service; 443 for HTTPS and 80 for HTTP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    /// The gateway Service; its name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<K8sName>,
}

impl AlbBackend {
    pub fn effective_port(&self) -> u16 {
        self.port.map(|p| p.0).unwrap_or(match self.protocol {
            HealthProtocol::HTTPS => 443,
            _ => 80,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alb {
    /// The ingress_gateway the ALB sends traffic to.
    pub gateway: String,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default = "instance_targets")]
    pub target_type: TargetType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// HTTP 80, plus HTTPS 443 when a certificate is set, unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_ports: Option<Vec<ListenPort>>,
    #[serde(default)]
    pub ssl_redirect: bool,
    #[serde(default)]
    pub backend: AlbBackend,
    #[serde(default)]
    pub health_check: HealthCheck,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waf_acl_arn: Option<Arn>,
    /// IngressGroup name, to share one ALB between Ingresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<K8sName>,
}

fn instance_targets() -> TargetType {
    TargetType::Instance
}

impl Alb {
    pub fn listeners(&self) -> Vec<ListenPort> {
        self.listen_ports.clone().unwrap_or_else(|| {
            let mut ports = vec![ListenPort {
                protocol: ListenProtocol::HTTP,
                port: Port(80),
            }];
            if self.certificate.is_some() {
                ports.push(ListenPort {
                    protocol: ListenProtocol::HTTPS,
                    port: Port(443),
                });
            }
            ports
        })
    }
}

impl KindSpec for Alb {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["dns_name", "arn", "canonical_hosted_zone_id"],
        force_new: &["gateway", "scheme", "group"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        // A replaced gateway keeps its Service's name; the Ingress follows its new nodePorts.
        follows_in_place: &["gateway"],
        outputs_changed_by: &[],
        sensitive: &[],
        timeout_minutes: 15,
        rate_limit: None,
        public_names: &["dns_name"],
        interrupts: super::Interrupts::ALWAYS,
    };

    fn references(&self, refs: &mut References) {
        refs.one(field("gateway"), &[Kind::IngressGateway], &self.gateway);
        refs.maybe(
            field("certificate"),
            &[Kind::AcmCertificate],
            self.certificate.as_deref(),
        );
    }

    fn check(&self, cx: &mut LocalChecks) {
        let listeners = self.listeners();
        let has = |p: ListenProtocol| listeners.iter().any(|l| l.protocol == p);
        if has(ListenProtocol::HTTPS) && self.certificate.is_none() {
            cx.error(
                "missing-field",
                field("listen_ports"),
                "an HTTPS listener needs a certificate",
                "add `certificate: <acm_certificate name>`",
            );
        }
        if self.certificate.is_some() && !has(ListenProtocol::HTTPS) {
            cx.error(
                "conflicting-fields",
                field("certificate"),
                "the certificate is set but no listener is HTTPS",
                "add `{protocol: HTTPS, port: 443}` to `listen_ports`, or remove `certificate`",
            );
        }
        if self.ssl_redirect && !(has(ListenProtocol::HTTP) && has(ListenProtocol::HTTPS)) {
            cx.error(
                "conflicting-fields",
                field("ssl_redirect"),
                "ssl_redirect needs both an HTTP and an HTTPS listener",
                "listen on HTTP 80 and HTTPS 443, or remove `ssl_redirect`",
            );
        }
    }

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        Some(Kind::LbController)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acme {
    #[serde(default = "letsencrypt")]
    pub server: Url,
    pub email: Email,
    /// Secret holding the ACME account key; `<name>-account-key` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_secret: Option<K8sName>,
}

fn letsencrypt() -> Url {
    Url("https://acme-v02.api.letsencrypt.org/directory".to_string())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns01 {
    /// The route53_zone the challenge records are written to.
    pub zone: String,
    /// The IRSA role cert-manager uses for Route53 (never static keys).
    pub service_account: String,
}

/// A cert-manager ClusterIssuer solving ACME DNS-01 challenges in Route53.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    pub acme: Acme,
    pub dns01: Dns01,
}

impl KindSpec for Issuer {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["name"],
        force_new: &[],
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
        refs.one(
            field("dns01").key("zone"),
            &[Kind::Route53Zone],
            &self.dns01.zone,
        );
        refs.one(
            field("dns01").key("service_account"),
            &[Kind::IamServiceAccount],
            &self.dns01.service_account,
        );
    }

    fn check(&self, _cx: &mut LocalChecks) {}

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        Some(Kind::CertManager)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::NoNamespace
    }
}

/// A cert-manager Certificate: a TLS Secret kept issued and renewed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub namespace: NamespaceName,
    /// The Secret written; the resource name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<K8sName>,
    pub issuer: String,
    pub dns_names: Vec<DomainPattern>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before: Option<Duration>,
}

impl KindSpec for Certificate {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["secret_name"],
        force_new: &["namespace", "secret_name"],
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
        refs.one(field("issuer"), &[Kind::Issuer], &self.issuer);
    }

    fn check(&self, cx: &mut LocalChecks) {
        if self.dns_names.is_empty() {
            cx.error(
                "bad-value",
                field("dns_names"),
                "a certificate needs at least one DNS name",
                "list the hosts it serves, e.g. [\"*.example.com\", example.com]",
            );
        }
        let seconds = |d: &Option<Duration>| {
            d.as_ref()
                .and_then(|d| crate::values::duration_seconds(d.as_str()))
        };
        if let (Some(total), Some(renew)) = (seconds(&self.duration), seconds(&self.renew_before)) {
            if renew >= total {
                cx.error(
                    "bad-value",
                    field("renew_before"),
                    "renew_before must be shorter than duration",
                    "renew some time before expiry, e.g. duration 2160h, renew_before 360h",
                );
            }
        }
    }

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        Some(Kind::CertManager)
    }

    fn namespaces(&self) -> Namespaces<'_> {
        Namespaces::One(self.namespace.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmRelease {
    pub chart: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Url>,
    pub version: PinnedVersion,
    pub namespace: NamespaceName,
    #[serde(default)]
    pub create_namespace: bool,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub values: serde_json::Value,
}

impl KindSpec for HelmRelease {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &["release", "revision"],
        force_new: &["chart", "namespace"],
        replace_order: ReplaceOrder::DeleteFirst { why: NAMED_OBJECTS },
        follows_in_place: &[],
        // Every `helm upgrade` is a new revision.
        outputs_changed_by: &[("*", &["revision"])],
        sensitive: &[],
        // helm runs with a 10-minute timeout of its own (plus the waits after): its
        // message should arrive before the engine gives up.
        timeout_minutes: 15,
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
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        if self.create_namespace {
            Namespaces::Created(self.namespace.as_str())
        } else {
            Namespaces::One(self.namespace.as_str())
        }
    }
}

/// Any Kubernetes objects, server-side applied as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub objects: Vec<serde_json::Value>,
}

impl KindSpec for Manifest {
    const SCHEMA: Schema = Schema {
        layer: Layer::Cluster,
        outputs: &[],
        force_new: &[],
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
        if self.objects.is_empty() {
            cx.error(
                "bad-value",
                field("objects"),
                "the manifest has no objects",
                "list at least one Kubernetes object",
            );
        }
        for (i, object) in self.objects.iter().enumerate() {
            let at = field("objects").index(i);
            for key in ["apiVersion", "kind"] {
                if !object.get(key).is_some_and(serde_json::Value::is_string) {
                    cx.error(
                        "missing-field",
                        at.clone(),
                        format!("object {i} has no `{key}`"),
                        "every object needs apiVersion, kind and metadata.name",
                    );
                }
            }
            let name = object
                .pointer("/metadata/name")
                .and_then(serde_json::Value::as_str);
            match name {
                None => cx.error(
                    "missing-field",
                    at.clone(),
                    format!("object {i} has no `metadata.name`"),
                    "every object needs apiVersion, kind and metadata.name",
                ),
                Some(name) if !crate::values::is_k8s_name(name) => cx.error(
                    "bad-k8s-name",
                    at.key("metadata").key("name"),
                    format!("`{name}` is not a valid Kubernetes name"),
                    "use lowercase letters, digits, '-' and '.'",
                ),
                Some(_) => {}
            }
        }
    }

    fn references(&self, _refs: &mut References) {}

    fn looked_up(_desired: &serde_json::Value) -> bool {
        false
    }

    fn controller(&self) -> Option<Kind> {
        None
    }

    fn namespaces(&self) -> Namespaces<'_> {
        let mut namespaces: Vec<&str> = self
            .objects
            .iter()
            .filter_map(|o| o["metadata"]["namespace"].as_str())
            .collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        Namespaces::PerObject(namespaces)
    }
}
