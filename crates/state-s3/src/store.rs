//! The state of one stack in S3, kept whole in memory and written as one JSON object by
//! compare-and-swap: `If-Match` on the ETag this process last read or wrote (`If-None-Match: *`
//! for the first write), so a writer whose lock was broken can never overwrite another's state.
//!
//! Every commit applies to memory first, then waits for a write that contains it. Commits made
//! while a write is in flight are coalesced into the next one (group commit), so an apply with
//! many resources in flight pays one write per round, not one per object. A commit behind
//! (`StateStore::commit_behind`) waits for nothing: the next write carries it. A write that fails
//! after every retry, or is refused, makes the store stop: that commit and every later one
//! return the typed error, and everything stays in memory for `snapshot` (the CLI saves it to a
//! local file to push). Each finished serial's history entry is also written as the immutable
//! object `<key>.history/<serial>.json`; the state object itself carries no history.

use crate::remote::{waiting, Expect, Remote, Written};
use meshctl_model::record::NodeRecord;
use meshctl_model::Address;
use meshctl_state::{
    now_rfc3339, Change, HistoryEntry, JournalEntry, Meta, Snapshot, StateError, StateStore,
    FORMAT_VERSION,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Rounds of a write after the SDK's own retries gave up on a retryable failure.
const WRITE_ROUNDS: u32 = 3;
/// The pause before the next round, doubled each round.
const ROUND_PAUSE: Duration = Duration::from_secs(1);
/// History objects fetched at once by `history`.
const HISTORY_FETCHES: usize = 16;

/// Time spent writing the state object, for benchmarks and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// State object writes made.
    pub writes: u64,
    /// Commits and finishes they carried.
    pub changes: u64,
    /// Wall-clock time during which a write was in flight.
    pub busy: Duration,
    /// Bytes of the last write.
    pub last_size: usize,
}

pub struct S3Store {
    remote: Arc<Remote>,
    state: Mutex<Shared>,
    /// Signalled when a write ends.
    written: Condvar,
}

struct Shared {
    meta: Meta,
    records: BTreeMap<String, NodeRecord>,
    journal: BTreeMap<u64, JournalEntry>,
    next_journal_id: u64,
    /// Changes applied in memory (commits and finishes), counted.
    version: u64,
    /// The version the state object holds.
    saved: u64,
    /// The ETag of the state object as this process last read or wrote it; `None` before it
    /// exists.
    etag: Option<String>,
    /// A write is in flight (by the thread that started it).
    writing: bool,
    /// Why this store stopped writing; every later commit returns it.
    stopped: Option<Stopped>,
    /// History as read (`None`: not read yet) plus entries finished by this process.
    history: Option<Vec<HistoryEntry>>,
    /// History entries whose objects are not written yet.
    unsaved_history: Vec<HistoryEntry>,
    stats: WriteStats,
}

#[derive(Clone)]
enum Stopped {
    Conflict(String),
    NotSaved(String),
}

/// The state object's body: a snapshot without history (that is in the history objects).
fn encode(shared: &Shared) -> Result<Vec<u8>, StateError> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        meta: &'a Meta,
        written: String,
        records: Vec<&'a NodeRecord>,
        journal: Vec<&'a JournalEntry>,
        history: [(); 0],
    }
    serde_json::to_vec(&Body {
        meta: &shared.meta,
        written: now_rfc3339(),
        records: shared.records.values().collect(),
        journal: shared.journal.values().collect(),
        history: [],
    })
    .map_err(|e| StateError::Invalid(format!("cannot encode the state: {e}")))
}

impl S3Store {
    /// Opens the state of `stack`, creating it (with `If-None-Match: *`) when there is none.
    /// Callers hold the lock.
    pub fn open(remote: Arc<Remote>, stack: &str) -> Result<S3Store, StateError> {
        if let Some(store) = S3Store::load(Arc::clone(&remote), stack)? {
            return Ok(store);
        }
        let store = S3Store::new(
            remote,
            meshctl_state::new_meta(stack),
            None,
            Vec::new(),
            Vec::new(),
        );
        // Written now, not at the first commit: a saved plan names this state's lineage.
        store.bump_and_save(|_| Ok(()))?;
        Ok(store)
    }

    /// The state of `stack` as last written, or `None` when there is none. Refuses a state of a
    /// newer format or of another stack.
    pub fn load(remote: Arc<Remote>, stack: &str) -> Result<Option<S3Store>, StateError> {
        let key = remote.location.key.clone();
        let Some(object) = remote.block(remote.get(&key))? else {
            return Ok(None);
        };
        let url = remote.location.url();
        let version: serde_json::Value = serde_json::from_slice(&object.body).map_err(|e| {
            StateError::Invalid(format!(
                "the state object {url} is not a meshctl state ({e}); it holds what another tool wrote there"
            ))
        })?;
        let found = version
            .pointer("/meta/format_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if found > u64::from(FORMAT_VERSION) {
            return Err(StateError::NewerFormat {
                path: url,
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        let snapshot: Snapshot = serde_json::from_value(version).map_err(|e| {
            StateError::Invalid(format!("the state object {url} does not decode ({e})"))
        })?;
        if snapshot.meta.stack != stack {
            return Err(StateError::ForeignStack {
                path: url,
                found: snapshot.meta.stack,
                expected: stack.to_string(),
            });
        }
        Ok(Some(S3Store::new(
            remote,
            snapshot.meta,
            Some(object.etag),
            snapshot.records,
            snapshot.journal,
        )))
    }

    fn new(
        remote: Arc<Remote>,
        meta: Meta,
        etag: Option<String>,
        records: Vec<NodeRecord>,
        journal: Vec<JournalEntry>,
    ) -> S3Store {
        let next_journal_id = journal.iter().map(|j| j.id + 1).max().unwrap_or(1);
        S3Store {
            remote,
            state: Mutex::new(Shared {
                meta,
                records: records
                    .into_iter()
                    .map(|r| (r.address.to_string(), r))
                    .collect(),
                journal: journal.into_iter().map(|j| (j.id, j)).collect(),
                next_journal_id,
                version: 0,
                saved: 0,
                etag,
                writing: false,
                stopped: None,
                history: None,
                unsaved_history: Vec::new(),
                stats: WriteStats::default(),
            }),
            written: Condvar::new(),
        }
    }

    /// Time spent writing so far.
    pub fn write_stats(&self) -> WriteStats {
        self.shared().stats
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        // Changes are applied to memory after all checks, so a poisoned mutex still holds
        // consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `change` to memory, then waits until the state object holds it.
    fn bump_and_save(
        &self,
        change: impl FnOnce(&mut Shared) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        waiting(|| {
            let mut shared = self.shared();
            change(&mut shared)?;
            shared.version += 1;
            let mine = shared.version;
            self.save_until(shared, mine)
        })
    }

    /// Group commit: returns once the object holds version `mine`. The first waiter with no
    /// write in flight writes everything applied so far; the others wait for it.
    fn save_until<'a>(
        &'a self,
        mut shared: MutexGuard<'a, Shared>,
        mine: u64,
    ) -> Result<(), StateError> {
        loop {
            if let Some(stopped) = &shared.stopped {
                return Err(self.stopped_error(stopped));
            }
            if shared.saved >= mine {
                return Ok(());
            }
            if shared.writing {
                shared = self.written.wait(shared).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            shared.writing = true;
            let target = shared.version;
            let carried = target - shared.saved;
            let expect = match &shared.etag {
                Some(etag) => Expect::Etag(etag.clone()),
                None => Expect::Absent,
            };
            let (serial, lineage) = (shared.meta.serial, shared.meta.lineage.clone());
            let body = encode(&shared);
            drop(shared);
            let started = Instant::now();
            let size = body.as_ref().map_or(0, Vec::len);
            let outcome = body
                .map_err(|e| Stopped::NotSaved(e.to_string()))
                .and_then(|body| self.write_state(body, &expect, serial, &lineage));
            shared = self.shared();
            shared.writing = false;
            shared.stats.busy += started.elapsed();
            shared.stats.writes += 1;
            shared.stats.changes += carried;
            shared.stats.last_size = size;
            match outcome {
                Ok(etag) => {
                    shared.etag = Some(etag);
                    shared.saved = target;
                }
                Err(stopped) => shared.stopped = Some(stopped),
            }
            self.written.notify_all();
        }
    }

    /// One compare-and-swap write of the state object, in rounds on retryable failures. A
    /// refusal is checked: if the object holds exactly this body, an earlier attempt of this
    /// very write succeeded and only its answer was lost.
    fn write_state(
        &self,
        body: Vec<u8>,
        expect: &Expect,
        serial: u64,
        lineage: &str,
    ) -> Result<String, Stopped> {
        let remote = &self.remote;
        let key = remote.location.key.clone();
        let mut pause = ROUND_PAUSE;
        let mut round = 1;
        loop {
            let failure = match remote.block(remote.put(&key, body.clone(), expect)) {
                Ok(Written::Done(etag)) => return Ok(etag),
                Ok(Written::Refused) => {
                    return match remote.block(remote.get(&key)) {
                        Ok(Some(now)) if now.body == body => Ok(now.etag),
                        Ok(now) => Err(Stopped::Conflict(conflict_detail(
                            now.as_ref().map(|o| o.body.as_slice()),
                            serial,
                            lineage,
                        ))),
                        Err(e) => Err(Stopped::Conflict(format!(
                            "its write was refused (the object is no longer the one this run last wrote at serial {serial}), and reading it failed too: {e}"
                        ))),
                    };
                }
                Err(e) => e,
            };
            if round >= WRITE_ROUNDS {
                return Err(Stopped::NotSaved(format!(
                    "{failure} (after {WRITE_ROUNDS} rounds of retries)"
                )));
            }
            std::thread::sleep(pause);
            pause *= 2;
            round += 1;
        }
    }

    fn stopped_error(&self, stopped: &Stopped) -> StateError {
        let location = self.remote.location.url();
        match stopped {
            Stopped::Conflict(detail) => StateError::Conflict {
                location,
                detail: detail.clone(),
            },
            Stopped::NotSaved(detail) => StateError::NotSaved {
                location,
                detail: detail.clone(),
            },
        }
    }

    /// Writes the history objects not written yet, each once (`If-None-Match: *`); one a failed
    /// run left at the same serial is replaced, as the state object (written first, by
    /// compare-and-swap) now says this serial is this run's.
    fn save_history(&self) -> Result<(), StateError> {
        let pending = std::mem::take(&mut self.shared().unsaved_history);
        let remote = &self.remote;
        for (n, entry) in pending.iter().enumerate() {
            let key = remote.location.history_key(entry.serial);
            let result = serde_json::to_vec(entry)
                .map_err(|e| StateError::Invalid(format!("cannot encode a history entry: {e}")))
                .and_then(|body| {
                    match remote.block(remote.put(&key, body.clone(), &Expect::Absent))? {
                        Written::Done(_) => Ok(()),
                        Written::Refused => remote
                            .block(remote.put(&key, body, &Expect::Anything))
                            .map(|_| ()),
                    }
                });
            if let Err(e) = result {
                let mut shared = self.shared();
                let unsaved: Vec<HistoryEntry> = pending[n..].to_vec();
                shared.unsaved_history.splice(0..0, unsaved);
                return Err(StateError::NotSaved {
                    location: remote.location.url_of(&key),
                    detail: format!("the history entry of serial {}: {e}", entry.serial),
                });
            }
        }
        Ok(())
    }

    /// Every history object, oldest first.
    fn read_history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        let remote = Arc::clone(&self.remote);
        let keys = remote.block(remote.list(&remote.location.history_prefix()))?;
        let fetched = remote.block(async {
            let mut entries = Vec::with_capacity(keys.len());
            for batch in keys.chunks(HISTORY_FETCHES) {
                let mut reads = tokio::task::JoinSet::new();
                for key in batch {
                    let (remote, key) = (Arc::clone(&remote), key.clone());
                    reads.spawn(async move { (key.clone(), remote.get(&key).await) });
                }
                while let Some(read) = reads.join_next().await {
                    let (key, object) = read.map_err(|e| StateError::Remote {
                        location: remote.location.url(),
                        detail: format!("reading the history stopped: {e}"),
                    })?;
                    let Some(object) = object? else { continue };
                    let entry: HistoryEntry =
                        serde_json::from_slice(&object.body).map_err(|e| {
                            StateError::Invalid(format!(
                                "the history object {} does not decode ({e})",
                                remote.location.url_of(&key)
                            ))
                        })?;
                    entries.push(entry);
                }
            }
            Ok::<_, StateError>(entries)
        })?;
        let mut entries = fetched;
        entries.sort_by_key(|e| e.serial);
        Ok(entries)
    }

    /// History known without reading S3: what was read before plus what this process finished.
    fn known_history(shared: &Shared) -> Vec<HistoryEntry> {
        let mut entries = shared.history.clone().unwrap_or_default();
        for entry in &shared.unsaved_history {
            if !entries.iter().any(|e| e.serial == entry.serial) {
                entries.push(entry.clone());
            }
        }
        entries.sort_by_key(|e| e.serial);
        entries
    }
}

/// Why a compare-and-swap was refused, from what the object holds now.
fn conflict_detail(now: Option<&[u8]>, serial: u64, lineage: &str) -> String {
    let Some(now) = now else {
        return format!(
            "the state object was deleted since this run last wrote it at serial {serial}"
        );
    };
    let meta = serde_json::from_slice::<serde_json::Value>(now)
        .ok()
        .and_then(|v| serde_json::from_value::<Meta>(v.get("meta")?.clone()).ok());
    match meta {
        Some(meta) if meta.lineage != lineage => format!(
            "it now holds another state (lineage {}, serial {}), not this run's (lineage {lineage}, serial {serial})",
            meta.lineage, meta.serial
        ),
        Some(meta) => format!(
            "it is now at serial {}, written by someone else since this run last wrote it at serial {serial}",
            meta.serial
        ),
        None => format!(
            "it no longer holds what this run last wrote at serial {serial}, nor a state meshctl can read"
        ),
    }
}

impl StateStore for S3Store {
    fn meta(&self) -> Result<Meta, StateError> {
        Ok(self.shared().meta.clone())
    }

    fn records(&self) -> Result<Vec<NodeRecord>, StateError> {
        Ok(self.shared().records.values().cloned().collect())
    }

    fn record(&self, address: &Address) -> Result<Option<NodeRecord>, StateError> {
        Ok(self.shared().records.get(&address.to_string()).cloned())
    }

    fn commit(&self, change: Change) -> Result<(), StateError> {
        self.bump_and_save(|shared| {
            change.apply_to(&mut shared.records, &mut shared.journal);
            Ok(())
        })
    }

    /// Applies `change` to memory only; the next write (a `sync`, a `commit`, or one already
    /// waited for) carries it.
    fn commit_behind(&self, change: Change) -> Result<(), StateError> {
        let mut shared = self.shared();
        if let Some(stopped) = &shared.stopped {
            return Err(self.stopped_error(stopped));
        }
        let shared = &mut *shared;
        change.apply_to(&mut shared.records, &mut shared.journal);
        shared.version += 1;
        Ok(())
    }

    fn sync(&self) -> Result<(), StateError> {
        waiting(|| {
            let shared = self.shared();
            let mine = shared.version;
            self.save_until(shared, mine)
        })
    }

    fn journal(&self) -> Result<Vec<JournalEntry>, StateError> {
        Ok(self.shared().journal.values().cloned().collect())
    }

    fn next_journal_id(&self) -> Result<u64, StateError> {
        let mut shared = self.shared();
        let id = shared.next_journal_id;
        shared.next_journal_id += 1;
        Ok(id)
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
        let mut serial = 0;
        self.bump_and_save(|shared| {
            shared.meta.serial += 1;
            serial = shared.meta.serial;
            if let Some(var_set) = var_set {
                shared.meta.var_set = Some(var_set.to_string());
            }
            let entry = HistoryEntry {
                serial,
                at: now_rfc3339(),
                operation: operation.to_string(),
                changed: changed
                    .iter()
                    .map(|a| (a.clone(), shared.records.get(&a.to_string()).cloned()))
                    .collect(),
            };
            if let Some(history) = shared.history.as_mut() {
                history.push(entry.clone());
            }
            shared.unsaved_history.push(entry);
            Ok(())
        })?;
        self.save_history()?;
        Ok(serial)
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        if let Some(history) = &self.shared().history {
            let mut known = history.clone();
            known.sort_by_key(|e| e.serial);
            return Ok(known);
        }
        let read = self.read_history()?;
        let mut shared = self.shared();
        shared.history = Some(read);
        Ok(S3Store::known_history(&shared))
    }

    /// The whole state from memory; the history as read from S3, or, when S3 cannot be read
    /// (the store stopped writing), the entries this process knows.
    fn snapshot(&self) -> Result<Snapshot, StateError> {
        let history = self
            .history()
            .unwrap_or_else(|_| S3Store::known_history(&self.shared()));
        let shared = self.shared();
        Ok(Snapshot {
            meta: shared.meta.clone(),
            written: now_rfc3339(),
            records: shared.records.values().cloned().collect(),
            journal: shared.journal.values().cloned().collect(),
            history,
        })
    }

    fn replace(&self, snapshot: Snapshot, force: bool) -> Result<u64, StateError> {
        let current = self.snapshot()?;
        let replacement = meshctl_state::check_replace(
            &self.remote.location.url(),
            &current,
            meshctl_state::is_empty(&current),
            &snapshot,
            force,
        )?;
        let state = meshctl_state::replaced(snapshot, replacement);
        let serial = state.meta.serial;
        let existing: Vec<u64> = current.history.iter().map(|h| h.serial).collect();
        self.bump_and_save(|shared| {
            shared.meta = state.meta.clone();
            shared.records = state
                .records
                .iter()
                .map(|r| (r.address.to_string(), r.clone()))
                .collect();
            shared.journal = state.journal.iter().map(|j| (j.id, j.clone())).collect();
            let next = state.journal.iter().map(|j| j.id + 1).max().unwrap_or(1);
            shared.next_journal_id = shared.next_journal_id.max(next);
            shared.unsaved_history.extend(
                state
                    .history
                    .iter()
                    .filter(|h| !existing.contains(&h.serial))
                    .cloned(),
            );
            shared.history = Some(state.history.clone());
            Ok(())
        })?;
        self.save_history()?;
        Ok(serial)
    }
}
