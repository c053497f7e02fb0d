//! The record of one KMS call (`KmsCall`, docs/formats/receipts.md §3.3) as the enclave
//! keeps it while a job runs. It goes into a receipt only as
//! [`KmsCallRecord`], the model's member; the operation stays a
//! `&'static str` here because the producers name it with a literal.

use std::collections::BTreeMap;

use super::model::KmsCallRecord;
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

    /// The receipt member for this call (docs/formats/receipts.md §3.3 `KmsCall`).
    pub fn to_record(&self) -> KmsCallRecord {
        KmsCallRecord {
            operation: self.operation.to_owned(),
            arn: self.arn.clone(),
            key_arn: self.key_arn.clone(),
            encryption_context: self.encryption_context.clone(),
            recipient: self.recipient,
            request_id: self.request_id.clone(),
            outcome: self.outcome.clone(),
        }
    }
}
