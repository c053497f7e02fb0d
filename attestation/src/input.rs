//! Reading a document given as raw CBOR, hex or base64 (auto-detected).
//!
//! Real documents are published in all three forms. Detection is
//! unambiguous for COSE_Sign1: raw bytes start with `84` (array of 4) or `d2`
//! (tag 18), neither of which is printable ASCII; hex text uses only
//! `[0-9a-fA-F]`; base64 of `84 …` starts with `h`, which is not a hex digit.

use base64::Engine;

use super::parse::MAX_DOCUMENT_LEN;

/// How the input was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputEncoding {
    /// Raw CBOR bytes.
    Raw,
    /// Hexadecimal text.
    Hex,
    /// Base64 text (standard or URL-safe alphabet, padding optional).
    Base64,
}

impl std::fmt::Display for InputEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputEncoding::Raw => "raw CBOR",
            InputEncoding::Hex => "hex",
            InputEncoding::Base64 => "base64",
        })
    }
}

/// Errors decoding text input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// Empty input.
    #[error("input is empty")]
    Empty,
    /// Larger than any document could be, even as text.
    #[error("input is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Neither raw CBOR, hex nor base64.
    #[error("input is neither raw CBOR (first byte 0x84 or 0xd2), hex nor base64")]
    Unrecognised,
}

/// Largest encoded document accepted: text forms are at most twice the raw
/// size (hex), plus whitespace. Files larger than this are refused unread.
pub const MAX_INPUT_LEN: usize = MAX_DOCUMENT_LEN * 3;

/// Decodes `data` and says how it was encoded.
pub fn decode_document(data: &[u8]) -> Result<(Vec<u8>, InputEncoding), InputError> {
    let max = MAX_INPUT_LEN;
    if data.len() > max {
        return Err(InputError::TooLarge { len: data.len(), max });
    }
    match data.first() {
        None => return Err(InputError::Empty),
        Some(0x84 | 0xd2 | 0x9f) => return Ok((data.to_vec(), InputEncoding::Raw)),
        _ => {}
    }
    let text: Vec<u8> = data.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    if text.is_empty() {
        return Err(InputError::Empty);
    }
    if text.len() % 2 == 0 && text.iter().all(u8::is_ascii_hexdigit) {
        if let Ok(b) = hex::decode(&text) {
            return Ok((b, InputEncoding::Hex));
        }
    }
    let trimmed: &[u8] = {
        let end = text.iter().rposition(|b| *b != b'=').map_or(0, |p| p + 1);
        text.get(..end).unwrap_or_default()
    };
    let engines = [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for e in engines {
        if let Ok(b) = e.decode(trimmed) {
            return Ok((b, InputEncoding::Base64));
        }
    }
    Err(InputError::Unrecognised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_encoding() {
        let raw = vec![0x84, 0x40, 0xa0, 0x40, 0x40];
        assert_eq!(decode_document(&raw), Ok((raw.clone(), InputEncoding::Raw)));
        let hex_text = format!("{}\n", hex::encode(&raw));
        assert_eq!(decode_document(hex_text.as_bytes()), Ok((raw.clone(), InputEncoding::Hex)));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert_eq!(decode_document(b64.as_bytes()), Ok((raw.clone(), InputEncoding::Base64)));
        assert_eq!(decode_document(b""), Err(InputError::Empty));
        assert_eq!(decode_document(b"not base64 !!"), Err(InputError::Unrecognised));
    }
}
