//! The default backend: one sled database per stack. Each commit is one sled transaction over the
//! record and journal trees, flushed to disk before it returns.

use crate::{
    now_rfc3339, Change, HistoryEntry, JournalEntry, Meta, StateError, StateStore, FORMAT_VERSION,
};
use meshctl_model::record::NodeRecord;
use meshctl_model::Address;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::path::Path;

pub struct SledStore {
    path: String,
    db: sled::Db,
    meta: sled::Tree,
    records: sled::Tree,
    journal: sled::Tree,
    history: sled::Tree,
}

const META_KEY: &[u8] = b"meta";

impl SledStore {
    /// Opens (or creates) the state of `stack` in `dir`. Refuses a state of a newer format or of
    /// another stack. Callers hold the `StateLock` of `dir` first.
    pub fn open(dir: &Path, stack: &str) -> Result<SledStore, StateError> {
        let path = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
            path: path.clone(),
            source,
        })?;
        let db_error = |e: sled::Error| StateError::Database {
            path: path.clone(),
            detail: e.to_string(),
        };
        let db = sled::Config::new()
            .path(dir.join("db"))
            .open()
            .map_err(db_error)?;
        let store = SledStore {
            meta: db.open_tree("meta").map_err(db_error)?,
            records: db.open_tree("records").map_err(db_error)?,
            journal: db.open_tree("journal").map_err(db_error)?,
            history: db.open_tree("history").map_err(db_error)?,
            db,
            path: path.clone(),
        };
        match store.meta.get(META_KEY).map_err(db_error)? {
            None => {
                let meta = Meta {
                    format_version: FORMAT_VERSION,
                    lineage: uuid::Uuid::new_v4().to_string(),
                    serial: 0,
                    stack: stack.to_string(),
                };
                store
                    .meta
                    .insert(META_KEY, store.encode(&meta)?)
                    .map_err(db_error)?;
                store.flush()?;
            }
            Some(bytes) => {
                // Read the version alone first, so a newer format is refused, not misparsed.
                let version: serde_json::Value = store.decode(&bytes)?;
                let found = version
                    .get("format_version")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                if found > u64::from(FORMAT_VERSION) {
                    return Err(StateError::NewerFormat {
                        path,
                        found: u32::try_from(found).unwrap_or(u32::MAX),
                        supported: FORMAT_VERSION,
                    });
                }
                let meta: Meta = store.decode(&bytes)?;
                if meta.stack != stack {
                    return Err(StateError::ForeignStack {
                        path,
                        found: meta.stack,
                        expected: stack.to_string(),
                    });
                }
            }
        }
        Ok(store)
    }

    fn db_error(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Database {
            path: self.path.clone(),
            detail: e.to_string(),
        }
    }

    fn encode<T: serde::Serialize>(&self, value: &T) -> Result<Vec<u8>, StateError> {
        serde_json::to_vec(value)
            .map_err(|e| StateError::Invalid(format!("cannot encode state: {e}")))
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, StateError> {
        serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })
    }

    fn flush(&self) -> Result<(), StateError> {
        self.db.flush().map(|_| ()).map_err(|e| self.db_error(e))
    }

    fn write_meta(&self, meta: &Meta) -> Result<(), StateError> {
        self.meta
            .insert(META_KEY, self.encode(meta)?)
            .map_err(|e| self.db_error(e))?;
        Ok(())
    }
}

impl StateStore for SledStore {
    fn meta(&self) -> Result<Meta, StateError> {
        let bytes = self
            .meta
            .get(META_KEY)
            .map_err(|e| self.db_error(e))?
            .ok_or_else(|| StateError::Corrupt {
                path: self.path.clone(),
                detail: "no metadata".into(),
            })?;
        self.decode(&bytes)
    }

    fn records(&self) -> Result<Vec<NodeRecord>, StateError> {
        self.records
            .iter()
            .values()
            .map(|v| self.decode(&v.map_err(|e| self.db_error(e))?))
            .collect()
    }

    fn record(&self, address: &Address) -> Result<Option<NodeRecord>, StateError> {
        match self
            .records
            .get(address.to_string())
            .map_err(|e| self.db_error(e))?
        {
            Some(bytes) => self.decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn commit(&self, change: Change) -> Result<(), StateError> {
        let puts = change
            .put
            .iter()
            .map(|r| Ok((r.address.to_string(), self.encode(r)?)))
            .collect::<Result<Vec<_>, StateError>>()?;
        let opens = change
            .open
            .iter()
            .map(|j| Ok((j.id.to_be_bytes(), self.encode(j)?)))
            .collect::<Result<Vec<_>, StateError>>()?;
        (&self.records, &self.journal)
            .transaction(|(records, journal)| {
                for (key, value) in &puts {
                    records.insert(key.as_bytes(), value.as_slice())?;
                }
                for address in &change.remove {
                    records.remove(address.to_string().as_bytes())?;
                }
                for (key, value) in &opens {
                    journal.insert(&key[..], value.as_slice())?;
                }
                for id in &change.close {
                    journal.remove(&id.to_be_bytes()[..])?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e: TransactionError<()>| self.db_error(format!("{e:?}")))?;
        self.flush()
    }

    fn journal(&self) -> Result<Vec<JournalEntry>, StateError> {
        self.journal
            .iter()
            .values()
            .map(|v| self.decode(&v.map_err(|e| self.db_error(e))?))
            .collect()
    }

    fn next_journal_id(&self) -> Result<u64, StateError> {
        self.db.generate_id().map_err(|e| self.db_error(e))
    }

    fn finish(&self, operation: &str, changed: &[Address]) -> Result<u64, StateError> {
        let mut meta = self.meta()?;
        meta.serial += 1;
        let changed = changed
            .iter()
            .map(|a| Ok((a.clone(), self.record(a)?)))
            .collect::<Result<Vec<_>, StateError>>()?;
        let entry = HistoryEntry {
            serial: meta.serial,
            at: now_rfc3339(),
            operation: operation.to_string(),
            changed,
        };
        self.history
            .insert(meta.serial.to_be_bytes(), self.encode(&entry)?)
            .map_err(|e| self.db_error(e))?;
        self.write_meta(&meta)?;
        self.flush()?;
        Ok(meta.serial)
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        self.history
            .iter()
            .values()
            .map(|v| self.decode(&v.map_err(|e| self.db_error(e))?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Change, Operation};
    use meshctl_model::record::Status;
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

    #[test]
    fn commits_survive_reopening_and_serial_counts_runs() {
        let dir = tempfile::tempdir().unwrap();
        let lineage = {
            let store = SledStore::open(dir.path(), "demo").unwrap();
            let id = store.next_journal_id().unwrap();
            let entry = JournalEntry {
                id,
                address: Address::new(Kind::Vpc, "a"),
                operation: Operation::Create,
                started: now_rfc3339(),
                objects: vec![],
            };
            store
                .commit(Change {
                    put: vec![record("a"), record("b")],
                    open: vec![entry],
                    ..Change::default()
                })
                .unwrap();
            assert_eq!(
                store
                    .finish("apply", &[Address::new(Kind::Vpc, "a")])
                    .unwrap(),
                1
            );
            store.meta().unwrap().lineage
        };
        let store = SledStore::open(dir.path(), "demo").unwrap();
        let meta = store.meta().unwrap();
        assert_eq!((meta.serial, meta.lineage), (1, lineage));
        assert_eq!(store.records().unwrap().len(), 2);
        assert_eq!(
            store.journal().unwrap().len(),
            1,
            "an open journal entry survives a restart"
        );
        assert_eq!(
            store.history().unwrap()[0].changed[0].0,
            Address::new(Kind::Vpc, "a")
        );
    }

    #[test]
    fn refuses_newer_formats_and_other_stacks() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path(), "demo").unwrap();
            let mut meta = store.meta().unwrap();
            meta.format_version = FORMAT_VERSION + 1;
            store.write_meta(&meta).unwrap();
            store.flush().unwrap();
        }
        assert!(matches!(
            SledStore::open(dir.path(), "demo"),
            Err(StateError::NewerFormat { .. })
        ));
        let other = tempfile::tempdir().unwrap();
        drop(SledStore::open(other.path(), "demo").unwrap());
        let err = SledStore::open(other.path(), "prod").err().unwrap();
        assert!(err.to_string().contains("belongs to stack `demo`"), "{err}");
    }

    #[test]
    fn rm_and_mv_edit_records_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), "demo").unwrap();
        store
            .commit(Change {
                put: vec![record("a"), record("b")],
                ..Change::default()
            })
            .unwrap();
        store
            .rename(&Address::new(Kind::Vpc, "a"), &Address::new(Kind::Vpc, "c"))
            .unwrap();
        assert!(store
            .rename(&Address::new(Kind::Vpc, "b"), &Address::new(Kind::Vpc, "c"))
            .is_err());
        assert!(store
            .rename(
                &Address::new(Kind::Vpc, "b"),
                &Address::new(Kind::Namespace, "b")
            )
            .is_err());
        store.remove(&Address::new(Kind::Vpc, "b")).unwrap();
        let names: Vec<String> = store
            .records()
            .unwrap()
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        assert_eq!(names, ["vpc.c"]);
        assert_eq!(store.meta().unwrap().serial, 2);
    }
}
