//! The one thing a proof needs from a commit body: its root tree id, the
//! first header line `tree <hex>`, whose length must match the format.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{GitProofError, ObjectFormat};

/// The raw root tree id named by a commit body.
pub fn commit_tree(format: ObjectFormat, body: &[u8]) -> Result<Vec<u8>, GitProofError> {
    let bad = |reason: &str| GitProofError::MalformedCommit { reason: reason.to_owned() };
    let line_end = body.iter().position(|&b| b == b'\n').ok_or_else(|| bad("no header line"))?;
    let line = body.get(..line_end).ok_or_else(|| bad("no header line"))?;
    let hex_id = line.strip_prefix(b"tree ").ok_or_else(|| bad("first line is not `tree <id>`"))?;
    if hex_id.len() != format.hex_len() {
        return Err(bad("tree id length does not match the object format"));
    }
    if !hex_id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(bad("tree id is not lowercase hex"));
    }
    hex::decode(hex_id).map_err(|_| bad("tree id is not hex"))
}
