//! The parent ↔ enclave frame decoders (enclave::transport): any bytes give
//! a value or a typed error, never a panic or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = enclave::transport::read_frame(&mut &data[..], 1 << 20);
    let _ = enclave::transport::decode_job(data);
    let _ = enclave::transport::decode_output(data);
    let _ = enclave::transport::decode_error(data);
});
