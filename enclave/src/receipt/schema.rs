//! Strict schema checks of a receipt Statement (receipts.md §6 steps 4, 10
//! and 11). Each check returns every problem found, as a path and a reason,
//! so a verifier can report all of them.

use serde_json::{Map, Value};

use super::fields;
use super::statement::{PREDICATE_TYPE, STATEMENT_TYPE};
use crate::envelope::{KEY_WRAP, MEDIA_TYPE};

/// One schema problem.
pub type Problem = String;

struct Ctx {
    problems: Vec<Problem>,
}

impl Ctx {
    fn bad(&mut self, path: &str, why: &str) {
        if self.problems.len() < 100 {
            self.problems.push(format!("{path}: {why}"));
        }
    }

    fn obj<'a>(
        &mut self,
        v: Option<&'a Value>,
        path: &str,
        required: &[&str],
        optional: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Some(v) = v else {
            self.bad(path, "missing");
            return None;
        };
        let Some(o) = v.as_object() else {
            self.bad(path, "not an object");
            return None;
        };
        for r in required {
            if !o.contains_key(*r) {
                self.bad(&format!("{path}.{r}"), "missing");
            }
        }
        for k in o.keys() {
            if !required.contains(&k.as_str()) && !optional.contains(&k.as_str()) {
                self.bad(&format!("{path}.{k}"), "unknown member");
            }
        }
        Some(o)
    }

    fn str_<'a>(
        &mut self,
        o: &'a Map<String, Value>,
        key: &str,
        path: &str,
        ok: impl Fn(&str) -> bool,
        why: &str,
    ) -> Option<&'a str> {
        match o.get(key) {
            None => None, // reported by obj()
            Some(Value::String(s)) if ok(s) => Some(s),
            Some(_) => {
                self.bad(&format!("{path}.{key}"), why);
                None
            }
        }
    }

    fn digest(&mut self, v: Option<&Value>, path: &str) {
        let Some(o) = v.and_then(Value::as_object) else {
            self.bad(path, "missing or not a digest object");
            return;
        };
        if !o.contains_key("sha256") {
            self.bad(path, "missing sha256");
        }
        for (alg, val) in o {
            let len = match alg.as_str() {
                "sha256" => 32,
                "sha384" => 48,
                "sha512" => 64,
                _ => {
                    self.bad(&format!("{path}.{alg}"), "algorithm not allowed");
                    continue;
                }
            };
            if !val.as_str().is_some_and(|s| fields::is_hex_len(s, len)) {
                self.bad(&format!("{path}.{alg}"), "not lowercase hex of the right length");
            }
        }
    }

    fn enc_ctx(&mut self, v: Option<&Value>, path: &str) {
        let Some(o) = v.and_then(Value::as_object) else {
            self.bad(path, "missing or not an object");
            return;
        };
        let mut m = std::collections::BTreeMap::new();
        for (k, val) in o {
            match val.as_str() {
                Some(s) => {
                    m.insert(k.clone(), s.to_owned());
                }
                None => self.bad(&format!("{path}.{k}"), "not a string"),
            }
        }
        if !fields::is_enc_ctx(&m) {
            self.bad(path, "keys and values must be non-empty strings");
        }
    }

    fn kms_call(&mut self, v: Option<&Value>, path: &str) {
        let Some(o) = self.obj(
            v,
            path,
            &["operation", "arn", "encryptionContext", "recipient", "requestId", "outcome"],
            &["keyArn"],
        ) else {
            return;
        };
        self.str_(
            o,
            "operation",
            path,
            |s| s == "Decrypt" || s == "Encrypt",
            "must be Decrypt or Encrypt",
        );
        self.str_(o, "arn", path, fields::is_kms_arn, "not a KMS ARN");
        self.str_(o, "keyArn", path, fields::is_kms_arn, "not a KMS ARN");
        self.str_(
            o,
            "requestId",
            path,
            |s| !s.is_empty() && s.len() <= 128,
            "must be 1..128 characters",
        );
        self.str_(
            o,
            "outcome",
            path,
            |s| {
                s == "ok"
                    || s.strip_prefix("error:").is_some_and(|c| {
                        !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric())
                    })
            },
            "must be ok or error:<Code>",
        );
        if o.get("recipient").is_some_and(|r| !r.is_boolean()) {
            self.bad(&format!("{path}.recipient"), "not a boolean");
        }
        self.enc_ctx(o.get("encryptionContext"), &format!("{path}.encryptionContext"));
    }

    fn time(&mut self, o: &Map<String, Value>, key: &str, path: &str) {
        self.str_(o, key, path, is_time, "not YYYY-MM-DDTHH:MM:SS.sssZ");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` that parses as a time.
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

/// Step 4: the two attestation documents, decoded (the only pre-signature read).
pub fn extract_documents(statement: &Value) -> Result<(Vec<u8>, Vec<u8>), Problem> {
    use base64::Engine as _;
    let get = |which: &str| -> Result<Vec<u8>, Problem> {
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

/// Step 10: the Statement layer.
pub fn check_statement(v: &Value) -> Vec<Problem> {
    let mut c = Ctx { problems: Vec::new() };
    let Some(o) = v.as_object() else { return vec!["(root): not an object".into()] };
    if o.get("_type").and_then(Value::as_str) != Some(STATEMENT_TYPE) {
        c.bad("_type", "must be https://in-toto.io/Statement/v1");
    }
    if o.get("predicateType").and_then(Value::as_str) != Some(PREDICATE_TYPE) {
        c.bad("predicateType", "must be https://proofpack.dev/pack-receipt/v1");
    }
    match o.get("subject").and_then(Value::as_array) {
        None => c.bad("subject", "missing or not an array"),
        Some(a) if a.is_empty() => c.bad("subject", "empty"),
        Some(a) => {
            let mut names = std::collections::BTreeSet::new();
            for (i, s) in a.iter().enumerate() {
                let p = format!("subject[{i}]");
                let Some(so) = c.obj(Some(s), &p, &["name", "digest"], &[]) else { continue };
                if let Some(n) =
                    c.str_(so, "name", &p, fields::is_artifact_name, "invalid artifact name")
                {
                    if !names.insert(n.to_owned()) {
                        c.bad(&p, "duplicate name");
                    }
                }
                c.digest(so.get("digest"), &format!("{p}.digest"));
            }
        }
    }
    if !o.get("predicate").is_some_and(Value::is_object) {
        c.bad("predicate", "missing or not an object");
    }
    c.problems
}

/// Step 11: the predicate, exactly as §3.3 (no unknown members).
pub fn check_predicate(p: &Value) -> Vec<Problem> {
    let mut c = Ctx { problems: Vec::new() };
    let Some(o) = c.obj(
        Some(p),
        "predicate",
        &["job", "enclave", "attestation", "source", "inputs", "outputs", "time", "tools"],
        &["orgKey", "sealedInputs", "recipientsPolicy"],
    ) else {
        return c.problems;
    };
    check_sealed(&mut c, o);
    if o.contains_key("recipientsPolicy") {
        let path = "recipientsPolicy";
        if let Some(r) = c.obj(o.get(path), path, &["unboundInputsAllowed"], &["sha256"]) {
            c.str_(r, "sha256", path, |s| fields::is_hex_len(s, 32), "not Hex256");
            if r.get("unboundInputsAllowed").is_some_and(|v| !v.is_boolean()) {
                c.bad("recipientsPolicy.unboundInputsAllowed", "not a boolean");
            }
        }
    }
    if let Some(j) = c.obj(o.get("job"), "job", &["id", "request", "requestSha256", "nonce"], &[]) {
        c.str_(j, "id", "job", fields::is_job_id, "invalid job id");
        c.str_(j, "request", "job", |s| b64_ok(s) && s.len() <= 90_000, "not base64 (≤ 64 KiB)");
        c.str_(j, "requestSha256", "job", |s| fields::is_hex_len(s, 32), "not Hex256");
        c.str_(j, "nonce", "job", fields::is_nonce_hex, "not hex of 32..64 bytes");
    }
    if let Some(e) = c.obj(o.get("enclave"), "enclave", &["moduleId", "pcrs"], &["eifSha384"]) {
        c.str_(e, "moduleId", "enclave", |s| !s.is_empty() && s.len() <= 256, "invalid module id");
        c.str_(e, "eifSha384", "enclave", |s| fields::is_hex_len(s, 48), "not Hex384");
        if let Some(pc) = c.obj(e.get("pcrs"), "enclave.pcrs", &["0", "1", "2", "3", "4", "8"], &[])
        {
            for (k, v) in pc {
                if !v.as_str().is_some_and(|s| fields::is_hex_len(s, 48)) {
                    c.bad(&format!("enclave.pcrs.{k}"), "not Hex384");
                }
            }
        }
    }
    if let Some(a) = c.obj(o.get("attestation"), "attestation", &["kms", "receipt"], &[]) {
        for which in ["kms", "receipt"] {
            let path = format!("attestation.{which}");
            if let Some(d) = c.obj(
                a.get(which),
                &path,
                &["document", "sha384", "timestamp", "publicKeySha256"],
                &[],
            ) {
                c.str_(d, "document", &path, b64_ok, "not base64");
                c.str_(d, "sha384", &path, |s| fields::is_hex_len(s, 48), "not Hex384");
                c.str_(d, "publicKeySha256", &path, |s| fields::is_hex_len(s, 32), "not Hex256");
                c.time(d, "timestamp", &path);
            }
        }
    }
    if let Some(s) = c.obj(
        o.get("source"),
        "source",
        &["repository", "commit", "tree", "buildSpec", "buildInfoSha256"],
        &["ref", "profile", "dirty"],
    ) {
        c.str_(s, "repository", "source", |x| !x.is_empty(), "empty");
        c.str_(s, "ref", "source", |x| !x.is_empty(), "empty");
        c.str_(s, "profile", "source", |x| !x.is_empty(), "empty");
        if s.get("dirty").is_some_and(|d| d != &Value::Bool(true)) {
            c.bad("source.dirty", "present only as true");
        }
        c.str_(s, "tree", "source", fields::is_git_id, "not a git id");
        c.str_(s, "buildInfoSha256", "source", |x| fields::is_hex_len(x, 32), "not Hex256");
        if let Some(cm) = c.obj(s.get("commit"), "source.commit", &["gitCommit"], &[]) {
            c.str_(cm, "gitCommit", "source.commit", fields::is_git_id, "not a git id");
        }
        if let Some(bs) = c.obj(s.get("buildSpec"), "source.buildSpec", &["path", "digest"], &[]) {
            c.str_(
                bs,
                "path",
                "source.buildSpec",
                |x| !x.is_empty() && !x.contains('\\'),
                "invalid path",
            );
            c.digest(bs.get("digest"), "source.buildSpec.digest");
        }
    }
    match o.get("inputs").and_then(Value::as_array) {
        None => c.bad("inputs", "missing or not an array"),
        Some(a) if a.is_empty() => c.bad("inputs", "empty"),
        Some(a) => {
            for (i, inp) in a.iter().enumerate() {
                let p = format!("inputs[{i}]");
                let Some(io) =
                    c.obj(Some(inp), &p, &["name", "digest", "format", "sops", "kms"], &[])
                else {
                    continue;
                };
                c.str_(io, "name", &p, fields::is_input_name, "invalid input name");
                c.digest(io.get("digest"), &format!("{p}.digest"));
                c.str_(
                    io,
                    "format",
                    &p,
                    |s| s == "sops-yaml" || s == "sops-json",
                    "must be sops-yaml or sops-json",
                );
                let sp = format!("{p}.sops");
                if let Some(so) = c.obj(
                    io.get("sops"),
                    &sp,
                    &["version", "lastModified", "mac", "macVerified"],
                    &[],
                ) {
                    c.str_(so, "version", &sp, |_| true, "not a string");
                    c.str_(so, "lastModified", &sp, |s| !s.is_empty(), "empty");
                    c.str_(
                        so,
                        "mac",
                        &sp,
                        |s| s.starts_with("ENC[AES256_GCM,"),
                        "not an ENC[AES256_GCM,…] string",
                    );
                    if so.get("macVerified") != Some(&Value::Bool(true)) {
                        c.bad(&format!("{sp}.macVerified"), "must be true");
                    }
                }
                match io.get("kms").and_then(Value::as_array) {
                    Some(calls) if !calls.is_empty() => {
                        for (j, call) in calls.iter().enumerate() {
                            c.kms_call(Some(call), &format!("{p}.kms[{j}]"));
                        }
                    }
                    _ => c.bad(&format!("{p}.kms"), "missing, empty or not an array"),
                }
            }
        }
    }
    match o.get("outputs").and_then(Value::as_array) {
        None => c.bad("outputs", "missing or not an array"),
        Some(a) if a.is_empty() => c.bad("outputs", "empty"),
        Some(a) => {
            for (i, out) in a.iter().enumerate() {
                let p = format!("outputs[{i}]");
                let Some(oo) = c.obj(
                    Some(out),
                    &p,
                    &["name", "digest", "size", "mediaType", "recipients"],
                    &[],
                ) else {
                    continue;
                };
                c.str_(oo, "name", &p, fields::is_artifact_name, "invalid artifact name");
                c.digest(oo.get("digest"), &format!("{p}.digest"));
                c.str_(oo, "mediaType", &p, |s| s == MEDIA_TYPE, "wrong media type");
                if !oo
                    .get("size")
                    .and_then(Value::as_u64)
                    .is_some_and(|n| n <= crate::json::MAX_SAFE_INT)
                {
                    c.bad(&format!("{p}.size"), "not an integer in [0, 2^53)");
                }
                match oo.get("recipients").and_then(Value::as_array) {
                    Some(rs) if !rs.is_empty() => {
                        for (j, r) in rs.iter().enumerate() {
                            let rp = format!("{p}.recipients[{j}]");
                            let Some(ro) = c.obj(Some(r), &rp, &["keyId", "keyWrap"], &["kms"])
                            else {
                                continue;
                            };
                            c.str_(ro, "keyId", &rp, |s| fields::is_hex_len(s, 32), "not Hex256");
                            c.str_(
                                ro,
                                "keyWrap",
                                &rp,
                                |s| s == KEY_WRAP,
                                "must be RSA-OAEP-SHA512",
                            );
                            if ro.contains_key("kms") {
                                c.kms_call(ro.get("kms"), &format!("{rp}.kms"));
                            }
                        }
                    }
                    _ => c.bad(&format!("{p}.recipients"), "missing, empty or not an array"),
                }
            }
        }
    }
    if let Some(t) = c.obj(o.get("time"), "time", &["startedOn", "finishedOn"], &[]) {
        c.time(t, "startedOn", "time");
        c.time(t, "finishedOn", "time");
    }
    match o.get("tools").and_then(Value::as_object) {
        Some(t) if t.contains_key("proofpack") => {
            for (k, v) in t {
                if !v.is_string() {
                    c.bad(&format!("tools.{k}"), "not a string");
                }
            }
        }
        _ => c.bad("tools", "missing, not an object or without proofpack"),
    }
    c.problems
}

/// The optional issue-10 members: `orgKey` and `sealedInputs` come together.
fn check_sealed(c: &mut Ctx, o: &Map<String, Value>) {
    match (o.get("orgKey"), o.get("sealedInputs")) {
        (None, None) => return,
        (Some(_), None) => c.bad("sealedInputs", "missing (orgKey is present)"),
        (None, Some(_)) => c.bad("orgKey", "missing (sealedInputs is present)"),
        (Some(_), Some(_)) => {}
    }
    if let Some(k) = c.obj(o.get("orgKey"), "orgKey", &["fingerprint", "kms"], &[]) {
        c.str_(k, "fingerprint", "orgKey", |s| fields::is_hex_len(s, 32), "not Hex256");
        c.kms_call(k.get("kms"), "orgKey.kms");
    }
    match o.get("sealedInputs").and_then(Value::as_array) {
        None => c.bad("sealedInputs", "missing or not an array"),
        Some(a) if a.is_empty() || a.len() > 64 => c.bad("sealedInputs", "must have 1..64 entries"),
        Some(a) => {
            for (i, inp) in a.iter().enumerate() {
                let p = format!("sealedInputs[{i}]");
                let Some(io) = c.obj(
                    Some(inp),
                    &p,
                    &["name", "digest", "user", "contentType", "kms"],
                    &["job"],
                ) else {
                    continue;
                };
                c.str_(io, "name", &p, fields::is_input_name, "invalid input name");
                c.digest(io.get("digest"), &format!("{p}.digest"));
                c.str_(io, "user", &p, fields::is_job_id, "invalid user");
                c.str_(io, "job", &p, fields::is_job_id, "invalid job id");
                c.str_(io, "contentType", &p, |s| !s.is_empty() && s.len() <= 255, "invalid");
                match io.get("kms").and_then(Value::as_array) {
                    Some(calls) if !calls.is_empty() => {
                        for (j, call) in calls.iter().enumerate() {
                            c.kms_call(Some(call), &format!("{p}.kms[{j}]"));
                        }
                    }
                    _ => c.bad(&format!("{p}.kms"), "missing, empty or not an array"),
                }
            }
        }
    }
}
