//! OCI / Docker images as the application input: digest-pinned, no Docker
//! daemon, streamed into a deterministic ramdisk.
//!
//! # Data flow
//!
//! ```text
//! ImageSource::open  (layout dir | OCI archive | docker save archive; untrusted names)
//!   -> resolve       (pin = manifest or index digest [docker save: config digest],
//!                     platform; every JSON blob verified before it is parsed)
//!   -> convert pass 1 (per layer, in order: verify digest+size while streaming,
//!                     gunzip/unzstd, verify diff_id, walk tar headers into the
//!                     index, file bytes into an anonymous spool file)
//!   -> convert pass 2 (cmd, env, rootfs, rootfs/... in byte order -> RamdiskSink)
//! ```
//!
//! # Rules (each one is tested in `build-spec/tests/it/oci.rs`)
//!
//! * **Trust:** the pinned digest is the root. A blob is used only after
//!   its size and SHA-256 match its descriptor; layers are checked by the end
//!   of their stream, and nothing reaches the sink before all layers verified.
//!   Uncompressed layer digests must also equal the config's `diff_ids`.
//! * **Layers:** applied bottom-up with OCI whiteout semantics: `.wh.NAME`
//!   removes `NAME` and everything below it from *lower* layers;
//!   `.wh..wh..opq` removes all lower-layer children of its directory;
//!   other `.wh..wh.*` names (AUFS bookkeeping) are ignored and listed. A
//!   directory entry over a lower directory replaces its metadata and merges
//!   contents; a non-directory over a directory hides the lower contents.
//! * **Paths:** see [`path`]: `./` and empty/`.` components normalised,
//!   absolute paths and `..` rejected, UTF-8 only, NAME_MAX/PATH_MAX
//!   enforced. The same path twice in one layer is rejected. A path whose
//!   parent is a symlink or a file in the tree is rejected (no entry is ever
//!   placed through a link). Missing parents are created 0755 root:root.
//! * **Links:** symlink targets are kept verbatim (resolved at run time inside
//!   the enclave's chroot, so they cannot reach outside it). Hard links must
//!   name an existing regular file of the tree (same normalisation); they are
//!   written as independent copies with the target's metadata and content,
//!   and the provenance file records `hardlink_of`.
//! * **Metadata:** mode bits and uid/gid exactly as in the image; mtimes
//!   are the writer's single `SOURCE_DATE_EPOCH`. Extended attributes are
//!   dropped (initramfs cannot carry them) and listed; device nodes and
//!   FIFOs are dropped and listed (init mounts devtmpfs on `/dev`), but
//!   still hide what lower layers had at that path. Sparse and other exotic
//!   tar types are rejected. Files above 4 GiB - 1 are rejected (newc limit).
//! * **Layout** (docs/formats/eif-and-pcrs.md §6.2): `cmd` and `env` (0644 root) per
//!   [`cmd_file`]/[`env_file`], `rootfs/` (0755 root) with the image, and
//!   the mount points [`MOUNT_POINTS`].
//!
//! # Bounds
//!
//! Memory is O(entries) for the index (about 100 bytes + path length per
//! entry, at most [`tree::MAX_ENTRIES`]) plus fixed buffers; JSON documents
//! are at most [`resolve::MAX_JSON_BLOB`]. It does not depend on file or
//! layer sizes. The spool file (in `TMPDIR`) holds the uncompressed bytes of
//! every regular file of every layer.

pub mod diff;
pub mod digest;
mod emit;
pub mod output;
pub mod path;
pub mod resolve;
pub mod source;
pub mod spec;
pub mod tree;

pub use digest::Sha256Digest;
pub use emit::{
    cmd_file, convert, convert_path, describe_layer, env_file, format_label, Conversion,
    ProvenanceView, RamdiskEntry, RamdiskKind, RamdiskSink, MOUNT_POINTS, PROVENANCE_SCHEMA,
};
pub use output::{DigestingWriter, OutputDigests};
pub use resolve::{resolve, Compression, InputFormat, LayerRef, Platform, ResolvedImage};
pub use source::ImageSource;

/// Errors of the OCI input and conversion. Every variant names the
/// descriptor, layer or path concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// An I/O error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The input is neither an OCI layout nor a `docker save` archive.
    #[error("{input} is not an OCI image layout (no oci-layout 1.0.0) nor a docker save archive (no manifest.json)")]
    NotAnImage {
        /// The input.
        input: String,
    },
    /// A tar archive that cannot be indexed.
    #[error("image archive {path}: {reason}")]
    BadArchive {
        /// Archive path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not a `sha256:` + 64 lower-case hex digest.
    #[error("bad digest {value:?}: expected sha256: followed by 64 lower-case hex digits")]
    BadDigest {
        /// What was given.
        value: String,
    },
    /// A descriptor using a digest algorithm other than sha256.
    #[error("{descriptor}: unsupported digest {digest:?} (only sha256 is accepted)")]
    UnsupportedDigest {
        /// The descriptor.
        descriptor: String,
        /// The digest string.
        digest: String,
    },
    /// An `[app.oci]` table without `digest`.
    #[error("the OCI image is not pinned: `digest = \"sha256:…\"` (manifest or index digest) is required")]
    DigestNotPinned,
    /// Not `linux/amd64` or `linux/arm64`.
    #[error("unsupported platform {value:?}: Nitro Enclaves run linux/amd64 or linux/arm64")]
    BadPlatform {
        /// What was given.
        value: String,
    },
    /// The blob a descriptor names is not in the input.
    #[error("{descriptor}: blob missing (looked for {location})")]
    BlobMissing {
        /// The descriptor.
        descriptor: String,
        /// Where it was looked for.
        location: String,
    },
    /// The blob's length differs from the descriptor's size.
    #[error(
        "{descriptor}: blob size mismatch: descriptor says {expected} bytes, blob has {actual}"
    )]
    BlobSizeMismatch {
        /// The descriptor.
        descriptor: String,
        /// Size in the descriptor.
        expected: u64,
        /// Size found ("more" when longer).
        actual: String,
    },
    /// The blob's SHA-256 differs from the descriptor's digest.
    #[error("{descriptor}: blob digest mismatch: expected {expected}, got {actual} (tampered or corrupt)")]
    BlobDigestMismatch {
        /// The descriptor.
        descriptor: String,
        /// Digest in the descriptor.
        expected: Sha256Digest,
        /// Digest of the bytes.
        actual: Sha256Digest,
    },
    /// A JSON document larger than [`resolve::MAX_JSON_BLOB`].
    #[error("{descriptor}: {size} bytes exceeds the {limit}-byte limit for JSON documents")]
    BlobTooLarge {
        /// The descriptor.
        descriptor: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A media type this tool does not handle.
    #[error("{descriptor}: unknown or unsupported media type {media_type:?}")]
    UnknownMediaType {
        /// The descriptor.
        descriptor: String,
        /// The media type.
        media_type: String,
    },
    /// Invalid JSON in a (verified) document.
    #[error("{descriptor}: invalid JSON: {source}")]
    BadJson {
        /// The descriptor.
        descriptor: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// No manifest for the platform in an index.
    #[error("{index}: no manifest for platform {wanted} (available: {available})")]
    PlatformNotFound {
        /// The index.
        index: String,
        /// Requested platform.
        wanted: String,
        /// What the index lists.
        available: String,
    },
    /// Several manifests for the platform in an index.
    #[error("{index}: {count} manifests match platform {wanted}; pin the manifest digest instead")]
    AmbiguousPlatform {
        /// The index.
        index: String,
        /// Requested platform.
        wanted: String,
        /// How many matched.
        count: usize,
    },
    /// The image config is for another platform.
    #[error("{descriptor}: image is for {found}, not {wanted}")]
    WrongPlatform {
        /// The manifest.
        descriptor: String,
        /// Requested platform.
        wanted: String,
        /// The config's os/architecture.
        found: String,
    },
    /// Too many nested indexes.
    #[error("{descriptor}: index nesting deeper than 4")]
    NestingTooDeep {
        /// The last descriptor.
        descriptor: String,
    },
    /// A `docker save` archive without an image of that ID.
    #[error("{input}: no image whose config digest (image ID) is {digest}")]
    DigestNotFound {
        /// The pin.
        digest: Sha256Digest,
        /// The input.
        input: String,
    },
    /// Manifest layer count differs from the config's `rootfs.diff_ids`.
    #[error("manifest lists {manifest} layers but the config has {diff_ids} diff_ids")]
    LayerCountMismatch {
        /// Layers in the manifest.
        manifest: usize,
        /// diff_ids in the config.
        diff_ids: usize,
    },
    /// The uncompressed layer's digest differs from the config's diff_id.
    #[error("{layer}: uncompressed digest {actual} differs from the config's diff_id {expected}")]
    DiffIdMismatch {
        /// The layer.
        layer: String,
        /// diff_id in the config.
        expected: Sha256Digest,
        /// Digest of the uncompressed tar.
        actual: Sha256Digest,
    },
    /// A malformed layer tar (or decompression error).
    #[error("{layer}: bad tar stream: {source}")]
    LayerTar {
        /// The layer.
        layer: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A layer entry path refused by the path rule ([`path`]).
    #[error("{layer}: entry {path:?} rejected: {reason}")]
    BadPath {
        /// The layer.
        layer: String,
        /// The raw path (lossy UTF-8).
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// The same path twice in one layer (or conflicting entries).
    #[error("{layer}: duplicate entry {path:?}")]
    DuplicateEntry {
        /// The layer.
        layer: String,
        /// The path.
        path: String,
    },
    /// An entry below a symlink or a regular file.
    #[error("{layer}: entry {path:?} is below {parent:?}, which is not a directory (paths are never resolved through links)")]
    ParentNotDirectory {
        /// The layer.
        layer: String,
        /// The path.
        path: String,
        /// The non-directory ancestor.
        parent: String,
    },
    /// A hard link whose target is unusable.
    #[error("{layer}: hard link {path:?} -> {target:?}: {reason}")]
    HardlinkTarget {
        /// The layer.
        layer: String,
        /// The link.
        path: String,
        /// Its target.
        target: String,
        /// Why.
        reason: &'static str,
    },
    /// A symlink target that cannot be stored.
    #[error("{layer}: symlink {path:?}: {reason}")]
    BadLinkTarget {
        /// The layer.
        layer: String,
        /// The link.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A tar entry type not supported.
    #[error("{layer}: entry {path:?} has unsupported tar type {entry_type}")]
    UnsupportedEntry {
        /// The layer.
        layer: String,
        /// The path.
        path: String,
        /// The type.
        entry_type: String,
    },
    /// A uid/gid above 2^32-1.
    #[error("{layer}: entry {path:?}: {field} {value} does not fit in 32 bits")]
    IdOutOfRange {
        /// The layer.
        layer: String,
        /// The path.
        path: String,
        /// uid or gid.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// A file too large for newc.
    #[error("{layer}: file {path:?} is {size} bytes; newc cannot store files of 4 GiB or more")]
    FileTooLarge {
        /// The layer.
        layer: String,
        /// The path.
        path: String,
        /// Its size.
        size: u64,
    },
    /// More than [`tree::MAX_ENTRIES`] entries.
    #[error("image has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// A mount point init needs exists but is not a directory.
    #[error("rootfs/{path} must be a directory (init mounts on it) but the image has another type there")]
    MountPointNotDirectory {
        /// The path.
        path: String,
    },
    /// Neither CMD nor ENTRYPOINT.
    #[error("image config has neither Cmd nor Entrypoint: /cmd would be empty")]
    NoCommand,
    /// A CMD/ENTRYPOINT element that cannot be written one per line.
    #[error("image Cmd/Entrypoint: {reason}")]
    BadCommand {
        /// Why.
        reason: String,
    },
    /// An Env element that cannot be written one per line.
    #[error("image Env: {reason}")]
    BadEnv {
        /// Why.
        reason: String,
    },
    /// A provenance file that is not ours.
    #[error("bad provenance file: {reason}")]
    BadProvenance {
        /// Why.
        reason: String,
    },
    /// The ramdisk writer refused an entry.
    #[error("ramdisk writer: {0}")]
    Ramdisk(Box<dyn std::error::Error + Send + Sync>),
}

/// The production sink: the deterministic newc writer of [`crate::cpio`].
impl<W: std::io::Write> RamdiskSink for crate::cpio::NewcWriter<W> {
    fn append(
        &mut self,
        e: &RamdiskEntry<'_>,
        data: &mut dyn std::io::Read,
    ) -> Result<(), OciError> {
        use crate::cpio::{EntryHeader, EntryKind};
        let kind = match e.kind {
            RamdiskKind::File { size } => EntryKind::File { size },
            RamdiskKind::Dir => EntryKind::Dir,
            RamdiskKind::Symlink { target } => EntryKind::Symlink { target: target.to_string() },
        };
        let header =
            EntryHeader { path: e.path.to_string(), kind, mode: e.mode, uid: e.uid, gid: e.gid };
        crate::cpio::NewcWriter::append(self, &header, data)
            .map_err(|err| OciError::Ramdisk(Box::new(err)))
    }
}

/// Converts the image pinned by `pinned` into a newc ramdisk written to
/// `out` (all mtimes = `source_date_epoch`, the writer's default options
/// otherwise). Returns the conversion summary and `out`.
///
/// `out` receives bytes while pass 2 runs; every blob has been verified
/// before that, but a caller writing to a file should still write to a
/// temporary name and rename on success (the CLI does).
pub fn write_ramdisk<W: std::io::Write>(
    input: &std::path::Path,
    pinned: Sha256Digest,
    platform: &Platform,
    source_date_epoch: u32,
    out: W,
) -> Result<(Conversion, W), OciError> {
    let mut writer =
        crate::cpio::NewcWriter::new(out, crate::cpio::CpioOptions::with_mtime(source_date_epoch));
    let conv = convert_path(input, pinned, platform, &mut writer)?;
    let out = writer.finish().map_err(|err| OciError::Ramdisk(Box::new(err)))?;
    Ok((conv, out))
}

/// PCR2 of an EIF whose second (and last) ramdisk has SHA-384 `ramdisk_sha384`:
/// `SHA384(0^48 || SHA384(ramdisk))` (docs/formats/eif-and-pcrs.md §4.1; nitro-cli
/// `pcr --input` semantics).
pub fn pcr_of_content_digest(content_sha384: &[u8; 48]) -> [u8; 48] {
    use crate::digest::Digest as _;
    let mut h = crate::digest::Sha384::new();
    h.update([0u8; 48]);
    h.update(content_sha384);
    h.finalize().into()
}
