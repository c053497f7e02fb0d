//! Pass 1: the compact index of the final root filesystem.
//!
//! Layers are read once, in order, as streams. Each tar entry updates an
//! ordered map `path -> Node` (metadata and, for regular files, where their
//! bytes are); whiteouts and opaque markers delete entries of lower layers.
//! File contents are not kept in memory: they are copied to an anonymous
//! spool file (unlinked at creation, readable only through our descriptor),
//! because pass 2 needs them in sorted-path order while layers deliver them
//! in tar order, and re-reading a compressed layer at an offset means
//! re-decompressing it from the start (quadratic in the worst case).
//!
//! Memory is O(number of entries): a node is about 100 bytes plus its path
//! (see [`MAX_ENTRIES`]); it does not grow with file sizes. Disk: the spool
//! holds the uncompressed bytes of every regular file of every layer
//! (in `TMPDIR`).

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::rc::Rc;
use std::sync::{mpsc, Mutex};

use crate::digest::{Digest as _, Sha256};
use flate2::read::MultiGzDecoder;

use super::digest::{BlobFault, HashingReader, Sha256Digest, VerifyingReader};
use super::path::{self, normalize};
use super::resolve::{blob_verdict, Compression, LayerRef};
use super::source::ImageSource;
use super::OciError;

/// Most entries in the final tree (and so the index): 1,000,000 entries of
/// ~100-byte paths is ~200 MB of index, a hard ceiling; real images have
/// 1e3..1e5 entries (a few MB).
pub const MAX_ENTRIES: usize = 1_000_000;
/// Most items listed per "dropped" category (the counts stay exact).
pub const MAX_LISTED: usize = 10_000;
/// newc's file size field is 32 bits.
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;

/// Where an entry of the final tree came from.
pub type LayerIndex = u32;
/// [`Node::layer`] of entries this tool adds (mount points, `rootfs`).
pub const SYNTHETIC: LayerIndex = u32::MAX;

/// What an entry is, and for files where its bytes are in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Directory.
    Dir,
    /// Regular file: `size` bytes at `offset` in the spool.
    File {
        /// Offset in the spool.
        offset: u64,
        /// Length.
        size: u64,
        /// SHA-256 of the content.
        sha256: [u8; 32],
        /// For hard links: the path linked to (materialised as a copy).
        hardlink_of: Option<Box<str>>,
    },
    /// Symbolic link (target kept verbatim, never followed).
    Symlink(Box<str>),
}

/// One entry of the final tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Type and content.
    pub kind: NodeKind,
    /// Permission bits (`& 0o7777`).
    pub mode: u32,
    /// Owner as in the image.
    pub uid: u32,
    /// Group as in the image.
    pub gid: u32,
    /// Index of the layer whose entry this is ([`SYNTHETIC`] for ours).
    pub layer: LayerIndex,
    /// Created because a child appeared without its parent's entry.
    pub implicit: bool,
}

/// Something the ramdisk cannot carry, listed rather than silently lost.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    /// Layer index.
    pub layer: LayerIndex,
    /// Normalised path.
    pub path: String,
    /// What was dropped (xattr name, "char device", "fifo", ...).
    pub what: String,
}

/// The lists of dropped items with exact counts.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DroppedReport {
    /// Extended attributes (initramfs has no xattrs).
    pub xattrs: Vec<Dropped>,
    /// Total xattrs dropped.
    pub xattr_count: u64,
    /// Device nodes and FIFOs (the entry is dropped; init mounts devtmpfs).
    pub special_files: Vec<Dropped>,
    /// Total special files dropped.
    pub special_count: u64,
    /// Other ignored records: PAX global headers, AUFS `.wh..wh.*` metadata.
    pub other: Vec<Dropped>,
}

fn push_capped(v: &mut Vec<Dropped>, d: Dropped) {
    if v.len() < MAX_LISTED {
        v.push(d);
    }
}

/// The index under construction plus the spool of file contents.
pub struct Tree {
    pub(crate) nodes: BTreeMap<String, Node>,
    spool: BufWriter<File>,
    spool_len: u64,
    /// What could not be carried.
    pub dropped: DroppedReport,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("entries", &self.nodes.len())
            .field("spool_len", &self.spool_len)
            .finish()
    }
}

/// Context for error messages about one layer.
struct Ctx<'a> {
    layer: &'a LayerRef,
}

impl Ctx<'_> {
    fn bad_path(&self, path: &[u8], reason: &'static str) -> OciError {
        OciError::BadPath {
            layer: self.layer.name(),
            path: String::from_utf8_lossy(path).into_owned(),
            reason,
        }
    }
}

impl Tree {
    /// An empty tree with a fresh anonymous spool file.
    pub fn new() -> Result<Self, OciError> {
        let f = tempfile::tempfile()
            .map_err(|source| OciError::Io { context: "creating spool file".into(), source })?;
        Ok(Self {
            nodes: BTreeMap::new(),
            spool: BufWriter::with_capacity(256 * 1024, f),
            spool_len: 0,
            dropped: DroppedReport::default(),
        })
    }

    /// Number of entries so far.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Bytes spooled so far.
    pub fn spool_len(&self) -> u64 {
        self.spool_len
    }

    /// Reads one layer (verifying its blob digest and size, and its
    /// `diff_id`) and applies it on top of the tree.
    ///
    /// When the blob does not verify, the blob error is returned even if
    /// parsing failed first: a tampered layer is reported as tampered.
    pub fn apply_layer(&mut self, src: &ImageSource, layer: &LayerRef) -> Result<(), OciError> {
        let what = layer.name();
        if layer.compression == Compression::None && layer.digest != layer.diff_id {
            return Err(OciError::DiffIdMismatch {
                layer: what,
                expected: layer.diff_id,
                actual: layer.digest,
            });
        }
        let (reader, _) = src.open_file(&layer.location)?.ok_or_else(|| OciError::BlobMissing {
            descriptor: what.clone(),
            location: layer.location.clone(),
        })?;
        // Two stages on two threads, joined by a bounded channel (at most
        // PIPE_DEPTH chunks of PIPE_CHUNK bytes in flight): the producer
        // reads the blob, verifies its digest, decompresses and hashes the
        // tar stream (diff_id); this thread walks the tar into the index.
        let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(PIPE_DEPTH);
        // Spent chunks go back to the producer (no re-allocation and
        // re-zeroing of 256 KiB per chunk).
        let pool = Mutex::new(Vec::new());
        let (walked, produced) = std::thread::scope(|s| {
            let pool = &pool;
            let producer = s.spawn(move || produce(reader, layer, Pipe { tx, pool }));
            let walked = self.walk(ChunkReader { rx, cur: Vec::new(), pos: 0, pool }, layer);
            // The ChunkReader (and so the receiver) is dropped here, so the
            // producer stops sending and only drains and hashes.
            (walked, producer.join())
        });
        let produced = produced.map_err(|_| OciError::Io {
            context: format!("reading {what}"),
            source: io::Error::other("layer reader thread panicked"),
        })?;
        let (verdict, diff) = produced
            .map_err(|source| OciError::Io { context: format!("reading {what}"), source })?;
        // A blob that does not verify is reported as such, whatever the
        // walker made of its bytes.
        blob_verdict(&what, layer.digest, layer.size, verdict)?;
        walked?;
        match diff {
            Some(Ok(actual)) if actual != layer.diff_id => {
                Err(OciError::DiffIdMismatch { layer: what, expected: layer.diff_id, actual })
            }
            Some(Err(source)) => Err(OciError::LayerTar { layer: what, source }),
            _ => Ok(()),
        }
    }

    /// Applies an uncompressed layer tar that the caller has already
    /// verified (or that needs no verification: fuzzing, tests), as layer
    /// `index`. Same rules as [`Tree::apply_layer`] otherwise.
    pub fn apply_verified_tar<R: Read>(&mut self, index: usize, tar: R) -> Result<(), OciError> {
        let zero = Sha256Digest([0; 32]);
        let layer = LayerRef {
            index,
            digest: zero,
            size: 0,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            compression: Compression::None,
            diff_id: zero,
            location: String::new(),
        };
        self.walk(tar, &layer)
    }

    /// Checks the tree's invariants: every path is in normal form and every
    /// parent is a directory of the tree. (For tests and fuzzing; conversion
    /// maintains them by construction.)
    pub fn check_invariants(&self) -> Result<(), String> {
        for p in self.nodes.keys() {
            if normalize(p.as_bytes()).ok().flatten().as_deref() != Some(p.as_str()) {
                return Err(format!("path {p:?} not in normal form"));
            }
            let parent = path::parent(p);
            if !parent.is_empty()
                && !matches!(self.nodes.get(parent), Some(Node { kind: NodeKind::Dir, .. }))
            {
                return Err(format!("parent of {p:?} is not a directory of the tree"));
            }
        }
        Ok(())
    }

    fn walk<R: Read>(&mut self, tar_stream: R, layer: &LayerRef) -> Result<(), OciError> {
        let ctx = Ctx { layer };
        let lidx = layer.index as LayerIndex;
        let tar_err = |source| OciError::LayerTar { layer: layer.name(), source };
        let real_end = Rc::new(Cell::new(None));
        let mut whiteouts = HashSet::new();
        let mut ar = tar::Archive::new(EndTolerant {
            inner: tar_stream,
            pos: 0,
            pad_left: 0,
            real_end: real_end.clone(),
        });
        for entry in ar.entries().map_err(tar_err)? {
            let mut entry = entry.map_err(tar_err)?;
            let etype = entry.header().entry_type();
            let raw = entry.path_bytes().into_owned();
            if etype.is_pax_global_extensions() {
                push_capped(
                    &mut self.dropped.other,
                    Dropped {
                        layer: lidx,
                        path: String::from_utf8_lossy(&raw).into(),
                        what: "PAX global header".into(),
                    },
                );
                continue;
            }
            let path = match normalize(&raw) {
                Ok(Some(p)) => p,
                // The root entry ("./"): rootfs/ gets fixed metadata.
                Ok(None) => continue,
                Err(reason) => return Err(ctx.bad_path(&raw, reason)),
            };
            let base = path::base(&path);
            if let Some(hidden) = base.strip_prefix(".wh.") {
                // Each marker once per layer: a repeated one is a duplicate
                // entry (and would cost another scan of the directory).
                if whiteouts.len() >= MAX_ENTRIES {
                    return Err(OciError::TooManyEntries { limit: MAX_ENTRIES });
                }
                if !whiteouts.insert(path.clone()) {
                    return Err(OciError::DuplicateEntry { layer: layer.name(), path });
                }
                self.whiteout_entry(&ctx, &path, hidden)?;
                continue;
            }
            // Extended attributes: listed, not carried.
            if let Some(exts) = entry.pax_extensions().map_err(tar_err)? {
                for ext in exts {
                    let ext = ext.map_err(tar_err)?;
                    let key = ext.key_bytes();
                    let name = key
                        .strip_prefix(b"SCHILY.xattr.")
                        .or_else(|| key.strip_prefix(b"LIBARCHIVE.xattr."));
                    if let Some(name) = name {
                        self.dropped.xattr_count += 1;
                        push_capped(
                            &mut self.dropped.xattrs,
                            Dropped {
                                layer: lidx,
                                path: path.clone(),
                                what: String::from_utf8_lossy(name).into(),
                            },
                        );
                    }
                }
            }
            let hdr = entry.header();
            let mode = hdr.mode().map_err(tar_err)? & 0o7777;
            let uid = id32(&ctx, &path, "uid", hdr.uid().map_err(tar_err)?)?;
            let gid = id32(&ctx, &path, "gid", hdr.gid().map_err(tar_err)?)?;
            let kind = if etype.is_file() || etype.is_contiguous() {
                let size = entry.size();
                if size > MAX_FILE_SIZE {
                    return Err(OciError::FileTooLarge { layer: layer.name(), path, size });
                }
                let data_end = entry.raw_file_position() + size;
                let kind = self.spool_file(&mut entry, size, layer, &path)?;
                if real_end.get().is_some_and(|end| data_end > end) {
                    return Err(OciError::LayerTar {
                        layer: layer.name(),
                        source: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("{path}: file data truncated"),
                        ),
                    });
                }
                kind
            } else if etype.is_dir() {
                NodeKind::Dir
            } else if etype.is_symlink() {
                let target = entry.link_name_bytes().ok_or_else(|| OciError::BadLinkTarget {
                    layer: layer.name(),
                    path: path.clone(),
                    reason: "symlink without a target",
                })?;
                NodeKind::Symlink(symlink_target(layer, &path, &target)?.into())
            } else if etype.is_hard_link() {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = match normalize(&target) {
                    Ok(Some(t)) => t,
                    Ok(None) => return Err(hardlink_err(layer, &path, &target, "names the root")),
                    Err(reason) => return Err(hardlink_err(layer, &path, &target, reason)),
                };
                match self.nodes.get(&target) {
                    Some(Node {
                        kind: NodeKind::File { offset, size, sha256, .. },
                        mode,
                        uid,
                        gid,
                        ..
                    }) => {
                        // A hard link shares the inode, so its metadata is the
                        // target's. The ramdisk gets an independent copy.
                        let kind = NodeKind::File {
                            offset: *offset,
                            size: *size,
                            sha256: *sha256,
                            hardlink_of: Some(target.clone().into()),
                        };
                        let node = Node {
                            kind,
                            mode: *mode,
                            uid: *uid,
                            gid: *gid,
                            layer: lidx,
                            implicit: false,
                        };
                        self.ensure_parents(&ctx, &path)?;
                        self.put(&ctx, path, node)?;
                        continue;
                    }
                    Some(_) => {
                        return Err(hardlink_err(
                            layer,
                            &path,
                            target.as_bytes(),
                            "target is not a regular file",
                        ))
                    }
                    None => {
                        return Err(hardlink_err(
                            layer,
                            &path,
                            target.as_bytes(),
                            "target does not exist",
                        ))
                    }
                }
            } else if etype.is_character_special() || etype.is_block_special() || etype.is_fifo() {
                let what = if etype.is_fifo() {
                    "fifo"
                } else if etype.is_block_special() {
                    "block device"
                } else {
                    "character device"
                };
                self.dropped.special_count += 1;
                push_capped(
                    &mut self.dropped.special_files,
                    Dropped { layer: lidx, path: path.clone(), what: what.into() },
                );
                // It still replaces whatever a lower layer had there.
                self.remove_lower(&ctx, &path, true)?;
                continue;
            } else {
                return Err(OciError::UnsupportedEntry {
                    layer: layer.name(),
                    path,
                    entry_type: format!("{:?}", etype),
                });
            };
            self.ensure_parents(&ctx, &path)?;
            self.put(&ctx, path, Node { kind, mode, uid, gid, layer: lidx, implicit: false })?;
        }
        if real_end.get().is_some() {
            push_capped(
                &mut self.dropped.other,
                Dropped {
                    layer: lidx,
                    path: String::new(),
                    what: "tar stream ends without end-of-archive marker (accepted)".into(),
                },
            );
        }
        Ok(())
    }

    fn spool_file<R: Read>(
        &mut self,
        entry: &mut R,
        size: u64,
        layer: &LayerRef,
        path: &str,
    ) -> Result<NodeKind, OciError> {
        let offset = self.spool_len;
        let mut hasher = Sha256::new();
        let mut buf = [0u8; 64 * 1024];
        let mut copied = 0u64;
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|source| OciError::LayerTar { layer: layer.name(), source })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            self.spool
                .write_all(&buf[..n])
                .map_err(|source| OciError::Io { context: "writing spool file".into(), source })?;
            copied += n as u64;
        }
        if copied != size {
            return Err(OciError::LayerTar {
                layer: layer.name(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{path}: tar entry declares {size} bytes, stream gave {copied}"),
                ),
            });
        }
        self.spool_len += copied;
        Ok(NodeKind::File { offset, size, sha256: hasher.finalize().into(), hardlink_of: None })
    }

    /// `.wh.NAME` deletes NAME (and below) from lower layers;
    /// `.wh..wh..opq` deletes the lower layers' children of its directory.
    fn whiteout_entry(&mut self, ctx: &Ctx<'_>, path: &str, hidden: &str) -> Result<(), OciError> {
        let dir = path::parent(path);
        let lidx = ctx.layer.index as LayerIndex;
        if hidden == ".wh..opq" {
            // The directory stays (created if this layer did not list it).
            self.ensure_parents(ctx, path)?;
            let lower: Vec<String> = self
                .descendants(dir)
                .filter(|(_, n)| n.layer < lidx)
                .map(|(k, _)| k.clone())
                .collect();
            for k in lower {
                self.nodes.remove(&k);
            }
            return Ok(());
        }
        if hidden.starts_with(".wh.") {
            // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content.
            push_capped(
                &mut self.dropped.other,
                Dropped { layer: lidx, path: path.to_string(), what: "AUFS metadata".into() },
            );
            return Ok(());
        }
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err(ctx.bad_path(path.as_bytes(), "whiteout of an empty, '.' or '..' name"));
        }
        let target = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
        self.remove_lower(ctx, &target, false)
    }

    /// Removes `p` and everything below it that came from lower layers.
    /// With `conflict_same_layer`, finding an entry of this same layer there
    /// is a [`OciError::DuplicateEntry`].
    fn remove_lower(
        &mut self,
        ctx: &Ctx<'_>,
        p: &str,
        conflict_same_layer: bool,
    ) -> Result<(), OciError> {
        let lidx = ctx.layer.index as LayerIndex;
        if let Some(n) = self.nodes.get(p) {
            if n.layer == lidx && conflict_same_layer && !n.implicit {
                return Err(OciError::DuplicateEntry {
                    layer: ctx.layer.name(),
                    path: p.to_string(),
                });
            }
            if n.layer < lidx {
                self.nodes.remove(p);
            }
        }
        let lower: Vec<String> =
            self.descendants(p).filter(|(_, n)| n.layer < lidx).map(|(k, _)| k.clone()).collect();
        for k in lower {
            self.nodes.remove(&k);
        }
        Ok(())
    }

    /// Entries strictly below directory `dir` (`""` = everything).
    fn descendants<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let (lo, hi) = if dir.is_empty() {
            (String::new(), None)
        } else {
            // '/' + 1 == '0': every "dir/..." key sorts in [dir/, dir0).
            (format!("{dir}/"), Some(format!("{dir}0")))
        };
        let range = match hi {
            Some(hi) => self.nodes.range(lo..hi),
            None => self.nodes.range(lo..),
        };
        range
    }

    /// Every ancestor of `p` must be a directory; missing ones are created
    /// (0755, 0:0, like containerd), a non-directory is an error: no entry
    /// is ever placed through a symlink or a file.
    fn ensure_parents(&mut self, ctx: &Ctx<'_>, p: &str) -> Result<(), OciError> {
        let lidx = ctx.layer.index as LayerIndex;
        for (i, b) in p.bytes().enumerate() {
            if b != b'/' {
                continue;
            }
            let anc = &p[..i];
            match self.nodes.get(anc) {
                Some(Node { kind: NodeKind::Dir, .. }) => {}
                Some(_) => {
                    return Err(OciError::ParentNotDirectory {
                        layer: ctx.layer.name(),
                        path: p.to_string(),
                        parent: anc.to_string(),
                    })
                }
                None => {
                    self.check_capacity()?;
                    let node = Node {
                        kind: NodeKind::Dir,
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        layer: lidx,
                        implicit: true,
                    };
                    self.nodes.insert(anc.to_string(), node);
                }
            }
        }
        Ok(())
    }

    fn check_capacity(&self) -> Result<(), OciError> {
        if self.nodes.len() >= MAX_ENTRIES {
            return Err(OciError::TooManyEntries { limit: MAX_ENTRIES });
        }
        Ok(())
    }

    /// Places `node` at `p`: a same-layer duplicate is an error; a lower
    /// layer's entry is replaced (a directory replaced by a non-directory
    /// takes its lower contents with it).
    fn put(&mut self, ctx: &Ctx<'_>, p: String, node: Node) -> Result<(), OciError> {
        let lidx = ctx.layer.index as LayerIndex;
        match self.nodes.get(&p) {
            Some(old) if old.layer == lidx && !(old.implicit && node.kind == NodeKind::Dir) => {
                return Err(OciError::DuplicateEntry { layer: ctx.layer.name(), path: p });
            }
            Some(old) if old.kind == NodeKind::Dir && node.kind != NodeKind::Dir => {
                if self.descendants(&p).any(|(_, n)| n.layer == lidx) {
                    return Err(OciError::DuplicateEntry { layer: ctx.layer.name(), path: p });
                }
                let below: Vec<String> = self.descendants(&p).map(|(k, _)| k.clone()).collect();
                for k in below {
                    self.nodes.remove(&k);
                }
            }
            Some(_) => {}
            None => self.check_capacity()?,
        }
        self.nodes.insert(p, node);
        Ok(())
    }

    /// Adds an entry of ours (mount points): kept as the image has it if it
    /// is already a directory.
    pub(crate) fn add_synthetic_dir(&mut self, p: &str) -> Result<(), OciError> {
        match self.nodes.get(p) {
            Some(Node { kind: NodeKind::Dir, .. }) => Ok(()),
            Some(_) => Err(OciError::MountPointNotDirectory { path: p.to_string() }),
            None => {
                self.nodes.insert(
                    p.to_string(),
                    Node {
                        kind: NodeKind::Dir,
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        layer: SYNTHETIC,
                        implicit: false,
                    },
                );
                Ok(())
            }
        }
    }

    /// Ends pass 1: flushes the spool and returns a reader over it.
    pub(crate) fn finish_spool(&mut self) -> Result<SpoolReader, OciError> {
        self.spool
            .flush()
            .map_err(|source| OciError::Io { context: "flushing spool file".into(), source })?;
        let f = self
            .spool
            .get_ref()
            .try_clone()
            .map_err(|source| OciError::Io { context: "reopening spool file".into(), source })?;
        Ok(SpoolReader { file: f })
    }

    /// Iterates the final tree in canonical (byte) order.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }
}

/// Chunk size of the layer pipeline.
const PIPE_CHUNK: usize = 256 * 1024;
/// Chunks in flight in the layer pipeline (bounds its memory to ~2 MiB).
const PIPE_DEPTH: usize = 8;

/// Producer stage of [`Tree::apply_layer`]: blob -> digest check ->
/// decompression -> diff_id hash -> chunks. Returns the blob verdict and, for
/// compressed layers, the uncompressed digest (or the decompression error).
/// Always reads the blob to its end (bounded by its declared size + 1), even
/// when the consumer stopped early, so the verdict covers every byte.
#[allow(clippy::type_complexity)]
fn produce<R: Read>(
    reader: R,
    layer: &LayerRef,
    tx: Pipe<'_>,
) -> io::Result<(Result<(), BlobFault>, Option<io::Result<Sha256Digest>>)> {
    let mut vr = VerifyingReader::new(reader, layer.digest, layer.size);
    let diff = match layer.compression {
        Compression::None => {
            pump(&mut vr, &tx).inspect_err(|e| {
                let _ = tx.tx.send(Err(io::Error::new(e.kind(), e.to_string())));
            })?;
            None
        }
        Compression::Gzip => Some(pump_hashed(MultiGzDecoder::new(&mut vr), &tx)),
        Compression::Zstd => Some(match zstd::stream::read::Decoder::new(&mut vr) {
            Ok(d) => pump_hashed(d, &tx),
            Err(e) => Err(e),
        }),
    };
    drop(tx);
    Ok((vr.finish()?, diff))
}

/// Sends `r` in chunks; once the receiver is gone, keeps reading (and so
/// hashing, in the layers below) to the end without sending.
fn pump<R: Read>(mut r: R, pipe: &Pipe<'_>) -> io::Result<()> {
    let mut receiver_gone = false;
    let mut sink = vec![0u8; PIPE_CHUNK];
    loop {
        if receiver_gone {
            let n = r.read(&mut sink)?;
            if n == 0 {
                return Ok(());
            }
            continue;
        }
        let mut buf = pipe.pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default();
        buf.resize(PIPE_CHUNK, 0);
        let mut filled = 0;
        while filled < PIPE_CHUNK {
            let n = r.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok(());
        }
        buf.truncate(filled);
        if pipe.tx.send(Ok(buf)).is_err() {
            receiver_gone = true;
        }
    }
}

/// [`pump`] through a SHA-256 of the decompressed stream; a decompression
/// error is also passed to the consumer.
fn pump_hashed<R: Read>(r: R, pipe: &Pipe<'_>) -> io::Result<Sha256Digest> {
    let mut h = HashingReader::new(r);
    match pump(&mut h, pipe) {
        Ok(()) => Ok(h.digest()),
        Err(e) => {
            let _ = pipe.tx.send(Err(io::Error::new(e.kind(), e.to_string())));
            Err(e)
        }
    }
}

/// Producer end of the layer pipeline: the chunk channel and the pool of
/// spent chunks.
struct Pipe<'a> {
    tx: mpsc::SyncSender<io::Result<Vec<u8>>>,
    pool: &'a Mutex<Vec<Vec<u8>>>,
}

/// Consumer end of the layer pipeline.
struct ChunkReader<'a> {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    pool: &'a Mutex<Vec<Vec<u8>>>,
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let spent = std::mem::replace(&mut self.cur, chunk);
                    if let Ok(mut pool) = self.pool.lock() {
                        if pool.len() <= PIPE_DEPTH {
                            pool.push(spent);
                        }
                    }
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // Producer finished: end of stream.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Tolerates a layer tar that stops right after its last entry's data,
/// without the final 512-byte padding and the two zero end blocks (Debian's
/// umoci 0.4.7 writes such layers): at the real end of the stream it supplies
/// that padding and end marker as zeros, and records where the real end was,
/// so that a file whose *data* ran past it is still an error (see `walk`).
/// A header cut short becomes zeros and fails its checksum.
struct EndTolerant<R> {
    inner: R,
    pos: u64,
    pad_left: u64,
    real_end: Rc<Cell<Option<u64>>>,
}

impl<R: Read> Read for EndTolerant<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.real_end.get().is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.pos += n as u64;
                return Ok(n);
            }
            self.real_end.set(Some(self.pos));
            self.pad_left = (512 - self.pos % 512) % 512 + 1024;
        }
        let n = buf.len().min(usize::try_from(self.pad_left).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        self.pad_left -= n as u64;
        Ok(n)
    }
}

/// Random access to spooled file contents.
pub(crate) struct SpoolReader {
    file: File,
}

impl SpoolReader {
    /// A reader of `size` bytes at `offset`.
    pub(crate) fn open(&mut self, offset: u64, size: u64) -> Result<impl Read + '_, OciError> {
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|source| OciError::Io { context: "seeking spool file".into(), source })?;
        Ok((&self.file).take(size))
    }
}

fn id32(ctx: &Ctx<'_>, path: &str, field: &'static str, v: u64) -> Result<u32, OciError> {
    u32::try_from(v).map_err(|_| OciError::IdOutOfRange {
        layer: ctx.layer.name(),
        path: path.to_string(),
        field,
        value: v,
    })
}

fn hardlink_err(layer: &LayerRef, path: &str, target: &[u8], reason: &'static str) -> OciError {
    OciError::HardlinkTarget {
        layer: layer.name(),
        path: path.to_string(),
        target: String::from_utf8_lossy(target).into_owned(),
        reason,
    }
}

/// Symlink targets are stored verbatim (they are resolved by the enclave's
/// kernel inside the chroot, where `/` is the image root), so an absolute or
/// `..` target cannot reach outside it; here they only need to be storable.
fn symlink_target(layer: &LayerRef, path: &str, t: &[u8]) -> Result<String, OciError> {
    let err =
        |reason| OciError::BadLinkTarget { layer: layer.name(), path: path.to_string(), reason };
    if t.is_empty() {
        return Err(err("empty target"));
    }
    if t.len() > 4095 {
        return Err(err("target longer than 4095 bytes"));
    }
    if t.contains(&0) {
        return Err(err("target contains a NUL byte"));
    }
    String::from_utf8(t.to_vec()).map_err(|_| err("target is not UTF-8"))
}
