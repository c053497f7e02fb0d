//! Plain-text report for terminals.
//!
//! Check lines and colours come from [`checks::text`], which every command
//! that prints checks shares.
//!
//! The verdict comes first, then each subject with its groups and checks, the
//! PCR table, the image diff and the policy findings. With `color` the text
//! carries ANSI styles (anstyle); callers write it through `anstream`, which
//! strips them again when the stream is not a terminal or `NO_COLOR` is set.

use std::fmt::Write as _;

use checks::text::{check_lines, style_of, verdict_status, Painter};

use super::{AuditReport, Severity, Status, SubjectReport};

/// Renders the report as text; `color` adds ANSI styles.
pub fn render(report: &AuditReport, color: bool) -> String {
    let p = Painter::new(color);
    let mut out = String::new();
    let verdict = report.verdict();
    let sum = report.summary();
    let _ = writeln!(
        out,
        "{} {}: {} of {} subject(s) passed",
        p.bold(&format!("proofpack {}", report.settings.command)),
        p.status(verdict_status(verdict)),
        sum.passed,
        sum.total
    );
    if report.settings.allow_dev_ca {
        let _ = writeln!(out, "{}", p.paint(style_of(Status::Warn), super::DEV_CA_NOTICE));
    }
    let reasons = report.reasons();
    if !reasons.is_empty() {
        let _ = writeln!(out, "reasons:");
        for (s, c) in &reasons {
            let _ = writeln!(out, "  - {}: {} ({})", s.path, c.detail, c.id);
        }
    } else if report.subjects.is_empty() {
        let _ = writeln!(out, "reasons:\n  - nothing was audited");
    }
    let _ = writeln!(
        out,
        "{}",
        p.dim(&format!(
            "{} {} at {}{}",
            report.tool.name,
            report.tool.version,
            report.verified_at,
            report
                .settings
                .trust_root
                .as_ref()
                .map(|t| format!(", trust root {} sha256:{}", t.source, t.sha256))
                .unwrap_or_default()
        ))
    );
    for s in &report.subjects {
        out.push('\n');
        subject(&mut out, &p, s);
    }
    out
}

fn subject(out: &mut String, p: &Painter, s: &SubjectReport) {
    let _ = writeln!(
        out,
        "{} {}  {}",
        s.kind.id(),
        p.bold(&s.path),
        p.status(verdict_status(s.verdict()))
    );
    if let Some(id) = &s.receipt_id {
        let _ = writeln!(out, "  receipt id   {id}");
    }
    if let Some(src) = &s.source {
        let _ = writeln!(out, "  source       {} @ {}", src.repository, src.commit);
    }
    for line in super::secrets_lines(&s.secrets_sources) {
        let _ = writeln!(out, "  secrets      {line}");
    }
    if let Some(t) = &s.attested_at {
        let _ = writeln!(out, "  attested at  {t}");
    }
    for g in &s.groups {
        let _ = writeln!(out, "  {:<22} {}", g.kind.title(), p.status(g.status()));
        check_lines(out, p, &g.checks, "    ");
    }
    if !s.chain.is_empty() {
        let _ = writeln!(out, "  certificate chain (root first)");
        for (i, c) in s.chain.iter().enumerate() {
            let _ = writeln!(
                out,
                "    {i}. {}  [{} .. {}]  sha256:{}",
                c.subject, c.not_before, c.not_after, c.sha256
            );
        }
    }
    if !s.pcrs.is_empty() {
        let from = s.pcr_expected_from.as_deref().unwrap_or("expected");
        let _ = writeln!(out, "  PCRs ({} vs {from})", s.kind.pcr_source());
        for r in &s.pcrs {
            let mark = match r.matches() {
                Some(true) => p.status(Status::Pass),
                Some(false) => p.status(Status::Fail),
                None => p.status(Status::Skipped),
            };
            let _ = writeln!(
                out,
                "    PCR{:<2} {}  {:<8} {}",
                r.index,
                mark,
                s.kind.pcr_source(),
                r.attested.as_deref().unwrap_or("-")
            );
            if r.matches() != Some(true) {
                let _ = writeln!(
                    out,
                    "               expected {}",
                    r.expected.as_deref().unwrap_or("-")
                );
            }
        }
    }
    if !s.image_diff.is_empty() {
        let _ = writeln!(out, "  image diff");
        for d in &s.image_diff {
            let _ = writeln!(
                out,
                "    {:<8} {}{}",
                d.change.id(),
                d.path,
                d.detail.as_deref().map(|x| format!("  ({x})")).unwrap_or_default()
            );
        }
    }
    if !s.policy_findings.is_empty() {
        let _ = writeln!(out, "  KMS policy findings");
        for f in &s.policy_findings {
            let st = match f.severity {
                Severity::Error => Status::Fail,
                Severity::Warning => Status::Warn,
                Severity::Info => Status::Skipped,
            };
            let _ = writeln!(
                out,
                "    {} {} {}: {}{}",
                p.paint(style_of(st), f.severity.id()),
                f.key_arn,
                f.id,
                f.message,
                f.statement.as_deref().map(|x| format!(" [statement {x}]")).unwrap_or_default()
            );
        }
    }
}
