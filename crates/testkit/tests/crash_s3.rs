//! Crash safety with the state in S3 (moto), where the walk writes records behind: the fake
//! cloud's provider says its sweep finds every object it makes, so the record of an object, and
//! the result of a step, ride on a later write instead of each waiting for its own. An apply
//! killed with SIGKILL at a random point must still leave every object the fake cloud holds known
//! to the state as S3 holds it (read with the AWS SDK, not through meshctl) — recorded on its resource, or under an open journal entry (the
//! walk's intents, written before its first step) that makes the next run sweep the address —
//! and the next apply, taking over the dead run's lock, must leave the cloud holding exactly what
//! the state records, with the journal empty.

mod crash_checks;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use meshctl_sandbox::{FaultProxy, Faults, Moto};
use meshctl_state::Snapshot;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const TRIALS: usize = 20;
const BUCKET: &str = "crash-state";
const REGION: &str = "eu-west-1";
const RESOURCES: usize = 18;

fn stack(key: &str) -> String {
    let mut s = format!("stack: t\nregion: {REGION}\nbackend:\n  s3: {{ bucket: {BUCKET}, key: \"{key}\", region: {REGION} }}\nkube: {{ kubeconfig: kubeconfig.yaml }}\nresources:\n  - {{ kind: route53_zone, name: public, domain: example.com, existing: false }}\n  - {{ kind: acm_certificate, name: web, domain: \"*.example.com\", validation_zone: public }}\n");
    for i in 0..8 {
        s.push_str(&format!(
            "  - {{ kind: namespace, name: ns-{i} }}\n  - {{ kind: dns_record, name: rec-{i}, zone: public, record: r{i}.example.com, type: TXT, values: [\"${{namespace.ns-{i}.name}}\", \"${{acm_certificate.web.arn}}\"], ttl: 300 }}\n"
        ));
    }
    s
}

/// moto with the state bucket.
fn slow_s3_with_bucket() -> SlowS3 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config: SdkConfig = runtime.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(moto.url())
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    runtime
        .block_on(
            s3.create_bucket()
                .bucket(BUCKET)
                .create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint(REGION.into())
                        .build(),
                )
                .send(),
        )
        .expect("the state bucket is created");
    let proxy = FaultProxy::start(&moto.url(), 7).expect("the proxy starts");
    proxy.set_faults(Faults::parse("latency=40").expect("a valid fault rule"));
    SlowS3 {
        _moto: moto,
        proxy,
        s3,
        runtime,
    }
}

/// S3 as the runs reach it: moto behind a proxy that makes every call slow, so state writes take
/// longer than the fake cloud's calls and records written behind wait in memory while the objects
/// they name exist — the window a kill must not turn into an orphan.
struct SlowS3 {
    _moto: Moto,
    proxy: FaultProxy,
    /// The test's own client, straight to moto: what it reads is not meshctl's account.
    s3: aws_sdk_s3::Client,
    runtime: tokio::runtime::Runtime,
}

impl SlowS3 {
    fn url(&self) -> String {
        self.proxy.url()
    }
}

fn testbed(dir: &Path, moto: &SlowS3, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl-testbed"));
    command
        .args(args)
        .current_dir(dir)
        .env("MESHCTL_FAKE_CLOUD", dir.join("cloud.json"))
        .env("MESHCTL_FAKE_LATENCY_MS", "15")
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

const APPLY: &[&str] = &[
    "apply",
    "-f",
    "stack.yaml",
    "--auto-approve",
    "--events",
    "json",
];

fn apply(dir: &Path, moto: &SlowS3) -> Output {
    testbed(dir, moto, APPLY).output().unwrap()
}

/// The state object of `trial` (0: the baseline) as S3 holds it, read with the AWS SDK.
fn in_s3(moto: &SlowS3, trial: usize) -> Snapshot {
    let object = moto
        .runtime
        .block_on(moto.s3.get_object().bucket(BUCKET).key(key(trial)).send())
        .unwrap_or_else(|e| panic!("trial {trial}: no state object in S3: {e}"));
    let body = moto
        .runtime
        .block_on(object.body.collect())
        .expect("the state object reads whole")
        .into_bytes();
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("trial {trial}: the state object is not a state: {e}"))
}

/// The state key of `trial`.
fn key(trial: usize) -> String {
    match trial {
        0 => "baseline.json".to_string(),
        n => format!("trial-{n}.json"),
    }
}

/// Every object the cloud holds is known to the state in S3 (`crash_checks::check_accounted`).
fn check_accounted(dir: &Path, moto: &SlowS3, trial: usize) {
    let state = in_s3(moto, trial);
    crash_checks::check_accounted(
        &dir.join("cloud.json"),
        &state.records,
        &state.journal,
        trial,
    );
}

/// The cloud holds exactly what the state in S3 records (`crash_checks::check_converged`).
fn check_converged(dir: &Path, moto: &SlowS3, trial: usize) {
    let state = in_s3(moto, trial);
    crash_checks::check_converged(
        &dir.join("cloud.json"),
        &state.records,
        &state.journal,
        trial,
        RESOURCES,
    );
}

#[test]
fn applies_with_state_in_s3_killed_at_random_points_never_orphan_objects() {
    let moto = slow_s3_with_bucket();

    // One undisturbed apply, to know how many events a whole apply prints here.
    let baseline = tempfile::tempdir().unwrap();
    std::fs::write(baseline.path().join("stack.yaml"), stack(&key(0))).unwrap();
    let out = apply(baseline.path(), &moto);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = out.stdout.split(|b| *b == b'\n').count();
    check_converged(baseline.path(), &moto, 0);

    let mut killed_mid_way = 0;
    for trial in 1..=TRIALS {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack.yaml"), stack(&key(trial))).unwrap();
        let mut child = testbed(dir.path(), &moto, APPLY)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // After a random number of the walk's events (none: while loading and locking), and a
        // little more, so kills land between events too.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for _ in 0..fastrand::usize(0..events) {
            if lines.next().is_none() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..20)));
        if child.try_wait().unwrap().is_none() {
            killed_mid_way += 1;
        }
        child.kill().ok(); // SIGKILL on Unix
        child.wait().unwrap();

        // Before the first write of the state object there is nothing to account for.
        if dir.path().join("cloud.json").exists() {
            check_accounted(dir.path(), &moto, trial);
        }
        let out = apply(dir.path(), &moto);
        assert!(
            out.status.success(),
            "trial {trial}: the repairing apply failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        check_converged(dir.path(), &moto, trial);
    }
    assert!(
        killed_mid_way >= TRIALS * 3 / 4,
        "only {killed_mid_way} of {TRIALS} kills landed during an apply ({events} events in a whole one)"
    );
}
