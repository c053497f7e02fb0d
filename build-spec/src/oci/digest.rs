//! `sha256:` digests and a reader that verifies a blob while it streams.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use crate::digest::{Digest as _, Sha256};

use super::OciError;

/// A `sha256:<64 lower-case hex>` content digest, the only algorithm
/// accepted (OCI's registered `sha512` is refused rather than half-supported).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The 64 hex digits without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Sha256Digest {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, OciError> {
        let bad = || OciError::BadDigest { value: s.chars().take(100).collect() };
        let hex_part = s.strip_prefix("sha256:").ok_or_else(bad)?;
        // The OCI spec requires lower-case hex for sha256 (image-spec
        // descriptor.md, "Digests"); `hex::decode` would also take upper case.
        if hex_part.len() != 64 || !hex_part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| bad())?;
        Ok(Self(out))
    }
}

impl serde::Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What went wrong with a blob, found by [`VerifyingReader::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlobFault {
    /// More bytes than the descriptor's size (reading stopped at size + 1).
    TooLong,
    /// Fewer bytes than the descriptor's size.
    TooShort(u64),
    /// Right size, wrong content.
    Digest(Sha256Digest),
}

/// Wraps a blob's byte stream: hashes every byte, never yields more than
/// `expected_size` bytes, and [`finish`](Self::finish) drains the rest and
/// compares size and digest. Whatever a consumer derived from the bytes is
/// only to be trusted once `finish` returned `Ok`.
pub(crate) struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    expected_size: u64,
    expected: Sha256Digest,
    too_long: bool,
}

impl<R: Read> VerifyingReader<R> {
    pub(crate) fn new(inner: R, expected: Sha256Digest, expected_size: u64) -> Self {
        Self { inner, hasher: Sha256::new(), read: 0, expected_size, expected, too_long: false }
    }

    /// Drains the remaining bytes (at most one past the expected size) and
    /// checks size and digest.
    pub(crate) fn finish(mut self) -> io::Result<Result<(), BlobFault>> {
        io::copy(&mut self, &mut io::sink())?;
        if self.too_long {
            return Ok(Err(BlobFault::TooLong));
        }
        if self.read != self.expected_size {
            return Ok(Err(BlobFault::TooShort(self.read)));
        }
        let actual = Sha256Digest(self.hasher.finalize().into());
        if actual != self.expected {
            return Ok(Err(BlobFault::Digest(actual)));
        }
        Ok(Ok(()))
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.too_long {
            return Ok(0);
        }
        let left = self.expected_size - self.read;
        // Ask for one byte more than allowed so an over-long blob is noticed.
        let want = buf.len().min(usize::try_from(left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > left {
            self.too_long = true;
            // The consumer sees the stream end at the declared size.
            let keep = left as usize;
            self.hasher.update(&buf[..keep]);
            self.read += keep as u64;
            return Ok(keep);
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// A reader that hashes what passes through (used for layer `diff_id`s and
/// per-file content digests).
pub(crate) struct HashingReader<R> {
    pub(crate) inner: R,
    pub(crate) hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new() }
    }

    /// The digest of everything read so far.
    pub(crate) fn digest(self) -> Sha256Digest {
        Sha256Digest(self.hasher.finalize().into())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_and_print() {
        let d: Sha256Digest = EMPTY.parse().unwrap();
        assert_eq!(d, Sha256Digest::of(b""));
        assert_eq!(d.to_string(), EMPTY);
        for bad in [
            "sha512:00",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "e3b0",
            "sha256:e3b0",
        ] {
            assert!(bad.parse::<Sha256Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn verifying_reader_faults() {
        let d = Sha256Digest::of(b"abc");
        let ok = VerifyingReader::new(&b"abc"[..], d, 3);
        assert_eq!(ok.finish().unwrap(), Ok(()));
        let long = VerifyingReader::new(&b"abcd"[..], d, 3);
        assert_eq!(long.finish().unwrap(), Err(BlobFault::TooLong));
        let short = VerifyingReader::new(&b"ab"[..], d, 3);
        assert_eq!(short.finish().unwrap(), Err(BlobFault::TooShort(2)));
        let wrong = VerifyingReader::new(&b"abd"[..], d, 3);
        assert_eq!(wrong.finish().unwrap(), Err(BlobFault::Digest(Sha256Digest::of(b"abd"))));
        // A consumer never sees more than the declared size.
        let mut r = VerifyingReader::new(&b"abcdef"[..], d, 3);
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"abc");
    }
}
