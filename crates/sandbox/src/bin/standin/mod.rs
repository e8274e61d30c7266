//! What the helm and istioctl stand-ins share: recording their arguments, finding the cluster
//! and its credentials through the kubeconfig (a token, or a client-go `exec` credential plugin,
//! run for every request: client-go runs it again once the credential's expirationTimestamp
//! passes, 14 minutes for EKS tokens, which a sandbox whose tokens expire in seconds
//! (`--eks-token-lifetime-secs`) would outlast within one install), a small blocking HTTP
//! client for the sandbox API server (plain HTTP, which is what the sandbox binary serves), `--set`
//! parsing and deep merges of values.

#![allow(dead_code)] // Each stand-in uses a different part.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use meshctl_sandbox::kube::schema;
use serde_json::{json, Map, Value};

/// Appends `{"tool":…,"argv":[…],"cwd":…}` to `$MESHCTL_STANDIN_LOG` when it is set, so tests
/// can check exactly how the tool was called. A log that cannot be written is reported, not fatal.
pub fn record_invocation(tool: &str, argv: &[String]) {
    let Ok(path) = std::env::var("MESHCTL_STANDIN_LOG") else {
        return;
    };
    if path.is_empty() {
        return;
    }
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let line = json!({"tool": tool, "argv": argv, "cwd": cwd});
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        eprintln!("warning: {tool} stand-in: cannot append to MESHCTL_STANDIN_LOG {path}: {e}");
    }
}

/// A failure, printed as `Error: …` with exit code 1 like the real tools.
#[derive(Debug)]
pub struct Failure(pub String);

impl<T: std::fmt::Display> From<T> for Failure {
    fn from(value: T) -> Self {
        Failure(value.to_string())
    }
}

/// The cluster a kubeconfig points at.
pub struct Cluster {
    host: String,
    token: Option<String>,
    /// The kubeconfig user's `exec` credential plugin, when it has one instead of a token.
    exec: Option<Value>,
    /// The context's namespace (or `default`).
    pub namespace: String,
}

/// The token a client-go credential plugin (a kubeconfig user's `exec`) prints, run as client-go
/// runs it: `command` with `args`, the process's environment plus `env`, its ExecCredential's
/// `apiVersion` the one asked for.
fn exec_credential(exec: &Value) -> Result<String, Failure> {
    let fail = |detail: String| {
        Failure(format!(
            "Kubernetes cluster unreachable: getting credentials: {detail}"
        ))
    };
    let command = exec["command"]
        .as_str()
        .ok_or_else(|| fail("exec plugin: no command".into()))?;
    let api_version = exec["apiVersion"].as_str().unwrap_or_default();
    let args: Vec<&str> = exec["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut process = std::process::Command::new(command);
    process.args(&args).stdin(std::process::Stdio::null());
    for variable in exec["env"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (variable["name"].as_str(), variable["value"].as_str()) {
            process.env(name, value);
        }
    }
    let output = process
        .output()
        .map_err(|e| fail(format!("exec: executable {command} not found: {e}")))?;
    if !output.status.success() {
        return Err(fail(format!(
            "exec: executable {command} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let credential: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| fail(format!("decoding stdout of {command}: {e}")))?;
    if credential["kind"] != "ExecCredential" || credential["apiVersion"] != api_version {
        return Err(fail(format!(
            "exec plugin {command} is configured to use API version {api_version}, plugin returned version {}",
            credential["apiVersion"]
        )));
    }
    credential["status"]["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| fail(format!("exec plugin {command} returned no status.token")))
}

/// An API response: status code and JSON body (Null when empty or not JSON).
pub struct Response {
    pub status: u16,
    pub body: Value,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The Status message of an error response.
    pub fn message(&self) -> String {
        self.body["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", self.status))
    }
}

impl Cluster {
    /// Reads the kubeconfig: `explicit` (a --kubeconfig flag), else the first file of
    /// `$KUBECONFIG`, else `~/.kube/config`.
    pub fn from_kubeconfig(explicit: Option<&str>, context: Option<&str>) -> Result<Self, Failure> {
        let path = explicit
            .map(str::to_string)
            .or_else(|| {
                std::env::var("KUBECONFIG")
                    .ok()
                    .and_then(|k| k.split(':').find(|p| !p.is_empty()).map(str::to_string))
            })
            .or_else(|| {
                std::env::var("HOME")
                    .ok()
                    .map(|h| format!("{h}/.kube/config"))
            })
            .ok_or("no kubeconfig: set KUBECONFIG or pass --kubeconfig")?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!("Kubernetes cluster unreachable: reading kubeconfig {path}: {e}")
        })?;
        let config: Value = serde_yaml::from_str(&text)
            .map_err(|e| format!("kubeconfig {path} is not valid YAML: {e}"))?;
        let context_name = context
            .map(str::to_string)
            .or_else(|| config["current-context"].as_str().map(str::to_string))
            .ok_or_else(|| format!("kubeconfig {path} has no current-context"))?;
        let find = |list: &str, name: &str| -> Value {
            config[list]
                .as_array()
                .and_then(|l| l.iter().find(|e| e["name"] == name))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let ctx = find("contexts", &context_name);
        if ctx.is_null() {
            return Err(format!("context \"{context_name}\" does not exist in {path}").into());
        }
        let cluster = find(
            "clusters",
            ctx["context"]["cluster"].as_str().unwrap_or_default(),
        );
        let user = find("users", ctx["context"]["user"].as_str().unwrap_or_default());
        let server = cluster["cluster"]["server"].as_str().ok_or_else(|| {
            format!("kubeconfig {path}: cluster of context {context_name} has no server")
        })?;
        let host = server
            .strip_prefix("http://")
            .ok_or_else(|| {
                format!(
                    "Kubernetes cluster unreachable: the {} stand-in speaks plain HTTP only and {server} is not http://; start the sandbox without TLS (meshctl-sandbox does)",
                    std::env::args().next().unwrap_or_default()
                )
            })?
            .trim_end_matches('/')
            .to_string();
        let token = user["user"]["token"].as_str().map(str::to_string);
        let exec = match &token {
            None if user["user"]["exec"].is_object() => Some(user["user"]["exec"].clone()),
            _ => None,
        };
        Ok(Self {
            host,
            token,
            exec,
            namespace: ctx["context"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string(),
        })
    }

    /// One request; `body` is sent as JSON with `content_type`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &Value)>,
    ) -> Result<Response, Failure> {
        let unreachable = |e: std::io::Error| {
            Failure(format!(
                "Kubernetes cluster unreachable: {}: {e}",
                self.host
            ))
        };
        let mut stream = TcpStream::connect(&self.host).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(unreachable)?;
        let payload = body.map(|(_, v)| v.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.host,
            payload.len()
        );
        if let Some((content_type, _)) = body {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        let token = match &self.exec {
            Some(exec) => Some(exec_credential(exec)?),
            None => self.token.clone(),
        };
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).map_err(unreachable)?;
        stream.write_all(payload.as_bytes()).map_err(unreachable)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(unreachable)?;
        parse_response(&raw).ok_or_else(|| {
            Failure(format!(
                "Kubernetes cluster unreachable: {} sent a malformed HTTP response",
                self.host
            ))
        })
    }

    pub fn get(&self, path: &str) -> Result<Response, Failure> {
        self.request("GET", path, None)
    }

    pub fn delete(&self, path: &str) -> Result<Response, Failure> {
        self.request("DELETE", path, None)
    }

    /// Server-side apply of `object` as `manager` (forcing conflicts, as helm and istioctl do).
    pub fn apply(&self, object: &Value, manager: &str) -> Result<Value, Failure> {
        let path = object_path(object)?;
        let response = self.request(
            "PATCH",
            // Strict: a field the stand-in writes that the kind lacks is a sandbox bug to see.
            &format!("{path}?fieldManager={manager}&force=true&fieldValidation=Strict"),
            Some(("application/apply-patch+yaml", object)),
        )?;
        if !response.ok() {
            return Err(Failure(format!(
                "applying {} {}: {}",
                object["kind"].as_str().unwrap_or("object"),
                object["metadata"]["name"].as_str().unwrap_or_default(),
                response.message()
            )));
        }
        Ok(response.body)
    }

    /// Deletes an object; a missing one is fine.
    pub fn delete_object(&self, object: &Value) -> Result<(), Failure> {
        let response = self.delete(&object_path(object)?)?;
        if response.ok() || response.status == 404 {
            Ok(())
        } else {
            Err(Failure(format!(
                "deleting {} {}: {}",
                object["kind"].as_str().unwrap_or("object"),
                object["metadata"]["name"].as_str().unwrap_or_default(),
                response.message()
            )))
        }
    }

    /// True when the namespace exists.
    pub fn namespace_exists(&self, namespace: &str) -> Result<bool, Failure> {
        Ok(self.get(&format!("/api/v1/namespaces/{namespace}"))?.ok())
    }

    /// Waits until every Deployment among `objects` reports all replicas available.
    pub fn wait_ready(&self, objects: &[Value], timeout: Duration) -> Result<(), Failure> {
        let deadline = std::time::Instant::now() + timeout;
        for object in objects.iter().filter(|o| o["kind"] == "Deployment") {
            let path = object_path(object)?;
            loop {
                let current = self.get(&path)?;
                let wanted = current.body["spec"]["replicas"].as_i64().unwrap_or(1);
                let available = current.body["status"]["availableReplicas"]
                    .as_i64()
                    .unwrap_or(0);
                let observed = current.body["status"]["observedGeneration"].as_i64()
                    >= current.body["metadata"]["generation"].as_i64();
                if current.ok() && observed && available >= wanted {
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    return Err(Failure("context deadline exceeded".to_string()));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// The REST path of an object, from its apiVersion, kind and metadata.
pub fn object_path(object: &Value) -> Result<String, Failure> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let (plural, namespaced) = match kind {
        "Namespace" => ("namespaces", false),
        "Service" => ("services", true),
        "ServiceAccount" => ("serviceaccounts", true),
        "ConfigMap" => ("configmaps", true),
        "Secret" => ("secrets", true),
        "Deployment" => ("deployments", true),
        "IngressClass" => ("ingressclasses", false),
        "CustomResourceDefinition" => ("customresourcedefinitions", false),
        "ClusterRole" => ("clusterroles", false),
        "ClusterRoleBinding" => ("clusterrolebindings", false),
        "MutatingWebhookConfiguration" => ("mutatingwebhookconfigurations", false),
        "ValidatingWebhookConfiguration" => ("validatingwebhookconfigurations", false),
        "IstioOperator" => ("istiooperators", true),
        other => {
            return Err(Failure(format!(
                "the stand-in cannot write objects of kind {other}"
            )))
        }
    };
    let base = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    Ok(if namespaced {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        format!("{base}/namespaces/{ns}/{plural}/{name}")
    } else {
        format!("{base}/{plural}/{name}")
    })
}

/// Waits `$MESHCTL_STANDIN_PAUSE_AFTER_OBJECTS` seconds when it is set: an install has written
/// its objects and not yet its record, which is where tests kill it to leave a half-done install.
pub fn pause_after_objects() {
    let Some(seconds) = std::env::var("MESHCTL_STANDIN_PAUSE_AFTER_OBJECTS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
    else {
        return;
    };
    eprintln!(
        "paused for {seconds} s after writing the objects (MESHCTL_STANDIN_PAUSE_AFTER_OBJECTS)"
    );
    std::thread::sleep(Duration::from_secs_f64(seconds.min(3600.0)));
}

/// Merges `overlay` into `base`: objects key by key, everything else replaced.
pub fn deep_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        // Nothing to lay over (an absent field reads as null): the base stays, as istioctl
        // keeps a gateway's default labels when its component sets none.
        (_, Value::Null) => {}
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                deep_merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Splits on `sep` where it is not escaped with a backslash; escapes of `sep` are unescaped.
fn split_unescaped(text: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&sep) {
            current.push(sep);
            chars.next();
        } else if c == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

/// Applies one `--set a.b=c,d[0].e=f` argument (helm's syntax: `\.` and `\,` escape; `true`,
/// `false`, `null` and integers are typed unless `as_string`).
pub fn apply_set(values: &mut Value, arg: &str, as_string: bool) -> Result<(), Failure> {
    for assignment in split_unescaped(arg, ',') {
        if assignment.is_empty() {
            continue;
        }
        let (key, raw) = assignment.split_once('=').ok_or_else(|| {
            Failure(format!(
                "failed parsing --set data: key \"{assignment}\" has no value"
            ))
        })?;
        let value = if as_string {
            Value::String(raw.to_string())
        } else {
            match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => raw
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(raw.to_string())),
            }
        };
        set_path(values, &split_unescaped(key, '.'), value)?;
    }
    Ok(())
}

/// Sets `path` (segments like `name` or `name[2]`) in `values`, creating objects and arrays.
pub fn set_path(values: &mut Value, path: &[String], value: Value) -> Result<(), Failure> {
    let Some((segment, rest)) = path.split_first() else {
        *values = value;
        return Ok(());
    };
    let (name, index) = match segment.split_once('[') {
        Some((name, idx)) => {
            let i: usize = idx.trim_end_matches(']').parse().map_err(|_| {
                Failure(format!(
                    "failed parsing --set data: bad index in \"{segment}\""
                ))
            })?;
            (name, Some(i))
        }
        None => (segment.as_str(), None),
    };
    if !values.is_object() {
        *values = Value::Object(Map::new());
    }
    let slot = values
        .as_object_mut()
        .map(|m| m.entry(name.to_string()).or_insert(Value::Null))
        .ok_or_else(|| Failure("unreachable: values is an object".into()))?;
    match index {
        None => set_path(slot, rest, value),
        Some(i) => {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let list = slot
                .as_array_mut()
                .ok_or_else(|| Failure("unreachable: slot is an array".into()))?;
            while list.len() <= i {
                list.push(Value::Null);
            }
            set_path(&mut list[i], rest, value)
        }
    }
}

/// Reads a YAML (or JSON) file, `-` for stdin, as JSON values: one per document.
pub fn read_yaml_documents(path: &str) -> Result<Vec<Value>, Failure> {
    let text = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure(format!("reading stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|e| Failure(format!("open {path}: {e}")))?
    };
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = <Value as serde::Deserialize>::deserialize(document)
            .map_err(|e| Failure(format!("{path}: {e}")))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// `5m0s`, `300s`, `2m`, `1h`: Go durations as helm and istioctl take them.
pub fn parse_duration(text: &str) -> Result<Duration, Failure> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    if text.is_empty() {
        return Err(Failure("invalid duration \"\"".into()));
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = number
            .parse()
            .map_err(|_| Failure(format!("invalid duration \"{text}\"")))?;
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(Failure(format!("invalid duration \"{text}\""))),
        };
        number.clear();
    }
    if !number.is_empty() {
        return Err(Failure(format!(
            "invalid duration \"{text}\": missing unit"
        )));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Short names upstream CRDs give (`kubectl get vs`), by plural.group.
const SHORT_NAMES: &[(&str, &[&str])] = &[
    ("gateways.networking.istio.io", &["gw"]),
    ("virtualservices.networking.istio.io", &["vs"]),
    ("destinationrules.networking.istio.io", &["dr"]),
    ("serviceentries.networking.istio.io", &["se"]),
    ("workloadentries.networking.istio.io", &["we"]),
    ("peerauthentications.security.istio.io", &["pa"]),
    ("requestauthentications.security.istio.io", &["ra"]),
    ("istiooperators.install.istio.io", &["iop", "io"]),
    ("certificates.cert-manager.io", &["cert", "certs"]),
    ("certificaterequests.cert-manager.io", &["cr", "crs"]),
];

/// An `apiextensions.k8s.io/v1` CustomResourceDefinition for `plural.group` serving `served`
/// (stored as `storage`), each version with its upstream schema (from `@kubernetes-models`, see
/// `meshctl_sandbox::kube::schema::upstream_crd_schema`): the API server then validates and
/// prunes the kind's objects as a real cluster with the upstream CRD would.
pub fn crd(
    group: &str,
    served: &[String],
    storage: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    labels: &Value,
) -> Result<Value, Failure> {
    let name = format!("{plural}.{group}");
    let mut versions = Vec::new();
    for version in served {
        let schema = schema::upstream_crd_schema(group, version, kind)?;
        versions.push(json!({
            "name": version, "served": true, "storage": version == storage,
            "schema": {"openAPIV3Schema": schema},
            "subresources": {"status": {}},
        }));
    }
    let short_names = SHORT_NAMES
        .iter()
        .find(|(crd, _)| *crd == name)
        .map(|(_, short)| short.to_vec())
        .unwrap_or_default();
    Ok(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List"), "shortNames": short_names},
            "scope": if namespaced { "Namespaced" } else { "Cluster" },
            "versions": versions,
        },
    }))
}

/// Istio's CRD for `(group, storage version, kind, plural)`, serving every version upstream's has.
pub fn istio_crd(
    (group, storage, kind, plural): &(&str, &str, &str, &str),
    labels: &Value,
) -> Result<Value, Failure> {
    let mut served = schema::upstream_versions(group, kind);
    if !served.iter().any(|v| v == storage) {
        served.push(storage.to_string());
    }
    crd(group, &served, storage, kind, plural, true, labels)
}

/// A single-container Deployment with the given labels and container args.
pub fn deployment(
    namespace: &str,
    name: &str,
    labels: &Value,
    replicas: i64,
    image: &str,
    args: &[String],
) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image, "args": args}]},
            },
        },
    })
}

/// The CRDs Istio's base chart (and `istioctl install`) creates: (group, version, kind, plural).
pub const ISTIO_CRDS: &[(&str, &str, &str, &str)] = &[
    ("networking.istio.io", "v1beta1", "Gateway", "gateways"),
    (
        "networking.istio.io",
        "v1beta1",
        "VirtualService",
        "virtualservices",
    ),
    (
        "networking.istio.io",
        "v1beta1",
        "DestinationRule",
        "destinationrules",
    ),
    (
        "networking.istio.io",
        "v1beta1",
        "ServiceEntry",
        "serviceentries",
    ),
    ("networking.istio.io", "v1beta1", "Sidecar", "sidecars"),
    (
        "networking.istio.io",
        "v1beta1",
        "WorkloadEntry",
        "workloadentries",
    ),
    (
        "networking.istio.io",
        "v1alpha3",
        "EnvoyFilter",
        "envoyfilters",
    ),
    (
        "security.istio.io",
        "v1beta1",
        "PeerAuthentication",
        "peerauthentications",
    ),
    (
        "security.istio.io",
        "v1beta1",
        "AuthorizationPolicy",
        "authorizationpolicies",
    ),
    (
        "security.istio.io",
        "v1beta1",
        "RequestAuthentication",
        "requestauthentications",
    ),
    ("telemetry.istio.io", "v1alpha1", "Telemetry", "telemetries"),
    (
        "install.istio.io",
        "v1alpha1",
        "IstioOperator",
        "istiooperators",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_handles_escaped_dots_indexes_and_types() {
        let mut values = json!({"serviceAccount": {"create": true}});
        apply_set(
            &mut values,
            r"serviceAccount.annotations.eks\.amazonaws\.com/role-arn=arn:aws:iam::1:role/x,replicaCount=2",
            false,
        )
        .unwrap();
        apply_set(&mut values, "ports[1].name=https,flag=true", false).unwrap();
        apply_set(&mut values, "tag=1.22", true).unwrap();
        assert_eq!(
            values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
            "arn:aws:iam::1:role/x"
        );
        assert_eq!(values["serviceAccount"]["create"], true);
        assert_eq!(values["replicaCount"], 2);
        assert_eq!(values["ports"][1]["name"], "https");
        assert_eq!(values["flag"], true);
        assert_eq!(values["tag"], "1.22");
        assert!(apply_set(&mut values, "novalue", false).is_err());
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("5m0s").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("").is_err());
    }
}
