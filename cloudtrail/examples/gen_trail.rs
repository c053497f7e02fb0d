//! Generates a synthetic CloudTrail trail for the scale benchmark
//! (`scripts/bench-trail`, results in `BENCHMARKS.md`): delivery-shaped gzip
//! log files of a busy account over 30 days. Records are shaped like the
//! documented KMS examples (`testvectors/cloudtrail/`).
//!
//! Mix per 1000 records: 550 other services' calls, 380 attested Decrypts
//! of the audited key with the expected PCRs, 30 unattested Decrypts, 10
//! Decrypts from another image, 20 failed Decrypts, 10 calls on other keys;
//! a PutKeyPolicy at the start. Deterministic (a fixed xorshift seed).
//!
//! Usage: gen_trail OUT_DIR RECORDS [RECORDS_PER_FILE]

use std::path::PathBuf;

use cloudtrail::record::{format_time, measurement_b64, Event};
use cloudtrail::write::DeliveryWriter;

const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/0f0e0d0c-aaaa-bbbb-cccc-000000000001";
const OTHER_KEY: &str =
    "arn:aws:kms:us-east-1:111122223333:key/0f0e0d0c-aaaa-bbbb-cccc-000000000002";
/// 2026-11-01T00:00:00Z.
const START: i64 = 1_793_491_200;
const SPAN: i64 = 30 * 86_400;

fn pcr(seed: u8, i: u8) -> String {
    hex::encode([seed.wrapping_add(i).wrapping_add(1); 48])
}

fn event(v: serde_json::Value) -> Event {
    serde_json::from_value(v).expect("generator record")
}

fn kms(name: &str, t: i64, n: u64, key: &str, principal: &str) -> Event {
    event(serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:session", "arn": principal,
            "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLE"},
        "eventTime": format_time(t),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.0.0.5",
        "userAgent": "aws-sdk-rust/1.0",
        "requestParameters": {"keyId": key, "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"proofpack:recipients": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}},
        "responseElements": null,
        "requestID": format!("{n:08x}-1111-2222-3333-444455556666"),
        "eventID": format!("{n:08x}-aaaa-bbbb-cccc-ddddeeeeffff"),
        "readOnly": true,
        "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": key}],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    }))
}

fn attested(mut e: Event, seed: u8) -> Event {
    let b = |i| measurement_b64(&pcr(seed, i)).expect("48 bytes");
    e.additional_event_data = Some(serde_json::json!({"recipient": {
        "attestationDocumentModuleId": "i-0123456789abcdef0-enc0123456789abcdef",
        "attestationDocumentEnclaveImageDigest": b(0),
        "attestationDocumentEnclavePCR1": b(1),
        "attestationDocumentEnclavePCR2": b(2),
        "attestationDocumentEnclavePCR3": b(3),
        "attestationDocumentEnclavePCR4": b(4),
        "attestationDocumentEnclavePCR8": b(8)
    }}));
    e
}

fn other_service(t: i64, n: u64) -> Event {
    event(serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app/i-0abc",
            "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLE"},
        "eventTime": format_time(t),
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.0.1.17",
        "userAgent": "aws-sdk-java/2.20",
        "requestParameters": {"bucketName": "app-assets", "key": format!("assets/{n}.json"), "Host": "app-assets.s3.amazonaws.com"},
        "responseElements": null,
        "requestID": format!("{n:016X}"),
        "eventID": format!("{n:08x}-0000-1111-2222-333344445555"),
        "readOnly": true,
        "resources": [{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::app-assets/assets/{n}.json")}],
        "eventType": "AwsApiCall",
        "managementEvent": false,
        "recipientAccountId": "111122223333",
        "eventCategory": "Data"
    }))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().expect("usage: gen_trail OUT_DIR RECORDS [PER_FILE]"));
    let n: u64 = args.next().and_then(|s| s.parse().ok()).expect("RECORDS");
    let per_file: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let mut w = DeliveryWriter::new(&out, "111122223333", "us-east-1");
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut batch = Vec::with_capacity(per_file);
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": "Admin", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/key-admin"}, "NotAction": "kms:Decrypt", "Resource": "*"},
        {"Sid": "Enclave", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/pack"},
         "Action": "kms:Decrypt", "Resource": "*", "Condition": {"StringEqualsIgnoreCase": {
            "kms:RecipientAttestation:PCR0": pcr(1, 0), "kms:RecipientAttestation:PCR1": pcr(1, 1),
            "kms:RecipientAttestation:PCR2": pcr(1, 2)}}}]})
    .to_string();
    let mut put =
        kms("PutKeyPolicy", START - 60, 0, KEY, "arn:aws:iam::111122223333:role/key-admin");
    put.request_parameters =
        Some(serde_json::json!({"keyId": KEY, "policyName": "default", "policy": policy}));
    batch.push(put);
    for i in 0..n {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Times increase through the trail (files are delivered in order).
        let t = START - 30 + (i as i128 * (SPAN + 60) as i128 / n.max(1) as i128) as i64;
        let e = match rng % 1000 {
            0..=549 => other_service(t, i),
            550..=929 => attested(
                kms("Decrypt", t, i, KEY, "arn:aws:sts::111122223333:assumed-role/pack/i-0123"),
                1,
            ),
            930..=959 => {
                kms("Decrypt", t, i, KEY, "arn:aws:sts::111122223333:assumed-role/admin/alice")
            }
            960..=969 => attested(
                kms("Decrypt", t, i, KEY, "arn:aws:sts::111122223333:assumed-role/pack/i-0999"),
                7,
            ),
            970..=989 => {
                let mut e =
                    kms("Decrypt", t, i, KEY, "arn:aws:sts::111122223333:assumed-role/ci/runner");
                e.error_code = Some("AccessDeniedException".into());
                e.error_message = Some("not authorized".into());
                e
            }
            _ => kms("Decrypt", t, i, OTHER_KEY, "arn:aws:sts::111122223333:assumed-role/app/x"),
        };
        batch.push(e);
        if batch.len() >= per_file {
            w.write(&batch).expect("write");
            batch.clear();
        }
    }
    if !batch.is_empty() {
        w.write(&batch).expect("write");
    }
}
