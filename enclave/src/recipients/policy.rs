//! The recipients-policy document: which recipient keys may receive the
//! output of which service/environment (docs/notes/recipients.md).
//!
//! The parser is strict (duplicate members rejected at any depth, unknown
//! members rejected, every list bounded) because the same bytes are hashed
//! into the KMS encryption context by the secrets' owners: two readers that
//! disagreed on what a policy allows would break that binding.

use sha2::{Digest, Sha256};

use crate::json::{self, JsonError};
use crate::receipt::fields::{self, hex32};

/// The `format` member of a version-1 policy.
pub const POLICY_FORMAT: &str = "https://proofpack.dev/recipients-policy/v1";
/// Largest accepted policy file. It rides inside the job request (64 KiB,
/// base64), so it must stay well below that.
pub const MAX_POLICY_BYTES: usize = 16 * 1024;
/// Most recipients in one policy (as many as an artifact can have).
pub const MAX_POLICY_RECIPIENTS: usize = 64;
/// Most `allow` entries per recipient.
pub const MAX_GRANTS: usize = 64;
/// Matches any service or any environment in an `allow` entry.
pub const WILDCARD: &str = "*";

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// Larger than [`MAX_POLICY_BYTES`].
    #[error("recipients policy is {0} bytes, more than the {MAX_POLICY_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not strict JSON (includes duplicate members). The cause is part of
    /// the message, not a `source`, so error chains do not repeat it.
    #[error("recipients policy is not strict JSON: {0}")]
    Json(JsonError),
    /// A member is missing, unknown or has a wrong type or value.
    #[error("recipients policy field {field}: {problem}")]
    Field {
        /// JSON path, e.g. `recipients[1].keyId`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// Two entries name the same key or the same name.
    #[error(
        "recipients policy: {what} {value} appears in recipients[{first}] and recipients[{second}]"
    )]
    Duplicate {
        /// `keyId` or `name`.
        what: &'static str,
        /// The repeated value.
        value: String,
        /// Index of the first entry.
        first: usize,
        /// Index of the repeat.
        second: usize,
    },
}

impl From<JsonError> for PolicyError {
    fn from(e: JsonError) -> Self {
        Self::Json(e)
    }
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> PolicyError {
    PolicyError::Field { field: field.into(), problem: problem.into() }
}

/// One `allow` entry: a service and an environment, each exact or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Service name or `*`.
    pub service: String,
    /// Environment name or `*`.
    pub environment: String,
}

impl Grant {
    /// Whether this grant covers a job's target (`None`: a job without a
    /// target, which only a `*`/`*` grant covers).
    pub fn covers(&self, target: Option<(&str, &str)>) -> bool {
        let part = |pat: &str, v: Option<&str>| pat == WILDCARD || Some(pat) == v;
        part(&self.service, target.map(|t| t.0)) && part(&self.environment, target.map(|t| t.1))
    }
}

/// One recipient the policy knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecipient {
    /// Human name (shown in refusals and audit reports).
    pub name: String,
    /// SHA-256 of the recipient's RSA SPKI DER (the artifact's `keyId`).
    pub key_id: [u8; 32],
    /// The artifact must also wrap this recipient's key with KMS.
    pub require_kms: bool,
    /// The service/environment pairs whose output it may receive.
    pub allow: Vec<Grant>,
}

/// A parsed policy and the SHA-256 of its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientsPolicy {
    sha256: [u8; 32],
    /// Recipients, in file order.
    pub recipients: Vec<PolicyRecipient>,
}

/// Why the policy does not allow one output recipient.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The key is not in the policy at all.
    #[error("recipient {key_id} is not in the recipients policy")]
    Unknown {
        /// Hex key id.
        key_id: String,
    },
    /// The key is known but not for this service/environment.
    #[error("recipient {name} ({key_id}) may not receive {target}")]
    NotForTarget {
        /// Policy name of the key.
        name: String,
        /// Hex key id.
        key_id: String,
        /// `service/environment`, or `(no target)`.
        target: String,
    },
    /// The policy requires a KMS layer for this key and the output has none.
    #[error(
        "recipient {name} ({key_id}) requires a KMS layer (requireKms) and the output has none"
    )]
    KmsRequired {
        /// Policy name of the key.
        name: String,
        /// Hex key id.
        key_id: String,
    },
}

/// `service/environment` for messages.
pub fn target_label(target: Option<(&str, &str)>) -> String {
    target.map_or_else(|| "(no target)".to_owned(), |(s, e)| format!("{s}/{e}"))
}

impl RecipientsPolicy {
    /// Parses a policy file (size checked first).
    pub fn parse(bytes: &[u8]) -> Result<Self, PolicyError> {
        if bytes.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge(bytes.len()));
        }
        let v = json::parse_strict(bytes)?;
        let obj = v.as_object().ok_or_else(|| bad("(root)", "not a JSON object"))?;
        if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "format" | "recipients")) {
            return Err(bad(k.clone(), "unknown member"));
        }
        match obj.get("format").map(|f| f.as_str()) {
            Some(Some(POLICY_FORMAT)) => {}
            Some(_) => return Err(bad("format", format!("must be {POLICY_FORMAT}"))),
            None => return Err(bad("format", "missing")),
        }
        let list = obj
            .get("recipients")
            .ok_or_else(|| bad("recipients", "missing"))?
            .as_array()
            .ok_or_else(|| bad("recipients", "not an array"))?;
        if list.is_empty() || list.len() > MAX_POLICY_RECIPIENTS {
            return Err(bad("recipients", format!("must have 1..{MAX_POLICY_RECIPIENTS} entries")));
        }
        let mut recipients: Vec<PolicyRecipient> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let r = parse_recipient(item, &format!("recipients[{i}]"))?;
            for (j, prev) in recipients.iter().enumerate() {
                let dup = |what, value| PolicyError::Duplicate { what, value, first: j, second: i };
                if prev.key_id == r.key_id {
                    return Err(dup("keyId", hex::encode(r.key_id)));
                }
                if prev.name == r.name {
                    return Err(dup("name", r.name.clone()));
                }
            }
            recipients.push(r);
        }
        Ok(Self { sha256: Sha256::digest(bytes).into(), recipients })
    }

    /// SHA-256 of the policy bytes.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The value the secrets' owners put in the encryption context
    /// (`proofpack:recipients`): lowercase hex of [`Self::sha256`].
    pub fn context_value(&self) -> String {
        hex::encode(self.sha256)
    }

    /// The policy entry for `key_id`, if any.
    pub fn find(&self, key_id: &[u8; 32]) -> Option<&PolicyRecipient> {
        self.recipients.iter().find(|r| &r.key_id == key_id)
    }

    /// Whether the output of `target` may go to `key_id`, wrapped with KMS
    /// or not (`has_kms`). Returns the policy entry when it may.
    pub fn check(
        &self,
        target: Option<(&str, &str)>,
        key_id: &[u8; 32],
        has_kms: bool,
    ) -> Result<&PolicyRecipient, Refusal> {
        let hex_id = hex::encode(key_id);
        let r = self.find(key_id).ok_or_else(|| Refusal::Unknown { key_id: hex_id.clone() })?;
        if !r.allow.iter().any(|g| g.covers(target)) {
            return Err(Refusal::NotForTarget {
                name: r.name.clone(),
                key_id: hex_id,
                target: target_label(target),
            });
        }
        if r.require_kms && !has_kms {
            return Err(Refusal::KmsRequired { name: r.name.clone(), key_id: hex_id });
        }
        Ok(r)
    }
}

/// Writes a policy document for `recipients` (pretty-printed JSON, members
/// in a fixed order; the digest is over whatever bytes the owners commit, so
/// this is a convenience for tools and tests, not a canonical form).
pub fn write_policy(recipients: &[PolicyRecipient]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = recipients
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "keyId": hex::encode(r.key_id),
                "requireKms": r.require_kms,
                "allow": r.allow.iter().map(|g| serde_json::json!({
                    "service": g.service, "environment": g.environment,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = serde_json::json!({"format": POLICY_FORMAT, "recipients": list});
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A policy entry allowing `spki_der`'s key for one service/environment.
pub fn entry(name: &str, spki_der: &[u8], service: &str, environment: &str) -> PolicyRecipient {
    PolicyRecipient {
        name: name.to_owned(),
        key_id: Sha256::digest(spki_der).into(),
        require_kms: false,
        allow: vec![Grant { service: service.to_owned(), environment: environment.to_owned() }],
    }
}

fn parse_recipient(item: &serde_json::Value, path: &str) -> Result<PolicyRecipient, PolicyError> {
    let o = item.as_object().ok_or_else(|| bad(path, "not a JSON object"))?;
    if let Some(k) =
        o.keys().find(|k| !matches!(k.as_str(), "name" | "keyId" | "requireKms" | "allow"))
    {
        return Err(bad(format!("{path}.{k}"), "unknown member"));
    }
    let s = |key: &str| -> Result<&str, PolicyError> {
        o.get(key)
            .ok_or_else(|| bad(format!("{path}.{key}"), "missing"))?
            .as_str()
            .ok_or_else(|| bad(format!("{path}.{key}"), "not a string"))
    };
    let name = s("name")?;
    if !fields::is_job_id(name) {
        return Err(bad(format!("{path}.name"), "must be 1..128 characters of [A-Za-z0-9._-]"));
    }
    let key_id = hex32(s("keyId")?).ok_or_else(|| {
        bad(format!("{path}.keyId"), "must be 64 lowercase hex (SHA-256 of the SPKI DER)")
    })?;
    let require_kms = match o.get("requireKms") {
        None => false,
        Some(b) => b.as_bool().ok_or_else(|| bad(format!("{path}.requireKms"), "not a boolean"))?,
    };
    let list = o
        .get("allow")
        .ok_or_else(|| bad(format!("{path}.allow"), "missing"))?
        .as_array()
        .ok_or_else(|| bad(format!("{path}.allow"), "not an array"))?;
    if list.is_empty() || list.len() > MAX_GRANTS {
        return Err(bad(format!("{path}.allow"), format!("must have 1..{MAX_GRANTS} entries")));
    }
    let mut allow = Vec::with_capacity(list.len());
    for (i, g) in list.iter().enumerate() {
        let gpath = format!("{path}.allow[{i}]");
        let go = g.as_object().ok_or_else(|| bad(&gpath, "not a JSON object"))?;
        if let Some(k) = go.keys().find(|k| !matches!(k.as_str(), "service" | "environment")) {
            return Err(bad(format!("{gpath}.{k}"), "unknown member"));
        }
        let part = |key: &str| -> Result<String, PolicyError> {
            let v = go
                .get(key)
                .ok_or_else(|| bad(format!("{gpath}.{key}"), "missing"))?
                .as_str()
                .ok_or_else(|| bad(format!("{gpath}.{key}"), "not a string"))?;
            if v != WILDCARD && !fields::is_job_id(v) {
                return Err(bad(
                    format!("{gpath}.{key}"),
                    "must be * or 1..128 characters of [A-Za-z0-9._-]",
                ));
            }
            Ok(v.to_owned())
        };
        let grant = Grant { service: part("service")?, environment: part("environment")? };
        allow.push(grant);
    }
    Ok(PolicyRecipient { name: name.to_owned(), key_id, require_kms, allow })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn doc(recipients: &str) -> Vec<u8> {
        format!(r#"{{"format":"{POLICY_FORMAT}","recipients":[{recipients}]}}"#).into_bytes()
    }

    fn entry(name: &str, id: u8, extra: &str, allow: &str) -> String {
        format!(
            r#"{{"name":"{name}","keyId":"{}"{extra},"allow":[{allow}]}}"#,
            hex::encode([id; 32])
        )
    }

    #[test]
    fn allows_exactly_what_it_lists() {
        let p = RecipientsPolicy::parse(&doc(&format!(
            "{},{}",
            entry("ops", 1, "", r#"{"service":"api","environment":"prod"}"#),
            entry("dev", 2, r#","requireKms":true"#, r#"{"service":"*","environment":"staging"}"#)
        )))
        .unwrap();
        assert_eq!(p.check(Some(("api", "prod")), &[1; 32], false).unwrap().name, "ops");
        assert!(matches!(
            p.check(Some(("api", "staging")), &[1; 32], false),
            Err(Refusal::NotForTarget { .. })
        ));
        assert!(matches!(
            p.check(Some(("web", "staging")), &[2; 32], false),
            Err(Refusal::KmsRequired { .. })
        ));
        assert!(p.check(Some(("web", "staging")), &[2; 32], true).is_ok());
        assert!(matches!(p.check(None, &[1; 32], false), Err(Refusal::NotForTarget { .. })));
        assert!(matches!(
            p.check(Some(("api", "prod")), &[3; 32], false),
            Err(Refusal::Unknown { .. })
        ));
        assert_eq!(
            p.context_value(),
            hex::encode(Sha256::digest(doc(&format!(
                "{},{}",
                entry("ops", 1, "", r#"{"service":"api","environment":"prod"}"#),
                entry(
                    "dev",
                    2,
                    r#","requireKms":true"#,
                    r#"{"service":"*","environment":"staging"}"#
                )
            ))))
        );
    }

    #[test]
    fn refuses_malformed_duplicate_and_oversized_policies() {
        let g = r#"{"service":"api","environment":"prod"}"#;
        let cases: Vec<Vec<u8>> = vec![
            doc(&format!("{},{}", entry("a", 1, "", g), entry("b", 1, "", g))),
            doc(&format!("{},{}", entry("a", 1, "", g), entry("a", 2, "", g))),
            doc(&entry("a", 1, r#","x":1"#, g)),
            doc(&entry("a", 1, r#","requireKms":"yes""#, g)),
            doc(&entry("a", 1, "", "")),
            doc(&entry("a b", 1, "", g)),
            doc(&entry("a", 1, "", r#"{"service":"api"}"#)),
            doc(&entry("a", 1, "", r#"{"service":"a/b","environment":"p"}"#)),
            doc(""),
            br#"{"format":"https://proofpack.dev/recipients-policy/v2","recipients":[]}"#.to_vec(),
            br#"{"format":"https://proofpack.dev/recipients-policy/v1","format":"x","recipients":[]}"#
                .to_vec(),
            b"[]".to_vec(),
            b"{".to_vec(),
            vec![b' '; MAX_POLICY_BYTES + 1],
        ];
        for c in cases {
            assert!(RecipientsPolicy::parse(&c).is_err(), "{}", String::from_utf8_lossy(&c));
        }
        assert!(matches!(
            RecipientsPolicy::parse(&doc(&format!(
                "{},{}",
                entry("a", 1, "", g),
                entry("b", 1, "", g)
            ))),
            Err(PolicyError::Duplicate { what: "keyId", .. })
        ));
        assert!(matches!(
            RecipientsPolicy::parse(&vec![b' '; MAX_POLICY_BYTES + 1]),
            Err(PolicyError::TooLarge(_))
        ));
    }
}
