//! Istio networking and security objects: Gateway (selector and TLS credential resolved from
//! their producers), VirtualService, DestinationRule, PeerAuthentication, RequestAuthentication
//! and AuthorizationPolicy, with the stack's snake_case fields in Istio's camelCase.

use super::{list, match_labels, object, opt, Render, RenderError, Rendered, Renderer};
use meshctl_model::kinds::mesh::{
    AuthorizationPolicy, Destination, DestinationRule, Gateway, GatewaySelector, HttpMatch,
    HttpRoute, PeerAuthentication, RequestAuthentication, StringMatch, TrafficPolicy,
    VirtualService, MESH_GATEWAY,
};
use meshctl_model::Kind;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const NETWORKING_API: &str = "networking.istio.io/v1beta1";
const SECURITY_API: &str = "security.istio.io/v1beta1";
/// Where a Gateway lives when neither it nor its workload's record says.
const ISTIO_SYSTEM: &str = "istio-system";

fn outputs(r: &Renderer<'_>, namespace: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("name".to_string(), r.name().into()),
        ("namespace".to_string(), namespace.into()),
    ])
}

fn labels_output(r: &Renderer<'_>, workload: &str) -> Result<Value, RenderError> {
    let labels = r.output(Kind::IngressGateway, workload, "labels")?;
    match labels {
        Value::Object(map) if !map.is_empty() && map.values().all(Value::is_string) => {
            Ok(labels.clone())
        }
        _ => Err(RenderError::BadOutput {
            reference: super::reference(Kind::IngressGateway, workload, "labels"),
            expected: "a non-empty map of labels".to_string(),
        }),
    }
}

pub(super) fn gateway(r: &Renderer<'_>, spec: &Gateway) -> Result<Render, RenderError> {
    let (selector, workload_namespace) = match &spec.selector {
        GatewaySelector::Workload(name) => (
            labels_output(r, name)?,
            r.optional_string_output(Kind::IngressGateway, name, "namespace"),
        ),
        GatewaySelector::Labels(labels) => (json!(labels.0), None),
    };
    let namespace = spec
        .namespace
        .as_ref()
        .map(ToString::to_string)
        .or(workload_namespace)
        .unwrap_or_else(|| ISTIO_SYSTEM.to_string());
    let mut servers = Vec::new();
    for server in &spec.servers {
        let tls = match &server.tls {
            None => Value::Null,
            Some(tls) => {
                let credential = match &tls.credential {
                    Some(certificate) => Value::String(r.string_output(
                        Kind::Certificate,
                        certificate,
                        "secret_name",
                    )?),
                    None => Value::Null,
                };
                let redirect = if tls.https_redirect {
                    Value::Bool(true)
                } else {
                    Value::Null
                };
                object([
                    ("httpsRedirect", redirect),
                    ("mode", opt(tls.mode)),
                    ("credentialName", credential),
                ])
            }
        };
        servers.push(object([
            (
                "port",
                json!({
                    "number": server.port.number.0,
                    "name": server.port.name,
                    "protocol": server.port.protocol,
                }),
            ),
            ("hosts", json!(server.hosts)),
            ("tls", tls),
        ]));
    }
    let gateway = json!({
        "apiVersion": NETWORKING_API,
        "kind": "Gateway",
        "metadata": r.metadata(r.name(), Some(&namespace), &BTreeMap::new(), &BTreeMap::new()),
        "spec": { "selector": selector, "servers": servers },
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![gateway]),
        outputs: outputs(r, &namespace),
    })
}

fn string_match(m: &StringMatch) -> Value {
    object([
        ("exact", opt(m.exact.as_ref())),
        ("prefix", opt(m.prefix.as_ref())),
        ("regex", opt(m.regex.as_ref())),
    ])
}

fn http_match(m: &HttpMatch) -> Value {
    let headers = if m.headers.is_empty() {
        Value::Null
    } else {
        Value::Object(
            m.headers
                .iter()
                .map(|(k, v)| (k.clone(), string_match(v)))
                .collect::<Map<_, _>>(),
        )
    };
    object([
        ("uri", m.uri.as_ref().map_or(Value::Null, string_match)),
        ("headers", headers),
        (
            "method",
            m.method.as_ref().map_or(Value::Null, string_match),
        ),
        (
            "authority",
            m.authority.as_ref().map_or(Value::Null, string_match),
        ),
    ])
}

fn destination(d: &Destination) -> Value {
    object([
        ("host", d.host.clone().into()),
        ("subset", opt(d.subset.as_ref())),
        (
            "port",
            d.port.map_or(Value::Null, |p| json!({ "number": p.0 })),
        ),
    ])
}

/// A whole number as an integer (`maxEjectionPercent` is an int32 in Istio's schema), any other
/// as a double.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        json!(value as u64)
    } else {
        json!(value)
    }
}

fn percentage(value: f64) -> Value {
    json!({ "value": number(value) })
}

fn http_route(route: &HttpRoute) -> Value {
    let destinations: Vec<Value> = route
        .route
        .iter()
        .map(|d| {
            object([
                ("destination", destination(&d.destination)),
                ("weight", opt(d.weight)),
            ])
        })
        .collect();
    let redirect = route.redirect.as_ref().map_or(Value::Null, |rd| {
        object([
            ("uri", opt(rd.uri.as_ref())),
            ("authority", opt(rd.authority.as_ref())),
            ("scheme", opt(rd.scheme.as_ref())),
            ("redirectCode", opt(rd.redirect_code)),
        ])
    });
    let rewrite = route.rewrite.as_ref().map_or(Value::Null, |rw| {
        object([
            ("uri", opt(rw.uri.as_ref())),
            ("authority", opt(rw.authority.as_ref())),
        ])
    });
    let retries = route.retries.as_ref().map_or(Value::Null, |rt| {
        object([
            ("attempts", rt.attempts.into()),
            ("perTryTimeout", opt(rt.per_try_timeout.as_ref())),
            ("retryOn", opt(rt.retry_on.as_ref())),
        ])
    });
    let fault = route.fault.as_ref().map_or(Value::Null, |f| {
        object([
            (
                "delay",
                f.delay.as_ref().map_or(Value::Null, |d| {
                    json!({ "percentage": percentage(d.percentage.0), "fixedDelay": d.fixed_delay })
                }),
            ),
            (
                "abort",
                f.abort.as_ref().map_or(Value::Null, |a| {
                    json!({ "percentage": percentage(a.percentage.0), "httpStatus": a.http_status })
                }),
            ),
        ])
    });
    let matches: Vec<Value> = route.matches.iter().map(http_match).collect();
    object([
        ("name", opt(route.name.as_ref())),
        ("match", list(&matches)),
        ("route", list(&destinations)),
        ("redirect", redirect),
        ("rewrite", rewrite),
        ("timeout", opt(route.timeout.as_ref())),
        ("retries", retries),
        ("fault", fault),
        (
            "mirror",
            route.mirror.as_ref().map_or(Value::Null, destination),
        ),
        (
            "mirrorPercentage",
            route
                .mirror_percentage
                .map_or(Value::Null, |p| percentage(p.0)),
        ),
    ])
}

pub(super) fn virtual_service(
    r: &Renderer<'_>,
    spec: &VirtualService,
) -> Result<Render, RenderError> {
    // Gateways are named `namespace/name`: a VirtualService usually lives with its application,
    // not in the gateway's namespace (seed 001's `istio-system/monitor-gateway`).
    let mut gateways = Vec::new();
    for gateway in &spec.gateways {
        if gateway == MESH_GATEWAY {
            gateways.push(gateway.clone());
            continue;
        }
        let name = r.string_output(Kind::Gateway, gateway, "name")?;
        let namespace = r.string_output(Kind::Gateway, gateway, "namespace")?;
        gateways.push(format!("{namespace}/{name}"));
    }
    let http: Vec<Value> = spec.http.iter().map(http_route).collect();
    let namespace = spec.namespace.as_str();
    let virtual_service = json!({
        "apiVersion": NETWORKING_API,
        "kind": "VirtualService",
        "metadata": r.metadata(r.name(), Some(namespace), &BTreeMap::new(), &BTreeMap::new()),
        "spec": object([
            ("hosts", json!(spec.hosts)),
            ("gateways", list(&gateways)),
            ("http", Value::Array(http)),
        ]),
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![virtual_service]),
        outputs: outputs(r, namespace),
    })
}

fn traffic_policy(policy: &TrafficPolicy) -> Value {
    let pool = policy.connection_pool.as_ref().map_or(Value::Null, |pool| {
        object([
            (
                "tcp",
                pool.tcp.as_ref().map_or(Value::Null, |tcp| {
                    object([
                        ("maxConnections", opt(tcp.max_connections)),
                        ("connectTimeout", opt(tcp.connect_timeout.as_ref())),
                    ])
                }),
            ),
            (
                "http",
                pool.http.as_ref().map_or(Value::Null, |http| {
                    object([
                        (
                            "http1MaxPendingRequests",
                            opt(http.http1_max_pending_requests),
                        ),
                        ("http2MaxRequests", opt(http.http2_max_requests)),
                        (
                            "maxRequestsPerConnection",
                            opt(http.max_requests_per_connection),
                        ),
                        ("maxRetries", opt(http.max_retries)),
                    ])
                }),
            ),
        ])
    });
    let outlier = policy.outlier_detection.as_ref().map_or(Value::Null, |o| {
        object([
            ("consecutive5xxErrors", opt(o.consecutive_5xx_errors)),
            ("interval", opt(o.interval.as_ref())),
            ("baseEjectionTime", opt(o.base_ejection_time.as_ref())),
            (
                "maxEjectionPercent",
                o.max_ejection_percent.map_or(Value::Null, |p| number(p.0)),
            ),
        ])
    });
    object([
        (
            "loadBalancer",
            policy
                .load_balancer
                .as_ref()
                .map_or(Value::Null, |lb| json!({ "simple": lb.simple })),
        ),
        ("connectionPool", pool),
        ("outlierDetection", outlier),
        (
            "tls",
            policy
                .tls
                .as_ref()
                .map_or(Value::Null, |t| json!({ "mode": t.mode })),
        ),
    ])
}

pub(super) fn destination_rule(
    r: &Renderer<'_>,
    spec: &DestinationRule,
) -> Result<Render, RenderError> {
    let subsets: Vec<Value> = spec
        .subsets
        .iter()
        .map(|s| {
            object([
                ("name", s.name.clone().into()),
                ("labels", json!(s.labels.0)),
                (
                    "trafficPolicy",
                    s.traffic_policy
                        .as_ref()
                        .map_or(Value::Null, traffic_policy),
                ),
            ])
        })
        .collect();
    let namespace = spec.namespace.as_str();
    let rule = json!({
        "apiVersion": NETWORKING_API,
        "kind": "DestinationRule",
        "metadata": r.metadata(r.name(), Some(namespace), &BTreeMap::new(), &BTreeMap::new()),
        "spec": object([
            ("host", spec.host.clone().into()),
            ("trafficPolicy", spec.traffic_policy.as_ref().map_or(Value::Null, traffic_policy)),
            ("subsets", list(&subsets)),
        ]),
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![rule]),
        outputs: outputs(r, namespace),
    })
}

pub(super) fn peer_authentication(
    r: &Renderer<'_>,
    spec: &PeerAuthentication,
) -> Result<Render, RenderError> {
    let namespace = spec.namespace.as_str();
    let policy = json!({
        "apiVersion": SECURITY_API,
        "kind": "PeerAuthentication",
        "metadata": r.metadata(r.name(), Some(namespace), &BTreeMap::new(), &BTreeMap::new()),
        "spec": object([
            ("selector", match_labels(spec.selector.as_ref())),
            ("mtls", json!({ "mode": spec.mtls.mode })),
        ]),
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![policy]),
        outputs: outputs(r, namespace),
    })
}

pub(super) fn request_authentication(
    r: &Renderer<'_>,
    spec: &RequestAuthentication,
) -> Result<Render, RenderError> {
    let rules: Vec<Value> = spec
        .jwt_rules
        .iter()
        .map(|rule| {
            object([
                ("issuer", rule.issuer.clone().into()),
                ("jwksUri", opt(rule.jwks_uri.as_ref())),
                ("audiences", list(&rule.audiences)),
                (
                    "forwardOriginalToken",
                    if rule.forward_original_token {
                        Value::Bool(true)
                    } else {
                        Value::Null
                    },
                ),
            ])
        })
        .collect();
    let namespace = spec.namespace.as_str();
    let policy = json!({
        "apiVersion": SECURITY_API,
        "kind": "RequestAuthentication",
        "metadata": r.metadata(r.name(), Some(namespace), &BTreeMap::new(), &BTreeMap::new()),
        "spec": object([
            ("selector", match_labels(spec.selector.as_ref())),
            ("jwtRules", Value::Array(rules)),
        ]),
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![policy]),
        outputs: outputs(r, namespace),
    })
}

pub(super) fn authorization_policy(
    r: &Renderer<'_>,
    spec: &AuthorizationPolicy,
) -> Result<Render, RenderError> {
    let rules: Vec<Value> = spec
        .rules
        .iter()
        .map(|rule| {
            let from: Vec<Value> = rule
                .from
                .iter()
                .map(|f| {
                    let s = &f.source;
                    json!({ "source": object([
                        ("principals", list(&s.principals)),
                        ("requestPrincipals", list(&s.request_principals)),
                        ("namespaces", list(&s.namespaces)),
                        ("ipBlocks", list(&s.ip_blocks)),
                    ]) })
                })
                .collect();
            let to: Vec<Value> = rule
                .to
                .iter()
                .map(|t| {
                    let o = &t.operation;
                    json!({ "operation": object([
                        ("hosts", list(&o.hosts)),
                        ("methods", list(&o.methods)),
                        ("paths", list(&o.paths)),
                        ("ports", list(&o.ports)),
                    ]) })
                })
                .collect();
            let when: Vec<Value> = rule
                .when
                .iter()
                .map(|c| {
                    object([
                        ("key", c.key.clone().into()),
                        ("values", list(&c.values)),
                        ("notValues", list(&c.not_values)),
                    ])
                })
                .collect();
            object([
                ("from", list(&from)),
                ("to", list(&to)),
                ("when", list(&when)),
            ])
        })
        .collect();
    let namespace = spec.namespace.as_str();
    let policy = json!({
        "apiVersion": SECURITY_API,
        "kind": "AuthorizationPolicy",
        "metadata": r.metadata(r.name(), Some(namespace), &BTreeMap::new(), &BTreeMap::new()),
        "spec": object([
            ("selector", match_labels(spec.selector.as_ref())),
            ("action", json!(spec.action)),
            ("rules", list(&rules)),
        ]),
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![policy]),
        outputs: outputs(r, namespace),
    })
}
