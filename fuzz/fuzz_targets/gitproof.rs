//! Issue 21's git proof parsers: any bytes as a tree body, a commit body
//! and a whole proof, in both object formats, give a value or a typed
//! error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    enclave::gitproof::fuzz_parse(data);
});
