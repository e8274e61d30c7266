//! Topologies built by hand in the sandbox, the way the field notes build them: what eksctl makes
//! (VPC, cluster, OIDC provider, nodegroup, IRSA roles and their ServiceAccounts) through the AWS
//! SDK, the console's clicks (certificate, records) through the SDK, `helm install` and
//! `istioctl install -f` through the stand-ins, and the notes' manifests (tests/handbuilt/) with
//! kubectl. For `meshctl generate` and the adoption of what it writes.

use super::sandbox::{show, Sandbox};
use super::REGION;
use aws_config::SdkConfig;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What the hand-built world is, for the test to name.
pub struct HandBuilt {
    pub cluster: String,
    pub vpc_id: String,
    pub certificate_arn: String,
    pub zone_id: String,
    pub alb_dns: String,
}

/// The repository's hand-built test data of a seed.
pub fn data(seed: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/handbuilt")
        .join(seed)
        .join(file)
}

fn tag(kind: ResourceType, key: &str, value: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key(key).value(value).build())
        .build()
}

/// A tool of the sandbox (helm, istioctl, kubectl) run by hand.
pub fn tool(sandbox: &Sandbox, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .envs(&sandbox.env)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        show(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `kubectl apply -f` of a test-data file with `${NAME}` filled in.
pub fn kubectl_apply(sandbox: &Sandbox, dir: &Path, file: &Path, fill: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(file).unwrap();
    for (name, value) in fill {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    let written = dir.join(file.file_name().unwrap());
    std::fs::write(&written, text).unwrap();
    tool(
        sandbox,
        "kubectl",
        &["apply", "-f", written.to_str().unwrap()],
    );
}

/// What `eksctl create cluster` makes: a VPC (192.168.0.0/16, two public and two private /19
/// subnets, internet gateway, one NAT gateway, public and private route tables), the cluster
/// role and cluster, its OIDC provider and a managed nodegroup with its node role. Returns the
/// VPC id.
pub async fn eksctl_cluster(config: &SdkConfig, cluster: &str, version: &str) -> String {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let eks = aws_sdk_eks::Client::new(config);
    let iam = aws_sdk_iam::Client::new(config);
    let stack_tag = format!("eksctl-{cluster}-cluster");
    let vpc_id = ec2
        .create_vpc()
        .cidr_block("192.168.0.0/16")
        .tag_specifications(tag(
            ResourceType::Vpc,
            "alpha.eksctl.io/cluster-name",
            cluster,
        ))
        .send()
        .await
        .unwrap()
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap()
        .to_string();
    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .unwrap()
        .to_string();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();
    let mut public = Vec::new();
    let mut private = Vec::new();
    for (i, (zone, is_public)) in [("a", true), ("c", true), ("a", false), ("c", false)]
        .into_iter()
        .enumerate()
    {
        let role = if is_public {
            "kubernetes.io/role/elb"
        } else {
            "kubernetes.io/role/internal-elb"
        };
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("192.168.{}.0/19", i * 32))
            .availability_zone(format!("{REGION}{zone}"))
            .tag_specifications(tag(ResourceType::Subnet, role, "1"))
            .send()
            .await
            .unwrap()
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap()
            .to_string();
        if is_public {
            public.push(subnet);
        } else {
            private.push(subnet);
        }
    }
    let public_table = ec2
        .create_route_table()
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap()
        .route_table()
        .and_then(|t| t.route_table_id())
        .unwrap()
        .to_string();
    ec2.create_route()
        .route_table_id(&public_table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
    for subnet in &public {
        ec2.associate_route_table()
            .route_table_id(&public_table)
            .subnet_id(subnet)
            .send()
            .await
            .unwrap();
    }
    let allocation = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap()
        .allocation_id()
        .unwrap()
        .to_string();
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&public[0])
        .allocation_id(&allocation)
        .send()
        .await
        .unwrap()
        .nat_gateway()
        .and_then(|n| n.nat_gateway_id())
        .unwrap()
        .to_string();
    let private_table = ec2
        .create_route_table()
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap()
        .route_table()
        .and_then(|t| t.route_table_id())
        .unwrap()
        .to_string();
    ec2.create_route()
        .route_table_id(&private_table)
        .destination_cidr_block("0.0.0.0/0")
        .nat_gateway_id(&nat)
        .send()
        .await
        .unwrap();
    for subnet in &private {
        ec2.associate_route_table()
            .route_table_id(&private_table)
            .subnet_id(subnet)
            .send()
            .await
            .unwrap();
    }

    let eks_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let cluster_role = iam
        .create_role()
        .role_name(format!("{stack_tag}-ServiceRole"))
        .assume_role_policy_document(eks_trust)
        .send()
        .await
        .unwrap()
        .role()
        .map(|r| r.arn().to_string())
        .unwrap();
    let mut subnets = public.clone();
    subnets.extend(private.iter().cloned());
    eks.create_cluster()
        .name(cluster)
        .version(version)
        .role_arn(&cluster_role)
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .set_subnet_ids(Some(subnets))
                .endpoint_private_access(true)
                .endpoint_public_access(true)
                .build(),
        )
        .logging(
            aws_sdk_eks::types::Logging::builder()
                .cluster_logging(
                    aws_sdk_eks::types::LogSetup::builder()
                        .enabled(true)
                        .types(aws_sdk_eks::types::LogType::Api)
                        .types(aws_sdk_eks::types::LogType::Audit)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let issuer = eks
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .unwrap()
        .cluster()
        .and_then(|c| c.identity())
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .unwrap()
        .to_string();
    iam.create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .send()
        .await
        .unwrap();

    let ec2_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let node_role = iam
        .create_role()
        .role_name(format!("eksctl-{cluster}-nodegroup-ng-1-NodeInstanceRole"))
        .assume_role_policy_document(ec2_trust)
        .send()
        .await
        .unwrap()
        .role()
        .map(|r| r.arn().to_string())
        .unwrap();
    eks.create_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name("ng-1")
        .node_role(node_role)
        .set_subnets(Some(private.clone()))
        .instance_types("t3.large")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(2)
                .desired_size(2)
                .max_size(4)
                .build(),
        )
        .send()
        .await
        .unwrap();
    vpc_id
}

/// What `eksctl create iamserviceaccount --attach-policy-arn` makes: a role trusted by
/// NAMESPACE/ACCOUNT through the cluster's OIDC provider with the managed policy `policy_name`
/// attached (made by `account_policy` unless it exists). Returns the role's name.
pub async fn eksctl_iam_service_account(
    config: &SdkConfig,
    cluster: &str,
    namespace: &str,
    account: &str,
    policy_name: &str,
    policy: &str,
) -> String {
    let eks = aws_sdk_eks::Client::new(config);
    let iam = aws_sdk_iam::Client::new(config);
    let issuer = eks
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .unwrap()
        .cluster()
        .and_then(|c| c.identity())
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .unwrap()
        .trim_start_matches("https://")
        .to_string();
    let providers = iam.list_open_id_connect_providers().send().await.unwrap();
    let provider = providers
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .find(|arn| arn.ends_with(&issuer))
        .unwrap()
        .to_string();
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": { "StringEquals": {
                format!("{issuer}:aud"): "sts.amazonaws.com",
                format!("{issuer}:sub"): format!("system:serviceaccount:{namespace}:{account}"),
            }}
        }]
    });
    let name = format!("eksctl-{cluster}-addon-iamserviceaccount-{namespace}-{account}");
    let name: String = name.chars().take(64).collect();
    iam.create_role()
        .role_name(&name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let policy_arn = account_policy(config, policy_name, policy).await;
    iam.attach_role_policy()
        .role_name(&name)
        .policy_arn(policy_arn)
        .send()
        .await
        .unwrap();
    name
}

/// The customer-managed policy `name` (`aws iam create-policy`, as the add-ons' docs have teams
/// do before eksctl), made from `document` unless the account has it. Returns its ARN.
pub async fn account_policy(config: &SdkConfig, name: &str, document: &str) -> String {
    let iam = aws_sdk_iam::Client::new(config);
    let listed = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    if let Some(arn) = listed
        .policies()
        .iter()
        .find(|p| p.policy_name() == Some(name))
        .and_then(|p| p.arn())
    {
        return arn.to_string();
    }
    iam.create_policy()
        .policy_name(name)
        .policy_document(document)
        .send()
        .await
        .unwrap()
        .policy()
        .and_then(|p| p.arn())
        .unwrap()
        .to_string()
}

/// The console's clicks: an ACM certificate for `*.DOMAIN` and `DOMAIN`, validated by DNS in
/// the zone. Returns its ARN once issued.
pub async fn console_certificate(config: &SdkConfig, domain: &str) -> String {
    let acm = aws_sdk_acm::Client::new(config);
    let arn = acm
        .request_certificate()
        .domain_name(format!("*.{domain}"))
        .subject_alternative_names(domain)
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_string();
    arn
}

/// An alias record to a balancer, as the console makes it.
pub async fn console_alias(
    config: &SdkConfig,
    zone_id: &str,
    name: &str,
    dns: &str,
    hosted_zone: &str,
) {
    use aws_sdk_route53::types::{
        AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, RrType,
    };
    aws_sdk_route53::Client::new(config)
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(
                            ResourceRecordSet::builder()
                                .name(name)
                                .r#type(RrType::A)
                                .alias_target(
                                    AliasTarget::builder()
                                        .dns_name(dns)
                                        .hosted_zone_id(hosted_zone)
                                        .evaluate_target_health(true)
                                        .build()
                                        .unwrap(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Waits until kubectl shows the Ingress with its balancer's hostname; returns it.
pub fn ingress_hostname(sandbox: &Sandbox, namespace: &str, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ingress = sandbox.kubectl(&["get", "ingress", "-n", namespace, name]);
        if let Some(host) = ingress["status"]["loadBalancer"]["ingress"][0]["hostname"].as_str() {
            return host.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the Load Balancer Controller made no ALB for {namespace}/{name}: {ingress:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `helm install` of the AWS Load Balancer Controller (chart 1.7.2) as its docs show it, running
/// as the ServiceAccount eksctl made for its IRSA role.
pub fn helm_install_lb_controller(sandbox: &Sandbox, cluster: &str) {
    tool(
        sandbox,
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
            &format!("clusterName={cluster}"),
            "--set",
            "serviceAccount.create=false",
            "--set",
            "serviceAccount.name=aws-load-balancer-controller",
        ],
    );
}

/// `helm install` of cert-manager v1.14.4 with its CRDs, into a namespace helm makes.
pub fn helm_install_cert_manager(sandbox: &Sandbox) {
    tool(
        sandbox,
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
}
