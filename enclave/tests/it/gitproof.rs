//! Git proofs against repositories made by the real `git` binary, in both
//! object formats: the proof verifies, and each kind of tampering is refused
//! with a typed error naming the path.

use std::path::Path;
use std::process::Command;

use enclave::gitproof::{parse_tree, verify, GitProofError, ObjectFormat};
use proptest::prelude::*;

const FILE: &str = "secrets/prod/app.enc.yaml";

fn git(dir: &Path, home: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", home)
        .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn rev(dir: &Path, home: &Path, spec: &str) -> String {
    String::from_utf8(git(dir, home, &["rev-parse", spec])).unwrap().trim().to_owned()
}

/// A repository with `FILE`, siblings and a second commit that edits it.
struct Repo {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    home: std::path::PathBuf,
    format: ObjectFormat,
}

impl Repo {
    fn new(format: ObjectFormat) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(dir.join("secrets/prod")).unwrap();
        std::fs::create_dir_all(dir.join("secrets/dev")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let fmt = match format {
            ObjectFormat::Sha1 => "--object-format=sha1",
            ObjectFormat::Sha256 => "--object-format=sha256",
        };
        git(&dir, &home, &["init", "-q", fmt]);
        std::fs::write(dir.join(FILE), b"v1: secret\n").unwrap();
        std::fs::write(dir.join("secrets/prod/other.yaml"), b"other\n").unwrap();
        std::fs::write(dir.join("secrets/dev/app.enc.yaml"), b"dev\n").unwrap();
        std::fs::write(dir.join("README"), b"readme\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("app.enc.yaml", dir.join("secrets/prod/link.yaml")).unwrap();
        git(&dir, &home, &["add", "-A"]);
        git(&dir, &home, &["commit", "-q", "-m", "one"]);
        Repo { _tmp: tmp, dir, home, format }
    }
    fn rev(&self, spec: &str) -> String {
        rev(&self.dir, &self.home, spec)
    }
    fn cat(&self, kind: &str, id: &str) -> Vec<u8> {
        git(&self.dir, &self.home, &["cat-file", kind, id])
    }
    /// (commit id, commit body, tree bodies along `path`) at `commit`.
    fn proof(&self, commit: &str, path: &str) -> (String, Vec<u8>, Vec<Vec<u8>>) {
        let id = self.rev(commit);
        let body = self.cat("commit", &id);
        let parts: Vec<&str> = path.split('/').collect();
        let mut trees = vec![self.cat("tree", &self.rev(&format!("{id}^{{tree}}")))];
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            trees.push(self.cat("tree", &self.rev(&format!("{id}:{dir}"))));
        }
        (id, body, trees)
    }
    fn check(
        &self,
        commit: &str,
        path: &str,
        file: &[u8],
    ) -> Result<enclave::gitproof::Proven, GitProofError> {
        let (id, body, trees) = self.proof(commit, path);
        let trees: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
        verify(self.format, &id, &body, &trees, path, file)
    }
}

fn both() -> [Repo; 2] {
    [Repo::new(ObjectFormat::Sha1), Repo::new(ObjectFormat::Sha256)]
}

#[test]
fn proof_verifies_and_names_the_blob() {
    for r in both() {
        let p = r.check("HEAD", FILE, b"v1: secret\n").unwrap();
        assert_eq!(p.blob, r.rev(&format!("HEAD:{FILE}")));
        assert_eq!(p.commit, r.rev("HEAD"));
        assert_eq!(p.trees.len(), 3);
        assert_eq!(p.trees[1], r.rev("HEAD:secrets"));
        assert_eq!(p.trees[2], r.rev("HEAD:secrets/prod"));
        assert_eq!(p.blob.len(), r.format.hex_len());
    }
}

#[test]
fn edited_file_is_a_blob_mismatch() {
    for r in both() {
        let e = r.check("HEAD", FILE, b"v1: edited\n").unwrap_err();
        assert!(matches!(&e, GitProofError::BlobMismatch { path, .. } if path == FILE), "{e:?}");
    }
}

#[test]
fn wrong_path_is_no_such_entry() {
    for r in both() {
        let (id, body, trees) = r.proof("HEAD", FILE);
        let trees: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
        let e =
            verify(r.format, &id, &body, &trees, "secrets/prod/missing.yaml", b"x").unwrap_err();
        assert!(
            matches!(&e, GitProofError::NoSuchEntry { path } if path == "secrets/prod/missing.yaml"),
            "{e:?}"
        );
    }
}

#[test]
fn forged_tree_is_a_tree_id_mismatch() {
    for r in both() {
        let (id, body, mut trees) = r.proof("HEAD", FILE);
        let last = trees[2].len() - 1;
        trees[2][last] ^= 1;
        let trees: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
        let e = verify(r.format, &id, &body, &trees, FILE, b"v1: secret\n").unwrap_err();
        assert!(
            matches!(&e, GitProofError::TreeIdMismatch { path, .. } if path == "secrets/prod"),
            "{e:?}"
        );
    }
}

#[test]
fn wrong_commit_id_is_refused() {
    for r in both() {
        let (id, body, trees) = r.proof("HEAD", FILE);
        let trees: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
        let wrong = format!("{}{}", if id.starts_with('0') { "1" } else { "0" }, &id[1..]);
        let e = verify(r.format, &wrong, &body, &trees, FILE, b"v1: secret\n").unwrap_err();
        assert!(matches!(e, GitProofError::CommitIdMismatch { .. }), "{e:?}");
    }
}

#[cfg(unix)]
#[test]
fn symlink_is_not_a_blob() {
    for r in both() {
        let e = r.check("HEAD", "secrets/prod/link.yaml", b"app.enc.yaml").unwrap_err();
        assert!(
            matches!(&e, GitProofError::NotABlob { path, mode } if path == "secrets/prod/link.yaml" && mode == "120000"),
            "{e:?}"
        );
    }
}

#[test]
fn old_file_against_new_commit_is_a_blob_mismatch() {
    for r in both() {
        std::fs::write(r.dir.join(FILE), b"v2: rotated\n").unwrap();
        git(&r.dir, &r.home, &["commit", "-q", "-am", "two"]);
        assert!(r.check("HEAD", FILE, b"v2: rotated\n").is_ok());
        assert!(r.check("HEAD~1", FILE, b"v1: secret\n").is_ok());
        let e = r.check("HEAD", FILE, b"v1: secret\n").unwrap_err();
        assert!(matches!(&e, GitProofError::BlobMismatch { path, .. } if path == FILE), "{e:?}");
    }
}

#[test]
fn wrong_object_format_is_a_typed_error() {
    let [sha1, sha256] = both();
    for (r, other) in [(sha1, ObjectFormat::Sha256), (sha256, ObjectFormat::Sha1)] {
        let (id, body, trees) = r.proof("HEAD", FILE);
        let trees: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
        let e = verify(other, &id, &body, &trees, FILE, b"v1: secret\n").unwrap_err();
        assert!(matches!(e, GitProofError::BadCommitId { .. }), "{e:?}");
    }
}

#[test]
fn bad_paths_are_refused() {
    let r = Repo::new(ObjectFormat::Sha1);
    let (id, body, trees) = r.proof("HEAD", FILE);
    let trees: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
    for p in
        ["", "/secrets/prod/app.enc.yaml", "secrets//app", "secrets/./prod", "secrets/../x", "a/"]
    {
        let e = verify(r.format, &id, &body, &trees, p, b"").unwrap_err();
        assert!(matches!(e, GitProofError::BadPath { .. }), "{p:?}: {e:?}");
    }
    let long = "a/".repeat(65) + "b";
    let e = verify(r.format, &id, &body, &trees, &long, b"").unwrap_err();
    assert!(matches!(e, GitProofError::TooLarge { .. }), "{e:?}");
    // A directory at the end of the path is not a blob.
    let e = verify(r.format, &id, &body, &trees[..2], "secrets/prod", b"").unwrap_err();
    assert!(matches!(e, GitProofError::NotABlob { .. }), "{e:?}");
    // Too few and too many tree bodies.
    let e = verify(r.format, &id, &body, &trees[..2], FILE, b"v1: secret\n").unwrap_err();
    assert!(matches!(e, GitProofError::MissingTree { .. }), "{e:?}");
    let mut more = trees.clone();
    more.push(trees[0]);
    let e = verify(r.format, &id, &body, &more, FILE, b"v1: secret\n").unwrap_err();
    assert!(matches!(e, GitProofError::TooManyTrees { .. }), "{e:?}");
}

#[test]
fn every_prefix_of_a_tree_is_a_typed_error() {
    for r in both() {
        let (_, _, trees) = r.proof("HEAD", FILE);
        for t in &trees {
            assert!(parse_tree(r.format, t, "x").is_ok());
            for n in 0..t.len() {
                match parse_tree(r.format, &t[..n], "x") {
                    Ok(entries) => assert!(n == 0 || entries.is_empty() || n < t.len()),
                    Err(e) => assert!(matches!(e, GitProofError::MalformedTree { .. }), "{e:?}"),
                }
            }
        }
    }
}

#[test]
fn duplicate_names_are_refused() {
    let mut t = Vec::new();
    for _ in 0..2 {
        t.extend_from_slice(b"100644 a\0");
        t.extend_from_slice(&[7; 20]);
    }
    let e = parse_tree(ObjectFormat::Sha1, &t, "d").unwrap_err();
    assert!(matches!(e, GitProofError::MalformedTree { .. }), "{e:?}");
}

proptest! {
    #[test]
    fn random_bodies_do_not_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        enclave::gitproof::fuzz_parse(&data);
    }
}
