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
