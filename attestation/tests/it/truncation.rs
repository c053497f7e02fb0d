//! Every prefix of a real attestation document is rejected as truncated,
//! with a typed error and never a panic.

use attestation::{parse, ParseErrorKind};

#[test]
fn every_prefix_of_a_real_document_is_truncated() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testvectors/attestation");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("vector dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("cbor") {
            continue;
        }
        let doc = std::fs::read(&path).expect("vector");
        assert!(parse(&doc).is_ok(), "{} parses", path.display());
        for n in 0..doc.len() {
            match parse(&doc[..n]) {
                Err(e) => {
                    assert_eq!(e.kind, ParseErrorKind::Truncated, "{} prefix {n}", path.display())
                }
                Ok(_) => panic!("{} prefix {n} accepted", path.display()),
            }
        }
        seen += 1;
    }
    assert!(seen >= 3, "found {seen} vectors");
}
