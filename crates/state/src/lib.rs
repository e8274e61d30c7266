//! State: what meshctl knows it created. The `StateStore` trait with a sled backend (default,
//! durable) and an in-memory one (tests), the backup beside the database that a damaged database
//! is restored from, the per-directory lock, and the `Backend` abstraction of where a state lives
//! with its lock, which the S3 backend (meshctl-state-s3) implements too (ARCHITECTURE.md).

mod backend;
mod backup;
mod lock;
mod memory;
mod sled_store;

pub use backend::{
    check_replace, is_empty, new_meta, replaced, Backend, HeldLock, LocalBackend, ReadOnly,
    Replacement,
};
pub use backup::{Backup, BackupSummary, Damaged, Snapshot, BACKUP_FILE, CHANGE_LOG_FILE};
pub use lock::{
    force_unlock, forget_held_lock, process_start, register_held_lock, release_held_locks,
    LockInfo, LockedState, Release, StateLock,
};
pub use memory::MemoryStore;
pub use sled_store::{Restored, SledStore};

pub use meshctl_model::record::Operation;
use meshctl_model::record::{NodeRecord, OwnedObject};
use meshctl_model::Address;
use serde::{Deserialize, Serialize};

/// The state format this build writes; a state with a higher number was written by a newer
/// meshctl and is refused rather than misread.
pub const FORMAT_VERSION: u32 = 1;

/// Identity and generation of one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub format_version: u32,
    /// Fixed when the state is created; a plan made for another lineage is refused.
    pub lineage: String,
    /// +1 per apply (and per state edit); a plan made at another serial is stale.
    pub serial: u64,
    pub stack: String,
    /// Digest of the resolved variable set of the last apply (computed by the CLI), so a plan
    /// made with other variables (another environment's var file) is refused. `None` in states
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub var_set: Option<String>,
}

/// An operation in flight: written before the provider call that creates anything, closed when
/// its result is recorded. What a crash leaves here, the next plan reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub id: u64,
    pub address: Address,
    pub operation: Operation,
    /// RFC 3339.
    pub started: String,
    /// Objects known so far (a create may make several).
    #[serde(default)]
    pub objects: Vec<OwnedObject>,
}

/// What one serial changed: the records after the change (`None`: removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub serial: u64,
    /// RFC 3339.
    pub at: String,
    /// `apply`, `destroy`, `state rm`, …
    pub operation: String,
    pub changed: Vec<(Address, Option<NodeRecord>)>,
}

/// One atomic, durable change of state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Change {
    pub put: Vec<NodeRecord>,
    pub remove: Vec<Address>,
    pub open: Vec<JournalEntry>,
    pub close: Vec<u64>,
}

impl Change {
    /// Applies the change to a state held in memory: records by address, open journal entries
    /// by id (the in-memory and S3 stores; sled applies it in its own transaction).
    pub fn apply_to(
        self,
        records: &mut std::collections::BTreeMap<String, NodeRecord>,
        journal: &mut std::collections::BTreeMap<u64, JournalEntry>,
    ) {
        for record in self.put {
            records.insert(record.address.to_string(), record);
        }
        for address in self.remove {
            records.remove(&address.to_string());
        }
        for entry in self.open {
            journal.insert(entry.id, entry);
        }
        for id in self.close {
            journal.remove(&id);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state at {path} was written by a newer meshctl (state format {found}, this build reads up to {supported}); upgrade meshctl")]
    NewerFormat {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error("state at {path} belongs to stack `{found}`, not `{expected}`; point `backend.local` at this stack's own directory")]
    ForeignStack {
        path: String,
        found: String,
        expected: String,
    },
    #[error("{0}")]
    Locked(Box<LockedState>),
    #[error("no lock with ID {id} on {path} (current: {current})")]
    NoSuchLock {
        path: String,
        id: String,
        current: String,
    },
    #[error("{0}")]
    Damaged(Box<Damaged>),
    #[error("no record for {0} in state")]
    NotFound(Address),
    #[error("{0}")]
    Invalid(String),
    #[error("state storage at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("state database at {path}: {detail}")]
    Database { path: String, detail: String },
    #[error("{location} holds a state of another lineage ({current}) than the one given ({incoming}): they record different objects; name the right state, or replace it anyway with --force")]
    OtherLineage {
        location: String,
        current: String,
        incoming: String,
    },
    #[error("{location} is at serial {current}, newer than the given state's serial {incoming}: replacing it would undo finished runs; `meshctl state pull` shows what it holds, or replace it anyway with --force")]
    OlderSerial {
        location: String,
        current: u64,
        incoming: u64,
    },
    /// A compare-and-swap write was refused: another writer changed the state since this process
    /// read or wrote it. Nothing is overwritten, and the store keeps every change in memory.
    #[error("the state at {location} was changed by another writer (lock broken?): {detail}. It was not overwritten, and nothing was lost: every change this run recorded is kept (`snapshot`)")]
    Conflict { location: String, detail: String },
    /// A write failed after every retry; the store keeps the change in memory (`snapshot`).
    #[error("cannot save the state to {location}: {detail}. Nothing was lost: every change this run recorded is kept (`snapshot`)")]
    NotSaved { location: String, detail: String },
    #[error("state storage at {location}: {detail}")]
    Remote { location: String, detail: String },
}

impl StateError {
    /// Whether a store that returned this still holds, in memory, changes its storage lacks
    /// (then `snapshot()` is the only full copy: write it somewhere before exiting).
    pub fn unsaved(&self) -> bool {
        matches!(
            self,
            StateError::Conflict { .. } | StateError::NotSaved { .. }
        )
    }
}

/// Storage of one stack's state. Every `commit` is atomic and on disk before it returns.
pub trait StateStore: Send + Sync {
    fn meta(&self) -> Result<Meta, StateError>;
    /// Every record, ordered by address.
    fn records(&self) -> Result<Vec<NodeRecord>, StateError>;
    fn record(&self, address: &Address) -> Result<Option<NodeRecord>, StateError>;
    /// Applies `change`; it is durable when this returns.
    fn commit(&self, change: Change) -> Result<(), StateError>;
    /// Applies `change` at once for every reader of this store and makes it durable with a
    /// later write: by the next `sync` or `commit` (each write holds every change applied before
    /// it). For what a killed run's successor finds again without it: the record of an object a
    /// provider's sweep finds, a result whose journal entry is still open on disk. A store whose
    /// writes are cheap commits at once. Fails once the store has stopped taking writes. (No
    /// default: a wrapper that forgot to forward it would make every write wait.)
    fn commit_behind(&self, change: Change) -> Result<(), StateError>;
    /// Returns once every change applied so far is durable.
    fn sync(&self) -> Result<(), StateError>;
    /// Open journal entries, oldest first.
    fn journal(&self) -> Result<Vec<JournalEntry>, StateError>;
    /// A fresh journal entry id.
    fn next_journal_id(&self) -> Result<u64, StateError>;
    /// Ends a run that changed `changed`: serial + 1 and a history entry. Returns the new serial.
    /// The state's var set is kept as it was.
    fn finish(&self, operation: &str, changed: &[Address]) -> Result<u64, StateError>;
    /// History, oldest first.
    fn history(&self) -> Result<Vec<HistoryEntry>, StateError>;

    /// `finish`, recording `var_set` (the digest of the resolved variables of the run) in the
    /// meta when it is given. Stores override it; a wrapper that does not forward it refuses a
    /// var set rather than dropping it.
    fn finish_run(
        &self,
        operation: &str,
        changed: &[Address],
        var_set: Option<&str>,
    ) -> Result<u64, StateError> {
        match var_set {
            None => self.finish(operation, changed),
            Some(_) => Err(StateError::Invalid(
                "this state store cannot record the var set of a run".into(),
            )),
        }
    }

    /// The whole state: meta, records, open journal and history (`state pull`).
    fn snapshot(&self) -> Result<Snapshot, StateError> {
        Ok(Snapshot {
            meta: self.meta()?,
            written: now_rfc3339(),
            records: self.records()?,
            journal: self.journal()?,
            history: self.history()?,
        })
    }

    /// Replaces the whole state with `snapshot` (`state push`, `state migrate`), by the rule of
    /// `check_replace` (refused for another lineage or an older serial unless `force`). Returns
    /// the state's serial after it.
    fn replace(&self, snapshot: Snapshot, force: bool) -> Result<u64, StateError> {
        let _ = (snapshot, force);
        Err(StateError::Invalid(
            "this state store cannot be replaced as a whole".into(),
        ))
    }

    /// Removes a record (`meshctl state rm`): the objects stay in the world, unmanaged.
    fn remove(&self, address: &Address) -> Result<NodeRecord, StateError> {
        let record = self
            .record(address)?
            .ok_or_else(|| StateError::NotFound(address.clone()))?;
        self.commit(Change {
            remove: vec![address.clone()],
            ..Change::default()
        })?;
        self.finish("state rm", std::slice::from_ref(address))?;
        Ok(record)
    }

    /// Renames a record (`meshctl state mv`), e.g. after renaming the resource in the stack.
    fn rename(&self, from: &Address, to: &Address) -> Result<(), StateError> {
        if from.kind != to.kind {
            return Err(StateError::Invalid(format!(
                "cannot move {from} to {to}: a record keeps its kind"
            )));
        }
        if self.record(to)?.is_some() {
            return Err(StateError::Invalid(format!("cannot move {from} to {to}: {to} already has a record; `meshctl state rm {to}` first if it is stale")));
        }
        let mut record = self
            .record(from)?
            .ok_or_else(|| StateError::NotFound(from.clone()))?;
        record.address = to.clone();
        self.commit(Change {
            put: vec![record],
            remove: vec![from.clone()],
            ..Change::default()
        })?;
        self.finish("state mv", &[from.clone(), to.clone()])?;
        Ok(())
    }
}

/// A boxed store is a store (the CLI opens a `Box<dyn StateStore>` and shares it as an `Arc`).
impl<S: StateStore + ?Sized> StateStore for Box<S> {
    fn meta(&self) -> Result<Meta, StateError> {
        (**self).meta()
    }
    fn records(&self) -> Result<Vec<NodeRecord>, StateError> {
        (**self).records()
    }
    fn record(&self, address: &Address) -> Result<Option<NodeRecord>, StateError> {
        (**self).record(address)
    }
    fn commit(&self, change: Change) -> Result<(), StateError> {
        (**self).commit(change)
    }
    fn commit_behind(&self, change: Change) -> Result<(), StateError> {
        (**self).commit_behind(change)
    }
    fn sync(&self) -> Result<(), StateError> {
        (**self).sync()
    }
    fn journal(&self) -> Result<Vec<JournalEntry>, StateError> {
        (**self).journal()
    }
    fn next_journal_id(&self) -> Result<u64, StateError> {
        (**self).next_journal_id()
    }
    fn finish(&self, operation: &str, changed: &[Address]) -> Result<u64, StateError> {
        (**self).finish(operation, changed)
    }
    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        (**self).history()
    }
    fn finish_run(
        &self,
        operation: &str,
        changed: &[Address],
        var_set: Option<&str>,
    ) -> Result<u64, StateError> {
        (**self).finish_run(operation, changed, var_set)
    }
    fn snapshot(&self) -> Result<Snapshot, StateError> {
        (**self).snapshot()
    }
    fn replace(&self, snapshot: Snapshot, force: bool) -> Result<u64, StateError> {
        (**self).replace(snapshot, force)
    }
    fn remove(&self, address: &Address) -> Result<NodeRecord, StateError> {
        (**self).remove(address)
    }
    fn rename(&self, from: &Address, to: &Address) -> Result<(), StateError> {
        (**self).rename(from, to)
    }
}

/// `text` as one shell word: as it is when that is safe, else in single quotes.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The current time in RFC 3339, as state and journal entries record it.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
