//! The CloudTrail reconciliation (issue 16) over constructed trails and the
//! documented record shapes: each finding appears exactly when its cause is
//! in the trail, with its time, principal and address; a clean trail passes.

use std::path::{Path, PathBuf};

use cloudtrail::record::format_time;
use cloudtrail::Event;
use verifier::report::{Check, PolicyState, SubjectReport, UseKind, Verdict};
use verifier::trail::policy::Initial;
use verifier::trail::receipts::ReceiptWindow;
use verifier::trail::{checks::subjects, run, PinnedKey, TrailConfig, TrailInputError};

use crate::common::trail::*;

fn config(receipts: Vec<ReceiptWindow>) -> TrailConfig {
    TrailConfig {
        keys: vec![PinnedKey {
            key_arn: KEY.into(),
            expected: expected(1),
            expected_from: "fixture".into(),
            initial: None,
        }],
        from: T0,
        to: T0 + 3600,
        receipts,
        trusted: vec![ADMIN.into()],
        slack_secs: 5,
        max_quiet_secs: 600,
        digest_keys: vec![],
    }
}

fn receipt(start: i64, end: i64) -> ReceiptWindow {
    ReceiptWindow {
        path: "r1.json".into(),
        module_id: MODULE.into(),
        start,
        end,
        keys: vec![KEY.into()],
        request_ids: vec![],
        key_requests: vec![],
        pcrs: pcrs(1),
    }
}

/// The clean base: the key created pinned before the window, a heartbeat
/// every five minutes, and two receipted enclave decrypts.
fn clean() -> Vec<Event> {
    let mut create = kms_event("CreateKey", T0 - 60, ADMIN, "198.51.100.7");
    create.request_parameters = Some(serde_json::json!({"policy": pinned_policy(1)}));
    let mut v = vec![create];
    for t in (T0 - 30..=T0 + 3900).step_by(300) {
        v.push(heartbeat(t));
    }
    v.push(attested(kms_event("Decrypt", T0 + 100, ENCLAVE_ROLE, "10.0.0.5"), MODULE, &pcrs(1)));
    v.push(attested(kms_event("Decrypt", T0 + 2000, ENCLAVE_ROLE, "10.0.0.5"), MODULE, &pcrs(1)));
    v
}

fn receipts() -> Vec<ReceiptWindow> {
    vec![
        receipt(T0 + 99, T0 + 101),
        ReceiptWindow { path: "r2.json".into(), ..receipt(T0 + 1990, T0 + 2001) },
    ]
}

fn audit(dir: &Path, records: &[Event], cfg: &TrailConfig) -> SubjectReport {
    write_trail(dir, records, 7);
    let r = run(cfg, &[dir.to_path_buf()]).expect("run");
    let mut s = subjects(cfg, &r, &verifier::report::Checks::new());
    assert_eq!(s.len(), 1);
    s.remove(0)
}

fn check<'a>(s: &'a SubjectReport, id: &str) -> &'a Check {
    s.checks().map(|(_, c)| c).find(|c| c.id == id).unwrap_or_else(|| panic!("no check {id}"))
}

fn failing(s: &SubjectReport) -> Vec<String> {
    let mut v: Vec<String> =
        s.checks().filter(|(_, c)| c.required && c.is_fail()).map(|(_, c)| c.id.clone()).collect();
    v.sort();
    v
}

#[test]
fn clean_trail_passes() {
    let d = tempfile::tempdir().expect("tmp");
    let s = audit(d.path(), &clean(), &config(receipts()));
    assert_eq!(failing(&s), Vec::<String>::new(), "{s:#?}");
    assert_eq!(s.verdict(), Verdict::Pass);
    assert!(check(&s, "trail.uses.receipted").detail.starts_with("2 attested use(s)"));
    assert!(check(&s, "trail.policy").detail.contains("pinned throughout"));
    let tl = s.timeline.as_ref().expect("timeline");
    assert_eq!(tl.intervals.len(), 1);
    assert_eq!(tl.intervals[0].state, PolicyState::Pinned);
    assert_eq!(tl.marks.len(), 2);
}

#[test]
fn each_misuse_is_found_with_who_when_where() {
    let d = tempfile::tempdir().expect("tmp");
    let mut v = clean();
    // The genuine image, outside any receipt.
    v.push(attested(
        kms_event("GenerateDataKey", T0 + 700, ENCLAVE_ROLE, "10.0.0.5"),
        MODULE,
        &pcrs(1),
    ));
    // The unattested Decrypt, the other image, the denied attempt, the
    // unpinned interval and the grant.
    v.extend(misuses());
    let s = audit(d.path(), &v, &config(receipts()));
    assert_eq!(
        failing(&s),
        [
            "trail.policy",
            "trail.uses.unattested",
            "trail.uses.unreceipted",
            "trail.uses.wrong_image"
        ]
    );
    let un = &check(&s, "trail.uses.unattested").detail;
    assert!(un.starts_with("1 unattested"), "{un}");
    assert!(
        un.contains(&format!("{} Decrypt by {ADMIN} from 203.0.113.9", format_time(T0 + 500))),
        "{un}"
    );
    let wi = &check(&s, "trail.uses.wrong_image").detail;
    assert!(
        wi.contains(&format_time(T0 + 600))
            && wi.contains("i-0ffff-enc0ffff")
            && wi.contains("PCR0"),
        "{wi}"
    );
    let ur = &check(&s, "trail.uses.unreceipted").detail;
    assert!(
        ur.contains(&format!("{} GenerateDataKey by {ENCLAVE_ROLE}", format_time(T0 + 700))),
        "{ur}"
    );
    let fl = check(&s, "trail.uses.failed");
    assert!(
        !fl.required
            && fl.detail.contains("mallory")
            && fl.detail.contains("AccessDeniedException")
    );
    let p = &check(&s, "trail.policy").detail;
    assert!(!p.starts_with("CANNOT_DECIDE"), "{p}");
    assert!(
        p.contains(&format!(
            "NOT_PINNED from {} to {}",
            format_time(T0 + 1000),
            format_time(T0 + 1500)
        )),
        "{p}"
    );
    assert!(
        p.contains(&format!("opened by {} PutKeyPolicy by {ADMIN}", format_time(T0 + 1000))),
        "{p}"
    );
    assert!(p.contains(&format!("closed by {} PutKeyPolicy", format_time(T0 + 1500))), "{p}");
    let ke = check(&s, "trail.key.events");
    assert!(!ke.required && ke.detail.contains("CreateGrant"));
    let tl = s.timeline.as_ref().expect("timeline");
    let states: Vec<_> = tl.intervals.iter().map(|i| (i.start - T0, i.end - T0, i.state)).collect();
    assert_eq!(
        states,
        [
            (0, 1000, PolicyState::Pinned),
            (1000, 1500, PolicyState::NotPinned),
            (1500, 3600, PolicyState::Pinned)
        ]
    );
    let kinds: Vec<_> = tl.marks.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            UseKind::Receipted,
            UseKind::Unattested,
            UseKind::WrongImage,
            UseKind::Unreceipted,
            UseKind::Failed,
            UseKind::Receipted
        ]
    );
}

#[test]
fn uses_outside_the_window_or_of_other_keys_do_not_count() {
    let d = tempfile::tempdir().expect("tmp");
    let mut v = clean();
    v.push(kms_event("Decrypt", T0 - 10, ADMIN, "203.0.113.9"));
    v.push(kms_event("Decrypt", T0 + 3601, ADMIN, "203.0.113.9"));
    let mut other = kms_event("Decrypt", T0 + 50, ADMIN, "203.0.113.9");
    other.resources.clear();
    other.request_parameters =
        Some(serde_json::json!({"keyId": "arn:aws:kms:us-east-1:111122223333:key/other"}));
    v.push(other);
    let s = audit(d.path(), &v, &config(receipts()));
    assert_eq!(s.verdict(), Verdict::Pass, "{:?}", failing(&s));
}

#[test]
fn unknown_policy_at_the_start_cannot_be_decided_unless_given() {
    let d = tempfile::tempdir().expect("tmp");
    let v: Vec<Event> = clean().into_iter().filter(|e| e.event_name != "CreateKey").collect();
    let s = audit(d.path(), &v, &config(receipts()));
    assert_eq!(failing(&s), ["trail.policy"]);
    assert!(check(&s, "trail.policy").detail.starts_with("CANNOT_DECIDE"));
    let mut cfg = config(receipts());
    cfg.keys[0].initial = Some(Initial { state: PolicyState::Pinned, source: "given".into() });
    let d2 = tempfile::tempdir().expect("tmp");
    let s = audit(d2.path(), &v, &cfg);
    assert_eq!(s.verdict(), Verdict::Pass, "{:?}", failing(&s));
}

#[test]
fn coverage_gaps_are_cannot_decide() {
    let d = tempfile::tempdir().expect("tmp");
    // No heartbeat in the second half hour, none after the window.
    let v: Vec<Event> = clean()
        .into_iter()
        .filter(|e| e.unix_time().expect("t") < T0 + 1800 || e.event_name != "GetCallerIdentity")
        .collect();
    let s = audit(d.path(), &v, &config(receipts()));
    assert_eq!(failing(&s), ["trail.coverage.end", "trail.coverage.quiet"]);
    for id in ["trail.coverage.end", "trail.coverage.quiet"] {
        assert!(check(&s, id).detail.starts_with("CANNOT_DECIDE"), "{id}");
    }
    // A window starting before the logs.
    let mut cfg = config(receipts());
    cfg.from = T0 - 7200;
    let d2 = tempfile::tempdir().expect("tmp");
    let s = audit(d2.path(), &clean(), &cfg);
    assert!(failing(&s).contains(&"trail.coverage.start".to_string()));
}

#[test]
fn a_damaged_file_is_named_with_its_offset() {
    let d = tempfile::tempdir().expect("tmp");
    let files = write_trail(d.path(), &clean(), 7);
    let victim: &PathBuf = &files[1];
    let bytes = std::fs::read(victim).expect("read");
    std::fs::write(victim, &bytes[..bytes.len() / 2]).expect("write");
    let cfg = config(receipts());
    let r = run(&cfg, &[d.path().to_path_buf()]).expect("run");
    let s = subjects(&cfg, &r, &verifier::report::Checks::new()).remove(0);
    assert!(failing(&s).contains(&"trail.files".to_string()));
    let det = &check(&s, "trail.files").detail;
    assert!(det.starts_with("CANNOT_DECIDE"), "{det}");
    assert!(det.contains(&victim.display().to_string()), "{det}");
    assert!(det.contains("at byte"), "{det}");
}

#[test]
fn documented_placeholders_are_undecidable_and_base64_measurements_match() {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/cloudtrail");
    let key = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let pcrs_json = std::fs::read(vectors.join("decrypt-nitro-base64.pcrs.json")).expect("pcrs");
    let exp = verifier::kms_policy::expected::Expected::from_json(&pcrs_json, Some(&[0, 1, 2]))
        .expect("expected");
    let t = cloudtrail::record::parse_time("2020-07-27T22:58:24Z").expect("t");
    let cfg = TrailConfig {
        keys: vec![PinnedKey {
            key_arn: key.into(),
            expected: exp,
            expected_from: "vector".into(),
            initial: None,
        }],
        from: t - 1,
        to: t + 1,
        receipts: vec![],
        trusted: vec![],
        slack_secs: 0,
        max_quiet_secs: 3600,
        digest_keys: vec![],
    };
    let kinds = |file: &str| {
        let r = run(&cfg, &[vectors.join(file)]).expect("run");
        r.keys[0]
            .uses
            .iter()
            .filter(|(_, t)| t.count > 0)
            .map(|(k, t)| (*k, t.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds("aws-docs-decrypt-nitro.json"), [(UseKind::Undecidable, 1)]);
    for f in ["decrypt-nitro-base64.json", "lookup-events.json", "lake-query-results.json"] {
        assert_eq!(kinds(f), [(UseKind::Unreceipted, 1)], "{f}");
    }
}

#[test]
fn bad_windows_and_inputs_are_typed_errors() {
    let d = tempfile::tempdir().expect("tmp");
    let mut cfg = config(vec![]);
    cfg.to = cfg.from;
    assert!(matches!(run(&cfg, &[d.path().to_path_buf()]), Err(TrailInputError::EmptyWindow)));
    let cfg = config(vec![]);
    assert!(matches!(run(&cfg, &[d.path().to_path_buf()]), Err(TrailInputError::NoFiles)));
    assert!(matches!(run(&cfg, &[d.path().join("missing")]), Err(TrailInputError::Collect(_))));
    let mut cfg = config(vec![]);
    cfg.to = cfg.from + 6 * 366 * 86_400;
    assert!(matches!(run(&cfg, &[d.path().to_path_buf()]), Err(TrailInputError::WindowTooLong)));
}

#[test]
fn html_report_draws_the_timeline() {
    let d = tempfile::tempdir().expect("tmp");
    let mut v = clean();
    v.push(kms_event("Decrypt", T0 + 500, ADMIN, "203.0.113.9"));
    v.push(put_policy(T0 + 1000, &open_policy()));
    v.push(put_policy(T0 + 1500, &pinned_policy(1)));
    let s = audit(d.path(), &v, &config(receipts()));
    let report = verifier::report::AuditReport {
        tool: verifier::report::ToolInfo::current(),
        verified_at: "2026-01-01T00:00:00Z".into(),
        settings: verifier::report::Settings { command: "kms-trail".into(), ..Default::default() },
        subjects: vec![s],
    };
    let html = verifier::report::html::render(&report);
    assert_eq!(html.matches("<svg class=\"timeline\"").count(), 1);
    assert_eq!(html.matches("<rect class=\"iv pinned\"").count(), 2);
    assert_eq!(html.matches("<rect class=\"iv not_pinned\"").count(), 1);
    assert_eq!(html.matches("<g class=\"use receipted\"").count(), 2);
    assert_eq!(html.matches("<g class=\"use unattested\"").count(), 1);
    // Input-derived text is escaped inside the SVG too.
    assert!(html.contains(&format!("opened by {} PutKeyPolicy", format_time(T0 + 1000))));
    assert!(!html.contains("<script"));
}

#[test]
fn lake_query_selects_the_key_and_coverage_and_refuses_unsafe_values() {
    use verifier::trail::sql::{lake_query, SqlError};
    let q = lake_query("eds-1234", KEY, T0, T0 + 3600).expect("query");
    assert!(q.contains(&format!("IN ('{KEY}', '0f0e0d0c-aaaa-bbbb-cccc-000000000001')")), "{q}");
    assert!(q.contains("r.arn = '"), "{q}");
    assert!(q.contains("FROM eds-1234"));
    assert!(q.contains(&format!(
        "eventTime <= '{}'",
        format_time(T0 + 3600).replace('T', " ").replace('Z', "")
    )));
    assert!(q.contains("PARTITION BY date_trunc('minute', eventTime)"));
    assert_eq!(
        q.matches("json_format(CAST(additionalEventData AS JSON)) AS additionalEventData").count(),
        2
    );
    assert!(matches!(lake_query("eds", "x' OR '1'='1", T0, T0 + 1), Err(SqlError::Unsafe { .. })));
    assert!(matches!(lake_query("eds;DROP", KEY, T0, T0 + 1), Err(SqlError::Unsafe { .. })));
    assert_eq!(lake_query("eds", KEY, T0, T0), Err(SqlError::EmptyWindow));
}

#[test]
fn timeline_counts_are_exact_and_the_json_report_matches_its_schema() {
    let d = tempfile::tempdir().expect("tmp");
    let mut v = clean();
    for i in 0..250 {
        v.push(kms_event("Decrypt", T0 + 2100 + i, ADMIN, "203.0.113.9"));
    }
    let s = audit(d.path(), &v, &config(receipts()));
    let tl = s.timeline.clone().expect("timeline");
    assert!(tl.counts.contains(&(UseKind::Unattested, 250)));
    assert_eq!(
        tl.marks.iter().filter(|m| m.kind == UseKind::Unattested).count(),
        verifier::trail::MAX_LISTED
    );
    let report = verifier::report::AuditReport {
        tool: verifier::report::ToolInfo::current(),
        verified_at: "2026-01-01T00:00:00Z".into(),
        settings: verifier::report::Settings { command: "kms-trail".into(), ..Default::default() },
        subjects: vec![s],
    };
    let html = verifier::report::html::render(&report);
    assert!(html.contains("unattested 250"), "totals caption");
    assert!(html.contains("(marks: the first 202 of 252, by kind)"));
    let json: serde_json::Value =
        serde_json::from_str(&verifier::report::json::render(&report)).expect("json");
    assert_eq!(json["subjects"][0]["timeline"]["counts"]["unattested"], 250);
    assert_eq!(json["schema_version"], "1.1");
    // Validated by Python jsonschema against docs/schema/audit-report.v1.json
    // (installed by scripts/install-test-deps), as report_render does.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = d.path().join("trail-report.json");
    std::fs::write(&doc, verifier::report::json::render(&report)).expect("write");
    let out = std::process::Command::new("python3")
        .arg(root.join("tests/support/validate_report.py"))
        .arg("schema")
        .arg(root.join("../docs/schema/audit-report.v1.json"))
        .arg(&doc)
        .output()
        .expect("python3");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("Draft202012Validator"), "{text}");
}

#[test]
fn digest_files_without_keys_warn_and_unverifiable_ones_fail() {
    let d = tempfile::tempdir().expect("tmp");
    let logs = write_trail(d.path(), &clean(), 7);
    let ddir = d.path().join("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2025/12/01");
    std::fs::create_dir_all(&ddir).expect("mkdir");
    let listed: Vec<serde_json::Value> = logs
        .iter()
        .map(|p| {
            let s = cloudtrail::read::read_file_hashed(p, true, &mut |_| std::ops::ControlFlow::Continue(()))
                .expect("read");
            serde_json::json!({"s3Object": format!("x/{}", p.file_name().expect("n").to_string_lossy()),
                "hashValue": hex::encode(s.sha256.expect("hash")), "hashAlgorithm": "SHA-256"})
        })
        .collect();
    let digest = serde_json::json!({
        "digestStartTime": format_time(T0 - 3600), "digestEndTime": format_time(T0 + 7200),
        "digestS3Bucket": "b", "digestS3Object": "AWSLogs/d.json.gz",
        "digestSignatureAlgorithm": "SHA256withRSA", "previousDigestSignature": null, "logFiles": listed
    });
    std::fs::write(ddir.join("d.json"), digest.to_string()).expect("w");
    let mut cfg = config(receipts());
    let r = run(&cfg, &[d.path().to_path_buf()]).expect("run");
    let s = subjects(&cfg, &r, &verifier::report::Checks::new()).remove(0);
    let c = check(&s, "trail.integrity");
    assert!(!c.required && c.detail.contains("no --digest-public-key"), "{c:?}");
    // With a key, a digest whose signature is unknown cannot be decided.
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("key");
    cfg.digest_keys = vec![rsa::RsaPublicKey::from(&key)];
    let r = run(&cfg, &[d.path().to_path_buf()]).expect("run");
    let s = subjects(&cfg, &r, &verifier::report::Checks::new()).remove(0);
    assert!(failing(&s).contains(&"trail.integrity".to_string()));
    let c = check(&s, "trail.integrity");
    assert!(
        c.detail.starts_with("CANNOT_DECIDE") && c.detail.contains("signature is unknown"),
        "{c:?}"
    );
    // A wrong sidecar signature is a failure, not undecided.
    std::fs::write(ddir.join("d.json.sig"), "00".repeat(128)).expect("w");
    let r = run(&cfg, &[d.path().to_path_buf()]).expect("run");
    let s = subjects(&cfg, &r, &verifier::report::Checks::new()).remove(0);
    let c = check(&s, "trail.integrity");
    assert!(c.detail.contains("does not verify"), "{c:?}");
}

/// A receipt inside the window records its KMS calls' request ids; a trail
/// without them (another region's or account's, or missing events) cannot
/// pass, however clean it looks.
#[test]
fn receipt_calls_missing_from_the_trail_cannot_pass() {
    let mut rs = receipts();
    rs[0].key_requests = vec![(KEY.into(), format!("req-Decrypt-{}", T0 + 100))];
    let d = tempfile::tempdir().expect("tmp");
    let s = audit(d.path(), &clean(), &config(rs.clone()));
    assert_eq!(failing(&s), Vec::<String>::new(), "{s:#?}");
    assert!(check(&s, "trail.receipts.seen").detail.contains("all in the trail"));
    // The same receipt, and a trail that has everything but the key's uses.
    let d = tempfile::tempdir().expect("tmp");
    let other: Vec<Event> = clean().into_iter().filter(|e| e.event_name != "Decrypt").collect();
    let s = audit(d.path(), &other, &config(rs));
    assert_eq!(failing(&s), ["trail.receipts.seen"], "{s:#?}");
    let detail = &check(&s, "trail.receipts.seen").detail;
    assert!(detail.starts_with("CANNOT_DECIDE: 1 of the 1"), "{detail}");
    assert!(detail.contains(&format!("r1.json: request req-Decrypt-{}", T0 + 100)), "{detail}");
}
