//! The fake cloud: objects tagged with the resource address that owns them, latency and failure
//! injection, a call log, and optional persistence to a file replaced atomically after each change.

use meshctl_model::{Address, Kind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A provider operation, for latency overrides, injected failures and the call log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Read,
    Update,
    Delete,
}

impl Op {
    /// The operation's name as `ProviderError::operation` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Read => "read",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object of the fake cloud. `address` (`kind.name` of the owning resource) plays the part of
/// a `meshctl:address` tag on a real AWS object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeObject {
    pub id: String,
    pub kind: String,
    pub address: String,
    pub fields: serde_json::Value,
}

/// One provider call, for order and overlap assertions.
#[derive(Debug, Clone)]
pub struct Call {
    pub address: Address,
    pub op: Op,
    pub started: Instant,
    pub ended: Instant,
    pub ok: bool,
}

/// A failure decided at the start of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InjectedFailure {
    /// `throttle`: retryable.
    Throttled,
    /// `fail_permanently`.
    Permanent,
}

/// What the cloud holds, and what a persistent cloud writes to its file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct World {
    /// The number in the last id handed out; persisted so ids stay unique across restarts.
    #[serde(default)]
    last_id: u64,
    /// By id.
    objects: BTreeMap<String, FakeObject>,
}

impl World {
    /// Makes sure `last_id` is past every id present, whatever the file said.
    fn repair_last_id(&mut self) {
        let highest = self
            .objects
            .keys()
            .filter_map(|id| id.strip_prefix("fake-")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        self.last_id = self.last_id.max(highest);
    }
}

/// The default latency and its overrides.
#[derive(Debug, Default)]
struct Latencies {
    default: Duration,
    by_kind: HashMap<(Kind, Op), Duration>,
    by_address: HashMap<Address, Duration>,
}

#[derive(Debug, Default)]
struct Failures {
    throttle_rate: f64,
    permanent: HashSet<(Address, Op)>,
    /// Calls that fail permanently once; the next such call succeeds (rollback's retry of it).
    permanent_once: HashSet<(Address, Op)>,
    /// Creates or updates that fail permanently after making this many of their new objects.
    after_objects: HashMap<(Address, Op), usize>,
    /// The next such call fails with a retryable error after making this many new objects.
    once_retryable_after_objects: HashMap<(Address, Op), usize>,
}

/// An in-memory cloud, optionally kept in a file. Share it as `Arc<FakeCloud>`.
#[derive(Debug)]
pub struct FakeCloud {
    world: Mutex<World>,
    /// Where a persistent cloud keeps its objects.
    file: Option<PathBuf>,
    latencies: Mutex<Latencies>,
    failures: Mutex<Failures>,
    calls: Mutex<Vec<Call>>,
}

/// Locks a mutex, going on after a panic in another test thread held it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeCloud {
    /// An empty cloud that lives in memory only.
    pub fn new() -> Arc<Self> {
        Arc::new(FakeCloud::holding(World::default(), None))
    }

    /// A cloud kept in `path`: loaded if the file exists, rewritten atomically (temporary file in
    /// the same directory, `sync_all`, rename) after every change, before the changing call
    /// returns. A process killed at any moment leaves the old or the new content, never a mix.
    pub fn persistent(path: &Path) -> io::Result<Arc<Self>> {
        let mut world: World = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a fake cloud file: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => World::default(),
            Err(e) => return Err(e),
        };
        world.repair_last_id();
        Ok(Arc::new(FakeCloud::holding(
            world,
            Some(path.to_path_buf()),
        )))
    }

    fn holding(world: World, file: Option<PathBuf>) -> Self {
        FakeCloud {
            world: Mutex::new(world),
            file,
            latencies: Mutex::new(Latencies::default()),
            failures: Mutex::new(Failures::default()),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Every object, sorted by id.
    pub fn objects(&self) -> Vec<FakeObject> {
        lock(&self.world).objects.values().cloned().collect()
    }

    /// The objects tagged with `address`, sorted by id.
    pub fn objects_of(&self, address: &Address) -> Vec<FakeObject> {
        let tag = address.to_string();
        lock(&self.world)
            .objects
            .values()
            .filter(|object| object.address == tag)
            .cloned()
            .collect()
    }

    /// The latency of every call without a more specific one (zero at first).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.latencies).default = latency;
    }

    /// The latency of `op` calls for resources of `kind`; overrides `set_latency`.
    pub fn set_kind_latency(&self, kind: Kind, op: Op, latency: Duration) {
        lock(&self.latencies).by_kind.insert((kind, op), latency);
    }

    /// The latency of every call for `address`; overrides the other two (benchmarks give each
    /// resource its own).
    pub fn set_address_latency(&self, address: &Address, latency: Duration) {
        lock(&self.latencies)
            .by_address
            .insert(address.clone(), latency);
    }

    /// Each call fails with a retryable "Throttling: Rate exceeded" error with probability `rate`
    /// (0 turns it off, 1 fails every call).
    pub fn throttle(&self, rate: f64) {
        lock(&self.failures).throttle_rate = rate;
    }

    /// Every `op` call for `address` fails with a permanent error.
    pub fn fail_permanently(&self, address: &Address, op: Op) {
        lock(&self.failures).permanent.insert((address.clone(), op));
    }

    /// The next `op` call for `address` fails with a permanent error; later ones succeed.
    pub fn fail_permanently_once(&self, address: &Address, op: Op) {
        lock(&self.failures)
            .permanent_once
            .insert((address.clone(), op));
    }

    /// Every `op` (create or update) of `address` fails permanently after making `objects` of the
    /// objects it makes (all of them when it makes fewer), each recorded through the callback as
    /// usual: a partial create or update for rollback to clean up. An update that makes no
    /// objects (the rollback's) is not affected.
    pub fn fail_permanently_after_objects(&self, address: &Address, op: Op, objects: usize) {
        lock(&self.failures)
            .after_objects
            .insert((address.clone(), op), objects);
    }

    /// The next `op` (create or update) of `address` fails with a retryable error after making
    /// `objects` of the objects it makes; the one after it succeeds (a throttled call half-way
    /// through).
    pub fn fail_once_retryably_after_objects(&self, address: &Address, op: Op, objects: usize) {
        lock(&self.failures)
            .once_retryable_after_objects
            .insert((address.clone(), op), objects);
    }

    /// Replaces an object's fields as someone outside meshctl would (drift tests); `false` when
    /// there is no such object.
    pub fn change_out_of_band(&self, id: &str, fields: serde_json::Value) -> io::Result<bool> {
        self.set_fields(id, fields)
    }

    /// Deletes one object as someone outside meshctl would.
    pub fn delete_out_of_band(&self, id: &str) -> io::Result<()> {
        self.remove(&[id.to_string()])
    }

    /// Every provider call finished (or abandoned) so far, in the order they ended.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    pub fn clear_calls(&self) {
        lock(&self.calls).clear();
    }

    /// How long an `op` call for `address` takes.
    pub(crate) fn latency(&self, address: &Address, op: Op) -> Duration {
        let latencies = lock(&self.latencies);
        if let Some(latency) = latencies.by_address.get(address) {
            return *latency;
        }
        latencies
            .by_kind
            .get(&(address.kind, op))
            .copied()
            .unwrap_or(latencies.default)
    }

    /// Decides, at the start of a call, whether it fails.
    pub(crate) fn injected_failure(&self, address: &Address, op: Op) -> Option<InjectedFailure> {
        let mut failures = lock(&self.failures);
        if failures.permanent.contains(&(address.clone(), op))
            || failures.permanent_once.remove(&(address.clone(), op))
        {
            return Some(InjectedFailure::Permanent);
        }
        let throttled = failures.throttle_rate > 0.0 && fastrand::f64() < failures.throttle_rate;
        throttled.then_some(InjectedFailure::Throttled)
    }

    /// How many objects an `op` of `address` makes before failing, and how it fails, if it is
    /// set to fail so.
    pub(crate) fn objects_before_failure(
        &self,
        address: &Address,
        op: Op,
    ) -> Option<(usize, meshctl_provider::ErrorClass)> {
        let key = (address.clone(), op);
        let mut failures = lock(&self.failures);
        if let Some(made) = failures.after_objects.get(&key) {
            return Some((*made, meshctl_provider::ErrorClass::Permanent));
        }
        failures
            .once_retryable_after_objects
            .remove(&key)
            .map(|made| (made, meshctl_provider::ErrorClass::Retryable))
    }

    pub(crate) fn log(&self, call: Call) {
        lock(&self.calls).push(call);
    }

    /// Creates an object tagged with `address`; it is in the file (if any) when this returns.
    pub(crate) fn insert(
        &self,
        kind: &str,
        address: &Address,
        fields: serde_json::Value,
    ) -> io::Result<String> {
        let mut world = lock(&self.world);
        world.last_id += 1;
        let id = format!("fake-{:06}", world.last_id);
        let object = FakeObject {
            id: id.clone(),
            kind: kind.to_string(),
            address: address.to_string(),
            fields,
        };
        world.objects.insert(id.clone(), object);
        // The id stays used even if saving fails: ids are never handed out twice.
        self.save_or_undo(&mut world, |world| {
            world.objects.remove(&id);
        })?;
        Ok(id)
    }

    pub(crate) fn get(&self, id: &str) -> Option<FakeObject> {
        lock(&self.world).objects.get(id).cloned()
    }

    /// Whether an object with this id exists.
    pub(crate) fn holds(&self, id: &str) -> bool {
        lock(&self.world).objects.contains_key(id)
    }

    /// Replaces an object's fields; `false` when there is no such object.
    pub(crate) fn set_fields(&self, id: &str, fields: serde_json::Value) -> io::Result<bool> {
        let mut world = lock(&self.world);
        let Some(object) = world.objects.get_mut(id) else {
            return Ok(false);
        };
        let previous = std::mem::replace(&mut object.fields, fields);
        self.save_or_undo(&mut world, |world| {
            if let Some(object) = world.objects.get_mut(id) {
                object.fields = previous;
            }
        })?;
        Ok(true)
    }

    /// Removes the objects with these ids; ids already gone are ignored.
    pub(crate) fn remove(&self, ids: &[String]) -> io::Result<()> {
        let mut world = lock(&self.world);
        let removed: Vec<FakeObject> = ids
            .iter()
            .filter_map(|id| world.objects.remove(id))
            .collect();
        if removed.is_empty() {
            return Ok(());
        }
        self.save_or_undo(&mut world, |world| {
            for object in removed {
                world.objects.insert(object.id.clone(), object);
            }
        })
    }

    /// Removes every object tagged with `address` except those with an id in `keep`.
    pub(crate) fn remove_tagged_except(
        &self,
        address: &Address,
        keep: &[String],
    ) -> io::Result<()> {
        let tag = address.to_string();
        let ids: Vec<String> = lock(&self.world)
            .objects
            .values()
            .filter(|object| object.address == tag && !keep.contains(&object.id))
            .map(|object| object.id.clone())
            .collect();
        self.remove(&ids)
    }

    /// Writes the world to the file; on failure undoes the change so memory matches the file.
    fn save_or_undo(&self, world: &mut World, undo: impl FnOnce(&mut World)) -> io::Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        match write_atomically(path, world) {
            Ok(()) => Ok(()),
            Err(e) => {
                undo(world);
                Err(e)
            }
        }
    }
}

/// Replaces `path` with the world: a temporary file in the same directory, synced, then renamed
/// over it, so readers (and a process killed mid-way) see the old or the new content only.
fn write_atomically(path: &Path, world: &World) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(world).map_err(io::Error::other)?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    // The process id keeps two processes opening the same cloud from sharing a temporary file.
    let temporary = directory.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let replaced = File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = replaced {
        // Best effort: a leftover temporary file is harmless, the original error matters.
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    // Makes the rename itself durable against power loss (a killed process needs no more than
    // the rename). Some file systems cannot sync a directory; the rename is done either way.
    if let Ok(directory) = File::open(directory) {
        let _ = directory.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn address(text: &str) -> Address {
        Address::parse(text).unwrap()
    }

    #[test]
    fn objects_are_sorted_by_id_and_filtered_by_owner() {
        let cloud = FakeCloud::new();
        let zone = address("route53_zone.public");
        let cluster = address("eks_cluster.main");
        let first = cloud.insert("fake:route53_zone", &zone, json!({})).unwrap();
        let second = cloud
            .insert("fake:eks_cluster", &cluster, json!({}))
            .unwrap();
        let third = cloud
            .insert("fake:oidc-provider", &cluster, json!({}))
            .unwrap();
        let ids: Vec<String> = cloud.objects().into_iter().map(|o| o.id).collect();
        assert_eq!(ids, [first.clone(), second.clone(), third.clone()]);
        let owned: Vec<String> = cloud
            .objects_of(&cluster)
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(owned, [second, third]);
        assert_eq!(cloud.objects_of(&zone)[0].address, "route53_zone.public");
    }

    #[test]
    fn a_persistent_cloud_survives_reopening_and_never_reuses_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.json");
        let vpc = address("vpc.main");
        let (kept, gone) = {
            let cloud = FakeCloud::persistent(&path).unwrap();
            assert!(cloud.objects().is_empty());
            let kept = cloud
                .insert("fake:vpc", &vpc, json!({"cidr": "10.0.0.0/16"}))
                .unwrap();
            let gone = cloud.insert("fake:vpc", &vpc, json!({})).unwrap();
            cloud.remove(std::slice::from_ref(&gone)).unwrap();
            assert!(cloud
                .change_out_of_band(&kept, json!({"cidr": "10.1.0.0/16"}))
                .unwrap());
            (kept, gone)
        };
        let reopened = FakeCloud::persistent(&path).unwrap();
        let objects = reopened.objects();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].id, kept);
        assert_eq!(objects[0].fields, json!({"cidr": "10.1.0.0/16"}));
        let next = reopened.insert("fake:vpc", &vpc, json!({})).unwrap();
        assert!(next != kept && next != gone, "{next} was handed out before");
        // Only the cloud file is left: every temporary file was renamed over it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["cloud.json"]);
    }

    #[test]
    fn an_unreadable_cloud_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.json");
        std::fs::write(&path, "{ torn").unwrap();
        let error = FakeCloud::persistent(&path).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_change_that_cannot_be_saved_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.json");
        let cloud = FakeCloud::persistent(&path).unwrap();
        let vpc = address("vpc.main");
        let id = cloud.insert("fake:vpc", &vpc, json!({"a": 1})).unwrap();
        // A directory where the file should go makes the rename fail.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(cloud.insert("fake:vpc", &vpc, json!({})).is_err());
        assert!(cloud.set_fields(&id, json!({"a": 2})).is_err());
        assert!(cloud.remove(std::slice::from_ref(&id)).is_err());
        let objects = cloud.objects();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].fields, json!({"a": 1}));
        // The failed writes left no temporary file behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn latency_overrides_go_from_address_to_kind_to_default() {
        let cloud = FakeCloud::new();
        let record = address("dns_record.www");
        let other = address("dns_record.api");
        cloud.set_latency(Duration::from_millis(1));
        cloud.set_kind_latency(Kind::DnsRecord, Op::Create, Duration::from_millis(2));
        cloud.set_address_latency(&record, Duration::from_millis(3));
        assert_eq!(cloud.latency(&record, Op::Read), Duration::from_millis(3));
        assert_eq!(cloud.latency(&other, Op::Create), Duration::from_millis(2));
        assert_eq!(cloud.latency(&other, Op::Read), Duration::from_millis(1));
    }

    #[test]
    fn permanent_failures_apply_to_their_address_and_operation_only() {
        let cloud = FakeCloud::new();
        let zone = address("route53_zone.public");
        cloud.fail_permanently(&zone, Op::Delete);
        assert_eq!(
            cloud.injected_failure(&zone, Op::Delete),
            Some(InjectedFailure::Permanent)
        );
        assert_eq!(cloud.injected_failure(&zone, Op::Create), None);
        assert_eq!(
            cloud.injected_failure(&address("route53_zone.private"), Op::Delete),
            None
        );
    }
}
