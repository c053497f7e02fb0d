//! Building the in-toto Statement with the pack-receipt predicate
//! (docs/formats/receipts.md §3) and the binding string (§4.2): the enclave's records are
//! turned into the [`model`] and serialised as JCS.

use std::collections::BTreeMap;

use attestation::{AttestationDoc, ParseOptions};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384};

use super::model::{self, DigestSet, Pcrs};
use super::{fields, KmsCall};
use crate::envelope::{KEY_WRAP, MEDIA_TYPE};
use crate::service::request::PackRequest;

pub use super::model::{PREDICATE_TYPE, STATEMENT_TYPE};

/// Domain-separation prefix of the binding string.
pub const BINDING_PREFIX: &[u8; 33] = b"proofpack/pack-receipt/v1/binding";
/// PCR indexes copied into the receipt.
pub const RECEIPT_PCRS: [u8; 6] = Pcrs::INDEXES;

/// How the enclave reads the documents its own NSM just returned: this is
/// not verification (the verifier authenticates them), only locating the
/// fields the receipt copies. Emulator documents (QEMU) and unknown payload
/// keys are accepted, as the enclave must describe whatever its NSM returned.
const READ_OWN_DOCUMENT: ParseOptions = ParseOptions { allow_unknown_keys: true, emulator: true };

/// Errors building a statement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// An attestation document could not be read.
    #[error("attestation document {which}: {source}")]
    Doc {
        /// `doc_K` or `doc_R`.
        which: &'static str,
        /// Cause.
        source: attestation::ParseError,
    },
    /// A value needed by the schema is missing or invalid.
    #[error("cannot build the receipt: {0}")]
    Invalid(String),
}

/// B = prefix ‖ 0x00 ‖ SHA-256(request) ‖ SHA-384(doc_K): 114 bytes.
pub fn binding(request_sha256: &[u8; 32], doc_k: &[u8]) -> [u8; 114] {
    let mut b = [0u8; 114];
    b[..33].copy_from_slice(BINDING_PREFIX);
    b[34..66].copy_from_slice(request_sha256);
    b[66..].copy_from_slice(&Sha384::digest(doc_k));
    b
}

/// The build-info file baked into the image (docs/formats/receipts.md §3.4): the
/// predicate's `source` and `tools`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The `source` member as it goes into the predicate, including `buildInfoSha256`.
    pub source: model::Source,
    /// `tools`.
    pub tools: BTreeMap<String, String>,
}

impl BuildInfo {
    /// Parses and checks the build-info file; its SHA-256 becomes `buildInfoSha256`.
    pub fn parse(bytes: &[u8]) -> Result<Self, StatementError> {
        use serde_json::Value;
        let bad = |m: &str| StatementError::Invalid(format!("build info: {m}"));
        let v = crate::json::parse_strict(bytes).map_err(|e| bad(&e.to_string()))?;
        let o = v.as_object().ok_or_else(|| bad("not an object"))?;
        if let Some(k) = o.keys().find(|k| {
            !matches!(
                k.as_str(),
                "repository"
                    | "commit"
                    | "tree"
                    | "ref"
                    | "buildSpec"
                    | "tools"
                    | "profile"
                    | "dirty"
            )
        }) {
            return Err(bad(&format!("unknown member {k}")));
        }
        let repo = o.get("repository").and_then(Value::as_str).ok_or_else(|| bad("repository"))?;
        let commit = o
            .get("commit")
            .and_then(|c| c.get("gitCommit"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("commit.gitCommit"))?;
        let tree = o.get("tree").and_then(Value::as_str).ok_or_else(|| bad("tree"))?;
        if repo.is_empty() || !fields::is_git_id(commit) || !fields::is_git_id(tree) {
            return Err(bad("repository, commit or tree invalid"));
        }
        let bs = o.get("buildSpec").ok_or_else(|| bad("buildSpec"))?;
        let path = bs.get("path").and_then(Value::as_str).ok_or_else(|| bad("buildSpec.path"))?;
        let digest = bs
            .get("digest")
            .and_then(|d| d.get("sha256"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("buildSpec.digest.sha256"))?;
        if path.is_empty() || !fields::is_hex_len(digest, 32) {
            return Err(bad("buildSpec invalid"));
        }
        let mut tools = BTreeMap::new();
        for (k, t) in o.get("tools").and_then(Value::as_object).ok_or_else(|| bad("tools"))? {
            tools.insert(
                k.clone(),
                t.as_str().ok_or_else(|| bad("tools values must be strings"))?.to_owned(),
            );
        }
        if !tools.contains_key("proofpack") {
            return Err(bad("tools must contain proofpack"));
        }
        // Written by `proofpack build` since issue 14: the build profile, and
        // `dirty: true` for a working tree built with `--allow-dirty`.
        let profile = match o.get("profile") {
            None => None,
            Some(p) => Some(p.as_str().filter(|p| !p.is_empty()).ok_or_else(|| bad("profile"))?),
        };
        let dirty = match o.get("dirty") {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(true),
            Some(_) => return Err(bad("dirty must be a boolean")),
        };
        let source = model::Source {
            repository: repo.to_owned(),
            commit: model::GitCommit { git_commit: commit.to_owned() },
            tree: tree.to_owned(),
            r#ref: o.get("ref").and_then(Value::as_str).map(str::to_owned),
            build_spec: model::BuildSpecRef {
                path: path.to_owned(),
                digest: DigestSet { sha256: digest.to_owned(), sha384: None, sha512: None },
            },
            build_info_sha256: hex::encode(Sha256::digest(bytes)),
            profile: profile.map(str::to_owned),
            dirty,
        };
        Ok(Self { source, tools })
    }
}

/// What the receipt records about one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    /// Name from the request.
    pub name: String,
    /// SHA-256 of the file bytes.
    pub sha256: [u8; 32],
    /// `sops-yaml` or `sops-json`.
    pub format: &'static str,
    /// `sops.version` as written.
    pub sops_version: String,
    /// `sops.lastmodified` as written.
    pub last_modified: String,
    /// `sops.mac` as written (encrypted).
    pub mac: String,
    /// Every KMS call for this input, in order.
    pub kms: Vec<KmsCall>,
}

/// What the receipt records about one output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// Artifact name.
    pub name: String,
    /// SHA-256 of the artifact bytes.
    pub sha256: [u8; 32],
    /// Artifact length.
    pub size: u64,
    /// Per recipient: key id and the `kms:Encrypt` call, if any.
    pub recipients: Vec<([u8; 32], Option<KmsCall>)>,
}

/// The organisation key a job unsealed (issue 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgKeyRecord {
    /// SHA-256 of the org public key's SPKI DER.
    pub fingerprint: [u8; 32],
    /// The `kms:Decrypt` (with Recipient) of its private key.
    pub kms: KmsCall,
}

/// What the receipt records about one sealed input (issue 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// Name from the request.
    pub name: String,
    /// SHA-256 of the sealed-input file bytes.
    pub sha256: [u8; 32],
    /// The user it was opened for.
    pub user: String,
    /// The job it was sealed for, if it was sealed for one.
    pub job: Option<String>,
    /// The plaintext media type.
    pub content_type: String,
    /// The user-key `kms:Decrypt` call(s).
    pub kms: Vec<KmsCall>,
}

/// What the receipt records about recipient binding (issue 20): the
/// predicate's optional `recipientsPolicy` member, written by every image
/// that knows recipients policies (receipt format 1.1,
/// docs/notes/recipients.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecipientsRecord {
    /// SHA-256 of the recipients policy the job carried, if any.
    pub policy_sha256: Option<[u8; 32]>,
    /// The image's setting: inputs without the `proofpack:recipients`
    /// context were accepted.
    pub unbound_inputs_allowed: bool,
}

impl RecipientsRecord {
    /// The `recipientsPolicy` predicate member.
    pub fn to_model(&self) -> model::RecipientsPolicy {
        model::RecipientsPolicy {
            sha256: self.policy_sha256.map(hex::encode),
            unbound_inputs_allowed: self.unbound_inputs_allowed,
        }
    }
}

/// Where one SOPS input came from (issue 21, receipt format 1.2): the
/// predicate's `secretsSource` entry, written by every image that knows git
/// proofs, one per input in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsSourceRecord {
    /// Name of the input (from the request).
    pub input: String,
    /// The proven commit and path, or `None` for a local file (no proof).
    pub git: Option<GitSourceRecord>,
}

/// A git proof the enclave checked: `blob` is the file's id at `path` of `commit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSourceRecord {
    /// The repository as the requester named it.
    pub repository: String,
    /// `sha1` or `sha256`.
    pub object_format: &'static str,
    /// The commit id (hex).
    pub commit: String,
    /// The path in the commit.
    pub path: String,
    /// The blob id (hex) the enclave computed from the file bytes.
    pub blob: String,
}

impl SecretsSourceRecord {
    /// The `secretsSource[]` predicate entry.
    pub fn to_model(&self) -> model::SecretsSource {
        match &self.git {
            None => model::SecretsSource {
                input: self.input.clone(),
                origin: model::SecretsOrigin::Local,
                repository: None,
                object_format: None,
                commit: None,
                path: None,
                blob: None,
            },
            Some(g) => model::SecretsSource {
                input: self.input.clone(),
                origin: model::SecretsOrigin::Git,
                repository: Some(g.repository.clone()),
                object_format: Some(g.object_format.to_owned()),
                commit: Some(model::GitCommit { git_commit: g.commit.clone() }),
                path: Some(g.path.clone()),
                blob: Some(g.blob.clone()),
            },
        }
    }
}

/// The optional predicate members, each written when the job or the image
/// has them; all `None` gives exactly the bytes of [`build`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// `orgKey` and `sealedInputs` (issue 10).
    pub sealed: Option<(&'a OrgKeyRecord, &'a [SealedRecord])>,
    /// `recipientsPolicy` (issue 20).
    pub recipients: Option<&'a RecipientsRecord>,
    /// `secretsSource` (issue 21), one entry per input.
    pub secrets: Option<&'a [SecretsSourceRecord]>,
}

fn doc(which: &'static str, bytes: &[u8]) -> Result<AttestationDoc, StatementError> {
    attestation::parse_with(bytes, READ_OWN_DOCUMENT)
        .map(|p| p.doc)
        .map_err(|source| StatementError::Doc { which, source })
}

fn time(ms: u64) -> Result<String, StatementError> {
    fields::render_time_ms(ms)
        .ok_or_else(|| StatementError::Invalid(format!("timestamp {ms} out of range")))
}

fn attestation_record(doc: &[u8], timestamp: &str, public_key: &[u8]) -> model::AttestationRecord {
    model::AttestationRecord {
        document: STANDARD.encode(doc),
        sha384: hex::encode(Sha384::digest(doc)),
        timestamp: timestamp.to_owned(),
        public_key_sha256: hex::encode(Sha256::digest(public_key)),
    }
}

fn kms_records(calls: &[KmsCall]) -> Vec<model::KmsCallRecord> {
    calls.iter().map(KmsCall::to_record).collect()
}

/// Builds the Statement and returns its JCS bytes (the DSSE payload).
pub fn build(
    request: &PackRequest,
    doc_k: &[u8],
    doc_r: &[u8],
    build_info: &BuildInfo,
    inputs: &[InputRecord],
    outputs: &[OutputRecord],
) -> Result<Vec<u8>, StatementError> {
    build_with(request, doc_k, doc_r, build_info, inputs, outputs, &Extras::default())
}

/// [`build`] with the optional predicate members of `extras`: `orgKey` and
/// `sealedInputs` when the job had sealed inputs, `recipientsPolicy`,
/// `secretsSource`. With none of them the bytes are exactly those of
/// [`build`] (receipt format 1.0).
pub fn build_with(
    request: &PackRequest,
    doc_k: &[u8],
    doc_r: &[u8],
    build_info: &BuildInfo,
    inputs: &[InputRecord],
    outputs: &[OutputRecord],
    extras: &Extras<'_>,
) -> Result<Vec<u8>, StatementError> {
    let k = doc("doc_K", doc_k)?;
    let r = doc("doc_R", doc_r)?;
    let kpk = k
        .public_key
        .as_deref()
        .ok_or_else(|| StatementError::Invalid("doc_K has no public_key".into()))?;
    let rpk = r
        .public_key
        .as_deref()
        .ok_or_else(|| StatementError::Invalid("doc_R has no public_key".into()))?;
    let pcrs = Pcrs::from_lookup(|i| r.pcrs.get(&u64::from(i)).map(hex::encode))
        .map_err(|i| StatementError::Invalid(format!("doc_R has no PCR{i}")))?;
    let started = time(k.timestamp)?;
    let finished = time(r.timestamp)?;
    let inputs = inputs
        .iter()
        .map(|i| model::Input {
            name: i.name.clone(),
            digest: DigestSet::sha256(&i.sha256),
            format: i.format.to_owned(),
            sops: model::SopsRecord {
                version: i.sops_version.clone(),
                last_modified: i.last_modified.clone(),
                mac: i.mac.clone(),
                mac_verified: true,
            },
            kms: kms_records(&i.kms),
        })
        .collect();
    let subject = outputs
        .iter()
        .map(|o| model::Subject { name: o.name.clone(), digest: DigestSet::sha256(&o.sha256) })
        .collect();
    let outputs = outputs
        .iter()
        .map(|o| model::Output {
            name: o.name.clone(),
            digest: DigestSet::sha256(&o.sha256),
            size: o.size,
            media_type: MEDIA_TYPE.to_owned(),
            recipients: o
                .recipients
                .iter()
                .map(|(id, call)| model::Recipient {
                    key_id: hex::encode(id),
                    key_wrap: KEY_WRAP.to_owned(),
                    kms: call.as_ref().map(KmsCall::to_record),
                })
                .collect(),
        })
        .collect();
    let (org_key, sealed_inputs) = match extras.sealed {
        None => (None, None),
        Some((org, recs)) => (
            Some(model::OrgKey {
                fingerprint: hex::encode(org.fingerprint),
                kms: org.kms.to_record(),
            }),
            Some(
                recs.iter()
                    .map(|s| model::SealedInput {
                        name: s.name.clone(),
                        digest: DigestSet::sha256(&s.sha256),
                        user: s.user.clone(),
                        job: s.job.clone(),
                        content_type: s.content_type.clone(),
                        kms: kms_records(&s.kms),
                    })
                    .collect(),
            ),
        ),
    };
    let predicate = model::Predicate {
        job: model::Job {
            id: request.job_id.clone(),
            request: STANDARD.encode(request.bytes()),
            request_sha256: hex::encode(request.sha256()),
            nonce: hex::encode(&request.nonce),
        },
        enclave: model::Enclave {
            module_id: r.module_id.clone(),
            pcrs,
            eif_sha384: request.eif_sha384.clone(),
        },
        attestation: model::Attestations {
            kms: attestation_record(doc_k, &started, kpk),
            receipt: attestation_record(doc_r, &finished, rpk),
        },
        source: build_info.source.clone(),
        inputs,
        outputs,
        time: model::Times { started_on: started, finished_on: finished },
        tools: build_info.tools.clone(),
        org_key,
        sealed_inputs,
        recipients_policy: extras.recipients.map(RecipientsRecord::to_model),
        secrets_source: extras
            .secrets
            .map(|s| s.iter().map(SecretsSourceRecord::to_model).collect()),
    };
    model::Statement {
        type_: STATEMENT_TYPE.to_owned(),
        subject,
        predicate_type: PREDICATE_TYPE.to_owned(),
        predicate,
    }
    .to_jcs()
    .map_err(|e| StatementError::Invalid(e.to_string()))
}

#[cfg(test)]
mod build_info_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use build_spec::build::build_info::{render, BuildInfoSource};

    fn baked(dirty: bool) -> Vec<u8> {
        let text = include_str!("../../../build-spec/enclave.toml");
        let spec = build_spec::spec::Spec::parse(text.as_bytes()).unwrap();
        let src = BuildInfoSource {
            spec_path: "build-spec/enclave.toml".into(),
            commit: "3d942f9c40422e95265e7e04c140c0cc6116c6df".into(),
            tree: "f57fcd9750789003261a6ef6faf9f7572106ef32".into(),
            dirty,
        };
        render(&spec, text.as_bytes(), "emulator", &src).unwrap()
    }

    /// What `proofpack build` bakes is what `serve` accepts (the production
    /// app exited at startup before the image had it).
    #[test]
    fn the_build_info_the_build_bakes_parses() {
        let bytes = baked(false);
        let b = BuildInfo::parse(&bytes).unwrap();
        assert_eq!(b.source.profile.as_deref(), Some("emulator"));
        assert_eq!(b.source.build_spec.path, "build-spec/enclave.toml");
        assert!(b.source.dirty.is_none());
        assert_eq!(b.source.build_info_sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(b.tools["proofpack"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn dirty_reaches_the_source_and_bad_values_are_refused() {
        let b = BuildInfo::parse(&baked(true)).unwrap();
        assert_eq!(b.source.dirty, Some(true));
        let text = String::from_utf8(baked(false)).unwrap();
        for bad in ["\"dirty\":\"yes\",", "\"dirty\":1,"] {
            let t = text.replacen("\"profile\"", &format!("{bad}\"profile\""), 1);
            assert!(BuildInfo::parse(t.as_bytes()).is_err(), "{t}");
        }
        let t = text.replace("\"profile\":\"emulator\"", "\"profile\":\"\"");
        assert!(BuildInfo::parse(t.as_bytes()).is_err());
    }
}
