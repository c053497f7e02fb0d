//! The development NSM attests the PCRs of the real EIF it is given (checked
//! against nitro-cli's `describe-eif` output stored with the vector), and its
//! documents verify strictly against the test CA root, and only that root.
use std::path::Path;

use attestation::testca::{TestCa, TestCaConfig};
use enclave::backend::nsm_dev::{DevNsm, MODULE_ID_PREFIX};
use enclave::backend::{AttestationRequest, Nsm, NsmError};
use verifier::attestation::chain::TrustAnchor;
use verifier::attestation::verify::{verify, Expectations, VerifyAt, VerifyOptions};
use verifier::report::Verdict;

fn vec_dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/eif").join(name)
}

#[test]
fn dev_nsm_documents_carry_the_eif_pcrs() {
    let d = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ca = TestCa::generate(&TestCaConfig::long_lived(now - 3600, 30)).unwrap();
    ca.save(d.path()).unwrap();
    let nsm = DevNsm::new(&vec_dir("tiny").join("image.eif"), d.path()).unwrap();
    assert_eq!(nsm.kind(), "development");

    let describe: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vec_dir("tiny").join("describe.json")).unwrap())
            .unwrap();
    let mut expected = build_spec::pcr::Measurements::new();
    for i in 0..3u8 {
        let want = describe["Measurements"][format!("PCR{i}")].as_str().unwrap();
        assert_eq!(nsm.pcrs().hex(i).unwrap(), want, "PCR{i} vs nitro-cli describe-eif");
        expected.insert(i, nsm.pcrs().get(i).copied().unwrap());
    }

    let req = AttestationRequest {
        user_data: Some(b"binding".to_vec()),
        nonce: Some(vec![7; 32]),
        public_key: Some(vec![0x30; 44]),
    };
    let doc = nsm.attest(&req).unwrap();
    let opts = VerifyOptions {
        roots: vec![TrustAnchor::from_pem_or_der(ca.root_pem().as_bytes(), "dev").unwrap()],
        at: VerifyAt::Now,
        expect: Expectations {
            pcrs: Some(expected),
            nonce: req.nonce.clone(),
            user_data: req.user_data.clone(),
            public_key: req.public_key.clone(),
            module_id_prefix: Some(MODULE_ID_PREFIX.into()),
        },
        ..VerifyOptions::default()
    };
    let report = verify(&doc, &opts);
    assert_eq!(report.verdict(), Verdict::Pass, "{:?}", report.errors);
    // The default (AWS) root rejects it.
    assert_eq!(
        verify(&doc, &VerifyOptions { at: VerifyAt::Now, ..VerifyOptions::default() }).verdict(),
        Verdict::Fail
    );

    // Another EIF gives other PCRs.
    let other = DevNsm::new(&vec_dir("v1-one-ramdisk").join("image.eif"), d.path()).unwrap();
    assert_ne!(other.pcrs().get(0), nsm.pcrs().get(0));

    // Oversized fields are refused like the hardware would.
    let big = AttestationRequest { user_data: Some(vec![0; 513]), ..AttestationRequest::default() };
    assert!(matches!(nsm.attest(&big), Err(NsmError::TooLarge { field: "user_data", .. })));
    // A file that is not an EIF cannot be measured.
    assert!(DevNsm::new(&vec_dir("tiny").join("cmdline.txt"), d.path()).is_err());
}
