//! Signed pack receipts: in-toto Statement v1 with the
//! `https://proofpack.dev/pack-receipt/v1` predicate in a DSSE envelope signed
//! with a per-job Ed25519 key (docs/formats/receipts.md §1–§4).
//!
//! The verification primitives live here too, so the verifier crate reuses
//! exactly the code that produced the bytes: [`model`] is the Statement as
//! types, serialised by [`statement`] and deserialised (and checked) by the
//! verifier.

pub mod dsse;
pub mod fields;
pub mod kms_call;
pub mod model;
pub mod statement;

pub use kms_call::KmsCall;
