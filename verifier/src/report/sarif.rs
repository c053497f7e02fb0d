//! SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format), for code
//! scanning dashboards.
//!
//! Rule ids are the stable check ids, so a dashboard tracks the same problem
//! across runs. Every check that ran becomes a rule of the driver; only
//! problems become results (SARIF consumers such as GitHub code scanning show
//! every result as an alert): a failed required check is level `error`, a
//! failed optional check or a warning is level `warning`. A clean run has an
//! empty `results` array, so the verdict is also recorded in
//! `runs[0].properties.verdict`. The output validates against the official
//! 2.1.0 schema (tested).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{AuditReport, Check, Status, NOTHING_PASSED};

/// The `$schema` URI written into the log.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Percent-encodes a path into a URI reference: unreserved characters and
/// `/` stay, everything else (spaces, `#`, `?`, non-ASCII bytes) is encoded.
pub fn path_to_uri(path: &str) -> String {
    let mut o = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                o.push(b as char)
            }
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

/// Renders the report as a SARIF 2.1.0 log (pretty JSON plus a newline).
pub fn render(report: &AuditReport) -> String {
    // Rules: every distinct check id, in first-seen order, with its group.
    let mut rules: Vec<(String, &'static str, String)> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut add_rule = |id: &str, group: &'static str, title: &str, rules: &mut Vec<_>| -> usize {
        if let Some(i) = index.get(id) {
            return *i;
        }
        rules.push((id.to_string(), group, title.to_string()));
        index.insert(id.to_string(), rules.len() - 1);
        rules.len() - 1
    };

    let mut results = Vec::new();
    for s in &report.subjects {
        let mut items: Vec<(&'static str, &'static str, Check)> =
            s.checks().map(|(g, c)| (g.kind.id(), g.kind.title(), c.clone())).collect();
        if let Some(c) = s.synthetic_failure() {
            items.push(("verdict", "Verdict", c));
        }
        for (group, title, c) in items {
            let i = add_rule(&c.id, group, title, &mut rules);
            let level = match Status::of_check(&c) {
                Status::Fail => "error",
                Status::Warn => "warning",
                Status::Pass | Status::Skipped => continue,
            };
            let mut props = serde_json::Map::new();
            props.insert("group".into(), json!(group));
            props.insert("required".into(), json!(c.required));
            if let super::Outcome::Fail { expected, actual } = &c.outcome {
                if let Some(e) = expected {
                    props.insert("expected".into(), json!(e));
                }
                if let Some(a) = actual {
                    props.insert("actual".into(), json!(a));
                }
            }
            results.push(json!({
                "ruleId": c.id,
                "ruleIndex": i,
                "level": level,
                "message": { "text": format!("{}: {}", s.path, c.detail) },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": path_to_uri(&s.path) } }
                }],
                "properties": Value::Object(props),
            }));
        }
    }
    if report.subjects.is_empty() {
        let i = add_rule(NOTHING_PASSED, "verdict", "Verdict", &mut rules);
        results.push(json!({
            "ruleId": NOTHING_PASSED,
            "ruleIndex": i,
            "level": "error",
            "message": { "text": "nothing was audited" },
        }));
    }
    let rules: Vec<Value> = rules
        .into_iter()
        .map(|(id, group, title)| {
            json!({
                "id": id,
                "shortDescription": { "text": format!("{title}: {id}") },
                "properties": { "group": group },
            })
        })
        .collect();
    let sum = report.summary();
    let log = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": report.tool.name,
                "version": report.tool.version,
                "informationUri": "https://github.com/proofpack/proofpack",
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "endTimeUtc": report.verified_at,
            }],
            "results": results,
            "properties": {
                "verdict": report.verdict().id(),
                "command": report.settings.command,
                "subjects": sum.total,
                "passed": sum.passed,
                "failed": sum.failed,
            },
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_else(|e| {
        json!({"version": "2.1.0", "runs": [], "properties": {"error": e.to_string()}}).to_string()
    });
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encoding() {
        assert_eq!(path_to_uri("a/b c#?.json"), "a/b%20c%23%3F.json");
        assert_eq!(path_to_uri("é"), "%C3%A9");
    }
}
