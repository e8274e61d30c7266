//! `import: ID` blocks in the stack, against the sandbox: `plan` reads the objects they name and
//! shows each as an `import` with exactly the fields where stack and object differ, writing
//! nothing (no state, no tag); `apply` records them, puts the fields right and places meshctl's
//! marks (checked with the AWS SDK and kubectl); the next plan is empty; `destroy` removes them.
//! A record `meshctl import` wrote gets its marks from the next apply too. Imports that name
//! nothing, or that would replace the object, stop the plan at the `import:` line.

mod support;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;
use support::sandbox::{assert_exit, show, Sandbox};
use support::{runtime, text, REGION};

/// A sandbox with a stack file and state directory of its own.
struct Trial {
    sandbox: Sandbox,
    ec2: aws_sdk_ec2::Client,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Trial {
    fn new() -> Self {
        let rt = runtime();
        let (sandbox, config) = Sandbox::start("blocks-main", "example.com", &rt);
        Trial {
            sandbox,
            ec2: aws_sdk_ec2::Client::new(&config),
            rt,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn stack(&self) -> PathBuf {
        self.dir.path().join("stack.yaml")
    }

    fn write_stack(&self, resources: &str) {
        let text = format!(
            "stack: blocks\nregion: {REGION}\nkube: {{ kubeconfig: \"{}\", context: sandbox }}\nresources:\n{resources}",
            self.sandbox.env["KUBECONFIG"]
        );
        std::fs::write(self.stack(), text).unwrap();
    }

    fn meshctl(&self, args: &[&str]) -> Output {
        self.sandbox
            .meshctl_approved(&self.stack(), &self.dir.path().join("state"), args)
    }

    fn plan(&self) -> Value {
        let output = self.meshctl(&["plan", "--format", "json"]);
        assert_exit(&output, 0, "plan");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The addresses the state records (`meshctl state list`).
    fn recorded(&self) -> Vec<String> {
        let output = self.meshctl(&["state", "list"]);
        text(&output.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
            .collect()
    }

    fn status(&self, address: &str) -> String {
        let output = self.meshctl(&["state", "show", address]);
        assert_exit(&output, 0, &format!("state show {address}"));
        let record: Value = serde_json::from_slice(&output.stdout).unwrap();
        record["status"].as_str().unwrap_or_default().to_string()
    }

    /// A VPC as eksctl makes one, by hand: two public and two private subnets and an internet
    /// gateway. Returns its id and its subnets' ids.
    fn vpc_by_hand(&self, cidr_prefix: &str) -> (String, Vec<String>) {
        let ec2 = &self.ec2;
        let vpc_id = self
            .rt
            .block_on(
                ec2.create_vpc()
                    .cidr_block(format!("{cidr_prefix}.0.0/16"))
                    .send(),
            )
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
            let subnet = self
                .rt
                .block_on(
                    ec2.create_subnet()
                        .vpc_id(&vpc_id)
                        .cidr_block(format!("{cidr_prefix}.{}.0/20", i * 16))
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
        let igw = self
            .rt
            .block_on(ec2.create_internet_gateway().send())
            .unwrap()
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap()
            .to_string();
        self.rt
            .block_on(
                ec2.attach_internet_gateway()
                    .internet_gateway_id(&igw)
                    .vpc_id(&vpc_id)
                    .send(),
            )
            .unwrap();
        (vpc_id, subnets)
    }

    /// The `meshctl:stack` and `meshctl:address` tags of an EC2 object, read with the SDK.
    fn marks(&self, id: &str) -> (Option<String>, Option<String>) {
        let tags = self
            .rt
            .block_on(
                self.ec2
                    .describe_tags()
                    .filters(Filter::builder().name("resource-id").values(id).build())
                    .send(),
            )
            .unwrap();
        let value = |key: &str| {
            tags.tags()
                .iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
                .map(str::to_string)
        };
        (value("meshctl:stack"), value("meshctl:address"))
    }

    fn vpc_exists(&self, id: &str) -> bool {
        let vpcs = self.rt.block_on(self.ec2.describe_vpcs().send()).unwrap();
        vpcs.vpcs().iter().any(|v| v.vpc_id() == Some(id))
    }
}

fn change<'p>(plan: &'p Value, address: &str) -> &'p Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("{address} is not in the plan: {plan:#}"))
}

fn field_paths(change: &Value) -> Vec<String> {
    change["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

fn marks_of(object: &Value) -> (Option<&str>, Option<&str>) {
    (
        object["metadata"]["labels"]["meshctl.io/stack"].as_str(),
        object["metadata"]["annotations"]["meshctl.io/address"].as_str(),
    )
}

#[test]
fn import_blocks_are_planned_then_adopted_marked_and_destroyed() {
    let trial = Trial::new();
    let (vpc_id, subnets) = trial.vpc_by_hand("10.0");
    trial.sandbox.kubectl_run(&["create", "namespace", "shop"]);
    trial
        .sandbox
        .kubectl_run(&["label", "namespace", "shop", "team=store"]);
    trial.write_stack(&format!(
        "  - kind: vpc\n    name: main\n    import: {vpc_id}\n    cidr: 10.0.0.0/16\n    azs: 2\n    nat: none\n\
         \x20 - kind: namespace\n    name: shop\n    import: shop\n    labels: {{ team: web }}\n"
    ));

    // The plan reads both, shows them as imports with what differs, and writes nothing.
    let plan = trial.plan();
    let vpc = change(&plan, "vpc.main");
    assert_eq!(vpc["action"], "import", "{vpc:#}");
    assert_eq!(vpc["importing"], vpc_id.as_str());
    assert_eq!(
        field_paths(vpc),
        Vec::<String>::new(),
        "the stack says what the VPC is"
    );
    let namespace = change(&plan, "namespace.shop");
    assert_eq!(namespace["action"], "import");
    // Cluster kinds say where their objects differ, object by object.
    assert_eq!(
        field_paths(namespace),
        ["Namespace shop metadata.labels.team"],
        "{namespace:#}"
    );
    assert_eq!(namespace["fields"][0]["old"], "store");
    assert_eq!(namespace["fields"][0]["new"], "web");
    assert_eq!(plan["summary"]["import"], 2, "{:#}", plan["summary"]);
    assert_eq!(plan["summary"]["create"], 0);
    let text_plan = trial.meshctl(&["plan"]);
    assert_exit(&text_plan, 0, "plan as text");
    let shown = text(&text_plan.stdout);
    assert!(
        shown.contains("Plan: 2 to import, 0 to create, 0 to update"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("<- vpc.main (import): imported from `{vpc_id}`")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("adopts ec2:subnet {}", subnets[0])),
        "{shown}"
    );
    assert!(trial.recorded().is_empty(), "plan records nothing");
    assert_eq!(trial.marks(&vpc_id), (None, None), "plan tags nothing");

    // The reviewed plan, saved and applied, adopts: recorded ok, fields put right, marks placed.
    let plan_file = trial.dir.path().join("adopt.plan");
    let plan_arg = plan_file.to_str().unwrap();
    let saved = trial.meshctl(&["plan", "--out", plan_arg]);
    assert_exit(&saved, 0, "plan --out");
    let applied = trial.meshctl(&["apply", plan_arg]);
    assert_exit(&applied, 0, "apply of the saved plan");
    assert_eq!(trial.status("vpc.main"), "ok");
    assert_eq!(trial.status("namespace.shop"), "ok");
    let marked = (Some("blocks".to_string()), Some("vpc.main".to_string()));
    assert_eq!(trial.marks(&vpc_id), marked, "the VPC is tagged on apply");
    for subnet in &subnets {
        assert_eq!(
            trial.marks(subnet),
            marked,
            "subnet {subnet} is tagged on apply"
        );
    }
    let live = trial.sandbox.kubectl(&["get", "namespace", "shop"]);
    assert_eq!(live["metadata"]["labels"]["team"], "web");
    assert_eq!(marks_of(&live), (Some("blocks"), Some("namespace.shop")));

    // The import blocks are done: the next plan is empty.
    let again = trial.plan();
    assert_eq!(again["has_changes"], false, "{again:#}");

    // Adopted objects are the stack's: destroy removes them.
    let destroyed = trial.meshctl(&["destroy"]);
    assert_exit(&destroyed, 0, "destroy");
    assert!(
        !trial.vpc_exists(&vpc_id),
        "destroy deleted the adopted VPC"
    );
    let gone = trial
        .sandbox
        .kubectl_output(&["get", "namespace", "shop", "-o", "json"]);
    let still = serde_json::from_slice::<Value>(&gone.stdout)
        .ok()
        .and_then(|n| {
            n["metadata"]["deletionTimestamp"]
                .as_str()
                .map(str::to_string)
        });
    assert!(
        !gone.status.success() || still.is_some(),
        "the namespace is deleted or being deleted: {}",
        show(&gone)
    );
}

#[test]
fn a_record_meshctl_import_wrote_is_marked_by_the_next_apply() {
    let trial = Trial::new();
    let (vpc_id, _) = trial.vpc_by_hand("10.0");
    trial.write_stack(
        "  - kind: vpc\n    name: main\n    cidr: 10.0.0.0/16\n    azs: 2\n    nat: none\n",
    );
    let imported = trial.meshctl(&["import", "vpc.main", &vpc_id]);
    assert_exit(&imported, 0, "meshctl import");
    assert_eq!(trial.status("vpc.main"), "imported");
    assert_eq!(trial.marks(&vpc_id), (None, None), "import tags nothing");

    let plan = trial.plan();
    let vpc = change(&plan, "vpc.main");
    assert_eq!(vpc["action"], "update", "{vpc:#}");
    assert!(
        vpc["reasons"].to_string().contains("ownership marks"),
        "{vpc:#}"
    );
    let applied = trial.meshctl(&["apply"]);
    assert_exit(&applied, 0, "apply");
    assert_eq!(
        trial.marks(&vpc_id),
        (Some("blocks".to_string()), Some("vpc.main".to_string()))
    );
    assert_eq!(trial.status("vpc.main"), "ok");
    assert_eq!(trial.plan()["has_changes"], false);
}

#[test]
fn imports_that_name_nothing_or_would_replace_stop_the_plan_at_their_line() {
    let trial = Trial::new();
    let (vpc_id, _) = trial.vpc_by_hand("10.0");

    trial.write_stack(
        "  - kind: vpc\n    name: main\n    import: vpc-0123456789abcdef0\n    cidr: 10.0.0.0/16\n    azs: 2\n    nat: none\n",
    );
    let output = trial.meshctl(&["plan"]);
    assert_exit(&output, 1, "plan of an import naming nothing");
    let said = text(&output.stderr);
    assert!(said.contains("import-refused"), "{said}");
    assert!(said.contains("vpc-0123456789abcdef0"), "{said}");
    assert!(
        said.contains("stack.yaml:7:13"),
        "located at the import line: {said}"
    );
    assert!(trial.recorded().is_empty(), "{}", show(&output));

    // The stack says another CIDR: the import would replace the VPC, so it is refused.
    trial.write_stack(&format!(
        "  - kind: vpc\n    name: main\n    import: {vpc_id}\n    cidr: 10.9.0.0/16\n    azs: 2\n    nat: none\n"
    ));
    let output = trial.meshctl(&["plan"]);
    assert_exit(&output, 1, "plan of an import that would replace");
    let said = text(&output.stderr);
    assert!(said.contains("import-would-replace"), "{said}");
    assert!(said.contains("cidr"), "{said}");
    let apply = trial.meshctl(&["apply"]);
    assert_exit(&apply, 1, "apply of the same");
    assert!(trial.vpc_exists(&vpc_id));
    assert_eq!(trial.marks(&vpc_id), (None, None));
    assert!(trial.recorded().is_empty());
}

#[test]
fn an_imported_helm_release_shows_its_chart_version_and_values_and_apply_upgrades_it() {
    let trial = Trial::new();
    let helm = |args: &[&str]| {
        let output = std::process::Command::new("helm")
            .args(args)
            .envs(&trial.sandbox.env)
            .output()
            .unwrap();
        assert!(output.status.success(), "helm {args:?}: {}", show(&output));
        output
    };
    helm(&[
        "install",
        "grafana",
        "grafana",
        "--repo",
        "https://grafana.github.io/helm-charts",
        "--version",
        "7.3.10",
        "--namespace",
        "monitoring",
        "--create-namespace",
        "--set",
        "replicas=1",
    ]);
    trial.write_stack(
        "  - kind: namespace\n    name: monitoring\n    import: monitoring\n\
         \x20 - kind: helm_release\n    name: grafana\n    import: monitoring/grafana\n    chart: grafana\n    repository: https://grafana.github.io/helm-charts\n    version: 7.3.11\n    namespace: monitoring\n    values: { replicas: 2 }\n",
    );
    let plan = trial.plan();
    let release = change(&plan, "helm_release.grafana");
    assert_eq!(release["action"], "import", "{release:#}");
    let fields: Vec<(String, Value, Value)> = release["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["old"].clone(),
                f["new"].clone(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            (
                "HelmRelease monitoring/grafana chart.version".to_string(),
                Value::from("7.3.10"),
                Value::from("7.3.11")
            ),
            (
                "HelmRelease monitoring/grafana values.replicas".to_string(),
                Value::from(1),
                Value::from(2)
            ),
        ],
        "{release:#}"
    );

    let applied = trial.meshctl(&["apply"]);
    assert_exit(&applied, 0, "apply");
    // helm's own view: upgraded to the stack's chart and values, labelled as the stack's.
    let listed = helm(&["list", "-n", "monitoring", "-o", "json"]);
    let releases: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(releases[0]["chart"], "grafana-7.3.11", "{releases:#}");
    let values = helm(&["get", "values", "grafana", "-n", "monitoring", "-o", "json"]);
    let values: Value = serde_json::from_slice(&values.stdout).unwrap();
    assert_eq!(values["replicas"], 2, "{values:#}");
    let again = trial.plan();
    assert_eq!(again["has_changes"], false, "{again:#}");
}

/// The stack label's ConfigMaps in `default`, by kubectl: name → whether it carries the marks.
fn configmaps(trial: &Trial) -> std::collections::BTreeMap<String, bool> {
    let listed = trial
        .sandbox
        .kubectl(&["get", "configmaps", "-n", "default"]);
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| {
            let name = item["metadata"]["name"].as_str()?;
            name.starts_with("web-").then(|| {
                (
                    name.to_string(),
                    marks_of(item) == (Some("blocks"), Some("manifest.web")),
                )
            })
        })
        .collect()
}

#[test]
fn an_import_killed_while_its_update_adds_objects_converges_and_destroys_clean() {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let trial = Trial::new();
    // web-a made by hand; the stack adopts it and adds web-b and web-c, answered late by the
    // sandbox API server so that the kill lands while they are being made.
    let by_hand = trial.dir.path().join("web-a.yaml");
    std::fs::write(
        &by_hand,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web-a, namespace: default }\ndata: { name: web-a }\n",
    )
    .unwrap();
    trial
        .sandbox
        .kubectl_run(&["apply", "-f", by_hand.to_str().unwrap()]);
    let slow = "annotations: { \"sandbox.meshctl.io/respond-after-ms\": \"600\" }";
    let mut objects = String::from(
        "      - apiVersion: v1\n        kind: ConfigMap\n        metadata: { name: web-a, namespace: default }\n        data: { name: web-a }\n",
    );
    for name in ["web-b", "web-c"] {
        objects.push_str(&format!(
            "      - apiVersion: v1\n        kind: ConfigMap\n        metadata: {{ name: {name}, namespace: default, {slow} }}\n        data: {{ name: {name} }}\n"
        ));
    }
    trial.write_stack(&format!(
        "  - kind: manifest\n    name: web\n    import: default/web-a\n    objects:\n{objects}"
    ));

    let log_path = trial.dir.path().join("killed.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(["apply", "--auto-approve", "-f"])
        .arg(trial.stack())
        .arg("--state")
        .arg(trial.dir.path().join("state"))
        .envs(&trial.sandbox.env)
        .env("NO_COLOR", "1")
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !configmaps(&trial).contains_key("web-b") {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "apply ended ({status}) before it made web-b:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "web-b was not made in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let group = format!("-{}", child.id());
    assert!(Command::new("kill")
        .args(["-9", "--", &group])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap();

    // The killed run recorded the adoption before writing anything: the record is there.
    assert_eq!(trial.recorded(), ["manifest.web"]);
    // The next apply finishes the adoption; nothing is made twice or left unmarked.
    let applied = trial.meshctl(&["apply"]);
    assert_exit(&applied, 0, "the apply after the kill");
    assert_eq!(trial.status("manifest.web"), "ok");
    let all = configmaps(&trial);
    assert_eq!(
        all,
        [
            ("web-a".to_string(), true),
            ("web-b".to_string(), true),
            ("web-c".to_string(), true)
        ]
        .into(),
        "every object adopted or made, and marked"
    );
    assert_eq!(trial.plan()["has_changes"], false);
    let destroyed = trial.meshctl(&["destroy"]);
    assert_exit(&destroyed, 0, "destroy");
    assert!(configmaps(&trial).is_empty(), "{:?}", configmaps(&trial));
}
