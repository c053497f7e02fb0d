//! A kernel and its modules from a Debian package (`kernel =
//! "debian-package"`, the `emulator` profile).
//!
//! The build never touches the network: the package is fetched by name and
//! version with `apt-get download` and unpacked with `dpkg-deb -x` by the
//! caller (`scripts/enclave-emulator fetch-kernel`) into a directory:
//!
//! ```text
//! DIR/<package>_<version>_<arch>.deb   (as apt-get download names it; ':' as %3a)
//! DIR/root/…                            (dpkg-deb -x of that file)
//! ```
//!
//! Every byte used is verified here: the `.deb` against `deb_sha256`, the
//! kernel, its config and each module file against their own `sha256`, and
//! each `.ko.xz` is decompressed (bounded) and checked against `ko_sha256`.
//! The modules go into ramdisk 0 as `modules/NN-name.ko` (`NN` = position
//! in the spec's list), which `proofpack-init` loads in name order.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Sha256};

use super::BuildError;
use crate::spec::DebianKernel;

/// Largest kernel, config or module file read from the package.
pub const MAX_FILE_LEN: u64 = 128 * 1024 * 1024;
/// Largest `.deb` hashed (streamed, not held in memory).
pub const MAX_DEB_LEN: u64 = 1024 * 1024 * 1024;
/// Largest decompressed module.
pub const MAX_MODULE_LEN: usize = 64 * 1024 * 1024;

/// The verified files of a Debian kernel package.
#[derive(Debug, Clone)]
pub struct DebianKernelFiles {
    /// The kernel image.
    pub kernel: Vec<u8>,
    /// The kernel config.
    pub kernel_config: Vec<u8>,
    /// `(NN-name.ko, bytes)` in load order.
    pub modules: Vec<(String, Vec<u8>)>,
    /// The `.deb` file name and its SHA-256.
    pub deb: (String, String),
}

/// Why a `.ko.xz` could not be decompressed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum XzError {
    /// Not a valid xz stream (lzma-rs's message).
    #[error("not a valid xz stream: {0}")]
    Invalid(String),
    /// Larger than [`MAX_MODULE_LEN`] once decompressed.
    #[error("decompresses to more than {0} bytes")]
    TooLarge(usize),
}

struct Capped {
    out: Vec<u8>,
    cap: usize,
    hit_cap: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.cap {
            self.hit_cap = true;
            return Err(std::io::Error::other("cap"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decompresses one xz stream into at most `cap` bytes.
pub fn decompress_xz(data: &[u8], cap: usize) -> Result<Vec<u8>, XzError> {
    let mut w = Capped { out: Vec::new(), cap, hit_cap: false };
    let mut r = std::io::BufReader::new(data);
    match lzma_rs::xz_decompress(&mut r, &mut w) {
        Ok(()) => Ok(w.out),
        Err(_) if w.hit_cap => Err(XzError::TooLarge(cap)),
        Err(e) => Err(XzError::Invalid(e.to_string())),
    }
}

/// `apt-get download`'s file name for the pinned package.
pub fn deb_file_name(d: &DebianKernel) -> String {
    format!("{}_{}_{}.deb", d.package, d.version.replace(':', "%3a"), d.arch)
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn check(role: &'static str, path: &str, expected: &str, actual: String) -> Result<(), BuildError> {
    if actual == expected {
        Ok(())
    } else {
        Err(BuildError::BlobPinMismatch {
            role,
            path: path.into(),
            pin: "sha256",
            expected: expected.into(),
            actual,
        })
    }
}

fn read(role: &'static str, root: &Path, rel: &str) -> Result<Vec<u8>, BuildError> {
    let p = root.join(rel);
    if !p.is_file() {
        return Err(BuildError::MissingBlob {
            role,
            path: rel.into(),
            looked_in: root.display().to_string(),
        });
    }
    Ok(crate::bounded::read_file(&p, MAX_FILE_LEN)?)
}

fn hash_deb(path: &Path) -> Result<String, BuildError> {
    let io = |e: std::io::Error| BuildError::Io {
        what: format!("reading {}", path.display()),
        source: e,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len > MAX_DEB_LEN {
        return Err(BuildError::Io {
            what: format!("reading {}", path.display()),
            source: std::io::Error::other(format!("{len} bytes, more than {MAX_DEB_LEN}")),
        });
    }
    let mut h = Sha256::new();
    std::io::copy(&mut std::io::Read::take(f, MAX_DEB_LEN), &mut h).map_err(io)?;
    Ok(hex::encode(h.finalize()))
}

/// Loads and verifies the pinned package's files from `dir` (layout above).
pub fn load(dir: &Path, d: &DebianKernel) -> Result<DebianKernelFiles, BuildError> {
    let deb_name = deb_file_name(d);
    let deb: PathBuf = dir.join(&deb_name);
    if !deb.is_file() {
        return Err(BuildError::MissingBlob {
            role: "debian package",
            path: deb_name,
            looked_in: format!(
                "{} (fetch it with `apt-get download {}={}`)",
                dir.display(),
                d.package,
                d.version
            ),
        });
    }
    check("debian package", &deb_name, &d.deb_sha256, hash_deb(&deb)?)?;
    let root = dir.join("root");
    let kernel = read("debian kernel", &root, &d.kernel.path)?;
    check("debian kernel", &d.kernel.path, &d.kernel.sha256, sha256_hex(&kernel))?;
    let kernel_config = read("debian kernel_config", &root, &d.kernel_config.path)?;
    check(
        "debian kernel_config",
        &d.kernel_config.path,
        &d.kernel_config.sha256,
        sha256_hex(&kernel_config),
    )?;
    let mut modules = Vec::new();
    for (i, m) in d.modules.iter().enumerate() {
        let raw = read("kernel module", &root, &m.path)?;
        check("kernel module", &m.path, &m.sha256, sha256_hex(&raw))?;
        let file = m.path.rsplit('/').next().unwrap_or(&m.path);
        let (stem, ko) = match (file.strip_suffix(".ko.xz"), &m.ko_sha256) {
            (Some(stem), Some(pin)) => {
                let ko = decompress_xz(&raw, MAX_MODULE_LEN).map_err(|e| {
                    BuildError::ModuleDecompress { path: m.path.clone(), source: e }
                })?;
                check("kernel module (decompressed)", &m.path, pin, sha256_hex(&ko))?;
                (stem, ko)
            }
            _ => (file.strip_suffix(".ko").unwrap_or(file), raw),
        };
        modules.push((format!("{i:02}-{stem}.ko"), ko));
    }
    Ok(DebianKernelFiles { kernel, kernel_config, modules, deb: (deb_name, d.deb_sha256.clone()) })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lzma_rs::xz_compress(&mut std::io::BufReader::new(data), &mut out).unwrap();
        out
    }

    #[test]
    fn xz_round_trip_cap_and_garbage() {
        let data = b"\x7fELF module body".repeat(100);
        assert_eq!(decompress_xz(&xz(&data), 1 << 20).unwrap(), data);
        assert_eq!(decompress_xz(&xz(&data), 100), Err(XzError::TooLarge(100)));
        assert!(matches!(decompress_xz(b"not xz", 1 << 20), Err(XzError::Invalid(_))));
        let mut cut = xz(&data);
        cut.truncate(cut.len() - 5);
        assert!(decompress_xz(&cut, 1 << 20).is_err());
    }

    fn pin(files: &[(&str, &[u8])], deb: &[u8]) -> DebianKernel {
        let h = |b: &[u8]| sha256_hex(b);
        DebianKernel {
            package: "linux-image-test".into(),
            version: "1:6.12-1".into(),
            arch: "amd64".into(),
            deb_sha256: h(deb),
            kernel: crate::spec::PinnedFile { path: "boot/vmlinuz".into(), sha256: h(files[0].1) },
            kernel_config: crate::spec::PinnedFile {
                path: "boot/config".into(),
                sha256: h(files[1].1),
            },
            modules: vec![crate::spec::PinnedModule {
                path: "lib/modules/x/vsock.ko.xz".into(),
                sha256: h(&xz(files[2].1)),
                ko_sha256: Some(h(files[2].1)),
            }],
        }
    }

    #[test]
    fn load_verifies_every_pin() {
        let dir = tempfile::tempdir().unwrap();
        let files: [(&str, &[u8]); 3] =
            [("boot/vmlinuz", b"kernel"), ("boot/config", b"CONFIG_X=y\n"), ("", b"ko bytes")];
        let d = pin(&files, b"the deb");
        assert!(matches!(load(dir.path(), &d), Err(BuildError::MissingBlob { .. })));
        std::fs::write(dir.path().join("linux-image-test_1%3a6.12-1_amd64.deb"), b"the deb")
            .unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("boot")).unwrap();
        std::fs::create_dir_all(root.join("lib/modules/x")).unwrap();
        std::fs::write(root.join("boot/vmlinuz"), b"kernel").unwrap();
        std::fs::write(root.join("boot/config"), b"CONFIG_X=y\n").unwrap();
        std::fs::write(root.join("lib/modules/x/vsock.ko.xz"), xz(b"ko bytes")).unwrap();
        let got = load(dir.path(), &d).unwrap();
        assert_eq!(got.kernel, b"kernel");
        assert_eq!(got.modules, vec![("00-vsock.ko".to_string(), b"ko bytes".to_vec())]);
        // One changed byte anywhere is refused, naming the file.
        std::fs::write(root.join("boot/vmlinuz"), b"kernex").unwrap();
        let e = load(dir.path(), &d).unwrap_err();
        assert!(matches!(e, BuildError::BlobPinMismatch { role: "debian kernel", .. }), "{e}");
        std::fs::write(root.join("boot/vmlinuz"), b"kernel").unwrap();
        std::fs::write(dir.path().join("linux-image-test_1%3a6.12-1_amd64.deb"), b"other").unwrap();
        let e = load(dir.path(), &d).unwrap_err();
        assert!(matches!(e, BuildError::BlobPinMismatch { role: "debian package", .. }), "{e}");
        std::fs::write(dir.path().join("linux-image-test_1%3a6.12-1_amd64.deb"), b"the deb")
            .unwrap();
        let mut d2 = d.clone();
        d2.modules[0].ko_sha256 = Some("00".repeat(32));
        let e = load(dir.path(), &d2).unwrap_err();
        assert!(e.to_string().contains("vsock.ko.xz"), "{e}");
    }
}
