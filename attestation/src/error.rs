//! Typed errors of attestation parsing and verification.
//!
//! Every way a document can be rejected has its own variant, so tests (and
//! callers) can tell *why* a document failed, not just that it did.

use std::fmt;

/// A parse failure at a byte offset of the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct ParseError {
    /// Offset in the whole COSE_Sign1 input (payload offsets included).
    pub offset: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What every output says about a document of QEMU's emulated NSM.
pub const EMULATOR_DOCUMENT: &str = "unsigned emulator document, not evidence of Nitro hardware \
     (QEMU nitro-enclave: alg -1, zero-filled signature, certificate and cabundle)";

/// What is wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Input larger than the limit.
    #[error("document is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Input length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The input ends inside an item, or a length exceeds what is left.
    #[error("truncated: an item or length runs past the end of its buffer")]
    Truncated,
    /// Bytes follow the single top-level item.
    #[error("{count} trailing byte(s) after the {what}")]
    TrailingBytes {
        /// Which buffer.
        what: &'static str,
        /// How many bytes are left.
        count: usize,
    },
    /// A head with reserved additional information (28..30) or an
    /// indefinite length on a type that has none.
    #[error("malformed CBOR head byte 0x{byte:02x}")]
    InvalidHead {
        /// The byte.
        byte: u8,
    },
    /// A break byte where an item was expected.
    #[error("unexpected CBOR break (0xff)")]
    UnexpectedBreak,
    /// An indefinite-length string chunk of the wrong type.
    #[error("indefinite-length string has a chunk that is not a definite string of the same type")]
    BadChunk,
    /// Nesting deeper than the cap.
    #[error("nesting deeper than {max}")]
    TooDeep {
        /// The cap.
        max: usize,
    },
    /// A tag other than 18 (COSE_Sign1) around the envelope.
    #[error("CBOR tag {tag} around the document; only 18 (COSE_Sign1) or no tag is allowed")]
    UnexpectedTag {
        /// The tag found.
        tag: u64,
    },
    /// An item of the wrong CBOR type.
    #[error("{field} must be a {expected}, found a {found}")]
    WrongType {
        /// Which field.
        field: &'static str,
        /// Expected type.
        expected: &'static str,
        /// Found type.
        found: &'static str,
    },
    /// The envelope is not an array of four items.
    #[error("COSE_Sign1 must be an array of 4 items, found {found}")]
    EnvelopeLength {
        /// Number of items found (`None`: indefinite and > 4).
        found: usize,
    },
    /// The protected header is not exactly `{1: -35}`.
    #[error("protected header must be exactly {{1: -35}} (alg ES384): {reason}")]
    ProtectedHeader {
        /// What differs.
        reason: &'static str,
    },
    /// QEMU's `nitro-enclave` NSM document (`{1: -1}`, zero-filled
    /// signature, certificate and cabundle) without emulator mode.
    #[error("{EMULATOR_DOCUMENT}; refused (--allow-emulator / --accept-emulator-attestation accept it with a warning)")]
    EmulatorDocument,
    /// The unprotected header is not an empty map.
    #[error("unprotected header must be an empty map, it has {entries} entr(y/ies)")]
    UnprotectedNotEmpty {
        /// How many entries (or 1 when indefinite and non-empty).
        entries: usize,
    },
    /// Signature not 96 bytes.
    #[error("signature is {len} bytes; ES384 r||s is exactly 96")]
    SignatureLength {
        /// Length found.
        len: usize,
    },
    /// `r` or `s` is zero or not below the group order.
    #[error("signature scalars r and s must be in [1, n-1]")]
    SignatureScalar,
    /// Empty payload (or nil / detached).
    #[error("payload is empty")]
    PayloadEmpty,
    /// A map key appears twice.
    #[error("duplicate key {key}")]
    DuplicateKey {
        /// The key (text, or the PCR index).
        key: String,
    },
    /// A payload key not in the AWS schema (strict mode).
    #[error("unknown payload key {key:?}")]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// A payload map key that is not a text string.
    #[error("payload map key must be a text string, found a {found}")]
    NonTextKey {
        /// The type found.
        found: &'static str,
    },
    /// A mandatory field is missing.
    #[error("mandatory field {field} is missing")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A mandatory field is `null`.
    #[error("mandatory field {field} is null")]
    NullField {
        /// The field.
        field: &'static str,
    },
    /// `module_id` is empty.
    #[error("module_id is empty")]
    EmptyModuleId,
    /// A text field is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// `digest` is not `"SHA384"`.
    #[error("digest is {found:?}, only \"SHA384\" is allowed")]
    Digest {
        /// The value found.
        found: String,
    },
    /// `timestamp` is zero.
    #[error("timestamp is 0")]
    TimestampZero,
    /// `pcrs` has 0 or more than 32 entries.
    #[error("pcrs has {count} entries, allowed 1..=32")]
    PcrCount {
        /// Count found.
        count: usize,
    },
    /// A PCR index above 31.
    #[error("PCR index {index} is above 31")]
    PcrIndex {
        /// Index found.
        index: u64,
    },
    /// A PCR value that is not 48 bytes.
    #[error("PCR{index} is {len} bytes, SHA384 PCRs are 48")]
    PcrLength {
        /// Index.
        index: u64,
        /// Length found.
        len: usize,
    },
    /// A byte/text field over its maximum length.
    #[error("{field} is {len} bytes, more than the {max}-byte limit")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Length found.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// An empty certificate.
    #[error("{field} is empty")]
    EmptyCertificate {
        /// `certificate` or `cabundle[i]`.
        field: &'static str,
    },
    /// `cabundle` is empty or too long.
    #[error("cabundle has {count} entries, allowed 1..={max}")]
    CabundleCount {
        /// Count found.
        count: usize,
        /// Limit.
        max: usize,
    },
}

/// Where a certificate sits in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The `certificate` field.
    Leaf,
    /// `cabundle[i]` (0 = root).
    Bundle(usize),
}

impl Position {
    /// A stable role name for check ids: `root`, `regional`, `zonal`,
    /// `instance` for a 4-entry bundle, `cabundle[i]` otherwise, `leaf`.
    pub fn role(self, bundle_len: usize) -> String {
        match self {
            Position::Leaf => "leaf".into(),
            Position::Bundle(0) => "root".into(),
            Position::Bundle(i) if bundle_len == 4 => {
                ["root", "regional", "zonal", "instance"].get(i).copied().unwrap_or("ca").into()
            }
            Position::Bundle(i) => format!("cabundle[{i}]"),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Leaf => f.write_str("certificate (leaf)"),
            Position::Bundle(i) => write!(f, "cabundle[{i}]"),
        }
    }
}

/// A certificate-chain failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The certificate is not valid DER X.509 (or has trailing bytes).
    #[error("{position}: not a DER X.509 certificate: {reason}")]
    Decode {
        /// Which certificate.
        position: Position,
        /// Parser message.
        reason: String,
    },
    /// `cabundle[0]` is not a trusted root.
    #[error("cabundle[0] (SHA-256 {sha256}) is not a trusted root")]
    UntrustedRoot {
        /// Hex SHA-256 of `cabundle[0]`.
        sha256: String,
    },
    /// The issuer name does not equal the parent's subject.
    #[error("{position}: issuer does not match the subject of the next certificate up")]
    IssuerMismatch {
        /// The child.
        position: Position,
    },
    /// A signature algorithm other than ecdsa-with-SHA384.
    #[error("{position}: signature algorithm {oid} is not ecdsa-with-SHA384")]
    SignatureAlgorithm {
        /// Which certificate.
        position: Position,
        /// OID found.
        oid: String,
    },
    /// Outer and TBS signature algorithms differ.
    #[error("{position}: outer and TBS signature algorithms differ")]
    AlgorithmMismatch {
        /// Which certificate.
        position: Position,
    },
    /// The public key is not an EC P-384 key.
    #[error("{position}: public key is not EC P-384")]
    NotP384 {
        /// Which certificate.
        position: Position,
    },
    /// The parent's signature on the certificate does not verify.
    #[error("{position}: signature by the issuer does not verify")]
    BadSignature {
        /// The child.
        position: Position,
    },
    /// A CA certificate without basic constraints CA:TRUE.
    #[error("{position}: issues certificates but is not a CA (basic constraints {found})")]
    NotCa {
        /// Which certificate.
        position: Position,
        /// What was found.
        found: &'static str,
    },
    /// Basic constraints present but not critical on a CA.
    #[error("{position}: basic constraints must be critical on a CA")]
    BasicConstraintsNotCritical {
        /// Which certificate.
        position: Position,
    },
    /// The path length constraint is exceeded.
    #[error("{position}: pathLenConstraint {path_len} but {below} CA certificate(s) below it")]
    PathLength {
        /// Which certificate.
        position: Position,
        /// Its constraint.
        path_len: u32,
        /// CA certificates below.
        below: usize,
    },
    /// Key usage missing a required bit.
    #[error("{position}: key usage lacks {missing}")]
    KeyUsage {
        /// Which certificate.
        position: Position,
        /// The missing bit.
        missing: &'static str,
    },
    /// The leaf claims to be a CA.
    #[error("leaf certificate is a CA (basic constraints CA:TRUE or pathLenConstraint present)")]
    LeafIsCa,
    /// Not yet valid at the verification instant.
    #[error("{position}: not valid before {not_before} (checked at {at})")]
    NotYetValid {
        /// Which certificate.
        position: Position,
        /// notBefore, RFC 3339.
        not_before: String,
        /// The instant, RFC 3339.
        at: String,
    },
    /// Expired at the verification instant.
    #[error("{position}: expired at {not_after} (checked at {at})")]
    Expired {
        /// Which certificate.
        position: Position,
        /// notAfter, RFC 3339.
        not_after: String,
        /// The instant, RFC 3339.
        at: String,
    },
    /// A critical extension this verifier does not understand.
    #[error("{position}: unknown critical extension {oid}")]
    UnknownCriticalExtension {
        /// Which certificate.
        position: Position,
        /// Its OID.
        oid: String,
    },
}

impl ChainError {
    /// The certificate the error is about (`None` for the root pin).
    pub fn position(&self) -> Option<Position> {
        match self {
            ChainError::Decode { position, .. }
            | ChainError::IssuerMismatch { position }
            | ChainError::SignatureAlgorithm { position, .. }
            | ChainError::AlgorithmMismatch { position }
            | ChainError::NotP384 { position }
            | ChainError::BadSignature { position }
            | ChainError::NotCa { position, .. }
            | ChainError::BasicConstraintsNotCritical { position }
            | ChainError::PathLength { position, .. }
            | ChainError::KeyUsage { position, .. }
            | ChainError::NotYetValid { position, .. }
            | ChainError::Expired { position, .. }
            | ChainError::UnknownCriticalExtension { position, .. } => Some(*position),
            ChainError::LeafIsCa => Some(Position::Leaf),
            ChainError::UntrustedRoot { .. } => Some(Position::Bundle(0)),
        }
    }
}

/// Every reason a document can fail verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The bytes are not a well-formed document.
    #[error("parse: {0}")]
    Parse(#[from] ParseError),
    /// The certificate chain does not validate.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// The COSE signature does not verify with the leaf key.
    #[error("COSE_Sign1 signature does not verify with the leaf certificate's key")]
    CoseSignature,
    /// The leaf key cannot be used (not P-384 or unparsable), so the
    /// signature could not be checked.
    #[error("COSE_Sign1 signature not checked: the leaf key is unusable")]
    LeafKeyUnusable,
    /// The document timestamp is outside the leaf's validity.
    #[error("timestamp {timestamp} is outside the leaf validity {not_before} .. {not_after}")]
    TimestampOutsideLeaf {
        /// The document time, RFC 3339.
        timestamp: String,
        /// Leaf notBefore.
        not_before: String,
        /// Leaf notAfter.
        not_after: String,
    },
    /// Older than the allowed maximum age.
    #[error("document is {age_ms} ms old, more than the allowed {max_ms} ms")]
    TooOld {
        /// Age relative to now.
        age_ms: i128,
        /// Allowed.
        max_ms: u128,
    },
    /// Timestamp in the future relative to now (beyond the allowed skew).
    #[error("document timestamp is {ahead_ms} ms in the future")]
    FromFuture {
        /// How far ahead.
        ahead_ms: i128,
    },
    /// A debug-mode document (PCR0/1/2 all zero) and debug not allowed.
    #[error(
        "debug-mode measurement: PCR0, PCR1 or PCR2 is all zero (pass --allow-debug to accept)"
    )]
    DebugMode,
    /// An expected PCR differs.
    #[error("PCR{index} differs from the expected value")]
    PcrMismatch {
        /// Index.
        index: u8,
    },
    /// The expected PCRs leave out one of PCR0, PCR1, PCR2, so the image
    /// would not be pinned.
    #[error("PCR{index} is not in the expected PCRs (PCR0, PCR1 and PCR2 must all be pinned)")]
    ExpectedPcrMissing {
        /// Index.
        index: u8,
    },
    /// An expected PCR is absent from the document.
    #[error("PCR{index} is expected but absent from the document")]
    PcrMissing {
        /// Index.
        index: u8,
    },
    /// `nonce` differs or is absent.
    #[error("nonce differs from the expected value")]
    NonceMismatch,
    /// `user_data` differs or is absent.
    #[error("user_data differs from the expected value")]
    UserDataMismatch,
    /// `public_key` differs or is absent.
    #[error("public_key differs from the expected value")]
    PublicKeyMismatch,
    /// `module_id` does not start with the expected prefix.
    #[error("module_id does not start with the expected prefix")]
    ModuleIdMismatch,
}
