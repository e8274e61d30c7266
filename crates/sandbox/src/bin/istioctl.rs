//! An `istioctl` stand-in for the sandbox: records its arguments and does what `istioctl install`
//! does to a cluster for an IstioOperator (the istio-system namespace, Istio's CRDs, istiod, and
//! a Deployment + Service per enabled ingress/egress gateway with the operator's service type,
//! ports, nodePorts, labels and annotations), keeping the merged operator as the
//! `installed-state` IstioOperator like the real tool (with the operator's own labels and
//! annotations, and `-<name>-<revision>` in its name). As the real tool does, it labels every
//! object with its component, the owning operator (`install.operator.istio.io/owning-resource`,
//! `unknown` for an operator without a name) and revision, and writes the installed state last,
//! after the objects are ready: an install killed half-way leaves objects and no record, and
//! `uninstall -f` / `--revision` then remove nothing (they go by the record).
//!
//! For tests only, `MESHCTL_STANDIN_PAUSE_AFTER_OBJECTS=<seconds>` makes `install` wait that long
//! after writing the objects, so a test can kill it half-way.
//!
//! Supported: `install`, `uninstall` (`-f`: what that operator and revision installed;
//! `--revision`: what that revision installed; `--purge`: every install and Istio's CRDs,
//! ignoring `-f` and `--revision`, as istioctl 1.2x does), `version`, `verify-install`.

mod standin;

use std::process::ExitCode;
use std::time::Duration;

use meshctl_sandbox::kube::schema;
use serde_json::{json, Value};
use standin::{deep_merge, Cluster, Failure};

const MANAGER: &str = "istio-operator";
const CLIENT_VERSION: &str = "1.22.0";
const OBJECTS_ANNOTATION: &str = "sandbox.meshctl.dev/installed-objects";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    standin::record_invocation("istioctl", &argv);
    match run(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("Error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Default)]
struct Args {
    positional: Vec<String>,
    files: Vec<String>,
    sets: Vec<String>,
    yes: bool,
    purge: bool,
    kubeconfig: Option<String>,
    context: Option<String>,
    remote: bool,
    output: Option<String>,
    dry_run: bool,
    revision: Option<String>,
}

fn parse(argv: &[String]) -> Result<Args, Failure> {
    let mut args = Args {
        remote: true,
        ..Args::default()
    };
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
            "-f" | "--filename" => args.files.push(take(&mut i)?),
            "-s" | "--set" => args.sets.push(take(&mut i)?),
            "-y" | "--skip-confirmation" => args.yes = true,
            "--purge" => args.purge = true,
            "-c" | "--kubeconfig" => args.kubeconfig = Some(take(&mut i)?),
            "--context" => args.context = Some(take(&mut i)?),
            "-r" | "--revision" => args.revision = Some(take(&mut i)?),
            "--remote" => args.remote = inline.as_deref() != Some("false"),
            "-o" | "--output" => args.output = Some(take(&mut i)?),
            "--dry-run" => args.dry_run = true,
            "-d" | "--manifests" | "--istioNamespace" | "-i" | "--readiness-timeout" => {
                take(&mut i)?;
            }
            "--verify" | "--force" | "--short" => {}
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
    let words: Vec<&str> = args.positional.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["install"] | ["manifest", "install"] => install(&args),
        ["uninstall"] | ["x", "uninstall"] => uninstall(&args),
        ["version"] => version(&args),
        ["verify-install"] => verify(&args),
        [] => Err(Failure("a command is required (the stand-in knows install, uninstall, version, verify-install)".into())),
        other => Err(Failure(format!("unknown command \"{}\" for \"istioctl\"", other.join(" ")))),
    }
}

fn cluster(args: &Args) -> Result<Cluster, Failure> {
    Cluster::from_kubeconfig(args.kubeconfig.as_deref(), args.context.as_deref())
}

/// The profile's IstioOperator spec.
fn profile(name: &str) -> Result<Value, Failure> {
    let gateway = |enabled: bool| json!([{"name": "istio-ingressgateway", "enabled": enabled}]);
    let egress = |enabled: bool| json!([{"name": "istio-egressgateway", "enabled": enabled}]);
    let (pilot, ingress, egress) = match name {
        "default" => (true, gateway(true), egress(false)),
        "demo" => (true, gateway(true), egress(true)),
        "minimal" => (true, gateway(false), egress(false)),
        "empty" => (false, gateway(false), egress(false)),
        other => {
            return Err(Failure(format!(
                "unknown profile \"{other}\"; the stand-in knows default, demo, minimal and empty"
            )))
        }
    };
    Ok(json!({
        "profile": name,
        "hub": "docker.io/istio",
        "tag": CLIENT_VERSION,
        "components": {
            // Istio's `empty` profile enables nothing: it is how gateways are added separately.
            "base": {"enabled": name != "empty"},
            "pilot": {"enabled": pilot},
            "ingressGateways": ingress,
            "egressGateways": egress,
        },
        "meshConfig": {"accessLogFile": "", "defaultConfig": {"proxyMetadata": {}}},
        "values": {"global": {"istioNamespace": "istio-system"}},
    }))
}

/// The merged IstioOperator spec: profile, then files in order, then `--set` (paths relative to
/// `spec`, e.g. `profile=demo`, `meshConfig.accessLogFile=/dev/stdout`).
fn operator_spec(args: &Args) -> Result<(Value, Value), Failure> {
    let mut user = json!({});
    let mut metadata = json!({});
    for file in &args.files {
        for document in standin::read_yaml_documents(file)? {
            if document["kind"]
                .as_str()
                .is_some_and(|k| k != "IstioOperator")
            {
                return Err(Failure(format!(
                    "{file}: expected an IstioOperator, found kind {}",
                    document["kind"]
                )));
            }
            deep_merge(&mut metadata, &document["metadata"]);
            deep_merge(&mut user, &document["spec"]);
        }
    }
    for set in &args.sets {
        let key = set.split_once('=').map(|(k, _)| k).unwrap_or(set);
        // `--set spec.x` and `--set x` mean the same.
        let set = set.strip_prefix("spec.").unwrap_or(set);
        if key.is_empty() {
            return Err(Failure(format!("bad --set {set:?}: expected path=value")));
        }
        standin::apply_set(&mut user, set, false)?;
    }
    // Upstream's CRD leaves the spec opaque; istioctl's operator API is what refuses a typo.
    let unknown = schema::istio_operator_unknown_fields(
        &json!({"kind": "IstioOperator", "spec": user.clone()}),
    );
    if !unknown.is_empty() {
        let listed: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field {f:?}"))
            .collect();
        return Err(Failure(format!(
            "the IstioOperator given (-f, --set) is not valid: {}: istioctl's operator API (install.istio.io/v1alpha1 IstioOperatorSpec) has no such field",
            listed.join(", ")
        )));
    }
    let profile_name = user["profile"].as_str().unwrap_or("default").to_string();
    let mut spec = profile(&profile_name)?;
    // Gateway lists replace the profile's, as the operator's overlay does for lists.
    deep_merge(&mut spec, &user);
    if let Some(rev) = &args.revision {
        spec["revision"] = json!(rev);
    }
    Ok((spec, metadata))
}

fn istio_version(spec: &Value) -> String {
    spec["tag"]
        .as_str()
        .map(str::to_string)
        .or_else(|| spec["tag"].as_f64().map(|t| t.to_string()))
        .unwrap_or_else(|| CLIENT_VERSION.to_string())
}

/// Everything an install of the operator (`metadata`, `spec`) creates, in creation order.
fn render(spec: &Value, metadata: &Value) -> Result<Vec<Value>, Failure> {
    let namespace = spec["values"]["global"]["istioNamespace"]
        .as_str()
        .unwrap_or("istio-system");
    let version = istio_version(spec);
    let revision = spec["revision"].as_str().filter(|r| !r.is_empty());
    // Every component's objects carry their operator and revision, as istioctl labels them.
    let owner = json!({"install.operator.istio.io/owning-resource": metadata["name"].as_str().filter(|n| !n.is_empty()).unwrap_or("unknown"),
                       "install.operator.istio.io/owning-resource-namespace": metadata["namespace"].as_str().unwrap_or(namespace),
                       "operator.istio.io/version": version,
                       "istio.io/rev": revision.unwrap_or("default")});
    let with = |extra: Value| {
        let mut labels = owner.clone();
        deep_merge(&mut labels, &extra);
        labels
    };
    let mut objects = vec![json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {"istio-injection": "disabled"}},
    })];
    if spec["components"]["base"]["enabled"]
        .as_bool()
        .unwrap_or(true)
    {
        let labels = with(json!({"operator.istio.io/component": "Base"}));
        for entry in standin::ISTIO_CRDS {
            objects.push(standin::istio_crd(entry, &labels)?);
        }
    }
    if spec["components"]["pilot"]["enabled"]
        .as_bool()
        .unwrap_or(true)
    {
        let name = revision
            .map(|r| format!("istiod-{r}"))
            .unwrap_or_else(|| "istiod".to_string());
        let labels = with(
            json!({"app": "istiod", "istio": "pilot", "istio.io/rev": revision.unwrap_or("default"),
                                 "operator.istio.io/component": "Pilot"}),
        );
        let replicas = spec["components"]["pilot"]["k8s"]["hpaSpec"]["minReplicas"]
            .as_i64()
            .or_else(|| spec["components"]["pilot"]["k8s"]["replicaCount"].as_i64())
            .or_else(|| spec["values"]["pilot"]["autoscaleMin"].as_i64())
            .unwrap_or(1);
        objects.push(standin::deployment(
            namespace,
            &name,
            &labels,
            replicas,
            &format!(
                "{}/pilot:{version}",
                spec["hub"].as_str().unwrap_or("docker.io/istio")
            ),
            &[],
        ));
        objects.push(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"selector": {"app": "istiod", "istio": "pilot"}, "ports": [
                {"name": "grpc-xds", "port": 15010, "protocol": "TCP"},
                {"name": "https-dns", "port": 15012, "protocol": "TCP"},
                {"name": "https-webhook", "port": 443, "targetPort": 15017, "protocol": "TCP"},
                {"name": "http-monitoring", "port": 15014, "protocol": "TCP"}]},
        }));
        objects.push(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": revision.map(|r| format!("istio-{r}")).unwrap_or_else(|| "istio".into()), "namespace": namespace, "labels": labels},
            "data": {"mesh": serde_yaml::to_string(&spec["meshConfig"]).unwrap_or_default(), "meshNetworks": "networks: {}"},
        }));
        objects.push(json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": revision.map(|r| format!("istio-sidecar-injector-{r}")).unwrap_or_else(|| "istio-sidecar-injector".into()), "labels": labels},
            "webhooks": [],
        }));
        objects.push(json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": format!("istio-validator{}-{namespace}", revision.map(|r| format!("-{r}")).unwrap_or_default()), "labels": labels},
            "webhooks": [],
        }));
    }
    for (list, default_type, component, defaults) in [
        (
            "ingressGateways",
            "LoadBalancer",
            "IngressGateways",
            ingress_ports(),
        ),
        (
            "egressGateways",
            "ClusterIP",
            "EgressGateways",
            egress_ports(),
        ),
    ] {
        for gateway in spec["components"][list].as_array().into_iter().flatten() {
            if !gateway["enabled"].as_bool().unwrap_or(false) {
                continue;
            }
            let name = gateway["name"].as_str().unwrap_or("istio-ingressgateway");
            let gw_namespace = gateway["namespace"].as_str().unwrap_or(namespace);
            // values.gateways.<name> is the base every gateway of that kind starts from.
            let base_key = if list == "ingressGateways" {
                "istio-ingressgateway"
            } else {
                "istio-egressgateway"
            };
            let base = &spec["values"]["gateways"][base_key];
            let k8s = &gateway["k8s"];
            let default_istio = if list == "ingressGateways" {
                "ingressgateway"
            } else {
                "egressgateway"
            };
            let mut selector = json!({"app": base_key, "istio": default_istio});
            deep_merge(&mut selector, &gateway["label"]);
            let labels = with(json!({"operator.istio.io/component": component}));
            let mut all_labels = labels.clone();
            deep_merge(&mut all_labels, &selector);
            let replicas = k8s["hpaSpec"]["minReplicas"]
                .as_i64()
                .or_else(|| k8s["replicaCount"].as_i64())
                .unwrap_or(1);
            let mut deployment = standin::deployment(
                gw_namespace,
                name,
                &all_labels,
                replicas,
                &format!(
                    "{}/proxyv2:{version}",
                    spec["hub"].as_str().unwrap_or("docker.io/istio")
                ),
                &[],
            );
            deployment["spec"]["selector"] = json!({"matchLabels": selector});
            let service = &k8s["service"];
            let mut annotations = json!({});
            deep_merge(&mut annotations, &base["serviceAnnotations"]);
            deep_merge(&mut annotations, &k8s["serviceAnnotations"]);
            let svc_type = service["type"]
                .as_str()
                .or_else(|| base["type"].as_str())
                .unwrap_or(default_type);
            let ports = service["ports"]
                .as_array()
                .cloned()
                .or_else(|| base["ports"].as_array().cloned())
                .unwrap_or_else(|| defaults.as_array().cloned().unwrap_or_default());
            // The proxy listens where its Service sends traffic (the status port among them)
            // and serves Prometheus on 15090, and its Deployment says so, as istioctl's does.
            let mut container_ports: Vec<i64> = ports
                .iter()
                .filter_map(|p| p["targetPort"].as_i64().or_else(|| p["port"].as_i64()))
                .collect();
            container_ports.push(15090);
            container_ports.sort_unstable();
            container_ports.dedup();
            let container = &mut deployment["spec"]["template"]["spec"]["containers"][0];
            container["name"] = json!("istio-proxy");
            container["ports"] = json!(container_ports
                .iter()
                .map(|p| json!({"containerPort": p, "protocol": "TCP"}))
                .collect::<Vec<_>>());
            objects.push(deployment);
            let mut svc = json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": gw_namespace, "labels": all_labels, "annotations": annotations},
                "spec": {"type": svc_type, "selector": selector, "ports": ports},
            });
            for key in [
                "externalTrafficPolicy",
                "loadBalancerSourceRanges",
                "loadBalancerIP",
                "loadBalancerClass",
            ] {
                if !service[key].is_null() {
                    svc["spec"][key] = service[key].clone();
                }
            }
            objects.push(svc);
        }
    }
    Ok(objects)
}

fn ingress_ports() -> Value {
    json!([
        {"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
        {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 8080},
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443},
    ])
}

fn egress_ports() -> Value {
    json!([
        {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 8080},
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443},
    ])
}

fn object_ref(o: &Value) -> Value {
    json!({"apiVersion": o["apiVersion"], "kind": o["kind"], "metadata": {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"]}})
}

fn install(args: &Args) -> Result<(), Failure> {
    let (spec, metadata) = operator_spec(args)?;
    let version = istio_version(&spec);
    let objects = render(&spec, &metadata)?;
    if args.dry_run {
        for o in &objects {
            print!("---\n{}", serde_yaml::to_string(o).unwrap_or_default());
        }
        return Ok(());
    }
    if !args.yes {
        eprint!(
            "This will install the Istio {version} profile \"{}\" into the cluster. Proceed? (y/N) ",
            spec["profile"].as_str().unwrap_or("default")
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            println!("Cancelled.");
            return Err(Failure(
                "installation cancelled; pass -y (--skip-confirmation) to install without asking"
                    .into(),
            ));
        }
    }
    let cluster = cluster(args)?;
    for object in &objects {
        cluster
            .apply(object, MANAGER)
            .map_err(|Failure(m)| Failure(format!("failed to install manifests: {m}")))?;
    }
    println!("✔ Istio core installed");
    standin::pause_after_objects();
    cluster
        .wait_ready(&objects, Duration::from_secs(300))
        .map_err(|Failure(m)| {
            Failure(format!(
                "failed to wait for resource: resources not ready after 5m0s: {m}"
            ))
        })?;
    println!("✔ Istiod installed");
    println!("✔ Ingress gateways installed");
    let namespace = spec["values"]["global"]["istioNamespace"]
        .as_str()
        .unwrap_or("istio-system");
    let refs: Vec<Value> = objects.iter().map(object_ref).collect();
    let state_name = installed_state_name(&spec, &metadata);
    // The installed state keeps the operator's own labels and annotations.
    let mut annotations = metadata["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    annotations.insert(
        OBJECTS_ANNOTATION.into(),
        Value::Array(refs).to_string().into(),
    );
    let mut state_meta =
        json!({"name": state_name, "namespace": namespace, "annotations": annotations});
    if let Some(labels) = metadata["labels"].as_object() {
        state_meta["labels"] = json!(labels);
    }
    cluster.apply(
        &json!({"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": state_meta, "spec": spec}),
        MANAGER,
    )?;
    println!("✔ Installation complete");
    Ok(())
}

/// istioctl's name for the record of an install: `installed-state`, then `-<operator name>` and
/// `-<revision>` when they are set, so operators installed side by side keep separate records.
fn installed_state_name(spec: &Value, metadata: &Value) -> String {
    let mut name = "installed-state".to_string();
    for part in [metadata["name"].as_str(), spec["revision"].as_str()]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
    {
        name.push('-');
        name.push_str(part);
    }
    name
}

/// The installed-state IstioOperators.
fn installed_states(cluster: &Cluster) -> Result<Vec<Value>, Failure> {
    let response = cluster.get("/apis/install.istio.io/v1alpha1/istiooperators")?;
    if !response.ok() {
        return Ok(Vec::new());
    }
    Ok(response.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| {
            o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("installed-state"))
        })
        .cloned()
        .collect())
}

fn uninstall(args: &Args) -> Result<(), Failure> {
    if !args.purge && args.revision.is_none() && args.files.is_empty() {
        return Err(Failure(
            "at least one of the --revision (or --set revision=<revision>), --filename or --purge flags must be set".into(),
        ));
    }
    if !args.yes {
        eprint!("All Istio resources will be pruned from the cluster\nProceed? (y/N) ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            println!("Cancelled.");
            return Err(Failure(
                "uninstall cancelled; pass -y (--skip-confirmation) to uninstall without asking"
                    .into(),
            ));
        }
    }
    if args.purge && (args.revision.is_some() || !args.files.is_empty()) {
        println!("Purge uninstall will remove all Istio resources, ignoring the specified revision or operator file");
    }
    let cluster = cluster(args)?;
    let states = installed_states(&cluster)?;
    // `-f` removes what that operator (with its revision, `--revision` merged in) installed;
    // `--revision` alone what every install of that revision did; `--purge` everything.
    let wanted_state = if args.files.is_empty() {
        None
    } else {
        let (spec, metadata) = operator_spec(args)?;
        Some(installed_state_name(&spec, &metadata))
    };
    let wanted_revision = args
        .revision
        .as_deref()
        .map(|r| if r.is_empty() { "default" } else { r });
    let mut removed = 0;
    for state in &states {
        let name = state["metadata"]["name"].as_str().unwrap_or_default();
        let revision = state["spec"]["revision"]
            .as_str()
            .filter(|r| !r.is_empty())
            .unwrap_or("default");
        let wanted = match (&wanted_state, wanted_revision) {
            (Some(state), _) => state == name,
            (None, Some(wanted)) => wanted == revision,
            (None, None) => false,
        };
        if !args.purge && !wanted {
            continue;
        }
        let refs: Vec<Value> = state["metadata"]["annotations"][OBJECTS_ANNOTATION]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        // Everything but the namespace (istioctl keeps it); CRDs only with --purge.
        for object in refs.iter().rev() {
            let kind = object["kind"].as_str().unwrap_or_default();
            if kind == "Namespace" || (kind == "CustomResourceDefinition" && !args.purge) {
                continue;
            }
            cluster.delete_object(object)?;
            removed += 1;
        }
        cluster.delete_object(state)?;
    }
    if removed == 0 && states.is_empty() {
        println!("Istio is not installed: nothing to remove.");
    }
    println!("✔ Uninstall complete");
    Ok(())
}

fn version(args: &Args) -> Result<(), Failure> {
    let remote = if args.remote {
        let cluster = cluster(args)?;
        installed_states(&cluster)?
            .first()
            .map(|s| istio_version(&s["spec"]))
    } else {
        None
    };
    if args.output.as_deref() == Some("json") {
        let mut out = json!({"clientVersion": {"version": CLIENT_VERSION, "revision": "sandbox", "status": "Clean"}});
        if let Some(v) = &remote {
            out["meshVersion"] = json!([{"Component": "pilot", "Info": {"version": v}}]);
        }
        println!("{out}");
        return Ok(());
    }
    println!("client version: {CLIENT_VERSION}");
    if args.remote {
        match remote {
            Some(v) => {
                println!("control plane version: {v}");
                println!("data plane version: none");
            }
            None => println!("no running Istio pods in \"istio-system\""),
        }
    }
    Ok(())
}

fn verify(args: &Args) -> Result<(), Failure> {
    let cluster = cluster(args)?;
    let states = installed_states(&cluster)?;
    let Some(state) = states.first() else {
        return Err(Failure("could not load IstioOperator from cluster: no installed-state IstioOperator in the cluster; run `istioctl install` first".into()));
    };
    let refs: Vec<Value> = state["metadata"]["annotations"][OBJECTS_ANNOTATION]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for object in &refs {
        let response = cluster.get(&standin::object_path(object)?)?;
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        if !response.ok() {
            problems.push(format!("{kind}: {name} not found"));
            continue;
        }
        if kind == "Deployment" {
            let wanted = response.body["spec"]["replicas"].as_i64().unwrap_or(1);
            let available = response.body["status"]["availableReplicas"]
                .as_i64()
                .unwrap_or(0);
            if available < wanted {
                problems.push(format!(
                    "Deployment: {name} has {available} of {wanted} replicas available"
                ));
            } else {
                println!(
                    "✔ Deployment: {name}.{} checked successfully",
                    object["metadata"]["namespace"].as_str().unwrap_or_default()
                );
            }
        } else {
            println!("✔ {kind}: {name} checked successfully");
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("✘ {p}");
        }
        return Err(Failure(format!(
            "Istio installation failed, incomplete or does not match \"{}\": {} problem(s)",
            state["metadata"]["name"].as_str().unwrap_or_default(),
            problems.len()
        )));
    }
    println!("✔ Istio is installed and verified successfully");
    Ok(())
}
