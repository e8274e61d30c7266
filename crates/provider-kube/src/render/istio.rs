//! IstioOperators: the control plane of an `istio` node, and one operator (profile `empty`) per
//! `ingress_gateway`, with its Service, nodePorts and NLB annotations (seeds 000, 001, 004).

use super::{object, opt, Render, RenderError, Rendered, Renderer};
use meshctl_model::kinds::cluster::{
    Autoscale, ExternalTrafficPolicy, HealthProtocol, IngressGateway, Istio, IstioProfile,
    NlbSettings, Resources, Scheme, ServiceType, TargetType, LB_TYPE_ANNOTATION,
};
use meshctl_model::Kind;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const OPERATOR_API: &str = "install.istio.io/v1alpha1";
/// The gateway every non-empty Istio profile installs unless told not to.
const PROFILE_GATEWAY: &str = "istio-ingressgateway";
const PROFILE_EGRESS_GATEWAY: &str = "istio-egressgateway";
/// Istio's own namespace when the `istio` node's record does not say.
const ISTIO_SYSTEM: &str = "istio-system";
/// The pod port of Istio's readiness endpoint (`/healthz/ready`).
const STATUS_PORT: u16 = 15021;

fn profile(profile: IstioProfile) -> &'static str {
    match profile {
        IstioProfile::Default => "default",
        IstioProfile::Minimal => "minimal",
        IstioProfile::Demo => "demo",
        IstioProfile::Empty => "empty",
    }
}

fn hpa(replicas: &Autoscale) -> Value {
    json!({ "minReplicas": replicas.min, "maxReplicas": replicas.max })
}

fn resources(resources: &Resources) -> Value {
    serde_json::to_value(resources).unwrap_or(Value::Null)
}

/// The revision Istio labels an unrevisioned control plane's objects with (`istio.io/rev`).
pub const DEFAULT_REVISION: &str = "default";

/// What dependents read of a control plane: its version (when known), namespace and revision.
fn control_plane_outputs(spec: &Istio) -> BTreeMap<String, Value> {
    let mut outputs = BTreeMap::from([
        ("namespace".to_string(), spec.namespace.as_str().into()),
        (
            "revision".to_string(),
            spec.revision
                .as_ref()
                .map_or(DEFAULT_REVISION, |r| r.as_str())
                .into(),
        ),
    ]);
    if let Some(version) = &spec.version {
        outputs.insert("version".to_string(), version.to_string().into());
    }
    outputs
}

pub(super) fn control_plane(r: &Renderer<'_>, spec: &Istio) -> Result<Render, RenderError> {
    // A control plane already on the cluster is only looked up: nothing to install. The
    // provider reads its version from the cluster.
    if spec.existing {
        return Ok(Render {
            rendered: Rendered::Existing,
            outputs: control_plane_outputs(spec),
        });
    }
    let Some(version) = &spec.version else {
        return Err(r.conflict("`version` is required to install Istio"));
    };
    let namespace = spec.namespace.as_str();
    let egress = match &spec.egress_gateway {
        Some(egress) if egress.enabled => json!({
            "name": PROFILE_EGRESS_GATEWAY,
            "enabled": true,
            "k8s": { "hpaSpec": hpa(&egress.replicas) },
        }),
        _ => json!({ "name": PROFILE_EGRESS_GATEWAY, "enabled": false }),
    };
    let components = json!({
        "pilot": { "enabled": true, "k8s": { "hpaSpec": hpa(&spec.pilot) } },
        // Ingress gateways are `ingress_gateway` nodes with operators of their own.
        "ingressGateways": [{ "name": PROFILE_GATEWAY, "enabled": false }],
        "egressGateways": [egress],
    });
    let mesh = &spec.mesh_config;
    let mut mesh_config = Map::new();
    mesh_config.insert("enableTracing".into(), mesh.enable_tracing.into());
    mesh_config.insert(
        "defaultConfig".into(),
        json!({ "holdApplicationUntilProxyStarts": mesh.hold_application_until_proxy_starts }),
    );
    if let Some(file) = &mesh.access_log_file {
        mesh_config.insert("accessLogFile".into(), file.clone().into());
    }
    mesh_config.insert(
        "outboundTrafficPolicy".into(),
        json!({ "mode": mesh.outbound_traffic_policy }),
    );
    let mut spec_json = object([
        ("profile", profile(spec.profile).into()),
        ("tag", version.to_string().into()),
        ("revision", opt(spec.revision.as_ref().map(|r| r.as_str()))),
        ("components", components),
        ("meshConfig", Value::Object(mesh_config)),
    ]);
    let mut values = Map::new();
    let mut global = Map::new();
    if namespace != ISTIO_SYSTEM {
        global.insert("istioNamespace".into(), namespace.into());
    }
    if let Some(proxy) = &spec.proxy_resources {
        global.insert("proxy".into(), json!({ "resources": resources(proxy) }));
    }
    if !global.is_empty() {
        values.insert("global".into(), Value::Object(global));
    }
    if !values.is_empty() {
        spec_json["values"] = Value::Object(values);
    }
    let operator = json!({
        "apiVersion": OPERATOR_API,
        "kind": "IstioOperator",
        "metadata": r.metadata(r.name(), Some(namespace), &BTreeMap::new(), &BTreeMap::new()),
        "spec": spec_json,
    });
    Ok(Render {
        rendered: Rendered::IstioOperator {
            version: version.to_string(),
            operator,
        },
        outputs: control_plane_outputs(spec),
    })
}

fn scheme(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::InternetFacing => "internet-facing",
        Scheme::Internal => "internal",
    }
}

fn target_type(target: TargetType) -> &'static str {
    match target {
        TargetType::Instance => "instance",
        TargetType::Ip => "ip",
    }
}

fn health_protocol(protocol: HealthProtocol) -> &'static str {
    match protocol {
        HealthProtocol::HTTP => "HTTP",
        HealthProtocol::HTTPS => "HTTPS",
        HealthProtocol::TCP => "TCP",
    }
}

/// The AWS Load Balancer Controller's Service annotations for an NLB (seed 004).
fn nlb_annotations(
    r: &Renderer<'_>,
    gateway: &IngressGateway,
    nlb: &NlbSettings,
) -> Result<BTreeMap<String, String>, RenderError> {
    let key = |name: &str| format!("service.beta.kubernetes.io/{name}");
    let mut annotations = BTreeMap::new();
    // "external": the AWS Load Balancer Controller builds the NLB, not the in-tree controller.
    annotations.insert(LB_TYPE_ANNOTATION.to_string(), "external".to_string());
    if let Some(name) = &nlb.name {
        annotations.insert(key("aws-load-balancer-name"), name.clone());
    }
    annotations.insert(key("aws-load-balancer-scheme"), scheme(nlb.scheme).into());
    annotations.insert(
        key("aws-load-balancer-nlb-target-type"),
        target_type(nlb.target_type).into(),
    );
    if !nlb.source_ranges.is_empty() {
        let ranges: Vec<&str> = nlb.source_ranges.iter().map(|c| c.as_str()).collect();
        annotations.insert(key("load-balancer-source-ranges"), ranges.join(","));
    }
    if !nlb.tls_ports.is_empty() {
        let ports: Vec<String> = nlb.tls_ports.iter().map(|p| p.0.to_string()).collect();
        annotations.insert(key("aws-load-balancer-ssl-ports"), ports.join(","));
    }
    if let Some(certificate) = &nlb.certificate {
        let arn = r.string_output(Kind::AcmCertificate, certificate, "arn")?;
        annotations.insert(key("aws-load-balancer-ssl-cert"), arn);
    }
    if let Some(policy) = &nlb.ssl_negotiation_policy {
        annotations.insert(
            key("aws-load-balancer-ssl-negotiation-policy"),
            policy.clone(),
        );
    }
    let health = &nlb.health_check;
    // ip targets reach the pod's status port; instance targets the node's status nodePort.
    let health_port = match (health.port, nlb.target_type) {
        (Some(port), _) => port.0,
        (None, TargetType::Ip) => gateway
            .status_port()
            .and_then(|p| p.target_port)
            .map_or(STATUS_PORT, |p| p.0),
        (None, TargetType::Instance) => {
            r.port_output(Kind::IngressGateway, r.name(), "status_node_port")?
        }
    };
    annotations.insert(
        key("aws-load-balancer-healthcheck-port"),
        health_port.to_string(),
    );
    // The controller's default health check is TCP, which ignores the path.
    annotations.insert(
        key("aws-load-balancer-healthcheck-protocol"),
        health_protocol(health.protocol).into(),
    );
    if health.protocol != HealthProtocol::TCP {
        annotations.insert(
            key("aws-load-balancer-healthcheck-path"),
            health.path.clone(),
        );
    }
    // Written when false too: removing the annotation would leave the attribute as it was.
    annotations.insert(
        key("aws-load-balancer-attributes"),
        format!("load_balancing.cross_zone.enabled={}", nlb.cross_zone),
    );
    Ok(annotations)
}

fn service_type(service_type: ServiceType) -> &'static str {
    match service_type {
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
        ServiceType::ClusterIP => "ClusterIP",
    }
}

pub(super) fn ingress_gateway(
    r: &Renderer<'_>,
    spec: &IngressGateway,
) -> Result<Render, RenderError> {
    // The gateway proxies must run the control plane's version, so wait for (and use) it.
    let version = r.string_output(Kind::Istio, &spec.istio, "version")?;
    let istio_namespace = r
        .optional_string_output(Kind::Istio, &spec.istio, "namespace")
        .unwrap_or_else(|| ISTIO_SYSTEM.to_string());
    // A gateway's proxies connect to its control plane's revision.
    let revision = r
        .optional_string_output(Kind::Istio, &spec.istio, "revision")
        .filter(|rev| rev != DEFAULT_REVISION);
    let kind = spec.service_type();
    let mut service = Map::new();
    service.insert("type".into(), service_type(kind).into());
    let policy_matters = kind == ServiceType::LoadBalancer
        || (kind == ServiceType::NodePort
            && spec.service.external_traffic_policy == ExternalTrafficPolicy::Local);
    if policy_matters {
        service.insert(
            "externalTrafficPolicy".into(),
            serde_json::to_value(spec.service.external_traffic_policy).unwrap_or(Value::Null),
        );
    }
    let ports: Vec<Value> = spec
        .service
        .ports
        .iter()
        .map(|p| {
            object([
                ("name", p.name.clone().into()),
                (
                    "protocol",
                    serde_json::to_value(p.protocol).unwrap_or(Value::Null),
                ),
                ("port", p.port.0.into()),
                (
                    "targetPort",
                    p.target_port.map_or(Value::Null, |t| t.0.into()),
                ),
                ("nodePort", p.node_port.map_or(Value::Null, |n| n.0.into())),
            ])
        })
        .collect();
    service.insert("ports".into(), Value::Array(ports));
    let mut annotations = spec.service.annotations.0.clone();
    if let Some(nlb) = &spec.nlb {
        annotations.extend(nlb_annotations(r, spec, nlb)?);
    }
    let mut k8s = Map::new();
    if let Some(res) = &spec.resources {
        k8s.insert("resources".into(), resources(res));
    }
    k8s.insert("hpaSpec".into(), hpa(&spec.replicas));
    k8s.insert("service".into(), Value::Object(service));
    if !annotations.is_empty() {
        k8s.insert("serviceAnnotations".into(), json!(annotations));
    }
    let component = json!({
        "name": r.name(),
        "namespace": spec.namespace.as_str(),
        "enabled": true,
        "label": spec.labels.0,
        "k8s": Value::Object(k8s),
    });
    let mut spec_json = json!({
        "profile": "empty",
        "tag": version,
        "components": { "ingressGateways": [component] },
    });
    if let Some(revision) = revision {
        spec_json["revision"] = revision.into();
    }
    if istio_namespace != ISTIO_SYSTEM {
        spec_json["values"] = json!({ "global": { "istioNamespace": istio_namespace } });
    }
    let operator = json!({
        "apiVersion": OPERATOR_API,
        "kind": "IstioOperator",
        "metadata": r.metadata(r.name(), Some(&istio_namespace), &BTreeMap::new(), &BTreeMap::new()),
        "spec": spec_json,
    });
    Ok(Render {
        rendered: Rendered::IstioOperator { version, operator },
        outputs: BTreeMap::from([
            // Istio names the gateway's Deployment and Service after the component.
            ("service_name".to_string(), r.name().into()),
            ("namespace".to_string(), spec.namespace.as_str().into()),
            ("labels".to_string(), json!(spec.labels.0)),
        ]),
    })
}

/// A control plane is imported by the IstioOperator it was installed from (`istioctl install
/// -f`), `namespace/name`; an `existing` one is only looked up, and has nothing to import.
pub(super) fn control_plane_import_target(render: &Render) -> Option<super::ImportTarget> {
    let Rendered::IstioOperator { operator, .. } = &render.rendered else {
        return None;
    };
    Some(super::ImportTarget::IstioOperator {
        namespace: operator["metadata"]["namespace"].as_str()?.to_string(),
        name: operator["metadata"]["name"].as_str()?.to_string(),
    })
}

/// A gateway is imported by its Service, `namespace/name`, the object users know it by (Istio
/// names the Service after the gateway component).
pub(super) fn gateway_import_target(render: &Render) -> Option<super::ImportTarget> {
    Some(super::ImportTarget::Object {
        api_version: "v1".into(),
        kind: "Service".into(),
        namespace: render
            .outputs
            .get("namespace")?
            .as_str()
            .map(str::to_string),
        name: render.outputs.get("service_name")?.as_str()?.to_string(),
    })
}
