//! Strict tree-object parser: entries `<octal mode> <name>\0<raw id>`, with
//! only the modes git writes, names non-empty without '/' or NUL, and no
//! duplicate names (a duplicate would let two readers pick different
//! entries). Sorted order is not checked: the hash already fixes the bytes.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::HashSet;

use build_spec::codec::Reader;

use super::{GitProofError, ObjectFormat};

/// The modes git writes in trees.
const MODES: [&[u8]; 5] = [b"100644", b"100755", b"120000", b"40000", b"160000"];

/// One tree entry, borrowed from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry<'a> {
    /// ASCII octal mode as written (e.g. `100644`, `40000`).
    pub mode: &'a str,
    /// The entry name (bytes; git names need not be UTF-8).
    pub name: &'a [u8],
    /// The raw object id.
    pub id: &'a [u8],
}

/// Parse a tree body; `path` names the tree in errors.
pub fn parse_tree<'a>(
    format: ObjectFormat,
    body: &'a [u8],
    path: &str,
) -> Result<Vec<TreeEntry<'a>>, GitProofError> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    let mut names = HashSet::new();
    let err = |offset: usize, reason: &str| GitProofError::MalformedTree {
        path: path.to_owned(),
        offset,
        reason: reason.to_owned(),
    };
    while !r.is_empty() {
        let start = r.offset();
        let sp = r
            .rest()
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| err(start, "no space after mode"))?;
        let mode = r.take(sp).map_err(|e| err(e.offset(), "truncated mode"))?;
        if !MODES.contains(&mode) {
            return Err(err(start, "mode git does not write"));
        }
        r.skip(1).map_err(|e| err(e.offset(), "truncated"))?;
        let name_at = r.offset();
        let nul = r
            .rest()
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| err(name_at, "no NUL after name"))?;
        let name = r.take(nul).map_err(|e| err(e.offset(), "truncated name"))?;
        if name.is_empty() {
            return Err(err(name_at, "empty name"));
        }
        if name.contains(&b'/') {
            return Err(err(name_at, "name contains '/'"));
        }
        if name == b"." || name == b".." {
            return Err(err(name_at, "name is . or .."));
        }
        r.skip(1).map_err(|e| err(e.offset(), "truncated"))?;
        let id = r.take(format.id_len()).map_err(|e| err(e.offset(), "truncated object id"))?;
        if !names.insert(name) {
            return Err(err(name_at, "duplicate name"));
        }
        let mode = std::str::from_utf8(mode).map_err(|_| err(start, "mode not ASCII"))?;
        out.push(TreeEntry { mode, name, id });
    }
    Ok(out)
}
