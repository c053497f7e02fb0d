//! Issue 20 on the verifier side: are a receipt's output recipients the ones
//! the secrets' owners allowed? Shared by `receipt verify` (policy given as
//! a file, or the copy embedded in the job request) and `audit` (the policy
//! read from the repository at the receipt's commit).
//!
//! The checks read the authenticated statement only (the caller runs them
//! after the signature verified). Each names the recipient, input or digest
//! that failed, so a reader knows which key received what.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use enclave::receipt::model::Predicate;
use enclave::recipients::{context_state, ContextState, RecipientsPolicy};
use enclave::service::request::PackRequest;

use crate::report::Check;

/// Where the audit looks for the policy in the repository, unless told
/// otherwise (`--recipients-policy PATH`).
pub const DEFAULT_POLICY_PATH: &str = ".proofpack/recipients.json";

/// What a receipt says about recipient binding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientsFacts {
    /// The `recipientsPolicy` member: `(sha256, unboundInputsAllowed)`;
    /// `None` on receipts from images before issue 20.
    pub member: Option<(Option<String>, bool)>,
    /// The policy bytes embedded in the job request, if any.
    pub embedded: Option<Vec<u8>>,
    /// The job's target.
    pub target: Option<(String, String)>,
    /// Per output: its name and `(keyId, has a KMS layer)` per recipient.
    pub outputs: Vec<(String, Vec<(String, bool)>)>,
    /// Every successful input `Decrypt` (SOPS and sealed inputs): the input
    /// name, the key and the encryption context sent.
    pub decrypts: Vec<(String, String, BTreeMap<String, String>)>,
}

/// Reads the facts from a (verified) predicate.
pub fn facts_of(p: &Predicate) -> RecipientsFacts {
    let member = p.recipients_policy.as_ref().map(|m| (m.sha256.clone(), m.unbound_inputs_allowed));
    let request = base64::engine::general_purpose::STANDARD
        .decode(&p.job.request)
        .ok()
        .and_then(|b| PackRequest::parse(&b).ok());
    let embedded = request.as_ref().and_then(|r| {
        // The request is its own format (docs/formats/receipts.md §3.6), read here only
        // for the policy copy it embeds.
        let v: Value = serde_json::from_slice(r.bytes()).ok()?;
        let b64 = v.pointer("/recipientsPolicy/document").and_then(Value::as_str)?;
        base64::engine::general_purpose::STANDARD.decode(b64).ok()
    });
    let target =
        request.as_ref().and_then(|r| r.target_pair().map(|(a, b)| (a.to_owned(), b.to_owned())));
    let outputs = p
        .outputs
        .iter()
        .map(|o| {
            let recips = o.recipients.iter().map(|r| (r.key_id.clone(), r.kms.is_some())).collect();
            (o.name.clone(), recips)
        })
        .collect();
    let mut decrypts = Vec::new();
    let inputs = p.inputs.iter().map(|i| (&i.name, &i.kms));
    let sealed = p.sealed_inputs.iter().flatten().map(|i| (&i.name, &i.kms));
    for (name, calls) in inputs.chain(sealed) {
        for call in calls {
            if call.operation != "Decrypt" || call.outcome != "ok" {
                continue;
            }
            let arn = call.key_arn.as_ref().unwrap_or(&call.arn);
            decrypts.push((name.clone(), arn.clone(), call.encryption_context.clone()));
        }
    }
    RecipientsFacts { member, embedded, target, outputs, decrypts }
}

/// What the checker was given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expectation<'a> {
    /// The owners' policy: a label (file or `commit:path`) and its bytes.
    pub policy: Option<(&'a str, &'a [u8])>,
    /// The auditor accepts unbound inputs and jobs without a policy (WARN
    /// instead of FAIL).
    pub allow_unbound: bool,
    /// A receipt without the `recipientsPolicy` member fails (audit) rather
    /// than being left unchecked (`receipt verify`, for old receipts).
    pub require_member: bool,
}

fn unbound_check(id: &str, allow: bool, what: String) -> Check {
    if allow {
        Check::warn(id, format!("{what} (accepted: --allow-unbound-inputs)"))
    } else {
        Check::fail(
            id,
            format!("{what}; an auditor may accept this only with --allow-unbound-inputs"),
        )
    }
}

/// The recipient checks of one receipt. Empty when the receipt predates
/// recipients policies and `require_member` is false.
pub fn checks(f: &RecipientsFacts, e: &Expectation<'_>) -> Vec<Check> {
    let mut out = Vec::new();
    let Some((digest, unbound_allowed)) = &f.member else {
        if e.require_member {
            out.push(unbound_check(
                "recipients.binding",
                e.allow_unbound,
                "the receipt has no recipientsPolicy member (an image from before recipients \
                 policies): its recipients were not bound by the secrets' owners"
                    .into(),
            ));
        }
        return out;
    };
    out.push(if *unbound_allowed {
        unbound_check(
            "recipients.unbound_setting",
            e.allow_unbound,
            "the image was built with allow-unbound-inputs: it accepts inputs that are not bound \
             to a recipients policy"
                .into(),
        )
    } else {
        Check::pass(
            "recipients.unbound_setting",
            "the image refuses inputs not bound to the job's recipients policy",
        )
    });
    let embedded_digest = f.embedded.as_deref().map(|b| hex::encode(sha2_256(b)));
    if embedded_digest != *digest {
        out.push(Check::mismatch(
            "recipients.policy",
            "the recipientsPolicy digest differs from the policy in the job request",
            digest.clone().unwrap_or_else(|| "(none)".into()),
            embedded_digest.unwrap_or_else(|| "(none)".into()),
        ));
        return out;
    }
    let Some(digest) = digest else {
        out.push(unbound_check(
            "recipients.policy",
            e.allow_unbound,
            "the job carried no recipients policy: its recipients were chosen by the requester alone"
                .into(),
        ));
        input_checks(&mut out, f, None, e.allow_unbound);
        return out;
    };
    let (label, bytes) = match e.policy {
        Some((label, bytes)) => {
            let given = hex::encode(sha2_256(bytes));
            if given != *digest {
                out.push(Check::mismatch(
                    "recipients.policy",
                    format!("the job's recipients policy is not {label}"),
                    given,
                    digest.clone(),
                ));
                // Still say which recipients the owners' file would refuse.
            } else {
                out.push(Check::pass(
                    "recipients.policy",
                    format!("the job's recipients policy is {label} (sha256 {digest})"),
                ));
            }
            (label.to_owned(), bytes.to_vec())
        }
        None => {
            out.push(Check::warn(
                "recipients.policy",
                format!(
                    "checked against the copy of the policy in the job request (sha256 {digest}); \
                     pass --recipients-policy FILE to compare with the owners' file"
                ),
            ));
            ("the job's policy".to_owned(), f.embedded.clone().unwrap_or_default())
        }
    };
    out.push(allowed_check(f, &label, &bytes));
    input_checks(&mut out, f, Some(digest), e.allow_unbound);
    out
}

fn sha2_256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(b).into()
}

/// `recipients.allowed`: every output recipient is allowed by `bytes`.
fn allowed_check(f: &RecipientsFacts, label: &str, bytes: &[u8]) -> Check {
    let id = "recipients.allowed";
    let policy = match RecipientsPolicy::parse(bytes) {
        Ok(p) => p,
        Err(err) => return Check::fail(id, format!("{label}: {err}")),
    };
    let target = f.target.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
    let mut problems = Vec::new();
    let mut n = 0;
    for (output, recips) in &f.outputs {
        for (key_id, has_kms) in recips {
            n += 1;
            let Some(id_bytes) = enclave::receipt::fields::hex32(key_id) else {
                problems.push(format!("output {output}: recipient {key_id} is not a key id"));
                continue;
            };
            if let Err(refusal) = policy.check(target, &id_bytes, *has_kms) {
                problems.push(format!("output {output}: {refusal}"));
            }
        }
    }
    if problems.is_empty() {
        Check::pass(
            id,
            format!(
                "all {n} output recipient(s) are allowed by {label} for {}",
                enclave::recipients::policy::target_label(target)
            ),
        )
    } else {
        Check::fail(id, format!("not allowed by {label}: {}", problems.join("; ")))
    }
}

/// `recipients.inputs_bound`: every input data key was decrypted with the
/// `proofpack:recipients` context of the job's policy.
fn input_checks(out: &mut Vec<Check>, f: &RecipientsFacts, digest: Option<&str>, allow: bool) {
    let id = "recipients.inputs_bound";
    let mut unbound = Vec::new();
    let mut other = Vec::new();
    for (input, arn, ctx) in &f.decrypts {
        match context_state(ctx, digest) {
            ContextState::Bound => {}
            ContextState::Unbound => unbound.push(format!("{input} ({arn})")),
            ContextState::Other(v) => other.push(format!("{input} ({arn}) names policy {v}")),
        }
    }
    if !other.is_empty() {
        out.push(Check::fail(
            id,
            format!("inputs bound to another recipients policy: {}", other.join("; ")),
        ));
    } else if !unbound.is_empty() {
        out.push(unbound_check(
            id,
            allow,
            format!("inputs not bound to a recipients policy: {}", unbound.join("; ")),
        ));
    } else if f.decrypts.is_empty() {
        out.push(Check::skipped(id, "the receipt records no successful input Decrypt"));
    } else {
        out.push(Check::pass(
            id,
            format!(
                "every input data key ({}) was decrypted with proofpack:recipients = the job's policy",
                f.decrypts.len()
            ),
        ));
    }
}
