//! Maps aws-sdk errors onto the engine's error classes: throttling, 5xx, in-progress conflicts and
//! network faults retry; missing objects are `NotFound`; everything else stops the apply.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use meshctl_model::Address;
use meshctl_provider::{ErrorClass, ProviderError};

pub(crate) type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// Error codes AWS services return when the caller should slow down or try again.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServerException",
    "ConcurrentModification",
    "ConcurrentModificationException",
    // EC2 reports a subnet or gateway still in use while what used it is going away.
    "DependencyViolation",
];

/// Error codes that mean the object is not there.
fn is_not_found(code: &str) -> bool {
    code.ends_with("NotFound")
        || matches!(
            code,
            "ResourceNotFoundException"
                | "NoSuchEntity"
                | "NoSuchHostedZone"
                | "NoSuchEntityException"
                | "NotFoundException"
        )
}

/// The class and a readable message of an SDK error.
pub(crate) fn classify<E>(error: &SdkError<E>) -> (ErrorClass, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let status = service.raw().status().as_u16();
            let code = err.code().unwrap_or("");
            let message = err.message().unwrap_or("").to_string();
            let text = if code.is_empty() {
                format!("HTTP {status}: {message}")
            } else {
                format!("{code}: {message}")
            };
            let class = if RETRYABLE_CODES.contains(&code) || status >= 500 || status == 429 {
                ErrorClass::Retryable
            } else if is_not_found(code) || (code.is_empty() && status == 404) {
                ErrorClass::NotFound
            } else {
                ErrorClass::Permanent
            };
            (class, text)
        }
        SdkError::TimeoutError(_) => (ErrorClass::Retryable, "the request timed out".into()),
        SdkError::DispatchFailure(_) => (
            ErrorClass::Retryable,
            format!("cannot reach AWS: {}", describe_chain(error)),
        ),
        SdkError::ResponseError(_) => (
            ErrorClass::Retryable,
            format!("unreadable response: {}", describe_chain(error)),
        ),
        other => (ErrorClass::Permanent, describe_chain(other)),
    }
}

/// An SDK error as a provider error on `address` during `operation`, naming the AWS call.
pub(crate) fn sdk_error<E>(
    address: &Address,
    operation: &'static str,
    call: &str,
    error: SdkError<E>,
) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (class, message) = classify(&error);
    ProviderError::new(class, address, operation, format!("{call}: {message}")).with_source(error)
}

/// The error with its sources, which is where the SDK puts the useful part.
fn describe_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A result whose `NotFound` error becomes `Ok(None)`: how reads and lookups say "gone".
pub(crate) fn optional<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.class == ErrorClass::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The code of a service error, for callers that treat one code specially.
pub(crate) fn code_of<E: ProvideErrorMetadata>(error: &SdkError<E>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}
