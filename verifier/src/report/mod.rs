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
pub mod svg_timeline;
pub mod text;
mod timeline;

pub use model::{
    AuditReport, CertSummary, CheckGroup, DiffChange, DiffEntry, GroupKind, InputFile, PcrRow,
    PolicyFinding, SecretsSourceInfo, Settings, Severity, SourceInfo, SubjectKind, SubjectReport,
    Summary, ToolInfo, TrailSettings, TrustRoot, DEV_CA_NOTICE, NOTHING_PASSED,
};
pub use timeline::{format_unix, PolicyInterval, PolicyState, Timeline, TimelineMark, UseKind};

pub use checks::{Check, Checks, Outcome, Status, Verdict};

/// The subject header's secrets lines, one per (repository, commit) with
/// its paths, then one per local input: `REPO @ COMMIT (path, path)` /
/// `local file NAME (no commit proof)`. Shared by the text, Markdown and
/// HTML renderers, so each shows the image's and the secrets' commits side
/// by side in the same words.
pub fn secrets_lines(sources: &[SecretsSourceInfo]) -> Vec<String> {
    let mut lines: Vec<(String, Vec<&str>)> = Vec::new();
    let mut local = Vec::new();
    for s in sources {
        match (&s.repository, &s.commit, &s.path) {
            (Some(r), Some(c), Some(p)) => {
                let head = format!("{r} @ {c}");
                match lines.iter_mut().find(|(h, _)| *h == head) {
                    Some((_, paths)) => paths.push(p),
                    None => lines.push((head, vec![p])),
                }
            }
            _ => local.push(format!("local file {} (no commit proof)", s.input)),
        }
    }
    lines.into_iter().map(|(h, p)| format!("{h} ({})", p.join(", "))).chain(local).collect()
}
