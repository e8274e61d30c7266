//! moto as the sandbox starts it answers ELBv2 as AWS does where plain moto does not
//! (`meshctl_sandbox::moto_patches`), checked with the AWS SDK as the client: canonical hosted
//! zone ids per region and type, NLB ARNs and DNS names, and no SSL policy on plain listeners.
//! (Route53's re-create of a deleted record is checked in the workspace's tests/reapply.rs, which
//! has a Route53 client.)

mod common;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum,
};
use common::{start_moto, Aws, REGION};

/// From the AWS General Reference, "Elastic Load Balancing endpoints and quotas", for the region
/// the tests use: Application Load Balancers, then Network Load Balancers.
const ALB_ZONE_AP_NORTHEAST_2: &str = "ZWKZPGTI48KDX";
const NLB_ZONE_AP_NORTHEAST_2: &str = "ZIBE1TIR4HY56";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balancers_look_as_aws_makes_them() {
    let moto = start_moto();
    let aws = Aws::new(&moto.url()).await;
    let (vpc, subnets) = aws.vpc_with_tagged_subnets("kubernetes.io/role/elb").await;
    let create = |name: &str, lb_type: LoadBalancerTypeEnum, scheme: LoadBalancerSchemeEnum| {
        aws.elb
            .create_load_balancer()
            .name(name)
            .set_subnets(Some(subnets.clone()))
            .r#type(lb_type)
            .scheme(scheme)
            .send()
    };
    let nlb = create(
        "gateway-nlb",
        LoadBalancerTypeEnum::Network,
        LoadBalancerSchemeEnum::Internal,
    )
    .await
    .expect("CreateLoadBalancer (network)")
    .load_balancers
    .unwrap()
    .remove(0);
    let alb = create(
        "public-alb",
        LoadBalancerTypeEnum::Application,
        LoadBalancerSchemeEnum::InternetFacing,
    )
    .await
    .expect("CreateLoadBalancer (application)")
    .load_balancers
    .unwrap()
    .remove(0);

    // Each type has its region's zone (moto: Z2P70J7EXAMPLE for every balancer).
    assert_eq!(
        nlb.canonical_hosted_zone_id(),
        Some(NLB_ZONE_AP_NORTHEAST_2)
    );
    assert_eq!(
        alb.canonical_hosted_zone_id(),
        Some(ALB_ZONE_AP_NORTHEAST_2)
    );
    assert_eq!(
        meshctl_sandbox::moto_patches::elb_hosted_zone(REGION, "network"),
        Some(NLB_ZONE_AP_NORTHEAST_2)
    );

    // An NLB is loadbalancer/net/…, with the NLB DNS form; an ALB loadbalancer/app/….
    let nlb_arn = nlb.load_balancer_arn().unwrap().to_string();
    assert!(
        nlb_arn.contains(":loadbalancer/net/gateway-nlb/"),
        "{nlb_arn}"
    );
    let nlb_dns = nlb.dns_name().unwrap();
    assert!(
        nlb_dns.starts_with("gateway-nlb-")
            && nlb_dns.ends_with(&format!(".elb.{REGION}.amazonaws.com")),
        "{nlb_dns}"
    );
    let alb_arn = alb.load_balancer_arn().unwrap().to_string();
    assert!(
        alb_arn.contains(":loadbalancer/app/public-alb/"),
        "{alb_arn}"
    );
    let alb_dns = alb.dns_name().unwrap();
    assert!(
        alb_dns.starts_with("public-alb-")
            && alb_dns.ends_with(&format!(".{REGION}.elb.amazonaws.com")),
        "{alb_dns}"
    );

    // The NLB is found, described and deleted by its net/ ARN.
    let described = aws
        .elb
        .describe_load_balancers()
        .load_balancer_arns(&nlb_arn)
        .send()
        .await
        .expect("DescribeLoadBalancers by the net/ ARN")
        .load_balancers
        .unwrap_or_default();
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].r#type().map(|t| t.as_str()), Some("network"));

    // A plain listener has no SSL policy; a TLS one keeps its own.
    let target_group = aws
        .elb
        .create_target_group()
        .name("gateway-tcp")
        .protocol(ProtocolEnum::Tcp)
        .port(30080)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("CreateTargetGroup")
        .target_groups
        .unwrap()
        .remove(0)
        .target_group_arn
        .unwrap();
    let forward = Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(&target_group)
        .build();
    let certificate = aws.certificate("gateway.example.com").await;
    aws.elb
        .create_listener()
        .load_balancer_arn(&nlb_arn)
        .protocol(ProtocolEnum::Tcp)
        .port(80)
        .default_actions(forward.clone())
        .send()
        .await
        .expect("CreateListener TCP");
    aws.elb
        .create_listener()
        .load_balancer_arn(&nlb_arn)
        .protocol(ProtocolEnum::Tls)
        .port(443)
        .certificates(
            aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                .certificate_arn(&certificate)
                .build(),
        )
        .ssl_policy("ELBSecurityPolicy-TLS13-1-2-2021-06")
        .default_actions(forward)
        .send()
        .await
        .expect("CreateListener TLS");
    let listeners = aws
        .elb
        .describe_listeners()
        .load_balancer_arn(&nlb_arn)
        .send()
        .await
        .expect("DescribeListeners")
        .listeners
        .unwrap_or_default();
    let policy_of = |port: i32| {
        listeners
            .iter()
            .find(|l| l.port() == Some(port))
            .map(|l| l.ssl_policy().map(str::to_string))
    };
    assert_eq!(policy_of(80), Some(None), "{listeners:#?}");
    assert_eq!(
        policy_of(443),
        Some(Some("ELBSecurityPolicy-TLS13-1-2-2021-06".to_string()))
    );
    for listener in &listeners {
        assert!(
            listener
                .listener_arn()
                .unwrap()
                .contains(":listener/net/gateway-nlb/"),
            "{listener:?}"
        );
    }

    aws.elb
        .delete_load_balancer()
        .load_balancer_arn(&nlb_arn)
        .send()
        .await
        .expect("DeleteLoadBalancer by the net/ ARN");
    let left: Vec<String> = aws
        .load_balancers()
        .await
        .iter()
        .filter_map(|lb| lb.load_balancer_name().map(str::to_string))
        .collect();
    assert_eq!(left, vec!["public-alb"]);
}
