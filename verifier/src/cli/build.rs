//! `proofpack build`, `proofpack rebuild` and `proofpack blobs fetch`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use build_spec::build::{self, BuildRequest, Progress, SourceInfo, Stage};
use build_spec::pcr::Measurements;
use build_spec::spec::{KernelSource, Spec, MAX_SPEC_LEN};
use clap::{Args, Subcommand};

use super::exit::{self, ResultExt as _};
use super::output::{show_progress, Format};
use crate::rebuild::{self, RebuildOptions};
use crate::report::{Check, Checks, Verdict};

const BUILD_HELP: &str = "\
Examples:
  # Demo image (stand-in kernel, NOT bootable) of this repository:
  proofpack build --profile demo --out out/
  # Production image with AWS's blobs fetched earlier:
  proofpack blobs fetch --out blobs/ && proofpack build --blobs blobs/ --out out/
  # Emulator image (Debian kernel, boots in QEMU's nitro-enclave machine):
  scripts/enclave-emulator fetch-kernel kernel/ && \
    proofpack build --profile emulator --debian-kernel kernel/ --out out/

The image carries /etc/proofpack/build-info.json (commit, tree, spec, profile);
a working tree with uncommitted changes is refused unless --allow-dirty, which
the build-info records (\"dirty\": true) and `audit` reports.

Outputs in --out: image.eif, pcrs.json (nitro-cli format), build-manifest.json,
and for a spec whose application is an OCI image ([app.oci]) oci-provenance.json
(the layer behind every file; `proofpack diff` uses it).
Exit status: 0 built, 2 invalid input (spec, pins, blobs, toolchain), 3 internal error.";

const REBUILD_HELP: &str = "\
Examples:
  proofpack rebuild --repo . --rev 0123…(40 hex) --profile demo
  proofpack rebuild --repo https://github.com/org/app --rev <commit> --expect-pcrs pcrs.json \\
      --blobs blobs/ --expect-eif published.eif
  proofpack rebuild --repo . --rev <commit> --expect-attestation doc.cbor

The commit is checked out into a fresh directory from the object database
(every object re-hashed), built with the spec found at --spec in that commit,
and each PCR is compared. Results are cached by (tree, spec, toolchain); a
cached entry is re-verified before use, --no-cache forces a build.
Exit status: 0 all PCRs match (or nothing to compare), 1 a PCR mismatches,
2 invalid input (missing commit, bad spec, missing blobs), 3 internal error.";

const FETCH_HELP: &str = "\
Examples:
  proofpack blobs fetch --spec build-spec/enclave.toml --out blobs/
  proofpack build --blobs blobs/ --out out/

Fetches exactly the pinned nitro-cli commit with `git` into --out (a bare git
repository) and verifies every pinned file: the commit, trees and blobs are
re-hashed, and sha256/git-blob pins from the spec are checked. Builds verify
the pins again every time they read the blobs.";

/// Build commands (flattened into the top-level command list).
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Build the enclave image from a spec, reproducibly.
    #[command(after_help = BUILD_HELP)]
    Build(Box<BuildArgs>),
    /// Rebuild the image of one git commit and compare its PCRs.
    #[command(after_help = REBUILD_HELP)]
    Rebuild(Box<RebuildArgs>),
    /// AWS kernel blobs for the production profile.
    #[command(subcommand)]
    Blobs(BlobsCmd),
}

/// `proofpack blobs ...`.
#[derive(Debug, Subcommand)]
pub enum BlobsCmd {
    /// Fetch the pinned nitro-cli commit and verify every blob.
    #[command(after_help = FETCH_HELP)]
    Fetch(Box<FetchArgs>),
}

/// Options shared by the three commands.
#[derive(Debug, Args)]
pub struct Common {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// No progress, no diagnostics except errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `proofpack build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build spec.
    #[arg(long, default_value = rebuild::DEFAULT_SPEC_PATH)]
    pub spec: PathBuf,
    /// Profile (`production` uses AWS blobs, `demo` a NOT bootable stand-in kernel,
    /// `emulator` a Debian kernel for QEMU with --debian-kernel).
    #[arg(long, default_value = "production")]
    pub profile: String,
    /// Output directory.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// AWS blobs: `proofpack blobs fetch` output or a plain directory.
    #[arg(long)]
    pub blobs: Option<PathBuf>,
    /// The fetched Debian kernel package (`.deb` + unpacked `root/`) for a
    /// profile with kernel = "debian-package" (`scripts/enclave-emulator fetch-kernel`).
    #[arg(long, value_name = "DIR")]
    pub debian_kernel: Option<PathBuf>,
    /// Cargo target directory (default `<workspace>/target/proofpack`).
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
    /// Build even if rustc differs from the pinned toolchain (recorded in every output).
    #[arg(long)]
    pub allow_toolchain_mismatch: bool,
    /// Build a working tree with uncommitted changes (recorded as dirty).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Show cargo's output.
    #[arg(long, short)]
    pub verbose: bool,
    /// Use an already-compiled init instead of running cargo (the Nix flake
    /// uses this). With --prebuilt-app for a cargo application; alone when the
    /// application is an [app.oci] image. Recorded as prebuilt in the manifest.
    #[arg(long)]
    pub prebuilt_init: Option<PathBuf>,
    /// Use an already-compiled application binary (with --prebuilt-init).
    #[arg(long, requires = "prebuilt_init")]
    pub prebuilt_app: Option<PathBuf>,
    /// SOURCE_DATE_EPOCH override for sources outside git (e.g. the Nix store);
    /// only valid when the spec's policy is "commit".
    #[arg(long)]
    pub source_date_epoch: Option<u64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: Common,
}

/// `proofpack rebuild`.
#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Repository path or URL.
    #[arg(long)]
    pub repo: String,
    /// Full 40-hex commit id.
    #[arg(long)]
    pub rev: String,
    /// Spec path inside the repository.
    #[arg(long, default_value = rebuild::DEFAULT_SPEC_PATH)]
    pub spec: String,
    /// Profile.
    #[arg(long, default_value = "production")]
    pub profile: String,
    /// Expected PCRs (nitro-cli JSON). `--expect` is an older spelling.
    #[arg(long, alias = "expect", value_name = "PCRS_JSON", conflicts_with = "expect_attestation")]
    pub expect_pcrs: Option<PathBuf>,
    /// Expected PCRs from an attestation document (verified first; CBOR, base64 or hex).
    #[arg(long)]
    pub expect_attestation: Option<PathBuf>,
    /// The expected image, for a section/file diff on mismatch.
    #[arg(long)]
    pub expect_eif: Option<PathBuf>,
    /// Copy the rebuilt outputs here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// AWS blobs for the production profile.
    #[arg(long)]
    pub blobs: Option<PathBuf>,
    /// The fetched Debian kernel package (`.deb` + unpacked `root/`) for a
    /// profile with kernel = "debian-package" (`scripts/enclave-emulator fetch-kernel`).
    #[arg(long, value_name = "DIR")]
    pub debian_kernel: Option<PathBuf>,
    /// Cache directory (default `$PROOFPACK_CACHE_DIR` or `~/.cache/proofpack/rebuild`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Ignore cached results.
    #[arg(long)]
    pub no_cache: bool,
    /// Shared cargo target directory (warm rebuilds).
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
    /// Build even if rustc differs from the pin (recorded, and reported as a warning).
    #[arg(long)]
    pub allow_toolchain_mismatch: bool,
    /// Show cargo's output.
    #[arg(long, short)]
    pub verbose: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: Common,
}

/// `proofpack blobs fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Build spec naming the blobs and their pins.
    #[arg(long, default_value = rebuild::DEFAULT_SPEC_PATH)]
    pub spec: PathBuf,
    /// Destination (a bare git repository is created there).
    #[arg(long, default_value = "blobs")]
    pub out: PathBuf,
    /// Fetch from this URL or path instead of the spec's repository (a mirror);
    /// the pinned commit and file pins still apply.
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: Common,
}

/// Progress on stderr: an indicatif spinner on a TTY, nothing otherwise.
struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    fn new(quiet: bool) -> Self {
        if quiet || !show_progress() {
            return Self(None);
        }
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(Some(pb))
    }
    fn done(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

impl Progress for Spinner {
    fn stage(&self, stage: Stage, detail: &str) {
        if let Some(pb) = &self.0 {
            let s = match stage {
                Stage::Toolchain => "checking toolchain",
                Stage::Compiling => "compiling",
                Stage::Assembling => "assembling",
                Stage::Hashing => "hashing",
            };
            pb.set_message(format!("{s} {detail}"));
        }
    }
}

/// Dispatches.
pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Build(a) => run_build(*a),
        Cmd::Rebuild(a) => run_rebuild(*a),
        Cmd::Blobs(BlobsCmd::Fetch(a)) => run_fetch(*a),
    }
}

fn read_spec(path: &Path) -> anyhow::Result<(Vec<u8>, Spec)> {
    let bytes =
        crate::cli::input::read_limited(path, MAX_SPEC_LEN as u64).context("reading the spec")?;
    let spec = Spec::parse(&bytes).with_context(|| format!("spec {}", path.display()))?;
    Ok((bytes, spec))
}

fn pcr_lines(m: &Measurements) -> String {
    m.pcrs.iter().map(|(i, v)| format!("PCR{i}  {}\n", hex::encode(v))).collect()
}

fn run_build(a: BuildArgs) -> anyhow::Result<ExitCode> {
    let (bytes, spec) = read_spec(&a.spec)?;
    let profile = spec.profile(&a.profile)?.clone();
    let spec_dir = a.spec.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut ignore = vec![a.out.clone()];
    ignore.extend(a.target_dir.clone());
    let (source, commit_time) = match crate::git::working_tree_state(spec_dir, &ignore) {
        Ok(Some(c)) => (
            SourceInfo {
                git_commit: Some(c.commit.clone()),
                git_tree: Some(c.tree.clone()),
                repository: None,
                dirty: false,
            },
            Some(c.time),
        ),
        Ok(None) => (SourceInfo::default(), None),
        Err(crate::git::GitError::Dirty { .. }) if a.allow_dirty => {
            // HEAD plus uncommitted changes: the build-info names HEAD and
            // says `"dirty": true` (the audit reports it).
            let head = crate::git::locate(&a.spec)?.and_then(|(h, _)| h);
            (
                SourceInfo {
                    git_commit: head.as_ref().map(|h| h.commit.clone()),
                    git_tree: head.as_ref().map(|h| h.tree.clone()),
                    repository: None,
                    dirty: true,
                },
                head.map(|h| h.time),
            )
        }
        Err(e) => return Err(e.into()),
    };
    let spec_repo_path = crate::git::locate(&a.spec)?.and_then(|(_, rel)| rel);
    let blobs = match (profile.kernel, &a.blobs) {
        (KernelSource::NitroCliBlobs, Some(dir)) => {
            let src = spec.blobs.as_ref().context("spec has no [blobs] section")?;
            Some(crate::blobs::load(dir, src)?)
        }
        _ => None,
    };
    let req = BuildRequest {
        spec_path: a.spec.clone(),
        spec_bytes: bytes,
        profile: a.profile.clone(),
        out_dir: a.out.clone(),
        target_dir: a.target_dir.clone(),
        source_date_epoch: rebuild::source_date_epoch(
            &spec,
            commit_time.or(a.source_date_epoch.and_then(|e| i64::try_from(e).ok())),
        )?,
        allow_toolchain_mismatch: a.allow_toolchain_mismatch,
        blobs,
        source,
        verbose: a.verbose,
        prebuilt: a
            .prebuilt_init
            .as_ref()
            .map(|i| build::Prebuilt { init: i.clone(), app: a.prebuilt_app.clone() }),
        spec_repo_path,
        debian_kernel: a.debian_kernel.clone(),
    };
    let spinner = Spinner::new(a.common.quiet);
    let started = std::time::Instant::now();
    let out = build::build(&req, &spinner);
    spinner.done();
    let out = out?;
    let m = &out.manifest;
    match a.common.format {
        Format::Json => {
            let v = serde_json::json!({
                "command": "build",
                "eif": out.eif_path,
                "pcrs_json": out.pcrs_path,
                "manifest": out.manifest_path,
                "eif_sha256": m.outputs.eif.sha256,
                "eif_sha384": m.outputs.eif.sha384,
                "measurements": m.measurements,
                "profile": m.profile,
                "warnings": m.warnings,
                "toolchain_mismatch_allowed": !m.toolchain.matches_pin,
                "nix": m.nix,
                "seconds": started.elapsed().as_secs_f64(),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => {
            for w in &m.warnings {
                eprintln!("warning: {w}");
            }
            print!(
                "image     {}\nsha256    {}\nsha384    {}\n{}manifest  {}\nnix       {} ({})\n",
                out.eif_path.display(),
                m.outputs.eif.sha256,
                m.outputs.eif.sha384,
                pcr_lines(&out.measurements),
                out.manifest_path.display(),
                m.nix.store_path,
                m.nix.nar_hash
            );
            if !a.common.quiet {
                eprintln!("built in {:.1}s", started.elapsed().as_secs_f64());
            }
        }
    }
    Ok(ExitCode::from(exit::OK))
}

/// Compares rebuilt PCRs with expected ones: one check per expected PCR
/// among 0, 1, 2 (PCR8 needs the signing certificate and is skipped); see
/// [`build_spec::pcr::CompareRules::rebuild`].
pub fn compare(rebuilt: &Measurements, expected: &Measurements) -> Checks {
    build_spec::pcr::compare(expected, rebuilt, &build_spec::pcr::CompareRules::rebuild())
}

fn expected_from_attestation(path: &Path) -> anyhow::Result<(Measurements, Checks)> {
    use crate::attestation;
    let data = crate::cli::input::read_limited(path, attestation::input::MAX_INPUT_LEN as u64)?;
    let (raw, _) = attestation::input::decode_document(&data)
        .with_context(|| format!("decoding attestation document {}", path.display()))?;
    let report = attestation::verify(&raw, &attestation::VerifyOptions::default());
    let mut checks = Checks::new();
    let ok = report.verdict() == Verdict::Pass;
    checks.push(Check::from_bool(
        "attestation.verified",
        ok,
        "attestation document verified to the AWS Nitro root",
        format!(
            "attestation document did not verify ({} failed checks); its PCRs cannot be trusted as the expectation",
            report.checks.failures().count()
        ),
    ));
    let pcrs = match (&report.doc, ok) {
        (Some(d), true) => {
            let mut m = Measurements::new();
            for i in 0..=2u8 {
                if let Some(v) = d.pcrs.get(i) {
                    m.insert(i, *v);
                }
            }
            m
        }
        _ => Measurements::new(),
    };
    Ok((pcrs, checks))
}

fn run_rebuild(a: RebuildArgs) -> anyhow::Result<ExitCode> {
    let expected = match (&a.expect_pcrs, &a.expect_attestation) {
        (Some(p), _) => {
            let b = crate::cli::input::read_limited(
                p,
                build_spec::pcr::measurements::MAX_JSON_LEN as u64,
            )?;
            Some((
                Measurements::from_json(&b)
                    .with_context(|| format!("expected PCRs {}", p.display()))?,
                Checks::new(),
            ))
        }
        (None, Some(p)) => Some(expected_from_attestation(p)?),
        _ => None,
    };
    let opts = RebuildOptions {
        repo: a.repo.clone(),
        rev: a.rev.clone(),
        spec_path: a.spec.clone(),
        profile: a.profile.clone(),
        blobs_dir: a.blobs.clone(),
        debian_kernel: a.debian_kernel.clone(),
        cache_dir: a.cache_dir.clone(),
        no_cache: a.no_cache,
        allow_toolchain_mismatch: a.allow_toolchain_mismatch,
        work_dir: None,
        target_dir: a.target_dir.clone(),
        verbose: a.verbose,
    };
    let spinner = Spinner::new(a.common.quiet);
    let started = std::time::Instant::now();
    let r = rebuild::rebuild(&opts, &spinner);
    spinner.done();
    let r = r?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).internal(format!("creating {}", out.display()))?;
        let dir = r.eif_path.parent().unwrap_or(Path::new("."));
        for f in [build::EIF_FILE, build::PCRS_FILE, build::MANIFEST_FILE] {
            std::fs::copy(dir.join(f), out.join(f)).internal(format!("copying {f}"))?;
        }
        // An [app.oci] image's layer attribution travels with it (its digest
        // is in the manifest); a stale one from another image must not stay.
        let prov = build::OCI_PROVENANCE_FILE;
        if dir.join(prov).is_file() {
            std::fs::copy(dir.join(prov), out.join(prov)).internal(format!("copying {prov}"))?;
        } else if out.join(prov).is_file() {
            std::fs::remove_file(out.join(prov)).internal(format!("removing stale {prov}"))?;
        }
    }
    let mut checks = Checks::new();
    for w in &r.manifest.warnings {
        checks.push(Check::warn("rebuild.warning", w.clone()));
    }
    let mut diff = None;
    if let Some((exp, pre)) = &expected {
        checks.extend(pre.clone());
        checks.extend(compare(&r.pcrs, exp));
        let mismatch = checks.0.iter().any(|c| c.id.starts_with("pcr.") && c.is_fail());
        if mismatch {
            if let Some(e) = &a.expect_eif {
                match build_spec::diff::diff_files(e, &r.eif_path) {
                    Ok(d) => diff = Some(d),
                    Err(err) => checks
                        .push(Check::warn("rebuild.diff", format!("image diff failed: {err}"))),
                }
            }
        }
    }
    let verdict = expected.as_ref().map(|_| checks.verdict());
    match a.common.format {
        Format::Json => {
            let v = serde_json::json!({
                "command": "rebuild",
                "commit": r.commit,
                "tree": r.tree,
                "from_cache": r.from_cache,
                "cache_entry_rejected": r.cache_entry_rejected,
                "eif": r.eif_path,
                "eif_sha256": r.manifest.outputs.eif.sha256,
                "measurements": r.manifest.measurements,
                "toolchain_mismatch_allowed": !r.manifest.toolchain.matches_pin,
                "warnings": r.manifest.warnings,
                "checks": checks,
                "verdict": verdict,
                "diff": diff,
                "seconds": seconds,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => {
            if let Some(why) = &r.cache_entry_rejected {
                eprintln!("warning: cache entry rejected ({why}); rebuilt");
            }
            println!(
                "commit    {}\ntree      {}\nsource    {}\nimage     {}\n{}",
                r.commit,
                r.tree,
                if r.from_cache { "cache (verified)" } else { "built" },
                r.eif_path.display(),
                pcr_lines(&r.pcrs)
            );
            let painter = checks::text::Painter::new(super::output::use_color());
            let mut lines = String::new();
            checks::text::check_lines(&mut lines, &painter, &checks, "");
            print!("{lines}");
            if let Some(d) = &diff {
                println!(
                    "image diff against {}:",
                    a.expect_eif.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
                );
                println!("{}", serde_json::to_string_pretty(d)?);
            }
            match verdict {
                Some(v) => {
                    let mut line = String::new();
                    checks::text::verdict_line(&mut line, &painter, v);
                    print!("{line}");
                }
                None => println!(
                    "verdict: (nothing to compare: pass --expect-pcrs or --expect-attestation)"
                ),
            }
            if !a.common.quiet {
                eprintln!(
                    "{} in {seconds:.2}s",
                    if r.from_cache { "answered from cache" } else { "rebuilt" }
                );
            }
        }
    }
    Ok(match verdict {
        Some(Verdict::Fail) => ExitCode::from(exit::CHECK_FAILED),
        _ => ExitCode::from(exit::OK),
    })
}

fn run_fetch(a: FetchArgs) -> anyhow::Result<ExitCode> {
    let (_, spec) = read_spec(&a.spec)?;
    let src = spec.blobs.as_ref().context("the spec has no [blobs] section")?;
    let spinner = Spinner::new(a.common.quiet);
    spinner.stage(Stage::Hashing, "fetching and verifying blobs");
    let r = crate::blobs::fetch(src, &a.out, a.url.as_deref());
    spinner.done();
    let blobs = r?;
    let list: Vec<&build::Blob> =
        [Some(&blobs.kernel), Some(&blobs.kernel_config), blobs.nsm_ko.as_ref()]
            .into_iter()
            .flatten()
            .collect();
    match a.common.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "command": "blobs fetch", "repository": a.out, "commit": src.commit, "blobs": list
            }))?
        ),
        Format::Text => {
            println!(
                "verified blobs of commit {} in {}",
                src.commit.as_deref().unwrap_or(""),
                a.out.display()
            );
            for b in list {
                println!("{:<14} {:<32} sha256 {}  git {}", b.role, b.path, b.sha256, b.git_blob);
            }
        }
    }
    Ok(ExitCode::from(exit::OK))
}
