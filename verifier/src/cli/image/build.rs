//! `proofpack eif build`

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use build_spec::cpio::{write_dir, CpioOptions, ModePolicy};
use build_spec::eif::metadata::{build_time_from_epoch, BuildMetadata};
use build_spec::eif::{Arch, EifBuilder, EifMetadata, Input, Signer};
use p384::elliptic_curve::zeroize::Zeroizing;

use crate::cli::exit;
use crate::cli::output::Format;

pub(super) const HELP: &str = "\
Examples:
  proofpack eif build --kernel bzImage --cmdline \"console=ttyS0\" \\
      --ramdisk sys.cpio --ramdisk-dir rootfs/ -o app.eif
  SOURCE_DATE_EPOCH=1700000000 proofpack eif build --kernel Image --arch aarch64 \\
      --cmdline-file cmdline --ramdisk a.cpio.gz -o app.eif --name app --version 1.2
  proofpack eif build ... --signing-certificate cert.pem --private-key key.pem -o signed.eif

Determinism: nothing depends on the clock or the host. The metadata
BuildTime is --build-time verbatim, else SOURCE_DATE_EPOCH formatted as
RFC 3339 (+00:00), else 1970-01-01T00:00:00+00:00. Directories given as
ramdisks are archived as cpio newc with entries sorted bytewise, uid/gid 0,
mtime = SOURCE_DATE_EPOCH (else 0), sequential inodes, modes preserved (or
normalised with --normalize-modes). --ramdisk and --ramdisk-dir may be
mixed; ramdisks keep their command-line order (first = PCR1, rest = PCR2).
Signatures are ES384 (P-384) with RFC 6979 nonces, so signed builds are
reproducible too.

Output: the image's PCRs on stdout (nitro-cli JSON by default).

Exit status: 0 built; 2 bad input (unreadable file, NUL in cmdline, key
not matching the certificate, ...).";

/// `proofpack eif build`
#[derive(Debug, clap::Args)]
pub struct EifBuildArgs {
    /// Kernel image (bzImage for x86_64, Image for aarch64).
    #[arg(long)]
    pub kernel: PathBuf,
    /// Kernel command line, stored verbatim.
    #[arg(long, conflicts_with = "cmdline_file", required_unless_present = "cmdline_file")]
    pub cmdline: Option<String>,
    /// Read the command line from a file; surrounding whitespace is trimmed
    /// (like nitro-cli does with its blobs' cmdline file).
    #[arg(long)]
    pub cmdline_file: Option<PathBuf>,
    /// A ramdisk: a cpio(.gz) file, or a directory to archive. Repeatable;
    /// order is kept. `--ramdisk-dir` is the same flag.
    #[arg(
        long = "ramdisk",
        visible_alias = "ramdisk-dir",
        required = true,
        value_name = "FILE|DIR"
    )]
    pub ramdisks: Vec<PathBuf>,
    /// Target architecture (header flag; not part of any PCR).
    #[arg(long, value_enum, default_value = "x86_64")]
    pub arch: ArchArg,
    /// Metadata ImageName (default: the kernel's file name, like eif_build).
    #[arg(long)]
    pub name: Option<String>,
    /// Metadata ImageVersion.
    #[arg(long, default_value = "1.0")]
    pub version: String,
    /// Custom metadata JSON file (keys are stored sorted, at most 64 KiB).
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// Metadata BuildTime, verbatim (overrides SOURCE_DATE_EPOCH).
    #[arg(long)]
    pub build_time: Option<String>,
    /// Unix time for BuildTime and cpio mtimes.
    #[arg(long, env = "SOURCE_DATE_EPOCH")]
    pub source_date_epoch: Option<i64>,
    /// Metadata BuildTool.
    #[arg(long, default_value = "proofpack")]
    pub build_tool: String,
    /// Metadata BuildToolVersion (default: this proofpack's version).
    #[arg(long)]
    pub build_tool_version: Option<String>,
    /// Metadata OperatingSystem (of the enclave kernel).
    #[arg(long, default_value = "Linux")]
    pub img_os: String,
    /// Metadata KernelVersion (of the enclave kernel).
    #[arg(long, default_value = "unknown")]
    pub img_kernel: String,
    /// For directory ramdisks: ignore filesystem permission bits (dirs
    /// 0755, executables 0755, other files 0644).
    #[arg(long)]
    pub normalize_modes: bool,
    /// PEM certificate for the signature section (PCR8).
    #[arg(long, requires = "private_key")]
    pub signing_certificate: Option<PathBuf>,
    /// P-384 private key (PKCS#8 or SEC1 PEM) matching the certificate.
    #[arg(long, requires = "signing_certificate")]
    pub private_key: Option<PathBuf>,
    /// Output file (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Format of the PCRs printed on stdout.
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
}

/// `--arch` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchArg {
    /// x86_64
    #[value(name = "x86_64")]
    X86_64,
    /// aarch64
    Aarch64,
}

fn load_signer(cert: &Path, key: &Path) -> anyhow::Result<Signer> {
    use p384::pkcs8::DecodePrivateKey;
    let cert_pem = crate::cli::input::read_limited(cert, 64 * 1024)?;
    let key_pem = Zeroizing::new(
        String::from_utf8(crate::cli::input::read_limited(key, 64 * 1024)?)
            .context("private key is not PEM text")?,
    );
    let secret = p384::SecretKey::from_pkcs8_pem(&key_pem)
        .or_else(|_| p384::SecretKey::from_sec1_pem(&key_pem))
        .map_err(|_| {
            anyhow::anyhow!("{}: not a P-384 private key in PKCS#8 or SEC1 PEM", key.display())
        })?;
    Ok(Signer { cert_pem, key: p384::ecdsa::SigningKey::from(secret) })
}

pub(super) fn run(a: EifBuildArgs) -> anyhow::Result<ExitCode> {
    let cmdline = match (&a.cmdline, &a.cmdline_file) {
        (Some(c), _) => c.clone().into_bytes(),
        (None, Some(p)) => {
            let raw = crate::cli::input::read_limited(p, 64 * 1024)?;
            String::from_utf8(raw)
                .with_context(|| format!("{} is not UTF-8", p.display()))?
                .trim()
                .as_bytes()
                .to_vec()
        }
        (None, None) => bail!("give --cmdline or --cmdline-file"),
    };
    let build_time = match (&a.build_time, a.source_date_epoch) {
        (Some(t), _) => t.clone(),
        (None, Some(e)) => build_time_from_epoch(e)
            .map_err(|e| anyhow::anyhow!("SOURCE_DATE_EPOCH out of range: {e}"))?,
        (None, None) => build_time_from_epoch(0).map_err(|e| anyhow::anyhow!(e))?,
    };
    let mtime = match a.source_date_epoch {
        Some(e) => u32::try_from(e).context("SOURCE_DATE_EPOCH must fit a cpio mtime (0..2^32)")?,
        None => 0,
    };
    let custom = match &a.metadata {
        Some(p) => serde_json::from_slice(&crate::cli::input::read_limited(p, 64 * 1024)?)
            .with_context(|| format!("{} is not JSON", p.display()))?,
        None => serde_json::Value::Null,
    };
    let name = a.name.clone().unwrap_or_else(|| {
        a.kernel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    });

    // Directory ramdisks are archived to temporary files that live until
    // the image is written.
    let mut temps = Vec::new();
    let mut ramdisks = Vec::new();
    for r in &a.ramdisks {
        let md = std::fs::metadata(r).with_context(|| format!("ramdisk {}", r.display()))?;
        if md.is_dir() {
            let opts = CpioOptions {
                modes: if a.normalize_modes { ModePolicy::Normalize } else { ModePolicy::Preserve },
                ..CpioOptions::with_mtime(mtime)
            };
            let tmp = tempfile::NamedTempFile::new().context("creating a temporary file")?;
            write_dir(r, BufWriter::new(tmp.as_file()), opts)
                .with_context(|| format!("archiving {}", r.display()))?;
            ramdisks.push(Input::File(tmp.path().to_path_buf()));
            temps.push(tmp);
        } else {
            ramdisks.push(Input::File(r.clone()));
        }
    }
    let signer = match (&a.signing_certificate, &a.private_key) {
        (Some(c), Some(k)) => Some(load_signer(c, k)?),
        _ => None,
    };
    let builder = EifBuilder {
        kernel: Input::File(a.kernel.clone()),
        cmdline,
        ramdisks,
        arch: match a.arch {
            ArchArg::X86_64 => Arch::X86_64,
            ArchArg::Aarch64 => Arch::Aarch64,
        },
        metadata: EifMetadata {
            image_name: name,
            image_version: a.version.clone(),
            build: BuildMetadata {
                build_time,
                build_tool: a.build_tool.clone(),
                build_tool_version: a
                    .build_tool_version
                    .clone()
                    .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned()),
                operating_system: a.img_os.clone(),
                kernel_version: a.img_kernel.clone(),
            },
            docker_info: serde_json::Value::Null,
            custom,
        },
        signer,
    };
    let dir = match a.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let out = builder.write_to(BufWriter::new(tmp.as_file())).context("building the image")?;
    tmp.persist(&a.output).with_context(|| format!("writing {}", a.output.display()))?;
    drop(temps);
    eprintln!("Output file: {} ({} bytes, crc32 {:08x})", a.output.display(), out.len, out.crc32);
    super::print_measurements(&out.pcrs.to_measurements(), a.format);
    Ok(ExitCode::from(exit::OK))
}
