//! Fuzz the artifact reader: framing, strict header JSON, recipients.
//! Seed corpus: `testvectors/receipts/synthetic_artifact.ppa`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = enclave::envelope::parse(data) {
        let _ = enclave::json::to_jcs(&p.header.to_json());
    }
});
