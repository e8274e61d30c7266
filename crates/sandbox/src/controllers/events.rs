//! core/v1 Events about the objects a controller manages, as `kubectl describe` and
//! `kubectl get events` show them. A repeated event bumps the count of the existing one instead
//! of piling up new objects, as the real event recorder does.

use serde_json::{json, Value};

use crate::kube::clock::now_rfc3339;
use crate::kube::{Gvr, Store, WriteOptions};

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Normal,
    Warning,
}

/// Records `reason: message` about `object` (which must carry apiVersion, kind and metadata),
/// as `component` reports it. Failures are only logged: an event is never worth a retry.
pub(crate) fn record(
    store: &Store,
    object: &Value,
    kind: EventKind,
    reason: &str,
    message: &str,
    component: &str,
) {
    let events = Gvr::new("", "v1", "events");
    let meta = &object["metadata"];
    let namespace = meta["namespace"].as_str().unwrap_or("default");
    let object_name = meta["name"].as_str().unwrap_or_default();
    let kind_str = match kind {
        EventKind::Normal => "Normal",
        EventKind::Warning => "Warning",
    };
    // One event object per (object, reason, message), like the recorder's aggregation key.
    let name = format!(
        "{object_name}.{:016x}",
        fnv64(&format!(
            "{}|{}|{kind_str}|{reason}|{message}",
            object["kind"], meta["uid"]
        ))
    );
    let now = now_rfc3339();
    let manager = WriteOptions::manager(component);
    if let Ok(mut existing) = store.get(&events, Some(namespace), &name) {
        let count = existing["count"].as_i64().unwrap_or(1) + 1;
        existing["count"] = json!(count);
        existing["lastTimestamp"] = json!(now);
        if let Some(m) = existing["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        if let Err(e) = store.update(&events, Some(namespace), &name, None, existing, &manager) {
            eprintln!("[{component}] updating event {namespace}/{name}: {e}");
        }
        return;
    }
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {
            "apiVersion": object["apiVersion"],
            "kind": object["kind"],
            "namespace": meta["namespace"],
            "name": object_name,
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
        },
        "reason": reason,
        "message": message,
        "type": kind_str,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    if let Err(e) = store.create(&events, Some(namespace), event, &manager) {
        eprintln!("[{component}] recording event {reason} on {namespace}/{object_name}: {e}");
    }
}

/// FNV-1a: a stable, dependency-free hash for names derived from content.
pub(crate) fn fnv64(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
