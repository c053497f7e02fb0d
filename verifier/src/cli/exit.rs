//! Exit codes: a contract with CI systems, documented in `--help` and README.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | every requested check passed |
//! | 1 | a check failed (mismatch, bad signature, bypass found, ...) |
//! | 2 | invalid input or usage (unreadable file, malformed data, bad flag) |
//! | 3 | internal error (a bug or an environment failure) |

use std::process::ExitCode;

/// Every requested check passed.
pub const OK: u8 = 0;
/// A check failed.
pub const CHECK_FAILED: u8 = 1;
/// Invalid input or usage.
pub const INVALID_INPUT: u8 = 2;
/// Internal error.
pub const INTERNAL: u8 = 3;

/// The text appended to every command's `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  every requested check passed
  1  a check failed (mismatch, bad signature, policy bypass, ...)
  2  invalid input or usage (unreadable or malformed file, bad flag)
  3  internal error";

/// Maps a verdict to an exit code.
pub fn from_verdict(v: crate::report::Verdict) -> ExitCode {
    match v {
        crate::report::Verdict::Pass => ExitCode::from(OK),
        crate::report::Verdict::Fail => ExitCode::from(CHECK_FAILED),
    }
}
