//! Issue 14's new parsers: the hybrid-vsock `CONNECT` reply, the init's
//! `/modules` name rule and the build's bounded `.ko.xz` decompression.
//! Any bytes give a value or a typed error, never a panic or an allocation
//! past the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = enclave::transport::hybrid_connect_reply(data, 5000);
    let names: Vec<String> =
        String::from_utf8_lossy(data).split('\n').map(str::to_owned).collect();
    let _ = enclave::init::module_order(names);
    let _ = build_spec::build::debian::decompress_xz(data, 1 << 20);
});
