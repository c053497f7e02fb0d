//! Compiling the init and the application with deterministic settings.
//!
//! What makes two builds of the same tree byte-identical here:
//!
//! * `cargo build --locked`: the lockfile is an input, never rewritten;
//! * `--remap-path-prefix` for the workspace root, `CARGO_HOME` and the target
//!   directory, so neither the checkout path, the user's home nor the build
//!   directory leaks into panic messages or debug info;
//! * fixed codegen: `codegen-units=1`, no incremental compilation, no debug
//!   info, `strip=debuginfo`, set through `CARGO_PROFILE_<P>_*` (which
//!   override `Cargo.toml`) and `CARGO_ENCODED_RUSTFLAGS` (which replaces any
//!   `RUSTFLAGS`/`[build] rustflags` of the caller's environment); opt-level,
//!   LTO and panic strategy come from the checked-out `Cargo.toml`, which is
//!   itself an input;
//! * `SOURCE_DATE_EPOCH`, `TZ=UTC` and `LC_ALL=C` in the environment, for
//!   build scripts that look at them;
//! * an explicit `--target`, so host-only flags never reach the binaries and
//!   build scripts are compiled separately.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::BuildError;

/// Where a remapped path shows up inside binaries.
pub const REMAP_WORKSPACE: &str = "/proofpack/src";
/// Remap target for `CARGO_HOME`.
pub const REMAP_CARGO_HOME: &str = "/proofpack/cargo-home";
/// Remap target for the target directory.
pub const REMAP_TARGET: &str = "/proofpack/target";

/// Codegen settings proofpack fixes for every build (recorded in the manifest).
pub const FIXED_PROFILE_SETTINGS: &[(&str, &str)] =
    &[("CODEGEN_UNITS", "1"), ("INCREMENTAL", "false"), ("DEBUG", "0"), ("STRIP", "debuginfo")];

/// One cargo compilation request.
#[derive(Debug, Clone)]
pub struct CargoJob<'a> {
    /// Workspace root (where `Cargo.lock` is).
    pub workspace: &'a Path,
    /// Target directory.
    pub target_dir: &'a Path,
    /// Target triple.
    pub target: &'a str,
    /// Cargo profile name.
    pub profile: &'a str,
    /// Package.
    pub package: &'a str,
    /// Binary.
    pub bin: &'a str,
    /// Extra rustflags from the spec.
    pub extra_rustflags: &'a [String],
    /// Cargo features of the package.
    pub features: &'a [String],
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: u64,
    /// Forward cargo's own progress output to stderr.
    pub verbose: bool,
}

/// The rustflags proofpack passes, with real paths (for the command) and with
/// placeholders (for the manifest, so it does not depend on the checkout path).
pub fn rustflags(job: &CargoJob<'_>, cargo_home: &Path) -> (Vec<String>, Vec<String>) {
    let mut real = vec![
        format!("--remap-path-prefix={}={REMAP_WORKSPACE}", job.workspace.display()),
        format!("--remap-path-prefix={}={REMAP_CARGO_HOME}", cargo_home.display()),
        format!("--remap-path-prefix={}={REMAP_TARGET}", job.target_dir.display()),
    ];
    let mut shown = vec![
        format!("--remap-path-prefix=<workspace>={REMAP_WORKSPACE}"),
        format!("--remap-path-prefix=<cargo-home>={REMAP_CARGO_HOME}"),
        format!("--remap-path-prefix=<target-dir>={REMAP_TARGET}"),
    ];
    for f in job.extra_rustflags {
        real.push(f.clone());
        shown.push(f.clone());
    }
    (real, shown)
}

/// `CARGO_HOME`, as cargo resolves it.
pub fn cargo_home() -> PathBuf {
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        return PathBuf::from(h);
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo"))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
}

/// The directory cargo puts a profile's artifacts in.
pub fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        p => p,
    }
}

/// Builds one binary and returns its path.
pub fn build_binary(job: &CargoJob<'_>) -> Result<PathBuf, BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let home = cargo_home();
    let (flags, _) = rustflags(job, &home);
    let prof = job.profile.to_ascii_uppercase().replace('-', "_");
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(job.workspace)
        .args(["build", "--locked", "--profile", job.profile, "--target", job.target])
        .args(["-p", job.package, "--bin", job.bin])
        .args(if job.features.is_empty() {
            Vec::new()
        } else {
            vec!["--features".to_string(), job.features.join(",")]
        })
        .env("CARGO_TARGET_DIR", job.target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"))
        .env("CARGO_INCREMENTAL", "0")
        .env("SOURCE_DATE_EPOCH", job.source_date_epoch.to_string())
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    for (k, v) in FIXED_PROFILE_SETTINGS {
        cmd.env(format!("CARGO_PROFILE_{prof}_{k}"), v);
    }
    if !job.verbose {
        cmd.arg("--quiet");
    }
    cmd.stdout(Stdio::null()).stderr(if job.verbose { Stdio::inherit() } else { Stdio::piped() });
    let out = cmd.output().map_err(|e| BuildError::Cargo {
        package: job.package.to_string(),
        bin: job.bin.to_string(),
        message: format!("cannot run {cargo:?}: {e}"),
    })?;
    if !out.status.success() {
        let tail: String = String::from_utf8_lossy(&out.stderr)
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(BuildError::Cargo {
            package: job.package.to_string(),
            bin: job.bin.to_string(),
            message: format!("cargo build failed ({}):\n{tail}", out.status),
        });
    }
    let path = job.target_dir.join(job.target).join(profile_dir(job.profile)).join(job.bin);
    if !path.is_file() {
        return Err(BuildError::Cargo {
            package: job.package.to_string(),
            bin: job.bin.to_string(),
            message: format!("cargo succeeded but {} does not exist", path.display()),
        });
    }
    Ok(path)
}
