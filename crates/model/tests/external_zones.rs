//! `external_zones` on a virtual_service: hosts in DNS zones the stack does not manage pass
//! `host-outside-zones`, and only those.

use meshctl_model::{load, SourceFile, VarOverrides};

/// A stack with one managed zone (example.com) and a VirtualService on its gateway.
fn stack(virtual_service: &str) -> String {
    format!(
        "stack: s\nregion: us-east-1\nkube: {{ kubeconfig: kc.yaml }}\nresources:\n  - {{ kind: istio, name: mesh, version: 1.20.0 }}\n  - {{ kind: ingress_gateway, name: gw, istio: mesh, labels: {{ istio: ingressgateway }} }}\n  - {{ kind: route53_zone, name: z, domain: example.com }}\n  - kind: gateway\n    name: web\n    selector: gw\n    servers: [{{ port: {{ number: 80, name: http, protocol: HTTP }}, hosts: [\"*\"] }}]\n  - kind: virtual_service\n    name: app\n    gateways: [web]\n    http: [{{ route: [{{ destination: {{ host: app }} }}] }}]\n{virtual_service}"
    )
}

fn diagnostics(text: &str) -> Vec<(String, String, Option<String>)> {
    load(&SourceFile::new("t.yaml", text), &VarOverrides::default())
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code.clone(),
                d.path.as_ref().map(ToString::to_string).unwrap_or_default(),
                d.help.clone(),
            )
        })
        .collect()
}

#[test]
fn hosts_in_an_external_zone_need_no_route53_zone() {
    let text = stack(
        "    hosts: [www.example.com, shop.partner.net, partner.net]\n    external_zones: [partner.net]\n",
    );
    assert_eq!(diagnostics(&text), []);
    let loaded = load(&SourceFile::new("t.yaml", &text), &VarOverrides::default());
    assert!(loaded.stack.is_some(), "the stack is valid");
}

#[test]
fn without_external_zones_the_host_is_still_an_error_whose_help_names_the_way_out() {
    let text = stack("    hosts: [www.example.com, shop.partner.net]\n");
    let found = diagnostics(&text);
    let [(code, path, help)] = found.as_slice() else {
        panic!("one diagnostic expected: {found:?}")
    };
    assert_eq!(
        (code.as_str(), path.as_str()),
        ("host-outside-zones", "resources[4].hosts[1]")
    );
    let help = help.as_deref().unwrap_or_default();
    assert!(
        help.contains("external_zones") && help.contains("existing: true"),
        "{help}"
    );
}

#[test]
fn an_external_zone_covers_only_names_within_it() {
    // `apartner.net` is not within `partner.net`, and a listed zone is no wildcard for others.
    let text =
        stack("    hosts: [shop.apartner.net, www.other.org]\n    external_zones: [partner.net]\n");
    let codes: Vec<(String, String)> = diagnostics(&text)
        .into_iter()
        .map(|(code, path, _)| (code, path))
        .collect();
    assert_eq!(
        codes,
        [
            (
                "host-outside-zones".to_string(),
                "resources[4].hosts[0]".to_string()
            ),
            (
                "host-outside-zones".to_string(),
                "resources[4].hosts[1]".to_string()
            ),
        ]
    );
}

#[test]
fn an_external_zone_must_be_a_domain_name() {
    let text = stack("    hosts: [www.example.com]\n    external_zones: [\"*.partner.net\"]\n");
    let found = diagnostics(&text);
    assert!(
        found
            .iter()
            .any(|(_, path, _)| path == "resources[4].external_zones[0]"),
        "{found:?}"
    );
}
