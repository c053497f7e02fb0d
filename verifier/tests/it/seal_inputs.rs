//! Sealed inputs (issue 10) at the library level, with an in-process KMS
//! double (the kms-local blob format and CMS builder): round trip, bad
//! input (truncated, re-ordered, swapped context, wrong organisation key,
//! another organisation's input, tampering), key-state errors, and
//! interoperability of level 1 with PyCryptodome's `PKCS1_OAEP` (SHA-512).

use enclave::recipients::InputBinding;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::common::sealed::reheader;
use enclave::backend::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, Kms, KmsError,
};
use enclave::seal::{self, JobContext, KeyUnavailable, SealError, SealParams};
use enclave::secret::SecretBytes;
use kms_local::{blob, cms};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// KMS double: kms-local's blob format under one fixed key; `Recipient`
/// answers are CMS EnvelopedData to `recipient_spki` (the job key).
struct DoubleKms {
    material: [u8; 32],
    recipient_spki: Vec<u8>,
    decrypts: AtomicUsize,
    fail_with: Mutex<Option<&'static str>>,
}

impl DoubleKms {
    fn new(job_key: &rsa::RsaPrivateKey) -> Self {
        Self {
            material: [7; 32],
            recipient_spki: job_key
                .to_public_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes()
                .to_vec(),
            decrypts: AtomicUsize::new(0),
            fail_with: Mutex::new(None),
        }
    }
    fn err(op: &'static str, code: &str) -> KmsError {
        KmsError::Service { operation: op, key: ARN.into(), code: code.into(), message: "x".into() }
    }
}

impl Kms for DoubleKms {
    fn encrypt(&self, req: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        let b = blob::seal(KEY_ID, &self.material, req.plaintext.expose(), &req.encryption_context)
            .map_err(|_| Self::err("Encrypt", "ValidationException"))?;
        Ok(EncryptResponse { key_id: ARN.into(), ciphertext_blob: b })
    }
    fn decrypt(&self, req: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        if let Some(code) = *self.fail_with.lock().unwrap() {
            return Err(Self::err("Decrypt", code));
        }
        let pt = blob::open(&req.ciphertext_blob, &self.material, &req.encryption_context)
            .map_err(|_| Self::err("Decrypt", "InvalidCiphertextException"))?;
        let cfr = req
            .recipient
            .as_ref()
            .map(|_| cms::envelope(&pt, &self.recipient_spki, cms::Encoding::Der).unwrap());
        Ok(DecryptResponse {
            key_id: ARN.into(),
            plaintext: cfr.is_none().then(|| SecretBytes::from_slice(&pt)),
            ciphertext_for_recipient: cfr,
        })
    }
}

fn key(name: &str) -> rsa::RsaPrivateKey {
    let p = format!("{}/../testvectors/receipts/{name}", env!("CARGO_MANIFEST_DIR"));
    rsa::RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn fp(k: &rsa::RsaPrivateKey) -> [u8; 32] {
    Sha256::digest(k.to_public_key().to_public_key_der().unwrap().as_bytes()).into()
}

struct Fixture {
    org: rsa::RsaPrivateKey,
    other_org: rsa::RsaPrivateKey,
    job_key: rsa::RsaPrivateKey,
    kms: DoubleKms,
}

fn fixture() -> Fixture {
    let job_key = key("synthetic_kms_recipient_key_2048.pem");
    Fixture {
        org: key("rsa_test_key_2048.pem"),
        other_org: key("synthetic_recipient2_key_2048.pem"),
        kms: DoubleKms::new(&job_key),
        job_key,
    }
}

impl Fixture {
    fn seal_for(
        &self,
        org: &rsa::RsaPrivateKey,
        user: &str,
        job: Option<&str>,
        pt: &[u8],
    ) -> Vec<u8> {
        let public = org.to_public_key();
        let p = SealParams {
            org_public: &public,
            org_fingerprint: fp(org),
            user_kms_key: ARN,
            user,
            job,
            content_type: seal::CONTENT_TYPE_ENV,
            recipients_policy: Some(POLICY),
        };
        seal::seal_input(pt, &p, &self.kms).unwrap()
    }
    fn open(&self, bytes: &[u8], user: &str) -> Result<Vec<u8>, SealError> {
        self.open_with(bytes, user, InputBinding::Required)
    }
    /// [`Self::open`] in an image with the given input-binding setting.
    fn open_with(
        &self,
        bytes: &[u8],
        user: &str,
        binding: InputBinding,
    ) -> Result<Vec<u8>, SealError> {
        let org_fp = fp(&self.org);
        let ctx = JobContext {
            job_id: "job-1",
            user,
            org_fingerprint: &org_fp,
            recipient_doc: b"doc_K (the double does not read it)",
            job_key: &self.job_key,
            recipients_policy: Some(POLICY),
            binding,
        };
        seal::open_sealed(bytes, &ctx, &self.org, &self.kms)
            .0
            .map(|o| o.plaintext.expose().to_vec())
    }
    fn decrypts(&self) -> usize {
        self.kms.decrypts.load(Ordering::SeqCst)
    }
}

const PT: &[u8] = br#"{"DB_PASSWORD":"s3cret"}"#;
/// The recipients-policy digest the inputs are bound to (issue 20).
const POLICY: &str = "5e5b15d1a2a3b83c5b4d52a5d1e0ad8b7e0d0b6a52bb2a0f4f70a3ae2a0c1d10";

#[test]
fn unbound_or_other_policy_sealed_input_is_refused_before_kms() {
    let f = fixture();
    let public = f.org.to_public_key();
    let seal_with = |policy: Option<&str>| {
        let p = SealParams {
            org_public: &public,
            org_fingerprint: fp(&f.org),
            user_kms_key: ARN,
            user: "alice",
            job: None,
            content_type: seal::CONTENT_TYPE_ENV,
            recipients_policy: policy,
        };
        seal::seal_input(PT, &p, &f.kms).unwrap()
    };
    let unbound = seal_with(None);
    let e = f.open(&unbound, "alice").unwrap_err();
    assert!(
        matches!(e, SealError::Binding(enclave::recipients::BindingError::Unbound { .. })),
        "{e}"
    );
    let other = seal_with(Some(&"ab".repeat(32)));
    let e = f.open(&other, "alice").unwrap_err();
    assert!(
        matches!(e, SealError::Binding(enclave::recipients::BindingError::OtherPolicy { .. })),
        "{e}"
    );
    assert_eq!(f.decrypts(), 0);
    // An image built with allow-unbound-inputs opens the unbound one.
    assert_eq!(f.open_with(&unbound, "alice", InputBinding::AllowUnbound).unwrap(), PT);
}

#[test]
fn round_trip_and_header_fields() {
    let f = fixture();
    let s = f.seal_for(&f.org, "alice", Some("job-1"), PT);
    let parsed = seal::parse(&s).unwrap();
    assert_eq!(parsed.header.user, "alice");
    assert_eq!(parsed.header.job.as_deref(), Some("job-1"));
    assert_eq!(parsed.header.kms_key_arn, ARN);
    assert_eq!(
        parsed.header.encryption_context,
        seal::encryption_context("alice", Some("job-1"), &fp(&f.org), Some(POLICY))
    );
    assert!(!String::from_utf8_lossy(&s).contains("s3cret"));
    assert_eq!(f.open(&s, "alice").unwrap(), PT);
    assert_eq!(f.decrypts(), 1);
}

#[test]
fn truncated_inputs_are_typed_errors() {
    let f = fixture();
    let s = f.seal_for(&f.org, "alice", None, PT);
    let h = 12 + u32::from_be_bytes(s[8..12].try_into().unwrap()) as usize;
    for cut in [0, 5, 11, 12, h / 2, h - 1, h, h + 15] {
        let e = f.open(&s[..cut], "alice").unwrap_err();
        assert!(
            matches!(e, SealError::Truncated { .. } | SealError::Header { .. }),
            "cut {cut}: {e}"
        );
    }
    assert_eq!(f.decrypts(), 0, "nothing reached KMS");
    // Cut inside the ciphertext: structurally fine, but the tag fails.
    for cut in [h + 16, s.len() - 1] {
        let e = f.open(&s[..cut], "alice").unwrap_err();
        assert!(
            matches!(e, SealError::Envelope(enclave::envelope::EnvelopeError::ContentAuth)),
            "{e}"
        );
    }
}

#[test]
fn reordered_inputs_are_typed_errors() {
    let f = fixture();
    let s = f.seal_for(&f.org, "alice", None, &[0x5a; 100]);
    let h = 12 + u32::from_be_bytes(s[8..12].try_into().unwrap()) as usize;
    // Ciphertext before the header.
    let mut moved = s[h..].to_vec();
    moved.extend_from_slice(&s[..h]);
    assert!(matches!(f.open(&moved, "alice").unwrap_err(), SealError::BadMagic));
    // Two ciphertext blocks swapped.
    let mut swapped = s.clone();
    let (a, b) = swapped[h..].split_at_mut(16);
    a.swap_with_slice(&mut b[..16]);
    let e = f.open(&swapped, "alice").unwrap_err();
    assert!(matches!(e, SealError::Envelope(enclave::envelope::EnvelopeError::ContentAuth)), "{e}");
    // Header members re-ordered (same values, not the sealed bytes): the AAD differs.
    let hv: Value = serde_json::from_slice(&s[12..h]).unwrap();
    let mut pairs: Vec<(String, Value)> = hv.as_object().unwrap().clone().into_iter().collect();
    pairs.reverse();
    let body = format!(
        "{{{}}}",
        pairs.iter().map(|(k, v)| format!("{}:{}", json!(k), v)).collect::<Vec<_>>().join(",")
    );
    let mut re = s[..8].to_vec();
    re.extend_from_slice(&(body.len() as u32).to_be_bytes());
    re.extend_from_slice(body.as_bytes());
    re.extend_from_slice(&s[h..]);
    let e = f.open(&re, "alice").unwrap_err();
    assert!(matches!(e, SealError::Envelope(enclave::envelope::EnvelopeError::ContentAuth)), "{e}");
}

#[test]
fn swapped_context_wrong_user_job_and_org_key_are_refused_before_kms() {
    let f = fixture();
    let s = f.seal_for(&f.org, "alice", Some("job-1"), PT);
    let swapped = reheader(&s, |h| {
        h["kms"]["encryptionContext"]["proofpack:user"] = json!("bob");
    });
    assert!(matches!(f.open(&swapped, "alice").unwrap_err(), SealError::Context { .. }));
    let dropped_job = reheader(&s, |h| {
        h["kms"]["encryptionContext"].as_object_mut().unwrap().remove("proofpack:job");
    });
    assert!(matches!(f.open(&dropped_job, "alice").unwrap_err(), SealError::Context { .. }));
    assert!(matches!(f.open(&s, "bob").unwrap_err(), SealError::WrongUser { .. }));
    let other_job = f.seal_for(&f.org, "alice", Some("job-2"), PT);
    assert!(matches!(f.open(&other_job, "alice").unwrap_err(), SealError::WrongJob { .. }));
    // Another organisation's input (sealed under its own org key).
    let foreign = f.seal_for(&f.other_org, "alice", None, PT);
    let e = f.open(&foreign, "alice").unwrap_err();
    assert!(matches!(e, SealError::WrongOrgKey { .. }), "{e}");
    assert_eq!(f.decrypts(), 0, "nothing reached KMS");
    // ... forged to claim our organisation: KMS refuses (context authenticated),
    // or if the context is kept, RSA-OAEP with our key fails.
    let org_fp = hex::encode(fp(&f.org));
    let forged = reheader(&foreign, |h| {
        h["orgKey"]["fingerprint"] = json!(org_fp);
        h["kms"]["encryptionContext"]["proofpack:org-key"] = json!(org_fp);
    });
    let e = f.open(&forged, "alice").unwrap_err();
    assert!(matches!(&e, SealError::Kms { arn, .. } if arn == ARN), "{e}");
    // The wrong organisation private key for a genuine input: unwrap fails.
    let ctx_fp = fp(&f.org);
    let ctx = JobContext {
        job_id: "job-1",
        user: "alice",
        org_fingerprint: &ctx_fp,
        recipient_doc: b"doc",
        job_key: &f.job_key,
        recipients_policy: Some(POLICY),
        binding: InputBinding::Required,
    };
    let e = seal::open_sealed(&s, &ctx, &f.other_org, &f.kms).0.unwrap_err();
    assert!(
        matches!(e, SealError::Envelope(enclave::envelope::EnvelopeError::UnwrapFailed)),
        "{e}"
    );
}

#[test]
fn key_state_errors_name_the_key_and_reason() {
    let f = fixture();
    let s = f.seal_for(&f.org, "alice", None, PT);
    for (code, reason) in [
        ("DisabledException", KeyUnavailable::Disabled),
        ("KMSInvalidStateException", KeyUnavailable::PendingDeletion),
        ("NotFoundException", KeyUnavailable::NotFound),
    ] {
        *f.kms.fail_with.lock().unwrap() = Some(code);
        let e = f.open(&s, "alice").unwrap_err();
        assert!(
            matches!(&e, SealError::KeyUnavailable { arn, reason: r } if arn == ARN && *r == reason),
            "{e}"
        );
        assert!(e.to_string().contains(ARN) && e.to_string().contains(reason.reason()));
    }
    *f.kms.fail_with.lock().unwrap() = Some("AccessDeniedException");
    assert!(matches!(f.open(&s, "alice").unwrap_err(), SealError::Kms { .. }));
}

#[test]
fn parser_rejects_malformed_framing_and_headers() {
    let f = fixture();
    let s = f.seal_for(&f.org, "alice", None, PT);
    let mut bad = s.clone();
    bad[0] = b'X';
    assert!(matches!(seal::parse(&bad), Err(SealError::BadMagic)));
    let mut v2 = s.clone();
    v2[7] = 2;
    assert!(matches!(seal::parse(&v2), Err(SealError::Version(2))));
    let mut h0 = s.clone();
    h0[8..12].copy_from_slice(&0u32.to_be_bytes());
    assert!(matches!(seal::parse(&h0), Err(SealError::HeaderLength(0))));
    let mut huge = s.clone();
    huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(seal::parse(&huge), Err(SealError::HeaderLength(_))));
    for edit in [
        (|h: &mut Value| h["extra"] = json!(1)) as fn(&mut Value),
        |h| h["content"]["alg"] = json!("A128GCM"),
        |h| h["orgKey"]["keyWrap"] = json!("RSA-OAEP"),
        |h| h["content"]["iv"] = json!("AAAA"),
        |h| h["user"] = json!("../alice"),
        |h| h["kms"]["keyArn"] = json!("not-an-arn"),
        |h| h["wrappedKey"] = json!(""),
    ] {
        assert!(matches!(seal::parse(&reheader(&s, edit)), Err(SealError::Header { .. })));
    }
}

/// Runs python3 (PyCryptodome) with `stdin`, returning stdout.
fn python(script: &str, stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with pycryptodome must be installed (scripts/install-test-deps)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "python: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn level1_interoperates_with_pycryptodome() {
    let f = fixture();
    let dir = format!("{}/../testvectors/receipts", env!("CARGO_MANIFEST_DIR"));
    // (a) The seed's code path writes level 1: PKCS1_OAEP.new(key, hashAlgo=SHA512).
    let dek = [0x3c_u8; 32];
    let w1 = python(
        &format!(
            "import sys\nfrom Crypto.PublicKey import RSA\nfrom Crypto.Cipher import PKCS1_OAEP\nfrom Crypto.Hash import SHA512\n\
             k = RSA.import_key(open('{dir}/rsa_test_key_2048.pub.pem').read())\n\
             sys.stdout.buffer.write(PKCS1_OAEP.new(k, hashAlgo=SHA512).encrypt(sys.stdin.buffer.read()))"
        ),
        &dek,
    );
    assert_eq!(w1.len(), 256);
    let header = seal::SealedHeader {
        user: "alice".into(),
        job: None,
        org_fingerprint: fp(&f.org),
        kms_key_arn: ARN.into(),
        encryption_context: seal::encryption_context("alice", None, &fp(&f.org), None),
        wrapped_key: b"level-2 blob (not used here)".to_vec(),
        iv: [9; 12],
        content_type: seal::CONTENT_TYPE_FILE.into(),
    };
    let mut bytes = header.prefix().unwrap();
    let dek_key = enclave::secret::SecretKey32::new(dek);
    let ct =
        enclave::envelope::encrypt_content(&dek_key, &header.iv, &bytes, b"from the seed").unwrap();
    bytes.extend_from_slice(&ct);
    let parsed = seal::parse(&bytes).unwrap();
    let pt = seal::open_level1(&parsed, &w1, &f.org).unwrap();
    assert_eq!(pt.expose(), b"from the seed");

    // (b) Ours opens with PyCryptodome. Level 2 is an identity double here
    // (KMS's part is not PyCryptodome's), so wrappedKey holds W1 itself.
    struct Identity;
    impl Kms for Identity {
        fn encrypt(&self, r: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
            Ok(EncryptResponse {
                key_id: ARN.into(),
                ciphertext_blob: r.plaintext.expose().to_vec(),
            })
        }
        fn decrypt(&self, _: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
            Err(KmsError::Transport("not used".into()))
        }
    }
    let public = f.org.to_public_key();
    let p = SealParams {
        org_public: &public,
        org_fingerprint: fp(&f.org),
        user_kms_key: ARN,
        user: "alice",
        job: None,
        content_type: seal::CONTENT_TYPE_FILE,
        recipients_policy: None,
    };
    let sealed = seal::seal_input(b"opened by PyCryptodome", &p, &Identity).unwrap();
    let out = python(
        &format!(
            "import sys, json, base64, struct\nfrom Crypto.PublicKey import RSA\nfrom Crypto.Cipher import PKCS1_OAEP, AES\nfrom Crypto.Hash import SHA512\n\
             b = sys.stdin.buffer.read()\nassert b[:8] == b'PPSEAL\\x00\\x01'\nh = struct.unpack('>I', b[8:12])[0]\n\
             hd = json.loads(b[12:12+h])\nassert hd['orgKey']['keyWrap'] == 'RSA-OAEP-SHA512' and hd['content']['alg'] == 'A256GCM'\n\
             k = RSA.import_key(open('{dir}/rsa_test_key_2048.pem').read())\n\
             dek = PKCS1_OAEP.new(k, hashAlgo=SHA512).decrypt(base64.b64decode(hd['wrappedKey']))\n\
             c = AES.new(dek, AES.MODE_GCM, nonce=base64.b64decode(hd['content']['iv']))\nc.update(b[:12+h])\n\
             sys.stdout.buffer.write(c.decrypt_and_verify(b[12+h:-16], b[-16:]))"
        ),
        &sealed,
    );
    assert_eq!(out, b"opened by PyCryptodome");
}
