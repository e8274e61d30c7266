//! What a load balancer should look like, as the Load Balancer Controller builds it from an
//! Ingress group or a Service before touching AWS: the balancer, its target groups and listeners.
//! Pure data, shared by the ALB (Ingress) and NLB (Service) controllers and the deployer.

use std::collections::BTreeMap;

use super::events::fnv64;

/// application (ALB) or network (NLB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LbType {
    Application,
    Network,
}

impl LbType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LbType::Application => "application",
            LbType::Network => "network",
        }
    }
}

/// Which tags tie AWS objects to a stack: `ingress.k8s.aws/*` or `service.k8s.aws/*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StackTags {
    /// The tag whose value is the stack id.
    pub stack: &'static str,
    /// The tag that says what the object is for.
    pub resource: &'static str,
}

pub(crate) const INGRESS_TAGS: StackTags = StackTags {
    stack: "ingress.k8s.aws/stack",
    resource: "ingress.k8s.aws/resource",
};
pub(crate) const SERVICE_TAGS: StackTags = StackTags {
    stack: "service.k8s.aws/stack",
    resource: "service.k8s.aws/resource",
};
/// The tag every object of every stack carries: the cluster it belongs to.
pub(crate) const CLUSTER_TAG: &str = "elbv2.k8s.aws/cluster";

/// Where the balancer's subnets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subnets {
    /// Subnet IDs or Name tags from an annotation.
    Named(Vec<String>),
    /// Discovered by the role tag for the scheme (`kubernetes.io/role/elb` or
    /// `kubernetes.io/role/internal-elb`).
    Discover,
}

/// The whole desired state of one stack.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LbModel {
    pub tags_kind: StackTags,
    pub stack_id: String,
    pub name: String,
    pub lb_type: LbType,
    /// "internet-facing" or "internal".
    pub scheme: String,
    pub subnets: Subnets,
    /// User tags (annotation), added to every object of the stack.
    pub tags: BTreeMap<String, String>,
    pub target_groups: Vec<TargetGroupModel>,
    pub listeners: Vec<ListenerModel>,
    /// Load balancer attributes from the `load-balancer-attributes` annotation; only these are
    /// set (the controller leaves the others as they are).
    pub attributes: BTreeMap<String, String>,
    pub security_groups: SecurityGroups,
}

/// The balancer's frontend security groups (since controller v2.6 NLBs have them too).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SecurityGroups {
    /// IDs or `Name` tags from the `security-groups` annotation, attached as they are.
    Named(Vec<String>),
    /// The group the controller creates and manages for the balancer: inbound from the source
    /// ranges (`inbound-cidrs`, `loadBalancerSourceRanges`; 0.0.0.0/0 by default) to the
    /// listener ports.
    Managed {
        name: String,
        rules: Vec<IngressRule>,
    },
}

/// One inbound rule of a managed security group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct IngressRule {
    /// `tcp` or `udp`.
    pub protocol: String,
    pub port: i32,
    pub cidr: String,
}

/// The tag value of a managed security group's resource tag, as the controller writes it.
pub(crate) const MANAGED_SECURITY_GROUP: &str = "ManagedLBSecurityGroup";

/// The CIDRs a managed security group opens: the given source ranges, else 0.0.0.0/0. An IPv6
/// range on an IPv4 balancer is refused, as the controller refuses it.
pub(crate) fn source_cidrs(ranges: Vec<String>, what: &str) -> Result<Vec<String>, String> {
    if let Some(v6) = ranges.iter().find(|c| c.contains(':')) {
        return Err(format!(
            "unsupported v6 cidr {v6} when lb is not dualstack ({what})"
        ));
    }
    Ok(if ranges.is_empty() {
        vec!["0.0.0.0/0".to_string()]
    } else {
        ranges
    })
}

/// Checks every annotation of the controller's namespaces on `object` against the annotation
/// table of the version the sandbox simulates (`meshctl-controller-facts`): an unknown name or a
/// value not in its documented format is a build error naming the annotation.
pub(crate) fn check_annotations(object: &serde_json::Value, what: &str) -> Result<(), String> {
    use meshctl_controller_facts::annotations::{check_annotation, is_controller_annotation};
    for (name, value) in object["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if is_controller_annotation(name) {
            check_annotation(name, value.as_str().unwrap_or_default())
                .map_err(|e| format!("{what}: {e}"))?;
        }
    }
    Ok(())
}

/// A target group, named after its content so that a change of port or protocol makes a new one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TargetGroupModel {
    pub name: String,
    /// The value of the resource tag: `namespace/ingress-service:port` or `namespace/service:port`.
    pub resource_id: String,
    pub protocol: String,
    pub port: i32,
    /// "instance" or "ip".
    pub target_type: String,
    pub health: HealthCheck,
    /// The Service port whose nodes or Pods are registered as targets (`targets`).
    pub backend: super::targets::Backend,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HealthCheck {
    pub protocol: String,
    /// "traffic-port" or a port number.
    pub port: String,
    /// Only for HTTP/HTTPS health checks.
    pub path: Option<String>,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    /// The success codes (HTTP/HTTPS health checks of ALBs only).
    pub success_codes: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListenerModel {
    pub port: i32,
    pub protocol: String,
    /// The first is the default certificate.
    pub certificates: Vec<String>,
    pub ssl_policy: Option<String>,
    pub default_action: ActionModel,
    /// In priority order (1, 2, …).
    pub rules: Vec<RuleModel>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleModel {
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub action: ActionModel,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ActionModel {
    /// To the target group of this name.
    Forward(String),
    Redirect {
        protocol: Option<String>,
        port: Option<String>,
        host: Option<String>,
        path: Option<String>,
        query: Option<String>,
        status_code: String,
    },
    FixedResponse {
        status_code: String,
        content_type: Option<String>,
        body: Option<String>,
    },
    /// To a target group given by ARN in an `actions.*` annotation.
    ForwardArn(String),
}

impl ActionModel {
    /// A comparable form; `tg_arn` maps target group names to ARNs.
    pub(crate) fn key(&self, tg_arn: &(dyn Fn(&str) -> String + Sync)) -> String {
        match self {
            ActionModel::Forward(name) => format!("forward:{}", tg_arn(name)),
            ActionModel::ForwardArn(arn) => format!("forward:{arn}"),
            ActionModel::Redirect {
                protocol,
                port,
                host,
                path,
                query,
                status_code,
            } => redirect_key(
                protocol.as_deref(),
                port.as_deref(),
                host.as_deref(),
                path.as_deref(),
                query.as_deref(),
                status_code,
            ),
            ActionModel::FixedResponse {
                status_code,
                content_type,
                body,
            } => format!(
                "fixed:{status_code}:{}:{}",
                content_type.as_deref().unwrap_or_default(),
                body.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// The comparable form of a redirect, with AWS's defaults filled in.
pub(crate) fn redirect_key(
    protocol: Option<&str>,
    port: Option<&str>,
    host: Option<&str>,
    path: Option<&str>,
    query: Option<&str>,
    status_code: &str,
) -> String {
    format!(
        "redirect:{}:{}:{}:{}:{}:{status_code}",
        protocol.unwrap_or("#{protocol}"),
        port.unwrap_or("#{port}"),
        host.unwrap_or("#{host}"),
        path.unwrap_or("/#{path}"),
        query.unwrap_or("#{query}"),
    )
}

/// The comparable form of a rule's conditions.
pub(crate) fn conditions_key(hosts: &[String], paths: &[String]) -> String {
    format!("host={};path={}", hosts.join(","), paths.join(","))
}

/// `k8s-<a>-<b>-<hash>`: the real controller's naming scheme, at most 32 characters of
/// `[a-zA-Z0-9-]`.
pub(crate) fn k8s_name(a: &str, b: &str, hash_input: &str) -> String {
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(n)
            .collect()
    };
    let hash = format!("{:016x}", fnv64(hash_input));
    format!("k8s-{}-{}-{}", clean(a, 8), clean(b, 8), &hash[..10])
}

/// `k8s-<group>-<hash>`: the name of an explicit IngressGroup's balancer.
pub(crate) fn k8s_group_name(group: &str, hash_input: &str) -> String {
    let clean: String = group
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(17)
        .collect();
    let hash = format!("{:016x}", fnv64(hash_input));
    format!("k8s-{clean}-{}", &hash[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_stable() {
        let a = k8s_name("istio-system", "istio-ingressgateway-alb", "x");
        assert_eq!(a, k8s_name("istio-system", "istio-ingressgateway-alb", "x"));
        assert_ne!(a, k8s_name("istio-system", "istio-ingressgateway-alb", "y"));
        assert!(a.len() <= 32, "{a}");
        assert!(a.starts_with("k8s-istiosys-istioing-"), "{a}");
    }

    #[test]
    fn redirect_defaults_compare_equal_to_explicit_defaults() {
        assert_eq!(
            redirect_key(Some("HTTPS"), Some("443"), None, None, None, "HTTP_301"),
            redirect_key(
                Some("HTTPS"),
                Some("443"),
                Some("#{host}"),
                Some("/#{path}"),
                Some("#{query}"),
                "HTTP_301"
            )
        );
    }
}
