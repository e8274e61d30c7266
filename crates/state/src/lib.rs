//! State: what meshctl knows it created. The `StateStore` trait with a sled backend (default,
//! durable) and an in-memory one (tests), the backup beside the database that a damaged database
//! is restored from, plus the per-directory lock (ARCHITECTURE.md).

mod backup;
mod lock;
mod memory;
mod sled_store;

pub use backup::{Backup, BackupSummary, Damaged, Snapshot, BACKUP_FILE, CHANGE_LOG_FILE};
pub use lock::{force_unlock, process_start, release_held_locks, LockInfo, LockedState, StateLock};
pub use memory::MemoryStore;
pub use sled_store::{Restored, SledStore};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        })
    }
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
}

/// Storage of one stack's state. Every `commit` is atomic and on disk before it returns.
pub trait StateStore: Send + Sync {
    fn meta(&self) -> Result<Meta, StateError>;
    /// Every record, ordered by address.
    fn records(&self) -> Result<Vec<NodeRecord>, StateError>;
    fn record(&self, address: &Address) -> Result<Option<NodeRecord>, StateError>;
    fn commit(&self, change: Change) -> Result<(), StateError>;
    /// Open journal entries, oldest first.
    fn journal(&self) -> Result<Vec<JournalEntry>, StateError>;
    /// A fresh journal entry id.
    fn next_journal_id(&self) -> Result<u64, StateError>;
    /// Ends a run that changed `changed`: serial + 1 and a history entry. Returns the new serial.
    fn finish(&self, operation: &str, changed: &[Address]) -> Result<u64, StateError>;
    /// History, oldest first.
    fn history(&self) -> Result<Vec<HistoryEntry>, StateError>;

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
