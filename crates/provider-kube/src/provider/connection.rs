//! The connection to the cluster: where it is (an `eks_cluster`'s outputs with EKS tokens minted
//! per request, or a kubeconfig), the kube client made for it and reused while the cluster is the
//! same, and the kubeconfig helm and istioctl are given to reach the same cluster the same way
//! (for EKS, with a credential plugin rather than a token, so nothing in it expires).

use std::sync::Arc;

use meshctl_model::{Address, Kind};
use meshctl_provider::{ErrorClass, Inputs, ProviderError};
use serde_json::Value;

use super::{temp_file, KubeProvider, Result};
use crate::access::{self, AccessError, AccessSource, ClusterAccess};
use crate::objects::Objects;

/// A connection to the cluster, with the kubeconfig helm and istioctl are given.
pub(super) struct Connected {
    pub(super) objects: Objects,
    /// `--kubeconfig` (and context) arguments for helm and istioctl.
    pub(super) kubeconfig: KubeconfigArgs,
}

/// Where the tools find the cluster: a file meshctl wrote (EKS access) or the user's own.
pub(super) struct KubeconfigArgs {
    path: std::path::PathBuf,
    context: Option<String>,
    /// Keeps a written kubeconfig alive while in use, removed after.
    _written: Option<tempfile::TempPath>,
}

impl KubeconfigArgs {
    pub(super) fn helm(&self) -> Vec<String> {
        let mut args = vec!["--kubeconfig".to_string(), self.path.display().to_string()];
        if let Some(context) = &self.context {
            args.extend(["--kube-context".to_string(), context.clone()]);
        }
        args
    }

    pub(super) fn istioctl(&self) -> Vec<String> {
        let mut args = vec!["--kubeconfig".to_string(), self.path.display().to_string()];
        if let Some(context) = &self.context {
            args.extend(["--context".to_string(), context.clone()]);
        }
        args
    }
}

/// The connection `connect` hands out again while its key holds: its credentials never go stale
/// (EKS tokens are minted per request, a kubeconfig's are kube-rs' to refresh). Its client
/// runs worker tasks on the runtime it was made on, so the provider must live on one runtime
/// (meshctl keeps one per process, `crates/cli/src/runtime.rs`).
pub(super) struct CachedConnection {
    key: String,
    connected: Arc<Connected>,
}

impl KubeProvider {
    async fn sdk_config(&self) -> &aws_types::SdkConfig {
        self.aws
            .get_or_init(|| async {
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(self.settings.region.clone()))
                    .load()
                    .await
            })
            .await
    }

    /// The `eks_cluster` behind `kube.from_cluster`, if that is how the stack reaches it.
    pub(super) fn cluster_address(&self) -> Option<Address> {
        self.settings
            .kube
            .as_ref()
            .and_then(|k| k.from_cluster.as_ref())
            .map(|name| Address::new(Kind::EksCluster, name.clone()))
    }

    /// Object calls against the stack's cluster, reached as every cluster call reaches it (the
    /// `eks_cluster`'s outputs in `inputs` with EKS tokens, or the kubeconfig; the endpoint
    /// override): for commands that only read the cluster beside the provider (`meshctl verify`).
    pub async fn objects(&self, inputs: &Inputs) -> Result<Objects> {
        let address = self
            .cluster_address()
            .unwrap_or_else(|| Address::new(Kind::Namespace, "cluster"));
        let connected = self.connect(&address, inputs, "read").await?;
        Ok(Objects::new(connected.objects.client().clone()))
    }

    /// A connection to the cluster, reused while the cluster is the same.
    pub(super) async fn connect(
        &self,
        address: &Address,
        inputs: &Inputs,
        operation: &'static str,
    ) -> Result<Arc<Connected>> {
        let fail = |class, message: String| ProviderError::new(class, address, operation, message);
        let Some(kube) = &self.settings.kube else {
            return Err(fail(
                ErrorClass::Permanent,
                "the stack does not say how to reach the cluster".into(),
            )
            .with_help(
                "add `kube: { from_cluster: <eks_cluster name> }` or `kube: { kubeconfig: PATH }`",
            ));
        };
        let endpoint_override = access::resolve_endpoint_override(
            kube.endpoint_override.as_ref().map(|u| u.as_str()),
            access::endpoint_override_from_env().as_deref(),
        );
        // Where the cluster is: the eks_cluster's outputs, or a kubeconfig file.
        enum Source {
            Eks {
                name: String,
                endpoint: String,
                ca: String,
            },
            Kubeconfig(String),
        }
        let source = match (&self.cluster_address(), &kube.kubeconfig) {
            (Some(cluster), _) => {
                let outputs = inputs.get(cluster).ok_or_else(|| {
                    fail(
                        ErrorClass::Permanent,
                        format!("the outputs of {cluster} (endpoint, CA, name) are not known"),
                    )
                    .with_help(format!("apply {cluster} first; it reaches the cluster"))
                })?;
                let output = |name: &str| {
                    outputs
                        .get(name)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            fail(
                                ErrorClass::Permanent,
                                format!("{cluster} has no `{name}` output recorded"),
                            )
                            .with_help(format!(
                                "run `meshctl apply` so that {cluster} is read again"
                            ))
                        })
                };
                Source::Eks {
                    name: output("name")?,
                    endpoint: output("endpoint")?,
                    ca: output("ca_data")?,
                }
            }
            (None, Some(path)) => Source::Kubeconfig(path.clone()),
            (None, None) => {
                return Err(fail(
                    ErrorClass::Permanent,
                    "`kube` names neither `from_cluster` nor `kubeconfig`".into(),
                ))
            }
        };
        let key = match &source {
            Source::Eks { name, endpoint, .. } => {
                format!("eks {name} {endpoint} {endpoint_override:?}")
            }
            Source::Kubeconfig(path) => {
                format!("kubeconfig {path} {:?} {endpoint_override:?}", kube.context)
            }
        };
        let mut cached = self.connection.lock().await;
        if let Some(connection) = cached.as_ref().filter(|c| c.key == key) {
            return Ok(connection.connected.clone());
        }
        let access_error = |e: AccessError| {
            let class = match e {
                AccessError::Unreachable { .. } | AccessError::Api { .. } => ErrorClass::Retryable,
                _ => ErrorClass::Permanent,
            };
            ProviderError::new(class, address, operation, e.to_string()).with_source(e)
        };
        let access = match source {
            Source::Eks { name, endpoint, ca } => {
                let tokens =
                    access::EksTokens::new(self.sdk_config().await, &name).map_err(access_error)?;
                ClusterAccess::eks_minted(endpoint, ca, tokens, self.token_command.clone())
            }
            Source::Kubeconfig(path) => ClusterAccess::kubeconfig(path, kube.context.clone()),
        }
        .with_endpoint_override(endpoint_override);
        // helm and istioctl get a kubeconfig saying what meshctl uses; a user's own kubeconfig
        // serves as is unless requests go elsewhere.
        let kubeconfig = match (&access.source, &access.endpoint_override) {
            (AccessSource::Kubeconfig { path, context }, None) => KubeconfigArgs {
                path: path.clone(),
                context: context.clone(),
                _written: None,
            },
            _ => write_kubeconfig(&access).map_err(|e| {
                fail(
                    ErrorClass::Permanent,
                    format!("cannot write a kubeconfig for helm and istioctl: {e}"),
                )
            })?,
        };
        let cluster = access.connect().await.map_err(access_error)?;
        let connected = Arc::new(Connected {
            objects: Objects::new(cluster.client.clone()),
            kubeconfig,
        });
        *cached = Some(CachedConnection {
            key,
            connected: connected.clone(),
        });
        Ok(connected)
    }
}

/// A kubeconfig for helm and istioctl with what meshctl itself uses: the URL requests go to,
/// the CA, the TLS server name when an override tunnels to the cluster, and the credential plugin
/// (or the token given). Private to this user (0600): a given token is a secret.
fn write_kubeconfig(access: &ClusterAccess) -> std::result::Result<KubeconfigArgs, String> {
    let text = access.kubeconfig_yaml().map_err(|e| e.to_string())?;
    let path = temp_file("kubeconfig", &text).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
    }
    Ok(KubeconfigArgs {
        path: path.to_path_buf(),
        context: None,
        _written: Some(path),
    })
}
