//! The pack operation end to end with fake NSM/KMS doubles: request →
//! KMS (Recipient + CMS) → SOPS → merge → artifacts → signed receipt.

use std::collections::BTreeMap;

use crate::common::{bound, policy_member, recipients_policy, sops_file, FakeKms, FakeNsm};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use enclave::receipt::dsse::{parse_ed25519_spki, Envelope};
use enclave::receipt::statement::{binding, BuildInfo};
use enclave::service::{PackError, PackJob, PackService};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ARN_DENIED: &str = "arn:aws:kms:us-east-1:111122223333:alias/old";
const ARN_OK: &str = "arn:aws:kms:us-east-1:111122223333:key/1111";
const ARN_OUT: &str = "arn:aws:kms:us-east-1:111122223333:key/2222";

/// Reads the fields of a (fake, emulator-shaped) NSM document.
fn read_fields(doc: &[u8]) -> attestation::AttestationDoc {
    attestation::parse_with(
        doc,
        attestation::ParseOptions { allow_unknown_keys: true, emulator: true },
    )
    .unwrap()
    .doc
}

fn build_info() -> BuildInfo {
    BuildInfo::parse(
        br#"{"buildSpec":{"digest":{"sha256":"66c73a65ccd8e53a57e78190e4c9f790bb7660574fc1a87c5944eb11c251cf5b"},"path":"build/enclave.json"},"commit":{"gitCommit":"3d942f9c40422e95265e7e04c140c0cc6116c6df"},"repository":"git+https://github.com/example/proofpack","tree":"f57fcd9750789003261a6ef6faf9f7572106ef32","tools":{"proofpack":"0.1.0"}}"#,
    )
    .unwrap()
}

fn key(name: &str) -> rsa::RsaPrivateKey {
    let p = format!("{}/../testvectors/receipts/{name}", env!("CARGO_MANIFEST_DIR"));
    rsa::RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn spki_b64(k: &rsa::RsaPrivateKey) -> String {
    STANDARD.encode(k.to_public_key().to_public_key_der().unwrap().as_bytes())
}

struct Fixture {
    kms: FakeKms,
    nsm: FakeNsm,
    job: PackJob,
    k1: rsa::RsaPrivateKey,
    k2: rsa::RsaPrivateKey,
    policy: Vec<u8>,
}

fn fixture(base_doc: Value, prod_doc: Value) -> Fixture {
    let kms = FakeKms::new();
    let (k1, k2) = (key("rsa_test_key_2048.pem"), key("synthetic_recipient2_key_2048.pem"));
    let policy = recipients_policy(
        &[
            ("ops", &k1.to_public_key(), "api", "prod"),
            ("payments", &k2.to_public_key(), "api", "*"),
        ],
        &["payments"],
    );
    let ctx: BTreeMap<String, String> = [("app".to_string(), "demo".to_string())].into();
    let base = sops_file(
        &kms,
        &[(ARN_DENIED, bound(&policy, BTreeMap::new())), (ARN_OK, bound(&policy, ctx))],
        &base_doc,
    );
    let prod = sops_file(&kms, &[(ARN_OK, bound(&policy, BTreeMap::new()))], &prod_doc);
    kms.deny(ARN_DENIED);
    let request = json!({
        "_type": "https://proofpack.dev/pack-request/v1",
        "jobId": "job-test-1",
        "nonce": "ab".repeat(32),
        "inputs": [
            {"name": "secrets/base.enc.json", "sha256": hex::encode(Sha256::digest(&base))},
            {"name": "secrets/prod.enc.json", "sha256": hex::encode(Sha256::digest(&prod))},
        ],
        "outputs": [{"name": "api-prod.ppa", "recipients": [
            {"publicKey": spki_b64(&k1)},
            {"publicKey": spki_b64(&k2), "kms": {"arn": ARN_OUT, "encryptionContext": {"team": "payments"}}},
        ]}],
        "target": {"service": "api", "environment": "prod"},
        "recipientsPolicy": policy_member(&policy),
    });
    let job = PackJob { request: serde_json::to_vec(&request).unwrap(), inputs: vec![base, prod] };
    Fixture { kms, nsm: FakeNsm::new(), job, k1, k2, policy }
}

fn docs() -> (Value, Value) {
    (
        json!({
            "defaults": {"LOG_LEVEL": "info", "DB": {"HOST": "db.internal", "PORT": 5432}},
            "services": {"api": {"API_TOKEN": "s3cr3t-api-token", "LOG_LEVEL": "debug"}, "worker": {"X": "no"}},
        }),
        json!({"environments": {"prod": {"DB": {"HOST": "db.prod"}, "DB_PASSWORD": "pr0d-passw0rd"}}}),
    )
}

#[test]
fn pack_produces_openable_artifact_and_valid_receipt() {
    let (a, b) = docs();
    let f = fixture(a, b);
    let svc = PackService::new(&f.nsm, &f.kms, build_info());
    let (out, report) = svc.pack_timed(&f.job).unwrap();
    assert_eq!(report.timings.kms_calls, 4); // denied + ok for base, ok for prod, Encrypt for recipient 2
    assert_eq!(out.artifacts.len(), 1);
    let art = &out.artifacts[0];

    // Both recipients open it; the merged JSON follows defaults < service < environment.
    let pt1 = enclave::envelope::open(&art.bytes, &f.k1, None).unwrap();
    let pt2 = enclave::envelope::open(&art.bytes, &f.k2, Some(&f.kms)).unwrap();
    assert_eq!(pt1.expose(), pt2.expose());
    let merged: Value = serde_json::from_slice(pt1.expose()).unwrap();
    assert_eq!(
        merged,
        json!({"API_TOKEN": "s3cr3t-api-token", "DB": {"HOST": "db.prod", "PORT": 5432}, "DB_PASSWORD": "pr0d-passw0rd", "LOG_LEVEL": "debug"})
    );
    let paths: Vec<&str> = report.overrides.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths, ["LOG_LEVEL", "DB.HOST"]);

    // Receipt: signature under doc_R's key, binding, statement content.
    let env = Envelope::parse(&out.receipt).unwrap();
    let st: Value = serde_json::from_slice(&env.payload).unwrap();
    assert!(enclave::json::is_canonical(&env.payload));
    enclave::receipt::model::StatementLayer::from_value(&st).unwrap();
    enclave::receipt::model::Predicate::from_value(&st["predicate"]).unwrap();
    let p = &st["predicate"];
    let doc_r = STANDARD.decode(p["attestation"]["receipt"]["document"].as_str().unwrap()).unwrap();
    let doc_k = STANDARD.decode(p["attestation"]["kms"]["document"].as_str().unwrap()).unwrap();
    let r = read_fields(&doc_r);
    let vk = parse_ed25519_spki(r.public_key.as_ref().unwrap()).unwrap();
    assert!(env.verify(&vk));
    let req_sha: [u8; 32] = Sha256::digest(&f.job.request).into();
    assert_eq!(r.user_data.unwrap(), binding(&req_sha, &doc_k).to_vec());
    assert_eq!(r.nonce.unwrap(), vec![0xab; 32]);
    assert_eq!(st["subject"][0]["digest"]["sha256"], hex::encode(Sha256::digest(&art.bytes)));
    assert_eq!(p["outputs"][0]["size"], art.bytes.len());
    let kms0 = &p["inputs"][0]["kms"];
    assert_eq!(kms0[0]["outcome"], "error:AccessDeniedException");
    assert_eq!(kms0[1]["outcome"], "ok");
    assert_eq!(kms0[1]["recipient"], true);
    let digest = hex::encode(Sha256::digest(&f.policy));
    assert_eq!(
        kms0[1]["encryptionContext"],
        json!({"app": "demo", "proofpack:recipients": digest})
    );
    assert_eq!(p["recipientsPolicy"], json!({"sha256": digest, "unboundInputsAllowed": false}));
    assert_eq!(p["outputs"][0]["recipients"][1]["kms"]["operation"], "Encrypt");
    assert_eq!(p["enclave"]["pcrs"]["0"], "11".repeat(48));
    assert_eq!(p["time"]["startedOn"], p["attestation"]["kms"]["timestamp"]);
    // doc_K carries the RSA key and nothing else.
    let k = read_fields(&doc_k);
    assert!(k.user_data.is_none() && k.nonce.is_none());
    assert_eq!(f.nsm.calls.load(std::sync::atomic::Ordering::SeqCst), 2);

    // No plaintext anywhere in the receipt or the artifact.
    for secret in ["s3cr3t-api-token", "pr0d-passw0rd", "db.prod"] {
        assert!(!String::from_utf8_lossy(&out.receipt).contains(secret));
        assert!(!String::from_utf8_lossy(&art.bytes).contains(secret));
        assert!(!format!("{out:?}").contains(secret));
    }
}

#[test]
fn ber_indefinite_cms_from_kms_works() {
    let (a, b) = docs();
    let mut f = fixture(a, b);
    f.kms.cms_style.ber_indefinite = true;
    let svc = PackService::new(&f.nsm, &f.kms, build_info());
    assert!(svc.pack(&f.job).is_ok());
}

#[test]
fn kms_denial_fails_with_clear_error() {
    let (a, b) = docs();
    let f = fixture(a, b);
    f.kms.deny(ARN_OK);
    let svc = PackService::new(&f.nsm, &f.kms, build_info());
    let err = svc.pack(&f.job).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PackError::KmsRefused { .. }), "{msg}");
    assert!(
        msg.contains("AccessDeniedException") && msg.contains("secrets/base.enc.json"),
        "{msg}"
    );
}

#[test]
fn input_digest_mismatch_and_count() {
    let (a, b) = docs();
    let mut f = fixture(a, b);
    let svc = PackService::new(&f.nsm, &f.kms, build_info());
    f.job.inputs[1].push(b' ');
    assert!(matches!(svc.pack(&f.job), Err(PackError::InputDigest { .. })));
    f.job.inputs.pop();
    assert!(matches!(svc.pack(&f.job), Err(PackError::InputCount { expected: 2, got: 1 })));
}

#[test]
fn same_layer_conflict_is_reported() {
    let a = json!({"defaults": {"A": "1", "B": {"C": "x"}}});
    let b = json!({"defaults": {"A": "2", "B": "flat"}});
    let f = fixture(a, b);
    let svc = PackService::new(&f.nsm, &f.kms, build_info());
    match svc.pack(&f.job) {
        Err(PackError::Merge(enclave::merge::MergeError::Conflicts(c))) => {
            let paths: Vec<&str> = c.iter().map(|c| c.path.as_str()).collect();
            assert_eq!(paths, ["A", "B"]);
            assert_eq!(c[0].first, "secrets/base.enc.json");
        }
        other => panic!("expected conflicts, got {other:?}"),
    }
}

#[test]
fn tampered_sops_input_is_rejected_after_kms() {
    let (a, b) = docs();
    let mut f = fixture(a, b);
    // Change a clear-text-free file: alter one ENC data char and fix up the request digest.
    let text = String::from_utf8(f.job.inputs[1].clone()).unwrap();
    let at = text.find("data:").unwrap() + 5;
    let mut bytes = f.job.inputs[1].clone();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let mut req: Value = serde_json::from_slice(&f.job.request).unwrap();
    req["inputs"][1]["sha256"] = json!(hex::encode(Sha256::digest(&bytes)));
    f.job.request = serde_json::to_vec(&req).unwrap();
    f.job.inputs[1] = bytes;
    let svc = PackService::new(&f.nsm, &f.kms, build_info());
    let err = svc.pack(&f.job).unwrap_err();
    assert!(
        matches!(err, PackError::Sops { source: enclave::sops::SopsError::ValueAuth { .. }, .. }),
        "{err}"
    );
}

// ---------- issue 20: recipients bound by the secrets' owners ----------

fn kms_calls(f: &Fixture) -> usize {
    f.kms.calls.load(std::sync::atomic::Ordering::SeqCst)
}

fn edit_request(f: &mut Fixture, edit: impl FnOnce(&mut Value)) {
    let mut req: Value = serde_json::from_slice(&f.job.request).unwrap();
    edit(&mut req);
    f.job.request = serde_json::to_vec(&req).unwrap();
}

/// Replaces input `i` and its digest in the request.
fn replace_input(f: &mut Fixture, i: usize, bytes: Vec<u8>) {
    let d = hex::encode(Sha256::digest(&bytes));
    edit_request(f, |r| r["inputs"][i]["sha256"] = json!(d));
    f.job.inputs[i] = bytes;
}

#[test]
fn extra_recipient_is_refused_before_any_kms_call() {
    let (a, b) = docs();
    let mut f = fixture(a, b);
    let attacker = key("synthetic_kms_recipient_key_2048.pem");
    edit_request(&mut f, |r| {
        r["outputs"][0]["recipients"]
            .as_array_mut()
            .unwrap()
            .push(json!({"publicKey": spki_b64(&attacker)}))
    });
    let err = PackService::new(&f.nsm, &f.kms, build_info()).pack(&f.job).unwrap_err();
    let id = hex::encode(Sha256::digest(
        attacker.to_public_key().to_public_key_der().unwrap().as_bytes(),
    ));
    assert!(
        matches!(&err, PackError::RecipientRefused { refusal: enclave::recipients::Refusal::Unknown { key_id }, .. } if *key_id == id),
        "{err}"
    );
    assert!(err.to_string().contains(&id), "{err}");
    assert_eq!(kms_calls(&f), 0);
    assert_eq!(f.nsm.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn recipient_allowed_for_another_environment_or_without_kms_is_refused() {
    let (a, b) = docs();
    let mut f = fixture(a, b);
    edit_request(&mut f, |r| r["target"]["environment"] = json!("staging"));
    let err = PackService::new(&f.nsm, &f.kms, build_info()).pack(&f.job).unwrap_err();
    assert!(err.to_string().contains("ops") && err.to_string().contains("api/staging"), "{err}");
    assert!(matches!(
        err,
        PackError::RecipientRefused {
            refusal: enclave::recipients::Refusal::NotForTarget { .. },
            ..
        }
    ));
    let (a, b) = docs();
    let mut f = fixture(a, b);
    edit_request(&mut f, |r| {
        r["outputs"][0]["recipients"][1].as_object_mut().unwrap().remove("kms");
    });
    let err = PackService::new(&f.nsm, &f.kms, build_info()).pack(&f.job).unwrap_err();
    assert!(
        matches!(
            err,
            PackError::RecipientRefused {
                refusal: enclave::recipients::Refusal::KmsRequired { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(kms_calls(&f), 0);
}

#[test]
fn unbound_input_is_refused_unless_the_image_allows_it() {
    let (a, b) = docs();
    let mut f = fixture(a, b.clone());
    let unbound = sops_file(&f.kms, &[(ARN_OK, BTreeMap::new())], &b);
    replace_input(&mut f, 1, unbound);
    let err = PackService::new(&f.nsm, &f.kms, build_info()).pack(&f.job).unwrap_err();
    assert!(
        matches!(&err, PackError::Unbound { name, source: enclave::recipients::BindingError::Unbound { .. } } if name == "secrets/prod.enc.json"),
        "{err}"
    );
    assert_eq!(kms_calls(&f), 0);
    // An image built with `allow-unbound-inputs` packs it and says so.
    let svc = PackService::with_input_binding(
        &f.nsm,
        &f.kms,
        build_info(),
        enclave::recipients::InputBinding::AllowUnbound,
    );
    let out = svc.pack(&f.job).unwrap();
    let st: Value =
        serde_json::from_slice(&Envelope::parse(&out.receipt).unwrap().payload).unwrap();
    assert_eq!(st["predicate"]["recipientsPolicy"]["unboundInputsAllowed"], true);
    // No policy at all: refused by a binding image, before any KMS call.
    let (a, b) = docs();
    let mut f = fixture(a, b);
    edit_request(&mut f, |r| {
        r.as_object_mut().unwrap().remove("recipientsPolicy");
    });
    let err = PackService::new(&f.nsm, &f.kms, build_info()).pack(&f.job).unwrap_err();
    assert!(matches!(err, PackError::PolicyRequired), "{err}");
    assert_eq!(kms_calls(&f), 0);
}

#[test]
fn policy_changed_by_one_byte_is_refused_by_the_enclave_or_by_kms() {
    let (a, b) = docs();
    let mut f = fixture(a, b.clone());
    // The parent adds its own key to the policy: one byte differs ("ops" -> "opz"
    // would do; here a space in the pretty-printed JSON).
    let mut changed = f.policy.clone();
    changed.insert(1, b' ');
    edit_request(&mut f, |r| r["recipientsPolicy"] = policy_member(&changed));
    // The files still name the owners' digest: refused before KMS.
    let err = PackService::new(&f.nsm, &f.kms, build_info()).pack(&f.job).unwrap_err();
    assert!(
        matches!(
            &err,
            PackError::Unbound {
                source: enclave::recipients::BindingError::OtherPolicy { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(kms_calls(&f), 0);
    // The parent also rewrites the files' context to the new digest: KMS
    // authenticates the context, so the Decrypt fails and the job says why.
    let d_old = hex::encode(Sha256::digest(&f.policy));
    let d_new = hex::encode(Sha256::digest(&changed));
    for i in 0..2 {
        let text = String::from_utf8(f.job.inputs[i].clone()).unwrap().replace(&d_old, &d_new);
        replace_input(&mut f, i, text.into_bytes());
    }
    let err = PackService::new(&f.nsm, &f.kms, build_info()).pack(&f.job).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PackError::PolicyContextRejected { .. }), "{msg}");
    assert!(msg.contains("context no longer matches") && msg.contains(&d_new), "{msg}");
}

/// Issue 17: with a key pool each job still gets its own RSA key, and doc_K
/// is made per job for that key: two jobs, two distinct doc_K public keys,
/// both taken warm from the pool, and the artifacts open as before.
#[test]
fn pooled_job_keys_serve_one_job_each_with_their_own_doc_k() {
    let (a, b) = docs();
    let f = fixture(a, b);
    let pool = enclave::keypool::KeyPool::start(2).unwrap();
    pool.wait_full();
    let svc = PackService::new(&f.nsm, &f.kms, build_info()).with_key_pool(&pool);
    let mut doc_k_keys = Vec::new();
    for _ in 0..2 {
        let out = svc.pack(&f.job).unwrap();
        enclave::envelope::open(&out.artifacts[0].bytes, &f.k1, None).unwrap();
        let st: Value =
            serde_json::from_slice(&Envelope::parse(&out.receipt).unwrap().payload).unwrap();
        let doc_k = STANDARD
            .decode(st["predicate"]["attestation"]["kms"]["document"].as_str().unwrap())
            .unwrap();
        doc_k_keys.push(read_fields(&doc_k).public_key.unwrap());
    }
    assert_ne!(doc_k_keys[0], doc_k_keys[1], "a job key served two jobs");
    assert_eq!(pool.counts(), (2, 0));
    assert_eq!(f.nsm.calls.load(std::sync::atomic::Ordering::SeqCst), 4);
}
