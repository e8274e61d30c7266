//! Cluster access against the sandbox API server in EKS mode: tokens from `eks_token` are
//! accepted for the expected cluster only, and while fresh; a client with minted tokens keeps
//! working after a token would have expired; endpoint overrides and kubeconfig access reach the
//! same server.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_types::region::Region;
use aws_types::SdkConfig;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::ListParams;
use kube::Api;
use meshctl_provider_kube::access::{
    eks_token, presign_eks_token, AccessError, Cluster, ClusterAccess, EksTokens, TokenCommand,
};
use meshctl_sandbox::kube::{ApiServer, ApiServerOptions};

const CLUSTER: &str = "moamoa-main";
const REGION: &str = "ap-northeast-2";

/// moto's test credentials, which the sandbox verifies signatures with.
fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "test")
}

fn sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials()))
        .region(Region::new(REGION))
        .build()
}

async fn eks_sandbox() -> ApiServer {
    ApiServer::start(ApiServerOptions {
        eks_cluster: Some(CLUSTER.into()),
        tls: true,
        ..ApiServerOptions::default()
    })
    .await
    .expect("sandbox API server")
}

fn access(server: &ApiServer, endpoint: &str, token: String) -> ClusterAccess {
    ClusterAccess::eks(
        CLUSTER,
        endpoint,
        server.ca_pem().expect("tls").as_bytes().to_vec(),
        token,
    )
}

async fn namespaces(cluster: &Cluster) -> Vec<String> {
    Api::<Namespace>::all(cluster.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.explain(e))
        .expect("list namespaces")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect()
}

#[tokio::test]
async fn eks_token_for_the_cluster_lists_namespaces() {
    let server = eks_sandbox().await;
    let token = eks_token(&sdk_config(), CLUSTER).await.expect("token");
    let cluster = access(&server, &server.url(), token)
        .connect()
        .await
        .expect("connect");
    assert!(namespaces(&cluster).await.contains(&"default".to_string()));
}

#[tokio::test]
async fn token_for_another_cluster_is_refused_in_words() {
    let server = eks_sandbox().await;
    let token = eks_token(&sdk_config(), "someone-else")
        .await
        .expect("token");
    let err = access(&server, &server.url(), token)
        .connect()
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, AccessError::Unauthorized { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(CLUSTER), "{message}");
    assert!(message.contains(&server.url()), "{message}");
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(message.contains("another cluster"), "{message}");
}

#[tokio::test]
async fn expired_and_foreign_tokens_are_refused() {
    let server = eks_sandbox().await;
    let twenty_minutes_ago = SystemTime::now() - Duration::from_secs(20 * 60);
    let expired = presign_eks_token(&credentials(), REGION, CLUSTER, twenty_minutes_ago).unwrap();
    let err = access(&server, &server.url(), expired)
        .connect()
        .await
        .err()
        .expect("expired");
    assert!(matches!(err, AccessError::Unauthorized { .. }), "{err:?}");

    // Signed with keys other than the sandbox's: the signature cannot match.
    let other_keys = Credentials::new("testing", "not-testing", None, None, "test");
    let foreign = presign_eks_token(&other_keys, REGION, CLUSTER, SystemTime::now()).unwrap();
    let err = access(&server, &server.url(), foreign)
        .connect()
        .await
        .err()
        .expect("foreign");
    assert!(matches!(err, AccessError::Unauthorized { .. }), "{err:?}");

    // A token a few minutes old is still good, as on EKS.
    let recent = SystemTime::now() - Duration::from_secs(5 * 60);
    let recent = presign_eks_token(&credentials(), REGION, CLUSTER, recent).unwrap();
    access(&server, &server.url(), recent)
        .connect()
        .await
        .expect("a 5-minute-old token");
}

#[tokio::test]
async fn endpoint_override_reaches_the_cluster() {
    let server = eks_sandbox().await;
    let token = eks_token(&sdk_config(), CLUSTER).await.expect("token");
    // The "private" endpoint nobody can reach; requests go to the override, and TLS still
    // verifies the certificate against the original host name (localhost, in the sandbox's
    // certificate).
    let private = "https://localhost:1";
    let unreachable = access(&server, private, token.clone())
        .connect()
        .await
        .err()
        .expect("unreachable");
    assert!(
        matches!(unreachable, AccessError::Unreachable { .. }),
        "{unreachable:?}"
    );
    let message = unreachable.to_string();
    assert!(message.contains("kube.endpoint_override"), "{message}");
    assert!(message.contains("MESHCTL_KUBE_ENDPOINT"), "{message}");
    assert!(message.contains("https://localhost:1"), "{message}");

    let cluster = access(&server, private, token)
        .with_endpoint_override(Some(server.url()))
        .connect()
        .await
        .expect("connect through the override");
    assert_eq!(cluster.endpoint, server.url());
    assert!(namespaces(&cluster)
        .await
        .contains(&"kube-system".to_string()));
}

#[tokio::test]
async fn kubeconfig_and_context() {
    let server = eks_sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    let token = eks_token(&sdk_config(), CLUSTER).await.expect("token");
    server.write_kubeconfig(&path, Some(&token)).unwrap();
    let cluster = ClusterAccess::kubeconfig(&path, Some("sandbox".into()))
        .connect()
        .await
        .expect("connect with the kubeconfig");
    assert!(namespaces(&cluster).await.contains(&"default".to_string()));

    let err = ClusterAccess::kubeconfig(&path, Some("nope".into()))
        .connect()
        .await
        .err()
        .expect("no such context");
    assert!(matches!(err, AccessError::Kubeconfig { .. }), "{err:?}");
    assert!(err.to_string().contains("nope"), "{err}");

    // Without a token the kubeconfig user is refused, with kubeconfig advice.
    server.write_kubeconfig(&path, None).unwrap();
    let err = ClusterAccess::kubeconfig(&path, None)
        .connect()
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("kubeconfig"), "{err}");
}

/// A server whose EKS tokens are good for one second after signing.
async fn short_token_sandbox() -> ApiServer {
    ApiServer::start(ApiServerOptions {
        eks_cluster: Some(CLUSTER.into()),
        eks_token_lifetime: Duration::from_secs(1),
        tls: true,
        ..ApiServerOptions::default()
    })
    .await
    .expect("sandbox API server")
}

#[tokio::test]
async fn minted_tokens_outlive_a_token_lifetime_and_a_fixed_one_does_not() {
    let server = short_token_sandbox().await;
    let ca = server.ca_pem().expect("tls").as_bytes().to_vec();
    let tokens = EksTokens::new(&sdk_config(), CLUSTER).expect("tokens");
    let minted = ClusterAccess::eks_minted(server.url(), ca, tokens, TokenCommand::aws_cli())
        .connect()
        .await
        .expect("connect with minted tokens");
    let fixed = access(
        &server,
        &server.url(),
        eks_token(&sdk_config(), CLUSTER).await.expect("token"),
    )
    .connect()
    .await
    .expect("connect with a fresh fixed token");

    tokio::time::sleep(Duration::from_millis(2500)).await;

    assert!(namespaces(&minted).await.contains(&"default".to_string()));
    let err = Api::<Namespace>::all(fixed.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| fixed.explain(e))
        .expect_err("the fixed token has expired");
    assert!(matches!(err, AccessError::Unauthorized { .. }), "{err:?}");
}
