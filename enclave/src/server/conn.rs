//! One accepted connection with per-connection deadlines.
//!
//! A socket timeout bounds each `read`/`write` call, not the connection: a
//! peer that sends one byte every `io_timeout` would hold a worker forever.
//! [`Conn`] adds two deadlines: the whole request must arrive within
//! `read_deadline` of a worker taking the connection, and the whole answer must be written
//! within `write_deadline` of its first byte. Before each call the socket
//! timeout is set to what remains (capped by `io_timeout`), so a stalled
//! peer holds its worker for at most `read_deadline + write_deadline` plus
//! the job's own time, and no other connection waits on it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::transport::{Listener, TransportError};

/// The accepted socket.
enum Socket {
    Tcp(TcpStream),
    #[cfg(feature = "vsock")]
    Vsock(vsock::VsockStream),
}

impl Socket {
    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(Some(t)),
            #[cfg(feature = "vsock")]
            Socket::Vsock(s) => s.set_read_timeout(Some(t)),
        }
    }
    fn set_write_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_write_timeout(Some(t)),
            #[cfg(feature = "vsock")]
            Socket::Vsock(s) => s.set_write_timeout(Some(t)),
        }
    }
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_nonblocking(on),
            #[cfg(feature = "vsock")]
            Socket::Vsock(s) => s.set_nonblocking(on),
        }
    }
    fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Write),
            #[cfg(feature = "vsock")]
            Socket::Vsock(s) => s.shutdown(Shutdown::Write),
        }
    }
}

/// Per-connection time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Longest single socket call (the old `--io-timeout`).
    pub io_timeout: Duration,
    /// The whole request frame must arrive within this time of a worker taking it.
    pub read: Duration,
    /// The whole answer must be written within this time of its first byte.
    pub write: Duration,
}

/// An accepted connection whose reads and writes obey [`Deadlines`].
pub struct Conn {
    socket: Socket,
    limits: Deadlines,
    read_by: Instant,
    write_by: Option<Instant>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("limits", &self.limits).finish_non_exhaustive()
    }
}

fn remaining(by: Instant, cap: Duration, what: &str) -> io::Result<Duration> {
    let left = by.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connection {what} deadline passed"),
        ));
    }
    Ok(left.min(cap))
}

impl Conn {
    /// Accepts one connection (blocking until one arrives) and starts its
    /// read deadline.
    pub fn accept(listener: &Listener, limits: Deadlines) -> Result<Self, TransportError> {
        let socket = match listener {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                // Accepted sockets do not inherit O_NONBLOCK on Linux; be explicit.
                s.set_nonblocking(false)?;
                Socket::Tcp(s)
            }
            #[cfg(feature = "vsock")]
            Listener::Vsock(l) => {
                let (s, _) = l.accept()?;
                s.set_nonblocking(false)?;
                Socket::Vsock(s)
            }
        };
        socket.set_read_timeout(limits.io_timeout)?;
        socket.set_write_timeout(limits.io_timeout)?;
        Ok(Self { socket, limits, read_by: Instant::now() + limits.read, write_by: None })
    }

    /// Replaces the deadlines, counting the read deadline from now (a
    /// worker starts it when it takes the connection from the queue; the
    /// busy responder gives a refused connection a short linger).
    pub fn set_deadlines(&mut self, limits: Deadlines) {
        self.limits = limits;
        self.read_by = Instant::now() + limits.read;
        self.write_by = None;
    }

    /// Non-blocking reads: the busy responder drains many refused
    /// connections at once (reads then fail with `WouldBlock` when idle).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.socket.set_nonblocking(on)
    }

    /// Closes the sending half: the peer reads the answer, then EOF.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.socket.shutdown_write()
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = remaining(self.read_by, self.limits.io_timeout, "read")?;
        self.socket.set_read_timeout(t)?;
        match &mut self.socket {
            Socket::Tcp(s) => s.read(buf),
            #[cfg(feature = "vsock")]
            Socket::Vsock(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let by = *self.write_by.get_or_insert_with(|| Instant::now() + self.limits.write);
        let t = remaining(by, self.limits.io_timeout, "write")?;
        self.socket.set_write_timeout(t)?;
        match &mut self.socket {
            Socket::Tcp(s) => s.write(buf),
            #[cfg(feature = "vsock")]
            Socket::Vsock(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.socket {
            Socket::Tcp(s) => s.flush(),
            #[cfg(feature = "vsock")]
            Socket::Vsock(s) => s.flush(),
        }
    }
}
