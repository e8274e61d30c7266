//! EKS bearer tokens, checked the way an EKS cluster's authenticator checks them, as far as a
//! sandbox can: `k8s-aws-v1.` + base64url(presigned STS GetCallerIdentity URL).
//!
//! Real EKS re-sends the presigned request to STS with the header `x-k8s-aws-id: <cluster>`; STS
//! accepts it only if the signature covers that value. The sandbox cannot ask STS, so it
//! recomputes the SigV4 signature itself with moto's test secret key (`testing`) and the
//! expected cluster name: a token signed for another cluster, or with other keys, does not match.
//! The URL shape, the STS host, the signed headers and the expiry are checked as well; the
//! lifetime can be shortened (`ApiServerOptions::eks_token_lifetime`, `meshctl-sandbox
//! --eks-token-lifetime-secs`) so that a test sees in seconds what a client keeping a token too
//! long meets on EKS after 15 minutes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;

/// The secret access key of moto's test credentials, which the sandbox's users sign with.
pub const SANDBOX_SECRET_ACCESS_KEY: &str = "testing";

const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// As aws-iam-authenticator (EKS's token verifier) does, a token is good for 15 minutes after
/// X-Amz-Date, whatever X-Amz-Expires (60 from `aws eks get-token`) says: clients such as kubectl
/// reuse a token for 14 minutes, so the sandbox must not be stricter than EKS.
pub const MAX_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Clock skew tolerated for tokens dated in the future.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a token was refused (the server answers a plain 401 either way, as EKS does; the reason
/// is for tests and debugging).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("EKS token rejected: {0}")]
pub struct Rejected(pub String);

fn reject(reason: impl Into<String>) -> Rejected {
    Rejected(reason.into())
}

/// Checks `token` (without `Bearer `) against the expected cluster name at time `now`, accepting
/// it for `lifetime` after its X-Amz-Date (at most EKS's 15 minutes).
pub fn verify_eks_token(
    token: &str,
    cluster: &str,
    now: SystemTime,
    lifetime: Duration,
) -> Result<(), Rejected> {
    let encoded = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(|| reject("no k8s-aws-v1. prefix"))?;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|e| reject(format!("not base64url: {e}")))?;
    let url = String::from_utf8(decoded).map_err(|_| reject("the URL is not UTF-8"))?;
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| reject("the URL is not https"))?;
    let (host, path_and_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !is_sts_host(host) {
        return Err(reject(format!("{host} is not an STS host")));
    }
    let query = path_and_query
        .strip_prefix("/?")
        .ok_or_else(|| reject("the URL path is not /"))?;
    let query_params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let get = |name: &str| {
        query_params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if get("Action") != Some("GetCallerIdentity") {
        return Err(reject("not a GetCallerIdentity request"));
    }
    if get("Version") != Some("2011-06-15") {
        return Err(reject("not STS API version 2011-06-15"));
    }
    if get("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(reject("not signed with AWS4-HMAC-SHA256"));
    }
    let signed_headers: Vec<&str> = get("X-Amz-SignedHeaders")
        .ok_or_else(|| reject("no X-Amz-SignedHeaders"))?
        .split(';')
        .collect();
    for required in ["host", "x-k8s-aws-id"] {
        if !signed_headers.contains(&required) {
            return Err(reject(format!("{required} is not a signed header")));
        }
    }
    let date_text = get("X-Amz-Date").ok_or_else(|| reject("no X-Amz-Date"))?;
    let signed_at = parse_amz_date(date_text).ok_or_else(|| reject("bad X-Amz-Date"))?;
    let expires: u64 = get("X-Amz-Expires")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| reject("no X-Amz-Expires"))?;
    let lifetime = lifetime.min(MAX_LIFETIME);
    if now > signed_at + lifetime {
        return Err(reject(format!(
            "expired (signed at {date_text}, good for {} s)",
            lifetime.as_secs()
        )));
    }
    if signed_at > now + MAX_SKEW {
        return Err(reject(format!("signed in the future ({date_text})")));
    }
    let credential = get("X-Amz-Credential").ok_or_else(|| reject("no X-Amz-Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, _day, region, "sts", "aws4_request"] = scope.as_slice() else {
        return Err(reject(format!("bad credential scope {credential}")));
    };
    let signature = get("X-Amz-Signature").ok_or_else(|| reject("no X-Amz-Signature"))?;

    // Sign the same request again, with the expected cluster as the x-k8s-aws-id value.
    let mut unsigned = format!("https://{host}/?");
    let mut first = true;
    for (k, v) in query_params
        .iter()
        .filter(|(k, _)| !k.starts_with("X-Amz-"))
    {
        if !first {
            unsigned.push('&');
        }
        first = false;
        unsigned.push_str(&format!("{}={}", percent_encode(k), percent_encode(v)));
    }
    let identity = Credentials::new(
        *access_key,
        SANDBOX_SECRET_ACCESS_KEY,
        get("X-Amz-Security-Token").map(str::to_string),
        None,
        "meshctl-sandbox",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    let signing_params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| reject(e.to_string()))?
        .into();
    let headers = [("x-k8s-aws-id", cluster)];
    let request = SignableRequest::new(
        "GET",
        unsigned,
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| reject(e.to_string()))?;
    let output = sign(request, &signing_params).map_err(|e| reject(e.to_string()))?;
    if output.signature() != signature {
        return Err(reject(format!(
            "the signature does not match a request for cluster {cluster} signed with the sandbox's test credentials"
        )));
    }
    Ok(())
}

/// The STS hosts aws-iam-authenticator accepts: the global one and the regional ones.
fn is_sts_host(host: &str) -> bool {
    host == "sts.amazonaws.com"
        || host
            .strip_prefix("sts.")
            .and_then(|h| {
                h.strip_suffix(".amazonaws.com")
                    .or(h.strip_suffix(".amazonaws.com.cn"))
            })
            .is_some_and(|region| {
                !region.is_empty()
                    && region
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
}

/// `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from 1970-01-01 to y-m-d (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3986 unreserved characters stay, everything else is %XX (what SigV4 canonicalizes to).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse() {
        let t = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_709_251_199
        );
        assert!(parse_amz_date("2024-02-29T23:59:59Z").is_none());
        assert!(parse_amz_date("20241329T000000Z").is_none());
    }

    #[test]
    fn sts_hosts() {
        assert!(is_sts_host("sts.amazonaws.com"));
        assert!(is_sts_host("sts.ap-northeast-2.amazonaws.com"));
        assert!(!is_sts_host("sts.evil.example.com"));
        assert!(!is_sts_host("127.0.0.1:5000"));
    }

    #[test]
    fn percent_round_trip() {
        let s = "AKID/20240101/ap-northeast-2/sts/aws4_request";
        assert_eq!(percent_decode(&percent_encode(s)), s);
        assert_eq!(percent_decode("a%2Fb%3"), "a/b%3");
    }

    #[test]
    fn garbage_is_rejected() {
        let now = SystemTime::now();
        assert!(verify_eks_token("abc", "main", now, MAX_LIFETIME).is_err());
        assert!(verify_eks_token("k8s-aws-v1.!!!", "main", now, MAX_LIFETIME).is_err());
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode("https://sts.amazonaws.com/?Action=GetCallerIdentity");
        let err =
            verify_eks_token(&format!("k8s-aws-v1.{url}"), "main", now, MAX_LIFETIME).unwrap_err();
        assert!(err.0.contains("2011-06-15"), "{err}");
    }
}
