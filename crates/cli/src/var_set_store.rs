//! The store an apply or destroy writes through: it passes everything to the stack's store and,
//! when the run finishes, records the run's var set there (`Meta::var_set`), so that the next
//! plan with other vars is refused (`meshctl_plan::check_var_set`).

use meshctl_model::record::NodeRecord;
use meshctl_model::Address;
use meshctl_state::{Change, HistoryEntry, JournalEntry, Meta, Snapshot, StateError, StateStore};
use std::sync::Arc;

pub struct VarSetRecordingStore {
    pub store: Arc<dyn StateStore>,
    /// `VarSet::encode` of the run's vars; `None` for a saved plan made before plans recorded
    /// their vars (the state's var set is then kept as it was).
    pub var_set: Option<String>,
}

impl StateStore for VarSetRecordingStore {
    fn meta(&self) -> Result<Meta, StateError> {
        self.store.meta()
    }

    fn records(&self) -> Result<Vec<NodeRecord>, StateError> {
        self.store.records()
    }

    fn record(&self, address: &Address) -> Result<Option<NodeRecord>, StateError> {
        self.store.record(address)
    }

    fn commit(&self, change: Change) -> Result<(), StateError> {
        self.store.commit(change)
    }

    fn commit_behind(&self, change: Change) -> Result<(), StateError> {
        self.store.commit_behind(change)
    }

    fn sync(&self) -> Result<(), StateError> {
        self.store.sync()
    }

    fn journal(&self) -> Result<Vec<JournalEntry>, StateError> {
        self.store.journal()
    }

    fn next_journal_id(&self) -> Result<u64, StateError> {
        self.store.next_journal_id()
    }

    /// Every way a run ends (applied, failed, rolled back, interrupted) records its var set: it
    /// is the set of the last run that finished on this state.
    fn finish(&self, operation: &str, changed: &[Address]) -> Result<u64, StateError> {
        self.store
            .finish_run(operation, changed, self.var_set.as_deref())
    }

    fn finish_run(
        &self,
        operation: &str,
        changed: &[Address],
        var_set: Option<&str>,
    ) -> Result<u64, StateError> {
        self.store
            .finish_run(operation, changed, var_set.or(self.var_set.as_deref()))
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        self.store.history()
    }

    fn snapshot(&self) -> Result<Snapshot, StateError> {
        self.store.snapshot()
    }
}
