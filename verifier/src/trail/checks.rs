//! The evidence of one key as checks (group `kms_trail`) and a report
//! subject with its timeline (`docs/notes/cloudtrail.md` §5.4 lists every
//! check id).

use cloudtrail::record::format_time;

use crate::report::{
    Check, Checks, GroupKind, PolicyState, SubjectKind, SubjectReport, Timeline, TimelineMark,
    UseKind,
};

use super::policy::{describe_interval, intervals};
use super::receipts::same_key;
use super::{KeyTrail, TrailConfig, TrailRun, MAX_LISTED};

fn listing(count: u64, lines: &[String]) -> String {
    let mut s = lines.join("\n");
    if count > lines.len() as u64 {
        s.push_str(&format!(
            "\n… and {} more (first {MAX_LISTED} listed)",
            count - lines.len() as u64
        ));
    }
    s
}

/// The checks about the files and their coverage, shared by every key.
pub fn file_checks(cfg: &TrailConfig, run: &TrailRun) -> Checks {
    let mut out = Checks::new();
    let bad: Vec<String> = run
        .files
        .iter()
        .filter_map(|f| f.result.as_ref().err())
        .map(|e| format!("{e} ({} record(s) read before)", e.records_before))
        .collect();
    let records: u64 =
        run.files.iter().filter_map(|f| f.result.as_ref().ok()).map(|s| s.records).sum();
    out.push(if bad.is_empty() {
        Check::pass(
            "trail.files",
            format!("{} file(s) read completely, {records} record(s)", run.files.len()),
        )
    } else {
        Check::fail(
            "trail.files",
            format!(
                "CANNOT_DECIDE: {} of {} file(s) are damaged; events after the damage are unknown:\n{}",
                bad.len(),
                run.files.len(),
                bad.join("\n")
            ),
        )
    });
    if !run.inputs.ignored.is_empty() {
        let names: Vec<String> =
            run.inputs.ignored.iter().take(MAX_LISTED).map(|p| p.display().to_string()).collect();
        out.push(Check::warn(
            "trail.files.ignored",
            format!(
                "{} file(s) under the directories are not CloudTrail files by name and were not read:\n{}",
                run.inputs.ignored.len(),
                listing(run.inputs.ignored.len() as u64, &names)
            ),
        ));
    }
    let paged: Vec<String> = run
        .files
        .iter()
        .filter(|f| f.result.as_ref().is_ok_and(|s| s.more_pages))
        .map(|f| f.path.display().to_string())
        .collect();
    out.push(if paged.is_empty() {
        Check::pass("trail.coverage.pages", "no file is one page of a longer listing")
    } else {
        Check::fail(
            "trail.coverage.pages",
            format!(
                "CANNOT_DECIDE: these files end with a NextToken (more pages exist and were not read):\n{}",
                paged.join("\n")
            ),
        )
    });
    let c = &run.coverage;
    let (from, to) = (format_time(cfg.from), format_time(cfg.to));
    out.push(match c.earliest {
        Some(e) if e <= cfg.from => Check::pass(
            "trail.coverage.start",
            format!("the logs start at {} (at or before {from})", format_time(e)),
        ),
        Some(e) => Check::fail(
            "trail.coverage.start",
            format!(
                "CANNOT_DECIDE: no record before {}: {from} to {} is not covered",
                format_time(e),
                format_time(e)
            ),
        ),
        None => Check::fail("trail.coverage.start", "CANNOT_DECIDE: no record at all"),
    });
    out.push(match c.latest {
        Some(l) if l >= cfg.to => Check::pass(
            "trail.coverage.end",
            format!("the logs reach {} (at or after {to})", format_time(l)),
        ),
        Some(l) => Check::fail(
            "trail.coverage.end",
            format!(
                "CANNOT_DECIDE: no record after {}: {} to {to} is not covered",
                format_time(l),
                format_time(l)
            ),
        ),
        None => Check::fail("trail.coverage.end", "CANNOT_DECIDE: no record at all"),
    });
    out.push(match c.longest_quiet() {
        Some((s, e)) if e - s > cfg.max_quiet_secs => Check::fail(
            "trail.coverage.quiet",
            format!(
                "CANNOT_DECIDE: no record at all from {} to {} ({} s, more than the {} s allowed by --max-quiet): a gap in the logs cannot be told from a quiet account",
                format_time(s),
                format_time(e),
                e - s,
                cfg.max_quiet_secs
            ),
        ),
        Some((s, e)) => Check::pass(
            "trail.coverage.quiet",
            format!("the longest stretch without records is {} s (from {}), within --max-quiet {} s", e - s, format_time(s), cfg.max_quiet_secs),
        ),
        None => Check::pass("trail.coverage.quiet", "records in every minute of the window"),
    });
    out
}

fn use_check(kt: &KeyTrail, kind: UseKind, id: &str, what: &str, cannot_decide: bool) -> Check {
    let t = kt.tally(kind);
    if t.count == 0 {
        return Check::pass(id, format!("no {what}"));
    }
    let lines: Vec<String> = t.listed.iter().map(|u| u.line.clone()).collect();
    Check::fail(
        id,
        format!(
            "{}{} {what}:\n{}",
            if cannot_decide { "CANNOT_DECIDE: " } else { "" },
            t.count,
            listing(t.count, &lines)
        ),
    )
}

/// Log-file integrity from the digest files (`docs/notes/cloudtrail.md` §7):
/// PASS only when every digest's signature verified, the chain is unbroken,
/// every listed log file was read unchanged, every file read is listed, and
/// the chain covers the window.
pub fn integrity_check(cfg: &TrailConfig, run: &TrailRun) -> Check {
    let id = "trail.integrity";
    let n = run.inputs.digests.len();
    if n == 0 {
        return Check::warn(
            id,
            "no CloudTrail digest files among the inputs: the log files' integrity is not verified",
        );
    }
    let mut failures: Vec<String> = run.digest_errors.clone();
    let Some(i) = &run.integrity else {
        return if failures.is_empty() {
            Check::warn(id, format!("{n} digest file(s) found but no --digest-public-key given: the log files' integrity is not verified"))
        } else {
            Check::fail(id, format!("digest files cannot be read:\n{}", failures.join("\n")))
        };
    };
    failures.extend(i.failures.iter().cloned());
    let mut undecided = i.undecided.clone();
    match i.covered {
        Some((s, e)) if s <= cfg.from && e >= cfg.to => {}
        Some((s, e)) => undecided.push(format!(
            "the digests cover {} to {}, not the whole window {} to {}",
            format_time(s),
            format_time(e),
            format_time(cfg.from),
            format_time(cfg.to)
        )),
        None => {}
    }
    if !failures.is_empty() {
        return Check::fail(
            id,
            format!("{} integrity failure(s):\n{}", failures.len(), failures.join("\n")),
        );
    }
    if !undecided.is_empty() {
        let shown: Vec<String> = undecided.iter().take(MAX_LISTED).cloned().collect();
        return Check::fail(
            id,
            format!(
                "CANNOT_DECIDE: {} gap(s) in the digest evidence:\n{}",
                undecided.len(),
                listing(undecided.len() as u64, &shown)
            ),
        );
    }
    Check::pass(
        id,
        format!(
            "{} digest file(s) verified (signatures, chain, every log file listed and unchanged){}",
            i.signed,
            i.covered
                .map(|(s, e)| format!(", covering {} to {}", format_time(s), format_time(e)))
                .unwrap_or_default()
        ),
    )
}

/// `trail.receipts.seen`: every KMS call on `key` that a verified receipt
/// inside the window records (by request id) is in the trail. A trail
/// without them is not the key's (another account or region, another
/// key's lookup) or is missing events, so a clean reconciliation of it
/// proves nothing: CANNOT_DECIDE. `None` when no such call is recorded.
pub fn receipts_seen(cfg: &TrailConfig, run: &TrailRun, key: &str) -> Option<Check> {
    let id = "trail.receipts.seen";
    let calls: Vec<(&str, &str)> = cfg
        .receipts
        .iter()
        .filter(|w| w.inside(cfg.from, cfg.to))
        .flat_map(|w| {
            w.key_requests
                .iter()
                .filter(|(k, _)| same_key(k, key))
                .map(|(_, r)| (w.path.as_str(), r.as_str()))
        })
        .collect();
    if calls.is_empty() {
        return None;
    }
    let missing: Vec<String> = calls
        .iter()
        .filter(|(_, r)| !run.seen_requests.contains(*r))
        .map(|(p, r)| format!("{p}: request {r}"))
        .collect();
    Some(if missing.is_empty() {
        Check::pass(
            id,
            format!(
                "the {} KMS call(s) on the key that the receipts inside the window record are all in the trail",
                calls.len()
            ),
        )
    } else {
        let shown: Vec<String> = missing.iter().take(MAX_LISTED).cloned().collect();
        Check::fail(
            id,
            format!(
                "CANNOT_DECIDE: {} of the {} KMS call(s) on the key that the receipts inside the window record are not in the trail (not this key's account or region, or events are missing):\n{}",
                missing.len(),
                calls.len(),
                listing(missing.len() as u64, &shown)
            ),
        )
    })
}

/// One subject per key: its checks (the shared file checks first) and timeline.
/// `extra` checks (e.g. about the receipts given) are added to every subject.
pub fn subjects(cfg: &TrailConfig, run: &TrailRun, extra: &Checks) -> Vec<SubjectReport> {
    let mut shared = file_checks(cfg, run);
    shared.push(integrity_check(cfg, run));
    let mut out = Vec::new();
    for kt in &run.keys {
        let arn = &kt.key.key_arn;
        let mut s = SubjectReport::new(SubjectKind::KmsKey, arn.clone());
        s.pcr_expected_from = Some(kt.key.expected_from.clone());
        s.pcrs = kt
            .key
            .expected
            .pcrs
            .iter()
            .flat_map(|(i, vs)| {
                vs.iter().map(|v| crate::report::PcrRow {
                    index: *i,
                    attested: None,
                    expected: Some(v.clone()),
                })
            })
            .collect();
        let mut c = shared.clone();
        c.extend(extra.clone());
        if let Some(seen) = receipts_seen(cfg, run, arn) {
            c.push(seen);
        }
        let receipted = kt.tally(UseKind::Receipted);
        c.push(Check::pass(
            "trail.uses.receipted",
            if receipted.count == 0 {
                "no attested use with the expected PCRs in the window".to_string()
            } else {
                let lines: Vec<String> = receipted.listed.iter().map(|u| u.line.clone()).collect();
                format!(
                    "{} attested use(s) with the expected PCRs, each covered by a receipt:\n{}",
                    receipted.count,
                    listing(receipted.count, &lines)
                )
            },
        ));
        c.push(use_check(
            kt,
            UseKind::Unreceipted,
            "trail.uses.unreceipted",
            "unreceipted attested use(s) (expected PCRs, no receipt)",
            false,
        ));
        c.push(use_check(
            kt,
            UseKind::WrongImage,
            "trail.uses.wrong_image",
            "use(s) attested by another image",
            false,
        ));
        c.push(use_check(
            kt,
            UseKind::Unattested,
            "trail.uses.unattested",
            "unattested use(s)",
            false,
        ));
        c.push(use_check(
            kt,
            UseKind::Undecidable,
            "trail.uses.undecidable",
            "attested use(s) whose measurements cannot be read",
            true,
        ));
        let failed = kt.tally(UseKind::Failed);
        c.push(if failed.count == 0 {
            Check::pass("trail.uses.failed", "no failed call")
        } else {
            let lines: Vec<String> = failed.listed.iter().map(|u| u.line.clone()).collect();
            Check::warn(
                "trail.uses.failed",
                format!(
                    "{} failed call(s) (nothing released; evidence of attempts):\n{}",
                    failed.count,
                    listing(failed.count, &lines)
                ),
            )
        });
        let mut events = kt.policy_events.clone();
        let ivs = intervals(&mut events, cfg.from, cfg.to, kt.key.initial.as_ref());
        let attempts: Vec<String> = events
            .iter()
            .filter(|e| e.state.is_none())
            .map(|e| format!("{} [{}]", e.line, e.verdict))
            .collect();
        c.push(if kt.policy_overflow {
            Check::fail("trail.policy", "CANNOT_DECIDE: more policy events than can be kept")
        } else if ivs.iter().all(|i| i.state == PolicyState::Pinned) {
            Check::pass(
                "trail.policy",
                format!(
                    "pinned throughout {} to {}; policy from {}",
                    format_time(cfg.from),
                    format_time(cfg.to),
                    ivs.first().and_then(|i| i.opened_by.clone()).unwrap_or_default()
                ),
            )
        } else {
            let bad: Vec<String> = ivs
                .iter()
                .filter(|i| i.state != PolicyState::Pinned)
                .map(describe_interval)
                .collect();
            let undecided = ivs.iter().all(|i| {
                matches!(
                    i.state,
                    PolicyState::Pinned | PolicyState::CannotDecide | PolicyState::Unknown
                )
            });
            Check::fail(
                "trail.policy",
                format!(
                    "{}not pinned throughout: {} interval(s):\n{}",
                    if undecided { "CANNOT_DECIDE: " } else { "" },
                    bad.len(),
                    bad.join("\n")
                ),
            )
        });
        if !attempts.is_empty() {
            c.push(Check::warn(
                "trail.policy.attempts",
                format!("{} policy change(s) failed:\n{}", attempts.len(), attempts.join("\n")),
            ));
        }
        let (n, admin) = &kt.admin;
        c.push(if *n == 0 {
            Check::pass(
                "trail.key.events",
                "no grant, state, deletion, replication or metadata event on the key",
            )
        } else {
            let lines: Vec<String> = admin.iter().map(|(_, l)| l.clone()).collect();
            Check::warn(
                "trail.key.events",
                format!(
                    "{n} administrative event(s) on the key (grants bypass the key policy):\n{}",
                    listing(*n, &lines)
                ),
            )
        });
        s.add(GroupKind::KmsTrail, c);
        let mut marks: Vec<TimelineMark> = kt
            .uses
            .iter()
            .flat_map(|(_, t)| &t.listed)
            .map(|u| TimelineMark { time: u.time, kind: u.kind, label: u.line.clone() })
            .collect();
        marks.sort_by_key(|m| m.time);
        let counts = kt.uses.iter().map(|(k, t)| (*k, t.count)).collect();
        s.timeline = Some(Timeline {
            key_arn: arn.clone(),
            from: cfg.from,
            to: cfg.to,
            intervals: ivs,
            marks,
            counts,
        });
        out.push(s);
    }
    out
}
