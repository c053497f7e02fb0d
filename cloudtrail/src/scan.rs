//! A streaming JSON scanner: finds one array member of a top-level object
//! and hands out the raw bytes of one element at a time.
//!
//! Why hand-written: a CloudTrail log file or a `lookup-events` dump is one
//! JSON document whose records sit in one array. A DOM parser holds the
//! whole document; `serde_json`'s stream deserializer reads a sequence of
//! top-level values, not the elements of a nested array. This scanner keeps
//! one element (at most [`MAX_RECORD_BYTES`]) and a bounded stack of
//! brackets, so memory does not grow with the file, and it knows the byte
//! offset of everything it reads, so an error names where the file broke.
//!
//! The scanner checks the structure lexically (strings, escapes, bracket
//! pairs, separators at the levels it walks); each element it hands out is
//! then parsed strictly by `serde_json`, which rejects anything else.

use std::io::Read;

/// Largest element (one CloudTrail record) kept in memory. CloudTrail
/// records are far smaller (KMS policies are at most 32 KiB).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Deepest nesting of brackets walked.
pub const MAX_DEPTH: usize = 128;
/// Longest member name of the top-level object.
const MAX_KEY_BYTES: usize = 256;
/// Most top-level members recorded by name.
const MAX_KEYS: usize = 64;
/// Read buffer size.
const BUF: usize = 64 * 1024;

/// What went wrong, without the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanErrorKind {
    /// The reader failed (for gzip input: a corrupt or truncated stream).
    #[error("read error: {0}")]
    Io(String),
    /// The data ends before the document does.
    #[error("the file ends inside {0} (truncated?)")]
    Eof(&'static str),
    /// A byte that cannot be there.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar allows here.
        expected: &'static str,
        /// What was found (printable form).
        found: String,
    },
    /// One element is larger than [`MAX_RECORD_BYTES`].
    #[error("one record is larger than {MAX_RECORD_BYTES} bytes")]
    TooLarge,
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A top-level member name longer than the scanner keeps.
    #[error("a top-level member name is longer than {MAX_KEY_BYTES} bytes")]
    LongKey,
    /// The top-level object has none of the members looked for.
    #[error("the top-level object has no member {0}")]
    NoMember(String),
    /// Bytes after the end of the document.
    #[error("data after the end of the JSON document")]
    Trailing,
}

/// A scan error at a byte offset of the (decompressed) input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct ScanError {
    /// Offset of the byte where the problem was found.
    pub offset: u64,
    /// What.
    pub kind: ScanErrorKind,
}

fn show(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// The scanner over any reader.
pub struct Scanner<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Offset of `buf[pos]` in the input.
    offset: u64,
    first: bool,
    done: bool,
}

type Res<T> = Result<T, ScanError>;

impl<R: Read> Scanner<R> {
    /// A scanner at the start of `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0u8; BUF].into_boxed_slice(),
            pos: 0,
            len: 0,
            offset: 0,
            first: true,
            done: false,
        }
    }

    /// The reader, after scanning.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn err(&self, kind: ScanErrorKind) -> ScanError {
        ScanError { offset: self.offset, kind }
    }

    fn fill(&mut self) -> Res<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.err(ScanErrorKind::Io(e.to_string()))),
            }
        }
    }

    fn peek(&mut self) -> Res<Option<u8>> {
        Ok(if self.fill()? { self.buf.get(self.pos).copied() } else { None })
    }

    fn bump(&mut self) {
        self.pos += 1;
        self.offset += 1;
    }

    fn next(&mut self, inside: &'static str) -> Res<u8> {
        match self.peek()? {
            Some(b) => {
                self.bump();
                Ok(b)
            }
            None => Err(self.err(ScanErrorKind::Eof(inside))),
        }
    }

    fn skip_ws(&mut self) -> Res<()> {
        while let Some(b) = self.peek()? {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.bump();
            } else {
                break;
            }
        }
        Ok(())
    }

    fn expect(&mut self, want: u8, expected: &'static str, inside: &'static str) -> Res<()> {
        self.skip_ws()?;
        let at = self.offset;
        let b = self.next(inside)?;
        if b == want {
            Ok(())
        } else {
            Err(ScanError {
                offset: at,
                kind: ScanErrorKind::Unexpected { expected, found: show(b) },
            })
        }
    }

    fn push(&self, sink: &mut Option<&mut Vec<u8>>, b: u8, cap: usize) -> Res<()> {
        if let Some(s) = sink {
            if s.len() >= cap {
                return Err(self.err(if cap == MAX_KEY_BYTES {
                    ScanErrorKind::LongKey
                } else {
                    ScanErrorKind::TooLarge
                }));
            }
            s.push(b);
        }
        Ok(())
    }

    /// A string (the opening quote next), copied to `sink` when given.
    fn string(&mut self, sink: &mut Option<&mut Vec<u8>>, cap: usize) -> Res<()> {
        let q = self.next("a string")?;
        if q != b'"' {
            return Err(
                self.err(ScanErrorKind::Unexpected { expected: "a string", found: show(q) })
            );
        }
        self.push(sink, q, cap)?;
        loop {
            // Fast path: copy the run of plain bytes in the buffer at once.
            if !self.fill()? {
                return Err(self.err(ScanErrorKind::Eof("a string")));
            }
            let avail = self.buf.get(self.pos..self.len).unwrap_or(&[]);
            let run = avail.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            let n = run.unwrap_or(avail.len());
            if let Some(s) = sink.as_deref_mut() {
                if s.len().saturating_add(n) > cap {
                    return Err(self.err(if cap == MAX_KEY_BYTES {
                        ScanErrorKind::LongKey
                    } else {
                        ScanErrorKind::TooLarge
                    }));
                }
                s.extend_from_slice(avail.get(..n).unwrap_or(&[]));
            }
            self.pos += n;
            self.offset += n as u64;
            if run.is_none() {
                continue;
            }
            let b = self.next("a string")?;
            match b {
                b'"' => return self.push(sink, b, cap),
                b'\\' => {
                    self.push(sink, b, cap)?;
                    let e = self.next("a string escape")?;
                    self.push(sink, e, cap)?;
                }
                _ => {
                    return Err(ScanError {
                        offset: self.offset - 1,
                        kind: ScanErrorKind::Unexpected {
                            expected: "no control character inside a string",
                            found: show(b),
                        },
                    })
                }
            }
        }
    }

    /// One JSON value, copied to `sink` when given.
    fn value(&mut self, mut sink: Option<&mut Vec<u8>>) -> Res<()> {
        let cap = MAX_RECORD_BYTES;
        self.skip_ws()?;
        match self.peek()? {
            None => Err(self.err(ScanErrorKind::Eof("a value"))),
            Some(b'"') => self.string(&mut sink, cap),
            Some(b'{' | b'[') => {
                let mut stack: Vec<u8> = Vec::new();
                loop {
                    let b = match self.peek()? {
                        Some(b) => b,
                        None => return Err(self.err(ScanErrorKind::Eof("an object or array"))),
                    };
                    match b {
                        b'"' => {
                            self.string(&mut sink, cap)?;
                            continue;
                        }
                        b'{' | b'[' => {
                            if stack.len() >= MAX_DEPTH {
                                return Err(self.err(ScanErrorKind::TooDeep));
                            }
                            stack.push(if b == b'{' { b'}' } else { b']' });
                        }
                        b'}' | b']' => {
                            if stack.last() != Some(&b) {
                                return Err(self.err(ScanErrorKind::Unexpected {
                                    expected: "a matching bracket",
                                    found: show(b),
                                }));
                            }
                            stack.pop();
                        }
                        _ => {}
                    }
                    self.push(&mut sink, b, cap)?;
                    self.bump();
                    if stack.is_empty() {
                        return Ok(());
                    }
                }
            }
            Some(b) if b == b'-' || b.is_ascii_alphanumeric() => {
                while let Some(b) = self.peek()? {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.') {
                        self.push(&mut sink, b, cap)?;
                        self.bump();
                    } else {
                        break;
                    }
                }
                Ok(())
            }
            Some(b) => {
                Err(self.err(ScanErrorKind::Unexpected { expected: "a value", found: show(b) }))
            }
        }
    }

    fn key(&mut self) -> Res<String> {
        let at = self.offset;
        let mut raw = Vec::new();
        self.string(&mut Some(&mut raw), MAX_KEY_BYTES)?;
        serde_json::from_slice::<String>(&raw).map_err(|e| ScanError {
            offset: at,
            kind: ScanErrorKind::Unexpected { expected: "a member name", found: e.to_string() },
        })
    }

    /// Reads the top-level object up to the first of `members` whose value
    /// is an array, leaving the scanner at its first element. Returns the
    /// index of the member found and the names of the members before it.
    pub fn open(&mut self, members: &[&str]) -> Res<(usize, Vec<String>)> {
        self.expect(b'{', "'{' (a JSON object)", "the document")?;
        let mut seen = Vec::new();
        self.skip_ws()?;
        if self.peek()? == Some(b'}') {
            return Err(self.err(ScanErrorKind::NoMember(members.join(" or "))));
        }
        loop {
            self.skip_ws()?;
            let k = self.key()?;
            self.expect(b':', "':'", "the top-level object")?;
            if let Some(i) = members.iter().position(|m| *m == k) {
                self.expect(b'[', "'[' (an array)", "the top-level object")?;
                return Ok((i, seen));
            }
            self.value(None)?;
            if seen.len() < MAX_KEYS {
                seen.push(k);
            }
            self.skip_ws()?;
            let at = self.offset;
            match self.next("the top-level object")? {
                b',' => {}
                b'}' => {
                    return Err(ScanError {
                        offset: at,
                        kind: ScanErrorKind::NoMember(members.join(" or ")),
                    })
                }
                b => {
                    return Err(ScanError {
                        offset: at,
                        kind: ScanErrorKind::Unexpected { expected: "',' or '}'", found: show(b) },
                    })
                }
            }
        }
    }

    /// The next element of the array [`Self::open`] entered, copied into
    /// `out` (cleared first); its offset, or `None` after the last one.
    pub fn next_element(&mut self, out: &mut Vec<u8>) -> Res<Option<u64>> {
        if self.done {
            return Ok(None);
        }
        self.skip_ws()?;
        if self.first {
            self.first = false;
            if self.peek()? == Some(b']') {
                self.bump();
                self.done = true;
                return Ok(None);
            }
        } else {
            let at = self.offset;
            match self.next("the records array")? {
                b',' => self.skip_ws()?,
                b']' => {
                    self.done = true;
                    return Ok(None);
                }
                b => {
                    return Err(ScanError {
                        offset: at,
                        kind: ScanErrorKind::Unexpected { expected: "',' or ']'", found: show(b) },
                    })
                }
            }
        }
        let at = self.offset;
        out.clear();
        self.value(Some(out))?;
        Ok(Some(at))
    }

    /// After the array: the remaining members' names, then the end of the
    /// object and of the input (nothing but whitespace may follow).
    pub fn close(&mut self) -> Res<Vec<String>> {
        let mut rest = Vec::new();
        loop {
            self.skip_ws()?;
            let at = self.offset;
            match self.next("the top-level object")? {
                b'}' => break,
                b',' => {
                    self.skip_ws()?;
                    let k = self.key()?;
                    self.expect(b':', "':'", "the top-level object")?;
                    self.value(None)?;
                    if rest.len() < MAX_KEYS {
                        rest.push(k);
                    }
                }
                b => {
                    return Err(ScanError {
                        offset: at,
                        kind: ScanErrorKind::Unexpected { expected: "',' or '}'", found: show(b) },
                    })
                }
            }
        }
        self.skip_ws()?;
        if self.peek()?.is_some() {
            return Err(self.err(ScanErrorKind::Trailing));
        }
        Ok(rest)
    }
}
