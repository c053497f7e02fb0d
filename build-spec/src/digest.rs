//! The digest seam of the hot paths (issue 18). Every module that hashes
//! image-sized data (the EIF reader and writer, the PCRs, the cpio reader,
//! OCI layers and their provenance, blob verification, build assembly and
//! the manifest, the rebuild cache check) takes `Sha256` and `Sha384` from
//! here, so the backend is chosen in one place, by measurement.
//!
//! The choice is the `sha2` crate. `scripts/bench-digests` measures it
//! (built as is and with its `asm` feature) against `aws-lc-rs` (already in
//! the dependency tree through the attestation crate) and `openssl dgst` on
//! the same buffers in one run; the table and the reasoning are in
//! BENCHMARKS.md, "Digest backends". In short: on this machine's CPU (AVX2
//! for SHA-512, SHA-NI for SHA-256) the `sha2` crate's runtime-detected
//! backends match aws-lc-rs, and the `asm` feature (a C/assembly build
//! step) brings nothing, so the pure-Rust crate stays. Changing the backend
//! means changing the two re-exports below (a wrapper implementing the
//! `digest` traits over another engine keeps every call site as it is).

pub use sha2::{Digest, Sha256, Sha384};
