//! The continuous KMS audit from CloudTrail (issue 16): per pinned key, over
//! a window, every use classified and matched to receipts, the key policy's
//! pinning over time, the key's administrative events, and whether the logs
//! cover the window at all. The design is `docs/notes/cloudtrail.md` §5.
//!
//! One pass over the files, one record at a time (the `cloudtrail` crate's
//! streaming reader), a few files at once on rayon's threads, merged in
//! file order: what is kept per key is counts plus at most [`MAX_LISTED`]
//! lines per category, the policy events (few), and the coverage bitmap
//! (one per file in flight), so memory does not grow with the trail.
//!
//! Everything is reported through `checks::Check`s in the report group
//! `kms_trail`, one report subject per key ([`checks::subjects`]): gaps and
//! undecidable events fail as CANNOT_DECIDE, never pass.

pub mod checks;
pub mod classify;
pub mod coverage;
pub mod policy;
pub mod receipts;
pub mod sql;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use cloudtrail::read::{collect, read_file_hashed, FileSummary, Inputs};
use cloudtrail::TrailError;

use crate::kms_policy::expected::Expected;
use crate::report::UseKind;

use self::classify::{classify, Use, ADMIN_EVENTS, POLICY_EVENTS, USE_EVENTS};
use self::coverage::{Coverage, MAX_WINDOW_SECS};
use self::policy::{Initial, PolicyAnalyser, PolicyEvent};
use self::receipts::{same_key, ReceiptWindow};

/// Lines listed per category and key (counts stay exact).
pub const MAX_LISTED: usize = 200;
/// Policy events kept per key.
pub const MAX_POLICY_EVENTS: usize = 100_000;

/// One key to audit.
#[derive(Debug, Clone)]
pub struct PinnedKey {
    /// The key's ARN.
    pub key_arn: String,
    /// The PCRs its uses must carry and its policy must pin.
    pub expected: Expected,
    /// Where `expected` came from, for the report.
    pub expected_from: String,
    /// The policy state at the window's start, when the auditor gave it.
    pub initial: Option<Initial>,
}

/// What to audit.
#[derive(Debug, Clone)]
pub struct TrailConfig {
    /// The keys.
    pub keys: Vec<PinnedKey>,
    /// Window start, Unix seconds.
    pub from: i64,
    /// Window end, Unix seconds.
    pub to: i64,
    /// Receipts that verified: attested uses they cover are accounted for.
    pub receipts: Vec<ReceiptWindow>,
    /// Principals exempt from the policy analyser's bypass question.
    pub trusted: Vec<String>,
    /// Seconds a use may fall outside a receipt's window (clock skew,
    /// CloudTrail's whole-second times).
    pub slack_secs: i64,
    /// Longest stretch without any record accepted as quiet rather than a gap.
    pub max_quiet_secs: i64,
    /// The trail's digest public keys (`--digest-public-key`).
    pub digest_keys: Vec<rsa::RsaPublicKey>,
}

/// Why the audit could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrailInputError {
    /// The paths could not be listed.
    #[error("{0}")]
    Collect(#[from] TrailError),
    /// `--from` is not before `--to`.
    #[error("the window is empty: --from must be before --to")]
    EmptyWindow,
    /// The window is longer than the coverage bitmap allows.
    #[error("the window is longer than {} days", MAX_WINDOW_SECS / 86_400)]
    WindowTooLong,
    /// No key to audit.
    #[error("no key to audit")]
    NoKeys,
    /// No log file among the paths.
    #[error("no CloudTrail log file among the paths given")]
    NoFiles,
}

/// Counted and listed uses of one category.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// The first [`MAX_LISTED`] in reading order, sorted by time at the end.
    pub listed: Vec<Use>,
}

impl Tally {
    fn add(&mut self, u: Use) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(u);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.count += other.count;
        let room = MAX_LISTED.saturating_sub(self.listed.len());
        self.listed.extend(other.listed.into_iter().take(room));
    }
}

/// Everything gathered about one key.
#[derive(Debug, Clone)]
pub struct KeyTrail {
    /// The key.
    pub key: PinnedKey,
    /// Uses by kind, in [`UseKind`] order.
    pub uses: Vec<(UseKind, Tally)>,
    /// Policy events (in and before the window).
    pub policy_events: Vec<PolicyEvent>,
    /// More policy events than [`MAX_POLICY_EVENTS`] were seen.
    pub policy_overflow: bool,
    /// Administrative events in the window: count and the first
    /// [`MAX_LISTED`] as (time, line).
    pub admin: (u64, Vec<(i64, String)>),
}

impl KeyTrail {
    fn new(key: PinnedKey) -> Self {
        let kinds = [
            UseKind::Receipted,
            UseKind::Unreceipted,
            UseKind::WrongImage,
            UseKind::Unattested,
            UseKind::Undecidable,
            UseKind::Failed,
        ];
        Self {
            key,
            uses: kinds.into_iter().map(|k| (k, Tally::default())).collect(),
            policy_events: Vec::new(),
            policy_overflow: false,
            admin: (0, Vec::new()),
        }
    }

    /// Adds the evidence of a later file.
    fn merge(&mut self, other: KeyTrail) {
        for ((_, mine), (_, theirs)) in self.uses.iter_mut().zip(other.uses) {
            mine.merge(theirs);
        }
        let room = MAX_POLICY_EVENTS.saturating_sub(self.policy_events.len());
        self.policy_overflow |= other.policy_overflow || other.policy_events.len() > room;
        self.policy_events.extend(other.policy_events.into_iter().take(room));
        self.admin.0 += other.admin.0;
        let room = MAX_LISTED.saturating_sub(self.admin.1.len());
        self.admin.1.extend(other.admin.1.into_iter().take(room));
    }

    /// The tally of one kind.
    pub fn tally(&self, kind: UseKind) -> &Tally {
        static EMPTY: Tally = Tally { count: 0, listed: Vec::new() };
        self.uses.iter().find(|(k, _)| *k == kind).map(|(_, t)| t).unwrap_or(&EMPTY)
    }
}

/// One file read, or the error that ended it.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    /// The file.
    pub path: PathBuf,
    /// Its summary, or the error.
    pub result: Result<FileSummary, TrailError>,
}

/// The result of one pass.
#[derive(Debug, Clone)]
pub struct TrailRun {
    /// Files listed.
    pub inputs: Inputs,
    /// Each log file's outcome.
    pub files: Vec<FileOutcome>,
    /// Coverage evidence.
    pub coverage: Coverage,
    /// Per key.
    pub keys: Vec<KeyTrail>,
    /// The digest chain's verdict, when digest files and keys were given.
    pub integrity: Option<cloudtrail::digest::Integrity>,
    /// Digest files that could not be read.
    pub digest_errors: Vec<String>,
    /// The request ids, among those the receipts inside the window record,
    /// that some KMS record of the trail carries.
    pub seen_requests: HashSet<String>,
}

/// The request ids of the KMS calls recorded by the receipts whose job lies
/// inside the window: each must appear in the trail.
fn wanted_requests(cfg: &TrailConfig) -> HashSet<String> {
    cfg.receipts
        .iter()
        .filter(|w| w.inside(cfg.from, cfg.to))
        .flat_map(|w| w.key_requests.iter().map(|(_, id)| id.clone()))
        .collect()
}

/// Reads the trail under `paths` and gathers the evidence for each key.
pub fn run(cfg: &TrailConfig, paths: &[PathBuf]) -> Result<TrailRun, TrailInputError> {
    if cfg.from >= cfg.to {
        return Err(TrailInputError::EmptyWindow);
    }
    if cfg.to - cfg.from > MAX_WINDOW_SECS {
        return Err(TrailInputError::WindowTooLong);
    }
    if cfg.keys.is_empty() {
        return Err(TrailInputError::NoKeys);
    }
    let inputs = collect(paths)?;
    if inputs.logs.is_empty() {
        return Err(TrailInputError::NoFiles);
    }
    let hash = !inputs.digests.is_empty();
    let wanted = wanted_requests(cfg);
    let mut seen_requests = HashSet::new();
    let mut coverage = Coverage::new(cfg.from, cfg.to);
    let mut keys: Vec<KeyTrail> = cfg.keys.iter().cloned().map(KeyTrail::new).collect();
    let mut files = Vec::with_capacity(inputs.logs.len());
    // Files are read in parallel a few at a time and merged in file order,
    // so the result (and which events are listed first) does not depend on
    // scheduling, and only a few files' partial results exist at once.
    let width = rayon::current_num_threads().max(1) * 2;
    let indexed: Vec<(usize, &PathBuf)> = inputs.logs.iter().enumerate().collect();
    for chunk in indexed.chunks(width) {
        let parts: Vec<(FileOutcome, Coverage, Vec<KeyTrail>, HashSet<String>)> =
            chunk.par_iter().map(|(fi, path)| read_one(cfg, &wanted, *fi, path, hash)).collect();
        for (outcome, cov, kts, seen) in parts {
            coverage.merge(&cov);
            seen_requests.extend(seen);
            for (k, part) in keys.iter_mut().zip(kts) {
                k.merge(part);
            }
            files.push(outcome);
        }
    }
    let mut digest_errors = Vec::new();
    let mut digests = Vec::new();
    for p in &inputs.digests {
        match cloudtrail::digest::read_digest(p) {
            Ok(d) => digests.push(d),
            Err(e) => digest_errors.push(e.to_string()),
        }
    }
    let integrity = (!digests.is_empty() && !cfg.digest_keys.is_empty()).then(|| {
        let read: std::collections::HashMap<String, [u8; 32]> = files
            .iter()
            .filter_map(|f| {
                let h = f.result.as_ref().ok()?.sha256?;
                Some((cloudtrail::digest::log_name(&f.path), h))
            })
            .collect();
        cloudtrail::digest::verify(&digests, &cfg.digest_keys, &read)
    });
    for kt in &mut keys {
        for (_, t) in &mut kt.uses {
            t.listed.sort_by_key(|u| u.time);
        }
        kt.admin.1.sort_by_key(|(t, _)| *t);
    }
    Ok(TrailRun { inputs, files, coverage, keys, integrity, digest_errors, seen_requests })
}

/// Reads one file into fresh per-file evidence (merged by [`run`]): also
/// which of the `wanted` request ids (the receipts' calls) it holds.
fn read_one(
    cfg: &TrailConfig,
    wanted: &HashSet<String>,
    fi: usize,
    path: &Path,
    hash: bool,
) -> (FileOutcome, Coverage, Vec<KeyTrail>, HashSet<String>) {
    let mut seen = HashSet::new();
    let mut coverage = Coverage::new(cfg.from, cfg.to);
    let mut keys: Vec<KeyTrail> = cfg.keys.iter().cloned().map(KeyTrail::new).collect();
    let mut analysers: Vec<PolicyAnalyser> = cfg
        .keys
        .iter()
        .map(|k| PolicyAnalyser::new(&k.key_arn, &k.expected, &cfg.trusted))
        .collect();
    let result = read_file_hashed(path, hash, &mut |l| {
        // The reader has checked every record's time.
        let Ok(t) = l.event.unix_time() else { return ControlFlow::Continue(()) };
        coverage.note(t);
        let ev = &l.event;
        if !ev.is_kms() {
            return ControlFlow::Continue(());
        }
        if let Some(id) = ev.request_id.as_ref().filter(|id| wanted.contains(*id)) {
            seen.insert(id.clone());
        }
        let name = ev.event_name.as_str();
        let is_use = USE_EVENTS.contains(&name);
        let is_policy = POLICY_EVENTS.contains(&name);
        let is_admin = ADMIN_EVENTS.contains(&name);
        if !(is_use || is_policy || is_admin) {
            return ControlFlow::Continue(());
        }
        let named = ev.key_arns();
        for (kt, an) in keys.iter_mut().zip(analysers.iter_mut()) {
            if !named.iter().any(|n| same_key(n, &kt.key.key_arn)) {
                continue;
            }
            if is_policy && t <= cfg.to {
                if kt.policy_events.len() < MAX_POLICY_EVENTS {
                    kt.policy_events.push(an.event(ev, t, fi, l.file, l.offset));
                } else {
                    kt.policy_overflow = true;
                }
            }
            if t < cfg.from || t > cfg.to {
                continue;
            }
            if is_use {
                let u = classify(
                    ev,
                    t,
                    &kt.key.key_arn,
                    &kt.key.expected,
                    &cfg.receipts,
                    cfg.slack_secs,
                    l.file,
                    l.offset,
                );
                if let Some((_, tally)) = kt.uses.iter_mut().find(|(k, _)| *k == u.kind) {
                    tally.add(u);
                }
            } else if is_admin {
                let line = format!(
                    "{}{}",
                    classify::describe(ev, l.file, l.offset),
                    ev.error_code
                        .as_deref()
                        .map(|c| format!(": failed with {c}"))
                        .unwrap_or_default()
                );
                kt.admin.0 += 1;
                if kt.admin.1.len() < MAX_LISTED {
                    kt.admin.1.push((t, line));
                }
            }
        }
        ControlFlow::Continue(())
    });
    (FileOutcome { path: path.to_path_buf(), result }, coverage, keys, seen)
}
