//! Reading and opening artifacts (receipts.md §5.1, §5.6).

use zeroize::Zeroizing;

use super::content::{decrypt_content, unwrap_dek};
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

/// Parses the framing and the header.
pub fn parse(bytes: &[u8]) -> Result<ParsedArtifact<'_>, EnvelopeError> {
    if bytes.len() < 12 {
        return Err(EnvelopeError::Truncated { len: bytes.len(), need: 12 });
    }
    if bytes[..6] != MAGIC[..6] {
        return Err(EnvelopeError::BadMagic);
    }
    let version = u16::from_be_bytes([bytes[6], bytes[7]]);
    if version != 1 {
        return Err(EnvelopeError::Version(version));
    }
    let h = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let hl = h as usize;
    if hl == 0 || hl > MAX_HEADER {
        return Err(EnvelopeError::HeaderLength(h));
    }
    let need = 12 + hl + 16;
    if bytes.len() < need {
        return Err(EnvelopeError::Truncated { len: bytes.len(), need });
    }
    if bytes.len() - need > MAX_PLAINTEXT {
        return Err(EnvelopeError::TooLarge(bytes.len() - need));
    }
    let header = Header::parse(&bytes[12..12 + hl])?;
    Ok(ParsedArtifact { header, aad: &bytes[..12 + hl], sealed: &bytes[12 + hl..] })
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
