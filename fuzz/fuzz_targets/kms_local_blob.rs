//! proofpack-kms-local ciphertext blob parsing and opening: any bytes give a
//! typed error or a plaintext, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use kms_local::blob;

fuzz_target!(|data: &[u8]| {
    let ctx = Default::default();
    if blob::key_id_of(data).is_ok() {
        let _ = blob::open(data, &[0u8; 32], &ctx);
    }
});
