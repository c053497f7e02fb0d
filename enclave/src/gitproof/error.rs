//! Typed errors of a git proof. Each names the path (as far as the walk got)
//! and the object ids involved, so a refusal says where the chain broke.

/// Why a git proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GitProofError {
    /// The commit body does not hash to the claimed commit id.
    #[error("commit id mismatch: expected {expected}, the commit body hashes to {actual}")]
    CommitIdMismatch {
        /// The id claimed (by the caller or the parent object), hex.
        expected: String,
        /// The id recomputed here, hex.
        actual: String,
    },
    /// A tree body does not hash to the id its parent names.
    #[error("tree {path:?}: expected id {expected}, the tree body hashes to {actual}")]
    TreeIdMismatch {
        /// The path as far as the walk got (`""` is the root tree).
        path: String,
        /// The id claimed (by the caller or the parent object), hex.
        expected: String,
        /// The id recomputed here, hex.
        actual: String,
    },
    /// A path component is not in its tree.
    #[error("no entry {path:?}")]
    NoSuchEntry {
        /// The path as far as the walk got (`""` is the root tree).
        path: String,
    },
    /// An intermediate component is not a directory.
    #[error("{path:?} is not a tree (mode {mode})")]
    NotATree {
        /// The path as far as the walk got (`""` is the root tree).
        path: String,
        /// The entry mode as written.
        mode: String,
    },
    /// The last component is not a regular file (symlink, submodule, tree).
    #[error("{path:?} is not a blob (mode {mode})")]
    NotABlob {
        /// The path as far as the walk got (`""` is the root tree).
        path: String,
        /// The entry mode as written.
        mode: String,
    },
    /// The file's bytes are not the blob the tree names.
    #[error("blob {path:?}: the tree names {expected}, the file hashes to {actual}")]
    BlobMismatch {
        /// The path as far as the walk got (`""` is the root tree).
        path: String,
        /// The id claimed (by the caller or the parent object), hex.
        expected: String,
        /// The id recomputed here, hex.
        actual: String,
    },
    /// A tree body does not parse.
    #[error("malformed tree {path:?} at offset {offset}: {reason}")]
    MalformedTree {
        /// The path as far as the walk got (`""` is the root tree).
        path: String,
        /// Offset in the tree body where parsing stopped.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The commit body does not parse.
    #[error("malformed commit: {reason}")]
    MalformedCommit {
        /// What is wrong.
        reason: String,
    },
    /// An input is over its bound.
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The path is not a relative '/'-separated path without `.`/`..`.
    #[error("bad path {path:?}: {reason}")]
    BadPath {
        /// The path as far as the walk got (`""` is the root tree).
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// More tree bodies were sent than the path walks through.
    #[error("{sent} tree bodies sent, the path walks through {used}")]
    TooManyTrees {
        /// Tree bodies sent.
        sent: usize,
        /// Tree bodies the path walks through.
        used: usize,
    },
    /// The tree body for a directory of the path was not sent.
    #[error("missing tree body for {path:?}")]
    MissingTree {
        /// The path as far as the walk got (`""` is the root tree).
        path: String,
    },
    /// The claimed commit id is not hex of the format's length.
    #[error("bad commit id {id:?}: {reason}")]
    BadCommitId {
        /// The id as given.
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
}
