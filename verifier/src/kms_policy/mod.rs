//! AWS KMS key policies: parse, evaluate, and decide whether a key is pinned
//! to an enclave's PCRs.
//!
//! * [`parse`]: the key-policy JSON grammar into a typed [`parse::Policy`]
//!   (size-checked before parsing, duplicate members detected, typed errors).
//! * [`eval`]: the concrete evaluator, `evaluate(&Policy, &Request) -> Decision`
//!   (Allow / explicit deny / implicit deny and which statements decided).
//! * [`pin`]: the analyser answering "can anyone decrypt without an enclave
//!   whose PCRs equal the expected ones?", with findings and a verdict.
//! * [`render`]: least-privilege pinned policies as JSON and Terraform.
//!
//! Semantics follow the IAM and KMS documentation; where AWS does not
//! document a behaviour the analyser never resolves it toward "pinned".

pub mod actions;
pub mod cond;
pub mod eval;
pub mod expected;
pub mod findings;
pub mod glob;
pub mod json;
pub mod parse;
pub mod pin;
