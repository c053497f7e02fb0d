//! Small shared pieces of the binary codecs (EIF, cpio): an offset-tracking
//! reader and big-endian field decoding.
//!
//! Both formats are parsed as streams, never loaded whole, so every error can
//! name the absolute byte offset where the defect sits. [`CountingReader`]
//! is that offset bookkeeping; the parsers stay free of `+=` arithmetic.

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

    /// Reads until `buf` is full or input ends; retries on `Interrupted`.
    pub fn fill(&mut self, buf: &mut [u8]) -> io::Result<Fill> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => {
                    self.offset += got as u64;
                    return Ok(Fill::Eof(got));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.offset += got as u64;
                    return Err(e);
                }
            }
        }
        self.offset += got as u64;
        Ok(Fill::Full)
    }

    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Big-endian u16 at `at` of a fixed-size buffer the caller has already
/// bounds-checked by construction (callers index constant offsets into
/// constant-size arrays).
pub fn be_u16(buf: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&buf[at..at + 2]);
    u16::from_be_bytes(b)
}

/// Big-endian u32, see [`be_u16`].
pub fn be_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_be_bytes(b)
}

/// Big-endian u64, see [`be_u16`].
pub fn be_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_be_bytes(b)
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
        assert_eq!(be_u16(&[1, 2], 0), 0x0102);
        assert_eq!(be_u32(&[0, 1, 2, 3, 4], 1), 0x01020304);
        assert_eq!(be_u64(&[0, 0, 0, 0, 0, 0, 1, 0], 0), 256);
    }
}
