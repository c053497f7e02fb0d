//! `proofpack gate`: a CI gate that exits 0 only when everything matches.
//!
//! Two modes: `--eif IMAGE --expect-pcrs pcrs.json` compares an image's PCRs with
//! the expected ones; `--receipt R --repo .` runs the full audit of
//! receipts. Both write any report format, including GitHub annotations,
//! JUnit XML and SARIF for CI systems.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::audit::gate_image;
use crate::cli::audit::{
    build_auditor, emit, load_options, load_receipts, now_rfc3339, read_input, sha256_hex,
    AuditOptions, OutputArgs,
};
use crate::report::{AuditReport, InputFile, ToolInfo};

/// `proofpack gate`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["eif", "receipt"])))]
pub struct GateArgs {
    /// The enclave image to gate (with --expect-pcrs).
    #[arg(long, value_name = "IMAGE", requires = "expect_pcrs", conflicts_with = "receipt")]
    pub eif: Option<PathBuf>,

    /// The expected PCRs (nitro-cli measurement JSON, as `proofpack build`
    /// writes). `--expect` is an older spelling.
    #[arg(long, alias = "expect", value_name = "PCRS_JSON", requires = "eif")]
    pub expect_pcrs: Option<PathBuf>,

    /// Receipts to gate (with --repo); repeatable. Runs the full audit.
    #[arg(long, value_name = "RECEIPT")]
    pub receipt: Vec<PathBuf>,

    /// What receipts are checked against.
    #[command(flatten)]
    pub options: AuditOptions,

    /// Report format and destination.
    #[command(flatten)]
    pub output: OutputArgs,
}

const AFTER_HELP: &str = "\
Examples:
  proofpack gate --eif out/enclave.eif --expect-pcrs deploy/pcrs.json --format github
  proofpack gate --receipt latest.receipt.json --repo . \\
      --kms-policy arn:aws:kms:eu-west-1:111122223333:key/1234=policy.json --format sarif -o gate.sarif
  proofpack gate --receipt r.json --repo . --kms-policy ARN=p.json --format junit -o gate.xml

See docs/github-actions-gate.yml for a complete GitHub Actions workflow.

Exit status:
  0  everything matches
  1  a mismatch or any other failed check
  2  invalid input or usage (unreadable or malformed file, bad flag)
  3  internal error (cannot write the output, or a bug)";

/// Runs `proofpack gate`.
pub fn run(args: GateArgs) -> anyhow::Result<ExitCode> {
    let report = match (&args.eif, &args.expect_pcrs) {
        (Some(eif), Some(expect)) => gate_eif(eif, expect, &args)?,
        _ => {
            if args.options.repo.is_none() {
                anyhow::bail!("gate --receipt needs --repo PATH_OR_URL");
            }
            let receipts = load_receipts(&args.receipt)?;
            build_auditor(&args.options, "gate")?.audit(&receipts, now_rfc3339())
        }
    };
    emit(&report, &args.output)
}

fn gate_eif(
    eif: &std::path::Path,
    expect: &std::path::Path,
    args: &GateArgs,
) -> anyhow::Result<AuditReport> {
    let expected_bytes =
        read_input(expect, "expected PCRs", build_spec::pcr::measurements::MAX_JSON_LEN as u64)?;
    let expected = build_spec::pcr::Measurements::from_json(&expected_bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", expect.display()))?;
    // An unreadable image file is invalid input; a file that is not a valid
    // EIF is a failed gate (recorded as a check).
    std::fs::metadata(eif)
        .map_err(|e| anyhow::anyhow!("cannot read image {}: {e}", eif.display()))?;
    let computed = crate::audit::stages::image_pcrs(eif);
    let mut settings = load_options(&args.options, "gate")?.settings;
    settings.expect = Some(InputFile {
        label: "expected PCRs".into(),
        path: expect.display().to_string(),
        sha256: Some(sha256_hex(&expected_bytes)),
    });
    let subject =
        gate_image(&eif.display().to_string(), computed, &expected, &expect.display().to_string());
    Ok(AuditReport {
        tool: ToolInfo::current(),
        verified_at: now_rfc3339(),
        settings,
        subjects: vec![subject],
    })
}
