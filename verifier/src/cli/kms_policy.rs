//! `proofpack kms-policy`: check that a KMS key policy pins enclave PCRs,
//! render a pinned policy, and simulate one request.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use build_spec::pcr::Measurements;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use crate::attestation::input::decode_document;
use crate::attestation::{verify, TrustAnchor, VerifyOptions};
use crate::cli::exit;
use crate::cli::output::{use_color, Format};
use crate::kms_policy::eval::{evaluate, DecisionKind, Request};
use crate::kms_policy::expected::{Expected, DEFAULT_INDICES};
use crate::kms_policy::findings::Severity;
use crate::kms_policy::parse::{self, Policy};
use crate::kms_policy::pin::{
    analyse_bytes_with_limit, Analysis, Config, Origin, PinVerdict as Verdict,
};
use crate::kms_policy::render::{self, RenderInput, DEFAULT_RENDER_INDICES};
use crate::report::Verdict as CheckVerdict;

/// Schema id of `check --format json`.
pub const CHECK_SCHEMA: &str = "proofpack/kms-policy-check/v1";
/// Schema id of `simulate --format json`.
pub const SIMULATE_SCHEMA: &str = "proofpack/kms-policy-simulate/v1";

/// Hard ceiling on any input file read by this command.
const MAX_FILE: u64 = crate::cli::input::MAX_POLICY_FILE;
/// Largest attestation document file (raw, hex or base64).
const MAX_DOC_FILE: u64 = 64 * 1024;

const CHECK_HELP: &str = "\
Examples:
  # Is the key pinned to the PCRs of our image? (CI gate: exit 0 only if PINNED)
  proofpack kms-policy check policy.json --expect-pcrs pcrs.json
  # PCRs recomputed from the enclave image; the admin role is a trust assumption:
  proofpack kms-policy check policy.json --eif enclave.eif \\
      --trusted arn:aws:iam::111122223333:role/key-admin
  # Also require that every Decrypt carries the recipients-policy context (issue 20):
  proofpack kms-policy check policy.json --expect-pcrs pcrs.json \\
      --require-encryption-context proofpack:recipients
  # Also require that the enclave's role can still decrypt (lockout test):
  proofpack kms-policy check policy.json --expect-pcrs pcrs.json \\
      --principal arn:aws:iam::111122223333:role/enclave-parent --format json

Fetch the policy with `aws kms get-key-policy --key-id KEY --policy-name default \\
--query Policy --output text > policy.json`. --expect-pcrs takes nitro-cli
measurement JSON or a {\"0\": \"<hex>\", ...} map (a list of hex values accepts
several releases). Verdicts: PINNED, NOT_PINNED (a bypass, with a witness
request), CANNOT_DECIDE (depends on undocumented AWS behaviour: never a pass),
LOCKOUT_RISK (no bypass, but the genuine enclave cannot decrypt).
Grants, IAM policies of delegated accounts and SCPs/RCPs are not seen.
--require-encryption-context NAME adds the finding kms.policy.unbound-decrypt
when some principal (trusted or not, with or without a Recipient) may Decrypt
without kms:EncryptionContext:NAME; it fails the check even when PINNED.

Exit status:
  0  PINNED (and the required encryption context, if asked)
  1  NOT_PINNED, CANNOT_DECIDE, LOCKOUT_RISK, or a Decrypt without the required context
  2  invalid input (unreadable or malformed policy, bad PCR file, bad flag)
  3  internal error";

const RENDER_HELP: &str = "\
Examples:
  proofpack kms-policy render --pcrs pcrs.json \\
      --enclave-role arn:aws:iam::111122223333:role/enclave-parent \\
      --admin arn:aws:iam::111122223333:role/key-admin > policy.json
  proofpack kms-policy render --eif enclave.eif --enclave-role ARN --admin ARN --format terraform
  proofpack kms-policy render --attestation doc.cbor --enclave-role ARN --admin ARN --immutable

The policy allows Decrypt/GenerateDataKey only to the enclave role with every
pinned PCR in one StringEqualsIgnoreCase block, denies Decrypt, ReEncryptFrom
and DeriveSharedSecret to everyone per PCR, denies CreateGrant/ReplicateKey,
and gives the admin an explicit lifecycle list (PutKeyPolicy unless
--immutable; with --require-encryption-context proofpack:recipients the
enclave's Decrypt also needs that context key, issue 20; an immutable policy must be installed with
BypassPolicyLockoutSafetyCheck). `check` reports it PINNED when the admin is
--trusted (or with --immutable). PCR0, PCR1, PCR2 are required and must not be
all zero; PCR8 is pinned when present and non-zero.

Exit status:
  0  policy written
  2  invalid input (bad PCR source, bad principal ARN)
  3  internal error";

const SIMULATE_HELP: &str = "\
Examples:
  proofpack kms-policy simulate policy.json --action kms:Decrypt \\
      --principal arn:aws:iam::111122223333:role/enclave-parent --attestation doc.cbor
  proofpack kms-policy simulate policy.json --action kms:CreateGrant --principal ARN \\
      --context-list kms:GrantOperations=Decrypt,Encrypt --iam-allows
  proofpack kms-policy simulate policy.json --action kms:Decrypt --principal ARN --pcrs pcrs.json

With --attestation the PCRs come from the document only after it verifies
(chain to the AWS root, or --root for a test CA; signature; not debug mode).
--pcrs takes PCRs as given, without any proof: a what-if. The attestation keys
are set only for Decrypt, DeriveSharedSecret, GenerateDataKey,
GenerateDataKeyPair and GenerateRandom, as KMS does. Only the key policy is
evaluated (no grants, SCPs or RCPs); --iam-allows assumes the caller's IAM
policies allow the action (needed for account delegation and cross-account).

Exit status:
  0  Allow
  1  ExplicitDeny or ImplicitDeny
  2  invalid input (unreadable policy, document that does not verify, bad flag)
  3  internal error";

/// `proofpack kms-policy`.
#[derive(Debug, Args)]
pub struct KmsPolicyArgs {
    #[command(subcommand)]
    cmd: KmsPolicyCmd,
}

#[derive(Debug, Subcommand)]
enum KmsPolicyCmd {
    /// Decide whether anyone can decrypt without an enclave whose PCRs equal the expected ones.
    #[command(after_help = CHECK_HELP)]
    Check(Box<CheckArgs>),
    /// Render a least-privilege key policy pinned to enclave PCRs (JSON or Terraform).
    #[command(after_help = RENDER_HELP)]
    Render(Box<RenderArgs>),
    /// Evaluate one request against a key policy and show which statements decided.
    #[command(after_help = SIMULATE_HELP)]
    Simulate(Box<SimulateArgs>),
}

/// Key origin values for `--origin`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum OriginArg {
    #[value(name = "AWS_KMS")]
    AwsKms,
    #[value(name = "EXTERNAL")]
    External,
    #[value(name = "AWS_CLOUDHSM")]
    AwsCloudHsm,
    #[value(name = "EXTERNAL_KEY_STORE")]
    ExternalKeyStore,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("expected").required(true).args(["expect_pcrs", "eif"])))]
struct CheckArgs {
    /// The key policy JSON (`-` for standard input).
    policy: PathBuf,
    /// Expected PCRs: nitro-cli measurement JSON or an index->hex map.
    #[arg(long, value_name = "FILE")]
    expect_pcrs: Option<PathBuf>,
    /// Expected PCRs recomputed from this enclave image (EIF).
    #[arg(long, value_name = "IMAGE")]
    eif: Option<PathBuf>,
    /// PCR indices that must be pinned.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_INDICES.to_vec())]
    pcr_indices: Vec<u8>,
    /// The enclave's principal: the lockout test checks that this principal's attested Decrypt succeeds.
    #[arg(long, value_name = "ARN")]
    principal: Option<String>,
    /// A principal (ARN or account root) you trust; repeatable. Default: none.
    #[arg(long, value_name = "ARN")]
    trusted: Vec<String>,
    /// The key's ARN (account, partition, NotResource); unknown = worst case.
    #[arg(long, value_name = "ARN")]
    key_arn: Option<String>,
    /// Whether the key is multi-Region; unknown = worst case.
    #[arg(long, value_name = "BOOL")]
    multi_region: Option<bool>,
    /// Key origin; unknown = AWS_KMS with a warning.
    #[arg(long, value_enum)]
    origin: Option<OriginArg>,
    /// Count GenerateDataKey* without attestation as disclosing.
    #[arg(long)]
    strict_generate: bool,
    /// Analyse policies over KMS's 32,768-byte limit (up to 1 MiB) with a warning.
    #[arg(long)]
    allow_oversize: bool,
    /// Also require that every allowed Decrypt carries
    /// kms:EncryptionContext:NAME (e.g. proofpack:recipients).
    #[arg(long, value_name = "NAME")]
    require_encryption_context: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RenderFormat {
    /// KMS key-policy JSON.
    Json,
    /// Terraform `aws_iam_policy_document` data source.
    Terraform,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["pcrs", "eif", "attestation"])))]
struct RenderArgs {
    /// PCRs from nitro-cli measurement JSON.
    #[arg(long, value_name = "FILE")]
    pcrs: Option<PathBuf>,
    /// PCRs recomputed from an enclave image (EIF).
    #[arg(long, value_name = "IMAGE")]
    eif: Option<PathBuf>,
    /// PCRs from an attestation document (verified first).
    #[arg(long, value_name = "DOC")]
    attestation: Option<PathBuf>,
    /// Extra trusted root for --attestation (test CA); repeatable.
    #[arg(long, value_name = "PEM")]
    root: Vec<PathBuf>,
    /// The role the enclave's KMS calls are signed with.
    #[arg(long, value_name = "ARN")]
    enclave_role: String,
    /// The key administrator.
    #[arg(long, value_name = "ARN")]
    admin: String,
    /// A principal allowed Encrypt/GenerateDataKey only; repeatable.
    #[arg(long, value_name = "ARN")]
    producer: Vec<String>,
    /// No PutKeyPolicy for anyone (install with BypassPolicyLockoutSafetyCheck).
    #[arg(long)]
    immutable: bool,
    /// The enclave's Decrypt must carry kms:EncryptionContext:NAME (e.g.
    /// proofpack:recipients, for keys of SOPS files bound to a recipients
    /// policy); repeatable.
    #[arg(long, value_name = "NAME")]
    require_encryption_context: Vec<String>,
    /// PCR indices to pin (0, 1, 2 required; others used when non-zero).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_RENDER_INDICES.to_vec())]
    pcr_indices: Vec<u8>,
    /// Terraform data-source name.
    #[arg(long, default_value = "enclave_key")]
    tf_name: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: RenderFormat,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// The key policy JSON (`-` for standard input).
    policy: PathBuf,
    /// The action, e.g. kms:Decrypt.
    #[arg(long)]
    action: String,
    /// The caller: IAM role/user ARN, role-session ARN or service principal.
    #[arg(long, value_name = "ARN")]
    principal: String,
    /// A Recipient attestation document; its PCRs are used only if it verifies.
    #[arg(long, value_name = "DOC", conflicts_with = "pcrs")]
    attestation: Option<PathBuf>,
    /// Extra trusted root for --attestation (test CA); repeatable.
    #[arg(long, value_name = "PEM")]
    root: Vec<PathBuf>,
    /// Accept a debug-mode document (PCR0/1/2 zero) in --attestation.
    #[arg(long)]
    allow_debug: bool,
    /// Unverified PCRs (nitro-cli JSON) as if a Recipient carried them: a what-if.
    #[arg(long, value_name = "FILE")]
    pcrs: Option<PathBuf>,
    /// Context key=value; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// Multi-valued context key=v1,v2; repeatable.
    #[arg(long, value_name = "KEY=V1,V2")]
    context_list: Vec<String>,
    /// The call comes through this integrated service (kms:ViaService).
    #[arg(long, value_name = "SERVICE")]
    via_service: Option<String>,
    /// Assume the caller's IAM policies allow the action.
    #[arg(long)]
    iam_allows: bool,
    /// The key's ARN.
    #[arg(long, value_name = "ARN")]
    key_arn: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Runs `proofpack kms-policy`.
pub fn run(args: KmsPolicyArgs) -> Result<ExitCode> {
    match args.cmd {
        KmsPolicyCmd::Check(a) => check(*a),
        KmsPolicyCmd::Render(a) => render_cmd(*a),
        KmsPolicyCmd::Simulate(a) => simulate(*a),
    }
}

fn eif_measurements(p: &Path) -> Result<Measurements> {
    let s = build_spec::eif::read_eif_file(p, &build_spec::eif::ReadOptions::default())
        .with_context(|| format!("reading enclave image {}", p.display()))?;
    Ok(s.measurements())
}

/// PCRs of an attestation document, only if it verifies.
fn verified_doc_pcrs(p: &Path, roots: &[PathBuf], allow_debug: bool) -> Result<Measurements> {
    let raw = crate::cli::input::read_limited(p, MAX_DOC_FILE)?;
    let (bytes, _) = decode_document(&raw).with_context(|| format!("{}", p.display()))?;
    let mut opts = VerifyOptions { allow_debug, ..VerifyOptions::default() };
    for r in roots {
        let b = crate::cli::input::read_limited(r, MAX_DOC_FILE)?;
        let anchor =
            TrustAnchor::from_pem_or_der(&b, format!("{} (given with --root)", r.display()))
                .with_context(|| format!("{}", r.display()))?;
        opts.roots.push(anchor);
    }
    let report = verify(&bytes, &opts);
    if report.verdict() != CheckVerdict::Pass {
        let reasons: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
        bail!(
            "attestation document {} does not verify, so its PCRs are not used: {}",
            p.display(),
            reasons.join("; ")
        );
    }
    report.doc.map(|d| d.pcrs).context("verified report without a document")
}

fn check(a: CheckArgs) -> Result<ExitCode> {
    let limit = if a.allow_oversize { MAX_FILE as usize } else { parse::MAX_POLICY_BYTES };
    let bytes = crate::cli::input::read_limited(&a.policy, MAX_FILE)?;
    let expected = match (&a.expect_pcrs, &a.eif) {
        (Some(p), _) => {
            let b = crate::cli::input::read_limited(
                p,
                crate::kms_policy::expected::MAX_EXPECTED_JSON as u64,
            )?;
            Expected::from_json(&b, Some(&a.pcr_indices))
                .with_context(|| format!("{}", p.display()))?
        }
        (None, Some(p)) => Expected::from_measurements(&eif_measurements(p)?, &a.pcr_indices)
            .with_context(|| format!("{}", p.display()))?,
        (None, None) => bail!("give --expect-pcrs or --eif"),
    };
    expected.reject_zero_image_pcrs()?;
    let mut cfg = Config::new(expected);
    cfg.trusted = a.trusted.clone();
    cfg.key_arn = a.key_arn.clone();
    cfg.multi_region = a.multi_region;
    cfg.origin = a.origin.map(|o| match o {
        OriginArg::AwsKms => Origin::AwsKms,
        OriginArg::External => Origin::External,
        OriginArg::AwsCloudHsm => Origin::AwsCloudHsm,
        OriginArg::ExternalKeyStore => Origin::ExternalKeyStore,
    });
    cfg.strict_generate = a.strict_generate;
    cfg.enclave_principal = a.principal.clone();
    let analysis = analyse_bytes_with_limit(&bytes, &cfg, limit)
        .map_err(|e| anyhow::anyhow!("{e} (hint: {})", e.hint()))
        .with_context(|| format!("{}", a.policy.display()))?;
    let context = match &a.require_encryption_context {
        Some(name) => Some(
            crate::kms_policy::context::check_bytes(&bytes, &cfg, name, limit)
                .with_context(|| format!("{}", a.policy.display()))?,
        ),
        None => None,
    };
    let context_ok = !context.as_ref().is_some_and(|c| !c.ok);
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            let v = json!({
                "schema": CHECK_SCHEMA,
                "policy": a.policy.display().to_string(),
                "verdict": analysis.verdict,
                "settings": {
                    "expected_pcrs": cfg.expected.pcrs,
                    "trusted": cfg.trusted,
                    "key_arn": cfg.key_arn,
                    "multi_region": cfg.multi_region,
                    "origin": cfg.origin,
                    "strict_generate": cfg.strict_generate,
                    "enclave_principal": cfg.enclave_principal,
                },
                "findings": analysis.findings,
                "warnings": analysis.warnings,
                "witnesses": analysis.witnesses,
                "readings": analysis.readings,
                "encryption_context": context.as_ref().map(|c| json!({
                    "id": crate::kms_policy::context::FINDING_ID,
                    "required": c.context_key,
                    "ok": c.ok,
                    "witness": c.witness,
                    "message": c.message(),
                })),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Text => {
            write_check_text(&mut out, &a.policy, &analysis)?;
            if let Some(c) = &context {
                use anstyle::{AnsiColor, Style};
                let (word, style) = if c.ok {
                    ("PASS", Style::new().fg_color(Some(AnsiColor::Green.into())).bold())
                } else {
                    ("FAIL", Style::new().fg_color(Some(AnsiColor::Red.into())).bold())
                };
                writeln!(
                    out,
                    "{} {}: {}",
                    paint(word, style),
                    crate::kms_policy::context::FINDING_ID,
                    c.message()
                )?;
            }
        }
    }
    Ok(ExitCode::from(if analysis.verdict == Verdict::Pinned && context_ok {
        exit::OK
    } else {
        exit::CHECK_FAILED
    }))
}

fn paint(s: &str, style: anstyle::Style) -> String {
    if use_color() {
        format!("{style}{s}{style:#}")
    } else {
        s.to_string()
    }
}

fn write_check_text(out: &mut impl Write, path: &Path, a: &Analysis) -> Result<()> {
    use anstyle::{AnsiColor, Style};
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
    let v = a.verdict.as_str();
    let vs = match a.verdict {
        Verdict::Pinned => paint(v, green),
        Verdict::NotPinned => paint(v, red),
        _ => paint(v, yellow),
    };
    writeln!(out, "{}: {vs}", path.display())?;
    if a.readings.len() > 1 {
        for r in &a.readings {
            writeln!(out, "  reading: {r}")?;
        }
    }
    for f in &a.findings {
        let sev = match f.severity {
            Severity::Critical => paint("CRITICAL", red),
            Severity::High => paint("HIGH", red),
            Severity::Medium => paint("MEDIUM", yellow),
            Severity::Low => "LOW".to_string(),
            Severity::Info => "INFO".to_string(),
        };
        let pat = f.pattern.map(|p| format!(" [{p}]")).unwrap_or_default();
        writeln!(out, "  {sev} {}{pat}", f.id)?;
        writeln!(out, "    {}", f.message)?;
        writeln!(out, "    fix: {}", f.fix)?;
    }
    for w in a.witnesses.iter().take(5) {
        let how = if w.documented { "" } else { " (undocumented reading)" };
        writeln!(
            out,
            "  witness{how}: {} {} ({}){}",
            w.principal,
            w.action,
            w.pcr_match,
            if w.confirmed { ", confirmed by the evaluator" } else { "" }
        )?;
    }
    if a.witnesses.len() > 5 {
        writeln!(out, "  ... {} more witnesses (--format json lists all)", a.witnesses.len() - 5)?;
    }
    if !a.warnings.is_empty() {
        writeln!(out, "  warnings: {}", a.warnings.join(", "))?;
    }
    Ok(())
}

fn render_cmd(a: RenderArgs) -> Result<ExitCode> {
    let m = match (&a.pcrs, &a.eif, &a.attestation) {
        (Some(p), _, _) => {
            let b = crate::cli::input::read_limited(
                p,
                build_spec::pcr::measurements::MAX_JSON_LEN as u64,
            )?;
            Measurements::from_json(&b).with_context(|| format!("{}", p.display()))?
        }
        (None, Some(p), _) => eif_measurements(p)?,
        (None, None, Some(p)) => verified_doc_pcrs(p, &a.root, false)?,
        _ => bail!("give --pcrs, --eif or --attestation"),
    };
    let mut input = RenderInput::from_measurements(&m, &a.pcr_indices, &a.enclave_role, &a.admin)?;
    input.producers = a.producer.clone();
    input.immutable = a.immutable;
    input.require_context = a.require_encryption_context.clone();
    let text = match a.format {
        RenderFormat::Json => render::policy_text(&input)?,
        RenderFormat::Terraform => render::terraform(&input, &a.tf_name)?,
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::from(exit::OK))
}

fn split_kv(s: &str) -> Result<(&str, &str)> {
    s.split_once('=').with_context(|| format!("{s:?} is not KEY=VALUE"))
}

fn simulate(a: SimulateArgs) -> Result<ExitCode> {
    let bytes = crate::cli::input::read_limited(&a.policy, MAX_FILE)?;
    let policy = Policy::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("{e} (hint: {})", e.hint()))
        .with_context(|| format!("{}", a.policy.display()))?;
    let mut req = Request::new(&a.principal, &a.action).assume_iam_allows(a.iam_allows);
    let mut pcr_source = "none".to_string();
    if let Some(p) = &a.attestation {
        req = req.with_recipient_pcrs(&verified_doc_pcrs(p, &a.root, a.allow_debug)?);
        pcr_source = format!("verified attestation document {}", p.display());
    }
    if let Some(p) = &a.pcrs {
        let b =
            crate::cli::input::read_limited(p, build_spec::pcr::measurements::MAX_JSON_LEN as u64)?;
        let m = Measurements::from_json(&b).with_context(|| format!("{}", p.display()))?;
        req = req.with_recipient_pcrs(&m);
        pcr_source = format!("unverified PCR file {} (what-if)", p.display());
        eprintln!(
            "note: PCRs from {} are taken as given, not from a verified document",
            p.display()
        );
    }
    for c in &a.context {
        let (k, v) = split_kv(c)?;
        req = req.with_context(k, v);
    }
    for c in &a.context_list {
        let (k, v) = split_kv(c)?;
        req = req.with_context_values(k, v.split(','));
    }
    if let Some(s) = &a.via_service {
        req = req.with_via_service(s);
    }
    if let Some(k) = &a.key_arn {
        req = req.with_key_arn(k);
    }
    let d = evaluate(&policy, &req);
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            let v = json!({
                "schema": SIMULATE_SCHEMA,
                "principal": req.principal,
                "action": req.action,
                "pcr_source": pcr_source,
                "attestation_keys": req.nitro_keys(),
                "iam_allows": req.iam_allows,
                "decision": d,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Text => {
            writeln!(out, "{} {} -> {:?}", req.principal, req.action, d.kind)?;
            writeln!(out, "  PCRs: {pcr_source}")?;
            if d.ambiguous {
                writeln!(out, "  note: an undocumented AWS behaviour was resolved toward denying")?;
            }
            for t in &d.statements {
                let mark = if d.deciding.contains(&t.index) { "*" } else { " " };
                let sid = t.sid.as_deref().map(|s| format!(" {s:?}")).unwrap_or_default();
                writeln!(
                    out,
                    " {mark} [{}]{sid} {}: {}",
                    t.index,
                    t.effect,
                    outcome_text(&t.outcome)
                )?;
            }
        }
    }
    Ok(ExitCode::from(if d.kind == DecisionKind::Allow { exit::OK } else { exit::CHECK_FAILED }))
}

fn outcome_text(o: &crate::kms_policy::eval::StatementMatch) -> String {
    use crate::kms_policy::eval::StatementMatch as Outcome;
    match o {
        Outcome::Matched => "matched".into(),
        Outcome::Inert => "inert (no Action or Resource)".into(),
        Outcome::PrincipalMismatch => "principal does not match".into(),
        Outcome::ActionMismatch => "action does not match".into(),
        Outcome::ResourceMismatch => "resource does not match".into(),
        Outcome::ConditionFalse { clause } => format!("condition false: {clause}"),
        Outcome::NeedsIamPolicy => {
            "matched through the account: needs an IAM policy (--iam-allows)".into()
        }
        Outcome::Ambiguous { what } => format!("undocumented: {what}"),
    }
}
