//! Corrections of moto where it is not AWS, patched into moto_server as it starts
//! (`moto_patches.py`, loaded as Python's `sitecustomize` from a directory this module writes).
//!
//! Patched in moto rather than corrected in the front ([`crate::front`]) because two of them are
//! about moto's state, not its answers: an NLB's ARN is also what every later call names it by,
//! and the Route53 refusal happens inside moto. Each fix, as AWS does it:
//!
//! - **Canonical hosted zone ids** per region and balancer type ([`ELB_HOSTED_ZONES`]; moto gives
//!   every balancer `Z2P70J7EXAMPLE`), so a Route53 alias to an NLB carries the NLB zone.
//! - **NLB ARNs and DNS names**: `loadbalancer/net/NAME/ID` and `NAME-ID.elb.REGION.amazonaws.com`
//!   (moto: `loadbalancer/app/…` and the ALB form for both); ALB DNS names get AWS's
//!   `[internal-]NAME-DIGITS.REGION.elb.amazonaws.com`.
//! - **No SSL policy on plain listeners**: only HTTPS and TLS listeners have one.
//! - **Route53 CREATE** fails only when that record exists now: moto also refused a record
//!   created, deleted and created again while any record sorted after it, so apply → destroy →
//!   apply on one sandbox failed.
//!
//! Tested with the AWS SDK against a started moto in `tests/moto_patches.rs`.

use std::io;
use std::path::PathBuf;

/// The Python that patches moto.
const PATCHES: &str = include_str!("moto_patches.py");

/// Route53 hosted zone ids of Elastic Load Balancing per region: (region, ALB and Classic, NLB),
/// from the AWS General Reference, "Elastic Load Balancing endpoints and quotas".
pub const ELB_HOSTED_ZONES: &[(&str, &str, &str)] = &[
    ("af-south-1", "Z268VQBMOI5EKX", "Z203XCE67M25HM"),
    ("ap-east-1", "Z3DQVH9N71FHZ0", "Z12Y7K3UBGUAD1"),
    ("ap-northeast-1", "Z14GRHDCWA56QT", "Z31USIVHYNEOWT"),
    ("ap-northeast-2", "ZWKZPGTI48KDX", "ZIBE1TIR4HY56"),
    ("ap-northeast-3", "Z5LXEXXYW11ES", "Z1GWIQ4HH19I5X"),
    ("ap-south-1", "ZP97RAFLXTNZK", "ZVDDRBQ08TROA"),
    ("ap-southeast-1", "Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"),
    ("ap-southeast-2", "Z1GM3OXH4ZPM65", "ZCT6FZBF4DROD"),
    (
        "ap-southeast-3",
        "Z08888821HLRG5A9ZRTER",
        "Z01971771FYVNCOVWJU1G",
    ),
    ("ca-central-1", "ZQSVJUPU6J1EY", "Z2EPGBW3API2WT"),
    ("eu-central-1", "Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"),
    ("eu-north-1", "Z23TAZ6LKFMNIO", "Z1UDT6IFJ4EJM"),
    ("eu-south-1", "Z3ULH7SSC9OV64", "Z23146JA1KNAFP"),
    ("eu-west-1", "Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"),
    ("eu-west-2", "ZHURV8PSTC4K8", "ZD4D7Y8KGAS4G"),
    ("eu-west-3", "Z3Q77PNBQS71R4", "Z1CMS0P5QUZ6D5"),
    ("me-south-1", "ZS929ML54UICD", "Z3QSRYVP46NYYV"),
    ("sa-east-1", "Z2P70J7HTTTPLU", "ZTK26PT1VY4CU"),
    ("us-east-1", "Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"),
    ("us-east-2", "Z3AADJGX6KTTL2", "ZLMOA37VPKANP"),
    ("us-west-1", "Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"),
    ("us-west-2", "Z1H1FL5HABSF5", "Z18D5FSROUN65G"),
];

/// The canonical hosted zone id of a balancer of `lb_type` (`application` or `network`) in
/// `region`, as AWS gives it.
pub fn elb_hosted_zone(region: &str, lb_type: &str) -> Option<&'static str> {
    ELB_HOSTED_ZONES
        .iter()
        .find(|(r, _, _)| *r == region)
        .map(|(_, alb, nlb)| if lb_type == "network" { *nlb } else { *alb })
}

/// The environment that makes a moto_server load the patches: PYTHONPATH with the patches'
/// directory first, and the zone table. The directory is named after the patches' content, so
/// concurrent sandboxes share it and a changed file never meets an old copy.
pub fn environment() -> io::Result<Vec<(&'static str, String)>> {
    // FNV-1a of the file: enough to tell versions of it apart.
    let digest = PATCHES
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    let dir: PathBuf = std::env::temp_dir().join(format!("meshctl-moto-patches-{digest:016x}"));
    let file = dir.join("sitecustomize.py");
    if std::fs::read_to_string(&file).ok().as_deref() != Some(PATCHES) {
        std::fs::create_dir_all(&dir)?;
        // Written whole and renamed, so a moto starting meanwhile never reads half a file.
        let partial = dir.join(format!("sitecustomize.py.{}", std::process::id()));
        std::fs::write(&partial, PATCHES)?;
        std::fs::rename(&partial, &file)?;
    }
    let mut python_path = dir.display().to_string();
    if let Ok(existing) = std::env::var("PYTHONPATH") {
        if !existing.is_empty() {
            python_path = format!("{python_path}:{existing}");
        }
    }
    let zones: serde_json::Map<String, serde_json::Value> = ELB_HOSTED_ZONES
        .iter()
        .map(|(region, alb, nlb)| {
            (
                region.to_string(),
                serde_json::json!({ "application": alb, "network": nlb }),
            )
        })
        .collect();
    Ok(vec![
        ("PYTHONPATH", python_path),
        (
            "MESHCTL_MOTO_ELB_ZONES",
            serde_json::Value::Object(zones).to_string(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alb_and_nlb_zones_differ_in_every_region() {
        for (region, alb, nlb) in ELB_HOSTED_ZONES {
            assert_ne!(alb, nlb, "{region}");
        }
        assert_eq!(
            elb_hosted_zone("ap-northeast-2", "network"),
            Some("ZIBE1TIR4HY56")
        );
        assert_eq!(
            elb_hosted_zone("ap-northeast-2", "application"),
            Some("ZWKZPGTI48KDX")
        );
    }
}
