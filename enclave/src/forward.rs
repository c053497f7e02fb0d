//! A TCP→stream forwarder: how the enclave reaches KMS.
//!
//! Inside a Nitro Enclave there is no network device, only vsock. AWS's
//! pattern: the parent runs `vsock-proxy` (listening on a vsock port, e.g.
//! 8000, and forwarding to `kms.<region>.amazonaws.com:443`); inside the
//! enclave a forwarder listens on a loopback TCP port and splices every
//! connection to vsock CID 3 (the parent) on that port. The KMS client then
//! connects to the loopback address (`KmsHttpConfig::connect_to`) while Host,
//! TLS SNI and SigV4 still name the real endpoint, so TLS runs end to end
//! between the enclave and KMS and the parent only sees ciphertext.
//!
//! The forwarder is generic over the upstream connect function so that it is
//! tested TCP→TCP; `proofpack-enclave serve --kms-vsock` plugs in vsock.
//!
//! Bounds: at most [`ForwardLimits::max_conns`] spliced connections at once
//! (further ones are closed at accept, the HTTP client sees a reset and
//! reports a transport error), and every read/write on either side has the
//! [`ForwardLimits::io_timeout`] timeout, so a stalled peer frees its slot.
//! The upstream connect itself is bounded by the connect function (for vsock,
//! the kernel's `SO_VM_SOCKETS_CONNECT_TIMEOUT`, 2 s by default).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A byte stream the forwarder can splice: cloneable into a second handle (one
/// thread per direction), half-closable, with I/O timeouts.
pub trait SpliceStream: Read + Write + Send + 'static {
    /// A second handle to the same connection.
    fn try_clone_stream(&self) -> io::Result<Box<dyn SpliceStream>>;
    /// Shuts down one or both directions.
    fn shutdown_stream(&self, how: Shutdown) -> io::Result<()>;
    /// Sets the read and write timeouts.
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()>;
}

/// The same four-line delegation for every std-like socket type.
macro_rules! splice_stream_for {
    ($t:ty) => {
        impl SpliceStream for $t {
            fn try_clone_stream(&self) -> io::Result<Box<dyn SpliceStream>> {
                Ok(Box::new(self.try_clone()?))
            }
            fn shutdown_stream(&self, how: Shutdown) -> io::Result<()> {
                self.shutdown(how)
            }
            fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
                self.set_read_timeout(Some(timeout))?;
                self.set_write_timeout(Some(timeout))
            }
        }
    };
}

splice_stream_for!(TcpStream);
splice_stream_for!(std::os::unix::net::UnixStream);
#[cfg(feature = "vsock")]
splice_stream_for!(vsock::VsockStream);

/// Opens one upstream connection.
pub type ConnectFn = dyn Fn() -> io::Result<Box<dyn SpliceStream>> + Send + Sync;

/// Limits of a forwarder.
#[derive(Debug, Clone, Copy)]
pub struct ForwardLimits {
    /// Most connections spliced at once.
    pub max_conns: usize,
    /// Read/write timeout on both sides of every connection.
    pub io_timeout: Duration,
}

impl Default for ForwardLimits {
    /// 16 connections (KMS calls are sequential per job; ureq may keep one
    /// idle pooled connection), 60 s timeouts (above the KMS client's 10 s
    /// default per call, so the client times out first and reports it).
    fn default() -> Self {
        Self { max_conns: 16, io_timeout: Duration::from_secs(60) }
    }
}

/// A running forwarder (its accept thread is detached and lives as long as
/// the process).
#[derive(Debug)]
pub struct Forwarder {
    addr: SocketAddr,
    active: Arc<AtomicUsize>,
}

impl Forwarder {
    /// Binds `127.0.0.1:0` and starts accepting; every connection is spliced
    /// to a fresh `connect()` stream.
    pub fn spawn_loopback(connect: Arc<ConnectFn>, limits: ForwardLimits) -> io::Result<Forwarder> {
        Self::spawn(TcpListener::bind("127.0.0.1:0")?, connect, limits)
    }

    /// Starts accepting on `listener`.
    pub fn spawn(
        listener: TcpListener,
        connect: Arc<ConnectFn>,
        limits: ForwardLimits,
    ) -> io::Result<Forwarder> {
        let addr = listener.local_addr()?;
        let active = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&active);
        let accept = move || listener.accept().map(|(c, _)| Box::new(c) as Box<dyn SpliceStream>);
        std::thread::Builder::new()
            .name("kms-forwarder".into())
            .spawn(move || accept_loop(accept, connect, limits, counter))?;
        Ok(Forwarder { addr, active })
    }

    /// Starts accepting on a Unix socket: the parent side of the emulator,
    /// where vhost-device-vsock delivers the enclave's connections to vsock
    /// port P as connections to `<uds-path>_P` (`proofpack emulator-parent`).
    /// [`Forwarder::local_addr`] is then `0.0.0.0:0` (no TCP address).
    pub fn spawn_unix(
        listener: std::os::unix::net::UnixListener,
        connect: Arc<ConnectFn>,
        limits: ForwardLimits,
    ) -> io::Result<Forwarder> {
        let active = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&active);
        let accept = move || listener.accept().map(|(c, _)| Box::new(c) as Box<dyn SpliceStream>);
        std::thread::Builder::new()
            .name("unix-forwarder".into())
            .spawn(move || accept_loop(accept, connect, limits, counter))?;
        Ok(Forwarder { addr: SocketAddr::from(([0, 0, 0, 0], 0)), active })
    }

    /// The local address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections being spliced now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
}

/// Decrements the active count when a connection ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(
    mut accept: impl FnMut() -> io::Result<Box<dyn SpliceStream>>,
    connect: Arc<ConnectFn>,
    limits: ForwardLimits,
    active: Arc<AtomicUsize>,
) {
    loop {
        let client = match accept() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("proofpack-enclave: KMS forwarder accept failed: {e}");
                // Avoid a hot loop on persistent errors (e.g. EMFILE).
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= limits.max_conns {
            active.fetch_sub(1, Ordering::SeqCst);
            eprintln!(
                "proofpack-enclave: KMS forwarder: {} connections open, refusing another",
                limits.max_conns
            );
            drop(client);
            continue;
        }
        let slot = Slot(Arc::clone(&active));
        let connect = Arc::clone(&connect);
        let spawned = std::thread::Builder::new().name("kms-splice".into()).spawn(move || {
            let _slot = slot;
            if let Err(e) = splice(client, connect.as_ref(), limits.io_timeout) {
                eprintln!("proofpack-enclave: KMS forwarder connection: {e}");
            }
        });
        if let Err(e) = spawned {
            eprintln!("proofpack-enclave: KMS forwarder cannot start a thread: {e}");
        }
    }
}

/// Connects upstream and copies both directions until each side has closed
/// (or timed out / failed, which closes both).
fn splice(client: Box<dyn SpliceStream>, connect: &ConnectFn, timeout: Duration) -> io::Result<()> {
    let upstream = connect().map_err(|e| io::Error::new(e.kind(), format!("upstream: {e}")))?;
    client.set_timeouts(timeout)?;
    upstream.set_timeouts(timeout)?;
    let (c_read, c_write) = (client.try_clone_stream()?, client);
    let (u_read, u_write) = (upstream.try_clone_stream()?, upstream);
    let up = std::thread::Builder::new()
        .name("kms-splice-up".into())
        .spawn(move || pump(c_read, u_write))?;
    let down = pump(u_read, c_write);
    let up = up.join().unwrap_or_else(|_| Err(io::Error::other("splice thread panicked")));
    down.and(up)
}

/// Copies `from` → `to`; on EOF half-closes `to` so the peer sees the end;
/// on error closes both so the other direction ends too.
fn pump(mut from: Box<dyn SpliceStream>, mut to: Box<dyn SpliceStream>) -> io::Result<()> {
    match io::copy(&mut from, &mut to) {
        Ok(_) => {
            let _ = to.flush();
            let _ = to.shutdown_stream(Shutdown::Write);
            Ok(())
        }
        Err(e) => {
            let _ = to.shutdown_stream(Shutdown::Both);
            let _ = from.shutdown_stream(Shutdown::Both);
            Err(e)
        }
    }
}

/// Parses `CID:PORT` (e.g. `3:8000`).
pub fn parse_cid_port(s: &str) -> Option<(u32, u32)> {
    let (cid, port) = s.split_once(':')?;
    Some((cid.parse().ok()?, port.parse().ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    /// An echo server that upper-cases nothing: it echoes until EOF, then closes.
    fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let _ = io::copy(&mut r, &mut s);
                    let _ = s.shutdown(Shutdown::Write);
                });
            }
        });
        a
    }

    fn tcp_connect(to: SocketAddr) -> Arc<ConnectFn> {
        Arc::new(move || Ok(Box::new(TcpStream::connect(to)?) as Box<dyn SpliceStream>))
    }

    fn wait_until(mut f: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn splices_both_directions_and_half_close() {
        let fwd = Forwarder::spawn_loopback(tcp_connect(echo_server()), ForwardLimits::default())
            .unwrap();
        let mut c = TcpStream::connect(fwd.local_addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let w = {
            let mut c = c.try_clone().unwrap();
            let data = data.clone();
            std::thread::spawn(move || {
                c.write_all(&data).unwrap();
                c.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        w.join().unwrap();
        assert_eq!(back, data);
        assert!(wait_until(|| fwd.active() == 0), "slot not released");
    }

    #[test]
    fn bounds_concurrent_connections() {
        let limits = ForwardLimits { max_conns: 2, io_timeout: Duration::from_secs(5) };
        let fwd = Forwarder::spawn_loopback(tcp_connect(echo_server()), limits).unwrap();
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(fwd.local_addr()).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            c.read_exact(&mut b).unwrap();
            held.push(c);
        }
        assert_eq!(fwd.active(), 2);
        // A third is closed at accept: EOF (or reset), never an echo.
        let mut third = TcpStream::connect(fwd.local_addr()).unwrap();
        third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = third.write_all(b"y");
        let mut b = [0u8; 1];
        assert!(!matches!(third.read(&mut b), Ok(1)), "third connection was served");
        drop(held);
        assert!(wait_until(|| fwd.active() == 0));
        let mut again = TcpStream::connect(fwd.local_addr()).unwrap();
        again.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        again.write_all(b"z").unwrap();
        again.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"z");
    }

    #[test]
    fn upstream_failure_closes_client() {
        // Nothing listens on this port once the listener is dropped.
        let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let fwd = Forwarder::spawn_loopback(tcp_connect(dead), ForwardLimits::default()).unwrap();
        let mut c = TcpStream::connect(fwd.local_addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        assert!(!matches!(c.read(&mut b), Ok(1)));
        assert!(wait_until(|| fwd.active() == 0));
    }

    #[test]
    fn stalled_upstream_times_out() {
        // Upstream accepts and never answers nor closes.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let s = l.accept().unwrap().0;
            let _ = rx.recv();
            drop(s);
        });
        let limits = ForwardLimits { max_conns: 4, io_timeout: Duration::from_millis(200) };
        let fwd = Forwarder::spawn_loopback(tcp_connect(addr), limits).unwrap();
        let mut c = TcpStream::connect(fwd.local_addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        let t = Instant::now();
        assert!(!matches!(c.read(&mut b), Ok(1)));
        assert!(t.elapsed() < Duration::from_secs(4), "timeout not applied");
        assert!(wait_until(|| fwd.active() == 0));
        let _ = tx.send(());
    }

    #[test]
    fn cid_port() {
        assert_eq!(parse_cid_port("3:8000"), Some((3, 8000)));
        for bad in ["3", ":8000", "3:", "x:1", "3:8000:1", "-1:2"] {
            assert_eq!(parse_cid_port(bad), None, "{bad}");
        }
    }
}
