//! Parsing AWS KMS key-policy JSON into a typed [`Policy`].
//!
//! The parser is deliberately stricter than the IAM grammar where AWS
//! behaviour is undocumented (unknown members, both members of a pair,
//! case-variant `Effect`): a tool that guesses could call a policy "pinned"
//! that KMS evaluates differently. Where KMS is documented to *accept* a
//! statement that then has no effect (no `Action` or no `Resource`), the
//! statement is kept and marked inert so the analyser can say so.
//!
//! Order of checks on untrusted bytes: size (before anything else), UTF-8,
//! character set, JSON syntax (bounded depth), duplicate members, shape.

use std::fmt;

use serde::Serialize;

use super::json::{self, Member, Node, Value};

/// KMS's key-policy size quota: 32 KB = 32,768 bytes, not adjustable.
/// Counted on the raw bytes including whitespace (the stricter reading).
pub const MAX_POLICY_BYTES: usize = 32_768;

/// Most statements accepted (a 32 KiB policy cannot hold many more).
pub const MAX_STATEMENTS: usize = 512;

/// Most parse interpretations built for duplicate members (2^3).
pub const MAX_INTERPRETATIONS: usize = 8;

/// Errors reading a key policy. Offsets are byte offsets into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Larger than KMS's 32,768-byte quota (checked before parsing).
    #[error("policy is {len} bytes, larger than the {limit}-byte KMS key-policy limit")]
    TooLarge {
        /// Input size.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Not valid UTF-8.
    #[error("policy is not valid UTF-8 (byte {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A character outside TAB, LF, CR and U+0020..U+00FF (KMS's pattern).
    #[error("character {ch:?} at byte {offset} is outside the set KMS accepts (TAB, LF, CR, U+0020-U+00FF)")]
    BadCharset {
        /// Offset of the character.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// JSON syntax error.
    #[error(transparent)]
    Json(#[from] json::JsonError),
    /// The same member name twice in one object.
    #[error(
        "duplicate member {name:?} at byte {offset} (AWS does not document which one KMS uses)"
    )]
    DuplicateMember {
        /// The member name.
        name: String,
        /// Offset of the second occurrence.
        offset: usize,
    },
    /// A member this grammar does not have.
    #[error("unknown element {name:?} in {context} at byte {offset}")]
    UnknownElement {
        /// The member name.
        name: String,
        /// Where it was found, e.g. `statement 2`.
        context: String,
        /// Offset of the member name.
        offset: usize,
    },
    /// A value of the wrong JSON type.
    #[error("{field} at byte {offset} must be {expected}, found {found}")]
    WrongType {
        /// The field, e.g. `Statement[1].Effect`.
        field: String,
        /// What the grammar requires.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
        /// Offset of the value.
        offset: usize,
    },
    /// A required member is missing.
    #[error("{field} is missing")]
    Missing {
        /// The field, e.g. `Statement[0].Effect`.
        field: String,
    },
    /// Both members of an exclusive pair (`Action`/`NotAction`, ...).
    #[error("statement {statement} has both {a} and {b}")]
    BothMembers {
        /// Statement index.
        statement: usize,
        /// First member.
        a: &'static str,
        /// Second member.
        b: &'static str,
    },
    /// `Statement` is an empty list.
    #[error("Statement must not be empty")]
    NoStatements,
    /// More than [`MAX_STATEMENTS`] statements.
    #[error("more than {MAX_STATEMENTS} statements")]
    TooManyStatements,
    /// `Effect` other than exactly `Allow` or `Deny`.
    #[error("{field} at byte {offset} is {value:?}; must be exactly \"Allow\" or \"Deny\"")]
    BadEffect {
        /// The field.
        field: String,
        /// The value found.
        value: String,
        /// Offset.
        offset: usize,
    },
    /// `Version` other than `2012-10-17` or `2008-10-17`.
    #[error("Version {value:?} at byte {offset} is not 2012-10-17 or 2008-10-17")]
    BadVersion {
        /// The value found.
        value: String,
        /// Offset.
        offset: usize,
    },
    /// A principal type other than AWS, Service, Federated, CanonicalUser.
    #[error("unknown principal type {name:?} at byte {offset}")]
    UnknownPrincipalType {
        /// The type.
        name: String,
        /// Offset.
        offset: usize,
    },
    /// An empty string, list or map where a value is required.
    #[error("{field} at byte {offset} is empty")]
    Empty {
        /// The field.
        field: String,
        /// Offset.
        offset: usize,
    },
    /// A `${` without a closing `}` in a 2012-10-17 policy.
    #[error("unterminated policy variable in {field} at byte {offset}")]
    UnterminatedVariable {
        /// The field.
        field: String,
        /// Offset of the value.
        offset: usize,
    },
    /// One condition key written twice under one operator in spellings that
    /// differ only in case (key names are case-insensitive; whether KMS ANDs
    /// them or keeps one is not documented).
    #[error("condition key {key:?} at byte {offset} repeats an earlier key of the same operator in another case (AWS does not document which one KMS uses)")]
    CaseVariantKey {
        /// The later spelling.
        key: String,
        /// Offset of the later spelling.
        offset: usize,
    },
    /// More duplicate-member combinations than [`MAX_INTERPRETATIONS`].
    #[error("{objects} objects have duplicate members: too many readings to analyse")]
    TooManyInterpretations {
        /// Number of objects with duplicates.
        objects: usize,
    },
}

impl PolicyError {
    /// A one-line remedy for the author of the policy.
    pub fn hint(&self) -> &'static str {
        match self {
            PolicyError::TooLarge { .. } => "KMS rejects key policies over 32 KB with LimitExceededException; split the policy or remove statements",
            PolicyError::DuplicateMember { .. } => "remove the duplicate member; AWS does not document which one KMS would evaluate",
            PolicyError::CaseVariantKey { .. } => "write each condition key once per operator; AWS does not document what KMS does with two spellings of one key",
            PolicyError::BadCharset { .. } | PolicyError::NotUtf8 { .. } => "KMS accepts only TAB, LF, CR and U+0020-U+00FF in a key policy",
            _ => "fix the policy so that it follows the IAM policy grammar",
        }
    }
}

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Version {
    /// `2012-10-17`: policy variables are expanded.
    #[serde(rename = "2012-10-17")]
    V2012,
    /// `2008-10-17`: `${...}` is literal text.
    #[serde(rename = "2008-10-17")]
    V2008,
    /// No `Version`: treated like 2008-10-17.
    #[serde(rename = "absent")]
    Absent,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// A principal type in a principal map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrincipalKind {
    /// `AWS`: accounts, users, roles, sessions, or `*`.
    #[serde(rename = "AWS")]
    Aws,
    /// `Service`: an AWS service principal.
    Service,
    /// `Federated`: SAML/OIDC provider (acceptance in key policies unverified).
    Federated,
    /// `CanonicalUser`: S3 canonical id (acceptance unverified).
    CanonicalUser,
}

/// One principal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalEntry {
    /// The type.
    pub kind: PrincipalKind,
    /// The value as written.
    pub value: String,
}

/// The value of `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Principals {
    /// `"*"` or `{"AWS": "*"}`: every principal.
    Any,
    /// A list of entries (ORed).
    List(Vec<PrincipalEntry>),
}

/// `Principal` (negated = false) or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalBlock {
    /// True for `NotPrincipal`.
    pub negated: bool,
    /// The principals.
    pub principals: Principals,
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: a list of patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatternBlock {
    /// True for the `Not...` member.
    pub negated: bool,
    /// Patterns as written.
    pub patterns: Vec<String>,
}

/// `ForAnyValue:` / `ForAllValues:` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetOp {
    /// No prefix.
    None,
    /// `ForAnyValue:`.
    ForAnyValue,
    /// `ForAllValues:`.
    ForAllValues,
}

/// A base condition operator (without prefix and `IfExists`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub enum BaseOp {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const BASE_OPS: &[(&str, BaseOp)] = {
    use BaseOp::*;
    &[
        ("StringEquals", StringEquals),
        ("StringNotEquals", StringNotEquals),
        ("StringEqualsIgnoreCase", StringEqualsIgnoreCase),
        ("StringNotEqualsIgnoreCase", StringNotEqualsIgnoreCase),
        ("StringLike", StringLike),
        ("StringNotLike", StringNotLike),
        ("NumericEquals", NumericEquals),
        ("NumericNotEquals", NumericNotEquals),
        ("NumericLessThan", NumericLessThan),
        ("NumericLessThanEquals", NumericLessThanEquals),
        ("NumericGreaterThan", NumericGreaterThan),
        ("NumericGreaterThanEquals", NumericGreaterThanEquals),
        ("DateEquals", DateEquals),
        ("DateNotEquals", DateNotEquals),
        ("DateLessThan", DateLessThan),
        ("DateLessThanEquals", DateLessThanEquals),
        ("DateGreaterThan", DateGreaterThan),
        ("DateGreaterThanEquals", DateGreaterThanEquals),
        ("Bool", Bool),
        ("BinaryEquals", BinaryEquals),
        ("IpAddress", IpAddress),
        ("NotIpAddress", NotIpAddress),
        ("ArnEquals", ArnEquals),
        ("ArnLike", ArnLike),
        ("ArnNotEquals", ArnNotEquals),
        ("ArnNotLike", ArnNotLike),
        ("Null", Null),
    ]
};

impl BaseOp {
    /// True for the negated operators, which are true when the key is missing.
    pub fn is_negated(self) -> bool {
        use BaseOp::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// True if policy variables are expanded in this operator's values.
    pub fn allows_variables(self) -> bool {
        use BaseOp::*;
        matches!(
            self,
            StringEquals
                | StringNotEquals
                | StringEqualsIgnoreCase
                | StringNotEqualsIgnoreCase
                | StringLike
                | StringNotLike
                | Bool
                | ArnEquals
                | ArnLike
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// The operator's name.
    pub fn name(self) -> &'static str {
        BASE_OPS.iter().find(|(_, b)| *b == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

/// A parsed condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operator {
    /// A documented operator.
    Known {
        /// Set prefix.
        set: SetOp,
        /// Base operator.
        base: BaseOp,
        /// `IfExists` suffix.
        if_exists: bool,
    },
    /// Not a documented operator (including case variants): its meaning is
    /// unknown, so the analyser treats the clause as ambiguous.
    Unknown,
}

/// Parses an operator name such as `ForAnyValue:StringEqualsIfExists`.
/// Names are case-sensitive: AWS documents one spelling.
pub fn parse_operator(name: &str) -> Operator {
    let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (SetOp::ForAnyValue, r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (SetOp::ForAllValues, r)
    } else {
        (SetOp::None, name)
    };
    let (if_exists, base_name) = match rest.strip_suffix("IfExists") {
        Some(b) => (true, b),
        None => (false, rest),
    };
    match BASE_OPS.iter().find(|(n, _)| *n == base_name) {
        Some((_, BaseOp::Null)) if if_exists || set != SetOp::None => Operator::Unknown,
        Some((_, base)) => Operator::Known { set, base: *base, if_exists },
        None => Operator::Unknown,
    }
}

/// A piece of a condition value after variable parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Part {
    /// Literal text (`*`/`?` are wildcards for `...Like` operators).
    Lit(String),
    /// `${*}`, `${?}` or `${$}`: a literal character, never a wildcard.
    Escaped(char),
    /// `${key}` or `${key, 'default'}`.
    Var {
        /// Lowercased key name.
        key: String,
        /// Default when the key is missing.
        default: Option<String>,
    },
}

/// One condition value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CondValue {
    /// The value as written (numbers and booleans as their JSON text).
    pub raw: String,
    /// The value split into literal text and variables. Only a 2012-10-17
    /// policy with a variable-capable operator has variables.
    pub parts: Vec<Part>,
}

impl CondValue {
    /// True if the value contains a policy variable.
    pub fn has_variable(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var { .. }))
    }
}

/// One condition test: operator, key and values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clause {
    /// The operator as written.
    pub operator_name: String,
    /// The operator.
    pub operator: Operator,
    /// The key as written.
    pub key: String,
    /// The key lowercased (key names are case-insensitive).
    pub key_lc: String,
    /// The values (ORed for positive operators).
    pub values: Vec<CondValue>,
    /// Byte offset of the key.
    pub offset: usize,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// Position in the policy (0-based).
    pub index: usize,
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal` / `NotPrincipal`.
    pub principal: PrincipalBlock,
    /// `Action` / `NotAction`; `None` makes the statement inert.
    pub action: Option<PatternBlock>,
    /// `Resource` / `NotResource`; `None` makes the statement inert.
    pub resource: Option<PatternBlock>,
    /// Condition clauses (ANDed).
    pub conditions: Vec<Clause>,
    /// Byte offset of the statement object.
    pub offset: usize,
}

impl Statement {
    /// KMS accepts a statement without `Action` or `Resource` and then
    /// ignores it: such a statement never matches.
    pub fn is_inert(&self) -> bool {
        self.action.is_none() || self.resource.is_none()
    }

    /// `Sid` or `#index` for messages.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(s) => format!("statement {} ({s:?})", self.index),
            None => format!("statement {}", self.index),
        }
    }
}

/// A parsed key policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// `Version`.
    pub version: Version,
    /// `Id`, if any.
    pub id: Option<String>,
    /// The statements in order.
    pub statements: Vec<Statement>,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

impl Policy {
    /// Parses a policy strictly: duplicate members are an error.
    pub fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
        let root = read_tree(bytes, MAX_POLICY_BYTES)?;
        if let Some((name, offset)) = first_duplicate(&root) {
            return Err(PolicyError::DuplicateMember { name, offset });
        }
        let policy = policy_from_tree(&root)?;
        if let Some(c) = case_variant_groups(&policy).first().and_then(|g| g.later.first()) {
            return Err(PolicyError::CaseVariantKey { key: c.0.clone(), offset: c.1 });
        }
        Ok(policy)
    }

    /// Parses a policy text (see [`Policy::parse`]).
    pub fn parse_str(text: &str) -> Result<Policy, PolicyError> {
        Self::parse(text.as_bytes())
    }
}

/// One reading of a policy with duplicate members.
#[derive(Debug, Clone)]
pub struct Interpretation {
    /// e.g. `first-wins` or `obj1:last-wins,obj2:first-wins`.
    pub label: String,
    /// The policy under this reading.
    pub policy: Policy,
}

/// A policy as the analyser sees it: one reading, or several when the JSON
/// has duplicate members (KMS's choice among them is undocumented).
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Every reading (one when there are no duplicates).
    pub interpretations: Vec<Interpretation>,
    /// Duplicate member names with the offset of the later occurrence.
    pub duplicates: Vec<(String, usize)>,
    /// Condition keys repeated under one operator in another case, with the
    /// offset of the later spelling.
    pub case_variants: Vec<(String, usize)>,
}

/// Clauses of one statement under one operator whose keys differ only in case.
struct CaseGroup {
    statement: usize,
    /// Positions in the statement's `conditions`, in document order.
    clauses: Vec<usize>,
    /// (spelling, offset) of every clause after the first.
    later: Vec<(String, usize)>,
}

fn case_variant_groups(policy: &Policy) -> Vec<CaseGroup> {
    let mut out = Vec::new();
    for (si, st) in policy.statements.iter().enumerate() {
        let mut seen: Vec<usize> = Vec::new();
        for (i, c) in st.conditions.iter().enumerate() {
            if seen.contains(&i) {
                continue;
            }
            let same: Vec<usize> = (i..st.conditions.len())
                .filter(|j| {
                    st.conditions
                        .get(*j)
                        .is_some_and(|d| d.operator_name == c.operator_name && d.key_lc == c.key_lc)
                })
                .collect();
            seen.extend(&same);
            if same.len() > 1 {
                let later = same
                    .iter()
                    .skip(1)
                    .filter_map(|j| st.conditions.get(*j))
                    .map(|d| (d.key.clone(), d.offset))
                    .collect();
                out.push(CaseGroup { statement: si, clauses: same, later });
            }
        }
    }
    out
}

/// How one group of case-variant keys is read.
#[derive(Clone, Copy)]
enum CaseReading {
    First,
    Last,
    All,
}

/// Every reading of the case-variant groups of `policy`: the first spelling
/// only, the last only, or all of them ANDed (what the analyser did before,
/// and the least permissive for an Allow, the most for a Deny).
fn case_readings(
    label: &str,
    policy: &Policy,
    groups: &[CaseGroup],
) -> Result<Vec<Interpretation>, PolicyError> {
    let n = groups.len();
    let total = 3usize.checked_pow(n as u32).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for code in 0..total {
        let mut p = policy.clone();
        let mut parts = Vec::new();
        let mut rest = code;
        for g in groups {
            let reading = match rest % 3 {
                0 => CaseReading::All,
                1 => CaseReading::First,
                _ => CaseReading::Last,
            };
            rest /= 3;
            let keep: Vec<usize> = match reading {
                CaseReading::All => g.clauses.clone(),
                CaseReading::First => g.clauses.first().copied().into_iter().collect(),
                CaseReading::Last => g.clauses.last().copied().into_iter().collect(),
            };
            if let Some(st) = p.statements.get_mut(g.statement) {
                let mut i = 0;
                st.conditions.retain(|_| {
                    let drop = g.clauses.contains(&i) && !keep.contains(&i);
                    i += 1;
                    !drop
                });
            }
            let name = g.later.first().map(|l| l.0.as_str()).unwrap_or("");
            parts.push(format!(
                "statement {} key {name:?}: {}",
                g.statement,
                match reading {
                    CaseReading::All => "all spellings apply",
                    CaseReading::First => "first spelling wins",
                    CaseReading::Last => "last spelling wins",
                }
            ));
        }
        let label = if label.is_empty() {
            parts.join(", ")
        } else {
            format!("{label}, {}", parts.join(", "))
        };
        out.push(Interpretation { label, policy: p });
    }
    Ok(out)
}

/// Parses a policy, building a first-wins and a last-wins reading for each
/// object with duplicate members (at most [`MAX_INTERPRETATIONS`]).
pub fn parse_readings(bytes: &[u8], max_len: usize) -> Result<Parsed, PolicyError> {
    let root = read_tree(bytes, max_len)?;
    let mut dup_objects = Vec::new();
    let mut duplicates = Vec::new();
    collect_dup_objects(&root, &mut dup_objects, &mut duplicates);
    let n = dup_objects.len();
    if n > 3 {
        return Err(PolicyError::TooManyInterpretations { objects: n });
    }
    let mut json_readings = Vec::new();
    if n == 0 {
        json_readings.push((String::new(), policy_from_tree(&root)?));
    }
    for mask in (0..(1u32 << n)).filter(|_| n > 0) {
        let mut counter = 0usize;
        let tree = dedup(&root, mask, &mut counter);
        let label = (0..n)
            .map(|i| {
                let w = if mask & (1 << i) != 0 { "last-wins" } else { "first-wins" };
                format!("object at byte {}: {w}", dup_objects.get(i).copied().unwrap_or(0))
            })
            .collect::<Vec<_>>()
            .join(", ");
        json_readings.push((label, policy_from_tree(&tree)?));
    }
    // Case-variant keys multiply the readings by three per group.
    let mut interpretations = Vec::new();
    let mut case_variants = Vec::new();
    for (label, policy) in json_readings {
        let groups = case_variant_groups(&policy);
        for g in &groups {
            for l in &g.later {
                if !case_variants.contains(l) {
                    case_variants.push(l.clone());
                }
            }
        }
        let total = 3usize.saturating_pow(groups.len() as u32).saturating_mul(1 << n);
        if total > MAX_READINGS {
            return Err(PolicyError::TooManyInterpretations { objects: n + groups.len() });
        }
        if groups.is_empty() {
            let label = if label.is_empty() { "as written".to_string() } else { label };
            interpretations.push(Interpretation { label, policy });
        } else {
            interpretations.extend(case_readings(&label, &policy, &groups)?);
        }
    }
    Ok(Parsed { interpretations, duplicates, case_variants })
}

/// Most readings analysed for one policy (duplicate members and
/// case-variant keys together).
pub const MAX_READINGS: usize = 72;

fn read_tree(bytes: &[u8], max_len: usize) -> Result<Node, PolicyError> {
    if bytes.len() > max_len {
        return Err(PolicyError::TooLarge { len: bytes.len(), limit: max_len });
    }
    let text =
        std::str::from_utf8(bytes).map_err(|e| PolicyError::NotUtf8 { offset: e.valid_up_to() })?;
    for (offset, ch) in text.char_indices() {
        let ok = matches!(ch, '\t' | '\n' | '\r') || ('\u{20}'..='\u{ff}').contains(&ch);
        if !ok {
            return Err(PolicyError::BadCharset { offset, ch });
        }
    }
    Ok(json::parse(text)?)
}

fn has_dup(members: &[Member]) -> Option<(String, usize)> {
    for (i, m) in members.iter().enumerate() {
        if members.iter().take(i).any(|p| p.name == m.name) {
            return Some((m.name.clone(), m.name_offset));
        }
    }
    None
}

fn first_duplicate(node: &Node) -> Option<(String, usize)> {
    match &node.value {
        Value::Object(m) => has_dup(m).or_else(|| m.iter().find_map(|x| first_duplicate(&x.value))),
        Value::Array(a) => a.iter().find_map(first_duplicate),
        _ => None,
    }
}

fn collect_dup_objects(node: &Node, objs: &mut Vec<usize>, dups: &mut Vec<(String, usize)>) {
    match &node.value {
        Value::Object(m) => {
            if has_dup(m).is_some() {
                objs.push(node.offset);
                for (i, x) in m.iter().enumerate() {
                    if m.iter().take(i).any(|p| p.name == x.name) {
                        dups.push((x.name.clone(), x.name_offset));
                    }
                }
            }
            for x in m {
                collect_dup_objects(&x.value, objs, dups);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_dup_objects(x, objs, dups)),
        _ => {}
    }
}

/// Rebuilds the tree keeping one member per name in each object that has
/// duplicates: bit `k` of `mask` picks last-wins for the k-th such object
/// (document order, same order as [`collect_dup_objects`]).
fn dedup(node: &Node, mask: u32, counter: &mut usize) -> Node {
    let value = match &node.value {
        Value::Object(m) => {
            let last_wins = if has_dup(m).is_some() {
                let k = *counter;
                *counter += 1;
                mask & (1 << k) != 0
            } else {
                false
            };
            // Children are visited after the parent so that numbering
            // matches collect_dup_objects (pre-order).
            let mut kept: Vec<&Member> = Vec::new();
            for x in m {
                match kept.iter().position(|k| k.name == x.name) {
                    Some(pos) if last_wins => {
                        kept.remove(pos);
                        kept.push(x);
                    }
                    Some(_) => {}
                    None => kept.push(x),
                }
            }
            // Keep document order of the surviving members, then recurse in
            // the original order so pre-order numbering is preserved.
            let mut out = Vec::new();
            for x in m {
                let survives = kept.iter().any(|k| std::ptr::eq(*k, x));
                let child = dedup(&x.value, mask, counter);
                if survives {
                    out.push(Member {
                        name: x.name.clone(),
                        name_offset: x.name_offset,
                        value: child,
                    });
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| dedup(x, mask, counter)).collect()),
        v => v.clone(),
    };
    Node { offset: node.offset, value }
}

fn wrong(field: &str, expected: &'static str, node: &Node) -> PolicyError {
    PolicyError::WrongType {
        field: field.to_string(),
        expected,
        found: node.value.type_name(),
        offset: node.offset,
    }
}

fn as_str<'a>(field: &str, node: &'a Node) -> Result<&'a str, PolicyError> {
    match &node.value {
        Value::String(s) => Ok(s),
        _ => Err(wrong(field, "a string", node)),
    }
}

fn as_object<'a>(field: &str, node: &'a Node) -> Result<&'a [Member], PolicyError> {
    match &node.value {
        Value::Object(m) => Ok(m),
        _ => Err(wrong(field, "an object", node)),
    }
}

/// A string or a non-empty list of strings.
fn string_list(field: &str, node: &Node) -> Result<Vec<String>, PolicyError> {
    match &node.value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => {
            if a.is_empty() {
                return Err(PolicyError::Empty { field: field.into(), offset: node.offset });
            }
            a.iter()
                .enumerate()
                .map(|(i, x)| as_str(&format!("{field}[{i}]"), x).map(str::to_string))
                .collect()
        }
        _ => Err(wrong(field, "a string or a list of strings", node)),
    }
}

fn policy_from_tree(root: &Node) -> Result<Policy, PolicyError> {
    let members = as_object("policy", root)?;
    let mut version = Version::Absent;
    let mut id = None;
    let mut statement_node = None;
    for m in members {
        match m.name.as_str() {
            "Version" => {
                let v = as_str("Version", &m.value)?;
                version = match v {
                    "2012-10-17" => Version::V2012,
                    "2008-10-17" => Version::V2008,
                    _ => {
                        return Err(PolicyError::BadVersion {
                            value: v.into(),
                            offset: m.value.offset,
                        })
                    }
                };
            }
            "Id" => id = Some(as_str("Id", &m.value)?.to_string()),
            "Statement" => statement_node = Some(&m.value),
            other => {
                return Err(PolicyError::UnknownElement {
                    name: other.into(),
                    context: "the policy document".into(),
                    offset: m.name_offset,
                })
            }
        }
    }
    let st = statement_node.ok_or(PolicyError::Missing { field: "Statement".into() })?;
    let list: Vec<&Node> = match &st.value {
        Value::Object(_) => vec![st],
        Value::Array(a) => a.iter().collect(),
        _ => return Err(wrong("Statement", "an object or a list of objects", st)),
    };
    if list.is_empty() {
        return Err(PolicyError::NoStatements);
    }
    if list.len() > MAX_STATEMENTS {
        return Err(PolicyError::TooManyStatements);
    }
    let statements = list
        .into_iter()
        .enumerate()
        .map(|(i, n)| statement(i, n, version))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy { version, id, statements })
}

fn statement(index: usize, node: &Node, version: Version) -> Result<Statement, PolicyError> {
    let f = |name: &str| format!("Statement[{index}].{name}");
    let members = as_object(&format!("Statement[{index}]"), node)?;
    let mut sid = None;
    let mut effect = None;
    let mut principal: Option<PrincipalBlock> = None;
    let mut action: Option<PatternBlock> = None;
    let mut resource: Option<PatternBlock> = None;
    let mut conditions = Vec::new();
    for m in members {
        let name = m.name.as_str();
        match name {
            "Sid" => sid = Some(as_str(&f("Sid"), &m.value)?.to_string()),
            "Effect" => {
                let v = as_str(&f("Effect"), &m.value)?;
                effect = Some(match v {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    _ => {
                        return Err(PolicyError::BadEffect {
                            field: f("Effect"),
                            value: v.into(),
                            offset: m.value.offset,
                        })
                    }
                });
            }
            "Principal" | "NotPrincipal" => {
                if principal.is_some() {
                    return Err(PolicyError::BothMembers {
                        statement: index,
                        a: "Principal",
                        b: "NotPrincipal",
                    });
                }
                principal = Some(PrincipalBlock {
                    negated: name == "NotPrincipal",
                    principals: principals(&f(name), &m.value)?,
                });
            }
            "Action" | "NotAction" => {
                if action.is_some() {
                    return Err(PolicyError::BothMembers {
                        statement: index,
                        a: "Action",
                        b: "NotAction",
                    });
                }
                action = Some(PatternBlock {
                    negated: name == "NotAction",
                    patterns: string_list(&f(name), &m.value)?,
                });
            }
            "Resource" | "NotResource" => {
                if resource.is_some() {
                    return Err(PolicyError::BothMembers {
                        statement: index,
                        a: "Resource",
                        b: "NotResource",
                    });
                }
                resource = Some(PatternBlock {
                    negated: name == "NotResource",
                    patterns: string_list(&f(name), &m.value)?,
                });
            }
            "Condition" => conditions = condition(&f("Condition"), &m.value, version)?,
            other => {
                return Err(PolicyError::UnknownElement {
                    name: other.into(),
                    context: format!("statement {index}"),
                    offset: m.name_offset,
                })
            }
        }
    }
    Ok(Statement {
        index,
        sid,
        effect: effect.ok_or(PolicyError::Missing { field: f("Effect") })?,
        principal: principal.ok_or(PolicyError::Missing { field: f("Principal") })?,
        action,
        resource,
        conditions,
        offset: node.offset,
    })
}

fn principals(field: &str, node: &Node) -> Result<Principals, PolicyError> {
    match &node.value {
        Value::String(s) if s == "*" => Ok(Principals::Any),
        Value::String(_) => Err(wrong(field, "\"*\" or a principal map", node)),
        Value::Object(m) => {
            if m.is_empty() {
                return Err(PolicyError::Empty { field: field.into(), offset: node.offset });
            }
            let mut out = Vec::new();
            for x in m {
                let kind = match x.name.as_str() {
                    "AWS" => PrincipalKind::Aws,
                    "Service" => PrincipalKind::Service,
                    "Federated" => PrincipalKind::Federated,
                    "CanonicalUser" => PrincipalKind::CanonicalUser,
                    other => {
                        return Err(PolicyError::UnknownPrincipalType {
                            name: other.into(),
                            offset: x.name_offset,
                        })
                    }
                };
                let sub = format!("{field}.{}", x.name);
                for v in string_list(&sub, &x.value)? {
                    if v.is_empty() {
                        return Err(PolicyError::Empty { field: sub, offset: x.value.offset });
                    }
                    if kind == PrincipalKind::Aws && v == "*" {
                        return Ok(Principals::Any);
                    }
                    out.push(PrincipalEntry { kind, value: v });
                }
            }
            Ok(Principals::List(out))
        }
        _ => Err(wrong(field, "\"*\" or a principal map", node)),
    }
}

fn condition(field: &str, node: &Node, version: Version) -> Result<Vec<Clause>, PolicyError> {
    let ops = as_object(field, node)?;
    let mut out = Vec::new();
    for op in ops {
        let ofield = format!("{field}.{}", op.name);
        let keys = as_object(&ofield, &op.value)?;
        if keys.is_empty() {
            return Err(PolicyError::Empty { field: ofield, offset: op.value.offset });
        }
        let operator = parse_operator(&op.name);
        let vars = version == Version::V2012
            && matches!(operator, Operator::Known { base, .. } if base.allows_variables());
        for k in keys {
            let kfield = format!("{ofield}.{}", k.name);
            let raws: Vec<String> = match &k.value.value {
                Value::Array(a) => a
                    .iter()
                    .enumerate()
                    .map(|(i, x)| scalar(&format!("{kfield}[{i}]"), x))
                    .collect::<Result<_, _>>()?,
                _ => vec![scalar(&kfield, &k.value)?],
            };
            let values = raws
                .into_iter()
                .map(|raw| {
                    let parts = if vars {
                        split_variables(&raw).ok_or_else(|| PolicyError::UnterminatedVariable {
                            field: kfield.clone(),
                            offset: k.value.offset,
                        })?
                    } else {
                        vec![Part::Lit(raw.clone())]
                    };
                    Ok(CondValue { raw, parts })
                })
                .collect::<Result<Vec<_>, PolicyError>>()?;
            out.push(Clause {
                operator_name: op.name.clone(),
                operator,
                key: k.name.clone(),
                key_lc: k.name.to_lowercase(),
                values,
                offset: k.name_offset,
            });
        }
    }
    Ok(out)
}

/// Condition values may be strings, numbers or booleans (stringified).
fn scalar(field: &str, node: &Node) -> Result<String, PolicyError> {
    match &node.value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(wrong(field, "a string, number or boolean", node)),
    }
}

/// Splits `${...}` variables out of a value; `None` if a `${` is unterminated.
pub fn split_variables(raw: &str) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = raw;
    while let Some(pos) = rest.find("${") {
        lit.push_str(rest.get(..pos)?);
        let after = rest.get(pos + 2..)?;
        let end = after.find('}')?;
        let inner = after.get(..end)?;
        rest = after.get(end + 1..)?;
        let esc = match inner {
            "*" => Some('*'),
            "?" => Some('?'),
            "$" => Some('$'),
            _ => None,
        };
        if !lit.is_empty() {
            parts.push(Part::Lit(std::mem::take(&mut lit)));
        }
        match esc {
            Some(c) => parts.push(Part::Escaped(c)),
            None => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => {
                        let d = d.trim();
                        let d =
                            d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(d);
                        (k.trim(), Some(d.to_string()))
                    }
                    None => (inner.trim(), None),
                };
                parts.push(Part::Var { key: key.to_lowercase(), default });
            }
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() || parts.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators() {
        assert_eq!(
            parse_operator("ForAnyValue:StringEqualsIgnoreCaseIfExists"),
            Operator::Known {
                set: SetOp::ForAnyValue,
                base: BaseOp::StringEqualsIgnoreCase,
                if_exists: true
            }
        );
        assert_eq!(parse_operator("stringequals"), Operator::Unknown);
        assert_eq!(parse_operator("NullIfExists"), Operator::Unknown);
        assert_eq!(parse_operator("StringEqualsFoo"), Operator::Unknown);
    }

    #[test]
    fn variables() {
        assert_eq!(
            split_variables("a${aws:username}b${*}"),
            Some(vec![
                Part::Lit("a".into()),
                Part::Var { key: "aws:username".into(), default: None },
                Part::Lit("b".into()),
                Part::Escaped('*'),
            ])
        );
        assert_eq!(split_variables("x${oops"), None);
        assert_eq!(
            split_variables("${k, 'd'}"),
            Some(vec![Part::Var { key: "k".into(), default: Some("d".into()) }])
        );
    }

    #[test]
    fn shapes() {
        let p = Policy::parse_str(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["111122223333","*"]},"Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true}}}}"#,
        )
        .expect("parses");
        assert_eq!(p.version, Version::Absent);
        assert_eq!(p.statements[0].principal.principals, Principals::Any);
        assert_eq!(p.statements[0].conditions[0].values[0].raw, "true");
        assert!(matches!(Policy::parse_str(r#"{"Statement":[]}"#), Err(PolicyError::NoStatements)));
        assert!(matches!(
            Policy::parse_str(r#"{"Statement":[{"Effect":"allow","Principal":"*"}]}"#),
            Err(PolicyError::BadEffect { .. })
        ));
        assert!(matches!(
            Policy::parse_str(
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a","NotAction":"b"}]}"#
            ),
            Err(PolicyError::BothMembers { .. })
        ));
        let inert = Policy::parse_str(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*"}]}"#,
        )
        .expect("parses");
        assert!(inert.statements[0].is_inert());
    }

    #[test]
    fn duplicates() {
        let t = br#"{"Statement":[{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}"#;
        assert!(matches!(Policy::parse(t), Err(PolicyError::DuplicateMember { .. })));
        let r = parse_readings(t, MAX_POLICY_BYTES).expect("readings");
        assert_eq!(r.interpretations.len(), 2);
        assert_eq!(r.interpretations[0].policy.statements[0].effect, Effect::Deny);
        assert_eq!(r.interpretations[1].policy.statements[0].effect, Effect::Allow);
    }
}
