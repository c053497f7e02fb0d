//! The Nix view of a build output: its NAR hash and the content-addressed
//! store path it would get.
//!
//! The NAR serialisation itself comes from the `nix-nar` crate. The store path
//! arithmetic (Nix's base-32 alphabet, the 20-byte XOR fold and the
//! `source:sha256:…` fingerprint of a recursive SHA-256 fixed-output path) is
//! a few lines no crate in our dependency set provides; it follows Nix's
//! `makeFixedOutputPath` / `makeStorePath` / `compressHash` / `printHash32`.

use std::io::Read;
use std::path::Path;

use crate::digest::{Digest, Sha256};
use serde::{Deserialize, Serialize};

use super::BuildError;

/// Nix's base-32 alphabet (no e, o, u, t).
const NIX32: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Nix's base-32 encoding (least significant 5-bit group first, printed in
/// reverse).
pub fn nix32(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    let len = (bytes.len() * 8 - 1) / 5 + 1;
    let mut s = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let lo = (bytes[i] as u32) >> j;
        let hi = if i + 1 < bytes.len() { (bytes[i + 1] as u32) << (8 - j) } else { 0 };
        s.push(NIX32[((lo | hi) & 0x1f) as usize] as char);
    }
    s
}

/// Nix's `compressHash`: XOR-fold to `n` bytes.
fn compress(hash: &[u8], n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    for (i, b) in hash.iter().enumerate() {
        out[i % n] ^= b;
    }
    out
}

/// NAR hash and store path of one output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NixInfo {
    /// `sha256:<nix32>` of the NAR serialisation.
    pub nar_hash: String,
    /// The NAR SHA-256 as lowercase hex.
    pub nar_sha256_hex: String,
    /// NAR size in bytes.
    pub nar_size: u64,
    /// `/nix/store/<hash>-<name>` of a recursive SHA-256 fixed-output path.
    pub store_path: String,
}

/// Store path of content-addressed (recursive, SHA-256) content with the
/// given NAR SHA-256.
pub fn store_path(nar_sha256: &[u8; 32], name: &str) -> String {
    let fingerprint = format!("source:sha256:{}:/nix/store:{name}", hex::encode(nar_sha256));
    let h = Sha256::digest(fingerprint.as_bytes());
    format!("/nix/store/{}-{name}", nix32(&compress(&h, 20)))
}

/// NAR-serialises `path` (file or directory) and derives [`NixInfo`].
pub fn nix_info(path: &Path, name: &str) -> Result<NixInfo, BuildError> {
    let io = |e: std::io::Error| BuildError::Io {
        what: format!("NAR-serialising {}", path.display()),
        source: e,
    };
    let mut enc = nix_nar::Encoder::new(path).map_err(|e| BuildError::Io {
        what: format!("NAR-serialising {}", path.display()),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = enc.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    let digest: [u8; 32] = h.finalize().into();
    Ok(NixInfo {
        nar_hash: format!("sha256:{}", nix32(&digest)),
        nar_sha256_hex: hex::encode(digest),
        nar_size: size,
        store_path: store_path(&digest, name),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nix32_known_values() {
        // `nix hash to-base32 sha256:` of the empty string's SHA-256.
        let empty = Sha256::digest(b"");
        assert_eq!(nix32(&empty), "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
    }

    #[test]
    fn nar_of_single_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("hello");
        std::fs::write(&f, b"hello\n").unwrap();
        let info = nix_info(&f, "hello").unwrap();
        // NAR of a regular non-executable file "hello\n" (hand-derived from
        // the NAR grammar: 13-byte magic string, "(", "type", "regular",
        // "contents", 6 bytes, ")").
        let mut expect = Vec::new();
        for s in [&b"nix-archive-1"[..], b"(", b"type", b"regular", b"contents", b"hello\n", b")"] {
            expect.extend_from_slice(&(s.len() as u64).to_le_bytes());
            expect.extend_from_slice(s);
            expect.resize(expect.len().div_ceil(8) * 8, 0);
        }
        assert_eq!(info.nar_size, expect.len() as u64);
        assert_eq!(info.nar_sha256_hex, hex::encode(Sha256::digest(&expect)));
        assert!(info.store_path.starts_with("/nix/store/"));
        assert_eq!(info.store_path.len(), "/nix/store/".len() + 32 + 1 + 5);
    }
}
