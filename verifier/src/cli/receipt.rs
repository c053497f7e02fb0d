//! `proofpack receipt verify`: check a signed pack receipt (docs/formats/receipts.md §6).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use build_spec::pcr::Measurements;
use clap::{Args, Subcommand, ValueEnum};

use crate::attestation::{TrustAnchor, VerifyAt, VerifyOptions};
use crate::cli::exit::{self, ResultExt as _, STDOUT};
use crate::cli::output::{use_color, Format};
use crate::receipt::{verify_receipt, ReceiptOptions, ReceiptReport};
use crate::report::Verdict;

use crate::cli::input::{MAX_ARTIFACT, MAX_RECEIPT};

const VERIFY_HELP: &str = "\
Examples:
  # Verify a receipt and the artifact it names, pinning the reviewed image's PCRs:
  proofpack receipt verify prod.ppa.receipt.json --artifact prod.ppa --expect-pcrs pcrs.json
  # Also check the SOPS inputs and that the receipt answers your own request:
  proofpack receipt verify r.json --input secrets/prod.enc.yaml --request job.json
  # Check the output recipients against the secrets' owners' recipients policy:
  proofpack receipt verify r.json --recipients-policy .proofpack/recipients.json
  # A receipt from the development NSM (test CA; said so in every output):
  proofpack receipt verify r.json --root testca/root.pem --format json

Checks, in order: the DSSE envelope and payload type; both attestation documents
(doc_K, sent to KMS as Recipient; doc_R, which binds the signing key) against the
pinned root at their own timestamps (or --at now); the Ed25519 key in doc_R; the
signature (strict); then, only if those passed, the canonical form and schema of
the statement, the binding string (request hash + doc_K hash) and nonce in doc_R,
doc_K/doc_R from the same enclave, digests, PCRs and times in the statement, the
embedded job request, the KMS call records, and each --artifact file.

Recipients (receipts with a recipientsPolicy member, docs/notes/recipients.md):
the image's unbound-inputs setting, the policy digest (against --recipients-policy
FILE, else the copy in the job request, a WARN), every output recipient allowed by
that policy for the job's service/environment (the failing one is named), and
every input data key decrypted with proofpack:recipients = the policy digest.
With --recipients-policy, a receipt without the member fails. Unbound inputs, a
job without a policy or an image built with allow-unbound-inputs fail unless
--allow-unbound-inputs.

Exit status:
  0  every check passed
  1  a check failed
  2  invalid input or usage (unreadable file, bad flag)
  3  internal error (cannot write the output, or a bug)";

/// `proofpack receipt`.
#[derive(Debug, Args)]
pub struct ReceiptArgs {
    #[command(subcommand)]
    command: ReceiptCommand,
}

#[derive(Debug, Subcommand)]
enum ReceiptCommand {
    /// Verify a receipt (DSSE envelope) and optionally its artifacts.
    #[command(after_help = VERIFY_HELP)]
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum At {
    /// Each document's own signed timestamp (audit).
    Document,
    /// The current time (live check).
    Now,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The receipt file (`<artifact>.receipt.json`).
    receipt: PathBuf,
    /// An artifact file to check against the receipt (repeatable).
    #[arg(long, value_name = "FILE")]
    artifact: Vec<PathBuf>,
    /// A SOPS input file to check against the receipt (repeatable).
    #[arg(long, value_name = "FILE")]
    input: Vec<PathBuf>,
    /// The job request you sent (its bytes must equal the receipt's).
    #[arg(long, value_name = "FILE")]
    request: Option<PathBuf>,
    /// The nonce you chose for the job (hex).
    #[arg(long, value_name = "HEX")]
    nonce: Option<String>,
    /// Trust this root certificate (PEM or DER) instead of the AWS Nitro root
    /// (repeatable). Any other root is reported as such in every output.
    #[arg(long, value_name = "PEM")]
    root: Vec<PathBuf>,
    /// Expected PCRs (nitro-cli describe-eif / build JSON) for both documents.
    #[arg(long, value_name = "JSON")]
    expect_pcrs: Option<PathBuf>,
    /// Instant at which certificates must be valid.
    #[arg(long, value_enum, default_value = "document")]
    at: At,
    /// Accept debug-mode enclaves (PCR0-2 zero).
    #[arg(long)]
    allow_debug: bool,
    /// The secrets' owners' recipients policy: the job's policy must be this
    /// file and every output recipient must be allowed by it.
    #[arg(long, value_name = "FILE")]
    recipients_policy: Option<PathBuf>,
    /// Accept inputs not bound to a recipients policy (and images built with
    /// allow-unbound-inputs) as a WARN instead of a FAIL.
    #[arg(long)]
    allow_unbound_inputs: bool,
    /// Accept QEMU nitro-enclave documents, which are UNSIGNED: the chain
    /// check becomes a WARN ("unsigned emulator document, not evidence of
    /// Nitro hardware"); every other check runs. Without it they fail.
    #[arg(long)]
    allow_emulator: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Runs `proofpack receipt`.
pub fn run(args: ReceiptArgs) -> Result<ExitCode> {
    let ReceiptCommand::Verify(a) = args.command;
    let envelope = crate::cli::input::read_limited(&a.receipt, MAX_RECEIPT)?;
    let mut roots = Vec::new();
    for p in &a.root {
        let b = crate::cli::input::read_limited(p, 64 * 1024)?;
        roots.push(
            TrustAnchor::from_pem_or_der(&b, format!("{} (given with --root)", p.display()))
                .with_context(|| format!("{}", p.display()))?,
        );
    }
    if roots.is_empty() {
        roots.push(TrustAnchor::aws_nitro_root_g1());
    }
    let mut attestation = VerifyOptions {
        roots,
        at: match a.at {
            At::Document => VerifyAt::Document,
            At::Now => VerifyAt::Now,
        },
        allow_debug: a.allow_debug,
        parse: crate::attestation::parse::ParseOptions {
            emulator: a.allow_emulator,
            ..Default::default()
        },
        ..VerifyOptions::default()
    };
    if let Some(p) = &a.expect_pcrs {
        let b = crate::cli::input::read_limited(p, 1 << 20)?;
        attestation.expect.pcrs =
            Some(Measurements::from_json(&b).with_context(|| format!("{}", p.display()))?);
    }
    let mut artifacts = Vec::new();
    for p in &a.artifact {
        let label = p
            .file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
        artifacts.push((label, crate::cli::input::read_limited(p, MAX_ARTIFACT)?));
    }
    let mut inputs = Vec::new();
    for p in &a.input {
        let label = p
            .file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
        inputs.push((
            label,
            crate::cli::input::read_limited(p, enclave::sops::MAX_FILE_BYTES as u64)?,
        ));
    }
    let expected_request =
        a.request.as_ref().map(|p| crate::cli::input::read_limited(p, 64 * 1024)).transpose()?;
    let expected_nonce =
        a.nonce.as_ref().map(|h| hex::decode(h).context("--nonce is not hex")).transpose()?;
    let recipients_policy = match &a.recipients_policy {
        Some(p) => Some((p.display().to_string(), crate::cli::recipients::read_policy(p)?.0)),
        None => None,
    };
    let opts = ReceiptOptions {
        attestation,
        artifacts,
        inputs,
        expected_request,
        expected_nonce,
        recipients_policy,
        allow_unbound_inputs: a.allow_unbound_inputs,
        ..ReceiptOptions::default()
    };
    let report = verify_receipt(&envelope, &opts);
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            let v = serde_json::json!({
                "verdict": report.verdict(),
                "receipt_id": report.receipt_id,
                "development_root": report.uses_non_aws_root(),
                "trust_roots": report.trust_roots,
                "checks": report.checks,
            });
            writeln!(out, "{v}").internal(STDOUT)?;
        }
        Format::Text => write!(out, "{}", text(&report, use_color())).internal(STDOUT)?,
    }
    Ok(match report.verdict() {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::from(exit::CHECK_FAILED),
    })
}

use std::io::Write as _;

/// Text rendering: header, then the checks and verdict as every check list
/// prints them ([`checks::text`]).
pub fn text(r: &ReceiptReport, color: bool) -> String {
    let mut s = String::new();
    if r.uses_non_aws_root() {
        let _ = writeln!(s, "WARNING: verified against a NON-AWS root (development/test CA); this proves nothing about AWS hardware.");
    }
    if let Some(id) = &r.receipt_id {
        let _ = writeln!(s, "receipt id:  {id}");
    }
    for root in &r.trust_roots {
        let _ = writeln!(
            s,
            "trust root:  {} (sha256 {}){}",
            root.label,
            root.sha256,
            if root.aws { "" } else { " [NOT AWS]" }
        );
    }
    let _ = writeln!(s);
    s.push_str(&checks::text::render(&r.checks, color));
    s
}
