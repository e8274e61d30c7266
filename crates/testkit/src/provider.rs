//! `FakeProvider`: the `Provider` contract over the fake cloud, for every kind. A resource owns a
//! main object holding its desired fields, plus the extra objects real kinds own (an ACM
//! certificate's validation record, a cluster's OIDC provider, an IRSA role's ServiceAccount).

use crate::cloud::{Call, FakeCloud, Op};
use async_trait::async_trait;
use meshctl_model::record::OwnedObject;
use meshctl_model::{Address, Kind};
use meshctl_provider::{Applied, ErrorClass, Progress, Provider, ProviderError, Request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

pub struct FakeProvider {
    cloud: Arc<FakeCloud>,
}

impl FakeProvider {
    pub fn new(cloud: Arc<FakeCloud>) -> Self {
        FakeProvider { cloud }
    }

    /// Object kinds a resource of `kind` owns, main object first.
    fn object_kinds(kind: Kind) -> Vec<String> {
        let mut kinds = vec![format!("fake:{kind}")];
        match kind {
            Kind::AcmCertificate => kinds.push("fake:validation-record".to_string()),
            Kind::EksCluster => kinds.push("fake:oidc-provider".to_string()),
            Kind::IamServiceAccount => kinds.push("fake:service-account".to_string()),
            _ => {}
        }
        kinds
    }

    fn outputs(kind: Kind, main_id: &str) -> BTreeMap<String, Value> {
        kind.schema()
            .outputs
            .iter()
            .map(|o| (o.to_string(), Value::String(format!("{o}-{main_id}"))))
            .collect()
    }

    /// Latency and injected faults at the start of a call.
    async fn begin(&self, address: &Address, op: Op) -> Result<Instant, ProviderError> {
        let started = Instant::now();
        let latency = self.cloud.latency(address, op);
        let objects = if op == Op::Create {
            Self::object_kinds(address.kind).len() as u32
        } else {
            1
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency / objects).await;
        }
        match self.cloud.fault(address, op) {
            Some(permanent) => {
                self.cloud.log(Call {
                    address: address.clone(),
                    op,
                    started,
                    ended: Instant::now(),
                    ok: false,
                });
                let (class, message) = if permanent {
                    (
                        ErrorClass::Permanent,
                        "AccessDenied: injected permanent failure",
                    )
                } else {
                    (ErrorClass::Retryable, "Throttling: Rate exceeded")
                };
                Err(ProviderError::new(class, address, op_name(op), message))
            }
            None => Ok(started),
        }
    }

    fn end<T>(
        &self,
        address: &Address,
        op: Op,
        started: Instant,
        result: Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        self.cloud.log(Call {
            address: address.clone(),
            op,
            started,
            ended: Instant::now(),
            ok: result.is_ok(),
        });
        result
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Create => "create",
        Op::Read => "read",
        Op::Update => "update",
        Op::Delete => "delete",
    }
}

fn io_error(address: &Address, op: Op, e: std::io::Error) -> ProviderError {
    ProviderError::new(
        ErrorClass::Permanent,
        address,
        op_name(op),
        format!("fake cloud storage: {e}"),
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
        let started = self.begin(address, Op::Read).await?;
        let result = match objects.first() {
            // Looked up, not owned (an existing zone): outputs come from the address.
            None => Ok(Some(Applied {
                objects: Vec::new(),
                outputs: Self::outputs(address.kind, &address.to_string()),
                live: request.desired.clone(),
            })),
            Some(main) => Ok(self.cloud.get(&main.id).map(|object| Applied {
                objects: objects.to_vec(),
                outputs: Self::outputs(address.kind, &main.id),
                live: object.fields,
            })),
        };
        self.end(address, Op::Read, started, result)
    }

    async fn create(
        &self,
        request: &Request<'_>,
        record: &(dyn Fn(OwnedObject) + Send + Sync),
        progress: &dyn Progress,
    ) -> Result<Applied, ProviderError> {
        let address = request.address;
        let started = self.begin(address, Op::Create).await?;
        progress.update(address, "creating");
        let kinds = Self::object_kinds(address.kind);
        let latency = self.cloud.latency(address, Op::Create) / kinds.len() as u32;
        let stop_after = self.cloud.partial_create(address);
        let mut objects = Vec::new();
        for (i, kind) in kinds.iter().enumerate() {
            if stop_after == Some(i) {
                let error = ProviderError::new(
                    ErrorClass::Permanent,
                    address,
                    "create",
                    format!("LimitExceeded: injected failure after {i} object(s)"),
                );
                return self.end(address, Op::Create, started, Err(error));
            }
            if i > 0 && !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let fields = if i == 0 {
                request.desired.clone()
            } else {
                Value::Null
            };
            let id = self
                .cloud
                .insert(kind, address, fields)
                .map_err(|e| io_error(address, Op::Create, e))?;
            let object = OwnedObject {
                kind: kind.clone(),
                id,
            };
            record(object.clone());
            objects.push(object);
        }
        let outputs = Self::outputs(address.kind, &objects[0].id);
        self.end(
            address,
            Op::Create,
            started,
            Ok(Applied {
                objects,
                outputs,
                live: request.desired.clone(),
            }),
        )
    }

    async fn update(
        &self,
        request: &Request<'_>,
        _prior: &Value,
        objects: &[OwnedObject],
        progress: &dyn Progress,
    ) -> Result<Applied, ProviderError> {
        let address = request.address;
        let started = self.begin(address, Op::Update).await?;
        progress.update(address, "updating");
        let result = match objects.first() {
            None => Err(ProviderError::new(
                ErrorClass::NotFound,
                address,
                "update",
                "no object to update",
            )),
            Some(main) => match self.cloud.set_fields(&main.id, request.desired.clone()) {
                Ok(true) => Ok(Applied {
                    objects: objects.to_vec(),
                    outputs: Self::outputs(address.kind, &main.id),
                    live: request.desired.clone(),
                }),
                Ok(false) => Err(ProviderError::new(
                    ErrorClass::NotFound,
                    address,
                    "update",
                    format!("{} does not exist", main.id),
                )),
                Err(e) => Err(io_error(address, Op::Update, e)),
            },
        };
        self.end(address, Op::Update, started, result)
    }

    async fn delete(
        &self,
        address: &Address,
        objects: &[OwnedObject],
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let started = self.begin(address, Op::Delete).await?;
        progress.update(address, "deleting");
        let ids: Vec<String> = objects.iter().map(|o| o.id.clone()).collect();
        let result = self
            .cloud
            .remove(&ids)
            .map_err(|e| io_error(address, Op::Delete, e));
        self.end(address, Op::Delete, started, result)
    }

    async fn sweep(
        &self,
        address: &Address,
        keep: &[OwnedObject],
        _progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let keep: Vec<String> = keep.iter().map(|o| o.id.clone()).collect();
        self.cloud
            .remove_tagged(address, &keep)
            .map_err(|e| io_error(address, Op::Delete, e))
    }

    async fn import(
        &self,
        address: &Address,
        _id: &str,
    ) -> Result<(Value, Applied), ProviderError> {
        Err(ProviderError::new(
            ErrorClass::Permanent,
            address,
            "import",
            "import is not supported by the fake cloud",
        ))
    }
}
