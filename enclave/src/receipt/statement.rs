//! Building the in-toto Statement with the pack-receipt predicate
//! (receipts.md §3) and the binding string (§4.2).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256, Sha384};

use super::fields;
use super::nsm_doc::{read_fields, DocFields};
use super::KmsCall;
use crate::envelope::{KEY_WRAP, MEDIA_TYPE};
use crate::service::request::PackRequest;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Our predicate type.
pub const PREDICATE_TYPE: &str = "https://proofpack.dev/pack-receipt/v1";
/// Domain-separation prefix of the binding string.
pub const BINDING_PREFIX: &[u8; 33] = b"proofpack/pack-receipt/v1/binding";
/// PCR indexes copied into the receipt.
pub const RECEIPT_PCRS: [u8; 6] = [0, 1, 2, 3, 4, 8];

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
        source: super::nsm_doc::DocError,
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

/// The build-info file baked into the image (receipts.md §3.4): the
/// predicate's `source` members (without `buildInfoSha256`) and `tools`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The `source` object as it goes into the predicate, including `buildInfoSha256`.
    pub source: Value,
    /// `tools`.
    pub tools: BTreeMap<String, String>,
}

impl BuildInfo {
    /// Parses and checks the build-info file; its SHA-256 becomes `buildInfoSha256`.
    pub fn parse(bytes: &[u8]) -> Result<Self, StatementError> {
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
        let mut source = json!({
            "repository": repo,
            "commit": {"gitCommit": commit},
            "tree": tree,
            "buildSpec": {"path": path, "digest": {"sha256": digest}},
            "buildInfoSha256": hex::encode(Sha256::digest(bytes)),
        });
        if let (Some(r), Some(s)) = (o.get("ref").and_then(Value::as_str), source.as_object_mut()) {
            s.insert("ref".into(), Value::String(r.to_owned()));
        }
        // Written by `proofpack build` since issue 14: the build profile, and
        // `dirty: true` for a working tree built with `--allow-dirty`.
        if let Some(p) = o.get("profile") {
            let p = p.as_str().filter(|p| !p.is_empty()).ok_or_else(|| bad("profile"))?;
            if let Some(s) = source.as_object_mut() {
                s.insert("profile".into(), Value::String(p.to_owned()));
            }
        }
        match o.get("dirty") {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                if let Some(s) = source.as_object_mut() {
                    s.insert("dirty".into(), Value::Bool(true));
                }
            }
            Some(_) => return Err(bad("dirty must be a boolean")),
        }
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
    pub fn to_json(&self) -> Value {
        let mut m = json!({"unboundInputsAllowed": self.unbound_inputs_allowed});
        if let (Some(d), Some(o)) = (self.policy_sha256, m.as_object_mut()) {
            o.insert("sha256".into(), Value::String(hex::encode(d)));
        }
        m
    }
}

fn doc(which: &'static str, bytes: &[u8]) -> Result<DocFields, StatementError> {
    read_fields(bytes).map_err(|source| StatementError::Doc { which, source })
}

fn time(ms: u64) -> Result<String, StatementError> {
    fields::render_time_ms(ms)
        .ok_or_else(|| StatementError::Invalid(format!("timestamp {ms} out of range")))
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
    build_with_sealed(request, doc_k, doc_r, build_info, inputs, outputs, None, None)
}

/// [`build`], plus the `orgKey` and `sealedInputs` members when the job had
/// sealed inputs, and the `recipientsPolicy` member when `recipients` is
/// given. Without them the bytes are exactly those of [`build`].
#[allow(clippy::too_many_arguments)] // one argument per predicate part
pub fn build_with_sealed(
    request: &PackRequest,
    doc_k: &[u8],
    doc_r: &[u8],
    build_info: &BuildInfo,
    inputs: &[InputRecord],
    outputs: &[OutputRecord],
    sealed: Option<(&OrgKeyRecord, &[SealedRecord])>,
    recipients: Option<&RecipientsRecord>,
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
    let mut pcrs = Map::new();
    for i in RECEIPT_PCRS {
        let v = r
            .pcrs
            .get(&i)
            .ok_or_else(|| StatementError::Invalid(format!("doc_R has no PCR{i}")))?;
        pcrs.insert(i.to_string(), Value::String(hex::encode(v)));
    }
    let mut enclave = json!({"moduleId": r.module_id, "pcrs": pcrs});
    if let (Some(e), Some(o)) = (&request.eif_sha384, enclave.as_object_mut()) {
        o.insert("eifSha384".into(), Value::String(e.clone()));
    }
    let started = time(k.timestamp_ms)?;
    let finished = time(r.timestamp_ms)?;
    let inputs_v: Vec<Value> = inputs
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "digest": {"sha256": hex::encode(i.sha256)},
                "format": i.format,
                "sops": {"version": i.sops_version, "lastModified": i.last_modified, "mac": i.mac, "macVerified": true},
                "kms": i.kms.iter().map(KmsCall::to_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let outputs_v: Vec<Value> = outputs
        .iter()
        .map(|o| {
            let recips: Vec<Value> = o
                .recipients
                .iter()
                .map(|(id, call)| {
                    let mut m = json!({"keyId": hex::encode(id), "keyWrap": KEY_WRAP});
                    if let (Some(c), Some(obj)) = (call, m.as_object_mut()) {
                        obj.insert("kms".into(), c.to_json());
                    }
                    m
                })
                .collect();
            json!({
                "name": o.name,
                "digest": {"sha256": hex::encode(o.sha256)},
                "size": o.size,
                "mediaType": MEDIA_TYPE,
                "recipients": recips,
            })
        })
        .collect();
    let subject: Vec<Value> = outputs
        .iter()
        .map(|o| json!({"name": o.name, "digest": {"sha256": hex::encode(o.sha256)}}))
        .collect();
    let mut predicate = json!({
        "job": {
            "id": request.job_id,
            "request": STANDARD.encode(request.bytes()),
            "requestSha256": hex::encode(request.sha256()),
            "nonce": hex::encode(&request.nonce),
        },
        "enclave": enclave,
        "attestation": {
            "kms": {
                "document": STANDARD.encode(doc_k),
                "sha384": hex::encode(Sha384::digest(doc_k)),
                "timestamp": started,
                "publicKeySha256": hex::encode(Sha256::digest(kpk)),
            },
            "receipt": {
                "document": STANDARD.encode(doc_r),
                "sha384": hex::encode(Sha384::digest(doc_r)),
                "timestamp": finished,
                "publicKeySha256": hex::encode(Sha256::digest(rpk)),
            },
        },
        "source": build_info.source,
        "inputs": inputs_v,
        "outputs": outputs_v,
        "time": {"startedOn": started, "finishedOn": finished},
        "tools": build_info.tools,
    });
    if let (Some((org, recs)), Some(p)) = (sealed, predicate.as_object_mut()) {
        p.insert(
            "orgKey".into(),
            json!({"fingerprint": hex::encode(org.fingerprint), "kms": org.kms.to_json()}),
        );
        let v: Vec<Value> = recs
            .iter()
            .map(|r| {
                let mut m = json!({
                    "name": r.name,
                    "digest": {"sha256": hex::encode(r.sha256)},
                    "user": r.user,
                    "contentType": r.content_type,
                    "kms": r.kms.iter().map(KmsCall::to_json).collect::<Vec<_>>(),
                });
                if let (Some(j), Some(o)) = (&r.job, m.as_object_mut()) {
                    o.insert("job".into(), Value::String(j.clone()));
                }
                m
            })
            .collect();
        p.insert("sealedInputs".into(), Value::Array(v));
    }
    if let (Some(r), Some(p)) = (recipients, predicate.as_object_mut()) {
        p.insert("recipientsPolicy".into(), r.to_json());
    }
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    });
    crate::json::to_jcs(&statement).map_err(|e| StatementError::Invalid(e.to_string()))
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
        assert_eq!(b.source["profile"], "emulator");
        assert_eq!(b.source["buildSpec"]["path"], "build-spec/enclave.toml");
        assert!(b.source.get("dirty").is_none());
        assert_eq!(b.source["buildInfoSha256"], hex::encode(Sha256::digest(&bytes)));
        assert_eq!(b.tools["proofpack"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn dirty_reaches_the_source_and_bad_values_are_refused() {
        let b = BuildInfo::parse(&baked(true)).unwrap();
        assert_eq!(b.source["dirty"], true);
        let text = String::from_utf8(baked(false)).unwrap();
        for bad in ["\"dirty\":\"yes\",", "\"dirty\":1,"] {
            let t = text.replacen("\"profile\"", &format!("{bad}\"profile\""), 1);
            assert!(BuildInfo::parse(t.as_bytes()).is_err(), "{t}");
        }
        let t = text.replace("\"profile\":\"emulator\"", "\"profile\":\"\"");
        assert!(BuildInfo::parse(t.as_bytes()).is_err());
    }
}
