//! CMS EnvelopedData (KMS CiphertextForRecipient) decryption: DER and BER
//! indefinite forms, algorithm checks, tamper and framing errors.

use crate::common::{build_cms, CmsStyle};
use enclave::cms::{decrypt_enveloped, CmsError};
use rsa::RsaPrivateKey;

fn key() -> RsaPrivateKey {
    use rsa::pkcs8::DecodePrivateKey;
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testvectors/receipts/synthetic_kms_recipient_key_2048.pem"
    ))
    .unwrap();
    RsaPrivateKey::from_pkcs8_pem(&pem).unwrap()
}

#[test]
fn der_and_ber_indefinite_decrypt() {
    let k = key();
    for style in [CmsStyle::default(), CmsStyle { ber_indefinite: true, ..Default::default() }] {
        let blob = build_cms(&[0x42; 32], &k.to_public_key(), style);
        assert_eq!(decrypt_enveloped(&blob, &k).unwrap().expose(), &[0x42; 32]);
    }
}

#[test]
fn sha1_oaep_params_rejected() {
    let k = key();
    let blob = build_cms(
        &[1; 32],
        &k.to_public_key(),
        CmsStyle { sha1_params: true, ..Default::default() },
    );
    assert!(matches!(decrypt_enveloped(&blob, &k), Err(CmsError::Algorithm(_))));
}

#[test]
fn wrong_key_and_tamper() {
    let k = key();
    let other = {
        use rsa::pkcs8::DecodePrivateKey;
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testvectors/receipts/rsa_test_key_2048.pem"
        ))
        .unwrap();
        RsaPrivateKey::from_pkcs8_pem(&pem).unwrap()
    };
    let blob = build_cms(&[7; 32], &k.to_public_key(), CmsStyle::default());
    assert_eq!(decrypt_enveloped(&blob, &other).unwrap_err(), CmsError::KeyUnwrap);
    // Flip the last ciphertext byte: padding/content failure (or garbage), never the plaintext.
    let mut t = blob.clone();
    let n = t.len();
    t[n - 1] ^= 0xff;
    match decrypt_enveloped(&t, &k) {
        Err(CmsError::Content) => {}
        Ok(p) => assert_ne!(p.expose(), &[7; 32]),
        Err(e) => panic!("unexpected {e}"),
    }
    for cut in [0, 1, 5, blob.len() / 2, blob.len() - 1] {
        assert!(decrypt_enveloped(&blob[..cut], &k).is_err(), "cut {cut}");
    }
    let mut trailing = blob.clone();
    trailing.push(0);
    assert!(matches!(decrypt_enveloped(&trailing, &k), Err(CmsError::Ber { .. })));
    assert!(matches!(decrypt_enveloped(&[0x30, 0x80, 0x30, 0x80], &k), Err(CmsError::Ber { .. })));
}

#[test]
fn every_prefix_is_a_ber_error() {
    let k = key();
    for style in [CmsStyle::default(), CmsStyle { ber_indefinite: true, ..Default::default() }] {
        let blob = build_cms(&[7; 32], &k.to_public_key(), style);
        for n in 0..blob.len() {
            let got = decrypt_enveloped(&blob[..n], &k);
            assert!(matches!(got, Err(CmsError::Ber { .. })), "prefix {n}: {got:?}");
        }
    }
}
