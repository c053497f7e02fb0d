//! Certificate chain validation: leaf → cabundle[N-1] → … → cabundle[0] = a
//! pinned root, at an explicit instant.
//!
//! Rules (RFC 5280 path validation restricted to what the Nitro PKI uses):
//! every link's issuer equals its parent's subject byte for byte; every
//! signature is ecdsa-with-SHA384 (outer and TBS), every key EC P-384; every
//! parent is a CA with critical basic constraints, keyCertSign and a path
//! length not exceeded; the leaf is not a CA and has digitalSignature; every
//! certificate, the root included, is valid at the instant (both bounds
//! inclusive, second precision); unknown critical extensions are fatal.
//! AKI/SKI/EKU are *not* required: real leaves have none. No CRL checking
//! (AWS: "we do not use CRL"). All failures are collected, not just the first.

use std::collections::HashSet;
use std::sync::RwLock;

use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_SIG_ECDSA_WITH_SHA384, OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_KEY_USAGE,
};
use x509_parser::prelude::FromDer;

use super::error::{ChainError, Position};
use super::sig::P384Key;
use super::time_fmt;

/// DER SHA-256 of the AWS Nitro Enclaves Root G1 certificate, as AWS
/// publishes it (`641a0321…79bb5b`).
pub const AWS_ROOT_G1_SHA256: &str =
    "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

/// The AWS Nitro Enclaves Root G1 certificate (DER), from
/// <https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip>.
const AWS_ROOT_G1_DER: &[u8] = include_bytes!("aws_nitro_enclaves_root_g1.der");

/// DER prefix of an uncompressed EC P-384 SubjectPublicKeyInfo:
/// SEQUENCE { SEQUENCE { id-ecPublicKey, secp384r1 }, BIT STRING (98 bytes) 00 }.
const P384_SPKI_PREFIX: [u8; 23] = [
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

/// A trusted root certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    /// DER bytes; `cabundle[0]` must equal them exactly.
    pub der: Vec<u8>,
    /// SHA-256 of `der`.
    pub sha256: [u8; 32],
    /// A label for reports.
    pub label: String,
}

/// Errors loading a trust anchor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// Not PEM or not a certificate.
    #[error("not a PEM or DER X.509 certificate: {0}")]
    Decode(String),
}

impl TrustAnchor {
    /// The embedded AWS Nitro Enclaves Root G1, checked against its pinned
    /// fingerprint. If the embedded bytes ever disagreed with the pin the
    /// anchor would be empty and match nothing (fail closed).
    pub fn aws_nitro_root_g1() -> Self {
        let sha256: [u8; 32] = Sha256::digest(AWS_ROOT_G1_DER).into();
        let der = if hex::encode(sha256) == AWS_ROOT_G1_SHA256 {
            AWS_ROOT_G1_DER.to_vec()
        } else {
            Vec::new()
        };
        Self { der, sha256, label: "AWS Nitro Enclaves Root G1 (embedded, pinned)".into() }
    }

    /// An anchor from DER bytes (a private or test CA).
    pub fn from_der(der: Vec<u8>, label: impl Into<String>) -> Result<Self, AnchorError> {
        let (rest, _) =
            X509Certificate::from_der(&der).map_err(|e| AnchorError::Decode(e.to_string()))?;
        if !rest.is_empty() {
            return Err(AnchorError::Decode("trailing bytes after the certificate".into()));
        }
        let sha256 = Sha256::digest(&der).into();
        Ok(Self { der, sha256, label: label.into() })
    }

    /// An anchor from PEM (or DER) bytes.
    pub fn from_pem_or_der(bytes: &[u8], label: impl Into<String>) -> Result<Self, AnchorError> {
        if bytes.starts_with(b"-----") || bytes.iter().take(64).all(|b| b.is_ascii()) {
            let (_, pem) = x509_parser::pem::parse_x509_pem(bytes)
                .map_err(|e| AnchorError::Decode(e.to_string()))?;
            if pem.label != "CERTIFICATE" {
                return Err(AnchorError::Decode(format!(
                    "PEM label {:?}, expected CERTIFICATE",
                    pem.label
                )));
            }
            Self::from_der(pem.contents, label)
        } else {
            Self::from_der(bytes.to_vec(), label)
        }
    }

    /// Lowercase hex SHA-256.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Upper bound on cached pairs so a long batch cannot grow memory unbounded.
pub const CHAIN_CACHE_MAX: usize = 1 << 16;

/// A cache of verified (issuer certificate, certificate) signature pairs,
/// shared across documents (and threads) in batch mode. Documents from the
/// same instance share root, regional, zonal and instance certificates, so a
/// warm cache leaves one or two signature checks per document instead of
/// five. Only the *signature* result is cached, keyed by SHA-256 over both
/// DER encodings; names, constraints and validity are rechecked every time.
#[derive(Debug, Default)]
pub struct ChainCache {
    verified: RwLock<HashSet<[u8; 32]>>,
}

impl ChainCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn key(parent: &[u8], child: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((parent.len() as u64).to_be_bytes());
        h.update(parent);
        h.update(child);
        h.finalize().into()
    }

    fn contains(&self, key: &[u8; 32]) -> bool {
        self.verified.read().map(|s| s.contains(key)).unwrap_or(false)
    }

    fn insert(&self, key: [u8; 32]) {
        if let Ok(mut s) = self.verified.write() {
            if s.len() < CHAIN_CACHE_MAX {
                s.insert(key);
            }
        }
    }

    /// Number of cached pairs.
    pub fn len(&self) -> usize {
        self.verified.read().map(|s| s.len()).unwrap_or(0)
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A readable summary of one certificate, for reports and `show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertSummary {
    /// `leaf`, `root`, `regional`, ...
    pub role: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
}

/// Result of a chain walk.
#[derive(Debug, Default)]
pub struct ChainOutcome {
    /// Every failure found, in path order (leaf first).
    pub errors: Vec<ChainError>,
    /// The leaf's public key, when the leaf parses and holds a P-384 key.
    pub leaf_key: Option<P384Key>,
    /// Leaf validity `(notBefore, notAfter)` in seconds since the epoch.
    pub leaf_validity: Option<(i64, i64)>,
    /// Summaries in path order: leaf, cabundle[N-1], …, cabundle[0].
    pub summaries: Vec<(Position, CertSummary)>,
    /// Signature checks actually computed (not served from the cache).
    pub signatures_computed: usize,
}

impl ChainOutcome {
    /// The errors about one certificate.
    pub fn errors_for(&self, position: Position) -> impl Iterator<Item = &ChainError> {
        self.errors.iter().filter(move |e| e.position() == Some(position))
    }
}

/// Extracts a P-384 key from a certificate's SPKI, or `None`.
fn p384_key(cert: &X509Certificate<'_>) -> Option<P384Key> {
    let raw = cert.public_key().raw;
    P384Key::from_sec1(raw.strip_prefix(&P384_SPKI_PREFIX[..])?)
}

/// Walks the chain. `at` is the verification instant in whole seconds.
pub fn verify_chain(
    leaf_der: &[u8],
    bundle: &[Vec<u8>],
    roots: &[TrustAnchor],
    at: i64,
    cache: Option<&ChainCache>,
) -> ChainOutcome {
    let mut out = ChainOutcome::default();
    let n = bundle.len();

    // Root pin first: cabundle[0] must be one of the trusted roots, byte for byte.
    match bundle.first() {
        Some(first) => {
            if !roots.iter().any(|r| !r.der.is_empty() && r.der == *first) {
                out.errors
                    .push(ChainError::UntrustedRoot { sha256: hex::encode(Sha256::digest(first)) });
            }
        }
        // The parser never lets an empty bundle through; fail closed anyway.
        None => out.errors.push(ChainError::UntrustedRoot { sha256: "(empty cabundle)".into() }),
    }

    // Path order: leaf, cabundle[n-1], ..., cabundle[0].
    let mut path: Vec<(Position, &[u8])> = Vec::with_capacity(n + 1);
    path.push((Position::Leaf, leaf_der));
    for i in (0..n).rev() {
        if let Some(c) = bundle.get(i) {
            path.push((Position::Bundle(i), c));
        }
    }
    let parsed: Vec<Option<X509Certificate<'_>>> = path
        .iter()
        .map(|(pos, der)| match X509Certificate::from_der(der) {
            Ok(([], c)) => Some(c),
            Ok((rest, _)) => {
                out.errors.push(ChainError::Decode {
                    position: *pos,
                    reason: format!("{} trailing bytes", rest.len()),
                });
                None
            }
            Err(e) => {
                out.errors.push(ChainError::Decode { position: *pos, reason: e.to_string() });
                None
            }
        })
        .collect();

    for (idx, ((pos, der), cert)) in path.iter().zip(parsed.iter()).enumerate() {
        let Some(cert) = cert else { continue };
        out.summaries.push((*pos, summary(*pos, n, der, cert)));
        let is_leaf = idx == 0;
        check_one(&mut out.errors, *pos, cert, at);
        if is_leaf {
            check_leaf(&mut out.errors, cert);
            out.leaf_validity = Some((
                cert.validity().not_before.timestamp(),
                cert.validity().not_after.timestamp(),
            ));
        } else {
            // CA certificates below this one in the path, excluding the leaf.
            check_ca(&mut out.errors, *pos, cert, idx - 1);
        }
        let key = p384_key(cert);
        if key.is_none() {
            out.errors.push(ChainError::NotP384 { position: *pos });
        }
        if is_leaf {
            out.leaf_key = key;
        }
        // Link to the parent (the next entry in the path).
        let Some(Some(parent)) = parsed.get(idx + 1) else { continue };
        let parent_der = path.get(idx + 1).map(|p| p.1).unwrap_or_default();
        if cert.tbs_certificate.issuer.as_raw() != parent.tbs_certificate.subject.as_raw() {
            out.errors.push(ChainError::IssuerMismatch { position: *pos });
        }
        let Some(parent_key) = p384_key(parent) else { continue };
        let cache_key = cache.map(|_| ChainCache::key(parent_der, der));
        if let (Some(c), Some(k)) = (cache, &cache_key) {
            if c.contains(k) {
                continue;
            }
        }
        out.signatures_computed += 1;
        if parent_key.verify_der(cert.tbs_certificate.as_ref(), &cert.signature_value.data) {
            if let (Some(c), Some(k)) = (cache, cache_key) {
                c.insert(k);
            }
        } else {
            out.errors.push(ChainError::BadSignature { position: *pos });
        }
    }
    out
}

fn summary(pos: Position, n: usize, der: &[u8], cert: &X509Certificate<'_>) -> CertSummary {
    CertSummary {
        role: pos.role(n),
        subject: rfc4514(cert.subject()),
        issuer: rfc4514(cert.issuer()),
        serial: hex::encode(cert.raw_serial()),
        not_before: time_fmt::secs(cert.validity().not_before.timestamp()),
        not_after: time_fmt::secs(cert.validity().not_after.timestamp()),
        sha256: hex::encode(Sha256::digest(der)),
    }
}

/// Checks common to every certificate: algorithms, validity, extensions.
fn check_one(
    errors: &mut Vec<ChainError>,
    position: Position,
    cert: &X509Certificate<'_>,
    at: i64,
) {
    let outer = &cert.signature_algorithm.algorithm;
    let tbs = &cert.tbs_certificate.signature.algorithm;
    if *outer != OID_SIG_ECDSA_WITH_SHA384 {
        errors.push(ChainError::SignatureAlgorithm { position, oid: outer.to_id_string() });
    } else if outer != tbs || cert.signature_algorithm.parameters.is_some() {
        errors.push(ChainError::AlgorithmMismatch { position });
    }
    let nb = cert.validity().not_before.timestamp();
    let na = cert.validity().not_after.timestamp();
    if at < nb {
        errors.push(ChainError::NotYetValid {
            position,
            not_before: time_fmt::secs(nb),
            at: time_fmt::secs(at),
        });
    }
    if at > na {
        errors.push(ChainError::Expired {
            position,
            not_after: time_fmt::secs(na),
            at: time_fmt::secs(at),
        });
    }
    for ext in cert.extensions() {
        if ext.critical
            && ext.oid != OID_X509_EXT_BASIC_CONSTRAINTS
            && ext.oid != OID_X509_EXT_KEY_USAGE
        {
            errors.push(ChainError::UnknownCriticalExtension {
                position,
                oid: ext.oid.to_id_string(),
            });
        }
    }
}

fn check_leaf(errors: &mut Vec<ChainError>, cert: &X509Certificate<'_>) {
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca || bc.value.path_len_constraint.is_some() => {
            errors.push(ChainError::LeafIsCa)
        }
        Ok(_) => {}
        Err(_) => errors.push(ChainError::Decode {
            position: Position::Leaf,
            reason: "duplicate or malformed basic constraints".into(),
        }),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if ku.value.digital_signature() => {}
        Ok(_) => errors
            .push(ChainError::KeyUsage { position: Position::Leaf, missing: "digitalSignature" }),
        Err(_) => errors.push(ChainError::Decode {
            position: Position::Leaf,
            reason: "duplicate or malformed key usage".into(),
        }),
    }
}

fn check_ca(
    errors: &mut Vec<ChainError>,
    position: Position,
    cert: &X509Certificate<'_>,
    below: usize,
) {
    match cert.basic_constraints() {
        Ok(Some(bc)) => {
            if !bc.value.ca {
                errors.push(ChainError::NotCa { position, found: "CA:FALSE" });
            } else if !bc.critical {
                errors.push(ChainError::BasicConstraintsNotCritical { position });
            }
            if let Some(pl) = bc.value.path_len_constraint {
                if usize::try_from(pl).is_ok_and(|pl| pl < below) {
                    errors.push(ChainError::PathLength { position, path_len: pl, below });
                }
            }
        }
        Ok(None) => errors.push(ChainError::NotCa { position, found: "absent" }),
        Err(_) => errors.push(ChainError::Decode {
            position,
            reason: "duplicate or malformed basic constraints".into(),
        }),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if ku.value.key_cert_sign() => {}
        Ok(_) => errors.push(ChainError::KeyUsage { position, missing: "keyCertSign" }),
        Err(_) => errors.push(ChainError::Decode {
            position,
            reason: "duplicate or malformed key usage".into(),
        }),
    }
}

/// A name in RFC 4514 order (last RDN first), the way OpenSSL and the test
/// vectors print it, e.g. `CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US`.
pub fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let mut rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let key = match oid.as_str() {
                        "2.5.4.3" => "CN",
                        "2.5.4.11" => "OU",
                        "2.5.4.10" => "O",
                        "2.5.4.7" => "L",
                        "2.5.4.8" => "ST",
                        "2.5.4.6" => "C",
                        _ => oid.as_str(),
                    }
                    .to_owned();
                    format!("{key}={}", atv.as_str().unwrap_or("<non-string>"))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.reverse();
    rdns.join(",")
}

/// Summaries of the certificates of a document without validating anything
/// (for `attestation show`), in path order: leaf, cabundle[N-1], …, cabundle[0].
/// Certificates that do not parse are reported with their position and error.
pub fn describe_chain(leaf_der: &[u8], bundle: &[Vec<u8>]) -> Vec<Result<CertSummary, ChainError>> {
    let n = bundle.len();
    let path = std::iter::once((Position::Leaf, leaf_der)).chain(
        (0..n).rev().filter_map(|i| bundle.get(i).map(|c| (Position::Bundle(i), c.as_slice()))),
    );
    path.map(|(pos, der)| match X509Certificate::from_der(der) {
        Ok(([], c)) => Ok(summary(pos, n, der, &c)),
        Ok((rest, _)) => Err(ChainError::Decode {
            position: pos,
            reason: format!("{} trailing bytes", rest.len()),
        }),
        Err(e) => Err(ChainError::Decode { position: pos, reason: e.to_string() }),
    })
    .collect()
}
