//! Condition-clause semantics shared by the concrete evaluator ([`super::eval`])
//! and the pinning analyser ([`super::pin`]).
//!
//! A clause evaluates to a [`Tri`]: `True`/`False` under documented IAM
//! semantics, `Free` when the analyser lets the attacker choose the key's
//! value, and `Ambiguous` when AWS does not document the outcome (unknown
//! operator, empty value list, `ForAnyValue:` + `IfExists` on a missing key,
//! a plain operator on a multi-valued key, an unparseable policy number or
//! date). Callers resolve `Free` and `Ambiguous` according to the effect of
//! the statement and to how conservative they must be.

use std::net::IpAddr;

use base64::Engine as _;

use super::glob::{self, Tok};
use super::parse::{BaseOp, Clause, CondValue, Operator, Part, SetOp};

/// Three-and-a-half-valued truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    /// True under documented semantics.
    True,
    /// False under documented semantics.
    False,
    /// Depends on a key whose value the requester chooses (analysis only).
    Free,
    /// Undocumented AWS behaviour.
    Ambiguous,
}

/// What the request context holds for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The key is present with these values; `multi` for multi-valued keys.
    Present {
        /// Values (one for a single-valued key).
        values: Vec<String>,
        /// True for a multi-valued key (e.g. `kms:GrantOperations`).
        multi: bool,
    },
    /// The key is not in the request.
    Missing,
    /// Analysis only: any value or absence, the requester's choice.
    Free,
    /// Analysis only: whether or how the key is present is not documented.
    Ambiguous,
}

/// A context: key (lowercase) to [`Lookup`].
pub trait Context {
    /// Looks up a lowercase key.
    fn lookup(&self, key_lc: &str) -> Lookup;
}

/// Resolves one policy value to pattern tokens. `Ok(None)` = a variable
/// whose key is missing and has no default: the value matches nothing.
/// `Err(Tri)` = the value depends on a free key.
fn resolve(v: &CondValue, wildcards: bool, ctx: &dyn Context) -> Result<Option<Vec<Tok>>, Tri> {
    let mut out = Vec::new();
    for p in &v.parts {
        match p {
            Part::Lit(s) => {
                if wildcards {
                    out.extend(glob::tokens(s));
                } else {
                    out.extend(s.chars().map(Tok::Char));
                }
            }
            Part::Escaped(c) => out.push(Tok::Char(*c)),
            Part::Var { key, default } => match ctx.lookup(key) {
                Lookup::Present { values, multi: false } => out.extend(
                    values.first().map(String::as_str).unwrap_or("").chars().map(Tok::Char),
                ),
                // Multi-valued keys cannot be variables (I6): undocumented.
                Lookup::Present { multi: true, .. } => return Err(Tri::Ambiguous),
                Lookup::Missing => match default {
                    Some(d) => out.extend(d.chars().map(Tok::Char)),
                    None => return Ok(None),
                },
                Lookup::Free => return Err(Tri::Free),
                Lookup::Ambiguous => return Err(Tri::Ambiguous),
            },
        }
    }
    Ok(Some(out))
}

fn tok_string(t: &[Tok]) -> String {
    t.iter()
        .map(|t| match t {
            Tok::Char(c) => *c,
            Tok::Star => '*',
            Tok::Question => '?',
        })
        .collect()
}

/// The positive matcher of a base operator for one request value against one
/// resolved policy value. `None` = the policy value is unusable (ambiguous).
fn positive_match(base: BaseOp, s: &str, p: &[Tok]) -> Option<bool> {
    use BaseOp::*;
    let ps = || tok_string(p);
    Some(match base {
        StringEquals | StringNotEquals => ps() == s,
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
            ps().to_lowercase() == s.to_lowercase()
        }
        StringLike | StringNotLike => glob::matches(p, s, false),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => glob::arn_matches(p, s),
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => {
            let pv: f64 = ps().trim().parse().ok()?;
            let Ok(sv) = s.trim().parse::<f64>() else { return Some(false) };
            match base {
                NumericEquals | NumericNotEquals => sv == pv,
                NumericLessThan => sv < pv,
                NumericLessThanEquals => sv <= pv,
                NumericGreaterThan => sv > pv,
                _ => sv >= pv,
            }
        }
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => {
            let pv = parse_date(&ps())?;
            let Some(sv) = parse_date(s) else { return Some(false) };
            match base {
                DateEquals | DateNotEquals => sv == pv,
                DateLessThan => sv < pv,
                DateLessThanEquals => sv <= pv,
                DateGreaterThan => sv > pv,
                _ => sv >= pv,
            }
        }
        Bool => {
            let pv = ps().to_ascii_lowercase();
            if pv != "true" && pv != "false" {
                return None;
            }
            s.eq_ignore_ascii_case(&pv)
        }
        BinaryEquals => {
            let e = base64::engine::general_purpose::STANDARD;
            match (e.decode(ps()), e.decode(s)) {
                (Ok(a), Ok(b)) => a == b,
                _ => ps() == s,
            }
        }
        IpAddress | NotIpAddress => {
            let (net, len) = parse_cidr(&ps())?;
            let Ok(ip) = s.trim().parse::<IpAddr>() else { return Some(false) };
            in_cidr(ip, net, len)
        }
        Null => return None,
    })
}

/// Seconds since the epoch from epoch seconds, RFC 3339, or a bare date.
pub fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(i128::from(n));
    }
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(i128::from(t.unix_timestamp()));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).ok()?;
    Some(i128::from(d.midnight().assume_utc().unix_timestamp()))
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    match s.split_once('/') {
        Some((a, l)) => {
            let ip: IpAddr = a.parse().ok()?;
            let len: u8 = l.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            (len <= max).then_some((ip, len))
        }
        None => {
            let ip: IpAddr = s.parse().ok()?;
            Some((ip, if ip.is_ipv4() { 32 } else { 128 }))
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let (a, b, bits): (u128, u128, u32) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a).into(), u32::from(b).into(), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let len = u32::from(len);
    if len == 0 {
        return true;
    }
    let shift = bits - len;
    (a >> shift) == (b >> shift)
}

/// Evaluates one clause against a context.
pub fn eval_clause(clause: &Clause, ctx: &dyn Context) -> Tri {
    let Operator::Known { set, base, if_exists } = clause.operator else {
        return Tri::Ambiguous;
    };
    if clause.values.is_empty() {
        return Tri::Ambiguous;
    }
    let found = ctx.lookup(&clause.key_lc);
    if base == BaseOp::Null {
        let mut want = Vec::new();
        for v in &clause.values {
            match v.raw.to_ascii_lowercase().as_str() {
                "true" => want.push(true),
                "false" => want.push(false),
                _ => return Tri::Ambiguous,
            }
        }
        return match found {
            Lookup::Free => Tri::Free,
            Lookup::Ambiguous => Tri::Ambiguous,
            Lookup::Missing => to_tri(want.contains(&true)),
            Lookup::Present { .. } => to_tri(want.contains(&false)),
        };
    }
    let (values, multi) = match found {
        Lookup::Free => return Tri::Free,
        Lookup::Ambiguous => return Tri::Ambiguous,
        Lookup::Missing => {
            return match (set, if_exists) {
                (SetOp::ForAllValues, _) => Tri::True,
                (SetOp::ForAnyValue, false) => Tri::False,
                (SetOp::ForAnyValue, true) => Tri::Ambiguous,
                (SetOp::None, true) => Tri::True,
                (SetOp::None, false) => to_tri(base.is_negated()),
            }
        }
        Lookup::Present { values, multi } => (values, multi),
    };
    // A present key whose values "resolve to a null data set, such as an
    // empty string" is not compared value by value under a set operator:
    // "ForAllValues returns true ... ForAnyValue returns false" (IAM User
    // Guide, "Creating a condition with multiple keys or values", note;
    // vectors set-operators.json#forall-empty-string / #forany-empty-string).
    // Comparing the empty string made `ForAllValues:StringEquals` false (a
    // too-strict Allow) and `ForAnyValue:StringNotEquals` true.
    if set != SetOp::None && values.iter().all(String::is_empty) {
        return to_tri(set == SetOp::ForAllValues);
    }
    let wildcards = matches!(
        base,
        BaseOp::StringLike
            | BaseOp::StringNotLike
            | BaseOp::ArnLike
            | BaseOp::ArnNotLike
            | BaseOp::ArnEquals
            | BaseOp::ArnNotEquals
    );
    let mut resolved: Vec<Option<Vec<Tok>>> = Vec::new();
    for v in &clause.values {
        match resolve(v, wildcards, ctx) {
            Ok(r) => resolved.push(r),
            Err(t) => return t,
        }
    }
    // One request value against all policy values: positive = any matches,
    // negated = none matches. A `None` policy value (missing variable)
    // matches nothing.
    let one = |s: &str| -> Option<bool> {
        let mut any = false;
        for p in resolved.iter().flatten() {
            if positive_match(base, s, p)? {
                any = true;
            }
        }
        Some(if base.is_negated() { !any } else { any })
    };
    let results: Option<Vec<bool>> = values.iter().map(|s| one(s)).collect();
    let Some(results) = results else { return Tri::Ambiguous };
    match set {
        SetOp::None => {
            if multi && results.len() != 1 {
                Tri::Ambiguous
            } else {
                to_tri(results.first().copied().unwrap_or(false))
            }
        }
        SetOp::ForAnyValue => to_tri(results.iter().any(|b| *b)),
        SetOp::ForAllValues => to_tri(results.iter().all(|b| *b)),
    }
}

fn to_tri(b: bool) -> Tri {
    if b {
        Tri::True
    } else {
        Tri::False
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_operator, split_variables};
    use std::collections::BTreeMap;

    struct Map(BTreeMap<String, Lookup>);
    impl Context for Map {
        fn lookup(&self, k: &str) -> Lookup {
            self.0.get(k).cloned().unwrap_or(Lookup::Missing)
        }
    }

    fn clause(op: &str, key: &str, vals: &[&str]) -> Clause {
        Clause {
            operator_name: op.into(),
            operator: parse_operator(op),
            key: key.into(),
            key_lc: key.to_lowercase(),
            values: vals
                .iter()
                .map(|v| CondValue {
                    raw: v.to_string(),
                    parts: split_variables(v).unwrap_or_default(),
                })
                .collect(),
            offset: 0,
        }
    }

    fn ctx(pairs: &[(&str, &str)]) -> Map {
        Map(pairs
            .iter()
            .map(|(k, v)| {
                (k.to_string(), Lookup::Present { values: vec![v.to_string()], multi: false })
            })
            .collect())
    }

    #[test]
    fn missing_key_truth_table() {
        let c = ctx(&[]);
        assert_eq!(eval_clause(&clause("StringEquals", "k", &["a"]), &c), Tri::False);
        assert_eq!(eval_clause(&clause("StringNotEquals", "k", &["a"]), &c), Tri::True);
        assert_eq!(eval_clause(&clause("StringEqualsIfExists", "k", &["a"]), &c), Tri::True);
        assert_eq!(eval_clause(&clause("StringNotEqualsIfExists", "k", &["a"]), &c), Tri::True);
        assert_eq!(eval_clause(&clause("ForAnyValue:StringEquals", "k", &["a"]), &c), Tri::False);
        assert_eq!(
            eval_clause(&clause("ForAnyValue:StringNotEquals", "k", &["a"]), &c),
            Tri::False
        );
        assert_eq!(eval_clause(&clause("ForAllValues:StringEquals", "k", &["a"]), &c), Tri::True);
        assert_eq!(
            eval_clause(&clause("ForAnyValue:StringEqualsIfExists", "k", &["a"]), &c),
            Tri::Ambiguous
        );
        assert_eq!(eval_clause(&clause("Null", "k", &["true"]), &c), Tri::True);
        assert_eq!(eval_clause(&clause("Bool", "k", &["false"]), &c), Tri::False);
        assert_eq!(eval_clause(&clause("Bogus", "k", &["false"]), &c), Tri::Ambiguous);
    }

    #[test]
    fn present_values() {
        let c =
            ctx(&[("k", "AbC"), ("ip", "10.1.2.3"), ("n", "5"), ("arn", "arn:aws:iam::1:role/x")]);
        assert_eq!(eval_clause(&clause("StringEquals", "k", &["abc", "AbC"]), &c), Tri::True);
        assert_eq!(eval_clause(&clause("StringEquals", "k", &["A*"]), &c), Tri::False);
        assert_eq!(eval_clause(&clause("StringLike", "k", &["A*"]), &c), Tri::True);
        assert_eq!(eval_clause(&clause("StringEqualsIgnoreCase", "k", &["abc"]), &c), Tri::True);
        assert_eq!(eval_clause(&clause("StringNotEquals", "k", &["x", "AbC"]), &c), Tri::False);
        assert_eq!(eval_clause(&clause("IpAddress", "ip", &["10.0.0.0/8"]), &c), Tri::True);
        assert_eq!(eval_clause(&clause("NotIpAddress", "ip", &["10.0.0.0/8"]), &c), Tri::False);
        assert_eq!(eval_clause(&clause("NumericLessThan", "n", &["6"]), &c), Tri::True);
        assert_eq!(
            eval_clause(&clause("ArnLike", "arn", &["arn:aws:iam::*:role/*"]), &c),
            Tri::True
        );
        // Self-reference: always equal when present.
        assert_eq!(eval_clause(&clause("StringEquals", "k", &["${k}"]), &c), Tri::True);
        // A variable whose key is missing matches nothing.
        assert_eq!(eval_clause(&clause("StringEquals", "k", &["${nope}"]), &c), Tri::False);
        assert_eq!(eval_clause(&clause("StringNotEquals", "k", &["${nope}"]), &c), Tri::True);
    }

    #[test]
    fn set_operators_on_lists() {
        let mut m = BTreeMap::new();
        m.insert(
            "kms:grantoperations".to_string(),
            Lookup::Present { values: vec!["Encrypt".into(), "Decrypt".into()], multi: true },
        );
        let c = Map(m);
        let ops = ["Encrypt", "DescribeKey"];
        assert_eq!(
            eval_clause(&clause("ForAllValues:StringEquals", "kms:GrantOperations", &ops), &c),
            Tri::False
        );
        assert_eq!(
            eval_clause(&clause("ForAnyValue:StringEquals", "kms:GrantOperations", &ops), &c),
            Tri::True
        );
        assert_eq!(
            eval_clause(&clause("StringEquals", "kms:GrantOperations", &ops), &c),
            Tri::Ambiguous
        );
    }

    #[test]
    fn empty_data_set_under_set_operators() {
        // IAM: an empty string is a null data set: ForAllValues true,
        // ForAnyValue false, whatever the per-value comparison would say.
        let c = ctx(&[("k", "")]);
        assert_eq!(eval_clause(&clause("ForAllValues:StringEquals", "k", &["a"]), &c), Tri::True);
        assert_eq!(
            eval_clause(&clause("ForAnyValue:StringNotEquals", "k", &["a"]), &c),
            Tri::False
        );
        // Without a set operator the empty string is an ordinary value.
        assert_eq!(eval_clause(&clause("StringNotEquals", "k", &["a"]), &c), Tri::True);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-02"), Some(86400));
        assert_eq!(parse_date("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_date("100"), Some(100));
        assert_eq!(parse_date("soon"), None);
    }
}
