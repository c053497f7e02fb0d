//! The three delivery shapes read from the documented examples.

use cloudtrail::read::Shape;

use crate::common::{read_all, vector};

const ARN: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[test]
fn documented_decrypt_for_an_enclave() {
    let (r, evs) = read_all(&vector("aws-docs-decrypt-nitro.json"));
    let s = r.expect("reads");
    assert_eq!((s.shape, s.records, s.gzip, s.more_pages), (Shape::LogFile, 1, false, false));
    let e = &evs[0].1;
    assert_eq!(e.event_name, "Decrypt");
    assert_eq!(e.unix_time().expect("time"), 1_595_890_704);
    assert_eq!(e.principal(), "arn:aws:iam::111122223333:user/Alice");
    assert_eq!(e.source_ip_address.as_deref(), Some("192.0.2.0"));
    assert!(e.is_about(ARN));
    assert!(
        e.is_about("arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    );
    assert!(!e.is_about("arn:aws:kms:us-west-2:111122223333:key/other"));
    let rcp = e.recipient().expect("recipient");
    assert_eq!(rcp.module_id.as_deref(), Some("i-123456789abcde123-enc123456789abcde12"));
    // The documentation's placeholders are not measurements: nothing may match them.
    assert!(rcp.pcrs.is_empty());
    assert_eq!(rcp.image_digest, None);
    assert_eq!(rcp.undecodable.len(), 6);
}

#[test]
fn base64_measurements_become_hex() {
    let (r, evs) = read_all(&vector("decrypt-nitro-base64.json"));
    r.expect("reads");
    let rcp = evs[0].1.recipient().expect("recipient");
    let want: serde_json::Value = serde_json::from_slice(
        &std::fs::read(vector("decrypt-nitro-base64.pcrs.json")).expect("pcrs"),
    )
    .expect("json");
    assert_eq!(rcp.pcr(0), want["0"].as_str());
    assert_eq!(rcp.pcr(1), want["1"].as_str());
    assert_eq!(rcp.pcr(2), want["2"].as_str());
    assert_eq!(rcp.pcrs.len(), 5, "PCR1,2,3,4,8");
    assert!(rcp.undecodable.is_empty());
}

#[test]
fn documented_createkey_and_putkeypolicy_carry_the_policy() {
    let (r, evs) = read_all(&vector("aws-docs-createkey-putkeypolicy.json"));
    assert_eq!(r.expect("reads").records, 2);
    let names: Vec<&str> = evs.iter().map(|(_, e)| e.event_name.as_str()).collect();
    assert_eq!(names, ["CreateKey", "PutKeyPolicy"]);
    for (_, e) in &evs {
        assert!(e.is_about(ARN), "{}", e.event_name);
        let p = e.policy_text().expect("policy");
        assert!(p.contains("key-default-1"));
    }
    assert_eq!(evs[1].1.principal(), "arn:aws:sts::111122223333:assumed-role/Admin/Alice");
    // Offsets point at each record's opening brace.
    let body = std::fs::read(vector("aws-docs-createkey-putkeypolicy.json")).expect("read");
    for (off, _) in &evs {
        assert_eq!(body[*off as usize], b'{');
    }
}

#[test]
fn lookup_events_and_lake_results_hold_the_same_records() {
    let (r1, log) = read_all(&vector("decrypt-nitro-base64.json"));
    r1.expect("log");
    let (r2, look) = read_all(&vector("lookup-events.json"));
    assert_eq!(r2.expect("lookup").shape, Shape::LookupEvents);
    let (r3, lake) = read_all(&vector("lake-query-results.json"));
    assert_eq!(r3.expect("lake").shape, Shape::LakeResults);
    assert_eq!(look.len(), 2);
    assert_eq!(lake.len(), 2);
    assert_eq!(look[0].1, log[0].1);
    let (l, d) = (&lake[0].1, &log[0].1);
    assert_eq!(l.event_time, d.event_time);
    assert_eq!(l.recipient(), d.recipient());
    assert_eq!(l.key_arns(), d.key_arns());
    assert_eq!(l.principal(), d.principal());
    assert_eq!(lake[1].1.policy_text(), look[1].1.policy_text());
}

#[test]
fn next_token_says_more_pages_exist() {
    let data = br#"{"NextToken":"abc","Events":[]}"#;
    let (r, evs) = crate::common::read_all_bytes(data);
    let s = r.expect("reads");
    assert!(s.more_pages);
    assert!(evs.is_empty());
    let (r, _) = crate::common::read_all_bytes(br#"{"Events":[],"NextToken":"abc"}"#);
    assert!(r.expect("reads").more_pages);
}

#[test]
fn directory_tree_is_collected_with_digests_apart() {
    let d = tempfile::tempdir().expect("tmp");
    let logs = d.path().join("AWSLogs/111122223333/CloudTrail/us-west-2/2020/07/27");
    let digests = d.path().join("AWSLogs/111122223333/CloudTrail-Digest/us-west-2/2020/07/27");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::create_dir_all(&digests).expect("mkdir");
    std::fs::write(logs.join("b.json.gz"), b"x").expect("w");
    std::fs::write(logs.join("a.json"), b"x").expect("w");
    std::fs::write(logs.join("notes.txt"), b"x").expect("w");
    std::fs::write(digests.join("d.json.gz"), b"x").expect("w");
    let got = cloudtrail::read::collect(&[d.path().to_path_buf()]).expect("collect");
    assert_eq!(got.logs, vec![logs.join("a.json"), logs.join("b.json.gz")]);
    assert_eq!(got.digests, vec![digests.join("d.json.gz")]);
    assert_eq!(got.ignored, vec![logs.join("notes.txt")]);
}
