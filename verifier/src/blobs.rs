//! AWS's kernel blobs: fetching them from the nitro-cli repository at the
//! pinned commit, and loading + verifying them for a build.
//!
//! Two on-disk forms are accepted by `--blobs DIR`:
//!
//! * a git repository (what `proofpack blobs fetch` writes: a bare clone
//!   holding the pinned commit). Each file is read from the commit's tree; the
//!   commit, every tree on the path and the blob are re-hashed and compared
//!   with their ids, so the pinned commit id alone pins the content. Content
//!   pins in the spec (sha256, git blob id) are checked on top.
//! * a plain directory of files. Nothing ties such files to the commit, so
//!   each must have a content pin in the spec; files without one are refused.
//!
//! Pins are verified every time blobs are used, never only at fetch time.

use std::path::Path;
use std::process::Command;

use build_spec::build::{Blob, Blobs, BuildError};
use build_spec::spec::{BlobFile, BlobSource};
use git2::{ObjectType, Oid, Repository};

use crate::git::GitError;

/// Errors resolving blobs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobsError {
    /// The spec has no `[blobs]` section.
    #[error("the spec has no [blobs] section")]
    NoBlobSection,
    /// The `--blobs` directory does not exist.
    #[error("--blobs {0}: no such directory")]
    NoSuchDir(String),
    /// The pinned commit is not in the blob repository.
    #[error("the blob repository {repo} does not contain the pinned commit {commit}; run `proofpack blobs fetch`")]
    CommitMissing {
        /// Repository path.
        repo: String,
        /// Pinned commit.
        commit: String,
    },
    /// A pinned file is absent from the commit's tree.
    #[error("{path} is not in nitro-cli commit {commit}")]
    PathMissing {
        /// Repository path.
        path: String,
        /// Commit.
        commit: String,
    },
    /// Verification failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Git failure.
    #[error(transparent)]
    Git(#[from] GitError),
    /// Fetch failed.
    #[error("fetching {url} at {commit}: {message}")]
    Fetch {
        /// Repository URL.
        url: String,
        /// Commit.
        commit: String,
        /// Cause.
        message: String,
    },
}

fn git_err(e: git2::Error) -> BlobsError {
    BlobsError::Git(GitError::Git(e))
}

fn verify_object(repo: &Repository, id: Oid, kind: ObjectType) -> Result<Vec<u8>, BlobsError> {
    let odb = repo.odb().map_err(git_err)?;
    let obj = odb.read(id).map_err(git_err)?;
    let data = obj.data().to_vec();
    let actual = Oid::hash_object(kind, &data).map_err(git_err)?;
    if actual != id || obj.kind() != kind {
        return Err(GitError::HashMismatch {
            id: id.to_string(),
            kind: "blob-repository object",
            actual: actual.to_string(),
        }
        .into());
    }
    Ok(data)
}

/// Reads `path` at `commit` from `repo`, verifying the hash chain commit ->
/// trees -> blob.
fn read_chain(repo: &Repository, commit: Oid, path: &str) -> Result<Vec<u8>, BlobsError> {
    verify_object(repo, commit, ObjectType::Commit)?;
    let c = repo.find_commit(commit).map_err(git_err)?;
    let mut tree = c.tree().map_err(git_err)?;
    let comps: Vec<&str> = path.split('/').collect();
    for (i, comp) in comps.iter().enumerate() {
        verify_object(repo, tree.id(), ObjectType::Tree)?;
        let entry = tree.get_name(comp).ok_or_else(|| BlobsError::PathMissing {
            path: path.into(),
            commit: commit.to_string(),
        })?;
        let id = entry.id();
        let kind = entry.kind();
        drop(entry);
        if i + 1 == comps.len() {
            if kind != Some(ObjectType::Blob) {
                return Err(BlobsError::PathMissing {
                    path: path.into(),
                    commit: commit.to_string(),
                });
            }
            if repo.find_blob(id).map_err(git_err)?.size() as u64
                > build_spec::build::blobs::MAX_BLOB_LEN
            {
                return Err(BlobsError::PathMissing {
                    path: format!("{path} (too large)"),
                    commit: commit.to_string(),
                });
            }
            return verify_object(repo, id, ObjectType::Blob);
        }
        tree = repo.find_tree(id).map_err(|_| BlobsError::PathMissing {
            path: path.into(),
            commit: commit.to_string(),
        })?;
    }
    Err(BlobsError::PathMissing { path: path.into(), commit: commit.to_string() })
}

/// Loads and verifies the blobs named by `src` from `dir` (git repository or
/// plain directory, see the module docs).
pub fn load(dir: &Path, src: &BlobSource) -> Result<Blobs, BlobsError> {
    if !dir.is_dir() {
        return Err(BlobsError::NoSuchDir(dir.display().to_string()));
    }
    let repo = match Repository::open(dir) {
        Ok(r) => r,
        Err(_) => return Ok(build_spec::build::blobs::load_dir(dir, src)?),
    };
    let commit_hex = src.commit.clone().unwrap_or_default();
    let commit = Oid::from_str(&commit_hex).map_err(git_err)?;
    if repo.find_commit(commit).is_err() {
        return Err(BlobsError::CommitMissing {
            repo: dir.display().to_string(),
            commit: commit_hex,
        });
    }
    let one = |role: &'static str, pin: &BlobFile| -> Result<Blob, BlobsError> {
        let content = read_chain(&repo, commit, &pin.path)?;
        Ok(Blob::verify(
            role,
            pin,
            format!("{} @ {commit_hex}", dir.display()),
            content,
            Some(format!(
                "git commit {commit_hex} tree path {} (hash chain re-verified)",
                pin.path
            )),
        )?)
    };
    Ok(Blobs {
        kernel: one("kernel", &src.kernel)?,
        kernel_config: one("kernel_config", &src.kernel_config)?,
        nsm_ko: src.nsm_ko.as_ref().map(|p| one("nsm_ko", p)).transpose()?,
    })
}

/// `proofpack blobs fetch`: fetches exactly the pinned commit from
/// `src.repository` (or `url_override`) into `dest` (a bare git repository,
/// created if needed) with the `git` command, then verifies every pinned file
/// through [`load`]. Returns the verified blobs.
pub fn fetch(
    src: &BlobSource,
    dest: &Path,
    url_override: Option<&str>,
) -> Result<Blobs, BlobsError> {
    let url = url_override.unwrap_or(&src.repository).to_string();
    let commit = src.commit.clone().unwrap_or_default();
    let fetch_err =
        |message: String| BlobsError::Fetch { url: url.clone(), commit: commit.clone(), message };
    if Repository::open(dest).is_err() {
        Repository::init_bare(dest).map_err(|e| fetch_err(e.message().to_string()))?;
    }
    let already = Repository::open(dest)
        .ok()
        .and_then(|r| Oid::from_str(&commit).ok().map(|id| r.find_commit(id).is_ok()))
        .unwrap_or(false);
    if !already {
        let out = Command::new("git")
            .arg("-C")
            .arg(dest)
            .args(["fetch", "--quiet", "--depth=1", "--", &url, &commit])
            .output()
            .map_err(|e| fetch_err(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(fetch_err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
    }
    load(dest, src)
}
