//! KMS key-policy parser, evaluator and pinning analyser against the vector
//! catalogue in `testvectors/kms-policies/`.
//!
//! * `aws-spec/`: 28 policies copied unchanged from the project's shared
//!   vector store, with `expected.json` (verdicts and request tuples) and
//!   `pcrs.json` (expected PCRs and request scenarios).
//! * `extra/`: our own cases (other spellings of each bypass), with
//!   `expected.json` in the same shape.
//! * `invalid/`: malformed policies with the error each must produce.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use build_spec::pcr::measurements::parse_pcr_hex;
use build_spec::pcr::Measurements;
use serde_json::Value;
use verifier::kms_policy::eval::{evaluate, DecisionKind, Request};
use verifier::kms_policy::expected::Expected;
use verifier::kms_policy::parse::{parse_readings, Policy, PolicyError, MAX_POLICY_BYTES};
use verifier::kms_policy::pin::{analyse, analyse_bytes, Config, Origin, PinVerdict};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/kms-policies")
}

fn read_json(p: &Path) -> Value {
    let b = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Suite {
    dir: PathBuf,
    expected: Value,
    pcrs: Value,
}

fn suites() -> Vec<Suite> {
    let pcrs = read_json(&root().join("aws-spec/pcrs.json"));
    ["aws-spec", "extra"]
        .iter()
        .map(|d| Suite {
            dir: root().join(d),
            expected: read_json(&root().join(d).join("expected.json")),
            pcrs: pcrs.clone(),
        })
        .collect()
}

fn verdict_of(s: &str) -> PinVerdict {
    match s {
        "PINNED" => PinVerdict::Pinned,
        "NOT_PINNED" => PinVerdict::NotPinned,
        "LOCKOUT_RISK" => PinVerdict::LockoutRisk,
        "CANNOT_DECIDE" => PinVerdict::CannotDecide,
        other => panic!("unknown verdict {other}"),
    }
}

fn decision_of(s: &str) -> DecisionKind {
    match s {
        "Allow" => DecisionKind::Allow,
        "ExplicitDeny" => DecisionKind::ExplicitDeny,
        "ImplicitDeny" => DecisionKind::ImplicitDeny,
        other => panic!("unknown decision {other}"),
    }
}

fn expected_set(pcrs: &Value, pointer: &str) -> Expected {
    let v = pcrs.pointer(pointer).unwrap_or_else(|| panic!("no {pointer}"));
    let wrapped = serde_json::json!({ "expected": v });
    Expected::from_json(wrapped.to_string().as_bytes(), None).expect("expected set")
}

fn defaults(s: &Suite) -> Config {
    let d = &s.expected["defaults"];
    let mut cfg = Config::new(expected_set(&s.pcrs, "/expected"));
    cfg.key_arn = d["key_arn"].as_str().map(str::to_string);
    cfg.multi_region = d["key_metadata"]["multi_region"].as_bool();
    cfg.origin = match d["key_metadata"]["origin"].as_str() {
        Some("AWS_KMS") => Some(Origin::AwsKms),
        Some("EXTERNAL") => Some(Origin::External),
        _ => None,
    };
    cfg.strict_generate = d["strict_generate"].as_bool().unwrap_or(false);
    cfg.trusted = d["trusted_principals"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    cfg
}

fn scenario(pcrs: &Value, name: &str) -> Measurements {
    let sc = &pcrs["scenarios"][name]["pcrs"];
    let mut m = Measurements::new();
    for (i, vname) in sc.as_object().unwrap_or_else(|| panic!("scenario {name}")) {
        let hex = pcrs["values"][vname.as_str().unwrap_or("")]
            .as_str()
            .unwrap_or_else(|| panic!("value {vname}"));
        m.insert(i.parse().expect("index"), parse_pcr_hex(hex).expect("96 hex"));
    }
    m
}

fn request(s: &Suite, t: &Value) -> Request {
    let mut r = Request::new(
        t["principal"].as_str().expect("principal"),
        t["action"].as_str().expect("action"),
    )
    .assume_iam_allows(t["iam_allows"].as_bool().unwrap_or(true));
    if let Some(k) = s.expected["defaults"]["key_arn"].as_str() {
        r = r.with_key_arn(k);
    }
    if t["has_recipient"].as_bool() == Some(true) {
        r = r.with_recipient_pcrs(&scenario(&s.pcrs, t["pcr_match"].as_str().expect("pcr_match")));
    }
    if let Some(ctx) = t["context"].as_object() {
        for (k, v) in ctx {
            r = match v {
                Value::Array(a) => r.with_context_values(k, a.iter().filter_map(|x| x.as_str())),
                Value::String(s) => r.with_context(k, s.as_str()),
                other => r.with_context(k, other.to_string()),
            };
        }
    }
    if let Some(via) = t["via"].as_str() {
        r = r.with_via_service(via);
    }
    r
}

fn vectors(s: &Suite) -> Vec<Value> {
    s.expected["vectors"].as_array().expect("vectors").clone()
}

fn policy_bytes(s: &Suite, v: &Value) -> Vec<u8> {
    let p = s.dir.join(v["file"].as_str().expect("file"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn catalogue_has_at_least_25_policies_with_every_verdict() {
    let mut n = 0;
    let mut seen = std::collections::BTreeSet::new();
    for s in suites() {
        for v in vectors(&s) {
            n += 1;
            seen.insert(v["verdict"].as_str().expect("verdict").to_string());
        }
    }
    assert!(n >= 25, "only {n} policies");
    for v in ["PINNED", "NOT_PINNED", "LOCKOUT_RISK", "CANNOT_DECIDE"] {
        assert!(seen.contains(v), "no {v} vector");
    }
}

#[test]
fn evaluator_reproduces_every_tuple() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for s in suites() {
        for v in vectors(&s) {
            let file = v["file"].as_str().unwrap_or("");
            let parsed = parse_readings(&policy_bytes(&s, &v), MAX_POLICY_BYTES).expect(file);
            for t in v["tuples"].as_array().into_iter().flatten() {
                let req = request(&s, t);
                let want = t["decision"].as_str().expect("decision");
                let got: Vec<DecisionKind> =
                    parsed.interpretations.iter().map(|i| evaluate(&i.policy, &req).kind).collect();
                let ok = if want == "AMBIGUOUS" {
                    got.len() == 2
                        && got.first()
                            == Some(&decision_of(t["decision_first_wins"].as_str().unwrap_or("")))
                        && got.get(1)
                            == Some(&decision_of(t["decision_last_wins"].as_str().unwrap_or("")))
                } else {
                    !got.is_empty() && got.iter().all(|g| *g == decision_of(want))
                };
                if !ok {
                    failures.push(format!(
                        "{file}: {} {} rec={} {:?}: want {want}, got {got:?}",
                        t["principal"], t["action"], t["has_recipient"], t["pcr_match"]
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} tuples differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 120, "only {checked} tuples");
}

#[test]
fn analyser_reproduces_every_verdict() {
    let mut failures = Vec::new();
    for s in suites() {
        for v in vectors(&s) {
            let file = v["file"].as_str().unwrap_or("").to_string();
            let bytes = policy_bytes(&s, &v);
            let mut cfg = defaults(&s);
            if let Some(p) = v["enclave_principal"].as_str() {
                cfg.enclave_principal = Some(p.to_string());
            }
            if let Some(m) = v["multi_region"].as_bool() {
                cfg.multi_region = Some(m);
            }
            match v["origin"].as_str() {
                Some("EXTERNAL") => cfg.origin = Some(Origin::External),
                Some("EXTERNAL_KEY_STORE") => cfg.origin = Some(Origin::ExternalKeyStore),
                _ => {}
            }
            let a = analyse_bytes(&bytes, &cfg).expect(&file);
            let want = verdict_of(v["verdict"].as_str().expect("verdict"));
            if a.verdict != want {
                failures.push(format!(
                    "{file}: want {want:?}, got {:?}; findings: {:#?}",
                    a.verdict, a.findings
                ));
            }
            for w in v["warnings"].as_array().into_iter().flatten() {
                let w = w.as_str().unwrap_or("");
                if !a.warnings.iter().any(|x| x == w) {
                    failures.push(format!("{file}: warning {w} missing (got {:?})", a.warnings));
                }
            }
            for id in v["finding_ids"].as_array().into_iter().flatten() {
                let id = id.as_str().unwrap_or("");
                if !a.findings.iter().any(|f| f.id == id) {
                    failures.push(format!(
                        "{file}: finding {id} missing (got {:?})",
                        a.findings.iter().map(|f| &f.id).collect::<Vec<_>>()
                    ));
                }
            }
            if want == PinVerdict::NotPinned {
                let confirmed = a.witnesses.iter().filter(|w| w.documented && w.confirmed).count();
                // A metadata-driven verdict (key material outside KMS) has no request witness.
                if confirmed == 0 && v["origin"].is_null() {
                    failures.push(format!(
                        "{file}: no witness confirmed by the evaluator: {:#?}",
                        a.witnesses
                    ));
                }
                // Every confirmed witness really is allowed by the evaluator.
                for w in a.witnesses.iter().filter(|w| w.confirmed) {
                    let parsed = Policy::parse(&bytes).expect("strict parse");
                    let d = evaluate(&parsed, &w.to_request(cfg.key_arn.as_deref()));
                    assert_eq!(d.kind, DecisionKind::Allow, "{file}: witness {w:?}");
                }
            }
            if want != PinVerdict::Pinned && a.findings.is_empty() {
                failures.push(format!("{file}: verdict {want:?} without findings"));
            }
            // Variants of the same policy under other settings.
            if let Some(t) = v.get("verdict_with_trusted") {
                let mut c2 = cfg.clone();
                c2.trusted = t["trusted"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect();
                let a2 = analyse_bytes(&bytes, &c2).expect(&file);
                if a2.verdict != verdict_of(t["verdict"].as_str().unwrap_or("")) {
                    failures.push(format!(
                        "{file} (trusted): got {:?}; findings {:#?}",
                        a2.verdict, a2.findings
                    ));
                }
                for w in t["warnings"].as_array().into_iter().flatten() {
                    if !a2.warnings.iter().any(|x| Some(x.as_str()) == w.as_str()) {
                        failures.push(format!("{file} (trusted): warning {w} missing"));
                    }
                }
            }
            if let Some(t) = v.get("verdict_with_expected") {
                let mut c2 = cfg.clone();
                let ptr = t["expected"].as_str().unwrap_or("").trim_start_matches("pcrs.json#");
                c2.expected = expected_set(&s.pcrs, ptr);
                let a2 = analyse_bytes(&bytes, &c2).expect(&file);
                if a2.verdict != verdict_of(t["verdict"].as_str().unwrap_or("")) {
                    failures.push(format!("{file} (expected): got {:?}", a2.verdict));
                }
            }
            if let Some(t) = v.get("verdict_strict_generate").and_then(|x| x.as_str()) {
                let mut c2 = cfg.clone();
                c2.strict_generate = true;
                let a2 = analyse_bytes(&bytes, &c2).expect(&file);
                if a2.verdict != verdict_of(t) {
                    failures.push(format!("{file} (strict-generate): got {:?}", a2.verdict));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// docs/formats/kms-policy.md §9 (4): whenever the evaluator allows a non-attested disclosing
/// request of an untrusted principal, the analyser must not say PINNED.
/// Mutations of the PINNED vectors: drop a statement, drop a condition
/// clause, add IfExists, swap Allow/Deny.
#[test]
fn mutations_of_pinned_policies_are_never_wrongly_pinned() {
    let s = suites().remove(0);
    let cfg = defaults(&s);
    let principals = [
        "arn:aws:iam::111122223333:role/enclave-parent",
        "arn:aws:iam::111122223333:role/producer",
        "arn:aws:iam::111122223333:role/key-admin",
        "arn:aws:iam::111122223333:role/ops",
        "arn:aws:iam::999988887777:role/attacker",
    ];
    let mut mutated = 0;
    for v in vectors(&s).into_iter().filter(|v| v["verdict"] == "PINNED") {
        let base: Value = serde_json::from_slice(&policy_bytes(&s, &v)).expect("json");
        for m in mutations(&base) {
            let text = m.to_string();
            let Ok(policy) = Policy::parse_str(&text) else { continue };
            mutated += 1;
            let verdict = analyse(&policy, &cfg).verdict;
            for p in principals {
                for a in ["kms:Decrypt", "kms:ReEncryptFrom", "kms:DeriveSharedSecret"] {
                    for sc in
                        [None, Some("none"), Some("pcr0_only"), Some("pcr1_only"), Some("zeros")]
                    {
                        let mut r = Request::new(p, a)
                            .assume_iam_allows(true)
                            .with_key_arn(cfg.key_arn.clone().unwrap_or_default());
                        if let Some(sc) = sc {
                            r = r.with_recipient_pcrs(&scenario(&s.pcrs, sc));
                        }
                        if evaluate(&policy, &r).kind == DecisionKind::Allow {
                            assert_ne!(
                                verdict,
                                PinVerdict::Pinned,
                                "mutation allows {p} {a} {sc:?} but analyser says PINNED:\n{text}"
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(mutated > 40, "only {mutated} mutations");
}

fn mutations(base: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let stmts = match &base["Statement"] {
        Value::Array(a) => a.clone(),
        o => vec![o.clone()],
    };
    let with = |st: Vec<Value>| {
        let mut b = base.clone();
        b["Statement"] = Value::Array(st);
        b
    };
    for i in 0..stmts.len() {
        let mut s = stmts.clone();
        s.remove(i);
        if !s.is_empty() {
            out.push(with(s));
        }
        let mut s = stmts.clone();
        if let Some(st) = s.get_mut(i) {
            st["Effect"] = Value::from(if st["Effect"] == "Allow" { "Deny" } else { "Allow" });
        }
        out.push(with(s));
        if let Some(cond) = stmts[i]["Condition"].as_object() {
            for (op, keys) in cond {
                let mut s = stmts.clone();
                let c = s[i]["Condition"].as_object_mut().expect("object");
                let k = c.remove(op).unwrap_or(Value::Null);
                c.insert(format!("{op}IfExists"), k);
                out.push(with(s));
                for key in keys.as_object().into_iter().flatten().map(|(k, _)| k.clone()) {
                    let mut s = stmts.clone();
                    if let Some(m) = s[i]["Condition"][op].as_object_mut() {
                        m.remove(&key);
                        if m.is_empty() {
                            s[i]["Condition"].as_object_mut().expect("object").remove(op);
                        }
                    }
                    out.push(with(s));
                }
                let mut s = stmts.clone();
                s[i].as_object_mut().expect("object").remove("Condition");
                out.push(with(s));
            }
        }
    }
    out
}

#[test]
fn invalid_policies_give_typed_errors() {
    let dir = root().join("invalid");
    let exp = read_json(&dir.join("expected.json"));
    let mut n = 0;
    for (file, want) in exp["errors"].as_object().expect("errors") {
        let bytes = std::fs::read(dir.join(file)).expect(file);
        let err = Policy::parse(&bytes).expect_err(file);
        let kind = error_kind(&err);
        assert_eq!(kind, want.as_str().unwrap_or(""), "{file}: {err}");
        assert!(!err.to_string().is_empty());
        n += 1;
    }
    assert!(n >= 8);
}

fn error_kind(e: &PolicyError) -> &'static str {
    match e {
        PolicyError::TooLarge { .. } => "TooLarge",
        PolicyError::NotUtf8 { .. } => "NotUtf8",
        PolicyError::BadCharset { .. } => "BadCharset",
        PolicyError::Json(_) => "Json",
        PolicyError::DuplicateMember { .. } => "DuplicateMember",
        PolicyError::UnknownElement { .. } => "UnknownElement",
        PolicyError::WrongType { .. } => "WrongType",
        PolicyError::Missing { .. } => "Missing",
        PolicyError::BothMembers { .. } => "BothMembers",
        PolicyError::NoStatements => "NoStatements",
        PolicyError::BadEffect { .. } => "BadEffect",
        PolicyError::BadVersion { .. } => "BadVersion",
        PolicyError::UnknownPrincipalType { .. } => "UnknownPrincipalType",
        PolicyError::Empty { .. } => "Empty",
        PolicyError::UnterminatedVariable { .. } => "UnterminatedVariable",
        _ => "other",
    }
}

#[test]
fn huge_policy_is_rejected_before_parsing() {
    // A syntactically valid policy just over the limit, and one far over it
    // that is not even JSON: both fail on size, not on syntax.
    let stmt = r#"{"Sid":"S","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/r"},"Action":"kms:DescribeKey","Resource":"*"}"#;
    let mut body = String::from(r#"{"Version":"2012-10-17","Statement":["#);
    while body.len() <= MAX_POLICY_BYTES {
        body.push_str(stmt);
        body.push(',');
    }
    body.push_str(stmt);
    body.push_str("]}");
    let e = Policy::parse_str(&body).expect_err("too large");
    assert!(matches!(e, PolicyError::TooLarge { len, limit: 32_768 } if len == body.len()), "{e}");
    assert!(e.to_string().contains("32768"));
    let junk = vec![b'{'; 10 * 1024 * 1024];
    assert!(matches!(Policy::parse(&junk), Err(PolicyError::TooLarge { .. })));
    // Exactly at the limit is fine (size-wise).
    let mut ok = String::from(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:DescribeKey","Resource":"*"}}"#,
    );
    while ok.len() < MAX_POLICY_BYTES {
        ok.push(' ');
    }
    assert_eq!(ok.len(), MAX_POLICY_BYTES);
    assert!(Policy::parse_str(&ok).is_ok());
}

#[test]
fn evaluator_names_deciding_statements() {
    let s = suites().remove(0);
    let bytes = std::fs::read(s.dir.join("01-governed-template.json")).expect("vector 01");
    let p = Policy::parse(&bytes).expect("parses");
    let sid = |i: usize| p.statements[i].sid.clone().unwrap_or_default();
    let enclave = "arn:aws:iam::111122223333:role/enclave-parent";
    // Attested with all PCRs: EnclaveUse decides.
    let d = evaluate(
        &p,
        &Request::new(enclave, "kms:Decrypt").with_recipient_pcrs(&scenario(&s.pcrs, "all")),
    );
    assert_eq!(d.kind, DecisionKind::Allow);
    assert_eq!(d.deciding.iter().map(|i| sid(*i)).collect::<Vec<_>>(), ["EnclaveUse"]);
    // PCR0 right, PCR1/2 wrong: exactly the PCR1 and PCR2 guards decide.
    let d = evaluate(
        &p,
        &Request::new(enclave, "kms:Decrypt").with_recipient_pcrs(&scenario(&s.pcrs, "pcr0_only")),
    );
    assert_eq!(d.kind, DecisionKind::ExplicitDeny);
    assert_eq!(d.deciding.iter().map(|i| sid(*i)).collect::<Vec<_>>(), ["GuardPCR1", "GuardPCR2"]);
    // No Recipient: all three guards.
    let d = evaluate(&p, &Request::new(enclave, "kms:Decrypt"));
    assert_eq!(
        d.deciding.iter().map(|i| sid(*i)).collect::<Vec<_>>(),
        ["GuardPCR0", "GuardPCR1", "GuardPCR2"]
    );
    // The trace explains the others.
    let trace: BTreeMap<String, String> = d
        .statements
        .iter()
        .map(|t| {
            (
                t.sid.clone().unwrap_or_default(),
                serde_json::to_value(&t.outcome).expect("json")["outcome"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(trace["EnclaveUse"], "condition_false");
    assert_eq!(trace["KeyAdministration"], "principal_mismatch");
    // Implicit deny: nobody decided.
    let d = evaluate(&p, &Request::new("arn:aws:iam::999988887777:role/attacker", "kms:Encrypt"));
    assert_eq!(d.kind, DecisionKind::ImplicitDeny);
    assert!(d.deciding.is_empty());
    // A role session matches its role.
    let d = evaluate(
        &p,
        &Request::new(
            "arn:aws:sts::111122223333:assumed-role/enclave-parent/i-0abc",
            "kms:Decrypt",
        )
        .with_recipient_pcrs(&scenario(&s.pcrs, "all")),
    );
    assert_eq!(d.kind, DecisionKind::Allow);
}

mod render {
    use super::*;
    use verifier::kms_policy::render::{policy_text, terraform, RenderInput};

    const ROLE: &str = "arn:aws:iam::111122223333:role/enclave-parent";
    const ADMIN: &str = "arn:aws:iam::111122223333:role/key-admin";
    const PRODUCER: &str = "arn:aws:iam::111122223333:role/producer";

    fn input(pcrs: &Measurements, immutable: bool) -> RenderInput {
        let mut i =
            RenderInput::from_measurements(pcrs, &[0, 1, 2, 8], ROLE, ADMIN).expect("input");
        i.producers = vec![PRODUCER.into()];
        i.immutable = immutable;
        i
    }

    fn cfg_for(i: &RenderInput, trusted: &[&str]) -> Config {
        let mut c = Config::new(i.expected());
        c.trusted = trusted.iter().map(|s| s.to_string()).collect();
        c.key_arn = Some(
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        );
        c.multi_region = Some(false);
        c.origin = Some(Origin::AwsKms);
        c.enclave_principal = Some(ROLE.into());
        c
    }

    fn measurements_from_seed(seed: u8, with_pcr8: bool) -> Measurements {
        use sha2::{Digest, Sha384};
        let mut m = Measurements::new();
        for i in [0u8, 1, 2, 8] {
            if i == 8 && !with_pcr8 {
                m.insert(8, [0; 48]);
                continue;
            }
            let d = Sha384::digest([seed, i]);
            let mut p = [0u8; 48];
            p.copy_from_slice(&d);
            m.insert(i, p);
        }
        m
    }

    #[test]
    fn rendered_policies_round_trip_as_pinned() {
        for seed in 0..12u8 {
            let m = measurements_from_seed(seed, seed % 2 == 0);
            // Governed: PINNED when the admin is trusted, NOT_PINNED otherwise (PutKeyPolicy).
            let gov = input(&m, false);
            let text = policy_text(&gov).expect("render");
            assert!(text.len() < MAX_POLICY_BYTES);
            let a = analyse_bytes(text.as_bytes(), &cfg_for(&gov, &[ADMIN])).expect("analyse");
            assert_eq!(a.verdict, PinVerdict::Pinned, "{text}\n{:#?}", a.findings);
            assert!(
                !a.warnings.contains(&"GRANTS_NOT_EXAMINED".to_string()),
                "guards cover grants"
            );
            let a = analyse_bytes(text.as_bytes(), &cfg_for(&gov, &[])).expect("analyse");
            assert_eq!(a.verdict, PinVerdict::NotPinned);
            assert!(a.findings.iter().any(|f| f.id == "kms.policy.policy-rewrite"));
            // Immutable: PINNED with nobody trusted.
            let imm = input(&m, true);
            let text = policy_text(&imm).expect("render");
            let a = analyse_bytes(text.as_bytes(), &cfg_for(&imm, &[])).expect("analyse");
            assert_eq!(a.verdict, PinVerdict::Pinned, "{text}");
            assert!(a.warnings.contains(&"IMMUTABLE_POLICY".to_string()));
            // PCR8 is pinned only when it is non-zero.
            assert_eq!(text.contains("PCR8"), seed % 2 == 0);
        }
    }

    #[test]
    fn rendered_policy_decisions() {
        let s = suites().remove(0);
        let mut m = Measurements::new();
        for (i, name) in [(0u8, "E0"), (1, "E1"), (2, "E2")] {
            m.insert(
                i,
                parse_pcr_hex(s.pcrs["values"][name].as_str().expect("value")).expect("hex"),
            );
        }
        let i = input(&m, false);
        let p = Policy::parse_str(&policy_text(&i).expect("render")).expect("parses");
        let ev = |who: &str, action: &str, sc: Option<&str>| {
            let mut r = Request::new(who, action).assume_iam_allows(true);
            if let Some(sc) = sc {
                r = r.with_recipient_pcrs(&scenario(&s.pcrs, sc));
            }
            evaluate(&p, &r).kind
        };
        assert_eq!(ev(ROLE, "kms:Decrypt", Some("all")), DecisionKind::Allow);
        assert_eq!(ev(ROLE, "kms:Decrypt", Some("all_other_parent_role")), DecisionKind::Allow);
        assert_eq!(ev(ROLE, "kms:Decrypt", Some("pcr0_only")), DecisionKind::ExplicitDeny);
        assert_eq!(ev(ROLE, "kms:Decrypt", Some("zeros")), DecisionKind::ExplicitDeny);
        assert_eq!(ev(ROLE, "kms:Decrypt", None), DecisionKind::ExplicitDeny);
        assert_eq!(ev(ROLE, "kms:ReEncryptFrom", None), DecisionKind::ExplicitDeny);
        assert_eq!(ev(PRODUCER, "kms:Encrypt", None), DecisionKind::Allow);
        assert_eq!(ev(PRODUCER, "kms:Decrypt", Some("all")), DecisionKind::ImplicitDeny);
        assert_eq!(ev(ADMIN, "kms:PutKeyPolicy", None), DecisionKind::Allow);
        assert_eq!(ev(ADMIN, "kms:CreateGrant", None), DecisionKind::ExplicitDeny);
        assert_eq!(
            ev("arn:aws:iam::999988887777:role/attacker", "kms:Decrypt", Some("all")),
            DecisionKind::ImplicitDeny
        );
    }

    /// The Terraform output has the same statements as the JSON: read back
    /// the (fixed-format) HCL and compare statement by statement.
    #[test]
    fn terraform_matches_json() {
        let m = measurements_from_seed(7, true);
        let i = input(&m, false);
        let json: Value =
            serde_json::from_str(&policy_text(&i).expect("json")).expect("valid json");
        let hcl = terraform(&i, "enclave_key").expect("hcl");
        assert!(hcl.contains("data \"aws_iam_policy_document\" \"enclave_key\" {"));
        let blocks: Vec<&str> = hcl.split("\n  statement {").skip(1).collect();
        let stmts = json["Statement"].as_array().expect("list");
        assert_eq!(blocks.len(), stmts.len());
        let field = |b: &str, name: &str| -> Vec<String> {
            b.lines()
                .filter(|l| l.trim_start().starts_with(&format!("{name} ")))
                .map(|l| l.split_once('=').map(|x| x.1.trim().to_string()).unwrap_or_default())
                .collect()
        };
        let strs =
            |v: &str| -> Vec<String> { serde_json::from_str::<Vec<String>>(v).expect("hcl list") };
        for (b, s) in blocks.iter().zip(stmts) {
            assert_eq!(field(b, "sid"), [format!("\"{}\"", s["Sid"].as_str().unwrap_or(""))]);
            assert_eq!(field(b, "effect"), [format!("\"{}\"", s["Effect"].as_str().unwrap_or(""))]);
            let actions: Vec<String> = s["Action"]
                .as_array()
                .expect("actions")
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect();
            assert_eq!(strs(&field(b, "actions")[0]), actions);
            let ids = strs(&field(b, "identifiers")[0]);
            match &s["Principal"] {
                Value::String(star) => assert_eq!(ids, std::slice::from_ref(star)),
                p => {
                    let want: Vec<String> = match &p["AWS"] {
                        Value::String(x) => vec![x.clone()],
                        Value::Array(a) => {
                            a.iter().filter_map(|x| x.as_str().map(String::from)).collect()
                        }
                        _ => panic!("principal"),
                    };
                    assert_eq!(ids, want);
                }
            }
            let tests = field(b, "test");
            let vars = field(b, "variable");
            let vals = field(b, "values");
            let mut n = 0;
            for (op, keys) in s["Condition"].as_object().into_iter().flatten() {
                for (k, v) in keys.as_object().expect("keys") {
                    let pos = vars
                        .iter()
                        .position(|x| *x == format!("\"{k}\""))
                        .expect("variable present");
                    assert_eq!(tests[pos], format!("\"{op}\""));
                    assert_eq!(strs(&vals[pos]), [v.as_str().unwrap_or("").to_string()]);
                    n += 1;
                }
            }
            assert_eq!(n, vars.len());
        }
    }
}

/// The statement-level findings name the bypass of each shared vector.
#[test]
fn shared_vectors_name_their_bypass() {
    let s = suites().remove(0);
    let cfg = defaults(&s);
    let want: &[(&str, &[&str])] = &[
        ("01-governed-template.json", &["put-key-policy", "policy-rewrite"]),
        (
            "03-aws-doc-shape-with-default-root.json",
            &["account-root-delegation", "partial-pcr-pin"],
        ),
        (
            "04-console-default-with-pinned-users.json",
            &["account-root-delegation", "create-grant", "put-key-policy"],
        ),
        ("05-ifexists-pin.json", &["if-exists-on-attestation-key", "unattested-disclosure"]),
        ("06-forallvalues-pin.json", &["for-all-values-on-attestation-key"]),
        ("07-foranyvalue-pin.json", &["for-any-value-on-attestation-key"]),
        ("08-stringlike-prefix.json", &["wildcard-pcr-value"]),
        ("09-negated-allow-not-debug.json", &["negated-attestation-condition-in-allow"]),
        ("11-single-guard-three-keys.json", &["guard-keys-anded", "partial-pcr-pin"]),
        ("12-creategrant-retiring-principal.json", &["create-grant", "grant-escalation"]),
        ("14-reencrypt-wildcard.json", &["reencrypt-from"]),
        ("15-via-secretsmanager.json", &["via-service", "wildcard-principal"]),
        ("16-typo-key-name.json", &["unknown-attestation-key", "lockout"]),
        ("17-uppercase-stringequals.json", &["uppercase-pcr-value", "lockout"]),
        ("18-debug-zeros.json", &["debug-mode-zero-pcr"]),
        ("19-version-2008-variable.json", &["literal-variable"]),
        ("22-notaction-root.json", &["not-action-allow", "account-root-delegation"]),
        ("23-self-referential-variable.json", &["self-referential-variable"]),
        ("24-split-statements.json", &["split-pin"]),
        ("25-guard-missing-resource.json", &["inert-statement", "no-attestation-condition"]),
        ("26-user-pcr16-only.json", &["user-extendable-pcr-only"]),
        ("27-two-releases.json", &["pcr-value-mismatch"]),
    ];
    for (file, ids) in want {
        let a =
            analyse_bytes(&std::fs::read(s.dir.join(file)).expect("read"), &cfg).expect("analyse");
        for id in *ids {
            let full = format!("kms.policy.{id}");
            assert!(
                a.findings.iter().any(|f| f.id == full),
                "{file}: {full} missing from {:?}",
                a.findings.iter().map(|f| &f.id).collect::<Vec<_>>()
            );
        }
        for f in &a.findings {
            assert!(!f.fix.is_empty(), "{file}: {} has no fix", f.id);
        }
    }
}

/// The audit-report form: one verdict check plus one check per finding.
#[test]
fn findings_become_report_checks() {
    use verifier::kms_policy::findings::checks;
    use verifier::report::Verdict as CheckVerdict;
    let s = suites().remove(0);
    let cfg = defaults(&s);
    let pinned = analyse_bytes(
        &std::fs::read(s.dir.join("02-immutable-template.json")).expect("read"),
        &cfg,
    )
    .expect("analyse");
    let c = checks(&pinned);
    assert_eq!(c.verdict(), CheckVerdict::Pass);
    assert_eq!(c.0[0].id, "kms.policy.verdict");
    let bad =
        analyse_bytes(&std::fs::read(s.dir.join("05-ifexists-pin.json")).expect("read"), &cfg)
            .expect("analyse");
    let c = checks(&bad);
    assert_eq!(c.verdict(), CheckVerdict::Fail);
    assert!(c.0.iter().any(|k| k.id == "kms.policy.if-exists-on-attestation-key"
        && k.is_fail()
        && k.detail.contains("Fix:")));
    assert_eq!(c.0.len(), bad.findings.len() + 1);
}
