//! The engine's refresh batching (`meshctl_engine::refresh`): every kind with several settled
//! records is offered once to its provider's `read_batch`; what the batch answers is taken as
//! read (a resource gone included), what it leaves is read one by one with `read`, and a kind
//! with one record is only read; a failed batch fails the refresh with the provider's error.
//! (Here, not in the engine's tests, for `async-trait`, which the provider below needs.)

use async_trait::async_trait;
use meshctl_engine::{refresh, ApplyOptions, EngineError, Providers, RateLimits};
use meshctl_model::record::{NodeRecord, OwnedObject, Status};
use meshctl_model::{Address, Kind};
use meshctl_provider::{Applied, ErrorClass, Inputs, Progress, Provider, ProviderError, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A provider of records and zones that answers from memory and logs each call: a batch
/// answers every record but `left-out` (read alone) and says `gone` is gone.
struct Logged {
    calls: Mutex<Vec<String>>,
    batch_fails: bool,
}

impl Logged {
    fn new(batch_fails: bool) -> Arc<Self> {
        Arc::new(Logged {
            calls: Mutex::new(Vec::new()),
            batch_fails,
        })
    }

    fn calls(&self) -> Vec<String> {
        let mut calls = self.calls.lock().unwrap().clone();
        calls.sort();
        calls
    }
}

fn applied(from: &str) -> Applied {
    Applied {
        live: json!({ "from": from }),
        ..Applied::default()
    }
}

fn refused(address: &Address, operation: &'static str) -> ProviderError {
    ProviderError::new(
        ErrorClass::Permanent,
        address,
        operation,
        "not in this test",
    )
}

#[async_trait]
impl Provider for Logged {
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::DnsRecord, Kind::Route53Zone]
    }

    async fn read(
        &self,
        request: &Request<'_>,
        _objects: &[OwnedObject],
    ) -> Result<Option<Applied>, ProviderError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("read {}", request.address));
        Ok(Some(applied("read")))
    }

    async fn read_batch(
        &self,
        reads: &[(Request<'_>, &[OwnedObject])],
    ) -> Result<BTreeMap<Address, Option<Applied>>, ProviderError> {
        let mut addresses: Vec<String> = reads.iter().map(|(r, _)| r.address.to_string()).collect();
        addresses.sort();
        self.calls
            .lock()
            .unwrap()
            .push(format!("batch {}", addresses.join(" ")));
        if self.batch_fails {
            return Err(ProviderError::new(
                ErrorClass::Permanent,
                reads[0].0.address,
                "read",
                "listing failed",
            ));
        }
        Ok(reads
            .iter()
            .filter(|(r, _)| r.address.name != "left-out")
            .map(|(r, _)| {
                let answer = (r.address.name != "gone").then(|| applied("batch"));
                (r.address.clone(), answer)
            })
            .collect())
    }

    async fn create(
        &self,
        request: &Request<'_>,
        _record: &(dyn Fn(OwnedObject) + Send + Sync),
        _progress: &dyn Progress,
    ) -> Result<Applied, ProviderError> {
        Err(refused(request.address, "create"))
    }

    async fn update(
        &self,
        request: &Request<'_>,
        _prior: &Value,
        _objects: &[OwnedObject],
        _record: &(dyn Fn(OwnedObject) + Send + Sync),
        _progress: &dyn Progress,
    ) -> Result<Applied, ProviderError> {
        Err(refused(request.address, "update"))
    }

    async fn delete(
        &self,
        address: &Address,
        _objects: &[OwnedObject],
        _inputs: &Inputs,
        _progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        Err(refused(address, "delete"))
    }

    async fn import(
        &self,
        request: &Request<'_>,
        _id: &str,
    ) -> Result<(Value, Applied), ProviderError> {
        Err(refused(request.address, "import"))
    }

    async fn mark(
        &self,
        request: &Request<'_>,
        _objects: &[OwnedObject],
    ) -> Result<(), ProviderError> {
        Err(refused(request.address, "mark"))
    }
}

fn record(kind: Kind, name: &str, status: Status) -> NodeRecord {
    NodeRecord {
        address: Address::new(kind, name),
        status,
        desired: json!({}),
        live: None,
        outputs: BTreeMap::new(),
        objects: Vec::new(),
        dependencies: Vec::new(),
        prevent_destroy: false,
        accepted: Vec::new(),
    }
}

fn providers(provider: Arc<Logged>) -> Providers {
    let mut providers = Providers::new();
    providers.register(provider);
    providers
}

fn options() -> ApplyOptions {
    ApplyOptions {
        parallelism: 2,
        rate_limits: RateLimits::none(),
        ..ApplyOptions::default()
    }
}

#[tokio::test]
async fn a_kind_with_several_records_is_read_in_one_batch_and_what_it_leaves_one_by_one() {
    let provider = Logged::new(false);
    let records = vec![
        record(Kind::DnsRecord, "a", Status::Ok),
        record(Kind::DnsRecord, "b", Status::Ok),
        record(Kind::DnsRecord, "left-out", Status::Ok),
        record(Kind::DnsRecord, "gone", Status::Ok),
        record(Kind::DnsRecord, "tainted", Status::Tainted),
        record(Kind::Route53Zone, "public", Status::Ok),
    ];
    let live = refresh(&records, &providers(provider.clone()), &options())
        .await
        .unwrap();
    assert_eq!(
        provider.calls(),
        [
            "batch dns_record.a dns_record.b dns_record.gone dns_record.left-out",
            "read dns_record.left-out",
            "read route53_zone.public",
        ],
        "one batch of the settled records, then single reads of what it left and of the lone zone"
    );
    let from = |name: &str, kind: Kind| {
        live[&Address::new(kind, name)]
            .as_ref()
            .map(|l| l.fields["from"].clone())
    };
    assert_eq!(from("a", Kind::DnsRecord), Some(json!("batch")));
    assert_eq!(from("b", Kind::DnsRecord), Some(json!("batch")));
    assert_eq!(from("left-out", Kind::DnsRecord), Some(json!("read")));
    assert_eq!(from("gone", Kind::DnsRecord), None);
    assert_eq!(from("public", Kind::Route53Zone), Some(json!("read")));
    assert!(
        !live.contains_key(&Address::new(Kind::DnsRecord, "tainted")),
        "a tainted record is not read"
    );
}

#[tokio::test]
async fn a_failed_batch_fails_the_refresh_with_the_providers_error() {
    let provider = Logged::new(true);
    let records = vec![
        record(Kind::DnsRecord, "a", Status::Ok),
        record(Kind::DnsRecord, "b", Status::Ok),
    ];
    let error = refresh(&records, &providers(provider.clone()), &options())
        .await
        .unwrap_err();
    match error {
        EngineError::Provider(error) => {
            assert_eq!(error.message, "listing failed");
            assert_eq!(error.address, Address::new(Kind::DnsRecord, "a"));
        }
        other => panic!("not the provider's error: {other}"),
    }
    assert_eq!(provider.calls(), ["batch dns_record.a dns_record.b"]);
}
