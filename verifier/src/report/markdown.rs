//! GitHub-flavoured Markdown, meant for `$GITHUB_STEP_SUMMARY`.
//!
//! Every value that came from an input is escaped ([`escape`]) so a crafted
//! receipt cannot inject links, HTML or table cells into a job summary.

use std::fmt::Write as _;

use super::{AuditReport, Outcome, Status, SubjectReport, Verdict};

/// Escapes text for a Markdown table cell or paragraph: Markdown punctuation
/// is backslash-escaped, `<`/`>`/`&` become entities, line breaks a space.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' | '(' | ')' => {
                o.push('\\');
                o.push(ch);
            }
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '\r' | '\n' => o.push(' '),
            c if c.is_control() => {}
            c => o.push(c),
        }
    }
    o
}

/// A code span: backticks inside become `'`, `|` is escaped for tables
/// (GFM unescapes `\|` even inside code spans), line breaks become spaces.
pub fn code(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('`');
    for ch in s.chars() {
        match ch {
            '`' => o.push('\''),
            '|' => o.push_str("\\|"),
            '\r' | '\n' => o.push(' '),
            c if c.is_control() => {}
            c => o.push(c),
        }
    }
    o.push('`');
    o
}

fn icon(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅ PASS",
        Status::Fail => "❌ FAIL",
        Status::Warn => "⚠️ WARN",
        Status::Skipped => "⏭️ SKIP",
    }
}

fn verdict_icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => icon(Status::Pass),
        Verdict::Fail => icon(Status::Fail),
    }
}

/// Renders the report as Markdown.
pub fn render(report: &AuditReport) -> String {
    let mut o = String::new();
    let sum = report.summary();
    let _ = writeln!(
        o,
        "## proofpack {}: {}\n",
        escape(&report.settings.command),
        verdict_icon(report.verdict())
    );
    let _ = writeln!(o, "{} of {} subject(s) passed.\n", sum.passed, sum.total);
    if report.settings.allow_dev_ca {
        let _ = writeln!(o, "> ⚠️ **{}**\n", escape(super::DEV_CA_NOTICE));
    }
    let reasons = report.reasons();
    if !reasons.is_empty() {
        let _ = writeln!(o, "**Reasons**\n");
        for (s, c) in &reasons {
            let _ = writeln!(o, "- {} {}: {}", code(&c.id), escape(&s.path), escape(&c.detail));
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "<sub>{} {} at {}{}</sub>\n",
        escape(&report.tool.name),
        escape(&report.tool.version),
        escape(&report.verified_at),
        report
            .settings
            .trust_root
            .as_ref()
            .map(|t| format!(", trust root {} sha256:{}", escape(&t.source), escape(&t.sha256)))
            .unwrap_or_default()
    );
    for s in &report.subjects {
        subject(&mut o, s);
    }
    o
}

fn subject(o: &mut String, s: &SubjectReport) {
    let status = match s.verdict() {
        Verdict::Pass => Status::Pass,
        Verdict::Fail => Status::Fail,
    };
    let _ = writeln!(o, "### {} {}: {}\n", s.kind.id(), escape(&s.path), icon(status));
    if let Some(id) = &s.receipt_id {
        let _ = writeln!(o, "- receipt id: {}", code(id));
    }
    if let Some(src) = &s.source {
        let _ = writeln!(o, "- source: {} @ {}", escape(&src.repository), code(&src.commit));
    }
    for line in super::secrets_lines(&s.secrets_sources) {
        let _ = writeln!(o, "- secrets: {}", escape(&line));
    }
    if let Some(t) = &s.attested_at {
        let _ = writeln!(o, "- attested at: {}", escape(t));
    }
    o.push('\n');
    let _ = writeln!(o, "| group | check | status | detail |\n| --- | --- | --- | --- |");
    for g in &s.groups {
        for c in &g.checks.0 {
            let mut detail = escape(&c.detail);
            if let Outcome::Fail { expected, actual } = &c.outcome {
                if let Some(e) = expected {
                    let _ = write!(detail, "<br>expected {}", code(e));
                }
                if let Some(a) = actual {
                    let _ = write!(detail, "<br>actual {}", code(a));
                }
            }
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                g.kind.title(),
                code(&c.id),
                icon(Status::of_check(c)),
                detail
            );
        }
    }
    o.push('\n');
    if !s.pcrs.is_empty() {
        let from = s.pcr_expected_from.as_deref().unwrap_or("expected");
        let _ = writeln!(
            o,
            "| PCR | match | {} | {} |\n| --- | --- | --- | --- |",
            s.kind.pcr_source(),
            escape(from)
        );
        for r in &s.pcrs {
            let m = match r.matches() {
                Some(true) => "✅",
                Some(false) => "❌",
                None => "–",
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                r.index,
                m,
                code(r.attested.as_deref().unwrap_or("-")),
                code(r.expected.as_deref().unwrap_or("-"))
            );
        }
        o.push('\n');
    }
    if !s.image_diff.is_empty() {
        let _ = writeln!(o, "**Image diff**\n");
        for d in &s.image_diff {
            let _ = writeln!(
                o,
                "- {} {}{}",
                d.change.id(),
                code(&d.path),
                d.detail.as_deref().map(|x| format!(": {}", escape(x))).unwrap_or_default()
            );
        }
        o.push('\n');
    }
    if !s.policy_findings.is_empty() {
        let _ = writeln!(o, "**KMS policy findings**\n");
        for f in &s.policy_findings {
            let _ = writeln!(
                o,
                "- {} {} {}: {}",
                f.severity.id(),
                code(&f.id),
                escape(&f.key_arn),
                escape(&f.message)
            );
        }
        o.push('\n');
    }
}
