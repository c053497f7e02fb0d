//! `proofpack-enclave`: the enclave program and its runtime-side helpers.
//! A thin dispatcher: each subcommand lives in its own file.

mod open;
mod org_key;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The proofpack enclave program.
#[derive(Debug, Parser)]
#[command(name = "proofpack-enclave", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decrypt an artifact (.ppa) with a recipient's RSA private key.
    Open(open::OpenArgs),
    /// Organisation key for sealed inputs: `org-key init` (inside the enclave).
    OrgKey(org_key::OrgKeyArgs),
    /// Serve pack jobs (vsock or TCP) with an NSM and a KMS endpoint.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Open(args) => open::run(args),
        Command::OrgKey(args) => org_key::run(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
