//! The organisation key: an RSA key pair made inside the enclave, whose
//! private half exists in plaintext only inside the enclave image that a KMS
//! key policy pins (docs/formats/attestation.md §7), and whose public half is published
//! in an **org-key bundle** with an attestation document that binds it.
//!
//! Bundle (JSON, no secret in it):
//!
//! ```json
//! {"format": "https://proofpack.dev/org-key/v1",
//!  "publicKey": "<base64 SPKI DER>", "fingerprint": "<hex SHA-256 of it>",
//!  "attestation": "<base64 COSE_Sign1 from the NSM>",
//!  "kms": {"keyArn": "arn:aws:kms:...", "encryptionContext": {...},
//!          "ciphertextBlob": "<base64 kms:Encrypt of the PKCS#8 DER private key>"}}
//! ```
//!
//! The attestation document carries `public_key` = the SPKI DER and
//! `user_data` = [`binding`] (`"proofpack/org-key/v1" ‖ 0x00 ‖ SHA-384(SPKI DER)`),
//! so a user who verifies it against the expected PCRs knows that image made
//! this key. The domain-separated `user_data` keeps an org-key document from
//! being mistaken for a pack job's `doc_K` (whose `user_data` is empty).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand_core::OsRng;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384};

use crate::backend::{AttestationRequest, EncryptRequest, Kms, KmsError, Nsm};
use crate::receipt::{fields, KmsCall};
use crate::secret::SecretBytes;

/// The bundle `format` value.
pub const FORMAT: &str = "https://proofpack.dev/org-key/v1";
/// Domain-separation prefix of the attestation `user_data`.
pub const BINDING_PREFIX: &[u8] = b"proofpack/org-key/v1";
/// Encryption-context `proofpack:purpose` value of the org private key blob.
pub const PURPOSE: &str = "org-key";
/// Largest bundle accepted.
pub const MAX_BUNDLE: usize = 64 * 1024;
/// Default modulus size.
pub const DEFAULT_BITS: usize = 4096;

/// Errors creating, reading or unsealing the organisation key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrgKeyError {
    /// The bundle is malformed.
    #[error("org-key bundle field {field}: {problem}")]
    Bundle {
        /// JSON path.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// Key generation or encoding failed.
    #[error("org key: {0}")]
    Key(String),
    /// The NSM failed.
    #[error("NSM: {0}")]
    Nsm(#[from] crate::backend::NsmError),
    /// The org key's KMS key is disabled, pending deletion or deleted.
    #[error("organisation KMS key {arn}: {reason}")]
    KeyUnavailable {
        /// The key ARN.
        arn: String,
        /// Why.
        reason: super::KeyUnavailable,
    },
    /// KMS refused or failed.
    #[error("organisation KMS key {arn}: {source}")]
    Kms {
        /// The key ARN.
        arn: String,
        /// Cause.
        source: KmsError,
    },
    /// A KMS answer could not be used, or the decrypted key does not match the bundle.
    #[error("organisation KMS key {arn}: {problem}")]
    Answer {
        /// The key ARN.
        arn: String,
        /// What was wrong.
        problem: String,
    },
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> OrgKeyError {
    OrgKeyError::Bundle { field: field.into(), problem: problem.into() }
}

fn kms_err(arn: &str, e: KmsError) -> OrgKeyError {
    if let KmsError::Service { code, .. } = &e {
        if let Some(reason) = super::KeyUnavailable::from_code(code) {
            return OrgKeyError::KeyUnavailable { arn: arn.to_owned(), reason };
        }
    }
    OrgKeyError::Kms { arn: arn.to_owned(), source: e }
}

/// `user_data` of the org-key attestation document for this SPKI DER.
pub fn binding(spki_der: &[u8]) -> Vec<u8> {
    let mut b = BINDING_PREFIX.to_vec();
    b.push(0);
    b.extend_from_slice(&Sha384::digest(spki_der));
    b
}

/// The published organisation key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgKeyBundle {
    /// SPKI DER of the RSA public key.
    pub public_key_der: Vec<u8>,
    /// The parsed public key.
    pub public_key: rsa::RsaPublicKey,
    /// SHA-256 of `public_key_der`.
    pub fingerprint: [u8; 32],
    /// COSE_Sign1 attestation document binding the key (verify it before use).
    pub attestation: Vec<u8>,
    /// The KMS key that encrypts the private key.
    pub kms_key_arn: String,
    /// The encryption context of that blob.
    pub encryption_context: BTreeMap<String, String>,
    /// `kms:Encrypt` of the PKCS#8 DER private key.
    pub ciphertext_blob: Vec<u8>,
}

impl OrgKeyBundle {
    /// Creates the organisation key **inside the enclave**: RSA (`bits`),
    /// private key PKCS#8 DER encrypted under `kms_key_arn` (zeroized
    /// afterwards), attestation document binding the public key.
    pub fn init(
        nsm: &dyn Nsm,
        kms: &dyn Kms,
        kms_key_arn: &str,
        bits: usize,
    ) -> Result<Self, OrgKeyError> {
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(OrgKeyError::Key(format!("{bits} bits; 2048, 3072 or 4096 required")));
        }
        let key = rsa::RsaPrivateKey::new(&mut OsRng, bits)
            .map_err(|e| OrgKeyError::Key(e.to_string()))?;
        let public_key = key.to_public_key();
        let spki = public_key.to_public_key_der().map_err(|e| OrgKeyError::Key(e.to_string()))?;
        let public_key_der = spki.as_bytes().to_vec();
        let fingerprint: [u8; 32] = Sha256::digest(&public_key_der).into();
        // `SecretDocument` zeroizes its bytes on drop.
        let pkcs8 = key.to_pkcs8_der().map_err(|e| OrgKeyError::Key(e.to_string()))?;
        let encryption_context = context(&fingerprint);
        let resp = kms
            .encrypt(&EncryptRequest {
                key_id: kms_key_arn.to_owned(),
                plaintext: SecretBytes::from_slice(pkcs8.as_bytes()),
                encryption_context: encryption_context.clone(),
            })
            .map_err(|e| kms_err(kms_key_arn, e))?;
        drop(pkcs8);
        drop(key);
        let attestation = nsm.attest(&AttestationRequest {
            public_key: Some(public_key_der.clone()),
            user_data: Some(binding(&public_key_der)),
            nonce: None,
        })?;
        Ok(Self {
            public_key_der,
            public_key,
            fingerprint,
            attestation,
            kms_key_arn: resp.key_id,
            encryption_context,
            ciphertext_blob: resp.ciphertext_blob,
        })
    }

    /// The bundle as JSON bytes (JCS).
    pub fn to_bytes(&self) -> Vec<u8> {
        let ctx = crate::json::string_map(&self.encryption_context);
        let v = json!({
            "format": FORMAT,
            "publicKey": STANDARD.encode(&self.public_key_der),
            "fingerprint": hex::encode(self.fingerprint),
            "attestation": STANDARD.encode(&self.attestation),
            "kms": {"keyArn": self.kms_key_arn, "encryptionContext": ctx,
                    "ciphertextBlob": STANDARD.encode(&self.ciphertext_blob)},
        });
        // Only strings and objects: JCS cannot fail; fall back to serde order anyway.
        crate::json::to_jcs(&v).unwrap_or_else(|_| v.to_string().into_bytes())
    }

    /// Parses a bundle strictly (size, duplicates, unknown members, the
    /// fingerprint must match the key, RSA 2048/3072/4096 with e = 65537).
    /// This does **not** verify the attestation (the verifier does that).
    pub fn parse(bytes: &[u8]) -> Result<Self, OrgKeyError> {
        if bytes.len() > MAX_BUNDLE {
            return Err(bad("(bundle)", format!("{} bytes, more than {MAX_BUNDLE}", bytes.len())));
        }
        let v = crate::json::parse_strict(bytes).map_err(|e| bad("(bundle)", e.to_string()))?;
        let o = v.as_object().ok_or_else(|| bad("(bundle)", "not an object"))?;
        if let Some(k) = o.keys().find(|k| {
            !matches!(k.as_str(), "format" | "publicKey" | "fingerprint" | "attestation" | "kms")
        }) {
            return Err(bad(k.clone(), "unknown member"));
        }
        let st = |v: &Value, k: &str, p: &str| -> Result<String, OrgKeyError> {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("{p}{k}"), "missing or not a string"))
        };
        let b64 = |v: &Value, k: &str, p: &str| -> Result<Vec<u8>, OrgKeyError> {
            STANDARD.decode(st(v, k, p)?).map_err(|_| bad(format!("{p}{k}"), "not base64"))
        };
        if st(&v, "format", "")? != FORMAT {
            return Err(bad("format", format!("must be {FORMAT}")));
        }
        let public_key_der = b64(&v, "publicKey", "")?;
        let public_key = crate::service::request::check_recipient_key(&public_key_der)
            .map_err(|p| bad("publicKey", p))?;
        let fingerprint: [u8; 32] = Sha256::digest(&public_key_der).into();
        if st(&v, "fingerprint", "")? != hex::encode(fingerprint) {
            return Err(bad("fingerprint", "is not the SHA-256 of publicKey"));
        }
        let attestation = b64(&v, "attestation", "")?;
        if attestation.is_empty() || attestation.len() > 16 * 1024 {
            return Err(bad("attestation", "length out of range"));
        }
        let k = v.get("kms").ok_or_else(|| bad("kms", "missing"))?;
        let ko = k.as_object().ok_or_else(|| bad("kms", "not an object"))?;
        if let Some(x) = ko
            .keys()
            .find(|x| !matches!(x.as_str(), "keyArn" | "encryptionContext" | "ciphertextBlob"))
        {
            return Err(bad(format!("kms.{x}"), "unknown member"));
        }
        let kms_key_arn = st(k, "keyArn", "kms.")?;
        if !fields::is_kms_arn(&kms_key_arn) {
            return Err(bad("kms.keyArn", "not a KMS key ARN"));
        }
        let encryption_context =
            crate::service::request::enc_ctx(k.get("encryptionContext"), "kms.encryptionContext")
                .map_err(|e| bad("kms.encryptionContext", e.to_string()))?;
        if encryption_context != context(&fingerprint) {
            return Err(bad(
                "kms.encryptionContext",
                "does not name this key's fingerprint and purpose",
            ));
        }
        let ciphertext_blob = b64(k, "ciphertextBlob", "kms.")?;
        if ciphertext_blob.is_empty() || ciphertext_blob.len() > 8192 {
            return Err(bad("kms.ciphertextBlob", "length out of range"));
        }
        Ok(Self {
            public_key_der,
            public_key,
            fingerprint,
            attestation,
            kms_key_arn,
            encryption_context,
            ciphertext_blob,
        })
    }

    /// Recovers the private key **inside the enclave**: `kms:Decrypt` with
    /// `Recipient` = `recipient_doc` (an attestation document whose
    /// `public_key` is `job_key`'s), CMS open with `job_key`, PKCS#8 parse,
    /// and a check that it is the bundle's key. Returns the key and the
    /// call's receipt record.
    pub fn unseal(
        &self,
        kms: &dyn Kms,
        recipient_doc: &[u8],
        job_key: &rsa::RsaPrivateKey,
    ) -> (Result<rsa::RsaPrivateKey, OrgKeyError>, KmsCall) {
        let arn = &self.kms_key_arn;
        let (der, call) = super::decrypt_for_recipient(
            kms,
            &self.ciphertext_blob,
            arn,
            &self.encryption_context,
            recipient_doc,
            job_key,
        );
        let answer =
            |problem: &str| OrgKeyError::Answer { arn: arn.clone(), problem: problem.into() };
        let key = der
            .map_err(|f| match f {
                super::RecipientFailure::Kms(e) => kms_err(arn, e),
                super::RecipientFailure::Answer(p) => answer(&p),
            })
            .and_then(|der| {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(der.expose())
                    .map_err(|_| answer("the decrypted blob is not a PKCS#8 RSA private key"))?;
                if key.n() != self.public_key.n() || key.e() != self.public_key.e() {
                    return Err(answer(
                        "the decrypted private key does not match the bundle's public key",
                    ));
                }
                Ok(key)
            });
        (key, call)
    }
}

/// The encryption context of the org private key blob.
pub fn context(fingerprint: &[u8; 32]) -> BTreeMap<String, String> {
    let mut c = BTreeMap::new();
    c.insert("proofpack:purpose".to_owned(), PURPOSE.to_owned());
    c.insert(super::CTX_ORG_KEY.to_owned(), hex::encode(fingerprint));
    c
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backend::{DecryptRequest, DecryptResponse, EncryptResponse, NsmError};

    struct Echo;
    impl Kms for Echo {
        fn encrypt(&self, r: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
            // Not encryption: the test only checks what is sent and stored.
            Ok(EncryptResponse {
                key_id: "arn:aws:kms:us-east-1:111122223333:key/k".into(),
                ciphertext_blob: Sha256::digest(r.plaintext.expose()).to_vec(),
            })
        }
        fn decrypt(&self, _: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
            Err(KmsError::Transport("unused".into()))
        }
    }
    struct Doc;
    impl Nsm for Doc {
        fn attest(&self, req: &AttestationRequest) -> Result<Vec<u8>, NsmError> {
            let mut v = req.public_key.clone().unwrap();
            v.extend_from_slice(req.user_data.as_deref().unwrap());
            Ok(v)
        }
        fn kind(&self) -> &'static str {
            "test"
        }
    }

    #[test]
    fn init_binds_key_and_bundle_round_trips_strictly() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k";
        let b = OrgKeyBundle::init(&Doc, &Echo, arn, 2048).unwrap();
        assert_eq!(b.attestation, [b.public_key_der.clone(), binding(&b.public_key_der)].concat());
        assert_eq!(binding(&b.public_key_der).len(), BINDING_PREFIX.len() + 1 + 48);
        let bytes = b.to_bytes();
        assert!(!String::from_utf8_lossy(&bytes).contains("PRIVATE"));
        assert_eq!(OrgKeyBundle::parse(&bytes).unwrap(), b);
        let mut v: Value = serde_json::from_slice(&bytes).unwrap();
        v["fingerprint"] = Value::String("00".repeat(32));
        assert!(OrgKeyBundle::parse(v.to_string().as_bytes()).is_err());
        let mut v: Value = serde_json::from_slice(&bytes).unwrap();
        v["kms"]["encryptionContext"]["proofpack:purpose"] = Value::String("x".into());
        assert!(OrgKeyBundle::parse(v.to_string().as_bytes()).is_err());
        let mut v: Value = serde_json::from_slice(&bytes).unwrap();
        v["extra"] = Value::Bool(true);
        assert!(OrgKeyBundle::parse(v.to_string().as_bytes()).is_err());
        assert!(OrgKeyBundle::init(&Doc, &Echo, arn, 1024).is_err());
    }
}
