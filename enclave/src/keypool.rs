//! Per-job RSA-2048 keys generated ahead of time (issue 17).
//!
//! RSA-2048 key generation (~100-300 ms, random) was 90-99 % of a small
//! job's time inside the enclave. A [`KeyPool`] keeps a few fresh keys,
//! made by a background thread while the service is idle, and hands each
//! out exactly once: [`KeyPool::take`] moves the key out of the pool, the
//! job owns it, and it is zeroized when the job drops it (`rsa`'s
//! `RsaPrivateKey` zeroizes its primes and exponents on drop), as a key
//! generated inline was. Keys still pooled when the pool drops are
//! zeroized the same way. They never leave enclave memory.
//!
//! Why the receipt's security argument is unchanged (docs/notes/load.md):
//! what binds KMS's answer to this job is doc_K, the attestation document
//! over the job key's public half, and doc_K is still requested per job,
//! after the key is taken; the key is used for that one job only. The
//! pool changes *when* the key was generated, not who can hold it.
//!
//! When the pool is empty, `take` generates a key inline instead of
//! waiting for the filler: a burst never waits longer than it did without
//! a pool. Under sustained load the filler and the jobs share the CPUs, so
//! the pool takes key generation off a job's latency but not off the
//! machine's work: throughput is bounded by key generation either way.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rand_core::OsRng;
use rsa::RsaPrivateKey;

/// The job key size (what KMS's `RSAES_OAEP_SHA_256` recipient needs).
pub const JOB_KEY_BITS: usize = 2048;
/// Largest pool accepted (each key is ~1 KiB of secret memory).
pub const MAX_POOL: usize = 64;

/// Why a pool could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyPoolError {
    /// Capacity 0 or over [`MAX_POOL`].
    #[error("key pool capacity {0} is not within 1..={MAX_POOL}")]
    Capacity(usize),
    /// The filler thread could not be started.
    #[error("starting the key pool thread: {0}")]
    Thread(#[source] std::io::Error),
}

struct Inner {
    keys: Mutex<VecDeque<RsaPrivateKey>>,
    changed: Condvar,
    capacity: usize,
    stop: AtomicBool,
    warm: AtomicU64,
    cold: AtomicU64,
}

/// A pool of fresh job keys filled in the background.
pub struct KeyPool {
    inner: Arc<Inner>,
    filler: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPool")
            .field("capacity", &self.inner.capacity)
            .field("ready", &self.ready())
            .finish_non_exhaustive()
    }
}

impl KeyPool {
    /// Starts a pool of `capacity` keys; the background thread begins filling it at once.
    pub fn start(capacity: usize) -> Result<Self, KeyPoolError> {
        if capacity == 0 || capacity > MAX_POOL {
            return Err(KeyPoolError::Capacity(capacity));
        }
        let inner = Arc::new(Inner {
            keys: Mutex::new(VecDeque::with_capacity(capacity)),
            changed: Condvar::new(),
            capacity,
            stop: AtomicBool::new(false),
            warm: AtomicU64::new(0),
            cold: AtomicU64::new(0),
        });
        let fill = Arc::clone(&inner);
        let filler = std::thread::Builder::new()
            .name("job-key-pool".into())
            .spawn(move || fill_loop(&fill))
            .map_err(KeyPoolError::Thread)?;
        Ok(Self { inner, filler: Some(filler) })
    }

    /// A fresh key, used by no one before and handed to no one after: from
    /// the pool when one is ready, else generated now.
    pub fn take(&self) -> Result<RsaPrivateKey, rsa::Error> {
        let pooled = self.inner.keys.lock().ok().and_then(|mut q| q.pop_front());
        match pooled {
            Some(k) => {
                self.inner.warm.fetch_add(1, Ordering::SeqCst);
                self.inner.changed.notify_all();
                Ok(k)
            }
            None => {
                self.inner.cold.fetch_add(1, Ordering::SeqCst);
                RsaPrivateKey::new(&mut OsRng, JOB_KEY_BITS)
            }
        }
    }

    /// Keys ready now.
    pub fn ready(&self) -> usize {
        self.inner.keys.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// Keys handed out from the pool, and generated inline because it was empty.
    pub fn counts(&self) -> (u64, u64) {
        (self.inner.warm.load(Ordering::SeqCst), self.inner.cold.load(Ordering::SeqCst))
    }

    /// Blocks until the pool is full (benchmarks and tests start warm).
    pub fn wait_full(&self) {
        let Ok(mut q) = self.inner.keys.lock() else { return };
        while q.len() < self.inner.capacity {
            q = match self.inner.changed.wait(q) {
                Ok(q) => q,
                Err(_) => return,
            };
        }
    }
}

fn fill_loop(inner: &Inner) {
    loop {
        {
            let Ok(mut q) = inner.keys.lock() else { return };
            while q.len() >= inner.capacity && !inner.stop.load(Ordering::SeqCst) {
                q = match inner.changed.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
        }
        if inner.stop.load(Ordering::SeqCst) {
            return;
        }
        // Outside the lock: generation takes ~100-300 ms.
        let Ok(key) = RsaPrivateKey::new(&mut OsRng, JOB_KEY_BITS) else { continue };
        if let Ok(mut q) = inner.keys.lock() {
            q.push_back(key);
        }
        inner.changed.notify_all();
    }
}

impl Drop for KeyPool {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.changed.notify_all();
        if let Some(t) = self.filler.take() {
            let _ = t.join();
        }
        // Pooled keys zeroize as they drop.
        if let Ok(mut q) = self.inner.keys.lock() {
            q.clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rsa::traits::PublicKeyParts;

    #[test]
    fn keys_are_distinct_fresh_2048_bit_and_each_handed_out_once() {
        let pool = KeyPool::start(3).unwrap();
        pool.wait_full();
        assert_eq!(pool.ready(), 3);
        let mut moduli = std::collections::HashSet::new();
        for _ in 0..5 {
            let k = pool.take().unwrap();
            assert_eq!(k.size() * 8, JOB_KEY_BITS);
            assert!(moduli.insert(k.n().to_bytes_be()), "a key was handed out twice");
        }
        let (warm, cold) = pool.counts();
        assert_eq!(warm + cold, 5);
        assert!(warm >= 3, "the first three came from the full pool");
        pool.wait_full();
        assert_eq!(pool.ready(), 3, "refilled in the background");
    }

    #[test]
    fn capacity_is_bounded() {
        assert!(matches!(KeyPool::start(0), Err(KeyPoolError::Capacity(0))));
        assert!(KeyPool::start(MAX_POOL + 1).is_err());
    }
}
