//! The nitro-cli measurement JSON (`{"Measurements": {"HashAlgorithm": ...,
//! "PCR0": ..., ...}}`), read and written compatibly.
//!
//! nitro-cli prints `HashAlgorithm` as a Rust debug rendering that depends on
//! the sha2 crate version (`"Sha384 { ... }"` or `"Sha512_48 { .. }"`), so it
//! is never compared: any value is read as SHA-384. Keys are ordered
//! `HashAlgorithm, PCR0, PCR1, PCR2[, PCR8]` as nitro-cli's sorted map prints
//! them. `eif_build`'s bare map (no `Measurements` wrapper) is accepted too.

use std::collections::BTreeMap;

/// One PCR value: 48 bytes of SHA-384.
pub type Pcr = [u8; 48];

/// The largest PCR index an attestation document may carry.
pub const MAX_PCR_INDEX: u8 = 31;

/// What nitro-cli 1.5.0+ prints as `HashAlgorithm`; we print the same.
pub const HASH_ALGORITHM_LABEL: &str = "Sha384 { ... }";

/// Largest measurement JSON accepted (a real one is under 1 KiB).
pub const MAX_JSON_LEN: usize = 64 * 1024;

/// Errors reading measurement JSON.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MeasurementsError {
    /// Not JSON, or not an object.
    #[error("PCR JSON is malformed: {0}")]
    Json(String),
    /// The document exceeds [`MAX_JSON_LEN`].
    #[error("PCR JSON is {0} bytes, more than the {MAX_JSON_LEN}-byte limit")]
    TooLarge(usize),
    /// A key that is neither `HashAlgorithm` nor `PCR<n>` (n <= 31).
    #[error("PCR JSON has unknown key {0:?} (expected HashAlgorithm or PCR0..PCR31)")]
    UnknownKey(String),
    /// A PCR value that is not 96 hex characters.
    #[error("{key} is not 96 hex characters (48-byte SHA-384): {value:?}")]
    BadValue {
        /// The key, e.g. `PCR0`.
        key: String,
        /// The offending value, truncated for display.
        value: String,
    },
    /// No PCR at all.
    #[error("PCR JSON contains no PCR values")]
    Empty,
}

/// PCR values by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measurements {
    /// PCR index to value.
    pub pcrs: BTreeMap<u8, Pcr>,
}

impl Measurements {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one PCR.
    pub fn insert(&mut self, index: u8, value: Pcr) {
        self.pcrs.insert(index, value);
    }

    /// One PCR, if present.
    pub fn get(&self, index: u8) -> Option<&Pcr> {
        self.pcrs.get(&index)
    }

    /// Lowercase hex of one PCR, if present.
    pub fn hex(&self, index: u8) -> Option<String> {
        self.get(index).map(hex::encode)
    }

    /// The nitro-cli JSON value: `{"Measurements": {...}}`, pretty-printed
    /// with two-space indent like nitro-cli, without a trailing newline.
    pub fn to_nitro_json(&self) -> String {
        let v = serde_json::json!({ "Measurements": self.to_map_value() });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// The bare map `{"HashAlgorithm": ..., "PCR0": ...}` as a JSON value.
    pub fn to_map_value(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("HashAlgorithm".into(), HASH_ALGORITHM_LABEL.into());
        for (i, v) in &self.pcrs {
            m.insert(format!("PCR{i}"), hex::encode(v).into());
        }
        serde_json::Value::Object(m)
    }

    /// Reads nitro-cli JSON (with or without the `Measurements` wrapper).
    pub fn from_json(bytes: &[u8]) -> Result<Self, MeasurementsError> {
        if bytes.len() > MAX_JSON_LEN {
            return Err(MeasurementsError::TooLarge(bytes.len()));
        }
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| MeasurementsError::Json(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| MeasurementsError::Json("not an object".into()))?;
        let inner = match obj.get("Measurements") {
            Some(m) if obj.len() == 1 => m
                .as_object()
                .ok_or_else(|| MeasurementsError::Json("Measurements is not an object".into()))?,
            Some(_) => {
                let other = obj.keys().find(|k| *k != "Measurements").cloned().unwrap_or_default();
                return Err(MeasurementsError::UnknownKey(other));
            }
            None => obj,
        };
        let mut out = Self::new();
        for (k, val) in inner {
            if k == "HashAlgorithm" {
                continue;
            }
            let index = parse_pcr_key(k).ok_or_else(|| MeasurementsError::UnknownKey(k.clone()))?;
            let s = val.as_str().ok_or_else(|| MeasurementsError::BadValue {
                key: k.clone(),
                value: truncate(&val.to_string()),
            })?;
            let pcr = parse_pcr_hex(s).ok_or_else(|| MeasurementsError::BadValue {
                key: k.clone(),
                value: truncate(s),
            })?;
            out.insert(index, pcr);
        }
        if out.pcrs.is_empty() {
            return Err(MeasurementsError::Empty);
        }
        Ok(out)
    }
}

/// Parses `PCR<n>` with 0 <= n <= 31 and no leading zeros.
pub fn parse_pcr_key(k: &str) -> Option<u8> {
    let digits = k.strip_prefix("PCR")?;
    if digits.is_empty() || digits.len() > 2 || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let n: u8 = digits.parse().ok()?;
    (n <= MAX_PCR_INDEX).then_some(n)
}

/// Parses 96 hex characters (either case) into a PCR.
pub fn parse_pcr_hex(s: &str) -> Option<Pcr> {
    if s.len() != 96 {
        return None;
    }
    let mut out = [0u8; 48];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
  "Measurements": {
    "HashAlgorithm": "Sha512_48 { .. }",
    "PCR0": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f",
    "PCR1": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "PCR2": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
  }
}"#;

    #[test]
    fn roundtrip() {
        let m = Measurements::from_json(SAMPLE.as_bytes()).expect("parses");
        assert_eq!(m.pcrs.len(), 3);
        assert_eq!(m.get(1), Some(&[0xaa; 48]));
        let again = Measurements::from_json(m.to_nitro_json().as_bytes()).expect("reparses");
        assert_eq!(m, again);
        assert!(m.to_nitro_json().starts_with("{\n  \"Measurements\": {\n    \"HashAlgorithm\""));
    }

    #[test]
    fn bare_map_accepted() {
        let bare = r#"{"PCR0": "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000a"}"#;
        let m = Measurements::from_json(bare.as_bytes()).expect("parses");
        assert_eq!(m.get(0).map(|p| p[47]), Some(0x0a));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            Measurements::from_json(br#"{"PCR0": "abc"}"#),
            Err(MeasurementsError::BadValue { .. })
        ));
        assert!(matches!(
            Measurements::from_json(br#"{"PCR32": "00"}"#),
            Err(MeasurementsError::UnknownKey(_))
        ));
        assert!(matches!(
            Measurements::from_json(br#"{"PCR01": "00"}"#),
            Err(MeasurementsError::UnknownKey(_))
        ));
        assert_eq!(
            Measurements::from_json(br#"{"HashAlgorithm": "x"}"#),
            Err(MeasurementsError::Empty)
        );
        assert!(matches!(Measurements::from_json(b"[1]"), Err(MeasurementsError::Json(_))));
    }
}
