//! `proofpack-enclave org-key init`: create the organisation key inside the
//! enclave (issue 10). The private key leaves the process only encrypted
//! under a KMS key whose policy pins this image's PCRs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use enclave::seal::org_key::{OrgKeyBundle, DEFAULT_BITS};

const AFTER_HELP: &str = "\
Examples:
  # Development: dev NSM measuring the image, local KMS; credentials from
  # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the enclave's role).
  proofpack-enclave org-key init --nsm dev:build/enclave.eif,dev-ca \\
      --kms http://127.0.0.1:4599 \\
      --kms-key arn:aws:kms:us-east-1:111122223333:key/... --out org-key.json

The KMS key must allow this role kms:Encrypt, and kms:Decrypt only with a
Recipient attestation pinned to the image's PCRs (render one with
`proofpack kms-policy render`). The bundle written (--out) holds the public
key, an attestation document binding it, and the encrypted private key: no
secret. Users check it with `proofpack seal --expect-pcrs`.

Exit codes: 0 written, 2 invalid arguments or setup failure, 3 KMS or NSM failure.";

/// `org-key` subcommands.
#[derive(Debug, Args)]
pub struct OrgKeyArgs {
    #[command(subcommand)]
    command: OrgKeyCommand,
}

#[derive(Debug, Subcommand)]
enum OrgKeyCommand {
    /// Create the organisation RSA key and write its bundle.
    Init(InitArgs),
}

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
struct InitArgs {
    #[command(flatten)]
    backends: crate::serve::Backends,
    /// The KMS key that encrypts the private key (its policy pins the PCRs).
    #[arg(long, value_name = "ARN")]
    kms_key: String,
    /// RSA modulus size: 4096 (default), 3072 or 2048 (tests).
    #[arg(long, default_value_t = DEFAULT_BITS)]
    bits: usize,
    /// Write the bundle here (must not exist).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Runs `org-key`.
pub fn run(args: OrgKeyArgs) -> anyhow::Result<ExitCode> {
    let OrgKeyCommand::Init(a) = args.command;
    let (nsm, kms) = a.backends.open()?;
    let bundle = match OrgKeyBundle::init(nsm.as_ref(), &kms, &a.kms_key, a.bits) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: org-key init: {e}");
            return Ok(ExitCode::from(3));
        }
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&a.out)
        .with_context(|| format!("creating {} (it must not exist)", a.out.display()))?;
    std::io::Write::write_all(&mut f, &bundle.to_bytes())
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "proofpack-enclave: organisation key {} bits, fingerprint {}, private key under {}; bundle {}",
        a.bits,
        hex::encode(bundle.fingerprint),
        bundle.kms_key_arn,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
