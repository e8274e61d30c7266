//! The object store behind the API server: generic JSON objects keyed by group, resource,
//! namespace and name, with resourceVersions, generations, finalizers, field ownership, and a
//! broadcast of every change that watches and in-process controllers follow.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::admission;
use super::clock;
use super::resources::{GroupResource, Gvr, Registry, ResourceDef};
use super::schema::{self, FieldValidation, WriteKind};
use super::ssa::{self, Scope};
use super::status::ApiError;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The watch event type string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as broadcast to watchers and controllers.
#[derive(Clone, Debug)]
pub struct Change {
    pub resource: GroupResource,
    /// None for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    pub event: EventType,
    /// The object after the change (for Deleted: its last state).
    pub object: Arc<Value>,
    pub resource_version: u64,
}

/// How a patch body is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// application/merge-patch+json
    Merge,
    /// application/strategic-merge-patch+json
    Strategic,
    /// application/json-patch+json
    Json,
    /// application/apply-patch+yaml (server-side apply)
    Apply,
}

/// Options shared by writes.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// fieldManager; required for apply, defaulted for other writes.
    pub field_manager: Option<String>,
    /// dryRun=All: validate and answer, store nothing.
    pub dry_run: bool,
    /// force=true for apply.
    pub force: bool,
    /// fieldValidation: what unknown fields do (in-process writers default to Strict).
    pub field_validation: FieldValidation,
    /// Where the write's warnings go (the HTTP layer sends them as `Warning` headers).
    pub warnings: WarningSink,
}

/// Collects a write's warnings (unknown fields dropped under `fieldValidation=Warn`).
#[derive(Clone, Debug, Default)]
pub struct WarningSink(Arc<Mutex<Vec<String>>>);

impl WarningSink {
    fn extend(&self, warnings: Vec<String>) {
        if let Ok(mut held) = self.0.lock() {
            held.extend(warnings);
        }
    }

    /// The warnings so far.
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut held| std::mem::take(&mut *held))
            .unwrap_or_default()
    }
}

impl WriteOptions {
    pub fn manager(manager: &str) -> Self {
        Self {
            field_manager: Some(manager.to_string()),
            ..Self::default()
        }
    }
}

/// Where a watch starts.
pub(crate) enum WatchFrom {
    /// resourceVersion unset or "0": synthetic ADDED events for what exists, then changes.
    Initial,
    /// Changes after this resourceVersion.
    After(u64),
}

const HISTORY_LIMIT: usize = 20_000;
const BROADCAST_CAPACITY: usize = 4096;
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

type Objects = BTreeMap<(String, String), Value>;

struct Inner {
    resource_version: u64,
    registry: Registry,
    objects: BTreeMap<GroupResource, Objects>,
    history: VecDeque<Change>,
    /// Watches from resourceVersions below this get 410 Gone: their events left the history.
    history_floor: u64,
}

/// The store; shared by the HTTP handlers and in-process controllers.
pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Change>,
}

/// Who is writing and how, inside one store operation.
struct WriteCtx {
    def: ResourceDef,
    namespace: String,
    name: String,
    subresource: String,
    manager: String,
    dry_run: bool,
    /// True when `new` already carries its managedFields (server-side apply).
    fields_tracked: bool,
    field_validation: FieldValidation,
    warnings: WarningSink,
}

fn namespaces_gr() -> GroupResource {
    GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    }
}

fn crd_gr() -> GroupResource {
    GroupResource {
        group: "apiextensions.k8s.io".into(),
        resource: "customresourcedefinitions".into(),
    }
}

fn is_builtin_keyed(def: &ResourceDef) -> bool {
    !def.from_crd
}

/// The object without metadata and status: what generation counts changes of.
fn spec_part(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// The object without what every write changes (resourceVersion, managedFields times), to tell
/// a no-op write.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        if let Some(list) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
            for e in list {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    v
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// A store with the four namespaces every cluster starts with.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let store = Self {
            inner: Mutex::new(Inner {
                resource_version: 0,
                registry: Registry::builtin(),
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                history_floor: 0,
            }),
            events,
        };
        let gvr = Gvr::new("", "v1", "namespaces");
        for ns in INITIAL_NAMESPACES {
            let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            // Cannot fail: the names are valid and the store is empty.
            let _ = store.create(&gvr, None, object, &WriteOptions::manager("kube-apiserver"));
        }
        store
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every write is applied at the
        // end); keep serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every change from now on (a receiver that lags gets `RecvError::Lagged`; resync then).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.events.subscribe()
    }

    /// A snapshot of the servable resources.
    pub fn registry(&self) -> Registry {
        self.lock().registry.clone()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    /// The definition of a group/version/resource, or NotFound.
    pub fn resolve(&self, gvr: &Gvr) -> Result<ResourceDef, ApiError> {
        self.lock().resolve(gvr)
    }

    /// One object.
    pub fn get(&self, gvr: &Gvr, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let inner = self.lock();
        let def = inner.resolve(gvr)?;
        let ns = inner.scope_namespace(&def, namespace)?;
        inner
            .objects
            .get(&def.group_resource())
            .and_then(|m| m.get(&(ns, name.to_string())))
            .map(|o| with_version(o, &def))
            .ok_or_else(|| ApiError::not_found(&def.group_resource(), name))
    }

    /// Objects of a resource, in one namespace or (None) all of them, sorted by namespace and
    /// name.
    pub fn list(&self, gvr: &Gvr, namespace: Option<&str>) -> Result<Vec<Value>, ApiError> {
        Ok(self.list_at(gvr, namespace)?.0)
    }

    /// Like `list`, with the resourceVersion the list was read at.
    pub fn list_at(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
    ) -> Result<(Vec<Value>, u64), ApiError> {
        let inner = self.lock();
        let def = inner.resolve(gvr)?;
        let items = inner
            .objects
            .get(&def.group_resource())
            .map(|m| {
                m.iter()
                    .filter(|((ns, _), _)| {
                        namespace.is_none_or(|want| !def.namespaced || ns == want)
                    })
                    .map(|(_, o)| with_version(o, &def))
                    .collect()
            })
            .unwrap_or_default();
        Ok((items, inner.resource_version))
    }

    /// POST: creates an object (409 AlreadyExists, 422 Invalid, 404 when the namespace is
    /// missing).
    pub fn create(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        mut object: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let def = inner.resolve(gvr)?;
        let ns = inner.scope_namespace(&def, namespace)?;
        if !object.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not an object",
            ));
        }
        check_body_namespace(&object, &def, &ns)?;
        let mut name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            if let Some(prefix) = object["metadata"]["generateName"].as_str() {
                if !prefix.is_empty() {
                    name = format!("{prefix}{}", random_suffix());
                    object["metadata"]["name"] = json!(name);
                }
            }
        }
        admission::validate_name(&def, &name)?;
        if inner.get_raw(&def, &ns, &name).is_some() {
            return Err(ApiError::already_exists(&def.group_resource(), &name));
        }
        let ctx = WriteCtx {
            def,
            namespace: ns,
            name,
            subresource: String::new(),
            manager: manager_or_default(opts),
            dry_run: opts.dry_run,
            fields_tracked: false,
            field_validation: opts.field_validation,
            warnings: opts.warnings.clone(),
        };
        let out = inner.commit(&ctx, None, object, &self.events)?;
        Ok(out)
    }

    /// PUT: replaces an object (or its status), with optimistic concurrency on
    /// metadata.resourceVersion.
    pub fn update(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        object: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let def = inner.resolve(gvr)?;
        let ns = inner.scope_namespace(&def, namespace)?;
        let sub = inner.check_subresource(&def, subresource)?;
        check_body_namespace(&object, &def, &ns)?;
        if let Some(body_name) = object["metadata"]["name"].as_str() {
            if body_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
        }
        let Some(old) = inner.get_raw(&def, &ns, name).cloned() else {
            return Err(ApiError::not_found(&def.group_resource(), name));
        };
        if let Some(rv) = object["metadata"]["resourceVersion"].as_str() {
            if !rv.is_empty() && Some(rv) != old["metadata"]["resourceVersion"].as_str() {
                return Err(ApiError::conflict(
                    &def.group_resource(),
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
        }
        let ctx = WriteCtx {
            def,
            namespace: ns,
            name: name.to_string(),
            subresource: sub,
            manager: manager_or_default(opts),
            dry_run: opts.dry_run,
            fields_tracked: false,
            field_validation: opts.field_validation,
            warnings: opts.warnings.clone(),
        };
        inner.commit(&ctx, Some(old), object, &self.events)
    }

    /// PATCH: merge, strategic merge, JSON patch, or server-side apply (which creates absent
    /// objects).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        kind: PatchKind,
        patch: &Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let def = inner.resolve(gvr)?;
        let ns = inner.scope_namespace(&def, namespace)?;
        let sub = inner.check_subresource(&def, subresource)?;
        let old = inner.get_raw(&def, &ns, name).cloned();
        let keyed = is_builtin_keyed(&def);
        if kind == PatchKind::Apply {
            let manager = opts
                .field_manager
                .clone()
                .filter(|m| !m.is_empty())
                .ok_or_else(|| {
                    ApiError::new(
                        422,
                        "Invalid",
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    )
                })?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "the applied configuration is not an object",
                ));
            }
            check_body_namespace(patch, &def, &ns)?;
            if let Some(body_name) = patch["metadata"]["name"].as_str() {
                if body_name != name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({body_name}) does not match the name on the URL ({name})"
                    )));
                }
            }
            if let Some(old) = &old {
                if let Some(rv) = patch["metadata"]["resourceVersion"].as_str() {
                    if !rv.is_empty() && Some(rv) != old["metadata"]["resourceVersion"].as_str() {
                        return Err(ApiError::conflict(
                            &def.group_resource(),
                            name,
                            "the object has been modified; please apply your changes to the latest version and try again",
                        ));
                    }
                }
            } else if !sub.is_empty() {
                return Err(ApiError::not_found(&def.group_resource(), name));
            }
            if patch["metadata"]["managedFields"].is_array() {
                return Err(ApiError::bad_request("metadata.managedFields must be nil"));
            }
            if old.is_none() {
                admission::validate_name(&def, name)?;
            }
            // The applied configuration is typed against the schema first: unknown fields are
            // refused in its own wording (Strict) or dropped before they are owned.
            let mut applied = patch.clone();
            let crd_schema = inner.crd_schema(&def);
            let warnings = schema::admit(
                &def,
                crd_schema.as_ref(),
                &ns,
                name,
                &mut applied,
                opts.field_validation,
                WriteKind::Apply,
            )?;
            opts.warnings.extend(warnings);
            let patch = &applied;
            let scope = scope_for(&def, &sub);
            let now = clock::now_rfc3339();
            let req = ssa::ApplyRequest {
                manager: &manager,
                api_version: &def.api_version(),
                subresource: &sub,
                scope,
                keyed,
                force: opts.force,
                now: &now,
            };
            let new = ssa::apply(old.as_ref(), patch, &req).map_err(|conflicts| {
                let causes: Vec<(String, String)> = conflicts.clone();
                ApiError::apply_conflict(ssa::conflict_message(&conflicts), &causes)
            })?;
            let ctx = WriteCtx {
                def,
                namespace: ns,
                name: name.to_string(),
                subresource: sub,
                manager,
                dry_run: opts.dry_run,
                fields_tracked: true,
                field_validation: opts.field_validation,
                warnings: opts.warnings.clone(),
            };
            return inner.commit(&ctx, old, new, &self.events);
        }
        let Some(old) = old else {
            return Err(ApiError::not_found(&def.group_resource(), name));
        };
        let mut new = old.clone();
        patch_document(kind, keyed, &mut new, patch)?;
        if let Some(rv) = patch["metadata"]["resourceVersion"].as_str() {
            if Some(rv) != old["metadata"]["resourceVersion"].as_str() {
                return Err(ApiError::conflict(
                    &def.group_resource(),
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
        }
        if !new.is_object() || !new["metadata"].is_object() {
            return Err(ApiError::bad_request(
                "the patched object must be a JSON object with an object metadata",
            ));
        }
        // The object keeps its identity whatever the patch says.
        new["metadata"]["name"] = json!(name);
        let ctx = WriteCtx {
            def,
            namespace: ns,
            name: name.to_string(),
            subresource: sub,
            manager: manager_or_default(opts),
            dry_run: opts.dry_run,
            fields_tracked: false,
            field_validation: opts.field_validation,
            warnings: opts.warnings.clone(),
        };
        inner.commit(&ctx, Some(old), new, &self.events)
    }

    /// Server-side apply by an in-process caller.
    pub fn apply(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        name: &str,
        applied: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, ApiError> {
        let opts = WriteOptions {
            field_manager: Some(manager.to_string()),
            force,
            ..WriteOptions::default()
        };
        self.patch(gvr, namespace, name, None, PatchKind::Apply, applied, &opts)
    }

    /// Replaces `.status` (what a controller reports), as `manager`.
    pub fn apply_status(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        name: &str,
        status: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let mut object = self.get(gvr, namespace, name)?;
        object["status"] = status;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            // Last writer wins for controllers: no optimistic-concurrency failure on status.
            meta.remove("resourceVersion");
        }
        let def = self.resolve(gvr)?;
        let sub = def.has_status.then_some("status");
        self.update(
            gvr,
            namespace,
            name,
            sub,
            object,
            &WriteOptions::manager(manager),
        )
    }

    /// DELETE: removes the object, or only marks it (deletionTimestamp) while it has finalizers.
    /// Deleting a namespace deletes what is in it; deleting a CRD its objects.
    pub fn delete(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        name: &str,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let def = inner.resolve(gvr)?;
        let ns = inner.scope_namespace(&def, namespace)?;
        let Some(old) = inner.get_raw(&def, &ns, name).cloned() else {
            return Err(ApiError::not_found(&def.group_resource(), name));
        };
        if opts.dry_run {
            return Ok(with_version(&old, &def));
        }
        let out = inner.delete_object(&def, &ns, name, &self.events);
        Ok(with_version(&out, &def))
    }

    /// What the namespace controller does for a Terminating namespace: deletes what is in it
    /// (objects with finalizers are only marked) and removes it once it is empty.
    pub fn finalize_namespace(&self, name: &str) {
        let mut inner = self.lock();
        let terminating = inner
            .objects
            .get(&namespaces_gr())
            .and_then(|m| m.get(&(String::new(), name.to_string())))
            .is_some_and(|ns| ns["metadata"]["deletionTimestamp"].is_string());
        if terminating {
            inner.empty_namespace(name, &self.events);
            inner.finish_namespace_if_empty(name, &self.events);
        }
    }

    /// Subscribes and reads the backlog under one lock, so a watch misses nothing.
    pub(crate) fn watch_start(
        &self,
        gr: &GroupResource,
        from: WatchFrom,
    ) -> Result<(Vec<Change>, broadcast::Receiver<Change>), ApiError> {
        let inner = self.lock();
        let rx = self.events.subscribe();
        let backlog = match from {
            WatchFrom::Initial => inner
                .objects
                .get(gr)
                .map(|m| {
                    m.iter()
                        .map(|((ns, name), o)| Change {
                            resource: gr.clone(),
                            namespace: (!ns.is_empty()).then(|| ns.clone()),
                            name: name.clone(),
                            event: EventType::Added,
                            object: Arc::new(o.clone()),
                            resource_version: rv_of(o),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            WatchFrom::After(rv) => {
                if rv < inner.history_floor {
                    return Err(ApiError::new(
                        410,
                        "Expired",
                        format!("too old resource version: {rv} ({})", inner.history_floor),
                    ));
                }
                inner
                    .history
                    .iter()
                    .filter(|c| c.resource_version > rv && &c.resource == gr)
                    .cloned()
                    .collect()
            }
        };
        Ok((backlog, rx))
    }
}

fn rv_of(o: &Value) -> u64 {
    o["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn manager_or_default(opts: &WriteOptions) -> String {
    opts.field_manager
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

fn scope_for(def: &ResourceDef, subresource: &str) -> Scope {
    if subresource == "status" {
        Scope::StatusOnly
    } else if def.has_status {
        Scope::NoStatus
    } else {
        Scope::All
    }
}

/// The object with the apiVersion of the version it is served at.
pub(crate) fn with_version(object: &Value, def: &ResourceDef) -> Value {
    let mut o = object.clone();
    o["apiVersion"] = json!(def.api_version());
    o
}

fn check_body_namespace(object: &Value, def: &ResourceDef, ns: &str) -> Result<(), ApiError> {
    if !def.namespaced {
        return Ok(());
    }
    match object["metadata"]["namespace"].as_str() {
        Some(body_ns) if !body_ns.is_empty() && body_ns != ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// Applies a merge, strategic merge or JSON patch to a document (`keyed`: built-in types, where
/// strategic merge is allowed).
pub(crate) fn patch_document(
    kind: PatchKind,
    keyed: bool,
    target: &mut Value,
    patch: &Value,
) -> Result<(), ApiError> {
    match kind {
        PatchKind::Merge => ssa::json_merge(target, patch),
        PatchKind::Strategic => {
            if !keyed {
                // Real servers refuse strategic merge on custom resources.
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "strategic merge patch is not supported for custom resources",
                ));
            }
            ssa::strategic_merge(target, patch, "")
        }
        PatchKind::Json => json_patch(target, patch)?,
        PatchKind::Apply => ssa::json_merge(target, patch),
    }
    Ok(())
}

/// RFC 6902 JSON patch: add, remove, replace, test, move and copy over JSON pointers.
fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch must be an array of operations"))?;
    let bad = |m: String| ApiError::new(422, "Invalid", m);
    for op in ops {
        let path = op["path"].as_str().unwrap_or_default();
        match op["op"].as_str().unwrap_or_default() {
            "add" => pointer_insert(target, path, op["value"].clone(), false).map_err(bad)?,
            "replace" => pointer_insert(target, path, op["value"].clone(), true).map_err(bad)?,
            "remove" => {
                pointer_remove(target, path).map_err(bad)?;
            }
            "test" => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(bad(format!("testing value {path} failed")));
                }
            }
            "move" | "copy" => {
                let from = op["from"].as_str().unwrap_or_default();
                let value = if op["op"] == "move" {
                    pointer_remove(target, from).map_err(bad)?
                } else {
                    target
                        .pointer(from)
                        .cloned()
                        .ok_or_else(|| bad(format!("missing value at {from}")))?
                };
                pointer_insert(target, path, value, false).map_err(bad)?;
            }
            other => return Err(bad(format!("unexpected JSON patch operation {other:?}"))),
        }
    }
    Ok(())
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok((
        parent.to_string(),
        last.replace("~1", "/").replace("~0", "~"),
    ))
}

fn pointer_insert(
    target: &mut Value,
    path: &str,
    value: Value,
    replace: bool,
) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let container = target
        .pointer_mut(&parent)
        .ok_or_else(|| format!("missing path {parent:?}"))?;
    match container {
        Value::Object(m) => {
            if replace && !m.contains_key(&last) {
                return Err(format!("missing value at {path}"));
            }
            m.insert(last, value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| format!("bad index in {path}"))?;
                if replace {
                    *a.get_mut(i)
                        .ok_or_else(|| format!("index out of range in {path}"))? = value;
                } else if i <= a.len() {
                    a.insert(i, value);
                } else {
                    return Err(format!("index out of range in {path}"));
                }
            }
        }
        _ => return Err(format!("cannot add into a scalar at {parent}")),
    }
    Ok(())
}

fn pointer_remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    let container = target
        .pointer_mut(&parent)
        .ok_or_else(|| format!("missing path {parent:?}"))?;
    match container {
        Value::Object(m) => m
            .remove(&last)
            .ok_or_else(|| format!("missing value at {path}")),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| format!("bad index in {path}"))?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(format!("index out of range in {path}"))
            }
        }
        _ => Err(format!("cannot remove from a scalar at {parent}")),
    }
}

impl Inner {
    fn resolve(&self, gvr: &Gvr) -> Result<ResourceDef, ApiError> {
        self.registry
            .find(&gvr.group, &gvr.version, &gvr.resource)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )
                .with_gvr_details(gvr)
            })
    }

    /// The storage namespace ("" for cluster-scoped); namespaced objects need one that exists.
    fn scope_namespace(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
    ) -> Result<String, ApiError> {
        if !def.namespaced {
            return Ok(String::new());
        }
        match namespace {
            Some(ns) if !ns.is_empty() => Ok(ns.to_string()),
            _ => Err(ApiError::bad_request(
                "a namespace is required for a namespaced resource",
            )),
        }
    }

    fn check_subresource(&self, def: &ResourceDef, sub: Option<&str>) -> Result<String, ApiError> {
        match sub {
            None | Some("") => Ok(String::new()),
            Some("status") if def.has_status => Ok("status".into()),
            Some(other) => Err(ApiError::new(
                404,
                "NotFound",
                format!(
                    "the server could not find the requested resource ({} {})",
                    def.plural, other
                ),
            )),
        }
    }

    fn get_raw(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&def.group_resource())
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    fn next_rv(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    fn emit(&mut self, tx: &broadcast::Sender<Change>, change: Change) {
        self.history.push_back(change.clone());
        while self.history.len() > HISTORY_LIMIT {
            if let Some(old) = self.history.pop_front() {
                self.history_floor = old.resource_version;
            }
        }
        // No receiver is fine: nobody is watching.
        let _ = tx.send(change);
    }

    /// The common end of every write: status rules, managedFields, system metadata, admission,
    /// no-op detection, storage and the change event.
    fn commit(
        &mut self,
        ctx: &WriteCtx,
        old: Option<Value>,
        mut new: Value,
        tx: &broadcast::Sender<Change>,
    ) -> Result<Value, ApiError> {
        let def = &ctx.def;
        if !new.is_object() {
            return Err(ApiError::bad_request("the object is not a JSON object"));
        }
        if !new["metadata"].is_object() {
            new["metadata"] = json!({});
        }

        // The status subresource changes only .status; other writes leave .status alone.
        if def.has_status {
            if ctx.subresource == "status" {
                let mut merged = old.clone().unwrap_or_else(|| new.clone());
                merged["status"] = new["status"].take();
                if new["metadata"]["managedFields"].is_array() {
                    merged["metadata"]["managedFields"] = new["metadata"]["managedFields"].take();
                }
                new = merged;
            } else if let Some(map) = new.as_object_mut() {
                match old.as_ref().and_then(|o| o.get("status")) {
                    Some(s) => {
                        map.insert("status".into(), s.clone());
                    }
                    None => {
                        map.remove("status");
                    }
                }
            }
        }

        if !ctx.fields_tracked {
            let now = clock::now_rfc3339();
            let req = ssa::UpdateRequest {
                manager: &ctx.manager,
                api_version: &def.api_version(),
                subresource: &ctx.subresource,
                scope: scope_for(def, &ctx.subresource),
                keyed: is_builtin_keyed(def),
                now: &now,
            };
            ssa::track_update(old.as_ref(), &mut new, &req);
        }

        // System metadata: identity and bookkeeping belong to the server.
        new["apiVersion"] = json!(def.api_version());
        new["kind"] = json!(def.kind);
        {
            let meta = &mut new["metadata"];
            meta["name"] = json!(ctx.name);
            if def.namespaced {
                meta["namespace"] = json!(ctx.namespace);
            } else if let Some(m) = meta.as_object_mut() {
                m.remove("namespace");
            }
        }
        match &old {
            Some(old) => {
                let om = &old["metadata"];
                for key in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                ] {
                    match om.get(key) {
                        Some(v) => new["metadata"][key] = v.clone(),
                        None => {
                            if let Some(m) = new["metadata"].as_object_mut() {
                                m.remove(key);
                            }
                        }
                    }
                }
                let generation = om["generation"].as_i64().unwrap_or(1);
                let bumped = spec_part(old) != spec_part(&new);
                new["metadata"]["generation"] =
                    json!(if bumped { generation + 1 } else { generation });
            }
            None => {
                let meta = &mut new["metadata"];
                meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
                meta["creationTimestamp"] = json!(clock::now_rfc3339());
                meta["generation"] = json!(1);
                if let Some(m) = meta.as_object_mut() {
                    m.remove("deletionTimestamp");
                    m.remove("deletionGracePeriodSeconds");
                }
            }
        }
        if let Some(m) = new["metadata"].as_object_mut() {
            m.remove("selfLink");
        }

        self.admit(ctx, old.as_ref(), &mut new)?;

        if let Some(old) = &old {
            if comparable(old) == comparable(&new) {
                return Ok(with_version(old, def));
            }
        }
        if ctx.dry_run {
            return Ok(with_version(&new, def));
        }

        let rv = self.next_rv();
        new["metadata"]["resourceVersion"] = json!(rv.to_string());

        let deleting = new["metadata"]["deletionTimestamp"].is_string();
        let finalizers_left = new["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if deleting && !finalizers_left {
            // The last finalizer went: the object goes now.
            self.remove_now(def, &ctx.namespace, &ctx.name, &new, tx);
            return Ok(with_version(&new, def));
        }

        let gr = def.group_resource();
        self.objects
            .entry(gr.clone())
            .or_default()
            .insert((ctx.namespace.clone(), ctx.name.clone()), new.clone());
        let event = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        if gr == crd_gr() {
            let defs = Registry::defs_from_crd(&new);
            self.registry.add_crd_defs(defs);
        }
        self.emit(
            tx,
            Change {
                resource: gr,
                namespace: def.namespaced.then(|| ctx.namespace.clone()),
                name: ctx.name.clone(),
                event,
                object: Arc::new(new.clone()),
                resource_version: rv,
            },
        );
        Ok(with_version(&new, def))
    }

    fn admit(&self, ctx: &WriteCtx, old: Option<&Value>, new: &mut Value) -> Result<(), ApiError> {
        let def = &ctx.def;
        if def.namespaced && old.is_none() {
            let namespace = self
                .objects
                .get(&namespaces_gr())
                .and_then(|m| m.get(&(String::new(), ctx.namespace.clone())));
            match namespace {
                None => return Err(ApiError::namespace_not_found(&ctx.namespace)),
                Some(ns) if ns["metadata"]["deletionTimestamp"].is_string() => {
                    return Err(ApiError::new(
                        403,
                        "Forbidden",
                        format!(
                            "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                            def.group_resource().qualified(),
                            ctx.name,
                            ctx.namespace
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        let crd_schema = self.crd_schema(def);
        let warnings = schema::admit(
            def,
            crd_schema.as_ref(),
            &ctx.namespace,
            &ctx.name,
            new,
            ctx.field_validation,
            WriteKind::Decode,
        )?;
        ctx.warnings.extend(warnings);
        match (def.group.as_str(), def.plural.as_str()) {
            ("", "services") => {
                let taken = admission::Allocated::from_services(
                    self.objects
                        .get(&def.group_resource())
                        .into_iter()
                        .flat_map(|m| m.iter())
                        .filter(|((ns, name), _)| !(ns == &ctx.namespace && name == &ctx.name))
                        .map(|(_, v)| v),
                );
                admission::admit_service(&ctx.name, new, old, &taken)?;
            }
            ("", "namespaces") => admission::admit_namespace(&ctx.name, new),
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                admission::admit_crd(&ctx.name, new)?
            }
            ("apps", "deployments" | "statefulsets" | "replicasets") => {
                admission::default_replicas(new)
            }
            _ => {}
        }
        Ok(())
    }

    /// The `openAPIV3Schema` the stored CRD of a custom resource gives its version.
    fn crd_schema(&self, def: &ResourceDef) -> Option<Value> {
        if !def.from_crd {
            return None;
        }
        let crd = self
            .objects
            .get(&crd_gr())?
            .get(&(String::new(), format!("{}.{}", def.plural, def.group)))?;
        schema::crd_version_schema(crd, &def.version).cloned()
    }

    /// Removes an object from storage and reports it (with a fresh resourceVersion).
    fn remove_now(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        last: &Value,
        tx: &broadcast::Sender<Change>,
    ) {
        let gr = def.group_resource();
        if let Some(m) = self.objects.get_mut(&gr) {
            m.remove(&(ns.to_string(), name.to_string()));
        }
        let mut last = last.clone();
        let rv = self.next_rv();
        last["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.emit(
            tx,
            Change {
                resource: gr.clone(),
                namespace: def.namespaced.then(|| ns.to_string()),
                name: name.to_string(),
                event: EventType::Deleted,
                object: Arc::new(last),
                resource_version: rv,
            },
        );
        if gr == crd_gr() {
            self.crd_removed(name, tx);
        }
        if def.namespaced {
            self.finish_namespace_if_empty(ns, tx);
        }
    }

    /// Deletes (or marks) an object; returns its last state.
    fn delete_object(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        tx: &broadcast::Sender<Change>,
    ) -> Value {
        let Some(mut object) = self.get_raw(def, ns, name).cloned() else {
            return Value::Null;
        };
        let has_finalizers = object["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        let is_namespace = def.group.is_empty() && def.plural == "namespaces";
        if has_finalizers || is_namespace {
            if !object["metadata"]["deletionTimestamp"].is_string() {
                object["metadata"]["deletionTimestamp"] = json!(clock::now_rfc3339());
                object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                if is_namespace {
                    if !object["status"].is_object() {
                        object["status"] = json!({});
                    }
                    object["status"]["phase"] = json!("Terminating");
                }
                let rv = self.next_rv();
                object["metadata"]["resourceVersion"] = json!(rv.to_string());
                self.objects
                    .entry(def.group_resource())
                    .or_default()
                    .insert((ns.to_string(), name.to_string()), object.clone());
                self.emit(
                    tx,
                    Change {
                        resource: def.group_resource(),
                        namespace: def.namespaced.then(|| ns.to_string()),
                        name: name.to_string(),
                        event: EventType::Modified,
                        object: Arc::new(object.clone()),
                        resource_version: rv,
                    },
                );
            }
            // A namespace is emptied by the namespace controller (`finalize_namespace`), a moment
            // later, as in a real cluster: until then it is Terminating.
            return object;
        }
        self.remove_now(def, ns, name, &object, tx);
        object
    }

    /// Deletes everything in a namespace (objects with finalizers are only marked).
    fn empty_namespace(&mut self, namespace: &str, tx: &broadcast::Sender<Change>) {
        let mut victims = Vec::new();
        for (gr, objects) in &self.objects {
            let Some(def) = self.registry.find_resource(gr) else {
                continue;
            };
            if !def.namespaced {
                continue;
            }
            for (ns, name) in objects.keys() {
                if ns == namespace {
                    victims.push((def.clone(), name.clone()));
                }
            }
        }
        for (def, name) in victims {
            self.delete_object(&def, namespace, &name, tx);
        }
    }

    /// A terminating namespace goes once nothing is left in it.
    fn finish_namespace_if_empty(&mut self, namespace: &str, tx: &broadcast::Sender<Change>) {
        let ns_gr = namespaces_gr();
        let Some(ns_obj) = self
            .objects
            .get(&ns_gr)
            .and_then(|m| m.get(&(String::new(), namespace.to_string())))
            .cloned()
        else {
            return;
        };
        if !ns_obj["metadata"]["deletionTimestamp"].is_string()
            || ns_obj["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        {
            return;
        }
        let occupied = self
            .objects
            .iter()
            .any(|(gr, objects)| gr != &ns_gr && objects.keys().any(|(ns, _)| ns == namespace));
        if occupied {
            return;
        }
        let Some(def) = self.registry.find_resource(&ns_gr).cloned() else {
            return;
        };
        self.remove_now(&def, "", namespace, &ns_obj, tx);
    }

    /// A CRD went: its resource is no longer served and its objects go with it.
    fn crd_removed(&mut self, crd_name: &str, tx: &broadcast::Sender<Change>) {
        let Some((plural, group)) = crd_name.split_once('.') else {
            return;
        };
        let (plural, group) = (plural.to_string(), group.to_string());
        let gr = GroupResource {
            group: group.clone(),
            resource: plural.clone(),
        };
        let def = self.registry.find_resource(&gr).cloned();
        if !self.registry.remove_crd_defs(&group, &plural) {
            return;
        }
        let Some(def) = def else { return };
        let objects = self.objects.remove(&gr).unwrap_or_default();
        for ((ns, name), mut object) in objects {
            let rv = self.next_rv();
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.emit(
                tx,
                Change {
                    resource: gr.clone(),
                    namespace: def.namespaced.then_some(ns),
                    name,
                    event: EventType::Deleted,
                    object: Arc::new(object),
                    resource_version: rv,
                },
            );
        }
    }
}

impl ApiError {
    fn with_gvr_details(mut self, gvr: &Gvr) -> Self {
        self.details = Some(Box::new(json!({"group": gvr.group, "kind": gvr.resource})));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(name: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "labels": {"app": name}},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
               "status": {"replicas": 99}})
    }

    #[test]
    fn create_get_update_generation_and_conflict() {
        let store = Store::new();
        let gvr = Gvr::new("apps", "v1", "deployments");
        let created = store
            .create(
                &gvr,
                Some("default"),
                deploy("web"),
                &WriteOptions::default(),
            )
            .expect("create");
        assert_eq!(created["metadata"]["generation"], 1);
        assert!(
            created.get("status").is_none(),
            "status is ignored on create"
        );
        let err = store
            .create(
                &gvr,
                Some("default"),
                deploy("web"),
                &WriteOptions::default(),
            )
            .expect_err("exists");
        assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
        let err = store
            .create(&gvr, Some("nope"), deploy("web"), &WriteOptions::default())
            .expect_err("no namespace");
        assert_eq!(err.message, "namespaces \"nope\" not found");

        let mut changed = created.clone();
        changed["spec"]["replicas"] = json!(3);
        let updated = store
            .update(
                &gvr,
                Some("default"),
                "web",
                None,
                changed.clone(),
                &WriteOptions::default(),
            )
            .expect("update");
        assert_eq!(updated["metadata"]["generation"], 2);
        let err = store
            .update(
                &gvr,
                Some("default"),
                "web",
                None,
                changed,
                &WriteOptions::default(),
            )
            .expect_err("stale");
        assert_eq!(err.code, 409);

        let mut labels_only = updated.clone();
        labels_only["metadata"]["labels"]["x"] = json!("y");
        let relabeled = store
            .update(
                &gvr,
                Some("default"),
                "web",
                None,
                labels_only,
                &WriteOptions::default(),
            )
            .expect("update labels");
        assert_eq!(relabeled["metadata"]["generation"], 2);
    }

    #[test]
    fn finalizers_and_namespace_deletion() {
        let store = Store::new();
        let ns = Gvr::new("", "v1", "namespaces");
        let cm = Gvr::new("", "v1", "configmaps");
        store
            .create(
                &ns,
                None,
                json!({"metadata": {"name": "t"}}),
                &WriteOptions::default(),
            )
            .expect("ns");
        store
            .create(
                &cm,
                Some("t"),
                json!({"metadata": {"name": "a"}}),
                &WriteOptions::default(),
            )
            .expect("cm a");
        store
            .create(
                &cm,
                Some("t"),
                json!({"metadata": {"name": "b", "finalizers": ["x/y"]}}),
                &WriteOptions::default(),
            )
            .expect("cm b");
        store
            .delete(&ns, None, "t", &WriteOptions::default())
            .expect("delete ns");
        assert!(
            store.get(&cm, Some("t"), "a").is_ok(),
            "emptied by the controller"
        );
        store.finalize_namespace("t");
        assert!(store.get(&cm, Some("t"), "a").is_err());
        let b = store
            .get(&cm, Some("t"), "b")
            .expect("b stays while finalized");
        assert!(b["metadata"]["deletionTimestamp"].is_string());
        assert_eq!(
            store.get(&ns, None, "t").expect("terminating")["status"]["phase"],
            "Terminating"
        );
        store
            .patch(
                &cm,
                Some("t"),
                "b",
                None,
                PatchKind::Merge,
                &json!({"metadata": {"finalizers": null}}),
                &WriteOptions::default(),
            )
            .expect("remove finalizer");
        assert!(store.get(&cm, Some("t"), "b").is_err());
        assert!(
            store.get(&ns, None, "t").is_err(),
            "namespace goes when empty"
        );
    }

    #[test]
    fn noop_apply_keeps_resource_version() {
        let store = Store::new();
        let gvr = Gvr::new("apps", "v1", "deployments");
        let a = store
            .apply(&gvr, Some("default"), "web", &deploy("web"), "m", false)
            .expect("apply");
        let b = store
            .apply(&gvr, Some("default"), "web", &deploy("web"), "m", false)
            .expect("apply again");
        assert_eq!(
            a["metadata"]["resourceVersion"],
            b["metadata"]["resourceVersion"]
        );
    }
}
