//! Retry policy (exponential backoff with full jitter), per-kind timeouts, and per-service rate
//! limits (Route53 takes 5 requests per second per account). Which timeout and which service
//! belong to a kind is the kind's own fact (`meshctl_model::kinds::Schema`).

use meshctl_model::kinds::Service;
use meshctl_model::{Address, Kind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per provider call, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: a random duration up to base·2^attempt, capped
    /// ("full jitter"), so that many clients throttled together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// How long one provider call may take, per kind: by default each kind's own
/// (`Schema::timeout_minutes`; creating an EKS cluster takes ~15 minutes).
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// For kinds `by_kind` does not name.
    pub default: Duration,
    pub by_kind: HashMap<Kind, Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Timeouts {
            default: minutes(10),
            by_kind: Kind::ALL
                .iter()
                .map(|kind| (*kind, minutes(kind.schema().timeout_minutes)))
                .collect(),
        }
    }
}

impl Timeouts {
    /// The same timeout for every kind (tests and benchmarks).
    pub fn uniform(timeout: Duration) -> Self {
        Timeouts {
            default: timeout,
            by_kind: HashMap::new(),
        }
    }

    pub fn of(&self, kind: Kind) -> Duration {
        self.by_kind.get(&kind).copied().unwrap_or(self.default)
    }
}

/// Requests per second per AWS service, shared by every resource of the kinds whose schema
/// names that service (`Schema::rate_limit`).
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    per_second: HashMap<Service, f64>,
}

impl RateLimits {
    pub fn none() -> Self {
        RateLimits::default()
    }

    pub fn aws_defaults() -> Self {
        RateLimits {
            per_second: HashMap::from([(Service::Route53, 5.0)]),
        }
    }

    pub fn with(mut self, service: Service, per_second: f64) -> Self {
        self.per_second.insert(service, per_second);
        self
    }

    pub(crate) fn limiters(&self) -> Limiters {
        self.per_second
            .iter()
            .filter(|(_, r)| **r > 0.0)
            .map(|(s, r)| (*s, Limiter::new(*r)))
            .collect()
    }
}

/// One limiter per rate-limited service, shared by every call of one run.
pub(crate) type Limiters = HashMap<Service, Limiter>;

/// The limiter a call for this kind waits on, if its service is limited, and the most calls
/// one request carries when they share it (1 when they cannot).
pub(crate) fn limiter_of(limiters: &Limiters, kind: Kind) -> Option<(&Limiter, usize)> {
    let limit = kind.schema().rate_limit?;
    let at_most = limit.shared.map_or(1, |shared| shared.at_most.max(1));
    Some((limiters.get(&limit.service)?, at_most))
}

/// Spaces requests at least 1/rate apart. Calls that one request can carry (records of one
/// hosted zone: the provider sends them in one change batch) share a slot: a call with a group
/// key joins the group already waiting for a later slot, until it is full.
#[derive(Clone)]
pub(crate) struct Limiter {
    interval: Duration,
    slots: Arc<Mutex<Slots>>,
}

struct Slots {
    /// The earliest free slot.
    next: Instant,
    /// Groups waiting for a slot still ahead: key → (slot, members so far).
    groups: HashMap<String, (Instant, usize)>,
}

impl Limiter {
    fn new(per_second: f64) -> Self {
        Limiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            slots: Arc::new(Mutex::new(Slots {
                next: Instant::now(),
                groups: HashMap::new(),
            })),
        }
    }

    /// Waits for this call's turn; while it must wait, `waits` counts it (a walk gives its
    /// parallel slot to another step meanwhile). `group` names the calls this one may share a
    /// request with, and how many one request carries.
    pub(crate) async fn wait(
        &self,
        waits: Option<(&RateWaits, &Address)>,
        group: Option<(&str, usize)>,
    ) {
        let slot = {
            let mut slots = self.slots.lock().await;
            let now = Instant::now();
            slots.groups.retain(|_, (slot, _)| *slot > now);
            let joined = group.and_then(|(key, at_most)| {
                let (slot, members) = slots.groups.get_mut(key)?;
                (*members < at_most).then(|| {
                    *members += 1;
                    *slot
                })
            });
            match joined {
                Some(slot) => slot,
                None => {
                    let slot = slots.next.max(now);
                    slots.next = slot + self.interval;
                    if let Some((key, _)) = group {
                        slots.groups.insert(key.to_string(), (slot, 1));
                    }
                    slot
                }
            }
        };
        let _counted = match waits {
            Some((waits, address)) if slot > Instant::now() => Some(waits.enter(address)),
            _ => None,
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// How many of a walk's steps are waiting on a rate limiter: those hold no parallel slot, so a
/// queue of DNS records on Route53's 5 requests a second does not keep the cluster from starting.
#[derive(Default)]
pub(crate) struct RateWaits {
    waiting: AtomicUsize,
    /// Signalled when a step starts waiting: the walk may start another.
    started: Notify,
    /// How long each step has waited so far, for its `finished` event.
    waited: std::sync::Mutex<HashMap<Address, Duration>>,
}

impl RateWaits {
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Resolves when a step has started waiting since the last call.
    pub(crate) async fn started_waiting(&self) {
        self.started.notified().await;
    }

    /// How long the step of `address` waited on rate limits, forgotten as it is read.
    pub(crate) fn take_waited(&self, address: &Address) -> Duration {
        self.waited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(address)
            .unwrap_or_default()
    }

    fn enter<'a>(&'a self, address: &'a Address) -> Waiting<'a> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.started.notify_one();
        Waiting {
            waits: self,
            address,
            since: Instant::now(),
        }
    }
}

/// One step's wait; ends when dropped (the wait ended or the step was aborted).
struct Waiting<'a> {
    waits: &'a RateWaits,
    address: &'a Address,
    since: Instant,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.waits.waiting.fetch_sub(1, Ordering::SeqCst);
        *self
            .waits
            .waited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(self.address.clone())
            .or_default() += self.since.elapsed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for attempt in 0..12 {
            let ceiling =
                Duration::from_millis(100 * (1 << attempt.min(16))).min(Duration::from_secs(1));
            assert!(policy.backoff(attempt) <= ceiling);
        }
    }

    #[test]
    fn each_kind_gets_the_timeout_and_rate_limit_its_schema_names() {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        let timeouts = Timeouts::default();
        assert_eq!(timeouts.of(Kind::EksCluster), minutes(40));
        assert_eq!(timeouts.of(Kind::AcmCertificate), minutes(45));
        assert_eq!(timeouts.of(Kind::HelmRelease), minutes(15));
        assert_eq!(timeouts.of(Kind::Namespace), minutes(10));
        let limiters = RateLimits::aws_defaults().limiters();
        assert_eq!(
            limiter_of(&limiters, Kind::DnsRecord).map(|l| l.1),
            Some(1000)
        );
        assert_eq!(
            limiter_of(&limiters, Kind::Route53Zone).map(|l| l.1),
            Some(1)
        );
        assert!(limiter_of(&limiters, Kind::AcmCertificate).is_none());
        assert!(limiter_of(&RateLimits::none().limiters(), Kind::DnsRecord).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_limiter_spaces_calls() {
        let limiter = Limiter::new(5.0);
        let start = Instant::now();
        for _ in 0..6 {
            limiter.wait(None, None).await;
        }
        assert!(
            start.elapsed() >= Duration::from_millis(1000),
            "{:?}",
            start.elapsed()
        );
    }

    /// Records of one zone made at once wait for one slot together (one change batch), up to
    /// what a request carries; another zone's records and ungrouped calls take slots of their own.
    #[tokio::test(start_paused = true)]
    async fn calls_that_share_a_request_share_a_slot_up_to_its_size() {
        let limiter = Limiter::new(5.0);
        let start = Instant::now();
        // Takes the slot now; everything after waits for later slots.
        limiter.wait(None, None).await;
        let waits: Vec<_> = (0..7)
            .map(|i| {
                let limiter = limiter.clone();
                let key = if i < 5 { "zone-a" } else { "zone-b" };
                tokio::spawn(async move {
                    limiter.wait(None, Some((key, 3))).await;
                    start.elapsed()
                })
            })
            .collect();
        let mut waited = Vec::new();
        for wait in waits {
            waited.push(wait.await.unwrap().as_millis());
        }
        // In the order they came: zone-a's first three at 200 ms; the group was full, so the
        // next two form a group at 400 ms; zone-b's two then get the slot after, 600 ms.
        assert_eq!(waited, vec![200, 200, 200, 400, 400, 600, 600]);
    }
}
