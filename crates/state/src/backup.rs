//! The backup of a stack's state, beside its sled database and readable without it: what a
//! damaged database is restored from, and what read-only commands show while another meshctl
//! holds the database.
//!
//! Two files in the state directory. `backup.json` is the whole state (meta, records, open
//! journal, history) as of the last finished serial, replaced atomically at every `finish` (each
//! apply, destroy, refresh and state edit). `backup.log` holds, one JSON line each, the commits
//! made since then (records and journal entries of a run in progress); it is emptied when the
//! next snapshot is written. Snapshot plus log is the state as of the last commit, so a damaged
//! database loses at most a commit torn by the damage itself, and an open journal — what a killed
//! run was doing — is restored with it. Rewriting the whole snapshot at every per-object commit
//! would cost O(state) per object, O(n²) per apply; the log costs one append per commit.

use crate::{Change, HistoryEntry, JournalEntry, Meta, StateError};
use meshctl_model::record::NodeRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The snapshot file, in the state directory.
pub const BACKUP_FILE: &str = "backup.json";
/// The commits since the snapshot, in the state directory.
pub const CHANGE_LOG_FILE: &str = "backup.log";

/// A whole state, as the snapshot file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub meta: Meta,
    /// RFC 3339: when the snapshot was written.
    pub written: String,
    /// Ordered by address.
    pub records: Vec<NodeRecord>,
    /// Open journal entries, oldest first.
    pub journal: Vec<JournalEntry>,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
}

/// One line of the change log: a commit made while the snapshot was at `serial`. A line of
/// another serial is left over from before the last snapshot and is already in it.
#[derive(Serialize, Deserialize)]
struct LoggedChange {
    serial: u64,
    change: Change,
}

/// The backup of one state directory. Writes happen under the state lock.
pub struct Backup {
    dir: PathBuf,
    /// The change log, opened for appending on the first commit.
    log: Mutex<Option<std::fs::File>>,
}

/// The backup as read back: the snapshot with the logged commits applied.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub state: Snapshot,
    /// Commits applied on top of the snapshot.
    pub changes: usize,
    /// Why the change log was read only in part, if it was.
    pub log_problem: Option<String>,
}

/// What the backup of a damaged state holds, for the message that offers to restore it.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    pub file: PathBuf,
    pub serial: u64,
    /// RFC 3339.
    pub written: String,
    pub records: usize,
    /// Commits logged after the snapshot (a run in progress when it stopped).
    pub changes: usize,
    /// Operations in flight when the backup was last written; the next plan repairs them.
    pub open_journal: usize,
    pub log_problem: Option<String>,
}

impl Backup {
    pub fn new(dir: &Path) -> Backup {
        Backup {
            dir: dir.to_path_buf(),
            log: Mutex::new(None),
        }
    }

    pub fn exists(&self) -> bool {
        self.dir.join(BACKUP_FILE).exists()
    }

    fn io_error(&self, file: &str, source: std::io::Error) -> StateError {
        StateError::Io {
            path: self.dir.join(file).display().to_string(),
            source,
        }
    }

    /// Replaces the snapshot with `snapshot` atomically (a temporary file, synced, renamed over
    /// it, the directory synced), then empties the change log, whose commits it now holds.
    pub fn write(&self, snapshot: &Snapshot) -> Result<(), StateError> {
        let body = serde_json::to_vec(snapshot)
            .map_err(|e| StateError::Invalid(format!("cannot encode the state backup: {e}")))?;
        let temporary = self.dir.join(format!("{BACKUP_FILE}.tmp"));
        (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&body)?;
            file.sync_all()?;
            std::fs::rename(&temporary, self.dir.join(BACKUP_FILE))?;
            sync_dir(&self.dir)
        })()
        .map_err(|e| self.io_error(BACKUP_FILE, e))?;
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        *log = None;
        match std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.dir.join(CHANGE_LOG_FILE))
        {
            Ok(file) => file
                .sync_all()
                .map_err(|e| self.io_error(CHANGE_LOG_FILE, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error(CHANGE_LOG_FILE, e)),
        }
    }

    /// Appends one commit, made while the state is at `serial`, to the change log, on disk
    /// before it returns.
    pub fn log_change(&self, serial: u64, change: &Change) -> Result<(), StateError> {
        let mut line = serde_json::to_vec(&LoggedChange {
            serial,
            change: change.clone(),
        })
        .map_err(|e| StateError::Invalid(format!("cannot encode a state change: {e}")))?;
        line.push(b'\n');
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.is_none() {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(CHANGE_LOG_FILE))
                .map_err(|e| self.io_error(CHANGE_LOG_FILE, e))?;
            *log = Some(file);
        }
        let Some(file) = log.as_mut() else {
            return Ok(());
        };
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| self.io_error(CHANGE_LOG_FILE, e))
    }

    /// The meta of the snapshot in `dir` alone (the rest is skipped, not built): `None` when
    /// there is none or it does not decode.
    pub fn meta(dir: &Path) -> Option<Meta> {
        #[derive(Deserialize)]
        struct MetaOnly {
            meta: Meta,
        }
        let bytes = std::fs::read(dir.join(BACKUP_FILE)).ok()?;
        serde_json::from_slice::<MetaOnly>(&bytes)
            .ok()
            .map(|m| m.meta)
    }

    /// Reads the backup of `dir`: `None` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Loaded>, StateError> {
        let file = dir.join(BACKUP_FILE);
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    path: file.display().to_string(),
                    source,
                })
            }
        };
        let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
            StateError::Invalid(format!(
                "the state backup {} does not decode ({e}); it was replaced atomically, so something else changed it",
                file.display()
            ))
        })?;
        let mut state = Replay::new(snapshot);
        let mut changes = 0;
        let mut log_problem = None;
        let log_file = dir.join(CHANGE_LOG_FILE);
        if let Ok(log) = std::fs::File::open(&log_file) {
            let lines: Vec<Vec<u8>> = std::io::BufReader::new(log)
                .split(b'\n')
                .map_while(Result::ok)
                .collect();
            let last = lines.len().saturating_sub(1);
            for (n, line) in lines.iter().enumerate() {
                match serde_json::from_slice::<LoggedChange>(line) {
                    Ok(logged) if logged.serial == state.serial() => {
                        state.apply(logged.change);
                        changes += 1;
                    }
                    Ok(_) => {}
                    // A line cut short by a kill as it was written: that commit never returned.
                    Err(_) if n == last => {}
                    Err(e) => {
                        log_problem = Some(format!(
                            "line {} of {} does not decode ({e}); the {} later line(s) are not restored",
                            n + 1,
                            log_file.display(),
                            last - n
                        ));
                        break;
                    }
                }
            }
        }
        Ok(Some(Loaded {
            state: state.finish(),
            changes,
            log_problem,
        }))
    }

    /// A summary of the backup of `dir`, or why it cannot be read.
    pub fn summary(dir: &Path) -> Result<Option<BackupSummary>, StateError> {
        Ok(Backup::load(dir)?.map(|loaded| BackupSummary {
            file: dir.join(BACKUP_FILE),
            serial: loaded.state.meta.serial,
            written: loaded.state.written.clone(),
            records: loaded.state.records.len(),
            changes: loaded.changes,
            open_journal: loaded.state.journal.len(),
            log_problem: loaded.log_problem,
        }))
    }
}

/// A snapshot being brought forward by logged commits.
struct Replay {
    snapshot: Snapshot,
    records: BTreeMap<String, NodeRecord>,
    journal: BTreeMap<u64, JournalEntry>,
}

impl Replay {
    fn new(mut snapshot: Snapshot) -> Replay {
        let records = std::mem::take(&mut snapshot.records)
            .into_iter()
            .map(|r| (r.address.to_string(), r))
            .collect();
        let journal = std::mem::take(&mut snapshot.journal)
            .into_iter()
            .map(|j| (j.id, j))
            .collect();
        Replay {
            snapshot,
            records,
            journal,
        }
    }

    fn serial(&self) -> u64 {
        self.snapshot.meta.serial
    }

    /// The same effect as the commit had on the database.
    fn apply(&mut self, change: Change) {
        for record in change.put {
            self.records.insert(record.address.to_string(), record);
        }
        for address in change.remove {
            self.records.remove(&address.to_string());
        }
        for entry in change.open {
            self.journal.insert(entry.id, entry);
        }
        for id in change.close {
            self.journal.remove(&id);
        }
    }

    fn finish(mut self) -> Snapshot {
        self.snapshot.records = self.records.into_values().collect();
        self.snapshot.journal = self.journal.into_values().collect();
        self.snapshot
    }
}

/// Syncs a directory, so a rename in it survives a power cut. Not every OS can open a directory.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::File::open(dir) {
        Ok(handle) => handle.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

/// A state database that cannot be read: where, what happened, and what can bring it back.
#[derive(Debug)]
pub struct Damaged {
    pub dir: PathBuf,
    /// What is wrong, in words.
    pub what: String,
    pub backup: Result<Option<BackupSummary>, String>,
}

impl Damaged {
    /// Describes the damage of the state in `dir`, reading what its backup offers.
    pub fn new(dir: &Path, what: impl Into<String>) -> Damaged {
        Damaged {
            dir: dir.to_path_buf(),
            what: what.into(),
            backup: Backup::summary(dir).map_err(|e| e.to_string()),
        }
    }

    /// The message, with `target` the arguments that name this state on a command line
    /// (`-f stack.yaml`, `--state DIR`), so that the printed command works as it is.
    pub fn message(&self, target: &str) -> String {
        let database = self.dir.join("db");
        let mut text = format!(
            "the state database {} is damaged: {}. Nothing was changed.",
            database.display(),
            self.what
        );
        match &self.backup {
            Ok(Some(backup)) => {
                text.push_str(&format!(
                    "\n  The backup {} holds serial {} (written {})",
                    backup.file.display(),
                    backup.serial,
                    backup.written
                ));
                if backup.changes > 0 {
                    text.push_str(&format!(
                        ", and {} {} change(s) committed after it by a run that did not finish",
                        self.dir.join(CHANGE_LOG_FILE).display(),
                        backup.changes
                    ));
                }
                text.push_str(&format!(": {} record(s) in all.", backup.records));
                if backup.open_journal > 0 {
                    text.push_str(&format!(
                        "\n  It has {} operation(s) in flight (an interrupted run); after restoring, `meshctl plan` shows what they left and apply repairs it.",
                        backup.open_journal
                    ));
                }
                if let Some(problem) = &backup.log_problem {
                    text.push_str(&format!("\n  Not all of it can be restored: {problem}."));
                }
                text.push_str(&format!(
                    "\n  Restore the state from it (the damaged database is kept beside it) with\n    meshctl state restore-backup {target}"
                ));
            }
            Ok(None) => text.push_str(&format!(
                "\n  There is no {BACKUP_FILE} in {} (it is written when a state is opened and at the end of every run); restore that directory from your own backups.",
                self.dir.display()
            )),
            Err(problem) => text.push_str(&format!(
                "\n  Its backup cannot be read either: {problem}; restore {} from your own backups.",
                self.dir.display()
            )),
        }
        text
    }
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(&format!(
            "--state {}",
            crate::shell_quote(&self.dir.display().to_string())
        )))
    }
}
