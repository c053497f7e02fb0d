//! Golden receipt bytes: every receipt variant the enclave writes, built from
//! fixed inputs through the real statement builder and DSSE signer, compared
//! byte for byte with checked-in files under `tests/golden/`.
//!
//! The files were written by the code before the typed receipt model
//! (issue 15) and prove that the model serialises exactly the same bytes.
//! Regenerate (only for an intended format change) with
//! `GOLDEN=overwrite cargo test -p proofpack-enclave --test it receipt_golden`.
use std::collections::BTreeMap;
use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use enclave::receipt::dsse::{Envelope, PAYLOAD_TYPE};
use enclave::receipt::statement::{
    build, build_with, BuildInfo, Extras, GitSourceRecord, InputRecord, OrgKeyRecord, OutputRecord,
    RecipientsRecord, SealedRecord, SecretsSourceRecord,
};
use enclave::receipt::KmsCall;
use enclave::service::PackRequest;

const ARN_IN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ARN_OLD: &str = "arn:aws:kms:us-east-1:111122223333:alias/old";
const ARN_OUT: &str = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321";
const ARN_ORG: &str = "arn:aws:kms:us-east-1:111122223333:key/org";
const ARN_USER: &str = "arn:aws:kms:us-east-1:111122223333:key/user";

fn tv(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testvectors/receipts").join(name),
    )
    .unwrap()
}

fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn call(
    op: &'static str,
    arn: &str,
    key_arn: Option<&str>,
    recipient: bool,
    outcome: &str,
) -> KmsCall {
    KmsCall {
        operation: op,
        arn: arn.to_owned(),
        key_arn: key_arn.map(str::to_owned),
        encryption_context: ctx(&[("app", "payments"), ("proofpack:recipients", &"ab".repeat(32))]),
        recipient,
        request_id: format!("req-{op}-{outcome}"),
        outcome: outcome.to_owned(),
    }
}

/// The synthetic request, and the same request with `eifSha384`.
fn requests() -> (PackRequest, PackRequest) {
    let plain = tv("synthetic_job_request.json");
    let text = String::from_utf8(plain.clone()).unwrap();
    let with_eif = text.replacen(
        "\"_type\":\"https://proofpack.dev/pack-request/v1\",",
        &format!(
            "\"_type\":\"https://proofpack.dev/pack-request/v1\",\"eifSha384\":\"{}\",",
            "c3".repeat(48)
        ),
        1,
    );
    assert_ne!(text, with_eif);
    (PackRequest::parse(&plain).unwrap(), PackRequest::parse(with_eif.as_bytes()).unwrap())
}

/// The synthetic request with a `git` member on its input (issue 21).
fn git_request() -> PackRequest {
    let text = String::from_utf8(tv("synthetic_job_request.json")).unwrap();
    let git = r#","git":{"commit":"9a1c2e0f4b7d3a5c8e6f1b2d4a7c9e0f3b5d8a1c","objectFormat":"sha1","path":"secrets/prod.enc.yaml","repository":"git+https://github.com/example/secrets"}"#;
    let at = text.find(r#""}],"jobId""#).unwrap() + 1;
    let with_git = format!("{}{git}{}", &text[..at], &text[at..]);
    PackRequest::parse(with_git.as_bytes()).unwrap()
}

fn build_info(extra: &str) -> BuildInfo {
    BuildInfo::parse(
        format!(
            r#"{{"buildSpec":{{"digest":{{"sha256":"66c73a65ccd8e53a57e78190e4c9f790bb7660574fc1a87c5944eb11c251cf5b"}},"path":"build/enclave.json"}},"commit":{{"gitCommit":"3d942f9c40422e95265e7e04c140c0cc6116c6df"}},{extra}"repository":"git+https://github.com/example/proofpack","tree":"f57fcd9750789003261a6ef6faf9f7572106ef32","tools":{{"nix":"2.24.9","proofpack":"0.1.0"}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn inputs(req: &PackRequest) -> Vec<InputRecord> {
    req.inputs
        .iter()
        .map(|i| InputRecord {
            name: i.name.clone(),
            sha256: i.sha256,
            format: "sops-yaml",
            sops_version: "3.9.1".into(),
            last_modified: "2025-01-15T09:00:00Z".into(),
            mac: "ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]".into(),
            kms: vec![
                call("Decrypt", ARN_OLD, None, true, "error:AccessDeniedException"),
                call("Decrypt", ARN_IN, Some(ARN_IN), true, "ok"),
            ],
        })
        .collect()
}

fn outputs(req: &PackRequest) -> Vec<OutputRecord> {
    req.outputs
        .iter()
        .enumerate()
        .map(|(n, o)| OutputRecord {
            name: o.name.clone(),
            sha256: [0x40 + n as u8; 32],
            size: 4242 + n as u64,
            recipients: o
                .recipients
                .iter()
                .map(|r| {
                    let c = r.kms.as_ref().map(|k| KmsCall {
                        operation: "Encrypt",
                        arn: k.arn.clone(),
                        key_arn: Some(ARN_OUT.into()),
                        encryption_context: k.encryption_context.clone(),
                        recipient: false,
                        request_id: "req-encrypt".into(),
                        outcome: "ok".into(),
                    });
                    (r.key_id, c)
                })
                .collect(),
        })
        .collect()
}

fn sealed() -> (OrgKeyRecord, Vec<SealedRecord>) {
    let fp = [0x0f; 32];
    let org = OrgKeyRecord {
        fingerprint: fp,
        kms: KmsCall {
            encryption_context: ctx(&[("proofpack:org-key", &hex::encode(fp))]),
            ..call("Decrypt", ARN_ORG, Some(ARN_ORG), true, "ok")
        },
    };
    let user_call = |job: Option<&str>| {
        let mut c = ctx(&[("proofpack:org-key", &hex::encode(fp)), ("proofpack:user", "alice")]);
        if let Some(j) = job {
            c.insert("proofpack:job".into(), j.into());
        }
        KmsCall { encryption_context: c, ..call("Decrypt", ARN_USER, Some(ARN_USER), true, "ok") }
    };
    let recs = vec![
        SealedRecord {
            name: "sealed/alice.txt".into(),
            sha256: [0x51; 32],
            user: "alice".into(),
            job: None,
            content_type: "text/plain".into(),
            kms: vec![user_call(None)],
        },
        SealedRecord {
            name: "sealed/alice-job.json".into(),
            sha256: [0x52; 32],
            user: "alice".into(),
            job: Some("job-2025-01-15-0001".into()),
            content_type: "application/json".into(),
            kms: vec![
                call("Decrypt", ARN_USER, None, true, "error:InvalidCiphertextException"),
                user_call(Some("job-2025-01-15-0001")),
            ],
        },
    ];
    (org, recs)
}

/// Every variant: (file stem, statement bytes).
fn variants() -> Vec<(&'static str, Vec<u8>)> {
    let (req, req_eif) = requests();
    let (doc_k, doc_r) = (tv("synthetic_doc_k.cbor"), tv("synthetic_doc_r.cbor"));
    let bi = build_info("");
    let bi_full = build_info(r#""dirty":true,"profile":"emulator","ref":"refs/tags/v1.2.3","#);
    let (org, recs) = sealed();
    let policy =
        RecipientsRecord { policy_sha256: Some([0xab; 32]), unbound_inputs_allowed: false };
    let unbound = RecipientsRecord { policy_sha256: None, unbound_inputs_allowed: true };
    let (ins, outs) = (inputs(&req), outputs(&req));
    let mk = |r: &PackRequest, b: &BuildInfo, sealed, recipients| {
        let extras = Extras { sealed, recipients, secrets: None };
        build_with(r, &doc_k, &doc_r, b, &ins, &outs, &extras).unwrap()
    };
    // Receipt format 1.2 (issue 21): the request names the input's commit.
    let req_git = git_request();
    let git = [SecretsSourceRecord {
        input: "secrets/prod.enc.yaml".into(),
        git: Some(GitSourceRecord {
            repository: "git+https://github.com/example/secrets".into(),
            object_format: "sha1",
            commit: "9a1c2e0f4b7d3a5c8e6f1b2d4a7c9e0f3b5d8a1c".into(),
            path: "secrets/prod.enc.yaml".into(),
            blob: "5e2d1c0b9a8f7e6d5c4b3a29180716253443f2e1".into(),
        }),
    }];
    let local = [SecretsSourceRecord { input: "secrets/prod.enc.yaml".into(), git: None }];
    let with_secrets = |r: &PackRequest, s: &[SecretsSourceRecord]| {
        let extras = Extras { sealed: None, recipients: Some(&policy), secrets: Some(s) };
        build_with(r, &doc_k, &doc_r, &bi, &inputs(r), &outputs(r), &extras).unwrap()
    };
    vec![
        ("secrets_source_git", with_secrets(&req_git, &git)),
        ("secrets_source_local", with_secrets(&req, &local)),
        ("plain", build(&req, &doc_k, &doc_r, &bi, &ins, &outs).unwrap()),
        ("eif_and_source_options", mk(&req_eif, &bi_full, None, None)),
        ("recipients_policy", mk(&req, &bi, None, Some(&policy))),
        ("recipients_unbound", mk(&req, &bi, None, Some(&unbound))),
        ("sealed", mk(&req, &bi, Some((&org, recs.as_slice())), None)),
        (
            "sealed_with_policy",
            mk(&req_eif, &bi_full, Some((&org, recs.as_slice())), Some(&policy)),
        ),
    ]
}

fn check(name: &str, got: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var("GOLDEN").as_deref() == Ok("overwrite") {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with GOLDEN=overwrite)", path.display()));
    assert!(
        want == got,
        "{name} differs from the golden file\nwant: {}\ngot:  {}",
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(got)
    );
}

#[test]
fn receipt_statements_match_the_golden_bytes() {
    let sk = SigningKey::from_bytes(&[7; 32]);
    for (name, statement) in variants() {
        assert!(enclave::json::is_canonical(&statement), "{name}");
        check(&format!("{name}.statement.json"), &statement);
        let env = Envelope::sign(PAYLOAD_TYPE, statement, &sk, Some("ab".repeat(32))).unwrap();
        check(&format!("{name}.dsse.json"), &env.to_json_bytes());
    }
}

/// The verifier's read of every golden statement: it passes both schema
/// layers and serialises back to exactly the same bytes (one model both ways).
#[test]
fn golden_statements_read_back_through_the_model() {
    use enclave::receipt::model::{Predicate, Statement, StatementLayer};
    for (name, bytes) in variants() {
        let v = enclave::json::parse_strict(&bytes).unwrap();
        let layer = StatementLayer::from_value(&v).unwrap();
        let predicate = Predicate::from_value(&v["predicate"]).unwrap();
        let again = Statement {
            type_: layer.type_,
            subject: layer.subject,
            predicate_type: layer.predicate_type,
            predicate,
        };
        assert_eq!(again.to_jcs().unwrap(), bytes, "{name}");
    }
}

/// The spec's openness rules: unknown members are ignored at the Statement
/// level (in-toto) and refused inside the predicate (docs/formats/receipts.md §3.1);
/// `null` is never an absent optional member.
#[test]
fn unknown_members_and_nulls() {
    use enclave::receipt::model::{Predicate, StatementLayer};
    let (_, bytes) = variants().into_iter().next().unwrap();
    let v = enclave::json::parse_strict(&bytes).unwrap();
    let mut top = v.clone();
    top["futureField"] = serde_json::json!({"x": 1});
    assert!(StatementLayer::from_value(&top).is_ok());
    for (path, value) in [
        ("/predicate", serde_json::json!({"extra": 1})),
        ("/predicate/job", serde_json::json!({"extra": 1})),
        ("/predicate/enclave/pcrs", serde_json::json!({"9": "00"})),
        ("/predicate/outputs/0/recipients/1/kms", serde_json::json!({"extra": 1})),
    ] {
        let mut bad = v.clone();
        let obj = bad.pointer_mut(path).unwrap().as_object_mut().unwrap();
        for (k, x) in value.as_object().unwrap() {
            obj.insert(k.clone(), x.clone());
        }
        let err = Predicate::from_value(&bad["predicate"]).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{path}: {err}");
    }
    let mut null = v.clone();
    null["predicate"]["enclave"]["eifSha384"] = serde_json::Value::Null;
    assert!(Predicate::from_value(&null["predicate"]).is_err());
    let mut clean = v.clone();
    clean["predicate"]["source"]["dirty"] = serde_json::Value::Bool(false);
    assert_eq!(
        Predicate::from_value(&clean["predicate"]).unwrap_err().to_string(),
        "source.dirty: present only as true"
    );
    let mut dup = v;
    dup["subject"] = serde_json::json!([dup["subject"][0], dup["subject"][0]]);
    assert_eq!(
        StatementLayer::from_value(&dup).unwrap_err().to_string(),
        "subject[1]: duplicate name"
    );
}

/// A shape problem names the member at fault.
#[test]
fn shape_problems_name_the_member() {
    use enclave::receipt::model::Predicate;
    let (_, bytes) = variants().into_iter().next().unwrap();
    let v = enclave::json::parse_strict(&bytes).unwrap();
    let mut bad = v.clone();
    bad["predicate"]["inputs"][0].as_object_mut().unwrap().remove("kms");
    assert_eq!(
        Predicate::from_value(&bad["predicate"]).unwrap_err().to_string(),
        "inputs[0]: missing field `kms`"
    );
    let mut bad = v.clone();
    bad["predicate"]["job"]["id"] = serde_json::Value::from(7);
    let err = Predicate::from_value(&bad["predicate"]).unwrap_err().to_string();
    assert!(err.starts_with("job: invalid type: integer `7`"), "{err}");
    let mut bad = v;
    bad["predicate"]["extra"] = serde_json::Value::from(1);
    let err = Predicate::from_value(&bad["predicate"]).unwrap_err().to_string();
    assert!(err.starts_with("predicate: unknown field `extra`"), "{err}");
}

/// `secretsSource` (receipt format 1.2, issue 21): one entry per input in
/// order, git members complete and of the object format's length, none on a
/// local entry; `null` and unknown members refused.
#[test]
fn secrets_source_schema_rules() {
    use enclave::receipt::model::Predicate;
    let (_, bytes) = variants().into_iter().find(|(n, _)| *n == "secrets_source_git").unwrap();
    let v = enclave::json::parse_strict(&bytes).unwrap();
    assert!(Predicate::from_value(&v["predicate"]).is_ok());
    let bad = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut b = v["predicate"].clone();
        f(&mut b);
        Predicate::from_value(&b).unwrap_err().to_string()
    };
    fn s(b: &mut serde_json::Value) -> &mut serde_json::Value {
        &mut b["secretsSource"][0]
    }
    type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|b| s(b)["input"] = "other".into()), "secretsSource[0].input"),
        (Box::new(|b| s(b)["origin"] = "svn".into()), "unknown variant"),
        (Box::new(|b| s(b)["origin"] = "local".into()), "a local input has no repository"),
        (
            Box::new(|b| {
                s(b).as_object_mut().unwrap().remove("blob");
            }),
            "secretsSource[0].blob",
        ),
        (Box::new(|b| s(b)["blob"] = "ab".repeat(32).into()), "secretsSource[0].blob"),
        (Box::new(|b| s(b)["objectFormat"] = "sha256".into()), "secretsSource[0].commit.gitCommit"),
        (Box::new(|b| s(b)["objectFormat"] = "md5".into()), "secretsSource[0].objectFormat"),
        (Box::new(|b| s(b)["path"] = "../x".into()), "secretsSource[0].path"),
        (Box::new(|b| s(b)["repository"] = "".into()), "secretsSource[0].repository"),
        (Box::new(|b| s(b)["repository"] = serde_json::Value::Null), "secretsSource"),
        (Box::new(|b| s(b)["extra"] = 1.into()), "unknown field"),
        (Box::new(|b| b["secretsSource"] = serde_json::json!([])), "one entry per input"),
    ];
    for (mutate, want) in cases {
        let err = bad(&*mutate);
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
}
