//! The audit report as plain data.
//!
//! An [`AuditReport`] states its own inputs (tool version, settings, trust-root
//! digest, verification time) and, per audited subject (a receipt or an
//! image), every check grouped by stage plus the evidence an auditor reads: the
//! certificate chain, the PCR table, the image diff and the KMS policy
//! findings. Verdicts are always derived from the checks ([`Checks::verdict`])
//! and never stored, so a renderer cannot print a verdict the checks do not
//! support.
//!
//! The renderers in the sibling modules are pure functions of `&AuditReport`;
//! only [`super::json`] defines the wire format.

use super::{Check, Checks, Status, Verdict};

/// Who produced the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolInfo {
    /// Tool name, `proofpack`.
    pub name: String,
    /// Tool version (the crate version).
    pub version: String,
}

impl ToolInfo {
    /// This build of proofpack.
    pub fn current() -> Self {
        Self { name: "proofpack".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// One input file named on the command line, identified by content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// What the file is for, e.g. the KMS key ARN a policy belongs to.
    pub label: String,
    /// The path as given.
    pub path: String,
    /// Lowercase hex SHA-256 of the bytes read, when they could be read.
    pub sha256: Option<String>,
}

/// The trust anchor attestation chains were checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRoot {
    /// Where it came from: `aws-nitro-enclaves-root-g1` (built in) or a path.
    pub source: String,
    /// Lowercase hex SHA-256 of the root certificate's DER bytes.
    pub sha256: String,
}

/// The settings a run used, so a report can be reproduced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The subcommand: `audit` or `gate`.
    pub command: String,
    /// The repository (path or URL) commits were looked up in.
    pub repository: Option<String>,
    /// The branch commits had to be reachable from, when one was named.
    pub branch: Option<String>,
    /// The trust root, when attestation documents were checked.
    pub trust_root: Option<TrustRoot>,
    /// Whether the development CA was accepted as a trust root.
    pub allow_dev_ca: bool,
    /// KMS key policies given with `--kms-policy KEY_ARN=FILE`.
    pub kms_policies: Vec<InputFile>,
    /// The artifact given with `--artifact`.
    pub artifact: Option<InputFile>,
    /// The expected-PCR file given to `gate --expect`.
    pub expect: Option<InputFile>,
    /// The blob directory used for rebuilds.
    pub blobs: Option<String>,
    /// The KMS endpoint queried for key state.
    pub kms_endpoint: Option<String>,
    /// The CloudTrail inputs and window, when the trail was audited.
    pub cloudtrail: Option<TrailSettings>,
}

/// What `--cloudtrail` read and over which window (issue 16).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailSettings {
    /// The paths as given (files or directories).
    pub paths: Vec<String>,
    /// Start of the window, RFC 3339 UTC.
    pub from: String,
    /// End of the window, RFC 3339 UTC.
    pub to: String,
    /// Log files read.
    pub files_read: u64,
    /// Records read.
    pub records: u64,
}

/// The stages of an audit, in report order. The wire names (`id`) are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum GroupKind {
    /// Reading and parsing the inputs.
    Input,
    /// The DSSE signature of the receipt.
    Signature,
    /// The attestation documents and their certificate chain.
    Attestation,
    /// Key, request and statement bindings.
    Binding,
    /// The source commit in the repository.
    Source,
    /// Where the secrets came from: their commit in the secrets repository (issue 21).
    Secrets,
    /// The rebuild and the PCR comparison.
    Rebuild,
    /// The KMS key policies.
    KmsPolicy,
    /// The live state of the KMS keys.
    KmsKey,
    /// The key's CloudTrail over the audit window (issue 16).
    KmsTrail,
    /// The artifact digest.
    Artifact,
}

impl GroupKind {
    /// Every group, in report order.
    pub const ALL: [GroupKind; 11] = [
        GroupKind::Input,
        GroupKind::Signature,
        GroupKind::Attestation,
        GroupKind::Binding,
        GroupKind::Source,
        GroupKind::Secrets,
        GroupKind::Rebuild,
        GroupKind::KmsPolicy,
        GroupKind::KmsKey,
        GroupKind::KmsTrail,
        GroupKind::Artifact,
    ];

    /// The stable identifier used in JSON, SARIF and JUnit.
    pub fn id(self) -> &'static str {
        match self {
            GroupKind::Input => "input",
            GroupKind::Signature => "signature",
            GroupKind::Attestation => "attestation",
            GroupKind::Binding => "binding",
            GroupKind::Source => "source",
            GroupKind::Secrets => "secrets",
            GroupKind::Rebuild => "rebuild",
            GroupKind::KmsPolicy => "kms_policy",
            GroupKind::KmsKey => "kms_key",
            GroupKind::KmsTrail => "kms_trail",
            GroupKind::Artifact => "artifact",
        }
    }

    /// A heading for people.
    pub fn title(self) -> &'static str {
        match self {
            GroupKind::Input => "Inputs",
            GroupKind::Signature => "Receipt signature",
            GroupKind::Attestation => "Attestation chain",
            GroupKind::Binding => "Bindings",
            GroupKind::Source => "Source commit",
            GroupKind::Secrets => "Secrets commit",
            GroupKind::Rebuild => "Rebuild and PCRs",
            GroupKind::KmsPolicy => "KMS key policies",
            GroupKind::KmsKey => "KMS key state",
            GroupKind::KmsTrail => "KMS key CloudTrail",
            GroupKind::Artifact => "Artifact digest",
        }
    }
}

/// The checks of one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckGroup {
    /// Which stage.
    pub kind: GroupKind,
    /// Its checks, in the order they ran.
    pub checks: Checks,
}

impl CheckGroup {
    /// A group of checks.
    pub fn new(kind: GroupKind, checks: Checks) -> Self {
        Self { kind, checks }
    }

    /// The group's display status: fail if a required check failed, else warn
    /// if anything warned, else pass if anything passed, else skipped.
    pub fn status(&self) -> Status {
        let mut any_warn = false;
        let mut any_pass = false;
        for c in &self.checks.0 {
            match Status::of_check(c) {
                Status::Fail => return Status::Fail,
                Status::Warn => any_warn = true,
                Status::Pass => any_pass = true,
                Status::Skipped => {}
            }
        }
        if any_warn {
            Status::Warn
        } else if any_pass {
            Status::Pass
        } else {
            Status::Skipped
        }
    }
}

/// What was audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    /// A signed pack receipt.
    Receipt,
    /// An enclave image file.
    Image,
    /// A pinned KMS key, audited from CloudTrail over a window (issue 16).
    KmsKey,
}

impl SubjectKind {
    /// Wire name.
    pub fn id(self) -> &'static str {
        match self {
            SubjectKind::Receipt => "receipt",
            SubjectKind::Image => "image",
            SubjectKind::KmsKey => "kms_key",
        }
    }

    /// What the first PCR column holds: attested values for a receipt,
    /// computed values for an image.
    pub fn pcr_source(self) -> &'static str {
        match self {
            SubjectKind::Receipt => "attested",
            SubjectKind::Image => "image",
            SubjectKind::KmsKey => "cloudtrail",
        }
    }
}

/// Where the attested code came from, as the receipt claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// Repository URI from the receipt.
    pub repository: String,
    /// Git commit id.
    pub commit: String,
    /// Root tree id, when claimed.
    pub tree: Option<String>,
}

/// Where one SOPS input came from (issue 21): a commit and path of the
/// secrets repository, or (all `None`) a local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsSourceInfo {
    /// Input name.
    pub input: String,
    /// The secrets repository as the requester named it.
    pub repository: Option<String>,
    /// The commit.
    pub commit: Option<String>,
    /// The path in the commit.
    pub path: Option<String>,
}

/// One certificate of an attestation chain, root first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Lowercase hex SHA-256 of the DER bytes.
    pub sha256: String,
}

/// One row of the PCR table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrRow {
    /// PCR index.
    pub index: u8,
    /// The attested value (receipt / attestation document), lowercase hex.
    pub attested: Option<String>,
    /// The expected value (rebuild or expected file), lowercase hex.
    pub expected: Option<String>,
}

impl PcrRow {
    /// `Some(true)` when both sides are known and equal, `Some(false)` when
    /// both are known and differ, `None` when one side is missing.
    pub fn matches(&self) -> Option<bool> {
        match (&self.attested, &self.expected) {
            (Some(a), Some(e)) => Some(a == e),
            _ => None,
        }
    }
}

/// How one file of an image changed between the expected and the actual build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffChange {
    /// Only in the actual image.
    Added,
    /// Only in the expected image.
    Removed,
    /// In both, with different content.
    Modified,
    /// In both, same content, different metadata (mode, owner, ...).
    Metadata,
}

impl DiffChange {
    /// Wire name.
    pub fn id(self) -> &'static str {
        match self {
            DiffChange::Added => "added",
            DiffChange::Removed => "removed",
            DiffChange::Modified => "modified",
            DiffChange::Metadata => "metadata",
        }
    }
}

/// One entry of an image diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEntry {
    /// Path inside the image (section or ramdisk path).
    pub path: String,
    /// The kind of change.
    pub change: DiffChange,
    /// Details (e.g. old and new digests).
    pub detail: Option<String>,
}

/// Severity of a KMS policy finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Informational.
    Info,
    /// Worth a look; does not fail the audit by itself.
    Warning,
    /// Breaks the pinning guarantee.
    Error,
}

impl Severity {
    /// Wire name.
    pub fn id(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding of the KMS policy analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFinding {
    /// The key the policy belongs to.
    pub key_arn: String,
    /// Stable finding identifier, e.g. `kms.policy.bypass`.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// A sentence for people.
    pub message: String,
    /// The statement it is about (Sid or index), when there is one.
    pub statement: Option<String>,
}

/// Everything checked about one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectReport {
    /// Receipt or image.
    pub kind: SubjectKind,
    /// The path as given.
    pub path: String,
    /// The receipt id (SHA-256 of the payload), once known.
    pub receipt_id: Option<String>,
    /// The claimed source, once known.
    pub source: Option<SourceInfo>,
    /// Where each SOPS input came from (issue 21); empty until known.
    pub secrets_sources: Vec<SecretsSourceInfo>,
    /// The attestation time the chain was checked at, RFC 3339.
    pub attested_at: Option<String>,
    /// The checks, by stage.
    pub groups: Vec<CheckGroup>,
    /// The certificate chain of the receipt's attestation document, root first.
    pub chain: Vec<CertSummary>,
    /// Where the `expected` PCR column comes from (`rebuild of <commit>`, a file).
    pub pcr_expected_from: Option<String>,
    /// The PCR table.
    pub pcrs: Vec<PcrRow>,
    /// The image diff, when the PCRs differ and both images were available.
    pub image_diff: Vec<DiffEntry>,
    /// KMS policy findings.
    pub policy_findings: Vec<PolicyFinding>,
    /// The key's timeline over the audit window (CloudTrail subjects only).
    pub timeline: Option<super::Timeline>,
}

impl SubjectReport {
    /// An empty report for a subject.
    pub fn new(kind: SubjectKind, path: impl Into<String>) -> Self {
        Self {
            kind,
            path: path.into(),
            receipt_id: None,
            source: None,
            secrets_sources: Vec::new(),
            attested_at: None,
            groups: Vec::new(),
            chain: Vec::new(),
            pcr_expected_from: None,
            pcrs: Vec::new(),
            image_diff: Vec::new(),
            policy_findings: Vec::new(),
            timeline: None,
        }
    }

    /// Appends checks to the group of `kind`, creating it in report order.
    pub fn add(&mut self, kind: GroupKind, checks: Checks) {
        if let Some(g) = self.groups.iter_mut().find(|g| g.kind == kind) {
            g.checks.extend(checks);
            return;
        }
        let pos = self.groups.iter().position(|g| g.kind > kind).unwrap_or(self.groups.len());
        self.groups.insert(pos, CheckGroup::new(kind, checks));
    }

    /// Appends one check to the group of `kind`.
    pub fn push(&mut self, kind: GroupKind, check: Check) {
        self.add(kind, Checks(vec![check]));
    }

    /// Every check of every group, in report order.
    pub fn checks(&self) -> impl Iterator<Item = (&CheckGroup, &Check)> {
        self.groups.iter().flat_map(|g| g.checks.0.iter().map(move |c| (g, c)))
    }

    /// A failing `verdict.nothing_passed` check when the subject fails
    /// although no required check failed (nothing passed at all). Renderers
    /// that list checks (JUnit, SARIF, annotations) add it so their output
    /// fails exactly when the verdict does.
    pub fn synthetic_failure(&self) -> Option<Check> {
        let explained = self.checks().any(|(_, c)| c.required && c.is_fail());
        (!explained && self.verdict() == Verdict::Fail)
            .then(|| Check::fail(NOTHING_PASSED, "no check passed for this subject"))
    }

    /// The derived verdict over all groups.
    pub fn verdict(&self) -> Verdict {
        let all = Checks(self.checks().map(|(_, c)| c.clone()).collect());
        all.verdict()
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Who produced it.
    pub tool: ToolInfo,
    /// When it was produced, RFC 3339 UTC.
    pub verified_at: String,
    /// The settings used.
    pub settings: Settings,
    /// One entry per audited subject, in input order.
    pub subjects: Vec<SubjectReport>,
}

/// Check id of the synthetic reason for a subject on which no check passed.
pub const NOTHING_PASSED: &str = "verdict.nothing_passed";

/// The notice every renderer shows when the development CA was accepted.
pub const DEV_CA_NOTICE: &str =
    "DEVELOPMENT CA ACCEPTED (--allow-dev-ca): attestation documents were checked against a test CA; this is NOT evidence of real AWS Nitro hardware";

/// Subject counts for summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Subjects audited.
    pub total: usize,
    /// Subjects that passed.
    pub passed: usize,
    /// Subjects that failed.
    pub failed: usize,
}

impl AuditReport {
    /// The overall verdict: pass only when there is at least one subject and
    /// every subject passes. An empty report never reads as success.
    pub fn verdict(&self) -> Verdict {
        if !self.subjects.is_empty() && self.subjects.iter().all(|s| s.verdict() == Verdict::Pass) {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    /// How many subjects passed and failed.
    pub fn summary(&self) -> Summary {
        let passed = self.subjects.iter().filter(|s| s.verdict() == Verdict::Pass).count();
        Summary { total: self.subjects.len(), passed, failed: self.subjects.len() - passed }
    }

    /// The reasons for a failure: every failed required check, with its
    /// subject. A subject that fails without any failed required check (no
    /// check passed at all) gets a synthetic `verdict.nothing_passed` reason,
    /// so a failure is never left unexplained.
    pub fn reasons(&self) -> Vec<(&SubjectReport, Check)> {
        let mut out = Vec::new();
        for s in &self.subjects {
            out.extend(
                s.checks().filter(|(_, c)| c.required && c.is_fail()).map(|(_, c)| (s, c.clone())),
            );
            if let Some(c) = s.synthetic_failure() {
                out.push((s, c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(subjects: Vec<SubjectReport>) -> AuditReport {
        AuditReport {
            tool: ToolInfo::current(),
            verified_at: "2026-01-01T00:00:00Z".into(),
            settings: Settings::default(),
            subjects,
        }
    }

    #[test]
    fn empty_report_fails() {
        assert_eq!(report(vec![]).verdict(), Verdict::Fail);
    }

    #[test]
    fn subject_without_checks_fails() {
        let s = SubjectReport::new(SubjectKind::Receipt, "r.json");
        assert_eq!(report(vec![s]).verdict(), Verdict::Fail);
    }

    #[test]
    fn one_failing_subject_fails_all() {
        let mut a = SubjectReport::new(SubjectKind::Receipt, "a");
        a.push(GroupKind::Signature, Check::pass("receipt.signature", "ok"));
        let mut b = SubjectReport::new(SubjectKind::Receipt, "b");
        b.push(GroupKind::Signature, Check::pass("receipt.signature", "ok"));
        b.push(GroupKind::Artifact, Check::fail("artifact.digest", "bad"));
        let r = report(vec![a.clone(), b]);
        assert_eq!(r.verdict(), Verdict::Fail);
        assert_eq!(r.summary(), Summary { total: 2, passed: 1, failed: 1 });
        assert_eq!(r.reasons().len(), 1);
        assert_eq!(report(vec![a]).verdict(), Verdict::Pass);
    }

    #[test]
    fn groups_keep_report_order() {
        let mut s = SubjectReport::new(SubjectKind::Receipt, "a");
        s.push(GroupKind::Artifact, Check::pass("x", ""));
        s.push(GroupKind::Signature, Check::pass("y", ""));
        s.push(GroupKind::Rebuild, Check::pass("z", ""));
        s.push(GroupKind::Signature, Check::pass("w", ""));
        let kinds: Vec<_> = s.groups.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, vec![GroupKind::Signature, GroupKind::Rebuild, GroupKind::Artifact]);
        assert_eq!(s.groups[0].checks.0.len(), 2);
    }

    #[test]
    fn group_status() {
        let g = CheckGroup::new(GroupKind::Source, Checks(vec![Check::skipped("a", "no")]));
        assert_eq!(g.status(), Status::Skipped);
        let g = CheckGroup::new(
            GroupKind::Source,
            Checks(vec![Check::pass("a", ""), Check::fail("b", "").optional()]),
        );
        assert_eq!(g.status(), Status::Warn);
        let g = CheckGroup::new(
            GroupKind::Source,
            Checks(vec![Check::pass("a", ""), Check::fail("b", "")]),
        );
        assert_eq!(g.status(), Status::Fail);
    }

    #[test]
    fn pcr_row_match() {
        let r = PcrRow { index: 0, attested: Some("aa".into()), expected: Some("aa".into()) };
        assert_eq!(r.matches(), Some(true));
        let r = PcrRow { index: 0, attested: Some("aa".into()), expected: Some("bb".into()) };
        assert_eq!(r.matches(), Some(false));
        let r = PcrRow { index: 0, attested: None, expected: Some("bb".into()) };
        assert_eq!(r.matches(), None);
    }
}
