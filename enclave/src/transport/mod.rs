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
//!             [ 0x01 ‖ u16be len ‖ access key id          optional: AWS credentials
//!                    ‖ u16be len ‖ secret access key      for this job's KMS calls
//!                    ‖ u16be len ‖ session token (0 = none) ]
//! kind 0x02 PackOutput (enclave → parent)
//!   payload = u16be n   ‖ n × (u16be len ‖ name UTF-8 ‖ u32be len ‖ artifact bytes)
//!             u32be len ‖ receipt (DSSE JSON) bytes
//! kind 0x03 Error (enclave → parent)
//!   payload = u16be code ‖ message UTF-8 (≤ 4096 bytes)
//!             code 1 = malformed frame, 2 = the job failed, 3 = internal error,
//!             4 = busy: every worker and queue slot is taken, or the service
//!             is shutting down; the job was not started, retry later
//! ```
//!
//! Code 4 (issue 17) is an extension: a parent that predates it reads the
//! answer as a malformed frame and fails the job; it never hangs. The
//! retrying parent side is [`retry`].
//!
//! The credentials member is optional and last, so a job without it is byte
//! for byte the original format. It is deliberately *not* part of the request
//! bytes: the request is hashed into the receipt and written to disk by the
//! parent; credentials are neither. An enclave that predates the member
//! rejects such a job as malformed ("trailing bytes"), i.e. it fails closed.
//!
//! Limits: a frame payload is at most [`Limits::max_frame`] (default 64 MiB);
//! every inner length is checked against the bytes that remain before
//! anything is allocated. Timeouts: the socket read/write timeouts of
//! [`Limits::io_timeout`] bound each I/O call, so a stalled peer cannot hold
//! the (single-job) enclave forever.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use zeroize::{Zeroize, Zeroizing};

mod decode;
pub mod retry;

pub use decode::{decode_error, decode_job, decode_job_with_credentials, decode_output};

use crate::backend::kms_http::sigv4::Credentials;
use crate::secret::SecretBytes;
use crate::service::{PackJob, PackOutput};

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

/// Tag of the optional credentials member of a job payload.
pub const JOB_CREDENTIALS_TAG: u8 = 0x01;
/// Longest access key id accepted (AWS: 16-128 characters).
pub const MAX_ACCESS_KEY_ID: usize = 128;
/// Longest secret access key accepted (AWS: 40 characters today).
pub const MAX_SECRET_ACCESS_KEY: usize = 128;
/// Longest session token accepted (STS tokens are ~1-2 KB; AWS documents no
/// fixed maximum and advises not to assume one, so leave ample room).
pub const MAX_SESSION_TOKEN: usize = 8192;

/// Temporary AWS credentials the parent sends with one job
/// (`proofpack pack --send-credentials`): inside an enclave there is no
/// instance metadata service and no environment from the parent, so this is
/// how the enclave signs that job's KMS calls. Secret parts are zeroized on
/// drop and redacted in `Debug`.
pub struct JobCredentials {
    /// Access key id (not secret; names the key).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: SecretBytes,
    /// Session token (temporary credentials).
    pub session_token: Option<SecretBytes>,
}

impl std::fmt::Debug for JobCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("session_token", &self.session_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Errors building [`JobCredentials`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsError {
    /// An environment variable is not set (or empty).
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A part is empty, too long, or not printable ASCII without spaces (it
    /// goes into HTTP headers and the SigV4 string to sign).
    #[error("{0} is empty, too long, or not printable ASCII")]
    Invalid(&'static str),
}

fn check_part(what: &'static str, b: &[u8], max: usize) -> Result<(), CredentialsError> {
    if b.is_empty() || b.len() > max || !b.iter().all(|c| c.is_ascii_graphic()) {
        return Err(CredentialsError::Invalid(what));
    }
    Ok(())
}

impl JobCredentials {
    /// Checks the bounds and character set of every part.
    pub fn validate(&self) -> Result<(), CredentialsError> {
        check_part("access key id", self.access_key_id.as_bytes(), MAX_ACCESS_KEY_ID)?;
        check_part("secret access key", self.secret_access_key.expose(), MAX_SECRET_ACCESS_KEY)?;
        if let Some(t) = &self.session_token {
            check_part("session token", t.expose(), MAX_SESSION_TOKEN)?;
        }
        Ok(())
    }

    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`, all required: the parent should hand the enclave
    /// short-lived credentials (e.g. the instance role's), never long-term keys.
    pub fn from_env() -> Result<Self, CredentialsError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| SecretBytes::new(v.into_bytes()))
                .ok_or(CredentialsError::Missing(name))
        };
        let id = var("AWS_ACCESS_KEY_ID")?;
        let access_key_id = String::from_utf8(id.expose().to_vec())
            .map_err(|_| CredentialsError::Invalid("access key id"))?;
        let c = Self {
            access_key_id,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
            session_token: Some(var("AWS_SESSION_TOKEN")?),
        };
        c.validate()?;
        Ok(c)
    }

    /// The signing credentials for the KMS client. Validated parts are ASCII,
    /// so the session token converts losslessly.
    pub fn into_signing(self) -> Credentials {
        let session_token =
            self.session_token.map(|t| String::from_utf8_lossy(t.expose()).into_owned());
        Credentials {
            access_key_id: self.access_key_id,
            secret_access_key: self.secret_access_key,
            session_token,
        }
    }
}

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
    /// The service had no free worker or queue slot, or is shutting down:
    /// the job was not started and may be sent again (issue 17).
    Busy = 4,
}

impl ErrorCode {
    fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(Self::Malformed),
            2 => Some(Self::JobFailed),
            3 => Some(Self::Internal),
            4 => Some(Self::Busy),
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
    #[error("bad endpoint {0:?}: expected tcp:HOST:PORT, vsock:CID:PORT or vsock-uds:PATH:PORT")]
    BadEndpoint(String),
    /// The hybrid-vsock backend did not accept `CONNECT <port>` (nothing
    /// listens on that guest port yet, or the socket is not such a backend).
    #[error("hybrid vsock handshake for port {port}: {what}")]
    HybridHandshake {
        /// Guest port.
        port: u32,
        /// What came back instead of `OK <n>`.
        what: String,
    },
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
    /// `vsock-uds:PATH:PORT`: Firecracker's hybrid vsock, as served by
    /// `vhost-device-vsock --vm guest-cid=…,uds-path=PATH` for QEMU's
    /// `nitro-enclave` machine: connect to the Unix socket PATH, send
    /// `CONNECT <PORT>\n`, read `OK <n>\n`, then the stream is the guest's
    /// port PORT (see [`hybrid_connect_reply`]).
    VsockUds {
        /// The backend's Unix socket.
        path: std::path::PathBuf,
        /// Guest port.
        port: u32,
    },
}

/// Longest line a hybrid-vsock backend answers `CONNECT` with.
pub const MAX_HYBRID_REPLY: usize = 64;

/// Checks a hybrid-vsock backend's answer to `CONNECT <port>\n` (without the
/// newline): `OK <n>` where `n` is the host-side port number the backend
/// assigned. Anything else is refused with what was received.
pub fn hybrid_connect_reply(line: &[u8], port: u32) -> Result<u32, TransportError> {
    let bad = || TransportError::HybridHandshake {
        port,
        what: format!("expected \"OK <n>\", got {:?}", String::from_utf8_lossy(line)),
    };
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let n = text.strip_prefix("OK ").ok_or_else(bad)?;
    if n.is_empty() || n.len() > 10 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    n.parse().map_err(|_| bad())
}

fn hybrid_connect(
    path: &std::path::Path,
    port: u32,
    limits: &Limits,
) -> Result<std::os::unix::net::UnixStream, TransportError> {
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(limits.io_timeout))?;
    s.set_write_timeout(Some(limits.io_timeout))?;
    s.write_all(format!("CONNECT {port}\n").as_bytes())?;
    // Byte by byte: the stream's data starts right after the newline.
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if s.read(&mut b)? == 0 {
            return Err(TransportError::HybridHandshake {
                port,
                what: format!(
                    "the backend closed the connection after {:?} (is the enclave listening on that port?)",
                    String::from_utf8_lossy(&line)
                ),
            });
        }
        if b[0] == b'\n' {
            break;
        }
        if line.len() >= MAX_HYBRID_REPLY {
            return Err(TransportError::HybridHandshake {
                port,
                what: format!("reply longer than {MAX_HYBRID_REPLY} bytes"),
            });
        }
        line.push(b[0]);
    }
    hybrid_connect_reply(&line, port)?;
    Ok(s)
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
        } else if let Some(rest) = s.strip_prefix("vsock-uds:") {
            let (path, port) = rest.rsplit_once(':').ok_or_else(bad)?;
            if path.is_empty() {
                return Err(bad());
            }
            Ok(Endpoint::VsockUds { path: path.into(), port: port.parse().map_err(|_| bad())? })
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
#[deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<(u8, Vec<u8>), TransportError> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head)?;
    let (kind, len) = decode::frame_head(&head)?;
    if len > max {
        return Err(TransportError::TooLarge { len, max });
    }
    let mut payload = Vec::new();
    r.take(len as u64).read_to_end(&mut payload)?;
    if payload.len() != len {
        return Err(TransportError::Malformed {
            offset: payload.len().saturating_add(head.len()),
            what: "connection closed mid-frame",
        });
    }
    Ok((kind, payload))
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

/// Encodes a job payload without credentials (the original format).
pub fn encode_job(job: &PackJob) -> Result<Vec<u8>, TransportError> {
    let mut out = Vec::new();
    put32(&mut out, &job.request)?;
    put16(&mut out, job.inputs.len(), "more than 65535 inputs")?;
    for i in &job.inputs {
        put32(&mut out, i)?;
    }
    Ok(out)
}

/// Encodes a job payload with optional credentials. The result holds the
/// secret, so it is zeroized on drop.
pub fn encode_job_with_credentials(
    job: &PackJob,
    credentials: Option<&JobCredentials>,
) -> Result<Zeroizing<Vec<u8>>, TransportError> {
    let mut out = Zeroizing::new(encode_job(job)?);
    if let Some(c) = credentials {
        c.validate().map_err(|_| TransportError::Malformed {
            offset: out.len(),
            what: "credentials out of bounds or not printable ASCII",
        })?;
        // Reserve up front so the buffer holding the secret never reallocates
        // (a reallocation would leave an unzeroized copy behind).
        let token = c.session_token.as_ref().map_or(&[][..], |t| t.expose());
        let extra = 1 + 6 + c.access_key_id.len() + c.secret_access_key.len() + token.len();
        let mut tail = Zeroizing::new(Vec::with_capacity(extra));
        tail.push(JOB_CREDENTIALS_TAG);
        for part in [c.access_key_id.as_bytes(), c.secret_access_key.expose(), token] {
            put16(&mut tail, part.len(), "credential part too long")?;
            tail.extend_from_slice(part);
        }
        let mut joined = Zeroizing::new(Vec::with_capacity(out.len() + tail.len()));
        joined.extend_from_slice(&out);
        joined.extend_from_slice(&tail);
        out = joined;
    }
    Ok(out)
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
        Endpoint::VsockUds { path, port } => Ok(Box::new(hybrid_connect(path, *port, limits)?)),
    }
}

/// Parent side: sends a job and waits for the output.
pub fn call(ep: &Endpoint, job: &PackJob, limits: &Limits) -> Result<PackOutput, TransportError> {
    call_with_credentials(ep, job, None, limits)
}

/// Parent side: sends a job with optional credentials for its KMS calls.
pub fn call_with_credentials(
    ep: &Endpoint,
    job: &PackJob,
    credentials: Option<&JobCredentials>,
    limits: &Limits,
) -> Result<PackOutput, TransportError> {
    let mut s = connect(ep, limits)?;
    write_frame(&mut s, KIND_JOB, &encode_job_with_credentials(job, credentials)?)?;
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

/// A job handler: the job and the credentials it carried, if any.
pub type JobHandler<'a> =
    dyn FnMut(PackJob, Option<JobCredentials>) -> Result<PackOutput, (ErrorCode, String)> + 'a;

/// Serves one connection: reads a job, runs `handler`, writes the answer.
/// The received payload is zeroized once decoded (it may hold credentials).
pub fn serve_one<S: Read + Write>(
    s: &mut S,
    limits: &Limits,
    handler: &mut JobHandler<'_>,
) -> Result<(), TransportError> {
    let (job, credentials) = match read_frame(s, limits.max_frame).and_then(|(kind, mut p)| {
        let r = if kind == KIND_JOB {
            decode_job_with_credentials(&p)
        } else {
            Err(TransportError::Malformed { offset: 4, what: "expected a PackJob frame" })
        };
        p.zeroize();
        r
    }) {
        Ok(j) => j,
        Err(TransportError::Io(e)) => return Err(TransportError::Io(e)),
        Err(e) => {
            write_frame(s, KIND_ERROR, &encode_error(ErrorCode::Malformed, &e.to_string()))?;
            return Err(e);
        }
    };
    match handler(job, credentials) {
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
            // The guest side of hybrid vsock is plain vsock: only the parent
            // connects through the backend's Unix socket.
            Endpoint::VsockUds { .. } => Err(TransportError::BadEndpoint(format!(
                "{ep:?}: vsock-uds is a parent-side endpoint; the enclave listens on vsock:CID:PORT"
            ))),
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
    use crate::service::Artifact;

    #[test]
    fn every_prefix_of_an_output_or_frame_is_malformed() {
        let o = PackOutput {
            artifacts: vec![Artifact { name: "a.ppk".into(), bytes: vec![1, 2, 3] }],
            receipt: b"{}".to_vec(),
        };
        let p = encode_output(&o).unwrap();
        for cut in 0..p.len() {
            assert!(
                matches!(decode_output(&p[..cut]), Err(TransportError::Malformed { .. })),
                "cut at {cut}"
            );
        }
        let mut frame = Vec::new();
        write_frame(&mut frame, KIND_OUTPUT, &p).unwrap();
        assert_eq!(read_frame(&mut &frame[..], 1 << 20).unwrap(), (KIND_OUTPUT, p));
        for cut in 0..frame.len() {
            assert!(read_frame(&mut &frame[..cut], 1 << 20).is_err(), "cut at {cut}");
        }
        assert!(matches!(decode_error(&[0]), Err(TransportError::Malformed { offset: 0, .. })));
    }

    #[test]
    fn vsock_uds_endpoint_parses() {
        assert_eq!(
            "vsock-uds:/run/x/vm.sock:5000".parse::<Endpoint>().unwrap(),
            Endpoint::VsockUds { path: "/run/x/vm.sock".into(), port: 5000 }
        );
        for bad in ["vsock-uds:", "vsock-uds::5000", "vsock-uds:/p", "vsock-uds:/p:x"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
        assert!(Listener::bind(&"vsock-uds:/p:1".parse().unwrap()).is_err());
    }

    #[test]
    fn hybrid_reply_parsing() {
        assert_eq!(hybrid_connect_reply(b"OK 1073741824", 5000).unwrap(), 1_073_741_824);
        for bad in [&b""[..], b"OK ", b"OK x", b"ok 1", b"OK 1 2", b"OK 99999999999", b"\xff"] {
            let e = hybrid_connect_reply(bad, 5000).unwrap_err();
            assert!(matches!(e, TransportError::HybridHandshake { port: 5000, .. }), "{e}");
        }
    }

    /// A stand-in hybrid-vsock backend (the protocol vhost-device-vsock
    /// speaks): the job travels after the `CONNECT`/`OK` exchange.
    #[test]
    fn call_over_a_hybrid_vsock_backend() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("vm.sock");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let backend = std::thread::spawn(move || {
            // First: a backend that refuses (no listener on the port).
            let (mut s, _) = l.accept().unwrap();
            let mut line = [0u8; 13];
            s.read_exact(&mut line).unwrap();
            assert_eq!(&line, b"CONNECT 5000\n");
            drop(s);
            // Then: one that accepts and answers the job with an error frame.
            let (mut s, _) = l.accept().unwrap();
            s.read_exact(&mut line).unwrap();
            s.write_all(b"OK 1073741824\n").unwrap();
            let (kind, payload) = read_frame(&mut s, 1 << 20).unwrap();
            assert_eq!(kind, KIND_JOB);
            assert_eq!(decode_job_with_credentials(&payload).unwrap().0, job());
            write_frame(&mut s, KIND_ERROR, &encode_error(ErrorCode::JobFailed, "stand-in"))
                .unwrap();
        });
        let ep: Endpoint = format!("vsock-uds:{}:5000", sock.display()).parse().unwrap();
        let e = call(&ep, &job(), &Limits::default()).unwrap_err();
        assert!(matches!(e, TransportError::HybridHandshake { port: 5000, .. }), "{e}");
        match call(&ep, &job(), &Limits::default()).unwrap_err() {
            TransportError::Remote { message, .. } => assert_eq!(message, "stand-in"),
            e => panic!("{e}"),
        }
        backend.join().unwrap();
    }

    fn job() -> PackJob {
        PackJob { request: b"{\"a\":1}".to_vec(), inputs: vec![b"x: 1".to_vec(), Vec::new()] }
    }

    fn creds(token: Option<&str>) -> JobCredentials {
        JobCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: SecretBytes::from_slice(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: token.map(|t| SecretBytes::from_slice(t.as_bytes())),
        }
    }

    #[test]
    fn credentials_round_trip_and_compat() {
        let j = job();
        // Without credentials: byte-identical to the original encoding.
        let plain = encode_job(&j).unwrap();
        assert_eq!(*encode_job_with_credentials(&j, None).unwrap(), plain);
        let (dj, dc) = decode_job_with_credentials(&plain).unwrap();
        assert_eq!(dj, j);
        assert!(dc.is_none());
        for token in [Some("FQoGZXIvYXdzEXAMPLE+/="), None] {
            let p = encode_job_with_credentials(&j, Some(&creds(token))).unwrap();
            assert!(p.starts_with(&plain));
            let (dj, dc) = decode_job_with_credentials(&p).unwrap();
            assert_eq!(dj, j);
            let dc = dc.unwrap();
            assert_eq!(dc.access_key_id, "ASIAEXAMPLE");
            assert_eq!(dc.secret_access_key.expose(), creds(None).secret_access_key.expose());
            assert_eq!(dc.session_token.as_ref().map(|t| t.expose()), token.map(str::as_bytes));
            // The plain decoder accepts it and drops the credentials.
            assert_eq!(decode_job(&p).unwrap(), j);
            let shown = format!("{dc:?}");
            assert!(!shown.contains("wJalr") && !shown.contains("FQoG"), "{shown}");
            let signing = dc.into_signing();
            assert_eq!(signing.session_token.as_deref(), token);
        }
    }

    #[test]
    fn credentials_member_errors() {
        let j = job();
        let p = encode_job_with_credentials(&j, Some(&creds(Some("tok")))).unwrap();
        let base = encode_job(&j).unwrap().len();
        for cut in base + 1..p.len() {
            assert!(decode_job_with_credentials(&p[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = p.to_vec();
        extra.push(0);
        assert!(decode_job_with_credentials(&extra).is_err());
        let mut tag = p.to_vec();
        tag[base] = 0x02;
        assert!(matches!(
            decode_job_with_credentials(&tag),
            Err(TransportError::Malformed { what: "trailing bytes", .. })
        ));
        // Oversized parts: rejected by length before anything is read.
        let mut big = encode_job(&j).unwrap();
        big.push(JOB_CREDENTIALS_TAG);
        big.extend_from_slice(&(MAX_ACCESS_KEY_ID as u16 + 1).to_be_bytes());
        big.extend_from_slice(&[b'A'; MAX_ACCESS_KEY_ID + 1]);
        assert!(matches!(
            decode_job_with_credentials(&big),
            Err(TransportError::Malformed { what: "credential part too long", .. })
        ));
        let mut tok = encode_job(&j).unwrap();
        tok.push(JOB_CREDENTIALS_TAG);
        for part in [&b"AKID"[..], b"secret", &vec![b't'; MAX_SESSION_TOKEN + 1]] {
            tok.extend_from_slice(&(part.len() as u16).to_be_bytes());
            tok.extend_from_slice(part);
        }
        assert!(decode_job_with_credentials(&tok).is_err());
        // Empty id / secret, or a control character, are refused both ways.
        let mut empty = encode_job(&j).unwrap();
        empty.push(JOB_CREDENTIALS_TAG);
        for part in [&b""[..], b"secret", b""] {
            empty.extend_from_slice(&(part.len() as u16).to_be_bytes());
            empty.extend_from_slice(part);
        }
        assert!(decode_job_with_credentials(&empty).is_err());
        let mut bad = creds(None);
        bad.session_token = Some(SecretBytes::from_slice(b"to\nken"));
        assert!(encode_job_with_credentials(&j, Some(&bad)).is_err());
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
            for _ in 0..3 {
                let mut s = l.accept(&limits).unwrap();
                let _ = serve_one(&mut s, &limits, &mut |j: PackJob, c| {
                    if let Some(c) = c {
                        let c: JobCredentials = c;
                        return Ok(PackOutput {
                            artifacts: vec![],
                            receipt: c.access_key_id.into_bytes(),
                        });
                    }
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
        let out = call_with_credentials(&ep, &job(), Some(&creds(Some("tok"))), &limits).unwrap();
        assert_eq!(out.receipt, b"ASIAEXAMPLE");
        t.join().unwrap();
    }
}
