//! The integration tests of this crate, one binary with a module per area.
//! Run one area with `cargo test -p proofpack-kms-policy --test it <module>::`;
//! `scripts/test` runs `kms_differential` again in release at CI scale.
#![allow(clippy::unwrap_used)]

mod kms_differential;
