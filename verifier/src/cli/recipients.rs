//! `proofpack recipients`: helpers for the secrets' owners who bind their
//! SOPS files to a recipients policy (issue 20, docs/notes/recipients.md):
//! a key's fingerprint (the policy's `keyId`), a policy check, and the KMS
//! encryption context to encrypt with.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use sha2::{Digest, Sha256};

use enclave::recipients::policy::{target_label, MAX_POLICY_BYTES};
use enclave::recipients::{RecipientsPolicy, CONTEXT_KEY};

use super::exit::{self, ResultExt as _, STDOUT};
use super::output::Format;

const HELP: &str = "\
A recipients policy is a JSON file kept next to the secrets (default location
.proofpack/recipients.json) that says which recipient keys may receive the
output of which service/environment:

  {\"format\": \"https://proofpack.dev/recipients-policy/v1\",
   \"recipients\": [
     {\"name\": \"ops\", \"keyId\": \"<proofpack recipients fingerprint ops.pub.pem>\",
      \"requireKms\": false,
      \"allow\": [{\"service\": \"api\", \"environment\": \"prod\"}]}]}

(\"*\" matches any service or environment.) The secrets' owners encrypt their
SOPS files with the KMS encryption context proofpack:recipients = the lowercase
hex SHA-256 of the policy file's bytes; KMS authenticates it, so the enclave can
only decrypt them while the job sends that exact policy, and it re-encrypts only
to recipients the policy allows.

Examples:
  proofpack recipients fingerprint ops.pub.pem
  proofpack recipients check .proofpack/recipients.json --service api --environment prod
  proofpack recipients sops-context .proofpack/recipients.json --kms-arn arn:aws:kms:...:key/...

Exit status:
  0  done (check: the policy is valid, and allows the --recipient keys)
  1  check: a --recipient key is not allowed for the service/environment
  2  invalid input (unreadable or malformed key or policy, bad flag)
  3  internal error (cannot write the output, or a bug)";

/// `proofpack recipients`.
#[derive(Debug, Args)]
#[command(after_help = HELP)]
pub struct RecipientsArgs {
    #[command(subcommand)]
    command: RecipientsCommand,
}

#[derive(Debug, Subcommand)]
enum RecipientsCommand {
    /// Print a recipient key's fingerprint: SHA-256 of its SPKI DER (the policy's keyId).
    Fingerprint {
        /// RSA public key, SPKI PEM (as given to `pack --recipient`).
        key: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Check a policy file: strict parse, digest, and optionally whether keys are allowed.
    Check {
        /// The policy file.
        policy: PathBuf,
        /// Service to check --recipient keys for.
        #[arg(long, requires = "environment")]
        service: Option<String>,
        /// Environment to check --recipient keys for.
        #[arg(long, requires = "service")]
        environment: Option<String>,
        /// A recipient key (SPKI PEM) that must be allowed (repeatable;
        /// PEM,kms=ARN marks a KMS layer as `pack --recipient` does).
        #[arg(long = "recipient", value_name = "PEM[,kms=ARN]")]
        recipients: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Show the encryption context (and the sops arguments) that binds SOPS files to a policy.
    SopsContext {
        /// The policy file.
        policy: PathBuf,
        /// The KMS key ARN the SOPS files use (for the .sops.yaml example).
        #[arg(long, value_name = "ARN")]
        kms_arn: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

/// Reads and parses a policy file (size checked before reading); returns
/// the exact bytes and the parsed policy.
pub fn read_policy(path: &Path) -> Result<(Vec<u8>, RecipientsPolicy)> {
    let bytes = super::input::read_limited(path, MAX_POLICY_BYTES as u64)?;
    let policy = RecipientsPolicy::parse(&bytes)
        .with_context(|| format!("recipients policy {}", path.display()))?;
    Ok((bytes, policy))
}

/// SHA-256 of an RSA public key's SPKI DER, from a PEM file.
fn fingerprint(path: &Path) -> Result<[u8; 32]> {
    use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
    let pem = super::input::read_limited(path, 64 * 1024)?;
    let pem =
        std::str::from_utf8(&pem).with_context(|| format!("{} is not PEM", path.display()))?;
    let key = rsa::RsaPublicKey::from_public_key_pem(pem)
        .with_context(|| format!("{}: not an RSA public key in SPKI PEM", path.display()))?;
    let der = key.to_public_key_der().context("encoding the key")?;
    enclave::service::request::check_recipient_key(der.as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Sha256::digest(der.as_bytes()).into())
}

/// Runs `proofpack recipients`.
pub fn run(args: RecipientsArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match args.command {
        RecipientsCommand::Fingerprint { key, format } => {
            let id = hex::encode(fingerprint(&key)?);
            match format {
                Format::Json => {
                    writeln!(out, "{}", json!({"key": key.display().to_string(), "keyId": id}))
                        .internal(STDOUT)?
                }
                Format::Text => writeln!(out, "{id}").internal(STDOUT)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        RecipientsCommand::Check { policy, service, environment, recipients, format } => {
            let (_, p) = read_policy(&policy)?;
            let target = service.as_deref().zip(environment.as_deref());
            let mut results = Vec::new();
            for spec in &recipients {
                let mut parts = spec.split(',');
                let pem = PathBuf::from(parts.next().unwrap_or_default());
                let has_kms = parts.any(|x| x.starts_with("kms="));
                let id = fingerprint(&pem)?;
                let verdict = p.check(target, &id, has_kms).map(|r| r.name.clone());
                results.push((pem.display().to_string(), hex::encode(id), verdict));
            }
            let ok = results.iter().all(|r| r.2.is_ok());
            match format {
                Format::Json => {
                    let v = json!({
                        "policy": policy.display().to_string(),
                        "sha256": p.context_value(),
                        "recipients": p.recipients.iter().map(|r| json!({
                            "name": r.name, "keyId": hex::encode(r.key_id), "requireKms": r.require_kms,
                            "allow": r.allow.iter().map(|g| format!("{}/{}", g.service, g.environment)).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                        "target": target.map(|t| target_label(Some(t))),
                        "checked": results.iter().map(|(k, id, v)| json!({
                            "key": k, "keyId": id, "allowed": v.is_ok(),
                            "name": v.as_ref().ok(), "reason": v.as_ref().err().map(ToString::to_string),
                        })).collect::<Vec<_>>(),
                        "verdict": if ok { "PASS" } else { "FAIL" },
                    });
                    writeln!(out, "{v}").internal(STDOUT)?;
                }
                Format::Text => {
                    writeln!(
                        out,
                        "{}: valid recipients policy, sha256 {}",
                        policy.display(),
                        p.context_value()
                    )?;
                    for r in &p.recipients {
                        let allow: Vec<String> = r
                            .allow
                            .iter()
                            .map(|g| format!("{}/{}", g.service, g.environment))
                            .collect();
                        writeln!(
                            out,
                            "  {} {}{} may receive {}",
                            r.name,
                            hex::encode(r.key_id),
                            if r.require_kms { " (KMS layer required)" } else { "" },
                            allow.join(", ")
                        )?;
                    }
                    for (k, _, v) in &results {
                        match v {
                            Ok(name) => writeln!(
                                out,
                                "PASS {k}: allowed as {name} for {}",
                                target_label(target)
                            )?,
                            Err(e) => writeln!(out, "FAIL {k}: {e}").internal(STDOUT)?,
                        }
                    }
                }
            }
            Ok(ExitCode::from(if ok { exit::OK } else { exit::CHECK_FAILED }))
        }
        RecipientsCommand::SopsContext { policy, kms_arn, format } => {
            let (_, p) = read_policy(&policy)?;
            let d = p.context_value();
            let arn = kms_arn.unwrap_or_else(|| "arn:aws:kms:REGION:ACCOUNT:key/KEY-ID".into());
            match format {
                Format::Json => writeln!(
                    out,
                    "{}",
                    json!({"encryptionContext": {CONTEXT_KEY: d}, "sha256": d, "kmsArn": arn})
                )?,
                Format::Text => write!(out, "{}", sops_text(&d, &arn))?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The text of `sops-context`. The `sops --encryption-context` flag splits
/// `key:value` pairs on every `:`, so a key containing `:` (as
/// `proofpack:recipients` does) cannot be passed that way; a `.sops.yaml`
/// `key_groups` entry carries the context as a map (docs/notes/recipients.md).
fn sops_text(digest: &str, arn: &str) -> String {
    format!(
        "encryption context: {CONTEXT_KEY}={digest}\n\
         \n\
         .sops.yaml (sops 3.x; one key group, so the file keeps a flat `kms` list):\n\
         creation_rules:\n\
         \x20 - path_regex: secrets/.*\n\
         \x20   key_groups:\n\
         \x20     - kms:\n\
         \x20         - arn: {arn}\n\
         \x20           context:\n\
         \x20             {CONTEXT_KEY}: {digest}\n\
         \n\
         then: sops encrypt secrets/prod.yaml > secrets/prod.enc.yaml\n\
         (`sops --encryption-context {CONTEXT_KEY}:{digest}` does NOT work: sops splits\n\
         the flag on every ':' and drops a context whose key contains one.)\n\
         After changing the policy, re-encrypt the files (sops decrypt, then sops encrypt\n         with the updated rule): the new digest must be in every data key's context.\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn sops_text_names_the_context() {
        let t = super::sops_text(&"ab".repeat(32), "arn:aws:kms:us-east-1:111122223333:key/k");
        assert!(t.contains(&format!("proofpack:recipients: {}", "ab".repeat(32))));
    }
}
