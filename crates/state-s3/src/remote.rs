//! The dumb half of the S3 backend, as OpenTofu's remote client: get, conditional put and
//! delete, list and head of objects under the state's key, each a blocking call on the process's
//! runtime. It knows nothing of state; `store` and `lock` build on it.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use meshctl_state::StateError;
use std::future::Future;
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};

/// Where a stack's state lives in S3, as the stack's `backend.s3` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// The state object's key; the lock and history objects are named after it.
    pub key: String,
    pub region: String,
    /// Encrypt with this KMS key (SSE-KMS); without it, S3-managed keys (SSE-S3, AES256).
    pub kms_key_id: Option<String>,
}

impl S3Location {
    /// `s3://bucket/key`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The lock object: `<key>.lock`.
    pub fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    /// The prefix of the history objects: `<key>.history/`.
    pub fn history_prefix(&self) -> String {
        format!("{}.history/", self.key)
    }

    /// The history object of `serial`, zero-padded so that listing order is serial order.
    pub fn history_key(&self, serial: u64) -> String {
        format!("{}{serial:020}.json", self.history_prefix())
    }

    /// `s3://bucket/<key>` of any object of this state.
    pub fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// What a conditional write requires of the object it replaces.
#[derive(Debug, Clone)]
pub enum Expect {
    /// `If-None-Match: *`: there is no object yet.
    Absent,
    /// `If-Match: <etag>`: the object is the one this process last read or wrote.
    Etag(String),
    /// No condition (a history object replacing one a failed run left at the same serial).
    Anything,
}

/// How a conditional write ended.
#[derive(Debug)]
pub enum Written {
    /// Written; the object's new ETag.
    Done(String),
    /// The condition did not hold (412, or 404 for `If-Match` on a deleted object).
    Refused,
}

/// An object as read.
#[derive(Debug, Clone)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
}

/// An S3 client bound to one state's location and the runtime its calls run on.
pub struct Remote {
    pub client: aws_sdk_s3::Client,
    pub location: S3Location,
    handle: Handle,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location.url())
    }
}

/// Attempts per S3 call, the first included, that the SDK makes before a call fails (its
/// default is 3): throttling and 5xx on the state must not stop an apply.
pub const ATTEMPTS_PER_CALL: u32 = 6;
/// The longest wait between two attempts of one call.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// One attempt of one call (a 10,000-record state is about 10 MB).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

impl Remote {
    /// A client from the standard aws-config chain (credentials, `AWS_ENDPOINT_URL`, retry mode)
    /// with the location's region, and at least `ATTEMPTS_PER_CALL` attempts per call.
    pub fn new(location: S3Location, handle: Handle) -> Remote {
        let region = location.region.clone();
        let config = run(&handle, async move {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region))
                .load()
                .await
        });
        let chosen = config
            .retry_config()
            .cloned()
            .unwrap_or_else(aws_config::retry::RetryConfig::standard);
        let (attempts, backoff) = (chosen.max_attempts(), chosen.max_backoff());
        let retries = chosen
            .with_max_attempts(attempts.max(ATTEMPTS_PER_CALL))
            .with_max_backoff(backoff.min(MAX_BACKOFF));
        let config = config.to_builder().retry_config(retries).build();
        Remote::with_config(location, &config, handle)
    }

    /// A client from `config` as it is, retries included (its region is the location's).
    pub fn with_config(
        location: S3Location,
        config: &aws_config::SdkConfig,
        handle: Handle,
    ) -> Remote {
        let mut builder = aws_sdk_s3::config::Builder::from(config)
            .region(aws_config::Region::new(location.region.clone()))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            );
        // An S3-compatible endpoint (`AWS_ENDPOINT_URL`: MinIO, a local moto) is addressed by
        // path, as its bucket names are not DNS names under it; AWS's own by virtual host.
        if config.endpoint_url().is_some() {
            builder = builder.force_path_style(true);
        }
        Remote {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            location,
            handle,
        }
    }

    /// Runs `future` on the runtime, blocking this thread (see `run`).
    pub fn block<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        run(&self.handle, future)
    }

    /// The object `key`, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Object>, StateError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(self.error(key, "read", &e)),
        };
        let etag = output.e_tag().unwrap_or_default().to_string();
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| StateError::Remote {
                location: self.location.url_of(key),
                detail: format!("reading the object's body failed: {e}"),
            })?;
        Ok(Some(Object {
            body: body.into_bytes().to_vec(),
            etag,
        }))
    }

    /// Whether the object `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StateError> {
        match self
            .client
            .head_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(self.error(key, "look up", &e)),
        }
    }

    /// Writes `body` to `key` if `expect` holds, with server-side encryption.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        expect: &Expect,
    ) -> Result<Written, StateError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        request = match &self.location.kms_key_id {
            Some(kms) => request
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms),
            None => request.server_side_encryption(ServerSideEncryption::Aes256),
        };
        request = match expect {
            Expect::Absent => request.if_none_match("*"),
            Expect::Etag(etag) => request.if_match(etag),
            Expect::Anything => request,
        };
        match request.send().await {
            Ok(output) => Ok(Written::Done(
                output.e_tag().unwrap_or_default().to_string(),
            )),
            Err(e) if refused(&e, expect) => Ok(Written::Refused),
            Err(e) => Err(self.error(key, "write", &e)),
        }
    }

    /// Deletes `key` if its ETag is still `etag`. Returns whether it was deleted (`false`: it
    /// changed, or is gone). Where S3 does not take a condition on deletes (501), the caller has
    /// checked the object just before, and it is deleted without one.
    pub async fn delete_if(&self, key: &str, etag: &str) -> Result<bool, StateError> {
        let answer = self
            .client
            .delete_object()
            .bucket(&self.location.bucket)
            .key(key)
            .if_match(etag)
            .send()
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(e) if matches!(status(&e), Some(412 | 404)) => Ok(false),
            Err(e) if status(&e) == Some(501) => {
                self.client
                    .delete_object()
                    .bucket(&self.location.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| self.error(key, "delete", &e))?;
                Ok(true)
            }
            Err(e) => Err(self.error(key, "delete", &e)),
        }
    }

    /// The keys under `prefix`, in key order, every page.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.location.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(prefix, "list", &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_string)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    fn error<E>(&self, key: &str, what: &str, error: &SdkError<E, HttpResponse>) -> StateError
    where
        E: std::error::Error + 'static,
    {
        let hint = match status(error) {
            Some(403) => "; check the credentials' permissions on the bucket (s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket, and kms:GenerateDataKey/kms:Decrypt with a KMS key)",
            Some(404) => "; check that the bucket exists in the backend's region",
            _ => "",
        };
        StateError::Remote {
            location: self.location.url_of(key),
            detail: format!("cannot {what} it: {}{hint}", DisplayErrorContext(error)),
        }
    }
}

/// The HTTP status of a failed call that got an answer.
fn status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|raw| raw.status().as_u16())
}

/// Whether a failed write was refused by its condition: 412, or `NoSuchKey` for `If-Match` on an
/// object that is gone (not a missing bucket, which is a plain error).
fn refused<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>, expect: &Expect) -> bool {
    match status(error) {
        Some(412) => true,
        Some(404) => {
            matches!(expect, Expect::Etag(_))
                && error.as_service_error().and_then(|e| e.code()) == Some("NoSuchKey")
        }
        _ => false,
    }
}

/// Runs `future` on `handle`'s runtime and waits for it. On a worker of a multi-thread runtime it
/// first hands the worker's other tasks to another thread (`block_in_place`), since a worker must
/// not block on its own runtime; on a current-thread runtime, on a scoped thread of its own.
pub fn run<F>(handle: &Handle, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    match Handle::try_current() {
        Ok(current) if current.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        Ok(_) => std::thread::scope(|scope| {
            scope
                .spawn(|| handle.block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
        Err(_) => handle.block_on(future),
    }
}

/// Runs `work`, which may wait for other threads' S3 calls, where waiting is allowed: outside
/// the runtime's workers as they are, on a multi-thread worker after handing its tasks on.
pub fn waiting<T>(work: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(current) if current.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
