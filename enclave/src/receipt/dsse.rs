//! DSSE v1 envelopes (docs/formats/receipts.md §1): PAE, strict JSON parsing, Ed25519
//! signing and strict verification.

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{json, Value};

/// The in-toto payload type, the only one receipts use.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Largest envelope accepted (bytes).
pub const MAX_ENVELOPE: usize = 2 * 1024 * 1024;
/// Largest decoded payload accepted (bytes).
pub const MAX_PAYLOAD: usize = 1024 * 1024;
/// Most signatures read from one envelope.
pub const MAX_SIGNATURES: usize = 16;
/// DER prefix of a 44-byte Ed25519 SubjectPublicKeyInfo (RFC 8410).
pub const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Errors parsing an envelope or a key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DsseError {
    /// Not a well-formed envelope (`ENVELOPE_MALFORMED`).
    #[error("DSSE envelope malformed: {0}")]
    Malformed(String),
    /// Base64 that is neither standard nor URL-safe padded canonical (`ENVELOPE_ENCODING`).
    #[error("DSSE field {0} is not canonical padded base64")]
    Encoding(&'static str),
    /// Payload or envelope over the size cap.
    #[error("DSSE {what} is {len} bytes, more than {max}")]
    TooLarge {
        /// `envelope` or `payload`.
        what: &'static str,
        /// Actual size.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The payload type is not printable ASCII.
    #[error("payloadType must be printable ASCII without spaces")]
    PayloadType,
    /// An Ed25519 SPKI that is not the exact 44-byte form, not a point, or weak.
    #[error("Ed25519 public key rejected: {0}")]
    Key(&'static str),
}

/// DSSE pre-authentication encoding: `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + payload_type.len() + payload.len());
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type);
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseSignature {
    /// The unauthenticated key hint.
    pub keyid: Option<String>,
    /// Raw signature bytes.
    pub sig: Vec<u8>,
}

/// A parsed envelope. `payload` holds the decoded bytes: the exact bytes that
/// are verified and then parsed (never re-read from the JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Decoded payload.
    pub payload: Vec<u8>,
    /// `payloadType`.
    pub payload_type: String,
    /// Signatures in order.
    pub signatures: Vec<DsseSignature>,
}

fn printable_ascii(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

fn b64(field: &'static str, s: &str) -> Result<Vec<u8>, DsseError> {
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).map_err(|_| DsseError::Encoding(field))
}

impl Envelope {
    /// Signs `payload` with Ed25519 over PAE and returns the envelope.
    pub fn sign(
        payload_type: &str,
        payload: Vec<u8>,
        key: &SigningKey,
        keyid: Option<String>,
    ) -> Result<Self, DsseError> {
        if !printable_ascii(payload_type) {
            return Err(DsseError::PayloadType);
        }
        let sig = key.sign(&pae(payload_type.as_bytes(), &payload));
        Ok(Self {
            payload,
            payload_type: payload_type.to_owned(),
            signatures: vec![DsseSignature { keyid, sig: sig.to_bytes().to_vec() }],
        })
    }

    /// The envelope JSON (members sorted, compact, standard padded base64).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let sigs: Vec<Value> = self
            .signatures
            .iter()
            .map(|s| match &s.keyid {
                Some(k) => json!({"keyid": k, "sig": STANDARD.encode(&s.sig)}),
                None => json!({"sig": STANDARD.encode(&s.sig)}),
            })
            .collect();
        let v = json!({"payload": STANDARD.encode(&self.payload), "payloadType": self.payload_type, "signatures": sigs});
        // Only strings and arrays: JCS cannot fail here; fall back to serde_json to stay total.
        crate::json::to_jcs(&v).unwrap_or_else(|_| v.to_string().into_bytes())
    }

    /// Parses an envelope strictly (docs/formats/receipts.md §1.2 and §6 steps 1 and 3).
    pub fn parse(bytes: &[u8]) -> Result<Self, DsseError> {
        if bytes.len() > MAX_ENVELOPE {
            return Err(DsseError::TooLarge {
                what: "envelope",
                len: bytes.len(),
                max: MAX_ENVELOPE,
            });
        }
        let v =
            crate::json::parse_strict(bytes).map_err(|e| DsseError::Malformed(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| DsseError::Malformed("not a JSON object".into()))?;
        let get_str = |o: &serde_json::Map<String, Value>, k: &str| -> Result<String, DsseError> {
            o.get(k)
                .ok_or_else(|| DsseError::Malformed(format!("missing {k}")))?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| DsseError::Malformed(format!("{k} is not a string")))
        };
        let payload_b64 = get_str(obj, "payload")?;
        let payload_type = get_str(obj, "payloadType")?;
        let sigs = obj
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| DsseError::Malformed("signatures is missing or not an array".into()))?;
        if sigs.is_empty() {
            return Err(DsseError::Malformed("signatures is empty".into()));
        }
        if sigs.len() > MAX_SIGNATURES {
            return Err(DsseError::Malformed(format!("more than {MAX_SIGNATURES} signatures")));
        }
        let mut signatures = Vec::with_capacity(sigs.len());
        for s in sigs {
            let o = s
                .as_object()
                .ok_or_else(|| DsseError::Malformed("a signature is not an object".into()))?;
            let sig = b64("sig", &get_str(o, "sig")?)?;
            let keyid = match o.get("keyid") {
                None => None,
                Some(Value::String(k)) => Some(k.clone()),
                Some(_) => return Err(DsseError::Malformed("keyid is not a string".into())),
            };
            signatures.push(DsseSignature { keyid, sig });
        }
        let payload = b64("payload", &payload_b64)?;
        if payload.len() > MAX_PAYLOAD {
            return Err(DsseError::TooLarge {
                what: "payload",
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        Ok(Self { payload, payload_type, signatures })
    }

    /// True when at least one signature verifies under `key` with
    /// `verify_strict` (rejects non-canonical S, small-order R and A).
    /// Signatures that are not 64 bytes are skipped.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let msg = pae(self.payload_type.as_bytes(), &self.payload);
        self.signatures.iter().any(|s| verify_strict(key, &msg, &s.sig))
    }
}

/// Strict Ed25519 verification of `sig` over `msg` (docs/formats/receipts.md §1.4): a
/// signature that is not 64 bytes, a non-canonical S, or a small-order R or
/// key fails.
pub fn verify_strict(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    <[u8; 64]>::try_from(sig)
        .is_ok_and(|b| key.verify_strict(msg, &Signature::from_bytes(&b)).is_ok())
}

/// The 44-byte SPKI DER of an Ed25519 key.
pub fn ed25519_spki(key: &VerifyingKey) -> [u8; 44] {
    let mut out = [0u8; 44];
    out[..12].copy_from_slice(&ED25519_SPKI_PREFIX);
    out[12..].copy_from_slice(key.as_bytes());
    out
}

/// Parses the exact 44-byte Ed25519 SPKI; rejects off-curve and weak (small-order) keys.
pub fn parse_ed25519_spki(der: &[u8]) -> Result<VerifyingKey, DsseError> {
    if der.len() != 44 {
        return Err(DsseError::Key("not 44 bytes"));
    }
    if der[..12] != ED25519_SPKI_PREFIX {
        return Err(DsseError::Key("not an Ed25519 SubjectPublicKeyInfo"));
    }
    let mut raw = [0u8; 32];
    raw.copy_from_slice(&der[12..]);
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| DsseError::Key("not a curve point"))?;
    if key.is_weak() {
        return Err(DsseError::Key("small-order (weak) key"));
    }
    Ok(key)
}
