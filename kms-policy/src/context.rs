//! The optional property "every Decrypt the policy allows carries the
//! encryption-context key NAME" (issue 20: `proofpack:recipients`). Used by
//! `kms-policy check --require-encryption-context` (a failing finding) and
//! by the audit when a receipt carries a recipients-policy digest.
//!
//! Why it matters: the enclave refuses SOPS inputs without the context, but
//! only the key policy stops *any* image (or a future one built with
//! `allow-unbound-inputs`) from decrypting ciphertexts nobody bound to a
//! recipients policy.

use serde::Serialize;

use super::parse::{parse_readings, PolicyError};
use super::pin::{unbound_decrypt, Config, Witness};

/// Check and finding id.
pub const FINDING_ID: &str = "kms.policy.unbound-decrypt";

/// The result for one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextFinding {
    /// The required context key, e.g. `proofpack:recipients`.
    pub context_key: String,
    /// `true` when every allowed Decrypt must carry it.
    pub ok: bool,
    /// A Decrypt the policy allows without it (when `ok` is false).
    pub witness: Option<Witness>,
}

impl ContextFinding {
    /// One-line explanation for reports.
    pub fn message(&self) -> String {
        match &self.witness {
            None => format!(
                "every Decrypt the policy allows requires kms:EncryptionContext:{}",
                self.context_key
            ),
            Some(w) => format!(
                "{} may call kms:Decrypt {} without kms:EncryptionContext:{} (statements {:?}): \
                 the key decrypts ciphertexts that are not bound to a recipients policy. Fix: add \
                 \"Null\": {{\"kms:EncryptionContext:{}\": \"false\"}} to the Decrypt allow statement(s)",
                w.principal,
                if w.has_recipient { "with a Recipient" } else { "without a Recipient" },
                self.context_key,
                w.allowed_by,
                self.context_key,
            ),
        }
    }
}

/// Checks every reading of `bytes` (duplicate members give several); the
/// property fails if any reading allows an unbound Decrypt.
pub fn check_bytes(
    bytes: &[u8],
    cfg: &Config,
    context_key: &str,
    max_len: usize,
) -> Result<ContextFinding, PolicyError> {
    let parsed = parse_readings(bytes, max_len)?;
    let witness =
        parsed.interpretations.iter().find_map(|r| unbound_decrypt(&r.policy, cfg, context_key));
    Ok(ContextFinding { context_key: context_key.to_owned(), ok: witness.is_none(), witness })
}
