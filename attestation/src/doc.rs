//! The attestation document payload: nine fields, as the NSM emits them.
//!
//! Field names, order and limits follow the AWS NSM API (`AttestationDoc`)
//! and what real Nitro hardware signs (see the verifier's module docs for the
//! observed profile). Absent optional fields are encoded as CBOR `null`, never
//! omitted, because that is what the NSM does.

use std::collections::BTreeMap;

use crate::cbor::Item;

/// The payload keys in the order the NSM writes them.
pub const FIELD_ORDER: [&str; 9] = [
    "module_id",
    "digest",
    "timestamp",
    "pcrs",
    "certificate",
    "cabundle",
    "public_key",
    "user_data",
    "nonce",
];

/// The only PCR bank digest ever observed; with it every PCR is 48 bytes.
pub const DIGEST_SHA384: &str = "SHA384";
/// Highest PCR index the NSM defines.
pub const MAX_PCR_INDEX: u64 = 31;
/// Maximum length of `certificate` and of each `cabundle` entry (AWS: 1..1024).
pub const MAX_CERT_LEN: usize = 1024;
/// Maximum length of `public_key`, `user_data` and `nonce`. AWS texts disagree
/// (512 vs 1024); real hardware signed 1024-byte values, so 1024 it is.
pub const MAX_OPTIONAL_LEN: usize = 1024;
/// Maximum payload length (AWS bound).
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024;

/// How the top-level payload map is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapStyle {
    /// `a9 ...`: what NSMs emitted until at least 2025-04.
    #[default]
    Definite,
    /// `bf ... ff`: what NSMs emit from at least 2025-07.
    Indefinite,
}

/// A decoded (or to-be-encoded) attestation document payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationDoc {
    /// `module_id`: `i-<instance>-enc<enclave>` on real hardware.
    pub module_id: String,
    /// `digest`: the PCR bank hash, always `"SHA384"`.
    pub digest: String,
    /// `timestamp`: UTC milliseconds since the UNIX epoch.
    pub timestamp: u64,
    /// `pcrs`: index to value. Keys are `u64` so tamper tests can encode
    /// out-of-range indices; genuine documents use 0..=31.
    pub pcrs: BTreeMap<u64, Vec<u8>>,
    /// `certificate`: the DER leaf certificate that signs the document.
    pub certificate: Vec<u8>,
    /// `cabundle`: DER certificates, root first.
    pub cabundle: Vec<Vec<u8>>,
    /// `public_key`: enclave-chosen key (often DER SPKI), or absent.
    pub public_key: Option<Vec<u8>>,
    /// `user_data`: enclave-chosen data, or absent.
    pub user_data: Option<Vec<u8>>,
    /// `nonce`: verifier-chosen challenge, or absent.
    pub nonce: Option<Vec<u8>>,
}

/// What the enclave asks the NSM to put into an attestation document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttestationRequest {
    /// `user_data` (at most 512 bytes on real hardware).
    pub user_data: Option<Vec<u8>>,
    /// `nonce` (at most 512 bytes).
    pub nonce: Option<Vec<u8>>,
    /// `public_key`, DER SubjectPublicKeyInfo (at most 1024 bytes).
    pub public_key: Option<Vec<u8>>,
}

fn opt_bytes(v: &Option<Vec<u8>>) -> Item {
    match v {
        Some(b) => Item::Bytes(b.clone()),
        None => Item::Null,
    }
}

impl AttestationDoc {
    /// The payload as a CBOR item, keys in NSM order, ready to be tampered
    /// with or encoded.
    pub fn to_item(&self, style: MapStyle) -> Item {
        let pcrs = Item::Map(
            self.pcrs.iter().map(|(k, v)| (Item::Uint(*k), Item::Bytes(v.clone()))).collect(),
        );
        let cabundle = Item::Array(self.cabundle.iter().map(|c| Item::Bytes(c.clone())).collect());
        let pairs = vec![
            (Item::text("module_id"), Item::Text(self.module_id.clone())),
            (Item::text("digest"), Item::Text(self.digest.clone())),
            (Item::text("timestamp"), Item::Uint(self.timestamp)),
            (Item::text("pcrs"), pcrs),
            (Item::text("certificate"), Item::Bytes(self.certificate.clone())),
            (Item::text("cabundle"), cabundle),
            (Item::text("public_key"), opt_bytes(&self.public_key)),
            (Item::text("user_data"), opt_bytes(&self.user_data)),
            (Item::text("nonce"), opt_bytes(&self.nonce)),
        ];
        match style {
            MapStyle::Definite => Item::Map(pairs),
            MapStyle::Indefinite => Item::MapIndef(pairs),
        }
    }

    /// The encoded payload bytes (the content of the COSE payload bstr).
    pub fn encode(&self, style: MapStyle) -> Vec<u8> {
        self.to_item(style).to_vec()
    }

    /// True when PCR0, PCR1 and PCR2 are all present and all zero: the
    /// signature of a debug-mode enclave.
    pub fn is_debug_mode(&self) -> bool {
        self.zero_image_pcrs().len() == 3
    }

    /// Which of PCR0, PCR1 and PCR2 are present and all zero. Any of them
    /// zero is refused like a debug-mode document (docs/formats/attestation.md
    /// §4 step 18): no real image measures to zero.
    pub fn zero_image_pcrs(&self) -> Vec<u8> {
        (0..3u8)
            .filter(|i| self.pcrs.get(&u64::from(*i)).is_some_and(|v| v.iter().all(|b| *b == 0)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_nine_keys_in_nsm_order() {
        let doc = AttestationDoc {
            module_id: "m".into(),
            digest: DIGEST_SHA384.into(),
            timestamp: 1,
            pcrs: BTreeMap::from([(0, vec![0; 48])]),
            certificate: vec![1],
            cabundle: vec![vec![2]],
            public_key: None,
            user_data: Some(vec![3]),
            nonce: None,
        };
        let def = doc.encode(MapStyle::Definite);
        assert_eq!(def[0], 0xa9);
        assert_eq!(&def[1..11], b"\x69module_id");
        let indef = doc.encode(MapStyle::Indefinite);
        assert_eq!(indef[0], 0xbf);
        assert_eq!(*indef.last().unwrap_or(&0), 0xff);
        assert_eq!(indef.len(), def.len() + 1);
    }
}
