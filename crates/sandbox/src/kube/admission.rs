//! What the API server checks and fills in on every write: object names, Service cluster IPs
//! and nodePorts (with the messages real clusters give), namespace and CRD status, defaults.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use super::resources::ResourceDef;
use super::status::ApiError;

pub const NODE_PORT_MIN: u16 = 30000;
pub const NODE_PORT_MAX: u16 = 32767;

fn is_label(s: &str, first_alpha: bool) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 63
        && if first_alpha {
            b[0].is_ascii_lowercase()
        } else {
            alnum(&b[0])
        }
        && alnum(&b[b.len() - 1])
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|l| is_label(l, false))
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// Checks metadata.name the way the resource's real validation does: namespaces are RFC 1123
/// labels, services DNS-1035 labels, RBAC objects path segments, everything else subdomains.
pub fn validate_name(def: &ResourceDef, name: &str) -> Result<(), ApiError> {
    let invalid = |detail: String| {
        ApiError::invalid(
            &def.kind,
            &def.group,
            name,
            &[("metadata.name".to_string(), detail)],
        )
    };
    if name.is_empty() {
        return Err(invalid(
            "Required value: name or generateName is required".into(),
        ));
    }
    let problem = match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => (!is_label(name, false)).then_some(LABEL_MSG),
        ("", "services") => (!is_label(name, true)).then_some(DNS1035_MSG),
        ("rbac.authorization.k8s.io", _) => {
            (name == "." || name == ".." || name.contains('/') || name.contains('%'))
                .then_some("may not contain '/' or '%'")
        }
        _ => (!is_subdomain(name)).then_some(SUBDOMAIN_MSG),
    };
    match problem {
        Some(msg) => Err(invalid(format!("Invalid value: {name:?}: {msg}"))),
        None => Ok(()),
    }
}

fn needs_node_ports(spec: &Value) -> bool {
    match spec["type"].as_str() {
        Some("NodePort") => true,
        Some("LoadBalancer") => spec["allocateLoadBalancerNodePorts"].as_bool() != Some(false),
        _ => false,
    }
}

/// Cluster IPs and nodePorts in use by services other than the one being written.
pub struct Allocated {
    pub cluster_ips: BTreeSet<String>,
    pub node_ports: BTreeSet<u16>,
}

impl Allocated {
    pub fn from_services<'a>(services: impl Iterator<Item = &'a Value>) -> Self {
        let mut cluster_ips = BTreeSet::new();
        let mut node_ports = BTreeSet::new();
        for svc in services {
            if let Some(ip) = svc["spec"]["clusterIP"].as_str() {
                cluster_ips.insert(ip.to_string());
            }
            for p in svc["spec"]["ports"].as_array().into_iter().flatten() {
                if let Some(n) = p["nodePort"].as_u64().and_then(|n| u16::try_from(n).ok()) {
                    node_ports.insert(n);
                }
            }
        }
        Self {
            cluster_ips,
            node_ports,
        }
    }
}

fn port_identity(p: &Value) -> (Option<u64>, String) {
    (
        p["port"].as_u64(),
        p["protocol"].as_str().unwrap_or("TCP").to_string(),
    )
}

/// Allocates (or keeps) the Service's cluster IP from 10.100.0.0/16 and nodePorts from
/// 30000–32767; a taken or out-of-range request is 422 Invalid.
pub fn admit_service(
    name: &str,
    new: &mut Value,
    old: Option<&Value>,
    taken: &Allocated,
) -> Result<(), ApiError> {
    let mut causes: Vec<(String, String)> = Vec::new();
    let Some(spec) = new.get_mut("spec").filter(|s| s.is_object()) else {
        return Err(ApiError::invalid(
            "Service",
            "",
            name,
            &[("spec.ports".into(), "Required value".into())],
        ));
    };
    if spec["type"].is_null() {
        spec["type"] = json!("ClusterIP");
    }
    let svc_type = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    let old_spec = old.map(|o| &o["spec"]);

    if svc_type == "ExternalName" {
        if let Some(map) = spec.as_object_mut() {
            map.remove("clusterIP");
            map.remove("clusterIPs");
        }
    } else {
        let requested = spec["clusterIP"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let previous = old_spec
            .and_then(|s| s["clusterIP"].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let ip = match (requested, previous) {
            (Some(r), Some(p)) if r != p => {
                causes.push((
                    "spec.clusterIPs[0]".into(),
                    format!("Invalid value: {r:?}: may not change once set"),
                ));
                p
            }
            (_, Some(p)) => p,
            (Some(r), None) if r == "None" => r,
            (Some(r), None) => {
                let in_range = r
                    .parse::<Ipv4Addr>()
                    .is_ok_and(|a| a.octets()[0] == 10 && a.octets()[1] == 100);
                if !in_range {
                    causes.push((
                        "spec.clusterIPs".into(),
                        format!("Invalid value: []string{{{r:?}}}: failed to allocate IP {r}: the provided network does not match the current range"),
                    ));
                } else if taken.cluster_ips.contains(&r) {
                    causes.push((
                        "spec.clusterIPs".into(),
                        format!("Invalid value: []string{{{r:?}}}: failed to allocate IP {r}: provided IP is already allocated"),
                    ));
                }
                r
            }
            (None, None) => {
                let free = (10u32..65_534).find_map(|i| {
                    let ip = format!("10.100.{}.{}", i / 256, i % 256);
                    (!taken.cluster_ips.contains(&ip)).then_some(ip)
                });
                match free {
                    Some(ip) => ip,
                    None => {
                        return Err(ApiError::internal(
                            "failed to allocate a serviceIP: range is full",
                        ))
                    }
                }
            }
        };
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
    }

    let wants_node_ports = needs_node_ports(spec);
    let old_ports: Vec<Value> = old_spec
        .filter(|s| needs_node_ports(s))
        .and_then(|s| s["ports"].as_array().cloned())
        .unwrap_or_default();
    let mut used: BTreeSet<u16> = taken.node_ports.clone();
    let mut to_allocate = Vec::new();
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for (i, p) in ports.iter_mut().enumerate() {
            let Some(port) = p.as_object_mut() else {
                continue;
            };
            if !wants_node_ports {
                port.remove("nodePort");
                continue;
            }
            match port
                .get("nodePort")
                .and_then(Value::as_u64)
                .filter(|n| *n != 0)
            {
                Some(n) => {
                    let field = format!("spec.ports[{i}].nodePort");
                    let kept = old_ports
                        .iter()
                        .any(|op| op["nodePort"].as_u64() == Some(n));
                    if !(u64::from(NODE_PORT_MIN)..=u64::from(NODE_PORT_MAX)).contains(&n) {
                        causes.push((field, format!("Invalid value: {n}: provided port is not in the valid range. The range of valid ports is {NODE_PORT_MIN}-{NODE_PORT_MAX}")));
                    } else if used.contains(&(n as u16)) && !kept {
                        causes.push((
                            field,
                            format!("Invalid value: {n}: provided port is already allocated"),
                        ));
                    } else {
                        used.insert(n as u16);
                    }
                }
                None => {
                    let id = port_identity(&Value::Object(port.clone()));
                    let previous = old_ports
                        .iter()
                        .find(|op| port_identity(op) == id)
                        .and_then(|op| op["nodePort"].as_u64());
                    match previous {
                        Some(n) => {
                            port.insert("nodePort".into(), json!(n));
                            used.insert(n as u16);
                        }
                        None => to_allocate.push(i),
                    }
                }
            }
        }
        for i in to_allocate {
            let in_range = used.range(NODE_PORT_MIN..=NODE_PORT_MAX).count();
            if in_range >= usize::from(NODE_PORT_MAX - NODE_PORT_MIN + 1) {
                return Err(ApiError::internal(
                    "failed to allocate a nodePort: range is full",
                ));
            }
            // Random like the real allocator, so tests do not come to rely on an order.
            let n = loop {
                let n = fastrand::u16(NODE_PORT_MIN..=NODE_PORT_MAX);
                if !used.contains(&n) {
                    break n;
                }
            };
            used.insert(n);
            if let Some(p) = ports.get_mut(i) {
                p["nodePort"] = json!(n);
            }
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("Service", "", name, &causes));
    }
    if new["status"].is_null() {
        new["status"] = json!({"loadBalancer": {}});
    }
    Ok(())
}

/// Namespaces are Active with the kubernetes finalizer and their name label, as real ones.
pub fn admit_namespace(name: &str, new: &mut Value) {
    if new["status"]["phase"].is_null() {
        new["status"] = json!({"phase": "Active"});
    }
    if new["spec"]["finalizers"].is_null() {
        new["spec"] = json!({"finalizers": ["kubernetes"]});
    }
    if !new["metadata"]["labels"].is_object() {
        new["metadata"]["labels"] = json!({});
    }
    new["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
}

/// A CRD's name must be `<plural>.<group>`; once stored it is Established at once.
pub fn admit_crd(name: &str, new: &mut Value) -> Result<(), ApiError> {
    let plural = new["spec"]["names"]["plural"].as_str().unwrap_or_default();
    let group = new["spec"]["group"].as_str().unwrap_or_default();
    if name != format!("{plural}.{group}") {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            &[(
                "metadata.name".into(),
                format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
            )],
        ));
    }
    let stored: Vec<Value> = new["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let now = super::clock::now_rfc3339();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    new["status"] = json!({
        "acceptedNames": new["spec"]["names"].clone(),
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    });
    Ok(())
}

/// Workload controllers default spec.replicas to 1.
pub fn default_replicas(new: &mut Value) {
    if new["spec"].is_object() && new["spec"]["replicas"].is_null() {
        new["spec"]["replicas"] = json!(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let reg = super::super::resources::Registry::builtin();
        let svc = reg.find("", "v1", "services").expect("services");
        let dep = reg.find("apps", "v1", "deployments").expect("deployments");
        assert!(validate_name(dep, "web.v1").is_ok());
        assert!(validate_name(svc, "web.v1").is_err());
        let err = validate_name(dep, "Bad_Name").expect_err("invalid");
        assert_eq!(err.code, 422);
        assert!(err
            .message
            .starts_with("Deployment.apps \"Bad_Name\" is invalid: metadata.name: Invalid value"));
    }

    #[test]
    fn node_ports() {
        let taken = Allocated::from_services(std::iter::once(&json!({
            "spec": {"clusterIP": "10.100.0.10", "ports": [{"port": 80, "nodePort": 30080}]}
        })));
        let mut svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        admit_service("s", &mut svc, None, &taken).expect("allocates");
        assert_eq!(svc["spec"]["clusterIP"], "10.100.0.11");
        for p in svc["spec"]["ports"].as_array().expect("ports") {
            let n = p["nodePort"].as_u64().expect("nodePort");
            assert!((30000..=32767).contains(&n) && n != 30080);
        }
        let mut clash =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}});
        let err = admit_service("c", &mut clash, None, &taken).expect_err("taken");
        assert_eq!(
            err.message,
            "Service \"c\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
        let mut out =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 40000}]}});
        let err = admit_service("o", &mut out, None, &taken).expect_err("range");
        assert!(err
            .message
            .contains("provided port is not in the valid range"));
    }
}
