//! Reports: the audit report model and its renderers.
//!
//! The check vocabulary itself ([`Check`], [`Checks`], [`Outcome`],
//! [`Status`], [`Verdict`]) lives in the `proofpack-checks` crate so that the
//! attestation and KMS-policy crates report in the same terms; it is
//! re-exported here so that `verifier::report::Check` keeps working.

pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
mod markup;
mod model;
pub mod sarif;
pub mod text;

pub use model::{
    AuditReport, CertSummary, CheckGroup, DiffChange, DiffEntry, GroupKind, InputFile, PcrRow,
    PolicyFinding, Settings, Severity, SourceInfo, SubjectKind, SubjectReport, Summary, ToolInfo,
    TrustRoot, DEV_CA_NOTICE, NOTHING_PASSED,
};

pub use checks::{Check, Checks, Outcome, Status, Verdict};
