//! What runs inside the proofpack enclave: the pack service, init, the NSM and
//! KMS backends and receipt signing.
//!
//! Hardware- and cloud-facing pieces (the Nitro Security Module, AWS KMS, vsock)
//! sit behind traits with a real implementation and a local test double that
//! speaks the same protocol.

pub mod backend;
pub mod cms;
pub mod envelope;
pub mod forward;
pub mod gitproof;
pub mod init;
pub mod json;
pub mod keypool;
pub mod merge;
pub mod receipt;
pub mod recipients;
pub mod seal;
pub mod secret;
pub mod server;
pub mod service;
pub mod sops;
pub mod transport;
