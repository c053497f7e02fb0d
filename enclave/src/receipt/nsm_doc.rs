//! Reading the fields of an NSM attestation document that the receipt copies
//! (module id, timestamp, PCRs, public key, user data, nonce).
//!
//! This is **not** verification: the enclave reads documents its own NSM just
//! returned, and the verifier uses it only to locate the fields whose values
//! the attestation verifier (`verifier::attestation`) then authenticates.
//! The CBOR is decoded with ciborium, bounded by the input size.

use std::collections::BTreeMap;

use ciborium::Value;

/// Largest document accepted.
pub const MAX_DOC: usize = 64 * 1024;

/// Errors reading a document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DocError {
    /// Larger than [`MAX_DOC`].
    #[error("attestation document is {0} bytes, more than {MAX_DOC}")]
    TooLarge(usize),
    /// Not CBOR, or not a COSE_Sign1 array of four.
    #[error("attestation document is not a COSE_Sign1 structure: {0}")]
    Cose(String),
    /// A payload field is missing or has the wrong type.
    #[error("attestation document field {0} is missing or malformed")]
    Field(&'static str),
}

/// The fields a receipt needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocFields {
    /// `module_id`.
    pub module_id: String,
    /// `timestamp` (ms since the epoch).
    pub timestamp_ms: u64,
    /// `pcrs`: index → value.
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    /// `public_key`.
    pub public_key: Option<Vec<u8>>,
    /// `user_data`.
    pub user_data: Option<Vec<u8>>,
    /// `nonce`.
    pub nonce: Option<Vec<u8>>,
}

/// Extracts the fields from the COSE_Sign1 bytes (tagged or untagged).
pub fn read_fields(doc: &[u8]) -> Result<DocFields, DocError> {
    if doc.len() > MAX_DOC {
        return Err(DocError::TooLarge(doc.len()));
    }
    let v: Value = ciborium::de::from_reader(doc).map_err(|e| DocError::Cose(e.to_string()))?;
    let v = match v {
        Value::Tag(18, inner) => *inner,
        other => other,
    };
    let Value::Array(items) = v else { return Err(DocError::Cose("not an array".into())) };
    if items.len() != 4 {
        return Err(DocError::Cose(format!("array of {} items, expected 4", items.len())));
    }
    let Value::Bytes(payload) = &items[2] else {
        return Err(DocError::Cose("payload is not a byte string".into()));
    };
    let p: Value =
        ciborium::de::from_reader(payload.as_slice()).map_err(|e| DocError::Cose(e.to_string()))?;
    let Value::Map(entries) = p else { return Err(DocError::Cose("payload is not a map".into())) };
    let get = |name: &str| {
        entries.iter().find(|(k, _)| matches!(k, Value::Text(t) if t == name)).map(|(_, v)| v)
    };
    let module_id = match get("module_id") {
        Some(Value::Text(s)) => s.clone(),
        _ => return Err(DocError::Field("module_id")),
    };
    let timestamp_ms = match get("timestamp") {
        Some(Value::Integer(i)) => u64::try_from(*i).map_err(|_| DocError::Field("timestamp"))?,
        _ => return Err(DocError::Field("timestamp")),
    };
    let mut pcrs = BTreeMap::new();
    match get("pcrs") {
        Some(Value::Map(m)) => {
            for (k, v) in m {
                let idx = match k {
                    Value::Integer(i) => u8::try_from(*i).map_err(|_| DocError::Field("pcrs"))?,
                    _ => return Err(DocError::Field("pcrs")),
                };
                let Value::Bytes(b) = v else { return Err(DocError::Field("pcrs")) };
                pcrs.insert(idx, b.clone());
            }
        }
        _ => return Err(DocError::Field("pcrs")),
    }
    let opt = |name: &'static str| -> Result<Option<Vec<u8>>, DocError> {
        match get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bytes(b)) => Ok(Some(b.clone())),
            Some(_) => Err(DocError::Field(name)),
        }
    };
    Ok(DocFields {
        module_id,
        timestamp_ms,
        pcrs,
        public_key: opt("public_key")?,
        user_data: opt("user_data")?,
        nonce: opt("nonce")?,
    })
}
