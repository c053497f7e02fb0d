//! Streaming, bounded EIF reader with one-pass PCRs.
//!
//! The file is read once, front to back, in fixed-size chunks:
//!
//! * CRC-32 covers header bytes `[0, 544)` then every section header and
//!   data, in file order (docs/formats/eif-and-pcrs.md §2);
//! * one SHA-384 state hashes kernel, cmdline and ramdisk data (PCR0's
//!   content). PCR1's content is a prefix of PCR0's as long as at most one
//!   ramdisk has been seen, so PCR1 is a *clone* of that state taken when the
//!   second ramdisk starts (or PCR0's state itself if there is none);
//! * every byte after the header's CRC-covered prefix is also sent, as shared
//!   chunks through a bounded channel, to a second thread, which keeps the
//!   CRC-32 and hashes PCR2's content (bytes of the second and later
//!   ramdisks). The first thread's critical path is then one SHA-384 pass
//!   plus the reads, the work of `openssl dgst -sha384` itself (issue 18);
//!   the second thread's is the PCR2 SHA-384 plus the CRC, about the same.
//!
//! Memory is bounded by the chunk pool (channel capacity + 3 chunks), the
//! metadata section (<= 1 MiB) and the signature section (<= 32 KiB),
//! whatever the image size. No length field is trusted before it is checked
//! against the file size (when known), the 64-bit range and the per-type
//! limits.
//!
//! Like AWS's `EifReader`, sections are found by walking section headers
//! from offset 548; the header's offset/size table is then cross-checked.
//! In strict mode (default) every layout defect is an error; in lenient
//! mode the defects AWS tolerates are collected as findings and PCRs come
//! out as nitro-cli computes them.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use crate::digest::{Digest, Sha256, Sha384};

use super::header::{field_at, offsets_field, sizes_field};
use super::signature::{self, SignatureCheck, SignatureSection};
use super::{
    Arch, EifError, EifHeader, EifMetadata, SectionHeader, SectionType, CRC_OFFSET,
    FLAG_ARCH_ARM64, HEADER_LEN, MAX_METADATA_LEN, MAX_SECTIONS, MAX_SIGNATURE_LEN,
    SECTION_HEADER_LEN,
};
use crate::codec::{CountingReader, Fill};
use crate::pcr::{ImagePcrs, Measurements, PcrRouter};

/// Reader settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// A CRC mismatch is an error (otherwise only reported).
    pub require_crc: bool,
    /// Layout defects AWS tolerates are errors (otherwise findings).
    pub strict: bool,
    /// Compute a SHA-256 of every section's data (for describe/diff).
    pub section_digests: bool,
    /// Chunk size in bytes (>= 4 KiB).
    pub chunk_size: usize,
    /// Chunks that may wait for the PCR2 thread. Deep enough to ride out a
    /// scheduler time slice on a busy machine (so the two threads rarely
    /// block on each other); peak memory is about
    /// `(pipeline_depth + 3) * chunk_size`.
    ///
    /// The defaults (256 KiB x 32: about 8.75 MiB of buffers, ~13 ms of
    /// SHA-384 work queued) keep `proofpack pcrs` under the 16 MiB peak of
    /// issue 18 whatever the image size; 1 MiB x 32 (the earlier default)
    /// peaked at 35-41 MiB when the PCR2 thread lagged (`scripts/bench-pcrs`,
    /// BENCHMARKS.md "Hashing at the hardware limit").
    pub pipeline_depth: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            require_crc: true,
            strict: true,
            section_digests: false,
            chunk_size: 256 << 10,
            pipeline_depth: 32,
        }
    }
}

impl ReadOptions {
    /// Accept what AWS's reader accepts, report everything: CRC and layout
    /// defects become findings, section digests on. For `describe`/`diff`.
    pub fn inspect() -> Self {
        Self { require_crc: false, strict: false, section_digests: true, ..Self::default() }
    }
}

/// One section as found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    /// Position in file order.
    pub index: usize,
    /// Type.
    pub kind: SectionType,
    /// Section header flags.
    pub flags: u16,
    /// Offset of the 12-byte section header.
    pub header_offset: u64,
    /// Offset of the data.
    pub data_offset: u64,
    /// Data length.
    pub size: u64,
    /// SHA-256 of the data, if requested.
    pub sha256: Option<[u8; 32]>,
}

/// Everything the reader learned.
#[derive(Debug)]
pub struct EifSummary {
    /// Parsed header.
    pub header: EifHeader,
    /// Bytes read (the file length).
    pub file_len: u64,
    /// Sections in file order.
    pub sections: Vec<SectionInfo>,
    /// CRC-32 computed over the spec's byte ranges.
    pub computed_crc32: u32,
    /// PCR0/1/2 (and 8 when signed).
    pub pcrs: ImagePcrs,
    /// Raw metadata section bytes.
    pub metadata_raw: Option<Vec<u8>>,
    /// Parsed metadata (None if absent or invalid; see `findings`).
    pub metadata: Option<EifMetadata>,
    /// Decoded signature section.
    pub signature: Option<SignatureSection>,
    /// Signature verification against this image's PCR0.
    pub signature_check: Option<SignatureCheck>,
    /// Defects tolerated in lenient mode (empty in strict mode).
    pub findings: Vec<EifError>,
}

impl EifSummary {
    /// Stored CRC equals the computed one.
    pub fn crc_ok(&self) -> bool {
        self.header.eif_crc32 == self.computed_crc32
    }

    /// Architecture from header flag bit 0.
    pub fn arch(&self) -> Arch {
        if self.header.flags & FLAG_ARCH_ARM64 != 0 {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }

    /// PCRs as a measurement set (PCR8 only when signed).
    pub fn measurements(&self) -> Measurements {
        self.pcrs.to_measurements()
    }
}

/// Reads an EIF file (its length is used to reject oversized sections
/// before reading them).
pub fn read_eif_file(path: &Path, opts: &ReadOptions) -> Result<EifSummary, EifError> {
    let f = std::fs::File::open(path).map_err(|source| EifError::Io { offset: 0, source })?;
    let len = f.metadata().map_err(|source| EifError::Io { offset: 0, source })?.len();
    read_eif(f, Some(len), opts)
}

/// Reads an EIF from a stream. `file_len`, when known, bounds section sizes
/// up front; without it, a short section is detected when the data ends.
pub fn read_eif<R: Read>(
    r: R,
    file_len: Option<u64>,
    opts: &ReadOptions,
) -> Result<EifSummary, EifError> {
    let mut r = CountingReader::new(r);
    let mut hb = [0u8; HEADER_LEN];
    match r.fill(&mut hb) {
        Ok(Fill::Full) => {}
        Ok(Fill::Eof(n)) => {
            return Err(EifError::TruncatedHeader { offset: n as u64, field: field_at(n) })
        }
        Err(source) => return Err(EifError::Io { offset: r.offset(), source }),
    }
    let header = EifHeader::parse(&hb)?;
    let mut walk = Walk::new(opts, file_len);
    if header.flags & !FLAG_ARCH_ARM64 != 0 {
        walk.layout(EifError::UnknownFlags { flags: header.flags })?;
    }
    let (crc_covered, _) = hb.split_at(CRC_OFFSET.min(HEADER_LEN));
    let mut crc = crc32fast::Hasher::new();
    crc.update(crc_covered);

    let (second, walked) = std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Work>(opts.pipeline_depth.max(1));
        let worker = s.spawn(move || second_thread(rx, crc));
        // `tx` moves into the walk and is dropped when it returns, so the
        // worker ends on success and on error alike.
        let walked = walk.run(&mut r, tx);
        (worker.join(), walked)
    });
    let walk = walked?;
    let (h2, crc) = second.map_err(|_| EifError::Thread)?;
    walk.finish(header, r.offset(), h2, crc)
}

/// What the reading thread hands the second thread, in file order.
enum Work {
    /// Bytes covered by the CRC only (section headers, metadata, signature).
    Crc(Vec<u8>),
    /// The first `n` bytes of a chunk of section data; `pcr2` when they
    /// also belong to PCR2's content.
    Chunk { chunk: Arc<Vec<u8>>, n: usize, pcr2: bool },
}

/// The second thread: the CRC-32 of everything, the SHA-384 of PCR2's content.
fn second_thread(rx: Receiver<Work>, mut crc: crc32fast::Hasher) -> (Sha384, u32) {
    let mut h2 = Sha384::new();
    for w in rx {
        match w {
            Work::Crc(bytes) => crc.update(&bytes),
            Work::Chunk { chunk, n, pcr2 } => {
                let bytes = chunk.get(..n).unwrap_or(chunk.as_slice());
                crc.update(bytes);
                if pcr2 {
                    h2.update(bytes);
                }
            }
        }
    }
    (h2, crc.finalize())
}

struct Walk<'a> {
    opts: &'a ReadOptions,
    file_len: Option<u64>,
    pcrs: PcrRouter,
    sections: Vec<SectionInfo>,
    metadata: Option<(u64, Vec<u8>)>,
    signature: Option<(u64, Vec<u8>)>,
    findings: Vec<EifError>,
    pool: Vec<Arc<Vec<u8>>>,
}

impl<'a> Walk<'a> {
    fn new(opts: &'a ReadOptions, file_len: Option<u64>) -> Self {
        Self {
            opts,
            file_len,
            pcrs: PcrRouter::new(),
            sections: Vec::new(),
            metadata: None,
            signature: None,
            findings: Vec::new(),
            pool: Vec::new(),
        }
    }

    /// A defect AWS tolerates: error in strict mode, finding otherwise.
    fn layout(&mut self, e: EifError) -> Result<(), EifError> {
        if self.opts.strict {
            Err(e)
        } else {
            self.findings.push(e);
            Ok(())
        }
    }

    fn seen(&self, kind: SectionType) -> bool {
        self.sections.iter().any(|s| s.kind == kind)
    }

    fn run<R: Read>(
        mut self,
        r: &mut CountingReader<R>,
        tx: SyncSender<Work>,
    ) -> Result<Self, EifError> {
        loop {
            let off = r.offset();
            let mut shb = [0u8; SECTION_HEADER_LEN];
            match r.fill(&mut shb) {
                Ok(Fill::Full) => {}
                Ok(Fill::Eof(0)) => break,
                Ok(Fill::Eof(n)) => {
                    self.layout(EifError::TrailingBytes { offset: off, len: n as u64 })?;
                    break;
                }
                Err(source) => return Err(EifError::Io { offset: r.offset(), source }),
            }
            if self.sections.len() == MAX_SECTIONS {
                return Err(EifError::TooManySections {
                    offset: off,
                    field: "section headers",
                    count: (MAX_SECTIONS as u64).saturating_add(1),
                });
            }
            let sh = SectionHeader::parse(&shb);
            let kind = SectionType::from_u16(sh.section_type)
                .ok_or(EifError::UnknownSectionType { offset: off, value: sh.section_type })?;
            if sh.flags != 0 {
                self.layout(EifError::SectionFlags { offset: off, flags: sh.flags })?;
            }
            // `off` counts bytes actually read, far below 2^64.
            let data_offset = off.saturating_add(SECTION_HEADER_LEN as u64);
            let end = data_offset
                .checked_add(sh.size)
                .ok_or(EifError::SizeOverflow { offset: off, size: sh.size })?;
            if let Some(len) = self.file_len {
                if end > len {
                    return Err(EifError::SectionBeyondEof {
                        offset: off,
                        size: sh.size,
                        available: len.saturating_sub(data_offset),
                    });
                }
            }
            self.check_order(kind, off)?;
            tx.send(Work::Crc(shb.to_vec())).map_err(|_| EifError::Thread)?;
            let to_pcr2 = self.pcrs.begin(kind);
            let sha256 = match kind {
                SectionType::Metadata | SectionType::Signature => {
                    let (limit, name) = if kind == SectionType::Metadata {
                        (MAX_METADATA_LEN, "metadata")
                    } else {
                        (MAX_SIGNATURE_LEN, "signature")
                    };
                    if sh.size > limit {
                        return Err(EifError::SectionTooLarge {
                            offset: off,
                            kind: name,
                            size: sh.size,
                            limit,
                        });
                    }
                    // Bounded by `limit` just above.
                    let mut data = vec![0u8; sh.size as usize];
                    match r.fill(&mut data) {
                        Ok(Fill::Full) => {}
                        Ok(Fill::Eof(n)) => {
                            return Err(EifError::SectionBeyondEof {
                                offset: off,
                                size: sh.size,
                                available: n as u64,
                            })
                        }
                        Err(source) => return Err(EifError::Io { offset: r.offset(), source }),
                    }
                    tx.send(Work::Crc(data.clone())).map_err(|_| EifError::Thread)?;
                    let digest = self.opts.section_digests.then(|| Sha256::digest(&data).into());
                    if kind == SectionType::Metadata {
                        self.metadata = Some((off, data));
                    } else {
                        self.signature = Some((off, data));
                    }
                    digest
                }
                _ => self.stream(r, to_pcr2, off, sh.size, &tx)?,
            };
            self.sections.push(SectionInfo {
                index: self.sections.len(),
                kind,
                flags: sh.flags,
                header_offset: off,
                data_offset,
                size: sh.size,
                sha256,
            });
        }
        Ok(self)
    }

    fn check_order(&mut self, kind: SectionType, off: u64) -> Result<(), EifError> {
        let name = kind.name();
        let order = |reason| EifError::SectionOrder { offset: off, kind: name, reason };
        if self.seen(SectionType::Signature) {
            self.layout(order("after the signature section (it must be last)"))?;
        }
        match kind {
            SectionType::Ramdisk => {
                if !self.seen(SectionType::Kernel) {
                    self.layout(order("before the kernel section"))?;
                }
                if !self.seen(SectionType::Cmdline) {
                    self.layout(order("before the cmdline section"))?;
                }
            }
            SectionType::Cmdline if self.seen(SectionType::Ramdisk) => {
                self.layout(order("after a ramdisk section"))?;
            }
            _ => {}
        }
        if kind == SectionType::Signature && self.seen(kind) {
            // Fatal even in lenient mode: AWS would hash both certificates
            // into PCR8, a value no single certificate explains
            // (docs/formats/eif-and-pcrs.md §4.2).
            return Err(order("is a duplicate (at most one allowed)"));
        }
        if kind != SectionType::Ramdisk && self.seen(kind) {
            self.layout(order("is a duplicate (at most one allowed)"))?;
        }
        Ok(())
    }

    fn chunk(&mut self) -> Arc<Vec<u8>> {
        match self.pool.iter().position(|b| Arc::strong_count(b) == 1) {
            Some(i) => self.pool.swap_remove(i),
            None => Arc::new(vec![0u8; self.opts.chunk_size.max(4096)]),
        }
    }

    fn stream<R: Read>(
        &mut self,
        r: &mut CountingReader<R>,
        to_pcr2: bool,
        off: u64,
        size: u64,
        tx: &SyncSender<Work>,
    ) -> Result<Option<[u8; 32]>, EifError> {
        let mut sha = self.opts.section_digests.then(Sha256::new);
        let mut left = size;
        while left > 0 {
            let mut chunk = self.chunk();
            let data = match Arc::get_mut(&mut chunk) {
                Some(d) => d,
                None => return Err(EifError::Thread),
            };
            let n = data.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let (buf, _) = data.split_at_mut(n);
            match r.fill(buf) {
                Ok(Fill::Full) => {}
                Ok(Fill::Eof(got)) => {
                    return Err(EifError::SectionBeyondEof {
                        offset: off,
                        size,
                        available: size.saturating_sub(left).saturating_add(got as u64),
                    })
                }
                Err(source) => return Err(EifError::Io { offset: r.offset(), source }),
            }
            let bytes: &[u8] = buf;
            if let Some(s) = sha.as_mut() {
                s.update(bytes);
            }
            self.pcrs.update(bytes);
            tx.send(Work::Chunk { chunk: Arc::clone(&chunk), n, pcr2: to_pcr2 })
                .map_err(|_| EifError::Thread)?;
            self.pool.push(chunk);
            left = left.saturating_sub(n as u64);
        }
        Ok(sha.map(|s| s.finalize().into()))
    }

    fn finish(
        mut self,
        header: EifHeader,
        file_len: u64,
        h2: Sha384,
        computed_crc32: u32,
    ) -> Result<EifSummary, EifError> {
        for kind in [SectionType::Kernel, SectionType::Cmdline, SectionType::Ramdisk] {
            if !self.seen(kind) {
                self.layout(EifError::MissingSection { kind: kind.name() })?;
            }
        }
        if header.version >= 4 && !self.seen(SectionType::Metadata) {
            self.layout(EifError::MissingSection { kind: "metadata (mandatory in version 4)" })?;
        }
        self.check_table(&header)?;
        if self.opts.require_crc && computed_crc32 != header.eif_crc32 {
            return Err(EifError::CrcMismatch {
                stored: header.eif_crc32,
                computed: computed_crc32,
            });
        }
        let (pcr0, pcr1, pcr2) = self.pcrs.clone().finish(h2);
        let mut metadata = None;
        let metadata_raw = match self.metadata.take() {
            Some((off, raw)) => {
                match EifMetadata::from_bytes(&raw) {
                    Ok(m) => metadata = Some(m),
                    Err(reason) => self.layout(EifError::BadMetadata { offset: off, reason })?,
                }
                Some(raw)
            }
            None => None,
        };
        let (signature, signature_check, pcr8) = match self.signature.take() {
            Some((off, raw)) => {
                let bad = |source| EifError::BadSignature { offset: off, source };
                let section = signature::parse_section(&raw).map_err(bad)?;
                let check = signature::verify(&section, &pcr0).map_err(bad)?;
                let pcr8 = check.pcr8;
                (Some(section), Some(check), Some(pcr8))
            }
            None => (None, None, None),
        };
        Ok(EifSummary {
            header,
            file_len,
            sections: self.sections,
            computed_crc32,
            pcrs: ImagePcrs { pcr0, pcr1, pcr2, pcr8 },
            metadata_raw,
            metadata,
            signature,
            signature_check,
            findings: self.findings,
        })
    }

    fn check_table(&mut self, header: &EifHeader) -> Result<(), EifError> {
        let count = self.sections.len() as u64;
        if u64::from(header.num_sections) != count {
            self.layout(EifError::TableMismatch {
                offset: 0x1A,
                field: "num_sections".into(),
                found: u64::from(header.num_sections),
                expected: count,
            })?;
        }
        let table = header.section_offsets.iter().zip(&header.section_sizes).enumerate();
        for (i, (&found_offset, &found_size)) in table {
            let (eo, es) = self.sections.get(i).map_or((0, 0), |s| (s.header_offset, s.size));
            if found_offset != eo {
                self.layout(EifError::TableMismatch {
                    offset: offsets_field(i),
                    field: format!("section_offsets[{i}]"),
                    found: found_offset,
                    expected: eo,
                })?;
            }
            if found_size != es {
                self.layout(EifError::TableMismatch {
                    offset: sizes_field(i),
                    field: format!("section_sizes[{i}]"),
                    found: found_size,
                    expected: es,
                })?;
            }
        }
        Ok(())
    }
}
