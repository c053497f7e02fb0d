//! The integration tests of this crate, one binary (one link of the
//! dependency graph) with a module per area. Run one area with
//! `cargo test --test it <module>::`.
#![allow(clippy::unwrap_used)]

mod common;

mod attestation_cli;
mod attestation_emulator;
mod attestation_mutate;
mod attestation_real;
mod attestation_tamper;
mod attestation_testca;
mod audit_e2e;
mod audit_trail_e2e;
mod bounded_inputs;
mod build;
mod build_oci;
mod cli_color;
mod cli_exit_codes;
mod cli_gate;
mod cli_image;
mod cli_kms_policy;
mod cli_snapshots;
mod e2e_emulator;
mod e2e_pack;
mod e2e_recipients;
mod e2e_seal;
mod e2e_secrets_commit;
mod kms_eval_aws_docs;
mod kms_http_moto;
mod kms_local_boto3;
mod kms_local_recipient;
mod kms_policy;
mod kms_policy_soundness;
mod kms_trail;
mod kms_trail_athena;
mod kms_trail_digest_awscli;
mod kms_trail_e2e;
mod nsm_dev;
mod oci_cli;
mod pack_e2e;
mod receipt_verify;
mod report_render;
mod seal_inputs;
mod serve_soak;
