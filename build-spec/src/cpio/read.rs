//! The strict, bounded newc reader.
//!
//! Streamed through a [`CountingReader`]; each fixed-size header is decoded
//! with a [`Reader`] over its buffer, so no field offset is computed by hand.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::io::{BufRead, BufReader, Read};

use crate::digest::{Digest, Sha256};

use super::{
    check_path, CpioError, EntryKind, CRC_MAGIC, HEADER_LEN, MAX_PATH_LEN, NEWC_MAGIC, S_IFBLK,
    S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, TRAILER,
};
use crate::codec::{CountingReader, Fill, Reader};

/// Most entries [`read_entries`] lists (bounds the returned vector).
pub const MAX_ENTRIES: usize = 1_000_000;
/// Most path + symlink-target bytes [`read_entries`] keeps in memory.
pub const MAX_LISTING_BYTES: usize = 256 * 1024 * 1024;

/// One archive member as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Relative path.
    pub path: String,
    /// File, directory, symlink or special file (unknown type bits are
    /// rejected as [`CpioError::BadEntry`]).
    pub kind: EntryKind,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds since the epoch).
    pub mtime: u32,
    /// Data size (file length, symlink target length, 0 for directories).
    pub size: u64,
    /// Inode number as stored.
    pub ino: u32,
    /// Link count as stored.
    pub nlink: u32,
    /// SHA-256 of the entry's data (for a directory: of the empty string).
    #[serde(with = "hex_serde")]
    pub sha256: [u8; 32],
    /// Offset of the entry's header in the (decompressed) archive.
    pub offset: u64,
}

mod hex_serde {
    pub fn serialize<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
}

/// Streaming reader: one [`Entry`] per call, data hashed on the fly.
#[derive(Debug)]
pub struct CpioReader<R: Read> {
    r: CountingReader<R>,
    done: bool,
    count: usize,
    /// Magic of a following concatenated archive, already consumed.
    pending: Option<[u8; 6]>,
}

const FIELDS: [&str; 13] = [
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
];

impl<R: Read> CpioReader<R> {
    /// Reads an uncompressed newc archive from `r`.
    pub fn new(r: R) -> Self {
        Self { r: CountingReader::new(r), done: false, count: 0, pending: None }
    }

    fn exact(&mut self, buf: &mut [u8], field: &'static str) -> Result<(), CpioError> {
        let at = self.r.offset();
        match self.r.fill(buf) {
            Ok(Fill::Full) => Ok(()),
            Ok(Fill::Eof(n)) => {
                Err(CpioError::Truncated { offset: at.saturating_add(n as u64), field })
            }
            Err(source) => Err(CpioError::Io { offset: self.r.offset(), source }),
        }
    }

    fn skip_pad(&mut self) -> Result<(), CpioError> {
        // Bytes up to the next multiple of 4: 0..=3.
        let rem = (self.r.offset().wrapping_neg() & 3) as usize;
        let mut pad = [0u8; 3];
        let (pad, _) = pad.split_at_mut(rem.min(3));
        let at = self.r.offset();
        self.exact(pad, "padding")?;
        if let Some(i) = pad.iter().position(|&b| b != 0) {
            return Err(CpioError::BadPadding { offset: at.saturating_add(i as u64) });
        }
        Ok(())
    }

    /// The next entry, or `None` after the trailer (and only zero bytes
    /// after it).
    ///
    /// Like the Linux initramfs unpacker, several archives may follow each
    /// other (zero padding in between, each starting 4-byte aligned); their
    /// entries are listed in order.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, CpioError> {
        // A loop, not recursion: a stream of empty archives must not grow
        // the stack.
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(e) = self.read_one()? {
                return Ok(Some(e));
            }
        }
    }

    /// One header: `Some(entry)`, or `None` after a trailer (then `done` is
    /// set unless another archive follows).
    fn read_one(&mut self) -> Result<Option<Entry>, CpioError> {
        let mut h = [0u8; HEADER_LEN];
        let offset = match self.pending.take() {
            Some(magic) => {
                let (head, rest) = h.split_at_mut(magic.len());
                head.copy_from_slice(&magic);
                let offset = self.r.offset().saturating_sub(magic.len() as u64);
                self.exact(rest, "header")?;
                offset
            }
            None => {
                let offset = self.r.offset();
                self.exact(&mut h, "header")?;
                offset
            }
        };
        // `h` is exactly one header long, so the reader cannot run short;
        // a short read would still be an error, not a panic.
        let short = |_| CpioError::Truncated { offset, field: "header" };
        let mut hr = Reader::new(&h);
        let magic = hr.take(NEWC_MAGIC.len()).map_err(short)?;
        if magic != NEWC_MAGIC {
            let hint =
                if magic == CRC_MAGIC { "; the CRC variant 070702 is not supported" } else { "" };
            return Err(CpioError::BadMagic {
                offset,
                found: String::from_utf8_lossy(magic).into_owned(),
                hint,
            });
        }
        let mut f = [0u32; 13];
        for (slot, name) in f.iter_mut().zip(FIELDS) {
            let raw = hr.take(8).map_err(short)?;
            *slot = parse_hex8(raw).ok_or_else(|| CpioError::BadHex {
                offset,
                field: name,
                found: String::from_utf8_lossy(raw).into_owned(),
            })?;
        }
        hr.expect_end().map_err(short)?;
        let [ino, mode, uid, gid, nlink, mtime, filesize, _, _, rmaj, rmin, namesize, check] = f;
        if namesize == 0 || namesize as usize > MAX_PATH_LEN + 1 {
            return Err(CpioError::BadName {
                offset,
                reason: format!("namesize {namesize} outside 1..={}", MAX_PATH_LEN + 1),
            });
        }
        let mut name = vec![0u8; namesize as usize];
        self.exact(&mut name, "name")?;
        if name.pop() != Some(0) {
            return Err(CpioError::BadName { offset, reason: "not NUL-terminated".into() });
        }
        self.skip_pad()?;
        if name == TRAILER.as_bytes() {
            self.done = !self.after_trailer()?;
            return Ok(None);
        }
        if check != 0 {
            return Err(CpioError::BadEntry {
                offset,
                reason: format!("check field {check:#x} is not 0"),
            });
        }
        check_path(&name).map_err(|reason| CpioError::BadPath {
            path: String::from_utf8_lossy(&name).into_owned(),
            reason,
        })?;
        let path = String::from_utf8(name)
            .map_err(|e| CpioError::BadName { offset, reason: format!("not UTF-8: {e}") })?;
        self.count = self.count.saturating_add(1);
        if self.count > super::MAX_ENTRIES {
            return Err(CpioError::TooManyEntries(super::MAX_ENTRIES));
        }
        let (kind, sha256) = match mode & S_IFMT {
            S_IFREG => {
                let digest = self.hash_data(u64::from(filesize))?;
                (EntryKind::File { size: u64::from(filesize) }, digest)
            }
            S_IFDIR => {
                if filesize != 0 {
                    return Err(CpioError::BadEntry {
                        offset,
                        reason: format!("directory {path:?} has filesize {filesize}"),
                    });
                }
                (EntryKind::Dir, Sha256::digest(b"").into())
            }
            S_IFLNK => {
                if filesize == 0 || filesize as usize > MAX_PATH_LEN {
                    return Err(CpioError::BadEntry {
                        offset,
                        reason: format!("symlink {path:?} target length {filesize}"),
                    });
                }
                let mut t = vec![0u8; filesize as usize];
                self.exact(&mut t, "symlink target")?;
                let digest: [u8; 32] = Sha256::digest(&t).into();
                let target = String::from_utf8(t).map_err(|_| CpioError::BadEntry {
                    offset,
                    reason: format!("symlink {path:?} target is not UTF-8"),
                })?;
                (EntryKind::Symlink { target }, digest)
            }
            t @ (S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) => {
                if filesize != 0 {
                    return Err(CpioError::BadEntry {
                        offset,
                        reason: format!("special file {path:?} has filesize {filesize}"),
                    });
                }
                let kind = EntryKind::Special { file_type: t, rdev_major: rmaj, rdev_minor: rmin };
                (kind, Sha256::digest(b"").into())
            }
            other => {
                return Err(CpioError::BadEntry {
                    offset,
                    reason: format!("{path:?} has unsupported file type {other:#o}"),
                })
            }
        };
        self.skip_pad()?;
        Ok(Some(Entry {
            path,
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            mtime,
            size: u64::from(filesize),
            ino,
            nlink,
            sha256,
            offset,
        }))
    }

    fn hash_data(&mut self, size: u64) -> Result<[u8; 32], CpioError> {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = size;
        while left > 0 {
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let (chunk, _) = buf.split_at_mut(n);
            self.exact(chunk, "file data")?;
            h.update(chunk);
            left = left.saturating_sub(n as u64);
        }
        Ok(h.finalize().into())
    }

    /// After a trailer: zero padding, then either end of input (false) or
    /// the magic of another archive at a 4-byte boundary (true, magic kept
    /// in `pending`). Anything else is [`CpioError::TrailingData`].
    fn after_trailer(&mut self) -> Result<bool, CpioError> {
        loop {
            let at = self.r.offset();
            let mut w = [0u8; 4];
            let n = match self.r.fill(&mut w) {
                Ok(Fill::Full) => 4,
                Ok(Fill::Eof(n)) => n,
                Err(source) => return Err(CpioError::Io { offset: self.r.offset(), source }),
            };
            let (got, _) = w.split_at(n.min(4));
            if let Some(i) = got.iter().position(|&b| b != 0) {
                if n == 4 && &w == b"0707" {
                    let mut rest = [0u8; 2];
                    if matches!(self.r.fill(&mut rest), Ok(Fill::Full)) && &rest == b"01" {
                        self.pending = Some(*NEWC_MAGIC);
                        return Ok(true);
                    }
                }
                return Err(CpioError::TrailingData { offset: at.saturating_add(i as u64) });
            }
            if n < 4 {
                return Ok(false);
            }
        }
    }
}

impl<R: Read> Iterator for CpioReader<R> {
    type Item = Result<Entry, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Exactly 8 hex digits (either case).
fn parse_hex8(raw: &[u8]) -> Option<u32> {
    if raw.len() != 8 || !raw.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(raw).ok()?, 16).ok()
}

/// Lists every entry of a newc archive, plain or gzip-compressed (detected by
/// the gzip magic `1f 8b`, as the Linux initramfs unpacker does).
pub fn read_entries<R: Read>(reader: R) -> Result<Vec<Entry>, CpioError> {
    let mut br = BufReader::new(reader);
    let head = br.fill_buf().map_err(|source| CpioError::Io { offset: 0, source })?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::read::MultiGzDecoder::new(br);
        collect_all(CpioReader::new(gz))
    } else {
        collect_all(CpioReader::new(br))
    }
}

fn collect_all<R: Read>(r: CpioReader<R>) -> Result<Vec<Entry>, CpioError> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for e in r {
        let e = e?;
        bytes = bytes.saturating_add(e.path.len());
        if let EntryKind::Symlink { target } = &e.kind {
            bytes = bytes.saturating_add(target.len());
        }
        if bytes > MAX_LISTING_BYTES {
            return Err(CpioError::TooManyEntries(out.len()));
        }
        out.push(e);
    }
    Ok(out)
}
