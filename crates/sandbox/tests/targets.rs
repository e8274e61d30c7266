//! The sandbox can fail the way a cluster and ELBv2 do: Pods and their Endpoints/EndpointSlices
//! follow `kubectl scale`; the Load Balancer Controller registers the nodes of the cluster's EKS
//! nodegroup (instance targets) or the ready gateway Pods (ip targets), and `DescribeTargetHealth`
//! through the sandbox's front says healthy only while the gateway Pods are ready and the health
//! check reaches Istio's status port, with AWS's reasons otherwise. Checked with kubectl and the
//! test's own AWS SDK clients.
//!
//! Run: `cargo test -p meshctl-sandbox --test targets` (needs moto_server and kubectl).

mod common;

use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::TargetHealthDescription;
use bytes::Bytes;
use common::{eventually, Kube, Sandbox, CLUSTER, REGION};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// An Istio ingress gateway: its Deployment (status port 15021 named `status-port`) and Service.
fn gateway(namespace: &str, service_type: &str, annotations: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istio-ingressgateway
  namespace: {namespace}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: istio-ingressgateway}}}}
  template:
    metadata: {{labels: {{app: istio-ingressgateway, istio: ingressgateway}}}}
    spec:
      containers:
      - name: istio-proxy
        image: docker.io/istio/proxyv2:1.22.0
        ports:
        - {{name: status-port, containerPort: 15021, protocol: TCP}}
        - {{name: http2, containerPort: 8080, protocol: TCP}}
        - {{name: https, containerPort: 8443, protocol: TCP}}
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: {namespace}
  annotations: {annotations}
spec:
  type: {service_type}
  selector: {{app: istio-ingressgateway, istio: ingressgateway}}
  ports:
  - {{name: status-port, port: 15021, targetPort: status-port, protocol: TCP}}
  - {{name: http2, port: 80, targetPort: 8080, protocol: TCP}}
  - {{name: https, port: 443, targetPort: 8443, protocol: TCP}}
"#
    )
}

async fn json_of(kube: &Kube, args: &[&str]) -> Value {
    kube.get_json(args).await
}

fn ready_pods(pods: &Value) -> usize {
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .count()
}

fn endpoint_addresses(endpoints: &Value) -> usize {
    endpoints["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["addresses"].as_array().map_or(0, Vec::len))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_and_endpoints_follow_kubectl_scale() {
    let kube = Kube::start().await;
    kube.apply("gw.yaml", &gateway("gw", "ClusterIP", "{}"))
        .await;
    let pods = eventually("two ready gateway Pods", WAIT, || async {
        let pods = json_of(
            &kube,
            &["get", "pods", "-n", "gw", "-l", "app=istio-ingressgateway"],
        )
        .await;
        (ready_pods(&pods) == 2).then_some(pods)
    })
    .await;
    let pod = &pods["items"][0];
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(pod["metadata"]["labels"]["istio"], "ingressgateway");
    assert!(
        pod["metadata"]["labels"]["pod-template-hash"].is_string(),
        "{pod}"
    );
    let ip = pod["status"]["podIP"]
        .as_str()
        .expect("a pod IP")
        .to_string();

    let endpoints = eventually("two ready endpoints", WAIT, || async {
        let e = json_of(
            &kube,
            &["get", "endpoints", "-n", "gw", "istio-ingressgateway"],
        )
        .await;
        (endpoint_addresses(&e) == 2).then_some(e)
    })
    .await;
    let subset = &endpoints["subsets"][0];
    let mut ports: Vec<i64> = subset["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["port"].as_i64())
        .collect();
    ports.sort();
    // `targetPort: status-port` is resolved through the container port's name.
    assert_eq!(ports, [8080, 8443, 15021], "{subset}");
    assert!(
        subset["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["ip"] == ip.as_str()),
        "{subset}"
    );
    let slices = json_of(
        &kube,
        &[
            "get",
            "endpointslices",
            "-n",
            "gw",
            "-l",
            "kubernetes.io/service-name=istio-ingressgateway",
        ],
    )
    .await;
    let slice = &slices["items"][0];
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["endpoints"].as_array().map(Vec::len),
        Some(2),
        "{slice}"
    );
    assert!(slice["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["conditions"]["ready"] == true));

    kube.ok(&[
        "scale",
        "deployment",
        "istio-ingressgateway",
        "-n",
        "gw",
        "--replicas=0",
    ])
    .await;
    eventually("no Pods and no endpoints", WAIT, || async {
        let pods = json_of(&kube, &["get", "pods", "-n", "gw"]).await;
        let e = json_of(
            &kube,
            &["get", "endpoints", "-n", "gw", "istio-ingressgateway"],
        )
        .await;
        let slices = json_of(&kube, &["get", "endpointslices", "-n", "gw"]).await;
        let slice_endpoints = slices["items"][0]["endpoints"]
            .as_array()
            .map_or(0, Vec::len);
        (pods["items"].as_array().is_some_and(Vec::is_empty)
            && endpoint_addresses(&e) == 0
            && slice_endpoints == 0)
            .then_some(())
    })
    .await;

    kube.ok(&[
        "scale",
        "deployment",
        "istio-ingressgateway",
        "-n",
        "gw",
        "--replicas=1",
    ])
    .await;
    eventually("one ready Pod and endpoint again", WAIT, || async {
        let pods = json_of(&kube, &["get", "pods", "-n", "gw"]).await;
        let e = json_of(
            &kube,
            &["get", "endpoints", "-n", "gw", "istio-ingressgateway"],
        )
        .await;
        (ready_pods(&pods) == 1 && endpoint_addresses(&e) == 1).then_some(())
    })
    .await;
    let status = json_of(
        &kube,
        &["get", "deployment", "-n", "gw", "istio-ingressgateway"],
    )
    .await;
    assert_eq!(status["status"]["readyReplicas"], 1, "{status}");
}

/// POSTs to moto's EKS REST API through the front (the sandbox's SDKs have no EKS client).
async fn eks_post(endpoint: &str, path: &str, body: Value) -> Value {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let request = hyper::Request::post(format!("{endpoint}{path}"))
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=testing/20240101/{REGION}/eks/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.expect("EKS answers");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status.is_success(),
        "POST {path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

/// An EKS cluster with a two-node managed nodegroup in these subnets.
async fn eks_cluster_with_nodes(endpoint: &str, subnets: &[String]) {
    let role = "arn:aws:iam::123456789012:role/eks";
    eks_post(
        endpoint,
        "/clusters",
        json!({"name": CLUSTER, "roleArn": role, "resourcesVpcConfig": {"subnetIds": subnets}}),
    )
    .await;
    eks_post(
        endpoint,
        &format!("/clusters/{CLUSTER}/node-groups"),
        json!({"nodegroupName": "general", "nodeRole": role, "subnets": subnets,
               "scalingConfig": {"minSize": 2, "maxSize": 2, "desiredSize": 2},
               "instanceTypes": ["t3.medium"]}),
    )
    .await;
}

async fn target_health(sb: &Sandbox, arn: &str) -> Vec<TargetHealthDescription> {
    sb.aws
        .elb
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .expect("DescribeTargetHealth through the front")
        .target_health_descriptions()
        .to_vec()
}

/// `(state, reason)` of every target.
fn states(health: &[TargetHealthDescription]) -> Vec<(String, String)> {
    health
        .iter()
        .map(|d| {
            let h = d.target_health().expect("TargetHealth");
            (
                h.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                h.reason()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

async fn wait_for_states(
    sb: &Sandbox,
    arn: &str,
    what: &str,
    want: &[(&str, &str)],
) -> Vec<TargetHealthDescription> {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(s, r)| (s.to_string(), r.to_string()))
        .collect();
    let start = std::time::Instant::now();
    loop {
        let health = target_health(sb, arn).await;
        let now = states(&health);
        if now == want {
            return health;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for {what}: targets are {now:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ARN of the target group whose health check this is, of the only balancer.
async fn target_group_of_port(sb: &Sandbox, port: i32) -> (String, String) {
    eventually("the target group", WAIT, || async {
        let groups = sb.aws.elb.describe_target_groups().send().await.ok()?;
        groups
            .target_groups()
            .iter()
            .find(|g| g.port() == Some(port))
            .map(|g| {
                (
                    g.target_group_arn().unwrap_or_default().to_string(),
                    g.health_check_port().unwrap_or_default().to_string(),
                )
            })
    })
    .await
}

fn node_port(service: &Value, name: &str) -> i32 {
    service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["nodePort"].as_i64())
        .expect("a nodePort") as i32
}

const HEALTHY_2: &[(&str, &str)] = &[("healthy", ""), ("healthy", "")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alb_instance_targets_are_the_nodes_and_healthy_only_through_the_status_port() {
    let sb = Sandbox::start_for(CLUSTER).await;
    let (_, subnets) = sb
        .aws
        .vpc_with_tagged_subnets("kubernetes.io/role/elb")
        .await;
    eks_cluster_with_nodes(&sb.front.url(), &subnets).await;
    let nodes = eventually("two Ready Nodes", WAIT, || async {
        let nodes = json_of(&sb.kube, &["get", "nodes"]).await;
        (nodes["items"].as_array().map(Vec::len) == Some(2)).then_some(nodes)
    })
    .await;
    let provider = nodes["items"][0]["spec"]["providerID"]
        .as_str()
        .unwrap()
        .to_string();
    let instance = provider.rsplit('/').next().unwrap().to_string();
    assert!(
        provider.starts_with(&format!("aws:///{REGION}")),
        "{provider}"
    );
    let described = sb
        .aws
        .ec2
        .describe_instances()
        .instance_ids(&instance)
        .send()
        .await
        .unwrap();
    let tags = described.reservations()[0].instances()[0].tags().to_vec();
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("eks:nodegroup-name") && t.value() == Some("general")),
        "{tags:?}"
    );

    sb.kube
        .apply("gw.yaml", &gateway("istio-system", "NodePort", "{}"))
        .await;
    let cert = sb.aws.certificate("*.moamoa-news.com").await;
    sb.kube
        .apply(
            "ingress.yaml",
            &format!(
                r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: gateway-alb
  namespace: istio-system
  annotations:
    kubernetes.io/ingress.class: alb
    alb.ingress.kubernetes.io/scheme: internet-facing
    alb.ingress.kubernetes.io/target-type: instance
    alb.ingress.kubernetes.io/backend-protocol: HTTPS
    alb.ingress.kubernetes.io/healthcheck-path: /healthz/ready
    alb.ingress.kubernetes.io/healthcheck-port: status-port
    alb.ingress.kubernetes.io/healthcheck-protocol: HTTP
    alb.ingress.kubernetes.io/listen-ports: '[{{"HTTPS":443}}]'
    alb.ingress.kubernetes.io/certificate-arn: {cert}
spec:
  rules:
  - http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: istio-ingressgateway, port: {{number: 443}}}}}}}}
"#
            ),
        )
        .await;
    sb.install_load_balancer_controller().await;
    let service = json_of(
        &sb.kube,
        &[
            "get",
            "service",
            "-n",
            "istio-system",
            "istio-ingressgateway",
        ],
    )
    .await;
    let https_node_port = node_port(&service, "https");
    let status_node_port = node_port(&service, "status-port");
    let http_node_port = node_port(&service, "http2");
    let (arn, check_port) = target_group_of_port(&sb, https_node_port).await;
    assert_eq!(check_port, status_node_port.to_string());

    let health = wait_for_states(&sb, &arn, "both nodes healthy", HEALTHY_2).await;
    let target = health[0].target().unwrap();
    assert!(target.id().unwrap().starts_with("i-"), "{target:?}");
    assert_eq!(target.port(), Some(https_node_port));
    assert_eq!(
        health[0].health_check_port(),
        Some(status_node_port.to_string().as_str())
    );

    // No gateway Pod: kube-proxy refuses the nodePort.
    sb.kube
        .ok(&[
            "scale",
            "deployment",
            "istio-ingressgateway",
            "-n",
            "istio-system",
            "--replicas=0",
        ])
        .await;
    let failed = wait_for_states(
        &sb,
        &arn,
        "failed checks with no gateway Pod",
        &[
            ("unhealthy", "Target.FailedHealthChecks"),
            ("unhealthy", "Target.FailedHealthChecks"),
        ],
    )
    .await;
    assert_eq!(
        failed[0].target_health().unwrap().description(),
        Some("Health checks failed")
    );
    sb.kube
        .ok(&[
            "scale",
            "deployment",
            "istio-ingressgateway",
            "-n",
            "istio-system",
            "--replicas=1",
        ])
        .await;
    wait_for_states(&sb, &arn, "healthy again", HEALTHY_2).await;

    // The health check on the gateway's HTTP port: Envoy answers 404 for /healthz/ready there.
    sb.aws
        .elb
        .modify_target_group()
        .target_group_arn(&arn)
        .health_check_port(http_node_port.to_string())
        .send()
        .await
        .expect("ModifyTargetGroup");
    let mismatch = states(&target_health(&sb, &arn).await);
    assert_eq!(
        mismatch,
        vec![
            (
                "unhealthy".to_string(),
                "Target.ResponseCodeMismatch".to_string()
            );
            2
        ]
    );
    let described = target_health(&sb, &arn).await;
    assert_eq!(
        described[0].target_health().unwrap().description(),
        Some("Health checks failed with these codes: [404]")
    );
    sb.aws
        .elb
        .modify_target_group()
        .target_group_arn(&arn)
        .health_check_port(status_node_port.to_string())
        .send()
        .await
        .expect("ModifyTargetGroup back");
    wait_for_states(&sb, &arn, "healthy after the port is put back", HEALTHY_2).await;

    // The same through the Ingress annotation: the controller moves the health check.
    sb.kube
        .ok(&[
            "annotate",
            "ingress",
            "-n",
            "istio-system",
            "gateway-alb",
            "--overwrite",
            "alb.ingress.kubernetes.io/healthcheck-port=http2",
        ])
        .await;
    wait_for_states(
        &sb,
        &arn,
        "a mismatch after the annotation names the HTTP port",
        &[
            ("unhealthy", "Target.ResponseCodeMismatch"),
            ("unhealthy", "Target.ResponseCodeMismatch"),
        ],
    )
    .await;
    sb.kube
        .ok(&[
            "annotate",
            "ingress",
            "-n",
            "istio-system",
            "gateway-alb",
            "--overwrite",
            "alb.ingress.kubernetes.io/healthcheck-port=status-port",
        ])
        .await;
    wait_for_states(
        &sb,
        &arn,
        "healthy after the annotation is put back",
        HEALTHY_2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nlb_ip_targets_are_the_ready_gateway_pods() {
    let sb = Sandbox::start().await;
    sb.aws
        .vpc_with_tagged_subnets("kubernetes.io/role/internal-elb")
        .await;
    let annotations = r#"{service.beta.kubernetes.io/aws-load-balancer-type: external, service.beta.kubernetes.io/aws-load-balancer-internal: "true", service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip, service.beta.kubernetes.io/aws-load-balancer-healthcheck-port: "15021", service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol: HTTP, service.beta.kubernetes.io/aws-load-balancer-healthcheck-path: /healthz/ready}"#;
    sb.kube
        .apply(
            "gw.yaml",
            &gateway("istio-system", "LoadBalancer", annotations),
        )
        .await;
    sb.install_load_balancer_controller().await;
    let (arn, check_port) = target_group_of_port(&sb, 8443).await;
    assert_eq!(check_port, "15021");
    let health = wait_for_states(&sb, &arn, "both gateway Pods healthy", HEALTHY_2).await;
    let pods = json_of(
        &sb.kube,
        &[
            "get",
            "pods",
            "-n",
            "istio-system",
            "-l",
            "app=istio-ingressgateway",
        ],
    )
    .await;
    let mut pod_ips: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"]["podIP"].as_str().unwrap().to_string())
        .collect();
    pod_ips.sort();
    let mut target_ips: Vec<String> = health
        .iter()
        .map(|d| d.target().unwrap().id().unwrap().to_string())
        .collect();
    target_ips.sort();
    assert_eq!(target_ips, pod_ips);
    assert!(health
        .iter()
        .all(|d| d.target().unwrap().port() == Some(8443)));

    // The health check on a port the Pods do not serve: refused.
    sb.aws
        .elb
        .modify_target_group()
        .target_group_arn(&arn)
        .health_check_port("15020")
        .send()
        .await
        .expect("ModifyTargetGroup");
    let failed = target_health(&sb, &arn).await;
    assert_eq!(
        states(&failed),
        vec![
            (
                "unhealthy".to_string(),
                "Target.FailedHealthChecks".to_string()
            );
            2
        ]
    );
    sb.aws
        .elb
        .modify_target_group()
        .target_group_arn(&arn)
        .health_check_port("15021")
        .send()
        .await
        .expect("ModifyTargetGroup back");
    wait_for_states(&sb, &arn, "healthy after the port is put back", HEALTHY_2).await;

    // No gateway Pod: the controller deregisters their IPs; asked about, one is not registered.
    sb.kube
        .ok(&[
            "scale",
            "deployment",
            "istio-ingressgateway",
            "-n",
            "istio-system",
            "--replicas=0",
        ])
        .await;
    wait_for_states(&sb, &arn, "no targets", &[]).await;
    let asked = sb
        .aws
        .elb
        .describe_target_health()
        .target_group_arn(&arn)
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id(&pod_ips[0])
                .port(8443)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        states(asked.target_health_descriptions()),
        vec![("unused".to_string(), "Target.NotRegistered".to_string())]
    );
    sb.kube
        .ok(&[
            "scale",
            "deployment",
            "istio-ingressgateway",
            "-n",
            "istio-system",
            "--replicas=2",
        ])
        .await;
    wait_for_states(&sb, &arn, "the new Pods healthy", HEALTHY_2).await;
}
