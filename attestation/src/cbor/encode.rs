//! A minimal CBOR (RFC 8949) encoder.
//!
//! Written by hand rather than using `ciborium` because the test CA must be
//! able to produce *exactly* the byte shapes real NSMs emit (definite maps
//! before 2025, an indefinite top-level map after) and also malformed shapes
//! (duplicate keys, non-shortest heads, indefinite strings) for tamper tests.
//! `ciborium` always writes definite, shortest-form items.

/// One CBOR data item, as it will be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Major type 0.
    Uint(u64),
    /// Major type 1: the value is `-1 - n`.
    Nint(u64),
    /// Major type 2, definite length.
    Bytes(Vec<u8>),
    /// Major type 2, indefinite length: the chunks, in order.
    BytesIndef(Vec<Vec<u8>>),
    /// Major type 3, definite length.
    Text(String),
    /// Major type 4, definite length.
    Array(Vec<Item>),
    /// Major type 4, indefinite length.
    ArrayIndef(Vec<Item>),
    /// Major type 5, definite length; pairs in the given order.
    Map(Vec<(Item, Item)>),
    /// Major type 5, indefinite length (`bf ... ff`).
    MapIndef(Vec<(Item, Item)>),
    /// Major type 6: a tag around an item.
    Tag(u64, Box<Item>),
    /// `null` (`f6`).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Bytes copied verbatim (for hand-made malformed encodings).
    Raw(Vec<u8>),
    /// An item whose head uses a longer-than-needed argument form:
    /// `(major, value, width)` with width 1, 2, 4 or 8 bytes.
    LongHead(u8, u64, u8),
}

/// Writes the head of an item (major type and argument) in shortest form.
pub fn write_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let m = major << 5;
    if value < 24 {
        out.push(m | value as u8);
    } else if value <= u64::from(u8::MAX) {
        out.push(m | 24);
        out.push(value as u8);
    } else if value <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(value as u16).to_be_bytes());
    } else if value <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(value as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

impl Item {
    /// Shorthand for a text item.
    pub fn text(s: &str) -> Self {
        Item::Text(s.to_owned())
    }

    /// Shorthand for a byte-string item.
    pub fn bytes(b: &[u8]) -> Self {
        Item::Bytes(b.to_vec())
    }

    /// Appends the encoding of this item to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Item::Uint(v) => write_head(out, 0, *v),
            Item::Nint(v) => write_head(out, 1, *v),
            Item::Bytes(b) => {
                write_head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Item::BytesIndef(chunks) => {
                out.push(0x5f);
                for c in chunks {
                    write_head(out, 2, c.len() as u64);
                    out.extend_from_slice(c);
                }
                out.push(0xff);
            }
            Item::Text(s) => {
                write_head(out, 3, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            Item::Array(items) => {
                write_head(out, 4, items.len() as u64);
                items.iter().for_each(|i| i.encode_into(out));
            }
            Item::ArrayIndef(items) => {
                out.push(0x9f);
                items.iter().for_each(|i| i.encode_into(out));
                out.push(0xff);
            }
            Item::Map(pairs) => {
                write_head(out, 5, pairs.len() as u64);
                for (k, v) in pairs {
                    k.encode_into(out);
                    v.encode_into(out);
                }
            }
            Item::MapIndef(pairs) => {
                out.push(0xbf);
                for (k, v) in pairs {
                    k.encode_into(out);
                    v.encode_into(out);
                }
                out.push(0xff);
            }
            Item::Tag(tag, inner) => {
                write_head(out, 6, *tag);
                inner.encode_into(out);
            }
            Item::Null => out.push(0xf6),
            Item::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
            Item::Raw(bytes) => out.extend_from_slice(bytes),
            Item::LongHead(major, value, width) => {
                let m = major << 5;
                match width {
                    1 => {
                        out.push(m | 24);
                        out.push(*value as u8);
                    }
                    2 => {
                        out.push(m | 25);
                        out.extend_from_slice(&(*value as u16).to_be_bytes());
                    }
                    4 => {
                        out.push(m | 26);
                        out.extend_from_slice(&(*value as u32).to_be_bytes());
                    }
                    _ => {
                        out.push(m | 27);
                        out.extend_from_slice(&value.to_be_bytes());
                    }
                }
            }
        }
    }

    /// The encoding of this item.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// For a map item, the value stored under the text key `key`.
    pub fn map_get_mut(&mut self, key: &str) -> Option<&mut Item> {
        match self {
            Item::Map(pairs) | Item::MapIndef(pairs) => pairs
                .iter_mut()
                .find(|(k, _)| matches!(k, Item::Text(t) if t == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// For a map item, its pairs.
    pub fn map_pairs_mut(&mut self) -> Option<&mut Vec<(Item, Item)>> {
        match self {
            Item::Map(pairs) | Item::MapIndef(pairs) => Some(pairs),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_shortest_form() {
        assert_eq!(Item::Uint(23).to_vec(), [0x17]);
        assert_eq!(Item::Uint(24).to_vec(), [0x18, 24]);
        assert_eq!(Item::Uint(256).to_vec(), [0x19, 1, 0]);
        assert_eq!(Item::Nint(34).to_vec(), [0x38, 0x22]);
        assert_eq!(Item::Uint(1 << 40).to_vec()[0], 0x1b);
    }

    #[test]
    fn indefinite_map_is_bracketed() {
        let m = Item::MapIndef(vec![(Item::text("a"), Item::Null)]);
        assert_eq!(m.to_vec(), [0xbf, 0x61, b'a', 0xf6, 0xff]);
    }
}
