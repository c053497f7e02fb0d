//! Text rendering of attestation reports (JSON is the serde form of
//! [`AttestationReport`]). Pure functions of the report.

use std::fmt::Write as _;

use checks::text::Painter;

use super::verify::AttestationReport;
use crate::report::{Check, Outcome, Status};

/// Version of the JSON shape emitted by `attestation verify --format json`.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The status label of one check (`PASS`, `FAIL`, `WARN`, `SKIP`), styled
/// as every check list prints it ([`checks::text`]).
pub fn status_word(o: &Outcome, required: bool, color: bool) -> String {
    let c = Check { id: String::new(), required, outcome: o.clone(), detail: String::new() };
    Painter::new(color).status(Status::of_check(&c))
}

/// Renders every check, one per line, then the verdict.
pub fn text(report: &AttestationReport, color: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "input sha256:  {} ({} bytes)", report.input_sha256, report.input_len);
    if let Some(at) = &report.verified_at {
        let src = match report.verified_at_source {
            "document" => "the document's own signed timestamp; no freshness implied",
            "now" => "the current time",
            _ => "the instant given with --at",
        };
        let _ = writeln!(s, "verified at:   {at} ({src})");
    }
    for root in &report.trust_roots {
        let _ = writeln!(s, "trust root:    {} (sha256 {})", root.label, root.sha256);
    }
    if let Some(d) = &report.doc {
        let _ = writeln!(s, "module_id:     {}", d.module_id);
        let _ = writeln!(s, "timestamp:     {} ({} ms)", d.timestamp_utc, d.timestamp);
        for i in [0u8, 1, 2, 3, 4, 8] {
            if let Some(v) = d.pcrs.get(i) {
                let _ = writeln!(s, "PCR{i}:          {}", hex::encode(v));
            }
        }
    }
    let _ = writeln!(s);
    s.push_str(&checks::text::render(&report.checks, color));
    s
}
