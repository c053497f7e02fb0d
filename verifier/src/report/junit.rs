//! JUnit XML, the test-report format every CI system reads.
//!
//! One `<testsuite>` per subject, one `<testcase>` per check (`classname` =
//! the group id, `name` = the stable check id). A failed required check is a
//! `<failure>`, a skipped check `<skipped>`; warnings and failed optional
//! checks pass and carry their detail in `<system-out>`. The suite fails
//! exactly when the verdict does: an empty audit gets one failing test case.

use std::fmt::Write as _;

use super::{AuditReport, Check, Outcome, Status, SubjectReport, NOTHING_PASSED};

/// Escapes text for XML 1.0 content and attributes; characters XML 1.0
/// cannot carry at all (most C0 controls) are dropped.
pub fn escape(s: &str) -> String {
    super::markup::escape(s, super::markup::Dialect::Xml)
}

struct Case<'a> {
    class: &'a str,
    check: Check,
}

fn cases(s: &SubjectReport) -> Vec<Case<'_>> {
    let mut v: Vec<Case<'_>> =
        s.checks().map(|(g, c)| Case { class: g.kind.id(), check: c.clone() }).collect();
    if let Some(c) = s.synthetic_failure() {
        v.push(Case { class: "verdict", check: c });
    }
    v
}

fn counts(cases: &[Case<'_>]) -> (usize, usize, usize) {
    let failures = cases.iter().filter(|c| Status::of_check(&c.check) == Status::Fail).count();
    let skipped = cases.iter().filter(|c| Status::of_check(&c.check) == Status::Skipped).count();
    (cases.len(), failures, skipped)
}

/// Renders the report as a JUnit XML document.
pub fn render(report: &AuditReport) -> String {
    let mut suites = String::new();
    let (mut t, mut f, mut sk) = (0, 0, 0);
    for s in &report.subjects {
        let cs = cases(s);
        let (tests, failures, skipped) = counts(&cs);
        t += tests;
        f += failures;
        sk += skipped;
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{} {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" timestamp=\"{}\">",
            s.kind.id(),
            escape(&s.path),
            escape(report.verified_at.trim_end_matches('Z'))
        );
        for c in &cs {
            case(&mut suites, c);
        }
        suites.push_str("  </testsuite>\n");
    }
    if report.subjects.is_empty() {
        t += 1;
        f += 1;
        suites.push_str(
            "  <testsuite name=\"proofpack\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\">\n",
        );
        case(
            &mut suites,
            &Case { class: "verdict", check: Check::fail(NOTHING_PASSED, "nothing was audited") },
        );
        suites.push_str("  </testsuite>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"proofpack {}\" tests=\"{t}\" failures=\"{f}\" errors=\"0\" skipped=\"{sk}\">\n{suites}</testsuites>\n",
        escape(&report.settings.command)
    )
}

fn case(o: &mut String, c: &Case<'_>) {
    let chk = &c.check;
    let _ =
        write!(o, "    <testcase classname=\"{}\" name=\"{}\"", escape(c.class), escape(&chk.id));
    match (Status::of_check(chk), &chk.outcome) {
        (Status::Pass, _) => {
            let _ = writeln!(
                o,
                ">\n      <system-out>{}</system-out>\n    </testcase>",
                escape(&chk.detail)
            );
        }
        (Status::Fail, Outcome::Fail { expected, actual }) => {
            let mut body = String::new();
            if let Some(e) = expected {
                let _ = writeln!(body, "expected: {e}");
            }
            if let Some(a) = actual {
                let _ = writeln!(body, "actual:   {a}");
            }
            let _ = writeln!(
                o,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                escape(&chk.detail),
                escape(&chk.id),
                escape(&body)
            );
        }
        (Status::Skipped, _) => {
            let _ = writeln!(
                o,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                escape(&chk.detail)
            );
        }
        (_, _) => {
            let _ = writeln!(
                o,
                ">\n      <system-out>warning: {}</system-out>\n    </testcase>",
                escape(&chk.detail)
            );
        }
    }
}
