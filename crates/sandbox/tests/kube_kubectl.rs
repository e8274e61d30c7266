//! The sandbox Kubernetes API server driven by the real kubectl: discovery, server-side apply and
//! its conflicts, selectors, nodePort allocation, deletion, waits, CRDs and bearer tokens.

mod common;

use common::kubectl_path;
use std::path::{Path, PathBuf};
use std::process::Output;

use meshctl_sandbox::kube::{ApiServer, ApiServerOptions, Gvr};
use serde_json::Value;

struct Cluster {
    server: ApiServer,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    async fn start(options: ApiServerOptions, token: Option<&str>) -> Self {
        let server = ApiServer::start(options).await.expect("server starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig, token)
            .expect("kubeconfig written");
        Self {
            server,
            dir,
            kubeconfig,
        }
    }

    async fn new() -> Self {
        Self::start(ApiServerOptions::default(), None).await
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("manifest written");
        path
    }

    async fn kubectl_with(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        tokio::process::Command::new(kubectl_path())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
            .await
            .expect("kubectl runs")
    }

    async fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(&self.kubeconfig, args).await
    }

    /// Runs kubectl and insists it succeeds; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl and insists it fails; returns stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all).await).expect("kubectl printed JSON")
    }
}

const NAMESPACE_AND_DEPLOYMENT: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports: [{containerPort: 80}]
"#;

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn namespaces_are_listed_and_created() {
    let c = Cluster::new().await;
    let list = c.json(&["get", "namespaces"]).await;
    assert_eq!(
        names(&list),
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    // Human output goes through the Table the server renders.
    let human = c.ok(&["get", "ns"]).await;
    let header: Vec<&str> = human
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "STATUS", "AGE"]);
    assert!(human
        .lines()
        .any(|l| l.starts_with("kube-system") && l.contains("Active")));

    // `kubectl create namespace` sends protobuf.
    c.ok(&["create", "namespace", "made-by-create"]).await;
    let ns = c.json(&["get", "namespace", "made-by-create"]).await;
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "made-by-create"
    );

    let missing = c.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: nowhere}\ndata: {a: b}\n",
    );
    let err = c
        .fails(&[
            "apply",
            "--server-side",
            "-f",
            missing.to_str().expect("utf-8"),
        ])
        .await;
    assert!(
        err.contains("NotFound") && err.contains("namespaces \"nowhere\" not found"),
        "{err}"
    );
}

#[tokio::test]
async fn server_side_apply_selectors_conflicts_and_force() {
    let c = Cluster::new().await;
    let manifest = c.file("app.yaml", NAMESPACE_AND_DEPLOYMENT);
    let manifest = manifest.to_str().expect("utf-8");
    let out = c.ok(&["apply", "--server-side", "-f", manifest]).await;
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );

    let selected = c
        .json(&["get", "deploy", "-n", "shop", "-l", "app=web"])
        .await;
    assert_eq!(names(&selected), ["web"]);
    assert_eq!(selected["items"][0]["spec"]["replicas"], 2);
    for (selector, expected) in [
        ("app=other", 0),
        ("app!=web", 0),
        ("app in (web,api)", 1),
        ("app notin (web)", 0),
        ("tier", 1),
        ("!tier", 0),
        ("app=web,tier=front", 1),
    ] {
        let list = c
            .json(&["get", "deploy", "-n", "shop", "-l", selector])
            .await;
        assert_eq!(names(&list).len(), expected, "selector {selector}");
    }
    let all_namespaces = c.json(&["get", "deploy", "-A"]).await;
    assert_eq!(names(&all_namespaces), ["web"]);

    let scaled = c.file(
        "scaled.yaml",
        &NAMESPACE_AND_DEPLOYMENT.replace("replicas: 2", "replicas: 5"),
    );
    let scaled = scaled.to_str().expect("utf-8");
    let err = c
        .fails(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            scaled,
        ])
        .await;
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{err}"
    );
    let still = c.json(&["get", "deploy", "web", "-n", "shop"]).await;
    assert_eq!(
        still["spec"]["replicas"], 2,
        "a refused apply changes nothing"
    );

    c.ok(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        scaled,
    ])
    .await;
    let forced = c
        .json(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "--show-managed-fields",
        ])
        .await;
    assert_eq!(forced["spec"]["replicas"], 5);
    assert_eq!(forced["metadata"]["generation"], 2);
    let owners: Vec<&str> = forced["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter(|e| !e["fieldsV1"]["f:spec"]["f:replicas"].is_null())
        .map(|e| e["manager"].as_str().expect("manager"))
        .collect();
    assert_eq!(owners, ["other"], "spec.replicas moved to the new manager");
}

#[tokio::test]
async fn yaml_output_reapplied_is_a_no_op() {
    let c = Cluster::new().await;
    let manifest = c.file("app.yaml", NAMESPACE_AND_DEPLOYMENT);
    c.ok(&[
        "apply",
        "--server-side",
        "-f",
        manifest.to_str().expect("utf-8"),
    ])
    .await;
    c.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=10s",
    ])
    .await;
    let yaml = c
        .ok(&["get", "deploy", "web", "-n", "shop", "-o", "yaml"])
        .await;
    let before = c.json(&["get", "deploy", "web", "-n", "shop"]).await;
    let exported = c.file("exported.yaml", &yaml);
    c.ok(&[
        "apply",
        "--server-side",
        "-f",
        exported.to_str().expect("utf-8"),
    ])
    .await;
    let after = c.json(&["get", "deploy", "web", "-n", "shop"]).await;
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    assert_eq!(after["metadata"]["generation"], 1);
}

#[tokio::test]
async fn services_get_node_ports_and_cluster_ips() {
    let c = Cluster::new().await;
    let svc = c.file(
        "svc.yaml",
        r#"
apiVersion: v1
kind: Service
metadata: {name: gateway, namespace: default}
spec:
  type: NodePort
  selector: {app: gw}
  ports:
  - {name: http2, port: 80, targetPort: 8080}
  - {name: status-port, port: 15021, targetPort: 15021, nodePort: 30021}
"#,
    );
    c.ok(&["apply", "--server-side", "-f", svc.to_str().expect("utf-8")])
        .await;
    let port: u16 = c
        .ok(&[
            "get",
            "svc",
            "gateway",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .await
        .trim()
        .parse()
        .expect("a nodePort number");
    assert!((30000..=32767).contains(&port), "{port}");
    let pinned = c
        .ok(&[
            "get",
            "svc",
            "gateway",
            "-o",
            "jsonpath={.spec.ports[1].nodePort}",
        ])
        .await;
    assert_eq!(pinned.trim(), "30021");
    let ip = c
        .ok(&["get", "svc", "gateway", "-o", "jsonpath={.spec.clusterIP}"])
        .await;
    assert!(ip.starts_with("10.100."), "{ip}");

    // Re-applying keeps the allocated port.
    c.ok(&["apply", "--server-side", "-f", svc.to_str().expect("utf-8")])
        .await;
    let again = c
        .ok(&[
            "get",
            "svc",
            "gateway",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .await;
    assert_eq!(again.trim(), port.to_string());

    let taken = c.file(
        "taken.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: other}\nspec:\n  type: NodePort\n  ports: [{port: 15021, nodePort: 30021}]\n",
    );
    let err = c
        .fails(&[
            "apply",
            "--server-side",
            "-f",
            taken.to_str().expect("utf-8"),
        ])
        .await;
    assert!(
        err.contains(
            "spec.ports[0].nodePort: Invalid value: 30021: provided port is already allocated"
        ),
        "{err}"
    );
    let out_of_range = c.file(
        "range.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: far}\nspec:\n  type: NodePort\n  ports: [{port: 80, nodePort: 40000}]\n",
    );
    let err = c
        .fails(&["create", "-f", out_of_range.to_str().expect("utf-8")])
        .await;
    assert!(
        err.contains("provided port is not in the valid range"),
        "{err}"
    );
    let human = c.ok(&["get", "svc", "gateway"]).await;
    assert!(
        human.contains(&format!("80:{port}/TCP,15021:30021/TCP")),
        "{human}"
    );
}

#[tokio::test]
async fn delete_then_get_is_not_found_and_namespaces_take_their_content() {
    let c = Cluster::new().await;
    let manifest = c.file("app.yaml", NAMESPACE_AND_DEPLOYMENT);
    c.ok(&[
        "apply",
        "--server-side",
        "-f",
        manifest.to_str().expect("utf-8"),
    ])
    .await;
    let out = c.ok(&["delete", "deploy", "web", "-n", "shop"]).await;
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    let out = c.kubectl(&["get", "deploy", "web", "-n", "shop"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NotFound") && err.contains("deployments.apps \"web\" not found"),
        "{err}"
    );

    c.ok(&[
        "apply",
        "--server-side",
        "-f",
        manifest.to_str().expect("utf-8"),
    ])
    .await;
    c.ok(&["delete", "namespace", "shop"]).await;
    let err = c.fails(&["get", "namespace", "shop"]).await;
    assert!(err.contains("NotFound"), "{err}");
    let left = c.json(&["get", "deploy", "-A"]).await;
    assert!(names(&left).is_empty(), "the namespace took its Deployment");
}

#[tokio::test]
async fn wait_scale_and_rollout_status() {
    let c = Cluster::new().await;
    let manifest = c.file("app.yaml", NAMESPACE_AND_DEPLOYMENT);
    c.ok(&[
        "apply",
        "--server-side",
        "-f",
        manifest.to_str().expect("utf-8"),
    ])
    .await;
    c.ok(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=10s",
    ])
    .await;
    let d = c.json(&["get", "deploy", "web", "-n", "shop"]).await;
    assert_eq!(d["status"]["readyReplicas"], 2);
    assert_eq!(d["status"]["observedGeneration"], 1);

    c.ok(&["scale", "deploy", "web", "-n", "shop", "--replicas=4"])
        .await;
    c.ok(&[
        "wait",
        "--for=jsonpath={.status.availableReplicas}=4",
        "deploy/web",
        "-n",
        "shop",
        "--timeout=10s",
    ])
    .await;
    let out = c
        .ok(&[
            "rollout",
            "status",
            "deploy/web",
            "-n",
            "shop",
            "--timeout=10s",
        ])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");

    // A condition that never comes: wait must time out, not pass.
    let err = c
        .fails(&[
            "wait",
            "--for=condition=Missing",
            "deploy/web",
            "-n",
            "shop",
            "--timeout=1s",
        ])
        .await;
    assert!(err.contains("timed out"), "{err}");
}

#[tokio::test]
async fn custom_resource_definitions_make_resources_servable() {
    let c = Cluster::new().await;
    let err = c.fails(&["get", "widgets"]).await;
    assert!(
        err.contains("doesn't have a resource type \"widgets\""),
        "{err}"
    );
    let crd = c.file(
        "crd.yaml",
        r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#,
    );
    c.ok(&["apply", "--server-side", "-f", crd.to_str().expect("utf-8")])
        .await;
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=5s",
    ])
    .await;
    let empty = c.json(&["get", "widgets"]).await;
    assert!(names(&empty).is_empty());
    let widget = c.file(
        "w.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n",
    );
    c.ok(&[
        "apply",
        "--server-side",
        "-f",
        widget.to_str().expect("utf-8"),
    ])
    .await;
    let got = c.json(&["get", "wd", "w1"]).await;
    assert_eq!(got["spec"]["size"], 3);
    assert_eq!(got["apiVersion"], "example.com/v1");

    // The in-process store sees the same object.
    let store = c.server.store();
    let listed = store
        .list(&Gvr::new("example.com", "v1", "widgets"), Some("default"))
        .expect("served");
    assert_eq!(listed.len(), 1);

    c.ok(&["delete", "crd", "widgets.example.com"]).await;
    assert!(store
        .list(&Gvr::new("example.com", "v1", "widgets"), None)
        .is_err());
}

#[tokio::test]
async fn bearer_token_is_required() {
    // client-go sends credentials only over TLS, as to a real EKS endpoint.
    let options = ApiServerOptions {
        bearer_token: Some("s3cret-token".into()),
        tls: true,
        ..ApiServerOptions::default()
    };
    let c = Cluster::start(options, None).await;
    assert!(c.server.url().starts_with("https://127.0.0.1:"));
    // Without credentials kubectl falls back to asking for a username, and fails.
    let out = c.kubectl(&["get", "ns", "-o", "name"]).await;
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("namespace/default"));

    let wrong = c.dir.path().join("wrong");
    c.server
        .write_kubeconfig(&wrong, Some("not-the-token"))
        .expect("kubeconfig");
    let out = c.kubectl_with(&wrong, &["get", "ns"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("You must be logged in to the server"), "{err}");

    let right = c.dir.path().join("right");
    c.server
        .write_kubeconfig(&right, Some("s3cret-token"))
        .expect("kubeconfig");
    let out = c.kubectl_with(&right, &["get", "ns", "-o", "name"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
}

/// One raw HTTP/1.1 request to a plain-HTTP server: (status code, body).
async fn raw_get(address: std::net::SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: sandbox\r\n{auth}Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response read");
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn unauthorized_requests_get_a_status_body() {
    let options = ApiServerOptions {
        bearer_token: Some("t0ken".into()),
        ..ApiServerOptions::default()
    };
    let c = Cluster::start(options, None).await;
    let (code, body) = raw_get(c.server.address(), "/api/v1/namespaces", None).await;
    assert_eq!(code, 401);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "Unauthorized");
    assert_eq!(body["code"], 401);
    let (code, _) = raw_get(c.server.address(), "/api/v1/namespaces", Some("nope")).await;
    assert_eq!(code, 401);
    let (code, body) = raw_get(c.server.address(), "/api/v1/namespaces", Some("t0ken")).await;
    assert_eq!(code, 200);
    assert_eq!(body["kind"], "NamespaceList");
    let (code, body) = raw_get(
        c.server.address(),
        "/apis/nope.example.com/v1/things",
        Some("t0ken"),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(body["reason"], "NotFound");
}
