//! Pass 2: the final tree, in canonical order, into a ramdisk writer; plus
//! `/cmd`, `/env`, the mount points init expects, and the provenance record.

use std::io::Read;

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use super::resolve::{InputFormat, LayerRef, Platform, ResolvedImage};
use super::source::ImageSource;
use super::tree::{DroppedReport, NodeKind, Tree, SYNTHETIC};
use super::{digest::Sha256Digest, OciError};

/// Directories init mounts over or expects (docs/formats/eif-and-pcrs.md §6.2), created
/// under `rootfs/` as 0755 root:root unless the image has them as
/// directories already (then the image's metadata is kept).
pub const MOUNT_POINTS: [&str; 6] = ["dev", "proc", "run", "sys", "tmp", "var"];

/// The type of a ramdisk entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamdiskKind<'a> {
    /// Regular file of `size` bytes (data follows).
    File {
        /// Length.
        size: u64,
    },
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink {
        /// Target.
        target: &'a str,
    },
}

/// One entry handed to a [`RamdiskSink`], in strictly increasing path order.
#[derive(Debug, Clone, Copy)]
pub struct RamdiskEntry<'a> {
    /// Relative path (`cmd`, `env`, `rootfs`, `rootfs/...`).
    pub path: &'a str,
    /// Type.
    pub kind: RamdiskKind<'a>,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// Where converted entries go: the deterministic newc writer in production
/// (`NewcSink`), a collecting sink in tests.
pub trait RamdiskSink {
    /// Appends one entry; `data` yields exactly `size` bytes for files and
    /// nothing otherwise.
    fn append(&mut self, entry: &RamdiskEntry<'_>, data: &mut dyn Read) -> Result<(), OciError>;
}

/// nitro-cli's `/cmd`: CMD if the image has one, else ENTRYPOINT; one
/// element per line, each `\n`-terminated.
///
/// Differences from nitro-cli, by design: an element containing `\n` (which
/// init would split into two arguments) is an error instead of a silently
/// different argv, and an empty CMD list counts as absent.
pub fn cmd_file(config: &oci_spec::image::ImageConfiguration) -> Result<Vec<u8>, OciError> {
    let c = config.config().as_ref();
    let cmd = c.and_then(|c| c.cmd().as_ref()).filter(|v| !v.is_empty());
    let ep = c.and_then(|c| c.entrypoint().as_ref()).filter(|v| !v.is_empty());
    let argv = cmd.or(ep).ok_or(OciError::NoCommand)?;
    lines(argv, |reason| OciError::BadCommand { reason })
}

/// nitro-cli's `/env`: the config's `Env`, one `NAME=value` per line.
pub fn env_file(config: &oci_spec::image::ImageConfiguration) -> Result<Vec<u8>, OciError> {
    let env = config.config().as_ref().and_then(|c| c.env().as_ref());
    match env {
        Some(list) => {
            for e in list {
                if !e.contains('=') {
                    return Err(OciError::BadEnv { reason: format!("entry {e:?} has no '='") });
                }
            }
            lines(list, |reason| OciError::BadEnv { reason })
        }
        None => Ok(Vec::new()),
    }
}

fn lines(items: &[String], err: impl Fn(String) -> OciError) -> Result<Vec<u8>, OciError> {
    let mut out = Vec::new();
    for s in items {
        if s.contains('\n') || s.contains('\0') {
            return Err(err(format!(
                "element {s:?} contains a newline or NUL; init reads one element per line"
            )));
        }
        out.extend_from_slice(s.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

/// Summary of a conversion; holds the final index for the provenance file.
#[derive(Debug)]
pub struct Conversion {
    /// The image that was converted.
    pub image: ResolvedImage,
    /// Entries written (excluding the trailer).
    pub entries: u64,
    /// Regular file bytes written.
    pub file_bytes: u64,
    /// Bytes spooled in pass 1 (uncompressed regular files of all layers).
    pub spooled_bytes: u64,
    tree: Tree,
}

impl Conversion {
    /// What the ramdisk could not carry.
    pub fn dropped(&self) -> &DroppedReport {
        &self.tree.dropped
    }

    /// The provenance record: digests of manifest, config and layers, and
    /// for every file of `rootfs/` the layer that introduced it and its
    /// content digest. Written next to the ramdisk as `oci-provenance.json`;
    /// `proofpack oci diff` compares two of them.
    pub fn provenance(&self) -> ProvenanceView<'_> {
        ProvenanceView { conv: self }
    }
}

/// Borrowing serialiser of the provenance record (streams the file list).
pub struct ProvenanceView<'a> {
    conv: &'a Conversion,
}

/// Schema identifier written in `oci-provenance.json`.
pub const PROVENANCE_SCHEMA: &str = "proofpack/oci-provenance/v1";

#[derive(Serialize)]
struct FileRec<'a> {
    path: String,
    #[serde(rename = "type")]
    kind: &'static str,
    mode: String,
    uid: u32,
    gid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    layer: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layer_digest: Option<Sha256Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hardlink_of: Option<String>,
}

struct Files<'a>(&'a Conversion);

impl Serialize for Files<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let layers = &self.0.image.layers;
        s.collect_seq(self.0.tree.entries().map(|(p, n)| {
            let layer = (n.layer != SYNTHETIC).then_some(n.layer);
            let mut rec = FileRec {
                path: format!("rootfs/{p}"),
                kind: "dir",
                mode: format!("{:04o}", n.mode),
                uid: n.uid,
                gid: n.gid,
                layer,
                layer_digest: layer.and_then(|l| layers.get(l as usize)).map(|l| l.digest),
                size: None,
                sha256: None,
                target: None,
                hardlink_of: None,
            };
            match &n.kind {
                NodeKind::Dir => {}
                NodeKind::File { size, sha256, hardlink_of, .. } => {
                    rec.kind = "file";
                    rec.size = Some(*size);
                    rec.sha256 = Some(hex::encode(sha256));
                    rec.hardlink_of = hardlink_of.as_ref().map(|h| format!("rootfs/{h}"));
                }
                NodeKind::Symlink(t) => {
                    rec.kind = "symlink";
                    rec.target = Some(t);
                }
            }
            rec
        }))
    }
}

impl Serialize for ProvenanceView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.conv;
        let mut st = s.serialize_struct("Provenance", 12)?;
        st.serialize_field("schema", PROVENANCE_SCHEMA)?;
        st.serialize_field("format", &c.image.format)?;
        st.serialize_field("pinned", &c.image.pinned)?;
        st.serialize_field("index_digest", &c.image.index_digest)?;
        st.serialize_field("manifest_digest", &c.image.manifest_digest)?;
        st.serialize_field("config_digest", &c.image.config_digest)?;
        st.serialize_field("platform", &c.image.platform)?;
        st.serialize_field("layers", &c.image.layers)?;
        st.serialize_field("dropped", &c.tree.dropped)?;
        st.serialize_field("entries", &c.entries)?;
        st.serialize_field("files", &Files(c))?;
        st.end()
    }
}

/// Runs both passes: verifies and indexes every layer, then writes the
/// ramdisk (`cmd`, `env`, `rootfs`, `rootfs/...`) into `sink`.
///
/// Nothing reaches `sink` before every layer blob has been verified
/// (digest, size and diff_id), so a tampered image never produces output.
pub fn convert(
    src: &ImageSource,
    image: ResolvedImage,
    sink: &mut dyn RamdiskSink,
) -> Result<Conversion, OciError> {
    let cmd = cmd_file(&image.config)?;
    let env = env_file(&image.config)?;
    let mut tree = Tree::new()?;
    for layer in &image.layers {
        tree.apply_layer(src, layer)?;
    }
    for m in MOUNT_POINTS {
        tree.add_synthetic_dir(m)?;
    }
    let mut spool = tree.finish_spool()?;
    let root = |path, kind, mode| RamdiskEntry { path, kind, mode, uid: 0, gid: 0 };
    // "cmd" < "env" < "rootfs" < "rootfs/..." in byte order.
    sink.append(&root("cmd", RamdiskKind::File { size: cmd.len() as u64 }, 0o644), &mut &cmd[..])?;
    sink.append(&root("env", RamdiskKind::File { size: env.len() as u64 }, 0o644), &mut &env[..])?;
    sink.append(&root("rootfs", RamdiskKind::Dir, 0o755), &mut std::io::empty())?;
    let mut entries = 3u64;
    let mut file_bytes = (cmd.len() + env.len()) as u64;
    let mut path = String::with_capacity(256);
    for (p, n) in tree.entries() {
        path.clear();
        path.push_str("rootfs/");
        path.push_str(p);
        let kind = match &n.kind {
            NodeKind::Dir => RamdiskKind::Dir,
            NodeKind::File { size, .. } => RamdiskKind::File { size: *size },
            NodeKind::Symlink(t) => RamdiskKind::Symlink { target: t },
        };
        let e = RamdiskEntry { path: &path, kind, mode: n.mode, uid: n.uid, gid: n.gid };
        match &n.kind {
            NodeKind::File { offset, size, .. } => {
                let mut r = spool.open(*offset, *size)?;
                sink.append(&e, &mut r)?;
                file_bytes += size;
            }
            _ => sink.append(&e, &mut std::io::empty())?,
        }
        entries += 1;
    }
    let spooled_bytes = tree.spool_len();
    Ok(Conversion { image, entries, file_bytes, spooled_bytes, tree })
}

/// Convenience: open, resolve and convert in one call.
pub fn convert_path(
    input: &std::path::Path,
    pinned: Sha256Digest,
    platform: &Platform,
    sink: &mut dyn RamdiskSink,
) -> Result<Conversion, OciError> {
    let src = ImageSource::open(input)?;
    let image = super::resolve::resolve(&src, pinned, platform)?;
    convert(&src, image, sink)
}

/// Layer list line for reports: "0 sha256:… (gzip, 1234 bytes)".
pub fn describe_layer(l: &LayerRef) -> String {
    format!("{} {} ({:?}, {} bytes)", l.index, l.digest, l.compression, l.size)
}

/// Format label for reports.
pub fn format_label(f: InputFormat) -> &'static str {
    match f {
        InputFormat::OciLayout => "oci-layout",
        InputFormat::DockerSave => "docker-save",
    }
}
