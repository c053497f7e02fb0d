//! `proofpack-kms-local`: an offline, KMS-compatible HTTP server on loopback.
//!
//! **Local counterpart, not AWS.** It speaks the real KMS JSON protocol
//! (`POST /`, `X-Amz-Target: TrentService.<Op>`, `application/x-amz-json-1.1`,
//! base64 blobs, SigV4-signed), so the enclave's [`enclave::backend::kms_http`]
//! client, boto3 and the AWS CLI all talk to it unchanged. What it does:
//!
//! * stores symmetric AES-256 keys ([`store`]; ciphertext blob format in
//!   [`blob`]), with KMS's key lifecycle and error codes;
//! * authenticates every request by SigV4 ([`http`]) and maps the access key
//!   id to a principal ARN through a configured credentials file;
//! * enforces key policies with the KMS-policy evaluator
//!   ([`PolicyEngine`], implemented by [`policy::KeyPolicyEngine`]);
//! * verifies `Recipient` attestation documents against a configured root
//!   ([`RecipientVerifier`]) and answers with `CiphertextForRecipient`, a CMS
//!   EnvelopedData to the document's RSA key ([`cms`]), like KMS.
//!
//! * with a trail directory, writes one CloudTrail record per call served
//!   ([`trail`]), so the trail audit has a real trail to read.
//!
//! [`spawn`] runs the whole server on a thread of the calling process (tests,
//! benches, the demo); the `proofpack-kms-local` binary is a thin layer over
//! it.
//!
//! Differences from KMS (documented, deliberate): only symmetric
//! `SYMMETRIC_DEFAULT` keys; no aliases, grants, tags or rotation; one
//! account; key material at rest unencrypted in the state directory; IAM
//! identity policies are modelled per principal as "allow everything" or
//! "nothing" (`iam_allow_all` in the credentials file).

pub mod blob;
pub mod cms;
pub mod faults;
pub mod http;
pub mod policy;
pub mod server;
pub mod service;
pub mod store;
pub mod trail;

pub use faults::{Fault, Faults};
pub use server::{spawn, Config, LogTo, Running, SpawnError};

use std::path::PathBuf;

use build_spec::pcr::Measurements;
use enclave::backend::EncryptionContext;

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// IAM principal ARN, e.g. `arn:aws:iam::111122223333:role/pack`.
    pub principal_arn: String,
    /// Whether this principal's IAM identity policies allow every KMS action
    /// (the local model of IAM; key policies decide the rest).
    pub iam_allow_all: bool,
    /// The access key id that signed the request (for the trail).
    pub access_key_id: String,
    /// The client's address, when the transport knows it (for the trail).
    pub source_ip: Option<String>,
    /// The request id answered in `x-amzn-RequestId` (for the trail).
    pub request_id: String,
}

/// What a key-policy decision is asked.
#[derive(Debug)]
pub struct PolicyRequest<'a> {
    /// Caller ARN.
    pub principal_arn: &'a str,
    /// `kms:<Operation>`.
    pub action: &'a str,
    /// The key's ARN.
    pub key_arn: &'a str,
    /// PCRs of a verified Recipient document, when the request carried one.
    pub recipient_pcrs: Option<&'a Measurements>,
    /// The request's encryption context.
    pub encryption_context: &'a EncryptionContext,
    /// Whether the caller's IAM policies allow the action.
    pub iam_allows: bool,
}

/// A key-policy decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyDecision {
    /// Allowed.
    Allow,
    /// A Deny statement matched.
    ExplicitDeny,
    /// Nothing allowed it.
    ImplicitDeny,
}

/// Evaluates key policies.
pub trait PolicyEngine: Send + Sync {
    /// Checks a policy document before PutKeyPolicy/CreateKey accepts it.
    fn validate(&self, policy: &str) -> Result<(), String>;
    /// Decides one request. An unparsable stored policy denies.
    fn decide(&self, policy: &str, req: &PolicyRequest<'_>) -> PolicyDecision;
}

/// What a verified Recipient attestation document yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRecipient {
    /// The document's `module_id` (the enclave id, logged by the trail).
    pub module_id: String,
    /// The document's PCRs.
    pub pcrs: Measurements,
    /// DER SubjectPublicKeyInfo from the document's `public_key`.
    pub public_key: Vec<u8>,
}

/// Verifies Recipient attestation documents.
pub trait RecipientVerifier: Send + Sync {
    /// Verifies `doc` (COSE_Sign1 bytes) at time `now` (Unix seconds), with a
    /// maximum age by the document's own timestamp.
    fn verify(&self, doc: &[u8], now: i64, max_age_secs: u64) -> Result<VerifiedRecipient, String>;
}

/// A verifier that rejects every document: used when no attestation root is configured.
#[derive(Debug)]
pub struct NoRecipients;

impl RecipientVerifier for NoRecipients {
    fn verify(&self, _doc: &[u8], _now: i64, _max_age: u64) -> Result<VerifiedRecipient, String> {
        Err("this server has no attestation root configured (--attestation-root)".into())
    }
}

/// The server's notion of "now" for key creation and deletion dates.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Wall clock.
    System,
    /// Unix seconds read from this file on every request, so tests can move
    /// time forward (e.g. past a deletion date).
    File(PathBuf),
}

impl Clock {
    /// Current Unix seconds.
    pub fn now(&self) -> Result<i64, String> {
        match self {
            Clock::System => Ok(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)),
            Clock::File(p) => {
                let s = std::fs::read_to_string(p)
                    .map_err(|e| format!("clock file {}: {e}", p.display()))?;
                s.trim()
                    .parse()
                    .map_err(|_| format!("clock file {} does not hold Unix seconds", p.display()))
            }
        }
    }
}
