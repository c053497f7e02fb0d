//! A client for the AWS KMS JSON API (`application/x-amz-json-1.1`,
//! `X-Amz-Target: TrentService.<Operation>`), signed with SigV4.
//!
//! **Real implementation.** The same code talks to
//! * real AWS KMS (`https://kms.<region>.amazonaws.com`; needs the `tls` cargo
//!   feature of this crate, off by default so the development build does not
//!   compile rustls/ring),
//! * the parent's vsock proxy: inside an enclave there is no network, only
//!   vsock. The conventional setup (AWS `vsock-proxy` on the parent, a
//!   TCP→vsock forwarder in the enclave) exposes KMS on a local TCP port; set
//!   [`KmsHttpConfig::connect_to`] to that address while keeping the real
//!   endpoint URL, so Host, SigV4 and TLS SNI still name the real service,
//! * `proofpack-kms-local`, the offline server used by the tests.
//!
//! Limits: a total timeout per call, a response body limit
//! ([`KmsHttpConfig::max_response_bytes`], default 1 MiB — KMS responses are a
//! few KiB), and request bodies are bounded by KMS's own 4096-byte plaintext
//! limit checked before sending.
//!
//! Retries: `Decrypt`, `GenerateDataKey` and `Encrypt` are retried on
//! throttling, 5xx and connection failures with capped exponential backoff
//! and full jitter ([`retry`], AWS's standard mode). [`KmsHttpClient::for_job`]
//! gives one job its own retry budget and counts its retries.

pub mod retry;
pub mod sigv4;

use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, Kms, KmsError};
use crate::secret::SecretBytes;
use retry::{RetryBudget, RetryPolicy, Retryable};
use sigv4::Credentials;

/// Content type of the KMS JSON protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Prefix of `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "TrentService.";
/// KMS's plaintext limit for `Encrypt`.
pub const MAX_PLAINTEXT: usize = 4096;
/// Default response size limit.
pub const DEFAULT_MAX_RESPONSE: usize = 1 << 20;

/// Where and how to reach KMS.
#[derive(Debug)]
pub struct KmsHttpConfig {
    /// `http://host:port` or `https://host[:port]` (https needs feature `tls`).
    pub endpoint: String,
    /// Region for the SigV4 scope, e.g. `us-east-1`.
    pub region: String,
    /// Signing credentials.
    pub credentials: Credentials,
    /// Connect to this address instead of resolving the endpoint host
    /// (vsock-proxy forwarder). Host header and signature keep the endpoint host.
    pub connect_to: Option<SocketAddr>,
    /// Total time per call (connect + send + receive).
    pub timeout: Duration,
    /// Largest accepted response body.
    pub max_response_bytes: usize,
    /// Retries of idempotent calls (see [`retry`]).
    pub retry: RetryPolicy,
}

impl KmsHttpConfig {
    /// A config with default limits (10 s timeout, 1 MiB responses).
    pub fn new(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            region: region.into(),
            credentials,
            connect_to: None,
            timeout: Duration::from_secs(10),
            max_response_bytes: DEFAULT_MAX_RESPONSE,
            retry: RetryPolicy::default(),
        }
    }
}

struct FixedResolver(SocketAddr);

impl ureq::Resolver for FixedResolver {
    fn resolve(&self, _netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        Ok(vec![self.0])
    }
}

/// The KMS HTTP client.
pub struct KmsHttpClient {
    agent: ureq::Agent,
    cfg: KmsHttpConfig,
    url: String,
    host: String,
}

impl std::fmt::Debug for KmsHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsHttpClient").field("url", &self.url).field("cfg", &self.cfg).finish()
    }
}

/// Splits `scheme://authority[/...]` and returns (`url` to POST to, Host header value).
fn endpoint_parts(endpoint: &str) -> Result<(String, String), KmsError> {
    let bad = |why: &str| KmsError::Transport(format!("bad KMS endpoint {endpoint:?}: {why}"));
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return Err(bad("scheme must be http or https")),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return Err(bad("missing or invalid host"));
    }
    if rest.len() > authority.len() && &rest[authority.len()..] != "/" {
        return Err(bad("KMS endpoints have no path"));
    }
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p == default_port => h.to_string(),
        _ => authority.to_string(),
    };
    Ok((format!("{scheme}://{authority}/"), host))
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl KmsHttpClient {
    /// Builds a client. Fails only on a malformed endpoint.
    pub fn new(cfg: KmsHttpConfig) -> Result<Self, KmsError> {
        let (url, host) = endpoint_parts(&cfg.endpoint)?;
        #[cfg(not(feature = "tls"))]
        if url.starts_with("https:") {
            return Err(KmsError::Transport(
                "https endpoints need proofpack-enclave built with the `tls` feature".into(),
            ));
        }
        let mut b = ureq::AgentBuilder::new().timeout(cfg.timeout).redirects(0);
        if let Some(addr) = cfg.connect_to {
            b = b.resolver(FixedResolver(addr));
        }
        Ok(Self { agent: b.build(), cfg, url, host })
    }

    /// Calls `TrentService.<operation>` with a JSON body; returns the JSON
    /// response or the service error (`__type` mapped to its short name).
    pub fn call(&self, operation: &'static str, body: &Value) -> Result<Value, KmsError> {
        self.call_traced(operation, body).0
    }

    /// Like [`Self::call`], also returning the `x-amzn-RequestId` of the
    /// response when there was one (success or service error).
    pub fn call_traced(
        &self,
        operation: &'static str,
        body: &Value,
    ) -> (Result<Value, KmsError>, Option<String>) {
        self.call_budgeted(operation, body, &self.call_budget())
    }

    /// This client with a retry budget of its own, for one job: every
    /// call of the job draws from it, and [`Kms::retries`] reports its use.
    pub fn for_job(&self) -> JobKms<'_> {
        JobKms { client: self, budget: RetryBudget::new(self.cfg.retry.job_budget) }
    }

    /// A budget for one call made outside a job.
    fn call_budget(&self) -> RetryBudget {
        RetryBudget::new(self.cfg.retry.job_budget)
    }

    /// One call, retried when the operation is idempotent and the failure
    /// transient (see [`retry`]), drawing retries from `budget`. The
    /// request id is the last attempt's: the one whose answer is returned.
    fn call_budgeted(
        &self,
        operation: &'static str,
        body: &Value,
        budget: &RetryBudget,
    ) -> (Result<Value, KmsError>, Option<String>) {
        let policy = &self.cfg.retry;
        let idempotent = retry::IDEMPOTENT.contains(&operation);
        let mut attempt = 1u32;
        loop {
            let mut request_id = None;
            let r = self.call_inner(operation, body, &mut request_id);
            match r {
                Err((e, Some(_)))
                    if idempotent && attempt < policy.max_attempts && budget.take() =>
                {
                    drop(e);
                    let wait = policy.jittered(attempt, &mut rand::thread_rng());
                    budget.waited(wait);
                    std::thread::sleep(wait);
                    attempt = attempt.saturating_add(1);
                }
                r => return (r.map_err(|(e, _)| e), request_id),
            }
        }
    }

    fn call_inner(
        &self,
        operation: &'static str,
        body: &Value,
        request_id: &mut Option<String>,
    ) -> Result<Value, (KmsError, Option<Retryable>)> {
        let fatal = |e: KmsError| (e, None);
        let key_for_err =
            body.get("KeyId").and_then(Value::as_str).unwrap_or("(unknown)").to_string();
        let bytes = serde_json::to_vec(body)
            .map_err(|e| fatal(KmsError::Transport(format!("encode request: {e}"))))?;
        let target = format!("{TARGET_PREFIX}{operation}");
        let headers = vec![
            ("host".to_string(), self.host.clone()),
            ("content-type".to_string(), CONTENT_TYPE.to_string()),
            ("x-amz-target".to_string(), target),
        ];
        let added = sigv4::sign(
            &self.cfg.credentials,
            (&self.cfg.region, "kms"),
            now_unix(),
            "POST",
            "/",
            &headers,
            &bytes,
        )
        .map_err(|e| fatal(KmsError::Transport(format!("sign request: {e}"))))?;
        let mut req = self.agent.post(&self.url);
        for (n, v) in headers.iter().chain(added.iter()) {
            req = req.set(n, v);
        }
        let resp = match req.send_bytes(&bytes) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => {
                *request_id = r.header("x-amzn-RequestId").map(str::to_string);
                let status = r.status();
                let body = self.read_body(r)?;
                let e = service_error(operation, key_for_err, status, &body);
                let class = match &e {
                    KmsError::Service { code, .. } => retry::classify_service(status, code),
                    KmsError::Transport(_) => None,
                };
                return Err((e, class));
            }
            Err(ureq::Error::Transport(t)) => {
                let class = transport_retryable(t.kind());
                return Err((KmsError::Transport(t.to_string()), class));
            }
        };
        *request_id = resp.header("x-amzn-RequestId").map(str::to_string);
        let body = self.read_body(resp)?;
        serde_json::from_slice(&body).map_err(|e| {
            fatal(KmsError::Transport(format!("{operation} response is not JSON: {e}")))
        })
    }

    /// Reads a bounded body. A connection lost mid-body is retryable; a
    /// body over the limit is not.
    fn read_body(&self, r: ureq::Response) -> Result<Vec<u8>, (KmsError, Option<Retryable>)> {
        let limit = self.cfg.max_response_bytes;
        let mut buf = Vec::new();
        r.into_reader().take(limit as u64 + 1).read_to_end(&mut buf).map_err(|e| {
            (KmsError::Transport(format!("read response: {e}")), Some(Retryable::Transport))
        })?;
        if buf.len() > limit {
            return Err((KmsError::Transport(format!("response larger than {limit} bytes")), None));
        }
        Ok(buf)
    }

    /// `GenerateDataKey` (AES_256). With a recipient, the plaintext comes back
    /// only as `CiphertextForRecipient`.
    pub fn generate_data_key(
        &self,
        key_id: &str,
        encryption_context: &super::EncryptionContext,
        recipient: Option<&super::Recipient>,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let mut body = json!({"KeyId": key_id, "KeySpec": "AES_256"});
        put_context(&mut body, encryption_context);
        put_recipient(&mut body, recipient);
        let v = self.call("GenerateDataKey", &body)?;
        Ok(GenerateDataKeyResponse {
            key_id: str_field(&v, "KeyId", "GenerateDataKey")?,
            ciphertext_blob: b64_field(&v, "CiphertextBlob", "GenerateDataKey")?
                .ok_or_else(|| missing("GenerateDataKey", "CiphertextBlob"))?,
            plaintext: b64_field(&v, "Plaintext", "GenerateDataKey")?.map(SecretBytes::new),
            ciphertext_for_recipient: b64_field(&v, "CiphertextForRecipient", "GenerateDataKey")?,
        })
    }
}

/// Transport failures worth another attempt: the request may not have
/// reached KMS, or its answer was lost. A bad URL or scheme is not.
fn transport_retryable(kind: ureq::ErrorKind) -> Option<Retryable> {
    use ureq::ErrorKind as K;
    match kind {
        K::Dns | K::ConnectionFailed | K::Io | K::BadStatus | K::ProxyConnect => {
            Some(Retryable::Transport)
        }
        _ => None,
    }
}

/// One job's view of a [`KmsHttpClient`]: the same connection pool and
/// credentials, with a retry budget of the job's own ([`KmsHttpClient::for_job`]).
#[derive(Debug)]
pub struct JobKms<'a> {
    client: &'a KmsHttpClient,
    budget: RetryBudget,
}

impl JobKms<'_> {
    /// Time this job spent waiting between attempts.
    pub fn retry_wait(&self) -> Duration {
        self.budget.total_wait()
    }
}

impl Kms for JobKms<'_> {
    fn decrypt(&self, req: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
        self.decrypt_traced(req).0
    }
    fn encrypt(&self, req: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        self.encrypt_traced(req).0
    }
    fn decrypt_traced(
        &self,
        req: &DecryptRequest,
    ) -> (Result<DecryptResponse, KmsError>, Option<String>) {
        self.client.decrypt_with(req, &self.budget)
    }
    fn encrypt_traced(
        &self,
        req: &EncryptRequest,
    ) -> (Result<EncryptResponse, KmsError>, Option<String>) {
        self.client.encrypt_with(req, &self.budget)
    }
    fn retries(&self) -> u32 {
        self.budget.used()
    }
}

/// A `GenerateDataKey` response.
#[derive(Debug)]
pub struct GenerateDataKeyResponse {
    /// Key ARN.
    pub key_id: String,
    /// The data key encrypted under the KMS key.
    pub ciphertext_blob: Vec<u8>,
    /// The data key, when no recipient was given.
    pub plaintext: Option<SecretBytes>,
    /// CMS EnvelopedData of the data key, when a recipient was given.
    pub ciphertext_for_recipient: Option<Vec<u8>>,
}

fn missing(op: &str, field: &str) -> KmsError {
    KmsError::Transport(format!("{op} response lacks {field}"))
}

fn str_field(v: &Value, field: &str, op: &str) -> Result<String, KmsError> {
    v.get(field).and_then(Value::as_str).map(str::to_string).ok_or_else(|| missing(op, field))
}

fn b64_field(v: &Value, field: &str, op: &str) -> Result<Option<Vec<u8>>, KmsError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => B64
            .decode(s)
            .map(Some)
            .map_err(|e| KmsError::Transport(format!("{op} {field} is not base64: {e}"))),
        Some(_) => Err(KmsError::Transport(format!("{op} {field} is not a string"))),
    }
}

fn put_context(body: &mut Value, ctx: &super::EncryptionContext) {
    if !ctx.is_empty() {
        let m: Map<String, Value> =
            ctx.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        body["EncryptionContext"] = Value::Object(m);
    }
}

fn put_recipient(body: &mut Value, r: Option<&super::Recipient>) {
    if let Some(r) = r {
        body["Recipient"] = json!({
            "AttestationDocument": B64.encode(&r.attestation_document),
            "KeyEncryptionAlgorithm": r.key_encryption_algorithm,
        });
    }
}

/// Maps an AWS JSON error body (`{"__type": "...#Code", "message": "..."}`) to [`KmsError::Service`].
fn service_error(operation: &'static str, key: String, status: u16, body: &[u8]) -> KmsError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v
        .get("__type")
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
        .unwrap_or_else(|| format!("HTTP{status}"));
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(1024)
        .collect();
    KmsError::Service { operation, key, code, message }
}

impl Kms for KmsHttpClient {
    fn decrypt(&self, req: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
        self.decrypt_traced(req).0
    }

    fn encrypt(&self, req: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        self.encrypt_traced(req).0
    }

    fn decrypt_traced(
        &self,
        req: &DecryptRequest,
    ) -> (Result<DecryptResponse, KmsError>, Option<String>) {
        self.decrypt_with(req, &self.call_budget())
    }

    fn encrypt_traced(
        &self,
        req: &EncryptRequest,
    ) -> (Result<EncryptResponse, KmsError>, Option<String>) {
        self.encrypt_with(req, &self.call_budget())
    }
}

impl KmsHttpClient {
    fn decrypt_with(
        &self,
        req: &DecryptRequest,
        budget: &RetryBudget,
    ) -> (Result<DecryptResponse, KmsError>, Option<String>) {
        let (v, id) = self.call_budgeted("Decrypt", &decrypt_body(req), budget);
        (v.and_then(|v| decrypt_response(req, &v)), id)
    }

    fn encrypt_with(
        &self,
        req: &EncryptRequest,
        budget: &RetryBudget,
    ) -> (Result<EncryptResponse, KmsError>, Option<String>) {
        if req.plaintext.len() > MAX_PLAINTEXT || req.plaintext.is_empty() {
            let e = KmsError::Service {
                operation: "Encrypt",
                key: req.key_id.clone(),
                code: "ValidationException".into(),
                message: format!(
                    "plaintext must be 1..={MAX_PLAINTEXT} bytes, got {}",
                    req.plaintext.len()
                ),
            };
            return (Err(e), None);
        }
        let mut body =
            json!({"KeyId": req.key_id, "Plaintext": B64.encode(req.plaintext.expose())});
        put_context(&mut body, &req.encryption_context);
        let (v, id) = self.call_budgeted("Encrypt", &body, budget);
        let r = v.and_then(|v| {
            Ok(EncryptResponse {
                key_id: str_field(&v, "KeyId", "Encrypt")?,
                ciphertext_blob: b64_field(&v, "CiphertextBlob", "Encrypt")?
                    .ok_or_else(|| missing("Encrypt", "CiphertextBlob"))?,
            })
        });
        (r, id)
    }
}

fn decrypt_body(req: &DecryptRequest) -> Value {
    let mut body = json!({"CiphertextBlob": B64.encode(&req.ciphertext_blob)});
    if let Some(k) = &req.key_id {
        body["KeyId"] = Value::String(k.clone());
    }
    put_context(&mut body, &req.encryption_context);
    put_recipient(&mut body, req.recipient.as_ref());
    body
}

fn decrypt_response(req: &DecryptRequest, v: &Value) -> Result<DecryptResponse, KmsError> {
    let plaintext = b64_field(v, "Plaintext", "Decrypt")?.map(SecretBytes::new);
    let cfr = b64_field(v, "CiphertextForRecipient", "Decrypt")?;
    if req.recipient.is_some()
        && (cfr.is_none() || plaintext.as_ref().is_some_and(|p| !p.is_empty()))
    {
        return Err(KmsError::Transport(
            "Decrypt with Recipient must return CiphertextForRecipient and no Plaintext".into(),
        ));
    }
    if req.recipient.is_none() && plaintext.is_none() {
        return Err(missing("Decrypt", "Plaintext"));
    }
    Ok(DecryptResponse {
        key_id: str_field(v, "KeyId", "Decrypt")?,
        plaintext: if req.recipient.is_some() { None } else { plaintext },
        ciphertext_for_recipient: cfr,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parsing() {
        assert_eq!(
            endpoint_parts("http://127.0.0.1:8080").unwrap(),
            ("http://127.0.0.1:8080/".into(), "127.0.0.1:8080".into())
        );
        assert_eq!(
            endpoint_parts("https://kms.us-east-1.amazonaws.com/").unwrap(),
            ("https://kms.us-east-1.amazonaws.com/".into(), "kms.us-east-1.amazonaws.com".into())
        );
        assert_eq!(endpoint_parts("http://h:80").unwrap().1, "h");
        assert!(endpoint_parts("ftp://h").is_err());
        assert!(endpoint_parts("http://h/path").is_err());
        assert!(endpoint_parts("http://u@h").is_err());
        assert!(endpoint_parts("http://").is_err());
    }

    #[test]
    fn aws_error_types_are_shortened() {
        let e = service_error(
            "Decrypt",
            "k".into(),
            400,
            br#"{"__type":"com.amazonaws.kms#AccessDeniedException","message":"no"}"#,
        );
        match e {
            KmsError::Service { code, message, .. } => {
                assert_eq!(code, "AccessDeniedException");
                assert_eq!(message, "no");
            }
            other => panic!("unexpected {other:?}"),
        }
        match service_error("Decrypt", "k".into(), 502, b"<html>") {
            KmsError::Service { code, .. } => assert_eq!(code, "HTTP502"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
