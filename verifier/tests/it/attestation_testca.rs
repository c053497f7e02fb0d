//! The test CA's documents verify against its root (and only its root), in
//! both payload framings, across a save/load round trip.

use attestation::testca::{DocSpec, TestCa, TestCaConfig};
use attestation::MapStyle;
use build_spec::pcr::Measurements;
use verifier::attestation::{
    verify, AttestationError, ChainError, TrustAnchor, VerifyAt, VerifyOptions,
};
use verifier::report::Verdict;

const T0: u64 = 1_760_000_000; // 2025-10-09

fn pcrs() -> Measurements {
    let mut m = Measurements::new();
    for i in 0..5u8 {
        m.insert(i, [i + 1; 48]);
    }
    m
}

fn opts(ca: &TestCa) -> VerifyOptions {
    VerifyOptions {
        roots: vec![TrustAnchor::from_der(ca.root_der().to_vec(), "test").expect("root")],
        at: VerifyAt::Document,
        ..VerifyOptions::default()
    }
}

#[test]
fn minted_documents_verify_with_the_test_root_in_both_framings() {
    let ca = TestCa::generate(&TestCaConfig::starting_at(T0)).expect("ca");
    for style in [MapStyle::Definite, MapStyle::Indefinite] {
        let mut spec = DocSpec::new((T0 + 3600) * 1000 + 123, pcrs());
        spec.map_style = style;
        spec.nonce = Some(b"nonce".to_vec());
        let bytes = ca.mint(&spec).expect("mint");
        let r = verify(&bytes, &opts(&ca));
        assert_eq!(r.verdict(), Verdict::Pass, "{:?}", r.errors);
        assert_eq!(
            r.doc.as_ref().map(|d| d.payload_map),
            Some(if style == MapStyle::Definite { "definite" } else { "indefinite" })
        );
    }
}

#[test]
fn minted_documents_fail_against_the_aws_root() {
    let ca = TestCa::generate(&TestCaConfig::starting_at(T0)).expect("ca");
    let bytes = ca.mint(&DocSpec::new((T0 + 60) * 1000, pcrs())).expect("mint");
    let r = verify(&bytes, &VerifyOptions::default());
    assert_eq!(r.verdict(), Verdict::Fail);
    assert!(r.has_error(|e| matches!(e, AttestationError::Chain(ChainError::UntrustedRoot { .. }))));
}

#[test]
fn save_and_load_round_trip_shares_one_ca() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = TestCa::generate(&TestCaConfig::starting_at(T0)).expect("ca");
    ca.save(dir.path()).expect("save");
    let loaded = TestCa::load(dir.path()).expect("load");
    assert_eq!(loaded.root_der(), ca.root_der());
    assert_eq!(loaded.cabundle(), ca.cabundle());
    let bytes = loaded.mint(&DocSpec::new((T0 + 60) * 1000, pcrs())).expect("mint");
    let r = verify(&bytes, &opts(&ca));
    assert_eq!(r.verdict(), Verdict::Pass, "{:?}", r.errors);
    let again = TestCa::load_or_generate(dir.path(), &TestCaConfig::starting_at(0)).expect("load");
    assert_eq!(again.root_der(), ca.root_der());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            std::fs::metadata(dir.path().join("root.key.pem")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "key files are private");
    }
}

#[test]
fn chain_cache_saves_signatures_but_not_checks() {
    use verifier::attestation::{verify_with_cache, ChainCache};
    let ca = TestCa::generate(&TestCaConfig::starting_at(T0)).expect("ca");
    let cache = ChainCache::new();
    let o = opts(&ca);
    let a = ca.mint(&DocSpec::new((T0 + 60) * 1000, pcrs())).expect("mint");
    let b = ca.mint(&DocSpec::new((T0 + 120) * 1000, pcrs())).expect("mint");
    let ra = verify_with_cache(&a, &o, Some(&cache));
    assert_eq!((ra.verdict(), ra.signatures_computed), (Verdict::Pass, 5));
    // Same instance, new leaf: leaf link + COSE only.
    let rb = verify_with_cache(&b, &o, Some(&cache));
    assert_eq!((rb.verdict(), rb.signatures_computed), (Verdict::Pass, 2));
    // Same document again: only the COSE signature.
    let ra2 = verify_with_cache(&a, &o, Some(&cache));
    assert_eq!((ra2.verdict(), ra2.signatures_computed), (Verdict::Pass, 1));
    // A warm cache never turns a time failure into a pass.
    let late =
        VerifyOptions { at: VerifyAt::Instant(((T0 + 2 * 86_400) * 1000) as i64), ..o.clone() };
    let r = verify_with_cache(&a, &late, Some(&cache));
    assert_eq!(r.verdict(), Verdict::Fail);
    assert!(r.has_error(|e| matches!(e, AttestationError::Chain(ChainError::Expired { .. }))));
    // Nor a wrong root: the pin is checked before any cached signature.
    let other = TestCa::generate(&TestCaConfig::starting_at(T0)).expect("ca");
    let r = verify_with_cache(&a, &opts(&other), Some(&cache));
    assert!(r.has_error(|e| matches!(e, AttestationError::Chain(ChainError::UntrustedRoot { .. }))));
}

#[test]
fn doc_spec_for_an_nsm_request_carries_its_fields() {
    use enclave::backend::AttestationRequest;
    let ca = TestCa::generate(&TestCaConfig::starting_at(T0)).expect("ca");
    let req = AttestationRequest {
        user_data: Some(vec![1]),
        nonce: Some(vec![2]),
        public_key: Some(vec![3]),
    };
    let bytes = ca.mint(&DocSpec::for_request(&req, (T0 + 10) * 1000, pcrs())).expect("mint");
    let o = VerifyOptions {
        expect: verifier::attestation::Expectations {
            user_data: Some(vec![1]),
            nonce: Some(vec![2]),
            public_key: Some(vec![3]),
            pcrs: Some(pcrs()),
            module_id_prefix: Some("i-".into()),
        },
        ..opts(&ca)
    };
    let r = verify(&bytes, &o);
    assert_eq!(r.verdict(), Verdict::Pass, "{:?}", r.errors);
}

#[test]
fn chain_walk_fails_closed_on_an_empty_bundle() {
    let ca = TestCa::generate(&TestCaConfig::starting_at(T0)).expect("ca");
    let m = ca.mint_parts(&DocSpec::new((T0 + 10) * 1000, pcrs())).expect("mint");
    let roots = [TrustAnchor::from_der(ca.root_der().to_vec(), "t").expect("root")];
    let out = verifier::attestation::chain::verify_chain(
        &m.doc.certificate,
        &[],
        &roots,
        (T0 + 10) as i64,
        None,
    );
    assert!(out.errors.iter().any(|e| matches!(e, ChainError::UntrustedRoot { .. })));
    let ok = verifier::attestation::chain::verify_chain(
        &m.doc.certificate,
        &m.doc.cabundle,
        &roots,
        (T0 + 10) as i64,
        None,
    );
    assert!(ok.errors.is_empty(), "{:?}", ok.errors);
}
