//! Lifecycle rules, `--replace` and `--exclude` end to end: the real `meshctl` binary applies a
//! VPC, an EKS cluster and a nodegroup with `lifecycle: { ignore_changes: [scaling.desired] }` to
//! moto. An autoscaler-style change of the desired size (EKS's own UpdateNodegroupConfig, through
//! the AWS SDK) is then neither drift nor a planned update, while a change of `scaling.max` is
//! both, and applying it keeps the autoscaler's desired size (read back with the SDK). `--replace`
//! and `--exclude` plan exactly the actions written here by hand.

mod support;

use aws_config::SdkConfig;
use meshctl_sandbox::Moto;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use support::sandbox::{assert_exit, show};
use support::{runtime, sdk_config};

const CLUSTER: &str = "lifecycle-main";
const NODEGROUP: &str = "workers";

/// The stack, with the nodegroup's `desired` size and the cluster's tags as given.
fn stack(desired: u32, cluster_tags: &str) -> String {
    format!(
        r#"stack: lifecycle
region: ap-northeast-2
resources:
  - kind: vpc
    name: main
    cidr: 10.0.0.0/16
    azs: 2
  - kind: eks_cluster
    name: main
    version: "1.29"
    vpc: main
    tags: {cluster_tags}
  - kind: nodegroup
    name: workers
    cluster: main
    instance_types: [t3.large]
    scaling: {{ min: 1, desired: {desired}, max: 4 }}
    lifecycle:
      ignore_changes: [scaling.desired]
"#
    )
}

/// `meshctl ARGS -f STACK --state STATE` against moto, with moto's credentials.
fn meshctl(moto: &Moto, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .arg("-f")
        .arg(dir.join("stack.yaml"))
        .arg("--state")
        .arg(dir.join("state"))
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap()
}

fn json_of(output: &Output, what: &str) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{what} is not JSON: {e}\n{}", show(output)))
}

/// `meshctl plan --format json ARGS`, exit 0 expected.
fn plan(moto: &Moto, dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["plan", "--format", "json"];
    all.extend(args);
    let output = meshctl(moto, dir, &all);
    assert_exit(&output, 0, &format!("plan {args:?}"));
    json_of(&output, "plan --format json")
}

/// Each planned address with its action, as the plan JSON says.
fn actions(plan: &Value) -> BTreeMap<String, String> {
    plan["changes"]
        .as_array()
        .expect("the plan has changes")
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn change<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("{address} is in the plan: {plan:#}"))
}

/// The nodegroup's (min, desired, max), read from EKS with the SDK.
fn scaling(rt: &tokio::runtime::Runtime, config: &SdkConfig) -> (i32, i32, i32) {
    rt.block_on(async {
        let described = aws_sdk_eks::Client::new(config)
            .describe_nodegroup()
            .cluster_name(CLUSTER)
            .nodegroup_name(NODEGROUP)
            .send()
            .await
            .unwrap();
        let s = described
            .nodegroup()
            .and_then(|g| g.scaling_config())
            .expect("the nodegroup has a scaling config");
        (
            s.min_size().unwrap(),
            s.desired_size().unwrap(),
            s.max_size().unwrap(),
        )
    })
}

/// Scales the nodegroup as an autoscaler (or a person in the console) would: EKS's own
/// UpdateNodegroupConfig with only the sizes given.
fn scale(rt: &tokio::runtime::Runtime, config: &SdkConfig, desired: Option<i32>, max: Option<i32>) {
    rt.block_on(async {
        aws_sdk_eks::Client::new(config)
            .update_nodegroup_config()
            .cluster_name(CLUSTER)
            .nodegroup_name(NODEGROUP)
            .scaling_config(
                aws_sdk_eks::types::NodegroupScalingConfig::builder()
                    .set_desired_size(desired)
                    .set_max_size(max)
                    .build(),
            )
            .send()
            .await
            .expect("moto accepts UpdateNodegroupConfig");
    });
}

#[test]
fn ignored_fields_are_neither_drift_nor_updates_and_replace_and_exclude_plan_what_they_say() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: scripts/sandbox-deps.sh");
    let config = sdk_config(&rt, &moto.url());
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("stack.yaml"), stack(2, "{}")).unwrap();

    // --exclude before anything exists: the cluster and the nodegroup on it are left out.
    let excluded = plan(&moto, dir, &["--exclude", "eks_cluster.main"]);
    assert_eq!(actions(&excluded), expected(&[("vpc.main", "create")]));
    assert_eq!(
        excluded["excluded"],
        json!(["eks_cluster.main", "nodegroup.workers"])
    );

    let applied = meshctl(&moto, dir, &["apply", "--auto-approve"]);
    assert_exit(&applied, 0, "apply");
    assert_eq!(scaling(&rt, &config), (1, 2, 4));

    // The autoscaler scales out.
    scale(&rt, &config, Some(3), None);
    assert_eq!(scaling(&rt, &config), (1, 3, 4));

    let drift = meshctl(&moto, dir, &["drift", "--format", "json"]);
    assert_exit(&drift, 0, "drift with only an ignored field changed");
    let report = json_of(&drift, "drift --format json");
    assert_eq!(report["resources"], json!([]), "{report:#}");
    assert_eq!(
        report["ignored"],
        json!([{ "address": "nodegroup.workers", "path": "scaling.desired", "recorded": 2, "live": 3 }])
    );
    let text = meshctl(&moto, dir, &["drift"]);
    assert_exit(&text, 0, "drift (text)");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(
            "ignored: nodegroup.workers scaling.desired: 2 → 3 (lifecycle.ignore_changes)"
        ),
        "{}",
        show(&text)
    );

    let unchanged = plan(&moto, dir, &[]);
    assert_eq!(
        actions(&unchanged),
        expected(&[
            ("vpc.main", "no-op"),
            ("eks_cluster.main", "no-op"),
            ("nodegroup.workers", "no-op"),
        ])
    );
    assert_eq!(unchanged["has_changes"], json!(false));
    let workers = change(&unchanged, "nodegroup.workers");
    assert_eq!(workers["ignore_changes"], json!(["scaling.desired"]));
    assert_eq!(workers["ignored"][0]["path"], "scaling.desired");
    assert_eq!(workers["ignored"][0]["old"], 3);
    assert_eq!(workers["ignored"][0]["new"], 2);
    // The stack's own value of an ignored field changes nothing either.
    std::fs::write(dir.join("stack.yaml"), stack(1, "{}")).unwrap();
    let output = meshctl(&moto, dir, &["plan", "--detailed-exitcode"]);
    assert_exit(&output, 0, "plan with the stack's desired size changed");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(
            "ignored: nodegroup.workers scaling.desired: 3 (the stack says 1), left as it is by lifecycle.ignore_changes"
        ),
        "{}",
        show(&output)
    );

    // Someone raises the maximum: that is drift, and the plan puts it back.
    scale(&rt, &config, None, Some(6));
    assert_eq!(scaling(&rt, &config), (1, 3, 6));
    let drift = meshctl(&moto, dir, &["drift", "--format", "json"]);
    assert_exit(&drift, 2, "drift with scaling.max changed");
    let report = json_of(&drift, "drift --format json");
    assert_eq!(
        report["resources"],
        json!([{
            "address": "nodegroup.workers",
            "kind": "nodegroup",
            "drift": "changed",
            "fields": [{ "path": "scaling.max", "recorded": 4, "live": 6 }],
        }])
    );
    let put_back = plan(&moto, dir, &[]);
    assert_eq!(
        actions(&put_back),
        expected(&[
            ("vpc.main", "no-op"),
            ("eks_cluster.main", "no-op"),
            ("nodegroup.workers", "update"),
        ])
    );
    let workers = change(&put_back, "nodegroup.workers");
    let fields: Vec<(&str, &Value, &Value)> = workers["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), &f["old"], &f["new"]))
        .collect();
    assert_eq!(fields, [("scaling.max", &json!(6), &json!(4))]);
    // The update sends the desired size that is live, not the stack's.
    assert_eq!(
        workers["desired"]["scaling"],
        json!({ "min": 1, "desired": 3, "max": 4 })
    );
    let applied = meshctl(&moto, dir, &["apply", "--auto-approve"]);
    assert_exit(&applied, 0, "apply putting scaling.max back");
    assert_eq!(
        scaling(&rt, &config),
        (1, 3, 4),
        "the maximum is back and the autoscaler's desired size stays"
    );

    // --replace: the cluster is replaced although nothing forces it, and its nodegroup with it.
    let replaced = plan(&moto, dir, &["--replace", "eks_cluster.main"]);
    assert_eq!(
        actions(&replaced),
        expected(&[
            ("vpc.main", "no-op"),
            ("eks_cluster.main", "replace"),
            ("nodegroup.workers", "replace"),
        ])
    );
    assert_eq!(replaced["replace"], json!(["eks_cluster.main"]));
    let replaced = plan(&moto, dir, &["--replace", "nodegroup.workers"]);
    assert_eq!(
        actions(&replaced),
        expected(&[
            ("vpc.main", "no-op"),
            ("eks_cluster.main", "no-op"),
            ("nodegroup.workers", "replace"),
        ])
    );
    let unknown = meshctl(&moto, dir, &["plan", "--replace", "nodegroup.worker"]);
    assert_exit(&unknown, 1, "plan --replace of an unknown address");
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("did you mean `--replace nodegroup.workers`?"),
        "{}",
        show(&unknown)
    );

    // --exclude with changes pending on the cluster: everything but it and what depends on it.
    std::fs::write(dir.join("stack.yaml"), stack(1, "{ team: platform }")).unwrap();
    assert_eq!(
        actions(&plan(&moto, dir, &[])),
        expected(&[
            ("vpc.main", "no-op"),
            ("eks_cluster.main", "update"),
            ("nodegroup.workers", "no-op"),
        ])
    );
    let excluded = plan(&moto, dir, &["--exclude", "eks_cluster.main"]);
    assert_eq!(actions(&excluded), expected(&[("vpc.main", "no-op")]));
    assert_eq!(
        excluded["excluded"],
        json!(["eks_cluster.main", "nodegroup.workers"])
    );
    let excluded = plan(&moto, dir, &["--exclude", "nodegroup.workers"]);
    assert_eq!(
        actions(&excluded),
        expected(&[("vpc.main", "no-op"), ("eks_cluster.main", "update")])
    );
    assert_eq!(excluded["excluded"], json!(["nodegroup.workers"]));
    let unknown = meshctl(&moto, dir, &["plan", "--exclude", "eks_cluster.mian"]);
    assert_exit(&unknown, 1, "plan --exclude of an unknown address");
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("did you mean `--exclude eks_cluster.main`?"),
        "{}",
        show(&unknown)
    );
}
