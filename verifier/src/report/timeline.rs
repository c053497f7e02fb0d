//! A key's history over the audit window, as data for the renderers: when
//! the policy pinned the key and when it did not, and the uses on top.
//!
//! The HTML renderer draws it as an SVG ([`super::html`]); the JSON report
//! carries it for tools. Times are Unix seconds (UTC).

/// What the key policy allowed during an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyState {
    /// The analyser said PINNED (or LOCKOUT_RISK: no bypass).
    Pinned,
    /// The analyser found a documented bypass.
    NotPinned,
    /// The analyser found a bypass under an undocumented reading.
    CannotDecide,
    /// No policy is known for this stretch (nothing in the trail says what
    /// it was): never read as pinned.
    Unknown,
}

impl PolicyState {
    /// Wire name.
    pub fn id(self) -> &'static str {
        match self {
            PolicyState::Pinned => "pinned",
            PolicyState::NotPinned => "not_pinned",
            PolicyState::CannotDecide => "cannot_decide",
            PolicyState::Unknown => "unknown",
        }
    }
}

/// One stretch of one policy state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInterval {
    /// Start (inclusive).
    pub start: i64,
    /// End (exclusive); the window's end for the last interval.
    pub end: i64,
    /// The state.
    pub state: PolicyState,
    /// The event that opened it (`PutKeyPolicy at T by P (eventID)`), if any.
    pub opened_by: Option<String>,
    /// The event that closed it, if it closed inside the window.
    pub closed_by: Option<String>,
}

/// How one use of the key is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UseKind {
    /// Attested with the expected PCRs and covered by a receipt.
    Receipted,
    /// Attested with the expected PCRs, no receipt covers it.
    Unreceipted,
    /// Attested with other PCRs.
    WrongImage,
    /// No attestation document.
    Unattested,
    /// Attested, but the measurements cannot be read.
    Undecidable,
    /// The call failed (denied or otherwise).
    Failed,
}

impl UseKind {
    /// Wire name.
    pub fn id(self) -> &'static str {
        match self {
            UseKind::Receipted => "receipted",
            UseKind::Unreceipted => "unreceipted",
            UseKind::WrongImage => "wrong_image",
            UseKind::Unattested => "unattested",
            UseKind::Undecidable => "undecidable",
            UseKind::Failed => "failed",
        }
    }
}

/// One use on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineMark {
    /// When.
    pub time: i64,
    /// How it was classified.
    pub kind: UseKind,
    /// Operation and principal, for a tooltip.
    pub label: String,
}

/// The whole timeline of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// The key.
    pub key_arn: String,
    /// Window start.
    pub from: i64,
    /// Window end.
    pub to: i64,
    /// Policy states covering `[from, to)` in order.
    pub intervals: Vec<PolicyInterval>,
    /// Uses (bounded: the first `verifier::trail::MAX_LISTED` of each kind).
    pub marks: Vec<TimelineMark>,
    /// The exact number of uses of each kind (the marks may be fewer).
    pub counts: Vec<(UseKind, u64)>,
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (the renderers' one time format).
pub fn format_unix(t: i64) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&f).ok())
        .unwrap_or_else(|| t.to_string())
}
