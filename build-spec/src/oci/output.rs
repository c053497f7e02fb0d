//! The ramdisk output stream: written through, and hashed on two helper
//! threads, SHA-256 (the file digest) on one and SHA-384 (PCR2) on the
//! other, so that neither hash adds to the conversion's critical path and
//! the two run side by side on a two-core machine (issue 18: one thread
//! doing both was the longest stage of the second pass).

use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::digest::{Sha256, Sha384};

/// Bytes buffered before a chunk is handed to the hashing threads.
const CHUNK: usize = 1024 * 1024;
/// Chunks in flight per hashing thread; with the chunk being filled, memory
/// is bounded by about `DEPTH + 2` chunks (~6 MiB): both threads read the
/// same shared chunks.
const DEPTH: usize = 4;

/// Digests of everything written through a [`DigestingWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputDigests {
    /// Bytes written.
    pub len: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
    /// SHA-384 of the bytes (the PCR content digest).
    pub sha384: [u8; 48],
}

impl OutputDigests {
    /// PCR2 of an EIF whose only application ramdisk is these bytes.
    pub fn pcr2_if_sole_app_ramdisk(&self) -> [u8; 48] {
        super::pcr_of_content_digest(&self.sha384)
    }
}

type Chunk = Arc<Vec<u8>>;

/// One hashing thread: feeds every chunk to `D` and returns its digest.
fn hasher<D: crate::digest::Digest + Send + 'static>(
    rx: mpsc::Receiver<Chunk>,
) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut h = D::new();
        for chunk in rx {
            h.update(chunk.as_slice());
        }
        h.finalize().to_vec()
    })
}

/// A writer that forwards to `inner` and hashes on two helper threads.
pub struct DigestingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    len: u64,
    txs: Option<[mpsc::SyncSender<Chunk>; 2]>,
    /// Chunks handed out; one whose only owner is this pool is reused (no
    /// fresh 1 MiB allocation, and so no fresh page faults, per chunk).
    pool: Vec<Chunk>,
    workers: Option<[JoinHandle<Vec<u8>>; 2]>,
}

impl<W: Write> DigestingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        let (t256, r256) = mpsc::sync_channel::<Chunk>(DEPTH);
        let (t384, r384) = mpsc::sync_channel::<Chunk>(DEPTH);
        let workers = [hasher::<Sha256>(r256), hasher::<Sha384>(r384)];
        Self {
            inner,
            buf: Vec::with_capacity(CHUNK),
            len: 0,
            txs: Some([t256, t384]),
            pool: Vec::new(),
            workers: Some(workers),
        }
    }

    /// An empty buffer: a pooled chunk both threads are done with, or new.
    fn fresh(&mut self) -> Vec<u8> {
        let done = self.pool.iter().position(|c| Arc::strong_count(c) == 1);
        match done.map(|i| self.pool.swap_remove(i)).and_then(|c| Arc::try_unwrap(c).ok()) {
            Some(mut v) => {
                v.clear();
                v
            }
            None => Vec::with_capacity(CHUNK),
        }
    }

    fn ship(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.inner.write_all(&self.buf)?;
        self.len += self.buf.len() as u64;
        let next = self.fresh();
        let chunk: Chunk = Arc::new(std::mem::replace(&mut self.buf, next));
        let txs = self.txs.as_ref().ok_or_else(|| io::Error::other("digesting writer finished"))?;
        for tx in txs {
            tx.send(Arc::clone(&chunk)).map_err(|_| io::Error::other("hashing thread stopped"))?;
        }
        // The slower thread holds at most DEPTH queued chunks and one in
        // hand, so about DEPTH + 2 chunks are ever in use.
        if self.pool.len() <= DEPTH + 2 {
            self.pool.push(chunk);
        }
        Ok(())
    }

    /// Flushes, stops the hashing threads and returns `inner` and the digests.
    pub fn finish(mut self) -> io::Result<(W, OutputDigests)> {
        self.ship()?;
        self.inner.flush()?;
        drop(self.txs.take());
        let [w256, w384] =
            self.workers.take().ok_or_else(|| io::Error::other("digesting writer finished"))?;
        let panicked = |_| io::Error::other("hashing thread panicked");
        let (d256, d384) = (w256.join().map_err(panicked)?, w384.join().map_err(panicked)?);
        let wrong = || io::Error::other("digest of unexpected length");
        let digests = OutputDigests {
            len: self.len,
            sha256: d256.as_slice().try_into().map_err(|_| wrong())?,
            sha384: d384.as_slice().try_into().map_err(|_| wrong())?,
        };
        let DigestingWriter { inner, .. } = self;
        Ok((inner, digests))
    }
}

impl<W: Write> Write for DigestingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.ship()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.ship()?;
        self.inner.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::digest::Digest as _;

    #[test]
    fn digests_match_one_shot() {
        let data: Vec<u8> = (0..3 * CHUNK + 12345).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = DigestingWriter::new(Vec::new());
        for piece in data.chunks(70_001) {
            w.write_all(piece).unwrap();
        }
        let (out, d) = w.finish().unwrap();
        assert_eq!(out, data);
        assert_eq!(d.len, data.len() as u64);
        assert_eq!(d.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
        assert_eq!(d.sha384, <[u8; 48]>::from(Sha384::digest(&data)));
    }
}
