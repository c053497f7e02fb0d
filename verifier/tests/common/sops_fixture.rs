//! SOPS inputs for the tests that run the pack service: a JSON document
//! encrypted as a SOPS file whose data key is wrapped by a (local) KMS key.
//! Shared by the end-to-end tests, the audit world, its bench and the demo.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use enclave::backend::{EncryptRequest, Kms};
use enclave::secret::{SecretBytes, SecretKey32};
use enclave::sops::{KmsEntry, PlainLeaf, PlainNode, ValueType};
use serde_json::Value;

/// A JSON document as SOPS plaintext (strings and integers).
pub fn plain(v: &Value) -> PlainNode {
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

/// Where the tests, the demo and the bench keep the recipients policy in a
/// repository (the audit's default).
pub const POLICY_PATH: &str = ".proofpack/recipients.json";

/// The test recipient key (SPKI DER of `testvectors/receipts/rsa_test_key_2048.pub.pem`).
pub fn test_recipient_der() -> Vec<u8> {
    use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
    let pem = include_str!("../../../testvectors/receipts/rsa_test_key_2048.pub.pem");
    let k = rsa::RsaPublicKey::from_public_key_pem(pem).unwrap();
    k.to_public_key_der().unwrap().as_bytes().to_vec()
}

/// The recipients policy of the tests, the demo and the bench: the test
/// recipient key (`ops`) may receive `api/prod`.
pub fn test_policy() -> Vec<u8> {
    use enclave::recipients::policy::{entry, write_policy};
    write_policy(&[entry("ops", &test_recipient_der(), "api", "prod")])
}

/// `proofpack:recipients` = hex SHA-256 of `policy`, the context the
/// secrets' owners encrypt a bound data key with.
pub fn bound_context(policy: &[u8]) -> BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    [(enclave::recipients::CONTEXT_KEY.to_owned(), hex::encode(Sha256::digest(policy)))].into()
}

/// A SOPS file whose data key is wrapped by the local KMS key `arn`, bound
/// to [`test_policy`].
pub fn sops_file(kms: &dyn Kms, arn: &str, doc: &Value) -> Vec<u8> {
    sops_file_with_context(kms, arn, doc, bound_context(&test_policy()))
}

/// A SOPS file whose data key is wrapped by `arn` with the context `ctx`
/// (empty: an unbound file).
pub fn sops_file_with_context(
    kms: &dyn Kms,
    arn: &str,
    doc: &Value,
    ctx: BTreeMap<String, String>,
) -> Vec<u8> {
    let key = SecretKey32::generate();
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
