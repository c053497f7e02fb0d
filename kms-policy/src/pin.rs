//! The pinning analyser: can anyone outside the trusted set obtain plaintext
//! of existing ciphertext under this key without an attestation document
//! whose PCRs equal the expected ones?
//!
//! Method (an over-approximation of the attacker, so it can only err toward
//! "not pinned"):
//!
//! * **Principal classes**: every principal the policy names, an unnamed
//!   principal of every account it mentions (reached through IAM delegation
//!   or `"*"`), a principal of an account it does not mention, and every
//!   service principal it names. Each class is a concrete caller ARN, so the
//!   concrete statement matcher of [`super::eval`] is reused unchanged.
//! * **Request context**: the Nitro keys are enumerated (no Recipient, or a
//!   document whose PCRs take, per index, the expected value, zeros, every
//!   value the policy compares with, a witness for every wildcard pattern, or
//!   a fresh value); principal keys follow the class; every other key is
//!   **free**: in an `Allow` a free clause is assumed true, in a `Deny`
//!   false (the requester picks the context).
//! * **Ambiguity**: undocumented points are evaluated twice: run S
//!   (ambiguous Allow does not match, ambiguous Deny does) and run A (the
//!   reverse). A bypass in run S is documented: NOT_PINNED. A bypass only in
//!   run A: CANNOT_DECIDE. Never PINNED when either finds one.
//! * Then escalation (PutKeyPolicy, CreateGrant for a disclosing operation,
//!   ReplicateKey), key metadata, and the lockout test (can the genuine
//!   enclave still decrypt?).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::actions::{self, ActionClass, KMS_ACTIONS};
use super::cond::{Context, Lookup};
use super::eval::{
    self, account_principal, evaluate, Caller, ContextValue, PMatch, Request, NITRO_PREFIX,
};
use super::expected::{is_pcr_hex, zero_pcr, Expected};
use super::findings::{self, Finding};
use super::glob;
use super::parse::{self, Effect, Operator, Policy, PrincipalKind, Principals};

/// Bound on PCR-value combinations examined per (class, action).
pub const MAX_PCR_COMBINATIONS: usize = 20_000;

/// Scenarios tried per (class, action) whose witness the concrete evaluator
/// does not confirm, before settling for "may be allowed" (CANNOT_DECIDE).
const MAX_UNCONFIRMED_SCENARIOS: usize = 8;

/// The analyser's answer (precedence NOT_PINNED > CANNOT_DECIDE >
/// LOCKOUT_RISK > PINNED). Named apart from [`checks::Verdict`], the
/// pass/fail of one check, which the analysis is reported through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PinVerdict {
    /// A documented-semantics bypass exists.
    NotPinned,
    /// A bypass exists under an undocumented reading.
    CannotDecide,
    /// No bypass, but the genuine enclave cannot decrypt.
    LockoutRisk,
    /// Nothing found.
    Pinned,
}

impl PinVerdict {
    /// Wire name, e.g. `NOT_PINNED`.
    pub fn as_str(self) -> &'static str {
        match self {
            PinVerdict::NotPinned => "NOT_PINNED",
            PinVerdict::CannotDecide => "CANNOT_DECIDE",
            PinVerdict::LockoutRisk => "LOCKOUT_RISK",
            PinVerdict::Pinned => "PINNED",
        }
    }
}

/// Where the key material lives (`Origin` of DescribeKey).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Origin {
    /// `AWS_KMS`.
    AwsKms,
    /// `EXTERNAL` (imported material: a copy exists outside KMS).
    External,
    /// `AWS_CLOUDHSM`.
    AwsCloudHsm,
    /// `EXTERNAL_KEY_STORE`.
    ExternalKeyStore,
}

/// Analysis settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The expected PCR set `E`.
    pub expected: Expected,
    /// Principals exempt from the question (ARNs or account roots).
    pub trusted: Vec<String>,
    /// Key ARN, if known.
    pub key_arn: Option<String>,
    /// Multi-Region key? `None` = unknown (worst case).
    pub multi_region: Option<bool>,
    /// Key origin; `None` = unknown (treated as AWS_KMS with a note).
    pub origin: Option<Origin>,
    /// Treat GenerateDataKey* as disclosing.
    pub strict_generate: bool,
    /// The enclave's principal: the lockout test then asks whether *this*
    /// principal's attested Decrypt succeeds.
    pub enclave_principal: Option<String>,
}

impl Config {
    /// Defaults: no trusted principals, unknown key metadata.
    pub fn new(expected: Expected) -> Self {
        Self {
            expected,
            trusted: Vec::new(),
            key_arn: None,
            multi_region: None,
            origin: None,
            strict_generate: false,
            enclave_principal: None,
        }
    }
}

/// A request the policy may allow although it should not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Witness {
    /// Caller ARN (synthetic for unnamed classes).
    pub principal: String,
    /// For a role-session caller: its role's ARN (path included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_role: Option<String>,
    /// What the caller stands for.
    pub principal_class: String,
    /// Action.
    pub action: String,
    /// Whether the request carries a Recipient document.
    pub has_recipient: bool,
    /// The document's PCRs (lowercase hex), when it has one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pcrs: BTreeMap<u8, String>,
    /// Human description of the PCRs against `E`.
    pub pcr_match: String,
    /// Context values that make the request pass (free keys chosen).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, ContextValue>,
    /// Allow statements that grant it.
    pub allowed_by: Vec<usize>,
    /// Found under documented semantics (false = only under an undocumented reading).
    pub documented: bool,
    /// The concrete evaluator (IAM assumed to allow) returns Allow for it.
    pub confirmed: bool,
}

impl Witness {
    /// The concrete request this witness stands for.
    pub fn to_request(&self, key_arn: Option<&str>) -> Request {
        let mut r = Request::new(&self.principal, &self.action).assume_iam_allows(true);
        r.session_role = self.session_role.clone();
        r.context = self.context.clone();
        if self.has_recipient {
            let mut m = build_spec::pcr::Measurements::new();
            for (i, v) in &self.pcrs {
                if let Some(p) = build_spec::pcr::measurements::parse_pcr_hex(v) {
                    m.insert(*i, p);
                }
            }
            r = r.with_recipient_pcrs(&m);
        }
        if let Some(k) = key_arn {
            r = r.with_key_arn(k);
        }
        r
    }
}

/// The full analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The verdict.
    pub verdict: PinVerdict,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Warning codes (never change the verdict).
    pub warnings: Vec<String>,
    /// Requests proving a NOT_PINNED / CANNOT_DECIDE verdict.
    pub witnesses: Vec<Witness>,
    /// Readings analysed (several when the JSON has duplicate members).
    pub readings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// Ambiguous: Allow does not match, Deny does.
    Strict,
    /// Ambiguous: Allow matches, Deny does not.
    Lenient,
}

/// One principal class: a concrete caller standing for a set of principals.
#[derive(Debug, Clone)]
pub struct Class {
    /// Caller ARN (synthetic for unnamed and foreign classes).
    pub arn: String,
    /// What it stands for.
    pub label: String,
    /// `aws:PrincipalArn` is known (named principals only).
    pub arn_known: bool,
    /// Exempt from the question (declared trusted).
    pub trusted: bool,
    /// For a role session named in the policy: the role it is taken to
    /// belong to (its ARN does not show the role's path, so a session class
    /// is made for every role of that name the policy names, and the
    /// path-less one).
    pub session_role: Option<String>,
}

impl Class {
    /// The caller this class stands for.
    fn caller(&self) -> Caller {
        let mut c = Caller::parse(&self.arn);
        if c.is_session {
            c.role_arn = self.session_role.clone();
        }
        c
    }
}

/// Context for one abstract request.
struct AbsCtx<'a> {
    class: &'a Class,
    caller: Caller,
    /// PCR values when the request carries a Recipient and the action can.
    nitro: Option<&'a BTreeMap<u8, String>>,
    grant_ops: Option<&'a [String]>,
    absent: Option<&'a Absent>,
}

/// An encryption-context key the request does not carry (see
/// [`unbound_decrypt`]), and the set of context keys it carries instead.
#[derive(Debug, Clone)]
struct Absent {
    /// `kms:encryptioncontext:<name>`, lowercase.
    key_lc: String,
    /// `kms:EncryptionContextKeys`: `None` = no encryption context at all.
    keys: Option<Vec<String>>,
}

/// Parses `pcr<n>` / `imagesha384` after the Nitro prefix.
pub fn nitro_index(key_lc: &str) -> Option<u8> {
    let rest = key_lc.strip_prefix(NITRO_PREFIX)?;
    if rest == "imagesha384" {
        return Some(0);
    }
    let digits = rest.strip_prefix("pcr")?;
    if digits.is_empty() || digits.len() > 2 || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = digits.parse().ok()?;
    (n <= 31).then_some(n)
}

impl Context for AbsCtx<'_> {
    fn lookup(&self, key_lc: &str) -> Lookup {
        let single = |v: &str| Lookup::Present { values: vec![v.to_string()], multi: false };
        if let Some(a) = self.absent {
            if key_lc == a.key_lc {
                return Lookup::Missing;
            }
            if key_lc == EC_KEYS {
                return match &a.keys {
                    Some(k) => Lookup::Present { values: k.clone(), multi: true },
                    None => Lookup::Missing,
                };
            }
        }
        if key_lc.starts_with(NITRO_PREFIX) {
            // Misspelled or NitroTPM keys are never present for an enclave document.
            return match (nitro_index(key_lc), self.nitro) {
                (Some(i), Some(m)) => m.get(&i).map(|v| single(v)).unwrap_or(Lookup::Missing),
                _ => Lookup::Missing,
            };
        }
        match key_lc {
            // A service principal has no principal ARN or account.
            "aws:principalarn" | "aws:principalaccount" | "kms:calleraccount"
                if self.caller.is_service =>
            {
                Lookup::Missing
            }
            // Derived from the caller exactly as the evaluator does: a role
            // session's principal ARN is its role's ARN, not the session's.
            "aws:principalarn" if self.class.arn_known => {
                self.caller.principal_arn().map_or(Lookup::Missing, |a| single(&a))
            }
            "aws:principalaccount" | "kms:calleraccount" => match &self.caller.account {
                Some(a) => single(a),
                None => Lookup::Free,
            },
            "kms:grantoperations" => match self.grant_ops {
                Some(ops) => Lookup::Present { values: ops.to_vec(), multi: true },
                None => Lookup::Free,
            },
            k => free_or_missing(k),
        }
    }
}

/// Non-Nitro, non-principal keys (`docs/notes/kms.md`, "Request space and verdicts"):
/// every key that the caller's identity does not determine is **free**, the
/// requester's choice of value or absence. That includes the keys of other
/// services: AWS documents several as global, present in requests to every
/// service (`ec2:SourceInstanceArn` on the role sessions of an EC2 instance,
/// `lambda:SourceFunctionArn`, `ssm:SourceInstanceArn`, `glue:RoleAssumedBy`,
/// `identitystore:UserId`, ...), so an Allow conditioned on one is open to
/// the untrusted parent instance. Two exceptions: a `kms:` key that is a
/// misspelling of the attestation keys is never present (KMS fills only the
/// documented names, and it does so itself, from a verified document), and
/// any other unknown `kms:` key is ambiguous (it may be a key this tool does
/// not know, whose presence KMS controls).
fn free_or_missing(k: &str) -> Lookup {
    if k.starts_with("aws:") || findings::is_known_key(k) {
        return Lookup::Free;
    }
    if let Some(rest) = k.strip_prefix("kms:") {
        if rest.contains("recipient") || rest.contains("attest") || rest.contains("nitro") {
            return Lookup::Missing;
        }
        return Lookup::Ambiguous;
    }
    Lookup::Free
}

struct Analyser<'a> {
    policy: &'a Policy,
    cfg: &'a Config,
    classes: Vec<Class>,
    /// Set by [`unbound_decrypt`]: the encryption-context key requests lack.
    absent: Option<Absent>,
}

/// `kms:EncryptionContextKeys`, lowercase.
const EC_KEYS: &str = "kms:encryptioncontextkeys";

impl Analyser<'_> {
    /// Statement indices of Allows that may match, or empty.
    fn allowing(&self, action: &str, ctx: &AbsCtx<'_>, run: Run) -> Vec<usize> {
        self.allowing_in(None, action, ctx, run)
    }

    fn denied(&self, action: &str, ctx: &AbsCtx<'_>, run: Run) -> bool {
        self.denied_in(None, action, ctx, run)
    }

    /// Statements whose principal, action and resource may match this
    /// caller and action: the part of a statement that does not depend on
    /// the request context, computed once per (class, action) instead of
    /// once per PCR scenario.
    fn heads(&self, class: &Class, action: &str) -> Vec<usize> {
        let caller = class.caller();
        let key = self.cfg.key_arn.as_deref();
        (0..self.policy.statements.len())
            .filter(|i| {
                self.policy
                    .statements
                    .get(*i)
                    .is_some_and(|st| eval::head_may_match(st, &caller, action, key))
            })
            .collect()
    }

    /// The statements to look at: `only` (from [`Analyser::heads`]) or all.
    fn statements_in<'s>(
        &'s self,
        only: Option<&'s [usize]>,
    ) -> Box<dyn Iterator<Item = &'s parse::Statement> + 's> {
        match only {
            Some(idx) => Box::new(idx.iter().filter_map(|i| self.policy.statements.get(*i))),
            None => Box::new(self.policy.statements.iter()),
        }
    }

    fn allowing_in(
        &self,
        only: Option<&[usize]>,
        action: &str,
        ctx: &AbsCtx<'_>,
        run: Run,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        for st in self.statements_in(only) {
            if st.effect != Effect::Allow {
                continue;
            }
            let Some(e) =
                eval::eval_statement(st, &ctx.caller, action, self.cfg.key_arn.as_deref(), ctx)
            else {
                continue;
            };
            if e.any_false() {
                continue;
            }
            if e.any_ambiguous() && run == Run::Strict {
                continue;
            }
            out.push(st.index);
        }
        out
    }

    fn denied_in(&self, only: Option<&[usize]>, action: &str, ctx: &AbsCtx<'_>, run: Run) -> bool {
        for st in self.statements_in(only) {
            if st.effect != Effect::Deny {
                continue;
            }
            let Some(e) =
                eval::eval_statement(st, &ctx.caller, action, self.cfg.key_arn.as_deref(), ctx)
            else {
                continue;
            };
            if e.any_false() || e.any_free() {
                continue;
            }
            if e.any_ambiguous() && run == Run::Lenient {
                continue;
            }
            if matches!(e.principal, PMatch::Direct | PMatch::Delegated | PMatch::Ambiguous) {
                return true;
            }
        }
        false
    }

    fn ctx<'b>(
        &'b self,
        class: &'b Class,
        action: &str,
        nitro: Option<&'b BTreeMap<u8, String>>,
        grant_ops: Option<&'b [String]>,
    ) -> AbsCtx<'b> {
        let nitro = if actions::is_recipient_capable(action) { nitro } else { None };
        AbsCtx { class, caller: class.caller(), nitro, grant_ops, absent: self.absent.as_ref() }
    }
}

fn disclosing_actions(strict: bool) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = KMS_ACTIONS
        .iter()
        .filter(|(_, c)| *c == ActionClass::Disclosing)
        .map(|(a, _)| *a)
        .collect();
    if strict {
        v.extend(actions::STRICT_GENERATE.iter().copied());
    }
    v
}

/// Caller standing for every service principal a policy does not name.
const UNNAMED_SERVICE: &str = "unnamed-service.proofpack.amazonaws.com";

/// Every principal class the analyser considers for a policy.
pub fn classes(policy: &Policy, cfg: &Config) -> Vec<Class> {
    let partition = cfg
        .key_arn
        .as_deref()
        .and_then(|k| k.split(':').nth(1))
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_string();
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut services: BTreeSet<String> = BTreeSet::new();
    let mut accounts: BTreeSet<String> = BTreeSet::new();
    for st in &policy.statements {
        if let Principals::List(l) = &st.principal.principals {
            for e in l {
                match e.kind {
                    PrincipalKind::Aws => {
                        if let Some(a) = account_principal(&e.value) {
                            accounts.insert(a);
                        } else if e.value.starts_with("arn:") {
                            if let Some(a) = Caller::parse(&e.value).account {
                                accounts.insert(a);
                            }
                            if !e.value.contains('*') && !e.value.contains('?') {
                                named.insert(e.value.clone());
                            }
                        }
                    }
                    PrincipalKind::Service => {
                        services.insert(e.value.clone());
                    }
                    _ => {}
                }
            }
        }
    }
    // Accounts named in condition values (kms:CallerAccount, aws:PrincipalArn, ...)
    // get a class too: an Allow to "*" may be narrowed to them.
    for st in &policy.statements {
        for c in &st.conditions {
            for v in &c.values {
                if eval::is_account_id(&v.raw) {
                    accounts.insert(v.raw.clone());
                } else if v.raw.starts_with("arn:") {
                    if let Some(a) =
                        Caller::parse(&v.raw).account.filter(|a| eval::is_account_id(a))
                    {
                        accounts.insert(a);
                    }
                }
            }
        }
    }
    if let Some(a) = cfg.key_arn.as_deref().and_then(eval::key_account) {
        accounts.insert(a);
    }
    if let Some(p) = &cfg.enclave_principal {
        if let Some(a) = Caller::parse(p).account {
            accounts.insert(a);
        }
        named.insert(p.clone());
    }
    // Accounts mentioned anywhere in the text (e.g. in kms:CallerAccount).
    let mut foreign = String::from("999999999999");
    for cand in ["999999999999", "999999999998", "999999999997", "999999999996"] {
        let used = accounts.contains(cand)
            || policy.statements.iter().any(|s| {
                s.conditions.iter().any(|c| c.values.iter().any(|v| v.raw.contains(cand)))
            });
        if !used {
            foreign = cand.to_string();
            break;
        }
    }
    let trusted = |arn: &str, account: Option<&str>| {
        cfg.trusted.iter().any(|t| {
            t == arn || account.is_some_and(|a| account_principal(t).as_deref() == Some(a))
        })
    };
    let mut out = Vec::new();
    for n in &named {
        let c = Caller::parse(n);
        let acct = c.account.clone();
        if !c.is_session {
            out.push(Class {
                arn: n.clone(),
                label: n.clone(),
                arn_known: true,
                trusted: trusted(n, acct.as_deref()),
                session_role: None,
            });
            continue;
        }
        let plain = format!(
            "arn:{}:iam::{}:role/{}",
            c.partition.as_deref().unwrap_or(&partition),
            acct.as_deref().unwrap_or(""),
            c.role_name.as_deref().unwrap_or("")
        );
        let mut roles: Vec<String> = named
            .iter()
            .filter(|r| {
                let rc = Caller::parse(r);
                !rc.is_session
                    && rc.role_name.is_some()
                    && rc.account == c.account
                    && rc.role_name == c.role_name
            })
            .cloned()
            .collect();
        // ... and a role of that name under a path the policy does not name.
        let other_path = format!(
            "arn:{}:iam::{}:role/proofpack-other-path/{}",
            c.partition.as_deref().unwrap_or(&partition),
            acct.as_deref().unwrap_or(""),
            c.role_name.as_deref().unwrap_or("")
        );
        roles.push(plain);
        roles.push(other_path);
        roles.sort();
        roles.dedup();
        for role in roles {
            out.push(Class {
                arn: n.clone(),
                label: format!("{n} (a session of {role})"),
                arn_known: true,
                trusted: trusted(n, acct.as_deref()) || trusted(&role, acct.as_deref()),
                session_role: Some(role),
            });
        }
    }
    for a in &accounts {
        let arn = format!("arn:{partition}:iam::{a}:role/proofpack-unnamed-principal");
        out.push(Class {
            label: format!("any IAM principal of account {a} given an IAM policy"),
            trusted: trusted(&arn, Some(a)),
            arn,
            arn_known: false,
            session_role: None,
        });
    }
    out.push(Class {
        arn: format!("arn:{partition}:iam::{foreign}:role/proofpack-foreign-principal"),
        label: "a principal of an account the policy does not mention".into(),
        arn_known: false,
        trusted: false,
        session_role: None,
    });
    // `"*"` and NotPrincipal also cover AWS services calling with their own
    // service principal (that is why `aws:PrincipalIsAWSService` exists).
    services.insert(UNNAMED_SERVICE.to_string());
    for s in &services {
        out.push(Class {
            arn: s.clone(),
            label: if s == UNNAMED_SERVICE {
                "an AWS service principal the policy does not name".to_string()
            } else {
                format!("service principal {s}")
            },
            arn_known: true,
            trusted: cfg.trusted.iter().any(|t| t == s),
            session_role: None,
        });
    }
    out
}

/// Candidate values per PCR index (see module docs), plus `None` = missing.
fn pcr_candidates(policy: &Policy, cfg: &Config) -> BTreeMap<u8, Vec<Option<String>>> {
    let mut lits: BTreeMap<u8, Vec<String>> = BTreeMap::new();
    let mut patterns: BTreeMap<u8, Vec<Vec<glob::Tok>>> = BTreeMap::new();
    for st in &policy.statements {
        for c in &st.conditions {
            let Some(i) = nitro_index(&c.key_lc) else { continue };
            let like = matches!(
                c.operator,
                Operator::Known {
                    base: parse::BaseOp::StringLike | parse::BaseOp::StringNotLike,
                    ..
                }
            );
            for v in &c.values {
                let toks = glob::tokens(&v.raw);
                if like && glob::has_wildcard(&toks) {
                    patterns.entry(i).or_default().push(toks);
                } else if is_pcr_hex(&v.raw) {
                    lits.entry(i).or_default().push(v.raw.to_ascii_lowercase());
                } else {
                    lits.entry(i).or_default();
                }
            }
        }
    }
    // A Nitro key used as a policy variable (`${kms:RecipientAttestation:PCR8}`)
    // makes its index matter although no clause is keyed on it, and relates
    // the values of different indices: a debug-mode enclave reports zeros for
    // both sides of `PCR0 = ${PCR8}`.
    let var_indices = nitro_variable_indices(policy);
    let mut indices: BTreeSet<u8> = cfg.expected.pcrs.keys().copied().collect();
    indices.extend(lits.keys());
    indices.extend(patterns.keys());
    indices.extend(var_indices.iter().copied());
    // With variables, one index's value may be compared with another's: every
    // index then also takes every other index's expected values and literals.
    let shared: Vec<String> = if var_indices.is_empty() {
        Vec::new()
    } else {
        cfg.expected.pcrs.values().flatten().chain(lits.values().flatten()).cloned().collect()
    };
    let mut out = BTreeMap::new();
    for i in indices {
        let mut c: Vec<Option<String>> = Vec::new();
        let push = |v: String, c: &mut Vec<Option<String>>| {
            if !c.iter().any(|x| x.as_deref() == Some(v.as_str())) {
                c.push(Some(v));
            }
        };
        for v in cfg.expected.pcrs.get(&i).into_iter().flatten() {
            push(v.clone(), &mut c);
        }
        push(zero_pcr(), &mut c);
        for v in lits.get(&i).into_iter().flatten().chain(&shared) {
            push(v.clone(), &mut c);
        }
        let pats = patterns.get(&i).cloned().unwrap_or_default();
        for p in &pats {
            if let Some(w) = glob_witness(p, |v| cfg.expected.accepts(i, v)) {
                push(w, &mut c);
            }
        }
        // A fresh value matching no literal and no pattern, if one exists.
        let mut fresh = None;
        for ch in ['f', 'e', 'd', 'c', 'b', 'a', '9', '8'] {
            let v = format!("{}{}", ch.to_string().repeat(95), '1');
            let hit = c.iter().any(|x| x.as_deref() == Some(v.as_str()))
                || pats.iter().any(|p| glob::matches(p, &v, false));
            if !hit {
                fresh = Some(v);
                break;
            }
        }
        push(fresh.unwrap_or_else(|| "f".repeat(95) + "1"), &mut c);
        // PCR16-31 need not be in a document (NSM documents carry 0-15).
        if i >= 16 {
            c.push(None);
        }
        out.insert(i, c);
    }
    out
}

/// PCR indices named by a Nitro-key policy variable anywhere in a condition.
fn nitro_variable_indices(policy: &Policy) -> BTreeSet<u8> {
    policy
        .statements
        .iter()
        .flat_map(|st| &st.conditions)
        .flat_map(|c| &c.values)
        .flat_map(|v| &v.parts)
        .filter_map(|p| match p {
            parse::Part::Var { key, .. } => nitro_index(key),
            _ => None,
        })
        .collect()
}

/// The first clause that puts a policy variable into a comparison with a Nitro
/// key (or a Nitro-key variable into any value), other than a key compared
/// with itself (B21, which the enumeration decides). AWS documents neither
/// whether KMS substitutes Nitro keys as variables nor how (spec: at least
/// CANNOT_DECIDE, never a pass).
fn nitro_variable_clause(policy: &Policy) -> Option<(&parse::Statement, &parse::Clause)> {
    policy.statements.iter().find_map(|st| {
        st.conditions
            .iter()
            .find(|c| {
                let own = nitro_index(&c.key_lc);
                c.values.iter().flat_map(|v| &v.parts).any(|p| match p {
                    parse::Part::Var { key, .. } => {
                        let var = nitro_index(key);
                        let self_ref = own.is_some() && var == own;
                        !self_ref && (own.is_some() || var.is_some())
                    }
                    _ => false,
                })
            })
            .map(|c| (st, c))
    })
}

/// A 96-hex value matched by the pattern and not accepted by `E`.
fn glob_witness(p: &[glob::Tok], accepted: impl Fn(&str) -> bool) -> Option<String> {
    let fixed = p.iter().filter(|t| !matches!(t, glob::Tok::Star)).count();
    let stars = p.iter().filter(|t| matches!(t, glob::Tok::Star)).count();
    if fixed > 96 || (stars == 0 && fixed != 96) {
        return None;
    }
    for fill in ['c', '7', 'e', '1', 'a'] {
        let mut s = String::new();
        let mut first_star = true;
        for t in p {
            match t {
                glob::Tok::Char(c) => s.push(*c),
                glob::Tok::Question => s.push(fill),
                glob::Tok::Star => {
                    if first_star {
                        s.push_str(&fill.to_string().repeat(96 - fixed));
                        first_star = false;
                    }
                }
            }
        }
        if s.len() == 96
            && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && !accepted(&s)
        {
            return Some(s);
        }
    }
    None
}

/// All PCR combinations that are *not* attested-match, or `None` if too many.
fn scenarios(
    cands: &BTreeMap<u8, Vec<Option<String>>>,
    exp: &Expected,
    include_attested: bool,
) -> Option<Vec<BTreeMap<u8, String>>> {
    let mut total: usize = 1;
    for c in cands.values() {
        total = total.checked_mul(c.len().max(1))?;
        if total > MAX_PCR_COMBINATIONS {
            return None;
        }
    }
    let idx: Vec<(u8, &Vec<Option<String>>)> = cands.iter().map(|(i, c)| (*i, c)).collect();
    let mut out = Vec::new();
    let mut counters = vec![0usize; idx.len()];
    loop {
        let mut m = BTreeMap::new();
        for (k, (i, c)) in idx.iter().enumerate() {
            if let Some(Some(v)) = c.get(counters.get(k).copied().unwrap_or(0)) {
                m.insert(*i, v.clone());
            }
        }
        let attested = exp.pcrs.iter().all(|(i, vals)| m.get(i).is_some_and(|v| vals.contains(v)));
        if include_attested || !attested {
            out.push(m);
        }
        // Odometer increment.
        let mut k = 0;
        loop {
            let Some(ctr) = counters.get_mut(k) else { return Some(out) };
            *ctr += 1;
            if *ctr < idx.get(k).map(|x| x.1.len()).unwrap_or(0) {
                break;
            }
            *ctr = 0;
            k += 1;
        }
    }
}

/// Describes a PCR map relative to `E`.
fn describe_pcrs(m: &BTreeMap<u8, String>, exp: &Expected) -> String {
    let mut parts = Vec::new();
    for i in exp.pcrs.keys() {
        let d = match m.get(i) {
            None => "missing",
            Some(v) if exp.accepts(*i, v) => "expected",
            Some(v) if *v == zero_pcr() => "zeros (debug mode)",
            Some(_) => "other",
        };
        parts.push(format!("PCR{i} {d}"));
    }
    // Indices outside E are in the map only when the policy refers to them.
    for (i, v) in m {
        if !exp.pcrs.contains_key(i) {
            parts.push(format!("PCR{i} {}", if *v == zero_pcr() { "zeros" } else { "set" }));
        }
    }
    parts.join(", ")
}

/// Analyses policy text (handles duplicate members by analysing each reading).
pub fn analyse_bytes(bytes: &[u8], cfg: &Config) -> Result<Analysis, parse::PolicyError> {
    analyse_bytes_with_limit(bytes, cfg, parse::MAX_POLICY_BYTES)
}

/// As [`analyse_bytes`] with a different size limit (above 32,768 bytes a
/// warning `OVERSIZE` is added: KMS itself would refuse the policy).
pub fn analyse_bytes_with_limit(
    bytes: &[u8],
    cfg: &Config,
    max_len: usize,
) -> Result<Analysis, parse::PolicyError> {
    let parsed = match parse::parse_readings(bytes, max_len) {
        Ok(p) => p,
        Err(parse::PolicyError::TooManyInterpretations { objects }) => {
            return Ok(Analysis {
                verdict: PinVerdict::CannotDecide,
                findings: vec![findings::make(
                    "duplicate-member",
                    None,
                    format!(
                        "{objects} objects have duplicate members; too many readings to analyse"
                    ),
                )],
                warnings: vec!["EXTERNAL_GUARDRAILS_NOT_EVALUATED".into()],
                witnesses: Vec::new(),
                readings: Vec::new(),
            })
        }
        Err(e) => return Err(e),
    };
    let mut results: Vec<Analysis> = parsed
        .interpretations
        .iter()
        .map(|r| {
            let mut a = analyse(&r.policy, cfg);
            a.readings = vec![r.label.clone()];
            a
        })
        .collect();
    let mut combined = if results.len() == 1 {
        results.remove(0)
    } else {
        let verdicts: BTreeSet<PinVerdict> = results.iter().map(|a| a.verdict).collect();
        let verdict = if verdicts.len() == 1 {
            verdicts.iter().next().copied().unwrap_or(PinVerdict::CannotDecide)
        } else {
            PinVerdict::CannotDecide
        };
        let mut findings = Vec::new();
        let mut warnings = Vec::new();
        let mut witnesses = Vec::new();
        let mut readings = Vec::new();
        for (r, a) in parsed.interpretations.iter().zip(results) {
            readings.push(format!("{}: {}", r.label, a.verdict.as_str()));
            for f in a.findings {
                if !findings.contains(&f) {
                    findings.push(f);
                }
            }
            for w in a.warnings {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            witnesses.extend(a.witnesses);
        }
        Analysis { verdict, findings, warnings, witnesses, readings }
    };
    // One finding per ambiguous member, naming the readings analysed.
    let readings = combined.readings.join("; ");
    let ambiguous = parsed
        .duplicates
        .iter()
        .map(|(name, offset)| {
            ("duplicate-member", format!("member {name:?} appears twice (second at byte {offset})"))
        })
        .chain(parsed.case_variants.iter().map(|(key, offset)| {
            (
                "case-variant-key",
                format!(
                    "condition key {key:?} (byte {offset}) repeats a key of the same operator in another case"
                ),
            )
        }));
    for (id, what) in ambiguous {
        combined.findings.push(findings::make(id, None, format!("{what}; readings: {readings}")));
    }
    if bytes.len() > parse::MAX_POLICY_BYTES {
        combined.warnings.push("OVERSIZE".into());
    }
    findings::sort(&mut combined.findings);
    Ok(combined)
}

/// Analyses one parsed policy.
pub fn analyse(policy: &Policy, cfg: &Config) -> Analysis {
    let classes = classes(policy, cfg);
    let an = Analyser { policy, cfg, classes, absent: None };
    let mut witnesses: Vec<Witness> = Vec::new();
    let mut findings = findings::lint(policy, cfg);
    let cands = pcr_candidates(policy, cfg);
    let scen = scenarios(&cands, &cfg.expected, false);
    if scen.is_none() {
        findings.push(findings::make(
            "too-many-pcr-combinations",
            None,
            format!("the policy compares more PCR values than the analyser enumerates ({MAX_PCR_COMBINATIONS} combinations)"),
        ));
    }
    let scen = scen.unwrap_or_default();
    let d_actions = disclosing_actions(cfg.strict_generate);

    for run in [Run::Strict, Run::Lenient] {
        let documented = run == Run::Strict;
        let before = witnesses.len();
        for class in an.classes.iter().filter(|c| !c.trusted) {
            for &a in &d_actions {
                // No Recipient first, then the PCR combinations.
                let mut tried: Vec<Option<&BTreeMap<u8, String>>> = vec![None];
                if actions::is_recipient_capable(a) {
                    tried.extend(scen.iter().map(Some));
                }
                // Keep looking for a scenario the concrete evaluator
                // confirms; fall back to the first unconfirmed one.
                let mut fallback: Option<Witness> = None;
                let mut unconfirmed = 0usize;
                let heads = an.heads(class, a);
                for nitro in tried {
                    let ctx = an.ctx(class, a, nitro, None);
                    let allow = an.allowing_in(Some(&heads), a, &ctx, run);
                    if !allow.is_empty() && !an.denied_in(Some(&heads), a, &ctx, run) {
                        let w = make_witness(&an, class, a, nitro, None, allow, documented);
                        if w.confirmed {
                            fallback = Some(w);
                            break;
                        }
                        fallback.get_or_insert(w);
                        unconfirmed += 1;
                        if unconfirmed >= MAX_UNCONFIRMED_SCENARIOS {
                            break;
                        }
                    }
                }
                witnesses.extend(fallback);
            }
            // Escalation, no Recipient (these actions never carry one).
            for a in ["kms:PutKeyPolicy", "kms:ReplicateKey"] {
                if a == "kms:ReplicateKey" && cfg.multi_region == Some(false) {
                    continue;
                }
                let ctx = an.ctx(class, a, None, None);
                let allow = an.allowing(a, &ctx, run);
                if !allow.is_empty() && !an.denied(a, &ctx, run) {
                    witnesses.push(make_witness(&an, class, a, None, None, allow, documented));
                }
            }
            if let Some(w) = grant_witness(&an, class, &d_actions, run) {
                witnesses.push(w);
            }
        }
        if witnesses.len() > before {
            break;
        }
    }

    let external = matches!(cfg.origin, Some(Origin::External | Origin::ExternalKeyStore));
    if external {
        findings.push(findings::make(
            "key-material-outside-kms",
            None,
            "the key material is imported or held in an external key store: a copy exists outside KMS, so no key policy can pin it".into(),
        ));
    }
    // A documented bypass is reported as such only with a request the
    // concrete evaluator allows; the abstract search over-approximates (free
    // keys independent of each other), so an unconfirmed one means "may".
    let any_s = witnesses.iter().any(|w| w.documented && w.confirmed) || external;
    let nitro_var = nitro_variable_clause(policy);
    if let Some((st, c)) = nitro_var {
        findings.push(findings::make(
            "nitro-key-variable",
            Some(st),
            format!(
                "{}: {} {} compares a Nitro attestation key with a policy variable (or uses one as a variable); AWS does not document this, and a debug-mode enclave reports zeros for every PCR",
                st.label(),
                c.operator_name,
                c.key
            ),
        ));
    }
    let any_a = witnesses.iter().any(|w| !(w.documented && w.confirmed)) || nitro_var.is_some();
    for w in &witnesses {
        findings.push(findings::from_witness(w, policy));
    }

    // Lockout: can the genuine enclave decrypt?
    let full: BTreeMap<u8, String> = cands
        .iter()
        .filter_map(|(i, c)| {
            let v = cfg
                .expected
                .pcrs
                .get(i)
                .and_then(|v| v.first().cloned())
                .or_else(|| c.iter().flatten().find(|v| **v != zero_pcr()).cloned())?;
            Some((*i, v))
        })
        .collect();
    let enclave_ok = an
        .classes
        .iter()
        .filter(|c| cfg.enclave_principal.as_ref().map_or(true, |p| *p == c.arn))
        .any(|c| {
            let ctx = an.ctx(c, "kms:Decrypt", Some(&full), None);
            !an.allowing("kms:Decrypt", &ctx, Run::Strict).is_empty()
                && !an.denied("kms:Decrypt", &ctx, Run::Strict)
        });
    if !enclave_ok {
        findings.push(findings::make(
            "lockout",
            None,
            match &cfg.enclave_principal {
                Some(p) => format!("{p} cannot Decrypt even with a document whose PCRs all equal the expected values"),
                None => "no principal can Decrypt even with a document whose PCRs all equal the expected values".into(),
            },
        ));
    }

    let verdict = if any_s {
        PinVerdict::NotPinned
    } else if any_a {
        PinVerdict::CannotDecide
    } else if !enclave_ok {
        PinVerdict::LockoutRisk
    } else {
        PinVerdict::Pinned
    };

    let warnings = warnings(&an, &d_actions);
    findings::sort(&mut findings);
    Analysis { verdict, findings, warnings, witnesses, readings: Vec::new() }
}

/// Can `kms:Decrypt` be allowed without the encryption-context entry
/// `<context_name>` (the key `kms:EncryptionContext:<context_name>`)?
///
/// Asked of every principal class, trusted ones included, and of every PCR
/// scenario, the attested one included: the question is whether the key can
/// decrypt a ciphertext that was not bound to the context at all (the
/// enclave itself would then accept unbound inputs through KMS). Request
/// contexts are enumerated as: no encryption context, or one whose keys are
/// each value the policy names for `kms:EncryptionContextKeys` (other than
/// `context_name`) or an unrelated key. Returns a witness, documented (run
/// S) before undocumented (run A), confirmed by the concrete evaluator when
/// one could be built; `None` when every allowed Decrypt carries the entry.
pub fn unbound_decrypt(policy: &Policy, cfg: &Config, context_name: &str) -> Option<Witness> {
    let key_lc = format!("kms:encryptioncontext:{}", context_name.to_lowercase());
    let mut key_sets: Vec<Option<Vec<String>>> =
        vec![None, Some(vec!["proofpack-unrelated-key".into()])];
    for c in policy.statements.iter().flat_map(|s| &s.conditions) {
        if c.key_lc != EC_KEYS {
            continue;
        }
        for v in &c.values {
            let k = v.raw.replace(['*', '?'], "x");
            if !k.eq_ignore_ascii_case(context_name) && !key_sets.contains(&Some(vec![k.clone()])) {
                key_sets.push(Some(vec![k]));
            }
        }
    }
    let cands = pcr_candidates(policy, cfg);
    let scen = scenarios(&cands, &cfg.expected, true).unwrap_or_default();
    let a = "kms:Decrypt";
    let mut found: Option<Witness> = None;
    for run in [Run::Strict, Run::Lenient] {
        for keys in &key_sets {
            let an = Analyser {
                policy,
                cfg,
                classes: classes(policy, cfg),
                absent: Some(Absent { key_lc: key_lc.clone(), keys: keys.clone() }),
            };
            for class in &an.classes {
                let tried = std::iter::once(None).chain(scen.iter().map(Some));
                let heads = an.heads(class, a);
                for nitro in tried {
                    let ctx = an.ctx(class, a, nitro, None);
                    let allow = an.allowing_in(Some(&heads), a, &ctx, run);
                    if allow.is_empty() || an.denied_in(Some(&heads), a, &ctx, run) {
                        continue;
                    }
                    let w = make_witness(&an, class, a, nitro, None, allow, run == Run::Strict);
                    if w.confirmed {
                        return Some(w);
                    }
                    found.get_or_insert(w);
                }
            }
        }
        if found.is_some() {
            return found;
        }
    }
    found
}

fn grant_witness(
    an: &Analyser<'_>,
    class: &Class,
    d_actions: &[&str],
    run: Run,
) -> Option<Witness> {
    // Lists of grant operations the policy names (for ForAllValues whitelists).
    let mut lists: Vec<Vec<String>> = Vec::new();
    for st in &an.policy.statements {
        for c in &st.conditions {
            if c.key_lc == "kms:grantoperations" {
                lists.push(c.values.iter().map(|v| v.raw.clone()).collect());
            }
        }
    }
    for &d in d_actions {
        let op = d.trim_start_matches("kms:").to_string();
        if !grant_use_open(an, d, run) {
            continue;
        }
        let mut sets = vec![vec![op.clone()]];
        for l in &lists {
            let mut s = vec![op.clone()];
            s.extend(l.iter().filter(|x| **x != op).cloned());
            sets.push(s);
        }
        for s in &sets {
            let ctx = an.ctx(class, "kms:CreateGrant", None, Some(s));
            let allow = an.allowing("kms:CreateGrant", &ctx, run);
            if !allow.is_empty() && !an.denied("kms:CreateGrant", &ctx, run) {
                return Some(make_witness(
                    an,
                    class,
                    "kms:CreateGrant",
                    None,
                    Some(s),
                    allow,
                    run == Run::Strict,
                ));
            }
        }
    }
    None
}

/// Is the disclosing action `d`, used through a grant without a Recipient,
/// left open for some grantee (no Deny certainly stops it)?
fn grant_use_open(an: &Analyser<'_>, d: &str, run: Run) -> bool {
    an.classes.iter().any(|c| {
        let ctx = an.ctx(c, d, None, None);
        !an.denied(d, &ctx, run)
    })
}

fn make_witness(
    an: &Analyser<'_>,
    class: &Class,
    action: &str,
    nitro: Option<&BTreeMap<u8, String>>,
    grant_ops: Option<&[String]>,
    allowed_by: Vec<usize>,
    documented: bool,
) -> Witness {
    let mut w = Witness {
        principal: class.arn.clone(),
        session_role: class.session_role.clone(),
        principal_class: class.label.clone(),
        action: action.to_string(),
        has_recipient: nitro.is_some(),
        pcrs: nitro.cloned().unwrap_or_default(),
        pcr_match: match nitro {
            None => "no Recipient".into(),
            Some(m) => describe_pcrs(m, &an.cfg.expected),
        },
        context: BTreeMap::new(),
        allowed_by,
        documented,
        confirmed: false,
    };
    if let Some(ops) = grant_ops {
        w.context.insert("kms:grantoperations".into(), ContextValue::Multi(ops.to_vec()));
    }
    if let Some(a) = &an.absent {
        if let Some(k) = &a.keys {
            w.context.insert(EC_KEYS.into(), ContextValue::Multi(k.clone()));
        }
    }
    let fixed = |k: &str| {
        k.starts_with(NITRO_PREFIX)
            || an.absent.as_ref().is_some_and(|a| k == a.key_lc || k == EC_KEYS)
    };
    // Choose values for free keys so that the concrete evaluator agrees.
    for st in w.allowed_by.iter().filter_map(|i| an.policy.statements.get(*i)) {
        for c in &st.conditions {
            if w.context.contains_key(&c.key_lc) || fixed(&c.key_lc) {
                continue;
            }
            if let Some(v) = findings::satisfying_value(c) {
                w.context.insert(c.key_lc.clone(), ContextValue::Single(v));
            }
        }
    }
    let key = an.cfg.key_arn.as_deref();
    let mut d = evaluate(an.policy, &w.to_request(key));
    if d.kind == eval::DecisionKind::ExplicitDeny {
        // Step around Denies that only fire because a free key is missing.
        for i in &d.deciding {
            if let Some(st) = an.policy.statements.get(*i) {
                for c in &st.conditions {
                    if !w.context.contains_key(&c.key_lc) && !fixed(&c.key_lc) {
                        if let Some(v) = c.values.first() {
                            w.context.insert(c.key_lc.clone(), ContextValue::Single(v.raw.clone()));
                        }
                    }
                }
            }
        }
        d = evaluate(an.policy, &w.to_request(key));
    }
    w.confirmed = d.kind == eval::DecisionKind::Allow || search_context(an, class, &mut w);
    w
}

/// Most concrete requests tried per witness by [`search_context`].
const MAX_WITNESS_TRIES: usize = 512;

/// The abstract search treats every free key on its own; when the first
/// concrete choice is not allowed (two clauses on one key, a Deny that needs
/// a particular value to stay silent, a principal ARN pattern), this tries
/// combinations of the values the policy itself suggests for each free key
/// (absent, each literal made to match, a value matching none) and of caller
/// ARNs the policy's `aws:PrincipalArn` patterns describe. Bounded by
/// [`MAX_WITNESS_TRIES`]; on success `w` holds the allowed request.
fn search_context(an: &Analyser<'_>, class: &Class, w: &mut Witness) -> bool {
    let mut dims: Vec<(String, Vec<Option<ContextValue>>)> = Vec::new();
    for st in &an.policy.statements {
        for c in &st.conditions {
            let k = &c.key_lc;
            if k.starts_with(NITRO_PREFIX)
                || (k == "kms:grantoperations" && w.context.contains_key(k))
                || dims.iter().any(|(d, _)| d == k)
                || !matches!(an.ctx(class, &w.action, None, None).lookup(k), Lookup::Free)
            {
                continue;
            }
            let multi = MULTI_VALUED_KEYS.contains(&k.as_str());
            let mut vals: Vec<Option<ContextValue>> = vec![None];
            let mut add = |v: String| {
                let cv = if multi { ContextValue::Multi(vec![v]) } else { ContextValue::Single(v) };
                if !vals.contains(&Some(cv.clone())) {
                    vals.push(Some(cv));
                }
            };
            for c2 in an.policy.statements.iter().flat_map(|s| &s.conditions) {
                if c2.key_lc == *k {
                    for v in findings::candidate_values(c2) {
                        add(v);
                    }
                }
            }
            add("proofpack-unmatched-value".into());
            dims.push((k.clone(), vals));
        }
    }
    // Caller ARNs: the witness's own, then those the policy's principal-ARN
    // patterns describe in the same account.
    let mut callers = vec![w.principal.clone()];
    if !class.arn_known {
        let acct = Caller::parse(&class.arn).account;
        for c in an.policy.statements.iter().flat_map(|s| &s.conditions) {
            if c.key_lc != "aws:principalarn" {
                continue;
            }
            for v in &c.values {
                let arn = v.raw.replace(['*', '?'], "x");
                let c = Caller::parse(&arn);
                // Not a session: its role (and so what it matches) is unknown.
                if arn.starts_with("arn:")
                    && c.account == acct
                    && !c.is_session
                    && !callers.contains(&arn)
                {
                    callers.push(arn);
                }
            }
        }
    }
    let key = an.cfg.key_arn.as_deref();
    let base = w.clone();
    let mut tries = 0usize;
    for caller in callers {
        let mut counters = vec![0usize; dims.len()];
        loop {
            tries += 1;
            if tries > MAX_WITNESS_TRIES {
                return false;
            }
            let mut cand = base.clone();
            cand.principal = caller.clone();
            for ((k, vals), i) in dims.iter().zip(&counters) {
                match vals.get(*i).cloned().flatten() {
                    Some(v) => {
                        cand.context.insert(k.clone(), v);
                    }
                    None => {
                        cand.context.remove(k);
                    }
                }
            }
            if evaluate(an.policy, &cand.to_request(key)).kind == eval::DecisionKind::Allow {
                *w = cand;
                return true;
            }
            // Odometer increment; done when it wraps.
            let mut k = 0;
            while let Some(ctr) = counters.get_mut(k) {
                *ctr += 1;
                if *ctr < dims.get(k).map_or(0, |d| d.1.len()) {
                    break;
                }
                *ctr = 0;
                k += 1;
            }
            if k >= counters.len() {
                break;
            }
        }
    }
    false
}

/// Condition keys whose request value is a list (the rest are single-valued).
const MULTI_VALUED_KEYS: &[&str] = &[
    "kms:grantoperations",
    "kms:encryptioncontextkeys",
    "aws:tagkeys",
    "aws:calledvia",
    "aws:principalorgpaths",
    "aws:principalservicenameslist",
    "aws:resourceorgpaths",
    "aws:sourceorgpaths",
];

fn warnings(an: &Analyser<'_>, d_actions: &[&str]) -> Vec<String> {
    let mut w = Vec::new();
    let cfg = an.cfg;
    let may = |c: &Class, a: &str| {
        let ctx = an.ctx(c, a, None, None);
        !an.allowing(a, &ctx, Run::Strict).is_empty() && !an.denied(a, &ctx, Run::Strict)
    };
    if !an.classes.iter().any(|c| may(c, "kms:PutKeyPolicy")) {
        w.push("IMMUTABLE_POLICY".to_string());
    }
    let fresh: Vec<&str> = KMS_ACTIONS
        .iter()
        .filter(|(a, c)| {
            *c == ActionClass::Fresh
                && !(cfg.strict_generate && actions::STRICT_GENERATE.contains(a))
        })
        .map(|(a, _)| *a)
        .collect();
    if an.classes.iter().any(|c| fresh.iter().any(|a| may(c, a))) {
        w.push("UNATTESTED_GENERATE".into());
    }
    let key_acct = cfg.key_arn.as_deref().and_then(eval::key_account);
    let cross = an.policy.statements.iter().any(|st| {
        st.effect == Effect::Allow
            && !st.is_inert()
            && d_actions
                .iter()
                .any(|a| st.action.as_ref().is_some_and(|b| eval::action_matches(b, a)))
            && matches!(&st.principal.principals, Principals::List(l) if l.iter().any(|e| {
                account_principal(&e.value).is_some_and(|a| key_acct.as_deref() != Some(a.as_str()))
            }))
    });
    if cross {
        w.push("CROSS_ACCOUNT_DELEGATION".into());
    }
    let set_on_nitro = an.policy.statements.iter().any(|st| {
        st.conditions.iter().any(|c| {
            c.key_lc.starts_with(NITRO_PREFIX)
                && matches!(c.operator, Operator::Known { set, .. } if set != parse::SetOp::None)
        })
    });
    if set_on_nitro {
        w.push("SET_OPERATOR_ON_SINGLE_VALUED_KEY".into());
    }
    let future = an.policy.statements.iter().any(|st| {
        st.effect == Effect::Allow
            && st.action.as_ref().is_some_and(|b| {
                b.patterns.iter().any(|p| {
                    let name = p.split_once(':').map(|x| x.1).unwrap_or(p);
                    name != "*" && (p.contains('*') || p.contains('?'))
                })
            })
    });
    if future {
        w.push("PATTERN_MAY_COVER_FUTURE_ACTIONS".into());
    }
    w.push("EXTERNAL_GUARDRAILS_NOT_EVALUATED".into());
    let all_guarded = d_actions.iter().all(|a| {
        an.classes.iter().all(|c| {
            let ctx = an.ctx(c, a, None, None);
            an.denied(a, &ctx, Run::Strict)
        })
    });
    if !all_guarded {
        w.push("GRANTS_NOT_EXAMINED".into());
    }
    if cfg.origin.is_none() {
        w.push("KEY_ORIGIN_ASSUMED_AWS_KMS".into());
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nitro_index_names() {
        assert_eq!(nitro_index("kms:recipientattestation:pcr0"), Some(0));
        assert_eq!(nitro_index("kms:recipientattestation:imagesha384"), Some(0));
        assert_eq!(nitro_index("kms:recipientattestation:pcr31"), Some(31));
        assert_eq!(nitro_index("kms:recipientattestation:pcr32"), None);
        assert_eq!(nitro_index("kms:recipientattestation:pcr00"), None);
        assert_eq!(nitro_index("kms:recipientattestation:pcro"), None);
        assert_eq!(nitro_index("kms:recipientattestation:nitrotpmpcr4"), None);
    }

    #[test]
    fn glob_witnesses() {
        let p = glob::tokens("65b4*");
        let w = glob_witness(&p, |_| false).expect("witness");
        assert_eq!(w.len(), 96);
        assert!(w.starts_with("65b4"));
        assert!(glob_witness(&glob::tokens("xyz*"), |_| false).is_none());
        assert!(glob_witness(&glob::tokens("abc"), |_| false).is_none());
    }
}

#[cfg(test)]
mod class_tests {
    use super::*;
    use crate::expected::Expected;

    fn cfg() -> Config {
        let mut e = std::collections::BTreeMap::new();
        for i in 0..3u8 {
            e.insert(i, vec![format!("{i}").repeat(96)]);
        }
        Config::new(Expected { pcrs: e })
    }

    /// An Allow to "*" narrowed to an account that only appears in a
    /// condition value is still found.
    #[test]
    fn account_only_in_condition() {
        let p = Policy::parse_str(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"444455556666"}}}]}"#).expect("parses");
        let a = analyse(&p, &cfg());
        assert_eq!(a.verdict, PinVerdict::NotPinned);
        assert!(a.witnesses.iter().any(|w| w.principal.contains("444455556666") && w.confirmed));
    }

    /// A wildcard inside a principal ARN is undocumented: never PINNED.
    #[test]
    fn partial_wildcard_principal() {
        let p = Policy::parse_str(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/*"},"Action":"kms:Decrypt","Resource":"*"}]}"#).expect("parses");
        assert_eq!(analyse(&p, &cfg()).verdict, PinVerdict::CannotDecide);
    }
}
