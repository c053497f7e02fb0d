//! `build-manifest.json`: every input with its hashes, the toolchain, the
//! profile, output digests and the Nix view of the outputs.
//!
//! The manifest is written so that two builds of the same inputs produce the
//! same manifest: no absolute paths (rustflags show placeholders, the spec
//! path is relative to the workspace), no clock.

use std::path::Path;

use crate::digest::{Digest, Sha256, Sha384};
use serde::{Deserialize, Serialize};

use crate::oci::spec::OciManifestRecord;
use crate::oci::{Conversion, InputFormat};
use crate::pcr::Measurements;
use crate::spec::{KernelSource, Spec};

use super::nar::{nix_info, NixInfo};
use super::{BuildError, SourceInfo, ToolchainInfo, EIF_FILE, PCRS_FILE};

/// File name inside `--out`.
pub const MANIFEST_FILE: &str = "build-manifest.json";
/// Manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// Size and digests of a byte string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Name or role.
    pub name: String,
    /// Length.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// SHA-384, hex.
    pub sha384: String,
}

impl FileDigest {
    /// Digests `bytes`.
    pub fn of(name: &str, bytes: &[u8]) -> Self {
        Self {
            name: name.to_string(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            sha384: hex::encode(Sha384::digest(bytes)),
        }
    }
}

/// One input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// Role (`kernel`, `init`, `app`, `Cargo.lock`, `rootfs`, …).
    pub role: String,
    /// Where it came from.
    pub origin: String,
    /// Length.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// SHA-384, hex.
    pub sha384: String,
}

impl InputRecord {
    /// Record for in-memory bytes.
    pub fn bytes(role: &str, origin: String, bytes: &[u8]) -> Self {
        let d = FileDigest::of(role, bytes);
        Self { role: role.to_string(), origin, size: d.size, sha256: d.sha256, sha384: d.sha384 }
    }
}

/// The `oci` section: what pinned an `[app.oci]` application and where the
/// per-file attribution is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciInputRecord {
    /// `app.oci.image` as written in the spec (relative to the spec file).
    pub image: String,
    /// `oci-layout` (directory or OCI archive) or `docker-save`.
    pub input_format: String,
    /// Pinned, index, manifest, config and every layer digest (+ diff_ids).
    #[serde(flatten)]
    pub digests: OciManifestRecord,
    /// `oci-provenance.json` as written next to the EIF: binds the file
    /// that names each file's layer to this build.
    pub provenance: FileDigest,
    /// Extended attributes dropped (initramfs cannot carry them); listed in
    /// the provenance file.
    pub dropped_xattrs: u64,
    /// Device nodes and FIFOs dropped (init mounts devtmpfs); listed in the
    /// provenance file.
    pub dropped_special_files: u64,
}

impl OciInputRecord {
    /// The record of one conversion whose provenance file has `provenance`.
    pub fn new(image: &str, conv: &Conversion, provenance: FileDigest) -> Self {
        let format = match conv.image.format {
            InputFormat::OciLayout => "oci-layout",
            InputFormat::DockerSave => "docker-save",
        };
        Self {
            image: image.to_string(),
            input_format: format.to_string(),
            digests: conv.manifest_record(),
            provenance,
            dropped_xattrs: conv.dropped().xattr_count,
            dropped_special_files: conv.dropped().special_count,
        }
    }
}

/// Toolchain section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolchainRecord {
    /// Pinned release.
    pub pinned_release: String,
    /// Pinned commit.
    pub pinned_commit_hash: String,
    /// Actual release.
    pub release: String,
    /// Actual commit.
    pub commit_hash: String,
    /// Actual host.
    pub host: String,
    /// Actual LLVM.
    pub llvm_version: Option<String>,
    /// SHA-256 of `rustc -vV`.
    pub fingerprint: String,
    /// Actual == pinned.
    pub matches_pin: bool,
    /// `--allow-toolchain-mismatch` was given.
    pub mismatch_allowed: bool,
}

/// Outputs section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outputs {
    /// `image.eif`.
    pub eif: FileDigest,
    /// The two ramdisks as embedded in the EIF.
    pub ramdisks: Vec<FileDigest>,
}

/// `build-manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// `proofpack <version>`.
    pub tool: String,
    /// Image name.
    pub image_name: String,
    /// Image version.
    pub image_version: String,
    /// Profile.
    pub profile: String,
    /// Kernel source of the profile.
    pub kernel_source: String,
    /// Human-readable warnings (demo kernel, toolchain mismatch, target override).
    pub warnings: Vec<String>,
    /// Spec path relative to the workspace root.
    pub spec_path: String,
    /// SHA-256 of the spec bytes.
    pub spec_sha256: String,
    /// Target triple used.
    pub target: String,
    /// Why it differs from the spec's `cargo.target`, when it does.
    pub target_reason: Option<String>,
    /// Pinned `cargo.target`.
    pub pinned_target: String,
    /// Cargo profile.
    pub cargo_profile: String,
    /// Rustflags (paths shown as placeholders).
    pub rustflags: Vec<String>,
    /// Fixed `CARGO_PROFILE_*` settings.
    pub fixed_profile_settings: Vec<String>,
    /// Toolchain.
    pub toolchain: ToolchainRecord,
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: u64,
    /// Provenance.
    pub source: SourceInfo,
    /// Every input.
    pub inputs: Vec<InputRecord>,
    /// Verified AWS blobs (pins checked), when used.
    pub blobs: Option<serde_json::Value>,
    /// Output digests.
    pub outputs: Outputs,
    /// PCRs, nitro-cli map form.
    pub measurements: serde_json::Value,
    /// NAR hash and store path of the output directory (`image.eif` + `pcrs.json`).
    pub nix: NixInfo,
    /// The `[app.oci]` image's digests; absent for a cargo application (and
    /// then not serialised, so such manifests are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<OciInputRecord>,
}

/// Everything [`Manifest::new`] needs.
pub(crate) struct ManifestParts<'a> {
    pub spec: &'a Spec,
    pub spec_bytes: &'a [u8],
    pub spec_path: &'a Path,
    pub workspace: &'a Path,
    pub profile: &'a str,
    pub kernel_source: KernelSource,
    pub target: String,
    pub target_reason: Option<String>,
    pub toolchain: &'a ToolchainInfo,
    pub toolchain_matches: bool,
    pub toolchain_mismatch_allowed: bool,
    pub source_date_epoch: u64,
    pub source: SourceInfo,
    pub rustflags: Vec<String>,
    pub inputs: Vec<InputRecord>,
    pub blobs: Option<&'a super::Blobs>,
    pub ramdisks: Vec<FileDigest>,
    pub eif: FileDigest,
    pub measurements: &'a Measurements,
    pub nix: NixInfo,
    pub oci: Option<OciInputRecord>,
}

impl Manifest {
    pub(crate) fn new(p: ManifestParts<'_>) -> Self {
        let mut warnings = Vec::new();
        if p.kernel_source == KernelSource::DemoStandIn {
            warnings.push(
                "demo profile: the kernel is a generated stand-in; this image is NOT BOOTABLE"
                    .to_string(),
            );
        }
        if !p.toolchain_matches {
            warnings.push(format!(
                "TOOLCHAIN MISMATCH ALLOWED: built with rustc {} ({}) instead of the pinned {} ({})",
                p.toolchain.release,
                p.toolchain.commit_hash,
                p.spec.toolchain_release(),
                p.spec.toolchain_commit()
            ));
        }
        if let Some(r) = &p.target_reason {
            warnings.push(format!(
                "target {} instead of the pinned {}: {r}",
                p.target, p.spec.cargo.target
            ));
        }
        if let Some(o) = &p.oci {
            if o.dropped_xattrs + o.dropped_special_files > 0 {
                warnings.push(format!(
                    "OCI image: {} extended attribute(s) and {} device node(s)/FIFO(s) dropped \
                     (a newc ramdisk cannot carry them); listed in oci-provenance.json",
                    o.dropped_xattrs, o.dropped_special_files
                ));
            }
        }
        let spec_path = p
            .spec_path
            .canonicalize()
            .ok()
            .and_then(|sp| sp.strip_prefix(p.workspace).ok().map(|r| r.display().to_string()))
            .unwrap_or_else(|| {
                p.spec_path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
        Self {
            manifest_version: MANIFEST_VERSION,
            tool: format!("proofpack {}", env!("CARGO_PKG_VERSION")),
            image_name: p.spec.image.name.clone(),
            image_version: p.spec.image.version.clone(),
            profile: p.profile.to_string(),
            kernel_source: match p.kernel_source {
                KernelSource::DemoStandIn => "demo-stand-in (NOT BOOTABLE)".into(),
                KernelSource::NitroCliBlobs => "nitro-cli-blobs".into(),
                KernelSource::DebianPackage => "debian-package".into(),
            },
            warnings,
            spec_path,
            spec_sha256: Spec::hash_bytes(p.spec_bytes),
            target: p.target,
            target_reason: p.target_reason,
            pinned_target: p.spec.cargo.target.clone(),
            cargo_profile: p.spec.cargo.profile.clone(),
            rustflags: p.rustflags,
            fixed_profile_settings: super::cargo::FIXED_PROFILE_SETTINGS
                .iter()
                .map(|(k, v)| format!("CARGO_PROFILE_<P>_{k}={v}"))
                .collect(),
            toolchain: ToolchainRecord {
                pinned_release: p.spec.toolchain_release().to_string(),
                pinned_commit_hash: p.spec.toolchain_commit().to_string(),
                release: p.toolchain.release.clone(),
                commit_hash: p.toolchain.commit_hash.clone(),
                host: p.toolchain.host.clone(),
                llvm_version: p.toolchain.llvm_version.clone(),
                fingerprint: p.toolchain.fingerprint(),
                matches_pin: p.toolchain_matches,
                mismatch_allowed: p.toolchain_mismatch_allowed,
            },
            source_date_epoch: p.source_date_epoch,
            source: p.source,
            inputs: p.inputs,
            blobs: p.blobs.and_then(|b| serde_json::to_value(b).ok()),
            outputs: Outputs { eif: p.eif, ramdisks: p.ramdisks },
            measurements: p.measurements.to_map_value(),
            nix: p.nix,
            oci: p.oci,
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a manifest (bounded by the caller).
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// The PCRs recorded in the manifest.
    pub fn measurements(&self) -> Result<Measurements, String> {
        let v = serde_json::to_vec(&self.measurements).map_err(|e| e.to_string())?;
        Measurements::from_json(&v).map_err(|e| e.to_string())
    }
}

/// NAR hash/store path of `image.eif` + `pcrs.json` as one directory (what
/// the flake's image output contains).
pub(crate) fn nix_of_outputs(out_dir: &Path, name: &str) -> Result<NixInfo, BuildError> {
    let staging = out_dir.join(".nar-staging");
    let _ = std::fs::remove_dir_all(&staging);
    let io = |what: &str| {
        let what = what.to_string();
        move |e| BuildError::Io { what, source: e }
    };
    std::fs::create_dir_all(&staging).map_err(io("creating NAR staging dir"))?;
    for f in [EIF_FILE, PCRS_FILE] {
        std::fs::copy(out_dir.join(f), staging.join(f)).map_err(io("staging output for NAR"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(staging.join(f), std::fs::Permissions::from_mode(0o444))
            .map_err(io("setting NAR staging mode"))?;
    }
    let r = nix_info(&staging, name);
    let _ = std::fs::remove_dir_all(&staging);
    r
}
