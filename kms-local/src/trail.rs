//! CloudTrail for every call the server serves (issue 16), so tests and the
//! demo audit a real trail: one record per call in the documented format
//! (`docs/notes/cloudtrail.md` §2), written as a delivery-shaped log file
//! by the `cloudtrail` crate's writer (one file per call, renamed into
//! place, so a reader never sees half a file).
//!
//! What a record carries: who (`userIdentity` from the principal ARN and
//! access key id), when (the server's clock), from where (the client's
//! address), the operation, its non-secret parameters (key id, encryption
//! context, the policy text of `CreateKey`/`PutKeyPolicy`, ...), the outcome
//! (`errorCode`/`errorMessage` for a failure), the key in `resources`, and
//! for a call with a verified Recipient document
//! `additionalEventData.recipient` with the module id, the image digest and
//! the PCRs in base64, as KMS logs them. Never key material, plaintext,
//! ciphertext or the attestation document itself.

use std::path::PathBuf;

use cloudtrail::record::{format_time, measurement_b64, Event, Resource, UserIdentity};
use cloudtrail::write::{DeliveryWriter, WriteError};
use serde_json::{Map, Value};

use super::service::KmsFault;
use super::{Caller, VerifiedRecipient};

/// Request members copied into `requestParameters` (camelCased): never
/// plaintext, ciphertext or the Recipient document.
const PARAMETERS: &[&str] = &[
    "KeyId",
    "EncryptionContext",
    "EncryptionAlgorithm",
    "KeySpec",
    "NumberOfBytes",
    "Policy",
    "PolicyName",
    "Description",
    "KeyUsage",
    "CustomerMasterKeySpec",
    "BypassPolicyLockoutSafetyCheck",
    "PendingWindowInDays",
    "GrantTokens",
];

/// Operations that change nothing.
const READ_ONLY: &[&str] =
    &["Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey", "ListKeys", "GetKeyPolicy"];

fn camel(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// A JSON value with every object member camelCased (CloudTrail's spelling
/// of response elements such as `keyMetadata.keyId`).
fn camel_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (camel(k), camel_value(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(camel_value).collect()),
        other => other.clone(),
    }
}

fn identity(caller: &Caller, account: &str) -> UserIdentity {
    let arn = &caller.principal_arn;
    let type_ = if arn.contains(":assumed-role/") {
        "AssumedRole"
    } else if arn.contains(":user/") {
        "IAMUser"
    } else if arn.ends_with(":root") {
        "Root"
    } else if arn.contains(":role/") {
        "Role"
    } else {
        "Unknown"
    };
    UserIdentity {
        type_: Some(type_.into()),
        principal_id: None,
        arn: Some(arn.clone()),
        account_id: arn
            .split(':')
            .nth(4)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .or(Some(account.into())),
        access_key_id: Some(caller.access_key_id.clone()).filter(|a| !a.is_empty()),
        invoked_by: None,
    }
}

/// One served call, as the trail needs it.
#[derive(Debug)]
pub struct Call<'a> {
    /// The caller.
    pub caller: &'a Caller,
    /// `CreateKey`, `Decrypt`, ...
    pub operation: &'a str,
    /// The request body.
    pub body: &'a Value,
    /// The response or the fault.
    pub outcome: Result<&'a Value, &'a KmsFault>,
    /// The key the call was about, when known.
    pub key_arn: Option<String>,
    /// The verified Recipient document, when the request carried one.
    pub recipient: Option<&'a VerifiedRecipient>,
    /// Unix seconds.
    pub time: i64,
}

/// The record of one call.
pub fn record(call: &Call<'_>, region: &str, account: &str) -> Event {
    let mut params = Map::new();
    for k in PARAMETERS {
        if let Some(v) = call.body.get(*k).filter(|v| !v.is_null()) {
            params.insert(camel(k), v.clone());
        }
    }
    let response = match (call.operation, call.outcome) {
        ("CreateKey" | "DescribeKey" | "ScheduleKeyDeletion" | "CancelKeyDeletion", Ok(v)) => {
            let mut r = camel_value(v);
            // Never the key material, none is in these responses; drop any
            // member that could carry a blob all the same.
            if let Some(m) = r.as_object_mut() {
                m.retain(|k, _| {
                    k != "plaintext" && k != "ciphertextBlob" && k != "ciphertextForRecipient"
                });
            }
            Some(r)
        }
        _ => None,
    };
    let additional = call.recipient.map(|r| {
        let mut m = Map::new();
        m.insert("attestationDocumentModuleId".into(), Value::String(r.module_id.clone()));
        if let Some(d) = r.pcrs.hex(0).and_then(|h| measurement_b64(&h)) {
            m.insert("attestationDocumentEnclaveImageDigest".into(), Value::String(d));
        }
        for i in [1u8, 2, 3, 4, 8] {
            if let Some(v) = r.pcrs.hex(i).and_then(|h| measurement_b64(&h)) {
                m.insert(format!("attestationDocumentEnclavePCR{i}"), Value::String(v));
            }
        }
        serde_json::json!({ "recipient": m })
    });
    let (error_code, error_message) = match call.outcome {
        Ok(_) => (None, None),
        Err(f) => (Some(f.code.to_string()), Some(f.message.clone())),
    };
    Event {
        event_version: Some("1.08".into()),
        user_identity: identity(call.caller, account),
        event_time: format_time(call.time),
        event_source: "kms.amazonaws.com".into(),
        event_name: call.operation.to_string(),
        aws_region: Some(region.into()),
        source_ip_address: call.caller.source_ip.clone(),
        user_agent: Some("proofpack-kms-local client".into()),
        error_code,
        error_message,
        request_parameters: Some(Value::Object(params)),
        response_elements: response,
        additional_event_data: additional,
        request_id: Some(call.caller.request_id.clone()).filter(|r| !r.is_empty()),
        event_id: Some(super::store::uuid4()),
        read_only: Some(READ_ONLY.contains(&call.operation)),
        resources: call
            .key_arn
            .iter()
            .map(|a| Resource {
                arn: Some(a.clone()),
                account_id: Some(account.into()),
                type_: Some("AWS::KMS::Key".into()),
            })
            .collect(),
        event_type: Some("AwsApiCall".into()),
        management_event: Some(true),
        recipient_account_id: Some(account.into()),
        event_category: Some("Management".into()),
    }
}

/// Writes the trail of one server.
#[derive(Debug)]
pub struct TrailWriter {
    writer: DeliveryWriter,
    region: String,
    account: String,
}

impl TrailWriter {
    /// A writer under `dir` (the trail's "bucket prefix").
    pub fn new(dir: PathBuf, region: &str, account: &str) -> Self {
        Self {
            writer: DeliveryWriter::new(dir, account, region),
            region: region.into(),
            account: account.into(),
        }
    }

    /// Writes the record of one call as its own log file.
    pub fn write(&mut self, call: &Call<'_>) -> Result<PathBuf, WriteError> {
        let ev = record(call, &self.region, &self.account);
        self.writer.write(std::slice::from_ref(&ev))
    }
}
