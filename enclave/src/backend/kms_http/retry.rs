//! Retries of KMS calls, after AWS's "standard" retry mode (issue 17).
//!
//! What is retried: throttling (`ThrottlingException` and its AWS-wide
//! synonyms), transient server errors (HTTP 500/502/503/504, e.g.
//! `KMSInternalException`, `DependencyTimeoutException`) and transport
//! failures that happen before an answer was read (connection refused or
//! reset, timeouts, a truncated status line). What is not: every other
//! answer — a denial, a bad ciphertext, a disabled key, a malformed
//! success body — is KMS's decision and retrying cannot change it.
//!
//! Only `Decrypt`, `GenerateDataKey` and `Encrypt` are retried: each is
//! safe to send twice (no state changes in KMS; a second `Encrypt` only
//! yields a second valid ciphertext). Administrative calls are sent once.
//!
//! Waits: before retry `n` (from 1) a uniform random time in
//! `[0, min(cap, base · 2^(n-1))]` ("full jitter"), so parallel jobs that
//! were throttled together do not come back together. A job has a budget
//! of retries ([`RetryBudget`], shared by all its calls) so that a KMS in
//! trouble costs each job a bounded time; every retry and every wait is
//! counted, and the caller reports them with the job's timings.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;

/// The operations that may be sent again.
pub const IDEMPOTENT: &[&str] = &["Decrypt", "GenerateDataKey", "Encrypt"];

/// AWS error codes that mean "slow down" (the list AWS's SDKs share).
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// AWS error codes that mean a transient fault on the service's side.
pub const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "InternalFailure",
    "ServiceUnavailable",
];

/// HTTP statuses that are transient whatever the body says.
pub const TRANSIENT_STATUSES: &[u16] = &[500, 502, 503, 504];

/// Why one attempt may be retried (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retryable {
    /// KMS asked to slow down.
    Throttled,
    /// A 5xx or a transient service error code.
    ServerError,
    /// The connection failed, was reset or timed out before an answer.
    Transport,
}

/// Classifies a service error answer.
pub fn classify_service(status: u16, code: &str) -> Option<Retryable> {
    if THROTTLING_CODES.contains(&code) || status == 429 {
        Some(Retryable::Throttled)
    } else if TRANSIENT_STATUSES.contains(&status) || TRANSIENT_CODES.contains(&code) {
        Some(Retryable::ServerError)
    } else {
        None
    }
}

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included (AWS standard mode: 3).
    pub max_attempts: u32,
    /// Backoff base.
    pub base: Duration,
    /// Longest single wait.
    pub cap: Duration,
    /// Retries per job, over all its calls.
    pub job_budget: u32,
}

impl Default for RetryPolicy {
    /// 3 attempts per call (AWS's standard mode), 50 ms base, 2 s cap, 10
    /// retries per job: a job's calls are few (one per input key and per
    /// KMS-wrapped output), and a pack that waits longer than a few seconds
    /// on KMS is better failed and reported.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            job_budget: 10,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> Self {
        Self { max_attempts: 1, job_budget: 0, ..Self::default() }
    }

    /// The upper bound of the wait before retry `n` (1 = first retry).
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A full-jitter wait before retry `n`.
    pub fn jittered(&self, n: u32, rng: &mut impl Rng) -> Duration {
        let nanos = u64::try_from(self.ceiling(n).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.gen_range(0..=nanos))
    }
}

/// The retries one job may still spend, and what it spent.
#[derive(Debug)]
pub struct RetryBudget {
    left: AtomicU32,
    used: AtomicU32,
    waited_ns: AtomicU64,
}

impl RetryBudget {
    /// A budget of `retries`.
    pub fn new(retries: u32) -> Self {
        Self {
            left: AtomicU32::new(retries),
            used: AtomicU32::new(0),
            waited_ns: AtomicU64::new(0),
        }
    }

    /// Takes one retry, if any is left.
    pub fn take(&self) -> bool {
        let took = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
            .is_ok();
        if took {
            self.used.fetch_add(1, Ordering::SeqCst);
        }
        took
    }

    /// Records a wait.
    pub fn waited(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.waited_ns.fetch_add(ns, Ordering::SeqCst);
    }

    /// Retries spent so far.
    pub fn used(&self) -> u32 {
        self.used.load(Ordering::SeqCst)
    }

    /// Time spent waiting between attempts so far.
    pub fn total_wait(&self) -> Duration {
        Duration::from_nanos(self.waited_ns.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn classification() {
        assert_eq!(classify_service(400, "ThrottlingException"), Some(Retryable::Throttled));
        assert_eq!(classify_service(429, "HTTP429"), Some(Retryable::Throttled));
        assert_eq!(classify_service(500, "KMSInternalException"), Some(Retryable::ServerError));
        assert_eq!(classify_service(503, "HTTP503"), Some(Retryable::ServerError));
        for code in ["AccessDeniedException", "InvalidCiphertextException", "DisabledException"] {
            assert_eq!(classify_service(400, code), None, "{code}");
        }
        assert_eq!(classify_service(501, "HTTP501"), None);
    }

    #[test]
    fn budget_is_shared_and_bounded() {
        let b = RetryBudget::new(2);
        assert!(b.take() && b.take());
        assert!(!b.take());
        assert_eq!(b.used(), 2);
        b.waited(Duration::from_millis(3));
        b.waited(Duration::from_millis(4));
        assert_eq!(b.total_wait(), Duration::from_millis(7));
    }

    #[test]
    fn waits_are_capped_and_fully_jittered() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_millis(50));
        assert_eq!(p.ceiling(3), Duration::from_millis(200));
        assert_eq!(p.ceiling(30), Duration::from_secs(2));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let w: Vec<_> = (0..100).map(|_| p.jittered(2, &mut rng)).collect();
        assert!(w.iter().all(|d| *d <= Duration::from_millis(100)));
        assert!(w.iter().any(|d| *d < Duration::from_millis(30)));
        assert!(w.iter().any(|d| *d > Duration::from_millis(70)));
    }
}
