//! The CloudTrail record, as far as the KMS audit reads it.
//!
//! Field names follow the CloudTrail record contents (camelCase, with the
//! documented spellings `sourceIPAddress`, `requestID`, `eventID`). Unknown
//! fields are ignored: CloudTrail adds fields between event versions, and a
//! newer record must still be read. `requestParameters`,
//! `responseElements` and `additionalEventData` stay JSON values because
//! their shape depends on the operation; the accessors below read the few
//! members the audit needs and never guess when one is missing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `userIdentity`: who made the call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `IAMUser`, `AssumedRole`, `Root`, `AWSService`, ...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Principal id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// Principal ARN (for a role session, the `assumed-role` ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The principal's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Access key id used to sign the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The service that made the call on the principal's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

/// One `resources[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource's ARN.
    #[serde(rename = "ARN", default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Its account.
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `AWS::KMS::Key` for KMS keys.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// One CloudTrail record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Record format version, e.g. `1.08`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_version: Option<String>,
    /// Who made the call.
    #[serde(default)]
    pub user_identity: UserIdentity,
    /// When, `YYYY-MM-DDTHH:MM:SSZ` (UTC).
    pub event_time: String,
    /// `kms.amazonaws.com` for KMS.
    pub event_source: String,
    /// The API operation, e.g. `Decrypt`.
    pub event_name: String,
    /// Region the call was made in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// Where the call came from (an IP address or a service name).
    #[serde(rename = "sourceIPAddress", default, skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<String>,
    /// The caller's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The error code of a failed call (absent on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message of a failed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request's parameters (operation-specific).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<Value>,
    /// The response's non-secret elements (operation-specific).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_elements: Option<Value>,
    /// Service-specific data; for attested KMS calls, `recipient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    /// The service's request id.
    #[serde(rename = "requestID", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// CloudTrail's id of this record.
    #[serde(rename = "eventID", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Whether the operation only reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The resources the call touched (KMS: the key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// `AwsApiCall`, `AwsServiceEvent`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Whether this is a management event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_event: Option<bool>,
    /// The account that received the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_account_id: Option<String>,
    /// `Management` or `Data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_category: Option<String>,
}

/// `additionalEventData.recipient`: what KMS logged of the Recipient
/// attestation document (AWS KMS Developer Guide, "Monitoring requests for
/// Nitro enclaves").
///
/// Measurements are normalised to lowercase hex: CloudTrail writes them in
/// base64 (64 characters for 48 bytes), some tools re-emit hex (96
/// characters); anything else is kept in `undecodable` and matches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// `attestationDocumentModuleId`: the enclave id.
    pub module_id: Option<String>,
    /// `attestationDocumentEnclaveImageDigest`: SHA-384 of the image, i.e. PCR0.
    pub image_digest: Option<String>,
    /// `attestationDocumentEnclavePCR<N>`, lowercase hex, by index.
    pub pcrs: BTreeMap<u8, String>,
    /// Fields whose value is neither base64 nor hex of 48 bytes.
    pub undecodable: Vec<String>,
}

/// A 48-byte measurement as CloudTrail logs it (base64) or as hex, to
/// lowercase hex; `None` when it is neither.
pub fn measurement_hex(s: &str) -> Option<String> {
    use base64::Engine as _;
    if s.len() == 96 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(s.to_ascii_lowercase());
    }
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(b) if b.len() == 48 => Some(hex::encode(b)),
        _ => None,
    }
}

/// Lowercase hex of a 48-byte measurement to the base64 CloudTrail writes.
pub fn measurement_b64(hex_value: &str) -> Option<String> {
    use base64::Engine as _;
    let b = hex::decode(hex_value).ok().filter(|b| b.len() == 48)?;
    Some(base64::engine::general_purpose::STANDARD.encode(b))
}

impl Recipient {
    /// PCR `i`, with PCR0 falling back to the image digest (they are the same
    /// measurement; the documented examples log the digest and not PCR0).
    pub fn pcr(&self, i: u8) -> Option<&str> {
        match self.pcrs.get(&i) {
            Some(v) => Some(v),
            None if i == 0 => self.image_digest.as_deref(),
            None => None,
        }
    }
}

/// Why a record's time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("eventTime {0:?} is not an RFC 3339 UTC time")]
pub struct BadTime(pub String);

/// RFC 3339 text to Unix seconds.
pub fn parse_time(s: &str) -> Result<i64, BadTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| BadTime(s.chars().take(64).collect()))
}

/// Unix seconds to `YYYY-MM-DDTHH:MM:SSZ`, the form CloudTrail writes.
pub fn format_time(unix: i64) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&f).ok())
        .unwrap_or_else(|| unix.to_string())
}

fn str_at<'a>(v: Option<&'a Value>, path: &[&str]) -> Option<&'a str> {
    let mut cur = v?;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

impl Event {
    /// `eventTime` as Unix seconds.
    pub fn unix_time(&self) -> Result<i64, BadTime> {
        parse_time(&self.event_time)
    }

    /// Whether the call failed (an `errorCode` is present).
    pub fn failed(&self) -> bool {
        self.error_code.is_some()
    }

    /// Whether this is a KMS event.
    pub fn is_kms(&self) -> bool {
        self.event_source == "kms.amazonaws.com"
    }

    /// The Nitro recipient data, when the request carried an attestation
    /// document. Members that are not strings are ignored (and so never
    /// match an expected value).
    pub fn recipient(&self) -> Option<Recipient> {
        let r = self.additional_event_data.as_ref()?.get("recipient")?.as_object()?;
        let mut out = Recipient {
            module_id: None,
            image_digest: None,
            pcrs: BTreeMap::new(),
            undecodable: Vec::new(),
        };
        for (k, v) in r {
            let Some(s) = v.as_str() else {
                out.undecodable.push(k.clone());
                continue;
            };
            if k == "attestationDocumentModuleId" {
                out.module_id = Some(s.to_string());
                continue;
            }
            let index = if k == "attestationDocumentEnclaveImageDigest" {
                None
            } else {
                match k
                    .strip_prefix("attestationDocumentEnclavePCR")
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|i| *i < 32)
                {
                    Some(i) => Some(i),
                    None => continue,
                }
            };
            match (measurement_hex(s), index) {
                (Some(h), None) => out.image_digest = Some(h),
                (Some(h), Some(i)) => {
                    out.pcrs.insert(i, h);
                }
                (None, _) => out.undecodable.push(k.clone()),
            }
        }
        Some(out)
    }

    /// Every key this record names: `resources[]` of type `AWS::KMS::Key`,
    /// `requestParameters.keyId` (and the `ReEncrypt` source and
    /// destination keys), and `responseElements.keyMetadata.arn` (CreateKey).
    pub fn key_arns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.resources {
            if let Some(a) = &r.arn {
                if r.type_.as_deref().map_or(true, |t| t == "AWS::KMS::Key") {
                    out.push(a);
                }
            }
        }
        let rp = self.request_parameters.as_ref();
        for field in ["keyId", "sourceKeyId", "destinationKeyId"] {
            if let Some(k) = str_at(rp, &[field]) {
                out.push(k);
            }
        }
        if let Some(a) = str_at(self.response_elements.as_ref(), &["keyMetadata", "arn"]) {
            out.push(a);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether this record is about `key_arn`: a named key equal to the ARN,
    /// or to the key id (the ARN's last path segment).
    pub fn is_about(&self, key_arn: &str) -> bool {
        let id = key_arn.rsplit('/').next().unwrap_or(key_arn);
        self.key_arns().iter().any(|k| *k == key_arn || (!id.is_empty() && *k == id))
    }

    /// The key policy text of a `PutKeyPolicy` or `CreateKey` record
    /// (`requestParameters.policy`).
    pub fn policy_text(&self) -> Option<&str> {
        str_at(self.request_parameters.as_ref(), &["policy"])
    }

    /// The caller, for people: the principal ARN, else its type and id.
    pub fn principal(&self) -> String {
        let u = &self.user_identity;
        match (&u.arn, &u.type_, &u.invoked_by) {
            (Some(a), _, _) => a.clone(),
            (None, _, Some(s)) => format!("service {s}"),
            (None, Some(t), None) => format!("{t} {}", u.principal_id.as_deref().unwrap_or("?")),
            (None, None, None) => "unknown principal".into(),
        }
    }
}
