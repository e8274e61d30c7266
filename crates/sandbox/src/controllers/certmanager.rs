//! cert-manager: Issuers and ClusterIssuers report Ready; a Certificate whose `issuerRef` names
//! an existing issuer becomes a `kubernetes.io/tls` Secret (`spec.secretName`) holding a
//! self-signed certificate for `spec.dnsNames` (no ACME, no CA: the sandbox cannot reach one),
//! and reports Ready=True; an unknown issuer leaves it Ready=False with the reason. The Secret is
//! issued again when the DNS names or the issuer change.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::events::{record, EventKind};
use super::queue::{spawn_queue, Fut2, Next};
use super::{addon_deployment, is_deleting, ControllerOptions, CERT_MANAGER_DEPLOYMENT};
use crate::kube::clock::now_rfc3339;
use crate::kube::{Change, Gvr, Store, WriteOptions};

const MANAGER: &str = "cert-manager-certificates-issuing";
const COMPONENT: &str = "cert-manager-certificates-issuing";
const RETRY: Duration = Duration::from_secs(2);

fn certificates() -> Gvr {
    Gvr::new("cert-manager.io", "v1", "certificates")
}
fn issuers() -> Gvr {
    Gvr::new("cert-manager.io", "v1", "issuers")
}
fn cluster_issuers() -> Gvr {
    Gvr::new("cert-manager.io", "v1", "clusterissuers")
}
fn secrets() -> Gvr {
    Gvr::new("", "v1", "secrets")
}

/// What to reconcile: (resource, namespace, name).
type Key = (String, String, String);

pub(crate) fn spawn(store: Arc<Store>, options: ControllerOptions) -> JoinHandle<()> {
    let reconcile_store = store.clone();
    spawn_queue(
        store,
        options.resync,
        |store, change| -> Fut2<Key> { Box::pin(async move { keys(&store, change) }) },
        move |key: Key| {
            let store = reconcile_store.clone();
            async move { reconcile(&store, &key) }
        },
    )
}

fn keys_of(store: &Store, gvr: &Gvr) -> Vec<Key> {
    store
        .list(gvr, None)
        .unwrap_or_default()
        .iter()
        .map(|o| {
            (
                gvr.resource.clone(),
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn all_keys(store: &Store) -> Vec<Key> {
    let mut keys = keys_of(store, &issuers());
    keys.extend(keys_of(store, &cluster_issuers()));
    keys.extend(keys_of(store, &certificates()));
    keys
}

fn keys(store: &Store, change: Option<Change>) -> Vec<Key> {
    let Some(change) = change else {
        return all_keys(store);
    };
    let ns = change.namespace.clone().unwrap_or_default();
    match (
        change.resource.group.as_str(),
        change.resource.resource.as_str(),
    ) {
        ("cert-manager.io", resource @ ("certificates" | "issuers" | "clusterissuers")) => {
            let mut keys = vec![(resource.to_string(), ns, change.name.clone())];
            if resource != "certificates" {
                // A new issuer may unblock waiting Certificates.
                keys.extend(keys_of(store, &certificates()));
            }
            keys
        }
        // A deleted or edited Secret is issued again.
        ("", "secrets") => store
            .list(&certificates(), Some(&ns))
            .unwrap_or_default()
            .iter()
            .filter(|c| c["spec"]["secretName"] == change.name.as_str())
            .map(|c| {
                (
                    "certificates".to_string(),
                    ns.clone(),
                    c["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect(),
        ("apps", "deployments")
            if super::is_addon_deployment(&change.object, CERT_MANAGER_DEPLOYMENT) =>
        {
            all_keys(store)
        }
        _ => Vec::new(),
    }
}

fn condition(status: bool, reason: &str, message: &str, previous: &Value) -> Value {
    let status_str = if status { "True" } else { "False" };
    let old = previous["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let same = old.is_some_and(|c| {
        c["status"] == status_str && c["reason"] == reason && c["message"] == message
    });
    let since = old
        .filter(|_| same)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map(str::to_string)
        .unwrap_or_else(now_rfc3339);
    json!({"type": "Ready", "status": status_str, "reason": reason, "message": message,
           "lastTransitionTime": since})
}

fn set_status(store: &Store, gvr: &Gvr, object: &Value, mut status: Value) {
    let ns = object["metadata"]["namespace"].as_str();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(cond) = status["conditions"][0].as_object_mut() {
        cond.insert(
            "observedGeneration".into(),
            object["metadata"]["generation"].clone(),
        );
    }
    if status != object["status"] {
        if let Err(e) = store.apply_status(gvr, ns, name, status, MANAGER) {
            eprintln!(
                "[cert-manager] writing the status of {}/{name}: {e}",
                gvr.resource
            );
        }
    }
}

fn reconcile(store: &Store, key: &Key) -> Next {
    if addon_deployment(store, CERT_MANAGER_DEPLOYMENT).is_none() {
        return Next::Idle;
    }
    let (resource, ns, name) = key;
    match resource.as_str() {
        "issuers" | "clusterissuers" => {
            let (gvr, ns) = if resource == "issuers" {
                (issuers(), Some(ns.as_str()))
            } else {
                (cluster_issuers(), None)
            };
            let Ok(issuer) = store.get(&gvr, ns, name) else {
                return Next::Idle;
            };
            if is_deleting(&issuer) {
                return Next::Idle;
            }
            let (reason, message) = issuer_ready(&issuer["spec"]);
            let mut status = issuer["status"].clone();
            if !status.is_object() {
                status = json!({});
            }
            status["conditions"] = json!([condition(true, reason, message, &issuer["status"])]);
            set_status(store, &gvr, &issuer, status);
            Next::Idle
        }
        _ => reconcile_certificate(store, ns, name),
    }
}

/// The Ready reason and message a real issuer of this type reports.
fn issuer_ready(spec: &Value) -> (&'static str, &'static str) {
    if spec["acme"].is_object() {
        (
            "ACMEAccountRegistered",
            "The ACME account was registered with the ACME server",
        )
    } else if spec["ca"].is_object() {
        ("KeyPairVerified", "Signing CA verified")
    } else {
        ("IsReady", "")
    }
}

fn reconcile_certificate(store: &Store, ns: &str, name: &str) -> Next {
    let Ok(cert) = store.get(&certificates(), Some(ns), name) else {
        return Next::Idle;
    };
    if is_deleting(&cert) {
        return Next::Idle;
    }
    let spec = &cert["spec"];
    let issuer_kind = spec["issuerRef"]["kind"].as_str().unwrap_or("Issuer");
    let issuer_name = spec["issuerRef"]["name"].as_str().unwrap_or_default();
    let secret_name = spec["secretName"].as_str().unwrap_or_default();
    let mut status = cert["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    let not_ready = |store: &Store, mut status: Value, reason: &str, message: &str| {
        status["conditions"] = json!([condition(false, reason, message, &cert["status"])]);
        set_status(store, &certificates(), &cert, status);
    };
    if secret_name.is_empty() {
        not_ready(
            store,
            status,
            "Invalid",
            "spec.secretName: Required value: must be specified",
        );
        return Next::Idle;
    }
    let issuer = match issuer_kind {
        "ClusterIssuer" => store.get(&cluster_issuers(), None, issuer_name),
        _ => store.get(&issuers(), Some(ns), issuer_name),
    };
    if issuer.is_err() {
        let message = format!(
            "Referenced \"{issuer_kind}\" not found: {}.cert-manager.io \"{issuer_name}\" not found",
            issuer_kind.to_lowercase()
        );
        not_ready(store, status, "IssuerNotFound", &message);
        // The issuer's creation reconciles this Certificate again.
        return Next::Idle;
    }
    let mut dns_names: Vec<String> = spec["dnsNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_string))
        .collect();
    if let Some(cn) = spec["commonName"].as_str() {
        if !dns_names.iter().any(|d| d == cn) {
            dns_names.insert(0, cn.to_string());
        }
    }
    if dns_names.is_empty() {
        not_ready(
            store,
            status,
            "Invalid",
            "at least one of commonName, dnsNames must be set",
        );
        return Next::Idle;
    }
    let alt_names = dns_names.join(",");
    let current = store.get(&secrets(), Some(ns), secret_name).ok();
    let up_to_date = current.as_ref().is_some_and(|s| {
        let a = &s["metadata"]["annotations"];
        a["cert-manager.io/alt-names"] == alt_names.as_str()
            && a["cert-manager.io/issuer-name"] == issuer_name
            && a["cert-manager.io/issuer-kind"] == issuer_kind
            && s["data"]["tls.crt"].is_string()
    });
    if !up_to_date {
        if let Err(e) = issue(
            store,
            ns,
            secret_name,
            name,
            issuer_name,
            issuer_kind,
            &dns_names,
        ) {
            not_ready(store, status, "Failed", &e);
            return Next::After(RETRY);
        }
        status["revision"] = json!(status["revision"].as_i64().unwrap_or(0) + 1);
        record(
            store,
            &cert,
            EventKind::Normal,
            "Issuing",
            "The certificate has been successfully issued",
            COMPONENT,
        );
    }
    status["conditions"] = json!([condition(
        true,
        "Ready",
        "Certificate is up to date and has not expired",
        &cert["status"]
    )]);
    set_status(store, &certificates(), &cert, status);
    Next::Idle
}

/// Writes a fresh self-signed certificate for `dns_names` into the TLS Secret.
fn issue(
    store: &Store,
    ns: &str,
    secret_name: &str,
    cert_name: &str,
    issuer_name: &str,
    issuer_kind: &str,
    dns_names: &[String],
) -> Result<(), String> {
    let certified = rcgen::generate_simple_self_signed(dns_names.to_vec())
        .map_err(|e| format!("generating a certificate for {dns_names:?}: {e}"))?;
    let cert_pem = certified.cert.pem();
    let key_pem = certified.key_pair.serialize_pem();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": secret_name,
            "namespace": ns,
            "labels": {"controller.cert-manager.io/fao": "true"},
            "annotations": {
                "cert-manager.io/alt-names": dns_names.join(","),
                "cert-manager.io/certificate-name": cert_name,
                "cert-manager.io/common-name": dns_names[0],
                "cert-manager.io/issuer-group": "cert-manager.io",
                "cert-manager.io/issuer-kind": issuer_kind,
                "cert-manager.io/issuer-name": issuer_name,
            },
        },
        "data": {"tls.crt": b64(&cert_pem), "tls.key": b64(&key_pem), "ca.crt": b64(&cert_pem)},
    });
    // Force: the issuing controller owns the Secret's content, whoever wrote it before.
    store
        .patch(
            &secrets(),
            Some(ns),
            secret_name,
            None,
            crate::kube::PatchKind::Apply,
            &secret,
            &WriteOptions {
                field_manager: Some(MANAGER.to_string()),
                force: true,
                ..WriteOptions::default()
            },
        )
        .map(|_| ())
        .map_err(|e| format!("writing Secret {ns}/{secret_name}: {e}"))
}
