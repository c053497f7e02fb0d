//! Stage 1 over [`crate::receipt`]: the receipt verifier's checks, grouped
//! for the audit report, plus the facts the later stages need.
//!
//! The receipt verifier authenticates the statement; this adapter then only
//! *reads* fields of the same payload bytes (never re-verifies or re-derives
//! anything). The facts are used by the later stages even when a receipt
//! check failed, so the report is complete, but such a receipt can never
//! pass: its failed checks are part of the same subject.

use enclave::receipt::dsse::Envelope;
use enclave::receipt::model::Statement;

use super::{dedup_keys, OutputDigest, ReceiptCheck, ReceiptFacts, ReceiptFindings};
use crate::receipt::{verify_receipt, ReceiptOptions};
use crate::report::{CertSummary, Check, GroupKind, SourceInfo};

/// The receipt stage.
pub struct ReceiptStage {
    /// Options for the receipt verifier (trust roots, artifacts).
    pub options: ReceiptOptions,
    /// Whether a non-AWS root (the development CA) may be trusted.
    pub allow_dev_ca: bool,
}

impl ReceiptStage {
    /// A stage for the audit, which always compares the attested PCRs with a
    /// rebuild (stage `rebuild.pcr.*`, a FAIL when it cannot): the receipt
    /// verifier's "no expected PCRs" reminder would be a false warning there.
    pub fn new(mut options: ReceiptOptions, allow_dev_ca: bool) -> Self {
        options.pcrs_compared_by_caller = true;
        options.recipients_checked_by_caller = true;
        // One chain cache for the whole batch, shared by the rayon workers.
        options.chain_cache.get_or_insert_with(Default::default);
        Self { options, allow_dev_ca }
    }
}

/// Which report group a receipt-verifier check belongs to.
pub fn group_of(id: &str) -> GroupKind {
    let head = id.split('.').next().unwrap_or(id);
    match head {
        "envelope" | "signature" => GroupKind::Signature,
        "attestation" | "trust" | "measurement" => GroupKind::Attestation,
        "artifact" | "artifacts" => GroupKind::Artifact,
        _ => GroupKind::Binding,
    }
}

impl ReceiptCheck for ReceiptStage {
    fn check(&self, bytes: &[u8]) -> ReceiptFindings {
        let rep = verify_receipt(bytes, &self.options);
        let mut checks: Vec<(GroupKind, Check)> =
            rep.checks.0.iter().map(|c| (group_of(&c.id), c.clone())).collect();
        if rep.uses_non_aws_root() {
            let roots: Vec<String> = rep
                .trust_roots
                .iter()
                .filter(|r| !r.aws)
                .map(|r| format!("{} (sha256 {})", r.label, r.sha256))
                .collect();
            checks.push((
                GroupKind::Attestation,
                if self.allow_dev_ca {
                    Check::warn(
                        "attestation.dev_ca",
                        format!(
                            "the development CA was accepted (--allow-dev-ca): {}. This is NOT evidence of real Nitro hardware",
                            roots.join(", ")
                        ),
                    )
                } else {
                    Check::fail(
                        "attestation.dev_ca",
                        format!(
                            "the trust root is not the AWS Nitro root: {}; a development CA is accepted only with --allow-dev-ca",
                            roots.join(", ")
                        ),
                    )
                },
            ));
        }
        let doc_r = rep.doc_r.as_ref();
        let chain = doc_r
            .map(|d| {
                d.chain
                    .iter()
                    .rev()
                    .map(|c| CertSummary {
                        subject: c.subject.clone(),
                        issuer: c.issuer.clone(),
                        not_before: c.not_before.clone(),
                        not_after: c.not_after.clone(),
                        sha256: c.sha256.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let facts = Envelope::parse(bytes).ok().and_then(|env| {
            // Shape only: the facts are read even when a value rule failed
            // (the failed checks are reported with them).
            let st: Statement = serde_json::from_slice(&env.payload).ok()?;
            let mut f = facts_of(&st);
            f.receipt_id = rep.receipt_id.clone();
            if let Some(d) = doc_r {
                f.attested_at = d.verified_at.clone();
                if let Some(doc) = &d.doc {
                    // The attested PCRs come from the verified document, not
                    // from the statement's copy of them.
                    f.pcrs = doc.pcrs.clone();
                }
            }
            Some(f)
        });
        ReceiptFindings { checks, chain, facts }
    }
}

/// Reads the fields the audit needs from a receipt statement.
pub fn facts_of(statement: &Statement) -> ReceiptFacts {
    let p = &statement.predicate;
    let source = Some(SourceInfo {
        repository: p.source.repository.clone(),
        commit: p.source.commit.git_commit.clone(),
        tree: Some(p.source.tree.clone()),
    });
    // The keys whose policies must pin the PCRs: every key the enclave
    // successfully decrypted an input's data key with.
    // Sealed inputs (issue 10) add the organisation key's KMS key and each
    // user's KMS key: they too only answer the pinned image.
    let inputs = p.inputs.iter().flat_map(|i| &i.kms);
    let org = p.org_key.iter().map(|o| &o.kms);
    let sealed = p.sealed_inputs.iter().flatten().flat_map(|i| &i.kms);
    let keys: Vec<String> = inputs
        .chain(org)
        .chain(sealed)
        .filter(|call| call.operation == "Decrypt" && call.outcome == "ok")
        .map(|call| call.key_arn.as_ref().unwrap_or(&call.arn).clone())
        .collect();
    let outputs = p
        .outputs
        .iter()
        .map(|o| OutputDigest { name: o.name.clone(), sha256: o.digest.sha256.clone() })
        .collect();
    ReceiptFacts {
        receipt_id: None,
        attested_at: None,
        pcrs: Default::default(),
        source,
        build_spec_path: Some(p.source.build_spec.path.clone()),
        kms_keys: dedup_keys(keys),
        outputs,
        eif_sha384: p.enclave.eif_sha384.clone(),
        recipients: crate::receipt::recipients::facts_of(p),
        source_dirty: p.source.dirty == Some(true),
        secrets: secrets_facts(p),
    }
}

/// The inputs' sources and the job's target (from the embedded request;
/// the receipt's own checks compare the two).
fn secrets_facts(p: &enclave::receipt::model::Predicate) -> super::secrets::SecretsFacts {
    use base64::Engine as _;
    let target = base64::engine::general_purpose::STANDARD
        .decode(&p.job.request)
        .ok()
        .and_then(|b| enclave::service::PackRequest::parse(&b).ok())
        .and_then(|r| r.target.map(|t| (t.service, t.environment)));
    super::secrets::SecretsFacts {
        sources: p.secrets_source.clone(),
        input_sha256: p.inputs.iter().map(|i| (i.name.clone(), i.digest.sha256.clone())).collect(),
        target,
    }
}
