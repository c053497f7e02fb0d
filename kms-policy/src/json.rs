//! A small, bounded JSON reader that keeps duplicate object members.
//!
//! Why not `serde_json::Value`: it silently keeps the last of two members
//! with the same name, and what AWS KMS does with such a document is not
//! documented. The policy parser must *see* duplicates (to reject them, or to
//! analyse the first-wins and last-wins readings separately), and it must
//! report byte offsets. This reader is a cursor over the text: no recursion
//! beyond [`MAX_DEPTH`], no allocation larger than the input, and every error
//! carries the byte offset where it was detected.

/// Deepest nesting accepted. A key policy needs 5 levels
/// (document, Statement list, statement, Condition, operator, value list).
pub const MAX_DEPTH: usize = 16;

/// A parsed JSON value with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Byte offset of the first character of the value.
    pub offset: usize,
    /// The value.
    pub value: Value,
}

/// A JSON value. Numbers keep their literal text: policy values are compared
/// as strings, and a number must not be rounded on the way.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as written.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Node>),
    /// An object; members in document order, duplicates kept.
    Object(Vec<Member>),
}

/// One object member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The member name, unescaped.
    pub name: String,
    /// Byte offset of the name's opening quote.
    pub name_offset: usize,
    /// The member value.
    pub value: Node,
}

impl Value {
    /// A short name of the JSON type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// What went wrong while reading JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// The text ended inside a value.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A character that cannot start or continue a value here.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A bad escape sequence in a string.
    #[error("invalid escape sequence in string")]
    BadEscape,
    /// A raw control character inside a string.
    #[error("control character inside a string")]
    ControlInString,
    /// A malformed number.
    #[error("malformed number")]
    BadNumber,
    /// Text after the top-level value.
    #[error("trailing characters after the JSON document")]
    Trailing,
}

/// A JSON error with the byte offset where it was detected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSON error at byte {offset}: {kind}")]
pub struct JsonError {
    /// Byte offset into the input text.
    pub offset: usize,
    /// What went wrong.
    pub kind: JsonErrorKind,
}

/// Parses one JSON document (RFC 8259) from `text`.
pub fn parse(text: &str) -> Result<Node, JsonError> {
    let mut r = Reader { text, pos: 0 };
    r.skip_ws();
    let node = r.value(0)?;
    r.skip_ws();
    if r.pos != text.len() {
        return Err(r.err(JsonErrorKind::Trailing));
    }
    Ok(node)
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn err(&self, kind: JsonErrorKind) -> JsonError {
        JsonError { offset: self.pos, kind }
    }

    fn peek(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn expect(&mut self, want: char) -> Result<(), JsonError> {
        match self.peek() {
            Some(c) if c == want => {
                self.pos += c.len_utf8();
                Ok(())
            }
            Some(c) => Err(self.err(JsonErrorKind::UnexpectedChar(c))),
            None => Err(self.err(JsonErrorKind::UnexpectedEnd)),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err(JsonErrorKind::TooDeep));
        }
        let offset = self.pos;
        let value = match self.peek() {
            None => return Err(self.err(JsonErrorKind::UnexpectedEnd)),
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some('"') => Value::String(self.string()?),
            Some('t') => self.literal("true", Value::Bool(true))?,
            Some('f') => self.literal("false", Value::Bool(false))?,
            Some('n') => self.literal("null", Value::Null)?,
            Some(c) if c == '-' || c.is_ascii_digit() => Value::Number(self.number()?),
            Some(c) => return Err(self.err(JsonErrorKind::UnexpectedChar(c))),
        };
        Ok(Node { offset, value })
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, JsonError> {
        if self.text.get(self.pos..).is_some_and(|s| s.starts_with(word)) {
            self.pos += word.len();
            Ok(v)
        } else {
            match self.peek() {
                Some(c) => Err(self.err(JsonErrorKind::UnexpectedChar(c))),
                None => Err(self.err(JsonErrorKind::UnexpectedEnd)),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.expect('{')?;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            let name_offset = self.pos;
            if self.peek() != Some('"') {
                return Err(match self.peek() {
                    Some(c) => self.err(JsonErrorKind::UnexpectedChar(c)),
                    None => self.err(JsonErrorKind::UnexpectedEnd),
                });
            }
            let name = self.string()?;
            self.skip_ws();
            self.expect(':')?;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            members.push(Member { name, name_offset, value });
            self.skip_ws();
            match self.bump() {
                Some(',') => continue,
                Some('}') => return Ok(Value::Object(members)),
                Some(c) => {
                    self.pos -= c.len_utf8();
                    return Err(self.err(JsonErrorKind::UnexpectedChar(c)));
                }
                None => return Err(self.err(JsonErrorKind::UnexpectedEnd)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.expect('[')?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.bump() {
                Some(',') => continue,
                Some(']') => return Ok(Value::Array(items)),
                Some(c) => {
                    self.pos -= c.len_utf8();
                    return Err(self.err(JsonErrorKind::UnexpectedChar(c)));
                }
                None => return Err(self.err(JsonErrorKind::UnexpectedEnd)),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let s = self.text.get(self.pos..self.pos + 4).ok_or(self.err(JsonErrorKind::BadEscape))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err(JsonErrorKind::BadEscape))?;
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.err(JsonErrorKind::BadEscape));
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            let c = self.bump().ok_or(self.err(JsonErrorKind::UnexpectedEnd))?;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = self.bump().ok_or(self.err(JsonErrorKind::UnexpectedEnd))?;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                // A surrogate pair must follow as `\uDC00..DFFF`.
                                self.expect('\\')
                                    .map_err(|_| self.err(JsonErrorKind::BadEscape))?;
                                self.expect('u').map_err(|_| self.err(JsonErrorKind::BadEscape))?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err(JsonErrorKind::BadEscape));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).ok_or(self.err(JsonErrorKind::BadEscape))?);
                        }
                        _ => return Err(self.err(JsonErrorKind::BadEscape)),
                    }
                }
                c if (c as u32) < 0x20 => {
                    self.pos -= 1;
                    return Err(self.err(JsonErrorKind::ControlInString));
                }
                c => out.push(c),
            }
        }
    }

    fn number(&mut self) -> Result<String, JsonError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let at = |p: usize| bytes.get(p).copied();
        let mut p = self.pos;
        if at(p) == Some(b'-') {
            p += 1;
        }
        match at(p) {
            Some(b'0') => p += 1,
            Some(b'1'..=b'9') => {
                while at(p).is_some_and(|b| b.is_ascii_digit()) {
                    p += 1;
                }
            }
            _ => {
                self.pos = p;
                return Err(self.err(JsonErrorKind::BadNumber));
            }
        }
        if at(p) == Some(b'.') {
            p += 1;
            if !at(p).is_some_and(|b| b.is_ascii_digit()) {
                self.pos = p;
                return Err(self.err(JsonErrorKind::BadNumber));
            }
            while at(p).is_some_and(|b| b.is_ascii_digit()) {
                p += 1;
            }
        }
        if matches!(at(p), Some(b'e' | b'E')) {
            p += 1;
            if matches!(at(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if !at(p).is_some_and(|b| b.is_ascii_digit()) {
                self.pos = p;
                return Err(self.err(JsonErrorKind::BadNumber));
            }
            while at(p).is_some_and(|b| b.is_ascii_digit()) {
                p += 1;
            }
        }
        self.pos = p;
        Ok(self.text.get(start..p).unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duplicates_and_offsets() {
        let n = parse(r#" {"a": 1, "a": [true, null, "x\u00e9"]}"#).expect("parses");
        assert_eq!(n.offset, 1);
        let Value::Object(m) = n.value else { panic!("object") };
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "a");
        assert_eq!(m[1].name_offset, 10);
        assert_eq!(m[0].value.value, Value::Number("1".into()));
    }

    #[test]
    fn errors_have_offsets() {
        let e = parse(r#"{"a": tru}"#).expect_err("must fail");
        assert_eq!(e.offset, 6);
        assert_eq!(parse("{} x").expect_err("must fail").kind, JsonErrorKind::Trailing);
        assert_eq!(
            parse(r#"{"a":1,}"#).expect_err("must fail").kind,
            JsonErrorKind::UnexpectedChar('}')
        );
        assert_eq!(parse("\"a\nb\"").expect_err("must fail").kind, JsonErrorKind::ControlInString);
        assert_eq!(parse("01").expect_err("must fail").kind, JsonErrorKind::Trailing);
        assert_eq!(parse("-").expect_err("must fail").kind, JsonErrorKind::BadNumber);
        assert_eq!(parse(r#""\ud800""#).expect_err("must fail").kind, JsonErrorKind::BadEscape);
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert_eq!(parse(&deep).expect_err("must fail").kind, JsonErrorKind::TooDeep);
        assert_eq!(parse("").expect_err("must fail").kind, JsonErrorKind::UnexpectedEnd);
    }

    #[test]
    fn numbers_keep_text() {
        let n = parse("[1.50, -0, 2e10]").expect("parses");
        let Value::Array(a) = n.value else { panic!("array") };
        assert_eq!(a[0].value, Value::Number("1.50".into()));
        assert_eq!(a[2].value, Value::Number("2e10".into()));
    }
}
