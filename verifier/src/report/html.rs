//! One self-contained HTML file an auditor can archive.
//!
//! Order: the verdict (with its reasons), then per subject each check, the
//! key's timeline (an inline SVG, `kms_key` subjects), the certificate chain, the PCR table with matches highlighted, the image diff
//! and the KMS policy findings; the settings used come last. There are no
//! external resources (no scripts, fonts, images or links to load), so the
//! file renders the same offline and years later. Every input-derived string
//! goes through [`escape`].

use std::fmt::Write as _;

use super::{AuditReport, Outcome, Severity, Status, SubjectReport, Verdict};

/// Escapes text for HTML element content and double-quoted attributes
/// (control characters other than newline are dropped).
pub fn escape(s: &str) -> String {
    super::markup::escape(s, super::markup::Dialect::Html)
}

const STYLE: &str = "\
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:28px}h2{margin:32px 0 8px;font-size:21px}h3{margin:20px 0 6px;font-size:16px}
.verdict{border-radius:10px;padding:18px 22px;color:#fff;margin-bottom:16px}
.verdict.pass{background:#1a7f37}.verdict.fail{background:#cf222e}
.verdict .big{font-size:34px;font-weight:700;letter-spacing:.04em}
.verdict ul{margin:8px 0 0 0;padding-left:20px}
.meta{color:#57606a;font-size:13px}
.devca{margin-top:10px;padding:8px 12px;border-radius:6px;background:#fff8c5;color:#4d2d00;font-weight:700}
td.id{white-space:nowrap}
section.subject{background:#fff;border:1px solid #d0d7de;border-radius:10px;padding:8px 20px 18px;margin:20px 0}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:14px}
th,td{border:1px solid #d0d7de;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
code,.hex{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all}
.badge{display:inline-block;border-radius:4px;padding:1px 7px;font-weight:700;font-size:12px;color:#fff}
.b-pass{background:#1a7f37}.b-fail{background:#cf222e}.b-warn{background:#9a6700}.b-skipped{background:#8c959f}
tr.match td{background:#dafbe1}tr.mismatch td{background:#ffebe9}
.sev-error{color:#cf222e;font-weight:700}.sev-warning{color:#9a6700;font-weight:700}.sev-info{color:#57606a}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:6px 0}
dl.kv dt{color:#57606a}dl.kv dd{margin:0}
";

fn badge(s: Status) -> String {
    format!("<span class=\"badge b-{}\">{}</span>", s.id(), s.label())
}

fn vstatus(v: Verdict) -> Status {
    match v {
        Verdict::Pass => Status::Pass,
        Verdict::Fail => Status::Fail,
    }
}

/// Renders the report as a complete HTML document.
pub fn render(report: &AuditReport) -> String {
    let mut o = String::new();
    let verdict = report.verdict();
    let sum = report.summary();
    let cmd = escape(&report.settings.command);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>proofpack {cmd}: {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n",
        verdict.label()
    );
    let _ = write!(
        o,
        "<div class=\"verdict {}\" id=\"verdict\"><div class=\"big\">{}</div>\
         <div>proofpack {cmd}: {} of {} subject(s) passed</div>",
        verdict.id(),
        verdict.label(),
        sum.passed,
        sum.total
    );
    if report.settings.allow_dev_ca {
        let _ = write!(o, "<div class=\"devca\">{}</div>", escape(super::DEV_CA_NOTICE));
    }
    let reasons = report.reasons();
    if !reasons.is_empty() {
        o.push_str("<ul>");
        for (s, c) in &reasons {
            let _ = write!(
                o,
                "<li><code>{}</code> {}: {}</li>",
                escape(&c.id),
                escape(&s.path),
                escape(&c.detail)
            );
        }
        o.push_str("</ul>");
    } else if report.subjects.is_empty() {
        o.push_str("<ul><li>nothing was audited</li></ul>");
    }
    o.push_str("</div>\n");
    let _ = writeln!(
        o,
        "<p class=\"meta\">{} {} &middot; verified at {}</p>",
        escape(&report.tool.name),
        escape(&report.tool.version),
        escape(&report.verified_at)
    );
    for s in &report.subjects {
        subject(&mut o, s);
    }
    settings(&mut o, report);
    o.push_str("</main>\n</body>\n</html>\n");
    o
}

fn subject(o: &mut String, s: &SubjectReport) {
    let _ = write!(
        o,
        "<section class=\"subject\">\n<h2>{} {} {}</h2>\n<dl class=\"kv\">",
        badge(vstatus(s.verdict())),
        escape(s.kind.id()),
        escape(&s.path)
    );
    if let Some(id) = &s.receipt_id {
        let _ = write!(o, "<dt>receipt id</dt><dd class=\"hex\">{}</dd>", escape(id));
    }
    if let Some(src) = &s.source {
        let _ = write!(
            o,
            "<dt>repository</dt><dd>{}</dd><dt>commit</dt><dd class=\"hex\">{}</dd>",
            escape(&src.repository),
            escape(&src.commit)
        );
        if let Some(t) = &src.tree {
            let _ = write!(o, "<dt>tree</dt><dd class=\"hex\">{}</dd>", escape(t));
        }
    }
    for line in super::secrets_lines(&s.secrets_sources) {
        let _ = write!(o, "<dt>secrets</dt><dd class=\"hex\">{}</dd>", escape(&line));
    }
    if let Some(t) = &s.attested_at {
        let _ = write!(o, "<dt>attested at</dt><dd>{}</dd>", escape(t));
    }
    o.push_str("</dl>\n<h3>Checks</h3>\n<table><tr><th>group</th><th>check</th><th>status</th><th>detail</th></tr>\n");
    for g in &s.groups {
        for c in &g.checks.0 {
            let mut detail = escape(&c.detail);
            if let Outcome::Fail { expected, actual } = &c.outcome {
                if let Some(e) = expected {
                    let _ = write!(detail, "<br>expected <code>{}</code>", escape(e));
                }
                if let Some(a) = actual {
                    let _ = write!(detail, "<br>actual <code>{}</code>", escape(a));
                }
            }
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"id\"><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                g.kind.title(),
                escape(&c.id),
                badge(Status::of_check(c)),
                detail
            );
        }
    }
    o.push_str("</table>\n");
    if let Some(t) = &s.timeline {
        o.push_str("<h3>Timeline of the key</h3>\n");
        o.push_str(&super::svg_timeline::render(t));
    }
    if !s.chain.is_empty() {
        o.push_str("<h3>Certificate chain (root first)</h3>\n<table><tr><th>#</th><th>subject</th><th>issuer</th><th>valid</th><th>SHA-256</th></tr>\n");
        for (i, c) in s.chain.iter().enumerate() {
            let _ = writeln!(
                o,
                "<tr><td>{i}</td><td>{}</td><td>{}</td><td>{} &ndash; {}</td><td class=\"hex\">{}</td></tr>",
                escape(&c.subject),
                escape(&c.issuer),
                escape(&c.not_before),
                escape(&c.not_after),
                escape(&c.sha256)
            );
        }
        o.push_str("</table>\n");
    }
    if !s.pcrs.is_empty() {
        let from = s.pcr_expected_from.as_deref().unwrap_or("expected");
        let _ = writeln!(
            o,
            "<h3>PCRs</h3>\n<table><tr><th>PCR</th><th>match</th><th>{}</th><th>{}</th></tr>",
            s.kind.pcr_source(),
            escape(from)
        );
        for r in &s.pcrs {
            let (class, mark) = match r.matches() {
                Some(true) => ("match", badge(Status::Pass)),
                Some(false) => ("mismatch", badge(Status::Fail)),
                None => ("", badge(Status::Skipped)),
            };
            let _ = writeln!(
                o,
                "<tr class=\"{class}\"><td>{}</td><td>{mark}</td><td class=\"hex\">{}</td><td class=\"hex\">{}</td></tr>",
                r.index,
                escape(r.attested.as_deref().unwrap_or("-")),
                escape(r.expected.as_deref().unwrap_or("-"))
            );
        }
        o.push_str("</table>\n");
    }
    if !s.image_diff.is_empty() {
        o.push_str(
            "<h3>Image diff</h3>\n<table><tr><th>change</th><th>path</th><th>detail</th></tr>\n",
        );
        for d in &s.image_diff {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                d.change.id(),
                escape(&d.path),
                escape(d.detail.as_deref().unwrap_or(""))
            );
        }
        o.push_str("</table>\n");
    }
    if !s.policy_findings.is_empty() {
        o.push_str("<h3>KMS policy findings</h3>\n<table><tr><th>severity</th><th>key</th><th>finding</th><th>statement</th><th>message</th></tr>\n");
        for f in &s.policy_findings {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let _ = writeln!(
                o,
                "<tr><td class=\"sev-{sev}\">{sev}</td><td class=\"hex\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&f.key_arn),
                escape(&f.id),
                escape(f.statement.as_deref().unwrap_or("")),
                escape(&f.message)
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("</section>\n");
}

fn settings(o: &mut String, r: &AuditReport) {
    let s = &r.settings;
    o.push_str("<h2>Settings</h2>\n<dl class=\"kv\">");
    let mut kv = |k: &str, v: &str| {
        let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
    };
    kv("command", &s.command);
    if let Some(x) = &s.repository {
        kv("repository", x);
    }
    if let Some(x) = &s.branch {
        kv("branch", x);
    }
    if let Some(t) = &s.trust_root {
        kv("trust root", &format!("{} (sha256 {})", t.source, t.sha256));
    }
    kv("development CA allowed", if s.allow_dev_ca { "yes" } else { "no" });
    for p in &s.kms_policies {
        kv(
            "KMS policy",
            &format!("{} = {} (sha256 {})", p.label, p.path, p.sha256.as_deref().unwrap_or("-")),
        );
    }
    if let Some(a) = &s.artifact {
        kv("artifact", &format!("{} (sha256 {})", a.path, a.sha256.as_deref().unwrap_or("-")));
    }
    if let Some(a) = &s.expect {
        kv("expected PCRs", &format!("{} (sha256 {})", a.path, a.sha256.as_deref().unwrap_or("-")));
    }
    if let Some(x) = &s.blobs {
        kv("blobs", x);
    }
    if let Some(x) = &s.kms_endpoint {
        kv("KMS endpoint", x);
    }
    o.push_str("</dl>\n");
}
