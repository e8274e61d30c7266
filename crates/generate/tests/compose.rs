//! `compose` writes stacks that validate: a small hand-written set of facts (a VPC, a cluster,
//! a nodegroup, an IRSA role, a gateway behind an ALB with its certificate and a record) becomes
//! resources with `import:` ids and typed references, checked against text written by hand and
//! against meshctl's own loader.

use meshctl_generate::facts::aws::{
    AwsFacts, CertificateFacts, ClusterFacts, NodegroupFacts, RecordFacts, RoleFacts, VpcFacts,
    ZoneFacts,
};
use meshctl_generate::facts::kube::{GatewayFacts, IstioFacts, KubeFacts, ReleaseFacts};
use meshctl_generate::{compose, Facts};
use serde_json::json;

fn facts() -> Facts {
    Facts {
        stack: "shop".into(),
        region: "eu-west-1".into(),
        aws: AwsFacts {
            cluster: ClusterFacts {
                name: "shop".into(),
                version: "1.29".into(),
                endpoint_public: true,
                endpoint_private: true,
                public_access_cidrs: vec!["0.0.0.0/0".into()],
                oidc_provider: true,
                vpc_id: "vpc-1".into(),
                ..ClusterFacts::default()
            },
            vpc: Some(VpcFacts {
                id: "vpc-1".into(),
                cidr: "10.0.0.0/16".into(),
                azs: vec!["eu-west-1a".into(), "eu-west-1b".into()],
                public_subnets: 2,
                private_subnets: 2,
                prefix_length: Some(20),
                nat_gateways: 1,
                ..VpcFacts::default()
            }),
            nodegroups: vec![NodegroupFacts {
                name: "workers".into(),
                instance_types: vec!["t3.large".into()],
                min: 1,
                desired: 2,
                max: 3,
                ..NodegroupFacts::default()
            }],
            roles: vec![RoleFacts {
                name: "lbc-role".into(),
                namespace: "kube-system".into(),
                service_account: "aws-load-balancer-controller".into(),
                policy_arns: vec!["arn:aws:iam::123456789012:policy/LBC".into()],
                ..RoleFacts::default()
            }],
            certificates: vec![CertificateFacts {
                arn: "arn:aws:acm:eu-west-1:123456789012:certificate/abc".into(),
                domain: "*.example.com".into(),
                sans: vec!["example.com".into()],
            }],
            zone: Some(ZoneFacts {
                id: "Z1".into(),
                domain: "example.com".into(),
                records: vec![RecordFacts {
                    name: "www.example.com".into(),
                    record_type: "A".into(),
                    alias_dns: "k8s-public-1.eu-west-1.elb.amazonaws.com".into(),
                }],
            }),
            ..AwsFacts::default()
        },
        kube: KubeFacts {
            releases: vec![ReleaseFacts {
                name: "aws-load-balancer-controller".into(),
                namespace: "kube-system".into(),
                chart: "aws-load-balancer-controller".into(),
                version: "1.7.2".into(),
                values: json!({"clusterName": "shop", "serviceAccount": {"name": "aws-load-balancer-controller"}}),
            }],
            istio: vec![IstioFacts {
                name: "mesh".into(),
                namespace: "istio-system".into(),
                spec: json!({"tag": "1.22.0", "profile": "default"}),
            }],
            gateways: vec![GatewayFacts {
                name: "istio-ingressgateway".into(),
                namespace: "istio-system".into(),
                operator: "mesh".into(),
                labels: [("istio".to_string(), "ingressgateway".to_string())].into(),
                service: json!({"spec": {"type": "NodePort", "ports": [
                    {"name": "status-port", "port": 15021, "targetPort": 15021, "nodePort": 30621},
                    {"name": "http2", "port": 80, "targetPort": 8080, "nodePort": 30080}
                ]}}),
            }],
            ingresses: vec![json!({
                "metadata": {"name": "public", "namespace": "istio-system", "annotations": {
                    "alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
                    "alb.ingress.kubernetes.io/listen-ports": "[{\"HTTP\": 80}, {\"HTTPS\": 443}]"
                }},
                "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "istio-ingressgateway", "port": {"number": 80}}}}
                ]}}]},
                "status": {"loadBalancer": {"ingress": [{"hostname": "k8s-public-1.eu-west-1.elb.amazonaws.com"}]}}
            })],
            objects: vec![
                json!({"kind": "DestinationRule", "metadata": {"name": "reviews", "namespace": "shop"},
                    "spec": {"host": "reviews", "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 5, "interval": "30s"}},
                        "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}}),
                json!({"kind": "AuthorizationPolicy", "metadata": {"name": "require-jwt", "namespace": "shop"},
                    "spec": {"selector": {"matchLabels": {"app": "nginx"}}, "action": "ALLOW",
                        "rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}]}}),
            ],
            unexpressed: vec!["Deployment default/shop".into()],
            ..KubeFacts::default()
        },
    }
}

#[test]
fn the_stack_uses_typed_references_and_import_ids_and_validates() {
    let text = compose(&facts());
    for expected in [
        "  - kind: vpc\n    name: main\n    import: vpc-1\n    cidr: 10.0.0.0/16\n    azs: 2\n    nat: single\n",
        "  - kind: eks_cluster\n    name: main\n    import: shop\n    cluster_name: shop\n    version: '1.29'\n    vpc: main\n",
        "  - kind: nodegroup\n    name: workers\n    import: shop/workers\n    cluster: main\n",
        "  - kind: iam_service_account\n    name: aws-load-balancer-controller\n    import: lbc-role\n",
        "  - kind: acm_certificate\n    name: wildcard-example-com\n    import: arn:aws:acm:eu-west-1:123456789012:certificate/abc\n",
        "  - kind: dns_record\n    name: www\n    import: Z1/www.example.com/A\n    zone: public\n    record: www.example.com\n    alias: alb.public\n",
        "  - kind: lb_controller\n    name: aws-load-balancer-controller\n    import: kube-system/aws-load-balancer-controller\n    chart_version: 1.7.2\n    service_account: aws-load-balancer-controller\n",
        "  - kind: alb\n    name: public\n    import: istio-system/public\n    gateway: istio-ingressgateway\n    certificate: wildcard-example-com\n",
        "  # - Deployment default/shop\n",
        "  - kind: destination_rule\n    name: reviews\n    import: shop/reviews\n    namespace: shop\n    host: reviews\n    traffic_policy:\n      outlier_detection:\n        consecutive_5xx_errors: 5\n        interval: 30s\n    subsets:\n    - name: v1\n      labels:\n        version: v1\n",
        "  - kind: authorization_policy\n    name: require-jwt\n    import: shop/require-jwt\n    namespace: shop\n    selector:\n      app: nginx\n    action: ALLOW\n    rules:\n    - from:\n      - source:\n          request_principals:\n          - '*'\n",
    ] {
        assert!(text.contains(expected), "missing:\n{expected}\nin:\n{text}");
    }
    let (checked, diagnostics) = meshctl_graph::validate(
        &meshctl_model::SourceFile::new("generated.yaml", &text),
        &meshctl_model::VarOverrides::default(),
    );
    assert!(
        checked.is_some() && diagnostics.iter().all(|d| !d.is_error()),
        "{diagnostics:#?}\n{text}"
    );
}

#[test]
fn the_same_facts_give_the_same_file() {
    assert_eq!(compose(&facts()), compose(&facts()));
}
