//! The three classes of wrong PINNED found by an attacker's reading of the
//! analyser (issue 19), each with its variants. Every case must come out
//! NOT_PINNED or CANNOT_DECIDE; where the analyser claims a documented bypass
//! (NOT_PINNED), its witness must be a request the concrete evaluator allows.
//!
//! 1. A Nitro key used as a policy variable inside a Nitro-key value
//!    (`PCR0 = ${PCR8}`: a debug-mode enclave reports zeros for both).
//! 2. Condition keys of other services (`ec2:SourceInstanceArn` is carried by
//!    the parent instance's role sessions): free, never "missing".
//! 3. One key twice under one operator, spelled in two cases.

use std::collections::BTreeMap;

use build_spec::pcr::Measurements;
use verifier::kms_policy::eval::{evaluate, DecisionKind, Request};
use verifier::kms_policy::expected::Expected;
use verifier::kms_policy::findings;
use verifier::kms_policy::parse::{Policy, PolicyError};
use verifier::kms_policy::pin::{
    analyse_bytes, unbound_decrypt, Analysis, Config, Origin, PinVerdict,
};
use verifier::report::Outcome;

const ROLE: &str = "arn:aws:iam::111122223333:role/pack-enclave";
const ADMIN: &str = "arn:aws:iam::111122223333:role/key-admin";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const INSTANCE: &str = "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc1234def567890";

fn e(i: u8) -> String {
    format!("{:x}", i + 10).repeat(96)
}

fn cfg() -> Config {
    let mut pcrs = BTreeMap::new();
    for i in 0..3u8 {
        pcrs.insert(i, vec![e(i)]);
    }
    let mut c = Config::new(Expected { pcrs });
    c.trusted = vec![ADMIN.into()];
    c.key_arn = Some(KEY.into());
    c.multi_region = Some(false);
    c.origin = Some(Origin::AwsKms);
    c.enclave_principal = Some(ROLE.into());
    c
}

/// The AWS-documented pinned shape: an admin statement for the trusted
/// administrator and one attested Decrypt for the enclave's role.
fn pinned_with(extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
{{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"{ADMIN}"}},"Action":["kms:PutKeyPolicy","kms:DescribeKey","kms:GetKeyPolicy"],"Resource":"*"}},
{{"Sid":"Pinned","Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:Decrypt","Resource":"*",
 "Condition":{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR0":"{}","kms:RecipientAttestation:PCR1":"{}","kms:RecipientAttestation:PCR2":"{}"}}}}}}{sep}{extra}]}}"#,
        e(0),
        e(1),
        e(2)
    )
}

fn analyse(text: &str) -> Analysis {
    analyse_bytes(text.as_bytes(), &cfg()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The audit fails such a key by the verdict check itself (required, failed),
/// not only through a lint that happened to fire.
fn assert_audit_fails_by_verdict(a: &Analysis) {
    let checks = findings::checks(a);
    let v = checks.0.iter().find(|c| c.id == "kms.policy.verdict").expect("verdict check");
    assert!(v.required && matches!(v.outcome, Outcome::Fail { .. }), "{v:?}");
}

/// Every NOT_PINNED names at least one documented witness that the concrete
/// evaluator, re-run here from scratch, allows.
fn assert_witnessed(a: &Analysis, text: &str) {
    assert_eq!(a.verdict, PinVerdict::NotPinned, "{text}\n{:#?}", a.findings);
    assert_audit_fails_by_verdict(a);
    let policy = Policy::parse_str(text).expect("strict parse");
    let ok = a
        .witnesses
        .iter()
        .filter(|w| w.documented && w.confirmed)
        .any(|w| evaluate(&policy, &w.to_request(Some(KEY))).kind == DecisionKind::Allow);
    assert!(ok, "no witness the evaluator allows: {:#?}", a.witnesses);
}

fn assert_not_pass(a: &Analysis, text: &str) {
    assert!(
        matches!(a.verdict, PinVerdict::NotPinned | PinVerdict::CannotDecide),
        "{:?} for\n{text}\n{:#?}",
        a.verdict,
        a.findings
    );
    assert_audit_fails_by_verdict(a);
}

#[test]
fn baseline_is_pinned() {
    let t = pinned_with("");
    assert_eq!(analyse(&t).verdict, PinVerdict::Pinned);
}

// ---- class 1: Nitro keys as policy variables ------------------------------

fn nitro_var_stmt(op: &str, key: &str, value: &str) -> String {
    format!(
        r#"{{"Sid":"Var","Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"{op}":{{"{key}":"{value}"}}}}}}"#
    )
}

#[test]
fn pcr0_equal_to_pcr8_variable_is_a_debug_mode_bypass() {
    let t = pinned_with(&nitro_var_stmt(
        "StringEqualsIgnoreCase",
        "kms:RecipientAttestation:PCR0",
        "${kms:RecipientAttestation:PCR8}",
    ));
    let a = analyse(&t);
    assert_witnessed(&a, &t);
    assert!(a.findings.iter().any(|f| f.id == "kms.policy.nitro-key-variable"));
    // The issue's request: a debug-mode enclave, every PCR zero.
    let mut zeros = Measurements::new();
    for i in 0..16u8 {
        zeros.insert(i, [0u8; 48]);
    }
    let r = Request::new(ROLE, "kms:Decrypt").assume_iam_allows(true).with_recipient_pcrs(&zeros);
    let p = Policy::parse_str(&t).expect("parse");
    assert_eq!(evaluate(&p, &r).kind, DecisionKind::Allow);
}

#[test]
fn nitro_variable_variants_are_never_pinned() {
    let cases = [
        (
            "StringEqualsIgnoreCase",
            "kms:RecipientAttestation:PCR0",
            "${kms:RecipientAttestation:PCR8}",
        ),
        ("StringEquals", "kms:RecipientAttestation:PCR0", "${KMS:recipientattestation:pcr8}"),
        (
            "StringEqualsIgnoreCase",
            "kms:RecipientAttestation:ImageSha384",
            "${kms:RecipientAttestation:PCR3}",
        ),
        (
            "StringEqualsIgnoreCase",
            "kms:RecipientAttestation:PCR1",
            "${kms:RecipientAttestation:PCR2}",
        ),
        (
            "StringEqualsIgnoreCase",
            "kms:RecipientAttestation:PCR2",
            "${kms:RecipientAttestation:PCR16}",
        ),
        ("StringLike", "kms:RecipientAttestation:PCR0", "${kms:RecipientAttestation:PCR4}"),
        (
            "StringEqualsIgnoreCase",
            "kms:RecipientAttestation:PCR0",
            "${kms:RecipientAttestation:PCR9, 'x'}",
        ),
        (
            "StringEquals",
            "kms:RecipientAttestation:PCR8",
            "${kms:RecipientAttestation:ImageSha384}",
        ),
        // A non-Nitro variable the requester controls.
        ("StringEqualsIgnoreCase", "kms:RecipientAttestation:PCR0", "${aws:PrincipalTag/pcr0}"),
        // A Nitro variable inside another key's value.
        ("StringEquals", "kms:EncryptionContext:image", "${kms:RecipientAttestation:PCR0}"),
    ];
    for (op, key, value) in cases {
        let t = pinned_with(&nitro_var_stmt(op, key, value));
        let a = analyse(&t);
        assert_not_pass(&a, &t);
        if a.verdict == PinVerdict::NotPinned {
            assert_witnessed(&a, &t);
        }
    }
}

#[test]
fn nitro_variable_behind_deny_guards_is_cannot_decide() {
    // Guards pin PCR0-2 for every Decrypt, so the extra Allow needs the
    // expected image anyway: no documented bypass, but the variable's meaning
    // is undocumented, which is never a pass.
    let guards: Vec<String> = (0..3u8)
        .map(|i| format!(r#"{{"Effect":"Deny","Principal":"*","Action":["kms:Decrypt","kms:ReEncryptFrom","kms:DeriveSharedSecret"],"Resource":"*","Condition":{{"StringNotEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR{i}":"{}"}}}}}}"#, e(i)))
        .collect();
    let t = pinned_with(&format!(
        "{},{}",
        guards.join(","),
        nitro_var_stmt(
            "StringEqualsIgnoreCase",
            "kms:RecipientAttestation:PCR0",
            "${kms:RecipientAttestation:PCR8}"
        )
    ));
    assert_eq!(analyse(&t).verdict, PinVerdict::CannotDecide, "{t}");
    assert_eq!(analyse(&pinned_with(&guards.join(","))).verdict, PinVerdict::Pinned);
}

#[test]
fn self_reference_is_still_a_documented_bypass() {
    let t = pinned_with(&nitro_var_stmt(
        "StringEqualsIgnoreCase",
        "kms:RecipientAttestation:PCR0",
        "${kms:RecipientAttestation:PCR0}",
    ));
    assert_witnessed(&analyse(&t), &t);
}

// ---- class 2: other services' condition keys ------------------------------

fn service_key_stmt(op: &str, key: &str, value: &str) -> String {
    format!(
        r#"{{"Sid":"Parent","Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"{op}":{{"{key}":"{value}"}}}}}}"#
    )
}

#[test]
fn ec2_source_instance_arn_lets_the_parent_decrypt() {
    let t = pinned_with(&service_key_stmt("ArnEquals", "ec2:SourceInstanceArn", INSTANCE));
    let a = analyse(&t);
    assert_witnessed(&a, &t);
    let w = a.witnesses.iter().find(|w| w.confirmed).expect("witness");
    assert!(!w.has_recipient, "{w:?}");
    assert!(w.context.contains_key("ec2:sourceinstancearn"), "{w:?}");
}

#[test]
fn cross_service_key_variants_are_free() {
    let cases = [
        ("ArnLike", "ec2:SourceInstanceArn", "arn:aws:ec2:*:111122223333:instance/*"),
        ("StringEquals", "ec2:SourceInstanceARN", INSTANCE),
        (
            "ArnEquals",
            "lambda:SourceFunctionArn",
            "arn:aws:lambda:us-east-1:111122223333:function:f",
        ),
        ("StringEquals", "ssm:SourceInstanceArn", INSTANCE),
        ("StringEquals", "glue:RoleAssumedBy", "glue.amazonaws.com"),
        ("StringEquals", "identitystore:UserId", "u-1"),
        ("StringLike", "someservice:AnyKey", "*"),
        ("Bool", "ec2:RoleDelivery", "true"),
    ];
    for (op, key, value) in cases {
        let t = pinned_with(&service_key_stmt(op, key, value));
        assert_witnessed(&analyse(&t), &t);
    }
    // A Deny keyed on such a key protects nothing: the requester omits it.
    let deny = format!(
        r#"{{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringNotEquals":{{"ec2:SourceInstanceArn":"{INSTANCE}"}}}}}},{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:Decrypt","Resource":"*"}}"#
    );
    let t = pinned_with(&deny);
    assert_witnessed(&analyse(&t), &t);
}

// ---- class 3: case-variant keys under one operator -----------------------

#[test]
fn case_variant_pcr_keys_are_ambiguous() {
    let other = "9".repeat(96);
    let t = format!(
        r#"{{"Version":"2012-10-17","Statement":[
{{"Effect":"Allow","Principal":{{"AWS":"{ADMIN}"}},"Action":"kms:PutKeyPolicy","Resource":"*"}},
{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:Decrypt","Resource":"*",
 "Condition":{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR0":"{}","kms:recipientattestation:pcr0":"{other}","kms:RecipientAttestation:PCR1":"{}","kms:RecipientAttestation:PCR2":"{}"}}}}}}]}}"#,
        e(0),
        e(1),
        e(2)
    );
    let a = analyse(&t);
    assert_eq!(a.verdict, PinVerdict::CannotDecide, "{:#?}", a.readings);
    assert!(a.findings.iter().any(|f| f.id == "kms.policy.case-variant-key"));
    assert_eq!(a.readings.len(), 3, "{:?}", a.readings);
    // Under the last-wins reading another image decrypts: that reading's
    // witness is one the evaluator allows on that reading's policy.
    assert!(
        a.readings.iter().any(|r| r.contains("last spelling wins: NOT_PINNED")),
        "{:?}",
        a.readings
    );
    // The strict parser (kms-local, simulate) refuses such a policy.
    assert!(matches!(Policy::parse_str(&t), Err(PolicyError::CaseVariantKey { .. })));
}

#[test]
fn case_variant_variants_are_never_pinned() {
    let other = "9".repeat(96);
    let cases = [
        // Deny guard with two spellings: under first-wins the guard checks
        // only the attacker's value.
        format!(
            r#"{{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringNotEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR0":"{other}","KMS:RECIPIENTATTESTATION:PCR0":"{}"}}}}}},{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR1":"{}"}}}}}}"#,
            e(0),
            e(1)
        ),
        // Three spellings of one free key.
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ops"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":"vpc-1","AWS:SourceVpc":"vpc-2","aws:sourcevpc":"vpc-3"}}}"#.to_string(),
        // Case variants of a principal key.
        r#"{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","KMS:calleraccount":"444455556666"}}}"#.to_string(),
    ];
    for extra in cases {
        let t = pinned_with(&extra);
        assert_not_pass(&analyse(&t), &t);
    }
}

// ---- the encryption-context property (issue 20's kms-policy check) ----------

#[test]
fn unbound_decrypt_is_found_and_a_bound_policy_passes() {
    let t = pinned_with("");
    let p = Policy::parse_str(&t).expect("parse");
    let w = unbound_decrypt(&p, &cfg(), "proofpack:recipients").expect("unbound witness");
    assert!(w.confirmed && w.documented, "{w:?}");
    assert!(!w.context.keys().any(|k| k.contains("proofpack:recipients")), "{w:?}");

    let bound = format!(
        r#"{{"Version":"2012-10-17","Statement":[
{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:Decrypt","Resource":"*",
 "Condition":{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR0":"{}"}},"StringLike":{{"kms:EncryptionContext:proofpack:recipients":"?*"}}}}}}]}}"#,
        e(0)
    );
    let p = Policy::parse_str(&bound).expect("parse");
    assert!(unbound_decrypt(&p, &cfg(), "proofpack:recipients").is_none());
    // Null false is the same requirement; IfExists is not.
    let null = bound.replace(
        r#""StringLike":{"kms:EncryptionContext:proofpack:recipients":"?*"}"#,
        r#""Null":{"kms:EncryptionContext:proofpack:recipients":"false"}"#,
    );
    let p = Policy::parse_str(&null).expect("parse");
    assert!(unbound_decrypt(&p, &cfg(), "proofpack:recipients").is_none(), "{null}");
    let ifexists = bound.replace("\"StringLike\"", "\"StringLikeIfExists\"");
    let p = Policy::parse_str(&ifexists).expect("parse");
    assert!(unbound_decrypt(&p, &cfg(), "proofpack:recipients").is_some(), "{ifexists}");
    // Requiring only the key name in kms:EncryptionContextKeys with
    // ForAllValues is satisfied by an empty context: unbound.
    let keys = bound.replace(
        r#""StringLike":{"kms:EncryptionContext:proofpack:recipients":"?*"}"#,
        r#""ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"proofpack:recipients"}"#,
    );
    let p = Policy::parse_str(&keys).expect("parse");
    assert!(unbound_decrypt(&p, &cfg(), "proofpack:recipients").is_some(), "{keys}");
}

// ---- principal identity keys follow the evaluator's derivation -------------

/// A role session named as the principal has the *role's* ARN as
/// `aws:PrincipalArn`; the analyser must not read the session ARN there.
#[test]
fn session_principal_arn_is_the_role_arn() {
    let session = "arn:aws:sts::111122223333:assumed-role/pack-enclave/i-0abc";
    let extra = format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{session}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"ArnEquals":{{"aws:PrincipalArn":"{ROLE}"}}}}}}"#
    );
    let t = pinned_with(&extra);
    assert_witnessed(&analyse(&t), &t);
}

/// A role session named in an Allow, and a Deny on a *pathed* role of the
/// same name: the session may belong to the path-less role, which the Deny
/// does not cover (found by the differential property).
#[test]
fn named_session_is_not_certainly_denied_by_a_pathed_role() {
    let session = "arn:aws:sts::111122223333:assumed-role/pack-enclave/i-0abc";
    let extra = format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{session}"}},"Action":"kms:ReEncrypt*","Resource":"*"}},{{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::111122223333:role/team/pack-enclave"}},"Action":"kms:*","Resource":"*"}}"#
    );
    let t = pinned_with(&extra);
    let a = analyse(&t);
    assert_witnessed(&a, &t);
    assert!(
        a.witnesses.iter().any(|w| w.session_role.as_deref() == Some(ROLE)),
        "{:#?}",
        a.witnesses
    );
}

/// The mirror case: a Deny on the path-less role does not certainly cover a
/// named session, whose role may live under any path.
#[test]
fn named_session_is_not_certainly_denied_by_the_pathless_role() {
    let session = "arn:aws:sts::111122223333:assumed-role/pack-enclave/i-0abc";
    let extra = format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{session}"}},"Action":"kms:ReEncrypt*","Resource":"*"}},{{"Effect":"Deny","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:*","Resource":"*"}}"#
    );
    let t = pinned_with(&extra);
    assert_witnessed(&analyse(&t), &t);
}
