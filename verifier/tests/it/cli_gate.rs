//! `proofpack gate --eif IMAGE --expect pcrs.json`: exit codes and formats,
//! on the shipped EIF vectors.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vec_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/eif").join(name)
}

fn gate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .arg("gate")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn s(p: PathBuf) -> String {
    p.to_str().unwrap().to_string()
}

#[test]
fn matching_image_exits_0() {
    let eif = s(vec_dir("v2-two-ramdisks").join("image.eif"));
    let exp = s(vec_dir("v2-two-ramdisks").join("pcrs.json"));
    for f in ["text", "json", "markdown", "html", "junit", "sarif", "github"] {
        let o = gate(&["--eif", &eif, "--expect", &exp, "--format", f]);
        assert_eq!(o.status.code(), Some(0), "{f}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(!o.stdout.is_empty());
    }
    let o = gate(&["--eif", &eif, "--expect", &exp, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["subjects"][0]["kind"], "image");
}

#[test]
fn mismatch_exits_1_and_names_the_pcr() {
    let eif = s(vec_dir("tiny").join("image.eif"));
    let exp = s(vec_dir("v1-one-ramdisk").join("pcrs.json"));
    let o = gate(&["--eif", &eif, "--expect", &exp, "--format", "github"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("::error file="), "{out}");
    assert!(out.contains("rebuild.pcr.0"));
    // A file that is not an EIF is a failed gate, not a crash.
    let o =
        gate(&["--eif", &s(vec_dir("tiny").join("kernel")), "--expect", &exp, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn invalid_input_exits_2() {
    let eif = s(vec_dir("tiny").join("image.eif"));
    // Missing image file.
    let o = gate(&["--eif", "/nonexistent.eif", "--expect", &s(vec_dir("tiny").join("pcrs.json"))]);
    assert_eq!(o.status.code(), Some(2));
    // Malformed expectations.
    let o = gate(&["--eif", &eif, "--expect", &s(vec_dir("tiny").join("cmdline.txt"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cmdline.txt"));
    // Usage error.
    let o = gate(&["--eif", &eif]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn report_to_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gate.sarif");
    let eif = s(vec_dir("tiny").join("image.eif"));
    let exp = s(vec_dir("tiny").join("pcrs.json"));
    let o =
        gate(&["--eif", &eif, "--expect", &exp, "--format", "sarif", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("PASS"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    assert_eq!(v["version"], "2.1.0");
}
