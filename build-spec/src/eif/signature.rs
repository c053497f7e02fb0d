//! The signature section (type 4), docs/formats/eif-and-pcrs.md §3.2.
//!
//! Section data = CBOR `[ {signing_certificate: [u8...], signature: [u8...]} ]`
//! where both byte vectors are CBOR *arrays of integers* (serde's `Vec<u8>`
//! encoding). `signature` is a COSE_Sign1 (untagged) whose payload is
//! CBOR `{register_index: 0, register_value: [PCR0 bytes]}`.
//!
//! Beyond nitro-cli's `run-enclave`, [`verify`] also checks that the signed
//! PCR0 equals the image's PCR0: a valid signature over another image's
//! PCR0 must not pass.

use crate::digest::{Digest, Sha384};
use coset::{CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use p384::ecdsa::signature::{Signer as _, Verifier as _};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};

use crate::pcr::{extend, Pcr};

/// Errors decoding or checking a signature section or certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Section is not the expected CBOR.
    #[error("signature section is not CBOR [{{signing_certificate, signature}}]: {0}")]
    Cbor(String),
    /// The list is empty.
    #[error("signature section holds no signature record")]
    Empty,
    /// More than one record (readers only use the first; we refuse).
    #[error("signature section holds {0} records; exactly one is allowed")]
    MultipleRecords(usize),
    /// Certificate is not PEM.
    #[error("signing certificate is not a PEM certificate: {0}")]
    Pem(String),
    /// Certificate is not a valid X.509 certificate.
    #[error("signing certificate does not parse as X.509: {0}")]
    Certificate(String),
    /// COSE_Sign1 structure invalid.
    #[error("signature is not a COSE_Sign1 structure: {0}")]
    Cose(String),
    /// Algorithm/key not supported (only ES384 with P-384 keys).
    #[error("unsupported signature algorithm or key: {0}")]
    Unsupported(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PcrSignature {
    signing_certificate: Vec<u8>,
    signature: Vec<u8>,
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq, Debug)]
struct PcrInfo {
    register_index: i32,
    register_value: Vec<u8>,
}

/// A decoded signature section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureSection {
    /// Certificate as stored (PEM text).
    pub cert_pem: Vec<u8>,
    /// DER of the certificate (what PCR8 measures).
    pub cert_der: Vec<u8>,
    /// COSE_Sign1 bytes.
    pub cose: Vec<u8>,
}

/// Facts about the signing certificate, for reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertInfo {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// notBefore, RFC 2822-ish text from x509-parser.
    pub not_before: String,
    /// notAfter.
    pub not_after: String,
    /// notBefore as Unix seconds.
    pub not_before_unix: i64,
    /// notAfter as Unix seconds.
    pub not_after_unix: i64,
    /// Certificate signature algorithm OID/name.
    pub signature_algorithm: String,
    /// SHA-256 of the DER, hex (a handy fingerprint).
    pub sha256_fingerprint: String,
}

/// Result of [`verify`]. Every field is a fact; `ok()` summarises.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureCheck {
    /// The certificate.
    pub certificate: CertInfo,
    /// PCR8 = extend(SHA384(DER)).
    #[serde(with = "hex48")]
    pub pcr8: Pcr,
    /// COSE algorithm found in the protected header.
    pub algorithm: String,
    /// The ECDSA signature verifies with the certificate's key.
    pub signature_valid: bool,
    /// Register index in the signed payload (must be 0).
    pub signed_index: Option<i32>,
    /// PCR value in the signed payload.
    #[serde(with = "hex48opt")]
    pub signed_pcr0: Option<Pcr>,
    /// The signed PCR0 equals the image's PCR0 (nitro-cli never checks).
    pub pcr0_matches: bool,
    /// Why a check failed, if one did.
    pub problem: Option<String>,
}

impl SignatureCheck {
    /// Signature valid, over register 0, and equal to the image's PCR0.
    pub fn ok(&self) -> bool {
        self.signature_valid && self.signed_index == Some(0) && self.pcr0_matches
    }
}

mod hex48 {
    pub fn serialize<S: serde::Serializer>(v: &[u8; 48], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
}

mod hex48opt {
    pub fn serialize<S: serde::Serializer>(v: &Option<[u8; 48]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&hex::encode(v)),
            None => s.serialize_none(),
        }
    }
}

/// Parses a PEM certificate into DER, checking it is X.509.
pub fn cert_pem_to_der(pem: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let (_, p) =
        x509_parser::pem::parse_x509_pem(pem).map_err(|e| SignatureError::Pem(e.to_string()))?;
    if p.label != "CERTIFICATE" {
        return Err(SignatureError::Pem(format!("PEM label is {:?}", p.label)));
    }
    p.parse_x509().map_err(|e| SignatureError::Certificate(e.to_string()))?;
    Ok(p.contents)
}

/// `nitro-cli pcr --signing-certificate`: PCR8 of a PEM certificate.
pub fn pcr8_of_cert_pem(pem: &[u8]) -> Result<Pcr, SignatureError> {
    Ok(extend(&Sha384::digest(cert_pem_to_der(pem)?)))
}

/// Decodes section bytes.
pub fn parse_section(bytes: &[u8]) -> Result<SignatureSection, SignatureError> {
    let records: Vec<PcrSignature> =
        ciborium::de::from_reader(bytes).map_err(|e| SignatureError::Cbor(e.to_string()))?;
    let mut it = records.into_iter();
    let first = it.next().ok_or(SignatureError::Empty)?;
    let extra = it.count();
    if extra > 0 {
        return Err(SignatureError::MultipleRecords(extra + 1));
    }
    let cert_der = cert_pem_to_der(&first.signing_certificate)?;
    Ok(SignatureSection { cert_pem: first.signing_certificate, cert_der, cose: first.signature })
}

/// Certificate facts.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, SignatureError> {
    let (_, c) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| SignatureError::Certificate(e.to_string()))?;
    let v = c.validity();
    Ok(CertInfo {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        serial: c.raw_serial_as_string(),
        not_before: v.not_before.to_string(),
        not_after: v.not_after.to_string(),
        not_before_unix: v.not_before.timestamp(),
        not_after_unix: v.not_after.timestamp(),
        signature_algorithm: c.signature_algorithm.algorithm.to_id_string(),
        sha256_fingerprint: hex::encode(crate::digest::Sha256::digest(der)),
    })
}

fn verifying_key(der: &[u8]) -> Result<VerifyingKey, SignatureError> {
    let (_, c) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| SignatureError::Certificate(e.to_string()))?;
    let spki = c.public_key();
    VerifyingKey::from_sec1_bytes(&spki.subject_public_key.data)
        .map_err(|_| SignatureError::Unsupported("certificate key is not a P-384 EC key".into()))
}

fn parse_cose(bytes: &[u8]) -> Result<CoseSign1, SignatureError> {
    CoseSign1::from_slice(bytes)
        .or_else(|_| CoseSign1::from_tagged_slice(bytes))
        .map_err(|e| SignatureError::Cose(format!("{e:?}")))
}

/// The payload bytes for `(index 0, pcr0)`.
pub fn pcr_payload(pcr0: &Pcr) -> Vec<u8> {
    let mut out = Vec::new();
    // Serialising a plain struct into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(
        &PcrInfo { register_index: 0, register_value: pcr0.to_vec() },
        &mut out,
    );
    out
}

/// Verifies the section against the image's PCR0. Structural problems are
/// errors; a bad signature or PCR0 mismatch is reported in the result.
pub fn verify(
    section: &SignatureSection,
    image_pcr0: &Pcr,
) -> Result<SignatureCheck, SignatureError> {
    let certificate = cert_info(&section.cert_der)?;
    let pcr8 = extend(&Sha384::digest(&section.cert_der));
    let sign1 = parse_cose(&section.cose)?;
    let alg = sign1.protected.header.alg.clone();
    let algorithm = match &alg {
        Some(coset::RegisteredLabelWithPrivate::Assigned(a)) => format!("{a:?}"),
        Some(other) => format!("{other:?}"),
        None => "none".into(),
    };
    let mut check = SignatureCheck {
        certificate,
        pcr8,
        algorithm,
        signature_valid: false,
        signed_index: None,
        signed_pcr0: None,
        pcr0_matches: false,
        problem: None,
    };
    let es384 = coset::RegisteredLabelWithPrivate::Assigned(coset::iana::Algorithm::ES384);
    if alg.as_ref() != Some(&es384) {
        check.problem = Some(format!("algorithm {} is not ES384", check.algorithm));
        return Ok(check);
    }
    let key = match verifying_key(&section.cert_der) {
        Ok(k) => k,
        Err(e) => {
            check.problem = Some(e.to_string());
            return Ok(check);
        }
    };
    let verified = sign1.verify_signature(b"", |sig, data| {
        let sig = Signature::from_slice(sig).map_err(|e| e.to_string())?;
        key.verify(data, &sig).map_err(|e| e.to_string())
    });
    if let Err(e) = verified {
        check.problem = Some(format!("COSE signature does not verify: {e}"));
        return Ok(check);
    }
    check.signature_valid = true;
    let payload = sign1.payload.as_deref().unwrap_or_default();
    let info: PcrInfo = match ciborium::de::from_reader(payload) {
        Ok(i) => i,
        Err(e) => {
            check.problem = Some(format!("signed payload is not PcrInfo CBOR: {e}"));
            return Ok(check);
        }
    };
    check.signed_index = Some(info.register_index);
    if let Ok(v) = <[u8; 48]>::try_from(info.register_value.as_slice()) {
        check.signed_pcr0 = Some(v);
        check.pcr0_matches = info.register_index == 0 && &v == image_pcr0;
    }
    if !check.pcr0_matches {
        check.problem = Some(if info.register_index != 0 {
            format!("signed register index is {}, not 0", info.register_index)
        } else {
            "signed PCR0 differs from the image's PCR0".into()
        });
    }
    Ok(check)
}

/// Signs `pcr0` and returns the signature section bytes (deterministic:
/// RFC 6979 nonces).
pub fn sign_section(
    cert_pem: &[u8],
    key: &SigningKey,
    pcr0: &Pcr,
) -> Result<Vec<u8>, SignatureError> {
    let der = cert_pem_to_der(cert_pem)?;
    let cert_key = verifying_key(&der)?;
    if &cert_key != key.verifying_key() {
        return Err(SignatureError::Signing("private key does not match the certificate".into()));
    }
    let protected = HeaderBuilder::new().algorithm(coset::iana::Algorithm::ES384).build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(pcr_payload(pcr0))
        .create_signature(b"", |tbs| {
            let sig: Signature = key.sign(tbs);
            sig.to_bytes().to_vec()
        })
        .build();
    let cose = sign1.to_vec().map_err(|e| SignatureError::Signing(format!("{e:?}")))?;
    let mut out = Vec::new();
    ciborium::ser::into_writer(
        &vec![PcrSignature { signing_certificate: cert_pem.to_vec(), signature: cose }],
        &mut out,
    )
    .map_err(|e| SignatureError::Signing(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_matches_spec_example() {
        let pcr0 = crate::pcr::measurements::parse_pcr_hex(
            "bb50ac737a9fcfc0d1aa3a43d2e6095c06a2b74e42d0cbad74401ec0444c8a10e2c0b1e7f12246e34aa21e0e178d194a",
        )
        .expect("hex");
        assert_eq!(
            hex::encode(pcr_payload(&pcr0)),
            "a26e72656769737465725f696e646578006e72656769737465725f76616c7565983018bb185018ac1873187a189f18cf18c018d118aa183a184318d218e609185c0618a218b7184e184218d018cb18ad18741840181e18c01844184c188a1018e218c018b118e718f11822184618e3184a18a2181e0e17188d1819184a"
        );
    }
}
