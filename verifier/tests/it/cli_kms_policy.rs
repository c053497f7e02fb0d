//! `proofpack kms-policy` end to end: exit codes, JSON output, rendering
//! round trips through `check`, and `simulate` with verified documents
//! (a real AWS document, and a test-CA document with chosen PCRs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use attestation::testca::{DocSpec, TestCa, TestCaConfig};
use build_spec::pcr::measurements::parse_pcr_hex;
use build_spec::pcr::Measurements;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vec_dir() -> PathBuf {
    repo().join("testvectors/kms-policies")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run proofpack")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(rel: &str) -> String {
    vec_dir().join(rel).display().to_string()
}

/// The test-vector expected set as nitro-cli measurement JSON.
fn expected_measurements(dir: &Path) -> (PathBuf, Measurements) {
    let pcrs: Value =
        serde_json::from_slice(&std::fs::read(vec_dir().join("aws-spec/pcrs.json")).expect("pcrs"))
            .expect("json");
    let mut m = Measurements::new();
    for i in 0..3u8 {
        let hex = pcrs["expected"][i.to_string()].as_str().expect("hex");
        m.insert(i, parse_pcr_hex(hex).expect("pcr"));
    }
    let path = dir.join("measurements.json");
    std::fs::write(&path, m.to_nitro_json()).expect("write");
    (path, m)
}

#[test]
fn check_exit_codes_follow_the_verdict() {
    let pcrs = p("aws-spec/pcrs.json");
    let cases = [
        ("aws-spec/02-immutable-template.json", 0, "PINNED"),
        ("aws-spec/05-ifexists-pin.json", 1, "NOT_PINNED"),
        ("aws-spec/16-typo-key-name.json", 1, "LOCKOUT_RISK"),
        ("aws-spec/21-duplicate-condition.json", 1, "CANNOT_DECIDE"),
    ];
    for (file, want, verdict) in cases {
        let o = run(&["kms-policy", "check", &p(file), "--expect-pcrs", &pcrs]);
        assert_eq!(code(&o), want, "{file}: {}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains(verdict), "{file}: {}", stdout(&o));
    }
    // JSON output: one document with schema, verdict, findings with ids and fixes.
    let o = run(&[
        "kms-policy",
        "check",
        &p("aws-spec/03-aws-doc-shape-with-default-root.json"),
        "--expect-pcrs",
        &pcrs,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["schema"], "proofpack/kms-policy-check/v1");
    assert_eq!(v["verdict"], "NOT_PINNED");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"kms.policy.account-root-delegation"), "{ids:?}");
    assert!(ids.contains(&"kms.policy.partial-pcr-pin"), "{ids:?}");
    assert!(v["findings"][0]["fix"].as_str().is_some_and(|f| !f.is_empty()));
    assert!(!v["witnesses"].as_array().expect("witnesses").is_empty());
    // Trusting the admin turns the governed template into PINNED.
    let o = run(&[
        "kms-policy",
        "check",
        &p("aws-spec/01-governed-template.json"),
        "--expect-pcrs",
        &pcrs,
        "--trusted",
        "arn:aws:iam::111122223333:role/key-admin",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn check_rejects_bad_input_with_exit_2() {
    let pcrs = p("aws-spec/pcrs.json");
    for (file, needle) in [
        ("invalid/truncated.json", "unexpected end of input"),
        ("invalid/oversize-33000-bytes.json", "32768-byte KMS key-policy limit"),
        ("invalid/effect-not-string.json", "must be a string"),
        ("invalid/charset-euro-sign.json", "outside the set KMS accepts"),
    ] {
        let o = run(&["kms-policy", "check", &p(file), "--expect-pcrs", &pcrs]);
        assert_eq!(code(&o), 2, "{file}");
        assert!(stderr(&o).contains(needle), "{file}: {}", stderr(&o));
    }
    // Oversize can be analysed on request, with a warning.
    let o = run(&[
        "kms-policy",
        "check",
        &p("invalid/oversize-33000-bytes.json"),
        "--expect-pcrs",
        &pcrs,
        "--allow-oversize",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("OVERSIZE"));
    // Missing expected PCRs: usage error.
    let o = run(&["kms-policy", "check", &p("aws-spec/02-immutable-template.json")]);
    assert_eq!(code(&o), 2);
    // Expected PCRs of the wrong shape.
    let o = run(&[
        "kms-policy",
        "check",
        &p("aws-spec/02-immutable-template.json"),
        "--expect-pcrs",
        &p("invalid/truncated.json"),
    ]);
    assert_eq!(code(&o), 2);
    // A missing file.
    let o = run(&["kms-policy", "check", "/nonexistent/policy.json", "--expect-pcrs", &pcrs]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("/nonexistent/policy.json"));
}

#[test]
fn render_round_trips_through_check() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mpath, _) = expected_measurements(dir.path());
    let m = mpath.display().to_string();
    let role = "arn:aws:iam::111122223333:role/enclave-parent";
    let admin = "arn:aws:iam::111122223333:role/key-admin";
    let o = run(&[
        "kms-policy",
        "render",
        "--pcrs",
        &m,
        "--enclave-role",
        role,
        "--admin",
        admin,
        "--producer",
        "arn:aws:iam::111122223333:role/producer",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, o.stdout).expect("write");
    let pol = policy.display().to_string();
    let o = run(&[
        "kms-policy",
        "check",
        &pol,
        "--expect-pcrs",
        &m,
        "--trusted",
        admin,
        "--principal",
        role,
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let o = run(&["kms-policy", "check", &pol, "--expect-pcrs", &m]);
    assert_eq!(code(&o), 1, "admin not trusted: PutKeyPolicy is a bypass");
    // The shared vector set accepts the same policy (same PCR values).
    let o = run(&[
        "kms-policy",
        "check",
        &pol,
        "--expect-pcrs",
        &p("aws-spec/pcrs.json"),
        "--trusted",
        admin,
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // Immutable: pinned with nobody trusted.
    let o = run(&[
        "kms-policy",
        "render",
        "--pcrs",
        &m,
        "--enclave-role",
        role,
        "--admin",
        admin,
        "--immutable",
    ]);
    std::fs::write(&policy, o.stdout).expect("write");
    let o = run(&["kms-policy", "check", &pol, "--expect-pcrs", &m]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // Terraform.
    let o = run(&[
        "kms-policy",
        "render",
        "--pcrs",
        &m,
        "--enclave-role",
        role,
        "--admin",
        admin,
        "--format",
        "terraform",
    ]);
    assert_eq!(code(&o), 0);
    let tf = stdout(&o);
    assert!(tf.contains("data \"aws_iam_policy_document\" \"enclave_key\""));
    assert_eq!(tf.matches("statement {").count(), 6);
    // Bad principal.
    let o = run(&["kms-policy", "render", "--pcrs", &m, "--enclave-role", "*", "--admin", admin]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("enclave role"));
}

#[test]
fn render_and_check_from_an_eif() {
    let eif = repo().join("testvectors/eif/tiny/image.eif").display().to_string();
    let role = "arn:aws:iam::111122223333:role/enclave-parent";
    let admin = "arn:aws:iam::111122223333:role/key-admin";
    let o = run(&[
        "kms-policy",
        "render",
        "--eif",
        &eif,
        "--enclave-role",
        role,
        "--admin",
        admin,
        "--immutable",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dir = tempfile::tempdir().expect("tmp");
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, o.stdout).expect("write");
    let pol = policy.display().to_string();
    let o = run(&["kms-policy", "check", &pol, "--eif", &eif]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // The same policy checked against another image is not pinned to it.
    let other = repo().join("testvectors/eif/v1-one-ramdisk/pcrs.json");
    let o = run(&["kms-policy", "check", &pol, "--expect-pcrs", &other.display().to_string()]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("LOCKOUT_RISK") || stdout(&o).contains("NOT_PINNED"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn simulate_uses_only_verified_documents() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, m) = expected_measurements(dir.path());
    let t0: u64 = 1_760_000_000;
    let ca = TestCa::generate(&TestCaConfig::starting_at(t0)).expect("ca");
    let root = dir.path().join("root.pem");
    std::fs::write(&root, ca.root_pem()).expect("root");
    let good = dir.path().join("good.cbor");
    std::fs::write(&good, ca.mint(&DocSpec::new((t0 + 60) * 1000, m.clone())).expect("mint"))
        .expect("write");
    let mut other = m.clone();
    other.insert(2, [0x11; 48]);
    let bad_pcrs = dir.path().join("other.cbor");
    std::fs::write(&bad_pcrs, ca.mint(&DocSpec::new((t0 + 60) * 1000, other)).expect("mint"))
        .expect("write");
    let policy = p("aws-spec/01-governed-template.json");
    let role = "arn:aws:iam::111122223333:role/enclave-parent";
    let root_s = root.display().to_string();

    let o = run(&[
        "kms-policy",
        "simulate",
        &policy,
        "--action",
        "kms:Decrypt",
        "--principal",
        role,
        "--attestation",
        &good.display().to_string(),
        "--root",
        &root_s,
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Allow"));
    assert!(stdout(&o).contains("* [0] \"EnclaveUse\""), "{}", stdout(&o));

    let o = run(&[
        "kms-policy",
        "simulate",
        &policy,
        "--action",
        "kms:Decrypt",
        "--principal",
        role,
        "--attestation",
        &bad_pcrs.display().to_string(),
        "--root",
        &root_s,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["decision"]["kind"], "ExplicitDeny");
    assert_eq!(v["decision"]["deciding"], serde_json::json!([5]));

    // Without the test root the document does not verify: its PCRs are not used.
    let o = run(&[
        "kms-policy",
        "simulate",
        &policy,
        "--action",
        "kms:Decrypt",
        "--principal",
        role,
        "--attestation",
        &good.display().to_string(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));

    // A tampered document does not verify either.
    let mut bytes = std::fs::read(&good).expect("read");
    let n = bytes.len();
    bytes[n - 5] ^= 1;
    std::fs::write(&good, bytes).expect("write");
    let o = run(&[
        "kms-policy",
        "simulate",
        &policy,
        "--action",
        "kms:Decrypt",
        "--principal",
        role,
        "--attestation",
        &good.display().to_string(),
        "--root",
        &root_s,
    ]);
    assert_eq!(code(&o), 2);

    // What-if PCRs and context keys.
    let (mpath, _) = expected_measurements(dir.path());
    let o = run(&[
        "kms-policy",
        "simulate",
        &policy,
        "--action",
        "kms:Decrypt",
        "--principal",
        role,
        "--pcrs",
        &mpath.display().to_string(),
    ]);
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).contains("not from a verified document"));
    let o = run(&[
        "kms-policy",
        "simulate",
        &p("aws-spec/13-creategrant-ops-whitelist.json"),
        "--action",
        "kms:CreateGrant",
        "--principal",
        "arn:aws:iam::111122223333:role/producer",
        "--context-list",
        "kms:GrantOperations=Encrypt,Decrypt",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("condition false: ForAllValues:StringEquals kms:GrantOperations"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn simulate_with_a_real_aws_document() {
    // A production document signed by AWS (2022): its PCRs are not our
    // vectors' PCRs, so the governed template denies it, per PCR guard.
    let doc = repo().join("testvectors/attestation/2022-10-13_us-east-1_evervault_nondebug.cbor");
    let o = run(&[
        "kms-policy",
        "simulate",
        &p("aws-spec/01-governed-template.json"),
        "--action",
        "kms:Decrypt",
        "--principal",
        "arn:aws:iam::111122223333:role/enclave-parent",
        "--attestation",
        &doc.display().to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["decision"]["kind"], "ExplicitDeny");
    assert_eq!(v["decision"]["deciding"], serde_json::json!([3, 4, 5]));
    assert_eq!(
        v["attestation_keys"].as_object().map(|m| m.len()),
        Some(17),
        "16 PCRs + ImageSha384"
    );
}

/// Issue 19's example, end to end: a pinned policy plus an Allow comparing
/// PCR0 with `${kms:RecipientAttestation:PCR8}` is NOT_PINNED (exit 1) with
/// a debug-mode witness, and `simulate` agrees that an all-zero document
/// decrypts. The same for a cross-service key and for case-variant keys.
#[test]
fn issue_19_wrong_pass_classes_fail_check() {
    let dir = tempfile::tempdir().expect("tmp");
    let (expect, m) = expected_measurements(dir.path());
    let role = "arn:aws:iam::111122223333:role/pack-enclave";
    let pin = |i: u8| m.hex(i).expect("pcr");
    let base = format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{role}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR0":"{}","kms:RecipientAttestation:PCR1":"{}","kms:RecipientAttestation:PCR2":"{}"}}}}}}"#,
        pin(0),
        pin(1),
        pin(2)
    );
    let cases = [
        (
            "variable",
            format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{role}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEqualsIgnoreCase":{{"kms:RecipientAttestation:PCR0":"${{kms:RecipientAttestation:PCR8}}"}}}}}}"#
            ),
            "NOT_PINNED",
        ),
        (
            "cross-service",
            format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{role}"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"ArnEquals":{{"ec2:SourceInstanceArn":"arn:aws:ec2:us-east-1:111122223333:instance/i-0abc"}}}}}}"#
            ),
            "NOT_PINNED",
        ),
        (
            "case-variant",
            base.replace(
                r#""kms:RecipientAttestation:PCR1":"#,
                &format!(
                    r#""kms:recipientattestation:pcr0":"{}","kms:RecipientAttestation:PCR1":"#,
                    "9".repeat(96)
                ),
            ),
            "CANNOT_DECIDE",
        ),
    ];
    for (name, extra, verdict) in cases {
        let text = format!(r#"{{"Version":"2012-10-17","Statement":[{base},{extra}]}}"#);
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, &text).expect("write");
        let path = path.display().to_string();
        let expect = expect.display().to_string();
        let o = run(&["kms-policy", "check", "--expect-pcrs", &expect, "--format", "json", &path]);
        assert_eq!(code(&o), 1, "{name}: {}{}", stdout(&o), stderr(&o));
        let j: Value = serde_json::from_str(&stdout(&o)).expect("json");
        assert_eq!(j["verdict"], verdict, "{name}: {j:#}");
        if verdict == "NOT_PINNED" {
            let ws = j["witnesses"].as_array().expect("witnesses");
            assert!(
                ws.iter().any(|w| w["confirmed"] == true && w["documented"] == true),
                "{name}: {j:#}"
            );
        }
    }
    // simulate: a debug-mode document (all zeros) decrypts under the variable policy.
    let zeros = dir.path().join("zeros.json");
    let mut z = Measurements::new();
    for i in 0..16u8 {
        z.insert(i, [0u8; 48]);
    }
    std::fs::write(&zeros, z.to_nitro_json()).expect("write");
    let o = run(&[
        "kms-policy",
        "simulate",
        "--principal",
        role,
        "--action",
        "kms:Decrypt",
        "--pcrs",
        &zeros.display().to_string(),
        &dir.path().join("variable.json").display().to_string(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}
