//! Findings: what is wrong with a policy, where, how bad, and how to fix it.
//!
//! Two sources: statement-level lints (patterns of the bypass catalogue,
//! recognised syntactically, to explain *why*) and witnesses of the search in
//! [`super::pin`] (requests that prove a bypass). Every finding has a stable
//! id `kms.policy.<name>` for reports and SARIF.

use serde::Serialize;

use super::actions::{self, ActionClass, KMS_ACTIONS};
use super::eval::{account_principal, action_matches, NITRO_PREFIX};
use super::expected::{is_pcr_hex, zero_pcr};
use super::parse::{
    BaseOp, Clause, Effect, Operator, Policy, PrincipalKind, Principals, SetOp, Statement, Version,
};
use super::pin::{nitro_index, Config, Witness};
use checks::{Check, Checks};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A bypass: plaintext without the expected attestation.
    Critical,
    /// A bypass under some conditions, an escalation path, or a lockout.
    High,
    /// Undocumented behaviour or a weakened control.
    Medium,
    /// Hygiene.
    Low,
    /// Information.
    Info,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id, `kms.policy.<name>`.
    pub id: String,
    /// Bypass-catalogue pattern (e.g. `B05`), when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<&'static str>,
    /// Severity.
    pub severity: Severity,
    /// Statement index, when the finding is about one statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<usize>,
    /// That statement's Sid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: &'static str,
}

const FIX_PIN: &str = "Allow Decrypt only in one statement whose Condition pins every expected PCR with StringEqualsIgnoreCase (no IfExists, no ForAnyValue/ForAllValues, no wildcards), and add one Deny guard per PCR (Principal \"*\", Decrypt/ReEncryptFrom/DeriveSharedSecret, StringNotEqualsIgnoreCase).";

/// (id, pattern, severity, fix) for every finding id.
const CATALOGUE: &[(&str, Option<&str>, Severity, &str)] = &[
    ("unattested-disclosure", None, Severity::Critical, FIX_PIN),
    ("policy-rewrite", Some("B18"), Severity::Critical, "Grant kms:PutKeyPolicy (also via kms:*, kms:Put*) only to an administrator you trust and declare it with --trusted, or make the policy immutable."),
    ("grant-escalation", Some("B15"), Severity::Critical, "Deny kms:CreateGrant to \"*\", or restrict it with ForAllValues:StringEquals on kms:GrantOperations to non-disclosing operations; per-PCR Deny guards also neutralise grants for Decrypt."),
    ("replica-escalation", Some("B30"), Severity::Critical, "Deny kms:ReplicateKey to \"*\": a replica shares the key material and carries its own key policy."),
    ("undecidable", None, Severity::High, "Rewrite the statement with documented operators and forms so its meaning does not depend on undocumented AWS behaviour."),
    ("lockout", None, Severity::High, "Check the pinned values against the expected PCRs (96 lowercase hex, StringEqualsIgnoreCase), the key names, and that no Deny blocks the enclave's attested Decrypt."),
    ("key-material-outside-kms", None, Severity::Critical, "Use a key with origin AWS_KMS: imported or external key material exists outside KMS."),
    ("duplicate-member", Some("B32"), Severity::High, "Remove duplicate JSON members; AWS does not document which one KMS evaluates."),
    ("too-many-pcr-combinations", None, Severity::Medium, "Compare each PCR with fewer values."),
    ("no-attestation-condition", Some("B01"), Severity::Critical, FIX_PIN),
    ("if-exists-on-attestation-key", Some("B05"), Severity::Critical, "Drop IfExists: with it, a request without a Recipient document passes the condition."),
    ("partial-pcr-pin", Some("B02"), Severity::High, "Pin every expected PCR (at least PCR0, PCR1, PCR2) in the same Condition block."),
    ("user-extendable-pcr-only", Some("B04"), Severity::Critical, "PCR16-31 can be extended by any enclave; pin PCR0/1/2 as well."),
    ("wildcard-pcr-value", Some("B06"), Severity::Critical, "Compare PCRs with StringEqualsIgnoreCase and exact 96-hex values, never StringLike with * or ?."),
    ("for-all-values-on-attestation-key", Some("B07"), Severity::Critical, "Remove ForAllValues: it is true when the key is missing, i.e. without any attestation."),
    ("for-any-value-on-attestation-key", Some("B08"), Severity::Low, "Use the plain operator: the attestation keys are single-valued."),
    ("negated-attestation-condition-in-allow", Some("B09"), Severity::Critical, "Negated operators are true when the key is missing; in an Allow use a positive operator with the expected values."),
    ("not-principal-allow", Some("B10"), Severity::Critical, "Do not combine Allow with NotPrincipal: it allows every other principal, in every account."),
    ("not-action-allow", Some("B11"), Severity::High, "Do not combine Allow with NotAction: it allows ReEncryptFrom, CreateGrant and PutKeyPolicy."),
    ("not-resource-allow", Some("B12"), Severity::High, "Use \"Resource\": \"*\" in key policies."),
    ("wildcard-principal", Some("B13"), Severity::High, "Name the enclave's role instead of \"*\", or make the attestation pin (not the principal) the boundary by pinning every expected PCR in the same statement."),
    ("account-root-delegation", Some("B14"), Severity::High, "Remove the account-root statement (\"Enable IAM User Permissions\") or restrict it to administrative actions; IAM policies of the account can otherwise grant Decrypt without attestation."),
    ("create-grant", Some("B15"), Severity::High, "Remove kms:CreateGrant or restrict it with ForAllValues:StringEquals kms:GrantOperations to non-disclosing operations; grants bypass Allow conditions."),
    ("via-service", Some("B16"), Severity::High, "Services never send a Recipient; do not allow Decrypt through kms:ViaService or service principals on a pinned key."),
    ("reencrypt-from", Some("B17"), Severity::High, "Remove kms:ReEncrypt*/ReEncryptFrom (it never carries attestation) or require Bool kms:ReEncryptOnSameKey true."),
    ("put-key-policy", Some("B18"), Severity::High, "Only a trusted administrator may call kms:PutKeyPolicy; declare it with --trusted or remove the permission."),
    ("debug-mode-zero-pcr", Some("B19"), Severity::Critical, "Never pin all-zero PCRs: every debug-mode enclave reports zeros for PCR0/1/2."),
    ("malformed-pcr-value", Some("B20"), Severity::High, "PCR values are 96 lowercase hex characters (SHA-384), no 0x prefix; a malformed value locks the enclave out."),
    ("uppercase-pcr-value", Some("B20"), Severity::Medium, "KMS compares with a lowercase context value; use StringEqualsIgnoreCase or lowercase hex."),
    ("nitro-tpm-key", Some("B20"), Severity::Medium, "NitroTPMPCR<n> keys are filled from NitroTPM documents, not enclave documents; use kms:RecipientAttestation:PCR<n>."),
    ("nitro-key-variable", Some("B21"), Severity::High, "Compare each PCR key with literal expected values; never with a policy variable, and never use a Nitro key as a variable."),
    ("case-variant-key", Some("B32"), Severity::High, "Write each condition key once per operator: AWS does not document what KMS does with two spellings of one key."),
    ("self-referential-variable", Some("B21"), Severity::Critical, "Compare the PCR key with literal expected values, not with a policy variable of itself."),
    ("unknown-attestation-key", Some("B22"), Severity::High, "Fix the key name: kms:RecipientAttestation:PCR<0-31> or kms:RecipientAttestation:ImageSha384; a misspelled key is never present."),
    ("broken-deny-guard", Some("B24"), Severity::Medium, "A guard is Effect Deny, Principal \"*\", Resource \"*\", Action Decrypt/ReEncryptFrom/DeriveSharedSecret, and a plain StringNotEqualsIgnoreCase on one PCR, with no other condition."),
    ("guard-keys-anded", Some("B23"), Severity::Info, "Keys under one operator are ANDed: this guard fires only if every listed PCR differs; use one Deny statement per PCR."),
    ("literal-variable", Some("B25"), Severity::Medium, "Policy variables are literal text unless Version is 2012-10-17."),
    ("kms-wildcard-action", Some("B27"), Severity::High, "List the needed actions explicitly instead of kms:* or *."),
    ("pcr-value-mismatch", Some("B28"), Severity::High, "The pinned value is not an expected PCR value: update it, or list it in the expected set if it is an accepted release."),
    ("split-pin", Some("B29"), Severity::High, "Allow statements are ORed: put all PCR conditions in one statement's Condition block."),
    ("replicate-key", Some("B30"), Severity::High, "Deny kms:ReplicateKey: a replica gets its own policy and the same key material."),
    ("abac-condition", Some("B33"), Severity::High, "Tags and aliases are not attestation; anyone who can tag the key toggles the condition."),
    ("unknown-operator", None, Severity::Medium, "Use a documented condition operator (names are case-sensitive)."),
    ("unknown-condition-key", None, Severity::Low, "Check the key name; an unknown key is never present in a request."),
    ("inert-statement", None, Severity::Medium, "Add the missing Action or Resource: KMS accepts the statement but ignores it."),
    ("empty-value-list", None, Severity::Medium, "Give the condition at least one value; an empty list has no documented meaning."),
    ("undocumented-principal-form", None, Severity::Medium, "Federated and CanonicalUser principals have no documented meaning in key policies; name IAM principals."),
    ("non-wildcard-resource", None, Severity::Low, "Use \"Resource\": \"*\" in key policies."),
];

/// Builds a finding from the catalogue.
pub fn make(id: &str, st: Option<&Statement>, message: String) -> Finding {
    let (pattern, severity, fix) = CATALOGUE
        .iter()
        .find(|(i, ..)| *i == id)
        .map(|(_, p, s, f)| (*p, *s, *f))
        .unwrap_or((None, Severity::Medium, ""));
    Finding {
        id: format!("kms.policy.{id}"),
        pattern,
        severity,
        statement: st.map(|s| s.index),
        sid: st.and_then(|s| s.sid.clone()),
        message,
        fix,
    }
}

fn make_sev(id: &str, st: &Statement, sev: Severity, message: String) -> Finding {
    let mut f = make(id, Some(st), message);
    f.severity = sev;
    f
}

/// Sorts by severity then statement, and removes exact duplicates.
pub fn sort(f: &mut Vec<Finding>) {
    f.sort_by(|a, b| (a.severity, a.statement, &a.id).cmp(&(b.severity, b.statement, &b.id)));
    f.dedup();
}

/// A finding for a witness of the search.
pub fn from_witness(w: &Witness, policy: &Policy) -> Finding {
    let id = if !(w.documented && w.confirmed) {
        "undecidable"
    } else {
        match w.action.as_str() {
            "kms:PutKeyPolicy" => "policy-rewrite",
            "kms:CreateGrant" => "grant-escalation",
            "kms:ReplicateKey" => "replica-escalation",
            _ => "unattested-disclosure",
        }
    };
    let st = w.allowed_by.first().and_then(|i| policy.statements.get(*i));
    let by: Vec<String> = w
        .allowed_by
        .iter()
        .filter_map(|i| policy.statements.get(*i))
        .map(Statement::label)
        .collect();
    let grant = match w.context.get("kms:grantoperations") {
        Some(super::eval::ContextValue::Multi(ops)) => {
            format!(" for a grant of [{}]", ops.join(", "))
        }
        _ => String::new(),
    };
    let how = match (w.documented, w.confirmed) {
        (true, true) => "",
        (true, false) => {
            " if the free condition keys can be chosen together (no concrete request was found)"
        }
        (false, _) => " under an undocumented reading of AWS behaviour",
    };
    let who = if w.principal_class == w.principal {
        w.principal.clone()
    } else {
        format!("{} ({})", w.principal_class, w.principal)
    };
    make(
        id,
        st,
        format!(
            "{who} may call {}{grant} with {}{how}: allowed by {}, and no Deny certainly stops it",
            w.action,
            w.pcr_match,
            by.join(", ")
        ),
    )
}

/// A context value that makes a positive clause true (for witnesses);
/// `None` leaves the key missing (which satisfies negated operators).
pub fn satisfying_value(c: &Clause) -> Option<String> {
    let Operator::Known { base, set, .. } = c.operator else { return None };
    if set == SetOp::ForAllValues {
        return None;
    }
    let v = c.values.first()?;
    if base == BaseOp::Null {
        return (v.raw.eq_ignore_ascii_case("false")).then(|| "x".to_string());
    }
    if base.is_negated() || v.has_variable() {
        return None;
    }
    let raw = v.raw.clone();
    Some(match base {
        BaseOp::StringLike | BaseOp::ArnLike | BaseOp::ArnEquals => raw.replace(['*', '?'], "x"),
        BaseOp::NumericLessThan => raw.parse::<f64>().map(|x| (x - 1.0).to_string()).unwrap_or(raw),
        BaseOp::NumericGreaterThan => {
            raw.parse::<f64>().map(|x| (x + 1.0).to_string()).unwrap_or(raw)
        }
        BaseOp::DateLessThan => {
            super::cond::parse_date(&raw).map(|x| (x - 1).to_string()).unwrap_or(raw)
        }
        BaseOp::DateGreaterThan => {
            super::cond::parse_date(&raw).map(|x| (x + 1).to_string()).unwrap_or(raw)
        }
        BaseOp::IpAddress => raw.split('/').next().unwrap_or("").to_string(),
        _ => raw,
    })
}

/// Request values worth trying for a clause's key when looking for a
/// concrete witness: each literal as written, made to match a pattern, and
/// on either side of a numeric or date bound. Variables are skipped (their
/// value comes from another key).
pub fn candidate_values(c: &Clause) -> Vec<String> {
    let Operator::Known { base, .. } = c.operator else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for v in c.values.iter().filter(|v| !v.has_variable()) {
        let raw = v.raw.clone();
        let mut add = |x: String| {
            if !out.contains(&x) {
                out.push(x);
            }
        };
        match base {
            BaseOp::Null => {}
            BaseOp::Bool => {
                add("true".into());
                add("false".into());
            }
            BaseOp::IpAddress | BaseOp::NotIpAddress => {
                add(raw.split('/').next().unwrap_or("").to_string());
            }
            BaseOp::NumericEquals
            | BaseOp::NumericNotEquals
            | BaseOp::NumericLessThan
            | BaseOp::NumericLessThanEquals
            | BaseOp::NumericGreaterThan
            | BaseOp::NumericGreaterThanEquals => {
                if let Ok(x) = raw.trim().parse::<f64>() {
                    add((x - 1.0).to_string());
                    add((x + 1.0).to_string());
                }
                add(raw);
            }
            BaseOp::DateEquals
            | BaseOp::DateNotEquals
            | BaseOp::DateLessThan
            | BaseOp::DateLessThanEquals
            | BaseOp::DateGreaterThan
            | BaseOp::DateGreaterThanEquals => {
                if let Some(x) = super::cond::parse_date(&raw) {
                    add((x - 1).to_string());
                    add((x + 1).to_string());
                }
                add(raw);
            }
            _ => {
                if raw.contains(['*', '?']) {
                    add(raw.replace(['*', '?'], "x"));
                }
                add(raw);
            }
        }
    }
    out
}

const KNOWN_KEYS: &[&str] = &[
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalisawsservice",
    "aws:principalservicename",
    "aws:principalservicenameslist",
    "aws:principaltype",
    "aws:userid",
    "aws:username",
    "aws:federatedprovider",
    "aws:tokenissuetime",
    "aws:multifactorauthage",
    "aws:multifactorauthpresent",
    "aws:ec2instancesourcevpc",
    "aws:ec2instancesourceprivateipv4",
    "aws:sourceidentity",
    "aws:rolesessionname",
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:vpcsourceip",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:viaawsservice",
    "aws:currenttime",
    "aws:epochtime",
    "aws:referer",
    "aws:requestedregion",
    "aws:tagkeys",
    "aws:securetransport",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
    "aws:useragent",
    "kms:bypasspolicylockoutsafetycheck",
    "kms:calleraccount",
    "kms:customermasterkeyspec",
    "kms:customermasterkeyusage",
    "kms:datakeypairspec",
    "kms:encryptionalgorithm",
    "kms:encryptioncontextkeys",
    "kms:expirationmodel",
    "kms:grantconstrainttype",
    "kms:grantisforawsresource",
    "kms:grantoperations",
    "kms:granteeprincipal",
    "kms:granteeserviceprincipal",
    "kms:grantconstraintsourcearn",
    "kms:keyagreementalgorithm",
    "kms:keyorigin",
    "kms:keyspec",
    "kms:keyusage",
    "kms:macalgorithm",
    "kms:messagetype",
    "kms:multiregion",
    "kms:multiregionkeytype",
    "kms:primaryregion",
    "kms:reencryptonsamekey",
    "kms:requestalias",
    "kms:resourcealiases",
    "kms:replicaregion",
    "kms:retiringprincipal",
    "kms:rotationperiodindays",
    "kms:scheduleddeletionwaitingperiodindays",
    "kms:signingalgorithm",
    "kms:validto",
    "kms:viaservice",
    "kms:wrappingalgorithm",
    "kms:wrappingkeyspec",
];
const KNOWN_PREFIXES: &[&str] =
    &["aws:principaltag/", "aws:requesttag/", "aws:resourcetag/", "kms:encryptioncontext:"];

/// True for a documented `aws:` or `kms:` condition key (lowercase).
pub fn is_known_key(k: &str) -> bool {
    KNOWN_KEYS.contains(&k) || KNOWN_PREFIXES.iter().any(|p| k.starts_with(p))
}

fn covers(st: &Statement, action: &str) -> bool {
    st.action.as_ref().is_some_and(|b| action_matches(b, action))
}

fn principals_trusted(st: &Statement, cfg: &Config) -> bool {
    if st.principal.negated {
        return false;
    }
    match &st.principal.principals {
        Principals::Any => false,
        Principals::List(l) => l.iter().all(|e| {
            cfg.trusted.iter().any(|t| {
                *t == e.value
                    || account_principal(&e.value)
                        .is_some_and(|a| account_principal(t).as_deref() == Some(a.as_str()))
            })
        }),
    }
}

/// True for a positive, non-set (or ForAnyValue without IfExists), exact
/// comparison of a Nitro key: the forms that actually pin.
fn is_pinning_clause(c: &Clause) -> bool {
    match c.operator {
        Operator::Known { set, base, if_exists } => {
            !if_exists
                && set != SetOp::ForAllValues
                && matches!(
                    base,
                    BaseOp::StringEquals | BaseOp::StringEqualsIgnoreCase | BaseOp::StringLike
                )
                && c.values
                    .iter()
                    .all(|v| !v.raw.contains('*') && !v.raw.contains('?') && !v.has_variable())
        }
        Operator::Unknown => false,
    }
}

/// Statement-level lints.
pub fn lint(policy: &Policy, cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut d_actions: Vec<&str> = KMS_ACTIONS
        .iter()
        .filter(|(_, c)| *c == ActionClass::Disclosing)
        .map(|(a, _)| *a)
        .collect();
    if cfg.strict_generate {
        d_actions.extend(actions::STRICT_GENERATE.iter().copied());
    }
    let mut partial_pins = Vec::new();
    for st in &policy.statements {
        lint_generic(st, policy.version, &mut out);
        if st.is_inert() {
            continue;
        }
        let trusted = principals_trusted(st, cfg);
        let nitro: Vec<&Clause> =
            st.conditions.iter().filter(|c| c.key_lc.starts_with(NITRO_PREFIX)).collect();
        let pinned: Vec<u8> = nitro
            .iter()
            .filter(|c| is_pinning_clause(c))
            .filter_map(|c| nitro_index(&c.key_lc))
            .collect();
        let missing: Vec<u8> =
            cfg.expected.pcrs.keys().copied().filter(|i| !pinned.contains(i)).collect();
        let fully_pinned = missing.is_empty();
        // A positive Nitro condition makes the statement dead for actions
        // that never carry a Recipient.
        let dead_for_non_recipient = nitro.iter().any(|c| {
            matches!(c.operator, Operator::Known { set, base, if_exists: false } if set != SetOp::ForAllValues && !base.is_negated())
        });
        let d_covered: Vec<&str> = d_actions.iter().copied().filter(|a| covers(st, a)).collect();
        lint_values(st, cfg, &nitro, &mut out);
        if st.effect == Effect::Deny {
            lint_guard(st, &nitro, &mut out);
            continue;
        }
        // Allow statements.
        if !d_covered.is_empty() && !trusted {
            let acts = d_covered.join(", ");
            if nitro.is_empty() {
                out.push(make(
                    "no-attestation-condition",
                    Some(st),
                    format!("{} allows {acts} with no attestation condition", st.label()),
                ));
            } else {
                lint_nitro_allow(st, &nitro, &mut out);
                if !missing.is_empty() && !pinned.is_empty() {
                    partial_pins.push(st.index);
                    let list = |v: &[u8]| {
                        v.iter().map(|i| format!("PCR{i}")).collect::<Vec<_>>().join(", ")
                    };
                    if pinned.iter().all(|i| *i >= 16) {
                        out.push(make(
                            "user-extendable-pcr-only",
                            Some(st),
                            format!("{} pins only user-extendable {}", st.label(), list(&pinned)),
                        ));
                    } else {
                        let mut f = make(
                            "partial-pcr-pin",
                            Some(st),
                            format!(
                                "{} pins {} but not {}",
                                st.label(),
                                list(&pinned),
                                list(&missing)
                            ),
                        );
                        if !pinned.contains(&0) {
                            f.pattern = Some("B03");
                        }
                        out.push(f);
                    }
                }
            }
            for c in &st.conditions {
                if c.key_lc == "kms:viaservice" && !fully_pinned {
                    out.push(make("via-service", Some(st), format!("{} allows {acts} through a service ({}): services never send a Recipient", st.label(), c.key)));
                }
                if (c.key_lc.starts_with("aws:resourcetag/") || c.key_lc == "kms:resourcealiases")
                    && !fully_pinned
                {
                    out.push(make(
                        "abac-condition",
                        Some(st),
                        format!("{} gates {acts} on {} instead of attestation", st.label(), c.key),
                    ));
                }
            }
            if let Principals::List(l) = &st.principal.principals {
                if l.iter().any(|e| e.kind == PrincipalKind::Service) && !fully_pinned {
                    out.push(make("via-service", Some(st), format!("{} allows {acts} to a service principal, which never sends a Recipient", st.label())));
                }
            }
        }
        if trusted {
            continue;
        }
        let escalates =
            ["kms:PutKeyPolicy", "kms:CreateGrant", "kms:ReplicateKey", "kms:ReEncryptFrom"]
                .iter()
                .any(|a| covers(st, a))
                && !dead_for_non_recipient;
        let risky = (!d_covered.is_empty() && !fully_pinned) || escalates;
        if st.principal.negated && risky {
            out.push(make("not-principal-allow", Some(st), format!("{} is an Allow with NotPrincipal: every principal not listed, in every account", st.label())));
        } else if st.principal.principals == Principals::Any && risky {
            out.push(make(
                "wildcard-principal",
                Some(st),
                format!("{} allows Principal \"*\" without a full attestation pin", st.label()),
            ));
        }
        if let Principals::List(l) = &st.principal.principals {
            if !st.principal.negated && risky {
                for e in l.iter().filter(|e| account_principal(&e.value).is_some()) {
                    out.push(make(
                        "account-root-delegation",
                        Some(st),
                        format!("{} delegates to IAM policies of account {} (\"{}\"): any IAM policy there can grant these actions", st.label(), account_principal(&e.value).unwrap_or_default(), e.value),
                    ));
                }
            }
        }
        if let Some(a) = &st.action {
            if a.negated && risky {
                out.push(make("not-action-allow", Some(st), format!("{} is an Allow with NotAction: it covers ReEncryptFrom, CreateGrant and PutKeyPolicy", st.label())));
            }
            if !a.negated
                && a.patterns.iter().any(|p| p == "*" || p.eq_ignore_ascii_case("kms:*"))
                && risky
            {
                out.push(make("kms-wildcard-action", Some(st), format!("{} allows kms:* (or *), which includes PutKeyPolicy, CreateGrant and ReEncryptFrom", st.label())));
            }
        }
        if st.resource.as_ref().is_some_and(|r| r.negated) && risky {
            out.push(make(
                "not-resource-allow",
                Some(st),
                format!("{} uses NotResource: it applies to this key", st.label()),
            ));
        }
        if dead_for_non_recipient {
            continue;
        }
        if covers(st, "kms:CreateGrant") {
            let whitelisted = st.conditions.iter().any(|c| {
                c.key_lc == "kms:grantoperations"
                    && matches!(
                        c.operator,
                        Operator::Known {
                            set: SetOp::ForAllValues,
                            base: BaseOp::StringEquals | BaseOp::StringEqualsIgnoreCase,
                            if_exists: false
                        }
                    )
                    && !c.values.iter().any(|v| {
                        actions::DANGEROUS_GRANT_OPS.iter().any(|d| d.eq_ignore_ascii_case(&v.raw))
                    })
            });
            let aws_only = st.conditions.iter().any(|c| c.key_lc == "kms:grantisforawsresource");
            if !whitelisted {
                let mut f = make("create-grant", Some(st), format!("{} allows kms:CreateGrant without a ForAllValues:StringEquals kms:GrantOperations whitelist: a grant for Decrypt ignores Allow conditions", st.label()));
                if aws_only {
                    f.severity = Severity::Medium;
                    f.message.push_str(
                        " (limited to grants for AWS resources by kms:GrantIsForAWSResource)",
                    );
                }
                out.push(f);
            }
        }
        if covers(st, "kms:PutKeyPolicy") {
            out.push(make(
                "put-key-policy",
                Some(st),
                format!(
                    "{} lets an untrusted principal call kms:PutKeyPolicy and rewrite the policy",
                    st.label()
                ),
            ));
        }
        if covers(st, "kms:ReEncryptFrom") {
            let same_key = st.conditions.iter().any(|c| c.key_lc == "kms:reencryptonsamekey");
            if !same_key {
                out.push(make("reencrypt-from", Some(st), format!("{} allows kms:ReEncryptFrom, which never carries attestation: re-encrypt to another key, then decrypt there", st.label())));
            }
        }
        if covers(st, "kms:ReplicateKey") && cfg.multi_region != Some(false) {
            out.push(make(
                "replicate-key",
                Some(st),
                format!("{} allows kms:ReplicateKey", st.label()),
            ));
        }
    }
    if partial_pins.len() >= 2 {
        if let Some(st) = partial_pins.first().and_then(|i| policy.statements.get(*i)) {
            out.push(make("split-pin", Some(st), format!("PCR conditions are split across statements {partial_pins:?}; Allow statements are ORed")));
        }
    }
    out
}

fn lint_generic(st: &Statement, version: Version, out: &mut Vec<Finding>) {
    if st.is_inert() {
        let what = if st.action.is_none() { "Action" } else { "Resource" };
        out.push(make(
            "inert-statement",
            Some(st),
            format!("{} has no {what}: KMS ignores it", st.label()),
        ));
    }
    if let Principals::List(l) = &st.principal.principals {
        if l.iter()
            .any(|e| matches!(e.kind, PrincipalKind::Federated | PrincipalKind::CanonicalUser))
        {
            out.push(make(
                "undocumented-principal-form",
                Some(st),
                format!("{} names a Federated or CanonicalUser principal", st.label()),
            ));
        }
    }
    if st.resource.as_ref().is_some_and(|r| !r.negated && !r.patterns.iter().any(|p| p == "*")) {
        out.push(make(
            "non-wildcard-resource",
            Some(st),
            format!(
                "{} has a Resource other than \"*\"; its effect in a key policy is not documented",
                st.label()
            ),
        ));
    }
    for c in &st.conditions {
        if c.operator == Operator::Unknown {
            out.push(make(
                "unknown-operator",
                Some(st),
                format!("{}: unknown condition operator {:?}", st.label(), c.operator_name),
            ));
        }
        if c.values.is_empty() {
            out.push(make(
                "empty-value-list",
                Some(st),
                format!("{}: {} {} has no values", st.label(), c.operator_name, c.key),
            ));
        }
        // Context keys are chosen by the caller (e.g. `proofpack:recipients`,
        // issue 20): a name containing "recipient" there is not a misspelling.
        let looks_nitro = c.key_lc.starts_with("kms:")
            && !c.key_lc.starts_with("kms:encryptioncontext:")
            && (c.key_lc.contains("recipient") || c.key_lc.contains("attest"));
        if !c.key_lc.starts_with(NITRO_PREFIX) && looks_nitro {
            out.push(make(
                "unknown-attestation-key",
                Some(st),
                format!(
                    "{}: {:?} looks like a misspelled attestation key; KMS never sets it",
                    st.label(),
                    c.key
                ),
            ));
        } else if !c.key_lc.starts_with(NITRO_PREFIX) && !is_known_key(&c.key_lc) {
            out.push(make(
                "unknown-condition-key",
                Some(st),
                format!("{}: condition key {:?} is not a known AWS or KMS key", st.label(), c.key),
            ));
        }
        if version != Version::V2012 && c.values.iter().any(|v| v.raw.contains("${")) {
            out.push(make(
                "literal-variable",
                Some(st),
                format!(
                    "{}: {:?} is literal text because Version is not 2012-10-17",
                    st.label(),
                    c.values
                        .iter()
                        .map(|v| v.raw.as_str())
                        .find(|r| r.contains("${"))
                        .unwrap_or("")
                ),
            ));
        }
    }
}

fn lint_values(st: &Statement, cfg: &Config, nitro: &[&Clause], out: &mut Vec<Finding>) {
    for c in nitro {
        let Some(i) = nitro_index(&c.key_lc) else {
            if c.key_lc.contains("nitrotpmpcr") {
                out.push(make(
                    "nitro-tpm-key",
                    Some(st),
                    format!(
                        "{}: {} is a NitroTPM key; enclave documents never set it",
                        st.label(),
                        c.key
                    ),
                ));
            } else {
                out.push(make("unknown-attestation-key", Some(st), format!("{}: {:?} is not an attestation key KMS sets (PCR0-PCR31, ImageSha384); it is never present", st.label(), c.key)));
            }
            continue;
        };
        let Operator::Known { base, .. } = c.operator else { continue };
        for v in &c.values {
            let raw = v.raw.as_str();
            if v.has_variable() {
                let selfref = v.parts.iter().any(|p| matches!(p, super::parse::Part::Var { key, .. } if nitro_index(key) == Some(i)));
                if selfref && st.effect == Effect::Allow {
                    out.push(make("self-referential-variable", Some(st), format!("{}: {} is compared with its own value {raw:?}: true for every attested request", st.label(), c.key)));
                }
                continue;
            }
            if (raw.contains('*') || raw.contains('?'))
                && matches!(base, BaseOp::StringLike | BaseOp::StringNotLike)
            {
                if st.effect == Effect::Allow {
                    out.push(make(
                        "wildcard-pcr-value",
                        Some(st),
                        format!(
                            "{}: {} {} {raw:?} matches other images",
                            st.label(),
                            c.operator_name,
                            c.key
                        ),
                    ));
                }
                continue;
            }
            if !is_pcr_hex(raw) {
                let why = if raw.starts_with("0x") || raw.starts_with("0X") {
                    "has a 0x prefix".to_string()
                } else if raw.bytes().all(|b| b.is_ascii_hexdigit()) {
                    format!("is {} hex characters, not 96", raw.len())
                } else {
                    "is not hexadecimal".to_string()
                };
                out.push(make(
                    "malformed-pcr-value",
                    Some(st),
                    format!(
                        "{}: {} value {raw:?} {why}; no attestation document can match it",
                        st.label(),
                        c.key
                    ),
                ));
                continue;
            }
            let lower = raw.to_ascii_lowercase();
            if lower == zero_pcr() && st.effect == Effect::Allow && !base.is_negated() {
                out.push(make(
                    "debug-mode-zero-pcr",
                    Some(st),
                    format!("{}: {} is pinned to all zeros (debug mode)", st.label(), c.key),
                ));
                continue;
            }
            if raw != lower
                && matches!(
                    base,
                    BaseOp::StringEquals
                        | BaseOp::StringLike
                        | BaseOp::StringNotEquals
                        | BaseOp::StringNotLike
                )
            {
                out.push(make(
                    "uppercase-pcr-value",
                    Some(st),
                    format!(
                        "{}: {} {} has uppercase hex; the request value is lowercase",
                        st.label(),
                        c.operator_name,
                        c.key
                    ),
                ));
            }
            if cfg.expected.pcrs.contains_key(&i)
                && !cfg.expected.accepts(i, raw)
                && lower != zero_pcr()
            {
                out.push(make(
                    "pcr-value-mismatch",
                    Some(st),
                    format!(
                        "{}: {} value {}... is not an expected PCR{i} value",
                        st.label(),
                        c.key,
                        raw.get(..16).unwrap_or(raw)
                    ),
                ));
            }
        }
    }
}

fn lint_nitro_allow(st: &Statement, nitro: &[&Clause], out: &mut Vec<Finding>) {
    for c in nitro {
        let Operator::Known { set, base, if_exists } = c.operator else { continue };
        let name = &c.operator_name;
        if set == SetOp::ForAllValues {
            out.push(make(
                "for-all-values-on-attestation-key",
                Some(st),
                format!("{}: {name} on {} is true when the key is missing", st.label(), c.key),
            ));
        } else if set == SetOp::ForAnyValue {
            let sev = if if_exists { Severity::High } else { Severity::Low };
            let msg = if if_exists {
                format!(
                    "{}: {name} on {}: AWS does not document whether a missing key passes",
                    st.label(),
                    c.key
                )
            } else {
                format!(
                    "{}: {name} on single-valued {} (behaves like the plain operator)",
                    st.label(),
                    c.key
                )
            };
            out.push(make_sev("for-any-value-on-attestation-key", st, sev, msg));
        } else if if_exists {
            out.push(make(
                "if-exists-on-attestation-key",
                Some(st),
                format!("{}: {name} on {} passes requests without a Recipient", st.label(), c.key),
            ));
        }
        if base.is_negated() && set != SetOp::ForAnyValue {
            out.push(make(
                "negated-attestation-condition-in-allow",
                Some(st),
                format!("{}: {name} on {} is true without a Recipient", st.label(), c.key),
            ));
        }
    }
}

fn lint_guard(st: &Statement, nitro: &[&Clause], out: &mut Vec<Finding>) {
    if nitro.is_empty() {
        return;
    }
    let mut problems = Vec::new();
    for c in nitro {
        match c.operator {
            Operator::Known { set: SetOp::ForAnyValue, .. } => problems.push(format!(
                "{} is false without a Recipient, so the guard never fires for unattested requests",
                c.operator_name
            )),
            Operator::Known { base, .. } if !base.is_negated() => problems.push(format!(
                "positive operator {} denies only matching documents",
                c.operator_name
            )),
            _ => {}
        }
    }
    if st.principal.negated || st.principal.principals != Principals::Any {
        problems.push("Principal is not \"*\"".into());
    }
    if st.conditions.iter().any(|c| !c.key_lc.starts_with(NITRO_PREFIX)) {
        problems.push("extra conditions on keys the requester controls".into());
    }
    let missing: Vec<&str> = ["kms:Decrypt", "kms:ReEncryptFrom", "kms:DeriveSharedSecret"]
        .into_iter()
        .filter(|a| !covers(st, a))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("Action does not cover {}", missing.join(", ")));
    }
    if !problems.is_empty() {
        out.push(make(
            "broken-deny-guard",
            Some(st),
            format!(
                "{} is not an effective attestation guard: {}",
                st.label(),
                problems.join("; ")
            ),
        ));
    }
    let negated_keys = nitro
        .iter()
        .filter(|c| matches!(c.operator, Operator::Known { base, set: SetOp::None, .. } if base.is_negated()))
        .count();
    if negated_keys > 1 {
        out.push(make("guard-keys-anded", Some(st), format!("{} lists {negated_keys} PCR keys under negated operators: it fires only if all differ", st.label())));
    }
}

/// Report checks for the audit report: one overall check plus one per finding.
pub fn checks(analysis: &super::pin::Analysis) -> Checks {
    let mut c = Checks::new();
    let v = analysis.verdict;
    c.push(Check::from_bool(
        "kms.policy.verdict",
        v == super::pin::PinVerdict::Pinned,
        "key policy is pinned to the expected PCRs",
        format!("key policy verdict is {}", v.as_str()),
    ));
    for f in &analysis.findings {
        let detail = match f.statement {
            Some(i) => format!("[statement {i}] {} Fix: {}", f.message, f.fix),
            None => format!("{} Fix: {}", f.message, f.fix),
        };
        let check = match f.severity {
            Severity::Critical | Severity::High => Check::fail(f.id.clone(), detail),
            _ => Check::warn(f.id.clone(), detail),
        };
        c.push(check);
    }
    c
}
