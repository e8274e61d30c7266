//! The Pods of workloads, as the ReplicaSet, StatefulSet and DaemonSet controllers and the kubelet
//! would keep them: one Pod per replica from the workload's template (its labels, a pod IP, the
//! node it runs on), `Ready` once the rollout delay has passed, removed when the workload scales
//! down or goes. Endpoints follow these Pods (`kube::endpoints`).
//!
//! Simplified: a Deployment owns its Pods directly (no ReplicaSet in between; the Pods still carry
//! `pod-template-hash`); a template change starts new Pods and removes the old ones once the new
//! are ready; a DaemonSet runs one Pod; Pods are spread over the Node objects that exist, and run
//! with no `nodeName` when there are none (a real cluster would keep them Pending).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::clock;
use super::resources::Gvr;
use super::store::{Store, WriteOptions};

/// The manager Pods are written as (the kubelet reports their status in a real cluster).
const MANAGER: &str = "sandbox-kubelet";
/// The label Deployment Pods carry: the hash of the template that made them.
pub const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

pub(crate) fn pods() -> Gvr {
    Gvr::new("", "v1", "pods")
}

pub(crate) fn nodes() -> Gvr {
    Gvr::new("", "v1", "nodes")
}

/// Pod IPs come from 10.244.0.0/16, one per Pod, never reused in a process.
fn next_pod_ip() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 65_000 + 1;
    format!("10.244.{}.{}", n / 250, n % 250 + 2)
}

/// A stable hash of the text in `len` of the characters Kubernetes uses for generated names
/// (as in a pod-template-hash).
fn short_hash(text: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash = crate::controllers::fnv64(text);
    (0..len)
        .map(|_| {
            let c = ALPHABET[(hash % ALPHABET.len() as u64) as usize] as char;
            hash /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// The Pods a workload wants: their names, in replica order, and the template hash they carry.
fn wanted(kind: &str, workload: &Value) -> (Vec<String>, String) {
    let name = workload["metadata"]["name"].as_str().unwrap_or_default();
    let template = &workload["spec"]["template"];
    let hash = short_hash(&template.to_string(), 10);
    let replicas = match kind {
        "daemonsets" => 1,
        _ => workload["spec"]["replicas"].as_i64().unwrap_or(1).max(0),
    };
    let names = (0..replicas)
        .map(|i| match kind {
            "statefulsets" => format!("{name}-{i}"),
            "deployments" => format!("{name}-{hash}-{}", short_hash(&format!("{hash}/{i}"), 5)),
            _ => format!("{name}-{}", short_hash(&format!("{hash}/{i}"), 5)),
        })
        .collect();
    (names, hash)
}

fn kind_of(resource: &str) -> &'static str {
    match resource {
        "deployments" => "Deployment",
        "statefulsets" => "StatefulSet",
        "daemonsets" => "DaemonSet",
        _ => "ReplicaSet",
    }
}

/// The Pods `workload` (by uid) controls in its namespace.
pub(crate) fn owned_pods(store: &Store, namespace: Option<&str>, uid: &str) -> Vec<Value> {
    store
        .list(&pods(), namespace)
        .unwrap_or_default()
        .into_iter()
        .filter(|pod| {
            pod["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|owners| owners.iter().any(|o| o["uid"] == uid))
        })
        .collect()
}

/// Ready Nodes by name, with their InternalIP, for scheduling.
fn schedulable_nodes(store: &Store) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = store
        .list(&nodes(), None)
        .unwrap_or_default()
        .into_iter()
        .filter(|node| {
            !node["metadata"]["deletionTimestamp"].is_string()
                && node["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
        .map(|node| {
            let name = node["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let ip = node["status"]["addresses"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                .and_then(|a| a["address"].as_str())
                .unwrap_or_default()
                .to_string();
            (name, ip)
        })
        .collect();
    found.sort();
    found
}

/// Step one of a rollout, at once: creates the wanted Pods that are missing (not ready yet) and
/// removes the surplus of the current template (a scale-down). Pods of an older template stay
/// until [`finish_rollout`].
pub(crate) fn start_rollout(store: &Store, gvr: &Gvr, workload: &Value) {
    let Some(uid) = workload["metadata"]["uid"].as_str() else {
        return;
    };
    let namespace = workload["metadata"]["namespace"].as_str();
    let (names, hash) = wanted(&gvr.resource, workload);
    let existing = owned_pods(store, namespace, uid);
    let nodes = schedulable_nodes(store);
    for (index, name) in names.iter().enumerate() {
        if existing
            .iter()
            .any(|p| p["metadata"]["name"] == name.as_str())
        {
            continue;
        }
        let node = (!nodes.is_empty()).then(|| &nodes[index % nodes.len()]);
        let pod = new_pod(gvr, workload, name, &hash, node.map(|n| n.0.as_str()));
        // A concurrent reconcile may have made it already: AlreadyExists is fine.
        if let Ok(created) = store.create(&pods(), namespace, pod, &WriteOptions::manager(MANAGER))
        {
            let status = pod_status(&created, node.map(|n| n.1.as_str()), &next_pod_ip(), false);
            let _ = store.apply_status(&pods(), namespace, name, status, MANAGER);
        }
    }
    for pod in &existing {
        let same_template = pod_hash(pod) == hash;
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        if same_template && !names.iter().any(|n| n == name) {
            let _ = store.delete(&pods(), namespace, name, &WriteOptions::manager(MANAGER));
        }
    }
}

/// Step two, after the rollout delay: the current template's Pods report ready, and Pods of
/// older templates go.
pub(crate) fn finish_rollout(store: &Store, gvr: &Gvr, workload: &Value) {
    let Some(uid) = workload["metadata"]["uid"].as_str() else {
        return;
    };
    let namespace = workload["metadata"]["namespace"].as_str();
    let (names, hash) = wanted(&gvr.resource, workload);
    for pod in owned_pods(store, namespace, uid) {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        if pod_hash(&pod) != hash || !names.iter().any(|n| n == name) {
            let _ = store.delete(&pods(), namespace, name, &WriteOptions::manager(MANAGER));
        } else if !is_ready(&pod) {
            let status = pod_status(
                &pod,
                pod["status"]["hostIP"].as_str(),
                pod["status"]["podIP"].as_str().unwrap_or("10.244.0.1"),
                true,
            );
            let _ = store.apply_status(&pods(), namespace, name, status, MANAGER);
        }
    }
}

/// Removes the Pods of a workload that is gone (the garbage collector's part).
pub(crate) fn remove_orphans(store: &Store, namespace: Option<&str>, uid: &str) {
    for pod in owned_pods(store, namespace, uid) {
        if let Some(name) = pod["metadata"]["name"].as_str() {
            let _ = store.delete(&pods(), namespace, name, &WriteOptions::manager(MANAGER));
        }
    }
}

/// The template hash a Pod was made from (Deployment Pods: `pod-template-hash`; StatefulSet and
/// DaemonSet Pods: `controller-revision-hash`).
fn pod_hash(pod: &Value) -> String {
    pod["metadata"]["labels"][TEMPLATE_HASH_LABEL]
        .as_str()
        .or_else(|| pod["metadata"]["labels"]["controller-revision-hash"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// True when the Pod's `Ready` condition is True.
pub fn is_ready(pod: &Value) -> bool {
    !pod["metadata"]["deletionTimestamp"].is_string()
        && pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn new_pod(gvr: &Gvr, workload: &Value, name: &str, hash: &str, node: Option<&str>) -> Value {
    let template = &workload["spec"]["template"];
    let mut labels = template["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let hash_label = if gvr.resource == "deployments" || gvr.resource == "replicasets" {
        TEMPLATE_HASH_LABEL
    } else {
        "controller-revision-hash"
    };
    labels.insert(hash_label.to_string(), json!(hash));
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(name));
    metadata.insert("labels".into(), Value::Object(labels));
    if let Some(annotations) = template["metadata"]["annotations"].as_object() {
        metadata.insert("annotations".into(), Value::Object(annotations.clone()));
    }
    metadata.insert(
        "ownerReferences".into(),
        json!([{
            "apiVersion": "apps/v1",
            "kind": kind_of(&gvr.resource),
            "name": workload["metadata"]["name"],
            "uid": workload["metadata"]["uid"],
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
    );
    let mut spec = template["spec"].clone();
    if let (Some(node), Some(spec)) = (node, spec.as_object_mut()) {
        spec.insert("nodeName".into(), json!(node));
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

/// What the kubelet reports for a running Pod.
fn pod_status(pod: &Value, host_ip: Option<&str>, pod_ip: &str, ready: bool) -> Value {
    let now = clock::now_rfc3339();
    let since = pod["status"]["startTime"]
        .as_str()
        .unwrap_or(&now)
        .to_string();
    let ready_text = if ready { "True" } else { "False" };
    let condition = |kind: &str, status: &str| json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "name": c["name"], "image": c["image"], "imageID": "",
                "ready": ready, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": since}},
            })
        })
        .collect();
    let mut status = json!({
        "phase": "Running",
        "conditions": [
            condition("PodScheduled", "True"),
            condition("Initialized", "True"),
            condition("ContainersReady", ready_text),
            condition("Ready", ready_text),
        ],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": since,
        "containerStatuses": containers,
        "qosClass": "BestEffort",
    });
    if let Some(host) = host_ip.filter(|h| !h.is_empty()) {
        status["hostIP"] = json!(host);
        status["hostIPs"] = json!([{"ip": host}]);
    }
    status
}

/// Deletes the Pods of workloads as they are deleted (ownerReferences garbage collection).
pub(crate) fn spawn_garbage_collector(store: Arc<Store>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = store.subscribe();
        loop {
            match events.recv().await {
                Ok(change) => {
                    let workload = change.resource.group == "apps"
                        && matches!(
                            change.resource.resource.as_str(),
                            "deployments" | "statefulsets" | "daemonsets" | "replicasets"
                        );
                    if workload && change.event == super::store::EventType::Deleted {
                        if let Some(uid) = change.object["metadata"]["uid"].as_str() {
                            remove_orphans(&store, change.namespace.as_deref(), uid);
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_pods_are_named_by_template_and_replica() {
        let deployment = json!({
            "metadata": {"name": "gw"},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "gw"}}}},
        });
        let (names, hash) = wanted("deployments", &deployment);
        assert_eq!(names.len(), 2);
        assert!(names[0].starts_with(&format!("gw-{hash}-")), "{names:?}");
        assert_ne!(names[0], names[1]);
        let (sts, _) = wanted("statefulsets", &deployment);
        assert_eq!(sts, ["gw-0", "gw-1"]);
    }
}
