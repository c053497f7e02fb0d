//! `proofpack-enclave open` as a process.
use std::process::Command;

fn vec(name: &str) -> String {
    format!("{}/../testvectors/receipts/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn open(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_proofpack-enclave")).arg("open").args(args).output().unwrap()
}

#[test]
fn opens_the_synthetic_artifact_to_stdout_and_file() {
    let out = open(&[&vec("synthetic_artifact.ppa"), "--key", &vec("rsa_test_key_2048.pem")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, std::fs::read(vec("synthetic_artifact.plaintext.json")).unwrap());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.json");
    let sha = "24a3b59a5ef7bcce72d3082fdb27e61ee48fd030f476173e0bfd49cb658c221d";
    let out = open(&[
        &vec("synthetic_artifact.ppa"),
        "--key",
        &vec("rsa_test_key_2048.pem"),
        "--expect-sha256",
        sha,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(vec("synthetic_artifact.plaintext.json")).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn failures_have_distinct_exit_codes() {
    // Digest mismatch → 1, nothing on stdout.
    let out = open(&[
        &vec("synthetic_artifact.ppa"),
        "--key",
        &vec("rsa_test_key_2048.pem"),
        "--expect-sha256",
        &"0".repeat(64),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    // Level-2 entry without an endpoint → 2 with a clear message.
    let out =
        open(&[&vec("synthetic_artifact.ppa"), "--key", &vec("synthetic_recipient2_key_2048.pem")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kms-endpoint"));
    // Not a recipient → 1.
    let out = open(&[
        &vec("synthetic_artifact.ppa"),
        "--key",
        &vec("synthetic_kms_recipient_key_2048.pem"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    // Tampered tag → 1, nothing on stdout.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(vec("synthetic_artifact.ppa")).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    let bad = dir.path().join("bad.ppa");
    std::fs::write(&bad, bytes).unwrap();
    let out = open(&[bad.to_str().unwrap(), "--key", &vec("rsa_test_key_2048.pem")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("authentication"));
}
