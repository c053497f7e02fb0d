//! The proof check: commit body → commit id; its tree → `trees[0]`; each
//! intermediate path component a `40000` entry naming the next tree body;
//! the last component a regular-file blob whose id is the hash of the file.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{commit_tree, object_id, parse_tree, GitProofError, ObjectFormat, ObjectKind};

/// Largest commit body accepted (bytes).
pub const MAX_COMMIT: usize = 64 * 1024;
/// Largest tree body accepted (bytes).
pub const MAX_TREE: usize = 1024 * 1024;
/// Most path components (and so tree bodies) accepted.
pub const MAX_PATH_COMPONENTS: usize = 64;
/// Longest path accepted (bytes).
pub const MAX_PATH: usize = 4096;

/// What a verified proof establishes: `file_bytes` is the blob at `path`
/// in `commit`. Ids are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    /// The commit id.
    pub commit: String,
    /// Tree ids along the path, root first.
    pub trees: Vec<String>,
    /// The blob id of the file.
    pub blob: String,
    /// The path inside the commit.
    pub path: String,
}

fn split_path(path: &str) -> Result<Vec<&str>, GitProofError> {
    let bad = |reason| GitProofError::BadPath { path: path.to_owned(), reason };
    if path.len() > MAX_PATH {
        return Err(GitProofError::TooLarge { what: "path", size: path.len(), limit: MAX_PATH });
    }
    if path.is_empty() {
        return Err(bad("empty"));
    }
    if path.starts_with('/') {
        return Err(bad("absolute"));
    }
    if path.contains('\0') {
        return Err(bad("contains NUL"));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > MAX_PATH_COMPONENTS {
        return Err(GitProofError::TooLarge {
            what: "path components",
            size: parts.len(),
            limit: MAX_PATH_COMPONENTS,
        });
    }
    for p in &parts {
        match *p {
            "" => return Err(bad("empty component")),
            "." | ".." => return Err(bad("`.` or `..` component")),
            _ => {}
        }
    }
    Ok(parts)
}

/// Check a git proof. `trees` are the tree bodies along `path`, root first
/// (one per path component but the last). `file_bytes` is hashed whole;
/// its size is bounded by the caller (the pack request's input limit).
pub fn verify(
    format: ObjectFormat,
    commit_id_hex: &str,
    commit_body: &[u8],
    trees: &[&[u8]],
    path: &str,
    file_bytes: &[u8],
) -> Result<Proven, GitProofError> {
    if commit_id_hex.len() != format.hex_len() {
        return Err(GitProofError::BadCommitId {
            id: commit_id_hex.to_owned(),
            reason: "length does not match the object format",
        });
    }
    if !commit_id_hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(GitProofError::BadCommitId {
            id: commit_id_hex.to_owned(),
            reason: "not lowercase hex",
        });
    }
    if commit_body.len() > MAX_COMMIT {
        return Err(GitProofError::TooLarge {
            what: "commit body",
            size: commit_body.len(),
            limit: MAX_COMMIT,
        });
    }
    let parts = split_path(path)?;
    if trees.len() > parts.len() {
        return Err(GitProofError::TooManyTrees { sent: trees.len(), used: parts.len() });
    }
    if let Some(t) = trees.iter().find(|t| t.len() > MAX_TREE) {
        return Err(GitProofError::TooLarge { what: "tree body", size: t.len(), limit: MAX_TREE });
    }

    let actual = hex::encode(object_id(format, ObjectKind::Commit, commit_body));
    if actual != commit_id_hex {
        return Err(GitProofError::CommitIdMismatch { expected: commit_id_hex.to_owned(), actual });
    }
    let mut expected_tree = commit_tree(format, commit_body)?;
    let mut tree_ids = Vec::new();
    let mut walked = String::new();
    let mut parts_iter = parts.iter().enumerate().peekable();
    while let Some((i, part)) = parts_iter.next() {
        let body =
            trees.get(i).ok_or_else(|| GitProofError::MissingTree { path: walked.clone() })?;
        let actual = object_id(format, ObjectKind::Tree, body);
        if actual != expected_tree {
            return Err(GitProofError::TreeIdMismatch {
                path: walked.clone(),
                expected: hex::encode(&expected_tree),
                actual: hex::encode(actual),
            });
        }
        tree_ids.push(hex::encode(&actual));
        let entries = parse_tree(format, body, &walked)?;
        if !walked.is_empty() {
            walked.push('/');
        }
        walked.push_str(part);
        let entry = entries
            .iter()
            .find(|e| e.name == part.as_bytes())
            .ok_or_else(|| GitProofError::NoSuchEntry { path: walked.clone() })?;
        if parts_iter.peek().is_some() {
            if entry.mode != "40000" {
                return Err(GitProofError::NotATree {
                    path: walked.clone(),
                    mode: entry.mode.to_owned(),
                });
            }
            expected_tree = entry.id.to_vec();
        } else {
            if entry.mode != "100644" && entry.mode != "100755" {
                return Err(GitProofError::NotABlob {
                    path: walked.clone(),
                    mode: entry.mode.to_owned(),
                });
            }
            if trees.len() != parts.len() {
                return Err(GitProofError::TooManyTrees { sent: trees.len(), used: parts.len() });
            }
            let blob = object_id(format, ObjectKind::Blob, file_bytes);
            if blob != entry.id {
                return Err(GitProofError::BlobMismatch {
                    path: walked,
                    expected: hex::encode(entry.id),
                    actual: hex::encode(blob),
                });
            }
            return Ok(Proven {
                commit: commit_id_hex.to_owned(),
                trees: tree_ids,
                blob: hex::encode(blob),
                path: path.to_owned(),
            });
        }
    }
    Err(GitProofError::BadPath { path: path.to_owned(), reason: "empty" })
}
