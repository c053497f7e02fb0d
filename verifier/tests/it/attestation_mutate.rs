//! In-tree fuzz smoke test (the cargo-fuzz target needs nightly): random
//! mutations of real documents never panic the parser or the chain walk, and
//! a mutated document that still parses never verifies unless the mutation
//! left the signed bytes intact.

use proptest::prelude::*;
use verifier::attestation::input::decode_document;
use verifier::attestation::{fuzz_parse, parse};

fn seeds() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/attestation");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("cbor" | "b64")))
        .collect();
    v.sort();
    v.iter().map(|p| decode_document(&std::fs::read(p).expect("read")).expect("decode").0).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutations_never_panic(seed in 0usize..9, edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..6)) {
        let seeds = seeds();
        let mut doc = seeds[seed % seeds.len()].clone();
        for (pos, byte, op) in edits {
            if doc.is_empty() { break; }
            let i = pos % doc.len();
            match op {
                0 => doc[i] = byte,
                1 => doc[i] ^= 1 << (byte % 8),
                2 => doc.truncate(i),
                _ => doc.insert(i, byte),
            }
        }
        fuzz_parse(&doc);
        let _ = parse(&doc);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzz_parse(&data);
        let _ = decode_document(&data);
    }
}
