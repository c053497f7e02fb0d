//! "My PCR0 changed and I don't know why": compare two EIFs.
//!
//! Sections are paired by role (kernel, cmdline, metadata, signature,
//! ramdisk *i*), compared by size and SHA-256, and each change is tied to the
//! PCRs it moves (docs/formats/eif-and-pcrs.md §4.2: kernel/cmdline/ramdisk 0 -> PCR0+PCR1, later
//! ramdisks -> PCR0+PCR2, signature -> PCR8, metadata -> no PCR, only the
//! file hash and CRC). Changed ramdisks are opened as cpio (plain or gzip)
//! and compared entry by entry. The result is plain data; rendering is the
//! CLI's job.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::cpio::{self, Entry, EntryKind};
use crate::eif::{read_eif_file, EifError, EifSummary, ReadOptions, SectionInfo, SectionType};

/// Errors comparing images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// One image could not be read.
    #[error("image {which}: {source}")]
    Eif {
        /// "A" or "B".
        which: &'static str,
        /// Cause.
        source: EifError,
    },
}

/// A value that differs between A and B.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    /// Field name.
    pub field: String,
    /// Value in A (`None` = absent).
    pub a: Option<String>,
    /// Value in B.
    pub b: Option<String>,
}

impl FieldChange {
    fn new(field: impl Into<String>, a: Option<String>, b: Option<String>) -> Self {
        Self { field: field.into(), a, b }
    }
}

/// One PCR compared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PcrChange {
    /// PCR index.
    pub index: u8,
    /// Hex in A.
    pub a: Option<String>,
    /// Hex in B.
    pub b: Option<String>,
    /// Roles of the changed sections that explain the change.
    pub because: Vec<String>,
}

/// How one section differs between A and B (serialised as the section's
/// `status`). Not a check status: named apart from [`checks::Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionState {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// In both, bytes differ.
    Changed,
    /// In both, identical bytes.
    Same,
}

/// One section role compared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SectionChange {
    /// `kernel`, `cmdline`, `metadata`, `signature`, `ramdisk[i]`.
    pub role: String,
    /// Added, removed, changed or the same.
    pub status: SectionState,
    /// Size in A.
    pub a_size: Option<u64>,
    /// Size in B.
    pub b_size: Option<u64>,
    /// SHA-256 in A.
    pub a_sha256: Option<String>,
    /// SHA-256 in B.
    pub b_sha256: Option<String>,
    /// PCRs this section feeds.
    pub pcrs: Vec<u8>,
    /// Content-level detail for changed sections.
    pub detail: Option<Detail>,
}

/// What changed inside a section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Detail {
    /// Command lines (text, lossy).
    Cmdline {
        /// A's.
        a: String,
        /// B's.
        b: String,
    },
    /// Metadata fields that differ (top-level and BuildMetadata keys).
    Metadata {
        /// Changes.
        fields: Vec<FieldChange>,
    },
    /// Signing certificates.
    Signature {
        /// Changes (subject, PCR8, validity...).
        fields: Vec<FieldChange>,
    },
    /// cpio ramdisks compared entry by entry.
    Cpio(CpioDiff),
    /// A changed ramdisk that is not a readable cpio archive.
    Opaque {
        /// Why it could not be listed.
        reason: String,
    },
}

/// Entry-level comparison of two cpio archives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Default)]
pub struct CpioDiff {
    /// Only in B.
    pub added: Vec<Entry>,
    /// Only in A.
    pub removed: Vec<Entry>,
    /// In both with different attributes or content.
    pub changed: Vec<EntryChange>,
    /// Entries in both, same attributes, but stored in a different order.
    pub reordered: bool,
    /// Entries are identical but the archive bytes differ (padding,
    /// compression, framing).
    pub framing_only: bool,
}

/// One changed entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntryChange {
    /// Path.
    pub path: String,
    /// Attribute changes: size, mode, mtime, uid, gid, kind, ino, nlink,
    /// sha256.
    pub fields: Vec<FieldChange>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EifDiff {
    /// Every section byte and header byte equal.
    pub identical: bool,
    /// PCR0/1/2/8 that differ, with reasons.
    pub pcrs: Vec<PcrChange>,
    /// Header fields that differ (version, arch, CRC, section count...).
    pub header: Vec<FieldChange>,
    /// Every section role, same or not.
    pub sections: Vec<SectionChange>,
}

impl EifDiff {
    /// True if any PCR differs.
    pub fn pcrs_differ(&self) -> bool {
        !self.pcrs.is_empty()
    }
}

/// Compares two EIF files.
pub fn diff_files(a: &Path, b: &Path) -> Result<EifDiff, DiffError> {
    let opts = ReadOptions::inspect();
    let sa = read_eif_file(a, &opts).map_err(|source| DiffError::Eif { which: "A", source })?;
    let sb = read_eif_file(b, &opts).map_err(|source| DiffError::Eif { which: "B", source })?;
    Ok(diff_summaries(&sa, Some(a), &sb, Some(b)))
}

fn role_map(s: &EifSummary) -> Vec<(String, &SectionInfo)> {
    let mut ramdisk = 0;
    s.sections
        .iter()
        .map(|sec| {
            let role = if sec.kind == SectionType::Ramdisk {
                ramdisk += 1;
                format!("ramdisk[{}]", ramdisk - 1)
            } else {
                sec.kind.name().to_owned()
            };
            (role, sec)
        })
        .collect()
}

fn pcrs_of(role: &str) -> Vec<u8> {
    match role {
        "kernel" | "cmdline" | "ramdisk[0]" => vec![0, 1],
        "signature" => vec![8],
        "metadata" => vec![],
        _ => vec![0, 2],
    }
}

/// Compares two already-read images. Paths, when given, let ramdisks be
/// opened for entry-level detail (the summaries must come from
/// `ReadOptions::inspect()` or otherwise carry section digests).
pub fn diff_summaries(
    sa: &EifSummary,
    pa: Option<&Path>,
    sb: &EifSummary,
    pb: Option<&Path>,
) -> EifDiff {
    let ra = role_map(sa);
    let rb = role_map(sb);
    let mut roles: Vec<String> = ra.iter().map(|(r, _)| r.clone()).collect();
    for (r, _) in &rb {
        if !roles.contains(r) {
            roles.push(r.clone());
        }
    }
    let hexs = |d: Option<[u8; 32]>| d.map(hex::encode);
    let mut sections = Vec::new();
    for role in roles {
        let a = ra.iter().find(|(r, _)| *r == role).map(|(_, s)| *s);
        let b = rb.iter().find(|(r, _)| *r == role).map(|(_, s)| *s);
        let status = match (a, b) {
            (Some(x), Some(y))
                if x.size == y.size && x.sha256 == y.sha256 && x.sha256.is_some() =>
            {
                SectionState::Same
            }
            (Some(_), Some(_)) => SectionState::Changed,
            (Some(_), None) => SectionState::Removed,
            (None, _) => SectionState::Added,
        };
        let detail = if status == SectionState::Changed {
            section_detail(sa, pa, a, sb, pb, b)
        } else {
            None
        };
        sections.push(SectionChange {
            pcrs: pcrs_of(&role),
            role,
            status,
            a_size: a.map(|s| s.size),
            b_size: b.map(|s| s.size),
            a_sha256: a.and_then(|s| hexs(s.sha256)),
            b_sha256: b.and_then(|s| hexs(s.sha256)),
            detail,
        });
    }

    let ma = sa.measurements();
    let mb = sb.measurements();
    let mut pcrs = Vec::new();
    for index in [0u8, 1, 2, 8] {
        let (x, y) = (ma.get(index), mb.get(index));
        if x != y {
            let because = sections
                .iter()
                .filter(|s| s.status != SectionState::Same && s.pcrs.contains(&index))
                .map(|s| s.role.clone())
                .collect();
            pcrs.push(PcrChange { index, a: x.map(hex::encode), b: y.map(hex::encode), because });
        }
    }

    let mut header = Vec::new();
    let mut field = |name: &str, x: String, y: String| {
        if x != y {
            header.push(FieldChange::new(name, Some(x), Some(y)));
        }
    };
    field("version", sa.header.version.to_string(), sb.header.version.to_string());
    field("arch", sa.arch().name().into(), sb.arch().name().into());
    field("flags", format!("{:#06x}", sa.header.flags), format!("{:#06x}", sb.header.flags));
    field("default_mem", sa.header.default_mem.to_string(), sb.header.default_mem.to_string());
    field("default_cpus", sa.header.default_cpus.to_string(), sb.header.default_cpus.to_string());
    field("num_sections", sa.header.num_sections.to_string(), sb.header.num_sections.to_string());
    field(
        "eif_crc32",
        format!("{:08x}", sa.header.eif_crc32),
        format!("{:08x}", sb.header.eif_crc32),
    );
    field("file_len", sa.file_len.to_string(), sb.file_len.to_string());
    field("crc_ok", sa.crc_ok().to_string(), sb.crc_ok().to_string());
    let identical = header.is_empty()
        && sa.header == sb.header
        && sections.iter().all(|s| s.status == SectionState::Same);
    EifDiff { identical, pcrs, header, sections }
}

fn section_detail(
    sa: &EifSummary,
    pa: Option<&Path>,
    a: Option<&SectionInfo>,
    sb: &EifSummary,
    pb: Option<&Path>,
    b: Option<&SectionInfo>,
) -> Option<Detail> {
    let (a, b) = (a?, b?);
    match a.kind {
        SectionType::Cmdline => {
            let read = |p: Option<&Path>, s: &SectionInfo| -> Option<String> {
                // Cmdlines are small; cap what is shown at 64 KiB.
                let bytes = read_range(p?, s.data_offset, s.size.min(64 * 1024)).ok()?;
                Some(String::from_utf8_lossy(&bytes).into_owned())
            };
            Some(Detail::Cmdline { a: read(pa, a)?, b: read(pb, b)? })
        }
        SectionType::Metadata => {
            let va = json_fields(sa.metadata_raw.as_deref());
            let vb = json_fields(sb.metadata_raw.as_deref());
            Some(Detail::Metadata { fields: map_diff(&va, &vb) })
        }
        SectionType::Signature => {
            let fa = sig_fields(sa);
            let fb = sig_fields(sb);
            Some(Detail::Signature { fields: map_diff(&fa, &fb) })
        }
        SectionType::Ramdisk => Some(ramdisk_detail(pa?, a, pb?, b)),
        SectionType::Kernel => None,
    }
}

fn read_range(p: &Path, off: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(p)?;
    f.seek(SeekFrom::Start(off))?;
    let mut v = Vec::new();
    f.take(len).read_to_end(&mut v)?;
    Ok(v)
}

/// Lists the entries of one ramdisk section of an image file (plain or
/// gzip cpio).
pub fn ramdisk_entries(p: &Path, s: &SectionInfo) -> Result<Vec<Entry>, String> {
    let mut f = File::open(p).map_err(|e| e.to_string())?;
    f.seek(SeekFrom::Start(s.data_offset)).map_err(|e| e.to_string())?;
    cpio::read_entries(f.take(s.size)).map_err(|e| e.to_string())
}

fn ramdisk_detail(pa: &Path, a: &SectionInfo, pb: &Path, b: &SectionInfo) -> Detail {
    let (ea, eb) = match (ramdisk_entries(pa, a), ramdisk_entries(pb, b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) => return Detail::Opaque { reason: format!("A: {e}") },
        (_, Err(e)) => return Detail::Opaque { reason: format!("B: {e}") },
    };
    Detail::Cpio(cpio_diff(&ea, &eb))
}

/// Entry-level comparison.
pub fn cpio_diff(ea: &[Entry], eb: &[Entry]) -> CpioDiff {
    let ma: BTreeMap<&str, &Entry> = ea.iter().map(|e| (e.path.as_str(), e)).collect();
    let mb: BTreeMap<&str, &Entry> = eb.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut d = CpioDiff::default();
    for (p, e) in &ma {
        match mb.get(p) {
            None => d.removed.push((*e).clone()),
            Some(f) => {
                let fields = entry_fields(e, f);
                if !fields.is_empty() {
                    d.changed.push(EntryChange { path: (*p).to_owned(), fields });
                }
            }
        }
    }
    for (p, e) in &mb {
        if !ma.contains_key(p) {
            d.added.push((*e).clone());
        }
    }
    let order_a: Vec<&str> =
        ea.iter().map(|e| e.path.as_str()).filter(|p| mb.contains_key(p)).collect();
    let order_b: Vec<&str> =
        eb.iter().map(|e| e.path.as_str()).filter(|p| ma.contains_key(p)).collect();
    d.reordered = order_a != order_b;
    d.framing_only =
        d.added.is_empty() && d.removed.is_empty() && d.changed.is_empty() && !d.reordered;
    d
}

fn kind_text(k: &EntryKind) -> String {
    match k {
        EntryKind::File { .. } => "file".into(),
        EntryKind::Dir => "dir".into(),
        EntryKind::Symlink { target } => format!("symlink -> {target}"),
        EntryKind::Special { file_type, rdev_major, rdev_minor } => {
            format!("{} {rdev_major}:{rdev_minor}", cpio::special_name(*file_type))
        }
    }
}

fn entry_fields(a: &Entry, b: &Entry) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut f = |name: &str, x: String, y: String| {
        if x != y {
            out.push(FieldChange::new(name, Some(x), Some(y)));
        }
    };
    f("kind", kind_text(&a.kind), kind_text(&b.kind));
    f("size", a.size.to_string(), b.size.to_string());
    f("mode", format!("{:04o}", a.mode), format!("{:04o}", b.mode));
    f("mtime", a.mtime.to_string(), b.mtime.to_string());
    f("uid", a.uid.to_string(), b.uid.to_string());
    f("gid", a.gid.to_string(), b.gid.to_string());
    f("sha256", hex::encode(a.sha256), hex::encode(b.sha256));
    f("ino", a.ino.to_string(), b.ino.to_string());
    f("nlink", a.nlink.to_string(), b.nlink.to_string());
    out
}

/// Flattens metadata JSON to `key` / `BuildMetadata.key` -> compact value.
fn json_fields(raw: Option<&[u8]>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(raw) = raw else { return out };
    let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(raw) else {
        out.insert("(raw)".into(), String::from_utf8_lossy(raw).into_owned());
        return out;
    };
    for (k, v) in m {
        match v {
            serde_json::Value::Object(inner) if k == "BuildMetadata" => {
                for (k2, v2) in inner {
                    out.insert(format!("{k}.{k2}"), v2.to_string());
                }
            }
            other => {
                out.insert(k, other.to_string());
            }
        }
    }
    out
}

fn sig_fields(s: &EifSummary) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(c) = &s.signature_check {
        out.insert("subject".into(), c.certificate.subject.clone());
        out.insert("issuer".into(), c.certificate.issuer.clone());
        out.insert("serial".into(), c.certificate.serial.clone());
        out.insert("not_after".into(), c.certificate.not_after.clone());
        out.insert("pcr8".into(), hex::encode(c.pcr8));
        out.insert("valid".into(), c.ok().to_string());
    }
    out
}

fn map_diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| FieldChange::new(k.clone(), a.get(k).cloned(), b.get(k).cloned()))
        .collect()
}
