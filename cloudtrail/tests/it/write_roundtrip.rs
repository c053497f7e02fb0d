//! The delivery writer's files read back as the records written.

use cloudtrail::write::DeliveryWriter;

use crate::common::{read_all, vector};

#[test]
fn written_files_read_back_identically_and_are_delivery_shaped() {
    let (_, evs) = read_all(&vector("aws-docs-createkey-putkeypolicy.json"));
    let records: Vec<_> = evs.into_iter().map(|(_, e)| e).collect();
    let d = tempfile::tempdir().expect("tmp");
    let mut w = DeliveryWriter::new(d.path(), "111122223333", "us-west-2");
    let p = w.write(&records).expect("write");
    let rel = p.strip_prefix(d.path()).expect("under root").display().to_string();
    assert!(
        rel.starts_with("AWSLogs/111122223333/CloudTrail/us-west-2/2020/03/04/111122223333_CloudTrail_us-west-2_20200304T2310Z_"),
        "{rel}"
    );
    assert!(rel.ends_with(".json.gz"));
    let (r, back) = read_all(&p);
    let s = r.expect("reads");
    assert!(s.gzip);
    let back: Vec<_> = back.into_iter().map(|(_, e)| e).collect();
    assert_eq!(back, records);
    assert!(w.write(&[]).is_err());
}
