//! One KMS use of a pinned key, classified (`docs/notes/cloudtrail.md` §5).
//!
//! The order of the questions is what makes a PASS trustworthy: a failed
//! call is counted apart first (it released nothing, but it is evidence of
//! an attempt); a call without an attestation document is an unattested use
//! whoever made it; an attested call whose readable measurements differ from
//! the expected ones is a wrong image; one whose measurements cannot all be
//! read is undecidable (never taken for the pinned image); only then is an
//! attested call with the expected PCRs matched to a receipt.

use cloudtrail::record::format_time;
use cloudtrail::Event;

use crate::kms_policy::expected::Expected;
use crate::report::UseKind;

use super::receipts::{same_key, ReceiptWindow};

/// Operations that use the key to release or derive secrets.
pub const USE_EVENTS: &[&str] = &[
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "DeriveSharedSecret",
    "GenerateRandom",
    "ReEncrypt",
];

/// Operations that change the key policy.
pub const POLICY_EVENTS: &[&str] = &["CreateKey", "PutKeyPolicy"];

/// Operations on the key an auditor wants listed: grants (which bypass the
/// key policy), state changes, deletion, replication, metadata.
pub const ADMIN_EVENTS: &[&str] = &[
    "CreateGrant",
    "RetireGrant",
    "RevokeGrant",
    "DisableKey",
    "EnableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "ReplicateKey",
    "UpdatePrimaryRegion",
    "UpdateKeyDescription",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "RotateKeyOnDemand",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "TagResource",
    "UntagResource",
];

/// One classified use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// Unix seconds.
    pub time: i64,
    /// The classification.
    pub kind: UseKind,
    /// One line for people: when, what, who, from where, why.
    pub line: String,
}

/// Who/when/where of any event, the start of every listed line.
pub fn describe(ev: &Event, file: &str, offset: u64) -> String {
    let mut s = format!(
        "{} {} by {} from {}",
        ev.event_time,
        ev.event_name,
        ev.principal(),
        ev.source_ip_address.as_deref().unwrap_or("an unknown address")
    );
    if let Some(id) = &ev.event_id {
        s.push_str(&format!(" (eventID {id})"));
    }
    s.push_str(&format!(" [{file} @{offset}]"));
    s
}

fn short(v: &str) -> String {
    if v.len() > 16 {
        format!("{}…", &v[..16])
    } else {
        v.to_string()
    }
}

/// Classifies one use event on `key_arn` at `time`.
#[allow(clippy::too_many_arguments)]
pub fn classify(
    ev: &Event,
    time: i64,
    key_arn: &str,
    expected: &Expected,
    receipts: &[ReceiptWindow],
    slack_secs: i64,
    file: &str,
    offset: u64,
) -> Use {
    let base = describe(ev, file, offset);
    let mk = |kind, why: String| Use { time, kind, line: format!("{base}: {why}") };
    if let Some(code) = &ev.error_code {
        return mk(
            UseKind::Failed,
            format!(
                "failed with {code}{}",
                ev.error_message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
            ),
        );
    }
    let Some(r) = ev.recipient() else {
        return mk(
            UseKind::Unattested,
            "no attestation document (plaintext returned to the caller)".into(),
        );
    };
    let module = r.module_id.clone().unwrap_or_else(|| "unknown module".into());
    let mut differ = Vec::new();
    let mut unreadable = Vec::new();
    for (i, accepted) in &expected.pcrs {
        match r.pcr(*i) {
            Some(v) if accepted.iter().any(|a| a.eq_ignore_ascii_case(v)) => {}
            Some(v) => differ.push(format!(
                "PCR{i} {} (expected {})",
                short(v),
                accepted.iter().map(|a| short(a)).collect::<Vec<_>>().join(" or ")
            )),
            None => unreadable.push(format!("PCR{i}")),
        }
    }
    if !differ.is_empty() {
        return mk(UseKind::WrongImage, format!("module {module}: {}", differ.join(", ")));
    }
    if !unreadable.is_empty() {
        return mk(
            UseKind::Undecidable,
            format!(
                "module {module}: {} missing or not a 48-byte measurement{}",
                unreadable.join(", "),
                if r.undecodable.is_empty() {
                    String::new()
                } else {
                    format!(" (unreadable fields: {})", r.undecodable.join(", "))
                }
            ),
        );
    }
    let covering = receipts.iter().find(|w| {
        r.module_id.as_deref() == Some(w.module_id.as_str())
            && w.keys.iter().any(|k| same_key(k, key_arn))
            && ((w.start - slack_secs <= time && time <= w.end + slack_secs)
                || ev.request_id.as_ref().is_some_and(|id| w.request_ids.contains(id)))
    });
    match covering {
        Some(w) => mk(
            UseKind::Receipted,
            format!(
                "module {module}, expected PCRs, covered by receipt {} ({} to {})",
                w.path,
                format_time(w.start),
                format_time(w.end)
            ),
        ),
        None => mk(
            UseKind::Unreceipted,
            format!(
                "module {module}, expected PCRs, but no receipt covers this module, key and time"
            ),
        ),
    }
}
