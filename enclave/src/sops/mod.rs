//! Reading SOPS-encrypted YAML and JSON files (docs/formats/sops.md): parse in file
//! order, extract the `sops` metadata, decrypt every `ENC[...]` value with
//! its key-path AAD and verify the MAC before any value is used.
//!
//! The data key itself is not unwrapped here: the pack service gets it from
//! a `kms` entry through the [`crate::backend::Kms`] trait (with
//! `Recipient`), tests may use the `age` entries. [`SopsFile::decrypt`] takes
//! the 32-byte key.

mod error;
pub mod tree;
pub mod value;
mod write;

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

pub use error::SopsError;
pub use tree::{Node, Scalar};
pub use value::{EncValue, ValueType};
pub use write::encrypt_json;

use crate::secret::{SecretBytes, SecretKey32};

/// Largest SOPS file accepted.
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;

/// The 32 bytes fed first into the MAC when `mac_only_encrypted` is set (SHA-256 of `sops`).
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The file's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// The receipt name: `sops-yaml` / `sops-json`.
    pub fn receipt_name(self) -> &'static str {
        match self {
            Format::Yaml => "sops-yaml",
            Format::Json => "sops-json",
        }
    }
}

/// A `kms` master key entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsEntry {
    /// Key or alias ARN.
    pub arn: String,
    /// Optional role to assume (not supported inside the enclave; recorded).
    pub role: Option<String>,
    /// Encryption context.
    pub context: BTreeMap<String, String>,
    /// The decoded `CiphertextBlob`.
    pub enc: Vec<u8>,
}

/// An `age` master key entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeEntry {
    /// `age1…` recipient.
    pub recipient: String,
    /// The armored age file.
    pub enc: String,
}

/// The `sops` metadata block (fields this reader uses; others are ignored
/// like SOPS does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// `kms` entries in file order.
    pub kms: Vec<KmsEntry>,
    /// `age` entries in file order.
    pub age: Vec<AgeEntry>,
    /// Number of `pgp` entries (not supported, counted for diagnostics).
    pub pgp_count: usize,
    /// `lastmodified` exactly as written.
    pub lastmodified: String,
    /// `mac` exactly as written (`ENC[...]`).
    pub mac: String,
    /// `version` as written (empty if absent).
    pub version: String,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

/// A parsed, still encrypted SOPS file.
#[derive(Debug, Clone, PartialEq)]
pub struct SopsFile {
    /// YAML or JSON.
    pub format: Format,
    /// The document without the `sops` key.
    pub tree: Node,
    /// The metadata.
    pub metadata: Metadata,
}

/// A decrypted leaf: its type and canonical plaintext bytes (the MAC form).
pub struct PlainLeaf {
    /// The type (clear values get the type their YAML/JSON form has).
    pub kind: ValueType,
    /// True when the value was encrypted in the file.
    pub was_encrypted: bool,
    /// Canonical bytes (str raw, int decimal, float Go 'f', bool True/False).
    pub bytes: SecretBytes,
}

impl std::fmt::Debug for PlainLeaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlainLeaf({}, {:?})", self.kind.name(), self.bytes)
    }
}

/// A decrypted document. Values are [`SecretBytes`]; `Debug` never shows them.
#[derive(Debug)]
pub enum PlainNode {
    /// Mapping in file order.
    Map(Vec<(String, PlainNode)>),
    /// Sequence.
    List(Vec<PlainNode>),
    /// `null`.
    Null,
    /// A value.
    Leaf(PlainLeaf),
}

impl SopsFile {
    /// Parses a SOPS file; the format is detected (a JSON file starts with `{`).
    pub fn parse(bytes: &[u8]) -> Result<Self, SopsError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(SopsError::TooLarge { len: bytes.len(), max: MAX_FILE_BYTES });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| SopsError::NotUtf8(e.valid_up_to()))?;
        let (format, root) = if text.trim_start().starts_with('{') {
            (Format::Json, tree::load_json(bytes)?)
        } else {
            (Format::Yaml, tree::load_yaml(text)?)
        };
        let Node::Map(mut pairs) = root else { return Err(SopsError::RootNotMapping) };
        let pos = pairs.iter().position(|(k, _)| k == "sops").ok_or(SopsError::NoMetadata)?;
        let (_, meta) = pairs.remove(pos);
        let metadata = parse_metadata(&meta)?;
        Ok(Self { format, tree: Node::Map(pairs), metadata })
    }

    /// Decrypts every value with `key`, recomputes the MAC and checks it
    /// against `sops.mac` (decrypted with AAD = normalised `lastmodified`).
    /// Nothing is returned unless the MAC matches.
    pub fn decrypt(&self, key: &SecretKey32) -> Result<PlainNode, SopsError> {
        if self.metadata.mac.is_empty() {
            return Err(SopsError::MacMissing);
        }
        let mut h = Sha512::new();
        if self.metadata.mac_only_encrypted {
            h.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        let mut path = Vec::new();
        let plain = walk(&self.tree, key, &mut path, &mut h, self.metadata.mac_only_encrypted)?;
        let computed = hex::encode_upper(h.finalize());

        let aad = normalize_lastmodified(&self.metadata.lastmodified)?;
        let enc = EncValue::parse(&self.metadata.mac, "sops.mac")?;
        let stored = enc.decrypt(key, aad.as_bytes(), "sops.mac").map_err(|e| match e {
            SopsError::ValueAuth { .. } => SopsError::MacAuth,
            other => other,
        })?;
        if !bool::from(stored.expose().ct_eq(computed.as_bytes())) {
            return Err(SopsError::MacMismatch);
        }
        Ok(plain)
    }
}

fn aad_of(path: &[String]) -> String {
    let mut s = String::new();
    for p in path {
        s.push_str(p);
        s.push(':');
    }
    s
}

fn walk(
    node: &Node,
    key: &SecretKey32,
    path: &mut Vec<String>,
    h: &mut Sha512,
    mac_only_encrypted: bool,
) -> Result<PlainNode, SopsError> {
    Ok(match node {
        Node::Map(pairs) => {
            let mut out = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                path.push(k.clone());
                let r = walk(v, key, path, h, mac_only_encrypted);
                path.pop();
                out.push((k.clone(), r?));
            }
            PlainNode::Map(out)
        }
        // List indexes are not part of the AAD (docs/formats/sops.md §2).
        Node::List(items) => PlainNode::List(
            items
                .iter()
                .map(|i| walk(i, key, path, h, mac_only_encrypted))
                .collect::<Result<_, _>>()?,
        ),
        Node::Scalar(Scalar::Null) => PlainNode::Null,
        Node::Scalar(Scalar::Str(s)) if value::is_enc(s) => {
            let aad = aad_of(path);
            let enc = EncValue::parse(s, &aad)?;
            if enc.kind == ValueType::Comment {
                return Err(SopsError::EncSyntax { path: aad, problem: "comment type on a value" });
            }
            let raw = enc.decrypt(key, aad.as_bytes(), &aad)?;
            let bytes = canonical(enc.kind, raw, &aad)?;
            h.update(bytes.expose());
            PlainNode::Leaf(PlainLeaf { kind: enc.kind, was_encrypted: true, bytes })
        }
        Node::Scalar(s) => {
            let (kind, bytes) = clear_bytes(s);
            if !mac_only_encrypted {
                h.update(bytes.expose());
            }
            PlainNode::Leaf(PlainLeaf { kind, was_encrypted: false, bytes })
        }
    })
}

/// The MAC byte form of a clear-text scalar (SOPS `ToBytes`).
fn clear_bytes(s: &Scalar) -> (ValueType, SecretBytes) {
    match s {
        Scalar::Str(v) => (ValueType::Str, SecretBytes::from_slice(v.as_bytes())),
        Scalar::Int(i) => (ValueType::Int, SecretBytes::new(i.to_string().into_bytes())),
        Scalar::Float(f) => {
            (ValueType::Float, SecretBytes::new(tree::go_format_float(*f).into_bytes()))
        }
        Scalar::Bool(b) => {
            (ValueType::Bool, SecretBytes::from_slice(if *b { b"True" } else { b"False" }))
        }
        Scalar::Null => (ValueType::Str, SecretBytes::new(Vec::new())),
    }
}

/// Parses decrypted bytes as their declared type and returns the form SOPS
/// hashes (it re-renders the parsed value: `int` via Itoa, `bool` as
/// `True`/`False`, `float` via FormatFloat 'f').
fn canonical(kind: ValueType, raw: SecretBytes, path: &str) -> Result<SecretBytes, SopsError> {
    let bad = || SopsError::ValueType { path: path.to_owned(), kind: kind.name() };
    match kind {
        ValueType::Str | ValueType::Bytes | ValueType::Comment => Ok(raw),
        ValueType::Time => {
            let s = std::str::from_utf8(raw.expose()).map_err(|_| bad())?;
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad())?;
            Ok(raw)
        }
        ValueType::Int => {
            let s = std::str::from_utf8(raw.expose()).map_err(|_| bad())?;
            let v: i64 = s.parse().map_err(|_| bad())?;
            Ok(SecretBytes::new(v.to_string().into_bytes()))
        }
        ValueType::Float => {
            let s = std::str::from_utf8(raw.expose()).map_err(|_| bad())?;
            let v: f64 = s.parse().map_err(|_| bad())?;
            Ok(SecretBytes::new(tree::go_format_float(v).into_bytes()))
        }
        ValueType::Bool => {
            // Go strconv.ParseBool.
            let v = match raw.expose() {
                b"1" | b"t" | b"T" | b"true" | b"TRUE" | b"True" => true,
                b"0" | b"f" | b"F" | b"false" | b"FALSE" | b"False" => false,
                _ => return Err(bad()),
            };
            Ok(SecretBytes::from_slice(if v { b"True" } else { b"False" }))
        }
    }
}

/// Re-renders `lastmodified` as Go's `time.Format(time.RFC3339)`: seconds
/// precision, `Z` for a zero offset, otherwise `±hh:mm` (docs/formats/sops.md §5.6).
pub fn normalize_lastmodified(s: &str) -> Result<String, SopsError> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| SopsError::LastModified(s.to_owned()))?;
    let off = t.offset();
    let date = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if off.is_utc() {
        return Ok(date + "Z");
    }
    let total = off.whole_seconds();
    let sign = if total < 0 { '-' } else { '+' };
    let abs = total.unsigned_abs();
    Ok(format!("{date}{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60))
}

fn meta_err(field: impl Into<String>, problem: impl Into<String>) -> SopsError {
    SopsError::Metadata { field: field.into(), problem: problem.into() }
}

fn opt_str(n: &Node, key: &str, field: &str) -> Result<Option<String>, SopsError> {
    match n.get(key) {
        None | Some(Node::Scalar(Scalar::Null)) => Ok(None),
        Some(Node::Scalar(Scalar::Str(s))) => Ok(Some(s.clone())),
        Some(_) => Err(meta_err(format!("{field}.{key}"), "not a string")),
    }
}

fn list<'a>(n: &'a Node, key: &str) -> Result<&'a [Node], SopsError> {
    match n.get(key) {
        None | Some(Node::Scalar(Scalar::Null)) => Ok(&[]),
        Some(Node::List(items)) => Ok(items),
        Some(_) => Err(meta_err(format!("sops.{key}"), "not a list")),
    }
}

fn parse_metadata(meta: &Node) -> Result<Metadata, SopsError> {
    if !matches!(meta, Node::Map(_)) {
        return Err(meta_err("sops", "not a mapping"));
    }
    if !list(meta, "key_groups")?.is_empty() {
        return Err(SopsError::KeyGroups);
    }
    let mut kms = Vec::new();
    for (i, e) in list(meta, "kms")?.iter().enumerate() {
        let f = format!("sops.kms[{i}]");
        let arn = opt_str(e, "arn", &f)?.ok_or_else(|| meta_err(format!("{f}.arn"), "missing"))?;
        let enc_b64 =
            opt_str(e, "enc", &f)?.ok_or_else(|| meta_err(format!("{f}.enc"), "missing"))?;
        let enc = STANDARD
            .decode(enc_b64.trim())
            .map_err(|_| meta_err(format!("{f}.enc"), "not base64"))?;
        let mut context = BTreeMap::new();
        match e.get("context") {
            None | Some(Node::Scalar(Scalar::Null)) => {}
            Some(Node::Map(pairs)) => {
                for (k, v) in pairs {
                    let v = v
                        .as_str()
                        .ok_or_else(|| meta_err(format!("{f}.context.{k}"), "not a string"))?;
                    context.insert(k.clone(), v.to_owned());
                }
            }
            Some(_) => return Err(meta_err(format!("{f}.context"), "not a mapping")),
        }
        let role = opt_str(e, "role", &f)?.filter(|r| !r.is_empty());
        kms.push(KmsEntry { arn, role, context, enc });
    }
    let mut age = Vec::new();
    for (i, e) in list(meta, "age")?.iter().enumerate() {
        let f = format!("sops.age[{i}]");
        let recipient = opt_str(e, "recipient", &f)?
            .ok_or_else(|| meta_err(format!("{f}.recipient"), "missing"))?;
        let enc = opt_str(e, "enc", &f)?.ok_or_else(|| meta_err(format!("{f}.enc"), "missing"))?;
        age.push(AgeEntry { recipient, enc });
    }
    let pgp_count = list(meta, "pgp")?.len();
    let lastmodified = opt_str(meta, "lastmodified", "sops")?
        .ok_or_else(|| meta_err("sops.lastmodified", "missing"))?;
    let mac = opt_str(meta, "mac", "sops")?.unwrap_or_default();
    let version = match meta.get("version") {
        Some(Node::Scalar(Scalar::Str(s))) => s.clone(),
        Some(Node::Scalar(Scalar::Float(f))) => tree::go_format_float(*f),
        Some(Node::Scalar(Scalar::Int(i))) => i.to_string(),
        _ => String::new(),
    };
    let mac_only_encrypted = match meta.get("mac_only_encrypted") {
        None | Some(Node::Scalar(Scalar::Null)) => false,
        Some(Node::Scalar(Scalar::Bool(b))) => *b,
        Some(_) => return Err(meta_err("sops.mac_only_encrypted", "not a boolean")),
    };
    let selectors = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];
    let n_sel = selectors
        .iter()
        .filter(|s| matches!(meta.get(s), Some(Node::Scalar(Scalar::Str(v))) if !v.is_empty()))
        .count();
    if n_sel > 1 {
        return Err(meta_err("sops", "more than one encrypted/unencrypted selector"));
    }
    Ok(Metadata { kms, age, pgp_count, lastmodified, mac, version, mac_only_encrypted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmodified_like_go() {
        assert_eq!(normalize_lastmodified("2025-08-06T18:55:05Z").unwrap(), "2025-08-06T18:55:05Z");
        assert_eq!(
            normalize_lastmodified("2025-08-06T18:55:05.123456Z").unwrap(),
            "2025-08-06T18:55:05Z"
        );
        assert_eq!(
            normalize_lastmodified("2025-08-06T18:55:05+02:00").unwrap(),
            "2025-08-06T18:55:05+02:00"
        );
        assert_eq!(
            normalize_lastmodified("2025-08-06T18:55:05-05:30").unwrap(),
            "2025-08-06T18:55:05-05:30"
        );
        assert!(normalize_lastmodified("yesterday").is_err());
    }

    #[test]
    fn canonical_forms() {
        let c = |k, s: &str| {
            canonical(k, SecretBytes::from_slice(s.as_bytes()), "p:").map(|b| b.expose().to_vec())
        };
        assert_eq!(c(ValueType::Bool, "true").unwrap(), b"True");
        assert_eq!(c(ValueType::Int, "+5").unwrap(), b"5");
        assert_eq!(c(ValueType::Float, "1.0").unwrap(), b"1");
        assert!(matches!(c(ValueType::Int, "x"), Err(SopsError::ValueType { .. })));
    }
}
