//! Issue 10 end to end on one machine, with the real binaries over TCP and
//! HTTP: the development NSM measuring a demo image, `proofpack-kms-local`
//! with PCR-pinned key policies (the org-key policy rendered by
//! `proofpack kms-policy render`), `proofpack-enclave org-key init`,
//! `proofpack seal` for two users, `proofpack-enclave serve` +
//! `proofpack pack` with both, `proofpack receipt verify`,
//! `proofpack-enclave open`; isolation between users; crypto-shredding
//! (disable, schedule deletion, cancel inside the window, delete after it).
use crate::common::e2e;
use crate::common::e2e::{
    demo_image, dev_ca, enclave_bin, repo, serve, sops_file, with_creds, BUILD_INFO,
};
use crate::common::sealed::reheader;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use build_spec::pcr::Measurements;
use enclave::receipt::dsse::Envelope;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::kms_local::KmsLocal;

const ADMIN: &str = "arn:aws:iam::111122223333:role/admin";
const ENCLAVE: &str = "arn:aws:iam::111122223333:role/pack-enclave";
/// alice signs with the `app` principal, bob with `other`.
const ALICE_ROLE: &str = "arn:aws:iam::111122223333:role/app";
const BOB_ROLE: &str = "arn:aws:iam::111122223333:role/other";

fn key_policy(user_role: &str, user: &str, pcrs: &Measurements) -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ADMIN},
         "NotAction": ["kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"], "Resource": "*"},
        {"Sid": "UserSealsForThemselves", "Effect": "Allow", "Principal": {"AWS": user_role},
         "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:proofpack:user": user}}},
        {"Sid": "PinnedEnclaveOpensForThisUser", "Effect": "Allow", "Principal": {"AWS": ENCLAVE},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {
            "StringEquals": {"kms:EncryptionContext:proofpack:user": user},
            "StringEqualsIgnoreCase": {
                "kms:RecipientAttestation:PCR0": pcrs.hex(0).unwrap(),
                "kms:RecipientAttestation:PCR1": pcrs.hex(1).unwrap(),
                "kms:RecipientAttestation:PCR2": pcrs.hex(2).unwrap()}}}]})
    .to_string()
}

fn create_key(admin: &dyn Fn(&'static str, &Value) -> Value, policy: &str) -> String {
    admin("CreateKey", &json!({"Policy": policy}))["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_string()
}

struct World {
    dir: PathBuf,
    addr: String,
    sops: PathBuf,
    org_key: PathBuf,
    recipient_pub: PathBuf,
    recipient_key: PathBuf,
    pcrs_json: PathBuf,
    root_pem: PathBuf,
    /// The recipients policy the SOPS and sealed inputs are bound to (issue 20).
    policy: PathBuf,
    runs: std::cell::Cell<u32>,
}

impl World {
    /// `proofpack pack` with these sealed inputs (USER=FILE).
    fn pack(&self, sealed: &[(&str, &Path)]) -> (Output, PathBuf) {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let out = self.dir.join(format!("out-{n}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_proofpack"));
        cmd.args(["pack", "--enclave", &self.addr, "--service", "api", "--environment", "prod"])
            .args(["--output", "api-prod.ppa", "--format", "json", "--job-id", "seal-job"])
            .arg("--input")
            .arg(&self.sops)
            .arg("--recipients-policy")
            .arg(&self.policy)
            .arg("--recipient")
            .arg(&self.recipient_pub)
            .arg("--out-dir")
            .arg(&out);
        for (user, file) in sealed {
            cmd.arg("--sealed").arg(format!("{user}={}", file.display()));
        }
        if !sealed.is_empty() {
            cmd.arg("--org-key").arg(&self.org_key);
        }
        (cmd.output().unwrap(), out)
    }

    fn open(&self, out: &Path) -> Value {
        let o = Command::new(enclave_bin())
            .arg("open")
            .arg(out.join("api-prod.ppa"))
            .arg("--key")
            .arg(&self.recipient_key)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn seal(&self, access_key: &str, args: &[&str], out: &Path) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_proofpack"));
        cmd.arg("seal")
            .arg("--org-key")
            .arg(&self.org_key)
            .arg("--expect-pcrs")
            .arg(&self.pcrs_json)
            .arg("--root")
            .arg(&self.root_pem)
            .arg("--recipients-policy")
            .arg(&self.policy)
            .args(args)
            .arg("-o")
            .arg(out);
        with_creds(&mut cmd, access_key);
        cmd.output().unwrap()
    }
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): {}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn failed_with(o: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "stderr: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "expected {n:?} in: {stderr}");
    }
    stderr
}

/// The name `proofpack pack` gives an input path.
fn name_of(p: &Path) -> String {
    p.display().to_string().trim_start_matches('/').to_string()
}

#[test]
fn seal_pack_open_isolation_and_crypto_shredding() {
    let d = tempfile::tempdir().unwrap();
    let (ca_dir, root_pem) = dev_ca(d.path());
    let eif = d.path().join("demo.eif");
    let pcrs = demo_image(&eif, b"sealed inputs");
    let pcrs_json = d.path().join("demo.pcrs.json");
    std::fs::write(&pcrs_json, pcrs.to_nitro_json()).unwrap();
    let nsm = format!("dev:{},{}", eif.display(), ca_dir.display());

    let kms = KmsLocal::start(Some(&root_pem));
    let admin_client = kms.client("AKIDADMIN");
    let admin = |op: &'static str, body: &Value| admin_client.call(op, body).unwrap();

    // The org-key KMS key: policy rendered by issue 5's renderer; the enclave
    // role may Encrypt (producer) and Decrypt only with the image's PCRs.
    let rendered = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .args(["kms-policy", "render", "--pcrs"])
        .arg(&pcrs_json)
        .args(["--enclave-role", ENCLAVE, "--admin", ADMIN, "--producer", ENCLAVE])
        .output()
        .unwrap();
    ok(&rendered, "kms-policy render");
    let org_kms = create_key(&admin, std::str::from_utf8(&rendered.stdout).unwrap().trim());
    let alice_kms = create_key(&admin, &key_policy(ALICE_ROLE, "alice", &pcrs));
    let bob_kms = create_key(&admin, &key_policy(BOB_ROLE, "bob", &pcrs));
    let sops_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ADMIN}, "NotAction": "kms:Decrypt", "Resource": "*"},
        {"Sid": "Enclave", "Effect": "Allow", "Principal": {"AWS": ENCLAVE}, "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": pcrs.hex(0).unwrap()}}}]});
    let sops_kms = create_key(&admin, &sops_policy.to_string());

    // --- org-key init, inside the (development) enclave. ---
    let org_key = d.path().join("org-key.json");
    let mut init = Command::new(enclave_bin());
    init.args(["org-key", "init", "--nsm", &nsm, "--kms", &kms.endpoint(), "--kms-key", &org_kms])
        .args(["--bits", "2048", "--out"])
        .arg(&org_key);
    with_creds(&mut init, "AKIDENCLAVE");
    ok(&init.output().unwrap(), "org-key init");
    let bundle: Value = serde_json::from_slice(&std::fs::read(&org_key).unwrap()).unwrap();
    let fingerprint = bundle["fingerprint"].as_str().unwrap().to_string();
    assert!(!String::from_utf8_lossy(&std::fs::read(&org_key).unwrap()).contains("PRIVATE"));

    let sops = d.path().join("base.enc.json");
    std::fs::write(
        &sops,
        sops_file(&admin_client, &sops_kms, &json!({"defaults": {"LOG_LEVEL": "info"}})),
    )
    .unwrap();
    let build_info = d.path().join("build-info.json");
    std::fs::write(&build_info, BUILD_INFO).unwrap();
    let (srv, addr) = serve(&nsm, &kms, d.path(), &build_info);
    let w = World {
        dir: d.path().to_path_buf(),
        addr,
        sops,
        org_key: org_key.clone(),
        recipient_pub: repo().join("testvectors/receipts/rsa_test_key_2048.pub.pem"),
        recipient_key: repo().join("testvectors/receipts/rsa_test_key_2048.pem"),
        pcrs_json: pcrs_json.clone(),
        root_pem: root_pem.clone(),
        policy: e2e::policy_next_to(d.path()),
        runs: std::cell::Cell::new(0),
    };

    // --- seal: refused for the wrong PCRs, or without the development root. ---
    let wrong_pcrs = d.path().join("wrong.pcrs.json");
    let mut m = Measurements::new();
    for i in 0..3u8 {
        m.insert(i, [0x42; 48]);
    }
    std::fs::write(&wrong_pcrs, m.to_nitro_json()).unwrap();
    let refused = d.path().join("refused.sealed");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    cmd.arg("seal").arg("--org-key").arg(&org_key).arg("--expect-pcrs").arg(&wrong_pcrs);
    cmd.arg("--root").arg(&root_pem).args(["--user", "alice", "--user-kms-key", &alice_kms]);
    cmd.args(["--kms-endpoint", &kms.endpoint(), "--env", "X=1", "-o"]).arg(&refused);
    with_creds(&mut cmd, "AKIDAPP");
    failed_with(&cmd.output().unwrap(), 1, &["refusing to seal", "PCR"]);
    assert!(!refused.exists());

    // --- seal for two users. ---
    let alice_sealed = d.path().join("alice.sealed");
    let o = w.seal(
        "AKIDAPP",
        &[
            "--user",
            "alice",
            "--user-kms-key",
            &alice_kms,
            "--kms-endpoint",
            &kms.endpoint(),
            "--env",
            "DB_PASSWORD=alice-db-s3cret",
            "--env",
            "API_TOKEN=alice-t0ken",
            "--format",
            "json",
        ],
        &alice_sealed,
    );
    ok(&o, "seal alice");
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["orgKeyFingerprint"], fingerprint.as_str());
    let bob_file = d.path().join("bob_id_ed25519");
    std::fs::write(&bob_file, b"-----BEGIN OPENSSH PRIVATE KEY-----\nbob-ssh-key\n").unwrap();
    let bob_sealed = d.path().join("bob.sealed");
    let o = w.seal(
        "AKIDOTHER",
        &[
            "--user",
            "bob",
            "--user-kms-key",
            &bob_kms,
            "--kms-endpoint",
            &kms.endpoint(),
            "--for-job",
            "seal-job",
            bob_file.to_str().unwrap(),
        ],
        &bob_sealed,
    );
    ok(&o, "seal bob");
    // bob cannot seal under alice's key (alice's policy), and nothing is written.
    let o = w.seal(
        "AKIDOTHER",
        &["--user", "bob", "--user-kms-key", &alice_kms, "--kms-endpoint", &kms.endpoint()],
        &d.path().join("x.sealed"),
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(!d.path().join("x.sealed").exists());
    for (f, secret) in [(&alice_sealed, "alice-db-s3cret"), (&bob_sealed, "bob-ssh-key")] {
        assert!(!String::from_utf8_lossy(&std::fs::read(f).unwrap()).contains(secret));
    }

    // --- pack with both, verify the receipt, open the output. ---
    let (o, out) = w.pack(&[("alice", &alice_sealed), ("bob", &bob_sealed)]);
    ok(&o, "pack with both users");
    let v = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .args(["receipt", "verify"])
        .arg(out.join("api-prod.ppa.receipt.json"))
        .arg("--artifact")
        .arg(out.join("api-prod.ppa"))
        .arg("--request")
        .arg(out.join("request.json"))
        .arg("--expect-pcrs")
        .arg(&pcrs_json)
        .arg("--root")
        .arg(&root_pem)
        .args(["--format", "json"])
        .output()
        .unwrap();
    ok(&v, "receipt verify");
    assert!(String::from_utf8_lossy(&v.stdout).contains("sealed_inputs.kms_records"));
    let env =
        Envelope::parse(&std::fs::read(out.join("api-prod.ppa.receipt.json")).unwrap()).unwrap();
    let st: Value = serde_json::from_slice(&env.payload).unwrap();
    let p = &st["predicate"];
    assert_eq!(p["orgKey"]["fingerprint"], fingerprint.as_str());
    assert_eq!(p["orgKey"]["kms"]["keyArn"], org_kms.as_str());
    let si = p["sealedInputs"].as_array().unwrap();
    assert_eq!(si.len(), 2);
    assert_eq!(si[0]["user"], "alice");
    assert_eq!(si[0]["kms"][0]["keyArn"], alice_kms.as_str());
    assert_eq!(si[0]["kms"][0]["encryptionContext"]["proofpack:user"], "alice");
    assert_eq!(
        si[0]["digest"]["sha256"],
        hex::encode(Sha256::digest(std::fs::read(&alice_sealed).unwrap()))
    );
    assert_eq!(si[1]["user"], "bob");
    assert_eq!(si[1]["job"], "seal-job");
    assert_eq!(si[1]["kms"][0]["keyArn"], bob_kms.as_str());
    let first_receipt = out.join("api-prod.ppa.receipt.json");
    let merged = w.open(&out);
    assert_eq!(merged["LOG_LEVEL"], "info");
    assert_eq!(
        merged["sealed"][name_of(&alice_sealed)],
        json!({"API_TOKEN": "alice-t0ken", "DB_PASSWORD": "alice-db-s3cret"})
    );
    assert_eq!(
        STANDARD.decode(merged["sealed"][name_of(&bob_sealed)].as_str().unwrap()).unwrap(),
        std::fs::read(&bob_file).unwrap()
    );
    let receipt_text =
        String::from_utf8_lossy(&std::fs::read(out.join("api-prod.ppa.receipt.json")).unwrap())
            .into_owned();
    let serve_log = std::fs::read_to_string(&srv.1).unwrap_or_default();
    for secret in ["alice-db-s3cret", "alice-t0ken", "bob-ssh-key"] {
        assert!(!receipt_text.contains(secret) && !serve_log.contains(secret));
        assert!(!kms.log().contains(secret));
    }

    // --- isolation: alice's input in a job for bob. ---
    let (o, _) = w.pack(&[("bob", &alice_sealed)]);
    failed_with(&o, 1, &["sealed for user \"alice\"", "job for user \"bob\""]);
    // A forged header claiming bob (context user=bob): the enclave's checks
    // pass, but KMS refuses, because alice's key policy only lets the
    // enclave decrypt with proofpack:user = alice.
    let forged = d.path().join("forged.sealed");
    std::fs::write(
        &forged,
        reheader(&std::fs::read(&alice_sealed).unwrap(), |h| {
            h["user"] = json!("bob");
            h["kms"]["encryptionContext"]["proofpack:user"] = json!("bob");
        }),
    )
    .unwrap();
    let (o, out_forged) = w.pack(&[("bob", &forged)]);
    failed_with(&o, 1, &[&alice_kms, "AccessDeniedException"]);
    assert!(!out_forged.join("api-prod.ppa").exists());
    // bob's input is sealed for job seal-job only: another job id refuses.
    let mut other_job = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    other_job
        .args(["pack", "--enclave", &w.addr, "--service", "api", "--environment", "prod"])
        .args(["--output", "x.ppa", "--job-id", "other-job", "--input"])
        .arg(&w.sops)
        .arg("--recipients-policy")
        .arg(&w.policy)
        .arg("--recipient")
        .arg(&w.recipient_pub)
        .arg("--out-dir")
        .arg(d.path().join("out-other"))
        .arg("--sealed")
        .arg(format!("bob={}", bob_sealed.display()))
        .arg("--org-key")
        .arg(&org_key);
    failed_with(&other_job.output().unwrap(), 1, &["sealed for job \"seal-job\""]);

    // --- crypto-shredding: disable alice's key. ---
    admin("DisableKey", &json!({"KeyId": alice_kms}));
    let (o, _) = w.pack(&[("alice", &alice_sealed), ("bob", &bob_sealed)]);
    failed_with(&o, 1, &[&alice_kms, "disabled"]);
    // `proofpack audit` reports the key state of every KMS key the receipt
    // names (org key, both user keys, the SOPS key): alice's is a WARN.
    let states = audit_key_states(&kms, &first_receipt, &root_pem);
    let alice_state = states.iter().find(|(_, d)| d.contains(&alice_kms)).unwrap();
    assert_eq!(alice_state.0, "warn", "{states:?}");
    assert!(alice_state.1.contains("disabled"), "{states:?}");
    for arn in [&bob_kms, &org_kms, &sops_kms] {
        assert!(
            states.iter().any(|(st, d)| st == "pass" && d.contains(arn.as_str())),
            "{states:?}"
        );
    }
    let (o, out) = w.pack(&[("bob", &bob_sealed)]);
    ok(&o, "bob while alice's key is disabled");
    assert!(w.open(&out)["sealed"][name_of(&bob_sealed)].is_string());
    admin("EnableKey", &json!({"KeyId": alice_kms}));
    ok(&w.pack(&[("alice", &alice_sealed)]).0, "alice after EnableKey");

    // Schedule deletion; inside the window the input fails (pending deletion),
    // cancelling restores access (the key comes back Disabled, as in KMS).
    admin("ScheduleKeyDeletion", &json!({"KeyId": alice_kms, "PendingWindowInDays": 7}));
    let (o, _) = w.pack(&[("alice", &alice_sealed)]);
    failed_with(&o, 1, &[&alice_kms, "pending deletion"]);
    kms.advance_days(6);
    admin("CancelKeyDeletion", &json!({"KeyId": alice_kms}));
    admin("EnableKey", &json!({"KeyId": alice_kms}));
    ok(&w.pack(&[("alice", &alice_sealed)]).0, "alice after CancelKeyDeletion");

    // Schedule again and let the window pass: permanently unreadable.
    admin("ScheduleKeyDeletion", &json!({"KeyId": alice_kms, "PendingWindowInDays": 7}));
    kms.advance_days(8);
    let (o, _) = w.pack(&[("alice", &alice_sealed), ("bob", &bob_sealed)]);
    failed_with(&o, 1, &[&alice_kms, "permanently unreadable"]);
    assert!(admin_client.call("CancelKeyDeletion", &json!({"KeyId": alice_kms})).is_err());
    let (o, _) = w.pack(&[("alice", &alice_sealed)]);
    failed_with(&o, 1, &[&alice_kms, "does not exist"]);
    let states = audit_key_states(&kms, &first_receipt, &root_pem);
    let alice_state = states.iter().find(|(_, d)| d.contains(&alice_kms)).unwrap();
    assert_eq!(alice_state.0, "warn", "{states:?}");
    assert!(alice_state.1.contains("permanently unreadable"), "{states:?}");
    // ... while bob's input still opens.
    let (o, out) = w.pack(&[("bob", &bob_sealed)]);
    ok(&o, "bob after alice's key was deleted");
    assert!(w.open(&out)["sealed"][name_of(&bob_sealed)].is_string());
    drop(srv);
}

/// `proofpack audit --kms-endpoint` on a receipt: (status, detail) of each
/// `kms.key.state` check. The rest of the audit (no repository here) is not
/// looked at.
fn audit_key_states(kms: &KmsLocal, receipt: &Path, root: &Path) -> Vec<(String, String)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    cmd.arg("audit")
        .arg(receipt)
        .arg("--root")
        .arg(root)
        .args(["--kms-endpoint", &kms.endpoint(), "--format", "json"])
        .env("NO_COLOR", "1");
    with_creds(&mut cmd, "AKIDADMIN");
    let o = cmd.output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                if m.get("id").and_then(Value::as_str) == Some("kms.key.state") {
                    out.push((
                        m["status"].as_str().unwrap_or_default().to_string(),
                        m["detail"].as_str().unwrap_or_default().to_string(),
                    ));
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&v, &mut out);
    assert!(!out.is_empty(), "no kms.key.state checks: {v}");
    out
}
