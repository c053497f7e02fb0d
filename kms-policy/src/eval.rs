//! The concrete evaluator: one request against one key policy.
//!
//! ```
//! use kms_policy::{eval::{evaluate, Request, DecisionKind}, parse::Policy};
//! let policy = Policy::parse_str(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
//!   "Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"kms:Decrypt","Resource":"*"}]}"#).unwrap();
//! let req = Request::new("arn:aws:iam::111122223333:role/app", "kms:Decrypt");
//! assert_eq!(evaluate(&policy, &req).kind, DecisionKind::Allow);
//! ```
//!
//! Model (what KMS does with the key policy alone): any matching `Deny` gives
//! [`DecisionKind::ExplicitDeny`]; otherwise a matching `Allow` gives
//! [`DecisionKind::Allow`] when its principal names the caller (or is `*` /
//! `NotPrincipal`), or when it names the caller's account and the caller's
//! own IAM policies allow the action ([`Request::assume_iam_allows`]);
//! otherwise [`DecisionKind::ImplicitDeny`]. Grants, SCPs and RCPs are not
//! modelled. Where AWS behaviour is undocumented the evaluator leans to
//! denying: an ambiguous `Allow` does not match, an ambiguous `Deny` does,
//! and [`Decision::ambiguous`] says so.
//!
//! The `kms:RecipientAttestation:*` keys come only from
//! [`Request::with_recipient_pcrs`] (the PCRs of a *verified* attestation
//! document), and only for the five operations that can carry a Recipient.

use std::collections::BTreeMap;

use build_spec::pcr::Measurements;
use serde::Serialize;

use super::actions;
use super::cond::{eval_clause, Context, Lookup, Tri};
use super::glob;
use super::parse::{
    Effect, PatternBlock, Policy, PrincipalBlock, PrincipalKind, Principals, Statement,
};

/// Prefix of the Nitro Enclaves attestation condition keys (lowercase).
pub const NITRO_PREFIX: &str = "kms:recipientattestation:";

/// A request-context value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ContextValue {
    /// A single-valued key.
    Single(String),
    /// A multi-valued key such as `kms:GrantOperations`.
    Multi(Vec<String>),
}

/// One KMS request as the key policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Caller: an IAM/STS ARN, or a service principal such as
    /// `logs.amazonaws.com`.
    pub principal: String,
    /// The action, e.g. `kms:Decrypt` (case-insensitive).
    pub action: String,
    /// Extra context keys, lowercased. `kms:RecipientAttestation:*` keys here
    /// are ignored: they come only from [`Request::recipient`].
    pub context: BTreeMap<String, ContextValue>,
    /// PCRs of the verified Recipient document, if the request carries one.
    pub recipient: Option<Measurements>,
    /// Whether the caller's identity (IAM) policies allow the action. Used for
    /// account-principal delegation and cross-account calls. Default `false`
    /// (no IAM policy exists), which suits a local KMS; the analyser's
    /// worst case is `true`.
    pub iam_allows: bool,
    /// ARN of the key the policy is attached to, if known (for non-`*`
    /// resources and the cross-account rule).
    pub key_arn: Option<String>,
    /// For a role-session caller: the ARN of its role, path included. A
    /// session ARN (`arn:aws:sts::A:assumed-role/NAME/S`) does not carry the
    /// role's path, so without this the session matches every role element
    /// named NAME and its `aws:PrincipalArn` is taken to be the path-less
    /// `arn:aws:iam::A:role/NAME`.
    pub session_role: Option<String>,
}

impl Request {
    /// A request by `principal` for `action` with an empty context.
    pub fn new(principal: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            action: action.into(),
            context: BTreeMap::new(),
            recipient: None,
            iam_allows: false,
            key_arn: None,
            session_role: None,
        }
    }

    /// Names the role (ARN with path) of a role-session caller.
    pub fn with_session_role(mut self, role_arn: impl Into<String>) -> Self {
        self.session_role = Some(role_arn.into());
        self
    }

    /// The caller as the policy sees it.
    pub(crate) fn caller(&self) -> Caller {
        let mut c = Caller::parse(&self.principal);
        if c.is_session {
            c.role_arn = self.session_role.clone();
        }
        c
    }

    /// Attaches the PCRs of a verified Recipient attestation document.
    pub fn with_recipient_pcrs(mut self, pcrs: &Measurements) -> Self {
        self.recipient = Some(pcrs.clone());
        self
    }

    /// Adds a single-valued context key.
    pub fn with_context(mut self, key: &str, value: impl Into<String>) -> Self {
        self.context.insert(key.to_lowercase(), ContextValue::Single(value.into()));
        self
    }

    /// Adds a multi-valued context key.
    pub fn with_context_values<I, S>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let v = values.into_iter().map(Into::into).collect();
        self.context.insert(key.to_lowercase(), ContextValue::Multi(v));
        self
    }

    /// Adds an encryption context: `kms:EncryptionContext:<k>` per pair and
    /// the multi-valued `kms:EncryptionContextKeys`.
    pub fn with_encryption_context<'a, I>(mut self, pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut keys = Vec::new();
        for (k, v) in pairs {
            self.context.insert(
                format!("kms:encryptioncontext:{}", k.to_lowercase()),
                ContextValue::Single(v.to_string()),
            );
            keys.push(k.to_string());
        }
        self.context.insert("kms:encryptioncontextkeys".into(), ContextValue::Multi(keys));
        self
    }

    /// Marks the request as made through an integrated service
    /// (`kms:ViaService`). Such requests never carry a Recipient.
    pub fn with_via_service(self, service: &str) -> Self {
        self.with_context("kms:ViaService", service)
    }

    /// Sets whether the caller's IAM policies allow the action.
    pub fn assume_iam_allows(mut self, allows: bool) -> Self {
        self.iam_allows = allows;
        self
    }

    /// Sets the key ARN.
    pub fn with_key_arn(mut self, arn: impl Into<String>) -> Self {
        self.key_arn = Some(arn.into());
        self
    }

    /// The lowercase Nitro keys this request carries (empty unless a
    /// Recipient is attached, the action can carry one and no service is in
    /// the path).
    pub fn nitro_keys(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let via = self.context.contains_key("kms:viaservice");
        if let (Some(m), true, false) =
            (&self.recipient, actions::is_recipient_capable(&self.action), via)
        {
            for (i, v) in &m.pcrs {
                out.insert(format!("{NITRO_PREFIX}pcr{i}"), hex::encode(v));
            }
            if let Some(p0) = m.get(0) {
                out.insert(format!("{NITRO_PREFIX}imagesha384"), hex::encode(p0));
            }
        }
        out
    }
}

impl Context for Request {
    fn lookup(&self, key_lc: &str) -> Lookup {
        RequestCtx::new(self).lookup(key_lc)
    }
}

/// A request with its derived keys computed once (the Nitro keys and the
/// caller identity), so a policy evaluation does not rebuild them per clause.
struct RequestCtx<'a> {
    req: &'a Request,
    nitro: BTreeMap<String, String>,
    caller: Caller,
}

impl<'a> RequestCtx<'a> {
    fn new(req: &'a Request) -> Self {
        Self { req, nitro: req.nitro_keys(), caller: req.caller() }
    }
}

impl Context for RequestCtx<'_> {
    fn lookup(&self, key_lc: &str) -> Lookup {
        let single = |v: String| Lookup::Present { values: vec![v], multi: false };
        if key_lc.starts_with(NITRO_PREFIX) {
            return self.nitro.get(key_lc).cloned().map(single).unwrap_or(Lookup::Missing);
        }
        if let Some(v) = self.req.context.get(key_lc) {
            return match v {
                ContextValue::Single(s) => single(s.clone()),
                ContextValue::Multi(l) => Lookup::Present { values: l.clone(), multi: true },
            };
        }
        match key_lc {
            "aws:principalarn" => {
                self.caller.principal_arn().map(single).unwrap_or(Lookup::Missing)
            }
            "aws:principalaccount" | "kms:calleraccount" => {
                self.caller.account.clone().map(single).unwrap_or(Lookup::Missing)
            }
            "aws:principalisawsservice" => single(self.caller.is_service.to_string()),
            _ => Lookup::Missing,
        }
    }
}

/// The three outcomes of a KMS authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DecisionKind {
    /// Allowed.
    Allow,
    /// A `Deny` statement matched.
    ExplicitDeny,
    /// No `Allow` applied.
    ImplicitDeny,
}

/// Why one statement did or did not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StatementMatch {
    /// Principal, action, resource and every condition matched.
    Matched,
    /// The statement lacks `Action` or `Resource`: KMS ignores it.
    Inert,
    /// The principal does not cover the caller.
    PrincipalMismatch,
    /// The action is not covered.
    ActionMismatch,
    /// The resource does not cover the key.
    ResourceMismatch,
    /// A condition clause was false.
    ConditionFalse {
        /// `Operator key`, e.g. `StringEqualsIgnoreCase kms:RecipientAttestation:PCR0`.
        clause: String,
    },
    /// Matched only through the caller's account: needs an IAM policy, which
    /// the request says does not exist.
    NeedsIamPolicy,
    /// AWS behaviour is undocumented here.
    Ambiguous {
        /// What is ambiguous.
        what: String,
    },
}

/// One statement's evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementTrace {
    /// Statement index.
    pub index: usize,
    /// Sid, if any.
    pub sid: Option<String>,
    /// Effect.
    pub effect: Effect,
    /// How the statement matched the request.
    pub outcome: StatementMatch,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allow / explicit deny / implicit deny.
    pub kind: DecisionKind,
    /// Statements that decided: the matching Denies for an explicit deny,
    /// the granting Allows for an allow; empty for an implicit deny.
    pub deciding: Vec<usize>,
    /// Every statement's outcome, in policy order.
    pub statements: Vec<StatementTrace>,
    /// True if an undocumented point was resolved toward denying.
    pub ambiguous: bool,
}

/// How a principal element relates to a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PMatch {
    /// Not covered.
    No,
    /// Named directly, `*`, or `NotPrincipal` not listing it.
    Direct,
    /// Covered through its account principal: IAM policies decide.
    Delegated,
    /// Undocumented (Federated, CanonicalUser, NotPrincipal listing the account).
    Ambiguous,
}

/// A parsed caller identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub arn: String,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// `role` for role ARNs and role sessions: (name).
    pub role_name: Option<String>,
    /// For a session: its role's ARN with path, when known.
    pub role_arn: Option<String>,
    pub is_session: bool,
    pub is_service: bool,
}

impl Caller {
    pub(crate) fn parse(s: &str) -> Caller {
        let mut c = Caller {
            arn: s.to_string(),
            partition: None,
            account: None,
            role_name: None,
            role_arn: None,
            is_session: false,
            is_service: false,
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() == 6 && parts.first() == Some(&"arn") {
            c.partition = parts.get(1).map(|x| x.to_string());
            c.account = parts.get(4).filter(|a| !a.is_empty()).map(|x| x.to_string());
            let res = parts.get(5).copied().unwrap_or("");
            let svc = parts.get(2).copied().unwrap_or("");
            if svc == "iam" {
                if let Some(r) = res.strip_prefix("role/") {
                    c.role_name = r.rsplit('/').next().map(str::to_string);
                }
            } else if svc == "sts" {
                if let Some(r) = res.strip_prefix("assumed-role/") {
                    c.role_name = r.split('/').next().map(str::to_string);
                    c.is_session = true;
                }
            }
        } else if is_account_id(s) {
            c.account = Some(s.to_string());
        } else if s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn") {
            c.is_service = true;
        }
        c
    }

    /// `aws:PrincipalArn`: the role ARN for a role session.
    pub(crate) fn principal_arn(&self) -> Option<String> {
        if self.is_service {
            return None;
        }
        if self.is_session {
            if let Some(r) = &self.role_arn {
                return Some(r.clone());
            }
            return Some(format!(
                "arn:{}:iam::{}:role/{}",
                self.partition.as_deref().unwrap_or("aws"),
                self.account.as_deref().unwrap_or(""),
                self.role_name.as_deref().unwrap_or("")
            ));
        }
        Some(self.arn.clone())
    }
}

/// True for a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// If `v` is an account principal (`123456789012` or `arn:P:iam::A:root`),
/// its account id.
pub fn account_principal(v: &str) -> Option<String> {
    if is_account_id(v) {
        return Some(v.to_string());
    }
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", acct, "root"] if is_account_id(acct) => Some(acct.to_string()),
        _ => None,
    }
}

/// Does one AWS principal element cover the caller?
fn aws_element_matches(elem: &str, caller: &Caller) -> PMatch {
    if let Some(acct) = account_principal(elem) {
        return if caller.account.as_deref() == Some(acct.as_str()) && !caller.is_service {
            PMatch::Delegated
        } else {
            PMatch::No
        };
    }
    if elem == caller.arn {
        return PMatch::Direct;
    }
    // IAM does not allow partial wildcards in principal ARNs; what KMS does
    // with one that got stored is not documented.
    if elem.contains('*') || elem.contains('?') {
        return PMatch::Ambiguous;
    }
    // A role element covers every session of that role.
    let e = Caller::parse(elem);
    if let (true, Some(role)) = (caller.is_session, &caller.role_arn) {
        return if elem == role { PMatch::Direct } else { PMatch::No };
    }
    if caller.is_session
        && e.role_name.is_some()
        && !e.is_session
        && e.account == caller.account
        && e.partition == caller.partition
        && e.role_name == caller.role_name
    {
        return PMatch::Direct;
    }
    PMatch::No
}

fn list_match(list: &Principals, caller: &Caller) -> PMatch {
    match list {
        Principals::Any => PMatch::Direct,
        Principals::List(entries) => {
            let mut best = PMatch::No;
            for e in entries {
                let m = match e.kind {
                    PrincipalKind::Aws => aws_element_matches(&e.value, caller),
                    PrincipalKind::Service => {
                        if caller.is_service && e.value.eq_ignore_ascii_case(&caller.arn) {
                            PMatch::Direct
                        } else {
                            PMatch::No
                        }
                    }
                    PrincipalKind::Federated | PrincipalKind::CanonicalUser => PMatch::Ambiguous,
                };
                best = match (best, m) {
                    (PMatch::Direct, _) | (_, PMatch::Direct) => PMatch::Direct,
                    (PMatch::Delegated, _) | (_, PMatch::Delegated) => PMatch::Delegated,
                    (PMatch::Ambiguous, _) | (_, PMatch::Ambiguous) => PMatch::Ambiguous,
                    _ => PMatch::No,
                };
            }
            best
        }
    }
}

/// Does a `Principal`/`NotPrincipal` block cover the caller?
pub(crate) fn principal_matches(block: &PrincipalBlock, caller: &Caller) -> PMatch {
    let m = list_match(&block.principals, caller);
    if !block.negated {
        return m;
    }
    match m {
        PMatch::No => PMatch::Direct,
        PMatch::Direct => PMatch::No,
        // Listing the caller's account in NotPrincipal: whether that exempts
        // the account's roles is not documented for KMS.
        PMatch::Delegated | PMatch::Ambiguous => PMatch::Ambiguous,
    }
}

/// Does an `Action`/`NotAction` block cover the action?
pub fn action_matches(block: &PatternBlock, action: &str) -> bool {
    let any = block.patterns.iter().any(|p| glob::matches_str(p, action, true));
    any != block.negated
}

/// Does a `Resource`/`NotResource` block cover this key?
pub(crate) fn resource_matches(block: &PatternBlock, key_arn: Option<&str>) -> Tri {
    let star = block.patterns.iter().any(|p| p == "*");
    if !block.negated {
        if star {
            return Tri::True;
        }
        // A key ARN in a key policy's Resource: effect unverified.
        return Tri::Ambiguous;
    }
    if star {
        return Tri::False;
    }
    match key_arn {
        Some(k) => {
            if block.patterns.iter().any(|p| glob::arn_matches(&glob::tokens(p), k)) {
                Tri::False
            } else {
                Tri::True
            }
        }
        None => Tri::Ambiguous,
    }
}

/// Statement evaluation before resolving free/ambiguous parts.
#[derive(Debug, Clone)]
pub(crate) struct StmtEval {
    pub principal: PMatch,
    pub action: bool,
    pub resource: Tri,
    /// Per clause.
    pub clauses: Vec<Tri>,
}

impl StmtEval {
    /// First definitely-false part, for traces.
    pub fn any_false(&self) -> bool {
        self.principal == PMatch::No
            || !self.action
            || self.resource == Tri::False
            || self.clauses.contains(&Tri::False)
    }
    pub fn any_free(&self) -> bool {
        self.resource == Tri::Free || self.clauses.contains(&Tri::Free)
    }
    pub fn any_ambiguous(&self) -> bool {
        self.principal == PMatch::Ambiguous
            || self.resource == Tri::Ambiguous
            || self.clauses.contains(&Tri::Ambiguous)
    }
}

/// Whether a statement's principal, action and resource may match (its
/// conditions aside): the context-independent part of [`eval_statement`].
pub(crate) fn head_may_match(
    st: &Statement,
    caller: &Caller,
    action: &str,
    key_arn: Option<&str>,
) -> bool {
    let (Some(act), Some(res)) = (&st.action, &st.resource) else {
        return false;
    };
    action_matches(act, action)
        && principal_matches(&st.principal, caller) != PMatch::No
        && resource_matches(res, key_arn) != Tri::False
}

pub(crate) fn eval_statement(
    st: &Statement,
    caller: &Caller,
    action: &str,
    key_arn: Option<&str>,
    ctx: &dyn Context,
) -> Option<StmtEval> {
    let (Some(act), Some(res)) = (&st.action, &st.resource) else {
        return None;
    };
    let action_ok = action_matches(act, action);
    let principal = principal_matches(&st.principal, caller);
    let resource = resource_matches(res, key_arn);
    // Conditions are evaluated only when the rest can match (cheaper, and the
    // trace then names the first real reason).
    let clauses = if action_ok && principal != PMatch::No && resource != Tri::False {
        st.conditions.iter().map(|c| eval_clause(c, ctx)).collect()
    } else {
        Vec::new()
    };
    Some(StmtEval { principal, action: action_ok, resource, clauses })
}

/// The account id of a key ARN.
pub fn key_account(key_arn: &str) -> Option<String> {
    Caller::parse(key_arn).account
}

/// How [`evaluate_with`] resolves a point AWS does not document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reading {
    /// An ambiguous `Allow` does not apply, an ambiguous `Deny` does (what a
    /// local KMS enforcing a policy should do).
    #[default]
    DenyLeaning,
    /// The reverse: the attacker's best case. A policy the analyser calls
    /// PINNED must allow no unattested disclosure under this reading either.
    AllowLeaning,
}

/// Evaluates a request against a policy, leaning to deny where AWS
/// behaviour is undocumented ([`Reading::DenyLeaning`]).
pub fn evaluate(policy: &Policy, req: &Request) -> Decision {
    evaluate_with(policy, req, Reading::DenyLeaning)
}

/// Evaluates a request against a policy under the given reading of
/// undocumented points.
pub fn evaluate_with(policy: &Policy, req: &Request, reading: Reading) -> Decision {
    let caller = req.caller();
    let ctx = RequestCtx::new(req);
    let key_acct = req.key_arn.as_deref().and_then(key_account);
    let cross_account = match (&key_acct, &caller.account) {
        (Some(k), Some(c)) => k != c,
        _ => false,
    };
    let mut traces = Vec::new();
    let mut denies = Vec::new();
    let mut allows = Vec::new();
    let mut ambiguous = false;
    for st in &policy.statements {
        let outcome = match eval_statement(st, &caller, &req.action, req.key_arn.as_deref(), &ctx) {
            None => StatementMatch::Inert,
            Some(e) => {
                if e.principal == PMatch::No {
                    StatementMatch::PrincipalMismatch
                } else if !e.action {
                    StatementMatch::ActionMismatch
                } else if e.resource == Tri::False {
                    StatementMatch::ResourceMismatch
                } else if let Some(i) = e.clauses.iter().position(|t| *t == Tri::False) {
                    let c = st.conditions.get(i);
                    StatementMatch::ConditionFalse {
                        clause: c
                            .map(|c| format!("{} {}", c.operator_name, c.key))
                            .unwrap_or_default(),
                    }
                } else if e.any_ambiguous() {
                    ambiguous = true;
                    let what = if e.principal == PMatch::Ambiguous {
                        "principal form of undocumented scope".to_string()
                    } else if e.resource == Tri::Ambiguous {
                        "Resource other than \"*\"".to_string()
                    } else {
                        let i = e.clauses.iter().position(|t| *t == Tri::Ambiguous).unwrap_or(0);
                        st.conditions
                            .get(i)
                            .map(|c| format!("{} {}", c.operator_name, c.key))
                            .unwrap_or_default()
                    };
                    match (reading, st.effect) {
                        // Lean to denying: an ambiguous Deny applies.
                        (Reading::DenyLeaning, Effect::Deny) => denies.push(st.index),
                        (Reading::AllowLeaning, Effect::Allow) => {
                            let needs_iam = e.principal == PMatch::Delegated || cross_account;
                            if !needs_iam || req.iam_allows {
                                allows.push(st.index);
                            }
                        }
                        _ => {}
                    }
                    StatementMatch::Ambiguous { what }
                } else {
                    match st.effect {
                        Effect::Deny => {
                            denies.push(st.index);
                            StatementMatch::Matched
                        }
                        Effect::Allow => {
                            let needs_iam = e.principal == PMatch::Delegated || cross_account;
                            if needs_iam && !req.iam_allows {
                                StatementMatch::NeedsIamPolicy
                            } else {
                                allows.push(st.index);
                                StatementMatch::Matched
                            }
                        }
                    }
                }
            }
        };
        traces.push(StatementTrace {
            index: st.index,
            sid: st.sid.clone(),
            effect: st.effect,
            outcome,
        });
    }
    let (kind, deciding) = if !denies.is_empty() {
        (DecisionKind::ExplicitDeny, denies)
    } else if !allows.is_empty() {
        (DecisionKind::Allow, allows)
    } else {
        (DecisionKind::ImplicitDeny, Vec::new())
    };
    Decision { kind, deciding, statements: traces, ambiguous }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers() {
        let c = Caller::parse("arn:aws:sts::111122223333:assumed-role/app/session-1");
        assert!(c.is_session);
        assert_eq!(c.role_name.as_deref(), Some("app"));
        assert_eq!(
            aws_element_matches("arn:aws:iam::111122223333:role/path/app", &c),
            PMatch::Direct
        );
        assert_eq!(aws_element_matches("arn:aws:iam::111122223333:role/other", &c), PMatch::No);
        assert_eq!(aws_element_matches("111122223333", &c), PMatch::Delegated);
        assert_eq!(aws_element_matches("arn:aws:iam::111122223333:root", &c), PMatch::Delegated);
        assert_eq!(aws_element_matches("AROAEXAMPLEID", &c), PMatch::No);
        let s = Caller::parse("logs.amazonaws.com");
        assert!(s.is_service);
        assert_eq!(
            account_principal("arn:aws:iam::444455556666:root").as_deref(),
            Some("444455556666")
        );
    }

    /// A session whose role is known matches that role's element only, and
    /// its principal ARN keeps the role's path.
    #[test]
    fn session_with_known_role() {
        let r = Request::new("arn:aws:sts::111122223333:assumed-role/enclave/s", "kms:Decrypt")
            .with_session_role("arn:aws:iam::111122223333:role/team/enclave");
        let c = r.caller();
        assert_eq!(
            aws_element_matches("arn:aws:iam::111122223333:role/team/enclave", &c),
            PMatch::Direct
        );
        assert_eq!(aws_element_matches("arn:aws:iam::111122223333:role/enclave", &c), PMatch::No);
        assert_eq!(
            r.lookup("aws:principalarn"),
            Lookup::Present {
                values: vec!["arn:aws:iam::111122223333:role/team/enclave".into()],
                multi: false
            }
        );
        // Unknown role: any role of that name, path-less principal ARN.
        let u = Request::new("arn:aws:sts::111122223333:assumed-role/enclave/s", "kms:Decrypt");
        assert_eq!(
            aws_element_matches("arn:aws:iam::111122223333:role/team/enclave", &u.caller()),
            PMatch::Direct
        );
    }

    #[test]
    fn recipient_keys_only_for_capable_actions() {
        let mut m = Measurements::new();
        m.insert(0, [0xab; 48]);
        let r = Request::new("arn:aws:iam::1:role/x", "kms:Decrypt").with_recipient_pcrs(&m);
        assert_eq!(r.nitro_keys().len(), 2);
        let r = Request::new("arn:aws:iam::1:role/x", "kms:ReEncryptFrom").with_recipient_pcrs(&m);
        assert!(r.nitro_keys().is_empty());
        let r = Request::new("arn:aws:iam::1:role/x", "kms:Decrypt")
            .with_recipient_pcrs(&m)
            .with_context("kms:RecipientAttestation:PCR0", "forged");
        assert_eq!(
            r.lookup("kms:recipientattestation:pcr0"),
            Lookup::Present { values: vec![hex::encode([0xab; 48])], multi: false }
        );
    }
}
