//! Stage 2b (issue 21): where the secrets came from. The receipt's
//! `secretsSource` says, per SOPS input, which commit and path the enclave
//! proved the file to be the blob of (or that it is a local file); this
//! stage checks those claims against the auditor's secrets repository and
//! across the receipts audited together:
//!
//! | check | passes when |
//! | --- | --- |
//! | `secrets.origin` | every input is proven from a commit (a local input, or a receipt older than format 1.2, is WARN, or FAIL under `--require-secrets-commit`) |
//! | `secrets.commit` | every commit exists in `--secrets-repo`, in the receipt's object format |
//! | `secrets.blob` | every input's blob is the one at its path of its commit, and that blob's SHA-256 is the input digest the receipt records |
//! | `secrets.branch` | every commit is reachable from `--secrets-branch` |
//! | `secrets.signature` | every commit carries a valid signature (`--require-signed-commit`, `--allowed-signers`) |
//! | `secrets.rollback` | every commit of the receipt descends from (or is) every commit an earlier pack (by attested time) of the same service and environment used, among the receipts audited together (`crate::audit::Auditor::audit`) |

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use attestation::time_fmt;
use enclave::receipt::model::{SecretsOrigin, SecretsSource};
use sha2::{Digest as _, Sha256};

use crate::report::{Check, Checks};
use crate::secrets_repo::SecretsRepo;

/// Longest blob the audit reads back to compare its digest (the enclave's
/// input limit).
const MAX_BLOB: usize = enclave::sops::MAX_FILE_BYTES;

/// What a receipt says about its inputs' sources.
#[derive(Debug, Clone, Default)]
pub struct SecretsFacts {
    /// `predicate.secretsSource`; `None` for receipts older than format 1.2.
    pub sources: Option<Vec<SecretsSource>>,
    /// `(name, sha256 hex)` of every SOPS input, in order.
    pub input_sha256: Vec<(String, String)>,
    /// The job's `(service, environment)`, from the embedded request.
    pub target: Option<(String, String)>,
}

/// One input proven from a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitInput {
    /// Input name.
    pub input: String,
    /// Repository as named by the requester.
    pub repository: String,
    /// `sha1` or `sha256`.
    pub object_format: String,
    /// Commit id.
    pub commit: String,
    /// Path in the commit.
    pub path: String,
    /// Blob id.
    pub blob: String,
}

impl SecretsFacts {
    /// The inputs proven from a commit (entries missing a member are left
    /// out: the receipt's schema check already failed them).
    pub fn git_inputs(&self) -> Vec<GitInput> {
        self.sources
            .iter()
            .flatten()
            .filter(|s| s.origin == SecretsOrigin::Git)
            .filter_map(|s| {
                Some(GitInput {
                    input: s.input.clone(),
                    repository: s.repository.clone()?,
                    object_format: s.object_format.clone()?,
                    commit: s.commit.as_ref()?.git_commit.clone(),
                    path: s.path.clone()?,
                    blob: s.blob.clone()?,
                })
            })
            .collect()
    }

    /// Names of the inputs with no commit proof.
    pub fn local_inputs(&self) -> Vec<&str> {
        match &self.sources {
            None => self.input_sha256.iter().map(|(n, _)| n.as_str()).collect(),
            Some(list) => list
                .iter()
                .filter(|s| s.origin == SecretsOrigin::Local)
                .map(|s| s.input.as_str())
                .collect(),
        }
    }
}

/// The auditor's secrets settings.
#[derive(Debug, Default)]
pub struct SecretsSettings {
    /// `--secrets-repo`.
    pub repo: Option<SecretsRepo>,
    /// `--secrets-branch`.
    pub branch: Option<String>,
    /// `--require-signed-commit` (applies to the secrets commits too).
    pub require_signed: bool,
    /// `--allowed-signers`: SSH allowed-signers file for signature checks.
    pub allowed_signers: Option<PathBuf>,
    /// `--require-secrets-commit`: a local input fails the audit.
    pub require_commit: bool,
}

/// The secrets stage, with per-commit results cached across receipts.
#[derive(Debug, Default)]
pub struct SecretsStage {
    /// The settings.
    pub settings: SecretsSettings,
    commits: Mutex<HashMap<String, [Check; 3]>>,
    /// `secrets.blob` by the exact claims checked (commit, path, blob and
    /// input digest of every git input): a batch of receipts of one commit
    /// reads each blob from git once, not once per receipt.
    blobs: Mutex<HashMap<String, Check>>,
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

impl SecretsStage {
    /// A stage with these settings.
    pub fn new(settings: SecretsSettings) -> Self {
        Self { settings, commits: Mutex::new(HashMap::new()), blobs: Mutex::new(HashMap::new()) }
    }

    /// The per-receipt checks (everything but `secrets.rollback`).
    pub fn check(&self, facts: &SecretsFacts) -> Checks {
        let mut out = Checks::new();
        out.push(self.origin_check(facts));
        let git = facts.git_inputs();
        if git.is_empty() {
            return out;
        }
        let Some(repo) = &self.settings.repo else {
            let why = "no --secrets-repo given: the commits the enclave proved are not checked \
                       against your repository";
            for id in ["secrets.commit", "secrets.blob"] {
                out.push(if self.settings.require_commit {
                    Check::fail(id, why)
                } else {
                    Check::skipped(id, why)
                });
            }
            return out;
        };
        let mut commits: Vec<&GitInput> = Vec::new();
        for g in &git {
            if !commits.iter().any(|c| c.commit == g.commit) {
                commits.push(g);
            }
        }
        let mut per_commit: [Vec<Check>; 3] = Default::default();
        for g in &commits {
            let [a, b, c] = self.commit_checks(repo, g);
            per_commit[0].push(a);
            per_commit[1].push(b);
            per_commit[2].push(c);
        }
        let [exists, branch, signature] = per_commit;
        let commit_ok = !exists.iter().any(Check::is_fail);
        out.push(merge("secrets.commit", exists));
        if commit_ok {
            out.push(self.cached_blob_check(repo, &git, facts));
        } else {
            out.push(Check::skipped("secrets.blob", "a commit is not in the secrets repository"));
        }
        out.push(merge("secrets.branch", branch));
        out.push(merge("secrets.signature", signature));
        out
    }

    fn cached_blob_check(
        &self,
        repo: &SecretsRepo,
        git: &[GitInput],
        facts: &SecretsFacts,
    ) -> Check {
        let digest_of = |name: &str| {
            facts.input_sha256.iter().find(|(n, _)| n == name).map_or("", |(_, d)| d.as_str())
        };
        let key: String = git
            .iter()
            .map(|g| {
                format!(
                    "{}\0{}\0{}\0{}\0{}\n",
                    g.input,
                    g.commit,
                    g.path,
                    g.blob,
                    digest_of(&g.input)
                )
            })
            .collect();
        if let Some(c) = self.blobs.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return c.clone();
        }
        let c = blob_check(repo, git, facts);
        self.blobs.lock().unwrap_or_else(|p| p.into_inner()).insert(key, c.clone());
        c
    }

    fn origin_check(&self, facts: &SecretsFacts) -> Check {
        let id = "secrets.origin";
        let local = facts.local_inputs();
        let problem = if facts.sources.is_none() {
            Some(format!(
                "the receipt predates secrets sources (receipt format 1.2): no commit proves \
                 where its {} input(s) came from",
                facts.input_sha256.len()
            ))
        } else if !local.is_empty() {
            Some(format!(
                "local file(s), not proven from a commit: {} (pack with --secrets-repo and \
                 --secrets-rev)",
                local.join(", ")
            ))
        } else {
            None
        };
        match problem {
            None => {
                let git = facts.git_inputs();
                let shown: Vec<String> = git
                    .iter()
                    .map(|g| format!("{} = {}:{}", g.input, short(&g.commit), g.path))
                    .collect();
                Check::pass(
                    id,
                    format!(
                        "the enclave proved every input to be a committed blob: {}",
                        shown.join(", ")
                    ),
                )
            }
            Some(p) if self.settings.require_commit => {
                Check::fail(id, format!("{p}; --require-secrets-commit"))
            }
            Some(p) => Check::warn(id, p),
        }
    }

    /// `secrets.commit`, `secrets.branch`, `secrets.signature` of one
    /// commit, cached: receipts of the same commit share them.
    fn commit_checks(&self, repo: &SecretsRepo, g: &GitInput) -> [Check; 3] {
        let key = format!("{}:{}", g.object_format, g.commit);
        if let Some(c) = self.commits.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return c.clone();
        }
        let c = self.compute_commit_checks(repo, g);
        self.commits.lock().unwrap_or_else(|p| p.into_inner()).insert(key, c.clone());
        c
    }

    fn compute_commit_checks(&self, repo: &SecretsRepo, g: &GitInput) -> [Check; 3] {
        let c = short(&g.commit);
        let dir = repo.dir().display().to_string();
        let skip = |id: &str| Check::skipped(id, "the commit is not in the secrets repository");
        if g.object_format != repo.format().name() {
            return [
                Check::mismatch(
                    "secrets.commit",
                    format!("commit {c}: the receipt's object format differs from {dir}'s"),
                    g.object_format.clone(),
                    repo.format().name(),
                ),
                skip("secrets.branch"),
                skip("secrets.signature"),
            ];
        }
        match repo.object_type(&g.commit) {
            Ok(Some(t)) if t == "commit" => {}
            Ok(_) => {
                return [
                    Check::fail("secrets.commit", format!("commit {} is not in {dir}", g.commit)),
                    skip("secrets.branch"),
                    skip("secrets.signature"),
                ]
            }
            Err(e) => {
                return [
                    Check::fail("secrets.commit", format!("commit {}: {e}", g.commit)),
                    skip("secrets.branch"),
                    skip("secrets.signature"),
                ]
            }
        }
        let exists = Check::pass("secrets.commit", format!("commit {c} exists in {dir}"));
        let branch = match &self.settings.branch {
            None => Check::skipped("secrets.branch", "no --secrets-branch given"),
            Some(b) => match repo.branch_tip(b).and_then(|tip| repo.is_ancestor(&g.commit, &tip)) {
                Ok(true) => {
                    Check::pass("secrets.branch", format!("commit {c} is reachable from {b}"))
                }
                Ok(false) => {
                    Check::fail("secrets.branch", format!("commit {c} is not reachable from {b}"))
                }
                Err(e) => Check::fail("secrets.branch", format!("branch {b}: {e}")),
            },
        };
        let signature = if self.settings.require_signed {
            match repo.verify_commit(&g.commit, self.settings.allowed_signers.as_deref()) {
                Ok(()) => Check::pass(
                    "secrets.signature",
                    format!("commit {c} carries a valid signature"),
                ),
                Err(e) => Check::fail("secrets.signature", format!("commit {c}: {e}")),
            }
        } else {
            Check::skipped("secrets.signature", "no --require-signed-commit")
        };
        [exists, branch, signature]
    }
}

/// One check of several per-commit checks with the same id: a failure if
/// any failed, else a pass if any passed, else the first (skipped).
fn merge(id: &str, checks: Vec<Check>) -> Check {
    let failed: Vec<&Check> = checks.iter().filter(|c| c.is_fail()).collect();
    if !failed.is_empty() {
        let detail = failed.iter().map(|c| c.detail.as_str()).collect::<Vec<_>>().join("; ");
        return match (failed.len(), failed.first()) {
            (1, Some(c)) => {
                let mut c = (*c).clone();
                c.id = id.to_owned();
                c
            }
            _ => Check::fail(id, detail),
        };
    }
    if checks.iter().all(|c| c.outcome == checks::Outcome::Pass) {
        let detail = checks.iter().map(|c| c.detail.as_str()).collect::<Vec<_>>().join("; ");
        return Check::pass(id, detail);
    }
    checks.into_iter().next().unwrap_or_else(|| Check::skipped(id, "no commit"))
}

/// `secrets.blob`: the blob at each input's path of its commit is the one
/// the enclave proved, and its content has the digest the receipt records.
fn blob_check(repo: &SecretsRepo, git: &[GitInput], facts: &SecretsFacts) -> Check {
    let mut problems = Vec::new();
    for g in git {
        let at = format!("{}:{}", short(&g.commit), g.path);
        let id = match repo.blob_id(&g.commit, &g.path) {
            Ok(Some(id)) => id,
            Ok(None) => {
                problems.push(format!("input {}: no file {at} in the secrets repository", g.input));
                continue;
            }
            Err(e) => {
                problems.push(format!("input {}: {at}: {e}", g.input));
                continue;
            }
        };
        if id != g.blob {
            problems.push(format!(
                "input {}: the receipt's blob {} is not {at} (which is {})",
                g.input,
                short(&g.blob),
                short(&id)
            ));
            continue;
        }
        let want = facts.input_sha256.iter().find(|(n, _)| *n == g.input).map(|(_, d)| d);
        match repo.read("blob", &g.blob, MAX_BLOB) {
            Ok(bytes) => {
                let actual = hex::encode(Sha256::digest(&bytes));
                if want != Some(&actual) {
                    problems.push(format!(
                        "input {}: the receipt's input digest is not the SHA-256 of {at}",
                        g.input
                    ));
                }
            }
            Err(e) => problems.push(format!("input {}: {e}", g.input)),
        }
    }
    if problems.is_empty() {
        Check::pass(
            "secrets.blob",
            format!(
                "every input is the blob at its path of its commit, with the digest the receipt \
                 records ({} input(s))",
                git.len()
            ),
        )
    } else {
        Check::fail("secrets.blob", problems.join("; "))
    }
}

/// One receipt's place in the rollback order.
#[derive(Debug, Clone)]
pub struct Packed<'a> {
    /// The receipt as shown in the report.
    pub path: &'a str,
    /// The attested time of doc_R (RFC 3339, fixed width, so it sorts).
    pub attested_at: Option<&'a str>,
    /// The receipt's secrets facts.
    pub facts: &'a SecretsFacts,
}

/// `secrets.rollback` for each receipt (same order as `packed`; `None` for
/// receipts without git inputs): every commit the receipt's inputs came
/// from must be, or descend from, every commit an earlier pack (by attested
/// time) of the same service and environment among these receipts used.
pub fn rollback_checks(repo: Option<&SecretsRepo>, packed: &[Packed<'_>]) -> Vec<Option<Check>> {
    // The line is the job's service and environment only: not the
    // repository name (the requester's label: a parent could rename it to
    // start a fresh line) and not the path (an older copy under another
    // path is still older secrets).
    type Key = Option<(String, String)>;
    /// (instant in ms, the time as written), receipt index, commit.
    type Entry<'t> = ((i64, &'t str), usize, String);
    // Every ((time in ms, as written), receipt index, commit) per key. The
    // order is by the parsed instant, never by the text: RFC 3339 trims
    // trailing zeros of the fraction, so "…:09.51Z" sorts before
    // "…:09.5Z" and "…:09Z" after both as strings.
    let mut lines: BTreeMap<Key, Vec<Entry<'_>>> = BTreeMap::new();
    for (i, p) in packed.iter().enumerate() {
        let Some(t) = p.attested_at else { continue };
        let Some(ms) = time_fmt::parse_rfc3339_ms(t) else { continue };
        let mut commits: Vec<String> = p.facts.git_inputs().into_iter().map(|g| g.commit).collect();
        commits.sort();
        commits.dedup();
        for c in commits {
            lines.entry(p.facts.target.clone()).or_default().push(((ms, t), i, c));
        }
    }
    let mut problems: Vec<Vec<String>> = vec![Vec::new(); packed.len()];
    let mut notes: Vec<Vec<String>> = vec![Vec::new(); packed.len()];
    let mut unchecked: Vec<bool> = vec![false; packed.len()];
    let mut cache: HashMap<(String, String), Result<bool, String>> = HashMap::new();
    for (target, mut line) in lines {
        line.sort();
        let what = match &target {
            Some((s, e)) => format!("{s}/{e}"),
            None => "(no target)".to_owned(),
        };
        for (k, (_, i, c)) in line.iter().enumerate() {
            // Every distinct earlier commit, newest first: the input must
            // descend from all of them, not only from the last one (a pack
            // between two others must not hide a rollback).
            let mut earlier: Vec<&Entry<'_>> = Vec::new();
            for e in line.iter().take(k).rev() {
                if e.1 != *i && e.2 != *c && !earlier.iter().any(|x| x.2 == e.2) {
                    earlier.push(e);
                }
            }
            if earlier.is_empty() {
                if line.iter().take(k).any(|e| e.1 != *i) {
                    notes[*i].push(format!("{what}: same commit as the previous pack"));
                }
                continue;
            }
            let Some(repo) = repo else {
                unchecked[*i] = true;
                continue;
            };
            let mut bad = None;
            for ((_, prev_t), prev_i, prev_c) in &earlier {
                let prev_path = packed.get(*prev_i).map_or("", |p| p.path);
                let mut ancestor = |a: &str, b: &str| {
                    let key = (a.to_owned(), b.to_owned());
                    if let Some(r) = cache.get(&key) {
                        return r.clone();
                    }
                    let r = repo.is_ancestor(a, b).map_err(|e| e.to_string());
                    cache.insert(key, r.clone());
                    r
                };
                let problem = match (ancestor(prev_c, c), ancestor(c, prev_c)) {
                    (Ok(true), _) => None,
                    (Ok(false), Ok(true)) => Some(format!(
                        "{what}: rollback: commit {} is older than {} which {prev_path} packed \
                         at {prev_t}",
                        short(c),
                        short(prev_c)
                    )),
                    (Ok(false), Ok(false)) => Some(format!(
                        "{what}: commit {} does not descend from {} which {prev_path} packed \
                         at {prev_t} (the histories diverge)",
                        short(c),
                        short(prev_c)
                    )),
                    (Err(e), _) | (_, Err(e)) => {
                        Some(format!("{what}: cannot order the commits: {e}"))
                    }
                };
                if problem.is_some() {
                    bad = problem;
                    break;
                }
            }
            match bad {
                Some(b) => problems[*i].push(b),
                None => notes[*i].push(format!(
                    "{what}: {} descends from every earlier pack's commit (latest {})",
                    short(c),
                    earlier.first().map_or("", |e| short(&e.2))
                )),
            }
        }
    }
    packed
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.facts.git_inputs().is_empty() {
                return None;
            }
            let id = "secrets.rollback";
            Some(if let Some(pr) = problems.get(i).filter(|v| !v.is_empty()) {
                Check::fail(id, pr.join("; "))
            } else if unchecked.get(i).copied().unwrap_or(false) {
                Check::skipped(
                    id,
                    "an earlier pack used another commit and no --secrets-repo was given to \
                     order them",
                )
            } else if p.attested_at.and_then(time_fmt::parse_rfc3339_ms).is_none() {
                Check::skipped(id, "the receipt has no verified attestation time")
            } else {
                let n = notes.get(i).filter(|v| !v.is_empty());
                Check::pass(
                    id,
                    match n {
                        Some(n) => n.join("; "),
                        None => "no earlier pack of the same service and environment among \
                                 the receipts audited"
                            .to_owned(),
                    },
                )
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use enclave::receipt::model::GitCommit;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let o = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    }

    /// A repository with a line of commits c0 < c1 < c2 on main and a side
    /// commit s1 off c0.
    fn history() -> (tempfile::TempDir, Vec<String>, String) {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q", "-b", "main"]);
        git(d.path(), &["config", "user.name", "t"]);
        git(d.path(), &["config", "user.email", "t@example.com"]);
        let mut line = Vec::new();
        for n in 0..3 {
            git(d.path(), &["commit", "-q", "--allow-empty", "-m", &format!("c{n}")]);
            line.push(git(d.path(), &["rev-parse", "HEAD"]));
        }
        git(d.path(), &["checkout", "-q", "-b", "side", &line[0]]);
        git(d.path(), &["commit", "-q", "--allow-empty", "-m", "s1"]);
        let side = git(d.path(), &["rev-parse", "HEAD"]);
        (d, line, side)
    }

    fn facts(commit: &str, repository: &str, path: &str, env: &str) -> SecretsFacts {
        SecretsFacts {
            sources: Some(vec![SecretsSource {
                input: "in".into(),
                origin: SecretsOrigin::Git,
                repository: Some(repository.into()),
                object_format: Some("sha1".into()),
                commit: Some(GitCommit { git_commit: commit.into() }),
                path: Some(path.into()),
                blob: Some("00".repeat(20)),
            }]),
            input_sha256: vec![("in".into(), "00".repeat(32))],
            target: Some(("api".into(), env.into())),
        }
    }

    fn run(repo: &SecretsRepo, packs: &[(&str, SecretsFacts)]) -> Vec<String> {
        let packed: Vec<Packed<'_>> = packs
            .iter()
            .map(|(t, f)| Packed { path: "r", attested_at: Some(t), facts: f })
            .collect();
        rollback_checks(Some(repo), &packed)
            .into_iter()
            .map(|c| {
                let c = c.unwrap();
                format!("{}:{}", checks::Status::of_check(&c).id(), c.detail)
            })
            .collect()
    }

    #[test]
    fn rollback_against_every_earlier_pack_of_the_service_and_environment() {
        let (d, c, side) = history();
        let repo = SecretsRepo::open(d.path()).unwrap();
        let f = |commit: &str| facts(commit, "repo", "secrets/p.json", "prod");
        // The attested time orders the packs, not the argument order: here
        // c0, c1, c2 (no rollback).
        let out = run(
            &repo,
            &[
                ("2026-01-01T00:00:03.000Z", f(&c[2])),
                ("2026-01-01T00:00:01.000Z", f(&c[0])),
                ("2026-01-01T00:00:02.000Z", f(&c[1])),
            ],
        );
        assert!(out.iter().all(|s| s.starts_with("pass")), "{out:?}");
        // In time order c2, c0, c1: c0 is a rollback, and so is c1 (older
        // than c2 although it descends from c0).
        let out = run(
            &repo,
            &[
                ("2026-01-01T00:00:01.000Z", f(&c[2])),
                ("2026-01-01T00:00:02.000Z", f(&c[0])),
                ("2026-01-01T00:00:03.000Z", f(&c[1])),
            ],
        );
        assert!(out[0].starts_with("pass"), "{out:?}");
        assert!(out[1].starts_with("fail") && out[1].contains("rollback"), "{out:?}");
        assert!(out[2].starts_with("fail") && out[2].contains("rollback"), "{out:?}");
        // A diverging side commit after c1.
        let out = run(
            &repo,
            &[("2026-01-01T00:00:01.000Z", f(&c[1])), ("2026-01-01T00:00:02.000Z", f(&side))],
        );
        assert!(out[1].starts_with("fail") && out[1].contains("diverge"), "{out:?}");
    }

    /// Attested times as the verifier writes them (RFC 3339 with the
    /// fraction's trailing zeros trimmed) order by instant, not by text:
    /// "…:09Z" < "…:09.5Z" < "…:09.51Z", which sort the other way round as
    /// strings. A later pack of an older commit is a rollback whatever the
    /// digits (the full suite once caught the string order passing one).
    #[test]
    fn attested_times_order_by_instant_not_by_text() {
        let (d, c, _) = history();
        let repo = SecretsRepo::open(d.path()).unwrap();
        let f = |commit: &str| facts(commit, "repo", "secrets/p.json", "prod");
        let out = run(
            &repo,
            &[("2026-01-01T00:00:09.5Z", f(&c[2])), ("2026-01-01T00:00:09.51Z", f(&c[0]))],
        );
        assert!(out[0].starts_with("pass"), "{out:?}");
        assert!(out[1].starts_with("fail") && out[1].contains("rollback"), "{out:?}");
        let out =
            run(&repo, &[("2026-01-01T00:00:09Z", f(&c[2])), ("2026-01-01T00:00:09.5Z", f(&c[0]))]);
        assert!(out[1].starts_with("fail") && out[1].contains("rollback"), "{out:?}");
        // A time that does not parse orders nothing: skipped, never a pass.
        let out = run(&repo, &[("yesterday", f(&c[0]))]);
        assert!(out[0].starts_with("skip"), "{out:?}");
    }

    #[test]
    fn renaming_the_repository_or_moving_the_path_does_not_start_a_new_line() {
        let (d, c, _) = history();
        let repo = SecretsRepo::open(d.path()).unwrap();
        let out = run(
            &repo,
            &[
                ("2026-01-01T00:00:01.000Z", facts(&c[2], "repo", "secrets/p.json", "prod")),
                ("2026-01-01T00:00:02.000Z", facts(&c[0], "renamed", "old/p.json", "prod")),
            ],
        );
        assert!(out[1].starts_with("fail") && out[1].contains("rollback"), "{out:?}");
        // Another environment is another line.
        let out = run(
            &repo,
            &[
                ("2026-01-01T00:00:01.000Z", facts(&c[2], "repo", "secrets/p.json", "prod")),
                ("2026-01-01T00:00:02.000Z", facts(&c[0], "repo", "secrets/p.json", "staging")),
            ],
        );
        assert!(out.iter().all(|s| s.starts_with("pass")), "{out:?}");
    }

    #[test]
    fn without_a_repository_different_commits_are_not_ordered() {
        let (_d, c, _) = history();
        let a = facts(&c[2], "repo", "p", "prod");
        let b = facts(&c[0], "repo", "p", "prod");
        let packed = [
            Packed { path: "a", attested_at: Some("2026-01-01T00:00:01.000Z"), facts: &a },
            Packed { path: "b", attested_at: Some("2026-01-01T00:00:02.000Z"), facts: &b },
        ];
        let out = rollback_checks(None, &packed);
        let second = out[1].as_ref().unwrap();
        assert_eq!(checks::Status::of_check(second), checks::Status::Skipped, "{second:?}");
    }
}
