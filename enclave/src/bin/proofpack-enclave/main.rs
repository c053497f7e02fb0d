//! `proofpack-enclave`: the enclave program and its runtime-side helpers.
//! A thin dispatcher: each subcommand lives in its own file.

mod open;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Open(args) => open::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
