//! No `Debug` prints key material (issue 15, point 7).
//!
//! Every type that holds a secret (plaintext, a data key, an AWS secret, an
//! RSA/Ed25519/P-384 private key) is built with a recognisable secret and
//! formatted with `{:?}` and `{:#?}`; the output must contain the secret in
//! none of the forms a derived `Debug` would print it: raw text, the byte
//! list, lowercase/uppercase hex, or (for big integers) decimal and hex limbs.
//! A new secret-holding type belongs in this list.

use std::fmt::Debug;

use enclave::backend::{DecryptResponse, EncryptRequest, EncryptionContext};
use enclave::merge::Bundle;
use enclave::recipients::InputBinding;
use enclave::seal::JobContext;
use enclave::secret::{SecretBytes, SecretKey32};
use enclave::sops::{PlainLeaf, ValueType};
use rand_core::OsRng;

/// 32 distinctive bytes: printable (so a raw-text leak is visible) and long
/// enough that no accidental match is plausible.
const SECRET: &[u8; 32] = b"S3CRET-key-material-0123456789ab";

/// Every rendering of `secret` a careless `Debug` could produce.
fn forms(secret: &[u8]) -> Vec<String> {
    let mut v = vec![
        hex::encode(secret),
        hex::encode_upper(secret),
        format!("{secret:?}"),
        format!("{:?}", secret.to_vec()),
    ];
    if let Ok(s) = std::str::from_utf8(secret) {
        v.push(s.to_owned());
    }
    v
}

/// Formats `value` both ways and asserts no form of any secret appears.
fn assert_redacted(name: &str, value: &dyn Debug, secrets: &[Vec<String>]) {
    for out in [format!("{value:?}"), format!("{value:#?}")] {
        for forms in secrets {
            for f in forms {
                assert!(
                    !out.contains(f.as_str()),
                    "{name}: Debug output contains a secret ({f}): {out}"
                );
            }
        }
    }
}

#[test]
fn secret_wrappers_are_redacted() {
    let s = forms(SECRET);
    assert_redacted("SecretBytes", &SecretBytes::from_slice(SECRET), std::slice::from_ref(&s));
    assert_redacted("SecretKey32", &SecretKey32::new(*SECRET), std::slice::from_ref(&s));
    let leaf = PlainLeaf {
        kind: ValueType::Str,
        was_encrypted: true,
        bytes: SecretBytes::from_slice(SECRET),
    };
    assert_redacted("PlainLeaf", &leaf, std::slice::from_ref(&s));
    let bundle = Bundle { plaintext: SecretBytes::from_slice(SECRET), overrides: Vec::new() };
    assert_redacted("Bundle", &bundle, std::slice::from_ref(&s));
}

#[test]
fn kms_messages_are_redacted() {
    let s = forms(SECRET);
    let resp = DecryptResponse {
        key_id: "arn:aws:kms:us-east-1:111122223333:key/k".into(),
        plaintext: Some(SecretBytes::from_slice(SECRET)),
        ciphertext_for_recipient: None,
    };
    assert_redacted("DecryptResponse", &resp, std::slice::from_ref(&s));
    let req = EncryptRequest {
        key_id: "k".into(),
        plaintext: SecretBytes::from_slice(SECRET),
        encryption_context: EncryptionContext::default(),
    };
    assert_redacted("EncryptRequest", &req, &[s]);
}

#[test]
fn aws_credentials_are_redacted() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let token = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789";
    let secrets = [forms(secret.as_bytes()), forms(token.as_bytes())];
    let creds = enclave::backend::kms_http::sigv4::Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SecretBytes::from_slice(secret.as_bytes()),
        session_token: Some(token.into()),
    };
    assert_redacted("sigv4::Credentials", &creds, &secrets);
    let job = enclave::transport::JobCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SecretBytes::from_slice(secret.as_bytes()),
        session_token: Some(SecretBytes::from_slice(token.as_bytes())),
    };
    assert_redacted("transport::JobCredentials", &job, &secrets);
}

/// The private exponent and primes of an RSA key, as `rsa`'s own derived
/// `Debug` prints them (`BigUint` limbs) and in decimal/hex.
fn rsa_forms(key: &rsa::RsaPrivateKey) -> Vec<String> {
    use rsa::traits::PrivateKeyParts;
    let mut v = Vec::new();
    for n in std::iter::once(key.d()).chain(key.primes()) {
        v.push(n.to_str_radix(10));
        v.push(n.to_str_radix(16));
        v.push(format!("{n:?}"));
    }
    v
}

#[test]
fn job_context_hides_the_rsa_key() {
    let key = rsa::RsaPrivateKey::new(&mut OsRng, 1024).expect("keygen");
    // The oracle works: the key's own Debug does print these forms.
    let own = format!("{key:?}");
    assert!(rsa_forms(&key).iter().any(|f| own.contains(f.as_str())), "oracle must detect a leak");
    let fp = [7u8; 32];
    let ctx = JobContext {
        job_id: "job",
        user: "alice",
        org_fingerprint: &fp,
        recipient_doc: b"doc",
        job_key: &key,
        recipients_policy: None,
        binding: InputBinding::Required,
    };
    assert_redacted("seal::open::JobContext", &ctx, &[rsa_forms(&key)]);
}

#[test]
fn signing_keys_are_redacted() {
    // P-384 (EIF signer) and the test CA's keys print no scalar.
    let p384_key = p384::ecdsa::SigningKey::random(&mut OsRng);
    let scalar = forms(&p384_key.to_bytes());
    let signer = build_spec::eif::write::Signer { cert_pem: b"PEM".to_vec(), key: p384_key };
    assert_redacted("eif::write::Signer", &signer, &[scalar]);

    let ca = attestation::testca::TestCa::generate(
        &attestation::testca::TestCaConfig::starting_at(1_700_000_000),
    )
    .expect("test CA");
    let root = ca.level(attestation::testca::Level::Root);
    assert_redacted("testca::CaCert", root, &[forms(&root.key.to_bytes())]);

    // Ed25519 receipt keys: the dalek type's Debug shows only the public half.
    let ed = ed25519_dalek::SigningKey::generate(&mut OsRng);
    assert_redacted("ed25519 SigningKey", &ed, &[forms(ed.as_bytes())]);
}
