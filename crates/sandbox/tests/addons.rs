//! The add-on controllers end to end: manifests from the seeds applied with the real kubectl,
//! results checked with kubectl and with the test's own AWS SDK calls against moto.
//!
//! Run: `cargo test -p meshctl-sandbox --test addons` (needs moto_server and kubectl).

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{eventually, Sandbox, CLUSTER};

const WAIT: Duration = Duration::from_secs(30);

/// The istio ingress gateway Service as seed 001 runs it (NodePort; nodePorts allocated).
const GATEWAY_SERVICE: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
spec:
  type: NodePort
  selector: {app: istio-ingressgateway, istio: ingressgateway}
  ports:
  - {name: status-port, port: 15021, targetPort: 15021, protocol: TCP}
  - {name: http2, port: 80, targetPort: 8080, protocol: TCP}
  - {name: https, port: 443, targetPort: 8443, protocol: TCP}
"#;

/// Seed 001's Ingress, word for word but the certificate ARN.
fn seed_001_ingress(name: &str, certificate_arn: &str) -> String {
    format!(
        r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: istio-system
  annotations:
    kubernetes.io/ingress.class: alb
    alb.ingress.kubernetes.io/scheme: internet-facing
    alb.ingress.kubernetes.io/target-type: instance
    alb.ingress.kubernetes.io/backend-protocol: HTTPS
    alb.ingress.kubernetes.io/healthcheck-path: /healthz/ready
    alb.ingress.kubernetes.io/healthcheck-port: status-port
    alb.ingress.kubernetes.io/healthcheck-protocol: HTTP
    alb.ingress.kubernetes.io/listen-ports: '[{{"HTTP": 80}}, {{"HTTPS":443}}]'
    alb.ingress.kubernetes.io/actions.ssl-redirect: |
      {{
        "Type": "redirect",
        "RedirectConfig": {{
        "Protocol": "HTTPS",
        "Port": "443",
        "StatusCode": "HTTP_301"
        }}
      }}
    alb.ingress.kubernetes.io/certificate-arn: |
      {certificate_arn}
spec:
  rules:
    - http:
        paths:
          - backend:
              service:
                name: ssl-redirect
                port:
                  name: use-annotation
            path: /
            pathType: Prefix
          - backend:
              service:
                name: istio-ingressgateway
                port:
                  number: 443
            path: /
            pathType: Prefix
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_ingress_becomes_an_alb_and_goes_away_with_it() {
    let sb = Sandbox::start().await;
    let (vpc, _) = sb
        .aws
        .vpc_with_tagged_subnets("kubernetes.io/role/elb")
        .await;
    let cert = sb.aws.certificate("*.moamoa-news.com").await;
    sb.kube.apply("gateway.yaml", GATEWAY_SERVICE).await;
    sb.kube
        .apply(
            "ingress.yaml",
            &seed_001_ingress("istio-ingressgateway-alb", &cert),
        )
        .await;

    // Without the controller installed nothing happens, as on a cluster without the add-on.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        sb.aws.load_balancers().await.is_empty(),
        "an ALB appeared before the controller was installed"
    );
    let finalizers = sb
        .kube
        .ok(&[
            "get",
            "ingress",
            "-n",
            "istio-system",
            "istio-ingressgateway-alb",
            "-o",
            "jsonpath={.metadata.finalizers}",
        ])
        .await;
    assert!(
        finalizers.is_empty(),
        "finalizers before install: {finalizers}"
    );

    sb.install_load_balancer_controller().await;
    let hostname = eventually("the Ingress hostname", WAIT, || async {
        let h = sb
            .kube
            .ok(&[
                "get",
                "ingress",
                "-n",
                "istio-system",
                "istio-ingressgateway-alb",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].hostname}",
            ])
            .await;
        (!h.is_empty()).then_some(h)
    })
    .await;

    let lbs = sb.aws.load_balancers().await;
    assert_eq!(lbs.len(), 1, "one ALB: {lbs:?}");
    let lb = &lbs[0];
    assert_eq!(lb.dns_name(), Some(hostname.as_str()));
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(lb.r#type().map(|t| t.as_str()), Some("application"));
    assert_eq!(lb.vpc_id(), Some(vpc.as_str()));
    let lb_arn = lb.load_balancer_arn().expect("ARN").to_string();
    let tags = sb
        .aws
        .elb
        .describe_tags()
        .resource_arns(&lb_arn)
        .send()
        .await
        .expect("DescribeTags");
    let tags = tags.tag_descriptions()[0].tags().to_vec();
    let tag = |k: &str| {
        tags.iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag("elbv2.k8s.aws/cluster").as_deref(), Some(CLUSTER));
    assert_eq!(
        tag("ingress.k8s.aws/stack").as_deref(),
        Some("istio-system/istio-ingressgateway-alb")
    );

    let listeners = sb
        .aws
        .elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .expect("DescribeListeners")
        .listeners
        .unwrap_or_default();
    let https = listeners
        .iter()
        .find(|l| l.port() == Some(443))
        .expect("an HTTPS listener on 443");
    assert_eq!(https.protocol().map(|p| p.as_str()), Some("HTTPS"));
    assert_eq!(
        https.certificates()[0].certificate_arn(),
        Some(cert.as_str())
    );
    let http = listeners
        .iter()
        .find(|l| l.port() == Some(80))
        .expect("an HTTP listener on 80");
    let http_rules = sb
        .aws
        .elb
        .describe_rules()
        .listener_arn(http.listener_arn().expect("listener ARN"))
        .send()
        .await
        .expect("DescribeRules")
        .rules
        .unwrap_or_default();
    let redirect = http_rules
        .iter()
        .find(|r| r.priority() == Some("1"))
        .and_then(|r| r.actions().first())
        .and_then(|a| a.redirect_config())
        .expect("the first HTTP rule redirects (actions.ssl-redirect)");
    assert_eq!(
        (redirect.protocol(), redirect.port()),
        (Some("HTTPS"), Some("443"))
    );

    let status_node_port: i32 = sb
        .kube
        .ok(&[
            "get",
            "svc",
            "-n",
            "istio-system",
            "istio-ingressgateway",
            "-o",
            r#"jsonpath={.spec.ports[?(@.name=="status-port")].nodePort}"#,
        ])
        .await
        .parse()
        .expect("a numeric nodePort");
    let https_node_port: i32 = sb
        .kube
        .ok(&[
            "get",
            "svc",
            "-n",
            "istio-system",
            "istio-ingressgateway",
            "-o",
            r#"jsonpath={.spec.ports[?(@.name=="https")].nodePort}"#,
        ])
        .await
        .parse()
        .expect("a numeric nodePort");
    let tgs = sb.aws.target_groups().await;
    assert_eq!(tgs.len(), 1, "one target group: {tgs:?}");
    let tg = &tgs[0];
    assert_eq!(
        tg.health_check_port(),
        Some(status_node_port.to_string().as_str())
    );
    assert_eq!(tg.health_check_path(), Some("/healthz/ready"));
    assert_eq!(tg.port(), Some(https_node_port));
    assert_eq!(tg.protocol().map(|p| p.as_str()), Some("HTTPS"));

    let finalizers = sb
        .kube
        .ok(&[
            "get",
            "ingress",
            "-n",
            "istio-system",
            "istio-ingressgateway-alb",
            "-o",
            "jsonpath={.metadata.finalizers}",
        ])
        .await;
    assert!(
        finalizers.contains("ingress.k8s.aws/resources"),
        "finalizers: {finalizers}"
    );

    // A changed annotation is reconciled into the target group.
    sb.kube
        .ok(&[
            "annotate",
            "--overwrite",
            "ingress",
            "-n",
            "istio-system",
            "istio-ingressgateway-alb",
            "alb.ingress.kubernetes.io/healthcheck-path=/healthz/live",
        ])
        .await;
    eventually("the new health check path", WAIT, || async {
        let tgs = sb.aws.target_groups().await;
        (tgs.len() == 1 && tgs[0].health_check_path() == Some("/healthz/live")).then_some(())
    })
    .await;

    sb.kube
        .ok(&[
            "delete",
            "ingress",
            "-n",
            "istio-system",
            "istio-ingressgateway-alb",
            "--wait=false",
        ])
        .await;
    eventually("the ALB and its target groups to go", WAIT, || async {
        (sb.aws.load_balancers().await.is_empty() && sb.aws.target_groups().await.is_empty())
            .then_some(())
    })
    .await;
    eventually("the Ingress to go", WAIT, || async {
        let out = sb
            .kube
            .kubectl(&[
                "get",
                "ingress",
                "-n",
                "istio-system",
                "istio-ingressgateway-alb",
            ])
            .await;
        (!out.status.success()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_annotations_give_warning_events_and_no_alb() {
    let sb = Sandbox::start().await;
    sb.install_load_balancer_controller().await;
    sb.kube.apply("gateway.yaml", GATEWAY_SERVICE).await;

    // No tagged subnets yet: the balancer cannot be placed.
    let cert = sb.aws.certificate("*.moamoa-news.com").await;
    sb.kube
        .apply("no-subnets.yaml", &seed_001_ingress("no-subnets", &cert))
        .await;
    let event = eventually(
        "a FailedDeployModel event for missing subnets",
        WAIT,
        || async {
            sb.kube
                .events_for("no-subnets")
                .await
                .into_iter()
                .find(|e| e["reason"] == "FailedDeployModel")
        },
    )
    .await;
    assert_eq!(event["type"], "Warning");
    assert!(
        event["message"]
            .as_str()
            .unwrap_or_default()
            .contains("kubernetes.io/role/elb"),
        "{event}"
    );
    sb.kube
        .ok(&["delete", "ingress", "-n", "istio-system", "no-subnets"])
        .await;

    sb.aws
        .vpc_with_tagged_subnets("kubernetes.io/role/elb")
        .await;
    let broken_ports = seed_001_ingress("broken-ports", &cert).replace(
        r#"'[{"HTTP": 80}, {"HTTPS":443}]'"#,
        r#"'[{"HTTP": 80}, {"HTTPS":443}'"#,
    );
    let bad_scheme =
        seed_001_ingress("bad-scheme", &cert).replace("scheme: internet-facing", "scheme: public");
    let bad_health = seed_001_ingress("bad-health", &cert).replace(
        "healthcheck-port: status-port",
        "healthcheck-port: no-such-port",
    );
    let missing_cert = seed_001_ingress(
        "missing-cert",
        "arn:aws:acm:ap-northeast-2:123456789012:certificate/00000000-0000-0000-0000-000000000000",
    );
    sb.kube
        .apply(
            "broken.yaml",
            &[broken_ports, bad_scheme, bad_health, missing_cert].join("---\n"),
        )
        .await;

    for (name, reason, needle) in [
        ("broken-ports", "FailedBuildModel", "listen-ports"),
        (
            "bad-scheme",
            "FailedBuildModel",
            "scheme: \"public\" is not one of internal, internet-facing",
        ),
        ("bad-health", "FailedBuildModel", "no-such-port"),
        ("missing-cert", "FailedDeployModel", "certificate/00000000"),
    ] {
        let event = eventually(&format!("a {reason} event on {name}"), WAIT, || async {
            sb.kube
                .events_for(name)
                .await
                .into_iter()
                .find(|e| e["reason"] == reason)
        })
        .await;
        assert_eq!(event["type"], "Warning", "{event}");
        assert_eq!(event["involvedObject"]["kind"], "Ingress", "{event}");
        let message = event["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{name}: {message}");
        let hostname = sb
            .kube
            .ok(&[
                "get",
                "ingress",
                "-n",
                "istio-system",
                name,
                "-o",
                "jsonpath={.status.loadBalancer.ingress}",
            ])
            .await;
        assert!(hostname.is_empty(), "{name} got a hostname: {hostname}");
    }
    assert!(
        sb.aws.load_balancers().await.is_empty(),
        "a bad Ingress made an ALB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_004_external_service_becomes_an_internal_nlb() {
    let sb = Sandbox::start().await;
    sb.install_load_balancer_controller().await;
    sb.aws
        .vpc_with_tagged_subnets("kubernetes.io/role/internal-elb")
        .await;
    let cert = sb.aws.certificate("nlb.example.com").await;
    // The Service istioctl makes from seed 004's NLB gateway.
    let service = format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: istio-system}}
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-name: istio-ingress-nlb
    service.beta.kubernetes.io/aws-load-balancer-type: "external"
    service.beta.kubernetes.io/aws-load-balancer-internal: "true"
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: "ip"
    service.beta.kubernetes.io/load-balancer-source-ranges: "10.0.0.0/8"
    service.beta.kubernetes.io/aws-load-balancer-ssl-ports: "443"
    service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy: ELBSecurityPolicy-2016-08
    service.beta.kubernetes.io/aws-load-balancer-ssl-cert: {cert}
    service.beta.kubernetes.io/aws-load-balancer-healthcheck-path: /healthz/ready
    service.beta.kubernetes.io/aws-load-balancer-healthcheck-port: "15021"
    service.beta.kubernetes.io/aws-load-balancer-attributes: load_balancing.cross_zone.enabled=true
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  selector: {{istio: ingressgateway}}
  ports:
  - {{port: 15021, targetPort: 15021, name: status-port, protocol: TCP}}
  - {{port: 80, targetPort: 8080, name: http2, protocol: TCP}}
  - {{port: 443, targetPort: 8443, name: https, protocol: TCP}}
"#
    );
    sb.kube.apply("nlb.yaml", &service).await;
    let hostname = eventually("the Service hostname", WAIT, || async {
        let h = sb
            .kube
            .ok(&[
                "get",
                "svc",
                "-n",
                "istio-system",
                "istio-ingressgateway",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].hostname}",
            ])
            .await;
        (!h.is_empty()).then_some(h)
    })
    .await;
    let lbs = sb.aws.load_balancers().await;
    assert_eq!(lbs.len(), 1, "{lbs:?}");
    let lb = &lbs[0];
    assert_eq!(lb.dns_name(), Some(hostname.as_str()));
    assert_eq!(lb.load_balancer_name(), Some("istio-ingress-nlb"));
    assert_eq!(lb.r#type().map(|t| t.as_str()), Some("network"));
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internal"));
    let listeners = sb
        .aws
        .elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().expect("ARN"))
        .send()
        .await
        .expect("DescribeListeners")
        .listeners
        .unwrap_or_default();
    let mut ports: Vec<(i32, String)> = listeners
        .iter()
        .map(|l| {
            (
                l.port().unwrap_or(0),
                l.protocol()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        vec![
            (80, "TCP".into()),
            (443, "TLS".into()),
            (15021, "TCP".into())
        ]
    );
    let tls = listeners
        .iter()
        .find(|l| l.port() == Some(443))
        .expect("TLS listener");
    assert_eq!(tls.certificates()[0].certificate_arn(), Some(cert.as_str()));
    let tgs = sb.aws.target_groups().await;
    assert_eq!(tgs.len(), 3);
    for tg in &tgs {
        assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
        assert_eq!(tg.health_check_port(), Some("15021"));
    }
    assert!(
        tgs.iter().any(|tg| tg.port() == Some(8443)),
        "ip targets use the target port"
    );

    sb.kube
        .ok(&[
            "delete",
            "svc",
            "-n",
            "istio-system",
            "istio-ingressgateway",
            "--wait=false",
        ])
        .await;
    eventually("the NLB to go", WAIT, || async {
        (sb.aws.load_balancers().await.is_empty() && sb.aws.target_groups().await.is_empty())
            .then_some(())
    })
    .await;
    eventually("the Service to go", WAIT, || async {
        let out = sb
            .kube
            .kubectl(&["get", "svc", "-n", "istio-system", "istio-ingressgateway"])
            .await;
        (!out.status.success()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_certificate_becomes_a_tls_secret() {
    let sb = Sandbox::start().await;
    // cert-manager installed by the helm stand-in (its CRDs and controller Deployment), then seed
    // 001's issuer and certificate.
    sb.kube.ok(&["create", "namespace", "cert-manager"]).await;
    let helm = std::process::Command::new(env!("CARGO_BIN_EXE_helm"))
        .args([
            "install",
            "cert-manager",
            "jetstack/cert-manager",
            "-n",
            "cert-manager",
        ])
        .args(["--version", "v1.14.4", "--set", "installCRDs=true"])
        .env("KUBECONFIG", &sb.kube.kubeconfig)
        .output()
        .expect("the helm stand-in runs");
    assert!(helm.status.success(), "helm install cert-manager: {helm:?}");
    sb.kube
        .apply(
            "cert-manager.yaml",
            r#"apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: letsencrypt
spec:
  acme:
    privateKeySecretRef: {name: letsencrypt-staging}
    server: https://acme-v02.api.letsencrypt.org/directory
    email: ops@example.com
    solvers:
      - dns01:
          route53: {region: ap-northeast-2, hostedZoneID: Z08092432XQCIVY7ERHU7}
        selector: {dnsZones: ["moamoa-news.com"]}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: moamoa-cert
  namespace: istio-system
spec:
  secretName: moamoa-cert
  dnsNames:
    - "*.moamoa-news.com"
    - "moamoa-news.com"
  issuerRef:
    name: letsencrypt
    kind: ClusterIssuer
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: orphan-cert
  namespace: istio-system
spec:
  secretName: orphan-cert
  dnsNames: ["orphan.example.com"]
  issuerRef: {name: nowhere, kind: ClusterIssuer}
"#,
        )
        .await;
    eventually("the ClusterIssuer Ready", WAIT, || async {
        let s = sb
            .kube
            .ok(&[
                "get",
                "clusterissuer",
                "letsencrypt",
                "-o",
                r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#,
            ])
            .await;
        (s == "True").then_some(())
    })
    .await;
    eventually("the Certificate Ready", WAIT, || async {
        let s = sb
            .kube
            .ok(&[
                "get",
                "certificate",
                "-n",
                "istio-system",
                "moamoa-cert",
                "-o",
                r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#,
            ])
            .await;
        (s == "True").then_some(())
    })
    .await;
    let secret = sb
        .kube
        .get_json(&["get", "secret", "-n", "istio-system", "moamoa-cert"])
        .await;
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let b64 = base64::engine::general_purpose::STANDARD;
    let pem = String::from_utf8(
        b64.decode(secret["data"]["tls.crt"].as_str().expect("tls.crt"))
            .expect("base64"),
    )
    .expect("utf-8");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let key = String::from_utf8(
        b64.decode(secret["data"]["tls.key"].as_str().expect("tls.key"))
            .expect("base64"),
    )
    .expect("utf-8");
    assert!(key.contains("PRIVATE KEY"), "{key}");
    // The DNS names are in the certificate itself (SANs are plain ASCII in the DER).
    let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = b64.decode(der_b64).expect("PEM body");
    for name in ["*.moamoa-news.com", "moamoa-news.com"] {
        assert!(
            der.windows(name.len()).any(|w| w == name.as_bytes()),
            "{name} not in the certificate"
        );
    }

    let reason = eventually("the orphan Certificate not Ready", WAIT, || async {
        let r = sb
            .kube
            .ok(&["get", "certificate", "-n", "istio-system", "orphan-cert", "-o", r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].message}"#])
            .await;
        r.starts_with("False/").then_some(r)
    })
    .await;
    assert!(reason.contains("nowhere"), "{reason}");
    let missing = sb
        .kube
        .kubectl(&["get", "secret", "-n", "istio-system", "orphan-cert"])
        .await;
    assert!(
        !missing.status.success(),
        "a Secret was issued by an unknown issuer"
    );
}
