//! Signed images: PCR8, COSE verification, and the check nitro-cli skips
//! (the signed PCR0 must be this image's PCR0).

use std::fs;
use std::process::Command;

use crate::common::*;
use build_spec::eif::signature::{pcr8_of_cert_pem, SignatureError};
use build_spec::eif::{read_eif, EifBuilder, EifError, Input, ReadOptions, SectionType, Signer};
use build_spec::pcr::extend;
use p384::pkcs8::DecodePrivateKey;
use sha2::{Digest, Sha384};

fn signer(n: &str) -> Signer {
    let dir = vector_dir("signing");
    let cert_pem = fs::read(dir.join(format!("cert-{n}.pem"))).expect("cert");
    let key_pem = fs::read_to_string(dir.join(format!("key-{n}.pem"))).expect("key");
    let key = p384::ecdsa::SigningKey::from_pkcs8_pem(&key_pem).expect("pkcs8 key");
    Signer { cert_pem, key }
}

fn tiny_builder(cmdline: &str) -> EifBuilder {
    let dir = vector_dir("tiny");
    EifBuilder {
        kernel: Input::File(dir.join("kernel")),
        cmdline: cmdline.as_bytes().to_vec(),
        ramdisks: vec![Input::File(dir.join("ramdisk1")), Input::File(dir.join("ramdisk2"))],
        arch: Default::default(),
        metadata: build_spec::eif::EifMetadata::from_bytes(META).expect("meta"),
        signer: None,
    }
}

fn read(img: &[u8]) -> Result<build_spec::eif::EifSummary, EifError> {
    read_eif(img, Some(img.len() as u64), &ReadOptions::default())
}

/// PCR8 computed by OpenSSL (DER) + sha2, independent of x509-parser's PEM.
fn openssl_pcr8(cert: &str) -> [u8; 48] {
    let out = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(vector_dir("signing").join(cert))
        .output()
        .expect("openssl must be installed (scripts/install-test-deps)");
    assert!(out.status.success());
    extend(&Sha384::digest(&out.stdout))
}

#[test]
fn signed_image_roundtrip() {
    let unsigned = tiny_builder("console=ttyS0").to_vec().expect("unsigned").1;
    let mut b = tiny_builder("console=ttyS0");
    b.signer = Some(signer("a"));
    let (img, out) = b.to_vec().expect("signed");
    let (img2, _) = b.to_vec().expect("signed again");
    assert_eq!(img, img2, "RFC 6979 signing is deterministic");
    let s = read(&img).expect("reads");
    assert_eq!(s.sections.last().map(|x| x.kind), Some(SectionType::Signature));
    assert_eq!(s.header.num_sections, 6);
    assert_eq!(
        (s.pcrs.pcr0, s.pcrs.pcr1, s.pcrs.pcr2),
        (unsigned.pcrs.pcr0, unsigned.pcrs.pcr1, unsigned.pcrs.pcr2)
    );
    assert_eq!(s.pcrs, out.pcrs);
    let pcr8 = openssl_pcr8("cert-a.pem");
    assert_eq!(s.pcrs.pcr8, Some(pcr8));
    let pem = fs::read(vector_dir("signing/cert-a.pem")).expect("pem");
    assert_eq!(pcr8_of_cert_pem(&pem).expect("pcr8"), pcr8);
    let check = s.signature_check.as_ref().expect("checked");
    assert!(check.ok(), "{check:?}");
    assert!(check.certificate.subject.contains("eif signer a"));
    assert_eq!(check.signed_pcr0, Some(s.pcrs.pcr0));
    assert!(s.measurements().to_nitro_json().contains("\"PCR8\""));
}

#[test]
fn tampered_or_transplanted_signatures_fail() {
    let mut b = tiny_builder("console=ttyS0");
    b.signer = Some(signer("a"));
    let (img, _) = b.to_vec().expect("signed");
    let s = read(&img).expect("reads");
    let sig = s.sections.last().expect("sig").clone();
    let sig_data = img[sig.data_offset as usize..].to_vec();

    // Flip a byte of the ECDSA signature (the last CBOR uint of the COSE
    // array): the section still parses, the signature must not verify.
    let mut bad = img.clone();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == 0x17 { 0x16 } else { 0x17 };
    fix_crc(&mut bad);
    let s2 = read(&bad).expect("still parses");
    let c = s2.signature_check.expect("checked");
    assert!(!c.signature_valid && !c.ok(), "{c:?}");

    // A valid signature of another image (same key) moved onto this one:
    // nitro-cli would accept it; we must not.
    let img_other = raw_eif(
        4,
        &[
            (KERNEL, 0, b"kernel"),
            (CMDLINE, 0, b"console=ttyS1"),
            (METADATA, 0, META),
            (RAMDISK, 0, b"ramdisk-one"),
            (RAMDISK, 0, b"ramdisk-two"),
            (SIGNATURE, 0, &sig_data),
        ],
    );
    let s3 = read(&img_other).expect("parses");
    let c = s3.signature_check.expect("checked");
    assert!(c.signature_valid, "the signature itself is genuine");
    assert!(!c.pcr0_matches && !c.ok(), "{c:?}");
    assert_eq!(c.signed_pcr0, Some(s.pcrs.pcr0));

    // Garbage signature section: typed error.
    let img_bad = raw_eif(
        4,
        &[
            (KERNEL, 0, b"k"),
            (CMDLINE, 0, b"c"),
            (METADATA, 0, META),
            (RAMDISK, 0, b"r"),
            (SIGNATURE, 0, b"\x81\xa0"),
        ],
    );
    assert!(matches!(
        read(&img_bad),
        Err(EifError::BadSignature { source: SignatureError::Cbor(_), .. })
    ));
    let img_empty = raw_eif(
        4,
        &[
            (KERNEL, 0, b"k"),
            (CMDLINE, 0, b"c"),
            (METADATA, 0, META),
            (RAMDISK, 0, b"r"),
            (SIGNATURE, 0, b"\x80"),
        ],
    );
    assert!(matches!(
        read(&img_empty),
        Err(EifError::BadSignature { source: SignatureError::Empty, .. })
    ));
}

#[test]
fn key_must_match_certificate() {
    let mut b = tiny_builder("console=ttyS0");
    let mut s = signer("a");
    s.key = signer("b").key;
    b.signer = Some(s);
    assert!(b.to_vec().is_err());
}

#[test]
fn pcr8_of_other_certificates() {
    let pem = fs::read(vector_dir("signing/cert-p256.pem")).expect("pem");
    assert_eq!(pcr8_of_cert_pem(&pem).expect("p256 cert"), openssl_pcr8("cert-p256.pem"));
    assert!(matches!(pcr8_of_cert_pem(b"not a pem"), Err(SignatureError::Pem(_))));
    let key = fs::read(vector_dir("signing/key-a.pem")).expect("key");
    assert!(pcr8_of_cert_pem(&key).is_err(), "a key is not a certificate");
}
