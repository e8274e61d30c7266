//! The default backend: one sled database per stack. Each commit is one sled transaction over the
//! record and journal trees, flushed to disk before it returns, then logged to the backup beside
//! the database; each finished serial rewrites the backup's snapshot (see `backup`). A database
//! that fails sled's checks is reported as `Damaged`, naming the backup; `restore` rebuilds it.

use crate::backup::{Backup, Snapshot};
use crate::{
    now_rfc3339, Change, Damaged, HistoryEntry, JournalEntry, Meta, StateError, StateStore,
    FORMAT_VERSION,
};

use meshctl_model::record::NodeRecord;
use meshctl_model::Address;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct SledStore {
    dir: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    records: sled::Tree,
    journal: sled::Tree,
    history: sled::Tree,
    backup: Backup,
    /// The serial as of the last `finish`, tagging each logged commit.
    serial: AtomicU64,
    /// Added to sled's ids: a restored database starts its ids anew, above the restored entries.
    journal_id_floor: AtomicU64,
}

const META_KEY: &[u8] = b"meta";
const JOURNAL_ID_FLOOR_KEY: &[u8] = b"journal_id_floor";
/// The database's directory inside the state directory.
const DATABASE: &str = "db";

/// What `SledStore::restore` brought back.
#[derive(Debug)]
pub struct Restored {
    pub serial: u64,
    /// RFC 3339: when the snapshot was written.
    pub written: String,
    pub records: usize,
    /// Commits of an unfinished run replayed on top of the snapshot.
    pub changes: usize,
    /// Operations in flight, restored into the journal: the next plan repairs them.
    pub open_journal: usize,
    /// Where the damaged database was moved, if there was one.
    pub damaged_kept: Option<PathBuf>,
    pub log_problem: Option<String>,
}

/// Maps a sled error: failed consistency checks are damage, anything else a database error.
fn sled_error(dir: &Path, e: sled::Error) -> StateError {
    match e {
        sled::Error::Corruption { .. } => StateError::Damaged(Box::new(Damaged::new(
            dir,
            "its files fail sled's consistency checks (data truncated or overwritten on disk)",
        ))),
        other => StateError::Database {
            path: dir.join(DATABASE).display().to_string(),
            detail: other.to_string(),
        },
    }
}

impl SledStore {
    /// Opens (or creates) the state of `stack` in `dir`. Refuses a state of a newer format or of
    /// another stack, and a damaged one. Writes the backup if there is none yet. Callers hold the
    /// `StateLock` of `dir` first.
    pub fn open(dir: &Path, stack: &str) -> Result<SledStore, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let backup = Backup::new(dir);
        if !dir.join(DATABASE).exists() && backup.exists() {
            // Opening would create an empty state, and the next apply would create everything
            // anew beside what exists.
            return Err(StateError::Damaged(Box::new(Damaged::new(
                dir,
                "its directory is missing, while a backup of it exists",
            ))));
        }
        let store = SledStore::open_database(dir, backup)?;
        match store.meta.get(META_KEY).map_err(|e| store.db_error(e))? {
            None => {
                let meta = crate::new_meta(stack);
                store.write_meta(&meta)?;
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
                        path: dir.display().to_string(),
                        found: u32::try_from(found).unwrap_or(u32::MAX),
                        supported: FORMAT_VERSION,
                    });
                }
                let meta: Meta = store.decode(&bytes)?;
                if meta.stack != stack {
                    return Err(StateError::ForeignStack {
                        path: dir.display().to_string(),
                        found: meta.stack,
                        expected: stack.to_string(),
                    });
                }
                store.serial.store(meta.serial, Ordering::SeqCst);
                // sled recovers a cut log to an older consistent point without complaint: a
                // database behind its own backup has lost finished runs.
                if let Some(saved) = Backup::meta(dir) {
                    if saved.lineage == meta.lineage && saved.serial > meta.serial {
                        return Err(StateError::Damaged(Box::new(Damaged::new(
                            dir,
                            format!(
                                "it is at serial {}, behind its own backup at serial {}: finished runs were lost from it",
                                meta.serial, saved.serial
                            ),
                        ))));
                    }
                }
            }
        }
        if !store.backup.exists() {
            store.backup.write(&store.snapshot()?)?;
        }
        Ok(store)
    }

    fn open_database(dir: &Path, backup: Backup) -> Result<SledStore, StateError> {
        let db = sled::Config::new()
            .path(dir.join(DATABASE))
            .open()
            .map_err(|e| sled_error(dir, e))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| sled_error(dir, e));
        let meta = tree("meta")?;
        let journal_id_floor = match meta
            .get(JOURNAL_ID_FLOOR_KEY)
            .map_err(|e| sled_error(dir, e))?
        {
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    StateError::Damaged(Box::new(Damaged::new(
                        dir,
                        "its journal id floor is not 8 bytes",
                    )))
                })?,
            None => 0,
        };
        Ok(SledStore {
            meta,
            records: tree("records")?,
            journal: tree("journal")?,
            history: tree("history")?,
            db,
            dir: dir.to_path_buf(),
            backup,
            serial: AtomicU64::new(0),
            journal_id_floor: AtomicU64::new(journal_id_floor),
        })
    }

    /// Rebuilds a damaged (or missing) database of `stack` in `dir` from its backup: the
    /// snapshot, then the commits logged after it. The damaged database is moved aside, not
    /// deleted. Callers hold the `StateLock` and have seen the database fail to open or read.
    pub fn restore(dir: &Path, stack: &str) -> Result<Restored, StateError> {
        let loaded = Backup::load(dir)?.ok_or_else(|| {
            StateError::Invalid(format!(
                "there is no backup in {} to restore from",
                dir.display()
            ))
        })?;
        let state = loaded.state;
        if state.meta.stack != stack {
            return Err(StateError::ForeignStack {
                path: dir.join(crate::BACKUP_FILE).display().to_string(),
                found: state.meta.stack,
                expected: stack.to_string(),
            });
        }
        if state.meta.format_version > FORMAT_VERSION {
            return Err(StateError::NewerFormat {
                path: dir.join(crate::BACKUP_FILE).display().to_string(),
                found: state.meta.format_version,
                supported: FORMAT_VERSION,
            });
        }
        let database = dir.join(DATABASE);
        let damaged_kept = if database.exists() {
            let stamp = now_rfc3339().replace(':', "");
            let kept = dir.join(format!("{DATABASE}.damaged-{stamp}"));
            std::fs::rename(&database, &kept).map_err(|source| StateError::Io {
                path: database.display().to_string(),
                source,
            })?;
            Some(kept)
        } else {
            None
        };
        let store = SledStore::open_database(dir, Backup::new(dir))?;
        for record in &state.records {
            store
                .records
                .insert(record.address.to_string(), store.encode(record)?)
                .map_err(|e| store.db_error(e))?;
        }
        for entry in &state.journal {
            store
                .journal
                .insert(entry.id.to_be_bytes(), store.encode(entry)?)
                .map_err(|e| store.db_error(e))?;
        }
        for entry in &state.history {
            store
                .history
                .insert(entry.serial.to_be_bytes(), store.encode(entry)?)
                .map_err(|e| store.db_error(e))?;
        }
        // The new database counts ids from zero again: start above every restored entry.
        let floor = state.journal.iter().map(|j| j.id + 1).max().unwrap_or(0);
        store
            .meta
            .insert(JOURNAL_ID_FLOOR_KEY, &floor.to_be_bytes())
            .map_err(|e| store.db_error(e))?;
        store.write_meta(&state.meta)?;
        store.flush()?;
        store.serial.store(state.meta.serial, Ordering::SeqCst);
        // Fold the replayed commits into a fresh snapshot.
        store.backup.write(&store.snapshot()?)?;
        Ok(Restored {
            serial: state.meta.serial,
            written: state.written,
            records: state.records.len(),
            changes: loaded.changes,
            open_journal: state.journal.len(),
            damaged_kept,
            log_problem: loaded.log_problem,
        })
    }

    /// The whole state, read and decoded: what the backup holds, and a check that every part of
    /// the database reads.
    pub fn snapshot(&self) -> Result<Snapshot, StateError> {
        Ok(Snapshot {
            meta: self.meta()?,
            written: now_rfc3339(),
            records: self.records()?,
            journal: self.journal()?,
            history: self.history()?,
        })
    }

    fn db_error(&self, e: sled::Error) -> StateError {
        sled_error(&self.dir, e)
    }

    fn encode<T: serde::Serialize>(&self, value: &T) -> Result<Vec<u8>, StateError> {
        serde_json::to_vec(value)
            .map_err(|e| StateError::Invalid(format!("cannot encode state: {e}")))
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, StateError> {
        serde_json::from_slice(bytes).map_err(|e| {
            StateError::Damaged(Box::new(Damaged::new(
                &self.dir,
                format!("a stored value does not decode ({e})"),
            )))
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
            .ok_or_else(|| {
                StateError::Damaged(Box::new(Damaged::new(&self.dir, "its metadata is missing")))
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

    /// A sled commit is one flushed transaction, about a millisecond: written at once.
    fn commit_behind(&self, change: Change) -> Result<(), StateError> {
        self.commit(change)
    }

    fn sync(&self) -> Result<(), StateError> {
        Ok(())
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
            .map_err(|e: TransactionError<()>| match e {
                TransactionError::Storage(e) => self.db_error(e),
                TransactionError::Abort(()) => StateError::Database {
                    path: self.dir.join(DATABASE).display().to_string(),
                    detail: "a commit was aborted".into(),
                },
            })?;
        self.flush()?;
        self.backup
            .log_change(self.serial.load(Ordering::SeqCst), &change)
    }

    fn journal(&self) -> Result<Vec<JournalEntry>, StateError> {
        self.journal
            .iter()
            .values()
            .map(|v| self.decode(&v.map_err(|e| self.db_error(e))?))
            .collect()
    }

    fn next_journal_id(&self) -> Result<u64, StateError> {
        let id = self.db.generate_id().map_err(|e| self.db_error(e))?;
        Ok(id.saturating_add(self.journal_id_floor.load(Ordering::SeqCst)))
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
        let mut meta = self.meta()?;
        meta.serial += 1;
        if let Some(var_set) = var_set {
            meta.var_set = Some(var_set.to_string());
        }
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
        self.serial.store(meta.serial, Ordering::SeqCst);
        self.backup.write(&self.snapshot()?)?;
        Ok(meta.serial)
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        self.history
            .iter()
            .values()
            .map(|v| self.decode(&v.map_err(|e| self.db_error(e))?))
            .collect()
    }

    fn snapshot(&self) -> Result<Snapshot, StateError> {
        SledStore::snapshot(self)
    }

    /// Replaces every tree's content in one transaction, then rewrites the backup.
    fn replace(&self, snapshot: Snapshot, force: bool) -> Result<u64, StateError> {
        let current = SledStore::snapshot(self)?;
        let replacement = crate::check_replace(
            &self.dir.display().to_string(),
            &current,
            crate::is_empty(&current),
            &snapshot,
            force,
        )?;
        let state = crate::replaced(snapshot, replacement);
        let records: Vec<(Vec<u8>, Vec<u8>)> = state
            .records
            .iter()
            .map(|r| Ok((r.address.to_string().into_bytes(), self.encode(r)?)))
            .collect::<Result<_, StateError>>()?;
        let journal: Vec<(Vec<u8>, Vec<u8>)> = state
            .journal
            .iter()
            .map(|j| Ok((j.id.to_be_bytes().to_vec(), self.encode(j)?)))
            .collect::<Result<_, StateError>>()?;
        let history: Vec<(Vec<u8>, Vec<u8>)> = state
            .history
            .iter()
            .map(|h| Ok((h.serial.to_be_bytes().to_vec(), self.encode(h)?)))
            .collect::<Result<_, StateError>>()?;
        let old_records = current_keys(&current.records, |r| r.address.to_string().into_bytes());
        let old_journal = current_keys(&current.journal, |j| j.id.to_be_bytes().to_vec());
        let old_history = current_keys(&current.history, |h| h.serial.to_be_bytes().to_vec());
        let meta = self.encode(&state.meta)?;
        // Journal ids of the pushed state may be above what this database hands out: start
        // above them (the floor only ever rises, so ids stay unique).
        let floor = state
            .journal
            .iter()
            .map(|j| j.id + 1)
            .max()
            .unwrap_or(0)
            .max(self.journal_id_floor.load(Ordering::SeqCst));
        (&self.meta, &self.records, &self.journal, &self.history)
            .transaction(|(meta_tree, records_tree, journal_tree, history_tree)| {
                for (tree, old, new) in [
                    (records_tree, &old_records, &records),
                    (journal_tree, &old_journal, &journal),
                    (history_tree, &old_history, &history),
                ] {
                    for key in old {
                        tree.remove(key.as_slice())?;
                    }
                    for (key, value) in new {
                        tree.insert(key.as_slice(), value.as_slice())?;
                    }
                }
                meta_tree.insert(META_KEY, meta.as_slice())?;
                meta_tree.insert(JOURNAL_ID_FLOOR_KEY, &floor.to_be_bytes())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e: TransactionError<()>| match e {
                TransactionError::Storage(e) => self.db_error(e),
                TransactionError::Abort(()) => StateError::Database {
                    path: self.dir.join(DATABASE).display().to_string(),
                    detail: "replacing the state was aborted".into(),
                },
            })?;
        self.flush()?;
        self.journal_id_floor.store(floor, Ordering::SeqCst);
        self.serial.store(state.meta.serial, Ordering::SeqCst);
        self.backup.write(&SledStore::snapshot(self)?)?;
        Ok(state.meta.serial)
    }
}

/// The keys `items` are stored under, by `key`.
fn current_keys<T>(items: &[T], key: impl Fn(&T) -> Vec<u8>) -> Vec<Vec<u8>> {
    items.iter().map(key).collect()
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
    fn a_database_behind_its_backup_is_damaged_and_restores_from_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path(), "demo").unwrap();
            store
                .commit(Change {
                    put: vec![record("a")],
                    ..Change::default()
                })
                .unwrap();
            store
                .finish("apply", &[Address::new(Kind::Vpc, "a")])
                .unwrap();
            store
                .commit(Change {
                    put: vec![record("b")],
                    ..Change::default()
                })
                .unwrap();
            // What a log cut back to an older consistent point looks like: an earlier serial.
            let mut meta = store.meta().unwrap();
            meta.serial = 0;
            store.write_meta(&meta).unwrap();
            store.flush().unwrap();
        }
        let err = SledStore::open(dir.path(), "demo")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("it is at serial 0, behind its own backup at serial 1")
                && err.contains("1 change(s) committed after it")
                && err.contains("meshctl state restore-backup --state"),
            "{err}"
        );
        let restored = SledStore::restore(dir.path(), "demo").unwrap();
        assert_eq!(
            (restored.serial, restored.records, restored.changes),
            (1, 2, 1)
        );
        let store = SledStore::open(dir.path(), "demo").unwrap();
        assert_eq!(store.meta().unwrap().serial, 1);
        assert_eq!(store.records().unwrap().len(), 2);
        assert_eq!(store.history().unwrap().len(), 1);
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
