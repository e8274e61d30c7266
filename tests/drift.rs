//! `meshctl drift` and `meshctl refresh` end to end against the sandbox: seed 001 (with a weighted
//! route and an `apps` namespace) is applied, changed behind meshctl's back with independent
//! clients (the AWS SDK, `kubectl`), and every report format must name each change by its field
//! path with the recorded and live values; `apply` puts the world back (checked with kubectl and
//! the SDK, not meshctl) and `refresh` accepts the live values into state instead.

mod support;

use aws_config::SdkConfig;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::sandbox::{assert_exit, show, Sandbox};
use support::{records, runtime, text, zone_id};

const STACK: &str = "moamoa";
const CLUSTER: &str = "moamoa-main";
const DOMAIN: &str = "moamoa-news.com";
const NODEGROUP: &str = "workers";

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// The stack under test
// ---------------------------------------------------------------------------------------------

/// Seed 001 with a 90/10 weighted route and an `apps` namespace, written into `dir`.
fn derived_stack(dir: &Path) -> PathBuf {
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks/seed-001-https.yaml"),
    )
    .unwrap();
    let single =
        "        route:\n          - destination: { host: gatewayserver-service, port: 8072 }\n";
    assert!(seed.contains(single), "seed 001 has its single route");
    let weighted = seed.replace(
        single,
        "        route:\n\
         \x20         - destination: { host: gatewayserver-service, port: 8072 }\n\
         \x20           weight: 90\n\
         \x20         - destination: { host: gatewayserver-canary, port: 8072 }\n\
         \x20           weight: 10\n",
    );
    let derived = format!(
        "{}\n  - kind: namespace\n    name: apps\n    labels: {{ istio-injection: enabled }}\n",
        weighted.trim_end()
    );
    let path = dir.join("stack.yaml");
    std::fs::write(&path, derived).unwrap();
    path
}

/// What the stack declares: every resource is recorded once applied, so drift checks them all
/// and reports every kind.
struct Declared {
    kinds: BTreeSet<String>,
    resources: usize,
}

fn read_declared(stack: &Path) -> Declared {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(stack).unwrap()).unwrap();
    let resources = yaml["resources"].as_sequence().unwrap();
    Declared {
        kinds: resources
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_string())
            .collect(),
        resources: resources.len(),
    }
}

// ---------------------------------------------------------------------------------------------
// The out-of-band changes and the independent reads that check them
// ---------------------------------------------------------------------------------------------

const ANNOTATION: &str = "alb.ingress.kubernetes.io/healthcheck-path";

/// A changed field meshctl must report: resource address and kind, field path, recorded → live.
struct FieldDrift {
    address: &'static str,
    kind: &'static str,
    path: String,
    recorded: Value,
    live: Value,
}

fn field(
    address: &'static str,
    kind: &'static str,
    path: &str,
    recorded: Value,
    live: Value,
) -> FieldDrift {
    FieldDrift {
        address,
        kind,
        path: path.to_string(),
        recorded,
        live,
    }
}

/// Every changed field that `make_out_of_band_changes` makes.
fn expected_changes() -> Vec<FieldDrift> {
    vec![
        field(
            "dns_record.apex",
            "dns_record",
            "alias",
            json!("alb.public"),
            json!("elsewhere.example.com"),
        ),
        field(
            "alb.public",
            "alb",
            &format!("Ingress istio-system/public metadata.annotations[\"{ANNOTATION}\"]"),
            json!("/healthz/ready"),
            json!("/healthz/live"),
        ),
        field(
            "nodegroup.workers",
            "nodegroup",
            "scaling.desired",
            json!(2),
            json!(3),
        ),
        field(
            "virtual_service.gateway-server",
            "virtual_service",
            "VirtualService default/gateway-server spec.http[0].route[0].weight",
            json!(90),
            json!(50),
        ),
        field(
            "virtual_service.gateway-server",
            "virtual_service",
            "VirtualService default/gateway-server spec.http[0].route[1].weight",
            json!(10),
            json!(50),
        ),
        field(
            "namespace.apps",
            "namespace",
            "Namespace apps metadata.labels.istio-injection",
            json!("enabled"),
            json!("disabled"),
        ),
    ]
}

const DELETED_ADDRESS: &str = "gateway.monitor-gateway";
const DELETED_OBJECT: &str = "Gateway istio-system/monitor-gateway";

/// Every address that must be reported after `make_out_of_band_changes`, and nothing else.
fn expected_addresses() -> BTreeSet<String> {
    let mut addresses: BTreeSet<String> = expected_changes()
        .iter()
        .map(|c| c.address.to_string())
        .collect();
    addresses.insert(DELETED_ADDRESS.to_string());
    addresses
}

/// The apex A record's alias DNS name, lower-cased, without the trailing dot.
fn apex_alias(rt: &tokio::runtime::Runtime, config: &SdkConfig) -> String {
    let zone = records(rt, config, DOMAIN);
    let alias = zone[&format!("{DOMAIN}. A")]
        .alias_target()
        .expect("the apex record is an alias");
    alias.dns_name().trim_end_matches('.').to_ascii_lowercase()
}

/// Points the apex alias somewhere else with Route53's own API, as a console user would: only
/// the DNS name changes (same target hosted zone, same evaluate-target-health).
fn repoint_apex(rt: &tokio::runtime::Runtime, config: &SdkConfig, dns_name: &str) {
    use aws_sdk_route53::types::{
        AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, RrType,
    };
    let current = records(rt, config, DOMAIN)[&format!("{DOMAIN}. A")]
        .alias_target()
        .expect("the apex record is an alias")
        .clone();
    let zone = zone_id(rt, config, DOMAIN);
    rt.block_on(async {
        let set = ResourceRecordSet::builder()
            .name(format!("{DOMAIN}."))
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(current.hosted_zone_id())
                    .dns_name(dns_name)
                    .evaluate_target_health(current.evaluate_target_health())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let change = Change::builder()
            .action(ChangeAction::Upsert)
            .resource_record_set(set)
            .build()
            .unwrap();
        aws_sdk_route53::Client::new(config)
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
            .send()
            .await
            .expect("moto accepts an alias UPSERT");
    });
}

/// The nodegroup's desired size, read from EKS.
fn nodegroup_desired(rt: &tokio::runtime::Runtime, config: &SdkConfig) -> i32 {
    rt.block_on(async {
        let described = aws_sdk_eks::Client::new(config)
            .describe_nodegroup()
            .cluster_name(CLUSTER)
            .nodegroup_name(NODEGROUP)
            .send()
            .await
            .unwrap();
        described
            .nodegroup()
            .and_then(|g| g.scaling_config())
            .and_then(|s| s.desired_size())
            .expect("the nodegroup has a desired size")
    })
}

/// Scales the nodegroup with EKS's own UpdateNodegroupConfig (moto implements it).
fn scale_nodegroup(rt: &tokio::runtime::Runtime, config: &SdkConfig, desired: i32) {
    rt.block_on(async {
        aws_sdk_eks::Client::new(config)
            .update_nodegroup_config()
            .cluster_name(CLUSTER)
            .nodegroup_name(NODEGROUP)
            .scaling_config(
                aws_sdk_eks::types::NodegroupScalingConfig::builder()
                    .desired_size(desired)
                    .build(),
            )
            .send()
            .await
            .expect("moto accepts UpdateNodegroupConfig");
    });
}

/// The ALB's DNS name, from the Ingress status (written by the sandbox's LB controller).
fn alb_dns_name(sandbox: &Sandbox) -> String {
    let ingress = sandbox.kubectl(&["get", "ingress", "public", "-n", "istio-system"]);
    ingress["status"]["loadBalancer"]["ingress"][0]["hostname"]
        .as_str()
        .expect("the Ingress has a load balancer hostname")
        .to_ascii_lowercase()
}

/// Health check paths of the ALB's target groups, read from ELBv2.
fn target_group_health_paths(
    rt: &tokio::runtime::Runtime,
    config: &SdkConfig,
    dns_name: &str,
) -> Vec<String> {
    rt.block_on(async {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
        let balancers = elb.describe_load_balancers().send().await.unwrap();
        let arn = balancers
            .load_balancers()
            .iter()
            .find(|b| b.dns_name().map(str::to_ascii_lowercase).as_deref() == Some(dns_name))
            .unwrap_or_else(|| panic!("no load balancer {dns_name}"))
            .load_balancer_arn()
            .unwrap()
            .to_string();
        let groups = elb
            .describe_target_groups()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap();
        groups
            .target_groups()
            .iter()
            .map(|g| g.health_check_path().unwrap_or_default().to_string())
            .collect()
    })
}

fn ingress_annotation(sandbox: &Sandbox) -> Value {
    let ingress = sandbox.kubectl(&["get", "ingress", "public", "-n", "istio-system"]);
    ingress["metadata"]["annotations"][ANNOTATION].clone()
}

fn route_weights(sandbox: &Sandbox) -> Vec<Value> {
    let vs = sandbox.kubectl(&["get", "virtualservice", "gateway-server", "-n", "default"]);
    vs["spec"]["http"][0]["route"]
        .as_array()
        .expect("the VirtualService has routes")
        .iter()
        .map(|r| r["weight"].clone())
        .collect()
}

fn namespace_label(sandbox: &Sandbox) -> Value {
    let namespace = sandbox.kubectl(&["get", "namespace", "apps"]);
    namespace["metadata"]["labels"]["istio-injection"].clone()
}

fn set_namespace_label(sandbox: &Sandbox, value: &str) {
    sandbox.kubectl_run(&[
        "label",
        "namespace",
        "apps",
        &format!("istio-injection={value}"),
        "--overwrite",
    ]);
    assert_eq!(namespace_label(sandbox), json!(value));
}

/// The six out-of-band changes the issue names, each with an independent client, each read
/// back with that client before meshctl looks.
fn make_out_of_band_changes(sandbox: &Sandbox, rt: &tokio::runtime::Runtime, config: &SdkConfig) {
    // Route53: the apex alias now points elsewhere.
    repoint_apex(rt, config, "elsewhere.example.com");
    assert_eq!(apex_alias(rt, config), "elsewhere.example.com");

    // The ALB's health check path annotation, by hand.
    sandbox.kubectl_run(&[
        "annotate",
        "ingress",
        "public",
        "-n",
        "istio-system",
        &format!("{ANNOTATION}=/healthz/live"),
        "--overwrite",
    ]);
    assert_eq!(ingress_annotation(sandbox), json!("/healthz/live"));

    // EKS: the nodegroup scaled from 2 to 3.
    scale_nodegroup(rt, config, 3);
    assert_eq!(nodegroup_desired(rt, config), 3);

    // The canary weights moved to 50/50 with a JSON patch.
    sandbox.kubectl_run(&[
        "patch",
        "virtualservice",
        "gateway-server",
        "-n",
        "default",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/http/0/route/0/weight","value":50},
            {"op":"replace","path":"/spec/http/0/route/1/weight","value":50}]"#,
    ]);
    assert_eq!(route_weights(sandbox), [json!(50), json!(50)]);

    // The Gateway deleted.
    sandbox.kubectl_run(&["delete", "gateway", "monitor-gateway", "-n", "istio-system"]);
    let gone = sandbox.kubectl_output(&["get", "gateway", "monitor-gateway", "-n", "istio-system"]);
    assert!(
        !gone.status.success(),
        "the Gateway is gone: {}",
        show(&gone)
    );

    // Sidecar injection switched off for the namespace.
    set_namespace_label(sandbox, "disabled");
}

/// Every value the stack says is back, read with kubectl and the SDK.
fn assert_world_restored(sandbox: &Sandbox, rt: &tokio::runtime::Runtime, config: &SdkConfig) {
    let alb = alb_dns_name(sandbox);
    assert_eq!(
        apex_alias(rt, config),
        alb.trim_start_matches("dualstack."),
        "the apex alias points at the ALB again"
    );
    assert_eq!(ingress_annotation(sandbox), json!("/healthz/ready"));
    // The LB controller follows the annotation back to the target groups.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let paths = target_group_health_paths(rt, config, &alb);
        if !paths.is_empty() && paths.iter().all(|p| p == "/healthz/ready") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "target groups health-check /healthz/ready again: {paths:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(nodegroup_desired(rt, config), 2);
    assert_eq!(route_weights(sandbox), [json!(90), json!(10)]);
    let gateway = sandbox.kubectl(&["get", "gateway", "monitor-gateway", "-n", "istio-system"]);
    assert_eq!(gateway["metadata"]["name"], "monitor-gateway");
    assert_eq!(namespace_label(sandbox), json!("enabled"));
}

// ---------------------------------------------------------------------------------------------
// The four report formats
// ---------------------------------------------------------------------------------------------

/// `meshctl drift --format FORMAT`, asserting its exit code.
fn drift(sandbox: &Sandbox, stack: &Path, state: &Path, format: &str, code: i32) -> Output {
    let output = sandbox.meshctl(stack, state, &["drift", "--format", format]);
    assert_exit(&output, code, &format!("drift --format {format}"));
    output
}

fn parse_json(output: &Output, what: &str) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{what} is not JSON: {e}\n{}", show(output)))
}

/// The JSON report's envelope, with `drifted` drifted resources.
fn check_json_envelope(report: &Value, drifted: usize, declared: &Declared) {
    assert_eq!(report["format_version"], 1, "{report:#}");
    assert_eq!(report["stack"], STACK, "{report:#}");
    let checked_at = report["checked_at"].as_str().unwrap_or_default();
    assert!(
        checked_at.contains('T') && checked_at.ends_with('Z'),
        "checked_at is RFC 3339 UTC: {report:#}"
    );
    assert_eq!(
        report["resources_checked"], declared.resources,
        "every recorded resource was checked: {report:#}"
    );
    assert_eq!(report["drifted"], drifted, "{report:#}");
    assert_eq!(
        report["resources"].as_array().map(Vec::len),
        Some(drifted),
        "{report:#}"
    );
    assert_eq!(report["not_read"], json!([]), "{report:#}");
}

/// The JSON report names each change exactly, the deleted Gateway, and nothing else.
fn check_json_drift(report: &Value, declared: &Declared) {
    let expected = expected_changes();
    check_json_envelope(report, expected_addresses().len(), declared);
    let resources = report["resources"].as_array().unwrap();
    let addresses: BTreeSet<String> = resources
        .iter()
        .map(|r| r["address"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(addresses, expected_addresses(), "{report:#}");
    for resource in resources {
        let address = resource["address"].as_str().unwrap();
        if address == DELETED_ADDRESS {
            assert_eq!(resource["kind"], "gateway", "{resource:#}");
            assert_eq!(resource["drift"], "deleted", "{resource:#}");
            assert_eq!(resource["objects"], json!([DELETED_OBJECT]), "{resource:#}");
            continue;
        }
        let want: Vec<&FieldDrift> = expected.iter().filter(|c| c.address == address).collect();
        assert_eq!(resource["kind"], want[0].kind, "{resource:#}");
        assert_eq!(resource["drift"], "changed", "{resource:#}");
        let got: BTreeSet<String> = resource["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("{address} lists its fields: {resource:#}"))
            .iter()
            .map(|f| {
                json!({"path": f["path"], "recorded": f["recorded"], "live": f["live"]}).to_string()
            })
            .collect();
        let want: BTreeSet<String> = want
            .iter()
            .map(|c| json!({"path": c.path, "recorded": c.recorded, "live": c.live}).to_string())
            .collect();
        assert_eq!(got, want, "fields of {address}: {resource:#}");
    }
}

/// The resource header lines of the text report (`~ ADDR: changed outside meshctl`, …).
fn text_headers(report: &str) -> BTreeSet<String> {
    report
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(" outside meshctl"))
        .filter_map(|l| {
            let (marker, rest) = l.split_once(' ')?;
            ["~", "-", "!", "-/+", "+"]
                .contains(&marker)
                .then(|| rest.split_once(':').map(|(a, _)| a.to_string()))?
        })
        .collect()
}

fn check_text_drift(report: &str) {
    assert_eq!(text_headers(report), expected_addresses(), "{report}");
    for change in expected_changes() {
        let header = format!("~ {}: changed outside meshctl", change.address);
        assert!(
            report.lines().any(|l| l.trim() == header),
            "`{header}` in:\n{report}"
        );
        let line = format!("{}: {} → {}", change.path, change.recorded, change.live);
        assert!(
            report.lines().any(|l| l.trim() == line),
            "`{line}` in:\n{report}"
        );
    }
    let header = format!("- {DELETED_ADDRESS}: deleted outside meshctl");
    assert!(
        report.lines().any(|l| l.trim() == header),
        "`{header}` in:\n{report}"
    );
    let line = format!("{DELETED_OBJECT} no longer exists");
    assert!(
        report.lines().any(|l| l.trim() == line),
        "`{line}` in:\n{report}"
    );
}

/// The table rows of a Markdown report, as trimmed cells (the header row included).
fn markdown_rows(report: &str) -> Vec<Vec<String>> {
    report
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with('|') && l.ends_with('|') && !l.starts_with("|-") && !l.starts_with("| -")
        })
        .map(|l| {
            l[1..l.len() - 1]
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn check_markdown_drift(report: &str) {
    let rows = markdown_rows(report);
    let header = ["Resource", "Drift", "Field", "Recorded", "Live"];
    assert!(
        rows.iter().any(|r| r == &header),
        "the table header in:\n{report}"
    );
    let addresses: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.as_slice() != header)
        .map(|r| r[0].trim_matches('`').to_string())
        .collect();
    assert_eq!(addresses, expected_addresses(), "{report}");
    for change in expected_changes() {
        let want = [
            format!("`{}`", change.address),
            "changed".to_string(),
            format!("`{}`", change.path),
            format!("`{}`", change.recorded),
            format!("`{}`", change.live),
        ];
        assert!(
            rows.iter().any(|r| r == &want),
            "row {want:?} in:\n{report}"
        );
    }
    // The deleted resource's row names the object that is gone.
    assert!(
        rows.iter().any(|r| r[0] == format!("`{DELETED_ADDRESS}`")
            && r.get(1).map(String::as_str) == Some("deleted")
            && r.get(2) == Some(&format!("`{DELETED_OBJECT}`"))),
        "a `deleted` row for {DELETED_ADDRESS} naming {DELETED_OBJECT} in:\n{report}"
    );
}

/// One sample of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text exposition format (label values unescaped).
fn prometheus_samples(report: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in report
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, mut rest) = match line.find('{') {
            Some(brace) => (&line[..brace], &line[brace + 1..]),
            None => {
                let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
                samples.push(Sample {
                    name: name.to_string(),
                    labels: BTreeMap::new(),
                    value: parse_value(rest, line),
                });
                continue;
            }
        };
        let mut labels = BTreeMap::new();
        loop {
            rest = rest.trim_start_matches(',');
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest
                .split_once("=\"")
                .unwrap_or_else(|| panic!("a label in `{line}`"));
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => panic!("a dangling escape in `{line}`"),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => panic!("an unterminated label value in `{line}`"),
                }
            };
            labels.insert(key.to_string(), value);
            rest = &after[end + 1..];
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value: parse_value(rest, line),
        });
    }
    samples
}

fn parse_value(rest: &str, line: &str) -> f64 {
    rest.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a value in `{line}`"))
}

/// The metrics every run has: one resources gauge per recorded kind (`drifted` gives the
/// non-zero ones), the run's timestamp and success.
fn check_prometheus_common(
    samples: &[Sample],
    report: &str,
    declared: &Declared,
    drifted: &BTreeMap<&str, f64>,
    started: f64,
) {
    let resources: BTreeMap<String, f64> = samples
        .iter()
        .filter(|s| s.name == "meshctl_drift_resources")
        .map(|s| {
            assert_eq!(
                s.labels.get("stack").map(String::as_str),
                Some(STACK),
                "{report}"
            );
            (s.labels["kind"].clone(), s.value)
        })
        .collect();
    let want: BTreeMap<String, f64> = declared
        .kinds
        .iter()
        .map(|k| (k.clone(), drifted.get(k.as_str()).copied().unwrap_or(0.0)))
        .collect();
    assert_eq!(
        resources, want,
        "meshctl_drift_resources per kind in:\n{report}"
    );

    let one = |name: &str| -> f64 {
        let found: Vec<&Sample> = samples.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "one {name} in:\n{report}");
        assert_eq!(
            found[0].labels,
            BTreeMap::from([("stack".to_string(), STACK.to_string())]),
            "{report}"
        );
        found[0].value
    };
    assert_eq!(one("meshctl_drift_success"), 1.0, "{report}");
    let at = one("meshctl_drift_last_run_timestamp_seconds");
    assert!(
        at >= started.floor() - 1.0 && at <= unix_now() + 1.0,
        "last run timestamp {at} is this run's ({started}…now):\n{report}"
    );
}

fn check_prometheus_drift(report: &str, declared: &Declared, started: f64) {
    let samples = prometheus_samples(report);
    let mut drifted: BTreeMap<&str, f64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for change in expected_changes() {
        if seen.insert(change.address) {
            *drifted.entry(change.kind).or_default() += 1.0;
        }
    }
    *drifted.entry("gateway").or_default() += 1.0;
    check_prometheus_common(&samples, report, declared, &drifted, started);

    let fields: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "meshctl_drift_field")
        .collect();
    for change in expected_changes() {
        let want = BTreeMap::from([
            ("stack".to_string(), STACK.to_string()),
            ("address".to_string(), change.address.to_string()),
            ("drift".to_string(), "changed".to_string()),
            ("field".to_string(), change.path.clone()),
        ]);
        assert!(
            fields.iter().any(|s| s.labels == want && s.value == 1.0),
            "meshctl_drift_field {want:?} 1 in:\n{report}"
        );
    }
    // A deleted resource's series names the object that is gone (docs/drift.md).
    let deleted = BTreeMap::from([
        ("stack".to_string(), STACK.to_string()),
        ("address".to_string(), DELETED_ADDRESS.to_string()),
        ("drift".to_string(), "deleted".to_string()),
        ("field".to_string(), DELETED_OBJECT.to_string()),
    ]);
    assert!(
        fields.iter().any(|s| s.labels == deleted && s.value == 1.0),
        "meshctl_drift_field {deleted:?} 1 in:\n{report}"
    );
    // Those and nothing else.
    assert_eq!(fields.len(), expected_changes().len() + 1, "{report}");
    // The label value is escaped as the format says: quotes as \".
    let escaped =
        format!("field=\"Ingress istio-system/public metadata.annotations[\\\"{ANNOTATION}\\\"]\"");
    assert!(report.contains(&escaped), "`{escaped}` in:\n{report}");
}

/// Drift in all four formats finds nothing (exit 0).
fn assert_no_drift(sandbox: &Sandbox, stack: &Path, state: &Path, declared: &Declared) {
    let output = drift(sandbox, stack, state, "text", 0);
    let report = text(&output.stdout);
    assert!(
        report
            .lines()
            .any(|l| l.trim_start().starts_with("No drift")),
        "a `No drift` line:\n{}",
        show(&output)
    );
    assert!(text_headers(&report).is_empty(), "{report}");

    let output = drift(sandbox, stack, state, "json", 0);
    let report = parse_json(&output, "drift --format json");
    check_json_envelope(&report, 0, declared);

    let output = drift(sandbox, stack, state, "markdown", 0);
    let report = text(&output.stdout);
    assert!(
        markdown_rows(&report)
            .iter()
            .all(|r| !r[0].starts_with('`')),
        "no drifted rows:\n{report}"
    );

    let started = unix_now();
    let output = drift(sandbox, stack, state, "prometheus", 0);
    let report = text(&output.stdout);
    let samples = prometheus_samples(&report);
    check_prometheus_common(&samples, &report, declared, &BTreeMap::new(), started);
    assert!(
        !samples.iter().any(|s| s.name == "meshctl_drift_field"),
        "no field lines:\n{report}"
    );
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[test]
fn drift_reports_every_out_of_band_change_apply_restores_and_refresh_accepts() {
    let rt = runtime();
    let (sandbox, config) = Sandbox::start(CLUSTER, DOMAIN, &rt);
    let dir = tempfile::tempdir().unwrap();
    let stack = derived_stack(dir.path());
    let state = dir.path().join("state");
    let declared = read_declared(&stack);

    let validated = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(["validate", "-f"])
        .arg(&stack)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_exit(&validated, 0, "validate of the derived stack");

    let kube_before = sandbox.kube_world();
    assert_exit(
        &sandbox.meshctl(&stack, &state, &["apply", "--auto-approve"]),
        0,
        "apply of the derived stack",
    );
    assert_eq!(route_weights(&sandbox), [json!(90), json!(10)]);
    assert_eq!(namespace_label(&sandbox), json!("enabled"));

    // 1. The world as applied (controllers have written status, finalizers, …): no drift.
    assert_no_drift(&sandbox, &stack, &state, &declared);

    // 2. Six changes behind meshctl's back.
    make_out_of_band_changes(&sandbox, &rt, &config);

    // 3. Every format names every change, and nothing else.
    let output = drift(&sandbox, &stack, &state, "json", 2);
    let report = parse_json(&output, "drift --format json");
    check_json_drift(&report, &declared);

    let output = drift(&sandbox, &stack, &state, "text", 2);
    check_text_drift(&text(&output.stdout));

    let output = drift(&sandbox, &stack, &state, "markdown", 2);
    check_markdown_drift(&text(&output.stdout));

    let started = unix_now();
    let output = drift(&sandbox, &stack, &state, "prometheus", 2);
    check_prometheus_drift(&text(&output.stdout), &declared, started);

    // `--output FILE` writes the report there (and only there), leaving no temporary file.
    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("drift.json");
    let output = sandbox.meshctl(
        &stack,
        &state,
        &[
            "drift",
            "--format",
            "json",
            "--output",
            out_file.to_str().unwrap(),
        ],
    );
    assert_exit(&output, 2, "drift --format json --output FILE");
    assert!(
        text(&output.stdout).trim().is_empty(),
        "the report goes to the file, not stdout:\n{}",
        show(&output)
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap())
        .expect("the written report is JSON");
    check_json_drift(&written, &declared);
    let files: Vec<String> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["drift.json"], "no temporary file left behind");

    // 4. apply puts the world back, as kubectl and the SDK see it; then no drift. Its plan
    //    first names every field it takes back.
    let plan = sandbox.meshctl(&stack, &state, &["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 2, "plan after drift");
    let planned = text(&plan.stdout);
    for change in expected_changes() {
        let line = format!("{}: {} → {}", change.path, change.live, change.recorded);
        assert!(planned.contains(&line), "`{line}` in:\n{}", show(&plan));
    }
    assert!(
        planned.contains(&format!("+ {DELETED_ADDRESS} (create)")),
        "the deleted Gateway is created again:\n{}",
        show(&plan)
    );
    let applied = sandbox.meshctl(&stack, &state, &["apply", "--auto-approve"]);
    assert_exit(&applied, 0, "apply after drift");
    assert_world_restored(&sandbox, &rt, &config);
    assert_no_drift(&sandbox, &stack, &state, &declared);

    // 5. refresh accepts a live value into state: drift is clean, plan still wants the stack's.
    set_namespace_label(&sandbox, "disabled");
    let label_path = "Namespace apps metadata.labels.istio-injection";
    let refreshed = sandbox.meshctl(&stack, &state, &["refresh", "--auto-approve"]);
    assert_exit(&refreshed, 0, "refresh");
    let shown = text(&refreshed.stdout);
    assert!(
        shown.contains("~ namespace.apps: changed outside meshctl")
            && shown.contains(&format!("{label_path}: \"enabled\" → \"disabled\"")),
        "refresh shows the drifted field:\n{}",
        show(&refreshed)
    );
    assert_eq!(
        namespace_label(&sandbox),
        json!("disabled"),
        "refresh changes nothing live"
    );
    let output = drift(&sandbox, &stack, &state, "json", 0);
    check_json_envelope(&parse_json(&output, "drift after refresh"), 0, &declared);
    let plan = sandbox.meshctl(&stack, &state, &["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 2, "plan after refresh: the stack still says enabled");
    let planned = text(&plan.stdout);
    assert!(
        planned.contains("namespace.apps")
            && planned.contains(&format!("{label_path}: \"disabled\" → \"enabled\"")),
        "the plan shows the label going back:\n{}",
        show(&plan)
    );
    assert_exit(
        &sandbox.meshctl(&stack, &state, &["apply", "--auto-approve"]),
        0,
        "apply after refresh",
    );
    assert_eq!(namespace_label(&sandbox), json!("enabled"));
    assert_world_restored(&sandbox, &rt, &config);
    assert_no_drift(&sandbox, &stack, &state, &declared);
    let plan = sandbox.meshctl(&stack, &state, &["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0, "plan after the last apply");

    // A deleted resource others use stays in state through a refresh (the VirtualService is
    // rendered from the Gateway's recorded name), and apply brings it back.
    sandbox.kubectl_run(&["delete", "gateway", "monitor-gateway", "-n", "istio-system"]);
    let refreshed = sandbox.meshctl(&stack, &state, &["refresh", "--auto-approve"]);
    assert_exit(&refreshed, 0, "refresh with a deleted Gateway");
    assert!(
        text(&refreshed.stderr).contains(&format!(
            "{DELETED_ADDRESS} stays in state although it was deleted: it is used by virtual_service.gateway-server"
        )),
        "refresh says why the Gateway stays:\n{}",
        show(&refreshed)
    );
    let report = parse_json(&drift(&sandbox, &stack, &state, "json", 2), "drift");
    let addresses: Vec<&Value> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["address"])
        .collect();
    assert_eq!(addresses, [DELETED_ADDRESS], "{report:#}");
    assert_eq!(report["resources"][0]["drift"], "deleted", "{report:#}");
    assert_exit(
        &sandbox.meshctl(&stack, &state, &["apply", "--auto-approve"]),
        0,
        "apply recreating the Gateway",
    );
    assert_world_restored(&sandbox, &rt, &config);
    assert_no_drift(&sandbox, &stack, &state, &declared);

    // A record forgotten with `state rm`: what used its outputs can no longer be rendered, yet
    // drift still reads it (for existence) instead of failing; apply takes the object back.
    assert_exit(
        &sandbox.meshctl(&stack, &state, &["state", "rm", DELETED_ADDRESS]),
        0,
        "state rm of the Gateway",
    );
    let report = parse_json(&drift(&sandbox, &stack, &state, "json", 0), "drift");
    assert_eq!(
        report["resources_checked"],
        declared.resources - 1,
        "{report:#}"
    );
    assert_exit(
        &sandbox.meshctl(&stack, &state, &["apply", "--auto-approve"]),
        0,
        "apply adopting the forgotten Gateway",
    );
    assert_no_drift(&sandbox, &stack, &state, &declared);

    // 6. destroy leaves nothing behind.
    assert_exit(
        &sandbox.meshctl(&stack, &state, &["destroy", "--auto-approve"]),
        0,
        "destroy",
    );
    assert_eq!(sandbox.kube_world(), kube_before);
    let clusters = rt.block_on(async {
        aws_sdk_eks::Client::new(&config)
            .list_clusters()
            .send()
            .await
            .unwrap()
            .clusters()
            .to_vec()
    });
    assert!(clusters.is_empty(), "no EKS cluster left: {clusters:?}");
    let left: BTreeSet<String> = records(&rt, &config, DOMAIN)
        .keys()
        .filter(|k| !k.ends_with(" NS") && !k.ends_with(" SOA"))
        .cloned()
        .collect();
    assert!(left.is_empty(), "no records left in the zone: {left:?}");
}

/// A check that cannot run exits 1, and with `--format prometheus --output FILE` still tells the
/// textfile collector it ran and failed. An empty state is such a failure (most likely the wrong
/// directory), not an all-clear. No sandbox: nothing is read from the world.
#[test]
fn a_failed_check_exits_1_and_still_writes_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let stack = derived_stack(dir.path());
    let metrics = dir.path().join("meshctl_drift.prom");
    let started = unix_now();
    let output = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(["drift", "-f"])
        .arg(&stack)
        .arg("--state")
        .arg(dir.path().join("empty-state"))
        .args(["--format", "prometheus", "--output"])
        .arg(&metrics)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_exit(&output, 1, "drift against an empty state");
    assert!(
        text(&output.stderr).contains("records no resources"),
        "{}",
        show(&output)
    );
    let written = std::fs::read_to_string(&metrics).expect("the metrics file is written");
    let samples = prometheus_samples(&written);
    let value = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} in:\n{written}"))
            .value
    };
    assert_eq!(value("meshctl_drift_success"), 0.0, "{written}");
    assert!(value("meshctl_drift_last_run_timestamp_seconds") >= started.floor());
    assert!(
        !samples.iter().any(|s| s.name == "meshctl_drift_resources"),
        "no per-kind counts from a failed check:\n{written}"
    );
}
