//! The fake cloud: objects tagged with the resource address that owns them, latency and failure
//! injection, a call log, and optional persistence to a file replaced atomically after each change.

use meshctl_model::Address;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Read,
    Update,
    Delete,
}

/// One object of the fake cloud. `address` plays the part of a `meshctl:address` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Default, Serialize, Deserialize)]
struct Stored {
    next_id: u64,
    objects: BTreeMap<String, FakeObject>,
}

#[derive(Default)]
struct Faults {
    throttle_rate: f64,
    permanent: HashSet<(String, OpKey)>,
    partial_create: HashMap<String, usize>,
}

type OpKey = u8;

/// The default latency, and overrides by (kind, operation).
#[derive(Default)]
struct Latency {
    default: Duration,
    by_kind: HashMap<(String, OpKey), Duration>,
    by_address: HashMap<String, Duration>,
}

fn key(op: Op) -> OpKey {
    op as u8
}

pub struct FakeCloud {
    stored: Mutex<Stored>,
    file: Option<PathBuf>,
    latency: Mutex<Latency>,
    faults: Mutex<Faults>,
    calls: Mutex<Vec<Call>>,
}

impl FakeCloud {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeCloud::with(Stored::default(), None))
    }

    /// A cloud kept in `path`: loaded if present, rewritten after every change.
    pub fn persistent(path: &Path) -> std::io::Result<Arc<Self>> {
        let stored = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored::default(),
            Err(e) => return Err(e),
        };
        Ok(Arc::new(FakeCloud::with(stored, Some(path.to_path_buf()))))
    }

    fn with(stored: Stored, file: Option<PathBuf>) -> Self {
        FakeCloud {
            stored: Mutex::new(stored),
            file,
            latency: Mutex::new(Latency::default()),
            faults: Mutex::new(Faults::default()),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn objects(&self) -> Vec<FakeObject> {
        Self::lock(&self.stored).objects.values().cloned().collect()
    }

    pub fn objects_of(&self, address: &Address) -> Vec<FakeObject> {
        let tag = address.to_string();
        self.objects()
            .into_iter()
            .filter(|o| o.address == tag)
            .collect()
    }

    pub fn set_latency(&self, latency: Duration) {
        Self::lock(&self.latency).default = latency;
    }

    pub fn set_kind_latency(&self, kind: meshctl_model::Kind, op: Op, latency: Duration) {
        Self::lock(&self.latency)
            .by_kind
            .insert((kind.to_string(), key(op)), latency);
    }

    /// Every call for `address` takes this long (benchmarks give each resource its own).
    pub fn set_address_latency(&self, address: &Address, latency: Duration) {
        Self::lock(&self.latency)
            .by_address
            .insert(address.to_string(), latency);
    }

    /// Each call fails with a retryable throttling error with this probability.
    pub fn throttle(&self, rate: f64) {
        Self::lock(&self.faults).throttle_rate = rate;
    }

    /// Every `op` call for `address` fails permanently.
    pub fn fail_permanently(&self, address: &Address, op: Op) {
        Self::lock(&self.faults)
            .permanent
            .insert((address.to_string(), key(op)));
    }

    /// A create of `address` fails permanently after making `objects` of its objects.
    pub fn fail_permanently_after_objects(&self, address: &Address, objects: usize) {
        Self::lock(&self.faults)
            .partial_create
            .insert(address.to_string(), objects);
    }

    /// Changes an object's fields as someone outside meshctl would (drift tests).
    pub fn change_out_of_band(&self, id: &str, fields: serde_json::Value) -> std::io::Result<bool> {
        self.set_fields(id, fields)
    }

    /// Deletes one object as someone outside meshctl would.
    pub fn delete_out_of_band(&self, id: &str) -> std::io::Result<()> {
        let mut stored = Self::lock(&self.stored);
        stored.objects.remove(id);
        self.save(&stored)
    }

    pub fn calls(&self) -> Vec<Call> {
        Self::lock(&self.calls).clone()
    }

    pub fn clear_calls(&self) {
        Self::lock(&self.calls).clear();
    }

    pub(crate) fn latency(&self, address: &Address, op: Op) -> Duration {
        let latency = Self::lock(&self.latency);
        if let Some(own) = latency.by_address.get(&address.to_string()) {
            return *own;
        }
        latency
            .by_kind
            .get(&(address.kind.to_string(), key(op)))
            .copied()
            .unwrap_or(latency.default)
    }

    /// The fault to inject at the start of a call, if any: `Some(true)` permanent, `Some(false)` throttling.
    pub(crate) fn fault(&self, address: &Address, op: Op) -> Option<bool> {
        let faults = Self::lock(&self.faults);
        if faults.permanent.contains(&(address.to_string(), key(op))) {
            return Some(true);
        }
        (faults.throttle_rate > 0.0 && fastrand::f64() < faults.throttle_rate).then_some(false)
    }

    pub(crate) fn partial_create(&self, address: &Address) -> Option<usize> {
        Self::lock(&self.faults)
            .partial_create
            .get(&address.to_string())
            .copied()
    }

    pub(crate) fn log(&self, call: Call) {
        Self::lock(&self.calls).push(call);
    }

    /// Inserts an object and makes it durable before returning its id.
    pub(crate) fn insert(
        &self,
        kind: &str,
        address: &Address,
        fields: serde_json::Value,
    ) -> std::io::Result<String> {
        let mut stored = Self::lock(&self.stored);
        stored.next_id += 1;
        let id = format!("fake-{:06}", stored.next_id);
        stored.objects.insert(
            id.clone(),
            FakeObject {
                id: id.clone(),
                kind: kind.to_string(),
                address: address.to_string(),
                fields,
            },
        );
        self.save(&stored)?;
        Ok(id)
    }

    pub(crate) fn get(&self, id: &str) -> Option<FakeObject> {
        Self::lock(&self.stored).objects.get(id).cloned()
    }

    pub(crate) fn set_fields(&self, id: &str, fields: serde_json::Value) -> std::io::Result<bool> {
        let mut stored = Self::lock(&self.stored);
        let Some(object) = stored.objects.get_mut(id) else {
            return Ok(false);
        };
        object.fields = fields;
        self.save(&stored)?;
        Ok(true)
    }

    /// Removes the listed objects.
    pub(crate) fn remove(&self, ids: &[String]) -> std::io::Result<()> {
        let mut stored = Self::lock(&self.stored);
        stored.objects.retain(|id, _| !ids.contains(id));
        self.save(&stored)
    }

    /// Removes every object tagged with `address` except those in `keep`.
    pub(crate) fn remove_tagged(&self, address: &Address, keep: &[String]) -> std::io::Result<()> {
        let mut stored = Self::lock(&self.stored);
        let tag = address.to_string();
        stored
            .objects
            .retain(|id, o| o.address != tag || keep.contains(id));
        self.save(&stored)
    }

    fn save(&self, stored: &Stored) -> std::io::Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(stored).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}
