//! The sandbox Kubernetes API server driven by kube-rs, the client meshctl's Kubernetes provider
//! uses: kubeconfig loading (plain HTTP and TLS with a bearer token), server-side apply and its
//! conflicts, status subresources, watchers, and the in-process store beside HTTP.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{wait::await_condition, watcher, WatchStreamExt};
use kube::{Api, Client, Config};
use meshctl_sandbox::kube::{ApiServer, ApiServerOptions, EventType, Gvr};
use serde_json::json;

async fn client_for(server: &ApiServer, token: Option<&str>) -> (Client, tempfile::TempDir) {
    // The workspace builds rustls with both ring and aws-lc-rs (the AWS SDK's choice), so the
    // process must name one before kube-rs builds its TLS config.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path, token).expect("kubeconfig");
    let kubeconfig = Kubeconfig::read_from(&path).expect("kube-rs reads the kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube-rs accepts the kubeconfig");
    (Client::try_from(config).expect("client"), dir)
}

fn deployment(replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "labels": {"app": "api"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "example/api:1"}]}
            }
        }
    })
}

fn api_error(err: kube::Error) -> kube::core::ErrorResponse {
    match err {
        kube::Error::Api(e) => e,
        other => panic!("expected a Kubernetes Status error, got {other:?}"),
    }
}

#[tokio::test]
async fn apply_conflicts_and_status_through_kube_rs() {
    let server = ApiServer::start(ApiServerOptions::default())
        .await
        .expect("server");
    let (client, _dir) = client_for(&server, None).await;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("list namespaces")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"kube-system".to_string()), "{names:?}");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let applied = deployments
        .patch(
            "api",
            &PatchParams::apply("meshctl"),
            &Patch::Apply(deployment(2)),
        )
        .await
        .expect("server-side apply creates");
    assert_eq!(applied.metadata.generation, Some(1));
    assert!(applied.metadata.uid.is_some());

    let available = await_condition(deployments.clone(), "api", |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .and_then(|s| s.available_replicas)
            == Some(2)
    });
    tokio::time::timeout(Duration::from_secs(10), available)
        .await
        .expect("the Deployment becomes available")
        .expect("watch works");

    let err = deployments
        .patch(
            "api",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(deployment(7)),
        )
        .await
        .expect_err("conflict");
    let status = api_error(err);
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status
            .message
            .contains("conflict with \"meshctl\": .spec.replicas"),
        "{}",
        status.message
    );

    let forced = deployments
        .patch(
            "api",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(deployment(7)),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.spec.as_ref().and_then(|s| s.replicas), Some(7));
    assert_eq!(forced.metadata.generation, Some(2));

    // Status written through the subresource leaves spec alone; status in a normal write is
    // ignored.
    let patched = deployments
        .patch_status(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 42}, "spec": {"replicas": 1}})),
        )
        .await
        .expect("status patch");
    assert_eq!(patched.status.as_ref().and_then(|s| s.replicas), Some(42));
    assert_eq!(patched.spec.as_ref().and_then(|s| s.replicas), Some(7));

    let err = deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(deployment(1)).expect("typed"),
        )
        .await
        .expect_err("already exists");
    assert_eq!(api_error(err).reason, "AlreadyExists");

    let err = deployments
        .patch("api", &PatchParams::default(), &Patch::Apply(deployment(1)))
        .await
        .expect_err("apply needs a field manager");
    assert_eq!(api_error(err).code, 422);
}

#[tokio::test]
async fn services_watchers_and_the_in_process_store() {
    let server = ApiServer::start(ApiServerOptions::default())
        .await
        .expect("server");
    let store = server.store();
    let mut changes = store.subscribe();
    let (client, _dir) = client_for(&server, None).await;

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ingress"},
        "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80}, {"name": "status", "port": 15021, "nodePort": 31021}]}
    });
    let created = services
        .patch(
            "ingress",
            &PatchParams::apply("meshctl"),
            &Patch::Apply(svc),
        )
        .await
        .expect("service applied");
    let ports = created
        .spec
        .and_then(|s| s.ports)
        .expect("ports")
        .into_iter()
        .map(|p| p.node_port.expect("nodePort allocated"))
        .collect::<Vec<_>>();
    assert!((30000..=32767).contains(&ports[0]));
    assert_eq!(ports[1], 31021);

    let change = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let c = changes.recv().await.expect("change stream open");
            if c.resource.resource == "services" && c.name == "ingress" {
                return c;
            }
        }
    })
    .await
    .expect("the store reports the service");
    assert_eq!(change.event, EventType::Added);
    assert_eq!(change.namespace.as_deref(), Some("default"));

    let clash = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "clash"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 31021}]}
    });
    let err = services
        .patch(
            "clash",
            &PatchParams::apply("meshctl"),
            &Patch::Apply(clash),
        )
        .await
        .expect_err("port taken");
    let status = api_error(err);
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(status
        .message
        .contains("provided port is already allocated"));

    // A watcher sees objects created after it started, and their deletion.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut events = watcher(configmaps.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("watcher starts")
        .expect("stream")
        .expect("event");
    assert!(matches!(first, watcher::Event::Init), "{first:?}");
    loop {
        let e = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("initial list")
            .expect("stream")
            .expect("event");
        if matches!(e, watcher::Event::InitDone) {
            break;
        }
    }
    // Written in-process, seen over HTTP.
    store
        .create(
            &Gvr::new("", "v1", "configmaps"),
            Some("default"),
            json!({"metadata": {"name": "late"}, "data": {"k": "v"}}),
            &Default::default(),
        )
        .expect("in-process create");
    let seen = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("watch event")
        .expect("stream")
        .expect("event");
    match seen {
        watcher::Event::Apply(cm) => {
            assert_eq!(cm.metadata.name.as_deref(), Some("late"));
            assert_eq!(
                cm.data.and_then(|d| d.get("k").cloned()).as_deref(),
                Some("v")
            );
        }
        other => panic!("expected Apply, got {other:?}"),
    }
    configmaps
        .delete("late", &DeleteParams::default())
        .await
        .expect("delete");
    let gone = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("watch event")
        .expect("stream")
        .expect("event");
    assert!(matches!(gone, watcher::Event::Delete(_)), "{gone:?}");
    let err = configmaps.get("late").await.expect_err("deleted");
    assert_eq!(api_error(err).code, 404);
}

#[tokio::test]
async fn tls_and_bearer_tokens_with_kube_rs() {
    let server = ApiServer::start(ApiServerOptions {
        bearer_token: Some("eks-token".into()),
        tls: true,
        ..ApiServerOptions::default()
    })
    .await
    .expect("server");
    assert!(server
        .ca_pem()
        .is_some_and(|p| p.starts_with("-----BEGIN CERTIFICATE-----")));

    let (client, _dir) = client_for(&server, Some("eks-token")).await;
    let namespaces: Api<Namespace> = Api::all(client);
    let default = namespaces.get("default").await.expect("authorized get");
    assert_eq!(default.metadata.name.as_deref(), Some("default"));

    let (wrong, _dir2) = client_for(&server, Some("other-token")).await;
    let namespaces: Api<Namespace> = Api::all(wrong);
    let err = namespaces.get("default").await.expect_err("unauthorized");
    let status = api_error(err);
    assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"));
}

/// The raw JSON of a GET, as the server sent it (no client type fills anything in).
async fn get_raw(client: &Client, path: &str) -> serde_json::Value {
    let request = hyper::Request::get(path).body(Vec::new()).expect("request");
    let text = client.request_text(request).await.expect("GET answered");
    serde_json::from_str(&text).expect("JSON answer")
}

/// As a real API server: a LIST of a built-in type carries each item without `apiVersion` and
/// `kind` (only the list has them), a LIST of custom resources keeps them on each item, and a
/// watch event's object carries them whatever the type.
#[tokio::test]
async fn list_items_of_built_in_types_carry_no_type_meta() {
    let server = ApiServer::start(ApiServerOptions::default())
        .await
        .expect("server");
    let (client, _dir) = client_for(&server, None).await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}});
    configmaps
        .patch("one", &PatchParams::apply("t"), &Patch::Apply(configmap))
        .await
        .expect("configmap applied");
    // Istio's kinds exist once their CRD does, as on a real cluster.
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gateways.networking.istio.io"},
        "spec": {"group": "networking.istio.io", "scope": "Namespaced",
            "names": {"kind": "Gateway", "plural": "gateways", "singular": "gateway", "listKind": "GatewayList"},
            "versions": [{"name": "v1beta1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    server
        .store()
        .create(
            &Gvr::new("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            None,
            crd,
            &Default::default(),
        )
        .expect("gateway CRD stored");
    let gateway = json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "default"}, "spec": {}});
    server
        .store()
        .create(
            &Gvr::new("networking.istio.io", "v1beta1", "gateways"),
            Some("default"),
            gateway,
            &Default::default(),
        )
        .expect("gateway stored");

    let list = get_raw(&client, "/api/v1/namespaces/default/configmaps").await;
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["apiVersion"], "v1");
    let item = &list["items"][0];
    assert_eq!(item["metadata"]["name"], "one");
    assert!(
        item.get("kind").is_none() && item.get("apiVersion").is_none(),
        "{item}"
    );
    let namespaces = get_raw(&client, "/api/v1/namespaces").await;
    assert!(namespaces["items"][0].get("kind").is_none());

    let gateways = get_raw(
        &client,
        "/apis/networking.istio.io/v1beta1/namespaces/default/gateways",
    )
    .await;
    assert_eq!(gateways["items"][0]["kind"], "Gateway");
    assert_eq!(
        gateways["items"][0]["apiVersion"],
        "networking.istio.io/v1beta1"
    );

    let one = get_raw(&client, "/api/v1/namespaces/default/configmaps/one").await;
    assert_eq!(one["kind"], "ConfigMap");

    let dynamic: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &kube::core::ApiResource::erase::<ConfigMap>(&()),
    );
    let mut events = dynamic
        .watch(&kube::api::WatchParams::default(), "0")
        .await
        .expect("watch opened")
        .boxed();
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("a watch event")
        .expect("stream open")
        .expect("event decoded");
    let kube::api::WatchEvent::Added(object) = event else {
        panic!("expected ADDED, got {event:?}");
    };
    let types = object
        .types
        .expect("a watch event's object carries its type");
    assert_eq!(
        (types.api_version.as_str(), types.kind.as_str()),
        ("v1", "ConfigMap")
    );
}
