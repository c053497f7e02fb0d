//! `proofpack-enclave open`: the runtime side of the artifact (docs/formats/receipts.md §5.6).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use enclave::backend::kms_http::{sigv4::Credentials, KmsHttpClient, KmsHttpConfig};
use enclave::envelope::{self, EnvelopeError};
use sha2::{Digest, Sha256};

/// Exit code when the artifact fails to open (authentication, not a recipient, KMS refusal).
const OPEN_FAILED: u8 = 1;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  # Level 1 only (the recipient entry has no KMS layer):
  proofpack-enclave open prod.ppa --key recipient.pem --out prod.json

  # Level 2: the entry is wrapped again with KMS; credentials come from
  # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN:
  proofpack-enclave open prod.ppa --key recipient.pem \\
      --kms-endpoint https://kms.us-east-1.amazonaws.com --expect-sha256 <subject digest>

Check the receipt first (`proofpack receipt verify`) and pass its subject digest
with --expect-sha256: every recipient knows the data key, so only the digest
signed by the enclave pins the genuine artifact.

Exit codes: 0 opened, 1 the artifact did not open (tampered, not a recipient,
digest mismatch, KMS refusal), 2 invalid input or usage.")]
pub struct OpenArgs {
    /// The artifact file.
    artifact: PathBuf,
    /// The recipient's RSA private key (PKCS#8 or PKCS#1 PEM).
    #[arg(long, value_name = "PEM")]
    key: PathBuf,
    /// Write the plaintext here (created with mode 0600); default: stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// KMS endpoint for a level-2 entry, e.g. https://kms.us-east-1.amazonaws.com
    /// or http://127.0.0.1:4599 for proofpack-kms-local.
    #[arg(long, value_name = "URL")]
    kms_endpoint: Option<String>,
    /// SigV4 region; default: the region of the entry's key ARN.
    #[arg(long, value_name = "REGION")]
    kms_region: Option<String>,
    /// Refuse to open unless the artifact's SHA-256 is this (the receipt's subject digest).
    #[arg(long, value_name = "HEX")]
    expect_sha256: Option<String>,
}

/// Largest private-key PEM file read (an RSA-4096 PKCS#8 PEM is ~3.3 KB).
const MAX_KEY_FILE: u64 = 64 * 1024;

fn read_key(path: &std::path::Path) -> anyhow::Result<rsa::RsaPrivateKey> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let pem = zeroize::Zeroizing::new(
        build_spec::bounded::read_file_to_string(path, MAX_KEY_FILE).context("reading the key")?,
    );
    rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(&pem))
        .with_context(|| {
            format!("{} is not an RSA private key in PKCS#8 or PKCS#1 PEM", path.display())
        })
}

/// Runs `open`.
pub fn run(args: OpenArgs) -> anyhow::Result<ExitCode> {
    let bytes = build_spec::bounded::read_file(&args.artifact, enclave::envelope::MAX_FILE as u64)
        .context("reading the artifact")?;
    if let Some(want) = &args.expect_sha256 {
        let got = hex::encode(Sha256::digest(&bytes));
        if !want.eq_ignore_ascii_case(&got) {
            eprintln!("error: artifact SHA-256 is {got}, the receipt says {want}");
            return Ok(ExitCode::from(OPEN_FAILED));
        }
    }
    let key = read_key(&args.key)?;
    let parsed = envelope::parse(&bytes).context("reading the artifact")?;
    let my_id = envelope::key_id(&key.to_public_key())?;
    let entry = parsed.header.recipients.iter().find(|r| r.key_id == my_id);
    let client = match (entry.and_then(|e| e.kms.as_ref()), &args.kms_endpoint) {
        (Some(k), None) => bail!(
            "this recipient's key is also wrapped with KMS key {}; pass --kms-endpoint",
            k.key_arn
        ),
        (Some(k), Some(endpoint)) => {
            let region = match &args.kms_region {
                Some(r) => r.clone(),
                None => k.key_arn.split(':').nth(3).unwrap_or_default().to_owned(),
            };
            let creds = Credentials::from_env().context("KMS credentials")?;
            Some(KmsHttpClient::new(KmsHttpConfig::new(endpoint.clone(), region, creds))?)
        }
        (None, _) => None,
    };
    let kms = client.as_ref().map(|c| c as &dyn enclave::backend::Kms);
    let plaintext = match envelope::open(&bytes, &key, kms) {
        Ok(p) => p,
        Err(
            e @ (EnvelopeError::ContentAuth
            | EnvelopeError::UnwrapFailed
            | EnvelopeError::NotRecipient(_)
            | EnvelopeError::Kms(_)),
        ) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(OPEN_FAILED));
        }
        Err(e) => return Err(e).context("opening the artifact"),
    };
    match &args.out {
        Some(path) => write_private(path, plaintext.expose())?,
        None => {
            std::io::stdout().lock().write_all(plaintext.expose()).context("writing to stdout")?
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &PathBuf, data: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {} (it must not exist)", path.display()))?;
    f.write_all(data).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
