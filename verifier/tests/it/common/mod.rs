//! Fixtures shared by the integration-test modules.

pub mod audit_world;
pub mod e2e;
pub mod kms_local;
#[path = "../../../../build-spec/tests/it/common/oci_fixtures/mod.rs"]
pub mod oci_fixtures;
pub mod report_fixture;
pub mod sealed;
pub mod sops_fixture;
pub mod tiny_workspace;
pub mod trail;
