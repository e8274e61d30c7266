//! What the state benchmarks share: moto with a bucket, a runtime, S3 backends on it, records.
#![allow(dead_code)] // Each benchmark uses a different part.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use meshctl_model::record::{NodeRecord, Status};
use meshctl_model::{Address, Kind};
use meshctl_sandbox::Moto;
use meshctl_state_s3::{S3Backend, S3Location};

pub const REGION: &str = "eu-west-1";
pub const BUCKET: &str = "bench-state";

/// moto with one bucket, and the runtime the backends' calls run on.
pub struct Sandbox {
    _moto: Moto,
    pub runtime: tokio::runtime::Runtime,
    config: SdkConfig,
}

impl Sandbox {
    pub fn start() -> Sandbox {
        let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = runtime.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(moto.url())
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "testing", "testing", None, None, "bench",
                ))
                .load(),
        );
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        runtime
            .block_on(
                client
                    .create_bucket()
                    .bucket(BUCKET)
                    .create_bucket_configuration(
                        aws_sdk_s3::types::CreateBucketConfiguration::builder()
                            .location_constraint(REGION.into())
                            .build(),
                    )
                    .send(),
            )
            .expect("bucket");
        Sandbox {
            _moto: moto,
            runtime,
            config,
        }
    }

    /// The S3 backend of the state at `key`.
    pub fn backend(&self, key: &str) -> S3Backend {
        S3Backend::with_config(
            S3Location {
                bucket: BUCKET.into(),
                key: key.into(),
                region: REGION.into(),
                kms_key_id: None,
            },
            &self.config,
            self.runtime.handle().clone(),
        )
    }
}

/// A record the size of a typical one (a namespace with labels, its object and outputs).
pub fn record(n: usize) -> NodeRecord {
    NodeRecord {
        accepted: Vec::new(),
        address: Address::new(Kind::Namespace, format!("app-{n}")),
        status: Status::Ok,
        desired: serde_json::json!({"labels": {"istio-injection": "enabled", "team": "payments"}}),
        live: Some(
            serde_json::json!({"labels": {"istio-injection": "enabled", "team": "payments"}}),
        ),
        outputs: Default::default(),
        objects: vec![meshctl_model::record::OwnedObject {
            kind: "k8s:v1/Namespace".into(),
            id: format!("app-{n}"),
        }],
        dependencies: vec![Address::new(Kind::EksCluster, "main")],
        prevent_destroy: false,
    }
}
