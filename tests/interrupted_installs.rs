//! An install killed half-way is cleaned up. meshctl is SIGKILLed with its whole process group
//! (as CI stops a job) while the istioctl or helm stand-in is paused after writing its objects
//! (`MESHCTL_STANDIN_PAUSE_AFTER_OBJECTS`): istioctl has written no installed-state record yet,
//! the Helm release is `pending-install`. `meshctl destroy` must still remove everything the
//! install made (webhooks, deployments, release Secrets) — checked with kubectl against the
//! cluster as it was before — and a fresh apply must then converge. A helm killed under a meshctl
//! that lives on leaves its release pending too, and must not block the next apply.

mod support;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::sandbox::{assert_exit, show, Sandbox};
use support::{runtime, text, REGION};

/// The sandbox cluster, reached through its kubeconfig, and a directory for the stack's files.
struct Trial {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    stack: PathBuf,
    state: PathBuf,
}

impl Trial {
    /// A sandbox and a stack of `resources` on its cluster.
    fn start(cluster: &str, resources: &str) -> Trial {
        let rt = runtime();
        let (sandbox, _config) = Sandbox::start(cluster, "example.com", &rt);
        let dir = tempfile::tempdir().unwrap();
        let stack = dir.path().join("stack.yaml");
        let kubeconfig = &sandbox.env["KUBECONFIG"];
        std::fs::write(
            &stack,
            format!(
                "stack: halfway\nregion: {REGION}\nkube: {{ kubeconfig: \"{kubeconfig}\", context: sandbox }}\nresources:\n{resources}"
            ),
        )
        .unwrap();
        let state = dir.path().join("state");
        Trial {
            sandbox,
            dir,
            stack,
            state,
        }
    }

    /// `meshctl ARGS -f STACK --state STATE`, configured as for a cluster it did
    /// not create (no endpoint override), with `extra_env` added; apply and destroy approved.
    fn command(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_meshctl"));
        command
            .args(args)
            .args(
                matches!(args.first(), Some(&"apply") | Some(&"destroy"))
                    .then_some("--auto-approve"),
            )
            .arg("-f")
            .arg(&self.stack)
            .arg("--state")
            .arg(&self.state)
            .envs(&self.sandbox.env)
            .envs(extra_env.iter().copied())
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .env_remove("MESHCTL_KUBE_ENDPOINT");
        command
    }

    fn meshctl(&self, args: &[&str]) -> Output {
        self.command(args, &[]).output().unwrap()
    }

    /// Starts `meshctl apply` in a process group of its own with the stand-ins pausing after
    /// their objects, waits until `half_done` holds on the cluster, and kills the whole group
    /// with SIGKILL (meshctl and the tool it runs).
    fn apply_killed_when(&self, what: &str, half_done: impl Fn(&Sandbox) -> bool) {
        let log = std::fs::File::create(self.dir.path().join("killed-apply.log")).unwrap();
        let mut child = self
            .command(
                &["apply"],
                &[("MESHCTL_STANDIN_PAUSE_AFTER_OBJECTS", "600")],
            )
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !half_done(&self.sandbox) {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(self.dir.path().join("killed-apply.log"));
                panic!("meshctl apply ended ({status}) before {what}:\n{log:?}");
            }
            assert!(Instant::now() < deadline, "{what} did not happen in 2 min");
            std::thread::sleep(Duration::from_millis(200));
        }
        let group = format!("-{}", child.id());
        let killed = Command::new("kill")
            .args(["-9", "--", &group])
            .status()
            .unwrap();
        assert!(killed.success(), "kill -9 {group} failed");
        child.wait().unwrap();
    }

    /// Starts `meshctl apply ARGS` with the stand-ins pausing after their objects, waits until
    /// `half_done` holds, kills only the `tool` process meshctl runs (as its timeout or the OOM
    /// killer would), and returns what meshctl then did.
    fn apply_with_tool_killed_when(
        &self,
        args: &[&str],
        tool: &str,
        half_done: impl Fn(&Sandbox) -> bool,
    ) -> Output {
        let child = self
            .command(args, &[("MESHCTL_STANDIN_PAUSE_AFTER_OBJECTS", "600")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !half_done(&self.sandbox) {
            assert!(
                Instant::now() < deadline,
                "{tool} did not get half-way in 2 min"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let found = Command::new("pgrep")
            .args(["-P", &child.id().to_string(), "-x", tool])
            .output()
            .unwrap();
        let pid = text(&found.stdout).trim().to_string();
        assert!(!pid.is_empty(), "no {tool} process under meshctl");
        let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(killed.success(), "kill -9 {pid} failed");
        child.wait_with_output().unwrap()
    }

    fn names(&self, kind: &str, namespace: Option<&str>) -> BTreeSet<String> {
        let mut args = vec!["get", kind];
        match namespace {
            Some(namespace) => args.extend(["-n", namespace]),
            None => args.push("-A"),
        }
        self.sandbox.kubectl(&args)["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    }
}

fn exists(sandbox: &Sandbox, args: &[&str]) -> bool {
    sandbox.kubectl_output(args).status.success()
}

fn assert_clean_destroy(trial: &Trial, before: &BTreeSet<String>, when: &str) {
    let destroy = trial.meshctl(&["destroy"]);
    assert_exit(&destroy, 0, &format!("destroy {when}"));
    let after = trial.sandbox.kube_world();
    let left: Vec<&String> = after.difference(before).collect();
    assert!(
        left.is_empty(),
        "destroy {when} left objects behind: {left:#?}\n{}",
        show(&destroy)
    );
}

#[test]
fn an_istioctl_install_killed_half_way_is_removed_by_destroy() {
    let trial = Trial::start(
        "halfway-istio",
        "  - kind: istio\n    name: mesh\n    version: 1.22.3\n",
    );
    let before = trial.sandbox.kube_world();
    // istioctl has written the sidecar injector, its last object, and paused before its record.
    trial.apply_killed_when("istioctl wrote the sidecar injector", |sandbox| {
        exists(
            sandbox,
            &[
                "get",
                "mutatingwebhookconfiguration",
                "istio-sidecar-injector",
            ],
        )
    });
    assert!(
        trial
            .names("istiooperators", Some("istio-system"))
            .is_empty(),
        "istioctl was killed before writing its installed state"
    );
    assert!(
        trial
            .names("deployments", Some("istio-system"))
            .contains("istiod"),
        "the half-done install left istiod"
    );

    assert_clean_destroy(&trial, &before, "after the killed istioctl install");
    assert!(trial
        .names("mutatingwebhookconfigurations", None)
        .is_empty());
    assert!(trial
        .names("validatingwebhookconfigurations", None)
        .is_empty());

    // Killed again; this time the next apply removes the leftovers and installs it whole, and
    // destroying that leaves the cluster as it was too.
    trial.apply_killed_when("istioctl wrote the sidecar injector again", |sandbox| {
        exists(
            sandbox,
            &[
                "get",
                "mutatingwebhookconfiguration",
                "istio-sidecar-injector",
            ],
        )
    });
    let apply = trial.meshctl(&["apply"]);
    assert_exit(&apply, 0, "apply after the killed apply");
    assert!(trial
        .names("istiooperators", Some("istio-system"))
        .contains("installed-state-mesh"));
    assert_exit(&trial.meshctl(&["drift"]), 0, "drift after the apply");
    assert_clean_destroy(&trial, &before, "after the whole install");
}

#[test]
fn a_killed_install_of_a_revision_is_removed_by_destroy() {
    let trial = Trial::start(
        "halfway-canary",
        "  - kind: istio\n    name: mesh\n    version: 1.22.3\n    revision: canary\n",
    );
    let before = trial.sandbox.kube_world();
    trial.apply_killed_when("istioctl wrote the canary sidecar injector", |sandbox| {
        exists(
            sandbox,
            &[
                "get",
                "mutatingwebhookconfiguration",
                "istio-sidecar-injector-canary",
            ],
        )
    });
    assert!(
        trial
            .names("istiooperators", Some("istio-system"))
            .is_empty(),
        "istioctl was killed before writing its installed state"
    );
    assert_clean_destroy(
        &trial,
        &before,
        "after the killed install of revision canary",
    );
}

#[test]
fn a_helm_install_killed_pending_is_removed_by_destroy_and_apply() {
    let trial = Trial::start(
        "halfway-helm",
        "  - kind: cert_manager\n    name: cert-manager\n    chart_version: 1.14.4\n",
    );
    let before = trial.sandbox.kube_world();
    let pending = |sandbox: &Sandbox| {
        let output = sandbox.kubectl_output(&[
            "get",
            "secret",
            "sh.helm.release.v1.cert-manager.v1",
            "-n",
            "cert-manager",
            "-o",
            "json",
        ]);
        output.status.success()
            && serde_json::from_slice::<Value>(&output.stdout)
                .is_ok_and(|secret| secret["metadata"]["labels"]["status"] == "pending-install")
            && exists(
                sandbox,
                &["get", "deployment", "cert-manager", "-n", "cert-manager"],
            )
    };
    trial.apply_killed_when("helm left the release pending-install", pending);
    assert_clean_destroy(&trial, &before, "after the killed helm install");
    assert!(
        trial
            .names("secrets", None)
            .iter()
            .all(|name| !name.starts_with("sh.helm.release.v1.")),
        "no Helm release Secret is left"
    );

    // Killed again; this time apply cleans up the pending release and installs it.
    trial.apply_killed_when("helm left the release pending-install again", pending);
    let apply = trial.meshctl(&["apply"]);
    assert_exit(&apply, 0, "apply after the killed apply");
    let release = trial.sandbox.kubectl_run(&[
        "get",
        "secrets",
        "-n",
        "cert-manager",
        "-l",
        "owner=helm,name=cert-manager,status=deployed",
        "-o",
        "name",
    ]);
    assert!(
        !text(&release.stdout).trim().is_empty(),
        "the release is deployed after the apply\n{}",
        show(&apply)
    );
    assert_exit(&trial.meshctl(&["drift"]), 0, "drift after the apply");
    assert_clean_destroy(&trial, &before, "after the whole install");
}

#[test]
fn a_release_left_pending_by_a_killed_helm_does_not_block_the_next_apply() {
    let trial = Trial::start(
        "halfway-helm-only",
        "  - kind: cert_manager\n    name: cert-manager\n    chart_version: 1.14.4\n",
    );
    let before = trial.sandbox.kube_world();
    // Only helm dies; meshctl sees the install fail and keeps the resource as it is, tainted.
    // The next apply replaces it: uninstalls the pending release (which `helm upgrade` would
    // refuse to touch) and installs it again.
    let failed =
        trial.apply_with_tool_killed_when(&["apply", "--no-rollback"], "helm", |sandbox| {
            release_status(sandbox, "cert-manager", "cert-manager").as_deref()
                == Some("pending-install")
        });
    assert_ne!(failed.status.code(), Some(0), "{}", show(&failed));
    assert_eq!(
        release_status(&trial.sandbox, "cert-manager", "cert-manager").as_deref(),
        Some("pending-install"),
        "{}",
        show(&failed)
    );
    let apply = trial.meshctl(&["apply"]);
    assert_exit(&apply, 0, "apply after helm was killed");
    assert_eq!(
        release_status(&trial.sandbox, "cert-manager", "cert-manager").as_deref(),
        Some("deployed")
    );
    assert_clean_destroy(&trial, &before, "after the repaired install");
}

/// The status label of a Helm release's newest storage Secret, if it has one.
fn release_status(sandbox: &Sandbox, namespace: &str, release: &str) -> Option<String> {
    let output = sandbox.kubectl_output(&[
        "get",
        "secrets",
        "-n",
        namespace,
        "-l",
        &format!("owner=helm,name={release}"),
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_slice(&output.stdout).ok()?;
    list["items"]
        .as_array()?
        .iter()
        .max_by_key(|s| {
            s["metadata"]["labels"]["version"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .and_then(|s| s["metadata"]["labels"]["status"].as_str())
        .map(str::to_string)
}
