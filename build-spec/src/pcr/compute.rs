//! PCR arithmetic (docs/formats/eif-and-pcrs.md §4): `PCR = SHA384(0^48 || SHA384(content))`.

use std::io::{self, Read};

use crate::digest::{Digest, Sha384};

use super::{Measurements, Pcr};

/// TPM-style extend of an all-zero register with `digest`.
pub fn extend(digest: &[u8]) -> Pcr {
    let mut h = Sha384::new();
    h.update([0u8; 48]);
    h.update(digest);
    h.finalize().into()
}

/// PCR of a finished content hasher.
pub fn finish(h: Sha384) -> Pcr {
    extend(&h.finalize())
}

/// `nitro-cli pcr --input FILE`: the extend of the SHA-384 of all bytes of
/// `r`, streamed.
pub fn pcr_of_reader<R: Read>(mut r: R) -> io::Result<Pcr> {
    let mut h = Sha384::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    Ok(finish(h))
}

/// Routes section data into the PCR content hashes (docs/formats/eif-and-pcrs.md §4.2), shared by
/// the reader and the builder so the rule lives in one place.
///
/// Kernel and cmdline go to PCR0 and PCR1; the first ramdisk to PCR0 and
/// PCR1; later ramdisks to PCR0 and PCR2; other sections nowhere. PCR1's
/// content is a prefix of PCR0's until the second ramdisk starts, so PCR1
/// needs no hasher of its own until then: it is a clone of PCR0's state.
/// PCR2's hasher is the caller's (the reader runs it on another thread).
#[derive(Debug, Clone, Default)]
pub struct PcrRouter {
    h0: Sha384,
    h1: Option<Sha384>,
    ramdisks: usize,
    measured: bool,
    to_pcr2: bool,
}

impl PcrRouter {
    /// A router before any section.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a section of `kind`; returns true if its bytes also belong to
    /// PCR2's content (the caller feeds them to its PCR2 hasher).
    pub fn begin(&mut self, kind: crate::eif::SectionType) -> bool {
        use crate::eif::SectionType as T;
        self.measured = matches!(kind, T::Kernel | T::Cmdline | T::Ramdisk);
        self.to_pcr2 = false;
        if kind == T::Ramdisk {
            self.ramdisks += 1;
            if self.ramdisks == 2 {
                self.h1 = Some(self.h0.clone());
            }
            self.to_pcr2 = self.ramdisks >= 2;
        }
        self.to_pcr2
    }

    /// Feeds bytes of the current section to PCR0 (and PCR1 where they
    /// belong).
    pub fn update(&mut self, bytes: &[u8]) {
        if !self.measured {
            return;
        }
        self.h0.update(bytes);
        if !self.to_pcr2 {
            // Only non-empty after the second ramdisk, i.e. for a kernel or
            // cmdline placed after it (non-canonical layouts).
            if let Some(h1) = self.h1.as_mut() {
                h1.update(bytes);
            }
        }
    }

    /// PCR0, PCR1 and PCR2 (from the caller's PCR2 content hasher).
    pub fn finish(self, c2: Sha384) -> (Pcr, Pcr, Pcr) {
        let pcr1 = finish(self.h1.unwrap_or_else(|| self.h0.clone()));
        (finish(self.h0), pcr1, finish(c2))
    }
}

/// The PCRs an image defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePcrs {
    /// Kernel, cmdline and every ramdisk.
    pub pcr0: Pcr,
    /// Kernel, cmdline and the first ramdisk.
    pub pcr1: Pcr,
    /// Second and later ramdisks.
    pub pcr2: Pcr,
    /// Signing certificate, only for signed images.
    pub pcr8: Option<Pcr>,
}

impl ImagePcrs {
    /// As a [`Measurements`] set (PCR8 only when signed).
    pub fn to_measurements(&self) -> Measurements {
        let mut m = Measurements::new();
        m.insert(0, self.pcr0);
        m.insert(1, self.pcr1);
        m.insert(2, self.pcr2);
        if let Some(p) = self.pcr8 {
            m.insert(8, p);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_pcr2_constant() {
        assert_eq!(
            hex::encode(pcr_of_reader(&b""[..]).expect("hash")),
            "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a"
        );
        assert_eq!(
            hex::encode(pcr_of_reader(&b"ramdisk-two"[..]).expect("hash")),
            "2cd856f1e4972f1947f680062077b9dc8d0c6179f7098d8ff298ff592accf884ed26df19b87937cbfe620dc14fc57bad"
        );
    }
}
