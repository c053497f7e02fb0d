//! The document tree of a SOPS file, in file order, and its YAML/JSON loaders.
//!
//! Order matters: the SOPS MAC hashes values in document order
//! (docs/formats/sops.md §5), so the tree keeps mappings as ordered pairs. Both loaders
//! reject duplicate keys, anchors/aliases, tags and multiple documents, and
//! bound depth and node count.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::SopsError;

/// Maximum nesting depth.
pub const MAX_DEPTH: usize = 64;
/// Maximum number of nodes in one file.
pub const MAX_NODES: usize = 1_000_000;

/// A scalar as typed by the YAML/JSON loader.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// An integer (decimal text of the value).
    Int(i128),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
}

/// A node of the document tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A mapping, keys in file order.
    Map(Vec<(String, Node)>),
    /// A sequence.
    List(Vec<Node>),
    /// A scalar leaf.
    Scalar(Scalar),
}

impl Node {
    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string value of a scalar string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(Scalar::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// Loads one YAML document.
pub fn load_yaml(text: &str) -> Result<Node, SopsError> {
    let mut p = Parser::new_from_str(text);
    let mut count = 0usize;
    let mut docs = Vec::new();
    loop {
        let (ev, mark) = next(&mut p)?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                let (ev, mark) = next(&mut p)?;
                if matches!(ev, Event::DocumentEnd) {
                    docs.push(Node::Scalar(Scalar::Null));
                    continue;
                }
                docs.push(yaml_node(&mut p, ev, mark, 0, &mut count)?);
            }
            _ => return Err(unsupported(mark, "content outside a document")),
        }
    }
    if docs.len() != 1 {
        return Err(SopsError::DocumentCount(docs.len()));
    }
    Ok(docs.remove(0))
}

fn next(p: &mut Parser<std::str::Chars<'_>>) -> Result<(Event, Marker), SopsError> {
    p.next_token().map_err(|e| SopsError::Yaml {
        line: e.marker().line(),
        col: e.marker().col(),
        msg: e.info().to_owned(),
    })
}

fn unsupported(mark: Marker, what: &'static str) -> SopsError {
    SopsError::Unsupported { line: mark.line(), what }
}

fn yaml_node(
    p: &mut Parser<std::str::Chars<'_>>,
    ev: Event,
    mark: Marker,
    depth: usize,
    count: &mut usize,
) -> Result<Node, SopsError> {
    *count += 1;
    if *count > MAX_NODES {
        return Err(SopsError::Limit("too many YAML nodes"));
    }
    if depth > MAX_DEPTH {
        return Err(SopsError::Limit("YAML nested too deeply"));
    }
    match ev {
        Event::Scalar(value, style, anchor, tag) => {
            if anchor != 0 {
                return Err(unsupported(mark, "anchor"));
            }
            if tag.is_some() {
                return Err(unsupported(mark, "tag"));
            }
            Ok(Node::Scalar(resolve_scalar(value, style)))
        }
        Event::SequenceStart(anchor, tag) => {
            if anchor != 0 || tag.is_some() {
                return Err(unsupported(mark, "anchor or tag on a sequence"));
            }
            let mut items = Vec::new();
            loop {
                let (ev, mark) = next(p)?;
                if matches!(ev, Event::SequenceEnd) {
                    break;
                }
                items.push(yaml_node(p, ev, mark, depth + 1, count)?);
            }
            Ok(Node::List(items))
        }
        Event::MappingStart(anchor, tag) => {
            if anchor != 0 || tag.is_some() {
                return Err(unsupported(mark, "anchor or tag on a mapping"));
            }
            let mut pairs: Vec<(String, Node)> = Vec::new();
            loop {
                let (ev, kmark) = next(p)?;
                let key = match ev {
                    Event::MappingEnd => break,
                    Event::Scalar(k, _, 0, None) => k,
                    // SOPS requires string keys (docs/formats/sops.md §2).
                    _ => return Err(unsupported(kmark, "non-string mapping key")),
                };
                if pairs.iter().any(|(k, _)| *k == key) {
                    return Err(SopsError::DuplicateKey { key, line: kmark.line() });
                }
                let (ev, vmark) = next(p)?;
                let v = yaml_node(p, ev, vmark, depth + 1, count)?;
                pairs.push((key, v));
            }
            Ok(Node::Map(pairs))
        }
        Event::Alias(_) => Err(unsupported(mark, "alias")),
        _ => Err(unsupported(mark, "unexpected YAML event")),
    }
}

/// Resolves a YAML scalar like go-yaml v3 does for the types SOPS knows
/// (YAML 1.2 core schema). Quoted and block scalars are always strings.
fn resolve_scalar(value: String, style: TScalarStyle) -> Scalar {
    if style != TScalarStyle::Plain {
        return Scalar::Str(value);
    }
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_yaml_int(&value) {
        return Scalar::Int(i);
    }
    if looks_like_float(&value) {
        if let Ok(f) = value.parse::<f64>() {
            return Scalar::Float(f);
        }
    }
    Scalar::Str(value)
}

fn parse_yaml_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let body_clean: String = body.chars().filter(|&c| c != '_').collect();
    let (radix, digits) = if let Some(h) = body_clean.strip_prefix("0x") {
        (16, h.to_owned())
    } else if let Some(o) = body_clean.strip_prefix("0o") {
        (8, o.to_owned())
    } else if let Some(b) = body_clean.strip_prefix("0b") {
        (2, b.to_owned())
    } else {
        (10, body_clean)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    // go-yaml decodes into int64 (or uint64); larger values become floats or strings.
    if v > i128::from(u64::MAX) {
        return None;
    }
    Some(if neg { -v } else { v })
}

fn looks_like_float(s: &str) -> bool {
    let b = s.trim_start_matches(['-', '+']);
    !b.is_empty()
        && b.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.')
        && b.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && b.chars().any(|c| c.is_ascii_digit())
}

/// Loads a JSON document (duplicate keys rejected, order kept).
pub fn load_json(bytes: &[u8]) -> Result<Node, SopsError> {
    let v = crate::json::parse_strict(bytes).map_err(|e| SopsError::Json(e.to_string()))?;
    let mut count = 0;
    json_node(v, 0, &mut count)
}

fn json_node(v: serde_json::Value, depth: usize, count: &mut usize) -> Result<Node, SopsError> {
    use serde_json::Value;
    *count += 1;
    if *count > MAX_NODES {
        return Err(SopsError::Limit("too many JSON nodes"));
    }
    if depth > MAX_DEPTH {
        return Err(SopsError::Limit("JSON nested too deeply"));
    }
    Ok(match v {
        Value::Null => Node::Scalar(Scalar::Null),
        Value::Bool(b) => Node::Scalar(Scalar::Bool(b)),
        Value::Number(n) => Node::Scalar(if let Some(i) = n.as_i64() {
            Scalar::Int(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            Scalar::Int(i128::from(u))
        } else {
            Scalar::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        Value::String(s) => Node::Scalar(Scalar::Str(s)),
        Value::Array(a) => Node::List(
            a.into_iter().map(|x| json_node(x, depth + 1, count)).collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Node::Map(
            m.into_iter()
                .map(|(k, x)| Ok((k, json_node(x, depth + 1, count)?)))
                .collect::<Result<_, SopsError>>()?,
        ),
    })
}

/// Formats a float as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest
/// round-trip digits, never an exponent (Rust's `Display` for `f64` has the
/// same contract; only the special values are spelled differently).
pub fn go_format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_types_and_order() {
        let n = load_yaml("b: 1\na: 'x'\nc: [true, 1.50, ~, 0x10, \"2\"]\n").unwrap();
        let Node::Map(m) = n else { panic!() };
        assert_eq!(m[0].0, "b");
        assert_eq!(m[0].1, Node::Scalar(Scalar::Int(1)));
        assert_eq!(m[1].1, Node::Scalar(Scalar::Str("x".into())));
        assert_eq!(
            m[2].1,
            Node::List(vec![
                Node::Scalar(Scalar::Bool(true)),
                Node::Scalar(Scalar::Float(1.5)),
                Node::Scalar(Scalar::Null),
                Node::Scalar(Scalar::Int(16)),
                Node::Scalar(Scalar::Str("2".into())),
            ])
        );
    }

    #[test]
    fn yaml_rejects() {
        assert!(matches!(load_yaml("a: 1\na: 2\n"), Err(SopsError::DuplicateKey { .. })));
        assert!(matches!(load_yaml("a: &x 1\nb: *x\n"), Err(SopsError::Unsupported { .. })));
        assert!(matches!(load_yaml("a: 1\n---\nb: 2\n"), Err(SopsError::DocumentCount(2))));
        assert!(matches!(load_yaml("a: !!str 1\n"), Err(SopsError::Unsupported { .. })));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(load_yaml(&deep), Err(SopsError::Limit(_))));
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_format_float(1.0), "1");
        assert_eq!(go_format_float(1234568000.0), "1234568000");
        assert_eq!(go_format_float(25.4), "25.4");
        assert_eq!(go_format_float(1e21), "1000000000000000000000");
        assert_eq!(go_format_float(0.000001), "0.000001");
    }
}
