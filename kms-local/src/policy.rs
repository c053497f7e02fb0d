//! The real adapters behind the server's seams: key policies through
//! [`kms_policy`] (the evaluator of issue 04) and Recipient documents
//! through [`attestation`] (the strict verifier of issue 02).

use std::time::Duration;

use attestation::chain::TrustAnchor;
use attestation::verify::{verify, VerifyAt, VerifyOptions};
use checks::Verdict;
use kms_policy::eval::{evaluate, DecisionKind, Request};
use kms_policy::parse::Policy;

use super::{PolicyDecision, PolicyEngine, PolicyRequest, RecipientVerifier, VerifiedRecipient};

/// Key policies evaluated with [`kms_policy::eval::evaluate`].
#[derive(Debug, Default)]
pub struct KeyPolicyEngine;

impl PolicyEngine for KeyPolicyEngine {
    fn validate(&self, policy: &str) -> Result<(), String> {
        Policy::parse(policy.as_bytes()).map(|_| ()).map_err(|e| e.to_string())
    }

    fn decide(&self, policy: &str, req: &PolicyRequest<'_>) -> PolicyDecision {
        let Ok(p) = Policy::parse(policy.as_bytes()) else {
            return PolicyDecision::ImplicitDeny;
        };
        let mut r = Request::new(req.principal_arn, req.action)
            .with_key_arn(req.key_arn)
            .assume_iam_allows(req.iam_allows);
        if !req.encryption_context.is_empty() {
            r = r.with_encryption_context(
                req.encryption_context.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
        }
        if let Some(pcrs) = req.recipient_pcrs {
            r = r.with_recipient_pcrs(pcrs);
        }
        match evaluate(&p, &r).kind {
            DecisionKind::Allow => PolicyDecision::Allow,
            DecisionKind::ExplicitDeny => PolicyDecision::ExplicitDeny,
            DecisionKind::ImplicitDeny => PolicyDecision::ImplicitDeny,
        }
    }
}

/// Verifies Recipient documents against one configured root (the AWS Nitro
/// root, or a development test CA root given explicitly), at the server's
/// clock, with a maximum document age. Debug-mode documents are refused.
#[derive(Debug)]
pub struct AttestationRecipients {
    root: TrustAnchor,
    accept_emulator: bool,
}

impl AttestationRecipients {
    /// Uses `root` (PEM or DER certificate bytes).
    pub fn new(root_pem_or_der: &[u8], label: &str) -> Result<Self, String> {
        TrustAnchor::from_pem_or_der(root_pem_or_der, label)
            .map(|root| Self { root, accept_emulator: false })
            .map_err(|e| e.to_string())
    }

    /// Also accepts QEMU `nitro-enclave` documents, which are unsigned: their
    /// structure, freshness and PCRs (through the key policy) are still
    /// checked, the chain and signature cannot be. Never the default
    /// (`proofpack-kms-local --accept-emulator-attestation`).
    pub fn accepting_emulator_documents(mut self) -> Self {
        self.accept_emulator = true;
        self
    }

    /// Whether [`Self::accepting_emulator_documents`] was asked for.
    pub fn accepts_emulator_documents(&self) -> bool {
        self.accept_emulator
    }

    /// SHA-256 of the root certificate, for the startup log.
    pub fn root_sha256(&self) -> String {
        self.root.sha256_hex()
    }
}

impl RecipientVerifier for AttestationRecipients {
    fn verify(&self, doc: &[u8], now: i64, max_age_secs: u64) -> Result<VerifiedRecipient, String> {
        let now_ms = now.saturating_mul(1000);
        let opts = VerifyOptions {
            roots: vec![self.root.clone()],
            at: VerifyAt::Instant(now_ms),
            max_age: Some(Duration::from_secs(max_age_secs)),
            now_ms: Some(now_ms),
            parse: attestation::parse::ParseOptions {
                emulator: self.accept_emulator,
                ..Default::default()
            },
            ..VerifyOptions::default()
        };
        let report = verify(doc, &opts);
        if report.verdict() != Verdict::Pass {
            let reasons: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
            return Err(if reasons.is_empty() {
                "verification failed".into()
            } else {
                reasons.join("; ")
            });
        }
        let d = report.doc.ok_or("verified document has no decoded payload")?;
        let public_key = d.public_key.ok_or("document has no public_key to encrypt to")?;
        Ok(VerifiedRecipient { module_id: d.module_id, pcrs: d.pcrs, public_key })
    }
}
