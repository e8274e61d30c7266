//! The helm and istioctl stand-ins, run as built binaries against a sandbox API server and
//! checked with the real kubectl: what they create, how they store releases, their errors, and
//! the invocation log.
//!
//! Run: `cargo test -p meshctl-sandbox --test standins` (needs kubectl).

mod common;

use std::process::Output;

use common::{path_str, Kube};
use serde_json::Value;

fn run(kube: &Kube, program: &str, args: &[&str]) -> Output {
    std::process::Command::new(program)
        .args(args)
        .env("KUBECONFIG", &kube.kubeconfig)
        .env("MESHCTL_STANDIN_LOG", kube.dir.path().join("standin.log"))
        .output()
        .expect("the stand-in runs")
}

fn helm(kube: &Kube, args: &[&str]) -> Output {
    run(kube, env!("CARGO_BIN_EXE_helm"), args)
}

fn istioctl(kube: &Kube, args: &[&str]) -> Output {
    run(kube, env!("CARGO_BIN_EXE_istioctl"), args)
}

fn succeeded(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(what: &str, out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{what} should exit 1: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_installs_lists_and_uninstalls_the_load_balancer_controller() {
    common::kubectl_path();
    let kube = Kube::start().await;
    let values = kube.file(
        "values.yaml",
        "serviceAccount:\n  create: true\n  name: aws-load-balancer-controller\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/lbc\n",
    );
    let out = helm(
        &kube,
        &[
            "upgrade",
            "--install",
            "aws-load-balancer-controller",
            "eks/aws-load-balancer-controller",
            "--namespace",
            "kube-system",
            "--version",
            "1.8.1",
            "-f",
            path_str(&values),
            "--set",
            "clusterName=seed-cluster,region=ap-northeast-2",
            "--wait",
            "--timeout",
            "2m",
        ],
    );
    let stdout = succeeded("helm upgrade --install", &out);
    assert!(
        stdout.contains("STATUS: deployed") && stdout.contains("REVISION: 1"),
        "{stdout}"
    );

    let deployment = kube
        .get_json(&[
            "get",
            "deploy",
            "-n",
            "kube-system",
            "aws-load-balancer-controller",
        ])
        .await;
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains("--cluster-name=seed-cluster"), "{args}");
    assert_eq!(
        deployment["status"]["availableReplicas"], 2,
        "--wait returned before the rollout"
    );
    let sa = kube
        .get_json(&[
            "get",
            "sa",
            "-n",
            "kube-system",
            "aws-load-balancer-controller",
        ])
        .await;
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/lbc"
    );
    let class = kube.get_json(&["get", "ingressclass", "alb"]).await;
    assert_eq!(class["spec"]["controller"], "ingress.k8s.aws/alb");
    let secrets = kube
        .get_json(&[
            "get",
            "secret",
            "-n",
            "kube-system",
            "-l",
            "owner=helm,name=aws-load-balancer-controller",
        ])
        .await;
    let items = secrets["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["metadata"]["name"],
        "sh.helm.release.v1.aws-load-balancer-controller.v1"
    );
    assert_eq!(items[0]["metadata"]["labels"]["status"], "deployed");
    assert_eq!(items[0]["metadata"]["labels"]["version"], "1");

    // An upgrade makes revision 2 and supersedes 1.
    succeeded(
        "second upgrade",
        &helm(
            &kube,
            &[
                "upgrade",
                "--install",
                "aws-load-balancer-controller",
                "eks/aws-load-balancer-controller",
                "-n",
                "kube-system",
                "--set",
                "clusterName=seed-cluster",
                "--set",
                "replicaCount=1",
            ],
        ),
    );
    let status: Value = serde_json::from_str(&succeeded(
        "helm status",
        &helm(
            &kube,
            &[
                "status",
                "aws-load-balancer-controller",
                "-n",
                "kube-system",
                "-o",
                "json",
            ],
        ),
    ))
    .expect("JSON");
    assert_eq!(status["version"], 2);
    assert_eq!(status["info"]["status"], "deployed");
    assert_eq!(status["config"]["replicaCount"], 1);
    let old = kube
        .get_json(&[
            "get",
            "secret",
            "-n",
            "kube-system",
            "sh.helm.release.v1.aws-load-balancer-controller.v1",
        ])
        .await;
    assert_eq!(old["metadata"]["labels"]["status"], "superseded");
    let list: Value = serde_json::from_str(&succeeded(
        "helm list",
        &helm(&kube, &["list", "-n", "kube-system", "-o", "json"]),
    ))
    .expect("JSON");
    assert_eq!(list[0]["name"], "aws-load-balancer-controller");
    assert_eq!(list[0]["revision"], "2");
    assert_eq!(list[0]["chart"], "aws-load-balancer-controller-1.8.1");

    succeeded(
        "helm uninstall",
        &helm(
            &kube,
            &[
                "uninstall",
                "aws-load-balancer-controller",
                "-n",
                "kube-system",
            ],
        ),
    );
    let gone = kube
        .kubectl(&[
            "get",
            "deploy",
            "-n",
            "kube-system",
            "aws-load-balancer-controller",
        ])
        .await;
    assert!(!gone.status.success(), "the Deployment survived uninstall");
    let left = kube
        .get_json(&["get", "secret", "-n", "kube-system", "-l", "owner=helm"])
        .await;
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0));
    let stderr = failed(
        "uninstall again",
        &helm(
            &kube,
            &[
                "uninstall",
                "aws-load-balancer-controller",
                "-n",
                "kube-system",
            ],
        ),
    );
    assert!(stderr.contains("Error: uninstall: Release not loaded: aws-load-balancer-controller: release: not found"), "{stderr}");

    // Every call was logged with its arguments.
    let log =
        std::fs::read_to_string(kube.dir.path().join("standin.log")).expect("the invocation log");
    let first: Value =
        serde_json::from_str(log.lines().next().expect("a line")).expect("JSON line");
    assert_eq!(first["tool"], "helm");
    assert_eq!(first["argv"][0], "upgrade");
    assert_eq!(log.lines().count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_reports_errors_like_helm() {
    common::kubectl_path();
    let kube = Kube::start().await;
    let stderr = failed(
        "status of nothing",
        &helm(&kube, &["status", "nothing", "-n", "default"]),
    );
    assert_eq!(stderr.trim(), "Error: release: not found");
    let stderr = failed(
        "upgrade without --install",
        &helm(&kube, &["upgrade", "web", "bitnami/nginx", "-n", "default"]),
    );
    assert!(
        stderr.contains("UPGRADE FAILED: \"web\" has no deployed releases"),
        "{stderr}"
    );
    let stderr = failed(
        "missing namespace",
        &helm(
            &kube,
            &[
                "upgrade",
                "--install",
                "cm",
                "jetstack/cert-manager",
                "-n",
                "cert-manager",
            ],
        ),
    );
    assert!(
        stderr.contains("namespaces \"cert-manager\" not found"),
        "{stderr}"
    );
    let stderr = failed(
        "no clusterName",
        &helm(
            &kube,
            &[
                "install",
                "lbc",
                "eks/aws-load-balancer-controller",
                "-n",
                "kube-system",
            ],
        ),
    );
    assert!(stderr.contains("clusterName"), "{stderr}");
    let stderr = failed("unknown flag", &helm(&kube, &["install", "--frobnicate"]));
    assert!(stderr.contains("unknown flag: --frobnicate"), "{stderr}");

    // cert-manager with its CRDs; a generic chart is one Deployment named after the release.
    succeeded(
        "cert-manager",
        &helm(
            &kube,
            &[
                "upgrade",
                "--install",
                "cert-manager",
                "jetstack/cert-manager",
                "-n",
                "cert-manager",
                "--create-namespace",
                "--set",
                "installCRDs=true", // v1.14.4 (the default version) knows installCRDs; crds.enabled is v1.15+
                "--wait",
            ],
        ),
    );
    for name in [
        "cert-manager",
        "cert-manager-webhook",
        "cert-manager-cainjector",
    ] {
        kube.ok(&["get", "deploy", "-n", "cert-manager", name])
            .await;
    }
    kube.ok(&["get", "crd", "certificates.cert-manager.io"])
        .await;
    succeeded(
        "generic chart",
        &helm(&kube, &["install", "web", "bitnami/nginx", "-n", "default"]),
    );
    kube.ok(&["get", "deploy", "-n", "default", "web"]).await;
    let stderr = failed(
        "install twice",
        &helm(&kube, &["install", "web", "bitnami/nginx", "-n", "default"]),
    );
    assert!(
        stderr.contains("cannot re-use a name that is still in use"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_gateway_chart_makes_the_service_from_values() {
    common::kubectl_path();
    let kube = Kube::start().await;
    let values = kube.file(
        "gw.yaml",
        "service:\n  type: NodePort\n  annotations:\n    alb.ingress.kubernetes.io/healthcheck-port: \"30621\"\n  ports:\n  - {name: status-port, port: 15021, targetPort: 15021, nodePort: 30621}\n  - {name: https, port: 443, targetPort: 8443}\nlabels:\n  istio: ingressgateway-alb\n",
    );
    succeeded(
        "gateway",
        &helm(
            &kube,
            &[
                "upgrade",
                "--install",
                "istio-ingressgateway-alb",
                "istio/gateway",
                "-n",
                "istio-system",
                "--create-namespace",
                "-f",
                path_str(&values),
                "--version",
                "1.22.0",
            ],
        ),
    );
    let svc = kube
        .get_json(&[
            "get",
            "svc",
            "-n",
            "istio-system",
            "istio-ingressgateway-alb",
        ])
        .await;
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30621);
    assert!(
        svc["spec"]["ports"][1]["nodePort"].as_i64().is_some(),
        "a nodePort is allocated for https"
    );
    assert_eq!(svc["spec"]["selector"]["istio"], "ingressgateway-alb");
    assert_eq!(
        svc["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-port"],
        "30621"
    );
}

/// Seed 004's IstioOperator: an NLB gateway and two NodePort ALB gateways.
const SEED_004_OPERATOR: &str = r#"apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  namespace: istio-system
  name: istiocontrolplane
spec:
  profile: default
  tag: 1.12.1
  components:
    egressGateways:
    - name: istio-egressgateway
      enabled: false
    ingressGateways:
    - name: istio-ingressgateway
      enabled: true
      label:
        istio: ingressgateway
      k8s:
        hpaSpec:
          minReplicas: 1
        service:
          externalTrafficPolicy: Cluster
          type: LoadBalancer
          ports:
          - {port: 15021, targetPort: 15021, name: status-port, protocol: TCP}
          - {port: 80, targetPort: 8080, name: http2, protocol: TCP}
          - {port: 443, targetPort: 8443, name: https, protocol: TCP}
        serviceAnnotations:
          service.beta.kubernetes.io/aws-load-balancer-name: istio-ingress-nlb
          service.beta.kubernetes.io/aws-load-balancer-type: "external"
          service.beta.kubernetes.io/aws-load-balancer-internal: "true"
    - name: istio-ingressgateway-alb
      enabled: true
      label:
        istio: ingressgateway-alb
      k8s:
        hpaSpec: {minReplicas: 1, maxReplicas: 2}
        serviceAnnotations:
          alb.ingress.kubernetes.io/healthcheck-path: /healthz/ready
          alb.ingress.kubernetes.io/healthcheck-port: "30621"
        service:
          type: NodePort
          ports:
          - {name: status-port, protocol: TCP, port: 15021, targetPort: 15021, nodePort: 30621}
          - {name: http2, protocol: TCP, port: 80, targetPort: 8080}
          - {name: https, protocol: TCP, port: 443, targetPort: 8443}
    - name: istio-ingressgateway-ext-alb
      enabled: true
      label:
        istio: ingressgateway-ext-alb
      k8s:
        service:
          type: NodePort
          ports:
          - {name: status-port, protocol: TCP, port: 15021, targetPort: 15021, nodePort: 30622}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istioctl_installs_seed_004_gateways_and_uninstalls_them() {
    common::kubectl_path();
    let kube = Kube::start().await;
    let operator = kube.file("istio-operator.yaml", SEED_004_OPERATOR);
    let stderr = failed(
        "uninstall without --purge",
        &istioctl(&kube, &["uninstall", "-y"]),
    );
    assert!(stderr.contains("--purge"), "{stderr}");
    let stderr = failed(
        "verify before install",
        &istioctl(&kube, &["verify-install"]),
    );
    assert!(stderr.contains("could not load IstioOperator"), "{stderr}");

    let out = succeeded(
        "istioctl install",
        &istioctl(
            &kube,
            &[
                "install",
                "-f",
                path_str(&operator),
                "-y",
                "--set",
                "meshConfig.accessLogFile=/dev/stdout",
            ],
        ),
    );
    assert!(out.contains("Installation complete"), "{out}");
    kube.ok(&[
        "get",
        "crd",
        "gateways.networking.istio.io",
        "virtualservices.networking.istio.io",
        "authorizationpolicies.security.istio.io",
    ])
    .await;
    let istiod = kube
        .get_json(&["get", "deploy", "-n", "istio-system", "istiod"])
        .await;
    assert_eq!(istiod["status"]["availableReplicas"], 1);
    let mesh = kube
        .ok(&[
            "get",
            "cm",
            "-n",
            "istio-system",
            "istio",
            "-o",
            "jsonpath={.data.mesh}",
        ])
        .await;
    assert!(mesh.contains("accessLogFile: /dev/stdout"), "{mesh}");

    let nlb = kube
        .get_json(&["get", "svc", "-n", "istio-system", "istio-ingressgateway"])
        .await;
    assert_eq!(nlb["spec"]["type"], "LoadBalancer");
    assert_eq!(
        nlb["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"],
        "external"
    );
    assert_eq!(nlb["spec"]["selector"]["istio"], "ingressgateway");
    let alb = kube
        .get_json(&[
            "get",
            "svc",
            "-n",
            "istio-system",
            "istio-ingressgateway-alb",
        ])
        .await;
    assert_eq!(alb["spec"]["type"], "NodePort");
    assert_eq!(alb["spec"]["ports"][0]["nodePort"], 30621);
    assert_eq!(
        alb["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-port"],
        "30621"
    );
    assert_eq!(alb["spec"]["selector"]["istio"], "ingressgateway-alb");
    let ext = kube
        .ok(&[
            "get",
            "svc",
            "-n",
            "istio-system",
            "istio-ingressgateway-ext-alb",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .await;
    assert_eq!(ext, "30622");
    let egress = kube
        .kubectl(&["get", "deploy", "-n", "istio-system", "istio-egressgateway"])
        .await;
    assert!(
        !egress.status.success(),
        "a disabled egress gateway was installed"
    );

    let version = succeeded("version", &istioctl(&kube, &["version"]));
    assert!(
        version.contains("control plane version: 1.12.1"),
        "{version}"
    );
    let verified = succeeded("verify-install", &istioctl(&kube, &["verify-install"]));
    assert!(
        verified.contains("installed and verified successfully"),
        "{verified}"
    );

    succeeded(
        "uninstall",
        &istioctl(&kube, &["uninstall", "--purge", "-y"]),
    );
    for name in ["istiod", "istio-ingressgateway", "istio-ingressgateway-alb"] {
        let gone = kube
            .kubectl(&["get", "deploy", "-n", "istio-system", name])
            .await;
        assert!(!gone.status.success(), "{name} survived uninstall --purge");
    }
    let crd = kube
        .kubectl(&["get", "crd", "gateways.networking.istio.io"])
        .await;
    assert!(!crd.status.success(), "--purge kept the CRDs");
    let log =
        std::fs::read_to_string(kube.dir.path().join("standin.log")).expect("the invocation log");
    assert!(
        log.lines()
            .any(|l| l.contains("\"install\"") && l.contains("istio-operator.yaml")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istioctl_default_profile_gives_a_load_balancer_gateway() {
    common::kubectl_path();
    let kube = Kube::start().await;
    succeeded(
        "install",
        &istioctl(&kube, &["install", "--skip-confirmation"]),
    );
    let svc = kube
        .get_json(&["get", "svc", "-n", "istio-system", "istio-ingressgateway"])
        .await;
    assert_eq!(svc["spec"]["type"], "LoadBalancer");
    let ports: Vec<(String, i64)> = svc["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["port"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        ports,
        vec![
            ("status-port".into(), 15021),
            ("http2".into(), 80),
            ("https".into(), 443)
        ]
    );
    assert!(
        svc["spec"]["ports"][0]["nodePort"].as_i64().is_some(),
        "nodePorts allocated"
    );
}

/// An IstioOperator named `name`, installing a control plane of `revision` (or the default one).
fn control_plane_operator(name: &str, revision: Option<&str>) -> String {
    let revision = revision.map_or(String::new(), |r| format!("  revision: {r}\n"));
    format!(
        "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata:\n  name: {name}\n  namespace: istio-system\n  labels: {{ meshctl.io/stack: {name} }}\n  annotations: {{ meshctl.io/address: istio.{name} }}\nspec:\n  profile: default\n  tag: 1.22.3\n{revision}  components:\n    ingressGateways: [{{ name: istio-ingressgateway, enabled: false }}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istioctl_uninstalls_one_operator_or_revision_and_only_purge_takes_all() {
    common::kubectl_path();
    let kube = Kube::start().await;
    let first = kube.file("first.yaml", &control_plane_operator("first", None));
    let second = kube.file(
        "second.yaml",
        &control_plane_operator("second", Some("blue")),
    );
    let third = kube.file(
        "third.yaml",
        &control_plane_operator("third", Some("green")),
    );
    for (what, file) in [("first", &first), ("second", &second), ("third", &third)] {
        succeeded(
            what,
            &istioctl(&kube, &["install", "-y", "-f", path_str(file)]),
        );
    }
    // Side by side: one istiod per revision, one installed state per operator and revision,
    // keeping the operator's labels and annotations.
    for deployment in ["istiod", "istiod-blue", "istiod-green"] {
        kube.ok(&["get", "deploy", "-n", "istio-system", deployment])
            .await;
    }
    let state = kube
        .get_json(&[
            "get",
            "istiooperator",
            "-n",
            "istio-system",
            "installed-state-second-blue",
        ])
        .await;
    assert_eq!(state["metadata"]["labels"]["meshctl.io/stack"], "second");
    assert_eq!(
        state["metadata"]["annotations"]["meshctl.io/address"],
        "istio.second"
    );

    // `-f`: that operator and revision only; the CRDs stay.
    succeeded(
        "uninstall -f",
        &istioctl(&kube, &["uninstall", "-y", "-f", path_str(&second)]),
    );
    let gone = kube
        .kubectl(&["get", "deploy", "-n", "istio-system", "istiod-blue"])
        .await;
    assert!(!gone.status.success(), "istiod-blue survived uninstall -f");
    kube.ok(&["get", "deploy", "-n", "istio-system", "istiod"])
        .await;
    kube.ok(&["get", "deploy", "-n", "istio-system", "istiod-green"])
        .await;
    kube.ok(&["get", "crd", "virtualservices.networking.istio.io"])
        .await;

    // `--revision`: every install of that revision; the default one stays.
    succeeded(
        "uninstall --revision",
        &istioctl(&kube, &["uninstall", "-y", "--revision", "green"]),
    );
    let gone = kube
        .kubectl(&["get", "deploy", "-n", "istio-system", "istiod-green"])
        .await;
    assert!(!gone.status.success(), "istiod-green survived --revision");
    kube.ok(&["get", "deploy", "-n", "istio-system", "istiod"])
        .await;
    kube.ok(&["get", "crd", "gateways.networking.istio.io"])
        .await;

    // `--purge` ignores `-f` and removes everything, CRDs too, as istioctl does.
    let out = succeeded(
        "uninstall --purge -f",
        &istioctl(
            &kube,
            &["uninstall", "-y", "--purge", "-f", path_str(&second)],
        ),
    );
    assert!(
        out.contains("ignoring the specified revision or operator file"),
        "{out}"
    );
    let gone = kube
        .kubectl(&["get", "deploy", "-n", "istio-system", "istiod"])
        .await;
    assert!(!gone.status.success(), "--purge kept istiod");
    let crd = kube
        .kubectl(&["get", "crd", "gateways.networking.istio.io"])
        .await;
    assert!(!crd.status.success(), "--purge kept the CRDs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_keeps_release_labels_on_its_secrets_and_refuses_system_ones() {
    common::kubectl_path();
    let kube = Kube::start().await;
    kube.ok(&["create", "namespace", "tools"]).await;
    let install = |labels: &'static str| {
        vec![
            "upgrade",
            "--install",
            "dashboard",
            "dashboard-chart",
            "--namespace",
            "tools",
            "--labels",
            labels,
        ]
    };
    succeeded(
        "install with labels",
        &helm(
            &kube,
            &install("meshctl.io/stack=shop,meshctl.io/kind=helm_release"),
        ),
    );
    // An upgrade merges its labels over the last revision's.
    succeeded("upgrade with a label", &helm(&kube, &install("team=web")));
    let secret = kube
        .get_json(&[
            "get",
            "secret",
            "-n",
            "tools",
            "sh.helm.release.v1.dashboard.v2",
        ])
        .await;
    let labels = &secret["metadata"]["labels"];
    assert_eq!(labels["meshctl.io/stack"], "shop");
    assert_eq!(labels["meshctl.io/kind"], "helm_release");
    assert_eq!(labels["team"], "web");
    assert_eq!(labels["owner"], "helm");
    assert_eq!(labels["version"], "2");
    // Labels are not part of the release's JSON.
    let status = succeeded(
        "status",
        &helm(&kube, &["status", "dashboard", "-n", "tools", "-o", "json"]),
    );
    let release: Value = serde_json::from_str(&status).unwrap();
    assert!(release.get("labels").is_none(), "{release}");

    let stderr = failed("a system label", &helm(&kube, &install("owner=me")));
    assert!(stderr.contains("system reserved label name"), "{stderr}");
}
