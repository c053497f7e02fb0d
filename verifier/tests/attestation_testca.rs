//! The test CA's documents verify against its root (and only its root), in
//! both payload framings, across a save/load round trip.

use build_spec::pcr::Measurements;
use enclave::attestation::testca::{DocSpec, TestCa, TestCaConfig};
use enclave::attestation::MapStyle;
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
