//! Malformed and truncated files: always an error naming the file and the
//! byte offset, never silently skipped.

use cloudtrail::scan::{ScanErrorKind, MAX_RECORD_BYTES};
use cloudtrail::TrailErrorKind;

use crate::common::{read_all, read_all_bytes, vector};

#[test]
fn truncated_gzip_is_reported_with_the_file() {
    let p = vector("truncated.json.gz");
    let (r, _) = read_all(&p);
    let e = r.expect_err("truncated");
    assert_eq!(e.file, p.display().to_string());
    assert!(e.gzip);
    assert!(e.offset.is_some());
    let msg = e.to_string();
    assert!(msg.contains("truncated.json.gz at byte"), "{msg}");
    assert!(msg.contains("decompressed"), "{msg}");
}

#[test]
fn truncated_plain_json_names_the_offset_and_the_records_before() {
    let p = vector("truncated-plain.json");
    let len = std::fs::metadata(&p).expect("meta").len();
    let (r, evs) = read_all(&p);
    let e = r.expect_err("truncated");
    assert_eq!(e.offset, Some(len), "the end of the data");
    assert!(matches!(e.kind, TrailErrorKind::Scan(ScanErrorKind::Eof(_))), "{e}");
    assert_eq!(e.records_before, 1);
    assert_eq!(evs.len(), 1, "the record before the damage was read");
}

#[test]
fn a_record_without_time_is_a_bad_record_at_its_offset() {
    let p = vector("record-without-time.json");
    let body = std::fs::read(&p).expect("read");
    let (r, _) = read_all(&p);
    let e = r.expect_err("bad record");
    assert!(matches!(e.kind, TrailErrorKind::BadRecord(_)), "{e}");
    let off = e.offset.expect("offset") as usize;
    assert_eq!(body[off], b'{');
    assert!(off > 10);
}

#[test]
fn structural_errors() {
    for (data, want) in [
        (&b"[]"[..], "'{'"),
        (b"{\"Foo\":1}", "no member"),
        (b"{\"Records\":{}}", "'['"),
        (
            b"{\"Records\":[{\"eventTime\":\"2020-01-01T00:00:00Z\",\"eventSource\":\"s\",\"eventName\":\"n\"} 2]}",
            "',' or ']'",
        ),
        (b"{\"Records\":[]} x", "after the end"),
        (b"{\"Records\":[{\"a\":]]}", "matching bracket"),
        (b"{\"Records\":[\"a\nb\"]}", "control character"),
        (b"{\"Records\":[{}]}", "not a CloudTrail record"),
        (b"{\"Records\":[{\"eventTime\":\"yesterday\",\"eventSource\":\"s\",\"eventName\":\"n\"}]}", "not an RFC 3339"),
        (b"", "ends inside"),
    ] {
        let (r, _) = read_all_bytes(data);
        let e = r.expect_err("must fail");
        assert!(e.to_string().contains(want), "{:?}: {e}", String::from_utf8_lossy(data));
    }
}

#[test]
fn nesting_and_size_are_bounded() {
    let deep = format!("{{\"Records\":[{}{}]}}", "[".repeat(200), "]".repeat(200));
    let (r, _) = read_all_bytes(deep.as_bytes());
    assert!(matches!(r.expect_err("deep").kind, TrailErrorKind::Scan(ScanErrorKind::TooDeep)));
    let big = format!("{{\"Records\":[\"{}\"]}}", "a".repeat(MAX_RECORD_BYTES + 1));
    let (r, _) = read_all_bytes(big.as_bytes());
    assert!(matches!(r.expect_err("big").kind, TrailErrorKind::Scan(ScanErrorKind::TooLarge)));
    // A large member that is skipped (not a record) costs no memory and is fine.
    let skipped = format!("{{\"Other\":\"{}\",\"Records\":[]}}", "a".repeat(MAX_RECORD_BYTES + 1));
    let (r, _) = read_all_bytes(skipped.as_bytes());
    assert_eq!(r.expect("skips").records, 0);
}

#[test]
fn missing_file_is_an_open_error() {
    let (r, _) = read_all(&vector("does-not-exist.json"));
    assert!(matches!(r.expect_err("missing").kind, TrailErrorKind::Open(_)));
}
