//! The fixed 548-byte file header and the 12-byte section header.
//!
//! The file header is decoded in file order with a [`Reader`] over its
//! buffer, so no field offset is computed by hand; the section header's
//! array is split by pattern. The writers keep plain indexing into arrays of
//! constant size.

use super::{EifError, SectionType, HEADER_LEN, MAGIC, MAX_SECTIONS, SECTION_HEADER_LEN};
use crate::codec::{DecodeError, Reader};

/// The EIF file header (docs/formats/eif-and-pcrs.md §1.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EifHeader {
    /// Format version (2..=4).
    pub version: u16,
    /// Flags; bit 0 = aarch64.
    pub flags: u16,
    /// `default_mem` (unused by the platform).
    pub default_mem: u64,
    /// `default_cpus` (unused by the platform).
    pub default_cpus: u64,
    /// Reserved u16.
    pub reserved: u16,
    /// Declared number of sections.
    pub num_sections: u16,
    /// Absolute offsets of each section's header.
    pub section_offsets: [u64; MAX_SECTIONS],
    /// Data sizes of each section.
    pub section_sizes: [u64; MAX_SECTIONS],
    /// Unused u32 (covered by the CRC).
    pub unused: u32,
    /// Stored CRC-32.
    pub eif_crc32: u32,
}

/// Field layout: (start offset, name), used to name the field a truncated
/// file ends in.
const FIELDS: [(usize, &str); 10] = [
    (0x000, "magic"),
    (0x004, "version"),
    (0x006, "flags"),
    (0x008, "default_mem"),
    (0x010, "default_cpus"),
    (0x018, "reserved"),
    (0x01A, "num_sections"),
    (0x01C, "section_offsets"),
    (0x11C, "section_sizes"),
    (0x21C, "unused"),
];

/// Name of the header field containing byte `offset` (for errors).
pub fn field_at(offset: usize) -> &'static str {
    if offset >= 0x220 {
        return "eif_crc32";
    }
    FIELDS.iter().rev().find(|(start, _)| *start <= offset).map_or("magic", |(_, n)| n)
}

/// Offset of `section_offsets[i]`.
pub fn offsets_field(i: usize) -> u64 {
    0x1C + 8 * i as u64
}

/// Offset of `section_sizes[i]`.
pub fn sizes_field(i: usize) -> u64 {
    0x11C + 8 * i as u64
}

impl EifHeader {
    /// Parses and validates magic, version and `num_sections`.
    /// Flags are checked by the reader (lenient mode tolerates them).
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Self, EifError> {
        parse_header(b)
    }

    /// Serialises the header (the CRC field as stored in `eif_crc32`).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&self.version.to_be_bytes());
        b[6..8].copy_from_slice(&self.flags.to_be_bytes());
        b[8..16].copy_from_slice(&self.default_mem.to_be_bytes());
        b[16..24].copy_from_slice(&self.default_cpus.to_be_bytes());
        b[24..26].copy_from_slice(&self.reserved.to_be_bytes());
        b[26..28].copy_from_slice(&self.num_sections.to_be_bytes());
        for i in 0..MAX_SECTIONS {
            b[0x1C + 8 * i..0x24 + 8 * i].copy_from_slice(&self.section_offsets[i].to_be_bytes());
            b[0x11C + 8 * i..0x124 + 8 * i].copy_from_slice(&self.section_sizes[i].to_be_bytes());
        }
        b[0x21C..0x220].copy_from_slice(&self.unused.to_be_bytes());
        b[0x220..0x224].copy_from_slice(&self.eif_crc32.to_be_bytes());
        b
    }
}

/// A 12-byte section header (docs/formats/eif-and-pcrs.md §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionHeader {
    /// Raw type value.
    pub section_type: u16,
    /// Reserved flags.
    pub flags: u16,
    /// Data length.
    pub size: u64,
}

impl SectionHeader {
    /// Decodes the 12 bytes. The array type proves the length, so the
    /// fields are split by pattern: infallible and without a panic path.
    pub fn parse(b: &[u8; SECTION_HEADER_LEN]) -> Self {
        let [t0, t1, f0, f1, size @ ..] = *b;
        Self {
            section_type: u16::from_be_bytes([t0, t1]),
            flags: u16::from_be_bytes([f0, f1]),
            size: u64::from_be_bytes(size),
        }
    }

    /// Encodes a header of `kind` with flags 0.
    pub fn encode(kind: SectionType, size: u64) -> [u8; SECTION_HEADER_LEN] {
        let mut b = [0u8; SECTION_HEADER_LEN];
        b[..2].copy_from_slice(&kind.to_u16().to_be_bytes());
        b[4..].copy_from_slice(&size.to_be_bytes());
        b
    }
}

/// The header fields in file order (docs/formats/eif-and-pcrs.md §1.1). A decode error can only
/// mean a short buffer; it is reported as the field the buffer ends in.
#[deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn parse_header(b: &[u8]) -> Result<EifHeader, EifError> {
    let short = |e: DecodeError| EifError::TruncatedHeader {
        offset: e.offset() as u64,
        field: field_at(e.offset()),
    };
    let mut r = Reader::new(b);
    let magic: [u8; 4] = r.array().map_err(short)?;
    if magic != MAGIC {
        return Err(EifError::BadMagic { found: magic });
    }
    let version = r.u16_be().map_err(short)?;
    if !(2..=4).contains(&version) {
        return Err(EifError::UnsupportedVersion { version });
    }
    let flags = r.u16_be().map_err(short)?;
    let default_mem = r.u64_be().map_err(short)?;
    let default_cpus = r.u64_be().map_err(short)?;
    let reserved = r.u16_be().map_err(short)?;
    let num_sections_at = r.offset() as u64;
    let num_sections = r.u16_be().map_err(short)?;
    if usize::from(num_sections) > MAX_SECTIONS {
        return Err(EifError::TooManySections {
            offset: num_sections_at,
            field: "num_sections",
            count: u64::from(num_sections),
        });
    }
    let mut section_offsets = [0u64; MAX_SECTIONS];
    for o in &mut section_offsets {
        *o = r.u64_be().map_err(short)?;
    }
    let mut section_sizes = [0u64; MAX_SECTIONS];
    for s in &mut section_sizes {
        *s = r.u64_be().map_err(short)?;
    }
    let unused = r.u32_be().map_err(short)?;
    let eif_crc32 = r.u32_be().map_err(short)?;
    r.expect_end().map_err(short)?;
    Ok(EifHeader {
        version,
        flags,
        default_mem,
        default_cpus,
        reserved,
        num_sections,
        section_offsets,
        section_sizes,
        unused,
        eif_crc32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names() {
        assert_eq!(field_at(0), "magic");
        assert_eq!(field_at(5), "version");
        assert_eq!(field_at(0x1B), "num_sections");
        assert_eq!(field_at(0x200), "section_sizes");
        assert_eq!(field_at(0x21F), "unused");
        assert_eq!(field_at(546), "eif_crc32");
    }

    #[test]
    fn header_round_trips_and_prefixes_are_typed_errors() {
        let h = EifHeader {
            version: 4,
            flags: 1,
            default_mem: 2,
            default_cpus: 3,
            reserved: 0,
            num_sections: 2,
            section_offsets: [7; MAX_SECTIONS],
            section_sizes: [9; MAX_SECTIONS],
            unused: 5,
            eif_crc32: 0xdead_beef,
        };
        let b = h.to_bytes();
        assert_eq!(EifHeader::parse(&b).ok(), Some(h));
        for n in 0..HEADER_LEN {
            match parse_header(&b[..n]) {
                Err(EifError::TruncatedHeader { offset, field }) => {
                    assert_eq!(field, field_at(offset as usize), "prefix {n}");
                }
                other => panic!("prefix {n}: {other:?}"),
            }
        }
        let sh = SectionHeader::parse(&SectionHeader::encode(SectionType::Kernel, 42));
        assert_eq!((sh.section_type, sh.flags, sh.size), (SectionType::Kernel.to_u16(), 0, 42));
    }
}
