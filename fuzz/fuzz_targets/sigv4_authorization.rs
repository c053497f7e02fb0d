//! SigV4 `Authorization` header parsing and `x-amz-date` parsing (the
//! server side of proofpack-kms-local).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = enclave::backend::kms_http::sigv4::parse_authorization(s);
        let _ = enclave::backend::kms_http::sigv4::parse_amz_date(s);
    }
});
