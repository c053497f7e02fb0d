//! The COSE_Sign1 envelope (RFC 9052 §4.2) as the NSM emits it.
//!
//! `[protected: bstr, unprotected: map, payload: bstr, signature: bstr]`,
//! untagged, protected header `{1: -35}` (alg = ES384), empty unprotected map,
//! signature the 96-byte fixed-length `r || s` (RFC 9053 §2.1).

use p384::ecdsa::{signature::Signer, Signature, SigningKey};

use crate::cbor::Item;

/// The protected header content `{1: -35}` (alg ES384), as the NSM encodes it.
pub const PROTECTED_ES384: [u8; 4] = [0xa1, 0x01, 0x38, 0x22];
/// CBOR tag for COSE_Sign1.
pub const TAG_COSE_SIGN1: u64 = 18;

/// The `Sig_structure` bytes for COSE_Sign1 (RFC 9052 §4.4): a definite array
/// `["Signature1", protected, h'', payload]` where `protected` and `payload`
/// are the *original* byte-string contents.
pub fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + protected.len() + 32);
    Item::Array(vec![
        Item::text("Signature1"),
        Item::bytes(protected),
        Item::Bytes(Vec::new()),
        Item::bytes(payload),
    ])
    .encode_into(&mut out);
    out
}

/// The parts of a COSE_Sign1 to be encoded. Each part can be set to anything,
/// so tamper tests can build malformed envelopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sign1 {
    /// Wrap in tag 18 (`d2`). Real NSMs do not.
    pub tag: Option<u64>,
    /// The protected item, normally `Bytes(PROTECTED_ES384)`.
    pub protected: Item,
    /// The unprotected item, normally an empty map.
    pub unprotected: Item,
    /// The payload item, normally `Bytes(payload)`.
    pub payload: Item,
    /// The signature item, normally `Bytes(r || s)`.
    pub signature: Item,
}

impl Sign1 {
    /// Signs `payload` with `key` exactly as the NSM does.
    pub fn sign(payload: &[u8], key: &SigningKey) -> Self {
        let sig: Signature = key.sign(&sig_structure(&PROTECTED_ES384, payload));
        Self {
            tag: None,
            protected: Item::bytes(&PROTECTED_ES384),
            unprotected: Item::Map(Vec::new()),
            payload: Item::bytes(payload),
            signature: Item::Bytes(sig.to_bytes().to_vec()),
        }
    }

    /// The encoded COSE_Sign1.
    pub fn to_vec(&self) -> Vec<u8> {
        let arr = Item::Array(vec![
            self.protected.clone(),
            self.unprotected.clone(),
            self.payload.clone(),
            self.signature.clone(),
        ]);
        match self.tag {
            Some(t) => Item::Tag(t, Box::new(arr)).to_vec(),
            None => arr.to_vec(),
        }
    }
}

/// Signs an encoded payload and returns the exact COSE_Sign1 bytes.
pub fn sign1(payload: &[u8], key: &SigningKey) -> Vec<u8> {
    Sign1::sign(payload, key).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig_structure_prefix_matches_spec() {
        let s = sig_structure(&PROTECTED_ES384, &[0xa0]);
        assert_eq!(
            s,
            [
                0x84, 0x6a, b'S', b'i', b'g', b'n', b'a', b't', b'u', b'r', b'e', b'1', 0x44, 0xa1,
                0x01, 0x38, 0x22, 0x40, 0x41, 0xa0
            ]
        );
    }

    #[test]
    fn envelope_starts_like_a_real_document() {
        let key = SigningKey::from_slice(&[7u8; 48]).expect("valid scalar");
        let bytes = sign1(&[0xa0], &key);
        assert_eq!(&bytes[..7], &[0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0]);
        assert_eq!(&bytes[bytes.len() - 98..bytes.len() - 96], &[0x58, 0x60]);
    }
}
