//! `meshctl import ADDR ID`, one test per kind, against the sandbox: each object is made out of
//! band (the AWS SDK against moto, kubectl, the helm and istioctl stand-ins), imported, and then
//! checked in the state (`meshctl state show`) and in the live world with the tests' own clients:
//! the import recorded what the resource owns, wrote nothing to the object, and `plan` shows only
//! where the stack and the object differ. The refusals (already in state, another stack's, not
//! there) each have a test.

mod support;

use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;
use support::sandbox::{assert_exit, show, Sandbox};
use support::{runtime, text, REGION};

/// A sandbox, a stack file and its state directory.
struct Trial {
    sandbox: Sandbox,
    config: aws_config::SdkConfig,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Trial {
    fn new() -> Self {
        let rt = runtime();
        let (sandbox, config) = Sandbox::start("adopt-main", "example.com", &rt);
        Trial {
            sandbox,
            config,
            rt,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn stack(&self) -> PathBuf {
        self.dir.path().join("stack.yaml")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes the stack `adopt` with these resources, reaching the sandbox cluster through its
    /// kubeconfig.
    fn write_stack(&self, resources: &str) {
        let text = format!(
            "stack: adopt\nregion: {REGION}\nkube: {{ kubeconfig: \"{}\", context: sandbox }}\nresources:\n{resources}",
            self.sandbox.env["KUBECONFIG"]
        );
        std::fs::write(self.stack(), text).unwrap();
    }

    /// Writes the stack with this header (`stack:`, `region:`, `kube:`) and these resources.
    fn write_raw_stack(&self, header: &str, resources: &str) {
        std::fs::write(self.stack(), format!("{header}{resources}")).unwrap();
    }

    fn meshctl(&self, args: &[&str]) -> Output {
        self.sandbox
            .meshctl_approved(&self.stack(), &self.state(), args)
    }

    /// `meshctl import ADDRESS ID`, which must succeed.
    fn import(&self, address: &str, id: &str) {
        let output = self.meshctl(&["import", address, id]);
        assert_exit(&output, 0, &format!("import {address} {id}"));
        assert!(
            text(&output.stdout).contains("nothing was changed in the live world"),
            "{}",
            show(&output)
        );
    }

    /// `meshctl import ADDRESS ID`, which must be refused; its stderr.
    fn refused(&self, address: &str, id: &str) -> String {
        let output = self.meshctl(&["import", address, id]);
        assert_exit(&output, 1, &format!("import {address} {id} is refused"));
        text(&output.stderr)
    }

    /// The state's record of `address`, as `meshctl state show` prints it.
    fn record(&self, address: &str) -> Value {
        let output = self.meshctl(&["state", "show", address]);
        assert_exit(&output, 0, &format!("state show {address}"));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The objects the state records for `address`, as `kind id`.
    fn objects(&self, address: &str) -> Vec<String> {
        self.record(address)["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|o| {
                format!(
                    "{} {}",
                    o["kind"].as_str().unwrap(),
                    o["id"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// `meshctl plan --format json`.
    fn plan(&self) -> Value {
        let output = self.meshctl(&["plan", "--format", "json"]);
        assert_exit(&output, 0, "plan");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The plan's change of `address`: its action and the paths of the fields it changes.
    fn planned(&self, address: &str) -> (String, Vec<String>) {
        let plan = self.plan();
        let change = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == address)
            .unwrap_or_else(|| panic!("{address} is not in the plan: {plan:#}"))
            .clone();
        let fields = change["fields"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect();
        (change["action"].as_str().unwrap().to_string(), fields)
    }

    /// Applies the stack and checks that a second plan has nothing to do.
    fn apply_converges(&self) {
        let output = self.meshctl(&["apply"]);
        assert_exit(&output, 0, "apply");
        let plan = self.plan();
        assert_eq!(
            plan["has_changes"], false,
            "a second plan is empty: {plan:#}"
        );
    }

    fn kubectl(&self, args: &[&str]) -> Value {
        self.sandbox.kubectl(args)
    }

    /// kubectl apply of a manifest, as a user applies one by hand.
    fn kubectl_apply(&self, manifest: &str) {
        let file = self.dir.path().join("by-hand.yaml");
        std::fs::write(&file, manifest).unwrap();
        self.sandbox
            .kubectl_run(&["apply", "-f", file.to_str().unwrap()]);
    }

    /// A tool of the sandbox (the helm or istioctl stand-in) run by hand, as a user runs it.
    fn tool(&self, tool: &str, args: &[&str]) {
        let output = std::process::Command::new(tool)
            .args(args)
            .envs(&self.sandbox.env)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{tool} {args:?}: {}",
            show(&output)
        );
    }

    /// istioctl install -f of an IstioOperator written by hand.
    fn istioctl_install(&self, operator: &str) {
        let file = self.dir.path().join("operator.yaml");
        std::fs::write(&file, operator).unwrap();
        self.tool("istioctl", &["install", "-y", "-f", file.to_str().unwrap()]);
    }

    fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }
}

/// The meshctl marks of a live object: its stack label and address annotation.
fn marks(object: &Value) -> (Option<&str>, Option<&str>) {
    (
        object["metadata"]["labels"]["meshctl.io/stack"].as_str(),
        object["metadata"]["annotations"]["meshctl.io/address"].as_str(),
    )
}

const SHOP_NAMESPACE: &str = "  - kind: namespace\n    name: shop\n    labels: { team: web }\n";

#[test]
fn namespace() {
    let trial = Trial::new();
    trial.kubectl_apply(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: { team: store }\n",
    );
    trial.write_stack(SHOP_NAMESPACE);
    trial.import("namespace.shop", "shop");
    assert_eq!(trial.objects("namespace.shop"), ["k8s:v1/Namespace shop"]);
    let live = trial.kubectl(&["get", "namespace", "shop"]);
    assert_eq!(
        marks(&live),
        (None, None),
        "the import wrote nothing: {live:#}"
    );
    let (action, _) = trial.planned("namespace.shop");
    assert_eq!(action, "update", "the label differs, nothing else");
    trial.apply_converges();
    let live = trial.kubectl(&["get", "namespace", "shop"]);
    assert_eq!(live["metadata"]["labels"]["team"], "web");
    assert_eq!(
        marks(&live),
        (Some("adopt"), Some("namespace.shop")),
        "tagged on apply"
    );
}

#[test]
fn refused_when_already_in_state() {
    let trial = Trial::new();
    trial.write_stack(SHOP_NAMESPACE);
    assert_exit(&trial.meshctl(&["apply"]), 0, "apply");
    let before = trial.record("namespace.shop");
    let stderr = trial.refused("namespace.shop", "shop");
    assert!(
        stderr.contains("namespace.shop is already in the state")
            && stderr.contains("meshctl state rm namespace.shop"),
        "{stderr}"
    );
    assert_eq!(
        trial.record("namespace.shop"),
        before,
        "the record is as it was"
    );
}

#[test]
fn refused_when_another_stack_owns_it() {
    let trial = Trial::new();
    trial.kubectl_apply(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: { meshctl.io/stack: other }\n  annotations: { meshctl.io/address: namespace.shop }\n",
    );
    trial.write_stack(SHOP_NAMESPACE);
    let stderr = trial.refused("namespace.shop", "shop");
    assert!(
        stderr.contains("belongs to stack `other` (namespace.shop)")
            && stderr.contains("meshctl state rm namespace.shop"),
        "{stderr}"
    );
    let state = trial.meshctl(&["state", "list"]);
    assert!(
        !text(&state.stdout).contains("namespace.shop"),
        "{}",
        show(&state)
    );
    let live = trial.kubectl(&["get", "namespace", "shop"]);
    assert_eq!(marks(&live), (Some("other"), Some("namespace.shop")));
}

#[test]
fn refused_when_there_is_no_such_object_of_the_kind() {
    let trial = Trial::new();
    // A ConfigMap named like the namespace is not a namespace.
    trial.kubectl_apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\n  namespace: default\n",
    );
    trial.write_stack(SHOP_NAMESPACE);
    let stderr = trial.refused("namespace.shop", "shop");
    assert!(
        stderr.contains("there is no namespace with the id `shop`")
            && stderr.contains("Namespace shop"),
        "{stderr}"
    );
    assert!(
        !trial.state().exists(),
        "a refused import of a stack with no state made none"
    );
    // An id that names another object than the stack's resource.
    let stderr = trial.refused("namespace.shop", "default/shop");
    assert!(
        stderr.contains("stands for Namespace shop in the stack, not `default/shop`"),
        "{stderr}"
    );
    // An AWS id of the wrong kind: a subnet is not a VPC.
    trial.write_stack(
        "  - kind: vpc\n    name: main\n    cidr: 10.0.0.0/16\n    azs: 2\n    nat: none\n",
    );
    let vpc = trial
        .rt
        .block_on(trial.ec2().create_vpc().cidr_block("10.0.0.0/16").send())
        .unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let subnet = trial
        .rt
        .block_on(
            trial
                .ec2()
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block("10.0.0.0/20")
                .send(),
        )
        .unwrap();
    let subnet_id = subnet.subnet().and_then(|s| s.subnet_id()).unwrap();
    let stderr = trial.refused("vpc.main", subnet_id);
    assert!(stderr.contains("there is no vpc with the id"), "{stderr}");
    let state = trial.meshctl(&["state", "list"]);
    assert_eq!(
        text(&state.stdout).trim(),
        "",
        "nothing recorded: {}",
        show(&state)
    );
}

impl Trial {
    fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.config)
    }

    /// The registrar's zone for example.com, its id without `/hostedzone/`.
    fn zone_id(&self) -> String {
        support::zone_id(&self.rt, &self.config, "example.com")
            .trim_start_matches("/hostedzone/")
            .to_string()
    }

    /// The AWS tags of the hosted zone, by key.
    fn zone_tags(&self, zone: &str) -> Vec<String> {
        let tags = self
            .rt
            .block_on(
                self.route53()
                    .list_tags_for_resource()
                    .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
                    .resource_id(zone)
                    .send(),
            )
            .unwrap();
        tags.resource_tag_set()
            .map(|s| {
                s.tags()
                    .iter()
                    .filter_map(|t| t.key())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

const ZONE: &str =
    "  - kind: route53_zone\n    name: example\n    domain: example.com\n    existing: false\n";

#[test]
fn route53_zone() {
    let trial = Trial::new();
    let zone = trial.zone_id();
    trial.write_stack(ZONE);
    trial.import("route53_zone.example", &zone);
    assert_eq!(
        trial.objects("route53_zone.example"),
        [format!("route53:hosted-zone {zone}")]
    );
    assert_eq!(
        trial.record("route53_zone.example")["outputs"]["zone_id"],
        zone.as_str()
    );
    assert!(trial.zone_tags(&zone).is_empty(), "the import wrote no tag");
    // The stack says what the zone is: the plan only places meshctl's marks, which the apply
    // does (read with the SDK).
    let (action, fields) = trial.planned("route53_zone.example");
    assert_eq!(
        (action.as_str(), fields.len()),
        ("update", 0),
        "the stack says what the zone is"
    );
    trial.apply_converges();
    let tags = trial.zone_tags(&zone);
    assert!(
        tags.contains(&"meshctl:stack".to_string())
            && tags.contains(&"meshctl:address".to_string()),
        "the apply tags what the import adopted: {tags:?}"
    );
}

#[test]
fn dns_record() {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let trial = Trial::new();
    let zone = trial.zone_id();
    let set = ResourceRecordSet::builder()
        .name("api.example.com")
        .r#type(RrType::A)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value("10.0.0.1").build().unwrap())
        .build()
        .unwrap();
    trial
        .rt
        .block_on(
            trial
                .route53()
                .change_resource_record_sets()
                .hosted_zone_id(&zone)
                .change_batch(
                    ChangeBatch::builder()
                        .changes(
                            Change::builder()
                                .action(ChangeAction::Create)
                                .resource_record_set(set)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .send(),
        )
        .unwrap();
    trial.write_stack(&format!(
        "{ZONE}  - kind: dns_record\n    name: api\n    zone: example\n    record: api.example.com\n    type: A\n    values: [10.0.0.1]\n    ttl: 60\n"
    ));
    // The record needs its zone's id: refused until the zone is imported.
    let stderr = trial.refused("dns_record.api", &format!("{zone}/api.example.com/A"));
    assert!(
        stderr.contains("depends on route53_zone.example"),
        "{stderr}"
    );
    trial.import("route53_zone.example", &zone);
    trial.import("dns_record.api", &format!("{zone}/api.example.com/A"));
    assert_eq!(
        trial.objects("dns_record.api"),
        [format!("route53:record {zone}/api.example.com/A")]
    );
    let (action, fields) = trial.planned("dns_record.api");
    assert_eq!(
        (action.as_str(), fields),
        ("update", vec!["ttl".to_string()])
    );
    trial.apply_converges();
    let live = support::records(&trial.rt, &trial.config, "example.com");
    assert_eq!(
        live["api.example.com. A"].ttl(),
        Some(60),
        "apply set the stack's ttl"
    );
}

#[test]
fn vpc() {
    use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
    let trial = Trial::new();
    let ec2 = trial.ec2();
    // As eksctl makes one: two public and two private subnets, tagged for load balancers.
    let vpc_id = trial
        .rt
        .block_on(ec2.create_vpc().cidr_block("10.0.0.0/16").send())
        .unwrap()
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap()
        .to_string();
    let mut subnets = Vec::new();
    for (i, (zone, role)) in [
        ("a", "kubernetes.io/role/elb"),
        ("b", "kubernetes.io/role/elb"),
        ("a", "kubernetes.io/role/internal-elb"),
        ("b", "kubernetes.io/role/internal-elb"),
    ]
    .into_iter()
    .enumerate()
    {
        let subnet = trial
            .rt
            .block_on(
                ec2.create_subnet()
                    .vpc_id(&vpc_id)
                    .cidr_block(format!("10.0.{}.0/20", i * 16))
                    .availability_zone(format!("{REGION}{zone}"))
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::Subnet)
                            .tags(Tag::builder().key(role).value("1").build())
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
        subnets.push(
            subnet
                .subnet()
                .and_then(|s| s.subnet_id())
                .unwrap()
                .to_string(),
        );
    }
    let igw = trial
        .rt
        .block_on(ec2.create_internet_gateway().send())
        .unwrap()
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .unwrap()
        .to_string();
    trial
        .rt
        .block_on(
            ec2.attach_internet_gateway()
                .internet_gateway_id(&igw)
                .vpc_id(&vpc_id)
                .send(),
        )
        .unwrap();
    trial.write_stack(
        "  - kind: vpc\n    name: main\n    cidr: 10.0.0.0/16\n    azs: 2\n    nat: none\n",
    );
    trial.import("vpc.main", &vpc_id);
    let objects = trial.objects("vpc.main");
    assert!(
        objects.contains(&format!("ec2:vpc {vpc_id}")),
        "{objects:?}"
    );
    assert!(
        objects.contains(&format!("ec2:internet-gateway {igw}")),
        "{objects:?}"
    );
    for subnet in &subnets {
        assert!(
            objects.contains(&format!("ec2:subnet {subnet}")),
            "{objects:?}"
        );
    }
    let outputs = &trial.record("vpc.main")["outputs"];
    assert_eq!(
        outputs["public_subnet_ids"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        outputs["private_subnet_ids"].as_array().map(Vec::len),
        Some(2)
    );
    let tagged = trial
        .rt
        .block_on(
            ec2.describe_vpcs()
                .filters(
                    Filter::builder()
                        .name("tag-key")
                        .values("meshctl:stack")
                        .build(),
                )
                .send(),
        )
        .unwrap();
    assert!(tagged.vpcs().is_empty(), "the import wrote no tag");
    // The stack says what the VPC is: the plan only places meshctl's marks, on the VPC and
    // everything adopted with it, which the apply does (read with the SDK).
    let (action, fields) = trial.planned("vpc.main");
    assert_eq!(
        (action.as_str(), fields.len()),
        ("update", 0),
        "the stack says what the VPC is"
    );
    trial.apply_converges();
    let tagged = trial
        .rt
        .block_on(
            ec2.describe_subnets()
                .filters(
                    Filter::builder()
                        .name("tag:meshctl:address")
                        .values("vpc.main")
                        .build(),
                )
                .send(),
        )
        .unwrap();
    assert_eq!(
        tagged.subnets().len(),
        subnets.len(),
        "every adopted subnet is tagged"
    );
}

#[test]
fn manifest() {
    let trial = Trial::new();
    trial.kubectl_apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata: { mode: blue }\n",
    );
    trial.write_stack(
        "  - kind: manifest\n    name: settings\n    objects:\n      - apiVersion: v1\n        kind: ConfigMap\n        metadata: { name: settings, namespace: default }\n        data: { mode: green }\n",
    );
    trial.import("manifest.settings", "default/settings");
    assert_eq!(
        trial.objects("manifest.settings"),
        ["k8s:v1/ConfigMap default/settings"]
    );
    let live = trial.kubectl(&["get", "configmap", "settings", "-n", "default"]);
    assert_eq!(marks(&live), (None, None), "the import wrote nothing");
    assert_eq!(live["data"]["mode"], "blue");
    let (action, _) = trial.planned("manifest.settings");
    assert_eq!(action, "update");
    trial.apply_converges();
    let live = trial.kubectl(&["get", "configmap", "settings", "-n", "default"]);
    assert_eq!(live["data"]["mode"], "green");
    assert_eq!(marks(&live), (Some("adopt"), Some("manifest.settings")));
}

#[test]
fn helm_release() {
    let trial = Trial::new();
    trial.tool(
        "helm",
        &[
            "install",
            "grafana",
            "grafana",
            "--repo",
            "https://grafana.github.io/helm-charts",
            "--version",
            "7.3.11",
            "--namespace",
            "monitoring",
            "--create-namespace",
        ],
    );
    trial.write_stack(
        "  - kind: namespace\n    name: monitoring\n  - kind: helm_release\n    name: grafana\n    chart: grafana\n    repository: https://grafana.github.io/helm-charts\n    version: 7.3.11\n    namespace: monitoring\n",
    );
    // helm made the namespace (--create-namespace): it is adopted first.
    trial.import("namespace.monitoring", "monitoring");
    trial.import("helm_release.grafana", "monitoring/grafana");
    assert_eq!(
        trial.objects("helm_release.grafana"),
        ["helm:release monitoring/grafana"]
    );
    let releases = trial.kubectl(&[
        "get",
        "secrets",
        "-n",
        "monitoring",
        "-l",
        "owner=helm,name=grafana",
    ]);
    let items = releases["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "one revision: the import ran no helm upgrade"
    );
    assert!(
        items[0]["metadata"]["labels"]["meshctl.io/stack"].is_null(),
        "the import wrote no label: {releases:#}"
    );
    let (action, _) = trial.planned("helm_release.grafana");
    assert!(action == "no-op" || action == "update", "{action}");
}

/// The control plane as `istioctl install -f` makes it from an IstioOperator written by hand.
const ISTIO_BY_HAND: &str = "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata:\n  name: mesh\n  namespace: istio-system\nspec:\n  profile: minimal\n  tag: 1.22.0\n";

#[test]
fn istio() {
    let trial = Trial::new();
    trial.istioctl_install(ISTIO_BY_HAND);
    trial.write_stack(
        "  - kind: istio\n    name: mesh\n    version: 1.22.0\n    profile: minimal\n",
    );
    // Another operator name is another install.
    let stderr = trial.refused("istio.mesh", "istio-system/control-plane");
    assert!(
        stderr.contains("stands for the istioctl install (IstioOperator) istio-system/mesh"),
        "{stderr}"
    );
    trial.import("istio.mesh", "istio-system/mesh");
    // The control plane's namespace, which istioctl made for it, is the install's too.
    assert_eq!(
        trial.objects("istio.mesh"),
        [
            "k8s:v1/Namespace istio-system",
            "istio:operator istio-system/mesh"
        ]
    );
    let installed = trial.kubectl(&[
        "get",
        "istiooperators.install.istio.io",
        "installed-state-mesh",
        "-n",
        "istio-system",
    ]);
    assert_eq!(
        marks(&installed),
        (None, None),
        "the import ran no istioctl"
    );
    let (action, _) = trial.planned("istio.mesh");
    assert_ne!(action, "create");
    assert_ne!(action, "replace");
}

/// The ingress gateway as istioctl's documented way of adding one makes it: its own
/// IstioOperator with profile `empty`, written by hand.
const GATEWAY_BY_HAND: &str = "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata:\n  name: istio-ingressgateway\n  namespace: istio-system\nspec:\n  profile: empty\n  tag: 1.22.0\n  components:\n    ingressGateways:\n      - name: istio-ingressgateway\n        namespace: istio-system\n        enabled: true\n        label: { istio: ingressgateway }\n        k8s: { service: { type: NodePort } }\n";

const MESH_STACK: &str = "  - kind: istio\n    name: mesh\n    version: 1.22.0\n    profile: minimal\n  - kind: ingress_gateway\n    name: istio-ingressgateway\n    istio: mesh\n    labels: { istio: ingressgateway }\n    service: { type: NodePort }\n";

/// Istio and its ingress gateway installed by hand with istioctl, then imported.
fn mesh_by_hand(trial: &Trial, extra: &str) {
    trial.istioctl_install(ISTIO_BY_HAND);
    trial.istioctl_install(GATEWAY_BY_HAND);
    trial.write_stack(&format!("{MESH_STACK}{extra}"));
    trial.import("istio.mesh", "istio-system/mesh");
    trial.import(
        "ingress_gateway.istio-ingressgateway",
        "istio-system/istio-ingressgateway",
    );
}

#[test]
fn ingress_gateway() {
    let trial = Trial::new();
    mesh_by_hand(&trial, "");
    assert_eq!(
        trial.objects("ingress_gateway.istio-ingressgateway"),
        ["istio:operator istio-system/istio-ingressgateway"]
    );
    let record = trial.record("ingress_gateway.istio-ingressgateway");
    let service = trial.kubectl(&[
        "get",
        "service",
        "istio-ingressgateway",
        "-n",
        "istio-system",
    ]);
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(marks(&service), (None, None), "the import ran no istioctl");
    assert!(
        record["outputs"]["status_node_port"].is_number(),
        "the gateway's nodePorts are read: {record:#}"
    );
    let (action, _) = trial.planned("ingress_gateway.istio-ingressgateway");
    assert_ne!(action, "create");
    assert_ne!(action, "replace");
}

#[test]
fn gateway() {
    let trial = Trial::new();
    // Istio first (the Gateway's CRD comes with it), then the Gateway applied by hand.
    mesh_by_hand(
        &trial,
        "  - kind: gateway\n    name: web\n    namespace: istio-system\n    selector: istio-ingressgateway\n    servers:\n      - port: { number: 80, name: http, protocol: HTTP }\n        hosts: [shop.example.com]\n",
    );
    trial.kubectl_apply(
        "apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata:\n  name: web\n  namespace: istio-system\nspec:\n  selector: { istio: ingressgateway }\n  servers:\n    - port: { number: 80, name: http, protocol: HTTP }\n      hosts: [\"*\"]\n",
    );
    trial.import("gateway.web", "istio-system/web");
    let objects = trial.objects("gateway.web");
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(
        objects[0].ends_with("/Gateway istio-system/web"),
        "{objects:?}"
    );
    let live = trial.kubectl(&[
        "get",
        "gateways.networking.istio.io",
        "web",
        "-n",
        "istio-system",
    ]);
    assert_eq!(marks(&live), (None, None), "the import wrote nothing");
    let (action, _) = trial.planned("gateway.web");
    assert_eq!(action, "update", "the hosts differ");
}

/// An Istio object applied by hand is imported as the stack's resource of its kind: recorded
/// alone, unmarked until the apply, which puts the stack's fields and marks on it (kubectl).
fn istio_object_is_imported(resource: &str, manifest: &str, address: &str, resource_type: &str) {
    let trial = Trial::new();
    // Istio first: the object's CRD comes with it.
    mesh_by_hand(&trial, resource);
    trial.kubectl_apply(manifest);
    let (namespace, name) = ("default", address.split_once('.').unwrap().1);
    trial.import(address, &format!("{namespace}/{name}"));
    let objects = trial.objects(address);
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(
        objects[0].ends_with(&format!(" {namespace}/{name}")),
        "{objects:?}"
    );
    let get = ["get", resource_type, name, "-n", namespace];
    assert_eq!(
        marks(&trial.kubectl(&get)),
        (None, None),
        "the import wrote nothing"
    );
    let (action, _) = trial.planned(address);
    assert_eq!(
        action, "update",
        "the marks (and any field the stack sets otherwise)"
    );
    trial.apply_converges();
    assert_eq!(
        marks(&trial.kubectl(&get)),
        (Some("adopt"), Some(address)),
        "marked by the apply"
    );
}

#[test]
fn virtual_service() {
    istio_object_is_imported(
        "  - kind: virtual_service\n    name: shop\n    hosts: [shop.example.com]\n    http:\n      - route: [{ destination: { host: shop } }]\n",
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: { name: shop, namespace: default }\nspec:\n  hosts: [shop.example.com]\n  http:\n    - route: [{ destination: { host: shop } }]\n",
        "virtual_service.shop",
        "virtualservices.networking.istio.io",
    );
}

#[test]
fn destination_rule() {
    istio_object_is_imported(
        "  - kind: destination_rule\n    name: shop\n    host: shop\n    subsets:\n      - { name: v1, labels: { version: v1 } }\n",
        "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: { name: shop, namespace: default }\nspec:\n  host: shop\n  subsets:\n    - { name: v1, labels: { version: v1 } }\n",
        "destination_rule.shop",
        "destinationrules.networking.istio.io",
    );
}

#[test]
fn peer_authentication() {
    istio_object_is_imported(
        "  - kind: peer_authentication\n    name: strict\n    namespace: default\n    mtls: { mode: STRICT }\n",
        "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: { name: strict, namespace: default }\nspec:\n  mtls: { mode: STRICT }\n",
        "peer_authentication.strict",
        "peerauthentications.security.istio.io",
    );
}

#[test]
fn request_authentication() {
    istio_object_is_imported(
        "  - kind: request_authentication\n    name: jwt\n    namespace: default\n    jwt_rules:\n      - issuer: https://auth.example.com/\n",
        "apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: { name: jwt, namespace: default }\nspec:\n  jwtRules:\n    - issuer: https://auth.example.com/\n",
        "request_authentication.jwt",
        "requestauthentications.security.istio.io",
    );
}

#[test]
fn authorization_policy() {
    istio_object_is_imported(
        "  - kind: authorization_policy\n    name: deny-all\n    namespace: default\n    action: DENY\n    rules:\n      - from: [{ source: { namespaces: [other] } }]\n",
        "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: { name: deny-all, namespace: default }\nspec:\n  action: DENY\n  rules:\n    - from: [{ source: { namespaces: [other] } }]\n",
        "authorization_policy.deny-all",
        "authorizationpolicies.security.istio.io",
    );
}

/// What eksctl makes (tests/support/handbuilt.rs) for cluster `adopt-main`, with the VPC and
/// cluster imported as the stack describes them; the stack's resources after the cluster follow
/// `extra`. Returns the VPC id.
fn cluster_by_hand(trial: &Trial, extra: &str) -> String {
    let vpc_id = trial.rt.block_on(support::handbuilt::eksctl_cluster(
        &trial.config,
        "adopt-main",
        "1.29",
    ));
    // The cluster is `adopt-main`, the name eks_cluster.main of stack `adopt` has, and the
    // stack reaches it as a stack with a cluster does (EKS tokens, the sandbox's endpoint).
    let header =
        format!("stack: adopt\nregion: {REGION}\nkube: {{ from_cluster: main }}\nresources:\n");
    trial.write_raw_stack(&header, &format!(
        "  - kind: vpc\n    name: main\n    cidr: 192.168.0.0/16\n    azs: 2\n    nat: single\n    subnets: {{ prefix_length: 19 }}\n    tags: {{ alpha.eksctl.io/cluster-name: adopt-main }}\n\
         \x20 - kind: eks_cluster\n    name: main\n    version: \"1.29\"\n    vpc: main\n    endpoint: {{ private: true, public: true }}\n    logging: [api, audit]\n{extra}"
    ));
    trial.import("vpc.main", &vpc_id);
    trial.import("eks_cluster.main", "adopt-main");
    vpc_id
}

/// The tags of an IAM role, read with the SDK.
fn role_tags(trial: &Trial, role: &str) -> Vec<String> {
    let tags = trial
        .rt
        .block_on(
            aws_sdk_iam::Client::new(&trial.config)
                .list_role_tags()
                .role_name(role)
                .send(),
        )
        .unwrap();
    tags.tags().iter().map(|t| t.key().to_string()).collect()
}

#[test]
fn eks_cluster() {
    let trial = Trial::new();
    cluster_by_hand(&trial, "");
    let objects = trial.objects("eks_cluster.main");
    assert!(
        objects.contains(&"eks:cluster adopt-main".to_string())
            && objects.contains(&"iam:role eksctl-adopt-main-cluster-ServiceRole".to_string())
            && objects.iter().any(|o| o.starts_with("iam:oidc-provider ")),
        "the cluster, its role and its OIDC provider: {objects:?}"
    );
    let eks = aws_sdk_eks::Client::new(&trial.config);
    let described = trial
        .rt
        .block_on(eks.describe_cluster().name("adopt-main").send())
        .unwrap();
    let arn = described
        .cluster()
        .and_then(|c| c.arn())
        .unwrap()
        .to_string();
    let tags = |arn: &str| {
        trial
            .rt
            .block_on(eks.list_tags_for_resource().resource_arn(arn).send())
            .unwrap()
            .tags()
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        !tags(&arn).contains_key("meshctl:stack"),
        "the import wrote no tag"
    );
    let (action, fields) = trial.planned("eks_cluster.main");
    assert_eq!((action.as_str(), fields.len()), ("update", 0));
    trial.apply_converges();
    assert_eq!(
        tags(&arn).get("meshctl:address").map(String::as_str),
        Some("eks_cluster.main")
    );
    assert!(role_tags(&trial, "eksctl-adopt-main-cluster-ServiceRole")
        .contains(&"meshctl:stack".to_string()));
}

#[test]
fn nodegroup() {
    let trial = Trial::new();
    cluster_by_hand(
        &trial,
        "  - kind: nodegroup\n    name: ng-1\n    cluster: main\n    instance_types: [t3.large]\n    scaling: { min: 2, desired: 2, max: 4 }\n    ssh_key: eksKeypair\n",
    );
    trial.import("nodegroup.ng-1", "adopt-main/ng-1");
    assert_eq!(
        trial.objects("nodegroup.ng-1"),
        [
            "iam:role eksctl-adopt-main-nodegroup-ng-1-NodeInstanceRole",
            "eks:nodegroup adopt-main/ng-1"
        ],
        "the nodegroup and its node role"
    );
    let (action, fields) = trial.planned("nodegroup.ng-1");
    assert_eq!((action.as_str(), fields.len()), ("update", 0));
    trial.apply_converges();
    assert!(
        role_tags(&trial, "eksctl-adopt-main-nodegroup-ng-1-NodeInstanceRole")
            .contains(&"meshctl:address".to_string())
    );
}

#[test]
fn iam_service_account() {
    let trial = Trial::new();
    cluster_by_hand(
        &trial,
        "  - kind: iam_service_account\n    name: cert-manager\n    cluster: main\n    namespace: cert-manager\n    service_account: cert-manager\n    policy_arns: [\"arn:aws:iam::123456789012:policy/Route53ForCertManager\"]\n",
    );
    let role = trial.rt.block_on(support::handbuilt::eksctl_iam_service_account(
        &trial.config,
        "adopt-main",
        "cert-manager",
        "cert-manager",
        "Route53ForCertManager",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"route53:GetChange","Resource":"*"}]}"#,
    ));
    trial.import("iam_service_account.cert-manager", &role);
    assert_eq!(
        trial.objects("iam_service_account.cert-manager"),
        [format!("iam:role {role}")]
    );
    assert!(
        role_tags(&trial, &role).is_empty(),
        "the import wrote no tag"
    );
    let (action, fields) = trial.planned("iam_service_account.cert-manager");
    assert_eq!((action.as_str(), fields.len()), ("update", 0));
    trial.apply_converges();
    assert!(role_tags(&trial, &role).contains(&"meshctl:stack".to_string()));
}

#[test]
fn acm_certificate() {
    let trial = Trial::new();
    let arn = trial.rt.block_on(support::handbuilt::console_certificate(
        &trial.config,
        "example.com",
    ));
    trial.write_stack(
        "  - kind: route53_zone\n    name: public\n    domain: example.com\n\
         \x20 - kind: acm_certificate\n    name: wildcard\n    domain: \"*.example.com\"\n    sans: [example.com]\n    validation_zone: public\n",
    );
    trial.import("acm_certificate.wildcard", &arn);
    assert_eq!(
        trial.objects("acm_certificate.wildcard"),
        [format!("acm:certificate {arn}")]
    );
    let acm = aws_sdk_acm::Client::new(&trial.config);
    let tags = || {
        trial
            .rt
            .block_on(acm.list_tags_for_certificate().certificate_arn(&arn).send())
            .unwrap()
            .tags()
            .iter()
            .map(|t| t.key().to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        !tags().contains(&"meshctl:stack".to_string()),
        "the import wrote no tag"
    );
    let (action, _) = trial.planned("acm_certificate.wildcard");
    assert_eq!(action, "update", "the marks");
    trial.apply_converges();
    assert!(
        tags().contains(&"meshctl:address".to_string()),
        "{:?}",
        tags()
    );
}

/// The Helm labels of a release's newest storage Secret, read with kubectl.
fn release_labels(trial: &Trial, namespace: &str, release: &str) -> Value {
    let secrets = trial.kubectl(&[
        "get",
        "secrets",
        "-n",
        namespace,
        "-l",
        &format!("owner=helm,name={release}"),
    ]);
    let items = secrets["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .max_by_key(|s| {
            s["metadata"]["labels"]["version"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .map(|s| s["metadata"]["labels"].clone())
        .unwrap_or(Value::Null)
}

const IRSA_LB: &str = "  - kind: iam_service_account\n    name: aws-load-balancer-controller\n    cluster: main\n    namespace: kube-system\n    service_account: aws-load-balancer-controller\n    policy_arns: [\"arn:aws:iam::123456789012:policy/LBC\"]\n";
const IRSA_CM: &str = "  - kind: iam_service_account\n    name: cert-manager\n    cluster: main\n    namespace: cert-manager\n    service_account: cert-manager\n    policy_arns: [\"arn:aws:iam::123456789012:policy/CM\"]\n";
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}"#;

/// The IRSA role eksctl makes for NAMESPACE/ACCOUNT with policy NAME, imported as `address`.
fn irsa_by_hand(trial: &Trial, address: &str, namespace: &str, account: &str, policy: &str) {
    let role = trial
        .rt
        .block_on(support::handbuilt::eksctl_iam_service_account(
            &trial.config,
            "adopt-main",
            namespace,
            account,
            policy,
            POLICY,
        ));
    trial.import(address, &role);
}

#[test]
fn lb_controller() {
    let trial = Trial::new();
    cluster_by_hand(
        &trial,
        &format!("{IRSA_LB}  - kind: lb_controller\n    name: aws-load-balancer-controller\n    chart_version: 1.7.2\n    service_account: aws-load-balancer-controller\n"),
    );
    irsa_by_hand(
        &trial,
        "iam_service_account.aws-load-balancer-controller",
        "kube-system",
        "aws-load-balancer-controller",
        "LBC",
    );
    support::handbuilt::helm_install_lb_controller(&trial.sandbox, "adopt-main");
    trial.import(
        "lb_controller.aws-load-balancer-controller",
        "kube-system/aws-load-balancer-controller",
    );
    assert_eq!(
        trial.objects("lb_controller.aws-load-balancer-controller"),
        ["helm:release kube-system/aws-load-balancer-controller"]
    );
    let labels = release_labels(&trial, "kube-system", "aws-load-balancer-controller");
    assert!(
        labels["meshctl.io/stack"].is_null(),
        "the import ran no helm upgrade: {labels:#}"
    );
    let (action, fields) = trial.planned("lb_controller.aws-load-balancer-controller");
    assert_eq!(action, "update");
    assert!(
        fields
            .iter()
            .any(|f| f.ends_with("values.serviceAccount.create")),
        "meshctl lets the chart make the ServiceAccount: {fields:?}"
    );
    trial.apply_converges();
    let labels = release_labels(&trial, "kube-system", "aws-load-balancer-controller");
    assert_eq!(labels["meshctl.io/stack"], "adopt", "{labels:#}");
}

#[test]
fn cert_manager() {
    let trial = Trial::new();
    cluster_by_hand(
        &trial,
        &format!("{IRSA_CM}  - kind: cert_manager\n    name: cert-manager\n    chart_version: 1.14.4\n    service_account: cert-manager\n"),
    );
    irsa_by_hand(
        &trial,
        "iam_service_account.cert-manager",
        "cert-manager",
        "cert-manager",
        "CM",
    );
    support::handbuilt::helm_install_cert_manager(&trial.sandbox);
    trial.import("cert_manager.cert-manager", "cert-manager/cert-manager");
    assert_eq!(
        trial.objects("cert_manager.cert-manager"),
        [
            "k8s:v1/Namespace cert-manager",
            "helm:release cert-manager/cert-manager"
        ],
        "the release and the namespace helm made for it"
    );
    let labels = release_labels(&trial, "cert-manager", "cert-manager");
    assert!(labels["meshctl.io/stack"].is_null(), "{labels:#}");
    let (action, _) = trial.planned("cert_manager.cert-manager");
    assert_eq!(action, "update");
    trial.apply_converges();
    assert_eq!(
        release_labels(&trial, "cert-manager", "cert-manager")["meshctl.io/stack"],
        "adopt"
    );
}

/// cert-manager as the cert_manager test installs and imports it, with `extra` resources after.
fn cert_manager_by_hand(trial: &Trial, extra: &str) {
    cluster_by_hand(
        trial,
        &format!("  - kind: route53_zone\n    name: public\n    domain: example.com\n{IRSA_CM}  - kind: cert_manager\n    name: cert-manager\n    chart_version: 1.14.4\n    service_account: cert-manager\n{extra}"),
    );
    irsa_by_hand(
        trial,
        "iam_service_account.cert-manager",
        "cert-manager",
        "cert-manager",
        "CM",
    );
    support::handbuilt::helm_install_cert_manager(&trial.sandbox);
    trial.import("cert_manager.cert-manager", "cert-manager/cert-manager");
}

const ISSUER: &str = "  - kind: issuer\n    name: letsencrypt\n    acme: { email: ops@example.com, private_key_secret: letsencrypt-staging }\n    dns01: { zone: public, service_account: cert-manager }\n";
const ISSUER_BY_HAND: &str = "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: { name: letsencrypt }\nspec:\n  acme:\n    server: https://acme-v02.api.letsencrypt.org/directory\n    email: ops@example.com\n    privateKeySecretRef: { name: letsencrypt-staging }\n    solvers:\n      - dns01: { route53: { region: ap-northeast-2 } }\n";

#[test]
fn issuer() {
    let trial = Trial::new();
    cert_manager_by_hand(&trial, ISSUER);
    trial.kubectl_apply(ISSUER_BY_HAND);
    trial.import("issuer.letsencrypt", "letsencrypt");
    assert_eq!(
        trial.objects("issuer.letsencrypt"),
        ["k8s:cert-manager.io/v1/ClusterIssuer letsencrypt"]
    );
    let get = ["get", "clusterissuers.cert-manager.io", "letsencrypt"];
    assert_eq!(
        marks(&trial.kubectl(&get)),
        (None, None),
        "the import wrote nothing"
    );
    let (action, _) = trial.planned("issuer.letsencrypt");
    assert_eq!(action, "update", "the solver meshctl writes, and the marks");
    trial.apply_converges();
    assert_eq!(
        marks(&trial.kubectl(&get)),
        (Some("adopt"), Some("issuer.letsencrypt"))
    );
}

#[test]
fn certificate() {
    let trial = Trial::new();
    cert_manager_by_hand(
        &trial,
        &format!("{ISSUER}  - kind: certificate\n    name: shop-cert\n    namespace: default\n    issuer: letsencrypt\n    dns_names: [shop.example.com]\n"),
    );
    trial.kubectl_apply(ISSUER_BY_HAND);
    trial.import("issuer.letsencrypt", "letsencrypt");
    trial.kubectl_apply("apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: { name: shop-cert, namespace: default }\nspec:\n  secretName: shop-cert\n  dnsNames: [shop.example.com]\n  issuerRef: { name: letsencrypt, kind: ClusterIssuer }\n");
    // cert-manager issues the Secret; the import adopts it with the Certificate.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !trial
        .sandbox
        .kubectl_output(&["get", "secret", "shop-cert", "-n", "default"])
        .status
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "cert-manager issued no Secret"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    trial.import("certificate.shop-cert", "default/shop-cert");
    let objects = trial.objects("certificate.shop-cert");
    assert_eq!(
        objects,
        [
            "k8s:v1/Secret default/shop-cert",
            "k8s:cert-manager.io/v1/Certificate default/shop-cert"
        ],
        "the Certificate and the Secret issued for it"
    );
    let get = [
        "get",
        "certificates.cert-manager.io",
        "shop-cert",
        "-n",
        "default",
    ];
    assert_eq!(
        marks(&trial.kubectl(&get)),
        (None, None),
        "the import wrote nothing"
    );
    let (action, _) = trial.planned("certificate.shop-cert");
    assert_eq!(action, "update");
    trial.apply_converges();
    assert_eq!(
        marks(&trial.kubectl(&get)),
        (Some("adopt"), Some("certificate.shop-cert"))
    );
}

#[test]
fn alb() {
    let trial = Trial::new();
    cluster_by_hand(
        &trial,
        &format!("{IRSA_LB}  - kind: lb_controller\n    name: aws-load-balancer-controller\n    chart_version: 1.7.2\n    service_account: aws-load-balancer-controller\n{MESH_STACK}  - kind: alb\n    name: public\n    gateway: istio-ingressgateway\n"),
    );
    irsa_by_hand(
        &trial,
        "iam_service_account.aws-load-balancer-controller",
        "kube-system",
        "aws-load-balancer-controller",
        "LBC",
    );
    support::handbuilt::helm_install_lb_controller(&trial.sandbox, "adopt-main");
    trial.import(
        "lb_controller.aws-load-balancer-controller",
        "kube-system/aws-load-balancer-controller",
    );
    trial.istioctl_install(ISTIO_BY_HAND);
    trial.istioctl_install(GATEWAY_BY_HAND);
    trial.import("istio.mesh", "istio-system/mesh");
    trial.import(
        "ingress_gateway.istio-ingressgateway",
        "istio-system/istio-ingressgateway",
    );
    trial.kubectl_apply("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: public\n  namespace: istio-system\n  annotations:\n    alb.ingress.kubernetes.io/scheme: internet-facing\n    alb.ingress.kubernetes.io/target-type: instance\nspec:\n  ingressClassName: alb\n  rules:\n    - http:\n        paths:\n          - { path: /, pathType: Prefix, backend: { service: { name: istio-ingressgateway, port: { number: 80 } } } }\n");
    let hostname = support::handbuilt::ingress_hostname(&trial.sandbox, "istio-system", "public");
    trial.import("alb.public", "istio-system/public");
    let objects = trial.objects("alb.public");
    assert!(
        objects.contains(&"k8s:networking.k8s.io/v1/Ingress istio-system/public".to_string()),
        "{objects:?}"
    );
    // The balancer the controller made for it, by its ARN (read with the SDK).
    let arn = trial
        .rt
        .block_on(
            aws_sdk_elasticloadbalancingv2::Client::new(&trial.config)
                .describe_load_balancers()
                .send(),
        )
        .unwrap()
        .load_balancers()
        .iter()
        .find(|b| b.dns_name() == Some(hostname.as_str()))
        .and_then(|b| b.load_balancer_arn())
        .unwrap()
        .to_string();
    assert!(
        objects.iter().any(|o| o.ends_with(&format!(" {arn}"))),
        "the ALB is recorded: {objects:?}"
    );
    assert_eq!(
        trial.record("alb.public")["outputs"]["dns_name"],
        hostname.as_str()
    );
    let get = ["get", "ingress", "public", "-n", "istio-system"];
    assert_eq!(
        marks(&trial.kubectl(&get)),
        (None, None),
        "the import wrote nothing"
    );
    let (action, _) = trial.planned("alb.public");
    assert_eq!(action, "update");
    trial.apply_converges();
    assert_eq!(
        marks(&trial.kubectl(&get)),
        (Some("adopt"), Some("alb.public"))
    );
}
