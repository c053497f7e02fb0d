//! The JSON audit report: a stable, versioned wire format.
//!
//! The wire types below are separate from the model so Rust renames never
//! change the format. The format is described by the JSON Schema
//! `docs/schema/audit-report.v1.json` and pinned by golden tests.
//!
//! Versioning: `schema_version` is `MAJOR.MINOR`. Adding a field bumps MINOR;
//! renaming or removing one, or changing its meaning, bumps MAJOR (and the
//! schema file name). Consumers should reject an unknown MAJOR.
//!
//! Verdicts (`verdict` at the top, per subject and `status` per group) are
//! derived from the checks while rendering; they are not stored in the model.
//!
//! Document shape (every member always present unless marked optional):
//!
//! ```text
//! { "schema_version": "1.0",
//!   "verdict": "pass" | "fail",
//!   "tool": { "name", "version" },
//!   "verified_at": RFC 3339,
//!   "settings": { "command", "repository"?, "branch"?, "trust_root"?: {"source","sha256"},
//!                 "allow_dev_ca", "kms_policies": [InputFile], "artifact"?, "expect"?,
//!                 "blobs"?, "kms_endpoint"?,
//!                 "cloudtrail"?: {"paths","from","to","files_read","records"} },
//!   "summary": { "total", "passed", "failed" },
//!   "subjects": [ { "kind": "receipt"|"image"|"kms_key", "path", "verdict",
//!                   "receipt_id"?, "source"?: {"repository","commit","tree"?},
//!                   "secrets_sources"?: [ {"input","origin": "git"|"local",
//!                                          "repository"?,"commit"?,"path"?} ],
//!                   "attested_at"?,
//!                   "groups": [ { "id", "title", "status", "checks": [Check] } ],
//!                   "chain": [ {"subject","issuer","not_before","not_after","sha256"} ],
//!                   "pcr_expected_from"?,
//!                   "pcrs": [ {"index","attested"?,"expected"?,"match": bool|null} ],
//!                   "image_diff": [ {"path","change","detail"?} ],
//!                   "policy_findings": [ {"key_arn","id","severity","message","statement"?} ],
//!                   "timeline"?: { "key_arn", "from", "to",
//!                                  "intervals": [ {"start","end","state","opened_by"?,"closed_by"?} ],
//!                                  "uses": [ {"time","kind","label"} ],
//!                                  "counts": {kind: n} } } ] }
//! (1.1 added `kms_key` subjects, the `kms_trail` group, `settings.cloudtrail`,
//! `timeline` and the command `kms-trail`; times in `timeline` are RFC 3339.)
//! Check = { "id", "required", "status": "pass"|"fail"|"skipped"|"warn",
//!           "expected"?, "actual"?, "why"?, "detail" }
//! ```

use serde::Serialize;

use super::{
    AuditReport, CertSummary, Check, CheckGroup, DiffEntry, InputFile, PcrRow, PolicyFinding,
    Settings, SourceInfo, SubjectReport, Timeline, TrustRoot,
};

/// The schema version this module writes.
pub const SCHEMA_VERSION: &str = "1.1";

/// Renders the report as one pretty-printed JSON document plus a newline.
pub fn render(report: &AuditReport) -> String {
    let doc = WireReport::from(report);
    // Serialising plain structs of strings, bools and integers cannot fail.
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| {
        serde_json::json!({"schema_version": SCHEMA_VERSION, "verdict": "fail", "error": e.to_string()})
            .to_string()
    });
    s.push('\n');
    s
}

/// Renders the report as a `serde_json::Value` (for embedding).
pub fn to_value(report: &AuditReport) -> serde_json::Value {
    serde_json::to_value(WireReport::from(report)).unwrap_or(serde_json::Value::Null)
}

#[derive(Serialize)]
struct WireReport<'a> {
    schema_version: &'static str,
    verdict: &'static str,
    tool: WireTool<'a>,
    verified_at: &'a str,
    settings: WireSettings<'a>,
    summary: WireSummary,
    subjects: Vec<WireSubject<'a>>,
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct WireSummary {
    total: usize,
    passed: usize,
    failed: usize,
}

#[derive(Serialize)]
struct WireSettings<'a> {
    command: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trust_root: Option<WireTrustRoot<'a>>,
    allow_dev_ca: bool,
    kms_policies: Vec<WireInputFile<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact: Option<WireInputFile<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expect: Option<WireInputFile<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blobs: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloudtrail: Option<WireTrailSettings<'a>>,
}

#[derive(Serialize)]
struct WireTrailSettings<'a> {
    paths: &'a [String],
    from: &'a str,
    to: &'a str,
    files_read: u64,
    records: u64,
}

#[derive(Serialize)]
struct WireTimeline<'a> {
    key_arn: &'a str,
    from: String,
    to: String,
    intervals: Vec<WireInterval<'a>>,
    uses: Vec<WireMark<'a>>,
    counts: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct WireInterval<'a> {
    start: String,
    end: String,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    opened_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    closed_by: Option<&'a str>,
}

#[derive(Serialize)]
struct WireMark<'a> {
    time: String,
    kind: &'static str,
    label: &'a str,
}

impl<'a> From<&'a Timeline> for WireTimeline<'a> {
    fn from(t: &'a Timeline) -> Self {
        let time = crate::report::format_unix;
        WireTimeline {
            key_arn: &t.key_arn,
            from: time(t.from),
            to: time(t.to),
            intervals: t
                .intervals
                .iter()
                .map(|i| WireInterval {
                    start: time(i.start),
                    end: time(i.end),
                    state: i.state.id(),
                    opened_by: i.opened_by.as_deref(),
                    closed_by: i.closed_by.as_deref(),
                })
                .collect(),
            uses: t
                .marks
                .iter()
                .map(|m| WireMark { time: time(m.time), kind: m.kind.id(), label: &m.label })
                .collect(),
            counts: t.counts.iter().map(|(k, n)| (k.id(), *n)).collect(),
        }
    }
}

#[derive(Serialize)]
struct WireTrustRoot<'a> {
    source: &'a str,
    sha256: &'a str,
}

#[derive(Serialize)]
struct WireInputFile<'a> {
    label: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<&'a str>,
}

#[derive(Serialize)]
struct WireSecretsSource<'a> {
    input: &'a str,
    origin: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
}

#[derive(Serialize)]
struct WireSubject<'a> {
    kind: &'static str,
    path: &'a str,
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<WireSource<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets_sources: Vec<WireSecretsSource<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attested_at: Option<&'a str>,
    groups: Vec<WireGroup<'a>>,
    chain: Vec<WireCert<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcr_expected_from: Option<&'a str>,
    pcrs: Vec<WirePcr<'a>>,
    image_diff: Vec<WireDiff<'a>>,
    policy_findings: Vec<WireFinding<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<WireTimeline<'a>>,
}

#[derive(Serialize)]
struct WireSource<'a> {
    repository: &'a str,
    commit: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tree: Option<&'a str>,
}

#[derive(Serialize)]
struct WireGroup<'a> {
    id: &'static str,
    title: &'static str,
    status: &'static str,
    /// `Check` already has a stable, explicitly named serialisation.
    checks: &'a [Check],
}

#[derive(Serialize)]
struct WireCert<'a> {
    subject: &'a str,
    issuer: &'a str,
    not_before: &'a str,
    not_after: &'a str,
    sha256: &'a str,
}

#[derive(Serialize)]
struct WirePcr<'a> {
    index: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    attested: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'a str>,
    #[serde(rename = "match")]
    matches: Option<bool>,
}

#[derive(Serialize)]
struct WireDiff<'a> {
    path: &'a str,
    change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[derive(Serialize)]
struct WireFinding<'a> {
    key_arn: &'a str,
    id: &'a str,
    severity: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    statement: Option<&'a str>,
}

impl<'a> From<&'a AuditReport> for WireReport<'a> {
    fn from(r: &'a AuditReport) -> Self {
        let s = r.summary();
        WireReport {
            schema_version: SCHEMA_VERSION,
            verdict: r.verdict().id(),
            tool: WireTool { name: &r.tool.name, version: &r.tool.version },
            verified_at: &r.verified_at,
            settings: (&r.settings).into(),
            summary: WireSummary { total: s.total, passed: s.passed, failed: s.failed },
            subjects: r.subjects.iter().map(Into::into).collect(),
        }
    }
}

impl<'a> From<&'a Settings> for WireSettings<'a> {
    fn from(s: &'a Settings) -> Self {
        WireSettings {
            command: &s.command,
            repository: s.repository.as_deref(),
            branch: s.branch.as_deref(),
            trust_root: s
                .trust_root
                .as_ref()
                .map(|t: &'a TrustRoot| WireTrustRoot { source: &t.source, sha256: &t.sha256 }),
            allow_dev_ca: s.allow_dev_ca,
            kms_policies: s.kms_policies.iter().map(Into::into).collect(),
            artifact: s.artifact.as_ref().map(Into::into),
            expect: s.expect.as_ref().map(Into::into),
            blobs: s.blobs.as_deref(),
            kms_endpoint: s.kms_endpoint.as_deref(),
            cloudtrail: s.cloudtrail.as_ref().map(|t| WireTrailSettings {
                paths: &t.paths,
                from: &t.from,
                to: &t.to,
                files_read: t.files_read,
                records: t.records,
            }),
        }
    }
}

impl<'a> From<&'a InputFile> for WireInputFile<'a> {
    fn from(f: &'a InputFile) -> Self {
        WireInputFile { label: &f.label, path: &f.path, sha256: f.sha256.as_deref() }
    }
}

impl<'a> From<&'a SubjectReport> for WireSubject<'a> {
    fn from(s: &'a SubjectReport) -> Self {
        WireSubject {
            kind: s.kind.id(),
            path: &s.path,
            verdict: s.verdict().id(),
            receipt_id: s.receipt_id.as_deref(),
            source: s.source.as_ref().map(|x: &'a SourceInfo| WireSource {
                repository: &x.repository,
                commit: &x.commit,
                tree: x.tree.as_deref(),
            }),
            secrets_sources: s
                .secrets_sources
                .iter()
                .map(|x| WireSecretsSource {
                    input: &x.input,
                    origin: if x.commit.is_some() { "git" } else { "local" },
                    repository: x.repository.as_deref(),
                    commit: x.commit.as_deref(),
                    path: x.path.as_deref(),
                })
                .collect(),
            attested_at: s.attested_at.as_deref(),
            groups: s.groups.iter().map(Into::into).collect(),
            chain: s.chain.iter().map(Into::into).collect(),
            pcr_expected_from: s.pcr_expected_from.as_deref(),
            pcrs: s.pcrs.iter().map(Into::into).collect(),
            image_diff: s.image_diff.iter().map(Into::into).collect(),
            policy_findings: s.policy_findings.iter().map(Into::into).collect(),
            timeline: s.timeline.as_ref().map(Into::into),
        }
    }
}

impl<'a> From<&'a CheckGroup> for WireGroup<'a> {
    fn from(g: &'a CheckGroup) -> Self {
        WireGroup {
            id: g.kind.id(),
            title: g.kind.title(),
            status: g.status().id(),
            checks: &g.checks.0,
        }
    }
}

impl<'a> From<&'a CertSummary> for WireCert<'a> {
    fn from(c: &'a CertSummary) -> Self {
        WireCert {
            subject: &c.subject,
            issuer: &c.issuer,
            not_before: &c.not_before,
            not_after: &c.not_after,
            sha256: &c.sha256,
        }
    }
}

impl<'a> From<&'a PcrRow> for WirePcr<'a> {
    fn from(p: &'a PcrRow) -> Self {
        WirePcr {
            index: p.index,
            attested: p.attested.as_deref(),
            expected: p.expected.as_deref(),
            matches: p.matches(),
        }
    }
}

impl<'a> From<&'a DiffEntry> for WireDiff<'a> {
    fn from(d: &'a DiffEntry) -> Self {
        WireDiff { path: &d.path, change: d.change.id(), detail: d.detail.as_deref() }
    }
}

impl<'a> From<&'a PolicyFinding> for WireFinding<'a> {
    fn from(f: &'a PolicyFinding) -> Self {
        WireFinding {
            key_arn: &f.key_arn,
            id: &f.id,
            severity: f.severity.id(),
            message: &f.message,
            statement: f.statement.as_deref(),
        }
    }
}
