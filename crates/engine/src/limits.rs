//! Retry policy (exponential backoff with full jitter), per-kind timeouts, and per-service rate
//! limits (Route53 takes 5 requests per second per account).

use meshctl_model::Kind;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
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

/// How long one provider call may take, per kind (creating an EKS cluster takes ~15 minutes).
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub default: Duration,
    pub by_kind: HashMap<Kind, Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        let by_kind = HashMap::from([
            (Kind::EksCluster, minutes(40)),
            (Kind::Nodegroup, minutes(30)),
            (Kind::Vpc, minutes(15)),
            (Kind::AcmCertificate, minutes(45)),
            (Kind::Alb, minutes(15)),
            (Kind::Istio, minutes(15)),
            // Installs run helm or istioctl with a 10-minute timeout of their own (plus the
            // waits after): their own message should arrive before the engine gives up.
            (Kind::IngressGateway, minutes(15)),
            (Kind::LbController, minutes(15)),
            (Kind::CertManager, minutes(15)),
            (Kind::HelmRelease, minutes(15)),
        ]);
        Timeouts {
            default: minutes(10),
            by_kind,
        }
    }
}

impl Timeouts {
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

/// Requests per second per AWS service, shared by every resource of that service.
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    per_second: HashMap<&'static str, f64>,
}

impl RateLimits {
    pub fn none() -> Self {
        RateLimits::default()
    }

    pub fn aws_defaults() -> Self {
        RateLimits {
            per_second: HashMap::from([("route53", 5.0)]),
        }
    }

    pub fn with(mut self, service: &'static str, per_second: f64) -> Self {
        self.per_second.insert(service, per_second);
        self
    }

    pub(crate) fn limiters(&self) -> HashMap<&'static str, Limiter> {
        self.per_second
            .iter()
            .filter(|(_, r)| **r > 0.0)
            .map(|(s, r)| (*s, Limiter::new(*r)))
            .collect()
    }
}

/// The AWS service a kind's provider calls mostly talk to.
pub(crate) fn service_of(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Route53Zone | Kind::DnsRecord => Some("route53"),
        _ => None,
    }
}

/// Spaces calls at least 1/rate apart.
#[derive(Clone)]
pub(crate) struct Limiter {
    interval: Duration,
    next: Arc<Mutex<Instant>>,
}

impl Limiter {
    fn new(per_second: f64) -> Self {
        Limiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Arc::new(Mutex::new(Instant::now())),
        }
    }

    pub(crate) async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
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

    #[tokio::test(start_paused = true)]
    async fn a_limiter_spaces_calls() {
        let limiter = Limiter::new(5.0);
        let start = Instant::now();
        for _ in 0..6 {
            limiter.wait().await;
        }
        assert!(
            start.elapsed() >= Duration::from_millis(1000),
            "{:?}",
            start.elapsed()
        );
    }
}
