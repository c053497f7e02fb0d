//! Recipients bound by the secrets' owners (issue 20; docs/notes/recipients.md).
//!
//! Without this, the pack is a decryption oracle: whoever controls the parent
//! names any recipient key and the enclave re-encrypts every secret to it.
//! The secrets' owners therefore encrypt their SOPS data keys with the KMS
//! encryption context [`CONTEXT_KEY`] = lowercase hex SHA-256 of a
//! [`RecipientsPolicy`] file. KMS authenticates the context, so a job can
//! only decrypt those keys while presenting that exact digest, and the
//! enclave re-encrypts only to recipients that policy allows.
//!
//! * [`policy`]: the policy document (strict parser, digest, `check`).
//! * [`InputBinding`]: whether inputs without the context are refused (the
//!   default) or allowed, a setting baked into the enclave application.
//! * [`check_context`]: the per-KMS-entry rule the enclave applies before
//!   any KMS call.

pub mod policy;

use std::collections::BTreeMap;

pub use policy::{PolicyError, PolicyRecipient, RecipientsPolicy, Refusal};

/// The encryption-context key whose value binds a ciphertext to a policy.
pub const CONTEXT_KEY: &str = "proofpack:recipients";

/// Whether a pack accepts inputs whose KMS context does not carry
/// [`CONTEXT_KEY`]. The enclave application takes it from a compile-time
/// feature (`allow-unbound-inputs`), so it changes the application binary
/// and therefore PCR2, and every receipt states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputBinding {
    /// Every input must be bound to the job's recipients policy (default).
    #[default]
    Required,
    /// Inputs without the context are accepted (migration only); a context
    /// that names another digest is still refused.
    AllowUnbound,
}

impl InputBinding {
    /// Whether unbound inputs are accepted.
    pub fn allows_unbound(self) -> bool {
        self == Self::AllowUnbound
    }
}

/// How one KMS entry's context relates to the job's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextState {
    /// It carries [`CONTEXT_KEY`] = the job's policy digest.
    Bound,
    /// It has no [`CONTEXT_KEY`].
    Unbound,
    /// It carries [`CONTEXT_KEY`] with another value.
    Other(String),
}

/// Classifies a KMS encryption context against the job's policy digest
/// (`None` when the job has no policy).
pub fn context_state(ctx: &BTreeMap<String, String>, digest_hex: Option<&str>) -> ContextState {
    match ctx.get(CONTEXT_KEY) {
        None => ContextState::Unbound,
        Some(v) if Some(v.as_str()) == digest_hex => ContextState::Bound,
        Some(v) => ContextState::Other(v.clone()),
    }
}

/// Why an input's KMS entry may not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingError {
    /// No [`CONTEXT_KEY`] and the image refuses unbound inputs.
    #[error(
        "KMS entry {arn} has no {CONTEXT_KEY} encryption context: the input is not bound to a \
         recipients policy, and this enclave image refuses unbound inputs"
    )]
    Unbound {
        /// The entry's key ARN.
        arn: String,
    },
    /// [`CONTEXT_KEY`] names another policy than the one sent with the job.
    #[error(
        "KMS entry {arn} is bound to recipients policy {found}, but the job's policy is {expected}"
    )]
    OtherPolicy {
        /// The entry's key ARN.
        arn: String,
        /// The digest in the context.
        found: String,
        /// The job's digest, or `(none sent)`.
        expected: String,
    },
}

/// The rule for one KMS entry of an input, applied before any KMS call.
pub fn check_context(
    arn: &str,
    ctx: &BTreeMap<String, String>,
    digest_hex: Option<&str>,
    binding: InputBinding,
) -> Result<ContextState, BindingError> {
    match context_state(ctx, digest_hex) {
        ContextState::Unbound if !binding.allows_unbound() => {
            Err(BindingError::Unbound { arn: arn.to_owned() })
        }
        ContextState::Other(found) => Err(BindingError::OtherPolicy {
            arn: arn.to_owned(),
            found,
            expected: digest_hex.unwrap_or("(none sent)").to_owned(),
        }),
        s => Ok(s),
    }
}

/// Fuzzing hook: parse arbitrary bytes as a policy; whatever parses must
/// hash to its own digest and answer `check` for each of its keys without
/// panicking. Panics only on a violated invariant.
pub fn fuzz_policy(data: &[u8]) {
    use sha2::{Digest, Sha256};
    let Ok(p) = RecipientsPolicy::parse(data) else { return };
    assert_eq!(p.sha256(), <[u8; 32]>::from(Sha256::digest(data)));
    for r in &p.recipients {
        let ok = p.check(Some(("svc", "env")), &r.key_id, true);
        assert!(ok.is_ok() || matches!(ok, Err(Refusal::NotForTarget { .. })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_rule() {
        let d = "ab".repeat(32);
        let mut ctx = BTreeMap::new();
        assert_eq!(
            check_context("k", &ctx, Some(&d), InputBinding::Required),
            Err(BindingError::Unbound { arn: "k".into() })
        );
        assert_eq!(
            check_context("k", &ctx, Some(&d), InputBinding::AllowUnbound),
            Ok(ContextState::Unbound)
        );
        ctx.insert(CONTEXT_KEY.to_owned(), d.clone());
        assert_eq!(
            check_context("k", &ctx, Some(&d), InputBinding::Required),
            Ok(ContextState::Bound)
        );
        assert!(matches!(
            check_context("k", &ctx, Some(&"cd".repeat(32)), InputBinding::AllowUnbound),
            Err(BindingError::OtherPolicy { .. })
        ));
        assert!(matches!(
            check_context("k", &ctx, None, InputBinding::AllowUnbound),
            Err(BindingError::OtherPolicy { .. })
        ));
    }
}
