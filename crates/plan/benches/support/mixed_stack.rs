//! A generator of valid mixed stacks of any size, for the scale benchmarks (issue 22): seed 001's
//! topology (cluster, add-ons, an ingress gateway behind an ALB with an ACM certificate, a Gateway
//! serving HTTPS with a cert-manager certificate) and, per service, a namespace, a canary
//! destination_rule, a virtual_service bound to that Gateway and to the mesh, and a dns_record
//! (an alias of the ALB or a CNAME), so every cross-resource check of a VirtualService runs.

/// The shared resources every generated stack starts with; `HEADER_RESOURCES` counts them.
const HEADER: &str = r#"stack: scale
region: us-east-1
vars:
  domain: example.com
kube: { from_cluster: main }
resources:
  - { kind: vpc, name: main, cidr: 10.0.0.0/16, azs: 3, nat: single }
  - { kind: eks_cluster, name: main, version: "1.29", vpc: main }
  - { kind: nodegroup, name: workers, cluster: main, instance_types: [m5.large], scaling: { min: 3, desired: 3, max: 30 }, subnets: private }
  - { kind: iam_service_account, name: aws-load-balancer-controller, cluster: main, namespace: kube-system, service_account: aws-load-balancer-controller, well_known_policy: aws_load_balancer_controller }
  - { kind: iam_service_account, name: cert-manager, cluster: main, namespace: cert-manager, service_account: cert-manager, well_known_policy: cert_manager_route53 }
  - { kind: lb_controller, name: aws-load-balancer-controller, chart_version: 1.7.2, service_account: aws-load-balancer-controller }
  - { kind: cert_manager, name: cert-manager, chart_version: 1.14.4, service_account: cert-manager }
  - { kind: istio, name: mesh, version: 1.17.1 }
  - { kind: ingress_gateway, name: istio-ingressgateway, istio: mesh, labels: { istio: ingressgateway }, service: { type: NodePort } }
  - { kind: route53_zone, name: public, domain: "${var.domain}" }
  - { kind: acm_certificate, name: wildcard, domain: "*.${var.domain}", sans: ["${var.domain}"], validation_zone: public }
  - { kind: issuer, name: letsencrypt, acme: { email: "ops@${var.domain}" }, dns01: { zone: public, service_account: cert-manager } }
  - { kind: certificate, name: public-cert, namespace: istio-system, issuer: letsencrypt, dns_names: ["*.${var.domain}", "${var.domain}"] }
  - kind: alb
    name: public
    gateway: istio-ingressgateway
    scheme: internet-facing
    target_type: instance
    certificate: wildcard
    ssl_redirect: true
    backend: { protocol: HTTPS, port: 443 }
    health_check: { path: /healthz/ready, protocol: HTTP }
  - kind: gateway
    name: public
    namespace: istio-system
    selector: istio-ingressgateway
    servers:
      - port: { number: 80, name: http, protocol: HTTP }
        hosts: ["*.${var.domain}"]
        tls: { https_redirect: true }
      - port: { number: 443, name: https, protocol: HTTPS }
        hosts: ["*.${var.domain}"]
        tls: { mode: SIMPLE, credential: public-cert }
"#;

/// How many resources `HEADER` declares.
pub const HEADER_RESOURCES: usize = 15;

/// One service: a namespace, a canary destination_rule, a gateway-bound virtual_service and a
/// dns_record; `#` is replaced by the service number and `@` by the record's target.
const SERVICE: &str = r#"  - { kind: namespace, name: app-#, labels: { istio-injection: enabled } }
  - kind: destination_rule
    name: svc-#
    namespace: app-#
    host: svc-#
    subsets:
      - { name: stable, labels: { version: v1 } }
      - { name: canary, labels: { version: v2 } }
  - kind: virtual_service
    name: svc-#
    namespace: app-#
    hosts: ["svc-#.${var.domain}", svc-#]
    gateways: [public, mesh]
    http:
      - match: [{ uri: { prefix: /api } }]
        timeout: 5s
        route:
          - { destination: { host: svc-#, subset: stable, port: 8080 }, weight: 90 }
          - { destination: { host: svc-#, subset: canary, port: 8080 }, weight: 10 }
  - { kind: dns_record, name: svc-#, zone: public, record: "svc-#.${var.domain}", @ }
"#;

/// How many resources one `SERVICE` declares.
pub const SERVICE_RESOURCES: usize = 4;

/// A valid stack of exactly `resources` resources (at least `HEADER_RESOURCES`): the header, as
/// many services as fit, and a namespace for each resource left over. Even services' records
/// alias the ALB; odd ones are CNAMEs. With `records` above 0, at least that many are
/// dns_records: fewer services, and A records in the zone for those they do not bring (the
/// apply-at-scale run: 5,000 resources, 2,500 records).
pub fn mixed_stack(resources: usize, records: usize) -> String {
    let room = resources.saturating_sub(HEADER_RESOURCES);
    // Each service brings one record: with `extra` records besides, s services and extra
    // records fill s * SERVICE_RESOURCES + extra = room, where s + extra = records.
    let services = if records == 0 {
        room / SERVICE_RESOURCES
    } else {
        (room.saturating_sub(records) / (SERVICE_RESOURCES - 1)).min(records)
    };
    let extra = records
        .saturating_sub(services)
        .min(room - services * SERVICE_RESOURCES);
    let spare = room - services * SERVICE_RESOURCES - extra;
    let mut text = String::with_capacity(HEADER.len() + services * (SERVICE.len() + 16));
    text.push_str(HEADER);
    for i in 0..services {
        let number = i.to_string();
        let target = if i % 2 == 0 {
            "alias: alb.public"
        } else {
            "type: CNAME, values: [lb.example.net], ttl: 300"
        };
        text.push_str(&SERVICE.replace('#', &number).replace('@', target));
    }
    for i in 0..extra {
        text.push_str(&format!(
            "  - {{ kind: dns_record, name: extra-{i}, zone: public, record: \"x{i}.${{var.domain}}\", type: A, values: [10.{}.{}.{}], ttl: 60 }}\n",
            i / 65536 % 256,
            i / 256 % 256,
            i % 256
        ));
    }
    for i in 0..spare {
        text.push_str(&format!("  - {{ kind: namespace, name: spare-{i} }}\n"));
    }
    text
}
