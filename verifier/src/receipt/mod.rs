//! Verification of pack receipts (docs/formats/receipts.md §6): DSSE envelope, both
//! attestation documents (via [`crate::attestation`]), the Ed25519 key
//! binding, the signature, the statement schema, the binding string,
//! doc_K/doc_R consistency, the request, and optionally artifact files.
//!
//! Every check is recorded. Checks that read statement content run only once
//! the signature verified under a key bound by a verified doc_R; before that
//! they are reported as skipped, so no PASS line ever rests on unsigned data.
//! The parsing and signature primitives are the enclave's own
//! (`enclave::receipt`), the same code that produced the bytes.

mod checks;
pub mod recipients;

use std::time::Duration;

use crate::attestation::{AttestationReport, TrustAnchor, VerifyOptions, AWS_ROOT_G1_SHA256};
use crate::report::{Check, Checks, Verdict};

pub use checks::verify_receipt;

/// Settings for [`verify_receipt`].
#[derive(Debug, Clone)]
pub struct ReceiptOptions {
    /// Attestation settings used for both documents (roots, instant, debug
    /// policy, expected PCRs). Nonce, user data and public key expectations
    /// are set by the receipt checks themselves and must be left empty.
    pub attestation: VerifyOptions,
    /// Artifact files to check against the receipt: (label, bytes).
    pub artifacts: Vec<(String, Vec<u8>)>,
    /// SOPS input files to check against the receipt: (label, bytes).
    pub inputs: Vec<(String, Vec<u8>)>,
    /// The exact request bytes the caller sent, if it kept them.
    pub expected_request: Option<Vec<u8>>,
    /// The nonce the caller chose, if it kept it.
    pub expected_nonce: Option<Vec<u8>>,
    /// Largest accepted doc_K → doc_R interval (default 15 minutes).
    pub max_job_duration: Duration,
    /// The caller compares the attested PCRs itself (the audit rebuilds the
    /// image), so the reminder that no expected PCRs were given is omitted.
    pub pcrs_compared_by_caller: bool,
    /// The secrets' owners' recipients policy (label, bytes) to compare the
    /// receipt's recipients with (issue 20); without it, receipts that carry
    /// a `recipientsPolicy` member are checked against the copy embedded in
    /// the job request.
    pub recipients_policy: Option<(String, Vec<u8>)>,
    /// Accept unbound inputs and jobs without a policy (WARN, not FAIL).
    pub allow_unbound_inputs: bool,
    /// The caller (the audit) runs the recipient checks itself, with the
    /// policy from the repository.
    pub recipients_checked_by_caller: bool,
    /// Verified certificate-signature pairs shared by every receipt checked
    /// with these options (and, through the `Arc`, across threads): receipts
    /// of one enclave instance share its CA bundle and leaf, so a warm cache
    /// leaves one COSE signature per document instead of five P-384 checks.
    /// Only signatures are cached, keyed on the exact DER of issuer and
    /// subject; names, validity at the document's time and the trust anchor
    /// are checked every time (`attestation::ChainCache`).
    pub chain_cache: Option<std::sync::Arc<attestation::ChainCache>>,
}

impl Default for ReceiptOptions {
    fn default() -> Self {
        Self {
            attestation: VerifyOptions::default(),
            artifacts: Vec::new(),
            inputs: Vec::new(),
            expected_request: None,
            expected_nonce: None,
            max_job_duration: Duration::from_secs(15 * 60),
            pcrs_compared_by_caller: false,
            recipients_policy: None,
            allow_unbound_inputs: false,
            recipients_checked_by_caller: false,
            chain_cache: None,
        }
    }
}

/// The outcome of verifying one receipt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReceiptReport {
    /// `hex(SHA-256(payload))`, when the envelope parsed.
    pub receipt_id: Option<String>,
    /// Trust roots the documents were checked against, with a flag for
    /// anything that is not the AWS Nitro root.
    pub trust_roots: Vec<RootUse>,
    /// Every check.
    pub checks: Checks,
    /// The attestation report of doc_K, when extracted.
    #[serde(skip)]
    pub doc_k: Option<AttestationReport>,
    /// The attestation report of doc_R, when extracted.
    #[serde(skip)]
    pub doc_r: Option<AttestationReport>,
}

/// One trust root as used.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RootUse {
    /// Its label.
    pub label: String,
    /// SHA-256 of the DER.
    pub sha256: String,
    /// True for the AWS Nitro Enclaves Root G1.
    pub aws: bool,
}

impl ReceiptReport {
    /// The derived verdict.
    pub fn verdict(&self) -> Verdict {
        self.checks.verdict()
    }

    /// True when any root other than AWS's was trusted (development CA).
    pub fn uses_non_aws_root(&self) -> bool {
        self.trust_roots.iter().any(|r| !r.aws)
    }
}

fn root_uses(roots: &[TrustAnchor]) -> Vec<RootUse> {
    roots
        .iter()
        .map(|r| {
            let sha = r.sha256_hex();
            RootUse { label: r.label.clone(), aws: sha == AWS_ROOT_G1_SHA256, sha256: sha }
        })
        .collect()
}

/// A check that could not run because an earlier trust step failed.
fn untrusted(id: &str) -> Check {
    Check::skipped(id, "not checked: the statement is not authenticated (an earlier signature or attestation check failed)")
}
