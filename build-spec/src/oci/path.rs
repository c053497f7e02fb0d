//! The path rule for layer entries (documented in the module docs of
//! [`super`] and in `docs/notes/oci.md`):
//!
//! * a leading `./` (any number) is removed; `.` and empty components
//!   (`a//b`, `a/./b`, trailing `/`) are dropped;
//! * the root entry (`/`, `./`, `.`) is skipped (the ramdisk's `rootfs`
//!   has fixed metadata);
//! * any other leading `/` (absolute path) is **rejected**, as is any `..`
//!   component: nothing is resolved against anything;
//! * names must be UTF-8 (the cpio writer and the JSON outputs are UTF-8),
//!   each component at most 255 bytes (`NAME_MAX`) and the whole path, once
//!   prefixed with `rootfs/`, at most 4095 bytes (`PATH_MAX` - 1).
//!
//! The result is a relative path with no `.`/`..`/empty components, so it
//! cannot name anything outside the ramdisk tree; there is no extraction
//! to disk at all.

/// Longest component, in bytes.
pub const NAME_MAX: usize = 255;
/// Longest path inside `rootfs/`, in bytes.
pub const MAX_REL_PATH: usize = 4095 - "rootfs/".len();

/// Why a path was refused.
pub type PathReason = &'static str;

/// Normalises a layer entry path. `Ok(None)` is the root itself (`./`),
/// which carries no entry of its own.
pub fn normalize(raw: &[u8]) -> Result<Option<String>, PathReason> {
    let s = std::str::from_utf8(raw).map_err(|_| "not UTF-8")?;
    if s.contains('\0') {
        return Err("contains a NUL byte");
    }
    // The root itself, however spelled ("./", "/" as umoci writes it, "."):
    // it has no entry of its own.
    if s.bytes().all(|b| b == b'/' || b == b'.') && !s.split('/').any(|c| c == "..") {
        return Ok(None);
    }
    if s.starts_with('/') {
        return Err("absolute path");
    }
    let mut out = String::with_capacity(s.len());
    for comp in s.split('/') {
        match comp {
            "" | "." => continue,
            ".." => return Err("'..' component"),
            c if c.len() > NAME_MAX => return Err("component longer than 255 bytes"),
            c => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(c);
            }
        }
    }
    if out.len() > MAX_REL_PATH {
        return Err("longer than 4088 bytes");
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

/// Parent of a normalised path (`""` for top-level names).
pub fn parent(p: &str) -> &str {
    p.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Last component of a normalised path.
pub fn base(p: &str) -> &str {
    p.rsplit_once('/').map(|(_, b)| b).unwrap_or(p)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        assert_eq!(normalize(b"./a//b/./c/").unwrap().as_deref(), Some("a/b/c"));
        assert_eq!(normalize(b"././").unwrap(), None);
        assert_eq!(normalize(b"/etc/passwd"), Err("absolute path"));
        assert_eq!(normalize(b"/").unwrap(), None);
        assert_eq!(normalize(b"/..").unwrap_err(), "absolute path");
        assert_eq!(normalize(b"a/../../etc"), Err("'..' component"));
        assert_eq!(normalize(b"..").unwrap_err(), "'..' component");
        assert!(normalize(&[b'a', 0xff]).is_err());
        assert!(normalize("x".repeat(256).as_bytes()).is_err());
        let long = vec!["d".repeat(200); 21].join("/");
        assert!(normalize(long.as_bytes()).is_err());
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert_eq!(base("a/b/c"), "c");
    }
}
