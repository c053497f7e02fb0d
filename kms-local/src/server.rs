//! The whole server in one call: [`spawn`] opens the store, binds, and serves
//! on a thread until the returned [`Running`] is dropped.
//!
//! The `proofpack-kms-local` binary is a thin layer over it, and the tests,
//! benches and the demo run the same server in process through it, so there
//! is one way to start the server and no binary to locate at run time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::faults::{Faults, FaultsError};
use super::http::{
    serve, CredentialsFile, Principals, RequestLog, DEFAULT_LOG_TAG, EMULATOR_LOG_TAG,
};
use super::policy::{AttestationRecipients, KeyPolicyEngine};
use super::service::{Service, ServiceConfig};
use super::store::{Store, StoreError};
use super::trail::TrailWriter;
use super::{Clock, NoRecipients, RecipientVerifier};

/// Default region in key ARNs and the SigV4 scope.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Default account id that owns the keys.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
/// Default maximum age of a Recipient document, in seconds.
pub const DEFAULT_MAX_DOCUMENT_AGE_SECS: u64 = 300;

/// Where the request log goes.
#[derive(Debug, Clone, Default)]
pub enum LogTo {
    /// Standard error (the binary).
    #[default]
    Stderr,
    /// Appended to this file (tests read it back).
    File(PathBuf),
}

/// Everything one server needs.
#[derive(Debug)]
pub struct Config {
    /// Address to bind; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Directory holding the keys (created if missing).
    pub state_dir: PathBuf,
    /// Access key ids, secrets and principal ARNs.
    pub credentials: CredentialsFile,
    /// Verifier of Recipient documents; `None` refuses every Recipient.
    pub recipients: Option<AttestationRecipients>,
    /// Region in key ARNs and the SigV4 scope.
    pub region: String,
    /// Account id that owns the keys.
    pub account: String,
    /// Maximum age of a Recipient document, in seconds.
    pub max_document_age_secs: u64,
    /// The server's "now" for key creation and deletion dates.
    pub clock: Clock,
    /// Where request log lines go.
    pub log: LogTo,
    /// Injected faults (issue 17); the default injects none.
    pub faults: Faults,
    /// Directory to write one CloudTrail log file per call into
    /// (`AWSLogs/<account>/CloudTrail/<region>/...`), when set.
    pub trail: Option<PathBuf>,
}

impl Config {
    /// A loopback server on a free port, with the defaults of the binary: no
    /// attestation root, wall clock, log to standard error.
    pub fn new(state_dir: impl Into<PathBuf>, credentials: CredentialsFile) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir: state_dir.into(),
            credentials,
            recipients: None,
            region: DEFAULT_REGION.into(),
            account: DEFAULT_ACCOUNT.into(),
            max_document_age_secs: DEFAULT_MAX_DOCUMENT_AGE_SECS,
            clock: Clock::System,
            log: LogTo::Stderr,
            faults: Faults::default(),
            trail: None,
        }
    }

    /// The tag request log lines start with: it names the dangerous mode of
    /// accepting unsigned emulator documents, so no log line hides it.
    pub fn log_tag(&self) -> &'static str {
        match &self.recipients {
            Some(r) if r.accepts_emulator_documents() => EMULATOR_LOG_TAG,
            _ => DEFAULT_LOG_TAG,
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The state directory could not be opened.
    #[error("opening {}", dir.display())]
    Store {
        /// The state directory.
        dir: PathBuf,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The configured clock cannot be read.
    #[error("{0}")]
    Clock(String),
    /// The address could not be bound.
    #[error("listen on {addr}: {message}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The server library's error text.
        message: String,
    },
    /// The server did not report a TCP address after binding.
    #[error("listen on {0}: no TCP address")]
    NoAddress(SocketAddr),
    /// The log file could not be opened.
    #[error("opening log file {}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The fault settings are out of range.
    #[error("fault injection: {0}")]
    Faults(#[source] FaultsError),
    /// The serving thread could not be started.
    #[error("starting the server thread")]
    Thread(#[source] std::io::Error),
}

/// A server serving on its own thread. Dropping it stops the server: the
/// requests already accepted are answered, then the thread ends.
pub struct Running {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Running {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:4566`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Blocks until the server stops (it never does on its own: the binary
    /// serves until killed).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens the store, checks the clock, binds `cfg.listen` and serves on a new
/// thread.
pub fn spawn(cfg: Config) -> Result<Running, SpawnError> {
    let tag = cfg.log_tag();
    let Config {
        listen,
        state_dir,
        credentials,
        recipients,
        region,
        account,
        max_document_age_secs,
        clock,
        log,
        faults,
        trail,
    } = cfg;
    faults.validate().map_err(SpawnError::Faults)?;
    let principals = Principals::new(credentials);
    let recipients: Box<dyn RecipientVerifier> = match recipients {
        Some(r) => Box::new(r),
        None => Box::new(NoRecipients),
    };
    let store =
        Store::open(&state_dir).map_err(|source| SpawnError::Store { dir: state_dir, source })?;
    clock.now().map_err(SpawnError::Clock)?;
    let mut log = match log {
        LogTo::Stderr => RequestLog::stderr(tag),
        LogTo::File(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| SpawnError::Log { path, source })?;
            RequestLog::file(tag, f)
        }
    };
    let trail = trail.map(|dir| TrailWriter::new(dir, &region, &account));
    let service_cfg = ServiceConfig { region: region.clone(), account, max_document_age_secs };
    let mut service =
        Service::new(service_cfg, store, Box::new(KeyPolicyEngine), recipients, clock);
    if let Some(t) = trail {
        service = service.with_trail(t);
    }
    let server = tiny_http::Server::http(listen)
        .map_err(|e| SpawnError::Listen { addr: listen, message: e.to_string() })?;
    let addr = server.server_addr().to_ip().ok_or(SpawnError::NoAddress(listen))?;
    let server = Arc::new(server);
    let serving = Arc::clone(&server);
    let thread = std::thread::Builder::new()
        .name(format!("kms-local {addr}"))
        .spawn(move || serve(&serving, &mut service, &principals, &region, &mut log, &faults))
        .map_err(SpawnError::Thread)?;
    Ok(Running { server, thread: Some(thread), addr })
}
