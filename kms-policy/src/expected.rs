//! The expected PCR set `E`: PCR index to the accepted values.
//!
//! Read from nitro-cli measurement JSON (`build_spec::pcr::Measurements`),
//! from a bare `{"0": "...", "1": [...]}` map, or from an object whose
//! `expected` member is such a map (the test-vector `pcrs.json` shape).

use std::collections::BTreeMap;

use build_spec::pcr::Measurements;
use serde::Serialize;

/// PCR indices pinned by default: image, kernel+bootstrap, application.
pub const DEFAULT_INDICES: &[u8] = &[0, 1, 2];

/// Largest expected-PCR file accepted.
pub const MAX_EXPECTED_JSON: usize = 64 * 1024;

/// Errors reading an expected PCR set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpectedError {
    /// Not JSON or not an object.
    #[error("expected-PCR file is malformed: {0}")]
    Malformed(String),
    /// Larger than [`MAX_EXPECTED_JSON`].
    #[error("expected-PCR file is {0} bytes, more than {MAX_EXPECTED_JSON}")]
    TooLarge(usize),
    /// A value that is not 96 hex characters.
    #[error("PCR{index} value {value:?} is not 96 hex characters")]
    BadValue {
        /// Index.
        index: u8,
        /// Value (truncated).
        value: String,
    },
    /// A requested index is absent.
    #[error("PCR{0} is required but not in the expected-PCR file")]
    MissingIndex(u8),
    /// An index outside 0..=31 or a bad key.
    #[error("bad PCR index {0:?}")]
    BadIndex(String),
    /// An expected value is all zeros (debug mode): pinning it pins nothing.
    #[error("expected PCR{0} is all zeros (debug-mode or unsigned value); refusing to pin it")]
    ZeroValue(u8),
}

/// The expected PCRs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// Index to accepted values (96 lowercase hex each, non-empty).
    pub pcrs: BTreeMap<u8, Vec<String>>,
}

/// 96 zeros.
pub fn zero_pcr() -> String {
    "0".repeat(96)
}

/// True for 96 hex characters (either case).
pub fn is_pcr_hex(s: &str) -> bool {
    s.len() == 96 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Expected {
    /// The given indices of a measurement set.
    pub fn from_measurements(m: &Measurements, indices: &[u8]) -> Result<Self, ExpectedError> {
        let mut pcrs = BTreeMap::new();
        for &i in indices {
            let v = m.hex(i).ok_or(ExpectedError::MissingIndex(i))?;
            pcrs.insert(i, vec![v]);
        }
        Ok(Self { pcrs })
    }

    /// Reads any of the accepted JSON shapes, keeping `indices` (all present
    /// indices when `None`, else exactly these, each required).
    pub fn from_json(bytes: &[u8], indices: Option<&[u8]>) -> Result<Self, ExpectedError> {
        if bytes.len() > MAX_EXPECTED_JSON {
            return Err(ExpectedError::TooLarge(bytes.len()));
        }
        let all = if let Ok(m) = Measurements::from_json(bytes) {
            m.pcrs.iter().map(|(i, v)| (*i, vec![hex::encode(v)])).collect()
        } else {
            let v: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|e| ExpectedError::Malformed(e.to_string()))?;
            let obj =
                v.as_object().ok_or_else(|| ExpectedError::Malformed("not an object".into()))?;
            let map = match obj.get("expected") {
                Some(e) => e
                    .as_object()
                    .ok_or_else(|| ExpectedError::Malformed("expected is not an object".into()))?,
                None => obj,
            };
            let mut all = BTreeMap::new();
            for (k, v) in map {
                let digits = k.strip_prefix("PCR").unwrap_or(k);
                let i: u8 = digits.parse().map_err(|_| ExpectedError::BadIndex(k.clone()))?;
                if i > 31 {
                    return Err(ExpectedError::BadIndex(k.clone()));
                }
                let vals: Vec<String> = match v {
                    serde_json::Value::String(s) => vec![s.clone()],
                    serde_json::Value::Array(a) => {
                        a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()
                    }
                    _ => {
                        return Err(ExpectedError::Malformed(format!(
                            "{k} is not a string or list"
                        )))
                    }
                };
                if vals.is_empty() {
                    return Err(ExpectedError::Malformed(format!("{k} has no values")));
                }
                let mut out = Vec::new();
                for s in vals {
                    if !is_pcr_hex(&s) {
                        return Err(ExpectedError::BadValue {
                            index: i,
                            value: s.chars().take(100).collect(),
                        });
                    }
                    out.push(s.to_ascii_lowercase());
                }
                all.insert(i, out);
            }
            all
        };
        let pcrs: BTreeMap<u8, Vec<String>> = match indices {
            None => all,
            Some(idx) => {
                let mut p = BTreeMap::new();
                for &i in idx {
                    p.insert(i, all.get(&i).cloned().ok_or(ExpectedError::MissingIndex(i))?);
                }
                p
            }
        };
        if pcrs.is_empty() {
            return Err(ExpectedError::Malformed("no PCR values".into()));
        }
        Ok(Self { pcrs })
    }

    /// Rejects all-zero expected values for the image PCRs 0, 1, 2 (a pin on
    /// zeros is satisfied by any debug-mode enclave).
    pub fn reject_zero_image_pcrs(&self) -> Result<(), ExpectedError> {
        for (i, vals) in &self.pcrs {
            if *i <= 2 && vals.iter().any(|v| *v == zero_pcr()) {
                return Err(ExpectedError::ZeroValue(*i));
            }
        }
        Ok(())
    }

    /// True if `value` (any case) is an accepted value for index `i`.
    pub fn accepts(&self, i: u8, value: &str) -> bool {
        self.pcrs.get(&i).is_some_and(|v| v.iter().any(|x| x.eq_ignore_ascii_case(value)))
    }
}
