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

/// A SOPS file whose data key is wrapped by the local KMS key `arn`.
pub fn sops_file(kms: &dyn Kms, arn: &str, doc: &Value) -> Vec<u8> {
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
