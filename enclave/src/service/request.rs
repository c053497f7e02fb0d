//! The job request (docs/formats/receipts.md §3.6 plus the `target` member of this
//! service): parsed strictly, kept as the exact bytes received, because those
//! bytes are hashed into the receipt binding.

use std::collections::BTreeMap;

use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::json::{self, JsonError};
use crate::receipt::fields::{self, hex32};
use crate::recipients::{PolicyError, RecipientsPolicy};

/// The `_type` of a job request.
pub const REQUEST_TYPE: &str = "https://proofpack.dev/pack-request/v1";
/// Largest accepted request (docs/formats/receipts.md §3.3 `job.request`).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Most inputs per job.
pub const MAX_INPUTS: usize = 64;
/// Most outputs per job.
pub const MAX_OUTPUTS: usize = 16;
/// Most recipients per output (docs/formats/receipts.md §5.2).
pub const MAX_RECIPIENTS: usize = 64;
/// Prefix reserved for the context entries the enclave adds (docs/formats/receipts.md §5.5).
pub const RESERVED_CONTEXT_PREFIX: &str = "proofpack:";

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// More than [`MAX_REQUEST_BYTES`].
    #[error("job request is {0} bytes, more than the {MAX_REQUEST_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not strict JSON.
    #[error("job request is not strict JSON: {0}")]
    Json(#[from] JsonError),
    /// The recipients policy sent with the job is not valid.
    #[error("job request field recipientsPolicy.document: {0}")]
    Policy(#[from] PolicyError),
    /// A member is missing, has the wrong type or an invalid value.
    #[error("job request field {field}: {problem}")]
    Field {
        /// JSON path of the field, e.g. `outputs[0].recipients[1].publicKey`.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> RequestError {
    RequestError::Field { field: field.into(), problem: problem.into() }
}

/// One input named by the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// Name (a path), as given.
    pub name: String,
    /// Expected SHA-256 of the SOPS file bytes.
    pub sha256: [u8; 32],
    /// Where the file claims to come from (issue 21): a path of a git
    /// commit, proven inside the enclave before any decrypt. `None`: a local
    /// file, recorded as such in the receipt.
    pub git: Option<GitSourceSpec>,
}

/// `inputs[].git` (issue 21): the commit and path a SOPS file claims to be
/// the blob of. The proof objects (commit body, tree bodies along `path`)
/// travel as extra files of the job, see [`crate::service::PackJob`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSourceSpec {
    /// The secrets repository's name, as the requester gives it (a URI or a
    /// label; recorded, not checked here: the auditor names the repository).
    pub repository: String,
    /// The commit id, lowercase hex of the object format's length.
    pub commit: String,
    /// The repository's object format.
    pub object_format: crate::gitproof::ObjectFormat,
    /// The file's path in the commit, `/`-separated.
    pub path: String,
}

impl GitSourceSpec {
    /// How many tree bodies the proof carries: one per path component (the
    /// root tree, then each directory the path walks through).
    pub fn tree_count(&self) -> usize {
        self.path.split('/').count()
    }
}

/// Longest `inputs[].git.repository` accepted.
pub const MAX_REPOSITORY: usize = 1024;

/// One sealed input named by the request (issue 10; see [`crate::seal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedInputSpec {
    /// Name (a path), as given; unique among inputs and sealed inputs.
    pub name: String,
    /// Expected SHA-256 of the sealed-input file bytes.
    pub sha256: [u8; 32],
    /// The user this job opens the input for (must be the user it was sealed for).
    pub user: String,
}

/// The optional KMS layer for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsWrapSpec {
    /// The KMS key to `Encrypt` the level-1 wrapped key under.
    pub arn: String,
    /// The requester's encryption context (no `proofpack:` keys).
    pub encryption_context: BTreeMap<String, String>,
}

/// One recipient of an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientSpec {
    /// DER SubjectPublicKeyInfo of the recipient's RSA key.
    pub public_key_der: Vec<u8>,
    /// The parsed key.
    pub public_key: rsa::RsaPublicKey,
    /// `keyId` = SHA-256 of `public_key_der`.
    pub key_id: [u8; 32],
    /// Optional level-2 KMS wrapping.
    pub kms: Option<KmsWrapSpec>,
}

/// One output artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// Artifact file name.
    pub name: String,
    /// Recipients, in order.
    pub recipients: Vec<RecipientSpec>,
}

/// The merge target: which service and environment layers to select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Service name (a key under `services` in the inputs).
    pub service: String,
    /// Environment name (a key under `environments` in the inputs).
    pub environment: String,
}

/// A parsed job request together with its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRequest {
    bytes: Vec<u8>,
    sha256: [u8; 32],
    /// `jobId`.
    pub job_id: String,
    /// The nonce bytes (32..64).
    pub nonce: Vec<u8>,
    /// Inputs, in order.
    pub inputs: Vec<InputSpec>,
    /// Outputs, in order.
    pub outputs: Vec<OutputSpec>,
    /// The merge target; when absent every input document is a defaults layer.
    pub target: Option<Target>,
    /// Operator claim: SHA-384 of the EIF (not attested).
    pub eif_sha384: Option<String>,
    /// Sealed inputs (empty when the request has no `sealedInputs`).
    pub sealed_inputs: Vec<SealedInputSpec>,
    /// SHA-256 of the org-key bundle, present iff there are sealed inputs.
    pub org_key_sha256: Option<[u8; 32]>,
    /// The recipients policy sent with the job (`recipientsPolicy.document`,
    /// issue 20): its digest must be the `proofpack:recipients` context of
    /// every input, and it decides which recipients the outputs may have.
    pub recipients_policy: Option<RecipientsPolicy>,
}

impl PackRequest {
    /// Parses and validates request bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, RequestError> {
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge(bytes.len()));
        }
        let v = json::parse_strict(bytes)?;
        let obj = v.as_object().ok_or_else(|| bad("(root)", "not a JSON object"))?;
        for k in obj.keys() {
            if !matches!(
                k.as_str(),
                "_type"
                    | "jobId"
                    | "nonce"
                    | "inputs"
                    | "outputs"
                    | "target"
                    | "eifSha384"
                    | "sealedInputs"
                    | "orgKey"
                    | "recipientsPolicy"
            ) {
                return Err(bad(k.clone(), "unknown member"));
            }
        }
        if str_at(&v, "_type", "_type")? != REQUEST_TYPE {
            return Err(bad("_type", format!("must be {REQUEST_TYPE}")));
        }
        let job_id = str_at(&v, "jobId", "jobId")?;
        if !fields::is_job_id(job_id) {
            return Err(bad("jobId", "must be 1..128 characters of [A-Za-z0-9._-]"));
        }
        let nonce_hex = str_at(&v, "nonce", "nonce")?;
        if !fields::is_nonce_hex(nonce_hex) {
            return Err(bad("nonce", "must be lowercase hex of 32..64 bytes"));
        }
        let nonce = hex::decode(nonce_hex).map_err(|e| bad("nonce", e.to_string()))?;

        let inputs_v = array_at(&v, "inputs", "inputs", MAX_INPUTS)?;
        let mut inputs = Vec::with_capacity(inputs_v.len());
        for (i, item) in inputs_v.iter().enumerate() {
            let path = format!("inputs[{i}]");
            only_members(item, &path, &["name", "sha256", "git"])?;
            let name = str_at(item, "name", &path)?;
            if !fields::is_input_name(name) {
                return Err(bad(format!("{path}.name"), "invalid input name"));
            }
            if inputs.iter().any(|x: &InputSpec| x.name == name) {
                return Err(bad(format!("{path}.name"), "duplicate input name"));
            }
            let sha = str_at(item, "sha256", &path)?;
            let sha256 = hex32(sha)
                .ok_or_else(|| bad(format!("{path}.sha256"), "must be 64 lowercase hex"))?;
            let git = match item.get("git") {
                None => None,
                Some(g) => Some(parse_git(g, &format!("{path}.git"))?),
            };
            inputs.push(InputSpec { name: name.to_owned(), sha256, git });
        }

        let outputs_v = array_at(&v, "outputs", "outputs", MAX_OUTPUTS)?;
        let mut outputs = Vec::with_capacity(outputs_v.len());
        for (i, item) in outputs_v.iter().enumerate() {
            let path = format!("outputs[{i}]");
            only_members(item, &path, &["name", "recipients"])?;
            let name = str_at(item, "name", &path)?;
            if !fields::is_artifact_name(name) {
                return Err(bad(format!("{path}.name"), "invalid artifact name"));
            }
            if outputs.iter().any(|x: &OutputSpec| x.name == name) {
                return Err(bad(format!("{path}.name"), "duplicate output name"));
            }
            let recips_v = array_at(item, "recipients", &path, MAX_RECIPIENTS)?;
            let mut recipients: Vec<RecipientSpec> = Vec::with_capacity(recips_v.len());
            for (j, r) in recips_v.iter().enumerate() {
                let rpath = format!("{path}.recipients[{j}]");
                let rec = parse_recipient(r, &rpath)?;
                if recipients.iter().any(|x| x.key_id == rec.key_id) {
                    return Err(bad(rpath, "duplicate recipient key"));
                }
                recipients.push(rec);
            }
            outputs.push(OutputSpec { name: name.to_owned(), recipients });
        }

        let target = match v.get("target") {
            None => None,
            Some(t) => {
                only_members(t, "target", &["service", "environment"])?;
                let service = str_at(t, "service", "target")?;
                let environment = str_at(t, "environment", "target")?;
                for (f, s) in [("target.service", service), ("target.environment", environment)] {
                    if !fields::is_job_id(s) {
                        return Err(bad(f, "must be 1..128 characters of [A-Za-z0-9._-]"));
                    }
                }
                Some(Target { service: service.to_owned(), environment: environment.to_owned() })
            }
        };
        let eif_sha384 = match v.get("eifSha384") {
            None => None,
            Some(e) => {
                let s = e.as_str().ok_or_else(|| bad("eifSha384", "not a string"))?;
                if !fields::is_hex_len(s, 48) {
                    return Err(bad("eifSha384", "must be 96 lowercase hex"));
                }
                Some(s.to_owned())
            }
        };
        let (sealed_inputs, org_key_sha256) = parse_sealed(&v, &inputs)?;
        let recipients_policy = match v.get("recipientsPolicy") {
            None => None,
            Some(p) => {
                only_members(p, "recipientsPolicy", &["document"])?;
                let b64 = str_at(p, "document", "recipientsPolicy")?;
                let doc = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| bad("recipientsPolicy.document", format!("bad base64: {e}")))?;
                Some(RecipientsPolicy::parse(&doc)?)
            }
        };
        Ok(Self {
            bytes: bytes.to_vec(),
            sha256: Sha256::digest(bytes).into(),
            job_id: job_id.to_owned(),
            nonce,
            inputs,
            outputs,
            target,
            eif_sha384,
            sealed_inputs,
            org_key_sha256,
            recipients_policy,
        })
    }

    /// The job's target as `(service, environment)`.
    pub fn target_pair(&self) -> Option<(&str, &str)> {
        self.target.as_ref().map(|t| (t.service.as_str(), t.environment.as_str()))
    }

    /// Lowercase hex SHA-256 of the recipients policy, if one was sent.
    pub fn policy_digest_hex(&self) -> Option<String> {
        self.recipients_policy.as_ref().map(RecipientsPolicy::context_value)
    }

    /// The exact request bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of the request bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }
}

/// `sealedInputs` (1..[`MAX_INPUTS`] of `{name, sha256, user}`) and
/// `orgKey` (`{sha256}`): both present or both absent.
fn parse_sealed(
    v: &Value,
    inputs: &[InputSpec],
) -> Result<(Vec<SealedInputSpec>, Option<[u8; 32]>), RequestError> {
    let org = match v.get("orgKey") {
        None => None,
        Some(o) => {
            only_members(o, "orgKey", &["sha256"])?;
            Some(
                hex32(str_at(o, "sha256", "orgKey")?)
                    .ok_or_else(|| bad("orgKey.sha256", "must be 64 lowercase hex"))?,
            )
        }
    };
    if v.get("sealedInputs").is_none() {
        return match org {
            None => Ok((Vec::new(), None)),
            Some(_) => Err(bad("orgKey", "only allowed together with sealedInputs")),
        };
    }
    let org = org.ok_or_else(|| bad("orgKey", "missing (required with sealedInputs)"))?;
    let items = array_at(v, "sealedInputs", "sealedInputs", MAX_INPUTS)?;
    let mut out: Vec<SealedInputSpec> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("sealedInputs[{i}]");
        only_members(item, &path, &["name", "sha256", "user"])?;
        let name = str_at(item, "name", &path)?;
        if !fields::is_input_name(name) {
            return Err(bad(format!("{path}.name"), "invalid input name"));
        }
        if inputs.iter().any(|x| x.name == name) || out.iter().any(|x| x.name == name) {
            return Err(bad(format!("{path}.name"), "duplicate input name"));
        }
        let sha256 = hex32(str_at(item, "sha256", &path)?)
            .ok_or_else(|| bad(format!("{path}.sha256"), "must be 64 lowercase hex"))?;
        let user = str_at(item, "user", &path)?;
        if !fields::is_job_id(user) {
            return Err(bad(format!("{path}.user"), "must be 1..128 characters of [A-Za-z0-9._-]"));
        }
        out.push(SealedInputSpec { name: name.to_owned(), sha256, user: user.to_owned() });
    }
    Ok((out, Some(org)))
}

/// `inputs[].git`: `{repository, commit, objectFormat, path}`.
fn parse_git(g: &Value, path: &str) -> Result<GitSourceSpec, RequestError> {
    use crate::gitproof::{ObjectFormat, MAX_PATH, MAX_PATH_COMPONENTS};
    only_members(g, path, &["repository", "commit", "objectFormat", "path"])?;
    let repository = str_at(g, "repository", path)?;
    if repository.is_empty()
        || repository.len() > MAX_REPOSITORY
        || repository.chars().any(char::is_control)
    {
        return Err(bad(
            format!("{path}.repository"),
            format!("must be 1..{MAX_REPOSITORY} bytes without control characters"),
        ));
    }
    let object_format = match str_at(g, "objectFormat", path)? {
        "sha1" => ObjectFormat::Sha1,
        "sha256" => ObjectFormat::Sha256,
        _ => return Err(bad(format!("{path}.objectFormat"), "must be sha1 or sha256")),
    };
    let commit = str_at(g, "commit", path)?;
    if commit.len() != object_format.hex_len() || !fields::is_lower_hex(commit) {
        return Err(bad(
            format!("{path}.commit"),
            format!("must be {} lowercase hex (a full commit id)", object_format.hex_len()),
        ));
    }
    let file = str_at(g, "path", path)?;
    let component_ok = |c: &str| !c.is_empty() && c != "." && c != "..";
    if file.is_empty()
        || file.len() > MAX_PATH
        || file.split('/').count() > MAX_PATH_COMPONENTS
        || file.chars().any(char::is_control)
        || !file.split('/').all(component_ok)
    {
        return Err(bad(
            format!("{path}.path"),
            format!(
                "must be a relative /-separated path (at most {MAX_PATH} bytes and \
                 {MAX_PATH_COMPONENTS} components, no control character, no empty, `.` or `..` component)"
            ),
        ));
    }
    Ok(GitSourceSpec {
        repository: repository.to_owned(),
        commit: commit.to_owned(),
        object_format,
        path: file.to_owned(),
    })
}

fn parse_recipient(r: &Value, path: &str) -> Result<RecipientSpec, RequestError> {
    only_members(r, path, &["publicKey", "kms"])?;
    let pk_b64 = str_at(r, "publicKey", path)?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(pk_b64)
        .map_err(|e| bad(format!("{path}.publicKey"), format!("bad base64: {e}")))?;
    let public_key = check_recipient_key(&der).map_err(|p| bad(format!("{path}.publicKey"), p))?;
    let kms = match r.get("kms") {
        None => None,
        Some(k) => {
            let kpath = format!("{path}.kms");
            only_members(k, &kpath, &["arn", "encryptionContext"])?;
            let arn = str_at(k, "arn", &kpath)?;
            if !fields::is_kms_arn(arn) {
                return Err(bad(format!("{kpath}.arn"), "not a KMS key or alias ARN"));
            }
            let encryption_context =
                enc_ctx(k.get("encryptionContext"), &format!("{kpath}.encryptionContext"))?;
            if encryption_context.keys().any(|k| k.starts_with(RESERVED_CONTEXT_PREFIX)) {
                return Err(bad(
                    format!("{kpath}.encryptionContext"),
                    format!("keys starting with {RESERVED_CONTEXT_PREFIX} are reserved"),
                ));
            }
            Some(KmsWrapSpec { arn: arn.to_owned(), encryption_context })
        }
    };
    Ok(RecipientSpec { key_id: Sha256::digest(&der).into(), public_key_der: der, public_key, kms })
}

/// Checks a recipient RSA key: DER SPKI, modulus 2048, 3072 or 4096 bits, e = 65537.
pub fn check_recipient_key(der: &[u8]) -> Result<rsa::RsaPublicKey, String> {
    let key =
        rsa::RsaPublicKey::from_public_key_der(der).map_err(|e| format!("not an RSA SPKI: {e}"))?;
    let bits = key.n().bits();
    if !matches!(bits, 2048 | 3072 | 4096) {
        return Err(format!("RSA modulus is {bits} bits; 2048, 3072 or 4096 required"));
    }
    if key.e() != &rsa::BigUint::from(65537u32) {
        return Err("RSA public exponent must be 65537".into());
    }
    Ok(key)
}

/// Parses an encryption context object (absent = empty).
pub fn enc_ctx(v: Option<&Value>, path: &str) -> Result<BTreeMap<String, String>, RequestError> {
    let mut out = BTreeMap::new();
    let Some(v) = v else { return Ok(out) };
    let obj = v.as_object().ok_or_else(|| bad(path, "not an object"))?;
    for (k, val) in obj {
        let s = val.as_str().ok_or_else(|| bad(format!("{path}.{k}"), "not a string"))?;
        out.insert(k.clone(), s.to_owned());
    }
    if !fields::is_enc_ctx(&out) {
        return Err(bad(path, "keys and values must be non-empty strings (at most 64 entries)"));
    }
    Ok(out)
}

fn only_members(v: &Value, path: &str, allowed: &[&str]) -> Result<(), RequestError> {
    let obj = v.as_object().ok_or_else(|| bad(path, "not a JSON object"))?;
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(format!("{path}.{k}"), "unknown member")),
        None => Ok(()),
    }
}

fn str_at<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, RequestError> {
    v.get(key)
        .ok_or_else(|| bad(join(path, key), "missing"))?
        .as_str()
        .ok_or_else(|| bad(join(path, key), "not a string"))
}

fn array_at<'a>(
    v: &'a Value,
    key: &str,
    path: &str,
    max: usize,
) -> Result<&'a Vec<Value>, RequestError> {
    let a = v
        .get(key)
        .ok_or_else(|| bad(join(path, key), "missing"))?
        .as_array()
        .ok_or_else(|| bad(join(path, key), "not an array"))?;
    if a.is_empty() || a.len() > max {
        return Err(bad(join(path, key), format!("must have 1..{max} entries")));
    }
    Ok(a)
}

fn join(path: &str, key: &str) -> String {
    if path == key {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn req(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"_type":"{REQUEST_TYPE}","jobId":"j1","nonce":"{}","inputs":[{{"name":"a.json","sha256":"{}"}}],"outputs":[{{"name":"o.ppa","recipients":[{{"publicKey":"{}"}}]}}]{extra}}}"#,
            "ab".repeat(32),
            "00".repeat(32),
            recipient_b64()
        )
        .into_bytes()
    }

    fn recipient_b64() -> String {
        let pem = include_str!("../../../testvectors/receipts/rsa_test_key_2048.pub.pem");
        let k = <rsa::RsaPublicKey as DecodePublicKey>::from_public_key_pem(pem).unwrap();
        let der = rsa::pkcs8::EncodePublicKey::to_public_key_der(&k).unwrap();
        base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
    }

    #[test]
    fn sealed_inputs_and_org_key_come_together() {
        let d = "11".repeat(32);
        let ok = PackRequest::parse(&req(&format!(
            r#","sealedInputs":[{{"name":"s.sealed","sha256":"{d}","user":"alice"}}],"orgKey":{{"sha256":"{d}"}}"#
        )))
        .unwrap();
        assert_eq!(ok.sealed_inputs[0].user, "alice");
        assert!(ok.org_key_sha256.is_some());
        assert!(PackRequest::parse(&req("")).unwrap().sealed_inputs.is_empty());
        for bad in [
            format!(r#","orgKey":{{"sha256":"{d}"}}"#),
            format!(r#","sealedInputs":[{{"name":"s","sha256":"{d}","user":"alice"}}]"#),
            format!(
                r#","sealedInputs":[{{"name":"a.json","sha256":"{d}","user":"alice"}}],"orgKey":{{"sha256":"{d}"}}"#
            ),
            format!(
                r#","sealedInputs":[{{"name":"s","sha256":"{d}","user":"a/b"}}],"orgKey":{{"sha256":"{d}"}}"#
            ),
            format!(
                r#","sealedInputs":[{{"name":"s","sha256":"{d}","user":"a","x":1}}],"orgKey":{{"sha256":"{d}"}}"#
            ),
        ] {
            assert!(PackRequest::parse(&req(&bad)).is_err(), "{bad}");
        }
    }

    fn with_git(git: &str) -> Vec<u8> {
        format!(
            r#"{{"_type":"{REQUEST_TYPE}","jobId":"j1","nonce":"{}","inputs":[{{"name":"a.json","sha256":"{}","git":{git}}}],"outputs":[{{"name":"o.ppa","recipients":[{{"publicKey":"{}"}}]}}]}}"#,
            "ab".repeat(32),
            "00".repeat(32),
            recipient_b64()
        )
        .into_bytes()
    }

    fn git_member(repository: &str, commit: &str, format: &str, path: &str) -> String {
        serde_json::json!({"repository": repository, "commit": commit,
            "objectFormat": format, "path": path})
        .to_string()
    }

    #[test]
    fn git_member_is_parsed_strictly() {
        let c1 = "a1".repeat(20);
        let c256 = "b2".repeat(32);
        let ok = PackRequest::parse(&with_git(&git_member("r", &c1, "sha1", "s/p.json"))).unwrap();
        let g = ok.inputs[0].git.clone().unwrap();
        assert_eq!((g.commit.as_str(), g.path.as_str()), (c1.as_str(), "s/p.json"));
        assert_eq!(g.object_format, crate::gitproof::ObjectFormat::Sha1);
        assert_eq!(g.tree_count(), 2);
        let ok = PackRequest::parse(&with_git(&git_member("r", &c256, "sha256", "p"))).unwrap();
        assert_eq!(ok.inputs[0].git.as_ref().unwrap().tree_count(), 1);
        assert!(PackRequest::parse(&req("")).unwrap().inputs[0].git.is_none());
        let long = "d/".repeat(64) + "f";
        for (bad, field) in [
            (git_member("r", &c256, "sha1", "p"), "commit"),
            (git_member("r", &c1, "sha256", "p"), "commit"),
            (git_member("r", &c1.to_uppercase(), "sha1", "p"), "commit"),
            (git_member("r", &c1, "md5", "p"), "objectFormat"),
            (git_member("", &c1, "sha1", "p"), "repository"),
            (git_member("r\n", &c1, "sha1", "p"), "repository"),
            (git_member("r", &c1, "sha1", ""), "path"),
            (git_member("r", &c1, "sha1", "/etc/p"), "path"),
            (git_member("r", &c1, "sha1", "a/../p"), "path"),
            (git_member("r", &c1, "sha1", "a//p"), "path"),
            (git_member("r", &c1, "sha1", "./p"), "path"),
            (git_member("r", &c1, "sha1", &long), "path"),
            (
                format!(
                    r#"{{"repository":"r","commit":"{c1}","objectFormat":"sha1","path":"p","x":1}}"#
                ),
                "x",
            ),
            (r#"{"repository":"r","objectFormat":"sha1","path":"p"}"#.to_owned(), "commit"),
        ] {
            match PackRequest::parse(&with_git(&bad)) {
                Err(RequestError::Field { field: f, .. }) => {
                    assert!(
                        f.starts_with("inputs[0].git") && f.ends_with(field) || f.contains(field),
                        "{bad}: {f}"
                    )
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
