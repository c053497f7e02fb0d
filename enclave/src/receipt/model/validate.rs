//! The value rules of the receipt schema (docs/formats/receipts.md §3.2, §3.3; §6 steps 10
//! and 11): what serde cannot express about the [`super`] model (hex lengths,
//! ARNs, names, times, fixed strings, non-empty arrays, members that come
//! together).
//!
//! Shape problems (a missing or unknown member, a wrong type, a `null`) are
//! found by deserialisation and reported as one problem; value problems are
//! all collected, each as `path: reason`, so a verifier can report all of
//! them.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::{
    Attestations, DigestSet, Enclave, Input, Job, KmsCallRecord, OrgKey, Output, Predicate,
    RecipientsPolicy, SealedInput, SecretsOrigin, SecretsSource, Source, StatementLayer, Subject,
    Times, PREDICATE_TYPE, STATEMENT_TYPE,
};
use crate::envelope::{KEY_WRAP, MEDIA_TYPE};
use crate::receipt::fields;

/// Most problems reported for one layer.
const MAX_PROBLEMS: usize = 100;

/// A receipt layer does not match the schema: every problem found, as
/// `path: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct SchemaError(pub Vec<String>);

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn bad(&mut self, path: &str, why: &str) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(format!("{path}: {why}"));
        }
    }

    fn check(&mut self, ok: bool, path: &str, why: &str) {
        if !ok {
            self.bad(path, why);
        }
    }

    fn opt(&mut self, v: Option<&String>, ok: impl Fn(&str) -> bool, path: &str, why: &str) {
        if let Some(s) = v {
            self.check(ok(s), path, why);
        }
    }

    fn digest(&mut self, d: &DigestSet, path: &str) {
        let why = "not lowercase hex of the right length";
        self.check(fields::is_hex_len(&d.sha256, 32), &format!("{path}.sha256"), why);
        self.opt(d.sha384.as_ref(), |s| fields::is_hex_len(s, 48), &format!("{path}.sha384"), why);
        self.opt(d.sha512.as_ref(), |s| fields::is_hex_len(s, 64), &format!("{path}.sha512"), why);
    }

    fn kms_call(&mut self, c: &KmsCallRecord, path: &str) {
        self.check(
            c.operation == "Decrypt" || c.operation == "Encrypt",
            &format!("{path}.operation"),
            "must be Decrypt or Encrypt",
        );
        self.check(fields::is_kms_arn(&c.arn), &format!("{path}.arn"), "not a KMS ARN");
        self.opt(
            c.key_arn.as_ref(),
            fields::is_kms_arn,
            &format!("{path}.keyArn"),
            "not a KMS ARN",
        );
        self.check(
            !c.request_id.is_empty() && c.request_id.len() <= 128,
            &format!("{path}.requestId"),
            "must be 1..128 characters",
        );
        self.check(
            is_outcome(&c.outcome),
            &format!("{path}.outcome"),
            "must be ok or error:<Code>",
        );
        self.check(
            fields::is_enc_ctx(&c.encryption_context),
            &format!("{path}.encryptionContext"),
            "keys and values must be non-empty strings",
        );
    }

    fn kms_calls(&mut self, calls: &[KmsCallRecord], path: &str) {
        if calls.is_empty() {
            self.bad(&format!("{path}.kms"), "missing, empty or not an array");
        }
        for (j, call) in calls.iter().enumerate() {
            self.kms_call(call, &format!("{path}.kms[{j}]"));
        }
    }

    fn time(&mut self, s: &str, path: &str) {
        self.check(is_time(s), path, "not YYYY-MM-DDTHH:MM:SS.sssZ");
    }

    fn into_result(self) -> Result<(), SchemaError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SchemaError(self.0))
        }
    }
}

fn is_outcome(s: &str) -> bool {
    s == "ok"
        || s.strip_prefix("error:")
            .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` that parses as a time (docs/formats/receipts.md §3.2 `Time`).
pub fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

fn b64_ok(s: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}

/// A shape probe of one member: on failure, the path suffix inside the
/// member (an array index) and serde's reason.
type Probe = fn(&Value) -> Result<(), (String, serde_json::Error)>;

fn one<T: DeserializeOwned>(v: &Value) -> Result<(), (String, serde_json::Error)> {
    T::deserialize(v).map(drop).map_err(|e| (String::new(), e))
}

fn each<T: DeserializeOwned>(v: &Value) -> Result<(), (String, serde_json::Error)> {
    for (i, x) in v.as_array().into_iter().flatten().enumerate() {
        T::deserialize(x).map_err(|e| (format!("[{i}]"), e))?;
    }
    Vec::<T>::deserialize(v).map(drop).map_err(|e| (String::new(), e))
}

/// Deserialises one layer. serde's errors carry no path, so on failure the
/// members are probed one by one to name the one at fault (`inputs[1]:
/// missing field ...`); a missing or unknown member of the layer itself is
/// reported under `path`.
fn shape<T: DeserializeOwned>(
    v: &Value,
    path: &str,
    members: &[(&str, Probe)],
) -> Result<T, SchemaError> {
    T::deserialize(v).map_err(|e| {
        let at = members.iter().find_map(|(key, probe)| {
            let (suffix, e) = probe(v.get(*key)?).err()?;
            Some(format!("{key}{suffix}: {e}"))
        });
        SchemaError(vec![at.unwrap_or_else(|| format!("{path}: {e}"))])
    })
}

const STATEMENT_MEMBERS: [(&str, Probe); 1] = [("subject", each::<Subject>)];

const PREDICATE_MEMBERS: [(&str, Probe); 12] = [
    ("job", one::<Job>),
    ("enclave", one::<Enclave>),
    ("attestation", one::<Attestations>),
    ("source", one::<Source>),
    ("inputs", each::<Input>),
    ("outputs", each::<Output>),
    ("time", one::<Times>),
    ("tools", one::<std::collections::BTreeMap<String, String>>),
    ("orgKey", one::<OrgKey>),
    ("sealedInputs", each::<SealedInput>),
    ("recipientsPolicy", one::<RecipientsPolicy>),
    ("secretsSource", each::<SecretsSource>),
];

impl StatementLayer {
    /// Step 10: reads and checks the Statement layer (the predicate only has
    /// to be an object here; [`Predicate::from_value`] checks it).
    pub fn from_value(v: &Value) -> Result<Self, SchemaError> {
        if !v.is_object() {
            return Err(SchemaError(vec!["(root): not an object".into()]));
        }
        let st: Self = shape(v, "(root)", &STATEMENT_MEMBERS)?;
        let mut c = Problems::default();
        c.check(st.type_ == STATEMENT_TYPE, "_type", "must be https://in-toto.io/Statement/v1");
        c.check(
            st.predicate_type == PREDICATE_TYPE,
            "predicateType",
            "must be https://proofpack.dev/pack-receipt/v1",
        );
        c.check(!st.subject.is_empty(), "subject", "empty");
        let mut names = BTreeSet::new();
        for (i, s) in st.subject.iter().enumerate() {
            let p = format!("subject[{i}]");
            if !fields::is_artifact_name(&s.name) {
                c.bad(&format!("{p}.name"), "invalid artifact name");
            } else if !names.insert(s.name.as_str()) {
                c.bad(&p, "duplicate name");
            }
            c.digest(&s.digest, &format!("{p}.digest"));
        }
        c.into_result().map(|()| st)
    }
}

impl Predicate {
    /// Step 11: reads the predicate and checks it against docs/formats/receipts.md §3.3
    /// exactly (no unknown members, no `null`, every value rule).
    pub fn from_value(v: &Value) -> Result<Self, SchemaError> {
        let p: Self = shape(v, "predicate", &PREDICATE_MEMBERS)?;
        p.validate().map(|()| p)
    }

    /// The value rules of §3.3 on an already-shaped predicate.
    pub fn validate(&self) -> Result<(), SchemaError> {
        let mut c = Problems::default();
        self.check_sealed(&mut c);
        self.check_secrets_source(&mut c);
        if let Some(r) = &self.recipients_policy {
            c.opt(
                r.sha256.as_ref(),
                |s| fields::is_hex_len(s, 32),
                "recipientsPolicy.sha256",
                "not Hex256",
            );
        }
        let j = &self.job;
        c.check(fields::is_job_id(&j.id), "job.id", "invalid job id");
        c.check(
            b64_ok(&j.request) && j.request.len() <= 90_000,
            "job.request",
            "not base64 (≤ 64 KiB)",
        );
        c.check(fields::is_hex_len(&j.request_sha256, 32), "job.requestSha256", "not Hex256");
        c.check(fields::is_nonce_hex(&j.nonce), "job.nonce", "not hex of 32..64 bytes");
        let e = &self.enclave;
        c.check(
            !e.module_id.is_empty() && e.module_id.len() <= 256,
            "enclave.moduleId",
            "invalid module id",
        );
        c.opt(
            e.eif_sha384.as_ref(),
            |s| fields::is_hex_len(s, 48),
            "enclave.eifSha384",
            "not Hex384",
        );
        for (i, v) in e.pcrs.iter() {
            c.check(fields::is_hex_len(v, 48), &format!("enclave.pcrs.{i}"), "not Hex384");
        }
        for (which, d) in [("kms", &self.attestation.kms), ("receipt", &self.attestation.receipt)] {
            let path = format!("attestation.{which}");
            c.check(b64_ok(&d.document), &format!("{path}.document"), "not base64");
            c.check(fields::is_hex_len(&d.sha384, 48), &format!("{path}.sha384"), "not Hex384");
            c.check(
                fields::is_hex_len(&d.public_key_sha256, 32),
                &format!("{path}.publicKeySha256"),
                "not Hex256",
            );
            c.time(&d.timestamp, &format!("{path}.timestamp"));
        }
        let s = &self.source;
        c.check(!s.repository.is_empty(), "source.repository", "empty");
        c.opt(s.r#ref.as_ref(), |x| !x.is_empty(), "source.ref", "empty");
        c.opt(s.profile.as_ref(), |x| !x.is_empty(), "source.profile", "empty");
        c.check(s.dirty != Some(false), "source.dirty", "present only as true");
        c.check(fields::is_git_id(&s.tree), "source.tree", "not a git id");
        c.check(
            fields::is_hex_len(&s.build_info_sha256, 32),
            "source.buildInfoSha256",
            "not Hex256",
        );
        c.check(fields::is_git_id(&s.commit.git_commit), "source.commit.gitCommit", "not a git id");
        c.check(
            !s.build_spec.path.is_empty() && !s.build_spec.path.contains('\\'),
            "source.buildSpec.path",
            "invalid path",
        );
        c.digest(&s.build_spec.digest, "source.buildSpec.digest");
        c.check(!self.inputs.is_empty(), "inputs", "empty");
        for (i, inp) in self.inputs.iter().enumerate() {
            check_input(&mut c, inp, &format!("inputs[{i}]"));
        }
        c.check(!self.outputs.is_empty(), "outputs", "empty");
        for (i, out) in self.outputs.iter().enumerate() {
            check_output(&mut c, out, &format!("outputs[{i}]"));
        }
        c.time(&self.time.started_on, "time.startedOn");
        c.time(&self.time.finished_on, "time.finishedOn");
        c.check(
            self.tools.contains_key("proofpack"),
            "tools",
            "missing, not an object or without proofpack",
        );
        c.into_result()
    }

    /// The optional issue-10 members: `orgKey` and `sealedInputs` come together.
    fn check_sealed(&self, c: &mut Problems) {
        match (&self.org_key, &self.sealed_inputs) {
            (None, None) => return,
            (Some(_), None) => c.bad("sealedInputs", "missing (orgKey is present)"),
            (None, Some(_)) => c.bad("orgKey", "missing (sealedInputs is present)"),
            (Some(_), Some(_)) => {}
        }
        if let Some(k) = &self.org_key {
            c.check(fields::is_hex_len(&k.fingerprint, 32), "orgKey.fingerprint", "not Hex256");
            c.kms_call(&k.kms, "orgKey.kms");
        }
        let Some(a) = &self.sealed_inputs else { return };
        if a.is_empty() || a.len() > 64 {
            c.bad("sealedInputs", "must have 1..64 entries");
            return;
        }
        for (i, s) in a.iter().enumerate() {
            let p = format!("sealedInputs[{i}]");
            c.check(fields::is_input_name(&s.name), &format!("{p}.name"), "invalid input name");
            c.digest(&s.digest, &format!("{p}.digest"));
            c.check(fields::is_job_id(&s.user), &format!("{p}.user"), "invalid user");
            c.opt(s.job.as_ref(), fields::is_job_id, &format!("{p}.job"), "invalid job id");
            c.check(
                !s.content_type.is_empty() && s.content_type.len() <= 255,
                &format!("{p}.contentType"),
                "invalid",
            );
            c.kms_calls(&s.kms, &p);
        }
    }
}

impl Predicate {
    /// The optional issue-21 member: one entry per input, same names and
    /// order; `git` entries complete and consistent with their object format.
    fn check_secrets_source(&self, c: &mut Problems) {
        let Some(list) = &self.secrets_source else { return };
        if list.len() != self.inputs.len() {
            c.bad("secretsSource", "must have one entry per input");
        }
        for (i, (s, inp)) in list.iter().zip(&self.inputs).enumerate() {
            let p = format!("secretsSource[{i}]");
            c.check(s.input == inp.name, &format!("{p}.input"), "differs from inputs[i].name");
            let git = [
                s.repository.is_some(),
                s.object_format.is_some(),
                s.commit.is_some(),
                s.path.is_some(),
                s.blob.is_some(),
            ];
            match s.origin {
                SecretsOrigin::Local => c.check(
                    !git.contains(&true),
                    &p,
                    "a local input has no repository, objectFormat, commit, path or blob",
                ),
                SecretsOrigin::Git => check_git_source(c, s, &p),
            }
        }
    }
}

fn check_git_source(c: &mut Problems, s: &SecretsSource, p: &str) {
    let hex_len = match s.object_format.as_deref() {
        Some("sha1") => 40,
        Some("sha256") => 64,
        _ => {
            c.bad(&format!("{p}.objectFormat"), "must be sha1 or sha256");
            return;
        }
    };
    let id_ok = |v: Option<&str>| v.is_some_and(|x| x.len() == hex_len && fields::is_lower_hex(x));
    c.check(
        s.repository.as_ref().is_some_and(|r| !r.is_empty() && r.len() <= 1024),
        &format!("{p}.repository"),
        "missing or not 1..1024 bytes",
    );
    c.check(
        id_ok(s.commit.as_ref().map(|x| x.git_commit.as_str())),
        &format!("{p}.commit.gitCommit"),
        "missing or not a commit id of the object format",
    );
    c.check(
        id_ok(s.blob.as_deref()),
        &format!("{p}.blob"),
        "missing or not a blob id of the object format",
    );
    c.check(
        s.path.as_ref().is_some_and(|x| {
            !x.is_empty()
                && x.len() <= crate::gitproof::MAX_PATH
                && x.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        }),
        &format!("{p}.path"),
        "missing or not a relative path",
    );
}

fn check_input(c: &mut Problems, inp: &Input, p: &str) {
    c.check(fields::is_input_name(&inp.name), &format!("{p}.name"), "invalid input name");
    c.digest(&inp.digest, &format!("{p}.digest"));
    c.check(
        inp.format == "sops-yaml" || inp.format == "sops-json",
        &format!("{p}.format"),
        "must be sops-yaml or sops-json",
    );
    let sp = format!("{p}.sops");
    c.check(!inp.sops.last_modified.is_empty(), &format!("{sp}.lastModified"), "empty");
    c.check(
        inp.sops.mac.starts_with("ENC[AES256_GCM,"),
        &format!("{sp}.mac"),
        "not an ENC[AES256_GCM,…] string",
    );
    c.check(inp.sops.mac_verified, &format!("{sp}.macVerified"), "must be true");
    c.kms_calls(&inp.kms, p);
}

fn check_output(c: &mut Problems, out: &Output, p: &str) {
    c.check(fields::is_artifact_name(&out.name), &format!("{p}.name"), "invalid artifact name");
    c.digest(&out.digest, &format!("{p}.digest"));
    c.check(out.media_type == MEDIA_TYPE, &format!("{p}.mediaType"), "wrong media type");
    c.check(
        out.size <= crate::json::MAX_SAFE_INT,
        &format!("{p}.size"),
        "not an integer in [0, 2^53)",
    );
    if out.recipients.is_empty() {
        c.bad(&format!("{p}.recipients"), "missing, empty or not an array");
    }
    for (j, r) in out.recipients.iter().enumerate() {
        let rp = format!("{p}.recipients[{j}]");
        c.check(fields::is_hex_len(&r.key_id, 32), &format!("{rp}.keyId"), "not Hex256");
        c.check(r.key_wrap == KEY_WRAP, &format!("{rp}.keyWrap"), "must be RSA-OAEP-SHA512");
        if let Some(k) = &r.kms {
            c.kms_call(k, &format!("{rp}.kms"));
        }
    }
}
