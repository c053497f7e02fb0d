//! The receipt Statement as types (docs/formats/receipts.md §2.2, §3.3): the one model the
//! enclave serialises and the verifier deserialises, so producer and checker
//! cannot disagree about a member's name, type or presence.
//!
//! Openness follows the spec:
//!
//! * The in-toto [`Statement`] top level is **open**: in-toto says consumers
//!   MUST ignore unrecognised fields there, and docs/formats/receipts.md §3.1 keeps that
//!   rule outside `predicate`. So it has no `deny_unknown_fields`.
//! * Everything inside `predicate` is **closed** (docs/formats/receipts.md §3.1: unknown
//!   predicate members are rejected, because ignoring a member a newer
//!   producer relies on would break the monotonic principle in the dangerous
//!   direction), and so are the subject entries and digest sets, which the
//!   verifier has always checked exactly. Those types carry
//!   `#[serde(deny_unknown_fields)]`.
//! * Optional members are `Option`s for the versions that added them
//!   (`eifSha384`; `ref`, `profile`, `dirty` of issue 14; `orgKey` and
//!   `sealedInputs` of issue 10; `recipientsPolicy` of issue 20), so older
//!   receipts still deserialise. An optional member that is present must have
//!   a value: `null` is refused (docs/formats/receipts.md §6 step 11, "no `null`").
//!
//! Serde checks shape (members, types); the value rules (hex lengths, ARNs,
//! names, times…) are in [`validate`]. Bytes are always written through
//! [`crate::json::to_jcs`] (docs/formats/receipts.md §2.4), so the struct order does not
//! affect the signed bytes; it follows the spec for readability.

pub mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use validate::SchemaError;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Our predicate type.
pub const PREDICATE_TYPE: &str = "https://proofpack.dev/pack-receipt/v1";

/// Deserialises a present optional member, refusing `null` (serde's default
/// would read `null` as absent, which the schema forbids).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// An in-toto Statement v1 (docs/formats/receipts.md §2.2). `P` is the predicate: the
/// verifier first reads the Statement layer with an untyped predicate object,
/// then the predicate itself, so each layer's schema check stays separate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement<P = Predicate> {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// One entry per output artifact.
    pub subject: Vec<Subject>,
    /// Always [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The pack-receipt predicate.
    pub predicate: P,
}

/// A subject (docs/formats/receipts.md §2.5): an artifact name and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// Artifact name.
    pub name: String,
    /// Digest of the artifact file bytes.
    pub digest: DigestSet,
}

/// A DigestSet (docs/formats/receipts.md §2.3) restricted to the accepted algorithms:
/// `sha256` required, `sha384`/`sha512` optional, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestSet {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Lowercase hex SHA-384.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub sha384: Option<String>,
    /// Lowercase hex SHA-512.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
}

impl DigestSet {
    /// `{"sha256": hex}`.
    pub fn sha256(digest: &[u8; 32]) -> Self {
        Self { sha256: hex::encode(digest), sha384: None, sha512: None }
    }
}

/// The `https://proofpack.dev/pack-receipt/v1` predicate (docs/formats/receipts.md §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Predicate {
    /// The job and its exact request.
    pub job: Job,
    /// The enclave that ran it.
    pub enclave: Enclave,
    /// doc_K and doc_R.
    pub attestation: Attestations,
    /// Where the image was built from.
    pub source: Source,
    /// One entry per SOPS input, in request order.
    pub inputs: Vec<Input>,
    /// One entry per output, in request order.
    pub outputs: Vec<Output>,
    /// NSM times of doc_K and doc_R.
    pub time: Times,
    /// Tool versions from the build info; contains `proofpack`.
    pub tools: BTreeMap<String, String>,
    /// The organisation key a job with sealed inputs unsealed (issue 10).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub org_key: Option<OrgKey>,
    /// The sealed inputs (issue 10); present iff `orgKey` is.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub sealed_inputs: Option<Vec<SealedInput>>,
    /// Recipient binding (issue 20, receipt format 1.1).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub recipients_policy: Option<RecipientsPolicy>,
    /// Where each SOPS input came from (issue 21, receipt format 1.2): one
    /// entry per input, in request order. Absent in older receipts, whose
    /// inputs the audit treats as local files.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub secrets_source: Option<Vec<SecretsSource>>,
}

/// `predicate.job`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Job {
    /// The request's `jobId`.
    pub id: String,
    /// Base64 of the exact request bytes.
    pub request: String,
    /// Hex SHA-256 of the request bytes.
    pub request_sha256: String,
    /// Hex of the request nonce.
    pub nonce: String,
}

/// `predicate.enclave`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Enclave {
    /// doc_R's `module_id`.
    pub module_id: String,
    /// doc_R's receipt PCRs.
    pub pcrs: Pcrs,
    /// The operator's EIF hash claim, copied from the request.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub eif_sha384: Option<String>,
}

/// `predicate.enclave.pcrs`: exactly PCR 0, 1, 2, 3, 4 and 8, as hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pcrs {
    /// PCR0.
    #[serde(rename = "0")]
    pub pcr0: String,
    /// PCR1.
    #[serde(rename = "1")]
    pub pcr1: String,
    /// PCR2.
    #[serde(rename = "2")]
    pub pcr2: String,
    /// PCR3.
    #[serde(rename = "3")]
    pub pcr3: String,
    /// PCR4.
    #[serde(rename = "4")]
    pub pcr4: String,
    /// PCR8.
    #[serde(rename = "8")]
    pub pcr8: String,
}

impl Pcrs {
    /// The PCR indexes a receipt records.
    pub const INDEXES: [u8; 6] = [0, 1, 2, 3, 4, 8];

    /// The hex value of PCR `index`, if the receipt records it.
    pub fn get(&self, index: u8) -> Option<&str> {
        Some(match index {
            0 => &self.pcr0,
            1 => &self.pcr1,
            2 => &self.pcr2,
            3 => &self.pcr3,
            4 => &self.pcr4,
            8 => &self.pcr8,
            _ => return None,
        })
    }

    /// `(index, hex)` in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &str)> {
        Self::INDEXES.into_iter().filter_map(|i| self.get(i).map(|v| (i, v)))
    }

    /// Builds the set from a lookup by index (`None` names the missing PCR).
    pub fn from_lookup(mut f: impl FnMut(u8) -> Option<String>) -> Result<Self, u8> {
        let mut get = |i: u8| f(i).ok_or(i);
        Ok(Self {
            pcr0: get(0)?,
            pcr1: get(1)?,
            pcr2: get(2)?,
            pcr3: get(3)?,
            pcr4: get(4)?,
            pcr8: get(8)?,
        })
    }
}

/// `predicate.attestation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestations {
    /// doc_K, the KMS Recipient document.
    pub kms: AttestationRecord,
    /// doc_R, the document binding the receipt key.
    pub receipt: AttestationRecord,
}

/// One attestation document as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttestationRecord {
    /// Base64 of the COSE_Sign1 bytes.
    pub document: String,
    /// Hex SHA-384 of those bytes.
    pub sha384: String,
    /// The document's timestamp, rendered (docs/formats/receipts.md §3.2 `Time`).
    pub timestamp: String,
    /// Hex SHA-256 of the document's `public_key`.
    pub public_key_sha256: String,
}

/// `predicate.source` (docs/formats/receipts.md §3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    /// Repository URI.
    pub repository: String,
    /// `{"gitCommit": id}`.
    pub commit: GitCommit,
    /// Root tree id of that commit.
    pub tree: String,
    /// Informational ref.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<String>,
    /// The build spec: path and digest.
    pub build_spec: BuildSpecRef,
    /// Hex SHA-256 of the baked build-info file.
    pub build_info_sha256: String,
    /// The build profile (issue 14).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `true` for a working tree built with `--allow-dirty` (issue 14); only
    /// ever present as `true`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
}

/// `source.commit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitCommit {
    /// The commit id.
    pub git_commit: String,
}

/// `source.buildSpec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpecRef {
    /// Repository-relative path, POSIX separators.
    pub path: String,
    /// Digest of the spec file.
    pub digest: DigestSet,
}

/// One SOPS input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Name from the request.
    pub name: String,
    /// Digest of the ciphertext file bytes.
    pub digest: DigestSet,
    /// `sops-yaml` or `sops-json`.
    pub format: String,
    /// SOPS metadata as written.
    pub sops: SopsRecord,
    /// Every KMS call for this input, in call order.
    pub kms: Vec<KmsCallRecord>,
}

/// `inputs[].sops`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SopsRecord {
    /// `sops.version`.
    pub version: String,
    /// `sops.lastmodified`.
    pub last_modified: String,
    /// `sops.mac` (encrypted).
    pub mac: String,
    /// Always `true`.
    pub mac_verified: bool,
}

/// One output artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Output {
    /// Artifact name (= subject name).
    pub name: String,
    /// Digest of the artifact bytes.
    pub digest: DigestSet,
    /// Artifact length.
    pub size: u64,
    /// Always the artifact media type.
    pub media_type: String,
    /// The recipients, in header order.
    pub recipients: Vec<Recipient>,
}

/// `outputs[].recipients[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Recipient {
    /// Hex SHA-256 of the recipient's SPKI.
    pub key_id: String,
    /// Always `RSA-OAEP-SHA512`.
    pub key_wrap: String,
    /// The `kms:Encrypt` of the KMS layer, if any.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsCallRecord>,
}

/// `KmsCall` (docs/formats/receipts.md §3.3): one KMS call as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KmsCallRecord {
    /// `Decrypt` or `Encrypt`.
    pub operation: String,
    /// The key reference sent.
    pub arn: String,
    /// The key ARN KMS answered with; absent when the call failed.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub key_arn: Option<String>,
    /// The encryption context exactly as sent.
    pub encryption_context: BTreeMap<String, String>,
    /// The request carried `Recipient` = doc_K.
    pub recipient: bool,
    /// The AWS request id.
    pub request_id: String,
    /// `ok` or `error:<Code>`.
    pub outcome: String,
}

impl KmsCallRecord {
    /// A `Decrypt` with `Recipient` whose outcome is `ok`.
    pub fn is_ok_recipient_decrypt(&self) -> bool {
        self.operation == "Decrypt" && self.recipient && self.outcome == "ok"
    }
}

/// `predicate.time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Times {
    /// = `attestation.kms.timestamp`.
    pub started_on: String,
    /// = `attestation.receipt.timestamp`.
    pub finished_on: String,
}

/// `predicate.orgKey` (issue 10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgKey {
    /// Hex SHA-256 of the org public key's SPKI DER.
    pub fingerprint: String,
    /// The `kms:Decrypt` of its private key.
    pub kms: KmsCallRecord,
}

/// `predicate.sealedInputs[]` (issue 10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SealedInput {
    /// Name from the request.
    pub name: String,
    /// Digest of the sealed-input file bytes.
    pub digest: DigestSet,
    /// The user it was opened for.
    pub user: String,
    /// The job it was sealed for, if any.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The plaintext media type.
    pub content_type: String,
    /// The user-key `kms:Decrypt` call(s).
    pub kms: Vec<KmsCallRecord>,
}

/// `predicate.recipientsPolicy` (issue 20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecipientsPolicy {
    /// Hex SHA-256 of the policy the job carried, if any.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The image accepted inputs without the `proofpack:recipients` context.
    pub unbound_inputs_allowed: bool,
}

/// `predicate.secretsSource[]` (issue 21): the second source of a receipt,
/// distinct from `source` (the image's): which commit and path each SOPS
/// input is the blob of, as proven inside the enclave, or that it is a
/// local file. For `origin: git` the five git members are required; for
/// `local` they are absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretsSource {
    /// The input's name (= `inputs[i].name`).
    pub input: String,
    /// `git` or `local`.
    pub origin: SecretsOrigin,
    /// The secrets repository as the requester named it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// `sha1` or `sha256`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub object_format: Option<String>,
    /// `{"gitCommit": id}`, as in `source.commit`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub commit: Option<GitCommit>,
    /// The file's path in the commit.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The blob id of the input's bytes.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

/// `secretsSource[].origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretsOrigin {
    /// Proven to be the blob at a path of a commit.
    Git,
    /// A file with no proof of where it came from.
    Local,
}

/// The Statement layer with the predicate left as an object, for the
/// separate Statement and predicate schema checks (docs/formats/receipts.md §6 steps 10
/// and 11).
pub type StatementLayer = Statement<serde_json::Map<String, Value>>;

impl Statement {
    /// The canonical JCS bytes of the Statement: the DSSE payload
    /// (docs/formats/receipts.md §2.4).
    pub fn to_jcs(&self) -> Result<Vec<u8>, crate::json::JsonError> {
        let v = serde_json::to_value(self)
            .map_err(|e| crate::json::JsonError::Syntax(e.to_string()))?;
        crate::json::to_jcs(&v)
    }
}

/// Step 4: the two attestation documents, decoded. The only read of the
/// statement before its signature verified, so it reads nothing else and
/// assumes nothing about the rest of the schema.
pub fn extract_documents(statement: &Value) -> Result<(Vec<u8>, Vec<u8>), String> {
    use base64::Engine as _;
    let get = |which: &str| -> Result<Vec<u8>, String> {
        let s = statement
            .pointer(&format!("/predicate/attestation/{which}/document"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                format!("predicate.attestation.{which}.document missing or not a string")
            })?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|_| format!("predicate.attestation.{which}.document is not base64"))
    };
    Ok((get("kms")?, get("receipt")?))
}
