//! What the crash tests check of a state and the file-backed fake cloud after SIGKILL and after
//! the repairing apply, whichever store holds the state (sled or S3).

use meshctl_model::record::NodeRecord;
use meshctl_state::JournalEntry;
use meshctl_testkit::FakeCloud;
use std::collections::BTreeSet;
use std::path::Path;

/// Every object the cloud holds is recorded on its resource or under an open journal entry of
/// its address.
pub fn check_accounted(
    cloud_file: &Path,
    records: &[NodeRecord],
    journal: &[JournalEntry],
    trial: usize,
) {
    let cloud = FakeCloud::persistent(cloud_file).expect("the cloud file is whole");
    for object in cloud.objects() {
        let recorded = records.iter().any(|r| {
            r.address.to_string() == object.address && r.objects.iter().any(|o| o.id == object.id)
        });
        let intended = journal
            .iter()
            .any(|j| j.address.to_string() == object.address);
        assert!(
            recorded || intended,
            "trial {trial}: {} ({}) of {} is unknown to state",
            object.id,
            object.kind,
            object.address
        );
    }
}

/// The cloud holds exactly what the state records, `resources` resources are recorded, and the
/// journal is empty.
pub fn check_converged(
    cloud_file: &Path,
    records: &[NodeRecord],
    journal: &[JournalEntry],
    trial: usize,
    resources: usize,
) {
    let recorded: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.objects.iter().map(|o| o.id.clone()))
        .collect();
    let held: BTreeSet<String> = FakeCloud::persistent(cloud_file)
        .unwrap()
        .objects()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        held, recorded,
        "trial {trial}: after repair the cloud and state disagree"
    );
    assert!(
        journal.is_empty(),
        "trial {trial}: journal entries left open: {journal:?}"
    );
    assert_eq!(records.len(), resources, "trial {trial}");
}
