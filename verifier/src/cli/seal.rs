//! `proofpack seal`: on the user's machine, seal a file or environment
//! variables for the organisation's enclave (issue 10; format in
//! `enclave::seal`). Refuses unless the organisation key's attestation
//! verifies against the expected PCRs and binds that key.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use build_spec::pcr::Measurements;
use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::seal::{self, SealParams};

use super::exit::{self, ResultExt as _};
use super::output::Format;
use crate::attestation::chain::TrustAnchor;
use crate::attestation::verify::{VerifyAt, VerifyOptions};
use crate::org_key::{verify_bundle, OrgKeyCheckError};

const AFTER_HELP: &str = "\
Examples:
  # Seal two environment variables for user alice (values from the environment,
  # so they never appear in the process list):
  DB_PASSWORD=... API_TOKEN=... proofpack seal --org-key org-key.json \\
      --expect-pcrs enclave.pcrs.json \\
      --user alice --user-kms-key arn:aws:kms:us-east-1:111122223333:key/... \\
      --kms-endpoint https://kms.us-east-1.amazonaws.com \\
      --env DB_PASSWORD --env API_TOKEN -o alice.sealed

  # Seal a file (an SSH key) for one job only:
  proofpack seal --org-key org-key.json --expect-pcrs enclave.pcrs.json \\
      --user alice --user-kms-key arn:... --for-job deploy-42 \\
      --kms-endpoint http://127.0.0.1:4599 id_ed25519 -o ssh.sealed

The organisation key's attestation document must verify against the trusted
root (AWS Nitro by default; --root for a development CA) with the PCRs of
--expect-pcrs (PCR0, PCR1 and PCR2 required) and must bind the bundle's public
key; otherwise nothing is sealed. Level 2 uses your own KMS key and your AWS
credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN), with
the encryption context {proofpack:user, proofpack:org-key[, proofpack:job]}.
Disabling or deleting that key makes every input sealed with it unreadable.

With --recipients-policy FILE (issue 20) the context also carries
proofpack:recipients = SHA-256 of FILE, so the input only opens in a job that
sends that same recipients policy; an enclave image that binds inputs refuses
sealed inputs without it.

In a pack job, an --env input appears in the merged output as
sealed.<name>.<VAR>; a file input as sealed.<name> = base64 of its bytes.

Exit codes: 0 sealed, 1 the organisation key was refused (attestation, PCRs or
key binding), 2 invalid input or usage, 3 KMS or internal error.";

/// Arguments of `proofpack seal`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct SealArgs {
    /// The organisation-key bundle (from `proofpack-enclave org-key init`).
    #[arg(long, value_name = "BUNDLE")]
    org_key: PathBuf,
    /// Expected PCRs of the enclave image (nitro-cli JSON; PCR0-2 required).
    #[arg(long, value_name = "PCRS.json")]
    expect_pcrs: PathBuf,
    /// Trust this root certificate (PEM or DER) instead of the AWS Nitro root (repeatable).
    #[arg(long, value_name = "PEM")]
    root: Vec<PathBuf>,
    /// Your KMS key (level 2), a key ARN.
    #[arg(long, value_name = "ARN")]
    user_kms_key: String,
    /// The user the input is for (1..128 of [A-Za-z0-9._-]).
    #[arg(long, value_name = "NAME")]
    user: String,
    /// Only this job may open the input.
    #[arg(long, value_name = "ID")]
    for_job: Option<String>,
    /// Bind the input to this recipients policy (JSON, at most 16 KiB): the
    /// KMS context gains proofpack:recipients = its SHA-256.
    #[arg(long, value_name = "FILE")]
    recipients_policy: Option<PathBuf>,
    /// KMS endpoint URL, e.g. https://kms.us-east-1.amazonaws.com or http://127.0.0.1:PORT.
    #[arg(long, value_name = "URL")]
    kms_endpoint: String,
    /// SigV4 region; default: the region of --user-kms-key.
    #[arg(long, value_name = "REGION")]
    kms_region: Option<String>,
    /// An environment variable to seal: NAME=VALUE, or NAME to take its value
    /// from this process's environment (repeatable).
    #[arg(long = "env", value_name = "NAME[=VALUE]", conflicts_with = "file")]
    env: Vec<String>,
    /// A file to seal (instead of --env).
    #[arg(value_name = "FILE", required_unless_present = "env")]
    file: Option<PathBuf>,
    /// Write the sealed input here (must not exist).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// The plaintext of `--env` inputs: a JSON object of strings, built in a
/// zeroizing buffer.
fn env_plaintext(specs: &[String]) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut pairs: Vec<(String, Zeroizing<String>)> = Vec::new();
    for s in specs {
        let (name, value) = match s.split_once('=') {
            Some((n, v)) => (n.to_owned(), Zeroizing::new(v.to_owned())),
            None => (
                s.clone(),
                Zeroizing::new(std::env::var(s).with_context(|| {
                    format!("--env {s}: no `=` and no environment variable {s}")
                })?),
            ),
        };
        if name.is_empty() || name.len() > 256 || name.contains('\0') {
            bail!("--env: invalid variable name {name:?}");
        }
        if pairs.iter().any(|(n, _)| *n == name) {
            bail!("--env {name} given twice");
        }
        pairs.push((name, value));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    // Reserved up front (worst-case escaping) so the buffer never reallocates
    // and leaves an unzeroized copy behind.
    let cap = 2 + pairs.iter().map(|(n, v)| 6 * (n.len() + v.len()) + 6).sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(cap));
    out.push(b'{');
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        enclave::json::escape_into(n, &mut out);
        out.push(b':');
        enclave::json::escape_into(v, &mut out);
    }
    out.push(b'}');
    Ok(out)
}

/// Runs `proofpack seal`.
pub fn run(a: SealArgs) -> anyhow::Result<ExitCode> {
    let bundle_bytes = super::input::read_limited(&a.org_key, seal::org_key::MAX_BUNDLE as u64)?;
    let pcrs = Measurements::from_json(&super::input::read_limited(&a.expect_pcrs, 1 << 20)?)
        .with_context(|| format!("{}", a.expect_pcrs.display()))?;
    let mut roots = Vec::new();
    for p in &a.root {
        let b = super::input::read_limited(p, 64 * 1024)?;
        roots.push(
            TrustAnchor::from_pem_or_der(&b, format!("{} (given with --root)", p.display()))
                .with_context(|| format!("{}", p.display()))?,
        );
    }
    if roots.is_empty() {
        roots.push(TrustAnchor::aws_nitro_root_g1());
    }
    let opts = VerifyOptions { roots, at: VerifyAt::Document, ..VerifyOptions::default() };
    let bundle = match verify_bundle(&bundle_bytes, &pcrs, &opts) {
        Ok(b) => b,
        Err(e @ OrgKeyCheckError::Attestation(_)) => {
            eprintln!("error: refusing to seal: {e}");
            return Ok(ExitCode::from(exit::CHECK_FAILED));
        }
        Err(e) => return Err(e).context(format!("{}", a.org_key.display())),
    };
    let (plaintext, content_type) = match &a.file {
        Some(f) => (
            Zeroizing::new(super::input::read_limited(f, seal::MAX_PLAINTEXT as u64)?),
            seal::CONTENT_TYPE_FILE,
        ),
        None => (env_plaintext(&a.env)?, seal::CONTENT_TYPE_ENV),
    };
    let region = match &a.kms_region {
        Some(r) => r.clone(),
        None => a.user_kms_key.split(':').nth(3).unwrap_or_default().to_owned(),
    };
    let creds = Credentials::from_env().context("KMS credentials")?;
    let kms = KmsHttpClient::new(KmsHttpConfig::new(a.kms_endpoint.clone(), region, creds))?;
    let policy_digest = match &a.recipients_policy {
        Some(p) => Some(super::recipients::read_policy(p)?.1.context_value()),
        None => None,
    };
    let params = SealParams {
        org_public: &bundle.public_key,
        org_fingerprint: bundle.fingerprint,
        user_kms_key: &a.user_kms_key,
        user: &a.user,
        job: a.for_job.as_deref(),
        content_type,
        recipients_policy: policy_digest.as_deref(),
    };
    let sealed = match seal::seal_input(&plaintext, &params, &kms) {
        Ok(s) => s,
        Err(e @ (seal::SealError::Seal(_) | seal::SealError::TooLarge(_))) => return Err(e.into()),
        Err(e) => {
            eprintln!("error: sealing failed: {e}");
            return Ok(ExitCode::from(exit::INTERNAL));
        }
    };
    drop(plaintext);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&a.out)
        .with_context(|| format!("creating {} (it must not exist)", a.out.display()))?;
    f.write_all(&sealed).internal(format!("writing {}", a.out.display()))?;
    let digest = hex::encode(Sha256::digest(&sealed));
    match a.format {
        Format::Json => println!(
            "{}",
            json!({"out": a.out.display().to_string(), "sha256": digest, "size": sealed.len(),
                   "user": a.user, "job": a.for_job, "userKmsKey": a.user_kms_key,
                   "orgKeyFingerprint": hex::encode(bundle.fingerprint), "contentType": content_type})
        ),
        Format::Text => {
            println!("sealed {} for user {}", a.out.display(), a.user);
            println!("  sha256       {digest}");
            println!("  org key      {} (attestation verified)", hex::encode(bundle.fingerprint));
            println!("  user KMS key {}", a.user_kms_key);
            if let Some(j) = &a.for_job {
                println!("  job          {j}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
