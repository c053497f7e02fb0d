//! The real implementations of the audit stages, over the other modules'
//! APIs: the image engine and image diff (`build_spec::eif`,
//! `build_spec::diff`), git ([`crate::git`]) and the cached rebuild
//! ([`crate::rebuild`]).
//!
//! Each adapter only translates; the checks themselves live in the modules
//! that own them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use build_spec::diff::{diff_files, Detail, EifDiff, FieldChange, SectionState};
use build_spec::eif::read::{read_eif_file, ReadOptions};
use build_spec::pcr::Measurements;

use super::{short, CandidateImage, PolicyCheck, Rebuild, RebuiltImage, SourceCheck, IMAGE_PCRS};
use crate::git::{self, GitError, Repo};
use crate::kms_policy::expected::Expected;
use crate::kms_policy::findings::{self as kfind, Severity as KSeverity};
use crate::kms_policy::pin::{analyse_bytes, Config};
use crate::rebuild::{rebuild, RebuildOptions, DEFAULT_SPEC_PATH};
use crate::report::{Check, Checks, DiffChange, DiffEntry, PolicyFinding, Severity, SourceInfo};

/// Computes an image's PCRs (PCR0, 1, 2, and 8 when signed) with the strict
/// EIF reader; any defect is an error naming what is wrong.
pub fn image_pcrs(path: &Path) -> Result<Measurements, String> {
    read_eif_file(path, &ReadOptions::default())
        .map(|s| s.measurements())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Collects the images under `path` (a file, or every `*.eif` in a
/// directory) with their computed PCRs. Unreadable or invalid images are
/// returned as errors so the caller can report them.
pub fn find_images(path: &Path) -> Result<(Vec<CandidateImage>, Vec<String>), String> {
    let mut files = Vec::new();
    if path.is_dir() {
        let rd = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for entry in rd {
            let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
            let p = entry.path();
            if p.extension().is_some_and(|x| x == "eif") && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut images = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match image_pcrs(&f) {
            Ok(pcrs) => images.push(CandidateImage { path: f, pcrs }),
            Err(e) => errors.push(e),
        }
    }
    Ok((images, errors))
}

/// Stage 2 over [`crate::git`]: the commit exists (object hash verified),
/// has the claimed tree, and optionally is on a branch and signed.
pub struct GitSource {
    /// libgit2 handles are not `Sync`; source checks are cached per commit,
    /// so serialising them costs nothing measurable.
    repo: Mutex<Repo>,
    branch: Option<String>,
    require_signature: bool,
    allowed_signers: Option<std::path::PathBuf>,
}

impl GitSource {
    /// Opens (or clones) the repository once for all receipts.
    pub fn open(
        location: &str,
        branch: Option<String>,
        require_signature: bool,
    ) -> Result<Self, GitError> {
        Ok(Self {
            repo: Mutex::new(git::open(location)?),
            branch,
            require_signature,
            allowed_signers: None,
        })
    }

    /// SSH signatures are checked against this allowed-signers file.
    pub fn with_allowed_signers(mut self, file: Option<std::path::PathBuf>) -> Self {
        self.allowed_signers = file;
        self
    }
}

impl SourceCheck for GitSource {
    fn read_file(&self, src: &SourceInfo, path: &str, max: usize) -> Result<Vec<u8>, String> {
        let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
        git::read_file_at(&repo, &src.commit, path, max).map_err(|e| e.to_string())
    }

    fn check(&self, src: &SourceInfo) -> Checks {
        let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Checks::new();
        let info = match git::commit_info(&repo, &src.commit) {
            Ok(i) => {
                out.push(Check::pass(
                    "source.commit",
                    format!("commit {} exists in {}", short(&src.commit), repo.location),
                ));
                i
            }
            Err(e) => {
                let detail = match &e {
                    GitError::CommitNotFound { .. } => {
                        format!("commit {} is not in {}", src.commit, repo.location)
                    }
                    other => format!("commit {}: {other}", src.commit),
                };
                out.push(Check::fail("source.commit", detail));
                return out;
            }
        };
        match &src.tree {
            Some(t) => out.push(if *t == info.tree {
                Check::pass("source.tree", format!("the commit's tree is {}", short(t)))
            } else {
                Check::mismatch(
                    "source.tree",
                    "the commit's tree differs from the receipt's",
                    t.clone(),
                    info.tree.clone(),
                )
            }),
            None => out.push(Check::skipped("source.tree", "the receipt names no tree")),
        }
        match &self.branch {
            None => out.push(Check::skipped("source.branch", "no --branch given")),
            Some(b) => out.push(match git::is_reachable_from_branch(&repo, &info.commit, b) {
                Ok(true) => Check::pass("source.branch", format!("reachable from {b}")),
                Ok(false) => Check::fail("source.branch", format!("not reachable from {b}")),
                Err(e) => Check::fail("source.branch", format!("branch {b}: {e}")),
            }),
        }
        if self.require_signature {
            out.push(
                match crate::secrets_repo::verify_commit(
                    repo.repo.path(),
                    &info.commit,
                    self.allowed_signers.as_deref(),
                ) {
                    Ok(()) => {
                        Check::pass("source.signature", "the commit carries a valid signature")
                    }
                    Err(e) => Check::fail("source.signature", format!("git verify-commit: {e}")),
                },
            );
        } else {
            out.push(Check::skipped("source.signature", "no --require-signed-commit"));
        }
        out
    }
}

/// Stage 3 over [`crate::rebuild`] (whose results cache makes a repeated
/// audit cheap) and [`build_spec::diff`].
pub struct CachedRebuild {
    /// Repository path or URL.
    pub repo: String,
    /// Build profile the attested image was built with.
    pub profile: String,
    /// `--blobs DIR`.
    pub blobs_dir: Option<PathBuf>,
    /// `--debian-kernel DIR`.
    pub debian_kernel: Option<PathBuf>,
    /// Cache root (`None` = the default).
    pub cache_dir: Option<PathBuf>,
    /// Skip the cache lookup.
    pub no_cache: bool,
    /// Proceed with a toolchain that differs from the pin (reported).
    pub allow_toolchain_mismatch: bool,
}

impl Rebuild for CachedRebuild {
    fn rebuild(&self, src: &SourceInfo, spec_path: Option<&str>) -> Result<RebuiltImage, String> {
        let mut o = RebuildOptions::new(self.repo.clone(), src.commit.clone());
        o.spec_path = spec_path.unwrap_or(DEFAULT_SPEC_PATH).to_string();
        o.profile = self.profile.clone();
        o.blobs_dir = self.blobs_dir.clone();
        o.debian_kernel = self.debian_kernel.clone();
        o.cache_dir = self.cache_dir.clone();
        o.no_cache = self.no_cache;
        o.allow_toolchain_mismatch = self.allow_toolchain_mismatch;
        let r = rebuild(&o, &build_spec::build::NoProgress).map_err(|e| e.to_string())?;
        let mut checks = Checks::new();
        checks.push(Check::pass(
            "rebuild.run",
            format!(
                "rebuilt {} ({}, profile {}){}",
                short(&r.commit),
                o.spec_path,
                o.profile,
                if r.from_cache { " from the verified rebuild cache" } else { "" }
            ),
        ));
        if let Some(why) = &r.cache_entry_rejected {
            checks.push(Check::warn(
                "rebuild.cache",
                format!("a cache entry failed verification and was rebuilt: {why}"),
            ));
        }
        if self.allow_toolchain_mismatch {
            checks.push(Check::warn(
                "rebuild.toolchain",
                "--allow-toolchain-mismatch: the rebuild may have used another toolchain than the pinned one",
            ));
        }
        Ok(RebuiltImage { pcrs: r.pcrs, eif: Some(r.eif_path), checks })
    }

    fn diff(&self, expected: &Path, actual: &Path) -> Result<Vec<DiffEntry>, String> {
        diff_files(expected, actual).map(|d| diff_entries(&d)).map_err(|e| e.to_string())
    }
}

/// Stage 4 over [`crate::kms_policy`]: the pinning analyser with the
/// attested PCR0/1/2 as the expected set, so "pinned" means pinned to
/// exactly the image that produced the receipt.
#[derive(Debug, Clone, Default)]
pub struct KmsPolicyStage {
    /// Principals exempt from the bypass question (trusted administrators).
    pub trusted: Vec<String>,
}

impl KmsPolicyStage {
    /// The analysis settings for `key_arn` with the attested PCRs as `E`.
    fn config(&self, key_arn: &str, pcrs: &Measurements) -> Result<Config, String> {
        let expected = Expected::from_measurements(pcrs, &IMAGE_PCRS).map_err(|e| e.to_string())?;
        expected.reject_zero_image_pcrs().map_err(|e| e.to_string())?;
        let mut cfg = Config::new(expected);
        cfg.key_arn = Some(key_arn.to_string());
        cfg.trusted = self.trusted.clone();
        Ok(cfg)
    }
}

impl PolicyCheck for KmsPolicyStage {
    fn context_check(
        &self,
        key_arn: &str,
        policy: &[u8],
        pcrs: &Measurements,
        context_key: &str,
    ) -> Option<Check> {
        use crate::kms_policy::context::{check_bytes, FINDING_ID};
        let id = "kms.policy.recipients_context";
        // Pinning failures are reported by `check`; nothing to add here.
        let cfg = self.config(key_arn, pcrs).ok()?;
        Some(
            match check_bytes(policy, &cfg, context_key, crate::kms_policy::parse::MAX_POLICY_BYTES)
            {
                Ok(f) if f.ok => Check::pass(id, format!("{key_arn}: {}", f.message())),
                Ok(f) => Check::warn(id, format!("{key_arn}: {FINDING_ID}: {}", f.message())),
                Err(_) => return None,
            },
        )
    }

    fn check(
        &self,
        key_arn: &str,
        policy: &[u8],
        pcrs: &Measurements,
    ) -> (Checks, Vec<PolicyFinding>) {
        let mut out = Checks::new();
        let cfg = match self.config(key_arn, pcrs) {
            Ok(c) => c,
            Err(e) => {
                out.push(Check::fail(
                    "kms.policy.expected",
                    format!("{key_arn}: the attested PCRs cannot be pinned: {e}"),
                ));
                return (out, Vec::new());
            }
        };
        let analysis = match analyse_bytes(policy, &cfg) {
            Ok(a) => a,
            Err(e) => {
                out.push(Check::fail(
                    "kms.policy.parse",
                    format!("{key_arn}: the key policy cannot be read: {e}"),
                ));
                return (out, Vec::new());
            }
        };
        for mut c in kfind::checks(&analysis).0 {
            c.detail = format!("{key_arn}: {}", c.detail);
            out.push(c);
        }
        let findings = analysis
            .findings
            .iter()
            .map(|f| PolicyFinding {
                key_arn: key_arn.to_string(),
                id: f.id.clone(),
                severity: match f.severity {
                    KSeverity::Critical | KSeverity::High => Severity::Error,
                    KSeverity::Medium | KSeverity::Low => Severity::Warning,
                    KSeverity::Info => Severity::Info,
                },
                message: format!("{} Fix: {}", f.message, f.fix),
                statement: f.sid.clone().or_else(|| f.statement.map(|i| format!("#{i}"))),
            })
            .collect();
        (out, findings)
    }
}

/// Stage 6 over the KMS JSON API client: `DescribeKey` on each key the
/// receipt used. Informational (optional checks): a key disabled or pending
/// deletion after the job does not make a past receipt false, but an auditor
/// wants to know (crypto-shredding).
pub struct KmsKeyStateStage {
    /// `http://host:port` (e.g. proofpack-kms-local) or `https://...`.
    pub endpoint: String,
    /// SigV4 credentials (from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: enclave::secret::SecretBytes,
}

impl KmsKeyStateStage {
    /// Reads the credentials from the standard AWS environment variables.
    pub fn from_env(endpoint: &str) -> Result<Self, String> {
        let id = std::env::var("AWS_ACCESS_KEY_ID")
            .map_err(|_| "--kms-endpoint needs AWS_ACCESS_KEY_ID".to_string())?;
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
            .map_err(|_| "--kms-endpoint needs AWS_SECRET_ACCESS_KEY".to_string())?;
        Ok(Self {
            endpoint: endpoint.to_string(),
            access_key_id: id,
            secret_access_key: enclave::secret::SecretBytes::new(secret.into_bytes()),
        })
    }
}

impl super::KeyState for KmsKeyStateStage {
    fn check(&self, key_arn: &str) -> Check {
        use enclave::backend::kms_http::sigv4::Credentials;
        use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
        let region = key_arn.split(':').nth(3).filter(|r| !r.is_empty()).unwrap_or("us-east-1");
        let creds = Credentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: enclave::secret::SecretBytes::from_slice(
                self.secret_access_key.expose(),
            ),
            session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
        };
        let client =
            match KmsHttpClient::new(KmsHttpConfig::new(self.endpoint.clone(), region, creds)) {
                Ok(c) => c,
                Err(e) => {
                    return Check::fail("kms.key.state", format!("{key_arn}: {e}")).optional()
                }
            };
        match client.call("DescribeKey", &serde_json::json!({ "KeyId": key_arn })) {
            // A deleted key is a crypto-shredding outcome, not a false receipt.
            Err(enclave::backend::KmsError::Service { code, .. }) if code == "NotFoundException" => {
                Check::warn(
                    "kms.key.state",
                    format!("{key_arn} does not exist (deleted): data encrypted under it is permanently unreadable"),
                )
            }
            Err(e) => Check::fail("kms.key.state", format!("{key_arn}: DescribeKey failed: {e}"))
                .optional(),
            Ok(v) => key_state_check(key_arn, &v["KeyMetadata"]),
        }
    }
}

/// The check for one `DescribeKey` answer: Enabled passes; Disabled and
/// PendingDeletion warn with what it means and how to undo it.
pub fn key_state_check(key_arn: &str, meta: &serde_json::Value) -> Check {
    let state = meta["KeyState"].as_str().unwrap_or("unknown");
    let when = meta["DeletionDate"]
        .as_f64()
        .and_then(|d| time::OffsetDateTime::from_unix_timestamp(d as i64).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    let why = match state {
        "Enabled" => return Check::pass("kms.key.state", format!("{key_arn} is Enabled")),
        "Disabled" => "disabled: data encrypted under it cannot be opened until EnableKey".to_owned(),
        "PendingDeletion" => format!(
            "pending deletion{}: data encrypted under it cannot be opened, and is lost for good unless CancelKeyDeletion runs before then",
            when.map(|w| format!(" on {w}")).unwrap_or_default()
        ),
        other => format!("in state {other}: data encrypted under it may not open"),
    };
    Check::warn("kms.key.state", format!("{key_arn} is {why}"))
}

/// `field a -> b; ...` for the changed fields of one entry or section
/// (`-` where a side has no value).
fn field_changes(fields: &[FieldChange]) -> String {
    fields
        .iter()
        .map(|f| {
            format!(
                "{} {} -> {}",
                f.field,
                f.a.as_deref().unwrap_or("-"),
                f.b.as_deref().unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Flattens an image diff (A = expected, B = actual) into report entries:
/// one per changed file inside a ramdisk, else one per changed section.
pub fn diff_entries(d: &EifDiff) -> Vec<DiffEntry> {
    let mut out = Vec::new();
    for s in &d.sections {
        let section_change = match s.status {
            SectionState::Same => continue,
            SectionState::Added => DiffChange::Added,
            SectionState::Removed => DiffChange::Removed,
            SectionState::Changed => DiffChange::Modified,
        };
        match &s.detail {
            Some(Detail::Cpio(c)) if !c.framing_only => {
                for e in &c.added {
                    out.push(DiffEntry {
                        path: format!("{}/{}", s.role, e.path),
                        change: DiffChange::Added,
                        detail: None,
                    });
                }
                for e in &c.removed {
                    out.push(DiffEntry {
                        path: format!("{}/{}", s.role, e.path),
                        change: DiffChange::Removed,
                        detail: None,
                    });
                }
                for e in &c.changed {
                    let content = e
                        .fields
                        .iter()
                        .any(|f| f.field == "sha256" || f.field == "size" || f.field == "kind");
                    let detail = field_changes(&e.fields);
                    out.push(DiffEntry {
                        path: format!("{}/{}", s.role, e.path),
                        change: if content { DiffChange::Modified } else { DiffChange::Metadata },
                        detail: Some(detail),
                    });
                }
                if c.reordered {
                    out.push(DiffEntry {
                        path: s.role.clone(),
                        change: DiffChange::Metadata,
                        detail: Some("entries stored in a different order".into()),
                    });
                }
            }
            other => {
                let detail = match other {
                    Some(Detail::Cmdline { a, b }) => format!("{a:?} -> {b:?}"),
                    Some(Detail::Metadata { fields }) | Some(Detail::Signature { fields }) => {
                        field_changes(fields)
                    }
                    Some(Detail::Opaque { reason }) => reason.clone(),
                    Some(Detail::Cpio(_)) => "same entries, different archive bytes".into(),
                    _ => format!(
                        "sha256 {} -> {}",
                        s.a_sha256.as_deref().unwrap_or("-"),
                        s.b_sha256.as_deref().unwrap_or("-")
                    ),
                };
                out.push(DiffEntry {
                    path: s.role.clone(),
                    change: section_change,
                    detail: Some(detail),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vectors() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/eif")
    }

    #[test]
    fn image_pcrs_match_the_vector() {
        let dir = vectors().join("tiny");
        let got = image_pcrs(&dir.join("image.eif")).unwrap();
        let want = Measurements::from_json(&std::fs::read(dir.join("pcrs.json")).unwrap()).unwrap();
        for i in [0, 1, 2] {
            assert_eq!(got.get(i), want.get(i));
        }
        assert!(image_pcrs(&dir.join("kernel")).is_err());
    }

    fn pcrs(v: u8) -> Measurements {
        let mut m = Measurements::new();
        for i in [0, 1, 2] {
            m.insert(i, [v + i; 48]);
        }
        m
    }

    fn rendered(m: &Measurements, immutable: bool) -> Vec<u8> {
        let mut input = crate::kms_policy::render::RenderInput::from_measurements(
            m,
            &[0, 1, 2],
            "arn:aws:iam::111122223333:role/enclave",
            "arn:aws:iam::111122223333:role/admin",
        )
        .unwrap();
        input.immutable = immutable;
        crate::kms_policy::render::policy_text(&input).unwrap().into_bytes()
    }

    #[test]
    fn policy_stage_pinned_mismatch_and_bypass() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/k1";
        let stage = KmsPolicyStage::default();
        let (c, f) = stage.check(key, &rendered(&pcrs(1), true), &pcrs(1));
        assert_eq!(c.verdict(), crate::report::Verdict::Pass, "{c:#?} {f:#?}");
        // Pinned to other PCRs: fails (pcr-value-mismatch / lockout).
        let (c, _) = stage.check(key, &rendered(&pcrs(1), true), &pcrs(7));
        assert_eq!(c.verdict(), crate::report::Verdict::Fail);
        // A governed policy: the admin can rewrite it unless trusted.
        let (c, f) = stage.check(key, &rendered(&pcrs(1), false), &pcrs(1));
        assert_eq!(c.verdict(), crate::report::Verdict::Fail);
        assert!(f.iter().any(|x| x.severity == Severity::Error));
        let trusting =
            KmsPolicyStage { trusted: vec!["arn:aws:iam::111122223333:role/admin".into()] };
        let (c, _) = trusting.check(key, &rendered(&pcrs(1), false), &pcrs(1));
        assert_eq!(c.verdict(), crate::report::Verdict::Pass, "{c:#?}");
        // A bypass from the vectors (IfExists on the attestation keys).
        let bypass = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../testvectors/kms-policies/aws-spec/05-ifexists-pin.json"),
        )
        .unwrap();
        let (c, f) = stage.check(key, &bypass, &pcrs(1));
        assert_eq!(c.verdict(), crate::report::Verdict::Fail);
        assert!(f.iter().any(|x| x.id == "kms.policy.if-exists-on-attestation-key"), "{f:#?}");
        // Not JSON.
        let (c, _) = stage.check(key, b"{", &pcrs(1));
        assert!(c.0.iter().any(|x| x.id == "kms.policy.parse" && x.is_fail()));
    }

    #[test]
    fn find_images_in_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(vectors().join("tiny/image.eif"), tmp.path().join("a.eif")).unwrap();
        std::fs::write(tmp.path().join("b.eif"), b"not an eif").unwrap();
        std::fs::write(tmp.path().join("c.txt"), b"ignored").unwrap();
        let (imgs, errs) = find_images(tmp.path()).unwrap();
        assert_eq!(imgs.len(), 1);
        assert_eq!(errs.len(), 1);
    }
}
