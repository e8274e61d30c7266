//! The `meshctl-sandbox` binary: it says `ready` within 10 s, the environment it prints works
//! (kubectl, an AWS SDK call, the stand-ins on PATH), and SIGTERM stops it and its moto server.
//! With `--faults` its AWS endpoint is the fault proxy's; a wrong rule is explained.
//!
//! Run: `cargo test -p meshctl-sandbox --test sandbox_binary` (needs moto_server and kubectl).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The pid of the moto_server that process `parent` started, from /proc (the printed endpoint is
/// the sandbox's front, not moto).
fn moto_pid(parent: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_moto = args.iter().any(|a| a.contains("moto_server"));
        let ppid = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                let after_name = stat.rsplit(')').next()?.to_string();
                after_name.split_whitespace().nth(1)?.parse::<u32>().ok()
            });
        if is_moto && ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; only a running (or sleeping) process counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_binary_starts_serves_and_stops_cleanly() {
    let kubectl = common::kubectl_path();
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshctl-sandbox"))
        .args([
            "--dir",
            common::path_str(dir.path()),
            "--region",
            "ap-northeast-2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("meshctl-sandbox starts");
    let stdout = child.stdout.take().expect("stdout");
    // Read lines on a thread so a hung binary fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = String::new();
    loop {
        let left = Duration::from_secs(10).saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) if line == "ready" => break,
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                let stderr = child
                    .wait_with_output()
                    .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                    .unwrap_or_default();
                panic!("no `ready` within 10 s (is moto_server installed? CI installs it with pip install 'moto[server]'); stdout so far:\n{printed}\nstderr:\n{stderr}");
            }
        }
    }
    let startup = started.elapsed();
    eprintln!("meshctl-sandbox was ready after {startup:?}");
    assert!(startup < Duration::from_secs(10), "{startup:?}");

    let env = common::parse_exports(&printed);
    let get = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} not exported:\n{printed}"))
    };
    assert_eq!(get("AWS_ACCESS_KEY_ID"), "testing");
    assert_eq!(get("AWS_SECRET_ACCESS_KEY"), "testing");
    assert_eq!(get("AWS_REGION"), "ap-northeast-2");
    let endpoint = get("AWS_ENDPOINT_URL");
    let kubeconfig = get("KUBECONFIG");
    let path = get("PATH");

    let namespaces = Command::new(&kubectl)
        .args(["get", "ns", "-o", "name"])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .expect("kubectl runs");
    assert!(namespaces.status.success(), "{namespaces:?}");
    assert!(String::from_utf8_lossy(&namespaces.stdout).contains("namespace/kube-system"));

    let aws = common::Aws::new(&endpoint).await;
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .send()
        .await
        .expect("DescribeVpcs against the printed endpoint");
    assert!(!vpcs.vpcs().is_empty(), "moto's default VPC");

    // The stand-ins come first on the printed PATH.
    let helm = Command::new("helm")
        .arg("version")
        .env("PATH", &path)
        .output()
        .expect("helm is on the printed PATH");
    assert!(
        String::from_utf8_lossy(&helm.stdout).contains("GitCommit:\"sandbox\""),
        "{helm:?}"
    );

    let moto = moto_pid(child.id()).expect("a moto_server process the sandbox started");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "meshctl-sandbox did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        !alive(moto),
        "moto_server (pid {moto}) outlived the sandbox"
    );
    assert!(
        !std::path::Path::new(&kubeconfig).exists(),
        "the kubeconfig was left behind"
    );
}

#[test]
fn sandbox_binary_rejects_unknown_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl-sandbox"))
        .arg("--frobnicate")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument \"--frobnicate\""));
}

#[test]
fn sandbox_binary_explains_a_wrong_faults_rule() {
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl-sandbox"))
        .args(["--faults", "ec2=throttle:0.3,route53=slow:0.1"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--faults: fault rule \"route53=slow:0.1\": unknown fault \"slow\""),
        "{stderr}"
    );
}

/// `--faults`: the printed endpoint is the fault proxy's, which throttles every EC2 call at rate 1
/// the way EC2 does and forwards the other services' calls to moto untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_binary_with_faults_throttles_through_the_printed_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshctl-sandbox"))
        .args(["--dir", common::path_str(dir.path())])
        .args(["--faults", "ec2=throttle:1", "--exit-on-stdin-close"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("meshctl-sandbox starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line == "ready" => break,
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                let output = child.wait_with_output().expect("wait");
                panic!(
                    "no `ready` within 20 s; stdout so far:\n{printed}\nstderr:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
    let env = common::parse_exports(&printed);
    let endpoint = env
        .iter()
        .find(|(key, _)| key == "AWS_ENDPOINT_URL")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("AWS_ENDPOINT_URL not exported:\n{printed}"));

    let aws = common::Aws::new(&endpoint).await;
    let throttled = aws
        .ec2
        .describe_vpcs()
        .send()
        .await
        .expect_err("every EC2 call is throttled");
    use aws_sdk_ec2::error::ProvideErrorMetadata as _;
    assert_eq!(
        throttled.code(),
        Some("RequestLimitExceeded"),
        "{throttled:?}"
    );
    aws.acm
        .list_certificates()
        .send()
        .await
        .expect("ACM has no faults: its calls reach moto through the proxy");

    // Closing stdin stops it; on the way out it reports what it injected.
    drop(child.stdin.take());
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("fault proxy http://127.0.0.1:") && stderr.contains("ec2 throttle 100%"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fault proxy, ec2: 0 forwarded,"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fault proxy, acm: 1 forwarded, 0 throttled"),
        "{stderr}"
    );
}
