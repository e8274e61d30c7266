//! Helpers the end-to-end tests of the binary share: a runtime for the AWS SDK checks, an SDK
//! configuration for moto, and readable process output.

#![allow(dead_code)] // Each test binary uses a different part.

pub mod aws_world;
pub mod handbuilt;
pub mod sandbox;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::collections::BTreeMap;

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

/// `meshctl ARGS` run in `dir` without colour, as a user types it.
pub fn meshctl_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// The id of the hosted zone for `domain`.
pub fn zone_id(rt: &tokio::runtime::Runtime, config: &SdkConfig, domain: &str) -> String {
    rt.block_on(async {
        let route53 = aws_sdk_route53::Client::new(config);
        let zones = route53.list_hosted_zones().send().await.unwrap();
        zones
            .hosted_zones()
            .iter()
            .find(|z| z.name() == format!("{domain}."))
            .unwrap_or_else(|| panic!("no hosted zone for {domain}"))
            .id()
            .to_string()
    })
}

/// Record sets of the zone for `domain`, by `name TYPE`.
pub fn records(
    rt: &tokio::runtime::Runtime,
    config: &SdkConfig,
    domain: &str,
) -> BTreeMap<String, aws_sdk_route53::types::ResourceRecordSet> {
    let zone = zone_id(rt, config, domain);
    rt.block_on(async {
        let route53 = aws_sdk_route53::Client::new(config);
        let sets = route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .unwrap();
        sets.resource_record_sets()
            .iter()
            .map(|s| (format!("{} {}", s.name(), s.r#type().as_str()), s.clone()))
            .collect()
    })
}
