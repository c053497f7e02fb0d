//! AWS Nitro Enclaves attestation documents, written once for every side of
//! proofpack: the enclave (development NSM), the verifier and the local KMS
//! (which checks the `Recipient` document of a Decrypt).
//!
//! Data flow when verifying: [`parse`] (bytes → [`ParsedDoc`], no crypto) →
//! [`verify`] (chain to a pinned root at an explicit instant, COSE signature
//! over the original payload bytes, time, debug mode, expectations) →
//! [`AttestationReport`] (every check + typed errors + decoded document; the
//! verdict is derived from the checks). The step numbers in the modules are
//! those of the 25-step checklist in `docs/formats/attestation.md`.
//!
//! * [`doc`]: [`AttestationDoc`], the nine payload fields, their limits and
//!   their encoding; [`AttestationRequest`], what an enclave asks the NSM to
//!   embed. One model for producing and for parsing.
//! * [`cbor`]: the CBOR encoder (exact NSM byte shapes, definite and
//!   indefinite payload maps, malformed shapes for tamper tests) and the
//!   bounded, offset-reporting reader.
//! * [`cose`]: the COSE_Sign1 envelope (RFC 9052) and its `Sig_structure`.
//! * [`parse`]: COSE_Sign1 and payload structure (checklist steps 1–11).
//! * [`chain`]: X.509 path validation with `x509-parser` + `p384`, the
//!   embedded AWS root and [`ChainCache`] for batch mode (steps 12–13).
//! * [`verify`]: everything else (steps 14–25) and the report.
//! * [`input`]: raw / base64 / hex document input, bounded.
//! * `cert` and `testca` (feature `testca`): a low-level X.509 issuer and
//!   [`testca::TestCa`], a P-384 hierarchy shaped like AWS's (root, regional,
//!   zonal, instance, per-document leaf). **Test and development use only**:
//!   its keys are plain PEM files and nothing it signs chains to the AWS
//!   root. The production enclave image is built without the feature.

pub mod cbor;
#[cfg(feature = "testca")]
pub mod cert;
pub mod chain;
pub mod cose;
pub mod doc;
pub mod error;
pub mod input;
pub mod parse;
pub mod sig;
#[cfg(feature = "testca")]
pub mod testca;
pub mod time_fmt;
pub mod verify;

pub use chain::{ChainCache, TrustAnchor, AWS_ROOT_G1_SHA256};
pub use doc::{AttestationDoc, AttestationRequest, MapStyle};
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
