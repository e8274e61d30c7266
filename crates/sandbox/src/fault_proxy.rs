//! A fault-injecting HTTP proxy in front of moto: adds latency and answers a chosen share of calls
//! with AWS-shaped throttling or 5xx errors, per service, the way each service's protocol shapes
//! them, so the SDK and meshctl classify them as the real ones. Rules can also fail matching calls
//! permanently (AccessDenied) to drive rollbacks. It counts what it did per service and per call
//! (`ec2:CreateVpc`, `s3:PutObject`, `route53:ListResourceRecordSets`), so a test can tell how many
//! creates reached moto, or how many calls a refresh made. S3 calls (path-style, as the SDK sends
//! them to an IP endpoint) are named by their operation and answered with S3's own XML errors
//! (`SlowDown`, `InternalError`, `AccessDenied`), bodiless for `HEAD`; Route53's REST calls are
//! named by their operation too.
//!
//! `Faults::parse` reads the `meshctl-sandbox --faults` syntax: `ec2=throttle:0.5,*=5xx:0.1`.
//!
//! The same proxy is the sandbox's always-on front to moto ([`FaultProxy::start_front`], with no
//! faults unless asked): its [`Correction`]s (module [`crate::front`]) answer calls moto gets
//! wrong, such as target health, or correct moto's answers.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::front::{Call, Correction, Reply};
use crate::moto::SandboxError;

/// A permanent failure for calls of `service` whose body, path or call name (`s3:PutObject`, as
/// `FaultProxy::calls` counts them) contains `contains`.
#[derive(Debug, Clone)]
pub struct FailRule {
    pub service: String,
    pub contains: String,
}

/// What the proxy does to calls. Rates are between 0 and 1; `"*"` applies to every service.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub latency: Duration,
    pub throttle_rate: HashMap<String, f64>,
    pub server_error_rate: HashMap<String, f64>,
    pub fail: Vec<FailRule>,
}

/// What the proxy did, per service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub forwarded: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub failed: u64,
}

impl Faults {
    /// Reads comma-separated rules `SERVICE=FAULT:RATE`: SERVICE is the SigV4 signing name
    /// (`ec2`, `eks`, `iam`, `route53`, `acm`, `elasticloadbalancing`, `s3`) or `*` for all, FAULT is
    /// `throttle` or `5xx`, RATE the share of calls between 0 and 1; `latency=MS` delays every
    /// call. The error says which rule is wrong and what was expected.
    pub fn parse(spec: &str) -> Result<Faults, String> {
        const FORM: &str =
            "expected SERVICE=throttle:RATE, SERVICE=5xx:RATE or latency=MS (e.g. ec2=throttle:0.3,route53=5xx:0.1)";
        let mut faults = Faults::default();
        for rule in spec.split(',').map(str::trim) {
            if rule.is_empty() {
                continue;
            }
            let Some((service, fault)) = rule.split_once('=') else {
                return Err(format!("fault rule {rule:?}: {FORM}"));
            };
            let service = service.trim();
            if service == "latency" {
                let ms: u64 = fault.trim().parse().map_err(|_| {
                    format!("fault rule {rule:?}: the latency is a whole number of milliseconds")
                })?;
                faults.latency = Duration::from_millis(ms);
                continue;
            }
            if service.is_empty()
                || !(service == "*"
                    || service
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
            {
                return Err(format!(
                    "fault rule {rule:?}: {service:?} is not a service signing name (ec2, eks, iam, route53, acm, elasticloadbalancing, s3) nor *"
                ));
            }
            let Some((kind, rate)) = fault.split_once(':') else {
                return Err(format!("fault rule {rule:?}: {FORM}"));
            };
            let rate: f64 = match rate.trim().parse() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => rate,
                _ => {
                    return Err(format!(
                        "fault rule {rule:?}: the rate {:?} is not a number between 0 and 1",
                        rate.trim()
                    ))
                }
            };
            let table = match kind.trim() {
                "throttle" => &mut faults.throttle_rate,
                "5xx" => &mut faults.server_error_rate,
                other => {
                    return Err(format!(
                        "fault rule {rule:?}: unknown fault {other:?}; the faults are `throttle` and `5xx`"
                    ))
                }
            };
            table.insert(service.to_string(), rate);
        }
        Ok(faults)
    }
}

struct Shared {
    upstream: String,
    faults: Mutex<Faults>,
    counts: Mutex<HashMap<String, Counts>>,
    /// The same, per call: `ec2:CreateVpc`, `acm:RequestCertificate`, `route53:POST /...`.
    calls: Mutex<HashMap<String, Counts>>,
    random: Mutex<fastrand::Rng>,
    /// Held while an S3 object write (PUT, DELETE) is forwarded: moto checks `If-Match` and
    /// `If-None-Match` and then writes with nothing held between the two (moto 5.2.1,
    /// `s3/responses.py` `put_object`), so two conditional writes at once could both pass; S3
    /// applies each atomically, and through the proxy the sandbox does too.
    s3_writes: tokio::sync::Mutex<()>,
    /// Answers and corrections, in order (see [`crate::front`]).
    corrections: std::sync::RwLock<Vec<Arc<dyn Correction>>>,
}

/// A running proxy; dropping it stops it.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (e.g. moto's URL) on a free loopback port, on its own thread so
    /// it serves whatever runtime the caller uses. `seed` makes the injected faults repeatable.
    pub fn start(upstream: &str, seed: u64) -> Result<FaultProxy, SandboxError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(SandboxError::NoPort)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            faults: Mutex::new(Faults::default()),
            counts: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
            random: Mutex::new(fastrand::Rng::with_seed(seed)),
            s3_writes: tokio::sync::Mutex::new(()),
            corrections: std::sync::RwLock::new(Vec::new()),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || runtime.block_on(serve(listener, serving, stopped)))?;
        Ok(FaultProxy {
            address,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The sandbox's front to moto: a proxy with no faults that runs every correction of moto's
    /// known mistakes ([`crate::front::moto_corrections`]); add faults with `set_faults` and
    /// more corrections with `add_correction`.
    pub fn start_front(upstream: &str, seed: u64) -> Result<FaultProxy, SandboxError> {
        let front = FaultProxy::start(upstream, seed)?;
        for correction in crate::front::moto_corrections() {
            front.add_correction(correction);
        }
        Ok(front)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Runs `correction` on the next calls, after those added before it.
    pub fn add_correction(&self, correction: Arc<dyn Correction>) {
        self.shared
            .corrections
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(correction);
    }

    /// Replaces the faults applied to the next calls.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// What happened so far, by service (`ec2`, `iam`, `route53`, ...).
    pub fn counts(&self) -> HashMap<String, Counts> {
        lock(&self.shared.counts).clone()
    }

    /// What happened so far, by call: `ec2:CreateVpc` (query protocols name the action in the
    /// body, JSON ones in `X-Amz-Target`; S3 and Route53 calls are named by their operation,
    /// other REST calls are `METHOD path`).
    pub fn calls(&self) -> HashMap<String, Counts> {
        lock(&self.shared.calls).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (shared, client) = (shared.clone(), client.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                handle(request, shared.clone(), client.clone())
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type ProxyClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    client: ProxyClient,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let service = signing_service(&request).unwrap_or_else(|| "unknown".to_string());
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
    let (parts, body) = request.into_parts();
    let head = parts.method == hyper::Method::HEAD;
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, format!("bad body: {e}"))),
    };
    let faults = lock(&shared.faults).clone();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let rate = |table: &HashMap<String, f64>| {
        table
            .get(&service)
            .or_else(|| table.get("*"))
            .copied()
            .unwrap_or(0.0)
    };
    let text = String::from_utf8_lossy(&body);
    let path = parts.uri.path();
    let operation = if service == "s3" {
        s3_operation(&parts.method, &parts.uri, &parts.headers)
    } else if service == "route53" {
        route53_operation(&parts.method, path)
    } else {
        query_action(&text)
            .or(target)
            .unwrap_or_else(|| format!("{} {path}", parts.method))
    };
    let call = format!("{service}:{operation}");
    let failing = faults.fail.iter().any(|rule| {
        (rule.service == service || rule.service == "*")
            && (text.contains(&rule.contains)
                || path.contains(&rule.contains)
                || call.contains(&rule.contains))
    });
    let (throttle, server_error) = {
        let mut random = lock(&shared.random);
        (
            random.f64() < rate(&faults.throttle_rate),
            random.f64() < rate(&faults.server_error_rate),
        )
    };
    let outcome = if failing {
        Some(Fault::AccessDenied)
    } else if throttle {
        Some(Fault::Throttling)
    } else if server_error {
        Some(Fault::ServerError)
    } else {
        None
    };
    for (table, key) in [(&shared.counts, service.clone()), (&shared.calls, call)] {
        let mut counts = lock(table);
        let entry = counts.entry(key).or_default();
        match outcome {
            Some(Fault::AccessDenied) => entry.failed += 1,
            Some(Fault::Throttling) => entry.throttled += 1,
            Some(Fault::ServerError) => entry.server_errors += 1,
            None => entry.forwarded += 1,
        }
    }
    if let Some(fault) = outcome {
        return Ok(aws_error(&service, fault, head));
    }
    let corrections = shared
        .corrections
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let hooked = Call {
        service: &service,
        operation: &operation,
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
    };
    let answered = corrections.iter().find_map(|c| c.answer(&hooked));
    let reply = match answered {
        Some(reply) => reply,
        None => match forward(&shared, &client, &parts, body.clone()).await {
            Ok(reply) => reply,
            Err(response) => return Ok(response),
        },
    };
    let reply = corrections
        .iter()
        .fold(reply, |reply, c| c.correct(&hooked, reply));
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = reply.status;
    *response.headers_mut() = reply.headers;
    // hyper counts the body (a correction may have changed it); the answer to a HEAD has none
    // and keeps the length of what a GET would return.
    if !head {
        response.headers_mut().remove(hyper::header::CONTENT_LENGTH);
    }
    Ok(response)
}

/// Sends the call on to moto and reads its whole answer; a failure to reach moto is a 502.
async fn forward(
    shared: &Shared,
    client: &ProxyClient,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<Reply, Response<Full<Bytes>>> {
    let uri = format!(
        "{}{}",
        shared.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let s3_write = signing_service_of(&parts.headers).as_deref() == Some("s3")
        && (parts.method == hyper::Method::PUT || parts.method == hyper::Method::DELETE);
    let _serialized = if s3_write {
        Some(shared.s3_writes.lock().await)
    } else {
        None
    };
    let mut forward = Request::builder().method(parts.method.clone()).uri(uri);
    for (name, value) in &parts.headers {
        forward = forward.header(name, value);
    }
    let Ok(forward) = forward.body(Full::new(body)) else {
        return Err(plain(StatusCode::BAD_REQUEST, "bad request".into()));
    };
    match client.request(forward).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            match body.collect().await {
                Ok(body) => Ok(Reply {
                    status: parts.status,
                    headers: parts.headers,
                    body: body.to_bytes(),
                }),
                Err(e) => Err(plain(StatusCode::BAD_GATEWAY, e.to_string())),
            }
        }
        Err(e) => Err(plain(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Throttling,
    ServerError,
    AccessDenied,
}

/// The service a SigV4-signed call is for: `Credential=KEY/DATE/REGION/SERVICE/aws4_request`.
fn signing_service<B>(request: &Request<B>) -> Option<String> {
    signing_service_of(request.headers())
}

fn signing_service_of(headers: &hyper::HeaderMap) -> Option<String> {
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split(',').next()?;
    scope.split('/').nth(3).map(str::to_string)
}

/// The S3 operation of a path-style request (`/bucket`, `/bucket/key`), as AWS names it.
fn s3_operation(method: &hyper::Method, uri: &hyper::Uri, headers: &hyper::HeaderMap) -> String {
    let path = uri.path().trim_start_matches('/');
    let query = uri.query().unwrap_or_default();
    let has = |param: &str| {
        query
            .split('&')
            .any(|pair| pair == param || pair.starts_with(&format!("{param}=")))
    };
    let object = path.split_once('/').is_some_and(|(_, key)| !key.is_empty());
    let operation = match (method.as_str(), object) {
        ("GET", true) => "GetObject",
        ("HEAD", true) => "HeadObject",
        ("PUT", true) if headers.contains_key("x-amz-copy-source") => "CopyObject",
        ("PUT", true) => "PutObject",
        ("DELETE", true) => "DeleteObject",
        ("GET", false) if has("versions") => "ListObjectVersions",
        ("GET", false) if has("versioning") => "GetBucketVersioning",
        ("GET", false) if has("list-type") => "ListObjectsV2",
        ("GET", false) if path.is_empty() => "ListBuckets",
        ("GET", false) => "ListObjects",
        ("HEAD", false) => "HeadBucket",
        ("PUT", false) if has("versioning") => "PutBucketVersioning",
        ("PUT", false) => "CreateBucket",
        ("POST", false) if has("delete") => "DeleteObjects",
        ("DELETE", false) => "DeleteBucket",
        (method, _) => return format!("{method} /{path}"),
    };
    operation.to_string()
}

/// The Route53 operation of a REST call (`GET /2013-04-01/hostedzone/Z1/rrset`), as AWS names
/// it, so that a test can count `route53:ListResourceRecordSets` apart from the other reads.
fn route53_operation(method: &hyper::Method, path: &str) -> String {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // parts[0] is the API version, `2013-04-01`.
    let operation = match (method.as_str(), parts.get(1..).unwrap_or_default()) {
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", ["hostedzonecount"]) => "GetHostedZoneCount",
        ("GET", ["change", _]) => "GetChange",
        ("GET", ["tags", _, _]) => "ListTagsForResource",
        ("POST", ["tags", _, _]) => "ChangeTagsForResource",
        (method, _) => return format!("{method} {path}"),
    };
    operation.to_string()
}

/// The `Action=` of a query-protocol body (EC2, IAM, ELBv2, STS).
fn query_action(body: &str) -> Option<String> {
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string)
}

fn plain(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = status;
    response
}

/// The error as the service's own protocol shapes it (EC2 query, awsQuery, restXml, JSON, S3's
/// bare `<Error>`). The answer to a `HEAD` has no body, as S3 sends it: the status says it all.
fn aws_error(service: &str, fault: Fault, head: bool) -> Response<Full<Bytes>> {
    let (status, code, message) = match (service, fault) {
        ("s3", Fault::Throttling) => (503, "SlowDown", "Please reduce your request rate."),
        ("s3", Fault::ServerError) => (
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        ("s3", Fault::AccessDenied) => (403, "AccessDenied", "Access Denied"),
        ("ec2", Fault::Throttling) => (503, "RequestLimitExceeded", "Request limit exceeded."),
        ("route53", Fault::Throttling) => (400, "Throttling", "Rate exceeded"),
        ("eks", Fault::Throttling) => (429, "ThrottlingException", "Rate exceeded"),
        ("acm", Fault::Throttling) => (400, "ThrottlingException", "Rate exceeded"),
        (_, Fault::Throttling) => (400, "Throttling", "Rate exceeded"),
        ("ec2", Fault::ServerError) => (503, "Unavailable", "The server is unavailable"),
        (_, Fault::ServerError) => (500, "InternalFailure", "Internal failure (injected)"),
        ("acm" | "eks", Fault::AccessDenied) => (
            403,
            "AccessDeniedException",
            "not authorized (injected by the fault proxy)",
        ),
        (_, Fault::AccessDenied) => (
            403,
            "AccessDenied",
            "not authorized (injected by the fault proxy)",
        ),
    };
    let (content_type, body) = match service {
        "ec2" => (
            "text/xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"),
        ),
        "acm" => (
            "application/x-amz-json-1.1",
            format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"),
        ),
        "eks" => ("application/json", format!("{{\"message\":\"{message}\"}}")),
        "s3" => (
            "application/xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId><HostId>fault-proxy</HostId></Error>"),
        ),
        _ => (
            "text/xml",
            format!("<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"),
        ),
    };
    let body = if head { String::new() } else { body };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        "x-amz-request-id",
        hyper::header::HeaderValue::from_static("fault-proxy"),
    );
    headers.insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(code) {
        headers.insert("x-amzn-errortype", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faults_spec_sets_rates_per_service_and_latency() {
        let faults =
            Faults::parse("ec2=throttle:0.3, route53=5xx:0.1,*=throttle:1,latency=50").unwrap();
        assert_eq!(faults.throttle_rate["ec2"], 0.3);
        assert_eq!(faults.throttle_rate["*"], 1.0);
        assert_eq!(faults.server_error_rate["route53"], 0.1);
        assert_eq!(faults.latency, Duration::from_millis(50));
    }

    #[test]
    fn a_wrong_faults_spec_says_which_rule_and_what_is_expected() {
        for (spec, expected) in [
            ("ec2", "expected SERVICE=throttle:RATE"),
            ("ec2=throttle", "expected SERVICE=throttle:RATE"),
            ("ec2=throttle:1.5", "not a number between 0 and 1"),
            ("ec2=throttle:lots", "not a number between 0 and 1"),
            ("ec2=slow:0.1", "unknown fault \"slow\""),
            ("EC2 =throttle:0.1", "not a service signing name"),
            ("latency=fast", "whole number of milliseconds"),
        ] {
            let error = Faults::parse(spec).unwrap_err();
            assert!(error.contains(expected), "{spec}: {error}");
            assert!(
                error.contains(spec.split(',').next().unwrap()),
                "{spec}: {error}"
            );
        }
    }

    #[test]
    fn s3_calls_are_named_by_their_operation() {
        let name = |method: &str, uri: &str, copy: bool| {
            let mut headers = hyper::HeaderMap::new();
            if copy {
                headers.insert("x-amz-copy-source", "b/k".parse().unwrap());
            }
            s3_operation(&method.parse().unwrap(), &uri.parse().unwrap(), &headers)
        };
        assert_eq!(
            name("PUT", "/state/meshctl/prod.json?x-id=PutObject", false),
            "PutObject"
        );
        assert_eq!(name("GET", "/state/meshctl/prod.json", false), "GetObject");
        assert_eq!(name("HEAD", "/state/prod.json", false), "HeadObject");
        assert_eq!(
            name("DELETE", "/state/prod.json.lock", false),
            "DeleteObject"
        );
        assert_eq!(name("PUT", "/state/prod.json", true), "CopyObject");
        assert_eq!(
            name("GET", "/state?list-type=2&prefix=p", false),
            "ListObjectsV2"
        );
        assert_eq!(
            name("GET", "/state?versions&prefix=p", false),
            "ListObjectVersions"
        );
        assert_eq!(
            name("PUT", "/state?versioning", false),
            "PutBucketVersioning"
        );
        assert_eq!(name("PUT", "/state", false), "CreateBucket");
    }

    #[test]
    fn s3_errors_are_s3_xml_and_a_head_gets_none() {
        let response = aws_error("s3", Fault::Throttling, false);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = format!("{:?}", response.body());
        assert!(body.contains("<Error><Code>SlowDown</Code>"), "{body}");
        let head = aws_error("s3", Fault::AccessDenied, true);
        assert_eq!(head.status(), StatusCode::FORBIDDEN);
        assert!(!format!("{:?}", head.body()).contains("Error"));
    }

    #[test]
    fn route53_calls_are_named_by_their_operation() {
        let name = |method: &str, path: &str| route53_operation(&method.parse().unwrap(), path);
        assert_eq!(
            name("GET", "/2013-04-01/hostedzone/Z1ABC/rrset"),
            "ListResourceRecordSets"
        );
        assert_eq!(
            name("POST", "/2013-04-01/hostedzone/Z1ABC/rrset/"),
            "ChangeResourceRecordSets"
        );
        assert_eq!(name("GET", "/2013-04-01/hostedzone/Z1ABC"), "GetHostedZone");
        assert_eq!(name("GET", "/2013-04-01/hostedzone"), "ListHostedZones");
        assert_eq!(
            name("GET", "/2013-04-01/hostedzonesbyname"),
            "ListHostedZonesByName"
        );
        assert_eq!(name("GET", "/2013-04-01/change/C2"), "GetChange");
        assert_eq!(
            name("GET", "/2013-04-01/tags/hostedzone/Z1ABC"),
            "ListTagsForResource"
        );
        assert_eq!(name("PUT", "/2013-04-01/odd"), "PUT /2013-04-01/odd");
    }

    #[test]
    fn the_action_of_a_query_body_is_found() {
        assert_eq!(
            query_action("Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16").as_deref(),
            Some("CreateVpc")
        );
        assert_eq!(
            query_action("Version=1&Action=CreateRole").as_deref(),
            Some("CreateRole")
        );
        assert_eq!(query_action("{}"), None);
    }
}
