//! The S3 backend end to end: the real `meshctl` against moto (through the sandbox's fault proxy
//! where a test needs faults or slow calls), every check made with the AWS SDK. Seed 001's AWS
//! half applied with its state in S3 from one directory is planned as unchanged from a second
//! holding only the stack file and pulled, same lineage and serial, from a third; two applies on
//! one key at once: one runs, the other fails in under a second naming it (or waits with
//! `--lock-timeout`); a lock broken by `force-unlock` while its holder runs stops the holder at
//! its next write (compare-and-swap), nothing lost; two var files keep two state objects and
//! another var file is refused; a
//! permanent S3 failure mid-apply leaves the errored-state file, which `state push` puts back so
//! the next apply converges; 30% throttling and 5xx on S3 converge; `state migrate` moves a
//! state to S3 and back and refuses a target of another lineage; `kill -9` at random moments of
//! apply and destroy leaves nothing the next runs do not find.

mod support;

use aws_config::SdkConfig;
use meshctl_sandbox::{FailRule, FaultProxy, Faults, Moto};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::aws_world::{added, world, zones};
use support::{runtime, sdk_config, text, REGION};

const BUCKET: &str = "acme-meshctl-state";
const DOMAIN: &str = "moamoa-news.com";
const SEED_001: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../stacks/seed-001-https.yaml"
);

/// The AWS resources of seed 001 (what the cluster holds needs the Kubernetes provider).
const TARGETS: &[&str] = &[
    "nodegroup.workers",
    "iam_service_account.aws-load-balancer-controller",
    "iam_service_account.cert-manager",
    "acm_certificate.wildcard",
];

/// moto with the state bucket and the zone seed 001 looks up, as a registrar would have made it.
fn moto_with_bucket(rt: &tokio::runtime::Runtime) -> (Moto, SdkConfig) {
    let moto = Moto::start().expect("moto_server must be installed: pip install 'moto[server]'");
    let config = sdk_config(rt, &moto.url());
    rt.block_on(async {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        s3(&config)
            .create_bucket()
            .bucket(BUCKET)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .unwrap();
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

/// The tests' own S3 client (path-style, as moto on an IP address needs).
fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// The state object at `key`, as S3 holds it; `None` when there is none.
fn state_object(
    rt: &tokio::runtime::Runtime,
    config: &SdkConfig,
    key: &str,
) -> Option<serde_json::Value> {
    rt.block_on(async {
        let object = s3(config).get_object().bucket(BUCKET).key(key).send().await;
        let object = object.ok()?;
        let bytes = object.body.collect().await.unwrap().into_bytes();
        Some(serde_json::from_slice(&bytes).unwrap())
    })
}

/// Every key in the state bucket.
fn bucket_keys(rt: &tokio::runtime::Runtime, config: &SdkConfig) -> Vec<String> {
    rt.block_on(async {
        let listed = s3(config)
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(String::from))
            .collect()
    })
}

fn backend(key: &str) -> String {
    format!("backend:\n  s3: {{ bucket: {BUCKET}, key: \"{key}\", region: {REGION} }}\n")
}

/// Seed 001 with its state in S3 at `key`.
fn seed_with_s3(key: &str) -> String {
    let seed = std::fs::read_to_string(SEED_001).unwrap();
    let region = format!("region: {REGION}\n");
    assert!(seed.contains(&region), "seed 001 names its region");
    seed.replacen(&region, &format!("{region}{}", backend(key)), 1)
}

/// A stack of one hosted zone, `domain`, named `stack`, with the given backend text.
fn zone_stack(stack: &str, domain: &str, backend: &str) -> String {
    format!(
        "stack: {stack}\nregion: {REGION}\nvars:\n  env: dev\n{backend}resources:\n  - {{ kind: route53_zone, name: public, domain: \"{domain}\", existing: false }}\n"
    )
}

/// A directory holding only `stack.yaml` with `text`.
fn directory_with(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), text).unwrap();
    dir
}

/// `meshctl ARGS` run in `dir` against `endpoint` with moto's credentials, as a CI job runs it.
fn meshctl(dir: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    command
}

fn run(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    meshctl(dir, endpoint, args).output().unwrap()
}

/// `meshctl ARGS -f stack.yaml` on seed 001's AWS half (`--target` for plan and apply,
/// `--auto-approve` for apply and destroy).
fn seed_args(args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["-f".to_string(), "stack.yaml".to_string()]);
    if matches!(args.first(), Some(&"apply") | Some(&"plan")) {
        for target in TARGETS {
            all.extend(["--target".to_string(), target.to_string()]);
        }
    }
    if matches!(args.first(), Some(&"apply") | Some(&"destroy")) {
        all.push("--auto-approve".to_string());
    }
    all
}

fn run_seed(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    let all = seed_args(args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run(dir, endpoint, &all)
}

fn report(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

fn assert_exit(output: &Output, code: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}\n{}",
        report(output)
    );
}

/// The files and directories in `dir`, by name.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn seed_001_in_s3_is_one_state_for_every_directory() {
    let rt = runtime();
    let (moto, config) = moto_with_bucket(&rt);
    let before = world(&rt, &config);
    let stack = seed_with_s3("meshctl/moamoa.json");
    let (one, two, three) = (
        directory_with(&stack),
        directory_with(&stack),
        directory_with(&stack),
    );

    let applied = run_seed(one.path(), &moto.url(), &["apply"]);
    assert_exit(&applied, 0, "apply with the S3 backend");
    assert_eq!(
        entries(one.path()),
        ["stack.yaml"],
        "the state is in S3, not in the directory"
    );
    let object = state_object(&rt, &config, "meshctl/moamoa.json").expect("the state object");
    let (lineage, serial) = (
        object["meta"]["lineage"].as_str().unwrap().to_string(),
        object["meta"]["serial"].as_u64().unwrap(),
    );
    assert!(serial >= 1, "serial {serial}");
    let encryption = rt.block_on(async {
        s3(&config)
            .head_object()
            .bucket(BUCKET)
            .key("meshctl/moamoa.json")
            .send()
            .await
            .unwrap()
            .server_side_encryption()
            .map(|e| e.as_str().to_string())
    });
    assert_eq!(encryption.as_deref(), Some("AES256"), "written with SSE");
    assert!(
        bucket_keys(&rt, &config)
            .iter()
            .all(|k| !k.ends_with(".lock")),
        "the lock is released: {:?}",
        bucket_keys(&rt, &config)
    );

    // A second directory, with nothing but the stack file: nothing to do.
    let planned = run_seed(two.path(), &moto.url(), &["plan"]);
    assert_exit(&planned, 0, "plan from a second directory");
    assert!(
        text(&planned.stdout).contains("No changes."),
        "{}",
        report(&planned)
    );
    assert_eq!(entries(two.path()), ["stack.yaml"]);

    // A third: the same state, pulled whole.
    let pulled = run(
        three.path(),
        &moto.url(),
        &["state", "pull", "-f", "stack.yaml"],
    );
    assert_exit(&pulled, 0, "state pull from a third directory");
    let state: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
    assert_eq!(state["meta"]["lineage"], lineage.as_str());
    assert_eq!(state["meta"]["serial"], serial);
    assert_eq!(state["records"], object["records"]);
    // The vpc, cluster, nodegroup, two IRSA roles, zone and certificate.
    let records = state["records"].as_array().map_or(0, Vec::len);
    assert_eq!(records, 7, "records pulled");
    let history = run(
        three.path(),
        &moto.url(),
        &["state", "history", "-f", "stack.yaml"],
    );
    assert_exit(&history, 0, "state history from S3");
    assert!(
        text(&history.stdout).contains(&format!("serial {serial}")),
        "{}",
        report(&history)
    );
    assert_eq!(entries(three.path()), ["stack.yaml"]);

    let destroyed = run_seed(two.path(), &moto.url(), &["destroy"]);
    assert_exit(&destroyed, 0, "destroy from the second directory");
    assert_eq!(
        added(&before, &world(&rt, &config)),
        BTreeMap::new(),
        "destroy left objects behind"
    );
}

/// How a process of a race ended: its exit code, when, and what it said.
struct Ended {
    pid: u32,
    code: Option<i32>,
    took: Duration,
    stderr: String,
}

/// Starts `meshctl ARGS` twice at once and waits for both.
fn race(dir: &Path, endpoint: &str, args: [&[&str]; 2]) -> [Ended; 2] {
    let started = Instant::now();
    let children: Vec<_> = args
        .iter()
        .map(|args| {
            meshctl(dir, endpoint, args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let waiting: Vec<_> = children
        .into_iter()
        .map(|child| {
            let pid = child.id();
            // Each in its own thread, so the time taken is the process's, not its turn here.
            std::thread::spawn(move || {
                let output = child.wait_with_output().unwrap();
                Ended {
                    pid,
                    code: output.status.code(),
                    took: started.elapsed(),
                    stderr: text(&output.stderr),
                }
            })
        })
        .collect();
    let ended: Vec<Ended> = waiting.into_iter().map(|t| t.join().unwrap()).collect();
    let [a, b]: [Ended; 2] = ended.try_into().ok().unwrap();
    [a, b]
}

#[test]
fn two_applies_on_one_key_at_once_one_runs_and_the_other_fails_fast_naming_it() {
    let rt = runtime();
    let (moto, config) = moto_with_bucket(&rt);
    // Every call a little slow, so the one that runs holds the lock for a second or more.
    let proxy = FaultProxy::start(&moto.url(), 5).unwrap();
    proxy.set_faults(Faults::parse("latency=40").unwrap());
    // One run first, so the trials time meshctl, not loading its binary from a cold disk.
    let warm = directory_with(&zone_stack(
        "warm",
        "warm.example.com",
        &backend("race/warm.json"),
    ));
    run(warm.path(), &proxy.url(), &["plan", "-f", "stack.yaml"]);
    let apply: &[&str] = &["apply", "-f", "stack.yaml", "--auto-approve"];
    let waiting: &[&str] = &[
        "apply",
        "-f",
        "stack.yaml",
        "--auto-approve",
        "--lock-timeout",
        "60",
    ];
    for trial in 0..53 {
        let domain = format!("race-{trial}.example.com");
        let dir = directory_with(&zone_stack(
            &format!("race-{trial}"),
            &domain,
            &backend(&format!("race/{trial}.json")),
        ));
        // The last three trials wait for the lock instead of failing.
        let waits = trial >= 50;
        let [a, b] = race(
            dir.path(),
            &proxy.url(),
            if waits {
                [waiting, waiting]
            } else {
                [apply, apply]
            },
        );
        let says = format!(
            "trial {trial}:\n--- pid {} exit {:?} after {:?}\n{}\n--- pid {} exit {:?} after {:?}\n{}",
            a.pid, a.code, a.took, a.stderr, b.pid, b.code, b.took, b.stderr
        );
        let made = zones(&rt, &config)
            .into_iter()
            .filter(|z| z == &format!("{domain}."))
            .count();
        assert_eq!(made, 1, "exactly one zone: {says}");
        if waits {
            assert!(a.code == Some(0) && b.code == Some(0), "{says}");
            continue;
        }
        let (winner, loser) = match (a.code, b.code) {
            (Some(0), Some(1)) => (&a, &b),
            (Some(1), Some(0)) => (&b, &a),
            _ => panic!("exactly one apply runs: {says}"),
        };
        assert!(
            loser.stderr.contains("is locked by")
                && loser.stderr.contains(&format!("(pid {})", winner.pid))
                && loser.stderr.contains("meshctl force-unlock"),
            "the loser names the holder: {says}"
        );
        assert!(
            loser.took < Duration::from_secs(1),
            "the loser fails in under a second: {says}"
        );
        assert!(loser.took < winner.took, "{says}");
    }
}

#[test]
fn two_var_files_keep_two_state_objects_and_another_var_file_is_refused() {
    let rt = runtime();
    let (moto, config) = moto_with_bucket(&rt);
    let dir = directory_with(&zone_stack(
        "web-${var.env}",
        "${var.env}.example.com",
        &backend("meshctl/${var.env}.json"),
    ));
    std::fs::write(dir.path().join("staging.yaml"), "env: staging\n").unwrap();
    std::fs::write(dir.path().join("prod.yaml"), "env: prod\n").unwrap();
    for env in ["staging", "prod"] {
        let file = format!("{env}.yaml");
        let args = [
            "apply",
            "-f",
            "stack.yaml",
            "--var-file",
            &file,
            "--auto-approve",
        ];
        assert_exit(&run(dir.path(), &moto.url(), &args), 0, env);
    }
    let keys = bucket_keys(&rt, &config);
    assert!(
        keys.contains(&"meshctl/staging.json".to_string())
            && keys.contains(&"meshctl/prod.json".to_string()),
        "{keys:?}"
    );
    let staging = state_object(&rt, &config, "meshctl/staging.json").unwrap();
    let prod = state_object(&rt, &config, "meshctl/prod.json").unwrap();
    assert_ne!(staging["meta"]["lineage"], prod["meta"]["lineage"]);
    assert_eq!(staging["meta"]["stack"], "web-staging");
    assert_eq!(
        zones(&rt, &config),
        [
            format!("{DOMAIN}."),
            "prod.example.com.".into(),
            "staging.example.com.".into()
        ]
    );
    for env in ["staging", "prod"] {
        let file = format!("{env}.yaml");
        let planned = run(
            dir.path(),
            &moto.url(),
            &["plan", "-f", "stack.yaml", "--var-file", &file],
        );
        assert_exit(&planned, 0, env);
        assert!(
            text(&planned.stdout).contains("No changes."),
            "{env}: {}",
            report(&planned)
        );
    }

    // One key for every environment: prod's vars on staging's state are refused.
    let shared = directory_with(&zone_stack(
        "web",
        "${var.env}.example.net",
        &backend("meshctl/web.json"),
    ));
    std::fs::write(shared.path().join("staging.yaml"), "env: staging\n").unwrap();
    std::fs::write(shared.path().join("prod.yaml"), "env: prod\n").unwrap();
    let args = [
        "apply",
        "-f",
        "stack.yaml",
        "--var-file",
        "staging.yaml",
        "--auto-approve",
    ];
    assert_exit(
        &run(shared.path(), &moto.url(), &args),
        0,
        "staging on the shared key",
    );
    let serial = state_object(&rt, &config, "meshctl/web.json").unwrap()["meta"]["serial"].clone();
    let args = [
        "apply",
        "-f",
        "stack.yaml",
        "--var-file",
        "prod.yaml",
        "--auto-approve",
    ];
    let refused = run(shared.path(), &moto.url(), &args);
    assert_exit(&refused, 1, "prod's vars on staging's state");
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("s3://acme-meshctl-state/meshctl/web.json")
            && stderr.contains("`env` has another value")
            && stderr.contains("--allow-var-change"),
        "{stderr}"
    );
    assert!(!zones(&rt, &config).contains(&"prod.example.net.".to_string()));
    assert_eq!(
        state_object(&rt, &config, "meshctl/web.json").unwrap()["meta"]["serial"],
        serial,
        "the refused apply wrote nothing"
    );
}

/// Starts seed 001's apply in `dir` through `proxy` (output piped) and returns once its VPC
/// exists: the apply is under way.
fn apply_past_its_vpc(dir: &Path, proxy: &FaultProxy) -> std::process::Child {
    let args = seed_args(&["apply"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = meshctl(dir, &proxy.url(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy
        .calls()
        .get("ec2:CreateVpc")
        .is_none_or(|c| c.forwarded == 0)
    {
        assert!(Instant::now() < deadline, "the apply never created its VPC");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_permanent_s3_failure_mid_apply_leaves_the_errored_state_and_pushing_it_converges() {
    let rt = runtime();
    let (moto, config) = moto_with_bucket(&rt);
    let before = world(&rt, &config);
    let proxy = FaultProxy::start(&moto.url(), 3).unwrap();
    let dir = directory_with(&seed_with_s3("meshctl/moamoa.json"));
    // Once the VPC exists (the apply is under way), S3 refuses every write from then on.
    let child = apply_past_its_vpc(dir.path(), &proxy);
    proxy.set_faults(Faults {
        fail: vec![FailRule {
            service: "s3".into(),
            contains: "s3:PutObject".into(),
        }],
        ..Faults::default()
    });
    let failed = child.wait_with_output().unwrap();
    let stderr = text(&failed.stderr);
    assert!(
        !failed.status.success() && failed.status.code() != Some(3),
        "the apply stops without rolling back: {}",
        report(&failed)
    );
    assert!(proxy.counts()["s3"].failed >= 1, "{:?}", proxy.counts());
    let errored: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("meshctl-errored-state-"))
        })
        .collect();
    assert_eq!(
        errored.len(),
        1,
        "one errored-state file: {}",
        report(&failed)
    );
    let file = &errored[0];
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        stderr.contains(&name) && stderr.contains("meshctl state push"),
        "{stderr}"
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(
        name,
        format!(
            "meshctl-errored-state-{}.json",
            saved["meta"]["lineage"].as_str().unwrap()
        )
    );
    // It knows the VPC, which the state object in S3 does not.
    let vpcs = added(&before, &world(&rt, &config))
        .get("vpc")
        .cloned()
        .unwrap_or_default();
    assert_eq!(vpcs.len(), 1, "{}", report(&failed));
    assert!(saved.to_string().contains(&vpcs[0]), "{saved}");

    // S3 works again: push what was saved, then apply; everything is made once.
    proxy.set_faults(Faults::default());
    let pushed = run(
        dir.path(),
        &proxy.url(),
        &["state", "push", &name, "-f", "stack.yaml"],
    );
    assert_exit(&pushed, 0, "state push of the errored state");
    let object = state_object(&rt, &config, "meshctl/moamoa.json").unwrap();
    assert!(object.to_string().contains(&vpcs[0]), "{object}");
    let applied = run_seed(dir.path(), &proxy.url(), &["apply"]);
    assert_exit(&applied, 0, "apply after the push");
    let planned = run_seed(dir.path(), &proxy.url(), &["plan"]);
    assert!(
        text(&planned.stdout).contains("No changes."),
        "{}",
        report(&planned)
    );
    let after = added(&before, &world(&rt, &config));
    // One VPC: the first one, or (its create having been in flight when the state stopped
    // taking writes) a new one made after the journal's sweep removed it.
    assert_eq!(after["vpc"].len(), 1, "{after:#?}");
    assert_eq!(after["nat_gateway"].len(), 1, "{after:#?}");
    assert_eq!(after["eks_cluster"], ["moamoa-main"]);
    assert_eq!(after["acm_certificate"].len(), 1);
    let destroyed = run_seed(dir.path(), &proxy.url(), &["destroy"]);
    assert_exit(&destroyed, 0, "destroy");
    assert_eq!(added(&before, &world(&rt, &config)), BTreeMap::new());
}

#[test]
fn thirty_percent_s3_throttling_and_5xx_converge() {
    let rt = runtime();
    let (moto, config) = moto_with_bucket(&rt);
    let before = world(&rt, &config);
    let proxy = FaultProxy::start(&moto.url(), 30).unwrap();
    // 1 - (1 - 0.2) * (1 - 0.125) = 30% of S3 calls fail with SlowDown or InternalError.
    proxy.set_faults(Faults::parse("s3=throttle:0.2,s3=5xx:0.125").unwrap());
    let dir = directory_with(&seed_with_s3("meshctl/moamoa.json"));
    let applied = run_seed(dir.path(), &proxy.url(), &["apply"]);
    assert_exit(&applied, 0, "apply under S3 faults");
    let s3_counts = proxy.counts()["s3"].clone();
    assert!(
        s3_counts.throttled + s3_counts.server_errors >= 5,
        "{s3_counts:?}"
    );
    let planned = run_seed(dir.path(), &proxy.url(), &["plan"]);
    assert_exit(&planned, 0, "plan under S3 faults");
    assert!(
        text(&planned.stdout).contains("No changes."),
        "{}",
        report(&planned)
    );
    assert_eq!(added(&before, &world(&rt, &config))["vpc"].len(), 1);
    let destroyed = run_seed(dir.path(), &proxy.url(), &["destroy"]);
    assert_exit(&destroyed, 0, "destroy under S3 faults");
    assert_eq!(added(&before, &world(&rt, &config)), BTreeMap::new());
}

#[test]
fn migrate_moves_a_local_state_to_s3_and_back_and_refuses_another_lineage() {
    let rt = runtime();
    let (moto, config) = moto_with_bucket(&rt);
    let local = zone_stack("shop", "shop.example.com", "");
    let in_s3 = zone_stack("shop", "shop.example.com", &backend("meshctl/shop.json"));
    let dir = directory_with(&local);
    let url = moto.url();
    let meshctl = |args: &[&str]| run(dir.path(), &url, args);
    assert_exit(
        &meshctl(&["apply", "-f", "stack.yaml", "--auto-approve"]),
        0,
        "apply, local",
    );
    let pulled = meshctl(&["state", "pull", "-f", "stack.yaml"]);
    let local_state: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();

    // To S3: the stack file now names the bucket.
    std::fs::write(dir.path().join("stack.yaml"), &in_s3).unwrap();
    let migrated = meshctl(&["state", "migrate", "-f", "stack.yaml", "--to-backend"]);
    assert_exit(&migrated, 0, "migrate to S3");
    let object = state_object(&rt, &config, "meshctl/shop.json").expect("the state in S3");
    assert_eq!(object["meta"]["lineage"], local_state["meta"]["lineage"]);
    assert_eq!(object["meta"]["serial"], local_state["meta"]["serial"]);
    assert_eq!(object["records"], local_state["records"]);
    let kept = entries(&dir.path().join("state"));
    assert!(
        kept.len() == 1 && kept[0].starts_with("shop.migrated-"),
        "the old directory is renamed aside, not deleted: {kept:?}"
    );
    let planned = meshctl(&["plan", "-f", "stack.yaml"]);
    assert!(
        text(&planned.stdout).contains("No changes."),
        "{}",
        report(&planned)
    );

    // And back: the stack file names no backend again; the state comes from the bucket.
    std::fs::write(dir.path().join("stack.yaml"), &local).unwrap();
    let back = meshctl(&[
        "state",
        "migrate",
        "-f",
        "stack.yaml",
        "--to-backend",
        "--from",
        "s3://acme-meshctl-state/meshctl/shop.json",
    ]);
    assert_exit(&back, 0, "migrate back to the local directory");
    let planned = meshctl(&["plan", "-f", "stack.yaml"]);
    assert!(
        text(&planned.stdout).contains("No changes."),
        "{}",
        report(&planned)
    );
    let pulled = meshctl(&["state", "pull", "-f", "stack.yaml"]);
    let back_state: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
    assert_eq!(
        back_state["meta"]["lineage"],
        local_state["meta"]["lineage"]
    );
    assert_eq!(back_state["records"], local_state["records"]);

    // A bucket holding a state of another lineage is never replaced by migrate.
    let mut other = back_state.clone();
    other["meta"]["lineage"] = "00000000-0000-4000-8000-000000000000".into();
    std::fs::write(dir.path().join("other.json"), other.to_string()).unwrap();
    std::fs::write(dir.path().join("stack.yaml"), &in_s3).unwrap();
    let forced = meshctl(&["state", "push", "other.json", "-f", "stack.yaml"]);
    assert_exit(&forced, 1, "push of another lineage without --force");
    assert!(
        text(&forced.stderr).contains("another lineage"),
        "{}",
        report(&forced)
    );
    let forced = meshctl(&["state", "push", "other.json", "-f", "stack.yaml", "--force"]);
    assert_exit(&forced, 0, "push --force");
    let refused = meshctl(&["state", "migrate", "-f", "stack.yaml", "--to-backend"]);
    assert_exit(&refused, 1, "migrate onto another lineage");
    assert!(
        text(&refused.stderr).contains("another lineage"),
        "{}",
        report(&refused)
    );
    assert!(
        dir.path().join("state/shop").is_dir(),
        "the source is kept when migrate is refused"
    );
}

#[test]
fn kill_9_at_random_moments_of_apply_and_destroy_with_the_s3_backend() {
    let rt = runtime();
    let (moto, config) = moto_with_bucket(&rt);
    let before = world(&rt, &config);
    // Slow calls spread each run over seconds, so a kill lands mid-way.
    let proxy = FaultProxy::start(&moto.url(), 9).unwrap();
    proxy.set_faults(Faults::parse("latency=25").unwrap());
    let dir = directory_with(&seed_with_s3("meshctl/moamoa.json"));
    for trial in 0..20u64 {
        // Even trials kill an apply, odd ones the destroy of what the trial before applied; the
        // moment spreads over the run (a fixed scatter, so a failure can be repeated).
        let scatter = (trial * 7919 + 13) % 100;
        let (killed, delay) = if trial % 2 == 0 {
            ("apply", 150 + scatter * 25)
        } else {
            ("destroy", 100 + scatter * 15)
        };
        let args = seed_args(&[killed]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = meshctl(dir.path(), &proxy.url(), &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let what = format!("trial {trial}: {killed} killed at {delay} ms");

        // The next run of the same command takes over the dead run's lock and finishes the job.
        let finished = run_seed(dir.path(), &proxy.url(), &[killed]);
        assert_exit(&finished, 0, &what);
        let made = added(&before, &world(&rt, &config));
        if killed == "destroy" {
            assert_eq!(made, BTreeMap::new(), "{what}: destroy left objects behind");
            continue;
        }
        let planned = run_seed(dir.path(), &proxy.url(), &["plan"]);
        assert!(
            text(&planned.stdout).contains("No changes."),
            "{what}: {}",
            report(&planned)
        );
        assert_eq!(made["vpc"].len(), 1, "{what}: {made:#?}");
        assert_eq!(made["eks_cluster"], ["moamoa-main"], "{what}");
        assert_eq!(made["acm_certificate"].len(), 1, "{what}: {made:#?}");
    }
    // The last trial destroyed everything; the state remains, empty.
    let applied = run_seed(dir.path(), &proxy.url(), &["apply"]);
    assert_exit(&applied, 0, "apply after the trials");
    let destroyed = run_seed(dir.path(), &proxy.url(), &["destroy"]);
    assert_exit(&destroyed, 0, "the last destroy");
    assert_eq!(
        added(&before, &world(&rt, &config)),
        BTreeMap::new(),
        "destroy left objects behind"
    );
    assert!(
        bucket_keys(&rt, &config)
            .iter()
            .all(|k| !k.ends_with(".lock")),
        "no lock left: {:?}",
        bucket_keys(&rt, &config)
    );
}

#[test]
fn a_lock_broken_while_its_holder_runs_stops_the_holder_at_its_next_write_with_nothing_lost() {
    let rt = runtime();
    let (moto, config) = moto_with_bucket(&rt);
    let before = world(&rt, &config);
    // Slow calls: the apply is still running when its lock is broken and its state rewritten.
    let proxy = FaultProxy::start(&moto.url(), 17).unwrap();
    proxy.set_faults(Faults::parse("latency=40").unwrap());
    let dir = directory_with(&seed_with_s3("meshctl/moamoa.json"));
    // Once the VPC exists, the holder's lock is broken as printed, and another writer takes
    // the state: it pulls it and pushes it back, a new serial.
    let holder = apply_past_its_vpc(dir.path(), &proxy);
    let deadline = Instant::now() + Duration::from_secs(60);
    // The holder is paused meanwhile (SIGSTOP), so the other writer's read and write are not
    // raced by its own writes; it resumes with the lock gone and the state rewritten.
    let signal = |name: &str| {
        let sent = Command::new("kill")
            .args([name, &holder.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {name}");
    };
    signal("-STOP");
    // A write the holder sent just before it stopped may still be on its way through the proxy:
    // the other writer starts once the state object has stopped changing.
    let mut last = state_object(&rt, &config, "meshctl/moamoa.json");
    loop {
        assert!(Instant::now() < deadline, "the state object kept changing");
        std::thread::sleep(Duration::from_millis(300));
        let now = state_object(&rt, &config, "meshctl/moamoa.json");
        if now == last {
            break;
        }
        last = now;
    }
    let lock = state_object(&rt, &config, "meshctl/moamoa.json.lock").expect("the lock object");
    let id = lock["id"].as_str().unwrap().to_string();
    assert_eq!(lock["pid"], holder.id(), "{lock}");
    let broken = run(
        dir.path(),
        &proxy.url(),
        &["force-unlock", &id, "-f", "stack.yaml"],
    );
    assert_exit(&broken, 0, "force-unlock of a running holder");
    let pulled = run(
        dir.path(),
        &proxy.url(),
        &["state", "pull", "-f", "stack.yaml"],
    );
    assert_exit(&pulled, 0, "state pull by the other writer");
    std::fs::write(dir.path().join("taken.json"), &pulled.stdout).unwrap();
    let pushed = run(
        dir.path(),
        &proxy.url(),
        &["state", "push", "taken.json", "-f", "stack.yaml"],
    );
    assert_exit(&pushed, 0, "state push by the other writer");
    signal("-CONT");

    // The holder's next write is refused by the compare-and-swap: it stops, keeping what it
    // recorded in its errored-state file, and never overwrites the other writer's state.
    let stopped = holder.wait_with_output().unwrap();
    let stderr = text(&stopped.stderr);
    assert_exit(&stopped, 6, "the holder after its lock was broken");
    assert!(stderr.contains("changed by another writer"), "{stderr}");
    let errored: Vec<String> = entries(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("meshctl-errored-state-"))
        .collect();
    assert_eq!(errored.len(), 1, "{stderr}");
    let object = state_object(&rt, &config, "meshctl/moamoa.json").unwrap();
    let taken: serde_json::Value = serde_json::from_slice(&pulled.stdout).unwrap();
    assert_eq!(
        object["records"], taken["records"],
        "the other writer's state stands"
    );

    // Nothing lost: the errored state (older than the push, so --force) put back, apply
    // converges with one VPC, and destroy leaves nothing.
    let forced = run(
        dir.path(),
        &proxy.url(),
        &["state", "push", &errored[0], "-f", "stack.yaml", "--force"],
    );
    assert_exit(&forced, 0, "push of the holder's errored state");
    let applied = run_seed(dir.path(), &proxy.url(), &["apply"]);
    assert_exit(&applied, 0, "apply after the push");
    let made = added(&before, &world(&rt, &config));
    assert_eq!(made["vpc"].len(), 1, "{made:#?}");
    assert_eq!(made["nat_gateway"].len(), 1, "{made:#?}");
    let destroyed = run_seed(dir.path(), &proxy.url(), &["destroy"]);
    assert_exit(&destroyed, 0, "destroy");
    assert_eq!(added(&before, &world(&rt, &config)), BTreeMap::new());
}
