//! The pack service's connection handling (issue 17): a fixed pool of
//! workers behind a bounded queue, a typed `Busy` answer when both are
//! full, per-connection deadlines, and a graceful shutdown.
//!
//! ```text
//! accept loop ──try_send──▶ queue (bounded) ──▶ worker 1..=N: read job, pack, answer
//!      │ full
//!      └──try_send──▶ busy responder: answer Busy (code 4), drain, close
//!                          │ full: close (the parent sees a reset)
//! ```
//!
//! Why this shape: packing is CPU-bound (RSA, attestation signatures), so
//! more workers than vCPUs only add latency; a bounded queue keeps memory
//! bounded (each queued connection is one socket, its job is read by the
//! worker); and a parent that finds the enclave full is told so at once
//! instead of waiting behind a stalled peer. The accept loop never reads a
//! job: everything that can stall runs on a worker under [`Deadlines`].
//!
//! Shutdown ([`Shutdown::request`], SIGTERM in the binary through
//! [`signal::on_terminate`]): the loop stops accepting, jobs already running
//! finish and are answered, connections still queued are answered `Busy`
//! (their jobs never started, so the parent may send them elsewhere), then
//! [`serve`] returns.

pub mod conn;
pub mod signal;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::service::{PackJob, PackOutput};
use crate::transport::{
    encode_error, serve_one, write_frame, ErrorCode, JobCredentials, Limits, Listener,
    TransportError, KIND_ERROR,
};
pub use conn::{Conn, Deadlines};

/// How often the accept loop looks at the shutdown flag while idle.
const ACCEPT_POLL: Duration = Duration::from_millis(100);
/// Connections waiting for the busy responder; beyond this they are closed.
pub const BUSY_QUEUE: usize = 64;
/// Largest request a refused connection may send while it is drained.
const BUSY_DRAIN_BYTES: u64 = 1 << 20;

/// Settings of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Workers running jobs in parallel (at least 1).
    pub workers: usize,
    /// Accepted connections waiting for a worker (0: refuse whenever every
    /// worker is busy).
    pub queue: usize,
    /// Frame size limit (and the per-call socket timeout).
    pub limits: Limits,
    /// The whole request must arrive within this time of a worker taking it.
    pub read_deadline: Duration,
    /// The whole answer must be written within this time of its first byte.
    pub write_deadline: Duration,
    /// How long a refused connection is given to finish sending its job
    /// before it is closed (so the `Busy` frame is not lost to a reset).
    pub busy_linger: Duration,
    /// Stop after this many jobs were handed to workers.
    pub max_jobs: Option<u64>,
}

impl ServerConfig {
    /// `workers` workers, a queue of twice as many, and deadlines derived
    /// from `limits.io_timeout`.
    pub fn new(workers: usize, limits: Limits) -> Self {
        let workers = workers.max(1);
        Self {
            workers,
            queue: workers.saturating_mul(2),
            limits,
            read_deadline: limits.io_timeout,
            write_deadline: limits.io_timeout,
            busy_linger: Duration::from_secs(2),
            max_jobs: None,
        }
    }

    fn deadlines(&self) -> Deadlines {
        Deadlines {
            io_timeout: self.limits.io_timeout,
            read: self.read_deadline,
            write: self.write_deadline,
        }
    }
}

/// The vCPUs this process may use (the default worker count), at least 1.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1)
}

/// A shutdown request shared by the accept loop, the workers and whoever
/// asks for it (the SIGTERM thread, a test).
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// Not requested.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks [`serve`] to stop accepting and return once running jobs are answered.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether it was requested.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What one [`serve`] run did (no secrets), for logs and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Jobs handed to a worker.
    pub started: AtomicU64,
    /// Jobs answered with an output.
    pub packed: AtomicU64,
    /// Jobs answered with an error frame other than `Busy`.
    pub failed: AtomicU64,
    /// Connections answered `Busy` (queue full, or queued at shutdown).
    pub busy: AtomicU64,
    /// Connections closed without an answer (I/O error, deadline, busy
    /// responder full).
    pub dropped: AtomicU64,
}

impl Stats {
    /// A plain snapshot: (accepted, started, packed, failed, busy, dropped).
    pub fn snapshot(&self) -> [u64; 6] {
        [&self.accepted, &self.started, &self.packed, &self.failed, &self.busy, &self.dropped]
            .map(|c| c.load(Ordering::SeqCst))
    }
}

/// Runs one job: the job, the credentials it carried, and its sequence
/// number (for logs). Returns the output or the error frame's code and message.
pub type Handler<'a> = dyn Fn(PackJob, Option<JobCredentials>, u64) -> Result<PackOutput, (ErrorCode, String)>
    + Sync
    + 'a;

/// Why [`serve`] could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listener could not be polled or made non-blocking.
    #[error("listener: {0}")]
    Listener(#[source] std::io::Error),
    /// A worker thread could not be started.
    #[error("starting worker threads: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Serves `listener` until `shutdown` is requested or `cfg.max_jobs` jobs
/// were started; returns when every started job has been answered.
pub fn serve(
    listener: &Listener,
    cfg: &ServerConfig,
    handler: &Handler<'_>,
    shutdown: &Shutdown,
    stats: &Stats,
    log: &(dyn Fn(&str) + Sync),
) -> Result<(), ServeError> {
    set_nonblocking(listener, true).map_err(ServeError::Listener)?;
    let (tx, rx) = sync_channel::<(u64, Conn)>(cfg.queue);
    let rx = Mutex::new(rx);
    let (busy_tx, busy_rx) = sync_channel::<Conn>(BUSY_QUEUE);
    std::thread::scope(|s| -> Result<(), ServeError> {
        for w in 0..cfg.workers.max(1) {
            let rx = &rx;
            std::thread::Builder::new()
                .name(format!("pack-worker-{w}"))
                .spawn_scoped(s, move || worker(rx, cfg, handler, shutdown, stats, log))
                .map_err(ServeError::Spawn)?;
        }
        std::thread::Builder::new()
            .name("pack-busy".into())
            .spawn_scoped(s, move || busy_responder(busy_rx, cfg, stats))
            .map_err(ServeError::Spawn)?;
        let r = accept_loop(listener, cfg, shutdown, stats, &tx, &busy_tx, log);
        // Closing the queues ends the workers once they are idle.
        drop(tx);
        drop(busy_tx);
        r
    })?;
    set_nonblocking(listener, false).map_err(ServeError::Listener)
}

fn accept_loop(
    listener: &Listener,
    cfg: &ServerConfig,
    shutdown: &Shutdown,
    stats: &Stats,
    tx: &std::sync::mpsc::SyncSender<(u64, Conn)>,
    busy_tx: &std::sync::mpsc::SyncSender<Conn>,
    log: &(dyn Fn(&str) + Sync),
) -> Result<(), ServeError> {
    let mut started = 0u64;
    loop {
        if shutdown.requested() {
            log("shutdown requested: not accepting; finishing running jobs");
            return Ok(());
        }
        if cfg.max_jobs.is_some_and(|m| started >= m) {
            return Ok(());
        }
        if !readable(listener, ACCEPT_POLL).map_err(ServeError::Listener)? {
            continue;
        }
        let conn = match Conn::accept(listener, cfg.deadlines()) {
            Ok(c) => c,
            Err(TransportError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // E.g. out of file descriptors: the listener stays readable,
                // so pause instead of spinning on the same error.
                log(&format!("accept failed: {e}"));
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        stats.accepted.fetch_add(1, Ordering::SeqCst);
        let id = started.saturating_add(1);
        match tx.try_send((id, conn)) {
            Ok(()) => started = id,
            Err(TrySendError::Full((_, conn))) => refuse(busy_tx, conn, stats),
            // Every worker has gone (a worker only ends when the queue closes).
            Err(TrySendError::Disconnected(_)) => return Ok(()),
        }
    }
}

fn refuse(busy_tx: &std::sync::mpsc::SyncSender<Conn>, conn: Conn, stats: &Stats) {
    if busy_tx.try_send(conn).is_err() {
        // The responder is behind by BUSY_QUEUE connections: close this one
        // (a reset at the parent) rather than let refusals pile up.
        stats.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

fn worker(
    rx: &Mutex<Receiver<(u64, Conn)>>,
    cfg: &ServerConfig,
    handler: &Handler<'_>,
    shutdown: &Shutdown,
    stats: &Stats,
    log: &(dyn Fn(&str) + Sync),
) {
    loop {
        // The lock is held only while waiting for the next connection.
        let next = match rx.lock() {
            Ok(g) => g.recv(),
            Err(_) => return,
        };
        let Ok((id, mut conn)) = next else { return };
        if shutdown.requested() {
            answer_busy(&mut conn, cfg, "the enclave is shutting down; send the job again", stats);
            continue;
        }
        stats.started.fetch_add(1, Ordering::SeqCst);
        // The read deadline runs from now, not from the accept: time spent
        // in the queue is the service's delay, not the parent's.
        conn.set_deadlines(cfg.deadlines());
        let outcome = std::cell::Cell::new(None);
        let mut h = |job: PackJob, creds: Option<JobCredentials>| {
            let r = handler(job, creds, id);
            outcome.set(Some(r.is_ok()));
            r
        };
        let r = serve_one(&mut conn, &cfg.limits, &mut h);
        match (r, outcome.get()) {
            (Ok(()), Some(true)) => stats.packed.fetch_add(1, Ordering::SeqCst),
            (Ok(()), _) => stats.failed.fetch_add(1, Ordering::SeqCst),
            (Err(e), _) => {
                log(&format!("job {id}: connection error: {e}"));
                stats.dropped.fetch_add(1, Ordering::SeqCst)
            }
        };
    }
}

const BUSY_MESSAGE: &str =
    "the enclave is busy (every worker and queue slot is taken); retry later";

/// One thread answers every refused connection: it writes `Busy` at once,
/// then keeps up to [`BUSY_QUEUE`] answered connections lingering, drained
/// without blocking, each until its parent closes it, it has sent
/// [`BUSY_DRAIN_BYTES`], or `busy_linger` passes. A parent that stalls
/// holds a linger slot, never the responder.
fn busy_responder(rx: Receiver<Conn>, cfg: &ServerConfig, stats: &Stats) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut lingering: Vec<(Conn, u64)> = Vec::new();
    let mut open = true;
    while open || !lingering.is_empty() {
        let next = if !open {
            std::thread::sleep(Duration::from_millis(10));
            Err(RecvTimeoutError::Timeout)
        } else if lingering.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(Duration::from_millis(10))
        };
        match next {
            Ok(mut conn) => {
                if write_busy(&mut conn, cfg, BUSY_MESSAGE, stats)
                    && conn.set_nonblocking(true).is_ok()
                {
                    if lingering.len() >= BUSY_QUEUE {
                        // The oldest linger ends early (the parent may see a reset).
                        lingering.remove(0);
                    }
                    lingering.push((conn, 0));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        lingering.retain_mut(|(conn, read)| drain_some(conn, read));
    }
}

/// Reads what a refused parent sent so far; false once the connection can close.
fn drain_some(conn: &mut Conn, read: &mut u64) -> bool {
    let mut buf = [0u8; 8192];
    loop {
        match std::io::Read::read(conn, &mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                *read = read.saturating_add(n as u64);
                if *read > BUSY_DRAIN_BYTES {
                    return false;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // The linger deadline passed, or the parent reset the connection.
            Err(_) => return false,
        }
    }
}

/// Starts a connection's linger, writes the `Busy` frame and closes the
/// sending half; false when the frame could not be written.
fn write_busy(conn: &mut Conn, cfg: &ServerConfig, message: &str, stats: &Stats) -> bool {
    let linger =
        Deadlines { io_timeout: cfg.busy_linger, read: cfg.busy_linger, write: cfg.busy_linger };
    conn.set_deadlines(linger);
    let ok = write_frame(conn, KIND_ERROR, &encode_error(ErrorCode::Busy, message)).is_ok();
    if ok {
        stats.busy.fetch_add(1, Ordering::SeqCst);
    } else {
        stats.dropped.fetch_add(1, Ordering::SeqCst);
    }
    let _ = conn.shutdown_write();
    ok
}

/// Writes the `Busy` frame first (so the parent can read it as soon as it
/// has sent its job), then reads and discards what the parent still sends,
/// for at most `busy_linger`: closing a socket with unread data makes the
/// kernel send a reset, and the parent would lose the frame.
fn answer_busy(conn: &mut Conn, cfg: &ServerConfig, message: &str, stats: &Stats) {
    write_busy(conn, cfg, message, stats);
    let _ =
        std::io::copy(&mut std::io::Read::take(&mut *conn, BUSY_DRAIN_BYTES), &mut std::io::sink());
}

fn set_nonblocking(listener: &Listener, on: bool) -> std::io::Result<()> {
    match listener {
        Listener::Tcp(l) => l.set_nonblocking(on),
        #[cfg(feature = "vsock")]
        Listener::Vsock(l) => l.set_nonblocking(on),
    }
}

/// Waits up to `timeout` for a connection to accept.
fn readable(listener: &Listener, timeout: Duration) -> std::io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let ts = Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let n = match listener {
        Listener::Tcp(l) => poll(&mut [PollFd::new(l, PollFlags::IN)], Some(&ts)),
        #[cfg(feature = "vsock")]
        Listener::Vsock(l) => poll(&mut [PollFd::new(l, PollFlags::IN)], Some(&ts)),
    };
    match n {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
