//! Full verification of a document: parse, chain, signature, time,
//! expectations. Every check is recorded; the verdict is derived.

use std::collections::BTreeMap;
use std::time::Duration;

use build_spec::pcr::Measurements;

/// The PCRs that measure the image (step 19): every expectation pins all three.
const IMAGE_PCRS: [u8; 3] = [0, 1, 2];
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::chain::{verify_chain, CertSummary, ChainCache, TrustAnchor};
use super::error::{AttestationError, ChainError, Position};
use super::parse::{parse_with, ParseOptions, ParsedDoc};
use super::time_fmt;
use checks::{Check, Checks, Verdict};

/// Clock skew tolerated before a document counts as "from the future".
pub const FUTURE_SKEW: Duration = Duration::from_secs(60);

/// The instant at which certificates must be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyAt {
    /// The document's own (signed) timestamp: audit of stored documents.
    #[default]
    Document,
    /// The wall clock: live verification.
    Now,
    /// A given instant, milliseconds since the epoch.
    Instant(i64),
}

/// What the document must contain. Each is optional and reported separately.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// Expected PCR values (every listed index must match).
    pub pcrs: Option<Measurements>,
    /// Expected `nonce`.
    pub nonce: Option<Vec<u8>>,
    /// Expected `user_data`.
    pub user_data: Option<Vec<u8>>,
    /// Expected `public_key`.
    pub public_key: Option<Vec<u8>>,
    /// Required `module_id` prefix.
    pub module_id_prefix: Option<String>,
}

/// Verification settings.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Trusted roots; `cabundle[0]` must equal one. Default: the embedded AWS root.
    pub roots: Vec<TrustAnchor>,
    /// Instant for certificate validity.
    pub at: VerifyAt,
    /// Maximum age relative to now (separate, optional check).
    pub max_age: Option<Duration>,
    /// Expected values.
    pub expect: Expectations,
    /// Accept debug-mode documents (reported as a warning).
    pub allow_debug: bool,
    /// Parser switches.
    pub parse: ParseOptions,
    /// The clock for `Now` and max-age, in ms; `None` = system clock.
    pub now_ms: Option<i64>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            roots: vec![TrustAnchor::aws_nitro_root_g1()],
            at: VerifyAt::Document,
            max_age: None,
            expect: Expectations::default(),
            allow_debug: false,
            parse: ParseOptions::default(),
            now_ms: None,
        }
    }
}

/// The decoded document, for reports. Present even when verification
/// fails: it is information for the auditor, never a verified value unless
/// the verdict is pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecodedDoc {
    /// `module_id`.
    pub module_id: String,
    /// `digest`.
    pub digest: String,
    /// `timestamp`, ms since the epoch.
    pub timestamp: u64,
    /// `timestamp` as RFC 3339.
    pub timestamp_utc: String,
    /// PCRs (all 48 bytes after parsing).
    #[serde(serialize_with = "ser_pcrs")]
    pub pcrs: Measurements,
    /// Leaf certificate DER.
    #[serde(serialize_with = "ser_hex")]
    pub certificate: Vec<u8>,
    /// CA bundle DER, root first.
    #[serde(serialize_with = "ser_hex_vec")]
    pub cabundle: Vec<Vec<u8>>,
    /// `public_key`.
    #[serde(serialize_with = "ser_hex_opt")]
    pub public_key: Option<Vec<u8>>,
    /// `user_data`.
    #[serde(serialize_with = "ser_hex_opt")]
    pub user_data: Option<Vec<u8>>,
    /// `nonce`.
    #[serde(serialize_with = "ser_hex_opt")]
    pub nonce: Option<Vec<u8>>,
    /// Whether the envelope was tagged (18).
    pub cose_tagged: bool,
    /// `definite` or `indefinite`.
    pub payload_map: &'static str,
}

fn ser_hex<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}
fn ser_hex_vec<S: serde::Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(hex::encode))
}
fn ser_hex_opt<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_str(&hex::encode(b)),
        None => s.serialize_none(),
    }
}
fn ser_pcrs<S: serde::Serializer>(v: &Measurements, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(v.pcrs.iter().map(|(k, v)| (k.to_string(), hex::encode(v))))
}
fn ser_errors<S: serde::Serializer>(v: &[AttestationError], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|e| e.to_string()))
}

impl DecodedDoc {
    fn from_parsed(p: &ParsedDoc) -> Self {
        let mut pcrs = Measurements::new();
        for (k, v) in &p.doc.pcrs {
            if let (Ok(i), Ok(val)) = (u8::try_from(*k), <[u8; 48]>::try_from(v.as_slice())) {
                pcrs.insert(i, val);
            }
        }
        Self {
            module_id: p.doc.module_id.clone(),
            digest: p.doc.digest.clone(),
            timestamp: p.doc.timestamp,
            timestamp_utc: time_fmt::millis(i64::try_from(p.doc.timestamp).unwrap_or(i64::MAX)),
            pcrs,
            certificate: p.doc.certificate.clone(),
            cabundle: p.doc.cabundle.clone(),
            public_key: p.doc.public_key.clone(),
            user_data: p.doc.user_data.clone(),
            nonce: p.doc.nonce.clone(),
            cose_tagged: p.tagged,
            payload_map: match p.map_style {
                crate::MapStyle::Definite => "definite",
                crate::MapStyle::Indefinite => "indefinite",
            },
        }
    }

    /// True when PCR0, PCR1 and PCR2 are all zero (debug-mode enclave).
    pub fn is_debug_mode(&self) -> bool {
        self.zero_image_pcrs().len() == 3
    }

    /// Which of PCR0, PCR1 and PCR2 are present and all zero (step 18
    /// refuses any of them zero, not only all three).
    pub fn zero_image_pcrs(&self) -> Vec<u8> {
        (0..3u8).filter(|i| self.pcrs.get(*i).is_some_and(|v| v.iter().all(|b| *b == 0))).collect()
    }
}

/// A trust root as stated in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootInfo {
    /// Label.
    pub label: String,
    /// SHA-256 hex.
    pub sha256: String,
}

/// The result of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct AttestationReport {
    /// SHA-256 of the input bytes (the document's identity; never use the
    /// signature as an id, `(r, n - s)` verifies too).
    pub input_sha256: String,
    /// Input length.
    pub input_len: usize,
    /// The instant certificates were checked at (RFC 3339), when known.
    pub verified_at: Option<String>,
    /// Where that instant came from: `document`, `now` or `instant`.
    pub verified_at_source: &'static str,
    /// Trusted roots used.
    pub trust_roots: Vec<RootInfo>,
    /// Every check.
    pub checks: Checks,
    /// Typed reasons for every failure.
    #[serde(serialize_with = "ser_errors")]
    pub errors: Vec<AttestationError>,
    /// The decoded document, when it parsed.
    pub doc: Option<DecodedDoc>,
    /// Certificates in path order (leaf first), when they parsed.
    pub chain: Vec<CertSummary>,
    /// Signature verifications actually computed (cache misses + COSE).
    pub signatures_computed: usize,
}

impl AttestationReport {
    /// The derived verdict.
    pub fn verdict(&self) -> Verdict {
        self.checks.verdict()
    }

    /// An unsigned QEMU `nitro-enclave` document, accepted in emulator mode
    /// (its chain check is the emulator WARN).
    pub fn is_emulator(&self) -> bool {
        self.checks
            .0
            .iter()
            .any(|c| c.id == "attestation.chain" && c.outcome == checks::Outcome::Warn)
    }

    /// True when the typed errors contain one matching `f`.
    pub fn has_error(&self, f: impl Fn(&AttestationError) -> bool) -> bool {
        self.errors.iter().any(f)
    }
}

/// Verifies a document with no cache.
pub fn verify(bytes: &[u8], opts: &VerifyOptions) -> AttestationReport {
    verify_with_cache(bytes, opts, None)
}

/// Verifies a document, reusing verified certificate pairs from `cache`.
pub fn verify_with_cache(
    bytes: &[u8],
    opts: &VerifyOptions,
    cache: Option<&ChainCache>,
) -> AttestationReport {
    let mut r = AttestationReport {
        input_sha256: hex::encode(Sha256::digest(bytes)),
        input_len: bytes.len(),
        verified_at: None,
        verified_at_source: match opts.at {
            VerifyAt::Document => "document",
            VerifyAt::Now => "now",
            VerifyAt::Instant(_) => "instant",
        },
        trust_roots: opts
            .roots
            .iter()
            .map(|a| RootInfo { label: a.label.clone(), sha256: a.sha256_hex() })
            .collect(),
        checks: Checks::new(),
        errors: Vec::new(),
        doc: None,
        chain: Vec::new(),
        signatures_computed: 0,
    };
    let parsed = match parse_with(bytes, opts.parse) {
        Ok(p) => {
            r.checks.push(Check::pass(
                "attestation.parse",
                format!(
                    "well-formed COSE_Sign1 ({}, {} payload map, ES384)",
                    if p.tagged { "tag 18" } else { "untagged" },
                    if p.map_style == crate::MapStyle::Definite {
                        "definite"
                    } else {
                        "indefinite"
                    }
                ),
            ));
            p
        }
        Err(e) => {
            r.checks.push(Check::fail("attestation.parse", e.to_string()));
            r.errors.push(e.into());
            return r;
        }
    };
    let decoded = DecodedDoc::from_parsed(&parsed);
    let now = || opts.now_ms.unwrap_or_else(time_fmt::now_ms);
    let ts_ms = i64::try_from(parsed.doc.timestamp).unwrap_or(i64::MAX);
    let at_ms = match opts.at {
        VerifyAt::Document => ts_ms,
        VerifyAt::Now => now(),
        VerifyAt::Instant(t) => t,
    };
    r.verified_at = Some(time_fmt::millis(at_ms));

    if parsed.emulator {
        // Only reachable with ParseOptions::emulator (--allow-emulator,
        // --accept-emulator-attestation). The chain, the COSE signature and
        // the leaf validity cannot be checked: there is nothing signed.
        // Every other check below runs as for a real document.
        r.checks.push(Check::warn("attestation.chain", super::error::EMULATOR_DOCUMENT));
    } else {
        verify_signed(&mut r, &parsed, &decoded, opts, cache, at_ms, ts_ms);
    }
    verify_claims(&mut r, &decoded, opts, now, ts_ms);
    r.doc = Some(decoded);
    r
}

/// Steps 12-15: certificate chain, COSE signature, timestamp in the leaf's
/// validity.
fn verify_signed(
    r: &mut AttestationReport,
    parsed: &super::parse::ParsedDoc,
    decoded: &DecodedDoc,
    opts: &VerifyOptions,
    cache: Option<&ChainCache>,
    at_ms: i64,
    ts_ms: i64,
) {
    // Chain (steps 12-13).
    let chain = verify_chain(
        &parsed.doc.certificate,
        &parsed.doc.cabundle,
        &opts.roots,
        at_ms.div_euclid(1000),
        cache,
    );
    r.signatures_computed += chain.signatures_computed;
    r.chain = chain.summaries.iter().map(|(_, s)| s.clone()).collect();
    let untrusted: Vec<&ChainError> =
        chain.errors.iter().filter(|e| matches!(e, ChainError::UntrustedRoot { .. })).collect();
    r.checks.push(if untrusted.is_empty() {
        Check::pass(
            "attestation.chain.root_pinned",
            format!(
                "cabundle[0] is a trusted root ({})",
                hex::encode(Sha256::digest(
                    parsed.doc.cabundle.first().map(Vec::as_slice).unwrap_or_default()
                ))
            ),
        )
    } else {
        Check::fail(
            "attestation.chain.root_pinned",
            untrusted.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "),
        )
    });
    let n = parsed.doc.cabundle.len();
    let positions = std::iter::once(Position::Leaf).chain((0..n).rev().map(Position::Bundle));
    for pos in positions {
        let errs: Vec<String> = chain
            .errors_for(pos)
            .filter(|e| !matches!(e, ChainError::UntrustedRoot { .. }))
            .map(|e| e.to_string())
            .collect();
        let id = format!("attestation.chain.{}", pos.role(n));
        r.checks.push(if errs.is_empty() {
            Check::pass(
                id,
                format!(
                    "{pos}: signature, names, constraints, key usage and validity at {} ok",
                    time_fmt::millis(at_ms)
                ),
            )
        } else {
            Check::fail(id, errs.join("; "))
        });
    }
    r.errors.extend(chain.errors.iter().cloned().map(AttestationError::Chain));

    // COSE signature (step 14) over the original bytes.
    match &chain.leaf_key {
        Some(key) => {
            r.signatures_computed += 1;
            let msg = crate::cose::sig_structure(&parsed.protected, &parsed.payload);
            let ok = key.verify_fixed(&msg, &parsed.signature);
            if ok {
                r.checks.push(Check::pass(
                    "attestation.cose.signature",
                    "ES384 signature over the received payload verifies with the leaf key",
                ));
            } else {
                r.checks.push(Check::fail(
                    "attestation.cose.signature",
                    AttestationError::CoseSignature.to_string(),
                ));
                r.errors.push(AttestationError::CoseSignature);
            }
        }
        None => {
            r.checks.push(Check::fail(
                "attestation.cose.signature",
                AttestationError::LeafKeyUnusable.to_string(),
            ));
            r.errors.push(AttestationError::LeafKeyUnusable);
        }
    }

    // Timestamp within leaf validity (step 15).
    match chain.leaf_validity {
        Some((nb, na)) => {
            let ts_s = ts_ms.div_euclid(1000);
            if ts_s >= nb && ts_s <= na {
                r.checks.push(Check::pass(
                    "attestation.timestamp.in_leaf_validity",
                    format!("timestamp {} within the leaf validity", decoded.timestamp_utc),
                ));
            } else {
                let e = AttestationError::TimestampOutsideLeaf {
                    timestamp: decoded.timestamp_utc.clone(),
                    not_before: time_fmt::secs(nb),
                    not_after: time_fmt::secs(na),
                };
                r.checks.push(Check::fail("attestation.timestamp.in_leaf_validity", e.to_string()));
                r.errors.push(e);
            }
        }
        None => r.checks.push(Check::fail(
            "attestation.timestamp.in_leaf_validity",
            "leaf certificate did not parse",
        )),
    }
}

/// Steps 16-21: freshness, debug mode, expectations.
fn verify_claims(
    r: &mut AttestationReport,
    decoded: &DecodedDoc,
    opts: &VerifyOptions,
    now: impl Fn() -> i64,
    ts_ms: i64,
) {
    // Freshness (step 16): only when asked for.
    if opts.max_age.is_some() || opts.at == VerifyAt::Now {
        let now = now();
        let ahead = i128::from(ts_ms) - i128::from(now);
        if ahead > FUTURE_SKEW.as_millis() as i128 {
            let e = AttestationError::FromFuture { ahead_ms: ahead };
            r.checks.push(Check::fail("attestation.freshness.not_future", e.to_string()));
            r.errors.push(e);
        } else {
            r.checks.push(Check::pass(
                "attestation.freshness.not_future",
                "timestamp is not in the future",
            ));
        }
    }
    match opts.max_age {
        Some(max) => {
            let age = i128::from(now()) - i128::from(ts_ms);
            if age <= max.as_millis() as i128 {
                r.checks.push(Check::pass(
                    "attestation.freshness.max_age",
                    format!("document is {age} ms old, within {} ms", max.as_millis()),
                ));
            } else {
                let e = AttestationError::TooOld { age_ms: age, max_ms: max.as_millis() };
                r.checks.push(Check::fail("attestation.freshness.max_age", e.to_string()));
                r.errors.push(e);
            }
        }
        None => r
            .checks
            .push(Check::skipped("attestation.freshness.max_age", "no maximum age requested")),
    }

    // Debug mode (step 18): PCR0, PCR1 or PCR2 all zero.
    let zero = decoded.zero_image_pcrs();
    if zero.is_empty() {
        r.checks.push(Check::pass(
            "attestation.debug_mode",
            "not a debug-mode enclave (PCR0/1/2 not all zero)",
        ));
    } else {
        let what = if zero.len() == 3 {
            "debug-mode enclave (PCR0/1/2 all zero)".to_owned()
        } else {
            let list: Vec<String> = zero.iter().map(|i| format!("PCR{i}")).collect();
            format!("{} all zero, as only a debug-mode enclave measures", list.join(", "))
        };
        if opts.allow_debug {
            r.checks.push(Check::warn(
                "attestation.debug_mode",
                format!("{what}, accepted because debug was explicitly allowed"),
            ));
        } else {
            r.checks.push(Check::fail(
                "attestation.debug_mode",
                if zero.len() == 3 { AttestationError::DebugMode.to_string() } else { what },
            ));
            r.errors.push(AttestationError::DebugMode);
        }
    }

    // PCR expectations (step 19-21).
    match &opts.expect.pcrs {
        Some(exp) => {
            // Step 19 compares PCR0 **and** PCR1 **and** PCR2: an expected
            // set without one of them would pass a document whose image it
            // does not pin, so their absence from the expectation fails.
            for i in IMAGE_PCRS {
                if exp.get(i).is_none() {
                    r.checks.push(Check::fail(
                        format!("attestation.pcr.{i}"),
                        format!(
                            "PCR{i} is not in the expected PCRs: PCR0, PCR1 and PCR2 must all \
                             be pinned (docs/formats/attestation.md §4 step 19)"
                        ),
                    ));
                    r.errors.push(AttestationError::ExpectedPcrMissing { index: i });
                }
            }
            for (i, want) in &exp.pcrs {
                let id = format!("attestation.pcr.{i}");
                match decoded.pcrs.get(*i) {
                    Some(got) if bool::from(got.ct_eq(want)) => {
                        r.checks.push(Check::pass(id, format!("PCR{i} = {}", hex::encode(want))))
                    }
                    Some(got) => {
                        r.checks.push(Check::mismatch(
                            id,
                            format!("PCR{i} differs"),
                            hex::encode(want),
                            hex::encode(got),
                        ));
                        r.errors.push(AttestationError::PcrMismatch { index: *i });
                    }
                    None => {
                        r.checks.push(Check::mismatch(
                            id,
                            format!("PCR{i} absent"),
                            hex::encode(want),
                            "absent",
                        ));
                        r.errors.push(AttestationError::PcrMissing { index: *i });
                    }
                }
            }
        }
        None => r.checks.push(Check::skipped("attestation.pcr", "no expected PCRs given")),
    }
    let other: Vec<u8> = decoded
        .pcrs
        .pcrs
        .iter()
        .filter(|(i, v)| !matches!(**i, 0..=4 | 8) && v.iter().any(|b| *b != 0))
        .map(|(i, _)| *i)
        .collect();
    if !other.is_empty() {
        r.checks.push(Check::warn(
            "attestation.pcr.other_nonzero",
            format!("non-zero PCRs outside 0-4 and 8: {other:?}"),
        ));
    }

    // Bindings (steps 23-25).
    bytes_expect(
        r,
        "attestation.nonce",
        "nonce",
        &opts.expect.nonce,
        &decoded.nonce,
        AttestationError::NonceMismatch,
    );
    bytes_expect(
        r,
        "attestation.user_data",
        "user_data",
        &opts.expect.user_data,
        &decoded.user_data,
        AttestationError::UserDataMismatch,
    );
    bytes_expect(
        r,
        "attestation.public_key",
        "public_key",
        &opts.expect.public_key,
        &decoded.public_key,
        AttestationError::PublicKeyMismatch,
    );
    match &opts.expect.module_id_prefix {
        Some(p) if decoded.module_id.starts_with(p.as_str()) => r.checks.push(Check::pass(
            "attestation.module_id",
            format!("module_id {} starts with {p}", decoded.module_id),
        )),
        Some(p) => {
            r.checks.push(Check::mismatch(
                "attestation.module_id",
                "module_id prefix differs",
                format!("{p}*"),
                decoded.module_id.clone(),
            ));
            r.errors.push(AttestationError::ModuleIdMismatch);
        }
        None => r.checks.push(Check::skipped("attestation.module_id", "no module_id prefix given")),
    }
}

fn bytes_expect(
    r: &mut AttestationReport,
    id: &str,
    field: &str,
    want: &Option<Vec<u8>>,
    got: &Option<Vec<u8>>,
    err: AttestationError,
) {
    match (want, got) {
        (None, _) => r.checks.push(Check::skipped(id, format!("no expected {field} given"))),
        (Some(w), Some(g))
            if w.len() == g.len() && bool::from(w.as_slice().ct_eq(g.as_slice())) =>
        {
            r.checks.push(Check::pass(id, format!("{field} matches ({} bytes)", w.len())))
        }
        (Some(w), g) => {
            r.checks.push(Check::mismatch(
                id,
                format!("{field} differs"),
                hex::encode(w),
                g.as_ref().map_or_else(|| "null".to_owned(), hex::encode),
            ));
            r.errors.push(err);
        }
    }
}

/// PCR values of a report as a map (index to lowercase hex), for renderers.
pub fn pcr_hex_map(m: &Measurements) -> BTreeMap<u8, String> {
    m.pcrs.iter().map(|(k, v)| (*k, hex::encode(v))).collect()
}
