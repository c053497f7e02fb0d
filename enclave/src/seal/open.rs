//! Opening a sealed input inside the enclave, during a pack job.

use super::format::{parse, SealedHeader, SealedInput};
use super::{encryption_context, RecipientFailure, SealError};
use crate::backend::Kms;
use crate::envelope::{decrypt_content, unwrap_dek};
use crate::receipt::KmsCall;
use crate::secret::SecretBytes;

/// What the running job expects of a sealed input, and how it can reach KMS.
/// `Debug` is written by hand: the derived one would print `job_key`'s
/// private components.
#[derive(Clone, Copy)]
pub struct JobContext<'a> {
    /// The job id (from the request).
    pub job_id: &'a str,
    /// The user the request opens this input for.
    pub user: &'a str,
    /// Fingerprint of the organisation key the job unsealed.
    pub org_fingerprint: &'a [u8; 32],
    /// doc_K: the attestation document sent as KMS `Recipient`.
    pub recipient_doc: &'a [u8],
    /// The job's RSA key (the `public_key` of doc_K) to open the CMS answer.
    pub job_key: &'a rsa::RsaPrivateKey,
    /// Lowercase hex SHA-256 of the job's recipients policy, if it has one.
    pub recipients_policy: Option<&'a str>,
    /// Whether inputs not bound to that policy are accepted (image setting).
    pub binding: crate::recipients::InputBinding,
}

impl std::fmt::Debug for JobContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.job_id)
            .field("user", &self.user)
            .field("org_fingerprint", &hex::encode(self.org_fingerprint))
            .field("recipient_doc_len", &self.recipient_doc.len())
            .field("job_key", &"<redacted RSA private key>")
            .field("recipients_policy", &self.recipients_policy)
            .field("binding", &self.binding)
            .finish()
    }
}

/// A sealed input, opened. The plaintext lives in memory only.
#[derive(Debug)]
pub struct OpenedInput {
    /// The authenticated header.
    pub header: SealedHeader,
    /// The plaintext, zeroized on drop.
    pub plaintext: SecretBytes,
}

/// Checks the header against the job **before** any KMS call, so that a
/// sealed input for another user, job or organisation, or with an altered
/// context, is refused with a typed error and KMS never sees a wrong context.
pub fn check_header(h: &SealedHeader, job: &JobContext<'_>) -> Result<(), SealError> {
    if h.user != job.user {
        return Err(SealError::WrongUser { sealed_for: h.user.clone(), job_user: job.user.into() });
    }
    if h.org_fingerprint != *job.org_fingerprint {
        return Err(SealError::WrongOrgKey {
            sealed_for: hex::encode(h.org_fingerprint),
            job_key: hex::encode(job.org_fingerprint),
        });
    }
    if let Some(j) = &h.job {
        if j != job.job_id {
            return Err(SealError::WrongJob { sealed_for: j.clone(), job: job.job_id.into() });
        }
    }
    let expected = expected_context(h, job)?;
    if h.encryption_context != expected {
        let show = |c: &std::collections::BTreeMap<String, String>| {
            c.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
        };
        return Err(SealError::Context {
            found: show(&h.encryption_context),
            expected: show(&expected),
        });
    }
    Ok(())
}

/// The context this job sends for a sealed input: computed from the job,
/// never taken from the header. The `proofpack:recipients` entry follows
/// the issue-20 rule ([`crate::recipients::check_context`]): present only
/// when the header is bound to exactly the job's policy.
fn expected_context(
    h: &SealedHeader,
    job: &JobContext<'_>,
) -> Result<std::collections::BTreeMap<String, String>, SealError> {
    use crate::recipients::{check_context, ContextState};
    let state =
        check_context(&h.kms_key_arn, &h.encryption_context, job.recipients_policy, job.binding)?;
    let bound = (state == ContextState::Bound).then_some(job.recipients_policy).flatten();
    Ok(encryption_context(job.user, h.job.as_deref(), job.org_fingerprint, bound))
}

/// Opens `bytes` for `job`: header checks, `kms:Decrypt` of level 2 with
/// `Recipient` = doc_K and the expected context (→ CMS → level-1
/// ciphertext), RSA-OAEP-SHA512 with the organisation private key, then
/// AES-256-GCM. Returns the KMS call record (when KMS was called) whatever
/// the outcome, for the receipt and for error reports.
pub fn open_sealed(
    bytes: &[u8],
    job: &JobContext<'_>,
    org_key: &rsa::RsaPrivateKey,
    kms: &dyn Kms,
) -> (Result<OpenedInput, SealError>, Option<KmsCall>) {
    let parsed = match parse(bytes) {
        Ok(p) => p,
        Err(e) => return (Err(e), None),
    };
    if let Err(e) = check_header(&parsed.header, job) {
        return (Err(e), None);
    }
    let h = &parsed.header;
    let arn = &h.kms_key_arn;
    // The context sent is the one the job computes, not the header's (equal
    // after check_header; computed again so the header cannot choose it).
    let ctx = match expected_context(h, job) {
        Ok(c) => c,
        Err(e) => return (Err(e), None),
    };
    let (w1, call) = super::decrypt_for_recipient(
        kms,
        &h.wrapped_key,
        arn,
        &ctx,
        job.recipient_doc,
        job.job_key,
    );
    let result = w1
        .map_err(|f| match f {
            RecipientFailure::Kms(e) => SealError::from_kms(arn, e),
            RecipientFailure::Answer(problem) => SealError::KmsAnswer { arn: arn.clone(), problem },
        })
        .and_then(|w1| {
            let plaintext = open_level1(&parsed, w1.expose(), org_key)?;
            Ok(OpenedInput { header: h.clone(), plaintext })
        });
    (result, Some(call))
}

/// Levels 1 and content only: `w1` is the level-1 RSA-OAEP ciphertext (what
/// KMS returned for level 2). Split out so that tests and the benchmark can
/// run the local cryptography without KMS round trips.
pub fn open_level1(
    parsed: &SealedInput<'_>,
    w1: &[u8],
    org_key: &rsa::RsaPrivateKey,
) -> Result<SecretBytes, SealError> {
    let dek = unwrap_dek(org_key, w1)?;
    Ok(decrypt_content(&dek, &parsed.header.iv, parsed.aad, parsed.sealed)?)
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    /// Formatting a job context never prints the job's private key.
    #[test]
    fn debug_redacts_the_job_key() {
        use rsa::traits::PrivateKeyParts as _;
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("key");
        let fp = [7u8; 32];
        let ctx = JobContext {
            job_id: "j",
            user: "u",
            org_fingerprint: &fp,
            recipient_doc: b"doc",
            job_key: &key,
            recipients_policy: None,
            binding: crate::recipients::InputBinding::default(),
        };
        let text = format!("{ctx:?}");
        assert!(text.contains("redacted"), "{text}");
        // The hazard is real: the key's own Debug prints its private
        // exponent and primes, in exactly this form.
        let raw = format!("{key:?}");
        let secrets: Vec<String> = std::iter::once(format!("{:?}", key.d()))
            .chain(key.primes().iter().map(|p| format!("{p:?}")))
            .collect();
        for s in &secrets {
            assert!(raw.contains(s.as_str()), "{raw}");
            assert!(!text.contains(s.as_str()), "private key material printed: {text}");
        }
    }
}
