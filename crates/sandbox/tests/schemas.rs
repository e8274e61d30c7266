//! Upstream schemas as the sandbox's law, checked with the real kubectl: a misspelled field in a
//! Deployment, a VirtualService and a Certificate is refused with the real API server's words
//! (create, client-side apply, server-side apply), `--validate=warn` drops it with a warning,
//! custom resources need their CRD, and `kubectl get crd` lists the upstream CRDs the stand-ins
//! install.
//!
//! Run: `cargo test -p meshctl-sandbox --test schemas` (needs kubectl and
//! `scripts/sandbox-deps.sh`'s schemas).

mod common;

use std::process::Output;

use common::{path_str, Kube};

fn standin(kube: &Kube, program: &str, args: &[&str]) -> Output {
    std::process::Command::new(program)
        .args(args)
        .env("KUBECONFIG", &kube.kubeconfig)
        .output()
        .expect("the stand-in runs")
}

fn succeeded(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Runs kubectl, insists it fails, returns its stderr.
async fn refused(kube: &Kube, args: &[&str]) -> String {
    let out = kube.kubectl(args).await;
    assert!(
        !out.status.success(),
        "kubectl {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.25
          imagePullPolice: Always
"#;

const VIRTUAL_SERVICE: &str = r#"apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  http:
    - route:
        - destination: {host: web, port: {number: 80}}
          wieght: 100
"#;

const CERTIFICATE: &str = r#"apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: default}
spec:
  secretName: web-tls
  dnsNames: [web.example.com]
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
  renewBeforeExpiry: 720h
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_meets_the_real_api_servers_field_validation() {
    let kube = Kube::start().await;
    let vs = kube.file("vs.yaml", VIRTUAL_SERVICE);

    // Before Istio is installed its kinds do not exist: 404 for the resource type.
    let raw = refused(
        &kube,
        &[
            "get",
            "--raw",
            "/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices",
        ],
    )
    .await;
    assert!(raw.contains("NotFound"), "{raw}");
    // (--validate=false: kubectl's own check of a kind it cannot find needs /openapi/v2, which
    // the sandbox does not serve.)
    let stderr = refused(&kube, &["apply", "--validate=false", "-f", path_str(&vs)]).await;
    assert!(
        stderr.contains(
            "no matches for kind \"VirtualService\" in version \"networking.istio.io/v1beta1\""
        ),
        "{stderr}"
    );

    // The stand-ins install the upstream CRDs, listed by `kubectl get crd`.
    succeeded(
        "istioctl install",
        &standin(&kube, env!("CARGO_BIN_EXE_istioctl"), &["install", "-y"]),
    );
    kube.ok(&["create", "namespace", "cert-manager"]).await;
    succeeded(
        "helm install cert-manager",
        &standin(
            &kube,
            env!("CARGO_BIN_EXE_helm"),
            &[
                "install",
                "cert-manager",
                "jetstack/cert-manager",
                "-n",
                "cert-manager",
                "--version",
                "v1.14.4",
                "--set",
                "installCRDs=true",
            ],
        ),
    );
    let crds = kube.ok(&["get", "crd", "-o", "name"]).await;
    for crd in [
        "virtualservices.networking.istio.io",
        "gateways.networking.istio.io",
        "istiooperators.install.istio.io",
        "certificates.cert-manager.io",
        "clusterissuers.cert-manager.io",
    ] {
        assert!(
            crds.contains(&format!(
                "customresourcedefinition.apiextensions.k8s.io/{crd}"
            )),
            "{crd} missing from kubectl get crd:\n{crds}"
        );
    }

    let deployment = kube.file("deployment.yaml", DEPLOYMENT);
    let certificate = kube.file("certificate.yaml", CERTIFICATE);
    for (file, kind, version, field) in [
        (
            &deployment,
            "Deployment",
            "v1",
            "spec.template.spec.containers[0].imagePullPolice",
        ),
        (
            &vs,
            "VirtualService",
            "v1beta1",
            "spec.http[0].route[0].wieght",
        ),
        (&certificate, "Certificate", "v1", "spec.renewBeforeExpiry"),
    ] {
        let strict = format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: unknown field \"{field}\""
        );
        for verb in ["apply", "create"] {
            let stderr = refused(&kube, &[verb, "-f", path_str(file)]).await;
            assert!(
                stderr.contains("Error from server (BadRequest): error when creating")
                    && stderr.contains(&strict),
                "kubectl {verb} of a {kind}: {stderr}"
            );
        }
        let stderr = refused(&kube, &["apply", "--server-side", "-f", path_str(file)]).await;
        let ssa_field = field.replace("containers[0]", "containers[name=\"web\"]");
        assert!(
            stderr.contains(&format!(".{ssa_field}: field not declared in schema"))
                && stderr.contains("failed to create typed patch object (default/web;"),
            "kubectl apply --server-side of a {kind}: {stderr}"
        );
        // --validate=warn: stored without the field, and the server says why.
        let out = kube
            .kubectl(&["apply", "--validate=warn", "-f", path_str(file)])
            .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{kind} with --validate=warn: {stderr}"
        );
        assert!(
            stderr.contains(&format!("Warning: unknown field \"{field}\"")),
            "{kind}: {stderr}"
        );
        // (Only the spec: kubectl's last-applied annotation keeps the file as it was.)
        let stored = kube.get_json(&["get", &kind.to_lowercase(), "web"]).await["spec"].to_string();
        let leaf = field.rsplit('.').next().unwrap_or(field);
        assert!(!stored.contains(leaf), "{kind} kept {leaf}: {stored}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_and_missing_required_fields_are_invalid() {
    let kube = Kube::start().await;
    succeeded(
        "istioctl install",
        &standin(&kube, env!("CARGO_BIN_EXE_istioctl"), &["install", "-y"]),
    );
    let vs = kube.file(
        "vs.yaml",
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: web, namespace: default}\nspec: {hosts: web.example.com}\n",
    );
    let stderr = refused(&kube, &["apply", "-f", path_str(&vs)]).await;
    assert!(
        stderr.contains("The VirtualService \"web\" is invalid: spec.hosts: Invalid value: \"string\": spec.hosts in body must be of type array: \"string\""),
        "{stderr}"
    );
    let deployment = kube.file(
        "deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{image: nginx}]}\n",
    );
    let stderr = refused(&kube, &["create", "-f", path_str(&deployment)]).await;
    assert!(
        stderr.contains("spec.template.spec.containers[0].name: Required value"),
        "{stderr}"
    );
}

#[test]
fn istioctl_refuses_a_field_its_operator_api_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("iop.yaml");
    std::fs::write(
        &file,
        "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  components:\n    pilot:\n      k8s:\n        replicaCuont: 2\n",
    )
    .expect("written");
    // The check comes before any cluster access, so no server is needed.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_istioctl"))
        .args(["install", "-y", "-f", path_str(&file)])
        .env("KUBECONFIG", dir.path().join("none"))
        .output()
        .expect("istioctl runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("unknown field \"spec.components.pilot.k8s.replicaCuont\""),
        "{stderr}"
    );
}
