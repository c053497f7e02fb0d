//! Attested decrypt against `proofpack-kms-local` through our own KMS client:
//! Recipient documents minted by the test CA, a key policy pinned to PCR0,
//! `CiphertextForRecipient` opened by the enclave's CMS reader and by OpenSSL.
use crate::common::kms_local;

use std::process::Command;

use attestation::testca::{DocSpec, TestCa, TestCaConfig};
use build_spec::pcr::Measurements;
use enclave::backend::{
    DecryptRequest, EncryptRequest, EncryptionContext, Kms, KmsError, Recipient,
};
use enclave::secret::SecretBytes;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use serde_json::json;

use crate::common::kms_local::KmsLocal;

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

fn service_code(e: &KmsError) -> &str {
    match e {
        KmsError::Service { code, .. } => code,
        other => panic!("expected a service error, got {other}"),
    }
}

#[test]
fn attested_decrypt_is_pinned_to_pcrs() {
    let d = tempfile::tempdir().unwrap();
    let ca = TestCa::generate(&TestCaConfig::long_lived(now_s() - 3600, 30)).unwrap();
    let root = d.path().join("root.pem");
    std::fs::write(&root, ca.root_pem()).unwrap();
    let kms = KmsLocal::start(Some(&root));

    // The enclave's per-job RSA key (OpenSSL keygen: fast in debug builds).
    let key_pem = d.path().join("job.pem");
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&key_pem)
        .status()
        .unwrap();
    assert!(st.success());
    let sk =
        rsa::RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&key_pem).unwrap()).unwrap();
    let spki = sk.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec();

    let good = pcrs(0x11);
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
         "NotAction": "kms:Decrypt", "Resource": "*"},
        {"Sid": "Enclave", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/pack-enclave"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
         "Condition": {"StringEqualsIgnoreCase": {
            "kms:RecipientAttestation:PCR0": good.hex(0).unwrap(),
            "kms:RecipientAttestation:PCR1": good.hex(1).unwrap(),
            "kms:RecipientAttestation:PCR2": good.hex(2).unwrap()}}}]});
    let admin = kms.client("AKIDADMIN");
    let md = admin.call("CreateKey", &json!({"Policy": policy.to_string()})).unwrap();
    let arn = md["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let ctx: EncryptionContext = [("sops".to_string(), "data-key".to_string())].into();
    let blob = admin
        .encrypt(&EncryptRequest {
            key_id: arn.clone(),
            plaintext: SecretBytes::from_slice(&[0x42; 32]),
            encryption_context: ctx.clone(),
        })
        .unwrap()
        .ciphertext_blob;

    let doc_for = |m: &Measurements, ts_ms: u64, ca: &TestCa| {
        let mut spec = DocSpec::new(ts_ms, m.clone());
        spec.public_key = Some(spki.clone());
        ca.mint(&spec).unwrap()
    };
    let req = |doc: Option<Vec<u8>>| DecryptRequest {
        ciphertext_blob: blob.clone(),
        key_id: Some(arn.clone()),
        encryption_context: ctx.clone(),
        recipient: doc.map(|d| Recipient {
            attestation_document: d,
            key_encryption_algorithm: "RSAES_OAEP_SHA_256".into(),
        }),
    };
    let enclave = kms.client("AKIDENCLAVE");

    // The pinned image gets the data key, only as CMS to its RSA key.
    let r = enclave.decrypt(&req(Some(doc_for(&good, now_s() * 1000, &ca)))).unwrap();
    assert!(r.plaintext.is_none());
    assert_eq!(r.key_id, arn);
    let cfr = r.ciphertext_for_recipient.unwrap();
    assert_eq!(&cfr[..2], &[0x30, 0x80], "BER indefinite, like KMS");
    let opened = enclave::cms::decrypt_enveloped(&cfr, &sk).unwrap();
    assert_eq!(opened.expose(), &[0x42; 32]);
    // Independent reader: OpenSSL.
    let env = d.path().join("cfr.der");
    std::fs::write(&env, &cfr).unwrap();
    let out = Command::new("openssl")
        .args(["cms", "-decrypt", "-inform", "DER", "-binary", "-in"])
        .arg(&env)
        .arg("-inkey")
        .arg(&key_pem)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, vec![0x42; 32]);

    // GenerateDataKey with Recipient: blob + CMS, no plaintext.
    let mut body = json!({"KeyId": arn, "KeySpec": "AES_256", "EncryptionContext": {"sops": "data-key"},
        "Recipient": {"AttestationDocument": base64_of(&doc_for(&good, now_s() * 1000, &ca)),
                      "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}});
    let g = enclave.call("GenerateDataKey", &body).unwrap();
    assert!(g.get("Plaintext").is_none());
    assert!(g["CiphertextBlob"].is_string() && g["CiphertextForRecipient"].is_string());

    // Another image (PCR0 differs): AccessDenied.
    let mut other = good.clone();
    other.insert(0, [0x99; 48]);
    let e = enclave.decrypt(&req(Some(doc_for(&other, now_s() * 1000, &ca)))).unwrap_err();
    assert_eq!(service_code(&e), "AccessDeniedException", "{e}");
    // No Recipient at all: the PCR condition keys are missing -> AccessDenied.
    let e = enclave.decrypt(&req(None)).unwrap_err();
    assert_eq!(service_code(&e), "AccessDeniedException", "{e}");
    // A document from a CA the server does not trust: refused before policy.
    let rogue = TestCa::generate(&TestCaConfig::long_lived(now_s() - 3600, 30)).unwrap();
    let e = enclave.decrypt(&req(Some(doc_for(&good, now_s() * 1000, &rogue)))).unwrap_err();
    assert_eq!(service_code(&e), "ValidationException", "{e}");
    // A stale document (older than the 300 s default max age).
    let e = enclave.decrypt(&req(Some(doc_for(&good, (now_s() - 900) * 1000, &ca)))).unwrap_err();
    assert_eq!(service_code(&e), "ValidationException", "{e}");
    // Wrong KeyEncryptionAlgorithm.
    body["Recipient"]["KeyEncryptionAlgorithm"] = json!("RSAES_OAEP_SHA_1");
    let e = enclave.call("GenerateDataKey", &body).unwrap_err();
    assert_eq!(service_code(&e), "ValidationException", "{e}");
    // The admin's policy excludes Decrypt.
    let e = admin.decrypt(&req(None)).unwrap_err();
    assert_eq!(service_code(&e), "AccessDeniedException", "{e}");
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The vsock-proxy path: the client keeps the real endpoint's host (Host
/// header, SigV4 canonical request) but connects to a local forwarder address.
#[test]
fn connect_to_keeps_the_endpoint_host() {
    use enclave::backend::kms_http::sigv4::Credentials;
    use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
    let kms = KmsLocal::start(None);
    let (id, secret, _, _) = kms_local::PRINCIPALS[0];
    let mut cfg = KmsHttpConfig::new(
        "http://kms.us-east-1.amazonaws.com",
        "us-east-1",
        Credentials {
            access_key_id: id.into(),
            secret_access_key: SecretBytes::from_slice(secret.as_bytes()),
            session_token: None,
        },
    );
    cfg.connect_to = Some(format!("127.0.0.1:{}", kms.port).parse().unwrap());
    let c = KmsHttpClient::new(cfg).unwrap();
    let (r, request_id) = c.call_traced("ListKeys", &json!({}));
    assert!(r.unwrap()["Keys"].is_array());
    assert!(request_id.is_some());
    // A response-size limit smaller than the answer is a transport error, not a parse of a prefix.
    let mut cfg = KmsHttpConfig::new(
        kms.endpoint(),
        "us-east-1",
        Credentials {
            access_key_id: id.into(),
            secret_access_key: SecretBytes::from_slice(secret.as_bytes()),
            session_token: None,
        },
    );
    cfg.max_response_bytes = 8;
    let e = KmsHttpClient::new(cfg).unwrap().call("ListKeys", &json!({})).unwrap_err();
    assert!(matches!(e, KmsError::Transport(ref m) if m.contains("larger than 8 bytes")), "{e}");
}
