//! Errors of the SOPS reader.

/// Why a SOPS file was rejected. Every variant that concerns one value names
/// its key path (never its content).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SopsError {
    /// The file is larger than the reader accepts.
    #[error("SOPS file is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Actual length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not UTF-8.
    #[error("SOPS file is not UTF-8 (byte offset {0})")]
    NotUtf8(usize),
    /// YAML syntax error.
    #[error("YAML syntax error at line {line}, column {col}: {msg}")]
    Yaml {
        /// 1-based line.
        line: usize,
        /// 0-based column.
        col: usize,
        /// Parser message.
        msg: String,
    },
    /// JSON syntax error (includes duplicate keys).
    #[error("JSON error: {0}")]
    Json(String),
    /// A YAML construct SOPS files never contain and we refuse to interpret.
    #[error("unsupported YAML construct at line {line}: {what}")]
    Unsupported {
        /// 1-based line.
        line: usize,
        /// What was found.
        what: &'static str,
    },
    /// A mapping key appears twice.
    #[error("duplicate key {key:?} at line {line}")]
    DuplicateKey {
        /// The key.
        key: String,
        /// 1-based line (0 for JSON).
        line: usize,
    },
    /// More than one YAML document, or none.
    #[error("expected exactly one document, found {0}")]
    DocumentCount(usize),
    /// Too deep, too many nodes or a too-long value.
    #[error("limit exceeded: {0}")]
    Limit(&'static str),
    /// The document root is not a mapping.
    #[error("the document root is not a mapping")]
    RootNotMapping,
    /// No `sops` metadata key: the file is not SOPS-encrypted.
    #[error("no `sops` metadata: the file is not SOPS-encrypted")]
    NoMetadata,
    /// A metadata field is missing or malformed.
    #[error("SOPS metadata field {field}: {problem}")]
    Metadata {
        /// Field path, e.g. `sops.kms[0].enc`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// Shamir key groups are not supported (docs/formats/receipts.md §8 q8).
    #[error("SOPS key_groups (Shamir secret sharing) are not supported")]
    KeyGroups,
    /// An `ENC[...]` string does not follow the syntax.
    #[error("malformed encrypted value at {path}: {problem}")]
    EncSyntax {
        /// AAD-style key path of the value.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// AES-GCM authentication failed for a value: wrong key, or the value,
    /// IV, tag or its key path was changed.
    #[error("encrypted value at {path} failed authentication (tampered value, path or wrong key)")]
    ValueAuth {
        /// AAD-style key path of the value.
        path: String,
    },
    /// A decrypted value does not parse as its declared type.
    #[error("decrypted value at {path} is not a valid {kind}")]
    ValueType {
        /// AAD-style key path.
        path: String,
        /// Declared type.
        kind: &'static str,
    },
    /// The metadata has an empty `mac`.
    #[error("the file has no MAC")]
    MacMissing,
    /// `lastmodified` is not an RFC 3339 time.
    #[error("sops.lastmodified {0:?} is not an RFC 3339 time")]
    LastModified(String),
    /// The MAC did not decrypt: `mac` or `lastmodified` was changed, or wrong key.
    #[error("the MAC failed authentication (tampered sops.mac or sops.lastmodified)")]
    MacAuth,
    /// The MAC decrypted but does not match the values: a value (encrypted or
    /// clear), their order, or the set of encrypted values was changed.
    #[error("MAC mismatch: the file's values were changed after encryption")]
    MacMismatch,
    /// The data key is not 32 bytes.
    #[error("the SOPS data key must be 32 bytes, got {0}")]
    DataKeyLength(usize),
}
