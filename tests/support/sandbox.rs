//! The sandbox as the end-to-end tests of the binary drive it: `meshctl-sandbox` started with the
//! cluster name a stack's EKS cluster gets, the real `meshctl` and `kubectl` run against it, and
//! every Kubernetes object listed, to compare the world before and after.

use super::{sdk_config, text, REGION};
use aws_config::SdkConfig;
use meshctl_sandbox::kubectl_path;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// `meshctl-sandbox` (and its helm and istioctl stand-ins) next to the meshctl binary under test,
/// never stale. `cargo test --workspace` builds them already (the sandbox package's own tests need
/// them); only when one is older than the sandbox's sources or Cargo.lock, as after editing the
/// sandbox and running one test, does cargo build them here, once per test run. (The nested build
/// resolves that package's features on its own, which in a cold target directory rebuilds
/// dependencies for minutes: worth skipping when nothing changed.)
pub fn sandbox_binary() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_meshctl"))
        .parent()
        .unwrap()
        .to_path_buf();
    static BUILT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let sources = newest_change(&[
            workspace.join("crates/sandbox"),
            workspace.join("Cargo.lock"),
        ]);
        let fresh = ["meshctl-sandbox", "helm", "istioctl"].iter().all(|bin| {
            modified(&dir.join(bin)).is_some_and(|built| sources.is_some_and(|s| built >= s))
        });
        fresh
            || Command::new(env!("CARGO"))
                .args(["build", "--locked", "-p", "meshctl-sandbox", "--bins"])
                .status()
                .is_ok_and(|s| s.success())
    });
    assert!(built, "building meshctl-sandbox failed");
    dir.join("meshctl-sandbox")
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of these files and everything under these directories.
fn newest_change(paths: &[PathBuf]) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut pending: Vec<PathBuf> = paths.to_vec();
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            return None;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                pending.push(entry.path());
            }
        } else {
            newest = newest.max(meta.modified().ok());
        }
    }
    newest
}

/// A running `meshctl-sandbox` and the environment it printed; stopped on drop.
pub struct Sandbox {
    child: Child,
    pub env: BTreeMap<String, String>,
    _dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn start(
        cluster_name: &str,
        domain: &str,
        rt: &tokio::runtime::Runtime,
    ) -> (Self, SdkConfig) {
        Self::start_with(cluster_name, domain, rt, &[])
    }

    /// `start`, with more `meshctl-sandbox` options (`--eks-token-lifetime-secs 5`).
    pub fn start_with(
        cluster_name: &str,
        domain: &str,
        rt: &tokio::runtime::Runtime,
        options: &[&str],
    ) -> (Self, SdkConfig) {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(sandbox_binary())
            .args(["--dir"])
            .arg(dir.path().join("sandbox"))
            .args(["--cluster-name", cluster_name, "--region", REGION])
            .args(["--deletion-delay-ms", "200", "--exit-on-stdin-close"])
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut env = BTreeMap::new();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        for line in stdout.lines() {
            let line = line.unwrap();
            if line == "ready" {
                break;
            }
            if let Some((key, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('='))
            {
                env.insert(key.to_string(), value.trim_matches('\'').to_string());
            }
        }
        assert!(env.contains_key("KUBECONFIG"), "the sandbox did not start");
        let sandbox = Sandbox {
            child,
            env,
            _dir: dir,
        };
        let config = sdk_config(rt, &sandbox.env["AWS_ENDPOINT_URL"]);
        // The public zone, as the registrar made it.
        rt.block_on(
            aws_sdk_route53::Client::new(&config)
                .create_hosted_zone()
                .name(domain)
                .caller_reference("registrar")
                .send(),
        )
        .unwrap();
        (sandbox, config)
    }

    /// `meshctl ARGS -f STACK --state STATE`, with `--auto-approve` added to apply and destroy.
    pub fn meshctl_approved(&self, stack: &Path, state: &Path, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        if matches!(args.first(), Some(&"apply") | Some(&"destroy")) {
            all.push("--auto-approve");
        }
        self.meshctl(stack, state, &all)
    }

    /// `meshctl ARGS -f STACK --state STATE`, exactly these arguments (no implied approval).
    pub fn meshctl(&self, stack: &Path, state: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_meshctl"))
            .args(args)
            .arg("-f")
            .arg(stack)
            .arg("--state")
            .arg(state)
            .envs(&self.env)
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    }

    /// kubectl with the sandbox's kubeconfig; the test fails when kubectl does.
    pub fn kubectl_run(&self, args: &[&str]) -> Output {
        let output = self.kubectl_output(args);
        assert!(
            output.status.success(),
            "kubectl {args:?}:\nstdout:\n{}\nstderr:\n{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        output
    }

    pub fn kubectl_output(&self, args: &[&str]) -> Output {
        Command::new(kubectl_path())
            .args(args)
            .envs(&self.env)
            .output()
            .expect("kubectl runs")
    }

    /// `kubectl ARGS -o json`, parsed.
    pub fn kubectl(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_slice(&self.kubectl_run(&all).stdout).unwrap()
    }

    /// Every object of every listable type but Events, as `kind namespace/name`. Istio's CRDs
    /// are left out: installs share them, so meshctl never removes them (an uninstall with
    /// `--purge` would remove every stack's Istio).
    pub fn kube_world(&self) -> BTreeSet<String> {
        let output = self.kubectl_run(&["api-resources", "--verbs=list", "-o", "name"]);
        let types: Vec<String> = text(&output.stdout)
            .lines()
            .filter(|t| !t.starts_with("events"))
            .map(str::to_string)
            .collect();
        let list = self.kubectl(&["get", &types.join(","), "-A"]);
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| {
                !(o["kind"] == "CustomResourceDefinition"
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with(".istio.io")))
            })
            .map(|o| {
                format!(
                    "{} {}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["metadata"]["namespace"].as_str().unwrap_or_default(),
                    o["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }
}

impl Drop for Sandbox {
    /// Closing its stdin stops the sandbox the clean way (it stops moto too); killing it would
    /// leave moto running.
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn show(output: &Output) -> String {
    format!(
        "exit: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

pub fn assert_exit(output: &Output, code: i32, what: &str) {
    assert_eq!(output.status.code(), Some(code), "{what}\n{}", show(output));
}
