//! A Kubernetes API server on loopback: discovery, generic storage, server-side apply, and the
//! controllers a real cluster runs.
//!
//! `ApiServer::start` serves plain HTTP on 127.0.0.1 so the real kubectl and kube-rs talk to it
//! through a kubeconfig (`write_kubeconfig`); `ApiServer::store` gives in-process controllers the
//! same objects without HTTP, with a broadcast of every change (`Store::subscribe`).

mod admission;
pub mod clock;
pub mod controllers;
pub mod eks_auth;
pub mod endpoints;
mod http;
pub mod pods;
mod protobuf;
pub mod resources;
pub mod schema;
mod selector;
mod ssa;
pub mod status;
pub mod store;
mod tls;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

pub use controllers::{spawn_controller, CONTROLLER_MANAGER};
pub use resources::{GroupResource, Gvr, ResourceDef};
pub use status::ApiError;
pub use store::{Change, EventType, PatchKind, Store, WriteOptions};

/// Failures starting the server or writing its kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeSandboxError {
    #[error("binding the sandbox API server to 127.0.0.1: {0}")]
    Bind(std::io::Error),
    #[error("making the sandbox TLS certificate: {0}")]
    Tls(String),
    #[error("writing kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: std::io::Error,
    },
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ApiServerOptions {
    /// When set, every request (but health checks) needs `Authorization: Bearer <token>`.
    /// kubectl sends tokens only over TLS, so set `tls` too when kubectl is to pass.
    pub bearer_token: Option<String>,
    /// When set, bearer tokens made like `aws eks get-token --cluster-name <this>` are accepted
    /// too (see `eks_auth`): signed with moto's test secret key for this cluster, not expired.
    pub eks_cluster: Option<String>,
    /// How long after its X-Amz-Date an EKS token is accepted: EKS's 15 minutes (the most), or
    /// less to test that clients make new tokens (`eks_auth`).
    pub eks_token_lifetime: Duration,
    /// With credentials configured, still let requests that carry none through (a cluster with
    /// anonymous access granted): kubectl and the stand-ins over plain HTTP send no token, while a
    /// token that is sent must be valid.
    pub anonymous: bool,
    /// Serve HTTPS with a fresh CA (`ApiServer::ca_pem`) instead of plain HTTP.
    pub tls: bool,
    /// How long after a change a workload reports its replicas ready.
    pub rollout_delay: Duration,
}

impl Default for ApiServerOptions {
    fn default() -> Self {
        Self {
            bearer_token: None,
            eks_cluster: None,
            eks_token_lifetime: eks_auth::MAX_LIFETIME,
            anonymous: false,
            tls: false,
            rollout_delay: Duration::from_millis(200),
        }
    }
}

/// A running API server; it stops when dropped or on `shutdown`.
pub struct ApiServer {
    address: SocketAddr,
    ca_pem: Option<String>,
    store: Arc<Store>,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl ApiServer {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime.
    pub async fn start(options: ApiServerOptions) -> Result<Self, KubeSandboxError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(KubeSandboxError::Bind)?;
        let address = listener.local_addr().map_err(KubeSandboxError::Bind)?;
        let store = Arc::new(Store::new());
        let shared = Arc::new(http::Shared {
            store: store.clone(),
            bearer_token: options.bearer_token.clone(),
            eks_cluster: options.eks_cluster.clone(),
            eks_token_lifetime: options.eks_token_lifetime,
            anonymous: options.anonymous,
            address: address.to_string(),
        });
        let tls = if options.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let acceptor = tls.map(|t| t.acceptor);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let accept = tokio::spawn(async move {
            // Connections live in this set: when the accept loop ends, they are all aborted,
            // including endless watches.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let shared = shared.clone();
                        let acceptor = acceptor.clone();
                        connections.spawn(async move {
                            match acceptor {
                                Some(acceptor) => {
                                    // A failed handshake only ends that connection.
                                    if let Ok(stream) = acceptor.accept(stream).await {
                                        serve_connection(shared, stream).await;
                                    }
                                }
                                None => serve_connection(shared, stream).await,
                            }
                        });
                    }
                }
            }
        });
        let mut tasks = vec![accept];
        tasks.extend(controllers::spawn_builtin(
            store.clone(),
            options.rollout_delay,
        ));
        Ok(Self {
            address,
            ca_pem,
            store,
            stop: Some(stop),
            tasks,
        })
    }

    /// `http://127.0.0.1:PORT`, or `https://` with `tls`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.address)
    }

    /// The PEM of the CA that signed the server certificate (with `tls`): what an EKS cluster's
    /// `certificateAuthority.data` is, base64-encoded.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The objects, for in-process controllers and test assertions.
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// Writes a kubeconfig (cluster, context and user `sandbox`) that points at this server,
    /// with `token` as the user's bearer token when given.
    pub fn write_kubeconfig(
        &self,
        path: impl AsRef<Path>,
        token: Option<&str>,
    ) -> Result<(), KubeSandboxError> {
        let path = path.as_ref();
        std::fs::write(path, kubeconfig(&self.url(), self.ca_pem(), token)).map_err(|source| {
            KubeSandboxError::Kubeconfig {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// Stops serving and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn serve_connection<S>(shared: Arc<http::Shared>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, std::convert::Infallible>(http::handle(shared, req).await) }
    });
    // A client that goes away mid-request is not the server's problem.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The kubeconfig text for a server URL, its CA (PEM) when it serves TLS, and a bearer token
/// (JSON-quoted strings are valid YAML).
pub fn kubeconfig(url: &str, ca_pem: Option<&str>, token: Option<&str>) -> String {
    use base64::Engine as _;
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let ca = ca_pem
        .map(|pem| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    let user = match token {
        Some(t) => format!("    token: {}\n", quote(t)),
        None => "    {}\n".to_string(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {}\n{}contexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox\n    namespace: default\ncurrent-context: sandbox\nusers:\n- name: sandbox\n  user:\n{}preferences: {{}}\n",
        quote(url),
        ca,
        user
    )
}
