//! The exit-status contract, one class at a time: 0 every check passed,
//! 1 a check failed, 2 invalid input or usage, 3 internal error.
//!
//! CI systems branch on these codes, so each class is provoked the way a user
//! would meet it: a real document that verifies (0) or does not at the
//! current time (1), a missing or malformed file and a bad flag (2), and
//! standard output on a full disk (3).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    c.env("NO_COLOR", "1");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run proofpack")
}

/// A real AWS document; it verifies at its own timestamp, and its leaf
/// certificate has long expired, so it fails at the current time.
fn doc() -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testvectors/attestation/2024-09-07_us-east-1_blocky_nondebug_maxfields.b64");
    p.display().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn zero_when_every_check_passes() {
    let o = run(&["attestation", "verify", &doc()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(run(&["version"]).status.code(), Some(0));
    assert_eq!(run(&["--help"]).status.code(), Some(0));
}

#[test]
fn one_when_a_check_fails() {
    let o = run(&["attestation", "verify", &doc(), "--at", "now"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("verdict: FAIL"));
}

#[test]
fn two_for_missing_or_malformed_input_and_bad_flags() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("missing.cbor");
    let o = run(&["attestation", "verify", missing.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));

    let bad = dir.path().join("pcrs.json");
    std::fs::write(&bad, "{\"Measurements\": 7}").expect("write");
    let o = run(&["attestation", "verify", &doc(), "--expect-pcrs", bad.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    let o = run(&["attestation", "verify", &doc(), "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Standard output on a full disk: the report cannot be written, which is
/// not the user's input (2) nor a failed check (1) but an internal error.
#[test]
#[cfg(target_os = "linux")]
fn three_when_the_output_cannot_be_written() {
    for args in [vec!["attestation", "verify", doc().as_str()], vec!["version"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let o = bin()
            .args(&args)
            .stdout(Stdio::from(full))
            .stderr(Stdio::piped())
            .output()
            .expect("run proofpack");
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error: "), "{args:?}: {}", stderr(&o));
    }
}
