//! Every capped input is refused from its size, before it is read (issue 19,
//! item 5): a 150 MB sparse file handed to a command as a receipt, a key
//! policy, an attestation document or an expected-PCR file must produce a
//! quick "too large" error with exit status 2.
//!
//! The error must give the file's exact size ("157286400 bytes"): only the
//! size check that runs before reading knows it (a bounded read that stops
//! at the limit can only say "more than N bytes"), so these tests fail if a
//! command goes back to reading first and checking afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// 150 MB, as in the issue.
const HUGE: u64 = 150 * 1024 * 1024;

/// A sparse file of [`HUGE`] bytes: no disk space, but `stat` says 150 MB
/// and reading it whole would allocate 150 MB.
fn huge_file(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).expect("create");
    f.set_len(HUGE).expect("set_len");
    p
}

fn proofpack(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run proofpack");
    (out, start.elapsed())
}

/// Exit 2, a clear message naming the file, its size and the limit, and no
/// time spent reading.
fn assert_refused_unread(out: &Output, took: Duration, file: &Path, limit: u64) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("too large"), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains(&format!("{HUGE} bytes")), "size not checked first: {err}");
    assert!(err.contains(&format!("limit for this input is {limit} bytes")), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn receipt_verify_refuses_a_huge_receipt_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = huge_file(dir.path(), "receipt.dsse.json");
    let (out, took) = proofpack(&["receipt", "verify", r.to_str().expect("utf-8")]);
    assert_refused_unread(&out, took, &r, enclave::receipt::dsse::MAX_ENVELOPE as u64);
}

#[test]
fn audit_refuses_a_huge_receipt_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = huge_file(dir.path(), "receipt.dsse.json");
    let (out, took) = proofpack(&["audit", r.to_str().expect("utf-8"), "--repo", "."]);
    assert_refused_unread(&out, took, &r, enclave::receipt::dsse::MAX_ENVELOPE as u64);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read receipt"));
}

#[test]
fn audit_refuses_a_huge_key_policy_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receipt = dir.path().join("receipt.json");
    std::fs::write(&receipt, b"{}").expect("write");
    let p = huge_file(dir.path(), "policy.json");
    let arg = format!("arn:aws:kms:eu-west-1:111122223333:key/k={}", p.display());
    let (out, took) = proofpack(&[
        "audit",
        receipt.to_str().expect("utf-8"),
        "--repo",
        ".",
        "--kms-policy",
        &arg,
    ]);
    assert_refused_unread(&out, took, &p, verifier::cli::input::MAX_POLICY_FILE);
}

#[test]
fn kms_policy_check_refuses_a_huge_policy_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = huge_file(dir.path(), "policy.json");
    let (out, took) = proofpack(&[
        "kms-policy",
        "check",
        p.to_str().expect("utf-8"),
        "--expect-pcrs",
        p.to_str().expect("utf-8"),
    ]);
    assert_refused_unread(&out, took, &p, verifier::cli::input::MAX_POLICY_FILE);
}

#[test]
fn gate_refuses_a_huge_expected_pcr_file_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expect = huge_file(dir.path(), "pcrs.json");
    let eif = dir.path().join("image.eif");
    std::fs::write(&eif, b"not an eif").expect("write");
    let (out, took) = proofpack(&[
        "gate",
        "--eif",
        eif.to_str().expect("utf-8"),
        "--expect",
        expect.to_str().expect("utf-8"),
    ]);
    assert_refused_unread(&out, took, &expect, build_spec::pcr::measurements::MAX_JSON_LEN as u64);
}

#[test]
fn attestation_verify_refuses_a_huge_document_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let doc = huge_file(dir.path(), "doc.cbor");
    let (out, took) = proofpack(&["attestation", "verify", doc.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("too large") && err.contains(&format!("{HUGE} bytes")), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
