//! CloudTrail log file integrity: digest files (`docs/notes/cloudtrail.md` §7).
//!
//! Each hour CloudTrail delivers a digest file listing the log files it
//! delivered (their SHA-256 over the uncompressed content), the hash and
//! signature of the previous digest, and its own time range. Its own
//! signature (SHA256withRSA) is stored in the object's metadata
//! (`x-amz-meta-signature`), not in the file; the next digest repeats it as
//! `previousDigestSignature`. The signed string is
//! `digestEndTime \n bucket/object \n hex(SHA-256(uncompressed digest)) \n
//! previousDigestSignature` (the literal `null` for the first digest).
//!
//! So a chain of digests proves, for the hours it covers, that the log files
//! it lists are unchanged and that none is missing, provided the newest
//! digest's signature is known (a sidecar `<digest>.sig` holding the
//! metadata value in hex) and the public keys are the trail's (given by the
//! user, e.g. from `aws cloudtrail list-public-keys`).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::signature::Verifier as _;
use rsa::RsaPublicKey;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::record::{format_time, parse_time};

/// Largest digest file (uncompressed) read.
pub const MAX_DIGEST_BYTES: u64 = 64 * 1024 * 1024;
/// Largest public key or signature file read.
const MAX_SMALL_FILE: u64 = 64 * 1024;

/// Why a digest file or key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// Reading failed (including a broken gzip stream).
    #[error("{file}: cannot read: {message}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// Larger than the limit.
    #[error("{file}: larger than {limit} bytes")]
    TooLarge {
        /// The file.
        file: String,
        /// The limit.
        limit: u64,
    },
    /// Not a digest file.
    #[error("{file}: not a CloudTrail digest file: {message}")]
    Malformed {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// A public key that is not an RSA key in PEM, DER or base64 DER.
    #[error(
        "{file}: not an RSA public key (PEM, DER, or base64 DER as list-public-keys gives it)"
    )]
    BadKey {
        /// The file.
        file: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    s3_object: String,
    hash_value: String,
    #[serde(default)]
    hash_algorithm: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDigest {
    digest_start_time: String,
    digest_end_time: String,
    digest_s3_bucket: String,
    digest_s3_object: String,
    #[serde(default)]
    digest_public_key_fingerprint: Option<String>,
    #[serde(default)]
    digest_signature_algorithm: Option<String>,
    #[serde(default)]
    previous_digest_s3_object: Option<String>,
    #[serde(default)]
    previous_digest_hash_value: Option<String>,
    #[serde(default)]
    previous_digest_signature: Option<String>,
    #[serde(default)]
    log_files: Vec<RawLog>,
}

/// One digest file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// `digestStartTime`, Unix seconds.
    pub start: i64,
    /// `digestEndTime`, Unix seconds.
    pub end: i64,
    /// `digestEndTime` as written (it is signed as written).
    pub end_text: String,
    /// `digestS3Bucket/digestS3Object`.
    pub s3_path: String,
    /// `digestS3Object`.
    pub s3_object: String,
    /// `digestPublicKeyFingerprint`.
    pub fingerprint: Option<String>,
    /// `previousDigestS3Object`.
    pub previous_object: Option<String>,
    /// `previousDigestHashValue` (hex).
    pub previous_hash: Option<String>,
    /// `previousDigestSignature` (hex), `None` for the first digest.
    pub previous_signature: Option<String>,
    /// Listed log files: file name to hex SHA-256 of the uncompressed content.
    pub logs: BTreeMap<String, String>,
    /// SHA-256 of this digest's uncompressed content.
    pub sha256: [u8; 32],
    /// Its own signature (hex), from a sidecar `<path>.sig`, if any.
    pub sidecar_signature: Option<String>,
}

fn name_of(s3_object: &str) -> String {
    s3_object.rsplit('/').next().unwrap_or(s3_object).to_string()
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, DigestError> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path)
        .map_err(|e| DigestError::Read { file: file.clone(), message: e.to_string() })?;
    let mut head = [0u8; 2];
    let mut raw = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut raw)
        .map_err(|e| DigestError::Read { file: file.clone(), message: e.to_string() })?;
    head.copy_from_slice(raw.get(..2).unwrap_or(&[0, 0]));
    let data = if head == [0x1f, 0x8b] {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| DigestError::Read { file: file.clone(), message: e.to_string() })?;
        out
    } else {
        raw
    };
    if data.len() as u64 > limit {
        return Err(DigestError::TooLarge { file, limit });
    }
    Ok(data)
}

/// Reads one digest file (gzip or plain) and its sidecar signature.
pub fn read_digest(path: &Path) -> Result<DigestFile, DigestError> {
    let data = read_bounded(path, MAX_DIGEST_BYTES)?;
    let mut d = parse_digest(path, &data)?;
    let sig_path = PathBuf::from(format!("{}.sig", path.display()));
    if std::fs::metadata(&sig_path).is_ok() {
        d.sidecar_signature = Some(
            String::from_utf8_lossy(&read_bounded(&sig_path, MAX_SMALL_FILE)?)
                .trim()
                .to_ascii_lowercase(),
        );
    }
    Ok(d)
}

/// Parses the uncompressed bytes of a digest file read from `path`.
pub fn parse_digest(path: &Path, data: &[u8]) -> Result<DigestFile, DigestError> {
    let file = path.display().to_string();
    if data.len() as u64 > MAX_DIGEST_BYTES {
        return Err(DigestError::TooLarge { file, limit: MAX_DIGEST_BYTES });
    }
    let bad = |message: String| DigestError::Malformed { file: file.clone(), message };
    let raw: RawDigest = serde_json::from_slice(data).map_err(|e| bad(e.to_string()))?;
    let start = parse_time(&raw.digest_start_time).map_err(|e| bad(e.to_string()))?;
    let end = parse_time(&raw.digest_end_time).map_err(|e| bad(e.to_string()))?;
    if let Some(a) = raw.digest_signature_algorithm.as_deref().filter(|a| *a != "SHA256withRSA") {
        return Err(bad(format!("signature algorithm {a} is not SHA256withRSA")));
    }
    let mut logs = BTreeMap::new();
    for l in raw.log_files {
        if l.hash_algorithm.as_deref().is_some_and(|a| a != "SHA-256") {
            return Err(bad(format!(
                "log file hash algorithm {:?} is not SHA-256",
                l.hash_algorithm
            )));
        }
        logs.insert(name_of(&l.s3_object), l.hash_value.to_ascii_lowercase());
    }
    Ok(DigestFile {
        path: path.to_path_buf(),
        start,
        end,
        end_text: raw.digest_end_time,
        s3_path: format!("{}/{}", raw.digest_s3_bucket, raw.digest_s3_object),
        s3_object: raw.digest_s3_object,
        fingerprint: raw.digest_public_key_fingerprint,
        previous_object: raw.previous_digest_s3_object,
        previous_hash: raw.previous_digest_hash_value.map(|h| h.to_ascii_lowercase()),
        previous_signature: raw.previous_digest_signature.map(|s| s.to_ascii_lowercase()),
        logs,
        sha256: Sha256::digest(data).into(),
        sidecar_signature: None,
    })
}

/// The string CloudTrail signs for a digest.
pub fn signing_string(d: &DigestFile) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        d.end_text,
        d.s3_path,
        hex::encode(d.sha256),
        d.previous_signature.as_deref().unwrap_or("null")
    )
}

/// Reads an RSA public key: PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), DER
/// (SubjectPublicKeyInfo or PKCS#1), or base64 of DER (`list-public-keys`).
pub fn read_public_key(path: &Path) -> Result<RsaPublicKey, DigestError> {
    use base64::Engine as _;
    let file = path.display().to_string();
    let raw = read_bounded(path, MAX_SMALL_FILE)?;
    let text = String::from_utf8_lossy(&raw);
    let der = if text.contains("-----BEGIN") {
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()
    } else if raw.first() == Some(&0x30) {
        Some(raw.clone())
    } else {
        base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
    };
    let der = der.ok_or(DigestError::BadKey { file: file.clone() })?;
    RsaPublicKey::from_public_key_der(&der)
        .or_else(|_| RsaPublicKey::from_pkcs1_der(&der))
        .map_err(|_| DigestError::BadKey { file })
}

/// Whether `sig_hex` is a valid SHA256withRSA signature of the digest under
/// one of `keys`.
pub fn signature_valid(d: &DigestFile, sig_hex: &str, keys: &[RsaPublicKey]) -> bool {
    let Ok(sig) = hex::decode(sig_hex) else { return false };
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig.as_slice()) else { return false };
    let msg = signing_string(d);
    keys.iter().any(|k| {
        rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone()).verify(msg.as_bytes(), &sig).is_ok()
    })
}

/// What the digest chain proves about the log files read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Digests whose signature verified.
    pub signed: usize,
    /// Problems that make the logs untrustworthy (bad signature, broken
    /// chain, a changed or missing log file).
    pub failures: Vec<String>,
    /// What cannot be decided (a digest without a known signature, a log
    /// file no digest lists, hours between digests).
    pub undecided: Vec<String>,
    /// The time the chain covers without a gap, when there is one chain.
    pub covered: Option<(i64, i64)>,
}

/// Checks a set of digests against each other, the keys, and the log files
/// read (file name to SHA-256 of the uncompressed content).
pub fn verify(
    digests: &[DigestFile],
    keys: &[RsaPublicKey],
    logs_read: &HashMap<String, [u8; 32]>,
) -> Integrity {
    let mut out = Integrity::default();
    let mut ds: Vec<&DigestFile> = digests.iter().collect();
    ds.sort_by_key(|d| (d.end, d.s3_object.clone()));
    let mut listed: HashMap<&str, &str> = HashMap::new();
    for (i, d) in ds.iter().enumerate() {
        let name = d.path.display();
        // As aws-cli's validate-logs: a digest must be where CloudTrail put
        // it (its signature covers digestS3Object, not the place it is read
        // from). Locally the file name is compared; a gunzipped copy may
        // drop `.gz`.
        let file = d.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let object = name_of(&d.s3_object);
        if file != object && Some(file.as_str()) != object.strip_suffix(".gz") {
            out.failures.push(format!(
                "{name}: its digestS3Object is {object}: the digest was moved from where CloudTrail delivered it"
            ));
        }
        // Its signature: from the next digest of the chain, else the sidecar.
        let next =
            ds.get(i + 1).filter(|n| n.previous_object.as_deref() == Some(d.s3_object.as_str()));
        let sig =
            next.and_then(|n| n.previous_signature.clone()).or_else(|| d.sidecar_signature.clone());
        match sig {
            Some(s) if signature_valid(d, &s, keys) => out.signed += 1,
            Some(_) => out.failures.push(format!(
                "{name}: the signature does not verify under the public key(s) given (digest key fingerprint {})",
                d.fingerprint.as_deref().unwrap_or("?")
            )),
            None => out.undecided.push(format!(
                "{name}: its signature is unknown (no later digest and no {name}.sig with the x-amz-meta-signature value)"
            )),
        }
        if let Some(n) = ds.get(i + 1) {
            if n.previous_object.as_deref() != Some(d.s3_object.as_str()) {
                out.failures.push(format!(
                    "{}: previousDigestS3Object is {:?}, not the preceding digest {}",
                    n.path.display(),
                    n.previous_object,
                    d.s3_object
                ));
            } else if n.previous_hash.as_deref() != Some(hex::encode(d.sha256).as_str()) {
                out.failures.push(format!(
                    "{}: previousDigestHashValue does not match the SHA-256 of {name}",
                    n.path.display()
                ));
            }
            if n.start > d.end {
                out.undecided.push(format!(
                    "no digest covers {} to {}",
                    format_time(d.end),
                    format_time(n.start)
                ));
            }
        }
        for (file, hash) in &d.logs {
            listed.insert(file, hash);
            match logs_read.get(file) {
                Some(h) if hex::encode(h) == *hash => {}
                Some(_) => out.failures.push(format!(
                    "{file}: its SHA-256 differs from the one {name} lists (changed)"
                )),
                None => out.failures.push(format!(
                    "{file}: listed by {name} but not among the files read (missing)"
                )),
            }
        }
    }
    for file in logs_read.keys() {
        if !listed.contains_key(file.as_str()) {
            out.undecided.push(format!("{file}: no digest lists it (integrity unknown)"));
        }
    }
    out.undecided.sort();
    let gapless = out.undecided.iter().all(|u| !u.starts_with("no digest covers"));
    if let (Some(first), Some(last)) = (ds.first(), ds.last()) {
        if gapless {
            out.covered = Some((first.start, last.end));
        }
    }
    out
}

/// The file name a log file is listed under in digests.
pub fn log_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

/// A digest file written by [`write_digest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDigest {
    /// Where it was written.
    pub path: PathBuf,
    /// `digestS3Object` (the path under the root).
    pub s3_object: String,
    /// Hex SHA-256 of the uncompressed digest (the next digest's
    /// `previousDigestHashValue`).
    pub sha256: String,
    /// Its signature, hex (the `x-amz-meta-signature` value, also in the
    /// sidecar `<path>.sig`, and the next digest's `previousDigestSignature`).
    pub signature: String,
}

/// What a digest covers and how it is signed.
#[derive(Debug, Clone, Copy)]
pub struct DigestSpec<'a> {
    /// The delivery root (the local copy of the bucket).
    pub root: &'a Path,
    /// The bucket's name (`digestS3Bucket`, `s3Bucket` of the log files).
    pub bucket: &'a str,
    /// Account id.
    pub account: &'a str,
    /// Region.
    pub region: &'a str,
    /// Trail name.
    pub trail: &'a str,
    /// `digestStartTime`, Unix seconds.
    pub start: i64,
    /// `digestEndTime`, Unix seconds.
    pub end: i64,
}

/// The fingerprint this crate writes as `digestPublicKeyFingerprint`: hex of
/// the first 16 bytes of SHA-256 of the PKCS#1 DER public key (AWS's own
/// fingerprints are 32 hex digits too; they only name the key).
pub fn fingerprint(key: &RsaPublicKey) -> String {
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    let der = key.to_pkcs1_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
    hex::encode(Sha256::digest(&der).get(..16).unwrap_or(&[]))
}

/// Writes one digest file as CloudTrail delivers it (gzip JSON under
/// `AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<region>_<YYYYMMDDTHHMMSSZ>.json.gz`),
/// listing `logs` (files under `spec.root`) with the SHA-256 of their
/// uncompressed content, chained to `previous` and signed (SHA256withRSA
/// over [`signing_string`]) with `key`; the signature also goes to
/// `<path>.sig`. For test trails and `proofpack-kms-local`-style setups.
pub fn write_digest(
    spec: &DigestSpec<'_>,
    logs: &[PathBuf],
    previous: Option<&WrittenDigest>,
    key: &rsa::RsaPrivateKey,
) -> Result<WrittenDigest, DigestError> {
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    use std::io::Write as _;
    let io = |p: &Path, e: String| DigestError::Read { file: p.display().to_string(), message: e };
    let t = time::OffsetDateTime::from_unix_timestamp(spec.end)
        .map_err(|e| io(spec.root, e.to_string()))?;
    let stamp = format_time(spec.end).replace(['-', ':'], "");
    let s3_object = format!(
        "AWSLogs/{a}/CloudTrail-Digest/{r}/{:04}/{:02}/{:02}/{a}_CloudTrail-Digest_{r}_{n}_{r}_{stamp}.json.gz",
        t.year(),
        u8::from(t.month()),
        t.day(),
        a = spec.account,
        r = spec.region,
        n = spec.trail,
    );
    let mut listed = Vec::new();
    for p in logs {
        let s =
            crate::read::read_file_hashed(p, true, &mut |_| std::ops::ControlFlow::Continue(()))
                .map_err(|e| io(p, e.to_string()))?;
        let rel = p.strip_prefix(spec.root).unwrap_or(p);
        listed.push(serde_json::json!({
            "s3Bucket": spec.bucket,
            "s3Object": rel.to_string_lossy(),
            "hashValue": hex::encode(s.sha256.unwrap_or_default()),
            "hashAlgorithm": "SHA-256",
            "newestEventTime": format_time(spec.end),
            "oldestEventTime": format_time(spec.start),
        }));
    }
    let public = RsaPublicKey::from(key);
    let mut v = serde_json::json!({
        "awsAccountId": spec.account,
        "digestStartTime": format_time(spec.start),
        "digestEndTime": format_time(spec.end),
        "digestS3Bucket": spec.bucket,
        "digestS3Object": s3_object,
        "digestPublicKeyFingerprint": fingerprint(&public),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": format_time(spec.end),
        "oldestEventTime": format_time(spec.start),
        "previousDigestSignature": serde_json::Value::Null,
        "logFiles": listed,
    });
    if let Some(p) = previous {
        v["previousDigestS3Bucket"] = spec.bucket.into();
        v["previousDigestS3Object"] = p.s3_object.clone().into();
        v["previousDigestHashValue"] = p.sha256.clone().into();
        v["previousDigestHashAlgorithm"] = "SHA-256".into();
        v["previousDigestSignature"] = p.signature.clone().into();
    }
    let body = v.to_string();
    let path = spec.root.join(&s3_object);
    let d = parse_digest(&path, body.as_bytes())?;
    let sk = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    let signature = hex::encode(sk.sign(signing_string(&d).as_bytes()).to_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).map_err(|e| io(&path, e.to_string()))?;
    let gz = gz.finish().map_err(|e| io(&path, e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e.to_string()))?;
    }
    std::fs::write(&path, gz).map_err(|e| io(&path, e.to_string()))?;
    let sig_path = PathBuf::from(format!("{}.sig", path.display()));
    std::fs::write(&sig_path, &signature).map_err(|e| io(&sig_path, e.to_string()))?;
    Ok(WrittenDigest { path, s3_object, sha256: hex::encode(d.sha256), signature })
}
