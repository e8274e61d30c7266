//! The AWS half of seed 001's stack applied by the real `meshctl` binary against moto: through a
//! proxy throttling 30% of calls it converges; a permanent fault rolls the world back to what it
//! was; `kill -9` at any moment leaves no object that state does not know, also during an update
//! that makes one (a cluster's OIDC provider turned on). Under 50% EC2
//! throttling a VPC is created once: the throttled calls are retried, not the whole step. Every check reads moto
//! directly with the AWS SDK, not through meshctl.

mod support;

use aws_config::SdkConfig;
use meshctl_sandbox::{FailRule, FaultProxy, Faults, Moto};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::aws_world::{added, world};
use support::{runtime, sdk_config, text};

const STACK_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../stacks/seed-001-https.yaml"
);
const DOMAIN: &str = "moamoa-news.com";

/// The AWS resources of seed 001 (everything in the cluster comes with the Kubernetes provider).
const TARGETS: &[&str] = &[
    "nodegroup.workers",
    "iam_service_account.aws-load-balancer-controller",
    "iam_service_account.cert-manager",
    "acm_certificate.wildcard",
];

/// moto with the zone the stack looks up, as a registrar would have created it.
fn moto_with_zone(rt: &tokio::runtime::Runtime) -> (Moto, SdkConfig) {
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(rt, &moto.url());
    rt.block_on(async {
        aws_sdk_route53::Client::new(&config)
            .create_hosted_zone()
            .name(DOMAIN)
            .caller_reference("registrar")
            .send()
            .await
            .unwrap();
    });
    (moto, config)
}

fn meshctl(endpoint: &str, state: &Path, args: &[&str]) -> Command {
    meshctl_on(Path::new(STACK_FILE), endpoint, state, args)
}

/// `meshctl ARGS -f STACK --state STATE` against `endpoint` with moto's credentials.
fn meshctl_on(stack: &Path, endpoint: &str, state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    command
        .args(args)
        .arg("-f")
        .arg(stack)
        .arg("--state")
        .arg(state)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    command
}

fn run(endpoint: &str, state: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    if matches!(args.first(), Some(&"apply") | Some(&"plan")) {
        for target in TARGETS {
            all.extend(["--target", target]);
        }
    }
    if matches!(args.first(), Some(&"apply") | Some(&"destroy")) {
        all.push("--auto-approve");
    }
    meshctl(endpoint, state, &all).output().unwrap()
}

/// The ids of every object recorded in state, and the addresses with an open journal entry.
fn recorded(state: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    use meshctl_state::StateStore;
    let store = meshctl_state::SledStore::open(state, "moamoa").unwrap();
    let ids = store
        .records()
        .unwrap()
        .into_iter()
        .flat_map(|r| r.objects.into_iter().map(|o| o.id))
        .collect();
    let open = store
        .journal()
        .unwrap()
        .into_iter()
        .map(|j| j.address.to_string())
        .collect();
    (ids, open)
}

#[test]
fn seed_001_aws_part_converges_with_30_percent_of_calls_throttled() {
    let rt = runtime();
    let (moto, config) = moto_with_zone(&rt);
    let before = world(&rt, &config);
    let proxy = FaultProxy::start(&moto.url(), 7).unwrap();
    proxy.set_faults(Faults {
        throttle_rate: HashMap::from([("*".to_string(), 0.3)]),
        ..Faults::default()
    });
    let state = tempfile::tempdir().unwrap();

    let applied = run(&proxy.url(), state.path(), &["apply"]);
    assert!(
        applied.status.success(),
        "apply failed:\n{}{}",
        text(&applied.stdout),
        text(&applied.stderr)
    );
    let throttled: u64 = proxy.counts().values().map(|c| c.throttled).sum();
    assert!(
        throttled >= 10,
        "the proxy throttled only {throttled} calls: {:?}",
        proxy.counts()
    );

    // What exists, read straight from moto.
    let after = world(&rt, &config);
    let new = added(&before, &after);
    assert_eq!(new["vpc"].len(), 1, "{new:#?}\n{}", text(&applied.stderr));
    assert_eq!(new["subnet"].len(), 4, "2 AZs x public/private: {new:#?}");
    assert_eq!(new["nat_gateway"].len(), 1, "nat: single: {new:#?}");
    assert_eq!(new["eks_cluster"], ["moamoa-main"]);
    assert_eq!(new["nodegroup"], ["moamoa-main/workers"]);
    assert_eq!(new["oidc_provider"].len(), 1);
    assert_eq!(new["acm_certificate"].len(), 1);
    assert_eq!(
        new["iam_role"],
        [
            "moamoa-aws-load-balancer-controller-irsa",
            "moamoa-cert-manager-irsa",
            "moamoa-main-cluster",
            "moamoa-workers-node"
        ]
    );
    rt.block_on(async {
        let acm = aws_sdk_acm::Client::new(&config);
        let arn = &new["acm_certificate"][0];
        let detail = acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .unwrap();
        let detail = detail.certificate().unwrap();
        assert_eq!(detail.status().unwrap().as_str(), "ISSUED");
        // Its validation CNAME is in the zone.
        let validation = detail.domain_validation_options()[0]
            .resource_record()
            .unwrap();
        let wanted = format!("{} CNAME {}", validation.name(), validation.value());
        assert!(
            after["record"]
                .iter()
                .any(|r| r.trim_end_matches('.') == wanted.trim_end_matches('.') || r == &wanted),
            "validation record {wanted} not in {:?}",
            after["record"]
        );
        let eks = aws_sdk_eks::Client::new(&config);
        let cluster = eks
            .describe_cluster()
            .name("moamoa-main")
            .send()
            .await
            .unwrap();
        let cluster = cluster.cluster().unwrap();
        assert_eq!(cluster.version(), Some("1.29"));
        let vpc = cluster.resources_vpc_config().unwrap();
        assert!(vpc.endpoint_private_access() && vpc.endpoint_public_access());
    });

    // Converged: a second plan through the same faults finds nothing to do.
    let planned = run(&proxy.url(), state.path(), &["plan"]);
    assert!(planned.status.success(), "{}", text(&planned.stderr));
    assert!(
        text(&planned.stdout).contains("No changes."),
        "{}",
        text(&planned.stdout)
    );

    let destroyed = run(&proxy.url(), state.path(), &["destroy"]);
    assert!(
        destroyed.status.success(),
        "destroy failed:\n{}{}",
        text(&destroyed.stdout),
        text(&destroyed.stderr)
    );
    assert_eq!(
        added(&before, &world(&rt, &config)),
        BTreeMap::new(),
        "destroy left objects behind"
    );
}

/// A VPC with subnets in two zones and a NAT gateway: a dozen EC2 calls and a wait.
const VPC_STACK: &str = "stack: rough-day\nregion: ap-northeast-2\nresources:\n  - { kind: vpc, name: main, cidr: 10.0.0.0/16, azs: 2, nat: single }\n";

#[test]
fn under_50_percent_ec2_throttling_a_vpc_is_created_once() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(&rt, &moto.url());
    let before = world(&rt, &config);
    let proxy = FaultProxy::start(&moto.url(), 21).unwrap();
    proxy.set_faults(Faults::parse("ec2=throttle:0.5").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("vpc.yaml");
    std::fs::write(&stack, VPC_STACK).unwrap();
    let state = dir.path().join("state");
    let meshctl = |args: &[&str]| {
        meshctl_on(&stack, &proxy.url(), &state, args)
            .output()
            .unwrap()
    };

    let applied = meshctl(&["apply", "--auto-approve"]);
    let calls = proxy.calls();
    let reached = |call: &str| calls.get(call).map_or(0, |c| c.forwarded);
    let throttled: u64 = calls.values().map(|c| c.throttled).sum();
    assert!(
        throttled >= 5,
        "the proxy throttled only {throttled} calls: {calls:?}"
    );
    let new = added(&before, &world(&rt, &config));
    let report = format!(
        "{}{}\ncalls: {calls:#?}\nnew: {new:#?}",
        text(&applied.stdout),
        text(&applied.stderr)
    );
    // Each object is made once at most: a throttled call is sent again, the step is not started
    // over (which made a new VPC each time).
    assert!(reached("ec2:CreateVpc") <= 1, "{report}");
    match applied.status.code() {
        Some(0) => {
            assert_eq!(reached("ec2:CreateVpc"), 1, "{report}");
            assert_eq!(new["vpc"].len(), 1, "{report}");
            assert_eq!(reached("ec2:CreateSubnet"), 4, "{report}");
            assert_eq!(reached("ec2:CreateNatGateway"), 1, "{report}");
            assert_eq!(reached("ec2:AllocateAddress"), 1, "{report}");
            assert_eq!(new["subnet"].len(), 4, "{report}");
            assert_eq!(new["nat_gateway"].len(), 1, "{report}");
            // Converged: the next plan, through the same faults, finds nothing to do.
            let planned = meshctl(&["plan"]);
            assert!(planned.status.success(), "{}", text(&planned.stderr));
            assert!(
                text(&planned.stdout).contains("No changes."),
                "{}",
                text(&planned.stdout)
            );
        }
        // Failing is allowed, cleanly: rolled back, nothing left.
        Some(3) => assert_eq!(new, BTreeMap::new(), "{report}"),
        other => panic!("exit {other:?}:\n{report}"),
    }
}

#[test]
fn a_permanent_fault_on_one_node_rolls_moto_back_to_what_it_was() {
    let rt = runtime();
    let (moto, config) = moto_with_zone(&rt);
    let before = world(&rt, &config);
    let proxy = FaultProxy::start(&moto.url(), 11).unwrap();
    // The nodegroup is created late, after the VPC, cluster, roles and certificate; only its
    // CreateNodegroup request names `nodegroupName` in its body, so undoing it can succeed.
    proxy.set_faults(Faults {
        fail: vec![FailRule {
            service: "eks".into(),
            contains: "\"nodegroupName\"".into(),
        }],
        ..Faults::default()
    });
    let state = tempfile::tempdir().unwrap();
    let applied = run(&proxy.url(), state.path(), &["apply"]);
    let stderr = text(&applied.stderr);
    assert_eq!(
        applied.status.code(),
        Some(3), // failed and rolled back
        "{}{stderr}",
        text(&applied.stdout)
    );
    assert!(stderr.contains("nodegroup.workers"), "{stderr}");
    assert!(
        stderr.contains("Everything this run did was undone"),
        "{stderr}"
    );
    assert!(proxy.counts()["eks"].failed >= 1);
    assert_eq!(world(&rt, &config), before, "rollback did not restore moto");
}

#[test]
fn kill_9_during_apply_leaves_no_object_unknown_to_state() {
    let rt = runtime();
    for (trial, delay_ms) in [400u64, 900, 1500, 2300, 3200].into_iter().enumerate() {
        let (moto, config) = moto_with_zone(&rt);
        let before = world(&rt, &config);
        let proxy = FaultProxy::start(&moto.url(), trial as u64).unwrap();
        // Slow calls spread the apply over seconds, so each kill lands mid-way.
        proxy.set_faults(Faults {
            latency: Duration::from_millis(40),
            ..Faults::default()
        });
        let state = tempfile::tempdir().unwrap();
        let mut args: Vec<&str> = vec!["apply", "--auto-approve"];
        for target in TARGETS {
            args.extend(["--target", target]);
        }
        let mut child = meshctl(&proxy.url(), state.path(), &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // Every object in moto is recorded in state, or carries the tag of a resource whose
        // create the journal shows was interrupted (the next apply sweeps those).
        let left = added(&before, &world(&rt, &config));
        let (ids, open) = recorded(state.path());
        let tagged = tagged_addresses(&rt, &config);
        for (kind, objects) in &left {
            for id in objects {
                // Records are recorded as ZONE/name/TYPE before they are written.
                let record_id = match id.split(' ').collect::<Vec<_>>()[..] {
                    [name, record_type, ..] => {
                        format!("/{}/{record_type}", name.trim_end_matches('.'))
                    }
                    _ => String::from("\0"),
                };
                let known = ids.contains(id)
                    || ids.iter().any(|recorded| recorded.ends_with(&record_id))
                    || tagged.get(id).is_some_and(|address| open.contains(address));
                assert!(known, "trial {trial} (kill after {delay_ms} ms): {kind} {id} is unknown to state\nstate: {ids:?}\nopen: {open:?}");
            }
        }

        // The state repairs with no manual step: the next apply takes over the dead run's
        // lock, completes, and destroy leaves nothing.
        let left_locked = state.path().join("meshctl.lock").exists();
        let applied = run(&proxy.url(), state.path(), &["apply"]);
        assert!(
            applied.status.success(),
            "trial {trial}: re-apply failed:\n{}{}",
            text(&applied.stdout),
            text(&applied.stderr)
        );
        assert_eq!(
            text(&applied.stderr).contains("warning: took over the lock"),
            left_locked,
            "trial {trial}: {}",
            text(&applied.stderr)
        );
        let destroyed = run(&proxy.url(), state.path(), &["destroy"]);
        assert!(
            destroyed.status.success(),
            "trial {trial}: destroy failed:\n{}",
            text(&destroyed.stderr)
        );
        assert_eq!(
            added(&before, &world(&rt, &config)),
            BTreeMap::new(),
            "trial {trial}: objects left after destroy"
        );
    }
}

/// The `meshctl:address` tag of every tagged EC2 object, certificate and OIDC provider, by id.
fn tagged_addresses(rt: &tokio::runtime::Runtime, config: &SdkConfig) -> HashMap<String, String> {
    rt.block_on(async {
        let mut found = HashMap::new();
        let ec2 = aws_sdk_ec2::Client::new(config);
        let tags = ec2.describe_tags().send().await.unwrap();
        for tag in tags.tags() {
            if tag.key() == Some("meshctl:address") {
                found.insert(
                    tag.resource_id().unwrap_or_default().to_string(),
                    tag.value().unwrap_or_default().to_string(),
                );
            }
        }
        let acm = aws_sdk_acm::Client::new(config);
        for certificate in acm
            .list_certificates()
            .send()
            .await
            .unwrap()
            .certificate_summary_list()
        {
            let arn = certificate.certificate_arn().unwrap_or_default();
            let tags = acm
                .list_tags_for_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .unwrap();
            if let Some(tag) = tags.tags().iter().find(|t| t.key() == "meshctl:address") {
                found.insert(arn.to_string(), tag.value().unwrap_or_default().to_string());
            }
        }
        let iam = aws_sdk_iam::Client::new(config);
        // Roles carry their tags from CreateRole on (ListRoles does not return tags).
        for role in iam.list_roles().send().await.unwrap().roles() {
            let tags = iam
                .list_role_tags()
                .role_name(role.role_name())
                .send()
                .await
                .unwrap();
            if let Some(tag) = tags.tags().iter().find(|t| t.key() == "meshctl:address") {
                found.insert(role.role_name().to_string(), tag.value().to_string());
            }
        }
        for provider in iam
            .list_open_id_connect_providers()
            .send()
            .await
            .unwrap()
            .open_id_connect_provider_list()
        {
            let arn = provider.arn().unwrap_or_default();
            let tags = iam
                .list_open_id_connect_provider_tags()
                .open_id_connect_provider_arn(arn)
                .send()
                .await
                .unwrap();
            if let Some(tag) = tags.tags().iter().find(|t| t.key() == "meshctl:address") {
                found.insert(arn.to_string(), tag.value().to_string());
            }
        }
        found
    })
}

/// A VPC and a cluster without an OIDC provider; `LATE_OIDC_ON` is the same stack with `oidc`
/// turned on, an update that makes an object (the IAM OIDC provider).
const LATE_OIDC: &str = "stack: late-oidc\nregion: ap-northeast-2\nresources:\n  - { kind: vpc, name: main, cidr: 10.0.0.0/16, azs: 2, nat: none }\n  - { kind: eks_cluster, name: main, version: \"1.29\", vpc: main, oidc: false }\n";

/// Every object id the state of `stack` knows: in its records and in its open journal entries.
fn known_to_state(state: &Path, stack: &str) -> BTreeSet<String> {
    use meshctl_state::StateStore;
    let store = meshctl_state::SledStore::open(state, stack).unwrap();
    let recorded = store.records().unwrap().into_iter().flat_map(|r| r.objects);
    let journaled = store.journal().unwrap().into_iter().flat_map(|j| j.objects);
    recorded.chain(journaled).map(|o| o.id).collect()
}

/// The ARNs of the account's IAM OIDC providers, read from moto directly.
fn oidc_providers(rt: &tokio::runtime::Runtime, config: &SdkConfig) -> Vec<String> {
    rt.block_on(async {
        let iam = aws_sdk_iam::Client::new(config);
        let listed = iam.list_open_id_connect_providers().send().await.unwrap();
        listed
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn().map(String::from))
            .collect()
    })
}

/// `kill -9` during an apply whose update makes an object (turning a cluster's `oidc` on makes
/// its IAM OIDC provider): at any moment, every object the update made is known to state (the
/// provider's ARN is recorded before it is made); the next apply converges with one provider,
/// and destroy leaves moto with nothing the stack made. The first trial kills the moment the
/// provider appears in moto, while the update is still reading it back.
#[test]
fn kill_9_during_an_update_that_makes_objects_leaves_no_object_unknown_to_state() {
    let rt = runtime();
    // `None`: kill as soon as the provider exists; `Some(ms)`: after that long.
    for (trial, kill_at) in [None, Some(300u64), Some(800), Some(1500)]
        .into_iter()
        .enumerate()
    {
        let moto =
            Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
        let config = sdk_config(&rt, &moto.url());
        let before = world(&rt, &config);
        let dir = tempfile::tempdir().unwrap();
        let stack = dir.path().join("late-oidc.yaml");
        let state = dir.path().join("state");
        std::fs::write(&stack, LATE_OIDC).unwrap();
        let created = meshctl_on(&stack, &moto.url(), &state, &["apply", "--auto-approve"])
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "trial {trial}: the first apply failed:\n{}{}",
            text(&created.stdout),
            text(&created.stderr)
        );
        let before_update = world(&rt, &config);
        assert!(before_update["oidc_provider"].is_empty());

        std::fs::write(&stack, LATE_OIDC.replace("oidc: false", "oidc: true")).unwrap();
        // Slow calls spread the apply over seconds, so each kill lands mid-way.
        let proxy = FaultProxy::start(&moto.url(), trial as u64).unwrap();
        proxy.set_faults(Faults {
            latency: Duration::from_millis(40),
            ..Faults::default()
        });
        let mut child = meshctl_on(&stack, &proxy.url(), &state, &["apply", "--auto-approve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match kill_at {
            Some(ms) => std::thread::sleep(Duration::from_millis(ms)),
            None => {
                let started = std::time::Instant::now();
                while oidc_providers(&rt, &config).is_empty() {
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "trial {trial}: the update made no OIDC provider in a minute"
                    );
                    assert!(
                        child.try_wait().unwrap().is_none(),
                        "trial {trial}: the apply ended before making the OIDC provider"
                    );
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // Strict: no tag lets an object off here, the update records each object before it
        // makes it.
        let known = known_to_state(&state, "late-oidc");
        for (kind, ids) in added(&before_update, &world(&rt, &config)) {
            for id in ids {
                assert!(
                    known.contains(&id),
                    "trial {trial} (kill at {kill_at:?}): {kind} {id} is unknown to state\nstate: {known:?}"
                );
            }
        }

        let applied = meshctl_on(&stack, &proxy.url(), &state, &["apply", "--auto-approve"])
            .output()
            .unwrap();
        assert!(
            applied.status.success(),
            "trial {trial}: re-apply failed:\n{}{}",
            text(&applied.stdout),
            text(&applied.stderr)
        );
        let providers = oidc_providers(&rt, &config);
        assert_eq!(
            added(&before_update, &world(&rt, &config)),
            BTreeMap::from([("oidc_provider", providers.clone())]),
            "trial {trial}: the re-apply made exactly one OIDC provider"
        );
        assert!(
            known_to_state(&state, "late-oidc").contains(&providers[0]),
            "trial {trial}: the provider is recorded"
        );
        let planned = meshctl_on(&stack, &proxy.url(), &state, &["plan"])
            .output()
            .unwrap();
        assert!(
            text(&planned.stdout).contains("No changes."),
            "trial {trial}: not converged:\n{}{}",
            text(&planned.stdout),
            text(&planned.stderr)
        );

        let destroyed = meshctl_on(&stack, &proxy.url(), &state, &["destroy", "--auto-approve"])
            .output()
            .unwrap();
        assert!(
            destroyed.status.success(),
            "trial {trial}: destroy failed:\n{}",
            text(&destroyed.stderr)
        );
        assert_eq!(
            added(&before, &world(&rt, &config)),
            BTreeMap::new(),
            "trial {trial}: objects left after destroy"
        );
    }
}
