//! AWS KMS key policies: parse, evaluate, and decide whether a key is pinned
//! to an enclave's PCRs.
//!
//! * [`parse`]: the key-policy JSON grammar into a typed [`parse::Policy`]
//!   (size-checked before parsing, duplicate members detected, typed errors).
//! * [`eval`]: the concrete evaluator, `evaluate(&Policy, &Request) -> Decision`
//!   (Allow / explicit deny / implicit deny and which statements decided).
//! * [`pin`]: the analyser answering "can anyone decrypt without an enclave
//!   whose PCRs equal the expected ones?", with findings and a verdict.
//! * [`render`]: least-privilege pinned policies as JSON and Terraform.
//!
//! Semantics follow the IAM and KMS documentation; where AWS does not
//! document a behaviour the analyser never resolves it toward "pinned".

pub mod actions;
pub mod cond;
pub mod context;
pub mod differential;
pub mod eval;
pub mod expected;
pub mod findings;
pub mod glob;
pub mod json;
pub mod parse;
pub mod pin;
pub mod render;

/// Fuzzing hook: parse arbitrary bytes as a key policy (strict and with
/// duplicate readings), analyse what parses, and check the analyser's core
/// promise against the evaluator: a PINNED verdict means no principal class
/// the analyser considered can Decrypt or ReEncryptFrom without a Recipient.
/// Panics on a violation (a fuzzer finding), never on bad input.
pub fn fuzz_policy(data: &[u8]) {
    use std::collections::BTreeMap;
    let _ = parse::Policy::parse(data);
    let Ok(parsed) = parse::parse_readings(data, parse::MAX_POLICY_BYTES) else { return };
    let mut e = BTreeMap::new();
    for i in 0..3u8 {
        e.insert(i, vec![format!("{}", i + 1).repeat(96)]);
    }
    let cfg = pin::Config::new(expected::Expected { pcrs: e });
    for r in &parsed.interpretations {
        let a = pin::analyse(&r.policy, &cfg);
        if a.verdict != pin::PinVerdict::Pinned {
            continue;
        }
        for class in pin::classes(&r.policy, &cfg) {
            for action in ["kms:Decrypt", "kms:ReEncryptFrom", "kms:DeriveSharedSecret"] {
                let req = eval::Request::new(&class.arn, action).assume_iam_allows(true);
                let d = eval::evaluate(&r.policy, &req);
                assert!(
                    d.kind != eval::DecisionKind::Allow,
                    "analyser said PINNED but {} may {action} without attestation",
                    class.arn
                );
            }
        }
    }
}
