//! What a proofpack enclave image is and how it is made.
//!
//! This crate owns the byte formats of the image: the build spec, pinned
//! inputs, the deterministic cpio `newc` ramdisk, the Enclave Image File (EIF)
//! and the PCR measurements computed from it.
//!
//! **Architecture invariant:** nothing in this crate reads the wall clock or
//! the network. Build time always comes from an explicit value or
//! `SOURCE_DATE_EPOCH`.
pub mod bounded;
pub mod build;
pub mod codec;
pub mod cpio;
pub mod diff;
pub mod digest;
pub mod eif;
pub mod oci;
pub mod pcr;
pub mod spec;
