//! `proofpack audit RECEIPT... --repo PATH_OR_URL`: one command from receipts
//! to a verdict with reasons, in the report format people need.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use sha2::{Digest as _, Sha256};

use crate::attestation::TrustAnchor;
use crate::audit::receipt_stage::ReceiptStage;
use crate::audit::secrets::{SecretsSettings, SecretsStage};
use crate::audit::stages::{
    find_images, CachedRebuild, GitSource, KmsKeyStateStage, KmsPolicyStage,
};
use crate::audit::{parse_policy_arg, ArtifactInput, Auditor, PolicyInput, ReceiptInput};
use crate::cli::exit::{self, ResultExt as _};
use crate::cli::{input, output};
use crate::receipt::ReceiptOptions;
use crate::report::{self, AuditReport, InputFile, Settings, TrustRoot};
use crate::secrets_repo::SecretsRepo;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Human-readable text, coloured on a terminal unless NO_COLOR is set.
    Text,
    /// The versioned JSON report (docs/schema/audit-report.v1.json).
    Json,
    /// GitHub-flavoured Markdown, e.g. for $GITHUB_STEP_SUMMARY.
    Markdown,
    /// One self-contained HTML file to archive.
    Html,
    /// JUnit XML for CI test reports.
    Junit,
    /// SARIF 2.1.0 for code-scanning dashboards.
    Sarif,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

/// Where and how to write the report.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Report")]
pub struct OutputArgs {
    /// Report format [default: text on a terminal, json otherwise].
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<ReportFormat>,

    /// Write the report to FILE instead of stdout (a one-line verdict still
    /// goes to stderr).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What every receipt is checked against.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Receipt checks")]
pub struct AuditOptions {
    /// The git repository the receipts' commits must exist in: a path or a
    /// URL (cloned into a temporary directory).
    #[arg(long, value_name = "PATH_OR_URL")]
    pub repo: Option<String>,

    /// Also require each commit to be reachable from this branch.
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// Also require each commit to carry a valid signature.
    #[arg(long)]
    pub require_signed_commit: bool,

    /// The key policy of a KMS key, as KEY_ARN=FILE; repeat for each key the
    /// receipts used. A key used without a policy fails the audit.
    #[arg(long = "kms-policy", value_name = "KEY_ARN=FILE")]
    pub kms_policy: Vec<String>,

    /// A principal trusted not to abuse its rights on the KMS keys (e.g. the
    /// key administrator allowed kms:PutKeyPolicy); repeatable. Findings
    /// about trusted principals do not fail the audit.
    #[arg(long = "trusted-principal", value_name = "ARN")]
    pub trusted_principal: Vec<String>,

    /// The build spec the images must have been built from, as a path in
    /// the repository (e.g. build-spec/enclave.toml). Without it the rebuild
    /// uses whatever spec the receipt names, so a receipt can pick the spec
    /// it is checked against. With it, a receipt naming another spec fails
    /// `rebuild.spec`, and the rebuild uses this path.
    #[arg(long, value_name = "PATH")]
    pub spec: Option<String>,

    /// Build profile the attested images were built with.
    #[arg(long, value_name = "NAME", default_value = "production")]
    pub profile: String,

    /// Rebuild even with a toolchain that differs from the spec's pin (the
    /// report says so; the PCRs will likely differ).
    #[arg(long)]
    pub allow_toolchain_mismatch: bool,

    /// Directory of pinned build blobs (kernel, nsm.ko) for rebuilds.
    #[arg(long, value_name = "DIR")]
    pub blobs: Option<PathBuf>,

    /// The fetched Debian kernel package for rebuilds of a profile with
    /// kernel = "debian-package" (`scripts/enclave-emulator fetch-kernel`).
    #[arg(long, value_name = "DIR")]
    pub debian_kernel: Option<PathBuf>,

    /// Directory (or file) of EIF images that may have run: an image whose
    /// computed PCRs equal a receipt's is diffed against the rebuild when
    /// the PCRs differ, to name the changed files.
    #[arg(long, value_name = "PATH")]
    pub images: Option<PathBuf>,

    /// Trust this root certificate (PEM) instead of the AWS Nitro Enclaves
    /// root G1.
    #[arg(long, value_name = "PEM")]
    pub root: Option<PathBuf>,

    /// Also accept attestation documents signed by the proofpack development
    /// CA (development NSM). Every report then says so.
    #[arg(long)]
    pub allow_dev_ca: bool,

    /// Accept QEMU nitro-enclave documents, which are UNSIGNED: their chain
    /// check is a WARN ("unsigned emulator document, not evidence of Nitro
    /// hardware") in every format; every other check runs as usual.
    #[arg(long)]
    pub allow_emulator: bool,

    /// The artifact a receipt must name among its outputs (SHA-256 match).
    #[arg(long, value_name = "FILE")]
    pub artifact: Option<PathBuf>,

    /// A KMS endpoint to ask for the current key state (DescribeKey), e.g.
    /// the local KMS: http://127.0.0.1:4599.
    #[arg(long, value_name = "URL")]
    pub kms_endpoint: Option<String>,

    /// Rebuild even when the rebuild cache has an answer.
    #[arg(long)]
    pub no_cache: bool,

    /// Repository path of the recipients policy, read at each receipt's
    /// commit: every output recipient must be allowed by it.
    #[arg(long, value_name = "PATH", default_value = crate::receipt::recipients::DEFAULT_POLICY_PATH)]
    pub recipients_policy: String,

    /// Accept inputs not bound to a recipients policy, jobs without a policy
    /// and images built with allow-unbound-inputs (WARN instead of FAIL).
    #[arg(long)]
    pub allow_unbound_inputs: bool,

    /// The git repository the secrets were committed in (issue 21): each
    /// receipt's secrets commit must exist there, and each input must be the
    /// blob at its path with the digest the receipt records; receipts
    /// audited together are checked for rollbacks (an input from a commit
    /// older than the previous pack of the same service/environment).
    #[arg(long, value_name = "DIR", help_heading = "Secrets commit")]
    pub secrets_repo: Option<PathBuf>,

    /// Also require each secrets commit to be reachable from this branch.
    #[arg(long, value_name = "BRANCH", requires = "secrets_repo", help_heading = "Secrets commit")]
    pub secrets_branch: Option<String>,

    /// Fail (instead of WARN) when an input is a local file rather than a
    /// committed blob, or a receipt predates secrets sources.
    #[arg(long, help_heading = "Secrets commit")]
    pub require_secrets_commit: bool,

    /// The SSH allowed-signers file (git's gpg.ssh.allowedSignersFile
    /// format) that --require-signed-commit checks commits against, image
    /// source and secrets alike; without it, git's own configuration decides.
    #[arg(long, value_name = "FILE", requires = "require_signed_commit")]
    pub allowed_signers: Option<PathBuf>,
}

/// `proofpack audit`.
#[derive(Debug, Args)]
#[command(
    after_help = AFTER_HELP,
)]
pub struct AuditArgs {
    /// Receipt files (DSSE envelopes) to audit.
    #[arg(required = true, value_name = "RECEIPT")]
    pub receipts: Vec<PathBuf>,

    /// What receipts are checked against.
    #[command(flatten)]
    pub options: AuditOptions,

    /// The keys' CloudTrail over a window (issue 16).
    #[command(flatten)]
    pub trail: crate::cli::kms_trail::TrailArgs,

    /// Report format and destination.
    #[command(flatten)]
    pub output: OutputArgs,
}

const AFTER_HELP: &str = concat!(
    "\
For each receipt, audit checks: the DSSE signature; the attestation documents and
their certificate chain at the documents' own time; the key and statement
bindings; that the commit exists in --repo (optionally on --branch, signed); a
rebuild of that commit (cached, shared between receipts of the same commit) and
its PCRs against the attested ones, with an image diff when they differ; that
each KMS key used has a policy pinning exactly those PCRs with no bypass (and,
for receipts bound to a recipients policy, a WARN when a key lets Decrypt run
without the proofpack:recipients context); the recipients: the job's
recipients policy is the file at --recipients-policy PATH in the receipt's
commit, every output recipient is allowed by it for the job's
service/environment (the refused one is named), every input was decrypted with
its digest as KMS context, and the image refuses unbound inputs (unbound inputs
or images fail unless --allow-unbound-inputs); where the secrets came from:
each input's commit and path as proven inside the enclave (secrets.*: the
commit exists in --secrets-repo, the input is the blob there, optionally on
--secrets-branch and signed, and no rollback among the receipts audited
together; a local input is a WARN, a FAIL under --require-secrets-commit);
and, with --artifact, the artifact digest. The verdict is PASS only if every
required check of every receipt passed.

Which build spec is rebuilt: without --spec, the one the receipt names, so the
receipt's producer chooses what it is compared with. Give --spec PATH (the
spec you reviewed, a path in the repository) to decide it yourself: a receipt
naming another spec fails `rebuild.spec`, and the rebuild uses PATH.

Examples:
  proofpack audit out/prod.ppa.receipt.json --repo . \\
      --kms-policy arn:aws:kms:eu-west-1:111122223333:key/1234=policy.json
  proofpack audit receipts/*.json --repo https://github.com/acme/app \\
      --kms-policy ARN=policy.json --format html -o audit.html
  proofpack audit r.json --repo . --kms-policy ARN=p.json --allow-dev-ca --format json
  # Require the reviewed build spec; a receipt naming another one fails:
  proofpack audit r.json --repo . --spec build-spec/enclave.toml --kms-policy ARN=p.json
  # The secrets' commit too (packed with --secrets-repo/--secrets-rev):
  # committed on main, signed by an allowed signer, no rollback between packs:
  proofpack audit receipts/*.json --repo . --kms-policy ARN=p.json \\
      --secrets-repo ../secrets --secrets-branch main --require-secrets-commit \\
      --require-signed-commit --allowed-signers .proofpack/allowed_signers
  # And every use of the receipts' keys over a month, from CloudTrail: the
  # auditor's workflow in five lines (`proofpack kms-trail check --help` says
  # what is checked):
",
    trail_workflow!(),
    "

Exit status:
  0  every requested check passed
  1  a check failed (mismatch, bad signature, policy bypass, ...)
  2  invalid input or usage (unreadable or malformed file, bad flag)
  3  internal error (cannot write the output, or a bug)"
);

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads a file named on the command line, refusing one larger than `max`
/// from its size before reading it (a 150 MB "receipt" costs a `stat`, not
/// 150 MB); the error names what the file was for and the path.
pub fn read_input(path: &Path, what: &str, max: u64) -> anyhow::Result<Vec<u8>> {
    crate::cli::input::read_limited(path, max).with_context(|| format!("cannot read {what}"))
}

/// Everything read from the command line before auditing.
pub struct Loaded {
    /// Settings recorded in the report.
    pub settings: Settings,
    /// Policies by key.
    pub policies: Vec<PolicyInput>,
    /// The artifact.
    pub artifact: Option<ArtifactInput>,
    /// The artifact's bytes, for the receipt verifier's header checks.
    pub artifact_bytes: Option<Vec<u8>>,
}

/// Reads the option files; an unreadable file is invalid input (exit 2).
pub fn load_options(o: &AuditOptions, command: &str) -> anyhow::Result<Loaded> {
    let mut settings = Settings {
        command: command.into(),
        repository: o.repo.clone(),
        branch: o.branch.clone(),
        allow_dev_ca: o.allow_dev_ca,
        blobs: o.blobs.as_ref().map(|p| p.display().to_string()),
        kms_endpoint: o.kms_endpoint.clone(),
        ..Settings::default()
    };
    let mut policies = Vec::new();
    for arg in &o.kms_policy {
        let (arn, file) =
            parse_policy_arg(arg).map_err(|e| anyhow::anyhow!("--kms-policy: {e}"))?;
        if policies.iter().any(|p: &PolicyInput| p.key_arn == arn) {
            anyhow::bail!("--kms-policy: {arn} given twice");
        }
        let bytes = read_input(&file, "KMS policy", input::MAX_POLICY_FILE)?;
        settings.kms_policies.push(InputFile {
            label: arn.clone(),
            path: file.display().to_string(),
            sha256: Some(sha256_hex(&bytes)),
        });
        policies.push(PolicyInput { key_arn: arn, bytes });
    }
    let (artifact, artifact_bytes) = match &o.artifact {
        None => (None, None),
        Some(p) => {
            let bytes = read_input(p, "artifact", input::MAX_ARTIFACT)?;
            let sha = sha256_hex(&bytes);
            settings.artifact = Some(InputFile {
                label: "artifact".into(),
                path: p.display().to_string(),
                sha256: Some(sha.clone()),
            });
            (Some(ArtifactInput { path: p.display().to_string(), sha256: sha }), Some(bytes))
        }
    };
    Ok(Loaded { settings, policies, artifact, artifact_bytes })
}

/// Reads the receipts; a missing file is invalid input (exit 2) rather than
/// a failed check, so a typo never reads as "the receipt is bad".
pub fn load_receipts(paths: &[PathBuf]) -> anyhow::Result<Vec<ReceiptInput>> {
    paths
        .iter()
        .map(|p| {
            let bytes = read_input(p, "receipt", input::MAX_RECEIPT)?;
            Ok(ReceiptInput { path: p.display().to_string(), bytes: Ok(bytes) })
        })
        .collect()
}

/// The current time, RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    now.format(&f).unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Renders and writes the report, then maps the verdict to the exit code.
pub fn emit(report: &AuditReport, out: &OutputArgs) -> anyhow::Result<ExitCode> {
    let format = out.format.unwrap_or_else(|| {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            ReportFormat::Text
        } else {
            ReportFormat::Json
        }
    });
    let to_stdout = out.output.is_none();
    let body = match format {
        ReportFormat::Text => report::text::render(report, to_stdout && output::use_color()),
        ReportFormat::Json => report::json::render(report),
        ReportFormat::Markdown => report::markdown::render(report),
        ReportFormat::Html => report::html::render(report),
        ReportFormat::Junit => report::junit::render(report),
        ReportFormat::Sarif => report::sarif::render(report),
        ReportFormat::Github => report::github::render(report),
    };
    let verdict = report.verdict();
    match &out.output {
        Some(path) => {
            std::fs::write(path, body.as_bytes())
                .internal(format!("cannot write {}", path.display()))?;
            let sum = report.summary();
            eprintln!(
                "{}: {} of {} subject(s) passed; report written to {}",
                verdict.label(),
                sum.passed,
                sum.total,
                path.display()
            );
        }
        None => {
            let mut stdout = anstream::stdout().lock();
            if let Err(e) = stdout.write_all(body.as_bytes()).and_then(|_| stdout.flush()) {
                // A closed pipe (`| head`) is the reader's choice, not an error.
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    eprintln!("error: cannot write the report: {e}");
                    return Ok(ExitCode::from(exit::INTERNAL));
                }
            }
        }
    }
    if report.settings.allow_dev_ca {
        eprintln!("warning: the development CA was accepted (--allow-dev-ca): this is not evidence of real Nitro hardware");
    }
    Ok(exit::from_verdict(verdict))
}

/// Runs `proofpack audit`.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let receipts = load_receipts(&args.receipts)?;
    let trail_inputs = if args.trail.cloudtrail.is_empty() {
        None
    } else {
        Some(crate::cli::kms_trail::load_trail_inputs(&args.trail)?)
    };
    let auditor = build_auditor(&args.options, "audit")?;
    let mut report = auditor.audit(&receipts, now_rfc3339());
    if let Some(inputs) = trail_inputs {
        trail_subjects(&args, &receipts, &inputs, &mut report)?;
    }
    emit(&report, &args.output)
}

/// `audit --cloudtrail`: the keys the receipts used (and those given with
/// --kms-policy), with the PCRs of the receipts that passed the audit as the
/// expected set and those receipts' windows; one subject per key.
fn trail_subjects(
    args: &AuditArgs,
    receipts: &[ReceiptInput],
    inputs: &crate::cli::kms_trail::TrailInputs,
    report: &mut AuditReport,
) -> anyhow::Result<()> {
    use crate::cli::kms_trail::{audit_trail, config, expected_from_receipts, pinned_key};
    use crate::report::{Check, GroupKind, SubjectKind, SubjectReport, Verdict};
    use crate::trail::receipts::{statement_of, window_of};
    let mut windows = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for (r, s) in receipts.iter().zip(&report.subjects) {
        let Ok(bytes) = &r.bytes else { continue };
        let Ok(w) = statement_of(bytes).and_then(|st| window_of(&r.path, &st)) else { continue };
        for k in &w.keys {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        if s.kind == SubjectKind::Receipt && s.verdict() == Verdict::Pass {
            windows.push(w);
        }
    }
    for arg in &args.options.kms_policy {
        if let Ok((arn, _)) = parse_policy_arg(arg) {
            if !keys.contains(&arn) {
                keys.push(arn);
            }
        }
    }
    if keys.is_empty() {
        anyhow::bail!(
            "--cloudtrail: no key to audit (the receipts name none; add --kms-policy KEY_ARN=FILE)"
        );
    }
    let Ok(expected) = expected_from_receipts(&windows) else {
        for k in keys {
            let mut s = SubjectReport::new(SubjectKind::KmsKey, k);
            s.push(
                GroupKind::KmsTrail,
                Check::fail(
                    "trail.expected",
                    "CANNOT_DECIDE: no receipt passed the audit, so there are no verified PCRs to hold the trail to",
                ),
            );
            report.subjects.push(s);
        }
        return Ok(());
    };
    let trusted = args.options.trusted_principal.clone();
    let from = "the attested PCR0/1/2 of the receipts that passed".to_string();
    let pinned = keys
        .iter()
        .map(|k| pinned_key(k, expected.clone(), from.clone(), inputs, &trusted))
        .collect();
    let cfg = config(&args.trail, inputs, pinned, windows, trusted);
    let (subjects, settings) = audit_trail(&args.trail, &cfg)?;
    report.subjects.extend(subjects);
    report.settings.cloudtrail = Some(settings);
    Ok(())
}

/// Builds the audit engine with the real stages from the command-line
/// options. Unreadable or malformed option files are invalid input.
pub fn build_auditor(o: &AuditOptions, command: &str) -> anyhow::Result<Auditor> {
    let loaded = load_options(o, command)?;
    let mut settings = loaded.settings;
    let root = match &o.root {
        Some(p) => {
            let b = read_input(p, "trust root", input::MAX_CERT_FILE)?;
            TrustAnchor::from_pem_or_der(&b, format!("{} (given with --root)", p.display()))
                .map_err(|e| anyhow::anyhow!("--root {}: {e}", p.display()))?
        }
        None => TrustAnchor::aws_nitro_root_g1(),
    };
    settings.trust_root = Some(TrustRoot { source: root.label.clone(), sha256: root.sha256_hex() });
    let mut ropts = ReceiptOptions::default();
    ropts.attestation.roots = vec![root];
    ropts.attestation.parse.emulator = o.allow_emulator;
    if let (Some(a), Some(bytes)) = (&loaded.artifact, loaded.artifact_bytes) {
        ropts.artifacts = vec![(a.path.clone(), bytes)];
    }
    let receipts = ReceiptStage::new(ropts, o.allow_dev_ca);
    let policy = KmsPolicyStage { trusted: o.trusted_principal.clone() };
    let mut a = Auditor::new(Box::new(receipts), Box::new(policy), settings);
    a.required_spec = match &o.spec {
        Some(p) => {
            Some(crate::audit::normalize_spec_path(p).map_err(|e| anyhow::anyhow!("--spec: {e}"))?)
        }
        None => None,
    };
    a.policies = loaded.policies;
    a.artifact = loaded.artifact;
    a.recipients = crate::audit::RecipientsSettings {
        policy_path: o.recipients_policy.clone(),
        allow_unbound: o.allow_unbound_inputs,
    };
    a.secrets = SecretsStage::new(SecretsSettings {
        repo: match &o.secrets_repo {
            Some(d) => Some(
                SecretsRepo::open(d)
                    .map_err(|e| anyhow::anyhow!("--secrets-repo {}: {e}", d.display()))?,
            ),
            None => None,
        },
        branch: o.secrets_branch.clone(),
        require_signed: o.require_signed_commit,
        allowed_signers: o.allowed_signers.clone(),
        require_commit: o.require_secrets_commit,
    });
    if let Some(f) = &o.allowed_signers {
        if !f.is_file() {
            anyhow::bail!("--allowed-signers {}: not a readable file", f.display());
        }
    }
    if let Some(repo) = &o.repo {
        let src = GitSource::open(repo, o.branch.clone(), o.require_signed_commit)
            .map_err(|e| anyhow::anyhow!("--repo {repo}: {e}"))?
            .with_allowed_signers(o.allowed_signers.clone());
        a.source = Some(Box::new(src));
        a.rebuild = Some(Box::new(CachedRebuild {
            repo: repo.clone(),
            profile: o.profile.clone(),
            blobs_dir: o.blobs.clone(),
            debian_kernel: o.debian_kernel.clone(),
            cache_dir: None,
            no_cache: o.no_cache,
            allow_toolchain_mismatch: o.allow_toolchain_mismatch,
        }));
    }
    if let Some(p) = &o.images {
        let (images, errors) = find_images(p).map_err(|e| anyhow::anyhow!("--images: {e}"))?;
        for e in errors {
            eprintln!("warning: --images: skipping {e}");
        }
        a.images = images;
    }
    if let Some(ep) = &o.kms_endpoint {
        a.key_state =
            Some(Box::new(KmsKeyStateStage::from_env(ep).map_err(|e| anyhow::anyhow!(e))?));
    }
    Ok(a)
}
