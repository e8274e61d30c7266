//! Kubernetes-shaped errors: every failure the API server reports is a `Status` body with the
//! reason and code a real cluster would give, so kubectl and kube-rs print and classify it alike.

use serde_json::{json, Value};

use super::resources::GroupResource;

/// An API error as a Status: code, reason, message and details.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// Boxed to keep `Result<_, ApiError>` small.
    pub details: Option<Box<Value>>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", gr.qualified(), name),
        )
        .with_details(json!({"name": name, "group": gr.group, "kind": gr.resource}))
    }

    pub fn namespace_not_found(namespace: &str) -> Self {
        Self::not_found(
            &GroupResource {
                group: String::new(),
                resource: "namespaces".into(),
            },
            namespace,
        )
    }

    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", gr.qualified(), name),
        )
        .with_details(json!({"name": name, "group": gr.group, "kind": gr.resource}))
    }

    /// Optimistic-concurrency failure (stale resourceVersion or uid precondition).
    pub fn conflict(gr: &GroupResource, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                gr.qualified(),
                name,
                why
            ),
        )
        .with_details(json!({"name": name, "group": gr.group, "kind": gr.resource}))
    }

    /// Server-side apply conflicts: `causes` are (manager description, field path).
    pub fn apply_conflict(message: String, causes: &[(String, String)]) -> Self {
        let causes: Vec<Value> = causes
            .iter()
            .map(|(manager, field)| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with {manager}"),
                    "field": field,
                })
            })
            .collect();
        Self::new(409, "Conflict", message).with_details(json!({ "causes": causes }))
    }

    /// 422 Invalid: `kind` is `Deployment.apps` style; `causes` are (field, detail) where detail
    /// is like `Invalid value: 30080: provided port is already allocated`.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: &[(String, String)]) -> Self {
        let listed: Vec<String> = causes
            .iter()
            .map(|(field, detail)| format!("{field}: {detail}"))
            .collect();
        let joined = if listed.len() == 1 {
            listed.join("")
        } else {
            format!("[{}]", listed.join(", "))
        };
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let cause_values: Vec<Value> = causes
            .iter()
            .map(|(field, detail)| {
                let reason = if detail.starts_with("Required value") {
                    "FieldValueRequired"
                } else {
                    "FieldValueInvalid"
                };
                json!({"reason": reason, "message": detail, "field": field})
            })
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {joined}"),
        )
        .with_details(json!({"name": name, "group": group, "kind": kind, "causes": cause_values}))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type:?})"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The JSON Status body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = (**details).clone();
        }
        status
    }
}

/// A successful Status (e.g. for deletecollection).
pub fn success_status(details: Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
