//! `proofpack attestation ...` end to end: exit codes, input detection,
//! JSON shape, batch mode, show, mint → verify, and agreement with an
//! independent Python verifier (cbor2 + pyca/cryptography) on every vector.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    c.env("NO_COLOR", "1");
    c
}

fn vdir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/attestation")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run proofpack")
}

fn v(name: &str) -> String {
    vdir().join(name).display().to_string()
}

const NONDEBUG: &str = "2024-09-07_us-east-1_blocky_nondebug_maxfields.b64";
const CBOR: &str = "2022-10-13_us-east-1_evervault_nondebug.cbor";

#[test]
fn verify_real_document_passes_and_states_the_encoding_and_time() {
    let o = run(&["attestation", "verify", &v(NONDEBUG)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("(base64)"), "{out}");
    assert!(out.contains("document's own signed timestamp"), "{out}");
    assert!(out.contains("verdict: PASS"), "{out}");
    let o = run(&["attestation", "verify", &v(CBOR)]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("(raw CBOR)"));
}

#[test]
fn verify_now_fails_with_exit_1() {
    let o = run(&["attestation", "verify", &v(NONDEBUG), "--at", "now"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("expired"));
}

#[test]
fn hex_input_is_detected() {
    let dir = tempfile::tempdir().expect("tmp");
    let raw = std::fs::read(vdir().join(CBOR)).expect("read");
    let p = dir.path().join("doc.hex");
    std::fs::write(&p, hex::encode(raw)).expect("write");
    let o = run(&["attestation", "verify", p.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("(hex)"));
}

#[test]
fn json_output_has_schema_verdict_and_checks() {
    let o = run(&["attestation", "verify", &v(CBOR), "--format", "json", "--nonce", "00"]);
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["verdict"], "fail");
    assert_eq!(j["document"]["encoding"], "raw");
    let checks = j["report"]["checks"].as_array().expect("checks");
    let nonce = checks.iter().find(|c| c["id"] == "attestation.nonce").expect("nonce check");
    assert_eq!(nonce["status"], "fail");
    assert_eq!(nonce["expected"], "00");
    assert_eq!(j["report"]["doc"]["module_id"], "i-020b6af9246d90e92-enc0183d09086c24190");
}

#[test]
fn unreadable_or_undecodable_input_exits_2() {
    assert_eq!(run(&["attestation", "verify", "/nonexistent/doc"]).status.code(), Some(2));
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("x");
    std::fs::write(&p, "this is not a document!").expect("write");
    assert_eq!(run(&["attestation", "verify", p.to_str().expect("utf8")]).status.code(), Some(2));
    assert_eq!(
        run(&["attestation", "verify", &v(CBOR), "--at", "yesterday"]).status.code(),
        Some(2)
    );
}

#[test]
fn expected_pcrs_from_json_and_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let side: serde_json::Value = serde_json::from_slice(
        &std::fs::read(vdir().join(CBOR.replace(".cbor", ".json"))).expect("sidecar"),
    )
    .expect("json");
    let p = &side["expected"]["pcrs"];
    let json = format!(
        r#"{{"Measurements":{{"HashAlgorithm":"Sha384 {{ ... }}","PCR0":"{}","PCR1":"{}","PCR2":"{}"}}}}"#,
        p["0"].as_str().expect("p0"),
        p["1"].as_str().expect("p1"),
        p["2"].as_str().expect("p2")
    );
    let f = dir.path().join("pcrs.json");
    std::fs::write(&f, json).expect("write");
    let fs = f.to_str().expect("utf8");
    assert_eq!(
        run(&["attestation", "verify", &v(CBOR), "--expect-pcrs", fs]).status.code(),
        Some(0)
    );
    let wrong = format!("8={}", "ab".repeat(48));
    let o = run(&["attestation", "verify", &v(CBOR), "--expect-pcrs", fs, "--pcr", &wrong]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAIL attestation.pcr.8"));
}

#[test]
fn batch_directory_and_list() {
    let o =
        run(&["attestation", "verify", "--batch", vdir().to_str().expect("utf8"), "--allow-debug"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("9/9 documents passed"), "{out}");
    let dir = tempfile::tempdir().expect("tmp");
    let list = dir.path().join("list.txt");
    std::fs::write(
        &list,
        format!(
            "# two documents\n{}\n{}\n",
            v(CBOR),
            v("negative/NEG_2024-07-23_us-east-1_eternis_bad-signature.b64")
        ),
    )
    .expect("write");
    let o = run(&[
        "attestation",
        "verify",
        "--batch",
        list.to_str().expect("utf8"),
        "--allow-debug",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["total"], 2);
    assert_eq!(j["passed"], 1);
}

#[test]
fn show_prints_chain_and_pem() {
    let o = run(&["attestation", "show", &v(NONDEBUG)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    assert!(out.starts_with("NOT VERIFIED"), "{out}");
    assert!(out.contains("root: CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US"), "{out}");
    assert!(
        out.contains("sha256   641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b")
    );
    let o = run(&["attestation", "show", &v(NONDEBUG), "--pem"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).matches("-----BEGIN CERTIFICATE-----").count(),
        5
    );
}

#[test]
fn mint_is_labelled_and_verifies_only_with_the_test_root() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = dir.path().join("ca");
    let doc = dir.path().join("doc.cbor");
    let pcr0 = format!("0={}", "11".repeat(48));
    let pcr1 = format!("1={}", "22".repeat(48));
    let pcr2 = format!("2={}", "33".repeat(48));
    let o = run(&[
        "attestation",
        "mint",
        "--ca-dir",
        ca.to_str().expect("utf8"),
        "--pcr",
        &pcr0,
        "--pcr",
        &pcr1,
        "--pcr",
        &pcr2,
        "--nonce",
        "abcd",
        "--indefinite",
        "--out",
        doc.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("TEST/DEV ONLY"));
    let root = ca.join("root.pem");
    let d = doc.to_str().expect("utf8");
    let o = run(&[
        "attestation",
        "verify",
        d,
        "--root",
        root.to_str().expect("utf8"),
        "--at",
        "now",
        "--max-age",
        "10m",
        "--nonce",
        "abcd",
        "--pcr",
        &pcr0,
        "--pcr",
        &pcr1,
        "--pcr",
        &pcr2,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("indefinite payload map"));
    // Expecting PCR0 alone pins neither PCR1 nor PCR2: not a PASS (step 19).
    let partial = run(&[
        "attestation",
        "verify",
        d,
        "--root",
        root.to_str().expect("utf8"),
        "--at",
        "now",
        "--pcr",
        &pcr0,
    ]);
    assert_eq!(partial.status.code(), Some(1), "{}", String::from_utf8_lossy(&partial.stdout));
    let out = String::from_utf8_lossy(&partial.stdout);
    assert!(out.contains("attestation.pcr.1") && out.contains("not in the expected PCRs"), "{out}");
    assert_eq!(run(&["attestation", "verify", d]).status.code(), Some(1));
    let help = run(&["attestation", "mint", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("TEST AND DEVELOPMENT ONLY"));
}

/// The independent Python verifier and proofpack agree on every vector.
#[test]
fn agrees_with_independent_python_verifier() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench/nitro_peer_verify.py");
    let mut docs: Vec<PathBuf> = std::fs::read_dir(vdir())
        .expect("dir")
        .chain(std::fs::read_dir(vdir().join("negative")).expect("dir"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("cbor" | "b64")))
        .collect();
    docs.sort();
    let out = Command::new("python3")
        .arg(&script)
        .arg("--root")
        .arg(vdir().join("AWS_NitroEnclaves_Root-G1.pem"))
        .args(&docs)
        .output()
        .expect("python3 must be installed (scripts/install-test-deps)");
    assert!(
        out.status.success(),
        "python peer failed (run scripts/install-test-deps): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), docs.len());
    for (d, line) in docs.iter().zip(lines) {
        let ours = run(&["attestation", "verify", d.to_str().expect("utf8"), "--allow-debug"])
            .status
            .code();
        let theirs_valid = line.starts_with("VALID ");
        assert_eq!(ours == Some(0), theirs_valid, "{}: python says {line}", d.display());
    }
}

/// `--eif` recomputes PCR0/1/2 from an image: a document minted with that
/// image's PCRs verifies, and a document with other PCRs fails on PCR0..2.
#[test]
fn eif_expectations_come_from_the_image() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = dir.path().join("ca");
    let eif = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/eif/tiny/image.eif");
    let pcrs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/eif/tiny/pcrs.json");
    let good = dir.path().join("good.cbor");
    let bad = dir.path().join("bad.cbor");
    let s = |p: &Path| p.to_str().expect("utf8").to_owned();
    let o = run(&[
        "attestation",
        "mint",
        "--ca-dir",
        &s(&ca),
        "--expect-pcrs",
        &s(&pcrs),
        "--out",
        &s(&good),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let other = format!("0={}", "22".repeat(48));
    let o = run(&["attestation", "mint", "--ca-dir", &s(&ca), "--pcr", &other, "--out", &s(&bad)]);
    assert_eq!(o.status.code(), Some(0));
    let root = s(&ca.join("root.pem"));
    let o = run(&["attestation", "verify", &s(&good), "--root", &root, "--eif", &s(&eif)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("PASS attestation.pcr.0") && out.contains("PASS attestation.pcr.2"),
        "{out}"
    );
    let o = run(&[
        "attestation",
        "verify",
        &s(&bad),
        "--root",
        &root,
        "--eif",
        &s(&eif),
        "--allow-debug",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAIL attestation.pcr.0"));
}
