//! Real Nitro documents (testvectors/attestation/): each verifies at its own
//! time, fails now, fails one second after the chain expires, and decodes to
//! exactly what its sidecar says. The two negatives fail for their reason.

use std::path::{Path, PathBuf};

use build_spec::pcr::Measurements;
use verifier::attestation::input::decode_document;
use verifier::attestation::time_fmt::parse_rfc3339_ms;
use verifier::attestation::{
    parse, verify, AttestationError, ChainError, Expectations, ParseErrorKind, Position, VerifyAt,
    VerifyOptions,
};
use verifier::report::Verdict;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/attestation")
}

struct Vector {
    name: String,
    bytes: Vec<u8>,
    expected: serde_json::Value,
}

fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut entries: Vec<_> =
        std::fs::read_dir(dir()).expect("vector dir").flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "cbor" && ext != "b64" {
            continue;
        }
        let raw = std::fs::read(&p).expect("read vector");
        let (bytes, _) = decode_document(&raw).expect("decodes");
        let side: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.with_extension("json")).expect("sidecar"))
                .expect("json");
        out.push(Vector {
            name: p.file_name().unwrap_or_default().to_string_lossy().into_owned(),
            bytes,
            expected: side["expected"].clone(),
        });
    }
    assert_eq!(out.len(), 9, "all nine real vectors are present");
    out
}

fn debug(v: &Vector) -> bool {
    v.expected["debug_mode_pcr0_1_2_all_zero"].as_bool().expect("debug flag")
}

fn opts_at(at: VerifyAt, allow_debug: bool) -> VerifyOptions {
    VerifyOptions { at, allow_debug, ..VerifyOptions::default() }
}

fn expected_pcrs(v: &Vector) -> Measurements {
    let mut m = Measurements::new();
    for (k, hexv) in v.expected["pcrs"].as_object().expect("pcrs") {
        let i: u8 = k.parse().expect("index");
        let b = hex::decode(hexv.as_str().expect("hex")).expect("hex");
        m.insert(i, b.try_into().expect("48 bytes"));
    }
    m
}

fn opt_field(v: &Vector, f: &str) -> Option<Vec<u8>> {
    let x = &v.expected[f];
    if x.is_null() {
        None
    } else {
        Some(hex::decode(x["hex"].as_str().expect("hex")).expect("hex"))
    }
}

#[test]
fn every_real_document_verifies_at_its_own_time_with_all_expectations() {
    for v in vectors() {
        let expect = Expectations {
            pcrs: Some(expected_pcrs(&v)),
            nonce: opt_field(&v, "nonce"),
            user_data: opt_field(&v, "user_data"),
            public_key: opt_field(&v, "public_key"),
            module_id_prefix: Some(v.expected["module_id"].as_str().expect("id")[..19].to_owned()),
        };
        let opts = VerifyOptions { expect, ..opts_at(VerifyAt::Document, debug(&v)) };
        let r = verify(&v.bytes, &opts);
        assert_eq!(r.verdict(), Verdict::Pass, "{}: {:#?}", v.name, r.errors);
        assert!(r.errors.is_empty(), "{}", v.name);
        let doc = r.doc.as_ref().expect("doc");
        assert_eq!(doc.module_id, v.expected["module_id"].as_str().expect("id"), "{}", v.name);
        assert_eq!(doc.timestamp, v.expected["timestamp_ms"].as_u64().expect("ts"), "{}", v.name);
        assert_eq!(doc.pcrs, expected_pcrs(&v), "{}", v.name);
        assert_eq!(
            doc.payload_map,
            v.expected["cose"]["payload_map_encoding"].as_str().expect("enc"),
            "{}",
            v.name
        );
        assert_eq!(doc.is_debug_mode(), debug(&v));
        assert_eq!(r.chain.len(), 5);
        assert_eq!(
            r.chain[0].subject.replace(", ", ","),
            v.expected["leaf"]["subject"].as_str().expect("s").to_owned().replace(", ", ","),
            "{}",
            v.name
        );
        // Five signature checks without a cache (4 links + COSE).
        assert_eq!(r.signatures_computed, 5);
    }
}

#[test]
fn debug_documents_fail_unless_allowed_and_say_so() {
    let mut n = 0;
    for v in vectors().into_iter().filter(debug) {
        n += 1;
        let r = verify(&v.bytes, &opts_at(VerifyAt::Document, false));
        assert_eq!(r.verdict(), Verdict::Fail);
        assert_eq!(r.errors, vec![AttestationError::DebugMode], "{}", v.name);
        let c = r.checks.0.iter().find(|c| c.id == "attestation.debug_mode").expect("check");
        assert!(c.detail.contains("allow-debug"), "{}", c.detail);
    }
    assert_eq!(n, 3);
}

#[test]
fn every_real_document_fails_now() {
    for v in vectors() {
        let r = verify(&v.bytes, &opts_at(VerifyAt::Now, true));
        assert_eq!(r.verdict(), Verdict::Fail, "{}", v.name);
        assert!(
            r.has_error(|e| matches!(
                e,
                AttestationError::Chain(ChainError::Expired { position: Position::Leaf, .. })
            )),
            "{}: {:?}",
            v.name,
            r.errors
        );
    }
}

#[test]
fn validity_bounds_are_inclusive_to_the_second() {
    for v in vectors() {
        let until = parse_rfc3339_ms(v.expected["chain_valid_until"].as_str().expect("until"))
            .expect("rfc3339");
        let from = parse_rfc3339_ms(v.expected["chain_valid_from"].as_str().expect("from"))
            .expect("rfc3339");
        for (at, ok) in [
            (until, true),
            (until + 999, true),
            (until + 1000, false),
            (from, true),
            (from - 1, false),
        ] {
            let r = verify(&v.bytes, &opts_at(VerifyAt::Instant(at), true));
            assert_eq!(r.verdict() == Verdict::Pass, ok, "{} at {at}: {:?}", v.name, r.errors);
        }
        let r = verify(&v.bytes, &opts_at(VerifyAt::Instant(until + 1000), true));
        assert!(r.has_error(|e| matches!(
            e,
            AttestationError::Chain(ChainError::Expired { position: Position::Leaf, .. })
        )));
        let r = verify(&v.bytes, &opts_at(VerifyAt::Instant(from - 1000), true));
        assert!(
            r.has_error(|e| matches!(e, AttestationError::Chain(ChainError::NotYetValid { .. })))
        );
    }
}

#[test]
fn high_s_signatures_are_accepted() {
    // 5 of the real signatures have s > n/2; all verify above. Make sure at
    // least one such document is in the set so the claim is tested.
    let half_n = hex::decode("7fffffffffffffffffffffffffffffffffffffffffffffffe3b1a6c0fa1b96efac0d06d9245853bd76760cb5666294b9").expect("hex");
    let high = vectors()
        .iter()
        .filter(|v| {
            let p = parse(&v.bytes).expect("parses");
            p.signature[48..] > half_n[..]
        })
        .count();
    assert!(high >= 1, "expected at least one high-S real signature, found {high}");
}

#[test]
fn negative_bad_signature_fails_on_the_signature_only() {
    let raw =
        std::fs::read(dir().join("negative/NEG_2024-07-23_us-east-1_eternis_bad-signature.b64"))
            .expect("read");
    let (bytes, _) = decode_document(&raw).expect("b64");
    let r = verify(&bytes, &opts_at(VerifyAt::Document, true));
    assert_eq!(r.verdict(), Verdict::Fail);
    assert_eq!(r.errors, vec![AttestationError::CoseSignature]);
}

#[test]
fn negative_synthetic_selfsigned_fails_on_the_unprotected_header() {
    let raw =
        std::fs::read(dir().join("negative/NEG_synthetic_selfsigned_blocky.b64")).expect("read");
    let (bytes, _) = decode_document(&raw).expect("b64");
    let r = verify(&bytes, &opts_at(VerifyAt::Document, true));
    assert_eq!(r.verdict(), Verdict::Fail);
    match r.errors.as_slice() {
        [AttestationError::Parse(e)] => assert!(
            matches!(e.kind, ParseErrorKind::WrongType { field: "unprotected header", .. }),
            "{e}"
        ),
        other => panic!("unexpected errors {other:?}"),
    }
}

#[test]
fn embedded_root_matches_the_shared_pem_and_the_pin() {
    let a = verifier::attestation::TrustAnchor::aws_nitro_root_g1();
    assert_eq!(a.sha256_hex(), verifier::attestation::AWS_ROOT_G1_SHA256);
    let pem = std::fs::read(dir().join("AWS_NitroEnclaves_Root-G1.pem")).expect("pem");
    let b = verifier::attestation::TrustAnchor::from_pem_or_der(&pem, "file").expect("anchor");
    assert_eq!(a.der, b.der);
}
