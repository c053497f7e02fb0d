//! The record of one KMS call (`KmsCall`, receipts.md §3.3).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::backend::KmsError;

/// One KMS call made by the enclave, as recorded in the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsCall {
    /// `Decrypt` or `Encrypt`.
    pub operation: &'static str,
    /// The key reference sent in the request.
    pub arn: String,
    /// The key ARN KMS answered with (absent when the call failed).
    pub key_arn: Option<String>,
    /// The encryption context, exactly as sent.
    pub encryption_context: BTreeMap<String, String>,
    /// True iff the request carried `Recipient` = doc_K.
    pub recipient: bool,
    /// The AWS request id (`unknown` when the backend did not report one).
    pub request_id: String,
    /// `ok` or `error:<AWS error code>`.
    pub outcome: String,
}

impl KmsCall {
    /// The outcome string for a result.
    pub fn outcome_of(err: Option<&KmsError>) -> String {
        match err {
            None => "ok".into(),
            Some(KmsError::Service { code, .. }) => format!("error:{code}"),
            Some(_) => "error:TransportError".into(),
        }
    }

    /// The JSON object of the receipt schema.
    pub fn to_json(&self) -> Value {
        let ctx = crate::json::string_map(&self.encryption_context);
        let mut v = json!({
            "operation": self.operation,
            "arn": self.arn,
            "encryptionContext": ctx,
            "recipient": self.recipient,
            "requestId": self.request_id,
            "outcome": self.outcome,
        });
        if let (Some(k), Some(obj)) = (&self.key_arn, v.as_object_mut()) {
            obj.insert("keyArn".into(), Value::String(k.clone()));
        }
        v
    }
}
