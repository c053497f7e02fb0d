//! The two primitives every proofpack envelope shares: AES-256-GCM content
//! encryption under a data key (DEK) with the framing bytes as AAD, and the
//! level-1 wrap of that DEK with RSA-OAEP (SHA-512, MGF1-SHA-512, empty
//! label). The deployment artifact (this module's parent) and the sealed
//! input ([`crate::seal`]) both use them, so there is one implementation of
//! each to review.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use sha2::Sha512;
use zeroize::Zeroizing;

use super::EnvelopeError;
use crate::secret::{SecretBytes, SecretKey32};

/// AES-256-GCM encryption of `plaintext` with `aad`; returns ciphertext ‖ tag.
pub fn encrypt_content(
    dek: &SecretKey32,
    iv: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    Aes256Gcm::new(dek.expose().into())
        .encrypt(iv.into(), Payload { msg: plaintext, aad })
        .map_err(|_| EnvelopeError::Seal("AES-GCM encryption failed".into()))
}

/// AES-256-GCM encryption of `plaintext` appended to `out`, with everything
/// already in `out` (the framing prefix) as AAD: ciphertext ‖ tag end up
/// right after the prefix without an intermediate copy (this matters for
/// large inputs: one buffer of the output size, filled once).
pub fn append_encrypted(
    dek: &SecretKey32,
    iv: &[u8; 12],
    out: &mut Vec<u8>,
    plaintext: &[u8],
) -> Result<(), EnvelopeError> {
    use aes_gcm::aead::AeadInPlace;
    let aad_len = out.len();
    out.reserve_exact(plaintext.len() + 16);
    out.extend_from_slice(plaintext);
    let (aad, body) = out.split_at_mut(aad_len);
    let tag = Aes256Gcm::new(dek.expose().into())
        .encrypt_in_place_detached(iv.into(), aad, body)
        .map_err(|_| EnvelopeError::Seal("AES-GCM encryption failed".into()))?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// AES-256-GCM decryption of ciphertext ‖ tag. No plaintext is released
/// unless the tag verifies ([`EnvelopeError::ContentAuth`] otherwise).
pub fn decrypt_content(
    dek: &SecretKey32,
    iv: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<SecretBytes, EnvelopeError> {
    Aes256Gcm::new(dek.expose().into())
        .decrypt(iv.into(), Payload { msg: sealed, aad })
        .map(SecretBytes::new)
        .map_err(|_| EnvelopeError::ContentAuth)
}

/// Level-1 wrap: RSA-OAEP (SHA-512, MGF1-SHA-512, empty label) of the DEK.
/// The result is zeroized on drop (with the RSA key it is the DEK).
pub fn wrap_dek(
    public: &rsa::RsaPublicKey,
    dek: &SecretKey32,
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    public
        .encrypt(&mut OsRng, rsa::Oaep::new::<Sha512>(), dek.expose())
        .map(Zeroizing::new)
        .map_err(|e| EnvelopeError::Seal(format!("RSA-OAEP: {e}")))
}

/// Level-1 unwrap: RSA-OAEP (SHA-512, MGF1-SHA-512, empty label) of the
/// 32-byte DEK. Every failure is the same [`EnvelopeError::UnwrapFailed`]
/// (no padding oracle).
pub fn unwrap_dek(key: &rsa::RsaPrivateKey, wrapped: &[u8]) -> Result<SecretKey32, EnvelopeError> {
    if wrapped.len() != key.size() {
        return Err(EnvelopeError::UnwrapFailed);
    }
    let dek = Zeroizing::new(
        key.decrypt(rsa::Oaep::new::<Sha512>(), wrapped)
            .map_err(|_| EnvelopeError::UnwrapFailed)?,
    );
    SecretKey32::from_slice(&dek).ok_or(EnvelopeError::UnwrapFailed)
}
