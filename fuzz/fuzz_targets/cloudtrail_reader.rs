//! Fuzz the streaming CloudTrail reader: every shape (log file,
//! lookup-events, Lake results), gzip or plain, and the record accessors.
//! Seed corpus: `testvectors/cloudtrail/*.json*`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cloudtrail::fuzz_read(data);
});
