//! The integration tests of this crate, one binary (one link of the
//! dependency graph) with a module per area. Run one area with
//! `cargo test --test it <module>::`.
#![allow(clippy::unwrap_used)]

mod binary;
mod faults;
mod kms_local_cms;
mod spawn;
mod trail;
