//! The executor against the in-memory cloud: dependency order, overlap of independent branches,
//! convergence under throttling, rollback to the exact prior world, tainting when rollback fails.

use meshctl_engine::{
    ApplyOptions, Cancel, Event, EventSink, NoEvents, Outcome, Providers, RateLimits, RetryPolicy,
    Timeouts,
};
use meshctl_model::kinds::Service;
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::{Address, Kind, SourceFile, VarOverrides};
use meshctl_plan::{Plan, PlanInput, PlanOptions};
use meshctl_state::{
    Change, HistoryEntry, JournalEntry, MemoryStore, Meta, StateError, StateStore,
};
use meshctl_testkit::{FakeCloud, FakeProvider, Op};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A zone, a chain of records and namespaces: `ns-i` (cluster kind) and `rec-i` depending on the
/// zone; `rec-i` also interpolates the namespace's output, so it waits for it.
fn stack(units: usize, ttl: u32) -> String {
    let mut s = String::from("stack: t\nregion: us-east-1\nkube: { kubeconfig: kubeconfig.yaml }\nresources:\n  - { kind: route53_zone, name: public, domain: example.com, existing: false }\n");
    for i in 0..units {
        s.push_str(&format!(
            "  - {{ kind: namespace, name: ns-{i} }}\n  - {{ kind: dns_record, name: rec-{i}, zone: public, record: r{i}.example.com, type: TXT, values: [\"${{namespace.ns-{i}.name}}\"], ttl: {ttl} }}\n"
        ));
    }
    s
}

fn plan(text: &str, state: &dyn StateStore) -> Plan {
    let (checked, diagnostics) =
        meshctl_graph::validate(&SourceFile::new("t.yaml", text), &VarOverrides::default());
    let (stack, graph) = checked.unwrap_or_else(|| panic!("invalid test stack: {diagnostics:?}"));
    let meta = state.meta().unwrap();
    let prior = state.records().unwrap();
    let options = PlanOptions::default();
    let input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior: &prior,
        interrupted: &[],
        live: None,
        lookups: None,
        imports: None,
        lineage: &meta.lineage,
        serial: meta.serial,
        options: &options,
    };
    meshctl_plan::plan(&input).unwrap()
}

fn options(parallelism: usize) -> ApplyOptions {
    ApplyOptions {
        parallelism,
        retry: RetryPolicy {
            max_attempts: 30,
            base: Duration::from_millis(2),
            cap: Duration::from_millis(20),
        },
        timeouts: Timeouts::uniform(Duration::from_secs(30)),
        rate_limits: RateLimits::none(),
        ..ApplyOptions::default()
    }
}

/// The fake cloud as the only provider.
fn providers(cloud: &Arc<FakeCloud>) -> Providers {
    let mut providers = Providers::new();
    providers.register(Arc::new(FakeProvider::new(cloud.clone())));
    providers
}

async fn run(
    cloud: &Arc<FakeCloud>,
    state: &Arc<MemoryStore>,
    text: &str,
    options: &ApplyOptions,
) -> Outcome {
    let providers = providers(cloud);
    let plan = plan(text, state.as_ref());
    meshctl_engine::apply(
        &plan,
        state.clone(),
        &providers,
        options,
        Arc::new(NoEvents),
        Cancel::new(),
    )
    .await
    .unwrap()
}

/// Runs `text` as `run` does and fails the test unless everything was applied.
async fn applied(
    cloud: &Arc<FakeCloud>,
    state: &Arc<MemoryStore>,
    text: &str,
    options: &ApplyOptions,
) {
    let outcome = run(cloud, state, text, options).await;
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
}

/// The world without ids: kind, owner and fields of every object, sorted.
fn world(cloud: &FakeCloud) -> Vec<(String, String, String)> {
    let mut objects: Vec<_> = cloud
        .objects()
        .into_iter()
        .map(|o| (o.kind, o.address, o.fields.to_string()))
        .collect();
    objects.sort();
    objects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_starts_after_what_it_depends_on_finished() {
    let cloud = FakeCloud::new();
    cloud.set_latency(Duration::from_millis(5));
    let state = Arc::new(MemoryStore::new("t"));
    let text = stack(6, 300);
    assert_eq!(
        run(&cloud, &state, &text, &options(10)).await,
        Outcome::Applied { serial: 1 }
    );
    let calls = cloud.calls();
    let ended = |address: &Address| {
        calls
            .iter()
            .find(|c| &c.address == address && c.op == Op::Create)
            .map(|c| c.ended)
            .unwrap()
    };
    let zone = Address::new(Kind::Route53Zone, "public");
    for i in 0..6 {
        let record = Address::new(Kind::DnsRecord, format!("rec-{i}"));
        let started = calls.iter().find(|c| c.address == record).unwrap().started;
        assert!(
            started >= ended(&zone),
            "rec-{i} started before the zone was created"
        );
        assert!(
            started >= ended(&Address::new(Kind::Namespace, format!("ns-{i}"))),
            "rec-{i} started before its namespace"
        );
    }
    // Interpolated outputs arrived resolved.
    let record = state
        .record(&Address::new(Kind::DnsRecord, "rec-0"))
        .unwrap()
        .unwrap();
    assert_eq!(
        record.desired["values"][0],
        state
            .record(&Address::new(Kind::Namespace, "ns-0"))
            .unwrap()
            .unwrap()
            .outputs["name"]
    );
    assert_eq!(record.status, Status::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_branches_run_at_the_same_time() {
    let cloud = FakeCloud::new();
    cloud.set_latency(Duration::from_millis(150));
    let state = Arc::new(MemoryStore::new("t"));
    applied(&cloud, &state, &stack(4, 300), &options(10)).await;
    let namespaces: Vec<_> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.address.kind == Kind::Namespace)
        .collect();
    let overlapping = namespaces.iter().any(|a| {
        namespaces
            .iter()
            .any(|b| a.address != b.address && a.started < b.ended && b.started < a.ended)
    });
    assert!(
        overlapping,
        "no two independent namespaces were created at the same time: {namespaces:?}"
    );
    // With parallelism 1 nothing overlaps.
    let serial_cloud = FakeCloud::new();
    serial_cloud.set_latency(Duration::from_millis(20));
    let serial_state = Arc::new(MemoryStore::new("t"));
    assert!(matches!(
        run(&serial_cloud, &serial_state, &stack(3, 300), &options(1)).await,
        Outcome::Applied { .. }
    ));
    let calls = serial_cloud.calls();
    for a in &calls {
        for b in &calls {
            assert!(
                a.address == b.address || a.ended <= b.started || b.ended <= a.started,
                "{a:?} overlaps {b:?} at parallelism 1"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_percent_throttling_still_converges() {
    let cloud = FakeCloud::new();
    cloud.throttle(0.2);
    let state = Arc::new(MemoryStore::new("t"));
    let text = stack(15, 300);
    applied(&cloud, &state, &text, &options(10)).await;
    let records = state.records().unwrap();
    assert_eq!(records.len(), 31);
    assert!(records.iter().all(|r| r.status == Status::Ok));
    // Every object the cloud holds is in state, and the other way round.
    let mut recorded: Vec<String> = records
        .iter()
        .flat_map(|r| r.objects.iter().map(|o| o.id.clone()))
        .collect();
    let mut held: Vec<String> = cloud.objects().into_iter().map(|o| o.id).collect();
    recorded.sort();
    held.sort();
    assert_eq!(recorded, held);
    assert!(
        cloud.calls().iter().any(|c| !c.ok),
        "the throttle never fired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_rolls_the_world_back_to_before_the_apply() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    applied(&cloud, &state, &stack(5, 300), &options(10)).await;
    let before_world = world(&cloud);
    let before_records: Vec<(String, serde_json::Value)> = state
        .records()
        .unwrap()
        .into_iter()
        .map(|r| (r.address.to_string(), r.desired))
        .collect();
    // Next: change every TTL (updates), drop unit 4 (deletes), add units 5-7 (creates); one of
    // the new namespaces cannot be created.
    let mut next = stack(8, 60);
    next = next
        .replace("  - { kind: namespace, name: ns-4 }\n", "")
        .replace(
            &next
                .lines()
                .find(|l| l.contains("rec-4"))
                .unwrap()
                .to_string(),
            "",
        );
    next = next
        .lines()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    cloud.fail_permanently(&Address::new(Kind::Namespace, "ns-7"), Op::Create);
    let outcome = run(&cloud, &state, &next, &options(10)).await;
    assert!(
        matches!(&outcome, Outcome::RolledBack { failure, .. } if failure.to_string().contains("namespace.ns-7")),
        "{outcome:?}"
    );
    assert_eq!(outcome.exit_code(), 3);
    assert_eq!(
        world(&cloud),
        before_world,
        "the cloud is not as it was before the apply"
    );
    let after_records: Vec<(String, serde_json::Value)> = state
        .records()
        .unwrap()
        .into_iter()
        .map(|r| (r.address.to_string(), r.desired))
        .collect();
    assert_eq!(after_records, before_records);
    assert!(state
        .records()
        .unwrap()
        .iter()
        .all(|r| r.status == Status::Ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rollback_leaves_the_resource_tainted_with_its_own_exit_code() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    // The zone is created, then a record fails; deleting the zone during rollback fails too.
    cloud.fail_permanently(&Address::new(Kind::DnsRecord, "rec-0"), Op::Create);
    cloud.fail_permanently(&Address::new(Kind::Route53Zone, "public"), Op::Delete);
    let outcome = run(&cloud, &state, &stack(1, 300), &options(10)).await;
    let Outcome::RollbackIncomplete { tainted, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(outcome.exit_code(), 4);
    assert_eq!(
        tainted
            .iter()
            .map(|(a, _)| a.to_string())
            .collect::<Vec<_>>(),
        ["route53_zone.public"]
    );
    let zone = state
        .record(&Address::new(Kind::Route53Zone, "public"))
        .unwrap()
        .unwrap();
    assert_eq!(zone.status, Status::Tainted);
    assert!(
        !zone.objects.is_empty(),
        "the tainted record still lists the objects it owns"
    );
    // The next plan replaces it.
    let next = plan(&stack(1, 300), state.as_ref());
    let change = next
        .changes
        .iter()
        .find(|c| c.address == zone.address)
        .unwrap();
    assert_eq!(change.action, meshctl_plan::Action::Replace);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_a_create_that_failed_half_way_are_removed_by_rollback() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    // An ACM certificate owns two objects; its create fails after making the first.
    let text = "stack: t\nregion: us-east-1\nresources:\n  - { kind: route53_zone, name: public, domain: example.com, existing: false }\n  - { kind: acm_certificate, name: web, domain: \"*.example.com\", validation_zone: public }\n";
    let certificate = Address::new(Kind::AcmCertificate, "web");
    cloud.fail_permanently_after_objects(&certificate, Op::Create, 1);
    let outcome = run(&cloud, &state, text, &options(10)).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    assert!(
        cloud.objects().is_empty(),
        "left behind: {:?}",
        cloud.objects()
    );
    assert!(state.records().unwrap().is_empty());
}

/// A namespace and a manifest of `entries` ConfigMaps in it: applied after a version with fewer
/// entries, the manifest's update creates objects.
fn manifest_stack(entries: usize) -> String {
    let objects: Vec<String> = (0..entries)
        .map(|i| {
            format!(
                "{{ apiVersion: v1, kind: ConfigMap, metadata: {{ name: c{i}, namespace: app }} }}"
            )
        })
        .collect();
    format!(
        "stack: t\nregion: us-east-1\nkube: {{ kubeconfig: kubeconfig.yaml }}\nresources:\n  - {{ kind: namespace, name: app }}\n  - {{ kind: manifest, name: settings, objects: [{}] }}\n",
        objects.join(", ")
    )
}

/// The ids of the manifest's objects in the cloud and in its record.
fn manifest_objects(cloud: &FakeCloud, state: &MemoryStore) -> (Vec<String>, Vec<String>) {
    let manifest = Address::new(Kind::Manifest, "settings");
    let held = cloud
        .objects_of(&manifest)
        .into_iter()
        .map(|o| o.id)
        .collect();
    let mut recorded: Vec<String> = state
        .record(&manifest)
        .unwrap()
        .map(|r| r.objects.into_iter().map(|o| o.id).collect())
        .unwrap_or_default();
    recorded.sort();
    (held, recorded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_a_failed_update_made_are_removed_by_rollback() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    let first = run(&cloud, &state, &manifest_stack(1), &options(10)).await;
    assert!(matches!(first, Outcome::Applied { .. }), "{first:?}");
    let (before, _) = manifest_objects(&cloud, &state);
    assert_eq!(before.len(), 2);
    // The update makes three objects and fails after the second.
    let manifest = Address::new(Kind::Manifest, "settings");
    cloud.fail_permanently_after_objects(&manifest, Op::Update, 2);
    let outcome = run(&cloud, &state, &manifest_stack(4), &options(10)).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    let (held, recorded) = manifest_objects(&cloud, &state);
    assert_eq!(held, before, "the objects the failed update made are left");
    assert_eq!(recorded, before);
    assert!(state.journal().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_rollback_what_a_failed_update_made_stays_recorded() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    run(&cloud, &state, &manifest_stack(1), &options(10)).await;
    let manifest = Address::new(Kind::Manifest, "settings");
    cloud.fail_permanently_after_objects(&manifest, Op::Update, 2);
    let keep = ApplyOptions {
        rollback: false,
        ..options(10)
    };
    let outcome = run(&cloud, &state, &manifest_stack(4), &keep).await;
    assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
    let (held, recorded) = manifest_objects(&cloud, &state);
    assert_eq!(
        held.len(),
        4,
        "the main object, the first entry's and two new ones"
    );
    assert_eq!(recorded, held, "an object the update made is not recorded");
    assert!(state.journal().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_retried_after_making_objects_takes_them_over() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    run(&cloud, &state, &manifest_stack(1), &options(10)).await;
    // Throttled after making one of its three new objects; the retry is handed that object.
    let manifest = Address::new(Kind::Manifest, "settings");
    cloud.fail_once_retryably_after_objects(&manifest, Op::Update, 1);
    let outcome = run(&cloud, &state, &manifest_stack(4), &options(10)).await;
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    let updates = cloud
        .calls()
        .into_iter()
        .filter(|c| c.address == manifest && c.op == Op::Update)
        .count();
    assert_eq!(updates, 2);
    let (held, recorded) = manifest_objects(&cloud, &state);
    assert_eq!(held.len(), 5, "an object was made twice: {held:?}");
    assert_eq!(recorded, held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_throttled_half_way_fails_cleanly_instead_of_making_its_objects_twice() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    // The certificate owns two objects; its first create is throttled after making one (a
    // throttle the provider's own per-call retries did not absorb). Starting the create over
    // would make that object again; the step fails and the apply rolls back instead.
    let text = "stack: t\nregion: us-east-1\nresources:\n  - { kind: route53_zone, name: public, domain: example.com, existing: false }\n  - { kind: acm_certificate, name: web, domain: \"*.example.com\", validation_zone: public }\n";
    let certificate = Address::new(Kind::AcmCertificate, "web");
    cloud.fail_once_retryably_after_objects(&certificate, Op::Create, 1);
    let outcome = run(&cloud, &state, text, &options(10)).await;
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
    assert_eq!(outcome.exit_code(), 3);
    let creates = cloud
        .calls()
        .into_iter()
        .filter(|c| c.address == certificate && c.op == Op::Create)
        .count();
    assert_eq!(creates, 1, "the certificate's create was started over");
    assert!(
        cloud.objects().is_empty(),
        "left behind: {:?}",
        cloud.objects()
    );
    assert!(state.records().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rollback_completed_steps_are_kept_and_the_next_plan_finishes_the_job() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    let failing = Address::new(Kind::DnsRecord, "rec-1");
    cloud.fail_permanently(&failing, Op::Create);
    let keep = ApplyOptions {
        rollback: false,
        ..options(10)
    };
    let outcome = run(&cloud, &state, &stack(3, 300), &keep).await;
    assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
    assert_eq!(outcome.exit_code(), 3);
    assert!(
        state
            .record(&Address::new(Kind::DnsRecord, "rec-0"))
            .unwrap()
            .is_some(),
        "completed work was undone"
    );
    // The next plan creates only what is missing.
    let next = plan(&stack(3, 300), state.as_ref());
    let creates: Vec<String> = next
        .changes
        .iter()
        .filter(|c| c.action == meshctl_plan::Action::Create)
        .map(|c| c.address.to_string())
        .collect();
    let recorded: Vec<String> = state
        .records()
        .unwrap()
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    let missing: Vec<String> = next
        .changes
        .iter()
        .map(|c| c.address.to_string())
        .filter(|a| !recorded.contains(a))
        .collect();
    assert!(creates.contains(&"dns_record.rec-1".to_string()));
    assert_eq!(
        creates, missing,
        "the next plan creates exactly what state lacks"
    );
    assert!(next
        .changes
        .iter()
        .filter(|c| recorded.contains(&c.address.to_string()))
        .all(|c| c.action == meshctl_plan::Action::NoOp));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_lets_running_steps_finish_and_starts_nothing_else() {
    let cloud = FakeCloud::new();
    cloud.set_latency(Duration::from_millis(200));
    let state = Arc::new(MemoryStore::new("t"));
    let providers = providers(&cloud);
    let plan = plan(&stack(3, 300), state.as_ref());
    let cancel = Cancel::new();
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        interrupt.interrupt();
    });
    let outcome = meshctl_engine::apply(
        &plan,
        state.clone(),
        &providers,
        &options(10),
        Arc::new(NoEvents),
        cancel,
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, Outcome::Interrupted { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome.exit_code(), 5);
    // The first wave (zone and namespaces) was running and finished; no record was started.
    let calls = cloud.calls();
    assert!(
        calls.iter().all(|c| c.address.kind != Kind::DnsRecord),
        "a step started after the interrupt"
    );
    assert!(calls.iter().all(|c| c.ok));
    let recorded: Vec<String> = state
        .records()
        .unwrap()
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(
        recorded.len(),
        calls.len(),
        "every finished step is recorded: {recorded:?}"
    );
    assert!(state
        .records()
        .unwrap()
        .iter()
        .all(|r| r.status == Status::Ok));
}

/// Route53 takes requests at its rate; records of one zone made at once share a request (one
/// change batch), so they share its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_requests_are_spaced_by_the_rate_limit_and_records_of_a_zone_share_them() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    let limited = ApplyOptions {
        rate_limits: RateLimits::none().with(Service::Route53, 20.0),
        ..options(10)
    };
    applied(&cloud, &state, &stack(8, 300), &limited).await;
    let mut starts: Vec<std::time::Instant> = cloud
        .calls()
        .into_iter()
        .filter(|c| matches!(c.address.kind, Kind::DnsRecord | Kind::Route53Zone))
        .map(|c| c.started)
        .collect();
    starts.sort();
    assert_eq!(starts.len(), 9);
    // Calls within a few milliseconds of each other went in one turn.
    let mut turns: Vec<Vec<std::time::Instant>> = Vec::new();
    for start in starts {
        match turns.last_mut() {
            Some(turn) if start - turn[0] < Duration::from_millis(15) => turn.push(start),
            _ => turns.push(vec![start]),
        }
    }
    for pair in turns.windows(2) {
        // 20 per second: 50 ms apart, less a little timer slack.
        assert!(
            pair[1][0] - pair[0][0] >= Duration::from_millis(45),
            "route53 turns {:?} apart",
            pair[1][0] - pair[0][0]
        );
    }
    // The zone's turn, then the eight records in far fewer turns than eight.
    assert!(
        turns.len() <= 4,
        "the records of one zone share turns: {} turns for 9 calls",
        turns.len()
    );
    // Namespaces are not Route53: they are not held back.
    let namespaces = cloud
        .calls()
        .into_iter()
        .filter(|c| c.address.kind == Kind::Namespace)
        .count();
    assert_eq!(namespaces, 8);
}

/// A chain of namespaces (`chain-0` ← `chain-1` ← …) beside `records` DNS records, each in a
/// zone of its own (so no two share a Route53 request).
fn chain_beside_records(chain: usize, records: usize) -> String {
    let mut s = String::from(
        "stack: t\nregion: us-east-1\nkube: { kubeconfig: kubeconfig.yaml }\nresources:\n",
    );
    for i in 0..records {
        s.push_str(&format!(
            "  - {{ kind: route53_zone, name: z{i}, domain: z{i}.example.com, existing: false }}\n  - {{ kind: dns_record, name: rec-{i}, zone: z{i}, record: r.z{i}.example.com, type: TXT, values: [\"v\"], ttl: 300 }}\n"
        ));
    }
    for i in 0..chain {
        let after = match i {
            0 => String::new(),
            _ => format!(", depends_on: [namespace.chain-{}]", i - 1),
        };
        s.push_str(&format!(
            "  - {{ kind: namespace, name: chain-{i}{after} }}\n"
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_queued_on_the_rate_limit_hold_no_slot_and_the_longest_chain_goes_first() {
    let cloud = FakeCloud::new();
    cloud.set_latency(Duration::from_millis(40));
    let state = Arc::new(MemoryStore::new("t"));
    // Two slots; Route53 at 10 calls a second: 20 zones and their records need 4 s of turns.
    let limited = ApplyOptions {
        rate_limits: RateLimits::none().with(Service::Route53, 10.0),
        ..options(2)
    };
    let started = std::time::Instant::now();
    applied(&cloud, &state, &chain_beside_records(6, 20), &limited).await;
    let calls = cloud.calls();
    let last_of = |kind: Kind| {
        calls
            .iter()
            .filter(|c| c.address.kind == kind)
            .map(|c| c.started - started)
            .max()
            .unwrap()
    };
    let chain_done = last_of(Kind::Namespace);
    let records_done = last_of(Kind::DnsRecord);
    assert!(
        records_done >= Duration::from_millis(1_900),
        "the rate limit spaced the records: {records_done:?}"
    );
    // Six 40 ms steps one after another, not behind the records' turns (which would end the
    // chain after them, with only two slots).
    assert!(
        chain_done < Duration::from_millis(900),
        "the chain's last step started at {chain_done:?}, the last record at {records_done:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_outlives_its_timeout_fails_the_step() {
    let cloud = FakeCloud::new();
    cloud.set_kind_latency(Kind::DnsRecord, Op::Create, Duration::from_millis(400));
    let state = Arc::new(MemoryStore::new("t"));
    let impatient = ApplyOptions {
        timeouts: Timeouts {
            default: Duration::from_secs(30),
            by_kind: [(Kind::DnsRecord, Duration::from_millis(50))].into(),
        },
        ..options(10)
    };
    let outcome = run(&cloud, &state, &stack(1, 300), &impatient).await;
    assert!(
        matches!(&outcome, Outcome::RolledBack { failure, .. } if failure.to_string().contains("timed out")),
        "{outcome:?}"
    );
    assert!(cloud.objects().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_interrupt_aborts_running_steps_and_state_keeps_what_they_recorded() {
    let cloud = FakeCloud::new();
    cloud.set_latency(Duration::from_secs(5));
    let state = Arc::new(MemoryStore::new("t"));
    let providers = providers(&cloud);
    let plan = plan(&stack(2, 300), state.as_ref());
    let cancel = Cancel::new();
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        interrupt.interrupt();
        tokio::time::sleep(Duration::from_millis(50)).await;
        interrupt.interrupt();
    });
    let started = std::time::Instant::now();
    let outcome = meshctl_engine::apply(
        &plan,
        state.clone(),
        &providers,
        &options(10),
        Arc::new(NoEvents),
        cancel,
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "running steps were not aborted"
    );
    assert!(
        matches!(outcome, Outcome::Interrupted { .. }),
        "{outcome:?}"
    );
    // The aborted creates left their intent in the journal, so the next run knows to clean up.
    let journal = state.journal().unwrap();
    assert!(!journal.is_empty(), "aborted steps left no journal entry");
    assert!(cloud
        .objects()
        .iter()
        .all(|o| journal.iter().any(|j| j.address.to_string() == o.address)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroying_a_looked_up_zone_only_forgets_it() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    let text = "stack: t\nregion: us-east-1\nresources:\n  - { kind: route53_zone, name: public, domain: example.com }\n  - { kind: dns_record, name: www, zone: public, record: www.example.com, type: CNAME, values: [origin.example.net], ttl: 60 }\n";
    applied(&cloud, &state, text, &options(10)).await;
    let zone = Address::new(Kind::Route53Zone, "public");
    assert!(
        cloud
            .calls()
            .iter()
            .any(|c| c.address == zone && c.op == Op::Read),
        "the existing zone was not looked up"
    );
    // Destroy: everything in state goes, but the zone is never deleted in the cloud.
    let providers = providers(&cloud);
    let (checked, _) =
        meshctl_graph::validate(&SourceFile::new("t.yaml", text), &VarOverrides::default());
    let (stack, graph) = checked.unwrap();
    let meta = state.meta().unwrap();
    let prior = state.records().unwrap();
    let destroy = PlanOptions {
        destroy: true,
        ..PlanOptions::default()
    };
    let input = PlanInput {
        stack: &stack,
        graph: &graph,
        prior: &prior,
        interrupted: &[],
        live: None,
        lookups: None,
        imports: None,
        lineage: &meta.lineage,
        serial: meta.serial,
        options: &destroy,
    };
    let plan = meshctl_plan::plan(&input).unwrap();
    let outcome = meshctl_engine::apply(
        &plan,
        state.clone(),
        &providers,
        &options(10),
        Arc::new(NoEvents),
        Cancel::new(),
    )
    .await
    .unwrap();
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    assert!(state.records().unwrap().is_empty());
    assert!(cloud.objects().is_empty());
    assert!(
        !cloud
            .calls()
            .iter()
            .any(|c| c.address == zone && c.op == Op::Delete),
        "a looked-up zone was deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_updates_failing_together_both_keep_their_records() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    applied(&cloud, &state, &stack(3, 300), &options(10)).await;
    let before: Vec<(String, serde_json::Value)> = state
        .records()
        .unwrap()
        .into_iter()
        .map(|r| (r.address.to_string(), r.desired))
        .collect();
    // Both updates run at the same time and both fail.
    cloud.set_latency(Duration::from_millis(50));
    cloud.fail_permanently(&Address::new(Kind::DnsRecord, "rec-0"), Op::Update);
    cloud.fail_permanently(&Address::new(Kind::DnsRecord, "rec-1"), Op::Update);
    let outcome = run(&cloud, &state, &stack(3, 60), &options(10)).await;
    assert!(
        matches!(
            outcome,
            Outcome::RolledBack { .. } | Outcome::RollbackIncomplete { .. }
        ),
        "{outcome:?}"
    );
    let after: Vec<(String, serde_json::Value)> = state
        .records()
        .unwrap()
        .into_iter()
        .map(|r| (r.address.to_string(), r.desired))
        .collect();
    assert_eq!(
        after, before,
        "a record was lost or changed by the rollback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_before_destroy_keeps_the_new_objects() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    let cert = |sans: &str| {
        format!("stack: t\nregion: us-east-1\nresources:\n  - {{ kind: route53_zone, name: public, domain: example.com, existing: false }}\n  - {{ kind: acm_certificate, name: web, domain: \"*.example.com\", sans: [{sans}], validation_zone: public }}\n")
    };
    applied(&cloud, &state, &cert("example.com"), &options(10)).await;
    let address = Address::new(Kind::AcmCertificate, "web");
    let old: Vec<String> = cloud
        .objects_of(&address)
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(old.len(), 2);
    // A new SAN replaces the certificate, the new one first.
    applied(
        &cloud,
        &state,
        &cert("example.com, api.example.com"),
        &options(10),
    )
    .await;
    let now: Vec<String> = cloud
        .objects_of(&address)
        .into_iter()
        .map(|o| o.id)
        .collect();
    let recorded: Vec<String> = state
        .record(&address)
        .unwrap()
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        now.len(),
        2,
        "the new certificate's objects are gone: {now:?}"
    );
    assert!(
        now.iter().all(|id| !old.contains(id)),
        "an old object survived"
    );
    assert_eq!(now, recorded);
    let creates: Vec<_> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.address == address && matches!(c.op, Op::Create | Op::Delete))
        .map(|c| c.op)
        .collect();
    assert_eq!(
        creates[creates.len() - 2..],
        [Op::Create, Op::Delete],
        "created before destroyed"
    );
}

/// A zone and a record in it, the zone named `domain`.
fn zone_and_record(domain: &str) -> String {
    format!("stack: t\nregion: us-east-1\nresources:\n  - {{ kind: route53_zone, name: public, domain: {domain}, existing: false }}\n  - {{ kind: dns_record, name: www, zone: public, record: www.{domain}, type: TXT, values: [\"v\"], ttl: 60 }}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_replacements_delete_dependents_first_and_create_them_last() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    applied(
        &cloud,
        &state,
        &zone_and_record("example.com"),
        &options(10),
    )
    .await;
    let before = cloud.calls().len();
    // Both are replaced: the record must leave the old zone before the zone goes, and can only
    // be made in the new zone once it exists.
    applied(
        &cloud,
        &state,
        &zone_and_record("example.org"),
        &options(10),
    )
    .await;
    let zone = Address::new(Kind::Route53Zone, "public");
    let record = Address::new(Kind::DnsRecord, "www");
    let order: Vec<(Address, Op)> = cloud.calls()[before..]
        .iter()
        .filter(|c| matches!(c.op, Op::Create | Op::Delete))
        .map(|c| (c.address.clone(), c.op))
        .collect();
    assert_eq!(
        order,
        vec![
            (record.clone(), Op::Delete),
            (zone.clone(), Op::Delete),
            (zone.clone(), Op::Create),
            (record.clone(), Op::Create),
        ]
    );
    assert_eq!(
        state.record(&record).unwrap().unwrap().desired["record"],
        "www.example.org"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_chained_replacement_rolls_back_to_the_old_objects() {
    let cloud = FakeCloud::new();
    let state = Arc::new(MemoryStore::new("t"));
    applied(
        &cloud,
        &state,
        &zone_and_record("example.com"),
        &options(10),
    )
    .await;
    let before_world = world(&cloud);
    let before_records: Vec<(String, serde_json::Value)> = state
        .records()
        .unwrap()
        .into_iter()
        .map(|r| (r.address.to_string(), r.desired))
        .collect();
    // The new record cannot be created, after both old objects were deleted.
    cloud.fail_permanently_once(&Address::new(Kind::DnsRecord, "www"), Op::Create);
    let outcome = run(
        &cloud,
        &state,
        &zone_and_record("example.org"),
        &options(10),
    )
    .await;
    assert!(
        matches!(&outcome, Outcome::RolledBack { .. }),
        "{outcome:?}"
    );
    assert_eq!(world(&cloud), before_world);
    let after_records: Vec<(String, serde_json::Value)> = state
        .records()
        .unwrap()
        .into_iter()
        .map(|r| (r.address.to_string(), r.desired))
        .collect();
    assert_eq!(after_records, before_records);
    assert!(state
        .records()
        .unwrap()
        .iter()
        .all(|r| r.status == Status::Ok));
}

/// A state store that takes `commits` commits, then fails every write as a store that cannot
/// reach its storage does after its retries: it keeps the change in memory and says it was not
/// saved.
struct FailingAfter {
    store: MemoryStore,
    commits_left: AtomicUsize,
}

impl FailingAfter {
    fn not_saved() -> StateError {
        StateError::NotSaved {
            location: "the test store".to_string(),
            detail: "injected failure".to_string(),
        }
    }
}

impl StateStore for FailingAfter {
    fn meta(&self) -> Result<Meta, StateError> {
        self.store.meta()
    }

    fn records(&self) -> Result<Vec<NodeRecord>, StateError> {
        self.store.records()
    }

    fn record(&self, address: &Address) -> Result<Option<NodeRecord>, StateError> {
        self.store.record(address)
    }

    fn commit(&self, change: Change) -> Result<(), StateError> {
        let taken = self
            .commits_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        self.store.commit(change)?;
        taken.map(|_| ()).map_err(|_| FailingAfter::not_saved())
    }

    fn commit_behind(&self, change: Change) -> Result<(), StateError> {
        self.commit(change)
    }

    fn sync(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn journal(&self) -> Result<Vec<JournalEntry>, StateError> {
        self.store.journal()
    }

    fn next_journal_id(&self) -> Result<u64, StateError> {
        self.store.next_journal_id()
    }

    fn finish(&self, operation: &str, changed: &[Address]) -> Result<u64, StateError> {
        match self.commits_left.load(Ordering::SeqCst) {
            0 => Err(FailingAfter::not_saved()),
            _ => self.store.finish(operation, changed),
        }
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        self.store.history()
    }
}

/// Every event of a walk, in order.
#[derive(Default)]
struct Seen(Mutex<Vec<Event>>);

impl EventSink for Seen {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_that_stops_saving_stops_the_walk_without_undoing_anything() {
    let cloud = FakeCloud::new();
    let text = stack(4, 300);
    for commits in [0, 3, 7] {
        let state = Arc::new(FailingAfter {
            store: MemoryStore::new("t"),
            commits_left: AtomicUsize::new(commits),
        });
        let plan = plan(&text, state.as_ref());
        let seen = Arc::new(Seen::default());
        let outcome = meshctl_engine::apply(
            &plan,
            state.clone(),
            &providers(&cloud),
            &options(2),
            seen.clone(),
            Cancel::new(),
        )
        .await
        .unwrap();
        let Outcome::StateNotSaved { failure, .. } = &outcome else {
            panic!("after {commits} commits: {outcome:?}");
        };
        assert!(failure.message.contains("injected failure"), "{failure}");
        assert_eq!(outcome.exit_code(), 6);
        let events = seen.0.lock().unwrap();
        let first_failure = events
            .iter()
            .position(|e| matches!(e, Event::Failed { .. }))
            .expect("a step failed");
        assert!(
            !events[first_failure..]
                .iter()
                .any(|e| matches!(e, Event::Started { .. } | Event::RollbackStarted { .. })),
            "after {commits} commits, a step started or a rollback began after the failure: {events:?}"
        );
        // Nothing was undone: every create ran once and nothing was deleted; what the steps
        // made is in the store's memory.
        assert!(cloud.calls().iter().all(|c| c.op == Op::Create));
        let recorded: usize = state
            .store
            .records()
            .unwrap()
            .iter()
            .map(|r| r.objects.len())
            .sum();
        let journaled: usize = state
            .store
            .journal()
            .unwrap()
            .iter()
            .map(|j| j.objects.len())
            .sum();
        assert!(
            recorded + journaled >= cloud.objects().len(),
            "after {commits} commits"
        );
        for object in cloud.objects() {
            let address = Address::parse(&object.address).unwrap();
            cloud.delete_out_of_band(&object.id).unwrap();
            assert!(
                state.store.record(&address).unwrap().is_some()
                    || state
                        .store
                        .journal()
                        .unwrap()
                        .iter()
                        .any(|j| j.address == address),
                "after {commits} commits: {} is unknown to the store",
                object.address
            );
        }
        cloud.clear_calls();
    }
}
