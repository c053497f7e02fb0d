//! `proofpack audit`: every check for every receipt, in parallel, into one
//! [`AuditReport`].
//!
//! For each receipt the auditor runs, and records, all of these stages (a
//! failed stage never stops the later ones, so the report shows everything):
//!
//! 1. the receipt itself ([`ReceiptCheck`]): DSSE signature, the attestation
//!    documents and their chain at the document's own time, and the key and
//!    statement bindings;
//! 2. the source commit ([`SourceCheck`]): it exists in the repository, its
//!    tree is the claimed one, optionally it is reachable from a branch and
//!    signed;
//! 3. a rebuild of that commit ([`Rebuild`], through its cache) and the PCR
//!    comparison with the attested PCRs; when they differ and the image that
//!    ran is available (`--images`), the image diff;
//! 4. for every KMS key the receipt used, the key policy ([`PolicyCheck`]):
//!    it pins exactly the attested PCRs and has no bypass;
//! 5. the artifact digest, when an artifact is given;
//! 6. the live key state, when a KMS endpoint is given ([`KeyState`]).
//!
//! Receipts are audited in parallel (rayon); receipts of the same commit
//! share one rebuild and one source check through a per-commit once-cell
//! ([`PerKey`]), so 1,000 receipts over 10 commits cost 10 rebuilds.
//!
//! The stages are traits so that this module owns only the orchestration and
//! the comparisons; the real implementations live in their own modules and
//! are wired in `cli::audit`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use build_spec::pcr::{Measurements, Pcr};
use rayon::prelude::*;

pub mod receipt_stage;
pub mod secrets;
pub mod stages;

use crate::report::{
    AuditReport, CertSummary, Check, Checks, DiffEntry, GroupKind, PcrRow, PolicyFinding,
    SecretsSourceInfo, Settings, SourceInfo, SubjectKind, SubjectReport, ToolInfo,
};

/// PCRs that identify the image: a rebuild must reproduce all three.
pub const IMAGE_PCRS: [u8; 3] = [0, 1, 2];

/// One receipt to audit.
#[derive(Debug, Clone)]
pub struct ReceiptInput {
    /// The path or name shown in the report.
    pub path: String,
    /// The receipt bytes (a DSSE envelope), or why they could not be read.
    pub bytes: Result<Vec<u8>, String>,
}

/// One output artifact named by a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputDigest {
    /// Artifact name.
    pub name: String,
    /// Lowercase hex SHA-256 of the artifact bytes.
    pub sha256: String,
}

/// What a receipt claims, as read by the receipt verifier. The facts are
/// only trustworthy when the receipt's own checks passed; the audit still
/// uses them for the later stages so the report is complete, and the
/// receipt's failed checks keep the verdict a failure.
#[derive(Debug, Clone, Default)]
pub struct ReceiptFacts {
    /// Receipt id: SHA-256 of the DSSE payload.
    pub receipt_id: Option<String>,
    /// The attestation time the chain was checked at, RFC 3339.
    pub attested_at: Option<String>,
    /// The attested PCRs.
    pub pcrs: Measurements,
    /// The source the receipt claims.
    pub source: Option<SourceInfo>,
    /// The repository-relative path of the build spec, when claimed.
    pub build_spec_path: Option<String>,
    /// Every KMS key ARN the enclave decrypted with (the keys whose policies
    /// must pin the PCRs), deduplicated.
    pub kms_keys: Vec<String>,
    /// The output artifacts.
    pub outputs: Vec<OutputDigest>,
    /// What the receipt says about recipient binding (issue 20).
    pub recipients: crate::receipt::recipients::RecipientsFacts,
    /// The operator's (unattested) claim of the image SHA-384.
    pub eif_sha384: Option<String>,
    /// The build-info says the image was built from a working tree with
    /// uncommitted changes (`proofpack build --allow-dirty`).
    pub source_dirty: bool,
    /// Where the SOPS inputs came from (issue 21).
    pub secrets: secrets::SecretsFacts,
}

/// The receipt verifier's answer for one receipt.
#[derive(Debug, Clone, Default)]
pub struct ReceiptFindings {
    /// Checks of the signature, attestation and binding stages.
    pub checks: Vec<(GroupKind, Check)>,
    /// The certificate chain of the receipt's attestation document, root first.
    pub chain: Vec<CertSummary>,
    /// What the receipt claims, when its payload could be read at all.
    pub facts: Option<ReceiptFacts>,
}

/// Stage 1: the receipt's own checks.
pub trait ReceiptCheck: Send + Sync {
    /// Verifies one receipt; never fails, records failures as checks.
    fn check(&self, receipt: &[u8]) -> ReceiptFindings;
}

/// Stage 2: the source commit in the repository.
pub trait SourceCheck: Send + Sync {
    /// Checks that `source.commit` exists (with `source.tree`), and whatever
    /// else was configured (branch reachability, signature).
    fn check(&self, source: &SourceInfo) -> Checks;

    /// Reads `path` from the receipt's commit (at most `max` bytes), for
    /// files the audit compares with the receipt (the recipients policy).
    fn read_file(&self, source: &SourceInfo, path: &str, max: usize) -> Result<Vec<u8>, String> {
        let _ = (source, path, max);
        Err("this source cannot read files".into())
    }
}

/// A rebuilt image.
#[derive(Debug, Clone)]
pub struct RebuiltImage {
    /// Its PCRs.
    pub pcrs: Measurements,
    /// The EIF file, when kept (for the diff).
    pub eif: Option<PathBuf>,
    /// Checks the rebuild itself recorded (cache hit, toolchain, ...).
    pub checks: Checks,
}

/// Stage 3: rebuilding the image of a commit, and diffing two images.
pub trait Rebuild: Send + Sync {
    /// Rebuilds the image of `source` (through the rebuild cache).
    fn rebuild(
        &self,
        source: &SourceInfo,
        build_spec_path: Option<&str>,
    ) -> Result<RebuiltImage, String>;

    /// Lists how `actual` (the image that ran) differs from `expected` (the
    /// rebuild).
    fn diff(
        &self,
        expected: &std::path::Path,
        actual: &std::path::Path,
    ) -> Result<Vec<DiffEntry>, String>;
}

/// Stage 4: one KMS key policy against the attested PCRs.
pub trait PolicyCheck: Send + Sync {
    /// Analyses `policy` (the key policy JSON of `key_arn`) against `pcrs`:
    /// checks (pinning, bypasses) plus the findings for the report.
    fn check(
        &self,
        key_arn: &str,
        policy: &[u8],
        pcrs: &Measurements,
    ) -> (Checks, Vec<PolicyFinding>);

    /// The issue-20 property of one key policy: every Decrypt it allows
    /// carries `kms:EncryptionContext:<context_key>`. `None` when this
    /// checker does not analyse it.
    fn context_check(
        &self,
        key_arn: &str,
        policy: &[u8],
        pcrs: &Measurements,
        context_key: &str,
    ) -> Option<Check> {
        let _ = (key_arn, policy, pcrs, context_key);
        None
    }
}

/// How the audit checks recipients (issue 20).
#[derive(Debug, Clone)]
pub struct RecipientsSettings {
    /// Repository path of the recipients policy at the receipt's commit.
    pub policy_path: String,
    /// Unbound inputs, jobs without a policy and images built with
    /// `allow-unbound-inputs` are a WARN instead of a FAIL.
    pub allow_unbound: bool,
}

impl Default for RecipientsSettings {
    fn default() -> Self {
        Self {
            policy_path: crate::receipt::recipients::DEFAULT_POLICY_PATH.to_owned(),
            allow_unbound: false,
        }
    }
}

/// Stage 6: the live state of a KMS key (issue 10 hook).
pub trait KeyState: Send + Sync {
    /// Describes the key; `kms.key.state` passes when it is enabled.
    fn check(&self, key_arn: &str) -> Check;
}

/// An image that may have run, found with `--images`: matched to a receipt
/// by its computed PCR0/1/2, never by a claimed digest.
#[derive(Debug, Clone)]
pub struct CandidateImage {
    /// The EIF file.
    pub path: PathBuf,
    /// Its PCRs, computed from its bytes.
    pub pcrs: Measurements,
}

/// A once-cell per key: the first caller for a key computes the value, every
/// concurrent or later caller for the same key waits for and shares it.
pub struct PerKey<T> {
    cells: Mutex<HashMap<String, Arc<OnceLock<T>>>>,
}

impl<T> Default for PerKey<T> {
    fn default() -> Self {
        Self { cells: Mutex::new(HashMap::new()) }
    }
}

impl<T: Clone> PerKey<T> {
    /// The value for `key`, computed by `f` at most once.
    pub fn get_or_init(&self, key: &str, f: impl FnOnce() -> T) -> T {
        let cell = {
            // A poisoned lock only means another thread panicked while
            // inserting; the map itself is still consistent.
            let mut map = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(map.entry(key.to_string()).or_default())
        };
        cell.get_or_init(f).clone()
    }

    /// How many distinct keys were computed.
    pub fn len(&self) -> usize {
        self.cells.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when nothing was computed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A KMS key policy given on the command line.
#[derive(Debug, Clone)]
pub struct PolicyInput {
    /// The key ARN it belongs to.
    pub key_arn: String,
    /// The policy bytes.
    pub bytes: Vec<u8>,
}

/// The artifact given with `--artifact`.
#[derive(Debug, Clone)]
pub struct ArtifactInput {
    /// Path as given.
    pub path: String,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
}

/// The audit engine: the stages plus the inputs that apply to every receipt.
pub struct Auditor {
    /// Stage 1.
    pub receipts: Box<dyn ReceiptCheck>,
    /// Stage 2; `None` when no repository was given (recorded as a failure).
    pub source: Option<Box<dyn SourceCheck>>,
    /// Stage 3; `None` when rebuilding is not possible (recorded as a failure).
    pub rebuild: Option<Box<dyn Rebuild>>,
    /// Stage 4.
    pub policy: Box<dyn PolicyCheck>,
    /// Stage 6, when a KMS endpoint was given.
    pub key_state: Option<Box<dyn KeyState>>,
    /// Key policies by key ARN.
    pub policies: Vec<PolicyInput>,
    /// The artifact, when given.
    pub artifact: Option<ArtifactInput>,
    /// Images that may have run, for the diff.
    pub images: Vec<CandidateImage>,
    /// The settings recorded in the report.
    pub settings: Settings,
    /// The build spec the auditor requires (`--spec`), repository-relative
    /// and normalised by [`normalize_spec_path`]. When set, a receipt that
    /// names another spec fails `rebuild.spec`, and every rebuild uses this
    /// path instead of the receipt's: the receipt is the producer's claim,
    /// the spec to rebuild is the auditor's decision.
    pub required_spec: Option<String>,
    /// Recipient checks (issue 20).
    pub recipients: RecipientsSettings,
    /// Secrets-source checks (issue 21).
    pub secrets: secrets::SecretsStage,
    rebuilds: PerKey<Result<Arc<RebuiltImage>, String>>,
    sources: PerKey<Checks>,
    /// Policy analyses by key ARN and attested PCRs: receipts of the same
    /// image share one analysis (the policy bytes are fixed per key for the
    /// auditor's lifetime), which was about 40 % of a warm audit's time (BENCHMARKS.md).
    policy_results: PerKey<(Checks, Vec<PolicyFinding>)>,
    /// The encryption-context property per key and attested PCRs.
    context_results: PerKey<Option<Check>>,
}

/// A build-spec path in the one form paths are compared in: repository
/// relative, `/`-separated, without empty or `.` components. Absolute paths
/// and `..` are refused: the spec must be a file of the commit's tree.
pub fn normalize_spec_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') || path.contains('\\') {
        return Err(format!(
            "{path:?} is not a repository-relative path with / separators (e.g. build-spec/enclave.toml)"
        ));
    }
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("{path:?} leaves the repository (`..`)")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(format!("{path:?} names no file"));
    }
    Ok(parts.join("/"))
}

/// `rebuild.spec`: does the receipt name the build spec the auditor requires?
fn spec_claim_check(want: &str, claimed: Option<&str>) -> Check {
    match claimed {
        Some(c) if normalize_spec_path(c).as_deref() == Ok(want) => Check::pass(
            "rebuild.spec",
            format!("the receipt names the required build spec {want}"),
        ),
        Some(c) => Check::mismatch(
            "rebuild.spec",
            format!(
                "the receipt names build spec {c}, not the required {want} (--spec): the image \
                 may have been built from another spec; rebuilt from {want}"
            ),
            want,
            c,
        ),
        None => Check::fail(
            "rebuild.spec",
            format!("the receipt names no build spec, so it does not claim the required {want} (--spec); rebuilt from {want}"),
        ),
    }
}

/// Lowercase hex of a PCR.
fn pcr_hex(p: &Pcr) -> String {
    hex::encode(p)
}

/// The key of the per-commit caches: repository, commit, tree and spec path,
/// so two receipts that claim the same commit but different trees never
/// share a result.
fn commit_key(src: &SourceInfo, spec: Option<&str>) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        src.repository,
        src.commit,
        src.tree.as_deref().unwrap_or(""),
        spec.unwrap_or("")
    )
}

impl Auditor {
    /// An auditor with the given stages and no rebuild or source done yet.
    pub fn new(
        receipts: Box<dyn ReceiptCheck>,
        policy: Box<dyn PolicyCheck>,
        settings: Settings,
    ) -> Self {
        Self {
            receipts,
            source: None,
            rebuild: None,
            policy,
            key_state: None,
            policies: Vec::new(),
            artifact: None,
            images: Vec::new(),
            settings,
            required_spec: None,
            recipients: RecipientsSettings::default(),
            secrets: secrets::SecretsStage::default(),
            rebuilds: PerKey::default(),
            sources: PerKey::default(),
            policy_results: PerKey::default(),
            context_results: PerKey::default(),
        }
    }

    /// How many distinct rebuilds ran (or were answered) so far.
    pub fn rebuild_count(&self) -> usize {
        self.rebuilds.len()
    }

    /// Audits every receipt in parallel, then the checks across receipts
    /// (`secrets.rollback`); `verified_at` is the report time.
    pub fn audit(&self, inputs: &[ReceiptInput], verified_at: String) -> AuditReport {
        let done: Vec<(SubjectReport, Option<ReceiptFacts>)> =
            inputs.par_iter().map(|i| self.audit_with_facts(i)).collect();
        let packed: Vec<secrets::Packed<'_>> = done
            .iter()
            .filter_map(|(s, f)| {
                f.as_ref().map(|f| secrets::Packed {
                    path: &s.path,
                    attested_at: f.attested_at.as_deref(),
                    facts: &f.secrets,
                })
            })
            .collect();
        let mut rollback =
            secrets::rollback_checks(self.secrets.settings.repo.as_ref(), &packed).into_iter();
        drop(packed);
        let subjects = done
            .into_iter()
            .map(|(mut s, f)| {
                if f.is_some() {
                    if let Some(Some(c)) = rollback.next() {
                        s.push(GroupKind::Secrets, c);
                    }
                }
                s
            })
            .collect();
        AuditReport {
            tool: ToolInfo::current(),
            verified_at,
            settings: self.settings.clone(),
            subjects,
        }
    }

    /// Audits one receipt (without the checks across receipts).
    pub fn audit_one(&self, input: &ReceiptInput) -> SubjectReport {
        self.audit_with_facts(input).0
    }

    fn audit_with_facts(&self, input: &ReceiptInput) -> (SubjectReport, Option<ReceiptFacts>) {
        let mut s = SubjectReport::new(SubjectKind::Receipt, input.path.clone());
        let bytes = match &input.bytes {
            Ok(b) => {
                s.push(
                    GroupKind::Input,
                    Check::pass("input.read", format!("read {} bytes", b.len())),
                );
                b
            }
            Err(e) => {
                s.push(
                    GroupKind::Input,
                    Check::fail("input.read", format!("cannot read the receipt: {e}")),
                );
                return (s, None);
            }
        };
        let found = self.receipts.check(bytes);
        for (g, c) in found.checks {
            s.push(g, c);
        }
        s.chain = found.chain;
        let Some(facts) = found.facts else {
            s.push(
                GroupKind::Source,
                Check::skipped("source.commit", "the receipt's statement could not be read"),
            );
            return (s, None);
        };
        s.receipt_id = facts.receipt_id.clone();
        s.attested_at = facts.attested_at.clone();
        s.source = facts.source.clone();

        self.stage_source(&mut s, &facts);
        s.secrets_sources = secrets_sources(&facts.secrets);
        s.add(GroupKind::Secrets, self.secrets.check(&facts.secrets));
        self.stage_recipients(&mut s, &facts);
        self.stage_rebuild(&mut s, &facts);
        self.stage_policies(&mut s, &facts);
        self.stage_artifact(&mut s, &facts);
        self.stage_key_state(&mut s, &facts);
        (s, Some(facts))
    }

    fn stage_source(&self, s: &mut SubjectReport, facts: &ReceiptFacts) {
        if facts.source_dirty {
            s.push(
                GroupKind::Source,
                Check::fail(
                    "source.dirty",
                    "the image was built from a working tree with uncommitted changes \
                     (--allow-dirty, recorded in its build-info): no commit describes its \
                     sources, so a rebuild cannot reproduce it",
                ),
            );
        }
        let Some(src) = &facts.source else {
            s.push(
                GroupKind::Source,
                Check::fail("source.commit", "the receipt names no source commit"),
            );
            return;
        };
        let Some(checker) = &self.source else {
            s.push(GroupKind::Source, Check::fail("source.commit", "no repository given (--repo)"));
            return;
        };
        let key = commit_key(src, None);
        s.add(GroupKind::Source, self.sources.get_or_init(&key, || checker.check(src)));
    }

    fn stage_rebuild(&self, s: &mut SubjectReport, facts: &ReceiptFacts) {
        s.pcrs = pcr_rows(&facts.pcrs, &Measurements::new());
        let spec = match &self.required_spec {
            None => facts.build_spec_path.as_deref(),
            Some(want) => {
                s.push(
                    GroupKind::Rebuild,
                    spec_claim_check(want, facts.build_spec_path.as_deref()),
                );
                Some(want.as_str())
            }
        };
        let Some(src) = &facts.source else {
            s.push(GroupKind::Rebuild, Check::fail("rebuild.run", "no source commit to rebuild"));
            return;
        };
        let Some(rebuilder) = &self.rebuild else {
            s.push(GroupKind::Rebuild, Check::fail("rebuild.run", "rebuilding is not available"));
            return;
        };
        let key = commit_key(src, spec);
        let built = self.rebuilds.get_or_init(&key, || rebuilder.rebuild(src, spec).map(Arc::new));
        let built = match built {
            Ok(b) => b,
            Err(e) => {
                s.push(
                    GroupKind::Rebuild,
                    Check::fail(
                        "rebuild.run",
                        format!("rebuild of {} failed: {e}", short(&src.commit)),
                    ),
                );
                return;
            }
        };
        s.add(GroupKind::Rebuild, built.checks.clone());
        s.pcr_expected_from = Some(format!("rebuild of {}", short(&src.commit)));
        let checks = compare_pcrs(&facts.pcrs, &built.pcrs);
        let mismatch = checks.0.iter().any(|c| c.is_fail());
        s.add(GroupKind::Rebuild, checks);
        s.pcrs = pcr_rows(&facts.pcrs, &built.pcrs);
        if mismatch {
            self.diff(s, facts, &built, rebuilder.as_ref());
        }
    }

    fn diff(
        &self,
        s: &mut SubjectReport,
        facts: &ReceiptFacts,
        built: &RebuiltImage,
        rebuilder: &dyn Rebuild,
    ) {
        let ran = self.images.iter().find(|c| {
            IMAGE_PCRS
                .iter()
                .all(|i| c.pcrs.get(*i).is_some() && c.pcrs.get(*i) == facts.pcrs.get(*i))
        });
        let (Some(ran), Some(expected)) = (ran, &built.eif) else {
            s.push(
                GroupKind::Rebuild,
                Check::skipped(
                    "rebuild.diff",
                    "no image with the attested PCRs was given (--images), so the files that differ cannot be named",
                ),
            );
            return;
        };
        match rebuilder.diff(expected, &ran.path) {
            Ok(d) => {
                let names: Vec<&str> = d.iter().take(5).map(|e| e.path.as_str()).collect();
                s.push(
                    GroupKind::Rebuild,
                    Check::warn(
                        "rebuild.diff",
                        format!(
                            "{} differs from the rebuild in {} place(s): {}",
                            ran.path.display(),
                            d.len(),
                            names.join(", ")
                        ),
                    ),
                );
                s.image_diff = d;
            }
            Err(e) => s.push(
                GroupKind::Rebuild,
                Check::warn("rebuild.diff", format!("image diff failed: {e}")),
            ),
        }
    }

    fn stage_policies(&self, s: &mut SubjectReport, facts: &ReceiptFacts) {
        if facts.kms_keys.is_empty() {
            s.push(
                GroupKind::KmsPolicy,
                Check::fail("kms.policy.keys", "the receipt names no KMS key"),
            );
            return;
        }
        for key in &facts.kms_keys {
            let Some(p) = self.policies.iter().find(|p| &p.key_arn == key) else {
                s.push(
                    GroupKind::KmsPolicy,
                    Check::fail(
                        "kms.policy.missing",
                        format!("no policy given for {key}; pass --kms-policy {key}=FILE"),
                    ),
                );
                continue;
            };
            // Every attested index and value is in the key: two receipts
            // share an analysis only when all their PCRs agree.
            let pcrs: Vec<String> =
                facts.pcrs.pcrs.iter().map(|(i, v)| format!("{i}={}", pcr_hex(v))).collect();
            let cache_key = format!("{key}\n{}", pcrs.join(","));
            let (checks, findings) = self
                .policy_results
                .get_or_init(&cache_key, || self.policy.check(key, &p.bytes, &facts.pcrs));
            s.add(GroupKind::KmsPolicy, checks);
            s.policy_findings.extend(findings);
            // Issue 20: a receipt bound to a recipients policy relies on the
            // keys refusing unbound ciphertexts too (defence in depth: a WARN).
            // Only keys of inputs (SOPS, sealed): the organisation key's
            // ciphertext carries its own context, never the recipients one.
            let input_key = facts.recipients.decrypts.iter().any(|d| &d.1 == key);
            if input_key && facts.recipients.member.as_ref().is_some_and(|m| m.0.is_some()) {
                let ctx = enclave::recipients::CONTEXT_KEY;
                let c = self.context_results.get_or_init(&cache_key, || {
                    self.policy.context_check(key, &p.bytes, &facts.pcrs, ctx)
                });
                if let Some(c) = c {
                    s.push(GroupKind::KmsPolicy, c);
                }
            }
        }
    }

    /// Issue 20: the receipt's recipients against the policy at its commit.
    fn stage_recipients(&self, s: &mut SubjectReport, facts: &ReceiptFacts) {
        use crate::receipt::recipients::{checks, Expectation};
        let path = &self.recipients.policy_path;
        let read = match (&facts.source, &self.source) {
            (Some(src), Some(checker)) => checker
                .read_file(src, path, enclave::recipients::policy::MAX_POLICY_BYTES)
                .map(|b| (format!("{path} at {}", short(&src.commit)), b)),
            _ => Err("no repository or source commit".into()),
        };
        let (label, bytes) = match read {
            Ok(x) => x,
            Err(e) => {
                // Without the owners' file only a receipt that needs none passes.
                let e2 = Expectation {
                    policy: None,
                    allow_unbound: self.recipients.allow_unbound,
                    require_member: true,
                };
                let mut found = checks(&facts.recipients, &e2);
                if facts.recipients.member.as_ref().is_some_and(|m| m.0.is_some()) {
                    found.retain(|c| c.id != "recipients.policy" && c.id != "recipients.allowed");
                    found.push(Check::fail(
                        "recipients.policy",
                        format!(
                            "cannot read the recipients policy {path} (--recipients-policy): {e}"
                        ),
                    ));
                }
                for c in found {
                    s.push(GroupKind::Binding, c);
                }
                return;
            }
        };
        let e = Expectation {
            policy: Some((&label, &bytes)),
            allow_unbound: self.recipients.allow_unbound,
            require_member: true,
        };
        for c in checks(&facts.recipients, &e) {
            s.push(GroupKind::Binding, c);
        }
    }

    fn stage_artifact(&self, s: &mut SubjectReport, facts: &ReceiptFacts) {
        let Some(a) = &self.artifact else {
            s.push(
                GroupKind::Artifact,
                Check::skipped("artifact.digest", "no artifact given (--artifact)"),
            );
            return;
        };
        let check = match facts.outputs.iter().find(|o| o.sha256 == a.sha256) {
            Some(o) => Check::pass(
                "artifact.digest",
                format!("{} has the SHA-256 of output {}", a.path, o.name),
            ),
            None => Check::mismatch(
                "artifact.digest",
                format!("{} is none of the receipt's outputs", a.path),
                facts.outputs.iter().map(|o| o.sha256.as_str()).collect::<Vec<_>>().join(" or "),
                a.sha256.clone(),
            ),
        };
        s.push(GroupKind::Artifact, check);
    }

    fn stage_key_state(&self, s: &mut SubjectReport, facts: &ReceiptFacts) {
        match &self.key_state {
            None => s.push(
                GroupKind::KmsKey,
                Check::skipped("kms.key.state", "no KMS endpoint given (--kms-endpoint)"),
            ),
            Some(k) => {
                for key in &facts.kms_keys {
                    s.push(GroupKind::KmsKey, k.check(key));
                }
            }
        }
    }
}

/// The report's list of where each input came from.
fn secrets_sources(f: &secrets::SecretsFacts) -> Vec<SecretsSourceInfo> {
    let git = f.git_inputs();
    f.input_sha256
        .iter()
        .map(|(name, _)| match git.iter().find(|g| g.input == *name) {
            Some(g) => SecretsSourceInfo {
                input: name.clone(),
                repository: Some(g.repository.clone()),
                commit: Some(g.commit.clone()),
                path: Some(g.path.clone()),
            },
            None => SecretsSourceInfo {
                input: name.clone(),
                repository: None,
                commit: None,
                path: None,
            },
        })
        .collect()
}

/// The first 12 characters of a commit id, for messages.
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Compares attested PCRs with expected ones: one required check per image
/// PCR (0, 1, 2), which must be present on both sides and equal; see
/// [`build_spec::pcr::CompareRules::attested`].
pub fn compare_pcrs(attested: &Measurements, expected: &Measurements) -> Checks {
    build_spec::pcr::compare(expected, attested, &build_spec::pcr::CompareRules::attested())
}

/// PCRs always shown in the table: the image (0, 1, 2), the IAM role (3),
/// the instance (4) and the signing certificate (8). Other indices are shown
/// only when non-zero (the NSM reports all 16, mostly zeros).
pub const TABLE_PCRS: [u8; 6] = [0, 1, 2, 3, 4, 8];

/// The PCR table over the union of indices of both sides.
pub fn pcr_rows(attested: &Measurements, expected: &Measurements) -> Vec<PcrRow> {
    let shown = |i: &u8, v: &Pcr| TABLE_PCRS.contains(i) || v.iter().any(|b| *b != 0);
    let idx: BTreeSet<u8> = attested
        .pcrs
        .iter()
        .chain(expected.pcrs.iter())
        .filter(|(i, v)| shown(i, v))
        .map(|(i, _)| *i)
        .collect();
    idx.into_iter()
        .map(|i| PcrRow { index: i, attested: attested.hex(i), expected: expected.hex(i) })
        .collect()
}

/// The `gate --eif IMAGE --expect-pcrs pcrs.json` subject: the image's computed
/// PCRs against the expected ones. PCR0, PCR1 and PCR2 are always required;
/// any other PCR the expected file lists (e.g. PCR8, the signing
/// certificate) must match too.
pub fn gate_image(
    path: &str,
    computed: Result<Measurements, String>,
    expected: &Measurements,
    expected_from: &str,
) -> SubjectReport {
    let mut s = SubjectReport::new(SubjectKind::Image, path);
    let computed = match computed {
        Ok(m) => {
            s.push(
                GroupKind::Input,
                Check::pass("image.read", "read the image and computed its PCRs"),
            );
            m
        }
        Err(e) => {
            s.push(
                GroupKind::Input,
                Check::fail("image.read", format!("cannot compute the image's PCRs: {e}")),
            );
            return s;
        }
    };
    let checks =
        build_spec::pcr::compare(expected, &computed, &build_spec::pcr::CompareRules::image_gate());
    s.add(GroupKind::Rebuild, checks);
    // The table shows the image's PCRs in the "attested" column: they are what
    // an enclave started from this file would attest.
    s.pcr_expected_from = Some(expected_from.to_string());
    s.pcrs = pcr_rows(&computed, expected);
    s
}

/// Parses `KEY_ARN=FILE` (the ARN itself contains `:` but never `=`).
pub fn parse_policy_arg(arg: &str) -> Result<(String, PathBuf), String> {
    match arg.split_once('=') {
        Some((arn, file)) if arn.starts_with("arn:") && !file.is_empty() => {
            Ok((arn.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!("expected KEY_ARN=FILE, got {arg:?}")),
    }
}

/// Deduplicates key ARNs keeping first-seen order.
pub fn dedup_keys<I: IntoIterator<Item = String>>(keys: I) -> Vec<String> {
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    for k in keys {
        if seen.insert(k.clone(), ()).is_none() {
            out.push(k);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::report::Verdict;

    fn m(vals: &[(u8, u8)]) -> Measurements {
        let mut x = Measurements::new();
        for (i, v) in vals {
            x.insert(*i, [*v; 48]);
        }
        x
    }

    /// A receipt "format" for orchestration tests only:
    /// `commit;pcr-byte;key;sha[;build-spec-path]`.
    struct FakeReceipts;
    impl ReceiptCheck for FakeReceipts {
        fn check(&self, r: &[u8]) -> ReceiptFindings {
            let text = String::from_utf8_lossy(r).to_string();
            let parts: Vec<&str> = text.split(';').collect();
            let pcr: u8 = parts[1].parse().unwrap();
            ReceiptFindings {
                checks: vec![(GroupKind::Signature, Check::pass("receipt.signature", "ok"))],
                chain: vec![],
                facts: Some(ReceiptFacts {
                    receipt_id: Some("00".repeat(32)),
                    pcrs: m(&[(0, pcr), (1, pcr), (2, pcr)]),
                    source: Some(SourceInfo {
                        repository: "r".into(),
                        commit: parts[0].into(),
                        tree: None,
                    }),
                    kms_keys: vec![parts[2].into()],
                    outputs: vec![OutputDigest { name: "a".into(), sha256: parts[3].into() }],
                    build_spec_path: parts.get(4).map(|p| p.to_string()),
                    recipients: bound_recipients(),
                    source_dirty: parts.get(5) == Some(&"dirty"),
                    ..Default::default()
                }),
            }
        }
    }

    /// The recipients policy of the fake repository: key `b"der"` for api/prod.
    fn fake_policy() -> Vec<u8> {
        use enclave::recipients::policy::{entry, write_policy};
        write_policy(&[entry("ops", b"der", "api", "prod")])
    }

    /// A receipt bound to [`fake_policy`], sent to its one recipient.
    fn bound_recipients() -> crate::receipt::recipients::RecipientsFacts {
        use sha2::Digest as _;
        let policy = fake_policy();
        let digest = hex::encode(sha2::Sha256::digest(&policy));
        let ctx = [(enclave::recipients::CONTEXT_KEY.to_owned(), digest.clone())].into();
        crate::receipt::recipients::RecipientsFacts {
            member: Some((Some(digest), false)),
            embedded: Some(policy),
            target: Some(("api".into(), "prod".into())),
            outputs: vec![("a".into(), vec![(hex::encode(sha2::Sha256::digest(b"der")), false)])],
            decrypts: vec![("in".into(), "arn:k1".into(), ctx)],
        }
    }

    struct FakeSource;
    impl SourceCheck for FakeSource {
        fn read_file(&self, _: &SourceInfo, path: &str, _: usize) -> Result<Vec<u8>, String> {
            if path == crate::receipt::recipients::DEFAULT_POLICY_PATH {
                Ok(fake_policy())
            } else {
                Err(format!("{path} is not in the commit"))
            }
        }

        fn check(&self, s: &SourceInfo) -> Checks {
            Checks(vec![Check::from_bool(
                "source.commit",
                s.commit != "missing",
                "exists",
                "missing",
            )])
        }
    }

    /// Rebuilds give PCR byte = first char of the commit as digit.
    struct FakeRebuild(AtomicUsize);
    impl Rebuild for FakeRebuild {
        fn rebuild(&self, s: &SourceInfo, _: Option<&str>) -> Result<RebuiltImage, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            let v: u8 = s.commit[..1].parse().map_err(|_| "bad".to_string())?;
            Ok(RebuiltImage {
                pcrs: m(&[(0, v), (1, v), (2, v)]),
                eif: None,
                checks: Checks::new(),
            })
        }
        fn diff(&self, _: &std::path::Path, _: &std::path::Path) -> Result<Vec<DiffEntry>, String> {
            Ok(vec![])
        }
    }

    struct FakePolicy;
    impl PolicyCheck for FakePolicy {
        fn check(&self, _: &str, p: &[u8], _: &Measurements) -> (Checks, Vec<PolicyFinding>) {
            (
                Checks(vec![Check::from_bool("kms.policy.pins", p == b"good", "pinned", "bypass")]),
                vec![],
            )
        }
    }

    fn auditor(rebuilds: &Arc<FakeRebuild>) -> Auditor {
        struct Shared(Arc<FakeRebuild>);
        impl Rebuild for Shared {
            fn rebuild(&self, s: &SourceInfo, p: Option<&str>) -> Result<RebuiltImage, String> {
                self.0.rebuild(s, p)
            }
            fn diff(
                &self,
                a: &std::path::Path,
                b: &std::path::Path,
            ) -> Result<Vec<DiffEntry>, String> {
                self.0.diff(a, b)
            }
        }
        let mut a = Auditor::new(Box::new(FakeReceipts), Box::new(FakePolicy), Settings::default());
        a.source = Some(Box::new(FakeSource));
        a.rebuild = Some(Box::new(Shared(Arc::clone(rebuilds))));
        a.policies = vec![PolicyInput { key_arn: "arn:k1".into(), bytes: b"good".to_vec() }];
        a
    }

    #[test]
    fn recipients_are_checked_against_the_repository_policy() {
        let rb = Arc::new(FakeRebuild(AtomicUsize::new(0)));
        let a = auditor(&rb);
        let r = a.audit_one(&input("1abc;1;arn:k1;aa"));
        let ids: Vec<(&str, bool)> = r
            .groups
            .iter()
            .flat_map(|g| &g.checks.0)
            .map(|c| (c.id.as_str(), c.is_fail()))
            .collect();
        for id in ["recipients.policy", "recipients.allowed", "recipients.inputs_bound"] {
            assert!(ids.contains(&(id, false)), "{id}: {ids:?}");
        }
        // Another path: the policy cannot be read, so the receipt fails.
        let mut a = auditor(&rb);
        a.recipients.policy_path = "elsewhere.json".into();
        let r = a.audit_one(&input("1abc;1;arn:k1;aa"));
        assert!(r
            .groups
            .iter()
            .flat_map(|g| &g.checks.0)
            .any(|c| c.id == "recipients.policy" && c.is_fail()));
    }

    fn input(s: &str) -> ReceiptInput {
        ReceiptInput { path: s.into(), bytes: Ok(s.as_bytes().to_vec()) }
    }

    /// Records the spec path of every rebuild; PCR byte = first digit of the
    /// commit, as [`FakeRebuild`].
    #[derive(Default)]
    struct SpecRebuild(Arc<Mutex<Vec<Option<String>>>>);
    impl Rebuild for SpecRebuild {
        fn rebuild(&self, s: &SourceInfo, spec: Option<&str>) -> Result<RebuiltImage, String> {
            self.0.lock().unwrap().push(spec.map(str::to_string));
            FakeRebuild(AtomicUsize::new(0)).rebuild(s, spec)
        }
        fn diff(&self, _: &std::path::Path, _: &std::path::Path) -> Result<Vec<DiffEntry>, String> {
            Ok(vec![])
        }
    }

    fn spec_audit(required: Option<&str>, receipt: &str) -> (AuditReport, Vec<Option<String>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut a = auditor(&Arc::new(FakeRebuild(AtomicUsize::new(0))));
        a.rebuild = Some(Box::new(SpecRebuild(Arc::clone(&calls))));
        a.required_spec = required.map(|r| normalize_spec_path(r).unwrap());
        let r = a.audit(&[input(receipt)], "t".into());
        let calls = calls.lock().unwrap().clone();
        (r, calls)
    }

    fn spec_check(r: &AuditReport) -> Option<Check> {
        r.subjects[0].checks().find(|(_, c)| c.id == "rebuild.spec").map(|(_, c)| c.clone())
    }

    #[test]
    fn dirty_build_info_fails_source_dirty() {
        let (r, _) = spec_audit(None, "1abc;1;arn:k1;aa;app/enclave.toml;dirty");
        assert_eq!(r.verdict(), Verdict::Fail);
        let c = r.subjects[0].checks().find(|(_, c)| c.id == "source.dirty").unwrap().1.clone();
        assert!(c.is_fail() && c.detail.contains("--allow-dirty"), "{c:?}");
        let (clean, _) = spec_audit(None, "1abc;1;arn:k1;aa;app/enclave.toml");
        assert!(clean.subjects[0].checks().all(|(_, c)| c.id != "source.dirty"));
    }

    #[test]
    fn without_spec_the_receipts_spec_is_rebuilt() {
        let (r, calls) = spec_audit(None, "1abc;1;arn:k1;aa;app/enclave.toml");
        assert_eq!(r.verdict(), Verdict::Pass, "{:#?}", r.reasons());
        assert_eq!(calls, vec![Some("app/enclave.toml".to_string())]);
        assert!(spec_check(&r).is_none());
    }

    #[test]
    fn required_spec_named_by_the_receipt_passes() {
        let (r, calls) = spec_audit(
            Some("./build-spec/enclave.toml"),
            "1abc;1;arn:k1;aa;build-spec//enclave.toml",
        );
        assert_eq!(r.verdict(), Verdict::Pass, "{:#?}", r.reasons());
        assert!(!spec_check(&r).unwrap().is_fail());
        assert_eq!(calls, vec![Some("build-spec/enclave.toml".to_string())]);
    }

    #[test]
    fn receipt_naming_another_spec_fails_and_the_auditors_spec_is_rebuilt() {
        let (r, calls) =
            spec_audit(Some("build-spec/enclave.toml"), "1abc;1;arn:k1;aa;evil/enclave.toml");
        assert_eq!(r.verdict(), Verdict::Fail);
        let c = spec_check(&r).unwrap();
        assert!(c.is_fail());
        assert!(
            c.detail.contains("evil/enclave.toml") && c.detail.contains("build-spec/enclave.toml"),
            "{}",
            c.detail
        );
        // Everything else passed: the spec claim alone decides the verdict.
        assert_eq!(r.subjects[0].checks().filter(|(_, c)| c.is_fail()).count(), 1);
        assert_eq!(calls, vec![Some("build-spec/enclave.toml".to_string())]);
    }

    #[test]
    fn receipt_naming_no_spec_fails_under_a_required_spec() {
        let (r, calls) = spec_audit(Some("enclave.toml"), "1abc;1;arn:k1;aa");
        assert_eq!(r.verdict(), Verdict::Fail);
        assert!(spec_check(&r).unwrap().is_fail());
        assert_eq!(calls, vec![Some("enclave.toml".to_string())]);
    }

    #[test]
    fn spec_paths_are_repository_relative() {
        assert_eq!(normalize_spec_path("./a//b/./c.toml").unwrap(), "a/b/c.toml");
        for bad in ["/etc/enclave.toml", "../x.toml", "a/../../b", "", "./", "a\\b"] {
            assert!(normalize_spec_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rebuild_is_shared_per_commit() {
        let rb = Arc::new(FakeRebuild(AtomicUsize::new(0)));
        let a = auditor(&rb);
        let inputs: Vec<_> =
            (0..200).map(|i| input(&format!("{}abc;{};arn:k1;aa", i % 4, i % 4))).collect();
        let r = a.audit(&inputs, "t".into());
        assert_eq!(r.verdict(), Verdict::Pass, "{:#?}", r.reasons());
        assert_eq!(rb.0.load(Ordering::SeqCst), 4);
        assert_eq!(a.rebuild_count(), 4);
    }

    /// A policy pinned to PCR0 = 1 only, counting its analyses.
    struct CountingPolicy(Arc<AtomicUsize>);
    impl PolicyCheck for CountingPolicy {
        fn check(&self, _: &str, _: &[u8], pcrs: &Measurements) -> (Checks, Vec<PolicyFinding>) {
            self.0.fetch_add(1, Ordering::SeqCst);
            let pinned = pcrs.get(0) == m(&[(0, 1)]).get(0);
            (
                Checks(vec![Check::from_bool("kms.policy.pins", pinned, "pinned", "other PCRs")]),
                vec![],
            )
        }
    }

    #[test]
    fn policy_analysis_is_shared_per_key_and_pcrs_only() {
        let rb = Arc::new(FakeRebuild(AtomicUsize::new(0)));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut a = auditor(&rb);
        a.policy = Box::new(CountingPolicy(Arc::clone(&calls)));
        // 100 receipts of image 1 and 100 of image 2: two analyses, and the
        // cached answer for image 1 never leaks into image 2's verdict.
        let inputs: Vec<_> = (0..200)
            .map(|i| {
                let v = 1 + i % 2;
                input(&format!("{v}abc;{v};arn:k1;aa"))
            })
            .collect();
        let r = a.audit(&inputs, "t".into());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        for s in &r.subjects {
            let pinned = s.checks().any(|(_, c)| c.id == "kms.policy.pins" && !c.is_fail());
            assert_eq!(pinned, s.verdict() == Verdict::Pass);
        }
        assert_eq!(r.subjects.iter().filter(|s| s.verdict() == Verdict::Pass).count(), 100);
    }

    #[test]
    fn each_failure_is_recorded_and_fails() {
        let rb = Arc::new(FakeRebuild(AtomicUsize::new(0)));
        let a = auditor(&rb);
        // PCR mismatch: attested 5, rebuild 1.
        let s = a.audit_one(&input("1abc;5;arn:k1;aa"));
        assert_eq!(s.verdict(), Verdict::Fail);
        assert!(s.checks().any(|(_, c)| c.id == "rebuild.pcr.0" && c.is_fail()));
        // No --images: the diff is skipped with a reason.
        assert!(s.checks().any(|(_, c)| c.id == "rebuild.diff"));
        // Missing commit (and rebuild failure) recorded separately.
        let s = a.audit_one(&input("missing;1;arn:k1;aa"));
        assert!(s.checks().any(|(_, c)| c.id == "source.commit" && c.is_fail()));
        assert!(s.checks().any(|(_, c)| c.id == "rebuild.run" && c.is_fail()));
        // Key without policy.
        let s = a.audit_one(&input("1abc;1;arn:k2;aa"));
        assert!(s.checks().any(|(_, c)| c.id == "kms.policy.missing" && c.is_fail()));
        assert_eq!(s.verdict(), Verdict::Fail);
    }

    #[test]
    fn artifact_digest() {
        let rb = Arc::new(FakeRebuild(AtomicUsize::new(0)));
        let mut a = auditor(&rb);
        a.artifact = Some(ArtifactInput { path: "x".into(), sha256: "aa".into() });
        assert_eq!(a.audit_one(&input("1abc;1;arn:k1;aa")).verdict(), Verdict::Pass);
        let s = a.audit_one(&input("1abc;1;arn:k1;bb"));
        assert_eq!(s.verdict(), Verdict::Fail);
        assert!(s.checks().any(|(_, c)| c.id == "artifact.digest" && c.is_fail()));
    }

    #[test]
    fn unreadable_receipt_fails() {
        let rb = Arc::new(FakeRebuild(AtomicUsize::new(0)));
        let a = auditor(&rb);
        let s = a.audit_one(&ReceiptInput { path: "x".into(), bytes: Err("gone".into()) });
        assert_eq!(s.verdict(), Verdict::Fail);
    }

    #[test]
    fn gate_image_compares_every_expected_pcr() {
        let img = m(&[(0, 1), (1, 2), (2, 3)]);
        let s = gate_image("x.eif", Ok(img.clone()), &m(&[(0, 1), (1, 2), (2, 3)]), "pcrs.json");
        assert_eq!(s.verdict(), Verdict::Pass);
        let s = gate_image("x.eif", Ok(img.clone()), &m(&[(0, 1), (1, 2), (2, 9)]), "pcrs.json");
        assert_eq!(s.verdict(), Verdict::Fail);
        assert!(s.checks().any(|(_, c)| c.id == "rebuild.pcr.2" && c.is_fail()));
        // PCR8 expected but the image is unsigned.
        let s = gate_image(
            "x.eif",
            Ok(img.clone()),
            &m(&[(0, 1), (1, 2), (2, 3), (8, 4)]),
            "pcrs.json",
        );
        assert!(s.checks().any(|(_, c)| c.id == "rebuild.pcr.8" && c.is_fail()));
        // An expected file without PCR0 can never pass.
        let s = gate_image("x.eif", Ok(img), &m(&[(1, 2), (2, 3)]), "pcrs.json");
        assert_eq!(s.verdict(), Verdict::Fail);
        let s = gate_image("x.eif", Err("bad magic".into()), &m(&[(0, 1)]), "pcrs.json");
        assert_eq!(s.verdict(), Verdict::Fail);
    }

    #[test]
    fn policy_arg() {
        let (a, f) = parse_policy_arg("arn:aws:kms:us-east-1:1:key/x=p.json").unwrap();
        assert_eq!(a, "arn:aws:kms:us-east-1:1:key/x");
        assert_eq!(f, PathBuf::from("p.json"));
        assert!(parse_policy_arg("p.json").is_err());
        assert!(parse_policy_arg("arn:x=").is_err());
    }
}
