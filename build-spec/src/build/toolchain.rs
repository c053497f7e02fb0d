//! The Rust toolchain actually used, as `rustc -vV` reports it, and its
//! comparison with the spec's pin.

use std::path::Path;
use std::process::Command;

use crate::digest::{Digest, Sha256};
use serde::Serialize;

use super::BuildError;

/// `rustc -vV`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolchainInfo {
    /// `release:`.
    pub release: String,
    /// `commit-hash:`.
    pub commit_hash: String,
    /// `host:`.
    pub host: String,
    /// `LLVM version:` (absent for some builds).
    pub llvm_version: Option<String>,
    /// The full `rustc -vV` text (what the fingerprint hashes).
    pub verbose_version: String,
}

impl ToolchainInfo {
    /// Parses `rustc -vV` output.
    pub fn parse(text: &str) -> Result<Self, BuildError> {
        let field = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let missing = |f: &str| BuildError::Toolchain(format!("`rustc -vV` has no `{f}` line"));
        Ok(Self {
            release: field("release:").ok_or_else(|| missing("release:"))?,
            commit_hash: field("commit-hash:").ok_or_else(|| missing("commit-hash:"))?,
            host: field("host:").ok_or_else(|| missing("host:"))?,
            llvm_version: field("LLVM version:"),
            verbose_version: text.to_string(),
        })
    }

    /// Runs `$RUSTC -vV` (default `rustc`) in `dir`, so a `rust-toolchain.toml`
    /// there selects the same compiler cargo will use.
    pub fn detect(dir: &Path) -> Result<Self, BuildError> {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let out = Command::new(&rustc)
            .arg("-vV")
            .current_dir(dir)
            .output()
            .map_err(|e| BuildError::Toolchain(format!("cannot run {rustc:?} -vV: {e}")))?;
        if !out.status.success() {
            return Err(BuildError::Toolchain(format!(
                "{rustc:?} -vV failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Self::parse(&String::from_utf8_lossy(&out.stdout))
    }

    /// Cache-key fingerprint: SHA-256 of the full `rustc -vV` text.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.verbose_version.as_bytes()))
    }

    /// True when release and commit hash equal the pin.
    pub fn matches(&self, release: &str, commit_hash: &str) -> bool {
        self.release == release && self.commit_hash == commit_hash
    }

    /// Whether the standard library for `target` is installed in the
    /// toolchain's sysroot (`rustc --print target-libdir`).
    pub fn has_target(dir: &Path, target: &str) -> Result<bool, BuildError> {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let out = Command::new(&rustc)
            .args(["--print", "target-libdir", "--target", target])
            .current_dir(dir)
            .output()
            .map_err(|e| BuildError::Toolchain(format!("cannot run {rustc:?}: {e}")))?;
        if !out.status.success() {
            // Unknown target triple.
            return Ok(false);
        }
        let libdir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(std::fs::read_dir(&libdir)
            .map(|rd| {
                rd.filter_map(Result::ok).any(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with("libstd-") && n.ends_with(".rlib"))
                })
            })
            .unwrap_or(false))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_rustc_vv() {
        let t = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\ncommit-hash: 59807616e1fa2540724bfbac14d7976d7e4a3860\ncommit-date: 2026-04-14\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 22.1.2\n";
        let i = ToolchainInfo::parse(t).unwrap();
        assert_eq!(i.release, "1.95.0");
        assert!(i.matches("1.95.0", "59807616e1fa2540724bfbac14d7976d7e4a3860"));
        assert!(!i.matches("1.95.0", "0000000000000000000000000000000000000000"));
        assert_eq!(i.llvm_version.as_deref(), Some("22.1.2"));
        assert!(ToolchainInfo::parse("rustc 1\n").is_err());
    }
}
