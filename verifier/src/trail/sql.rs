//! The reconciliation's input as one query, for trails too large to
//! download (`docs/notes/cloudtrail.md` §8): CloudTrail Lake
//! ([`lake_query`]; save `aws cloudtrail get-query-results`) or Athena over
//! the CloudTrail table AWS documents ([`athena_query`]; give the query's
//! CSV result object). The file goes to `--cloudtrail`; the same checks run
//! on the result.
//!
//! The query returns (1) every KMS record naming the key up to the window's
//! end (uses, policy changes, key events; the earlier policy events give the
//! state at the window's start) and (2) for coverage, the first record of
//! every minute from an hour before to an hour after the window among the
//! records that part (1) does not select: real records of any service, so
//! the coverage checks mean what they mean on S3 files, and no record is
//! returned twice (a use counted twice would be a wrong count). Structures
//! are selected as JSON text, the shape `cloudtrail::read` accepts (§4).

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
    /// An Athena table not given as `DATABASE.TABLE` (or `TABLE`) of
    /// `[A-Za-z0-9_]` names.
    #[error("Athena table {0:?} is not DATABASE.TABLE (letters, digits, '_')")]
    BadTable(String),
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

const LAKE_COLUMNS: &str =
    "eventVersion, eventTime, eventSource, eventName, awsRegion, sourceIPAddress, userAgent, \
errorCode, errorMessage, requestID, eventID, recipientAccountId, \
json_format(CAST(userIdentity AS JSON)) AS userIdentity, \
json_format(CAST(requestParameters AS JSON)) AS requestParameters, \
json_format(CAST(responseElements AS JSON)) AS responseElements, \
json_format(CAST(additionalEventData AS JSON)) AS additionalEventData, \
json_format(CAST(resources AS JSON)) AS resources";

/// The columns of the Athena query: the documented table's lowercase
/// columns; `requestparameters`, `responseelements` and
/// `additionaleventdata` are already JSON text there (STRING columns), the
/// structures are turned into JSON text.
pub const ATHENA_COLUMNS: &str =
    "eventversion, eventtime, eventsource, eventname, awsregion, sourceipaddress, useragent, \
errorcode, errormessage, requestid, eventid, eventtype, recipientaccountid, \
json_format(CAST(useridentity AS JSON)) AS useridentity, \
requestparameters, responseelements, additionaleventdata, \
json_format(CAST(resources AS JSON)) AS resources";

fn window(key_arn: &str, from: i64, to: i64) -> Result<&str, SqlError> {
    safe("key ARN", key_arn)?;
    if from >= to {
        return Err(SqlError::EmptyWindow);
    }
    Ok(key_arn.rsplit('/').next().unwrap_or(key_arn))
}

/// The Lake query for one key over `[from, to]` on event data store `eds`.
pub fn lake_query(eds: &str, key_arn: &str, from: i64, to: i64) -> Result<String, SqlError> {
    safe("event data store", eds)?;
    let key_id = window(key_arn, from, to)?;
    let t = |s: i64| format_time(s).replace('T', " ").replace('Z', "");
    let about = format!(
        "eventSource = 'kms.amazonaws.com'\n    AND (element_at(requestParameters, 'keyId') IN ('{key_arn}', '{key_id}')\n         \
         OR any_match(resources, r -> r.arn = '{key_arn}'))"
    );
    Ok(format!(
        "-- proofpack kms-trail: the records the reconciliation of {key_arn}\n\
         -- over {} to {} needs (docs/notes/cloudtrail.md §8), CloudTrail Lake.\n\
         SELECT {LAKE_COLUMNS}\nFROM {eds}\n\
         WHERE eventTime <= '{}'\n  AND {about}\n\
         UNION ALL\n\
         SELECT {LAKE_COLUMNS}\nFROM (\n  SELECT *, row_number() OVER (PARTITION BY date_trunc('minute', eventTime) ORDER BY eventTime) AS rn\n  \
         FROM {eds}\n  WHERE eventTime BETWEEN '{}' AND '{}'\n    AND NOT coalesce({about}, false)\n) WHERE rn = 1\n",
        format_time(from),
        format_time(to),
        t(to),
        t(from - 3600),
        t(to + 3600),
    ))
}

/// The Athena (engine v3) query for one key over `[from, to]` on the
/// CloudTrail table `table` (`DATABASE.TABLE`, created with the DDL of the
/// Athena User Guide, "Create a table for CloudTrail logs in Athena using
/// manual partitioning": lowercase columns, `eventtime` a string as
/// CloudTrail writes it). The result is ordered by `eventtime`, so a CSV
/// cut between two rows loses the newest records, and with them the
/// coverage after `to`: `trail.coverage.end` then fails.
pub fn athena_query(table: &str, key_arn: &str, from: i64, to: i64) -> Result<String, SqlError> {
    let ok_name = |n: &str| {
        !n.is_empty() && n.len() <= 255 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|p| ok_name(p)) {
        return Err(SqlError::BadTable(table.chars().take(80).collect()));
    }
    let key_id = window(key_arn, from, to)?;
    let about = format!(
        "eventsource = 'kms.amazonaws.com'\n      AND (json_extract_scalar(requestparameters, '$.keyId') IN ('{key_arn}', '{key_id}')\n           \
         OR any_match(resources, r -> r.arn = '{key_arn}'))"
    );
    Ok(format!(
        "-- proofpack kms-trail: the records the reconciliation of {key_arn}\n\
         -- over {} to {} needs (docs/notes/cloudtrail.md §8), Athena engine v3.\n\
         -- Give the result object (<QueryExecutionId>.csv in the OutputLocation) to --cloudtrail.\n\
         SELECT * FROM (\n  \
         SELECT {ATHENA_COLUMNS}\n  FROM {table}\n  \
         WHERE eventtime <= '{}'\n    AND {about}\n  \
         UNION ALL\n  \
         SELECT {ATHENA_COLUMNS}\n  FROM (\n    \
         SELECT *, row_number() OVER (PARTITION BY substr(eventtime, 1, 16) ORDER BY eventtime) AS rn\n    \
         FROM {table}\n    WHERE eventtime BETWEEN '{}' AND '{}'\n      AND NOT coalesce({about}, false)\n  ) WHERE rn = 1\n\
         ) ORDER BY eventtime\n",
        format_time(from),
        format_time(to),
        format_time(to),
        format_time(from - 3600),
        format_time(to + 3600),
    ))
}
