//! The reconciliation's input as one CloudTrail Lake query, for trails too
//! large to download (`docs/notes/cloudtrail.md` §8): run it in Lake, save
//! `aws cloudtrail get-query-results` output, and give that file to
//! `--cloudtrail`; the same checks run on the result.
//!
//! The query returns (1) every KMS record naming the key up to the window's
//! end (uses, policy changes, key events; the earlier policy events give the
//! state at the window's start) and (2) for coverage, the first record of
//! every minute from an hour before to an hour after the window: real
//! records of any service, so the coverage checks mean what they mean on S3
//! files. Structures are selected as JSON text and times as Lake prints
//! them, the shape `cloudtrail::read` accepts (§4).

use cloudtrail::record::format_time;

/// Why no query was produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// A value that would not be a plain literal in SQL.
    #[error("{what} {value:?} has characters outside [A-Za-z0-9:/_.-]")]
    Unsafe {
        /// Which value.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// `from` is not before `to`.
    #[error("the window is empty")]
    EmptyWindow,
}

fn safe(what: &'static str, v: &str) -> Result<(), SqlError> {
    if !v.is_empty()
        && v.len() <= 2048
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b":/_.-".contains(&b))
    {
        Ok(())
    } else {
        Err(SqlError::Unsafe { what, value: v.chars().take(80).collect() })
    }
}

const COLUMNS: &str =
    "eventVersion, eventTime, eventSource, eventName, awsRegion, sourceIPAddress, userAgent, \
errorCode, errorMessage, requestID, eventID, recipientAccountId, \
json_format(CAST(userIdentity AS JSON)) AS userIdentity, \
json_format(CAST(requestParameters AS JSON)) AS requestParameters, \
json_format(CAST(responseElements AS JSON)) AS responseElements, \
json_format(CAST(additionalEventData AS JSON)) AS additionalEventData, \
json_format(CAST(resources AS JSON)) AS resources";

/// The Lake query for one key over `[from, to]` on event data store `eds`.
pub fn lake_query(eds: &str, key_arn: &str, from: i64, to: i64) -> Result<String, SqlError> {
    safe("event data store", eds)?;
    safe("key ARN", key_arn)?;
    if from >= to {
        return Err(SqlError::EmptyWindow);
    }
    let t = |s: i64| format_time(s).replace('T', " ").replace('Z', "");
    let key_id = key_arn.rsplit('/').next().unwrap_or(key_arn);
    Ok(format!(
        "-- proofpack kms-trail: the records the reconciliation of {key_arn}\n\
         -- over {} to {} needs (docs/notes/cloudtrail.md §8).\n\
         SELECT {COLUMNS}\nFROM {eds}\n\
         WHERE eventSource = 'kms.amazonaws.com'\n  AND eventTime <= '{}'\n  AND (\
         element_at(requestParameters, 'keyId') IN ('{key_arn}', '{key_id}')\n       \
         OR any_match(resources, r -> r.arn = '{key_arn}'))\n\
         UNION ALL\n\
         SELECT {COLUMNS}\nFROM (\n  SELECT *, row_number() OVER (PARTITION BY date_trunc('minute', eventTime) ORDER BY eventTime) AS rn\n  \
         FROM {eds}\n  WHERE eventTime BETWEEN '{}' AND '{}'\n) WHERE rn = 1\n",
        format_time(from),
        format_time(to),
        t(to),
        t(from - 3600),
        t(to + 3600),
    ))
}
