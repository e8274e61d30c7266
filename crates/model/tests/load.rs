//! Loader behaviour found in review: tagged enums in the header, vars everywhere, keys arriving
//! through vars, controller edges, record names with underscores, label containment both ways.

use meshctl_model::stack::{Backend, EdgeKind};
use meshctl_model::{load, Address, Kind, SourceFile, VarOverrides};

fn codes(text: &str, vars: &VarOverrides) -> Vec<(String, String)> {
    let loaded = load(&SourceFile::new("t.yaml", text), vars);
    loaded
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code.clone(),
                d.path.as_ref().map(ToString::to_string).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn backend_is_a_one_key_mapping() {
    let text = "stack: s\nregion: us-east-1\nbackend: { local: state/prod }\nresources: []\n";
    let loaded = load(&SourceFile::new("t.yaml", text), &VarOverrides::default());
    let stack = loaded.stack.expect("valid");
    assert_eq!(
        stack.header.backend,
        Some(Backend::Local("state/prod".into()))
    );
    let s3 = "stack: s\nregion: us-east-1\nbackend:\n  s3: { bucket: acme-state, key: k, region: us-east-1, kms_key_id: alias/state }\nresources: []\n";
    assert!(codes(s3, &VarOverrides::default()).is_empty());
    let bad = "stack: s\nregion: us-east-1\nbackend: { nfs: x }\nresources: []\n";
    assert_eq!(
        codes(bad, &VarOverrides::default()),
        [("unknown-value".to_string(), "backend".to_string())]
    );
}

#[test]
fn vars_reach_the_header() {
    let text = "stack: s\nregion: ${var.region}\nvars: { region: eu-west-1 }\nresources: []\n";
    let loaded = load(&SourceFile::new("t.yaml", text), &VarOverrides::default());
    assert_eq!(loaded.stack.expect("valid").header.region, "eu-west-1");
}

#[test]
fn an_access_key_passed_as_a_var_is_refused_where_it_is_used() {
    let text = "stack: s\nregion: us-east-1\nvars: { note: x }\nresources:\n  - kind: route53_zone\n    name: z\n    domain: example.com\n  - kind: dns_record\n    name: r\n    zone: z\n    record: t.example.com\n    type: TXT\n    values: [\"${var.note}\"]\n    ttl: 60\n";
    let mut vars = VarOverrides::default();
    vars.set("note", "AKIAZ72NSUCESVG47F6A");
    assert_eq!(
        codes(text, &vars),
        [(
            "static-aws-key".to_string(),
            "resources[1].values[0]".to_string()
        )]
    );
}

#[test]
fn record_names_may_hold_underscores() {
    let text = "stack: s\nregion: us-east-1\nresources:\n  - { kind: route53_zone, name: z, domain: example.com }\n  - { kind: dns_record, name: dmarc, zone: z, record: _dmarc.example.com, type: TXT, values: [\"v=DMARC1\"], ttl: 300 }\n";
    assert!(codes(text, &VarOverrides::default()).is_empty());
}

#[test]
fn custom_resources_follow_the_add_on_that_serves_them() {
    let text = "stack: s\nregion: us-east-1\nkube: { kubeconfig: kc.yaml }\nresources:\n  - { kind: cert_manager, name: cm, chart_version: 1.14.4 }\n  - kind: issuer\n    name: le\n    acme: { email: ops@example.com }\n    dns01: { zone: z, service_account: sa }\n  - { kind: route53_zone, name: z, domain: example.com }\n  - { kind: vpc, name: v, cidr: 10.0.0.0/16 }\n  - { kind: eks_cluster, name: c, version: \"1.29\", vpc: v }\n  - { kind: iam_service_account, name: sa, cluster: c, namespace: cert-manager, service_account: cert-manager, well_known_policy: cert_manager_route53 }\n";
    let loaded = load(&SourceFile::new("t.yaml", text), &VarOverrides::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let stack = loaded.stack.unwrap();
    let issuer = stack.get(&Address::new(Kind::Issuer, "le")).unwrap();
    assert!(issuer.dependencies.iter().any(
        |d| d.target == Address::new(Kind::CertManager, "cm") && d.kind == EdgeKind::Controller
    ));
}

#[test]
fn gateway_labels_contained_either_way_are_reported() {
    let base = "stack: s\nregion: us-east-1\nkube: { kubeconfig: kc.yaml }\nresources:\n  - { kind: istio, name: mesh, version: 1.20.0 }\n";
    let wide_first = format!("{base}  - {{ kind: ingress_gateway, name: a, istio: mesh, labels: {{ istio: gw, tier: edge }} }}\n  - {{ kind: ingress_gateway, name: b, istio: mesh, labels: {{ istio: gw }} }}\n");
    let narrow_first = format!("{base}  - {{ kind: ingress_gateway, name: a, istio: mesh, labels: {{ istio: gw }} }}\n  - {{ kind: ingress_gateway, name: b, istio: mesh, labels: {{ istio: gw, tier: edge }} }}\n");
    for text in [wide_first, narrow_first] {
        assert_eq!(
            codes(&text, &VarOverrides::default()),
            [(
                "duplicate-gateway-labels".to_string(),
                "resources[2].labels".to_string()
            )]
        );
    }
}

#[test]
fn a_value_for_an_undeclared_var_is_a_warning_with_a_suggestion() {
    let text = "stack: s\nregion: us-east-1\nvars: { domain: example.com }\nresources: []\n";
    let mut vars = VarOverrides::default();
    vars.set("domian", "example.org");
    let loaded = load(&SourceFile::new("t.yaml", text), &vars);
    assert!(
        loaded.stack.is_some(),
        "a warning does not reject the stack"
    );
    let [warning] = loaded.diagnostics.as_slice() else {
        panic!("{:?}", loaded.diagnostics)
    };
    assert_eq!(
        (warning.code.as_str(), warning.is_error()),
        ("undeclared-var", false)
    );
    assert_eq!(warning.help.as_deref(), Some("did you mean `domain`?"));
}

#[test]
fn short_mesh_names_beside_a_gateway_need_no_zone() {
    let base = "stack: s\nregion: us-east-1\nkube: { kubeconfig: kc.yaml }\nresources:\n  - { kind: istio, name: mesh, version: 1.20.0 }\n  - { kind: ingress_gateway, name: gw, istio: mesh, labels: { istio: ingressgateway } }\n  - { kind: route53_zone, name: z, domain: example.com }\n  - kind: gateway\n    name: web\n    selector: gw\n    servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: [\"*\"] }]\n";
    let with = |gateways: &str| {
        format!("{base}  - {{ kind: virtual_service, name: reviews, hosts: [reviews, reviews.example.com], gateways: [{gateways}], http: [{{ route: [{{ destination: {{ host: reviews }} }}] }}] }}\n")
    };
    assert!(codes(&with("web, mesh"), &VarOverrides::default()).is_empty());
    // Bound to the gateway only, a short name is still reported.
    assert_eq!(
        codes(&with("web"), &VarOverrides::default()),
        [(
            "host-outside-zones".to_string(),
            "resources[4].hosts[0]".to_string()
        )]
    );
}

#[test]
fn objects_wait_for_what_creates_their_namespace() {
    let text = r#"stack: s
region: us-east-1
kube: { kubeconfig: k.yaml }
resources:
  - { kind: namespace, name: shop }
  - kind: manifest
    name: app
    objects:
      - { apiVersion: v1, kind: ConfigMap, metadata: { name: a, namespace: shop } }
      - { apiVersion: v1, kind: ConfigMap, metadata: { name: b, namespace: tools } }
  - { kind: helm_release, name: tools, chart: c, version: 1.0.0, namespace: tools, create_namespace: true }
  - { kind: istio, name: mesh, version: 1.17.1 }
  - { kind: cert_manager, name: cm, chart_version: 1.14.4 }
  - { kind: issuer, name: le, acme: { email: a@example.com }, dns01: { zone: z, service_account: cm } }
  - { kind: certificate, name: c, namespace: istio-system, issuer: le, dns_names: [example.com] }
  - { kind: route53_zone, name: z, domain: example.com }
  - { kind: iam_service_account, name: cm, cluster: x, namespace: cert-manager, service_account: cert-manager, well_known_policy: cert_manager_route53 }
  - { kind: vpc, name: v, cidr: 10.0.0.0/16, azs: 2 }
  - { kind: eks_cluster, name: x, version: "1.29", vpc: v }
"#;
    let loaded = load(&SourceFile::new("t.yaml", text), &VarOverrides::default());
    let stack = loaded
        .stack
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let namespace_edges = |address: Address| -> Vec<Address> {
        stack
            .get(&address)
            .unwrap()
            .dependencies
            .iter()
            .filter(|d| d.kind == EdgeKind::Namespace)
            .map(|d| d.target.clone())
            .collect()
    };
    // A manifest waits for the namespace resource and for the chart that creates the other one.
    assert_eq!(
        namespace_edges(Address::new(Kind::Manifest, "app")),
        [
            Address::new(Kind::Namespace, "shop"),
            Address::new(Kind::HelmRelease, "tools")
        ]
    );
    // A Certificate in istio-system waits for the istio install that creates it.
    assert_eq!(
        namespace_edges(Address::new(Kind::Certificate, "c")),
        [Address::new(Kind::Istio, "mesh")]
    );
    // An install does not wait for itself.
    assert!(namespace_edges(Address::new(Kind::HelmRelease, "tools")).is_empty());
}

#[test]
fn declared_outputs_load_in_file_order_with_vars_substituted_and_no_edges() {
    let text = "stack: s
region: us-east-1
vars: { tier: public }
resources:
  - { kind: route53_zone, name: main, domain: example.com }
outputs:
  zone_id:
    value: \"${route53_zone.main.zone_id}\"
    description: the ${var.tier} zone
  name_servers: { value: \"${route53_zone.main.name_servers}\" }
  label: { value: \"${var.tier}-${route53_zone.main.zone_id}\" }
";
    let loaded = load(&SourceFile::new("t.yaml", text), &VarOverrides::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let stack = loaded.stack.expect("valid");
    let outputs: Vec<(&str, &str, Option<&str>)> = stack
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.value.as_str(), o.description.as_deref()))
        .collect();
    assert_eq!(
        outputs,
        [
            (
                "zone_id",
                "${route53_zone.main.zone_id}",
                Some("the public zone")
            ),
            ("name_servers", "${route53_zone.main.name_servers}", None),
            ("label", "public-${route53_zone.main.zone_id}", None),
        ]
    );
    assert_eq!(stack.outputs[0].path.to_string(), "outputs.zone_id");
    // Outputs are read after apply: they order nothing.
    assert!(stack.resources[0].dependencies.is_empty());
    // `outputs` is neither a header field nor refused as one.
    let header = meshctl_model::read_header(&SourceFile::new("t.yaml", text)).expect("header");
    assert_eq!(header.stack, "s");
}

#[test]
fn outputs_must_be_a_mapping_of_values() {
    let list = "stack: s\nregion: us-east-1\nresources: []\noutputs: [a, b]\n";
    assert_eq!(
        codes(list, &VarOverrides::default()),
        [("type-mismatch".to_string(), "outputs".to_string())]
    );
    let no_value =
        "stack: s\nregion: us-east-1\nresources: []\noutputs: { a: { description: x } }\n";
    assert_eq!(
        codes(no_value, &VarOverrides::default()),
        [("missing-field".to_string(), "outputs.a".to_string())]
    );
}
