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
use crate::common::e2e;
use crate::common::e2e::{
    demo_image, dev_ca, enclave_bin, repo, serve, serve_with, sops_file, with_creds, BUILD_INFO,
};
use crate::common::kms_local;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use build_spec::pcr::Measurements;
use enclave::receipt::dsse::{parse_ed25519_spki, Envelope};
use enclave::receipt::statement::binding;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use verifier::attestation::chain::TrustAnchor;
use verifier::attestation::verify::{verify, Expectations, VerifyAt, VerifyOptions};
use verifier::report::Verdict;

use crate::common::kms_local::KmsLocal;

fn pack(addr: &str, inputs: &[PathBuf], recipient_pub: &Path, out: &Path) -> std::process::Output {
    pack_command(addr, inputs, recipient_pub, out).output().unwrap()
}

fn pack_command(addr: &str, inputs: &[PathBuf], recipient_pub: &Path, out: &Path) -> Command {
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
    cmd.arg("--recipients-policy")
        .arg(e2e::policy_next_to(inputs[0].parent().unwrap()))
        .arg("--recipient")
        .arg(recipient_pub)
        .arg("--out-dir")
        .arg(out)
        .arg("--job-id")
        .arg("e2e-job");
    cmd
}

#[test]
fn pack_end_to_end_and_pcr_mismatch_is_denied() {
    let d = tempfile::tempdir().unwrap();
    let (ca_dir, root_pem) = dev_ca(d.path());

    let eif_a = d.path().join("demo.eif");
    let eif_b = d.path().join("demo-modified.eif");
    let pcrs_a = demo_image(&eif_a, b"");
    let pcrs_b = demo_image(&eif_b, b"one changed byte");
    assert_ne!(pcrs_a.get(0), pcrs_b.get(0));

    let kms = KmsLocal::start(Some(&root_pem));
    let admin = kms.client("AKIDADMIN");
    let arn = e2e::create_pinned_key(&kms, &pcrs_a);

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
    let (srv, addr) =
        serve(&format!("dev:{},{}", eif_a.display(), ca_dir.display()), &kms, &run_a, &build_info);
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
    let fr = attestation::parse(&doc_r).unwrap().doc;
    assert!(env.verify(&parse_ed25519_spki(fr.public_key.as_ref().unwrap()).unwrap()));
    let req_sha: [u8; 32] = Sha256::digest(&request).into();
    assert_eq!(fr.user_data.clone().unwrap(), binding(&req_sha, &doc_k).to_vec());
    let mut expect_pcrs = Measurements::new();
    for i in 0..3u8 {
        expect_pcrs.insert(i, *pcrs_a.get(i).unwrap());
    }
    for doc in [&doc_r, &doc_k] {
        let opts = VerifyOptions {
            roots: vec![TrustAnchor::from_pem_or_der(
                &std::fs::read(&root_pem).unwrap(),
                "development",
            )
            .unwrap()],
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
    let (_srv_b, addr_b) =
        serve(&format!("dev:{},{}", eif_b.display(), ca_dir.display()), &kms, &run_b, &build_info);
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

    // --- As in an enclave: serve has no credentials; the job carries them. ---
    let run_c = d.path().join("run-c");
    std::fs::create_dir_all(&run_c).unwrap();
    let (srv_c, addr_c) = serve_with(
        &format!("dev:{},{}", eif_a.display(), ca_dir.display()),
        &kms,
        &run_c,
        &build_info,
        false,
    );
    // Without --send-credentials the job fails clearly.
    let o = pack(&addr_c, &inputs, &recipient_pub, &run_c.join("out-none"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("no AWS credentials"), "{stderr}");
    // --send-credentials without a session token is refused before sending.
    let mut c = pack_command(&addr_c, &inputs, &recipient_pub, &run_c.join("out-notoken"));
    with_creds(&mut c, "AKIDENCLAVE");
    let o = c.arg("--send-credentials").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("AWS_SESSION_TOKEN"));
    // With them, the enclave principal's credentials sign the KMS calls.
    let token = "e2e-session-token-not-in-any-output";
    let out_c = run_c.join("out");
    let mut c = pack_command(&addr_c, &inputs, &recipient_pub, &out_c);
    with_creds(&mut c, "AKIDENCLAVE");
    let o = c.arg("--send-credentials").env("AWS_SESSION_TOKEN", token).output().unwrap();
    let serve_log = std::fs::read_to_string(&srv_c.1).unwrap_or_default();
    assert!(
        o.status.success(),
        "pack failed: {}\nserve: {serve_log}\nkms: {}",
        String::from_utf8_lossy(&o.stderr),
        kms.log()
    );
    assert!(serve_log.contains("with job credentials"), "{serve_log}");
    let (_, secret, _, _) = kms_local::PRINCIPALS.iter().find(|p| p.0 == "AKIDENCLAVE").unwrap();
    for f in ["api-prod.ppa.receipt.json", "request.json"] {
        let text = std::fs::read_to_string(out_c.join(f)).unwrap();
        assert!(!text.contains(secret) && !text.contains(token) && !text.contains("AKIDENCLAVE"));
    }
    assert!(!serve_log.contains(secret) && !serve_log.contains(token));
    assert!(!String::from_utf8_lossy(&o.stdout).contains(token));
}
