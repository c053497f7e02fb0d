//! The Enclave Image File (EIF): AWS Nitro Enclaves' boot image.
//!
//! Layout (all integers big-endian, spec `docs/formats/eif-and-pcrs.md` §1):
//! a 548-byte [`EifHeader`], then sections, each a 12-byte section header
//! (type, flags, size) followed by its data; no padding, no trailer.
//!
//! * [`read`]: the streaming, bounded reader. It computes CRC-32 and PCR0,
//!   PCR1, PCR2 (and PCR8 when signed) in one pass, PCR2 on a second thread.
//! * [`write`]: the builder, byte-identical to AWS's `EifBuilder`.
//! * [`metadata`]: the metadata JSON section.
//! * [`signature`]: the signature section (CBOR + COSE_Sign1 over PCR0).

pub mod header;
pub mod metadata;
pub mod read;
pub mod signature;
pub mod write;

pub use header::{EifHeader, SectionHeader};
pub use metadata::EifMetadata;
pub use read::{read_eif, read_eif_file, EifSummary, ReadOptions, SectionInfo};
pub use write::{BuildOutput, EifBuilder, Input, Signer};

/// `.eif`
pub const MAGIC: [u8; 4] = *b".eif";
/// Size of [`EifHeader`] on disk.
pub const HEADER_LEN: usize = 548;
/// Offset of the CRC field (the last 4 header bytes).
pub const CRC_OFFSET: usize = 544;
/// Size of a section header.
pub const SECTION_HEADER_LEN: usize = 12;
/// Most sections an EIF may hold (size of the offset/size tables).
pub const MAX_SECTIONS: usize = 32;
/// Version written by every current builder.
pub const CURRENT_VERSION: u16 = 4;
/// `default_mem` as AWS's builder writes it (1 GiB).
pub const DEFAULT_MEM: u64 = 0x4000_0000;
/// `default_cpus` as AWS's builder writes it.
pub const DEFAULT_CPUS: u64 = 2;
/// Header flag bit 0: aarch64.
pub const FLAG_ARCH_ARM64: u16 = 1;
/// Largest signature section read (AWS's documented `SIGNATURE_MAX_SIZE`).
pub const MAX_SIGNATURE_LEN: u64 = 32 * 1024;
/// Largest metadata section read. nitro-cli caps custom metadata at 4 KiB;
/// Docker inspect output can be larger, so allow 1 MiB.
pub const MAX_METADATA_LEN: u64 = 1024 * 1024;

/// Section types (docs/formats/eif-and-pcrs.md §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum SectionType {
    /// 1: kernel image.
    Kernel,
    /// 2: kernel command line.
    Cmdline,
    /// 3: initramfs member.
    Ramdisk,
    /// 4: CBOR signature.
    Signature,
    /// 5: JSON metadata.
    Metadata,
}

impl SectionType {
    /// From the on-disk value; 0 and >= 6 are invalid.
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::Kernel,
            2 => Self::Cmdline,
            3 => Self::Ramdisk,
            4 => Self::Signature,
            5 => Self::Metadata,
            _ => return None,
        })
    }

    /// The on-disk value.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::Kernel => 1,
            Self::Cmdline => 2,
            Self::Ramdisk => 3,
            Self::Signature => 4,
            Self::Metadata => 5,
        }
    }

    /// AWS's name (`EifSectionKernel`, ...), as `describe-eif` prints it.
    pub fn aws_name(self) -> &'static str {
        match self {
            Self::Kernel => "EifSectionKernel",
            Self::Cmdline => "EifSectionCmdline",
            Self::Ramdisk => "EifSectionRamdisk",
            Self::Signature => "EifSectionSignature",
            Self::Metadata => "EifSectionMetadata",
        }
    }

    /// Short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::Cmdline => "cmdline",
            Self::Ramdisk => "ramdisk",
            Self::Signature => "signature",
            Self::Metadata => "metadata",
        }
    }
}

/// CPU architecture (header flag bit 0; not measured in any PCR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// x86_64 (bit clear).
    #[default]
    X86_64,
    /// aarch64 (bit set).
    Aarch64,
}

impl Arch {
    /// `x86_64` or `aarch64`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// Every defect the reader or writer can report. Reader variants name the
/// absolute file offset and the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EifError {
    /// Read/write failure.
    #[error("I/O error at offset {offset}: {source}")]
    Io {
        /// File offset.
        offset: u64,
        /// Cause.
        source: std::io::Error,
    },
    /// File shorter than the 548-byte header.
    #[error("truncated EIF header: file ends at offset {offset}, inside field {field}")]
    TruncatedHeader {
        /// Where input ended.
        offset: u64,
        /// Header field containing that offset.
        field: &'static str,
    },
    /// Magic is not `.eif`.
    #[error("bad magic at offset 0: {found:02x?} (expected \".eif\" = 2e 65 69 66)")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// Version other than 2, 3 or 4.
    #[error("unsupported EIF version {version} at offset 4 (field version; supported: 2, 3, 4)")]
    UnsupportedVersion {
        /// Found.
        version: u16,
    },
    /// Header flags with bits other than bit 0 set.
    #[error("unknown header flags {flags:#06x} at offset 6 (only bit 0, arch, is defined)")]
    UnknownFlags {
        /// Found.
        flags: u16,
    },
    /// `num_sections` field > 32, or the walk met a 33rd section.
    #[error("too many sections at offset {offset} ({field}: {count}; at most 32)")]
    TooManySections {
        /// Offset of the field or of the 33rd section header.
        offset: u64,
        /// Field.
        field: &'static str,
        /// Count found.
        count: u64,
    },
    /// Section type 0 or >= 6.
    #[error("unknown section type {value} at offset {offset} (field section_type)")]
    UnknownSectionType {
        /// Offset of the section header.
        offset: u64,
        /// The value.
        value: u16,
    },
    /// Non-zero section flags.
    #[error("section at offset {offset}: reserved field flags is {flags:#06x}, expected 0")]
    SectionFlags {
        /// Offset of the section header.
        offset: u64,
        /// Found.
        flags: u16,
    },
    /// `section_size` makes the section end past 2^64.
    #[error("section at offset {offset}: section_size {size} overflows 64-bit file offsets")]
    SizeOverflow {
        /// Offset of the section header.
        offset: u64,
        /// The size field.
        size: u64,
    },
    /// Section data runs past the end of the file.
    #[error("section at offset {offset}: section_size {size} runs past end of file ({available} bytes available)")]
    SectionBeyondEof {
        /// Offset of the section header.
        offset: u64,
        /// The size field.
        size: u64,
        /// Bytes available after the section header.
        available: u64,
    },
    /// 1..11 bytes after the last section (AWS ignores them; strict mode
    /// rejects).
    #[error("{len} trailing bytes at offset {offset}, too short for a section header")]
    TrailingBytes {
        /// Where they start.
        offset: u64,
        /// How many.
        len: u64,
    },
    /// A section in a place the format does not allow.
    #[error("section order: {kind} at offset {offset} {reason}")]
    SectionOrder {
        /// Offset of the section header.
        offset: u64,
        /// Section type name.
        kind: &'static str,
        /// Why it is out of place.
        reason: &'static str,
    },
    /// A section that must appear is missing.
    #[error("missing {kind} section")]
    MissingSection {
        /// Section type name.
        kind: &'static str,
    },
    /// Metadata/signature section above its size limit.
    #[error("{kind} section at offset {offset} is {size} bytes, above the {limit}-byte limit")]
    SectionTooLarge {
        /// Offset of the section header.
        offset: u64,
        /// Section type name.
        kind: &'static str,
        /// Its size.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// Header table disagrees with the sections found by walking.
    #[error(
        "header table mismatch at offset {offset}: {field} is {found}, the sections say {expected}"
    )]
    TableMismatch {
        /// Offset of the header field.
        offset: u64,
        /// Field, e.g. `section_offsets[3]`.
        field: String,
        /// Value in the header.
        found: u64,
        /// Value derived from the walk.
        expected: u64,
    },
    /// Stored CRC differs from the computed one.
    #[error("CRC mismatch at offset 544 (field eif_crc32): stored {stored:08x}, computed {computed:08x}")]
    CrcMismatch {
        /// Stored value.
        stored: u32,
        /// Computed value.
        computed: u32,
    },
    /// Metadata JSON invalid.
    #[error("metadata section at offset {offset}: {reason}")]
    BadMetadata {
        /// Offset of the section header.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// Signature section invalid.
    #[error("signature section at offset {offset}: {source}")]
    BadSignature {
        /// Offset of the section header.
        offset: u64,
        /// Cause.
        source: signature::SignatureError,
    },
    /// Builder input problem (empty kernel list, NUL in cmdline, too big...).
    #[error("invalid builder input: {0}")]
    BadInput(String),
    /// An input file changed between the builder's hashing pass and its
    /// writing pass.
    #[error("input {0} changed while the image was being written")]
    InputChanged(String),
    /// The PCR2 hashing thread failed.
    #[error("internal error: hashing thread failed")]
    Thread,
}
