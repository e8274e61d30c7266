//! cert-manager objects: the ACME ClusterIssuer solving DNS-01 in Route53 through cert-manager's
//! IRSA role (seed 001 without its static access key), and Certificates.

use super::{object, opt, Render, RenderError, Rendered, Renderer};
use meshctl_model::kinds::cluster::{Certificate, Issuer};
use meshctl_model::Kind;
use serde_json::json;
use std::collections::BTreeMap;

const CERT_MANAGER_API: &str = "cert-manager.io/v1";

pub(super) fn issuer(r: &Renderer<'_>, spec: &Issuer) -> Result<Render, RenderError> {
    let zone_id = r.string_output(Kind::Route53Zone, &spec.dns01.zone, "zone_id")?;
    let account_key = spec
        .acme
        .private_key_secret
        .as_ref()
        .map_or_else(|| format!("{}-account-key", r.name()), ToString::to_string);
    // No accessKeyID / secretAccessKeySecretRef: cert-manager's ServiceAccount carries the IRSA
    // role, and the route53 solver uses those ambient credentials.
    let route53 = json!({ "region": r.cx.region, "hostedZoneID": zone_id });
    let issuer = json!({
        "apiVersion": CERT_MANAGER_API,
        "kind": "ClusterIssuer",
        "metadata": r.metadata(r.name(), None, &BTreeMap::new(), &BTreeMap::new()),
        "spec": {
            "acme": {
                "server": spec.acme.server.as_str(),
                "email": spec.acme.email.as_str(),
                "privateKeySecretRef": { "name": account_key },
                "solvers": [{ "dns01": { "route53": route53 } }],
            },
        },
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![issuer]),
        outputs: BTreeMap::from([("name".to_string(), r.name().into())]),
    })
}

pub(super) fn certificate(r: &Renderer<'_>, spec: &Certificate) -> Result<Render, RenderError> {
    let issuer = r.string_output(Kind::Issuer, &spec.issuer, "name")?;
    let secret_name = spec
        .secret_name
        .as_ref()
        .map_or_else(|| r.name().to_string(), ToString::to_string);
    let certificate = json!({
        "apiVersion": CERT_MANAGER_API,
        "kind": "Certificate",
        "metadata": r.metadata(r.name(), Some(spec.namespace.as_str()), &BTreeMap::new(), &BTreeMap::new()),
        "spec": object([
            ("secretName", secret_name.clone().into()),
            ("dnsNames", json!(spec.dns_names)),
            ("duration", opt(spec.duration.as_ref())),
            ("renewBefore", opt(spec.renew_before.as_ref())),
            ("issuerRef", json!({ "name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io" })),
        ]),
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![certificate]),
        outputs: BTreeMap::from([
            ("secret_name".to_string(), secret_name.into()),
            ("namespace".to_string(), spec.namespace.as_str().into()),
        ]),
    })
}
