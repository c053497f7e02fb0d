//! GitHub Actions workflow commands (`::error file=...::message`), which the
//! runner turns into annotations on the job and the pull request.
//!
//! One `::error` per failed required check, one `::warning` per warning or
//! failed optional check, then one summary line: `::notice` on a pass,
//! `::error` on a failure. Values are escaped as the runner's command parser
//! expects (`%`, CR, LF in messages; additionally `:` and `,` in properties),
//! so a crafted input cannot start a new command.

use std::fmt::Write as _;

use super::{AuditReport, Status, Verdict};

/// Escapes a command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a command property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Renders the report as workflow commands, one per line.
pub fn render(report: &AuditReport) -> String {
    let mut o = String::new();
    for s in &report.subjects {
        let mut items: Vec<_> = s.checks().map(|(_, c)| c.clone()).collect();
        items.extend(s.synthetic_failure());
        for c in items {
            let cmd = match Status::of_check(&c) {
                Status::Fail => "error",
                Status::Warn => "warning",
                Status::Pass | Status::Skipped => continue,
            };
            let mut msg = c.detail.clone();
            if let super::Outcome::Fail { expected, actual } = &c.outcome {
                if let Some(e) = expected {
                    let _ = write!(msg, "\nexpected: {e}");
                }
                if let Some(a) = actual {
                    let _ = write!(msg, "\nactual:   {a}");
                }
            }
            let _ = writeln!(
                o,
                "::{cmd} file={},title={}::{}",
                escape_property(&s.path),
                escape_property(&format!("proofpack {}", c.id)),
                escape_data(&msg)
            );
        }
    }
    let sum = report.summary();
    let (cmd, what) = match report.verdict() {
        Verdict::Pass => ("notice", "PASS"),
        Verdict::Fail => ("error", "FAIL"),
    };
    if report.settings.allow_dev_ca {
        let _ = writeln!(
            o,
            "::warning title=proofpack development CA::{}",
            escape_data(super::DEV_CA_NOTICE)
        );
    }
    let tail = if report.subjects.is_empty() { " (nothing was audited)" } else { "" };
    let _ = writeln!(
        o,
        "::{cmd} title={}::{what}: {} of {} subject(s) passed{tail}",
        escape_property(&format!("proofpack {}", report.settings.command)),
        sum.passed,
        sum.total
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_blocks_command_injection() {
        let s = escape_data("a\n::error::b%");
        assert_eq!(s, "a%0A::error::b%25");
        assert_eq!(escape_property("x,y:z"), "x%2Cy%3Az");
    }
}
