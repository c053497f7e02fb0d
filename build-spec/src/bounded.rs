//! Reading a whole input file under a size cap, refusing an oversized file
//! *before* reading it.
//!
//! Every file an auditor or operator names is untrusted, and every format we
//! parse has a limit (a receipt envelope, an attestation document, a build
//! spec, ...). Reading the file whole and checking the length afterwards lets
//! a 150 MB "receipt" cost 150 MB of memory and the time to read it before
//! the 2 MiB limit applies. [`read_file`] looks at the file's size first and
//! refuses it without reading a byte; for inputs whose size is not known in
//! advance (pipes, `/dev/stdin`, a file that grows while we read) it reads at
//! most `limit + 1` bytes, so nothing larger than the limit is ever held.
//!
//! This is the one implementation for all crates (`build-spec` is the crate
//! every other crate depends on); callers wrap [`ReadError`] in their own
//! error type or in an `anyhow` context.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a capped read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened or its metadata read.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The input is larger than the limit. Nothing beyond `limit + 1` bytes
    /// was read (nothing at all when `size` is known).
    #[error("{} is too large: {} (the limit for this input is {limit} bytes)", path.display(), SizeText(*.size, *.limit))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The size from the file's metadata; `None` when only reading
        /// showed that it exceeds the limit (a pipe, a growing file).
        size: Option<u64>,
        /// The limit in bytes.
        limit: u64,
    },
    /// Reading failed after the file was opened.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Renders the size part of [`ReadError::TooLarge`].
struct SizeText(Option<u64>, u64);

impl std::fmt::Display for SizeText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n} bytes"),
            None => write!(f, "more than {} bytes", self.1),
        }
    }
}

/// Reads the whole of `path`, refusing it with [`ReadError::TooLarge`] if it
/// holds more than `limit` bytes. A regular file's size is checked before
/// anything is read; at most `limit + 1` bytes are read in any case.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let open = |source| ReadError::Open { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(open)?;
    let md = file.metadata().map_err(open)?;
    let known = md.is_file().then_some(md.len());
    if let Some(size) = known.filter(|s| *s > limit) {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), size: Some(size), limit });
    }
    read_stream(file, path, limit, known)
}

/// Reads `reader` to the end, refusing more than `limit` bytes. `name` is
/// used in errors only (e.g. `-` for standard input); `size_hint` sizes the
/// buffer and is trusted no further.
pub fn read_stream(
    reader: impl Read,
    name: &Path,
    limit: u64,
    size_hint: Option<u64>,
) -> Result<Vec<u8>, ReadError> {
    let cap = size_hint.unwrap_or(0).min(limit).min(1 << 20);
    let mut buf = Vec::with_capacity(usize::try_from(cap).unwrap_or(0));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Read { path: name.to_path_buf(), source })?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge { path: name.to_path_buf(), size: None, limit });
    }
    Ok(buf)
}

/// [`read_file`], or standard input (read with [`read_stream`]) when `path`
/// is `-`: the command-line convention every binary of the workspace follows.
pub fn read_file_or_stdin(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    if path.as_os_str() == "-" {
        return read_stream(std::io::stdin().lock(), Path::new("standard input"), limit, None);
    }
    read_file(path, limit)
}

/// [`read_file`], then UTF-8: the error names the file.
pub fn read_file_to_string(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_file(path, limit)?;
    String::from_utf8(bytes).map_err(|e| ReadError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_limit_is_accepted_and_one_more_byte_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").expect("write");
        assert_eq!(read_file(&p, 5).expect("fits"), b"12345");
        match read_file(&p, 4) {
            Err(ReadError::TooLarge { size: Some(5), limit: 4, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_sparse_file_is_refused_from_its_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sparse");
        let f = std::fs::File::create(&p).expect("create");
        f.set_len(1 << 36).expect("set_len");
        // 64 GiB: only the size check before reading can answer this quickly.
        let e = read_file(&p, 1024).expect_err("too large");
        assert!(matches!(e, ReadError::TooLarge { size: Some(s), .. } if s == 1 << 36), "{e:?}");
        assert!(e.to_string().contains("too large"), "{e}");
    }

    #[test]
    fn streams_are_cut_at_limit_plus_one() {
        let data = [7u8; 100];
        let e = read_stream(&data[..], Path::new("-"), 10, None).expect_err("too large");
        assert!(matches!(e, ReadError::TooLarge { size: None, limit: 10, .. }), "{e:?}");
        assert!(e.to_string().contains("more than 10 bytes"), "{e}");
        assert_eq!(read_stream(&data[..], Path::new("-"), 100, None).expect("fits").len(), 100);
    }

    #[test]
    fn missing_file_is_an_open_error() {
        let e = read_file(Path::new("/nonexistent/proofpack"), 1).expect_err("missing");
        assert!(matches!(e, ReadError::Open { .. }), "{e:?}");
    }
}
