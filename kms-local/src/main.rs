//! `proofpack-kms-local`: an offline AWS-KMS-compatible server on loopback.
//! See the [`kms_local`] library for what it implements and how it differs
//! from KMS; this is its command line over [`kms_local::spawn`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

use attestation::chain::TrustAnchor;
use kms_local::http::{CredentialsFile, EMULATOR_LOG_TAG};
use kms_local::policy::AttestationRecipients;
use kms_local::{Clock, Config, Faults, LogTo};

/// Largest attestation root file read (a certificate is a few KiB).
const MAX_CERT_FILE: u64 = 64 * 1024;

const AFTER_HELP: &str = "\
Examples:
  # credentials.json: {\"principals\":[{\"access_key_id\":\"AKIDLOCALADMIN\",
  #   \"secret_access_key\":\"...\",\"principal_arn\":\"arn:aws:iam::111122223333:role/admin\",
  #   \"iam_allow_all\":true}]}
  proofpack-kms-local --state-dir ./kms-state --credentials credentials.json \\
      --attestation-root dev-ca/root.pem --listen 127.0.0.1:4566

  # then, with any AWS client:
  AWS_ACCESS_KEY_ID=AKIDLOCALADMIN AWS_SECRET_ACCESS_KEY=... \\
    aws --endpoint-url http://127.0.0.1:4566 --region us-east-1 kms create-key

The server signs nothing and trusts only the --attestation-root it is given:
give it a development test-CA root and it says so at startup. Key material is
stored UNENCRYPTED in --state-dir (development server). Requests are logged to
stderr as one line each (principal, operation, outcome), never with key
material or plaintext.

Exit codes: 0 only with --exit-on-stdin-eof once standard input closes (else
it runs until killed), 2 invalid arguments or configuration.";

/// Offline AWS KMS-compatible server for development and tests.
#[derive(Debug, Parser)]
#[command(name = "proofpack-kms-local", version, after_help = AFTER_HELP)]
struct Args {
    /// Address to listen on (loopback only is recommended; port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory holding the keys (created if missing).
    #[arg(long)]
    state_dir: PathBuf,
    /// JSON file mapping access key ids to principal ARNs and secrets.
    #[arg(long)]
    credentials: PathBuf,
    /// Root certificate (PEM or DER) that Recipient attestation documents must
    /// chain to. Without it, requests with a Recipient are refused.
    #[arg(long)]
    attestation_root: Option<PathBuf>,
    /// Region in key ARNs and in the SigV4 scope.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account id that owns the keys.
    #[arg(long, default_value = "111122223333")]
    account: String,
    /// Maximum age of a Recipient document, in seconds.
    #[arg(long, default_value_t = 300)]
    max_document_age: u64,
    /// Write one CloudTrail record per call served, as delivery-shaped log
    /// files under DIR (AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/),
    /// for `proofpack kms-trail check --cloudtrail DIR`.
    #[arg(long, value_name = "DIR")]
    cloudtrail_dir: Option<PathBuf>,
    /// Read "now" (Unix seconds) from this file instead of the wall clock, for
    /// key creation and deletion dates (tests of ScheduleKeyDeletion).
    #[arg(long)]
    clock_file: Option<PathBuf>,
    /// Write the bound port number to this file once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// Exit when standard input reaches end of file: a parent that keeps the
    /// write end of a pipe open stops the server just by exiting, even when
    /// it crashes or never runs its cleanup (tests, the demo).
    #[arg(long)]
    exit_on_stdin_eof: bool,
    /// Also accept QEMU nitro-enclave attestation documents, which are
    /// UNSIGNED (no chain, no signature): their structure, freshness and PCRs
    /// are still checked. For the emulator tests only; every log line says so.
    #[arg(long, requires = "attestation_root")]
    accept_emulator_attestation: bool,
    /// Fault injection (tests of retries and load): seed of the reproducible
    /// sequence of fates of Decrypt/Encrypt/GenerateDataKey/ReEncrypt calls.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Milliseconds added before answering each of those calls.
    #[arg(long, default_value_t = 0)]
    fault_latency_ms: u64,
    /// Fraction (0..=1) of those calls answered ThrottlingException (400).
    #[arg(long, default_value_t = 0.0)]
    fault_throttle: f64,
    /// Fraction answered KMSInternalException (500).
    #[arg(long, default_value_t = 0.0)]
    fault_internal: f64,
    /// Fraction answered 503 Service Unavailable (not JSON).
    #[arg(long, default_value_t = 0.0)]
    fault_unavailable: f64,
    /// Fraction whose answer is cut (truncated status line, then nothing).
    #[arg(long, default_value_t = 0.0)]
    fault_cut: f64,
}

/// Reads `path` (standard input for `-`), refusing more than `max` bytes.
fn read_limited(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    Ok(build_spec::bounded::read_file_or_stdin(path, max)?)
}

fn run(args: Args) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        eprintln!("kms-local: WARNING: listening on a non-loopback address {}", args.listen);
    }
    let creds: CredentialsFile = serde_json::from_slice(
        &std::fs::read(&args.credentials)
            .with_context(|| format!("reading {}", args.credentials.display()))?,
    )
    .with_context(|| format!("parsing {}", args.credentials.display()))?;
    let recipients = match &args.attestation_root {
        Some(p) => {
            let bytes = read_limited(p, MAX_CERT_FILE)?;
            let r = AttestationRecipients::new(&bytes, &p.display().to_string())
                .map_err(|e| anyhow::anyhow!("attestation root {}: {e}", p.display()))?;
            eprintln!(
                "kms-local: Recipient documents must chain to root sha256:{} ({}){}",
                r.root_sha256(),
                p.display(),
                if r.root_sha256() == TrustAnchor::aws_nitro_root_g1().sha256_hex() {
                    " = AWS Nitro Enclaves Root G1"
                } else {
                    " - NOT the AWS Nitro root: development only"
                }
            );
            if args.accept_emulator_attestation {
                eprintln!(
                    "{EMULATOR_LOG_TAG}: --accept-emulator-attestation: \
                     QEMU nitro-enclave documents are accepted without chain or signature; \
                     not evidence of Nitro hardware"
                );
                Some(r.accepting_emulator_documents())
            } else {
                Some(r)
            }
        }
        None => None,
    };
    let mut cfg = Config::new(&args.state_dir, creds);
    cfg.listen = args.listen;
    cfg.recipients = recipients;
    cfg.region = args.region.clone();
    cfg.account = args.account.clone();
    cfg.max_document_age_secs = args.max_document_age;
    cfg.clock = args.clock_file.clone().map(Clock::File).unwrap_or(Clock::System);
    cfg.log = LogTo::Stderr;
    cfg.faults = Faults {
        seed: args.fault_seed,
        latency: std::time::Duration::from_millis(args.fault_latency_ms),
        throttle: args.fault_throttle,
        internal: args.fault_internal,
        unavailable: args.fault_unavailable,
        cut: args.fault_cut,
    };
    if cfg.faults.active() {
        eprintln!("kms-local: INJECTING FAULTS: {:?}", cfg.faults);
    }
    cfg.trail = args.cloudtrail_dir.clone();
    let server = kms_local::spawn(cfg)?;
    let port = server.port();
    eprintln!(
        "kms-local: listening on http://127.0.0.1:{port} (region {}, account {})",
        args.region, args.account
    );
    if let Some(pf) = &args.port_file {
        let tmp = pf.with_extension("tmp");
        std::fs::write(&tmp, port.to_string())?;
        std::fs::rename(&tmp, pf)?;
    }
    if args.exit_on_stdin_eof {
        std::thread::spawn(|| {
            // Read and discard until EOF (or an error), then stop.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            eprintln!("kms-local: standard input closed, exiting (--exit-on-stdin-eof)");
            std::process::exit(0);
        });
    }
    server.wait();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proofpack-kms-local: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
