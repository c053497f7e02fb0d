//! Report renderers: golden files for JSON, Markdown, JUnit and SARIF, and
//! validation of each format by an independent tool:
//!
//! * JSON against `docs/schema/audit-report.v1.json` and SARIF against the
//!   official OASIS 2.1.0 schema, both with Python `jsonschema`;
//! * JUnit with Python `junitparser`;
//! * HTML rendered by headless Debian `chromium` (screenshot and DOM).
//!
//! The tools are installed by `scripts/install-test-deps`; a missing tool
//! fails the test loudly. Set `UPDATE_GOLDEN=1` to rewrite the golden files
//! after an intended format change (and review the diff).

use crate::common::report_fixture as fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use verifier::report::{github, html, json, junit, markdown, sarif, text, Verdict};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create)", path.display()));
    if want != got {
        let tmp = std::env::temp_dir().join(format!("proofpack-golden-{name}"));
        std::fs::write(&tmp, got).unwrap();
        panic!(
            "{name} differs from the golden file; got written to {}\n--- got ---\n{got}",
            tmp.display()
        );
    }
}

fn python(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/validate_report.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 is required (scripts/install-test-deps)");
    assert!(
        out.status.success(),
        "validate_report.py {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write_tmp(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn golden_json() {
    for (name, r) in fixture::samples() {
        golden(&format!("{name}.json"), &json::render(&r));
    }
}

#[test]
fn golden_markdown() {
    for (name, r) in fixture::samples() {
        golden(&format!("{name}.md"), &markdown::render(&r));
    }
}

#[test]
fn golden_junit() {
    for (name, r) in fixture::samples() {
        golden(&format!("{name}.junit.xml"), &junit::render(&r));
    }
}

#[test]
fn golden_sarif() {
    for (name, r) in fixture::samples() {
        golden(&format!("{name}.sarif.json"), &sarif::render(&r));
    }
}

#[test]
fn json_verdict_is_derived() {
    for (_, r) in fixture::samples() {
        let v: serde_json::Value = serde_json::from_str(&json::render(&r)).unwrap();
        assert_eq!(v["verdict"], r.verdict().id());
        assert_eq!(v["schema_version"], json::SCHEMA_VERSION);
        let subjects = v["subjects"].as_array().unwrap();
        for (s, w) in r.subjects.iter().zip(subjects) {
            assert_eq!(w["verdict"], s.verdict().id());
        }
    }
    let (_, fail) = &fixture::samples()[1];
    assert_eq!(fail.verdict(), Verdict::Fail);
}

#[test]
fn json_validates_against_our_schema() {
    let dir = tempfile::tempdir().unwrap();
    let schema = root().join("docs/schema/audit-report.v1.json");
    for (name, r) in fixture::samples() {
        let doc = write_tmp(&dir, &format!("{name}.json"), &json::render(&r));
        let out = python(&["schema", schema.to_str().unwrap(), &doc]);
        assert!(out.contains("Draft202012Validator"), "{out}");
    }
}

#[test]
fn schema_rejects_a_broken_report() {
    // The schema must be able to fail: drop a required member and add an unknown one.
    let dir = tempfile::tempdir().unwrap();
    let schema = root().join("docs/schema/audit-report.v1.json");
    let (_, r) = &fixture::samples()[1];
    let mut v: serde_json::Value = serde_json::from_str(&json::render(r)).unwrap();
    v["subjects"][0]["groups"][0]["checks"][0]["status"] = "maybe".into();
    let doc = write_tmp(&dir, "broken.json", &v.to_string());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/validate_report.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["schema", schema.to_str().unwrap(), &doc])
        .output()
        .unwrap();
    assert!(!out.status.success(), "schema accepted an invalid status");
}

#[test]
fn sarif_validates_against_the_oasis_schema() {
    let dir = tempfile::tempdir().unwrap();
    let schema = root().join("testvectors/report/sarif-schema-2.1.0.json");
    for (name, r) in fixture::samples() {
        let body = sarif::render(&r);
        let doc = write_tmp(&dir, &format!("{name}.sarif"), &body);
        let out = python(&["schema", schema.to_str().unwrap(), &doc]);
        assert!(out.contains("Draft4Validator"), "{out}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let results = v["runs"][0]["results"].as_array().unwrap();
        let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
        // Every result's ruleIndex points at the rule with its id.
        for res in results {
            let i = res["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], res["ruleId"]);
        }
        let errors = results.iter().filter(|x| x["level"] == "error").count();
        assert_eq!(
            errors == 0,
            r.verdict() == Verdict::Pass,
            "{name}: error results must match the verdict"
        );
    }
}

#[test]
fn junit_parses_with_junitparser() {
    let dir = tempfile::tempdir().unwrap();
    for (name, r) in fixture::samples() {
        let file = write_tmp(&dir, &format!("{name}.xml"), &junit::render(&r));
        let out: serde_json::Value = serde_json::from_str(&python(&["junit", &file])).unwrap();
        assert_eq!(out["tests"], out["declared_tests"], "{name}: {out}");
        assert_eq!(out["failures"], out["declared_failures"], "{name}: {out}");
        let failures = out["failures"].as_u64().unwrap();
        assert_eq!(failures == 0, r.verdict() == Verdict::Pass, "{name}: {out}");
        let checks: usize = r.subjects.iter().map(|s| s.checks().count()).sum();
        assert!(out["tests"].as_u64().unwrap() as usize >= checks);
        if name == "fail" {
            let names: Vec<_> = out["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect();
            assert!(names.contains(&"rebuild.pcr.2".to_string()));
            assert!(names.contains(&"kms.policy.bypass".to_string()));
        }
    }
}

#[test]
fn github_annotations() {
    let samples = fixture::samples();
    let out = github::render(&samples[1].1);
    let lines: Vec<&str> = out.lines().collect();
    // Every line is one command; the crafted newline in a detail is escaped.
    assert!(lines.iter().all(|l| l.starts_with("::")), "{out}");
    assert!(out
        .contains("::error file=receipts/bad <&\"'> one.json,title=proofpack kms.policy.bypass::"));
    assert!(out.contains("%0Aline two"));
    assert!(out.contains("::warning file=receipts/bad"));
    assert!(lines.last().unwrap().starts_with("::error title=proofpack audit::FAIL: 1 of 2"));
    let ok = github::render(&samples[0].1);
    assert_eq!(ok.lines().count(), 1);
    assert!(ok.starts_with("::notice title=proofpack audit::PASS"));
    let empty = github::render(&samples[2].1);
    assert!(empty.starts_with("::error"), "{empty}");
}

#[test]
fn text_colour_is_optional() {
    let (_, r) = &fixture::samples()[1];
    let plain = text::render(r, false);
    assert!(!plain.contains('\u{1b}'));
    assert!(plain.starts_with("proofpack audit FAIL: 1 of 2 subject(s) passed"));
    assert!(plain.contains("rebuild.pcr.2"));
    assert!(plain.contains("modified ramdisk[1]/etc/proofpack/build-info.json"));
    let coloured = text::render(r, true);
    assert!(coloured.contains("\u{1b}["));
    // Stripping the styles gives back the plain text.
    let mut stripped = Vec::new();
    {
        use std::io::Write as _;
        let mut s = anstream::StripStream::new(&mut stripped);
        s.write_all(coloured.as_bytes()).unwrap();
    }
    assert_eq!(String::from_utf8(stripped).unwrap(), plain);
}

#[test]
fn html_is_self_contained_and_escaped() {
    let (_, r) = &fixture::samples()[1];
    let page = html::render(r);
    for needle in ["src=", "href=", "url(", "@import", "<script", "<link", "<img", "<iframe"] {
        assert!(!page.contains(needle), "HTML contains {needle}");
    }
    assert!(page.contains("&lt;script&gt;"));
    assert!(page.contains("receipts/bad &lt;&amp;&quot;&#39;&gt; one.json"));
    let verdict = page.find("id=\"verdict\"").unwrap();
    let checks = page.find("<h3>Checks</h3>").unwrap();
    let chain = page.find("<h3>Certificate chain").unwrap();
    let pcrs = page.find("<h3>PCRs</h3>").unwrap();
    let findings = page.find("<h3>KMS policy findings</h3>").unwrap();
    assert!(verdict < checks && checks < chain && chain < pcrs && pcrs < findings);
    assert!(page.contains("<tr class=\"match\">") && page.contains("<tr class=\"mismatch\">"));
}

/// Runs Debian's chromium headless with a fresh profile and no network use.
fn chromium(profile: &Path, extra: &[&str], page: &Path) -> std::process::Output {
    let bin = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("chromium is required (scripts/install-test-deps installs Debian's chromium)");
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium")
}

#[test]
fn html_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    for (name, r) in fixture::samples().into_iter().take(2) {
        let page = dir.path().join(format!("{name}.html"));
        std::fs::write(&page, html::render(&r)).unwrap();
        let dom = chromium(&dir.path().join(format!("profile-dom-{name}")), &["--dump-dom"], &page);
        let dom_text = String::from_utf8_lossy(&dom.stdout);
        assert!(
            dom.status.success(),
            "chromium --dump-dom failed: {}",
            String::from_utf8_lossy(&dom.stderr)
        );
        let expected = format!(
            "<div class=\"verdict {}\" id=\"verdict\"><div class=\"big\">{}</div>",
            r.verdict().id(),
            r.verdict().label()
        );
        assert!(
            dom_text.contains(&expected),
            "{name}: verdict missing from the rendered DOM:\n{dom_text}"
        );
        let png = dir.path().join(format!("{name}.png"));
        let shot = chromium(
            &dir.path().join(format!("profile-shot-{name}")),
            &[&format!("--screenshot={}", png.display()), "--window-size=1200,1600"],
            &page,
        );
        assert!(
            shot.status.success(),
            "chromium --screenshot failed: {}",
            String::from_utf8_lossy(&shot.stderr)
        );
        let bytes = std::fs::read(&png).expect("screenshot written");
        assert!(bytes.len() > 10_000, "screenshot suspiciously small: {} bytes", bytes.len());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        if let Some(keep) = std::env::var_os("PROOFPACK_KEEP_SCREENSHOTS") {
            std::fs::copy(&png, Path::new(&keep).join(format!("{name}.png"))).unwrap();
            std::fs::copy(&page, Path::new(&keep).join(format!("{name}.html"))).unwrap();
        }
    }
}

#[test]
fn dev_ca_is_said_in_every_human_and_ci_output() {
    let (_, mut r) = fixture::samples().remove(0);
    r.settings.allow_dev_ca = true;
    assert_eq!(r.verdict(), Verdict::Pass);
    let notice = verifier::report::DEV_CA_NOTICE;
    assert!(text::render(&r, false).contains(notice));
    assert!(markdown::render(&r).contains("DEVELOPMENT CA ACCEPTED"));
    assert!(html::render(&r).contains("DEVELOPMENT CA ACCEPTED"));
    assert!(github::render(&r)
        .contains("::warning title=proofpack development CA::DEVELOPMENT CA ACCEPTED"));
    let v: serde_json::Value = serde_json::from_str(&json::render(&r)).unwrap();
    assert_eq!(v["settings"]["allow_dev_ca"], true);
    let (_, plain) = &fixture::samples()[0];
    assert!(!text::render(plain, false).contains(notice));
}
