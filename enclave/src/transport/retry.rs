//! The parent side of the `Busy` answer (error code 4, issue 17): send the
//! job again after a capped exponential backoff with full jitter.
//!
//! Only `Busy` is retried. The enclave answers it before reading the job
//! into a worker, so the job never started: sending it again cannot pack
//! it twice. Every other answer (a failed job, a malformed frame, a broken
//! connection) is returned at once: whether such a job ran is not known to
//! the parent, and the operator decides.

use std::time::Duration;

use rand::Rng;

use super::{call_with_credentials, Endpoint, ErrorCode, JobCredentials, Limits, TransportError};
use crate::service::{PackJob, PackOutput};

/// How often and how long to wait before sending a job again after `Busy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyRetry {
    /// Attempts in total, the first one included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff base: attempt `n` (from 1) waits a uniform random time in
    /// `[0, min(cap, base · 2^(n-1))]` (AWS's "full jitter").
    pub base: Duration,
    /// Longest single wait.
    pub cap: Duration,
}

impl Default for BusyRetry {
    /// 8 attempts, 100 ms base, 5 s cap: about 10 s of waiting at most
    /// in expectation, enough for a full queue to drain a few jobs.
    fn default() -> Self {
        Self { max_attempts: 8, base: Duration::from_millis(100), cap: Duration::from_secs(5) }
    }
}

impl BusyRetry {
    /// The upper bound of the wait before retry `n` (1 = the first retry).
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A full-jitter wait before retry `n`: uniform in `[0, ceiling(n)]`.
    pub fn jittered(&self, n: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(n);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.gen_range(0..=nanos))
    }
}

/// Sends `job` like [`call_with_credentials`]; on a `Busy` answer waits and
/// sends it again, up to `policy.max_attempts` in all. `on_busy(attempt,
/// wait, message)` is called before each wait (the CLI says so on stderr).
/// After the last attempt the `Busy` error itself is returned.
pub fn call_with_busy_retry(
    ep: &Endpoint,
    job: &PackJob,
    credentials: Option<&JobCredentials>,
    limits: &Limits,
    policy: &BusyRetry,
    on_busy: &mut dyn FnMut(u32, Duration, &str),
) -> Result<PackOutput, TransportError> {
    let mut rng = rand::thread_rng();
    let mut attempt = 1u32;
    loop {
        match call_with_credentials(ep, job, credentials, limits) {
            Err(TransportError::Remote { code: ErrorCode::Busy, message })
                if attempt < policy.max_attempts =>
            {
                let wait = policy.jittered(attempt, &mut rng);
                on_busy(attempt, wait, &message);
                std::thread::sleep(wait);
                attempt = attempt.saturating_add(1);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_is_capped_exponential_with_full_jitter() {
        let p = BusyRetry {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(350),
        };
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(3), Duration::from_millis(350));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_millis(350));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let waits: Vec<_> = (0..200).map(|_| p.jittered(3, &mut rng)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(350)));
        // Full jitter spreads over the whole range, not around the ceiling.
        assert!(waits.iter().any(|w| *w < Duration::from_millis(100)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(250)));
    }
}
