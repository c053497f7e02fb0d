//! Strict JSON in, canonical JSON (RFC 8785 JCS) out.
//!
//! Everything proofpack signs or hashes as JSON (job requests, artifact
//! headers, in-toto statements) goes through this module, so there is one
//! reader and one writer for all of them.
//!
//! * [`parse_strict`] rejects duplicate object keys at any depth, which
//!   `serde_json` silently accepts (last one wins) — a parser-differential
//!   hazard between us and other tools reading the same bytes.
//! * [`to_jcs`] writes JCS for our restricted value space (docs/formats/receipts.md §2.4):
//!   no floats, no negative numbers, integers below 2^53, no `null`.
//!   Written here because serde_json sorts nothing once `preserve_order` is on
//!   and does not refuse floats; the output rules are small enough to keep
//!   exact.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Largest integer JCS output accepts (2^53 - 1).
pub const MAX_SAFE_INT: u64 = (1 << 53) - 1;

/// Maximum nesting depth accepted by [`parse_strict`].
pub const MAX_DEPTH: usize = 64;

/// Errors from strict parsing and canonical writing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonError {
    /// Not valid JSON (message from the parser, with line/column).
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// The same key appears twice in one object.
    #[error("duplicate key {0:?} in a JSON object")]
    DuplicateKey(String),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A value outside the canonical value space (float, negative, null, too large).
    #[error("value not allowed in canonical JSON: {0}")]
    NotCanonical(&'static str),
}

/// Parses `bytes` as one JSON value, rejecting duplicate keys and deep nesting.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictSeed { depth: 0 }.deserialize(&mut de).map_err(|e| map_serde_err(&e))?;
    de.end().map_err(|e| JsonError::Syntax(e.to_string()))?;
    Ok(value)
}

fn map_serde_err(e: &serde_json::Error) -> JsonError {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix(DUP_PREFIX) {
        let key = rest.split(DUP_SUFFIX).next().unwrap_or_default();
        return JsonError::DuplicateKey(key.to_string());
    }
    if msg.starts_with(DEEP_MSG) {
        return JsonError::TooDeep;
    }
    JsonError::Syntax(msg)
}

const DUP_PREFIX: &str = "proofpack-duplicate-key:";
const DUP_SUFFIX: &str = "\u{0}";
const DEEP_MSG: &str = "proofpack-too-deep";

struct StrictSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor { depth: self.depth })
    }
}

struct StrictVisitor {
    depth: usize,
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(DEEP_MSG));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed { depth: self.depth + 1 })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(DEEP_MSG));
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("{DUP_PREFIX}{key}{DUP_SUFFIX}")));
            }
            let v = map.next_value_seed(StrictSeed { depth: self.depth + 1 })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A problem found by the strict-schema helpers below: (JSON path, what is wrong).
/// Each format maps it into its own typed error.
pub type FieldProblem = (String, String);

/// Fails on the first member of the object `v` not in `allowed`.
pub fn only_members(v: &Value, path: &str, allowed: &[&str]) -> Result<(), FieldProblem> {
    let o = v.as_object().ok_or_else(|| (path.to_owned(), "not an object".to_owned()))?;
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err((format!("{path}.{k}"), "unknown member".into())),
        None => Ok(()),
    }
}

/// The string member `key` of `v` (`path` = the path of `v`, empty at the root).
pub fn str_member<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, FieldProblem> {
    let f = if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    v.get(key)
        .ok_or_else(|| (f.clone(), "missing".to_owned()))?
        .as_str()
        .ok_or_else(|| (f, "not a string".to_owned()))
}

/// A string map (an encryption context) as a JSON object.
pub fn string_map(m: &std::collections::BTreeMap<String, String>) -> Map<String, Value> {
    m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

/// Serialises `value` as RFC 8785 JCS bytes (restricted value space, see module docs).
pub fn to_jcs(value: &Value) -> Result<Vec<u8>, JsonError> {
    let mut out = Vec::new();
    write_jcs(value, &mut out, 0)?;
    Ok(out)
}

fn write_jcs(value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), JsonError> {
    if depth > MAX_DEPTH {
        return Err(JsonError::TooDeep);
    }
    match value {
        Value::Null => return Err(JsonError::NotCanonical("null")),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            let v = n.as_u64().ok_or(JsonError::NotCanonical("non-integer or negative number"))?;
            if v > MAX_SAFE_INT {
                return Err(JsonError::NotCanonical("integer at or above 2^53"));
            }
            out.extend_from_slice(v.to_string().as_bytes());
        }
        Value::String(s) => write_string(s, out)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_jcs(item, out, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            // JCS orders by UTF-16 code units; equal to byte order for keys without
            // characters >= U+10000, which write_string rejects in keys below.
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out)?;
                out.push(b':');
                write_jcs(&map[k], out, depth + 1)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) -> Result<(), JsonError> {
    if s.contains('\u{0}') {
        return Err(JsonError::NotCanonical("string containing U+0000"));
    }
    escape_into(s, out);
    Ok(())
}

/// Writes `s` as a JSON string literal with the JCS escaping rules (U+0000
/// becomes `\u0000`). Used for secret-bearing output too, so it writes into
/// the caller's buffer and allocates nothing else.
pub fn escape_into(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = c as usize;
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[n >> 4], HEX[n & 15]]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// True when `bytes` parse strictly and re-serialise to exactly the same bytes.
pub fn is_canonical(bytes: &[u8]) -> bool {
    match parse_strict(bytes).and_then(|v| to_jcs(&v)) {
        Ok(again) => again == bytes,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_rejected_at_depth() {
        assert_eq!(
            parse_strict(br#"{"a":{"b":1,"b":2}}"#),
            Err(JsonError::DuplicateKey("b".into()))
        );
        assert!(parse_strict(br#"{"a":{"b":1,"c":2}}"#).is_ok());
    }

    #[test]
    fn trailing_garbage_and_depth() {
        assert!(matches!(parse_strict(b"{} x"), Err(JsonError::Syntax(_))));
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(parse_strict(deep.as_bytes()), Err(JsonError::TooDeep));
    }

    #[test]
    fn jcs_sorts_and_escapes() {
        let v = parse_strict("{\"b\":[1,true],\"a\":\"x\\u001fé\\n\\\"\"}".as_bytes()).unwrap();
        assert_eq!(to_jcs(&v).unwrap(), "{\"a\":\"x\\u001fé\\n\\\"\",\"b\":[1,true]}".as_bytes());
    }

    #[test]
    fn jcs_refuses_outside_value_space() {
        for bad in ["1.5", "-1", "null", "9007199254740992"] {
            let v = parse_strict(bad.as_bytes()).unwrap();
            assert!(matches!(to_jcs(&v), Err(JsonError::NotCanonical(_))), "{bad}");
        }
        assert!(is_canonical(b"{\"a\":9007199254740991}"));
        assert!(!is_canonical(b"{\"a\": 1}"));
    }
}
