//! An update killed half-way leaves nothing behind. A `manifest` resource is applied, then changed
//! to add objects, and `meshctl apply` is SIGKILLed (with its process group, as CI stops a job)
//! at a random moment while the update makes them. Each new object is answered late by the
//! sandbox API server (`sandbox.meshctl.io/respond-after-ms`), so the kill lands while objects
//! exist that meshctl has not yet heard back about. Then, in turn, the next run either applies
//! the change again, goes back to the first stack, or destroys the stack right away; each must
//! converge (checked with kubectl), and destroy must leave no object of the stack on the cluster.
//! An object carrying the stack's marks that state never heard of (made by a meshctl from before
//! updates were journaled) is found by the next run's sweep and removed.

mod support;

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::sandbox::{assert_exit, show, Sandbox};
use support::{runtime, REGION};

const STACK: &str = "halfway-update";
/// How long the sandbox API server waits before answering the write of each added object.
const RESPOND_AFTER_MS: u64 = 400;
/// The objects the first stack has, and those the change adds.
const FIRST: &[&str] = &["web-a"];
const ADDED: &[&str] = &["web-b", "web-c", "web-d", "web-e"];

/// What the run after the killed apply does.
#[derive(Debug, Clone, Copy)]
enum NextRun {
    /// Applies the changed stack again.
    ApplyChange,
    /// Goes back to the first stack and applies it.
    ApplyFirst,
    /// Destroys the stack at once.
    Destroy,
}

struct Trial {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    stack: PathBuf,
    state: PathBuf,
}

impl Trial {
    fn start() -> Trial {
        let rt = runtime();
        let (sandbox, _config) = Sandbox::start("halfway-update", "example.com", &rt);
        let dir = tempfile::tempdir().unwrap();
        let stack = dir.path().join("stack.yaml");
        let state = dir.path().join("state");
        Trial {
            sandbox,
            dir,
            stack,
            state,
        }
    }

    /// Writes the stack: one `manifest` of ConfigMaps, the added ones answered late.
    fn write_stack(&self, names: &[&str]) {
        let kubeconfig = &self.sandbox.env["KUBECONFIG"];
        let mut text = format!(
            "stack: {STACK}\nregion: {REGION}\nkube: {{ kubeconfig: \"{kubeconfig}\", context: sandbox }}\nresources:\n  - kind: manifest\n    name: web\n    objects:\n"
        );
        for name in names {
            let slow = if ADDED.contains(name) {
                format!(", annotations: {{ \"sandbox.meshctl.io/respond-after-ms\": \"{RESPOND_AFTER_MS}\" }}")
            } else {
                String::new()
            };
            text.push_str(&format!(
                "      - apiVersion: v1\n        kind: ConfigMap\n        metadata: {{ name: {name}, namespace: default{slow} }}\n        data: {{ name: {name} }}\n"
            ));
        }
        std::fs::write(&self.stack, text).unwrap();
    }

    /// `meshctl ARGS -f STACK --state STATE` against the sandbox cluster, apply and destroy
    /// approved.
    fn command(&self, args: &[&str]) -> Command {
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
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .env_remove("MESHCTL_KUBE_ENDPOINT");
        command
    }

    fn meshctl(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts `meshctl apply` in a process group of its own, waits until the first added object
    /// exists, waits `after` more, and kills the whole group with SIGKILL. Returns the objects
    /// of the stack that existed when it was killed.
    fn apply_killed(&self, after: Duration) -> BTreeSet<String> {
        let log_path = self.dir.path().join("killed-apply.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = self
            .command(&["apply"])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.configmaps().contains(ADDED[0]) {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "meshctl apply ended ({status}) before it made {}:\n{log}",
                    ADDED[0]
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} was not made in 60 s",
                ADDED[0]
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(after);
        let group = format!("-{}", child.id());
        let killed = Command::new("kill")
            .args(["-9", "--", &group])
            .status()
            .unwrap();
        assert!(killed.success(), "kill -9 {group} failed");
        child.wait().unwrap();
        self.configmaps()
    }

    /// The ConfigMaps of this stack in the cluster, by kubectl and the stack's label.
    fn configmaps(&self) -> BTreeSet<String> {
        let listed = self.sandbox.kubectl(&[
            "get",
            "configmaps",
            "-A",
            "-l",
            &format!("meshctl.io/stack={STACK}"),
        ]);
        listed["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Random delays for the kills, seeded afresh each run (the seed is printed with any failure).
struct Delays(u64);

impl Delays {
    fn new() -> Delays {
        let seed = RandomState::new().build_hasher().finish() | 1;
        Delays(seed)
    }

    /// A delay of up to `max`, xorshift64.
    fn next(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(self.0 % (max.as_millis() as u64 + 1))
    }
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| n.to_string()).collect()
}

#[test]
fn an_update_killed_while_it_adds_objects_converges_and_destroys_clean() {
    let trial = Trial::start();
    let before = trial.sandbox.kube_world();
    let mut delays = Delays::new();
    let seed = delays.0;
    let first = names(FIRST);
    let changed: BTreeSet<String> = FIRST.iter().chain(ADDED).map(|n| n.to_string()).collect();
    // The update writes the added objects one after another, each answered late: killing within
    // that span lands between two of them (or, near its end, as it records the result).
    let span = Duration::from_millis(RESPOND_AFTER_MS * ADDED.len() as u64);
    let next_runs = [NextRun::ApplyFirst, NextRun::Destroy, NextRun::ApplyChange];
    for (index, next) in next_runs.iter().cycle().take(6).enumerate() {
        let when = format!("trial {index} ({next:?}, seed {seed})");
        let first_names: Vec<&str> = FIRST.to_vec();
        let all_names: Vec<&str> = FIRST.iter().chain(ADDED).copied().collect();
        trial.write_stack(&first_names);
        assert_exit(
            &trial.meshctl(&["apply"]),
            0,
            &format!("first apply, {when}"),
        );
        assert_eq!(trial.configmaps(), first, "{when}");

        trial.write_stack(&all_names);
        let after = delays.next(span);
        let at_kill = trial.apply_killed(after);
        assert!(
            at_kill.contains(ADDED[0]),
            "{when}: the killed update had made {}",
            ADDED[0]
        );
        eprintln!(
            "{when}: killed {after:?} after {} existed, with {at_kill:?}",
            ADDED[0]
        );

        match next {
            NextRun::ApplyChange => {
                let apply = trial.meshctl(&["apply"]);
                assert_exit(&apply, 0, &format!("apply of the change again, {when}"));
                assert_eq!(trial.configmaps(), changed, "{when}\n{}", show(&apply));
                assert_exit(&trial.meshctl(&["drift"]), 0, &format!("drift, {when}"));
            }
            NextRun::ApplyFirst => {
                trial.write_stack(&first_names);
                let apply = trial.meshctl(&["apply"]);
                assert_exit(&apply, 0, &format!("apply of the first stack, {when}"));
                assert_eq!(
                    trial.configmaps(),
                    first,
                    "{when}: the objects the killed update made (killed {after:?} after {} existed; there were {at_kill:?}) are left\n{}",
                    ADDED[0],
                    show(&apply)
                );
                assert_exit(&trial.meshctl(&["drift"]), 0, &format!("drift, {when}"));
            }
            NextRun::Destroy => {}
        }

        let destroy = trial.meshctl(&["destroy"]);
        assert_exit(&destroy, 0, &format!("destroy, {when}"));
        let left: Vec<String> = trial
            .sandbox
            .kube_world()
            .difference(&before)
            .cloned()
            .collect();
        assert!(
            left.is_empty() && trial.configmaps().is_empty(),
            "{when}: destroy left objects of the stack (killed {after:?} after {} existed; there were {at_kill:?}): {left:#?}\n{}",
            ADDED[0],
            show(&destroy)
        );
    }
}

/// A ConfigMap marked as `address`'s of `stack` (or unmarked), made with kubectl as an older
/// meshctl or a hand would have.
fn configmap_marked(trial: &Trial, name: &str, owner: Option<(&str, &str)>) {
    let metadata = match owner {
        Some((stack, address)) => format!(
            "{{ name: {name}, namespace: default, labels: {{ app.kubernetes.io/managed-by: meshctl, meshctl.io/stack: {stack} }}, annotations: {{ meshctl.io/address: {address} }} }}"
        ),
        None => format!("{{ name: {name}, namespace: default }}"),
    };
    let file = trial.dir.path().join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {metadata}\ndata: {{ made: by-hand }}\n"
        ),
    )
    .unwrap();
    let applied = trial
        .sandbox
        .kubectl_output(&["apply", "-f", file.to_str().unwrap()]);
    assert!(
        applied.status.success(),
        "kubectl apply {name}: {}",
        show(&applied)
    );
}

fn configmap_exists(trial: &Trial, name: &str) -> bool {
    trial
        .sandbox
        .kubectl_output(&["get", "configmap", name, "-n", "default"])
        .status
        .success()
}

#[test]
fn the_run_after_a_killed_update_sweeps_what_carries_its_marks_but_was_never_recorded() {
    let trial = Trial::start();
    trial.write_stack(FIRST);
    assert_exit(&trial.meshctl(&["apply"]), 0, "first apply");
    let all_names: Vec<&str> = FIRST.iter().chain(ADDED).copied().collect();
    trial.write_stack(&all_names);
    trial.apply_killed(Duration::ZERO);
    // Never recorded: what a meshctl whose updates were not journaled left.
    configmap_marked(&trial, "web-unrecorded", Some((STACK, "manifest.web")));
    // Not this resource's: another resource of the stack, another stack, and a hand-made one.
    configmap_marked(
        &trial,
        "web-other-resource",
        Some((STACK, "manifest.other")),
    );
    configmap_marked(&trial, "web-other-stack", Some(("another", "manifest.web")));
    configmap_marked(&trial, "web-by-hand", None);

    trial.write_stack(FIRST);
    let apply = trial.meshctl(&["apply"]);
    assert_exit(&apply, 0, "apply after the killed update");
    assert!(
        !configmap_exists(&trial, "web-unrecorded"),
        "the unrecorded object of manifest.web is swept\n{}",
        show(&apply)
    );
    for kept in ["web-other-resource", "web-other-stack", "web-by-hand"] {
        assert!(
            configmap_exists(&trial, kept),
            "{kept} is not manifest.web's and stays\n{}",
            show(&apply)
        );
    }
    assert!(
        trial.configmaps().contains("web-a") && !trial.configmaps().contains(ADDED[0]),
        "the first stack's objects, and only they, remain: {:?}",
        trial.configmaps()
    );
    assert_exit(&trial.meshctl(&["destroy"]), 0, "destroy");
    assert!(!configmap_exists(&trial, "web-a"));
}
