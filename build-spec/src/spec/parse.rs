//! Strict parsing and validation of the TOML build spec.
//!
//! Two layers: serde structs with `deny_unknown_fields` (so an unknown or
//! misspelt key is an error naming the key), and a validation pass that turns
//! "optional in TOML" pins into hard requirements with one precise error per
//! missing or malformed pin. Pins are `Option`s in the serde layer only so
//! that a missing pin gets our [`SpecError::MissingPin`] (naming the dotted
//! key) rather than a generic deserializer message.

use std::collections::BTreeMap;

use crate::digest::{Digest, Sha256};
use serde::{Deserialize, Serialize};

use crate::oci::spec::OciAppSpec;
use crate::oci::{Platform, Sha256Digest};

/// The only spec format version this code reads (`spec_version = 1`).
pub const SPEC_FORMAT_VERSION: u32 = 1;

/// Largest spec file accepted (a real one is a few KiB).
pub const MAX_SPEC_LEN: usize = 256 * 1024;

/// Errors reading a build spec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecError {
    /// The file exceeds [`MAX_SPEC_LEN`].
    #[error("build spec is {0} bytes, more than the {MAX_SPEC_LEN}-byte limit")]
    TooLarge(usize),
    /// A key the format does not define (typo or unsupported option).
    #[error("build spec has unknown key `{key}`{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    UnknownKey {
        /// The offending key.
        key: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// The parser's full message (lists the expected keys).
        message: String,
    },
    /// Not valid TOML, or a value of the wrong type.
    #[error("build spec is not valid{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Syntax {
        /// 1-based line, when known.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// `spec_version` is not [`SPEC_FORMAT_VERSION`].
    #[error("build spec format version {0} is not supported (this proofpack reads version {SPEC_FORMAT_VERSION})")]
    UnsupportedVersion(u32),
    /// A required pin is absent.
    #[error("build spec is missing the pin `{key}`: {why}")]
    MissingPin {
        /// Dotted key, e.g. `toolchain.commit_hash`.
        key: String,
        /// What the pin protects.
        why: &'static str,
    },
    /// A pin or value is present but malformed.
    #[error("build spec value `{key}` = {value:?} is invalid: {why}")]
    BadValue {
        /// Dotted key.
        key: String,
        /// The value as written (truncated).
        value: String,
        /// What is expected.
        why: &'static str,
    },
    /// Two keys that exclude each other are both present.
    #[error("build spec has both `{first}` and `{second}`: {why}")]
    Conflict {
        /// The first key (dotted).
        first: String,
        /// The key it conflicts with (dotted).
        second: String,
        /// The rule, and what to do instead.
        why: &'static str,
    },
    /// The requested profile does not exist.
    #[error("build spec has no profile {name:?} (profiles: {available})")]
    UnknownProfile {
        /// Requested name.
        name: String,
        /// Comma-separated list of defined profiles.
        available: String,
    },
}

fn bad(key: impl Into<String>, value: &str, why: &'static str) -> SpecError {
    let mut v = value.to_string();
    if v.len() > 120 {
        let mut cut = 120;
        while !v.is_char_boundary(cut) {
            cut -= 1;
        }
        v.truncate(cut);
        v.push('…');
    }
    SpecError::BadValue { key: key.into(), value: v, why }
}

fn missing(key: impl Into<String>, why: &'static str) -> SpecError {
    SpecError::MissingPin { key: key.into(), why }
}

/// A parsed, validated build spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Format version, must be [`SPEC_FORMAT_VERSION`].
    pub spec_version: u32,
    /// Image identity and kernel command line.
    pub image: Image,
    /// The pinned Rust toolchain.
    pub toolchain: Toolchain,
    /// How `SOURCE_DATE_EPOCH` is chosen.
    pub time: TimePolicy,
    /// Cargo settings shared by init and app.
    pub cargo: Cargo,
    /// The init binary (first ramdisk).
    pub init: Binary,
    /// The application (second ramdisk): a cargo binary installed as
    /// `rootfs/bin/<bin>`, or an OCI image converted into the whole ramdisk.
    pub app: App,
    /// Extra files copied into the application rootfs.
    #[serde(default)]
    pub rootfs: Rootfs,
    /// AWS blobs (kernel, kernel config, `nsm.ko`) for profiles that use them.
    #[serde(default)]
    pub blobs: Option<BlobSource>,
    /// Named build profiles (`production`, `demo`).
    pub profiles: BTreeMap<String, Profile>,
}

/// `[image]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// EIF metadata `ImageName`.
    pub name: String,
    /// EIF metadata `ImageVersion`.
    pub version: String,
    /// `x86_64` or `aarch64` (EIF header flag).
    pub arch: String,
    /// Kernel command line, stored exactly (no trailing newline).
    pub cmdline: String,
    /// The source repository's canonical name (e.g.
    /// `git+https://github.com/org/app`), written into the image's
    /// `/etc/proofpack/build-info.json`. Taken from the spec, not from where
    /// the sources were read, so a build and a rebuild from any clone bake
    /// the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// `[toolchain]`: the exact compiler, as `rustc -vV` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toolchain {
    /// `release:` line, e.g. `1.95.0`.
    pub release: Option<String>,
    /// `commit-hash:` line, 40 hex digits.
    pub commit_hash: Option<String>,
}

/// `[time]`: the `SOURCE_DATE_EPOCH` policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimePolicy {
    /// `"commit"` (commit time of the built revision) or a fixed integer.
    pub source_date_epoch: Option<EpochPolicy>,
}

/// The value of `time.source_date_epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EpochPolicy {
    /// A fixed number of seconds since the epoch.
    Fixed(i64),
    /// A keyword; only `"commit"` is valid.
    Keyword(String),
}

/// `[cargo]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cargo {
    /// Workspace root relative to the spec file's directory.
    pub workspace: String,
    /// Rust target triple (a profile may override it, with a reason).
    pub target: String,
    /// Cargo profile, e.g. `release`.
    pub profile: String,
    /// Extra rustflags appended after proofpack's deterministic ones.
    #[serde(default)]
    pub rustflags: Vec<String>,
}

/// `[init]` / `[app]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binary {
    /// Cargo package.
    pub package: String,
    /// Binary target in that package.
    pub bin: String,
    /// Arguments after the binary path (app only; written to `/cmd`).
    #[serde(default)]
    pub args: Vec<String>,
    /// `NAME=value` environment (app only; written to `/env`).
    #[serde(default)]
    pub env: Vec<String>,
    /// Cargo features enabled for this binary's package (`--features`).
    #[serde(default)]
    pub features: Vec<String>,
}

/// `[app]`: exactly one of a cargo binary (`package` + `bin`, with `args`,
/// `env`, `features`) or an OCI image (`[app.oci]`).
///
/// The two are exclusive because an image brings its own `/cmd` and `/env`
/// (its config's CMD/ENTRYPOINT and Env) and its own root filesystem: a
/// cargo binary next to it would need a second, overlapping rootfs
/// (ambiguous ownership of `rootfs/bin`, which merged-`/usr` images make a
/// symlink) and a rule for whose command runs. Ship the binary inside the
/// image instead (a `COPY` layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Cargo package (with `bin`; not with `[app.oci]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Binary target in that package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<String>,
    /// Arguments after the binary path (written to `/cmd`; cargo app only).
    #[serde(default)]
    pub args: Vec<String>,
    /// `NAME=value` environment (written to `/env`; cargo app only).
    #[serde(default)]
    pub env: Vec<String>,
    /// Cargo features enabled for the package (`--features`; cargo app only).
    #[serde(default)]
    pub features: Vec<String>,
    /// An OCI image as the application ramdisk (see [`OciAppSpec`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<OciAppSpec>,
}

/// Where the application ramdisk comes from (validated: exactly one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSource {
    /// A cargo binary, installed as `rootfs/bin/<bin>` with the spec's
    /// `args`/`env` as `/cmd`/`/env`.
    Cargo(Binary),
    /// An OCI image converted into the whole application ramdisk; the
    /// platform is always set (defaulted from `image.arch`).
    Oci(OciAppSpec),
}

/// `[rootfs]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rootfs {
    /// Extra files.
    #[serde(default)]
    pub files: Vec<RootfsFile>,
}

/// One `[[rootfs.files]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootfsFile {
    /// Path inside the rootfs, relative (`etc/x`).
    pub path: String,
    /// Source file relative to the workspace root.
    pub source: String,
    /// Permission bits (e.g. `0o644`); file type is always regular.
    pub mode: u32,
}

/// `[blobs]`: where AWS's prebuilt blobs come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobSource {
    /// Git repository URL (nitro-cli).
    pub repository: String,
    /// Pinned commit, 40 hex digits. Pins every file through git's hash chain.
    pub commit: Option<String>,
    /// The bzImage.
    pub kernel: BlobFile,
    /// The kernel config (source of `OperatingSystem`/`KernelVersion`).
    pub kernel_config: BlobFile,
    /// The NSM driver, when the kernel does not have it built in.
    #[serde(default)]
    pub nsm_ko: Option<BlobFile>,
}

/// One blob file: a path in the repository plus optional content pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobFile {
    /// Path inside the repository at the pinned commit.
    pub path: String,
    /// SHA-256 of the content, lowercase hex.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Git blob id (SHA-1 of `blob <len>\0<content>`), lowercase hex.
    #[serde(default)]
    pub git_blob: Option<String>,
}

/// Where a profile's kernel comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelSource {
    /// AWS's blobs from `[blobs]`, verified against the pins.
    NitroCliBlobs,
    /// A deterministic generated stand-in, NOT bootable; no `nsm.ko`.
    DemoStandIn,
    /// A Linux kernel from a Debian package (`[profiles.<name>.debian]`),
    /// pinned by package name, version and the SHA-256 of the `.deb` and of
    /// every file taken from it; its modules are loaded by the init.
    DebianPackage,
}

/// `[profiles.<name>.debian]`: a kernel and modules taken from one Debian
/// package, fetched by name with `apt-get download` (no URL in the spec) and
/// unpacked with `dpkg-deb -x` outside the build (see
/// `crate::build::debian`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianKernel {
    /// Binary package name, e.g. `linux-image-6.12.118+deb12-cloud-amd64-unsigned`.
    pub package: String,
    /// Exact package version, e.g. `6.12.118-1~deb12u1`.
    pub version: String,
    /// Debian architecture (`amd64`).
    pub arch: String,
    /// SHA-256 of the `.deb` file.
    pub deb_sha256: String,
    /// The kernel image inside the package (`boot/vmlinuz-…`).
    pub kernel: PinnedFile,
    /// The kernel config (`boot/config-…`): `OperatingSystem`/`KernelVersion`.
    pub kernel_config: PinnedFile,
    /// Modules loaded by the init, in this order, before the application.
    #[serde(default)]
    pub modules: Vec<PinnedModule>,
}

/// A file taken from a package, pinned by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedFile {
    /// Path inside the package (no leading `/`).
    pub path: String,
    /// SHA-256 of the file as shipped.
    pub sha256: String,
}

/// A kernel module taken from a package: `.ko`, or `.ko.xz` decompressed by
/// the build (the init loads plain `.ko`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedModule {
    /// Path inside the package.
    pub path: String,
    /// SHA-256 of the file as shipped.
    pub sha256: String,
    /// SHA-256 of the decompressed `.ko` (required for `.ko.xz`, refused for `.ko`).
    #[serde(default)]
    pub ko_sha256: Option<String>,
}

/// `[profiles.<name>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Kernel source.
    pub kernel: KernelSource,
    /// Target triple override (e.g. when the pinned target is not installable).
    #[serde(default)]
    pub target: Option<String>,
    /// Required with `target`: why this profile departs from `cargo.target`.
    #[serde(default)]
    pub target_reason: Option<String>,
    /// Replaces `app.args` for this profile (cargo application only).
    #[serde(default)]
    pub app_args: Option<Vec<String>>,
    /// The Debian kernel package, with `kernel = "debian-package"`.
    #[serde(default)]
    pub debian: Option<DebianKernel>,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> Option<usize> {
    let start = span?.start.min(text.len());
    Some(text.as_bytes()[..start].iter().filter(|&&b| b == b'\n').count() + 1)
}

fn check_rel_path(key: &str, p: &str) -> Result<(), SpecError> {
    let ok = !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\0')
        && !p.contains('\\')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(bad(
            key,
            p,
            "must be a relative path without `.`/`..` components, empty components, backslashes or NUL",
        ))
    }
}

fn check_line(key: &str, s: &str) -> Result<(), SpecError> {
    if s.contains('\n') || s.contains('\0') {
        return Err(bad(
            key,
            s,
            "must not contain newlines or NUL (one entry per line in the image)",
        ));
    }
    Ok(())
}

fn check_sha256(key: &str, h: &str) -> Result<(), SpecError> {
    if is_hex(h, 64) {
        Ok(())
    } else {
        Err(bad(key, h, "64 lowercase hex digits"))
    }
}

fn validate_debian(profile: &str, d: &DebianKernel) -> Result<(), SpecError> {
    let key = |k: &str| format!("profiles.{profile}.debian.{k}");
    let deb_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 200
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.~:".contains(&b))
    };
    if !deb_name(&d.package) || d.package.contains(':') {
        return Err(bad(key("package"), &d.package, "a Debian package name ([a-z0-9+.-])"));
    }
    if !deb_name(&d.version) {
        return Err(bad(
            key("version"),
            &d.version,
            "an exact Debian version (e.g. 6.12.118-1~deb12u1)",
        ));
    }
    if !deb_name(&d.arch) || d.arch.contains(':') {
        return Err(bad(key("arch"), &d.arch, "a Debian architecture (amd64, arm64)"));
    }
    check_sha256(&key("deb_sha256"), &d.deb_sha256)?;
    for (k, f) in [("kernel", &d.kernel), ("kernel_config", &d.kernel_config)] {
        check_rel_path(&key(&format!("{k}.path")), &f.path)?;
        check_sha256(&key(&format!("{k}.sha256")), &f.sha256)?;
    }
    if d.modules.len() > 99 {
        return Err(bad(key("modules"), &d.modules.len().to_string(), "at most 99 modules"));
    }
    for (i, m) in d.modules.iter().enumerate() {
        check_rel_path(&key(&format!("modules[{i}].path")), &m.path)?;
        check_sha256(&key(&format!("modules[{i}].sha256")), &m.sha256)?;
        let stem = m
            .path
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".ko.xz").or_else(|| f.strip_suffix(".ko")))
            .unwrap_or_default();
        if stem.is_empty() || !stem.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-".contains(&c))
        {
            return Err(bad(
                key(&format!("modules[{i}].path")),
                &m.path,
                "a kernel module file: NAME.ko or NAME.ko.xz, NAME of [A-Za-z0-9_-]",
            ));
        }
        match (m.path.ends_with(".ko.xz"), &m.ko_sha256) {
            (true, Some(h)) => check_sha256(&key(&format!("modules[{i}].ko_sha256")), h)?,
            (true, None) => {
                return Err(missing(
                    key(&format!("modules[{i}].ko_sha256")),
                    "the SHA-256 of the decompressed .ko the image carries",
                ))
            }
            (false, Some(_)) => {
                return Err(bad(
                    key(&format!("modules[{i}].ko_sha256")),
                    "",
                    "only for .ko.xz modules (a plain .ko is pinned by sha256)",
                ))
            }
            (false, None) => {}
        }
    }
    Ok(())
}

fn check_name(key: &str, s: &str) -> Result<(), SpecError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(bad(key, s, "must be 1-128 characters of [A-Za-z0-9._-]"))
    }
}

impl Spec {
    /// Parses and validates a spec from its bytes.
    ///
    /// Unknown keys, missing pins, malformed hashes, unsafe paths and an
    /// unsupported format version are each a distinct [`SpecError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, SpecError> {
        if bytes.len() > MAX_SPEC_LEN {
            return Err(SpecError::TooLarge(bytes.len()));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| SpecError::Syntax { line: None, message: format!("not UTF-8: {e}") })?;
        let spec: Spec = toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            let line = line_of(text, e.span());
            match message.strip_prefix("unknown field `") {
                Some(rest) => SpecError::UnknownKey {
                    key: rest.split('`').next().unwrap_or_default().to_string(),
                    line,
                    message,
                },
                None => SpecError::Syntax { line, message },
            }
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// SHA-256 of the spec bytes, lowercase hex (the cache key and manifest use it).
    pub fn hash_bytes(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn validate(&self) -> Result<(), SpecError> {
        if self.spec_version != SPEC_FORMAT_VERSION {
            return Err(SpecError::UnsupportedVersion(self.spec_version));
        }
        check_name("image.name", &self.image.name)?;
        check_name("image.version", &self.image.version)?;
        if self.image.arch != "x86_64" && self.image.arch != "aarch64" {
            return Err(bad("image.arch", &self.image.arch, "must be `x86_64` or `aarch64`"));
        }
        if self.image.cmdline.trim() != self.image.cmdline || self.image.cmdline.is_empty() {
            return Err(bad(
                "image.cmdline",
                &self.image.cmdline,
                "must be non-empty without leading/trailing whitespace (it is measured byte for byte)",
            ));
        }
        check_line("image.cmdline", &self.image.cmdline)?;
        if let Some(r) = &self.image.repository {
            if r.is_empty() || r.len() > 512 || r.chars().any(char::is_control) {
                return Err(bad(
                    "image.repository",
                    r,
                    "a non-empty repository name of at most 512 characters, no control characters",
                ));
            }
        }

        let release = self.toolchain.release.as_deref().ok_or_else(|| {
            missing("toolchain.release", "the exact rustc release (`rustc -vV` release:)")
        })?;
        if release.is_empty()
            || !release.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        {
            return Err(bad("toolchain.release", release, "a rustc release such as `1.95.0`"));
        }
        let commit = self.toolchain.commit_hash.as_deref().ok_or_else(|| {
            missing("toolchain.commit_hash", "the exact rustc commit (`rustc -vV` commit-hash:)")
        })?;
        if !is_hex(commit, 40) {
            return Err(bad("toolchain.commit_hash", commit, "40 lowercase hex digits"));
        }

        match &self.time.source_date_epoch {
            None => {
                return Err(missing(
                    "time.source_date_epoch",
                    "`\"commit\"` or a fixed integer; the build never reads the clock",
                ))
            }
            Some(EpochPolicy::Fixed(n)) if *n < 0 || *n > u32::MAX as i64 => {
                return Err(bad(
                    "time.source_date_epoch",
                    &n.to_string(),
                    "0..=4294967295 (newc mtime is 32-bit)",
                ))
            }
            Some(EpochPolicy::Keyword(k)) if k != "commit" => {
                return Err(bad("time.source_date_epoch", k, "`\"commit\"` or an integer"))
            }
            _ => {}
        }

        if self.cargo.workspace.contains('\0') || self.cargo.workspace.is_empty() {
            return Err(bad(
                "cargo.workspace",
                &self.cargo.workspace,
                "a directory relative to the spec file",
            ));
        }
        check_name("cargo.target", &self.cargo.target)?;
        check_name("cargo.profile", &self.cargo.profile)?;
        for (i, f) in self.cargo.rustflags.iter().enumerate() {
            if f.contains('\x1f') || f.contains('\n') {
                return Err(bad(format!("cargo.rustflags[{i}]"), f, "no newlines or 0x1f"));
            }
        }
        let app = self.validate_app()?;
        let mut binaries = vec![("init", &self.init)];
        if let AppSource::Cargo(b) = &app {
            binaries.push(("app", b));
        }
        for (key, b) in binaries {
            check_name(&format!("{key}.package"), &b.package)?;
            check_name(&format!("{key}.bin"), &b.bin)?;
            for (i, f) in b.features.iter().enumerate() {
                let ok = !f.is_empty()
                    && f.len() <= 128
                    && f.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_/".contains(&c));
                if !ok {
                    return Err(bad(
                        format!("{key}.features[{i}]"),
                        f,
                        "a cargo feature name ([A-Za-z0-9_-], optionally dep/feature)",
                    ));
                }
            }
        }
        if !self.init.args.is_empty() || !self.init.env.is_empty() {
            return Err(bad("init.args/env", "", "the init takes no arguments or environment"));
        }
        for (i, a) in self.app.args.iter().enumerate() {
            check_line(&format!("app.args[{i}]"), a)?;
        }
        for (i, e) in self.app.env.iter().enumerate() {
            check_line(&format!("app.env[{i}]"), e)?;
            match e.split_once('=') {
                Some((name, _)) if !name.is_empty() && !name.contains(char::is_whitespace) => {}
                _ => return Err(bad(format!("app.env[{i}]"), e, "NAME=value")),
            }
        }
        for (i, f) in self.rootfs.files.iter().enumerate() {
            check_rel_path(&format!("rootfs.files[{i}].path"), &f.path)?;
            check_rel_path(&format!("rootfs.files[{i}].source"), &f.source)?;
            if f.mode > 0o7777 {
                return Err(bad(
                    format!("rootfs.files[{i}].mode"),
                    &format!("{:o}", f.mode),
                    "permission bits only (<= 0o7777)",
                ));
            }
        }

        if self.profiles.is_empty() {
            return Err(missing("profiles", "at least one profile (`production`, `demo`)"));
        }
        let mut needs_blobs = false;
        for (name, p) in &self.profiles {
            check_name(&format!("profiles.{name}"), name)?;
            if let Some(t) = &p.target {
                check_name(&format!("profiles.{name}.target"), t)?;
                if p.target_reason.as_deref().map_or(true, |r| r.trim().is_empty()) {
                    return Err(missing(
                        format!("profiles.{name}.target_reason"),
                        "a profile that changes the target must say why (it is printed in every output)",
                    ));
                }
            }
            needs_blobs |= p.kernel == KernelSource::NitroCliBlobs;
            self.validate_profile_extras(name, p)?;
        }
        if needs_blobs {
            let b = self
                .blobs
                .as_ref()
                .ok_or_else(|| missing("blobs", "a profile uses kernel = \"nitro-cli-blobs\""))?;
            if b.repository.is_empty() {
                return Err(bad("blobs.repository", "", "a git URL"));
            }
            let c = b.commit.as_deref().ok_or_else(|| {
                missing("blobs.commit", "the nitro-cli commit the blobs are taken from")
            })?;
            if !is_hex(c, 40) {
                return Err(bad("blobs.commit", c, "40 lowercase hex digits"));
            }
            let mut files = vec![("kernel", &b.kernel), ("kernel_config", &b.kernel_config)];
            if let Some(n) = &b.nsm_ko {
                files.push(("nsm_ko", n));
            }
            for (k, f) in files {
                check_rel_path(&format!("blobs.{k}.path"), &f.path)?;
                if let Some(h) = &f.sha256 {
                    if !is_hex(h, 64) {
                        return Err(bad(format!("blobs.{k}.sha256"), h, "64 lowercase hex digits"));
                    }
                }
                if let Some(h) = &f.git_blob {
                    if !is_hex(h, 40) {
                        return Err(bad(
                            format!("blobs.{k}.git_blob"),
                            h,
                            "40 lowercase hex digits",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// `app_args` and `[profiles.<name>.debian]`.
    fn validate_profile_extras(&self, name: &str, p: &Profile) -> Result<(), SpecError> {
        if let Some(args) = &p.app_args {
            if self.app.oci.is_some() {
                return Err(SpecError::Conflict {
                    first: format!("profiles.{name}.app_args"),
                    second: "app.oci".into(),
                    why: "an OCI image brings its own command; put the arguments into the image",
                });
            }
            for (i, a) in args.iter().enumerate() {
                check_line(&format!("profiles.{name}.app_args[{i}]"), a)?;
            }
        }
        match (p.kernel, &p.debian) {
            (KernelSource::DebianPackage, None) => Err(missing(
                format!("profiles.{name}.debian"),
                "kernel = \"debian-package\" needs the package, version, .deb sha256 and file pins",
            )),
            (KernelSource::DebianPackage, Some(d)) => validate_debian(name, d),
            (_, Some(_)) => Err(bad(
                format!("profiles.{name}.debian"),
                "",
                "only with kernel = \"debian-package\"",
            )),
            (_, None) => Ok(()),
        }
    }

    /// Checks the `[app]` table's shape (see [`App`]) and returns the
    /// application source with every default applied.
    fn validate_app(&self) -> Result<AppSource, SpecError> {
        let a = &self.app;
        let Some(oci) = &a.oci else {
            let package = a.package.clone().ok_or_else(|| {
                missing(
                    "app.package",
                    "the application: `package` + `bin` (a cargo binary) or an `[app.oci]` table \
                     (an OCI image pinned by digest)",
                )
            })?;
            let bin = a.bin.clone().ok_or_else(|| {
                missing(
                    "app.bin",
                    "the binary target of `app.package` installed as rootfs/bin/<bin>",
                )
            })?;
            return Ok(AppSource::Cargo(Binary {
                package,
                bin,
                args: a.args.clone(),
                env: a.env.clone(),
                features: a.features.clone(),
            }));
        };
        const EXCLUSIVE: &str = "an OCI image is the whole application ramdisk (its layers are \
             the root filesystem, its config's CMD/ENTRYPOINT and Env become /cmd and /env); \
             build the binary, files, arguments or environment into the image instead";
        for (key, present) in [
            ("app.package", a.package.is_some()),
            ("app.bin", a.bin.is_some()),
            ("app.args", !a.args.is_empty()),
            ("app.env", !a.env.is_empty()),
            ("app.features", !a.features.is_empty()),
            ("rootfs.files", !self.rootfs.files.is_empty()),
        ] {
            if present {
                return Err(SpecError::Conflict {
                    first: key.into(),
                    second: "app.oci".into(),
                    why: EXCLUSIVE,
                });
            }
        }
        check_rel_path("app.oci.image", &oci.image)?;
        let digest = oci.digest.as_deref().ok_or_else(|| {
            missing(
                "app.oci.digest",
                "the image manifest (or index) digest, `sha256:…`; a path or tag alone can change \
                 under the build (docker save: the image ID)",
            )
        })?;
        if digest.parse::<Sha256Digest>().is_err() {
            return Err(bad(
                "app.oci.digest",
                digest,
                "`sha256:` followed by 64 lower-case hex digits (manifest or index digest)",
            ));
        }
        let for_arch = if self.image.arch == "aarch64" { "linux/arm64" } else { "linux/amd64" };
        let platform = match &oci.platform {
            None => for_arch.to_string(),
            Some(p) => {
                let parsed: Platform = p.parse().map_err(|_| {
                    bad("app.oci.platform", p, "`linux/amd64` or `linux/arm64` (Nitro Enclaves)")
                })?;
                if parsed.to_string() != for_arch {
                    return Err(bad(
                        "app.oci.platform",
                        p,
                        "must match image.arch (x86_64 = linux/amd64, aarch64 = linux/arm64)",
                    ));
                }
                parsed.to_string()
            }
        };
        Ok(AppSource::Oci(OciAppSpec {
            image: oci.image.clone(),
            digest: Some(digest.to_string()),
            platform: Some(platform),
        }))
    }

    /// The application source: a cargo binary or an OCI image, with the
    /// image's platform defaulted from `image.arch`.
    ///
    /// Only valid on a spec returned by [`Spec::parse`] (which has already
    /// checked the `[app]` table); on a hand-built spec it reports the same
    /// error `parse` would.
    pub fn app_source(&self) -> Result<AppSource, SpecError> {
        self.validate_app()
    }

    /// The profile called `name`.
    pub fn profile(&self, name: &str) -> Result<&Profile, SpecError> {
        self.profiles.get(name).ok_or_else(|| SpecError::UnknownProfile {
            name: name.to_string(),
            available: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// The target triple a profile builds for, and the reason when it departs
    /// from `cargo.target`.
    pub fn target_for(&self, profile: &Profile) -> (String, Option<String>) {
        match &profile.target {
            Some(t) if t != &self.cargo.target => (t.clone(), profile.target_reason.clone()),
            _ => (self.cargo.target.clone(), None),
        }
    }

    /// The pinned toolchain release (validated present).
    pub fn toolchain_release(&self) -> &str {
        self.toolchain.release.as_deref().unwrap_or_default()
    }

    /// The pinned toolchain commit hash (validated present).
    pub fn toolchain_commit(&self) -> &str {
        self.toolchain.commit_hash.as_deref().unwrap_or_default()
    }

    /// `Some(n)` for a fixed epoch, `None` for the commit-time policy.
    pub fn fixed_epoch(&self) -> Option<u64> {
        match self.time.source_date_epoch {
            Some(EpochPolicy::Fixed(n)) => u64::try_from(n).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"
spec_version = 1
[image]
name = "demo"
version = "1.0"
arch = "x86_64"
cmdline = "console=ttyS0"
[toolchain]
release = "1.95.0"
commit_hash = "59807616e1fa2540724bfbac14d7976d7e4a3860"
[time]
source_date_epoch = "commit"
[cargo]
workspace = "."
target = "x86_64-unknown-linux-musl"
profile = "release"
[init]
package = "p"
bin = "init"
[app]
package = "p"
bin = "app"
args = ["--x"]
env = ["A=b"]
[blobs]
repository = "https://github.com/aws/aws-nitro-enclaves-cli"
commit = "2950b3699d81ad304df2458915688a552734833d"
kernel = { path = "blobs/x86_64/bzImage" }
kernel_config = { path = "blobs/x86_64/bzImage.config" }
nsm_ko = { path = "blobs/x86_64/nsm.ko", sha256 = "48904e520db2541ca4378da29d85791749408febc81987ade56cc5c556bd90df" }
[profiles.production]
kernel = "nitro-cli-blobs"
[profiles.demo]
kernel = "demo-stand-in"
target = "x86_64-unknown-linux-gnu"
target_reason = "musl not installable offline"
"#;

    #[test]
    fn good_spec_parses() {
        let s = Spec::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(s.toolchain_release(), "1.95.0");
        let demo = s.profile("demo").unwrap();
        assert_eq!(s.target_for(demo).0, "x86_64-unknown-linux-gnu");
        assert_eq!(s.target_for(s.profile("production").unwrap()).0, "x86_64-unknown-linux-musl");
        assert!(matches!(s.profile("nope"), Err(SpecError::UnknownProfile { .. })));
    }

    #[test]
    fn unknown_key_is_named() {
        let t = GOOD.replace("[toolchain]\n", "[toolchain]\nchannel = \"stable\"\n");
        match Spec::parse(t.as_bytes()) {
            Err(SpecError::UnknownKey { key, line, .. }) => {
                assert_eq!(key, "channel");
                assert_eq!(line, Some(9));
            }
            other => panic!("{other:?}"),
        }
        let t = GOOD.replace("spec_version = 1\n", "spec_version = 1\nextra = 2\n");
        assert!(
            matches!(Spec::parse(t.as_bytes()), Err(SpecError::UnknownKey { key, .. }) if key == "extra")
        );
    }

    #[test]
    fn missing_pins_are_named() {
        for (from, key) in [
            (
                "commit_hash = \"59807616e1fa2540724bfbac14d7976d7e4a3860\"\n",
                "toolchain.commit_hash",
            ),
            ("release = \"1.95.0\"\n", "toolchain.release"),
            ("source_date_epoch = \"commit\"\n", "time.source_date_epoch"),
            ("commit = \"2950b3699d81ad304df2458915688a552734833d\"\n", "blobs.commit"),
            ("target_reason = \"musl not installable offline\"\n", "profiles.demo.target_reason"),
        ] {
            let t = GOOD.replace(from, "");
            match Spec::parse(t.as_bytes()) {
                Err(SpecError::MissingPin { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_pins_rejected() {
        for (from, to, key) in [
            ("59807616e1fa2540724bfbac14d7976d7e4a3860", "59807616", "toolchain.commit_hash"),
            (
                "48904e520db2541ca4378da29d85791749408febc81987ade56cc5c556bd90df",
                "4890",
                "blobs.nsm_ko.sha256",
            ),
            ("\"commit\"", "\"now\"", "time.source_date_epoch"),
            ("blobs/x86_64/bzImage\"", "../bzImage\"", "blobs.kernel.path"),
            ("cmdline = \"console=ttyS0\"", "cmdline = \"console=ttyS0 \"", "image.cmdline"),
            ("env = [\"A=b\"]", "env = [\"Ab\"]", "app.env[0]"),
            ("env = [\"A=b\"]", "env = [\"A=b\"]\nfeatures = [\"a,b\"]", "app.features[0]"),
        ] {
            let t = GOOD.replace(from, to);
            match Spec::parse(t.as_bytes()) {
                Err(SpecError::BadValue { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
        let t = GOOD.replace("spec_version = 1", "spec_version = 2");
        assert_eq!(Spec::parse(t.as_bytes()), Err(SpecError::UnsupportedVersion(2)));
        assert!(matches!(Spec::parse(b"[image"), Err(SpecError::Syntax { .. })));
        assert!(matches!(Spec::parse(&vec![b' '; MAX_SPEC_LEN + 1]), Err(SpecError::TooLarge(_))));
    }

    #[test]
    fn features_parse() {
        let t =
            GOOD.replace("env = [\"A=b\"]", "env = [\"A=b\"]\nfeatures = [\"vsock\", \"nitro\"]");
        assert_eq!(Spec::parse(t.as_bytes()).unwrap().app.features, vec!["vsock", "nitro"]);
    }

    const PIN: &str = "sha256:4f1c0000000000000000000000000000000000000000000000000000000000aa";

    /// `GOOD` with the cargo application replaced by `app`.
    fn with_app(app: &str) -> String {
        GOOD.replace(
            "[app]\npackage = \"p\"\nbin = \"app\"\nargs = [\"--x\"]\nenv = [\"A=b\"]\n",
            app,
        )
    }

    #[test]
    fn oci_app_parses_with_platform_from_arch() {
        let t = with_app(&format!("[app.oci]\nimage = \"images/app\"\ndigest = \"{PIN}\"\n"));
        assert_ne!(t, GOOD, "the replacement must apply");
        let s = Spec::parse(t.as_bytes()).unwrap();
        match s.app_source().unwrap() {
            AppSource::Oci(o) => {
                assert_eq!(o.image, "images/app");
                assert_eq!(o.digest.as_deref(), Some(PIN));
                assert_eq!(o.platform.as_deref(), Some("linux/amd64"));
            }
            other => panic!("{other:?}"),
        }
        let arm = t.replace("arch = \"x86_64\"", "arch = \"aarch64\"");
        match Spec::parse(arm.as_bytes()).unwrap().app_source().unwrap() {
            AppSource::Oci(o) => assert_eq!(o.platform.as_deref(), Some("linux/arm64")),
            other => panic!("{other:?}"),
        }
        // `[app]` with only the sub-table, written as a dotted key.
        let dotted = with_app(&format!(
            "[app]\noci = {{ image = \"img.tar\", digest = \"{PIN}\", platform = \"linux/amd64\" }}\n"
        ));
        assert!(matches!(
            Spec::parse(dotted.as_bytes()).unwrap().app_source().unwrap(),
            AppSource::Oci(_)
        ));
        // The cargo form still resolves to a binary.
        match Spec::parse(GOOD.as_bytes()).unwrap().app_source().unwrap() {
            AppSource::Cargo(b) => assert_eq!((b.package.as_str(), b.bin.as_str()), ("p", "app")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oci_app_conflicts_are_named() {
        let oci = format!("[app.oci]\nimage = \"images/app\"\ndigest = \"{PIN}\"\n");
        for (app, extra, key) in [
            (format!("[app]\npackage = \"p\"\nbin = \"app\"\n{oci}"), "", "app.package"),
            (format!("[app]\nbin = \"app\"\n{oci}"), "", "app.bin"),
            (format!("[app]\nargs = [\"--x\"]\n{oci}"), "", "app.args"),
            (format!("[app]\nenv = [\"A=b\"]\n{oci}"), "", "app.env"),
            (format!("[app]\nfeatures = [\"f\"]\n{oci}"), "", "app.features"),
            (
                oci.clone(),
                "[[rootfs.files]]\npath = \"etc/x\"\nsource = \"x\"\nmode = 0o644\n",
                "rootfs.files",
            ),
        ] {
            let t = format!("{}{extra}", with_app(&app));
            match Spec::parse(t.as_bytes()) {
                Err(SpecError::Conflict { first, second, .. }) => {
                    assert_eq!((first.as_str(), second.as_str()), (key, "app.oci"))
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn oci_app_missing_and_malformed_pins() {
        // Neither a package nor an image.
        let t = with_app("[app]\n");
        assert!(
            matches!(Spec::parse(t.as_bytes()), Err(SpecError::MissingPin { key, .. }) if key == "app.package")
        );
        let t = with_app("[app]\npackage = \"p\"\n");
        assert!(
            matches!(Spec::parse(t.as_bytes()), Err(SpecError::MissingPin { key, .. }) if key == "app.bin")
        );
        let t = with_app("[app.oci]\nimage = \"images/app\"\n");
        assert!(
            matches!(Spec::parse(t.as_bytes()), Err(SpecError::MissingPin { key, .. }) if key == "app.oci.digest")
        );
        for (image, digest, platform, key) in [
            ("images/app", "sha256:4f1c", "linux/amd64", "app.oci.digest"),
            (
                "images/app",
                &PIN.to_uppercase().replace("SHA256", "sha256"),
                "linux/amd64",
                "app.oci.digest",
            ),
            ("images/app", &PIN.replace("sha256", "sha512"), "linux/amd64", "app.oci.digest"),
            ("images/app", PIN, "linux/riscv64", "app.oci.platform"),
            ("images/app", PIN, "linux/arm64", "app.oci.platform"),
            ("../app", PIN, "linux/amd64", "app.oci.image"),
            ("/abs/app", PIN, "linux/amd64", "app.oci.image"),
            ("", PIN, "linux/amd64", "app.oci.image"),
        ] {
            let t = with_app(&format!(
                "[app.oci]\nimage = \"{image}\"\ndigest = \"{digest}\"\nplatform = \"{platform}\"\n"
            ));
            match Spec::parse(t.as_bytes()) {
                Err(SpecError::BadValue { key: k, .. }) => {
                    assert_eq!(k, key, "{image} {digest} {platform}")
                }
                other => panic!("{key}: {other:?}"),
            }
        }
        // Unknown keys inside [app.oci] (a tag is not a pin).
        let t = with_app(&format!(
            "[app.oci]\nimage = \"images/app\"\ndigest = \"{PIN}\"\ntag = \"latest\"\n"
        ));
        assert!(
            matches!(Spec::parse(t.as_bytes()), Err(SpecError::UnknownKey { key, .. }) if key == "tag")
        );
    }

    #[test]
    fn fixed_epoch() {
        let t = GOOD.replace("\"commit\"", "1700000000");
        assert_eq!(Spec::parse(t.as_bytes()).unwrap().fixed_epoch(), Some(1_700_000_000));
    }
}
