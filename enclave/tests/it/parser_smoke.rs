//! A cheap stand-in for the fuzz targets in `fuzz/` that runs in every
//! `cargo test`: the same parser entry points over the vectors with random
//! byte flips, truncations and insertions (proptest). Nothing may panic.
use proptest::prelude::*;

fn read(p: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../testvectors/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn seeds() -> Vec<Vec<u8>> {
    [
        "sops/getsops_example.yaml",
        "sops/getsops_example.json",
        "sops/flux_age_encrypted-regex.yaml",
        "receipts/synthetic_artifact.ppa",
        "receipts/synthetic_receipt.dsse.json",
        "receipts/synthetic_job_request.json",
        "receipts/synthetic_doc_r.cbor",
        "recipients/policy.json",
    ]
    .iter()
    .map(|p| read(p))
    .collect()
}

fn all_parsers(data: &[u8]) {
    if let Ok(f) = enclave::sops::SopsFile::parse(data) {
        let _ = f.decrypt(&enclave::secret::SecretKey32::new([7; 32]));
    }
    if let Ok(p) = enclave::envelope::parse(data) {
        let _ = enclave::json::to_jcs(&p.header.to_json());
    }
    let _ = attestation::parse_with(
        data,
        attestation::ParseOptions { allow_unknown_keys: true, emulator: true },
    );
    let payload = enclave::receipt::dsse::Envelope::parse(data)
        .map(|e| e.payload)
        .unwrap_or_else(|_| data.to_vec());
    if let Ok(v) = enclave::json::parse_strict(&payload) {
        let _ = enclave::receipt::model::StatementLayer::from_value(&v);
        let _ = enclave::receipt::model::Predicate::from_value(&v["predicate"]);
        let _ = enclave::receipt::model::extract_documents(&v);
    }
    let _ = enclave::service::PackRequest::parse(data);
    enclave::recipients::fuzz_policy(data);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
    #[test]
    fn mutated_vectors_never_panic(seed in 0usize..8, muts in prop::collection::vec(mutation(), 1..4)) {
        let mut data = seeds()[seed].clone();
        for m in muts {
            let n = data.len().max(1);
            match m {
                Mutation::Flip(i, b) => { if !data.is_empty() { data[i % n] ^= b | 1; } }
                Mutation::Truncate(i) => data.truncate(i % n),
                Mutation::Insert(i, b) => data.insert(i % n, b),
            }
        }
        all_parsers(&data);
    }

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        all_parsers(&data);
    }
}
