//! Fault injection (issue 17): added latency, throttling, internal errors,
//! 503s and cut connections for a fraction of the data-plane calls, so the
//! enclave's retries and the pack service under load can be tested
//! against the faults real KMS shows.
//!
//! Reproducible: the fate of the n-th faultable call (counted from 0 in
//! arrival order) is a pure function of `(seed, n)` ([`Faults::decide`]).
//! With one client the whole run repeats exactly; with several, the same
//! sequence of fates is dealt out in whatever order the calls arrive.
//!
//! Only the data-plane operations ([`FAULTABLE`]) are subject to faults, so
//! a test's setup (CreateKey, PutKeyPolicy) is not disturbed. The server
//! answers one request at a time, so added latency delays every call
//! queued behind it, as a slow shared dependency would.

use std::time::Duration;

/// The operations faults apply to.
pub const FAULTABLE: &[&str] = &["Decrypt", "Encrypt", "GenerateDataKey", "ReEncrypt"];
/// Longest latency accepted.
pub const MAX_LATENCY: Duration = Duration::from_secs(60);

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Served normally.
    None,
    /// HTTP 400 `ThrottlingException`.
    Throttle,
    /// HTTP 500 `KMSInternalException`.
    Internal,
    /// HTTP 503 with a non-JSON body, as a load balancer answers.
    Unavailable,
    /// The answer is cut: a truncated status line, then nothing (the client
    /// sees the connection fail mid-answer, as when a proxy drops it).
    Cut,
}

/// Fault settings. Fractions are of faultable calls, each in `[0, 1]`,
/// their sum at most 1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Seed of the fate sequence.
    pub seed: u64,
    /// Added to every faultable call before it is answered.
    pub latency: Duration,
    /// Fraction answered `ThrottlingException`.
    pub throttle: f64,
    /// Fraction answered `KMSInternalException`.
    pub internal: f64,
    /// Fraction answered 503.
    pub unavailable: f64,
    /// Fraction whose answer is cut.
    pub cut: f64,
}

/// Why fault settings were refused.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum FaultsError {
    /// A fraction is outside `[0, 1]` (or not a number).
    #[error("fault fraction {name} = {value} is not within [0, 1]")]
    Fraction {
        /// Which one.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// The fractions add up to more than 1.
    #[error("fault fractions add up to {0}, more than 1")]
    Sum(f64),
    /// The latency is over [`MAX_LATENCY`].
    #[error("fault latency {0:?} is over the {MAX_LATENCY:?} limit")]
    Latency(Duration),
}

/// SplitMix64: a well-mixed 64-bit function of its input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Faults {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), FaultsError> {
        let parts = [
            ("throttle", self.throttle),
            ("internal", self.internal),
            ("unavailable", self.unavailable),
            ("cut", self.cut),
        ];
        for (name, value) in parts {
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultsError::Fraction { name, value });
            }
        }
        let sum: f64 = parts.iter().map(|p| p.1).sum();
        if sum > 1.0 + 1e-9 {
            return Err(FaultsError::Sum(sum));
        }
        if self.latency > MAX_LATENCY {
            return Err(FaultsError::Latency(self.latency));
        }
        Ok(())
    }

    /// Whether any fault or latency is configured.
    pub fn active(&self) -> bool {
        !self.latency.is_zero() || self.throttle + self.internal + self.unavailable + self.cut > 0.0
    }

    /// The fate of faultable call number `n`.
    pub fn decide(&self, n: u64) -> Fault {
        // 53 random bits → a uniform fraction in [0, 1).
        let x = (mix(self.seed ^ mix(n)) >> 11) as f64 / (1u64 << 53) as f64;
        let mut edge = self.throttle;
        if x < edge {
            return Fault::Throttle;
        }
        edge += self.internal;
        if x < edge {
            return Fault::Internal;
        }
        edge += self.unavailable;
        if x < edge {
            return Fault::Unavailable;
        }
        edge += self.cut;
        if x < edge {
            return Fault::Cut;
        }
        Fault::None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fates_are_reproducible_and_near_their_fractions() {
        let f = Faults {
            seed: 42,
            throttle: 0.05,
            internal: 0.03,
            unavailable: 0.01,
            cut: 0.01,
            ..Faults::default()
        };
        f.validate().unwrap();
        let run: Vec<Fault> = (0..20_000).map(|n| f.decide(n)).collect();
        assert_eq!(run, (0..20_000).map(|n| f.decide(n)).collect::<Vec<_>>());
        let count = |k: Fault| run.iter().filter(|x| **x == k).count() as f64 / 20_000.0;
        assert!((count(Fault::Throttle) - 0.05).abs() < 0.01);
        assert!((count(Fault::Internal) - 0.03).abs() < 0.01);
        assert!((count(Fault::Unavailable) - 0.01).abs() < 0.005);
        assert!((count(Fault::Cut) - 0.01).abs() < 0.005);
        // Another seed deals another sequence.
        let g = Faults { seed: 43, ..f };
        assert_ne!(run, (0..20_000).map(|n| g.decide(n)).collect::<Vec<_>>());
        assert!(!Faults::default().active());
        assert!((0..1000).all(|n| Faults::default().decide(n) == Fault::None));
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = Faults { throttle: 1.5, ..Faults::default() };
        assert!(matches!(bad.validate(), Err(FaultsError::Fraction { name: "throttle", .. })));
        let nan = Faults { cut: f64::NAN, ..Faults::default() };
        assert!(nan.validate().is_err());
        let sum = Faults { throttle: 0.6, internal: 0.6, ..Faults::default() };
        assert!(matches!(sum.validate(), Err(FaultsError::Sum(_))));
        let slow = Faults { latency: Duration::from_secs(61), ..Faults::default() };
        assert!(matches!(slow.validate(), Err(FaultsError::Latency(_))));
    }
}
