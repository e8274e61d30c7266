//! Two stacks on one cluster never touch each other's objects. On the sandbox (one EKS cluster
//! and its API server), stack `alpha` creates the cluster, Istio, a gateway and routes; stack
//! `beta` reaches the same cluster through a kubeconfig and uses alpha's Istio (`existing: true`)
//! with objects of its own; stack `gamma` installs a second control plane. Each stack is
//! applied, refused, rolled back and destroyed in turn, and after each step the others' drift
//! stays clean and their objects and Istio stay as they were — checked with kubectl, never
//! through meshctl.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::sandbox::{assert_exit, show, Sandbox};
use support::{runtime, text, REGION};

/// Stack alpha: the cluster, Istio (default revision), its ingress gateway, a Gateway and a
/// route (for a host of the registrar's zone, looked up).
fn alpha() -> String {
    alpha_with("")
}

/// Stack alpha with `extra` appended to its resources.
fn alpha_with(extra: &str) -> String {
    format!(
        r#"stack: alpha
region: {REGION}
kube: {{ from_cluster: main }}
resources:
  - kind: vpc
    name: main
    cidr: 10.0.0.0/16
    azs: 2
    nat: single
  - kind: eks_cluster
    name: main
    version: "1.29"
    vpc: main
    endpoint: {{ private: true, public: true }}
  - kind: nodegroup
    name: workers
    cluster: main
    instance_types: [t3.large]
    scaling: {{ min: 2, desired: 2, max: 4 }}
    subnets: private
  - kind: istio
    name: mesh
    version: 1.22.3
  - kind: ingress_gateway
    name: istio-ingressgateway
    istio: mesh
    labels: {{ istio: ingressgateway }}
    service: {{ type: NodePort }}
  - kind: route53_zone
    name: example
    domain: example.com
  - kind: namespace
    name: shop
  - kind: gateway
    name: web
    namespace: istio-system
    selector: istio-ingressgateway
    servers:
      - port: {{ number: 80, name: http, protocol: HTTP }}
        hosts: ["*"]
  - kind: virtual_service
    name: shop
    namespace: shop
    hosts: [shop.example.com]
    gateways: [web]
    http:
      - route:
          - destination: {{ host: storefront, port: 80 }}
{extra}"#
    )
}

/// Stack beta: alpha's Istio, looked up; a namespace, an ingress gateway (an Istio install of
/// its own on alpha's control plane), a Gateway, route and ConfigMap of its own.
/// `extra` is appended to its resources.
fn beta(kubeconfig: &str, extra: &str) -> String {
    format!(
        r#"stack: beta
region: {REGION}
kube: {{ kubeconfig: "{kubeconfig}", context: sandbox }}
resources:
  - kind: istio
    name: mesh
    existing: true
  - kind: route53_zone
    name: example
    domain: example.com
  - kind: namespace
    name: blog
  - kind: ingress_gateway
    name: blog-gateway
    istio: mesh
    namespace: blog
    labels: {{ istio: blog-gateway }}
    service: {{ type: ClusterIP }}
  - kind: gateway
    name: blog
    namespace: blog
    selector: blog-gateway
    servers:
      - port: {{ number: 80, name: http, protocol: HTTP }}
        hosts: [blog.example.com]
  - kind: virtual_service
    name: blog
    namespace: blog
    hosts: [blog.example.com]
    gateways: [blog]
    http:
      - route:
          - destination: {{ host: blog, port: 80 }}
  - kind: manifest
    name: blog-settings
    objects:
      - apiVersion: v1
        kind: ConfigMap
        metadata: {{ name: blog-settings, namespace: blog }}
        data: {{ theme: dark }}
{extra}"#
    )
}

/// Stack gamma: an Istio control plane of its own on the same cluster; `revision` is its
/// `revision:` line, if any.
fn gamma(kubeconfig: &str, revision: &str) -> String {
    format!(
        r#"stack: gamma
region: {REGION}
kube: {{ kubeconfig: "{kubeconfig}", context: sandbox }}
resources:
  - kind: istio
    name: control-plane
    version: 1.22.3
    {revision}
"#
    )
}

/// The sandbox, and a directory with each stack's file and state.
struct World {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
}

impl World {
    fn stack(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn state(&self, stack: &str) -> PathBuf {
        self.dir.path().join(format!("{stack}-state"))
    }

    /// `meshctl ARGS -f STACK --state STATE` with the sandbox's environment; a kubeconfig stack
    /// gets no endpoint override, as on a cluster it did not create.
    fn meshctl(&self, stack: &Path, state: &Path, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        if matches!(args.first(), Some(&"apply") | Some(&"destroy")) {
            all.push("--auto-approve");
        }
        let by_kubeconfig = std::fs::read_to_string(stack)
            .unwrap()
            .contains("kubeconfig:");
        let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl"));
        command
            .args(&all)
            .arg("-f")
            .arg(stack)
            .arg("--state")
            .arg(state)
            .envs(&self.sandbox.env)
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE");
        if by_kubeconfig {
            command.env_remove("MESHCTL_KUBE_ENDPOINT");
        }
        command.output().unwrap()
    }

    fn apply(&self, stack: &Path, state: &Path, what: &str) {
        assert_exit(&self.meshctl(stack, state, &["apply"]), 0, what);
    }

    fn destroy(&self, stack: &Path, state: &Path, what: &str) {
        assert_exit(&self.meshctl(stack, state, &["destroy"]), 0, what);
    }

    /// `meshctl drift` finds nothing: every object the stack applied is as it applied it.
    fn assert_no_drift(&self, stack: &Path, state: &Path, when: &str) {
        let drift = self.meshctl(stack, state, &["drift"]);
        assert_eq!(
            drift.status.code(),
            Some(0),
            "drift of {} {when}\n{}",
            stack.display(),
            show(&drift)
        );
    }

    /// The object as kubectl reads it, or `None` when it does not exist.
    fn get(&self, kind: &str, name: &str, namespace: Option<&str>) -> Option<Value> {
        let mut args = vec!["get", kind, name, "-o", "json"];
        if let Some(namespace) = namespace {
            args.extend(["-n", namespace]);
        }
        let output = self.sandbox.kubectl_output(&args);
        if !output.status.success() {
            let stderr = text(&output.stderr);
            assert!(stderr.contains("NotFound"), "kubectl {args:?}: {stderr}");
            return None;
        }
        Some(serde_json::from_slice(&output.stdout).unwrap())
    }

    /// Alpha's Istio as kubectl sees it: istiod running, its installed state, its gateway, the
    /// CRDs every install shares.
    fn assert_alpha_istio_intact(&self, when: &str) {
        let istiod = self
            .get("deployment", "istiod", Some("istio-system"))
            .unwrap_or_else(|| panic!("alpha's istiod is gone {when}"));
        assert!(
            istiod["status"]["availableReplicas"].as_i64().unwrap_or(0) >= 1,
            "alpha's istiod is not available {when}: {}",
            istiod["status"]
        );
        let state = self
            .get(
                "istiooperator",
                "installed-state-mesh",
                Some("istio-system"),
            )
            .unwrap_or_else(|| panic!("alpha's installed state is gone {when}"));
        assert_eq!(state["metadata"]["labels"]["meshctl.io/stack"], "alpha");
        for (kind, name) in [
            ("deployment", "istio-ingressgateway"),
            ("service", "istio-ingressgateway"),
        ] {
            assert!(
                self.get(kind, name, Some("istio-system")).is_some(),
                "alpha's {kind} {name} is gone {when}"
            );
        }
        for crd in [
            "virtualservices.networking.istio.io",
            "gateways.networking.istio.io",
        ] {
            assert!(
                self.get("crd", crd, None).is_some(),
                "the shared CRD {crd} is gone {when}"
            );
        }
    }
}

/// The istioctl calls of the stand-in's log (one line each).
fn istioctl_calls(world: &World) -> Vec<String> {
    std::fs::read_to_string(&world.sandbox.env["MESHCTL_STANDIN_LOG"])
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("istioctl"))
        .map(str::to_string)
        .collect()
}

#[test]
fn stacks_sharing_a_cluster_apply_roll_back_and_destroy_without_touching_each_other() {
    let rt = runtime();
    let (sandbox, _config) = Sandbox::start("alpha-main", "example.com", &rt);
    let world = World {
        sandbox,
        dir: tempfile::tempdir().unwrap(),
    };
    let kubeconfig = world.sandbox.env["KUBECONFIG"].clone();
    let kube_before = world.sandbox.kube_world();
    let (alpha_stack, alpha_state) = (world.stack("alpha", &alpha()), world.state("alpha"));
    let (beta_stack, beta_state) = (
        world.stack("beta", &beta(&kubeconfig, "")),
        world.state("beta"),
    );

    // Beta's plan looks alpha's Istio up before anything changes: not there yet, it stops.
    let early = world.meshctl(&beta_stack, &beta_state, &["plan"]);
    assert_exit(&early, 1, "beta's plan before alpha installed Istio");
    let stderr = text(&early.stderr);
    assert!(
        stderr.contains("no Istio control plane of the default revision in istio-system"),
        "{stderr}"
    );

    world.apply(&alpha_stack, &alpha_state, "apply alpha");
    world.apply(&beta_stack, &beta_state, "apply beta, using alpha's Istio");
    // Beta's objects carry beta as their owner; nothing of Istio is beta's.
    let blog = world.get("virtualservice", "blog", Some("blog")).unwrap();
    assert_eq!(blog["metadata"]["labels"]["meshctl.io/stack"], "beta");
    assert_eq!(
        blog["metadata"]["annotations"]["meshctl.io/address"],
        "virtual_service.blog"
    );
    world.assert_no_drift(&alpha_stack, &alpha_state, "after beta's apply");
    world.assert_no_drift(&beta_stack, &beta_state, "after its apply");

    // Destroying beta leaves alpha's Istio: beta never installed it, so never uninstalls it.
    world.destroy(&beta_stack, &beta_state, "destroy beta");
    assert!(world.get("namespace", "blog", None).is_none());
    world.assert_alpha_istio_intact("after beta's destroy");
    world.assert_no_drift(&alpha_stack, &alpha_state, "after beta's destroy");

    // Beta taking over alpha's VirtualService is refused, naming its owner; beta's apply rolls
    // back and alpha's object is exactly as it was.
    let shop_before = world.get("virtualservice", "shop", Some("shop")).unwrap();
    let stealing = world.stack(
        "beta-stealing",
        &beta(
            &kubeconfig,
            r#"  - kind: manifest
    name: shop-route
    depends_on: [manifest.blog-settings, virtual_service.blog]
    objects:
      - apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata: { name: shop, namespace: shop }
        spec:
          hosts: [shop.example.com]
          http: [{ route: [{ destination: { host: elsewhere } }] }]
"#,
        ),
    );
    let refused = world.meshctl(&stealing, &beta_state, &["apply"]);
    assert_exit(&refused, 3, "beta applying alpha's VirtualService");
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("VirtualService shop/shop belongs to stack `alpha` (virtual_service.shop)"),
        "{stderr}"
    );
    assert!(stderr.contains("delete it from stack `alpha`"), "{stderr}");
    let shop_after = world.get("virtualservice", "shop", Some("shop")).unwrap();
    assert_eq!(
        shop_after["metadata"]["uid"],
        shop_before["metadata"]["uid"]
    );
    assert_eq!(
        shop_after["metadata"]["resourceVersion"],
        shop_before["metadata"]["resourceVersion"]
    );
    assert_eq!(shop_after["spec"], shop_before["spec"]);
    // The rollback removed what beta had created in that apply.
    assert!(
        world.get("namespace", "blog", None).is_none(),
        "{}",
        show(&refused)
    );
    world.assert_alpha_istio_intact("after beta's rollback");
    world.assert_no_drift(&alpha_stack, &alpha_state, "after beta's rollback");

    world.apply(&beta_stack, &beta_state, "apply beta again");
    world.assert_no_drift(&beta_stack, &beta_state, "after its second apply");

    // The other way round: alpha taking over beta's VirtualService is refused too; alpha's
    // apply rolls back what it made (a namespace) and beta's objects stay as beta applied them.
    let blog_before = world.get("virtualservice", "blog", Some("blog")).unwrap();
    let alpha_stealing = world.stack(
        "alpha-stealing",
        &alpha_with(
            r#"  - kind: namespace
    name: extra
  - kind: manifest
    name: blog-route
    depends_on: [namespace.extra]
    objects:
      - apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata: { name: blog, namespace: blog }
        spec:
          hosts: [blog.example.com]
          http: [{ route: [{ destination: { host: elsewhere } }] }]
"#,
        ),
    );
    let refused = world.meshctl(&alpha_stealing, &alpha_state, &["apply"]);
    assert_exit(&refused, 3, "alpha applying beta's VirtualService");
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("belongs to stack `beta`"), "{stderr}");
    assert!(
        world.get("namespace", "extra", None).is_none(),
        "alpha's rollback left its namespace: {}",
        show(&refused)
    );
    let blog_after = world.get("virtualservice", "blog", Some("blog")).unwrap();
    assert_eq!(
        blog_after["metadata"]["uid"],
        blog_before["metadata"]["uid"]
    );
    assert_eq!(blog_after["spec"], blog_before["spec"]);
    world.assert_no_drift(&beta_stack, &beta_state, "after alpha's rollback");
    world.assert_no_drift(&alpha_stack, &alpha_state, "after its rollback");

    // A second control plane of the default revision would replace alpha's istiod: refused,
    // pointing to `existing` and `revision`.
    let gamma_state = world.state("gamma");
    let same_revision = world.stack("gamma", &gamma(&kubeconfig, ""));
    let refused = world.meshctl(&same_revision, &gamma_state, &["apply"]);
    assert_exit(&refused, 3, "gamma installing the default revision again");
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("revision `default` in istio-system is already installed, by stack `alpha` (istio.mesh)"),
        "{stderr}"
    );
    assert!(stderr.contains("existing: true"), "{stderr}");
    world.assert_alpha_istio_intact("after gamma's refused install");

    // With a revision of its own, gamma installs istiod-gamma beside alpha's; its destroy
    // removes its revision only (`uninstall -f`, never `--purge`).
    let own_revision = world.stack("gamma", &gamma(&kubeconfig, "revision: gamma"));
    world.apply(
        &own_revision,
        &gamma_state,
        "apply gamma with its own revision",
    );
    assert!(world
        .get("deployment", "istiod-gamma", Some("istio-system"))
        .is_some());
    world.assert_no_drift(&alpha_stack, &alpha_state, "after gamma's apply");
    world.destroy(&own_revision, &gamma_state, "destroy gamma");
    assert!(world
        .get("deployment", "istiod-gamma", Some("istio-system"))
        .is_none());
    world.assert_alpha_istio_intact("after gamma's destroy");
    world.assert_no_drift(&alpha_stack, &alpha_state, "after gamma's destroy");
    world.assert_no_drift(&beta_stack, &beta_state, "after gamma's destroy");
    let calls = istioctl_calls(&world);
    assert!(
        calls.iter().any(|c| c.contains("uninstall")),
        "gamma's destroy ran istioctl uninstall: {calls:#?}"
    );
    assert!(
        !calls.iter().any(|c| c.contains("--purge")),
        "no stack purges Istio: {calls:#?}"
    );

    // Beta, then alpha (which made the cluster) go; the cluster is as it was, but for Istio's
    // CRDs, which no uninstall removes.
    world.destroy(&beta_stack, &beta_state, "destroy beta again");
    world.assert_alpha_istio_intact("after beta's second destroy");
    world.assert_no_drift(&alpha_stack, &alpha_state, "after beta's second destroy");
    world.destroy(&alpha_stack, &alpha_state, "destroy alpha");
    assert_eq!(world.sandbox.kube_world(), kube_before);
}
