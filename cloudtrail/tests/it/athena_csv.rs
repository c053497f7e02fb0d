//! Athena's CSV result object: the vector (written by
//! `verifier/tests/support/athena_csv.py` from two JSON vectors) reads to
//! the same records as the JSON files; damaged CSV is an error with the
//! byte offset; a `.csv` in a directory tree is read.

use std::io::Write as _;

use cloudtrail::athena::CsvErrorKind;
use cloudtrail::read::{collect, Shape};
use cloudtrail::{Event, TrailErrorKind};

use crate::common::{read_all, read_all_bytes, vector};

/// The members the query does not select.
fn comparable(mut e: Event) -> Event {
    e.read_only = None;
    e.management_event = None;
    e.event_category = None;
    e
}

fn csv_vector() -> Vec<u8> {
    std::fs::read(vector("athena-query-results.csv")).expect("vector")
}

#[test]
fn the_athena_vector_reads_as_the_json_records() {
    let (r, csv) = read_all(&vector("athena-query-results.csv"));
    let s = r.expect("reads");
    assert_eq!((s.shape, s.records, s.gzip, s.more_pages), (Shape::AthenaCsv, 3, false, false));
    let mut json: Vec<Event> = Vec::new();
    for f in ["decrypt-nitro-base64.json", "aws-docs-createkey-putkeypolicy.json"] {
        let (r, evs) = read_all(&vector(f));
        r.expect("json vector");
        json.extend(evs.into_iter().map(|(_, e)| comparable(e)));
    }
    json.sort_by(|a, b| a.event_time.cmp(&b.event_time));
    let got: Vec<Event> = csv.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(got, json);
    // The first row starts right after the header line.
    let data = csv_vector();
    let header_end = data.iter().position(|b| *b == b'\n').expect("header") as u64 + 1;
    assert_eq!(csv[0].0, header_end);
    // What the audit reads: the recipient's measurements, the key, the policy.
    let dec = csv.iter().find(|(_, e)| e.event_name == "Decrypt").expect("decrypt");
    let rcp = dec.1.recipient().expect("recipient");
    assert_eq!(rcp.pcrs.len(), 5);
    assert!(rcp.undecodable.is_empty());
    let put = csv.iter().find(|(_, e)| e.event_name == "PutKeyPolicy").expect("put");
    assert!(put.1.policy_text().expect("policy").contains("key-default-1"));
    assert!(put
        .1
        .is_about("arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
    assert!(put.1.user_identity.arn.as_deref().is_some_and(|a| a.contains("assumed-role")));
    assert!(put.1.error_code.is_none(), "NULL is absent");
}

#[test]
fn gzip_crlf_and_a_byte_order_mark_read_the_same() {
    let data = csv_vector();
    let (_, want) = read_all_bytes(&data);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data).expect("gz");
    let (r, got) = read_all_bytes(&gz.finish().expect("gz"));
    assert!(r.expect("gzip").gzip);
    assert_eq!(got.len(), 3);
    assert_eq!(
        got.iter().map(|(_, e)| e).collect::<Vec<_>>(),
        want.iter().map(|(_, e)| e).collect::<Vec<_>>()
    );
    // CRLF between rows (newlines inside quoted JSON text stay as they are).
    let text = String::from_utf8(data.clone()).expect("utf8");
    let crlf = text.replace("\"\n\"", "\"\r\n\"").replace("\"\n", "\"\r\n");
    let mut bom = vec![0xef, 0xbb, 0xbf];
    bom.extend_from_slice(crlf.as_bytes());
    let (r, got) = read_all_bytes(&bom);
    assert_eq!(r.expect("crlf").records, 3);
    assert_eq!(
        got.iter().map(|(_, e)| e).collect::<Vec<_>>(),
        want.iter().map(|(_, e)| e).collect::<Vec<_>>()
    );
}

fn err_of(data: &[u8]) -> cloudtrail::TrailError {
    read_all_bytes(data).0.expect_err("must fail")
}

#[test]
fn truncation_inside_a_row_is_an_error_with_its_offset() {
    let data = csv_vector();
    // Cut inside the quoted JSON of the last row: the quote never closes.
    let cut = data.len() - 40;
    let e = err_of(&data[..cut]);
    assert_eq!(e.kind, TrailErrorKind::Csv(CsvErrorKind::Eof));
    assert_eq!(e.offset, Some(cut as u64));
    assert_eq!(e.records_before, 2);
    assert!(e.to_string().contains(&format!("mem at byte {cut}: Athena CSV:")), "{e}");
    // Cut right after a field of the last row: too few fields.
    let last_row = data[..data.len() - 1].iter().rposition(|b| *b == b'\n').expect("row") + 1;
    let after_field =
        last_row + data[last_row..].windows(3).position(|w| w == b"\",\"").expect("f") + 1;
    let e = err_of(&data[..after_field]);
    assert_eq!(e.kind, TrailErrorKind::Csv(CsvErrorKind::FieldCount { expected: 18, found: 1 }));
    assert_eq!(e.offset, Some(last_row as u64));
    assert_eq!(e.records_before, 2);
}

#[test]
fn malformed_csv_is_an_error_with_its_offset() {
    let head = "eventtime,eventsource,eventname,requestparameters\n";
    let ok = format!("{head}\"2026-01-01T00:00:00Z\",\"kms.amazonaws.com\",\"Decrypt\",\n");
    let (r, evs) = read_all_bytes(ok.as_bytes());
    assert_eq!(r.expect("minimal").records, 1);
    assert_eq!(evs[0].1.request_parameters, None);
    // A quote inside an unquoted field.
    let bad = format!("{head}2026-01-01T00:00:00Z,kms\"x,Decrypt,\n");
    let e = err_of(bad.as_bytes());
    assert!(matches!(e.kind, TrailErrorKind::Csv(CsvErrorKind::Unexpected { .. })), "{e}");
    assert_eq!(e.offset, Some((head.len() + "2026-01-01T00:00:00Z,kms".len()) as u64));
    // Text after a closing quote.
    let bad = format!("{head}\"2026-01-01T00:00:00Z\"x,kms,Decrypt,\n");
    let e = err_of(bad.as_bytes());
    assert_eq!(e.offset, Some((head.len() + 22) as u64), "{e}");
    // Too many fields.
    let bad = format!("{head}a,b,c,d,e\n");
    let e = err_of(bad.as_bytes());
    assert_eq!(e.kind, TrailErrorKind::Csv(CsvErrorKind::TooManyColumns), "{e}");
    // Not JSON where JSON text is selected: the row's offset.
    let bad =
        format!("{head}\"2026-01-01T00:00:00Z\",\"kms.amazonaws.com\",\"Decrypt\",\"{{keyId\"\n");
    let e = err_of(bad.as_bytes());
    assert!(
        matches!(&e.kind, TrailErrorKind::BadRecord(m) if m.contains("requestparameters")),
        "{e}"
    );
    assert_eq!(e.offset, Some(head.len() as u64));
    // A row without eventtime.
    let bad = format!("{head},\"kms.amazonaws.com\",\"Decrypt\",\n");
    assert!(matches!(err_of(bad.as_bytes()).kind, TrailErrorKind::BadRecord(_)));
    // A header that is not the CloudTrail table's, or repeats a column.
    for h in ["a,b,c\n", "eventtime,eventsource,eventname,EventTime\n"] {
        let e = err_of(h.as_bytes());
        assert!(matches!(e.kind, TrailErrorKind::Csv(CsvErrorKind::Header(_))), "{e}");
        assert_eq!(e.offset, Some(0));
    }
    // One row over the record bound.
    let big =
        format!("{head}\"2026-01-01T00:00:00Z\",\"kms\",\"Decrypt\",\"{}\"\n", "x".repeat(1 << 20));
    let e = err_of(big.as_bytes());
    assert_eq!(e.kind, TrailErrorKind::Csv(CsvErrorKind::TooLarge), "{e}");
    // A bare '\r'.
    let e = err_of(b"eventtime,eventsource,eventname\rx");
    assert!(matches!(e.kind, TrailErrorKind::Csv(CsvErrorKind::Unexpected { .. })), "{e}");
}

#[test]
fn athena_get_query_results_json_is_not_taken_for_records() {
    // The paginated JSON shape is not read: it is an error, never zero records.
    let page = br#"{"ResultSet":{"Rows":[{"Data":[{"VarCharValue":"eventtime"}]}],"ResultSetMetadata":{}},"NextToken":"x"}"#;
    let e = err_of(page);
    assert!(matches!(e.kind, TrailErrorKind::Scan(_)), "{e}");
}

#[test]
fn a_csv_under_a_directory_is_read_and_its_metadata_listed() {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::copy(vector("athena-query-results.csv"), d.path().join("0a1b-2c3d.csv")).expect("cp");
    std::fs::write(d.path().join("0a1b-2c3d.csv.metadata"), b"\x00\x01").expect("w");
    let inputs = collect(&[d.path().to_path_buf()]).expect("collect");
    assert_eq!(inputs.logs, vec![d.path().join("0a1b-2c3d.csv")]);
    assert_eq!(inputs.ignored, vec![d.path().join("0a1b-2c3d.csv.metadata")]);
}

#[test]
fn every_prefix_of_the_vector_reads_or_fails_with_an_offset_inside_it() {
    // No panic at any cut; an error's offset lies within the bytes given;
    // a read that succeeds holds only whole rows (at most the three).
    let data = csv_vector();
    for cut in 0..data.len() {
        let (r, evs) = read_all_bytes(&data[..cut]);
        match r {
            Ok(s) => assert!(s.records <= 3 && evs.len() as u64 == s.records, "cut {cut}"),
            Err(e) => assert!(e.offset.is_some_and(|o| o <= cut as u64), "cut {cut}: {e}"),
        }
        cloudtrail::fuzz_read_athena_csv(&data[..cut]);
    }
}
