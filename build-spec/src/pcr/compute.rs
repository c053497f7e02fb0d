//! PCR arithmetic (spec §4): `PCR = SHA384(0^48 || SHA384(content))`.

use std::io::{self, Read};

use sha2::{Digest, Sha384};

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
