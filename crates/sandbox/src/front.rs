//! The hooks of the always-on front in front of moto ([`crate::FaultProxy`], which the sandbox
//! runs with or without faults): a [`Correction`] either answers a call itself (moto never sees
//! it) or corrects moto's answer on its way back. The sandbox uses them where moto is not AWS:
//! target health (`controllers::TargetHealthBoard`), and fixes of moto's mistakes.
//!
//! # Adding a correction
//!
//! Implement [`Correction`] in a module of its own and add it to [`moto_corrections`] (every
//! front runs those), or pass it to [`crate::FaultProxy::add_correction`] for one front only.
//! Corrections run in the order they were added: the first `answer` that returns `Some` wins;
//! every `correct` then sees the answer in turn (also an answer made by a correction). They run
//! on the proxy's thread and must not block: keep them to parsing and in-memory state.
//! Injected faults come first: a throttled call reaches no correction.
//!
//! ```ignore
//! struct NoSslPolicyOnPlainListeners;
//! impl Correction for NoSslPolicyOnPlainListeners {
//!     fn correct(&self, call: &Call, reply: Reply) -> Reply {
//!         if call.service != "elasticloadbalancing" || call.operation != "DescribeListeners" {
//!             return reply;
//!         }
//!         // ...rewrite reply.body...
//!         reply
//!     }
//! }
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Method, StatusCode, Uri};

/// One call to AWS as the front received it.
#[derive(Debug)]
pub struct Call<'a> {
    /// The SigV4 signing name: `ec2`, `elasticloadbalancing`, `route53`, `s3`, `eks`, ...
    pub service: &'a str,
    /// The operation as AWS names it (`DescribeTargetHealth`, `ChangeResourceRecordSets`);
    /// for REST calls the front cannot name, `METHOD path`.
    pub operation: &'a str,
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl Call<'_> {
    /// The form parameters of a query-protocol call (EC2, ELBv2, IAM, STS), decoded, in order:
    /// `("Targets.member.1.Id", "i-0abc")`.
    pub fn params(&self) -> Vec<(String, String)> {
        form_params(&String::from_utf8_lossy(self.body))
    }

    /// The first form parameter named `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.body)
    }
}

/// An answer to a call: moto's, or one a correction made.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A 200 with an XML body, as the query protocols (ELBv2, EC2, IAM) and Route53 answer.
    pub fn xml(body: impl Into<String>) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/xml"),
        );
        Reply {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(body.into()),
        }
    }

    /// The body as text (lossy).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// Replaces the body, keeping status and headers (the front sets Content-Length itself).
    pub fn with_body(mut self, body: impl Into<String>) -> Reply {
        self.body = Bytes::from(body.into());
        self.headers.remove(hyper::header::CONTENT_LENGTH);
        self
    }
}

/// A rule of the front: answers calls moto gets wrong, or corrects moto's answers. Both methods
/// default to doing nothing.
pub trait Correction: Send + Sync {
    /// Answers the call instead of moto, or `None` to let it through.
    fn answer(&self, call: &Call) -> Option<Reply> {
        let _ = call;
        None
    }

    /// Corrects the answer (moto's, or an earlier correction's) on its way to the client.
    fn correct(&self, call: &Call, reply: Reply) -> Reply {
        let _ = call;
        reply
    }
}

/// The corrections of moto's known mistakes, which every front runs (one line per correction).
pub fn moto_corrections() -> Vec<Arc<dyn Correction>> {
    Vec::new()
}

/// Decodes `a=1&b=x%2Fy+z` into pairs (`+` is a space, `%XX` a byte; bad escapes stay as they
/// are).
pub fn form_params(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes text for an XML element.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parameters_are_decoded() {
        assert_eq!(
            form_params("Action=RegisterTargets&Targets.member.1.Id=i-0a&Path=%2Fhealthz%2Fready+x&Bad=%zz&End=%4"),
            vec![
                ("Action".to_string(), "RegisterTargets".to_string()),
                ("Targets.member.1.Id".to_string(), "i-0a".to_string()),
                ("Path".to_string(), "/healthz/ready x".to_string()),
                ("Bad".to_string(), "%zz".to_string()),
                ("End".to_string(), "%4".to_string()),
            ]
        );
    }
}
