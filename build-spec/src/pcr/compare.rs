//! The one comparison of expected PCRs with actual ones.
//!
//! `rebuild --expect-pcrs`, the audit's rebuild stage and `gate --eif` all
//! ask the same question, "are these the PCRs we expected?", and used to
//! answer it with three loops that drifted apart. They now share
//! [`compare`]; what legitimately differs between them (which PCRs are
//! mandatory, what happens to an expected PCR outside that set, the check
//! ids and wording that reports have published) is a [`CompareRules`]
//! value, so that a fix to the comparison itself reaches every caller.

use std::collections::BTreeSet;

use checks::{Check, Checks};

use super::Measurements;

/// What to do with an expected PCR that is not in [`CompareRules::comparable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// Compare it like a required one; an actual side without it fails.
    Compare,
    /// Record a skipped check (the value cannot be reproduced by this caller,
    /// e.g. PCR8 needs the signing certificate a rebuild does not have).
    Skip,
    /// Do not look at it.
    Ignore,
}

/// The sentences of the checks [`compare`] records. They appear in JSON
/// reports, so each caller keeps the wording it has always published.
#[derive(Debug, Clone, Copy)]
pub struct Wording {
    /// The PCR is equal on both sides.
    pub matches: fn(u8) -> String,
    /// The PCR differs (the check carries both values).
    pub differs: fn(u8) -> String,
    /// A required PCR has no expected value.
    pub no_expected: fn(u8) -> String,
    /// A required PCR has no actual value.
    pub no_actual: fn(u8) -> String,
    /// An expected PCR outside the required set has no actual value.
    pub no_actual_other: fn(u8) -> String,
    /// Why an expected PCR is skipped ([`Others::Skip`]).
    pub skipped: fn(u8) -> String,
}

/// How one caller compares PCRs.
#[derive(Debug, Clone, Copy)]
pub struct CompareRules {
    /// Check id prefix; the id is the prefix followed by the PCR index.
    pub id_prefix: &'static str,
    /// PCRs that are always checked: missing on either side is a failure.
    pub required: &'static [u8],
    /// PCRs this caller can reproduce and compares whenever they are
    /// expected (a superset of `required`).
    pub comparable: &'static [u8],
    /// Expected PCRs outside `comparable`.
    pub others: Others,
    /// Check sentences.
    pub wording: Wording,
}

fn not_attested(i: u8) -> String {
    format!("PCR{i} is not attested")
}

impl CompareRules {
    /// `proofpack rebuild --expect-pcrs`: ids `pcr.N`. PCR0 (the whole image)
    /// must be expected; every expected PCR among 0, 1, 2 is compared, and
    /// any other expected PCR is skipped, since it is not a property of the
    /// image bytes a rebuild produces.
    pub fn rebuild() -> Self {
        Self {
            id_prefix: "pcr.",
            required: &[0],
            comparable: &[0, 1, 2],
            others: Others::Skip,
            wording: Wording {
                matches: |i| format!("PCR{i} matches"),
                differs: |i| format!("PCR{i} of the rebuilt image differs"),
                no_expected: |i| format!("the expected measurements have no PCR{i}"),
                no_actual: |i| format!("the rebuild has no PCR{i}"),
                no_actual_other: |i| format!("the rebuild has no PCR{i}"),
                skipped: |i| {
                    format!("PCR{i} is not a property of the image bytes a rebuild produces")
                },
            },
        }
    }

    /// The audit: attested PCRs against a rebuild, ids `rebuild.pcr.N`.
    /// PCR0, PCR1 and PCR2 must be present on both sides and equal; other
    /// PCRs are not image measurements and are not compared.
    pub fn attested() -> Self {
        Self {
            id_prefix: "rebuild.pcr.",
            required: &[0, 1, 2],
            comparable: &[0, 1, 2],
            others: Others::Ignore,
            wording: Wording {
                matches: |i| format!("PCR{i} equals the expected value"),
                differs: |i| format!("PCR{i} differs from the expected value"),
                no_expected: |i| format!("PCR{i} has no expected value"),
                no_actual: not_attested,
                no_actual_other: not_attested,
                skipped: not_attested,
            },
        }
    }

    /// `gate --eif IMAGE --expect-pcrs pcrs.json`: as [`Self::attested`],
    /// but every other PCR the expected file lists (e.g. PCR8, the signing
    /// certificate) must match too.
    pub fn image_gate() -> Self {
        let mut r = Self::attested();
        r.others = Others::Compare;
        r.wording.no_actual_other =
            |i| format!("PCR{i} is expected but the image has none (unsigned image?)");
        r
    }

    fn compared(&self, i: u8) -> bool {
        self.required.contains(&i) || self.comparable.contains(&i) || self.others == Others::Compare
    }
}

/// Compares `actual` with `expected` under `rules`: one check per required
/// PCR and per expected PCR the rules look at, in ascending PCR order.
pub fn compare(expected: &Measurements, actual: &Measurements, rules: &CompareRules) -> Checks {
    let w = &rules.wording;
    let mut indices: BTreeSet<u8> = rules.required.iter().copied().collect();
    if rules.others != Others::Ignore {
        indices.extend(expected.pcrs.keys().copied());
    }
    let mut out = Checks::new();
    for i in indices {
        let id = format!("{}{i}", rules.id_prefix);
        if !rules.compared(i) {
            out.push(Check::skipped(id, (w.skipped)(i)));
            continue;
        }
        let required = rules.required.contains(&i);
        out.push(match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if e == a => Check::pass(id, (w.matches)(i)),
            (Some(e), Some(a)) => {
                Check::mismatch(id, (w.differs)(i), hex::encode(e), hex::encode(a))
            }
            (_, None) if required => Check::fail(id, (w.no_actual)(i)),
            (Some(_), None) => Check::fail(id, (w.no_actual_other)(i)),
            (None, _) => Check::fail(id, (w.no_expected)(i)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: &[(u8, u8)]) -> Measurements {
        let mut m = Measurements::new();
        for (i, b) in v {
            m.insert(*i, [*b; 48]);
        }
        m
    }

    fn ids(c: &Checks) -> Vec<(String, &'static str)> {
        c.0.iter().map(|c| (c.id.clone(), checks::Status::of_check(c).label())).collect()
    }

    #[test]
    fn rebuild_skips_pcr8_and_requires_expected_pcr0() {
        let c = compare(
            &m(&[(1, 1), (2, 7), (8, 8)]),
            &m(&[(0, 0), (1, 1), (2, 2)]),
            &CompareRules::rebuild(),
        );
        assert_eq!(
            ids(&c),
            [
                ("pcr.0".into(), "FAIL"),
                ("pcr.1".into(), "PASS"),
                ("pcr.2".into(), "FAIL"),
                ("pcr.8".into(), "SKIP")
            ]
        );
        assert_eq!(c.0[0].detail, "the expected measurements have no PCR0");
    }

    #[test]
    fn attested_ignores_other_pcrs_and_requires_0_to_2() {
        let c = compare(
            &m(&[(0, 0), (1, 1), (8, 8)]),
            &m(&[(0, 0), (1, 9)]),
            &CompareRules::attested(),
        );
        assert_eq!(
            ids(&c),
            [
                ("rebuild.pcr.0".into(), "PASS"),
                ("rebuild.pcr.1".into(), "FAIL"),
                ("rebuild.pcr.2".into(), "FAIL"),
            ]
        );
        assert_eq!(c.0[2].detail, "PCR2 is not attested");
        assert_eq!(
            c.0[1].outcome,
            checks::Outcome::Fail {
                expected: Some(hex::encode([1u8; 48])),
                actual: Some(hex::encode([9u8; 48])),
            }
        );
    }

    #[test]
    fn gate_compares_pcr8() {
        let e = m(&[(0, 0), (1, 1), (2, 2), (8, 8)]);
        let c = compare(&e, &m(&[(0, 0), (1, 1), (2, 2)]), &CompareRules::image_gate());
        assert_eq!(c.0[3].id, "rebuild.pcr.8");
        assert_eq!(c.0[3].detail, "PCR8 is expected but the image has none (unsigned image?)");
        let c = compare(&e, &e, &CompareRules::image_gate());
        assert!(c.0.iter().all(|c| !c.is_fail()));
    }
}
