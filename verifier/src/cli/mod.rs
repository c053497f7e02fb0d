//! Command-line front end: one module per subcommand.
//!
//! Each subcommand module exposes a clap `Args` (or `Cmd`) type and a
//! `run(args) -> anyhow::Result<ExitCode>` function; `main.rs` only parses and
//! dispatches. Data goes to stdout, diagnostics to stderr.

/// The auditor's CloudTrail workflow in five lines (README.md's, fitted to
/// the 100 columns where clap wraps help), shown by `audit --help`,
/// `kms-trail --help` and `kms-trail check --help`.
macro_rules! trail_workflow {
    () => {
        "  aws s3 sync s3://trail-bucket/AWSLogs/111122223333/CloudTrail/ trail/   # or lookup-events
  proofpack kms-trail check --cloudtrail trail/ --key \"$KEY_ARN\" --expect pcrs.json \\
      --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --receipt receipts/*.json
  proofpack audit receipts/*.json --repo . --kms-policy \"$KEY_ARN=policy.json\" \\
      --cloudtrail trail/ --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z  # one report"
    };
}

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
