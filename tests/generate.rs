//! `meshctl generate` end to end, on seed 001's and seed 004's topologies built by hand in the
//! sandbox as their field notes build them (tests/support/handbuilt.rs, tests/handbuilt/):
//! generate writes a stack, `validate` passes, `plan` shows imports and only the listed
//! differences (each with why), `apply` adopts and marks, the next plan is empty, `drift` is
//! clean and `destroy` leaves the sandbox as it was before the hand-built steps (checked with the
//! AWS SDK and kubectl).

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use support::handbuilt::{self, data, kubectl_apply, tool};
use support::sandbox::{assert_exit, Sandbox};
use support::{runtime, REGION};

const LB_CONTROLLER_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["elasticloadbalancing:*","ec2:Describe*","acm:DescribeCertificate","acm:ListCertificates"],"Resource":"*"}]}"#;
const CERT_MANAGER_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"route53:GetChange","Resource":"arn:aws:route53:::change/*"},{"Effect":"Allow","Action":["route53:ChangeResourceRecordSets","route53:ListResourceRecordSets"],"Resource":"arn:aws:route53:::hostedzone/*"},{"Effect":"Allow","Action":"route53:ListHostedZonesByName","Resource":"*"}]}"#;

/// A difference the plan's imports may show: the resource, the field paths, and why the
/// hand-built world differs there from what meshctl builds.
type Expected<'a> = &'a [(&'a str, &'a [&'a str], &'a str)];

fn meshctl(sandbox: &Sandbox, dir: &Path, args: &[&str]) -> Output {
    sandbox.meshctl_approved(&dir.join("stack.yaml"), &dir.join("state"), args)
}

/// The IAM policies the add-ons' docs have a team create in the account before anything else
/// (`aws iam create-policy`). They come before the topology, as the hosted zone does: the IRSA
/// roles reference them (`policy_arns`), meshctl has no kind for them, and destroy leaves them.
fn account_policies(rt: &tokio::runtime::Runtime, config: &aws_config::SdkConfig) {
    rt.block_on(handbuilt::account_policy(
        config,
        "AWSLoadBalancerControllerIAMPolicy",
        LB_CONTROLLER_POLICY,
    ));
    rt.block_on(handbuilt::account_policy(
        config,
        "CertManagerRoute53",
        CERT_MANAGER_POLICY,
    ));
}

/// The sandbox before the hand-built steps, as the SDK and kubectl see it.
struct Before {
    aws: BTreeMap<&'static str, BTreeSet<String>>,
    kube: BTreeSet<String>,
}

/// What eksctl makes for the cluster and its two IRSA roles, and the two add-ons helm installs,
/// as both notes have them before their own steps. Returns the VPC id.
fn eksctl_and_addons(
    rt: &tokio::runtime::Runtime,
    config: &aws_config::SdkConfig,
    sandbox: &Sandbox,
    cluster: &str,
) -> String {
    let vpc_id = rt.block_on(handbuilt::eksctl_cluster(config, cluster, "1.29"));
    rt.block_on(handbuilt::eksctl_iam_service_account(
        config,
        cluster,
        "kube-system",
        "aws-load-balancer-controller",
        "AWSLoadBalancerControllerIAMPolicy",
        LB_CONTROLLER_POLICY,
    ));
    rt.block_on(handbuilt::eksctl_iam_service_account(
        config,
        cluster,
        "cert-manager",
        "cert-manager",
        "CertManagerRoute53",
        CERT_MANAGER_POLICY,
    ));
    handbuilt::helm_install_lb_controller(sandbox, cluster);
    handbuilt::helm_install_cert_manager(sandbox);
    vpc_id
}

/// A console alias record to the balancer with DNS name `dns`.
fn alias(
    rt: &tokio::runtime::Runtime,
    config: &aws_config::SdkConfig,
    zone_id: &str,
    name: &str,
    dns: &str,
) {
    let zone = rt.block_on(async {
        let balancers = aws_sdk_elasticloadbalancingv2::Client::new(config)
            .describe_load_balancers()
            .send()
            .await
            .unwrap();
        balancers
            .load_balancers()
            .iter()
            .find(|b| b.dns_name() == Some(dns))
            .and_then(|b| b.canonical_hosted_zone_id())
            .unwrap_or_else(|| panic!("no balancer named {dns}"))
            .to_string()
    });
    rt.block_on(handbuilt::console_alias(config, zone_id, name, dns, &zone));
}

/// `meshctl generate` into DIR/stack.yaml, validated and planned: the written stack and the
/// plan, in which every resource is an import (the zone, there before the topology, is looked
/// up) and the imports' fields are only the `expected` differences, each of them there.
fn generate_and_plan(
    sandbox: &Sandbox,
    dir: &Path,
    cluster: &str,
    domain: &str,
    expected: Expected<'_>,
) -> (String, Value) {
    let stack = dir.join("stack.yaml");
    let generated = std::process::Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args([
            "generate",
            "--cluster",
            cluster,
            "--region",
            REGION,
            "--zone",
            domain,
            "-o",
        ])
        .arg(&stack)
        .envs(&sandbox.env)
        .output()
        .unwrap();
    assert_exit(&generated, 0, "generate");
    let written = std::fs::read_to_string(&stack).unwrap();
    let validated = support::meshctl_in(dir, &["validate", "-f", "stack.yaml"]);
    assert_exit(
        &validated,
        0,
        &format!("validate of the generated stack:\n{written}"),
    );
    let plan = meshctl(sandbox, dir, &["plan", "--format", "json"]);
    assert_exit(&plan, 0, "plan");
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let mut unlisted = Vec::new();
    for change in plan["changes"].as_array().unwrap() {
        let address = change["address"].as_str().unwrap();
        if address == "route53_zone.public" {
            assert_eq!(
                change["action"], "read",
                "the zone is looked up: {change:#}"
            );
            continue;
        }
        assert_eq!(change["action"], "import", "{address}: {change:#}");
        for field in change["fields"].as_array().cloned().unwrap_or_default() {
            let path = field["path"].as_str().unwrap();
            let listed = expected.iter().any(|(at, paths, _why)| {
                *at == address && paths.iter().any(|p| path.ends_with(&format!(" {p}")))
            });
            if !listed {
                unlisted.push(format!(
                    "{address}: {path}: {} -> {}",
                    field["old"], field["new"]
                ));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "differences the test does not list:\n{}\nin the plan of:\n{written}",
        unlisted.join("\n")
    );
    for (address, paths, why) in expected {
        let change = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == *address)
            .unwrap_or_else(|| panic!("{address} is not in the plan"));
        for p in *paths {
            assert!(
                change["fields"]
                    .to_string()
                    .contains(&p.replace('"', "\\\"")),
                "{address}: the listed difference {p} ({why}) is not in the plan: {change:#}"
            );
        }
    }
    (written, plan)
}

/// Apply adopts (`marked` is a VPC the SDK must then see tagged); the next plan is empty, drift
/// is clean, and destroy leaves the sandbox as `before`.
fn adopt_and_destroy(
    rt: &tokio::runtime::Runtime,
    config: &aws_config::SdkConfig,
    sandbox: &Sandbox,
    dir: &Path,
    vpc_id: &str,
    before: &Before,
) {
    let applied = meshctl(sandbox, dir, &["apply"]);
    assert_exit(&applied, 0, "apply of the generated stack");
    let vpcs = rt
        .block_on(
            aws_sdk_ec2::Client::new(config)
                .describe_vpcs()
                .vpc_ids(vpc_id)
                .send(),
        )
        .unwrap();
    let vpc_tags: Vec<(String, String)> = vpcs.vpcs()[0]
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        vpc_tags.contains(&("meshctl:address".to_string(), "vpc.main".to_string())),
        "the adopted VPC carries the stack's marks: {vpc_tags:?}"
    );
    let again = meshctl(sandbox, dir, &["plan", "--format", "json"]);
    assert_exit(&again, 0, "second plan");
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["has_changes"], false, "{again:#}");
    let drift = meshctl(sandbox, dir, &["drift"]);
    assert_exit(&drift, 0, "drift after the adoption");

    // Destroy leaves the sandbox as it was before the hand-built steps, but for what the hand
    // built and no resource owns: the IAM policies made for the roles (the roles only name them
    // in policy_arns), and the namespaces and CRDs the tools made and leave by design.
    let destroyed = meshctl(sandbox, dir, &["destroy"]);
    assert_exit(&destroyed, 0, "destroy");
    let after_aws = support::aws_world::world(rt, config);
    let left = support::aws_world::added(&before.aws, &after_aws);
    assert!(left.is_empty(), "AWS objects left after destroy: {left:#?}");
    let removed = support::aws_world::added(&after_aws, &before.aws);
    assert!(
        removed.is_empty(),
        "AWS objects destroy removed that were there before: {removed:#?}"
    );
    // The cluster's controllers finish after destroy returns, as a real cluster's do (a Node
    // goes once its instance is terminated): the world is compared once it has settled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut after_kube = sandbox.kube_world();
    while after_kube != before.kube && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(500));
        after_kube = sandbox.kube_world();
    }
    let left: Vec<&String> = after_kube.difference(&before.kube).collect();
    assert!(
        left.is_empty(),
        "Kubernetes objects left after destroy: {left:#?}"
    );
    let gone: Vec<&String> = before.kube.difference(&after_kube).collect();
    assert!(
        gone.is_empty(),
        "objects there before that destroy removed: {gone:#?}"
    );
}

#[test]
fn seed_001_built_by_hand_is_generated_adopted_and_destroyed() {
    const CLUSTER: &str = "moamoa";
    const DOMAIN: &str = "moamoa-news.com";
    let rt = runtime();
    let (sandbox, config) = Sandbox::start(CLUSTER, DOMAIN, &rt);
    let dir = tempfile::tempdir().unwrap();
    // The project's app was there before the topology.
    kubectl_apply(&sandbox, dir.path(), &data("seed-001", "app.yaml"), &[]);
    account_policies(&rt, &config);
    let before = Before {
        aws: support::aws_world::world(&rt, &config),
        kube: sandbox.kube_world(),
    };

    // --- by hand, as the field note does it ----------------------------------------------------
    let vpc_id = eksctl_and_addons(&rt, &config, &sandbox, CLUSTER);
    tool(
        &sandbox,
        "istioctl",
        &[
            "install",
            "-y",
            "-f",
            data("seed-001", "istio-default.yaml").to_str().unwrap(),
        ],
    );
    let certificate = rt.block_on(handbuilt::console_certificate(&config, DOMAIN));
    let zone_id = support::zone_id(&rt, &config, DOMAIN);
    let zone_id = zone_id.trim_start_matches("/hostedzone/");
    kubectl_apply(
        &sandbox,
        dir.path(),
        &data("seed-001", "cert-manager.yaml"),
        &[("ZONE_ID", zone_id)],
    );
    kubectl_apply(&sandbox, dir.path(), &data("seed-001", "routing.yaml"), &[]);
    kubectl_apply(
        &sandbox,
        dir.path(),
        &data("seed-001", "ingress.yaml"),
        &[("CERTIFICATE_ARN", &certificate)],
    );
    let alb = handbuilt::ingress_hostname(&sandbox, "istio-system", "istio-ingressgateway-alb");
    for name in [DOMAIN.to_string(), format!("www.{DOMAIN}")] {
        alias(&rt, &config, zone_id, &name, &alb);
    }

    // --- generate, review, adopt, destroy -------------------------------------------------------
    let expected: Expected<'_> = &[
        ("istio.istio-default", &[
            "spec.components.pilot.k8s.hpaSpec.minReplicas",
            "spec.components.pilot.k8s.hpaSpec.maxReplicas",
            "spec.meshConfig.enableTracing",
            "spec.meshConfig.defaultConfig.holdApplicationUntilProxyStarts",
            "spec.meshConfig.outboundTrafficPolicy.mode",
        ], "meshctl writes istiod's autoscaling and these mesh settings out, where the hand-written operator left Istio's defaults"),
        ("istio.istio-default", &["spec.components.ingressGateways[0].enabled"],
            "meshctl installs each gateway from an IstioOperator of its own, so the control plane's installs none"),
        ("lb_controller.aws-load-balancer-controller", &[
            "values.region", "values.replicaCount",
        ], "meshctl sets the region and two replicas explicitly"),
        ("lb_controller.aws-load-balancer-controller", &[
            "values.serviceAccount.create", "values.serviceAccount.annotations[\"eks.amazonaws.com/role-arn\"]",
        ], "meshctl lets the chart make the ServiceAccount with its IRSA annotation (eksctl made it beside the chart)"),
        ("cert_manager.cert-manager", &[
            "values.serviceAccount.create", "values.serviceAccount.name",
            "values.serviceAccount.annotations[\"eks.amazonaws.com/role-arn\"]",
        ], "meshctl wires cert-manager's IRSA role through the chart's ServiceAccount (the note used a static key instead)"),
        ("alb.istio-ingressgateway-alb", &[
            "metadata.annotations[\"alb.ingress.kubernetes.io/healthcheck-port\"]",
        ], "meshctl writes the status port's nodePort, which instance targets need, instead of the port's name"),
        ("alb.istio-ingressgateway-alb", &[
            "metadata.annotations[\"alb.ingress.kubernetes.io/listen-ports\"]",
        ], "the same listeners, written without spaces"),
        ("alb.istio-ingressgateway-alb", &[
            "metadata.annotations[\"alb.ingress.kubernetes.io/ssl-redirect\"]",
            "spec.rules[0].http.paths[0].backend.service.name",
            "spec.rules[0].http.paths[0].backend.service.port.number",
        ], "meshctl redirects with the ssl-redirect annotation (controller v2.2+), not a redirect action path"),
        ("alb.istio-ingressgateway-alb", &["spec.ingressClassName"],
            "meshctl names the class in spec, where the note used the deprecated annotation"),
        ("certificate.moamoa-cert", &["spec.issuerRef.group"],
            "meshctl names the issuer's group, which the note left to cert-manager's default"),
    ];
    let (written, _plan) = generate_and_plan(&sandbox, dir.path(), CLUSTER, DOMAIN, expected);
    assert!(
        written.contains("# - Service default/gatewayserver-service"),
        "the app is listed for a manifest, not dropped: {written}"
    );
    adopt_and_destroy(&rt, &config, &sandbox, dir.path(), &vpc_id, &before);
}

#[test]
fn seed_004_built_by_hand_is_generated_adopted_and_destroyed() {
    const CLUSTER: &str = "multi";
    const DOMAIN: &str = "example.com";
    let rt = runtime();
    let (sandbox, config) = Sandbox::start(CLUSTER, DOMAIN, &rt);
    let dir = tempfile::tempdir().unwrap();
    account_policies(&rt, &config);
    let before = Before {
        aws: support::aws_world::world(&rt, &config),
        kube: sandbox.kube_world(),
    };

    // --- by hand, as the field note does it ----------------------------------------------------
    let vpc_id = eksctl_and_addons(&rt, &config, &sandbox, CLUSTER);
    let certificate = rt.block_on(handbuilt::console_certificate(&config, DOMAIN));
    let operator = dir.path().join("istio-operator.yaml");
    std::fs::write(
        &operator,
        std::fs::read_to_string(data("seed-004", "istio-operator.yaml"))
            .unwrap()
            .replace("${CERTIFICATE_ARN}", &certificate),
    )
    .unwrap();
    tool(
        &sandbox,
        "istioctl",
        &["install", "-y", "-f", operator.to_str().unwrap()],
    );
    kubectl_apply(&sandbox, dir.path(), &data("seed-004", "ingress.yaml"), &[]);
    let zone_id = support::zone_id(&rt, &config, DOMAIN);
    let zone_id = zone_id.trim_start_matches("/hostedzone/");
    let alb = handbuilt::ingress_hostname(&sandbox, "istio-system", "istio-alb");
    let ext_alb = handbuilt::ingress_hostname(&sandbox, "istio-system", "istio-ext-alb");
    alias(&rt, &config, zone_id, &format!("app.{DOMAIN}"), &alb);
    alias(&rt, &config, zone_id, &format!("ext.{DOMAIN}"), &ext_alb);

    // --- generate, review, adopt, destroy -------------------------------------------------------
    let expected: Expected<'_> = &[
        ("istio.istiocontrolplane", &[
            "spec.components.pilot.k8s.hpaSpec.minReplicas",
            "spec.components.pilot.k8s.hpaSpec.maxReplicas",
            "spec.meshConfig.enableTracing",
            "spec.meshConfig.defaultConfig.holdApplicationUntilProxyStarts",
            "spec.meshConfig.outboundTrafficPolicy.mode",
        ], "meshctl writes istiod's autoscaling and these mesh settings out, where the note's operator left Istio's defaults"),
        ("istio.istiocontrolplane", &["spec.components.ingressGateways[0].enabled"],
            "meshctl installs each of the three gateways from an IstioOperator of its own, so the control plane's installs none"),
        ("lb_controller.aws-load-balancer-controller", &[
            "values.region", "values.replicaCount",
        ], "meshctl sets the region and two replicas explicitly"),
        ("lb_controller.aws-load-balancer-controller", &[
            "values.serviceAccount.create", "values.serviceAccount.annotations[\"eks.amazonaws.com/role-arn\"]",
        ], "meshctl lets the chart make the ServiceAccount with its IRSA annotation (eksctl made it beside the chart)"),
        ("cert_manager.cert-manager", &[
            "values.serviceAccount.create", "values.serviceAccount.name",
            "values.serviceAccount.annotations[\"eks.amazonaws.com/role-arn\"]",
        ], "meshctl wires cert-manager's IRSA role through the chart's ServiceAccount"),
        ("alb.istio-alb", &[
            "metadata.annotations[\"alb.ingress.kubernetes.io/backend-protocol\"]",
            "metadata.annotations[\"alb.ingress.kubernetes.io/healthcheck-protocol\"]",
            "metadata.annotations[\"alb.ingress.kubernetes.io/listen-ports\"]",
        ], "meshctl writes the controller's defaults (HTTP backend and health check, an HTTP:80 listener) out"),
        ("alb.istio-ext-alb", &[
            "metadata.annotations[\"alb.ingress.kubernetes.io/backend-protocol\"]",
            "metadata.annotations[\"alb.ingress.kubernetes.io/healthcheck-protocol\"]",
            "metadata.annotations[\"alb.ingress.kubernetes.io/listen-ports\"]",
        ], "the same for the second ALB"),
    ];
    let (written, plan) = generate_and_plan(&sandbox, dir.path(), CLUSTER, DOMAIN, expected);
    // Three gateways from one operator, each its own resource with its labels; the NLB's
    // annotations as the gateway's `nlb:` fields; the ALB gateways' status nodePorts pinned.
    for needed in [
        "name: istio-ingressgateway-alb",
        "name: istio-ingressgateway-ext-alb",
        "node_port: 30621",
        "node_port: 30622",
        "istio: ingressgateway-ext-alb",
        "scheme: internal",
        "target_type: ip",
        "cross_zone: true",
        "ssl_negotiation_policy: ELBSecurityPolicy-2016-08",
        "alias: alb.istio-ext-alb",
    ] {
        assert!(written.contains(needed), "`{needed}` is not in:\n{written}");
    }
    let gateways = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "ingress_gateway")
        .count();
    assert_eq!(gateways, 3, "{plan:#}");
    adopt_and_destroy(&rt, &config, &sandbox, dir.path(), &vpc_id, &before);
}
