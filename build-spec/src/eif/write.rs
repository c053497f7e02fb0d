//! EIF builder, byte-identical to AWS's `EifBuilder`
//! (docs/formats/eif-and-pcrs.md §1.6, §2, §3).
//!
//! Section order: Kernel, Cmdline, Metadata, Ramdisk..., Signature
//! (optional). Header: version 4, `default_mem` 1 GiB, `default_cpus` 2,
//! flags = arch bit, offset/size table filled for every section, CRC last.
//!
//! Inputs are streamed twice and never held in memory: pass 1 hashes them
//! (PCRs, which the signature needs, and the CRC of the section bytes);
//! pass 2 writes. The header CRC is known before the header is written
//! because CRC-32 values combine (`crc32fast::Hasher::combine`), so the
//! output needs only `Write`, not `Seek`. Pass 2 recomputes the CRC and
//! fails with [`EifError::InputChanged`] if an input changed in between.
//!
//! No clock is read: the build time is part of the caller's
//! [`EifMetadata`].

use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::digest::{Digest, Sha384};

use super::signature::sign_section;
use super::{
    Arch, EifError, EifHeader, EifMetadata, SectionHeader, SectionType, CRC_OFFSET,
    CURRENT_VERSION, DEFAULT_CPUS, DEFAULT_MEM, FLAG_ARCH_ARM64, HEADER_LEN, MAX_METADATA_LEN,
    MAX_SECTIONS, MAX_SIGNATURE_LEN, SECTION_HEADER_LEN,
};
use crate::pcr::{ImagePcrs, PcrRouter};

/// A section's content: bytes in memory or a file streamed from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// In-memory bytes.
    Bytes(Vec<u8>),
    /// A file, read twice (hash, then write).
    File(PathBuf),
}

impl Input {
    fn label(&self) -> String {
        match self {
            Input::Bytes(_) => "<memory>".into(),
            Input::File(p) => p.display().to_string(),
        }
    }

    fn open(&self) -> Result<(u64, Box<dyn Read + '_>), EifError> {
        let io = |source| EifError::Io { offset: 0, source };
        match self {
            Input::Bytes(b) => Ok((b.len() as u64, Box::new(&b[..]))),
            Input::File(p) => {
                let f = std::fs::File::open(p)
                    .map_err(|e| io(io::Error::new(e.kind(), format!("{}: {e}", p.display()))))?;
                let len = f.metadata().map_err(io)?.len();
                Ok((len, Box::new(f)))
            }
        }
    }

    fn len(&self) -> Result<u64, EifError> {
        Ok(self.open()?.0)
    }
}

/// Signing material for the optional signature section (ES384 / P-384).
#[derive(Debug, Clone)]
pub struct Signer {
    /// The PEM certificate, stored verbatim in the section.
    pub cert_pem: Vec<u8>,
    /// Its private key.
    pub key: p384::ecdsa::SigningKey,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct EifBuilder {
    /// Kernel image.
    pub kernel: Input,
    /// Kernel command line, stored verbatim (no NUL, no newline added).
    pub cmdline: Vec<u8>,
    /// Ramdisks in order (at least one).
    pub ramdisks: Vec<Input>,
    /// Architecture flag.
    pub arch: Arch,
    /// Metadata section content.
    pub metadata: EifMetadata,
    /// Optional signer.
    pub signer: Option<Signer>,
}

/// Result of a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOutput {
    /// The image's PCRs.
    pub pcrs: ImagePcrs,
    /// Stored CRC-32.
    pub crc32: u32,
    /// Bytes written.
    pub len: u64,
}

const COPY_BUF: usize = 1 << 20;

/// Streams `r` (exactly `len` bytes expected) into `sink`.
fn pump(
    label: &str,
    mut r: impl Read,
    len: u64,
    mut sink: impl FnMut(&[u8]) -> Result<(), EifError>,
) -> Result<(), EifError> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(EifError::Io { offset: total, source }),
        };
        total += n as u64;
        if total > len {
            return Err(EifError::InputChanged(label.to_owned()));
        }
        sink(&buf[..n])?;
    }
    if total != len {
        return Err(EifError::InputChanged(label.to_owned()));
    }
    Ok(())
}

impl EifBuilder {
    fn validate(&self) -> Result<(), EifError> {
        if self.cmdline.contains(&0) {
            return Err(EifError::BadInput("cmdline contains a NUL byte".into()));
        }
        if self.ramdisks.is_empty() {
            return Err(EifError::BadInput("at least one ramdisk is required".into()));
        }
        let n = 3 + self.ramdisks.len() + usize::from(self.signer.is_some());
        if n > MAX_SECTIONS {
            return Err(EifError::BadInput(format!(
                "{n} sections requested, at most {MAX_SECTIONS} fit"
            )));
        }
        Ok(())
    }

    /// Writes the image to `out` and returns its PCRs.
    pub fn write_to<W: Write>(&self, mut out: W) -> Result<BuildOutput, EifError> {
        self.validate()?;
        let metadata = self.metadata.to_bytes();
        if metadata.len() as u64 > MAX_METADATA_LEN {
            return Err(EifError::BadInput(format!(
                "metadata is {} bytes, above {MAX_METADATA_LEN}",
                metadata.len()
            )));
        }

        // Pass 1: PCRs and the CRC of the section bytes.
        let mut crc = crc32fast::Hasher::new();
        let mut router = PcrRouter::new();
        let mut h2 = Sha384::new();
        let kernel_len = self.kernel.len()?;
        let mut sizes = vec![(SectionType::Kernel, kernel_len)];
        sizes.push((SectionType::Cmdline, self.cmdline.len() as u64));
        sizes.push((SectionType::Metadata, metadata.len() as u64));

        crc.update(&SectionHeader::encode(SectionType::Kernel, kernel_len));
        router.begin(SectionType::Kernel);
        let (len, r) = self.kernel.open()?;
        pump(&self.kernel.label(), r, len, |b| {
            crc.update(b);
            router.update(b);
            Ok(())
        })?;
        crc.update(&SectionHeader::encode(SectionType::Cmdline, self.cmdline.len() as u64));
        crc.update(&self.cmdline);
        router.begin(SectionType::Cmdline);
        router.update(&self.cmdline);
        crc.update(&SectionHeader::encode(SectionType::Metadata, metadata.len() as u64));
        crc.update(&metadata);
        for rd in &self.ramdisks {
            let (len, r) = rd.open()?;
            sizes.push((SectionType::Ramdisk, len));
            crc.update(&SectionHeader::encode(SectionType::Ramdisk, len));
            let to_pcr2 = router.begin(SectionType::Ramdisk);
            pump(&rd.label(), r, len, |b| {
                crc.update(b);
                router.update(b);
                if to_pcr2 {
                    h2.update(b);
                }
                Ok(())
            })?;
        }
        let (pcr0, pcr1, pcr2) = router.finish(h2);
        let mut pcr8 = None;
        let signature = match &self.signer {
            Some(s) => {
                let sec = sign_section(&s.cert_pem, &s.key, &pcr0)
                    .map_err(|e| EifError::BadInput(e.to_string()))?;
                if sec.len() as u64 > MAX_SIGNATURE_LEN {
                    return Err(EifError::BadInput(format!(
                        "signature section is {} bytes, above {MAX_SIGNATURE_LEN}",
                        sec.len()
                    )));
                }
                let der = super::signature::cert_pem_to_der(&s.cert_pem)
                    .map_err(|e| EifError::BadInput(e.to_string()))?;
                pcr8 = Some(crate::pcr::extend(&Sha384::digest(der)));
                sizes.push((SectionType::Signature, sec.len() as u64));
                crc.update(&SectionHeader::encode(SectionType::Signature, sec.len() as u64));
                crc.update(&sec);
                Some(sec)
            }
            None => None,
        };

        // Header.
        let mut header = EifHeader {
            version: CURRENT_VERSION,
            flags: if self.arch == Arch::Aarch64 { FLAG_ARCH_ARM64 } else { 0 },
            default_mem: DEFAULT_MEM,
            default_cpus: DEFAULT_CPUS,
            reserved: 0,
            num_sections: sizes.len() as u16,
            section_offsets: [0; MAX_SECTIONS],
            section_sizes: [0; MAX_SECTIONS],
            unused: 0,
            eif_crc32: 0,
        };
        let mut off = HEADER_LEN as u64;
        for (i, (_, size)) in sizes.iter().enumerate() {
            header.section_offsets[i] = off;
            header.section_sizes[i] = *size;
            off = off
                .checked_add(SECTION_HEADER_LEN as u64 + size)
                .ok_or_else(|| EifError::BadInput("image larger than 2^64 bytes".into()))?;
        }
        let total_len = off;
        let mut full = crc32fast::Hasher::new();
        full.update(&header.to_bytes()[..CRC_OFFSET]);
        let section_crc_len = total_len - HEADER_LEN as u64;
        let sections_crc = crc.clone().finalize();
        full.combine(&crc);
        header.eif_crc32 = full.finalize();

        // Pass 2: write, re-checking the section CRC.
        let mut written = 0u64;
        let mut check = crc32fast::Hasher::new();
        let mut put = |b: &[u8], check: &mut crc32fast::Hasher, crc_it: bool| {
            if crc_it {
                check.update(b);
            }
            out.write_all(b).map_err(|source| EifError::Io { offset: written, source })?;
            written += b.len() as u64;
            Ok::<(), EifError>(())
        };
        put(&header.to_bytes(), &mut check, false)?;
        put(&SectionHeader::encode(SectionType::Kernel, kernel_len), &mut check, true)?;
        let (len, r) = self.kernel.open()?;
        pump(&self.kernel.label(), r, len, |b| put(b, &mut check, true))?;
        put(
            &SectionHeader::encode(SectionType::Cmdline, self.cmdline.len() as u64),
            &mut check,
            true,
        )?;
        put(&self.cmdline, &mut check, true)?;
        put(
            &SectionHeader::encode(SectionType::Metadata, metadata.len() as u64),
            &mut check,
            true,
        )?;
        put(&metadata, &mut check, true)?;
        for rd in &self.ramdisks {
            let (len, r) = rd.open()?;
            put(&SectionHeader::encode(SectionType::Ramdisk, len), &mut check, true)?;
            pump(&rd.label(), r, len, |b| put(b, &mut check, true))?;
        }
        if let Some(sec) = &signature {
            put(
                &SectionHeader::encode(SectionType::Signature, sec.len() as u64),
                &mut check,
                true,
            )?;
            put(sec, &mut check, true)?;
        }
        if check.finalize() != sections_crc
            || written != total_len
            || written - HEADER_LEN as u64 != section_crc_len
        {
            return Err(EifError::InputChanged("an input".into()));
        }
        out.flush().map_err(|source| EifError::Io { offset: written, source })?;
        Ok(BuildOutput {
            pcrs: ImagePcrs { pcr0, pcr1, pcr2, pcr8 },
            crc32: header.eif_crc32,
            len: written,
        })
    }

    /// Builds into memory (small images, tests).
    pub fn to_vec(&self) -> Result<(Vec<u8>, BuildOutput), EifError> {
        let mut v = Vec::new();
        let out = self.write_to(&mut v)?;
        Ok((v, out))
    }
}
