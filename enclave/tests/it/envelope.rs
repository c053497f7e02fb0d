//! The artifact format (docs/formats/receipts.md §5): the synthetic vector, RSA-OAEP-SHA512
//! vectors, roundtrip with a KMS layer, and tamper cases.
use crate::common;

use std::path::PathBuf;

use enclave::envelope::{self, EnvelopeError, SealRecipient};
use enclave::service::request::KmsWrapSpec;
use rsa::pkcs8::DecodePrivateKey;

fn rv(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testvectors/receipts").join(name),
    )
    .unwrap()
}

fn key(name: &str) -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs8_pem(std::str::from_utf8(&rv(name)).unwrap()).unwrap()
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&rv(name)).unwrap()
}

#[test]
fn synthetic_artifact_opens_for_recipient_1() {
    let bytes = rv("synthetic_artifact.ppa");
    let pt = envelope::open(&bytes, &key("rsa_test_key_2048.pem"), None).unwrap();
    assert_eq!(pt.expose(), rv("synthetic_artifact.plaintext.json").as_slice());
    let exp = json("synthetic_receipt_expected.json");
    let parsed = envelope::parse(&bytes).unwrap();
    assert_eq!(parsed.aad.len() - 12, exp["artifact_header_length"].as_u64().unwrap() as usize);
    assert_eq!(hex::encode(parsed.header.iv), exp["artifact_iv_hex"].as_str().unwrap());
    assert_eq!(hex::encode(parsed.header.receipt_key_id), exp["keyid"].as_str().unwrap());
}

#[test]
fn synthetic_artifact_recipient_2_needs_kms() {
    let bytes = rv("synthetic_artifact.ppa");
    let k2 = key("synthetic_recipient2_key_2048.pem");
    assert!(matches!(envelope::open(&bytes, &k2, None), Err(EnvelopeError::KmsRequired(_))));
    // A KMS double that returns the recorded level-1 ciphertext for exactly the
    // header's blob and context (the blob in the vector is fake).
    let parsed = envelope::parse(&bytes).unwrap();
    let entry = &parsed.header.recipients[1];
    let level1 = hex::decode(
        json("synthetic_artifact_level1_for_recipient2.json")["oaep_ciphertext_hex"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let kms = common::RecordedKms::new(
        entry.wrapped_key.clone(),
        entry.kms.clone().unwrap().encryption_context,
        level1,
    );
    let pt = envelope::open(&bytes, &k2, Some(&kms)).unwrap();
    assert_eq!(pt.expose(), rv("synthetic_artifact.plaintext.json").as_slice());
}

#[test]
fn rsa_oaep_sha512_vectors() {
    let v = json("rsa_oaep_sha512.json");
    let k = key("rsa_test_key_2048.pem");
    let dek = v["data_key_hex"].as_str().unwrap();
    for field in [
        "ciphertext_fixed_seed_hex",
        "ciphertext_cryptography_random_hex",
        "ciphertext_pycryptodome_hex",
    ] {
        let ct = hex::decode(v[field].as_str().unwrap()).unwrap();
        assert_eq!(hex::encode(envelope::unwrap_dek(&k, &ct).unwrap().expose()), dek, "{field}");
        // SHA-256 OAEP (the KMS Recipient flavour) must not open them.
        assert!(k.decrypt(rsa::Oaep::new::<sha2::Sha256>(), &ct).is_err());
    }
    let pubk = k.to_public_key();
    assert_eq!(hex::encode(envelope::key_id(&pubk).unwrap()), v["key_id"].as_str().unwrap());
}

fn sealed_for_two(kms: &common::FakeKms) -> (Vec<u8>, rsa::RsaPrivateKey, rsa::RsaPrivateKey) {
    let k1 = key("rsa_test_key_2048.pem");
    let k2 = key("synthetic_recipient2_key_2048.pem");
    let (p1, p2) = (k1.to_public_key(), k2.to_public_key());
    let spec = KmsWrapSpec {
        arn: "arn:aws:kms:us-east-1:111122223333:alias/out".into(),
        encryption_context: [("team".to_string(), "payments".to_string())].into(),
    };
    let recips = [
        SealRecipient { public_key: &p1, key_id: envelope::key_id(&p1).unwrap(), kms: None },
        SealRecipient { public_key: &p2, key_id: envelope::key_id(&p2).unwrap(), kms: Some(&spec) },
    ];
    let sealed = envelope::seal(
        b"{\"a\":\"secret\"}",
        "application/json",
        "job-1",
        [7; 32],
        "out.ppa",
        &recips,
        Some(kms),
    )
    .unwrap();
    assert!(sealed.kms_calls[0].is_none());
    let call = sealed.kms_calls[1].as_ref().unwrap();
    assert_eq!(call.operation, "Encrypt");
    assert_eq!(call.encryption_context.len(), 4);
    assert_eq!(call.encryption_context["proofpack:artifact"], "out.ppa");
    (sealed.bytes, k1, k2)
}

#[test]
fn roundtrip_two_levels() {
    let kms = common::FakeKms::new();
    let (bytes, k1, k2) = sealed_for_two(&kms);
    assert_eq!(envelope::open(&bytes, &k1, None).unwrap().expose(), b"{\"a\":\"secret\"}");
    assert_eq!(envelope::open(&bytes, &k2, Some(&kms)).unwrap().expose(), b"{\"a\":\"secret\"}");
    // KMS alone is not enough: the KMS plaintext is an OAEP ciphertext for k2 only.
    assert!(envelope::open(&bytes, &k1, Some(&kms)).is_ok());
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    assert!(matches!(
        envelope::open(&bytes, &other, Some(&kms)),
        Err(EnvelopeError::NotRecipient(_))
    ));
}

#[test]
fn tampering_is_detected() {
    let kms = common::FakeKms::new();
    let (bytes, k1, _) = sealed_for_two(&kms);
    let open = |b: &[u8]| envelope::open(b, &k1, None);
    // truncated
    assert!(matches!(open(&bytes[..bytes.len() - 1]), Err(EnvelopeError::ContentAuth)));
    assert!(matches!(open(&bytes[..40]), Err(EnvelopeError::Truncated { .. })));
    assert!(matches!(open(&bytes[..5]), Err(EnvelopeError::Truncated { .. })));
    // tag
    let mut t = bytes.clone();
    let n = t.len();
    t[n - 1] ^= 1;
    assert!(matches!(open(&t), Err(EnvelopeError::ContentAuth)));
    // header edit that still parses: change the content type
    let s = String::from_utf8_lossy(&bytes).into_owned();
    let at = s.find("application/json").unwrap();
    let mut h = bytes.clone();
    h[at] = b'A';
    assert!(matches!(open(&h), Err(EnvelopeError::ContentAuth)));
    // header edit that breaks JSON
    let mut j = bytes.clone();
    j[12] = b'[';
    assert!(matches!(open(&j), Err(EnvelopeError::Header { .. })));
    // magic, version, length
    let mut m = bytes.clone();
    m[0] = b'Q';
    assert!(matches!(open(&m), Err(EnvelopeError::BadMagic)));
    let mut v = bytes.clone();
    v[7] = 2;
    assert!(matches!(open(&v), Err(EnvelopeError::Version(2))));
    let mut z = bytes.clone();
    z[8..12].copy_from_slice(&0u32.to_be_bytes());
    assert!(matches!(open(&z), Err(EnvelopeError::HeaderLength(0))));
    let mut big = bytes.clone();
    big[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(open(&big), Err(EnvelopeError::HeaderLength(_))));
    // wrapped key swapped for garbage of the right length
    let parsed = envelope::parse(&bytes).unwrap();
    let mut hdr = parsed.header.clone();
    hdr.recipients[0].wrapped_key = vec![1; 256];
    let hb = enclave::json::to_jcs(&hdr.to_json()).unwrap();
    let mut w = Vec::new();
    w.extend_from_slice(&envelope::MAGIC);
    w.extend_from_slice(&(hb.len() as u32).to_be_bytes());
    w.extend_from_slice(&hb);
    w.extend_from_slice(parsed.sealed);
    assert!(matches!(open(&w), Err(EnvelopeError::UnwrapFailed)));
}

#[test]
fn header_rejects_unknown_members_and_duplicates() {
    let bytes = rv("synthetic_artifact.ppa");
    let parsed = envelope::parse(&bytes).unwrap();
    let mut v = parsed.header.to_json();
    v.as_object_mut().unwrap().insert("extra".into(), serde_json::json!("x"));
    let hb = serde_json::to_vec(&v).unwrap();
    assert!(matches!(envelope::Header::parse(&hb), Err(EnvelopeError::Header { .. })));
    let dup = br#"{"format":"a","format":"b"}"#;
    assert!(matches!(envelope::Header::parse(dup), Err(EnvelopeError::Header { .. })));
}

#[test]
fn every_prefix_of_the_synthetic_artifact_is_rejected() {
    let bytes = rv("synthetic_artifact.ppa");
    let k = key("rsa_test_key_2048.pem");
    let need = envelope::parse(&bytes).unwrap().aad.len() + 16;
    for n in 0..bytes.len() {
        let cut = &bytes[..n];
        if n < need {
            let want = if n < 12 { 12 } else { need };
            assert!(
                matches!(envelope::parse(cut), Err(EnvelopeError::Truncated { len, need }) if len == n && need == want),
                "prefix {n}"
            );
        } else {
            // The framing is whole; the shortened ciphertext fails the tag.
            assert!(envelope::open(cut, &k, None).is_err(), "prefix {n}");
        }
    }
}
