//! `proofpack diff A.eif B.eif`

use std::path::PathBuf;
use std::process::ExitCode;

use build_spec::cpio::{Entry, EntryKind};
use build_spec::diff::{diff_files, Detail, EifDiff, FieldChange, Status};

use crate::cli::exit;
use crate::cli::output::Format;

pub(super) const HELP: &str = "\
Examples:
  proofpack diff old.eif new.eif
  proofpack diff old.eif new.eif --format json
  proofpack diff old.eif new.eif --pcrs-only && echo same measurements

Every section is paired by role (kernel, cmdline, metadata, ramdisk[i],
signature) and tied to the PCRs it feeds: kernel, cmdline and ramdisk[0]
-> PCR0+PCR1; ramdisk[1..] -> PCR0+PCR2; signature -> PCR8; metadata -> no
PCR (only the file hash and CRC). Changed ramdisks are compared file by
file (added, removed, changed size/mode/mtime/owner/content/inode).

Exit status:
  0  identical (with --pcrs-only: same PCRs)
  1  different
  2  unreadable or malformed image";

/// `proofpack diff`
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The reference image.
    pub a: PathBuf,
    /// The image to compare.
    pub b: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 0 when the PCRs agree even if other bytes differ.
    #[arg(long)]
    pub pcrs_only: bool,
    /// Most entries shown per changed ramdisk in text output.
    #[arg(long, default_value_t = 30)]
    pub max_entries: usize,
}

pub(super) fn run(a: DiffArgs) -> anyhow::Result<ExitCode> {
    let d = diff_files(&a.a, &a.b)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&d)?),
        Format::Text => print_text(&a, &d),
    }
    let same = if a.pcrs_only { !d.pcrs_differ() } else { d.identical };
    Ok(ExitCode::from(if same { exit::OK } else { exit::CHECK_FAILED }))
}

fn short(h: &Option<String>) -> String {
    h.as_deref().map_or_else(|| "(absent)".into(), |s| format!("{}…", &s[..s.len().min(16)]))
}

fn pcr_list(p: &[u8]) -> String {
    if p.is_empty() {
        "no PCR: file hash/CRC only".into()
    } else {
        p.iter().map(|i| format!("PCR{i}")).collect::<Vec<_>>().join("+")
    }
}

fn field(f: &FieldChange) -> String {
    let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "(absent)".into());
    let (a, b) = (v(&f.a), v(&f.b));
    if f.field == "sha256" {
        format!("content {}… -> {}…", &a[..a.len().min(12)], &b[..b.len().min(12)])
    } else {
        format!("{} {a} -> {b}", f.field)
    }
}

/// One listing line for an entry: `mode uid:gid size mtime sha256 path`.
pub(super) fn entry_line(e: &Entry) -> String {
    let (t, extra) = match &e.kind {
        EntryKind::Dir => ('d', String::new()),
        EntryKind::File { .. } => ('-', String::new()),
        EntryKind::Symlink { target } => ('l', format!(" -> {target}")),
        EntryKind::Special { file_type, rdev_major, rdev_minor } => {
            let c = build_spec::cpio::special_name(*file_type).chars().next().unwrap_or('?');
            (c, format!(" ({rdev_major}:{rdev_minor})"))
        }
    };
    format!(
        "{t}{:04o} {:>5}:{:<5} {:>10} mtime {:>10} {} {}{extra}",
        e.mode,
        e.uid,
        e.gid,
        e.size,
        e.mtime,
        &hex::encode(e.sha256)[..12],
        e.path
    )
}

fn print_text(a: &DiffArgs, d: &EifDiff) {
    println!("A: {}\nB: {}", a.a.display(), a.b.display());
    if d.identical {
        println!("identical: same header, same sections, same PCRs");
        return;
    }
    if d.pcrs.is_empty() {
        println!("PCRs: all equal (the images attest identically)");
    } else {
        println!("PCRs that differ:");
        for p in &d.pcrs {
            let why = if p.because.is_empty() {
                "no single section explains it (bytes moved across section boundaries?)".into()
            } else {
                format!("because {} changed", p.because.join(", "))
            };
            println!("  PCR{:<2} {} -> {}  {why}", p.index, short(&p.a), short(&p.b));
        }
    }
    println!("Sections:");
    for s in &d.sections {
        let size = |x: Option<u64>| x.map_or_else(|| "-".into(), |v| v.to_string());
        let status = match s.status {
            Status::Same => "same",
            Status::Changed => "CHANGED",
            Status::Added => "ADDED",
            Status::Removed => "REMOVED",
        };
        let sizes = if s.a_size == s.b_size {
            format!("{} B", size(s.a_size))
        } else {
            format!("{} B -> {} B", size(s.a_size), size(s.b_size))
        };
        println!("  {:<11} {:<8} {:<24} ({})", s.role, status, sizes, pcr_list(&s.pcrs));
        match &s.detail {
            None => {}
            Some(Detail::Cmdline { a, b }) => {
                println!("      - {a:?}");
                println!("      + {b:?}");
            }
            Some(Detail::Metadata { fields }) | Some(Detail::Signature { fields }) => {
                for f in fields {
                    println!("      {}", field(f));
                }
            }
            Some(Detail::Opaque { reason }) => println!("      (not listable: {reason})"),
            Some(Detail::Cpio(c)) => {
                let mut lines = Vec::new();
                for e in &c.added {
                    lines.push(format!("+ {}", entry_line(e)));
                }
                for e in &c.removed {
                    lines.push(format!("- {}", entry_line(e)));
                }
                for e in &c.changed {
                    let f: Vec<_> = e.fields.iter().map(field).collect();
                    lines.push(format!("~ {}: {}", e.path, f.join(", ")));
                }
                if c.reordered {
                    lines.push("entries are stored in a different order".into());
                }
                if c.framing_only {
                    lines.push(
                        "same entries; only archive framing differs (padding, compression)".into(),
                    );
                }
                let n = lines.len();
                for l in lines.iter().take(a.max_entries) {
                    println!("      {l}");
                }
                if n > a.max_entries {
                    println!(
                        "      ... {} more (--max-entries, or --format json)",
                        n - a.max_entries
                    );
                }
            }
        }
    }
    if !d.header.is_empty() {
        let h: Vec<_> = d.header.iter().map(field).collect();
        println!("Header: {}", h.join("; "));
    }
}
