//! Fuzz the CloudTrail digest-file parser (`cloudtrail::digest`).
//! Seed corpus: digest files as `cloudtrail/tests/it/digest.rs` writes them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cloudtrail::fuzz_digest(data);
});
