//! `proofpack describe IMAGE.eif`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use build_spec::diff::ramdisk_entries;
use build_spec::eif::{read_eif_file, EifSummary, ReadOptions, SectionType};
use serde_json::json;

use crate::cli::exit;
use crate::cli::output::Format;

pub(super) const HELP: &str = "\
Examples:
  proofpack describe image.eif
  proofpack describe image.eif --format json | jq .sections
  proofpack describe image.eif --max-entries 0    # no file listings

The image is read leniently so that every defect is shown: a wrong CRC,
layout defects AWS's reader tolerates, and signature problems are listed
instead of aborting. Ramdisks are listed as cpio archives (plain or gzip).

Exit status:
  0  image is well-formed (CRC correct, no layout findings, signature, if
     any, valid, over this image's PCR0, certificate valid at this moment)
  1  described, but one of those checks failed
  2  unreadable or structurally broken image";

/// `proofpack describe`
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The enclave image.
    pub image: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Most ramdisk entries listed per ramdisk in text output (JSON lists
    /// all).
    #[arg(long, default_value_t = 200)]
    pub max_entries: usize,
}

pub(super) fn run(a: DescribeArgs) -> anyhow::Result<ExitCode> {
    let s = read_eif_file(&a.image, &ReadOptions::inspect())
        .with_context(|| format!("reading {}", a.image.display()))?;
    let cert_now = s.signature_check.as_ref().map(|c| cert_validity_now(&c.certificate));
    let healthy = s.crc_ok()
        && s.findings.is_empty()
        && s.signature_check.as_ref().map_or(true, |c| c.ok())
        && cert_now.map_or(true, |v| v == "currently valid");
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&to_json(&a, &s))?),
        Format::Text => print_text(&a, &s),
    }
    Ok(ExitCode::from(if healthy { exit::OK } else { exit::CHECK_FAILED }))
}

/// The certificate's validity against this machine's clock (nitro-cli's
/// `run-enclave` refuses certificates outside notBefore..notAfter).
fn cert_validity_now(c: &build_spec::eif::signature::CertInfo) -> &'static str {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if now < c.not_before_unix {
        "NOT YET VALID"
    } else if now > c.not_after_unix {
        "EXPIRED"
    } else {
        "currently valid"
    }
}

fn ramdisks(
    a: &DescribeArgs,
    s: &EifSummary,
) -> Vec<(usize, Result<Vec<build_spec::cpio::Entry>, String>)> {
    s.sections
        .iter()
        .filter(|x| x.kind == SectionType::Ramdisk)
        .map(|x| (x.index, ramdisk_entries(&a.image, x)))
        .collect()
}

fn to_json(a: &DescribeArgs, s: &EifSummary) -> serde_json::Value {
    let sections: Vec<_> = s
        .sections
        .iter()
        .map(|x| {
            json!({
                "index": x.index,
                "type": x.kind.aws_name(),
                "type_value": x.kind.to_u16(),
                "flags": x.flags,
                "header_offset": x.header_offset,
                "data_offset": x.data_offset,
                "size": x.size,
                "sha256": x.sha256.map(hex::encode),
            })
        })
        .collect();
    let ramdisks: Vec<_> = ramdisks(a, s)
        .into_iter()
        .map(|(i, r)| match r {
            Ok(entries) => json!({ "section": i, "format": "cpio", "entries": entries }),
            Err(e) => json!({ "section": i, "format": "unknown", "error": e }),
        })
        .collect();
    let h = &s.header;
    json!({
        "file": a.image.display().to_string(),
        "file_size": s.file_len,
        "EifVersion": h.version,
        "arch": s.arch(),
        "header": {
            "version": h.version,
            "flags": h.flags,
            "default_mem": h.default_mem,
            "default_cpus": h.default_cpus,
            "reserved": h.reserved,
            "num_sections": h.num_sections,
            "section_offsets": &h.section_offsets[..usize::from(h.num_sections)],
            "section_sizes": &h.section_sizes[..usize::from(h.num_sections)],
            "unused": h.unused,
            "eif_crc32": format!("{:08x}", h.eif_crc32),
        },
        "computed_crc32": format!("{:08x}", s.computed_crc32),
        "CheckCRC": s.crc_ok(),
        "Measurements": s.measurements().to_map_value(),
        "sections": sections,
        "metadata": s.metadata_raw.as_deref().map(|m| {
            serde_json::from_slice::<serde_json::Value>(m)
                .unwrap_or_else(|_| String::from_utf8_lossy(m).into_owned().into())
        }),
        "IsSigned": s.signature.is_some(),
        "signature": s.signature_check,
        "certificate_now": s.signature_check.as_ref().map(|c| cert_validity_now(&c.certificate)),
        "findings": s.findings.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        "ramdisks": ramdisks,
    })
}

fn ok(b: bool) -> &'static str {
    if b {
        "OK"
    } else {
        "MISMATCH"
    }
}

fn print_text(a: &DescribeArgs, s: &EifSummary) {
    let h = &s.header;
    println!("EIF {}", a.image.display());
    println!(
        "  version {}  arch {}  flags {:#06x}  default_mem {}  default_cpus {}",
        h.version,
        s.arch().name(),
        h.flags,
        h.default_mem,
        h.default_cpus
    );
    println!(
        "  file size {} bytes, {} sections (header says {})",
        s.file_len,
        s.sections.len(),
        h.num_sections
    );
    println!(
        "  CRC-32 stored {:08x} computed {:08x}  {}",
        h.eif_crc32,
        s.computed_crc32,
        ok(s.crc_ok())
    );
    println!();
    println!("Sections:");
    println!(
        "  {:>2}  {:<9} {:>12} {:>12} {:>12}  sha256",
        "#", "type", "header@", "data@", "size"
    );
    for x in &s.sections {
        println!(
            "  {:>2}  {:<9} {:>12} {:>12} {:>12}  {}",
            x.index,
            x.kind.name(),
            x.header_offset,
            x.data_offset,
            x.size,
            x.sha256.map(hex::encode).unwrap_or_default()
        );
    }
    println!();
    println!("Measurements:");
    for (i, v) in &s.measurements().pcrs {
        println!("  PCR{i:<2} {}", hex::encode(v));
    }
    if let Some(m) = &s.metadata {
        println!();
        println!("Metadata:");
        println!("  ImageName         {}", m.image_name);
        println!("  ImageVersion      {}", m.image_version);
        println!("  BuildTime         {}", m.build.build_time);
        println!("  BuildTool         {} {}", m.build.build_tool, m.build.build_tool_version);
        println!("  OperatingSystem   {}", m.build.operating_system);
        println!("  KernelVersion     {}", m.build.kernel_version);
        if !m.docker_info.is_null() {
            println!("  DockerInfo        {}", m.docker_info);
        }
        if !m.custom.is_null() {
            println!("  CustomMetadata    {}", m.custom);
        }
    } else if let Some(raw) = &s.metadata_raw {
        println!();
        println!("Metadata (unparsed): {}", String::from_utf8_lossy(raw));
    }
    if let Some(c) = &s.signature_check {
        println!();
        println!("Signature:");
        println!("  subject           {}", c.certificate.subject);
        println!("  issuer            {}", c.certificate.issuer);
        println!("  serial            {}", c.certificate.serial);
        println!(
            "  validity          {} .. {} ({})",
            c.certificate.not_before,
            c.certificate.not_after,
            cert_validity_now(&c.certificate)
        );
        println!("  sha256(cert DER)  {}", c.certificate.sha256_fingerprint);
        println!("  algorithm         {}", c.algorithm);
        println!("  PCR8              {}", hex::encode(c.pcr8));
        println!("  COSE signature    {}", if c.signature_valid { "valid" } else { "INVALID" });
        println!(
            "  signed PCR0       {} ({})",
            c.signed_pcr0.map(hex::encode).unwrap_or_else(|| "-".into()),
            if c.pcr0_matches { "matches this image" } else { "DOES NOT match this image" }
        );
        if let Some(p) = &c.problem {
            println!("  problem           {p}");
        }
    }
    if a.max_entries > 0 {
        for (i, r) in ramdisks(a, s) {
            println!();
            match r {
                Ok(entries) => {
                    println!("Ramdisk (section {i}): cpio, {} entries", entries.len());
                    for e in entries.iter().take(a.max_entries) {
                        println!("  {}", super::diff::entry_line(e));
                    }
                    if entries.len() > a.max_entries {
                        println!(
                            "  ... {} more (--max-entries, or --format json)",
                            entries.len() - a.max_entries
                        );
                    }
                }
                Err(e) => println!("Ramdisk (section {i}): not a readable cpio archive: {e}"),
            }
        }
    }
    if !s.findings.is_empty() {
        println!();
        println!("Findings:");
        for f in &s.findings {
            println!("  - {f}");
        }
    }
}
