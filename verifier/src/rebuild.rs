//! Rebuild an enclave image from a git commit, with a verified results cache.
//!
//! [`rebuild`] = open the repository, verify the commit, clean checkout into a
//! fresh directory ([`crate::git::checkout`]), resolve `SOURCE_DATE_EPOCH`
//! from the spec's policy, run [`build_spec::build::build`], and return PCRs,
//! EIF path and manifest.
//!
//! Cache: entries live under `<cache>/<key>/` where key = SHA-256 of (git tree
//! id, spec SHA-256, toolchain fingerprint, profile, blob-set identity,
//! mismatch override). Computing the key needs no checkout and no compile
//! (the spec is read straight from the commit's tree), so a hit answers in
//! well under a second. A hit is never trusted blindly: the EIF is re-read,
//! its PCRs recomputed and compared with `pcrs.json` and the manifest, and the
//! manifest's tree id, spec hash and toolchain fingerprint compared with the
//! key's inputs. Any disagreement discards the entry and rebuilds.
//!
//! Thread safety: [`rebuild`] takes `&RebuildOptions` and may be called from
//! many threads; rebuilds of the same key are serialised by an in-process
//! lock, and entries are installed with an atomic rename, so concurrent
//! audits share results instead of racing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use build_spec::build::{
    self, BuildError, BuildRequest, Manifest, Progress, SourceInfo, ToolchainInfo, EIF_FILE,
    MANIFEST_FILE, PCRS_FILE,
};
use build_spec::digest::{Digest, Sha256};
use build_spec::pcr::Measurements;
use build_spec::spec::{KernelSource, Spec, SpecError, MAX_SPEC_LEN};

use crate::blobs::BlobsError;
use crate::git::{self, GitError};

/// Default spec path inside a repository.
pub const DEFAULT_SPEC_PATH: &str = "build-spec/enclave.toml";

/// Errors of a rebuild.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// Git: missing commit, bad id, corrupt object, …
    #[error(transparent)]
    Git(#[from] GitError),
    /// The spec at that commit is invalid.
    #[error("spec {path} at {commit}: {source}")]
    Spec {
        /// Path in the repository.
        path: String,
        /// Commit.
        commit: String,
        /// Cause.
        #[source]
        source: SpecError,
    },
    /// Blob resolution failed.
    #[error(transparent)]
    Blobs(#[from] BlobsError),
    /// The build failed.
    #[error(transparent)]
    Build(#[from] BuildError),
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

/// What to rebuild.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// Repository path or URL.
    pub repo: String,
    /// Full commit id.
    pub rev: String,
    /// Spec path inside the repository.
    pub spec_path: String,
    /// Profile.
    pub profile: String,
    /// `--blobs DIR` for profiles using AWS blobs.
    pub blobs_dir: Option<PathBuf>,
    /// `--debian-kernel DIR` for profiles with `kernel = "debian-package"`.
    pub debian_kernel: Option<PathBuf>,
    /// Cache root; `None` = [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Skip the cache lookup (the result is still stored).
    pub no_cache: bool,
    /// Proceed with a toolchain that differs from the pin.
    pub allow_toolchain_mismatch: bool,
    /// Work directory for checkouts; `None` = a temporary directory.
    pub work_dir: Option<PathBuf>,
    /// Shared cargo target directory (warm builds); `None` = inside the checkout.
    pub target_dir: Option<PathBuf>,
    /// Show cargo output.
    pub verbose: bool,
}

impl RebuildOptions {
    /// Options with defaults for everything but repository and commit.
    pub fn new(repo: impl Into<String>, rev: impl Into<String>) -> Self {
        Self {
            repo: repo.into(),
            rev: rev.into(),
            spec_path: DEFAULT_SPEC_PATH.into(),
            profile: "production".into(),
            blobs_dir: None,
            debian_kernel: None,
            cache_dir: None,
            no_cache: false,
            allow_toolchain_mismatch: false,
            work_dir: None,
            target_dir: None,
            verbose: false,
        }
    }
}

/// What a rebuild produced.
#[derive(Debug, Clone)]
pub struct RebuildResult {
    /// PCR0/1/2 of the rebuilt image.
    pub pcrs: Measurements,
    /// The EIF (inside the cache entry).
    pub eif_path: PathBuf,
    /// The build manifest.
    pub manifest: Manifest,
    /// Answered from the cache.
    pub from_cache: bool,
    /// Commit id.
    pub commit: String,
    /// Tree id.
    pub tree: String,
    /// A cache entry existed but failed verification (and was rebuilt).
    pub cache_entry_rejected: Option<String>,
}

/// `$PROOFPACK_CACHE_DIR`, else `$XDG_CACHE_HOME/proofpack/rebuild`, else
/// `~/.cache/proofpack/rebuild`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PROOFPACK_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("proofpack").join("rebuild")
}

fn key_locks() -> &'static Mutex<HashMap<String, Arc<Mutex<()>>>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    LOCKS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock_for(key: &str) -> Arc<Mutex<()>> {
    let mut m = key_locks().lock().unwrap_or_else(|p| p.into_inner());
    m.entry(key.to_string()).or_default().clone()
}

/// The cache key inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// Git tree id.
    pub tree: String,
    /// Spec SHA-256.
    pub spec_sha256: String,
    /// Toolchain fingerprint.
    pub toolchain: String,
    /// Profile.
    pub profile: String,
    /// Identity of the blob set (pinned commit + content pins), empty for demo.
    pub blobs: String,
    /// Mismatch override.
    pub allow_mismatch: bool,
}

impl CacheKey {
    /// Hex SHA-256 over the fields.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for f in [&self.tree, &self.spec_sha256, &self.toolchain, &self.profile, &self.blobs] {
            h.update((f.len() as u64).to_be_bytes());
            h.update(f.as_bytes());
        }
        h.update([u8::from(self.allow_mismatch)]);
        hex::encode(h.finalize())
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RebuildError {
    let what = what.into();
    move |source| RebuildError::Io { what, source }
}

/// Verifies a cache entry against the key; returns the result or why it was
/// rejected.
pub fn verify_entry(dir: &Path, key: &CacheKey) -> Result<(Measurements, Manifest), String> {
    let manifest_bytes = read_small(&dir.join(MANIFEST_FILE))?;
    let manifest = Manifest::from_json(&manifest_bytes).map_err(|e| format!("manifest: {e}"))?;
    if manifest.source.git_tree.as_deref() != Some(key.tree.as_str()) {
        return Err("manifest tree id differs from the key".into());
    }
    if manifest.spec_sha256 != key.spec_sha256 {
        return Err("manifest spec hash differs from the key".into());
    }
    if manifest.toolchain.fingerprint != key.toolchain {
        return Err("manifest toolchain fingerprint differs from the key".into());
    }
    if manifest.profile != key.profile {
        return Err("manifest profile differs from the key".into());
    }
    let eif_path = dir.join(EIF_FILE);
    let eif_bytes = std::fs::read(&eif_path).map_err(|e| format!("{EIF_FILE}: {e}"))?;
    let sha = hex::encode(Sha256::digest(&eif_bytes));
    if sha != manifest.outputs.eif.sha256 {
        return Err(format!("{EIF_FILE} sha256 {sha} differs from the manifest"));
    }
    let summary = build_spec::eif::read_eif(
        &eif_bytes[..],
        Some(eif_bytes.len() as u64),
        &build_spec::eif::ReadOptions::default(),
    )
    .map_err(|e| format!("{EIF_FILE}: {e}"))?;
    let recomputed = summary.measurements();
    let pcrs = Measurements::from_json(&read_small(&dir.join(PCRS_FILE))?)
        .map_err(|e| format!("{PCRS_FILE}: {e}"))?;
    let recorded = manifest.measurements().map_err(|e| format!("manifest measurements: {e}"))?;
    if recomputed != pcrs || recomputed != recorded {
        return Err("PCRs recomputed from the EIF differ from pcrs.json or the manifest".into());
    }
    Ok((recomputed, manifest))
}

/// Reads a small cached file (`pcrs.json`, the manifest): anything over
/// 16 MiB is implausible and refused before it is read.
fn read_small(p: &Path) -> Result<Vec<u8>, String> {
    build_spec::bounded::read_file(p, 16 * 1024 * 1024).map_err(|e| e.to_string())
}

/// Resolves `SOURCE_DATE_EPOCH` for a spec: the fixed value, or the commit time.
pub fn source_date_epoch(spec: &Spec, commit_time: Option<i64>) -> Result<u64, BuildError> {
    match spec.fixed_epoch() {
        Some(n) => Ok(n),
        None => commit_time
            .and_then(|t| u64::try_from(t).ok())
            .ok_or_else(|| {
                BuildError::Spec(SpecError::BadValue {
                    key: "time.source_date_epoch".into(),
                    value: "commit".into(),
                    why: "the source is not a git commit (or its time is before 1970); use a fixed epoch",
                })
            }),
    }
}

fn blob_identity(spec: &Spec, profile: &str) -> String {
    match (spec.profiles.get(profile).map(|p| p.kernel), &spec.blobs) {
        (Some(KernelSource::NitroCliBlobs), Some(b)) => {
            serde_json::to_string(b).unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// Rebuilds `opts.rev` of `opts.repo` (see the module docs).
pub fn rebuild(
    opts: &RebuildOptions,
    progress: &dyn Progress,
) -> Result<RebuildResult, RebuildError> {
    let repo = git::open(&opts.repo)?;
    let info = git::commit_info(&repo, &opts.rev)?;
    let spec_bytes = git::read_file_at(&repo, &info.commit, &opts.spec_path, MAX_SPEC_LEN)?;
    let spec = Spec::parse(&spec_bytes).map_err(|source| RebuildError::Spec {
        path: opts.spec_path.clone(),
        commit: info.commit.clone(),
        source,
    })?;
    spec.profile(&opts.profile).map_err(|source| RebuildError::Spec {
        path: opts.spec_path.clone(),
        commit: info.commit.clone(),
        source,
    })?;
    let tool = ToolchainInfo::detect(Path::new("."))?;
    let key = CacheKey {
        tree: info.tree.clone(),
        spec_sha256: Spec::hash_bytes(&spec_bytes),
        toolchain: tool.fingerprint(),
        profile: opts.profile.clone(),
        blobs: blob_identity(&spec, &opts.profile),
        allow_mismatch: opts.allow_toolchain_mismatch,
    };
    let digest = key.digest();
    let cache_root = opts.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let entry = cache_root.join(&digest);
    let lock = lock_for(&digest);
    let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());

    let mut rejected = None;
    if !opts.no_cache && entry.is_dir() {
        match verify_entry(&entry, &key) {
            Ok((pcrs, manifest)) => {
                return Ok(RebuildResult {
                    pcrs,
                    eif_path: entry.join(EIF_FILE),
                    manifest,
                    from_cache: true,
                    commit: info.commit,
                    tree: info.tree,
                    cache_entry_rejected: None,
                })
            }
            Err(why) => rejected = Some(why),
        }
    }

    let blobs = match spec.profile(&opts.profile).map(|p| p.kernel) {
        Ok(KernelSource::NitroCliBlobs) => {
            let src = spec.blobs.as_ref().ok_or(BlobsError::NoBlobSection)?;
            match &opts.blobs_dir {
                Some(d) => Some(crate::blobs::load(d, src)?),
                None => None, // build() reports BlobsRequired
            }
        }
        _ => None,
    };

    let tmp_work;
    let work = match &opts.work_dir {
        Some(w) => {
            std::fs::create_dir_all(w).map_err(io(format!("creating {}", w.display())))?;
            tempfile::Builder::new()
                .prefix("rebuild-")
                .tempdir_in(w)
                .map_err(io("creating a work directory"))?
        }
        None => tempfile::Builder::new()
            .prefix("proofpack-rebuild-")
            .tempdir()
            .map_err(io("creating a work directory"))?,
    };
    tmp_work = work;
    let checkout = tmp_work.path().join("src");
    git::checkout(&repo, &info.commit, &checkout)?;

    std::fs::create_dir_all(&cache_root)
        .map_err(io(format!("creating {}", cache_root.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".incoming-")
        .tempdir_in(&cache_root)
        .map_err(io("creating a cache staging directory"))?;
    let req = BuildRequest {
        spec_path: checkout.join(&opts.spec_path),
        spec_bytes: spec_bytes.clone(),
        profile: opts.profile.clone(),
        out_dir: staging.path().to_path_buf(),
        target_dir: opts.target_dir.clone(),
        source_date_epoch: source_date_epoch(&spec, Some(info.time))?,
        allow_toolchain_mismatch: opts.allow_toolchain_mismatch,
        blobs,
        source: SourceInfo {
            git_commit: Some(info.commit.clone()),
            git_tree: Some(info.tree.clone()),
            repository: Some(opts.repo.clone()),
            dirty: false,
        },
        verbose: opts.verbose,
        prebuilt: None,
        spec_repo_path: Some(opts.spec_path.clone()),
        debian_kernel: opts.debian_kernel.clone(),
    };
    let out = build::build(&req, progress)?;
    if entry.exists() {
        std::fs::remove_dir_all(&entry)
            .map_err(io(format!("removing stale {}", entry.display())))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &entry).map_err(io(format!("installing {}", entry.display())))?;
    Ok(RebuildResult {
        pcrs: out.measurements,
        eif_path: entry.join(EIF_FILE),
        manifest: out.manifest,
        from_cache: false,
        commit: info.commit,
        tree: info.tree,
        cache_entry_rejected: rejected,
    })
}
