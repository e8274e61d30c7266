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
}
