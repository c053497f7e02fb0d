//! [`Reader`]: a bounds-checked cursor over a byte slice.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

/// Why a [`Reader`] refused to decode. Every variant names the absolute
/// offset (see [`Reader::with_base`]) where decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes remain than the item needs.
    #[error("truncated at offset {offset}: need {needed} bytes, {available} remain")]
    Truncated {
        /// Offset of the first missing byte's item.
        offset: usize,
        /// Bytes the item needs.
        needed: usize,
        /// Bytes that remain.
        available: usize,
    },
    /// Bytes remain after the last item of a structure that must end.
    #[error("{len} trailing bytes at offset {offset}")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
        /// How many bytes trail.
        len: usize,
    },
    /// A length field does not fit the platform's `usize` or overflows
    /// when added to an offset.
    #[error("length {value} at offset {offset} overflows")]
    LengthOverflow {
        /// Offset of the length field (or of the item it sizes).
        offset: usize,
        /// The value as read.
        value: u64,
    },
}

impl DecodeError {
    /// The absolute offset the error names.
    pub fn offset(&self) -> usize {
        match *self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::TrailingBytes { offset, .. }
            | DecodeError::LengthOverflow { offset, .. } => offset,
        }
    }
}

/// A cursor over `&'a [u8]` that cannot overrun. Slices it hands out borrow
/// the input (`'a`), not the reader, so a parser can keep them.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; offsets start at 0.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_base(buf, 0)
    }

    /// A reader over `buf` whose offsets are reported plus `base`, so errors
    /// inside a nested buffer point into the whole document.
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte (`base` + position).
    pub fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// Bytes consumed so far (relative to the start of the buffer).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// No bytes left.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// The bytes consumed so far (for example a prefix that is also AAD).
    pub fn consumed(&self) -> &'a [u8] {
        self.buf.get(..self.pos).unwrap_or_default()
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// A [`DecodeError::Truncated`] for an item of `needed` bytes here.
    pub fn truncated(&self, needed: usize) -> DecodeError {
        DecodeError::Truncated { offset: self.offset(), needed, available: self.remaining() }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated(n))?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.truncated(n))?;
        self.pos = end;
        Ok(s)
    }

    /// The next `n` bytes where `n` comes from a wider length field: a value
    /// beyond `usize` is [`DecodeError::LengthOverflow`], not a truncation.
    pub fn take_u64(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        let n = usize::try_from(n)
            .map_err(|_| DecodeError::LengthOverflow { offset: self.offset(), value: n })?;
        self.take(n)
    }

    /// All unread bytes.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let s = self.rest();
        self.pos = self.buf.len();
        s
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(|_| ())
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        self.array::<1>().map(|[b]| b)
    }

    /// A big-endian `u16`.
    pub fn u16_be(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_be_bytes)
    }

    /// A big-endian `u32`.
    pub fn u32_be(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_be_bytes)
    }

    /// A big-endian `u64`.
    pub fn u64_be(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_be_bytes)
    }

    /// Succeeds only when every byte has been read.
    pub fn expect_end(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            len => Err(DecodeError::TrailingBytes { offset: self.offset(), len }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_fields_in_order() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 1, 0, 9]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16_be(), Ok(0x0203));
        assert_eq!(r.u32_be(), Ok(0x0405_0607));
        assert_eq!(r.u64_be(), Ok(256));
        assert_eq!(r.offset(), 15);
        assert_eq!(r.consumed().len(), 15);
        assert_eq!(r.peek(), Some(9));
        assert_eq!(r.expect_end(), Err(DecodeError::TrailingBytes { offset: 15, len: 1 }));
        assert_eq!(r.take_rest(), &[9]);
        assert!(r.is_empty());
        assert_eq!(r.expect_end(), Ok(()));
    }

    #[test]
    fn never_overruns_and_reports_absolute_offsets() {
        let mut r = Reader::with_base(&[0xAA, 0xBB, 0xCC], 100);
        assert_eq!(r.u16_be(), Ok(0xAABB));
        let e = r.u32_be();
        assert_eq!(e, Err(DecodeError::Truncated { offset: 102, needed: 4, available: 1 }));
        // A failed read consumes nothing.
        assert_eq!(r.offset(), 102);
        assert_eq!(r.take(usize::MAX).map(<[u8]>::len).map_err(|e| e.offset()), Err(102));
        assert!(r.skip(2).is_err());
        assert_eq!(r.take(1), Ok(&[0xCC][..]));
        assert_eq!(r.u8(), Err(DecodeError::Truncated { offset: 103, needed: 1, available: 0 }));
        assert_eq!(r.take(0), Ok(&[][..]));
    }

    #[test]
    fn every_prefix_of_a_record_is_a_typed_error() {
        let full = [0u8; 15];
        let read = |b: &[u8]| -> Result<(), DecodeError> {
            let mut r = Reader::new(b);
            r.u8()?;
            r.u16_be()?;
            r.u32_be()?;
            r.u64_be()?;
            r.expect_end()
        };
        assert_eq!(read(&full), Ok(()));
        for n in 0..full.len() {
            assert!(matches!(read(&full[..n]), Err(DecodeError::Truncated { .. })), "prefix {n}");
        }
    }
}
