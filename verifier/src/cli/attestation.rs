//! `proofpack attestation`: verify, show and (test only) mint Nitro
//! attestation documents.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ::attestation::testca::{pem_cert, DocSpec, TestCa, TestCaConfig};
use ::attestation::MapStyle;
use anyhow::{bail, Context, Result};
use build_spec::pcr::Measurements;
use clap::{Args, Subcommand, ValueEnum};
use rayon::prelude::*;

use crate::attestation::chain::describe_chain;
use crate::attestation::input::{decode_document, InputEncoding};
use crate::attestation::render::{self, JSON_SCHEMA_VERSION};
use crate::attestation::time_fmt;
use crate::attestation::{
    parse_with, verify_with_cache, ChainCache, Expectations, ParseOptions, TrustAnchor, VerifyAt,
    VerifyOptions,
};
use crate::cli::exit::{self, ResultExt as _, STDOUT};
use crate::cli::output::{use_color, Format};
use crate::report::Verdict;

/// Largest file read as a document or list (text forms included).
const MAX_INPUT_FILE: u64 = 64 * 1024;
/// Largest batch list file.
const MAX_LIST_FILE: u64 = 16 * 1024 * 1024;

const VERIFY_HELP: &str = "\
Examples:
  # Audit a stored document at its own timestamp against expected PCRs:
  proofpack attestation verify doc.cbor --expect-pcrs pcrs.json
  # Live check: certificates valid now, document at most 5 minutes old, nonce bound:
  proofpack attestation verify doc.b64 --at now --max-age 5m --nonce 0badc0de
  # PCRs recomputed from the enclave image itself:
  proofpack attestation verify doc.cbor --eif enclave.eif
  # A document from the test CA (see `attestation mint`):
  proofpack attestation verify doc.cbor --root testca/root.pem
  # Many documents on all cores (directory: *.cbor, *.b64, *.hex, *.bin files):
  proofpack attestation verify --batch docs/ --format json

DOC may be raw CBOR, hex or base64 (detected automatically and stated in the
output); `-` reads standard input. Certificates are checked at --at: `document`
(default: the document's own signed timestamp, for audits; it proves nothing
about freshness), `now`, or an RFC 3339 instant. Freshness is --max-age and/or
--nonce. Debug-mode documents (PCR0, PCR1 and PCR2 all zero) fail unless
--allow-debug is given.

Exit status:
  0  every check passed
  1  a check failed (including a document that does not parse as a Nitro document)
  2  invalid input or usage (unreadable file, undecodable text, bad flag)
  3  internal error (cannot write the output, or a bug)";

const MINT_HELP: &str = "\
TEST AND DEVELOPMENT ONLY. The test CA is NOT the AWS Nitro root: documents it
mints never verify against the AWS root, only with --root <ca-dir>/root.pem.
Its private keys are stored unencrypted in the CA directory.

Examples:
  proofpack attestation mint --ca-dir testca --expect-pcrs pcrs.json --nonce 01020304 --out doc.cbor
  proofpack attestation verify doc.cbor --root testca/root.pem --expect-pcrs pcrs.json

Exit status: 0 written, 2 invalid input or usage, 3 internal error.";

/// `proofpack attestation`.
#[derive(Debug, Args)]
pub struct AttestationArgs {
    #[command(subcommand)]
    command: AttestationCmd,
}

#[derive(Debug, Subcommand)]
enum AttestationCmd {
    /// Verify a document (or a batch) strictly, down to the pinned AWS Nitro root.
    #[command(after_long_help = VERIFY_HELP, after_help = VERIFY_HELP)]
    Verify(Box<VerifyArgs>),
    /// Decode a document without verifying it: payload, PCRs, certificate chain.
    #[command(
        after_help = "Example:\n  proofpack attestation show doc.b64 --pem > chain.pem\n\nNothing is verified: use `attestation verify` for that.\nExit status: 0 shown, 1 the document does not parse, 2 unreadable input."
    )]
    Show(ShowArgs),
    /// TEST/DEV ONLY: create (or reuse) a test CA and mint a signed document with it.
    #[command(after_help = MINT_HELP)]
    Mint(Box<MintArgs>),
}

/// When to check certificate validity.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AtArg {
    Document,
    Now,
    Instant(i64),
}

fn parse_at(s: &str) -> Result<AtArg, String> {
    match s {
        "document" => Ok(AtArg::Document),
        "now" => Ok(AtArg::Now),
        _ => time_fmt::parse_rfc3339_ms(s)
            .map(AtArg::Instant)
            .ok_or_else(|| format!("{s:?} is not `now`, `document` or an RFC 3339 instant")),
    }
}

/// Bytes given as hex on the command line (a newtype: clap would read a bare
/// `Vec<u8>` as a list of numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
struct HexBytes(Vec<u8>);

fn parse_hex(s: &str) -> Result<HexBytes, String> {
    let t = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(t).map(HexBytes).map_err(|e| format!("not hex: {e}"))
}

fn unhex(v: &Option<HexBytes>) -> Option<Vec<u8>> {
    v.as_ref().map(|h| h.0.clone())
}

fn parse_pcr_arg(s: &str) -> Result<(u8, [u8; 48]), String> {
    let (i, v) = s.split_once('=').ok_or("expected N=HEX, e.g. 0=ab12...")?;
    let i: u8 = i.trim_start_matches("PCR").parse().map_err(|_| format!("bad PCR index {i:?}"))?;
    if i > build_spec::pcr::measurements::MAX_PCR_INDEX {
        return Err(format!("PCR index {i} is above 31"));
    }
    let v = build_spec::pcr::measurements::parse_pcr_hex(v)
        .ok_or("PCR value must be 96 hex characters")?;
    Ok((i, v))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// The document fields `verify` checks and `mint` writes: the same flags,
/// the expected values for one and the values to write for the other.
#[derive(Debug, Args)]
struct DocFieldArgs {
    /// PCRs (expected by verify, written by mint) from a nitro-cli measurement JSON.
    #[arg(long, value_name = "FILE", conflicts_with = "eif")]
    expect_pcrs: Option<PathBuf>,
    /// PCR0/1/2 (and 8 if signed) recomputed from this enclave image (expected / written).
    #[arg(long, value_name = "IMAGE")]
    eif: Option<PathBuf>,
    /// One PCR, `N=HEX` (expected / written; repeatable; added to --expect-pcrs/--eif).
    #[arg(long = "pcr", value_name = "N=HEX", value_parser = parse_pcr_arg)]
    pcr: Vec<(u8, [u8; 48])>,
    /// `nonce` (hex; expected by verify, written by mint).
    #[arg(long, value_name = "HEX", value_parser = parse_hex)]
    nonce: Option<HexBytes>,
    /// `user_data` (hex; expected by verify, written by mint).
    #[arg(long, value_name = "HEX", value_parser = parse_hex)]
    user_data: Option<HexBytes>,
    /// `public_key` (hex; expected by verify, written by mint).
    #[arg(long, value_name = "HEX", value_parser = parse_hex)]
    public_key: Option<HexBytes>,
}

#[derive(Debug, Args)]
struct ExpectArgs {
    #[command(flatten)]
    fields: DocFieldArgs,
    /// Required `module_id` prefix (e.g. an instance id `i-0123...`).
    #[arg(long, value_name = "PREFIX")]
    module_id: Option<String>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The document: raw CBOR, hex or base64 (`-` for stdin).
    #[arg(value_name = "DOC", required_unless_present = "batch", conflicts_with = "batch")]
    doc: Option<PathBuf>,
    /// Verify many documents: a directory (its *.cbor, *.b64, *.hex, *.bin
    /// files) or a text file listing one path per line.
    #[arg(long, value_name = "DIR|LIST")]
    batch: Option<PathBuf>,
    #[command(flatten)]
    expect: ExpectArgs,
    /// Instant at which certificates must be valid: `document`, `now` or RFC 3339.
    #[arg(long, value_name = "WHEN", default_value = "document", value_parser = parse_at)]
    at: AtArg,
    /// Maximum age of the document relative to now, e.g. `5m`, `1h`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_age: Option<Duration>,
    /// Trust this root certificate (PEM or DER) instead of the embedded AWS
    /// Nitro Enclaves Root G1 (repeatable).
    #[arg(long, value_name = "PEM")]
    root: Vec<PathBuf>,
    /// Accept debug-mode documents (PCR0/1/2 all zero); reported as a warning.
    #[arg(long)]
    allow_debug: bool,
    /// Skip unknown payload keys instead of rejecting the document.
    #[arg(long)]
    allow_unknown_keys: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The document: raw CBOR, hex or base64 (`-` for stdin).
    #[arg(value_name = "DOC")]
    doc: PathBuf,
    /// Print the certificates as PEM (leaf first) instead of the summary.
    #[arg(long)]
    pem: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Encoding of the minted document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutEncoding {
    Raw,
    Base64,
    Hex,
}

#[derive(Debug, Args)]
struct MintArgs {
    /// Test CA directory; created with a fresh CA when it holds none.
    #[arg(long, value_name = "DIR")]
    ca_dir: PathBuf,
    #[command(flatten)]
    fields: DocFieldArgs,
    /// `module_id` (default `<instance>-enc<enclave>`).
    #[arg(long)]
    module_id: Option<String>,
    /// Document time: `now` or RFC 3339.
    #[arg(long, default_value = "now")]
    timestamp: String,
    /// Emit an indefinite-length payload map (as NSMs do since 2025).
    #[arg(long)]
    indefinite: bool,
    /// Lifetime in days of the CA levels when a new CA is created.
    #[arg(long, default_value_t = 365)]
    ca_days: u64,
    /// Output file (default: standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Output encoding (default: raw to a file, base64 to standard output).
    #[arg(long, value_enum)]
    encoding: Option<OutEncoding>,
}

/// Runs `proofpack attestation ...`.
pub fn run(args: AttestationArgs) -> Result<ExitCode> {
    match args.command {
        AttestationCmd::Verify(a) => verify_cmd(*a),
        AttestationCmd::Show(a) => show_cmd(a),
        AttestationCmd::Mint(a) => mint_cmd(*a),
    }
}

fn load_doc(path: &Path) -> Result<(Vec<u8>, InputEncoding)> {
    let raw = crate::cli::input::read_limited(path, MAX_INPUT_FILE)?;
    decode_document(&raw).with_context(|| format!("{}", path.display()))
}

fn measurements(
    json: &Option<PathBuf>,
    eif: &Option<PathBuf>,
    extra: &[(u8, [u8; 48])],
) -> Result<Option<Measurements>> {
    let mut m = match (json, eif) {
        (Some(p), _) => {
            let b = crate::cli::input::read_limited(
                p,
                build_spec::pcr::measurements::MAX_JSON_LEN as u64,
            )?;
            Some(Measurements::from_json(&b).with_context(|| format!("{}", p.display()))?)
        }
        (None, Some(p)) => {
            let s = build_spec::eif::read_eif_file(p, &build_spec::eif::ReadOptions::default())
                .with_context(|| format!("reading enclave image {}", p.display()))?;
            Some(s.measurements())
        }
        (None, None) => None,
    };
    if !extra.is_empty() {
        let mm = m.get_or_insert_with(Measurements::new);
        for (i, v) in extra {
            mm.insert(*i, *v);
        }
    }
    Ok(m)
}

fn verify_options(a: &VerifyArgs) -> Result<VerifyOptions> {
    let mut roots = Vec::new();
    for p in &a.root {
        let b = crate::cli::input::read_limited(p, MAX_INPUT_FILE)?;
        roots.push(
            TrustAnchor::from_pem_or_der(&b, format!("{} (given with --root)", p.display()))
                .with_context(|| format!("{}", p.display()))?,
        );
    }
    if roots.is_empty() {
        roots.push(TrustAnchor::aws_nitro_root_g1());
    }
    Ok(VerifyOptions {
        roots,
        at: match a.at {
            AtArg::Document => VerifyAt::Document,
            AtArg::Now => VerifyAt::Now,
            AtArg::Instant(t) => VerifyAt::Instant(t),
        },
        max_age: a.max_age,
        expect: Expectations {
            pcrs: measurements(
                &a.expect.fields.expect_pcrs,
                &a.expect.fields.eif,
                &a.expect.fields.pcr,
            )?,
            nonce: unhex(&a.expect.fields.nonce),
            user_data: unhex(&a.expect.fields.user_data),
            public_key: unhex(&a.expect.fields.public_key),
            module_id_prefix: a.expect.module_id.clone(),
        },
        allow_debug: a.allow_debug,
        parse: ParseOptions { allow_unknown_keys: a.allow_unknown_keys, emulator: false },
        now_ms: None,
    })
}

fn verify_cmd(a: VerifyArgs) -> Result<ExitCode> {
    let opts = verify_options(&a)?;
    if let Some(batch) = &a.batch {
        return batch_cmd(batch, &opts, a.format);
    }
    let path = a.doc.as_deref().context("a DOC argument or --batch is required")?;
    let (bytes, enc) = load_doc(path)?;
    let report = verify_with_cache(&bytes, &opts, None);
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            let v = serde_json::json!({
                "schema_version": JSON_SCHEMA_VERSION,
                "document": { "path": path.display().to_string(), "encoding": enc },
                "verdict": report.verdict(),
                "report": report,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?).internal(STDOUT)?;
        }
        Format::Text => {
            writeln!(out, "document:      {} ({enc})", path.display()).internal(STDOUT)?;
            write!(out, "{}", render::text(&report, use_color())).internal(STDOUT)?;
        }
    }
    Ok(exit::from_verdict(report.verdict()))
}

fn batch_files(p: &Path) -> Result<Vec<PathBuf>> {
    if p.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("listing {}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| {
                f.is_file()
                    && matches!(
                        f.extension().and_then(|e| e.to_str()),
                        Some("cbor" | "b64" | "hex" | "bin")
                    )
            })
            .collect();
        v.sort();
        Ok(v)
    } else {
        let text = String::from_utf8(crate::cli::input::read_limited(p, MAX_LIST_FILE)?)
            .context("batch list is not UTF-8")?;
        let base = p.parent().unwrap_or(Path::new("."));
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| base.join(l))
            .collect())
    }
}

fn batch_cmd(batch: &Path, opts: &VerifyOptions, format: Format) -> Result<ExitCode> {
    let files = batch_files(batch)?;
    if files.is_empty() {
        bail!("{}: no documents found (*.cbor, *.b64, *.hex, *.bin)", batch.display());
    }
    let cache = ChainCache::new();
    let unreadable = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let results: Vec<(PathBuf, Result<crate::attestation::AttestationReport, String>)> = files
        .par_iter()
        .map(|f| {
            let r =
                load_doc(f).map(|(b, _)| verify_with_cache(&b, opts, Some(&cache))).map_err(|e| {
                    unreadable.fetch_add(1, Ordering::Relaxed);
                    format!("{e:#}")
                });
            (f.clone(), r)
        })
        .collect();
    let elapsed = started.elapsed();
    let passed =
        results.iter().filter(|(_, r)| matches!(r, Ok(x) if x.verdict() == Verdict::Pass)).count();
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let docs: Vec<serde_json::Value> = results
                .iter()
                .map(|(p, r)| match r {
                    Ok(rep) => serde_json::json!({"path": p.display().to_string(), "verdict": rep.verdict(), "report": rep}),
                    Err(e) => serde_json::json!({"path": p.display().to_string(), "verdict": "fail", "input_error": e}),
                })
                .collect();
            let v = serde_json::json!({
                "schema_version": JSON_SCHEMA_VERSION,
                "documents": docs,
                "total": results.len(),
                "passed": passed,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?).internal(STDOUT)?;
        }
        Format::Text => {
            let color = use_color();
            for (p, r) in &results {
                match r {
                    Ok(rep) => {
                        let word = render::status_word(
                            &if rep.verdict() == Verdict::Pass {
                                crate::report::Outcome::Pass
                            } else {
                                crate::report::Outcome::Fail { expected: None, actual: None }
                            },
                            true,
                            color,
                        );
                        let why: Vec<String> = rep.errors.iter().map(|e| e.to_string()).collect();
                        let id = rep
                            .doc
                            .as_ref()
                            .map(|d| format!("{} {}", d.module_id, d.timestamp_utc))
                            .unwrap_or_default();
                        if why.is_empty() {
                            writeln!(out, "{word} {}  {id}", p.display()).internal(STDOUT)?;
                        } else {
                            writeln!(out, "{word} {}  {id}  {}", p.display(), why.join("; "))
                                .internal(STDOUT)?;
                        }
                    }
                    Err(e) => writeln!(
                        out,
                        "{} {}  unreadable: {e}",
                        render::status_word(
                            &crate::report::Outcome::Fail { expected: None, actual: None },
                            true,
                            color
                        ),
                        p.display()
                    )
                    .internal(STDOUT)?,
                }
            }
            writeln!(out, "\n{passed}/{} documents passed", results.len()).internal(STDOUT)?;
        }
    }
    eprintln!(
        "verified {} documents in {:.3} s on {} threads ({} cached certificate pairs)",
        results.len(),
        elapsed.as_secs_f64(),
        rayon::current_num_threads(),
        cache.len()
    );
    if unreadable.load(Ordering::Relaxed) > 0
        && passed + unreadable.load(Ordering::Relaxed) == results.len()
    {
        return Ok(ExitCode::from(exit::INVALID_INPUT));
    }
    Ok(ExitCode::from(if passed == results.len() { exit::OK } else { exit::CHECK_FAILED }))
}

fn show_cmd(a: ShowArgs) -> Result<ExitCode> {
    let (bytes, enc) = load_doc(&a.doc)?;
    let parsed = match parse_with(&bytes, ParseOptions { allow_unknown_keys: true, emulator: true })
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "error: {} ({enc}) is not a well-formed attestation document: {e}",
                a.doc.display()
            );
            return Ok(ExitCode::from(exit::CHECK_FAILED));
        }
    };
    let chain = describe_chain(&parsed.doc.certificate, &parsed.doc.cabundle);
    let mut out = std::io::stdout().lock();
    if a.pem {
        let ders = std::iter::once(&parsed.doc.certificate).chain(parsed.doc.cabundle.iter().rev());
        for (der, s) in ders.zip(chain.iter()) {
            if let Ok(s) = s {
                writeln!(out, "# {}: {}", s.role, s.subject).internal(STDOUT)?;
            }
            write!(out, "{}", pem_cert(der)).internal(STDOUT)?;
        }
        return Ok(ExitCode::from(exit::OK));
    }
    let d = &parsed.doc;
    match a.format {
        Format::Json => {
            let v = serde_json::json!({
                "schema_version": JSON_SCHEMA_VERSION,
                "verified": false,
                "document": {"path": a.doc.display().to_string(), "encoding": enc, "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))},
                "cose": {"tagged": parsed.tagged, "payload_map": format!("{:?}", parsed.map_style).to_lowercase(), "payload_len": parsed.payload.len()},
                "module_id": d.module_id,
                "digest": d.digest,
                "timestamp": d.timestamp,
                "timestamp_utc": time_fmt::millis(i64::try_from(d.timestamp).unwrap_or(i64::MAX)),
                "pcrs": d.pcrs.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(hex::encode(v)))).collect::<serde_json::Map<_, _>>(),
                "public_key": d.public_key.as_ref().map(hex::encode),
                "user_data": d.user_data.as_ref().map(hex::encode),
                "nonce": d.nonce.as_ref().map(hex::encode),
                "chain": chain.iter().map(|c| match c { Ok(s) => serde_json::to_value(s).unwrap_or_default(), Err(e) => serde_json::json!({"error": e.to_string()}) }).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?).internal(STDOUT)?;
        }
        Format::Text => {
            writeln!(
                out,
                "NOT VERIFIED: decoded only; run `proofpack attestation verify` to check it."
            )
            .internal(STDOUT)?;
            writeln!(out, "document:    {} ({enc}, {} bytes)", a.doc.display(), bytes.len())
                .internal(STDOUT)?;
            writeln!(
                out,
                "envelope:    COSE_Sign1, {}, ES384, {} payload map",
                if parsed.tagged { "tag 18" } else { "untagged" },
                format!("{:?}", parsed.map_style).to_lowercase()
            )
            .internal(STDOUT)?;
            writeln!(out, "module_id:   {}", d.module_id).internal(STDOUT)?;
            writeln!(out, "digest:      {}", d.digest).internal(STDOUT)?;
            writeln!(
                out,
                "timestamp:   {} ({} ms)",
                time_fmt::millis(i64::try_from(d.timestamp).unwrap_or(i64::MAX)),
                d.timestamp
            )
            .internal(STDOUT)?;
            for (i, v) in &d.pcrs {
                writeln!(out, "PCR{i:<2}       {}", hex::encode(v)).internal(STDOUT)?;
            }
            for (name, v) in
                [("public_key", &d.public_key), ("user_data", &d.user_data), ("nonce", &d.nonce)]
            {
                match v {
                    Some(b) => writeln!(out, "{name:<12} {} bytes: {}", b.len(), hex::encode(b))
                        .internal(STDOUT)?,
                    None => writeln!(out, "{name:<12} null").internal(STDOUT)?,
                }
            }
            writeln!(out, "chain (leaf first):").internal(STDOUT)?;
            for c in &chain {
                match c {
                    Ok(s) => {
                        writeln!(out, "  {}: {}", s.role, s.subject).internal(STDOUT)?;
                        writeln!(out, "      issuer   {}", s.issuer).internal(STDOUT)?;
                        writeln!(out, "      valid    {} .. {}", s.not_before, s.not_after)
                            .internal(STDOUT)?;
                        writeln!(out, "      serial   {}", s.serial).internal(STDOUT)?;
                        writeln!(out, "      sha256   {}", s.sha256).internal(STDOUT)?;
                    }
                    Err(e) => writeln!(out, "  {e}").internal(STDOUT)?,
                }
            }
        }
    }
    Ok(ExitCode::from(exit::OK))
}

fn mint_cmd(a: MintArgs) -> Result<ExitCode> {
    let now_ms = time_fmt::now_ms();
    let ts = if a.timestamp == "now" {
        now_ms
    } else {
        time_fmt::parse_rfc3339_ms(&a.timestamp)
            .with_context(|| format!("--timestamp {:?} is not `now` or RFC 3339", a.timestamp))?
    };
    let ts = u64::try_from(ts).context("--timestamp before 1970")?;
    let existed = TestCa::exists(&a.ca_dir);
    let valid_from = (ts / 1000)
        .saturating_sub(3600)
        .min(u64::try_from(now_ms / 1000).unwrap_or(0).saturating_sub(3600));
    let ca = TestCa::load_or_generate(&a.ca_dir, &TestCaConfig::long_lived(valid_from, a.ca_days))
        .with_context(|| format!("test CA in {}", a.ca_dir.display()))?;
    let pcrs =
        measurements(&a.fields.expect_pcrs, &a.fields.eif, &a.fields.pcr)?.unwrap_or_default();
    let mut spec = DocSpec::new(ts, pcrs);
    spec.module_id = a.module_id;
    spec.nonce = unhex(&a.fields.nonce);
    spec.user_data = unhex(&a.fields.user_data);
    spec.public_key = unhex(&a.fields.public_key);
    if a.indefinite {
        spec.map_style = MapStyle::Indefinite;
    }
    let bytes = ca.mint(&spec).context("minting")?;
    let enc =
        a.encoding.unwrap_or(if a.out.is_some() { OutEncoding::Raw } else { OutEncoding::Base64 });
    let data = match enc {
        OutEncoding::Raw => bytes.clone(),
        OutEncoding::Base64 => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(&bytes) + "\n").into_bytes()
        }
        OutEncoding::Hex => (hex::encode(&bytes) + "\n").into_bytes(),
    };
    match &a.out {
        Some(p) => std::fs::write(p, &data).internal(format!("writing {}", p.display()))?,
        None => {
            if enc == OutEncoding::Raw && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!(
                    "refusing to write raw CBOR to a terminal; use --out FILE or --encoding base64"
                );
            }
            std::io::stdout().lock().write_all(&data).internal(STDOUT)?;
        }
    }
    eprintln!(
        "TEST/DEV ONLY: minted a {}-byte document with the {} test CA in {} (root sha256 {}).\n\
         It does NOT chain to the AWS Nitro root; verify it with --root {}",
        bytes.len(),
        if existed { "existing" } else { "newly created" },
        a.ca_dir.display(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(ca.root_der())),
        a.ca_dir.join("root.pem").display()
    );
    Ok(ExitCode::from(exit::OK))
}
