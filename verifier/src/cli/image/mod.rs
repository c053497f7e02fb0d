//! Image subcommands: `pcrs`, `describe`, `pcr`, `eif build`, `diff`.
//!
//! All of them are thin renderers over `build_spec::eif`, `build_spec::cpio`
//! and `build_spec::diff`; no format logic lives here.

mod build;
mod describe;
mod diff;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use build_spec::eif::{read_eif_file, signature, ReadOptions};
use build_spec::pcr::Measurements;

use super::exit;
use super::output::Format;

pub use build::EifBuildArgs;
pub use describe::DescribeArgs;
pub use diff::DiffArgs;

/// The image subcommands (flattened into the top-level command list).
#[derive(Debug, clap::Subcommand)]
pub enum ImageCmd {
    /// Print an EIF's PCR0/1/2 (and PCR8 when signed) like nitro-cli.
    #[command(after_help = PCRS_HELP)]
    Pcrs(PcrsArgs),
    /// Show everything inside an EIF: header, sections, CRC, metadata,
    /// signature, ramdisk file listings.
    #[command(after_help = describe::HELP)]
    Describe(DescribeArgs),
    /// `nitro-cli pcr`: the PCR value of one file or of a signing certificate.
    #[command(after_help = PCR_HELP)]
    Pcr(PcrArgs),
    /// Build enclave images.
    #[command(subcommand)]
    Eif(EifCmd),
    /// Compare two EIFs: which PCRs differ and why, down to files in ramdisks.
    #[command(after_help = diff::HELP)]
    Diff(DiffArgs),
}

/// `proofpack eif ...`
#[derive(Debug, clap::Subcommand)]
pub enum EifCmd {
    /// Build a deterministic EIF from a kernel, a command line and ramdisks.
    #[command(after_help = build::HELP)]
    Build(Box<EifBuildArgs>),
}

/// Runs one image subcommand.
pub fn run(cmd: ImageCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ImageCmd::Pcrs(a) => run_pcrs(a),
        ImageCmd::Describe(a) => describe::run(a),
        ImageCmd::Pcr(a) => run_pcr(a),
        ImageCmd::Eif(EifCmd::Build(a)) => build::run(*a),
        ImageCmd::Diff(a) => diff::run(a),
    }
}

const PCRS_HELP: &str = "\
Examples:
  proofpack pcrs image.eif
  proofpack pcrs image.eif --format text
  proofpack pcrs image.eif --lenient   # accept what nitro-cli accepts

The JSON is nitro-cli's {\"Measurements\": {...}}; HashAlgorithm is cosmetic.
PCR8 is printed only for signed images. The file is read once; PCR2 is
hashed on a second thread.

Exit status:
  0  PCRs printed
  1  PCRs printed, but the image is signed and its signature does not verify
     or does not sign this image's PCR0
  2  unreadable or malformed image (each defect names its offset and field)";

/// `proofpack pcrs`
#[derive(Debug, clap::Args)]
pub struct PcrsArgs {
    /// The enclave image.
    pub image: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// Accept layout defects AWS's reader tolerates (reported on stderr),
    /// and a wrong CRC.
    #[arg(long)]
    pub lenient: bool,
}

fn read_opts(lenient: bool) -> ReadOptions {
    if lenient {
        ReadOptions { require_crc: false, strict: false, ..ReadOptions::default() }
    } else {
        ReadOptions::default()
    }
}

/// Prints measurements in the requested format.
pub(crate) fn print_measurements(m: &Measurements, format: Format) {
    match format {
        Format::Json => println!("{}", m.to_nitro_json()),
        Format::Text => {
            for (i, v) in &m.pcrs {
                println!("PCR{i:<2} {}", hex::encode(v));
            }
        }
    }
}

fn run_pcrs(a: PcrsArgs) -> anyhow::Result<ExitCode> {
    let s = read_eif_file(&a.image, &read_opts(a.lenient))
        .with_context(|| format!("reading {}", a.image.display()))?;
    for f in &s.findings {
        eprintln!("warning: {f}");
    }
    if a.lenient && !s.crc_ok() {
        eprintln!(
            "warning: CRC mismatch: stored {:08x}, computed {:08x}",
            s.header.eif_crc32, s.computed_crc32
        );
    }
    print_measurements(&s.measurements(), a.format);
    if let Some(c) = &s.signature_check {
        if !c.ok() {
            eprintln!(
                "error: signature check failed: {}",
                c.problem.as_deref().unwrap_or("unknown")
            );
            return Ok(ExitCode::from(exit::CHECK_FAILED));
        }
    }
    Ok(ExitCode::from(exit::OK))
}

const PCR_HELP: &str = "\
Examples:
  proofpack pcr --input ramdisk.cpio          # {\"PCR\": ...}
  proofpack pcr --signing-certificate cert.pem  # {\"PCR8\": ...}

--input: SHA384(0^48 || SHA384(file)), nitro-cli's definition; equals PCR2
when the file is an image's only application ramdisk.
--signing-certificate: the PEM is decoded to DER and measured the same way.

Exit status: 0 printed; 2 unreadable file or not a PEM certificate.";

/// `proofpack pcr`
#[derive(Debug, clap::Args)]
pub struct PcrArgs {
    /// Any file (kernel, ramdisk...).
    #[arg(
        long,
        conflicts_with = "signing_certificate",
        required_unless_present = "signing_certificate"
    )]
    pub input: Option<PathBuf>,
    /// A PEM X.509 signing certificate (gives PCR8).
    #[arg(long)]
    pub signing_certificate: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
}

fn run_pcr(a: PcrArgs) -> anyhow::Result<ExitCode> {
    let (key, value) = match (&a.input, &a.signing_certificate) {
        (Some(p), _) => {
            let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            let v = build_spec::pcr::pcr_of_reader(std::io::BufReader::new(f))
                .with_context(|| format!("reading {}", p.display()))?;
            ("PCR", v)
        }
        (None, Some(p)) => {
            let pem = crate::cli::input::read_limited(p, 1 << 20)?;
            let v = signature::pcr8_of_cert_pem(&pem)
                .with_context(|| format!("certificate {}", p.display()))?;
            ("PCR8", v)
        }
        (None, None) => anyhow::bail!("give --input FILE or --signing-certificate PEM"),
    };
    match a.format {
        Format::Json => {
            let v = serde_json::json!({ key: hex::encode(value) });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => println!("{key} {}", hex::encode(value)),
    }
    Ok(ExitCode::from(exit::OK))
}
