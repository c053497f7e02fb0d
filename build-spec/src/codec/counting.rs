//! [`CountingReader`]: offset bookkeeping for the streaming parsers.
//!
//! EIF and cpio are parsed as streams, never loaded whole, so every error can
//! name the absolute byte offset where the defect sits. This reader keeps
//! that count; the parsers stay free of `+=` arithmetic. Fields are decoded
//! from what it fills with a [`super::Reader`].

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::{self, Read};

/// A reader that counts the bytes consumed so far.
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    offset: u64,
}

/// Outcome of [`CountingReader::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// The buffer was filled completely.
    Full,
    /// End of input after this many bytes (less than the buffer length).
    Eof(usize),
}

impl<R: Read> CountingReader<R> {
    /// Wraps `inner`; offsets start at 0.
    pub fn new(inner: R) -> Self {
        Self { inner, offset: 0 }
    }

    /// Absolute offset of the next byte to be read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Counts `n` more bytes. Saturating: a stream cannot deliver 2^64
    /// bytes, so saturation is unreachable, but it must not wrap.
    fn advance(&mut self, n: usize) {
        self.offset = self.offset.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// Reads until `buf` is full or input ends; retries on `Interrupted`.
    pub fn fill(&mut self, buf: &mut [u8]) -> io::Result<Fill> {
        let mut got = 0usize;
        while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
            match self.inner.read(rest) {
                Ok(0) => {
                    self.advance(got);
                    return Ok(Fill::Eof(got));
                }
                // `Read` promises n <= rest.len(); `min` makes that a fact.
                Ok(n) => got = got.saturating_add(n.min(rest.len())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.advance(got);
                    return Err(e);
                }
            }
        }
        self.advance(got);
        Ok(Fill::Full)
    }

    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_reports_eof() {
        let mut r = CountingReader::new(&b"abcdef"[..]);
        let mut b = [0u8; 4];
        assert_eq!(r.fill(&mut b).ok(), Some(Fill::Full));
        assert_eq!(r.offset(), 4);
        assert_eq!(r.fill(&mut b).ok(), Some(Fill::Eof(2)));
        assert_eq!(r.offset(), 6);
        assert_eq!(r.fill(&mut []).ok(), Some(Fill::Full));
    }
}
