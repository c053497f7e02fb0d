//! Reading CloudTrail in the shapes it is delivered in, one record at a time.
//!
//! | shape | top level | element |
//! | --- | --- | --- |
//! | S3 log file | `{"Records": [...]}` | a record |
//! | `aws cloudtrail lookup-events` | `{"Events": [...], "NextToken"?}` | `{"EventId", ..., "CloudTrailEvent": "<record as a JSON string>"}` |
//! | CloudTrail Lake `get-query-results` | `{"QueryResultRows": [...], ...}` | a row: `[{"column": value}, ...]` |
//! | Athena query result object (CSV) | a header row of column names | a row ([`crate::athena`]) |
//!
//! Each file may be gzip (detected by its magic bytes, as S3 delivers
//! `.json.gz`) or plain. The shape is recognised by the content (a JSON
//! object and its member name, or else a CSV header), so a file's name does
//! not matter. Every record is handed to a visitor with the
//! file and the byte offset of the record in the (decompressed) stream; the
//! first bad byte or record ends the file with a [`TrailError`] naming both,
//! so a damaged file is always reported and never half-read in silence.

use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::athena::{CsvError, CsvErrorKind, CsvScanner, Header, Row};
use crate::record::{parse_time, Event};
use crate::scan::{ScanError, ScanErrorKind, Scanner};

/// Most files collected from the paths given (directory trees included).
pub const MAX_FILES: usize = 4_000_000;

/// The delivery shape of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An S3 log file: `{"Records": [...]}`.
    LogFile,
    /// `aws cloudtrail lookup-events` output.
    LookupEvents,
    /// CloudTrail Lake `get-query-results` output.
    LakeResults,
    /// An Athena query's CSV result object.
    AthenaCsv,
}

impl Shape {
    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Shape::LogFile => "CloudTrail log file",
            Shape::LookupEvents => "lookup-events output",
            Shape::LakeResults => "CloudTrail Lake query results",
            Shape::AthenaCsv => "Athena query results (CSV)",
        }
    }
}

const MEMBERS: [&str; 3] = ["Records", "Events", "QueryResultRows"];
const SHAPES: [Shape; 3] = [Shape::LogFile, Shape::LookupEvents, Shape::LakeResults];

/// Why a file could not be read (completely).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrailErrorKind {
    /// The file could not be opened or listed.
    #[error("cannot open: {0}")]
    Open(String),
    /// The JSON structure is broken (or the gzip stream is).
    #[error("{0}")]
    Scan(ScanErrorKind),
    /// The CSV of an Athena result is broken (or the gzip stream is).
    #[error("Athena CSV: {0}")]
    Csv(CsvErrorKind),
    /// A record that is valid JSON but not a CloudTrail record.
    #[error("not a CloudTrail record: {0}")]
    BadRecord(String),
    /// More files than [`MAX_FILES`].
    #[error("more than {MAX_FILES} files")]
    TooManyFiles,
}

/// A file that could not be read, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {kind}", match offset { Some(o) => format!(" at byte {o}{}", if *gzip { " of the decompressed data" } else { "" }), None => String::new() })]
pub struct TrailError {
    /// The file, as named.
    pub file: String,
    /// Byte offset of the problem, when there is one.
    pub offset: Option<u64>,
    /// Whether the offset counts decompressed bytes.
    pub gzip: bool,
    /// Records read from the file before the problem.
    pub records_before: u64,
    /// What.
    pub kind: TrailErrorKind,
}

/// One record and where it was.
#[derive(Debug)]
pub struct Located<'a> {
    /// The file, as named.
    pub file: &'a str,
    /// Byte offset of the record (of the decompressed data for gzip).
    pub offset: u64,
    /// The record.
    pub event: Event,
}

/// What one file held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    /// Its shape.
    pub shape: Shape,
    /// Records read.
    pub records: u64,
    /// Whether the file was gzip.
    pub gzip: bool,
    /// `lookup-events`/Lake output that says more pages exist
    /// (`NextToken`): the file does not hold every matching event.
    pub more_pages: bool,
    /// SHA-256 of the whole uncompressed content, when asked for
    /// ([`read_file_hashed`]; what digest files list).
    pub sha256: Option<[u8; 32]>,
}

/// A reader that hashes every byte it hands out.
struct Hashing<R> {
    inner: R,
    hash: Option<sha2::Sha256>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hash {
            sha2::Digest::update(h, buf.get(..n).unwrap_or(&[]));
        }
        Ok(n)
    }
}

/// Visitor of records; `Break` stops reading the file.
pub type Visit<'v> = dyn FnMut(Located<'_>) -> ControlFlow<()> + 'v;

#[derive(serde::Deserialize)]
struct LookupEvent {
    #[serde(rename = "CloudTrailEvent")]
    cloud_trail_event: String,
}

/// Columns of a Lake row that hold structures: the emitted query
/// (`docs/notes/cloudtrail.md` §4) selects them as JSON text.
const LAKE_JSON_COLUMNS: [&str; 5] =
    ["userIdentity", "requestParameters", "responseElements", "additionalEventData", "resources"];

/// Lake writes timestamps as `YYYY-MM-DD HH:MM:SS[.fff]`; records use RFC 3339.
pub(crate) fn lake_time(s: &str) -> String {
    if s.len() >= 19 && s.as_bytes().get(10) == Some(&b' ') {
        let (date, rest) = s.split_at(10);
        let clock = rest.get(1..9).unwrap_or("");
        return format!("{date}T{clock}Z");
    }
    s.to_string()
}

fn lake_row(raw: &[u8]) -> Result<Event, String> {
    let cells: Vec<Map<String, Value>> = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    let mut m = Map::new();
    for cell in cells {
        for (k, v) in cell {
            let v = match (&v, LAKE_JSON_COLUMNS.contains(&k.as_str())) {
                (Value::String(s), true) if s.starts_with('{') || s.starts_with('[') => {
                    serde_json::from_str(s).map_err(|e| format!("column {k}: {e}"))?
                }
                (Value::String(s), false) if k == "eventTime" => Value::String(lake_time(s)),
                _ => v,
            };
            m.insert(k, v);
        }
    }
    serde_json::from_value(Value::Object(m)).map_err(|e| e.to_string())
}

fn element(shape: Shape, raw: &[u8]) -> Result<Event, String> {
    let ev: Event = match shape {
        Shape::LogFile => serde_json::from_slice(raw).map_err(|e| e.to_string())?,
        Shape::LookupEvents => {
            let l: LookupEvent = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
            serde_json::from_str(&l.cloud_trail_event)
                .map_err(|e| format!("CloudTrailEvent: {e}"))?
        }
        Shape::LakeResults => lake_row(raw)?,
        Shape::AthenaCsv => return Err("a CSV row is not a JSON element".into()),
    };
    parse_time(&ev.event_time).map_err(|e| e.to_string())?;
    Ok(ev)
}

/// Reads one stream (already decompressed) of any shape.
pub fn read_stream<R: Read>(
    file: &str,
    input: R,
    gzip: bool,
    visit: &mut Visit<'_>,
) -> Result<FileSummary, TrailError> {
    read_stream_hashed(file, input, gzip, false, visit)
}

fn read_stream_hashed<R: Read>(
    file: &str,
    input: R,
    gzip: bool,
    hash: bool,
    visit: &mut Visit<'_>,
) -> Result<FileSummary, TrailError> {
    let input = Hashing { inner: input, hash: hash.then(<sha2::Sha256 as sha2::Digest>::new) };
    let mut input = std::io::BufReader::with_capacity(64 * 1024, input);
    let head = std::io::BufRead::fill_buf(&mut input).map_err(|e| TrailError {
        file: file.to_string(),
        offset: Some(0),
        gzip,
        records_before: 0,
        kind: TrailErrorKind::Scan(ScanErrorKind::Io(e.to_string())),
    })?;
    let first = head.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    // A CSV header starts with a column name, quoted or not (or a byte
    // order mark); a JSON document with '{' (anything else is a JSON error).
    if first.is_some_and(|b| *b == b'"' || *b == 0xef || b.is_ascii_alphabetic()) {
        return read_csv(file, input, gzip, visit);
    }
    let mut records = 0u64;
    let fail = |e: ScanError, records: u64| TrailError {
        file: file.to_string(),
        offset: Some(e.offset),
        gzip,
        records_before: records,
        kind: TrailErrorKind::Scan(e.kind),
    };
    let mut sc = Scanner::new(input);
    let (i, before) = sc.open(&MEMBERS).map_err(|e| fail(e, 0))?;
    let shape = SHAPES.get(i).copied().unwrap_or(Shape::LogFile);
    let mut buf = Vec::new();
    loop {
        let at = match sc.next_element(&mut buf) {
            Ok(Some(at)) => at,
            Ok(None) => break,
            Err(e) => return Err(fail(e, records)),
        };
        let event = element(shape, &buf).map_err(|m| TrailError {
            file: file.to_string(),
            offset: Some(at),
            gzip,
            records_before: records,
            kind: TrailErrorKind::BadRecord(m),
        })?;
        records += 1;
        if visit(Located { file, offset: at, event }).is_break() {
            return Ok(FileSummary { shape, records, gzip, more_pages: false, sha256: None });
        }
    }
    let after = sc.close().map_err(|e| fail(e, records))?;
    let more_pages = before.iter().chain(&after).any(|k| k == "NextToken");
    let sha256 = sc.into_inner().into_inner().hash.map(|h| sha2::Digest::finalize(h).into());
    Ok(FileSummary { shape, records, gzip, more_pages, sha256 })
}

/// An Athena CSV result: the header, then one record per row.
fn read_csv<R: Read>(
    file: &str,
    input: std::io::BufReader<Hashing<R>>,
    gzip: bool,
    visit: &mut Visit<'_>,
) -> Result<FileSummary, TrailError> {
    let shape = Shape::AthenaCsv;
    let fail = |offset: u64, kind: TrailErrorKind, records: u64| TrailError {
        file: file.to_string(),
        offset: Some(offset),
        gzip,
        records_before: records,
        kind,
    };
    let csv = |e: CsvError, records: u64| fail(e.offset, TrailErrorKind::Csv(e.kind), records);
    let mut sc = CsvScanner::new(input);
    let mut row = Row::default();
    let header = match sc.next_row(&mut row, crate::athena::MAX_COLUMNS).map_err(|e| csv(e, 0))? {
        Some(at) => Header::from_row(&row).map_err(|k| fail(at, TrailErrorKind::Csv(k), 0))?,
        None => return Err(fail(0, TrailErrorKind::Csv(CsvErrorKind::Header("empty".into())), 0)),
    };
    let mut records = 0u64;
    while let Some(at) = sc.next_row(&mut row, header.len()).map_err(|e| csv(e, records))? {
        if row.len() != header.len() {
            let kind = CsvErrorKind::FieldCount { expected: header.len(), found: row.len() };
            return Err(fail(at, TrailErrorKind::Csv(kind), records));
        }
        let event = crate::athena::row_event(&header, &row)
            .and_then(|ev| parse_time(&ev.event_time).map(|_| ev).map_err(|e| e.to_string()))
            .map_err(|m| fail(at, TrailErrorKind::BadRecord(m), records))?;
        records += 1;
        if visit(Located { file, offset: at, event }).is_break() {
            return Ok(FileSummary { shape, records, gzip, more_pages: false, sha256: None });
        }
    }
    let sha256 = sc.into_inner().into_inner().hash.map(|h| sha2::Digest::finalize(h).into());
    Ok(FileSummary { shape, records, gzip, more_pages: false, sha256 })
}

/// Reads bytes (gzip or plain) of any shape.
pub fn read_bytes(
    file: &str,
    data: &[u8],
    visit: &mut Visit<'_>,
) -> Result<FileSummary, TrailError> {
    if data.starts_with(&[0x1f, 0x8b]) {
        read_stream(file, flate2::read::MultiGzDecoder::new(data), true, visit)
    } else {
        read_stream(file, data, false, visit)
    }
}

/// Reads one file (gzip or plain) of any shape.
pub fn read_file(path: &Path, visit: &mut Visit<'_>) -> Result<FileSummary, TrailError> {
    read_file_hashed(path, false, visit)
}

/// [`read_file`], also hashing the uncompressed content when `hash` is set
/// ([`FileSummary::sha256`], for digest verification).
pub fn read_file_hashed(
    path: &Path,
    hash: bool,
    visit: &mut Visit<'_>,
) -> Result<FileSummary, TrailError> {
    let name = path.display().to_string();
    let open_err = |e: std::io::Error| TrailError {
        file: name.clone(),
        offset: None,
        gzip: false,
        records_before: 0,
        kind: TrailErrorKind::Open(e.to_string()),
    };
    let mut f =
        std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(path).map_err(open_err)?);
    let head = std::io::BufRead::fill_buf(&mut f).map_err(open_err)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        read_stream_hashed(&name, flate2::bufread::MultiGzDecoder::new(f), true, hash, visit)
    } else {
        read_stream_hashed(&name, f, false, hash, visit)
    }
}

/// The files under the paths given, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Files to read as records (every file named directly, and under a
    /// directory every `*.json`, `*.json.gz`, `*.csv` (Athena results) and
    /// `*.csv.gz` outside a digest folder).
    pub logs: Vec<PathBuf>,
    /// CloudTrail digest files (under a `CloudTrail-Digest` folder, or
    /// named `*_CloudTrail-Digest_*`).
    pub digests: Vec<PathBuf>,
    /// Files under a directory that are neither (reported, not read).
    pub ignored: Vec<PathBuf>,
}

/// Whether a path is a digest file by the delivery layout.
pub fn is_digest_path(p: &Path) -> bool {
    p.components().any(|c| c.as_os_str().to_string_lossy().contains("CloudTrail-Digest"))
}

fn is_record_name(p: &Path) -> bool {
    let n = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    [".json", ".json.gz", ".csv", ".csv.gz"].iter().any(|s| n.ends_with(s))
}

/// Collects the files under `paths` (directories recursively, symbolic
/// links to directories not followed), sorted within each directory.
pub fn collect(paths: &[PathBuf]) -> Result<Inputs, TrailError> {
    let mut out = Inputs::default();
    let err = |p: &Path, kind: TrailErrorKind| TrailError {
        file: p.display().to_string(),
        offset: None,
        gzip: false,
        records_before: 0,
        kind,
    };
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| err(p, TrailErrorKind::Open(e.to_string())))?;
        if !meta.is_dir() {
            if is_digest_path(p) {
                out.digests.push(p.clone());
            } else {
                out.logs.push(p.clone());
            }
            continue;
        }
        let mut stack = vec![p.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| err(&dir, TrailErrorKind::Open(e.to_string())))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(|e| err(&dir, TrailErrorKind::Open(e.to_string())))?;
            entries.sort();
            let mut subdirs = Vec::new();
            for e in entries {
                let m = std::fs::symlink_metadata(&e)
                    .map_err(|x| err(&e, TrailErrorKind::Open(x.to_string())))?;
                if m.is_dir() {
                    subdirs.push(e);
                } else if !is_record_name(&e) || m.file_type().is_symlink() {
                    out.ignored.push(e);
                } else if is_digest_path(&e) {
                    out.digests.push(e);
                } else {
                    out.logs.push(e);
                }
                if out.logs.len() + out.digests.len() + out.ignored.len() > MAX_FILES {
                    return Err(err(p, TrailErrorKind::TooManyFiles));
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
    }
    Ok(out)
}
