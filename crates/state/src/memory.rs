//! An in-memory `StateStore`: for tests of the planner and engine, and to serve a state read from
//! its backup (read-only commands while another meshctl holds the database).

use crate::{
    now_rfc3339, Change, HistoryEntry, JournalEntry, Meta, Snapshot, StateError, StateStore,
};
use meshctl_model::record::NodeRecord;
use meshctl_model::Address;
use std::collections::BTreeMap;
use std::sync::Mutex;

pub struct MemoryStore {
    inner: Mutex<Inner>,
}

struct Inner {
    meta: Meta,
    records: BTreeMap<String, NodeRecord>,
    journal: BTreeMap<u64, JournalEntry>,
    history: Vec<HistoryEntry>,
    next_id: u64,
}

impl MemoryStore {
    pub fn new(stack: &str) -> Self {
        MemoryStore {
            inner: Mutex::new(Inner {
                meta: crate::new_meta(stack),
                records: BTreeMap::new(),
                journal: BTreeMap::new(),
                history: Vec::new(),
                next_id: 1,
            }),
        }
    }

    /// The state a snapshot holds (as `Backup::load` reads it).
    pub fn from_snapshot(snapshot: crate::Snapshot) -> Self {
        let next_id = snapshot.journal.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        MemoryStore {
            inner: Mutex::new(Inner {
                meta: snapshot.meta,
                records: snapshot
                    .records
                    .into_iter()
                    .map(|r| (r.address.to_string(), r))
                    .collect(),
                journal: snapshot.journal.into_iter().map(|j| (j.id, j)).collect(),
                history: snapshot.history,
                next_id,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied change (changes are applied
        // after all checks), so a poisoned mutex still holds consistent data.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl StateStore for MemoryStore {
    fn meta(&self) -> Result<Meta, StateError> {
        Ok(self.lock().meta.clone())
    }

    fn records(&self) -> Result<Vec<NodeRecord>, StateError> {
        Ok(self.lock().records.values().cloned().collect())
    }

    fn record(&self, address: &Address) -> Result<Option<NodeRecord>, StateError> {
        Ok(self.lock().records.get(&address.to_string()).cloned())
    }

    fn commit(&self, change: Change) -> Result<(), StateError> {
        let inner = &mut *self.lock();
        change.apply_to(&mut inner.records, &mut inner.journal);
        Ok(())
    }

    /// Memory is all there is: the same as `commit`.
    fn commit_behind(&self, change: Change) -> Result<(), StateError> {
        self.commit(change)
    }

    fn sync(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn journal(&self) -> Result<Vec<JournalEntry>, StateError> {
        Ok(self.lock().journal.values().cloned().collect())
    }

    fn next_journal_id(&self) -> Result<u64, StateError> {
        let mut inner = self.lock();
        inner.next_id += 1;
        Ok(inner.next_id)
    }

    fn finish(&self, operation: &str, changed: &[Address]) -> Result<u64, StateError> {
        self.finish_run(operation, changed, None)
    }

    fn finish_run(
        &self,
        operation: &str,
        changed: &[Address],
        var_set: Option<&str>,
    ) -> Result<u64, StateError> {
        let mut inner = self.lock();
        inner.meta.serial += 1;
        if let Some(var_set) = var_set {
            inner.meta.var_set = Some(var_set.to_string());
        }
        let changed = changed
            .iter()
            .map(|a| (a.clone(), inner.records.get(&a.to_string()).cloned()))
            .collect();
        let entry = HistoryEntry {
            serial: inner.meta.serial,
            at: now_rfc3339(),
            operation: operation.to_string(),
            changed,
        };
        inner.history.push(entry);
        Ok(inner.meta.serial)
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        Ok(self.lock().history.clone())
    }

    fn replace(&self, snapshot: Snapshot, force: bool) -> Result<u64, StateError> {
        let current = self.snapshot()?;
        let replacement = crate::check_replace(
            "the in-memory state",
            &current,
            crate::is_empty(&current),
            &snapshot,
            force,
        )?;
        let replaced = MemoryStore::from_snapshot(crate::replaced(snapshot, replacement));
        let serial = replaced.lock().meta.serial;
        let mut inner = self.lock();
        let next_id = inner.next_id;
        *inner = replaced
            .inner
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        inner.next_id = inner.next_id.max(next_id);
        Ok(serial)
    }
}
