//! The `alb` kind: a networking.k8s.io/v1 Ingress for the AWS Load Balancer Controller in front
//! of one ingress gateway's Service, annotated as seeds 000 and 001 did by hand — with the ACM
//! ARN and the status-port nodePort filled in from their producers instead of pasted.

use super::{Render, RenderError, Rendered, Renderer};
use meshctl_model::kinds::cluster::{Alb, HealthProtocol, ListenProtocol, Scheme, TargetType};
use meshctl_model::Kind;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const ANNOTATION_PREFIX: &str = "alb.ingress.kubernetes.io/";
/// The pod port of Istio's readiness endpoint, for ip targets.
const STATUS_PORT: u16 = 15021;
/// The ingress gateway namespace when the gateway's record does not say.
const ISTIO_SYSTEM: &str = "istio-system";

fn protocol(protocol: HealthProtocol) -> &'static str {
    match protocol {
        HealthProtocol::HTTP => "HTTP",
        HealthProtocol::HTTPS => "HTTPS",
        HealthProtocol::TCP => "TCP",
    }
}

/// `[{"HTTP":80},{"HTTPS":443}]`: the controller's listen-ports JSON.
fn listen_ports(alb: &Alb) -> String {
    let ports: Vec<Value> = alb
        .listeners()
        .iter()
        .map(|l| {
            let name = match l.protocol {
                ListenProtocol::HTTP => "HTTP",
                ListenProtocol::HTTPS => "HTTPS",
            };
            json!({ name: l.port.0 })
        })
        .collect();
    Value::Array(ports).to_string()
}

pub(super) fn alb(r: &Renderer<'_>, spec: &Alb) -> Result<Render, RenderError> {
    let gateway = spec.gateway.as_str();
    let service = match &spec.backend.service {
        Some(service) => service.to_string(),
        None => r.string_output(Kind::IngressGateway, gateway, "service_name")?,
    };
    // An Ingress can only name a Service in its own namespace: it lives with the gateway.
    let namespace = r
        .optional_string_output(Kind::IngressGateway, gateway, "namespace")
        .unwrap_or_else(|| ISTIO_SYSTEM.to_string());

    let health_port = match spec.target_type {
        // Instance targets: the ALB checks every node, so the port is the status-port nodePort
        // (seed 000's kubectl-jsonpath-then-vim step; seed 001's `status-port` name, which the
        // controller cannot resolve for instance targets).
        TargetType::Instance => {
            let node_port = r.port_output(Kind::IngressGateway, gateway, "status_node_port")?;
            if let Some(port) = spec.health_check.port {
                if port.0 != node_port {
                    return Err(r.conflict(format!(
                        "health_check.port {} is not the status-port nodePort {node_port} of \
                         ingress_gateway.{gateway}: the ALB would mark every node unhealthy",
                        port.0
                    )));
                }
            }
            node_port
        }
        TargetType::Ip => spec.health_check.port.map_or(STATUS_PORT, |p| p.0),
    };

    let key = |name: &str| format!("{ANNOTATION_PREFIX}{name}");
    let mut annotations = BTreeMap::new();
    let scheme = match spec.scheme {
        Scheme::InternetFacing => "internet-facing",
        Scheme::Internal => "internal",
    };
    annotations.insert(key("scheme"), scheme.to_string());
    let target = match spec.target_type {
        TargetType::Instance => "instance",
        TargetType::Ip => "ip",
    };
    annotations.insert(key("target-type"), target.to_string());
    annotations.insert(key("listen-ports"), listen_ports(spec));
    if let Some(certificate) = &spec.certificate {
        let arn = r.string_output(Kind::AcmCertificate, certificate, "arn")?;
        annotations.insert(key("certificate-arn"), arn);
    }
    if spec.ssl_redirect {
        // The controller's ssl-redirect annotation replaces seed 000/001's `actions.ssl-redirect`
        // plus `use-annotation` backend rule: same 301 to 443, one annotation.
        let https = spec
            .listeners()
            .iter()
            .find(|l| l.protocol == ListenProtocol::HTTPS)
            .map_or(443, |l| l.port.0);
        annotations.insert(key("ssl-redirect"), https.to_string());
    }
    annotations.insert(
        key("backend-protocol"),
        protocol(spec.backend.protocol).to_string(),
    );
    annotations.insert(key("healthcheck-path"), spec.health_check.path.clone());
    annotations.insert(key("healthcheck-port"), health_port.to_string());
    annotations.insert(
        key("healthcheck-protocol"),
        protocol(spec.health_check.protocol).to_string(),
    );
    if let Some(group) = &spec.group {
        annotations.insert(key("group.name"), group.to_string());
    }
    if let Some(acl) = &spec.waf_acl_arn {
        annotations.insert(key("wafv2-acl-arn"), acl.to_string());
    }

    let ingress = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": r.metadata(r.name(), Some(&namespace), &BTreeMap::new(), &annotations),
        "spec": {
            "ingressClassName": "alb",
            "rules": [{
                "http": {
                    "paths": [{
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {
                            "service": {
                                "name": service,
                                "port": { "number": spec.backend.effective_port() },
                            },
                        },
                    }],
                },
            }],
        },
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![ingress]),
        outputs: BTreeMap::new(),
    })
}
