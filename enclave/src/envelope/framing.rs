//! The framing shared by the artifact (docs/formats/receipts.md §5.1) and the sealed
//! input: one parser for both, so they cannot drift apart.
//!
//! ```text
//! magic (6) ‖ version 0x0001 (u16 BE) ‖ H (u32 BE) ‖ header (H bytes) ‖ ciphertext ‖ tag (16)
//! ```
//!
//! Bounded: every length is checked against the bytes present (and the
//! format's limits) before it is used; decoding goes through
//! [`build_spec::codec::Reader`], so nothing here can index out of range.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use build_spec::codec::Reader;

/// Bytes before the header: magic, version and H.
pub(crate) const PREFIX_LEN: usize = 12;
/// The AES-GCM tag that ends every frame.
pub(crate) const TAG_LEN: usize = 16;
/// The only format version.
const VERSION: u16 = 1;

/// What a format puts in the shared framing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Format {
    /// The full 8-byte magic; the first 6 bytes name the format, the last
    /// two are the version (checked separately, for a precise error).
    pub magic: &'static [u8; 8],
    /// Largest header (H).
    pub max_header: usize,
    /// Largest plaintext (ciphertext without the tag).
    pub max_plaintext: usize,
}

/// A framing defect. Each format maps these onto its own error type, whose
/// messages name the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Shorter than the framing or its own header length says.
    Truncated {
        /// Actual length.
        len: usize,
        /// Minimum for what it declares.
        need: usize,
    },
    /// The first 6 bytes are not the format's magic.
    BadMagic,
    /// A version other than 1.
    Version(u16),
    /// H is 0 or above the format's limit.
    HeaderLength(u32),
    /// The plaintext would be larger than the format's limit.
    TooLarge(usize),
}

/// A structurally valid frame (nothing authenticated yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    /// The H header bytes.
    pub header: &'a [u8],
    /// magic ‖ version ‖ H ‖ header: the GCM AAD.
    pub aad: &'a [u8],
    /// ciphertext ‖ tag.
    pub sealed: &'a [u8],
}

/// Splits `bytes` into header, AAD and sealed content.
pub(crate) fn split<'a>(bytes: &'a [u8], format: &Format) -> Result<Frame<'a>, FrameError> {
    let len = bytes.len();
    let truncated = |need| FrameError::Truncated { len, need };
    let mut r = Reader::new(bytes);
    let Ok(prefix) = r.take(PREFIX_LEN) else {
        return Err(truncated(PREFIX_LEN));
    };
    let mut p = Reader::new(prefix);
    let (magic, version, h) = match (p.array::<6>(), p.u16_be(), p.u32_be()) {
        (Ok(m), Ok(v), Ok(h)) => (m, v, h),
        _ => return Err(truncated(PREFIX_LEN)),
    };
    if !format.magic.starts_with(&magic) {
        return Err(FrameError::BadMagic);
    }
    if version != VERSION {
        return Err(FrameError::Version(version));
    }
    let hl = usize::try_from(h).map_err(|_| FrameError::HeaderLength(h))?;
    if hl == 0 || hl > format.max_header {
        return Err(FrameError::HeaderLength(h));
    }
    // hl <= max_header, so this cannot overflow; saturate all the same.
    let need = PREFIX_LEN.saturating_add(hl).saturating_add(TAG_LEN);
    let Ok(header) = r.take(hl) else {
        return Err(truncated(need));
    };
    if r.remaining() < TAG_LEN {
        return Err(truncated(need));
    }
    let plaintext = len.saturating_sub(need);
    if plaintext > format.max_plaintext {
        return Err(FrameError::TooLarge(plaintext));
    }
    let aad = r.consumed();
    let sealed = r.take_rest();
    Ok(Frame { header, aad, sealed })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const F: Format = Format { magic: b"TEST\x00\x00\x00\x01", max_header: 8, max_plaintext: 4 };

    fn frame(h: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = F.magic.to_vec();
        v.extend_from_slice(&(h.len() as u32).to_be_bytes());
        v.extend_from_slice(h);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn splits_and_bounds() {
        let b = frame(b"hdr", &[7; 18]);
        let f = split(&b, &F).expect("splits");
        assert_eq!(f.header, b"hdr");
        assert_eq!(f.aad, &b[..15]);
        assert_eq!(f.sealed.len(), 18);
        assert_eq!(split(&frame(b"hdr", &[0; 21]), &F), Err(FrameError::TooLarge(5)));
        assert_eq!(split(&frame(b"", &[0; 16]), &F), Err(FrameError::HeaderLength(0)));
        assert_eq!(split(&frame(&[0; 9], &[0; 16]), &F), Err(FrameError::HeaderLength(9)));
        let mut v2 = b.clone();
        v2[7] = 2;
        assert_eq!(split(&v2, &F), Err(FrameError::Version(2)));
        v2[0] = b'X';
        assert_eq!(split(&v2, &F), Err(FrameError::BadMagic));
    }

    #[test]
    fn every_prefix_is_truncated() {
        let b = frame(b"hdr", &[7; 16]);
        for n in 0..b.len() {
            let need = if n < 12 { 12 } else { 31 };
            assert_eq!(split(&b[..n], &F), Err(FrameError::Truncated { len: n, need }), "{n}");
        }
    }
}
