//! `proofpack-enclave serve`: the pack service on vsock (production) or TCP
//! loopback (development), one job per connection, jobs run by a fixed pool
//! of workers behind a bounded queue (`enclave::server`, issue 17).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;

use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::backend::nsm::NitroNsm;
#[cfg(feature = "dev-nsm")]
use enclave::backend::nsm_dev::DevNsm;
use enclave::backend::Nsm;
use enclave::forward::parse_cid_port;
use enclave::keypool::KeyPool;
use enclave::receipt::statement::BuildInfo;
use enclave::recipients::InputBinding;
use enclave::server::{self, ServerConfig, Shutdown, Stats};
use enclave::service::{PackJob, PackService};

/// Whether this image accepts SOPS/sealed inputs that are not bound to the
/// job's recipients policy (issue 20). A compile-time setting, so it is part
/// of the application binary, hence of PCR2, and every receipt states it:
/// only the cargo feature `allow-unbound-inputs` (chosen by the build spec)
/// turns it on.
const INPUT_BINDING: InputBinding = if cfg!(feature = "allow-unbound-inputs") {
    InputBinding::AllowUnbound
} else {
    InputBinding::Required
};
use enclave::transport::{Endpoint, ErrorCode, JobCredentials, Limits, Listener};

const AFTER_HELP: &str = "\
Examples:
  # Development, on one machine: dev NSM measuring a real EIF, local KMS
  # (credentials from the environment; jobs may also carry their own).
  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
  proofpack-enclave serve --listen tcp:127.0.0.1:7000 \\
      --nsm dev:build/enclave.eif,dev-ca --kms http://127.0.0.1:4566 \\
      --build-info build/build-info.json

  # Inside a Nitro Enclave (built with --features nitro,vsock,tls; the
  # parent runs `vsock-proxy 8000 kms.us-east-1.amazonaws.com 443`):
  proofpack-enclave serve --listen vsock:4294967295:5000 --nsm nitro \\
      --kms https://kms.us-east-1.amazonaws.com --kms-vsock 3:8000

Credentials: a job sent with `proofpack pack --send-credentials` is signed with
the credentials it carries (never logged, never in the receipt); other jobs use
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN of this process,
and fail when it has none (as inside an enclave).

--kms-vsock starts a forwarder on 127.0.0.1 (proofpack-init brings `lo` up)
that splices each KMS connection to the parent's vsock-proxy; TLS, Host and
SigV4 still name the real endpoint, so the parent relays only ciphertext.

The parent sends jobs with `proofpack pack`. The wire protocol is documented in
enclave::transport. With --nsm dev the attestation documents are signed by a
TEST CA, and every log line says DEVELOPMENT.

Load (issue 17): --workers jobs run at once (default: the vCPUs); up to
--queue more connections wait; beyond that a job is answered Busy at once
(`proofpack pack` retries it with backoff). A connection must send its whole
job within --read-deadline and take the whole answer within --write-deadline,
so a stalled parent holds only its own worker. SIGTERM (or SIGINT) stops
accepting, answers queued jobs Busy, finishes running jobs, then exits 0; a
second signal exits at once.

Exit codes: 0 after --max-jobs jobs or a graceful shutdown, 2 invalid
arguments or setup failure.";

/// Arguments of `serve`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    /// Where to listen: `tcp:HOST:PORT` (development) or `vsock:CID:PORT`.
    #[arg(long)]
    pub(crate) listen: String,
    #[command(flatten)]
    pub(crate) backends: Backends,
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
    /// Jobs run in parallel (default: available parallelism, the enclave's vCPUs).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
    /// Accepted connections waiting for a worker before new ones get Busy
    /// (default: twice the workers).
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=4096))]
    queue: Option<u16>,
    /// Seconds a connection has to send its whole job, from a worker taking it.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    read_deadline: u64,
    /// Seconds a connection has to take the whole answer, from its first byte.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    write_deadline: u64,
    /// Job RSA keys generated ahead in the background (0 = generate each
    /// job's key on its critical path). Each key serves exactly one job.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(0..=64))]
    key_pool: u16,
}

/// The NSM and KMS an enclave command talks to (`serve`, `org-key init`).
#[derive(Debug, Args)]
pub struct Backends {
    /// NSM: `nitro` (/dev/nsm) or `dev:EIF,CA_DIR` (test CA, PCRs of EIF).
    #[arg(long)]
    pub(crate) nsm: String,
    /// KMS endpoint URL (http://127.0.0.1:PORT for proofpack-kms-local).
    #[arg(long)]
    pub(crate) kms: String,
    /// Region for SigV4.
    #[arg(long, default_value = "us-east-1")]
    kms_region: String,
    /// Connect to this address for KMS (an existing forwarder), keeping the URL's host.
    #[arg(long, conflicts_with = "kms_vsock")]
    kms_connect_to: Option<SocketAddr>,
    /// Reach KMS through the parent's `vsock-proxy` at CID:PORT (e.g. `3:8000`):
    /// starts an in-enclave forwarder on 127.0.0.1 and connects KMS calls
    /// there, keeping the URL's host for TLS and SigV4. Needs feature `vsock`.
    #[arg(long, value_name = "CID:PORT", value_parser = parse_vsock_addr)]
    pub(crate) kms_vsock: Option<(u32, u32)>,
    /// KMS call timeout in seconds.
    #[arg(long, default_value_t = 10)]
    kms_timeout: u64,
}

fn parse_vsock_addr(s: &str) -> Result<(u32, u32), String> {
    parse_cid_port(s).ok_or_else(|| format!("expected CID:PORT (e.g. 3:8000), got {s:?}"))
}

impl Backends {
    /// Opens the NSM and the KMS client (credentials from the AWS environment variables).
    pub fn open(&self) -> anyhow::Result<(Box<dyn Nsm>, KmsHttpClient)> {
        let nsm = open_nsm(&self.nsm)?;
        let route = self.kms_route()?;
        Ok((nsm, self.kms_client(Credentials::from_env()?, route)?))
    }

    /// Where KMS connections go: `--kms-connect-to`, or the loopback address
    /// of a forwarder started here for `--kms-vsock`, or `None` (resolve the
    /// endpoint's host). Call once: each call for `--kms-vsock` starts a
    /// forwarder.
    pub fn kms_route(&self) -> anyhow::Result<Option<SocketAddr>> {
        match self.kms_vsock {
            Some((cid, port)) => {
                let addr = start_vsock_forwarder(cid, port)?;
                eprintln!("proofpack-enclave: KMS via {addr} -> vsock {cid}:{port}");
                Ok(Some(addr))
            }
            None => Ok(self.kms_connect_to),
        }
    }

    /// A KMS client with these credentials, connecting to `route` when set.
    pub fn kms_client(
        &self,
        credentials: Credentials,
        route: Option<SocketAddr>,
    ) -> anyhow::Result<KmsHttpClient> {
        let mut cfg = KmsHttpConfig::new(&self.kms, &self.kms_region, credentials);
        cfg.connect_to = route;
        cfg.timeout = Duration::from_secs(self.kms_timeout);
        Ok(KmsHttpClient::new(cfg)?)
    }
}

#[cfg(feature = "vsock")]
fn start_vsock_forwarder(cid: u32, port: u32) -> anyhow::Result<SocketAddr> {
    use enclave::forward::{ConnectFn, ForwardLimits, Forwarder, SpliceStream};
    let connect: std::sync::Arc<ConnectFn> = std::sync::Arc::new(move || {
        let s = vsock::VsockStream::connect_with_cid_port(cid, port)?;
        Ok(Box::new(s) as Box<dyn SpliceStream>)
    });
    let fwd = Forwarder::spawn_loopback(connect, ForwardLimits::default())
        .context("starting the KMS forwarder on 127.0.0.1 (is `lo` up?)")?;
    Ok(fwd.local_addr())
}

#[cfg(not(feature = "vsock"))]
fn start_vsock_forwarder(_cid: u32, _port: u32) -> anyhow::Result<SocketAddr> {
    bail!("--kms-vsock needs proofpack-enclave built with feature `vsock`")
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
    open_dev_nsm(eif, ca)
}

#[cfg(feature = "dev-nsm")]
fn open_dev_nsm(eif: &str, ca: &str) -> anyhow::Result<Box<dyn Nsm>> {
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

/// Production images are built without the development NSM and its test CA
/// (issue 15): asking for it is a usage error that names the feature.
#[cfg(not(feature = "dev-nsm"))]
fn open_dev_nsm(_eif: &str, _ca: &str) -> anyhow::Result<Box<dyn Nsm>> {
    bail!(
        "--nsm dev:... needs proofpack-enclave built with feature `dev-nsm` \
         (development only; production images do not include the development NSM)"
    )
}

/// Runs the server.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ep: Endpoint = args.listen.parse()?;
    // First, before any thread starts: SIGTERM becomes a graceful shutdown.
    let shutdown = Shutdown::new();
    server::signal::on_terminate(shutdown.clone(), |m| eprintln!("proofpack-enclave: {m}"))?;
    // Start the KMS route first: a --kms-vsock misconfiguration is reported
    // before the NSM is touched.
    let route = args.backends.kms_route()?;
    let nsm = open_nsm(&args.backends.nsm)?;
    // Inside an enclave there are no environment credentials: jobs carry
    // theirs (`proofpack pack --send-credentials`). Development keeps using
    // the environment.
    let env_kms = match Credentials::from_env() {
        Ok(c) => Some(args.backends.kms_client(c, route)?),
        Err(e) => {
            eprintln!(
                "proofpack-enclave: no AWS credentials in the environment ({e}); every job must carry its own (proofpack pack --send-credentials)"
            );
            None
        }
    };
    let label = if nsm.kind() == "development" { "DEVELOPMENT " } else { "" };
    let build_info = BuildInfo::parse(&std::fs::read(&args.build_info).with_context(|| {
        // The known gap of production images (README "Known limits").
        format!(
            "reading {} (note: `proofpack build` does not bake this file into production images yet)",
            args.build_info.display()
        )
    })?)
    .with_context(|| format!("parsing {}", args.build_info.display()))?;
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
    let workers = args.workers.map_or_else(server::default_workers, usize::from);
    let mut cfg = ServerConfig::new(workers, limits);
    if let Some(q) = args.queue {
        cfg.queue = usize::from(q);
    }
    cfg.read_deadline = Duration::from_secs(args.read_deadline);
    cfg.write_deadline = Duration::from_secs(args.write_deadline);
    cfg.max_jobs = args.max_jobs;
    eprintln!(
        "proofpack-enclave: {} worker(s), queue {}, deadlines read {}s write {}s, key pool {}",
        cfg.workers, cfg.queue, args.read_deadline, args.write_deadline, args.key_pool
    );
    let pool = match args.key_pool {
        0 => None,
        n => Some(KeyPool::start(usize::from(n))?),
    };
    let handler = |job: PackJob, creds: Option<JobCredentials>, jobs: u64| {
        // The job's own client lives only for this job; its credentials
        // are zeroized when it drops.
        let job_kms = match creds {
            Some(c) => Some(
                args.backends
                    .kms_client(c.into_signing(), route)
                    .map_err(|e| (ErrorCode::Internal, format!("KMS client: {e}")))?,
            ),
            None => None,
        };
        let (client, source) = match (&job_kms, &env_kms) {
            (Some(k), _) => (k, "job"),
            (None, Some(k)) => (k, "environment"),
            (None, None) => {
                let msg = "no AWS credentials: the job carried none (proofpack pack --send-credentials) and the enclave environment has none";
                eprintln!("proofpack-enclave: {label}job {jobs} failed: {msg}");
                return Err((ErrorCode::JobFailed, msg.to_string()));
            }
        };
        // The job's own retry budget, even on the shared environment client.
        let kms = client.for_job();
        let mut service =
            PackService::with_input_binding(nsm.as_ref(), &kms, build_info.clone(), INPUT_BINDING);
        if let Some(p) = &pool {
            service = service.with_key_pool(p);
        }
        match service.pack_timed(&job) {
            Ok((out, report)) => {
                let t = report.timings;
                eprintln!(
                    "proofpack-enclave: {label}job {jobs} ok: {} artifact(s), {} KMS call(s) ({} retried) with {source} credentials; keygen {:?} attestation {:?} kms {:?} sops {:?} envelope {:?} receipt {:?}",
                    out.artifacts.len(), t.kms_calls, t.kms_retries, t.keygen, t.attestation, t.kms, t.sops, t.envelope, t.receipt
                );
                Ok(out)
            }
            Err(e) => {
                eprintln!("proofpack-enclave: {label}job {jobs} failed: {e}");
                Err((ErrorCode::JobFailed, e.to_string()))
            }
        }
    };
    let stats = Stats::default();
    server::serve(&listener, &cfg, &handler, &shutdown, &stats, &|m| {
        eprintln!("proofpack-enclave: {label}{m}")
    })?;
    let [accepted, started, packed, failed, busy, dropped] = stats.snapshot();
    eprintln!(
        "proofpack-enclave: {label}stopped: {accepted} connection(s), {started} job(s) started, {packed} packed, {failed} failed, {busy} answered busy, {dropped} dropped"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[cfg(not(feature = "vsock"))]
    #[test]
    fn kms_vsock_without_the_feature_is_a_startup_error() {
        let e = start_vsock_forwarder(3, 8000).unwrap_err().to_string();
        assert!(e.contains("feature `vsock`"), "{e}");
    }

    /// With the feature but no hypervisor (this machine): the forwarder
    /// starts, and a connection through it is closed because the vsock
    /// connect to the parent fails, rather than hanging. The splice itself
    /// is tested TCP→TCP in `enclave::forward`.
    #[cfg(feature = "vsock")]
    #[test]
    fn kms_vsock_forwarder_closes_when_the_parent_is_unreachable() {
        use std::io::Read;
        let addr = start_vsock_forwarder(3, 8000).unwrap();
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 1];
        assert!(!matches!(c.read(&mut b), Ok(1)));
    }
}
