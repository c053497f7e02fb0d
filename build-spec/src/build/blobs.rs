//! Kernel-side inputs: AWS's blobs (verified against the spec's pins before
//! use) and the demo profile's generated stand-in kernel.

use std::path::{Path, PathBuf};

use crate::digest::{Digest, Sha256};
use serde::Serialize;
use sha1::Sha1;

use crate::spec::{BlobFile, BlobSource};

use super::BuildError;

/// Largest blob read (a bzImage is ~10 MiB).
pub const MAX_BLOB_LEN: u64 = 256 * 1024 * 1024;

/// The label at the start of the demo kernel; also in the EIF metadata.
pub const DEMO_KERNEL_LABEL: &str = "PROOFPACK DEMO KERNEL STAND-IN: NOT BOOTABLE. \
Generated deterministically by proofpack for tests and demos; an EIF built with it \
has real, reproducible PCRs but will not start in a Nitro Enclave.\n";

/// Size of the demo kernel (a real bzImage is ~10 MiB; this keeps tests fast
/// while still exercising multi-block hashing).
pub const DEMO_KERNEL_LEN: usize = 1024 * 1024;

/// The demo stand-in kernel: [`DEMO_KERNEL_LABEL`] followed by SHA-256 in
/// counter mode over the label, truncated to [`DEMO_KERNEL_LEN`]. Depends on
/// nothing but this code, so every build of a given proofpack version gets the
/// same bytes (and the same PCR1 for the same init).
pub fn demo_kernel() -> Vec<u8> {
    let mut out = Vec::with_capacity(DEMO_KERNEL_LEN + 32);
    out.extend_from_slice(DEMO_KERNEL_LABEL.as_bytes());
    let mut counter: u64 = 0;
    while out.len() < DEMO_KERNEL_LEN {
        let mut h = Sha256::new();
        h.update(DEMO_KERNEL_LABEL.as_bytes());
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(DEMO_KERNEL_LEN);
    out
}

/// Git blob id: SHA-1 of `blob <len>\0<content>`, lowercase hex.
pub fn git_blob_id(content: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", content.len()).as_bytes());
    h.update(content);
    hex::encode(h.finalize())
}

/// SHA-256, lowercase hex.
pub fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// One verified blob.
#[derive(Debug, Clone, Serialize)]
pub struct Blob {
    /// Role (`kernel`, `kernel_config`, `nsm_ko`).
    pub role: &'static str,
    /// Path in the nitro-cli repository.
    pub path: String,
    /// Where the bytes were read from (a directory, a git repository).
    pub origin: String,
    /// Content length.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Git blob id of the content.
    pub git_blob: String,
    /// How the content was tied to the spec: which pins were checked.
    pub verified_by: Vec<String>,
    /// The bytes.
    #[serde(skip)]
    pub content: Vec<u8>,
}

/// AWS's blobs for one build, each already checked against the spec.
#[derive(Debug, Clone, Serialize)]
pub struct Blobs {
    /// bzImage.
    pub kernel: Blob,
    /// Kernel config.
    pub kernel_config: Blob,
    /// `nsm.ko`, when the spec lists one.
    pub nsm_ko: Option<Blob>,
}

impl Blob {
    /// Checks `content` against the content pins of `pin` (sha256 and/or
    /// git blob id). `chain` names an already-verified git path to the
    /// content (e.g. "git commit X tree entry"), which counts as a pin when
    /// the spec gives no content hash. With neither, the blob is refused.
    pub fn verify(
        role: &'static str,
        pin: &BlobFile,
        origin: String,
        content: Vec<u8>,
        chain: Option<String>,
    ) -> Result<Self, BuildError> {
        let sha256 = sha256_hex(&content);
        let git_blob = git_blob_id(&content);
        let mut verified_by = Vec::new();
        if let Some(want) = &pin.sha256 {
            if *want != sha256 {
                return Err(BuildError::BlobPinMismatch {
                    role,
                    path: pin.path.clone(),
                    pin: "sha256",
                    expected: want.clone(),
                    actual: sha256,
                });
            }
            verified_by.push(format!("sha256 {want}"));
        }
        if let Some(want) = &pin.git_blob {
            if *want != git_blob {
                return Err(BuildError::BlobPinMismatch {
                    role,
                    path: pin.path.clone(),
                    pin: "git_blob",
                    expected: want.clone(),
                    actual: git_blob,
                });
            }
            verified_by.push(format!("git blob {want}"));
        }
        if let Some(c) = chain {
            verified_by.push(c);
        }
        if verified_by.is_empty() {
            return Err(BuildError::UnpinnedBlob { role, path: pin.path.clone() });
        }
        Ok(Self {
            role,
            path: pin.path.clone(),
            origin,
            size: content.len() as u64,
            sha256,
            git_blob,
            verified_by,
            content,
        })
    }
}

/// Loads the blobs from a plain directory (`--blobs DIR`): each file is looked
/// up at `DIR/<repository path>` and then `DIR/<file name>`. A plain directory
/// carries no git history, so every file must have a content pin (sha256 or
/// git blob id) in the spec; each is verified before use.
pub fn load_dir(dir: &Path, src: &BlobSource) -> Result<Blobs, BuildError> {
    let load = |role: &'static str, pin: &BlobFile| -> Result<Blob, BuildError> {
        let candidates: Vec<PathBuf> =
            vec![dir.join(&pin.path), dir.join(pin.path.rsplit('/').next().unwrap_or(&pin.path))];
        let found =
            candidates.iter().find(|p| p.is_file()).ok_or_else(|| BuildError::MissingBlob {
                role,
                path: pin.path.clone(),
                looked_in: candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let content = crate::bounded::read_file(found, MAX_BLOB_LEN)?;
        Blob::verify(role, pin, found.display().to_string(), content, None)
    };
    Ok(Blobs {
        kernel: load("kernel", &src.kernel)?,
        kernel_config: load("kernel_config", &src.kernel_config)?,
        nsm_ko: src.nsm_ko.as_ref().map(|p| load("nsm_ko", p)).transpose()?,
    })
}

/// `OperatingSystem` and `KernelVersion` from a kernel config's third line,
/// the way nitro-cli derives them (`# Linux/x86_64 4.14.256-209... Kernel
/// Configuration`: split on space, `/`, `-`; tokens 1 and 3).
pub fn kernel_os_version(config: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(config).ok()?;
    let line = text.lines().nth(2)?;
    let toks: Vec<&str> = line.split([' ', '/', '-']).collect();
    Some((toks.get(1)?.to_string(), toks.get(3)?.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_id_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(git_blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn demo_kernel_is_deterministic_and_labelled() {
        let k = demo_kernel();
        assert_eq!(k.len(), DEMO_KERNEL_LEN);
        assert!(k.starts_with(b"PROOFPACK DEMO KERNEL STAND-IN: NOT BOOTABLE."));
        assert_eq!(k, demo_kernel());
    }

    #[test]
    fn verify_pins() {
        let pin = BlobFile {
            path: "blobs/x86_64/nsm.ko".into(),
            sha256: Some(sha256_hex(b"NSM")),
            git_blob: None,
        };
        assert!(Blob::verify("nsm_ko", &pin, "t".into(), b"NSM".to_vec(), None).is_ok());
        assert!(matches!(
            Blob::verify("nsm_ko", &pin, "t".into(), b"NSX".to_vec(), None),
            Err(BuildError::BlobPinMismatch { pin: "sha256", .. })
        ));
        let unpinned = BlobFile { path: "k".into(), sha256: None, git_blob: None };
        assert!(matches!(
            Blob::verify("kernel", &unpinned, "t".into(), b"K".to_vec(), None),
            Err(BuildError::UnpinnedBlob { .. })
        ));
        assert!(Blob::verify("kernel", &unpinned, "t".into(), b"K".to_vec(), Some("git".into()))
            .is_ok());
    }

    #[test]
    fn kernel_config_line() {
        let c = b"#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86_64 4.14.256-209.484.amzn2.x86_64 Kernel Configuration\n";
        assert_eq!(kernel_os_version(c), Some(("Linux".into(), "4.14.256".into())));
        assert_eq!(kernel_os_version(b"x"), None);
    }
}
