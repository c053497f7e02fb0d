//! Tamper matrix: starting from a valid document minted by the test CA, each
//! case changes exactly one thing and must be rejected with its own specific
//! error variant. Controls (tag 18, high-S, indefinite map, the untouched
//! document) must pass, so the matrix cannot pass by rejecting everything.

use attestation::cbor::Item;
use attestation::cert::{CertSpec, OID_ECDSA_SHA256};
use attestation::cose::{sign1, Sign1, PROTECTED_ES384};
use attestation::testca::{DocSpec, Level, MintedDoc, TestCa, TestCaConfig};
use attestation::MapStyle;
use build_spec::pcr::Measurements;
use verifier::attestation::{
    verify, AttestationError as E, AttestationReport, ChainError as C, Expectations,
    ParseErrorKind as K, Position as P, TrustAnchor, VerifyAt, VerifyOptions,
};
use verifier::report::Verdict;

const T0: u64 = 1_760_000_000;
const TS_MS: u64 = (T0 + 7200) * 1000 + 500;
const NONCE: &[u8] = b"challenge-0001";
/// SubjectPublicKeyInfo of a P-256 key (private scalar 12345), for the wrong-curve case.
const P256_SPKI: &str = "3059301306072a8648ce3d020106082a8648ce3d0301070342000426efcebd0ee9e34a669187e18b3a9122b2f733945b649cc9f9f921e9f9dad81290238bde9cc7bb330d150c67704dd25ae7055205744b6f31bf4070745872d0e6";
/// P-384 group order n, big-endian.
const N384: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";

fn pcrs() -> Measurements {
    let mut m = Measurements::new();
    for i in [0u8, 1, 2, 3, 4, 8] {
        m.insert(i, [0x10 + i; 48]);
    }
    m
}

fn spec() -> DocSpec {
    let mut s = DocSpec::new(TS_MS, pcrs());
    s.nonce = Some(NONCE.to_vec());
    s.user_data = Some(b"user data".to_vec());
    s.public_key = Some(b"public key".to_vec());
    s
}

fn ca() -> TestCa {
    TestCa::generate(&TestCaConfig::starting_at(T0)).expect("ca")
}

fn opts(ca: &TestCa) -> VerifyOptions {
    VerifyOptions {
        roots: vec![TrustAnchor::from_der(ca.root_der().to_vec(), "test root").expect("root")],
        at: VerifyAt::Document,
        expect: Expectations {
            pcrs: Some(pcrs()),
            nonce: Some(NONCE.to_vec()),
            user_data: Some(b"user data".to_vec()),
            public_key: Some(b"public key".to_vec()),
            module_id_prefix: Some("i-0123456789abcdef0-enc".into()),
        },
        ..VerifyOptions::default()
    }
}

/// Re-signs an edited payload item with the document's own leaf key, so only
/// the edit itself can be the reason for rejection.
fn resign(m: &MintedDoc, edit: impl FnOnce(&mut Item)) -> Vec<u8> {
    let mut item = m.doc.to_item(MapStyle::Definite);
    edit(&mut item);
    sign1(&item.to_vec(), &m.leaf_key)
}

fn envelope(m: &MintedDoc, edit: impl FnOnce(&mut Sign1)) -> Vec<u8> {
    let mut s = Sign1::sign(&m.doc.encode(MapStyle::Definite), &m.leaf_key);
    edit(&mut s);
    s.to_vec()
}

fn parse_kind(r: &AttestationReport) -> Option<&K> {
    r.errors.iter().find_map(|e| match e {
        E::Parse(p) => Some(&p.kind),
        _ => None,
    })
}

fn pcr_map(m: &mut Item) -> &mut Vec<(Item, Item)> {
    m.map_get_mut("pcrs").and_then(Item::map_pairs_mut).expect("pcrs map")
}

type Matcher = Box<dyn Fn(&AttestationReport) -> bool>;

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    opts: VerifyOptions,
    expect: Matcher,
}

fn parse_case(name: &'static str, bytes: Vec<u8>, o: &VerifyOptions, f: fn(&K) -> bool) -> Case {
    Case {
        name,
        bytes,
        opts: o.clone(),
        expect: Box::new(move |r| parse_kind(r).is_some_and(f) && r.errors.len() == 1),
    }
}

fn err_case(name: &'static str, bytes: Vec<u8>, o: VerifyOptions, f: fn(&E) -> bool) -> Case {
    Case { name, bytes, opts: o, expect: Box::new(move |r| r.errors.iter().any(f)) }
}

fn only_case(name: &'static str, bytes: Vec<u8>, o: VerifyOptions, f: fn(&E) -> bool) -> Case {
    Case {
        name,
        bytes,
        opts: o,
        expect: Box::new(move |r| r.errors.len() == 1 && r.errors.iter().all(f)),
    }
}

/// A CA where one level was re-issued by `edit`, and a document from it.
fn chain_case(
    name: &'static str,
    level: Level,
    edit: fn(&mut CertSpec),
    f: fn(&E) -> bool,
) -> Case {
    let mut ca = ca();
    ca.reissue(level, edit).expect("reissue");
    let bytes = ca.mint(&spec()).expect("mint");
    err_case(name, bytes, opts(&ca), f)
}

fn leaf_case(name: &'static str, edit: fn(&mut CertSpec), f: fn(&E) -> bool) -> Case {
    let ca = ca();
    let bytes = ca.mint_parts_with(&spec(), edit).expect("mint").sign();
    err_case(name, bytes, opts(&ca), f)
}

type Control = (&'static str, Vec<u8>, VerifyOptions);

fn cases() -> (Vec<Case>, Vec<Control>) {
    let ca = ca();
    let o = opts(&ca);
    let m = ca.mint_parts(&spec()).expect("mint");
    let good = m.sign();
    let mut v: Vec<Case> = Vec::new();

    // --- Envelope (COSE_Sign1) ---
    v.push(parse_case("tag_17", envelope(&m, |s| s.tag = Some(17)), &o, |k| {
        matches!(k, K::UnexpectedTag { tag: 17 })
    }));
    v.push(parse_case("envelope_not_array", Item::Map(vec![]).to_vec(), &o, |k| {
        matches!(k, K::WrongType { field: "COSE_Sign1", .. })
    }));
    let three = Item::Array(vec![
        Item::bytes(&PROTECTED_ES384),
        Item::Map(vec![]),
        Item::bytes(&m.doc.encode(MapStyle::Definite)),
    ])
    .to_vec();
    v.push(parse_case("envelope_3_items", three, &o, |k| {
        matches!(k, K::EnvelopeLength { found: 3 })
    }));
    let mut five = Sign1::sign(&m.doc.encode(MapStyle::Definite), &m.leaf_key);
    five.signature = Item::Raw({
        let mut b = Item::Bytes(vec![1; 96]).to_vec();
        b.push(0xf6);
        b
    });
    let mut five = five.to_vec();
    five[0] = 0x85;
    v.push(parse_case("envelope_5_items", five, &o, |k| {
        matches!(k, K::EnvelopeLength { found: 5 })
    }));
    v.push(parse_case(
        "protected_alg_as_text",
        envelope(&m, |s| {
            s.protected =
                Item::Bytes(Item::Map(vec![(Item::Uint(1), Item::text("ES384"))]).to_vec())
        }),
        &o,
        |k| matches!(k, K::ProtectedHeader { .. }),
    ));
    v.push(parse_case(
        "protected_alg_es256",
        envelope(&m, |s| {
            s.protected = Item::Bytes(Item::Map(vec![(Item::Uint(1), Item::Nint(6))]).to_vec())
        }),
        &o,
        |k| matches!(k, K::ProtectedHeader { .. }),
    ));
    v.push(parse_case(
        "protected_extra_label",
        envelope(&m, |s| {
            s.protected = Item::Bytes(
                Item::Map(vec![
                    (Item::Uint(1), Item::Nint(34)),
                    (Item::Uint(4), Item::bytes(b"kid")),
                ])
                .to_vec(),
            )
        }),
        &o,
        |k| matches!(k, K::ProtectedHeader { .. }),
    ));
    v.push(parse_case(
        "protected_empty",
        envelope(&m, |s| s.protected = Item::Bytes(vec![])),
        &o,
        |k| matches!(k, K::ProtectedHeader { .. }),
    ));
    v.push(parse_case(
        "protected_trailing_byte",
        envelope(&m, |s| s.protected = Item::Bytes(vec![0xa1, 0x01, 0x38, 0x22, 0x00])),
        &o,
        |k| matches!(k, K::TrailingBytes { what: "protected header", .. }),
    ));
    v.push(parse_case(
        "unprotected_not_empty",
        envelope(&m, |s| s.unprotected = Item::Map(vec![(Item::Uint(4), Item::bytes(b"kid"))])),
        &o,
        |k| matches!(k, K::UnprotectedNotEmpty { entries: 1 }),
    ));
    v.push(parse_case("unprotected_null", envelope(&m, |s| s.unprotected = Item::Null), &o, |k| {
        matches!(k, K::WrongType { field: "unprotected header", .. })
    }));
    v.push(parse_case(
        "signature_95_bytes",
        envelope(&m, |s| {
            if let Item::Bytes(b) = &mut s.signature {
                b.pop();
            }
        }),
        &o,
        |k| matches!(k, K::SignatureLength { len: 95 }),
    ));
    let der_sig = {
        let sig = p384::ecdsa::Signature::from_slice(
            &envelope(&m, |_| {})[envelope(&m, |_| {}).len() - 96..],
        )
        .expect("sig");
        sig.to_der().as_bytes().to_vec()
    };
    v.push(parse_case(
        "signature_der_encoded",
        envelope(&m, |s| s.signature = Item::Bytes(der_sig.clone())),
        &o,
        |k| matches!(k, K::SignatureLength { .. }),
    ));
    v.push(parse_case(
        "signature_r_zero",
        envelope(&m, |s| {
            if let Item::Bytes(b) = &mut s.signature {
                b[..48].fill(0);
            }
        }),
        &o,
        |k| matches!(k, K::SignatureScalar),
    ));
    v.push(parse_case(
        "signature_s_equals_n",
        envelope(&m, |s| {
            if let Item::Bytes(b) = &mut s.signature {
                b[48..].copy_from_slice(&hex::decode(N384).expect("n"));
            }
        }),
        &o,
        |k| matches!(k, K::SignatureScalar),
    ));
    v.push(only_case(
        "signature_bit_flip",
        envelope(&m, |s| {
            if let Item::Bytes(b) = &mut s.signature {
                b[10] ^= 1;
            }
        }),
        o.clone(),
        |e| matches!(e, E::CoseSignature),
    ));
    v.push(parse_case("payload_null", envelope(&m, |s| s.payload = Item::Null), &o, |k| {
        matches!(k, K::PayloadEmpty)
    }));
    v.push(parse_case(
        "payload_empty",
        envelope(&m, |s| s.payload = Item::Bytes(vec![])),
        &o,
        |k| matches!(k, K::PayloadEmpty),
    ));
    v.push(parse_case(
        "payload_text_not_bytes",
        envelope(&m, |s| s.payload = Item::text("payload")),
        &o,
        |k| matches!(k, K::WrongType { field: "payload", .. }),
    ));
    let mut trailing = good.clone();
    trailing.push(0x00);
    v.push(parse_case("trailing_byte_after_envelope", trailing, &o, |k| {
        matches!(k, K::TrailingBytes { what: "COSE_Sign1", count: 1 })
    }));
    v.push(parse_case("truncated_by_one_byte", good[..good.len() - 1].to_vec(), &o, |k| {
        matches!(k, K::Truncated)
    }));
    let mut big = good.clone();
    big.resize(16 * 1024 + 1, 0);
    v.push(parse_case("oversized_input", big, &o, |k| matches!(k, K::TooLarge { .. })));

    // --- Payload encoding (re-signed: only the encoding is wrong) ---
    let mut p = m.doc.encode(MapStyle::Definite);
    p.push(0x00);
    v.push(parse_case("payload_trailing_byte", sign1(&p, &m.leaf_key), &o, |k| {
        matches!(k, K::TrailingBytes { what: "payload", .. })
    }));
    v.push(parse_case(
        "payload_not_a_map",
        sign1(&Item::Array(vec![]).to_vec(), &m.leaf_key),
        &o,
        |k| matches!(k, K::WrongType { field: "payload", .. }),
    ));
    v.push(parse_case(
        "payload_reserved_head",
        resign(&m, |i| *i.map_get_mut("user_data").expect("f") = Item::Raw(vec![0x5c])),
        &o,
        |k| matches!(k, K::InvalidHead { byte: 0x5c }),
    ));
    v.push(parse_case(
        "payload_stray_break",
        resign(&m, |i| *i.map_get_mut("user_data").expect("f") = Item::Raw(vec![0xff])),
        &o,
        |k| matches!(k, K::UnexpectedBreak),
    ));
    v.push(parse_case(
        "indefinite_string_bad_chunk",
        resign(&m, |i| {
            *i.map_get_mut("user_data").expect("f") = Item::Raw(vec![0x5f, 0x61, b'a', 0xff])
        }),
        &o,
        |k| matches!(k, K::BadChunk),
    ));
    v.push(parse_case(
        "duplicate_key",
        resign(&m, |i| i.map_pairs_mut().expect("map").push((Item::text("nonce"), Item::Null))),
        &o,
        |k| matches!(k, K::DuplicateKey { key } if key == "nonce"),
    ));
    v.push(parse_case(
        "unknown_key",
        resign(&m, |i| {
            i.map_pairs_mut().expect("map").push((Item::text("debug"), Item::Bool(false)))
        }),
        &o,
        |k| matches!(k, K::UnknownKey { key } if key == "debug"),
    ));
    v.push(parse_case(
        "integer_key",
        resign(&m, |i| i.map_pairs_mut().expect("map").push((Item::Uint(1), Item::Null))),
        &o,
        |k| matches!(k, K::NonTextKey { .. }),
    ));
    v.push(parse_case(
        "missing_nonce_key",
        resign(&m, |i| i.map_pairs_mut().expect("map").retain(|(k, _)| *k != Item::text("nonce"))),
        &o,
        |k| matches!(k, K::MissingField { field: "nonce" }),
    ));
    v.push(parse_case(
        "missing_cabundle",
        resign(&m, |i| {
            i.map_pairs_mut().expect("map").retain(|(k, _)| *k != Item::text("cabundle"))
        }),
        &o,
        |k| matches!(k, K::MissingField { field: "cabundle" }),
    ));
    v.push(parse_case(
        "null_module_id",
        resign(&m, |i| *i.map_get_mut("module_id").expect("f") = Item::Null),
        &o,
        |k| matches!(k, K::NullField { field: "module_id" }),
    ));
    v.push(parse_case(
        "null_certificate",
        resign(&m, |i| *i.map_get_mut("certificate").expect("f") = Item::Null),
        &o,
        |k| matches!(k, K::NullField { field: "certificate" }),
    ));
    v.push(parse_case(
        "empty_module_id",
        resign(&m, |i| *i.map_get_mut("module_id").expect("f") = Item::text("")),
        &o,
        |k| matches!(k, K::EmptyModuleId),
    ));
    v.push(parse_case(
        "module_id_not_utf8",
        resign(&m, |i| *i.map_get_mut("module_id").expect("f") = Item::Raw(vec![0x62, 0xc3, 0x28])),
        &o,
        |k| matches!(k, K::InvalidUtf8 { field: "module_id" }),
    ));
    v.push(parse_case(
        "digest_sha256",
        resign(&m, |i| *i.map_get_mut("digest").expect("f") = Item::text("SHA256")),
        &o,
        |k| matches!(k, K::Digest { found } if found == "SHA256"),
    ));
    v.push(parse_case(
        "timestamp_zero",
        resign(&m, |i| *i.map_get_mut("timestamp").expect("f") = Item::Uint(0)),
        &o,
        |k| matches!(k, K::TimestampZero),
    ));
    v.push(parse_case(
        "timestamp_as_text",
        resign(&m, |i| *i.map_get_mut("timestamp").expect("f") = Item::text("1700000000000")),
        &o,
        |k| matches!(k, K::WrongType { field: "timestamp", .. }),
    ));
    v.push(parse_case(
        "pcrs_empty",
        resign(&m, |i| *i.map_get_mut("pcrs").expect("f") = Item::Map(vec![])),
        &o,
        |k| matches!(k, K::PcrCount { count: 0 }),
    ));
    v.push(parse_case(
        "pcr_index_32",
        resign(&m, |i| pcr_map(i).push((Item::Uint(32), Item::Bytes(vec![0; 48])))),
        &o,
        |k| matches!(k, K::PcrIndex { index: 32 }),
    ));
    v.push(parse_case(
        "pcr_32_bytes",
        resign(&m, |i| pcr_map(i)[0].1 = Item::Bytes(vec![0; 32])),
        &o,
        |k| matches!(k, K::PcrLength { index: 0, len: 32 }),
    ));
    v.push(parse_case(
        "pcr_duplicate_index",
        resign(&m, |i| pcr_map(i).push((Item::Uint(0), Item::Bytes(vec![0; 48])))),
        &o,
        |k| matches!(k, K::DuplicateKey { key } if key == "PCR0"),
    ));
    v.push(parse_case(
        "pcr_negative_index",
        resign(&m, |i| pcr_map(i).push((Item::Nint(0), Item::Bytes(vec![0; 48])))),
        &o,
        |k| matches!(k, K::WrongType { field: "PCR index", .. }),
    ));
    v.push(parse_case(
        "cabundle_empty",
        resign(&m, |i| *i.map_get_mut("cabundle").expect("f") = Item::Array(vec![])),
        &o,
        |k| matches!(k, K::CabundleCount { count: 0, .. }),
    ));
    v.push(parse_case(
        "certificate_1025_bytes",
        resign(&m, |i| *i.map_get_mut("certificate").expect("f") = Item::Bytes(vec![0x30; 1025])),
        &o,
        |k| matches!(k, K::FieldTooLong { field: "certificate", .. }),
    ));
    v.push(parse_case(
        "certificate_empty",
        resign(&m, |i| *i.map_get_mut("certificate").expect("f") = Item::Bytes(vec![])),
        &o,
        |k| matches!(k, K::EmptyCertificate { field: "certificate" }),
    ));
    v.push(parse_case(
        "user_data_1025_bytes",
        resign(&m, |i| *i.map_get_mut("user_data").expect("f") = Item::Bytes(vec![7; 1025])),
        &o,
        |k| matches!(k, K::FieldTooLong { field: "user_data", .. }),
    ));
    v.push(parse_case(
        "nonce_wrong_type",
        resign(&m, |i| *i.map_get_mut("nonce").expect("f") = Item::text("nonce")),
        &o,
        |k| matches!(k, K::WrongType { field: "nonce", .. }),
    ));

    // --- Signed content changed after signing ---
    let mut edited = m.doc.clone();
    edited.user_data = Some(b"user dat4".to_vec());
    let forged = Sign1 {
        payload: Item::Bytes(edited.encode(MapStyle::Definite)),
        ..Sign1::sign(&m.doc.encode(MapStyle::Definite), &m.leaf_key)
    };
    let mut o_ud = o.clone();
    o_ud.expect.user_data = Some(b"user dat4".to_vec());
    v.push(only_case("payload_field_changed_after_signing", forged.to_vec(), o_ud, |e| {
        matches!(e, E::CoseSignature)
    }));
    let reencoded = Sign1 {
        payload: Item::Bytes(m.doc.encode(MapStyle::Indefinite)),
        ..Sign1::sign(&m.doc.encode(MapStyle::Definite), &m.leaf_key)
    };
    v.push(only_case("payload_reencoded_indefinite", reencoded.to_vec(), o.clone(), |e| {
        matches!(e, E::CoseSignature)
    }));

    // --- Chain ---
    let other = self::ca();
    v.push(err_case("wrong_root", good.clone(), opts(&other), |e| {
        matches!(e, E::Chain(C::UntrustedRoot { .. }))
    }));
    v.push(err_case(
        "aws_root_only",
        good.clone(),
        VerifyOptions { roots: vec![TrustAnchor::aws_nitro_root_g1()], ..o.clone() },
        |e| matches!(e, E::Chain(C::UntrustedRoot { .. })),
    ));
    v.push(err_case(
        "swapped_cabundle",
        resign(&m, |i| {
            if let Some(Item::Array(b)) = i.map_get_mut("cabundle") {
                b.swap(1, 2);
            }
        }),
        o.clone(),
        |e| matches!(e, E::Chain(C::IssuerMismatch { .. })),
    ));
    let foreign = other.mint_parts(&spec()).expect("mint");
    let mut grafted = foreign.doc.clone();
    grafted.cabundle = ca.cabundle();
    let grafted = sign1(&grafted.encode(MapStyle::Definite), &foreign.leaf_key);
    v.push(err_case("leaf_signed_by_another_instance_key", grafted, o.clone(), |e| {
        matches!(e, E::Chain(C::BadSignature { position: P::Leaf }))
    }));
    // The document carries the old root bytes; the anchor is the same key
    // re-issued (different serial): byte equality, not key equality, is required.
    let mut ca2 = self::ca();
    let doc_old_root = ca2.mint(&spec()).expect("mint");
    ca2.reissue(Level::Root, |s| s.serial = vec![0x44]).expect("reissue");
    let o_root = opts(&ca2);
    v.push(err_case("root_same_key_different_bytes", doc_old_root, o_root, |e| {
        matches!(e, E::Chain(C::UntrustedRoot { .. }))
    }));
    v.push(chain_case(
        "expired_zonal",
        Level::Zonal,
        |s| s.not_after = T0 + 3600,
        |e| matches!(e, E::Chain(C::Expired { position: P::Bundle(2), .. })),
    ));
    v.push(chain_case(
        "regional_not_yet_valid",
        Level::Regional,
        |s| s.not_before = T0 + 3 * 3600,
        |e| matches!(e, E::Chain(C::NotYetValid { position: P::Bundle(1), .. })),
    ));
    v.push(chain_case(
        "expired_root",
        Level::Root,
        |s| s.not_after = T0 + 60,
        |e| matches!(e, E::Chain(C::Expired { position: P::Bundle(0), .. })),
    ));
    v.push(chain_case(
        "zonal_without_key_cert_sign",
        Level::Zonal,
        |s| {
            if let Some(ku) = &mut s.key_usage {
                ku.key_cert_sign = false;
            }
        },
        |e| matches!(e, E::Chain(C::KeyUsage { position: P::Bundle(2), missing: "keyCertSign" })),
    ));
    v.push(chain_case(
        "instance_not_ca",
        Level::Instance,
        |s| {
            if let Some(bc) = &mut s.basic_constraints {
                bc.ca = false;
                bc.path_len = None;
            }
        },
        |e| matches!(e, E::Chain(C::NotCa { position: P::Bundle(3), .. })),
    ));
    v.push(chain_case(
        "instance_no_basic_constraints",
        Level::Instance,
        |s| s.basic_constraints = None,
        |e| matches!(e, E::Chain(C::NotCa { position: P::Bundle(3), found: "absent" })),
    ));
    v.push(chain_case(
        "regional_bc_not_critical",
        Level::Regional,
        |s| {
            if let Some(bc) = &mut s.basic_constraints {
                bc.critical = false;
            }
        },
        |e| matches!(e, E::Chain(C::BasicConstraintsNotCritical { position: P::Bundle(1) })),
    ));
    v.push(chain_case(
        "zonal_path_len_0",
        Level::Zonal,
        |s| {
            if let Some(bc) = &mut s.basic_constraints {
                bc.path_len = Some(0);
            }
        },
        |e| matches!(e, E::Chain(C::PathLength { position: P::Bundle(2), path_len: 0, below: 1 })),
    ));
    v.push(chain_case(
        "regional_sha256_signature",
        Level::Regional,
        |s| {
            s.tbs_signature_alg = OID_ECDSA_SHA256;
            s.outer_signature_alg = OID_ECDSA_SHA256;
        },
        |e| matches!(e, E::Chain(C::SignatureAlgorithm { position: P::Bundle(1), .. })),
    ));
    v.push(chain_case(
        "zonal_subject_renamed",
        Level::Zonal,
        |s| s.subject = "CN=renamed.zonal,O=proofpack test CA,OU=TEST ONLY,C=US".into(),
        |e| matches!(e, E::Chain(C::IssuerMismatch { position: P::Bundle(3) })),
    ));
    v.push(leaf_case(
        "expired_leaf",
        |s| s.not_after = s.not_before + 1,
        |e| matches!(e, E::Chain(C::Expired { position: P::Leaf, .. })),
    ));
    v.push(leaf_case(
        "leaf_without_digital_signature",
        |s| {
            if let Some(ku) = &mut s.key_usage {
                ku.digital_signature = false;
            }
        },
        |e| matches!(e, E::Chain(C::KeyUsage { position: P::Leaf, missing: "digitalSignature" })),
    ));
    v.push(leaf_case(
        "leaf_is_ca",
        |s| {
            if let Some(bc) = &mut s.basic_constraints {
                bc.ca = true;
            }
        },
        |e| matches!(e, E::Chain(C::LeafIsCa)),
    ));
    v.push(leaf_case(
        "leaf_tbs_outer_alg_mismatch",
        |s| s.tbs_signature_alg = OID_ECDSA_SHA256,
        |e| matches!(e, E::Chain(C::AlgorithmMismatch { position: P::Leaf })),
    ));
    v.push(leaf_case(
        "leaf_unknown_critical_extension",
        |s| {
            s.extra_extensions.push((
                "1.3.6.1.4.1.99999.1".parse().expect("oid"),
                true,
                vec![0x05, 0x00],
            ))
        },
        |e| matches!(e, E::Chain(C::UnknownCriticalExtension { position: P::Leaf, .. })),
    ));
    v.push(leaf_case(
        "leaf_p256_key",
        |s| s.spki_der = hex::decode(P256_SPKI).expect("spki"),
        |e| matches!(e, E::Chain(C::NotP384 { position: P::Leaf })),
    ));
    v.push(err_case(
        "leaf_not_der",
        resign(&m, |i| {
            *i.map_get_mut("certificate").expect("f") =
                Item::Bytes(vec![0x30, 0x03, 0x02, 0x01, 0x01, 0x00])
        }),
        o.clone(),
        |e| matches!(e, E::Chain(C::Decode { position: P::Leaf, .. })),
    ));

    // --- Time ---
    let mut s_old = spec();
    s_old.leaf_age = 4 * 3600; // leaf valid [ts-4h, ts-1h]
    let outside = ca.mint(&s_old).expect("mint");
    let o_mid =
        VerifyOptions { at: VerifyAt::Instant((TS_MS - 2 * 3600 * 1000) as i64), ..o.clone() };
    v.push(only_case("timestamp_outside_leaf_validity", outside, o_mid, |e| {
        matches!(e, E::TimestampOutsideLeaf { .. })
    }));
    v.push(only_case(
        "too_old",
        good.clone(),
        VerifyOptions {
            max_age: Some(std::time::Duration::from_secs(300)),
            now_ms: Some(TS_MS as i64 + 301_000),
            ..o.clone()
        },
        |e| matches!(e, E::TooOld { .. }),
    ));
    v.push(only_case(
        "from_the_future",
        good.clone(),
        VerifyOptions {
            max_age: Some(std::time::Duration::from_secs(300)),
            now_ms: Some(TS_MS as i64 - 120_000),
            ..o.clone()
        },
        |e| matches!(e, E::FromFuture { .. }),
    ));
    v.push(only_case(
        "verified_now_after_expiry",
        good.clone(),
        VerifyOptions {
            at: VerifyAt::Now,
            now_ms: Some(TS_MS as i64 + 4 * 3600 * 1000),
            ..o.clone()
        },
        |e| matches!(e, E::Chain(C::Expired { position: P::Leaf, .. })),
    ));

    // --- Expectations ---
    let mut wrong_pcr = pcrs();
    wrong_pcr.insert(1, [0xee; 48]);
    v.push(only_case(
        "pcr1_mismatch",
        good.clone(),
        VerifyOptions {
            expect: Expectations { pcrs: Some(wrong_pcr), ..o.expect.clone() },
            ..o.clone()
        },
        |e| matches!(e, E::PcrMismatch { index: 1 }),
    ));
    let mut extra_pcr = pcrs();
    extra_pcr.insert(20, [0x01; 48]);
    v.push(only_case(
        "pcr20_missing",
        good.clone(),
        VerifyOptions {
            expect: Expectations { pcrs: Some(extra_pcr), ..o.expect.clone() },
            ..o.clone()
        },
        |e| matches!(e, E::PcrMissing { index: 20 }),
    ));
    v.push(only_case(
        "nonce_mismatch",
        good.clone(),
        VerifyOptions {
            expect: Expectations { nonce: Some(b"challenge-0002".to_vec()), ..o.expect.clone() },
            ..o.clone()
        },
        |e| matches!(e, E::NonceMismatch),
    ));
    let mut no_nonce = spec();
    no_nonce.nonce = None;
    v.push(only_case("nonce_absent", ca.mint(&no_nonce).expect("mint"), o.clone(), |e| {
        matches!(e, E::NonceMismatch)
    }));
    v.push(only_case(
        "user_data_mismatch",
        good.clone(),
        VerifyOptions {
            expect: Expectations { user_data: Some(b"other".to_vec()), ..o.expect.clone() },
            ..o.clone()
        },
        |e| matches!(e, E::UserDataMismatch),
    ));
    v.push(only_case(
        "public_key_mismatch",
        good.clone(),
        VerifyOptions {
            expect: Expectations { public_key: Some(b"public kez".to_vec()), ..o.expect.clone() },
            ..o.clone()
        },
        |e| matches!(e, E::PublicKeyMismatch),
    ));
    v.push(only_case(
        "module_id_prefix_mismatch",
        good.clone(),
        VerifyOptions {
            expect: Expectations {
                module_id_prefix: Some("i-0fffffffffffffff".into()),
                ..o.expect.clone()
            },
            ..o.clone()
        },
        |e| matches!(e, E::ModuleIdMismatch),
    ));
    let mut debug = spec();
    debug.pcrs = Measurements::new();
    v.push(only_case(
        "debug_mode",
        ca.mint(&debug).expect("mint"),
        VerifyOptions { expect: Expectations { pcrs: None, ..o.expect.clone() }, ..o.clone() },
        |e| matches!(e, E::DebugMode),
    ));
    // Step 18 refuses PCR0, PCR1 *or* PCR2 zero, not only all three.
    let mut one_zero = spec();
    one_zero.pcrs.insert(1, [0u8; 48]);
    v.push(only_case(
        "one_image_pcr_zero",
        ca.mint(&one_zero).expect("mint"),
        VerifyOptions { expect: Expectations { pcrs: None, ..o.expect.clone() }, ..o.clone() },
        |e| matches!(e, E::DebugMode),
    ));

    // --- Controls that must pass ---
    let n = hex::decode(N384).expect("n");
    let high_s = envelope(&m, |s| {
        if let Item::Bytes(b) = &mut s.signature {
            // s' = n - s: the same signature in its other form.
            let mut borrow = 0i16;
            let mut out = [0u8; 48];
            for i in (0..48).rev() {
                let d = i16::from(n[i]) - i16::from(b[48 + i]) - borrow;
                borrow = i16::from(d < 0);
                out[i] = (d + 256 * borrow) as u8;
            }
            b[48..].copy_from_slice(&out);
        }
    });
    let mut indef = spec();
    indef.map_style = MapStyle::Indefinite;
    let controls = vec![
        ("untouched", good.clone(), o.clone()),
        ("tag_18", envelope(&m, |s| s.tag = Some(18)), o.clone()),
        ("high_s_form", high_s, o.clone()),
        ("indefinite_payload_map", ca.mint(&indef).expect("mint"), o.clone()),
        (
            "indefinite_envelope_and_strings",
            {
                let mut s = Sign1::sign(&m.doc.encode(MapStyle::Definite), &m.leaf_key);
                s.unprotected = Item::MapIndef(vec![]);
                Item::ArrayIndef(vec![s.protected, s.unprotected, s.payload, s.signature]).to_vec()
            },
            o.clone(),
        ),
        (
            "debug_allowed",
            ca.mint(&debug).expect("mint"),
            VerifyOptions {
                allow_debug: true,
                expect: Expectations { pcrs: None, ..o.expect.clone() },
                ..o.clone()
            },
        ),
        (
            "unknown_key_allowed",
            resign(&m, |i| {
                i.map_pairs_mut()
                    .expect("map")
                    .push((Item::text("future"), Item::Array(vec![Item::Uint(1)])))
            }),
            VerifyOptions {
                parse: verifier::attestation::ParseOptions {
                    allow_unknown_keys: true,
                    emulator: false,
                },
                ..o.clone()
            },
        ),
        (
            "indefinite_bytes_user_data",
            resign(&m, |i| {
                *i.map_get_mut("user_data").expect("f") =
                    Item::BytesIndef(vec![b"user ".to_vec(), b"data".to_vec()])
            }),
            o.clone(),
        ),
    ];
    (v, controls)
}

#[test]
fn every_tamper_case_is_rejected_for_its_own_reason() {
    let (cases, controls) = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    let mut wrong = Vec::new();
    for c in &cases {
        assert!(names.insert(c.name), "duplicate case name {}", c.name);
        let r = verify(&c.bytes, &c.opts);
        if r.verdict() != Verdict::Fail {
            wrong.push(format!("{}: PASSED", c.name));
        } else if !(c.expect)(&r) {
            wrong.push(format!("{}: wrong reason {:?}", c.name, r.errors));
        }
    }
    for (name, bytes, o) in &controls {
        let r = verify(bytes, o);
        if r.verdict() != Verdict::Pass {
            wrong.push(format!("control {name}: {:?}", r.errors));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    eprintln!(
        "{} tamper cases rejected for their own reason, {} controls passed",
        cases.len(),
        controls.len()
    );
}
