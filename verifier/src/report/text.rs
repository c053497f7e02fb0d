//! Plain-text report for terminals.
//!
//! The verdict comes first, then each subject with its groups and checks, the
//! PCR table, the image diff and the policy findings. With `color` the text
//! carries ANSI styles (anstyle); callers write it through `anstream`, which
//! strips them again when the stream is not a terminal or `NO_COLOR` is set.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{AuditReport, Outcome, Severity, Status, SubjectReport, Verdict};

fn style_of(status: Status) -> Style {
    match status {
        Status::Pass => AnsiColor::Green.on_default().bold(),
        Status::Fail => AnsiColor::Red.on_default().bold(),
        Status::Warn => AnsiColor::Yellow.on_default().bold(),
        Status::Skipped => AnsiColor::BrightBlack.on_default(),
    }
}

fn verdict_status(v: Verdict) -> Status {
    match v {
        Verdict::Pass => Status::Pass,
        Verdict::Fail => Status::Fail,
    }
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    fn status(&self, s: Status) -> String {
        self.paint(style_of(s), s.label())
    }

    fn dim(&self, text: &str) -> String {
        self.paint(AnsiColor::BrightBlack.on_default(), text)
    }

    fn bold(&self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }
}

/// Renders the report as text; `color` adds ANSI styles.
pub fn render(report: &AuditReport, color: bool) -> String {
    let p = Painter { color };
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
    if let Some(t) = &s.attested_at {
        let _ = writeln!(out, "  attested at  {t}");
    }
    for g in &s.groups {
        let _ = writeln!(out, "  {:<22} {}", g.kind.title(), p.status(g.status()));
        for c in &g.checks.0 {
            let st = Status::of_check(c);
            let _ = writeln!(out, "    {} {}  {}", p.status(st), c.id, c.detail);
            if let Outcome::Fail { expected, actual } = &c.outcome {
                if let Some(e) = expected {
                    let _ = writeln!(out, "         expected {e}");
                }
                if let Some(a) = actual {
                    let _ = writeln!(out, "         actual   {a}");
                }
            }
        }
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
