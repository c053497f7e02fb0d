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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The production image runs `proofpack-enclave <[app] args>`: they must
    /// parse with this CLI and name the production wiring, and the image
    /// must be built with the features those arguments need.
    #[test]
    fn project_spec_app_args_are_a_valid_production_serve() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../build-spec/enclave.toml");
        let spec = build_spec::spec::Spec::parse(&std::fs::read(p).unwrap()).unwrap();
        let argv = std::iter::once("proofpack-enclave".to_string()).chain(spec.app.args.clone());
        let Command::Serve(s) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("[app] args do not run `serve`");
        };
        assert!(matches!(
            s.listen.parse::<enclave::transport::Endpoint>().unwrap(),
            enclave::transport::Endpoint::Vsock { cid: u32::MAX, port: 5000 }
        ));
        assert_eq!(s.backends.nsm, "nitro");
        assert!(s.backends.kms.starts_with("https://kms."));
        assert_eq!(s.backends.kms_vsock, Some((3, 8000)));
        for f in ["vsock", "nitro", "tls"] {
            assert!(spec.app.features.iter().any(|x| x == f), "feature {f} missing");
        }
    }
}
