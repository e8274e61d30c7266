//! `meshctl generate`'s cluster half: reads (only reads) what helm, istioctl and kubectl made in
//! the cluster — Helm releases with their values, istioctl's installed states and the gateways
//! they installed, Ingresses of class alb, cert-manager's and Istio's objects — into
//! `meshctl_generate::facts::kube`. Skipped as system noise: the namespaces Kubernetes, Istio
//! and cert-manager run in (`kube-*`, `istio-system`, `cert-manager`) for workloads, and every
//! object Helm or istioctl own (their labels say so).

use super::{Call, KubeProvider, NoProgress};
use crate::tools;
use meshctl_generate::facts::aws::ClusterFacts;
use meshctl_generate::facts::kube::{GatewayFacts, IstioFacts, KubeFacts, ReleaseFacts};
use meshctl_model::{Address, Kind};
use meshctl_provider::{Inputs, ProviderError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const SYSTEM_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "istio-system",
    "cert-manager",
];
/// The kinds meshctl renders as objects, read as they are: (apiVersions to try, kind).
const OBJECT_KINDS: &[(&[&str], &str)] = &[
    (&["cert-manager.io/v1"], "ClusterIssuer"),
    (&["cert-manager.io/v1"], "Certificate"),
    (
        &["networking.istio.io/v1beta1", "networking.istio.io/v1"],
        "Gateway",
    ),
    (
        &["networking.istio.io/v1beta1", "networking.istio.io/v1"],
        "VirtualService",
    ),
    (
        &["networking.istio.io/v1beta1", "networking.istio.io/v1"],
        "DestinationRule",
    ),
    (
        &["security.istio.io/v1beta1", "security.istio.io/v1"],
        "PeerAuthentication",
    ),
    (
        &["security.istio.io/v1beta1", "security.istio.io/v1"],
        "RequestAuthentication",
    ),
    (
        &["security.istio.io/v1beta1", "security.istio.io/v1"],
        "AuthorizationPolicy",
    ),
];

impl KubeProvider {
    /// Reads the cluster `cluster` describes, reached as the stack's `kube: { from_cluster }`
    /// reaches it (EKS token, or the endpoint override).
    pub async fn discover(&self, cluster: &ClusterFacts) -> Result<KubeFacts, ProviderError> {
        let address = self
            .cluster_address()
            .unwrap_or_else(|| Address::new(Kind::EksCluster, "main"));
        let outputs: BTreeMap<String, Value> = [
            ("name".to_string(), json!(cluster.name)),
            ("endpoint".to_string(), json!(cluster.endpoint)),
            ("ca_data".to_string(), json!(cluster.certificate_authority)),
        ]
        .into();
        let inputs: Inputs = [(address.clone(), outputs)].into();
        let connected = self.connect(&address, &inputs, "generate").await?;
        let progress = NoProgress;
        let cx = Call {
            provider: self,
            connected: &connected,
            address: &address,
            operation: "generate",
            progress: &progress,
        };
        let list = |api: &'static str, kind: &'static str| {
            let objects = &connected.objects;
            async move { objects.list(api, kind, None, "").await }
        };
        let mut facts = KubeFacts::default();

        // Helm releases and the values given at install.
        let helm = |args: Vec<String>| {
            let mut args = args;
            args.extend(connected.kubeconfig.helm());
            let program = self.tools.helm.clone();
            async move { tools::run(&program, tools::HELM_ENV, &args, Duration::from_secs(120)).await }
        };
        let listed = helm(vec!["list".into(), "-A".into(), "-o".into(), "json".into()])
            .await
            .map_err(|e| cx.tool_error(e))?;
        let releases: Value = serde_json::from_str(&listed.stdout).unwrap_or(Value::Null);
        for release in releases.as_array().into_iter().flatten() {
            let (Some(name), Some(namespace), Some(chart)) = (
                release["name"].as_str(),
                release["namespace"].as_str(),
                release["chart"].as_str(),
            ) else {
                continue;
            };
            let (chart, version) = split_chart(chart);
            let values = helm(vec![
                "get".into(),
                "values".into(),
                name.into(),
                "--namespace".into(),
                namespace.into(),
                "-o".into(),
                "json".into(),
            ])
            .await
            .map_err(|e| cx.tool_error(e))?;
            let values: Value = serde_json::from_str(&values.stdout).unwrap_or(json!({}));
            facts.releases.push(ReleaseFacts {
                name: name.to_string(),
                namespace: namespace.to_string(),
                chart,
                version,
                values: if values.is_null() { json!({}) } else { values },
            });
        }
        facts
            .releases
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

        // istioctl's installed states, and the ingress gateways each installed.
        let operators = list("install.istio.io/v1alpha1", "IstioOperator")
            .await
            .map_err(|e| cx.object_error(e))?;
        for operator in &operators {
            let Some(name) = operator["metadata"]["name"]
                .as_str()
                .and_then(|n| n.strip_prefix("installed-state-"))
            else {
                continue;
            };
            let namespace = operator["metadata"]["namespace"]
                .as_str()
                .unwrap_or("istio-system")
                .to_string();
            let spec = operator["spec"].clone();
            for component in spec["components"]["ingressGateways"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if component["enabled"] == json!(false) {
                    continue;
                }
                let Some(gateway) = component["name"].as_str() else {
                    continue;
                };
                let gateway_namespace = component["namespace"]
                    .as_str()
                    .unwrap_or(&namespace)
                    .to_string();
                let reference = crate::objects::ObjectRef {
                    api_version: "v1".into(),
                    kind: "Service".into(),
                    namespace: Some(gateway_namespace.clone()),
                    name: gateway.to_string(),
                };
                let service = connected
                    .objects
                    .get(&reference)
                    .await
                    .map_err(|e| cx.object_error(e))?
                    .unwrap_or(Value::Null);
                let labels: BTreeMap<String, String> = match component["label"].as_object() {
                    Some(labels) => labels
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect(),
                    None => service["spec"]["selector"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| k.as_str() == "istio")
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect(),
                };
                facts.gateways.push(GatewayFacts {
                    name: gateway.to_string(),
                    namespace: gateway_namespace,
                    operator: name.to_string(),
                    labels,
                    service,
                });
            }
            facts.istio.push(IstioFacts {
                name: name.to_string(),
                namespace,
                spec,
            });
        }
        facts.istio.sort_by(|a, b| a.name.cmp(&b.name));
        facts
            .gateways
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

        // Ingresses the AWS Load Balancer Controller serves.
        let ingresses = list("networking.k8s.io/v1", "Ingress")
            .await
            .map_err(|e| cx.object_error(e))?;
        facts.ingresses = ingresses
            .into_iter()
            .filter(|i| {
                i["spec"]["ingressClassName"] == json!("alb")
                    || i["metadata"]["annotations"]["kubernetes.io/ingress.class"] == json!("alb")
            })
            .collect();
        facts.ingresses.sort_by_key(identity);

        for (versions, kind) in OBJECT_KINDS {
            for version in *versions {
                let found = list(version, kind).await.map_err(|e| cx.object_error(e))?;
                if !found.is_empty() {
                    facts.objects.extend(found.into_iter().map(|mut o| {
                        o["kind"] = json!(kind);
                        o
                    }));
                    break;
                }
            }
        }
        facts.objects.sort_by_key(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                identity(o),
            )
        });

        // Workloads no kind expresses, outside the system namespaces and the tools' objects.
        for (api, kind) in [
            ("apps/v1", "Deployment"),
            ("v1", "Service"),
            ("v1", "ConfigMap"),
        ] {
            let found = list(api, kind).await.map_err(|e| cx.object_error(e))?;
            for object in found {
                let metadata = &object["metadata"];
                let namespace = metadata["namespace"].as_str().unwrap_or_default();
                let name = metadata["name"].as_str().unwrap_or_default();
                let labels = &metadata["labels"];
                let tools_own = labels["app.kubernetes.io/managed-by"] == json!("Helm")
                    || labels["install.operator.istio.io/owning-resource"].is_string()
                    || !metadata["ownerReferences"].is_null();
                let system = SYSTEM_NAMESPACES.contains(&namespace)
                    || (namespace == "default" && name == "kubernetes")
                    || (kind == "ConfigMap" && name == "kube-root-ca.crt");
                if !tools_own && !system {
                    facts.unexpressed.push(format!("{kind} {namespace}/{name}"));
                }
            }
        }
        facts.unexpressed.sort();
        Ok(facts)
    }
}

/// `namespace/name` of a live object, for sorting.
fn identity(object: &Value) -> String {
    format!(
        "{}/{}",
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// `helm list`'s `chart` (`aws-load-balancer-controller-1.7.2`) as name and version.
fn split_chart(chart: &str) -> (String, String) {
    let mut at = None;
    for (i, _) in chart.match_indices('-') {
        let rest = &chart[i + 1..];
        if rest
            .trim_start_matches('v')
            .starts_with(|c: char| c.is_ascii_digit())
        {
            at = Some(i);
            break;
        }
    }
    match at {
        Some(i) => (chart[..i].to_string(), chart[i + 1..].to_string()),
        None => (chart.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::split_chart;

    #[test]
    fn helm_list_charts_split_at_the_version() {
        assert_eq!(
            split_chart("aws-load-balancer-controller-1.7.2"),
            (
                "aws-load-balancer-controller".to_string(),
                "1.7.2".to_string()
            )
        );
        assert_eq!(
            split_chart("cert-manager-v1.14.4"),
            ("cert-manager".to_string(), "v1.14.4".to_string())
        );
        assert_eq!(split_chart("odd"), ("odd".to_string(), String::new()));
    }
}
