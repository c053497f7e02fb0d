//! `proofpack`: thin entry point over the `verifier` library.
//!
//! It parses arguments, dispatches to `verifier::cli::*`, prints errors with
//! their cause chain and maps them to the documented exit codes: an error is
//! classified by [`CliError::classify`] (2 for input, 3 for internal), and a
//! panic is caught and reported as an internal error (3) instead of Rust's
//! default 101, which no CI contract knows.

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use verifier::cli::exit::{CliError, ExitStatus};

const AFTER_HELP: &str = "\
Examples:
  proofpack audit receipt.json --repo . --kms-policy ARN=policy.json
  proofpack rebuild --repo https://example.com/app.git --rev <40-hex commit> --expect-pcrs pcrs.json
  proofpack pcrs image.eif
  proofpack diff old.eif new.eif
  proofpack kms-policy check policy.json --expect-pcrs pcrs.json
  proofpack attestation verify doc.cbor --expect-pcrs pcrs.json --at document

Exit status:
  0  every requested check passed
  1  a check failed (mismatch, bad signature, policy bypass, ...)
  2  invalid input or usage (unreadable or malformed file, bad flag)
  3  internal error (cannot write the output, or a bug)";

/// Prove which exact code handled a secret: rebuild enclave images, verify
/// Nitro attestation documents and receipts, and check that KMS key policies
/// pin the measured PCRs.
#[derive(Parser)]
#[command(name = "proofpack", version, after_help = AFTER_HELP)]
struct Cli {
    /// When to colour text output: `auto` (a terminal, unless NO_COLOR is
    /// set), `always` or `never`.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value = "auto")]
    color: verifier::cli::output::ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Auditors: one command from receipt to verdict, and its parts.
    /// Audit pack receipts: every check, one verdict with reasons.
    Audit(Box<verifier::cli::audit::AuditArgs>),
    /// CI gate: exit 0 only when everything matches.
    Gate(Box<verifier::cli::gate::GateArgs>),
    /// Verify signed pack receipts (DSSE/in-toto) and their artifacts.
    Receipt(verifier::cli::receipt::ReceiptArgs),
    /// Verify, show or (test only) mint Nitro attestation documents.
    Attestation(verifier::cli::attestation::AttestationArgs),
    // Images: build, rebuild, measure, compare.
    #[command(flatten)]
    Build(verifier::cli::build::Cmd),
    #[command(flatten)]
    Image(verifier::cli::image::ImageCmd),
    /// OCI / Docker images as the application ramdisk (digest-pinned, no daemon).
    Oci(verifier::cli::oci::OciArgs),
    // Security teams: KMS key policies.
    /// Check, render and simulate KMS key policies pinned to enclave PCRs.
    KmsPolicy(verifier::cli::kms_policy::KmsPolicyArgs),
    /// Audit pinned KMS keys from CloudTrail: every use, the policy over time.
    KmsTrail(verifier::cli::kms_trail::KmsTrailArgs),
    // Runtime: the parent side of the pack.
    /// Send a pack job to the enclave and write the artifact and receipt.
    Pack(verifier::cli::pack::PackArgs),
    /// The parent side of an emulated enclave (QEMU nitro-enclave): boot
    /// heartbeat and KMS relay on vhost-device-vsock's hybrid sockets.
    EmulatorParent(verifier::cli::emulator::EmulatorParentArgs),
    /// Seal a file or environment variables for the enclave (user side).
    Seal(Box<verifier::cli::seal::SealArgs>),
    // Secrets' owners: which recipients may receive what.
    /// Recipients policy helpers: key fingerprint, policy check, SOPS context.
    Recipients(verifier::cli::recipients::RecipientsArgs),
    /// Print the version.
    Version,
}

/// Runs one parsed command.
fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Version => {
            println!("proofpack {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(args) => verifier::cli::audit::run(*args),
        Command::Gate(args) => verifier::cli::gate::run(*args),
        Command::Attestation(args) => verifier::cli::attestation::run(args),
        Command::Oci(args) => verifier::cli::oci::run(args),
        Command::Build(c) => verifier::cli::build::run(c),
        Command::Receipt(args) => verifier::cli::receipt::run(args),
        Command::Pack(args) => verifier::cli::pack::run(args),
        Command::EmulatorParent(args) => verifier::cli::emulator::run(args),
        Command::Seal(args) => verifier::cli::seal::run(*args),
        Command::Recipients(args) => verifier::cli::recipients::run(args),
        Command::Image(cmd) => verifier::cli::image::run(cmd),
        Command::KmsPolicy(args) => verifier::cli::kms_policy::run(args),
        Command::KmsTrail(args) => verifier::cli::kms_trail::run(args),
    }
}

fn main() -> ExitCode {
    // Usage errors exit 2 and --help/--version exit 0 inside clap.
    let cli = Cli::parse();
    verifier::cli::output::set_color(cli.color);
    // A panic is a bug: say so on one line of stderr, then exit 3 below.
    // (`println!` also panics when standard output cannot be written, which
    // is an internal error as well.)
    panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        // A location inside the standard library (a failed `println!`)
        // says nothing to the user.
        let at = info
            .location()
            .filter(|l| !l.file().starts_with("/rustc/"))
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error: {payload}{at}");
    }));
    match panic::catch_unwind(AssertUnwindSafe(|| dispatch(cli))) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            let err = CliError::classify(err);
            eprintln!("error: {err}");
            err.status().into()
        }
        Err(_) => ExitStatus::Internal.into(),
    }
}
