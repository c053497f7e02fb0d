//! Opening KMS `CiphertextForRecipient`: a BER-encoded CMS EnvelopedData
//! (RFC 5652) with one KeyTransRecipientInfo whose content-encryption key is
//! wrapped with RSAES-OAEP (SHA-256, MGF1-SHA-256) to the enclave's per-job
//! RSA key, and content encrypted with AES-256-CBC (docs/formats/attestation.md §7).
//!
//! Hand-written on purpose: KMS sends **BER** (indefinite lengths and
//! constructed OCTET STRINGs are allowed there, as the AWS Nitro Enclaves
//! SDK's own parser assumes), while the RustCrypto `cms` crate decodes DER
//! only. The reader below is a small bounded TLV walker that accepts both and
//! reads only the fields needed to decrypt, on the workspace's one byte
//! cursor ([`build_spec::codec::Reader`]).

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use build_spec::codec::Reader;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

/// Largest CMS blob accepted.
pub const MAX_CMS: usize = 64 * 1024;
const MAX_DEPTH: usize = 32;

const OID_ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
const OID_RSAES_OAEP: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07];
const OID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
const OID_P_SPECIFIED: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x09];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

/// Errors opening a CMS EnvelopedData.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmsError {
    /// Larger than [`MAX_CMS`].
    #[error("CMS blob is {0} bytes, more than {MAX_CMS}")]
    TooLarge(usize),
    /// BER framing error at a byte offset.
    #[error("malformed BER at offset {offset}: {problem}")]
    Ber {
        /// Offset into the blob.
        offset: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The structure is not the expected EnvelopedData shape.
    #[error("unexpected CMS structure: {0}")]
    Structure(&'static str),
    /// An algorithm other than RSAES-OAEP-SHA-256 / AES-256-CBC.
    #[error("unsupported CMS algorithm: {0}")]
    Algorithm(&'static str),
    /// No recipient info could be decrypted with our key (one generic error).
    #[error("no CMS recipient info decrypts with the job key")]
    KeyUnwrap,
    /// Content decryption or padding failed.
    #[error("CMS content decryption failed")]
    Content,
}

/// One BER element: its tag byte and content bytes (for an indefinite
/// length: the children, without the end-of-contents marker).
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
    /// Offset of `body` in the whole blob (for error messages).
    at: usize,
}

impl Tlv<'_> {
    fn constructed(&self) -> bool {
        self.tag & 0x20 != 0
    }
}

fn ber(offset: usize, problem: &'static str) -> CmsError {
    CmsError::Ber { offset, problem }
}

/// Reads one element from `input` (which starts at blob offset `base`);
/// returns it and the number of bytes it used.
fn read_tlv(input: &[u8], base: usize, depth: usize) -> Result<(Tlv<'_>, usize), CmsError> {
    if depth > MAX_DEPTH {
        return Err(ber(base, "nested too deeply"));
    }
    let mut r = Reader::with_base(input, base);
    let tag = r.u8().map_err(|_| ber(base, "unexpected end"))?;
    if tag & 0x1f == 0x1f {
        return Err(ber(base, "multi-byte tags are not used by CMS EnvelopedData"));
    }
    let len_at = r.offset();
    let l0 = r.u8().map_err(|_| ber(len_at, "missing length"))?;
    if l0 == 0x80 {
        if tag & 0x20 == 0 {
            return Err(ber(base, "indefinite length on a primitive element"));
        }
        // Children until the end-of-contents marker 00 00.
        let start = r.position();
        let at = r.offset();
        loop {
            let rest = r.rest();
            if rest.starts_with(&[0, 0]) {
                let body = input.get(start..r.position()).unwrap_or_default();
                r.skip(2).map_err(|_| ber(r.offset(), "missing end-of-contents"))?;
                return Ok((Tlv { tag, body, at }, r.position()));
            }
            if rest.is_empty() {
                return Err(ber(r.offset(), "missing end-of-contents"));
            }
            let (_, used) = read_tlv(rest, r.offset(), depth.saturating_add(1))?;
            r.skip(used).map_err(|_| ber(r.offset(), "element longer than its container"))?;
        }
    }
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n > 4 {
            return Err(ber(len_at, "length of length too large"));
        }
        let bytes = r.take(n).map_err(|_| ber(len_at, "truncated length"))?;
        // At most 4 bytes: the shifts cannot lose bits of a u64.
        let v = bytes.iter().fold(0u64, |acc, b| acc.wrapping_shl(8) | u64::from(*b));
        usize::try_from(v).map_err(|_| ber(base, "length overflow"))?
    };
    if r.position().checked_add(len).is_none() {
        return Err(ber(base, "length overflow"));
    }
    let at = r.offset();
    let body = r.take(len).map_err(|_| ber(base, "element longer than its container"))?;
    Ok((Tlv { tag, body, at }, r.position()))
}

/// The children of a constructed element.
fn children(t: Tlv<'_>, depth: usize) -> Result<Vec<Tlv<'_>>, CmsError> {
    if !t.constructed() {
        return Err(ber(t.at, "expected a constructed element"));
    }
    let mut out = Vec::new();
    let mut r = Reader::with_base(t.body, t.at);
    while !r.is_empty() {
        let (c, used) = read_tlv(r.rest(), r.offset(), depth.saturating_add(1))?;
        out.push(c);
        r.skip(used).map_err(|_| ber(r.offset(), "element longer than its container"))?;
        if out.len() > 256 {
            return Err(ber(t.at, "too many elements"));
        }
    }
    Ok(out)
}

/// OCTET STRING content, joining BER constructed segments.
fn octets(t: Tlv<'_>, depth: usize, out: &mut Vec<u8>) -> Result<(), CmsError> {
    if depth > MAX_DEPTH {
        return Err(ber(t.at, "nested too deeply"));
    }
    if t.constructed() {
        for c in children(t, depth)? {
            if c.tag & 0x1f != 0x04 {
                return Err(ber(
                    c.at,
                    "segment of a constructed OCTET STRING is not an OCTET STRING",
                ));
            }
            octets(c, depth.saturating_add(1), out)?;
        }
    } else {
        out.extend_from_slice(t.body);
    }
    Ok(())
}

fn expect<'a>(t: Tlv<'a>, tag: u8, what: &'static str) -> Result<Tlv<'a>, CmsError> {
    // Compare ignoring the constructed bit only where BER allows both forms (OCTET STRING).
    if t.tag == tag || (tag == 0x04 && t.tag == 0x24) {
        Ok(t)
    } else {
        Err(CmsError::Structure(what))
    }
}

fn oid(t: Tlv<'_>) -> Result<&[u8], CmsError> {
    Ok(expect(t, 0x06, "expected an OBJECT IDENTIFIER")?.body)
}

/// Decrypts a KMS `CiphertextForRecipient` with the job's RSA private key.
pub fn decrypt_enveloped(blob: &[u8], key: &rsa::RsaPrivateKey) -> Result<SecretBytes, CmsError> {
    if blob.len() > MAX_CMS {
        return Err(CmsError::TooLarge(blob.len()));
    }
    let (ci, used) = read_tlv(blob, 0, 0)?;
    if used != blob.len() {
        return Err(ber(used, "trailing bytes after ContentInfo"));
    }
    let ci = children(expect(ci, 0x30, "ContentInfo is not a SEQUENCE")?, 0)?;
    let not_enveloped = CmsError::Structure("ContentInfo is not envelopedData");
    let [content_type, content] = ci.as_slice() else { return Err(not_enveloped) };
    if oid(*content_type)? != OID_ENVELOPED_DATA {
        return Err(not_enveloped);
    }
    let explicit = children(expect(*content, 0xa0, "ContentInfo content is not [0]")?, 1)?;
    let [env] = explicit.as_slice() else {
        return Err(CmsError::Structure("[0] must hold one element"));
    };
    let ed = children(expect(*env, 0x30, "EnvelopedData is not a SEQUENCE")?, 2)?;
    let mut ed = ed.iter().peekable();
    expect(*ed.next().ok_or(CmsError::Structure("empty EnvelopedData"))?, 0x02, "version")?;
    if ed.peek().is_some_and(|t| t.tag == 0xa0) {
        ed.next(); // originatorInfo
    }
    let ris = children(
        expect(
            *ed.next().ok_or(CmsError::Structure("no recipientInfos"))?,
            0x31,
            "recipientInfos is not a SET",
        )?,
        3,
    )?;
    let eci = children(
        expect(
            *ed.next().ok_or(CmsError::Structure("no encryptedContentInfo"))?,
            0x30,
            "encryptedContentInfo",
        )?,
        3,
    )?;

    // Content algorithm and IV.
    let [_, alg, ec, ..] = eci.as_slice() else {
        return Err(CmsError::Structure("encryptedContentInfo has no encryptedContent"));
    };
    let alg = children(expect(*alg, 0x30, "contentEncryptionAlgorithm")?, 4)?;
    let not_aes = CmsError::Algorithm("content encryption is not AES-256-CBC");
    let Some(alg_id) = alg.first() else { return Err(not_aes) };
    if oid(*alg_id)? != OID_AES256_CBC {
        return Err(not_aes);
    }
    let mut iv = Vec::new();
    octets(
        expect(*alg.get(1).ok_or(CmsError::Structure("AES-CBC without IV"))?, 0x04, "IV")?,
        5,
        &mut iv,
    )?;
    let iv: [u8; 16] =
        iv.try_into().map_err(|_| CmsError::Structure("AES-CBC IV is not 16 bytes"))?;
    // encryptedContent [0] IMPLICIT OCTET STRING: primitive 0x80 or constructed 0xa0.
    let ec = *ec;
    let mut ciphertext = Vec::new();
    match ec.tag {
        0x80 => ciphertext.extend_from_slice(ec.body),
        0xa0 => octets(ec, 4, &mut ciphertext)?,
        _ => return Err(CmsError::Structure("encryptedContent is not [0]")),
    }
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(CmsError::Content);
    }

    // Find a KeyTransRecipientInfo that opens with our key.
    let mut cek: Option<Zeroizing<Vec<u8>>> = None;
    for ri in ris.iter().filter(|t| t.tag == 0x30).take(16) {
        let f = children(*ri, 4)?;
        let [_, _, key_alg, encrypted_key] = f.as_slice() else {
            return Err(CmsError::Structure("KeyTransRecipientInfo must have 4 fields"));
        };
        check_oaep_params(*key_alg)?;
        let mut ek = Vec::new();
        octets(expect(*encrypted_key, 0x04, "encryptedKey")?, 5, &mut ek)?;
        if let Ok(k) = key.decrypt(rsa::Oaep::new::<Sha256>(), &ek) {
            cek = Some(Zeroizing::new(k));
            break;
        }
    }
    let cek = cek.ok_or(CmsError::KeyUnwrap)?;
    let cek: &[u8; 32] = cek.as_slice().try_into().map_err(|_| CmsError::KeyUnwrap)?;
    let mut buf = Zeroizing::new(ciphertext);
    let dec = cbc::Decryptor::<aes::Aes256>::new(cek.into(), &iv.into());
    let pt = dec.decrypt_padded_mut::<Pkcs7>(&mut buf).map_err(|_| CmsError::Content)?;
    Ok(SecretBytes::from_slice(pt))
}

/// Requires RSAES-OAEP; when parameters are given they must name SHA-256
/// and MGF1-SHA-256 with an empty label. Absent parameters are accepted and
/// decrypted as SHA-256, like the AWS Nitro Enclaves SDK does (a SHA-1
/// ciphertext then simply fails to decrypt).
fn check_oaep_params(alg: Tlv<'_>) -> Result<(), CmsError> {
    let a = children(expect(alg, 0x30, "keyEncryptionAlgorithm")?, 5)?;
    let not_oaep = CmsError::Algorithm("key encryption is not RSAES-OAEP");
    let Some(alg_id) = a.first() else { return Err(not_oaep) };
    if oid(*alg_id)? != OID_RSAES_OAEP {
        return Err(not_oaep);
    }
    let Some(params) = a.get(1) else { return Ok(()) };
    if params.tag == 0x05 {
        return Ok(());
    }
    let p = children(expect(*params, 0x30, "RSAES-OAEP-params")?, 6)?;
    let mut hash_ok = false;
    let mut mgf_ok = false;
    for f in p {
        let inner = children(f, 7)?;
        let [alg] = inner.as_slice() else { return Err(CmsError::Structure("OAEP parameter")) };
        let ai = children(expect(*alg, 0x30, "OAEP parameter AlgorithmIdentifier")?, 8)?;
        let id = oid(*ai.first().ok_or(CmsError::Structure("empty AlgorithmIdentifier"))?)?;
        match f.tag {
            0xa0 => hash_ok = id == OID_SHA256,
            0xa1 => {
                let inner_hash = ai
                    .get(1)
                    .map(|h| children(*h, 9))
                    .transpose()?
                    .and_then(|h| h.first().copied())
                    .map(oid)
                    .transpose()?;
                mgf_ok = id == OID_MGF1 && inner_hash == Some(OID_SHA256);
            }
            0xa2 => {
                let mut label = Vec::new();
                if let Some(l) = ai.get(1) {
                    octets(*l, 9, &mut label)?;
                }
                if id != OID_P_SPECIFIED || !label.is_empty() {
                    return Err(CmsError::Algorithm("OAEP label must be empty"));
                }
            }
            _ => return Err(CmsError::Structure("unknown RSAES-OAEP-params field")),
        }
    }
    if !hash_ok || !mgf_ok {
        return Err(CmsError::Algorithm("OAEP must use SHA-256 and MGF1-SHA-256"));
    }
    Ok(())
}
