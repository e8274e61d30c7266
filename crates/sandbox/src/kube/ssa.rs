//! Field ownership: server-side apply and the managedFields bookkeeping of ordinary writes.
//!
//! A field set is a set of paths in the fieldsV1 vocabulary (`f:spec`, `k:{"name":"app"}`, `.`),
//! so managedFields round-trip exactly. Only leaves are recorded; lists are atomic except the
//! built-in associative lists real Kubernetes keys (containers by name, ports by port…). Custom
//! resources get atomic lists, as CRDs without `x-kubernetes-list-type: map` do.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// One path: fieldsV1 segments (`f:name`, `k:{...}`, `v:...`, `i:N`, and `.` for a list item
/// itself).
pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

/// Which part of an object a write may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything (resources without a status subresource).
    All,
    /// The main resource of a type with a status subresource: status is not the writer's.
    NoStatus,
    /// The status subresource: only `.status`.
    StatusOnly,
}

/// Metadata fields the server owns; never part of a manager's field set, and never taken from
/// an applied configuration.
const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// One managedFields entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// How conflict messages name the manager, as the real API server prints it.
    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_to_v1(&self.fields),
        });
        if !self.subresource.is_empty() {
            v["subresource"] = json!(self.subresource);
        }
        v
    }
}

/// The key fields of the built-in associative lists, by the list's field name and item shape.
fn list_keys(field: &str, items: &[Value]) -> Option<&'static [&'static str]> {
    let keys: &'static [&'static str] = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => &["name"],
        "volumeMounts" => &["mountPath"],
        "conditions" => &["type"],
        "ports" => {
            if items.iter().all(|i| i.get("containerPort").is_some()) {
                &["containerPort", "protocol"]
            } else {
                &["port", "protocol"]
            }
        }
        _ => return None,
    };
    let primary = keys[0];
    let all_keyed = items
        .iter()
        .all(|i| i.as_object().is_some_and(|o| o.contains_key(primary)));
    all_keyed.then_some(keys)
}

/// `k:{"name":"app"}` for an item, with the key fields it has.
fn item_key(item: &Value, keys: &[&str]) -> String {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = item.get(*k) {
            m.insert((*k).to_string(), v.clone());
        }
    }
    format!("k:{}", Value::Object(m))
}

fn key_matches(segment_json: &str, item: &Value) -> bool {
    match serde_json::from_str::<Map<String, Value>>(segment_json) {
        Ok(m) => m.iter().all(|(k, v)| item.get(k) == Some(v)),
        Err(_) => false,
    }
}

fn in_scope(top: &str, scope: Scope) -> bool {
    match scope {
        Scope::All => true,
        Scope::NoStatus => top != "status",
        Scope::StatusOnly => top == "status",
    }
}

/// The leaf paths an object (or an applied configuration) sets, within `scope`.
pub fn fields_of(object: &Value, scope: Scope, keyed: bool) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = object.as_object() else {
        return out;
    };
    for (k, v) in map {
        if k == "apiVersion" || k == "kind" || !in_scope(k, scope) {
            continue;
        }
        let mut path = vec![format!("f:{k}")];
        if k == "metadata" {
            let Some(meta) = v.as_object() else { continue };
            for (mk, mv) in meta {
                if SYSTEM_METADATA.contains(&mk.as_str()) {
                    continue;
                }
                path.push(format!("f:{mk}"));
                collect(mv, mk, &mut path, &mut out, keyed);
                path.pop();
            }
            continue;
        }
        collect(v, k, &mut path, &mut out, keyed);
    }
    out
}

fn collect(v: &Value, field: &str, path: &mut FieldPath, out: &mut FieldSet, keyed: bool) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                path.push(format!("f:{k}"));
                collect(child, k, path, out, keyed);
                path.pop();
            }
        }
        Value::Array(items) if keyed && !items.is_empty() => match list_keys(field, items) {
            Some(keys) => {
                for item in items {
                    path.push(item_key(item, keys));
                    path.push(".".into());
                    out.insert(path.clone());
                    path.pop();
                    if let Some(obj) = item.as_object() {
                        for (k, child) in obj {
                            path.push(format!("f:{k}"));
                            collect(child, k, path, out, keyed);
                            path.pop();
                        }
                    }
                    path.pop();
                }
            }
            None => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value a path points at.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = object;
    for seg in path {
        current = step(current, seg)?;
    }
    Some(current)
}

fn step<'a>(current: &'a Value, seg: &str) -> Option<&'a Value> {
    if seg == "." {
        return Some(current);
    }
    if let Some(name) = seg.strip_prefix("f:") {
        return current.as_object()?.get(name);
    }
    let items = current.as_array()?;
    if let Some(k) = seg.strip_prefix("k:") {
        return items.iter().find(|i| key_matches(k, i));
    }
    if let Some(v) = seg.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return items.iter().find(|i| **i == want);
    }
    if let Some(i) = seg.strip_prefix("i:") {
        return items.get(i.parse::<usize>().ok()?);
    }
    None
}

fn step_mut<'a>(current: &'a mut Value, seg: &str) -> Option<&'a mut Value> {
    if seg == "." {
        return Some(current);
    }
    if let Some(name) = seg.strip_prefix("f:") {
        return current.as_object_mut()?.get_mut(name);
    }
    let items = current.as_array_mut()?;
    if let Some(k) = seg.strip_prefix("k:") {
        return items.iter_mut().find(|i| key_matches(k, i));
    }
    if let Some(v) = seg.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return items.iter_mut().find(|i| **i == want);
    }
    if let Some(i) = seg.strip_prefix("i:") {
        return items.get_mut(i.parse::<usize>().ok()?);
    }
    None
}

/// Removes what a path points at (a field, or a list item for a path ending in `.`).
fn remove_at(object: &mut Value, path: &[String]) {
    let path = match path.split_last() {
        Some((last, rest)) if last == "." => rest,
        _ => path,
    };
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = &mut *object;
    for seg in parents {
        match step_mut(current, seg) {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(map) = current.as_object_mut() {
            map.remove(name);
        }
    } else if let Some(items) = current.as_array_mut() {
        if let Some(k) = last.strip_prefix("k:") {
            items.retain(|i| !key_matches(k, i));
        } else if let Some(v) = last.strip_prefix("v:") {
            if let Ok(want) = serde_json::from_str::<Value>(v) {
                items.retain(|i| *i != want);
            }
        }
    }
}

/// `.spec.template.spec.containers[name="app"].image`, as conflict messages print paths.
pub fn display_path(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if let Some(name) = seg.strip_prefix("f:") {
            s.push('.');
            s.push_str(name);
        } else if let Some(k) = seg.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = seg.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = seg.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

/// A field set as the fieldsV1 trie.
pub fn fields_to_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for seg in path {
            let entry = node
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry.as_object_mut() {
                Some(next) => node = next,
                None => break,
            }
        }
    }
    Value::Object(root)
}

/// A fieldsV1 trie as a field set (leaves are the empty objects).
pub fn v1_to_fields(v1: &Value) -> FieldSet {
    fn walk(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        match v.as_object() {
            Some(map) if !map.is_empty() => {
                for (k, child) in map {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }
    let mut out = FieldSet::new();
    walk(v1, &mut Vec::new(), &mut out);
    out
}

/// The object's managedFields entries.
pub fn parse_managed(object: &Value) -> Vec<ManagedEntry> {
    let Some(list) = object["metadata"]["managedFields"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let manager = e["manager"].as_str()?.to_string();
            Some(ManagedEntry {
                manager,
                operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
                time: e["time"].as_str().unwrap_or_default().to_string(),
                subresource: e["subresource"].as_str().unwrap_or_default().to_string(),
                fields: v1_to_fields(&e["fieldsV1"]),
            })
        })
        .collect()
}

fn write_managed(object: &mut Value, entries: Vec<ManagedEntry>) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(ManagedEntry::to_json)
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Recursive merge of an applied configuration into a live object: maps field by field,
/// associative lists item by item, everything else replaced.
pub fn merge_into(live: &mut Value, applied: &Value, field: &str, keyed: bool) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, av) in a {
                match l.get_mut(k) {
                    Some(lv) => merge_into(lv, av, k, keyed),
                    None => {
                        l.insert(k.clone(), av.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) if keyed => {
            let keys = list_keys(field, a).filter(|_| list_keys(field, l).is_some());
            match keys {
                Some(keys) => {
                    for item in a {
                        let key = item_key(item, keys);
                        match l.iter_mut().find(|li| item_key(li, keys) == key) {
                            Some(li) => merge_into(li, item, "", keyed),
                            None => l.push(item.clone()),
                        }
                    }
                }
                None => *l = a.clone(),
            }
        }
        (l, a) => *l = a.clone(),
    }
}

/// An applied configuration reduced to what a manager may set: no server-owned metadata, and
/// only the parts `scope` allows.
pub fn strip_applied(applied: &Value, scope: Scope) -> Value {
    let mut out = applied.clone();
    if let Some(map) = out.as_object_mut() {
        map.retain(|k, _| k == "apiVersion" || k == "kind" || in_scope(k, scope));
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| !SYSTEM_METADATA.contains(&k.as_str()));
        }
    }
    out
}

/// A conflict: the other manager's description and the path.
pub type Conflict = (String, String);

/// What one server-side apply asks for.
pub struct ApplyRequest<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: &'a str,
    pub scope: Scope,
    pub keyed: bool,
    pub force: bool,
    pub now: &'a str,
}

/// Server-side apply of `applied` over `live` (None: the object is created). Returns the new
/// object with its managedFields, or the conflicts when `force` is off.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    req: &ApplyRequest<'_>,
) -> Result<Value, Vec<Conflict>> {
    let stripped = strip_applied(applied, req.scope);
    let new_set = fields_of(&stripped, req.scope, req.keyed);
    let Some(live) = live else {
        let mut object = stripped;
        let entry = ManagedEntry {
            manager: req.manager.to_string(),
            operation: "Apply".into(),
            api_version: req.api_version.to_string(),
            time: req.now.to_string(),
            subresource: req.subresource.to_string(),
            fields: new_set,
        };
        ensure_metadata(&mut object);
        write_managed(&mut object, vec![entry]);
        return Ok(object);
    };

    let mut entries = parse_managed(live);
    let is_me = |e: &ManagedEntry| {
        e.manager == req.manager && e.operation == "Apply" && e.subresource == req.subresource
    };

    let mut conflicts: Vec<(usize, FieldPath)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if is_me(e) {
            continue;
        }
        for p in e.fields.intersection(&new_set) {
            if p.last().map(String::as_str) == Some(".") {
                continue;
            }
            if value_at(live, p) != value_at(&stripped, p) {
                conflicts.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !req.force {
            return Err(conflicts
                .iter()
                .map(|(i, p)| (entries[*i].describe(), display_path(p)))
                .collect());
        }
        for (i, p) in &conflicts {
            entries[*i].fields.remove(p);
        }
    }

    let old_set = entries
        .iter()
        .find(|e| is_me(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut object = live.clone();
    let mut removed: Vec<&FieldPath> = old_set.difference(&new_set).collect();
    // Deepest first, so a list item goes after its fields were looked at.
    removed.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in removed {
        let base: &[String] = match p.split_last() {
            Some((last, rest)) if last == "." => rest,
            _ => p,
        };
        let owned_elsewhere = entries
            .iter()
            .filter(|e| !is_me(e))
            .any(|e| e.fields.iter().any(|q| q.starts_with(base)));
        if !owned_elsewhere {
            remove_at(&mut object, p);
        }
    }
    merge_into(&mut object, &stripped, "", req.keyed);

    match entries.iter_mut().find(|e| is_me(e)) {
        Some(me) => {
            me.fields = new_set;
            me.time = req.now.to_string();
            me.api_version = req.api_version.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: req.manager.to_string(),
            operation: "Apply".into(),
            api_version: req.api_version.to_string(),
            time: req.now.to_string(),
            subresource: req.subresource.to_string(),
            fields: new_set,
        }),
    }
    write_managed(&mut object, entries);
    Ok(object)
}

fn ensure_metadata(object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        if !map.get("metadata").is_some_and(Value::is_object) {
            map.insert("metadata".into(), json!({}));
        }
    }
}

/// What one ordinary write (create, update, patch) did, for the managedFields of `new`.
pub struct UpdateRequest<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: &'a str,
    pub scope: Scope,
    pub keyed: bool,
    pub now: &'a str,
}

/// Records an Update: the writer takes the fields it changed from everyone else, and fields
/// that are gone leave every set. `new`'s managedFields are rewritten from `old`'s (or reset
/// when the client sent `[{}]`).
pub fn track_update(old: Option<&Value>, new: &mut Value, req: &UpdateRequest<'_>) {
    let reset = new["metadata"]["managedFields"] == json!([{}]);
    let mut entries = match (old, reset) {
        (Some(old), false) => parse_managed(old),
        _ => Vec::new(),
    };
    let new_set = fields_of(new, req.scope, req.keyed);
    let old_set = old
        .map(|o| fields_of(o, req.scope, req.keyed))
        .unwrap_or_default();
    let changed: FieldSet = new_set
        .iter()
        .filter(|p| !old_set.contains(*p) || old.and_then(|o| value_at(o, p)) != value_at(new, p))
        .cloned()
        .collect();
    let scoped = |p: &FieldPath| {
        p.first()
            .and_then(|s| s.strip_prefix("f:"))
            .is_some_and(|top| in_scope(top, req.scope))
    };
    let is_me = |e: &ManagedEntry| {
        e.manager == req.manager && e.operation == "Update" && e.subresource == req.subresource
    };
    for e in entries.iter_mut() {
        e.fields.retain(|p| !scoped(p) || new_set.contains(p));
        if !is_me(e) {
            e.fields.retain(|p| !changed.contains(p));
        }
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| is_me(e)) {
            Some(me) => {
                me.fields.extend(changed);
                me.time = req.now.to_string();
                me.api_version = req.api_version.to_string();
            }
            None => entries.push(ManagedEntry {
                manager: req.manager.to_string(),
                operation: "Update".into(),
                api_version: req.api_version.to_string(),
                time: req.now.to_string(),
                subresource: req.subresource.to_string(),
                fields: changed,
            }),
        }
    }
    ensure_metadata(new);
    write_managed(new, entries);
}

/// The conflict message real API servers give.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [(manager, path)] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {manager}: {path}");
    }
    let mut managers: Vec<&String> = conflicts.iter().map(|(m, _)| m).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for (_, path) in conflicts.iter().filter(|(cm, _)| cm == m) {
            lines.push(format!("- {path}"));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Strategic merge patch, as far as the sandbox needs it: a JSON merge patch in which the
/// built-in associative lists merge by key (`$patch: delete` removes an item) and the
/// `$setElementOrder`/`$retainKeys` directives kubectl sends are dropped.
pub fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, pv) in p {
                if k.starts_with("$setElementOrder/")
                    || k.starts_with("$deleteFromPrimitiveList/")
                    || k == "$retainKeys"
                    || k == "$patch"
                {
                    continue;
                }
                if pv.is_null() {
                    t.remove(k);
                    continue;
                }
                match t.get_mut(k) {
                    Some(tv) => strategic_merge(tv, pv, k),
                    None => {
                        let mut fresh = Value::Null;
                        strategic_merge(&mut fresh, pv, k);
                        t.insert(k.clone(), fresh);
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(p))
            if list_keys(field, p).is_some() && list_keys(field, t).is_some() =>
        {
            let Some(keys) = list_keys(field, p) else {
                return;
            };
            for item in p {
                let key = item_key(item, keys);
                let delete = item["$patch"] == "delete";
                if delete {
                    t.retain(|ti| item_key(ti, keys) != key);
                    continue;
                }
                match t.iter_mut().find(|ti| item_key(ti, keys) == key) {
                    Some(ti) => strategic_merge(ti, item, ""),
                    None => {
                        let mut fresh = Value::Null;
                        strategic_merge(&mut fresh, item, "");
                        t.push(fresh);
                    }
                }
            }
        }
        (t, p) => {
            // A fresh object under a patch: drop nulls and directives the way merging into an
            // empty object would.
            if p.is_object() {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, p, field);
                *t = fresh;
            } else {
                *t = p.clone();
            }
        }
    }
}

/// RFC 7386 JSON merge patch.
pub fn json_merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Some(t) = target.as_object_mut() {
                for (k, pv) in p {
                    if pv.is_null() {
                        t.remove(k);
                    } else {
                        json_merge(t.entry(k.clone()).or_insert(Value::Null), pv);
                    }
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(manager: &'a str, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            manager,
            api_version: "apps/v1",
            subresource: "",
            scope: Scope::NoStatus,
            keyed: true,
            force,
            now: "2024-01-01T00:00:00Z",
        }
    }

    fn deploy(replicas: u64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "namespace": "default", "labels": {"app": "x"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "app", "image": image, "ports": [{"containerPort": 80}]}
            ]}}}
        })
    }

    #[test]
    fn fields_v1_round_trip_and_keys() {
        let set = fields_of(&deploy(1, "nginx"), Scope::NoStatus, true);
        let v1 = fields_to_v1(&set);
        assert_eq!(v1_to_fields(&v1), set);
        assert!(
            v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]
                .get(".")
                .is_some()
        );
        assert!(v1["f:metadata"].get("f:name").is_none());
    }

    #[test]
    fn conflict_then_force_moves_ownership() {
        let live = apply(None, &deploy(1, "nginx"), &req("kubectl", false)).expect("create");
        let err =
            apply(Some(&live), &deploy(3, "nginx"), &req("other", false)).expect_err("conflict");
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
        );
        // Same values: shared ownership, no conflict.
        apply(Some(&live), &deploy(1, "nginx"), &req("other", false)).expect("same values");
        let forced = apply(Some(&live), &deploy(3, "nginx"), &req("other", true)).expect("forced");
        assert_eq!(forced["spec"]["replicas"], 3);
        let entries = parse_managed(&forced);
        let path = vec!["f:spec".to_string(), "f:replicas".to_string()];
        let owner: Vec<&str> = entries
            .iter()
            .filter(|e| e.fields.contains(&path))
            .map(|e| e.manager.as_str())
            .collect();
        assert_eq!(owner, ["other"]);
    }

    #[test]
    fn dropped_fields_are_removed_unless_owned_elsewhere() {
        let mut cfg = deploy(1, "nginx");
        cfg["metadata"]["labels"]["extra"] = json!("y");
        let live = apply(None, &cfg, &req("a", false)).expect("create");
        let next = apply(Some(&live), &deploy(1, "nginx"), &req("a", false)).expect("apply");
        assert!(next["metadata"]["labels"].get("extra").is_none());
        assert_eq!(next["metadata"]["labels"]["app"], "x");
    }

    #[test]
    fn strategic_merge_keys_containers() {
        let mut live = deploy(1, "nginx");
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"name": "app", "image": "busybox"}]
        }}}});
        strategic_merge(&mut live, &patch, "");
        let c = &live["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "busybox");
        assert_eq!(c["ports"][0]["containerPort"], 80);
        assert!(live["spec"]["template"]["spec"]
            .get("$setElementOrder/containers")
            .is_none());
    }
}
