//! Drift of cluster objects: a rendered object compared with its live counterpart on the fields
//! meshctl renders, which are the fields its server-side apply owns. Everything else on the live
//! object (status, finalizers, server defaults, labels and annotations others add) belongs to
//! someone else and is not drift. Neither are meshctl's owner marks (managed-by and stack labels,
//! address annotation): they say who owns the object, not how it is configured, and objects
//! applied before the stack label existed lack it until their next apply.

use crate::objects::ObjectRef;
use crate::render::{ADDRESS_ANNOTATION, MANAGED_BY_LABEL, STACK_LABEL};
use meshctl_model::record::{child_path, FieldDrift};
use serde_json::Value;

/// What an object that should exist is recorded as when it does not.
const EXISTS: &str = "exists";

/// The rendered object's leaves whose live values differ, each path prefixed with the object
/// (`Ingress istio-system/public metadata.annotations["..."]`).
pub fn object_drifts(reference: &ObjectRef, rendered: &Value, live: &Value) -> Vec<FieldDrift> {
    let mut drifts = Vec::new();
    let Value::Object(fields) = rendered else {
        return drifts;
    };
    let mut fields = fields.clone();
    if let Some(Value::Object(metadata)) = fields.get_mut("metadata") {
        for (key, mark) in [
            ("labels", MANAGED_BY_LABEL),
            ("labels", STACK_LABEL),
            ("annotations", ADDRESS_ANNOTATION),
        ] {
            if let Some(Value::Object(marks)) = metadata.get_mut(key) {
                marks.remove(mark);
                // Nothing left to compare: an empty map would claim the live one must be empty.
                if marks.is_empty() {
                    metadata.remove(key);
                }
            }
        }
    }
    for (key, value) in &fields {
        // Identity is how the object was found; status is the controllers'.
        if matches!(key.as_str(), "apiVersion" | "kind" | "status") {
            continue;
        }
        compare(value, live.get(key), key.clone(), &mut drifts);
    }
    for drift in &mut drifts {
        drift.path = format!("{reference} {}", drift.path);
    }
    drifts
}

/// An object the resource renders that is gone from the cluster.
pub fn missing_object(reference: &ObjectRef) -> FieldDrift {
    FieldDrift {
        path: reference.to_string(),
        applied: Some(Value::String(EXISTS.into())),
        live: None,
    }
}

fn compare(rendered: &Value, live: Option<&Value>, path: String, out: &mut Vec<FieldDrift>) {
    match rendered {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let live = live.and_then(|l| l.get(key));
                compare(value, live, child_path(&path, key), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, value) in items.iter().enumerate() {
                let live = live.and_then(|l| l.get(index));
                compare(value, live, format!("{path}[{index}]"), out);
            }
        }
        _ if same(rendered, live) => {}
        _ => out.push(FieldDrift {
            path,
            applied: Some(rendered.clone()),
            live: live.cloned(),
        }),
    }
}

/// Drift of a Helm release (`helm status -o json`): its chart version, and the values meshctl
/// sets (leaf by leaf, as objects; the chart's defaults and values others set are not drift),
/// each path prefixed with the release (`HelmRelease kube-system/aws-load-balancer-controller`).
pub fn release_drifts(
    release: &str,
    version: &str,
    values: &Value,
    status: &Value,
) -> Vec<FieldDrift> {
    let mut drifts = Vec::new();
    let live_version = status["chart"]["metadata"]["version"].as_str();
    if live_version
        .is_some_and(|live| live.trim_start_matches('v') != version.trim_start_matches('v'))
    {
        drifts.push(FieldDrift {
            path: "chart.version".to_string(),
            applied: Some(Value::String(version.to_string())),
            live: live_version.map(|v| Value::String(v.to_string())),
        });
    }
    compare(
        values,
        status.get("config"),
        "values".to_string(),
        &mut drifts,
    );
    for drift in &mut drifts {
        drift.path = format!("HelmRelease {release} {}", drift.path);
    }
    drifts
}

/// Drift of an Istio install: the rendered IstioOperator's `spec` leaves against istioctl's
/// record of what it installed (`installed-state-NAME`), prefixed with the operator
/// (`IstioOperator istio-system/mesh spec.meshConfig...`).
pub fn operator_drifts(operator: &str, rendered: &Value, installed: &Value) -> Vec<FieldDrift> {
    let mut drifts = Vec::new();
    compare(
        &rendered["spec"],
        installed.get("spec"),
        "spec".to_string(),
        &mut drifts,
    );
    for drift in &mut drifts {
        drift.path = format!("IstioOperator {operator} {}", drift.path);
    }
    drifts
}

/// Whether a rendered leaf holds live. An empty or null leaf is held by an absent one (the API
/// server drops empty fields of built-in types), and numbers compare by value (`1` and `1.0`).
fn same(rendered: &Value, live: Option<&Value>) -> bool {
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    match (rendered, live) {
        (r, None) => empty(r),
        (r, Some(l)) if empty(r) => empty(l),
        (Value::Number(a), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (r, Some(l)) => r == l,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingress() -> ObjectRef {
        ObjectRef {
            api_version: "networking.k8s.io/v1".into(),
            kind: "Ingress".into(),
            namespace: Some("istio-system".into()),
            name: "public".into(),
        }
    }

    fn rendered() -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "public", "namespace": "istio-system",
                "annotations": {"alb.ingress.kubernetes.io/healthcheck-path": "/healthz/ready"},
                "labels": {"app.kubernetes.io/managed-by": "meshctl"}},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix"}]}}], "tls": []}
        })
    }

    #[test]
    fn fields_others_own_are_not_drift() {
        let mut live = rendered();
        live["metadata"]["finalizers"] = json!(["ingress.k8s.aws/resources"]);
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied"] = json!("{}");
        live["metadata"]["labels"]["team"] = json!("web");
        live["metadata"]["resourceVersion"] = json!("42");
        live["spec"]["ingressClassName"] = json!("alb");
        live["status"] =
            json!({"loadBalancer": {"ingress": [{"hostname": "x.elb.amazonaws.com"}]}});
        // The API server drops an empty list of a built-in type.
        live["spec"].as_object_mut().unwrap().remove("tls");
        assert_eq!(object_drifts(&ingress(), &rendered(), &live), []);
    }

    #[test]
    fn a_changed_or_removed_field_meshctl_set_is_drift_with_its_path() {
        let mut live = rendered();
        live["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] = json!("/x");
        live["spec"]["rules"][0]["http"]["paths"][0]
            .as_object_mut()
            .unwrap()
            .remove("pathType");
        let drifts = object_drifts(&ingress(), &rendered(), &live);
        assert_eq!(
            drifts,
            [
                FieldDrift {
                    path: r#"Ingress istio-system/public metadata.annotations["alb.ingress.kubernetes.io/healthcheck-path"]"#.into(),
                    applied: Some(json!("/healthz/ready")),
                    live: Some(json!("/x")),
                },
                FieldDrift {
                    path: "Ingress istio-system/public spec.rules[0].http.paths[0].pathType".into(),
                    applied: Some(json!("Prefix")),
                    live: None,
                },
            ]
        );
    }

    #[test]
    fn owner_marks_are_not_drift() {
        let mut rendered = rendered();
        rendered["metadata"]["labels"]["meshctl.io/stack"] = json!("shop");
        rendered["metadata"]["annotations"]["meshctl.io/address"] = json!("alb.public");
        // Applied before the stack label existed, or relabelled by hand: still the same object.
        let mut live = rendered.clone();
        live["metadata"]["labels"] = json!({});
        live["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("meshctl.io/address");
        assert_eq!(object_drifts(&ingress(), &rendered, &live), []);
    }

    #[test]
    fn numbers_compare_by_value() {
        let rendered = json!({"spec": {"weight": 90}});
        let live = json!({"spec": {"weight": 90.0}});
        assert_eq!(object_drifts(&ingress(), &rendered, &live), []);
        let live = json!({"spec": {"weight": 50}});
        assert_eq!(object_drifts(&ingress(), &rendered, &live).len(), 1);
    }

    #[test]
    fn a_release_drifts_by_chart_version_and_the_values_meshctl_sets() {
        let values = json!({"clusterName": "main", "serviceAccount": {"create": false}});
        // `helm status -o json`, as helm prints it: config holds the values given at install.
        let status = json!({
            "chart": {"metadata": {"name": "aws-load-balancer-controller", "version": "1.7.1"}},
            "config": {"clusterName": "prod", "serviceAccount": {"create": false}, "replicaCount": 1}
        });
        let drifts = release_drifts("kube-system/lbc", "1.7.2", &values, &status);
        let found: Vec<(&str, Option<&Value>, Option<&Value>)> = drifts
            .iter()
            .map(|d| (d.path.as_str(), d.applied.as_ref(), d.live.as_ref()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "HelmRelease kube-system/lbc chart.version",
                    Some(&json!("1.7.2")),
                    Some(&json!("1.7.1"))
                ),
                (
                    "HelmRelease kube-system/lbc values.clusterName",
                    Some(&json!("main")),
                    Some(&json!("prod"))
                ),
            ]
        );
        let same = json!({
            "chart": {"metadata": {"version": "v1.7.2"}},
            "config": {"clusterName": "main", "serviceAccount": {"create": false}}
        });
        assert_eq!(
            release_drifts("kube-system/lbc", "1.7.2", &values, &same),
            []
        );
    }

    #[test]
    fn an_istio_install_drifts_where_installed_state_differs_from_the_rendered_spec() {
        let rendered = json!({"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
            "metadata": {"name": "mesh"},
            "spec": {"profile": "default", "tag": "1.17.1", "meshConfig": {"accessLogFile": "/dev/stdout"}}});
        let installed = json!({"spec": {"profile": "default", "tag": "1.17.1",
            "meshConfig": {"accessLogFile": ""}, "hub": "docker.io/istio"}});
        let drifts = operator_drifts("istio-system/mesh", &rendered, &installed);
        assert_eq!(drifts.len(), 1, "{drifts:?}");
        assert_eq!(
            drifts[0].path,
            "IstioOperator istio-system/mesh spec.meshConfig.accessLogFile"
        );
    }
}
