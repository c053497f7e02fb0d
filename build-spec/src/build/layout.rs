//! The image layout: which files go into which ramdisk, and the EIF around
//! them. Same two-ramdisk layout as nitro-cli (docs/formats/eif-and-pcrs.md
//! §6.2), written with the deterministic cpio writer. An `[app.oci]` application's ramdisk is
//! written by [`crate::oci`] instead and joins here
//! ([`assemble_with_app_ramdisk`]).

use std::collections::BTreeSet;

use crate::cpio::{write_files, CpioOptions, EntryHeader, FileSource};
use crate::pcr::Measurements;
use crate::spec::Spec;

use super::BuildError;

/// mtime of every cpio entry: a constant, so PCRs depend on content only.
pub const RAMDISK_MTIME: u32 = 0;

/// Mount points the init expects inside the rootfs.
pub const ROOTFS_DIRS: &[&str] = &["bin", "dev", "proc", "run", "sys", "tmp", "var"];

/// The file contents that go into the two ramdisks.
#[derive(Debug, Clone, Copy)]
pub struct RamdiskInputs<'a> {
    /// The init binary.
    pub init: &'a [u8],
    /// `nsm.ko`, production only.
    pub nsm_ko: Option<&'a [u8]>,
    /// Kernel modules `(NN-name.ko, bytes)` for `modules/` (a Debian kernel).
    pub modules: &'a [(String, Vec<u8>)],
    /// The application binary.
    pub app_bin: &'a [u8],
    /// Its name (installed as `rootfs/bin/<name>`).
    pub app_name: &'a str,
    /// argv after the binary path.
    pub args: &'a [String],
    /// `NAME=value` lines.
    pub env: &'a [String],
    /// Extra rootfs files: (path under rootfs/, mode, source, content).
    pub rootfs_files: &'a [(String, u32, String, Vec<u8>)],
}

fn cpio_opts() -> CpioOptions {
    CpioOptions::with_mtime(RAMDISK_MTIME)
}

/// Ramdisk 0 (PCR1): `dev/`, `init`, `nsm.ko` when present, and
/// `modules/NN-name.ko` when the kernel needs modules (loaded by the init in
/// name order). Without modules the ramdisk is byte-identical to before
/// modules existed (no empty `modules/` directory).
pub fn bootstrap_ramdisk_entries(i: &RamdiskInputs<'_>) -> Vec<(EntryHeader, FileSource)> {
    bootstrap_entries(i.init, i.nsm_ko, i.modules)
}

fn bootstrap_entries(
    init: &[u8],
    nsm_ko: Option<&[u8]>,
    modules: &[(String, Vec<u8>)],
) -> Vec<(EntryHeader, FileSource)> {
    let mut v = vec![
        (EntryHeader::dir("dev", 0o755), FileSource::None),
        (EntryHeader::file("init", init.len() as u64, 0o755), FileSource::Bytes(init.to_vec())),
    ];
    if let Some(n) = nsm_ko {
        v.push((EntryHeader::file("nsm.ko", n.len() as u64, 0o755), FileSource::Bytes(n.to_vec())));
    }
    if !modules.is_empty() {
        v.push((EntryHeader::dir("modules", 0o755), FileSource::None));
        for (name, bytes) in modules {
            v.push((
                EntryHeader::file(format!("modules/{name}"), bytes.len() as u64, 0o644),
                FileSource::Bytes(bytes.clone()),
            ));
        }
    }
    v
}

/// The `/cmd` file: `/bin/<app>` then each argument, one per line.
pub fn cmd_file(app_name: &str, args: &[String]) -> Vec<u8> {
    let mut s = format!("/bin/{app_name}\n");
    for a in args {
        s.push_str(a);
        s.push('\n');
    }
    s.into_bytes()
}

/// The `/env` file: one `NAME=value` per line.
pub fn env_file(env: &[String]) -> Vec<u8> {
    env.iter().flat_map(|e| format!("{e}\n").into_bytes()).collect()
}

/// Ramdisk 1 (PCR2): `rootfs/` with its mount points, `rootfs/bin/<app>`,
/// the spec's extra files (with parent directories), `cmd` and `env`.
pub fn app_ramdisk_entries(i: &RamdiskInputs<'_>) -> Vec<(EntryHeader, FileSource)> {
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    dirs.insert("rootfs".into());
    for d in ROOTFS_DIRS {
        dirs.insert(format!("rootfs/{d}"));
    }
    for (path, ..) in i.rootfs_files {
        let mut acc = String::from("rootfs");
        let comps: Vec<&str> = path.split('/').collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            acc.push('/');
            acc.push_str(c);
            dirs.insert(acc.clone());
        }
    }
    let mut v: Vec<(EntryHeader, FileSource)> =
        dirs.into_iter().map(|d| (EntryHeader::dir(d, 0o755), FileSource::None)).collect();
    v.push((
        EntryHeader::file(format!("rootfs/bin/{}", i.app_name), i.app_bin.len() as u64, 0o755),
        FileSource::Bytes(i.app_bin.to_vec()),
    ));
    for (path, mode, _, content) in i.rootfs_files {
        v.push((
            EntryHeader::file(format!("rootfs/{path}"), content.len() as u64, *mode),
            FileSource::Bytes(content.clone()),
        ));
    }
    let cmd = cmd_file(i.app_name, i.args);
    let env = env_file(i.env);
    v.push((EntryHeader::file("cmd", cmd.len() as u64, 0o644), FileSource::Bytes(cmd)));
    v.push((EntryHeader::file("env", env.len() as u64, 0o644), FileSource::Bytes(env)));
    v
}

/// Non-measured metadata inputs.
#[derive(Debug, Clone)]
pub struct MetadataInputs<'a> {
    /// `SOURCE_DATE_EPOCH` -> `BuildTime`.
    pub source_date_epoch: u64,
    /// From the kernel config.
    pub operating_system: String,
    /// From the kernel config.
    pub kernel_version: String,
    /// Profile name.
    pub profile: &'a str,
    /// SHA-256 of the spec.
    pub spec_sha256: String,
    /// The toolchain did not match its pin (recorded in the image too).
    pub toolchain_mismatch_allowed: bool,
    /// Demo kernel.
    pub not_bootable: bool,
}

/// An assembled image.
#[derive(Debug, Clone)]
pub struct AssembledImage {
    /// The EIF bytes.
    pub eif: Vec<u8>,
    /// Ramdisk 0 bytes.
    pub ramdisk0: Vec<u8>,
    /// Ramdisk 1 bytes.
    pub ramdisk1: Vec<u8>,
    /// PCR0/1/2.
    pub measurements: Measurements,
}

/// Writes both ramdisks and the EIF, and computes the PCRs.
pub fn assemble(
    spec: &Spec,
    inputs: &RamdiskInputs<'_>,
    kernel: &[u8],
    meta: MetadataInputs<'_>,
) -> Result<AssembledImage, BuildError> {
    let ramdisk1 = write_files(app_ramdisk_entries(inputs), Vec::new(), cpio_opts())
        .map_err(|e| BuildError::Assemble(e.to_string()))?;
    assemble_with_app_ramdisk(spec, inputs, ramdisk1, kernel, meta)
}

/// Like [`assemble`], with an application ramdisk written elsewhere (the
/// OCI converter, [`crate::oci`]): the bootstrap ramdisk, EIF and PCRs are
/// produced by exactly the same code as for a cargo application.
/// Only the bootstrap fields of `boot` (init, `nsm.ko`, modules) are used.
pub fn assemble_with_app_ramdisk(
    spec: &Spec,
    boot: &RamdiskInputs<'_>,
    ramdisk1: Vec<u8>,
    kernel: &[u8],
    meta: MetadataInputs<'_>,
) -> Result<AssembledImage, BuildError> {
    let ramdisk0 = write_files(bootstrap_ramdisk_entries(boot), Vec::new(), cpio_opts())
        .map_err(|e| BuildError::Assemble(e.to_string()))?;
    let (eif, measurements) =
        super::eif_glue::write_eif(spec, kernel, &ramdisk0, &ramdisk1, &meta)?;
    Ok(AssembledImage { eif, ramdisk0, ramdisk1, measurements })
}
