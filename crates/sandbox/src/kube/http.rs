//! The HTTP face of the sandbox API server: routing of the Kubernetes REST paths, discovery,
//! bearer-token checks, list/get/watch/create/update/patch/delete, and Table output for
//! `kubectl get`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::clock;
use super::resources::{api_version, Registry, ResourceDef};
use super::schema::FieldValidation;
use super::selector::{FieldSelector, LabelSelector};
use super::status::{success_status, ApiError};
use super::store::{with_version, Change, PatchKind, Store, WarningSink, WatchFrom, WriteOptions};

/// The response body: a whole buffer, or a stream of chunks (watches).
pub(crate) enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

/// What the handlers share.
pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub bearer_token: Option<String>,
    /// When set, EKS tokens (`k8s-aws-v1.…`) presigned for this cluster name are accepted.
    pub eks_cluster: Option<String>,
    /// How long after signing an EKS token is accepted.
    pub eks_token_lifetime: std::time::Duration,
    pub anonymous: bool,
    pub address: String,
}

fn json_response(code: u16, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(Body::Full(Some(Bytes::from(bytes))));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error_response(err: &ApiError) -> Response<Body> {
    json_response(err.code, &err.to_status())
}

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn truthy(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("1" | "true" | "True"))
}

/// One request to a resource path.
struct Target {
    def: ResourceDef,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

/// Whether the request may proceed: always when no credential is configured, else when its bearer
/// token is the static token or an EKS token for the expected cluster, or (with `anonymous`) when
/// it carries no credentials at all.
fn authorized(shared: &Shared, req: &Request<Incoming>) -> bool {
    if shared.bearer_token.is_none() && shared.eks_cluster.is_none() {
        return true;
    }
    let Some(given) = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return shared.anonymous && req.headers().get(hyper::header::AUTHORIZATION).is_none();
    };
    shared.bearer_token.as_deref() == Some(given)
        || shared.eks_cluster.as_deref().is_some_and(|cluster| {
            super::eks_auth::verify_eks_token(
                given,
                cluster,
                std::time::SystemTime::now(),
                shared.eks_token_lifetime,
            )
            .is_ok()
        })
}

/// Serves one request; never panics on input, every failure is a Status.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let is_health = matches!(
        segments.first().map(String::as_str),
        Some("healthz" | "livez" | "readyz")
    );
    if !is_health && !authorized(&shared, &req) {
        return error_response(&ApiError::unauthorized());
    }
    let query = parse_query(req.uri().query());
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let registry = shared.store.registry();
    match segs.as_slice() {
        [] => json_response(
            200,
            &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}),
        ),
        ["version"] => json_response(
            200,
            &json!({
                "major": "1", "minor": "29", "gitVersion": "v1.29.4", "gitCommit": "meshctl-sandbox",
                "gitTreeState": "clean", "buildDate": "2024-04-16T00:00:00Z", "goVersion": "go1.21.9",
                "compiler": "gc", "platform": "linux/amd64"
            }),
        ),
        ["healthz" | "livez" | "readyz", ..] => {
            let mut resp = Response::new(Body::Full(Some(Bytes::from_static(b"ok"))));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            resp
        }
        ["api"] => json_response(
            200,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.address}],
            }),
        ),
        ["api", "v1"] => json_response(200, &resource_list(&registry, "", "v1")),
        ["apis"] => json_response(200, &group_list(&registry)),
        ["apis", group] => match group_entry(&registry, group) {
            Some(mut g) => {
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                json_response(200, &g)
            }
            None => error_response(&not_found_path()),
        },
        ["apis", group, version] => {
            if registry.has_group_version(group, version) {
                json_response(200, &resource_list(&registry, group, version))
            } else {
                error_response(&not_found_path())
            }
        }
        ["openapi", "v3"] => json_response(200, &openapi_root(&registry)),
        ["openapi", "v3", "api", "v1"] => {
            json_response(200, &openapi_group_version(&registry, "", "v1"))
        }
        ["openapi", "v3", "apis", group, version] if registry.has_group_version(group, version) => {
            json_response(200, &openapi_group_version(&registry, group, version))
        }
        ["api", "v1", rest @ ..] => {
            resource_request(shared.clone(), &registry, "", "v1", rest, req, &query).await
        }
        ["apis", group, version, rest @ ..] => {
            let (group, version) = (group.to_string(), version.to_string());
            resource_request(
                shared.clone(),
                &registry,
                &group,
                &version,
                rest,
                req,
                &query,
            )
            .await
        }
        _ => error_response(&not_found_path()),
    }
}

/// The OpenAPI v3 index: one document per group/version. kubectl reads it to learn that the
/// server validates fields itself (`fieldValidation`); without it `kubectl apply` refuses to run
/// unless given `--validate=false`.
fn openapi_root(registry: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs: Vec<(String, String)> = vec![(String::new(), "v1".into())];
    for (group, versions) in registry.groups() {
        gvs.extend(versions.into_iter().map(|v| (group.clone(), v)));
    }
    for (group, version) in gvs {
        let key = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        let doc = openapi_group_version(registry, &group, &version);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&doc.to_string(), &mut hasher);
        let hash = std::hash::Hasher::finish(&hasher);
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash:016X}")}),
        );
    }
    json!({ "paths": paths })
}

/// A minimal OpenAPI v3 document for one group/version: each resource's PATCH operation with its
/// group-version-kind and the `fieldValidation` parameter, and a permissive schema per kind.
fn openapi_group_version(registry: &Registry, group: &str, version: &str) -> Value {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    for def in registry
        .defs()
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        let gvk = json!([{"group": group, "version": version, "kind": def.kind}]);
        let item = if def.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", def.plural)
        } else {
            format!("{prefix}/{}/{{name}}", def.plural)
        };
        let operation = json!({
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": def.kind},
            "parameters": [
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
            ],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(item, json!({"patch": operation}));
        let schema_name = format!(
            "{}.{}.{}",
            if group.is_empty() { "core" } else { group },
            version,
            def.kind
        );
        schemas.insert(
            schema_name,
            json!({
                "type": "object",
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-preserve-unknown-fields": true,
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.29.4"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn resource_list(registry: &Registry, group: &str, version: &str) -> Value {
    let resources: Vec<Value> = registry
        .defs()
        .iter()
        .filter(|d| d.group == group && d.version == version)
        .flat_map(ResourceDef::discovery_entries)
        .collect();
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version(group, version),
        "resources": resources,
    })
}

fn group_entry(registry: &Registry, group: &str) -> Option<Value> {
    let (name, versions) = registry.groups().into_iter().find(|(g, _)| g == group)?;
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    Some(json!({"name": name, "versions": versions, "preferredVersion": preferred}))
}

fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .filter_map(|(g, _)| group_entry(registry, g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn parse_target(
    registry: &Registry,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Target, ApiError> {
    let namespaced_resource = |r: &str| {
        registry
            .find(group, version, r)
            .is_some_and(|d| d.namespaced)
    };
    let (namespace, resource, name, sub) = match rest {
        ["namespaces", ns, resource, tail @ ..] if namespaced_resource(resource) => {
            if tail.len() > 2 {
                return Err(not_found_path());
            }
            (
                Some(ns.to_string()),
                resource.to_string(),
                tail.first().map(|s| s.to_string()),
                tail.get(1).map(|s| s.to_string()),
            )
        }
        [resource, tail @ ..] => {
            if tail.len() > 2 {
                return Err(not_found_path());
            }
            (
                None,
                resource.to_string(),
                tail.first().map(|s| s.to_string()),
                tail.get(1).map(|s| s.to_string()),
            )
        }
        [] => return Err(not_found_path()),
    };
    let def = registry
        .find(group, version, &resource)
        .cloned()
        .ok_or_else(not_found_path)?;
    // A namespaced item needs its namespace in the path; a cluster-scoped one has none.
    if (def.namespaced && namespace.is_none() && name.is_some())
        || (!def.namespaced && namespace.is_some())
    {
        return Err(not_found_path());
    }
    Ok(Target {
        def,
        namespace,
        name,
        subresource: sub,
    })
}

async fn read_body(req: Request<Incoming>) -> Result<(String, Bytes), ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    if content_type.contains("cbor") {
        return Err(ApiError::unsupported_media_type(&content_type));
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?
        .to_bytes();
    Ok((content_type, body))
}

/// Parses a JSON (or, for apply and YAML content types, YAML) body.
fn parse_object(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if content_type.contains("protobuf") {
        return super::protobuf::decode(body);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(json_err) => {
            if content_type.contains("yaml") {
                serde_yaml::from_slice::<Value>(body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
            } else {
                Err(ApiError::bad_request(format!(
                    "the body of the request is not valid JSON: {json_err}"
                )))
            }
        }
    }
}

fn write_options(
    query: &HashMap<String, String>,
    req: &Request<Incoming>,
) -> Result<WriteOptions, ApiError> {
    let user_agent_manager = req
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    Ok(WriteOptions {
        field_manager: query
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .cloned()
            .or(user_agent_manager),
        dry_run: query.get("dryRun").is_some_and(|v| v == "All"),
        force: truthy(query.get("force")),
        field_validation: FieldValidation::from_query(
            query.get("fieldValidation").map(String::as_str),
        )?,
        warnings: WarningSink::default(),
    })
}

/// Adds a write's warnings as `Warning: 299 - "…"` headers, which kubectl prints as
/// `Warning: …`.
fn with_warnings(mut resp: Response<Body>, warnings: &WarningSink) -> Response<Body> {
    for warning in warnings.take() {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append("Warning", value);
        }
    }
    resp
}

fn wants_table(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

#[allow(clippy::too_many_arguments)]
async fn resource_request(
    shared: Arc<Shared>,
    registry: &Registry,
    group: &str,
    version: &str,
    rest: &[&str],
    req: Request<Incoming>,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let target = match parse_target(registry, group, version, rest) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    match serve_resource(shared, target, req, query).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

async fn serve_resource(
    shared: Arc<Shared>,
    target: Target,
    req: Request<Incoming>,
    query: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let store = &shared.store;
    let def = &target.def;
    let gvr = def.gvr();
    let ns = target.namespace.as_deref();
    let table = wants_table(&req);
    let opts = write_options(query, &req)?;
    let warnings = opts.warnings.clone();
    let method = req.method().clone();
    let sub = target.subresource.as_deref();
    if sub == Some("scale") && def.has_scale() {
        let name = target.name.clone().unwrap_or_default();
        return serve_scale(store, def, ns, &name, req, &opts).await;
    }
    if let Some(s) = sub {
        if s != "status" || !def.has_status {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    }
    let response = match (method, target.name.as_deref()) {
        (Method::GET, None) => {
            let labels = LabelSelector::parse(query.get("labelSelector").map_or("", |s| s))?;
            let fields = FieldSelector::parse(query.get("fieldSelector").map_or("", |s| s))?;
            if truthy(query.get("watch")) {
                return watch(shared.clone(), target, labels, fields, query, table);
            }
            let (items, rv) = store.list_at(&gvr, ns)?;
            let items: Vec<Value> = items
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
                .collect();
            if table {
                return Ok(json_response(200, &to_table(def, &items, rv)));
            }
            Ok(json_response(
                200,
                &json!({
                    "kind": format!("{}List", def.kind),
                    "apiVersion": def.api_version(),
                    "metadata": {"resourceVersion": rv.to_string()},
                    "items": items.into_iter().map(|o| def.as_list_item(o)).collect::<Vec<_>>(),
                }),
            ))
        }
        (Method::GET, Some(name)) => {
            let object = store.get(&gvr, ns, name)?;
            if table {
                let rv = store.resource_version();
                return Ok(json_response(200, &to_table(def, &[object], rv)));
            }
            Ok(json_response(200, &object))
        }
        (Method::POST, None) => {
            let (ct, body) = read_body(req).await?;
            let object = parse_object(&ct, &body)?;
            check_kind(def, &object)?;
            let created = store.create(&gvr, ns, object, &opts)?;
            Ok(json_response(201, &created))
        }
        (Method::PUT, Some(name)) => {
            let (ct, body) = read_body(req).await?;
            let object = parse_object(&ct, &body)?;
            check_kind(def, &object)?;
            Ok(json_response(
                200,
                &store.update(&gvr, ns, name, sub, object, &opts)?,
            ))
        }
        (Method::PATCH, Some(name)) => {
            let (ct, body) = read_body(req).await?;
            let kind = patch_kind(&ct)?;
            let patch = parse_object(&ct, &body)?;
            if kind == PatchKind::Apply {
                check_kind(def, &patch)?;
            }
            let existed = store.get(&gvr, ns, name).is_ok();
            let out = store.patch(&gvr, ns, name, sub, kind, &patch, &opts)?;
            if let Some(delay) = slow_write(&out) {
                tokio::time::sleep(delay).await;
            }
            Ok(json_response(if existed { 200 } else { 201 }, &out))
        }
        (Method::DELETE, Some(name)) => {
            let (ct, body) = read_body(req).await?;
            let mut opts = opts;
            if !body.iter().all(u8::is_ascii_whitespace) {
                if let Ok(delete_options) = parse_object(&ct, &body) {
                    if let Some(dry) = delete_options["dryRun"].as_array() {
                        opts.dry_run |= dry.iter().any(|d| d == "All");
                    }
                    if let Some(uid) = delete_options["preconditions"]["uid"].as_str() {
                        let current = store.get(&gvr, ns, name)?;
                        if current["metadata"]["uid"].as_str() != Some(uid) {
                            return Err(ApiError::conflict(
                                &def.group_resource(),
                                name,
                                "Precondition failed: UID in precondition does not match the UID of the object",
                            ));
                        }
                    }
                }
            }
            Ok(json_response(200, &store.delete(&gvr, ns, name, &opts)?))
        }
        (Method::DELETE, None) => {
            let labels = LabelSelector::parse(query.get("labelSelector").map_or("", |s| s))?;
            let fields = FieldSelector::parse(query.get("fieldSelector").map_or("", |s| s))?;
            let items = store.list(&gvr, ns)?;
            let mut deleted = Vec::new();
            for item in items
                .iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
            {
                let name = item["metadata"]["name"].as_str().unwrap_or_default();
                let item_ns = item["metadata"]["namespace"].as_str();
                match store.delete(&gvr, item_ns, name, &opts) {
                    Ok(o) => deleted.push(def.as_list_item(o)),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            if deleted.is_empty() {
                return Ok(json_response(
                    200,
                    &success_status(json!({"group": def.group, "kind": def.plural})),
                ));
            }
            Ok(json_response(
                200,
                &json!({
                    "kind": format!("{}List", def.kind),
                    "apiVersion": def.api_version(),
                    "metadata": {"resourceVersion": store.resource_version().to_string()},
                    "items": deleted,
                }),
            ))
        }
        (m, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m})"
        ))),
    }?;
    Ok(with_warnings(response, &warnings))
}

/// An object annotated with this many milliseconds (at most 10 s) is answered that much later
/// than it is stored, as a loaded API server may: tests use it to stop a client while the object
/// exists but the client has not heard so (a kill between two writes of one apply).
pub const RESPOND_AFTER_ANNOTATION: &str = "sandbox.meshctl.io/respond-after-ms";

fn slow_write(object: &Value) -> Option<Duration> {
    let millis: u64 = object["metadata"]["annotations"][RESPOND_AFTER_ANNOTATION]
        .as_str()?
        .parse()
        .ok()?;
    Some(Duration::from_millis(millis.min(10_000)))
}

fn patch_kind(content_type: &str) -> Result<PatchKind, ApiError> {
    let ct = content_type;
    if ct.starts_with("application/apply-patch") {
        Ok(PatchKind::Apply)
    } else if ct.starts_with("application/merge-patch+json") {
        Ok(PatchKind::Merge)
    } else if ct.starts_with("application/strategic-merge-patch+json") {
        Ok(PatchKind::Strategic)
    } else if ct.starts_with("application/json-patch+json") {
        Ok(PatchKind::Json)
    } else {
        Err(ApiError::unsupported_media_type(ct))
    }
}

/// The autoscaling/v1 Scale view of a workload.
fn to_scale(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// GET/PUT/PATCH of the scale subresource: reads and writes spec.replicas.
async fn serve_scale(
    store: &Store,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    req: Request<Incoming>,
    opts: &WriteOptions,
) -> Result<Response<Body>, ApiError> {
    let gvr = def.gvr();
    let object = store.get(&gvr, ns, name)?;
    let mut scale = to_scale(&object);
    let method = req.method().clone();
    match method {
        Method::GET => return Ok(json_response(200, &scale)),
        Method::PUT => {
            let (ct, body) = read_body(req).await?;
            scale = parse_object(&ct, &body)?;
        }
        Method::PATCH => {
            let (ct, body) = read_body(req).await?;
            let kind = patch_kind(&ct)?;
            let patch = parse_object(&ct, &body)?;
            super::store::patch_document(kind, true, &mut scale, &patch)?;
        }
        m => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({m})"
            )))
        }
    }
    let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid(
            "Scale",
            "autoscaling",
            name,
            &[("spec.replicas".into(), "Required value".into())],
        )
    })?;
    let updated = store.patch(
        &gvr,
        ns,
        name,
        None,
        PatchKind::Merge,
        &json!({"spec": {"replicas": replicas}}),
        opts,
    )?;
    Ok(json_response(200, &to_scale(&updated)))
}

/// A body's apiVersion/kind, when given, must match the path it was sent to.
fn check_kind(def: &ResourceDef, object: &Value) -> Result<(), ApiError> {
    if let Some(kind) = object["kind"].as_str() {
        if kind != def.kind {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({}) does not match the expected API version ({}), or kind {kind} is not {}",
                object["apiVersion"].as_str().unwrap_or_default(),
                def.api_version(),
                def.kind
            )));
        }
    }
    if let Some(av) = object["apiVersion"].as_str() {
        let group = av.rsplit_once('/').map_or("", |(g, _)| g);
        if group != def.group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                def.api_version()
            )));
        }
    }
    Ok(())
}

/// A minimal meta.k8s.io/v1 Table: the columns `kubectl get` shows for the common kinds.
fn to_table(def: &ResourceDef, items: &[Value], rv: u64) -> Value {
    let now = clock::now_secs();
    let column = |name: &str, format: &str| json!({"name": name, "type": "string", "format": format, "description": "", "priority": 0});
    let mut columns = vec![column("Name", "name")];
    let extra: Vec<&str> = match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => vec!["Status"],
        ("", "services") => vec!["Type", "Cluster-IP", "External-IP", "Port(s)"],
        ("apps", "deployments") => vec!["Ready", "Up-to-date", "Available"],
        _ => vec![],
    };
    columns.extend(extra.iter().map(|c| column(c, "")));
    columns.push(column("Age", ""));
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(extra_cells(def, o));
            let age = o["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(clock::parse_rfc3339)
                .map(|t| clock::human_age(now - t))
                .unwrap_or_else(|| "<unknown>".into());
            cells.push(json!(age));
            json!({
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"].clone(),
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn extra_cells(def: &ResourceDef, o: &Value) -> Vec<Value> {
    let num = |v: &Value| v.as_i64().unwrap_or(0);
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => vec![o["status"]["phase"].clone()],
        ("", "services") => {
            let ports: Vec<String> = o["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(n) => format!("{}:{n}/{proto}", num(&p["port"])),
                        None => format!("{}/{proto}", num(&p["port"])),
                    }
                })
                .collect();
            let external = o["status"]["loadBalancer"]["ingress"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|i| i["hostname"].as_str().or(i["ip"].as_str()))
                .map(str::to_string)
                .unwrap_or_else(|| {
                    if o["spec"]["type"] == "LoadBalancer" {
                        "<pending>".into()
                    } else {
                        "<none>".into()
                    }
                });
            vec![
                o["spec"]["type"].clone(),
                json!(o["spec"]["clusterIP"].as_str().unwrap_or("<none>")),
                json!(external),
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                }),
            ]
        }
        ("apps", "deployments") => {
            let s = &o["status"];
            vec![
                json!(format!(
                    "{}/{}",
                    num(&s["readyReplicas"]),
                    num(&o["spec"]["replicas"])
                )),
                json!(num(&s["updatedReplicas"])),
                json!(num(&s["availableReplicas"])),
            ]
        }
        _ => vec![],
    }
}

fn watch(
    shared: Arc<Shared>,
    target: Target,
    labels: LabelSelector,
    fields: FieldSelector,
    query: &HashMap<String, String>,
    table: bool,
) -> Result<Response<Body>, ApiError> {
    let def = target.def.clone();
    let gr = def.group_resource();
    let rv_param = query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or("");
    let send_initial = truthy(query.get("sendInitialEvents"));
    let from = match rv_param {
        "" | "0" => WatchFrom::Initial,
        _ if send_initial => WatchFrom::Initial,
        rv => WatchFrom::After(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let start = shared.store.watch_start(&gr, from);
    let namespace = target.namespace.clone();
    let current_rv = shared.store.resource_version();
    tokio::spawn(async move {
        let matches = |c: &Change| {
            c.resource == gr
                && namespace
                    .as_deref()
                    .is_none_or(|ns| c.namespace.as_deref() == Some(ns))
                && labels.matches(&c.object)
                && fields.matches(&c.object)
        };
        let encode = |c: &Change| {
            let object = with_version(&c.object, &def);
            let object = if table {
                to_table(&def, &[object], c.resource_version)
            } else {
                object
            };
            let mut line = serde_json::to_vec(&json!({"type": c.event.as_str(), "object": object}))
                .unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        };
        let (backlog, mut events) = match start {
            Ok(started) => started,
            Err(e) => {
                let mut line =
                    serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()}))
                        .unwrap_or_default();
                line.push(b'\n');
                let _ = tx.send(Bytes::from(line)).await;
                return;
            }
        };
        let mut last_rv = 0u64;
        for c in backlog.iter().filter(|c| matches(c)) {
            last_rv = last_rv.max(c.resource_version);
            if tx.send(encode(c)).await.is_err() {
                return;
            }
        }
        if send_initial {
            let bookmark = json!({"type": "BOOKMARK", "object": {
                "kind": def.kind, "apiVersion": def.api_version(),
                "metadata": {"resourceVersion": current_rv.max(last_rv).to_string(),
                             "annotations": {"k8s.io/initial-events-end": "true"}}
            }});
            let mut line = serde_json::to_vec(&bookmark).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                got = events.recv() => match got {
                    Ok(c) => {
                        if c.resource_version <= last_rv || !matches(&c) {
                            continue;
                        }
                        last_rv = c.resource_version;
                        if tx.send(encode(&c)).await.is_err() {
                            return;
                        }
                    }
                    // Fell behind or the store is gone: end the watch; clients re-list.
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let mut resp = Response::new(Body::Stream(rx));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}
