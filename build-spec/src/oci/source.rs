//! Where image files come from: an OCI layout directory or a tar archive (an
//! OCI archive, or a `docker save` archive in either of its two shapes).
//!
//! Nothing here is trusted: this layer only finds bytes by name. Every blob
//! is then checked against a digest by [`super::digest::VerifyingReader`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::OciError;

/// Most members accepted in an image archive (a layout has a handful of
/// blobs per image; this only bounds the member table).
pub const MAX_ARCHIVE_MEMBERS: usize = 100_000;

/// A member of a tar archive: where its data sits in the archive file.
#[derive(Debug, Clone)]
pub enum Member {
    /// A regular member.
    Data {
        /// Offset of its data in the archive.
        offset: u64,
        /// Its length.
        size: u64,
    },
    /// A symlink member (`docker save` writes `<id>/layer.tar -> ../<x>.tar`).
    Link(String),
}

/// An opened file of the input and its length.
pub type Opened<'a> = (Box<dyn Read + Send + 'a>, u64);

/// An opened image input.
#[derive(Debug)]
pub enum ImageSource {
    /// An OCI image layout directory.
    Dir(PathBuf),
    /// A tar archive holding a layout or a `docker save` image.
    Archive {
        /// The archive path (for messages).
        path: PathBuf,
        /// The open archive.
        file: File,
        /// Member name (normalised: no `./` prefix) -> location.
        members: HashMap<String, Member>,
    },
}

/// Strips `./` prefixes and leading `/` from an archive member name.
fn member_key(name: &str) -> String {
    let mut s = name;
    loop {
        if let Some(rest) = s.strip_prefix("./") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix('/') {
            s = rest;
        } else {
            break;
        }
    }
    s.trim_end_matches('/').to_string()
}

impl ImageSource {
    /// Opens a layout directory or indexes an archive's members (one pass
    /// over the tar headers, seeking over data).
    pub fn open(path: &Path) -> Result<Self, OciError> {
        let io_err =
            |source| OciError::Io { context: format!("opening {}", path.display()), source };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            return Ok(Self::Dir(path.to_path_buf()));
        }
        let file = File::open(path).map_err(io_err)?;
        let bad =
            |reason: String| OciError::BadArchive { path: path.display().to_string(), reason };
        let mut members = HashMap::new();
        {
            let mut ar = tar::Archive::new(&file);
            let entries = ar.entries_with_seek().map_err(|e| bad(e.to_string()))?;
            for entry in entries {
                let entry = entry.map_err(|e| bad(e.to_string()))?;
                if members.len() >= MAX_ARCHIVE_MEMBERS {
                    return Err(bad(format!("more than {MAX_ARCHIVE_MEMBERS} members")));
                }
                let name = String::from_utf8(entry.path_bytes().into_owned())
                    .map_err(|_| bad("non-UTF-8 member name".into()))?;
                let kind = entry.header().entry_type();
                let member = if kind.is_file() || kind.is_contiguous() {
                    Member::Data { offset: entry.raw_file_position(), size: entry.size() }
                } else if kind.is_symlink() || kind.is_hard_link() {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    if kind.is_hard_link() {
                        // Hard link names are archive-root relative.
                        Member::Link(format!("/{}", member_key(&target)))
                    } else {
                        Member::Link(target)
                    }
                } else {
                    continue;
                };
                let key = member_key(&name);
                if members.insert(key.clone(), member).is_some() {
                    return Err(bad(format!("duplicate member {key:?}")));
                }
            }
        }
        Ok(Self::Archive { path: path.to_path_buf(), file, members })
    }

    /// A short description of the input, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Dir(p) => format!("layout directory {}", p.display()),
            Self::Archive { path, .. } => format!("archive {}", path.display()),
        }
    }

    /// True if the input has a file named `name` (relative, `/`-separated).
    pub fn exists(&self, name: &str) -> bool {
        match self {
            Self::Dir(root) => {
                !name.starts_with('/')
                    && !name.split('/').any(|c| c == "..")
                    && root.join(name).is_file()
            }
            Self::Archive { members, .. } => self.resolve(members, name).is_some(),
        }
    }

    /// Follows archive symlinks (at most 8) to a data member.
    fn resolve(&self, members: &HashMap<String, Member>, name: &str) -> Option<(u64, u64)> {
        let mut key = member_key(name);
        for _ in 0..8 {
            match members.get(&key)? {
                Member::Data { offset, size } => return Some((*offset, *size)),
                Member::Link(target) => {
                    key = if let Some(abs) = target.strip_prefix('/') {
                        member_key(abs)
                    } else {
                        let dir = key.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        normalize_join(dir, target)?
                    };
                }
            }
        }
        None
    }

    /// Opens the file `name`, returning its reader and length. `Ok(None)`
    /// when it does not exist.
    pub fn open_file(&self, name: &str) -> Result<Option<Opened<'_>>, OciError> {
        match self {
            Self::Dir(root) => {
                // Names can come from an untrusted manifest.json: stay inside.
                if name.starts_with('/') || name.split('/').any(|c| c == "..") {
                    return Ok(None);
                }
                let p = root.join(name);
                let f = match File::open(&p) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(source) => {
                        return Err(OciError::Io {
                            context: format!("opening {}", p.display()),
                            source,
                        })
                    }
                };
                let len = f
                    .metadata()
                    .map_err(|source| OciError::Io {
                        context: format!("stat {}", p.display()),
                        source,
                    })?
                    .len();
                Ok(Some((Box::new(io::BufReader::with_capacity(256 * 1024, f)), len)))
            }
            Self::Archive { path, file, members } => {
                let Some((offset, size)) = self.resolve(members, name) else { return Ok(None) };
                let io_err = |source| OciError::Io {
                    context: format!("reading {name} in {}", path.display()),
                    source,
                };
                let mut f = file.try_clone().map_err(io_err)?;
                f.seek(SeekFrom::Start(offset)).map_err(io_err)?;
                Ok(Some((Box::new(io::BufReader::with_capacity(256 * 1024, f.take(size))), size)))
            }
        }
    }
}

/// Joins a relative link target onto a directory, resolving `.`/`..`
/// without leaving the archive root.
fn normalize_join(dir: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn joins() {
        assert_eq!(normalize_join("abc", "../x.tar").as_deref(), Some("x.tar"));
        assert_eq!(normalize_join("", "../x.tar"), None);
        assert_eq!(member_key("./blobs/sha256/"), "blobs/sha256");
    }
}
