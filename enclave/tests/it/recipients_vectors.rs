//! The recipients-policy fixture parses, and its `ops` entry is the test
//! recipient key's fingerprint (testvectors/recipients/README.md).
use enclave::recipients::RecipientsPolicy;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest, Sha256};

#[test]
fn fixture_parses_and_names_the_test_key() {
    let dir = format!("{}/../testvectors", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(format!("{dir}/recipients/policy.json")).unwrap();
    let p = RecipientsPolicy::parse(&bytes).unwrap();
    assert_eq!(p.context_value(), hex::encode(Sha256::digest(&bytes)));
    let pem = std::fs::read_to_string(format!("{dir}/receipts/rsa_test_key_2048.pub.pem")).unwrap();
    let der = rsa::RsaPublicKey::from_public_key_pem(&pem).unwrap().to_public_key_der().unwrap();
    let id: [u8; 32] = Sha256::digest(der.as_bytes()).into();
    assert_eq!(p.check(Some(("api", "prod")), &id, false).unwrap().name, "ops");
    assert!(p.check(Some(("api", "staging")), &id, false).is_err());
    let deploy = p.recipients[1].key_id;
    assert!(p.check(Some(("web", "staging")), &deploy, false).is_err()); // requireKms
    assert!(p.check(Some(("web", "staging")), &deploy, true).is_ok());
    assert!(p.check(Some(("worker", "prod")), &deploy, true).is_ok());
    assert!(p.check(Some(("api", "prod")), &deploy, true).is_err());
}
