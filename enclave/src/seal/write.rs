//! Sealing on the user's machine (`proofpack seal`): level 1 under the
//! organisation public key, level 2 under the user's own KMS key.

use rand_core::{OsRng, RngCore};

use super::format::SealedHeader;
use super::{encryption_context, SealError, MAX_PLAINTEXT};
use crate::backend::{EncryptRequest, Kms};
use crate::envelope::{append_encrypted, wrap_dek};
use crate::secret::{SecretBytes, SecretKey32};

/// What to seal for whom.
#[derive(Debug, Clone, Copy)]
pub struct SealParams<'a> {
    /// The organisation public key (already verified against its attestation).
    pub org_public: &'a rsa::RsaPublicKey,
    /// SHA-256 of its SPKI DER.
    pub org_fingerprint: [u8; 32],
    /// The user's KMS key ARN (level 2).
    pub user_kms_key: &'a str,
    /// The user the input is for.
    pub user: &'a str,
    /// Restrict to one job.
    pub job: Option<&'a str>,
    /// Plaintext media type ([`super::CONTENT_TYPE_ENV`] or [`super::CONTENT_TYPE_FILE`]).
    pub content_type: &'a str,
    /// Lowercase hex SHA-256 of the recipients policy the input is bound to
    /// (the `proofpack:recipients` context entry; issue 20).
    pub recipients_policy: Option<&'a str>,
}

/// Seals `plaintext`: fresh DEK and IV, `W1 = RSA-OAEP-SHA512(org, DEK)`,
/// `W2 = kms:Encrypt(user key, W1, context)`, content AES-256-GCM with the
/// header as AAD. `kms` is called with the *user's* credentials. The DEK and
/// `W1` are zeroized before returning.
pub fn seal_input(
    plaintext: &[u8],
    p: &SealParams<'_>,
    kms: &dyn Kms,
) -> Result<Vec<u8>, SealError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(SealError::TooLarge(plaintext.len()));
    }
    let bad_name = |s: &str| !crate::receipt::fields::is_job_id(s);
    if bad_name(p.user) || p.job.is_some_and(bad_name) {
        return Err(SealError::Seal(
            "user and job must be 1..128 characters of [A-Za-z0-9._-]".into(),
        ));
    }
    if !crate::receipt::fields::is_kms_arn(p.user_kms_key) {
        return Err(SealError::Seal(format!("{:?} is not a KMS key ARN", p.user_kms_key)));
    }
    let dek = SecretKey32::generate();
    let mut iv = [0u8; 12];
    OsRng.fill_bytes(&mut iv);
    let w1 = wrap_dek(p.org_public, &dek)?;
    let ctx = encryption_context(p.user, p.job, &p.org_fingerprint, p.recipients_policy);
    let resp = kms
        .encrypt(&EncryptRequest {
            key_id: p.user_kms_key.to_owned(),
            plaintext: SecretBytes::from_slice(&w1),
            encryption_context: ctx.clone(),
        })
        .map_err(|e| SealError::from_kms(p.user_kms_key, e))?;
    drop(w1);
    let header = SealedHeader {
        user: p.user.to_owned(),
        job: p.job.map(str::to_owned),
        org_fingerprint: p.org_fingerprint,
        // The ARN KMS answered with (a full key ARN even if an alias was given).
        kms_key_arn: resp.key_id,
        encryption_context: ctx,
        wrapped_key: resp.ciphertext_blob,
        iv,
        content_type: p.content_type.to_owned(),
    };
    let mut out = header.prefix()?;
    append_encrypted(&dek, &iv, &mut out, plaintext)?;
    Ok(out)
}
