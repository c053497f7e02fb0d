//! CloudTrail as AWS delivers it, for the continuous KMS audit (issue 16).
//!
//! * [`record`]: the subset of the CloudTrail record the audit reads (and
//!   `proofpack-kms-local` writes): who, when, where, which KMS operation on
//!   which key, the outcome, the policy text of `PutKeyPolicy`/`CreateKey`
//!   and the Nitro `additionalEventData.recipient`.
//! * [`scan`]: a hand-written streaming JSON scanner that yields the raw
//!   bytes of one array element at a time, so a file of any size is read in
//!   memory bounded by one record ([`scan::MAX_RECORD_BYTES`]).
//! * [`read`]: the delivery shapes (S3 log files, `aws cloudtrail
//!   lookup-events` output, CloudTrail Lake query results, Athena's CSV
//!   query results via [`athena`]), gzip or plain,
//!   files or directory trees; a bad or truncated file is an error naming
//!   the file and the byte offset, never skipped.
//! * [`write`]: delivery-shaped log files (`AWSLogs/.../CloudTrail/...`).
//! * [`digest`]: CloudTrail digest files: the SHA-256 of each log file, the
//!   chain of digests and the RSA signatures.
//!
//! The format as this crate implements it is described in
//! `docs/notes/cloudtrail.md`.

pub mod athena;
pub mod digest;
pub mod read;
pub mod record;
pub mod scan;
pub mod write;

pub use read::{FileSummary, Located, Shape, TrailError, TrailErrorKind};
pub use record::{Event, Recipient, UserIdentity};

/// Fuzzing hook: parse arbitrary bytes as a digest file. Never panics.
pub fn fuzz_digest(data: &[u8]) {
    if let Ok(d) = digest::parse_digest(std::path::Path::new("fuzz"), data) {
        let _ = digest::signing_string(&d);
    }
}

/// Fuzzing hook: read arbitrary bytes as a trail file of any shape. Never
/// panics; every outcome is a record or a typed error.
pub fn fuzz_read(data: &[u8]) {
    let _ = read::read_bytes("fuzz", data, &mut |l| {
        let _ = l.event.unix_time();
        let _ = l.event.recipient();
        let _ = l.event.key_arns();
        std::ops::ControlFlow::Continue(())
    });
}

/// Fuzzing hook: arbitrary bytes as the rows of an Athena CSV result under
/// the header of the emitted query. Never panics.
pub fn fuzz_read_athena_csv(data: &[u8]) {
    const HEADER: &[u8] = b"\"eventversion\",\"eventtime\",\"eventsource\",\"eventname\",\"awsregion\",\"sourceipaddress\",\"useragent\",\"errorcode\",\"errormessage\",\"requestid\",\"eventid\",\"eventtype\",\"recipientaccountid\",\"useridentity\",\"requestparameters\",\"responseelements\",\"additionaleventdata\",\"resources\"\n";
    let mut all = HEADER.to_vec();
    all.extend_from_slice(data);
    let _ = read::read_bytes("fuzz", &all, &mut |l| {
        let _ = l.event.unix_time();
        let _ = l.event.recipient();
        let _ = l.event.key_arns();
        std::ops::ControlFlow::Continue(())
    });
}
