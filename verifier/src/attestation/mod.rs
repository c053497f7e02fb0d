//! Attestation documents, as the verifier uses them.
//!
//! The model, parser, chain walk and verification live in the
//! `proofpack-attestation` crate (written once for the enclave, the verifier
//! and the local KMS) and are re-exported here; what is the verifier's own is
//! [`render`], the CLI's text layout of an [`AttestationReport`].

pub use ::attestation::*;

pub mod render;
