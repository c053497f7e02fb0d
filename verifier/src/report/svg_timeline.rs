//! The key's timeline as an inline SVG for the HTML report (issue 16):
//! a band of policy intervals (pinned green, not pinned red, cannot decide
//! amber, unknown grey) over the window, the uses as marks above it
//! (coloured by classification), each with a `<title>` tooltip. Drawn by
//! the renderer from the report's data: no script, no external resource,
//! so the report stays self-contained under its Content-Security-Policy.

use std::fmt::Write as _;

use super::html::escape;
use super::{format_unix, PolicyState, Timeline, UseKind};

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 10.0;
const PLOT: f64 = 980.0;

fn state_colour(s: PolicyState) -> &'static str {
    match s {
        PolicyState::Pinned => "#1a7f37",
        PolicyState::NotPinned => "#cf222e",
        PolicyState::CannotDecide => "#bf8700",
        PolicyState::Unknown => "#8c959f",
    }
}

fn use_colour(k: UseKind) -> &'static str {
    match k {
        UseKind::Receipted => "#1a7f37",
        UseKind::Unreceipted => "#bf8700",
        UseKind::WrongImage => "#cf222e",
        UseKind::Unattested => "#82071e",
        UseKind::Undecidable => "#bf8700",
        UseKind::Failed => "#57606a",
    }
}

/// The SVG of one timeline.
pub fn render(t: &Timeline) -> String {
    let span = (t.to - t.from).max(1) as f64;
    let x = |time: i64| LEFT + ((time.clamp(t.from, t.to) - t.from) as f64 / span) * PLOT;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} 148\" \
         width=\"100%\" role=\"img\" aria-label=\"policy and uses of {} from {} to {}\">",
        escape(&t.key_arn),
        format_unix(t.from),
        format_unix(t.to)
    );
    for i in &t.intervals {
        let (x0, x1) = (x(i.start), x(i.end));
        let _ = write!(
            o,
            "<rect class=\"iv {}\" x=\"{x0:.1}\" y=\"60\" width=\"{:.1}\" height=\"26\" fill=\"{}\">\
             <title>{}: {} to {}{}{}</title></rect>",
            i.state.id(),
            (x1 - x0).max(1.0),
            state_colour(i.state),
            i.state.id(),
            format_unix(i.start),
            format_unix(i.end),
            i.opened_by.as_deref().map(|e| format!("\nopened by {}", escape(e))).unwrap_or_default(),
            i.closed_by.as_deref().map(|e| format!("\nclosed by {}", escape(e))).unwrap_or_default()
        );
    }
    for m in &t.marks {
        let cx = x(m.time);
        let bad = !matches!(m.kind, UseKind::Receipted | UseKind::Failed);
        let cy = if bad { 22.0 } else { 42.0 };
        let _ = write!(
            o,
            "<g class=\"use {}\"><line x1=\"{cx:.1}\" y1=\"{cy}\" x2=\"{cx:.1}\" y2=\"60\" stroke=\"{c}\" stroke-width=\"1\"/>\
             <circle cx=\"{cx:.1}\" cy=\"{cy}\" r=\"5\" fill=\"{c}\"><title>{}: {}</title></circle></g>",
            m.kind.id(),
            m.kind.id(),
            escape(&m.label),
            c = use_colour(m.kind)
        );
    }
    let _ = write!(
        o,
        "<text x=\"{LEFT}\" y=\"104\" font-size=\"11\" fill=\"#57606a\">{}</text>\
         <text x=\"{:.1}\" y=\"104\" font-size=\"11\" fill=\"#57606a\" text-anchor=\"end\">{}</text>",
        format_unix(t.from),
        LEFT + PLOT,
        format_unix(t.to)
    );
    let legend = [
        ("pinned", state_colour(PolicyState::Pinned)),
        ("not pinned", state_colour(PolicyState::NotPinned)),
        ("cannot decide / unknown", state_colour(PolicyState::CannotDecide)),
        ("receipted use", use_colour(UseKind::Receipted)),
        ("wrong image", use_colour(UseKind::WrongImage)),
        ("unattested", use_colour(UseKind::Unattested)),
        ("failed call", use_colour(UseKind::Failed)),
    ];
    let mut lx = LEFT;
    for (label, c) in legend {
        let _ = write!(
            o,
            "<rect x=\"{lx:.1}\" y=\"114\" width=\"10\" height=\"10\" fill=\"{c}\"/>\
             <text x=\"{:.1}\" y=\"123\" font-size=\"11\" fill=\"#1b1f24\">{label}</text>",
            lx + 14.0
        );
        lx += 14.0 + label.len() as f64 * 6.2 + 16.0;
    }
    let totals: Vec<String> =
        t.counts.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{} {n}", k.id())).collect();
    let shown: u64 = t.marks.len() as u64;
    let total: u64 = t.counts.iter().map(|(_, n)| n).sum();
    let _ = write!(
        o,
        "<text class=\"totals\" x=\"{LEFT}\" y=\"142\" font-size=\"11\" fill=\"#57606a\">uses: {}{}</text>",
        if totals.is_empty() { "none".to_string() } else { totals.join(", ") },
        if shown < total { format!(" (marks: the first {shown} of {total}, by kind)") } else { String::new() }
    );
    o.push_str("</svg>\n");
    o
}
