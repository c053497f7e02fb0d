//! `proofpack diff A.eif B.eif`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use build_spec::build::provenance_beside_eif;
use build_spec::cpio::{Entry, EntryKind};
use build_spec::diff::{diff_files, Detail, EifDiff, FieldChange, SectionState};
use build_spec::oci::diff::{attribute_cpio_diff, AttributedEntry, Provenance};
use build_spec::oci::Sha256Digest;

use crate::cli::exit;
use crate::cli::output::Format;

pub(super) const HELP: &str = "\
Examples:
  proofpack diff old.eif new.eif
  proofpack diff old.eif new.eif --format json
  proofpack diff old.eif new.eif --pcrs-only && echo same measurements
  proofpack diff out-old/image.eif out-new/image.eif      # [app.oci] builds
  proofpack diff a.eif b.eif --provenance-a a.json --provenance-b b.json

Every section is paired by role (kernel, cmdline, metadata, ramdisk[i],
signature) and tied to the PCRs it feeds: kernel, cmdline and ramdisk[0]
-> PCR0+PCR1; ramdisk[1..] -> PCR0+PCR2; signature -> PCR8; metadata -> no
PCR (only the file hash and CRC). Changed ramdisks are compared file by
file (added, removed, changed size/mode/mtime/owner/content/inode).

OCI applications: when both images come from `proofpack build` of an
[app.oci] spec, every changed file of the application ramdisk (ramdisk[1])
is followed by the image layer (index and digest) that introduced it on each
side. The oci-provenance.json beside each EIF is used only when the
build-manifest.json beside it records this EIF's sha256 and the provenance
file's sha256 (a stale or foreign file is reported and ignored);
--provenance-a/--provenance-b name the files explicitly and are trusted as
given. Attribution never changes the exit status.

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
    /// oci-provenance.json of A's OCI application, to name the layer behind
    /// each changed file [default: the one beside A, if its build manifest
    /// binds it to A].
    #[arg(long, value_name = "FILE")]
    pub provenance_a: Option<PathBuf>,
    /// oci-provenance.json of B's OCI application [default: the one beside B,
    /// if its build manifest binds it to B].
    #[arg(long, value_name = "FILE")]
    pub provenance_b: Option<PathBuf>,
}

/// The application ramdisk of a `proofpack build` image: the one an
/// `[app.oci]` image becomes, and the one its provenance describes.
const APP_RAMDISK: &str = "ramdisk[1]";

/// Layer attribution of the application ramdisk's changed files.
struct Attribution {
    /// Manifest digests (A, B).
    manifests: (Option<Sha256Digest>, Option<Sha256Digest>),
    /// By ramdisk path.
    entries: BTreeMap<String, AttributedEntry>,
}

fn read_provenance(p: &Path) -> anyhow::Result<Provenance> {
    let buf = crate::cli::input::read_limited(p, build_spec::oci::diff::MAX_PROVENANCE_BYTES)?;
    Provenance::from_slice(&buf).with_context(|| format!("provenance {}", p.display()))
}

/// The provenance for one side: the explicit file (an error if unreadable),
/// else the bound one beside the EIF (a note on stderr if there is one that
/// cannot be bound).
fn provenance_for(
    which: &str,
    eif: &Path,
    explicit: Option<&Path>,
) -> anyhow::Result<Option<Provenance>> {
    if let Some(p) = explicit {
        return read_provenance(p).map(Some);
    }
    match provenance_beside_eif(eif) {
        Ok(p) => Ok(p),
        Err(e) => {
            eprintln!("note: {which}: oci-provenance.json beside {} not used: {e}", eif.display());
            Ok(None)
        }
    }
}

fn attribution(a: &DiffArgs, d: &EifDiff) -> anyhow::Result<Option<Attribution>> {
    let pa = provenance_for("A", &a.a, a.provenance_a.as_deref())?;
    let pb = provenance_for("B", &a.b, a.provenance_b.as_deref())?;
    let (pa, pb) = match (pa, pb) {
        (Some(x), Some(y)) => (x, y),
        (None, None) => return Ok(None),
        (x, _) => {
            let missing = if x.is_none() { "A" } else { "B" };
            eprintln!(
                "note: no layer attribution: only one image has OCI provenance ({missing} has none)"
            );
            return Ok(None);
        }
    };
    let empty = build_spec::diff::CpioDiff::default();
    let cpio = d
        .sections
        .iter()
        .find(|s| s.role == APP_RAMDISK)
        .and_then(|s| match &s.detail {
            Some(Detail::Cpio(c)) => Some(c),
            _ => None,
        })
        .unwrap_or(&empty);
    let entries =
        attribute_cpio_diff(cpio, &pa, &pb).into_iter().map(|e| (e.path.clone(), e)).collect();
    Ok(Some(Attribution { manifests: (pa.manifest_digest, pb.manifest_digest), entries }))
}

fn layer_text(l: &Option<(u32, Sha256Digest)>) -> String {
    match l {
        Some((i, d)) => format!("layer {i} {d}"),
        None => "-".into(),
    }
}

/// ` (layer …)` after a changed path, empty for entries no layer made
/// (`cmd`, `env`, directories proofpack adds).
fn layer_suffix(att: Option<&Attribution>, path: &str) -> String {
    let Some(e) = att.and_then(|a| a.entries.get(path)) else { return String::new() };
    match (&e.old_layer, &e.new_layer) {
        (None, None) => String::new(),
        (Some(_), None) => format!("  (A: {})", layer_text(&e.old_layer)),
        (None, Some(_)) => format!("  (B: {})", layer_text(&e.new_layer)),
        (Some(_), Some(_)) => {
            format!("  (A: {}; B: {})", layer_text(&e.old_layer), layer_text(&e.new_layer))
        }
    }
}

pub(super) fn run(a: DiffArgs) -> anyhow::Result<ExitCode> {
    let d = diff_files(&a.a, &a.b)?;
    let att = attribution(&a, &d)?;
    match a.format {
        Format::Json => {
            let mut v = serde_json::to_value(&d)?;
            if let (Some(t), Some(obj)) = (&att, v.as_object_mut()) {
                obj.insert(
                    "oci".into(),
                    serde_json::json!({
                        "ramdisk": APP_RAMDISK,
                        "manifest_digests": [t.manifests.0, t.manifests.1],
                        "files": t.entries.values().collect::<Vec<_>>(),
                    }),
                );
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => print_text(&a, &d, att.as_ref()),
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

fn print_text(a: &DiffArgs, d: &EifDiff, att: Option<&Attribution>) {
    println!("A: {}\nB: {}", a.a.display(), a.b.display());
    if let Some(t) = att {
        let m = |x: &Option<Sha256Digest>| x.map_or_else(|| "(none)".into(), |d| d.to_string());
        println!(
            "OCI application ({APP_RAMDISK}): manifest {} -> {}",
            m(&t.manifests.0),
            m(&t.manifests.1)
        );
    }
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
            SectionState::Same => "same",
            SectionState::Changed => "CHANGED",
            SectionState::Added => "ADDED",
            SectionState::Removed => "REMOVED",
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
                let att = att.filter(|_| s.role == APP_RAMDISK);
                let mut lines = Vec::new();
                for e in &c.added {
                    lines.push(format!("+ {}{}", entry_line(e), layer_suffix(att, &e.path)));
                }
                for e in &c.removed {
                    lines.push(format!("- {}{}", entry_line(e), layer_suffix(att, &e.path)));
                }
                for e in &c.changed {
                    let f: Vec<_> = e.fields.iter().map(field).collect();
                    lines.push(format!(
                        "~ {}: {}{}",
                        e.path,
                        f.join(", "),
                        layer_suffix(att, &e.path)
                    ));
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
