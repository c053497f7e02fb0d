//! Git proofs (issue 21, first piece): check inside the enclave that a file's
//! bytes are the blob at a path of a given commit, by recomputing git's hash
//! chain commit → tree → … → blob. The parent sends the commit body and the
//! tree bodies along the path; nothing is trusted that is not re-hashed here.
//! The pack service calls [`verify`] for every input whose request names a
//! commit, before any KMS call; see `docs/notes/gitproof.md`.

mod commit;
mod error;
mod object;
mod tree;
mod verify;

pub use commit::commit_tree;
pub use error::GitProofError;
pub use object::{object_id, ObjectFormat, ObjectKind};
pub use tree::{parse_tree, TreeEntry};
pub use verify::{verify, Proven, MAX_COMMIT, MAX_PATH, MAX_PATH_COMPONENTS, MAX_TREE};

/// Fuzz entry point: any bytes as a tree body and as a commit body, in
/// both object formats, give a value or a typed error, never a panic.
pub fn fuzz_parse(data: &[u8]) {
    for f in [ObjectFormat::Sha1, ObjectFormat::Sha256] {
        let _ = parse_tree(f, data, "fuzz");
        let _ = commit_tree(f, data);
        let _ = verify(f, &"0".repeat(f.hex_len()), data, &[data], "a/b", data);
    }
}
