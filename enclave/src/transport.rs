//! The parent ↔ enclave transport: one pack job per connection.
//!
//! Production uses vsock (the only channel into a Nitro Enclave; feature
//! `vsock`); development and tests use TCP on loopback. Both carry the same
//! byte stream:
//!
//! ```text
//! frame    = magic "PPT1" (4) ‖ kind (1) ‖ length u32be (4) ‖ payload (length bytes)
//!
//! kind 0x01 PackJob (parent → enclave)
//!   payload = u32be len ‖ request bytes
//!             u16be n   ‖ n × (u32be len ‖ file bytes)   SOPS files, then sealed
//!             inputs and the org-key bundle when the request has sealedInputs
//! kind 0x02 PackOutput (enclave → parent)
//!   payload = u16be n   ‖ n × (u16be len ‖ name UTF-8 ‖ u32be len ‖ artifact bytes)
//!             u32be len ‖ receipt (DSSE JSON) bytes
//! kind 0x03 Error (enclave → parent)
//!   payload = u16be code ‖ message UTF-8 (≤ 4096 bytes)
//!             code 1 = malformed frame, 2 = the job failed, 3 = internal error
//! ```
//!
//! Limits: a frame payload is at most [`Limits::max_frame`] (default 64 MiB);
//! every inner length is checked against the bytes that remain before
//! anything is allocated. Timeouts: the socket read/write timeouts of
//! [`Limits::io_timeout`] bound each I/O call, so a stalled peer cannot hold
//! the (single-job) enclave forever.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::service::{Artifact, PackJob, PackOutput};

/// Frame magic.
pub const MAGIC: &[u8; 4] = b"PPT1";
/// Frame kind: a pack job.
pub const KIND_JOB: u8 = 0x01;
/// Frame kind: a pack result.
pub const KIND_OUTPUT: u8 = 0x02;
/// Frame kind: an error.
pub const KIND_ERROR: u8 = 0x03;
/// Longest error message carried.
pub const MAX_ERROR_MESSAGE: usize = 4096;

/// Size and time limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame payload accepted.
    pub max_frame: usize,
    /// Read/write timeout per socket operation.
    pub io_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_frame: 64 << 20, io_timeout: Duration::from_secs(120) }
    }
}

/// Error codes carried in an Error frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request frame was malformed.
    Malformed = 1,
    /// The job was refused or failed (e.g. KMS denied the decrypt).
    JobFailed = 2,
    /// Internal error in the enclave.
    Internal = 3,
}

impl ErrorCode {
    fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(Self::Malformed),
            2 => Some(Self::JobFailed),
            3 => Some(Self::Internal),
            _ => None,
        }
    }
}

/// Transport errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Socket I/O failed (including timeouts).
    #[error("transport I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The frame is malformed.
    #[error("malformed frame at offset {offset}: {what}")]
    Malformed {
        /// Offset within the frame payload (or header).
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// A frame is larger than allowed.
    #[error("frame payload of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The peer answered with an error frame.
    #[error("enclave reported {code:?}: {message}")]
    Remote {
        /// Code.
        code: ErrorCode,
        /// Message.
        message: String,
    },
    /// The endpoint string does not parse.
    #[error("bad endpoint {0:?}: expected tcp:HOST:PORT or vsock:CID:PORT")]
    BadEndpoint(String),
    /// vsock requested but not compiled in.
    #[error("vsock support is not compiled in (build proofpack-enclave with feature `vsock`)")]
    NoVsock,
}

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `tcp:HOST:PORT`.
    Tcp(String),
    /// `vsock:CID:PORT`.
    Vsock {
        /// Context id (3+ for enclaves, 3 is also the parent's usual CID from inside).
        cid: u32,
        /// Port.
        port: u32,
    },
}

impl std::str::FromStr for Endpoint {
    type Err = TransportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || TransportError::BadEndpoint(s.to_string());
        if let Some(rest) = s.strip_prefix("tcp:") {
            let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad());
            }
            Ok(Endpoint::Tcp(rest.to_string()))
        } else if let Some(rest) = s.strip_prefix("vsock:") {
            let (cid, port) = rest.split_once(':').ok_or_else(bad)?;
            Ok(Endpoint::Vsock {
                cid: cid.parse().map_err(|_| bad())?,
                port: port.parse().map_err(|_| bad())?,
            })
        } else {
            Err(bad())
        }
    }
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> Result<(), TransportError> {
    let len = u32::try_from(payload.len())
        .map_err(|_| TransportError::TooLarge { len: payload.len(), max: u32::MAX as usize })?;
    let mut head = [0u8; 9];
    head[..4].copy_from_slice(MAGIC);
    head[4] = kind;
    head[5..].copy_from_slice(&len.to_be_bytes());
    w.write_all(&head)?;
    w.write_all(payload)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame (kind, payload), bounded by `max`.
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<(u8, Vec<u8>), TransportError> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head)?;
    if &head[..4] != MAGIC {
        return Err(TransportError::Malformed { offset: 0, what: "magic is not PPT1" });
    }
    let len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
    if len > max {
        return Err(TransportError::TooLarge { len, max });
    }
    let mut payload = Vec::new();
    r.take(len as u64).read_to_end(&mut payload)?;
    if payload.len() != len {
        return Err(TransportError::Malformed {
            offset: 9 + payload.len(),
            what: "connection closed mid-frame",
        });
    }
    Ok((head[4], payload))
}

/// A bounds-checked cursor over a payload.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TransportError> {
        if self.buf.len() - self.pos < n {
            return Err(TransportError::Malformed { offset: self.pos, what });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u16(&mut self, what: &'static str) -> Result<usize, TransportError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }
    fn u32(&mut self, what: &'static str) -> Result<usize, TransportError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn bytes32(&mut self, what: &'static str) -> Result<&'a [u8], TransportError> {
        let n = self.u32(what)?;
        self.take(n, what)
    }
    fn end(&self) -> Result<(), TransportError> {
        if self.pos != self.buf.len() {
            return Err(TransportError::Malformed { offset: self.pos, what: "trailing bytes" });
        }
        Ok(())
    }
}

fn put32(out: &mut Vec<u8>, b: &[u8]) -> Result<(), TransportError> {
    let n = u32::try_from(b.len())
        .map_err(|_| TransportError::TooLarge { len: b.len(), max: u32::MAX as usize })?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

fn put16(out: &mut Vec<u8>, n: usize, what: &'static str) -> Result<(), TransportError> {
    let n = u16::try_from(n).map_err(|_| TransportError::Malformed { offset: out.len(), what })?;
    out.extend_from_slice(&n.to_be_bytes());
    Ok(())
}

/// Encodes a job payload.
pub fn encode_job(job: &PackJob) -> Result<Vec<u8>, TransportError> {
    let mut out = Vec::new();
    put32(&mut out, &job.request)?;
    put16(&mut out, job.inputs.len(), "more than 65535 inputs")?;
    for i in &job.inputs {
        put32(&mut out, i)?;
    }
    Ok(out)
}

/// Decodes a job payload.
pub fn decode_job(payload: &[u8]) -> Result<PackJob, TransportError> {
    let mut c = Cursor { buf: payload, pos: 0 };
    let request = c.bytes32("request")?.to_vec();
    let n = c.u16("input count")?;
    let mut inputs = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        inputs.push(c.bytes32("input")?.to_vec());
    }
    c.end()?;
    Ok(PackJob { request, inputs })
}

/// Encodes an output payload.
pub fn encode_output(out: &PackOutput) -> Result<Vec<u8>, TransportError> {
    let mut b = Vec::new();
    put16(&mut b, out.artifacts.len(), "more than 65535 artifacts")?;
    for a in &out.artifacts {
        put16(&mut b, a.name.len(), "artifact name longer than 65535 bytes")?;
        b.extend_from_slice(a.name.as_bytes());
        put32(&mut b, &a.bytes)?;
    }
    put32(&mut b, &out.receipt)?;
    Ok(b)
}

/// Decodes an output payload.
pub fn decode_output(payload: &[u8]) -> Result<PackOutput, TransportError> {
    let mut c = Cursor { buf: payload, pos: 0 };
    let n = c.u16("artifact count")?;
    let mut artifacts = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let l = c.u16("artifact name length")?;
        let name = std::str::from_utf8(c.take(l, "artifact name")?)
            .map_err(|_| TransportError::Malformed {
                offset: c.pos,
                what: "artifact name is not UTF-8",
            })?
            .to_string();
        let bytes = c.bytes32("artifact")?.to_vec();
        artifacts.push(Artifact { name, bytes });
    }
    let receipt = c.bytes32("receipt")?.to_vec();
    c.end()?;
    Ok(PackOutput { artifacts, receipt })
}

/// Encodes an error payload (message truncated to [`MAX_ERROR_MESSAGE`] at a char boundary).
pub fn encode_error(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut end = message.len().min(MAX_ERROR_MESSAGE);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut b = (code as u16).to_be_bytes().to_vec();
    b.extend_from_slice(&message.as_bytes()[..end]);
    b
}

/// Decodes an error payload.
pub fn decode_error(payload: &[u8]) -> Result<(ErrorCode, String), TransportError> {
    let mut c = Cursor { buf: payload, pos: 0 };
    let code = ErrorCode::from_u16(c.u16("error code")? as u16)
        .ok_or(TransportError::Malformed { offset: 0, what: "unknown error code" })?;
    let rest = &payload[2..];
    if rest.len() > MAX_ERROR_MESSAGE {
        return Err(TransportError::Malformed { offset: 2, what: "error message too long" });
    }
    Ok((code, String::from_utf8_lossy(rest).into_owned()))
}

/// A connected stream (TCP, or vsock with the feature).
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// Connects to `ep` with the I/O timeouts of `limits`.
pub fn connect(ep: &Endpoint, limits: &Limits) -> Result<Box<dyn Stream>, TransportError> {
    match ep {
        Endpoint::Tcp(addr) => {
            let s = TcpStream::connect(addr)?;
            s.set_read_timeout(Some(limits.io_timeout))?;
            s.set_write_timeout(Some(limits.io_timeout))?;
            Ok(Box::new(s))
        }
        #[cfg(feature = "vsock")]
        Endpoint::Vsock { cid, port } => {
            let s = vsock::VsockStream::connect_with_cid_port(*cid, *port)?;
            s.set_read_timeout(Some(limits.io_timeout))?;
            s.set_write_timeout(Some(limits.io_timeout))?;
            Ok(Box::new(s))
        }
        #[cfg(not(feature = "vsock"))]
        Endpoint::Vsock { .. } => Err(TransportError::NoVsock),
    }
}

/// Parent side: sends a job and waits for the output.
pub fn call(ep: &Endpoint, job: &PackJob, limits: &Limits) -> Result<PackOutput, TransportError> {
    let mut s = connect(ep, limits)?;
    write_frame(&mut s, KIND_JOB, &encode_job(job)?)?;
    let (kind, payload) = read_frame(&mut s, limits.max_frame)?;
    match kind {
        KIND_OUTPUT => decode_output(&payload),
        KIND_ERROR => {
            let (code, message) = decode_error(&payload)?;
            Err(TransportError::Remote { code, message })
        }
        _ => Err(TransportError::Malformed { offset: 4, what: "unexpected frame kind" }),
    }
}

/// Serves one connection: reads a job, runs `handler`, writes the answer.
pub fn serve_one<S: Read + Write>(
    s: &mut S,
    limits: &Limits,
    handler: &mut dyn FnMut(PackJob) -> Result<PackOutput, (ErrorCode, String)>,
) -> Result<(), TransportError> {
    let job = match read_frame(s, limits.max_frame).and_then(|(kind, p)| {
        if kind == KIND_JOB {
            decode_job(&p)
        } else {
            Err(TransportError::Malformed { offset: 4, what: "expected a PackJob frame" })
        }
    }) {
        Ok(j) => j,
        Err(TransportError::Io(e)) => return Err(TransportError::Io(e)),
        Err(e) => {
            write_frame(s, KIND_ERROR, &encode_error(ErrorCode::Malformed, &e.to_string()))?;
            return Err(e);
        }
    };
    match handler(job) {
        Ok(out) => write_frame(s, KIND_OUTPUT, &encode_output(&out)?),
        Err((code, msg)) => write_frame(s, KIND_ERROR, &encode_error(code, &msg)),
    }
}

/// A listener for [`Endpoint`]s.
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// vsock.
    #[cfg(feature = "vsock")]
    Vsock(vsock::VsockListener),
}

impl Listener {
    /// Binds.
    pub fn bind(ep: &Endpoint) -> Result<Self, TransportError> {
        match ep {
            Endpoint::Tcp(addr) => Ok(Listener::Tcp(TcpListener::bind(addr)?)),
            #[cfg(feature = "vsock")]
            Endpoint::Vsock { cid, port } => {
                Ok(Listener::Vsock(vsock::VsockListener::bind_with_cid_port(*cid, *port)?))
            }
            #[cfg(not(feature = "vsock"))]
            Endpoint::Vsock { .. } => Err(TransportError::NoVsock),
        }
    }

    /// The bound address, for logs (and tests binding port 0).
    pub fn local_addr(&self) -> String {
        match self {
            Listener::Tcp(l) => {
                l.local_addr().map(|a| format!("tcp:{a}")).unwrap_or_else(|_| "tcp:?".into())
            }
            #[cfg(feature = "vsock")]
            Listener::Vsock(l) => {
                l.local_addr().map(|a| format!("vsock:{a:?}")).unwrap_or_else(|_| "vsock:?".into())
            }
        }
    }

    /// Accepts one connection with timeouts set.
    pub fn accept(&self, limits: &Limits) -> Result<Box<dyn Stream>, TransportError> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_read_timeout(Some(limits.io_timeout))?;
                s.set_write_timeout(Some(limits.io_timeout))?;
                Ok(Box::new(s))
            }
            #[cfg(feature = "vsock")]
            Listener::Vsock(l) => {
                let (s, _) = l.accept()?;
                s.set_read_timeout(Some(limits.io_timeout))?;
                s.set_write_timeout(Some(limits.io_timeout))?;
                Ok(Box::new(s))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn job() -> PackJob {
        PackJob { request: b"{\"a\":1}".to_vec(), inputs: vec![b"x: 1".to_vec(), Vec::new()] }
    }

    #[test]
    fn round_trips() {
        let j = job();
        assert_eq!(decode_job(&encode_job(&j).unwrap()).unwrap(), j);
        let o = PackOutput {
            artifacts: vec![Artifact { name: "api.env.ppk".into(), bytes: vec![1, 2, 3] }],
            receipt: b"{}".to_vec(),
        };
        assert_eq!(decode_output(&encode_output(&o).unwrap()).unwrap(), o);
        let (c, m) = decode_error(&encode_error(ErrorCode::JobFailed, "denied")).unwrap();
        assert_eq!((c, m.as_str()), (ErrorCode::JobFailed, "denied"));
        assert_eq!(
            decode_error(&encode_error(ErrorCode::Internal, &"é".repeat(5000))).unwrap().1.len(),
            4096
        );
    }

    #[test]
    fn truncation_and_trailing_bytes_are_errors() {
        let p = encode_job(&job()).unwrap();
        for cut in 0..p.len() {
            assert!(decode_job(&p[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = p.clone();
        extra.push(0);
        assert!(matches!(
            decode_job(&extra),
            Err(TransportError::Malformed { what: "trailing bytes", .. })
        ));
        // A huge announced inner length does not allocate: it fails on bounds.
        assert!(decode_job(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn frames_bounded() {
        let mut buf = Vec::new();
        write_frame(&mut buf, KIND_JOB, &[0u8; 100]).unwrap();
        assert_eq!(read_frame(&mut buf.as_slice(), 100).unwrap().1.len(), 100);
        assert!(matches!(
            read_frame(&mut buf.as_slice(), 99),
            Err(TransportError::TooLarge { len: 100, max: 99 })
        ));
        assert!(read_frame(&mut &buf[..50], 100).is_err());
        let mut bad = buf.clone();
        bad[0] = b'X';
        assert!(matches!(
            read_frame(&mut bad.as_slice(), 100),
            Err(TransportError::Malformed { offset: 0, .. })
        ));
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            "tcp:127.0.0.1:5000".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp("127.0.0.1:5000".into())
        );
        assert_eq!(
            "vsock:16:5000".parse::<Endpoint>().unwrap(),
            Endpoint::Vsock { cid: 16, port: 5000 }
        );
        for bad in ["tcp:127.0.0.1", "udp:1:2", "vsock:x:1", "tcp::5"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tcp_serve_and_call() {
        let l = Listener::bind(&"tcp:127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr();
        let limits = Limits::default();
        let t = std::thread::spawn(move || {
            for _ in 0..2 {
                let mut s = l.accept(&limits).unwrap();
                let _ = serve_one(&mut s, &limits, &mut |j: PackJob| {
                    if j.inputs.is_empty() {
                        Err((ErrorCode::JobFailed, "no inputs".into()))
                    } else {
                        Ok(PackOutput { artifacts: vec![], receipt: j.request })
                    }
                });
            }
        });
        let ep: Endpoint = addr.parse().unwrap();
        assert_eq!(call(&ep, &job(), &limits).unwrap().receipt, job().request);
        let err = call(&ep, &PackJob { request: vec![], inputs: vec![] }, &limits).unwrap_err();
        assert!(matches!(err, TransportError::Remote { code: ErrorCode::JobFailed, .. }), "{err}");
        t.join().unwrap();
    }
}
