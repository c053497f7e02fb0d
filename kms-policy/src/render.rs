//! Least-privilege key policies pinned to enclave PCRs, as KMS JSON and as
//! an equivalent Terraform `aws_iam_policy_document` data source.
//!
//! Shape (each rule closes a bypass of the catalogue):
//!
//! 1. `EnclaveUse`: the only Allow of a disclosing action, for the enclave's
//!    role, with every pinned PCR under **one** `StringEqualsIgnoreCase`
//!    block (ANDed; no IfExists, no set operators, no wildcards).
//! 2. `ProducersEncryptOnly` (optional): Encrypt/GenerateDataKey only.
//! 3. `KeyAdministration`: an explicit list of lifecycle actions for the
//!    admin: never `kms:*`, Decrypt, ReEncrypt, CreateGrant or ReplicateKey.
//!    `PutKeyPolicy` is the one remaining trust assumption (omitted with
//!    `immutable`).
//! 4. One `Deny` guard per pinned PCR for `Principal: "*"` on Decrypt,
//!    ReEncryptFrom and DeriveSharedSecret with `StringNotEqualsIgnoreCase`:
//!    they stop IAM, grants and any later Allow mistake for unattested use.
//! 5. `NoGrantsNoReplicas`: Deny CreateGrant and ReplicateKey to everyone.
//!
//! There is deliberately no account-root ("Enable IAM User Permissions")
//! statement. Both outputs come from one statement list, so they cannot
//! drift apart.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use build_spec::pcr::Measurements;
use serde_json::{json, Map, Value};

use super::eval::{account_principal, Caller};
use super::expected::{zero_pcr, Expected};

/// PCRs pinned when the caller does not choose: 0, 1, 2 and, when present
/// and non-zero, 8 (signing certificate).
pub const DEFAULT_RENDER_INDICES: &[u8] = &[0, 1, 2, 8];

/// Errors rendering a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// A principal that is not a role/user/session ARN.
    #[error("{field} must be an IAM role or user ARN (not \"*\" or an account), got {value:?}")]
    BadPrincipal {
        /// `enclave role`, `admin` or `producer`.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// PCR0/1/2 are missing or all zero.
    #[error("PCR{0} is missing or all zeros (debug mode); a pin on it would accept any debug-mode enclave")]
    UnusablePcr(u8),
    /// No PCR selected.
    #[error("no PCR to pin")]
    NoPcrs,
}

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderInput {
    /// PCR index to value (96 lowercase hex).
    pub pcrs: BTreeMap<u8, String>,
    /// The role the enclave's KMS calls are signed with.
    pub enclave_role: String,
    /// Key administrator.
    pub admin: String,
    /// Principals allowed Encrypt/GenerateDataKey (no decryption).
    pub producers: Vec<String>,
    /// Omit `kms:PutKeyPolicy`: the policy can never change (install with
    /// `BypassPolicyLockoutSafetyCheck=true`).
    pub immutable: bool,
    /// Encryption-context keys the enclave's Decrypt must carry (issue 20:
    /// `proofpack:recipients`), as `"Null": {"kms:EncryptionContext:K": "false"}`.
    pub require_context: Vec<String>,
}

impl RenderInput {
    /// Selects `indices` from measurements: 0, 1, 2 are required and must be
    /// non-zero; other indices are used when present and non-zero.
    pub fn from_measurements(
        m: &Measurements,
        indices: &[u8],
        enclave_role: &str,
        admin: &str,
    ) -> Result<Self, RenderError> {
        let mut pcrs = BTreeMap::new();
        for &i in indices {
            match m.hex(i) {
                Some(v) if v != zero_pcr() => {
                    pcrs.insert(i, v);
                }
                _ if i <= 2 => return Err(RenderError::UnusablePcr(i)),
                _ => {}
            }
        }
        if pcrs.is_empty() {
            return Err(RenderError::NoPcrs);
        }
        Ok(Self {
            pcrs,
            enclave_role: enclave_role.into(),
            admin: admin.into(),
            producers: Vec::new(),
            immutable: false,
            require_context: Vec::new(),
        })
    }

    /// The expected set the rendered policy pins (for the analyser).
    pub fn expected(&self) -> Expected {
        Expected { pcrs: self.pcrs.iter().map(|(i, v)| (*i, vec![v.clone()])).collect() }
    }
}

/// One statement in renderer form.
#[derive(Debug, Clone)]
struct RStatement {
    sid: &'static str,
    allow: bool,
    /// `None` = `"*"`.
    principals: Option<Vec<String>>,
    actions: Vec<&'static str>,
    /// (operator, key, value)
    conditions: Vec<(&'static str, String, String)>,
    sid_suffix: Option<u8>,
}

impl RStatement {
    fn sid(&self) -> String {
        match self.sid_suffix {
            Some(i) => format!("{}{i}", self.sid),
            None => self.sid.to_string(),
        }
    }
}

const DISCLOSING: &[&str] = &["kms:Decrypt", "kms:ReEncryptFrom", "kms:DeriveSharedSecret"];

fn check_principal(field: &'static str, v: &str) -> Result<(), RenderError> {
    let c = Caller::parse(v);
    let ok = v.starts_with("arn:")
        && account_principal(v).is_none()
        && c.account.is_some()
        && (v.contains(":role/") || v.contains(":user/") || c.is_session);
    if ok {
        Ok(())
    } else {
        Err(RenderError::BadPrincipal { field, value: v.into() })
    }
}

fn statements(input: &RenderInput) -> Result<Vec<RStatement>, RenderError> {
    check_principal("enclave role", &input.enclave_role)?;
    check_principal("admin", &input.admin)?;
    for p in &input.producers {
        check_principal("producer", p)?;
    }
    for i in 0..=2u8 {
        match input.pcrs.get(&i) {
            Some(v) if *v != zero_pcr() => {}
            _ => return Err(RenderError::UnusablePcr(i)),
        }
    }
    let key = |i: &u8| format!("kms:RecipientAttestation:PCR{i}");
    let mut out = vec![RStatement {
        sid: "EnclaveUse",
        allow: true,
        principals: Some(vec![input.enclave_role.clone()]),
        actions: vec!["kms:Decrypt", "kms:GenerateDataKey"],
        conditions: input
            .pcrs
            .iter()
            .map(|(i, v)| ("StringEqualsIgnoreCase", key(i), v.clone()))
            .chain(
                input
                    .require_context
                    .iter()
                    .map(|k| ("Null", format!("kms:EncryptionContext:{k}"), "false".to_owned())),
            )
            .collect(),
        sid_suffix: None,
    }];
    if !input.producers.is_empty() {
        out.push(RStatement {
            sid: "ProducersEncryptOnly",
            allow: true,
            principals: Some(input.producers.clone()),
            actions: vec!["kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            conditions: Vec::new(),
            sid_suffix: None,
        });
    }
    let mut admin_actions = vec![
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "kms:ListGrants",
        "kms:RevokeGrant",
        "kms:EnableKey",
        "kms:DisableKey",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "kms:GetKeyRotationStatus",
        "kms:EnableKeyRotation",
    ];
    if input.immutable {
        admin_actions.retain(|a| *a != "kms:PutKeyPolicy");
    }
    out.push(RStatement {
        sid: "KeyAdministration",
        allow: true,
        principals: Some(vec![input.admin.clone()]),
        actions: admin_actions,
        conditions: Vec::new(),
        sid_suffix: None,
    });
    for (i, v) in &input.pcrs {
        out.push(RStatement {
            sid: "GuardPCR",
            allow: false,
            principals: None,
            actions: DISCLOSING.to_vec(),
            conditions: vec![("StringNotEqualsIgnoreCase", key(i), v.clone())],
            sid_suffix: Some(*i),
        });
    }
    out.push(RStatement {
        sid: "NoGrantsNoReplicas",
        allow: false,
        principals: None,
        actions: vec!["kms:CreateGrant", "kms:ReplicateKey"],
        conditions: Vec::new(),
        sid_suffix: None,
    });
    Ok(out)
}

/// Policy `Id` of rendered policies.
pub const POLICY_ID: &str = "proofpack-enclave-pinned-v1";

/// The AWS default key policy of an account: what `CreateKey` without a
/// policy installs, so the owning account's IAM policies decide. One
/// definition for the local KMS (which installs it) and the trail audit
/// (which analyses a key created without a policy).
pub fn default_policy(account: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// The key policy as a JSON value (member order as KMS documentation writes it).
pub fn policy_json(input: &RenderInput) -> Result<Value, RenderError> {
    let mut stmts = Vec::new();
    for s in statements(input)? {
        let mut m = Map::new();
        m.insert("Sid".into(), s.sid().into());
        m.insert("Effect".into(), if s.allow { "Allow" } else { "Deny" }.into());
        m.insert(
            "Principal".into(),
            match &s.principals {
                None => json!("*"),
                Some(p) if p.len() == 1 => json!({ "AWS": p[0] }),
                Some(p) => json!({ "AWS": p }),
            },
        );
        m.insert("Action".into(), json!(s.actions));
        m.insert("Resource".into(), json!("*"));
        if !s.conditions.is_empty() {
            let mut ops: Map<String, Value> = Map::new();
            for (op, k, v) in &s.conditions {
                let entry = ops.entry(op.to_string()).or_insert_with(|| json!({}));
                if let Some(o) = entry.as_object_mut() {
                    o.insert(k.clone(), json!(v));
                }
            }
            m.insert("Condition".into(), Value::Object(ops));
        }
        stmts.push(Value::Object(m));
    }
    Ok(json!({ "Version": "2012-10-17", "Id": POLICY_ID, "Statement": stmts }))
}

/// The key policy as pretty JSON text with a trailing newline.
pub fn policy_text(input: &RenderInput) -> Result<String, RenderError> {
    let v = policy_json(input)?;
    Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n")
}

/// An HCL string literal: escapes `\`, `"`, and template sequences `${`/`%{`.
fn hcl_str(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hcl_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| hcl_str(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

/// The equivalent Terraform data source (`data "aws_iam_policy_document"`).
/// `name` is the Terraform resource name.
pub fn terraform(input: &RenderInput, name: &str) -> Result<String, RenderError> {
    let stmts = statements(input)?;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Generated by `proofpack kms-policy render`: a KMS key policy pinned to enclave PCRs."
    );
    let _ = writeln!(o, "# Use: aws_kms_key.policy = data.aws_iam_policy_document.{name}.json");
    let _ = writeln!(o, "data \"aws_iam_policy_document\" \"{name}\" {{");
    let _ = writeln!(o, "  version   = \"2012-10-17\"");
    let _ = writeln!(o, "  policy_id = {}", hcl_str(POLICY_ID));
    for s in &stmts {
        let _ = writeln!(o);
        let _ = writeln!(o, "  statement {{");
        let _ = writeln!(o, "    sid       = {}", hcl_str(&s.sid()));
        let _ = writeln!(o, "    effect    = \"{}\"", if s.allow { "Allow" } else { "Deny" });
        let _ = writeln!(o, "    actions   = {}", hcl_list(&s.actions));
        let _ = writeln!(o, "    resources = [\"*\"]");
        let _ = writeln!(o);
        let _ = writeln!(o, "    principals {{");
        match &s.principals {
            None => {
                let _ = writeln!(o, "      type        = \"*\"");
                let _ = writeln!(o, "      identifiers = [\"*\"]");
            }
            Some(p) => {
                let _ = writeln!(o, "      type        = \"AWS\"");
                let _ = writeln!(o, "      identifiers = {}", hcl_list(p));
            }
        }
        let _ = writeln!(o, "    }}");
        for (op, k, v) in &s.conditions {
            let _ = writeln!(o);
            let _ = writeln!(o, "    condition {{");
            let _ = writeln!(o, "      test     = {}", hcl_str(op));
            let _ = writeln!(o, "      variable = {}", hcl_str(k));
            let _ = writeln!(o, "      values   = [{}]", hcl_str(v));
            let _ = writeln!(o, "    }}");
        }
        let _ = writeln!(o, "  }}");
    }
    let _ = writeln!(o, "}}");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_escapes_templates() {
        assert_eq!(hcl_str("a\"b${x}%{y}\\"), "\"a\\\"b$${x}%%{y}\\\\\"");
    }

    #[test]
    fn rejects_bad_principals_and_zero_pcrs() {
        let mut pcrs = BTreeMap::new();
        for i in 0..3u8 {
            pcrs.insert(i, "ab".repeat(48));
        }
        let mut input = RenderInput {
            pcrs,
            enclave_role: "*".into(),
            admin: "arn:aws:iam::111122223333:role/admin".into(),
            producers: vec![],
            immutable: false,
            require_context: vec![],
        };
        assert!(matches!(policy_json(&input), Err(RenderError::BadPrincipal { .. })));
        input.enclave_role = "arn:aws:iam::111122223333:root".into();
        assert!(matches!(policy_json(&input), Err(RenderError::BadPrincipal { .. })));
        input.enclave_role = "arn:aws:iam::111122223333:role/enclave".into();
        assert!(policy_json(&input).is_ok());
        input.pcrs.insert(1, zero_pcr());
        assert_eq!(policy_json(&input).err(), Some(RenderError::UnusablePcr(1)));
    }
}
