//! Git object framing: an object id is the format's hash of
//! `"<type> <size>\0" + body`. Both object formats are supported: SHA-1
//! (the default) and SHA-256 (`git init --object-format=sha256`).

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The repository's object format; it fixes the id length everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectFormat {
    /// 20-byte ids, 40 hex digits.
    Sha1,
    /// 32-byte ids, 64 hex digits.
    Sha256,
}

impl ObjectFormat {
    /// Raw id length in bytes.
    pub fn id_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }
    /// The name git and the request use: `sha1` or `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }
    /// Id length in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha1 => 40,
            Self::Sha256 => 64,
        }
    }
}

/// The object types a proof hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// File contents.
    Blob,
    /// A directory listing.
    Tree,
    /// A commit.
    Commit,
}

impl ObjectKind {
    fn name(self) -> &'static str {
        match self {
            Self::Blob => "blob",
            Self::Tree => "tree",
            Self::Commit => "commit",
        }
    }
}

/// The raw id of an object of `kind` with `body`.
pub fn object_id(format: ObjectFormat, kind: ObjectKind, body: &[u8]) -> Vec<u8> {
    let header = format!("{} {}\0", kind.name(), body.len());
    match format {
        ObjectFormat::Sha1 => {
            let mut h = Sha1::new();
            h.update(header.as_bytes());
            h.update(body);
            h.finalize().to_vec()
        }
        ObjectFormat::Sha256 => {
            let mut h = Sha256::new();
            h.update(header.as_bytes());
            h.update(body);
            h.finalize().to_vec()
        }
    }
}
