//! `proofpack kms-trail check`: the continuous audit of pinned KMS keys from
//! CloudTrail (issue 16), and the `--cloudtrail` options `audit` shares.
//!
//! A thin layer: it reads the command line, verifies the receipts given,
//! and hands everything to [`crate::trail`]; the report is the audit's
//! report model and renderers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};

use crate::attestation::TrustAnchor;
use crate::audit::receipt_stage::ReceiptStage;
use crate::audit::{parse_policy_arg, ReceiptCheck as _};
use crate::cli::audit::{emit, now_rfc3339, read_input, sha256_hex, OutputArgs};
use crate::cli::input;
use crate::kms_policy::expected::{Expected, DEFAULT_INDICES, MAX_EXPECTED_JSON};
use crate::receipt::ReceiptOptions;
use crate::report::{
    AuditReport, Check, Checks, InputFile, Settings, ToolInfo, TrailSettings, TrustRoot,
};
use crate::trail::policy::{Initial, PolicyAnalyser};
use crate::trail::receipts::{statement_of, window_of, ReceiptWindow};
use crate::trail::{PinnedKey, TrailConfig};

/// The CloudTrail inputs and window (shared by `audit` and `kms-trail check`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "CloudTrail")]
pub struct TrailArgs {
    /// CloudTrail to read, repeatable: S3 log files (.json or .json.gz),
    /// directories of them (recursively; digest files are recognised),
    /// `aws cloudtrail lookup-events` output, CloudTrail Lake query results,
    /// Athena query results (the CSV result object).
    #[arg(long = "cloudtrail", value_name = "PATH")]
    pub cloudtrail: Vec<PathBuf>,

    /// Start of the audit window, RFC 3339 (e.g. 2026-11-01T00:00:00Z).
    #[arg(long, value_name = "TIME", requires = "cloudtrail")]
    pub from: Option<String>,

    /// End of the audit window, RFC 3339.
    #[arg(long, value_name = "TIME", requires = "cloudtrail")]
    pub to: Option<String>,

    /// The key policy in force at --from, as KEY_ARN=FILE, when the trail
    /// holds no earlier CreateKey/PutKeyPolicy of the key (e.g. from the
    /// previous period's audit). Without either, that stretch is UNKNOWN.
    #[arg(long = "initial-policy", value_name = "KEY_ARN=FILE")]
    pub initial_policy: Vec<String>,

    /// Longest stretch of the window without any record that is accepted
    /// as a quiet account rather than a gap in the logs.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub max_quiet: Duration,

    /// A public key of the trail's digest files (PEM, DER, or the base64 DER
    /// of `aws cloudtrail list-public-keys`), repeatable: with it the digest
    /// files found under --cloudtrail are verified (signatures, chain, log
    /// file hashes). The newest digest's signature is read from DIGEST.sig
    /// (the object's x-amz-meta-signature, hex).
    #[arg(long = "digest-public-key", value_name = "FILE")]
    pub digest_public_key: Vec<PathBuf>,

    /// How far outside a receipt's time window a use still matches it.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub receipt_slack: Duration,
}

/// `proofpack kms-trail`.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "The auditor's workflow in five lines (`proofpack kms-trail check --help` says what is checked):\n",
    trail_workflow!()
))]
pub struct KmsTrailArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KmsTrailCmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum KmsTrailCmd {
    /// Audit pinned keys from CloudTrail over a window: every use, the
    /// policy's pinning over time, key events, coverage.
    Check(Box<CheckArgs>),
    /// Print the CloudTrail Lake or Athena query whose results `check
    /// --cloudtrail` reads, for trails too large to download.
    Sql(SqlArgs),
}

/// `proofpack kms-trail sql`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("store").required(true).args(["event_data_store", "athena_table"])))]
#[command(after_help = "\
Example (an organisation trail of a year, in CloudTrail Lake):
  proofpack kms-trail sql --event-data-store EDS_ID --key \"$KEY_ARN\" \\
      --from 2026-01-01T00:00:00Z --to 2027-01-01T00:00:00Z > q.sql
  id=$(aws cloudtrail start-query --query-statement file://q.sql --query QueryId --output text)
  aws cloudtrail get-query-results --query-id \"$id\" > results.json   # every page: repeat with --next-token
  proofpack kms-trail check --cloudtrail results.json --from ... --to ... --key \"$KEY_ARN\" --expect pcrs.json

The same in Athena, over the CloudTrail table of the Athena User Guide:
  proofpack kms-trail sql --athena-table default.cloudtrail_logs --key \"$KEY_ARN\" \\
      --from 2026-01-01T00:00:00Z --to 2027-01-01T00:00:00Z > q.sql
  id=$(aws athena start-query-execution --query-string file://q.sql \\
      --result-configuration OutputLocation=s3://results/ --query QueryExecutionId --output text)
  aws s3 cp \"s3://results/$id.csv\" results.csv   # the whole result, not get-query-results pages
  proofpack kms-trail check --cloudtrail results.csv --from ... --to ... --key \"$KEY_ARN\" --expect pcrs.json")]
pub struct SqlArgs {
    /// A CloudTrail Lake event data store id (the FROM of a Lake query).
    #[arg(long, value_name = "ID")]
    pub event_data_store: Option<String>,
    /// An Athena table of CloudTrail logs, DATABASE.TABLE, created with the
    /// DDL of the Athena User Guide (Athena engine v3).
    #[arg(long, value_name = "DB.TABLE")]
    pub athena_table: Option<String>,
    /// The key (ARN).
    #[arg(long, value_name = "KEY_ARN")]
    pub key: String,
    /// Start of the audit window, RFC 3339.
    #[arg(long, value_name = "TIME")]
    pub from: String,
    /// End of the audit window, RFC 3339.
    #[arg(long, value_name = "TIME")]
    pub to: String,
}

/// `proofpack kms-trail check`.
#[derive(Debug, Args)]
#[command(after_help = CHECK_AFTER_HELP)]
pub struct CheckArgs {
    /// The CloudTrail and the window.
    #[command(flatten)]
    pub trail: TrailArgs,

    /// A pinned key to audit (ARN), repeatable; the keys of the receipts
    /// given are added.
    #[arg(long = "key", value_name = "KEY_ARN")]
    pub keys: Vec<String>,

    /// The expected PCRs (nitro-cli describe-eif JSON or {"0":..,"1":..,"2":..});
    /// without it, the PCR0/1/2 of the receipts given.
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,

    /// Pack receipts whose attested uses are accounted for (one or more
    /// files; repeatable). Only receipts that verify are used.
    #[arg(long = "receipt", value_name = "FILE", num_args = 1..)]
    pub receipts: Vec<PathBuf>,

    /// Trust this root certificate (PEM) for the receipts instead of the AWS
    /// Nitro Enclaves root G1.
    #[arg(long, value_name = "PEM")]
    pub root: Option<PathBuf>,

    /// Also accept receipts attested by the proofpack development CA.
    #[arg(long)]
    pub allow_dev_ca: bool,

    /// A principal trusted not to abuse its rights (policy analysis).
    #[arg(long = "trusted-principal", value_name = "ARN")]
    pub trusted_principal: Vec<String>,

    /// Report format and destination.
    #[command(flatten)]
    pub output: OutputArgs,
}

const CHECK_AFTER_HELP: &str = concat!(
    "\
For each key, over [--from, --to]: every Decrypt / GenerateDataKey* /
DeriveSharedSecret / ReEncrypt on the key is classified: attested with the
expected PCRs and covered by a receipt (same module id, key, time), an
unreceipted attested use, a use attested by another image, an unattested use
(who, when, from where), undecidable (measurements unreadable), or a failed
call (counted apart). Every CreateKey / PutKeyPolicy is run through the
pinning analyser: the key was pinned throughout, or the report names each
interval when it was not with the events that opened and closed it. Grants,
disable, deletion, replication and metadata events are listed. Damaged
files, pages left unread, and a window the logs do not cover are
CANNOT_DECIDE (a failure), never a pass.

The auditor's workflow in five lines:
",
    trail_workflow!(),
    "

Exit status:
  0  every check passed
  1  a check failed or could not be decided
  2  invalid input or usage
  3  internal error"
);

/// Parses an RFC 3339 time given on the command line.
pub fn parse_time_arg(flag: &str, v: &str) -> anyhow::Result<i64> {
    cloudtrail::record::parse_time(v).map_err(|_| {
        anyhow::anyhow!("{flag} {v:?}: not an RFC 3339 time (e.g. 2026-11-01T00:00:00Z)")
    })
}

/// The window and the initial policies read from [`TrailArgs`].
pub struct TrailInputs {
    /// Window start.
    pub from: i64,
    /// Window end.
    pub to: i64,
    /// Initial policies by key ARN: (bytes, path).
    pub initial: Vec<(String, Vec<u8>, String)>,
    /// The digest public keys.
    pub digest_keys: Vec<rsa::RsaPublicKey>,
}

/// Reads the window and initial policies; errors are usage errors.
pub fn load_trail_inputs(t: &TrailArgs) -> anyhow::Result<TrailInputs> {
    if t.cloudtrail.is_empty() {
        bail!("--cloudtrail: give at least one file or directory");
    }
    let from = parse_time_arg(
        "--from",
        t.from.as_deref().context("--from is required with --cloudtrail")?,
    )?;
    let to =
        parse_time_arg("--to", t.to.as_deref().context("--to is required with --cloudtrail")?)?;
    let mut initial = Vec::new();
    for arg in &t.initial_policy {
        let (arn, file) =
            parse_policy_arg(arg).map_err(|e| anyhow::anyhow!("--initial-policy: {e}"))?;
        let bytes = read_input(&file, "initial KMS policy", input::MAX_POLICY_FILE)?;
        initial.push((arn, bytes, file.display().to_string()));
    }
    let digest_keys = t
        .digest_public_key
        .iter()
        .map(|p| {
            cloudtrail::digest::read_public_key(p)
                .map_err(|e| anyhow::anyhow!("--digest-public-key: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(TrailInputs { from, to, initial, digest_keys })
}

/// Builds the per-key settings: the initial policy analysed with the key's
/// expected PCRs.
pub fn pinned_key(
    key_arn: &str,
    expected: Expected,
    expected_from: String,
    inputs: &TrailInputs,
    trusted: &[String],
) -> PinnedKey {
    let initial = inputs.initial.iter().find(|(a, _, _)| a == key_arn).map(|(_, bytes, path)| {
        let (state, verdict) = PolicyAnalyser::new(key_arn, &expected, trusted).analyse(bytes);
        Initial {
            state,
            source: format!("the policy given with --initial-policy ({path}) [{verdict}]"),
        }
    });
    PinnedKey { key_arn: key_arn.to_string(), expected, expected_from, initial }
}

/// Runs the trail audit and returns its subjects and settings.
pub fn audit_trail(
    t: &TrailArgs,
    cfg: &TrailConfig,
) -> anyhow::Result<(Vec<crate::report::SubjectReport>, TrailSettings)> {
    let run =
        crate::trail::run(cfg, &t.cloudtrail).map_err(|e| anyhow::anyhow!("--cloudtrail: {e}"))?;
    let subjects = crate::trail::checks::subjects(cfg, &run, &Checks::new());
    let settings = TrailSettings {
        paths: t.cloudtrail.iter().map(|p| p.display().to_string()).collect(),
        from: cloudtrail::record::format_time(cfg.from),
        to: cloudtrail::record::format_time(cfg.to),
        files_read: run.files.len() as u64,
        records: run.coverage.records,
    };
    Ok((subjects, settings))
}

/// The trail settings of `audit`/`kms-trail`: durations in seconds.
pub fn config(
    t: &TrailArgs,
    inputs: &TrailInputs,
    keys: Vec<PinnedKey>,
    receipts: Vec<ReceiptWindow>,
    trusted: Vec<String>,
) -> TrailConfig {
    TrailConfig {
        keys,
        from: inputs.from,
        to: inputs.to,
        receipts,
        trusted,
        slack_secs: t.receipt_slack.as_secs() as i64,
        max_quiet_secs: t.max_quiet.as_secs() as i64,
        digest_keys: inputs.digest_keys.clone(),
    }
}

/// Runs `proofpack kms-trail`.
pub fn run(args: KmsTrailArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        KmsTrailCmd::Check(a) => check(*a),
        KmsTrailCmd::Sql(a) => {
            let from = parse_time_arg("--from", &a.from)?;
            let to = parse_time_arg("--to", &a.to)?;
            let q = match (&a.event_data_store, &a.athena_table) {
                (Some(eds), _) => crate::trail::sql::lake_query(eds, &a.key, from, to)?,
                (None, Some(table)) => crate::trail::sql::athena_query(table, &a.key, from, to)?,
                (None, None) => bail!("give --event-data-store or --athena-table"),
            };
            print!("{q}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let inputs = load_trail_inputs(&a.trail)?;
    let root = match &a.root {
        Some(p) => {
            let b = read_input(p, "trust root", input::MAX_CERT_FILE)?;
            TrustAnchor::from_pem_or_der(&b, format!("{} (given with --root)", p.display()))
                .map_err(|e| anyhow::anyhow!("--root {}: {e}", p.display()))?
        }
        None => TrustAnchor::aws_nitro_root_g1(),
    };
    let trust_root = TrustRoot { source: root.label.clone(), sha256: root.sha256_hex() };
    let mut ropts = ReceiptOptions::default();
    ropts.attestation.roots = vec![root];
    let stage = ReceiptStage::new(ropts, a.allow_dev_ca);
    let mut windows = Vec::new();
    let mut receipt_checks = Checks::new();
    for p in &a.receipts {
        let bytes = read_input(p, "receipt", input::MAX_RECEIPT)?;
        let path = p.display().to_string();
        let findings = stage.check(&bytes);
        let failed: Vec<String> = findings
            .checks
            .iter()
            .filter(|(_, c)| c.required && c.is_fail())
            .map(|(_, c)| c.id.clone())
            .collect();
        if !failed.is_empty() {
            receipt_checks.push(Check::warn(
                "trail.receipts",
                format!("{path} does not verify ({}): the uses it would cover are reported as unreceipted", failed.join(", ")),
            ));
            continue;
        }
        let st = statement_of(&bytes).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        windows.push(window_of(&path, &st).map_err(|e| anyhow::anyhow!("{path}: {e}"))?);
    }
    let (expected, expected_from) = match &a.expect {
        Some(p) => {
            let b = read_input(p, "expected PCRs", MAX_EXPECTED_JSON as u64)?;
            let e = Expected::from_json(&b, Some(DEFAULT_INDICES))
                .with_context(|| format!("--expect {}", p.display()))?;
            (e, format!("{} (--expect)", p.display()))
        }
        None => {
            (expected_from_receipts(&windows)?, "the PCR0/1/2 of the receipts given".to_string())
        }
    };
    expected.reject_zero_image_pcrs()?;
    let mut key_arns = a.keys.clone();
    for w in &windows {
        for k in &w.keys {
            if !key_arns.contains(k) {
                key_arns.push(k.clone());
            }
        }
    }
    if key_arns.is_empty() {
        bail!("no key to audit: give --key KEY_ARN (or receipts that used keys)");
    }
    let keys = key_arns
        .iter()
        .map(|k| {
            pinned_key(k, expected.clone(), expected_from.clone(), &inputs, &a.trusted_principal)
        })
        .collect();
    let cfg = config(&a.trail, &inputs, keys, windows, a.trusted_principal.clone());
    let (mut subjects, trail_settings) = audit_trail(&a.trail, &cfg)?;
    if !receipt_checks.0.is_empty() {
        for s in &mut subjects {
            s.add(crate::report::GroupKind::Input, receipt_checks.clone());
        }
    }
    let mut settings = Settings {
        command: "kms-trail".into(),
        allow_dev_ca: a.allow_dev_ca,
        trust_root: Some(trust_root),
        cloudtrail: Some(trail_settings),
        ..Settings::default()
    };
    if let Some(p) = &a.expect {
        let b = read_input(p, "expected PCRs", MAX_EXPECTED_JSON as u64)?;
        settings.expect = Some(InputFile {
            label: "expected PCRs".into(),
            path: p.display().to_string(),
            sha256: Some(sha256_hex(&b)),
        });
    }
    for (arn, bytes, path) in &inputs.initial {
        settings.kms_policies.push(InputFile {
            label: arn.clone(),
            path: path.clone(),
            sha256: Some(sha256_hex(bytes)),
        });
    }
    let report =
        AuditReport { tool: ToolInfo::current(), verified_at: now_rfc3339(), settings, subjects };
    emit(&report, &a.output)
}

/// The expected set from receipts: every PCR0/1/2 value they attest.
pub fn expected_from_receipts(windows: &[ReceiptWindow]) -> anyhow::Result<Expected> {
    if windows.is_empty() {
        bail!("no expected PCRs: give --expect FILE or receipts that verify");
    }
    let mut pcrs = std::collections::BTreeMap::new();
    for w in windows {
        for (i, v) in w.pcrs.iter().enumerate() {
            let e: &mut Vec<String> = pcrs.entry(i as u8).or_default();
            if !e.contains(v) {
                e.push(v.clone());
            }
        }
    }
    Ok(Expected { pcrs })
}
