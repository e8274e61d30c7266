//! Checked value types of the stack language: each rejects a bad value while it is read, with a
//! diagnostic code and a help line (see `de::invalid`).
//!
//! A string holding `${kind.name.output}` is only known during apply; such values are accepted
//! here and checked when they resolve.

use crate::de::invalid;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

/// True when the value still holds an output reference (`${...}`) resolved only during apply.
pub fn is_deferred(value: &str) -> bool {
    value.contains("${")
}

macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                if !is_deferred(&text) {
                    if let Err((code, message, help)) = $check(&text) {
                        return Err(invalid(code, message, help));
                    }
                }
                Ok($name(text))
            }
        }
    };
}

type Check = Result<(), (&'static str, String, String)>;

fn fail(code: &'static str, message: String, help: impl Into<String>) -> Check {
    Err((code, message, help.into()))
}

checked_string!(
    /// An IPv4 network in CIDR notation with its host bits zero, e.g. `10.0.0.0/16`.
    Cidr,
    check_cidr
);
checked_string!(
    /// A DNS name without wildcard, e.g. `moamoa-news.com`.
    DomainName,
    check_domain
);
checked_string!(
    /// A DNS name that may start with `*.`, e.g. `*.moamoa-news.com`.
    DomainPattern,
    check_domain_pattern
);
checked_string!(
    /// A DNS record name: like `DomainPattern`, and labels may also hold `_` (`_dmarc`, DKIM keys).
    RecordName,
    check_record_name
);
checked_string!(
    /// A host as Istio takes it: `*`, a DNS name or wildcard, optionally `namespace/` in front.
    IstioHost,
    check_istio_host
);
checked_string!(
    /// A Kubernetes object name (DNS-1123 subdomain).
    K8sName,
    check_k8s_name
);
checked_string!(
    /// A Kubernetes namespace name (DNS-1123 label).
    NamespaceName,
    check_namespace
);
checked_string!(
    /// An Istio control plane revision (`istioctl install --revision`): a DNS-1123 label, as it
    /// names the revision's `istiod-<revision>` Deployment.
    IstioRevision,
    check_istio_revision
);
checked_string!(
    /// A Go-style duration as Kubernetes and Istio take it: `30s`, `1m30s`, `250ms`.
    Duration,
    check_duration
);
checked_string!(
    /// A regular expression in RE2 syntax, as Envoy matches it (no look-around, no back-references).
    Re2Regex,
    check_re2
);
checked_string!(
    /// A Kubernetes minor version, `1.29`.
    KubeVersion,
    check_kube_version
);
checked_string!(
    /// An exact release version `X.Y.Z` (optionally `-suffix`): pinned, never a range or `latest`.
    PinnedVersion,
    check_pinned_version
);
checked_string!(
    /// A Kubernetes resource quantity, e.g. `100m`, `128Mi`, `2`.
    Quantity,
    check_quantity
);
checked_string!(
    /// An Amazon Resource Name, `arn:partition:service:region:account:resource`.
    Arn,
    check_arn
);
checked_string!(
    /// An http(s) URL.
    Url,
    check_url
);
checked_string!(
    /// An e-mail address (ACME registration).
    Email,
    check_email
);

/// A TCP/UDP port, 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(deserializer)?;
        match u16::try_from(n) {
            Ok(port) if port > 0 => Ok(Port(port)),
            _ => Err(invalid(
                "bad-port",
                format!("port {n} is not a usable port"),
                "use a port from 1 to 65535",
            )),
        }
    }
}

/// The range Kubernetes allocates Service nodePorts from (kube-apiserver's default).
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;

/// A Service nodePort, 30000–32767.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NodePort(pub u16);

impl<'de> Deserialize<'de> for NodePort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(deserializer)?;
        match u16::try_from(n) {
            Ok(port) if NODE_PORT_RANGE.contains(&port) => Ok(NodePort(port)),
            _ => Err(invalid(
                "bad-node-port",
                format!("nodePort {n} is outside the cluster's nodePort range"),
                "pin a nodePort from 30000 to 32767, or leave it out to let Kubernetes allocate one",
            )),
        }
    }
}

/// A percentage, 0–100.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Percent(pub f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = f64::deserialize(deserializer)?;
        if !(0.0..=100.0).contains(&n) {
            return Err(invalid(
                "bad-percent",
                format!("{n} is not a percentage"),
                "use a number from 0 to 100",
            ));
        }
        Ok(Percent(n))
    }
}

/// Kubernetes labels: keys `[prefix/]name`, values of at most 63 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Labels(pub BTreeMap<String, String>);

/// A label or annotation key, checked as it is read so a bad one is located exactly.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct LabelKey(String);

impl<'de> Deserialize<'de> for LabelKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        check_label_key(&key).map_err(|(code, message, help)| invalid(code, message, help))?;
        Ok(LabelKey(key))
    }
}

struct LabelValue(String);

impl<'de> Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        if !is_deferred(&value) {
            check_label_value(&value)
                .map_err(|(code, message, help)| invalid(code, message, help))?;
        }
        Ok(LabelValue(value))
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<LabelKey, LabelValue>::deserialize(deserializer)?;
        Ok(Labels(map.into_iter().map(|(k, v)| (k.0, v.0)).collect()))
    }
}

impl Labels {
    /// True when every label of `self` is present with the same value in `other`.
    pub fn is_subset_of(&self, other: &Labels) -> bool {
        self.0.iter().all(|(k, v)| other.0.get(k) == Some(v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Kubernetes annotations: keys checked like label keys, values free.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Annotations(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Annotations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<LabelKey, String>::deserialize(deserializer)?;
        Ok(Annotations(
            map.into_iter().map(|(k, v)| (k.0, v)).collect(),
        ))
    }
}

impl Annotations {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

pub fn parse_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, len) = text.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    Some((addr, len))
}

fn check_cidr(text: &str) -> Check {
    let Some((addr, len)) = parse_cidr(text) else {
        return fail(
            "bad-cidr",
            format!("`{text}` is not an IPv4 CIDR block"),
            "write it as address/prefix-length, e.g. 10.0.0.0/16 or 203.0.113.10/32",
        );
    };
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let network = u32::from(addr) & mask;
    if network != u32::from(addr) {
        return fail(
            "bad-cidr",
            format!("`{text}` has host bits set"),
            format!(
                "the network of this block is {}/{len}",
                Ipv4Addr::from(network)
            ),
        );
    }
    Ok(())
}

fn check_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

fn dns_help() -> &'static str {
    "DNS names are dot-separated labels of lowercase letters, digits and hyphens (each 1-63 characters, not starting or ending with a hyphen)"
}

fn check_domain(text: &str) -> Check {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() || name.len() > 253 || !name.split('.').all(check_label) {
        if name.starts_with("*.") {
            return fail(
                "bad-domain",
                format!("`{text}` is a wildcard, which is not allowed here"),
                "write a plain DNS name; wildcards belong in certificate names and hosts",
            );
        }
        return fail(
            "bad-domain",
            format!("`{text}` is not a valid DNS name"),
            dns_help(),
        );
    }
    Ok(())
}

fn check_domain_pattern(text: &str) -> Check {
    match text.strip_prefix("*.") {
        Some(rest) if !rest.contains('*') => check_domain(rest).map_err(|(c, _, h)| {
            (
                c,
                format!("`{text}` is not a valid DNS name or wildcard"),
                h,
            )
        }),
        _ if text.contains('*') => fail(
            "bad-domain",
            format!("`{text}` has a wildcard that is not the whole first label"),
            "a wildcard is allowed only as `*.` at the start, e.g. *.example.com",
        ),
        _ => check_domain(text),
    }
}

fn check_record_name(text: &str) -> Check {
    // Route53 takes underscores anywhere in a label; checked as the same name with them dropped.
    let plain = text.replace('_', "a");
    check_domain_pattern(&plain)
        .map_err(|(c, _, h)| (c, format!("`{text}` is not a valid DNS record name"), h))
}

fn check_istio_host(text: &str) -> Check {
    if text.contains("://") {
        return fail(
            "bad-host",
            format!("`{text}` is a URL; hosts are DNS names"),
            "write the host name alone, e.g. www.example.com",
        );
    }
    let host = match text.split_once('/') {
        Some((ns, host)) if ns == "*" || ns == "." || check_label(ns) => host,
        Some(_) => {
            return fail(
                "bad-host",
                format!("`{text}` has an invalid namespace before `/`"),
                "write namespace/host, e.g. istio-system/www.example.com",
            )
        }
        None => text,
    };
    if host == "*" {
        return Ok(());
    }
    check_domain_pattern(host).map_err(|(_, m, h)| ("bad-host", m, h))
}

/// True when `text` is a valid Kubernetes object name (for names read outside the typed schema).
pub fn is_k8s_name(text: &str) -> bool {
    check_k8s_name(text).is_ok()
}

fn check_k8s_name(text: &str) -> Check {
    if text.is_empty() || text.len() > 253 || !text.split('.').all(check_label) {
        return fail("bad-k8s-name", format!("`{text}` is not a valid Kubernetes name"), "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters)");
    }
    Ok(())
}

fn check_istio_revision(text: &str) -> Check {
    if !check_label(text) {
        return fail("bad-value", format!("`{text}` is not a valid Istio revision"), "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. `1-22-3`");
    }
    Ok(())
}

fn check_namespace(text: &str) -> Check {
    if !check_label(text) {
        return fail("bad-k8s-name", format!("`{text}` is not a valid namespace name"), "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit");
    }
    Ok(())
}

fn check_label_key(key: &str) -> Check {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    let prefix_ok = prefix.is_none_or(|p| check_k8s_name(p).is_ok());
    if !name_ok || !prefix_ok {
        return fail("bad-label", format!("`{key}` is not a valid label or annotation key"), "keys are [prefix/]name: name at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit; prefix a DNS subdomain");
    }
    Ok(())
}

fn check_label_value(value: &str) -> Check {
    let ok = value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric());
    if !ok {
        return fail("bad-label", format!("`{value}` is not a valid label value"), "label values are at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit");
    }
    Ok(())
}

/// Parses a Go duration into seconds (used by checks that compare durations).
pub fn duration_seconds(text: &str) -> Option<f64> {
    let mut rest = text;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0.0);
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Some(total)
}

fn check_duration(text: &str) -> Check {
    if duration_seconds(text).is_none() {
        return fail(
            "bad-duration",
            format!("`{text}` is not a duration"),
            "write a number with a unit (ns, us, ms, s, m, h), e.g. 30s, 1m30s, 250ms",
        );
    }
    Ok(())
}

fn check_re2(text: &str) -> Check {
    if let Err(error) = regex_syntax::Parser::new().parse(text) {
        let detail = error.to_string();
        let reason = detail
            .lines()
            .last()
            .unwrap_or("syntax error")
            .trim()
            .trim_start_matches("error: ");
        return fail("bad-regex", format!("`{text}` is not a valid RE2 regular expression: {reason}"), "Envoy matches with RE2: no look-around or back-references; escape literal characters such as . ( ) [ with a backslash");
    }
    Ok(())
}

fn check_kube_version(text: &str) -> Check {
    let ok = matches!(text.split_once('.'), Some((major, minor)) if major == "1" && !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()) && !minor.starts_with('0'));
    if !ok {
        return fail(
            "bad-version",
            format!("`{text}` is not a Kubernetes version"),
            "write the minor version EKS takes, quoted, e.g. \"1.29\"",
        );
    }
    Ok(())
}

fn check_pinned_version(text: &str) -> Check {
    let core = text.strip_prefix('v').unwrap_or(text);
    let core = core.split_once(['-', '+']).map_or(core, |(c, _)| c);
    let parts: Vec<_> = core.split('.').collect();
    if parts.len() != 3
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return fail("unpinned-version", format!("`{text}` is not an exact version"), "pin an exact release such as 1.12.1: ranges, `latest` and partial versions let installs drift between runs");
    }
    Ok(())
}

fn check_quantity(text: &str) -> Check {
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let number_ok = !number.is_empty() && number.parse::<f64>().is_ok();
    let suffix_ok = matches!(
        suffix,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    );
    if !number_ok || !suffix_ok {
        return fail(
            "bad-quantity",
            format!("`{text}` is not a Kubernetes quantity"),
            "write a number with an optional suffix, e.g. 100m or 0.5 (CPU), 128Mi or 1Gi (memory)",
        );
    }
    Ok(())
}

fn check_arn(text: &str) -> Check {
    let parts: Vec<_> = text.splitn(6, ':').collect();
    if parts.len() != 6
        || parts[0] != "arn"
        || parts[1].is_empty()
        || parts[2].is_empty()
        || parts[5].is_empty()
    {
        return fail(
            "bad-arn",
            format!("`{text}` is not an ARN"),
            "ARNs look like arn:aws:iam::123456789012:policy/name",
        );
    }
    Ok(())
}

fn check_url(text: &str) -> Check {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => fail(
            "bad-url",
            format!("`{text}` is not an http(s) URL"),
            "write a full URL, e.g. https://acme-v02.api.letsencrypt.org/directory",
        ),
    }
}

fn check_email(text: &str) -> Check {
    match text.split_once('@') {
        Some((user, domain))
            if !user.is_empty() && check_domain(domain).is_ok() && domain.contains('.') =>
        {
            Ok(())
        }
        _ => fail(
            "bad-email",
            format!("`{text}` is not an e-mail address"),
            "write an address such as ops@example.com",
        ),
    }
}

/// True when `host` (possibly a wildcard `*.x`) is covered by certificate name `pattern`: equal,
/// or `pattern` is `*.rest` and `host` is one label followed by `.rest`.
pub fn domain_covers(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if pattern == host {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(first, tail)| first != "*" && !first.is_empty() && tail == rest),
        None => false,
    }
}

/// True when `name` is `zone` or a name below it.
pub fn domain_within(name: &str, zone: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    let name = name.strip_prefix("*.").unwrap_or(&name);
    name == zone || name.ends_with(&format!(".{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_must_be_network_addresses() {
        assert!(check_cidr("10.0.0.0/16").is_ok());
        assert!(check_cidr("203.0.113.10/32").is_ok());
        let (_, _, help) = check_cidr("10.0.1.0/16").unwrap_err();
        assert!(help.contains("10.0.0.0/16"), "{help}");
        assert!(check_cidr("10.0.0.0/33").is_err());
        assert!(check_cidr("10.0.0/16").is_err());
    }

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(duration_seconds("1m30s"), Some(90.0));
        assert_eq!(duration_seconds("250ms"), Some(0.25));
        assert!(duration_seconds("5").is_none());
        assert!(duration_seconds("5 s").is_none());
        assert!(duration_seconds("s").is_none());
    }

    #[test]
    fn re2_rejects_what_envoy_rejects() {
        assert!(check_re2("^/api/v[0-9]+/.*").is_ok());
        assert!(check_re2("(?=x)abc").is_err());
        assert!(check_re2("(a)\\1").is_err());
        assert!(check_re2("[a-").is_err());
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(domain_covers("*.example.com", "www.example.com"));
        assert!(!domain_covers("*.example.com", "example.com"));
        assert!(!domain_covers("*.example.com", "a.b.example.com"));
        assert!(domain_covers("example.com", "EXAMPLE.com."));
        assert!(domain_within("*.example.com", "example.com"));
        assert!(!domain_within("badexample.com", "example.com"));
    }

    #[test]
    fn versions_and_names() {
        assert!(check_pinned_version("1.12.1").is_ok());
        assert!(check_pinned_version("v2.7.1").is_ok());
        assert!(check_pinned_version("1.12").is_err());
        assert!(check_pinned_version("latest").is_err());
        assert!(check_kube_version("1.29").is_ok());
        assert!(check_kube_version("1.3.0").is_err());
        assert!(check_label_key("app.kubernetes.io/name").is_ok());
        assert!(check_label_key("-bad").is_err());
        assert!(check_namespace("istio-system").is_ok());
        assert!(check_namespace("Istio").is_err());
        assert!(check_quantity("128Mi").is_ok());
        assert!(check_quantity("128MB").is_err());
        assert!(check_istio_host("istio-system/*.example.com").is_ok());
        assert!(check_istio_host("*").is_ok());
        assert!(check_domain_pattern("www.*.example.com").is_err());
    }
}
