//! A `helm` stand-in for the sandbox: records its arguments, and installs what the real charts
//! meshctl uses would create (the AWS Load Balancer Controller, cert-manager, Istio's base, istiod
//! and gateway charts; any other chart becomes one Deployment named after the release), with
//! releases stored as real helm stores them: Secrets `sh.helm.release.v1.NAME.vN` labelled
//! owner=helm, name, status, version and the release's own `--labels` (helm 3.13+: merged over
//! the previous revision's on upgrade, the system labels refused) (data: base64 JSON, which real
//! helm also reads). As helm 3 does, an install or upgrade stores its revision `pending-install`
//! (`pending-upgrade`) with its manifest before writing any object and `deployed` (or `failed`)
//! after; another upgrade of a pending release is refused, and `uninstall` removes a pending
//! release's objects like a deployed one's. For tests only, `MESHCTL_STANDIN_PAUSE_AFTER_OBJECTS=
//! <seconds>` makes an install wait that long after writing its objects, so a test can kill it
//! half-way.
//!
//! Supported: `upgrade --install`, `install`, `upgrade`, `uninstall`/`delete`, `status`,
//! `list`/`ls`, `get values`, `repo add|update` (no-ops), `version`.

mod standin;

use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use standin::{apply_set, deep_merge, Cluster, Failure};

const MANAGER: &str = "helm";
const HELM_VERSION: &str = "v3.15.4";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    standin::record_invocation("helm", &argv);
    match run(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("Error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The parsed command line.
#[derive(Default)]
struct Args {
    positional: Vec<String>,
    namespace: Option<String>,
    kubeconfig: Option<String>,
    kube_context: Option<String>,
    install: bool,
    create_namespace: bool,
    version: Option<String>,
    values_files: Vec<String>,
    sets: Vec<(String, bool)>,
    wait: bool,
    timeout: Option<String>,
    output: Option<String>,
    all_namespaces: bool,
    short: bool,
    /// `--labels k=v,k2=v2`: the release's own labels.
    labels: Vec<(String, String)>,
}

/// The labels helm keeps for itself on a release's Secret; `--labels` may not set them.
const SYSTEM_LABELS: &[&str] = &[
    "createdAt",
    "modifiedAt",
    "name",
    "owner",
    "status",
    "version",
];

/// Flags that take a value and that the stand-in accepts without acting on.
const IGNORED_WITH_VALUE: &[&str] = &[
    "--repo",
    "--description",
    "--username",
    "--password",
    "--ca-file",
    "--cert-file",
    "--key-file",
    "--history-max",
    "--post-renderer",
    "--registry-config",
    "--repository-cache",
    "--repository-config",
];
const IGNORED_SWITCHES: &[&str] = &[
    "--atomic",
    "--wait-for-jobs",
    "--devel",
    "--reuse-values",
    "--reset-values",
    "--reset-then-reuse-values",
    "--force",
    "--cleanup-on-fail",
    "--skip-crds",
    "--debug",
    "--dependency-update",
    "--keep-history",
    "--insecure-skip-tls-verify",
    "--force-update",
    "--all",
    "-a",
];

fn parse(argv: &[String]) -> Result<Args, Failure> {
    let mut args = Args::default();
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let take = |i: &mut usize| -> Result<String, Failure> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            *i += 1;
            argv.get(*i)
                .cloned()
                .ok_or_else(|| Failure(format!("flag needs an argument: {flag}")))
        };
        match flag.as_str() {
            "-n" | "--namespace" => args.namespace = Some(take(&mut i)?),
            "--kubeconfig" => args.kubeconfig = Some(take(&mut i)?),
            "--kube-context" => args.kube_context = Some(take(&mut i)?),
            "-i" | "--install" => args.install = true,
            "--create-namespace" => args.create_namespace = true,
            "--version" => args.version = Some(take(&mut i)?),
            "-f" | "--values" => args.values_files.push(take(&mut i)?),
            "--set" => args.sets.push((take(&mut i)?, false)),
            "--set-string" => args.sets.push((take(&mut i)?, true)),
            "--wait" => args.wait = true,
            "--timeout" => args.timeout = Some(take(&mut i)?),
            "-o" | "--output" => args.output = Some(take(&mut i)?),
            "-A" | "--all-namespaces" => args.all_namespaces = true,
            "--short" => args.short = true,
            "-l" | "--labels" => {
                for pair in take(&mut i)?.split(',').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').ok_or_else(|| {
                        Failure(format!("invalid argument \"{pair}\" for \"-l, --labels\" flag: {pair} must be formatted as key=value"))
                    })?;
                    args.labels.push((key.to_string(), value.to_string()));
                }
            }
            f if IGNORED_WITH_VALUE.contains(&f) => {
                take(&mut i)?;
            }
            f if IGNORED_SWITCHES.contains(&f) => {}
            f if f.starts_with('-') && f.len() > 1 => {
                return Err(Failure(format!("unknown flag: {f}")))
            }
            _ => args.positional.push(arg.clone()),
        }
        i += 1;
    }
    Ok(args)
}

fn run(argv: &[String]) -> Result<(), Failure> {
    let args = parse(argv)?;
    let command = args.positional.first().map(String::as_str).unwrap_or("");
    match command {
        "version" => {
            if args.short {
                println!("{HELM_VERSION}+sandbox");
            } else {
                println!("version.BuildInfo{{Version:\"{HELM_VERSION}\", GitCommit:\"sandbox\", GitTreeState:\"clean\", GoVersion:\"go1.22.0\"}}");
            }
            Ok(())
        }
        "repo" => match args.positional.get(1).map(String::as_str) {
            Some("add") => {
                let name = args
                    .positional
                    .get(2)
                    .ok_or("\"helm repo add\" requires 2 arguments")?;
                println!("\"{name}\" has been added to your repositories");
                Ok(())
            }
            Some("update") => {
                println!("Hang tight while we grab the latest from your chart repositories...\nUpdate Complete. ⎈Happy Helming!⎈");
                Ok(())
            }
            _ => Err(Failure("the stand-in supports `helm repo add` and `helm repo update`".into())),
        },
        "install" | "upgrade" => install(&args, command == "install"),
        "uninstall" | "delete" | "del" | "un" => uninstall(&args),
        "status" => status(&args),
        "list" | "ls" => list(&args),
        "get" if args.positional.get(1).map(String::as_str) == Some("values") => get_values(&args),
        "" => Err(Failure("a command is required (the stand-in knows install, upgrade, uninstall, status, list, get values, repo, version)".into())),
        other => Err(Failure(format!("unknown command \"{other}\" for \"helm\""))),
    }
}

fn cluster(args: &Args) -> Result<(Cluster, String), Failure> {
    let cluster =
        Cluster::from_kubeconfig(args.kubeconfig.as_deref(), args.kube_context.as_deref())?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| cluster.namespace.clone());
    Ok((cluster, namespace))
}

/// The stored revisions of a release, oldest first: (version, decoded release).
fn releases(cluster: &Cluster, namespace: &str, name: &str) -> Result<Vec<(i64, Value)>, Failure> {
    let response = cluster.get(&format!(
        "/api/v1/namespaces/{namespace}/secrets?labelSelector=owner%3Dhelm%2Cname%3D{name}"
    ))?;
    if response.status == 404 {
        return Ok(Vec::new());
    }
    if !response.ok() {
        return Err(Failure(format!("listing releases: {}", response.message())));
    }
    let mut out: Vec<(i64, Value)> = response.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["metadata"]["labels"]["name"] == name)
        .filter_map(|s| {
            let mut release = decode_release(s)?;
            // As helm's Secret driver does: the Secret's non-system labels are the release's.
            let custom: serde_json::Map<String, Value> = s["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !SYSTEM_LABELS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            release["labels"] = Value::Object(custom);
            Some((
                s["metadata"]["labels"]["version"].as_str()?.parse().ok()?,
                release,
            ))
        })
        .collect();
    out.sort_by_key(|(v, _)| *v);
    Ok(out)
}

fn all_release_secrets(cluster: &Cluster, namespace: Option<&str>) -> Result<Vec<Value>, Failure> {
    let path = match namespace {
        Some(ns) => format!("/api/v1/namespaces/{ns}/secrets?labelSelector=owner%3Dhelm"),
        None => "/api/v1/secrets?labelSelector=owner%3Dhelm".to_string(),
    };
    let response = cluster.get(&path)?;
    if !response.ok() {
        // As helm: a listing the cluster refuses is an error, never an empty list.
        return Err(Failure(format!(
            "Error: list: failed to list: {} (HTTP {})",
            response.message(),
            response.status
        )));
    }
    Ok(response.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn decode_release(secret: &Value) -> Option<Value> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let outer = b64.decode(secret["data"]["release"].as_str()?).ok()?;
    let inner = b64.decode(outer).ok()?;
    serde_json::from_slice(&inner).ok()
}

fn release_secret(release: &Value, status: &str) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let name = release["name"].as_str().unwrap_or_default();
    let version = release["version"].as_i64().unwrap_or(1);
    // The release's own labels live on the Secret only, as helm keeps them (not in its JSON).
    let mut labels = release["labels"].as_object().cloned().unwrap_or_default();
    for (key, value) in [
        ("owner", "helm".to_string()),
        ("name", name.to_string()),
        ("status", status.to_string()),
        ("version", version.to_string()),
    ] {
        labels.insert(key.into(), value.into());
    }
    let mut release = release.clone();
    if let Some(fields) = release.as_object_mut() {
        fields.remove("labels");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": format!("sh.helm.release.v1.{name}.v{version}"),
            "namespace": release["namespace"],
            "labels": labels,
        },
        "data": {"release": b64.encode(b64.encode(release.to_string()))},
    })
}

/// The chart's short name: `eks/aws-load-balancer-controller` → `aws-load-balancer-controller`.
fn chart_name(chart: &str) -> String {
    let last = chart
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(chart);
    // A packaged chart file: name-1.2.3.tgz.
    let last = last.strip_suffix(".tgz").unwrap_or(last);
    match last.rfind('-') {
        Some(i)
            if chart.ends_with(".tgz")
                && last[i + 1..].starts_with(|c: char| c.is_ascii_digit()) =>
        {
            last[..i].to_string()
        }
        _ => last.to_string(),
    }
}

/// (chart version, app version) when none is asked for.
fn default_versions(chart: &str) -> (&'static str, &'static str) {
    match chart {
        "aws-load-balancer-controller" => ("1.8.1", "v2.8.1"),
        "cert-manager" => ("v1.14.4", "v1.14.4"),
        "base" | "istiod" | "gateway" => ("1.22.0", "1.22.0"),
        _ => ("0.1.0", "1.0.0"),
    }
}

fn truthy(v: &Value) -> bool {
    v.as_bool().unwrap_or(false) || v.as_str() == Some("true")
}

/// The chart's fullname: the release name when it already contains the chart name.
fn fullname(release: &str, chart: &str) -> String {
    if release.contains(chart) {
        release.to_string()
    } else {
        format!("{release}-{chart}")
    }
}

/// The objects the chart renders for these values, or the error the real chart's templates give.
fn render(
    release: &str,
    namespace: &str,
    chart: &str,
    app_version: &str,
    values: &Value,
) -> Result<Vec<Value>, Failure> {
    let common = |component: &str| {
        json!({
            "app.kubernetes.io/name": component,
            "app.kubernetes.io/instance": release,
            "app.kubernetes.io/managed-by": "Helm",
            "app.kubernetes.io/version": app_version,
        })
    };
    let replicas = values["replicaCount"].as_i64();
    let mut objects = Vec::new();
    match chart {
        "aws-load-balancer-controller" => {
            let cluster_name = values["clusterName"].as_str().filter(|c| !c.is_empty()).ok_or_else(|| {
                Failure("execution error at (aws-load-balancer-controller/templates/deployment.yaml:1:4): Chart cannot be installed without a valid clusterName!".into())
            })?;
            let name = fullname(release, chart);
            let labels = common(chart);
            let sa = &values["serviceAccount"];
            let sa_name = sa["name"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| name.clone());
            if sa["create"].as_bool().unwrap_or(true) {
                objects.push(json!({
                    "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": sa_name, "namespace": namespace, "labels": labels,
                                 "annotations": sa["annotations"].as_object().cloned().unwrap_or_default()},
                }));
            }
            let mut controller_args = vec![
                format!("--cluster-name={cluster_name}"),
                "--ingress-class=alb".to_string(),
            ];
            if let Some(region) = values["region"].as_str() {
                controller_args.push(format!("--aws-region={region}"));
            }
            if let Some(vpc) = values["vpcId"].as_str() {
                controller_args.push(format!("--aws-vpc-id={vpc}"));
            }
            let mut deployment = standin::deployment(
                namespace,
                &name,
                &labels,
                replicas.unwrap_or(2),
                &format!("public.ecr.aws/eks/aws-load-balancer-controller:{app_version}"),
                &controller_args,
            );
            deployment["spec"]["template"]["spec"]["serviceAccountName"] = json!(sa_name);
            objects.push(deployment);
            objects.push(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "aws-load-balancer-webhook-service", "namespace": namespace, "labels": labels},
                "spec": {"selector": labels, "ports": [{"name": "webhook-server", "port": 443, "targetPort": "webhook-server"}]},
            }));
            if values["createIngressClassResource"]
                .as_bool()
                .unwrap_or(true)
            {
                objects.push(json!({
                    "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                    "metadata": {"name": values["ingressClass"].as_str().unwrap_or("alb"), "labels": labels},
                    "spec": {"controller": "ingress.k8s.aws/alb"},
                }));
            }
        }
        "cert-manager" => {
            let crds = truthy(&values["installCRDs"]) || truthy(&values["crds"]["enabled"]);
            if crds {
                let labels = common("cert-manager");
                for (kind, plural, namespaced, group) in [
                    ("Certificate", "certificates", true, "cert-manager.io"),
                    (
                        "CertificateRequest",
                        "certificaterequests",
                        true,
                        "cert-manager.io",
                    ),
                    ("Issuer", "issuers", true, "cert-manager.io"),
                    ("ClusterIssuer", "clusterissuers", false, "cert-manager.io"),
                    ("Order", "orders", true, "acme.cert-manager.io"),
                    ("Challenge", "challenges", true, "acme.cert-manager.io"),
                ] {
                    // cert-manager's CRDs serve v1 only (since 1.6).
                    let served = ["v1".to_string()];
                    objects.push(standin::crd(
                        group, &served, "v1", kind, plural, namespaced, &labels,
                    )?);
                }
            }
            let base = fullname(release, chart);
            for (suffix, component) in [
                ("", "cert-manager"),
                ("-webhook", "webhook"),
                ("-cainjector", "cainjector"),
            ] {
                let name = format!("{base}{suffix}");
                let mut labels = common(component);
                labels["app"] = json!(component);
                objects.push(json!({
                    "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace, "labels": labels},
                }));
                objects.push(standin::deployment(
                    namespace,
                    &name,
                    &labels,
                    replicas.unwrap_or(1),
                    &format!(
                        "quay.io/jetstack/cert-manager-{}:{app_version}",
                        if component == "cert-manager" {
                            "controller"
                        } else {
                            component
                        }
                    ),
                    &[],
                ));
            }
        }
        "base" => {
            let labels = json!({"app.kubernetes.io/managed-by": "Helm", "release": release});
            for entry in standin::ISTIO_CRDS {
                objects.push(standin::istio_crd(entry, &labels)?);
            }
        }
        "istiod" => {
            let labels = json!({"app": "istiod", "istio": "pilot", "istio.io/rev": values["revision"].as_str().filter(|r| !r.is_empty()).unwrap_or("default"),
                                "app.kubernetes.io/managed-by": "Helm", "release": release});
            let name = match values["revision"].as_str().filter(|r| !r.is_empty()) {
                Some(rev) => format!("istiod-{rev}"),
                None => "istiod".to_string(),
            };
            objects.push(standin::deployment(
                namespace,
                &name,
                &labels,
                values["pilot"]["replicaCount"].as_i64().unwrap_or(1),
                &format!("docker.io/istio/pilot:{app_version}"),
                &[],
            ));
            objects.push(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"selector": {"app": "istiod"}, "ports": [
                    {"name": "grpc-xds", "port": 15010, "protocol": "TCP"},
                    {"name": "https-dns", "port": 15012, "protocol": "TCP"},
                    {"name": "https-webhook", "port": 443, "targetPort": 15017, "protocol": "TCP"},
                    {"name": "http-monitoring", "port": 15014, "protocol": "TCP"}]},
            }));
            let mesh = serde_yaml::to_string(&values["meshConfig"]).unwrap_or_default();
            objects.push(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "istio", "namespace": namespace, "labels": labels},
                "data": {"mesh": mesh, "meshNetworks": "networks: {}"},
            }));
        }
        "gateway" => {
            let mut labels =
                json!({"app": release, "istio": release.strip_prefix("istio-").unwrap_or(release)});
            deep_merge(&mut labels, &values["labels"]);
            let service = &values["service"];
            let ports = service["ports"].as_array().cloned().unwrap_or_else(|| {
                vec![
                    json!({"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021}),
                    json!({"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80}),
                    json!({"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}),
                ]
            });
            let mut meta_labels = labels.clone();
            meta_labels["app.kubernetes.io/managed-by"] = json!("Helm");
            objects.push(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                                "metadata": {"name": release, "namespace": namespace, "labels": meta_labels}}));
            objects.push(standin::deployment(
                namespace,
                release,
                &labels,
                replicas.unwrap_or(1),
                "auto",
                &[],
            ));
            let mut svc = json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": release, "namespace": namespace, "labels": meta_labels,
                             "annotations": service["annotations"].as_object().cloned().unwrap_or_default()},
                "spec": {"type": service["type"].as_str().unwrap_or("LoadBalancer"), "selector": labels, "ports": ports},
            });
            for key in [
                "externalTrafficPolicy",
                "loadBalancerSourceRanges",
                "loadBalancerClass",
                "loadBalancerIP",
            ] {
                if !service[key].is_null() {
                    svc["spec"][key] = service[key].clone();
                }
            }
            objects.push(svc);
        }
        _ => {
            let labels = common(chart);
            objects.push(standin::deployment(
                namespace,
                release,
                &labels,
                replicas.unwrap_or(1),
                &format!("{chart}:{app_version}"),
                &[],
            ));
        }
    }
    Ok(objects)
}

fn manifest_text(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| format!("---\n{}", serde_yaml::to_string(o).unwrap_or_default()))
        .collect()
}

fn manifest_objects(release: &Value) -> Vec<Value> {
    let text = release["manifest"].as_str().unwrap_or_default();
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|d| <Value as serde::Deserialize>::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn object_id(o: &Value) -> (String, String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        s(&o["apiVersion"]),
        s(&o["kind"]),
        s(&o["metadata"]["namespace"]),
        s(&o["metadata"]["name"]),
    )
}

fn install(args: &Args, plain_install: bool) -> Result<(), Failure> {
    let verb = if plain_install {
        "INSTALLATION"
    } else {
        "UPGRADE"
    };
    let (release_name, chart) = match (args.positional.get(1), args.positional.get(2)) {
        (Some(r), Some(c)) => (r.clone(), c.clone()),
        _ => {
            return Err(Failure(format!(
                "\"helm {}\" requires 2 arguments\n\nUsage:  helm {} [RELEASE] [CHART] [flags]",
                args.positional[0], args.positional[0]
            )))
        }
    };
    if let Some((key, _)) = args
        .labels
        .iter()
        .find(|(k, _)| SYSTEM_LABELS.contains(&k.as_str()))
    {
        return Err(Failure(format!(
            "user supplied labels contains system reserved label name ({key}). System labels: {SYSTEM_LABELS:?}"
        )));
    }
    let (cluster, namespace) = cluster(args)?;
    let history = releases(&cluster, &namespace, &release_name)?;
    let deployed = history
        .iter()
        .rev()
        .find(|(_, r)| r["info"]["status"] == "deployed")
        .cloned();
    if history
        .last()
        .and_then(|(_, r)| r["info"]["status"].as_str())
        .is_some_and(|status| status.starts_with("pending-"))
    {
        return Err(Failure(format!(
            "{verb} FAILED: another operation (install/upgrade/rollback) is in progress"
        )));
    }
    if plain_install && !history.is_empty() {
        return Err(Failure(format!(
            "{verb} FAILED: cannot re-use a name that is still in use"
        )));
    }
    if !plain_install && history.is_empty() && !args.install {
        return Err(Failure(format!(
            "{verb} FAILED: \"{release_name}\" has no deployed releases"
        )));
    }
    if !cluster.namespace_exists(&namespace)? {
        if args.create_namespace {
            cluster.apply(
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
                MANAGER,
            )?;
        } else {
            return Err(Failure(format!(
                "{verb} FAILED: create: failed to create: namespaces \"{namespace}\" not found"
            )));
        }
    }
    let mut values = json!({});
    for file in &args.values_files {
        for document in standin::read_yaml_documents(file)? {
            deep_merge(&mut values, &document);
        }
    }
    for (set, as_string) in &args.sets {
        apply_set(&mut values, set, *as_string)?;
    }
    let chart_short = chart_name(&chart);
    let (default_version, app_version) = default_versions(&chart_short);
    let chart_version = args
        .version
        .clone()
        .unwrap_or_else(|| default_version.to_string());
    let app_version = if args.version.is_some()
        && matches!(
            chart_short.as_str(),
            "base" | "istiod" | "gateway" | "cert-manager"
        ) {
        chart_version.clone()
    } else {
        app_version.to_string()
    };
    check_values(&chart_short, &chart_version, &values)
        .map_err(|Failure(m)| Failure(format!("{verb} FAILED: {m}")))?;
    let objects = render(
        &release_name,
        &namespace,
        &chart_short,
        &app_version,
        &values,
    )
    .map_err(|Failure(m)| Failure(format!("{verb} FAILED: {m}")))?;
    let version = history.last().map(|(v, _)| v + 1).unwrap_or(1);
    // An upgrade keeps the labels of the last revision, the new ones merged over them.
    let mut labels = history
        .last()
        .and_then(|(_, r)| r["labels"].as_object().cloned())
        .unwrap_or_default();
    for (key, value) in &args.labels {
        labels.insert(key.clone(), value.clone().into());
    }
    let now = meshctl_sandbox::kube::clock::now_rfc3339();
    let first_deployed = history
        .first()
        .and_then(|(_, r)| r["info"]["first_deployed"].as_str().map(str::to_string))
        .unwrap_or_else(|| now.clone());
    // As helm 3 does, the release is stored `pending-install` (`pending-upgrade`) with its
    // manifest before any object is written, and marked `deployed` or `failed` at the end.
    let pending = if deployed.is_some() {
        "pending-upgrade"
    } else {
        "pending-install"
    };
    let mut release = json!({
        "name": release_name,
        "namespace": namespace,
        "version": version,
        "info": {
            "first_deployed": first_deployed,
            "last_deployed": now,
            "deleted": "",
            "description": if pending == "pending-install" { "Initial install underway" } else { "Preparing upgrade" },
            "status": pending,
        },
        "chart": {"metadata": {"name": chart_short, "version": chart_version, "appVersion": app_version, "apiVersion": "v2"}},
        "config": values,
        "manifest": manifest_text(&objects),
        "labels": labels,
    });
    cluster.apply(&release_secret(&release, pending), MANAGER)?;
    let written = write_release_objects(&cluster, args, &objects, deployed.as_ref());
    if let Err(Failure(message)) = written {
        release["info"]["status"] = json!("failed");
        release["info"]["description"] =
            json!(format!("Release \"{release_name}\" failed: {message}"));
        cluster.apply(&release_secret(&release, "failed"), MANAGER)?;
        return Err(Failure(format!("{verb} FAILED: {message}")));
    }
    release["info"]["status"] = json!("deployed");
    release["info"]["description"] = json!(if version == 1 {
        "Install complete"
    } else {
        "Upgrade complete"
    });
    // The previous revision is superseded.
    if let Some((_, previous)) = &deployed {
        let mut previous = previous.clone();
        previous["info"]["status"] = json!("superseded");
        cluster.apply(&release_secret(&previous, "superseded"), MANAGER)?;
    }
    cluster.apply(&release_secret(&release, "deployed"), MANAGER)?;
    if version == 1 && !plain_install {
        println!("Release \"{release_name}\" does not exist. Installing it now.");
    } else if version > 1 {
        println!("Release \"{release_name}\" has been upgraded. Happy Helming!");
    }
    println!(
        "NAME: {release_name}\nLAST DEPLOYED: {now}\nNAMESPACE: {namespace}\nSTATUS: deployed\nREVISION: {version}\nTEST SUITE: None"
    );
    Ok(())
}

/// Writes a release's objects, removes those the previous revision had and this one does not
/// (as helm does), and with `--wait` waits until they are ready.
fn write_release_objects(
    cluster: &Cluster,
    args: &Args,
    objects: &[Value],
    deployed: Option<&(i64, Value)>,
) -> Result<(), Failure> {
    for object in objects {
        cluster.apply(object, MANAGER)?;
    }
    standin::pause_after_objects();
    if let Some((_, previous)) = deployed {
        let keep: Vec<_> = objects.iter().map(object_id).collect();
        for old in manifest_objects(previous) {
            if !keep.contains(&object_id(&old)) {
                cluster.delete_object(&old)?;
            }
        }
    }
    if args.wait {
        let timeout = match &args.timeout {
            Some(t) => standin::parse_duration(t)?,
            None => Duration::from_secs(300),
        };
        cluster.wait_ready(objects, timeout)?;
    }
    Ok(())
}

fn uninstall(args: &Args) -> Result<(), Failure> {
    let release_name = args
        .positional
        .get(1)
        .ok_or("\"helm uninstall\" requires at least 1 argument\n\nUsage:  helm uninstall RELEASE_NAME [...] [flags]")?;
    let (cluster, namespace) = cluster(args)?;
    let history = releases(&cluster, &namespace, release_name)?;
    let Some((_, latest)) = history.last() else {
        return Err(Failure(format!(
            "uninstall: Release not loaded: {release_name}: release: not found"
        )));
    };
    for object in manifest_objects(latest).iter().rev() {
        cluster.delete_object(object)?;
    }
    for (_, release) in &history {
        cluster.delete_object(&release_secret(release, "uninstalled"))?;
    }
    println!("release \"{release_name}\" uninstalled");
    Ok(())
}

fn status(args: &Args) -> Result<(), Failure> {
    let release_name = args
        .positional
        .get(1)
        .ok_or("\"helm status\" requires 1 argument")?;
    let (cluster, namespace) = cluster(args)?;
    let history = releases(&cluster, &namespace, release_name)?;
    let Some((version, release)) = history.last() else {
        return Err(Failure("release: not found".into()));
    };
    // helm prints a release without its labels (they are not part of its JSON).
    let mut release = release.clone();
    if let Some(fields) = release.as_object_mut() {
        fields.remove("labels");
    }
    let release = &release;
    match args.output.as_deref() {
        Some("json") => println!("{release}"),
        Some("yaml") => print!("{}", serde_yaml::to_string(release).unwrap_or_default()),
        _ => println!(
            "NAME: {release_name}\nLAST DEPLOYED: {}\nNAMESPACE: {namespace}\nSTATUS: {}\nREVISION: {version}\nTEST SUITE: None",
            release["info"]["last_deployed"].as_str().unwrap_or_default(),
            release["info"]["status"].as_str().unwrap_or_default()
        ),
    }
    Ok(())
}

fn list(args: &Args) -> Result<(), Failure> {
    let (cluster, namespace) = cluster(args)?;
    let scope = (!args.all_namespaces).then_some(namespace.as_str());
    let mut latest: std::collections::BTreeMap<(String, String), (i64, Value)> = Default::default();
    for secret in all_release_secrets(&cluster, scope)? {
        let Some(release) = decode_release(&secret) else {
            continue;
        };
        let key = (
            release["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            release["name"].as_str().unwrap_or_default().to_string(),
        );
        let version = release["version"].as_i64().unwrap_or(0);
        if latest.get(&key).is_none_or(|(v, _)| *v < version) {
            latest.insert(key, (version, release));
        }
    }
    let rows: Vec<Value> = latest
        .values()
        .filter(|(_, r)| r["info"]["status"] == "deployed")
        .map(|(v, r)| {
            let meta = &r["chart"]["metadata"];
            json!({
                "name": r["name"], "namespace": r["namespace"], "revision": v.to_string(),
                "updated": r["info"]["last_deployed"], "status": r["info"]["status"],
                "chart": format!("{}-{}", meta["name"].as_str().unwrap_or_default(), meta["version"].as_str().unwrap_or_default()),
                "app_version": meta["appVersion"],
            })
        })
        .collect();
    match args.output.as_deref() {
        Some("json") => println!("{}", Value::Array(rows)),
        Some("yaml") => print!("{}", serde_yaml::to_string(&rows).unwrap_or_default()),
        _ => {
            println!("NAME\tNAMESPACE\tREVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION");
            for r in rows {
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    s("name"),
                    s("namespace"),
                    s("revision"),
                    s("updated"),
                    s("status"),
                    s("chart"),
                    s("app_version")
                );
            }
        }
    }
    Ok(())
}

fn get_values(args: &Args) -> Result<(), Failure> {
    let release_name = args
        .positional
        .get(2)
        .ok_or("\"helm get values\" requires 1 argument")?;
    let (cluster, namespace) = cluster(args)?;
    let history = releases(&cluster, &namespace, release_name)?;
    let Some((_, release)) = history.last() else {
        return Err(Failure("release: not found".into()));
    };
    match args.output.as_deref() {
        Some("json") => println!("{}", release["config"]),
        _ => print!(
            "USER-SUPPLIED VALUES:\n{}",
            serde_yaml::to_string(&release["config"]).unwrap_or_default()
        ),
    }
    Ok(())
}

/// Refuses values the chart version does not know (`meshctl-controller-facts`' table of its
/// values.yaml). A chart with a values.schema.json makes helm refuse them in these words; for the
/// charts without one, a real helm installs and the chart silently ignores the value, which the
/// sandbox refuses instead so a misspelled value cannot pass a test. Charts outside the table are
/// not judged.
fn check_values(chart: &str, version: &str, values: &Value) -> Result<(), Failure> {
    let Some(table) = meshctl_controller_facts::chart_values(chart, version) else {
        return Ok(());
    };
    let unknown = table.unknown_values(values);
    if unknown.is_empty() {
        return Ok(());
    }
    if table.schema {
        let lines: Vec<String> = unknown
            .iter()
            .map(|path| {
                let (parent, key) = path.rsplit_once('.').unwrap_or(("(root)", path));
                format!("- {parent}: Additional property {key} is not allowed")
            })
            .collect();
        return Err(Failure(format!(
            "values don't meet the specifications of the schema(s) in the following chart(s):\n{chart}:\n{}",
            lines.join("\n")
        )));
    }
    let described: Vec<String> = unknown
        .iter()
        .map(|path| {
            let near = table.suggestions(path);
            if near.is_empty() {
                path.clone()
            } else {
                format!("{path} (did you mean {}?)", near.join(", "))
            }
        })
        .collect();
    Err(Failure(format!(
        "chart {chart} {version} has no value {} (its values.yaml: {}). A real helm would install \
         and the chart would ignore it; the sandbox refuses it",
        described.join(", "),
        table.source
    )))
}
