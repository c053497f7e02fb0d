//! The artifact header (docs/formats/receipts.md §5.2): build, serialise (JCS), parse strictly.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{EnvelopeError, CONTENT_ALG, FORMAT, KEY_WRAP, KMS_ALG, MAX_RECIPIENTS};
use crate::receipt::fields::{self, hex32};

/// The KMS layer of a recipient entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapKms {
    /// The key ARN to `Decrypt` with.
    pub key_arn: String,
    /// The exact encryption context.
    pub encryption_context: BTreeMap<String, String>,
}

/// One recipient entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientEntry {
    /// SHA-256 of the recipient's RSA SPKI DER.
    pub key_id: [u8; 32],
    /// Optional KMS layer.
    pub kms: Option<WrapKms>,
    /// OAEP ciphertext, or the KMS ciphertext blob of it when `kms` is set.
    pub wrapped_key: Vec<u8>,
}

/// The header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `job.id`.
    pub job_id: String,
    /// `job.receiptKeyId`: SHA-256 of the job's Ed25519 SPKI.
    pub receipt_key_id: [u8; 32],
    /// `content.iv`.
    pub iv: [u8; 12],
    /// `content.contentType`.
    pub content_type: String,
    /// Recipients in order.
    pub recipients: Vec<RecipientEntry>,
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Header { field: field.into(), problem: problem.into() }
}

impl Header {
    /// The header as a JSON value (member order irrelevant; serialised with JCS).
    pub fn to_json(&self) -> Value {
        let recipients: Vec<Value> = self
            .recipients
            .iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert("keyId".into(), Value::String(hex::encode(r.key_id)));
                m.insert("keyWrap".into(), Value::String(KEY_WRAP.into()));
                if let Some(k) = &r.kms {
                    let ctx = crate::json::string_map(&k.encryption_context);
                    m.insert(
                        "kms".into(),
                        json!({"keyArn": k.key_arn, "encryptionAlgorithm": KMS_ALG, "encryptionContext": ctx}),
                    );
                }
                m.insert("wrappedKey".into(), Value::String(STANDARD.encode(&r.wrapped_key)));
                Value::Object(m)
            })
            .collect();
        json!({
            "format": FORMAT,
            "job": {"id": self.job_id, "receiptKeyId": hex::encode(self.receipt_key_id)},
            "content": {"alg": CONTENT_ALG, "iv": STANDARD.encode(self.iv), "contentType": self.content_type},
            "recipients": recipients,
        })
    }

    /// Parses header bytes strictly (duplicate keys, unknown members, wrong
    /// algorithms and bad lengths are all errors).
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let v = crate::json::parse_strict(bytes).map_err(|e| bad("(header)", e.to_string()))?;
        only(&v, "(header)", &["format", "job", "content", "recipients"])?;
        if s(&v, "format", "")? != FORMAT {
            return Err(bad("format", format!("must be {FORMAT}")));
        }
        let job = v.get("job").ok_or_else(|| bad("job", "missing"))?;
        only(job, "job", &["id", "receiptKeyId"])?;
        let job_id = s(job, "id", "job")?.to_owned();
        if !fields::is_job_id(&job_id) {
            return Err(bad("job.id", "invalid job id"));
        }
        let receipt_key_id = hex32(s(job, "receiptKeyId", "job")?)
            .ok_or_else(|| bad("job.receiptKeyId", "not 64 hex"))?;
        let (iv, content_type) = content_member(&v).map_err(|(f, p)| bad(f, p))?;
        let arr = v
            .get("recipients")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("recipients", "missing or not an array"))?;
        if arr.is_empty() || arr.len() > MAX_RECIPIENTS {
            return Err(bad("recipients", format!("must have 1..{MAX_RECIPIENTS} entries")));
        }
        let mut recipients: Vec<RecipientEntry> = Vec::with_capacity(arr.len());
        for (i, r) in arr.iter().enumerate() {
            let p = format!("recipients[{i}]");
            only(r, &p, &["keyId", "keyWrap", "kms", "wrappedKey"])?;
            let key_id =
                hex32(s(r, "keyId", &p)?).ok_or_else(|| bad(format!("{p}.keyId"), "not 64 hex"))?;
            if recipients.iter().any(|x| x.key_id == key_id) {
                return Err(bad(format!("{p}.keyId"), "duplicate"));
            }
            if s(r, "keyWrap", &p)? != KEY_WRAP {
                return Err(bad(format!("{p}.keyWrap"), format!("must be {KEY_WRAP}")));
            }
            let wrapped_key = STANDARD
                .decode(s(r, "wrappedKey", &p)?)
                .map_err(|_| bad(format!("{p}.wrappedKey"), "not base64"))?;
            if wrapped_key.is_empty() || wrapped_key.len() > 8192 {
                return Err(bad(format!("{p}.wrappedKey"), "length out of range"));
            }
            let kms = match r.get("kms") {
                None => None,
                Some(k) => {
                    let kp = format!("{p}.kms");
                    only(k, &kp, &["keyArn", "encryptionAlgorithm", "encryptionContext"])?;
                    let key_arn = s(k, "keyArn", &kp)?.to_owned();
                    if !fields::is_kms_arn(&key_arn) {
                        return Err(bad(format!("{kp}.keyArn"), "not a KMS ARN"));
                    }
                    if s(k, "encryptionAlgorithm", &kp)? != KMS_ALG {
                        return Err(bad(
                            format!("{kp}.encryptionAlgorithm"),
                            format!("must be {KMS_ALG}"),
                        ));
                    }
                    let encryption_context = crate::service::request::enc_ctx(
                        k.get("encryptionContext"),
                        &format!("{kp}.encryptionContext"),
                    )
                    .map_err(|e| bad(format!("{kp}.encryptionContext"), e.to_string()))?;
                    Some(WrapKms { key_arn, encryption_context })
                }
            };
            recipients.push(RecipientEntry { key_id, kms, wrapped_key });
        }
        Ok(Self { job_id, receipt_key_id, iv, content_type, recipients })
    }
}

/// The `content` member shared by the artifact and the sealed input:
/// `{"alg": "A256GCM", "iv": <base64 of 12 bytes>, "contentType": string}`.
pub fn content_member(v: &Value) -> Result<([u8; 12], String), crate::json::FieldProblem> {
    use crate::json::{only_members, str_member};
    let content = v.get("content").ok_or_else(|| ("content".to_owned(), "missing".to_owned()))?;
    only_members(content, "content", &["alg", "iv", "contentType"])?;
    if str_member(content, "alg", "content")? != CONTENT_ALG {
        return Err(("content.alg".into(), format!("must be {CONTENT_ALG}")));
    }
    let iv: [u8; 12] = STANDARD
        .decode(str_member(content, "iv", "content")?)
        .ok()
        .and_then(|x| x.try_into().ok())
        .ok_or_else(|| {
            ("content.iv".to_owned(), "must be base64 of exactly 12 bytes".to_owned())
        })?;
    Ok((iv, str_member(content, "contentType", "content")?.to_owned()))
}

fn only(v: &Value, path: &str, allowed: &[&str]) -> Result<(), EnvelopeError> {
    crate::json::only_members(v, path, allowed).map_err(|(f, p)| bad(f, p))
}

fn s<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, EnvelopeError> {
    crate::json::str_member(v, key, path).map_err(|(f, p)| bad(f, p))
}
