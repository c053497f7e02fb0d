//! Shared pieces of the end-to-end tests that run the real binaries
//! (`e2e_pack.rs`, `e2e_seal.rs`): the `proofpack-enclave` binary, a demo
//! image measured by the development NSM, SOPS inputs wrapped by the local
//! KMS, and a running `proofpack-enclave serve`.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use attestation::testca::{TestCa, TestCaConfig};
use build_spec::eif::metadata::BuildMetadata;
use build_spec::eif::{read_eif_file, Arch, EifBuilder, EifMetadata, Input, ReadOptions};
use build_spec::pcr::Measurements;
use serde_json::Value;

use super::kms_local::{KmsLocal, PRINCIPALS};
#[allow(unused_imports)] // not every test binary uses every helper
pub use super::sops_fixture::{sops_file, test_policy, POLICY_PATH};

/// Writes the tests' recipients policy next to the secrets in `dir`
/// (`dir/.proofpack/recipients.json`, the documented layout) and returns
/// its path; the SOPS files of [`sops_file`] are bound to it.
pub fn policy_next_to(dir: &Path) -> PathBuf {
    let p = dir.join(POLICY_PATH);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, test_policy()).unwrap();
    p
}

/// The build-info file baked into the demo image (an operator's claim about
/// the source; the audit checks it by rebuilding).
pub const BUILD_INFO: &str = r#"{"buildSpec":{"digest":{"sha256":"66c73a65ccd8e53a57e78190e4c9f790bb7660574fc1a87c5944eb11c251cf5b"},"path":"build/enclave.toml"},"commit":{"gitCommit":"3d942f9c40422e95265e7e04c140c0cc6116c6df"},"repository":"git+https://github.com/proofpack/proofpack","tree":"f57fcd9750789003261a6ef6faf9f7572106ef32","tools":{"proofpack":"0.1.0"}}"#;

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `proofpack-enclave` from the workspace target dir (`cargo test --workspace`
/// builds it). When a test runs alone (`cargo test -p proofpack` does not
/// build other packages' binaries) it is built into a separate target dir:
/// the outer cargo holds the lock on the main one while tests run.
pub fn enclave_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("proofpack-enclave");
    if bin.exists() {
        return bin;
    }
    let nested = dir.join("e2e-nested-target");
    let st = Command::new(env!("CARGO"))
        .args(["build", "--locked", "-p", "proofpack-enclave", "--bin", "proofpack-enclave"])
        .args(["--features", "dev-nsm"])
        .env("CARGO_TARGET_DIR", &nested)
        .current_dir(repo())
        .status()
        .unwrap();
    assert!(st.success(), "building proofpack-enclave failed");
    nested.join("debug").join("proofpack-enclave")
}

/// Writes a demo image to `path` and returns its PCRs. Its user ramdisk
/// holds the real `proofpack-enclave` binary, the build-info file and
/// `variant` (so two variants have different PCRs); the kernel is a
/// placeholder: the image is measured, never booted.
pub fn demo_image(path: &Path, variant: &[u8]) -> Measurements {
    let enclave = std::fs::read(enclave_bin()).unwrap();
    let mut app =
        b"proofpack demo image: /bin/proofpack-enclave + /etc/proofpack/build-info.json\n".to_vec();
    app.extend_from_slice(&enclave);
    app.extend_from_slice(BUILD_INFO.as_bytes());
    app.extend_from_slice(variant);
    let b = EifBuilder {
        kernel: Input::Bytes(b"placeholder kernel (measured, never booted)".to_vec()),
        cmdline: b"console=ttyS0 init=/init".to_vec(),
        ramdisks: vec![Input::Bytes(b"init ramdisk".to_vec()), Input::Bytes(app)],
        arch: Arch::X86_64,
        metadata: EifMetadata {
            image_name: "proofpack-demo".into(),
            image_version: "1".into(),
            build: BuildMetadata {
                build_time: "1970-01-01T00:00:00+00:00".into(),
                build_tool: "proofpack-e2e".into(),
                build_tool_version: "0".into(),
                operating_system: "Linux".into(),
                kernel_version: "6.1".into(),
            },
            docker_info: Value::Null,
            custom: Value::Null,
        },
        signer: None,
    };
    let (bytes, _) = b.to_vec().unwrap();
    std::fs::write(path, bytes).unwrap();
    read_eif_file(path, &ReadOptions::default()).unwrap().measurements()
}

/// A development CA (TEST ONLY) valid from an hour ago, saved to
/// `<dir>/dev-ca` for the development NSM, and its root at
/// `<dir>/dev-root.pem` for the verifier; returns both paths.
pub fn dev_ca(dir: &Path) -> (PathBuf, PathBuf) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ca_dir = dir.join("dev-ca");
    let ca = TestCa::generate(&TestCaConfig::long_lived(now - 3600, 30)).unwrap();
    ca.save(&ca_dir).unwrap();
    let root_pem = dir.join("dev-root.pem");
    std::fs::write(&root_pem, ca.root_pem()).unwrap();
    (ca_dir, root_pem)
}

/// Sets the SigV4 credentials of the local KMS principal with access key `id`.
pub fn with_creds(cmd: &mut Command, id: &str) {
    let (i, s, _, _) = PRINCIPALS.iter().find(|p| p.0 == id).unwrap();
    cmd.env("AWS_ACCESS_KEY_ID", i).env("AWS_SECRET_ACCESS_KEY", s).env_remove("AWS_SESSION_TOKEN");
}

/// A running `proofpack-enclave serve` (killed on drop) and its log file.
pub struct Serve(pub Child, pub PathBuf);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `proofpack-enclave serve` on a free loopback port with NSM `nsm`
/// (`dev:EIF,CA_DIR`), signing KMS calls as the enclave principal; returns
/// it and its address once it listens.
pub fn serve(nsm: &str, kms: &KmsLocal, dir: &Path, build_info: &Path) -> (Serve, String) {
    serve_with(nsm, kms, dir, build_info, true)
}

/// [`serve`], optionally with no AWS credentials in its environment (as in
/// an enclave: jobs must carry them).
pub fn serve_with(
    nsm: &str,
    kms: &KmsLocal,
    dir: &Path,
    build_info: &Path,
    env_creds: bool,
) -> (Serve, String) {
    serve_args(nsm, kms, dir, build_info, env_creds, &[])
}

/// [`serve_with`] with extra `serve` arguments (e.g. `--workers 2`).
pub fn serve_args(
    nsm: &str,
    kms: &KmsLocal,
    dir: &Path,
    build_info: &Path,
    env_creds: bool,
    extra: &[&str],
) -> (Serve, String) {
    let addr_file = dir.join("addr");
    let log = dir.join("serve.log");
    let mut cmd = Command::new(enclave_bin());
    cmd.args(["serve", "--listen", "tcp:127.0.0.1:0", "--kms", &kms.endpoint(), "--nsm", nsm])
        .arg("--build-info")
        .arg(build_info)
        .arg("--addr-file")
        .arg(&addr_file)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    if env_creds {
        with_creds(&mut cmd, "AKIDENCLAVE");
    } else {
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN");
    }
    let s = Serve(cmd.spawn().unwrap(), log);
    let start = Instant::now();
    loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            return (s, a);
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "serve did not start: {}",
            std::fs::read_to_string(&s.1).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A key in `kms` whose policy lets the admin do everything but Decrypt and
/// the enclave role Decrypt only with a Recipient document of `pcrs`
/// (PCR0-2); returns its ARN.
pub fn create_pinned_key(kms: &KmsLocal, pcrs: &Measurements) -> String {
    let admin = kms.client("AKIDADMIN");
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
         "NotAction": "kms:Decrypt", "Resource": "*"},
        {"Sid": "PinnedEnclave", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/pack-enclave"},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEqualsIgnoreCase": {
            "kms:RecipientAttestation:PCR0": pcrs.hex(0).unwrap(),
            "kms:RecipientAttestation:PCR1": pcrs.hex(1).unwrap(),
            "kms:RecipientAttestation:PCR2": pcrs.hex(2).unwrap()}}}]});
    let md = admin
        .call(
            "CreateKey",
            &serde_json::json!({"Policy": policy.to_string(), "Description": "sops e2e"}),
        )
        .unwrap();
    md["KeyMetadata"]["Arn"].as_str().unwrap().to_string()
}
