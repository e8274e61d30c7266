//! `meshctl generate` end to end: seed 001's topology is built by hand in the sandbox as its
//! field note builds it (tests/support/handbuilt.rs, tests/handbuilt/seed-001/), then generate
//! writes a stack, `validate` passes, `plan` shows imports and only the listed differences,
//! `apply` adopts, the next plan is empty, `drift` is clean and `destroy` leaves the sandbox as
//! it was before the hand-built steps (checked with the AWS SDK and kubectl).

mod support;

use serde_json::Value;
use std::process::Output;
use support::handbuilt::{self, data, kubectl_apply, tool};
use support::sandbox::{assert_exit, Sandbox};
use support::{runtime, REGION};

const CLUSTER: &str = "moamoa";
const DOMAIN: &str = "moamoa-news.com";

const LB_CONTROLLER_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["elasticloadbalancing:*","ec2:Describe*","acm:DescribeCertificate","acm:ListCertificates"],"Resource":"*"}]}"#;
const CERT_MANAGER_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"route53:GetChange","Resource":"arn:aws:route53:::change/*"},{"Effect":"Allow","Action":["route53:ChangeResourceRecordSets","route53:ListResourceRecordSets"],"Resource":"arn:aws:route53:::hostedzone/*"},{"Effect":"Allow","Action":"route53:ListHostedZonesByName","Resource":"*"}]}"#;

fn meshctl(sandbox: &Sandbox, dir: &std::path::Path, args: &[&str]) -> Output {
    sandbox.meshctl_approved(&dir.join("stack.yaml"), &dir.join("state"), args)
}

#[test]
fn seed_001_built_by_hand_is_generated_adopted_and_destroyed() {
    let rt = runtime();
    let (sandbox, config) = Sandbox::start(CLUSTER, DOMAIN, &rt);
    let dir = tempfile::tempdir().unwrap();
    // The project's app was there before the topology.
    kubectl_apply(&sandbox, dir.path(), &data("seed-001", "app.yaml"), &[]);
    let before_aws = support::aws_world::world(&rt, &config);
    let before_kube = sandbox.kube_world();

    // --- by hand, as the field note does it --------------------------------------------------
    let vpc_id = rt.block_on(handbuilt::eksctl_cluster(&config, CLUSTER, "1.29"));
    rt.block_on(handbuilt::eksctl_iam_service_account(
        &config,
        CLUSTER,
        "kube-system",
        "aws-load-balancer-controller",
        "AWSLoadBalancerControllerIAMPolicy",
        LB_CONTROLLER_POLICY,
    ));
    rt.block_on(handbuilt::eksctl_iam_service_account(
        &config,
        CLUSTER,
        "cert-manager",
        "cert-manager",
        "CertManagerRoute53",
        CERT_MANAGER_POLICY,
    ));
    tool(
        &sandbox,
        "helm",
        &[
            "install",
            "aws-load-balancer-controller",
            "eks/aws-load-balancer-controller",
            "--version",
            "1.7.2",
            "--namespace",
            "kube-system",
            "--set",
            &format!("clusterName={CLUSTER}"),
            "--set",
            "serviceAccount.create=false",
            "--set",
            "serviceAccount.name=aws-load-balancer-controller",
        ],
    );
    tool(
        &sandbox,
        "helm",
        &[
            "install",
            "cert-manager",
            "jetstack/cert-manager",
            "--version",
            "v1.14.4",
            "--namespace",
            "cert-manager",
            "--create-namespace",
            "--set",
            "installCRDs=true",
        ],
    );
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
    let alb_zone = rt.block_on(async {
        let balancers = aws_sdk_elasticloadbalancingv2::Client::new(&config)
            .describe_load_balancers()
            .send()
            .await
            .unwrap();
        balancers
            .load_balancers()
            .iter()
            .find(|b| b.dns_name() == Some(alb.as_str()))
            .and_then(|b| b.canonical_hosted_zone_id())
            .unwrap()
            .to_string()
    });
    for name in [DOMAIN.to_string(), format!("www.{DOMAIN}")] {
        rt.block_on(handbuilt::console_alias(
            &config, zone_id, &name, &alb, &alb_zone,
        ));
    }

    // --- generate ------------------------------------------------------------------------------
    let stack = dir.path().join("stack.yaml");
    let generated = std::process::Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args([
            "generate",
            "--cluster",
            CLUSTER,
            "--region",
            REGION,
            "--zone",
            DOMAIN,
            "-o",
        ])
        .arg(&stack)
        .envs(&sandbox.env)
        .output()
        .unwrap();
    assert_exit(&generated, 0, "generate");
    let written = std::fs::read_to_string(&stack).unwrap();
    assert!(
        written.contains("# - Service default/gatewayserver-service"),
        "the app is listed for a manifest, not dropped: {written}"
    );
    let validated = support::meshctl_in(dir.path(), &["validate", "-f", "stack.yaml"]);
    assert_exit(&validated, 0, "validate of the generated stack");
    let plan = meshctl(&sandbox, dir.path(), &["plan", "--format", "json"]);
    assert_exit(&plan, 0, "plan");
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();

    // Every resource is an import, the zone (there before the topology) is looked up, and the
    // only differences are where the hand-built world differs from what meshctl builds:
    let expected: &[(&str, &[&str], &str)] = &[
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
            assert!(
                listed,
                "{address}: a difference the test does not list: {field:#}"
            );
        }
    }
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

    // Apply adopts; the next plan is empty and drift is clean.
    let applied = meshctl(&sandbox, dir.path(), &["apply"]);
    assert_exit(&applied, 0, "apply of the generated stack");
    // The adopted objects now carry the stack's marks (read with the SDK and kubectl).
    let vpcs = rt
        .block_on(
            aws_sdk_ec2::Client::new(&config)
                .describe_vpcs()
                .vpc_ids(&vpc_id)
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
        "{vpc_tags:?}"
    );
    let gateway = sandbox.kubectl(&[
        "get",
        "gateways.networking.istio.io",
        "-n",
        "istio-system",
        "monitor-gateway",
    ]);
    assert_eq!(
        gateway["metadata"]["annotations"]["meshctl.io/address"],
        "gateway.monitor-gateway"
    );
    let again = meshctl(&sandbox, dir.path(), &["plan", "--format", "json"]);
    assert_exit(&again, 0, "second plan");
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["has_changes"], false, "{again:#}");
    let drift = meshctl(&sandbox, dir.path(), &["drift"]);
    assert_exit(&drift, 0, "drift after the adoption");

    // Destroy leaves the sandbox as it was before the hand-built steps, but for what the hand
    // built and no resource owns: the IAM policies made for the roles (the roles only name them
    // in policy_arns), and the namespaces and CRDs the tools made and leave by design.
    let destroyed = meshctl(&sandbox, dir.path(), &["destroy"]);
    assert_exit(&destroyed, 0, "destroy");
    let after_aws = support::aws_world::world(&rt, &config);
    let left = support::aws_world::added(&before_aws, &after_aws);
    assert!(left.is_empty(), "AWS objects left after destroy: {left:#?}");
    let removed = support::aws_world::added(&after_aws, &before_aws);
    assert!(
        removed.is_empty(),
        "AWS objects destroy removed that were there before: {removed:#?}"
    );
    let after_kube = sandbox.kube_world();
    let left: Vec<&String> = after_kube.difference(&before_kube).collect();
    assert!(
        left.is_empty(),
        "Kubernetes objects left after destroy: {left:#?}"
    );
    let gone: Vec<&String> = before_kube.difference(&after_kube).collect();
    assert!(
        gone.is_empty(),
        "objects there before that destroy removed: {gone:#?}"
    );
}
