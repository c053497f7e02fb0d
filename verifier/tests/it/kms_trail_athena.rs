//! Issue 16, trails too large for one machine: the Athena query
//! (`kms-trail sql --athena-table`) and its CSV result read by `kms-trail
//! check`. The CSV is written by Python's csv module
//! (`tests/support/athena_csv.py`) from log files the `cloudtrail` writer
//! delivered; the check over the CSV and over the log files must agree on
//! every verdict and count.

use std::path::Path;
use std::process::Command;

use cloudtrail::record::format_time;
use cloudtrail::Event;
use serde_json::Value;
use verifier::trail::sql::{athena_query, lake_query, SqlError, ATHENA_COLUMNS};

use crate::common::trail::*;

fn support(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support").join(name)
}

#[test]
fn athena_query_selects_the_key_and_coverage_and_refuses_unsafe_values() {
    let q = athena_query("cloudtrail_db.cloudtrail_logs", KEY, T0, T0 + 3600).expect("query");
    let key_id = "0f0e0d0c-aaaa-bbbb-cccc-000000000001";
    assert!(
        q.contains(&format!(
            "json_extract_scalar(requestparameters, '$.keyId') IN ('{KEY}', '{key_id}')"
        )),
        "{q}"
    );
    assert!(q.contains(&format!("any_match(resources, r -> r.arn = '{KEY}')")), "{q}");
    assert_eq!(q.matches("FROM cloudtrail_db.cloudtrail_logs\n").count(), 2, "{q}");
    // Window arithmetic, in CloudTrail's own eventtime text.
    assert!(q.contains(&format!("WHERE eventtime <= '{}'", format_time(T0 + 3600))), "{q}");
    assert!(
        q.contains(&format!(
            "eventtime BETWEEN '{}' AND '{}'",
            format_time(T0 - 3600),
            format_time(T0 + 7200)
        )),
        "{q}"
    );
    assert!(q.contains("PARTITION BY substr(eventtime, 1, 16) ORDER BY eventtime"), "{q}");
    // The coverage part leaves out what the key part returns (no record twice).
    assert_eq!(q.matches("AND NOT coalesce(eventsource = 'kms.amazonaws.com'").count(), 1, "{q}");
    assert!(q.trim_end().ends_with(") ORDER BY eventtime"), "{q}");
    assert_eq!(
        q.matches("json_format(CAST(useridentity AS JSON)) AS useridentity").count(),
        2,
        "{q}"
    );
    // Unsafe values are refused, never quoted.
    for bad_table in ["db.t; DROP TABLE x", "a.b.c", "db-x.t", "", "db.", "t'"] {
        assert!(
            matches!(athena_query(bad_table, KEY, T0, T0 + 1), Err(SqlError::BadTable(_))),
            "{bad_table}"
        );
    }
    assert!(athena_query("cloudtrail_logs", KEY, T0, T0 + 1).is_ok());
    assert!(matches!(
        athena_query("db.t", "x' OR '1'='1", T0, T0 + 1),
        Err(SqlError::Unsafe { .. })
    ));
    assert_eq!(athena_query("db.t", KEY, T0, T0), Err(SqlError::EmptyWindow));
    assert_eq!(athena_query("db.t", KEY, T0 + 1, T0), Err(SqlError::EmptyWindow));
    // The Lake query leaves the key's records out of its coverage part too.
    let l = lake_query("eds-1234", KEY, T0, T0 + 3600).expect("lake");
    assert_eq!(l.matches("AND NOT coalesce(eventSource = 'kms.amazonaws.com'").count(), 1, "{l}");
}

#[test]
fn the_query_selects_the_columns_the_reader_maps() {
    // The columns (by their output names) of the emitted query are those of
    // the Athena vector's header, which the reader maps to the record.
    let names: Vec<String> = ATHENA_COLUMNS
        .split(", ")
        .map(|c| c.rsplit(" AS ").next().unwrap_or(c).trim().to_string())
        .collect();
    let csv = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testvectors/cloudtrail/athena-query-results.csv"),
    )
    .expect("vector");
    let header: Vec<String> = csv
        .lines()
        .next()
        .expect("header")
        .split(',')
        .map(|c| c.trim_matches('"').to_string())
        .collect();
    assert_eq!(names, header);
}

#[test]
fn sql_cli_needs_exactly_one_store() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_proofpack"))
            .args(["kms-trail", "sql", "--key", KEY, "--from", "2025-12-01T00:00:00Z"])
            .args(["--to", "2025-12-02T00:00:00Z"])
            .args(args)
            .output()
            .expect("run")
    };
    let o = run(&["--athena-table", "db.cloudtrail_logs"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let q = String::from_utf8_lossy(&o.stdout);
    assert!(q.contains("FROM db.cloudtrail_logs") && q.contains("Athena engine v3"), "{q}");
    let o = run(&["--event-data-store", "eds-1"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("FROM eds-1"));
    assert_eq!(run(&[]).status.code(), Some(2), "one is required");
    let both = run(&["--event-data-store", "eds-1", "--athena-table", "db.t"]);
    assert_eq!(both.status.code(), Some(2), "they exclude each other");
    let bad = run(&["--athena-table", "db.t;x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not DATABASE.TABLE"));
}

/// A trail with every kind of finding (the scenario of
/// `kms_trail::each_misuse_is_found_with_who_when_where`, without receipts).
fn misused() -> Vec<Event> {
    let mut create = kms_event("CreateKey", T0 - 60, ADMIN, "198.51.100.7");
    create.request_parameters = Some(serde_json::json!({"policy": pinned_policy(1)}));
    let mut v = vec![create];
    for t in (T0 - 30..=T0 + 3900).step_by(300) {
        v.push(heartbeat(t));
    }
    v.push(attested(kms_event("Decrypt", T0 + 100, ENCLAVE_ROLE, "10.0.0.5"), MODULE, &pcrs(1)));
    v.extend(misuses());
    v
}

fn check_cli(trail: &Path, expect: &Path) -> (i32, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .args(["kms-trail", "check", "--format", "json", "--cloudtrail"])
        .arg(trail)
        .args(["--from", &format_time(T0), "--to", &format_time(T0 + 3600), "--key", KEY])
        .arg("--expect")
        .arg(expect)
        .args(["--trusted-principal", ADMIN, "--max-quiet", "10m"])
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code().expect("code"), v)
}

/// Every check's id, status and whether it is required, in report order.
fn verdicts(v: &Value) -> Vec<(String, String, bool)> {
    v["subjects"][0]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["checks"].as_array().expect("checks").clone())
        .map(|c| {
            (
                c["id"].as_str().unwrap_or("").to_string(),
                c["status"].as_str().unwrap_or("").to_string(),
                c["required"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn athena_csv(src: &Path, out: &Path) {
    let o = Command::new("python3")
        .arg(support("athena_csv.py"))
        .arg("-o")
        .arg(out)
        .arg(src)
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn check_over_the_athena_csv_agrees_with_check_over_the_log_files() {
    let d = tempfile::tempdir().expect("tmp");
    let logs = d.path().join("trail");
    let files = write_trail(&logs, &misused(), 5);
    assert!(files.len() > 3);
    let expect = d.path().join("pcrs.json");
    let p = pcrs(1);
    std::fs::write(&expect, serde_json::json!({"0": p[0], "1": p[1], "2": p[2]}).to_string())
        .expect("w");
    // Named anything: recognised by its content.
    let csv = d.path().join("results").join("5f0c1e2d-athena-result");
    std::fs::create_dir_all(csv.parent().expect("dir")).expect("mkdir");
    athena_csv(&logs, &csv);

    let (code_json, json) = check_cli(&logs, &expect);
    let (code_csv, from_csv) = check_cli(&csv, &expect);
    assert_eq!(code_json, 1);
    assert_eq!(code_csv, code_json);
    let want = verdicts(&json);
    assert_eq!(verdicts(&from_csv), want);
    let failing: Vec<&str> =
        want.iter().filter(|(_, s, r)| s == "fail" && *r).map(|(i, _, _)| i.as_str()).collect();
    assert_eq!(
        failing,
        [
            "trail.uses.unreceipted",
            "trail.uses.wrong_image",
            "trail.uses.unattested",
            "trail.policy"
        ]
    );
    let tl = |v: &Value| v["subjects"][0]["timeline"].clone();
    assert_eq!(tl(&from_csv)["counts"], tl(&json)["counts"]);
    // The policy intervals, with their opening and closing events (who,
    // when, eventID); only the file and offset they were read at differ.
    let intervals = |v: &Value| -> Vec<String> {
        tl(v)["intervals"]
            .as_array()
            .expect("intervals")
            .iter()
            .map(|i| {
                let ev = |k: &str| {
                    i[k].as_str().unwrap_or("").split(" [").next().unwrap_or("").to_string()
                };
                format!(
                    "{} {} {} | {} | {}",
                    i["start"],
                    i["end"],
                    i["state"],
                    ev("opened_by"),
                    ev("closed_by")
                )
            })
            .collect()
    };
    assert_eq!(intervals(&from_csv), intervals(&json));
    assert_eq!(intervals(&json).len(), 3);
    assert_eq!(
        from_csv["settings"]["cloudtrail"]["records"],
        json["settings"]["cloudtrail"]["records"]
    );
    // The CSV's findings point into the CSV, with byte offsets.
    let text = from_csv.to_string();
    assert!(text.contains("5f0c1e2d-athena-result"), "{text}");

    // The same CSV under a directory (as `aws s3 sync` of the OutputLocation
    // leaves it, with its .metadata) is read too.
    let dir = d.path().join("output");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(&csv, dir.join("5f0c1e2d.csv")).expect("cp");
    std::fs::write(dir.join("5f0c1e2d.csv.metadata"), b"\x00").expect("w");
    let (code_dir, from_dir) = check_cli(&dir, &expect);
    assert_eq!(code_dir, code_json);
    let ids = |v: &[(String, String, bool)]| {
        v.iter().filter(|(i, _, _)| i != "trail.files.ignored").cloned().collect::<Vec<_>>()
    };
    assert_eq!(ids(&verdicts(&from_dir)), ids(&want));
}

#[test]
fn a_csv_cut_between_rows_loses_the_end_and_cannot_pass() {
    let d = tempfile::tempdir().expect("tmp");
    let logs = d.path().join("trail");
    let mut clean: Vec<Event> = misused()
        .into_iter()
        .filter(|e| e.event_name != "Decrypt" && e.event_name != "PutKeyPolicy")
        .collect();
    clean.sort_by_key(|e| e.event_time.clone());
    write_trail(&logs, &clean, 5);
    let expect = d.path().join("pcrs.json");
    let p = pcrs(1);
    std::fs::write(&expect, serde_json::json!({"0": p[0], "1": p[1], "2": p[2]}).to_string())
        .expect("w");
    let csv = d.path().join("r.csv");
    athena_csv(&logs, &csv);
    let (code, whole) = check_cli(&csv, &expect);
    assert_eq!(code, 0, "{whole:#}");
    // Rows are in time order: cutting whole rows off the end loses the
    // records after the window, and the coverage check says so.
    let text = std::fs::read_to_string(&csv).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 3].join("\n") + "\n";
    std::fs::write(&csv, cut).expect("w");
    let (code, v) = check_cli(&csv, &expect);
    assert_eq!(code, 1);
    let failing: Vec<String> =
        verdicts(&v).into_iter().filter(|(_, s, r)| s == "fail" && *r).map(|(i, _, _)| i).collect();
    assert_eq!(failing, ["trail.coverage.end"]);
}
