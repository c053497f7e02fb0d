//! Sealed inputs (issue 10, the seed's "sealed per-job secrets"): data a user
//! encrypts on their own machine so that only the attested enclave image,
//! acting for that user, can read it — and that a single KMS key deletion
//! makes unreadable forever (crypto-shredding).
//!
//! ```text
//! user machine (proofpack seal)              enclave (pack job)
//! ─────────────────────────────              ─────────────────────────────────────────────
//! verify org-key attestation (PCRs, key)     Decrypt(org bundle blob, Recipient=doc_K) ─ CMS
//! DEK, IV  ← random                            → org RSA private key (PKCS#8, in memory)
//! W1 = RSA-OAEP-SHA512(org public, DEK)      Decrypt(wrappedKey, user key, ctx, Recipient=doc_K)
//! W2 = kms:Encrypt(user key, W1, ctx)          ─ CMS → W1
//! C  = AES-256-GCM(DEK, IV, AAD=prefix, pt)  DEK = RSA-OAEP-SHA512⁻¹(org private, W1)
//! file = prefix ‖ C                          pt  = AES-256-GCM⁻¹(DEK, IV, AAD, C), memory only
//! ```
//!
//! At rest the data is `USER_KMS(ORG_RSA(DEK))` plus the ciphertext, as the
//! seed draws it. Neither layer alone opens it: the organisation key is only
//! ever in plaintext inside the enclave image whose PCRs its KMS key policy
//! pins, and the user's KMS key (level 2) only answers that image, only with
//! the encryption context naming that user (and job, when sealed for one).
//! Disabling or deleting the user's key therefore shreds exactly that user's
//! inputs.
//!
//! **File format** (version 1; all integers big-endian):
//!
//! ```text
//! offset  size  field
//! 0       8     magic = "PPSEAL" 0x00 0x01   (format version 1)
//! 8       4     H = header length, 1 ≤ H ≤ 65 536
//! 12      H     header = JCS JSON object (see [`SealedHeader`])
//! 12+H    N+16  AES-256-GCM ciphertext ‖ 16-byte tag, N ≤ 1 GiB
//! ```
//!
//! AAD = bytes `[0, 12+H)`, so every header field (user, job, org key,
//! KMS key, context, wrapped key, IV, content type) is authenticated by the
//! content tag. Header fields are nevertheless checked *before* any KMS call
//! against what the job expects (user, job, organisation key, context), so a
//! swapped field is a typed error and never reaches KMS with the wrong context.
//!
//! Encryption context of the level-2 wrap (KMS authenticates it, CloudTrail
//! logs it, so it names only identifiers):
//!
//! | key | value |
//! | --- | --- |
//! | `proofpack:user` | the user the input is sealed for |
//! | `proofpack:org-key` | fingerprint (SHA-256 of the SPKI DER) of the organisation key |
//! | `proofpack:job` | the job id, only when sealed `--for-job` |
//!
//! A user's key policy can then require
//! `kms:EncryptionContext:proofpack:user` = that user for the enclave's
//! `Decrypt`, which is what makes an input sealed for user A refuse to open in
//! a job run for user B even if the header is forged.

mod format;
mod open;
pub mod org_key;
mod write;

pub use format::{parse, SealedHeader, SealedInput};
pub use open::{check_header, open_level1, open_sealed, JobContext, OpenedInput};
pub use org_key::{OrgKeyBundle, OrgKeyError};
pub use write::{seal_input, SealParams};

use std::collections::BTreeMap;

use crate::backend::{DecryptRequest, Kms, KmsError, Recipient};
use crate::envelope::EnvelopeError;
use crate::receipt::KmsCall;
use crate::secret::SecretBytes;

/// File magic: `PPSEAL`, then format version 1 as a big-endian u16.
pub const MAGIC: [u8; 8] = *b"PPSEAL\x00\x01";
/// The header `format` value.
pub const FORMAT: &str = "https://proofpack.dev/sealed-input/v1";
/// Largest header.
pub const MAX_HEADER: usize = 64 * 1024;
/// Largest plaintext (1 GiB, as for artifacts).
pub const MAX_PLAINTEXT: usize = 1 << 30;
/// Largest level-2 ciphertext blob (a KMS blob of a 512-byte OAEP ciphertext
/// is ~600 bytes; KMS blobs are at most 6 KiB).
pub const MAX_WRAPPED: usize = 8192;
/// Largest sealed-input file: framing (12), header, GCM tag (16) and
/// plaintext. Readers refuse a larger file before reading it.
pub const MAX_FILE: usize = 12 + MAX_HEADER + 16 + MAX_PLAINTEXT;
/// `content.contentType` of an input sealed from `--env NAME=VALUE...`: a JSON
/// object of strings.
pub const CONTENT_TYPE_ENV: &str = "application/vnd.proofpack.env.v1+json";
/// `content.contentType` of an input sealed from a file (bytes as-is).
pub const CONTENT_TYPE_FILE: &str = "application/octet-stream";
/// Encryption-context key naming the user.
pub const CTX_USER: &str = "proofpack:user";
/// Encryption-context key naming the job (only for `--for-job`).
pub const CTX_JOB: &str = "proofpack:job";
/// Encryption-context key naming the organisation key fingerprint.
pub const CTX_ORG_KEY: &str = "proofpack:org-key";

/// The level-2 encryption context for one sealed input.
pub fn encryption_context(
    user: &str,
    job: Option<&str>,
    org_fingerprint: &[u8; 32],
    recipients_policy: Option<&str>,
) -> BTreeMap<String, String> {
    let mut ctx = BTreeMap::new();
    if let Some(d) = recipients_policy {
        // Issue 20: bound to the recipients policy, like a SOPS input.
        ctx.insert(crate::recipients::CONTEXT_KEY.to_owned(), d.to_owned());
    }
    ctx.insert(CTX_USER.to_owned(), user.to_owned());
    ctx.insert(CTX_ORG_KEY.to_owned(), hex::encode(org_fingerprint));
    if let Some(j) = job {
        ctx.insert(CTX_JOB.to_owned(), j.to_owned());
    }
    ctx
}

/// Why a KMS key could not be used: the crypto-shredding states, told apart
/// so that an operator sees *which* key and *why* an input no longer opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUnavailable {
    /// `DisabledException`: the key is disabled (EnableKey restores access).
    Disabled,
    /// `KMSInvalidStateException`: the key is pending deletion
    /// (CancelKeyDeletion inside the waiting period restores access).
    PendingDeletion,
    /// `NotFoundException` (or a blob whose key no longer exists): the key
    /// was deleted; the data is permanently unreadable.
    NotFound,
}

impl KeyUnavailable {
    /// Classifies a KMS error code, if it is a key-state error.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "DisabledException" => Some(Self::Disabled),
            "KMSInvalidStateException" => Some(Self::PendingDeletion),
            "NotFoundException" => Some(Self::NotFound),
            _ => None,
        }
    }

    /// Human-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Disabled => "the key is disabled",
            Self::PendingDeletion => "the key is pending deletion",
            Self::NotFound => {
                "the key does not exist (deleted): the data is permanently unreadable"
            }
        }
    }
}

impl std::fmt::Display for KeyUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// Errors reading, sealing or opening a sealed input. Messages name users,
/// jobs, keys and fingerprints, never plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The input is not bound to the job's recipients policy (issue 20).
    #[error("{0}")]
    Binding(#[from] crate::recipients::BindingError),
    /// Shorter than its own length fields say.
    #[error("sealed input truncated: {len} bytes, need at least {need}")]
    Truncated {
        /// Actual length.
        len: usize,
        /// Minimum for the header it declares.
        need: usize,
    },
    /// The first 6 bytes are not `PPSEAL`.
    #[error("not a proofpack sealed input (bad magic)")]
    BadMagic,
    /// A format version this reader does not know.
    #[error("unsupported sealed-input format version {0}")]
    Version(u16),
    /// H is 0 or above the limit.
    #[error("sealed-input header length {0} is out of range 1..={MAX_HEADER}")]
    HeaderLength(u32),
    /// The plaintext would exceed [`MAX_PLAINTEXT`].
    #[error("sealed input content is {0} bytes, more than the 1 GiB limit")]
    TooLarge(usize),
    /// The header is not valid or not what the format requires.
    #[error("sealed-input header field {field}: {problem}")]
    Header {
        /// JSON path in the header.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// Sealed for another user than the job opens it for.
    #[error(
        "input sealed for user {sealed_for:?} cannot be opened in a job for user {job_user:?}"
    )]
    WrongUser {
        /// From the header.
        sealed_for: String,
        /// From the job.
        job_user: String,
    },
    /// Sealed for another job.
    #[error("input sealed for job {sealed_for:?} cannot be opened in job {job:?}")]
    WrongJob {
        /// From the header.
        sealed_for: String,
        /// The running job.
        job: String,
    },
    /// Sealed under another organisation key (wrong key, or another organisation's input).
    #[error("input sealed for organisation key {sealed_for}, but this job's organisation key is {job_key}")]
    WrongOrgKey {
        /// Fingerprint from the header.
        sealed_for: String,
        /// Fingerprint of the job's organisation key.
        job_key: String,
    },
    /// The header's encryption context is not the one this input must carry.
    #[error("sealed-input encryption context {found} differs from the expected {expected}")]
    Context {
        /// As found (`k=v,...`).
        found: String,
        /// As expected.
        expected: String,
    },
    /// The user's KMS key is disabled, pending deletion or deleted.
    #[error("user KMS key {arn}: {reason}")]
    KeyUnavailable {
        /// The key ARN.
        arn: String,
        /// Why.
        reason: KeyUnavailable,
    },
    /// Any other KMS refusal or failure.
    #[error("user KMS key {arn}: {source}")]
    Kms {
        /// The key ARN.
        arn: String,
        /// Cause.
        source: KmsError,
    },
    /// A KMS answer could not be used (no CiphertextForRecipient, bad CMS).
    #[error("user KMS key {arn}: unusable KMS answer: {problem}")]
    KmsAnswer {
        /// The key ARN.
        arn: String,
        /// What was wrong.
        problem: String,
    },
    /// The organisation key could not be used.
    #[error("organisation key: {0}")]
    OrgKey(#[from] OrgKeyError),
    /// Level-1 unwrap or content authentication failed.
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    /// The writer was given invalid input.
    #[error("cannot seal: {0}")]
    Seal(String),
}

impl SealError {
    /// Maps a KMS error for `arn` to [`SealError::KeyUnavailable`] when it is
    /// a key-state error, else [`SealError::Kms`].
    pub fn from_kms(arn: &str, e: KmsError) -> Self {
        if let KmsError::Service { code, .. } = &e {
            if let Some(reason) = KeyUnavailable::from_code(code) {
                return Self::KeyUnavailable { arn: arn.to_owned(), reason };
            }
        }
        Self::Kms { arn: arn.to_owned(), source: e }
    }
}

/// Why a `Decrypt` with `Recipient` gave no plaintext.
#[derive(Debug)]
pub(crate) enum RecipientFailure {
    /// KMS refused or failed.
    Kms(KmsError),
    /// The answer was unusable (plaintext despite Recipient, no CMS, bad CMS).
    Answer(String),
}

/// `kms:Decrypt` of `blob` under `arn` with `ctx` and `Recipient` = `doc`
/// (an attestation document whose `public_key` is `job_key`'s), then the
/// CMS open with `job_key`. Returns the plaintext and the receipt record of
/// the call (also on failure). Shared by the org key and sealed inputs.
pub(crate) fn decrypt_for_recipient(
    kms: &dyn Kms,
    blob: &[u8],
    arn: &str,
    ctx: &BTreeMap<String, String>,
    doc: &[u8],
    job_key: &rsa::RsaPrivateKey,
) -> (Result<SecretBytes, RecipientFailure>, KmsCall) {
    let req = DecryptRequest {
        ciphertext_blob: blob.to_vec(),
        key_id: Some(arn.to_owned()),
        encryption_context: ctx.clone(),
        recipient: Some(Recipient {
            attestation_document: doc.to_vec(),
            key_encryption_algorithm: crate::service::KEY_ENCRYPTION_ALGORITHM.into(),
        }),
    };
    let (res, request_id) = kms.decrypt_traced(&req);
    let call = KmsCall {
        operation: "Decrypt",
        arn: arn.to_owned(),
        key_arn: res.as_ref().ok().map(|r| r.key_id.clone()),
        encryption_context: ctx.clone(),
        recipient: true,
        request_id: request_id.unwrap_or_else(|| "unknown".into()),
        outcome: KmsCall::outcome_of(res.as_ref().err()),
    };
    let out = res.map_err(RecipientFailure::Kms).and_then(|resp| {
        if resp.plaintext.is_some() {
            return Err(RecipientFailure::Answer(
                "KMS returned plaintext despite Recipient".into(),
            ));
        }
        let cms = resp
            .ciphertext_for_recipient
            .ok_or_else(|| RecipientFailure::Answer("no CiphertextForRecipient".into()))?;
        crate::cms::decrypt_enveloped(&cms, job_key)
            .map_err(|e| RecipientFailure::Answer(e.to_string()))
    });
    (out, call)
}
