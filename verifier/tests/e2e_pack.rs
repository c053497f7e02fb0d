//! End to end on one machine (issue 6): a demo image, the local KMS with a
//! key policy pinned to the image's PCRs, `proofpack-enclave serve` with the
//! development NSM measuring that image, `proofpack pack`, receipt checks and
//! `proofpack-enclave open`. Then the same with an image whose PCRs differ:
//! KMS answers AccessDenied and the pack fails with a clear error.
//!
//! The demo image is built here with build_spec's EIF writer (`EifBuilder`):
//! its user ramdisk holds the real `proofpack-enclave` binary and the
//! build-info file; the kernel is a generated placeholder (the image is
//! measured, never booted: the development NSM only needs its bytes).
#![allow(clippy::unwrap_used)]

#[path = "common/kms_local.rs"]
mod kms_local;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use build_spec::eif::metadata::BuildMetadata;
use build_spec::eif::{read_eif_file, Arch, EifBuilder, EifMetadata, Input, ReadOptions};
use build_spec::pcr::Measurements;
use enclave::attestation::testca::{TestCa, TestCaConfig};
use enclave::backend::{EncryptRequest, Kms};
use enclave::receipt::dsse::{parse_ed25519_spki, Envelope};
use enclave::receipt::nsm_doc::read_fields;
use enclave::receipt::statement::binding;
use enclave::secret::{SecretBytes, SecretKey32};
use enclave::sops::{KmsEntry, PlainLeaf, PlainNode, ValueType};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use verifier::attestation::chain::TrustAnchor;
use verifier::attestation::verify::{verify, Expectations, VerifyAt, VerifyOptions};
use verifier::report::Verdict;

use kms_local::{KmsLocal, PRINCIPALS};

const BUILD_INFO: &str = r#"{"buildSpec":{"digest":{"sha256":"66c73a65ccd8e53a57e78190e4c9f790bb7660574fc1a87c5944eb11c251cf5b"},"path":"build/enclave.toml"},"commit":{"gitCommit":"3d942f9c40422e95265e7e04c140c0cc6116c6df"},"repository":"git+https://github.com/proofpack/proofpack","tree":"f57fcd9750789003261a6ef6faf9f7572106ef32","tools":{"proofpack":"0.1.0"}}"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `proofpack-enclave` from the workspace target dir (`cargo test --workspace`
/// builds it). When this test runs alone (`cargo test -p proofpack` does not
/// build other packages' binaries) it is built into a separate target dir:
/// the outer cargo holds the lock on the main one while tests run.
fn enclave_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("proofpack-enclave");
    if bin.exists() {
        return bin;
    }
    let nested = dir.join("e2e-nested-target");
    let st = Command::new(env!("CARGO"))
        .args(["build", "--locked", "-p", "proofpack-enclave", "--bin", "proofpack-enclave"])
        .env("CARGO_TARGET_DIR", &nested)
        .current_dir(repo())
        .status()
        .unwrap();
    assert!(st.success(), "building proofpack-enclave failed");
    nested.join("debug").join("proofpack-enclave")
}

fn demo_image(path: &Path, variant: &[u8]) -> Measurements {
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

fn plain(v: &Value) -> PlainNode {
    let leaf = |kind, s: String| {
        PlainNode::Leaf(PlainLeaf {
            kind,
            was_encrypted: true,
            bytes: SecretBytes::new(s.into_bytes()),
        })
    };
    match v {
        Value::Object(m) => PlainNode::Map(m.iter().map(|(k, x)| (k.clone(), plain(x))).collect()),
        Value::String(s) => leaf(ValueType::Str, s.clone()),
        Value::Number(n) => leaf(ValueType::Int, n.to_string()),
        other => panic!("unsupported {other}"),
    }
}

/// A SOPS file whose data key is wrapped by the local KMS key `arn`.
fn sops_file(kms: &dyn Kms, arn: &str, doc: &Value) -> Vec<u8> {
    let key = SecretKey32::generate();
    let ctx: BTreeMap<String, String> = BTreeMap::new();
    let blob = kms
        .encrypt(&EncryptRequest {
            key_id: arn.into(),
            plaintext: SecretBytes::from_slice(key.expose()),
            encryption_context: ctx.clone(),
        })
        .unwrap()
        .ciphertext_blob;
    let entries = vec![KmsEntry { arn: arn.into(), role: None, context: ctx, enc: blob }];
    enclave::sops::encrypt_json(&plain(doc), &key, &entries, "2026-01-01T00:00:00Z").unwrap()
}

struct Serve(Child, PathBuf);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(eif: &Path, ca: &Path, kms: &KmsLocal, dir: &Path, build_info: &Path) -> (Serve, String) {
    let addr_file = dir.join("addr");
    let log = dir.join("serve.log");
    let (id, secret, _, _) = PRINCIPALS.iter().find(|p| p.0 == "AKIDENCLAVE").unwrap();
    let child = Command::new(enclave_bin())
        .args(["serve", "--listen", "tcp:127.0.0.1:0", "--kms", &kms.endpoint()])
        .arg("--nsm")
        .arg(format!("dev:{},{}", eif.display(), ca.display()))
        .arg("--build-info")
        .arg(build_info)
        .arg("--addr-file")
        .arg(&addr_file)
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("AWS_SESSION_TOKEN")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let s = Serve(child, log);
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

fn pack(addr: &str, inputs: &[PathBuf], recipient_pub: &Path, out: &Path) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    cmd.args([
        "pack",
        "--enclave",
        addr,
        "--service",
        "api",
        "--environment",
        "prod",
        "--output",
        "api-prod.ppa",
        "--format",
        "json",
    ]);
    for i in inputs {
        cmd.arg("--input").arg(i);
    }
    cmd.arg("--recipient")
        .arg(recipient_pub)
        .arg("--out-dir")
        .arg(out)
        .arg("--job-id")
        .arg("e2e-job");
    cmd.output().unwrap()
}

#[test]
fn pack_end_to_end_and_pcr_mismatch_is_denied() {
    let d = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ca_dir = d.path().join("dev-ca");
    let ca = TestCa::generate(&TestCaConfig::long_lived(now - 3600, 30)).unwrap();
    ca.save(&ca_dir).unwrap();
    let root_pem = d.path().join("dev-root.pem");
    std::fs::write(&root_pem, ca.root_pem()).unwrap();

    let eif_a = d.path().join("demo.eif");
    let eif_b = d.path().join("demo-modified.eif");
    let pcrs_a = demo_image(&eif_a, b"");
    let pcrs_b = demo_image(&eif_b, b"one changed byte");
    assert_ne!(pcrs_a.get(0), pcrs_b.get(0));

    let kms = KmsLocal::start(Some(&root_pem));
    let admin = kms.client("AKIDADMIN");
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
         "NotAction": "kms:Decrypt", "Resource": "*"},
        {"Sid": "PinnedEnclave", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/pack-enclave"},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEqualsIgnoreCase": {
            "kms:RecipientAttestation:PCR0": pcrs_a.hex(0).unwrap(),
            "kms:RecipientAttestation:PCR1": pcrs_a.hex(1).unwrap(),
            "kms:RecipientAttestation:PCR2": pcrs_a.hex(2).unwrap()}}}]});
    let md = admin
        .call("CreateKey", &json!({"Policy": policy.to_string(), "Description": "sops e2e"}))
        .unwrap();
    let arn = md["KeyMetadata"]["Arn"].as_str().unwrap().to_string();

    let base = d.path().join("base.enc.json");
    let prod = d.path().join("prod.enc.json");
    std::fs::write(
        &base,
        sops_file(
            &admin,
            &arn,
            &json!({"defaults": {"LOG_LEVEL": "info", "DB": {"HOST": "db.internal", "PORT": 5432}},
            "services": {"api": {"API_TOKEN": "s3cr3t-api-token"}}}),
        ),
    )
    .unwrap();
    std::fs::write(&prod, sops_file(&admin, &arn, &json!({"environments": {"prod": {"DB": {"HOST": "db.prod"}, "DB_PASSWORD": "pr0d-passw0rd"}}})))
        .unwrap();
    let build_info = d.path().join("build-info.json");
    std::fs::write(&build_info, BUILD_INFO).unwrap();
    let recipient_pub = repo().join("testvectors/receipts/rsa_test_key_2048.pub.pem");
    let recipient_key = repo().join("testvectors/receipts/rsa_test_key_2048.pem");
    let inputs = [base.clone(), prod.clone()];

    // --- The pinned image packs. ---
    let run_a = d.path().join("run-a");
    std::fs::create_dir_all(&run_a).unwrap();
    let (srv, addr) = serve(&eif_a, &ca_dir, &kms, &run_a, &build_info);
    let out_dir = run_a.join("out");
    let o = pack(&addr, &inputs, &recipient_pub, &out_dir);
    let serve_log = std::fs::read_to_string(&srv.1).unwrap_or_default();
    assert!(
        o.status.success(),
        "pack failed: {}\nserve: {serve_log}\nkms: {}",
        String::from_utf8_lossy(&o.stderr),
        kms.log()
    );
    assert!(serve_log.contains("DEVELOPMENT NSM"), "{serve_log}");
    let artifact = std::fs::read(out_dir.join("api-prod.ppa")).unwrap();
    let receipt = std::fs::read(out_dir.join("api-prod.ppa.receipt.json")).unwrap();
    let request = std::fs::read(out_dir.join("request.json")).unwrap();
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    let nonce = summary["nonce"].as_str().unwrap().to_string();

    // `proofpack receipt verify` with the development root given explicitly,
    // the image's PCRs, our request bytes and nonce, and the artifact.
    let pcrs_json = d.path().join("demo.pcrs.json");
    std::fs::write(&pcrs_json, pcrs_a.to_nitro_json()).unwrap();
    let verify_cli = |extra: &[&str], root: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_proofpack"));
        c.args(["receipt", "verify"])
            .arg(out_dir.join("api-prod.ppa.receipt.json"))
            .arg("--artifact")
            .arg(out_dir.join("api-prod.ppa"))
            .arg("--request")
            .arg(out_dir.join("request.json"))
            .arg("--expect-pcrs")
            .arg(&pcrs_json)
            .args(extra);
        if root {
            c.arg("--root").arg(&root_pem);
        }
        c.output().unwrap()
    };
    let v = verify_cli(&["--nonce", &nonce], true);
    assert!(
        v.status.success(),
        "receipt verify: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    // Without the development root (i.e. against the AWS root) it fails; so does a wrong nonce.
    assert_eq!(verify_cli(&["--nonce", &nonce], false).status.code(), Some(1));
    assert_eq!(verify_cli(&["--nonce", &"00".repeat(32)], true).status.code(), Some(1));

    // Receipt: DSSE under doc_R's key; doc_R and doc_K verify against the
    // (explicitly given) development root with the image's PCRs; binding; subject.
    let env = Envelope::parse(&receipt).unwrap();
    let st: Value = serde_json::from_slice(&env.payload).unwrap();
    let p = &st["predicate"];
    let doc_r = STANDARD.decode(p["attestation"]["receipt"]["document"].as_str().unwrap()).unwrap();
    let doc_k = STANDARD.decode(p["attestation"]["kms"]["document"].as_str().unwrap()).unwrap();
    let fr = read_fields(&doc_r).unwrap();
    assert!(env.verify(&parse_ed25519_spki(fr.public_key.as_ref().unwrap()).unwrap()));
    let req_sha: [u8; 32] = Sha256::digest(&request).into();
    assert_eq!(fr.user_data.clone().unwrap(), binding(&req_sha, &doc_k).to_vec());
    let mut expect_pcrs = Measurements::new();
    for i in 0..3u8 {
        expect_pcrs.insert(i, *pcrs_a.get(i).unwrap());
    }
    for doc in [&doc_r, &doc_k] {
        let opts = VerifyOptions {
            roots: vec![
                TrustAnchor::from_pem_or_der(ca.root_pem().as_bytes(), "development").unwrap()
            ],
            at: VerifyAt::Document,
            expect: Expectations { pcrs: Some(expect_pcrs.clone()), ..Expectations::default() },
            ..VerifyOptions::default()
        };
        let r = verify(doc, &opts);
        assert_eq!(r.verdict(), Verdict::Pass, "{:?}", r.errors);
        // ... and never against the AWS root.
        assert_eq!(verify(doc, &VerifyOptions::default()).verdict(), Verdict::Fail);
    }
    assert_eq!(st["subject"][0]["digest"]["sha256"], hex::encode(Sha256::digest(&artifact)));
    assert_eq!(p["inputs"][0]["kms"][0]["outcome"], "ok");
    assert_eq!(
        p["inputs"][0]["kms"][0]["keyArn"].as_str().or(p["inputs"][0]["kms"][0]["arn"].as_str()),
        Some(arn.as_str())
    );
    for secret in ["s3cr3t-api-token", "pr0d-passw0rd"] {
        assert!(!String::from_utf8_lossy(&receipt).contains(secret));
        assert!(!String::from_utf8_lossy(&artifact).contains(secret));
        assert!(!serve_log.contains(secret) && !kms.log().contains(secret));
    }

    // Open with the recipient key, pinned to the receipt's subject digest.
    let opened = Command::new(enclave_bin())
        .arg("open")
        .arg(out_dir.join("api-prod.ppa"))
        .arg("--key")
        .arg(&recipient_key)
        .arg("--expect-sha256")
        .arg(hex::encode(Sha256::digest(&artifact)))
        .output()
        .unwrap();
    assert!(opened.status.success(), "{}", String::from_utf8_lossy(&opened.stderr));
    let merged: Value = serde_json::from_slice(&opened.stdout).unwrap();
    assert_eq!(
        merged,
        json!({"API_TOKEN": "s3cr3t-api-token", "DB": {"HOST": "db.prod", "PORT": 5432}, "DB_PASSWORD": "pr0d-passw0rd", "LOG_LEVEL": "info"})
    );
    drop(srv);

    // --- An image whose PCRs differ: KMS denies, the pack fails clearly. ---
    let run_b = d.path().join("run-b");
    std::fs::create_dir_all(&run_b).unwrap();
    let (_srv_b, addr_b) = serve(&eif_b, &ca_dir, &kms, &run_b, &build_info);
    let o = pack(&addr_b, &inputs, &recipient_pub, &run_b.join("out"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("AccessDeniedException"), "{stderr}");
    assert!(!run_b.join("out").join("api-prod.ppa").exists());
    assert!(
        kms.log().contains("role/pack-enclave Decrypt -> 400 AccessDeniedException ("),
        "{}",
        kms.log()
    );
}
