//! Text rendering of attestation reports (JSON is the serde form of
//! [`AttestationReport`]). Pure functions of the report.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::verify::AttestationReport;
use crate::report::{Outcome, Verdict};

/// Version of the JSON shape emitted by `attestation verify --format json`.
pub const JSON_SCHEMA_VERSION: u32 = 1;

fn styled(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

/// The status word of an outcome, padded to 4 characters.
pub fn status_word(o: &Outcome, required: bool, color: bool) -> String {
    let (word, c) = match o {
        Outcome::Pass => ("PASS", AnsiColor::Green),
        Outcome::Fail { .. } if required => ("FAIL", AnsiColor::Red),
        Outcome::Fail { .. } => ("fail", AnsiColor::Yellow),
        Outcome::Skipped { .. } => ("SKIP", AnsiColor::BrightBlack),
        Outcome::Warn => ("WARN", AnsiColor::Yellow),
    };
    styled(color, Style::new().fg_color(Some(c.into())).bold(), word)
}

/// Renders every check, one per line, then the verdict.
pub fn text(report: &AttestationReport, color: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "input sha256:  {} ({} bytes)", report.input_sha256, report.input_len);
    if let Some(at) = &report.verified_at {
        let src = match report.verified_at_source {
            "document" => "the document's own signed timestamp; no freshness implied",
            "now" => "the current time",
            _ => "the instant given with --at",
        };
        let _ = writeln!(s, "verified at:   {at} ({src})");
    }
    for root in &report.trust_roots {
        let _ = writeln!(s, "trust root:    {} (sha256 {})", root.label, root.sha256);
    }
    if let Some(d) = &report.doc {
        let _ = writeln!(s, "module_id:     {}", d.module_id);
        let _ = writeln!(s, "timestamp:     {} ({} ms)", d.timestamp_utc, d.timestamp);
        for i in [0u8, 1, 2, 3, 4, 8] {
            if let Some(v) = d.pcrs.get(i) {
                let _ = writeln!(s, "PCR{i}:          {}", hex::encode(v));
            }
        }
    }
    let _ = writeln!(s);
    for c in &report.checks.0 {
        let _ =
            writeln!(s, "{} {}  {}", status_word(&c.outcome, c.required, color), c.id, c.detail);
        if let Outcome::Fail { expected: Some(e), actual: Some(a) } = &c.outcome {
            let _ = writeln!(s, "       expected {e}\n       actual   {a}");
        }
    }
    let _ = writeln!(s);
    let v = match report.verdict() {
        Verdict::Pass => {
            styled(color, Style::new().fg_color(Some(AnsiColor::Green.into())).bold(), "PASS")
        }
        Verdict::Fail => {
            styled(color, Style::new().fg_color(Some(AnsiColor::Red.into())).bold(), "FAIL")
        }
    };
    let _ = writeln!(s, "verdict: {v}");
    s
}
