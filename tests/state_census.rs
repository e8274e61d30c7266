//! A missing state is not an empty world (issue 21 item 1), through the real `meshctl` binary
//! against moto: the default state is found next to the stack file from any working directory;
//! a plan or apply against a state that does not know this stack's tagged objects stops, listing
//! them, and creates nothing (moto, read with the AWS SDK, still holds one VPC and one zone of the
//! stack); and `plan` creates no state directory. In the sandbox cluster, a namespace labelled
//! with the stack that the state does not know stops them the same way.

mod support;

use aws_config::SdkConfig;
use meshctl_sandbox::Moto;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use support::sandbox::{assert_exit, show};
use support::{runtime, sdk_config, text};

const STACK: &str = "census";

/// A VPC and a hosted zone meshctl creates and tags with the stack.
fn stack_yaml(name: &str) -> String {
    format!(
        "stack: {name}
region: ap-northeast-2
resources:
  - kind: vpc
    name: main
    cidr: 10.0.0.0/16
    azs: 2
  - kind: route53_zone
    name: public
    domain: {name}.example
    existing: false
"
    )
}

/// The ids of the hosted zones named `domain` in moto.
fn zones_named(rt: &tokio::runtime::Runtime, config: &SdkConfig, domain: &str) -> Vec<String> {
    rt.block_on(async {
        aws_sdk_route53::Client::new(config)
            .list_hosted_zones()
            .send()
            .await
            .unwrap()
            .hosted_zones()
            .iter()
            .filter(|zone| zone.name().trim_end_matches('.') == domain)
            .map(|zone| zone.id().to_string())
            .collect()
    })
}

/// `meshctl ARGS -f STACK [--state STATE]`, run in `cwd`.
fn meshctl(moto: &Moto, cwd: &Path, stack: &Path, state: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    command.current_dir(cwd).args(args).arg("-f").arg(stack);
    if let Some(state) = state {
        command.arg("--state").arg(state);
    }
    command
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .envs(meshctl_sandbox::moto::aws_env(&moto.url(), support::REGION));
    command.output().unwrap()
}

/// The ids of the VPCs tagged `meshctl:stack` = `stack` in moto.
fn stack_vpcs(rt: &tokio::runtime::Runtime, config: &SdkConfig, stack: &str) -> BTreeSet<String> {
    rt.block_on(async {
        aws_sdk_ec2::Client::new(config)
            .describe_vpcs()
            .send()
            .await
            .unwrap()
            .vpcs()
            .iter()
            .filter(|vpc| {
                vpc.tags()
                    .iter()
                    .any(|t| t.key() == Some("meshctl:stack") && t.value() == Some(stack))
            })
            .filter_map(|vpc| vpc.vpc_id().map(String::from))
            .collect()
    })
}

#[test]
fn a_state_that_does_not_know_the_stacks_tagged_objects_stops_before_creating() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(&rt, &moto.url());
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let stack = project.join("stack.yaml");
    std::fs::write(&stack, stack_yaml(STACK)).unwrap();

    // Applied from another directory with the default state: it lives next to the stack file.
    let applied = meshctl(
        &moto,
        &elsewhere,
        &stack,
        None,
        &["apply", "--auto-approve"],
    );
    assert_exit(&applied, 0, "the first apply");
    assert!(
        project.join("state").join(STACK).is_dir(),
        "the default state is state/<stack> beside the stack file\n{}",
        show(&applied)
    );
    assert!(
        !elsewhere.join("state").exists(),
        "nothing is created in the working directory"
    );
    let vpcs = stack_vpcs(&rt, &config, STACK);
    assert_eq!(vpcs.len(), 1, "one VPC of the stack: {vpcs:?}");
    let vpc = vpcs.iter().next().unwrap().clone();

    // From yet another directory, still the same state: nothing to do.
    let third = work.path().join("third");
    std::fs::create_dir_all(&third).unwrap();
    let plan = meshctl(
        &moto,
        &third,
        &stack,
        None,
        &["plan", "--detailed-exitcode"],
    );
    assert_exit(
        &plan,
        0,
        "plan from another directory finds the stack's state",
    );
    assert!(
        !third.join("state").exists(),
        "plan created {}",
        third.join("state").display()
    );

    // A state that does not know the VPC: plan stops and says which object, where it belongs
    // and what to do.
    let empty = work.path().join("empty-state");
    let plan = meshctl(&moto, &third, &stack, Some(&empty), &["plan"]);
    assert_exit(
        &plan,
        1,
        "plan against a state that does not know the stack's VPC",
    );
    let stderr = text(&plan.stderr);
    assert!(
        stderr.contains(&format!("{vpc} (vpc.main)")),
        "the VPC is listed with its address\n{}",
        show(&plan)
    );
    assert!(
        stderr.contains("(route53_zone.public)"),
        "the zone is listed with its address\n{}",
        show(&plan)
    );
    assert!(
        stderr.contains("--state"),
        "the way out is named\n{}",
        show(&plan)
    );
    assert!(
        !empty.exists(),
        "plan created the state directory {}",
        empty.display()
    );

    // Nor does apply create a second VPC beside the first.
    let apply = meshctl(
        &moto,
        &third,
        &stack,
        Some(&empty),
        &["apply", "--auto-approve"],
    );
    assert_exit(
        &apply,
        1,
        "apply against a state that does not know the stack's VPC",
    );
    assert!(
        text(&apply.stderr).contains(&format!("{vpc} (vpc.main)")),
        "{}",
        show(&apply)
    );
    assert_eq!(
        stack_vpcs(&rt, &config, STACK),
        BTreeSet::from([vpc.clone()]),
        "moto still holds exactly the one VPC of the stack"
    );
    assert_eq!(
        zones_named(&rt, &config, "census.example").len(),
        1,
        "and one zone"
    );

    // A stack never applied plans its creates, and `plan` leaves no state behind.
    let fresh = work.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    let fresh_stack = fresh.join("stack.yaml");
    std::fs::write(&fresh_stack, stack_yaml("census-fresh")).unwrap();
    let plan = meshctl(
        &moto,
        &fresh,
        &fresh_stack,
        None,
        &["plan", "--detailed-exitcode"],
    );
    assert_exit(&plan, 2, "a new stack plans its VPC");
    assert!(
        !fresh.join("state").exists(),
        "plan created {}\n{}",
        fresh.join("state").display(),
        show(&plan)
    );

    // A saved plan is bound to a state: `plan --out` creates it; `show` of the plan against a
    // directory holding no state says so and creates nothing there.
    let saved = fresh.join("fresh.plan");
    let plan = meshctl(
        &moto,
        &fresh,
        &fresh_stack,
        None,
        &["plan", "--out", saved.to_str().unwrap()],
    );
    assert_exit(&plan, 0, "plan --out");
    assert!(
        fresh.join("state").join("census-fresh").is_dir(),
        "{}",
        show(&plan)
    );
    let nowhere = work.path().join("nowhere");
    let shown = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .arg("show")
        .arg(&saved)
        .arg("--state")
        .arg(&nowhere)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_exit(&shown, 1, "show against a missing state");
    assert!(!nowhere.exists(), "show created {}", nowhere.display());

    // The state next to the stack file still drives the stack: destroying it leaves no VPC.
    let destroyed = meshctl(
        &moto,
        &elsewhere,
        &stack,
        None,
        &["destroy", "--auto-approve"],
    );
    assert_exit(&destroyed, 0, "destroy with the default state");
    assert!(stack_vpcs(&rt, &config, STACK).is_empty());
    assert!(zones_named(&rt, &config, "census.example").is_empty());
}

/// In a cluster reached through a kubeconfig, a namespace labelled with the stack that the state
/// does not know stops plan and apply too (without the census, apply would take it over as its
/// own); checked with kubectl.
#[test]
fn a_state_that_does_not_know_the_stacks_labelled_namespace_stops_before_creating() {
    let rt = runtime();
    let (sandbox, _config) = support::sandbox::Sandbox::start("census", "census.example", &rt);
    let work = tempfile::tempdir().unwrap();
    let stack = work.path().join("stack.yaml");
    std::fs::write(
        &stack,
        format!(
            "stack: kcensus
region: {}
kube: {{ kubeconfig: \"{}\", context: sandbox }}
resources:
  - kind: namespace
    name: shop
",
            support::REGION,
            sandbox.env["KUBECONFIG"]
        ),
    )
    .unwrap();
    let state = work.path().join("state-a");
    assert_exit(
        &sandbox.meshctl_approved(&stack, &state, &["apply"]),
        0,
        "the first apply",
    );
    let uid = || {
        sandbox.kubectl(&["get", "namespace", "shop", "-o", "json"])["metadata"]["uid"]
            .as_str()
            .map(String::from)
    };
    let before = uid();
    assert!(before.is_some(), "the namespace exists");

    let empty = work.path().join("state-b");
    let plan = sandbox.meshctl(&stack, &empty, &["plan"]);
    assert_exit(
        &plan,
        1,
        "plan against a state that does not know the namespace",
    );
    assert!(
        text(&plan.stderr).contains("shop (namespace.shop)"),
        "the namespace is listed with its address\n{}",
        show(&plan)
    );
    let apply = sandbox.meshctl_approved(&stack, &empty, &["apply"]);
    assert_exit(
        &apply,
        1,
        "apply against a state that does not know the namespace",
    );
    assert_eq!(uid(), before, "the namespace is the same one");
    assert_exit(
        &sandbox.meshctl_approved(&stack, &state, &["destroy"]),
        0,
        "destroy with the real state",
    );
}
