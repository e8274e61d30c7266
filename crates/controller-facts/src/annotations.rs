//! The AWS Load Balancer Controller's annotations at the version the example stacks pin (chart
//! 1.7.2, controller v2.7.2): every name its docs list (docs/guide/ingress/annotations.md and
//! docs/guide/service/annotations.md at tag v2.7.2), each with the value format the docs give.
//! The renderer's tests check every annotation meshctl emits against this table; the sandbox's
//! controller parses annotations through it.

use std::fmt;

/// The controller version whose docs this table follows.
pub const CONTROLLER_VERSION: &str = "v2.7.2";
/// The Helm chart version that installs [`CONTROLLER_VERSION`].
pub const CHART_VERSION: &str = "1.7.2";

const INGRESS_DOCS: &str = "https://github.com/kubernetes-sigs/aws-load-balancer-controller/blob/v2.7.2/docs/guide/ingress/annotations.md";
const SERVICE_DOCS: &str = "https://github.com/kubernetes-sigs/aws-load-balancer-controller/blob/v2.7.2/docs/guide/service/annotations.md";

/// The prefix of every Ingress annotation the controller reads.
pub const INGRESS_PREFIX: &str = "alb.ingress.kubernetes.io/";
/// The prefix of the Service annotations the controller reads (all but `load-balancer-source-ranges`
/// continue with `aws-load-balancer-`).
pub const SERVICE_PREFIX: &str = "service.beta.kubernetes.io/";

/// Load balancer attributes an NLB takes (ELB API reference, LoadBalancerAttribute).
pub const NLB_ATTRIBUTES: &[&str] = &[
    "access_logs.s3.enabled",
    "access_logs.s3.bucket",
    "access_logs.s3.prefix",
    "deletion_protection.enabled",
    "dns_record.client_routing_policy",
    "ipv6.deny_all_igw_traffic",
    "load_balancing.cross_zone.enabled",
];
/// Load balancer attributes an ALB takes (ELB API reference, LoadBalancerAttribute).
pub const ALB_ATTRIBUTES: &[&str] = &[
    "access_logs.s3.enabled",
    "access_logs.s3.bucket",
    "access_logs.s3.prefix",
    "deletion_protection.enabled",
    "idle_timeout.timeout_seconds",
    "ipv6.deny_all_igw_traffic",
    "routing.http.desync_mitigation_mode",
    "routing.http.drop_invalid_header_fields.enabled",
    "routing.http.preserve_host_header.enabled",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
    "routing.http.xff_client_port.enabled",
    "routing.http.xff_header_processing.mode",
    "routing.http2.enabled",
    "waf.fail_open.enabled",
];

/// How an annotation's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// `'true'` or `'false'`.
    Boolean,
    /// A whole number within the bounds.
    Integer { min: i64, max: i64 },
    /// A port number, or `traffic-port` (the target's own port).
    PortOrTrafficPort,
    /// A port number, `traffic-port`, or a port name of the backend Service (its nodePort for
    /// instance targets, its targetPort for ip targets).
    PortTrafficPortOrName,
    /// ALB listen-ports: a JSON list of one-key objects, `[{"HTTP": 80}, {"HTTPS": 443}]`.
    ListenPortsJson,
    /// A JSON document (actions, conditions, auth settings).
    Json,
    /// `k1=v1,k2=v2`; with `keys`, only those keys, and a key ending in `.enabled` takes
    /// `true`/`false`.
    StringMap {
        keys: Option<&'static [&'static str]>,
    },
    /// `s1,s2,s3`.
    StringList,
    /// `10.0.0.0/16,172.16.0.0/12`: IPv4 or IPv6 CIDRs.
    CidrList,
    /// `443,https`: port numbers or Service port names (`*` matches nothing since v2.2).
    PortList,
    /// ARNs of one AWS service, comma-separated (`arn:aws:acm:…`).
    ArnList { service: &'static str },
    /// One ARN of an AWS service.
    Arn { service: &'static str },
    /// A name of at most `max` letters, digits and hyphens, not starting or ending with a hyphen.
    Name { max: usize },
    /// An IngressGroup name: lower-case letters, digits, `-` and `.`, at most 63, alphanumeric at
    /// both ends.
    GroupName,
    /// A path starting with `/`.
    Path,
    /// An ELB security policy name (`ELBSecurityPolicy-…`).
    SecurityPolicy,
    /// HTTP codes: `200`, `200,201` or `200-399` (gRPC codes for gRPC health checks).
    SuccessCodes,
    /// Any string.
    Text,
}

/// Which objects an annotation goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An Ingress (ALB).
    Ingress,
    /// An Ingress, or the backend Service (where it wins).
    IngressOrService,
    /// A LoadBalancer Service (NLB).
    Service,
}

/// One documented annotation.
#[derive(Debug, Clone, Copy)]
pub struct Annotation {
    /// The full name; for the `actions.${name}` and `conditions.${name}` families, the prefix up to
    /// and including the dot.
    pub name: &'static str,
    pub target: Target,
    pub format: Format,
    /// The docs page that defines it.
    pub docs: &'static str,
}

const fn ing(name: &'static str, format: Format) -> Annotation {
    Annotation {
        name,
        target: Target::Ingress,
        format,
        docs: INGRESS_DOCS,
    }
}
const fn both(name: &'static str, format: Format) -> Annotation {
    Annotation {
        name,
        target: Target::IngressOrService,
        format,
        docs: INGRESS_DOCS,
    }
}
const fn svc(name: &'static str, format: Format) -> Annotation {
    Annotation {
        name,
        target: Target::Service,
        format,
        docs: SERVICE_DOCS,
    }
}

const HTTP_HTTPS: Format = Format::OneOf(&["HTTP", "HTTPS"]);
const SECONDS: Format = Format::Integer { min: 1, max: 300 };
const THRESHOLD: Format = Format::Integer { min: 2, max: 10 };

/// Every annotation of the controller's docs at [`CONTROLLER_VERSION`].
pub const ANNOTATIONS: &[Annotation] = &[
    // --- Ingress (ALB) ---
    ing(
        "alb.ingress.kubernetes.io/load-balancer-name",
        Format::Name { max: 32 },
    ),
    ing("alb.ingress.kubernetes.io/group.name", Format::GroupName),
    ing(
        "alb.ingress.kubernetes.io/group.order",
        Format::Integer {
            min: -1000,
            max: 1000,
        },
    ),
    both(
        "alb.ingress.kubernetes.io/tags",
        Format::StringMap { keys: None },
    ),
    ing(
        "alb.ingress.kubernetes.io/ip-address-type",
        Format::OneOf(&["ipv4", "dualstack"]),
    ),
    ing(
        "alb.ingress.kubernetes.io/scheme",
        Format::OneOf(&["internal", "internet-facing"]),
    ),
    ing("alb.ingress.kubernetes.io/subnets", Format::StringList),
    ing(
        "alb.ingress.kubernetes.io/security-groups",
        Format::StringList,
    ),
    ing(
        "alb.ingress.kubernetes.io/manage-backend-security-group-rules",
        Format::Boolean,
    ),
    ing(
        "alb.ingress.kubernetes.io/customer-owned-ipv4-pool",
        Format::Text,
    ),
    ing(
        "alb.ingress.kubernetes.io/load-balancer-attributes",
        Format::StringMap {
            keys: Some(ALB_ATTRIBUTES),
        },
    ),
    ing(
        "alb.ingress.kubernetes.io/wafv2-acl-arn",
        Format::Arn { service: "wafv2" },
    ),
    ing("alb.ingress.kubernetes.io/waf-acl-id", Format::Text),
    ing(
        "alb.ingress.kubernetes.io/shield-advanced-protection",
        Format::Boolean,
    ),
    ing(
        "alb.ingress.kubernetes.io/listen-ports",
        Format::ListenPortsJson,
    ),
    ing(
        "alb.ingress.kubernetes.io/ssl-redirect",
        Format::Integer { min: 1, max: 65535 },
    ),
    ing("alb.ingress.kubernetes.io/inbound-cidrs", Format::CidrList),
    ing(
        "alb.ingress.kubernetes.io/certificate-arn",
        Format::ArnList { service: "acm" },
    ),
    ing(
        "alb.ingress.kubernetes.io/ssl-policy",
        Format::SecurityPolicy,
    ),
    both(
        "alb.ingress.kubernetes.io/target-type",
        Format::OneOf(&["instance", "ip"]),
    ),
    both("alb.ingress.kubernetes.io/backend-protocol", HTTP_HTTPS),
    both(
        "alb.ingress.kubernetes.io/backend-protocol-version",
        Format::OneOf(&["HTTP1", "HTTP2", "GRPC"]),
    ),
    both(
        "alb.ingress.kubernetes.io/target-group-attributes",
        Format::StringMap { keys: None },
    ),
    both(
        "alb.ingress.kubernetes.io/healthcheck-port",
        Format::PortTrafficPortOrName,
    ),
    both("alb.ingress.kubernetes.io/healthcheck-protocol", HTTP_HTTPS),
    both("alb.ingress.kubernetes.io/healthcheck-path", Format::Path),
    both(
        "alb.ingress.kubernetes.io/healthcheck-interval-seconds",
        Format::Integer { min: 5, max: 300 },
    ),
    both(
        "alb.ingress.kubernetes.io/healthcheck-timeout-seconds",
        Format::Integer { min: 2, max: 120 },
    ),
    both(
        "alb.ingress.kubernetes.io/healthy-threshold-count",
        THRESHOLD,
    ),
    both(
        "alb.ingress.kubernetes.io/unhealthy-threshold-count",
        THRESHOLD,
    ),
    both(
        "alb.ingress.kubernetes.io/success-codes",
        Format::SuccessCodes,
    ),
    both(
        "alb.ingress.kubernetes.io/auth-type",
        Format::OneOf(&["none", "oidc", "cognito"]),
    ),
    both("alb.ingress.kubernetes.io/auth-idp-cognito", Format::Json),
    both("alb.ingress.kubernetes.io/auth-idp-oidc", Format::Json),
    both(
        "alb.ingress.kubernetes.io/auth-on-unauthenticated-request",
        Format::OneOf(&["authenticate", "allow", "deny"]),
    ),
    both("alb.ingress.kubernetes.io/auth-scope", Format::Text),
    both(
        "alb.ingress.kubernetes.io/auth-session-cookie",
        Format::Text,
    ),
    both(
        "alb.ingress.kubernetes.io/auth-session-timeout",
        Format::Integer {
            min: 1,
            max: 604800,
        },
    ),
    ing("alb.ingress.kubernetes.io/actions.", Format::Json),
    ing("alb.ingress.kubernetes.io/conditions.", Format::Json),
    both(
        "alb.ingress.kubernetes.io/target-node-labels",
        Format::StringMap { keys: None },
    ),
    ing(
        "alb.ingress.kubernetes.io/mutual-authentication",
        Format::Json,
    ),
    // --- Service (NLB) ---
    svc(
        "service.beta.kubernetes.io/load-balancer-source-ranges",
        Format::CidrList,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-type",
        Format::OneOf(&["external", "nlb-ip"]),
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type",
        Format::OneOf(&["instance", "ip"]),
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-name",
        Format::Name { max: 32 },
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-internal",
        Format::Boolean,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-scheme",
        Format::OneOf(&["internal", "internet-facing"]),
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol",
        Format::OneOf(&["*"]),
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-ip-address-type",
        Format::OneOf(&["ipv4", "dualstack"]),
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-access-log-enabled",
        Format::Boolean,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-access-log-s3-bucket-name",
        Format::Text,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-access-log-s3-bucket-prefix",
        Format::Text,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled",
        Format::Boolean,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert",
        Format::ArnList { service: "acm" },
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-ssl-ports",
        Format::PortList,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy",
        Format::SecurityPolicy,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-backend-protocol",
        Format::OneOf(&["ssl", "tcp"]),
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags",
        Format::StringMap { keys: None },
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol",
        Format::OneOf(&["TCP", "HTTP", "HTTPS", "tcp", "http", "https"]),
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port",
        Format::PortOrTrafficPort,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path",
        Format::Path,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-healthy-threshold",
        THRESHOLD,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-unhealthy-threshold",
        THRESHOLD,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-timeout",
        Format::Integer { min: 2, max: 120 },
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval",
        SECONDS,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-success-codes",
        Format::SuccessCodes,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-eip-allocations",
        Format::StringList,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses",
        Format::StringList,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-ipv6-addresses",
        Format::StringList,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes",
        Format::StringMap { keys: None },
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-subnets",
        Format::StringList,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-alpn-policy",
        Format::OneOf(&[
            "HTTP1Only",
            "HTTP2Only",
            "HTTP2Optional",
            "HTTP2Preferred",
            "None",
        ]),
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-target-node-labels",
        Format::StringMap { keys: None },
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-attributes",
        Format::StringMap {
            keys: Some(NLB_ATTRIBUTES),
        },
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-security-groups",
        Format::StringList,
    ),
    svc(
        "service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules",
        Format::Boolean,
    ),
];

/// The table's entry for an annotation name (the `actions.`/`conditions.` families by prefix).
pub fn lookup_annotation(name: &str) -> Option<&'static Annotation> {
    ANNOTATIONS.iter().find(|a| {
        if a.name.ends_with('.') {
            name.strip_prefix(a.name)
                .is_some_and(|rest| !rest.is_empty())
        } else {
            a.name == name
        }
    })
}

/// True for an annotation name in the controller's namespaces (`alb.ingress.kubernetes.io/…`,
/// `service.beta.kubernetes.io/aws-load-balancer-…`, `…/load-balancer-source-ranges`): the ones
/// the table must know.
pub fn is_controller_annotation(name: &str) -> bool {
    name.starts_with(INGRESS_PREFIX)
        || name.starts_with("service.beta.kubernetes.io/aws-load-balancer-")
        || name == "service.beta.kubernetes.io/load-balancer-source-ranges"
}

/// Why an annotation is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnotationError {
    /// The controller's docs do not list it.
    Unknown {
        name: String,
        suggestion: Option<&'static str>,
    },
    /// Its value does not have the documented format.
    BadValue {
        name: String,
        value: String,
        expected: String,
        docs: &'static str,
    },
}

impl fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnnotationError::Unknown { name, suggestion } => {
                write!(
                    f,
                    "annotation {name} is not one the AWS Load Balancer Controller {CONTROLLER_VERSION} reads"
                )?;
                match suggestion {
                    Some(s) => write!(f, "; did you mean {s}?"),
                    None => write!(f, "; see {INGRESS_DOCS} and {SERVICE_DOCS}"),
                }
            }
            AnnotationError::BadValue {
                name,
                value,
                expected,
                docs,
            } => write!(
                f,
                "annotation {name}: {value:?} is not {expected} (AWS Load Balancer Controller {CONTROLLER_VERSION}, {docs})"
            ),
        }
    }
}

impl std::error::Error for AnnotationError {}

/// Checks an annotation's name and value against the table.
pub fn check_annotation(name: &str, value: &str) -> Result<(), AnnotationError> {
    let Some(annotation) = lookup_annotation(name) else {
        return Err(AnnotationError::Unknown {
            name: name.to_string(),
            suggestion: suggest(name),
        });
    };
    annotation
        .format
        .check(value)
        .map_err(|expected| AnnotationError::BadValue {
            name: name.to_string(),
            value: value.to_string(),
            expected,
            docs: annotation.docs,
        })
}

fn suggest(name: &str) -> Option<&'static str> {
    ANNOTATIONS
        .iter()
        .map(|a| (edit_distance(name, a.name), a.name))
        .filter(|(d, _)| *d <= 5)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

/// The items of a comma-separated list, trimmed, empty ones dropped (as the controller splits).
pub fn split_list(raw: &str) -> Vec<&str> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The pairs of a `k1=v1,k2=v2` value.
pub fn parse_string_map(raw: &str) -> Result<Vec<(&str, &str)>, String> {
    split_list(raw)
        .into_iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("key=value pairs separated by commas (`{pair}` has no `=`)"))
        })
        .collect()
}

/// `[{"HTTP": 80}, {"HTTPS": 443}]` as (protocol, port) pairs.
pub fn parse_listen_ports(raw: &str) -> Result<Vec<(String, u16)>, String> {
    const EXPECTED: &str =
        r#"a JSON list of {"PROTOCOL": port} objects, e.g. [{"HTTP": 80}, {"HTTPS": 443}]"#;
    let parsed: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| format!("{EXPECTED} ({e})"))?;
    let entries = parsed.as_array().ok_or(EXPECTED)?;
    let mut out = Vec::new();
    for entry in entries {
        let object = entry.as_object().ok_or(EXPECTED)?;
        for (protocol, port) in object {
            if protocol != "HTTP" && protocol != "HTTPS" {
                return Err(format!(
                    "{EXPECTED}; the protocol must be HTTP or HTTPS, not {protocol}"
                ));
            }
            let port = port
                .as_u64()
                .filter(|p| (1..=65535).contains(p))
                .ok_or_else(|| format!("{EXPECTED}; port {port} is not within 1-65535"))?;
            out.push((protocol.clone(), port as u16));
        }
    }
    if out.is_empty() {
        return Err(format!("{EXPECTED}; it names no port"));
    }
    Ok(out)
}

fn is_cidr(s: &str) -> bool {
    let Some((address, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

/// A Service port name: an IANA_SVC_NAME, lower-case letters, digits and `-`, with a letter.
fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
}

fn is_port(s: &str) -> bool {
    s.parse::<u16>().is_ok_and(|p| p > 0)
}

impl Format {
    /// Ok, or what the value should have been.
    pub fn check(&self, raw: &str) -> Result<(), String> {
        let value = raw.trim();
        let ok = |good: bool, expected: &str| {
            if good {
                Ok(())
            } else {
                Err(expected.to_string())
            }
        };
        match self {
            Format::OneOf(words) => ok(
                words.contains(&value),
                &format!("one of {}", words.join(", ")),
            ),
            Format::Boolean => ok(
                value == "true" || value == "false",
                "'true' or 'false'",
            ),
            Format::Integer { min, max } => ok(
                value.parse::<i64>().is_ok_and(|n| (*min..=*max).contains(&n)),
                &format!("a whole number within {min}-{max}"),
            ),
            Format::PortOrTrafficPort => ok(
                value == "traffic-port" || is_port(value),
                "a port number (1-65535) or traffic-port",
            ),
            Format::PortTrafficPortOrName => ok(
                value == "traffic-port" || is_port(value) || is_port_name(value),
                "a port number (1-65535), traffic-port or a port name of the Service",
            ),
            Format::ListenPortsJson => parse_listen_ports(value).map(|_| ()),
            Format::Json => serde_json::from_str::<serde_json::Value>(value)
                .map(|_| ())
                .map_err(|e| format!("JSON ({e})")),
            Format::StringMap { keys } => {
                let pairs = parse_string_map(value)?;
                for (key, v) in pairs {
                    if let Some(keys) = keys {
                        if !keys.contains(&key) {
                            return Err(format!(
                                "key=value pairs of the attributes {}; `{key}` is not one",
                                keys.join(", ")
                            ));
                        }
                    }
                    if key.ends_with(".enabled") && v != "true" && v != "false" {
                        return Err(format!("key=value pairs; `{key}` takes true or false"));
                    }
                }
                Ok(())
            }
            Format::StringList => ok(
                !split_list(value).is_empty(),
                "a comma-separated list",
            ),
            Format::CidrList => ok(
                !split_list(value).is_empty() && split_list(value).iter().all(|c| is_cidr(c)),
                "a comma-separated list of CIDRs (10.0.0.0/16,172.16.0.0/12)",
            ),
            Format::PortList => ok(
                split_list(value).iter().all(|p| {
                    *p != "*"
                        && (is_port(p) || is_port_name(p))
                }) && !split_list(value).is_empty(),
                "a comma-separated list of port numbers or Service port names (`*` matches no port)",
            ),
            Format::ArnList { service } => ok(
                !split_list(value).is_empty()
                    && split_list(value)
                        .iter()
                        .all(|a| is_arn(a, service)),
                &format!("a comma-separated list of arn:aws:{service}:… ARNs"),
            ),
            Format::Arn { service } => ok(is_arn(value, service), &format!("an arn:aws:{service}:… ARN")),
            Format::Name { max } => ok(
                !value.is_empty()
                    && value.len() <= *max
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !value.starts_with('-')
                    && !value.ends_with('-'),
                &format!("a name of at most {max} letters, digits and hyphens, not starting or ending with a hyphen"),
            ),
            Format::GroupName => ok(
                !value.is_empty()
                    && value.len() <= 63
                    && value
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                    && value.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && value.ends_with(|c: char| c.is_ascii_alphanumeric()),
                "a group name of at most 63 lower-case letters, digits, `-` and `.`, alphanumeric at both ends",
            ),
            Format::Path => ok(value.starts_with('/'), "a path starting with /"),
            Format::SecurityPolicy => ok(
                value.starts_with("ELBSecurityPolicy-"),
                "an ELB security policy name (ELBSecurityPolicy-…)",
            ),
            Format::SuccessCodes => ok(
                !value.is_empty()
                    && value.split(',').all(|part| {
                        let mut ends = part.trim().splitn(2, '-');
                        ends.all(|n| n.parse::<u16>().is_ok())
                    }),
                "HTTP codes: 200, 200,201 or 200-399",
            ),
            Format::Text => Ok(()),
        }
    }
}

fn is_arn(value: &str, service: &str) -> bool {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == service
        && !parts[5].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples_pass() {
        for (name, value) in [
            (
                "alb.ingress.kubernetes.io/listen-ports",
                r#"[{"HTTP": 80}, {"HTTPS":443}]"#,
            ),
            ("alb.ingress.kubernetes.io/healthcheck-port", "traffic-port"),
            ("alb.ingress.kubernetes.io/healthcheck-port", "30621"),
            (
                "alb.ingress.kubernetes.io/actions.ssl-redirect",
                r#"{"Type": "redirect"}"#,
            ),
            (
                "service.beta.kubernetes.io/aws-load-balancer-attributes",
                "load_balancing.cross_zone.enabled=true",
            ),
            (
                "service.beta.kubernetes.io/load-balancer-source-ranges",
                "10.0.0.0/16, 172.16.0.0/12",
            ),
            (
                "service.beta.kubernetes.io/aws-load-balancer-ssl-ports",
                "443, custom-port",
            ),
            (
                "service.beta.kubernetes.io/aws-load-balancer-ssl-cert",
                "arn:aws:acm:us-west-2:123456789012:certificate/abc",
            ),
            ("alb.ingress.kubernetes.io/success-codes", "200-399"),
        ] {
            assert_eq!(check_annotation(name, value), Ok(()), "{name}: {value}");
        }
    }

    #[test]
    fn wrong_formats_and_names_are_refused_with_what_was_expected() {
        let e = check_annotation(
            "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port",
            "status-port",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("a port number (1-65535) or traffic-port"),
            "{e}"
        );
        assert!(
            check_annotation("alb.ingress.kubernetes.io/healthcheck-port", "status-port").is_ok()
        );
        assert!(
            check_annotation("alb.ingress.kubernetes.io/healthcheck-port", "Status_Port").is_err()
        );
        let e = check_annotation(
            "alb.ingress.kubernetes.io/listen-ports",
            r#"{"HTTPS": 443}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains(r#"[{"HTTP": 80}, {"HTTPS": 443}]"#),
            "{e}"
        );
        let e = check_annotation(
            "service.beta.kubernetes.io/aws-load-balancer-attributes",
            "cross_zone.enabled=true",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("`cross_zone.enabled` is not one"),
            "{e}"
        );
        assert!(check_annotation(
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports",
            "*"
        )
        .is_err());
        let e = check_annotation(
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target",
            "ip",
        )
        .unwrap_err();
        assert_eq!(
            e,
            AnnotationError::Unknown {
                name: "service.beta.kubernetes.io/aws-load-balancer-nlb-target".into(),
                suggestion: Some("service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"),
            }
        );
    }

    #[test]
    fn every_name_is_in_a_controller_namespace_once() {
        for (i, a) in ANNOTATIONS.iter().enumerate() {
            assert!(is_controller_annotation(a.name), "{}", a.name);
            assert!(
                ANNOTATIONS[..i].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
        }
    }
}
