//! `proofpack oci`: OCI / Docker images as the application ramdisk.
//!
//! `ramdisk` converts a digest-pinned image (OCI layout directory, OCI
//! archive or `docker save` archive; no daemon, no network) into the
//! deterministic newc ramdisk and prints its SHA-256 and the PCR2 an EIF
//! would have with it as the sole application ramdisk. `inspect` shows what
//! an input holds; `diff` compares two provenance records.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use build_spec::oci::{self, diff, ImageSource, Platform, Sha256Digest};
use clap::{Args, Subcommand};
use serde_json::json;

use super::exit::{self, ResultExt as _};
use super::output::Format;

/// Subcommands of `proofpack oci`.
#[derive(Debug, Subcommand)]
pub enum OciCmd {
    /// Convert a digest-pinned image into the application ramdisk (cpio newc).
    #[command(after_help = RAMDISK_HELP)]
    Ramdisk(RamdiskArgs),
    /// Show the images in an input, or (with --digest) the verified manifest,
    /// config, layers, /cmd and /env of one.
    #[command(after_help = INSPECT_HELP)]
    Inspect(InspectArgs),
    /// Compare two oci-provenance.json files: which files changed, and which
    /// layer introduced each version. Exit 1 when they differ.
    #[command(after_help = DIFF_HELP)]
    Diff(DiffArgs),
}

/// Arguments of `proofpack oci` (a subcommand group).
#[derive(Debug, Args)]
pub struct OciArgs {
    #[command(subcommand)]
    cmd: OciCmd,
}

const RAMDISK_HELP: &str = "\
Examples:
  # OCI layout produced by `skopeo copy docker://IMAGE@sha256:... oci:img:app`
  proofpack oci ramdisk --image img --digest sha256:4f1c... -o app.cpio
  # docker save archive (classic: pin the image ID = config digest)
  proofpack oci ramdisk --image app.tar --digest sha256:9a7e... -o app.cpio --format json

The ramdisk holds cmd, env, rootfs/ and the mount points init expects
(rootfs/{dev,proc,run,sys,tmp,var}); every mtime is SOURCE_DATE_EPOCH. A
provenance record (digests, and for every file the layer that introduced it)
is written to oci-provenance.json next to the output unless --provenance says
otherwise. Nothing is written unless every blob verified.

Exit status: 0 written; 2 invalid input (tampered blob, wrong platform, unsafe
path, ...); 3 internal error.";

const INSPECT_HELP: &str = "\
Examples:
  proofpack oci inspect --image img                 # list images (unverified listing)
  proofpack oci inspect --image img --digest sha256:4f1c... --platform linux/arm64";

const DIFF_HELP: &str = "\
Example:
  proofpack oci diff old/oci-provenance.json new/oci-provenance.json

Exit status: 0 identical root filesystems; 1 they differ; 2 unreadable input.";

/// `proofpack oci ramdisk`.
#[derive(Debug, Args)]
pub struct RamdiskArgs {
    /// OCI layout directory, OCI archive (.tar) or docker save archive.
    #[arg(long, value_name = "PATH")]
    image: PathBuf,
    /// Pinned digest: image manifest or index (for an index, --platform picks
    /// the manifest); for a classic docker save archive, the image ID.
    #[arg(long, value_name = "sha256:HEX")]
    digest: String,
    /// Target platform.
    #[arg(long, default_value = "linux/amd64", value_parser = ["linux/amd64", "linux/arm64"])]
    platform: String,
    /// mtime of every ramdisk entry.
    #[arg(long, env = "SOURCE_DATE_EPOCH", default_value_t = 0, value_name = "SECONDS")]
    source_date_epoch: u32,
    /// Output ramdisk (written atomically).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Provenance record path [default: oci-provenance.json next to the output].
    #[arg(long, value_name = "FILE")]
    provenance: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `proofpack oci inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// OCI layout directory, OCI archive or docker save archive.
    #[arg(long, value_name = "PATH")]
    image: PathBuf,
    /// Resolve and verify this digest (manifest, index or docker image ID).
    #[arg(long, value_name = "sha256:HEX")]
    digest: Option<String>,
    /// Target platform (with --digest).
    #[arg(long, default_value = "linux/amd64", value_parser = ["linux/amd64", "linux/arm64"])]
    platform: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `proofpack oci diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old provenance record.
    old: PathBuf,
    /// The new provenance record.
    new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Runs `proofpack oci ...`.
pub fn run(args: OciArgs) -> anyhow::Result<ExitCode> {
    match args.cmd {
        OciCmd::Ramdisk(a) => ramdisk(a),
        OciCmd::Inspect(a) => inspect(a),
        OciCmd::Diff(a) => diff_cmd(a),
    }
}

fn parse_digest(s: &str) -> anyhow::Result<Sha256Digest> {
    Ok(s.parse::<Sha256Digest>()?)
}

fn ramdisk(a: RamdiskArgs) -> anyhow::Result<ExitCode> {
    let digest = parse_digest(&a.digest)?;
    let platform: Platform = a.platform.parse()?;
    let dir = match a.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let out = oci::DigestingWriter::new(tmp.as_file().try_clone()?);
    let (conv, out) = oci::write_ramdisk(&a.image, digest, &platform, a.source_date_epoch, out)
        .with_context(|| format!("converting {}", a.image.display()))?;
    let (file, digests) = out.finish().context("writing the ramdisk")?;
    drop(file);
    let sha256 = hex::encode(digests.sha256);
    let content384 = digests.sha384;
    let pcr2 = hex::encode(digests.pcr2_if_sole_app_ramdisk());
    let size = digests.len;
    tmp.as_file().sync_all().context("syncing the ramdisk")?;
    tmp.persist(&a.output).with_context(|| format!("writing {}", a.output.display()))?;

    let prov_path = a.provenance.unwrap_or_else(|| dir.join("oci-provenance.json"));
    write_json_atomic(&prov_path, &conv.provenance())?;

    let img = &conv.image;
    let layers: Vec<_> = img.layers.iter().map(|l| json!({"index": l.index, "digest": l.digest, "media_type": l.media_type, "size": l.size, "diff_id": l.diff_id})).collect();
    let dropped = conv.dropped();
    match a.format {
        Format::Json => {
            let v = json!({
                "ramdisk": a.output.display().to_string(),
                "size": size,
                "sha256": sha256,
                "sha384": hex::encode(content384),
                "pcr2_if_sole_app_ramdisk": pcr2,
                "format": oci::format_label(img.format),
                "pinned": img.pinned,
                "index_digest": img.index_digest,
                "manifest_digest": img.manifest_digest,
                "config_digest": img.config_digest,
                "platform": img.platform.to_string(),
                "layers": layers,
                "entries": conv.entries,
                "file_bytes": conv.file_bytes,
                "source_date_epoch": a.source_date_epoch,
                "dropped": {"xattrs": dropped.xattr_count, "special_files": dropped.special_count, "other": dropped.other.len()},
                "provenance": prov_path.display().to_string(),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => {
            println!("ramdisk    {} ({size} bytes, {} entries)", a.output.display(), conv.entries);
            println!("sha256     {sha256}");
            println!("PCR2       {pcr2}  (if this is the EIF's only application ramdisk)");
            println!("image      {} {}", oci::format_label(img.format), img.platform);
            if let Some(i) = img.index_digest {
                println!("index      {i}");
            }
            match img.manifest_digest {
                Some(m) => println!("manifest   {m}"),
                None => println!("manifest   (none: classic docker save; pinned by image ID)"),
            }
            println!("config     {}", img.config_digest);
            for l in &img.layers {
                println!("layer      {}", oci::describe_layer(l));
            }
            if dropped.xattr_count + dropped.special_count > 0 || !dropped.other.is_empty() {
                eprintln!(
                    "note: dropped {} xattrs, {} device nodes/fifos, {} other records (listed in {})",
                    dropped.xattr_count,
                    dropped.special_count,
                    dropped.other.len(),
                    prov_path.display()
                );
            }
            println!("provenance {}", prov_path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_json_atomic<T: serde::Serialize>(path: &Path, v: &T) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&dir)?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        serde_json::to_writer_pretty(&mut w, v).internal(format!("writing {}", path.display()))?;
        w.write_all(b"\n").internal(format!("writing {}", path.display()))?;
        w.flush().internal(format!("writing {}", path.display()))?;
    }
    tmp.persist(path).internal(format!("writing {}", path.display()))?;
    Ok(())
}

fn inspect(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let src = ImageSource::open(&a.image)?;
    let Some(d) = a.digest else {
        // Listing only: these files are not covered by any digest.
        let mut listing = Vec::new();
        for name in ["index.json", "manifest.json"] {
            if let Some((r, _)) = src.open_file(name)? {
                let mut buf = Vec::new();
                r.take(resolve_limit()).read_to_end(&mut buf)?;
                let v: serde_json::Value =
                    serde_json::from_slice(&buf).with_context(|| format!("parsing {name}"))?;
                listing.push(json!({"file": name, "content": v}));
            }
        }
        if listing.is_empty() {
            anyhow::bail!("{} has neither index.json nor manifest.json", src.describe());
        }
        match a.format {
            Format::Json => {
                println!("{}", serde_json::to_string_pretty(&json!({"unverified": listing}))?)
            }
            Format::Text => {
                println!("{} (UNVERIFIED listing: pin one digest with --digest)", src.describe());
                for item in &listing {
                    print_listing(item);
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let platform: Platform = a.platform.parse()?;
    let img = oci::resolve(&src, parse_digest(&d)?, &platform)?;
    let cmd = oci::cmd_file(&img.config).map(|b| String::from_utf8_lossy(&b).into_owned());
    let env = oci::env_file(&img.config).map(|b| String::from_utf8_lossy(&b).into_owned());
    match a.format {
        Format::Json => {
            let v = json!({
                "format": oci::format_label(img.format),
                "pinned": img.pinned,
                "index_digest": img.index_digest,
                "manifest_digest": img.manifest_digest,
                "config_digest": img.config_digest,
                "platform": img.platform.to_string(),
                "layers": img.layers,
                "cmd": cmd.as_ref().map(|c| c.lines().collect::<Vec<_>>()).map_err(|e| e.to_string()),
                "env": env.as_ref().map(|c| c.lines().collect::<Vec<_>>()).map_err(|e| e.to_string()),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => {
            println!("verified   {} {}", oci::format_label(img.format), img.platform);
            if let Some(i) = img.index_digest {
                println!("index      {i}");
            }
            if let Some(m) = img.manifest_digest {
                println!("manifest   {m}");
            }
            println!("config     {}", img.config_digest);
            for l in &img.layers {
                println!("layer      {}", oci::describe_layer(l));
            }
            match &cmd {
                Ok(c) => println!("cmd        {:?}", c.lines().collect::<Vec<_>>()),
                Err(e) => println!("cmd        error: {e}"),
            }
            match &env {
                Ok(c) => println!("env        {:?}", c.lines().collect::<Vec<_>>()),
                Err(e) => println!("env        error: {e}"),
            }
            println!("(layer blobs are verified by `proofpack oci ramdisk`)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve_limit() -> u64 {
    oci::resolve::MAX_JSON_BLOB
}

fn print_listing(item: &serde_json::Value) {
    let content = &item["content"];
    if item["file"] == "index.json" {
        for m in content["manifests"].as_array().into_iter().flatten() {
            let plat = m["platform"]
                .as_object()
                .map(|p| {
                    format!(
                        "{}/{}",
                        p["os"].as_str().unwrap_or("?"),
                        p["architecture"].as_str().unwrap_or("?")
                    )
                })
                .unwrap_or_default();
            let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap_or("");
            println!(
                "  {} {} {} {}",
                m["digest"].as_str().unwrap_or("?"),
                m["mediaType"].as_str().unwrap_or("?"),
                plat,
                name
            );
        }
    } else {
        for e in content.as_array().into_iter().flatten() {
            let cfg = e["Config"].as_str().unwrap_or("?");
            let id = cfg.rsplit('/').next().unwrap_or(cfg).trim_end_matches(".json");
            println!("  sha256:{id} (docker save image ID) {}", e["RepoTags"]);
        }
    }
}

fn read_provenance(p: &Path) -> anyhow::Result<diff::Provenance> {
    let buf = crate::cli::input::read_limited(p, diff::MAX_PROVENANCE_BYTES)?;
    diff::Provenance::from_slice(&buf).with_context(|| format!("reading {}", p.display()))
}

fn diff_cmd(a: DiffArgs) -> anyhow::Result<ExitCode> {
    let old = read_provenance(&a.old)?;
    let new = read_provenance(&a.new)?;
    let d = diff::diff(&old, &new);
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&d)?),
        Format::Text => {
            let opt = |m: Option<Sha256Digest>| {
                m.map(|d| d.to_string()).unwrap_or_else(|| "(none)".into())
            };
            println!("manifest   {} -> {}", opt(d.manifest.0), opt(d.manifest.1));
            println!("config     {} -> {}", d.config.0, d.config.1);
            for l in &d.layers_removed {
                println!("layer -    {l}");
            }
            for l in &d.layers_added {
                println!("layer +    {l}");
            }
            let lay = |l: &Option<(u32, Sha256Digest)>| match l {
                Some((i, dg)) => format!("layer {i} {dg}"),
                None => "added by proofpack".into(),
            };
            for f in &d.files {
                match f.change {
                    diff::Change::Added => println!("+ {}  (from {})", f.path, lay(&f.new_layer)),
                    diff::Change::Removed => {
                        println!("- {}  (was from {})", f.path, lay(&f.old_layer))
                    }
                    diff::Change::Modified => println!(
                        "~ {} [{}]  (old from {}; new from {})",
                        f.path,
                        f.fields.join(","),
                        lay(&f.old_layer),
                        lay(&f.new_layer)
                    ),
                }
            }
            if d.is_empty() {
                println!("root filesystems identical");
            } else {
                println!("{} paths differ", d.files.len());
            }
        }
    }
    Ok(if d.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(exit::CHECK_FAILED) })
}
