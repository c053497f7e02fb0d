//! Athena query results as Athena delivers them: the CSV result object
//! (`<QueryExecutionId>.csv` in the query's OutputLocation), RFC 4180 with
//! a header row of the (lowercase) column names.
//!
//! The columns are those of the CloudTrail table the Athena User Guide
//! documents (`eventversion`, `useridentity`, `eventtime`, ...), selected
//! as the query of `proofpack kms-trail sql --athena-table` selects them:
//! structures (`useridentity`, `resources`) as JSON text
//! (`json_format(CAST(... AS JSON))`, whose member names are the table's
//! lowercase field names), `requestparameters`, `responseelements` and
//! `additionaleventdata` as the JSON text the table holds
//! (`docs/notes/cloudtrail.md` §4).
//!
//! The reader is a hand-written RFC 4180 scanner, like [`crate::scan`]: one
//! row at a time into a reused buffer of at most
//! [`crate::scan::MAX_RECORD_BYTES`], every error with the byte offset.
//! CSV has no end marker: a file cut inside a row is an error (an open
//! quote, a short row), a file cut between two rows is not; the emitted
//! query orders the rows by time so such a cut loses the records after the
//! window, which the coverage check reports.

use std::io::Read;

use serde_json::{Map, Value};

use crate::record::Event;
use crate::scan::MAX_RECORD_BYTES;

/// Most columns in the header.
pub const MAX_COLUMNS: usize = 256;
const BUF: usize = 64 * 1024;

/// What is wrong with a CSV file, without the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvErrorKind {
    /// The reader failed (for gzip input: a corrupt or truncated stream).
    #[error("read error: {0}")]
    Io(String),
    /// The data ends inside a quoted field.
    #[error("the file ends inside a quoted field (truncated?)")]
    Eof,
    /// A byte that cannot be there.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What RFC 4180 allows here.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// One row is larger than [`MAX_RECORD_BYTES`].
    #[error("one row is larger than {MAX_RECORD_BYTES} bytes")]
    TooLarge,
    /// A header with more than [`MAX_COLUMNS`] columns.
    #[error("more than {MAX_COLUMNS} columns")]
    TooManyColumns,
    /// A row whose number of fields differs from the header's.
    #[error("a row of {found} fields under a header of {expected} (truncated?)")]
    FieldCount {
        /// Columns in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// Text that is not UTF-8.
    #[error("a field is not UTF-8")]
    NotUtf8,
    /// A header that is not the CloudTrail table's.
    #[error("not an Athena result of the CloudTrail table: {0}")]
    Header(String),
}

/// A CSV error at a byte offset of the (decompressed) input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct CsvError {
    /// Offset of the problem.
    pub offset: u64,
    /// What.
    pub kind: CsvErrorKind,
}

fn show(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// One row: the bytes of all fields and where each ends; a field is `None`
/// when empty (Athena writes SQL NULL as an empty field).
#[derive(Debug, Default)]
pub struct Row {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Row {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the row has no field.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`'s bytes.
    pub fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(0) };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.bytes.get(start..end).unwrap_or(&[])
    }
}

/// An RFC 4180 row scanner over any reader.
pub struct CsvScanner<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    offset: u64,
}

type Res<T> = Result<T, CsvError>;

impl<R: Read> CsvScanner<R> {
    /// A scanner at the start of `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner, buf: vec![0u8; BUF].into_boxed_slice(), pos: 0, len: 0, offset: 0 }
    }

    /// The reader, after scanning.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn err(&self, kind: CsvErrorKind) -> CsvError {
        CsvError { offset: self.offset, kind }
    }

    fn peek(&mut self) -> Res<Option<u8>> {
        if self.pos >= self.len {
            loop {
                match self.inner.read(&mut self.buf) {
                    Ok(0) => return Ok(None),
                    Ok(n) => {
                        self.pos = 0;
                        self.len = n;
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.err(CsvErrorKind::Io(e.to_string()))),
                }
            }
        }
        Ok(self.buf.get(self.pos).copied())
    }

    fn bump(&mut self) {
        self.pos += 1;
        self.offset += 1;
    }

    fn push(&self, row: &mut Row, b: &[u8]) -> Res<()> {
        if row.bytes.len().saturating_add(b.len()) > MAX_RECORD_BYTES {
            return Err(self.err(CsvErrorKind::TooLarge));
        }
        row.bytes.extend_from_slice(b);
        Ok(())
    }

    /// Skips a UTF-8 byte order mark at the start.
    fn skip_bom(&mut self) -> Res<()> {
        if self.offset == 0 && self.peek()? == Some(0xef) {
            let rest = self.buf.get(self.pos..self.len).unwrap_or(&[]);
            if rest.starts_with(&[0xef, 0xbb, 0xbf]) {
                self.pos += 3;
                self.offset += 3;
            }
        }
        Ok(())
    }

    /// The end of a line: `\n` or `\r\n`.
    fn end_of_line(&mut self) -> Res<()> {
        if self.peek()? == Some(b'\r') {
            self.bump();
            match self.peek()? {
                Some(b'\n') => self.bump(),
                Some(b) => {
                    return Err(self.err(CsvErrorKind::Unexpected {
                        expected: "'\\n' after '\\r'",
                        found: show(b),
                    }))
                }
                None => {}
            }
        } else if self.peek()? == Some(b'\n') {
            self.bump();
        }
        Ok(())
    }

    /// The next row into `row` (cleared first); its offset, or `None` at
    /// the end of the data.
    pub fn next_row(&mut self, row: &mut Row, max_fields: usize) -> Res<Option<u64>> {
        self.skip_bom()?;
        row.bytes.clear();
        row.ends.clear();
        if self.peek()?.is_none() {
            return Ok(None);
        }
        let at = self.offset;
        loop {
            if row.ends.len() >= max_fields {
                return Err(self.err(CsvErrorKind::TooManyColumns));
            }
            if self.peek()? == Some(b'"') {
                self.bump();
                loop {
                    if self.peek()?.is_none() {
                        return Err(self.err(CsvErrorKind::Eof));
                    }
                    let avail = self.buf.get(self.pos..self.len).unwrap_or(&[]);
                    let run = avail.iter().position(|&b| b == b'"');
                    let n = run.unwrap_or(avail.len());
                    self.push(row, avail.get(..n).unwrap_or(&[]))?;
                    self.pos += n;
                    self.offset += n as u64;
                    if run.is_none() {
                        continue;
                    }
                    self.bump();
                    if self.peek()? == Some(b'"') {
                        self.push(row, b"\"")?;
                        self.bump();
                    } else {
                        break;
                    }
                }
                row.ends.push(row.bytes.len());
                match self.peek()? {
                    Some(b',') => self.bump(),
                    Some(b'\r' | b'\n') | None => break,
                    Some(b) => {
                        return Err(self.err(CsvErrorKind::Unexpected {
                            expected: "',' or the end of the line after a closing quote",
                            found: show(b),
                        }))
                    }
                }
            } else {
                loop {
                    match self.peek()? {
                        Some(b',' | b'\r' | b'\n') | None => break,
                        Some(b'"') => {
                            return Err(self.err(CsvErrorKind::Unexpected {
                                expected: "no '\"' inside an unquoted field",
                                found: show(b'"'),
                            }))
                        }
                        Some(b) => {
                            self.push(row, &[b])?;
                            self.bump();
                        }
                    }
                }
                row.ends.push(row.bytes.len());
                if self.peek()? == Some(b',') {
                    self.bump();
                } else {
                    break;
                }
            }
        }
        self.end_of_line()?;
        Ok(Some(at))
    }
}

/// What a column of the CloudTrail table becomes in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    /// A string member of this name.
    Text(&'static str),
    /// A JSON member of this name, from JSON text; keys renamed by the table.
    Json(&'static str, &'static [(&'static str, &'static str)]),
    /// A boolean member written as `true`/`false`.
    Bool(&'static str),
    /// A column the record does not keep.
    Skip,
}

const IDENTITY_KEYS: &[(&str, &str)] = &[
    ("type", "type"),
    ("principalid", "principalId"),
    ("arn", "arn"),
    ("accountid", "accountId"),
    ("accesskeyid", "accessKeyId"),
    ("invokedby", "invokedBy"),
    ("username", "userName"),
    ("sessioncontext", "sessionContext"),
];
const RESOURCE_KEYS: &[(&str, &str)] =
    &[("arn", "ARN"), ("accountid", "accountId"), ("type", "type")];

fn column(name: &str) -> Col {
    match name {
        "eventversion" => Col::Text("eventVersion"),
        "useridentity" => Col::Json("userIdentity", IDENTITY_KEYS),
        "eventtime" => Col::Text("eventTime"),
        "eventsource" => Col::Text("eventSource"),
        "eventname" => Col::Text("eventName"),
        "awsregion" => Col::Text("awsRegion"),
        "sourceipaddress" => Col::Text("sourceIPAddress"),
        "useragent" => Col::Text("userAgent"),
        "errorcode" => Col::Text("errorCode"),
        "errormessage" => Col::Text("errorMessage"),
        "requestparameters" => Col::Json("requestParameters", &[]),
        "responseelements" => Col::Json("responseElements", &[]),
        "additionaleventdata" => Col::Json("additionalEventData", &[]),
        "requestid" => Col::Text("requestID"),
        "eventid" => Col::Text("eventID"),
        "resources" => Col::Json("resources", RESOURCE_KEYS),
        "eventtype" => Col::Text("eventType"),
        "recipientaccountid" => Col::Text("recipientAccountId"),
        "readonly" => Col::Bool("readOnly"),
        "managementevent" => Col::Bool("managementEvent"),
        "eventcategory" => Col::Text("eventCategory"),
        _ => Col::Skip,
    }
}

/// The header: what each column becomes.
#[derive(Debug, Clone)]
pub struct Header {
    cols: Vec<(String, Col)>,
}

impl Header {
    /// Reads the header row: lowercase names, each at most once, including
    /// `eventtime`, `eventsource` and `eventname`.
    pub fn from_row(row: &Row) -> Result<Self, CsvErrorKind> {
        let mut cols = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            let name = std::str::from_utf8(row.field(i))
                .map_err(|_| CsvErrorKind::NotUtf8)?
                .trim()
                .to_ascii_lowercase();
            if name.len() > 256 {
                return Err(CsvErrorKind::Header("a column name over 256 bytes".into()));
            }
            if cols.iter().any(|(n, _)| *n == name) {
                return Err(CsvErrorKind::Header(format!("column {name:?} appears twice")));
            }
            let c = column(&name);
            cols.push((name, c));
        }
        for need in ["eventtime", "eventsource", "eventname"] {
            if !cols.iter().any(|(n, _)| n == need) {
                return Err(CsvErrorKind::Header(format!("no column {need}")));
            }
        }
        Ok(Self { cols })
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.cols.len()
    }

    /// Whether there is no column.
    pub fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }
}

fn rename(v: Value, keys: &[(&str, &str)]) -> Value {
    match v {
        Value::Object(m) if !keys.is_empty() => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    match keys.iter().find(|(from, _)| *from == lower) {
                        Some((_, to)) => ((*to).to_string(), v),
                        None => (k, v),
                    }
                })
                .collect(),
        ),
        Value::Array(a) if !keys.is_empty() => {
            Value::Array(a.into_iter().map(|v| rename(v, keys)).collect())
        }
        v => v,
    }
}

/// One data row to a record. Empty fields are absent members.
pub fn row_event(header: &Header, row: &Row) -> Result<Event, String> {
    let mut m = Map::new();
    for (i, (name, col)) in header.cols.iter().enumerate() {
        let raw = row.field(i);
        if raw.is_empty() || *col == Col::Skip {
            continue;
        }
        let text = std::str::from_utf8(raw).map_err(|_| format!("column {name}: not UTF-8"))?;
        let (member, value) = match *col {
            Col::Text(member) if member == "eventTime" => {
                (member, Value::String(crate::read::lake_time(text)))
            }
            Col::Text(member) => (member, Value::String(text.to_string())),
            Col::Bool(member) => match text {
                "true" => (member, Value::Bool(true)),
                "false" => (member, Value::Bool(false)),
                _ => continue,
            },
            Col::Json(member, keys) => {
                let v: Value = serde_json::from_str(text)
                    .map_err(|e| format!("column {name} is not JSON text: {e}"))?;
                if v.is_null() {
                    continue;
                }
                (member, rename(v, keys))
            }
            Col::Skip => continue,
        };
        m.insert(member.to_string(), value);
    }
    serde_json::from_value(Value::Object(m)).map_err(|e| e.to_string())
}
