//! HTTP framing and SigV4 authentication for `proofpack-kms-local`.
//!
//! One request at a time (a development server): `POST /` only, body at most
//! [`MAX_BODY`] bytes, `Content-Type: application/x-amz-json-1.1`,
//! `X-Amz-Target: TrentService.<Op>`, and a valid SigV4 `Authorization`
//! whose access key id is in the credentials file, whose scope is
//! `<date>/<region>/kms/aws4_request`, and whose `x-amz-date` is within
//! [`MAX_SKEW_SECS`] of the wall clock. Errors use KMS's auth error codes.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::Deserialize;
use serde_json::{json, Value};

use enclave::backend::kms_http::sigv4;
use enclave::backend::kms_http::{CONTENT_TYPE, TARGET_PREFIX};

use super::faults::{Fault, Faults, FAULTABLE};
use super::service::Service;
use super::Caller;

/// Largest request body.
pub const MAX_BODY: usize = 256 * 1024;
/// Allowed clock skew between signer and server (AWS: 15 minutes).
pub const MAX_SKEW_SECS: i64 = 900;

/// One entry of the credentials file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Principal ARN the key belongs to.
    pub principal_arn: String,
    /// Whether IAM allows this principal every KMS action.
    #[serde(default)]
    pub iam_allow_all: bool,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("access_key_id", &self.access_key_id)
            .field("principal_arn", &self.principal_arn)
            .finish_non_exhaustive()
    }
}

/// The credentials file: `{"principals": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    /// Known access keys.
    pub principals: Vec<Principal>,
}

/// Access key id → principal.
#[derive(Debug, Default)]
pub struct Principals(BTreeMap<String, Principal>);

impl Principals {
    /// Indexes a credentials file.
    pub fn new(file: CredentialsFile) -> Self {
        Self(file.principals.into_iter().map(|p| (p.access_key_id.clone(), p)).collect())
    }
}

/// A parsed HTTP request, independent of the server library.
#[derive(Debug)]
pub struct HttpRequest {
    /// Method.
    pub method: String,
    /// Raw request target (`/` for KMS).
    pub url: String,
    /// Headers as received.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// The client's address, when known (for the trail).
    pub remote: Option<String>,
    /// The id answered in `x-amzn-RequestId`.
    pub request_id: String,
}

/// The response to send.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
    /// Operation name for the log.
    pub operation: String,
    /// Principal for the log.
    pub principal: String,
    /// Outcome for the log: `OK` or the error code.
    pub outcome: String,
}

fn fault(status: u16, code: &str, message: &str) -> (u16, Value) {
    (status, json!({"__type": code, "message": message}))
}

/// Authenticates a request; returns the caller.
pub fn authenticate(
    principals: &Principals,
    region: &str,
    req: &HttpRequest,
    wall_now: i64,
) -> Result<Caller, (u16, Value)> {
    let auth = sigv4::header(&req.headers, "authorization").ok_or_else(|| {
        fault(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
    })?;
    let parsed = sigv4::parse_authorization(auth)
        .map_err(|e| fault(400, "IncompleteSignatureException", &e.to_string()))?;
    let p = principals.0.get(&parsed.access_key_id).ok_or_else(|| {
        fault(
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    })?;
    if parsed.scope.service != "kms" || parsed.scope.region != region {
        return Err(fault(
            400,
            "InvalidSignatureException",
            &format!("Credential should be scoped to region '{region}' and service 'kms'"),
        ));
    }
    let payload = sigv4::sha256_hex(&req.body);
    let parts = sigv4::RequestParts {
        method: &req.method,
        path: &req.url,
        query: &[],
        headers: &req.headers,
        payload_sha256: &payload,
    };
    let t = sigv4::verify(&parsed, p.secret_access_key.as_bytes(), &parts)
        .map_err(|e| fault(400, "InvalidSignatureException", &e.to_string()))?;
    if (t - wall_now).abs() > MAX_SKEW_SECS {
        return Err(fault(
            400,
            "InvalidSignatureException",
            "Signature expired: x-amz-date is more than 15 minutes off",
        ));
    }
    Ok(Caller {
        principal_arn: p.principal_arn.clone(),
        iam_allow_all: p.iam_allow_all,
        access_key_id: parsed.access_key_id.clone(),
        source_ip: req.remote.clone(),
        request_id: req.request_id.clone(),
    })
}

/// Handles one request end to end (framing, auth, dispatch).
pub fn handle(
    service: &mut Service,
    principals: &Principals,
    region: &str,
    req: &HttpRequest,
) -> HttpResponse {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let target = sigv4::header(&req.headers, "x-amz-target").unwrap_or("").to_string();
    let operation = target.strip_prefix(TARGET_PREFIX).unwrap_or("").to_string();
    let mut principal = "-".to_string();
    let (status, body) = (|| {
        if req.method != "POST" || req.url != "/" {
            return fault(404, "UnknownOperationException", "only POST / is served");
        }
        if req.body.len() > MAX_BODY {
            return fault(413, "ValidationException", "request body too large");
        }
        let caller = match authenticate(principals, region, req, wall) {
            Ok(c) => c,
            Err(e) => return e,
        };
        principal = caller.principal_arn.clone();
        let ct = sigv4::header(&req.headers, "content-type").unwrap_or("");
        if !ct.starts_with(CONTENT_TYPE) {
            return fault(
                400,
                "SerializationException",
                "Content-Type must be application/x-amz-json-1.1",
            );
        }
        if operation.is_empty() {
            return fault(
                400,
                "UnknownOperationException",
                "X-Amz-Target must be TrentService.<Operation>",
            );
        }
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return fault(400, "SerializationException", "body is not JSON"),
        };
        match service.handle(&caller, &operation, &body) {
            Ok(v) => (200, v),
            Err(f) => fault(f.status(), f.code, &f.message),
        }
    })();
    let outcome = if status == 200 {
        "OK".to_string()
    } else {
        // Error messages name keys, principals and reasons, never key
        // material or plaintext, so they are safe to log.
        let msg: String =
            body.get("message").and_then(Value::as_str).unwrap_or("").chars().take(300).collect();
        format!("{} ({msg})", body.get("__type").and_then(Value::as_str).unwrap_or("error"))
    };
    HttpResponse {
        status,
        body: serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec()),
        operation: if operation.is_empty() { "-".into() } else { operation },
        principal,
        outcome,
    }
}

/// Where request log lines go, and the tag each starts with.
///
/// Per server rather than process-wide, so that several in-process servers
/// (tests, the demo) each keep their own log and their own tag.
#[derive(Debug)]
pub struct RequestLog {
    tag: String,
    sink: LogSink,
}

#[derive(Debug)]
enum LogSink {
    Stderr,
    File(std::fs::File),
}

/// The default log tag.
pub const DEFAULT_LOG_TAG: &str = "kms-local";
/// The log tag of a server that accepts unsigned emulator documents, so
/// every request line says so.
pub const EMULATOR_LOG_TAG: &str = "kms-local[ACCEPTS UNSIGNED EMULATOR ATTESTATION]";

impl RequestLog {
    /// Lines to standard error.
    pub fn stderr(tag: impl Into<String>) -> Self {
        Self { tag: tag.into(), sink: LogSink::Stderr }
    }

    /// Lines appended to `file`.
    pub fn file(tag: impl Into<String>, file: std::fs::File) -> Self {
        Self { tag: tag.into(), sink: LogSink::File(file) }
    }

    /// The tag lines start with.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Writes one line `<tag>: <line>`. A log that cannot be written is not
    /// a reason to fail a request, so errors are dropped.
    pub fn line(&mut self, line: std::fmt::Arguments<'_>) {
        let text = format!("{}: {line}\n", self.tag);
        let _ = match &mut self.sink {
            LogSink::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
            LogSink::File(f) => f.write_all(text.as_bytes()),
        };
    }
}

/// Serves requests from `server` until it is closed or unblocked.
pub fn serve(
    server: &tiny_http::Server,
    service: &mut Service,
    principals: &Principals,
    region: &str,
    log: &mut RequestLog,
    faults: &Faults,
) {
    let mut faultable = 0u64;
    for mut rq in server.incoming_requests() {
        let headers: Vec<(String, String)> = rq
            .headers()
            .iter()
            .map(|h| (h.field.as_str().as_str().to_string(), h.value.as_str().to_string()))
            .collect();
        let mut body = Vec::new();
        let read = rq.as_reader().take(MAX_BODY as u64 + 1).read_to_end(&mut body);
        let request_id = super::store::uuid4();
        let req = HttpRequest {
            method: rq.method().as_str().to_string(),
            url: rq.url().to_string(),
            headers,
            body,
            remote: rq.remote_addr().map(|a| a.ip().to_string()),
            request_id: request_id.clone(),
        };
        let fate = match injected(faults, &req, &mut faultable) {
            Some(f) => f,
            None => Fault::None,
        };
        if fate == Fault::Cut {
            // A truncated status line, then the writer is dropped: the
            // client fails reading the answer and discards the connection.
            let mut w = rq.into_writer();
            let _ = w.write_all(b"HTTP/1.1 2\r\n\r\n").and_then(|()| w.flush());
            log.line(format_args!("- - injected fault -> cut connection"));
            continue;
        }
        let resp = match read {
            Ok(_) if fate != Fault::None => injected_response(fate),
            Ok(_) => handle(service, principals, region, &req),
            Err(e) => HttpResponse {
                status: 400,
                body: json!({"__type": "SerializationException", "message": e.to_string()})
                    .to_string()
                    .into_bytes(),
                operation: "-".into(),
                principal: "-".into(),
                outcome: "SerializationException".into(),
            },
        };
        // Log line: never key material, plaintext or blobs.
        log.line(format_args!(
            "{request_id} {} {} -> {} {}",
            resp.principal, resp.operation, resp.status, resp.outcome
        ));
        let mut out = tiny_http::Response::from_data(resp.body).with_status_code(resp.status);
        for (n, v) in [("Content-Type", CONTENT_TYPE), ("x-amzn-RequestId", request_id.as_str())] {
            if let Ok(h) = tiny_http::Header::from_bytes(n.as_bytes(), v.as_bytes()) {
                out.add_header(h);
            }
        }
        if let Err(e) = rq.respond(out) {
            log.line(format_args!("{request_id} response write failed: {e}"));
        }
    }
}

/// The fate of a request under `faults`: `None` when it is not a faultable
/// data-plane call (or no fault is set). Counts faultable calls and applies
/// the added latency.
fn injected(faults: &Faults, req: &HttpRequest, n: &mut u64) -> Option<Fault> {
    if !faults.active() {
        return None;
    }
    let target = sigv4::header(&req.headers, "x-amz-target")?;
    let op = target.strip_prefix(TARGET_PREFIX)?;
    if !FAULTABLE.contains(&op) {
        return None;
    }
    let fate = faults.decide(*n);
    *n = n.saturating_add(1);
    if !faults.latency.is_zero() {
        std::thread::sleep(faults.latency);
    }
    Some(fate)
}

/// The answer of an injected service fault (not [`Fault::Cut`]).
fn injected_response(fate: Fault) -> HttpResponse {
    let (status, body, outcome) = match fate {
        Fault::Throttle => (
            400,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded (injected fault)"})
                .to_string(),
            "ThrottlingException (injected)",
        ),
        Fault::Internal => (
            500,
            json!({"__type": "KMSInternalException", "message": "injected fault"}).to_string(),
            "KMSInternalException (injected)",
        ),
        _ => (503, "Service Unavailable (injected fault)".to_string(), "503 (injected)"),
    };
    HttpResponse {
        status,
        body: body.into_bytes(),
        operation: "-".into(),
        principal: "-".into(),
        outcome: outcome.into(),
    }
}
