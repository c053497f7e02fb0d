//! Builds `CiphertextForRecipient`: a CMS (RFC 5652) `ContentInfo` holding an
//! `EnvelopedData` v2 with one `KeyTransRecipientInfo` v2 (recipient named by
//! subjectKeyIdentifier), the content-encryption key wrapped with
//! RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label; RFC 8017/4055) and the
//! content encrypted with AES-256-CBC (PKCS#7 padding), which is what AWS KMS
//! returns for `Recipient` requests and the AWS Nitro Enclaves SDK parses
//! (docs/formats/attestation.md §7).
//!
//! Hand-written TLV writer: the RustCrypto `cms` builder wraps keys with
//! PKCS#1 v1.5 only and always emits DER; KMS answers in BER with indefinite
//! lengths, and we want to emit that form so the enclave-side parser is tested
//! against it. The writer is a few dozen lines of tag/length/value.
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType id-envelopedData, [0] EXPLICIT EnvelopedData }
//! EnvelopedData ::= SEQUENCE { version 2, recipientInfos SET { KeyTransRecipientInfo },
//!                              encryptedContentInfo }
//! KeyTransRecipientInfo ::= SEQUENCE { version 2, rid [0] IMPLICIT SubjectKeyIdentifier,
//!                              keyEncryptionAlgorithm id-RSAES-OAEP {sha256, mgf1(sha256)},
//!                              encryptedKey OCTET STRING }
//! EncryptedContentInfo ::= SEQUENCE { id-data, aes256-CBC(iv), [0] IMPLICIT encryptedContent }
//! ```
//! The subjectKeyIdentifier is RFC 5280 §4.2.1.2 method (1): SHA-1 of the
//! subjectPublicKey BIT STRING contents of the recipient's SPKI.

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use rand::rngs::OsRng;
use rand::RngCore;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// `1.2.840.113549.1.7.3` id-envelopedData.
pub const OID_ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
/// `1.2.840.113549.1.7.1` id-data.
pub const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
/// `1.2.840.113549.1.1.7` id-RSAES-OAEP.
pub const OID_RSAES_OAEP: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07];
/// `1.2.840.113549.1.1.8` id-mgf1.
pub const OID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
/// `2.16.840.1.101.3.4.2.1` id-sha256.
pub const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// `2.16.840.1.101.3.4.1.42` id-aes256-CBC.
pub const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

/// Largest content we encrypt (KMS plaintexts are at most 4096 bytes).
pub const MAX_CONTENT: usize = 64 * 1024;

/// How to encode lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Definite lengths everywhere (DER-shaped).
    Der,
    /// Indefinite lengths for the constructed outer layers and the encrypted
    /// content as a constructed OCTET STRING of chunks: the BER shape KMS uses.
    BerIndefinite,
}

/// Errors building the envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmsBuildError {
    /// The recipient key is not a DER SPKI of an RSA key.
    #[error("recipient public key is not an RSA SubjectPublicKeyInfo: {0}")]
    BadRecipientKey(String),
    /// RSA key too small for OAEP-SHA-256 or rejected.
    #[error("RSA-OAEP encryption failed: {0}")]
    Oaep(String),
    /// Content larger than [`MAX_CONTENT`].
    #[error("content is {0} bytes, more than {MAX_CONTENT}")]
    TooLarge(usize),
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Definite-length TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Constructed TLV in the chosen encoding.
fn cons(tag: u8, parts: &[&[u8]], enc: Encoding) -> Vec<u8> {
    let content: Vec<u8> = parts.concat();
    match enc {
        Encoding::Der => tlv(tag, &content),
        Encoding::BerIndefinite => {
            let mut out = Vec::with_capacity(content.len() + 4);
            out.push(tag);
            out.push(0x80);
            out.extend_from_slice(&content);
            out.extend_from_slice(&[0, 0]);
            out
        }
    }
}

fn alg(oid: &[u8], params: Option<&[u8]>) -> Vec<u8> {
    let o = tlv(0x06, oid);
    match params {
        Some(p) => tlv(0x30, &[o.as_slice(), p].concat()),
        None => tlv(0x30, &o),
    }
}

/// AlgorithmIdentifier of RSAES-OAEP with SHA-256 and MGF1-SHA-256 (hash
/// parameters absent, as OpenSSL writes them; RFC 4055 §2.1 allows absent or NULL).
pub fn oaep_sha256_algorithm() -> Vec<u8> {
    let sha256 = alg(OID_SHA256, None);
    let hash = tlv(0xa0, &sha256);
    let mgf = tlv(0xa1, &alg(OID_MGF1, Some(&sha256)));
    let params = tlv(0x30, &[hash, mgf].concat());
    alg(OID_RSAES_OAEP, Some(&params))
}

/// RFC 5280 method (1) key identifier: SHA-1 of the subjectPublicKey bits.
pub fn subject_key_identifier(spki_der: &[u8]) -> Result<[u8; 20], CmsBuildError> {
    let spki = rsa::pkcs8::spki::SubjectPublicKeyInfoRef::try_from(spki_der)
        .map_err(|e| CmsBuildError::BadRecipientKey(e.to_string()))?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| CmsBuildError::BadRecipientKey("public key has unused bits".into()))?;
    Ok(Sha1::digest(bits).into())
}

/// Encrypts `content` to the RSA key in `recipient_spki_der`.
pub fn envelope(
    content: &[u8],
    recipient_spki_der: &[u8],
    enc: Encoding,
) -> Result<Vec<u8>, CmsBuildError> {
    if content.len() > MAX_CONTENT {
        return Err(CmsBuildError::TooLarge(content.len()));
    }
    let pk = RsaPublicKey::from_public_key_der(recipient_spki_der)
        .map_err(|e| CmsBuildError::BadRecipientKey(e.to_string()))?;
    let ski = subject_key_identifier(recipient_spki_der)?;
    let mut cek = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(cek.as_mut());
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut iv);
    let wrapped = pk
        .encrypt(&mut OsRng, Oaep::new::<Sha256>(), cek.as_ref())
        .map_err(|e| CmsBuildError::Oaep(e.to_string()))?;
    let ct = cbc::Encryptor::<aes::Aes256>::new(cek.as_ref().into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(content);

    let ktri = tlv(
        0x30,
        &[tlv(0x02, &[2]), tlv(0x80, &ski), oaep_sha256_algorithm(), tlv(0x04, &wrapped)].concat(),
    );
    let recipient_infos = tlv(0x31, &ktri);
    let content_alg = alg(OID_AES256_CBC, Some(&tlv(0x04, &iv)));
    let encrypted_content = match enc {
        Encoding::Der => tlv(0x80, &ct),
        Encoding::BerIndefinite => {
            // [0] IMPLICIT constructed OCTET STRING made of 1 KiB primitive chunks.
            let chunks: Vec<Vec<u8>> = ct.chunks(1024).map(|c| tlv(0x04, c)).collect();
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            cons(0xa0, &refs, enc)
        }
    };
    let eci = cons(0x30, &[&tlv(0x06, OID_DATA), &content_alg, &encrypted_content], enc);
    let enveloped = cons(0x30, &[&tlv(0x02, &[2]), &recipient_infos, &eci], enc);
    let explicit = cons(0xa0, &[&enveloped], enc);
    Ok(cons(0x30, &[&tlv(0x06, OID_ENVELOPED_DATA), &explicit], enc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lengths_encode_minimally() {
        let mut v = Vec::new();
        push_len(&mut v, 0x7f);
        push_len(&mut v, 0x80);
        push_len(&mut v, 0x1234);
        assert_eq!(v, [0x7f, 0x81, 0x80, 0x82, 0x12, 0x34]);
    }

    #[test]
    fn oaep_algorithm_identifier_bytes() {
        // SEQ { OID rsaesOaep, SEQ { [0] SEQ{sha256}, [1] SEQ{ mgf1, SEQ{sha256} } } },
        // structure confirmed with `openssl asn1parse -i`.
        assert_eq!(
            hex::encode(oaep_sha256_algorithm()),
            "303806092a864886f70d010107\
             302ba00d300b0609608648016503040201\
             a11a301806092a864886f70d010108300b0609608648016503040201"
        );
    }

    #[test]
    fn rejects_non_rsa_and_oversized() {
        assert!(matches!(
            envelope(b"x", b"\x30\x00", Encoding::Der),
            Err(CmsBuildError::BadRecipientKey(_))
        ));
        let big = vec![0u8; MAX_CONTENT + 1];
        assert!(matches!(envelope(&big, b"", Encoding::Der), Err(CmsBuildError::TooLarge(_))));
    }
}
