//! Helpers the end-to-end tests of the binary share: a runtime for the AWS SDK checks, an SDK
//! configuration for moto, and readable process output.

#![allow(dead_code)] // Each test binary uses a different part.

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub const REGION: &str = "ap-northeast-2";

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An SDK configuration for moto at `endpoint` with its test credentials: the tests' own
/// client, independent of meshctl's.
pub fn sdk_config(rt: &tokio::runtime::Runtime, endpoint: &str) -> SdkConfig {
    rt.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    )
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
