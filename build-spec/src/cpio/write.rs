//! The deterministic newc writer.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{
    check_path, CpioError, EntryHeader, EntryKind, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK,
    S_IFREG, S_IFSOCK, TRAILER,
};

/// How [`write_dir`] derives permission bits from the filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModePolicy {
    /// Keep the file's permission bits (`st_mode & 0o7777`).
    #[default]
    Preserve,
    /// Ignore the filesystem's bits (and so the umask that created them):
    /// directories 0755, files 0755 if any execute bit is set else 0644,
    /// symlinks 0777.
    Normalize,
}

/// Archive-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpioOptions {
    /// The mtime stamped on every entry (the trailer gets 0, like GNU cpio).
    /// Typically `SOURCE_DATE_EPOCH` or 0.
    pub mtime: u32,
    /// Pad the whole archive with zeros to a multiple of this many bytes
    /// (GNU cpio: 512). Must be a multiple of 4; 4 means no extra padding.
    pub block_size: u32,
    /// Upper-case hex digits in headers (GNU cpio) or lower-case (Go/linuxkit).
    pub uppercase_hex: bool,
    /// Permission-bit policy of [`write_dir`]; [`NewcWriter`] itself always
    /// writes the bits it is given.
    pub modes: ModePolicy,
}

impl Default for CpioOptions {
    fn default() -> Self {
        Self { mtime: 0, block_size: 512, uppercase_hex: true, modes: ModePolicy::Preserve }
    }
}

impl CpioOptions {
    /// Default options with the given mtime.
    pub fn with_mtime(mtime: u32) -> Self {
        Self { mtime, ..Self::default() }
    }
}

/// Streaming newc writer that enforces canonical order (see module docs).
#[derive(Debug)]
pub struct NewcWriter<W: Write> {
    out: W,
    opts: CpioOptions,
    offset: u64,
    next_ino: u32,
    last_path: Option<String>,
}

const ZEROS: [u8; 512] = [0u8; 512];
const COPY_BUF: usize = 64 * 1024;

impl<W: Write> NewcWriter<W> {
    /// A writer that will emit entries to `out`.
    pub fn new(out: W, opts: CpioOptions) -> Self {
        Self { out, opts, offset: 0, next_ino: 0, last_path: None }
    }

    /// Bytes written so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn io(&self, source: io::Error) -> CpioError {
        CpioError::Io { offset: self.offset, source }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), CpioError> {
        self.out.write_all(bytes).map_err(|e| CpioError::Io { offset: self.offset, source: e })?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn pad4(&mut self) -> Result<(), CpioError> {
        let rem = (4 - (self.offset % 4) as usize) % 4;
        self.put(&ZEROS[..rem])
    }

    #[allow(clippy::too_many_arguments)]
    fn header(
        &mut self,
        ino: u32,
        mode: u32,
        uid: u32,
        gid: u32,
        nlink: u32,
        mtime: u32,
        filesize: u32,
        rdev: (u32, u32),
        name: &[u8],
    ) -> Result<(), CpioError> {
        let namesize = name.len() as u32 + 1;
        let fields =
            [ino, mode, uid, gid, nlink, mtime, filesize, 0, 0, rdev.0, rdev.1, namesize, 0];
        let mut h = String::with_capacity(110);
        h.push_str("070701");
        for f in fields {
            if self.opts.uppercase_hex {
                h.push_str(&format!("{f:08X}"));
            } else {
                h.push_str(&format!("{f:08x}"));
            }
        }
        self.put(h.as_bytes())?;
        self.put(name)?;
        self.put(&[0])?;
        self.pad4()
    }

    /// Appends one entry. For files, exactly `size` bytes are streamed from
    /// `data` (and `data` must then be at its end); for symlinks and
    /// directories `data` is not read.
    pub fn append(&mut self, header: &EntryHeader, data: &mut dyn Read) -> Result<(), CpioError> {
        let path = &header.path;
        check_path(path.as_bytes())
            .map_err(|reason| CpioError::BadPath { path: path.clone(), reason })?;
        if let Some(prev) = &self.last_path {
            if prev.as_bytes() >= path.as_bytes() {
                return Err(CpioError::OutOfOrder { path: path.clone(), previous: prev.clone() });
            }
        }
        if header.mode & !0o7777 != 0 {
            return Err(CpioError::BadMode { path: path.clone(), mode: header.mode });
        }
        let mut rdev = (0, 0);
        let (type_bits, nlink, size) = match &header.kind {
            EntryKind::File { size } => (S_IFREG, 1, *size),
            EntryKind::Dir => (S_IFDIR, 2, 0),
            EntryKind::Symlink { target } => {
                check_target(path, target)?;
                (S_IFLNK, 1, target.len() as u64)
            }
            EntryKind::Special { file_type, rdev_major, rdev_minor } => {
                if ![S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK].contains(file_type) {
                    return Err(CpioError::BadMode { path: path.clone(), mode: *file_type });
                }
                rdev = (*rdev_major, *rdev_minor);
                (*file_type, 1, 0)
            }
        };
        let filesize = u32::try_from(size).map_err(|_| CpioError::TooLarge {
            path: path.clone(),
            field: "filesize",
            value: size,
        })?;
        let ino = self.next_ino;
        self.next_ino = self.next_ino.checked_add(1).ok_or(CpioError::TooLarge {
            path: path.clone(),
            field: "inode count",
            value: u64::from(ino) + 1,
        })?;
        let mtime = self.opts.mtime;
        self.header(
            ino,
            type_bits | header.mode,
            header.uid,
            header.gid,
            nlink,
            mtime,
            filesize,
            rdev,
            path.as_bytes(),
        )?;
        match &header.kind {
            EntryKind::File { size } => self.copy_data(path, *size, data)?,
            EntryKind::Dir | EntryKind::Special { .. } => {}
            EntryKind::Symlink { target } => self.put(target.as_bytes())?,
        }
        self.pad4()?;
        self.last_path = Some(path.clone());
        Ok(())
    }

    fn copy_data(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<(), CpioError> {
        let mut buf = vec![0u8; COPY_BUF.min(size.max(1) as usize)];
        let mut left = size;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match data.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(CpioError::SizeMismatch {
                        path: path.to_owned(),
                        declared: size,
                        problem: format!("ended after {} bytes", size - left),
                    })
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            };
            self.put(&buf[..n])?;
            left -= n as u64;
        }
        let mut probe = [0u8; 1];
        loop {
            match data.read(&mut probe) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    return Err(CpioError::SizeMismatch {
                        path: path.to_owned(),
                        declared: size,
                        problem: "has more bytes".into(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    /// Writes the `TRAILER!!!` entry and the final block padding, flushes,
    /// and returns the output.
    pub fn finish(mut self) -> Result<W, CpioError> {
        self.header(0, 0, 0, 0, 1, 0, 0, (0, 0), TRAILER.as_bytes())?;
        let block = u64::from(self.opts.block_size.max(4));
        let mut rem = (block - self.offset % block) % block;
        while rem > 0 {
            let n = rem.min(ZEROS.len() as u64) as usize;
            self.put(&ZEROS[..n])?;
            rem -= n as u64;
        }
        self.out.flush().map_err(|e| CpioError::Io { offset: self.offset, source: e })?;
        Ok(self.out)
    }
}

fn check_target(path: &str, target: &str) -> Result<(), CpioError> {
    if target.is_empty() || target.len() > super::MAX_PATH_LEN || target.contains('\0') {
        return Err(CpioError::BadPath { path: path.to_owned(), reason: "bad symlink target" });
    }
    Ok(())
}

/// Where the data of a [`write_files`] entry comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// No data (directories, symlinks).
    None,
    /// In-memory bytes.
    Bytes(Vec<u8>),
    /// A file on disk, streamed.
    Path(PathBuf),
}

/// Writes an archive from an explicit list, sorting it into canonical order
/// first. Duplicate paths are an error. For [`FileSource::Path`] entries the
/// header's size must equal the file's size.
pub fn write_files<W: Write>(
    mut entries: Vec<(EntryHeader, FileSource)>,
    out: W,
    opts: CpioOptions,
) -> Result<W, CpioError> {
    entries.sort_by(|a, b| a.0.path.as_bytes().cmp(b.0.path.as_bytes()));
    let mut w = NewcWriter::new(BufWriter::new(out), opts);
    for (header, source) in &entries {
        match source {
            FileSource::None => w.append(header, &mut io::empty())?,
            FileSource::Bytes(b) => w.append(header, &mut &b[..])?,
            FileSource::Path(p) => {
                let mut f = std::fs::File::open(p).map_err(|e| CpioError::Unsupported {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                w.append(header, &mut f)?
            }
        }
    }
    let buf = w.finish()?;
    buf.into_inner().map_err(|e| CpioError::Io { offset: 0, source: e.into_error() })
}

/// Archives the tree under `dir` (not including `dir` itself): paths sorted
/// bytewise, uid/gid 0, mtime from `opts`, modes per `opts.modes`, symlinks
/// stored as links. The result does not depend on the directory's location,
/// the filesystem's listing order or file timestamps. Devices, fifos and
/// sockets are refused.
pub fn write_dir<W: Write>(dir: &Path, out: W, opts: CpioOptions) -> Result<W, CpioError> {
    let mut list = Vec::new();
    collect(dir, "", &mut list, opts.modes)?;
    write_files(list, out, opts)
}

fn collect(
    dir: &Path,
    prefix: &str,
    list: &mut Vec<(EntryHeader, FileSource)>,
    policy: ModePolicy,
) -> Result<(), CpioError> {
    use std::os::unix::fs::PermissionsExt;
    let unsupported =
        |p: &Path, reason: String| CpioError::Unsupported { path: p.display().to_string(), reason };
    let rd = std::fs::read_dir(dir).map_err(|e| unsupported(dir, e.to_string()))?;
    for ent in rd {
        let ent = ent.map_err(|e| unsupported(dir, e.to_string()))?;
        let full = ent.path();
        let name = ent
            .file_name()
            .into_string()
            .map_err(|_| unsupported(&full, "file name is not UTF-8".into()))?;
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let md = std::fs::symlink_metadata(&full).map_err(|e| unsupported(&full, e.to_string()))?;
        let perm = md.permissions().mode() & 0o7777;
        let ft = md.file_type();
        let (uid, gid) = (0, 0);
        if ft.is_symlink() {
            let target =
                std::fs::read_link(&full).map_err(|e| unsupported(&full, e.to_string()))?;
            let target = target
                .into_os_string()
                .into_string()
                .map_err(|_| unsupported(&full, "symlink target is not UTF-8".into()))?;
            let mode = match policy {
                ModePolicy::Preserve => perm,
                ModePolicy::Normalize => 0o777,
            };
            let kind = EntryKind::Symlink { target };
            list.push((EntryHeader { path: rel, kind, mode, uid, gid }, FileSource::None));
        } else if ft.is_dir() {
            let mode = match policy {
                ModePolicy::Preserve => perm,
                ModePolicy::Normalize => 0o755,
            };
            list.push((
                EntryHeader { path: rel.clone(), kind: EntryKind::Dir, mode, uid, gid },
                FileSource::None,
            ));
            collect(&full, &rel, list, policy)?;
        } else if ft.is_file() {
            let mode = match policy {
                ModePolicy::Preserve => perm,
                ModePolicy::Normalize if perm & 0o111 != 0 => 0o755,
                ModePolicy::Normalize => 0o644,
            };
            let kind = EntryKind::File { size: md.len() };
            list.push((EntryHeader { path: rel, kind, mode, uid, gid }, FileSource::Path(full)));
        } else {
            return Err(unsupported(&full, "not a regular file, directory or symlink".into()));
        }
    }
    Ok(())
}
