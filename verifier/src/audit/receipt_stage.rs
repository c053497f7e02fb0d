//! Stage 1 over [`crate::receipt`]: the receipt verifier's checks, grouped
//! for the audit report, plus the facts the later stages need.
//!
//! The receipt verifier authenticates the statement; this adapter then only
//! *reads* fields of the same payload bytes (never re-verifies or re-derives
//! anything). The facts are used by the later stages even when a receipt
//! check failed, so the report is complete, but such a receipt can never
//! pass: its failed checks are part of the same subject.

use enclave::receipt::dsse::Envelope;
use serde_json::Value;

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
            let v: Value = serde_json::from_slice(&env.payload).ok()?;
            let mut f = facts_of(&v);
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

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// Reads the fields the audit needs from a receipt statement.
pub fn facts_of(statement: &Value) -> ReceiptFacts {
    let p = statement.get("predicate").unwrap_or(&Value::Null);
    let source = match (s(p, &["source", "repository"]), s(p, &["source", "commit", "gitCommit"])) {
        (Some(repo), Some(commit)) => Some(SourceInfo {
            repository: repo.to_string(),
            commit: commit.to_string(),
            tree: s(p, &["source", "tree"]).map(str::to_string),
        }),
        _ => None,
    };
    // The keys whose policies must pin the PCRs: every key the enclave
    // successfully decrypted an input's data key with.
    // Sealed inputs (issue 10) add the organisation key's KMS key and each
    // user's KMS key: they too only answer the pinned image.
    let mut keys = Vec::new();
    let sealed = p.get("sealedInputs").and_then(Value::as_array).into_iter().flatten();
    let org = p.get("orgKey").into_iter().map(|o| (o, true));
    for (input, single) in p
        .get("inputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|i| (i, false))
        .chain(org)
        .chain(sealed.map(|i| (i, false)))
    {
        let calls: Vec<&Value> = if single {
            input.get("kms").into_iter().collect()
        } else {
            input.get("kms").and_then(Value::as_array).into_iter().flatten().collect()
        };
        for call in calls {
            if s(call, &["operation"]) == Some("Decrypt") && s(call, &["outcome"]) == Some("ok") {
                if let Some(k) = s(call, &["keyArn"]).or_else(|| s(call, &["arn"])) {
                    keys.push(k.to_string());
                }
            }
        }
    }
    let outputs = p
        .get("outputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some(OutputDigest {
                name: s(o, &["name"])?.to_string(),
                sha256: s(o, &["digest", "sha256"])?.to_string(),
            })
        })
        .collect();
    ReceiptFacts {
        receipt_id: None,
        attested_at: None,
        pcrs: Default::default(),
        source,
        build_spec_path: s(p, &["source", "buildSpec", "path"]).map(str::to_string),
        kms_keys: dedup_keys(keys),
        outputs,
        eif_sha384: s(p, &["enclave", "eifSha384"]).map(str::to_string),
        recipients: crate::receipt::recipients::facts_of(p),
        source_dirty: p.pointer("/source/dirty") == Some(&Value::Bool(true)),
    }
}
