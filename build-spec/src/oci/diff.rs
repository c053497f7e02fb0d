//! Comparing two `oci-provenance.json` records: which files changed between
//! two ramdisks, and which layer introduced each side of the change.
//!
//! This is what turns "PCR2 differs" into "`rootfs/etc/ssl/certs/…` came
//! from layer 3 `sha256:…` in the old image and layer 4 `sha256:…` in the new".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{OciError, Sha256Digest, PROVENANCE_SCHEMA};

/// Largest provenance file read.
pub const MAX_PROVENANCE_BYTES: u64 = 512 * 1024 * 1024;

/// One file record of a provenance file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FileRecord {
    /// Path in the ramdisk (`rootfs/...`).
    pub path: String,
    /// `file`, `dir` or `symlink`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Octal permission bits.
    pub mode: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Layer index (absent for entries this tool adds).
    #[serde(default)]
    pub layer: Option<u32>,
    /// That layer's digest.
    #[serde(default)]
    pub layer_digest: Option<Sha256Digest>,
    /// File size.
    #[serde(default)]
    pub size: Option<u64>,
    /// File content SHA-256 (hex).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Symlink target.
    #[serde(default)]
    pub target: Option<String>,
    /// Hard link origin.
    #[serde(default)]
    pub hardlink_of: Option<String>,
}

/// A layer as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct LayerRecord {
    /// Position.
    pub index: usize,
    /// Blob digest.
    pub digest: Sha256Digest,
    /// Uncompressed digest.
    pub diff_id: Sha256Digest,
}

/// The parts of a provenance file the diff needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Provenance {
    /// Must be [`PROVENANCE_SCHEMA`].
    pub schema: String,
    /// Manifest digest (absent for classic docker save).
    pub manifest_digest: Option<Sha256Digest>,
    /// Config digest.
    pub config_digest: Sha256Digest,
    /// Layers.
    pub layers: Vec<LayerRecord>,
    /// Every entry of `rootfs/`.
    pub files: Vec<FileRecord>,
}

impl Provenance {
    /// Parses and checks the schema tag.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, OciError> {
        let p: Provenance = serde_json::from_slice(bytes)
            .map_err(|source| OciError::BadJson { descriptor: "provenance file".into(), source })?;
        if p.schema != PROVENANCE_SCHEMA {
            return Err(OciError::BadProvenance {
                reason: format!("schema {:?}, expected {PROVENANCE_SCHEMA:?}", p.schema),
            });
        }
        Ok(p)
    }
}

/// How a path differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the new ramdisk.
    Added,
    /// Only in the old ramdisk.
    Removed,
    /// In both, with different type, content, mode, owner or target.
    Modified,
}

/// One changed path with the layer responsible on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Path.
    pub path: String,
    /// Kind of change.
    pub change: Change,
    /// What differs (`content`, `mode`, `owner`, `type`, `target`).
    pub fields: Vec<&'static str>,
    /// Layer (index, digest) that introduced the old version.
    pub old_layer: Option<(u32, Sha256Digest)>,
    /// Layer (index, digest) that introduced the new version.
    pub new_layer: Option<(u32, Sha256Digest)>,
}

/// The comparison of two provenance records.
#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceDiff {
    /// Manifest digests (old, new).
    pub manifest: (Option<Sha256Digest>, Option<Sha256Digest>),
    /// Config digests (old, new).
    pub config: (Sha256Digest, Sha256Digest),
    /// Layer digests only in the old image.
    pub layers_removed: Vec<Sha256Digest>,
    /// Layer digests only in the new image.
    pub layers_added: Vec<Sha256Digest>,
    /// Changed paths in byte order.
    pub files: Vec<FileChange>,
}

impl ProvenanceDiff {
    /// True when the two root filesystems are identical entry for entry.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

fn layer_of(f: &FileRecord) -> Option<(u32, Sha256Digest)> {
    Some((f.layer?, f.layer_digest?))
}

/// Compares `old` and `new`.
pub fn diff(old: &Provenance, new: &Provenance) -> ProvenanceDiff {
    let a: BTreeMap<&str, &FileRecord> = old.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let b: BTreeMap<&str, &FileRecord> = new.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut files = Vec::new();
    for (p, fa) in &a {
        match b.get(p) {
            None => files.push(FileChange {
                path: p.to_string(),
                change: Change::Removed,
                fields: vec![],
                old_layer: layer_of(fa),
                new_layer: None,
            }),
            Some(fb) => {
                let mut fields = Vec::new();
                if fa.kind != fb.kind {
                    fields.push("type");
                }
                if fa.sha256 != fb.sha256 || fa.size != fb.size {
                    fields.push("content");
                }
                if fa.mode != fb.mode {
                    fields.push("mode");
                }
                if (fa.uid, fa.gid) != (fb.uid, fb.gid) {
                    fields.push("owner");
                }
                if fa.target != fb.target {
                    fields.push("target");
                }
                if !fields.is_empty() {
                    files.push(FileChange {
                        path: p.to_string(),
                        change: Change::Modified,
                        fields,
                        old_layer: layer_of(fa),
                        new_layer: layer_of(fb),
                    });
                }
            }
        }
    }
    for (p, fb) in &b {
        if !a.contains_key(p) {
            files.push(FileChange {
                path: p.to_string(),
                change: Change::Added,
                fields: vec![],
                old_layer: None,
                new_layer: layer_of(fb),
            });
        }
    }
    files.sort_by(|x, y| x.path.cmp(&y.path));
    let la: Vec<Sha256Digest> = old.layers.iter().map(|l| l.digest).collect();
    let lb: Vec<Sha256Digest> = new.layers.iter().map(|l| l.digest).collect();
    ProvenanceDiff {
        manifest: (old.manifest_digest, new.manifest_digest),
        config: (old.config_digest, new.config_digest),
        layers_removed: la.iter().filter(|d| !lb.contains(d)).copied().collect(),
        layers_added: lb.iter().filter(|d| !la.contains(d)).copied().collect(),
        files,
    }
}

/// A changed ramdisk path from [`crate::diff::CpioDiff`] with the layers
/// responsible, looked up in the two builds' provenance records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributedEntry {
    /// Path in the ramdisk.
    pub path: String,
    /// Kind of change.
    pub change: Change,
    /// Layer (index, digest) of the old version, if it came from a layer.
    pub old_layer: Option<(u32, Sha256Digest)>,
    /// Layer (index, digest) of the new version, if it came from a layer.
    pub new_layer: Option<(u32, Sha256Digest)>,
}

/// Names the layer behind every entry of an EIF/cpio diff (the eif
/// helper's `proofpack diff`): `old`/`new` are the provenance records
/// written next to the two ramdisks. Paths not in a record (`cmd`, `env`,
/// entries added by this tool) get `None`.
pub fn attribute_cpio_diff(
    d: &crate::diff::CpioDiff,
    old: &Provenance,
    new: &Provenance,
) -> Vec<AttributedEntry> {
    let a: BTreeMap<&str, &FileRecord> = old.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let b: BTreeMap<&str, &FileRecord> = new.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let look = |m: &BTreeMap<&str, &FileRecord>, p: &str| m.get(p).and_then(|f| layer_of(f));
    let mut out = Vec::new();
    for e in &d.added {
        out.push(AttributedEntry {
            path: e.path.clone(),
            change: Change::Added,
            old_layer: None,
            new_layer: look(&b, &e.path),
        });
    }
    for e in &d.removed {
        out.push(AttributedEntry {
            path: e.path.clone(),
            change: Change::Removed,
            old_layer: look(&a, &e.path),
            new_layer: None,
        });
    }
    for c in &d.changed {
        out.push(AttributedEntry {
            path: c.path.clone(),
            change: Change::Modified,
            old_layer: look(&a, &c.path),
            new_layer: look(&b, &c.path),
        });
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    out
}
