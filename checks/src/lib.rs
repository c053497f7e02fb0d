//! The check vocabulary shared by every verification in proofpack.
//!
//! A verifier that stops at the first failure hides information from an
//! auditor, so every stage records *all* of its checks as [`Check`] values.
//! The overall verdict is derived from them ([`Checks::verdict`]) and never
//! stored separately, so it cannot disagree with the checks it summarises.
//!
//! This crate sits below the attestation, KMS-policy and verifier crates so
//! that each of them reports in one vocabulary: one [`Outcome`] per check,
//! one display [`Status`] derived from it and one [`Verdict`] per list.

use serde::Serialize;

pub mod text;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// The check ran and passed.
    Pass,
    /// The check ran and failed.
    Fail {
        /// What was expected, when that is a single value.
        #[serde(skip_serializing_if = "Option::is_none")]
        expected: Option<String>,
        /// What was found, when that is a single value.
        #[serde(skip_serializing_if = "Option::is_none")]
        actual: Option<String>,
    },
    /// The check could not or need not run; `why` says which.
    Skipped {
        /// Why the check did not run.
        why: String,
    },
    /// The check passed with a caveat an auditor must read.
    Warn,
}

/// One recorded check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable identifier, e.g. `attestation.cose.signature` or `pcr.0`.
    /// Used as the SARIF rule id and in JSON output; never renamed.
    pub id: String,
    /// Whether a failure of this check makes the overall verdict fail.
    pub required: bool,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// A human sentence explaining the outcome.
    pub detail: String,
}

impl Check {
    /// A passing required check.
    pub fn pass(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { id: id.into(), required: true, outcome: Outcome::Pass, detail: detail.into() }
    }

    /// A failing required check.
    pub fn fail(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            required: true,
            outcome: Outcome::Fail { expected: None, actual: None },
            detail: detail.into(),
        }
    }

    /// A failing required check with expected and actual values.
    pub fn mismatch(
        id: impl Into<String>,
        detail: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            required: true,
            outcome: Outcome::Fail { expected: Some(expected.into()), actual: Some(actual.into()) },
            detail: detail.into(),
        }
    }

    /// A skipped check.
    pub fn skipped(id: impl Into<String>, why: impl Into<String>) -> Self {
        let why = why.into();
        Self {
            id: id.into(),
            required: false,
            outcome: Outcome::Skipped { why: why.clone() },
            detail: why,
        }
    }

    /// A passing check with a caveat.
    pub fn warn(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { id: id.into(), required: false, outcome: Outcome::Warn, detail: detail.into() }
    }

    /// Builds a pass or a fail from a condition.
    pub fn from_bool(
        id: impl Into<String>,
        ok: bool,
        pass: impl Into<String>,
        fail: impl Into<String>,
    ) -> Self {
        if ok {
            Self::pass(id, pass)
        } else {
            Self::fail(id, fail)
        }
    }

    /// Marks the check as optional: its failure is reported but does not fail the verdict.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// True when this check failed.
    pub fn is_fail(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. })
    }
}

/// The overall verdict derived from a list of checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every required check passed, and at least one check ran.
    Pass,
    /// At least one required check failed, or nothing was checked.
    Fail,
}

impl Verdict {
    /// Upper-case label, `PASS` or `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        }
    }

    /// Lower-case wire name.
    pub fn id(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// An ordered list of checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Checks(pub Vec<Check>);

impl Checks {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a check.
    pub fn push(&mut self, check: Check) {
        self.0.push(check);
    }

    /// Appends all checks from another list.
    pub fn extend(&mut self, other: Checks) {
        self.0.extend(other.0);
    }

    /// The derived verdict. A list with no passing required check is a
    /// failure: an empty report must never read as success.
    pub fn verdict(&self) -> Verdict {
        let any_required_fail = self.0.iter().any(|c| c.required && c.is_fail());
        let any_pass = self.0.iter().any(|c| matches!(c.outcome, Outcome::Pass));
        if any_required_fail || !any_pass {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }

    /// The failed checks, required or not.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.0.iter().filter(|c| c.is_fail())
    }
}

/// A display status for one check or one group; derived, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Passed.
    Pass,
    /// Failed (for a group: a required check failed).
    Fail,
    /// Passed with a caveat, or an optional check failed.
    Warn,
    /// Did not run.
    Skipped,
}

impl Status {
    /// The status of one check. An optional check that failed is a warning.
    pub fn of_check(c: &Check) -> Status {
        match &c.outcome {
            Outcome::Pass => Status::Pass,
            Outcome::Fail { .. } if c.required => Status::Fail,
            Outcome::Fail { .. } | Outcome::Warn => Status::Warn,
            Outcome::Skipped { .. } => Status::Skipped,
        }
    }

    /// Upper-case label: `PASS`, `FAIL`, `WARN`, `SKIP`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Warn => "WARN",
            Status::Skipped => "SKIP",
        }
    }

    /// Lower-case wire name: `pass`, `fail`, `warn`, `skipped`.
    pub fn id(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skipped => "skipped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_fail() {
        assert_eq!(Checks::new().verdict(), Verdict::Fail);
    }

    #[test]
    fn one_required_fail_fails() {
        let mut c = Checks::new();
        c.push(Check::pass("a", "ok"));
        c.push(Check::fail("b", "bad"));
        assert_eq!(c.verdict(), Verdict::Fail);
    }

    #[test]
    fn optional_fail_does_not_fail() {
        let mut c = Checks::new();
        c.push(Check::pass("a", "ok"));
        c.push(Check::fail("b", "bad").optional());
        c.push(Check::skipped("c", "not requested"));
        assert_eq!(c.verdict(), Verdict::Pass);
    }
}
