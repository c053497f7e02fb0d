//! Strict parsing of a Nitro attestation document (COSE_Sign1 + payload).
//!
//! Steps 1–11 of the verification checklist: one CBOR item, optional tag 18,
//! a 4-array, protected header exactly `{1: -35}`, empty unprotected header,
//! 96-byte `r || s` with both scalars in range, and a payload map (definite or
//! indefinite) with exactly the AWS fields, no duplicates, nulls only for the
//! optional ones, every length bounded. No cryptography happens here.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::doc::{
    AttestationDoc, DIGEST_SHA384, MAX_CERT_LEN, MAX_OPTIONAL_LEN, MAX_PAYLOAD_LEN, MAX_PCR_INDEX,
};
use crate::MapStyle;

use super::error::{ParseError, ParseErrorKind as K};
use crate::cbor::decode::{Head, Major, Reader, SIMPLE_NULL};

/// Largest document accepted. Genuine ones are under 12 KiB (the NSM driver's
/// response buffer is 0x3000 bytes).
pub const MAX_DOCUMENT_LEN: usize = 16 * 1024;
/// Largest `cabundle` accepted (4 in every real document; AWS fixes no depth).
pub const MAX_CABUNDLE: usize = 8;
/// Longest `module_id` accepted (39 characters in real documents).
pub const MAX_MODULE_ID_LEN: usize = 256;
/// Longest `digest` text accepted.
const MAX_DIGEST_LEN: usize = 16;

/// Parser switches. The default is strict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Skip unknown payload keys instead of rejecting them (forward
    /// compatibility, as base/nitro-validator does). Off by default.
    pub allow_unknown_keys: bool,
    /// Accept QEMU's `nitro-enclave` documents (protected header `{1: -1}`,
    /// 64 zero bytes of signature): they are parsed with every other rule,
    /// and [`ParsedDoc::emulator`] is set so the verifier replaces the chain
    /// and signature checks with a warning. Off by default: then such a
    /// document is refused as [`K::EmulatorDocument`].
    pub emulator: bool,
}

/// A structurally valid document. Nothing about it is verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDoc {
    /// Whether the envelope carried tag 18.
    pub tagged: bool,
    /// The protected header bytes (content of the bstr).
    pub protected: Vec<u8>,
    /// The payload bytes exactly as received (the signature covers these).
    pub payload: Vec<u8>,
    /// Framing of the payload map.
    pub map_style: MapStyle,
    /// The 96-byte `r || s` signature (all zero for an emulator document).
    pub signature: [u8; 96],
    /// An unsigned emulator document (only with [`ParseOptions::emulator`]).
    pub emulator: bool,
    /// The decoded payload.
    pub doc: AttestationDoc,
}

/// Parses with the strict default options.
pub fn parse(bytes: &[u8]) -> Result<ParsedDoc, ParseError> {
    parse_with(bytes, ParseOptions::default())
}

fn wrong(field: &'static str, expected: &'static str, head: &Head) -> ParseError {
    ParseError {
        offset: head.offset,
        kind: K::WrongType { field, expected, found: head.major.name() },
    }
}

fn is_null(head: &Head) -> bool {
    head.major == Major::Simple && head.arg == Some(SIMPLE_NULL)
}

/// Parses a document.
pub fn parse_with(bytes: &[u8], opts: ParseOptions) -> Result<ParsedDoc, ParseError> {
    if bytes.len() > MAX_DOCUMENT_LEN {
        return Err(ParseError {
            offset: 0,
            kind: K::TooLarge { len: bytes.len(), max: MAX_DOCUMENT_LEN },
        });
    }
    let mut r = Reader::new(bytes, 0);
    let mut head = r.head()?;
    let mut tagged = false;
    if head.major == Major::Tag {
        let tag = head.arg.unwrap_or(0);
        if tag != crate::cose::TAG_COSE_SIGN1 {
            return Err(ParseError { offset: head.offset, kind: K::UnexpectedTag { tag } });
        }
        tagged = true;
        head = r.head()?;
    }
    if head.major != Major::Array {
        return Err(wrong("COSE_Sign1", "array", &head));
    }
    let indefinite = head.arg.is_none();
    if let Some(n) = head.arg {
        if n != 4 {
            return Err(ParseError {
                offset: head.offset,
                kind: K::EnvelopeLength { found: usize::try_from(n).unwrap_or(usize::MAX) },
            });
        }
    }

    // [0] protected
    let h = envelope_item(&mut r, indefinite, 0)?;
    if h.major != Major::Bytes {
        return Err(wrong("protected header", "byte string", &h));
    }
    let protected_off = r.offset();
    let protected = r.string_body(&h, 64, "protected header")?.into_owned();
    let emulator = protected == EMULATOR_PROTECTED;
    if emulator && !opts.emulator {
        return Err(ParseError { offset: protected_off, kind: K::EmulatorDocument });
    }
    if !emulator {
        check_protected(&protected, protected_off)?;
    }

    // [1] unprotected
    let h = envelope_item(&mut r, indefinite, 1)?;
    if h.major != Major::Map {
        return Err(wrong("unprotected header", "map", &h));
    }
    match h.arg {
        Some(0) => {}
        Some(n) => {
            return Err(ParseError {
                offset: h.offset,
                kind: K::UnprotectedNotEmpty { entries: usize::try_from(n).unwrap_or(usize::MAX) },
            })
        }
        None => {
            if !r.eat_break() {
                return Err(ParseError {
                    offset: h.offset,
                    kind: K::UnprotectedNotEmpty { entries: 1 },
                });
            }
        }
    }

    // [2] payload
    let h = envelope_item(&mut r, indefinite, 2)?;
    if h.major != Major::Bytes {
        if is_null(&h) {
            return Err(ParseError { offset: h.offset, kind: K::PayloadEmpty });
        }
        return Err(wrong("payload", "byte string", &h));
    }
    let payload_off = r.offset();
    let payload = r.string_body(&h, MAX_PAYLOAD_LEN, "payload")?.into_owned();
    if payload.is_empty() {
        return Err(ParseError { offset: h.offset, kind: K::PayloadEmpty });
    }

    // [3] signature
    let h = envelope_item(&mut r, indefinite, 3)?;
    if h.major != Major::Bytes {
        return Err(wrong("signature", "byte string", &h));
    }
    let sig_bytes = r.string_body(&h, 1024, "signature")?;
    let signature: [u8; 96] = if emulator {
        // QEMU writes 64 zero bytes; nothing else is an emulator document.
        if sig_bytes.len() != 64 || sig_bytes.iter().any(|&b| b != 0) {
            return Err(ParseError {
                offset: h.offset,
                kind: K::SignatureLength { len: sig_bytes.len() },
            });
        }
        [0u8; 96]
    } else {
        let s: [u8; 96] = sig_bytes.as_ref().try_into().map_err(|_| ParseError {
            offset: h.offset,
            kind: K::SignatureLength { len: sig_bytes.len() },
        })?;
        if p384::ecdsa::Signature::from_slice(&s).is_err() {
            return Err(ParseError { offset: h.offset, kind: K::SignatureScalar });
        }
        s
    };
    if indefinite && !r.eat_break() {
        return Err(r.err(K::EnvelopeLength { found: 5 }));
    }
    r.finish("COSE_Sign1")?;

    // The payload's own offsets are reported relative to the whole input.
    let (doc, map_style) = parse_payload(&payload, payload_off, opts)?;
    Ok(ParsedDoc { tagged, protected, payload, map_style, signature, emulator, doc })
}

/// The protected header of QEMU's emulated NSM: `{1: -1}` ("we don't
/// actually sign the data, so we use -1 as the 'alg' value").
pub const EMULATOR_PROTECTED: [u8; 3] = [0xa1, 0x01, 0x20];

fn envelope_item(r: &mut Reader<'_>, indefinite: bool, index: usize) -> Result<Head, ParseError> {
    if indefinite && r.peek() == Some(0xff) {
        return Err(r.err(K::EnvelopeLength { found: index }));
    }
    r.head()
}

/// The protected header must decode to exactly `{1: -35}`.
fn check_protected(bytes: &[u8], base: usize) -> Result<(), ParseError> {
    let bad = |reason| K::ProtectedHeader { reason };
    if bytes.is_empty() {
        return Err(ParseError { offset: base, kind: bad("empty (no alg)") });
    }
    let mut r = Reader::new(bytes, base);
    let h = r.head()?;
    if h.major != Major::Map {
        return Err(ParseError { offset: h.offset, kind: bad("not a map") });
    }
    if h.arg != Some(1) {
        // Indefinite maps would need a break; NSMs never emit one here, and
        // the header must hold exactly one entry anyway.
        return Err(ParseError { offset: h.offset, kind: bad("must hold exactly one entry") });
    }
    let k = r.head()?;
    if k.major != Major::Uint || k.arg != Some(1) {
        return Err(ParseError { offset: k.offset, kind: bad("the only label must be 1 (alg)") });
    }
    let v = r.head()?;
    if v.major != Major::Nint || v.arg != Some(34) {
        return Err(ParseError {
            offset: v.offset,
            kind: bad("alg must be the integer -35 (ES384)"),
        });
    }
    r.finish("protected header")
}

const KEYS: [&str; 9] = crate::doc::FIELD_ORDER;

#[derive(Default)]
struct Fields {
    module_id: Option<String>,
    digest: Option<String>,
    timestamp: Option<u64>,
    pcrs: Option<BTreeMap<u64, Vec<u8>>>,
    certificate: Option<Vec<u8>>,
    cabundle: Option<Vec<Vec<u8>>>,
    public_key: Option<Option<Vec<u8>>>,
    user_data: Option<Option<Vec<u8>>>,
    nonce: Option<Option<Vec<u8>>>,
}

fn parse_payload(
    payload: &[u8],
    base: usize,
    opts: ParseOptions,
) -> Result<(AttestationDoc, MapStyle), ParseError> {
    let mut r = Reader::new(payload, base);
    let h = r.head()?;
    if h.major != Major::Map {
        return Err(wrong("payload", "map", &h));
    }
    let (style, count) = match h.arg {
        Some(n) => (MapStyle::Definite, Some(n)),
        None => (MapStyle::Indefinite, None),
    };
    let mut seen = [false; 9];
    let mut unknown_seen: Vec<String> = Vec::new();
    let mut f = Fields::default();
    let mut i = 0u64;
    loop {
        match count {
            Some(n) if i >= n => break,
            None if r.eat_break() => break,
            _ => {}
        }
        i = i.saturating_add(1);
        let kh = r.head()?;
        if kh.major != Major::Text {
            return Err(ParseError {
                offset: kh.offset,
                kind: K::NonTextKey { found: kh.major.name() },
            });
        }
        let key_bytes = r.string_body(&kh, 64, "payload key")?;
        let key = std::str::from_utf8(&key_bytes)
            .map_err(|_| ParseError {
                offset: kh.offset,
                kind: K::InvalidUtf8 { field: "payload key" },
            })?
            .to_owned();
        let Some(idx) = KEYS.iter().position(|k| *k == key) else {
            if !opts.allow_unknown_keys {
                return Err(ParseError { offset: kh.offset, kind: K::UnknownKey { key } });
            }
            if unknown_seen.contains(&key) {
                return Err(ParseError { offset: kh.offset, kind: K::DuplicateKey { key } });
            }
            unknown_seen.push(key);
            r.skip(1)?;
            continue;
        };
        let (Some(slot), Some(field)) = (seen.get_mut(idx), KEYS.get(idx).copied()) else {
            return Err(ParseError { offset: kh.offset, kind: K::UnknownKey { key } });
        };
        if std::mem::replace(slot, true) {
            return Err(ParseError { offset: kh.offset, kind: K::DuplicateKey { key } });
        }
        let vh = r.head()?;
        match idx {
            0 => f.module_id = Some(text_field(&mut r, &vh, field, MAX_MODULE_ID_LEN)?),
            1 => f.digest = Some(text_field(&mut r, &vh, field, MAX_DIGEST_LEN)?),
            2 => {
                mandatory(&vh, field)?;
                if vh.major != Major::Uint {
                    return Err(wrong(field, "unsigned integer", &vh));
                }
                f.timestamp = vh.arg;
            }
            3 => f.pcrs = Some(pcrs(&mut r, &vh)?),
            4 => f.certificate = Some(cert_field(&mut r, &vh, field)?),
            5 => f.cabundle = Some(cabundle(&mut r, &vh)?),
            6 => f.public_key = Some(optional_bytes(&mut r, &vh, field)?),
            7 => f.user_data = Some(optional_bytes(&mut r, &vh, field)?),
            _ => f.nonce = Some(optional_bytes(&mut r, &vh, field)?),
        }
    }
    r.finish("payload")?;

    let missing =
        |field: &'static str| ParseError { offset: base, kind: K::MissingField { field } };
    let module_id = f.module_id.ok_or_else(|| missing("module_id"))?;
    if module_id.is_empty() {
        return Err(ParseError { offset: base, kind: K::EmptyModuleId });
    }
    let digest = f.digest.ok_or_else(|| missing("digest"))?;
    if digest != DIGEST_SHA384 {
        return Err(ParseError { offset: base, kind: K::Digest { found: digest } });
    }
    let timestamp = f.timestamp.ok_or_else(|| missing("timestamp"))?;
    if timestamp == 0 {
        return Err(ParseError { offset: base, kind: K::TimestampZero });
    }
    let doc = AttestationDoc {
        module_id,
        digest,
        timestamp,
        pcrs: f.pcrs.ok_or_else(|| missing("pcrs"))?,
        certificate: f.certificate.ok_or_else(|| missing("certificate"))?,
        cabundle: f.cabundle.ok_or_else(|| missing("cabundle"))?,
        public_key: f.public_key.ok_or_else(|| missing("public_key"))?,
        user_data: f.user_data.ok_or_else(|| missing("user_data"))?,
        nonce: f.nonce.ok_or_else(|| missing("nonce"))?,
    };
    Ok((doc, style))
}

fn mandatory(h: &Head, field: &'static str) -> Result<(), ParseError> {
    if is_null(h) {
        Err(ParseError { offset: h.offset, kind: K::NullField { field } })
    } else {
        Ok(())
    }
}

fn text_field(
    r: &mut Reader<'_>,
    h: &Head,
    field: &'static str,
    max: usize,
) -> Result<String, ParseError> {
    mandatory(h, field)?;
    if h.major != Major::Text {
        return Err(wrong(field, "text string", h));
    }
    let b = r.string_body(h, max, field)?;
    String::from_utf8(b.into_owned())
        .map_err(|_| ParseError { offset: h.offset, kind: K::InvalidUtf8 { field } })
}

fn cert_field(r: &mut Reader<'_>, h: &Head, field: &'static str) -> Result<Vec<u8>, ParseError> {
    mandatory(h, field)?;
    if h.major != Major::Bytes {
        return Err(wrong(field, "byte string", h));
    }
    let b = r.string_body(h, MAX_CERT_LEN, field)?.into_owned();
    if b.is_empty() {
        return Err(ParseError { offset: h.offset, kind: K::EmptyCertificate { field } });
    }
    Ok(b)
}

fn optional_bytes(
    r: &mut Reader<'_>,
    h: &Head,
    field: &'static str,
) -> Result<Option<Vec<u8>>, ParseError> {
    if is_null(h) {
        return Ok(None);
    }
    if h.major != Major::Bytes {
        return Err(wrong(field, "byte string or null", h));
    }
    Ok(Some(r.string_body(h, MAX_OPTIONAL_LEN, field)?.into_owned()))
}

fn pcrs(r: &mut Reader<'_>, h: &Head) -> Result<BTreeMap<u64, Vec<u8>>, ParseError> {
    mandatory(h, "pcrs")?;
    if h.major != Major::Map {
        return Err(wrong("pcrs", "map", h));
    }
    let max = usize::from(build_spec::pcr::measurements::MAX_PCR_INDEX) + 1;
    if let Some(n) = h.arg {
        if n == 0 || n > max as u64 {
            return Err(ParseError {
                offset: h.offset,
                kind: K::PcrCount { count: usize::try_from(n).unwrap_or(usize::MAX) },
            });
        }
    }
    let mut out = BTreeMap::new();
    let mut i = 0u64;
    loop {
        match h.arg {
            Some(n) if i >= n => break,
            None if r.eat_break() => break,
            _ => {}
        }
        i = i.saturating_add(1);
        if out.len() >= max {
            return Err(ParseError {
                offset: h.offset,
                kind: K::PcrCount { count: out.len().saturating_add(1) },
            });
        }
        let kh = r.head()?;
        if kh.major != Major::Uint {
            return Err(wrong("PCR index", "unsigned integer", &kh));
        }
        let index = kh.arg.unwrap_or(u64::MAX);
        if index > MAX_PCR_INDEX {
            return Err(ParseError { offset: kh.offset, kind: K::PcrIndex { index } });
        }
        let vh = r.head()?;
        if vh.major != Major::Bytes {
            return Err(wrong("PCR value", "byte string", &vh));
        }
        let v = r.string_body(&vh, 64, "PCR value")?;
        if v.len() != 48 {
            return Err(ParseError {
                offset: vh.offset,
                kind: K::PcrLength { index, len: v.len() },
            });
        }
        if out.insert(index, v.into_owned()).is_some() {
            return Err(ParseError {
                offset: kh.offset,
                kind: K::DuplicateKey { key: format!("PCR{index}") },
            });
        }
    }
    if out.is_empty() {
        return Err(ParseError { offset: h.offset, kind: K::PcrCount { count: 0 } });
    }
    Ok(out)
}

fn cabundle(r: &mut Reader<'_>, h: &Head) -> Result<Vec<Vec<u8>>, ParseError> {
    mandatory(h, "cabundle")?;
    if h.major != Major::Array {
        return Err(wrong("cabundle", "array", h));
    }
    if let Some(n) = h.arg {
        if n == 0 || n > MAX_CABUNDLE as u64 {
            return Err(ParseError {
                offset: h.offset,
                kind: K::CabundleCount {
                    count: usize::try_from(n).unwrap_or(usize::MAX),
                    max: MAX_CABUNDLE,
                },
            });
        }
    }
    let mut out = Vec::new();
    let mut i = 0u64;
    loop {
        match h.arg {
            Some(n) if i >= n => break,
            None if r.eat_break() => break,
            _ => {}
        }
        i = i.saturating_add(1);
        if out.len() >= MAX_CABUNDLE {
            return Err(ParseError {
                offset: h.offset,
                kind: K::CabundleCount { count: out.len().saturating_add(1), max: MAX_CABUNDLE },
            });
        }
        let eh = r.head()?;
        out.push(cert_field(r, &eh, "cabundle entry")?);
    }
    if out.is_empty() {
        return Err(ParseError {
            offset: h.offset,
            kind: K::CabundleCount { count: 0, max: MAX_CABUNDLE },
        });
    }
    Ok(out)
}
