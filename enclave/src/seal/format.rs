//! The sealed-input file: framing (shared with the artifact, see
//! `envelope::framing`), header (JCS JSON), strict bounded parser.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{SealError, FORMAT, MAGIC, MAX_HEADER, MAX_PLAINTEXT, MAX_WRAPPED};
use crate::envelope::framing::{self, Format, FrameError};
use crate::envelope::{CONTENT_ALG, KEY_WRAP, KMS_ALG};
use crate::receipt::fields::{self, hex32};

/// The header of a sealed input. Every algorithm is named so that a reader
/// never guesses:
///
/// ```json
/// {"format": "https://proofpack.dev/sealed-input/v1",
///  "user": "alice", "job": "deploy-42",                  // job: only with --for-job
///  "orgKey": {"fingerprint": "<hex SHA-256 of SPKI DER>", "keyWrap": "RSA-OAEP-SHA512"},
///  "kms": {"keyArn": "arn:aws:kms:...", "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
///          "encryptionContext": {"proofpack:user": "alice", ...}},
///  "wrappedKey": "<base64 KMS CiphertextBlob of the RSA-OAEP ciphertext>",
///  "content": {"alg": "A256GCM", "iv": "<base64, 12 bytes>", "contentType": "..."}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHeader {
    /// The user it is sealed for.
    pub user: String,
    /// The job it is sealed for, if any.
    pub job: Option<String>,
    /// SHA-256 of the organisation key's SPKI DER.
    pub org_fingerprint: [u8; 32],
    /// The user's KMS key (level 2).
    pub kms_key_arn: String,
    /// The level-2 encryption context, exactly as sent to KMS.
    pub encryption_context: BTreeMap<String, String>,
    /// KMS CiphertextBlob whose plaintext is the level-1 RSA-OAEP ciphertext.
    pub wrapped_key: Vec<u8>,
    /// AES-GCM IV.
    pub iv: [u8; 12],
    /// Plaintext media type.
    pub content_type: String,
}

/// A structurally valid sealed input (nothing authenticated yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedInput<'a> {
    /// The parsed header (untrusted until the content tag verifies).
    pub header: SealedHeader,
    /// magic ‖ H ‖ header: the GCM AAD.
    pub aad: &'a [u8],
    /// ciphertext ‖ tag.
    pub sealed: &'a [u8],
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> SealError {
    SealError::Header { field: field.into(), problem: problem.into() }
}

impl SealedHeader {
    /// The header as JSON (serialised with JCS by the writer).
    pub fn to_json(&self) -> Value {
        let ctx = crate::json::string_map(&self.encryption_context);
        let mut v = json!({
            "format": FORMAT,
            "user": self.user,
            "orgKey": {"fingerprint": hex::encode(self.org_fingerprint), "keyWrap": KEY_WRAP},
            "kms": {"keyArn": self.kms_key_arn, "encryptionAlgorithm": KMS_ALG, "encryptionContext": ctx},
            "wrappedKey": STANDARD.encode(&self.wrapped_key),
            "content": {"alg": CONTENT_ALG, "iv": STANDARD.encode(self.iv), "contentType": self.content_type},
        });
        if let (Some(j), Some(o)) = (&self.job, v.as_object_mut()) {
            o.insert("job".into(), Value::String(j.clone()));
        }
        v
    }

    /// The framing prefix (magic ‖ H ‖ JCS header) — the AES-GCM AAD.
    pub fn prefix(&self) -> Result<Vec<u8>, SealError> {
        let h = crate::json::to_jcs(&self.to_json()).map_err(|e| SealError::Seal(e.to_string()))?;
        if h.len() > MAX_HEADER {
            return Err(SealError::Seal("header too large".into()));
        }
        let len = u32::try_from(h.len()).map_err(|_| SealError::Seal("header too large".into()))?;
        let mut out = Vec::with_capacity(h.len().saturating_add(12));
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&h);
        Ok(out)
    }

    /// Parses header bytes strictly: duplicate keys, unknown members, wrong
    /// algorithms, bad lengths and invalid names are all errors.
    pub fn parse(bytes: &[u8]) -> Result<Self, SealError> {
        let v = crate::json::parse_strict(bytes).map_err(|e| bad("(header)", e.to_string()))?;
        only(&v, "(header)", &["format", "user", "job", "orgKey", "kms", "wrappedKey", "content"])?;
        if s(&v, "format", "")? != FORMAT {
            return Err(bad("format", format!("must be {FORMAT}")));
        }
        let user = s(&v, "user", "")?.to_owned();
        if !fields::is_job_id(&user) {
            return Err(bad("user", "must be 1..128 characters of [A-Za-z0-9._-]"));
        }
        let job = match v.get("job") {
            None => None,
            Some(j) => {
                let j = j.as_str().ok_or_else(|| bad("job", "not a string"))?;
                if !fields::is_job_id(j) {
                    return Err(bad("job", "must be 1..128 characters of [A-Za-z0-9._-]"));
                }
                Some(j.to_owned())
            }
        };
        let org = v.get("orgKey").ok_or_else(|| bad("orgKey", "missing"))?;
        only(org, "orgKey", &["fingerprint", "keyWrap"])?;
        let org_fingerprint = hex32(s(org, "fingerprint", "orgKey")?)
            .ok_or_else(|| bad("orgKey.fingerprint", "must be 64 lowercase hex"))?;
        if s(org, "keyWrap", "orgKey")? != KEY_WRAP {
            return Err(bad("orgKey.keyWrap", format!("must be {KEY_WRAP}")));
        }
        let k = v.get("kms").ok_or_else(|| bad("kms", "missing"))?;
        only(k, "kms", &["keyArn", "encryptionAlgorithm", "encryptionContext"])?;
        let kms_key_arn = s(k, "keyArn", "kms")?.to_owned();
        if !fields::is_kms_arn(&kms_key_arn) {
            return Err(bad("kms.keyArn", "not a KMS key ARN"));
        }
        if s(k, "encryptionAlgorithm", "kms")? != KMS_ALG {
            return Err(bad("kms.encryptionAlgorithm", format!("must be {KMS_ALG}")));
        }
        let encryption_context =
            crate::service::request::enc_ctx(k.get("encryptionContext"), "kms.encryptionContext")
                .map_err(|e| bad("kms.encryptionContext", e.to_string()))?;
        let wrapped_key = STANDARD
            .decode(s(&v, "wrappedKey", "")?)
            .map_err(|_| bad("wrappedKey", "not base64"))?;
        if wrapped_key.is_empty() || wrapped_key.len() > MAX_WRAPPED {
            return Err(bad("wrappedKey", format!("length must be 1..={MAX_WRAPPED}")));
        }
        let (iv, content_type) = crate::envelope::content_member(&v).map_err(|(f, p)| bad(f, p))?;
        if content_type.is_empty() || content_type.len() > 255 {
            return Err(bad("content.contentType", "must be 1..255 bytes"));
        }
        Ok(Self {
            user,
            job,
            org_fingerprint,
            kms_key_arn,
            encryption_context,
            wrapped_key,
            iv,
            content_type,
        })
    }
}

/// The sealed input's parameters of the shared framing.
const FRAMING: Format =
    Format { magic: &MAGIC, max_header: MAX_HEADER, max_plaintext: MAX_PLAINTEXT };

impl From<FrameError> for SealError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Truncated { len, need } => SealError::Truncated { len, need },
            FrameError::BadMagic => SealError::BadMagic,
            FrameError::Version(v) => SealError::Version(v),
            FrameError::HeaderLength(h) => SealError::HeaderLength(h),
            FrameError::TooLarge(n) => SealError::TooLarge(n),
        }
    }
}

/// Parses the framing and the header of a sealed input. Bounded: every
/// length is checked against the bytes present before it is used.
pub fn parse(bytes: &[u8]) -> Result<SealedInput<'_>, SealError> {
    let frame = framing::split(bytes, &FRAMING)?;
    let header = SealedHeader::parse(frame.header)?;
    Ok(SealedInput { header, aad: frame.aad, sealed: frame.sealed })
}

fn only(v: &Value, path: &str, allowed: &[&str]) -> Result<(), SealError> {
    crate::json::only_members(v, path, allowed).map_err(|(f, p)| bad(f, p))
}

fn s<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, SealError> {
    crate::json::str_member(v, key, path).map_err(|(f, p)| bad(f, p))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_is_rejected_and_the_whole_parses() {
        let header = SealedHeader {
            user: "alice".into(),
            job: Some("deploy-42".into()),
            org_fingerprint: [7; 32],
            kms_key_arn:
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            encryption_context: BTreeMap::from([("proofpack:user".into(), "alice".into())]),
            wrapped_key: vec![1, 2, 3],
            iv: [9; 12],
            content_type: "application/octet-stream".into(),
        };
        let mut bytes = header.prefix().unwrap();
        let need = bytes.len() + 16;
        bytes.extend_from_slice(&[0; 20]);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.header, header);
        assert_eq!(parsed.sealed.len(), 20);
        for n in 0..need {
            let want = if n < 12 { 12 } else { need };
            assert!(
                matches!(parse(&bytes[..n]), Err(SealError::Truncated { len, need }) if len == n && need == want),
                "prefix {n}"
            );
        }
    }
}
