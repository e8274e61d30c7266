//! One provider call as the executor makes it: the service's rate limit, the kind's timeout, and
//! retries with jittered exponential backoff for retryable errors (throttling, 5xx, in progress).

use crate::events::{Event, EventSink};
use crate::limits::{limiter_of, Limiters, RateWaits};
use crate::ApplyOptions;
use meshctl_model::Address;
use meshctl_provider::{ErrorClass, ProviderError};
use std::future::Future;

/// `waits`, when given, counts the call while it waits on its service's rate limiter. `shared`
/// names the request group of a call the provider can send together with others (the kind's
/// `RateLimit::shared_key`): such calls made at once wait for one rate-limit slot.
pub(crate) async fn call<T, F, Fut>(
    options: &ApplyOptions,
    limiters: &Limiters,
    waits: Option<&RateWaits>,
    events: &dyn EventSink,
    address: &Address,
    shared: Option<&str>,
    mut attempt_call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let timeout = options.timeouts.of(address.kind);
    let limiter = limiter_of(limiters, address.kind);
    let mut attempt = 0;
    loop {
        if let Some((limiter, at_most)) = limiter {
            limiter
                .wait(
                    waits.map(|waits| (waits, address)),
                    shared.map(|key| (key, at_most)),
                )
                .await;
        }
        let error = match tokio::time::timeout(timeout, attempt_call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error,
            Err(_) => ProviderError::new(
                ErrorClass::Permanent,
                address,
                "call",
                format!("timed out after {}s", timeout.as_secs()),
            ),
        };
        attempt += 1;
        if !error.is_retryable() || attempt >= options.retry.max_attempts {
            return Err(error);
        }
        let wait = options.retry.backoff(attempt);
        events.emit(Event::Retrying {
            address: address.clone(),
            attempt,
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            error: error.message.clone(),
        });
        tokio::time::sleep(wait).await;
    }
}
