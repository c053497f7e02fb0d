//! Sealing: encrypt a plaintext into an artifact (docs/formats/receipts.md §5.6, encrypt
//! procedure).

use rand_core::{OsRng, RngCore};

use super::content::{encrypt_content, wrap_dek};
use super::header::{Header, RecipientEntry, WrapKms};
use super::{EnvelopeError, MAGIC, MAX_HEADER, MAX_PLAINTEXT, MAX_RECIPIENTS};
use crate::backend::{EncryptRequest, Kms};
use crate::receipt::KmsCall;
use crate::secret::{SecretBytes, SecretKey32};
use crate::service::request::KmsWrapSpec;

/// One recipient to seal for.
#[derive(Debug, Clone, Copy)]
pub struct SealRecipient<'a> {
    /// The recipient's RSA public key.
    pub public_key: &'a rsa::RsaPublicKey,
    /// SHA-256 of its SPKI DER.
    pub key_id: [u8; 32],
    /// Optional KMS layer (key and the requester's context).
    pub kms: Option<&'a KmsWrapSpec>,
}

/// The sealed artifact and the KMS calls made for it.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// Artifact bytes.
    pub bytes: Vec<u8>,
    /// Per recipient (same order): the `kms:Encrypt` call, if any.
    pub kms_calls: Vec<Option<KmsCall>>,
}

/// Encrypts `plaintext` for `recipients`. `artifact_name` and `job_id` go
/// into the KMS encryption context (docs/formats/receipts.md §5.5). The DEK and the OAEP
/// ciphertexts are zeroized before returning.
pub fn seal(
    plaintext: &[u8],
    content_type: &str,
    job_id: &str,
    receipt_key_id: [u8; 32],
    artifact_name: &str,
    recipients: &[SealRecipient<'_>],
    kms: Option<&dyn Kms>,
) -> Result<Sealed, EnvelopeError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EnvelopeError::TooLarge(plaintext.len()));
    }
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(EnvelopeError::Seal(format!("need 1..{MAX_RECIPIENTS} recipients")));
    }
    let dek = SecretKey32::generate();
    let mut iv = [0u8; 12];
    OsRng.fill_bytes(&mut iv);

    let mut entries = Vec::with_capacity(recipients.len());
    let mut kms_calls = Vec::with_capacity(recipients.len());
    for r in recipients {
        let oaep = wrap_dek(r.public_key, &dek)?;
        match r.kms {
            None => {
                entries.push(RecipientEntry {
                    key_id: r.key_id,
                    kms: None,
                    wrapped_key: oaep.to_vec(),
                });
                kms_calls.push(None);
            }
            Some(spec) => {
                let kms = kms.ok_or_else(|| {
                    EnvelopeError::Seal("a recipient needs KMS but no KMS is configured".into())
                })?;
                let mut ctx = spec.encryption_context.clone();
                ctx.insert("proofpack:job".into(), job_id.to_owned());
                ctx.insert("proofpack:artifact".into(), artifact_name.to_owned());
                ctx.insert("proofpack:recipient".into(), hex::encode(r.key_id));
                let req = EncryptRequest {
                    key_id: spec.arn.clone(),
                    plaintext: SecretBytes::from_slice(&oaep),
                    encryption_context: ctx.clone(),
                };
                let (res, request_id) = kms.encrypt_traced(&req);
                let resp = res?;
                kms_calls.push(Some(KmsCall {
                    operation: "Encrypt",
                    arn: spec.arn.clone(),
                    key_arn: Some(resp.key_id.clone()),
                    encryption_context: ctx.clone(),
                    recipient: false,
                    request_id: request_id.unwrap_or_else(|| "unknown".into()),
                    outcome: "ok".into(),
                }));
                entries.push(RecipientEntry {
                    key_id: r.key_id,
                    kms: Some(WrapKms { key_arn: resp.key_id, encryption_context: ctx }),
                    wrapped_key: resp.ciphertext_blob,
                });
            }
        }
    }
    let header = Header {
        job_id: job_id.to_owned(),
        receipt_key_id,
        iv,
        content_type: content_type.to_owned(),
        recipients: entries,
    };
    let hbytes =
        crate::json::to_jcs(&header.to_json()).map_err(|e| EnvelopeError::Seal(e.to_string()))?;
    if hbytes.len() > MAX_HEADER {
        return Err(EnvelopeError::Seal("header too large".into()));
    }
    let h =
        u32::try_from(hbytes.len()).map_err(|_| EnvelopeError::Seal("header too large".into()))?;
    let mut out = Vec::with_capacity(12 + hbytes.len() + plaintext.len() + 16);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&h.to_be_bytes());
    out.extend_from_slice(&hbytes);
    let ct = encrypt_content(&dek, &iv, &out, plaintext)?;
    out.extend_from_slice(&ct);
    Ok(Sealed { bytes: out, kms_calls })
}
