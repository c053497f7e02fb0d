//! A low-level X.509 certificate issuer for the test CA.
//!
//! Uses `x509-cert` (RustCrypto, pure Rust) for the ASN.1 types and `p384`
//! for signing. Its `builder` feature was not used because it fixes
//! extension criticality and profile rules; tamper tests need to produce
//! exactly the wrong thing (non-critical basic constraints, a missing key
//! usage, a TBS algorithm that disagrees with the outer one, ...), so every
//! field of [`CertSpec`] is explicit.

use std::time::Duration;

use der::asn1::{BitString, GeneralizedTime, ObjectIdentifier, OctetString, UtcTime};
use der::flagset::FlagSet;
use der::{Decode, Encode};
use p384::ecdsa::{signature::Signer, DerSignature, SigningKey};
use p384::pkcs8::EncodePublicKey;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

/// `ecdsa-with-SHA384` (RFC 5758).
pub const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// `ecdsa-with-SHA256` (RFC 5758), used only to build wrong certificates.
pub const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// Errors while building a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A name string did not parse as RFC 4514.
    #[error("invalid distinguished name {name:?}: {source}")]
    Name {
        /// The string given.
        name: String,
        /// The parser error.
        source: der::Error,
    },
    /// DER encoding or decoding failed.
    #[error("DER error in {what}: {source}")]
    Der {
        /// What was being encoded.
        what: &'static str,
        /// The error.
        source: der::Error,
    },
}

fn der_err(what: &'static str) -> impl FnOnce(der::Error) -> CertError {
    move |source| CertError::Der { what, source }
}

/// Basic constraints to put in a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicConstraintsSpec {
    /// Criticality flag.
    pub critical: bool,
    /// `cA`.
    pub ca: bool,
    /// `pathLenConstraint`.
    pub path_len: Option<u8>,
}

/// Key usage to put in a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUsageSpec {
    /// Criticality flag.
    pub critical: bool,
    /// digitalSignature.
    pub digital_signature: bool,
    /// nonRepudiation.
    pub non_repudiation: bool,
    /// keyCertSign.
    pub key_cert_sign: bool,
    /// cRLSign.
    pub crl_sign: bool,
}

impl KeyUsageSpec {
    /// What AWS puts in the root, regional and zonal CAs: critical DS+KCS+CRL.
    pub const CA: Self = Self {
        critical: true,
        digital_signature: true,
        non_repudiation: false,
        key_cert_sign: true,
        crl_sign: true,
    };
    /// What AWS puts in the instance CA: critical keyCertSign only.
    pub const INSTANCE_CA: Self = Self {
        critical: true,
        digital_signature: false,
        non_repudiation: false,
        key_cert_sign: true,
        crl_sign: false,
    };
    /// What AWS puts in the leaf: non-critical DS + nonRepudiation.
    pub const LEAF: Self = Self {
        critical: false,
        digital_signature: true,
        non_repudiation: true,
        key_cert_sign: false,
        crl_sign: false,
    };

    fn to_key_usage(self) -> KeyUsage {
        let mut flags: FlagSet<KeyUsages> = FlagSet::default();
        if self.digital_signature {
            flags |= KeyUsages::DigitalSignature;
        }
        if self.non_repudiation {
            flags |= KeyUsages::NonRepudiation;
        }
        if self.key_cert_sign {
            flags |= KeyUsages::KeyCertSign;
        }
        if self.crl_sign {
            flags |= KeyUsages::CRLSign;
        }
        KeyUsage(flags)
    }
}

/// Everything that goes into one certificate.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Subject, RFC 4514 (`CN=...,O=...`).
    pub subject: String,
    /// Issuer, RFC 4514. For a self-signed certificate, equal to `subject`.
    pub issuer: String,
    /// Serial number bytes (big-endian, positive).
    pub serial: Vec<u8>,
    /// notBefore, seconds since the epoch.
    pub not_before: u64,
    /// notAfter, seconds since the epoch.
    pub not_after: u64,
    /// DER SubjectPublicKeyInfo of the subject key.
    pub spki_der: Vec<u8>,
    /// Basic constraints, or none.
    pub basic_constraints: Option<BasicConstraintsSpec>,
    /// Key usage, or none.
    pub key_usage: Option<KeyUsageSpec>,
    /// Extra raw extensions `(oid, critical, DER value)`.
    pub extra_extensions: Vec<(ObjectIdentifier, bool, Vec<u8>)>,
    /// Signature algorithm written in the TBS.
    pub tbs_signature_alg: ObjectIdentifier,
    /// Signature algorithm written outside the TBS.
    pub outer_signature_alg: ObjectIdentifier,
}

impl CertSpec {
    /// A spec with AWS-like defaults (ecdsa-with-SHA384 both places, no
    /// extensions); set the remaining fields as needed.
    pub fn new(
        subject: &str,
        issuer: &str,
        spki_der: Vec<u8>,
        not_before: u64,
        not_after: u64,
    ) -> Self {
        Self {
            subject: subject.to_owned(),
            issuer: issuer.to_owned(),
            serial: vec![0x01],
            not_before,
            not_after,
            spki_der,
            basic_constraints: None,
            key_usage: None,
            extra_extensions: Vec::new(),
            tbs_signature_alg: OID_ECDSA_SHA384,
            outer_signature_alg: OID_ECDSA_SHA384,
        }
    }
}

/// DER SubjectPublicKeyInfo of a P-384 signing key's public half.
pub fn spki_of(key: &SigningKey) -> Result<Vec<u8>, CertError> {
    let doc = key.verifying_key().to_public_key_der().map_err(|_| CertError::Der {
        what: "public key",
        source: der::ErrorKind::Failed.into(),
    })?;
    Ok(doc.as_bytes().to_vec())
}

fn x509_time(secs: u64) -> Result<Time, CertError> {
    let d = Duration::from_secs(secs);
    // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    match UtcTime::from_unix_duration(d) {
        Ok(t) => Ok(Time::UtcTime(t)),
        Err(_) => GeneralizedTime::from_unix_duration(d)
            .map(Time::GeneralTime)
            .map_err(der_err("validity")),
    }
}

fn parse_name(s: &str) -> Result<Name, CertError> {
    s.parse::<Name>().map_err(|source| CertError::Name { name: s.to_owned(), source })
}

/// Issues the certificate described by `spec`, signed by `signer`; returns DER.
pub fn issue(spec: &CertSpec, signer: &SigningKey) -> Result<Vec<u8>, CertError> {
    let mut extensions = Vec::new();
    if let Some(bc) = spec.basic_constraints {
        let value = BasicConstraints { ca: bc.ca, path_len_constraint: bc.path_len }
            .to_der()
            .map_err(der_err("basic constraints"))?;
        extensions.push(Extension {
            extn_id: OID_BASIC_CONSTRAINTS,
            critical: bc.critical,
            extn_value: OctetString::new(value).map_err(der_err("basic constraints"))?,
        });
    }
    if let Some(ku) = spec.key_usage {
        let value = ku.to_key_usage().to_der().map_err(der_err("key usage"))?;
        extensions.push(Extension {
            extn_id: OID_KEY_USAGE,
            critical: ku.critical,
            extn_value: OctetString::new(value).map_err(der_err("key usage"))?,
        });
    }
    for (oid, critical, value) in &spec.extra_extensions {
        extensions.push(Extension {
            extn_id: *oid,
            critical: *critical,
            extn_value: OctetString::new(value.clone()).map_err(der_err("extension"))?,
        });
    }
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&spec.serial).map_err(der_err("serial"))?,
        signature: AlgorithmIdentifierOwned { oid: spec.tbs_signature_alg, parameters: None },
        issuer: parse_name(&spec.issuer)?,
        validity: Validity {
            not_before: x509_time(spec.not_before)?,
            not_after: x509_time(spec.not_after)?,
        },
        subject: parse_name(&spec.subject)?,
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(&spec.spki_der)
            .map_err(der_err("subject public key info"))?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: if extensions.is_empty() { None } else { Some(extensions) },
    };
    let tbs_der = tbs.to_der().map_err(der_err("tbsCertificate"))?;
    let sig: DerSignature = signer.sign(&tbs_der);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: spec.outer_signature_alg,
            parameters: None,
        },
        signature: BitString::from_bytes(sig.as_bytes()).map_err(der_err("signature"))?,
    };
    cert.to_der().map_err(der_err("certificate"))
}
