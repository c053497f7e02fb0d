//! AWS Signature Version 4 for header-signed requests (signing and verifying).
//!
//! Hand-written on purpose (`hmac` + `sha2`), for two reasons:
//! * the local KMS server must *verify* signatures, i.e. rebuild the canonical
//!   request from a received request and compare; AWS's `aws-sigv4` crate only
//!   signs, and it would pull the Smithy runtime stack (`aws-smithy-*`,
//!   `aws-credential-types`, `http` 0.2 and 1.x) into the enclave image for
//!   what is ~150 lines of string building;
//! * one implementation serves both sides, so client and server cannot drift.
//!
//! Correctness is pinned by values from AWS's published SigV4 test suite
//! (`aws-sig-v4-test-suite`: get-vanilla, get-vanilla-query-order-key-case,
//! get-utf8, post-vanilla, post-x-www-form-urlencoded, session token; see
//! `testvectors/sigv4/README.md`) and, end to end, by botocore (boto3) signing
//! requests that our server verifies (`verifier/tests/it/kms_local_boto3.rs`).
//!
//! Scope: header signing with `AWS4-HMAC-SHA256`, signed payload hash. Path
//! normalisation of `.`/`..` segments is not done: KMS always uses `/`.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::SecretBytes;

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm we sign or accept.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Largest `Authorization` header we parse.
const MAX_AUTH_HEADER: usize = 4096;

/// Static AWS credentials.
pub struct Credentials {
    /// Access key id (not secret; names the key).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: SecretBytes,
    /// Session token for temporary credentials (sent as `x-amz-security-token`).
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("session_token", &self.session_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The session token is a bearer secret too; the secret key zeroizes itself.
impl Drop for Credentials {
    fn drop(&mut self) {
        if let Some(t) = &mut self.session_token {
            zeroize::Zeroize::zeroize(t);
        }
    }
}

impl Credentials {
    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optional
    /// `AWS_SESSION_TOKEN` from the environment (the development path; in an
    /// enclave the parent passes credentials in the request instead).
    pub fn from_env() -> Result<Self, SigV4Error> {
        let id = std::env::var("AWS_ACCESS_KEY_ID")
            .map_err(|_| SigV4Error::MissingCredential("AWS_ACCESS_KEY_ID"))?;
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
            .map_err(|_| SigV4Error::MissingCredential("AWS_SECRET_ACCESS_KEY"))?;
        let token = std::env::var("AWS_SESSION_TOKEN").ok().filter(|t| !t.is_empty());
        Ok(Self {
            access_key_id: id,
            secret_access_key: SecretBytes::new(secret.into_bytes()),
            session_token: token,
        })
    }
}

/// Errors from signing or verifying.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigV4Error {
    /// A credential environment variable is not set.
    #[error("environment variable {0} is not set")]
    MissingCredential(&'static str),
    /// The `Authorization` header is malformed.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// The header uses another algorithm.
    #[error("unsupported signature algorithm (only AWS4-HMAC-SHA256)")]
    UnsupportedAlgorithm,
    /// A header that must be signed is not in `SignedHeaders`.
    #[error("header {0} must be signed")]
    UnsignedHeader(&'static str),
    /// A header listed in `SignedHeaders` is absent from the request.
    #[error("signed header {0} is missing from the request")]
    MissingSignedHeader(String),
    /// `x-amz-date` is not `YYYYMMDDTHHMMSSZ` or disagrees with the scope date.
    #[error("bad x-amz-date: {0}")]
    BadDate(&'static str),
    /// The signature does not match.
    #[error("signature does not match")]
    SignatureMismatch,
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cold]
fn unreachable_hmac() -> ! {
    // `Hmac::new_from_slice` only fails for fixed-key-size MACs; HMAC has none.
    panic!("HMAC-SHA256 rejected a key length, which it never does")
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k = Vec::with_capacity(4 + secret.len());
    k.extend_from_slice(b"AWS4");
    k.extend_from_slice(secret);
    let k_date = hmac(&k, date.as_bytes());
    zeroize::Zeroize::zeroize(&mut k);
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters pass,
/// everything else is `%XX` (uppercase). `keep_slash` for paths.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What is signed: one HTTP request.
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Decoded path, e.g. `/`.
    pub path: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// All request headers (any case).
    pub headers: &'a [(String, String)],
    /// Lowercase hex SHA-256 of the body.
    pub payload_sha256: &'a str,
}

/// The credential scope: date (`YYYYMMDD`), region, service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `YYYYMMDD`.
    pub date: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Service, e.g. `kms`.
    pub service: String,
}

impl Scope {
    fn string(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

fn canonical_header_value(v: &str) -> String {
    // Trim and collapse runs of spaces into one.
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request for `signed` (lowercase header names, any order).
pub fn canonical_request(req: &RequestParts<'_>, signed: &[String]) -> Result<String, SigV4Error> {
    let mut signed: Vec<String> = signed.iter().map(|h| h.to_ascii_lowercase()).collect();
    signed.sort();
    signed.dedup();
    let mut q: Vec<(String, String)> =
        req.query.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
    q.sort();
    let query = q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut headers = String::new();
    for name in &signed {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical_header_value(v))
            .collect();
        if values.is_empty() {
            return Err(SigV4Error::MissingSignedHeader(name.clone()));
        }
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&values.join(","));
        headers.push('\n');
    }
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        uri_encode(req.path, true),
        query,
        headers,
        signed.join(";"),
        req.payload_sha256
    ))
}

/// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(amz_date: &str, scope: &Scope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.string(),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Computes the signature over `req` with the headers named in `signed`.
pub fn signature(
    secret: &[u8],
    amz_date: &str,
    scope: &Scope,
    req: &RequestParts<'_>,
    signed: &[String],
) -> Result<[u8; 32], SigV4Error> {
    let creq = canonical_request(req, signed)?;
    let sts = string_to_sign(amz_date, scope, &creq);
    let mut key = signing_key(secret, &scope.date, &scope.region, &scope.service);
    let sig = hmac(&key, sts.as_bytes());
    zeroize::Zeroize::zeroize(&mut key);
    Ok(sig)
}

/// Formats a Unix time as `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(unix_seconds: i64) -> Result<String, SigV4Error> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .map_err(|_| SigV4Error::BadDate("time out of range"))?;
    Ok(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// Parses `YYYYMMDDTHHMMSSZ` into Unix seconds.
pub fn parse_amz_date(s: &str) -> Result<i64, SigV4Error> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(SigV4Error::BadDate("expected YYYYMMDDTHHMMSSZ"));
    }
    // Slices below are by byte offset: a multi-byte character must be
    // refused first or the slice would panic (found by the fuzzer).
    if !s.is_ascii() {
        return Err(SigV4Error::BadDate("non-digit in date"));
    }
    let digits = |r: std::ops::Range<usize>| -> Result<u32, SigV4Error> {
        let part = s.get(r).ok_or(SigV4Error::BadDate("non-digit in date"))?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(SigV4Error::BadDate("non-digit in date"));
        }
        part.parse().map_err(|_| SigV4Error::BadDate("non-digit in date"))
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, se) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    let month = u8::try_from(mo)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or(SigV4Error::BadDate("month"))?;
    let date = time::Date::from_calendar_date(y as i32, month, d as u8)
        .map_err(|_| SigV4Error::BadDate("day"))?;
    let tod = time::Time::from_hms(h as u8, mi as u8, se as u8)
        .map_err(|_| SigV4Error::BadDate("time"))?;
    Ok(time::PrimitiveDateTime::new(date, tod).assume_utc().unix_timestamp())
}

/// Signs a request: returns the headers to add (`x-amz-date`, optional
/// `x-amz-security-token`, `authorization`) for scope `(region, service)`. `headers` must already contain
/// `host` and every other header to sign; all headers passed are signed.
pub fn sign(
    creds: &Credentials,
    (region, service): (&str, &str),
    unix_seconds: i64,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<(String, String)>, SigV4Error> {
    let date = amz_date(unix_seconds)?;
    let mut all: Vec<(String, String)> = headers.to_vec();
    all.push(("x-amz-date".into(), date.clone()));
    if let Some(tok) = &creds.session_token {
        all.push(("x-amz-security-token".into(), tok.clone()));
    }
    let signed: Vec<String> = all.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    let scope =
        Scope { date: date[..8].to_string(), region: region.into(), service: service.into() };
    let payload = sha256_hex(body);
    let parts = RequestParts { method, path, query: &[], headers: &all, payload_sha256: &payload };
    let sig = signature(creds.secret_access_key.expose(), &date, &scope, &parts, &signed)?;
    let mut signed_sorted = signed.clone();
    signed_sorted.sort();
    signed_sorted.dedup();
    let auth = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={}",
        creds.access_key_id,
        scope.string(),
        signed_sorted.join(";"),
        hex::encode(sig)
    );
    let mut out = vec![("x-amz-date".to_string(), date)];
    if let Some(tok) = &creds.session_token {
        out.push(("x-amz-security-token".into(), tok.clone()));
    }
    out.push(("authorization".into(), auth));
    Ok(out)
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id from `Credential=`.
    pub access_key_id: String,
    /// Credential scope.
    pub scope: Scope,
    /// Lowercase signed header names, in the order given.
    pub signed_headers: Vec<String>,
    /// The 32-byte signature.
    pub signature: [u8; 32],
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(h: &str) -> Result<Authorization, SigV4Error> {
    use SigV4Error::MalformedAuthorization as M;
    if h.len() > MAX_AUTH_HEADER {
        return Err(M("too long"));
    }
    let rest = h.strip_prefix(ALGORITHM).ok_or(SigV4Error::UnsupportedAlgorithm)?;
    let rest = rest.strip_prefix(' ').ok_or(M("no space after algorithm"))?;
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (k, v) = part.split_once('=').ok_or(M("component without '='"))?;
        let slot = match k {
            "Credential" => &mut cred,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut sig,
            _ => return Err(M("unknown component")),
        };
        if slot.replace(v).is_some() {
            return Err(M("duplicate component"));
        }
    }
    let cred = cred.ok_or(M("no Credential"))?;
    let signed = signed.ok_or(M("no SignedHeaders"))?;
    let sig = sig.ok_or(M("no Signature"))?;
    let c: Vec<&str> = cred.split('/').collect();
    if c.len() != 5 || c[4] != "aws4_request" || c[0].is_empty() {
        return Err(M("Credential is not AKID/date/region/service/aws4_request"));
    }
    if c[1].len() != 8 || !c[1].bytes().all(|b| b.is_ascii_digit()) {
        return Err(M("scope date is not YYYYMMDD"));
    }
    let signed_headers: Vec<String> = signed.split(';').map(|s| s.to_string()).collect();
    if signed_headers.iter().any(|s| s.is_empty() || s.bytes().any(|b| b.is_ascii_uppercase())) {
        return Err(M("SignedHeaders must be lowercase names"));
    }
    let mut signature = [0u8; 32];
    hex::decode_to_slice(sig, &mut signature).map_err(|_| M("Signature is not 64 hex digits"))?;
    Ok(Authorization {
        access_key_id: c[0].to_string(),
        scope: Scope { date: c[1].into(), region: c[2].into(), service: c[3].into() },
        signed_headers,
        signature,
    })
}

/// Verifies a parsed `Authorization` against the request and the secret of
/// its access key. Requires `host` and `x-amz-date` to be signed and the
/// scope date to match `x-amz-date`. Returns the request time (Unix seconds)
/// so the caller can apply its clock-skew rule.
pub fn verify(
    auth: &Authorization,
    secret: &[u8],
    req: &RequestParts<'_>,
) -> Result<i64, SigV4Error> {
    for must in ["host", "x-amz-date"] {
        if !auth.signed_headers.iter().any(|h| h == must) {
            return Err(SigV4Error::UnsignedHeader(must));
        }
    }
    if req.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token"))
        && !auth.signed_headers.iter().any(|h| h == "x-amz-security-token")
    {
        return Err(SigV4Error::UnsignedHeader("x-amz-security-token"));
    }
    let date = header(req.headers, "x-amz-date")
        .ok_or(SigV4Error::MissingSignedHeader("x-amz-date".into()))?;
    let t = parse_amz_date(date)?;
    if date[..8] != auth.scope.date {
        return Err(SigV4Error::BadDate("scope date differs from x-amz-date"));
    }
    let expected = signature(secret, date, &auth.scope, req, &auth.signed_headers)?;
    if bool::from(expected.ct_eq(&auth.signature)) {
        Ok(t)
    } else {
        Err(SigV4Error::SignatureMismatch)
    }
}

/// First value of header `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // From AWS's aws-sig-v4-test-suite (see testvectors/sigv4/README.md).
    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";

    fn scope() -> Scope {
        Scope { date: "20150830".into(), region: "us-east-1".into(), service: "service".into() }
    }
    fn base() -> Vec<(String, String)> {
        vec![("Host".into(), "example.amazonaws.com".into()), ("X-Amz-Date".into(), DATE.into())]
    }
    fn sig_of(
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: &[u8],
    ) -> String {
        let payload = sha256_hex(body);
        let parts = RequestParts { method, path, query, headers, payload_sha256: &payload };
        let signed: Vec<String> = headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        hex::encode(signature(SECRET, DATE, &scope(), &parts, &signed).unwrap())
    }

    #[test]
    fn get_vanilla_canonical_request_and_signature() {
        let payload = sha256_hex(b"");
        let h = base();
        let parts = RequestParts {
            method: "GET",
            path: "/",
            query: &[],
            headers: &h,
            payload_sha256: &payload,
        };
        let creq = canonical_request(&parts, &["host".into(), "x-amz-date".into()]).unwrap();
        assert_eq!(
            creq,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            string_to_sign(DATE, &scope(), &creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        assert_eq!(
            sig_of("GET", "/", &[], &h, b""),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn aws_suite_query_utf8_post() {
        let q =
            vec![("Param2".to_string(), "value2".to_string()), ("Param1".into(), "value1".into())];
        assert_eq!(
            sig_of("GET", "/", &q, &base(), b""),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
        assert_eq!(
            sig_of("GET", "/\u{1234}", &[], &base(), b""),
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"
        );
        assert_eq!(
            sig_of("POST", "/", &[], &base(), b""),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }

    #[test]
    fn sign_then_verify_round_trip_and_tamper() {
        let creds = Credentials {
            access_key_id: AKID.into(),
            secret_access_key: SecretBytes::from_slice(SECRET),
            session_token: Some("tok".into()),
        };
        let mut headers = vec![
            ("host".to_string(), "127.0.0.1:9".to_string()),
            ("content-type".to_string(), "application/x-amz-json-1.1".to_string()),
            ("x-amz-target".to_string(), "TrentService.Decrypt".to_string()),
        ];
        let body = br#"{"CiphertextBlob":"AA=="}"#;
        let added =
            sign(&creds, ("us-east-1", "kms"), 1_440_938_160, "POST", "/", &headers, body).unwrap();
        headers.extend(added);
        let auth = parse_authorization(header(&headers, "authorization").unwrap()).unwrap();
        assert_eq!(auth.access_key_id, AKID);
        assert_eq!(auth.scope.service, "kms");
        let payload = sha256_hex(body);
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            payload_sha256: &payload,
        };
        assert_eq!(verify(&auth, SECRET, &parts).unwrap(), 1_440_938_160);
        // Wrong secret, changed body, changed signed header: all fail.
        assert_eq!(verify(&auth, b"other", &parts), Err(SigV4Error::SignatureMismatch));
        let other = sha256_hex(b"{}");
        let p2 = RequestParts { payload_sha256: &other, ..parts.clone() };
        assert_eq!(verify(&auth, SECRET, &p2), Err(SigV4Error::SignatureMismatch));
        let mut h3 = headers.clone();
        h3[2].1 = "TrentService.Encrypt".into();
        let p3 = RequestParts { headers: &h3, ..parts.clone() };
        assert_eq!(verify(&auth, SECRET, &p3), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn parse_rejects_malformed() {
        assert_eq!(parse_authorization("AWS4-HMAC-SHA1 x"), Err(SigV4Error::UnsupportedAlgorithm));
        assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request").is_err());
        assert!(parse_authorization(
            "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=zz"
        )
        .is_err());
    }

    #[test]
    fn amz_date_round_trip() {
        assert_eq!(amz_date(1_440_938_160).unwrap(), DATE);
        assert_eq!(parse_amz_date(DATE).unwrap(), 1_440_938_160);
        assert!(parse_amz_date("20151330T123600Z").is_err());
        assert!(parse_amz_date("2015-08-30T12:36").is_err());
    }

    /// Fuzzer find: a 16-byte date with a two-byte character across a field
    /// boundary panicked on the byte slice instead of being refused.
    #[test]
    fn amz_date_with_multibyte_character_is_an_error() {
        let s = "20105280T120\u{43f}5Z";
        assert_eq!(s.len(), 16);
        assert!(matches!(parse_amz_date(s), Err(SigV4Error::BadDate(_))));
    }
}
