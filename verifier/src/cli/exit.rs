//! Exit codes: a contract with CI systems, documented in `--help` and README.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | every requested check passed |
//! | 1 | a check failed (mismatch, bad signature, bypass found, ...) |
//! | 2 | invalid input or usage (unreadable file, malformed data, bad flag) |
//! | 3 | internal error (a bug or an environment failure) |
//!
//! A CI job branches on these codes, so "the input was wrong" (2: fix the
//! invocation) must never be confused with "the tool broke" (3: retry or
//! report a bug) or with "the evidence does not hold" (1). Subcommands return
//! `anyhow::Error`s; an error is *input* unless it was marked *internal* with
//! [`ResultExt::internal`] somewhere in its chain, and [`CliError::classify`]
//! turns it into the typed [`CliError`] that `main` maps to an exit code.

use std::fmt;
use std::process::ExitCode;

/// The process exit status of every `proofpack` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Every requested check passed (or the command did what it was asked).
    Ok = 0,
    /// A check failed.
    CheckFailed = 1,
    /// Invalid input or usage: unreadable or malformed input file, bad flag.
    InvalidInput = 2,
    /// Internal error: writing the output failed, or a bug (a panic).
    Internal = 3,
}

impl ExitStatus {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status of a finished verification.
    pub fn from_verdict(v: crate::report::Verdict) -> Self {
        match v {
            crate::report::Verdict::Pass => ExitStatus::Ok,
            crate::report::Verdict::Fail => ExitStatus::CheckFailed,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s.code())
    }
}

/// Every requested check passed.
pub const OK: u8 = ExitStatus::Ok as u8;
/// A check failed.
pub const CHECK_FAILED: u8 = ExitStatus::CheckFailed as u8;
/// Invalid input or usage.
pub const INVALID_INPUT: u8 = ExitStatus::InvalidInput as u8;
/// Internal error.
pub const INTERNAL: u8 = ExitStatus::Internal as u8;

/// The text appended to every command's `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  every requested check passed
  1  a check failed (mismatch, bad signature, policy bypass, ...)
  2  invalid input or usage (unreadable or malformed file, bad flag)
  3  internal error (cannot write the output, or a bug)";

/// Maps a verdict to an exit code.
pub fn from_verdict(v: crate::report::Verdict) -> ExitCode {
    ExitStatus::from_verdict(v).into()
}

/// Marks an error as internal (not the user's input): the context message
/// says what failed, e.g. "cannot write the report".
#[derive(Debug)]
pub struct Internal(pub String);

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The message of a failed write to standard output.
pub const STDOUT: &str = "cannot write to standard output";

/// Marks the error of a `Result` as internal.
pub trait ResultExt<T> {
    /// Wraps the error with `what` and classifies it as internal (exit 3).
    fn internal(self, what: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for Result<T, E> {
    fn internal(self, what: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(Internal(what.into())))
    }
}

/// An error that ended a command, classified for its exit status.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Something the user gave us is unreadable, malformed or contradictory.
    #[error("{}", one_line(.0))]
    Input(anyhow::Error),
    /// The tool itself failed (cannot write its output, a bug).
    #[error("{}", one_line(.0))]
    Internal(anyhow::Error),
}

/// The error and its causes on one line, `outer: inner: root`. A cause whose
/// text its parent already ends with (an error type that prints its source
/// and also returns it from `source()`) is said once, not twice.
fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

impl CliError {
    /// Classifies a subcommand's error: internal when any layer of it was
    /// marked with [`ResultExt::internal`], input otherwise.
    pub fn classify(err: anyhow::Error) -> Self {
        if err.downcast_ref::<Internal>().is_some() {
            CliError::Internal(err)
        } else {
            CliError::Input(err)
        }
    }

    /// The exit status this error maps to.
    pub fn status(&self) -> ExitStatus {
        match self {
            CliError::Input(_) => ExitStatus::InvalidInput,
            CliError::Internal(_) => ExitStatus::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmarked_errors_are_input() {
        let e = CliError::classify(anyhow::anyhow!("spec.toml: bad key"));
        assert_eq!(e.status(), ExitStatus::InvalidInput);
    }

    #[test]
    fn marked_errors_are_internal_through_later_context() {
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
        let e = r.internal("cannot write the report").map_err(|e| e.context("outer")).unwrap_err();
        let e = CliError::classify(e);
        assert_eq!(e.status(), ExitStatus::Internal);
        assert_eq!(e.to_string(), "outer: cannot write the report: disk full");
    }

    #[test]
    fn a_cause_already_printed_by_its_parent_is_said_once() {
        let r = build_spec::bounded::read_file(std::path::Path::new("/nonexistent/x"), 10);
        let e = CliError::classify(anyhow::Error::from(r.unwrap_err()).context("reading"));
        let text = e.to_string();
        assert!(text.starts_with("reading: cannot open /nonexistent/x: "), "{text}");
        assert_eq!(text.matches("os error").count(), 1, "{text}");
    }
}
