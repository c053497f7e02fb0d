//! The integration tests of this crate, one binary (one link of the
//! dependency graph) with a module per area. Run one area with
//! `cargo test --test it <module>::`.
#![allow(clippy::unwrap_used)]

mod common;

mod build_oci;
mod cpio;
mod cpio_gnu;
mod diff;
mod eif_malformed;
mod eif_roundtrip;
mod eif_signature;
mod eif_vectors;
mod oci;
mod oci_tools;
mod truncation;
