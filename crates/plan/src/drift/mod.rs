//! Drift: where the live world has moved from what state records. One comparison serves the
//! planner (drift becomes an update back to the stack), `meshctl drift` (a report) and
//! `meshctl refresh` (accepting the live values into state).

pub mod render;

use crate::diff::{flatten, pointer_of, segments, FieldChange};
use meshctl_model::record::{FieldDrift, NodeRecord, Status};
use meshctl_model::{Address, Kind};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What refresh read of one recorded resource that still exists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    /// The managed fields, shaped like the resource's desired fields (AWS kinds).
    pub fields: Value,
    /// Differences the provider found in terms of its own objects (cluster kinds), measured
    /// against what was applied.
    pub drifts: Vec<FieldDrift>,
}

/// Refresh results by address: `None` when the resource's objects are gone.
pub type LiveWorld = BTreeMap<Address, Option<Live>>;

/// Where the live world differs from what was applied: the provider's own findings, and the
/// fields of `live.fields` that differ from the record. A value on one side only counts when the
/// field holding it is on both sides (a tag added to the tags the stack sets, a policy detached);
/// a field only the live read has is a server default the stack does not set, and one only the
/// record has is a field the provider does not read back.
pub fn applied_drifts(record: &NodeRecord, live: &Live) -> Vec<FieldDrift> {
    let applied = flatten(&record.desired);
    // State records secrets as digests (`recorded`): read values are compared in that form.
    let read = flatten(&crate::recorded::recorded_form(&live.fields));
    let mut paths: Vec<&String> = applied.keys().chain(read.keys()).collect();
    paths.sort();
    paths.dedup();
    let mut drifts: Vec<FieldDrift> = paths
        .into_iter()
        .filter_map(|path| {
            let (recorded, now) = (applied.get(path), read.get(path));
            if recorded == now {
                return None;
            }
            let managed = (recorded.is_some() && now.is_some()) || {
                let parts = segments(path);
                let parent = pointer_of(&parts[..parts.len().saturating_sub(1)]);
                !parent.is_empty()
                    && record.desired.pointer(&parent).is_some()
                    && live.fields.pointer(&parent).is_some()
            };
            managed.then(|| FieldDrift {
                path: path.clone(),
                applied: recorded.cloned(),
                live: now.cloned(),
            })
        })
        .collect();
    // A provider measures its objects against what state recorded, where a secret is a digest:
    // the live side is compared in the same form, so an unchanged secret is no drift.
    drifts.extend(live.drifts.iter().filter_map(|drift| {
        let drift = FieldDrift {
            path: drift.path.clone(),
            applied: drift.applied.as_ref().map(crate::recorded::recorded_form),
            live: drift.live.as_ref().map(crate::recorded::recorded_form),
        };
        (drift.applied != drift.live).then_some(drift)
    }));
    drifts
}

/// One field as a drift report shows it: what state says (applied, or accepted by refresh) and
/// what is live. `None` is a value absent on that side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftedField {
    pub path: String,
    pub recorded: Option<Value>,
    pub live: Option<Value>,
}

/// Where the live world differs from what state says, after what `meshctl refresh` accepted.
pub fn drifted_fields(record: &NodeRecord, live: &Live) -> Vec<DriftedField> {
    let accepted: BTreeMap<&str, &FieldDrift> = record
        .accepted
        .iter()
        .map(|a| (a.path.as_str(), a))
        .collect();
    let found = applied_drifts(record, live);
    let mut fields: Vec<DriftedField> = found
        .iter()
        .filter_map(|d| {
            let recorded = match accepted.get(d.path.as_str()) {
                Some(a) => a.live.clone(),
                None => d.applied.clone(),
            };
            (recorded != d.live).then(|| DriftedField {
                path: d.path.clone(),
                recorded,
                live: d.live.clone(),
            })
        })
        .collect();
    // An accepted value the read no longer reports: the field is back at its applied value.
    for a in &record.accepted {
        if !found.iter().any(|d| d.path == a.path) {
            fields.push(DriftedField {
                path: a.path.clone(),
                recorded: a.live.clone(),
                live: a.applied.clone(),
            });
        }
    }
    fields.sort_by(|a, b| a.path.cmp(&b.path));
    // Sensitive values are never printed; that they moved is still drift.
    let sensitive = record.address.kind.schema().sensitive;
    for field in &mut fields {
        if sensitive.contains(&crate::diff::top_field(&field.path)) {
            for value in [&mut field.recorded, &mut field.live].into_iter().flatten() {
                *value = Value::String("(sensitive)".to_string());
            }
        }
    }
    fields
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftKind {
    /// Fields moved.
    Changed,
    /// Everything the resource owned is gone.
    Deleted,
    /// A failed apply left it in an unknown shape (or a run stopped half way).
    Tainted,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Changed => "changed",
            DriftKind::Deleted => "deleted",
            DriftKind::Tainted => "tainted",
        }
    }
}

/// One resource that moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceDrift {
    pub address: Address,
    pub kind: Kind,
    pub drift: DriftKind,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<DriftedField>,
    /// For a deleted resource: the objects it owned, as state records them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Version of the drift document (`--format json`); bumped on incompatible change.
pub const DRIFT_FORMAT_VERSION: u32 = 1;

/// The answer to "has anyone changed it by hand?" for one stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub format_version: u32,
    pub stack: String,
    /// When the live world was read (RFC 3339).
    pub checked_at: String,
    #[serde(skip)]
    pub checked_at_unix: u64,
    /// Recorded resources compared with the live world.
    pub resources_checked: usize,
    /// How many of them moved.
    pub drifted: usize,
    pub resources: Vec<ResourceDrift>,
    /// Recorded resources this build could not read (no provider for their kind).
    pub not_read: Vec<Address>,
    /// Differences the stack's `lifecycle.ignore_changes` leaves to someone else (an
    /// autoscaler): not drift, listed so that a reader knows they were seen.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredField>,
    /// The kinds state records, so a metric per kind can say 0.
    #[serde(skip)]
    pub kinds: BTreeSet<Kind>,
}

impl DriftReport {
    pub fn has_drift(&self) -> bool {
        !self.resources.is_empty()
    }
}

/// A difference in a field the resource's `lifecycle.ignore_changes` names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredField {
    pub address: Address,
    #[serde(flatten)]
    pub field: DriftedField,
}

/// `lifecycle.ignore_changes` by address: the fields whose drift is not reported.
pub type IgnoreChanges = BTreeMap<Address, Vec<String>>;

/// When a check ran.
#[derive(Debug, Clone)]
pub struct CheckedAt {
    pub rfc3339: String,
    pub unix: u64,
}

/// Compares every record with what refresh read. Records missing from `live` were not read.
pub fn report(
    stack: &str,
    records: &[NodeRecord],
    live: &LiveWorld,
    checked_at: CheckedAt,
) -> DriftReport {
    report_ignoring(stack, records, live, &IgnoreChanges::new(), checked_at)
}

/// `report`, leaving out the fields `ignore` names for each address (listed as `ignored`).
pub fn report_ignoring(
    stack: &str,
    records: &[NodeRecord],
    live: &LiveWorld,
    ignore: &IgnoreChanges,
    checked_at: CheckedAt,
) -> DriftReport {
    let mut resources = Vec::new();
    let mut ignored = Vec::new();
    let mut not_read = Vec::new();
    let mut checked = 0;
    let mut sorted: Vec<&NodeRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.address.cmp(&b.address));
    for record in sorted {
        let mut drift = ResourceDrift {
            address: record.address.clone(),
            kind: record.address.kind,
            drift: DriftKind::Changed,
            fields: Vec::new(),
            objects: Vec::new(),
            reason: None,
        };
        if !record.status.is_settled() {
            checked += 1;
            drift.drift = DriftKind::Tainted;
            drift.reason = Some(
                match record.status {
                    Status::Creating => "a run stopped while creating it",
                    Status::Deleting => "a run stopped while deleting it",
                    _ => "a failed apply left it in an unknown shape",
                }
                .to_string(),
            );
            resources.push(drift);
            continue;
        }
        let Some(found) = live.get(&record.address) else {
            not_read.push(record.address.clone());
            continue;
        };
        checked += 1;
        match found {
            None => {
                drift.drift = DriftKind::Deleted;
                drift.objects = record.objects.iter().map(describe_object).collect();
                resources.push(drift);
            }
            Some(found) => {
                let rules = ignore.get(&record.address).map_or(&[][..], Vec::as_slice);
                let (fields, left): (Vec<DriftedField>, Vec<DriftedField>) =
                    drifted_fields(record, found).into_iter().partition(|f| {
                        !rules
                            .iter()
                            .any(|rule| meshctl_model::lifecycle::covers(rule, &f.path))
                    });
                ignored.extend(left.into_iter().map(|field| IgnoredField {
                    address: record.address.clone(),
                    field,
                }));
                drift.fields = fields;
                if !drift.fields.is_empty() {
                    resources.push(drift);
                }
            }
        }
    }
    DriftReport {
        format_version: DRIFT_FORMAT_VERSION,
        stack: stack.to_string(),
        checked_at: checked_at.rfc3339,
        checked_at_unix: checked_at.unix,
        resources_checked: checked,
        drifted: resources.len(),
        resources,
        not_read,
        ignored,
        kinds: records.iter().map(|r| r.address.kind).collect(),
    }
}

/// An owned object as people name it: `Gateway istio-system/monitor-gateway` for a cluster
/// object, `kind id` otherwise.
fn describe_object(object: &meshctl_model::record::OwnedObject) -> String {
    match object.kind.strip_prefix("k8s:") {
        Some(api_and_kind) => {
            let kind = api_and_kind.rsplit('/').next().unwrap_or(api_and_kind);
            format!("{kind} {}", object.id)
        }
        None => format!("{} {}", object.kind, object.id),
    }
}

/// The record after `meshctl refresh` accepts what `drift` found: `None` when the resource was
/// deleted outside meshctl and leaves state. Tainted records are returned unchanged (apply
/// replaces them); changed fields become accepted values, and an accepted value the world has
/// returned from is dropped.
pub fn accept(record: &NodeRecord, drift: &ResourceDrift) -> Option<NodeRecord> {
    match drift.drift {
        DriftKind::Deleted => None,
        DriftKind::Tainted => Some(record.clone()),
        DriftKind::Changed => {
            let mut accepted: BTreeMap<String, FieldDrift> = record
                .accepted
                .iter()
                .map(|a| (a.path.clone(), a.clone()))
                .collect();
            for field in &drift.fields {
                let applied = match accepted.get(&field.path) {
                    Some(a) => a.applied.clone(),
                    None => field.recorded.clone(),
                };
                if applied == field.live {
                    accepted.remove(&field.path);
                } else {
                    accepted.insert(
                        field.path.clone(),
                        FieldDrift {
                            path: field.path.clone(),
                            applied,
                            live: field.live.clone(),
                        },
                    );
                }
            }
            let mut record = record.clone();
            record.accepted = accepted.into_values().collect();
            Some(record)
        }
    }
}

/// What `meshctl refresh` writes to state for a whole report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Acceptance {
    /// Records with their accepted values.
    pub put: Vec<NodeRecord>,
    /// Records of resources deleted outside meshctl, forgotten.
    pub remove: Vec<Address>,
    /// Deleted resources kept in state because the records listed use their outputs (a
    /// VirtualService is rendered from its Gateway's recorded name): apply recreates them.
    pub kept: Vec<(Address, Vec<Address>)>,
}

impl Acceptance {
    /// Every record this acceptance changes.
    pub fn changed(&self) -> Vec<Address> {
        let mut changed: Vec<Address> = self.put.iter().map(|r| r.address.clone()).collect();
        changed.extend(self.remove.iter().cloned());
        changed
    }
}

/// Accepts every drifted resource of `report` (see [`accept`]), keeping deleted ones that records
/// staying in state depend on.
pub fn accept_report(records: &[NodeRecord], report: &DriftReport) -> Acceptance {
    let mut acceptance = Acceptance::default();
    let deleted: BTreeSet<&Address> = report
        .resources
        .iter()
        .filter(|r| r.drift == DriftKind::Deleted)
        .map(|r| &r.address)
        .collect();
    for drifted in &report.resources {
        let Some(record) = records.iter().find(|r| r.address == drifted.address) else {
            continue;
        };
        match accept(record, drifted) {
            Some(accepted) if &accepted == record => {}
            Some(accepted) => acceptance.put.push(accepted),
            None => {
                let users: Vec<Address> = records
                    .iter()
                    .filter(|r| {
                        r.dependencies.contains(&record.address) && !deleted.contains(&r.address)
                    })
                    .map(|r| r.address.clone())
                    .collect();
                if users.is_empty() {
                    acceptance.remove.push(record.address.clone());
                } else {
                    acceptance.kept.push((record.address.clone(), users));
                }
            }
        }
    }
    acceptance
}

/// What the world holds before an update: the recorded fields, with each field the plan found
/// moved set to what is live (its `old`): changed, added inside a recorded field, or removed. A
/// provider that changes only what differs from its prior then also puts back what moved outside
/// meshctl. Paths that are not fields of the record (a cluster object's) are left to the
/// provider, which applies its objects whole.
pub fn world_before(recorded: &Value, fields: &[FieldChange]) -> Value {
    let mut world = recorded.clone();
    // Last path first, so removing array items keeps the indices of the ones still to visit.
    let mut fields: Vec<&FieldChange> = fields.iter().collect();
    fields.sort_by(|a, b| b.path.cmp(&a.path));
    for field in fields {
        let parts = segments(&field.path);
        let Some((last, parent)) = parts.split_last() else {
            continue;
        };
        // A field only one side has at the top is not drift, and a cluster object's path is not
        // a field of the record: neither is added or removed.
        if parent.is_empty() && world.get(last.as_str()).is_none() {
            continue;
        }
        let Some(container) = world.pointer_mut(&pointer_of(parent)) else {
            continue;
        };
        match (container, &field.old) {
            (Value::Object(map), Some(old)) => {
                map.insert(last.clone(), old.clone());
            }
            (Value::Object(map), None) if !parent.is_empty() => {
                map.remove(last);
            }
            (Value::Array(items), old) => {
                let Ok(index) = last.parse::<usize>() else {
                    continue;
                };
                match old {
                    Some(old) if index < items.len() => items[index] = old.clone(),
                    Some(old) if index == items.len() => items.push(old.clone()),
                    None if index < items.len() => {
                        items.remove(index);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    world
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// State holds a secret as its digest; the live world holds the secret. Unchanged, that is no
    /// drift; changed, it is one, reported without the secret.
    #[test]
    fn secrets_are_compared_as_state_records_them() {
        let token = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
        let record: NodeRecord = serde_json::from_value(json!({
            "address": "manifest.config",
            "status": "ok",
            "desired": crate::recorded::recorded_form(&json!({ "token": token })),
        }))
        .unwrap();
        let path = "ConfigMap app/config data.token";
        let live = |now: &str| Live {
            fields: json!({ "token": now }),
            drifts: vec![FieldDrift {
                path: path.to_string(),
                applied: Some(crate::recorded::recorded_form(&json!(token))),
                live: Some(json!(now)),
            }],
        };
        assert_eq!(applied_drifts(&record, &live(token)), Vec::new());
        let other = "ghp_9999999999abcdefghijABCDEFGHIJ012345";
        let drifts = applied_drifts(&record, &live(other));
        assert_eq!(drifts.len(), 2, "{drifts:?}");
        assert!(!format!("{drifts:?}").contains(other), "{drifts:?}");
    }
}
