//! What the provider-aws tests against moto share: a moto server, an SDK configuration pointing
//! at it, the provider of stack `demo` in `REGION`, and its progress messages.
#![allow(dead_code)] // Each test binary uses a different part.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use meshctl_model::Address;
use meshctl_provider::Progress;
use meshctl_provider_aws::{AwsProvider, AwsSettings};
use meshctl_sandbox::Moto;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

pub const REGION: &str = "ap-northeast-2";
pub const STACK: &str = "demo";

pub type Inputs = BTreeMap<Address, BTreeMap<String, Value>>;

/// Collects the provider's progress messages.
#[derive(Default)]
pub struct Messages(Mutex<Vec<String>>);

impl Progress for Messages {
    fn update(&self, _address: &Address, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

impl Messages {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A moto server, an SDK configuration pointing at it, and the provider under test.
pub struct Sandbox {
    _moto: Moto,
    pub config: SdkConfig,
    pub provider: AwsProvider,
    pub progress: Messages,
}

pub async fn sandbox() -> Sandbox {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(moto.url())
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let settings = AwsSettings {
        stack: STACK.to_string(),
        region: REGION.to_string(),
        kube: None,
    };
    Sandbox {
        provider: AwsProvider::with_config(settings, &config),
        _moto: moto,
        config,
        progress: Messages::default(),
    }
}
