//! EKS tokens never expire mid-run: seed 001's plan, saved and applied only after a token would
//! have expired, applied by the real `meshctl` to a sandbox whose API server refuses EKS tokens
//! 5 s after signing (`--eks-token-lifetime-secs`) and whose workloads take 4 s to become ready
//! (`--rollout-delay-ms`), so the apply outlives many tokens, meshctl's own requests and the
//! helm and istioctl runs alike. Checked with kubectl; no token lands in state or the plan file.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::sandbox::{assert_exit, show, Sandbox};
use support::{runtime, text};

/// How long the sandbox accepts a token after signing (EKS: 15 minutes).
const TOKEN_LIFETIME: Duration = Duration::from_secs(5);
/// What every EKS bearer token starts with.
const TOKEN_PREFIX: &[u8] = b"k8s-aws-v1.";

fn seed_001() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks/seed-001-https.yaml")
}

/// Every file under `dir` (or `dir` itself) that holds an EKS token, in any encoding the bytes
/// may carry it: plain, or inside a JSON string.
fn files_with_tokens(path: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap().flatten() {
                pending.push(entry.path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(TOKEN_PREFIX.len()).any(|w| w == TOKEN_PREFIX) {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn seed_001_applies_with_tokens_that_expire_in_five_seconds() {
    let rt = runtime();
    let lifetime = TOKEN_LIFETIME.as_secs().to_string();
    let (sandbox, _config) = Sandbox::start_with(
        "moamoa-main",
        "moamoa-news.com",
        &rt,
        &[
            "--eks-token-lifetime-secs",
            &lifetime,
            "--rollout-delay-ms",
            "4000",
        ],
    );
    let stack = seed_001();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let plan_file = work.path().join("seed-001.plan.json");
    let plan_arg = plan_file.to_str().unwrap();

    let planned = sandbox.meshctl(&stack, &state, &["plan", "--out", plan_arg]);
    assert_exit(&planned, 0, "plan --out");
    // The saved plan is applied later than any token made while planning could live.
    std::thread::sleep(TOKEN_LIFETIME + Duration::from_secs(1));

    let started = Instant::now();
    let applied = sandbox.meshctl(&stack, &state, &["apply", plan_arg]);
    let took = started.elapsed();
    assert_exit(&applied, 0, "apply of the saved plan with 5-second tokens");
    // The test means something only if the apply outlived several tokens.
    assert!(
        took > TOKEN_LIFETIME * 2,
        "the apply took {took:?}, not longer than two token lifetimes; raise --rollout-delay-ms\n{}",
        show(&applied)
    );

    // The cluster as kubectl sees it: the add-ons helm and istioctl installed run, and the
    // objects meshctl applied itself after them are there.
    for (namespace, deployment) in [
        ("kube-system", "aws-load-balancer-controller"),
        ("cert-manager", "cert-manager"),
        ("istio-system", "istiod"),
        ("istio-system", "istio-ingressgateway"),
    ] {
        let d = sandbox.kubectl(&["get", "deployment", deployment, "-n", namespace]);
        assert!(
            d["status"]["availableReplicas"].as_i64().unwrap_or(0) >= 1,
            "{namespace}/{deployment} is available: {}",
            d["status"]
        );
    }
    let ingress = sandbox.kubectl(&["get", "ingress", "public", "-n", "istio-system"]);
    assert!(
        ingress["status"]["loadBalancer"]["ingress"][0]["hostname"].is_string(),
        "the Ingress has its ALB: {}",
        ingress["status"]
    );
    let secret = sandbox.kubectl(&["get", "secret", "moamoa-cert", "-n", "istio-system"]);
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let virtual_service =
        sandbox.kubectl(&["get", "virtualservice", "gateway-server", "-n", "default"]);
    assert_eq!(
        virtual_service["spec"]["http"][0]["route"][0]["destination"]["port"]["number"],
        8072
    );

    // Later still, a plan reads the cluster again with new tokens and finds nothing to do.
    std::thread::sleep(TOKEN_LIFETIME + Duration::from_secs(1));
    let again = sandbox.meshctl(&stack, &state, &["plan", "--detailed-exitcode"]);
    assert_exit(&again, 0, "plan after apply");
    assert!(
        text(&again.stdout).contains("No changes"),
        "{}",
        show(&again)
    );

    // No token is kept: not in the state directory, not in the saved plan.
    assert_eq!(files_with_tokens(&state), Vec::<PathBuf>::new());
    assert_eq!(files_with_tokens(&plan_file), Vec::<PathBuf>::new());
}
