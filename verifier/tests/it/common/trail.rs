//! CloudTrail fixtures for `kms_trail`: records built the way CloudTrail
//! writes them (`testvectors/cloudtrail/` shows the documented shapes),
//! written with the `cloudtrail` crate's delivery writer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cloudtrail::record::{format_time, measurement_b64};
use cloudtrail::Event;
use verifier::kms_policy::expected::Expected;
use verifier::kms_policy::render::{policy_text, RenderInput};

/// The account of every fixture.
pub const ACCOUNT: &str = "111122223333";
/// The pinned key.
pub const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/0f0e0d0c-aaaa-bbbb-cccc-000000000001";
/// The key administrator (trusted).
pub const ADMIN: &str = "arn:aws:iam::111122223333:role/key-admin";
/// The enclave's role.
pub const ENCLAVE_ROLE: &str = "arn:aws:iam::111122223333:role/pack";
/// The module id of the genuine enclave.
pub const MODULE: &str = "i-0123456789abcdef0-enc0123456789abcdef";
/// Window start used by the scenarios.
pub const T0: i64 = 1_764_547_200; // 2025-12-01T00:00:00Z

/// PCR0/1/2 of "the image": distinct fixed values.
pub fn pcrs(seed: u8) -> [String; 3] {
    [0u8, 1, 2].map(|i| hex::encode([seed.wrapping_add(i).wrapping_add(1); 48]))
}

/// The expected set of `pcrs(seed)`.
pub fn expected(seed: u8) -> Expected {
    let p = pcrs(seed);
    Expected { pcrs: (0u8..3).map(|i| (i, vec![p[i as usize].clone()])).collect() }
}

/// A policy pinning `pcrs(seed)`.
pub fn pinned_policy(seed: u8) -> String {
    let p = pcrs(seed);
    let input = RenderInput {
        pcrs: (0u8..3).map(|i| (i, p[i as usize].clone())).collect::<BTreeMap<_, _>>(),
        enclave_role: ENCLAVE_ROLE.into(),
        admin: ADMIN.into(),
        producers: Vec::new(),
        immutable: false,
        require_context: Vec::new(),
    };
    policy_text(&input).expect("render")
}

/// A policy letting the whole account decrypt (the default key policy).
pub fn open_policy() -> String {
    verifier::trail::policy::default_policy(ACCOUNT)
}

/// A record as CloudTrail writes one for a KMS call on [`KEY`].
pub fn kms_event(name: &str, t: i64, principal: &str, ip: &str) -> Event {
    serde_json::from_value(serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": principal, "accountId": ACCOUNT, "principalId": "AROAEXAMPLE:s"},
        "eventTime": format_time(t),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": "fixture",
        "requestParameters": {"keyId": KEY, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        "responseElements": null,
        "requestID": format!("req-{name}-{t}"),
        "eventID": format!("ev-{name}-{t}"),
        "readOnly": true,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY}],
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT
    }))
    .expect("event")
}

/// An attested call: `additionalEventData.recipient` with base64 measurements.
pub fn attested(mut e: Event, module: &str, p: &[String; 3]) -> Event {
    let b = |h: &str| measurement_b64(h).expect("48 bytes");
    e.additional_event_data = Some(serde_json::json!({"recipient": {
        "attestationDocumentModuleId": module,
        "attestationDocumentEnclaveImageDigest": b(&p[0]),
        "attestationDocumentEnclavePCR1": b(&p[1]),
        "attestationDocumentEnclavePCR2": b(&p[2]),
    }}));
    e
}

/// A failed call.
pub fn failed(mut e: Event, code: &str) -> Event {
    e.error_code = Some(code.into());
    e.error_message = Some("denied by the fixture".into());
    e
}

/// A policy change carrying `policy`.
pub fn put_policy(t: i64, policy: &str) -> Event {
    let mut e = kms_event("PutKeyPolicy", t, ADMIN, "198.51.100.7");
    e.request_parameters =
        Some(serde_json::json!({"keyId": KEY, "policyName": "default", "policy": policy}));
    e.read_only = Some(false);
    e
}

/// A non-KMS record (coverage evidence only).
pub fn heartbeat(t: i64) -> Event {
    serde_json::from_value(serde_json::json!({
        "eventTime": format_time(t),
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/ops/x"}
    }))
    .expect("event")
}

/// Writes records as delivery-shaped files (batches of `per_file`) under `root`.
pub fn write_trail(root: &Path, records: &[Event], per_file: usize) -> Vec<PathBuf> {
    let mut w = cloudtrail::write::DeliveryWriter::new(root, ACCOUNT, "us-east-1");
    records.chunks(per_file.max(1)).map(|c| w.write(c).expect("write")).collect()
}

/// The misuses both trail tests plant after the clean part: an
/// administrator's unattested Decrypt, a Decrypt from another image, a
/// denied attempt, the policy unpinned for an interval and restored, and a
/// grant.
pub fn misuses() -> Vec<Event> {
    vec![
        kms_event("Decrypt", T0 + 500, ADMIN, "203.0.113.9"),
        attested(
            kms_event("Decrypt", T0 + 600, ENCLAVE_ROLE, "10.0.0.6"),
            "i-0ffff-enc0ffff",
            &pcrs(9),
        ),
        failed(
            kms_event("Decrypt", T0 + 800, "arn:aws:iam::111122223333:user/mallory", "192.0.2.66"),
            "AccessDeniedException",
        ),
        put_policy(T0 + 1000, &open_policy()),
        put_policy(T0 + 1500, &pinned_policy(1)),
        kms_event("CreateGrant", T0 + 1200, ADMIN, "198.51.100.7"),
    ]
}
