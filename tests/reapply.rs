//! apply → destroy → apply of seeds 001 and 004 on one sandbox: the second apply makes the same
//! world again (moto used to refuse re-creating a deleted Route53 record while another record
//! sorted after it; `meshctl_sandbox::moto_patches` corrects that), checked with kubectl and the
//! AWS SDK: every Ingress and gateway Service reports a balancer that exists, every alias record
//! points at one with the canonical hosted zone AWS gives its type in the region, and a plan after
//! it has nothing to do.

mod support;

use aws_config::SdkConfig;
use meshctl_sandbox::moto_patches::elb_hosted_zone;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use support::sandbox::{assert_exit, Sandbox};
use support::{records, runtime, sdk_config, text, REGION};

fn stack_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../stacks")
        .join(name)
}

/// Every balancer in moto: DNS name → (type, ARN, canonical hosted zone id).
fn balancers(
    rt: &tokio::runtime::Runtime,
    config: &SdkConfig,
) -> BTreeMap<String, (String, String, String)> {
    rt.block_on(async {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
        let page = elb.describe_load_balancers().send().await.unwrap();
        page.load_balancers()
            .iter()
            .map(|b| {
                (
                    b.dns_name().unwrap_or_default().to_string(),
                    (
                        b.r#type()
                            .map(|t| t.as_str().to_string())
                            .unwrap_or_default(),
                        b.load_balancer_arn().unwrap_or_default().to_string(),
                        b.canonical_hosted_zone_id().unwrap_or_default().to_string(),
                    ),
                )
            })
            .collect()
    })
}

/// The load balancer hostnames the cluster's Ingresses and LoadBalancer Services report.
fn reported_hostnames(sandbox: &Sandbox) -> BTreeSet<String> {
    let mut hostnames = BTreeSet::new();
    for kind in ["ingresses", "services"] {
        let list = sandbox.kubectl(&["get", kind, "--all-namespaces"]);
        for item in list["items"].as_array().into_iter().flatten() {
            if let Some(host) = item["status"]["loadBalancer"]["ingress"][0]["hostname"].as_str() {
                hostnames.insert(host.to_string());
            }
        }
    }
    hostnames
}

/// Applies, destroys and applies `stack` on one sandbox; checks the second apply's world and
/// returns the balancer types the aliases point at.
fn apply_destroy_apply(cluster: &str, domain: &str, stack: &str) -> Vec<String> {
    let rt = runtime();
    let (sandbox, config) = Sandbox::start(cluster, domain, &rt);
    let stack = stack_file(stack);
    let state = tempfile::tempdir().unwrap();

    let first = sandbox.meshctl_approved(&stack, state.path(), &["apply"]);
    assert_exit(&first, 0, "the first apply");
    let first_records: BTreeSet<String> = records(&rt, &config, domain).into_keys().collect();
    let destroyed = sandbox.meshctl_approved(&stack, state.path(), &["destroy"]);
    assert_exit(&destroyed, 0, "destroy");
    let second = sandbox.meshctl_approved(&stack, state.path(), &["apply"]);
    assert_exit(&second, 0, "the apply after destroy");

    // The same records again, and every alias on a live balancer with its type's zone.
    let zone = records(&rt, &config, domain);
    assert_eq!(
        zone.keys().cloned().collect::<BTreeSet<_>>(),
        first_records,
        "the second apply makes the records of the first"
    );
    let live = balancers(&rt, &config);
    let mut alias_types = Vec::new();
    for (name, set) in &zone {
        let Some(alias) = set.alias_target() else {
            continue;
        };
        let dns = alias.dns_name().trim_end_matches('.');
        let (lb_type, arn, canonical_zone) = live
            .get(dns)
            .unwrap_or_else(|| panic!("{name} aliases {dns}, which is no balancer: {live:#?}"));
        assert_eq!(alias.hosted_zone_id(), canonical_zone, "{name}");
        assert_eq!(
            Some(canonical_zone.as_str()),
            elb_hosted_zone(REGION, lb_type),
            "{name}: the {lb_type} zone of {REGION}"
        );
        let arn_kind = if lb_type == "network" { "net" } else { "app" };
        assert!(
            arn.contains(&format!(":loadbalancer/{arn_kind}/")),
            "{name}: {arn}"
        );
        alias_types.push(lb_type.clone());
    }
    // What the cluster reports is what AWS has: no balancer of the first apply left behind.
    let reported = reported_hostnames(&sandbox);
    assert!(!reported.is_empty());
    assert_eq!(
        reported,
        live.keys().cloned().collect::<BTreeSet<_>>(),
        "the cluster's balancers are exactly moto's"
    );

    let plan = sandbox.meshctl_approved(&stack, state.path(), &["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0, "plan after the second apply");
    assert!(
        text(&plan.stdout).contains("No changes"),
        "{}",
        text(&plan.stdout)
    );
    alias_types.sort();
    alias_types
}

#[test]
fn seed_001_applies_again_after_destroy_on_one_sandbox() {
    let types = apply_destroy_apply("moamoa-main", "moamoa-news.com", "seed-001-https.yaml");
    assert_eq!(types, ["application", "application"]);
}

#[test]
fn seed_004_applies_again_after_destroy_on_one_sandbox() {
    let types = apply_destroy_apply(
        "multi-gateway-main",
        "example.com",
        "seed-004-multi-gateway.yaml",
    );
    // api → the NLB; admin → the internal ALB; the apex and www → the external ALB.
    assert_eq!(
        types,
        ["application", "application", "application", "network"]
    );
}

/// The moto gap itself, with the AWS SDK as the client: a record created, deleted and created
/// again while another record sorts after it.
#[test]
fn route53_recreates_a_deleted_record_while_another_sorts_after_it() {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let rt = runtime();
    let moto = meshctl_sandbox::Moto::start().expect("moto_server");
    let config = sdk_config(&rt, &moto.url());
    let route53 = aws_sdk_route53::Client::new(&config);
    rt.block_on(async {
        let zone = route53
            .create_hosted_zone()
            .name("example.com")
            .caller_reference("reapply")
            .send()
            .await
            .unwrap()
            .hosted_zone
            .unwrap()
            .id;
        let change = |action: ChangeAction, name: &str| {
            let set = ResourceRecordSet::builder()
                .name(name)
                .r#type(RrType::A)
                .ttl(60)
                .resource_records(ResourceRecord::builder().value("10.0.0.1").build().unwrap())
                .build()
                .unwrap();
            route53
                .change_resource_record_sets()
                .hosted_zone_id(&zone)
                .change_batch(
                    ChangeBatch::builder()
                        .changes(Change::builder().action(action).resource_record_set(set).build().unwrap())
                        .build()
                        .unwrap(),
                )
                .send()
        };
        change(ChangeAction::Create, "api.example.com").await.unwrap();
        change(ChangeAction::Create, "www.example.com").await.unwrap();
        change(ChangeAction::Delete, "api.example.com").await.unwrap();
        change(ChangeAction::Create, "api.example.com")
            .await
            .expect("AWS creates a record that no longer exists");
        // And still refuses one that does, in AWS's words.
        let error = change(ChangeAction::Create, "api.example.com")
            .await
            .expect_err("a record that exists cannot be created");
        let message = format!("{:?}", error.into_service_error());
        assert!(
            message.contains("Tried to create resource record set [name='api.example.com.', type='A'] but it already exists"),
            "{message}"
        );
    });
}
