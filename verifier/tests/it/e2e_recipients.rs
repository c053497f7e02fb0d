//! Issue 20 end to end with the real binaries (development NSM, local KMS,
//! `proofpack-enclave serve`, `proofpack pack` / `receipt verify` /
//! `recipients` / `kms-policy`) and SOPS files written by the real `sops`
//! tool: the pack is not a decryption oracle.
//!
//! * a file bound to the recipients policy packs for an allowed recipient
//!   and the receipt verifies against the owners' policy file;
//! * the same job with one extra recipient, or with a recipient allowed
//!   only for another environment, is refused by the enclave (no artifact);
//! * a policy changed by one byte is refused by the enclave (the files name
//!   the owners' digest) and, when the parent also rewrites the files'
//!   context, by KMS (the context is authenticated), with a message saying so;
//! * a SOPS file without the context is refused;
//! * malformed, duplicate-member and oversized policies are refused locally.
//!
//! (A receipt from an image built with `allow-unbound-inputs` failing the
//! audit is in `audit_e2e.rs`, which has a rebuildable image.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::e2e::{demo_image, dev_ca, enclave_bin, repo, serve, BUILD_INFO};
use crate::common::kms_local::{KmsLocal, PRINCIPALS};
use crate::common::sops_fixture::{bound_context, real_sops, test_recipient_der};
use enclave::recipients::policy::{entry, write_policy};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use verifier::kms_policy::render::{policy_text, RenderInput};

const SECRETS: &str = "defaults:\n  LOG_LEVEL: info\nservices:\n  api:\n    API_TOKEN: s3cr3t-api-token\nenvironments:\n  prod:\n    DB_PASSWORD: pr0d-passw0rd\n";

fn other_der() -> Vec<u8> {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let pem = std::fs::read_to_string(
        repo().join("testvectors/receipts/synthetic_recipient2_key_2048.pem"),
    )
    .unwrap();
    let k = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    k.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec()
}

fn pem_of(der: &[u8], path: &Path) -> PathBuf {
    use rsa::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
    let k = rsa::RsaPublicKey::from_public_key_der(der).unwrap();
    std::fs::write(path, k.to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    path.to_path_buf()
}

fn proofpack(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    c.args(args).env("NO_COLOR", "1");
    c
}

fn code_and_stderr(o: &Output) -> (Option<i32>, String) {
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

struct Job<'a> {
    addr: &'a str,
    dir: &'a Path,
}

impl Job<'_> {
    /// `proofpack pack` of `input` with `policy` to `recipients` (PEM files), into `out`.
    fn pack(
        &self,
        input: &Path,
        policy: &Path,
        recipients: &[&Path],
        env: &str,
        out: &str,
    ) -> Output {
        let mut c = proofpack(&["pack", "--enclave", self.addr, "--service", "api"]);
        c.args(["--environment", env, "--output", "api.ppa", "--job-id", "recipients-e2e"])
            .arg("--input")
            .arg(input)
            .arg("--recipients-policy")
            .arg(policy)
            .arg("--out-dir")
            .arg(self.dir.join(out));
        for r in recipients {
            c.arg("--recipient").arg(r);
        }
        c.output().unwrap()
    }
}

#[test]
fn bound_flow_with_real_sops_and_every_attacker_move() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let (ca_dir, root_pem) = dev_ca(dir);
    let eif = dir.join("demo.eif");
    let pcrs = demo_image(&eif, b"");
    let kms = KmsLocal::start(Some(&root_pem));

    // The key: pinned to the image and (issue 20) requiring the recipients
    // context for the enclave's Decrypt; the admin may only Encrypt.
    let mut input = RenderInput::from_measurements(
        &pcrs,
        &[0, 1, 2],
        "arn:aws:iam::111122223333:role/pack-enclave",
        "arn:aws:iam::111122223333:role/admin",
    )
    .unwrap();
    input.producers = vec!["arn:aws:iam::111122223333:role/admin".into()];
    input.immutable = true;
    input.require_context = vec![enclave::recipients::CONTEXT_KEY.into()];
    let key_policy = policy_text(&input).unwrap();
    let admin = kms.client("AKIDADMIN");
    let md = admin
        .call("CreateKey", &json!({"Policy": key_policy, "BypassPolicyLockoutSafetyCheck": true}))
        .unwrap();
    let arn = md["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let key_policy_file = dir.join("key-policy.json");
    std::fs::write(&key_policy_file, &key_policy).unwrap();

    // The owners' recipients policy: ops for api/prod, ci only for api/staging.
    let other = other_der();
    let policy_bytes = write_policy(&[
        entry("ops", &test_recipient_der(), "api", "prod"),
        entry("ci", &other, "api", "staging"),
    ]);
    let policy = dir.join(".proofpack/recipients.json");
    std::fs::create_dir_all(policy.parent().unwrap()).unwrap();
    std::fs::write(&policy, &policy_bytes).unwrap();
    let digest = hex::encode(Sha256::digest(&policy_bytes));
    let ops_pub = repo().join("testvectors/receipts/rsa_test_key_2048.pub.pem");
    let ops_key = repo().join("testvectors/receipts/rsa_test_key_2048.pem");
    let other_pub = pem_of(&other, &dir.join("ci.pub.pem"));
    let other_id = hex::encode(Sha256::digest(&other));

    // The helpers tell the owners what to put in the policy and in .sops.yaml.
    let o = proofpack(&["recipients", "fingerprint"]).arg(&ops_pub).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        hex::encode(Sha256::digest(test_recipient_der()))
    );
    let o = proofpack(&["recipients", "sops-context", "--kms-arn", &arn])
        .arg(&policy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("proofpack:recipients: {digest}")) && text.contains(&arn),
        "{text}"
    );
    let o = proofpack(&["recipients", "check", "--service", "api", "--environment", "prod"])
        .arg(&policy)
        .arg("--recipient")
        .arg(&ops_pub)
        .arg("--recipient")
        .arg(&other_pub)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["checked"][0]["allowed"], true);
    assert_eq!(v["checked"][1]["allowed"], false);
    assert_eq!(v["sha256"], digest.as_str());

    // The SOPS file, written by the real sops with the bound context.
    let admin_creds = (PRINCIPALS[0].0, PRINCIPALS[0].1);
    let bound = real_sops(
        &dir.join("sops-bound"),
        &kms.endpoint(),
        admin_creds,
        &arn,
        Some(&bound_context(&policy_bytes)),
        SECRETS,
    );
    let text = String::from_utf8(bound.clone()).unwrap();
    assert!(text.contains(&format!("proofpack:recipients: {digest}")), "{text}");
    assert!(text.contains("version: 3."), "not written by sops 3.x: {text}");
    let secrets = dir.join("secrets/prod.enc.yaml");
    std::fs::create_dir_all(secrets.parent().unwrap()).unwrap();
    std::fs::write(&secrets, &bound).unwrap();

    let build_info = dir.join("build-info.json");
    std::fs::write(&build_info, BUILD_INFO).unwrap();
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let (srv, addr) =
        serve(&format!("dev:{},{}", eif.display(), ca_dir.display()), &kms, &run, &build_info);
    let job = Job { addr: &addr, dir };

    // 1. Allowed recipient: packs; the receipt verifies against the owners' file.
    let o = job.pack(&secrets, &policy, &[&ops_pub], "prod", "ok");
    let serve_log = || std::fs::read_to_string(&srv.1).unwrap_or_default();
    assert!(o.status.success(), "{}\n{}\n{}", code_and_stderr(&o).1, serve_log(), kms.log());
    let receipt = dir.join("ok/api.ppa.receipt.json");
    let o = proofpack(&["receipt", "verify", "--format", "json", "--root"])
        .arg(&root_pem)
        .arg(&receipt)
        .arg("--recipients-policy")
        .arg(&policy)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    let status = |v: &Value, id: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].as_str().unwrap_or("").to_owned())
    };
    for id in [
        "recipients.unbound_setting",
        "recipients.policy",
        "recipients.allowed",
        "recipients.inputs_bound",
    ] {
        assert_eq!(status(&v, id).as_deref(), Some("pass"), "{id}: {v:#}");
    }
    let o = Command::new(enclave_bin())
        .arg("open")
        .arg(dir.join("ok/api.ppa"))
        .arg("--key")
        .arg(&ops_key)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("pr0d-passw0rd"));
    // Against another policy file the receipt fails and says which recipient.
    let stricter = dir.join("stricter.json");
    std::fs::write(&stricter, write_policy(&[entry("ci", &other, "api", "prod")])).unwrap();
    let o = proofpack(&["receipt", "verify", "--format", "json", "--root"])
        .arg(&root_pem)
        .arg(&receipt)
        .arg("--recipients-policy")
        .arg(&stricter)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status(&v, "recipients.policy").as_deref(), Some("fail"));
    assert_eq!(status(&v, "recipients.allowed").as_deref(), Some("fail"));
    let ops_id = hex::encode(Sha256::digest(test_recipient_der()));
    assert!(v.to_string().contains(&ops_id), "{v:#}");

    // 2. The same job with one extra recipient: refused, no artifact.
    let o = job.pack(&secrets, &policy, &[&ops_pub, &other_pub], "prod", "extra");
    let (code, err) = code_and_stderr(&o);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&other_id) && err.contains("may not receive api/prod"), "{err}");
    assert!(!dir.join("extra/api.ppa").exists());
    // A key the policy does not know at all.
    let stranger = repo().join("testvectors/receipts/synthetic_kms_recipient_key_2048.pem");
    let stranger_pub = {
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
        let k = rsa::RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(stranger).unwrap())
            .unwrap();
        pem_of(
            k.to_public_key().to_public_key_der().unwrap().as_bytes(),
            &dir.join("stranger.pub.pem"),
        )
    };
    let o = job.pack(&secrets, &policy, &[&ops_pub, &stranger_pub], "prod", "stranger");
    let (code, err) = code_and_stderr(&o);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is not in the recipients policy"), "{err}");

    // 3. ci is allowed for api/staging only: a prod job to ci is refused.
    let o = job.pack(&secrets, &policy, &[&other_pub], "prod", "other-env");
    let (code, err) = code_and_stderr(&o);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("ci") && err.contains("api/prod"), "{err}");

    // 4. The parent changes the policy by one byte (to add itself, say).
    let mut changed = policy_bytes.clone();
    changed.insert(1, b' ');
    let changed_path = dir.join("changed.json");
    std::fs::write(&changed_path, &changed).unwrap();
    let new_digest = hex::encode(Sha256::digest(&changed));
    // a) The file still names the owners' digest: refused before KMS.
    let o = job.pack(&secrets, &changed_path, &[&ops_pub], "prod", "changed");
    let (code, err) = code_and_stderr(&o);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&digest) && err.contains(&new_digest), "{err}");
    // b) It also rewrites the file's context: KMS refuses the Decrypt.
    let rewritten = dir.join("secrets/rewritten.enc.yaml");
    std::fs::write(&rewritten, text.replace(&digest, &new_digest)).unwrap();
    let o = job.pack(&rewritten, &changed_path, &[&ops_pub], "prod", "rewritten");
    let (code, err) = code_and_stderr(&o);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("context no longer matches") && err.contains("InvalidCiphertextException"),
        "{err}"
    );
    assert!(!dir.join("rewritten/api.ppa").exists());

    // 5. A SOPS file without the context (real sops, plain creation rule): refused.
    let unbound =
        real_sops(&dir.join("sops-unbound"), &kms.endpoint(), admin_creds, &arn, None, SECRETS);
    let unbound_path = dir.join("secrets/unbound.enc.yaml");
    std::fs::write(&unbound_path, unbound).unwrap();
    let o = job.pack(&unbound_path, &policy, &[&ops_pub], "prod", "unbound");
    let (code, err) = code_and_stderr(&o);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no proofpack:recipients encryption context"), "{err}");

    // 6. Malformed, duplicate-member and oversized policies: refused locally (exit 2).
    for (name, bytes, needle) in [
        ("malformed.json", b"{\"format\":".to_vec(), "not strict json"),
        (
            "duplicate.json",
            format!(
                "{{\"format\":\"{f}\",\"format\":\"{f}\",\"recipients\":[]}}",
                f = enclave::recipients::policy::POLICY_FORMAT
            )
            .into_bytes(),
            "duplicate",
        ),
        ("oversized.json", vec![b' '; enclave::recipients::policy::MAX_POLICY_BYTES + 1], "limit"),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let o = job.pack(&secrets, &p, &[&ops_pub], "prod", name);
        let (code, err) = code_and_stderr(&o);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.to_lowercase().contains(needle), "{name}: {err}");
    }

    // 7. The key policy requires the context; one without it is reported.
    let pcrs_json = dir.join("pcrs.json");
    std::fs::write(&pcrs_json, pcrs.to_nitro_json()).unwrap();
    let check = |file: &Path| {
        proofpack(&[
            "kms-policy",
            "check",
            "--require-encryption-context",
            "proofpack:recipients",
            "--format",
            "json",
        ])
        .arg(file)
        .arg("--expect-pcrs")
        .arg(&pcrs_json)
        .args(["--trusted", "arn:aws:iam::111122223333:role/admin"])
        .output()
        .unwrap()
    };
    let o = check(&key_policy_file);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["encryption_context"]["ok"], true, "{v:#}");
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    input.require_context.clear();
    let loose = dir.join("loose-key-policy.json");
    std::fs::write(&loose, policy_text(&input).unwrap()).unwrap();
    let o = check(&loose);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1), "{v:#}");
    assert_eq!(v["verdict"], "PINNED");
    assert_eq!(v["encryption_context"]["ok"], false);
    assert_eq!(v["encryption_context"]["id"], "kms.policy.unbound-decrypt");
    drop(srv);
}
