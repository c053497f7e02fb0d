//! `proofpack`: thin entry point over the `verifier` library.
//!
//! It parses arguments, dispatches to `verifier::cli::*`, prints errors with
//! their cause chain and maps them to the documented exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use verifier::cli::exit;

/// Prove which exact code handled a secret: rebuild enclave images, verify
/// Nitro attestation documents and receipts, and check that KMS key policies
/// pin the measured PCRs.
#[derive(Parser)]
#[command(name = "proofpack", version, after_help = exit::EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version and build information.
    Version,
    /// Audit pack receipts: every check, one verdict with reasons.
    Audit(Box<verifier::cli::audit::AuditArgs>),
    /// CI gate: exit 0 only when everything matches.
    Gate(Box<verifier::cli::gate::GateArgs>),
    /// Verify, show or (test only) mint Nitro attestation documents.
    Attestation(verifier::cli::attestation::AttestationArgs),
    #[command(flatten)]
    Build(verifier::cli::build::Cmd),
    #[command(flatten)]
    Image(verifier::cli::image::ImageCmd),
    /// Verify signed pack receipts (DSSE/in-toto) and their artifacts.
    Receipt(verifier::cli::receipt::ReceiptArgs),
    /// Check, render and simulate KMS key policies pinned to enclave PCRs.
    KmsPolicy(verifier::cli::kms_policy::KmsPolicyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Version => {
            println!("proofpack {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(args) => verifier::cli::audit::run(*args),
        Command::Gate(args) => verifier::cli::gate::run(*args),
        Command::Attestation(args) => verifier::cli::attestation::run(args),
        Command::Build(c) => verifier::cli::build::run(c),
        Command::Image(cmd) => verifier::cli::image::run(cmd),
        Command::Receipt(args) => verifier::cli::receipt::run(args),
        Command::KmsPolicy(args) => verifier::cli::kms_policy::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit::INVALID_INPUT)
        }
    }
}
