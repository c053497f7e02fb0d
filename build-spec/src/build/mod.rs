//! The native build: from a spec and a source tree to `image.eif`,
//! `pcrs.json` and `build-manifest.json`.
//!
//! Data flow:
//!
//! ```text
//! spec + profile ──► toolchain check (rustc -vV vs pin) ──► cargo build init, app
//!   (deterministic flags, see [`cargo`])
//! [app.oci] image (instead of the cargo app) ──► crate::oci: verify every blob
//!   against the pinned digest, layers ──► ramdisk 1, before anything is compiled
//! blobs (verified, see [`blobs`]) or demo kernel
//!   ──► ramdisk 0 "bootstrap": dev/, init, nsm.ko            (PCR1)
//!   ──► ramdisk 1 "app": rootfs/…, rootfs/bin/<app>, cmd, env (PCR2)
//!       or the OCI image: cmd, env, rootfs/<image tree>      (PCR2)
//!   ──► EIF (kernel, cmdline, metadata, ramdisk 0, ramdisk 1) ──► PCRs
//!   ──► outputs + manifest (every input hash, toolchain, NAR hash,
//!       OCI manifest/config/layer digests) [+ oci-provenance.json]
//! ```
//!
//! Every cpio entry gets mtime 0 ([`layout::RAMDISK_MTIME`]), OCI ramdisks
//! included, so PCRs depend only on content: `SOURCE_DATE_EPOCH` reaches the
//! compiler's environment and the EIF's `BuildTime` metadata (not measured),
//! never the ramdisks. A new commit that does not change init, kernel or
//! cmdline therefore keeps PCR1, and one that does not change the image keeps
//! PCR2.
//!
//! This module runs `rustc` and `cargo` as subprocesses but never reads the
//! clock or the network: the epoch and the blobs are given by the caller.

pub mod blobs;
pub mod build_info;
pub mod cargo;
pub mod debian;
mod eif_glue;
pub mod layout;
mod manifest;
pub mod nar;
mod oci_provenance;
pub mod toolchain;

use std::path::{Path, PathBuf};

pub use blobs::{Blob, Blobs};
pub use layout::{app_ramdisk_entries, bootstrap_ramdisk_entries, RamdiskInputs};
pub use manifest::OciInputRecord;
pub use manifest::{
    FileDigest, InputRecord, Manifest, ToolchainRecord, MANIFEST_FILE, MANIFEST_VERSION,
};
pub use oci_provenance::{provenance_beside_eif, ProvenanceBindingError};
pub use toolchain::ToolchainInfo;

use crate::oci::OciError;
use crate::pcr::Measurements;
use crate::spec::{AppSource, Binary, KernelSource, Spec, SpecError};

/// Output file names inside `--out`.
pub const EIF_FILE: &str = "image.eif";
/// nitro-cli-format measurements.
pub const PCRS_FILE: &str = "pcrs.json";
/// For an `[app.oci]` build: which layer introduced every file of the
/// application ramdisk (`proofpack diff` and `proofpack oci diff` read it).
/// Its SHA-256 is in the build manifest, which binds it to `image.eif`.
pub const OCI_PROVENANCE_FILE: &str = "oci-provenance.json";

/// Largest init/app binary or rootfs file read (bounds memory).
pub const MAX_INPUT_FILE_LEN: u64 = 512 * 1024 * 1024;

/// Errors of a build. Each bad-input case has its own variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The spec is invalid or the profile unknown.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// `rustc -vV` could not be run or parsed.
    #[error("toolchain: {0}")]
    Toolchain(String),
    /// The compiler differs from the pin and no override was given.
    #[error(
        "toolchain mismatch: the spec pins rustc {pinned_release} ({pinned_commit}) but this \
         machine has rustc {actual_release} ({actual_commit}); install the pinned toolchain or \
         pass --allow-toolchain-mismatch (recorded in every output)"
    )]
    ToolchainMismatch {
        /// Pinned release.
        pinned_release: String,
        /// Pinned commit.
        pinned_commit: String,
        /// Actual release.
        actual_release: String,
        /// Actual commit.
        actual_commit: String,
    },
    /// The target's standard library is not installed.
    #[error(
        "the Rust standard library for target {target} is not installed (rustup target add \
         {target}){hint}"
    )]
    TargetNotInstalled {
        /// Target triple.
        target: String,
        /// Extra advice.
        hint: String,
    },
    /// No `Cargo.lock` (a `--locked` build is impossible).
    #[error("{0} has no Cargo.lock: a reproducible build needs locked dependencies")]
    MissingLockfile(PathBuf),
    /// cargo failed.
    #[error("building {package}/{bin}: {message}")]
    Cargo {
        /// Package.
        package: String,
        /// Binary.
        bin: String,
        /// What went wrong (cargo's last lines).
        message: String,
    },
    /// The profile needs AWS blobs and none were supplied.
    #[error(
        "profile {profile:?} uses AWS's kernel blobs but none were supplied: run `proofpack \
         blobs fetch` (online) or pass --blobs DIR"
    )]
    BlobsRequired {
        /// Profile.
        profile: String,
    },
    /// A blob file is absent.
    #[error("blob {role} ({path}) not found (looked in {looked_in})")]
    MissingBlob {
        /// Role.
        role: &'static str,
        /// Repository path.
        path: String,
        /// Candidates tried.
        looked_in: String,
    },
    /// A blob does not match its pin.
    #[error(
        "blob {role} ({path}) does not match its {pin} pin: expected {expected}, got {actual}"
    )]
    BlobPinMismatch {
        /// Role.
        role: &'static str,
        /// Repository path.
        path: String,
        /// `sha256` or `git_blob`.
        pin: &'static str,
        /// Pinned value.
        expected: String,
        /// Computed value.
        actual: String,
    },
    /// A blob has no content pin and no verified git chain.
    #[error(
        "blob {role} ({path}) has no sha256/git_blob pin in the spec and was not read from a \
         git repository at the pinned commit, so it cannot be verified; use `proofpack blobs \
         fetch` output (a git repository) or add a content pin"
    )]
    UnpinnedBlob {
        /// Role.
        role: &'static str,
        /// Repository path.
        path: String,
    },
    /// The `[app.oci]` image could not be read, verified or converted
    /// (missing or tampered blob, digest pin not in the image, wrong
    /// platform, unsafe path…); the source names the descriptor or entry.
    #[error("OCI image {image}: {source}")]
    Oci {
        /// `app.oci.image` as written in the spec.
        image: String,
        /// The precise cause.
        #[source]
        source: OciError,
    },
    /// `--prebuilt-*` binaries that do not fit the spec's application.
    #[error("prebuilt binaries: {0}")]
    PrebuiltMismatch(&'static str),
    /// A rootfs file named by the spec is missing or too large.
    #[error("rootfs file {path}: {message}")]
    RootfsFile {
        /// Spec path.
        path: String,
        /// Why.
        message: String,
    },
    /// A profile with `kernel = "debian-package"` was built without the
    /// package directory.
    #[error(
        "profile {profile:?} takes its kernel from the Debian package {package} {version}: fetch \
         and unpack it (`scripts/enclave-emulator fetch-kernel DIR`) and pass --debian-kernel DIR"
    )]
    DebianKernelRequired {
        /// Profile.
        profile: String,
        /// Package name.
        package: String,
        /// Version.
        version: String,
    },
    /// A pinned `.ko.xz` module is not a valid or bounded xz stream.
    #[error("kernel module {path}: {source}")]
    ModuleDecompress {
        /// Path in the package.
        path: String,
        /// Cause.
        #[source]
        source: debian::XzError,
    },
    /// Writing the image failed (cpio/EIF layer).
    #[error("assembling the image: {0}")]
    Assemble(String),
    /// An input file could not be read, or is larger than its limit
    /// (refused before it is read, see [`crate::bounded`]).
    #[error(transparent)]
    Input(#[from] crate::bounded::ReadError),
    /// File system error.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Where the source tree came from (recorded, never trusted).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceInfo {
    /// Git commit id, when built from a checkout of a commit.
    pub git_commit: Option<String>,
    /// Git tree id of that commit.
    pub git_tree: Option<String>,
    /// Repository location as given.
    pub repository: Option<String>,
    /// Built from a working tree with uncommitted changes (`--allow-dirty`):
    /// no commit describes these sources.
    #[serde(default)]
    pub dirty: bool,
}

/// Everything one build needs.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The spec file (its directory anchors `cargo.workspace`).
    pub spec_path: PathBuf,
    /// The spec bytes (hashed into the manifest and the cache key).
    pub spec_bytes: Vec<u8>,
    /// Profile name.
    pub profile: String,
    /// Output directory (created).
    pub out_dir: PathBuf,
    /// Cargo target directory; default `<workspace>/target/proofpack`.
    pub target_dir: Option<PathBuf>,
    /// `SOURCE_DATE_EPOCH`, already resolved from the spec's policy.
    pub source_date_epoch: u64,
    /// Proceed when rustc differs from the pin (recorded everywhere).
    pub allow_toolchain_mismatch: bool,
    /// Verified AWS blobs, for profiles that use them.
    pub blobs: Option<Blobs>,
    /// Provenance of the tree.
    pub source: SourceInfo,
    /// Show cargo's own output.
    pub verbose: bool,
    /// Use these already-compiled binaries instead of running cargo (the Nix
    /// flake builds them with Nix, then assembles with the same layout code).
    pub prebuilt: Option<Prebuilt>,
    /// The spec's path relative to the repository root, recorded in the
    /// baked `/etc/proofpack/build-info.json` (see [`build_info`]). The file
    /// is baked when this, the source's commit and tree, and the spec's
    /// `image.repository` are all known; otherwise the manifest warns that
    /// the application will not start.
    pub spec_repo_path: Option<String>,
    /// For `kernel = "debian-package"`: the directory holding the fetched
    /// `.deb` and its unpacked `root/` (see [`debian`]).
    pub debian_kernel: Option<PathBuf>,
}

/// Binaries compiled outside proofpack (recorded as such in the manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prebuilt {
    /// The init binary.
    pub init: PathBuf,
    /// The application binary: required when the spec's application is a
    /// cargo binary, refused when it is an `[app.oci]` image (the image is
    /// the application; there is nothing to compile).
    pub app: Option<PathBuf>,
}

/// Build phases, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Checking rustc against the pin.
    Toolchain,
    /// Compiling one binary.
    Compiling,
    /// Writing ramdisks and the EIF.
    Assembling,
    /// Hashing outputs (SHA-256/384, NAR).
    Hashing,
}

/// Receives progress notifications; must be thread-safe so callers can run
/// builds from worker threads.
pub trait Progress: Sync {
    /// A new stage starts.
    fn stage(&self, stage: Stage, detail: &str);
}

/// Progress sink that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _: Stage, _: &str) {}
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The image's PCR0/1/2.
    pub measurements: Measurements,
    /// `<out>/image.eif`.
    pub eif_path: PathBuf,
    /// `<out>/pcrs.json`.
    pub pcrs_path: PathBuf,
    /// `<out>/build-manifest.json`.
    pub manifest_path: PathBuf,
    /// The manifest as written.
    pub manifest: Manifest,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// The workspace root named by a spec file (`cargo.workspace` relative to
/// the spec's directory), canonicalised.
pub fn workspace_root(spec_path: &Path, spec: &Spec) -> Result<PathBuf, BuildError> {
    let dir = spec_path.parent().unwrap_or_else(|| Path::new("."));
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let p = dir.join(&spec.cargo.workspace);
    p.canonicalize().map_err(io_err(format!("workspace {}", p.display())))
}

/// Checks rustc against the spec's pin. `Ok(info)` also when mismatching
/// with `allow` set; the caller records the mismatch.
pub fn check_toolchain(
    workspace: &Path,
    spec: &Spec,
    allow: bool,
) -> Result<(ToolchainInfo, bool), BuildError> {
    let info = ToolchainInfo::detect(workspace)?;
    let matches = info.matches(spec.toolchain_release(), spec.toolchain_commit());
    if !matches && !allow {
        return Err(BuildError::ToolchainMismatch {
            pinned_release: spec.toolchain_release().to_string(),
            pinned_commit: spec.toolchain_commit().to_string(),
            actual_release: info.release.clone(),
            actual_commit: info.commit_hash.clone(),
        });
    }
    Ok((info, matches))
}

/// The directory the spec file is in (anchors `cargo.workspace` and
/// `app.oci.image`).
fn spec_dir(spec_path: &Path) -> &Path {
    match spec_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Runs a complete build.
pub fn build(req: &BuildRequest, progress: &dyn Progress) -> Result<BuildOutput, BuildError> {
    let spec = Spec::parse(&req.spec_bytes)?;
    let profile = spec.profile(&req.profile)?.clone();
    let (target, target_reason) = spec.target_for(&profile);
    let workspace = workspace_root(&req.spec_path, &spec)?;
    let app_source = spec.app_source()?;
    let prebuilt_app = req.prebuilt.as_ref().and_then(|p| p.app.as_ref());
    if let (AppSource::Oci(_), Some(_)) = (&app_source, prebuilt_app) {
        return Err(BuildError::PrebuiltMismatch(
            "the spec's application is an [app.oci] image: there is no application binary to \
             supply (give only the prebuilt init)",
        ));
    }

    progress.stage(Stage::Toolchain, "rustc -vV");
    let (toolchain, toolchain_matches) =
        check_toolchain(&workspace, &spec, req.allow_toolchain_mismatch)?;
    if req.prebuilt.is_none() && !ToolchainInfo::has_target(&workspace, &target)? {
        let hint = if target != spec.cargo.target || spec.profiles.len() < 2 {
            String::new()
        } else {
            let others: Vec<&String> =
                spec.profiles.keys().filter(|k| **k != req.profile).collect();
            format!("; or use another profile ({others:?}) whose target is installed")
        };
        return Err(BuildError::TargetNotInstalled { target, hint });
    }
    let lock = workspace.join("Cargo.lock");
    if !lock.is_file() {
        return Err(BuildError::MissingLockfile(workspace.clone()));
    }

    let mut modules = Vec::new();
    let mut deb_record = None;
    let (kernel, kernel_config, nsm_ko) = match profile.kernel {
        KernelSource::DemoStandIn => (blobs::demo_kernel(), None, None),
        KernelSource::DebianPackage => {
            let pin = profile.debian.as_ref().ok_or_else(|| {
                BuildError::Spec(SpecError::MissingPin {
                    key: format!("profiles.{}.debian", req.profile),
                    why: "kernel = \"debian-package\" needs the package pins",
                })
            })?;
            let dir =
                req.debian_kernel.as_ref().ok_or_else(|| BuildError::DebianKernelRequired {
                    profile: req.profile.clone(),
                    package: pin.package.clone(),
                    version: pin.version.clone(),
                })?;
            let files = debian::load(dir, pin)?;
            modules = files.modules;
            deb_record = Some((pin.clone(), files.deb));
            (files.kernel, Some(files.kernel_config), None)
        }
        KernelSource::NitroCliBlobs => {
            let b = req
                .blobs
                .as_ref()
                .ok_or_else(|| BuildError::BlobsRequired { profile: req.profile.clone() })?;
            // Defence in depth: re-check the content pins even if the caller
            // verified already (a plain Blobs value could come from anywhere).
            let src = spec
                .blobs
                .as_ref()
                .ok_or_else(|| BuildError::BlobsRequired { profile: req.profile.clone() })?;
            for (blob, pin) in [(&b.kernel, &src.kernel), (&b.kernel_config, &src.kernel_config)] {
                Blob::verify(
                    blob.role,
                    pin,
                    blob.origin.clone(),
                    blob.content.clone(),
                    Some(blob.verified_by.join("; ")),
                )?;
            }
            if let (Some(n), Some(pin)) = (&b.nsm_ko, &src.nsm_ko) {
                Blob::verify(
                    n.role,
                    pin,
                    n.origin.clone(),
                    n.content.clone(),
                    Some(n.verified_by.join("; ")),
                )?;
            }
            if src.nsm_ko.is_some() != b.nsm_ko.is_some() {
                return Err(BuildError::MissingBlob {
                    role: "nsm_ko",
                    path: src.nsm_ko.as_ref().map(|p| p.path.clone()).unwrap_or_default(),
                    looked_in: "the supplied blob set".into(),
                });
            }
            (
                b.kernel.content.clone(),
                Some(b.kernel_config.content.clone()),
                b.nsm_ko.as_ref().map(|n| n.content.clone()),
            )
        }
    };

    // The image is converted (every blob verified against the pin) before
    // anything is compiled or written: a wrong pin or a tampered layer fails
    // fast and leaves no output behind. Same mtime as every other ramdisk
    // entry, so the image's PCR2 does not move with the commit time.
    let app_plan = match &app_source {
        AppSource::Oci(o) => {
            progress.stage(Stage::Assembling, &format!("OCI image {}", o.image));
            let (conv, ramdisk) = o
                .build_ramdisk(spec_dir(&req.spec_path), layout::RAMDISK_MTIME, Vec::new())
                .map_err(|source| BuildError::Oci { image: o.image.clone(), source })?;
            AppPlan::Oci(Box::new(OciApp { spec: o, conv, ramdisk }))
        }
        AppSource::Cargo(b) => AppPlan::Cargo(b),
    };

    let target_dir = match &req.target_dir {
        Some(t) => t.clone(),
        None => workspace.join("target").join("proofpack"),
    };
    if req.prebuilt.is_none() {
        std::fs::create_dir_all(&target_dir)
            .map_err(io_err(format!("creating {}", target_dir.display())))?;
    }
    let target_dir = target_dir.canonicalize().unwrap_or(target_dir);
    let compile = |b: &Binary| -> Result<Vec<u8>, BuildError> {
        progress.stage(Stage::Compiling, &format!("{}/{}", b.package, b.bin));
        let job = cargo::CargoJob {
            workspace: &workspace,
            target_dir: &target_dir,
            target: &target,
            profile: &spec.cargo.profile,
            package: &b.package,
            bin: &b.bin,
            features: &b.features,
            extra_rustflags: &spec.cargo.rustflags,
            source_date_epoch: req.source_date_epoch,
            verbose: req.verbose,
        };
        let path = cargo::build_binary(&job)?;
        Ok(crate::bounded::read_file(&path, MAX_INPUT_FILE_LEN)?)
    };
    let init_bin = match &req.prebuilt {
        Some(p) => crate::bounded::read_file(&p.init, MAX_INPUT_FILE_LEN)?,
        None => compile(&spec.init)?,
    };
    let app = match app_plan {
        AppPlan::Cargo(b) => {
            let bytes = match (&req.prebuilt, prebuilt_app) {
                (None, _) => compile(b)?,
                (Some(_), Some(path)) => crate::bounded::read_file(path, MAX_INPUT_FILE_LEN)?,
                (Some(_), None) => {
                    return Err(BuildError::PrebuiltMismatch(
                        "the spec's application is a cargo binary: give the prebuilt \
                         application too",
                    ))
                }
            };
            AppReady::Cargo { bin: b, bytes }
        }
        AppPlan::Oci(o) => AppReady::Oci(o),
    };

    let mut rootfs_files = Vec::new();
    let mut extra_warnings = Vec::new();
    let build_info = match (&req.spec_repo_path, &req.source.git_commit, &req.source.git_tree) {
        (Some(spec_path), Some(commit), Some(tree)) => build_info::render(
            &spec,
            &req.spec_bytes,
            &req.profile,
            &build_info::BuildInfoSource {
                spec_path: spec_path.clone(),
                commit: commit.clone(),
                tree: tree.clone(),
                dirty: req.source.dirty,
            },
        ),
        _ => None,
    };
    match (&build_info, &app_source) {
        (Some(_), AppSource::Oci(_)) => extra_warnings.push(format!(
            "/{} is not baked into an [app.oci] image (the image is the whole application \
             ramdisk): put it into the image",
            build_info::BUILD_INFO_ROOTFS_PATH
        )),
        (Some(bytes), AppSource::Cargo(_)) => {
            if spec.rootfs.files.iter().any(|f| f.path == build_info::BUILD_INFO_ROOTFS_PATH) {
                return Err(BuildError::RootfsFile {
                    path: build_info::BUILD_INFO_ROOTFS_PATH.into(),
                    message: "the build writes this file itself (build-info); remove the \
                              [[rootfs.files]] entry"
                        .into(),
                });
            }
            rootfs_files.push((
                build_info::BUILD_INFO_ROOTFS_PATH.to_string(),
                build_info::BUILD_INFO_MODE,
                "generated build-info".to_string(),
                bytes.clone(),
            ));
        }
        (None, _) => extra_warnings.push(format!(
            "/{} not baked (needs a git commit, the spec's path in the repository and \
             image.repository): proofpack-enclave serve refuses to start without it",
            build_info::BUILD_INFO_ROOTFS_PATH
        )),
    }
    for f in &spec.rootfs.files {
        let p = workspace.join(&f.source);
        let content = crate::bounded::read_file(&p, MAX_INPUT_FILE_LEN).map_err(|e| {
            BuildError::RootfsFile { path: f.source.clone(), message: e.to_string() }
        })?;
        rootfs_files.push((f.path.clone(), f.mode, f.source.clone(), content));
    }

    progress.stage(Stage::Assembling, "ramdisks and EIF");
    let (os, kver) = match &kernel_config {
        Some(c) => {
            blobs::kernel_os_version(c).unwrap_or_else(|| ("Linux".into(), "unknown".into()))
        }
        None => ("demo-stand-in".into(), "not-bootable".into()),
    };
    let meta = layout::MetadataInputs {
        source_date_epoch: req.source_date_epoch,
        operating_system: os,
        kernel_version: kver,
        profile: &req.profile,
        spec_sha256: Spec::hash_bytes(&req.spec_bytes),
        toolchain_mismatch_allowed: !toolchain_matches,
        not_bootable: profile.kernel == KernelSource::DemoStandIn,
    };
    // `app_bin` is `Some` for a cargo application, `oci_app` for an image.
    let (image, app_bin, oci_app) = match app {
        AppReady::Oci(oci) => {
            let OciApp { spec: o, conv, ramdisk } = *oci;
            let boot = RamdiskInputs {
                init: &init_bin,
                nsm_ko: nsm_ko.as_deref(),
                modules: &modules,
                app_bin: &[],
                app_name: "",
                args: &[],
                env: &[],
                rootfs_files: &[],
            };
            let image = layout::assemble_with_app_ramdisk(&spec, &boot, ramdisk, &kernel, meta)?;
            (image, None, Some((o, conv)))
        }
        AppReady::Cargo { bin, bytes } => {
            let inputs = RamdiskInputs {
                init: &init_bin,
                nsm_ko: nsm_ko.as_deref(),
                modules: &modules,
                app_bin: &bytes,
                app_name: &bin.bin,
                args: profile.app_args.as_deref().unwrap_or(&bin.args),
                env: &bin.env,
                rootfs_files: &rootfs_files,
            };
            (layout::assemble(&spec, &inputs, &kernel, meta)?, Some((bin, bytes)), None)
        }
    };

    progress.stage(Stage::Hashing, "outputs");
    std::fs::create_dir_all(&req.out_dir)
        .map_err(io_err(format!("creating {}", req.out_dir.display())))?;
    let eif_path = req.out_dir.join(EIF_FILE);
    let pcrs_path = req.out_dir.join(PCRS_FILE);
    write_file(&eif_path, &image.eif)?;
    write_file(&pcrs_path, format!("{}\n", image.measurements.to_nitro_json()).as_bytes())?;
    let provenance_path = req.out_dir.join(OCI_PROVENANCE_FILE);
    let oci_record = match &oci_app {
        Some((o, conv)) => {
            let mut json = serde_json::to_vec_pretty(&conv.provenance()).map_err(|e| {
                BuildError::Assemble(format!("serialising {OCI_PROVENANCE_FILE}: {e}"))
            })?;
            json.push(b'\n');
            write_file(&provenance_path, &json)?;
            Some(OciInputRecord::new(&o.image, conv, FileDigest::of(OCI_PROVENANCE_FILE, &json)))
        }
        None => {
            // A provenance file left by an earlier OCI build into the same
            // directory would describe another image; `proofpack diff`
            // checks the binding, but a stale file is still misleading.
            match std::fs::remove_file(&provenance_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(BuildError::Io {
                        what: format!("removing stale {}", provenance_path.display()),
                        source: e,
                    })
                }
                _ => None,
            }
        }
    };
    let nix = manifest::nix_of_outputs(
        &req.out_dir,
        &format!("{}-{}-eif", spec.image.name, spec.image.version),
    )?;

    let mut inputs_rec = vec![
        InputRecord::bytes("kernel", kernel_origin(&profile.kernel, req.blobs.as_ref()), &kernel),
        InputRecord::bytes(
            "init",
            bin_origin(&spec.init, req.prebuilt.as_ref().map(|p| &p.init)),
            &init_bin,
        ),
    ];
    // The OCI image is recorded by its digests in `manifest.oci`, not as a
    // byte input: its blobs, not one file, are what the pin covers.
    if let Some((app, bytes)) = &app_bin {
        inputs_rec.push(InputRecord::bytes("app", bin_origin(app, prebuilt_app), bytes));
    }
    inputs_rec.push(InputRecord::bytes(
        "Cargo.lock",
        "Cargo.lock".into(),
        &crate::bounded::read_file(&lock, MAX_INPUT_FILE_LEN)?,
    ));
    inputs_rec.push(InputRecord::bytes(
        "cmdline",
        "spec image.cmdline".into(),
        spec.image.cmdline.as_bytes(),
    ));
    if let Some(c) = &kernel_config {
        inputs_rec.push(InputRecord::bytes(
            "kernel_config",
            kernel_origin(&profile.kernel, req.blobs.as_ref()),
            c,
        ));
    }
    if let Some(n) = &nsm_ko {
        inputs_rec.push(InputRecord::bytes(
            "nsm_ko",
            kernel_origin(&profile.kernel, req.blobs.as_ref()),
            n,
        ));
    }
    if let (Some((pin, (deb_name, deb_sha256))), Some(k)) = (&deb_record, inputs_rec.first_mut()) {
        k.origin = format!(
            "{} from the Debian package {}={} ({deb_name}, sha256 {deb_sha256})",
            pin.kernel.path, pin.package, pin.version
        );
    }
    for ((name, bytes), pin) in modules.iter().zip(deb_record.iter().flat_map(|(p, _)| &p.modules))
    {
        inputs_rec.push(InputRecord::bytes(
            "kernel_module",
            format!("{} (decompressed) -> modules/{name}", pin.path),
            bytes,
        ));
    }
    for (path, _, source, content) in &rootfs_files {
        inputs_rec.push(InputRecord::bytes(
            "rootfs",
            format!("{source} -> rootfs/{path}"),
            content,
        ));
    }
    let (_, shown_flags) = cargo::rustflags(
        &cargo::CargoJob {
            workspace: &workspace,
            target_dir: &target_dir,
            target: &target,
            profile: &spec.cargo.profile,
            package: "",
            bin: "",
            features: &[],
            extra_rustflags: &spec.cargo.rustflags,
            source_date_epoch: req.source_date_epoch,
            verbose: false,
        },
        Path::new(""),
    );
    let manifest = Manifest::new(manifest::ManifestParts {
        spec: &spec,
        spec_bytes: &req.spec_bytes,
        spec_path: &req.spec_path,
        workspace: &workspace,
        profile: &req.profile,
        kernel_source: profile.kernel,
        target,
        target_reason,
        toolchain: &toolchain,
        toolchain_matches,
        toolchain_mismatch_allowed: req.allow_toolchain_mismatch,
        source_date_epoch: req.source_date_epoch,
        source: req.source.clone(),
        rustflags: shown_flags,
        inputs: inputs_rec,
        blobs: req.blobs.as_ref(),
        ramdisks: vec![
            FileDigest::of("ramdisk-0-bootstrap", &image.ramdisk0),
            FileDigest::of("ramdisk-1-app", &image.ramdisk1),
        ],
        eif: FileDigest::of(EIF_FILE, &image.eif),
        measurements: &image.measurements,
        nix,
        oci: oci_record,
    });
    let mut manifest = manifest;
    manifest.warnings.extend(extra_warnings);
    let manifest_path = req.out_dir.join(MANIFEST_FILE);
    write_file(&manifest_path, manifest.to_json().as_bytes())?;
    Ok(BuildOutput {
        measurements: image.measurements,
        eif_path,
        pcrs_path,
        manifest_path,
        manifest,
    })
}

/// An `[app.oci]` application, converted and verified.
struct OciApp<'a> {
    /// The `[app.oci]` table.
    spec: &'a crate::oci::spec::OciAppSpec,
    /// The conversion (digests, provenance).
    conv: crate::oci::Conversion,
    /// The ramdisk bytes.
    ramdisk: Vec<u8>,
}

/// The application before the init is compiled: the image is converted
/// first (fail fast on a bad pin), the cargo binary is compiled after the
/// init (the order cargo builds always had).
enum AppPlan<'a> {
    /// A cargo binary still to be compiled (or read, when prebuilt).
    Cargo(&'a Binary),
    /// An OCI image (boxed: the conversion summary is large).
    Oci(Box<OciApp<'a>>),
}

/// The application ready for assembly.
enum AppReady<'a> {
    /// The compiled (or prebuilt) cargo binary.
    Cargo {
        /// Its spec entry.
        bin: &'a Binary,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// An OCI image (boxed: the conversion summary is large).
    Oci(Box<OciApp<'a>>),
}

fn bin_origin(b: &crate::spec::Binary, prebuilt: Option<&PathBuf>) -> String {
    match prebuilt {
        Some(p) => format!(
            "prebuilt {} (cargo {}/{} compiled outside proofpack; file name only recorded)",
            p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            b.package,
            b.bin
        ),
        None => format!("cargo {}/{}", b.package, b.bin),
    }
}

fn kernel_origin(k: &KernelSource, b: Option<&Blobs>) -> String {
    match (k, b) {
        (KernelSource::DemoStandIn, _) => "generated demo stand-in (NOT BOOTABLE)".into(),
        (KernelSource::NitroCliBlobs, Some(b)) => {
            format!("nitro-cli blobs from {}", b.kernel.origin)
        }
        (KernelSource::NitroCliBlobs, None) => "nitro-cli blobs".into(),
        (KernelSource::DebianPackage, _) => {
            "Debian package (verified against the spec's pins)".into()
        }
    }
}

/// Writes a file atomically enough for our purposes (temp + rename).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let tmp = path.with_extension("tmp-proofpack");
    std::fs::write(&tmp, bytes).map_err(io_err(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("renaming to {}", path.display())))
}
