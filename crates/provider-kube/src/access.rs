//! Reaching the cluster: from an `eks_cluster`'s outputs (endpoint, CA, an EKS bearer token) or
//! from a kubeconfig and context, optionally through an endpoint override.
//!
//! EKS tokens are made exactly as `aws eks get-token` and aws-iam-authenticator make them:
//! `k8s-aws-v1.` + base64url (no padding) of a SigV4-presigned `GET` of STS
//! `GetCallerIdentity`, with the signed header `x-k8s-aws-id: <cluster name>` and
//! `X-Amz-Expires=60`. The cluster re-sends that request to STS to learn who the caller is; the
//! signed header stops a token for one cluster from being replayed against another.
//!
//! A token is good for 15 minutes and an apply (or a saved plan applied later) may run longer, so
//! no token is kept: `EksTokens` signs a new one for every request kube-rs sends (a tower filter
//! layer on the client; signing is a few HMACs, the credentials behind it are cached until
//! shortly before they expire), and the kubeconfig helm and istioctl get names a credential
//! plugin (`TokenCommand`, meshctl's own `__eks-token` or `aws eks get-token`) instead of a
//! token, so they ask for one when they need it. Tokens never reach state or plan files.
//!
//! The endpoint override (`kube.endpoint_override`, or env `MESHCTL_KUBE_ENDPOINT`, which wins)
//! replaces only the URL requests go to: the CA, the credentials and the TLS server name stay
//! those of the cluster. A bastion tunnel to a private endpoint forwards TLS untouched, so the
//! certificate it presents names the cluster's own host, and that is the name to verify.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_types::SdkConfig;
use base64::Engine as _;
use kube::config::{KubeConfigOptions, Kubeconfig};
use secrecy::{ExposeSecret as _, SecretString};

/// The environment variable that overrides `kube.endpoint_override`.
pub const ENDPOINT_ENV: &str = "MESHCTL_KUBE_ENDPOINT";
/// What every EKS bearer token starts with.
pub const EKS_TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header that binds a token to one cluster.
const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// X-Amz-Expires of the presigned request, as `aws eks get-token` sets it. EKS itself accepts a
/// token for 15 minutes after signing.
const PRESIGN_EXPIRES: Duration = Duration::from_secs(60);
/// How long a client may reuse a token (`aws eks get-token`'s expirationTimestamp: EKS's 15
/// minutes, less a minute of margin); what `__eks-token` tells helm and istioctl.
pub const EKS_TOKEN_REUSE: Duration = Duration::from_secs(14 * 60);
/// Credentials that expire within this are fetched again before signing with them.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Why the cluster could not be reached, worded for the person running meshctl.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AccessError {
    #[error("no AWS credentials to make an EKS token for cluster {cluster}: {detail}; configure AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO) or use kube: {{kubeconfig, context}}")]
    Credentials { cluster: String, detail: String },
    #[error("no AWS region to make an EKS token for cluster {cluster}; set the stack's region or AWS_REGION")]
    Region { cluster: String },
    #[error("signing the EKS token for cluster {cluster}: {detail}")]
    Signing { cluster: String, detail: String },
    #[error("the CA certificate of cluster {cluster} is not usable: {detail}")]
    Ca { cluster: String, detail: String },
    #[error("the endpoint {endpoint:?} of cluster {cluster} is not a URL: {detail}")]
    Endpoint {
        cluster: String,
        endpoint: String,
        detail: String,
    },
    #[error("reading kubeconfig {path}{}: {detail}", context.as_deref().map(|c| format!(" (context {c})")).unwrap_or_default())]
    Kubeconfig {
        path: String,
        context: Option<String>,
        detail: String,
    },
    #[error(
        "cannot reach the Kubernetes API of cluster {cluster} at {endpoint}: {detail}; {hint}"
    )]
    Unreachable {
        cluster: String,
        endpoint: String,
        detail: String,
        hint: String,
    },
    #[error(
        "TLS with the Kubernetes API of cluster {cluster} at {endpoint} failed: {detail}; {hint}"
    )]
    Tls {
        cluster: String,
        endpoint: String,
        detail: String,
        hint: String,
    },
    #[error("cluster {cluster} at {endpoint} refused the credentials (401 Unauthorized); {hint}")]
    Unauthorized {
        cluster: String,
        endpoint: String,
        hint: String,
    },
    #[error("cluster {cluster} at {endpoint} forbids this (403 Forbidden): {message}; the identity meshctl uses needs cluster-admin rights (an EKS access entry with AmazonEKSClusterAdminPolicy, or a RoleBinding)")]
    Forbidden {
        cluster: String,
        endpoint: String,
        message: String,
    },
    #[error("cluster {cluster} at {endpoint} answered {code}: {message}")]
    Api {
        cluster: String,
        endpoint: String,
        code: u16,
        message: String,
    },
    #[error("setting up the Kubernetes client for cluster {cluster} at {endpoint}: {detail}")]
    Client {
        cluster: String,
        endpoint: String,
        detail: String,
    },
}

/// Makes an EKS bearer token for `cluster_name` with the credentials and region of `sdk_config`,
/// as `aws eks get-token --cluster-name <cluster_name>` does. Reuse it for at most
/// `EKS_TOKEN_REUSE`; a client that lives longer should use `EksTokens`.
///
/// The token always names the public regional STS host, even when the SDK is pointed elsewhere
/// (`AWS_ENDPOINT_URL`): EKS accepts only STS hosts in tokens, and it is EKS, not meshctl, that
/// sends the request.
pub async fn eks_token(sdk_config: &SdkConfig, cluster_name: &str) -> Result<String, AccessError> {
    let token = EksTokens::new(sdk_config, cluster_name)?.token().await?;
    Ok(token.expose_secret().to_string())
}

/// EKS tokens for one cluster, signed anew for every request so that none is ever too old
/// however long a run lasts. Cloning shares the cached credentials.
#[derive(Clone)]
pub struct EksTokens {
    cluster: String,
    region: String,
    provider: SharedCredentialsProvider,
    /// The credentials signed with, kept until `CREDENTIALS_MARGIN` before they expire: signing
    /// is cheap, but fetching credentials may be an STS or SSO call.
    credentials: Arc<tokio::sync::Mutex<Option<Credentials>>>,
}

impl std::fmt::Debug for EksTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EksTokens")
            .field("cluster", &self.cluster)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl EksTokens {
    /// Tokens for `cluster_name` with the credentials and region of `sdk_config`.
    pub fn new(sdk_config: &SdkConfig, cluster_name: &str) -> Result<Self, AccessError> {
        let provider =
            sdk_config
                .credentials_provider()
                .ok_or_else(|| AccessError::Credentials {
                    cluster: cluster_name.to_string(),
                    detail: "the AWS configuration has no credentials provider".into(),
                })?;
        let region = sdk_config.region().ok_or_else(|| AccessError::Region {
            cluster: cluster_name.to_string(),
        })?;
        Ok(Self {
            cluster: cluster_name.to_string(),
            region: region.to_string(),
            provider,
            credentials: Arc::default(),
        })
    }

    /// The EKS cluster name the tokens are signed for.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The region of the STS host the tokens name.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// A token signed now.
    pub async fn token(&self) -> Result<SecretString, AccessError> {
        let credentials = self.credentials().await?;
        presign_eks_token(&credentials, &self.region, &self.cluster, SystemTime::now())
            .map(SecretString::from)
    }

    async fn credentials(&self) -> Result<Credentials, AccessError> {
        let mut cached = self.credentials.lock().await;
        if let Some(credentials) = cached.as_ref() {
            let lasts = credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + CREDENTIALS_MARGIN);
            if lasts {
                return Ok(credentials.clone());
            }
        }
        let fresh =
            self.provider
                .provide_credentials()
                .await
                .map_err(|e| AccessError::Credentials {
                    cluster: self.cluster.clone(),
                    detail: error_chain(&e),
                })?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

/// Every request kube-rs sends goes through this (`tower::filter::AsyncFilterLayer`, as kube-rs
/// adds its own refreshable credentials): it gets an `Authorization` header with a fresh token.
impl<B: Send + 'static> tower::filter::AsyncPredicate<http::Request<B>> for EksTokens {
    type Future = Pin<Box<dyn Future<Output = Result<http::Request<B>, tower::BoxError>> + Send>>;
    type Request = http::Request<B>;

    fn check(&mut self, mut request: http::Request<B>) -> Self::Future {
        let tokens = self.clone();
        Box::pin(async move {
            let token = tokens.token().await?;
            let mut value =
                http::HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))?;
            value.set_sensitive(true);
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
            Ok(request)
        })
    }
}

/// The credential plugin the kubeconfig for helm and istioctl names (client-go's `exec`), run
/// with `--cluster-name NAME --region REGION` appended, printing an `ExecCredential`: the tools
/// ask it for a token when they need one, so the kubeconfig holds none that could go stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl TokenCommand {
    /// `aws eks get-token`, what `aws eks update-kubeconfig` writes: for hosts without a token
    /// command of their own (meshctl names itself, `meshctl __eks-token`).
    pub fn aws_cli() -> Self {
        Self {
            program: PathBuf::from("aws"),
            args: vec!["eks".into(), "get-token".into()],
        }
    }
}

impl Default for TokenCommand {
    fn default() -> Self {
        Self::aws_cli()
    }
}

/// The `ExecCredential` a credential plugin prints for `token`, signed at `signed_at`: clients
/// reuse it until its `expirationTimestamp` (`EKS_TOKEN_REUSE` later). `timestamp` formats a time
/// as RFC 3339 (the caller's clock formatting; this crate has none).
pub fn exec_credential(
    token: &str,
    signed_at: SystemTime,
    timestamp: impl Fn(SystemTime) -> String,
) -> serde_json::Value {
    serde_json::json!({
        "kind": "ExecCredential",
        "apiVersion": EXEC_API_VERSION,
        "spec": {},
        "status": {
            "expirationTimestamp": timestamp(signed_at + EKS_TOKEN_REUSE),
            "token": token,
        },
    })
}

/// The client-go credential plugin API meshctl writes and answers (as `aws eks get-token`).
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";

/// What a credential plugin prints for `cluster` in `region`: an `ExecCredential` with a token
/// signed now with the AWS credentials of the environment (as `aws eks get-token --cluster-name
/// CLUSTER --region REGION`).
pub async fn plugin_credential(
    cluster: &str,
    region: &str,
    timestamp: impl Fn(SystemTime) -> String,
) -> Result<serde_json::Value, AccessError> {
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .load()
        .await;
    let credentials = EksTokens::new(&sdk_config, cluster)?.credentials().await?;
    let signed_at = SystemTime::now();
    let token = presign_eks_token(&credentials, region, cluster, signed_at)?;
    Ok(exec_credential(&token, signed_at, timestamp))
}

/// The STS host a token for `region` names.
pub fn sts_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("sts.{region}.amazonaws.com.cn")
    } else {
        format!("sts.{region}.amazonaws.com")
    }
}

/// The token for `cluster_name`, signed at `time` (separate from `eks_token` so that tests can
/// fix the time).
pub fn presign_eks_token(
    credentials: &Credentials,
    region: &str,
    cluster_name: &str,
    time: SystemTime,
) -> Result<String, AccessError> {
    let signing_error = |detail: String| AccessError::Signing {
        cluster: cluster_name.to_string(),
        detail,
    };
    let url = format!(
        "https://{}/?Action=GetCallerIdentity&Version=2011-06-15",
        sts_host(region)
    );
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRES);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| signing_error(e.to_string()))?
        .into();
    let headers = [(CLUSTER_ID_HEADER, cluster_name)];
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| signing_error(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| signing_error(e.to_string()))?
        .into_parts();
    let mut presigned = url;
    for (name, value) in instructions.params() {
        presigned.push('&');
        presigned.push_str(name);
        presigned.push('=');
        presigned.push_str(&percent_encode(value));
    }
    Ok(format!(
        "{EKS_TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)
    ))
}

/// RFC 3986 unreserved characters stay, everything else becomes %XX (as SigV4 encodes).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The endpoint override in effect: env `MESHCTL_KUBE_ENDPOINT` (when set and not empty) wins
/// over the stack's `kube.endpoint_override`, as the model documents.
pub fn resolve_endpoint_override(stack: Option<&str>, env: Option<&str>) -> Option<String> {
    env.map(str::trim)
        .filter(|e| !e.is_empty())
        .or(stack)
        .map(str::to_string)
}

/// `MESHCTL_KUBE_ENDPOINT` from the environment, for `resolve_endpoint_override`.
pub fn endpoint_override_from_env() -> Option<String> {
    std::env::var(ENDPOINT_ENV).ok()
}

/// Where the cluster's address and credentials come from.
#[derive(Debug, Clone)]
pub enum AccessSource {
    /// An EKS cluster's outputs: `endpoint`, `ca` (PEM, or base64 of PEM as in EKS'
    /// `certificateAuthority.data`) and how requests get their token.
    Eks {
        endpoint: String,
        ca: Vec<u8>,
        token: EksToken,
    },
    /// A kubeconfig file and a context in it (its current context when `None`).
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
    },
}

/// Where an EKS access's bearer token comes from.
#[derive(Debug, Clone)]
pub enum EksToken {
    /// A new token for every request (and a credential plugin for helm and istioctl).
    Minted {
        tokens: EksTokens,
        plugin: TokenCommand,
    },
    /// This token, as given: it stops working when it expires (15 minutes on EKS).
    Fixed(SecretString),
}

/// How to reach one cluster.
#[derive(Debug, Clone)]
pub struct ClusterAccess {
    /// The cluster's name, for messages (the EKS cluster name, or the kubeconfig context).
    pub cluster: String,
    pub source: AccessSource,
    /// Requests go here instead of the cluster's endpoint (see `resolve_endpoint_override`).
    pub endpoint_override: Option<String>,
}

/// A client for a cluster, with what is needed to explain its failures.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    /// The cluster's name, for messages.
    pub name: String,
    /// The URL requests go to (the override when there is one).
    pub endpoint: String,
    overridden: bool,
    eks: bool,
}

impl ClusterAccess {
    /// Access from an EKS cluster's outputs with one token, good until it expires.
    pub fn eks(
        cluster: impl Into<String>,
        endpoint: impl Into<String>,
        ca: impl Into<Vec<u8>>,
        token: impl Into<String>,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            source: AccessSource::Eks {
                endpoint: endpoint.into(),
                ca: ca.into(),
                token: EksToken::Fixed(SecretString::from(token.into())),
            },
            endpoint_override: None,
        }
    }

    /// Access from an EKS cluster's outputs with a token minted for every request; helm and
    /// istioctl run `plugin` for theirs.
    pub fn eks_minted(
        endpoint: impl Into<String>,
        ca: impl Into<Vec<u8>>,
        tokens: EksTokens,
        plugin: TokenCommand,
    ) -> Self {
        Self {
            cluster: tokens.cluster().to_string(),
            source: AccessSource::Eks {
                endpoint: endpoint.into(),
                ca: ca.into(),
                token: EksToken::Minted { tokens, plugin },
            },
            endpoint_override: None,
        }
    }

    /// Access from a kubeconfig file and context.
    pub fn kubeconfig(path: impl Into<PathBuf>, context: Option<String>) -> Self {
        let path = path.into();
        Self {
            cluster: context
                .clone()
                .unwrap_or_else(|| format!("the current context of {}", path.display())),
            source: AccessSource::Kubeconfig { path, context },
            endpoint_override: None,
        }
    }

    /// The same access, with requests sent to `endpoint` when it is `Some`.
    pub fn with_endpoint_override(mut self, endpoint: Option<String>) -> Self {
        self.endpoint_override = endpoint;
        self
    }

    /// The kube-rs configuration: the cluster's URL, CA and credentials, then the override.
    pub async fn config(&self) -> Result<kube::Config, AccessError> {
        let mut config = match &self.source {
            AccessSource::Eks {
                endpoint,
                ca,
                token,
            } => {
                let url = endpoint.parse().map_err(|e| AccessError::Endpoint {
                    cluster: self.cluster.clone(),
                    endpoint: endpoint.clone(),
                    detail: format!("{e}"),
                })?;
                let mut config = kube::Config::new(url);
                // The CA matters only for TLS: an override may be a plain-HTTP local proxy
                // (`kubectl proxy`), which terminates TLS to the cluster itself.
                let plain_http = self
                    .endpoint_override
                    .as_deref()
                    .is_some_and(|e| e.trim_start().starts_with("http://"));
                if !plain_http {
                    config.root_cert =
                        Some(ca_certificates(ca).map_err(|detail| AccessError::Ca {
                            cluster: self.cluster.clone(),
                            detail,
                        })?);
                }
                // A minted token is added per request by the client's layer (`connect`).
                if let EksToken::Fixed(token) = token {
                    config.auth_info.token = Some(token.clone());
                }
                config
            }
            AccessSource::Kubeconfig { path, context } => {
                let kubeconfig_error = |detail: String| AccessError::Kubeconfig {
                    path: path.display().to_string(),
                    context: context.clone(),
                    detail,
                };
                let kubeconfig =
                    Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(error_chain(&e)))?;
                let options = KubeConfigOptions {
                    context: context.clone(),
                    ..KubeConfigOptions::default()
                };
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| kubeconfig_error(error_chain(&e)))?
            }
        };
        if let Some(endpoint) = &self.endpoint_override {
            let original_host = config.cluster_url.host().map(str::to_string);
            config.cluster_url = endpoint.parse().map_err(|e| AccessError::Endpoint {
                cluster: self.cluster.clone(),
                endpoint: endpoint.clone(),
                detail: format!("{e} (from kube.endpoint_override or {ENDPOINT_ENV})"),
            })?;
            // The tunnel forwards TLS to the cluster, whose certificate names the cluster's host.
            if config.tls_server_name.is_none()
                && original_host != config.cluster_url.host().map(str::to_string)
            {
                config.tls_server_name = original_host
                    .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string());
            }
        }
        Ok(config)
    }

    /// A kubeconfig saying what `config` says, for helm and istioctl: the URL requests go to,
    /// the CA (for TLS), the TLS server name when an override tunnels to the cluster, and the
    /// credentials (for minted EKS tokens, the credential plugin, never a token). From a
    /// kubeconfig source, the chosen context only, with the override applied.
    pub fn kubeconfig_yaml(&self) -> Result<String, AccessError> {
        match &self.source {
            AccessSource::Eks {
                endpoint,
                ca,
                token,
            } => {
                let server = self
                    .endpoint_override
                    .clone()
                    .unwrap_or_else(|| endpoint.clone());
                let mut cluster = serde_yaml::Mapping::new();
                cluster.insert("server".into(), server.clone().into());
                if !server.trim_start().starts_with("http://") {
                    let text = String::from_utf8_lossy(ca);
                    let data = if text.contains("-----BEGIN") {
                        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
                    } else {
                        text.split_whitespace().collect()
                    };
                    cluster.insert("certificate-authority-data".into(), data.into());
                    if let Some(host) = tunnelled_host(endpoint, self.endpoint_override.as_deref())
                    {
                        cluster.insert("tls-server-name".into(), host.into());
                    }
                }
                let user = match token {
                    EksToken::Fixed(token) => serde_json::json!({ "token": token.expose_secret() }),
                    EksToken::Minted { tokens, plugin } => {
                        let mut args = plugin.args.clone();
                        args.extend([
                            "--cluster-name".to_string(),
                            tokens.cluster().to_string(),
                            "--region".to_string(),
                            tokens.region().to_string(),
                        ]);
                        serde_json::json!({ "exec": {
                            "apiVersion": EXEC_API_VERSION,
                            "command": plugin.program.display().to_string(),
                            "args": args,
                            "interactiveMode": "Never",
                        } })
                    }
                };
                let config = serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{ "name": self.cluster, "cluster": cluster }],
                    "users": [{ "name": "meshctl", "user": user }],
                    "contexts": [{ "name": "meshctl", "context": { "cluster": self.cluster, "user": "meshctl" } }],
                    "current-context": "meshctl",
                });
                serde_yaml::to_string(&config).map_err(|e| AccessError::Client {
                    cluster: self.cluster.clone(),
                    endpoint: server,
                    detail: e.to_string(),
                })
            }
            AccessSource::Kubeconfig { path, context } => {
                let fail = |detail: String| AccessError::Kubeconfig {
                    path: path.display().to_string(),
                    context: context.clone(),
                    detail,
                };
                let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
                let mut config: serde_yaml::Value =
                    serde_yaml::from_str(&text).map_err(|e| fail(e.to_string()))?;
                let Some(endpoint) = &self.endpoint_override else {
                    return Ok(text);
                };
                let context_name = match context {
                    Some(c) => c.clone(),
                    None => config["current-context"]
                        .as_str()
                        .ok_or_else(|| fail("no current-context".into()))?
                        .to_string(),
                };
                let cluster_name = config["contexts"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .find(|c| c["name"].as_str() == Some(&context_name))
                    .and_then(|c| c["context"]["cluster"].as_str())
                    .ok_or_else(|| fail(format!("no context {context_name}")))?
                    .to_string();
                config["current-context"] = context_name.into();
                for cluster in config["clusters"].as_sequence_mut().into_iter().flatten() {
                    if cluster["name"].as_str() != Some(&cluster_name) {
                        continue;
                    }
                    let original = cluster["cluster"]["server"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    cluster["cluster"]["server"] = endpoint.clone().into();
                    if let Some(host) = tunnelled_host(&original, Some(endpoint)) {
                        if cluster["cluster"]["tls-server-name"].is_null() {
                            cluster["cluster"]["tls-server-name"] = host.into();
                        }
                    }
                }
                serde_yaml::to_string(&config).map_err(|e| fail(e.to_string()))
            }
        }
    }

    /// A client for the cluster, checked with one request (`/version`), so that a wrong
    /// endpoint, CA or token is reported here, in words, rather than at the first change.
    pub async fn connect(&self) -> Result<Cluster, AccessError> {
        // Both of rustls' crypto backends are linked into meshctl (the AWS SDK brings aws-lc-rs),
        // so rustls cannot pick one itself; kube-rs is built for ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = self.config().await?;
        let endpoint = config.cluster_url.to_string();
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let client_error = |e: kube::Error| AccessError::Client {
            cluster: self.cluster.clone(),
            endpoint: endpoint.clone(),
            detail: error_chain(&e),
        };
        let client = match &self.source {
            AccessSource::Eks {
                token: EksToken::Minted { tokens, .. },
                ..
            } => kube::client::ClientBuilder::try_from(config)
                .map_err(client_error)?
                // The filter clones the service it wraps for each request; kube-rs' stack is a
                // `BoxService`, which a buffer (as kube-rs' own `Client` uses) makes cloneable.
                .with_layer(&tower::buffer::BufferLayer::new(1024))
                .with_layer(&tower::filter::AsyncFilterLayer::new(tokens.clone()))
                .build(),
            _ => kube::Client::try_from(config).map_err(client_error)?,
        };
        let cluster = Cluster {
            client,
            name: self.cluster.clone(),
            endpoint,
            overridden: self.endpoint_override.is_some(),
            eks: matches!(self.source, AccessSource::Eks { .. }),
        };
        cluster
            .client
            .apiserver_version()
            .await
            .map_err(|e| cluster.explain(e))?;
        Ok(cluster)
    }
}

impl Cluster {
    /// Words for a failed request: which cluster, which endpoint, and what to do.
    pub fn explain(&self, err: kube::Error) -> AccessError {
        let cluster = self.name.clone();
        let endpoint = self.endpoint.clone();
        // A token that could not be minted (no credentials) says so itself.
        if let kube::Error::Service(service) = &err {
            if let Some(access) = service.downcast_ref::<AccessError>() {
                return access.clone();
            }
        }
        match err {
            kube::Error::Api(status) if status.code == 401 => AccessError::Unauthorized {
                cluster,
                endpoint,
                hint: if self.eks {
                    "the EKS token was made for another cluster, has expired, or its AWS identity is unknown to the cluster; check the AWS credentials meshctl uses (AWS_PROFILE) and that they have an access entry on the cluster".into()
                } else {
                    "the kubeconfig user's credentials are wrong or expired; refresh them (for EKS: aws eks update-kubeconfig) or choose another context".into()
                },
            },
            kube::Error::Api(status) if status.code == 403 => AccessError::Forbidden {
                cluster,
                endpoint,
                message: status.message,
            },
            kube::Error::Api(status) => AccessError::Api {
                cluster,
                endpoint,
                code: status.code,
                message: status.message,
            },
            other => {
                let detail = error_chain(&other);
                let lower = detail.to_ascii_lowercase();
                if lower.contains("certificate")
                    || lower.contains("unknownissuer")
                    || lower.contains("tls")
                    || lower.contains("handshake")
                {
                    AccessError::Tls {
                        cluster,
                        endpoint,
                        detail,
                        hint: if self.overridden {
                            "the endpoint override must forward TLS to the cluster unchanged (a TCP tunnel such as ssh -L), since meshctl verifies the cluster's certificate and host name".into()
                        } else {
                            "the CA certificate does not match the cluster's; check the cluster's certificateAuthority or the kubeconfig".into()
                        },
                    }
                } else {
                    AccessError::Unreachable {
                        cluster,
                        endpoint,
                        detail,
                        hint: if self.overridden {
                            format!("the endpoint comes from kube.endpoint_override or {ENDPOINT_ENV}; check that the tunnel is up")
                        } else {
                            format!("if the cluster endpoint is private, open a tunnel (e.g. through a bastion) and set kube.endpoint_override or {ENDPOINT_ENV} to its URL")
                        },
                    }
                }
            }
        }
    }
}

/// The cluster's own host name when `endpoint_override` sends requests to another host: the name
/// TLS must verify through a tunnel.
fn tunnelled_host(endpoint: &str, endpoint_override: Option<&str>) -> Option<String> {
    let host = |url: &str| {
        let rest = url.trim().split_once("://")?.1;
        let authority = rest.split(['/', '?']).next()?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next()?,
            None => authority.split(':').next()?,
        };
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    };
    let original = host(endpoint)?;
    let overridden = host(endpoint_override?)?;
    (original != overridden).then_some(original)
}

/// DER certificates from PEM text, or from base64 of PEM text (EKS' `certificateAuthority.data`).
fn ca_certificates(ca: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = String::from_utf8_lossy(ca);
    let pem = if text.contains("-----BEGIN") {
        text.into_owned()
    } else {
        let compact: String = text.split_whitespace().collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| "neither PEM nor base64 of PEM".to_string())?;
        String::from_utf8(decoded).map_err(|_| "base64 of something other than PEM".to_string())?
    };
    let mut certificates = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let b64 = body.take().ok_or("END without BEGIN")?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("a certificate is not base64: {e}"))?;
            certificates.push(der);
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    if certificates.is_empty() {
        return Err("no CERTIFICATE block in the PEM".into());
    }
    Ok(certificates)
}

/// An error and its sources, joined with ": ".
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(token: &str) -> String {
        let b64 = token.strip_prefix(EKS_TOKEN_PREFIX).expect("prefix");
        assert!(!b64.contains('='), "no padding: {b64}");
        assert!(
            !b64.contains('+') && !b64.contains('/'),
            "url alphabet: {b64}"
        );
        String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .expect("base64url"),
        )
        .expect("utf-8")
    }

    #[test]
    fn token_is_a_presigned_get_caller_identity() {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        // 2024-01-02T03:04:05Z
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_164_645);
        let token = presign_eks_token(&credentials, "ap-northeast-2", "moamoa-main", time).unwrap();
        let url = decode(&token);
        assert!(
            url.starts_with("https://sts.ap-northeast-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"),
            "{url}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20240102%2Fap-northeast-2%2Fsts%2Faws4_request",
            "X-Amz-Date=20240102T030405Z",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
        assert!(
            !url.contains("moamoa-main"),
            "the cluster is signed, not sent: {url}"
        );
        // The signature binds the cluster name.
        let other = presign_eks_token(&credentials, "ap-northeast-2", "other", time).unwrap();
        assert_ne!(token, other);
        assert_eq!(
            token,
            presign_eks_token(&credentials, "ap-northeast-2", "moamoa-main", time).unwrap()
        );
    }

    #[test]
    fn session_tokens_ride_along() {
        let credentials = Credentials::new("ASIA", "secret", Some("se/ss+ion".into()), None, "t");
        let token = presign_eks_token(&credentials, "cn-north-1", "c", SystemTime::now()).unwrap();
        let url = decode(&token);
        assert!(
            url.starts_with("https://sts.cn-north-1.amazonaws.com.cn/"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Security-Token=se%2Fss%2Bion"), "{url}");
    }

    #[test]
    fn kubeconfig_for_minted_tokens_names_the_plugin_and_holds_no_token() {
        let sdk_config = SdkConfig::builder()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "secret", None, None, "test",
            )))
            .region(aws_types::region::Region::new("ap-northeast-2"))
            .build();
        let tokens = EksTokens::new(&sdk_config, "moamoa-main").unwrap();
        let plugin = TokenCommand {
            program: PathBuf::from("/opt/meshctl"),
            args: vec!["__eks-token".into()],
        };
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
        let yaml = ClusterAccess::eks_minted("https://eks.example", pem, tokens, plugin)
            .kubeconfig_yaml()
            .unwrap();
        assert!(!yaml.contains(EKS_TOKEN_PREFIX), "{yaml}");
        let config: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let exec = &config["users"][0]["user"]["exec"];
        assert_eq!(exec["command"].as_str(), Some("/opt/meshctl"));
        assert_eq!(exec["apiVersion"].as_str(), Some(EXEC_API_VERSION));
        let args: Vec<&str> = exec["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert_eq!(
            args,
            [
                "__eks-token",
                "--cluster-name",
                "moamoa-main",
                "--region",
                "ap-northeast-2"
            ]
        );
        assert!(config["users"][0]["user"]["token"].is_null());
    }

    #[test]
    fn an_exec_credential_expires_when_clients_stop_reusing_it() {
        let signed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let credential = exec_credential("k8s-aws-v1.abc", signed, |t| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                .to_string()
        });
        assert_eq!(credential["kind"], "ExecCredential");
        assert_eq!(credential["apiVersion"], EXEC_API_VERSION);
        assert_eq!(credential["status"]["token"], "k8s-aws-v1.abc");
        assert_eq!(credential["status"]["expirationTimestamp"], "1840");
    }

    #[test]
    fn env_override_wins() {
        assert_eq!(resolve_endpoint_override(None, None), None);
        assert_eq!(
            resolve_endpoint_override(Some("https://a"), None).as_deref(),
            Some("https://a")
        );
        assert_eq!(
            resolve_endpoint_override(Some("https://a"), Some("https://b")).as_deref(),
            Some("https://b")
        );
        assert_eq!(
            resolve_endpoint_override(Some("https://a"), Some(" ")).as_deref(),
            Some("https://a")
        );
    }

    #[test]
    fn ca_from_pem_or_base64() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
        assert_eq!(
            ca_certificates(pem.as_bytes()).unwrap(),
            vec![vec![0, 1, 2]]
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(
            ca_certificates(b64.as_bytes()).unwrap(),
            vec![vec![0, 1, 2]]
        );
        assert!(ca_certificates(b"nonsense!").is_err());
    }
}
