//! The S3 backend against the sandbox's moto: the lock (taken, refused naming its holder, waited
//! for, released, broken by ID), compare-and-swap (a second writer's write refuses the first's;
//! a broken lock cannot let two writers interleave), nothing lost when a write is refused or
//! fails, history readable from another process, group commit, push rules, and SSE on every
//! object, checked with the AWS SDK directly.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::types::ServerSideEncryption;
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::{Address, Kind};
use meshctl_sandbox::{FaultProxy, Moto};
use meshctl_state::{Backend, Change, StateError, StateStore};
use meshctl_state_s3::{S3Backend, S3Location};
use std::time::{Duration, Instant};

const REGION: &str = "eu-west-1";
const BUCKET: &str = "team-state";
const KEY: &str = "stacks/demo.json";
const STACK: &str = "demo";

/// moto, a runtime for the backend's calls, and an SDK configuration pointing at moto.
struct Sandbox {
    /// Dropped before moto.
    _proxy: Option<FaultProxy>,
    moto: Option<Moto>,
    runtime: tokio::runtime::Runtime,
    config: SdkConfig,
}

impl Sandbox {
    fn start() -> Sandbox {
        Sandbox::start_with(false)
    }

    /// With `proxied`, every call goes through the sandbox's fault proxy (no faults), which
    /// applies S3 object writes one at a time, atomically as S3 does.
    fn start_with(proxied: bool) -> Sandbox {
        let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
        let proxy =
            proxied.then(|| FaultProxy::start(&moto.url(), 7).unwrap_or_else(|e| panic!("{e}")));
        let endpoint = proxy.as_ref().map_or_else(|| moto.url(), FaultProxy::url);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = runtime.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(endpoint)
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                // A write that fails is given up quickly here: the rounds are what is tested.
                .retry_config(
                    aws_config::retry::RetryConfig::standard()
                        .with_max_attempts(2)
                        .with_initial_backoff(Duration::from_millis(10)),
                )
                .load(),
        );
        let sandbox = Sandbox {
            _proxy: proxy,
            moto: Some(moto),
            runtime,
            config,
        };
        sandbox
            .runtime
            .block_on(
                sandbox
                    .client()
                    .create_bucket()
                    .bucket(BUCKET)
                    .create_bucket_configuration(
                        aws_sdk_s3::types::CreateBucketConfiguration::builder()
                            .location_constraint(REGION.into())
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
        sandbox
    }

    fn backend(&self, kms_key_id: Option<&str>) -> S3Backend {
        S3Backend::with_config(
            S3Location {
                bucket: BUCKET.into(),
                key: KEY.into(),
                region: REGION.into(),
                kms_key_id: kms_key_id.map(str::to_string),
            },
            &self.config,
            self.runtime.handle().clone(),
        )
    }

    /// An independent client, path-style as moto needs.
    fn client(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(true)
                .build(),
        )
    }

    /// The object `key` as S3 holds it, read with the SDK.
    fn object(&self, key: &str) -> Option<serde_json::Value> {
        let client = self.client();
        self.runtime.block_on(async {
            let output = client
                .get_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .ok()?;
            let bytes = output.body.collect().await.ok()?.into_bytes();
            serde_json::from_slice(&bytes).ok()
        })
    }

    fn keys(&self) -> Vec<String> {
        let client = self.client();
        self.runtime.block_on(async {
            let listed = client
                .list_objects_v2()
                .bucket(BUCKET)
                .send()
                .await
                .unwrap();
            listed
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect()
        })
    }
}

fn record(name: &str) -> NodeRecord {
    NodeRecord {
        accepted: Vec::new(),
        address: Address::new(Kind::Vpc, name),
        status: Status::Ok,
        desired: serde_json::json!({"cidr": "10.0.0.0/16"}),
        live: None,
        outputs: Default::default(),
        objects: vec![],
        dependencies: vec![],
        prevent_destroy: false,
    }
}

fn put(store: &dyn StateStore, name: &str) -> Result<(), StateError> {
    store.commit(Change {
        put: vec![record(name)],
        ..Change::default()
    })
}

fn names(records: &[NodeRecord]) -> Vec<String> {
    records.iter().map(|r| r.address.name.clone()).collect()
}

fn recorded_names(sandbox: &Sandbox) -> Vec<String> {
    let state = sandbox.object(KEY).expect("the state object");
    state["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["address"]
                .as_str()
                .unwrap()
                .trim_start_matches("vpc.")
                .to_string()
        })
        .collect()
}

#[test]
fn the_lock_is_refused_naming_its_holder_waited_for_released_and_broken_by_id() {
    let sandbox = Sandbox::start();
    let backend = sandbox.backend(None);
    let first = backend.lock("apply", Duration::ZERO).unwrap();
    let lock_key = format!("{KEY}.lock");
    let held = sandbox.object(&lock_key).expect("the lock object");
    assert_eq!(held["id"], first.info().id.as_str());
    assert_eq!(held["operation"], "apply");

    let started = Instant::now();
    let err = backend.lock("plan", Duration::ZERO).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    let message = err.to_string();
    assert!(matches!(err, StateError::Locked(_)), "{message}");
    assert!(
        message.contains(&format!("the state in s3://{BUCKET}/{KEY} is locked by"))
            && message.contains("running `apply`")
            && message.contains(&format!("meshctl force-unlock {}", first.info().id)),
        "{message}"
    );

    // Waited for with a timeout: the second takes it once the first releases it.
    let first_id = first.info().id.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(first);
    });
    let second = backend.lock("plan", Duration::from_secs(10)).unwrap();
    releaser.join().unwrap();
    assert_ne!(second.info().id, first_id);

    // Broken only by its own ID; the broken holder's release leaves the next holder's lock.
    let wrong = backend.force_unlock("not-the-id").unwrap_err();
    assert!(matches!(wrong, StateError::NoSuchLock { .. }), "{wrong}");
    let broken = backend.force_unlock(&second.info().id).unwrap();
    assert_eq!(broken.id, second.info().id);
    assert!(sandbox.object(&lock_key).is_none());
    let third = backend.lock("apply", Duration::ZERO).unwrap();
    drop(second);
    assert_eq!(
        sandbox.object(&lock_key).expect("still locked")["id"],
        third.info().id.as_str()
    );
    drop(third);
    assert!(sandbox.object(&lock_key).is_none(), "released on drop");
}

#[test]
fn a_write_after_another_writer_is_refused_and_nothing_is_lost() {
    let sandbox = Sandbox::start();
    let backend = sandbox.backend(None);
    let first = backend.open(STACK).unwrap();
    put(first.as_ref(), "a").unwrap();
    // Another process (its lock broken, or none) writes the same state.
    let second = backend.open(STACK).unwrap();
    put(second.as_ref(), "b").unwrap();
    let err = put(first.as_ref(), "c").unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StateError::Conflict { .. }), "{message}");
    assert!(err.unsaved());
    assert!(
        message.contains(&format!(
            "the state at s3://{BUCKET}/{KEY} was changed by another writer"
        )) && message.contains("nothing was lost"),
        "{message}"
    );
    assert_eq!(recorded_names(&sandbox), ["a", "b"], "never overwritten");
    // Every later change is refused too, and kept.
    assert!(put(first.as_ref(), "d").is_err());
    assert_eq!(
        names(&first.snapshot().unwrap().records),
        ["a", "c", "d"],
        "the refused writer still has everything it recorded"
    );
    assert_eq!(recorded_names(&sandbox), ["a", "b"]);
}

#[test]
fn a_holder_whose_lock_was_broken_is_stopped_by_the_compare_and_swap() {
    let sandbox = Sandbox::start();
    let backend = sandbox.backend(None);
    let holder_lock = backend.lock("apply", Duration::ZERO).unwrap();
    let holder = backend.open(STACK).unwrap();
    put(holder.as_ref(), "a").unwrap();
    let lineage = holder.meta().unwrap().lineage;

    // Someone breaks the lock while the holder still runs, then applies.
    backend.force_unlock(&holder_lock.info().id).unwrap();
    let other_lock = backend.lock("apply", Duration::ZERO).unwrap();
    let other = backend.open(STACK).unwrap();
    put(other.as_ref(), "b").unwrap();
    assert_eq!(other.finish("apply", &[]).unwrap(), 1);

    let err = put(holder.as_ref(), "c").unwrap_err();
    assert!(
        err.to_string()
            .contains("written by someone else since this run last wrote it at serial 0"),
        "{err}"
    );
    let kept = holder.snapshot().unwrap();
    assert_eq!(names(&kept.records), ["a", "c"]);
    assert_eq!((kept.meta.lineage, kept.meta.serial), (lineage, 0));
    assert_eq!(recorded_names(&sandbox), ["a", "b"]);
    drop(holder_lock); // not its lock any more: the other's stays
    assert!(sandbox.object(&format!("{KEY}.lock")).is_some());
    drop(other_lock);
}

#[test]
fn history_is_readable_from_another_process_and_objects_are_encrypted() {
    let sandbox = Sandbox::start();
    let backend = sandbox.backend(None);
    let store = backend.open(STACK).unwrap();
    for (n, name) in ["a", "b", "c"].iter().enumerate() {
        put(store.as_ref(), name).unwrap();
        let serial = store
            .finish_run("apply", &[Address::new(Kind::Vpc, *name)], Some("vars"))
            .unwrap();
        assert_eq!(serial, n as u64 + 1);
    }
    let lock = backend.lock("state history", Duration::ZERO).unwrap();

    let other = backend.read_only(STACK, "state history").unwrap().unwrap();
    let history = other.store.history().unwrap();
    assert_eq!(
        history.iter().map(|h| h.serial).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(history[1].changed[0].1, Some(record("b")));
    let meta = other.store.meta().unwrap();
    assert_eq!((meta.serial, meta.var_set.as_deref()), (3, Some("vars")));
    assert!(sandbox
        .keys()
        .contains(&format!("{KEY}.history/{:020}.json", 2)));

    let client = sandbox.client();
    for key in [
        KEY.to_string(),
        format!("{KEY}.lock"),
        format!("{KEY}.history/{:020}.json", 1),
    ] {
        let head = sandbox
            .runtime
            .block_on(client.head_object().bucket(BUCKET).key(&key).send())
            .unwrap();
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256),
            "{key}"
        );
    }
    drop(lock);

    // With a KMS key, objects are encrypted with it.
    let kms = "arn:aws:kms:eu-west-1:123456789012:key/state-key";
    let encrypted = sandbox.backend(Some(kms));
    let store = encrypted.open(STACK).unwrap();
    put(store.as_ref(), "d").unwrap();
    let head = sandbox
        .runtime
        .block_on(client.head_object().bucket(BUCKET).key(KEY).send())
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(kms));
}

#[test]
fn concurrent_commits_share_writes_and_all_arrive() {
    let sandbox = Sandbox::start();
    let backend = sandbox.backend(None);
    let store = backend.open_store(STACK).unwrap();
    let before = store.write_stats();
    std::thread::scope(|scope| {
        for n in 0..40 {
            let store = &store;
            scope.spawn(move || put(store, &format!("r{n:02}")).unwrap());
        }
    });
    let stats = store.write_stats();
    let writes = stats.writes - before.writes;
    assert_eq!(stats.changes - before.changes, 40);
    assert!(writes < 40, "{writes} writes for 40 concurrent commits");
    assert_eq!(recorded_names(&sandbox).len(), 40);
}

#[test]
fn a_push_follows_the_rules_and_a_failed_write_keeps_everything_in_memory() {
    let mut sandbox = Sandbox::start();
    let backend = sandbox.backend(None);
    let store = backend.open(STACK).unwrap();
    put(store.as_ref(), "a").unwrap();
    store.finish("apply", &[]).unwrap();
    let current = store.snapshot().unwrap();

    let mut other = current.clone();
    other.meta.lineage = "another".into();
    assert!(matches!(
        store.replace(other, false),
        Err(StateError::OtherLineage { .. })
    ));
    let mut errored = current.clone();
    errored.records.push(record("b"));
    assert_eq!(store.replace(errored, false).unwrap(), 2);
    assert_eq!(recorded_names(&sandbox), ["a", "b"]);
    let fresh = backend.read_only(STACK, "state pull").unwrap().unwrap();
    let history = fresh.store.history().unwrap();
    assert_eq!(history.last().unwrap().operation, "state push");

    // S3 goes away: the commit fails after its retries, and stays in memory.
    drop(sandbox.moto.take());
    let started = Instant::now();
    let err = put(store.as_ref(), "c").unwrap_err();
    assert!(matches!(err, StateError::NotSaved { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let kept = store.snapshot().unwrap();
    assert_eq!(names(&kept.records), ["a", "b", "c"]);
    assert_eq!(kept.meta.serial, 2);
    assert_eq!(
        kept.history.last().map(|h| h.serial),
        Some(2),
        "the history read before S3 went away"
    );
}

#[test]
fn of_many_processes_locking_at_once_exactly_one_gets_the_lock() {
    let sandbox = Sandbox::start_with(true);
    let backends: Vec<S3Backend> = (0..12).map(|_| sandbox.backend(None)).collect();
    for trial in 0..10 {
        let barrier = std::sync::Barrier::new(backends.len());
        let outcomes: Vec<Result<Box<dyn meshctl_state::HeldLock>, StateError>> =
            std::thread::scope(|scope| {
                let running: Vec<_> = backends
                    .iter()
                    .map(|backend| {
                        let barrier = &barrier;
                        scope.spawn(move || {
                            barrier.wait();
                            backend.lock("apply", Duration::ZERO)
                        })
                    })
                    .collect();
                running.into_iter().map(|t| t.join().unwrap()).collect()
            });
        let held: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(held.len(), 1, "trial {trial}: {} holders", held.len());
        let holder = &held[0].info().id;
        for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert!(refused.to_string().contains(holder.as_str()), "{refused}");
        }
    }
}
