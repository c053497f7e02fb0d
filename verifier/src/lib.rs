//! The proofpack verifier: what an auditor runs.
//!
//! It checks attestation documents, receipts, KMS key policies and git
//! commits, rebuilds images, and renders audit reports. The `proofpack` binary
//! in `src/bin/proofpack/` is a thin layer over this library.

pub mod attestation;
pub mod audit;
pub mod blobs;
pub mod cli;
pub mod git;
pub mod org_key;
pub mod rebuild;
pub mod receipt;
pub mod report;
pub mod secrets_repo;
pub mod trail;

/// AWS KMS key policies (the `proofpack-kms-policy` crate), re-exported so
/// that `verifier::kms_policy` keeps naming what the CLI and audit use.
pub use kms_policy;
