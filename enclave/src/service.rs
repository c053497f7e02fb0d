//! The pack operation (docs/formats/receipts.md §4.3): the one place where secrets exist
//! in plaintext, inside the enclave.
//!
//! ```text
//! request bytes Q ─ parse/limits ─ job keys (RSA-2048, Ed25519) ─ doc_K (NSM)
//!   └─ per input: digest check ─ SOPS parse ─ kms:Decrypt(Recipient=doc_K) ─ CMS open
//!        ─ SOPS values + MAC ─ merge (defaults < service < environment)
//!   └─ per output: envelope (AES-256-GCM, RSA-OAEP-SHA512, optional kms:Encrypt)
//!   └─ zeroize ─ binding B ─ doc_R (NSM) ─ in-toto statement (JCS) ─ DSSE (Ed25519)
//! ```
//!
//! The transport (`proofpack-enclave serve`, vsock or TCP) hands a [`PackJob`]
//! to [`PackService::pack`] and returns the [`PackOutput`].

pub mod request;

pub use request::{PackRequest, RequestError};

/// One job as received by the transport: the exact request bytes and the
/// input files in the order the request names them.
#[derive(Clone, PartialEq, Eq)]
pub struct PackJob {
    /// The job request bytes (JSON, docs/formats/receipts.md §3.6), hashed as received.
    pub request: Vec<u8>,
    /// The files: one SOPS file per `inputs[]` entry of the request, same
    /// order; then, when the request has `sealedInputs` (issue 10), one
    /// sealed-input file per entry, same order, and the org-key bundle; last,
    /// for each input with a `git` member (issue 21), in input order, its
    /// proof objects: the commit body, then one tree body per path component
    /// (root tree first). (The transport carries one flat list, so its frame
    /// format is unchanged; an enclave that predates a member refuses the
    /// job, by the request's unknown member or by the file count.)
    pub inputs: Vec<Vec<u8>>,
}

impl std::fmt::Debug for PackJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackJob")
            .field("request_len", &self.request.len())
            .field("input_lens", &self.inputs.iter().map(Vec::len).collect::<Vec<_>>())
            .finish()
    }
}

/// One encrypted output artifact (docs/formats/receipts.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// File name (= receipt subject name).
    pub name: String,
    /// The artifact bytes (ciphertext only).
    pub bytes: Vec<u8>,
}

/// What a successful pack returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOutput {
    /// The artifacts, in request order.
    pub artifacts: Vec<Artifact>,
    /// The DSSE envelope (JSON bytes) of the signed receipt.
    pub receipt: Vec<u8>,
}

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use rsa::pkcs8::EncodePublicKey;
use sha2::{Digest, Sha256};

use crate::backend::{AttestationRequest, DecryptRequest, Kms, KmsError, Nsm, NsmError, Recipient};
use crate::envelope::{self, SealRecipient};
use crate::merge::{self, MergeError, Override};
use crate::receipt::dsse::{self, Envelope};
use crate::receipt::statement::{
    self, BuildInfo, InputRecord, OrgKeyRecord, OutputRecord, SealedRecord, StatementError,
};
use crate::receipt::KmsCall;
use crate::recipients::{self as recip, ContextState, InputBinding};
use crate::seal::{self, OrgKeyBundle};
use crate::secret::{SecretBytes, SecretKey32};
use crate::sops::{PlainLeaf, PlainNode, SopsError, SopsFile, ValueType};

/// The only `KeyEncryptionAlgorithm` KMS accepts for `Recipient`.
pub const KEY_ENCRYPTION_ALGORITHM: &str = "RSAES_OAEP_SHA_256";
/// Largest single input file.
pub const MAX_INPUT_BYTES: usize = crate::sops::MAX_FILE_BYTES;
/// Largest sum of input sizes per job.
pub const MAX_TOTAL_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// Why a pack failed. Messages name inputs, outputs, keys and paths, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The request was refused.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The number of input files differs from the request.
    #[error("the request names {expected} inputs but {got} files were sent")]
    InputCount {
        /// From the request.
        expected: usize,
        /// Received.
        got: usize,
    },
    /// Inputs too large.
    #[error("inputs are {0} bytes in total, more than the {MAX_TOTAL_INPUT_BYTES}-byte limit")]
    InputsTooLarge(usize),
    /// An input's SHA-256 differs from the request.
    #[error("input {name}: SHA-256 {actual} differs from the request's {expected}")]
    InputDigest {
        /// Input name.
        name: String,
        /// From the request.
        expected: String,
        /// Of the bytes received.
        actual: String,
    },
    /// The SOPS file could not be read, decrypted or its MAC failed.
    #[error("input {name}: {source}")]
    Sops {
        /// Input name.
        name: String,
        /// Cause.
        source: SopsError,
    },
    /// The SOPS file has no `kms` master key (age/PGP cannot be used in the enclave).
    #[error(
        "input {name}: no `kms` entry; only AWS KMS master keys can be used inside the enclave"
    )]
    NoKmsEntry {
        /// Input name.
        name: String,
    },
    /// Every `kms` entry was refused or failed.
    #[error("input {name}: KMS refused every key: {attempts}")]
    KmsRefused {
        /// Input name.
        name: String,
        /// `arn: outcome` per attempt, `; `-joined.
        attempts: String,
    },
    /// A KMS answer could not be used (no CiphertextForRecipient, bad CMS, not 32 bytes).
    #[error("input {name}: unusable KMS answer for {arn}: {problem}")]
    KmsAnswer {
        /// Input name.
        name: String,
        /// Key.
        arn: String,
        /// What was wrong.
        problem: String,
    },
    /// A sealed input could not be opened (names the user's KMS key and why).
    #[error("sealed input {name}: {source}")]
    Sealed {
        /// Input name.
        name: String,
        /// Cause (boxed: keeps `PackError` small).
        source: Box<crate::seal::SealError>,
    },
    /// The organisation key could not be unsealed.
    #[error("organisation key: {0}")]
    OrgKey(Box<crate::seal::OrgKeyError>),
    /// The image refuses unbound inputs and the job sent no recipients policy.
    #[error(
        "the job has no recipients policy; this enclave image requires one \
         (proofpack pack --recipients-policy FILE)"
    )]
    PolicyRequired,
    /// An output names a recipient the job's recipients policy does not allow.
    #[error("output {output}: {refusal}")]
    RecipientRefused {
        /// Output name.
        output: String,
        /// Which recipient and why.
        refusal: crate::recipients::Refusal,
    },
    /// An input is not bound to the job's recipients policy (refused before any KMS call).
    #[error("input {name}: {source}")]
    Unbound {
        /// Input name.
        name: String,
        /// Which KMS entry and why.
        source: crate::recipients::BindingError,
    },
    /// KMS refused every key of an input whose context named the job's
    /// policy: the data key was not encrypted with that context, so the
    /// policy sent is not the one the secrets' owners bound.
    #[error(
        "input {name}: KMS refused the Decrypt with encryption context \
         proofpack:recipients={digest}: the recipients policy sent with the job is not the one \
         the secrets' owners bound to this file (the context no longer matches); attempts: {attempts}"
    )]
    PolicyContextRejected {
        /// Input name.
        name: String,
        /// The job's policy digest.
        digest: String,
        /// `arn: outcome` per attempt.
        attempts: String,
    },
    /// The merge failed.
    #[error("merge: {0}")]
    Merge(#[from] MergeError),
    /// The NSM failed.
    #[error("NSM: {0}")]
    Nsm(#[from] NsmError),
    /// Sealing an output failed.
    #[error("output {name}: {source}")]
    Envelope {
        /// Output name.
        name: String,
        /// Cause.
        source: envelope::EnvelopeError,
    },
    /// Building the receipt failed.
    #[error("receipt: {0}")]
    Statement(#[from] StatementError),
    /// Key generation or encoding failed.
    #[error("job key: {0}")]
    Key(String),
    /// An input's git proof failed (issue 21): the file is not the blob at
    /// that path of that commit, or an object of the proof is forged or
    /// malformed. Checked before any KMS call.
    #[error("input {name}: not the blob at {path} of commit {commit}: {source}")]
    GitProof {
        /// Input name.
        name: String,
        /// The path the request claims.
        path: String,
        /// The commit the request claims.
        commit: String,
        /// Which object broke the chain, and how (boxed: keeps `PackError` small).
        source: Box<crate::gitproof::GitProofError>,
    },
}

/// What a pack reports besides its output (no secrets): where the time went
/// and which merged values a later layer overrode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackReport {
    /// Time per phase.
    pub timings: Timings,
    /// Overrides between merge layers (paths only).
    pub overrides: Vec<Override>,
}

/// Where the time of one pack went (for benchmarks and logs; no secrets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Job key generation (RSA-2048 + Ed25519).
    pub keygen: Duration,
    /// NSM attestation calls (doc_K, doc_R).
    pub attestation: Duration,
    /// KMS round trips (Decrypt with Recipient, Encrypt).
    pub kms: Duration,
    /// Number of KMS calls.
    pub kms_calls: u32,
    /// KMS calls sent again after a transient failure (issue 17); their
    /// attempts and backoff waits are inside `kms`.
    pub kms_retries: u32,
    /// CMS open + SOPS parse, value decryption and MAC.
    pub sops: Duration,
    /// Merge and bundle serialisation.
    pub merge: Duration,
    /// Envelope encryption (AES-GCM, RSA-OAEP), excluding KMS time.
    pub envelope: Duration,
    /// Statement, JCS and signature.
    pub receipt: Duration,
    /// Whole operation.
    pub total: Duration,
}

/// The pack service: one instance per enclave, stateless between jobs.
pub struct PackService<'a> {
    nsm: &'a dyn Nsm,
    kms: &'a dyn Kms,
    build_info: BuildInfo,
    binding: InputBinding,
    /// Pre-generated job keys (issue 17, `crate::keypool`); `None`: generate per job.
    keys: Option<&'a crate::keypool::KeyPool>,
}

impl std::fmt::Debug for PackService<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackService").field("nsm", &self.nsm.kind()).finish_non_exhaustive()
    }
}

/// KMS that records time spent, so [`Timings::kms`] can be separated from
/// envelope crypto.
struct TimedKms<'a> {
    inner: &'a dyn Kms,
    spent: std::sync::Mutex<(Duration, u32)>,
}

impl TimedKms<'_> {
    fn add(&self, d: Duration) {
        if let Ok(mut g) = self.spent.lock() {
            g.0 += d;
            g.1 += 1;
        }
    }
}

impl Kms for TimedKms<'_> {
    fn decrypt(&self, req: &DecryptRequest) -> Result<crate::backend::DecryptResponse, KmsError> {
        self.decrypt_traced(req).0
    }
    fn encrypt(
        &self,
        req: &crate::backend::EncryptRequest,
    ) -> Result<crate::backend::EncryptResponse, KmsError> {
        self.encrypt_traced(req).0
    }
    fn decrypt_traced(
        &self,
        req: &DecryptRequest,
    ) -> (Result<crate::backend::DecryptResponse, KmsError>, Option<String>) {
        let t = Instant::now();
        let r = self.inner.decrypt_traced(req);
        self.add(t.elapsed());
        r
    }
    fn encrypt_traced(
        &self,
        req: &crate::backend::EncryptRequest,
    ) -> (Result<crate::backend::EncryptResponse, KmsError>, Option<String>) {
        let t = Instant::now();
        let r = self.inner.encrypt_traced(req);
        self.add(t.elapsed());
        r
    }
    fn retries(&self) -> u32 {
        self.inner.retries()
    }
}

impl<'a> PackService<'a> {
    /// A service using these backends and the image's build-info; every
    /// input must be bound to the job's recipients policy.
    pub fn new(nsm: &'a dyn Nsm, kms: &'a dyn Kms, build_info: BuildInfo) -> Self {
        Self::with_input_binding(nsm, kms, build_info, InputBinding::Required)
    }

    /// [`Self::new`] with an explicit input-binding setting (the enclave
    /// application passes its compile-time setting; see [`InputBinding`]).
    pub fn with_input_binding(
        nsm: &'a dyn Nsm,
        kms: &'a dyn Kms,
        build_info: BuildInfo,
        binding: InputBinding,
    ) -> Self {
        Self { nsm, kms, build_info, binding, keys: None }
    }

    /// Takes each job's RSA key from `pool` (each key serves one job only;
    /// doc_K is still made per job for it, see docs/notes/load.md).
    pub fn with_key_pool(mut self, pool: &'a crate::keypool::KeyPool) -> Self {
        self.keys = Some(pool);
        self
    }

    /// Runs one job (docs/formats/receipts.md §4.3).
    pub fn pack(&self, job: &PackJob) -> Result<PackOutput, PackError> {
        self.pack_timed(job).map(|(o, _)| o)
    }

    /// Runs one job and reports where the time went and what the merge overrode.
    pub fn pack_timed(&self, job: &PackJob) -> Result<(PackOutput, PackReport), PackError> {
        let start = Instant::now();
        let mut tm = Timings::default();
        let kms = TimedKms { inner: self.kms, spent: std::sync::Mutex::new((Duration::ZERO, 0)) };

        // 1. Request.
        let request = PackRequest::parse(&job.request)?;
        let n_sops = request.inputs.len();
        let n_sealed = request.sealed_inputs.len();
        let n_proof: usize =
            request.inputs.iter().filter_map(|i| i.git.as_ref()).map(|g| 1 + g.tree_count()).sum();
        let n_files = n_sops + n_sealed + usize::from(request.org_key_sha256.is_some());
        let expected = n_files + n_proof;
        if job.inputs.len() != expected {
            return Err(PackError::InputCount { expected, got: job.inputs.len() });
        }
        let total: usize = job.inputs.iter().map(Vec::len).sum();
        if total > MAX_TOTAL_INPUT_BYTES {
            return Err(PackError::InputsTooLarge(total));
        }
        let named = request
            .inputs
            .iter()
            .map(|s| (s.name.as_str(), s.sha256))
            .chain(request.sealed_inputs.iter().map(|s| (s.name.as_str(), s.sha256)))
            .chain(request.org_key_sha256.map(|d| ("orgKey", d)));
        let (files_in, proof_objects) = job.inputs.split_at(n_files);
        for ((name, want), bytes) in named.zip(files_in) {
            let actual: [u8; 32] = Sha256::digest(bytes).into();
            if actual != want {
                return Err(PackError::InputDigest {
                    name: name.to_owned(),
                    expected: hex::encode(want),
                    actual: hex::encode(actual),
                });
            }
        }

        // 1a. Git proofs (issue 21), before any key or KMS call: each input
        // that names a commit is that commit's blob at that path.
        let proven = git_proofs(&request, &job.inputs[..n_sops], proof_objects)?;

        // 1b. Recipients (issue 20), before any key or KMS call: the policy,
        // every output recipient, every input's binding to the policy.
        let digest = request.policy_digest_hex();
        let files = self.check_recipients(&request, &job.inputs[..n_sops])?;

        // 2. Job keys.
        let t = Instant::now();
        let rsa_key = match self.keys {
            Some(pool) => pool.take(),
            None => rsa::RsaPrivateKey::new(&mut OsRng, 2048),
        }
        .map_err(|e| PackError::Key(e.to_string()))?;
        let rsa_spki = rsa_key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| PackError::Key(e.to_string()))?;
        let signing = SigningKey::generate(&mut OsRng);
        let ed_spki = dsse::ed25519_spki(&signing.verifying_key());
        let receipt_key_id: [u8; 32] = Sha256::digest(ed_spki).into();
        tm.keygen = t.elapsed();

        // 3. doc_K.
        let t = Instant::now();
        let doc_k = self.nsm.attest(&AttestationRequest {
            public_key: Some(rsa_spki.as_bytes().to_vec()),
            user_data: None,
            nonce: None,
        })?;
        tm.attestation += t.elapsed();

        // 4. Inputs.
        let mut records = Vec::with_capacity(request.inputs.len());
        let mut docs = Vec::with_capacity(request.inputs.len());
        let sops_start = Instant::now();
        let kms_before = Duration::ZERO;
        for (spec, file) in request.inputs.iter().zip(files) {
            let name = &spec.name;
            let recipient = Recipient {
                attestation_document: doc_k.clone(),
                key_encryption_algorithm: KEY_ENCRYPTION_ALGORITHM.into(),
            };
            let mut calls = Vec::new();
            let mut data_key: Option<SecretKey32> = None;
            for entry in &file.metadata.kms {
                let req = DecryptRequest {
                    ciphertext_blob: entry.enc.clone(),
                    key_id: Some(entry.arn.clone()),
                    encryption_context: entry.context.clone(),
                    recipient: Some(recipient.clone()),
                };
                let (res, request_id) = kms.decrypt_traced(&req);
                calls.push(KmsCall {
                    operation: "Decrypt",
                    arn: entry.arn.clone(),
                    key_arn: res.as_ref().ok().map(|r| r.key_id.clone()),
                    encryption_context: entry.context.clone(),
                    recipient: true,
                    request_id: request_id.unwrap_or_else(|| "unknown".into()),
                    outcome: KmsCall::outcome_of(res.as_ref().err()),
                });
                let Ok(resp) = res else { continue };
                let answer_err = |problem: String| PackError::KmsAnswer {
                    name: name.clone(),
                    arn: entry.arn.clone(),
                    problem,
                };
                if resp.plaintext.is_some() {
                    return Err(answer_err("KMS returned plaintext despite Recipient".into()));
                }
                let cms = resp
                    .ciphertext_for_recipient
                    .ok_or_else(|| answer_err("no CiphertextForRecipient".into()))?;
                let key = crate::cms::decrypt_enveloped(&cms, &rsa_key)
                    .map_err(|e| answer_err(e.to_string()))?;
                let key = SecretKey32::from_slice(key.expose()).ok_or_else(|| {
                    answer_err(format!("data key is {} bytes, not 32", key.len()))
                })?;
                data_key = Some(key);
                break;
            }
            let Some(data_key) = data_key else {
                let attempts = calls
                    .iter()
                    .map(|c| format!("{}: {}", c.arn, c.outcome))
                    .collect::<Vec<_>>()
                    .join("; ");
                let bound = |c: &KmsCall| {
                    recip::context_state(&c.encryption_context, digest.as_deref())
                        == ContextState::Bound
                };
                let context_refused =
                    |c: &KmsCall| bound(c) && c.outcome == "error:InvalidCiphertextException";
                if let (Some(d), true) = (&digest, calls.iter().any(context_refused)) {
                    return Err(PackError::PolicyContextRejected {
                        name: name.clone(),
                        digest: d.clone(),
                        attempts,
                    });
                }
                return Err(PackError::KmsRefused { name: name.clone(), attempts });
            };
            let plain = file
                .decrypt(&data_key)
                .map_err(|source| PackError::Sops { name: name.clone(), source })?;
            drop(data_key);
            records.push(InputRecord {
                name: name.clone(),
                sha256: spec.sha256,
                format: file.format.receipt_name(),
                sops_version: file.metadata.version.clone(),
                last_modified: file.metadata.lastmodified.clone(),
                mac: file.metadata.mac.clone(),
                kms: calls,
            });
            docs.push((name.clone(), plain));
        }
        // 4b. Sealed inputs (issue 10): unseal the organisation key, open each
        // input for its user; plaintext only in memory, merged under `sealed`.
        let (org_record, sealed_records) = if n_sealed > 0 {
            let sealed_files = &job.inputs[n_sops..n_sops + n_sealed];
            let bundle_bytes = &job.inputs[n_sops + n_sealed];
            let (doc, org, recs) = open_sealed_inputs(
                &request,
                sealed_files,
                bundle_bytes,
                (&doc_k, &rsa_key),
                self.binding,
                &kms,
            )?;
            let doc = if request.target.is_some() {
                PlainNode::Map(vec![("defaults".into(), doc)])
            } else {
                doc
            };
            docs.push(("sealedInputs".into(), doc));
            (Some(org), recs)
        } else {
            (None, Vec::new())
        };
        let kms_in_inputs = kms.spent.lock().map(|g| g.0).unwrap_or(kms_before);
        tm.sops = sops_start.elapsed().saturating_sub(kms_in_inputs);

        // 5. Merge and seal.
        let t = Instant::now();
        let bundle = merge::merge(docs, request.target_pair())?;
        tm.merge = t.elapsed();
        let t = Instant::now();
        let mut artifacts = Vec::with_capacity(request.outputs.len());
        let mut out_records = Vec::with_capacity(request.outputs.len());
        for out in &request.outputs {
            let recips: Vec<SealRecipient<'_>> = out
                .recipients
                .iter()
                .map(|r| SealRecipient {
                    public_key: &r.public_key,
                    key_id: r.key_id,
                    kms: r.kms.as_ref(),
                })
                .collect();
            let sealed = envelope::seal(
                bundle.plaintext.expose(),
                merge::BUNDLE_CONTENT_TYPE,
                &request.job_id,
                receipt_key_id,
                &out.name,
                &recips,
                Some(&kms),
            )
            .map_err(|source| PackError::Envelope { name: out.name.clone(), source })?;
            out_records.push(OutputRecord {
                name: out.name.clone(),
                sha256: Sha256::digest(&sealed.bytes).into(),
                size: sealed.bytes.len() as u64,
                recipients: out.recipients.iter().map(|r| r.key_id).zip(sealed.kms_calls).collect(),
            });
            artifacts.push(Artifact { name: out.name.clone(), bytes: sealed.bytes });
        }
        let (kms_total, kms_calls) = kms.spent.lock().map(|g| *g).unwrap_or_default();
        tm.envelope = t.elapsed().saturating_sub(kms_total.saturating_sub(kms_in_inputs));
        tm.kms = kms_total;
        tm.kms_calls = kms_calls;
        tm.kms_retries = kms.retries();

        // 6. Erase the RSA key and every plaintext before attesting the result.
        let overrides: Vec<Override> = bundle.overrides.clone();
        drop(bundle);
        drop(rsa_key);

        // 7. doc_R with the binding string.
        let t = Instant::now();
        let b = statement::binding(&request.sha256(), &doc_k);
        let doc_r = self.nsm.attest(&AttestationRequest {
            public_key: Some(ed_spki.to_vec()),
            user_data: Some(b.to_vec()),
            nonce: Some(request.nonce.clone()),
        })?;
        tm.attestation += t.elapsed();

        // 8–9. Statement and signature.
        let t = Instant::now();
        let recipients_record = statement::RecipientsRecord {
            policy_sha256: request.recipients_policy.as_ref().map(|p| p.sha256()),
            unbound_inputs_allowed: self.binding.allows_unbound(),
        };
        let payload = statement::build_with(
            &request,
            &doc_k,
            &doc_r,
            &self.build_info,
            &records,
            &out_records,
            &statement::Extras {
                sealed: org_record.as_ref().map(|o| (o, sealed_records.as_slice())),
                recipients: Some(&recipients_record),
                secrets: Some(&proven),
            },
        )?;
        let env = Envelope::sign(
            dsse::PAYLOAD_TYPE,
            payload,
            &signing,
            Some(hex::encode(receipt_key_id)),
        )
        .map_err(|e| PackError::Key(e.to_string()))?;
        drop(signing);
        tm.receipt = t.elapsed();
        tm.total = start.elapsed();
        Ok((
            PackOutput { artifacts, receipt: env.to_json_bytes() },
            PackReport { timings: tm, overrides },
        ))
    }
}

impl PackService<'_> {
    /// The issue-20 checks, all before any KMS call: a policy is present
    /// unless the image allows unbound inputs; every output recipient is
    /// allowed by it for the job's target; every KMS entry of every SOPS
    /// input is bound to it. Returns the parsed SOPS files.
    fn check_recipients(
        &self,
        request: &PackRequest,
        inputs: &[Vec<u8>],
    ) -> Result<Vec<SopsFile>, PackError> {
        let policy = request.recipients_policy.as_ref();
        if policy.is_none() && !self.binding.allows_unbound() {
            return Err(PackError::PolicyRequired);
        }
        if let Some(p) = policy {
            for out in &request.outputs {
                for r in &out.recipients {
                    p.check(request.target_pair(), &r.key_id, r.kms.is_some()).map_err(
                        |refusal| PackError::RecipientRefused { output: out.name.clone(), refusal },
                    )?;
                }
            }
        }
        let digest = request.policy_digest_hex();
        let mut files = Vec::with_capacity(inputs.len());
        for (spec, bytes) in request.inputs.iter().zip(inputs) {
            let name = &spec.name;
            let file = SopsFile::parse(bytes)
                .map_err(|source| PackError::Sops { name: name.clone(), source })?;
            if file.metadata.kms.is_empty() {
                return Err(PackError::NoKmsEntry { name: name.clone() });
            }
            for e in &file.metadata.kms {
                recip::check_context(&e.arn, &e.context, digest.as_deref(), self.binding)
                    .map_err(|source| PackError::Unbound { name: name.clone(), source })?;
            }
            files.push(file);
        }
        Ok(files)
    }
}

/// Opens the sealed inputs of a job. Returns the document merged under
/// `sealed` (`sealed.<name>` = the `NAME: value` map of an env input, or
/// the base64 of a file input), the org-key record and one record per
/// input. The org private key is dropped (zeroized) before returning.
fn open_sealed_inputs(
    request: &PackRequest,
    files: &[Vec<u8>],
    bundle_bytes: &[u8],
    (doc_k, rsa_key): (&[u8], &rsa::RsaPrivateKey),
    binding: InputBinding,
    kms: &dyn Kms,
) -> Result<(PlainNode, OrgKeyRecord, Vec<SealedRecord>), PackError> {
    let bundle = OrgKeyBundle::parse(bundle_bytes).map_err(|e| PackError::OrgKey(Box::new(e)))?;
    let (org_key, call) = bundle.unseal(kms, doc_k, rsa_key);
    let org_key = org_key.map_err(|e| PackError::OrgKey(Box::new(e)))?;
    let org = OrgKeyRecord { fingerprint: bundle.fingerprint, kms: call };
    let mut map = Vec::with_capacity(files.len());
    let mut records = Vec::with_capacity(files.len());
    let digest = request.policy_digest_hex();
    for (spec, bytes) in request.sealed_inputs.iter().zip(files) {
        let err = |source: seal::SealError| PackError::Sealed {
            name: spec.name.clone(),
            source: Box::new(source),
        };
        let ctx = seal::JobContext {
            job_id: &request.job_id,
            user: &spec.user,
            org_fingerprint: &bundle.fingerprint,
            recipient_doc: doc_k,
            job_key: rsa_key,
            recipients_policy: digest.as_deref(),
            binding,
        };
        let (res, call) = seal::open_sealed(bytes, &ctx, &org_key, kms);
        let opened = res.map_err(err)?;
        let node = sealed_node(&opened).map_err(|problem| {
            err(seal::SealError::Seal(format!("content is not usable: {problem}")))
        })?;
        map.push((spec.name.clone(), node));
        records.push(SealedRecord {
            name: spec.name.clone(),
            sha256: spec.sha256,
            user: spec.user.clone(),
            job: opened.header.job.clone(),
            content_type: opened.header.content_type.clone(),
            kms: call.into_iter().collect(),
        });
    }
    drop(org_key);
    Ok((PlainNode::Map(vec![("sealed".into(), PlainNode::Map(map))]), org, records))
}

/// The merge node of one opened sealed input: an env input (JSON object of
/// strings) becomes a map of string leaves; anything else becomes one string
/// leaf holding the base64 of the bytes. Values move into [`SecretBytes`]
/// (zeroized on drop) without an extra copy.
fn sealed_node(opened: &seal::OpenedInput) -> Result<PlainNode, String> {
    let leaf = |bytes: Vec<u8>| {
        PlainNode::Leaf(PlainLeaf {
            kind: ValueType::Str,
            was_encrypted: true,
            bytes: SecretBytes::new(bytes),
        })
    };
    if opened.header.content_type != seal::CONTENT_TYPE_ENV {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(opened.plaintext.expose());
        return Ok(leaf(b64.into_bytes()));
    }
    let v = crate::json::parse_strict(opened.plaintext.expose())
        .map_err(|_| "an env input is not strict JSON".to_owned())?;
    let serde_json::Value::Object(m) = v else {
        return Err("an env input is not a JSON object".into());
    };
    let mut out = Vec::with_capacity(m.len());
    for (k, v) in m {
        let serde_json::Value::String(s) = v else {
            return Err(format!("env value {k} is not a string"));
        };
        out.push((k, leaf(s.into_bytes())));
    }
    Ok(PlainNode::Map(out))
}

/// Checks every input's git proof (issue 21) and returns the receipt's
/// `secretsSource` entries, one per input in request order. `proofs` holds,
/// for each input with a `git` member in order, the commit body and then
/// one tree body per path component; its length was checked by the caller.
fn git_proofs(
    request: &PackRequest,
    files: &[Vec<u8>],
    proofs: &[Vec<u8>],
) -> Result<Vec<statement::SecretsSourceRecord>, PackError> {
    let mut rest = proofs;
    let mut out = Vec::with_capacity(request.inputs.len());
    for (spec, bytes) in request.inputs.iter().zip(files) {
        let Some(g) = &spec.git else {
            out.push(statement::SecretsSourceRecord { input: spec.name.clone(), git: None });
            continue;
        };
        let n = 1 + g.tree_count();
        let (objects, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        let refused = |source| PackError::GitProof {
            name: spec.name.clone(),
            path: g.path.clone(),
            commit: g.commit.clone(),
            source: Box::new(source),
        };
        let (commit_body, trees) = objects.split_first().ok_or_else(|| {
            refused(crate::gitproof::GitProofError::MissingTree { path: String::new() })
        })?;
        let trees: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
        let proven = crate::gitproof::verify(
            g.object_format,
            &g.commit,
            commit_body,
            &trees,
            &g.path,
            bytes,
        )
        .map_err(refused)?;
        out.push(statement::SecretsSourceRecord {
            input: spec.name.clone(),
            git: Some(statement::GitSourceRecord {
                repository: g.repository.clone(),
                object_format: g.object_format.name(),
                commit: proven.commit,
                path: proven.path,
                blob: proven.blob,
            }),
        });
    }
    Ok(out)
}
