//! The `meshctl-sandbox` binary: it says `ready` within 10 s, the environment it prints works
//! (kubectl, an AWS SDK call, the stand-ins on PATH), and SIGTERM stops it and its moto server.
//!
//! Run: `cargo test -p meshctl-sandbox --test sandbox_binary` (needs moto_server and kubectl).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The pid of the moto_server listening on `port`, from /proc.
fn moto_pid(port: &str) -> Option<u32> {
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
        let on_port = args.windows(2).any(|w| w[0] == "-p" && w[1] == port);
        if is_moto && on_port {
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

    let port = endpoint.rsplit(':').next().expect("a port").to_string();
    let moto = moto_pid(&port).expect("a moto_server process on the printed port");
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
