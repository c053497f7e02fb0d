//! Fuzz the DSSE envelope parser, the strict statement parser, the typed
//! receipt model (shape and value rules) and the enclave's lax read of its
//! own attestation documents.
//! Seed corpus: `testvectors/receipts/*.dsse.json`, `*_statement.json`, `*.cbor`.
#![no_main]

use enclave::receipt::dsse::Envelope;
use enclave::receipt::model::{self, Predicate, StatementLayer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lax = attestation::ParseOptions { allow_unknown_keys: true, emulator: true };
    let _ = attestation::parse_with(data, lax);
    let payload = match Envelope::parse(data) {
        Ok(e) => e.payload,
        Err(_) => data.to_vec(),
    };
    if let Ok(v) = enclave::json::parse_strict(&payload) {
        let _ = StatementLayer::from_value(&v);
        let _ = Predicate::from_value(&v["predicate"]);
        let _ = model::extract_documents(&v);
        let _ = enclave::json::to_jcs(&v);
    }
    let _ = enclave::service::PackRequest::parse(data);
});
