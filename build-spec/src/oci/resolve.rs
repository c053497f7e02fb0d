//! From a pinned digest to a verified list of layers.
//!
//! The pin is the root of trust: the blob it names is hashed before it is
//! parsed, and every descriptor read from a verified document is checked in
//! turn (digest and size) before its bytes are used. `index.json` and
//! `manifest.json` only help to find things; they are never trusted.

use std::fmt;
use std::io::Read;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use serde::Serialize;

use super::digest::{BlobFault, Sha256Digest, VerifyingReader};
use super::source::ImageSource;
use super::OciError;

/// Largest JSON document (index, manifest, config) read into memory.
pub const MAX_JSON_BLOB: u64 = 8 * 1024 * 1024;
/// Deepest chain of nested indexes followed.
const MAX_INDEX_DEPTH: usize = 4;

/// OCI and Docker media types this tool understands.
pub mod media {
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image manifest (schema 2).
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
}

/// How a layer's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain tar.
    None,
    /// tar+gzip.
    Gzip,
    /// tar+zstd.
    Zstd,
}

fn layer_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// A target platform: `linux/amd64` or `linux/arm64`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture (`amd64`, `arm64`).
    pub architecture: String,
}

impl Platform {
    /// `linux/amd64`.
    pub fn linux_amd64() -> Self {
        Self { os: "linux".into(), architecture: "amd64".into() }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

impl std::str::FromStr for Platform {
    type Err = OciError;

    /// Accepts `linux/amd64`, `linux/arm64` and `linux/arm64/v8` (the only
    /// platforms Nitro Enclaves run).
    fn from_str(s: &str) -> Result<Self, OciError> {
        match s {
            "linux/amd64" => Ok(Self { os: "linux".into(), architecture: "amd64".into() }),
            "linux/arm64" | "linux/arm64/v8" => {
                Ok(Self { os: "linux".into(), architecture: "arm64".into() })
            }
            _ => Err(OciError::BadPlatform { value: s.chars().take(64).collect() }),
        }
    }
}

/// The shape of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFormat {
    /// `oci-layout` + `index.json` + `blobs/` (a directory or a tar of one;
    /// newer `docker save` output is also this).
    OciLayout,
    /// Classic `docker save`: `manifest.json`, `<config>.json`, layer tars.
    DockerSave,
}

/// Where a layer's bytes are and how to check them.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRef {
    /// Position in the manifest (0 = bottom).
    pub index: usize,
    /// Digest of the blob as stored (compressed bytes for compressed layers).
    pub digest: Sha256Digest,
    /// Size of the blob as stored.
    pub size: u64,
    /// Media type as written in the manifest (synthesised for `docker save`).
    pub media_type: String,
    /// Compression, from the media type.
    pub compression: Compression,
    /// The config's `rootfs.diff_ids[index]`: digest of the uncompressed tar.
    pub diff_id: Sha256Digest,
    /// File name inside the input.
    #[serde(skip)]
    pub location: String,
}

impl LayerRef {
    /// "layer N sha256:…" for messages.
    pub fn name(&self) -> String {
        format!("layer {} ({} {})", self.index, self.digest, self.media_type)
    }
}

/// A verified image: pinned manifest, its config, and its layers in order.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Input shape.
    pub format: InputFormat,
    /// The pinned digest as given.
    pub pinned: Sha256Digest,
    /// The index the manifest was chosen from, if the pin named an index.
    pub index_digest: Option<Sha256Digest>,
    /// The image manifest digest (`None` for classic `docker save`, which
    /// has no manifest: the pin is then the config digest, i.e. the image ID).
    pub manifest_digest: Option<Sha256Digest>,
    /// The config blob's digest.
    pub config_digest: Sha256Digest,
    /// The parsed config.
    pub config: ImageConfiguration,
    /// The platform checked.
    pub platform: Platform,
    /// Layers, bottom first.
    pub layers: Vec<LayerRef>,
}

/// Reads a whole (small) blob, verifying size and digest before returning it.
pub(crate) fn read_verified(
    src: &ImageSource,
    what: &str,
    location: &str,
    digest: Sha256Digest,
    size: Option<u64>,
) -> Result<Vec<u8>, OciError> {
    let (reader, len) = src.open_file(location)?.ok_or_else(|| OciError::BlobMissing {
        descriptor: what.to_string(),
        location: location.to_string(),
    })?;
    let size = size.unwrap_or(len);
    if size > MAX_JSON_BLOB {
        return Err(OciError::BlobTooLarge {
            descriptor: what.to_string(),
            size,
            limit: MAX_JSON_BLOB,
        });
    }
    let mut v = VerifyingReader::new(reader, digest, size);
    let mut buf = Vec::with_capacity(size as usize);
    v.read_to_end(&mut buf)
        .map_err(|source| OciError::Io { context: format!("reading {what}"), source })?;
    let verdict =
        v.finish().map_err(|source| OciError::Io { context: format!("reading {what}"), source })?;
    blob_verdict(what, digest, size, verdict)?;
    Ok(buf)
}

/// Turns a [`BlobFault`] into the error naming the descriptor.
pub(crate) fn blob_verdict(
    what: &str,
    expected: Sha256Digest,
    size: u64,
    verdict: Result<(), BlobFault>,
) -> Result<(), OciError> {
    match verdict {
        Ok(()) => Ok(()),
        Err(BlobFault::TooLong) => Err(OciError::BlobSizeMismatch {
            descriptor: what.to_string(),
            expected: size,
            actual: "more".into(),
        }),
        Err(BlobFault::TooShort(n)) => Err(OciError::BlobSizeMismatch {
            descriptor: what.to_string(),
            expected: size,
            actual: n.to_string(),
        }),
        Err(BlobFault::Digest(actual)) => {
            Err(OciError::BlobDigestMismatch { descriptor: what.to_string(), expected, actual })
        }
    }
}

fn blob_path(d: &Sha256Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn desc_digest(what: &str, d: &Descriptor) -> Result<Sha256Digest, OciError> {
    d.digest().to_string().parse().map_err(|_| OciError::UnsupportedDigest {
        descriptor: what.to_string(),
        digest: d.digest().to_string(),
    })
}

/// The fields that tell an index from a manifest before full parsing.
#[derive(serde::Deserialize)]
struct Peek {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    layers: Option<serde_json::Value>,
}

/// Resolves `pinned` (a manifest or index digest; for classic `docker save`
/// archives the config digest) for `platform`, verifying every document.
pub fn resolve(
    src: &ImageSource,
    pinned: Sha256Digest,
    platform: &Platform,
) -> Result<ResolvedImage, OciError> {
    if src.exists("oci-layout") {
        return resolve_oci(src, pinned, platform);
    }
    if src.exists("manifest.json") {
        return resolve_docker(src, pinned, platform);
    }
    Err(OciError::NotAnImage { input: src.describe() })
}

fn resolve_oci(
    src: &ImageSource,
    pinned: Sha256Digest,
    platform: &Platform,
) -> Result<ResolvedImage, OciError> {
    // oci-layout must say 1.0.0; index.json is read only to learn the size
    // and media type of the pinned blob if listed there.
    let layout = read_unverified_json(src, "oci-layout")?;
    let version = layout.get("imageLayoutVersion").and_then(|v| v.as_str()).unwrap_or("");
    if version != "1.0.0" {
        return Err(OciError::NotAnImage {
            input: format!("{} (imageLayoutVersion {version:?})", src.describe()),
        });
    }
    let mut size_hint = None;
    if let Ok(top) = read_unverified_json(src, "index.json") {
        if let Some(list) = top.get("manifests").and_then(|m| m.as_array()) {
            for d in list {
                if d.get("digest").and_then(|v| v.as_str()) == Some(&pinned.to_string()) {
                    size_hint = d.get("size").and_then(|v| v.as_u64());
                }
            }
        }
    }
    let mut what = format!("pinned {pinned}");
    let mut digest = pinned;
    let mut size = size_hint;
    let mut index_digest = None;
    for _ in 0..MAX_INDEX_DEPTH {
        if !src.exists(&blob_path(&digest)) {
            return Err(OciError::BlobMissing { descriptor: what, location: blob_path(&digest) });
        }
        let bytes = read_verified(src, &what, &blob_path(&digest), digest, size)?;
        let peek: Peek = serde_json::from_slice(&bytes)
            .map_err(|source| OciError::BadJson { descriptor: what.clone(), source })?;
        let mt = peek.media_type.as_deref();
        let is_index = matches!(mt, Some(media::OCI_INDEX | media::DOCKER_LIST))
            || (mt.is_none() && peek.manifests.is_some());
        let is_manifest = matches!(mt, Some(media::OCI_MANIFEST | media::DOCKER_MANIFEST))
            || (mt.is_none() && peek.layers.is_some());
        if is_index {
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|source| OciError::BadJson { descriptor: what.clone(), source })?;
            let mut found = Vec::new();
            let mut available = Vec::new();
            for d in index.manifests() {
                let Some(p) = d.platform() else { continue };
                let label = format!("{}/{}", p.os(), p.architecture());
                if p.os().to_string() == platform.os
                    && p.architecture().to_string() == platform.architecture
                {
                    found.push(d.clone());
                }
                available.push(label);
            }
            let chosen = match found.len() {
                1 => found.remove(0),
                0 => {
                    return Err(OciError::PlatformNotFound {
                        index: what,
                        wanted: platform.to_string(),
                        available: available.join(", "),
                    })
                }
                n => {
                    return Err(OciError::AmbiguousPlatform {
                        index: what,
                        wanted: platform.to_string(),
                        count: n,
                    })
                }
            };
            index_digest.get_or_insert(digest);
            let d = desc_digest(&what, &chosen)?;
            what = format!("manifest {d} for {platform} (from index {digest})");
            let cmt = chosen.media_type().to_string();
            if cmt != media::OCI_MANIFEST
                && cmt != media::DOCKER_MANIFEST
                && cmt != media::OCI_INDEX
                && cmt != media::DOCKER_LIST
            {
                return Err(OciError::UnknownMediaType { descriptor: what, media_type: cmt });
            }
            digest = d;
            size = Some(chosen.size());
            continue;
        }
        if !is_manifest {
            return Err(OciError::UnknownMediaType {
                descriptor: what,
                media_type: mt.unwrap_or("(none)").to_string(),
            });
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|source| OciError::BadJson { descriptor: what.clone(), source })?;
        return finish_manifest(src, pinned, index_digest, digest, &manifest, platform);
    }
    Err(OciError::NestingTooDeep { descriptor: what })
}

fn finish_manifest(
    src: &ImageSource,
    pinned: Sha256Digest,
    index_digest: Option<Sha256Digest>,
    manifest_digest: Sha256Digest,
    manifest: &ImageManifest,
    platform: &Platform,
) -> Result<ResolvedImage, OciError> {
    let cdesc = manifest.config();
    let config_digest = desc_digest("config", cdesc)?;
    let what = format!("config {config_digest} of manifest {manifest_digest}");
    let cmt = cdesc.media_type().to_string();
    if cmt != media::OCI_CONFIG && cmt != media::DOCKER_CONFIG {
        return Err(OciError::UnknownMediaType { descriptor: what, media_type: cmt });
    }
    let cbytes =
        read_verified(src, &what, &blob_path(&config_digest), config_digest, Some(cdesc.size()))?;
    let config = parse_config(&what, &cbytes)?;
    check_platform(&format!("manifest {manifest_digest}"), &config, platform)?;
    let diff_ids = diff_ids(&what, &config)?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(OciError::LayerCountMismatch {
            manifest: manifest.layers().len(),
            diff_ids: diff_ids.len(),
        });
    }
    let mut layers = Vec::new();
    for (i, (d, diff_id)) in manifest.layers().iter().zip(diff_ids).enumerate() {
        let digest = desc_digest(&format!("layer {i}"), d)?;
        let media_type = d.media_type().to_string();
        let compression =
            layer_compression(&media_type).ok_or_else(|| OciError::UnknownMediaType {
                descriptor: format!("layer {i} ({digest}) of manifest {manifest_digest}"),
                media_type: media_type.clone(),
            })?;
        layers.push(LayerRef {
            index: i,
            digest,
            size: d.size(),
            media_type,
            compression,
            diff_id,
            location: blob_path(&digest),
        });
    }
    Ok(ResolvedImage {
        format: InputFormat::OciLayout,
        pinned,
        index_digest,
        manifest_digest: Some(manifest_digest),
        config_digest,
        config,
        platform: platform.clone(),
        layers,
    })
}

fn parse_config(what: &str, bytes: &[u8]) -> Result<ImageConfiguration, OciError> {
    serde_json::from_slice(bytes)
        .map_err(|source| OciError::BadJson { descriptor: what.to_string(), source })
}

fn diff_ids(what: &str, config: &ImageConfiguration) -> Result<Vec<Sha256Digest>, OciError> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|s| {
            s.parse().map_err(|_| OciError::UnsupportedDigest {
                descriptor: format!("{what}: rootfs.diff_ids"),
                digest: s.chars().take(100).collect(),
            })
        })
        .collect()
}

fn check_platform(
    what: &str,
    config: &ImageConfiguration,
    platform: &Platform,
) -> Result<(), OciError> {
    let os = config.os().to_string();
    let arch = config.architecture().to_string();
    if os != platform.os || arch != platform.architecture {
        return Err(OciError::WrongPlatform {
            descriptor: what.to_string(),
            wanted: platform.to_string(),
            found: format!("{os}/{arch}"),
        });
    }
    Ok(())
}

fn read_unverified_json(src: &ImageSource, name: &str) -> Result<serde_json::Value, OciError> {
    let (r, len) = src.open_file(name)?.ok_or_else(|| OciError::BlobMissing {
        descriptor: name.to_string(),
        location: name.to_string(),
    })?;
    if len > MAX_JSON_BLOB {
        return Err(OciError::BlobTooLarge {
            descriptor: name.to_string(),
            size: len,
            limit: MAX_JSON_BLOB,
        });
    }
    let mut buf = Vec::new();
    r.take(MAX_JSON_BLOB)
        .read_to_end(&mut buf)
        .map_err(|source| OciError::Io { context: format!("reading {name}"), source })?;
    serde_json::from_slice(&buf)
        .map_err(|source| OciError::BadJson { descriptor: name.to_string(), source })
}

/// One entry of a classic `docker save` `manifest.json`.
#[derive(serde::Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn resolve_docker(
    src: &ImageSource,
    pinned: Sha256Digest,
    platform: &Platform,
) -> Result<ResolvedImage, OciError> {
    let list = read_unverified_json(src, "manifest.json")?;
    let entries: Vec<DockerEntry> = serde_json::from_value(list)
        .map_err(|source| OciError::BadJson { descriptor: "manifest.json".into(), source })?;
    // The pin is the image ID = config digest; the config file is named
    // after it ("<hex>.json" or "blobs/sha256/<hex>").
    let hex = pinned.hex();
    let entry = entries
        .iter()
        .find(|e| {
            let base = e.config.rsplit('/').next().unwrap_or("");
            base == format!("{hex}.json") || base == hex
        })
        .ok_or_else(|| OciError::DigestNotFound { digest: pinned, input: src.describe() })?;
    let what = format!("config {pinned} (docker save image ID)");
    let cbytes = read_verified(src, &what, &entry.config, pinned, None)?;
    let config = parse_config(&what, &cbytes)?;
    check_platform(&what, &config, platform)?;
    let diff_ids = diff_ids(&what, &config)?;
    if diff_ids.len() != entry.layers.len() {
        return Err(OciError::LayerCountMismatch {
            manifest: entry.layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    let mut layers = Vec::new();
    for (i, (loc, diff_id)) in entry.layers.iter().zip(diff_ids).enumerate() {
        let what = format!("layer {i} ({diff_id}) at {loc}");
        let (_, size) = src.open_file(loc)?.ok_or_else(|| OciError::BlobMissing {
            descriptor: what.clone(),
            location: loc.clone(),
        })?;
        // docker save stores layers uncompressed, so the blob digest is the
        // diff_id and verifying one verifies the other.
        layers.push(LayerRef {
            index: i,
            digest: diff_id,
            size,
            media_type: "application/vnd.docker.image.rootfs.diff.tar".into(),
            compression: Compression::None,
            diff_id,
            location: loc.clone(),
        });
    }
    Ok(ResolvedImage {
        format: InputFormat::DockerSave,
        pinned,
        index_digest: None,
        manifest_digest: None,
        config_digest: pinned,
        config,
        platform: platform.clone(),
        layers,
    })
}
