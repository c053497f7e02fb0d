//! The secrets repository (issue 21) through the `git` command line: the
//! parent reads the proof objects from it (`proofpack pack --secrets-repo`)
//! and the auditor checks receipts against it (`proofpack audit
//! --secrets-repo`).
//!
//! Why the command line and not libgit2 (`crate::git`, used for the image's
//! source): secrets repositories may use the SHA-256 object format (`git
//! init --object-format=sha256`), which libgit2 supports only behind an
//! experimental build flag that `git2` does not enable. `git cat-file`
//! reads both formats, and signature checking (`git verify-commit`) is
//! git's own anyway. Every object read here is re-hashed by the caller
//! ([`enclave::gitproof`]) before anything relies on it, so this module
//! trusts git for nothing but finding bytes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use enclave::gitproof::{ObjectFormat, MAX_COMMIT, MAX_PATH_COMPONENTS, MAX_TREE};

/// Why a secrets-repository operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsRepoError {
    /// `git` could not be started.
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// The directory is not a git repository.
    #[error("{dir} is not a git repository: {message}")]
    NotARepository {
        /// The directory as given.
        dir: PathBuf,
        /// git's message.
        message: String,
    },
    /// The repository's object format is not one proofpack knows.
    #[error("{dir}: unknown object format {format:?} (expected sha1 or sha256)")]
    UnknownFormat {
        /// The directory as given.
        dir: PathBuf,
        /// What git printed.
        format: String,
    },
    /// A commit id is not full lowercase hex of the repository's format.
    #[error("{id:?} is not a full {format} commit id ({len} hex digits)")]
    NotACommitId {
        /// The id as given.
        id: String,
        /// `sha1` or `sha256`.
        format: &'static str,
        /// Expected hex length.
        len: usize,
    },
    /// An object is not in the repository, or has another type.
    #[error("{what} is not a {kind} in {dir}")]
    NotFound {
        /// The object named (id or `commit:path`).
        what: String,
        /// The type wanted.
        kind: &'static str,
        /// The repository.
        dir: PathBuf,
    },
    /// An object is larger than proofpack accepts.
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The object named.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// A path is not usable in a proof (too many components).
    #[error("path {path:?}: {reason}")]
    BadPath {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A git command failed.
    #[error("git {args}: {message}")]
    Git {
        /// The arguments.
        args: String,
        /// git's message.
        message: String,
    },
}

/// The proof of one file for the enclave: the commit body and the tree
/// bodies along the path, root first (`enclave::gitproof::verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofObjects {
    /// `git cat-file commit C`.
    pub commit_body: Vec<u8>,
    /// `git cat-file tree C^{tree}`, `C:dir`, `C:dir/sub`, ….
    pub trees: Vec<Vec<u8>>,
}

/// A local secrets repository.
#[derive(Debug, Clone)]
pub struct SecretsRepo {
    dir: PathBuf,
    format: ObjectFormat,
}

impl SecretsRepo {
    /// Opens `dir` (a work tree or a bare repository) and reads its object
    /// format.
    pub fn open(dir: &Path) -> Result<Self, SecretsRepoError> {
        let mut repo = Self { dir: dir.to_path_buf(), format: ObjectFormat::Sha1 };
        let out = repo.run(&["rev-parse", "--show-object-format"])?;
        if !out.status.success() {
            return Err(SecretsRepoError::NotARepository {
                dir: dir.to_path_buf(),
                message: first_line(&out.stderr),
            });
        }
        let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        repo.format = match name.as_str() {
            "sha1" => ObjectFormat::Sha1,
            "sha256" => ObjectFormat::Sha256,
            _ => {
                return Err(SecretsRepoError::UnknownFormat {
                    dir: dir.to_path_buf(),
                    format: name,
                })
            }
        };
        Ok(repo)
    }

    /// The repository's object format.
    pub fn format(&self) -> ObjectFormat {
        self.format
    }

    /// The directory as given.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn run(&self, args: &[&str]) -> Result<Output, SecretsRepoError> {
        Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(SecretsRepoError::Spawn)
    }

    fn run_ok(&self, args: &[&str]) -> Result<Vec<u8>, SecretsRepoError> {
        let out = self.run(args)?;
        if !out.status.success() {
            return Err(SecretsRepoError::Git {
                args: args.join(" "),
                message: first_line(&out.stderr),
            });
        }
        Ok(out.stdout)
    }

    /// The work tree's top directory, canonical; `None` for a bare repository.
    pub fn toplevel(&self) -> Result<Option<PathBuf>, SecretsRepoError> {
        let out = self.run(&["rev-parse", "--show-toplevel"])?;
        if !out.status.success() {
            return Ok(None);
        }
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ok(Some(p.canonicalize().unwrap_or(p)))
    }

    /// The URL of `origin`, if the repository has one.
    pub fn origin_url(&self) -> Option<String> {
        let out = self.run(&["remote", "get-url", "origin"]).ok()?;
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (out.status.success() && !url.is_empty()).then_some(url)
    }

    /// Checks that `id` is a full commit id of this repository's format
    /// (uppercase accepted) and returns it lowercased.
    pub fn commit_id(&self, id: &str) -> Result<String, SecretsRepoError> {
        let len = self.format.hex_len();
        if id.len() != len || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SecretsRepoError::NotACommitId {
                id: id.to_owned(),
                format: self.format.name(),
                len,
            });
        }
        Ok(id.to_ascii_lowercase())
    }

    /// The type of an object (`commit`, `tree`, `blob`, `tag`), or `None`
    /// when the repository does not have it.
    pub fn object_type(&self, spec: &str) -> Result<Option<String>, SecretsRepoError> {
        let out = self.run(&["cat-file", "-t", "--", spec])?;
        if !out.status.success() {
            return Ok(None);
        }
        Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// The raw body of `spec` (an id or `commit:path`) if it is a `kind`
    /// object of at most `max` bytes (refused from its size before it is
    /// read).
    pub fn read(
        &self,
        kind: &'static str,
        spec: &str,
        max: usize,
    ) -> Result<Vec<u8>, SecretsRepoError> {
        if self.object_type(spec)?.as_deref() != Some(kind) {
            return Err(SecretsRepoError::NotFound {
                what: spec.to_owned(),
                kind,
                dir: self.dir.clone(),
            });
        }
        let size = self.run_ok(&["cat-file", "-s", "--", spec])?;
        let size: u64 =
            String::from_utf8_lossy(&size).trim().parse().map_err(|_| SecretsRepoError::Git {
                args: format!("cat-file -s {spec}"),
                message: "not a size".into(),
            })?;
        if size > max as u64 {
            return Err(SecretsRepoError::TooLarge { what: spec.to_owned(), size, limit: max });
        }
        self.run_ok(&["cat-file", kind, "--", spec])
    }

    /// The id of the blob at `path` of `commit`, or `None` when there is no
    /// regular file there.
    pub fn blob_id(&self, commit: &str, path: &str) -> Result<Option<String>, SecretsRepoError> {
        let spec = format!("{commit}:{path}");
        if self.object_type(&spec)?.as_deref() != Some("blob") {
            return Ok(None);
        }
        let id = self.run_ok(&["rev-parse", "--verify", "--quiet", &spec])?;
        Ok(Some(String::from_utf8_lossy(&id).trim().to_owned()))
    }

    /// The proof objects of `path` at `commit` (a full id of this format).
    pub fn proof(&self, commit: &str, path: &str) -> Result<ProofObjects, SecretsRepoError> {
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() > MAX_PATH_COMPONENTS {
            return Err(SecretsRepoError::BadPath {
                path: path.to_owned(),
                reason: format!("more than {MAX_PATH_COMPONENTS} components"),
            });
        }
        let commit_body = self.read("commit", commit, MAX_COMMIT)?;
        let mut trees = vec![self.read("tree", &format!("{commit}^{{tree}}"), MAX_TREE)?];
        for depth in 1..parts.len() {
            let dir = parts.iter().take(depth).copied().collect::<Vec<_>>().join("/");
            trees.push(self.read("tree", &format!("{commit}:{dir}"), MAX_TREE)?);
        }
        Ok(ProofObjects { commit_body, trees })
    }

    /// True when `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, SecretsRepoError> {
        let args = ["merge-base", "--is-ancestor", ancestor, descendant];
        let out = self.run(&args)?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(SecretsRepoError::Git {
                args: args.join(" "),
                message: first_line(&out.stderr),
            }),
        }
    }

    /// The commit at the tip of `branch`: a local branch, else a
    /// remote-tracking one (`origin/main`).
    pub fn branch_tip(&self, branch: &str) -> Result<String, SecretsRepoError> {
        for r in [format!("refs/heads/{branch}"), format!("refs/remotes/{branch}")] {
            let out =
                self.run(&["rev-parse", "--verify", "--quiet", &format!("{r}^{{commit}}")])?;
            if out.status.success() {
                return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
            }
        }
        Err(SecretsRepoError::NotFound {
            what: branch.to_owned(),
            kind: "branch",
            dir: self.dir.clone(),
        })
    }

    /// `git verify-commit`; see [`verify_commit`].
    pub fn verify_commit(
        &self,
        commit: &str,
        allowed_signers: Option<&Path>,
    ) -> Result<(), String> {
        verify_commit(&self.dir, commit, allowed_signers)
    }
}

/// Runs `git verify-commit` in the repository at `dir` (a work tree, or a
/// git directory): GPG, SSH or X.509 signatures, checked against the keys
/// git trusts, or for SSH against `allowed_signers` (git's
/// `gpg.ssh.allowedSignersFile` format) when given. Err carries git's first
/// line of complaint.
pub fn verify_commit(
    dir: &Path,
    commit: &str,
    allowed_signers: Option<&Path>,
) -> Result<(), String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir);
    if let Some(f) = allowed_signers {
        let f = f.canonicalize().unwrap_or_else(|_| f.to_path_buf());
        cmd.arg("-c").arg(format!("gpg.ssh.allowedSignersFile={}", f.display()));
    }
    let out = cmd
        .args(["verify-commit", "--", commit])
        .output()
        .map_err(|e| format!("cannot run git verify-commit: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let msg = first_line(&out.stderr);
        Err(if msg.is_empty() { "no valid signature".to_owned() } else { msg })
    }
}

fn first_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b).lines().next().unwrap_or("").trim().to_owned()
}
