//! The build-spec side of an OCI application: the `[app.oci]` table of the
//! build spec ([`crate::spec::App`]; `Spec::parse` validates it and rejects
//! a cargo application next to it), and the record of digests the build
//! manifest keeps.
//!
//! ```toml
//! [app.oci]
//! image = "images/app"            # layout dir, OCI archive or docker save archive,
//!                                 # relative to the spec file's directory
//! digest = "sha256:4f1c…"         # manifest or index digest (docker save: image ID)
//! platform = "linux/amd64"        # or linux/arm64; the spec defaults it from
//!                                 # image.arch and requires the two to agree
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Conversion, OciError, Platform, Sha256Digest};

/// The `[app.oci]` table: an image pinned by digest and platform.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OciAppSpec {
    /// Path of the image input, relative to the spec file's directory.
    pub image: String,
    /// Pinned manifest (or index) digest. Required; an `Option` only so
    /// that the build spec can report a missing pin by its key
    /// (`app.oci.digest`) instead of a generic deserializer message.
    #[serde(default)]
    pub digest: Option<String>,
    /// Target platform. Default here `linux/amd64`; the build spec defaults
    /// it from `image.arch` and requires the two to agree.
    #[serde(default)]
    pub platform: Option<String>,
}

impl OciAppSpec {
    /// Checks the pin and platform (shape only; the image is not opened).
    pub fn validate(&self) -> Result<(Sha256Digest, Platform), OciError> {
        let d: Sha256Digest = self.digest.as_deref().ok_or(OciError::DigestNotPinned)?.parse()?;
        let p = match &self.platform {
            Some(p) => p.parse()?,
            None => Platform::linux_amd64(),
        };
        if Path::new(&self.image).is_absolute() || self.image.split('/').any(|c| c == "..") {
            return Err(OciError::NotAnImage {
                input: format!(
                    "{:?}: the image path must be relative to the spec and stay below it",
                    self.image
                ),
            });
        }
        Ok((d, p))
    }

    /// The image path resolved against the spec's directory.
    pub fn image_path(&self, spec_dir: &Path) -> PathBuf {
        spec_dir.join(&self.image)
    }

    /// Converts the pinned image into the application ramdisk written to
    /// `out`, all mtimes `source_date_epoch`.
    pub fn build_ramdisk<W: Write>(
        &self,
        spec_dir: &Path,
        source_date_epoch: u32,
        out: W,
    ) -> Result<(Conversion, W), OciError> {
        let (d, p) = self.validate()?;
        super::write_ramdisk(&self.image_path(spec_dir), d, &p, source_date_epoch, out)
    }
}

/// What the build manifest records about an OCI application: every digest
/// that pins it (the per-file attribution lives in `oci-provenance.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciManifestRecord {
    /// The digest pinned in the spec.
    pub pinned: Sha256Digest,
    /// The index the manifest was chosen from, if any.
    pub index_digest: Option<Sha256Digest>,
    /// Image manifest digest (absent for classic docker save).
    pub manifest_digest: Option<Sha256Digest>,
    /// Config digest.
    pub config_digest: Sha256Digest,
    /// Platform.
    pub platform: String,
    /// Layer blob digests, bottom first.
    pub layers: Vec<Sha256Digest>,
    /// Uncompressed layer digests (config `diff_ids`), bottom first.
    pub diff_ids: Vec<Sha256Digest>,
}

impl Conversion {
    /// The digests for the build manifest.
    pub fn manifest_record(&self) -> OciManifestRecord {
        let i = &self.image;
        OciManifestRecord {
            pinned: i.pinned,
            index_digest: i.index_digest,
            manifest_digest: i.manifest_digest,
            config_digest: i.config_digest,
            platform: i.platform.to_string(),
            layers: i.layers.iter().map(|l| l.digest).collect(),
            diff_ids: i.layers.iter().map(|l| l.diff_id).collect(),
        }
    }
}
