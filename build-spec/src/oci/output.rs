//! The ramdisk output stream: written through, and hashed (SHA-256 for the
//! file digest, SHA-384 for PCR2) on a second thread so that hashing does
//! not add to the conversion's critical path.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::digest::{Digest as _, Sha256, Sha384};

/// Bytes buffered before a chunk is handed to the hashing thread.
const CHUNK: usize = 1024 * 1024;
/// Chunks in flight (bounds memory to ~4 MiB).
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

/// A writer that forwards to `inner` and hashes on a helper thread.
pub struct DigestingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    tx: Option<mpsc::SyncSender<Vec<u8>>>,
    /// Hashed chunks coming back for reuse (no fresh 1 MiB allocation, and
    /// so no fresh page faults, per chunk).
    spent: mpsc::Receiver<Vec<u8>>,
    worker: Option<JoinHandle<OutputDigests>>,
}

impl<W: Write> DigestingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(DEPTH);
        let (back, spent) = mpsc::sync_channel::<Vec<u8>>(DEPTH);
        let worker = std::thread::spawn(move || {
            let mut s256 = Sha256::new();
            let mut s384 = Sha384::new();
            let mut len = 0u64;
            for mut chunk in rx {
                s256.update(&chunk);
                s384.update(&chunk);
                len += chunk.len() as u64;
                chunk.clear();
                let _ = back.try_send(chunk);
            }
            OutputDigests { len, sha256: s256.finalize().into(), sha384: s384.finalize().into() }
        });
        Self { inner, buf: Vec::with_capacity(CHUNK), tx: Some(tx), spent, worker: Some(worker) }
    }

    fn ship(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.inner.write_all(&self.buf)?;
        let next = self.spent.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let chunk = std::mem::replace(&mut self.buf, next);
        let tx = self.tx.as_ref().ok_or_else(|| io::Error::other("digesting writer finished"))?;
        tx.send(chunk).map_err(|_| io::Error::other("hashing thread stopped"))
    }

    /// Flushes, stops the hashing thread and returns `inner` and the digests.
    pub fn finish(mut self) -> io::Result<(W, OutputDigests)> {
        self.ship()?;
        self.inner.flush()?;
        drop(self.tx.take());
        let worker =
            self.worker.take().ok_or_else(|| io::Error::other("digesting writer finished"))?;
        let digests = worker.join().map_err(|_| io::Error::other("hashing thread panicked"))?;
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
