//! The key policy over time (`docs/notes/cloudtrail.md` §5.2): every
//! `CreateKey` / `PutKeyPolicy` of the key analysed with the pinning
//! analyser, then cut into intervals of one state over the window.
//!
//! Before the first policy event of the window the policy is the one set by
//! the last policy event before the window, if the trail holds one, or the
//! one the auditor gave for the window's start; otherwise it is unknown, and
//! an unknown stretch is never read as pinned.

use std::collections::HashMap;

use cloudtrail::record::format_time;
use cloudtrail::Event;
use sha2::{Digest as _, Sha256};

use crate::kms_policy::expected::Expected;
use crate::kms_policy::pin::{analyse_bytes, Config, PinVerdict};
use crate::report::{PolicyInterval, PolicyState};

use super::classify::describe;

/// One policy event of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEvent {
    /// Unix seconds.
    pub time: i64,
    /// Order among events of the same second: (file index, offset).
    pub order: (usize, u64),
    /// Who/what/when/where.
    pub line: String,
    /// The state the new policy puts the key in; `None` for a failed call
    /// (the policy did not change).
    pub state: Option<PolicyState>,
    /// The analyser's verdict, or why there is none.
    pub verdict: String,
}

/// The analyser's verdict as a timeline state (LOCKOUT_RISK has no bypass).
pub fn state_of(v: PinVerdict) -> PolicyState {
    match v {
        PinVerdict::Pinned | PinVerdict::LockoutRisk => PolicyState::Pinned,
        PinVerdict::NotPinned => PolicyState::NotPinned,
        PinVerdict::CannotDecide => PolicyState::CannotDecide,
    }
}

/// Analyses policy texts, each distinct text once.
pub struct PolicyAnalyser {
    cfg: Config,
    cache: HashMap<[u8; 32], (PolicyState, String)>,
}

/// The AWS default key policy (one definition, in the `kms-policy` crate).
pub use kms_policy::render::default_policy;

impl PolicyAnalyser {
    /// An analyser for one key with its expected PCRs.
    pub fn new(key_arn: &str, expected: &Expected, trusted: &[String]) -> Self {
        let mut cfg = Config::new(expected.clone());
        cfg.key_arn = Some(key_arn.to_string());
        cfg.trusted = trusted.to_vec();
        Self { cfg, cache: HashMap::new() }
    }

    /// The state a policy text puts the key in, and the verdict in words.
    pub fn analyse(&mut self, text: &[u8]) -> (PolicyState, String) {
        let h: [u8; 32] = Sha256::digest(text).into();
        if let Some(v) = self.cache.get(&h) {
            return v.clone();
        }
        let v = match analyse_bytes(text, &self.cfg) {
            Ok(a) => (state_of(a.verdict), a.verdict.as_str().to_string()),
            Err(e) => {
                (PolicyState::CannotDecide, format!("CANNOT_DECIDE (policy unreadable: {e})"))
            }
        };
        self.cache.insert(h, v.clone());
        v
    }

    /// One `CreateKey` / `PutKeyPolicy` record as a policy event.
    pub fn event(
        &mut self,
        ev: &Event,
        time: i64,
        file_index: usize,
        file: &str,
        offset: u64,
    ) -> PolicyEvent {
        let line = describe(ev, file, offset);
        let order = (file_index, offset);
        if let Some(code) = &ev.error_code {
            return PolicyEvent {
                time,
                order,
                line,
                state: None,
                verdict: format!("failed with {code}: policy unchanged"),
            };
        }
        let (state, verdict) = match ev.policy_text() {
            Some(p) => self.analyse(p.as_bytes()),
            None if ev.event_name == "CreateKey" => {
                let account = ev
                    .recipient_account_id
                    .as_deref()
                    .or(ev.user_identity.account_id.as_deref())
                    .unwrap_or("");
                let (s, v) = self.analyse(default_policy(account).as_bytes());
                (s, format!("{v} (no policy given: the default key policy)"))
            }
            None => (
                PolicyState::CannotDecide,
                "CANNOT_DECIDE (the record carries no policy text)".into(),
            ),
        };
        PolicyEvent { time, order, line, state: Some(state), verdict }
    }
}

/// The state at the window's start when no policy event precedes it.
#[derive(Debug, Clone)]
pub struct Initial {
    /// The state.
    pub state: PolicyState,
    /// Where it came from, for the report.
    pub source: String,
}

/// Cuts `[from, to)` into intervals of one state. `events` is sorted here.
pub fn intervals(
    events: &mut [PolicyEvent],
    from: i64,
    to: i64,
    initial: Option<&Initial>,
) -> Vec<PolicyInterval> {
    events.sort_by_key(|e| (e.time, e.order));
    let applied = events.iter().filter(|e| e.state.is_some());
    let before = applied.clone().rfind(|e| e.time < from);
    let (mut state, mut opened_by) = match (before, initial) {
        (Some(e), _) => (
            e.state.unwrap_or(PolicyState::Unknown),
            Some(format!("{} [{}] (before the window)", e.line, e.verdict)),
        ),
        (None, Some(i)) => (i.state, Some(i.source.clone())),
        (None, None) => (PolicyState::Unknown, None),
    };
    let mut start = from;
    let mut out = Vec::new();
    for e in applied.filter(|e| e.time >= from && e.time < to) {
        let Some(s) = e.state else { continue };
        if s == state {
            continue;
        }
        let label = format!("{} [{}]", e.line, e.verdict);
        if e.time > start {
            out.push(PolicyInterval {
                start,
                end: e.time,
                state,
                opened_by: opened_by.take(),
                closed_by: Some(label.clone()),
            });
        }
        start = e.time;
        state = s;
        opened_by = Some(label);
    }
    out.push(PolicyInterval { start, end: to, state, opened_by, closed_by: None });
    out
}

/// One interval in words.
pub fn describe_interval(i: &PolicyInterval) -> String {
    format!(
        "{} from {} to {}; opened by {}; {}",
        match i.state {
            PolicyState::Pinned => "PINNED",
            PolicyState::NotPinned => "NOT_PINNED",
            PolicyState::CannotDecide => "CANNOT_DECIDE",
            PolicyState::Unknown =>
                "UNKNOWN (no policy event before this time and no --initial-policy)",
        },
        format_time(i.start),
        format_time(i.end),
        i.opened_by.as_deref().unwrap_or("nothing in the trail"),
        match &i.closed_by {
            Some(c) => format!("closed by {c}"),
            None => "still open at the end of the window".into(),
        }
    )
}
