//! The CloudTrail the server writes (issue 16): one delivery-shaped file per
//! call, read back by the `cloudtrail` crate: who, when, from where, the
//! outcome, the policy text, the key, and the request id the client saw.
use std::ops::ControlFlow;

use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::secret::SecretBytes;
use kms_local::http::{CredentialsFile, Principal};
use kms_local::{Config, LogTo};
use serde_json::json;

fn records(dir: &std::path::Path) -> Vec<cloudtrail::Event> {
    let inputs = cloudtrail::read::collect(&[dir.to_path_buf()]).unwrap();
    assert!(inputs.ignored.is_empty(), "{:?}", inputs.ignored);
    let mut out = Vec::new();
    for f in &inputs.logs {
        let rel = f.strip_prefix(dir).unwrap().display().to_string();
        assert!(rel.starts_with("AWSLogs/111122223333/CloudTrail/us-east-1/"), "{rel}");
        cloudtrail::read::read_file(f, &mut |l| {
            out.push(l.event);
            ControlFlow::Continue(())
        })
        .unwrap();
    }
    out.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    out
}

#[test]
fn every_call_becomes_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let creds = CredentialsFile {
        principals: vec![Principal {
            access_key_id: "AKIDTRAIL".into(),
            secret_access_key: "trail-secret".into(),
            principal_arn: "arn:aws:iam::111122223333:user/alice".into(),
            iam_allow_all: true,
        }],
    };
    let trail = dir.path().join("trail");
    let mut cfg = Config::new(dir.path().join("state"), creds);
    cfg.log = LogTo::File(dir.path().join("log"));
    cfg.trail = Some(trail.clone());
    cfg.clock = kms_local::Clock::File(dir.path().join("clock"));
    std::fs::write(dir.path().join("clock"), "1764547200").unwrap();
    let server = kms_local::spawn(cfg).unwrap();
    let c = KmsHttpClient::new(KmsHttpConfig::new(
        server.url(),
        "us-east-1",
        Credentials {
            access_key_id: "AKIDTRAIL".into(),
            secret_access_key: SecretBytes::from_slice(b"trail-secret"),
            session_token: None,
        },
    ))
    .unwrap();
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "All", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "kms:*", "Resource": "*"}]})
    .to_string();
    let (md, rid_create) = c.call_traced("CreateKey", &json!({"Policy": policy}));
    let arn = md.unwrap()["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let ct = c.call("Encrypt", &json!({"KeyId": arn, "Plaintext": "c2VjcmV0"})).unwrap();
    let (pt, _) = c.call_traced("Decrypt", &json!({"CiphertextBlob": ct["CiphertextBlob"]}));
    assert_eq!(pt.unwrap()["Plaintext"], "c2VjcmV0");
    let (bad, rid_bad) = c.call_traced("DescribeKey", &json!({"KeyId": "no-such-key"}));
    assert!(bad.is_err());
    drop(server);

    let recs = records(&trail);
    assert_eq!(recs.len(), 4);
    let by_rid = |rid: &Option<String>| recs.iter().find(|r| &r.request_id == rid).unwrap();
    let create = by_rid(&rid_create);
    assert_eq!(create.event_name, "CreateKey");
    assert_eq!(create.event_time, "2025-12-01T00:00:00Z");
    assert_eq!(create.principal(), "arn:aws:iam::111122223333:user/alice");
    assert_eq!(create.user_identity.type_.as_deref(), Some("IAMUser"));
    assert_eq!(create.user_identity.access_key_id.as_deref(), Some("AKIDTRAIL"));
    assert_eq!(create.source_ip_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(create.policy_text(), Some(policy.as_str()));
    assert!(create.is_about(&arn));
    let decrypt = recs.iter().find(|r| r.event_name == "Decrypt").unwrap();
    assert!(decrypt.is_about(&arn), "the key is named from the ciphertext");
    assert!(decrypt.recipient().is_none());
    assert!(!decrypt.failed());
    let text = serde_json::to_string(&recs).unwrap();
    assert!(!text.contains("c2VjcmV0"), "no plaintext in the trail");
    assert!(!text.contains(ct["CiphertextBlob"].as_str().unwrap()), "no ciphertext in the trail");
    let failed = by_rid(&rid_bad);
    assert_eq!(failed.error_code.as_deref(), Some("NotFoundException"));
    assert!(failed.resources.is_empty());
}

#[test]
fn an_unwritable_trail_fails_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let creds = CredentialsFile {
        principals: vec![Principal {
            access_key_id: "AKIDTRAIL".into(),
            secret_access_key: "trail-secret".into(),
            principal_arn: "arn:aws:iam::111122223333:user/alice".into(),
            iam_allow_all: true,
        }],
    };
    // A file where the trail directory should be.
    let blocker = dir.path().join("trail");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let mut cfg = Config::new(dir.path().join("state"), creds);
    cfg.log = LogTo::File(dir.path().join("log"));
    cfg.trail = Some(blocker);
    let server = kms_local::spawn(cfg).unwrap();
    let c = KmsHttpClient::new(KmsHttpConfig::new(
        server.url(),
        "us-east-1",
        Credentials {
            access_key_id: "AKIDTRAIL".into(),
            secret_access_key: SecretBytes::from_slice(b"trail-secret"),
            session_token: None,
        },
    ))
    .unwrap();
    let e = c.call("ListKeys", &json!({})).unwrap_err();
    assert!(e.to_string().contains("CloudTrail record could not be written"), "{e}");
}
