//! Command-line front end: one module per subcommand.
//!
//! Each subcommand module exposes a clap `Args` (or `Cmd`) type and a
//! `run(args) -> anyhow::Result<ExitCode>` function; `main.rs` only parses and
//! dispatches. Data goes to stdout, diagnostics to stderr.

pub mod attestation;
pub mod audit;
pub mod build;
pub mod emulator;
pub mod exit;
pub mod gate;
pub mod image;
pub mod input;
pub mod kms_policy;
pub mod kms_trail;
pub mod oci;
pub mod output;
pub mod pack;
pub mod receipt;
pub mod recipients;
pub mod seal;
