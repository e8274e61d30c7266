//! The whole topology end to end: the real `meshctl` binary applies seed 001's and seed 004's
//! stacks to the sandbox (`meshctl-sandbox`: moto, the Kubernetes API server with the Load
//! Balancer Controller and cert-manager, the helm and istioctl stand-ins), reaching the cluster
//! from the `eks_cluster` outputs with an EKS token. Every check reads the world with `kubectl`
//! and the AWS SDK, never through meshctl.

mod support;

use aws_config::SdkConfig;
use meshctl_sandbox::{FailRule, FaultProxy, Faults};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::sandbox::{assert_exit, Sandbox};
use support::{records, runtime, text, REGION};

fn stack_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../stacks")
        .join(name)
}

/// What moto holds of every type the stacks touch, or the controller makes for them.
fn aws_world(rt: &tokio::runtime::Runtime, config: &SdkConfig) -> BTreeSet<String> {
    rt.block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(config);
        let eks = aws_sdk_eks::Client::new(config);
        let iam = aws_sdk_iam::Client::new(config);
        let route53 = aws_sdk_route53::Client::new(config);
        let acm = aws_sdk_acm::Client::new(config);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
        let mut world = BTreeSet::new();
        for vpc in ec2.describe_vpcs().send().await.unwrap().vpcs() {
            world.insert(format!("vpc {}", vpc.vpc_id().unwrap_or_default()));
        }
        for subnet in ec2.describe_subnets().send().await.unwrap().subnets() {
            world.insert(format!("subnet {}", subnet.subnet_id().unwrap_or_default()));
        }
        for nat in ec2
            .describe_nat_gateways()
            .send()
            .await
            .unwrap()
            .nat_gateways()
        {
            if nat.state().is_none_or(|s| s.as_str() != "deleted") {
                world.insert(format!("nat {}", nat.nat_gateway_id().unwrap_or_default()));
            }
        }
        for cluster in eks.list_clusters().send().await.unwrap().clusters() {
            world.insert(format!("eks {cluster}"));
        }
        for role in iam.list_roles().send().await.unwrap().roles() {
            if !role.path().starts_with("/aws-service-role/") {
                world.insert(format!("role {}", role.role_name()));
            }
        }
        let providers = iam.list_open_id_connect_providers().send().await.unwrap();
        for provider in providers.open_id_connect_provider_list() {
            world.insert(format!("oidc {}", provider.arn().unwrap_or_default()));
        }
        for zone in route53
            .list_hosted_zones()
            .send()
            .await
            .unwrap()
            .hosted_zones()
        {
            let sets = route53
                .list_resource_record_sets()
                .hosted_zone_id(zone.id())
                .send()
                .await
                .unwrap();
            for set in sets.resource_record_sets() {
                world.insert(format!("record {} {}", set.name(), set.r#type().as_str()));
            }
        }
        for certificate in acm
            .list_certificates()
            .send()
            .await
            .unwrap()
            .certificate_summary_list()
        {
            world.insert(format!(
                "certificate {}",
                certificate.domain_name().unwrap_or_default()
            ));
        }
        let balancers = elb.describe_load_balancers().send().await.unwrap();
        for balancer in balancers.load_balancers() {
            world.insert(format!("lb {}", balancer.dns_name().unwrap_or_default()));
        }
        let groups = elb.describe_target_groups().send().await.unwrap();
        for group in groups.target_groups() {
            world.insert(format!(
                "tg {}",
                group.target_group_name().unwrap_or_default()
            ));
        }
        world
    })
}

/// The nodePort of `port_name` on a Service, read with kubectl.
fn node_port(sandbox: &Sandbox, namespace: &str, service: &str, port_name: &str) -> i32 {
    let service = sandbox.kubectl(&["get", "service", service, "-n", namespace]);
    service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == port_name)
        .and_then(|p| p["nodePort"].as_i64())
        .unwrap_or_else(|| panic!("{service} has no {port_name} nodePort")) as i32
}

/// The load balancer with this DNS name, its listeners and its target groups.
struct Balancer {
    balancer: aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
    listeners: Vec<aws_sdk_elasticloadbalancingv2::types::Listener>,
    groups: Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup>,
}

fn balancer(rt: &tokio::runtime::Runtime, config: &SdkConfig, dns_name: &str) -> Balancer {
    rt.block_on(async {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
        let balancers = elb.describe_load_balancers().send().await.unwrap();
        let balancer = balancers
            .load_balancers()
            .iter()
            .find(|b| b.dns_name() == Some(dns_name))
            .unwrap_or_else(|| panic!("no load balancer {dns_name}"))
            .clone();
        let arn = balancer.load_balancer_arn().unwrap().to_string();
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(&arn)
            .send()
            .await
            .unwrap()
            .listeners()
            .to_vec();
        let groups = elb
            .describe_target_groups()
            .load_balancer_arn(&arn)
            .send()
            .await
            .unwrap()
            .target_groups()
            .to_vec();
        Balancer {
            balancer,
            listeners,
            groups,
        }
    })
}

#[test]
fn seed_001_from_empty_to_destroyed() {
    let rt = runtime();
    let (sandbox, config) = Sandbox::start("moamoa-main", "moamoa-news.com", &rt);
    let stack = stack_file("seed-001-https.yaml");
    let state = tempfile::tempdir().unwrap();
    let kube_before = sandbox.kube_world();
    let aws_before = aws_world(&rt, &config);

    let applied = sandbox.meshctl_approved(&stack, state.path(), &["apply"]);
    assert_exit(&applied, 0, "apply of seed 001");

    // AWS: cluster, nodegroup, IRSA roles, the certificate ISSUED with its CNAME in the zone.
    let (certificate_arn, validation) = rt.block_on(async {
        let eks = aws_sdk_eks::Client::new(&config);
        let cluster = eks.describe_cluster().name("moamoa-main").send().await;
        assert!(cluster.is_ok(), "EKS cluster moamoa-main");
        let nodegroup = eks
            .describe_nodegroup()
            .cluster_name("moamoa-main")
            .nodegroup_name("workers")
            .send()
            .await;
        assert!(nodegroup.is_ok(), "nodegroup workers");
        let iam = aws_sdk_iam::Client::new(&config);
        for role in [
            "moamoa-aws-load-balancer-controller-irsa",
            "moamoa-cert-manager-irsa",
        ] {
            assert!(
                iam.get_role().role_name(role).send().await.is_ok(),
                "{role}"
            );
        }
        let acm = aws_sdk_acm::Client::new(&config);
        let list = acm.list_certificates().send().await.unwrap();
        let arn = list.certificate_summary_list()[0]
            .certificate_arn()
            .unwrap()
            .to_string();
        let described = acm
            .describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await
            .unwrap();
        let certificate = described.certificate().unwrap();
        assert_eq!(certificate.status().unwrap().as_str(), "ISSUED");
        let option = &certificate.domain_validation_options()[0];
        let record = option.resource_record().unwrap();
        (arn, (record.name().to_string(), record.value().to_string()))
    });
    let zone = records(&rt, &config, "moamoa-news.com");
    let cname = zone
        .get(&format!("{} CNAME", validation.0))
        .expect("the validation CNAME is in the zone");
    assert_eq!(cname.resource_records()[0].value(), validation.1);

    // Kubernetes: the add-ons run, with their IRSA roles.
    for (namespace, deployment) in [
        ("kube-system", "aws-load-balancer-controller"),
        ("cert-manager", "cert-manager"),
        ("istio-system", "istiod"),
        ("istio-system", "istio-ingressgateway"),
    ] {
        let d = sandbox.kubectl(&["get", "deployment", deployment, "-n", namespace]);
        assert!(
            d["status"]["availableReplicas"].as_i64().unwrap_or(0) >= 1,
            "{namespace}/{deployment} is available: {}",
            d["status"]
        );
    }
    let account = sandbox.kubectl(&[
        "get",
        "serviceaccount",
        "aws-load-balancer-controller",
        "-n",
        "kube-system",
    ]);
    assert!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            .as_str()
            .unwrap()
            .ends_with(":role/moamoa-aws-load-balancer-controller-irsa")
    );

    // The ALB: HTTPS on the ACM certificate, HTTP redirecting, health check on the status
    // nodePort; the Ingress reports it.
    let status_port = node_port(
        &sandbox,
        "istio-system",
        "istio-ingressgateway",
        "status-port",
    );
    let ingress = sandbox.kubectl(&["get", "ingress", "public", "-n", "istio-system"]);
    let hostname = ingress["status"]["loadBalancer"]["ingress"][0]["hostname"]
        .as_str()
        .expect("the Ingress has a load balancer hostname")
        .to_string();
    let alb = balancer(&rt, &config, &hostname);
    let https = alb
        .listeners
        .iter()
        .find(|l| l.port() == Some(443))
        .expect("an HTTPS listener");
    assert_eq!(https.protocol().unwrap().as_str(), "HTTPS");
    assert_eq!(
        https.certificates()[0].certificate_arn(),
        Some(certificate_arn.as_str())
    );
    let http = alb
        .listeners
        .iter()
        .find(|l| l.port() == Some(80))
        .expect("an HTTP listener");
    assert_eq!(
        http.default_actions()[0].r#type().unwrap().as_str(),
        "redirect"
    );
    assert!(!alb.groups.is_empty());
    for group in &alb.groups {
        assert_eq!(
            group.health_check_port(),
            Some(status_port.to_string().as_str())
        );
        assert_eq!(group.health_check_path(), Some("/healthz/ready"));
    }

    // The Gateway serves the cert-manager Secret; the Secret exists; the VirtualService routes.
    let gateway = sandbox.kubectl(&["get", "gateway", "monitor-gateway", "-n", "istio-system"]);
    let https_server = gateway["spec"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["port"]["number"] == 443)
        .unwrap();
    assert_eq!(https_server["tls"]["credentialName"], "moamoa-cert");
    let secret = sandbox.kubectl(&["get", "secret", "moamoa-cert", "-n", "istio-system"]);
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let virtual_service =
        sandbox.kubectl(&["get", "virtualservice", "gateway-server", "-n", "default"]);
    assert_eq!(
        virtual_service["spec"]["http"][0]["route"][0]["destination"]["port"]["number"],
        8072
    );

    // Route53 aliases point at the ALB.
    let zone = records(&rt, &config, "moamoa-news.com");
    for name in ["moamoa-news.com. A", "www.moamoa-news.com. A"] {
        let alias = zone[name].alias_target().expect("an alias");
        assert_eq!(
            alias.dns_name().trim_end_matches('.'),
            alb.balancer.dns_name().unwrap()
        );
        assert_eq!(
            alias.hosted_zone_id(),
            alb.balancer.canonical_hosted_zone_id().unwrap()
        );
    }

    // A second plan has nothing to do.
    let plan = sandbox.meshctl_approved(&stack, state.path(), &["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0, "plan after apply");
    assert!(
        text(&plan.stdout).contains("No changes"),
        "{}",
        text(&plan.stdout)
    );

    // Destroy leaves both worlds as they were.
    let destroyed = sandbox.meshctl_approved(&stack, state.path(), &["destroy"]);
    assert_exit(&destroyed, 0, "destroy");
    assert_eq!(aws_world(&rt, &config), aws_before);
    assert_eq!(sandbox.kube_world(), kube_before);
}

#[test]
fn seed_004_puts_each_gateway_behind_its_own_balancer() {
    let rt = runtime();
    let (sandbox, config) = Sandbox::start("multi-gateway-main", "example.com", &rt);
    let stack = stack_file("seed-004-multi-gateway.yaml");
    let state = tempfile::tempdir().unwrap();
    let applied = sandbox.meshctl_approved(&stack, state.path(), &["apply"]);
    assert_exit(&applied, 0, "apply of seed 004");

    let kinds: Vec<String> = rt.block_on(async {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
        let balancers = elb.describe_load_balancers().send().await.unwrap();
        let mut kinds: Vec<String> = balancers
            .load_balancers()
            .iter()
            .map(|b| b.r#type().unwrap().as_str().to_string())
            .collect();
        kinds.sort();
        kinds
    });
    assert_eq!(kinds, ["application", "application", "network"]);

    // Each ALB health-checks its own gateway's pinned status nodePort.
    for (ingress, gateway, pinned) in [
        ("internal", "istio-ingressgateway-alb", 30621),
        ("external", "istio-ingressgateway-ext-alb", 30622),
    ] {
        assert_eq!(
            node_port(&sandbox, "istio-system", gateway, "status-port"),
            pinned
        );
        let ingress = sandbox.kubectl(&["get", "ingress", ingress, "-n", "istio-system"]);
        assert_eq!(
            ingress["spec"]["defaultBackend"]["service"]["name"]
                .as_str()
                .or_else(
                    || ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
                        ["name"]
                        .as_str()
                ),
            Some(gateway)
        );
        let hostname = ingress["status"]["loadBalancer"]["ingress"][0]["hostname"]
            .as_str()
            .unwrap();
        let alb = balancer(&rt, &config, hostname);
        assert_eq!(alb.balancer.r#type().unwrap().as_str(), "application");
        for group in &alb.groups {
            assert_eq!(group.health_check_port(), Some(pinned.to_string().as_str()));
        }
    }
    // The NLB: the controller's (`external`), ip targets checked on the pod's status port.
    let service = sandbox.kubectl(&[
        "get",
        "service",
        "istio-ingressgateway",
        "-n",
        "istio-system",
    ]);
    assert_eq!(
        service["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"],
        "external"
    );
    let hostname = service["status"]["loadBalancer"]["ingress"][0]["hostname"]
        .as_str()
        .unwrap();
    let nlb = balancer(&rt, &config, hostname);
    assert_eq!(nlb.balancer.r#type().unwrap().as_str(), "network");
    for group in &nlb.groups {
        assert_eq!(group.target_type().unwrap().as_str(), "ip");
        assert_eq!(group.health_check_port(), Some("15021"));
    }
}

#[test]
fn a_changed_route_is_one_in_place_update() {
    let rt = runtime();
    let (sandbox, _config) = Sandbox::start("moamoa-main", "moamoa-news.com", &rt);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack.yaml");
    let original = std::fs::read_to_string(stack_file("seed-001-https.yaml")).unwrap();
    std::fs::write(&stack, &original).unwrap();
    let state = dir.path().join("state");
    assert_exit(
        &sandbox.meshctl_approved(&stack, &state, &["apply"]),
        0,
        "apply",
    );
    let before = sandbox.kubectl(&["get", "virtualservice", "gateway-server", "-n", "default"]);

    let changed = original.replace(
        "destination: { host: gatewayserver-service, port: 8072 }",
        "destination: { host: gatewayserver-service, port: 8073 }",
    );
    assert_ne!(changed, original, "the route is in the stack");
    std::fs::write(&stack, changed).unwrap();
    let plan = sandbox.meshctl_approved(&stack, &state, &["plan", "--format", "json"]);
    assert_exit(&plan, 0, "plan");
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let changes: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op" && c["action"] != "read")
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [(
            "virtual_service.gateway-server".to_string(),
            "update".to_string()
        )]
    );

    assert_exit(
        &sandbox.meshctl_approved(&stack, &state, &["apply"]),
        0,
        "apply",
    );
    let after = sandbox.kubectl(&["get", "virtualservice", "gateway-server", "-n", "default"]);
    assert_eq!(
        after["spec"]["http"][0]["route"][0]["destination"]["port"]["number"],
        8073
    );
    // Updated in place: the same object, not a new one.
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);

    // An updated Certificate keeps its Secret (deleting it would make cert-manager issue anew).
    let secret = sandbox.kubectl(&["get", "secret", "moamoa-cert", "-n", "istio-system"]);
    let with_www = std::fs::read_to_string(&stack).unwrap().replace(
        r#"dns_names: ["*.${var.domain}", "${var.domain}"]"#,
        r#"dns_names: ["*.${var.domain}", "${var.domain}", "www.${var.domain}"]"#,
    );
    assert!(
        with_www.contains("\"www.${var.domain}\"]"),
        "the names are in the stack"
    );
    std::fs::write(&stack, with_www).unwrap();
    assert_exit(
        &sandbox.meshctl_approved(&stack, &state, &["apply"]),
        0,
        "apply",
    );
    let certificate = sandbox.kubectl(&["get", "certificate", "moamoa-cert", "-n", "istio-system"]);
    assert_eq!(certificate["spec"]["dnsNames"][2], "www.moamoa-news.com");
    let kept = sandbox.kubectl(&["get", "secret", "moamoa-cert", "-n", "istio-system"]);
    assert_eq!(kept["metadata"]["uid"], secret["metadata"]["uid"]);
}

#[test]
fn a_route53_failure_rolls_back_across_aws_and_kubernetes() {
    let rt = runtime();
    let (mut sandbox, config) = Sandbox::start("moamoa-main", "moamoa-news.com", &rt);
    // Record changes that carry an alias (the dns_records, not the ACM validation CNAME) fail.
    let proxy = FaultProxy::start(&sandbox.env["AWS_ENDPOINT_URL"], 7).unwrap();
    proxy.set_faults(Faults {
        fail: vec![FailRule {
            service: "route53".into(),
            contains: "AliasTarget".into(),
        }],
        ..Faults::default()
    });
    let stack = stack_file("seed-001-https.yaml");
    let state = tempfile::tempdir().unwrap();
    let kube_before = sandbox.kube_world();
    let aws_before = aws_world(&rt, &config);

    sandbox.env.insert("AWS_ENDPOINT_URL".into(), proxy.url());
    let applied = sandbox.meshctl_approved(&stack, state.path(), &["apply"]);
    assert_exit(&applied, 3, "apply with failing Route53 aliases");
    let stderr = text(&applied.stderr);
    assert!(stderr.contains("dns_record."), "{stderr}");
    assert!(
        proxy.counts().get("route53").is_some_and(|c| c.failed > 0),
        "the fault fired: {:?}",
        proxy.counts()
    );

    assert_eq!(aws_world(&rt, &config), aws_before);
    assert_eq!(sandbox.kube_world(), kube_before);
}

#[test]
fn a_kubeconfig_context_reaches_an_existing_cluster() {
    let rt = runtime();
    let (mut sandbox, _config) = Sandbox::start("sandbox", "example.org", &rt);
    // An existing cluster, reached through the user's kubeconfig: no override, no EKS token.
    sandbox.env.remove("MESHCTL_KUBE_ENDPOINT");
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack.yaml");
    std::fs::write(
        &stack,
        format!(
            r#"stack: apps
region: {REGION}
kube: {{ kubeconfig: "{kubeconfig}" }}
resources:
  - kind: namespace
    name: shop
    labels: {{ istio-injection: enabled }}
  - kind: manifest
    name: storefront
    objects:
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {{ name: storefront, namespace: shop }}
        spec:
          replicas: 2
          selector: {{ matchLabels: {{ app: storefront }} }}
          template:
            metadata: {{ labels: {{ app: storefront }} }}
            spec: {{ containers: [{{ name: web, image: "nginx:1.25.3" }}] }}
      - apiVersion: v1
        kind: Service
        metadata: {{ name: storefront, namespace: shop }}
        spec: {{ selector: {{ app: storefront }}, ports: [{{ port: 80 }}] }}
  - kind: helm_release
    name: kiali
    chart: kiali-server
    repository: https://kiali.org/helm-charts
    version: 1.87.0
    namespace: kiali
    create_namespace: true
"#,
            kubeconfig = sandbox.env["KUBECONFIG"]
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let kube_before = sandbox.kube_world();

    let applied = sandbox.meshctl_approved(&stack, &state, &["apply"]);
    assert_exit(&applied, 0, "apply through a kubeconfig");
    let namespace = sandbox.kubectl(&["get", "namespace", "shop"]);
    assert_eq!(
        namespace["metadata"]["labels"]["istio-injection"],
        "enabled"
    );
    let deployment = sandbox.kubectl(&["get", "deployment", "storefront", "-n", "shop"]);
    assert_eq!(
        deployment["status"]["availableReplicas"], 2,
        "apply waited for the Deployment"
    );
    let deployment = sandbox.kubectl(&[
        "get",
        "deployment",
        "storefront",
        "-n",
        "shop",
        "--show-managed-fields",
    ]);
    let managers: Vec<&str> = deployment["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["operation"] == "Apply")
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["meshctl"]);
    let releases = sandbox.kubectl(&["get", "secrets", "-n", "kiali", "-l", "owner=helm"]);
    assert_eq!(releases["items"].as_array().unwrap().len(), 1);
    let log = std::fs::read_to_string(&sandbox.env["MESHCTL_STANDIN_LOG"]).unwrap();
    let helm_call = log
        .lines()
        .find(|l| l.contains("upgrade"))
        .expect("helm was run");
    assert!(
        helm_call.contains(&sandbox.env["KUBECONFIG"]),
        "helm got the user's kubeconfig: {helm_call}"
    );

    let plan = sandbox.meshctl_approved(&stack, &state, &["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 0, "plan after apply");
    assert_exit(
        &sandbox.meshctl_approved(&stack, &state, &["destroy"]),
        0,
        "destroy",
    );
    assert_eq!(sandbox.kube_world(), kube_before);
}

/// The load balancer hostname the controller wrote into an Ingress's status, read with kubectl.
fn ingress_hostname(sandbox: &Sandbox, namespace: &str, name: &str) -> String {
    let ingress = sandbox.kubectl(&["get", "ingress", name, "-n", namespace]);
    ingress["status"]["loadBalancer"]["ingress"][0]["hostname"]
        .as_str()
        .expect("the Ingress has a load balancer hostname")
        .to_string()
}

#[test]
fn a_replaced_alb_takes_its_aliases_along_in_the_same_apply() {
    let rt = runtime();
    let (sandbox, config) = Sandbox::start("moamoa-main", "moamoa-news.com", &rt);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack.yaml");
    let original = std::fs::read_to_string(stack_file("seed-001-https.yaml")).unwrap();
    std::fs::write(&stack, &original).unwrap();
    let state = dir.path().join("state");
    assert_exit(
        &sandbox.meshctl_approved(&stack, &state, &["apply"]),
        0,
        "apply",
    );
    let old_name = ingress_hostname(&sandbox, "istio-system", "public");

    // A new scheme replaces the ALB: a new balancer with a new DNS name.
    let internal = original.replace("scheme: internet-facing", "scheme: internal");
    assert_ne!(internal, original, "the ALB's scheme is in the stack");
    std::fs::write(&stack, internal).unwrap();
    let plan = sandbox.meshctl_approved(&stack, &state, &["plan", "--format", "json"]);
    assert_exit(&plan, 0, "plan");
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let action = |address: &str| {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == address)
            .map(|c| c["action"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{address} is not in the plan"))
    };
    assert_eq!(action("alb.public"), "replace");
    assert_eq!(action("dns_record.apex"), "update");
    assert_eq!(action("dns_record.www"), "update");

    assert_exit(
        &sandbox.meshctl_approved(&stack, &state, &["apply"]),
        0,
        "apply",
    );
    let new_name = ingress_hostname(&sandbox, "istio-system", "public");
    assert_ne!(new_name, old_name, "the ALB was not replaced");
    let alb = balancer(&rt, &config, &new_name);
    assert_eq!(alb.balancer.scheme().unwrap().as_str(), "internal");
    // Both aliases point at the new balancer, checked in Route53 itself.
    let zone = records(&rt, &config, "moamoa-news.com");
    for name in ["moamoa-news.com. A", "www.moamoa-news.com. A"] {
        let alias = zone[name].alias_target().expect("an alias");
        assert_eq!(alias.dns_name().trim_end_matches('.'), new_name, "{name}");
        assert_eq!(
            alias.hosted_zone_id(),
            alb.balancer.canonical_hosted_zone_id().unwrap()
        );
    }
    // Nothing is left for a second apply, and nothing has drifted.
    let again = sandbox.meshctl_approved(&stack, &state, &["plan", "--detailed-exitcode"]);
    assert_exit(&again, 0, "plan after the replacement");
    assert_exit(
        &sandbox.meshctl_approved(&stack, &state, &["drift"]),
        0,
        "drift after the replacement",
    );
}
