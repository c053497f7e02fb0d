//! `proofpack-enclave serve`: the pack service on vsock (production) or TCP
//! loopback (development), one job per connection, one job at a time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;

use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::backend::nsm::NitroNsm;
use enclave::backend::nsm_dev::DevNsm;
use enclave::backend::Nsm;
use enclave::receipt::statement::BuildInfo;
use enclave::service::{PackJob, PackService};
use enclave::transport::{serve_one, Endpoint, ErrorCode, Limits, Listener};

const AFTER_HELP: &str = "\
Examples:
  # Development, on one machine: dev NSM measuring a real EIF, local KMS.
  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
  proofpack-enclave serve --listen tcp:127.0.0.1:7000 \\
      --nsm dev:build/enclave.eif,dev-ca --kms http://127.0.0.1:4566 \\
      --build-info build/build-info.json

  # Inside a Nitro Enclave (built with --features nitro,vsock,tls):
  proofpack-enclave serve --listen vsock:4294967295:7000 --nsm nitro \\
      --kms https://kms.us-east-1.amazonaws.com --kms-connect-to 127.0.0.1:8000

The parent sends jobs with `proofpack pack`. The wire protocol is documented in
enclave::transport. With --nsm dev the attestation documents are signed by a
TEST CA, and every log line says DEVELOPMENT.

Exit codes: 0 after --max-jobs jobs, 2 invalid arguments or setup failure.";

/// Arguments of `serve`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    /// Where to listen: `tcp:HOST:PORT` (development) or `vsock:CID:PORT`.
    #[arg(long)]
    listen: String,
    #[command(flatten)]
    backends: Backends,
    /// The build-info file baked into the image.
    #[arg(long, default_value = "/etc/proofpack/build-info.json")]
    build_info: PathBuf,
    /// Largest job frame in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_frame: usize,
    /// Socket read/write timeout in seconds.
    #[arg(long, default_value_t = 120)]
    io_timeout: u64,
    /// Write the bound address (e.g. `tcp:127.0.0.1:41234`) to this file.
    #[arg(long)]
    addr_file: Option<PathBuf>,
    /// Exit after this many jobs (default: serve forever).
    #[arg(long)]
    max_jobs: Option<u64>,
}

/// The NSM and KMS an enclave command talks to (`serve`, `org-key init`).
#[derive(Debug, Args)]
pub struct Backends {
    /// NSM: `nitro` (/dev/nsm) or `dev:EIF,CA_DIR` (test CA, PCRs of EIF).
    #[arg(long)]
    nsm: String,
    /// KMS endpoint URL (http://127.0.0.1:PORT for proofpack-kms-local).
    #[arg(long)]
    kms: String,
    /// Region for SigV4.
    #[arg(long, default_value = "us-east-1")]
    kms_region: String,
    /// Connect to this address for KMS (vsock-proxy forwarder), keeping the URL's host.
    #[arg(long)]
    kms_connect_to: Option<std::net::SocketAddr>,
    /// KMS call timeout in seconds.
    #[arg(long, default_value_t = 10)]
    kms_timeout: u64,
}

impl Backends {
    /// Opens the NSM and the KMS client (credentials from the AWS environment variables).
    pub fn open(&self) -> anyhow::Result<(Box<dyn Nsm>, KmsHttpClient)> {
        let nsm = open_nsm(&self.nsm)?;
        let mut cfg = KmsHttpConfig::new(&self.kms, &self.kms_region, Credentials::from_env()?);
        cfg.connect_to = self.kms_connect_to;
        cfg.timeout = Duration::from_secs(self.kms_timeout);
        Ok((nsm, KmsHttpClient::new(cfg)?))
    }
}

fn open_nsm(spec: &str) -> anyhow::Result<Box<dyn Nsm>> {
    if spec == "nitro" {
        return Ok(Box::new(NitroNsm::open()?));
    }
    let Some(rest) = spec.strip_prefix("dev:") else {
        bail!("--nsm must be `nitro` or `dev:EIF,CA_DIR`, got {spec:?}");
    };
    let Some((eif, ca)) = rest.split_once(',') else {
        bail!("--nsm dev:EIF,CA_DIR needs both paths, got {spec:?}");
    };
    let nsm = DevNsm::new(eif.as_ref(), ca.as_ref())?;
    eprintln!(
        "proofpack-enclave: DEVELOPMENT NSM (test CA {ca}, NOT AWS hardware), module {}, PCRs of {eif}: PCR0={} PCR1={} PCR2={}",
        nsm.module_id(),
        nsm.pcrs().hex(0).unwrap_or_default(),
        nsm.pcrs().hex(1).unwrap_or_default(),
        nsm.pcrs().hex(2).unwrap_or_default(),
    );
    Ok(Box::new(nsm))
}

/// Runs the server.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ep: Endpoint = args.listen.parse()?;
    let (nsm, kms) = args.backends.open()?;
    let label = if nsm.kind() == "development" { "DEVELOPMENT " } else { "" };
    let build_info = BuildInfo::parse(
        &std::fs::read(&args.build_info)
            .with_context(|| format!("reading {}", args.build_info.display()))?,
    )
    .with_context(|| format!("parsing {}", args.build_info.display()))?;
    let service = PackService::new(nsm.as_ref(), &kms, build_info);
    let limits =
        Limits { max_frame: args.max_frame, io_timeout: Duration::from_secs(args.io_timeout) };
    let listener = Listener::bind(&ep)?;
    let addr = listener.local_addr();
    eprintln!("proofpack-enclave: {label}serving on {addr}, KMS {}", args.backends.kms);
    if let Some(f) = &args.addr_file {
        let tmp = f.with_extension("tmp");
        std::fs::write(&tmp, &addr)?;
        std::fs::rename(&tmp, f)?;
    }
    let mut jobs = 0u64;
    while args.max_jobs.map_or(true, |m| jobs < m) {
        let mut stream = match listener.accept(&limits) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("proofpack-enclave: accept failed: {e}");
                continue;
            }
        };
        jobs += 1;
        let mut handler = |job: PackJob| match service.pack_timed(&job) {
            Ok((out, report)) => {
                let t = report.timings;
                eprintln!(
                    "proofpack-enclave: {label}job {jobs} ok: {} artifact(s), {} KMS call(s); keygen {:?} attestation {:?} kms {:?} sops {:?} envelope {:?} receipt {:?}",
                    out.artifacts.len(), t.kms_calls, t.keygen, t.attestation, t.kms, t.sops, t.envelope, t.receipt
                );
                Ok(out)
            }
            Err(e) => {
                eprintln!("proofpack-enclave: {label}job {jobs} failed: {e}");
                Err((ErrorCode::JobFailed, e.to_string()))
            }
        };
        if let Err(e) = serve_one(&mut stream, &limits, &mut handler) {
            eprintln!("proofpack-enclave: connection error: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
