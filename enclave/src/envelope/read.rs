//! Reading and opening artifacts (docs/formats/receipts.md §5.1, §5.6).

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use zeroize::Zeroizing;

use super::content::{decrypt_content, unwrap_dek};
use super::framing::{self, Format, FrameError};
use super::header::Header;
use super::{key_id, EnvelopeError, MAGIC, MAX_HEADER, MAX_PLAINTEXT};
use crate::backend::{DecryptRequest, Kms};
use crate::secret::SecretBytes;

/// A structurally valid artifact (nothing authenticated yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedArtifact<'a> {
    /// The parsed header (untrusted until the content tag verifies).
    pub header: Header,
    /// magic ‖ H ‖ header: the GCM AAD.
    pub aad: &'a [u8],
    /// ciphertext ‖ tag.
    pub sealed: &'a [u8],
}

/// The artifact's parameters of the shared framing.
const FORMAT: Format =
    Format { magic: &MAGIC, max_header: MAX_HEADER, max_plaintext: MAX_PLAINTEXT };

impl From<FrameError> for EnvelopeError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Truncated { len, need } => EnvelopeError::Truncated { len, need },
            FrameError::BadMagic => EnvelopeError::BadMagic,
            FrameError::Version(v) => EnvelopeError::Version(v),
            FrameError::HeaderLength(h) => EnvelopeError::HeaderLength(h),
            FrameError::TooLarge(n) => EnvelopeError::TooLarge(n),
        }
    }
}

/// Parses the framing and the header.
pub fn parse(bytes: &[u8]) -> Result<ParsedArtifact<'_>, EnvelopeError> {
    let frame = framing::split(bytes, &FORMAT)?;
    let header = Header::parse(frame.header)?;
    Ok(ParsedArtifact { header, aad: frame.aad, sealed: frame.sealed })
}

/// Opens an artifact with the recipient's RSA private key, calling KMS for a
/// level-2 entry. Returns the plaintext only if the GCM tag verifies.
pub fn open(
    bytes: &[u8],
    key: &rsa::RsaPrivateKey,
    kms: Option<&dyn Kms>,
) -> Result<SecretBytes, EnvelopeError> {
    let parsed = parse(bytes)?;
    let public = key.to_public_key();
    let my_id = key_id(&public)?;
    let entry = parsed
        .header
        .recipients
        .iter()
        .find(|r| r.key_id == my_id)
        .ok_or_else(|| EnvelopeError::NotRecipient(hex::encode(my_id)))?;
    let wrapped: Zeroizing<Vec<u8>> = match &entry.kms {
        None => Zeroizing::new(entry.wrapped_key.clone()),
        Some(k) => {
            let kms = kms.ok_or_else(|| EnvelopeError::KmsRequired(k.key_arn.clone()))?;
            let resp = kms.decrypt(&DecryptRequest {
                ciphertext_blob: entry.wrapped_key.clone(),
                key_id: Some(k.key_arn.clone()),
                encryption_context: k.encryption_context.clone(),
                recipient: None,
            })?;
            let pt = resp.plaintext.ok_or(EnvelopeError::UnwrapFailed)?;
            Zeroizing::new(pt.expose().to_vec())
        }
    };
    let dek = unwrap_dek(key, &wrapped)?;
    decrypt_content(&dek, &parsed.header.iv, parsed.aad, parsed.sealed)
}
