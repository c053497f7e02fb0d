//! Git access for rebuilds: open a repository (local path, or a URL cloned
//! with the `git` command), check that a commit exists and is reachable from
//! a branch, and check out exactly one commit into a fresh directory.
//!
//! The checkout does not trust libgit2's working-copy machinery: it walks the
//! commit's tree itself, re-hashes every object it reads (commit, trees,
//! blobs) and compares with the ids that name them, and writes into a
//! directory it created, so the result is exactly the commit's tree with no
//! untracked files. `git2` is used with default features off (no network):
//! remote URLs are fetched with the `git` command line tool, after which
//! every object is verified locally as above.

use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{ObjectType, Oid, Repository};

/// Largest blob written by a checkout.
pub const MAX_BLOB_LEN: usize = 512 * 1024 * 1024;

/// Errors of git operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// Not a repository / cannot open.
    #[error("cannot open git repository {repo}: {message}")]
    Open {
        /// As given.
        repo: String,
        /// Cause.
        message: String,
    },
    /// Cloning a URL failed.
    #[error("cannot fetch {url} with `git clone`: {message}")]
    Fetch {
        /// URL.
        url: String,
        /// Cause.
        message: String,
    },
    /// The revision is not a full 40-hex commit id.
    #[error("--rev {0:?} is not a full 40-hex commit id (branch and tag names move; rebuild pins exactly one commit)")]
    NotACommitId(String),
    /// The commit is not in the repository.
    #[error("commit {commit} does not exist in {repo}")]
    CommitNotFound {
        /// Commit id.
        commit: String,
        /// Repository.
        repo: String,
    },
    /// The object exists but is not a commit.
    #[error("{0} is not a commit object")]
    NotACommit(String),
    /// An object's content does not hash to its id.
    #[error("git object {id} ({kind}) does not hash to its id (got {actual}): repository corrupt or tampered")]
    HashMismatch {
        /// Expected id.
        id: String,
        /// Object type.
        kind: &'static str,
        /// Computed id.
        actual: String,
    },
    /// A tree entry we cannot reproduce faithfully.
    #[error("cannot check out {path}: {reason}")]
    Unsupported {
        /// Path in the tree.
        path: String,
        /// Why.
        reason: String,
    },
    /// Destination exists and is not empty.
    #[error("checkout destination {0} exists and is not empty")]
    DestinationNotEmpty(PathBuf),
    /// The working tree has uncommitted changes.
    #[error("the working tree at {path} has uncommitted changes ({count} paths, e.g. {example}); commit them, or pass --allow-dirty (recorded as dirty, no commit id)")]
    Dirty {
        /// Repository work dir.
        path: PathBuf,
        /// Number of changed paths.
        count: usize,
        /// One of them.
        example: String,
    },
    /// Other libgit2 error.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    /// File system error.
    #[error("{what}: {source}")]
    Io {
        /// What.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// A repository opened for rebuilding; keeps a temporary clone alive.
pub struct Repo {
    /// The libgit2 handle.
    pub repo: Repository,
    /// Location as given by the user.
    pub location: String,
    _clone: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo").field("location", &self.location).finish()
    }
}

fn looks_like_url(s: &str) -> bool {
    s.contains("://") || (s.contains('@') && s.contains(':') && !Path::new(s).exists())
}

/// Opens a local repository (path), or clones a URL (bare, into a temporary
/// directory) with the `git` command line tool.
pub fn open(location: &str) -> Result<Repo, GitError> {
    if looks_like_url(location) {
        let tmp = tempfile::tempdir().map_err(|e| GitError::Io {
            what: "creating a temporary directory for the clone".into(),
            source: e,
        })?;
        let out = Command::new("git")
            .args(["clone", "--bare", "--quiet", "--", location])
            .arg(tmp.path().join("repo.git"))
            .output()
            .map_err(|e| GitError::Fetch {
                url: location.into(),
                message: format!("cannot run git: {e}"),
            })?;
        if !out.status.success() {
            return Err(GitError::Fetch {
                url: location.into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let repo = Repository::open_bare(tmp.path().join("repo.git")).map_err(|e| {
            GitError::Open { repo: location.into(), message: e.message().to_string() }
        })?;
        return Ok(Repo { repo, location: location.into(), _clone: Some(tmp) });
    }
    let repo = Repository::open(location)
        .map_err(|e| GitError::Open { repo: location.into(), message: e.message().to_string() })?;
    Ok(Repo { repo, location: location.into(), _clone: None })
}

/// Parses a full commit id.
pub fn parse_commit_id(rev: &str) -> Result<Oid, GitError> {
    let ok = rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        return Err(GitError::NotACommitId(rev.into()));
    }
    Oid::from_str(&rev.to_ascii_lowercase()).map_err(|_| GitError::NotACommitId(rev.into()))
}

fn kind_name(k: ObjectType) -> &'static str {
    match k {
        ObjectType::Commit => "commit",
        ObjectType::Tree => "tree",
        ObjectType::Blob => "blob",
        ObjectType::Tag => "tag",
        _ => "object",
    }
}

/// Reads an object's raw content and checks it hashes to `id`.
fn read_verified(repo: &Repository, id: Oid, want: ObjectType) -> Result<Vec<u8>, GitError> {
    let odb = repo.odb()?;
    let obj = odb.read(id)?;
    if obj.kind() != want {
        return Err(GitError::NotACommit(id.to_string()));
    }
    let data = obj.data().to_vec();
    let actual = Oid::hash_object(want, &data)?;
    if actual != id {
        return Err(GitError::HashMismatch {
            id: id.to_string(),
            kind: kind_name(want),
            actual: actual.to_string(),
        });
    }
    Ok(data)
}

/// Refuses a blob larger than `max` from the object header alone, before
/// its content is inflated into memory (`find_blob` and `odb.read` load the
/// whole object first).
fn check_blob_size(repo: &Repository, id: Oid, max: usize, path: &str) -> Result<(), GitError> {
    let (size, _) = repo.odb()?.read_header(id)?;
    if size > max {
        return Err(GitError::Unsupported {
            path: path.into(),
            reason: format!("{size} bytes, larger than {max} bytes"),
        });
    }
    Ok(())
}

/// A verified commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Commit id.
    pub commit: String,
    /// Its tree id.
    pub tree: String,
    /// Committer time, seconds since the epoch.
    pub time: i64,
}

/// Looks up a commit by full id and verifies its object hash.
pub fn commit_info(repo: &Repo, rev: &str) -> Result<CommitInfo, GitError> {
    let id = parse_commit_id(rev)?;
    let obj = match repo.repo.find_object(id, None) {
        Ok(o) => o,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err(GitError::CommitNotFound {
                commit: rev.into(),
                repo: repo.location.clone(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    let commit = obj.into_commit().map_err(|_| GitError::NotACommit(rev.into()))?;
    read_verified(&repo.repo, id, ObjectType::Commit)?;
    Ok(CommitInfo {
        commit: id.to_string(),
        tree: commit.tree_id().to_string(),
        time: commit.time().seconds(),
    })
}

/// True when `commit` is the tip of `branch` or one of its ancestors.
/// `branch` is a local branch name, or a remote-tracking one (`origin/main`).
pub fn is_reachable_from_branch(repo: &Repo, commit: &str, branch: &str) -> Result<bool, GitError> {
    let id = parse_commit_id(commit)?;
    let b = repo
        .repo
        .find_branch(branch, git2::BranchType::Local)
        .or_else(|_| repo.repo.find_branch(branch, git2::BranchType::Remote))?;
    let tip = b.get().peel_to_commit()?.id();
    Ok(tip == id || repo.repo.graph_descendant_of(tip, id)?)
}

/// Reads one file of a commit's tree (verified), without a checkout. Used to
/// compute cache keys cheaply.
pub fn read_file_at(
    repo: &Repo,
    commit: &str,
    path: &str,
    max: usize,
) -> Result<Vec<u8>, GitError> {
    let id = parse_commit_id(commit)?;
    let c = repo.repo.find_commit(id)?;
    let entry = c.tree()?.get_path(Path::new(path)).map_err(|_| GitError::Unsupported {
        path: path.into(),
        reason: format!("not present in commit {commit}"),
    })?;
    if entry.kind() != Some(ObjectType::Blob) {
        return Err(GitError::Unsupported { path: path.into(), reason: "not a file".into() });
    }
    check_blob_size(&repo.repo, entry.id(), max, path)?;
    let data = read_verified(&repo.repo, entry.id(), ObjectType::Blob)?;
    Ok(data)
}

/// Checks out exactly `commit`'s tree into `dest` (created; must not exist
/// or be empty). Every object is re-hashed. Submodules are refused.
pub fn checkout(repo: &Repo, commit: &str, dest: &Path) -> Result<CommitInfo, GitError> {
    let info = commit_info(repo, commit)?;
    if dest.exists() {
        let mut rd = std::fs::read_dir(dest)
            .map_err(|e| GitError::Io { what: format!("reading {}", dest.display()), source: e })?;
        if rd.next().is_some() {
            return Err(GitError::DestinationNotEmpty(dest.to_path_buf()));
        }
    }
    std::fs::create_dir_all(dest)
        .map_err(|e| GitError::Io { what: format!("creating {}", dest.display()), source: e })?;
    let tree = Oid::from_str(&info.tree)?;
    write_tree(&repo.repo, tree, dest, "")?;
    Ok(info)
}

fn write_tree(repo: &Repository, tree_id: Oid, dir: &Path, prefix: &str) -> Result<(), GitError> {
    read_verified(repo, tree_id, ObjectType::Tree)?;
    let tree = repo.find_tree(tree_id)?;
    for entry in tree.iter() {
        let name = entry.name().ok_or_else(|| GitError::Unsupported {
            path: format!("{prefix}<non-UTF-8 name>"),
            reason: "file name is not UTF-8".into(),
        })?;
        let rel = format!("{prefix}{name}");
        if name.is_empty() || name == "." || name == ".." || name.contains('/') || name == ".git" {
            return Err(GitError::Unsupported {
                path: rel,
                reason: "unsafe tree entry name".into(),
            });
        }
        let path = dir.join(name);
        let io = |what: &str, e: std::io::Error| GitError::Io {
            what: format!("{what} {}", path.display()),
            source: e,
        };
        match (entry.kind(), entry.filemode()) {
            (Some(ObjectType::Tree), _) => {
                std::fs::create_dir(&path).map_err(|e| io("creating", e))?;
                write_tree(repo, entry.id(), &path, &format!("{rel}/"))?;
            }
            (Some(ObjectType::Blob), mode) => {
                check_blob_size(repo, entry.id(), MAX_BLOB_LEN, &rel)?;
                let data = read_verified(repo, entry.id(), ObjectType::Blob)?;
                if data.len() > MAX_BLOB_LEN {
                    return Err(GitError::Unsupported {
                        path: rel,
                        reason: format!("larger than {MAX_BLOB_LEN} bytes"),
                    });
                }
                if mode == 0o120000 {
                    let target = String::from_utf8(data).map_err(|_| GitError::Unsupported {
                        path: rel.clone(),
                        reason: "symlink target is not UTF-8".into(),
                    })?;
                    std::os::unix::fs::symlink(&target, &path).map_err(|e| io("symlinking", e))?;
                } else {
                    std::fs::write(&path, &data).map_err(|e| io("writing", e))?;
                    if mode == 0o100755 {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                            .map_err(|e| io("chmod", e))?;
                    }
                }
            }
            (Some(ObjectType::Commit), _) => {
                return Err(GitError::Unsupported {
                    path: rel,
                    reason:
                        "submodules are not supported (their content is not in this repository)"
                            .into(),
                })
            }
            (k, m) => {
                return Err(GitError::Unsupported {
                    path: rel,
                    reason: format!("unexpected tree entry {k:?} mode {m:o}"),
                })
            }
        }
    }
    Ok(())
}

/// The state of a working tree for `proofpack build`: HEAD commit/tree when
/// the tree is clean, or [`GitError::Dirty`]. Paths under `ignore` (the
/// build's own output and target directories) do not count as changes.
pub fn working_tree_state(dir: &Path, ignore: &[PathBuf]) -> Result<Option<CommitInfo>, GitError> {
    let repo = match Repository::discover(dir) {
        Ok(r) => r,
        Err(_) => return Ok(None),
    };
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).include_ignored(false).recurse_untracked_dirs(true);
    let statuses = repo.statuses(Some(&mut opts))?;
    let workdir = repo.workdir().map(|w| w.canonicalize().unwrap_or_else(|_| w.to_path_buf()));
    let ignore: Vec<PathBuf> = ignore
        .iter()
        .map(|p| {
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            abs.canonicalize().unwrap_or(abs)
        })
        .collect();
    let changed: Vec<String> = statuses
        .iter()
        .filter(|s| s.status() != git2::Status::CURRENT)
        .filter_map(|s| s.path().map(str::to_string))
        .filter(|p| match &workdir {
            Some(w) => {
                let abs = w.join(p.trim_end_matches('/'));
                !ignore.iter().any(|i| abs.starts_with(i))
            }
            None => true,
        })
        .collect();
    if !changed.is_empty() {
        return Err(GitError::Dirty {
            path: repo.workdir().unwrap_or(repo.path()).to_path_buf(),
            count: changed.len(),
            example: changed[0].clone(),
        });
    }
    let head = match repo.head().and_then(|h| h.peel_to_commit()) {
        Ok(c) => c,
        Err(_) => return Ok(None),
    };
    Ok(Some(CommitInfo {
        commit: head.id().to_string(),
        tree: head.tree_id().to_string(),
        time: head.time().seconds(),
    }))
}

/// What [`locate`] finds: `HEAD` (when it has a commit) and the file's
/// path relative to the work tree root.
pub type Located = (Option<CommitInfo>, Option<String>);

/// A file's repository: `HEAD` (when it has a commit) and the file's path
/// relative to the work tree root, `/`-separated. `Ok(None)` outside any
/// repository. Used for the build-info of a local build (the spec's path
/// in the repository; `HEAD` of a dirty tree built with `--allow-dirty`).
pub fn locate(file: &Path) -> Result<Option<Located>, GitError> {
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let abs = abs.canonicalize().unwrap_or(abs);
    let dir = abs.parent().unwrap_or(&abs);
    let repo = match Repository::discover(dir) {
        Ok(r) => r,
        Err(_) => return Ok(None),
    };
    let head = repo.head().and_then(|h| h.peel_to_commit()).ok().map(|c| CommitInfo {
        commit: c.id().to_string(),
        tree: c.tree_id().to_string(),
        time: c.time().seconds(),
    });
    let rel = repo
        .workdir()
        .map(|w| w.canonicalize().unwrap_or_else(|_| w.to_path_buf()))
        .and_then(|w| abs.strip_prefix(&w).ok().map(Path::to_path_buf))
        .and_then(|r| {
            let parts: Option<Vec<&str>> = r.components().map(|c| c.as_os_str().to_str()).collect();
            parts.map(|p| p.join("/"))
        })
        .filter(|r| !r.is_empty());
    Ok(Some((head, rel)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A commit with one 100-byte file.
    fn repo_with_file() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let r = Repository::init(dir.path()).unwrap();
        let blob = r.blob(&[b'x'; 100]).unwrap();
        let mut tb = r.treebuilder(None).unwrap();
        tb.insert("spec.toml", blob, 0o100644).unwrap();
        let tree = r.find_tree(tb.write().unwrap()).unwrap();
        let sig = git2::Signature::new("t", "t@example.invalid", &git2::Time::new(0, 0)).unwrap();
        let c = r.commit(None, &sig, &sig, "c", &tree, &[]).unwrap();
        (dir, c.to_string())
    }

    #[test]
    fn read_file_at_refuses_a_blob_over_the_limit_from_its_header() {
        let (dir, commit) = repo_with_file();
        let repo = open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(read_file_at(&repo, &commit, "spec.toml", 100).unwrap().len(), 100);
        match read_file_at(&repo, &commit, "spec.toml", 99) {
            Err(GitError::Unsupported { path, reason }) => {
                assert_eq!(path, "spec.toml");
                assert!(reason.contains("100 bytes, larger than 99 bytes"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
