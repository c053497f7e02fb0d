//! The integration tests of this crate, one binary (one link of the
//! dependency graph) with a module per area. Run one area with
//! `cargo test --test it <module>::`.
#![allow(clippy::unwrap_used)]

mod common;

mod cms;
mod envelope;
mod gitproof;
mod merge;
mod open_cli;
mod parser_smoke;
mod receipt_golden;
mod receipt_vectors;
mod recipients_vectors;
mod secret_debug;
mod serve_load;
mod service;
mod sops_vectors;
