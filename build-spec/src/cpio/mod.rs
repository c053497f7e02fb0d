//! Deterministic cpio `newc` archives: the initramfs format of EIF ramdisks.
//!
//! Written by hand rather than with a crate: the published Rust cpio crates
//! copy inode/device numbers and link counts from the caller and do not
//! enforce an entry order, which is exactly what makes ramdisks (and so PCR1/
//! PCR2) differ between machines. Here determinism is a property of the API:
//!
//! * entries must be appended in canonical order (strictly increasing path
//!   bytes), otherwise [`CpioError::OutOfOrder`];
//! * the writer, not the caller, assigns inode numbers (0, 1, 2, ... in
//!   archive order), link counts (1, directories 2), device numbers (0) and
//!   the mtime (one value for the whole archive, [`CpioOptions::mtime`]);
//! * file data is streamed, with the declared size enforced.
//!
//! With the default options the bytes equal GNU cpio's
//! `cpio -o -H newc -R +0:+0 --reproducible` on a tree whose directories have
//! no sub-directories and whose mtimes are all `mtime` (upper-case hex,
//! archive padded to 512 bytes); see `docs/notes/eif.md`.
//!
//! The reader ([`read_entries`], [`CpioReader`]) is strict and bounded: exact
//! hex fields, bounded names, zero padding, relative paths only, a required
//! `TRAILER!!!`.

mod read;
mod write;

pub use read::{read_entries, CpioReader, Entry, MAX_ENTRIES, MAX_LISTING_BYTES};
pub use write::{write_dir, write_files, CpioOptions, FileSource, ModePolicy, NewcWriter};

/// The newc magic (no checksum variant).
pub const NEWC_MAGIC: &[u8; 6] = b"070701";
/// The checksum variant's magic; recognised only to give a precise error.
pub const CRC_MAGIC: &[u8; 6] = b"070702";
/// Size of a newc header.
pub const HEADER_LEN: usize = 110;
/// Name of the end-of-archive entry.
pub const TRAILER: &str = "TRAILER!!!";
/// Longest path accepted, in bytes (Linux `PATH_MAX` minus the NUL).
pub const MAX_PATH_LEN: usize = 4095;

/// File type bits of `mode`.
pub const S_IFMT: u32 = 0o170000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
/// Block device.
pub const S_IFBLK: u32 = 0o060000;
/// FIFO.
pub const S_IFIFO: u32 = 0o010000;
/// Socket.
pub const S_IFSOCK: u32 = 0o140000;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Regular file of `size` bytes.
    File {
        /// Data length.
        size: u64,
    },
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink {
        /// Link target (stored as the entry's data, no NUL).
        target: String,
    },
    /// Character or block device, FIFO or socket (no data).
    Special {
        /// Type bits: [`S_IFCHR`], [`S_IFBLK`], [`S_IFIFO`] or [`S_IFSOCK`].
        file_type: u32,
        /// Device major number (0 for FIFOs and sockets).
        rdev_major: u32,
        /// Device minor number.
        rdev_minor: u32,
    },
}

/// Short name of a special file type (`char`, `block`, `fifo`, `socket`).
pub fn special_name(file_type: u32) -> &'static str {
    match file_type {
        S_IFCHR => "char",
        S_IFBLK => "block",
        S_IFIFO => "fifo",
        S_IFSOCK => "socket",
        _ => "unknown",
    }
}

/// The caller-controlled part of an entry header.
///
/// Inode, link count, device numbers and mtime are not here on purpose: the
/// writer fixes them (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryHeader {
    /// Relative path, `/`-separated, no leading `/`, no `.`/`..`/empty
    /// components.
    pub path: String,
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Permission bits (`0o7777` at most); the type bits come from `kind`.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl EntryHeader {
    /// A regular file owned by root.
    pub fn file(path: impl Into<String>, size: u64, mode: u32) -> Self {
        Self { path: path.into(), kind: EntryKind::File { size }, mode, uid: 0, gid: 0 }
    }

    /// A directory owned by root.
    pub fn dir(path: impl Into<String>, mode: u32) -> Self {
        Self { path: path.into(), kind: EntryKind::Dir, mode, uid: 0, gid: 0 }
    }

    /// A symlink owned by root, mode 0777.
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind: EntryKind::Symlink { target: target.into() },
            mode: 0o777,
            uid: 0,
            gid: 0,
        }
    }
}

/// Errors writing or reading cpio archives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CpioError {
    /// I/O error from the underlying reader or writer.
    #[error("cpio I/O error at offset {offset}: {source}")]
    Io {
        /// Archive offset where it happened.
        offset: u64,
        /// The cause.
        source: std::io::Error,
    },
    /// A path that is empty, absolute, has `.`/`..`/empty components, a NUL,
    /// is too long, or is the trailer name.
    #[error("invalid cpio path {path:?}: {reason}")]
    BadPath {
        /// The path (lossy).
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Entries not in strictly increasing byte order of their paths.
    #[error("cpio entry {path:?} is out of canonical order (after {previous:?}); entries must be sorted by path bytes, without duplicates")]
    OutOfOrder {
        /// The offending path.
        path: String,
        /// The previous path.
        previous: String,
    },
    /// Permission bits beyond `0o7777`.
    #[error("cpio entry {path:?}: mode {mode:#o} has bits beyond 0o7777")]
    BadMode {
        /// Path.
        path: String,
        /// Given mode.
        mode: u32,
    },
    /// A field value that does not fit newc's 32-bit fields.
    #[error("cpio entry {path:?}: {field} {value} does not fit in 32 bits")]
    TooLarge {
        /// Path.
        path: String,
        /// Field name.
        field: &'static str,
        /// Value.
        value: u64,
    },
    /// File data shorter or longer than the declared size.
    #[error("cpio entry {path:?}: declared {declared} bytes but the data source {problem}")]
    SizeMismatch {
        /// Path.
        path: String,
        /// Declared size.
        declared: u64,
        /// "ended after N bytes" / "has more bytes".
        problem: String,
    },
    /// Unsupported file type while walking a directory (device, fifo,
    /// socket) or non-UTF-8 name.
    #[error("cannot archive {path:?}: {reason}")]
    Unsupported {
        /// Path on disk.
        path: String,
        /// Why.
        reason: String,
    },
    /// Input ended inside a header, name, data or padding.
    #[error("cpio archive truncated at offset {offset} while reading {field}")]
    Truncated {
        /// Offset where more bytes were expected.
        offset: u64,
        /// What was being read.
        field: &'static str,
    },
    /// Magic is not `070701`.
    #[error("bad cpio magic at offset {offset}: {found:?} (expected \"070701\"{hint})")]
    BadMagic {
        /// Header offset.
        offset: u64,
        /// The six bytes found (lossy).
        found: String,
        /// Extra hint (e.g. CRC format).
        hint: &'static str,
    },
    /// A header field that is not exactly 8 hex digits.
    #[error("cpio header at offset {offset}: field {field} is not 8 hex digits: {found:?}")]
    BadHex {
        /// Header offset.
        offset: u64,
        /// Field name.
        field: &'static str,
        /// The raw text (lossy).
        found: String,
    },
    /// Name size 0 or above [`MAX_PATH_LEN`] + 1, or name not NUL-terminated.
    #[error("cpio header at offset {offset}: bad name ({reason})")]
    BadName {
        /// Header offset.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// Non-zero padding byte.
    #[error("cpio archive: non-zero padding byte at offset {offset}")]
    BadPadding {
        /// Offset of the byte.
        offset: u64,
    },
    /// Non-zero bytes after the trailer (other than zero padding).
    #[error("cpio archive: unexpected data after TRAILER!!! at offset {offset}")]
    TrailingData {
        /// Offset of the first non-zero byte.
        offset: u64,
    },
    /// More entries than [`MAX_ENTRIES`], or names longer in total than
    /// [`MAX_LISTING_BYTES`] (the listing is cut at that many entries).
    #[error("cpio archive listing exceeds its bounds after {0} entries")]
    TooManyEntries(usize),
    /// Non-zero `check` field, or an entry type this tool does not list.
    #[error("cpio header at offset {offset}: {reason}")]
    BadEntry {
        /// Header offset.
        offset: u64,
        /// Why.
        reason: String,
    },
}

/// Checks a relative archive path (shared by writer and reader).
pub(crate) fn check_path(path: &[u8]) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.len() > MAX_PATH_LEN {
        return Err("longer than 4095 bytes");
    }
    if path.contains(&0) {
        return Err("contains a NUL byte");
    }
    if path[0] == b'/' {
        return Err("absolute path");
    }
    if path == TRAILER.as_bytes() {
        return Err("reserved trailer name");
    }
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" => return Err("empty component (// or trailing /)"),
            b"." => return Err("'.' component"),
            b".." => return Err("'..' component"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn paths() {
        assert!(check_path(b"a/b").is_ok());
        assert!(check_path(b".hidden").is_ok());
        for bad in
            [&b""[..], b"/a", b"a//b", b"a/", b"./a", b"a/../b", b"..", b"TRAILER!!!", b"a\0"]
        {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }
}
