//! Plain-text rendering of checks, shared by every command that prints them.
//!
//! Before this module `audit`, `attestation verify`, `receipt verify` and
//! `rebuild` each had their own check line, and an optional check that failed
//! read `fail` in one and `WARN` in another. Every command now writes the
//! audit's layout through [`check_lines`]:
//!
//! ```text
//! PASS attestation.cose.signature  ES384 signature verifies
//! FAIL pcr.0  PCR0 of the rebuilt image differs
//!      expected 00ab...
//!      actual   00cd...
//! ```
//!
//! With `color` the text carries ANSI styles (anstyle); callers decide it
//! from `NO_COLOR` and the terminal, and write through `anstream`, which
//! strips the styles again when the stream is not a terminal.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use crate::{Check, Checks, Outcome, Status, Verdict};

/// The style of a status label.
pub fn style_of(status: Status) -> Style {
    match status {
        Status::Pass => AnsiColor::Green.on_default().bold(),
        Status::Fail => AnsiColor::Red.on_default().bold(),
        Status::Warn => AnsiColor::Yellow.on_default().bold(),
        Status::Skipped => AnsiColor::BrightBlack.on_default(),
    }
}

/// The display status of a verdict.
pub fn verdict_status(v: Verdict) -> Status {
    match v {
        Verdict::Pass => Status::Pass,
        Verdict::Fail => Status::Fail,
    }
}

/// Applies styles only when colour is wanted.
#[derive(Debug, Clone, Copy)]
pub struct Painter {
    /// Whether to emit ANSI styles.
    pub color: bool,
}

impl Painter {
    /// A painter; `color` adds ANSI styles.
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    /// `text` in `style`, or plain.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// The label of a status, styled.
    pub fn status(&self, s: Status) -> String {
        self.paint(style_of(s), s.label())
    }

    /// Dimmed text.
    pub fn dim(&self, text: &str) -> String {
        self.paint(AnsiColor::BrightBlack.on_default(), text)
    }

    /// Bold text.
    pub fn bold(&self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }
}

/// One check: `{indent}STATUS id  detail`, then its expected and actual
/// values (when it failed with them) indented under the id.
pub fn check_line(out: &mut String, p: &Painter, c: &Check, indent: &str) {
    let st = Status::of_check(c);
    let _ = writeln!(out, "{indent}{} {}  {}", p.status(st), c.id, c.detail);
    if let Outcome::Fail { expected, actual } = &c.outcome {
        if let Some(e) = expected {
            let _ = writeln!(out, "{indent}     expected {e}");
        }
        if let Some(a) = actual {
            let _ = writeln!(out, "{indent}     actual   {a}");
        }
    }
}

/// Every check of a list, in order, with [`check_line`].
pub fn check_lines(out: &mut String, p: &Painter, checks: &Checks, indent: &str) {
    for c in &checks.0 {
        check_line(out, p, c, indent);
    }
}

/// The closing line of a check list: `verdict: PASS` or `verdict: FAIL`.
pub fn verdict_line(out: &mut String, p: &Painter, v: Verdict) {
    let _ = writeln!(out, "verdict: {}", p.status(verdict_status(v)));
}

/// A list of checks followed by its verdict, for commands whose whole
/// output is one list.
pub fn render(checks: &Checks, color: bool) -> String {
    let p = Painter::new(color);
    let mut out = String::new();
    check_lines(&mut out, &p, checks, "");
    out.push('\n');
    verdict_line(&mut out, &p, checks.verdict());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_failure_reads_warn_and_values_are_indented() {
        let mut c = Checks::new();
        c.push(Check::pass("a", "ok"));
        c.push(Check::fail("b", "bad").optional());
        c.push(Check::mismatch("pcr.0", "differs", "aa", "bb"));
        assert_eq!(
            render(&c, false),
            "PASS a  ok\nWARN b  bad\nFAIL pcr.0  differs\n     expected aa\n     actual   bb\n\nverdict: FAIL\n"
        );
    }

    #[test]
    fn color_wraps_labels_only() {
        let mut s = String::new();
        check_line(&mut s, &Painter::new(true), &Check::pass("a", "ok"), "  ");
        assert!(s.starts_with("  \u{1b}[") && s.ends_with(" a  ok\n"), "{s:?}");
    }
}
