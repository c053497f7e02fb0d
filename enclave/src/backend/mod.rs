//! The seams to hardware and cloud: the Nitro Security Module and AWS KMS.
//!
//! Each trait has a real implementation (the `/dev/nsm` driver; the AWS KMS
//! JSON API with SigV4) and a local counterpart that speaks the same protocol
//! (a development NSM that signs with a test CA and measures a real EIF; the
//! `proofpack-kms-local` HTTP server). Which is which is documented on each
//! implementation.

pub mod kms_http;
pub mod nsm;
#[cfg(feature = "dev-nsm")]
pub mod nsm_dev;

use std::collections::BTreeMap;

use crate::secret::SecretBytes;

pub use attestation::AttestationRequest;

/// Errors from an NSM backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NsmError {
    /// The device could not be opened or the request failed at the driver.
    #[error("NSM device error: {0}")]
    Device(String),
    /// The NSM answered with an error code.
    #[error("NSM refused the request: {0}")]
    Refused(String),
    /// A request field exceeds the NSM's limits.
    #[error("NSM request field {field} is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Field name.
        field: &'static str,
        /// Actual length.
        len: usize,
        /// Limit.
        max: usize,
    },
}

/// The Nitro Security Module: produces COSE_Sign1 attestation documents.
pub trait Nsm: Send + Sync {
    /// Returns the exact COSE_Sign1 bytes of a fresh attestation document.
    fn attest(&self, req: &AttestationRequest) -> Result<Vec<u8>, NsmError>;

    /// A short label for reports: `"nitro"` for hardware, `"development"` for the dev NSM.
    fn kind(&self) -> &'static str;
}

/// The KMS `Recipient` parameter: an attestation document whose `public_key`
/// KMS encrypts the result to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Exact COSE_Sign1 bytes from the NSM.
    pub attestation_document: Vec<u8>,
    /// Always `RSAES_OAEP_SHA_256`, the only value KMS accepts.
    pub key_encryption_algorithm: String,
}

/// Encryption context: KMS treats it as additional authenticated data.
pub type EncryptionContext = BTreeMap<String, String>;

/// A KMS `Decrypt` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptRequest {
    /// The ciphertext blob.
    pub ciphertext_blob: Vec<u8>,
    /// The key id or ARN, when known.
    pub key_id: Option<String>,
    /// Encryption context; must equal the one used to encrypt.
    pub encryption_context: EncryptionContext,
    /// When set, KMS answers with `ciphertext_for_recipient` instead of plaintext.
    pub recipient: Option<Recipient>,
}

/// A KMS `Decrypt` response.
#[derive(Debug)]
pub struct DecryptResponse {
    /// ARN of the key that decrypted.
    pub key_id: String,
    /// Plaintext, only when no `Recipient` was given.
    pub plaintext: Option<SecretBytes>,
    /// BER CMS EnvelopedData encrypted to the recipient's RSA key.
    pub ciphertext_for_recipient: Option<Vec<u8>>,
}

/// A KMS `Encrypt` request.
#[derive(Debug)]
pub struct EncryptRequest {
    /// The key id or ARN.
    pub key_id: String,
    /// Plaintext (at most 4096 bytes for KMS).
    pub plaintext: SecretBytes,
    /// Encryption context.
    pub encryption_context: EncryptionContext,
}

/// A KMS `Encrypt` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptResponse {
    /// ARN of the key that encrypted.
    pub key_id: String,
    /// The ciphertext blob.
    pub ciphertext_blob: Vec<u8>,
}

/// Errors from a KMS backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// KMS refused: policy denial, disabled or pending-deletion key, bad context.
    /// `code` is the AWS error type (e.g. `AccessDeniedException`,
    /// `DisabledException`, `KMSInvalidStateException`, `InvalidCiphertextException`).
    #[error("KMS {operation} with key {key}: {code}: {message}")]
    Service {
        /// Operation name, e.g. `Decrypt`.
        operation: &'static str,
        /// Key id or ARN, or `(unknown)`.
        key: String,
        /// AWS error type.
        code: String,
        /// Message from the service.
        message: String,
    },
    /// The transport failed (connection, timeout, malformed response).
    #[error("KMS transport error: {0}")]
    Transport(String),
}

/// AWS KMS, as far as the pack and seal flows need it.
pub trait Kms: Send + Sync {
    /// `Decrypt`.
    fn decrypt(&self, req: &DecryptRequest) -> Result<DecryptResponse, KmsError>;
    /// `Encrypt`.
    fn encrypt(&self, req: &EncryptRequest) -> Result<EncryptResponse, KmsError>;

    /// `Decrypt`, also returning the AWS request id (`x-amzn-RequestId`) of
    /// the call when the backend knows it, success or failure. Receipts record
    /// it so an auditor can match CloudTrail. The default knows no id.
    fn decrypt_traced(
        &self,
        req: &DecryptRequest,
    ) -> (Result<DecryptResponse, KmsError>, Option<String>) {
        (self.decrypt(req), None)
    }

    /// `Encrypt`, also returning the AWS request id (see [`Kms::decrypt_traced`]).
    fn encrypt_traced(
        &self,
        req: &EncryptRequest,
    ) -> (Result<EncryptResponse, KmsError>, Option<String>) {
        (self.encrypt(req), None)
    }

    /// Calls this backend sent again after a transient failure (issue 17).
    /// A per-job backend ([`kms_http::KmsHttpClient::for_job`]) counts its
    /// job's retries; the default has none.
    fn retries(&self) -> u32 {
        0
    }
}
