//! `proofpack receipt verify` on the synthetic receipt of testvectors/receipts
//! and on receipts derived from it (re-signed with the RFC 8032 TEST 2 key,
//! which is the synthetic doc_R's key).
use std::path::PathBuf;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use enclave::receipt::dsse::{Envelope, PAYLOAD_TYPE};
use serde_json::Value;
use verifier::attestation::{TrustAnchor, VerifyOptions};
use verifier::receipt::{verify_receipt, ReceiptOptions};
use verifier::report::{Outcome, Verdict};

fn rv(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testvectors/receipts").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(rv(name)).unwrap()
}

fn opts(artifact: bool) -> ReceiptOptions {
    let root =
        TrustAnchor::from_pem_or_der(&read("synthetic_nitro_root.pem"), "synthetic root").unwrap();
    let mut o = ReceiptOptions {
        attestation: VerifyOptions { roots: vec![root], ..VerifyOptions::default() },
        ..ReceiptOptions::default()
    };
    if artifact {
        o.artifacts.push(("prod.ppa".into(), read("synthetic_artifact.ppa")));
    }
    o
}

fn outcome(r: &verifier::receipt::ReceiptReport, id: &str) -> Outcome {
    r.checks
        .0
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
        .outcome
        .clone()
}

fn is_fail(r: &verifier::receipt::ReceiptReport, id: &str) -> bool {
    matches!(outcome(r, id), Outcome::Fail { .. })
}

/// Re-signs an edited statement with the synthetic doc_R key (RFC 8032 TEST 2).
fn resign(edit: impl FnOnce(&mut Value), pretty: bool) -> Vec<u8> {
    let mut st: Value = serde_json::from_slice(&read("synthetic_receipt_statement.json")).unwrap();
    edit(&mut st);
    let payload = if pretty {
        serde_json::to_vec_pretty(&st).unwrap()
    } else {
        enclave::json::to_jcs(&st).unwrap()
    };
    let seed: [u8; 32] =
        hex::decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
            .unwrap()
            .try_into()
            .unwrap();
    Envelope::sign(PAYLOAD_TYPE, payload, &SigningKey::from_bytes(&seed), None)
        .unwrap()
        .to_json_bytes()
}

#[test]
fn synthetic_receipt_passes_with_its_root_and_artifact() {
    let mut o = opts(true);
    o.inputs.push(("synthetic_input.enc.yaml".into(), read("synthetic_input.enc.yaml")));
    o.expected_request = Some(read("synthetic_job_request.json"));
    o.expected_nonce = Some(
        hex::decode("6055b604aa87871d1ab5c739727fcb23bd05043d6cf7024befb4809fe08f3ed7").unwrap(),
    );
    let r = verify_receipt(&read("synthetic_receipt.dsse.json"), &o);
    assert_eq!(outcome(&r, "input.synthetic_input.enc.yaml"), Outcome::Pass);
    assert_eq!(outcome(&r, "request.ours"), Outcome::Pass);
    assert_eq!(outcome(&r, "request.nonce"), Outcome::Pass);
    let failed: Vec<_> = r.checks.failures().collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(r.verdict(), Verdict::Pass);
    assert!(r.uses_non_aws_root());
    assert_eq!(outcome(&r, "trust.root"), Outcome::Warn);
    assert_eq!(outcome(&r, "artifact.prod.ppa"), Outcome::Pass);
    assert_eq!(
        r.receipt_id.as_deref(),
        Some("85a1ad292bf676a25e75495a647b0423603fcaa3ac19d436e4c1e9c6d8c6fcb9")
    );
    // Without expected PCRs the verifier reminds that it shows which image
    // ran, unless the caller compares the PCRs itself (the audit).
    assert_eq!(outcome(&r, "measurement.pcrs"), Outcome::Warn);
    o.pcrs_compared_by_caller = true;
    let r = verify_receipt(&read("synthetic_receipt.dsse.json"), &o);
    assert!(r.checks.0.iter().all(|c| c.id != "measurement.pcrs"));
    assert_eq!(r.verdict(), Verdict::Pass);
}

#[test]
fn aws_root_fails_attestation_and_skips_content() {
    let o = ReceiptOptions::default();
    let r = verify_receipt(&read("synthetic_receipt.dsse.json"), &o);
    assert_eq!(r.verdict(), Verdict::Fail);
    assert!(is_fail(&r, "attestation.receipt_doc") && is_fail(&r, "attestation.kms_doc"));
    assert!(matches!(outcome(&r, "binding.user_data"), Outcome::Skipped { .. }));
    assert!(!r
        .checks
        .0
        .iter()
        .any(|c| c.id == "request.consistency" && c.outcome == Outcome::Pass));
}

type Edit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn tampered_receipts_fail_the_right_check() {
    // Flipped payload byte: signature.
    let mut env: Value = serde_json::from_slice(&read("synthetic_receipt.dsse.json")).unwrap();
    let mut payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    payload[200] ^= 1;
    env["payload"] = Value::String(STANDARD.encode(&payload));
    let r = verify_receipt(&serde_json::to_vec(&env).unwrap(), &opts(false));
    assert!(is_fail(&r, "signature") || is_fail(&r, "statement.parse"));
    assert_eq!(r.verdict(), Verdict::Fail);

    // Control: re-signing the unchanged statement still passes.
    let r = verify_receipt(&resign(|_| {}, false), &opts(true));
    assert_eq!(r.verdict(), Verdict::Pass, "{:?}", r.checks.failures().collect::<Vec<_>>());

    let cases: Vec<(&str, Edit, bool)> = vec![
        ("statement.canonical", Box::new(|_| {}), true),
        (
            "binding.nonce",
            Box::new(|st| st["predicate"]["job"]["nonce"] = Value::String("00".repeat(32))),
            false,
        ),
        ("predicate.schema", Box::new(|st| st["predicate"]["extra"] = Value::from(1)), false),
        (
            "consistency.pcrs",
            Box::new(|st| st["predicate"]["enclave"]["pcrs"]["2"] = Value::String("ab".repeat(48))),
            false,
        ),
        (
            "time.window",
            Box::new(|st| {
                st["predicate"]["time"]["finishedOn"] =
                    Value::String("2025-01-15T10:00:03.000Z".into())
            }),
            false,
        ),
        (
            "subject.outputs",
            Box::new(|st| st["subject"][0]["digest"]["sha256"] = Value::String("11".repeat(32))),
            false,
        ),
        (
            "inputs.kms_records",
            Box::new(|st| st["predicate"]["inputs"][0]["kms"][1]["recipient"] = Value::Bool(false)),
            false,
        ),
        (
            "outputs.kms_records",
            Box::new(|st| {
                st["predicate"]["outputs"][0]["recipients"][1]["kms"]["encryptionContext"]["team"] =
                    Value::String("other".into())
            }),
            false,
        ),
        (
            "request.consistency",
            Box::new(|st| {
                st["predicate"]["inputs"][0]["name"] =
                    Value::String("secrets/other.enc.yaml".into())
            }),
            false,
        ),
        (
            "binding.user_data",
            Box::new(|st| {
                // A different request: requestSha256 is consistent, but doc_R binds the original.
                let req =
                    STANDARD.decode(st["predicate"]["job"]["request"].as_str().unwrap()).unwrap();
                let mut v: Value = serde_json::from_slice(&req).unwrap();
                v["jobId"] = Value::String("job-2025-01-15-0001".into());
                v["eifSha384"] = Value::String("00".repeat(48));
                let nreq = enclave::json::to_jcs(&v).unwrap();
                st["predicate"]["job"]["request"] = Value::String(STANDARD.encode(&nreq));
                st["predicate"]["job"]["requestSha256"] =
                    Value::String(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&nreq)));
            }),
            false,
        ),
    ];
    for (check, edit, pretty) in cases {
        let r = verify_receipt(&resign(edit, pretty), &opts(false));
        assert!(is_fail(&r, check), "{check}: {:?}", r.checks.0);
        assert_eq!(r.verdict(), Verdict::Fail, "{check}");
    }
}

#[test]
fn not_our_request_or_input_fails() {
    let mut o = opts(false);
    o.expected_nonce = Some(vec![0; 32]);
    let mut req = read("synthetic_job_request.json");
    req.push(b' ');
    o.expected_request = Some(req);
    let mut input = read("synthetic_input.enc.yaml");
    input.extend_from_slice(b"# changed\n");
    o.inputs.push(("changed.yaml".into(), input));
    let r = verify_receipt(&read("synthetic_receipt.dsse.json"), &o);
    assert!(
        is_fail(&r, "request.ours")
            && is_fail(&r, "request.nonce")
            && is_fail(&r, "input.changed.yaml")
    );
}

#[test]
fn wrong_artifact_fails() {
    let mut o = opts(false);
    let mut bytes = read("synthetic_artifact.ppa");
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    o.artifacts.push(("tampered.ppa".into(), bytes));
    let r = verify_receipt(&read("synthetic_receipt.dsse.json"), &o);
    assert!(is_fail(&r, "artifact.tampered.ppa"));
    assert_eq!(r.verdict(), Verdict::Fail);
}

#[test]
fn cli_text_and_json() {
    let bin = env!("CARGO_BIN_EXE_proofpack");
    let out = Command::new(bin)
        .args([
            "receipt",
            "verify",
            rv("synthetic_receipt.dsse.json").to_str().unwrap(),
            "--root",
            rv("synthetic_nitro_root.pem").to_str().unwrap(),
        ])
        .args(["--artifact", rv("synthetic_artifact.ppa").to_str().unwrap(), "--format", "json"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["development_root"], true);
    let out = Command::new(bin)
        .args(["receipt", "verify", rv("synthetic_receipt.dsse.json").to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL attestation.receipt_doc") && text.contains("verdict: FAIL"),
        "{text}"
    );
    let out = Command::new(bin).args(["receipt", "verify", "/nonexistent.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Issue 18: receipts verified with a shared chain cache give exactly the
/// same checks with fewer P-384 verifications, and a warm cache never lets
/// a document pass under a trust root it does not chain to (the anchor and
/// validity are checked every time; only signature pairs are cached).
#[test]
fn shared_chain_cache_changes_cost_not_results() {
    use std::sync::Arc;
    let cache = Arc::new(verifier::attestation::ChainCache::new());
    let mut o = opts(true);
    o.chain_cache = Some(Arc::clone(&cache));
    let receipt = read("synthetic_receipt.dsse.json");
    let sigs = |r: &verifier::receipt::ReceiptReport| {
        r.doc_k.as_ref().unwrap().signatures_computed
            + r.doc_r.as_ref().unwrap().signatures_computed
    };
    let cold = verify_receipt(&receipt, &opts(true));
    let first = verify_receipt(&receipt, &o);
    let warm = verify_receipt(&receipt, &o);
    assert_eq!(cold.verdict(), Verdict::Pass);
    for r in [&first, &warm] {
        let ids = |r: &verifier::receipt::ReceiptReport| {
            r.checks.0.iter().map(|c| (c.id.clone(), c.outcome.clone())).collect::<Vec<_>>()
        };
        assert_eq!(ids(r), ids(&cold));
    }
    assert!(!cache.is_empty());
    // Cold: every chain link of both documents and both COSE signatures;
    // the first cached run already shares doc_K's chain with doc_R (one
    // enclave); warm: COSE only.
    assert!(sigs(&first) < sigs(&cold), "{} vs {}", sigs(&first), sigs(&cold));
    assert_eq!(sigs(&warm), 2, "warm: only the two COSE signatures");
    assert!(sigs(&cold) > sigs(&warm));

    // The same warm cache with only the AWS root trusted: still fails.
    let mut aws = ReceiptOptions { chain_cache: Some(cache), ..ReceiptOptions::default() };
    aws.attestation.roots = VerifyOptions::default().roots;
    let r = verify_receipt(&receipt, &aws);
    assert_eq!(r.verdict(), Verdict::Fail);
    assert!(is_fail(&r, "attestation.receipt_doc"));
}
