//! End to end on one machine: the development NSM (test CA) and
//! `proofpack-kms-local` over real HTTP with PCR-pinned key policies, the
//! enclave pack service, `receipt verify` with the test CA root and expected
//! PCRs, and opening the artifact at both envelope levels. An image whose
//! PCRs differ is denied by KMS and the pack fails with a clear error.

use std::collections::BTreeMap;

use crate::common::kms_local::KmsLocal;
use attestation::testca::{TestCa, TestCaConfig};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use build_spec::pcr::Measurements;
use enclave::backend::nsm_dev::DevNsm;
use enclave::backend::{EncryptRequest, Kms};
use enclave::receipt::statement::BuildInfo;
use enclave::secret::{SecretBytes, SecretKey32};
use enclave::service::{PackError, PackJob, PackService};
use enclave::sops::{KmsEntry, PlainLeaf, PlainNode, ValueType};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use verifier::attestation::{Expectations, TrustAnchor, VerifyOptions};
use verifier::receipt::{verify_receipt, ReceiptOptions};
use verifier::report::Verdict;

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn pcrs(fill: u8) -> Measurements {
    let mut m = Measurements::new();
    for i in 0..3u8 {
        m.insert(i, [fill.wrapping_add(i); 48]);
    }
    m
}

fn key(name: &str) -> rsa::RsaPrivateKey {
    let p = format!("{}/../testvectors/receipts/{name}", env!("CARGO_MANIFEST_DIR"));
    rsa::RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn leaf(s: &str) -> PlainNode {
    PlainNode::Leaf(PlainLeaf {
        kind: ValueType::Str,
        was_encrypted: true,
        bytes: SecretBytes::from_slice(s.as_bytes()),
    })
}

#[test]
fn pack_verify_open_and_pcr_denial() {
    let d = tempfile::tempdir().unwrap();
    let ca = TestCa::generate(&TestCaConfig::long_lived(now_s() - 3600, 30)).unwrap();
    let ca_dir = d.path().join("ca");
    ca.save(&ca_dir).unwrap();
    let root_pem = d.path().join("root.pem");
    std::fs::write(&root_pem, ca.root_pem()).unwrap();
    let kms = KmsLocal::start(Some(&root_pem));
    let admin = kms.client("AKIDADMIN");
    let good = pcrs(0x11);

    // Input key: Decrypt only for the enclave role with the reviewed PCRs.
    let in_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"}, "NotAction": "kms:Decrypt", "Resource": "*"},
        {"Sid": "Enclave", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/pack-enclave"},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEqualsIgnoreCase": {
            "kms:RecipientAttestation:PCR0": good.hex(0).unwrap(),
            "kms:RecipientAttestation:PCR1": good.hex(1).unwrap(),
            "kms:RecipientAttestation:PCR2": good.hex(2).unwrap()}}}]});
    let in_arn = admin.call("CreateKey", &json!({"Policy": in_policy.to_string()})).unwrap()
        ["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    // Output key: the enclave may Encrypt, the app may Decrypt.
    let out_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Enclave", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/pack-enclave"}, "Action": "kms:Encrypt", "Resource": "*"},
        {"Sid": "App", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"}, "Action": "kms:Decrypt", "Resource": "*"}]});
    let out_arn = admin.call("CreateKey", &json!({"Policy": out_policy.to_string()})).unwrap()
        ["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();

    let (k1, k2) = (key("rsa_test_key_2048.pem"), key("synthetic_recipient2_key_2048.pem"));
    let der =
        |k: &rsa::RsaPrivateKey| k.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec();
    // The owners' recipients policy (issue 20): both keys may receive api/prod.
    let policy = {
        use enclave::recipients::policy::{entry, write_policy};
        write_policy(&[
            entry("k1", &der(&k1), "api", "prod"),
            entry("k2", &der(&k2), "api", "prod"),
        ])
    };

    // A SOPS file whose data key is wrapped by the input key, bound to the policy.
    let data_key = SecretKey32::generate();
    let ctx: BTreeMap<String, String> = [
        ("app".to_string(), "demo".to_string()),
        (enclave::recipients::CONTEXT_KEY.to_string(), hex::encode(Sha256::digest(&policy))),
    ]
    .into();
    let enc = admin
        .encrypt(&EncryptRequest {
            key_id: in_arn.clone(),
            plaintext: SecretBytes::from_slice(data_key.expose()),
            encryption_context: ctx.clone(),
        })
        .unwrap()
        .ciphertext_blob;
    let doc = PlainNode::Map(vec![(
        "defaults".into(),
        PlainNode::Map(vec![
            ("DB_PASSWORD".into(), leaf("e2e-secret-value")),
            ("LOG".into(), leaf("info")),
        ]),
    )]);
    let sops = enclave::sops::encrypt_json(
        &doc,
        &data_key,
        &[KmsEntry { arn: in_arn.clone(), role: None, context: ctx, enc }],
        "2026-01-01T00:00:00Z",
    )
    .unwrap();

    let b64 = |k: &rsa::RsaPrivateKey| STANDARD.encode(der(k));
    let request = json!({
        "_type": "https://proofpack.dev/pack-request/v1",
        "jobId": "e2e-1",
        "nonce": "cd".repeat(32),
        "inputs": [{"name": "app.enc.json", "sha256": hex::encode(Sha256::digest(&sops))}],
        "outputs": [{"name": "app.ppa", "recipients": [
            {"publicKey": b64(&k1)},
            {"publicKey": b64(&k2), "kms": {"arn": out_arn, "encryptionContext": {"team": "app"}}}]}],
        "target": {"service": "api", "environment": "prod"},
        "recipientsPolicy": {"document": STANDARD.encode(&policy)},
    });
    let job = PackJob { request: serde_json::to_vec(&request).unwrap(), inputs: vec![sops] };
    let build_info = || {
        BuildInfo::parse(br#"{"buildSpec":{"digest":{"sha256":"66c73a65ccd8e53a57e78190e4c9f790bb7660574fc1a87c5944eb11c251cf5b"},"path":"build/enclave.json"},"commit":{"gitCommit":"3d942f9c40422e95265e7e04c140c0cc6116c6df"},"repository":"git+https://example.invalid/proofpack","tree":"f57fcd9750789003261a6ef6faf9f7572106ef32","tools":{"proofpack":"e2e"}}"#).unwrap()
    };
    let enclave_kms = kms.client("AKIDENCLAVE");

    // kms-local's clock is a file frozen at start. The development NSM's leaf
    // certificates become valid at the document's own second, so put the
    // server 20 s ahead of the wall clock before each pack (well inside its
    // 300 s document age limit).
    let sync_clock = || std::fs::write(&kms.clock_file, (now_s() + 20).to_string()).unwrap();

    // The reviewed image packs.
    sync_clock();
    let nsm = DevNsm::with_measurements(
        TestCa::load(&ca_dir).unwrap(),
        good.clone(),
        &d.path().join("image.eif"),
    );
    let out = PackService::new(&nsm, &enclave_kms, build_info())
        .pack(&job)
        .unwrap_or_else(|e| panic!("{e}\n{}", kms.log()));
    let art = &out.artifacts[0];

    // The receipt verifies against the test CA with the expected PCRs.
    let root = TrustAnchor::from_pem_or_der(ca.root_pem().as_bytes(), "e2e test CA").unwrap();
    let opts = ReceiptOptions {
        attestation: VerifyOptions {
            roots: vec![root],
            expect: Expectations { pcrs: Some(good.clone()), ..Default::default() },
            ..VerifyOptions::default()
        },
        artifacts: vec![("app.ppa".into(), art.bytes.clone())],
        ..ReceiptOptions::default()
    };
    let rep = verify_receipt(&out.receipt, &opts);
    assert_eq!(rep.verdict(), Verdict::Pass, "{:#?}", rep.checks.failures().collect::<Vec<_>>());
    let st: Value = serde_json::from_slice(
        &enclave::receipt::dsse::Envelope::parse(&out.receipt).unwrap().payload,
    )
    .unwrap();
    let call = &st["predicate"]["inputs"][0]["kms"][0];
    assert_eq!(call["outcome"], "ok");
    assert_ne!(call["requestId"], "unknown", "kms-local returns x-amzn-RequestId");
    // Pinning other PCRs fails the attestation checks.
    let mut wrong = opts.clone();
    wrong.attestation.expect.pcrs = Some(pcrs(0x55));
    assert_eq!(verify_receipt(&out.receipt, &wrong).verdict(), Verdict::Fail);

    // Both recipients open it; level 2 needs the app's KMS permission.
    let p1 = enclave::envelope::open(&art.bytes, &k1, None).unwrap();
    let app = kms.client("AKIDAPP");
    let p2 = enclave::envelope::open(&art.bytes, &k2, Some(&app as &dyn Kms)).unwrap();
    assert_eq!(p1.expose(), p2.expose());
    assert_eq!(
        serde_json::from_slice::<Value>(p1.expose()).unwrap(),
        json!({"DB_PASSWORD": "e2e-secret-value", "LOG": "info"})
    );
    let other = kms.client("AKIDOTHER");
    assert!(enclave::envelope::open(&art.bytes, &k2, Some(&other as &dyn Kms)).is_err());

    // Another image (PCR0 differs): KMS denies, the pack fails clearly.
    let mut bad = good.clone();
    bad.insert(0, [0x99; 48]);
    let nsm_bad =
        DevNsm::with_measurements(TestCa::load(&ca_dir).unwrap(), bad, &d.path().join("other.eif"));
    sync_clock();
    let err = PackService::new(&nsm_bad, &enclave_kms, build_info()).pack(&job).unwrap_err();
    assert!(matches!(err, PackError::KmsRefused { .. }), "{err}\n{}", kms.log());
    assert!(err.to_string().contains("AccessDeniedException"), "{err}\n{}", kms.log());
}
