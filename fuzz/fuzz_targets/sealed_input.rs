//! Fuzz the sealed-input reader (issue 10): framing, strict header JSON,
//! and the header checks run before any KMS call. Invariants: never panics;
//! whatever parses re-serialises to a prefix that parses to the same header.
//! Seed corpus: any file written by `proofpack seal`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = enclave::seal::parse(data) {
        let prefix = p.header.prefix().expect("a parsed header serialises");
        let framed = [prefix.as_slice(), &[0u8; 16]].concat();
        let again = enclave::seal::parse(&framed).expect("a re-serialised header parses");
        assert_eq!(again.header, p.header);
    }
});
