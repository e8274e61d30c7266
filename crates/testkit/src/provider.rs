//! `FakeProvider`: the `Provider` contract over the fake cloud, for every kind. A resource owns a
//! main object holding its desired fields, plus the extra objects real kinds own (an ACM
//! certificate's validation record, a cluster's OIDC provider, an IRSA role's ServiceAccount), and
//! a manifest one object per entry of its `objects`, so that an update can create and delete
//! objects as a real one does.

use crate::cloud::{Call, FakeCloud, InjectedFailure, Op};
use async_trait::async_trait;
use meshctl_model::record::OwnedObject;
use meshctl_model::{Address, Kind};
use meshctl_provider::{Applied, ErrorClass, Inputs, Progress, Provider, ProviderError, Request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `Provider` for every kind, over `cloud`.
pub struct FakeProvider {
    pub cloud: Arc<FakeCloud>,
}

impl FakeProvider {
    pub fn new(cloud: Arc<FakeCloud>) -> Self {
        FakeProvider { cloud }
    }

    /// Starts a call: decides whether it fails, then waits `latency`. The returned call logs
    /// itself when dropped.
    async fn start<'a>(
        &'a self,
        address: &'a Address,
        op: Op,
        latency: Duration,
    ) -> Result<CallInProgress<'a>, ProviderError> {
        let call = CallInProgress {
            cloud: &self.cloud,
            address,
            op,
            started: Instant::now(),
            ok: false,
        };
        let failure = self.cloud.injected_failure(address, op);
        wait(latency).await;
        match failure {
            None => Ok(call),
            Some(InjectedFailure::Throttled) => Err(ProviderError::new(
                ErrorClass::Retryable,
                address,
                op.as_str(),
                "Throttling: Rate exceeded",
            )),
            Some(InjectedFailure::Permanent) => Err(ProviderError::new(
                ErrorClass::Permanent,
                address,
                op.as_str(),
                "AccessDenied: injected permanent failure",
            )),
        }
    }

    /// The resource's main object among `objects`, if it is listed and still exists.
    fn main_object<'o>(&self, kind: Kind, objects: &'o [OwnedObject]) -> Option<&'o OwnedObject> {
        let main_kind = main_object_kind(kind);
        objects
            .iter()
            .find(|object| object.kind == main_kind)
            .filter(|main| self.cloud.holds(&main.id))
    }

    /// The listed objects that still exist.
    fn existing(&self, objects: &[OwnedObject]) -> Vec<OwnedObject> {
        objects
            .iter()
            .filter(|object| self.cloud.holds(&object.id))
            .cloned()
            .collect()
    }
}

/// A provider call under way; logged in the cloud's call log when dropped, as failed unless
/// `finish` saw it succeed (an abandoned call, its future dropped, counts as failed).
struct CallInProgress<'a> {
    cloud: &'a FakeCloud,
    address: &'a Address,
    op: Op,
    started: Instant,
    ok: bool,
}

impl CallInProgress<'_> {
    fn finish<T>(mut self, result: Result<T, ProviderError>) -> Result<T, ProviderError> {
        self.ok = result.is_ok();
        result
    }
}

impl Drop for CallInProgress<'_> {
    fn drop(&mut self) {
        self.cloud.log(Call {
            address: self.address.clone(),
            op: self.op,
            started: self.started,
            ended: Instant::now(),
            ok: self.ok,
        });
    }
}

async fn wait(latency: Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

fn main_object_kind(kind: Kind) -> String {
    format!("fake:{kind}")
}

/// The kind of the object each entry of a manifest's `objects` becomes; it holds the entry.
const MANIFEST_OBJECT: &str = "fake:manifest-object";

/// The objects a resource of `kind` with these desired fields owns, as (object kind, fields), main
/// object first.
fn planned_objects(kind: Kind, desired: &Value) -> Vec<(String, Value)> {
    let mut planned = vec![(main_object_kind(kind), desired.clone())];
    let extra = match kind {
        Kind::AcmCertificate => Some("fake:validation-record"),
        Kind::EksCluster => Some("fake:oidc-provider"),
        Kind::IamServiceAccount => Some("fake:service-account"),
        _ => None,
    };
    planned.extend(extra.map(|kind| (kind.to_string(), Value::Null)));
    planned.extend(
        manifest_entries(kind, desired)
            .into_iter()
            .map(|entry| (MANIFEST_OBJECT.to_string(), entry)),
    );
    planned
}

/// The entries of a manifest's `objects` (nothing for other kinds).
fn manifest_entries(kind: Kind, desired: &Value) -> Vec<Value> {
    match (kind, desired.get("objects")) {
        (Kind::Manifest, Some(Value::Array(entries))) => entries.clone(),
        _ => Vec::new(),
    }
}

/// What tells two manifest entries apart, as Kubernetes does: API version, kind, namespace, name.
fn entry_identity(entry: &Value) -> [&Value; 4] {
    let metadata = &entry["metadata"];
    [
        &entry["apiVersion"],
        &entry["kind"],
        &metadata["namespace"],
        &metadata["name"],
    ]
}

/// Every output of `kind`, as `"<output>-<suffix>"`.
fn outputs(kind: Kind, suffix: &str) -> BTreeMap<String, Value> {
    kind.schema()
        .outputs
        .iter()
        .map(|output| {
            (
                output.to_string(),
                Value::String(format!("{output}-{suffix}")),
            )
        })
        .collect()
}

fn storage_error(address: &Address, op: Op, error: std::io::Error) -> ProviderError {
    ProviderError::new(
        ErrorClass::Permanent,
        address,
        op.as_str(),
        format!("fake cloud storage: {error}"),
    )
}

fn not_found(address: &Address, op: Op) -> ProviderError {
    ProviderError::new(
        ErrorClass::NotFound,
        address,
        op.as_str(),
        format!("{address} has no {} object", main_object_kind(address.kind)),
    )
}

#[async_trait]
impl Provider for FakeProvider {
    fn kinds(&self) -> &'static [Kind] {
        Kind::ALL
    }

    async fn read(
        &self,
        request: &Request<'_>,
        objects: &[OwnedObject],
    ) -> Result<Option<Applied>, ProviderError> {
        let address = request.address;
        let latency = self.cloud.latency(address, Op::Read);
        let call = self.start(address, Op::Read, latency).await?;
        if objects.is_empty() {
            // Looked up, not owned (an existing zone): outputs come from the address.
            return call.finish(Ok(Some(Applied {
                drifts: Vec::new(),
                objects: Vec::new(),
                outputs: outputs(address.kind, &address.to_string()),
                live: request.desired.clone(),
            })));
        }
        let applied = self
            .main_object(address.kind, objects)
            .and_then(|main| self.cloud.get(&main.id))
            .map(|main| Applied {
                drifts: Vec::new(),
                objects: self.existing(objects),
                outputs: outputs(address.kind, &main.id),
                live: main.fields,
            });
        call.finish(Ok(applied))
    }

    async fn create(
        &self,
        request: &Request<'_>,
        record: &(dyn Fn(OwnedObject) + Send + Sync),
        progress: &dyn Progress,
    ) -> Result<Applied, ProviderError> {
        let address = request.address;
        let planned = planned_objects(address.kind, request.desired);
        let count = planned.len();
        let share = u32::try_from(count).unwrap_or(u32::MAX);
        let latency_per_object = self.cloud.latency(address, Op::Create) / share;
        let call = self.start(address, Op::Create, latency_per_object).await?;
        progress.update(address, &format!("creating {count} object(s)"));
        let failure = self.cloud.objects_before_failure(address, Op::Create);
        let stop_after = failure.map(|(made, _)| made.min(count));
        let mut objects: Vec<OwnedObject> = Vec::with_capacity(count);
        for (index, (object_kind, fields)) in planned.into_iter().enumerate() {
            if stop_after == Some(index) {
                break;
            }
            if index > 0 {
                wait(latency_per_object).await;
            }
            let id = match self.cloud.insert(&object_kind, address, fields) {
                Ok(id) => id,
                Err(error) => return call.finish(Err(storage_error(address, Op::Create, error))),
            };
            let object = OwnedObject {
                kind: object_kind,
                id,
            };
            record(object.clone());
            objects.push(object);
        }
        if let (Some(made), Some((_, class))) = (stop_after, failure) {
            return call.finish(Err(ProviderError::new(
                class,
                address,
                Op::Create.as_str(),
                format!("LimitExceeded: injected failure after {made} of {count} object(s)"),
            )));
        }
        let main_id = objects
            .first()
            .map(|main| main.id.clone())
            .unwrap_or_default();
        call.finish(Ok(Applied {
            drifts: Vec::new(),
            objects,
            outputs: outputs(address.kind, &main_id),
            live: request.desired.clone(),
        }))
    }

    /// Sets the main object's fields; for a manifest, also makes an object for each entry no
    /// object holds yet (recording each as it is made), sets the fields of the others, and
    /// deletes the objects of entries no longer listed.
    async fn update(
        &self,
        request: &Request<'_>,
        _prior: &Value,
        objects: &[OwnedObject],
        record: &(dyn Fn(OwnedObject) + Send + Sync),
        progress: &dyn Progress,
    ) -> Result<Applied, ProviderError> {
        let address = request.address;
        // Which entry each held manifest object stands for; the unclaimed ones are stale.
        let mut held: Vec<(OwnedObject, Value)> = objects
            .iter()
            .filter(|object| object.kind == MANIFEST_OBJECT)
            .filter_map(|object| Some((object.clone(), self.cloud.get(&object.id)?.fields)))
            .collect();
        let mut changed: Vec<(String, Value)> = Vec::new();
        let mut missing: Vec<Value> = Vec::new();
        for entry in manifest_entries(address.kind, request.desired) {
            let same = held
                .iter()
                .position(|(_, fields)| entry_identity(fields) == entry_identity(&entry));
            match same {
                Some(index) => {
                    let (object, fields) = held.swap_remove(index);
                    if fields != entry {
                        changed.push((object.id, entry));
                    }
                }
                None => missing.push(entry),
            }
        }
        let stale: Vec<String> = held.into_iter().map(|(object, _)| object.id).collect();

        let share = u32::try_from(missing.len() + 1).unwrap_or(u32::MAX);
        let latency_per_object = self.cloud.latency(address, Op::Update) / share;
        let call = self.start(address, Op::Update, latency_per_object).await?;
        progress.update(address, "updating");
        let Some(main) = self.main_object(address.kind, objects).cloned() else {
            return call.finish(Err(not_found(address, Op::Update)));
        };
        match self.cloud.set_fields(&main.id, request.desired.clone()) {
            Ok(true) => {}
            // Deleted between the lookup and the change.
            Ok(false) => return call.finish(Err(not_found(address, Op::Update))),
            Err(error) => return call.finish(Err(storage_error(address, Op::Update, error))),
        }
        for (id, entry) in changed {
            if let Err(error) = self.cloud.set_fields(&id, entry) {
                return call.finish(Err(storage_error(address, Op::Update, error)));
            }
        }
        // An injected failure strikes while making objects: an update that makes none succeeds.
        let failure = match missing.is_empty() {
            true => None,
            false => self.cloud.objects_before_failure(address, Op::Update),
        };
        let stop_after = failure.map(|(made, _)| made.min(missing.len()));
        let mut made: Vec<OwnedObject> = Vec::with_capacity(missing.len());
        for (index, entry) in missing.iter().enumerate() {
            if stop_after == Some(index) {
                break;
            }
            wait(latency_per_object).await;
            let id = match self.cloud.insert(MANIFEST_OBJECT, address, entry.clone()) {
                Ok(id) => id,
                Err(error) => return call.finish(Err(storage_error(address, Op::Update, error))),
            };
            let object = OwnedObject {
                kind: MANIFEST_OBJECT.to_string(),
                id,
            };
            record(object.clone());
            made.push(object);
        }
        if let (Some(count), Some((_, class))) = (stop_after, failure) {
            return call.finish(Err(ProviderError::new(
                class,
                address,
                Op::Update.as_str(),
                format!(
                    "LimitExceeded: injected failure after {count} of {} new object(s)",
                    missing.len()
                ),
            )));
        }
        if let Err(error) = self.cloud.remove(&stale) {
            return call.finish(Err(storage_error(address, Op::Update, error)));
        }
        let mut owned = self.existing(objects);
        owned.extend(made);
        call.finish(Ok(Applied {
            drifts: Vec::new(),
            objects: owned,
            outputs: outputs(address.kind, &main.id),
            live: request.desired.clone(),
        }))
    }

    async fn delete(
        &self,
        address: &Address,
        objects: &[OwnedObject],
        _inputs: &Inputs,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let latency = self.cloud.latency(address, Op::Delete);
        let call = self.start(address, Op::Delete, latency).await?;
        progress.update(address, &format!("deleting {} object(s)", objects.len()));
        let ids: Vec<String> = objects.iter().map(|object| object.id.clone()).collect();
        let result = self
            .cloud
            .remove(&ids)
            .map_err(|error| storage_error(address, Op::Delete, error));
        call.finish(result)
    }

    /// Every object the fake cloud holds carries the address that made it, and `sweep` finds
    /// them all by it.
    fn sweep_finds_everything(&self, _kind: Kind) -> bool {
        true
    }

    /// Removes objects tagged with `address` that are not in `keep`. No latency, injected failure
    /// or call-log entry: `Op` has no sweep, and tests count deletes.
    async fn sweep(
        &self,
        address: &Address,
        keep: &[OwnedObject],
        _inputs: &Inputs,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        progress.update(address, "deleting untracked objects");
        let keep: Vec<String> = keep.iter().map(|object| object.id.clone()).collect();
        self.cloud
            .remove_tagged_except(address, &keep)
            .map_err(|error| storage_error(address, Op::Delete, error))
    }

    async fn import(
        &self,
        request: &Request<'_>,
        _id: &str,
    ) -> Result<(Value, Applied), ProviderError> {
        Err(ProviderError::new(
            ErrorClass::Permanent,
            request.address,
            "import",
            "import is not supported by the fake cloud",
        ))
    }

    /// The fake cloud's objects carry no marks: it finds them by address.
    async fn mark(
        &self,
        _request: &Request<'_>,
        _objects: &[OwnedObject],
    ) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    /// Remembers every progress message.
    #[derive(Default)]
    struct Messages(Mutex<Vec<String>>);

    impl Progress for Messages {
        fn update(&self, address: &Address, message: &str) {
            self.0.lock().unwrap().push(format!("{address}: {message}"));
        }
    }

    impl Messages {
        fn count(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }

    fn no_inputs() -> BTreeMap<Address, BTreeMap<String, Value>> {
        BTreeMap::new()
    }

    async fn create(
        provider: &FakeProvider,
        address: &Address,
        desired: &Value,
    ) -> Result<Applied, ProviderError> {
        let inputs = no_inputs();
        let request = Request {
            address,
            desired,
            inputs: &inputs,
        };
        provider
            .create(&request, &|_| {}, &Messages::default())
            .await
    }

    async fn read(
        provider: &FakeProvider,
        address: &Address,
        desired: &Value,
        objects: &[OwnedObject],
    ) -> Result<Option<Applied>, ProviderError> {
        let inputs = no_inputs();
        let request = Request {
            address,
            desired,
            inputs: &inputs,
        };
        provider.read(&request, objects).await
    }

    async fn update(
        provider: &FakeProvider,
        address: &Address,
        desired: &Value,
        objects: &[OwnedObject],
    ) -> Result<Applied, ProviderError> {
        let inputs = no_inputs();
        let request = Request {
            address,
            desired,
            inputs: &inputs,
        };
        provider
            .update(
                &request,
                &Value::Null,
                objects,
                &|_| {},
                &Messages::default(),
            )
            .await
    }

    #[tokio::test]
    async fn create_records_each_object_durably_through_the_callback_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.json");
        let provider = FakeProvider::new(FakeCloud::persistent(&path).unwrap());
        let address = Address::new(Kind::AcmCertificate, "web");
        let desired = json!({"domain": "*.example.com"});
        let inputs = no_inputs();
        let request = Request {
            address: &address,
            desired: &desired,
            inputs: &inputs,
        };
        let recorded = Mutex::new(Vec::new());
        let record = |object: OwnedObject| {
            // Already in the file, and nothing after it exists yet.
            let on_disk = FakeCloud::persistent(&path).unwrap().objects();
            assert_eq!(on_disk.last().map(|o| &o.id), Some(&object.id));
            recorded.lock().unwrap().push(object);
        };
        let messages = Messages::default();
        let applied = provider.create(&request, &record, &messages).await.unwrap();

        let recorded = recorded.into_inner().unwrap();
        assert_eq!(recorded, applied.objects);
        let kinds: Vec<&str> = recorded.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds, ["fake:acm_certificate", "fake:validation-record"]);
        let main = &recorded[0].id;
        assert_eq!(applied.outputs["arn"], json!(format!("arn-{main}")));
        assert_eq!(
            applied.outputs.len(),
            Kind::AcmCertificate.schema().outputs.len()
        );
        assert_eq!(applied.live, desired);
        assert_eq!(messages.count(), 1);
        let objects = provider.cloud.objects_of(&address);
        assert_eq!(objects[0].fields, desired);
        assert_eq!(objects[0].address, "acm_certificate.web");
        assert_eq!(objects.len(), 2);
    }

    #[tokio::test]
    async fn every_kind_gets_its_objects_and_every_output() {
        let provider = FakeProvider::new(FakeCloud::new());
        assert_eq!(provider.kinds(), Kind::ALL);
        for &kind in Kind::ALL {
            let address = Address::new(kind, "x");
            let applied = create(&provider, &address, &json!({})).await.unwrap();
            let expected = match kind {
                Kind::AcmCertificate | Kind::EksCluster | Kind::IamServiceAccount => 2,
                _ => 1,
            };
            assert_eq!(applied.objects.len(), expected, "{kind}");
            assert_eq!(applied.objects[0].kind, format!("fake:{kind}"));
            let names: Vec<&str> = applied.outputs.keys().map(String::as_str).collect();
            let mut schema_names = kind.schema().outputs.to_vec();
            schema_names.sort_unstable();
            assert_eq!(names, schema_names, "{kind}");
            for (name, value) in &applied.outputs {
                assert_eq!(value, &json!(format!("{name}-{}", applied.objects[0].id)));
            }
        }
    }

    #[tokio::test]
    async fn read_update_and_delete_follow_the_main_object() {
        let provider = FakeProvider::new(FakeCloud::new());
        let address = Address::new(Kind::EksCluster, "main");
        let created = create(&provider, &address, &json!({"version": "1.30"}))
            .await
            .unwrap();
        let objects = created.objects.clone();

        let changed = update(&provider, &address, &json!({"version": "1.31"}), &objects)
            .await
            .unwrap();
        assert_eq!(changed.objects, objects);
        assert_eq!(changed.outputs, created.outputs);
        provider
            .cloud
            .change_out_of_band(&objects[0].id, json!({"version": "1.29"}))
            .unwrap();
        let live = read(&provider, &address, &json!({}), &objects)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(live.live, json!({"version": "1.29"}));
        assert_eq!(live.objects, objects);
        assert_eq!(live.outputs, created.outputs);

        // An extra object deleted out of band is no longer reported.
        provider.cloud.delete_out_of_band(&objects[1].id).unwrap();
        let live = read(&provider, &address, &json!({}), &objects)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(live.objects, objects[..1]);

        // Deleting what is already partly gone is fine.
        let messages = Messages::default();
        provider
            .delete(&address, &objects, &Inputs::new(), &messages)
            .await
            .unwrap();
        assert_eq!(messages.count(), 1);
        assert!(provider.cloud.objects().is_empty());
        assert_eq!(
            read(&provider, &address, &json!({}), &objects)
                .await
                .unwrap(),
            None
        );
        let error = update(&provider, &address, &json!({}), &objects)
            .await
            .unwrap_err();
        assert_eq!(error.class, ErrorClass::NotFound);
        provider
            .delete(&address, &objects, &Inputs::new(), &Messages::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn reading_a_looked_up_resource_creates_nothing() {
        let provider = FakeProvider::new(FakeCloud::new());
        let zone = Address::new(Kind::Route53Zone, "public");
        let desired = json!({"domain": "example.com", "existing": true});
        let applied = read(&provider, &zone, &desired, &[])
            .await
            .unwrap()
            .unwrap();
        assert!(applied.objects.is_empty());
        assert_eq!(
            applied.outputs["zone_id"],
            json!("zone_id-route53_zone.public")
        );
        assert_eq!(
            applied.outputs["name_servers"],
            json!("name_servers-route53_zone.public")
        );
        assert!(provider.cloud.objects().is_empty());
    }

    #[tokio::test]
    async fn sweep_deletes_only_untracked_objects_of_its_address() {
        let provider = FakeProvider::new(FakeCloud::new());
        let role = Address::new(Kind::IamServiceAccount, "app");
        let other = Address::new(Kind::Namespace, "app");
        let first = create(&provider, &role, &json!({})).await.unwrap();
        let second = create(&provider, &role, &json!({})).await.unwrap();
        let unrelated = create(&provider, &other, &json!({})).await.unwrap();
        let messages = Messages::default();
        provider
            .sweep(&role, &second.objects, &Inputs::new(), &messages)
            .await
            .unwrap();
        assert_eq!(messages.count(), 1);
        let left: Vec<String> = provider.cloud.objects().into_iter().map(|o| o.id).collect();
        let mut expected: Vec<String> = second
            .objects
            .iter()
            .chain(&unrelated.objects)
            .map(|o| o.id.clone())
            .collect();
        expected.sort();
        assert_eq!(left, expected);
        assert!(first.objects.iter().all(|o| !left.contains(&o.id)));
    }

    #[tokio::test]
    async fn a_throttle_rate_of_one_always_fails_retryably() {
        let provider = FakeProvider::new(FakeCloud::new());
        let address = Address::new(Kind::DnsRecord, "www");
        let created = create(&provider, &address, &json!({})).await.unwrap();
        provider.cloud.clear_calls();
        provider.cloud.throttle(1.0);
        for _ in 0..20 {
            let errors = [
                create(&provider, &address, &json!({})).await.unwrap_err(),
                read(&provider, &address, &json!({}), &created.objects)
                    .await
                    .unwrap_err(),
                update(&provider, &address, &json!({}), &created.objects)
                    .await
                    .unwrap_err(),
                provider
                    .delete(
                        &address,
                        &created.objects,
                        &Inputs::new(),
                        &Messages::default(),
                    )
                    .await
                    .unwrap_err(),
            ];
            for error in errors {
                assert!(error.is_retryable(), "{error}");
                assert_eq!(error.message, "Throttling: Rate exceeded");
            }
        }
        assert_eq!(provider.cloud.objects().len(), 1);
        let calls = provider.cloud.calls();
        assert_eq!(calls.len(), 80);
        assert!(calls.iter().all(|call| !call.ok));

        provider.cloud.throttle(0.0);
        create(&provider, &address, &json!({})).await.unwrap();
    }

    #[tokio::test]
    async fn permanent_failures_hit_only_their_address_and_operation() {
        let provider = FakeProvider::new(FakeCloud::new());
        let failing = Address::new(Kind::Namespace, "a");
        let fine = Address::new(Kind::Namespace, "b");
        provider.cloud.fail_permanently(&failing, Op::Create);
        for _ in 0..3 {
            let error = create(&provider, &failing, &json!({})).await.unwrap_err();
            assert_eq!(error.class, ErrorClass::Permanent);
            assert_eq!(error.operation, "create");
        }
        create(&provider, &fine, &json!({})).await.unwrap();
        assert!(provider.cloud.objects_of(&failing).is_empty());
        let inputs = Inputs::new();
        let desired = json!({});
        let request = Request {
            address: &fine,
            desired: &desired,
            inputs: &inputs,
        };
        let error = provider
            .import(&request, "anything")
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(error.class, ErrorClass::Permanent);
        assert_eq!(error.message, "import is not supported by the fake cloud");
    }

    #[tokio::test]
    async fn a_partial_create_leaves_exactly_the_objects_it_recorded() {
        for made in 0..=3 {
            let provider = FakeProvider::new(FakeCloud::new());
            let address = Address::new(Kind::IamServiceAccount, "app");
            provider
                .cloud
                .fail_permanently_after_objects(&address, Op::Create, made);
            let inputs = no_inputs();
            let desired = json!({});
            let request = Request {
                address: &address,
                desired: &desired,
                inputs: &inputs,
            };
            let recorded = Mutex::new(Vec::new());
            let record = |object: OwnedObject| recorded.lock().unwrap().push(object.id);
            let error = provider
                .create(&request, &record, &Messages::default())
                .await
                .unwrap_err();
            assert_eq!(error.class, ErrorClass::Permanent);
            let left: Vec<String> = provider.cloud.objects().into_iter().map(|o| o.id).collect();
            assert_eq!(left.len(), made.min(2), "after {made}");
            assert_eq!(left, recorded.into_inner().unwrap());
            assert!(!provider.cloud.calls()[0].ok);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn latency_is_waited_for_and_split_between_the_objects_of_a_create() {
        let provider = FakeProvider::new(FakeCloud::new());
        let cluster = Address::new(Kind::EksCluster, "main");
        provider.cloud.set_latency(Duration::from_secs(10));
        provider
            .cloud
            .set_kind_latency(Kind::EksCluster, Op::Read, Duration::from_secs(3));

        let start = tokio::time::Instant::now();
        let inputs = no_inputs();
        let desired = json!({});
        let request = Request {
            address: &cluster,
            desired: &desired,
            inputs: &inputs,
        };
        let recorded_at = Mutex::new(Vec::new());
        let record = |_: OwnedObject| recorded_at.lock().unwrap().push(start.elapsed());
        let created = provider
            .create(&request, &record, &Messages::default())
            .await
            .unwrap();
        assert_eq!(
            recorded_at.into_inner().unwrap(),
            [Duration::from_secs(5), Duration::from_secs(10)]
        );
        assert_eq!(start.elapsed(), Duration::from_secs(10));

        let before_read = tokio::time::Instant::now();
        read(&provider, &cluster, &desired, &created.objects)
            .await
            .unwrap();
        assert_eq!(before_read.elapsed(), Duration::from_secs(3));

        let before_delete = tokio::time::Instant::now();
        provider
            .delete(
                &cluster,
                &created.objects,
                &Inputs::new(),
                &Messages::default(),
            )
            .await
            .unwrap();
        assert_eq!(before_delete.elapsed(), Duration::from_secs(10));

        // A failing call takes its latency too.
        provider.cloud.throttle(1.0);
        let before_failure = tokio::time::Instant::now();
        read(&provider, &cluster, &desired, &created.objects)
            .await
            .unwrap_err();
        assert_eq!(before_failure.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_call_is_logged_as_failed() {
        let provider = FakeProvider::new(FakeCloud::new());
        let address = Address::new(Kind::Vpc, "main");
        provider.cloud.set_latency(Duration::from_secs(60));
        let outcome = tokio::time::timeout(
            Duration::from_secs(1),
            create(&provider, &address, &json!({})),
        )
        .await;
        assert!(outcome.is_err(), "the create finished within a second");
        let calls = provider.cloud.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].op, calls[0].ok), (Op::Create, false));
        assert!(provider.cloud.objects().is_empty());
        provider.cloud.clear_calls();
        assert!(provider.cloud.calls().is_empty());
    }

    #[tokio::test]
    async fn the_call_log_keeps_order_and_outcome() {
        let provider = FakeProvider::new(FakeCloud::new());
        let zone = Address::new(Kind::Route53Zone, "public");
        let record = Address::new(Kind::DnsRecord, "www");
        provider.cloud.fail_permanently(&record, Op::Create);
        let zone_objects = create(&provider, &zone, &json!({})).await.unwrap().objects;
        create(&provider, &record, &json!({})).await.unwrap_err();
        provider
            .delete(&zone, &zone_objects, &Inputs::new(), &Messages::default())
            .await
            .unwrap();
        let log: Vec<(String, Op, bool)> = provider
            .cloud
            .calls()
            .into_iter()
            .map(|call| (call.address.to_string(), call.op, call.ok))
            .collect();
        assert_eq!(
            log,
            [
                ("route53_zone.public".to_string(), Op::Create, true),
                ("dns_record.www".to_string(), Op::Create, false),
                ("route53_zone.public".to_string(), Op::Delete, true),
            ]
        );
        let calls = provider.cloud.calls();
        assert!(calls
            .windows(2)
            .all(|pair| pair[0].ended <= pair[1].started));
    }
}
