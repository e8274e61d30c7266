//! A corpus of planted secrets (AWS key IDs and secret keys, a private key, JWTs, GitHub, Slack,
//! EKS and STS tokens) in every place a stack can hold one: two on a line, beside another error,
//! in a comment, under names no rule lists, as map keys, in Helm values, ConfigMaps, annotations,
//! header matches, var defaults, `--var` and `--var-file`. Each placement goes through the whole
//! command line (`meshctl-testbed`: meshctl with the fake cloud): validate (text, JSON), plan
//! (text, Markdown, JSON), a saved plan and `show`, apply (plain and JSON events), `state list`,
//! `state show`, `state history` and the state directory's files; none may hold a secret.
//!
//! `MESHCTL_CORPUS_BIN` runs the corpus against another build of the testbed (to see what an
//! older meshctl printed).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const KEY_ID_2: &str = "AKIAI44QH8DHBEXAMPLE";
const TEMP_KEY_ID: &str = "ASIAZ72NSUCESVG47F6A";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SECRET_KEY_2: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
const JWT: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlcGxhbnRlZDAx";
const GITHUB: &str = "ghp_plantedGithubToken0123456789abcdefAB";
const GITHUB_PAT: &str = "github_pat_11PLANTED0123456789_abcdefghijklmnop";
const SLACK: &str = "xoxb-123456789012-planted-slack-token";
const EKS: &str = "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS9wbGFudGVk";
const STS: &str = "FwoGZXIvYXdzEPlantedSessionTokenAAAABBBBCCCCDDDDEEEEFFFF0123456789";
const OPAQUE_BEARER: &str = "plantedOpaqueBearerToken0123456789";
/// The body of the planted private key: what must never show.
const PEM_BODY: &str = "MIIEplantedPrivateKeyBodyLineOneAAAA";
const PEM_BODY_2: &str = "plantedPrivateKeyBodyLineTwoBBBB";

fn pem(indent: &str) -> String {
    format!(
        "{indent}-----BEGIN RSA PRIVATE KEY-----\n{indent}{PEM_BODY}\n{indent}{PEM_BODY_2}\n{indent}-----END RSA PRIVATE KEY-----\n"
    )
}

/// One placement: resources (and vars) added to a valid base stack, arguments and files.
struct Placement {
    name: &'static str,
    vars: String,
    resources: String,
    args: Vec<String>,
    files: Vec<(&'static str, String)>,
    secrets: Vec<String>,
}

fn placement(name: &'static str, resources: String, secrets: &[&str]) -> Placement {
    Placement {
        name,
        vars: String::new(),
        resources,
        args: Vec::new(),
        files: Vec::new(),
        secrets: secrets.iter().map(|s| s.to_string()).collect(),
    }
}

fn config_map(data: &str) -> String {
    format!(
        "  - kind: manifest\n    name: planted\n    objects:\n      - apiVersion: v1\n        kind: ConfigMap\n        metadata: {{ name: planted, namespace: app }}\n        data: {data}\n"
    )
}

fn helm(values: &str) -> String {
    format!(
        "  - kind: helm_release\n    name: kiali\n    chart: kiali-server\n    repository: https://kiali.org/helm-charts\n    version: 1.76.0\n    namespace: app\n    values: {values}\n"
    )
}

fn header_match(exact: &str) -> String {
    format!(
        "  - kind: virtual_service\n    name: reviews\n    namespace: app\n    hosts: [reviews]\n    http:\n      - match: [{{ headers: {{ authorization: {{ exact: \"{exact}\" }} }} }}]\n        route:\n          - destination: {{ host: reviews }}\n"
    )
}

fn corpus() -> Vec<Placement> {
    let mut all = vec![
        placement(
            "two access key IDs on one line",
            format!("  - {{ kind: namespace, name: two, labels: {{ a: {KEY_ID}, b: {KEY_ID_2} }} }}\n"),
            &[KEY_ID, KEY_ID_2],
        ),
        placement(
            "an access key ID and a secret key on one line",
            format!("  - {{ kind: namespace, name: pair, annotations: {{ id: {KEY_ID}, secret_access_key: {SECRET_KEY} }} }}\n"),
            &[KEY_ID, SECRET_KEY],
        ),
        placement(
            "a key on a line with another error",
            format!("  - {{ kind: namespace, name: Bad_Name, labels: {{ k: {KEY_ID} }} }}\n"),
            &[KEY_ID],
        ),
        placement(
            "keys in a comment on a line with another error",
            format!("  - {{ kind: namespace, name: Bad_Name }} # {KEY_ID} {SECRET_KEY}\n"),
            &[KEY_ID, SECRET_KEY],
        ),
        placement(
            "a secret key under an unlisted key name, as an unknown field",
            format!("  - {{ kind: namespace, name: odd, aws_secret: {SECRET_KEY} }}\n"),
            &[SECRET_KEY],
        ),
        placement(
            "a secret key under an unlisted key name, in Helm values",
            helm(&format!("{{ aws_secret: {SECRET_KEY} }}")),
            &[SECRET_KEY],
        ),
        placement(
            "an access key ID as a map key",
            config_map(&format!("{{ {KEY_ID}: on }}")),
            &[KEY_ID],
        ),
        placement(
            "a GitHub token as a map key",
            config_map(&format!("{{ {GITHUB_PAT}: on }}")),
            &[GITHUB_PAT],
        ),
        placement(
            "a GitHub token in Helm values",
            helm(&format!("{{ auth: {{ token: {GITHUB} }} }}")),
            &[GITHUB],
        ),
        placement(
            "an EKS token in Helm values",
            helm(&format!("{{ kube: {{ token: \"{EKS}\" }} }}")),
            &[EKS],
        ),
        placement(
            "an STS session token in Helm values",
            helm(&format!("{{ session: \"{STS}\" }}")),
            &[STS],
        ),
        placement(
            "a JWT in a ConfigMap",
            config_map(&format!("{{ token: \"{JWT}\" }}")),
            &[JWT],
        ),
        placement(
            "a secret key in a ConfigMap, inside a longer string",
            config_map(&format!("{{ url: \"https://x.example/?sig={SECRET_KEY}&v=1\" }}")),
            &[SECRET_KEY],
        ),
        placement(
            "a private key in a multi-line string",
            format!(
                "  - kind: manifest\n    name: pem\n    objects:\n      - apiVersion: v1\n        kind: ConfigMap\n        metadata: {{ name: pem, namespace: app }}\n        data:\n          key.pem: |\n{}",
                pem("            ")
            ),
            &[PEM_BODY, PEM_BODY_2],
        ),
        placement(
            "a Slack token in an annotation",
            format!("  - {{ kind: namespace, name: noisy, annotations: {{ hook: \"{SLACK}\" }} }}\n"),
            &[SLACK],
        ),
        placement(
            "a secret key as a label value",
            format!("  - {{ kind: namespace, name: labelled, labels: {{ k: \"{SECRET_KEY}\" }} }}\n"),
            &[SECRET_KEY],
        ),
        placement(
            "a JWT in a header match",
            header_match(&format!("Bearer {JWT}")),
            &[JWT],
        ),
        placement(
            "an opaque bearer token in a header match",
            header_match(&format!("Bearer {OPAQUE_BEARER}")),
            &[OPAQUE_BEARER],
        ),
        placement(
            "an access key ID in a header match",
            header_match(TEMP_KEY_ID),
            &[TEMP_KEY_ID],
        ),
        placement(
            "static keys in a container's environment",
            format!(
                "  - kind: manifest\n    name: env\n    objects:\n      - apiVersion: v1\n        kind: Pod\n        metadata: {{ name: env, namespace: app }}\n        spec:\n          containers:\n            - name: c\n              image: busybox:1.36\n              env:\n                - {{ name: AWS_ACCESS_KEY_ID, value: {KEY_ID} }}\n                - {{ name: AWS_SECRET_ACCESS_KEY, value: {SECRET_KEY} }}\n"
            ),
            &[KEY_ID, SECRET_KEY],
        ),
    ];

    let mut default = placement(
        "a token in a var default",
        config_map("{ token: \"${var.token}\" }"),
        &[GITHUB],
    );
    default.vars = format!("  token: {GITHUB}\n");
    all.push(default);

    let mut key_default = placement(
        "a secret key in a var default, used in a label",
        "  - { kind: namespace, name: fromvar, labels: { k: \"${var.secret}\" } }\n".to_string(),
        &[SECRET_KEY_2],
    );
    key_default.vars = format!("  secret: \"{SECRET_KEY_2}\"\n");
    all.push(key_default);

    let mut by_flag = placement(
        "a secret key through --var",
        config_map("{ secret: \"${var.secret}\" }"),
        &[SECRET_KEY],
    );
    by_flag.args = vec!["--var".into(), format!("secret={SECRET_KEY}")];
    all.push(by_flag);

    let mut key_by_flag = placement(
        "an access key ID through --var",
        config_map("{ id: \"${var.id}\" }"),
        &[KEY_ID],
    );
    key_by_flag.args = vec!["--var".into(), format!("id={KEY_ID}")];
    all.push(key_by_flag);

    let mut by_file = placement(
        "a JWT and a private key through --var-file",
        config_map("{ jwt: \"${var.jwt}\", key: \"${var.key}\" }"),
        &[JWT, PEM_BODY, PEM_BODY_2],
    );
    by_file.args = vec!["--var-file".into(), "secrets.yaml".into()];
    by_file.files = vec![(
        "secrets.yaml",
        format!("jwt: \"{JWT}\"\nkey: |\n{}", pem("  ")),
    )];
    all.push(by_file);

    let mut broken_file = placement(
        "a var file that is not a mapping, holding a key",
        config_map("{ mode: plain }"),
        &[SECRET_KEY],
    );
    broken_file.args = vec!["--var-file".into(), "broken.yaml".into()];
    broken_file.files = vec![("broken.yaml", format!("- {SECRET_KEY}\n"))];
    all.push(broken_file);
    all
}

fn stack_text(p: &Placement) -> String {
    format!(
        "stack: t\nregion: us-east-1\nkube: {{ kubeconfig: kubeconfig.yaml }}\nvars:\n  team: web\n{}resources:\n  - {{ kind: namespace, name: app, labels: {{ team: web }} }}\n{}",
        p.vars, p.resources
    )
}

fn testbed() -> PathBuf {
    std::env::var_os("MESHCTL_CORPUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_meshctl-testbed")))
}

fn run(dir: &Path, args: &[String]) -> Output {
    Command::new(testbed())
        .args(args)
        .current_dir(dir)
        .env("MESHCTL_FAKE_CLOUD", dir.join("cloud.json"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every file below `dir`, read as bytes (state databases, their backups and logs).
fn files_below(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_below(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Runs every command over one placement; returns `placement: where` for each leak.
fn leaks_of(p: &Placement) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stack.yaml"), stack_text(p)).unwrap();
    for (name, text) in &p.files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let with = |base: &[&str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(p.args.iter().cloned())
            .collect()
    };
    let commands: Vec<Vec<String>> = vec![
        with(&["validate", "-f", "stack.yaml"]),
        with(&["validate", "-f", "stack.yaml", "--format", "json"]),
        with(&["plan", "-f", "stack.yaml", "--refresh=false"]),
        with(&[
            "plan",
            "-f",
            "stack.yaml",
            "--refresh=false",
            "--format",
            "markdown",
        ]),
        with(&[
            "plan",
            "-f",
            "stack.yaml",
            "--refresh=false",
            "--format",
            "json",
        ]),
        with(&[
            "plan",
            "-f",
            "stack.yaml",
            "--refresh=false",
            "--out",
            "saved.plan",
        ]),
        with(&["show", "saved.plan", "-f", "stack.yaml"]),
        with(&["show", "saved.plan", "-f", "stack.yaml", "--format", "json"]),
        with(&[
            "show",
            "saved.plan",
            "-f",
            "stack.yaml",
            "--format",
            "markdown",
        ]),
        with(&[
            "apply",
            "-f",
            "stack.yaml",
            "--auto-approve",
            "--events",
            "json",
        ]),
        with(&["apply", "-f", "stack.yaml", "--auto-approve"]),
        // After the apply: what state records, and a plan against it.
        with(&[
            "plan",
            "-f",
            "stack.yaml",
            "--refresh=false",
            "--format",
            "json",
        ]),
        with(&["plan", "-f", "stack.yaml"]),
        with(&["state", "list", "-f", "stack.yaml"]),
        with(&["state", "show", "-f", "stack.yaml", "manifest.planted"]),
        with(&["state", "show", "-f", "stack.yaml", "helm_release.kiali"]),
        with(&["state", "show", "-f", "stack.yaml", "namespace.noisy"]),
        with(&["state", "history", "-f", "stack.yaml"]),
        with(&["drift", "-f", "stack.yaml"]),
    ];
    let mut leaks = Vec::new();
    for args in &commands {
        let out = run(dir.path(), args);
        for secret in &p.secrets {
            for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                if contains(bytes, secret) {
                    leaks.push(format!(
                        "{}: `{}` {stream} shows {secret}",
                        p.name,
                        args.join(" ")
                    ));
                }
            }
        }
    }
    let mut files = Vec::new();
    files_below(&dir.path().join("state"), &mut files);
    for (path, bytes) in &files {
        for secret in &p.secrets {
            if contains(bytes, secret) {
                leaks.push(format!(
                    "{}: state file {} holds {secret}",
                    p.name,
                    path.strip_prefix(dir.path()).unwrap_or(path).display()
                ));
            }
        }
    }
    leaks
}

#[test]
fn no_planted_secret_reaches_any_output_or_state() {
    let corpus = corpus();
    assert!(
        corpus.len() >= 20,
        "the corpus has {} placements",
        corpus.len()
    );
    let leaks: Vec<String> = corpus.iter().flat_map(leaks_of).collect();
    assert!(
        leaks.is_empty(),
        "{} leak(s):\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// Placements that validate are really planned and applied (so the corpus reaches plans, events
/// and state, not only validation errors), and a stack whose secrets are recorded as digests plans
/// no change until a secret changes: then it plans an update, still without showing either.
#[test]
fn recorded_secrets_plan_no_change_until_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let stack = |token: &str| {
        format!(
            "stack: t\nregion: us-east-1\nkube: {{ kubeconfig: kubeconfig.yaml }}\nresources:\n  - {{ kind: namespace, name: app }}\n{}",
            config_map(&format!("{{ token: \"{token}\", mode: plain }}"))
        )
    };
    let args = |rest: &[&str]| -> Vec<String> { rest.iter().map(|s| s.to_string()).collect() };
    std::fs::write(dir.path().join("stack.yaml"), stack(JWT)).unwrap();
    let applied = run(
        dir.path(),
        &args(&["apply", "-f", "stack.yaml", "--auto-approve"]),
    );
    let stderr = String::from_utf8_lossy(&applied.stderr).to_string();
    assert!(applied.status.success(), "{stderr}");
    let again = run(dir.path(), &args(&["plan", "-f", "stack.yaml"]));
    let stdout = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(stdout.starts_with("No changes."), "{stdout}");

    let other = JWT.replace("cGxhbnRlZDAx", "b3RoZXJvbmUx");
    std::fs::write(dir.path().join("stack.yaml"), stack(&other)).unwrap();
    let changed = run(dir.path(), &args(&["plan", "-f", "stack.yaml"]));
    let stdout = String::from_utf8_lossy(&changed.stdout).to_string();
    assert!(stdout.contains("1 to update"), "{stdout}");
    assert!(stdout.contains("<redacted sha256:"), "{stdout}");
    assert!(
        !stdout.contains(JWT) && !stdout.contains(&other),
        "{stdout}"
    );
    let applied = run(
        dir.path(),
        &args(&["apply", "-f", "stack.yaml", "--auto-approve"]),
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    // The fake cloud got the real value: redaction is for what is shown and recorded only.
    let cloud = std::fs::read_to_string(dir.path().join("cloud.json")).unwrap();
    assert!(cloud.contains(&other), "{cloud}");
}

/// A rollback cannot put back a secret state keeps only as a digest: undoing the update of a
/// resource whose record holds one fails for that resource (left tainted, its new value in place)
/// instead of writing the digest into the world.
#[test]
fn a_rollback_never_writes_a_digest_into_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let stack = |token: &str, label: &str| {
        format!(
            "stack: t\nregion: us-east-1\nkube: {{ kubeconfig: kubeconfig.yaml }}\nresources:\n  - {{ kind: namespace, name: app }}\n{}  - {{ kind: namespace, name: later, labels: {{ v: \"{label}\" }}, depends_on: [manifest.planted] }}\n",
            config_map(&format!("{{ token: \"{token}\" }}"))
        )
    };
    let apply = ["apply", "-f", "stack.yaml", "--auto-approve"].map(String::from);
    std::fs::write(dir.path().join("stack.yaml"), stack(JWT, "1")).unwrap();
    let first = run(dir.path(), &apply);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let other = JWT.replace("cGxhbnRlZDAx", "b3RoZXJvbmUx");
    std::fs::write(dir.path().join("stack.yaml"), stack(&other, "2")).unwrap();
    // The ConfigMap's update succeeds; the namespace after it fails, so the run rolls back.
    let failed = Command::new(testbed())
        .args(&apply)
        .current_dir(dir.path())
        .env("MESHCTL_FAKE_CLOUD", dir.path().join("cloud.json"))
        .env("MESHCTL_FAKE_FAIL", "namespace.later:update")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr).to_string();
    assert!(!failed.status.success(), "{stderr}");
    assert!(stderr.contains("cannot be written back"), "{stderr}");
    let cloud = std::fs::read_to_string(dir.path().join("cloud.json")).unwrap();
    assert!(!cloud.contains("<redacted"), "{cloud}");
    assert!(cloud.contains(&other), "{cloud}");
    let shown = run(
        dir.path(),
        &["state", "show", "-f", "stack.yaml", "manifest.planted"].map(String::from),
    );
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("tainted"), "{shown}");
}
