//! Fuzzes the strict attestation document parser (COSE_Sign1 + payload) and,
//! for inputs that parse, the certificate-chain walk. Any panic is a bug.
//! Seed corpus: `corpus/attestation_doc/` (copies of testvectors/attestation
//! decoded to raw CBOR, see README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    attestation::fuzz_parse(data);
    // Text front end too: raw/hex/base64 detection must never panic.
    if let Ok((bytes, _)) = attestation::input::decode_document(data) {
        attestation::fuzz_parse(&bytes);
    }
});
