//! The add-on controllers a real EKS cluster runs once their Helm charts are installed: the AWS
//! Load Balancer Controller (ALBs for `alb` Ingresses, NLBs for `external` LoadBalancer
//! Services, in moto) and cert-manager (Certificates become TLS Secrets).
//!
//! # When a controller is active
//!
//! A controller acts only while its add-on is *installed*, which here means what it means in a
//! real cluster: the add-on's controller Deployment exists (in any namespace, since Helm installs
//! into whichever namespace it is told) and is not being deleted. The Deployment is recognised by
//! its name or, when a Helm release name prefixed it, by its `app.kubernetes.io/name` label:
//!
//! | add-on                       | Deployment name / label         | usual namespace |
//! |------------------------------|---------------------------------|-----------------|
//! | AWS Load Balancer Controller | `aws-load-balancer-controller`  | `kube-system`   |
//! | cert-manager                 | `cert-manager`                  | `cert-manager`  |
//!
//! Without it, Ingresses, Services and Certificates stay as written (no finalizer, no status),
//! exactly as on a cluster without the add-on; installing it later reconciles what is already
//! there. The Load Balancer Controller reads its cluster name and VPC from its Deployment's
//! container arguments (`--cluster-name=…`, `--aws-vpc-id=…`, as the Helm chart writes them),
//! falling back to [`ControllerOptions::cluster_name`].

mod alb;
mod aws;
mod certmanager;
mod events;
mod frontend;
mod model;
mod nlb;
pub mod nodes;
mod queue;
pub mod targets;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::kube::{Gvr, Store};

pub use aws::{http_client, AwsClients};
pub(crate) use events::fnv64;

/// The Deployment whose presence switches the AWS Load Balancer Controller simulation on.
pub const LOAD_BALANCER_CONTROLLER_DEPLOYMENT: &str = "aws-load-balancer-controller";
/// The Deployment whose presence switches the cert-manager simulation on.
pub const CERT_MANAGER_DEPLOYMENT: &str = "cert-manager";
/// The finalizer the Load Balancer Controller puts on the Ingresses it manages.
pub const INGRESS_FINALIZER: &str = "ingress.k8s.aws/resources";
/// The finalizer the Load Balancer Controller puts on the Services it manages.
pub const SERVICE_FINALIZER: &str = "service.k8s.aws/resources";

/// Where the AWS half of the sandbox is, and how the controllers behave.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// The AWS endpoint (moto's URL); the Load Balancer Controller runs only when set.
    pub aws_endpoint: Option<String>,
    /// The region the cluster (and so its load balancers) lives in.
    pub region: String,
    /// The cluster name when the controller Deployment does not pass `--cluster-name`.
    pub cluster_name: String,
    /// How long after an Ingress or Service is deleted its load balancer is removed (the real
    /// controller takes a moment too; callers must wait for it).
    pub deletion_delay: Duration,
    /// How often everything is reconciled again even without changes (retries, drift).
    pub resync: Duration,
    /// Registered targets and their health, shared with the front (`FaultProxy::add_correction`
    /// of a `targets::TargetHealthCorrection`), which answers `DescribeTargetHealth` from it.
    pub target_health: targets::TargetHealthBoard,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            aws_endpoint: None,
            region: "ap-northeast-2".to_string(),
            cluster_name: "sandbox".to_string(),
            deletion_delay: Duration::from_secs(1),
            resync: Duration::from_secs(10),
            target_health: targets::TargetHealthBoard::default(),
        }
    }
}

/// Starts the add-on controllers on the current tokio runtime. They stop when the handles are
/// aborted (or the runtime ends).
pub async fn spawn(store: Arc<Store>, options: ControllerOptions) -> Vec<JoinHandle<()>> {
    let mut handles = vec![certmanager::spawn(store.clone(), options.clone())];
    if let Some(endpoint) = &options.aws_endpoint {
        let clients = Arc::new(AwsClients::new(endpoint, &options.region).await);
        handles.push(alb::spawn(store.clone(), clients.clone(), options.clone()));
        handles.push(nlb::spawn(store.clone(), clients.clone(), options.clone()));
        handles.push(targets::spawn(
            store.clone(),
            clients.clone(),
            options.target_health.clone(),
            options.resync,
        ));
        handles.push(nodes::spawn(store, clients, options));
    }
    handles
}

pub(crate) fn deployments() -> Gvr {
    Gvr::new("apps", "v1", "deployments")
}

/// The add-on's controller Deployment, when the add-on is installed (see the module doc).
pub(crate) fn addon_deployment(store: &Store, name: &str) -> Option<Value> {
    store
        .list(&deployments(), None)
        .unwrap_or_default()
        .into_iter()
        .find(|d| d["metadata"]["name"] == name && !d["metadata"]["deletionTimestamp"].is_string())
}

/// True when the Deployment is the add-on's controller (by name or `app.kubernetes.io/name`).
pub(crate) fn is_addon_deployment(deployment: &Value, name: &str) -> bool {
    deployment["metadata"]["name"] == name
        || deployment["metadata"]["labels"]["app.kubernetes.io/name"] == name
}

/// The value of `--flag=value` (or `--flag value`) among a Deployment's container arguments.
pub(crate) fn deployment_arg(deployment: &Value, flag: &str) -> Option<String> {
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array()?;
    for container in containers {
        let args: Vec<&str> = container["args"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(container["command"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        for (i, arg) in args.iter().enumerate() {
            if let Some(value) = arg.strip_prefix(&format!("{flag}=")) {
                return Some(value.to_string());
            }
            if *arg == flag {
                if let Some(value) = args.get(i + 1) {
                    return Some(value.to_string());
                }
            }
        }
    }
    None
}

/// True when the object has been deleted and waits for its finalizers.
pub(crate) fn is_deleting(object: &Value) -> bool {
    object["metadata"]["deletionTimestamp"].is_string()
}

pub(crate) fn has_finalizer(object: &Value, finalizer: &str) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == finalizer))
}

pub(crate) fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

/// Adds (`present`) or removes a finalizer, with optimistic concurrency: a concurrent write makes
/// this fail, and the caller's next reconcile tries again.
pub(crate) fn set_finalizer(
    store: &Store,
    gvr: &Gvr,
    namespace: Option<&str>,
    name: &str,
    finalizer: &str,
    present: bool,
    manager: &str,
) -> Result<(), String> {
    let mut object = store.get(gvr, namespace, name).map_err(|e| {
        format!(
            "reading {}/{name} to update its finalizers: {e}",
            gvr.resource
        )
    })?;
    if has_finalizer(&object, finalizer) == present {
        return Ok(());
    }
    let mut finalizers: Vec<Value> = object["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if present {
        finalizers.push(Value::from(finalizer));
    } else {
        finalizers.retain(|f| f != finalizer);
    }
    object["metadata"]["finalizers"] = Value::from(finalizers);
    store
        .update(
            gvr,
            namespace,
            name,
            None,
            object,
            &crate::kube::WriteOptions::manager(manager),
        )
        .map(|_| ())
        .map_err(|e| format!("updating the finalizers of {}/{name}: {e}", gvr.resource))
}
