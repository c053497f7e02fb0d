//! The ciphertext blob format of `proofpack-kms-local` (version 1).
//!
//! Real KMS blobs are opaque; ours are documented so that tests can reason
//! about them:
//!
//! ```text
//! offset  size  field
//! 0       4     magic "PPK1"
//! 4       1     L = length of the key id (1..=64)
//! 5       L     key id (ASCII, the UUID of the key, not the ARN)
//! 5+L     12    AES-GCM nonce (random)
//! 17+L    n+16  AES-256-GCM(key material, nonce, plaintext, AAD) ‖ tag
//!
//! AAD = bytes[0 .. 5+L] ‖ canonical(encryption context)
//! canonical(ctx) = u32be(count) ‖ for each (k, v) sorted by k (bytewise):
//!                  u32be(len k) ‖ k ‖ u32be(len v) ‖ v
//! ```
//!
//! The key id is bound through the AAD (a blob cannot be re-labelled to
//! another key), and so is the whole encryption context (a different context
//! fails authentication, like KMS's `InvalidCiphertextException`).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;

use enclave::backend::EncryptionContext;

/// Magic and version.
pub const MAGIC: &[u8; 4] = b"PPK1";
/// KMS's limit on `CiphertextBlob`.
pub const MAX_BLOB: usize = 6144;
/// KMS's limit on `Encrypt` plaintext.
pub const MAX_PLAINTEXT: usize = 4096;
/// Longest key id we write or accept.
pub const MAX_KEY_ID: usize = 64;

/// Why a blob was rejected (all map to `InvalidCiphertextException`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobError {
    /// Too short, too long, or the magic is wrong.
    #[error("ciphertext blob is malformed at offset {offset}: {what}")]
    Malformed {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// Authentication failed (wrong key, context or tampered bytes).
    #[error("ciphertext blob failed authentication (wrong encryption context or tampered)")]
    Authentication,
    /// Plaintext larger than KMS allows.
    #[error("plaintext is {0} bytes, more than 4096")]
    PlaintextTooLarge(usize),
}

/// Canonical encoding of an encryption context for the AAD.
pub fn canonical_context(ctx: &EncryptionContext) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(ctx.len() as u32).to_be_bytes());
    // BTreeMap iterates in bytewise key order.
    for (k, v) in ctx {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

fn header(key_id: &str) -> Vec<u8> {
    let mut h = Vec::with_capacity(5 + key_id.len());
    h.extend_from_slice(MAGIC);
    h.push(key_id.len() as u8);
    h.extend_from_slice(key_id.as_bytes());
    h
}

/// Encrypts `plaintext` under `key` (material of key `key_id`).
pub fn seal(
    key_id: &str,
    key: &[u8; 32],
    plaintext: &[u8],
    ctx: &EncryptionContext,
) -> Result<Vec<u8>, BlobError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(BlobError::PlaintextTooLarge(plaintext.len()));
    }
    if key_id.is_empty() || key_id.len() > MAX_KEY_ID || !key_id.is_ascii() {
        return Err(BlobError::Malformed { offset: 4, what: "key id length" });
    }
    let mut out = header(key_id);
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let aad = [out.as_slice(), &canonical_context(ctx)].concat();
    let cipher = Aes256Gcm::new(key.into());
    let ct = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: &aad })
        .map_err(|_| BlobError::Authentication)?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Reads the key id from a blob without decrypting.
pub fn key_id_of(blob: &[u8]) -> Result<&str, BlobError> {
    if blob.len() > MAX_BLOB {
        return Err(BlobError::Malformed { offset: MAX_BLOB, what: "longer than 6144 bytes" });
    }
    if blob.len() < 5 || &blob[..4] != MAGIC {
        return Err(BlobError::Malformed { offset: 0, what: "magic is not PPK1" });
    }
    let l = blob[4] as usize;
    if l == 0 || l > MAX_KEY_ID {
        return Err(BlobError::Malformed { offset: 4, what: "key id length" });
    }
    if blob.len() < 5 + l + 12 + 16 {
        return Err(BlobError::Malformed { offset: blob.len(), what: "truncated" });
    }
    std::str::from_utf8(&blob[5..5 + l])
        .ok()
        .filter(|s| s.is_ascii())
        .ok_or(BlobError::Malformed { offset: 5, what: "key id is not ASCII" })
}

/// Decrypts a blob with the key material of the key it names. The returned
/// plaintext is zeroized on drop.
pub fn open(
    blob: &[u8],
    key: &[u8; 32],
    ctx: &EncryptionContext,
) -> Result<zeroize::Zeroizing<Vec<u8>>, BlobError> {
    let id = key_id_of(blob)?;
    let hl = 5 + id.len();
    let aad = [&blob[..hl], canonical_context(ctx).as_slice()].concat();
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&blob[hl..hl + 12]);
    cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: &blob[hl + 12..], aad: &aad })
        .map(zeroize::Zeroizing::new)
        .map_err(|_| BlobError::Authentication)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn round_trip_and_bindings() {
        let k = [7u8; 32];
        let c = ctx(&[("b", "2"), ("a", "1")]);
        let blob = seal("1234abcd-0000", &k, b"secret", &c).unwrap();
        assert_eq!(key_id_of(&blob).unwrap(), "1234abcd-0000");
        assert_eq!(open(&blob, &k, &c).unwrap().as_slice(), b"secret");
        // Context differs (value, extra pair, missing pair) -> authentication error.
        for bad in [
            ctx(&[("a", "1"), ("b", "3")]),
            ctx(&[("a", "1")]),
            ctx(&[("a", "1"), ("b", "2"), ("c", "")]),
        ] {
            assert_eq!(open(&blob, &k, &bad).unwrap_err(), BlobError::Authentication);
        }
        // Another key, or a relabelled key id -> authentication error.
        assert_eq!(open(&blob, &[8u8; 32], &c).unwrap_err(), BlobError::Authentication);
        let mut relabel = blob.clone();
        relabel[5] = b'2';
        assert_eq!(open(&relabel, &k, &c).unwrap_err(), BlobError::Authentication);
        // Every single-byte flip is rejected.
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 1;
            assert!(open(&t, &k, &c).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn context_canonical_form_is_unambiguous() {
        // ("ab","c") and ("a","bc") must differ.
        assert_ne!(
            canonical_context(&ctx(&[("ab", "c")])),
            canonical_context(&ctx(&[("a", "bc")]))
        );
    }

    #[test]
    fn malformed_blobs() {
        assert!(matches!(key_id_of(b"PPK0xxxx"), Err(BlobError::Malformed { offset: 0, .. })));
        assert!(matches!(key_id_of(b"PPK1\x00"), Err(BlobError::Malformed { offset: 4, .. })));
        assert!(matches!(
            key_id_of(b"PPK1\x03abc"),
            Err(BlobError::Malformed { what: "truncated", .. })
        ));
        assert!(key_id_of(&vec![0u8; MAX_BLOB + 1]).is_err());
        assert_eq!(
            seal("k", &[0; 32], &vec![0; 4097], &EncryptionContext::new()).unwrap_err(),
            BlobError::PlaintextTooLarge(4097)
        );
    }
}
