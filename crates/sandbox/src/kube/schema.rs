//! Upstream OpenAPI schemas as the API server's law: built-in kinds are checked against the
//! Kubernetes schemas of the cluster's version (PyPI `kubernetes-validate`), custom resources
//! against the `openAPIV3Schema` of their stored CustomResourceDefinition (which the stand-ins
//! build from npm `@kubernetes-models/istio` and `@kubernetes-models/cert-manager`, see
//! `upstream_crd_versions`). Unknown fields are an error under `fieldValidation=Strict` and pruned
//! otherwise (with a warning under `Warn`), as a real API server does.
//!
//! The validator covers the subset of OpenAPI these schemas use (`$ref`, `type`, `nullable`,
//! `properties`, `additionalProperties`, `items`, `required`, `enum`, `oneOf`/`anyOf`/`not`,
//! `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string`, list map keys); a
//! general JSON-schema crate would cost build time and still not know pruning or the API
//! server's wording.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use super::resources::ResourceDef;
use super::status::ApiError;

/// The Kubernetes version whose schemas judge built-in kinds: the sandbox serves v1.29 (the
/// stacks' EKS version).
pub const KUBERNETES_SCHEMA_VERSION: &str = "v1.29.0";
/// Overrides where the Kubernetes schemas are read: a `kubernetes-json-schema/<version>-local`
/// directory holding `_definitions.json`.
pub const K8S_SCHEMAS_ENV: &str = "MESHCTL_SANDBOX_K8S_SCHEMAS";
/// Overrides where the CRD schemas are read: the `node_modules` directory holding
/// `@kubernetes-models/istio` and `@kubernetes-models/cert-manager`.
pub const CRD_SCHEMAS_ENV: &str = "MESHCTL_SANDBOX_CRD_SCHEMAS";
/// Where `scripts/sandbox-deps.sh` installs the npm packages, under the home directory.
pub const NPM_PREFIX_UNDER_HOME: &str = ".local/share/meshctl-sandbox/npm";
const INSTALL_HINT: &str = "run scripts/sandbox-deps.sh (it installs PyPI kubernetes-validate and npm @kubernetes-models/istio and @kubernetes-models/cert-manager)";

/// Schemas that cannot be found or read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SchemaError {
    #[error("the Kubernetes {KUBERNETES_SCHEMA_VERSION} OpenAPI schemas are not installed (looked in {looked}): {INSTALL_HINT}, or set {K8S_SCHEMAS_ENV} to a kubernetes-json-schema/{KUBERNETES_SCHEMA_VERSION}-local directory")]
    KubernetesMissing { looked: String },
    #[error("no upstream schema for {kind} ({group}/{version}): {path} is missing: {INSTALL_HINT}, or set {CRD_SCHEMAS_ENV} to the node_modules directory holding @kubernetes-models")]
    CrdMissing {
        group: String,
        version: String,
        kind: String,
        path: String,
    },
    #[error("reading schema {path}: {detail}")]
    Unreadable { path: String, detail: String },
}

impl From<SchemaError> for ApiError {
    fn from(e: SchemaError) -> Self {
        ApiError::new(500, "InternalError", e.to_string())
    }
}

/// How the request wants unknown and duplicate fields handled (the `fieldValidation` query
/// parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Refuse the request (kubectl's choice, and in-process writers': a controller writing a
    /// field its kind lacks is a sandbox bug to surface).
    #[default]
    Strict,
    /// Drop the fields and say so in `Warning` headers: the server's default when unset.
    Warn,
    /// Drop the fields silently.
    Ignore,
}

impl FieldValidation {
    /// Parses the query parameter; unset is the real server's default, `Warn`.
    pub fn from_query(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some("Ignore") => Ok(Self::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// The Kubernetes definitions (`_definitions.json`), indexed by group-version-kind.
pub struct KubernetesSchemas {
    defs: Map<String, Value>,
    by_kind: HashMap<(String, String, String), String>,
}

static KUBERNETES: OnceLock<Result<KubernetesSchemas, SchemaError>> = OnceLock::new();

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Where pip puts `kubernetes_validate`: user site-packages (what `sandbox-deps.sh` uses) and the
/// usual system ones, for every Python 3.
fn kubernetes_schema_candidates() -> Vec<PathBuf> {
    let tail =
        format!("kubernetes_validate/kubernetes-json-schema/{KUBERNETES_SCHEMA_VERSION}-local");
    if let Some(dir) = std::env::var_os(K8S_SCHEMAS_ENV) {
        return vec![PathBuf::from(dir)];
    }
    let mut lib_dirs: Vec<PathBuf> = Vec::new();
    if let Some(h) = home() {
        lib_dirs.push(h.join(".local/lib"));
    }
    lib_dirs.push("/usr/local/lib".into());
    lib_dirs.push("/usr/lib".into());
    let mut out = Vec::new();
    for lib in lib_dirs {
        let Ok(entries) = std::fs::read_dir(&lib) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python3"))
            })
            .collect();
        pythons.sort();
        for python in pythons.into_iter().rev() {
            for packages in ["site-packages", "dist-packages"] {
                out.push(python.join(packages).join(&tail));
            }
        }
    }
    out
}

fn read_json(path: &Path) -> Result<Value, SchemaError> {
    let unreadable = |detail: String| SchemaError::Unreadable {
        path: path.display().to_string(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))
}

fn load_kubernetes() -> Result<KubernetesSchemas, SchemaError> {
    let candidates = kubernetes_schema_candidates();
    let Some(file) = candidates
        .iter()
        .map(|dir| dir.join("_definitions.json"))
        .find(|f| f.is_file())
    else {
        let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
        return Err(SchemaError::KubernetesMissing {
            looked: looked.join(", "),
        });
    };
    let mut root = read_json(&file)?;
    let defs = match root.get_mut("$defs").map(Value::take) {
        Some(Value::Object(defs)) => defs,
        _ => {
            return Err(SchemaError::Unreadable {
                path: file.display().to_string(),
                detail: "no $defs object".into(),
            })
        }
    };
    let mut by_kind = HashMap::new();
    for (name, def) in &defs {
        for gvk in def["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let part = |k: &str| gvk[k].as_str().unwrap_or_default().to_string();
            by_kind.insert((part("group"), part("version"), part("kind")), name.clone());
        }
    }
    Ok(KubernetesSchemas { defs, by_kind })
}

/// The Kubernetes schemas, read once per process.
pub fn kubernetes() -> Result<&'static KubernetesSchemas, SchemaError> {
    KUBERNETES
        .get_or_init(load_kubernetes)
        .as_ref()
        .map_err(Clone::clone)
}

impl KubernetesSchemas {
    /// The definition of a built-in kind, if Kubernetes has one.
    pub fn for_kind(&self, group: &str, version: &str, kind: &str) -> Option<&Value> {
        let name = self
            .by_kind
            .get(&(group.to_string(), version.to_string(), kind.to_string()))?;
        self.defs.get(name)
    }

    fn object_meta(&self) -> Option<&Value> {
        self.defs
            .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    }
}

/// One step of a field path.
#[derive(Clone, Debug)]
enum Step {
    Field(String),
    /// A list element: its index, and its `[k=v]` selector when the list is keyed.
    Item(usize, Option<String>),
}

/// `spec.template.spec.containers[0].image`: how strict decoding names a field.
fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(f) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(f);
            }
            Step::Item(i, _) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// `.spec.template.spec.containers[name="web"].image`: how server-side apply names a field.
fn field_path(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            Step::Item(_, Some(key)) => out.push_str(key),
            Step::Item(i, None) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(wanted: &str, v: &Value) -> bool {
    match wanted {
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "null" => v.is_null(),
        other => json_type(v) == other,
    }
}

/// What a check found.
#[derive(Default, Debug)]
struct Findings {
    /// Fields the schema does not declare (dropped unless the walk only reports).
    unknown: Vec<Vec<Step>>,
    /// Values of the wrong JSON type in a built-in kind: the Go decoder refuses them (400).
    undecodable: Vec<(Vec<Step>, String)>,
    /// Schema violations: (field, detail) for a 422 Invalid.
    invalid: Vec<(String, String)>,
}

/// One walk of an object along its schema.
struct Walk<'s> {
    k8s: &'s KubernetesSchemas,
    /// CRD (structural) rules: an object without properties keeps nothing unless it preserves
    /// unknown fields, and nulls of non-nullable fields are pruned. Built-in definitions leave
    /// free-form objects (no properties) open.
    structural: bool,
    /// Remove unknown fields (false inside `oneOf`/`anyOf`/`not` branches, which only test).
    prune: bool,
    findings: Findings,
}

enum Keep {
    Yes,
    Drop,
}

impl<'s> Walk<'s> {
    fn resolve(&self, mut schema: &'s Value) -> &'s Value {
        for _ in 0..16 {
            let Some(reference) = schema["$ref"].as_str() else {
                break;
            };
            let name = reference.rsplit('/').next().unwrap_or(reference);
            match self.k8s.defs.get(name.trim_end_matches('#')) {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    fn branch_holds(&self, schema: &'s Value, value: &Value) -> bool {
        let mut probe = Walk {
            k8s: self.k8s,
            structural: self.structural,
            prune: false,
            findings: Findings::default(),
        };
        let mut copy = value.clone();
        probe.node(schema, &mut copy, &mut Vec::new());
        probe.findings.invalid.is_empty() && probe.findings.undecodable.is_empty()
    }

    fn invalid(&mut self, path: &[Step], detail: String) {
        self.findings.invalid.push((dotted(path), detail));
    }

    fn node(&mut self, schema: &'s Value, value: &mut Value, path: &mut Vec<Step>) -> Keep {
        let schema = self.resolve(schema);
        let nullable = schema["nullable"].as_bool() == Some(true);
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if value.is_null() {
            if !self.structural || nullable || types.contains(&"null") {
                return Keep::Yes;
            }
            // Structural schemas prune nulls of non-nullable fields before validating.
            return Keep::Drop;
        }
        let int_or_string = schema["x-kubernetes-int-or-string"].as_bool() == Some(true);
        if int_or_string {
            if !(value.is_string() || type_matches("integer", value)) {
                self.invalid(
                    path,
                    format!(
                        "Invalid value: \"{}\": {} in body must be of type int-or-string",
                        json_type(value),
                        dotted(path)
                    ),
                );
            }
        } else if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
            let wanted = types
                .iter()
                .find(|t| **t != "null")
                .copied()
                .unwrap_or("null");
            if self.structural {
                let p = dotted(path);
                self.invalid(
                    path,
                    format!(
                        "Invalid value: \"{got}\": {p} in body must be of type {wanted}: \"{got}\"",
                        got = json_type(value)
                    ),
                );
            } else {
                self.findings.undecodable.push((
                    path.clone(),
                    format!(
                        "json: cannot unmarshal {} into Go struct field {} of type {wanted}",
                        json_type(value),
                        dotted(path)
                    ),
                ));
            }
            return Keep::Yes;
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                let listed: Vec<String> = allowed.iter().map(Value::to_string).collect();
                self.invalid(
                    path,
                    format!(
                        "Unsupported value: {value}: supported values: {}",
                        listed.join(", ")
                    ),
                );
            }
        }
        if let Some(branches) = schema["oneOf"].as_array() {
            let holding = branches
                .iter()
                .filter(|b| self.branch_holds(b, value))
                .count();
            // Built-in int-or-string types are `oneOf` string/integer; both fit a null.
            let fits = holding == 1 || (holding > 1 && !self.structural);
            if !fits {
                let p = dotted(path);
                self.invalid(
                    path,
                    format!(
                        "Invalid value: \"{}\": {p} in body must validate one and only one schema (oneOf)",
                        json_type(value)
                    ),
                );
            }
        }
        if let Some(branches) = schema["anyOf"].as_array() {
            if !branches.iter().any(|b| self.branch_holds(b, value)) {
                let p = dotted(path);
                self.invalid(
                    path,
                    format!(
                        "Invalid value: \"{}\": {p} in body must validate at least one schema (anyOf)",
                        json_type(value)
                    ),
                );
            }
        }
        if schema["not"].is_object() && self.branch_holds(&schema["not"], value) {
            let p = dotted(path);
            self.invalid(
                path,
                format!(
                    "Invalid value: \"{}\": {p} in body must not validate the schema (not)",
                    json_type(value)
                ),
            );
        }
        match value {
            Value::Object(fields) => self.object(schema, fields, path),
            Value::Array(items) if schema["items"].is_object() => {
                // Server-side apply names elements of keyed lists by their keys (a built-in
                // list's patch merge key counts as one, as structured-merge-diff makes it).
                let mut keys: Vec<&str> = schema["x-kubernetes-list-map-keys"]
                    .as_array()
                    .map(|ks| ks.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if keys.is_empty() {
                    keys.extend(schema["x-kubernetes-patch-merge-key"].as_str());
                }
                let mut index = 0;
                items.retain_mut(|item| {
                    let selector = (!keys.is_empty()).then(|| {
                        let parts: Vec<String> =
                            keys.iter().map(|k| format!("{k}={}", item[*k])).collect();
                        format!("[{}]", parts.join(","))
                    });
                    path.push(Step::Item(index, selector));
                    index += 1;
                    let keep = self.node(&schema["items"], item, path);
                    path.pop();
                    matches!(keep, Keep::Yes) || !self.prune
                });
            }
            _ => {}
        }
        Keep::Yes
    }

    fn object(&mut self, schema: &'s Value, fields: &mut Map<String, Value>, path: &mut Vec<Step>) {
        for name in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = name.as_str() {
                if !fields.contains_key(name) {
                    path.push(Step::Field(name.to_string()));
                    self.invalid(path, "Required value".to_string());
                    path.pop();
                }
            }
        }
        let properties = schema["properties"].as_object();
        let preserve = schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true);
        let additional = &schema["additionalProperties"];
        let open = preserve
            || additional.as_bool() == Some(true)
            || (!self.structural && properties.is_none() && additional.is_null());
        let names: Vec<String> = fields.keys().cloned().collect();
        for name in names {
            let child_schema = match properties.and_then(|p| p.get(&name)) {
                Some(s) => Some(s),
                None if additional.is_object() => Some(additional),
                None => None,
            };
            path.push(Step::Field(name.clone()));
            match child_schema {
                Some(child_schema) => {
                    let keep = fields
                        .get_mut(&name)
                        .map(|child| self.node(child_schema, child, path));
                    if matches!(keep, Some(Keep::Drop)) && self.prune {
                        fields.shift_remove(&name);
                    }
                }
                None if open => {}
                None => {
                    if self.prune {
                        self.findings.unknown.push(path.clone());
                        fields.shift_remove(&name);
                    }
                }
            }
            path.pop();
        }
    }
}

/// What admission did to an object: warnings for the `Warning` header.
pub type Warnings = Vec<String>;

/// Which way a write arrived, for the wording of unknown-field errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// create, update and merge/JSON patches: the strict decoder's wording.
    Decode,
    /// server-side apply: the typed patch's wording.
    Apply,
}

/// Checks `object` (a built-in kind, or a custom resource with its CRD's `openAPIV3Schema` for
/// the version) against its schema: unknown fields refused (Strict) or pruned, wrong types and
/// missing required fields refused. Returns the warnings to send.
pub fn admit(
    def: &ResourceDef,
    crd_schema: Option<&Value>,
    namespace: &str,
    name: &str,
    object: &mut Value,
    mode: FieldValidation,
    kind: WriteKind,
) -> Result<Warnings, ApiError> {
    let k8s = kubernetes()?;
    let mut walk = Walk {
        k8s,
        structural: def.from_crd,
        prune: true,
        findings: Findings::default(),
    };
    let mut path = Vec::new();
    if def.from_crd {
        let Some(schema) = crd_schema else {
            // A CRD without a schema version (apiextensions v1 requires one) keeps everything.
            return Ok(Vec::new());
        };
        let Some(fields) = object.as_object_mut() else {
            return Err(ApiError::bad_request("the object is not a JSON object"));
        };
        // apiVersion, kind and metadata are the server's, whatever the CRD says.
        let order: Vec<String> = fields.keys().cloned().collect();
        let mut meta = fields.remove("metadata").unwrap_or_else(|| json!({}));
        let type_meta: Vec<(String, Value)> = ["apiVersion", "kind"]
            .iter()
            .filter_map(|k| fields.remove(*k).map(|v| (k.to_string(), v)))
            .collect();
        walk.node(schema, object, &mut path);
        if let Some(meta_schema) = k8s.object_meta() {
            walk.structural = false;
            path.push(Step::Field("metadata".into()));
            walk.node(meta_schema, &mut meta, &mut path);
            path.pop();
        }
        if let Some(fields) = object.as_object_mut() {
            fields.extend(type_meta);
            fields.insert("metadata".into(), meta);
            // Back in the order they came (pruned fields stay out).
            let mut ordered = Map::new();
            for key in order {
                if let Some(v) = fields.shift_remove(&key) {
                    ordered.insert(key, v);
                }
            }
            ordered.append(fields);
            *fields = ordered;
        }
    } else {
        let Some(schema) = k8s.for_kind(&def.group, &def.version, &def.kind) else {
            // Types Kubernetes has no schema for (elbv2.k8s.aws…) are not judged here.
            return Ok(Vec::new());
        };
        walk.node(schema, object, &mut path);
    }
    let findings = walk.findings;
    let cannot_handle = |detail: String| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}",
            kind = def.kind,
            version = def.version
        ))
    };
    if let Some((_, detail)) = findings.undecodable.first() {
        return Err(cannot_handle(detail.clone()));
    }
    if mode == FieldValidation::Strict && !findings.unknown.is_empty() {
        return Err(match kind {
            WriteKind::Decode => {
                let listed: Vec<String> = findings
                    .unknown
                    .iter()
                    .map(|p| format!("unknown field \"{}\"", dotted(p)))
                    .collect();
                cannot_handle(format!("strict decoding error: {}", listed.join(", ")))
            }
            WriteKind::Apply => {
                let listed: Vec<String> = findings
                    .unknown
                    .iter()
                    .map(|p| format!("{}: field not declared in schema", field_path(p)))
                    .collect();
                ApiError::bad_request(format!(
                    "failed to create typed patch object ({namespace}/{name}; {}, Kind={}): {}",
                    def.api_version(),
                    def.kind,
                    listed.join("\n")
                ))
            }
        });
    }
    if !findings.invalid.is_empty() {
        return Err(ApiError::invalid(
            &def.kind,
            &def.group,
            name,
            &findings.invalid,
        ));
    }
    Ok(match mode {
        FieldValidation::Warn => findings
            .unknown
            .iter()
            .map(|p| format!("unknown field \"{}\"", dotted(p)))
            .collect(),
        _ => Vec::new(),
    })
}

/// The `openAPIV3Schema` of `version` in a stored CRD.
pub fn crd_version_schema<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"].as_str() == Some(version))
        .map(|v| &v["schema"]["openAPIV3Schema"])
        .filter(|s| s.is_object())
}

fn npm_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(CRD_SCHEMAS_ENV) {
        return PathBuf::from(dir);
    }
    home()
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(NPM_PREFIX_UNDER_HOME)
        .join("node_modules")
}

/// The npm package that carries a group's CRD schemas.
fn package_for(group: &str) -> &'static str {
    if group.ends_with("cert-manager.io") {
        "cert-manager"
    } else {
        "istio"
    }
}

/// Reads the JSON schema literal (`const schema = {…};`) of a generated `@kubernetes-models` model.
fn model_schema(path: &Path) -> Result<Value, SchemaError> {
    let unreadable = |detail: &str| SchemaError::Unreadable {
        path: path.display().to_string(),
        detail: detail.to_string(),
    };
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(&e.to_string()))?;
    let start = text
        .find("const schema = ")
        .ok_or_else(|| unreadable("no `const schema = ` literal (a @kubernetes-models version that ships compiled validators only?)"))?;
    let literal = &text[start + "const schema = ".len()..];
    serde_json::Deserializer::from_str(literal)
        .into_iter::<Value>()
        .next()
        .ok_or_else(|| unreadable("empty schema literal"))?
        .map_err(|e| unreadable(&e.to_string()))
}

/// The upstream structural schema of `group`/`version` `kind`, as its CRD's `openAPIV3Schema`:
/// the npm model's schema without apiVersion/kind/metadata (the server's), and with
/// `x-kubernetes-preserve-unknown-fields` where upstream had it and the generator dropped it
/// (objects that declare no fields; a kind that declares no fields at all).
pub fn upstream_crd_schema(group: &str, version: &str, kind: &str) -> Result<Value, SchemaError> {
    let path = npm_root()
        .join("@kubernetes-models")
        .join(package_for(group))
        .join(group)
        .join(version)
        .join(format!("{kind}.js"));
    if !path.is_file() {
        return Err(SchemaError::CrdMissing {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            path: path.display().to_string(),
        });
    }
    let mut schema = model_schema(&path)?;
    if let Some(props) = schema["properties"].as_object_mut() {
        for server_field in ["apiVersion", "kind", "metadata"] {
            props.remove(server_field);
        }
    }
    if let Some(fields) = schema.as_object_mut() {
        fields.remove("required");
    }
    mark_preserved(&mut schema);
    if schema["properties"]
        .as_object()
        .is_some_and(|p| !p.is_empty())
    {
        schema["properties"]["apiVersion"] = json!({"type": "string"});
        schema["properties"]["kind"] = json!({"type": "string"});
        schema["properties"]["metadata"] = json!({"type": "object"});
    }
    Ok(schema)
}

fn mark_preserved(schema: &mut Value) {
    let Some(fields) = schema.as_object_mut() else {
        return;
    };
    let declares = fields
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    let is_object = fields.get("type").and_then(Value::as_str) == Some("object")
        || fields.get("properties").is_some();
    if is_object && !declares && !fields.contains_key("additionalProperties") {
        fields.remove("properties");
        fields.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    }
    for (key, child) in fields.iter_mut() {
        match key.as_str() {
            "properties" => {
                if let Some(props) = child.as_object_mut() {
                    props.values_mut().for_each(mark_preserved);
                }
            }
            "items" | "additionalProperties" => mark_preserved(child),
            _ => {}
        }
    }
}

/// The versions `@kubernetes-models` has for a kind, oldest first.
pub fn upstream_versions(group: &str, kind: &str) -> Vec<String> {
    let dir = npm_root()
        .join("@kubernetes-models")
        .join(package_for(group))
        .join(group);
    let mut versions: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(format!("{kind}.js")).is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    versions.sort();
    versions
}

/// Checks an object the way the API server would under `fieldValidation=Strict`, without a
/// server: built-in kinds against the Kubernetes schemas, Istio's and cert-manager's against their
/// upstream CRD schemas. The renderer's conformance test uses it; errors are the server's words.
pub fn check_strict(object: &Value) -> Result<(), String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let k8s = kubernetes().map_err(|e| e.to_string())?;
    let builtin = k8s.for_kind(group, version, kind).is_some();
    let crd_schema = if builtin {
        None
    } else {
        Some(upstream_crd_schema(group, version, kind).map_err(|e| e.to_string())?)
    };
    let def = ResourceDef {
        group: group.to_string(),
        version: version.to_string(),
        plural: String::new(),
        singular: kind.to_lowercase(),
        kind: kind.to_string(),
        namespaced: true,
        short_names: Vec::new(),
        has_status: true,
        categories: Vec::new(),
        from_crd: !builtin,
    };
    let mut copy = object.clone();
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    admit(
        &def,
        crd_schema.as_ref(),
        namespace,
        name,
        &mut copy,
        FieldValidation::Strict,
        WriteKind::Decode,
    )
    .map(|_| ())
    .map_err(|e| format!("{kind} {namespace}/{name}: {}", e.message))?;
    if let Some(unknown) = istio_operator_unknown_fields(object).first() {
        return Err(format!(
            "{kind} {namespace}/{name}: unknown field \"{unknown}\" (not in istioctl's operator API)"
        ));
    }
    Ok(())
}

/// IstioOperator's fields as istioctl's operator API (`install.istio.io/v1alpha1`
/// IstioOperatorSpec, Istio 1.17–1.22 docs) declares them. Upstream's CRD leaves the spec opaque
/// (`x-kubernetes-preserve-unknown-fields`); istioctl itself refuses what is not here.
/// `meshConfig`, `values`, `unvalidatedValues` and the Kubernetes types under `k8s` are free-form.
const OPERATOR_SPEC: &[&str] = &[
    "profile",
    "installPackagePath",
    "hub",
    "tag",
    "resourceSuffix",
    "namespace",
    "revision",
    "meshConfig",
    "components",
    "addonComponents",
    "values",
    "unvalidatedValues",
];
const OPERATOR_COMPONENTS: &[&str] = &[
    "base",
    "pilot",
    "policy",
    "telemetry",
    "cni",
    "ztunnel",
    "istiodRemote",
    "ingressGateways",
    "egressGateways",
];
const OPERATOR_COMPONENT: &[&str] = &["enabled", "namespace", "hub", "tag", "spec", "k8s"];
const OPERATOR_GATEWAY: &[&str] = &["enabled", "namespace", "name", "label", "hub", "tag", "k8s"];
const OPERATOR_K8S: &[&str] = &[
    "affinity",
    "env",
    "hpaSpec",
    "imagePullPolicy",
    "nodeSelector",
    "podDisruptionBudget",
    "podAnnotations",
    "priorityClassName",
    "readinessProbe",
    "replicaCount",
    "resources",
    "service",
    "strategy",
    "tolerations",
    "serviceAnnotations",
    "securityContext",
    "volumes",
    "volumeMounts",
    "overlays",
];

fn unknown_keys(value: &Value, allowed: &[&str], at: &str, out: &mut Vec<String>) {
    for key in value.as_object().into_iter().flat_map(|m| m.keys()) {
        if !allowed.contains(&key.as_str()) {
            out.push(format!("{at}.{key}"));
        }
    }
}

fn operator_component(component: &Value, allowed: &[&str], at: &str, out: &mut Vec<String>) {
    unknown_keys(component, allowed, at, out);
    unknown_keys(&component["k8s"], OPERATOR_K8S, &format!("{at}.k8s"), out);
}

/// The fields of an IstioOperator's spec that istioctl's operator API does not declare (empty
/// for other kinds).
pub fn istio_operator_unknown_fields(object: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if object["kind"] != "IstioOperator" {
        return out;
    }
    let spec = &object["spec"];
    unknown_keys(spec, OPERATOR_SPEC, "spec", &mut out);
    let components = &spec["components"];
    unknown_keys(components, OPERATOR_COMPONENTS, "spec.components", &mut out);
    for (name, component) in components.as_object().into_iter().flatten() {
        let at = format!("spec.components.{name}");
        match component {
            Value::Array(gateways) => {
                for (i, gateway) in gateways.iter().enumerate() {
                    operator_component(gateway, OPERATOR_GATEWAY, &format!("{at}[{i}]"), &mut out);
                }
            }
            _ => operator_component(component, OPERATOR_COMPONENT, &at, &mut out),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom_resource_def() -> ResourceDef {
        ResourceDef {
            group: "example.io".into(),
            version: "v1".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            kind: "Widget".into(),
            namespaced: true,
            short_names: Vec::new(),
            has_status: true,
            categories: Vec::new(),
            from_crd: true,
        }
    }

    fn widget_schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "closed": {"type": "object"},
            }},
        }})
    }

    fn widget() -> Value {
        json!({"apiVersion": "example.io/v1", "kind": "Widget",
               "metadata": {"name": "w", "namespace": "default"},
               "spec": {"size": 1, "colour": "red", "free": {"any": {"thing": 1}},
                        "closed": {"gone": true}}})
    }

    #[test]
    fn structural_schemas_prune_unknown_fields_and_keep_preserved_ones() {
        let mut object = widget();
        let warnings = admit(
            &custom_resource_def(),
            Some(&widget_schema()),
            "default",
            "w",
            &mut object,
            FieldValidation::Warn,
            WriteKind::Decode,
        )
        .expect("admitted");
        assert_eq!(
            object["spec"],
            json!({"size": 1, "free": {"any": {"thing": 1}}, "closed": {}})
        );
        assert_eq!(
            warnings,
            vec![
                "unknown field \"spec.colour\"".to_string(),
                "unknown field \"spec.closed.gone\"".to_string()
            ]
        );
        assert_eq!(object["metadata"]["name"], "w");
        assert_eq!(object["apiVersion"], "example.io/v1");
    }

    #[test]
    fn strict_refuses_in_the_servers_words() {
        let err = admit(
            &custom_resource_def(),
            Some(&widget_schema()),
            "default",
            "w",
            &mut widget(),
            FieldValidation::Strict,
            WriteKind::Apply,
        )
        .expect_err("refused");
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "failed to create typed patch object (default/w; example.io/v1, Kind=Widget): .spec.colour: field not declared in schema\n.spec.closed.gone: field not declared in schema"
        );
    }

    #[test]
    fn objects_the_generator_left_without_fields_preserve_them() {
        let mut schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"patch": {"type": "object", "properties": {}}}},
        }});
        mark_preserved(&mut schema);
        assert_eq!(
            schema["properties"]["spec"]["properties"]["patch"],
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        );
        assert!(schema["properties"]["spec"]
            .get("x-kubernetes-preserve-unknown-fields")
            .is_none());
    }
}
