//! Soundness of the analyser as a tested property: generated key policies
//! and requests, the analyser's verdict checked against the concrete
//! evaluator.
//!
//! The analyser ([`super::pin`]) answers a question about *every* request;
//! the evaluator ([`super::eval`]) about one. They share the condition
//! semantics ([`super::cond`]) but not the search, so a request the
//! evaluator allows is independent evidence against a verdict:
//!
//! * **PINNED (or LOCKOUT_RISK) ⇒** no generated request by a principal
//!   outside `T` that is not attested-match may be allowed a disclosing
//!   action (Decrypt, ReEncryptFrom, DeriveSharedSecret), PutKeyPolicy,
//!   ReplicateKey (key possibly multi-Region), or a CreateGrant for a
//!   disclosing operation whose use some principal could make without a
//!   certain Deny; under either reading of undocumented points
//!   ([`Reading`]).
//! * **NOT_PINNED ⇒** one of its documented witnesses is a request the
//!   evaluator allows.
//!
//! Inputs are plain bytes ([`Choices`]), so the same generator serves the
//! `proptest` run in the test suite and the `kms_differential` cargo-fuzz
//! target. The policy grammar covered: several statements, Allow/Deny,
//! Principal/NotPrincipal (`*`, accounts, roles with and without path,
//! sessions, users, wildcards, services, Federated), Action/NotAction with
//! globs and case, Resource/NotResource, missing elements (inert), every
//! operator family with `IfExists`, `Null`, `ForAnyValue:`/`ForAllValues:`,
//! unknown operators, negations, policy variables (Nitro keys included),
//! principal, free, cross-service, unknown and misspelled keys, duplicate
//! members and case-variant keys, empty value lists, both policy versions.
//! Half of the policies start from the pinned template (so that PINNED
//! verdicts are common enough to be tested) and are then mutated.

use std::collections::BTreeMap;
use std::fmt;

use build_spec::pcr::measurements::parse_pcr_hex;
use build_spec::pcr::Measurements;

use super::actions;
use super::eval::{self, evaluate_with, ContextValue, DecisionKind, Reading, Request};
use super::expected::{zero_pcr, Expected};
use super::findings;
use super::parse::{self, Policy};
use super::pin::{self, nitro_index, Config, Origin, PinVerdict};

const KEY_ACCT: &str = "111122223333";
const OTHER_ACCT: &str = "444455556666";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ENCLAVE: &str = "arn:aws:iam::111122223333:role/enclave";
const ADMIN: &str = "arn:aws:iam::111122223333:role/admin";
const INSTANCE: &str = "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc1234def567890";

/// Principal ARNs a policy may name.
const NAMED: &[&str] = &[
    ENCLAVE,
    ADMIN,
    "arn:aws:iam::111122223333:role/ops",
    "arn:aws:iam::111122223333:role/team/enclave",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::444455556666:role/partner",
    "arn:aws:sts::111122223333:assumed-role/enclave/i-0abc",
];

/// Callers of the generated requests, beyond those the policy names.
const CALLERS: &[&str] = &[
    "arn:aws:sts::111122223333:assumed-role/enclave/i-0abc",
    "arn:aws:sts::111122223333:assumed-role/admin/s",
    "arn:aws:sts::111122223333:assumed-role/ops/s",
    "arn:aws:iam::111122223333:role/unnamed",
    "arn:aws:iam::444455556666:role/other",
    "arn:aws:iam::999988887777:role/attacker",
    "ec2.amazonaws.com",
    "logs.amazonaws.com",
];

const ACTION_PATTERNS: &[&str] = &[
    "kms:Decrypt",
    "kms:decrypt",
    "kms:*",
    "*",
    "kms:ReEncrypt*",
    "kms:ReEncryptFrom",
    "kms:*Crypt*",
    "kms:Re*",
    "kms:Derive*",
    "kms:Put*",
    "kms:PutKeyPolicy",
    "kms:CreateGrant",
    "kms:ReplicateKey",
    "kms:GenerateDataKey*",
    "kms:Describe*",
    "kms:Encrypt",
    "kms:D?crypt",
];

const BASE_OPS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericGreaterThanEquals",
    "DateLessThan",
    "DateGreaterThan",
    "DateNotEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
    "StringEqualz",
    "stringequals",
];

const NITRO_KEYS: &[&str] = &[
    "kms:RecipientAttestation:PCR0",
    "kms:RecipientAttestation:PCR1",
    "kms:RecipientAttestation:PCR2",
    "kms:RecipientAttestation:PCR3",
    "kms:RecipientAttestation:PCR8",
    "kms:RecipientAttestation:PCR16",
    "kms:RecipientAttestation:ImageSha384",
    "KMS:recipientattestation:pcr0",
    "kms:RecipientAttestation:PCRO",
    "kms:RecipientAttestation:NitroTPMPCR4",
];

const OTHER_KEYS: &[&str] = &[
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "kms:CallerAccount",
    "kms:EncryptionContext:app",
    "kms:EncryptionContext:proofpack:recipients",
    "kms:EncryptionContextKeys",
    "kms:ViaService",
    "kms:GrantOperations",
    "kms:GrantIsForAWSResource",
    "kms:ReEncryptOnSameKey",
    "aws:SourceIp",
    "aws:SecureTransport",
    "aws:CurrentTime",
    "aws:PrincipalTag/team",
    "ec2:SourceInstanceArn",
    "lambda:SourceFunctionArn",
    "kms:FooBar",
    "foo:bar",
];

const STRING_VALUES: &[&str] = &[
    "app1",
    "app*",
    "*",
    "${aws:PrincipalTag/team}",
    "Decrypt",
    "ReEncrypt*",
    "Encrypt",
    "proofpack:recipients",
    INSTANCE,
    "arn:aws:ec2:*:111122223333:instance/*",
    "ec2.us-east-1.amazonaws.com",
    "true",
    "false",
    "111122223333",
    "444455556666",
    "arn:aws:iam::111122223333:role/*",
    ENCLAVE,
    "arn:aws:iam::111122223333:role/ops",
    "10.0.0.0/8",
    "${kms:RecipientAttestation:PCR0}",
];

/// Byte-driven choices. When the bytes run out a generator seeded from
/// them continues, so short inputs still give whole policies.
pub struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
    state: u64,
}

impl<'a> Choices<'a> {
    /// Choices read from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        // FNV-1a of the input seeds the continuation.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in data {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        Self { data, pos: 0, state: h }
    }

    fn byte(&mut self) -> u8 {
        if let Some(b) = self.data.get(self.pos) {
            self.pos += 1;
            return *b;
        }
        // SplitMix64.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u8
    }

    /// A number in `0..n` (`n` at most 256).
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            0
        } else {
            usize::from(self.byte()) % n
        }
    }

    /// True with roughly `percent` per cent.
    fn chance(&mut self, percent: usize) -> bool {
        usize::from(self.byte()) * 100 < percent * 256
    }

    fn pick<'b>(&mut self, xs: &[&'b str]) -> &'b str {
        xs.get(self.below(xs.len())).copied().unwrap_or("")
    }
}

/// One generated case: policy text and analysis settings.
#[derive(Debug, Clone)]
pub struct Case {
    /// The key policy (may hold duplicate members or case-variant keys).
    pub text: String,
    /// Expected PCRs, trusted principals, key metadata.
    pub cfg: Config,
}

/// A generated PCR value: 96 hex characters, distinct per (index, variant).
fn pcr_value(index: u8, variant: u8) -> String {
    format!("{:02x}", index.wrapping_mul(16).wrapping_add(variant).wrapping_add(0x3c)).repeat(48)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Generates a case from choices.
pub fn generate(ch: &mut Choices<'_>) -> Case {
    let indices: &[u8] = match ch.below(10) {
        0 => &[0],
        1 | 2 => &[0, 1, 2, 8],
        3 => &[0, 16],
        4 => &[1, 2],
        _ => &[0, 1, 2],
    };
    let mut exp = BTreeMap::new();
    for &i in indices {
        let mut v = vec![pcr_value(i, 0)];
        if ch.chance(15) {
            v.push(pcr_value(i, 1));
        }
        exp.insert(i, v);
    }
    let expected = Expected { pcrs: exp };
    let mut cfg = Config::new(expected.clone());
    if ch.chance(70) {
        cfg.trusted.push(ADMIN.into());
    }
    if ch.chance(5) {
        cfg.trusted.push(format!("arn:aws:iam::{OTHER_ACCT}:root"));
    }
    cfg.key_arn = ch.chance(85).then(|| KEY_ARN.to_string());
    cfg.multi_region = if ch.chance(80) { Some(false) } else { None };
    cfg.origin = Some(Origin::AwsKms);
    if ch.chance(30) {
        cfg.enclave_principal = Some(ENCLAVE.into());
    }

    let mut statements = Vec::new();
    if ch.chance(50) {
        statements.extend(template(ch, &expected));
    }
    let extra = if statements.is_empty() { 1 + ch.below(3) } else { ch.below(3) };
    for _ in 0..extra {
        if ch.chance(20) {
            statements.push(identity_statement(ch));
        } else {
            statements.push(statement(ch, &expected));
        }
    }
    let version = match ch.below(10) {
        0 => None,
        1 => Some("2008-10-17"),
        _ => Some("2012-10-17"),
    };
    let mut text = String::from("{");
    if let Some(v) = version {
        text.push_str(&format!("\"Version\":{},", json_str(v)));
    }
    text.push_str("\"Statement\":[");
    text.push_str(&statements.join(","));
    text.push_str("]}");
    Case { text, cfg }
}

/// The pinned template: an admin statement, the attested Decrypt, and
/// optionally Deny guards, each possibly mutated.
fn template(ch: &mut Choices<'_>, e: &Expected) -> Vec<String> {
    let mut out = Vec::new();
    let admin_actions = if ch.chance(50) {
        "[\"kms:PutKeyPolicy\",\"kms:DescribeKey\",\"kms:GetKeyPolicy\"]"
    } else {
        "\"kms:*\""
    };
    out.push(format!(
        "{{\"Sid\":\"Admin\",\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":{}}},\"Action\":{admin_actions},\"Resource\":\"*\"}}",
        json_str(ADMIN)
    ));
    let op = mutate_op(ch, "StringEqualsIgnoreCase");
    let mut keys = Vec::new();
    for (i, vals) in &e.pcrs {
        if ch.chance(8) {
            continue; // a dropped pin
        }
        let key = format!("kms:RecipientAttestation:PCR{i}");
        let value = if ch.chance(85) {
            vals.first().cloned().unwrap_or_default()
        } else {
            nitro_value(ch, e, *i)
        };
        keys.push(format!("{}:{}", json_str(&key), json_str(&value)));
        if ch.chance(6) {
            // The same key again in another case.
            keys.push(format!(
                "{}:{}",
                json_str(&key.to_lowercase()),
                json_str(&nitro_value(ch, e, *i))
            ));
        }
    }
    let cond = if keys.is_empty() {
        String::new()
    } else {
        format!(",\"Condition\":{{{}:{{{}}}}}", json_str(&op), keys.join(","))
    };
    let principal = if ch.chance(85) { json_str(ENCLAVE) } else { json_str(ch.pick(NAMED)) };
    let action = if ch.chance(85) { "kms:Decrypt" } else { ch.pick(ACTION_PATTERNS) };
    out.push(format!(
        "{{\"Sid\":\"Pinned\",\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":{principal}}},\"Action\":{},\"Resource\":\"*\"{cond}}}",
        json_str(action)
    ));
    if ch.chance(50) {
        for (i, vals) in &e.pcrs {
            if ch.chance(10) {
                continue;
            }
            let op = mutate_op(ch, "StringNotEqualsIgnoreCase");
            let values: Vec<String> = vals.iter().map(|v| json_str(v)).collect();
            out.push(format!(
                "{{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":[\"kms:Decrypt\",\"kms:ReEncryptFrom\",\"kms:DeriveSharedSecret\"],\"Resource\":\"*\",\"Condition\":{{{}:{{\"kms:RecipientAttestation:PCR{i}\":[{}]}}}}}}",
                json_str(&op),
                values.join(",")
            ));
        }
    }
    out
}

/// A statement whose condition is on the caller's identity (principal ARN,
/// account, service), where the analyser's principal classes and the
/// evaluator's derivation from the caller ARN must agree (role sessions,
/// service principals, accounts named only in conditions).
fn identity_statement(ch: &mut Choices<'_>) -> String {
    let effect = if ch.chance(70) { "Allow" } else { "Deny" };
    let principal = if ch.chance(40) {
        "\"*\"".to_string()
    } else {
        format!("{{\"AWS\":{}}}", json_str(ch.pick(NAMED)))
    };
    let key = ch.pick(&[
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "kms:CallerAccount",
        "aws:PrincipalIsAWSService",
        "aws:PrincipalServiceName",
    ]);
    let base =
        ch.pick(&["StringEquals", "StringNotEquals", "ArnEquals", "ArnLike", "ArnNotLike", "Bool"]);
    let op = mutate_op(ch, base);
    let value = match key {
        "aws:PrincipalArn" => ch
            .pick(&[
                NAMED[0],
                NAMED[1],
                NAMED[3],
                NAMED[6],
                "arn:aws:iam::111122223333:role/*",
                "arn:aws:sts::111122223333:assumed-role/*",
            ])
            .to_string(),
        "aws:PrincipalIsAWSService" => ch.pick(&["true", "false"]).to_string(),
        "aws:PrincipalServiceName" => ch.pick(&["ec2.amazonaws.com", "*"]).to_string(),
        _ => ch.pick(&[KEY_ACCT, OTHER_ACCT, "999988887777"]).to_string(),
    };
    let cond = if ch.chance(15) {
        format!("\"Null\":{{{}:{}}}", json_str(key), json_str(ch.pick(&["true", "false"])))
    } else {
        format!("{}:{{{}:{}}}", json_str(&op), json_str(key), json_str(&value))
    };
    format!(
        "{{\"Effect\":\"{effect}\",\"Principal\":{principal},\"Action\":{},\"Resource\":\"*\",\"Condition\":{{{cond}}}}}",
        json_str(ch.pick(&["kms:Decrypt", "kms:*", "kms:ReEncrypt*", "kms:PutKeyPolicy"]))
    )
}

/// Sometimes adds a set prefix or `IfExists` to an operator.
fn mutate_op(ch: &mut Choices<'_>, op: &str) -> String {
    match ch.below(16) {
        0 => format!("{op}IfExists"),
        1 => format!("ForAllValues:{op}"),
        2 => format!("ForAnyValue:{op}"),
        _ => op.to_string(),
    }
}

fn nitro_value(ch: &mut Choices<'_>, e: &Expected, i: u8) -> String {
    let own = e.pcrs.get(&i).and_then(|v| v.first().cloned()).unwrap_or_else(|| pcr_value(i, 0));
    match ch.below(12) {
        0..=2 => own,
        3 => own.to_uppercase(),
        4 => pcr_value(i, 1),
        5 => zero_pcr(),
        6 => {
            let other = e.pcrs.keys().copied().find(|j| *j != i).unwrap_or(8);
            pcr_value(other, 0)
        }
        7 => format!("${{{}}}", ch.pick(NITRO_KEYS)),
        8 => format!("{}*", own.get(..8).unwrap_or("")),
        9 => ch.pick(&["*", "${aws:PrincipalTag/pcr}", "0x00"]).to_string(),
        10 => "?".repeat(96),
        _ => pcr_value(i, 5),
    }
}

fn other_value(ch: &mut Choices<'_>, base: &str) -> String {
    let v = match base {
        "Null" | "Bool" => ch.pick(&["true", "false", "TRUE"]),
        "NumericEquals" | "NumericNotEquals" | "NumericLessThan" | "NumericGreaterThanEquals" => {
            ch.pick(&["5", "10", "-1", "x"])
        }
        "DateLessThan" | "DateGreaterThan" | "DateNotEquals" => {
            ch.pick(&["2030-01-01T00:00:00Z", "2001-01-01", "1700000000"])
        }
        "IpAddress" | "NotIpAddress" => ch.pick(&["10.0.0.0/8", "192.0.2.1", "::1/128", "bogus"]),
        "BinaryEquals" => "QUJD",
        _ => ch.pick(STRING_VALUES),
    };
    v.to_string()
}

fn statement(ch: &mut Choices<'_>, e: &Expected) -> String {
    let mut members = Vec::new();
    if ch.chance(20) {
        members.push("\"Sid\":\"S\"".to_string());
    }
    let effect = if ch.chance(65) { "Allow" } else { "Deny" };
    members.push(format!("\"Effect\":\"{effect}\""));
    let principal = match ch.below(10) {
        0 => "\"*\"".to_string(),
        1 => "{\"AWS\":\"*\"}".to_string(),
        2 => format!(
            "{{\"Service\":{}}}",
            json_str(ch.pick(&["ec2.amazonaws.com", "logs.amazonaws.com"]))
        ),
        3 => "{\"Federated\":\"cognito-identity.amazonaws.com\"}".to_string(),
        _ => {
            let n = 1 + ch.below(2);
            let mut l = Vec::new();
            for _ in 0..n {
                let p = match ch.below(6) {
                    0 => KEY_ACCT.to_string(),
                    1 => format!("arn:aws:iam::{KEY_ACCT}:root"),
                    2 => format!("arn:aws:iam::{OTHER_ACCT}:root"),
                    3 => "arn:aws:iam::111122223333:role/*".to_string(),
                    _ => ch.pick(NAMED).to_string(),
                };
                l.push(json_str(&p));
            }
            format!("{{\"AWS\":[{}]}}", l.join(","))
        }
    };
    let pname = if ch.chance(10) { "NotPrincipal" } else { "Principal" };
    members.push(format!("\"{pname}\":{principal}"));
    if !ch.chance(3) {
        let aname = if ch.chance(12) { "NotAction" } else { "Action" };
        let n = 1 + ch.below(3);
        let acts: Vec<String> = (0..n).map(|_| json_str(ch.pick(ACTION_PATTERNS))).collect();
        members.push(format!("\"{aname}\":[{}]", acts.join(",")));
    }
    match ch.below(40) {
        0 => {}
        1 => members.push(format!("\"Resource\":{}", json_str(KEY_ARN))),
        2 => members.push("\"NotResource\":\"arn:aws:kms:*:999988887777:key/*\"".to_string()),
        _ => members.push("\"Resource\":\"*\"".to_string()),
    }
    if ch.chance(75) {
        let ops = 1 + ch.below(3);
        let mut blocks = Vec::new();
        for _ in 0..ops {
            let base = ch.pick(BASE_OPS);
            let op = if base == "Null" { base.to_string() } else { mutate_op(ch, base) };
            let nkeys = 1 + ch.below(2);
            let mut keys = Vec::new();
            for _ in 0..nkeys {
                let nitro = ch.chance(45);
                let key = if nitro { ch.pick(NITRO_KEYS) } else { ch.pick(OTHER_KEYS) };
                let idx = nitro_index(&key.to_lowercase()).unwrap_or(0);
                let value = |ch: &mut Choices<'_>| {
                    if nitro && !matches!(base, "Null" | "Bool") {
                        nitro_value(ch, e, idx)
                    } else {
                        other_value(ch, base)
                    }
                };
                let vals = match ch.below(12) {
                    0 => "[]".to_string(),
                    1 | 2 => format!("[{},{}]", json_str(&value(ch)), json_str(&value(ch))),
                    _ => json_str(&value(ch)),
                };
                keys.push(format!("{}:{vals}", json_str(key)));
                if ch.chance(5) {
                    // Exact duplicate member.
                    keys.push(format!("{}:{}", json_str(key), json_str(&value(ch))));
                } else if ch.chance(6) {
                    let variant = if key == key.to_lowercase() {
                        key.to_uppercase()
                    } else {
                        key.to_lowercase()
                    };
                    keys.push(format!("{}:{}", json_str(&variant), json_str(&value(ch))));
                }
            }
            blocks.push(format!("{}:{{{}}}", json_str(&op), keys.join(",")));
        }
        members.push(format!("\"Condition\":{{{}}}", blocks.join(",")));
    }
    format!("{{{}}}", members.join(","))
}

/// What went wrong: the analyser contradicted by the evaluator.
#[derive(Debug, Clone)]
pub struct Violation {
    /// What the property says.
    pub what: &'static str,
    /// The reading of the policy (duplicate members, case variants).
    pub reading: String,
    /// The analyser's verdict for that reading.
    pub verdict: PinVerdict,
    /// The request, when one contradicts the verdict.
    pub request: Option<Request>,
    /// The case.
    pub case: Case,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} (verdict {}, reading {})", self.what, self.verdict.as_str(), self.reading)?;
        writeln!(f, "policy: {}", self.case.text)?;
        writeln!(
            f,
            "expected: {:?}; trusted: {:?}; key: {:?}; multi-region: {:?}",
            self.case.cfg.expected.pcrs.keys().collect::<Vec<_>>(),
            self.case.cfg.trusted,
            self.case.cfg.key_arn,
            self.case.cfg.multi_region
        )?;
        if let Some(r) = &self.request {
            writeln!(
                f,
                "request: {}{} {} recipient={:?} context={:?}",
                r.principal,
                r.session_role.as_deref().map(|x| format!(" (session of {x})")).unwrap_or_default(),
                r.action,
                r.recipient.as_ref().map(|m| m
                    .pcrs
                    .iter()
                    .map(|(i, v)| (*i, hex::encode(&v[..4])))
                    .collect::<Vec<_>>()),
                r.context
            )?;
        }
        Ok(())
    }
}

/// Counts of one run of [`check`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Readings analysed.
    pub readings: usize,
    /// Readings per verdict: NOT_PINNED, CANNOT_DECIDE, LOCKOUT_RISK, PINNED.
    pub verdicts: [usize; 4],
    /// Concrete requests evaluated against a PINNED/LOCKOUT_RISK verdict.
    pub requests: usize,
    /// Inputs whose policy did not parse (the generator stays inside the
    /// grammar; a parse error is counted, not checked).
    pub unparsed: usize,
}

impl Stats {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &Stats) {
        self.readings += o.readings;
        for (a, b) in self.verdicts.iter_mut().zip(o.verdicts) {
            *a += b;
        }
        self.requests += o.requests;
        self.unparsed += o.unparsed;
    }
}

/// Random requests tried per reading with a PINNED/LOCKOUT_RISK verdict.
pub const REQUESTS_PER_READING: usize = 160;

/// Generates a case from `data` and checks the property.
pub fn check_bytes(data: &[u8]) -> Result<Stats, Box<Violation>> {
    let mut ch = Choices::new(data);
    let case = generate(&mut ch);
    check(&case, &mut ch)
}

/// Checks the property for one case; `ch` drives the request sampling.
pub fn check(case: &Case, ch: &mut Choices<'_>) -> Result<Stats, Box<Violation>> {
    let mut stats = Stats::default();
    let parsed = match parse::parse_readings(case.text.as_bytes(), parse::MAX_POLICY_BYTES) {
        Ok(p) => p,
        Err(_) => {
            stats.unparsed = 1;
            return Ok(stats);
        }
    };
    let combined = pin::analyse_bytes(case.text.as_bytes(), &case.cfg).ok().map(|a| a.verdict);
    for r in &parsed.interpretations {
        let a = pin::analyse(&r.policy, &case.cfg);
        stats.readings += 1;
        let slot = match a.verdict {
            PinVerdict::NotPinned => 0,
            PinVerdict::CannotDecide => 1,
            PinVerdict::LockoutRisk => 2,
            PinVerdict::Pinned => 3,
        };
        if let Some(n) = stats.verdicts.get_mut(slot) {
            *n += 1;
        }
        let fail = |what: &'static str, request: Option<Request>| {
            Box::new(Violation {
                what,
                reading: r.label.clone(),
                verdict: a.verdict,
                request,
                case: case.clone(),
            })
        };
        match a.verdict {
            PinVerdict::NotPinned => {
                let key = case.cfg.key_arn.as_deref();
                let ok = a.witnesses.iter().filter(|w| w.documented).any(|w| {
                    eval::evaluate(&r.policy, &w.to_request(key)).kind == DecisionKind::Allow
                });
                if !ok && !a.findings.iter().any(|f| f.id == "kms.policy.key-material-outside-kms")
                {
                    return Err(fail("NOT_PINNED without a witness the evaluator allows", None));
                }
            }
            PinVerdict::Pinned | PinVerdict::LockoutRisk => {
                if let Some(req) = sweep(&r.policy, &case.cfg, ch, &mut stats) {
                    return Err(fail(
                        "the evaluator allows a request that is not attested-match for an untrusted principal",
                        Some(req),
                    ));
                }
            }
            PinVerdict::CannotDecide => {}
        }
    }
    if combined == Some(PinVerdict::Pinned) && stats.verdicts[3] != stats.readings {
        return Err(Box::new(Violation {
            what: "PINNED overall although a reading is not",
            reading: "combined".into(),
            verdict: PinVerdict::Pinned,
            request: None,
            case: case.clone(),
        }));
    }
    Ok(stats)
}

/// Is the caller covered by the trusted set (its ARN, its role for a
/// session, or its account root)?
fn is_trusted(cfg: &Config, principal: &str) -> bool {
    let c = eval::Caller::parse(principal);
    cfg.trusted.iter().any(|t| {
        if t == principal {
            return true;
        }
        if let (Some(a), Some(ta)) = (&c.account, eval::account_principal(t)) {
            if *a == ta {
                return true;
            }
        }
        let tc = eval::Caller::parse(t);
        c.is_session
            && tc.role_name.is_some()
            && tc.role_name == c.role_name
            && tc.account == c.account
    })
}

fn attested_match(cfg: &Config, req: &Request) -> bool {
    let Some(m) = &req.recipient else { return false };
    actions::is_recipient_capable(&req.action)
        && !req.context.contains_key("kms:viaservice")
        && cfg.expected.pcrs.iter().all(|(i, vals)| m.hex(*i).is_some_and(|v| vals.contains(&v)))
}

/// Keys a requester can never set: the caller's identity (derived by the
/// evaluator from the ARN) and names that only look like attestation keys
/// (never present: KMS fills the documented ones itself).
fn settable(key_lc: &str) -> bool {
    !matches!(
        key_lc,
        "aws:principalarn"
            | "aws:principalaccount"
            | "kms:calleraccount"
            | "aws:principalisawsservice"
    ) && !key_lc.starts_with(eval::NITRO_PREFIX)
        && !(key_lc.starts_with("kms:")
            && (key_lc.contains("recipient")
                || key_lc.contains("attest")
                || key_lc.contains("nitro")))
}

/// Searches for a request that contradicts a PINNED/LOCKOUT_RISK verdict.
fn sweep(
    policy: &Policy,
    cfg: &Config,
    ch: &mut Choices<'_>,
    stats: &mut Stats,
) -> Option<Request> {
    // Callers: the fixed pool plus every ARN the policy names or describes.
    let mut callers: Vec<String> = CALLERS.iter().chain(NAMED).map(|s| s.to_string()).collect();
    for st in &policy.statements {
        if let parse::Principals::List(l) = &st.principal.principals {
            for e in l {
                callers.push(e.value.replace(['*', '?'], "x"));
            }
        }
        for c in &st.conditions {
            if c.key_lc == "aws:principalarn" {
                callers.extend(c.values.iter().map(|v| v.raw.replace(['*', '?'], "x")));
            }
        }
    }
    // Only callers that exist: IAM/STS ARNs with an account, or services.
    callers.retain(|c| {
        let p = eval::Caller::parse(c);
        (p.is_service || (c.starts_with("arn:") && p.account.is_some())) && !is_trusted(cfg, c)
    });
    callers.sort();
    callers.dedup();
    // A role session belongs to one role, whose path its ARN does not show:
    // try it as a session of every known role of that name (and of the
    // path-less one), each a caller that can exist.
    let roles: Vec<String> =
        callers.iter().filter(|c| c.starts_with("arn:") && c.contains(":role/")).cloned().collect();
    let mut whos: Vec<Who> = Vec::new();
    for c in &callers {
        let p = eval::Caller::parse(c);
        if !p.is_session {
            whos.push(Who { principal: c.clone(), role: None });
            continue;
        }
        let plain = format!(
            "arn:{}:iam::{}:role/{}",
            p.partition.as_deref().unwrap_or("aws"),
            p.account.as_deref().unwrap_or(""),
            p.role_name.as_deref().unwrap_or("")
        );
        let mut mine: Vec<String> = roles
            .iter()
            .filter(|r| {
                let rc = eval::Caller::parse(r);
                rc.account == p.account && rc.role_name == p.role_name
            })
            .cloned()
            .collect();
        mine.push(plain);
        mine.push(format!(
            "arn:aws:iam::{}:role/unlisted-path/{}",
            p.account.as_deref().unwrap_or(""),
            p.role_name.as_deref().unwrap_or("")
        ));
        mine.sort();
        mine.dedup();
        for role in mine {
            if !is_trusted(cfg, &role) {
                whos.push(Who { principal: c.clone(), role: Some(role) });
            }
        }
    }
    // Values worth trying per settable key.
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pcr_lits: BTreeMap<u8, Vec<String>> = BTreeMap::new();
    for c in policy.statements.iter().flat_map(|s| &s.conditions) {
        if let Some(i) = nitro_index(&c.key_lc) {
            let l = pcr_lits.entry(i).or_default();
            l.extend(
                c.values
                    .iter()
                    .map(|v| v.raw.to_lowercase())
                    .filter(|v| parse_pcr_hex(v).is_some()),
            );
        } else if settable(&c.key_lc) {
            let l = keys.entry(c.key_lc.clone()).or_default();
            l.extend(findings::candidate_values(c));
            l.push("proofpack-unmatched".into());
        }
    }
    let mut acts = vec![
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:DeriveSharedSecret",
        "kms:PutKeyPolicy",
        "kms:CreateGrant",
    ];
    if cfg.multi_region != Some(false) {
        acts.push("kms:ReplicateKey");
    }
    let base = |w: &Who, a: &str| {
        let mut r = Request::new(&w.principal, a).assume_iam_allows(true);
        r.session_role = w.role.clone();
        if let Some(k) = &cfg.key_arn {
            r = r.with_key_arn(k.clone());
        }
        r
    };
    let mut requests: Vec<Request> = Vec::new();
    // Systematic: every caller and action, no Recipient, keys absent.
    for w in &whos {
        for a in &acts {
            requests.push(base(w, a));
        }
    }
    // Sampled: callers, actions, documents and contexts.
    for _ in 0..REQUESTS_PER_READING {
        let Some(w) = whos.get(ch.below(whos.len())) else { break };
        let a = acts.get(ch.below(acts.len())).copied().unwrap_or("kms:Decrypt");
        let mut r = base(w, a);
        if actions::is_recipient_capable(a) && ch.chance(60) {
            r = r.with_recipient_pcrs(&document(cfg, &pcr_lits, ch));
        }
        for (k, vals) in &keys {
            if ch.chance(35) {
                continue;
            }
            let v = vals.get(ch.below(vals.len())).cloned().unwrap_or_default();
            let cv = if MULTI.contains(&k.as_str()) {
                ContextValue::Multi(if ch.chance(20) { Vec::new() } else { vec![v] })
            } else {
                ContextValue::Single(v)
            };
            r.context.insert(k.clone(), cv);
        }
        requests.push(r);
    }
    for r in requests {
        if attested_match(cfg, &r) {
            continue;
        }
        stats.requests += 1;
        if r.action == "kms:CreateGrant" {
            if grant_escalates(policy, cfg, &r, &whos, &keys, ch) {
                return Some(r);
            }
            continue;
        }
        for reading in [Reading::DenyLeaning, Reading::AllowLeaning] {
            if evaluate_with(policy, &r, reading).kind == DecisionKind::Allow {
                return Some(r);
            }
        }
    }
    None
}

/// A caller of the sweep: an ARN and, for a role session, its role.
struct Who {
    principal: String,
    role: Option<String>,
}

const MULTI: &[&str] = &["kms:grantoperations", "kms:encryptioncontextkeys"];

/// A Recipient document: PCR0-15 always, 16 sometimes; each value the
/// expected one, zeros, another index's, a policy literal, or fresh.
fn document(cfg: &Config, lits: &BTreeMap<u8, Vec<String>>, ch: &mut Choices<'_>) -> Measurements {
    let mut m = Measurements::new();
    let top = if ch.chance(50) { 16 } else { 15 };
    for i in 0..=top {
        let mut cands: Vec<String> = cfg.expected.pcrs.get(&i).cloned().unwrap_or_default();
        let exp_weight = cands.len();
        cands.push(zero_pcr());
        cands.extend(cfg.expected.pcrs.values().flatten().cloned());
        cands.extend(lits.get(&i).cloned().unwrap_or_default());
        cands.extend(lits.values().flatten().cloned());
        cands.push("f".repeat(96));
        // The expected value half of the time, so that one-index-off
        // documents are common.
        let v = if exp_weight > 0 && ch.chance(50) {
            cands.first().cloned()
        } else {
            cands.get(ch.below(cands.len())).cloned()
        };
        if let Some(p) = v.as_deref().and_then(parse_pcr_hex) {
            m.insert(i, p);
        }
    }
    m
}

/// A CreateGrant request escalates when it is allowed for a grant naming a
/// disclosing operation and some principal's use of that operation without
/// a Recipient is not certainly denied (grants bypass Allow conditions, not
/// Denies).
fn grant_escalates(
    policy: &Policy,
    cfg: &Config,
    r: &Request,
    callers: &[Who],
    keys: &BTreeMap<String, Vec<String>>,
    ch: &mut Choices<'_>,
) -> bool {
    for op in ["Decrypt", "ReEncryptFrom", "DeriveSharedSecret"] {
        let mut g = r.clone();
        let mut ops = vec![op.to_string()];
        if let Some(extra) = keys.get("kms:grantoperations") {
            if ch.chance(50) {
                ops.extend(extra.iter().filter(|x| *x != op).cloned());
            }
        }
        g.context.insert("kms:grantoperations".into(), ContextValue::Multi(ops));
        let allowed = [Reading::DenyLeaning, Reading::AllowLeaning]
            .iter()
            .any(|rd| evaluate_with(policy, &g, *rd).kind == DecisionKind::Allow);
        if !allowed {
            continue;
        }
        let action = format!("kms:{op}");
        let me = Who { principal: r.principal.clone(), role: r.session_role.clone() };
        let open = callers.iter().chain(std::iter::once(&me)).any(|w| {
            let mut u = Request::new(&w.principal, &action).assume_iam_allows(true);
            u.session_role = w.role.clone();
            if let Some(k) = &cfg.key_arn {
                u = u.with_key_arn(k.clone());
            }
            evaluate_with(policy, &u, Reading::AllowLeaning).kind != DecisionKind::ExplicitDeny
        });
        if open {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_continue_past_the_input() {
        let mut a = Choices::new(&[1, 2]);
        let mut b = Choices::new(&[1, 2]);
        let xs: Vec<u8> = (0..50).map(|_| a.byte()).collect();
        let ys: Vec<u8> = (0..50).map(|_| b.byte()).collect();
        assert_eq!(xs, ys, "deterministic");
        assert_eq!(&xs[..2], &[1, 2]);
        assert!(xs[2..].iter().any(|x| *x != 0));
    }

    #[test]
    fn generated_policies_mostly_parse() {
        let mut unparsed = 0;
        for seed in 0..200u32 {
            let bytes = seed.to_le_bytes();
            let case = generate(&mut Choices::new(&bytes));
            if parse::parse_readings(case.text.as_bytes(), parse::MAX_POLICY_BYTES).is_err() {
                unparsed += 1;
            }
        }
        assert!(unparsed < 40, "{unparsed} of 200 generated policies do not parse");
    }
}
