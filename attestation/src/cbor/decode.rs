//! A strict, bounded CBOR (RFC 8949) reader over a borrowed slice.
//!
//! Hand-written (instead of `ciborium`) because the attestation parser needs
//! what generic decoders do not give: absolute byte offsets in every error,
//! the *original* bytes of byte strings (the COSE signature covers them),
//! duplicate-key detection, and hard caps on depth and on every length before
//! anything is allocated. It accepts definite and indefinite lengths and any
//! well-formed head width; it never indexes past the end of the input: the
//! bytes are read through the workspace's one cursor,
//! [`build_spec::codec::Reader`].

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used)]

use std::borrow::Cow;

use build_spec::codec::{self, DecodeError};

use crate::error::{ParseError, ParseErrorKind};

/// Maximum nesting depth the reader will descend into when skipping items.
pub const MAX_DEPTH: usize = 16;

/// CBOR major types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Major {
    /// 0
    Uint,
    /// 1
    Nint,
    /// 2
    Bytes,
    /// 3
    Text,
    /// 4
    Array,
    /// 5
    Map,
    /// 6
    Tag,
    /// 7
    Simple,
}

impl Major {
    /// A short name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Major::Uint => "unsigned integer",
            Major::Nint => "negative integer",
            Major::Bytes => "byte string",
            Major::Text => "text string",
            Major::Array => "array",
            Major::Map => "map",
            Major::Tag => "tag",
            Major::Simple => "simple value or float",
        }
    }

    fn from_bits(b: u8) -> Self {
        match b >> 5 {
            0 => Major::Uint,
            1 => Major::Nint,
            2 => Major::Bytes,
            3 => Major::Text,
            4 => Major::Array,
            5 => Major::Map,
            6 => Major::Tag,
            _ => Major::Simple,
        }
    }
}

/// A decoded item head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The major type.
    pub major: Major,
    /// The argument, `None` for indefinite length (additional info 31).
    pub arg: Option<u64>,
    /// Offset of the head's first byte.
    pub offset: usize,
}

/// `null` is major 7, argument 22.
pub const SIMPLE_NULL: u64 = 22;

/// The reader. `base` is added to every reported offset so errors inside a
/// nested buffer (the payload) point into the whole document.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    cur: codec::Reader<'a>,
}

/// A cursor error is always a truncation at its offset.
fn truncated(e: DecodeError) -> ParseError {
    ParseError { offset: e.offset(), kind: ParseErrorKind::Truncated }
}

impl<'a> Reader<'a> {
    /// A reader over `buf` whose offsets are reported relative to `base`.
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Self { cur: codec::Reader::with_base(buf, base) }
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.cur.offset()
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.cur.remaining()
    }

    /// An error at the current offset.
    pub fn err(&self, kind: ParseErrorKind) -> ParseError {
        ParseError { offset: self.offset(), kind }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        self.cur.take(n).map_err(truncated)
    }

    fn byte(&mut self) -> Result<u8, ParseError> {
        self.cur.u8().map_err(truncated)
    }

    /// Peeks at the next byte.
    pub fn peek(&self) -> Option<u8> {
        self.cur.peek()
    }

    /// True (and consumes it) when the next byte is a break (`ff`).
    pub fn eat_break(&mut self) -> bool {
        self.peek() == Some(0xff) && self.cur.skip(1).is_ok()
    }

    /// Reads one head. A stray break byte is an error.
    pub fn head(&mut self) -> Result<Head, ParseError> {
        let offset = self.offset();
        let ib = self.byte()?;
        let major = Major::from_bits(ib);
        let info = ib & 0x1f;
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(u64::from(self.byte()?)),
            25 => Some(u64::from(self.cur.u16_be().map_err(truncated)?)),
            26 => Some(u64::from(self.cur.u32_be().map_err(truncated)?)),
            27 => Some(self.cur.u64_be().map_err(truncated)?),
            31 => match major {
                Major::Bytes | Major::Text | Major::Array | Major::Map => None,
                Major::Simple => {
                    return Err(ParseError { offset, kind: ParseErrorKind::UnexpectedBreak })
                }
                _ => {
                    return Err(ParseError {
                        offset,
                        kind: ParseErrorKind::InvalidHead { byte: ib },
                    })
                }
            },
            _ => return Err(ParseError { offset, kind: ParseErrorKind::InvalidHead { byte: ib } }),
        };
        Ok(Head { major, arg, offset })
    }

    /// Reads a definite length as `usize`, checked against what is left so a
    /// lying length can never drive an allocation.
    fn len_in_bounds(&self, head: &Head, n: u64) -> Result<usize, ParseError> {
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.remaining())
            .ok_or(ParseError { offset: head.offset, kind: ParseErrorKind::Truncated })
    }

    /// Reads the content of a byte or text string whose head was already read.
    /// Indefinite strings are concatenated (chunks must be definite strings of
    /// the same major type, RFC 8949 §3.2.3).
    pub fn string_body(
        &mut self,
        head: &Head,
        max: usize,
        field: &'static str,
    ) -> Result<Cow<'a, [u8]>, ParseError> {
        match head.arg {
            Some(n) => {
                let n = self.len_in_bounds(head, n)?;
                if n > max {
                    return Err(ParseError {
                        offset: head.offset,
                        kind: ParseErrorKind::FieldTooLong { field, len: n, max },
                    });
                }
                Ok(Cow::Borrowed(self.take(n)?))
            }
            None => {
                let mut out = Vec::new();
                loop {
                    if self.eat_break() {
                        return Ok(Cow::Owned(out));
                    }
                    let chunk = self.head()?;
                    if chunk.major != head.major || chunk.arg.is_none() {
                        return Err(ParseError {
                            offset: chunk.offset,
                            kind: ParseErrorKind::BadChunk,
                        });
                    }
                    let n = self.len_in_bounds(&chunk, chunk.arg.unwrap_or(0))?;
                    if out.len().saturating_add(n) > max {
                        return Err(ParseError {
                            offset: head.offset,
                            kind: ParseErrorKind::FieldTooLong {
                                field,
                                len: out.len().saturating_add(n),
                                max,
                            },
                        });
                    }
                    out.extend_from_slice(self.take(n)?);
                }
            }
        }
    }

    /// Skips one complete item (used for unknown keys in lenient mode).
    pub fn skip(&mut self, depth: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err(ParseErrorKind::TooDeep { max: MAX_DEPTH }));
        }
        let head = self.head()?;
        match head.major {
            Major::Uint | Major::Nint => Ok(()),
            Major::Simple => {
                // 24 takes one extra byte (already read by `head`); floats likewise.
                Ok(())
            }
            Major::Bytes | Major::Text => {
                self.string_body(&head, usize::MAX, "(skipped)")?;
                Ok(())
            }
            Major::Tag => self.skip(depth.saturating_add(1)),
            Major::Array | Major::Map => {
                let per = if head.major == Major::Map { 2 } else { 1 };
                match head.arg {
                    Some(n) => {
                        // Each item takes at least one byte: a bound on n.
                        let n = self.len_in_bounds(&head, n)?;
                        for _ in 0..n.saturating_mul(per) {
                            self.skip(depth.saturating_add(1))?;
                        }
                        Ok(())
                    }
                    None => loop {
                        if self.eat_break() {
                            return Ok(());
                        }
                        for _ in 0..per {
                            self.skip(depth.saturating_add(1))?;
                        }
                    },
                }
            }
        }
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), ParseError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.err(ParseErrorKind::TrailingBytes { what, count: self.remaining() }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lying_lengths_never_allocate_or_panic() {
        // A byte string claiming 2^64-1 bytes.
        let mut r = Reader::new(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
        let h = r.head().expect("head");
        assert_eq!(
            r.string_body(&h, usize::MAX, "x").map(|_| ()),
            Err(ParseError { offset: 0, kind: ParseErrorKind::Truncated })
        );
        // An array claiming 2^32 items.
        let mut r = Reader::new(&[0x9a, 0xff, 0xff, 0xff, 0xff, 0x00], 0);
        assert!(r.skip(0).is_err());
    }

    #[test]
    fn depth_is_bounded() {
        let deep = vec![0x81; 1000];
        let mut r = Reader::new(&deep, 0);
        assert!(matches!(r.skip(0), Err(ParseError { kind: ParseErrorKind::TooDeep { .. }, .. })));
    }

    #[test]
    fn offsets_are_absolute() {
        let mut r = Reader::new(&[0x1c], 100);
        assert_eq!(
            r.head(),
            Err(ParseError { offset: 100, kind: ParseErrorKind::InvalidHead { byte: 0x1c } })
        );
    }
}
