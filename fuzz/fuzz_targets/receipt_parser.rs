//! Fuzz the DSSE envelope parser, the strict statement parser, the schema
//! checks and the NSM document field reader.
//! Seed corpus: `testvectors/receipts/*.dsse.json`, `*_statement.json`, `*.cbor`.
#![no_main]

use enclave::receipt::{dsse::Envelope, nsm_doc, schema};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nsm_doc::read_fields(data);
    let payload = match Envelope::parse(data) {
        Ok(e) => e.payload,
        Err(_) => data.to_vec(),
    };
    if let Ok(v) = enclave::json::parse_strict(&payload) {
        let _ = schema::check_statement(&v);
        let _ = schema::check_predicate(&v["predicate"]);
        let _ = schema::extract_documents(&v);
        let _ = enclave::json::to_jcs(&v);
    }
    let _ = enclave::service::PackRequest::parse(data);
});
