//! AWS Nitro Enclaves attestation documents: strict parsing and verification.
//!
//! Data flow: [`parse`] (bytes → [`ParsedDoc`], no crypto) → [`verify`]
//! (chain to a pinned root at an explicit instant, COSE signature over the
//! original payload bytes, time, debug mode, expectations) →
//! [`AttestationReport`] (every check + typed errors + decoded document; the
//! verdict is derived from the checks).
//!
//! * [`cbor`]: bounded cursor-based CBOR reader.
//! * [`parse`]: COSE_Sign1 and payload structure (checklist steps 1–11).
//! * [`chain`]: X.509 path validation with `x509-parser` + `p384`, the
//!   embedded AWS root and [`ChainCache`] for batch mode (steps 12–13).
//! * [`verify`]: everything else (steps 14–25) and the report.
//!
//! The producing side (document model, encoder, test CA) lives in
//! `enclave::attestation`.

pub mod cbor;
pub mod chain;
pub mod error;
pub mod input;
pub mod parse;
pub mod render;
pub mod sig;
pub mod time_fmt;
pub mod verify;

pub use chain::{ChainCache, TrustAnchor, AWS_ROOT_G1_SHA256};
pub use error::{
    AttestationError, ChainError, ParseError, ParseErrorKind, Position, EMULATOR_DOCUMENT,
};
pub use parse::{parse, parse_with, ParseOptions, ParsedDoc};
pub use verify::{
    verify, verify_with_cache, AttestationReport, DecodedDoc, Expectations, VerifyAt, VerifyOptions,
};

/// Fuzzing hook: parse arbitrary bytes and, when they parse, walk the chain
/// (no panics allowed on any input).
pub fn fuzz_parse(data: &[u8]) {
    if let Ok(p) = parse(data) {
        let _ = chain::verify_chain(&p.doc.certificate, &p.doc.cabundle, &[], 0, None);
    }
    // Emulator mode (QEMU's unsigned documents) through the whole verifier.
    let opts = VerifyOptions {
        parse: ParseOptions { emulator: true, ..Default::default() },
        ..VerifyOptions::default()
    };
    let _ = verify(data, &opts);
}
