//! The concrete KMS key-policy evaluator against the AWS documentation's
//! worked examples (`testvectors/kms-evaluator-aws-docs/`).
//!
//! Each vector is a policy, a request and the outcome the documentation
//! states for them (provenance in the vector and in the directory's
//! `README.md`). The pinning analyser's soundness argument rests on this
//! evaluator, so the evaluator is checked against AWS's own examples rather
//! than against our reading of the rules. A vector that disagrees is decided
//! from the documentation: the evaluator is fixed, the vector never edited.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use build_spec::pcr::measurements::parse_pcr_hex;
use build_spec::pcr::Measurements;
use serde_json::Value;
use verifier::kms_policy::eval::{evaluate, DecisionKind, Request};
use verifier::kms_policy::parse::Policy;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/kms-evaluator-aws-docs")
}

/// Every `*.json` file of the directory, sorted, with its parsed content.
fn files() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir()).expect("vector directory") {
        let p = e.expect("dir entry").path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push((name, v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn decision_of(s: &str) -> DecisionKind {
    match s {
        "Allow" => DecisionKind::Allow,
        "ExplicitDeny" => DecisionKind::ExplicitDeny,
        "ImplicitDeny" => DecisionKind::ImplicitDeny,
        other => panic!("unknown decision {other:?}"),
    }
}

/// The request a vector describes.
fn request(name: &str, r: &Value) -> Request {
    let s = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("{name}: request.{k}"));
    let mut req = Request::new(s("principal"), s("action"))
        .assume_iam_allows(r["iam_allows"].as_bool().unwrap_or(false));
    if let Some(ctx) = r["context"].as_object() {
        for (k, v) in ctx {
            req = match v {
                Value::String(x) => req.with_context(k, x.as_str()),
                Value::Array(a) => req.with_context_values(
                    k,
                    a.iter().map(|x| x.as_str().unwrap_or_else(|| panic!("{name}: {k}"))),
                ),
                other => panic!("{name}: context {k} = {other}"),
            };
        }
    }
    if let Some(ec) = r["encryption_context"].as_object() {
        let pairs: Vec<(&str, &str)> = ec
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_else(|| panic!("{name}: {k}"))))
            .collect();
        req = req.with_encryption_context(pairs);
    }
    if let Some(pcrs) = r["recipient_pcrs"].as_object() {
        let mut m = Measurements::new();
        for (i, hex) in pcrs {
            let v = parse_pcr_hex(hex.as_str().unwrap_or_default())
                .unwrap_or_else(|| panic!("{name}: PCR{i} is not 96 hex digits"));
            m.insert(i.parse().unwrap_or_else(|e| panic!("{name}: PCR index {i}: {e}")), v);
        }
        req = req.with_recipient_pcrs(&m);
    }
    req
}

#[test]
fn evaluator_agrees_with_every_documented_example() {
    let mut failures = Vec::new();
    let mut ids = BTreeSet::new();
    let mut count = 0;
    for (file, doc) in files() {
        assert!(
            doc["source"]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://docs.aws.amazon.com/")),
            "{file}: source.url"
        );
        for v in doc["vectors"].as_array().unwrap_or_else(|| panic!("{file}: vectors")) {
            let id = v["id"].as_str().unwrap_or_else(|| panic!("{file}: vector without id"));
            let name = format!("{file}#{id}");
            assert!(ids.insert(name.clone()), "{name}: duplicate id");
            for field in ["section", "documented"] {
                assert!(v[field].as_str().is_some_and(|s| !s.is_empty()), "{name}: no {field}");
            }
            let policy = Policy::parse_str(&v["policy"].to_string())
                .unwrap_or_else(|e| panic!("{name}: policy does not parse: {e}"));
            let want = decision_of(v["expect"].as_str().unwrap_or_default());
            let got = evaluate(&policy, &request(&name, &v["request"]));
            count += 1;
            if got.kind != want || got.ambiguous {
                failures.push(format!(
                    "{name}: documented {want:?} ({}), evaluator {:?}{}; trace {:?}",
                    v["documented"].as_str().unwrap_or_default(),
                    got.kind,
                    if got.ambiguous { " (ambiguous)" } else { "" },
                    got.statements.iter().map(|s| &s.outcome).collect::<Vec<_>>(),
                ));
            }
        }
    }
    assert!(count >= 40, "only {count} vectors found in {}", dir().display());
    assert!(
        failures.is_empty(),
        "{} of {count} vectors disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every vector file is listed in the directory's README with its page, so
/// provenance cannot silently go missing when a file is added.
#[test]
fn readme_lists_every_vector_file() {
    let readme = std::fs::read_to_string(dir().join("README.md")).expect("README.md");
    for (file, doc) in files() {
        assert!(readme.contains(&file), "README.md does not mention {file}");
        let url = doc["source"]["url"].as_str().unwrap_or_default();
        assert!(readme.contains(url), "README.md does not give the page {url} of {file}");
    }
}
