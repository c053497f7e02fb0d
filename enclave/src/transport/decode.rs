//! Decoding frame heads and payloads (the layouts in the parent module's
//! doc). Every read goes through [`build_spec::codec::Reader`]; its errors
//! become [`TransportError::Malformed`] naming the payload offset and the
//! item being read, exactly as before the shared cursor existed.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use build_spec::codec::{DecodeError, Reader};

use super::{
    ErrorCode, JobCredentials, TransportError, JOB_CREDENTIALS_TAG, MAGIC, MAX_ACCESS_KEY_ID,
    MAX_ERROR_MESSAGE, MAX_SECRET_ACCESS_KEY, MAX_SESSION_TOKEN,
};
use crate::secret::SecretBytes;
use crate::service::{Artifact, PackJob, PackOutput};

/// Magic, kind and payload length of a 9-byte frame head.
pub(super) fn frame_head(head: &[u8; 9]) -> Result<(u8, usize), TransportError> {
    let mut c = Cursor::new(head);
    if c.take(MAGIC.len(), "frame head")? != MAGIC {
        return Err(TransportError::Malformed { offset: 0, what: "magic is not PPT1" });
    }
    let kind = c.u8("frame head")?;
    let len = c.u32("frame head")?;
    Ok((kind, len))
}

/// A [`Reader`] whose errors name what was being read.
struct Cursor<'a> {
    r: Reader<'a>,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { r: Reader::new(buf) }
    }
    fn pos(&self) -> usize {
        self.r.offset()
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TransportError> {
        self.r.take(n).map_err(|e| malformed(e, what))
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, TransportError> {
        self.r.u8().map_err(|e| malformed(e, what))
    }
    fn u16(&mut self, what: &'static str) -> Result<usize, TransportError> {
        self.r.u16_be().map(usize::from).map_err(|e| malformed(e, what))
    }
    fn u32(&mut self, what: &'static str) -> Result<usize, TransportError> {
        let n = self.r.u32_be().map_err(|e| malformed(e, what))?;
        // A length beyond `usize` cannot fit in the payload either.
        usize::try_from(n).map_err(|_| TransportError::Malformed { offset: self.pos(), what })
    }
    fn bytes32(&mut self, what: &'static str) -> Result<&'a [u8], TransportError> {
        let n = self.u32(what)?;
        self.take(n, what)
    }
    fn end(&self) -> Result<(), TransportError> {
        self.r.expect_end().map_err(|e| malformed(e, "trailing bytes"))
    }
}

/// The cursor's offset, with the item the payload ended in (or trailed).
fn malformed(e: DecodeError, what: &'static str) -> TransportError {
    TransportError::Malformed { offset: e.offset(), what }
}

/// Decodes a job payload; credentials, if the job carries them, are dropped
/// (zeroized). The enclave uses [`decode_job_with_credentials`].
pub fn decode_job(payload: &[u8]) -> Result<PackJob, TransportError> {
    decode_job_with_credentials(payload).map(|(job, _)| job)
}

/// Decodes a job payload and its optional credentials member.
pub fn decode_job_with_credentials(
    payload: &[u8],
) -> Result<(PackJob, Option<JobCredentials>), TransportError> {
    let mut c = Cursor::new(payload);
    let request = c.bytes32("request")?.to_vec();
    let n = c.u16("input count")?;
    let mut inputs = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        inputs.push(c.bytes32("input")?.to_vec());
    }
    // Anything after the inputs that is not the credentials member is
    // "trailing bytes", exactly as before the member existed.
    let credentials = if c.r.peek() == Some(JOB_CREDENTIALS_TAG) {
        Some(decode_credentials(&mut c)?)
    } else {
        None
    };
    c.end()?;
    Ok((PackJob { request, inputs }, credentials))
}

fn decode_credentials(c: &mut Cursor<'_>) -> Result<JobCredentials, TransportError> {
    let start = c.pos();
    c.take(1, "member tag")?;
    let mut part = |max: usize, what: &'static str| -> Result<&[u8], TransportError> {
        let at = c.pos();
        let n = c.u16(what)?;
        if n > max {
            return Err(TransportError::Malformed { offset: at, what: "credential part too long" });
        }
        c.take(n, what)
    };
    let id = part(MAX_ACCESS_KEY_ID, "access key id")?.to_vec();
    let secret = SecretBytes::from_slice(part(MAX_SECRET_ACCESS_KEY, "secret access key")?);
    let token = part(MAX_SESSION_TOKEN, "session token")?;
    let token = (!token.is_empty()).then(|| SecretBytes::from_slice(token));
    let bad = TransportError::Malformed { offset: start, what: "invalid credentials" };
    let creds = JobCredentials {
        access_key_id: String::from_utf8(id).map_err(|_| bad)?,
        secret_access_key: secret,
        session_token: token,
    };
    creds
        .validate()
        .map_err(|_| TransportError::Malformed { offset: start, what: "invalid credentials" })?;
    Ok(creds)
}

/// Decodes an output payload.
pub fn decode_output(payload: &[u8]) -> Result<PackOutput, TransportError> {
    let mut c = Cursor::new(payload);
    let n = c.u16("artifact count")?;
    let mut artifacts = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let l = c.u16("artifact name length")?;
        let name = std::str::from_utf8(c.take(l, "artifact name")?)
            .map_err(|_| TransportError::Malformed {
                offset: c.pos(),
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

/// Decodes an error payload.
pub fn decode_error(payload: &[u8]) -> Result<(ErrorCode, String), TransportError> {
    let mut c = Cursor::new(payload);
    let code = ErrorCode::from_u16(c.u16("error code")? as u16)
        .ok_or(TransportError::Malformed { offset: 0, what: "unknown error code" })?;
    let rest = c.r.take_rest();
    if rest.len() > MAX_ERROR_MESSAGE {
        return Err(TransportError::Malformed { offset: 2, what: "error message too long" });
    }
    Ok((code, String::from_utf8_lossy(rest).into_owned()))
}
