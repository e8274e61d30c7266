//! The controllers a cluster runs that need no AWS: the namespace controller empties and removes
//! Terminating namespaces; workload controllers (Deployments, StatefulSets, DaemonSets,
//! ReplicaSets) start a Pod per replica at once (`kube::pods`) and report them and every replica
//! ready after the rollout delay; the endpoints controller (`kube::endpoints`) follows the ready
//! Pods. Service IPs and nodePorts are allocated at admission (store), where a bad request must
//! fail the write.
//! `spawn_controller` is the plumbing later controllers (AWS Load Balancer Controller,
//! cert-manager) plug into.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::clock;
use super::resources::Gvr;
use super::store::{EventType, Store};

/// The manager name controllers write status as.
pub const CONTROLLER_MANAGER: &str = "sandbox-controller-manager";

/// Runs `reconcile(store, namespace, name)` for every object of `gvr` at start, after each
/// change to one (deletions excluded), and for all of them again whenever the change stream was
/// missed (lag). Each reconcile runs in its own task, so a slow one delays nothing else.
pub fn spawn_controller<F, Fut>(store: Arc<Store>, gvr: Gvr, reconcile: F) -> JoinHandle<()>
where
    F: Fn(Arc<Store>, Option<String>, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let reconcile = Arc::new(reconcile);
    tokio::spawn(async move {
        let gr = gvr.group_resource();
        let mut events = store.subscribe();
        let resync = |store: &Arc<Store>| {
            for object in store.list(&gvr, None).unwrap_or_default() {
                let ns = object["metadata"]["namespace"].as_str().map(str::to_string);
                let name = object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                tokio::spawn(reconcile(store.clone(), ns, name));
            }
        };
        resync(&store);
        loop {
            match events.recv().await {
                Ok(change) => {
                    if change.resource != gr || change.event == EventType::Deleted {
                        continue;
                    }
                    tokio::spawn(reconcile(store.clone(), change.namespace, change.name));
                }
                Err(RecvError::Lagged(_)) => resync(&store),
                Err(RecvError::Closed) => return,
            }
        }
    })
}

fn replicas(object: &Value) -> i64 {
    object["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// A condition that keeps its transition time while its status does not change.
fn condition(previous: &Value, kind: &str, reason: &str, message: &str, now: &str) -> Value {
    let old = previous["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind));
    let since = old
        .filter(|c| c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now);
    json!({
        "type": kind, "status": "True", "reason": reason, "message": message,
        "lastUpdateTime": since, "lastTransitionTime": since,
    })
}

/// The status a healthy workload controller would report for `object`.
fn workload_status(kind: &str, object: &Value, now: &str) -> Value {
    let n = replicas(object);
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let previous = &object["status"];
    match kind {
        "deployments" => json!({
            "observedGeneration": generation,
            "replicas": n, "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n,
            "conditions": [
                condition(previous, "Available", "MinimumReplicasAvailable", "Deployment has minimum availability.", now),
                condition(previous, "Progressing", "NewReplicaSetAvailable",
                          &format!("ReplicaSet \"{name}\" has successfully progressed."), now),
            ],
        }),
        "statefulsets" => json!({
            "observedGeneration": generation,
            "replicas": n, "readyReplicas": n, "currentReplicas": n, "updatedReplicas": n,
            "availableReplicas": n,
            "currentRevision": format!("{name}-{generation}"),
            "updateRevision": format!("{name}-{generation}"),
        }),
        "daemonsets" => json!({
            "observedGeneration": generation,
            "desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 1,
            "numberAvailable": 1, "updatedNumberScheduled": 1, "numberMisscheduled": 0,
        }),
        _ => json!({
            "observedGeneration": generation,
            "replicas": n, "fullyLabeledReplicas": n, "readyReplicas": n, "availableReplicas": n,
        }),
    }
}

/// Starts the namespace and workload controllers; `delay` is how long a rollout or a namespace
/// deletion "takes".
pub(crate) fn spawn_builtin(store: Arc<Store>, delay: Duration) -> Vec<JoinHandle<()>> {
    let namespaces = spawn_controller(
        store.clone(),
        Gvr::new("", "v1", "namespaces"),
        move |store, _, name| async move {
            let terminating = store
                .get(&Gvr::new("", "v1", "namespaces"), None, &name)
                .is_ok_and(|ns| ns["metadata"]["deletionTimestamp"].is_string());
            if terminating {
                tokio::time::sleep(delay).await;
                store.finalize_namespace(&name);
            }
        },
    );
    let mut handles = vec![
        namespaces,
        super::pods::spawn_garbage_collector(store.clone()),
        super::endpoints::spawn(store.clone()),
    ];
    handles.extend(workload_controllers(store, delay));
    handles
}

fn workload_controllers(store: Arc<Store>, delay: Duration) -> Vec<JoinHandle<()>> {
    ["deployments", "statefulsets", "daemonsets", "replicasets"]
        .into_iter()
        .map(|resource| {
            let gvr = Gvr::new("apps", "v1", resource);
            let target = gvr.clone();
            spawn_controller(store.clone(), gvr, move |store, ns, name| {
                let gvr = target.clone();
                async move {
                    if let Ok(object) = store.get(&gvr, ns.as_deref(), &name) {
                        if !object["metadata"]["deletionTimestamp"].is_string() {
                            super::pods::start_rollout(&store, &gvr, &object);
                        }
                    }
                    tokio::time::sleep(delay).await;
                    let Ok(object) = store.get(&gvr, ns.as_deref(), &name) else {
                        return;
                    };
                    if object["metadata"]["deletionTimestamp"].is_string() {
                        return;
                    }
                    super::pods::finish_rollout(&store, &gvr, &object);
                    let status = workload_status(&gvr.resource, &object, &clock::now_rfc3339());
                    if status != object["status"] {
                        // A concurrent delete or update is fine: the next event reconciles again.
                        let _ = store.apply_status(
                            &gvr,
                            ns.as_deref(),
                            &name,
                            status,
                            CONTROLLER_MANAGER,
                        );
                    }
                }
            })
        })
        .collect()
}
