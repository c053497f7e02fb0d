//! The deployment artifact (docs/formats/receipts.md §5): a versioned two-level envelope.
//!
//! ```text
//! magic "PPACK\0" ‖ version 0x0001 ‖ H (u32 BE) ‖ header (JCS JSON, H bytes) ‖ ciphertext ‖ tag
//! ```
//!
//! Content: AES-256-GCM under a fresh data key (DEK), 12-byte IV, AAD = every
//! byte before the ciphertext. Level 1: the DEK wrapped with RSA-OAEP
//! (SHA-512, MGF1-SHA-512, empty label) for each recipient. Level 2
//! (optional): that OAEP ciphertext encrypted again with `kms:Encrypt` under
//! the recipient's KMS key, so neither the RSA key nor KMS alone opens it.

mod content;
pub(crate) mod framing;
mod header;
mod read;
mod write;

pub use content::{append_encrypted, decrypt_content, encrypt_content, unwrap_dek, wrap_dek};
pub use header::{content_member, Header, RecipientEntry, WrapKms};
pub use read::{open, parse, ParsedArtifact};
pub use write::{seal, SealRecipient, Sealed};

/// File magic: `PPACK`, 0x00, format version 1 (big-endian u16).
pub const MAGIC: [u8; 8] = *b"PPACK\x00\x00\x01";
/// The header `format` value.
pub const FORMAT: &str = "https://proofpack.dev/artifact/v1";
/// The artifact media type.
pub const MEDIA_TYPE: &str = "application/vnd.proofpack.artifact.v1";
/// `content.alg`.
pub const CONTENT_ALG: &str = "A256GCM";
/// `recipients[].keyWrap`.
pub const KEY_WRAP: &str = "RSA-OAEP-SHA512";
/// `recipients[].kms.encryptionAlgorithm`.
pub const KMS_ALG: &str = "SYMMETRIC_DEFAULT";
/// Largest header.
pub const MAX_HEADER: usize = 1024 * 1024;
/// Largest plaintext (1 GiB).
pub const MAX_PLAINTEXT: usize = 1 << 30;
/// Most recipients per artifact.
pub const MAX_RECIPIENTS: usize = 64;
/// Largest artifact file: framing (12), header, GCM tag (16) and plaintext.
/// Readers refuse a larger file before reading it.
pub const MAX_FILE: usize = 12 + MAX_HEADER + 16 + MAX_PLAINTEXT;

/// Errors reading, opening or writing an artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Shorter than its own length fields say.
    #[error("artifact truncated: {len} bytes, need at least {need}")]
    Truncated {
        /// Actual length.
        len: usize,
        /// Minimum for the header it declares.
        need: usize,
    },
    /// The first 6 bytes are not `PPACK\0`.
    #[error("not a proofpack artifact (bad magic)")]
    BadMagic,
    /// A format version this reader does not know.
    #[error("unsupported artifact format version {0}")]
    Version(u16),
    /// H is 0 or above the limit.
    #[error("artifact header length {0} is out of range 1..={MAX_HEADER}")]
    HeaderLength(u32),
    /// The header is not valid or not what the format requires.
    #[error("artifact header field {field}: {problem}")]
    Header {
        /// JSON path in the header.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// None of the header's recipients is this key.
    #[error("this key ({0}) is not a recipient of the artifact")]
    NotRecipient(String),
    /// The entry needs a KMS decrypt but no KMS was configured.
    #[error("the recipient entry is wrapped with KMS key {0}; a KMS endpoint is required")]
    KmsRequired(String),
    /// The KMS call failed.
    #[error("KMS: {0}")]
    Kms(#[from] crate::backend::KmsError),
    /// RSA-OAEP unwrap failed (deliberately not more specific).
    #[error("unwrapping the data key failed")]
    UnwrapFailed,
    /// GCM authentication of the content failed.
    #[error("artifact content failed authentication (tampered header, ciphertext or tag)")]
    ContentAuth,
    /// The plaintext is too large.
    #[error("plaintext is {0} bytes, more than the 1 GiB limit")]
    TooLarge(usize),
    /// The writer was given invalid input.
    #[error("cannot seal: {0}")]
    Seal(String),
}

/// `keyId` of an RSA public key: SHA-256 of its DER SubjectPublicKeyInfo.
pub fn key_id(public: &rsa::RsaPublicKey) -> Result<[u8; 32], EnvelopeError> {
    use rsa::pkcs8::EncodePublicKey;
    use sha2::{Digest, Sha256};
    let der = public.to_public_key_der().map_err(|e| EnvelopeError::Seal(e.to_string()))?;
    Ok(Sha256::digest(der.as_bytes()).into())
}
