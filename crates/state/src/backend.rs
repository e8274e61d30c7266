//! Where a stack's state lives, with its lock: the one abstraction every command opens state
//! through. A `Backend` names the place, takes and breaks its lock, opens the `StateStore` there
//! and reads it without the lock; `LocalBackend` is the sled directory (the default), the S3
//! backend lives in the meshctl-state-s3 crate. The rule for replacing a whole state (`state
//! push`, `state migrate`) is here, once, for every store.

use crate::backup::{Backup, Snapshot};
use crate::lock::{force_unlock, LockInfo, StateLock};
use crate::{now_rfc3339, HistoryEntry, MemoryStore, Meta, SledStore, StateError, StateStore};
use meshctl_model::Address;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A lock held on a state; dropping it releases the lock (only while it is still this holder's:
/// a lock broken by `force-unlock` and taken by another is left alone).
pub trait HeldLock: Send + Sync + std::fmt::Debug {
    fn info(&self) -> &LockInfo;
    /// The dead holder whose lock this one replaced, and why it counts as dead.
    fn took_over(&self) -> Option<&(LockInfo, String)>;
}

/// A state opened for reading only, without waiting for its lock.
pub struct ReadOnly {
    pub store: Box<dyn StateStore>,
    /// The lock, when the backend took it to read (the sled directory, whose database a live
    /// holder keeps to itself); `None` when it read without it.
    pub lock: Option<Box<dyn HeldLock>>,
    /// What a person should know about what is shown (e.g. "locked by X; showing its backup").
    pub note: Option<String>,
}

/// Where one stack's state lives: a sled directory or an S3 object, with its lock.
pub trait Backend: Send + Sync {
    /// The place, for messages: the directory, or `s3://bucket/key`.
    fn describe(&self) -> String;
    /// Whether a state exists there. Commands that only read state create none.
    fn exists(&self) -> Result<bool, StateError>;
    /// Takes the lock for `operation`, waiting up to `timeout` for another holder to release it;
    /// `StateError::Locked` naming the holder when it does not.
    fn lock(&self, operation: &str, timeout: Duration) -> Result<Box<dyn HeldLock>, StateError>;
    /// Breaks the lock if its ID is `id`; returns the holder it broke.
    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError>;
    /// Opens the state of `stack`, creating it when there is none. Callers hold `lock()` first.
    fn open(&self, stack: &str) -> Result<Box<dyn StateStore>, StateError>;
    /// The state of `stack` for a command that only reads it, without waiting for the lock;
    /// `None` when there is no state.
    fn read_only(&self, stack: &str, operation: &str) -> Result<Option<ReadOnly>, StateError>;
}

/// The default backend: a sled database in a directory, with its lock file and backup there.
pub struct LocalBackend {
    pub dir: PathBuf,
}

impl LocalBackend {
    pub fn new(dir: impl Into<PathBuf>) -> LocalBackend {
        LocalBackend { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn exists(&self) -> Result<bool, StateError> {
        Ok(self.dir.exists())
    }

    fn lock(&self, operation: &str, timeout: Duration) -> Result<Box<dyn HeldLock>, StateError> {
        Ok(Box::new(StateLock::acquire(&self.dir, operation, timeout)?))
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        force_unlock(&self.dir, id)
    }

    fn open(&self, stack: &str) -> Result<Box<dyn StateStore>, StateError> {
        Ok(Box::new(SledStore::open(&self.dir, stack)?))
    }

    /// The database when the lock is free (taken for the read); while a live meshctl holds it
    /// (and the database with it), the backup: the last finished serial plus the commits of the
    /// run in progress. `StateError::Locked` when there is no backup to read meanwhile.
    fn read_only(&self, stack: &str, operation: &str) -> Result<Option<ReadOnly>, StateError> {
        if !self.dir.exists() {
            return Ok(None);
        }
        match StateLock::acquire(&self.dir, operation, Duration::ZERO) {
            Ok(lock) => {
                let store = SledStore::open(&self.dir, stack)?;
                Ok(Some(ReadOnly {
                    store: Box::new(store),
                    lock: Some(Box::new(lock)),
                    note: None,
                }))
            }
            Err(StateError::Locked(locked)) => {
                let holder = locked
                    .holder
                    .as_ref()
                    .map_or_else(|| "another meshctl".to_string(), |h| h.describe());
                let Some(loaded) = Backup::load(&self.dir)? else {
                    return Err(StateError::Locked(locked));
                };
                if loaded.state.meta.stack != stack {
                    return Err(StateError::ForeignStack {
                        path: self.dir.join(crate::BACKUP_FILE).display().to_string(),
                        found: loaded.state.meta.stack,
                        expected: stack.to_string(),
                    });
                }
                let note = format!(
                    "the state in {} is locked by {holder}; showing its backup: serial {}{}.",
                    self.dir.display(),
                    loaded.state.meta.serial,
                    if loaded.changes > 0 {
                        format!(
                            " and the {} change(s) committed since by the run in progress",
                            loaded.changes
                        )
                    } else {
                        String::new()
                    }
                );
                Ok(Some(ReadOnly {
                    store: Box::new(MemoryStore::from_snapshot(loaded.state)),
                    lock: None,
                    note: Some(note),
                }))
            }
            Err(other) => Err(other),
        }
    }
}

/// How a whole state replaces the one a store holds (`state push`, `state migrate`).
#[derive(Debug, Clone, PartialEq)]
pub struct Replacement {
    /// The serial the store has after the replacement.
    pub serial: u64,
    /// The history entry that records the replacement, `None` when the store held nothing (a
    /// state moved to a new place keeps its history as it was).
    pub entry: Option<HistoryEntry>,
}

/// Whether `current` (what `location` holds; `empty` when it was never written to: serial 0, no
/// records, no history) may be replaced by `incoming`, and how. Refused unless `force`: a state
/// of another stack, or over a non-empty state one of another lineage (it records other
/// objects) or of an older serial (it would undo finished runs). An equal serial is accepted:
/// that is the errored-state file of a run that could not save what it recorded. A non-empty
/// state gets a new serial above both, with a history entry naming what changed, so a plan made
/// before the push is stale after it.
pub fn check_replace(
    location: &str,
    current: &Snapshot,
    empty: bool,
    incoming: &Snapshot,
    force: bool,
) -> Result<Replacement, StateError> {
    if !force && incoming.meta.stack != current.meta.stack {
        return Err(StateError::ForeignStack {
            path: location.to_string(),
            found: incoming.meta.stack.clone(),
            expected: current.meta.stack.clone(),
        });
    }
    if !force && !empty {
        if incoming.meta.lineage != current.meta.lineage {
            return Err(StateError::OtherLineage {
                location: location.to_string(),
                current: current.meta.lineage.clone(),
                incoming: incoming.meta.lineage.clone(),
            });
        }
        if incoming.meta.serial < current.meta.serial {
            return Err(StateError::OlderSerial {
                location: location.to_string(),
                current: current.meta.serial,
                incoming: incoming.meta.serial,
            });
        }
    }
    if empty {
        return Ok(Replacement {
            serial: incoming.meta.serial,
            entry: None,
        });
    }
    let serial = current.meta.serial.max(incoming.meta.serial) + 1;
    let before: BTreeMap<String, &meshctl_model::record::NodeRecord> = current
        .records
        .iter()
        .map(|r| (r.address.to_string(), r))
        .collect();
    let after: BTreeMap<String, &meshctl_model::record::NodeRecord> = incoming
        .records
        .iter()
        .map(|r| (r.address.to_string(), r))
        .collect();
    let mut changed: Vec<(Address, Option<meshctl_model::record::NodeRecord>)> = Vec::new();
    for (key, record) in &after {
        if before.get(key) != Some(record) {
            changed.push((record.address.clone(), Some((*record).clone())));
        }
    }
    for (key, record) in &before {
        if !after.contains_key(key) {
            changed.push((record.address.clone(), None));
        }
    }
    Ok(Replacement {
        serial,
        entry: Some(HistoryEntry {
            serial,
            at: now_rfc3339(),
            operation: if force {
                "state push --force".to_string()
            } else {
                "state push".to_string()
            },
            changed,
        }),
    })
}

/// `incoming` as it is after replacing `current` by `check_replace`'s rule: its meta at the new
/// serial, its history extended by the replacement's entry.
pub fn replaced(incoming: Snapshot, replacement: Replacement) -> Snapshot {
    let mut snapshot = incoming;
    snapshot.meta.serial = replacement.serial;
    snapshot.written = now_rfc3339();
    if let Some(entry) = replacement.entry {
        snapshot.history.retain(|h| h.serial < entry.serial);
        snapshot.history.push(entry);
    }
    snapshot
}

/// Whether `snapshot` is a state never written to (as a new store starts).
pub fn is_empty(snapshot: &Snapshot) -> bool {
    snapshot.meta.serial == 0 && snapshot.records.is_empty() && snapshot.history.is_empty()
}

/// `Meta` of a new state of `stack`.
pub fn new_meta(stack: &str) -> Meta {
    Meta {
        format_version: crate::FORMAT_VERSION,
        lineage: uuid::Uuid::new_v4().to_string(),
        serial: 0,
        stack: stack.to_string(),
        var_set: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Change;
    use meshctl_model::record::{NodeRecord, Status};
    use meshctl_model::Kind;

    fn record(name: &str) -> NodeRecord {
        NodeRecord {
            accepted: Vec::new(),
            address: Address::new(Kind::Vpc, name),
            status: Status::Ok,
            desired: serde_json::json!({"cidr": "10.0.0.0/16"}),
            live: None,
            outputs: Default::default(),
            objects: vec![],
            dependencies: vec![],
            prevent_destroy: false,
        }
    }

    /// A sled state at serial 1 with records `a` and `b`.
    fn applied(dir: &Path) -> Box<dyn StateStore> {
        let store = LocalBackend::new(dir).open("demo").unwrap();
        store
            .commit(Change {
                put: vec![record("a"), record("b")],
                ..Change::default()
            })
            .unwrap();
        store
            .finish_run("apply", &[Address::new(Kind::Vpc, "a")], Some("vars-1"))
            .unwrap();
        store
    }

    #[test]
    fn var_set_is_recorded_by_finish_run_kept_by_finish_and_absent_in_old_states() {
        let dir = tempfile::tempdir().unwrap();
        let store = applied(dir.path());
        assert_eq!(store.meta().unwrap().var_set.as_deref(), Some("vars-1"));
        store.finish("state rm", &[]).unwrap();
        drop(store);
        let reopened = LocalBackend::new(dir.path()).open("demo").unwrap();
        assert_eq!(reopened.meta().unwrap().var_set.as_deref(), Some("vars-1"));
        let old: Meta =
            serde_json::from_str(r#"{"format_version":1,"lineage":"l","serial":3,"stack":"demo"}"#)
                .unwrap();
        assert_eq!(old.var_set, None);
        assert!(!serde_json::to_string(&old).unwrap().contains("var_set"));
    }

    #[test]
    fn a_new_store_takes_a_pushed_state_as_it_is() {
        let from = tempfile::tempdir().unwrap();
        let pulled = applied(from.path()).snapshot().unwrap();
        let to = tempfile::tempdir().unwrap();
        let target = LocalBackend::new(to.path()).open("demo").unwrap();
        assert_eq!(target.replace(pulled.clone(), false).unwrap(), 1);
        let moved = target.snapshot().unwrap();
        assert_eq!(moved.meta, pulled.meta);
        assert_eq!(moved.records, pulled.records);
        assert_eq!(moved.history, pulled.history);
        drop(target);
        let reopened = LocalBackend::new(to.path()).open("demo").unwrap();
        assert_eq!(reopened.meta().unwrap().lineage, pulled.meta.lineage);
        assert_eq!(reopened.records().unwrap().len(), 2);
    }

    #[test]
    fn a_push_is_refused_for_another_lineage_or_an_older_serial_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let store = applied(dir.path());
        let current = store.snapshot().unwrap();

        let mut other = current.clone();
        other.meta.lineage = "another".into();
        let err = store.replace(other.clone(), false).unwrap_err();
        assert!(matches!(err, StateError::OtherLineage { .. }), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");

        let mut older = current.clone();
        older.meta.serial = 0;
        let err = store.replace(older, false).unwrap_err();
        assert!(
            matches!(
                err,
                StateError::OlderSerial {
                    current: 1,
                    incoming: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            store.snapshot().unwrap().records,
            current.records,
            "refusals change nothing"
        );

        // The errored state of a run that could not save: same serial, one more record.
        let mut errored = current.clone();
        errored.records.push(record("c"));
        assert_eq!(store.replace(errored, false).unwrap(), 2);
        let history = store.history().unwrap();
        let push = history.last().unwrap();
        assert_eq!((push.serial, push.operation.as_str()), (2, "state push"));
        assert_eq!(
            push.changed,
            vec![(Address::new(Kind::Vpc, "c"), Some(record("c")))]
        );
        assert_eq!(store.records().unwrap().len(), 3);

        assert_eq!(store.replace(other, true).unwrap(), 3);
        assert_eq!(store.meta().unwrap().lineage, "another");
    }
}
