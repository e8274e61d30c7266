//! Golden files for the Kubernetes renderer: the seed stacks 000, 001 and 004 loaded through the
//! model, every cluster resource rendered with realistic fake outputs for what it references, the
//! YAML compared with tests/golden/<stack>/<kind>.<name>.yaml (`UPDATE_GOLDEN=1` rewrites them).
//! Separate assertions pin the seeds' traps, so a careless golden update cannot hide them.

use meshctl_model::kinds::cluster::STATUS_PORT_NAME;
use meshctl_model::kinds::Layer;
use meshctl_model::{Address, Kind, SourceFile, Spec, Stack, VarOverrides};
use meshctl_provider_kube::render::{render, Context, Inputs, Render, RenderError, Rendered};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "ap-northeast-2";
/// The stack the hand-made contexts render for.
const STACK: &str = "shop";
const ACM_ARN: &str =
    "arn:aws:acm:ap-northeast-2:123456789012:certificate/0b8d3c1e-5f2a-4c6b-9e7d-1a2b3c4d5e6f";
const ZONE_ID: &str = "Z08092432XQCIVY7ERHU7";
/// Where fake allocated status nodePorts start, for gateways that do not pin theirs.
const FIRST_ALLOCATED_NODE_PORT: u16 = 30021;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(stem: &str) -> Stack {
    let path = repo_root().join("stacks").join(format!("{stem}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let source = SourceFile::new(path.display().to_string(), text);
    let (checked, diagnostics) = meshctl_graph::validate(&source, &VarOverrides::default());
    let (stack, _graph) =
        checked.unwrap_or_else(|| panic!("{stem} does not validate: {diagnostics:#?}"));
    stack
}

/// What AWS would have recorded for the stack's AWS resources.
fn fake_aws_outputs(stack: &Stack, address: &Address, spec: &Spec) -> BTreeMap<String, Value> {
    let name = &address.name;
    let pairs: Vec<(&str, Value)> = match spec {
        Spec::EksCluster(cluster) => vec![(
            "name",
            cluster
                .cluster_name
                .clone()
                .unwrap_or_else(|| format!("{}-{name}", stack.name()))
                .into(),
        )],
        Spec::Vpc(_) => vec![("vpc_id", "vpc-0a1b2c3d4e5f67890".into())],
        Spec::IamServiceAccount(_) => vec![
            (
                "role_arn",
                format!("arn:aws:iam::{ACCOUNT}:role/{}-{name}", stack.name()).into(),
            ),
            ("role_name", format!("{}-{name}", stack.name()).into()),
        ],
        Spec::Route53Zone(_) => vec![("zone_id", ZONE_ID.into())],
        Spec::AcmCertificate(_) => vec![("arn", ACM_ARN.into())],
        _ => vec![],
    };
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// One seed stack rendered: each cluster resource's result and everyone's outputs.
struct Rendering {
    results: BTreeMap<Address, Result<Render, RenderError>>,
    outputs: Inputs,
}

impl Rendering {
    fn of(stem: &str) -> Rendering {
        let stack = load(stem);
        let mut outputs: Inputs = BTreeMap::new();
        let mut results = BTreeMap::new();
        let mut allocated = FIRST_ALLOCATED_NODE_PORT;
        for resource in &stack.resources {
            if resource.address.kind.schema().layer == Layer::Aws {
                let fake = fake_aws_outputs(&stack, &resource.address, &resource.spec);
                outputs.insert(resource.address.clone(), fake);
            }
        }
        let cluster = stack
            .header
            .kube
            .as_ref()
            .and_then(|k| k.from_cluster.as_ref())
            .map(|name| Address::new(Kind::EksCluster, name));
        // Render in dependency order, so every producer's outputs exist for its dependents.
        let mut pending: Vec<_> = stack
            .resources
            .iter()
            .filter(|r| r.address.kind.schema().layer == Layer::Cluster)
            .collect();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|resource| {
                let ready = resource
                    .dependencies
                    .iter()
                    .all(|d| outputs.contains_key(&d.target));
                if !ready {
                    return true;
                }
                let inputs: Inputs = resource
                    .dependencies
                    .iter()
                    .filter_map(|d| {
                        outputs
                            .get(&d.target)
                            .map(|o| (d.target.clone(), o.clone()))
                    })
                    .collect();
                let desired = serde_json::to_value(&resource.spec).unwrap();
                let cx = Context {
                    stack: stack.name(),
                    region: &stack.header.region,
                    cluster: cluster.as_ref(),
                    inputs: &inputs,
                };
                let result = render(&resource.address, &desired, &cx);
                let mut produced = result
                    .as_ref()
                    .map(|r| r.outputs.clone())
                    .unwrap_or_default();
                if let Spec::IngressGateway(gateway) = &resource.spec {
                    // What Kubernetes allocates: the pinned nodePort, or the next free one.
                    let status = gateway.status_port().and_then(|p| p.node_port).map_or_else(
                        || {
                            allocated += 1;
                            allocated - 1
                        },
                        |p| p.0,
                    );
                    produced.insert("status_node_port".into(), status.into());
                }
                outputs.insert(resource.address.clone(), produced);
                results.insert(resource.address.clone(), result);
                false
            });
            assert!(pending.len() < before, "dependency cycle among {pending:?}");
        }
        Rendering { results, outputs }
    }

    fn rendered(&self, kind: Kind, name: &str) -> &Rendered {
        match self.results.get(&Address::new(kind, name)) {
            Some(Ok(render)) => &render.rendered,
            Some(Err(e)) => panic!("{kind}.{name} did not render: {e}"),
            None => panic!("{kind}.{name} is not a cluster resource of the stack"),
        }
    }

    fn object(&self, kind: Kind, name: &str) -> &Value {
        match self.rendered(kind, name) {
            Rendered::Objects(objects) => &objects[0],
            Rendered::IstioOperator { operator, .. } => operator,
            Rendered::Helm(_) => panic!("{kind}.{name} is a Helm release"),
            Rendered::Existing => panic!("{kind}.{name} is only looked up"),
        }
    }

    fn status_node_port(&self, gateway: &str) -> u64 {
        self.outputs[&Address::new(Kind::IngressGateway, gateway)]["status_node_port"]
            .as_u64()
            .unwrap()
    }
}

fn golden(stem: &str) {
    let rendering = Rendering::of(stem);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(stem);
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut mismatches = Vec::new();
    for (address, result) in &rendering.results {
        let render = result
            .as_ref()
            .unwrap_or_else(|e| panic!("{address} did not render: {e}"));
        let yaml = render.rendered.to_yaml().unwrap();
        let file = dir.join(format!("{address}.yaml"));
        if update {
            std::fs::write(&file, &yaml).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&file).unwrap_or_default();
        if expected != yaml {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}\n--- rendered\n{yaml}",
                file.display()
            ));
        }
    }
    if !update {
        let files = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            files,
            rendering.results.len(),
            "{} holds stale golden files",
            dir.display()
        );
    }
    assert!(
        mismatches.is_empty(),
        "rendered YAML differs (UPDATE_GOLDEN=1 rewrites):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn golden_seed_000() {
    golden("seed-000-private-eks");
}

#[test]
fn golden_seed_001() {
    golden("seed-001-https");
}

#[test]
fn golden_seed_004() {
    golden("seed-004-multi-gateway");
}

// Seeds 002 and 003 hold the kinds the others lack: Helm add-ons, raw manifests, and the traffic
// and security policies.
#[test]
fn golden_seed_002() {
    golden("seed-002-nginx-nlb-addons");
}

#[test]
fn golden_seed_003() {
    golden("seed-003-traffic-security");
}

fn annotation<'a>(object: &'a Value, key: &str) -> &'a str {
    object["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no annotation {key} in {object:#}"))
}

fn alb_annotation<'a>(ingress: &'a Value, key: &str) -> &'a str {
    annotation(ingress, &format!("alb.ingress.kubernetes.io/{key}"))
}

fn assert_alb_traps(rendering: &Rendering, alb: &str, gateway: &str, backend_port: u64) {
    let ingress = rendering.object(Kind::Alb, alb);
    assert_eq!(ingress["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(ingress["spec"]["ingressClassName"], "alb");
    // The seed's trap: the health check goes to the status-port nodePort Kubernetes allocated.
    assert_eq!(
        alb_annotation(ingress, "healthcheck-port"),
        rendering.status_node_port(gateway).to_string()
    );
    assert_eq!(
        alb_annotation(ingress, "healthcheck-path"),
        "/healthz/ready"
    );
    assert_eq!(alb_annotation(ingress, "healthcheck-protocol"), "HTTP");
    assert_eq!(alb_annotation(ingress, "target-type"), "instance");
    assert_eq!(alb_annotation(ingress, "certificate-arn"), ACM_ARN);
    let listen: Value = serde_json::from_str(alb_annotation(ingress, "listen-ports")).unwrap();
    assert_eq!(listen, json!([{ "HTTP": 80 }, { "HTTPS": 443 }]));
    assert_eq!(alb_annotation(ingress, "ssl-redirect"), "443");
    let backend = &ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend["name"], gateway);
    assert_eq!(backend["port"]["number"], backend_port);
    assert_eq!(ingress["metadata"]["namespace"], "istio-system");
}

#[test]
fn seed_000_alb_checks_the_allocated_status_node_port() {
    let rendering = Rendering::of("seed-000-private-eks");
    assert_eq!(
        rendering.status_node_port("istio-ingressgateway"),
        u64::from(FIRST_ALLOCATED_NODE_PORT)
    );
    assert_alb_traps(&rendering, "ingress-alb", "istio-ingressgateway", 80);
    let ingress = rendering.object(Kind::Alb, "ingress-alb");
    assert_eq!(alb_annotation(ingress, "scheme"), "internet-facing");
    assert_eq!(alb_annotation(ingress, "backend-protocol"), "HTTP");
}

#[test]
fn seed_000_istio_operator_matches_the_seed() {
    let rendering = Rendering::of("seed-000-private-eks");
    let operator = rendering.object(Kind::Istio, "mesh");
    let spec = &operator["spec"];
    assert_eq!(operator["apiVersion"], "install.istio.io/v1alpha1");
    assert_eq!(spec["profile"], "default");
    assert_eq!(
        spec["components"]["pilot"]["k8s"]["hpaSpec"]["minReplicas"],
        2
    );
    let egress = &spec["components"]["egressGateways"][0];
    assert_eq!(egress["name"], "istio-egressgateway");
    assert_eq!(egress["enabled"], true);
    let mesh = &spec["meshConfig"];
    assert_eq!(mesh["enableTracing"], true);
    assert_eq!(
        mesh["defaultConfig"]["holdApplicationUntilProxyStarts"],
        true
    );
    assert_eq!(mesh["accessLogFile"], "/dev/stdout");
    assert_eq!(mesh["outboundTrafficPolicy"]["mode"], "REGISTRY_ONLY");
    let gateway = rendering.object(Kind::IngressGateway, "istio-ingressgateway");
    assert_eq!(gateway["spec"]["profile"], "empty");
    assert_eq!(gateway["spec"]["tag"], "1.22.3");
    let component = &gateway["spec"]["components"]["ingressGateways"][0];
    assert_eq!(component["k8s"]["service"]["type"], "NodePort");
    assert_eq!(component["label"], json!({ "istio": "ingressgateway" }));
}

#[test]
fn seed_001_alb_matches_the_seed_ingress() {
    let rendering = Rendering::of("seed-001-https");
    assert_alb_traps(&rendering, "public", "istio-ingressgateway", 443);
    let ingress = rendering.object(Kind::Alb, "public");
    assert_eq!(alb_annotation(ingress, "backend-protocol"), "HTTPS");
    assert_eq!(alb_annotation(ingress, "scheme"), "internet-facing");
}

#[test]
fn seed_001_gateway_serves_the_certificate_secret() {
    let rendering = Rendering::of("seed-001-https");
    let certificate = rendering.object(Kind::Certificate, "moamoa-cert");
    let gateway = rendering.object(Kind::Gateway, "monitor-gateway");
    let servers = &gateway["spec"]["servers"];
    assert_eq!(servers[0]["tls"], json!({ "httpsRedirect": true }));
    assert_eq!(servers[1]["tls"]["mode"], "SIMPLE");
    assert_eq!(
        servers[1]["tls"]["credentialName"],
        certificate["spec"]["secretName"]
    );
    assert_eq!(certificate["spec"]["secretName"], "moamoa-cert");
    // The Secret must live where the gateway workload runs.
    assert_eq!(certificate["metadata"]["namespace"], "istio-system");
    assert_eq!(gateway["metadata"]["namespace"], "istio-system");
    assert_eq!(
        gateway["spec"]["selector"],
        json!({ "istio": "ingressgateway" })
    );
    assert_eq!(
        certificate["spec"]["issuerRef"],
        json!({ "name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io" })
    );
}

#[test]
fn seed_001_virtual_service_binds_the_gateway_across_namespaces() {
    let rendering = Rendering::of("seed-001-https");
    let vs = rendering.object(Kind::VirtualService, "gateway-server");
    assert_eq!(vs["metadata"]["namespace"], "default");
    assert_eq!(
        vs["spec"]["gateways"],
        json!(["istio-system/monitor-gateway"])
    );
    assert_eq!(
        vs["spec"]["hosts"],
        json!(["moamoa-news.com", "www.moamoa-news.com"])
    );
    let route = &vs["spec"]["http"][0];
    assert_eq!(route["match"], json!([{ "uri": { "prefix": "/" } }]));
    assert_eq!(
        route["route"],
        json!([{ "destination": { "host": "gatewayserver-service", "port": { "number": 8072 } } }])
    );
}

#[test]
fn seed_001_issuer_uses_irsa_not_static_keys() {
    let rendering = Rendering::of("seed-001-https");
    let issuer = rendering.object(Kind::Issuer, "letsencrypt");
    let solver = &issuer["spec"]["acme"]["solvers"][0]["dns01"]["route53"];
    assert_eq!(
        solver,
        &json!({ "region": REGION, "hostedZoneID": ZONE_ID })
    );
    let text = issuer.to_string();
    assert!(!text.contains("accessKeyID") && !text.contains("secretAccessKey"));
    let Rendered::Helm(chart) = rendering.rendered(Kind::CertManager, "cert-manager") else {
        panic!("cert-manager is a Helm release");
    };
    assert_eq!(chart.version, "v1.14.4");
    assert_eq!(chart.values["installCRDs"], true);
    assert_eq!(
        chart.values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
        format!("arn:aws:iam::{ACCOUNT}:role/moamoa-cert-manager")
    );
}

#[test]
fn seed_004_nlb_gateway_carries_the_controller_annotations() {
    let rendering = Rendering::of("seed-004-multi-gateway");
    let operator = rendering.object(Kind::IngressGateway, "istio-ingressgateway");
    let k8s = &operator["spec"]["components"]["ingressGateways"][0]["k8s"];
    assert_eq!(k8s["service"]["type"], "LoadBalancer");
    assert_eq!(k8s["service"]["externalTrafficPolicy"], "Cluster");
    let annotations = &k8s["serviceAnnotations"];
    let nlb = |key: &str| annotations[format!("service.beta.kubernetes.io/{key}")].clone();
    assert_eq!(nlb("aws-load-balancer-type"), "external");
    assert_eq!(nlb("aws-load-balancer-nlb-target-type"), "ip");
    assert_eq!(nlb("aws-load-balancer-scheme"), "internal");
    assert_eq!(nlb("aws-load-balancer-ssl-cert"), ACM_ARN);
    assert_eq!(nlb("aws-load-balancer-ssl-ports"), "443");
    assert_eq!(nlb("aws-load-balancer-name"), "istio-ingress-nlb");
    assert_eq!(
        nlb("aws-load-balancer-ssl-negotiation-policy"),
        "ELBSecurityPolicy-2016-08"
    );
    assert_eq!(nlb("aws-load-balancer-healthcheck-port"), "15021");
    assert_eq!(nlb("aws-load-balancer-healthcheck-path"), "/healthz/ready");
    assert_eq!(
        nlb("aws-load-balancer-attributes"),
        "load_balancing.cross_zone.enabled=true"
    );
    assert_eq!(
        nlb("load-balancer-source-ranges"),
        "10.0.0.0/16,172.16.0.0/12"
    );
    assert_eq!(
        k8s["service"]["ports"],
        json!([
            { "name": "status-port", "protocol": "TCP", "port": 15021, "targetPort": 15021 },
            { "name": "http2", "protocol": "TCP", "port": 80, "targetPort": 8080 },
            { "name": "https", "protocol": "TCP", "port": 443, "targetPort": 8443 },
        ])
    );
}

#[test]
fn seed_004_alb_gateways_pin_their_status_node_ports() {
    let rendering = Rendering::of("seed-004-multi-gateway");
    for (alb, gateway, node_port) in [
        ("internal", "istio-ingressgateway-alb", 30621),
        ("external", "istio-ingressgateway-ext-alb", 30622),
    ] {
        assert_eq!(rendering.status_node_port(gateway), node_port);
        assert_alb_traps(&rendering, alb, gateway, 80);
        let operator = rendering.object(Kind::IngressGateway, gateway);
        let component = &operator["spec"]["components"]["ingressGateways"][0];
        let status = &component["k8s"]["service"]["ports"][0];
        assert_eq!(status["name"], STATUS_PORT_NAME);
        assert_eq!(status["nodePort"], node_port);
        assert_eq!(
            component["k8s"]["hpaSpec"],
            json!({ "minReplicas": 1, "maxReplicas": 2 })
        );
    }
    let internal = rendering.object(Kind::Alb, "internal");
    assert_eq!(alb_annotation(internal, "scheme"), "internal");
    let external = rendering.object(Kind::Alb, "external");
    assert_eq!(alb_annotation(external, "scheme"), "internet-facing");
    let istio = rendering.object(Kind::Istio, "mesh");
    assert_eq!(
        istio["spec"]["components"]["egressGateways"],
        json!([{ "name": "istio-egressgateway", "enabled": false }])
    );
}

#[test]
fn every_object_names_its_owner() {
    for stem in [
        "seed-000-private-eks",
        "seed-001-https",
        "seed-002-nginx-nlb-addons",
        "seed-003-traffic-security",
        "seed-004-multi-gateway",
    ] {
        let rendering = Rendering::of(stem);
        for (address, result) in &rendering.results {
            let rendered = &result.as_ref().unwrap().rendered;
            if matches!(rendered, Rendered::Helm(_)) {
                continue;
            }
            for document in rendered.documents() {
                let metadata = &document["metadata"];
                assert_eq!(
                    metadata["labels"]["app.kubernetes.io/managed-by"], "meshctl",
                    "{address}"
                );
                assert_eq!(
                    metadata["annotations"]["meshctl.io/address"],
                    address.to_string()
                );
            }
        }
    }
}

fn alb_inputs(status_node_port: Option<u16>) -> Inputs {
    let mut gateway = BTreeMap::from([
        ("service_name".to_string(), json!("istio-ingressgateway")),
        ("namespace".to_string(), json!("istio-system")),
    ]);
    if let Some(port) = status_node_port {
        gateway.insert("status_node_port".into(), port.into());
    }
    BTreeMap::from([
        (
            Address::new(Kind::IngressGateway, "istio-ingressgateway"),
            gateway,
        ),
        (
            Address::new(Kind::AcmCertificate, "wildcard"),
            BTreeMap::from([("arn".to_string(), json!(ACM_ARN))]),
        ),
    ])
}

fn alb_desired(port: Option<u16>) -> Value {
    json!({
        "gateway": "istio-ingressgateway",
        "scheme": "internet-facing",
        "target_type": "instance",
        "certificate": "wildcard",
        "ssl_redirect": true,
        "backend": { "protocol": "HTTP", "port": 80 },
        "health_check": { "path": "/healthz/ready", "port": port, "protocol": "HTTP" },
    })
}

#[test]
fn an_unknown_output_is_named_not_guessed() {
    let address = Address::new(Kind::Alb, "public");
    let inputs = alb_inputs(None);
    let cx = Context {
        stack: STACK,
        region: REGION,
        cluster: None,
        inputs: &inputs,
    };
    let desired = alb_desired(None);
    let err = render(&address, &desired, &cx).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`${ingress_gateway.istio-ingressgateway.status_node_port}` is not known yet"
    );
    let empty = Inputs::new();
    let cx = Context {
        inputs: &empty,
        ..cx
    };
    let err = render(&address, &desired, &cx).unwrap_err();
    assert!(matches!(err, RenderError::UnknownOutput { .. }), "{err}");

    let lb = Address::new(Kind::LbController, "aws-load-balancer-controller");
    let desired =
        json!({ "chart_version": "1.7.2", "service_account": "aws-load-balancer-controller" });
    assert!(matches!(
        render(&lb, &desired, &cx),
        Err(RenderError::NoCluster { .. })
    ));
    let cluster = Address::new(Kind::EksCluster, "main");
    let cx = Context {
        cluster: Some(&cluster),
        ..cx
    };
    assert_eq!(
        render(&lb, &desired, &cx).unwrap_err().to_string(),
        "`${eks_cluster.main.name}` is not known yet"
    );
}

#[test]
fn a_health_check_port_that_is_not_the_status_node_port_is_refused() {
    let address = Address::new(Kind::Alb, "public");
    let inputs = alb_inputs(Some(31234));
    let cx = Context {
        stack: STACK,
        region: REGION,
        cluster: None,
        inputs: &inputs,
    };
    let err = render(&address, &alb_desired(Some(30621)), &cx).unwrap_err();
    assert!(matches!(err, RenderError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("31234"), "{err}");
    render(&address, &alb_desired(Some(31234)), &cx).unwrap();
}

#[test]
fn no_input_makes_render_panic() {
    let inputs = Inputs::new();
    let cx = Context {
        stack: STACK,
        region: REGION,
        cluster: None,
        inputs: &inputs,
    };
    let shapes = [
        Value::Null,
        json!({}),
        json!([]),
        json!("text"),
        json!(42),
        json!({ "gateway": 7, "objects": "no" }),
        json!({ "objects": [null, 1, { "metadata": 3 }, { "metadata": { "labels": [] } }] }),
    ];
    for kind in Kind::ALL {
        for desired in &shapes {
            let _ = render(&Address::new(*kind, "x"), desired, &cx);
        }
    }
    // A manifest of odd objects still gets meshctl's stamp without panicking.
    let manifest = Address::new(Kind::Manifest, "odd");
    let desired = json!({ "objects": [{ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "a", "labels": "bad" } }] });
    let Ok(render) = render(&manifest, &desired, &cx) else {
        panic!("manifest did not render");
    };
    let Rendered::Objects(objects) = render.rendered else {
        panic!("manifest renders objects");
    };
    assert_eq!(
        objects[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "meshctl"
    );
}

#[test]
fn a_malformed_output_is_an_error_naming_it() {
    let mut inputs = alb_inputs(None);
    inputs
        .get_mut(&Address::new(Kind::IngressGateway, "istio-ingressgateway"))
        .unwrap()
        .insert("status_node_port".into(), json!("not a port"));
    let cx = Context {
        stack: STACK,
        region: REGION,
        cluster: None,
        inputs: &inputs,
    };
    let err = render(&Address::new(Kind::Alb, "public"), &alb_desired(None), &cx).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`${ingress_gateway.istio-ingressgateway.status_node_port}` is not a port number"
    );
    inputs
        .get_mut(&Address::new(Kind::IngressGateway, "istio-ingressgateway"))
        .unwrap()
        .insert("labels".into(), json!(["istio"]));
    let cx = Context {
        stack: STACK,
        region: REGION,
        cluster: None,
        inputs: &inputs,
    };
    let gateway = json!({
        "selector": "istio-ingressgateway",
        "servers": [{ "port": { "number": 80, "name": "http", "protocol": "HTTP" }, "hosts": ["*"] }],
    });
    let err = render(&Address::new(Kind::Gateway, "g"), &gateway, &cx).unwrap_err();
    assert!(matches!(err, RenderError::BadOutput { .. }), "{err}");
}

#[test]
fn every_object_release_and_operator_carries_its_owner() {
    let rendering = Rendering::of("seed-002-nginx-nlb-addons");
    for (address, result) in &rendering.results {
        let render = result.as_ref().unwrap();
        let marked: Vec<&Value> = match &render.rendered {
            Rendered::Objects(objects) => objects.iter().collect(),
            Rendered::IstioOperator { operator, .. } => vec![operator],
            Rendered::Helm(chart) => {
                assert_eq!(chart.labels["meshctl.io/stack"], "nginx-istio", "{address}");
                assert_eq!(chart.labels["meshctl.io/kind"], address.kind.as_str());
                continue;
            }
            Rendered::Existing => continue,
        };
        for object in marked {
            let metadata = &object["metadata"];
            assert_eq!(
                metadata["labels"]["meshctl.io/stack"], "nginx-istio",
                "{address}"
            );
            assert_eq!(
                metadata["labels"]["app.kubernetes.io/managed-by"],
                "meshctl"
            );
            assert_eq!(
                metadata["annotations"]["meshctl.io/address"],
                address.to_string()
            );
        }
    }
}

fn istio_inputs(revision: Option<&str>) -> Inputs {
    let mut outputs = BTreeMap::from([
        ("version".to_string(), json!("1.22.3")),
        ("namespace".to_string(), json!("istio-system")),
    ]);
    if let Some(revision) = revision {
        outputs.insert("revision".into(), json!(revision));
    }
    BTreeMap::from([(Address::new(Kind::Istio, "mesh"), outputs)])
}

#[test]
fn a_revision_names_the_control_plane_and_its_gateways_follow_it() {
    let istio = Address::new(Kind::Istio, "mesh");
    let revisioned = render_alone(&istio, json!({"version": "1.22.3", "revision": "blue"}));
    let Rendered::IstioOperator { operator, .. } = &revisioned.rendered else {
        panic!("istio renders an IstioOperator");
    };
    assert_eq!(operator["spec"]["revision"], "blue");
    assert_eq!(revisioned.outputs["revision"], "blue");
    let plain = render_alone(&istio, json!({"version": "1.22.3"}));
    assert_eq!(plain.outputs["revision"], "default");
    let Rendered::IstioOperator { operator, .. } = &plain.rendered else {
        panic!("istio renders an IstioOperator");
    };
    assert!(operator["spec"].get("revision").is_none(), "{operator:#}");

    let gateway = Address::new(Kind::IngressGateway, "gw");
    let desired =
        json!({"istio": "mesh", "labels": {"istio": "gw"}, "service": {"type": "ClusterIP"}});
    for (revision, expected) in [
        (Some("blue"), json!("blue")),
        (Some("default"), Value::Null),
        (None, Value::Null),
    ] {
        let inputs = istio_inputs(revision);
        let cx = Context {
            stack: STACK,
            region: REGION,
            cluster: None,
            inputs: &inputs,
        };
        let rendered = render(&gateway, &desired, &cx).unwrap();
        let Rendered::IstioOperator { operator, .. } = &rendered.rendered else {
            panic!("a gateway renders an IstioOperator");
        };
        assert_eq!(operator["spec"]["revision"], expected, "{revision:?}");
    }
}

fn render_alone(address: &Address, desired: Value) -> Render {
    let inputs = Inputs::new();
    let cx = Context {
        stack: STACK,
        region: REGION,
        cluster: None,
        inputs: &inputs,
    };
    render(address, &desired, &cx).unwrap()
}

#[test]
fn an_existing_control_plane_installs_nothing_and_names_what_it_looks_up() {
    let istio = Address::new(Kind::Istio, "mesh");
    let render = render_alone(
        &istio,
        json!({"existing": true, "revision": "blue", "namespace": "mesh-system"}),
    );
    assert_eq!(render.rendered, Rendered::Existing);
    assert_eq!(render.rendered.to_yaml().unwrap(), "");
    assert_eq!(render.outputs["revision"], "blue");
    assert_eq!(render.outputs["namespace"], "mesh-system");
    // Its version comes from the cluster, unless the stack pins it.
    assert!(!render.outputs.contains_key("version"));
    let pinned = render_alone(&istio, json!({"existing": true, "version": "1.22.3"}));
    assert_eq!(pinned.outputs["version"], "1.22.3");
    assert_eq!(pinned.outputs["revision"], "default");
}
