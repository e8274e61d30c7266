//! Redaction by value pattern: whatever looks like a credential (AWS access key IDs and secret
//! keys, private keys, JWTs, bearer tokens, GitHub, Slack and EKS tokens) is replaced by
//! `<redacted>` wherever it sits — under any key name, as a map key, in a comment, in an error
//! message. Every renderer (diagnostics, plans, events, state) passes its text through here.
//!
//! A hand-written scanner rather than regexes: the model crate has no matcher, and each detector
//! below looks at every byte a bounded number of times, so redaction is linear in the text.

use serde_json::Value;
use std::borrow::Cow;
use std::ops::Range;

/// What a secret is replaced by in anything shown to a person.
pub const MARKER: &str = "<redacted>";

/// A token prefix, the characters its body is made of, and the shortest body that counts.
type PrefixedToken = (&'static str, fn(u8) -> bool, usize);

/// Prefixes of tokens that are credentials whatever follows, with the characters their body is
/// made of and the shortest body that counts (so `ghp_` alone in prose is left alone).
const PREFIXED_TOKENS: &[PrefixedToken] = &[
    ("github_pat_", is_word, 20),
    ("ghp_", is_alnum, 20),
    ("gho_", is_alnum, 20),
    ("ghu_", is_alnum, 20),
    ("ghs_", is_alnum, 20),
    ("ghr_", is_alnum, 20),
    ("xoxb-", is_slack, 10),
    ("xoxa-", is_slack, 10),
    ("xoxp-", is_slack, 10),
    ("xoxr-", is_slack, 10),
    ("xoxs-", is_slack, 10),
    ("k8s-aws-v1.", is_base64url, 20),
    // AWS session tokens (STS): base64 of a fixed header.
    ("FwoGZXIvYXdz", is_base64, 40),
    ("IQoJb3JpZ2lu", is_base64, 40),
];

/// The first four letters of AWS access key IDs: long-term, temporary (STS), and the two others
/// AWS documents for its own services.
const ACCESS_KEY_PREFIXES: &[&[u8]] = &[b"AKIA", b"ASIA", b"ABIA", b"ACCA"];

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_slack(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'+' || b == b'='
}

/// The byte ranges of `text` that hold secrets, sorted and not overlapping.
pub fn secret_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = private_keys(text);
    runs(
        bytes,
        |b| is_alnum(b) || b == b'/' || b == b'+',
        &mut |run| {
            let word = &bytes[run.clone()];
            if is_access_key_id(word) || is_secret_key(word) {
                spans.push(run);
            } else if !word.iter().all(|b| b.is_ascii_alphanumeric()) {
                // `AKIA…/rest`: an access key ID ends at any character outside its alphabet.
                runs(word, is_alnum, &mut |inner| {
                    if is_access_key_id(&word[inner.clone()]) {
                        spans.push(run.start + inner.start..run.start + inner.end);
                    }
                });
            }
        },
    );
    prefixed_tokens(bytes, &mut spans);
    json_web_tokens(bytes, &mut spans);
    bearer_tokens(bytes, &mut spans);
    spans.sort_by_key(|s| (s.start, s.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// True when `text` holds anything that looks like a secret.
pub fn contains_secret(text: &str) -> bool {
    !secret_spans(text).is_empty()
}

/// `text` with every secret replaced by `<redacted>`.
pub fn redact(text: &str) -> Cow<'_, str> {
    redact_with(text, &mut |_| MARKER.to_string())
}

/// `text` with every secret replaced by what `marker` makes of it (state records use a digest,
/// so a changed secret still shows as a change).
pub fn redact_with<'a>(text: &'a str, marker: &mut dyn FnMut(&str) -> String) -> Cow<'a, str> {
    let spans = secret_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        out.push_str(&text[at..span.start]);
        out.push_str(&marker(&text[span.clone()]));
        at = span.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Redacts every string and object key in `value`, in place.
pub fn redact_value(value: &mut Value) {
    redact_value_with(value, &mut |_| MARKER.to_string());
}

/// `redact_value` with a marker of the caller's (see `redact_with`).
pub fn redact_value_with(value: &mut Value, marker: &mut dyn FnMut(&str) -> String) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(redacted) = redact_with(s, marker) {
                *s = redacted;
            }
        }
        Value::Array(items) => {
            for item in items {
                redact_value_with(item, marker);
            }
        }
        Value::Object(map) => {
            if map.keys().any(|k| contains_secret(k)) {
                let entries = std::mem::take(map);
                for (key, item) in entries {
                    map.insert(redact_with(&key, marker).into_owned(), item);
                }
            }
            for item in map.values_mut() {
                redact_value_with(item, marker);
            }
        }
        _ => {}
    }
}

/// Calls `found` with each maximal run of bytes that `class` accepts.
fn runs(bytes: &[u8], class: impl Fn(u8) -> bool, found: &mut dyn FnMut(Range<usize>)) {
    let mut i = 0;
    while i < bytes.len() {
        if !class(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && class(bytes[i]) {
            i += 1;
        }
        found(start..i);
    }
}

/// An AWS access key ID: one of its prefixes and 16 upper-case letters or digits, alone.
fn is_access_key_id(word: &[u8]) -> bool {
    word.len() == 20
        && ACCESS_KEY_PREFIXES.iter().any(|p| word.starts_with(p))
        && word
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// An AWS secret access key: exactly 40 base64 characters, not part of a longer run (a
/// certificate line, a longer digest), mixing upper case, lower case and a digit or `/`/`+`, so
/// that a 40-digit hex commit hash or a plain word path is not taken for one.
fn is_secret_key(word: &[u8]) -> bool {
    word.len() == 40
        && word.iter().any(u8::is_ascii_uppercase)
        && word.iter().any(u8::is_ascii_lowercase)
        && word
            .iter()
            .any(|b| b.is_ascii_digit() || *b == b'/' || *b == b'+')
}

/// PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` to its END line), whatever lies
/// between (indentation, YAML or diff prefixes); a block without its END runs to the end of the
/// text, since what follows its header is key material.
fn private_keys(text: &str) -> Vec<Range<usize>> {
    const BEGIN: &str = "-----BEGIN ";
    const END: &str = "-----END ";
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(BEGIN) {
        let start = from + found;
        let header_from = start + BEGIN.len();
        let header_end = text[header_from..]
            .find("-----")
            .map(|i| header_from + i)
            .filter(|&e| e - header_from <= 64 && !text[header_from..e].contains('\n'));
        let Some(header_end) = header_end else {
            from = header_from;
            continue;
        };
        if !text[header_from..header_end].contains("PRIVATE KEY") {
            from = header_end;
            continue;
        }
        let body = header_end + 5;
        let end = text[body..]
            .find(END)
            .map(|i| body + i + END.len())
            .map(|after| {
                text[after..]
                    .find("-----")
                    .filter(|&i| !text[after..after + i].contains('\n'))
                    .map_or(text.len(), |i| after + i + 5)
            })
            .unwrap_or(text.len());
        spans.push(start..end);
        from = end;
    }
    spans
}

/// Where a token may begin: at the start, or after a byte that cannot be inside a word.
fn at_word_start(bytes: &[u8], i: usize) -> bool {
    i == 0 || !is_word(bytes[i - 1])
}

fn prefixed_tokens(bytes: &[u8], spans: &mut Vec<Range<usize>>) {
    let mut i = 0;
    'scan: while i < bytes.len() {
        if at_word_start(bytes, i) {
            for &(prefix, body, shortest) in PREFIXED_TOKENS {
                if bytes[i..].starts_with(prefix.as_bytes()) {
                    let from = i + prefix.len();
                    let mut end = from;
                    while end < bytes.len() && body(bytes[end]) {
                        end += 1;
                    }
                    if end - from >= shortest {
                        spans.push(i..end);
                        i = end;
                        continue 'scan;
                    }
                }
            }
        }
        i += 1;
    }
}

/// JWTs: `eyJ…` (base64 of `{"`), a dot, a payload, a dot and a signature.
fn json_web_tokens(bytes: &[u8], spans: &mut Vec<Range<usize>>) {
    let segment = |from: usize| {
        let mut end = from;
        while end < bytes.len() && is_base64url(bytes[end]) {
            end += 1;
        }
        end
    };
    let mut i = 0;
    while i < bytes.len() {
        if !(bytes[i..].starts_with(b"eyJ") && (i == 0 || !is_base64url(bytes[i - 1]))) {
            i += 1;
            continue;
        }
        let header_end = segment(i);
        if header_end - i < 10 || bytes.get(header_end) != Some(&b'.') {
            i = header_end.max(i + 1);
            continue;
        }
        let payload_end = segment(header_end + 1);
        if payload_end - (header_end + 1) < 10 {
            i = payload_end;
            continue;
        }
        let end = if bytes.get(payload_end) == Some(&b'.') {
            segment(payload_end + 1)
        } else {
            payload_end
        };
        spans.push(i..end);
        i = end;
    }
}

/// `Bearer <token>` (an `Authorization` header value): the token, when it is long enough to be one.
fn bearer_tokens(bytes: &[u8], spans: &mut Vec<Range<usize>>) {
    const BEARER: &[u8] = b"bearer ";
    let token_byte = |b: u8| is_base64url(b) || matches!(b, b'.' | b'~' | b'+' | b'/' | b'=');
    let mut i = 0;
    while i + BEARER.len() <= bytes.len() {
        if !(at_word_start(bytes, i) && bytes[i..i + BEARER.len()].eq_ignore_ascii_case(BEARER)) {
            i += 1;
            continue;
        }
        let from = i + BEARER.len();
        let mut end = from;
        while end < bytes.len() && token_byte(bytes[end]) {
            end += 1;
        }
        if end - from >= 20 {
            spans.push(from..end);
        }
        i = end.max(i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn access_key_ids_and_secret_keys_anywhere() {
        let line = format!("  {{ id: {KEY_ID}, aws_secret: {SECRET} }} # {KEY_ID}");
        let out = redact(&line);
        assert_eq!(
            out,
            "  { id: <redacted>, aws_secret: <redacted> } # <redacted>"
        );
        assert_eq!(redact(&format!("key={SECRET}&x=1")), "key=<redacted>&x=1");
        assert_eq!(redact(&format!("{KEY_ID}/x")), "<redacted>/x");
        assert_eq!(redact("ASIAZ72NSUCESVG47F6A"), "<redacted>");
    }

    #[test]
    fn look_alikes_are_left_alone() {
        for text in [
            // A commit hash, a certificate line, a path, plain words, a key ID with a suffix.
            "4c62178a9b0e1f2d3c4b5a69788796a5b4c3d2e1",
            "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ",
            "/apis/networking/v1/namespaces/istio/ingresses",
            "AKIA-not-a-key and ghp_short and Bearer abc",
            "AKIAIOSFODNN7EXAMPLEX",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn private_keys_tokens_and_jwts() {
        let pem = "key: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MIIEow\n  -----END RSA PRIVATE KEY-----\nnext: 1";
        assert_eq!(redact(pem), "key: |\n  <redacted>\nnext: 1");
        assert_eq!(
            redact("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE"),
            "<redacted>"
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNpZ24";
        assert_eq!(
            redact(&format!("authorization: Bearer {jwt}")),
            "authorization: Bearer <redacted>"
        );
        assert_eq!(redact(&format!("x={jwt};")), "x=<redacted>;");
        assert_eq!(
            redact("ghp_0123456789abcdefghijABCDEFGHIJ012345 xoxb-1234567890-abcdef k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9u"),
            "<redacted> <redacted> <redacted>"
        );
        assert_eq!(
            redact("Bearer abcdefghijklmnopqrstuvwxyz0123"),
            "Bearer <redacted>"
        );
    }

    #[test]
    fn values_keys_included_and_markers_of_the_callers() {
        let mut value = serde_json::json!({ KEY_ID: [format!("s={SECRET}")], "ok": "fine" });
        redact_value(&mut value);
        assert_eq!(
            value,
            serde_json::json!({ "<redacted>": ["s=<redacted>"], "ok": "fine" })
        );
        let digested = redact_with(KEY_ID, &mut |s| format!("<{}>", s.len()));
        assert_eq!(digested, "<20>");
    }

    #[test]
    fn linear_on_hostile_input() {
        // Runs of near-matches: each detector moves on past what it looked at.
        let text = "eyJaaaaaaaaaa.".repeat(50_000)
            + &"-----BEGIN ".repeat(50_000)
            + &"ghp_x.".repeat(50_000)
            + &"bearer ".repeat(50_000);
        let started = std::time::Instant::now();
        let _ = redact(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
