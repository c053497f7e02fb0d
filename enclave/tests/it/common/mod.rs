//! Test doubles shared by the enclave integration tests: a fake NSM that
//! returns real COSE_Sign1-shaped documents with a dummy signature, a fake
//! KMS that really encrypts (AES-GCM) and answers `Recipient` requests with a
//! real CMS EnvelopedData (DER or BER-indefinite), and SOPS fixture builders.
//! The real development NSM and `proofpack-kms-local` live in the backends.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use ciborium::Value as Cbor;
use enclave::backend::*;
use enclave::secret::{SecretBytes, SecretKey32};
use enclave::sops::{KmsEntry, PlainLeaf, PlainNode, ValueType};
use rand::RngCore;
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};

// ---------- DER / BER builder for CMS EnvelopedData ----------

pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else if n < 0x10000 {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    } else {
        out.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn indef(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, 0x80];
    out.extend_from_slice(content);
    out.extend_from_slice(&[0, 0]);
    out
}

const OID_ENVELOPED: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_OAEP: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07];
const OID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

/// Options for the CMS builder.
#[derive(Clone, Copy, Default)]
pub struct CmsStyle {
    /// BER indefinite lengths and a segmented encryptedContent.
    pub ber_indefinite: bool,
    /// Name SHA-1 as the OAEP hash in the parameters (must be rejected).
    pub sha1_params: bool,
}

/// Builds a CMS EnvelopedData like KMS's CiphertextForRecipient.
pub fn build_cms(plaintext: &[u8], to: &rsa::RsaPublicKey, style: CmsStyle) -> Vec<u8> {
    let mut rng = rand::thread_rng();
    let mut cek = [0u8; 32];
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut cek);
    rng.fill_bytes(&mut iv);
    let ek = to.encrypt(&mut rng, rsa::Oaep::new::<Sha256>(), &cek).unwrap();
    let mut buf = vec![0u8; plaintext.len() + 16];
    buf[..plaintext.len()].copy_from_slice(plaintext);
    let ct = cbc::Encryptor::<aes::Aes256>::new(&cek.into(), &iv.into())
        .encrypt_padded_mut::<Pkcs7>(&mut buf, plaintext.len())
        .unwrap()
        .to_vec();
    let seq = |c: &[u8]| if style.ber_indefinite { indef(0x30, c) } else { tlv(0x30, c) };
    let hash_oid = if style.sha1_params { OID_SHA1 } else { OID_SHA256 };
    let sha = seq(&tlv(0x06, hash_oid));
    let mgf = seq(&[tlv(0x06, OID_MGF1), sha.clone()].concat());
    let params = seq(&[tlv(0xa0, &sha), tlv(0xa1, &mgf)].concat());
    let kea = seq(&[tlv(0x06, OID_OAEP), params].concat());
    let ski = tlv(0x80, &Sha256::digest(b"ski")[..20]);
    let ktri = seq(&[tlv(0x02, &[2]), ski, kea, tlv(0x04, &ek)].concat());
    let cea = seq(&[tlv(0x06, OID_AES256_CBC), tlv(0x04, &iv)].concat());
    let enc_content = if style.ber_indefinite {
        let (a, b) = ct.split_at(ct.len() / 2);
        indef(0xa0, &[tlv(0x04, a), tlv(0x04, b)].concat())
    } else {
        tlv(0x80, &ct)
    };
    let eci = seq(&[tlv(0x06, OID_DATA), cea, enc_content].concat());
    let set = if style.ber_indefinite { indef(0x31, &ktri) } else { tlv(0x31, &ktri) };
    let ed = seq(&[tlv(0x02, &[2]), set, eci].concat());
    let explicit = if style.ber_indefinite { indef(0xa0, &ed) } else { tlv(0xa0, &ed) };
    seq(&[tlv(0x06, OID_ENVELOPED), explicit].concat())
}

// ---------- fake NSM ----------

/// A fake NSM: unsigned documents shaped like QEMU's emulated NSM
/// (protected header `{1: -1}`, 64 zero bytes of signature), so the
/// `attestation` parser reads them in emulator mode, with fixed PCRs.
/// Timestamps advance by 1 ms per document.
pub struct FakeNsm {
    pub clock_ms: AtomicU64,
    pub pcr0: [u8; 48],
    pub calls: AtomicUsize,
}

impl FakeNsm {
    pub fn new() -> Self {
        Self {
            clock_ms: AtomicU64::new(1_767_225_600_000),
            pcr0: [0x11; 48],
            calls: AtomicUsize::new(0),
        }
    }
}

impl Nsm for FakeNsm {
    fn attest(&self, req: &AttestationRequest) -> Result<Vec<u8>, NsmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let t = self.clock_ms.fetch_add(1, Ordering::SeqCst);
        let mut pcrs = Vec::new();
        for i in 0..16u8 {
            let v = match i {
                0 => self.pcr0.to_vec(),
                1 | 2 | 3 | 4 | 8 => vec![i; 48],
                _ => vec![0; 48],
            };
            pcrs.push((Cbor::Integer(i.into()), Cbor::Bytes(v)));
        }
        let opt = |v: &Option<Vec<u8>>| v.clone().map_or(Cbor::Null, Cbor::Bytes);
        let payload = Cbor::Map(vec![
            (Cbor::Text("module_id".into()), Cbor::Text("i-fake-enc0123".into())),
            (Cbor::Text("digest".into()), Cbor::Text("SHA384".into())),
            (Cbor::Text("timestamp".into()), Cbor::Integer(t.into())),
            (Cbor::Text("pcrs".into()), Cbor::Map(pcrs)),
            (Cbor::Text("certificate".into()), Cbor::Bytes(vec![0x30, 0])),
            (Cbor::Text("cabundle".into()), Cbor::Array(vec![Cbor::Bytes(vec![0x30, 0])])),
            (Cbor::Text("public_key".into()), opt(&req.public_key)),
            (Cbor::Text("user_data".into()), opt(&req.user_data)),
            (Cbor::Text("nonce".into()), opt(&req.nonce)),
        ]);
        let mut p = Vec::new();
        ciborium::ser::into_writer(&payload, &mut p).unwrap();
        let doc = Cbor::Array(vec![
            Cbor::Bytes(attestation::parse::EMULATOR_PROTECTED.to_vec()),
            Cbor::Map(vec![]),
            Cbor::Bytes(p),
            Cbor::Bytes(vec![0; 64]),
        ]);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&doc, &mut out).unwrap();
        Ok(out)
    }

    fn kind(&self) -> &'static str {
        "fake"
    }
}

// ---------- fake KMS ----------

/// A fake KMS: really encrypts with per-key AES-GCM keys (AAD = key ARN and
/// context), enforces a deny list, answers `Recipient` with CMS.
pub struct FakeKms {
    pub denied: Mutex<HashSet<String>>,
    pub calls: AtomicUsize,
    pub cms_style: CmsStyle,
}

impl FakeKms {
    pub fn new() -> Self {
        Self {
            denied: Mutex::new(HashSet::new()),
            calls: AtomicUsize::new(0),
            cms_style: CmsStyle::default(),
        }
    }

    pub fn deny(&self, arn: &str) {
        self.denied.lock().unwrap().insert(arn.to_owned());
    }

    fn key_arn(arn: &str) -> String {
        arn.replace(":alias/", ":key/alias-")
    }

    fn aes(key_arn: &str) -> aes_gcm::Aes256Gcm {
        let k = Sha256::digest([b"fake-kms:".as_slice(), key_arn.as_bytes()].concat());
        aes_gcm::Aes256Gcm::new(&k)
    }

    fn aad(key_arn: &str, ctx: &EncryptionContext) -> Vec<u8> {
        let mut a = key_arn.as_bytes().to_vec();
        for (k, v) in ctx {
            a.extend_from_slice(format!("\0{k}\0{v}").as_bytes());
        }
        a
    }

    fn denied_err(&self, op: &'static str, arn: &str) -> Option<KmsError> {
        self.denied.lock().unwrap().contains(arn).then(|| KmsError::Service {
            operation: op,
            key: arn.to_owned(),
            code: "AccessDeniedException".into(),
            message: "denied by the fake key policy".into(),
        })
    }

    fn req_id(&self) -> String {
        format!("fake-req-{}", self.calls.fetch_add(1, Ordering::SeqCst))
    }
}

impl Kms for FakeKms {
    fn decrypt(&self, req: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
        let arn = req.key_id.clone().unwrap_or_default();
        if let Some(e) = self.denied_err("Decrypt", &arn) {
            return Err(e);
        }
        let b = &req.ciphertext_blob;
        let invalid = || KmsError::Service {
            operation: "Decrypt",
            key: arn.clone(),
            code: "InvalidCiphertextException".into(),
            message: String::new(),
        };
        if b.len() < 7 || &b[..5] != b"FKMS1" {
            return Err(invalid());
        }
        let n = u16::from_be_bytes([b[5], b[6]]) as usize;
        let key_arn = String::from_utf8(b.get(7..7 + n).ok_or_else(invalid)?.to_vec())
            .map_err(|_| invalid())?;
        if !arn.is_empty() && Self::key_arn(&arn) != key_arn {
            return Err(KmsError::Service {
                operation: "Decrypt",
                key: arn,
                code: "IncorrectKeyException".into(),
                message: String::new(),
            });
        }
        let iv = b.get(7 + n..19 + n).ok_or_else(invalid)?;
        let pt = Self::aes(&key_arn)
            .decrypt(
                iv.into(),
                Payload { msg: &b[19 + n..], aad: &Self::aad(&key_arn, &req.encryption_context) },
            )
            .map_err(|_| invalid())?;
        match &req.recipient {
            None => Ok(DecryptResponse {
                key_id: key_arn,
                plaintext: Some(SecretBytes::new(pt)),
                ciphertext_for_recipient: None,
            }),
            Some(r) => {
                let fields = attestation::parse_with(
                    &r.attestation_document,
                    attestation::ParseOptions { allow_unknown_keys: true, emulator: true },
                )
                .map_err(|_| invalid())?
                .doc;
                let pk =
                    rsa::RsaPublicKey::from_public_key_der(&fields.public_key.unwrap()).unwrap();
                Ok(DecryptResponse {
                    key_id: key_arn,
                    plaintext: None,
                    ciphertext_for_recipient: Some(build_cms(&pt, &pk, self.cms_style)),
                })
            }
        }
    }

    fn encrypt(&self, req: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        if let Some(e) = self.denied_err("Encrypt", &req.key_id) {
            return Err(e);
        }
        let key_arn = Self::key_arn(&req.key_id);
        let mut iv = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut iv);
        let ct = Self::aes(&key_arn)
            .encrypt(
                &iv.into(),
                Payload {
                    msg: req.plaintext.expose(),
                    aad: &Self::aad(&key_arn, &req.encryption_context),
                },
            )
            .unwrap();
        let mut blob = b"FKMS1".to_vec();
        blob.extend_from_slice(&(key_arn.len() as u16).to_be_bytes());
        blob.extend_from_slice(key_arn.as_bytes());
        blob.extend_from_slice(&iv);
        blob.extend_from_slice(&ct);
        Ok(EncryptResponse { key_id: key_arn, ciphertext_blob: blob })
    }

    fn decrypt_traced(
        &self,
        req: &DecryptRequest,
    ) -> (Result<DecryptResponse, KmsError>, Option<String>) {
        let id = self.req_id();
        (self.decrypt(req), Some(id))
    }

    fn encrypt_traced(
        &self,
        req: &EncryptRequest,
    ) -> (Result<EncryptResponse, KmsError>, Option<String>) {
        let id = self.req_id();
        (self.encrypt(req), Some(id))
    }
}

/// A KMS double that answers one recorded Decrypt (blob + context → plaintext).
pub struct RecordedKms {
    blob: Vec<u8>,
    ctx: BTreeMap<String, String>,
    plaintext: Vec<u8>,
}

impl RecordedKms {
    pub fn new(blob: Vec<u8>, ctx: BTreeMap<String, String>, plaintext: Vec<u8>) -> Self {
        Self { blob, ctx, plaintext }
    }
}

impl Kms for RecordedKms {
    fn decrypt(&self, req: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
        if req.ciphertext_blob != self.blob || req.encryption_context != self.ctx {
            return Err(KmsError::Service {
                operation: "Decrypt",
                key: String::new(),
                code: "InvalidCiphertextException".into(),
                message: String::new(),
            });
        }
        Ok(DecryptResponse {
            key_id: req.key_id.clone().unwrap_or_default(),
            plaintext: Some(SecretBytes::from_slice(&self.plaintext)),
            ciphertext_for_recipient: None,
        })
    }
    fn encrypt(&self, _req: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        Err(KmsError::Transport("recorded KMS does not encrypt".into()))
    }
}

// ---------- SOPS fixtures ----------

/// A plaintext tree from JSON (strings, integers, booleans, objects, arrays).
pub fn plain(v: &serde_json::Value) -> PlainNode {
    use serde_json::Value;
    let leaf = |kind, s: String| {
        PlainNode::Leaf(PlainLeaf {
            kind,
            was_encrypted: true,
            bytes: SecretBytes::new(s.into_bytes()),
        })
    };
    match v {
        Value::Object(m) => PlainNode::Map(m.iter().map(|(k, x)| (k.clone(), plain(x))).collect()),
        Value::Array(a) => PlainNode::List(a.iter().map(plain).collect()),
        Value::String(s) => leaf(ValueType::Str, s.clone()),
        Value::Bool(b) => leaf(ValueType::Bool, if *b { "True".into() } else { "False".into() }),
        Value::Number(n) => leaf(ValueType::Int, n.to_string()),
        Value::Null => PlainNode::Null,
    }
}

/// A SOPS JSON file whose data key is wrapped by `kms` under each of `arns`.
pub fn sops_file(
    kms: &FakeKms,
    arns: &[(&str, BTreeMap<String, String>)],
    doc: &serde_json::Value,
) -> Vec<u8> {
    let key = SecretKey32::generate();
    let entries: Vec<KmsEntry> = arns
        .iter()
        .map(|(arn, ctx)| {
            let r = kms
                .encrypt(&EncryptRequest {
                    key_id: (*arn).to_owned(),
                    plaintext: SecretBytes::from_slice(key.expose()),
                    encryption_context: ctx.clone(),
                })
                .unwrap();
            KmsEntry {
                arn: (*arn).to_owned(),
                role: None,
                context: ctx.clone(),
                enc: r.ciphertext_blob,
            }
        })
        .collect();
    enclave::sops::encrypt_json(&plain(doc), &key, &entries, "2026-01-01T00:00:00Z").unwrap()
}

// ---------- recipients policy (issue 20) ----------

/// A recipients-policy file allowing each `(name, public key, service,
/// environment)`; `require_kms` for the names listed in `kms_required`.
pub fn recipients_policy(
    entries: &[(&str, &rsa::RsaPublicKey, &str, &str)],
    kms_required: &[&str],
) -> Vec<u8> {
    use enclave::recipients::policy::{entry, write_policy};
    use rsa::pkcs8::EncodePublicKey;
    let list: Vec<_> = entries
        .iter()
        .map(|(name, key, service, environment)| {
            let der = key.to_public_key_der().unwrap();
            let mut e = entry(name, der.as_bytes(), service, environment);
            e.require_kms = kms_required.contains(name);
            e
        })
        .collect();
    write_policy(&list)
}

/// `ctx` plus `proofpack:recipients` = hex SHA-256 of `policy`: the context
/// the secrets' owners encrypt a bound SOPS data key with.
pub fn bound(policy: &[u8], mut ctx: BTreeMap<String, String>) -> BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    ctx.insert(enclave::recipients::CONTEXT_KEY.to_owned(), hex::encode(Sha256::digest(policy)));
    ctx
}

/// The request member carrying `policy`.
pub fn policy_member(policy: &[u8]) -> serde_json::Value {
    use base64::Engine as _;
    serde_json::json!({"document": base64::engine::general_purpose::STANDARD.encode(policy)})
}
