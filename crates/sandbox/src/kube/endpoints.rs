//! The endpoints and EndpointSlice controllers: every Service with a selector gets an `Endpoints`
//! object (same name) and one `discovery.k8s.io/v1` EndpointSlice listing the Pods it selects,
//! kept in step as Pods come, go and turn ready. Ready Pods are `addresses` (slices:
//! `conditions.ready: true`), the others `notReadyAddresses`; a `targetPort` is a number or the
//! name of a container port of each Pod. Services without a selector are left alone (their
//! endpoints are whoever writes them), as in a real cluster.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::pods::{is_ready, pods};
use super::resources::Gvr;
use super::store::{EventType, Store, WriteOptions};

const MANAGER: &str = "endpoint-controller";
/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn services() -> Gvr {
    Gvr::new("", "v1", "services")
}

pub(crate) fn endpoints() -> Gvr {
    Gvr::new("", "v1", "endpoints")
}

pub(crate) fn endpoint_slices() -> Gvr {
    Gvr::new("discovery.k8s.io", "v1", "endpointslices")
}

/// Starts the controller: all namespaces at once, then each namespace whose Services or Pods
/// change.
pub(crate) fn spawn(store: Arc<Store>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = store.subscribe();
        let all = |store: &Store| {
            let namespaces: BTreeSet<String> = store
                .list(&services(), None)
                .unwrap_or_default()
                .iter()
                .filter_map(|s| s["metadata"]["namespace"].as_str().map(str::to_string))
                .collect();
            for namespace in namespaces {
                sync_namespace(store, &namespace);
            }
        };
        all(&store);
        loop {
            match events.recv().await {
                Ok(change) => {
                    let relevant = change.resource.group.is_empty()
                        && matches!(change.resource.resource.as_str(), "pods" | "services");
                    let Some(namespace) = change.namespace.as_deref().filter(|_| relevant) else {
                        continue;
                    };
                    if change.resource.resource == "services" && change.event == EventType::Deleted
                    {
                        remove(&store, namespace, &change.name);
                    }
                    sync_namespace(&store, namespace);
                }
                Err(RecvError::Lagged(_)) => all(&store),
                Err(RecvError::Closed) => return,
            }
        }
    })
}

fn remove(store: &Store, namespace: &str, service: &str) {
    let opts = WriteOptions::manager(MANAGER);
    let _ = store.delete(&endpoints(), Some(namespace), service, &opts);
    for slice in store
        .list(&endpoint_slices(), Some(namespace))
        .unwrap_or_default()
    {
        if slice["metadata"]["labels"][SERVICE_NAME_LABEL] == service {
            if let Some(name) = slice["metadata"]["name"].as_str() {
                let _ = store.delete(&endpoint_slices(), Some(namespace), name, &opts);
            }
        }
    }
}

/// Brings the Endpoints and EndpointSlice of every selecting Service in `namespace` up to date.
fn sync_namespace(store: &Store, namespace: &str) {
    let pods = store.list(&pods(), Some(namespace)).unwrap_or_default();
    for service in store.list(&services(), Some(namespace)).unwrap_or_default() {
        let Some(selector) = service["spec"]["selector"].as_object() else {
            continue;
        };
        if selector.is_empty() || is_deleting(&service) {
            continue;
        }
        let selected: Vec<&Value> = pods
            .iter()
            .filter(|pod| {
                !is_deleting(pod)
                    && pod["status"]["podIP"].is_string()
                    && selector
                        .iter()
                        .all(|(key, value)| &pod["metadata"]["labels"][key] == value)
            })
            .collect();
        write_endpoints(store, namespace, &service, &selected);
        write_slice(store, namespace, &service, &selected);
    }
}

fn is_deleting(object: &Value) -> bool {
    object["metadata"]["deletionTimestamp"].is_string()
}

/// The port a Service port reaches on this Pod: a `targetPort` number, a container port's name,
/// or (no targetPort) the Service port itself. None when the Pod has no port of that name.
pub fn resolve_target_port(service_port: &Value, pod: &Value) -> Option<i64> {
    match &service_port["targetPort"] {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => match name.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => pod["spec"]["containers"]
                .as_array()?
                .iter()
                .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                .find(|p| p["name"] == name.as_str())
                .and_then(|p| p["containerPort"].as_i64()),
        },
        _ => service_port["port"].as_i64(),
    }
}

/// A Service's ports as one Pod serves them: `(name, port, protocol)`.
type PodPorts = Vec<(Option<String>, i64, String)>;

/// The Service's ports as this Pod serves them.
fn pod_ports(service: &Value, pod: &Value) -> PodPorts {
    service["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let port = resolve_target_port(p, pod)?;
            Some((
                p["name"].as_str().map(str::to_string),
                port,
                p["protocol"].as_str().unwrap_or("TCP").to_string(),
            ))
        })
        .collect()
}

fn target_ref(pod: &Value) -> Value {
    json!({
        "kind": "Pod",
        "namespace": pod["metadata"]["namespace"],
        "name": pod["metadata"]["name"],
        "uid": pod["metadata"]["uid"],
    })
}

fn address(pod: &Value) -> Value {
    let mut address = json!({"ip": pod["status"]["podIP"], "targetRef": target_ref(pod)});
    if let Some(node) = pod["spec"]["nodeName"].as_str() {
        address["nodeName"] = json!(node);
    }
    address
}

fn owner(service: &Value) -> Value {
    json!([{
        "apiVersion": "v1",
        "kind": "Service",
        "name": service["metadata"]["name"],
        "uid": service["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

/// Writes `object` when it differs from what is stored (only spec-like fields compared).
fn put(store: &Store, gvr: &Gvr, namespace: &str, object: Value, compare: &[&str]) {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let opts = WriteOptions::manager(MANAGER);
    match store.get(gvr, Some(namespace), &name) {
        Ok(mut existing) => {
            let same = compare.iter().all(|key| existing[*key] == object[*key])
                && existing["metadata"]["labels"] == object["metadata"]["labels"];
            if same {
                return;
            }
            for key in compare {
                existing[*key] = object[*key].clone();
            }
            existing["metadata"]["labels"] = object["metadata"]["labels"].clone();
            if let Some(meta) = existing["metadata"].as_object_mut() {
                meta.remove("resourceVersion");
            }
            let _ = store.update(gvr, Some(namespace), &name, None, existing, &opts);
        }
        Err(_) => {
            let _ = store.create(gvr, Some(namespace), object, &opts);
        }
    }
}

fn write_endpoints(store: &Store, namespace: &str, service: &Value, selected: &[&Value]) {
    // One subset per distinct port list (Pods naming their ports differently land apart).
    let mut subsets: Vec<(PodPorts, Vec<Value>, Vec<Value>)> = Vec::new();
    for pod in selected {
        let ports = pod_ports(service, pod);
        if ports.is_empty() {
            continue;
        }
        let index = match subsets.iter().position(|s| s.0 == ports) {
            Some(i) => i,
            None => {
                subsets.push((ports, Vec::new(), Vec::new()));
                subsets.len() - 1
            }
        };
        let subset = &mut subsets[index];
        if is_ready(pod) {
            subset.1.push(address(pod));
        } else {
            subset.2.push(address(pod));
        }
    }
    let subsets: Vec<Value> = subsets
        .into_iter()
        .map(|(ports, ready, not_ready)| {
            let mut subset = json!({
                "ports": ports.iter().map(|(name, port, protocol)| {
                    let mut p = json!({"port": port, "protocol": protocol});
                    if let Some(name) = name {
                        p["name"] = json!(name);
                    }
                    p
                }).collect::<Vec<_>>(),
            });
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            subset
        })
        .collect();
    let name = service["metadata"]["name"].clone();
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace, "labels": service["metadata"]["labels"].clone()},
    });
    if object["metadata"]["labels"].is_null() {
        object["metadata"]["labels"] = json!({});
    }
    if !subsets.is_empty() {
        object["subsets"] = json!(subsets);
    }
    put(store, &endpoints(), namespace, object, &["subsets"]);
}

fn write_slice(store: &Store, namespace: &str, service: &Value, selected: &[&Value]) {
    let service_name = service["metadata"]["name"].as_str().unwrap_or_default();
    let mut ports: Vec<Value> = Vec::new();
    let mut endpoints: Vec<Value> = Vec::new();
    for pod in selected {
        let pod_ports = pod_ports(service, pod);
        if pod_ports.is_empty() {
            continue;
        }
        if ports.is_empty() {
            ports = pod_ports
                .iter()
                .map(|(name, port, protocol)| {
                    json!({"name": name.clone().unwrap_or_default(), "port": port, "protocol": protocol})
                })
                .collect();
        }
        let ready = is_ready(pod);
        let mut endpoint = json!({
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": ready, "serving": ready, "terminating": false},
            "targetRef": target_ref(pod),
        });
        if let Some(node) = pod["spec"]["nodeName"].as_str() {
            endpoint["nodeName"] = json!(node);
        }
        endpoints.push(endpoint);
    }
    let mut labels = service["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert(SERVICE_NAME_LABEL.into(), json!(service_name));
    labels.insert(
        "endpointslice.kubernetes.io/managed-by".into(),
        json!("endpointslice-controller.k8s.io"),
    );
    let object = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": format!("{service_name}-{}", &format!("{:016x}", crate::controllers::fnv64(service_name))[..5]),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": owner(service),
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    });
    put(
        store,
        &endpoint_slices(),
        namespace,
        object,
        &["endpoints", "ports"],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_port_is_a_number_a_container_port_name_or_the_service_port() {
        let pod = json!({"spec": {"containers": [
            {"name": "istio-proxy", "ports": [{"name": "status-port", "containerPort": 15021}]}
        ]}});
        let port = |p: Value| resolve_target_port(&p, &pod);
        assert_eq!(port(json!({"port": 80, "targetPort": 8080})), Some(8080));
        assert_eq!(
            port(json!({"port": 15021, "targetPort": "status-port"})),
            Some(15021)
        );
        assert_eq!(port(json!({"port": 80, "targetPort": "http"})), None);
        assert_eq!(port(json!({"port": 80})), Some(80));
    }
}
