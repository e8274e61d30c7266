//! Route53 at the scale of a platform team: a stack of 1,000 `dns_record`s in one zone is
//! applied, planned, drift-checked and destroyed by the real `meshctl` through the counting proxy
//! (`FaultProxy::calls`). Apply and destroy send the records in a few change batches (1,000
//! changes each at most), not one request per record; plan and drift make at most 10 Route53
//! calls — the record sets come from 4 pages of `ListResourceRecordSets` (300 a page). A record
//! changed and one deleted with the AWS SDK behind meshctl's back are still reported as drift.
//! moto's own view, read with the AWS SDK, shows every record after apply and none after destroy.

mod support;

use meshctl_sandbox::{Counts, FaultProxy, Moto};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::sandbox::{assert_exit, show};
use support::{runtime, sdk_config, text, zone_id};

const DOMAIN: &str = "batch-refresh.example";
const RECORDS: usize = 1000;
/// The most Route53 calls one plan or drift of the whole stack may make.
const MAX_ROUTE53_CALLS: u64 = 10;
/// The most change batches (`ChangeResourceRecordSets`) an apply of the records may send, and
/// the most Route53 calls in all: each batch carries up to 1,000 changes.
const APPLY_BOUNDS: Bounds = Bounds {
    batches: 4,
    calls: 20,
};
/// The same for destroy, whose delete steps each write their intent to the state before they
/// reach Route53, so a batch holds what arrived within one rate-limit slot (200 ms) — 16 batches
/// in 4 s on a 2-core machine, where one request per record took over 200 s — and each batch
/// reads the zone's pages to repeat its records exactly as they are.
const DESTROY_BOUNDS: Bounds = Bounds {
    batches: 25,
    calls: 80,
};

/// How many change batches, and Route53 calls in all, a run may make.
struct Bounds {
    batches: u64,
    calls: u64,
}

/// The name of record `i`, its address's name and its value.
fn record(i: usize) -> (String, String) {
    (format!("r{i:04}"), format!("10.0.{}.{}", i / 256, i % 256))
}

/// The stack: the registrar's zone, looked up, and `count` A records in it.
fn stack(count: usize) -> String {
    let mut text = format!(
        "stack: batch\nregion: {}\nresources:\n  - kind: route53_zone\n    name: public\n    domain: {DOMAIN}\n",
        support::REGION
    );
    for i in 0..count {
        let (name, value) = record(i);
        text.push_str(&format!(
            "  - kind: dns_record\n    name: {name}\n    zone: public\n    record: {name}.{DOMAIN}\n    type: A\n    values: [{value}]\n    ttl: 60\n"
        ));
    }
    text
}

fn meshctl(endpoint: &str, stack: &Path, state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .arg("-f")
        .arg(stack)
        .arg("--state")
        .arg(state)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .envs(meshctl_sandbox::moto::aws_env(endpoint, support::REGION))
        .output()
        .unwrap()
}

/// Route53 calls the proxy forwarded since `before`, by operation (`ListResourceRecordSets`).
fn route53_calls_since(
    proxy: &FaultProxy,
    before: &HashMap<String, Counts>,
) -> HashMap<String, u64> {
    proxy
        .calls()
        .into_iter()
        .filter_map(|(call, counts)| {
            let operation = call.strip_prefix("route53:")?.to_string();
            let earlier = before.get(&call).map_or(0, |c| c.forwarded);
            let made = counts.forwarded - earlier;
            (made > 0).then_some((operation, made))
        })
        .collect()
}

/// Runs `meshctl ARGS` through the proxy, timed, with the Route53 calls it made.
fn counted(
    proxy: &FaultProxy,
    stack: &Path,
    state: &Path,
    args: &[&str],
) -> (Output, Duration, HashMap<String, u64>) {
    let before = proxy.calls();
    let start = Instant::now();
    let output = meshctl(&proxy.url(), stack, state, args);
    let elapsed = start.elapsed();
    (output, elapsed, route53_calls_since(proxy, &before))
}

fn assert_few_route53_calls(what: &str, calls: &HashMap<String, u64>, output: &Output) {
    let total: u64 = calls.values().sum();
    assert!(
        total <= MAX_ROUTE53_CALLS,
        "{what} made {total} Route53 calls for {RECORDS} records (at most {MAX_ROUTE53_CALLS}): {calls:?}\n{}",
        show(output)
    );
    // 1,002 record sets (the records, SOA and NS) are 4 pages of 300.
    assert_eq!(
        calls.get("ListResourceRecordSets"),
        Some(&4),
        "{what}: {calls:?}"
    );
}

/// The record sets of the zone other than its SOA and NS, read with the AWS SDK.
fn records_in_moto(
    rt: &tokio::runtime::Runtime,
    config: &aws_config::SdkConfig,
    zone: &str,
) -> Vec<String> {
    let route53 = aws_sdk_route53::Client::new(config);
    let mut names = Vec::new();
    let mut next: Option<(String, aws_sdk_route53::types::RrType)> = None;
    loop {
        let mut call = route53.list_resource_record_sets().hosted_zone_id(zone);
        if let Some((name, kind)) = next.take() {
            call = call.start_record_name(name).start_record_type(kind);
        }
        let page = rt.block_on(call.send()).unwrap();
        names.extend(
            page.resource_record_sets()
                .iter()
                .filter(|s| !matches!(s.r#type().as_str(), "SOA" | "NS"))
                .map(|s| s.name().trim_end_matches('.').to_string()),
        );
        match (page.next_record_name(), page.next_record_type()) {
            (Some(name), Some(kind)) if page.is_truncated() => {
                next = Some((name.to_string(), kind.clone()))
            }
            _ => return names,
        }
    }
}

/// Asserts that `what` changed the records within `bounds`.
fn assert_batched(what: &str, bounds: &Bounds, calls: &HashMap<String, u64>, output: &Output) {
    let total: u64 = calls.values().sum();
    let batches = calls.get("ChangeResourceRecordSets").copied().unwrap_or(0);
    assert!(
        (1..=bounds.batches).contains(&batches) && total <= bounds.calls,
        "{what} of {RECORDS} records sent {batches} change batches (at most {}) in {total} Route53 calls (at most {}): {calls:?}\n{}",
        bounds.batches,
        bounds.calls,
        show(output)
    );
}

#[test]
fn a_thousand_records_in_one_zone_apply_refresh_and_destroy_in_batches() {
    let rt = runtime();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(&rt, &moto.url());
    rt.block_on(
        aws_sdk_route53::Client::new(&config)
            .create_hosted_zone()
            .name(DOMAIN)
            .caller_reference("registrar")
            .send(),
    )
    .unwrap();
    let zone = zone_id(&rt, &config, DOMAIN);
    let dir = tempfile::tempdir().unwrap();
    let (stack_file, state) = (dir.path().join("stack.yaml"), dir.path().join("state"));
    std::fs::write(&stack_file, stack(RECORDS)).unwrap();
    let proxy = FaultProxy::start(&moto.url(), 22).unwrap();

    // The records go to Route53 in a few change batches, not one request each under its
    // five a second (which took over 200 s).
    let (applied, apply_time, calls) =
        counted(&proxy, &stack_file, &state, &["apply", "--auto-approve"]);
    assert_exit(&applied, 0, "apply of the records");
    assert_batched("apply", &APPLY_BOUNDS, &calls, &applied);
    eprintln!("apply of {RECORDS} records: {apply_time:?}, Route53 calls {calls:?}");
    let mut live = records_in_moto(&rt, &config, &zone);
    live.sort();
    let mut wanted: Vec<String> = (0..RECORDS)
        .map(|i| format!("{}.{DOMAIN}", record(i).0))
        .collect();
    wanted.sort();
    assert_eq!(live, wanted, "moto holds exactly the stack's records");

    // Nothing changed: the plan says so, having read every record.
    let (plan, plan_time, calls) = counted(&proxy, &stack_file, &state, &["plan"]);
    assert_exit(&plan, 0, "plan of the unchanged stack");
    assert!(text(&plan.stdout).contains("No changes"), "{}", show(&plan));
    assert_few_route53_calls("plan", &calls, &plan);
    eprintln!("plan of {RECORDS} records: {plan_time:?}, Route53 calls {calls:?}");

    // Behind meshctl's back: one record points elsewhere, another is gone.
    let (changed, changed_value) = (record(500).0, "192.0.2.50");
    let deleted = record(900);
    rt.block_on(async {
        use aws_sdk_route53::types::{
            Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
        };
        let set = |name: &str, value: &str| {
            ResourceRecordSet::builder()
                .name(format!("{name}.{DOMAIN}"))
                .r#type(RrType::A)
                .ttl(60)
                .resource_records(ResourceRecord::builder().value(value).build().unwrap())
                .build()
                .unwrap()
        };
        let change = |action, set| {
            Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .unwrap()
        };
        aws_sdk_route53::Client::new(&config)
            .change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(
                ChangeBatch::builder()
                    .changes(change(ChangeAction::Upsert, set(&changed, changed_value)))
                    .changes(change(ChangeAction::Delete, set(&deleted.0, &deleted.1)))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    });

    let (drift, drift_time, calls) =
        counted(&proxy, &stack_file, &state, &["drift", "--format", "json"]);
    assert_exit(&drift, 2, "drift after the out-of-band changes");
    assert_few_route53_calls("drift", &calls, &drift);
    eprintln!("drift of {RECORDS} records: {drift_time:?}, Route53 calls {calls:?}");
    let report: Value = serde_json::from_slice(&drift.stdout)
        .unwrap_or_else(|e| panic!("drift --format json is JSON: {e}\n{}", show(&drift)));
    assert_eq!(report["resources_checked"], RECORDS + 1, "{report:#}");
    let drifted: HashMap<String, &Value> = report["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("the report lists resources: {report:#}"))
        .iter()
        .map(|r| (r["address"].as_str().unwrap_or_default().to_string(), r))
        .collect();
    assert_eq!(drifted.len(), 2, "{report:#}");
    let changed_report = drifted[&format!("dns_record.{changed}")];
    assert_eq!(changed_report["drift"], "changed", "{report:#}");
    assert!(
        changed_report.to_string().contains(changed_value),
        "the live value is shown: {report:#}"
    );
    assert_eq!(
        drifted[&format!("dns_record.{}", deleted.0)]["drift"],
        "deleted",
        "{report:#}"
    );

    // Generous bounds, for a debug build on a busy machine: one call per record under the
    // 5-a-second limit takes over 200 s.
    assert!(
        plan_time < Duration::from_secs(60),
        "plan took {plan_time:?}"
    );
    assert!(
        drift_time < Duration::from_secs(60),
        "drift took {drift_time:?}"
    );

    // Apply puts both back: the changed one rewritten, the deleted one created again (moto
    // refused that until the sandbox corrected it).
    let (repaired, _, calls) = counted(&proxy, &stack_file, &state, &["apply", "--auto-approve"]);
    assert_exit(&repaired, 0, "apply after the drift");
    assert!(
        calls
            .get("ChangeResourceRecordSets")
            .is_some_and(|n| *n <= 2),
        "a request each at most: {calls:?}"
    );
    let (clean, _, _) = counted(&proxy, &stack_file, &state, &["drift"]);
    assert_exit(&clean, 0, "drift after the repair");

    // Destroy removes every record in a few batches.
    let (destroyed, destroy_time, calls) =
        counted(&proxy, &stack_file, &state, &["destroy", "--auto-approve"]);
    assert_exit(&destroyed, 0, "destroy of the records");
    eprintln!("destroy of {RECORDS} records: {destroy_time:?}, Route53 calls {calls:?}");
    assert_batched("destroy", &DESTROY_BOUNDS, &calls, &destroyed);
    assert_eq!(
        records_in_moto(&rt, &config, &zone),
        Vec::<String>::new(),
        "destroy leaves only the zone's SOA and NS"
    );
    assert!(
        apply_time < Duration::from_secs(60) && destroy_time < Duration::from_secs(60),
        "apply took {apply_time:?}, destroy {destroy_time:?}"
    );
}
