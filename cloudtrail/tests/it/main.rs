//! Integration tests of the `cloudtrail` crate: one binary, a module per area.

mod athena_csv;
mod common;
mod digest;
mod read_errors;
mod read_shapes;
mod write_roundtrip;
