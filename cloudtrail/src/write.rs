//! Delivery-shaped CloudTrail log files, as `proofpack-kms-local` writes
//! them: `AWSLogs/<account>/CloudTrail/<region>/<YYYY>/<MM>/<DD>/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<unique>.json.gz`,
//! each a gzip `{"Records":[...]}`.
//!
//! One file per batch handed to [`DeliveryWriter::write`]; files are
//! written under a temporary name and renamed, so a reader never sees half
//! a file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::record::{parse_time, Event};

/// Why a file was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// A record's time cannot be read (it names the file's folder).
    #[error("record time: {0}")]
    Time(#[from] crate::record::BadTime),
    /// Writing failed.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Nothing to write.
    #[error("an empty batch is not written")]
    Empty,
}

/// The bytes of one log file: gzip of `{"Records":[...]}`.
pub fn log_file_bytes(records: &[Event]) -> Vec<u8> {
    let body = serde_json::json!({ "Records": records });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(body.to_string().as_bytes());
    gz.finish().unwrap_or_default()
}

/// Writes log files under one root, like a trail's S3 prefix.
#[derive(Debug)]
pub struct DeliveryWriter {
    root: PathBuf,
    account: String,
    region: String,
    seq: u64,
}

impl DeliveryWriter {
    /// A writer under `root` for one account and region.
    pub fn new(root: impl Into<PathBuf>, account: &str, region: &str) -> Self {
        Self { root: root.into(), account: account.into(), region: region.into(), seq: 0 }
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes one log file holding `records`, named after the first one's
    /// time; returns its path.
    pub fn write(&mut self, records: &[Event]) -> Result<PathBuf, WriteError> {
        let first = records.first().ok_or(WriteError::Empty)?;
        let t = time::OffsetDateTime::from_unix_timestamp(parse_time(&first.event_time)?)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let dir = self
            .root
            .join("AWSLogs")
            .join(&self.account)
            .join("CloudTrail")
            .join(&self.region)
            .join(format!("{:04}", t.year()))
            .join(format!("{:02}", u8::from(t.month())))
            .join(format!("{:02}", t.day()));
        self.seq += 1;
        let unique = format!("{:08x}{:08x}", self.seq, rand::random::<u32>());
        let name = format!(
            "{}_CloudTrail_{}_{:04}{:02}{:02}T{:02}{:02}Z_{unique}.json.gz",
            self.account,
            self.region,
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        );
        let path = dir.join(name);
        let io = |source| WriteError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let tmp = dir.join(format!(".{unique}.tmp"));
        std::fs::write(&tmp, log_file_bytes(records)).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }
}
