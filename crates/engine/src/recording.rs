//! The state a walk writes to: every record it puts is stored in `meshctl_plan::recorded` form,
//! so no secret of a stack (a token in a ConfigMap, a key in Helm values) reaches the state
//! database, its history, `state show` or `state pull`.

use meshctl_model::record::NodeRecord;
use meshctl_model::Address;
use meshctl_plan::recorded::recorded_record;
use meshctl_state::{Change, HistoryEntry, JournalEntry, Meta, StateError, StateStore};
use std::sync::Arc;

/// A `StateStore` that records in `recorded` form and passes everything else through.
pub struct RecordingStore(pub Arc<dyn StateStore>);

impl StateStore for RecordingStore {
    fn meta(&self) -> Result<Meta, StateError> {
        self.0.meta()
    }

    fn records(&self) -> Result<Vec<NodeRecord>, StateError> {
        self.0.records()
    }

    fn record(&self, address: &Address) -> Result<Option<NodeRecord>, StateError> {
        self.0.record(address)
    }

    fn commit(&self, change: Change) -> Result<(), StateError> {
        self.0.commit(Change {
            put: change.put.into_iter().map(recorded_record).collect(),
            ..change
        })
    }

    fn commit_behind(&self, change: Change) -> Result<(), StateError> {
        self.0.commit_behind(Change {
            put: change.put.into_iter().map(recorded_record).collect(),
            ..change
        })
    }

    fn sync(&self) -> Result<(), StateError> {
        self.0.sync()
    }

    fn journal(&self) -> Result<Vec<JournalEntry>, StateError> {
        self.0.journal()
    }

    fn next_journal_id(&self) -> Result<u64, StateError> {
        self.0.next_journal_id()
    }

    fn finish(&self, operation: &str, changed: &[Address]) -> Result<u64, StateError> {
        self.0.finish(operation, changed)
    }

    fn finish_run(
        &self,
        operation: &str,
        changed: &[Address],
        var_set: Option<&str>,
    ) -> Result<u64, StateError> {
        self.0.finish_run(operation, changed, var_set)
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        self.0.history()
    }
}
