//! Lookups happen while planning, through the real `meshctl` binary against moto: a looked-up
//! Route53 zone or VPC that is not there stops `plan` and `apply` with a located error before
//! anything is created (checked with the AWS SDK and in state), and a zone that is there lends
//! its real id to the resources that use it, in the plan and in what apply writes.

mod support;

use aws_config::SdkConfig;
use meshctl_sandbox::Moto;
use meshctl_state::StateStore;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use support::sandbox::{assert_exit, show};
use support::{runtime, sdk_config, text};

const SEED_001: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../stacks/seed-001-https.yaml"
);

/// The AWS half of seed 001 (the cluster objects need the Kubernetes sandbox, not this test).
const SEED_001_AWS: &[&str] = &[
    "nodegroup.workers",
    "iam_service_account.aws-load-balancer-controller",
    "iam_service_account.cert-manager",
    "acm_certificate.wildcard",
];

/// A zone looked up, a record that writes its id, and a VPC meshctl creates.
const MARKER_STACK: &str = "stack: lookups
region: ap-northeast-2
resources:
  - kind: vpc
    name: main
    cidr: 10.0.0.0/16
    azs: 2
  - kind: route53_zone
    name: public
    domain: lookup-test.example
  - kind: dns_record
    name: marker
    zone: public
    record: marker.lookup-test.example
    type: TXT
    values: [\"zone=${route53_zone.public.zone_id}\"]
    ttl: 60
";

fn meshctl(moto: &Moto, stack: &Path, state: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    command
        .args(args)
        .arg("-f")
        .arg(stack)
        .arg("--state")
        .arg(state)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .envs(meshctl_sandbox::moto::aws_env(&moto.url(), support::REGION));
    command.output().unwrap()
}

/// Every object of the types seed 001 creates, by type and id (moto's default VPC included).
fn world(rt: &tokio::runtime::Runtime, config: &SdkConfig) -> BTreeSet<String> {
    rt.block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(config);
        let eks = aws_sdk_eks::Client::new(config);
        let iam = aws_sdk_iam::Client::new(config);
        let acm = aws_sdk_acm::Client::new(config);
        let route53 = aws_sdk_route53::Client::new(config);
        let mut world = BTreeSet::new();
        for vpc in ec2.describe_vpcs().send().await.unwrap().vpcs() {
            world.insert(format!("vpc {}", vpc.vpc_id().unwrap_or_default()));
        }
        for subnet in ec2.describe_subnets().send().await.unwrap().subnets() {
            world.insert(format!("subnet {}", subnet.subnet_id().unwrap_or_default()));
        }
        let gateways = ec2.describe_internet_gateways().send().await.unwrap();
        for gateway in gateways.internet_gateways() {
            world.insert(format!(
                "igw {}",
                gateway.internet_gateway_id().unwrap_or_default()
            ));
        }
        for cluster in eks.list_clusters().send().await.unwrap().clusters() {
            world.insert(format!("eks_cluster {cluster}"));
        }
        for role in iam.list_roles().send().await.unwrap().roles() {
            world.insert(format!("iam_role {}", role.role_name()));
        }
        let certificates = acm.list_certificates().send().await.unwrap();
        for certificate in certificates.certificate_summary_list() {
            world.insert(format!(
                "certificate {}",
                certificate.certificate_arn().unwrap_or_default()
            ));
        }
        for zone in route53
            .list_hosted_zones()
            .send()
            .await
            .unwrap()
            .hosted_zones()
        {
            world.insert(format!("zone {}", zone.name()));
        }
        world
    })
}

/// State's serial (0: nothing was ever written) and its recorded addresses.
fn state_of(state: &Path, stack: &str) -> (u64, Vec<String>) {
    let store = meshctl_state::SledStore::open(state, stack).unwrap();
    let records = store.records().unwrap();
    (
        store.meta().unwrap().serial,
        records.iter().map(|r| r.address.to_string()).collect(),
    )
}

fn create_zone(rt: &tokio::runtime::Runtime, config: &SdkConfig, domain: &str) -> String {
    rt.block_on(async {
        let created = aws_sdk_route53::Client::new(config)
            .create_hosted_zone()
            .name(domain)
            .caller_reference("registrar")
            .send()
            .await
            .unwrap();
        let id = created.hosted_zone().unwrap().id();
        id.trim_start_matches("/hostedzone/").to_string()
    })
}

#[test]
fn a_missing_zone_stops_plan_and_apply_before_anything_is_created() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(&rt, &moto.url());
    let before = world(&rt, &config);
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let stack = Path::new(SEED_001);
    let targets: Vec<&str> = SEED_001_AWS.iter().flat_map(|t| ["--target", *t]).collect();

    let plan = meshctl(
        &moto,
        stack,
        &state,
        &[&["plan"], targets.as_slice()].concat(),
    );
    assert_exit(&plan, 1, "plan with a zone that does not exist");
    let stderr = text(&plan.stderr);
    for expected in [
        "error[lookup-not-found]: cannot look up route53_zone.public: no public hosted zone for moamoa-news.com",
        "ap-northeast-2",
        // Located at the zone's domain in the stack file.
        "seed-001-https.yaml:76:13 (resources[9].domain)",
        "help: set `existing: false` to let meshctl create the zone for moamoa-news.com",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(plan.stdout.is_empty(), "no plan is shown:\n{}", show(&plan));

    let apply = meshctl(
        &moto,
        stack,
        &state,
        &[&["apply", "--auto-approve"], targets.as_slice()].concat(),
    );
    assert_exit(&apply, 1, "apply with a zone that does not exist");
    assert!(
        text(&apply.stderr).contains("error[lookup-not-found]"),
        "{}",
        show(&apply)
    );
    assert_eq!(world(&rt, &config), before, "apply created something");
    assert_eq!(
        state_of(&state, "moamoa"),
        (0, Vec::new()),
        "state was written"
    );
    assert!(
        !state.join("meshctl.lock").exists(),
        "a lock was left behind"
    );

    // Destroying looks nothing up: there is nothing to delete, and that is not an error.
    let destroy = meshctl(&moto, stack, &state, &["destroy", "--auto-approve"]);
    assert_exit(&destroy, 0, "destroy with a zone that does not exist");
}

#[test]
fn a_missing_vpc_or_subnet_is_located_at_the_field_naming_it() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(&rt, &moto.url());
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let stack = work.path().join("stack.yaml");
    let write = |vpc_id: &str, subnet: &str| {
        std::fs::write(
            &stack,
            format!(
                "stack: vpcs\nregion: ap-northeast-2\nresources:\n  - kind: vpc\n    name: shared\n    existing:\n      vpc_id: {vpc_id}\n      private_subnet_ids: [{subnet}]\n"
            ),
        )
        .unwrap();
    };

    write("vpc-0123456789abcdef0", "subnet-0123456789abcdef0");
    let plan = meshctl(&moto, &stack, &state, &["plan"]);
    assert_exit(&plan, 1, "plan with a VPC that does not exist");
    let stderr = text(&plan.stderr);
    assert!(
        stderr.contains("no VPC vpc-0123456789abcdef0 exists in ap-northeast-2")
            && stderr.contains("stack.yaml:7:15 (resources[0].existing.vpc_id)")
            && stderr.contains("help: check `existing.vpc_id`"),
        "{stderr}"
    );

    // moto's default VPC exists; the subnet listed is not one of its subnets.
    let vpc_id = rt.block_on(async {
        let vpcs = aws_sdk_ec2::Client::new(&config)
            .describe_vpcs()
            .send()
            .await
            .unwrap();
        vpcs.vpcs()[0].vpc_id().unwrap().to_string()
    });
    write(&vpc_id, "subnet-0123456789abcdef0");
    let plan = meshctl(&moto, &stack, &state, &["plan"]);
    assert_exit(&plan, 1, "plan with a subnet that is not the VPC's");
    let stderr = text(&plan.stderr);
    assert!(
        stderr.contains(&format!(
            "subnet subnet-0123456789abcdef0 is not a subnet of VPC {vpc_id}"
        )) && stderr.contains("(resources[0].existing.private_subnet_ids[0])"),
        "{stderr}"
    );
}

#[test]
fn a_found_zone_id_shows_in_the_plan_and_reaches_the_record() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(&rt, &moto.url());
    let zone_id = create_zone(&rt, &config, "lookup-test.example");
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let stack = work.path().join("stack.yaml");
    std::fs::write(&stack, MARKER_STACK).unwrap();

    let marker = |plan: &Output| -> Value {
        let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
        let change = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == "dns_record.marker")
            .cloned()
            .unwrap();
        change["desired"]["values"][0].clone()
    };

    let planned = meshctl(&moto, &stack, &state, &["plan", "--format", "json"]);
    assert_exit(&planned, 0, "plan with the zone in place");
    assert_eq!(marker(&planned), Value::String(format!("zone={zone_id}")));
    let text_plan = meshctl(&moto, &stack, &state, &["plan"]);
    assert!(
        text(&text_plan.stdout).contains(&format!("values[0] = \"zone={zone_id}\"")),
        "{}",
        show(&text_plan)
    );

    // Without refresh nothing is read from AWS: the id is known only after apply.
    let offline = meshctl(
        &moto,
        &stack,
        &state,
        &["plan", "--format", "json", "--refresh=false"],
    );
    assert_exit(&offline, 0, "plan --refresh=false");
    assert_eq!(
        marker(&offline),
        Value::String("zone=${route53_zone.public.zone_id}".to_string())
    );

    let applied = meshctl(&moto, &stack, &state, &["apply", "--auto-approve"]);
    assert_exit(&applied, 0, "apply with the zone in place");
    let records = support::records(&rt, &config, "lookup-test.example");
    let txt = &records["marker.lookup-test.example. TXT"];
    assert!(
        txt.resource_records()[0]
            .value()
            .contains(&format!("zone={zone_id}")),
        "{txt:?}"
    );
    let again = meshctl(&moto, &stack, &state, &["plan", "--detailed-exitcode"]);
    assert_exit(&again, 0, "a second plan has nothing to do");
}

#[test]
fn a_saved_plan_whose_zone_has_gone_is_refused_before_anything_is_created() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(&rt, &moto.url());
    let zone_id = create_zone(&rt, &config, "lookup-test.example");
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let stack = work.path().join("stack.yaml");
    std::fs::write(&stack, MARKER_STACK).unwrap();
    let plan_file = work.path().join("plan.json");
    let planned = meshctl(
        &moto,
        &stack,
        &state,
        &["plan", "--out", plan_file.to_str().unwrap()],
    );
    assert_exit(&planned, 0, "plan --out with the zone in place");

    // Between review and apply, the zone is deleted.
    rt.block_on(async {
        aws_sdk_route53::Client::new(&config)
            .delete_hosted_zone()
            .id(&zone_id)
            .send()
            .await
            .unwrap();
    });
    let before = world(&rt, &config);
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    let applied = command
        .arg("apply")
        .arg(&plan_file)
        .arg("--state")
        .arg(&state)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .envs(meshctl_sandbox::moto::aws_env(&moto.url(), support::REGION))
        .output()
        .unwrap();
    assert_exit(&applied, 1, "apply of a plan whose zone has gone");
    let stderr = text(&applied.stderr);
    assert!(
        stderr.contains("error[lookup-not-found]: cannot look up route53_zone.public: no public hosted zone for lookup-test.example"),
        "{stderr}"
    );
    assert_eq!(world(&rt, &config), before, "apply created something");
    assert_eq!(
        state_of(&state, "lookups"),
        (0, Vec::new()),
        "state was written"
    );
}
